// The --once text report's tables with hostile text from the kernel: a comm with a newline cannot forge a row,
// a file name with escape sequences cannot drive the terminal.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "report/report.h"

namespace enospcd {
namespace {

TEST(ReportEscape, EventsTableEscapesCommAndPath) {
  Event e;
  e.time_ns = 1714564800ULL * 1'000'000'000ULL;
  e.pid = 66;
  e.comm = "evil\ncomm";
  e.syscall = "openat";
  e.ret = -28;
  e.path = "/mnt/full/\x1b]0;PWNED\a\x1b[2J\x1b[31mRED";
  e.cause = Cause{.id = CauseId::TmpfsInodes};
  EXPECT_EQ(format_events({e}),
            "TIME(UTC)        PID  COMM        SYSCALL  RET  CAUSE         PATH\n"
            "12:00:00.000000  66   evil\\ncomm  openat   -28  tmpfs_inodes  /mnt/full/\\e]0;PWNED\\x07\\e[2J\\e[31mRED\n");
}

TEST(ReportEscape, TopTableEscapesAndAlignsUtf8) {
  TopRow bad;
  bad.pid = 1;
  bad.comm = "a\x1b[2Jb";
  bad.syscall = "write";
  bad.errno_name = "ENOSPC";
  bad.count = 3;
  TopRow utf8 = bad;
  utf8.pid = 2;
  utf8.comm = "\xc3\xa9t\xc3\xa9\xff";
  EXPECT_EQ(format_top({bad, utf8}),
            "PID  COMM     SYSCALL  ERRNO   COUNT  CONTAINER\n"
            "1    a\\e[2Jb  write    ENOSPC  3      -\n"
            "2    \xc3\xa9t\xc3\xa9\\xff  write    ENOSPC  3      -\n");
}

}  // namespace
}  // namespace enospcd
