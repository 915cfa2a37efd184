#pragma once

#include <string>

#include "daemon/options.h"

namespace enospcd {

// spdlog to stderr: human text, or one JSON object per line ({"time","level","msg"}) for log collectors.
// With log_file set, logs go there (appended) and reopen_logs() reopens it, for logrotate's SIGHUP.
void setup_logging(LogFormat format, int verbosity, const std::string& log_file = "");
void reopen_logs();

}  // namespace enospcd
