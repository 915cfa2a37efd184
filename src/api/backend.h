#pragma once
// The seam between the HTTP server and the daemon's storage/diagnosis. The server only ever talks to a
// Backend; the daemon implements it over its store, tests implement it with a fake.
//
// Threading: every method may be called concurrently from the server's worker threads, so implementations
// must be thread-safe. Methods may throw; the server turns exceptions into a 500 JSON error.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"

namespace enospcd::api {

// Filters of /v1/events, /v1/top and follow streams. Unset fields match everything. String filters are exact
// matches except `container`, which also matches a container name or an id prefix of at least 4 characters.
// /v1/top takes neither since nor until (the router refuses them).
struct EventQuery {
  std::optional<uint64_t> since_ns;  // wall-clock (CLOCK_REALTIME) ns, inclusive
  std::optional<uint64_t> until_ns;  // wall-clock ns, inclusive
  std::optional<uint32_t> pid;       // tgid
  std::optional<std::string> comm;
  std::optional<std::string> container;  // container id, id prefix or name
  std::optional<std::string> syscall;    // syscall name, e.g. "mount"
  std::optional<std::string> cause;      // cause id, e.g. "mount_max"
  size_t limit = 100;                    // 1..kMaxLimit

  bool operator==(const EventQuery&) const = default;
};

// A live follow registration. Destroying it unsubscribes; once the destructor has returned the backend must
// never call the callback again (so the destructor waits for a callback running on another thread).
class Subscription {
 public:
  virtual ~Subscription() = default;
};

class Backend {
 public:
  virtual ~Backend() = default;

  // GET /v1/status: daemon state, probe modes and why, counters. The server adds an "api" member.
  virtual nlohmann::json status() = 0;
  // GET /v1/events: {"events": [event, ...]} newest first, at most q.limit entries.
  virtual nlohmann::json events(const EventQuery& q) = 0;
  // The same events, newest first, handed to `emit` one at a time, so that a large answer is written out as
  // it is built rather than held twice (as a document and as text). The default goes through events().
  virtual void each_event(const EventQuery& q, const std::function<void(const nlohmann::json&)>& emit) {
    nlohmann::json answer = events(q);
    auto it = answer.find("events");
    if (it == answer.end() || !it->is_array()) return;
    for (const auto& e : *it) emit(e);
  }
  // GET /v1/events/{id}: one event with everything known about it (chain, stack, evidence), or nullopt.
  // Event JSON carries "id" as a string of decimal digits.
  virtual std::optional<nlohmann::json> event(uint64_t id) = 0;
  // GET /v1/events/{prefix}: the ids of stored events whose decimal spelling starts with `digits` (4 digits
  // or more), ascending, at most `max` of them. The default finds none, so only exact ids are looked up.
  virtual std::vector<uint64_t> event_ids_with_prefix(std::string_view digits, size_t max) {
    (void)digits;
    (void)max;
    return {};
  }
  // The cause ids the `cause` filter accepts (the daemon: every id its diagnosis produces). Empty: any
  // well-formed id.
  virtual std::vector<std::string> cause_ids() { return {}; }
  // GET /v1/top: {"top": [{"pid","comm","syscall","errno","count","suppressed","cgroup_id","container"}, ...]}
  // by count descending; q.since_ns and q.until_ns are never set (counts are totals, not time windows).
  virtual nlohmann::json top(const EventQuery& q) = 0;
  // GET /v1/diagnosis: the current causes with explanation and remedy.
  virtual nlohmann::json diagnosis() = 0;
  // GET /v1/doctor: host snapshot; nullopt when this daemon cannot produce one (answered with 503).
  virtual std::optional<nlohmann::json> doctor() = 0;
  // GET /metrics: Prometheus text exposition format 0.0.4 (the server appends its own enospcd_api_* series).
  virtual std::string metrics() = 0;
  // GET /v1/events?follow=1: call on_event for every new event matching q until the handle is destroyed.
  // on_event only queues and never blocks, so it is fine to call it from the event thread while holding the
  // subscriber lock; take that same lock in ~Subscription so that unsubscribing waits for a running call.
  virtual std::unique_ptr<Subscription> subscribe(const EventQuery& q,
                                                  std::function<void(const nlohmann::json&)> on_event) = 0;
  // POST /v1/reset (root only): forget the event history, the counters and the causes, in memory and on disk.
  virtual Result<void> reset() = 0;
};

}  // namespace enospcd::api
