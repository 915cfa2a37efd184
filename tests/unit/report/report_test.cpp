#include <gtest/gtest.h>

#include <cstring>

#include "common/names.h"
#include "report/report.h"

namespace enospcd {
namespace {

CountEntry entry(uint32_t pid, const char* comm, const char* syscall, uint64_t count) {
  CountEntry c{};
  c.key.tgid = pid;
  if (auto nr = syscall_number(syscall))
    c.key.syscall_nr = *nr;
  else
    ADD_FAILURE() << "no syscall named " << syscall;
  c.key.err = 28;
  c.val.count = count;
  std::strncpy(c.val.comm, comm, sizeof(c.val.comm) - 1);
  return c;
}

TEST(Top, SortedByCountThenPid) {
  auto rows = top_rows({entry(10, "touch", "openat", 3), entry(5, "dd", "write", 7), entry(2, "cp", "openat", 3)});
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].comm, "dd");
  EXPECT_EQ(rows[1].pid, 2u);
  EXPECT_EQ(rows[2].pid, 10u);
  EXPECT_EQ(rows[0].syscall, "write");
  EXPECT_EQ(rows[0].errno_name, "ENOSPC");
}

TEST(Top, JsonFieldNames) {
  auto j = top_json(top_rows({entry(10, "touch", "openat", 3)}));
  ASSERT_EQ(j.size(), 1u);
  for (const char* k : {"pid", "comm", "syscall", "errno", "count"}) EXPECT_TRUE(j[0].contains(k)) << k;
  EXPECT_EQ(j[0]["count"], 3);
  EXPECT_EQ(j[0]["syscall"], "openat");
}

TEST(Table, ColumnsSizedToContent) {
  std::string t = format_table({"PID", "COMM"}, {{"1", "a-very-long-name"}, {"12345", "b"}});
  EXPECT_EQ(t, "PID    COMM\n1      a-very-long-name\n12345  b\n");
}

TEST(Table, TopHasHeaderAndRows) {
  std::string t = format_top(top_rows({entry(10, "touch", "openat", 15)}));
  EXPECT_NE(t.find("PID"), std::string::npos);
  EXPECT_NE(t.find("touch"), std::string::npos);
  EXPECT_NE(t.find("15"), std::string::npos);
}

}  // namespace
}  // namespace enospcd
