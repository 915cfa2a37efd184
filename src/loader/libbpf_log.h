#pragma once

namespace enospcd {

// Routes libbpf's own messages into spdlog: all of them at debug level when verbose, none otherwise
// (failures are reported by the loader in words a user understands).
void route_libbpf_log(bool verbose);

}  // namespace enospcd
