#include <gtest/gtest.h>

#include <algorithm>

#include "common/names.h"
#include "enospcd/abi.h"
#include "common/strings.h"

namespace enospcd {

TEST(SyscallNames, KnownNumbersBothArchitectures) {
  EXPECT_EQ(syscall_name(257, Arch::x86_64), "openat");
  EXPECT_EQ(syscall_name(165, Arch::x86_64), "mount");
  EXPECT_EQ(syscall_name(1, Arch::x86_64), "write");
  EXPECT_EQ(syscall_name(56, Arch::aarch64), "openat");
  EXPECT_EQ(syscall_name(40, Arch::aarch64), "mount");
  EXPECT_EQ(syscall_name(64, Arch::aarch64), "write");
  EXPECT_EQ(syscall_name(99999, Arch::x86_64), "syscall_99999");
}

// arm64's table is asm-generic's as arm64 builds it (glibc's sysdeps/unix/sysv/linux/aarch64/arch-syscall.h has
// the same): the 64-bit names of the __NR3264 numbers, sync_file_range at 84 (sync_file_range2 is the other
// architectures' branch), none of the time64 calls of 32-bit targets, no legacy open or mkdir.
TEST(SyscallNames, Arm64TakesTheGenericTableAsArm64BuildsIt) {
  EXPECT_EQ(syscall_name(84, Arch::aarch64), "sync_file_range");
  EXPECT_EQ(syscall_name(79, Arch::aarch64), "newfstatat");
  EXPECT_EQ(syscall_name(71, Arch::aarch64), "sendfile");
  EXPECT_EQ(syscall_name(62, Arch::aarch64), "lseek");
  EXPECT_EQ(syscall_name(38, Arch::aarch64), "renameat");
  EXPECT_EQ(syscall_name(163, Arch::aarch64), "getrlimit");
  EXPECT_EQ(syscall_name(435, Arch::aarch64), "clone3");
  EXPECT_EQ(syscall_name(403, Arch::aarch64), "syscall_403");
  for (const char* gone : {"sync_file_range2", "fstatat", "clock_gettime64", "futex_time64", "fcntl64", "open", "mkdir"})
    EXPECT_FALSE(syscall_number(gone, Arch::aarch64)) << gone;
  EXPECT_EQ(syscall_number("sync_file_range", Arch::aarch64), 84u);
}

TEST(SyscallNames, RoundTrip) {
  for (const char* name : {"openat", "mkdirat", "mount", "fallocate", "inotify_add_watch", "move_mount"}) {
    auto nr = syscall_number(name, Arch::x86_64);
    ASSERT_TRUE(nr) << name;
    EXPECT_EQ(syscall_name(*nr, Arch::x86_64), name);
  }
  EXPECT_FALSE(syscall_number("no_such_syscall"));
}

TEST(ErrnoNames, Both) {
  EXPECT_EQ(errno_name(28), "ENOSPC");
  EXPECT_EQ(errno_name(122), "EDQUOT");
  EXPECT_EQ(errno_name(500), "E500");
  EXPECT_EQ(errno_number("ENOSPC"), 28);
  EXPECT_EQ(errno_number("enospc"), 28);
  EXPECT_EQ(errno_number("EWOULDBLOCK"), 11);
  EXPECT_FALSE(errno_number("ENOTANERRNO"));
}

TEST(ErrnoList, NamesNumbersMixedAndDuplicates) {
  auto r = parse_errno_list("ENOSPC,EDQUOT");
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, (std::vector<int>{28, 122}));
  r = parse_errno_list(" 28 , edquot,ENOSPC");
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, (std::vector<int>{28, 122}));
}

TEST(ErrnoList, ErrorsNameTheProblem) {
  auto r = parse_errno_list("ENOSPC,EBOGUS");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("EBOGUS"), std::string::npos);
  EXPECT_FALSE(parse_errno_list(""));
  EXPECT_FALSE(parse_errno_list("ENOSPC,,EDQUOT"));
  EXPECT_FALSE(parse_errno_list("0"));
  EXPECT_FALSE(parse_errno_list("4096"));
  EXPECT_FALSE(parse_errno_list("-28"));
}

TEST(Duration, Units) {
  EXPECT_EQ(parse_duration("30")->count(), 30'000'000'000);
  EXPECT_EQ(parse_duration("30s")->count(), 30'000'000'000);
  EXPECT_EQ(parse_duration("500ms")->count(), 500'000'000);
  EXPECT_EQ(parse_duration("2m")->count(), 120'000'000'000);
  EXPECT_EQ(parse_duration("1h")->count(), 3'600'000'000'000);
  EXPECT_EQ(parse_duration(" 1m30s ")->count(), 90'000'000'000);
  EXPECT_EQ(parse_duration("250us")->count(), 250'000);
  EXPECT_FALSE(parse_duration("0.5"));
  EXPECT_FALSE(parse_duration("-5s"));
  EXPECT_FALSE(parse_duration("abc"));
  EXPECT_FALSE(parse_duration("10x"));
  EXPECT_FALSE(parse_duration(""));
  EXPECT_FALSE(parse_duration("99999999999999h"));
}

// io_uring requests that failed asynchronously: pseudo numbers above every syscall, named by their opcode as
// include/uapi/linux/io_uring.h numbers them (IORING_OP_WRITE is 23, IORING_OP_OPENAT 18).
TEST(Names, IoUringRequests) {
  EXPECT_EQ(syscall_name(ENOSPCD_NR_IO_URING + 23), "io_uring:write");
  EXPECT_EQ(syscall_name(ENOSPCD_NR_IO_URING + 2), "io_uring:writev");
  EXPECT_EQ(syscall_name(ENOSPCD_NR_IO_URING + 18), "io_uring:openat");
  EXPECT_EQ(syscall_name(ENOSPCD_NR_IO_URING + 17), "io_uring:fallocate");
  EXPECT_EQ(syscall_name(ENOSPCD_NR_IO_URING + 0xff), "io_uring:request");
  EXPECT_EQ(syscall_name(ENOSPCD_NR_IO_URING + 200), "io_uring:op_200");
  EXPECT_EQ(syscall_number("io_uring:write"), ENOSPCD_NR_IO_URING + 23);
  EXPECT_EQ(syscall_number("io_uring:request"), ENOSPCD_NR_IO_URING + 0xff);
  EXPECT_FALSE(syscall_number("io_uring:bogus"));
  EXPECT_TRUE(is_io_uring(ENOSPCD_NR_IO_URING + 23));
  EXPECT_FALSE(is_io_uring(1));
  auto names = syscall_names();
  EXPECT_NE(std::find(names.begin(), names.end(), "io_uring:write"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "write"), names.end());
}

// Linux AIO requests that failed in their completion: pseudo numbers of their own, named by IOCB_CMD_*
// (include/uapi/linux/aio_abi.h: PWRITE is 1, PWRITEV 8).
TEST(Names, AioRequests) {
  EXPECT_EQ(syscall_name(ENOSPCD_NR_AIO + 1), "aio:pwrite");
  EXPECT_EQ(syscall_name(ENOSPCD_NR_AIO + 8), "aio:pwritev");
  EXPECT_EQ(syscall_name(ENOSPCD_NR_AIO + 0), "aio:pread");
  EXPECT_EQ(syscall_name(ENOSPCD_NR_AIO + 0xff), "aio:request");
  EXPECT_EQ(syscall_name(ENOSPCD_NR_AIO + 42), "aio:op_42");
  EXPECT_EQ(syscall_number("aio:pwrite"), ENOSPCD_NR_AIO + 1);
  EXPECT_EQ(syscall_number("aio:request"), ENOSPCD_NR_AIO + 0xff);
  EXPECT_FALSE(syscall_number("aio:write"));
  EXPECT_TRUE(is_aio(ENOSPCD_NR_AIO + 1));
  EXPECT_FALSE(is_aio(ENOSPCD_NR_IO_URING + 1));
  EXPECT_FALSE(is_io_uring(ENOSPCD_NR_AIO + 1));
  auto names = syscall_names();
  EXPECT_NE(std::find(names.begin(), names.end(), "aio:pwrite"), names.end());
}

TEST(Strings, Rfc3339) {
  EXPECT_EQ(format_rfc3339(0), "1970-01-01T00:00:00.000000Z");
  EXPECT_EQ(format_rfc3339(1'700'000'000'123'456'789ull), "2023-11-14T22:13:20.123456Z");
}

}  // namespace enospcd
