// The event sinks for log pipelines: the NDJSON file (one whole JSON object per line, rotated by size, reopened
// after an outside rename, 0600) and the fields of a journald entry.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "daemon/sinks.h"
#include "support/has_value.h"
#include "support/temp_dir.h"

namespace enospcd {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

json event(int i) {
  return {{"id", "7357189049442136" + std::to_string(100 + i)},
          {"syscall", "openat"},
          {"errno", "ENOSPC"},
          {"pid", 4321},
          {"comm", "tar"},
          {"path", "/mnt/x/f" + std::to_string(i)},
          {"container", {{"id", "449a"}, {"runtime", "cri"}, {"name", "nginx"}, {"pod", "web-7d9f"}, {"namespace", "shop"}}},
          {"cause", {{"id", "tmpfs_inodes"}, {"summary", "the tmpfs has 8 inodes, 8 in use"}, {"confidence", "high"}}}};
}

std::vector<json> lines_of(const std::string& path) {
  std::vector<json> out;
  std::ifstream f(path);
  std::string line;
  while (std::getline(f, line)) out.push_back(json::parse(line));  // throws on half a line
  return out;
}

TEST(NdjsonSink, OneObjectPerLineRotatedBySizeKeepingN) {
  testing::TempDir t;
  ASSERT_FALSE(t.path().empty());
  std::string path = t.path() + "/events.ndjson";
  const std::size_t line = event(0).dump().size() + 1;
  auto s = make_ndjson_sink({path, 3 * line + 10, 2});
  ASSERT_TRUE(s) << s.error().message;
  for (int i = 0; i < 10; i++) (*s)->write(event(i));
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // 10 lines, 3 per file: the current file has the last one, .1 and .2 the three before each; older ones gone.
  auto now = lines_of(path), one = lines_of(path + ".1"), two = lines_of(path + ".2");
  ASSERT_EQ(now.size(), 1u);
  ASSERT_EQ(one.size(), 3u);
  ASSERT_EQ(two.size(), 3u);
  EXPECT_EQ(now[0], event(9));
  EXPECT_EQ(one[0], event(6));
  EXPECT_EQ(two[2], event(5));
  EXPECT_FALSE(fs::exists(path + ".3"));
  // A number no double holds exactly is written as the API writes it, a string of digits.
  (*s)->write(json{{"ipcns", {{"shmall", uint64_t{18446744073692774399ull}}}}});
  EXPECT_EQ(lines_of(path).back()["ipcns"]["shmall"], "18446744073692774399");
  auto status = (*s)->status();
  EXPECT_EQ(status["written"], 11);
  EXPECT_EQ(status["rotations"], 3);
  EXPECT_EQ(status["failed"], 0);
}

// logrotate moves the file away and sends SIGHUP: the sink then writes to a new file of the same name.
TEST(NdjsonSink, ReopenAfterAnOutsideRename) {
  testing::TempDir t;
  std::string path = t.path() + "/events.ndjson";
  auto s = make_ndjson_sink({path, 1 << 20, 1});
  ASSERT_TRUE(s) << s.error().message;
  (*s)->write(event(1));
  fs::rename(path, path + ".old");
  (*s)->write(event(2));  // still the renamed file's descriptor
  (*s)->reopen();
  (*s)->write(event(3));
  EXPECT_EQ(lines_of(path + ".old").size(), 2u);
  ASSERT_EQ(lines_of(path).size(), 1u);
  EXPECT_EQ(lines_of(path)[0], event(3));
}

TEST(NdjsonSink, RefusesWhatItCannotOpenOrIsNoFile) {
  testing::TempDir t;
  EXPECT_FALSE(make_ndjson_sink({t.path() + "/missing/events.ndjson"}));
  EXPECT_FALSE(make_ndjson_sink({t.path()}));  // a directory
  fs::create_symlink("/etc/passwd", t.path() + "/link");
  EXPECT_FALSE(make_ndjson_sink({t.path() + "/link"}));  // never follows a link someone put in its place
}

TEST(Journald, FieldsOfAnEvent) {
  auto f = journald_fields(event(1));
  auto has = [&](const std::string& kv) { return std::find(f.begin(), f.end(), kv) != f.end(); };
  EXPECT_TRUE(has("SYSLOG_IDENTIFIER=enospcd"));
  EXPECT_TRUE(has("ENOSPCD_CAUSE=tmpfs_inodes"));
  EXPECT_TRUE(has("ENOSPCD_SYSCALL=openat"));
  EXPECT_TRUE(has("ENOSPCD_PID=4321"));
  EXPECT_TRUE(has("ENOSPCD_POD=web-7d9f"));
  EXPECT_TRUE(has("ENOSPCD_NAMESPACE=shop"));
  EXPECT_TRUE(has("ENOSPCD_CONTAINER=nginx"));
  EXPECT_TRUE(has("ENOSPCD_PATH=/mnt/x/f1"));
  EXPECT_TRUE(has("ENOSPCD_JSON=" + event(1).dump()));
  // An event without a cause or a container: the cause is unknown, no empty fields.
  json bare = {{"syscall", "write"}, {"errno", "ENOSPC"}, {"cause", nullptr}, {"container", nullptr}};
  auto b = journald_fields(bare);
  EXPECT_NE(std::find(b.begin(), b.end(), "ENOSPCD_CAUSE=unknown"), b.end());
  for (const auto& kv : b) EXPECT_NE(kv.back(), '=') << kv;
}

}  // namespace
}  // namespace enospcd
