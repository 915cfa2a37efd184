#include "model/counters.h"

#include <gtest/gtest.h>

#include "common/strings.h"
#include "unit/model/count_entry.h"

namespace enospcd {
namespace {

using fakes::entry;

uint64_t total(const CounterMap& m) {
  uint64_t n = 0;
  for (const auto& [k, c] : m) n += c.val.count;
  return n;
}

TEST(Counters, AccumulateSumsCountAndSuppressed) {
  CounterMap m;
  accumulate(m, entry(10, 2, 0, "a", 7, 5));  // only suppressed so far
  accumulate(m, entry(10, 2, 3, "b", 7, 1));
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m.begin()->second.val.count, 3u);
  EXPECT_EQ(m.begin()->second.val.suppressed, 6u);
  EXPECT_EQ(fixed_string(m.begin()->second.val.comm), "a");
}

TEST(Counters, FoldKeepsTotalsAndFoldsLowestPidsFirst) {
  CounterMap m;
  for (uint32_t pid = 100; pid < 110; pid++) accumulate(m, entry(pid, 2, pid, "worker"));
  accumulate(m, entry(500, 83, 1, "other"));
  uint64_t before = total(m);
  auto folded = fold_retired(m, 4);
  EXPECT_EQ(m.size(), 4u);
  EXPECT_EQ(total(m), before);
  ASSERT_EQ(folded.size(), 8u);
  EXPECT_EQ(std::get<0>(folded.front()), 100u);
  const auto& zero = m.at(CounterKey{0, 2, 28, 7});
  EXPECT_EQ(zero.val.count, 100u + 101 + 102 + 103 + 104 + 105 + 106 + 107);
  EXPECT_EQ(fixed_string(zero.val.comm), "worker");  // every folded process had that name
  EXPECT_EQ(m.count(CounterKey{109, 2, 28, 7}), 1u);
  EXPECT_EQ(m.count(CounterKey{500, 83, 28, 7}), 1u);
}

TEST(Counters, FoldOfDifferentNamesSaysExited) {
  CounterMap m;
  accumulate(m, entry(1, 2, 1, "dockerd"));
  accumulate(m, entry(2, 2, 1, "containerd"));
  accumulate(m, entry(3, 2, 1, "runc"));
  fold_retired(m, 1);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(fixed_string(m.begin()->second.val.comm), "(exited)");
  EXPECT_EQ(m.begin()->second.val.count, 3u);
}

TEST(Counters, FoldStopsWhenOnlyPidZeroIsLeft) {
  CounterMap m;
  for (uint32_t nr = 0; nr < 10; nr++) accumulate(m, entry(0, nr, 1, "(exited)"));
  accumulate(m, entry(42, 3, 1, "x"));
  auto folded = fold_retired(m, 2);  // cannot get below the 10 pid-0 keys; must not loop
  EXPECT_EQ(folded.size(), 1u);
  EXPECT_EQ(m.size(), 10u);
  EXPECT_EQ(total(m), 11u);
}

}  // namespace
}  // namespace enospcd
