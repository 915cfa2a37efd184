// Syscall and errno names, both directions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace enospcd {

enum class Arch { x86_64, aarch64 };

// The architecture this binary was built for (the kernel's syscall table is the same one).
Arch native_arch();

// "openat" for 257 on x86_64; "syscall_<nr>" when unknown. io_uring requests that failed asynchronously have
// pseudo numbers (ENOSPCD_NR_IO_URING + opcode) and names "io_uring:<op>", e.g. "io_uring:write";
// "io_uring:request" where the kernel does not tell the opcode. Linux AIO requests likewise
// (ENOSPCD_NR_AIO + IOCB_CMD_*): "aio:pwrite", "aio:request".
std::string syscall_name(uint32_t nr, Arch arch = native_arch());
std::optional<uint32_t> syscall_number(std::string_view name, Arch arch = native_arch());
bool is_io_uring(uint32_t nr);
bool is_aio(uint32_t nr);
// Every syscall name of the table and every io_uring and AIO request name, sorted.
std::vector<std::string> syscall_names(Arch arch = native_arch());

// "ENOSPC" for 28; "E<nr>" when unknown.
std::string errno_name(int err);
std::optional<int> errno_number(std::string_view name);

// Parses "ENOSPC,EDQUOT" or "28,122" (mixed allowed, case-insensitive names, duplicates folded).
Result<std::vector<int>> parse_errno_list(std::string_view text);

// Which argument (1-based, 0 = none) of a syscall is a user path (path1, path2), an fd whose file an event
// describes (fd_arg), and where a relative path1 starts (dir_arg): the dirfd argument (whose AT_FDCWD means the
// working directory), or ENOSPCD_DIR_CWD for the working directory; 0 where path1 is a name and not a path
// (mq_open, memfd_create). The BPF gate's table and the diagnosis read this one.
struct PathArgs {
  const char* syscall;
  uint8_t path1, path2, fd_arg, dir_arg;
};
const std::vector<PathArgs>& path_arg_specs();
std::optional<PathArgs> path_args_of(std::string_view syscall);

}  // namespace enospcd
