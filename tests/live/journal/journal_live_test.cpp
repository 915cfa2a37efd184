// The journal against a really full filesystem (a tiny loop-mounted ext4) and a really killed process.
#include <fcntl.h>
#include <signal.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <sstream>
#include <thread>

#include "store/journal.h"
#include "support/live.h"

namespace enospcd {
namespace {

using namespace std::chrono_literals;
using enospcd::testing::LoopExt4;
using enospcd::testing::TempDir;
using Clock = std::chrono::steady_clock;

class LogCapture {
 public:
  LogCapture() : saved_(spdlog::default_logger()) {
    auto logger = std::make_shared<spdlog::logger>("journal-live",
                                                   std::make_shared<spdlog::sinks::ostream_sink_mt>(out_));
    logger->set_level(spdlog::level::info);
    spdlog::set_default_logger(logger);
  }
  ~LogCapture() { spdlog::set_default_logger(saved_); }
  std::string text() const { return out_.str(); }
  int lines_with(const std::string& needle) const {
    std::istringstream in(out_.str());
    int n = 0;
    for (std::string line; std::getline(in, line);)
      if (line.find(needle) != std::string::npos) n++;
    return n;
  }

 private:
  std::ostringstream out_;
  std::shared_ptr<spdlog::logger> saved_;
};

nlohmann::json rec(uint64_t id) {
  return {{"id", id}, {"comm", "runc:[2:INIT]"}, {"syscall", "mount"}, {"errno_name", "ENOSPC"},
          {"path", std::string(300, 'p')}};
}

std::vector<uint64_t> ids(const std::vector<nlohmann::json>& v) {
  std::vector<uint64_t> out;
  for (const auto& j : v) out.push_back(j.at("id").get<uint64_t>());
  return out;
}

std::vector<uint64_t> range(uint64_t first, uint64_t last) {
  std::vector<uint64_t> out;
  for (uint64_t i = first; i <= last; i++) out.push_back(i);
  return out;
}

std::unique_ptr<LoopExt4> tiny_ext4() {
  // The smallest image mkfs.ext4 accepts here; 4 MiB if 2 MiB is refused.
  auto fs = std::make_unique<LoopExt4>(2);
  if (!fs->ok()) fs = std::make_unique<LoopExt4>(4);
  return fs;
}

// Writes a file until the filesystem says ENOSPC. Returns the open fd (the space stays taken while it
// lives), or -1 if ENOSPC never came.
int fill(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return -1;
  std::string chunk(64 << 10, 'f');
  // Big writes first, then ever smaller ones to take the last partial blocks.
  for (std::size_t size = chunk.size(); size >= 1; size /= 4) {
    while (true) {
      ssize_t n = ::write(fd, chunk.data(), size);
      if (n < 0 && errno == ENOSPC) break;
      if (n < 0) {
        ::close(fd);
        return -1;
      }
    }
  }
  ::fsync(fd);
  return fd;
}

TEST(JournalLive, FullFilesystemDegradesOnceAndRecoversByItself) {
  ENOSPCD_REQUIRE_ROOT();
  auto fs = tiny_ext4();
  ASSERT_TRUE(fs->ok()) << "could not create and mount a loop ext4 image";
  LogCapture log;
  JournalOptions o;
  o.dir = fs->path() + "/state";
  o.segment_bytes = 64 << 10;
  o.max_bytes = 512 << 10;
  o.max_pending = 100;
  auto opened = Journal::open(o);
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  auto& j = *opened;
  for (uint64_t i = 1; i <= 10; i++) j->append(rec(i));
  ASSERT_TRUE(j->flush().ok());

  std::string filler = fs->path() + "/filler";
  int filler_fd = fill(filler);
  ASSERT_GE(filler_fd, 0) << "the filesystem never filled up";

  for (uint64_t i = 11; i <= 210; i++) j->append(rec(i));
  auto r = j->flush();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ENOSPC) << r.error().message;
  auto st = j->status();
  EXPECT_TRUE(st["degraded"]) << st.dump();
  EXPECT_NE(st["degraded_reason"].get<std::string>().find("No space left"), std::string::npos) << st.dump();
  EXPECT_EQ(st["pending"], 100);
  EXPECT_EQ(st["records_dropped"], 100);
  EXPECT_EQ(log.lines_with("degraded"), 1) << log.text();

  // Called in a tight loop, the journal still touches the disk only at the backoff's pace (1 s, then 2 s).
  auto t0 = Clock::now();
  int calls = 0;
  while (Clock::now() - t0 < 2500ms) {
    j->maybe_flush(Clock::now());
    j->append(rec(1000 + calls));  // the tracing thread keeps appending meanwhile
    calls++;
    std::this_thread::sleep_for(1ms);
  }
  st = j->status();
  EXPECT_GT(calls, 100);
  EXPECT_LE(st["failed_flushes"].get<uint64_t>(), 3u) << st.dump();
  EXPECT_TRUE(st["degraded"]);
  EXPECT_EQ(st["pending"], 100);
  EXPECT_EQ(log.lines_with("degraded"), 1) << log.text();

  // Space comes back; nobody tells the journal.
  ::close(filler_fd);
  ASSERT_EQ(::unlink(filler.c_str()), 0);
  ::sync();
  uint64_t last_appended = 1000 + static_cast<uint64_t>(calls) - 1;
  auto t1 = Clock::now();
  while (j->degraded() && Clock::now() - t1 < 70s) {
    j->maybe_flush(Clock::now());
    std::this_thread::sleep_for(20ms);
  }
  st = j->status();
  ASSERT_FALSE(st["degraded"]) << st.dump();
  EXPECT_LT(Clock::now() - t1, 10s);
  EXPECT_EQ(st["pending"], 0);
  EXPECT_EQ(log.lines_with("degraded"), 1) << log.text();
  EXPECT_EQ(log.lines_with("recovered"), 1) << log.text();

  // The queue kept the newest 100: the last appended during the outage.
  std::vector<uint64_t> want = range(1, 10);
  for (uint64_t id : range(last_appended - 99, last_appended)) want.push_back(id);
  EXPECT_EQ(ids(j->load(1000)), want);
  j.reset();
  auto again = Journal::open(o);
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(ids((*again)->load(1000)), want);
  EXPECT_EQ((*again)->status()["corrupt_skipped"], 0);
}

// A backlog larger than the space that comes back: what fits is written at once (batches shrink after a refusal,
// down to one record), and the rest as soon as more space returns, without waiting out a long backoff.
TEST(JournalLive, DrainsWhatFitsAsSoonAsSpaceReturns) {
  ENOSPCD_REQUIRE_ROOT();
  auto fs = std::make_unique<LoopExt4>(8);
  ASSERT_TRUE(fs->ok()) << "could not create and mount a loop ext4 image";
  LogCapture log;
  JournalOptions o;
  o.dir = fs->path() + "/state";
  o.segment_bytes = 2 << 20;  // one batch could be the whole backlog
  o.max_bytes = 4 << 20;
  o.max_pending = 5000;
  o.retry_initial = 8s;  // a retry at the backoff's pace would come too late for this test
  o.retry_max = 60s;
  auto opened = Journal::open(o);
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  auto& j = *opened;
  j->append(rec(1));
  ASSERT_TRUE(j->flush().ok());
  std::string filler = fs->path() + "/filler";
  int filler_fd = fill(filler);
  ASSERT_GE(filler_fd, 0) << "the filesystem never filled up";
  for (uint64_t i = 2; i <= 3001; i++) j->append(rec(i));  // ~1 MiB
  ASSERT_FALSE(j->flush().ok());
  ASSERT_TRUE(j->degraded());

  // About 256 KiB come back: a quarter of the backlog fits.
  struct stat st{};
  ASSERT_EQ(::fstat(filler_fd, &st), 0);
  ASSERT_EQ(::ftruncate(filler_fd, st.st_size - (256 << 10)), 0);
  ::fsync(filler_fd);
  auto t0 = Clock::now();
  auto written = [&] { return j->status()["records_written"].get<uint64_t>(); };
  while (written() < 200 && Clock::now() - t0 < 5s) {
    j->maybe_flush(Clock::now());
    std::this_thread::sleep_for(20ms);
  }
  uint64_t partial = written();
  EXPECT_GE(partial, 200u) << j->status().dump();
  EXPECT_LT(partial, 3001u) << j->status().dump();
  EXPECT_TRUE(j->degraded());
  EXPECT_LT(Clock::now() - t0, 3s) << "waited for the backoff";

  // All the space comes back.
  ::close(filler_fd);
  ASSERT_EQ(::unlink(filler.c_str()), 0);
  ::sync();
  auto t1 = Clock::now();
  while (j->degraded() && Clock::now() - t1 < 20s) {
    j->maybe_flush(Clock::now());
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_FALSE(j->degraded()) << j->status().dump();
  EXPECT_LT(Clock::now() - t1, 3s) << "waited for the backoff";
  EXPECT_EQ(j->status()["pending"], 0);
  EXPECT_EQ(j->status()["records_dropped"], 0);
  EXPECT_EQ(ids(j->load(10000)), range(1, 3001));
  EXPECT_EQ(log.lines_with("degraded"), 1) << log.text();
}

TEST(JournalLive, StartsDegradedOnAFullFilesystemAndCreatesItsDirectoryLater) {
  ENOSPCD_REQUIRE_ROOT();
  auto fs = tiny_ext4();
  ASSERT_TRUE(fs->ok()) << "could not create and mount a loop ext4 image";
  std::string filler = fs->path() + "/filler";
  int filler_fd = fill(filler);
  ASSERT_GE(filler_fd, 0) << "the filesystem never filled up";

  LogCapture log;
  JournalOptions o;
  o.dir = fs->path() + "/state";
  o.segment_bytes = 64 << 10;
  o.max_bytes = 512 << 10;
  auto opened = Journal::open(o);
  ASSERT_TRUE(opened.ok()) << "a full disk must not stop the daemon: " << opened.error().message;
  auto& j = *opened;
  auto st = j->status();
  EXPECT_TRUE(st["degraded"]) << st.dump();
  EXPECT_NE(st["degraded_reason"].get<std::string>().find("No space left"), std::string::npos) << st.dump();
  // A retry with nothing queued still has to find the disk writable before it counts as recovered.
  std::this_thread::sleep_for(1100ms);
  j->maybe_flush(Clock::now());
  EXPECT_TRUE(j->degraded()) << j->status().dump();
  EXPECT_EQ(j->status()["failed_flushes"], 1);
  for (uint64_t i = 1; i <= 20; i++) j->append(rec(i));
  j->append_aggregate({{"total", 20}});

  ::close(filler_fd);
  ::unlink(filler.c_str());
  ::sync();
  auto t1 = Clock::now();
  while (j->degraded() && Clock::now() - t1 < 70s) {
    j->maybe_flush(Clock::now());
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_FALSE(j->degraded()) << j->status().dump();
  EXPECT_TRUE(std::filesystem::is_directory(o.dir));
  EXPECT_EQ(ids(j->load(100)), range(1, 20));
  EXPECT_TRUE(std::filesystem::exists(o.dir + "/aggregates.json"));
  EXPECT_EQ(log.lines_with("degraded"), 1) << log.text();
  EXPECT_EQ(log.lines_with("recovered"), 1) << log.text();
}

// Child side of the kill tests: only async-signal-tolerant exits, no gtest.
[[noreturn]] void child_append_then_die(const std::string& dir, int flushed, int unflushed) {
  JournalOptions o;
  o.dir = dir;
  auto j = Journal::open(o);
  if (!j.ok()) _exit(2);
  for (int i = 1; i <= flushed; i++) (*j)->append(rec(static_cast<uint64_t>(i)));
  if (!(*j)->flush().ok()) _exit(3);
  for (int i = flushed + 1; i <= flushed + unflushed; i++) (*j)->append(rec(static_cast<uint64_t>(i)));
  ::kill(::getpid(), SIGKILL);
  _exit(4);
}

TEST(JournalLive, FlushedRecordsSurviveKill9) {
  TempDir tmp;
  std::string dir = tmp.path() + "/state";
  constexpr int kFlushed = 200, kUnflushed = 50;
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) child_append_then_die(dir, kFlushed, kUnflushed);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status)) << "child exited with " << WEXITSTATUS(status);
  EXPECT_EQ(WTERMSIG(status), SIGKILL);

  JournalOptions o;
  o.dir = dir;
  auto j = Journal::open(o);
  ASSERT_TRUE(j.ok()) << j.error().message;
  auto got = ids((*j)->load(10000));
  ASSERT_GE(got.size(), static_cast<size_t>(kFlushed));
  EXPECT_EQ(std::vector<uint64_t>(got.begin(), got.begin() + kFlushed), range(1, kFlushed));
  auto st = (*j)->status();
  EXPECT_EQ(st["corrupt_skipped"], 0) << st.dump();
  EXPECT_FALSE(st["degraded"]) << st.dump();
}

// Killed at an arbitrary moment of a busy write loop (mid-write, mid-rotation, mid-compression): every
// record the child saw flushed is there, in order, with nothing invented.
TEST(JournalLive, KillDuringBusyWritesKeepsEveryFlushedRecord) {
  TempDir tmp;
  std::string dir = tmp.path() + "/state";
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(fds[0]);
    JournalOptions o;
    o.dir = dir;
    o.segment_bytes = 8 << 10;
    o.max_bytes = 16 << 20;
    auto j = Journal::open(o);
    if (!j.ok()) _exit(2);
    for (uint64_t i = 1;; i++) {
      (*j)->append(rec(i));
      if (i % 7 == 0) {
        if (!(*j)->flush().ok()) _exit(3);
        if (::write(fds[1], &i, sizeof(i)) != sizeof(i)) _exit(4);
      }
    }
  }
  ::close(fds[1]);
  uint64_t flushed = 0, v = 0;
  while (flushed < 500 && ::read(fds[0], &v, sizeof(v)) == sizeof(v)) flushed = v;
  ASSERT_GE(flushed, 500u) << "child stopped early";
  std::this_thread::sleep_for(std::chrono::milliseconds(flushed % 13));
  ::kill(pid, SIGKILL);
  while (::read(fds[0], &v, sizeof(v)) == sizeof(v)) flushed = v;
  ::close(fds[0]);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status)) << "child exited with " << WEXITSTATUS(status);

  JournalOptions o;
  o.dir = dir;
  o.segment_bytes = 8 << 10;
  o.max_bytes = 16 << 20;
  auto j = Journal::open(o);
  ASSERT_TRUE(j.ok()) << j.error().message;
  auto got = ids((*j)->load(1000000));
  ASSERT_GE(got.size(), flushed);
  EXPECT_EQ(got, range(1, got.size()));
  EXPECT_LE((*j)->status()["corrupt_skipped"].get<uint64_t>(), 1u);

  // And the journal goes on from there.
  uint64_t next = got.back() + 1;
  (*j)->append(rec(next));
  ASSERT_TRUE((*j)->flush().ok());
  EXPECT_EQ(ids((*j)->load(1)), std::vector<uint64_t>{next});
}

}  // namespace
}  // namespace enospcd
