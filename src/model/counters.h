// Exact failure counters kept in user space: the kernel map's entries of exited processes move here, and past
// a bound the oldest are folded into pid 0, which keeps every total exact and gives up only the attribution
// to a long-gone pid.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <tuple>
#include <vector>

#include "enospcd/abi.h"

namespace enospcd {

// (tgid, syscall, errno, cgroup id): the kernel counter key without its padding.
// One entry of the kernel's exact counter map.
struct CountEntry {
  enospcd_count_key key;
  enospcd_count_val val;
};

using CounterKey = std::tuple<uint32_t, uint32_t, uint32_t, uint64_t>;
using CounterMap = std::map<CounterKey, CountEntry>;

CounterKey counter_key(const enospcd_count_key& k);

// Adds an entry: count and suppressed are summed; the comm of the first entry stays.
void accumulate(CounterMap& into, const CountEntry& c);

// Folds entries of pids other than 0, lowest pid first, into their pid-0 entry (same syscall, errno and cgroup)
// until at most `max` entries remain or only pid-0 entries are left. A folded entry keeps its comm when every
// process folded into it had the same one, else it reads "(exited)". Returns the keys folded away.
std::vector<CounterKey> fold_retired(CounterMap& m, std::size_t max);

}  // namespace enospcd
