#include "common/names.h"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "common/names_gen.h"
#include "enospcd/abi.h"
#include "common/strings.h"

namespace enospcd {
namespace {

struct Table {
  const gen::NameEntry* entries;
  std::size_t len;
};

Table syscall_table(Arch arch) {
  if (arch == Arch::aarch64) return {gen::kSyscallsAarch64, gen::kSyscallsAarch64Len};
  return {gen::kSyscallsX86_64, gen::kSyscallsX86_64Len};
}

const char* find_name(Table t, uint32_t nr) {
  for (std::size_t i = 0; i < t.len; i++)
    if (t.entries[i].number == nr) return t.entries[i].name;
  return nullptr;
}

std::optional<uint32_t> find_number(Table t, std::string_view name) {
  for (std::size_t i = 0; i < t.len; i++)
    if (name == t.entries[i].name) return t.entries[i].number;
  return std::nullopt;
}

// IORING_OP_* in the order of enum io_uring_op (include/uapi/linux/io_uring.h).
constexpr const char* kIoUringOps[] = {
    "nop", "readv", "writev", "fsync", "read_fixed", "write_fixed", "poll_add", "poll_remove",
    "sync_file_range", "sendmsg", "recvmsg", "timeout", "timeout_remove", "accept", "async_cancel",
    "link_timeout", "connect", "fallocate", "openat", "close", "files_update", "statx", "read", "write",
    "fadvise", "madvise", "send", "recv", "openat2", "epoll_ctl", "splice", "provide_buffers",
    "remove_buffers", "tee", "shutdown", "renameat", "unlinkat", "mkdirat", "symlinkat", "linkat", "msg_ring",
    "fsetxattr", "setxattr", "fgetxattr", "getxattr", "socket", "uring_cmd", "send_zc", "sendmsg_zc",
    "read_multishot", "waitid", "futex_wait", "futex_wake", "futex_waitv", "fixed_fd_install", "ftruncate",
    "bind", "listen", "recv_zc", "epoll_wait", "readv_fixed", "writev_fixed", "pipe"};

// IOCB_CMD_* (include/uapi/linux/aio_abi.h); 4 was never used.
constexpr const char* kAioOps[] = {"pread", "pwrite", "fsync", "fdsync", "op_4", "poll", "noop", "preadv", "pwritev"};

// Requests that fail in their completion, each kind under pseudo numbers base + opcode ("io_uring:write"),
// base + unknown where the opcode was not read ("io_uring:request").
struct RequestKind {
  std::string_view prefix;
  const char* const* ops;
  std::size_t ops_len;
  uint32_t base, unknown;

  bool has(uint32_t nr) const { return nr >= base && nr <= base + unknown; }
  std::string name(uint32_t nr) const {
    const uint32_t op = nr - base;
    if (op < ops_len) return std::string(prefix) + ops[op];
    if (op == unknown) return std::string(prefix) + "request";
    return std::string(prefix) + "op_" + std::to_string(op);
  }
  std::optional<uint32_t> number(std::string_view op) const {
    for (uint32_t i = 0; i < ops_len; i++)
      if (op == ops[i]) return base + i;
    if (op == "request") return base + unknown;
    return std::nullopt;
  }
};
constexpr RequestKind kIoUring{"io_uring:", kIoUringOps, std::size(kIoUringOps), ENOSPCD_NR_IO_URING,
                               ENOSPCD_IO_URING_OP_UNKNOWN};
constexpr RequestKind kAio{"aio:", kAioOps, std::size(kAioOps), ENOSPCD_NR_AIO, ENOSPCD_AIO_OP_UNKNOWN};
constexpr RequestKind kRequestKinds[] = {kIoUring, kAio};

}  // namespace

Arch native_arch() {
#if defined(__aarch64__)
  return Arch::aarch64;
#else
  return Arch::x86_64;
#endif
}

std::string syscall_name(uint32_t nr, Arch arch) {
  for (const auto& kind : kRequestKinds)
    if (kind.has(nr)) return kind.name(nr);
  if (const char* n = find_name(syscall_table(arch), nr)) return n;
  return "syscall_" + std::to_string(nr);
}

std::optional<uint32_t> syscall_number(std::string_view name, Arch arch) {
  for (const auto& kind : kRequestKinds)
    if (name.substr(0, kind.prefix.size()) == kind.prefix) return kind.number(name.substr(kind.prefix.size()));
  return find_number(syscall_table(arch), name);
}

bool is_io_uring(uint32_t nr) { return kIoUring.has(nr); }

bool is_aio(uint32_t nr) { return kAio.has(nr); }

std::vector<std::string> syscall_names(Arch arch) {
  Table t = syscall_table(arch);
  std::vector<std::string> out;
  out.reserve(t.len);
  for (std::size_t i = 0; i < t.len; i++) out.emplace_back(t.entries[i].name);
  for (const auto& kind : kRequestKinds) {
    for (std::size_t i = 0; i < kind.ops_len; i++) out.push_back(std::string(kind.prefix) + kind.ops[i]);
    out.push_back(std::string(kind.prefix) + "request");
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::string errno_name(int err) {
  if (err > 0)
    if (const char* n = find_name({gen::kErrnos, gen::kErrnosLen}, static_cast<uint32_t>(err))) return n;
  return "E" + std::to_string(err);
}

std::optional<int> errno_number(std::string_view name) {
  std::string upper = to_upper(name);
  if (auto n = find_number({gen::kErrnos, gen::kErrnosLen}, upper)) return static_cast<int>(*n);
  // EDEADLOCK and EWOULDBLOCK are aliases the tables do not list by number.
  if (upper == "EWOULDBLOCK") return find_number({gen::kErrnos, gen::kErrnosLen}, "EAGAIN");
  if (upper == "EDEADLOCK") return find_number({gen::kErrnos, gen::kErrnosLen}, "EDEADLK");
  return std::nullopt;
}

Result<std::vector<int>> parse_errno_list(std::string_view text) {
  std::vector<int> out;
  for (std::string_view item : split(text, ',')) {
    item = trim(item);
    if (item.empty()) return make_error("empty errno in list \"" + std::string(text) + "\"");
    int value = 0;
    auto [p, ec] = std::from_chars(item.data(), item.data() + item.size(), value);
    if (ec == std::errc() && p == item.data() + item.size()) {
      if (value <= 0 || value >= 256)
        return make_error("errno " + std::string(item) + " is out of range (1..255)");
    } else if (auto n = errno_number(item)) {
      value = *n;
    } else {
      return make_error("unknown errno name \"" + std::string(item) + "\" (expected names like ENOSPC or numbers)");
    }
    if (std::find(out.begin(), out.end(), value) == out.end()) out.push_back(value);
  }
  if (out.empty()) return make_error("no errno given");
  return out;
}

constexpr uint8_t kDirCwd = ENOSPCD_DIR_CWD;

const std::vector<PathArgs>& path_arg_specs() {
  static const std::vector<PathArgs> table = {
      {"open", 1, 0, 0, kDirCwd},        {"openat", 2, 0, 0, 1},            {"openat2", 2, 0, 0, 1},
      {"creat", 1, 0, 0, kDirCwd},       {"mkdir", 1, 0, 0, kDirCwd},       {"mkdirat", 2, 0, 0, 1},
      {"mknod", 1, 0, 0, kDirCwd},       {"mknodat", 2, 0, 0, 1},           {"symlink", 2, 1, 0, kDirCwd},
      {"symlinkat", 3, 1, 0, 2},         {"link", 2, 1, 0, kDirCwd},        {"linkat", 4, 2, 0, 3},
      {"rename", 2, 1, 0, kDirCwd},      {"renameat", 4, 2, 0, 3},          {"renameat2", 4, 2, 0, 3},
      {"mount", 2, 1, 0, kDirCwd},       {"move_mount", 4, 2, 0, 3},        {"open_tree", 2, 0, 0, 1},
      {"truncate", 1, 0, 0, kDirCwd},    {"setxattr", 1, 0, 0, kDirCwd},    {"lsetxattr", 1, 0, 0, kDirCwd},
      {"fsetxattr", 0, 0, 1, 0},         {"inotify_add_watch", 2, 0, 0, kDirCwd}, {"fanotify_mark", 5, 0, 0, 4},
      {"mq_open", 1, 0, 0, 0},           {"memfd_create", 1, 0, 0, 0},      {"write", 0, 0, 1, 0},
      {"pwrite64", 0, 0, 1, 0},          {"writev", 0, 0, 1, 0},            {"pwritev", 0, 0, 1, 0},
      {"pwritev2", 0, 0, 1, 0},          {"fallocate", 0, 0, 1, 0},         {"ftruncate", 0, 0, 1, 0},
      {"fsync", 0, 0, 1, 0},             {"fdatasync", 0, 0, 1, 0},         {"sync_file_range", 0, 0, 1, 0},
      {"copy_file_range", 0, 0, 3, 0},   {"sendfile", 0, 0, 1, 0},          {"splice", 0, 0, 3, 0},
      {"close", 0, 0, 0, 0},             {"epoll_ctl", 0, 0, 0, 0},         {"mmap", 0, 0, 5, 0},
  };
  return table;
}

std::optional<PathArgs> path_args_of(std::string_view syscall) {
  for (const auto& spec : path_arg_specs())
    if (syscall == spec.syscall) return spec;
  return std::nullopt;
}

}  // namespace enospcd
