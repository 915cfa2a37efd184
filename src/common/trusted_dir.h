#pragma once
// Directories that only root (or the user the daemon runs as) can change, all the way from "/": where the
// daemon puts its API socket, its lock files and its journal. Another local user who could rename or replace
// any directory on the way could put a fake socket or a fake journal in the daemon's place.

#include <sys/types.h>

#include <string>

#include "common/result.h"
#include "common/unique_fd.h"

namespace enospcd {

struct TrustedDir {
  UniqueFd fd;
  bool created = false;  // the last component did not exist and was made (mode `create_mode`)
};

// Opens `path` (absolute, or relative to the working directory) walking one component at a time from "/"
// without following anything blindly: every directory on the way, and the last one, must be owned by root or
// by `owner`, and writable by nobody else unless it is sticky (as /tmp is; not allowed for the last one).
// A symbolic link is followed only when the directory holding it passed these checks (nobody else can replace
// it), and its target is checked the same way. When the last component is missing and `create_mode` is not 0,
// it is created with that mode. The error names the component and the reason.
Result<TrustedDir> open_trusted_dir(const std::string& path, uid_t owner, mode_t create_mode);

}  // namespace enospcd
