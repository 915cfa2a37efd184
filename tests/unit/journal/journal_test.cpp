#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "store/journal.h"
#include "support/has_value.h"
#include "support/temp_dir.h"

namespace enospcd {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

using enospcd::testing::TempDir;

// Routes spdlog's default logger into a string for the lifetime of the object.
class LogCapture {
 public:
  LogCapture() : saved_(spdlog::default_logger()) {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
    auto logger = std::make_shared<spdlog::logger>("journal-test", sink);
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

nlohmann::json rec(uint64_t id, const std::string& payload = "") {
  return {{"id", id}, {"comm", "touch"}, {"syscall", "openat"}, {"errno_name", "ENOSPC"}, {"payload", payload}};
}

std::unique_ptr<Journal> open_ok(const JournalOptions& o) {
  auto r = Journal::open(o);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  return r.ok() ? std::move(r.value()) : nullptr;
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

struct DirFile {
  std::string name;
  uint64_t size;
};

std::vector<DirFile> list_dir(const std::string& dir) {
  std::vector<DirFile> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back({e.path().filename().string(), fs::file_size(e.path())});
  std::sort(out.begin(), out.end(), [](const DirFile& a, const DirFile& b) { return a.name < b.name; });
  return out;
}

int count_suffix(const std::string& dir, const std::string& suffix) {
  int n = 0;
  for (const auto& f : list_dir(dir))
    if (f.name.size() >= suffix.size() && f.name.compare(f.name.size() - suffix.size(), suffix.size(), suffix) == 0)
      n++;
  return n;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_file(const std::string& path, const std::string& data, std::ios::openmode mode = std::ios::trunc) {
  std::ofstream out(path, std::ios::binary | mode);
  out << data;
}

std::string gunzip(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) return "";
  std::string out;
  char buf[4096];
  int n;
  while ((n = gzread(f, buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
  gzclose(f);
  return out;
}

// Random hex, so segments do not compress to nothing.
std::string noise(std::mt19937& rng, size_t n) {
  static const char hex[] = "0123456789abcdef";
  std::string s(n, '0');
  for (auto& c : s) c = hex[rng() % 16];
  return s;
}

JournalOptions small(const std::string& dir) {
  JournalOptions o;
  o.dir = dir;
  o.segment_bytes = 4096;
  o.max_bytes = 1 << 20;
  o.max_pending = 100000;
  return o;
}

TEST(Journal, AppendFlushLoadRoundTrip) {
  TempDir t;
  auto o = small(t.path() + "/state");
  {
    auto j = open_ok(o);
    ASSERT_TRUE(j);
    EXPECT_EQ(fs::status(o.dir).permissions() & fs::perms::all,
              fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec);
    for (uint64_t i = 1; i <= 10; i++) j->append(rec(i, "p" + std::to_string(i)));
    EXPECT_EQ(j->status()["pending"], 10);
    ASSERT_TRUE(j->flush().ok());
    auto st = j->status();
    EXPECT_EQ(st["pending"], 0);
    EXPECT_EQ(st["records_written"], 10);
    EXPECT_EQ(st["degraded"], false);
    EXPECT_EQ(st["segments"], 1);
    EXPECT_EQ(st["dir"], o.dir);
    EXPECT_EQ(st["bytes_on_disk"].get<uint64_t>(), fs::file_size(o.dir + "/journal-00000001.ndjson"));
    auto v = j->load(100);
    ASSERT_EQ(ids(v), range(1, 10));
    EXPECT_EQ(v[3], rec(4, "p4"));
  }
  auto j = open_ok(o);
  ASSERT_TRUE(j);
  auto v = j->load(100);
  EXPECT_EQ(ids(v), range(1, 10));
  EXPECT_EQ(j->status()["corrupt_skipped"], 0);
}

TEST(Journal, LineFormatIsLengthChecksumJson) {
  TempDir t;
  auto j = open_ok(small(t.path()));
  j->append(rec(7));
  ASSERT_TRUE(j->flush().ok());
  std::string line = read_file(t.path() + "/journal-00000001.ndjson");
  std::string body = rec(7).dump();
  char head[40];
  snprintf(head, sizeof(head), "%zu %08lx ", body.size(),
           crc32(0, reinterpret_cast<const Bytef*>(body.data()), static_cast<uInt>(body.size())));
  EXPECT_EQ(line, head + body + "\n");
}

TEST(Journal, MaybeFlushWaitsForTheInterval) {
  TempDir t;
  auto j = open_ok(small(t.path()));
  auto now = std::chrono::steady_clock::now();  // just after the open, which counts as a flush
  j->append(rec(1));
  j->maybe_flush(now + 300ms);
  EXPECT_EQ(j->status()["pending"], 1);
  j->maybe_flush(now + 1s);
  EXPECT_EQ(j->status()["pending"], 0);
  j->append(rec(2));
  j->maybe_flush(now + 1s + 999ms);
  EXPECT_EQ(j->status()["pending"], 1);
  j->maybe_flush(now + 2s);
  EXPECT_EQ(j->status()["pending"], 0);
  EXPECT_EQ(ids(j->load(10)), range(1, 2));
}

TEST(Journal, MaybeFlushEarlyWhenMuchIsQueued) {
  TempDir t;
  auto o = small(t.path());
  o.max_pending = 10;
  auto j = open_ok(o);
  auto now = std::chrono::steady_clock::now();
  for (uint64_t i = 1; i <= 5; i++) j->append(rec(i));
  j->maybe_flush(now);  // half of max_pending queued
  EXPECT_EQ(j->status()["pending"], 0);
  EXPECT_EQ(j->status()["records_dropped"], 0);
}

// The path that queues each record flushes on size only: a record or two wait for the timed flush, however
// long ago the last one was; half of max_pending queued is written at once.
TEST(Journal, FlushIfMuchPendingIgnoresTheInterval) {
  TempDir t;
  auto o = small(t.path());
  o.max_pending = 10;
  o.flush_interval = 0ms;
  auto j = open_ok(o);
  for (uint64_t i = 1; i <= 4; i++) {
    j->append(rec(i));
    j->flush_if_much_pending();
    EXPECT_EQ(j->status()["pending"], i);
  }
  j->append(rec(5));
  j->flush_if_much_pending();
  EXPECT_EQ(j->status()["pending"], 0);
  EXPECT_EQ(ids(j->load(10)), range(1, 5));
}

TEST(Journal, RotationCompressesSealedSegments) {
  TempDir t;
  auto j = open_ok(small(t.path()));
  for (uint64_t i = 1; i <= 300; i++) {
    j->append(rec(i, std::string(60, 'x')));
    if (i % 25 == 0) {
      ASSERT_TRUE(j->flush().ok());
    }
  }
  ASSERT_TRUE(j->flush().ok());
  EXPECT_EQ(count_suffix(t.path(), ".ndjson"), 1);
  int gz = count_suffix(t.path(), ".ndjson.gz");
  EXPECT_GE(gz, 6);
  EXPECT_EQ(j->status()["segments"], gz + 1);

  // Each sealed segment is an ordinary gzip file of whole framed lines, none larger than the segment size.
  uint64_t total_lines = 0;
  for (const auto& f : list_dir(t.path())) {
    if (f.name.find(".gz") == std::string::npos) {
      EXPECT_LE(f.size, 4096u) << f.name;
      continue;
    }
    std::string data = gunzip(t.path() + "/" + f.name);
    ASSERT_FALSE(data.empty()) << f.name;
    EXPECT_LE(data.size(), 4096u) << f.name;
    EXPECT_EQ(data.back(), '\n');
    EXPECT_LT(f.size, data.size()) << "not compressed: " << f.name;
    total_lines += static_cast<uint64_t>(std::count(data.begin(), data.end(), '\n'));
  }
  EXPECT_GT(total_lines, 200u);
  EXPECT_EQ(ids(j->load(1000)), range(1, 300));
}

TEST(Journal, CapDeletesOldestCompressedSegmentsFirst) {
  TempDir t;
  auto o = small(t.path());
  o.max_bytes = 16384;
  auto j = open_ok(o);
  std::mt19937 rng(42);
  for (uint64_t i = 1; i <= 1000; i++) {
    j->append(rec(i, noise(rng, 200)));
    if (i % 50 == 0) {
      ASSERT_TRUE(j->flush().ok());
    }
  }
  ASSERT_TRUE(j->flush().ok());
  uint64_t on_disk = 0;
  for (const auto& f : list_dir(t.path())) on_disk += f.size;
  EXPECT_LE(on_disk, o.max_bytes);
  auto st = j->status();
  EXPECT_EQ(st["bytes_on_disk"].get<uint64_t>(), on_disk);
  EXPECT_GT(st["segments_deleted"].get<uint64_t>(), 0u);
  EXPECT_FALSE(fs::exists(t.path() + "/journal-00000001.ndjson.gz"));

  // What survives is the newest records, contiguous up to the last one.
  auto v = j->load(100000);
  ASSERT_FALSE(v.empty());
  auto got = ids(v);
  EXPECT_GT(got.front(), 1u);
  EXPECT_EQ(got, range(got.front(), 1000));
}

TEST(Journal, CapNeverDeletesTheActiveSegment) {
  TempDir t;
  auto o = small(t.path());
  o.max_bytes = 8192;
  auto j = open_ok(o);
  std::mt19937 rng(1);
  for (uint64_t i = 1; i <= 200; i++) j->append(rec(i, noise(rng, 300)));
  ASSERT_TRUE(j->flush().ok());
  auto v = ids(j->load(1000));
  ASSERT_FALSE(v.empty());
  EXPECT_EQ(v.back(), 200u);
}

std::string active_file(const std::string& dir) {
  std::string active;
  for (const auto& f : list_dir(dir))
    if (f.name.size() > 7 && f.name.compare(f.name.size() - 7, 7, ".ndjson") == 0) active = dir + "/" + f.name;
  return active;
}

TEST(Journal, TornLastRecordIsSkippedAndCounted) {
  TempDir t;
  auto o = small(t.path());
  {
    auto j = open_ok(o);
    for (uint64_t i = 1; i <= 5; i++) j->append(rec(i, "abcdefghij"));
    ASSERT_TRUE(j->flush().ok());
  }
  std::string path = active_file(t.path());
  ASSERT_FALSE(path.empty());
  // The write of record 5 was cut short, then junk landed after it (no newline at the end).
  fs::resize_file(path, fs::file_size(path) - 12);
  write_file(path, std::string("\x00\x00garb{\"id\":", 11), std::ios::app);

  auto j = open_ok(o);
  ASSERT_TRUE(j);
  EXPECT_EQ(ids(j->load(100)), range(1, 4));
  EXPECT_EQ(j->status()["corrupt_skipped"], 1);
  for (uint64_t i = 6; i <= 8; i++) j->append(rec(i));
  ASSERT_TRUE(j->flush().ok());
  EXPECT_EQ(ids(j->load(100)), (std::vector<uint64_t>{1, 2, 3, 4, 6, 7, 8}));
  EXPECT_EQ(j->status()["corrupt_skipped"], 1);
  EXPECT_FALSE(j->status()["degraded"]);

  // The new records did not share the fragment's line; a later open sees the same.
  j.reset();
  j = open_ok(o);
  EXPECT_EQ(ids(j->load(100)), (std::vector<uint64_t>{1, 2, 3, 4, 6, 7, 8}));
  EXPECT_EQ(j->status()["corrupt_skipped"], 1);
}

TEST(Journal, GarbageLineBetweenRecordsIsSkipped) {
  TempDir t;
  auto o = small(t.path());
  {
    auto j = open_ok(o);
    for (uint64_t i = 1; i <= 3; i++) j->append(rec(i));
    ASSERT_TRUE(j->flush().ok());
  }
  std::string path = active_file(t.path());
  fs::resize_file(path, fs::file_size(path) - 5);
  write_file(path, "not a record\n", std::ios::app);  // ends in a newline: appending goes on in this file
  auto j = open_ok(o);
  j->append(rec(4));
  ASSERT_TRUE(j->flush().ok());
  EXPECT_EQ(ids(j->load(100)), (std::vector<uint64_t>{1, 2, 4}));
  EXPECT_EQ(j->status()["corrupt_skipped"], 1);
}

TEST(Journal, CorruptChecksumOrLengthIsSkipped) {
  TempDir t;
  auto o = small(t.path());
  {
    auto j = open_ok(o);
    for (uint64_t i = 1; i <= 5; i++) j->append(rec(i, "payload-" + std::to_string(i)));
    ASSERT_TRUE(j->flush().ok());
  }
  std::string path = active_file(t.path());
  std::string data = read_file(path);
  // Same length, one flipped byte inside record 3's JSON: only the CRC can tell.
  auto p3 = data.find("payload-3");
  ASSERT_NE(p3, std::string::npos);
  data[p3] = 'P';
  // Record 4 claims one byte more than it has.
  auto l4 = data.find('\n', p3) + 1;
  auto sp = data.find(' ', l4);
  int len = std::stoi(data.substr(l4, sp - l4));
  data.replace(l4, sp - l4, std::to_string(len + 1));
  write_file(path, data);

  auto j = open_ok(o);
  EXPECT_EQ(ids(j->load(100)), (std::vector<uint64_t>{1, 2, 5}));
  EXPECT_EQ(j->status()["corrupt_skipped"], 2);
}

TEST(Journal, DamagedCompressedSegmentKeepsWhatIsReadable) {
  TempDir t;
  auto o = small(t.path());
  {
    auto j = open_ok(o);
    for (uint64_t i = 1; i <= 200; i++) j->append(rec(i, std::string(40, 'y')));
    ASSERT_TRUE(j->flush().ok());
  }
  std::string gz = t.path() + "/journal-00000001.ndjson.gz";
  ASSERT_TRUE(fs::exists(gz));
  fs::resize_file(gz, fs::file_size(gz) / 2);
  auto j = open_ok(o);
  auto got = ids(j->load(1000));
  EXPECT_GE(j->status()["corrupt_skipped"].get<uint64_t>(), 1u);
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got.back(), 200u);
  EXPECT_LT(got.size(), 200u);
  EXPECT_TRUE(std::is_sorted(got.begin(), got.end()));
}

uint64_t seq_of(const std::string& name) { return std::stoull(name.substr(std::string("journal-").size())); }

TEST(Journal, ReopenContinuesSequenceNumbering) {
  TempDir t;
  auto o = small(t.path());
  {
    auto j = open_ok(o);
    for (uint64_t i = 1; i <= 150; i++) j->append(rec(i, std::string(60, 'a')));
    ASSERT_TRUE(j->flush().ok());
  }
  std::map<std::string, std::string> old_gz;
  uint64_t old_max = 0;
  for (const auto& f : list_dir(t.path())) {
    old_max = std::max(old_max, seq_of(f.name));
    if (f.name.find(".gz") != std::string::npos) old_gz[f.name] = read_file(t.path() + "/" + f.name);
  }
  ASSERT_GE(old_gz.size(), 2u);

  {
    auto j = open_ok(o);
    for (uint64_t i = 151; i <= 300; i++) j->append(rec(i, std::string(60, 'b')));
    ASSERT_TRUE(j->flush().ok());
    EXPECT_EQ(ids(j->load(1000)), range(1, 300));
  }
  // Sealed segments from before are untouched; new ones continue after the old active segment.
  for (const auto& [name, data] : old_gz) EXPECT_EQ(read_file(t.path() + "/" + name), data) << name;
  std::set<uint64_t> newer;
  for (const auto& f : list_dir(t.path())) {
    if (old_gz.count(f.name)) continue;
    EXPECT_GE(seq_of(f.name), old_max) << f.name;
    if (seq_of(f.name) > old_max) newer.insert(seq_of(f.name));
  }
  EXPECT_GE(newer.size(), 2u);
  EXPECT_EQ(*newer.begin(), old_max + 1);
}

TEST(Journal, LoadReturnsTheNewestInIdOrder) {
  TempDir t;
  auto j = open_ok(small(t.path()));
  for (uint64_t i = 1; i <= 500; i++) j->append(rec(i * 3, std::string(50, 'z')));
  ASSERT_TRUE(j->flush().ok());
  std::vector<uint64_t> want;
  for (uint64_t i = 491; i <= 500; i++) want.push_back(i * 3);
  EXPECT_EQ(ids(j->load(10)), want);
  EXPECT_TRUE(j->load(0).empty());
  EXPECT_EQ(j->load(100000).size(), 500u);
}

TEST(Journal, UnwritableDirectoryIsAClearError) {
  TempDir t;
  std::string file = t.path() + "/plainfile";
  write_file(file, "x");
  JournalOptions o = small(file + "/state");
  auto r = Journal::open(o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find(file), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("Not a directory"), std::string::npos) << r.error().message;

  o.dir = file;  // exists, but is not a directory
  r = Journal::open(o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("state directory " + file), std::string::npos) << r.error().message;
  EXPECT_EQ(r.error().code, ENOTDIR);

  if (geteuid() != 0) {  // root writes through mode bits
    std::string ro = t.path() + "/ro";
    fs::create_directory(ro);
    chmod(ro.c_str(), 0500);
    o.dir = ro;
    r = Journal::open(o);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("not writable"), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find("Permission denied"), std::string::npos) << r.error().message;
    chmod(ro.c_str(), 0700);
  }
}

TEST(Journal, InconsistentOptionsAreRejected) {
  TempDir t;
  auto o = small(t.path());
  o.max_bytes = o.segment_bytes;
  auto r = Journal::open(o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("twice the segment size"), std::string::npos);
  o = small(t.path());
  o.dir.clear();
  EXPECT_FALSE(Journal::open(o).ok());
}

// /dev/full fails every write with ENOSPC: the degraded path without root or a real full disk.
TEST(Journal, FullDeviceDegradesBacksOffAndRecovers) {
  if (access("/dev/full", W_OK) != 0) GTEST_SKIP() << "no writable /dev/full";
  TempDir t;
  std::string active = t.path() + "/journal-00000001.ndjson";
  fs::create_symlink("/dev/full", active);
  LogCapture log;
  auto o = small(t.path());
  o.max_pending = 20;
  o.retry_max = 8s;
  auto j = open_ok(o);
  ASSERT_TRUE(j);
  EXPECT_FALSE(j->degraded());

  for (uint64_t i = 1; i <= 5; i++) j->append(rec(i));
  auto r = j->flush();
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ENOSPC);
  auto st = j->status();
  EXPECT_TRUE(st["degraded"]);
  EXPECT_NE(st["degraded_reason"].get<std::string>().find("No space left on device"), std::string::npos)
      << st.dump();
  EXPECT_EQ(st["last_error"], st["degraded_reason"]);
  EXPECT_EQ(st["pending"], 5);
  EXPECT_EQ(st["backoff_ms"], 1000);
  EXPECT_EQ(st["failed_flushes"], 1);

  // Bounded queue: oldest dropped and counted.
  for (uint64_t i = 6; i <= 50; i++) j->append(rec(i));
  st = j->status();
  EXPECT_EQ(st["pending"], 20);
  EXPECT_EQ(st["records_dropped"], 30);

  // No disk access before the backoff expires, whoever asks.
  j->maybe_flush(t0 + 500ms);
  EXPECT_FALSE(j->flush().ok());
  EXPECT_EQ(j->status()["failed_flushes"], 1);
  // Then doubling, up to retry_max.
  j->maybe_flush(t0 + 1100ms);
  EXPECT_EQ(j->status()["failed_flushes"], 2);
  EXPECT_EQ(j->status()["backoff_ms"], 2000);
  j->maybe_flush(t0 + 3000ms);
  EXPECT_EQ(j->status()["failed_flushes"], 2);
  j->maybe_flush(t0 + 3200ms);
  EXPECT_EQ(j->status()["backoff_ms"], 4000);
  j->maybe_flush(t0 + 7300ms);
  EXPECT_EQ(j->status()["backoff_ms"], 8000);
  j->maybe_flush(t0 + 15400ms);
  EXPECT_EQ(j->status()["backoff_ms"], 8000);
  EXPECT_EQ(j->status()["failed_flushes"], 5);
  EXPECT_TRUE(j->degraded());
  EXPECT_EQ(log.lines_with("degraded"), 1) << log.text();
  EXPECT_EQ(log.lines_with("recovered"), 0) << log.text();

  // Space comes back: the next retry writes the queue by itself.
  fs::remove(active);
  j->maybe_flush(t0 + 30s);
  st = j->status();
  EXPECT_FALSE(st["degraded"]) << st.dump();
  EXPECT_EQ(st["degraded_reason"], "");
  EXPECT_EQ(st["pending"], 0);
  EXPECT_EQ(st["records_written"], 20);
  EXPECT_EQ(st["backoff_ms"], 0);
  EXPECT_EQ(ids(j->load(100)), range(31, 50));
  EXPECT_EQ(log.lines_with("degraded"), 1) << log.text();
  EXPECT_EQ(log.lines_with("recovered"), 1) << log.text();
  EXPECT_NE(log.text().find("No space left on device"), std::string::npos);

  // Failing again right after recovering continues the backoff instead of restarting it at 1 s.
  fs::create_symlink("/dev/full", t.path() + "/journal-00000002.ndjson");
  for (uint64_t i = 51; i <= 100; i++) j->append(rec(i, std::string(100, 'r')));
  j->maybe_flush(t0 + 32s);
  st = j->status();
  EXPECT_TRUE(st["degraded"]);
  EXPECT_EQ(st["backoff_ms"], 8000);
  EXPECT_EQ(log.lines_with("degraded"), 2) << log.text();
}

TEST(Journal, AggregatesPersistAtomically) {
  TempDir t;
  auto o = small(t.path());
  {
    auto j = open_ok(o);
    EXPECT_FALSE(j->last_aggregate());
    j->append_aggregate({{"total", 1}});
    auto agg = j->last_aggregate();
    ASSERT_HAS_VALUE(agg);
    EXPECT_EQ(*agg, (nlohmann::json{{"total", 1}}));
    EXPECT_FALSE(fs::exists(t.path() + "/aggregates.json"));
    ASSERT_TRUE(j->flush().ok());
    EXPECT_TRUE(fs::exists(t.path() + "/aggregates.json"));
    j->append_aggregate({{"total", 2}, {"by_cause", {{"tmpfs_inodes", 2}}}});
    j->maybe_flush(std::chrono::steady_clock::now() + 2s);
  }
  EXPECT_FALSE(fs::exists(t.path() + "/aggregates.json.tmp"));
  {
    auto j = open_ok(o);
    auto agg = j->last_aggregate();
    ASSERT_HAS_VALUE(agg);
    EXPECT_EQ((*agg)["by_cause"]["tmpfs_inodes"], 2);
    EXPECT_EQ(j->status()["bytes_on_disk"].get<uint64_t>(), fs::file_size(t.path() + "/aggregates.json"));
  }
  write_file(t.path() + "/aggregates.json", "{\"total\": 3, \"by_ca");
  LogCapture log;
  auto j = open_ok(o);
  ASSERT_TRUE(j);
  EXPECT_FALSE(j->last_aggregate());
}

// The daemon hands over its counters every second; an unchanged snapshot is not written (nor fsynced) again.
TEST(Journal, UnchangedAggregateIsNotRewritten) {
  TempDir t;
  auto j = open_ok(small(t.path()));
  j->append_aggregate({{"total", 1}});
  ASSERT_TRUE(j->flush().ok());
  std::string path = t.path() + "/aggregates.json";
  auto ino = [&] {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
  };
  auto first = ino();  // every write replaces the file by rename, so a rewrite changes the inode
  ASSERT_NE(first, 0u);
  j->append_aggregate({{"total", 1}});
  ASSERT_TRUE(j->flush().ok());
  EXPECT_EQ(ino(), first);
  j->append_aggregate({{"total", 2}});
  ASSERT_TRUE(j->flush().ok());
  EXPECT_NE(ino(), first);
  auto agg = j->last_aggregate();
  ASSERT_HAS_VALUE(agg);
  EXPECT_EQ((*agg)["total"], 2);
}

TEST(Journal, CrashLeftoversAreCleanedUp) {
  TempDir t;
  auto o = small(t.path());
  {
    auto j = open_ok(o);
    for (uint64_t i = 1; i <= 150; i++) j->append(rec(i, std::string(60, 'c')));
    ASSERT_TRUE(j->flush().ok());
  }
  // A crash after the .gz rename but before the plain file's unlink; one during a compression; one during
  // an aggregate snapshot.
  write_file(t.path() + "/journal-00000001.ndjson", gunzip(t.path() + "/journal-00000001.ndjson.gz"));
  write_file(t.path() + "/journal-00000002.ndjson.gz.tmp", "partial");
  write_file(t.path() + "/aggregates.json.tmp", "{");
  // A crash between sealing segment 2 and compressing it.
  write_file(t.path() + "/journal-00000002.ndjson", gunzip(t.path() + "/journal-00000002.ndjson.gz"));
  fs::remove(t.path() + "/journal-00000002.ndjson.gz");

  auto j = open_ok(o);
  EXPECT_FALSE(fs::exists(t.path() + "/journal-00000001.ndjson"));
  EXPECT_FALSE(fs::exists(t.path() + "/journal-00000002.ndjson"));
  EXPECT_TRUE(fs::exists(t.path() + "/journal-00000002.ndjson.gz"));
  EXPECT_FALSE(fs::exists(t.path() + "/journal-00000002.ndjson.gz.tmp"));
  EXPECT_FALSE(fs::exists(t.path() + "/aggregates.json.tmp"));
  EXPECT_EQ(ids(j->load(1000)), range(1, 150));
  EXPECT_EQ(j->status()["corrupt_skipped"], 0);
}

TEST(Journal, RecordsThatCannotBeEncodedStrictlyAreStillWritten) {
  TempDir t;
  auto j = open_ok(small(t.path()));
  j->append({{"id", 1}, {"comm", std::string("a\xff\xfe", 3)}});
  ASSERT_TRUE(j->flush().ok());
  auto v = j->load(10);
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0]["id"], 1);
  EXPECT_EQ(v[0]["comm"].get<std::string>().substr(0, 1), "a");
}

TEST(Journal, ConcurrentAppendsAndStatus) {
  TempDir t;
  auto j = open_ok(small(t.path()));
  std::atomic<bool> done{false};
  std::thread reader([&] {
    while (!done) {
      auto st = j->status();
      EXPECT_LE(st["records_written"].get<uint64_t>(), 2000u);
    }
  });
  for (uint64_t i = 1; i <= 2000; i++) {
    j->append(rec(i));
    if (i % 200 == 0) j->maybe_flush(std::chrono::steady_clock::now() + 2s);
  }
  ASSERT_TRUE(j->flush().ok());
  done = true;
  reader.join();
  EXPECT_EQ(j->status()["records_written"], 2000);
  EXPECT_EQ(ids(j->load(10000)), range(1, 2000));
}

}  // namespace
}  // namespace enospcd
