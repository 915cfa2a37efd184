#include "store/event_store.h"

#include <algorithm>

namespace enospcd {

bool EventFilter::matches(const Event& e) const {
  if (since_ns && e.time_ns < *since_ns) return false;
  if (until_ns && e.time_ns > *until_ns) return false;
  if (pid && e.pid != *pid) return false;
  if (comm && e.comm != *comm) return false;
  if (syscall && e.syscall != *syscall) return false;
  if (container) {
    if (!e.container.is_object()) return false;
    const std::string id = e.container.value("id", "");
    const std::string name = e.container.value("name", "");
    // Full id, a unique prefix of at least 12 characters (as docker prints), or the name.
    bool id_match = !container->empty() && (id == *container || (container->size() >= 12 && id.rfind(*container, 0) == 0));
    if (!id_match && name != *container) return false;
  }
  if (cause) {
    if (!e.cause.is_object() || e.cause.value("id", "") != *cause) return false;
  }
  return true;
}

uint64_t IdAllocator::next(uint64_t time_ns) {
  uint64_t candidate = (time_ns / 1000) << 12;
  last_ = std::max(candidate, last_ + 1);
  return last_;
}

void IdAllocator::observe(uint64_t id) { last_ = std::max(last_, id); }

uint64_t EventStore::add(Event e) {
  uint64_t id;
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (e.id == 0)
      e.id = ids_.next(e.time_ns);
    else
      ids_.observe(e.id);
    id = e.id;
    events_.push_back(e);
    total_++;
    while (events_.size() > capacity_) {
      events_.pop_front();
      evicted_++;
    }
  }
  std::lock_guard<std::mutex> lk(sub_mu_);
  for (auto& [token, s] : subs_) s(e);
  return id;
}

std::vector<Event> EventStore::query(const EventFilter& f) const {
  std::vector<Event> out;
  std::lock_guard<std::mutex> lk(mu_);
  for (auto it = events_.rbegin(); it != events_.rend() && out.size() < f.limit; ++it)
    if (f.matches(*it)) out.push_back(*it);
  return out;
}

std::optional<Event> EventStore::get(uint64_t id) const {
  std::lock_guard<std::mutex> lk(mu_);
  // Ids increase with insertion order, so a binary search finds it.
  auto it = std::lower_bound(events_.begin(), events_.end(), id,
                             [](const Event& e, uint64_t v) { return e.id < v; });
  if (it != events_.end() && it->id == id) return *it;
  return std::nullopt;
}

std::size_t EventStore::size() const {
  std::lock_guard<std::mutex> lk(mu_);
  return events_.size();
}

uint64_t EventStore::total_added() const {
  std::lock_guard<std::mutex> lk(mu_);
  return total_;
}

uint64_t EventStore::evicted() const {
  std::lock_guard<std::mutex> lk(mu_);
  return evicted_;
}

void EventStore::clear() {
  std::lock_guard<std::mutex> lk(mu_);
  events_.clear();
}

uint64_t EventStore::subscribe(Subscriber s) {
  std::lock_guard<std::mutex> lk(sub_mu_);
  uint64_t token = next_token_++;
  subs_[token] = std::move(s);
  return token;
}

void EventStore::unsubscribe(uint64_t token) {
  std::lock_guard<std::mutex> lk(sub_mu_);
  subs_.erase(token);
}

}  // namespace enospcd
