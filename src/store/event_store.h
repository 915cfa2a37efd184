// Bounded in-memory history of recent events, with id assignment and live subscribers.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/event.h"
#include "store/packed.h"

namespace enospcd {

struct EventFilter {
  std::optional<uint64_t> since_ns, until_ns;  // wall clock
  std::optional<uint32_t> pid;
  std::optional<std::string> comm, container, syscall, cause;
  std::size_t limit = 100;

  bool matches(const Event& e) const;
  // What can be told without the whole event: its time, pid and cause id (nullopt: no cause).
  bool may_match(uint64_t time_ns, uint32_t pid, std::optional<CauseId> cause) const;
};

// Ids are unique and increase across daemon restarts: microseconds of wall-clock time shifted left by 12
// bits, plus a sequence for events within the same microsecond; never below the last id handed out (which
// a restarted daemon restores from its journal).
class IdAllocator {
 public:
  uint64_t next(uint64_t time_ns);
  void observe(uint64_t id);  // an id that exists already (restored)
  uint64_t last() const { return last_; }

 private:
  uint64_t last_ = 0;
};

// Events are kept packed (store/packed.h): a few hundred bytes each, with the text that repeats kept once.
// What leaves the store is the whole event again.
class EventStore {
 public:
  using Subscriber = std::function<void(const Event&)>;

  explicit EventStore(std::size_t capacity) : capacity_(capacity ? capacity : 1) {}

  // Assigns an id when e.id is 0, stores (evicting the oldest beyond capacity), notifies subscribers.
  uint64_t add(Event e);
  std::vector<Event> query(const EventFilter& f) const;  // newest first
  std::optional<Event> get(uint64_t id) const;
  // Ids of stored events whose decimal spelling starts with `digits`, ascending, at most `max` of them.
  std::vector<uint64_t> ids_with_prefix(std::string_view digits, std::size_t max) const;
  std::size_t size() const;
  uint64_t total_added() const;
  uint64_t evicted() const;
  // Forgets every event (ids keep increasing: an id is never handed out twice).
  void clear();

  uint64_t subscribe(Subscriber s);
  void unsubscribe(uint64_t token);

 private:
  mutable std::mutex mu_;
  std::size_t capacity_;
  struct Stored {
    uint64_t id = 0, time_ns = 0;
    uint32_t pid = 0;
    std::optional<CauseId> cause;
    std::shared_ptr<const StringPool> pool;
    std::string bytes;
  };
  static Event unpack(const Stored& s);
  std::shared_ptr<StringPool> pool_ = std::make_shared<StringPool>();
  // Shared so that a query holds the lock only to pick its events: unpacking and copying them (tens of ms for
  // 10 000) happens after, while the tracing thread goes on adding and other queries go on reading.
  std::deque<std::shared_ptr<const Stored>> events_;
  IdAllocator ids_;
  uint64_t total_ = 0, evicted_ = 0;
  std::mutex sub_mu_;
  std::map<uint64_t, Subscriber> subs_;
  uint64_t next_token_ = 1;
};

}  // namespace enospcd
