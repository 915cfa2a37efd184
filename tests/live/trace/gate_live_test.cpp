// Real failures caused by real programs, traced by the real daemon binary, asserted on exact counts.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <set>

#include "support/has_value.h"
#include "support/live.h"

namespace enospcd::testing {
namespace {

using nlohmann::json;


// Failures in the report's events whose path (or file) belongs to the test's mount.
std::vector<json> events_under(const json& report, const std::string& prefix) {
  std::vector<json> out;
  for (const auto& e : report.value("events", json::array()))
    if (e.value("path", "").rfind(prefix, 0) == 0) out.push_back(e);
  return out;
}

uint64_t top_count(const json& report, const std::string& comm, const std::string& syscall,
                   const std::set<uint32_t>* pids = nullptr) {
  uint64_t n = 0;
  for (const auto& r : report.value("top", json::array()))
    if (r["comm"] == comm && r["syscall"] == syscall && r["errno"] == "ENOSPC" &&
        (!pids || pids->count(r["pid"].get<uint32_t>())))
      n += r["count"].get<uint64_t>();
  return n;
}

class GateRung : public ::testing::TestWithParam<std::string> {};

// tmpfs with nr_inodes=16: the root directory takes one inode, so 15 files fit and the 15 touches after them
// fail in openat(O_CREAT) with ENOSPC.
TEST_P(GateRung, TmpfsInodeExhaustionCountsEveryTouch) {
  ENOSPCD_REQUIRE_ROOT();
  TmpfsMount mnt("nr_inodes=16,size=4m");
  ASSERT_TRUE(mnt.ok());
  DaemonProcess d({daemon_binary(), "--once", "--duration", "120s", "-o", "json", "--events", "1000", "--gate",
                   GetParam(), "--no-origins"});
  ASSERT_TRUE(d.wait_ready()) << d.stderr_text();

  std::set<std::string> expected_paths;
  int failed = 0;
  for (int i = 1; i <= 30; i++) {
    std::string p = mnt.path() + "/f" + std::to_string(i);
    if (run({"touch", p}).exit_code != 0) {
      failed++;
      expected_paths.insert(p);
    }
  }
  ASSERT_EQ(failed, 15);
  json report = stop_for_report(d);

  std::string want_mode = GetParam() == "auto" ? "tp_btf" : GetParam();
  EXPECT_EQ(report["status"]["gate"]["mode"], want_mode);
  auto events = events_under(report, mnt.path() + "/");
  std::set<std::string> seen_paths;
  std::set<uint32_t> pids;
  for (const auto& e : events) {
    EXPECT_EQ(e["comm"], "touch");
    EXPECT_EQ(e["syscall"], "openat");
    EXPECT_EQ(e["errno"], "ENOSPC");
    EXPECT_EQ(e["ret"], -28);
    seen_paths.insert(e["path"].get<std::string>());
    pids.insert(e["pid"].get<uint32_t>());
  }
  EXPECT_EQ(events.size(), 15u);
  EXPECT_EQ(seen_paths, expected_paths);
  // The exact in-kernel counters agree: one failing openat per touch process, 15 in all.
  EXPECT_EQ(top_count(report, "touch", "openat", &pids), 15u);
  EXPECT_EQ(report["status"]["counters"]["losses"]["ringbuf_full"], 0);
}

INSTANTIATE_TEST_SUITE_P(Live, GateRung, ::testing::Values("auto", "tp_btf", "raw_tp", "tp"));

// tmpfs with size=1m: dd's write() fails once the 256 pages are used; the event describes the file's
// superblock with the tmpfs block limit, captured in BPF at failure time.
TEST(GateLive, TmpfsBlocksWriteByDd) {
  ENOSPCD_REQUIRE_ROOT();
  TmpfsMount mnt("size=1m");
  ASSERT_TRUE(mnt.ok());
  DaemonProcess d({daemon_binary(), "--once", "--duration", "120s", "-o", "json", "--events", "1000", "--no-origins"});
  ASSERT_TRUE(d.wait_ready()) << d.stderr_text();
  auto r = run({"dd", "if=/dev/zero", "of=" + mnt.path() + "/big", "bs=64k", "count=64"});
  ASSERT_NE(r.exit_code, 0) << r.out;
  ASSERT_NE(r.out.find("No space left on device"), std::string::npos) << r.out;
  json report = stop_for_report(d);

  std::vector<json> writes;
  for (const auto& e : report["events"])
    if (e["comm"] == "dd" && e["syscall"] == "write") writes.push_back(e);
  ASSERT_EQ(writes.size(), 1u) << report.dump(2);
  const json& e = writes[0];
  EXPECT_EQ(e["ret"], -28);
  ASSERT_TRUE(e.contains("file")) << e.dump(2);
  EXPECT_EQ(e["file"]["fstype"], "tmpfs");
  EXPECT_EQ(e["file"]["tmpfs"]["max_blocks"], 256);
  EXPECT_GE(e["file"]["tmpfs"]["used_blocks"].get<uint64_t>(), 250u);
  std::set<uint32_t> pids{e["pid"].get<uint32_t>()};
  EXPECT_EQ(top_count(report, "dd", "write", &pids), 1u);
}

// A loop-mounted ext4 filled by dd: the failing syscall and the command are named.
TEST(GateLive, Ext4FullWriteByDd) {
  ENOSPCD_REQUIRE_ROOT();
  LoopExt4 fs(16);
  ASSERT_TRUE(fs.ok()) << "could not create a loop-mounted ext4";
  DaemonProcess d({daemon_binary(), "--once", "--duration", "120s", "-o", "json", "--events", "1000", "--no-origins"});
  ASSERT_TRUE(d.wait_ready()) << d.stderr_text();
  auto r = run({"dd", "if=/dev/zero", "of=" + fs.path() + "/fill", "bs=1M", "count=64"});
  ASSERT_NE(r.exit_code, 0) << r.out;
  json report = stop_for_report(d);
  std::vector<json> writes;
  for (const auto& e : report["events"])
    if (e["comm"] == "dd" && e["errno"] == "ENOSPC") writes.push_back(e);
  ASSERT_EQ(writes.size(), 1u) << report.dump(2);
  EXPECT_EQ(writes[0]["syscall"], "write");
  EXPECT_EQ(writes[0]["file"]["fstype"], "ext4");
}

// --errno takes a set; the failure is still caught, and the status names both.
TEST(GateLive, ErrnoSetStillCatchesEnospc) {
  ENOSPCD_REQUIRE_ROOT();
  TmpfsMount mnt("nr_inodes=2");
  ASSERT_TRUE(mnt.ok());
  DaemonProcess d({daemon_binary(), "--once", "--duration", "120s", "-o", "json", "--errno", "EDQUOT,ENOSPC",
                   "--no-origins"});
  ASSERT_TRUE(d.wait_ready()) << d.stderr_text();
  run({"mkdir", mnt.path() + "/a"});
  EXPECT_NE(run({"mkdir", mnt.path() + "/b"}).exit_code, 0);
  json report = stop_for_report(d);
  std::set<std::string> errnos(report["status"]["errnos"].begin(), report["status"]["errnos"].end());
  EXPECT_EQ(errnos, (std::set<std::string>{"ENOSPC", "EDQUOT"}));
  auto events = events_under(report, mnt.path() + "/");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["syscall"], "mkdir");
  EXPECT_EQ(events[0]["path"], mnt.path() + "/b");
}

TEST(GateLive, OnceEndsByItselfAfterDuration) {
  ENOSPCD_REQUIRE_ROOT();
  DaemonProcess d({daemon_binary(), "--once", "--duration", "1", "--no-origins"});
  auto code = d.wait_exit(std::chrono::seconds(20));
  ASSERT_HAS_VALUE(code) << "still running long after --duration 1";
  EXPECT_EQ(*code, 0) << d.stderr_text();
  EXPECT_NE(d.stdout_text().find("failing syscall"), std::string::npos) << d.stdout_text();
}

// Daemon mode: SIGTERM and SIGINT detach and exit 0 within a second.
TEST(GateLive, DaemonStopsWithinOneSecond) {
  ENOSPCD_REQUIRE_ROOT();
  for (int sig : {SIGTERM, SIGINT}) {
    TempDir dir;
    DaemonProcess d({daemon_binary(), "--socket", dir.path() + "/enospcd.sock", "--state-dir", dir.path() + "/state"});
    ASSERT_TRUE(d.wait_ready()) << d.stderr_text();
    auto t0 = std::chrono::steady_clock::now();
    auto code = d.stop(sig, std::chrono::milliseconds(1000));
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    ASSERT_TRUE(code) << "not stopped within 1 s of signal " << sig;
    EXPECT_EQ(*code, 0) << d.stderr_text();
    std::printf("stopped %d ms after signal %d\n", static_cast<int>(ms), sig);
  }
}

// Without privileges: one clear sentence, exit 1, no libbpf wall of text.
TEST(GateLive, UnprivilegedGetsOneSentence) {
  ENOSPCD_REQUIRE_ROOT();
  auto r = run({"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", daemon_binary(), "--once",
                "--duration", "1"});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("needs root"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("libbpf"), std::string::npos) << r.out;
  EXPECT_LE(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
}

}  // namespace
}  // namespace enospcd::testing
