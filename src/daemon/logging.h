#pragma once

#include <string>

#include "daemon/options.h"

namespace enospcd {

// spdlog to stderr: human text, or one JSON object per line ({"time","level","msg"}) for log collectors.
// With log_file set, logs go there (appended) and reopen_logs() reopens it, for logrotate's SIGHUP.
// Text to a stderr that systemd connected to the journal (JOURNAL_STREAM) carries "<N>" priority prefixes and no
// timestamp of its own.
void setup_logging(LogFormat format, int verbosity, const std::string& log_file = "");
void reopen_logs();
// Whether stderr is the journal stream systemd set up (JOURNAL_STREAM names its device and inode).
bool stderr_is_journal();

}  // namespace enospcd
