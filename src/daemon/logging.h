#pragma once

#include "daemon/options.h"

namespace enospcd {

// spdlog to stderr: human text, or one JSON object per line ({"time","level","msg"}) for log collectors.
void setup_logging(LogFormat format, int verbosity);

}  // namespace enospcd
