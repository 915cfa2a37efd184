// Delivering the --once report. Standard output may be a pipe whose reader died with its parent, a file on a
// full filesystem, a closed descriptor or a terminal that hung up: none of these may hang the daemon or pass
// for success.
#pragma once

#include <string_view>

#include "common/result.h"

namespace enospcd {

// Exit status of `--once` when the report could not be delivered (EX_IOERR in sysexits.h).
inline constexpr int kExitReportNotWritten = 74;

// Opens /dev/null on whichever of descriptors 0, 1 and 2 is closed, so that no descriptor opened later (a BPF
// object, the journal, the log file) takes that number and receives the report or log lines meant for it.
// Returns whether standard output was closed.
bool ensure_standard_fds();

// Writes all of `text` to `fd`. A pipe, socket or terminal is only written once poll(2) says it takes more,
// a page at a time, and a termination signal read from `signal_fd` (a signalfd; -1 for none) ends the wait:
// a reader that stopped reading cannot keep the daemon forever (SIGHUP, which reopens the log file, does not
// end it). The error names the errno (EPIPE: the reader is gone, ENOSPC: the filesystem is full) or the
// signal (code EINTR). The signalfd must be non-blocking.
Result<void> write_all(int fd, std::string_view text, int signal_fd);

}  // namespace enospcd
