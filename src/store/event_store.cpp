#include "store/event_store.h"

#include <algorithm>

namespace enospcd {

bool container_matches(const nlohmann::json& container, const std::string& wanted) {
  if (!container.is_object()) return false;
  const std::string id = container.value("id", "");
  // Full id, an id prefix of at least kMinContainerPrefix characters, or the name.
  bool id_match = !wanted.empty() && (id == wanted || (wanted.size() >= kMinContainerPrefix && id.starts_with(wanted)));
  if (id_match || wanted.empty()) return id_match;
  const std::string name = container.value("name", ""), pod = container.value("pod", "");
  if (name == wanted) return true;
  // Kubernetes: the pod's UID, or namespace/pod and namespace/pod/container as the metrics and enospcctl show them.
  if (container.value("pod_uid", "") == wanted) return true;
  if (pod.empty()) return false;
  const std::string ns_pod = container.value("namespace", "") + "/" + pod;
  return wanted == ns_pod || (!name.empty() && wanted == ns_pod + "/" + name);
}

std::string EventFilter::cause_id_of(const Event& e) {
  return e.cause.is_object() ? e.cause.value("id", "") : "";
}

bool EventFilter::matches(const Event& e, const std::string& cause_id) const {
  if (since_ns && e.time_ns < *since_ns) return false;
  if (until_ns && e.time_ns > *until_ns) return false;
  if (pid && e.pid != *pid) return false;
  if (comm && e.comm != *comm) return false;
  if (syscall && e.syscall != *syscall) return false;
  if (container && !container_matches(e.container, *container)) return false;
  if (cause && cause_id != *cause) return false;
  return true;
}

uint64_t IdAllocator::next(uint64_t time_ns) {
  uint64_t candidate = (time_ns / 1000) << 12;
  last_ = std::max(candidate, last_ + 1);
  return last_;
}

void IdAllocator::observe(uint64_t id) { last_ = std::max(last_, id); }

EventStore::Stored EventStore::pack(Event e) {
  Stored s;
  s.cause_id = EventFilter::cause_id_of(e);
  if (!e.cause.is_null()) s.cause = nlohmann::json::to_cbor(e.cause);
  e.cause = nullptr;
  s.event = std::move(e);
  return s;
}

Event EventStore::unpack(const Stored& s) {
  Event e = s.event;
  if (!s.cause.empty()) {
    auto cause = nlohmann::json::from_cbor(s.cause, true, false);
    if (!cause.is_discarded()) e.cause = std::move(cause);
  }
  return e;
}

uint64_t EventStore::add(Event e) {
  uint64_t id;
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (e.id == 0)
      e.id = ids_.next(e.time_ns);
    else
      ids_.observe(e.id);
    id = e.id;
    events_.push_back(std::make_shared<const Stored>(pack(e)));
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
  std::vector<std::shared_ptr<const Stored>> hits;
  {
    std::lock_guard<std::mutex> lk(mu_);
    for (auto it = events_.rbegin(); it != events_.rend() && hits.size() < f.limit; ++it)
      if (f.matches((*it)->event, (*it)->cause_id)) hits.push_back(*it);
  }
  std::vector<Event> out;
  out.reserve(hits.size());
  for (const auto& h : hits) out.push_back(unpack(*h));
  return out;
}

std::optional<Event> EventStore::get(uint64_t id) const {
  std::shared_ptr<const Stored> hit;
  {
    std::lock_guard<std::mutex> lk(mu_);
    // Ids increase with insertion order, so a binary search finds it.
    auto it = std::lower_bound(events_.begin(), events_.end(), id,
                               [](const auto& s, uint64_t v) { return s->event.id < v; });
    if (it == events_.end() || (*it)->event.id != id) return std::nullopt;
    hit = *it;
  }
  return unpack(*hit);
}

std::vector<uint64_t> EventStore::ids_with_prefix(std::string_view digits, std::size_t max) const {
  std::vector<uint64_t> out;
  std::lock_guard<std::mutex> lk(mu_);
  for (const auto& s : events_) {
    if (out.size() >= max) break;
    if (std::to_string(s->event.id).starts_with(digits)) out.push_back(s->event.id);
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
