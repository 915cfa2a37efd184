// The counter book: every exact failure count the daemon reports, in one owner. The kernel's counter map holds
// the counts of live processes; the book moves the entries of exited ones into user space (folding the oldest
// into pid 0 past a bound, so totals stay exact), remembers the cause of the latest event per key, and saves,
// restores and resets all of it together, so a reset forgets the same things before and after a restart.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/cause.h"
#include "model/counters.h"

namespace enospcd {

// The kernel's counter map as the book sees it: the gate in the daemon, a plain map in tests.
class CounterSource {
 public:
  virtual ~CounterSource() = default;
  virtual std::vector<CountEntry> read_counts() const = 0;
  // Removes one entry; false when it was not there (or could not be removed).
  virtual bool delete_count(const enospcd_count_key& key) = 0;
};

class CounterBook {
 public:
  static constexpr std::size_t kMaxRetiredKeys = 4096;

  // max_causes bounds the per-key causes: the kernel map's entries plus the retired ones.
  CounterBook(CounterSource& kernel, std::size_t max_causes, std::size_t max_retired = kMaxRetiredKeys);

  // The kernel's counts and the retired ones, read consistently: an entry being retired is seen in exactly
  // one place.
  std::vector<CountEntry> all() const;
  // Moves the entries of processes for which exited(tgid) holds out of the kernel map. Returns how many moved.
  std::size_t retire(const std::function<bool(uint32_t tgid)>& exited);

  // The cause of the latest event with this key; "unknown" when no event of it was explained.
  void set_cause(const CounterKey& key, CauseId cause);
  CauseId cause(const CounterKey& key) const;

  // {"counters": [{pid, syscall_nr, err, cgroup_id, count, suppressed, comm, cause?}]}: every count (kernel and
  // retired, one entry per key) with its cause. save_text() writes it as one line of JSON directly: taken once
  // a second, a tree of every key's members would be most of the daemon's transient memory.
  std::string save_text() const;
  nlohmann::json save() const { return nlohmann::json::parse(save_text()); }
  // Takes a snapshot written by save() (or by earlier versions, without causes) as retired counts: after a
  // restart none of those processes' kernel entries exist any more. Malformed entries are skipped.
  void restore(const nlohmann::json& snapshot);
  // Forgets every count (the kernel map's entries too) and every cause.
  void reset();

 private:
  // Folds retired_ down to max_retired_ keys; mu_ held.
  void fold_locked();

  CounterSource& kernel_;
  const std::size_t max_causes_, max_retired_;
  // Held while entries move from the kernel map to retired_, and by readers of both.
  mutable std::mutex mu_;
  CounterMap retired_;
  std::map<CounterKey, CauseId> causes_;
};

}  // namespace enospcd
