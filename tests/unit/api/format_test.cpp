#include "cli/format.h"

#include <cstdlib>
#include <ctime>

#include <gtest/gtest.h>

#include "cli/client.h"
#include "unit/api/fake_backend.h"

namespace enospcd::cli {
namespace {

using nlohmann::json;
using api::testing::make_event;

constexpr uint64_t kSec = 1'000'000'000ULL;
constexpr uint64_t kNow = 1714564800ULL * kSec;  // 2024-05-01T12:00:00Z

class CliUtc : public ::testing::Test {
 protected:
  void SetUp() override {
    setenv("TZ", "UTC", 1);
    tzset();
  }
};

TEST(CliTable, ColumnsAreAsWideAsTheirContent) {
  Table t{{"A", "LONG HEADER", "C"}, {{"wide cell", "x", "last"}, {"y", "", "z"}}};
  EXPECT_EQ(t.render(),
            "A          LONG HEADER  C\n"
            "wide cell  x            last\n"
            "y                       z\n");
  EXPECT_EQ((Table{{"ONLY"}, {}}).render(), "ONLY\n");
}

TEST(CliTable, Utf8CountsAsOneColumn) {
  Table t{{"N", "X"}, {{"\xc3\xa9t\xc3\xa9", "1"}, {"abcd", "2"}}};
  EXPECT_EQ(t.render(), "N     X\n\xc3\xa9t\xc3\xa9   1\nabcd  2\n");
}

TEST(CliRelativeTime, Units) {
  EXPECT_EQ(relative_time(kNow, kNow), "just now");
  EXPECT_EQ(relative_time(kNow - kSec / 2, kNow), "just now");
  EXPECT_EQ(relative_time(kNow - 12 * kSec, kNow), "12s ago");
  EXPECT_EQ(relative_time(kNow - 59 * kSec, kNow), "59s ago");
  EXPECT_EQ(relative_time(kNow - 60 * kSec, kNow), "1m ago");
  EXPECT_EQ(relative_time(kNow - 3599 * kSec, kNow), "59m ago");
  EXPECT_EQ(relative_time(kNow - 7200 * kSec, kNow), "2h ago");
  EXPECT_EQ(relative_time(kNow - 3 * 86400 * kSec, kNow), "3d ago");
  EXPECT_EQ(relative_time(kNow + 5 * kSec, kNow), "in 5s");
}

TEST_F(CliUtc, LocalTimeFollowsTz) {
  EXPECT_EQ(local_time(kNow), "2024-05-01 12:00:00");
  setenv("TZ", "Europe/Berlin", 1);
  tzset();
  EXPECT_EQ(local_time(kNow), "2024-05-01 14:00:00");
}

TEST(CliLabels, ContainerAndCause) {
  EXPECT_EQ(container_label(nullptr), "-");
  EXPECT_EQ(container_label(json{{"id", "0123456789abcdef0123"}, {"name", ""}}), "0123456789ab");
  EXPECT_EQ(container_label(json{{"id", "0123456789abcdef"}, {"name", "web-1"}}), "web-1");
  EXPECT_EQ(cause_label(nullptr), "-");
  EXPECT_EQ(cause_label(json{{"id", "tmpfs_inodes"}}), "tmpfs_inodes");
  EXPECT_EQ(cause_label("quota"), "quota");
  EXPECT_EQ(cell(json()), "-");
  EXPECT_EQ(cell(""), "-");
  EXPECT_EQ(cell(-28), "-28");
  EXPECT_EQ(cell(true), "yes");
}

TEST(CliEventTime, NsOrRfc3339) {
  EXPECT_EQ(event_time_ns(json{{"time_ns", kNow}}), kNow);
  EXPECT_EQ(event_time_ns(json{{"time", "2024-05-01T12:00:00Z"}}), kNow);
  EXPECT_EQ(event_time_ns(json{{"time", "garbage"}}), 0u);
  EXPECT_EQ(event_time_ns(json::object()), 0u);
}

TEST_F(CliUtc, EventsTable) {
  json answer = {{"events",
                  {make_event(7, kNow - 12 * kSec, 4321, "runc:[2:INIT]", "mount", "mount_max",
                              {{"id", "f00dfacecafe1234"}, {"name", "web-1"}}),
                   make_event(3, kNow - 2 * 3600 * kSec, 17, "cp", "write", "")}}};
  answer["events"][1]["path"] = nullptr;
  EXPECT_EQ(render_events(answer, kNow),
            "ID  TIME                 AGE      PID   COMM           SYSCALL  ERRNO   CONTAINER  CAUSE      PATH\n"
            "7   2024-05-01 11:59:48  12s ago  4321  runc:[2:INIT]  mount    ENOSPC  web-1      mount_max  "
            "/var/lib/containers/overlay/merged\n"
            "3   2024-05-01 10:00:00  2h ago   17    cp             write    ENOSPC  -          -          -\n");
  EXPECT_EQ(render_events(json{{"events", json::array()}}, kNow), "no events\n");
}

TEST(CliTopTable, DocumentedColumnsFirst) {
  json answer = {{"top",
                  {{{"pid", 4321}, {"comm", "runc"}, {"syscall", "mount"}, {"errno", "ENOSPC"}, {"count", 120},
                    {"container", {{"id", "abc"}, {"name", "web-1"}}}, {"cause", {{"id", "mount_max"}}}},
                   {{"pid", 17}, {"comm", "cp"}, {"syscall", "write"}, {"errno", "ENOSPC"}, {"count", 3},
                    {"container", nullptr}}}}};
  EXPECT_EQ(render_top(answer),
            "COUNT  PID   COMM  SYSCALL  ERRNO   CONTAINER  CAUSE\n"
            "120    4321  runc  mount    ENOSPC  web-1      mount_max\n"
            "3      17    cp    write    ENOSPC  -          -\n");
  EXPECT_EQ(render_top(json{{"top", json::array()}}), "no failures recorded\n");
}

TEST_F(CliUtc, ExplainShowsCauseThenEverythingElse) {
  json e = make_event(7, kNow - 65 * kSec, 4321, "runc", "mount", "mount_max", {{"id", "f00d"}, {"name", "web-1"}});
  e["tid"] = 4322;
  e["cause"]["evidence"] = {{"mounts", 100000}, {"mount_max", 100000}};
  e["chain"] = {{{"function", "count_mounts"}, {"ret", -28}}, {{"function", "path_mount"}, {"ret", -28}}};
  std::string out = render_event(e, kNow);
  EXPECT_EQ(out.substr(0, out.find("\n\n") + 1),
            "event:     7\n"
            "time:      2024-05-01 11:58:55 (1m ago)\n"
            "process:   runc pid 4321 tid 4322 uid 0\n"
            "syscall:   mount -> ENOSPC (ret -28)\n"
            "path:      /var/lib/containers/overlay/merged\n"
            "container: web-1\n"
            "cause:     mount_max\n"
            "summary:   mount namespace has 100000 mounts, fs.mount-max is 100000\n"
            "remedy:    unmount leaked mounts or raise fs.mount-max\n");
  EXPECT_NE(out.find("chain:\n  FUNCTION      RET\n  count_mounts  -28\n  path_mount    -28\n"), std::string::npos) << out;
  EXPECT_NE(out.find("cause details:\n  evidence:\n    mount max: 100000\n    mounts: 100000\n"), std::string::npos)
      << out;
  EXPECT_NE(out.find("cgroup id: 4242\n"), std::string::npos) << out;

  json bare = make_event(8, kNow, 1, "x", "write", "");
  bare["container"] = nullptr;
  std::string b = render_event(bare, kNow);
  EXPECT_NE(b.find("container: - (host)\n"), std::string::npos) << b;
  EXPECT_NE(b.find("cause:     - (not diagnosed)\n"), std::string::npos) << b;
}

TEST(CliGeneric, NestedObjectsAndTables) {
  json status = {{"mode", "gate-only"},
                 {"uptime_s", 42},
                 {"watched_errnos", {"ENOSPC", "EDQUOT"}},
                 {"api", {{"socket", "/run/enospcd/enospcd.sock"}, {"group", nullptr}}},
                 {"probes", {{{"function", "count_mounts"}, {"mode", "unavailable"}},
                             {{"function", "shmem_reserve_inode"}, {"mode", "fexit"}, {"reason", "BTF"}}}},
                 {"empty", json::object()}};
  EXPECT_EQ(render_generic(status),
            "api:\n"
            "  group: -\n"
            "  socket: /run/enospcd/enospcd.sock\n"
            "empty: -\n"
            "mode: gate-only\n"
            "probes:\n"
            "  FUNCTION             MODE         REASON\n"
            "  count_mounts         unavailable  -\n"
            "  shmem_reserve_inode  fexit        BTF\n"
            "uptime s: 42\n"
            "watched errnos: ENOSPC, EDQUOT\n");
}

TEST_F(CliUtc, WatchLinesHaveFixedColumns) {
  std::string header = watch_header();
  std::string line = watch_line(make_event(1, kNow, 4321, "a-rather-long-command", "mount", "mount_max"));
  EXPECT_EQ(header.find("PID"), line.find("4321"));
  EXPECT_EQ(line.substr(0, 8), "12:00:00");
  EXPECT_NE(line.find("a-rather-long-~"), std::string::npos) << line;
  EXPECT_EQ(header.find("PATH"), line.find("/var/lib"));
}

TEST(CliClient, ErrorMessageAndEscaping) {
  EXPECT_EQ(error_message(HttpAnswer{404, "application/json", R"({"error":"event 9 not found","status":404})"}),
            "event 9 not found");
  EXPECT_EQ(error_message(HttpAnswer{502, "text/html", "<html>"}), "enospcd answered HTTP 502");
  EXPECT_EQ(url_escape("runc:[2:INIT] x&y=z/é"), "runc%3A%5B2%3AINIT%5D%20x%26y%3Dz%2F%C3%A9");
}

TEST(CliClient, MissingSocketIsOneSentence) {
  Client c("/nonexistent-dir-enospcd/enospcd.sock");
  auto r = c.get("/v1/status");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "enospcd is not running (no socket at /nonexistent-dir-enospcd/enospcd.sock)");
}

}  // namespace
}  // namespace enospcd::cli
