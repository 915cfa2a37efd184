#include "model/counters.h"

#include <cstring>

#include "common/strings.h"

namespace enospcd {

CounterKey counter_key(const enospcd_count_key& k) { return {k.tgid, k.syscall_nr, k.err, k.cgroup_id}; }

void accumulate(CounterMap& into, const CountEntry& c) {
  auto [it, fresh] = into.try_emplace(counter_key(c.key), c);
  if (fresh) return;
  it->second.val.count += c.val.count;
  it->second.val.suppressed += c.val.suppressed;
}

std::vector<CounterKey> fold_retired(CounterMap& m, std::size_t max) {
  std::vector<CounterKey> folded;
  while (m.size() > max) {
    // Keys sort by pid first: the first key above pid 0 is the lowest pid.
    auto it = m.lower_bound(CounterKey{1, 0, 0, 0});
    if (it == m.end()) break;
    CountEntry c = it->second;
    folded.push_back(it->first);
    m.erase(it);
    c.key.tgid = 0;
    auto [slot, fresh] = m.try_emplace(counter_key(c.key), c);
    if (fresh) continue;
    slot->second.val.count += c.val.count;
    slot->second.val.suppressed += c.val.suppressed;
    if (fixed_string(slot->second.val.comm) != fixed_string(c.val.comm)) {
      std::memset(slot->second.val.comm, 0, sizeof(slot->second.val.comm));
      std::strncpy(slot->second.val.comm, "(exited)", sizeof(slot->second.val.comm) - 1);
    }
  }
  return folded;
}

}  // namespace enospcd
