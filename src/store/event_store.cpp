#include "store/event_store.h"

#include <algorithm>

namespace enospcd {

bool EventFilter::may_match(uint64_t time_ns, uint32_t event_pid, std::optional<CauseId> event_cause) const {
  if (since_ns && time_ns < *since_ns) return false;
  if (until_ns && time_ns > *until_ns) return false;
  if (pid && event_pid != *pid) return false;
  if (cause && (!event_cause || cause_name(*event_cause) != *cause)) return false;
  return true;
}

bool EventFilter::matches(const Event& e) const {
  if (!may_match(e.time_ns, e.pid, e.cause ? std::optional<CauseId>(e.cause->id) : std::nullopt)) return false;
  if (comm && e.comm != *comm) return false;
  if (syscall && e.syscall != *syscall) return false;
  if (container && !container_matches(e.container, *container)) return false;
  return true;
}

uint64_t IdAllocator::next(uint64_t time_ns) {
  uint64_t candidate = (time_ns / 1000) << 12;
  last_ = std::max(candidate, last_ + 1);
  return last_;
}

void IdAllocator::observe(uint64_t id) { last_ = std::max(last_, id); }

Event EventStore::unpack(const Stored& s) { return unpack_event(s.bytes, *s.pool); }

uint64_t EventStore::add(Event e) {
  uint64_t id;
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (e.id == 0)
      e.id = ids_.next(e.time_ns);
    else
      ids_.observe(e.id);
    id = e.id;
    auto stored = std::make_shared<Stored>();
    stored->id = e.id;
    stored->time_ns = e.time_ns;
    stored->pid = e.pid;
    if (e.cause) stored->cause = e.cause->id;
    stored->bytes = pack_event(e, *pool_);
    stored->pool = pool_;
    if (pool_->full()) pool_ = std::make_shared<StringPool>();
    events_.push_back(std::move(stored));
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
  // The lock is held only to pick what may match; unpacking (and the filters that need the whole event)
  // happens after, while the tracing thread goes on adding.
  const bool whole = f.comm || f.syscall || f.container;
  std::vector<std::shared_ptr<const Stored>> hits;
  {
    std::lock_guard<std::mutex> lk(mu_);
    for (auto it = events_.rbegin(); it != events_.rend() && (whole || hits.size() < f.limit); ++it)
      if (f.may_match((*it)->time_ns, (*it)->pid, (*it)->cause)) hits.push_back(*it);
  }
  std::vector<Event> out;
  for (const auto& h : hits) {
    if (out.size() >= f.limit) break;
    Event e = unpack(*h);
    if (!whole || f.matches(e)) out.push_back(std::move(e));
  }
  return out;
}

std::optional<Event> EventStore::get(uint64_t id) const {
  std::shared_ptr<const Stored> hit;
  {
    std::lock_guard<std::mutex> lk(mu_);
    // Ids increase with insertion order, so a binary search finds it.
    auto it = std::lower_bound(events_.begin(), events_.end(), id,
                               [](const auto& s, uint64_t v) { return s->id < v; });
    if (it == events_.end() || (*it)->id != id) return std::nullopt;
    hit = *it;
  }
  return unpack(*hit);
}

std::vector<uint64_t> EventStore::ids_with_prefix(std::string_view digits, std::size_t max) const {
  std::vector<uint64_t> out;
  std::lock_guard<std::mutex> lk(mu_);
  for (const auto& s : events_) {
    if (out.size() >= max) break;
    if (std::to_string(s->id).starts_with(digits)) out.push_back(s->id);
  }
  return out;
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
  pool_ = std::make_shared<StringPool>();
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
