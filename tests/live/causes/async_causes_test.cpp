// Failures that never come back from a syscall: an io_uring request completes with -ENOSPC in its completion
// entry while the io_uring_enter(2) that submitted it succeeds. fio's io_uring engine writes onto a full tmpfs
// and the daemon must count the failed request exactly, name it, and explain it like the write it stands for.
#include <unistd.h>

#include <memory>
#include <set>

#include "live/causes/causes.h"

namespace enospcd::testing::causes {
namespace {

bool have_fio() { return sh("command -v fio >/dev/null").exit_code == 0; }

std::vector<json> io_uring_events(const json& report, const std::string& comm) {
  std::vector<json> out;
  for (const auto& e : report.value("events", json::array()))
    if (e.value("comm", "") == comm && e.value("syscall", "").rfind("io_uring:", 0) == 0) out.push_back(e);
  return out;
}

// fio on a tmpfs of size=1m, under a tracer: fio writes 2 MiB in 4 KiB requests, one in flight: 256 fit, the
// 257th completes with -ENOSPC and fio stops the job on it (err=28).
class AsyncCauses : public ::testing::Test {
 protected:
  void SetUp() override {
    ENOSPCD_REQUIRE_ROOT();
    if (!have_fio()) {
      if (std::getenv("CI")) FAIL() << "fio is missing in CI (scripts/deps.sh installs it)";
      GTEST_SKIP() << "fio is not installed";
    }
    ASSERT_TRUE(mnt_.ok());
    tracer_ = std::make_unique<Tracer>();
    ASSERT_TRUE(tracer_->ready()) << tracer_->stderr_text();
  }

  CmdResult fio(const std::string& engine) {
    return run({"fio", "--name=fill", "--filename=" + mnt_.path() + "/data", "--size=2m", "--bs=4k", "--rw=write",
                "--ioengine=" + engine, "--iodepth=1", "--fallocate=none", "--output-format=terse",
                "--terse-version=3"});
  }

  TmpfsMount mnt_{"size=1m"};
  std::unique_ptr<Tracer> tracer_;
};

TEST_F(AsyncCauses, FioIoUringWriteOntoAFullTmpfs) {
  Tracer& tracer = *tracer_;
  const TmpfsMount& mnt = mnt_;
  if (tracer.stderr_text().find("io_uring completions: unavailable") != std::string::npos)
    GTEST_SKIP() << "this kernel has no io_uring completion tracepoint: " << tracer.stderr_text();
  auto fio_run = fio("io_uring");
  json report = tracer.finish();
  // fio's own word: the job ended on error 28.
  ASSERT_NE(fio_run.exit_code, 0) << fio_run.out;
  ASSERT_NE(fio_run.out.find("No space left on device"), std::string::npos) << fio_run.out;

  auto events = io_uring_events(report, "fio");
  ASSERT_EQ(events.size(), 1u) << report.value("events", json::array()).dump(1);
  const json& e = events[0];
  static const std::set<std::string> writes = {"io_uring:write", "io_uring:writev"};
  EXPECT_TRUE(writes.count(e["syscall"].get<std::string>())) << e.dump(2);
  EXPECT_EQ(e["errno"], "ENOSPC");
  EXPECT_EQ(e["ret"], -28);
  // The request's file, read from the request in BPF at completion.
  EXPECT_EQ(e["file"]["fstype"], "tmpfs") << e.dump(2);
  EXPECT_EQ(e["file"]["name"], "data") << e.dump(2);
  EXPECT_EQ(e["file"]["tmpfs"]["max_blocks"], 256) << e.dump(2);
  EXPECT_EQ(e["cause"]["id"], "tmpfs_blocks") << e.dump(2);
  std::string op = e["syscall"].get<std::string>().substr(9);
  std::string summary = e["cause"]["summary"];
  EXPECT_EQ(summary.rfind("io_uring " + op + " request by fio (pid " + std::to_string(e["pid"].get<int>()), 0), 0u)
      << summary;
  EXPECT_NE(summary.find("the tmpfs at " + mnt.path() + " is full: 1.0 MiB of 1.0 MiB (size=1024k) used"),
            std::string::npos)
      << summary;
  // Counted exactly in the kernel under its own key, and io_uring_enter itself never failed.
  EXPECT_EQ(top_count(report, e["pid"].get<uint32_t>(), e["syscall"].get<std::string>()), 1u) << report["top"].dump(1);
  EXPECT_EQ(top_count(report, e["pid"].get<uint32_t>(), "io_uring_enter"), 0u);
}

// Linux AIO: fio's libaio engine, the same write onto a full tmpfs; io_submit(2) succeeds and the request's
// completion carries -ENOSPC. aio_complete_rw has no tracepoint: where neither fentry nor kprobes work (this
// host), the status says so and nothing is made up; where one works, the request is an event like io_uring's.
TEST_F(AsyncCauses, FioLibaioWriteOntoAFullTmpfs) {
  Tracer& tracer = *tracer_;
  auto fio_run = fio("libaio");
  json report = tracer.finish();
  ASSERT_NE(fio_run.exit_code, 0) << fio_run.out;
  ASSERT_NE(fio_run.out.find("No space left on device"), std::string::npos) << fio_run.out;
  const std::string status = report["status"]["gate"].value("aio", "");
  std::vector<json> events;
  for (const auto& e : report.value("events", json::array()))
    if (e.value("comm", "") == "fio" && e.value("syscall", "").rfind("aio:", 0) == 0) events.push_back(e);
  uint32_t fio_pid = 0;
  for (const auto& e : events) fio_pid = e["pid"].get<uint32_t>();
  if (status.rfind("unavailable: ", 0) == 0) {
    EXPECT_TRUE(events.empty()) << report["events"].dump(1);
    EXPECT_NE(tracer.stderr_text().find("Linux AIO completions: " + status), std::string::npos)
        << tracer.stderr_text();
    EXPECT_GT(status.size(), std::string("unavailable: ").size());
    return;
  }
  ASSERT_EQ(status.rfind("attached (", 0), 0u) << status;
  ASSERT_EQ(events.size(), 1u) << report.value("events", json::array()).dump(1);
  const json& e = events[0];
  EXPECT_EQ(e["syscall"], "aio:pwrite") << e.dump(2);
  EXPECT_EQ(e["ret"], -28);
  EXPECT_EQ(e["file"]["name"], "data") << e.dump(2);
  EXPECT_EQ(e["cause"]["id"], "tmpfs_blocks") << e.dump(2);
  EXPECT_EQ(top_count(report, fio_pid, "aio:pwrite"), 1u) << report["top"].dump(1);
  EXPECT_EQ(top_count(report, fio_pid, "io_submit"), 0u);
}

}  // namespace
}  // namespace enospcd::testing::causes
