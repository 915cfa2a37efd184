// The counter book against a fake kernel map: exact totals while entries move to user space, causes that follow
// their counts, and save, restore and reset that agree with each other.
#include "model/counter_book.h"

#include <gtest/gtest.h>

#include <map>

#include "common/strings.h"
#include "unit/model/count_entry.h"

namespace enospcd {
namespace {

class FakeKernelMap : public CounterSource {
 public:
  std::vector<CountEntry> read_counts() const override {
    std::vector<CountEntry> out;
    for (const auto& [k, c] : entries) out.push_back(c);
    return out;
  }
  bool delete_count(const enospcd_count_key& key) override { return entries.erase(counter_key(key)) > 0; }
  void add(uint32_t pid, uint32_t nr, uint64_t count, const char* comm, uint64_t cgroup = 7) {
    auto c = fakes::entry(pid, nr, count, comm, cgroup);
    entries[counter_key(c.key)] = c;
  }
  std::map<CounterKey, CountEntry> entries;
};

uint64_t total(const std::vector<CountEntry>& counts) {
  uint64_t n = 0;
  for (const auto& c : counts) n += c.val.count;
  return n;
}

CounterKey key(uint32_t pid, uint32_t nr, uint64_t cgroup = 7) { return {pid, nr, 28, cgroup}; }

TEST(CounterBook, RetiringExitedProcessesKeepsTotalsAndEmptiesTheKernelMap) {
  FakeKernelMap kernel;
  kernel.add(100, 2, 5, "tar");
  kernel.add(101, 2, 3, "cp");
  kernel.add(102, 165, 1, "mount");
  CounterBook book(kernel, 100);
  EXPECT_EQ(book.retire([](uint32_t pid) { return pid != 101; }), 2u);
  EXPECT_EQ(kernel.entries.size(), 1u);
  EXPECT_EQ(total(book.all()), 9u);
  EXPECT_EQ(book.all().size(), 3u);
  EXPECT_EQ(book.retire([](uint32_t) { return false; }), 0u);
}

TEST(CounterBook, FoldedKeysTakeTheirCauseToPidZero) {
  FakeKernelMap kernel;
  for (uint32_t pid = 10; pid < 20; pid++) kernel.add(pid, 2, 1, "job");
  CounterBook book(kernel, 100, /*max_retired=*/4);
  book.set_cause(key(10, 2), CauseId::TmpfsInodes);
  book.retire([](uint32_t) { return true; });
  auto all = book.all();
  EXPECT_LE(all.size(), 4u);
  EXPECT_EQ(total(all), 10u);
  EXPECT_EQ(book.cause(key(0, 2)), CauseId::TmpfsInodes);
  EXPECT_EQ(book.cause(key(10, 2)), CauseId::Unknown);
}

TEST(CounterBook, CausesAreBounded) {
  FakeKernelMap kernel;
  CounterBook book(kernel, 2);
  book.set_cause(key(1, 2), CauseId::MountMax);
  book.set_cause(key(2, 2), CauseId::Pty);
  book.set_cause(key(3, 2), CauseId::Mqueue);
  book.set_cause(key(1, 2), CauseId::Device);  // a key already held is updated
  EXPECT_EQ(book.cause(key(1, 2)), CauseId::Device);
  EXPECT_EQ(book.cause(key(3, 2)), CauseId::Unknown);
}

TEST(CounterBook, SavedCountsAndCausesComeBackAfterARestart) {
  FakeKernelMap kernel;
  kernel.add(100, 2, 5, "tar");
  kernel.add(101, 165, 2, "mount", 9);
  CounterBook book(kernel, 100);
  book.set_cause(key(100, 2), CauseId::TmpfsInodes);
  book.retire([](uint32_t pid) { return pid == 101; });
  auto saved = book.save();
  ASSERT_EQ(saved["counters"].size(), 2u);

  FakeKernelMap fresh;  // a restarted daemon's kernel map is empty
  CounterBook after(fresh, 100);
  after.restore(saved);
  EXPECT_EQ(total(after.all()), 7u);
  EXPECT_EQ(after.cause(key(100, 2)), CauseId::TmpfsInodes);
  EXPECT_EQ(after.cause(key(101, 165, 9)), CauseId::Unknown);
  EXPECT_EQ(after.save(), saved);
}

TEST(CounterBook, ResetForgetsKernelRetiredAndCausesAlsoInWhatItSaves) {
  FakeKernelMap kernel;
  kernel.add(100, 2, 5, "tar");
  kernel.add(101, 2, 1, "cp");
  CounterBook book(kernel, 100);
  book.set_cause(key(100, 2), CauseId::TmpfsInodes);
  book.retire([](uint32_t pid) { return pid == 101; });
  book.reset();
  EXPECT_TRUE(kernel.entries.empty());
  EXPECT_TRUE(book.all().empty());
  EXPECT_EQ(book.cause(key(100, 2)), CauseId::Unknown);
  EXPECT_TRUE(book.save()["counters"].empty());
}

TEST(CounterBook, MalformedSnapshotEntriesAreSkipped) {
  FakeKernelMap kernel;
  CounterBook book(kernel, 100);
  book.restore(nlohmann::json::parse(R"({"counters": [
      {"pid": 5, "syscall_nr": 2, "err": 28, "cgroup_id": 7, "count": 4, "comm": "ok"},
      {"pid": -1, "syscall_nr": 2, "err": 28, "cgroup_id": 7, "count": 4},
      {"pid": 6, "syscall_nr": "two", "err": 28, "cgroup_id": 7, "count": 4},
      {"pid": 7, "syscall_nr": 2, "err": 28, "cgroup_id": 7},
      {"pid": 8, "syscall_nr": 2, "err": 28, "cgroup_id": 7, "count": 1, "comm": 5, "cause": 3},
      "not an object", 12]})"));
  auto all = book.all();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(total(all), 5u);
  EXPECT_EQ(fixed_string(all[0].val.comm), "ok");
  book.restore(nlohmann::json::parse(R"({"counters": 3})"));
  book.restore(nlohmann::json::parse("[]"));
  book.restore(nlohmann::json());
  EXPECT_EQ(book.all().size(), 2u);
}

// The snapshot is written as text directly: a comm is the process's own text (quotes, control characters, bytes
// that are not UTF-8) and must come back as written, escaped and with invalid bytes replaced, never break it.
TEST(CounterBook, SnapshotTextIsJsonWhateverTheCommsHold) {
  FakeKernelMap kernel;
  kernel.add(100, 2, 5, "a\"b\\c\n");
  kernel.add(101, 2, 3, "\xff\xfe-x");
  CounterBook book(kernel, 100);
  book.set_cause(key(100, 2), CauseId::TmpfsInodes);
  std::string text = book.save_text();
  auto j = nlohmann::json::parse(text);  // throws on malformed text
  ASSERT_EQ(j["counters"].size(), 2u);
  EXPECT_EQ(j["counters"][0]["comm"], "a\"b\\c\n");
  EXPECT_EQ(j["counters"][0]["cause"], "tmpfs_inodes");
  EXPECT_EQ(j["counters"][0]["count"], 5);
  EXPECT_EQ(j["counters"][1]["comm"], "\xEF\xBF\xBD\xEF\xBF\xBD-x");
  EXPECT_FALSE(j["counters"][1].contains("cause"));
  FakeKernelMap fresh;
  CounterBook after(fresh, 100);
  after.restore(j);
  EXPECT_EQ(after.save_text(), text);
}

}  // namespace
}  // namespace enospcd
