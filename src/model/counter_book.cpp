#include "model/counter_book.h"

#include <cstring>
#include <set>
#include <tuple>

#include "common/strings.h"
#include "model/event.h"

namespace enospcd {

CounterBook::CounterBook(CounterSource& kernel, std::size_t max_causes, std::size_t max_retired)
    : kernel_(kernel), max_causes_(max_causes), max_retired_(max_retired) {}

std::vector<CountEntry> CounterBook::all() const {
  std::lock_guard<std::mutex> lk(mu_);
  auto counts = kernel_.read_counts();
  for (const auto& [k, c] : retired_) counts.push_back(c);
  return counts;
}

std::size_t CounterBook::retire(const std::function<bool(uint32_t)>& exited) {
  std::set<CounterKey> dead;
  for (const auto& c : kernel_.read_counts())
    if (exited(c.key.tgid)) dead.insert(counter_key(c.key));
  if (dead.empty()) return 0;
  std::lock_guard<std::mutex> lk(mu_);
  std::size_t n = 0;
  // Re-read under the lock: the value moved is the final one, and readers see it in exactly one place.
  for (const auto& c : kernel_.read_counts()) {
    if (!dead.count(counter_key(c.key))) continue;
    if (!kernel_.delete_count(c.key)) continue;
    accumulate(retired_, c);
    n++;
  }
  fold_locked();
  return n;
}

void CounterBook::fold_locked() {
  // The user-space side is bounded too: a crash-looping process failing with a new pid every second would
  // otherwise grow it (and the causes, and the saved snapshot) for as long as the daemon runs. A folded key's
  // cause moves with its count to pid 0.
  for (const auto& key : fold_retired(retired_, max_retired_)) {
    auto cause = causes_.find(key);
    if (cause == causes_.end()) continue;
    auto folded = key;
    std::get<0>(folded) = 0;
    causes_[folded] = std::move(cause->second);
    causes_.erase(cause);
  }
}

void CounterBook::set_cause(const CounterKey& key, CauseId cause) {
  std::lock_guard<std::mutex> lk(mu_);
  if (causes_.size() < max_causes_ || causes_.count(key)) causes_[key] = cause;
}

CauseId CounterBook::cause(const CounterKey& key) const {
  std::lock_guard<std::mutex> lk(mu_);
  auto it = causes_.find(key);
  return it != causes_.end() ? it->second : CauseId::Unknown;
}

std::string CounterBook::save_text() const {
  // Counts and causes under one lock: a retirement folding keys in between cannot part a count from its cause.
  std::lock_guard<std::mutex> lk(mu_);
  CounterMap merged;
  for (const auto& c : kernel_.read_counts()) accumulate(merged, c);
  for (const auto& [k, c] : retired_) accumulate(merged, c);
  std::string out = "{\"counters\":[";
  out.reserve(out.size() + merged.size() * 120);
  bool first = true;
  for (const auto& [k, c] : merged) {
    out += first ? "{" : ",{";
    first = false;
    out += "\"pid\":" + std::to_string(c.key.tgid) + ",\"syscall_nr\":" + std::to_string(c.key.syscall_nr) +
           ",\"err\":" + std::to_string(c.key.err) + ",\"cgroup_id\":" + std::to_string(c.key.cgroup_id) +
           ",\"count\":" + std::to_string(c.val.count) + ",\"suppressed\":" + std::to_string(c.val.suppressed) +
           // A comm is the process's own text: escaped, and invalid UTF-8 replaced, by the JSON library.
           ",\"comm\":" +
           nlohmann::json(fixed_string(c.val.comm)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    if (auto it = causes_.find(k); it != causes_.end()) out += ",\"cause\":\"" + std::string(cause_name(it->second)) + "\"";
    out += "}";
  }
  return out + "]}";
}

void CounterBook::restore(const nlohmann::json& snapshot) {
  if (!snapshot.is_object() || !snapshot.contains("counters") || !snapshot["counters"].is_array()) return;
  std::lock_guard<std::mutex> lk(mu_);
  for (const auto& c : snapshot["counters"]) {
    if (!c.is_object()) continue;
    auto pid = json_u64(c.value("pid", nlohmann::json())), nr = json_u64(c.value("syscall_nr", nlohmann::json())),
         err = json_u64(c.value("err", nlohmann::json())), cgroup = json_u64(c.value("cgroup_id", nlohmann::json())),
         count = json_u64(c.value("count", nlohmann::json()));
    if (!pid || !nr || !err || !cgroup || !count || *pid > UINT32_MAX || *nr > UINT32_MAX || *err > UINT32_MAX)
      continue;
    CountEntry e{};
    e.key.tgid = static_cast<uint32_t>(*pid);
    e.key.syscall_nr = static_cast<uint32_t>(*nr);
    e.key.err = static_cast<uint32_t>(*err);
    e.key.cgroup_id = *cgroup;
    e.val.count = *count;
    e.val.suppressed = json_u64(c.value("suppressed", nlohmann::json())).value_or(0);
    if (auto comm = c.find("comm"); comm != c.end() && comm->is_string())
      std::strncpy(e.val.comm, comm->get_ref<const std::string&>().c_str(), sizeof(e.val.comm) - 1);
    accumulate(retired_, e);
    auto cause = c.find("cause");
    if (cause != c.end() && cause->is_string() && causes_.size() < max_causes_)
      if (auto id = cause_from_name(cause->get<std::string>())) causes_[counter_key(e.key)] = *id;
  }
  fold_locked();
}

void CounterBook::reset() {
  std::lock_guard<std::mutex> lk(mu_);
  for (const auto& c : kernel_.read_counts()) kernel_.delete_count(c.key);
  retired_.clear();
  causes_.clear();
}

}  // namespace enospcd
