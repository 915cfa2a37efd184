// Journals written before 64-bit values became strings restore next to records of the current format, and a
// reset leaves nothing for a restart to restore.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "store/journal.h"
#include "support/temp_dir.h"
#include "model/event.h"

namespace enospcd {
namespace {

namespace fs = std::filesystem;

using enospcd::testing::TempDir;

std::unique_ptr<Journal> open_journal(const std::string& dir) {
  JournalOptions o;
  o.dir = dir;
  auto r = Journal::open(o);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  return r.ok() ? std::move(r.value()) : nullptr;
}

Event event(uint64_t id, uint64_t time_ns) {
  Event e;
  e.id = id;
  e.time_ns = time_ns;
  e.comm = "touch";
  e.syscall = "openat";
  e.errno_name = "ENOSPC";
  return e;
}

TEST(JournalFormats, NumbersAndStringsRestoreInIdOrder) {
  TempDir d;
  {
    auto j = open_journal(d.path());
    ASSERT_TRUE(j);
    // Earlier format: the id and times as JSON numbers (written literally, not by to_json).
    j->append(nlohmann::json::parse(
        R"({"id":7357189049442136064,"time_ns":1795248383349122226,"ktime_ns":5,"pid":1,"comm":"old","syscall":"openat","errno":"ENOSPC"})"));
    j->append(to_json(event(7357189049442140160ULL, 1795248383350000000ULL)));
    j->append(nlohmann::json::parse(
        R"({"id":7357189049442138112,"time_ns":1795248383349500000,"pid":2,"comm":"old2","syscall":"openat","errno":"ENOSPC"})"));
    ASSERT_TRUE(j->flush().ok());
  }
  auto j = open_journal(d.path());
  ASSERT_TRUE(j);
  auto records = j->load(100);
  ASSERT_EQ(records.size(), 3u);
  std::vector<uint64_t> ids, times;
  for (const auto& r : records) {
    Event e = event_from_json(r);
    ids.push_back(e.id);
    times.push_back(e.time_ns);
  }
  EXPECT_EQ(ids, (std::vector<uint64_t>{7357189049442136064ULL, 7357189049442138112ULL, 7357189049442140160ULL}));
  EXPECT_EQ(times, (std::vector<uint64_t>{1795248383349122226ULL, 1795248383349500000ULL, 1795248383350000000ULL}));
}

TEST(JournalFormats, DuplicatesAcrossFormatsCollapse) {
  TempDir d;
  {
    auto j = open_journal(d.path());
    ASSERT_TRUE(j);
    j->append(nlohmann::json::parse(R"({"id":7357189049442136064,"comm":"a"})"));
    j->append(nlohmann::json::parse(R"({"id":"7357189049442136064","comm":"a"})"));
    ASSERT_TRUE(j->flush().ok());
  }
  auto j = open_journal(d.path());
  ASSERT_TRUE(j);
  EXPECT_EQ(j->load(100).size(), 1u);
}

TEST(JournalReset, NothingComesBackAfterARestart) {
  TempDir d;
  {
    JournalOptions o;
    o.dir = d.path();
    o.segment_bytes = 512;  // several sealed, compressed segments
    o.max_bytes = 1 << 20;
    auto r = Journal::open(o);
    ASSERT_TRUE(r.ok());
    auto& j = r.value();
    for (uint64_t i = 1; i <= 50; i++) j->append(to_json(event(i, i * 1000)));
    j->append_aggregate({{"counters", nlohmann::json::array({{{"pid", 1}, {"count", 50}}})}});
    ASSERT_TRUE(j->flush().ok());
    ASSERT_GT(j->status()["segments"].get<uint64_t>(), 2u);
    ASSERT_TRUE(fs::exists(d.path() + "/aggregates.json"));
    j->append(to_json(event(51, 51000)));  // queued, not yet written
    ASSERT_TRUE(j->reset().ok());
    EXPECT_FALSE(j->last_aggregate());
    EXPECT_TRUE(j->load(100).empty());
    EXPECT_FALSE(fs::exists(d.path() + "/aggregates.json"));
    // Appending goes on after a reset.
    j->append(to_json(event(60, 60000)));
    ASSERT_TRUE(j->flush().ok());
  }
  auto j = open_journal(d.path());
  ASSERT_TRUE(j);
  auto records = j->load(100);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(event_from_json(records[0]).id, 60u);
  EXPECT_FALSE(j->last_aggregate());
  EXPECT_EQ(j->status()["bytes_on_disk"].get<uint64_t>(), fs::file_size(d.path() + "/journal-00000001.ndjson"));
}

}  // namespace
}  // namespace enospcd
