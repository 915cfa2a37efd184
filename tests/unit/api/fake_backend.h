#pragma once
// An in-memory Backend for API tests: events are pushed by the test and filtered like the daemon would.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/backend.h"
#include "api/query.h"

namespace enospcd::api::testing {

// A member written as the daemon writes 64-bit values (a string of digits), or as a number.
inline uint64_t u64_of(const nlohmann::json& e, const char* key) {
  auto it = e.find(key);
  if (it == e.end()) return 0;
  if (it->is_number_unsigned()) return it->get<uint64_t>();
  if (it->is_string()) return std::stoull(it->get<std::string>());
  return 0;
}

// An event as the daemon answers it: id and time_ns are strings of decimal digits.
inline nlohmann::json make_event(uint64_t id, uint64_t time_ns, uint32_t pid, std::string comm,
                                 std::string syscall = "mount", std::string cause = "mount_max",
                                 nlohmann::json container = nullptr) {
  nlohmann::json e;
  e["id"] = std::to_string(id);
  e["time"] = format_rfc3339(time_ns, 9);
  e["time_ns"] = std::to_string(time_ns);
  e["pid"] = pid;
  e["tid"] = pid;
  e["comm"] = std::move(comm);
  e["uid"] = 0;
  e["syscall"] = std::move(syscall);
  e["errno"] = "ENOSPC";
  e["ret"] = -28;
  e["path"] = "/var/lib/containers/overlay/merged";
  e["cgroup_id"] = 4242;
  e["mntns"] = 4026532000ULL;
  e["container"] = std::move(container);
  if (cause.empty()) {
    e["cause"] = nullptr;
  } else {
    e["cause"] = {{"id", cause},
                  {"summary", "mount namespace has 100000 mounts, fs.mount-max is 100000"},
                  {"remedy", "unmount leaked mounts or raise fs.mount-max"}};
  }
  return e;
}

class FakeBackend : public Backend {
 public:
  // Knobs: set them directly before the server starts, through edit() while it runs.
  nlohmann::json status_doc = {{"mode", "gate-only"},
                               {"probes", nlohmann::json::array({{{"function", "count_mounts"},
                                                                  {"mode", "unavailable"},
                                                                  {"reason", "fexit blocked"}}})}};
  std::optional<nlohmann::json> doctor_doc;
  nlohmann::json diagnosis_doc = {{"causes", nlohmann::json::array()}};
  std::string metrics_text = "# HELP enospcd_events_total Events.\n# TYPE enospcd_events_total counter\nenospcd_events_total 0\n";
  std::optional<std::string> reset_error;
  bool throw_on_status = false;

  std::atomic<int> reset_calls{0};

  // Changes knobs under the lock the server's threads read them with.
  template <class F>
  void edit(F f) {
    std::lock_guard lk(mu_);
    f();
  }

  nlohmann::json status() override {
    std::lock_guard lk(mu_);
    if (throw_on_status) throw std::runtime_error("store unavailable");
    return status_doc;
  }

  nlohmann::json events(const EventQuery& q) override {
    std::lock_guard lk(mu_);
    last_query_ = q;
    nlohmann::json out = nlohmann::json::array();
    for (auto it = events_.rbegin(); it != events_.rend() && out.size() < q.limit; ++it)
      if (matches(q, *it)) out.push_back(*it);
    return {{"events", out}};
  }

  std::optional<nlohmann::json> event(uint64_t id) override {
    std::lock_guard lk(mu_);
    for (const auto& e : events_)
      if (u64_of(e, "id") == id) return e;
    return std::nullopt;
  }

  std::vector<uint64_t> event_ids_with_prefix(std::string_view digits, size_t max) override {
    std::lock_guard lk(mu_);
    std::vector<uint64_t> out;
    for (const auto& e : events_) {
      uint64_t id = u64_of(e, "id");
      if (out.size() < max && std::to_string(id).starts_with(digits)) out.push_back(id);
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  // Cause ids the fake accepts in filters; empty accepts any.
  std::vector<std::string> known_causes = {"mount_max", "tmpfs_inodes", "fs_blocks", "unknown"};
  std::vector<std::string> cause_ids() override {
    std::lock_guard lk(mu_);
    return known_causes;
  }

  nlohmann::json top(const EventQuery& q) override {
    std::lock_guard lk(mu_);
    last_query_ = q;
    std::map<std::tuple<uint32_t, std::string, std::string>, uint64_t> counts;
    for (const auto& e : events_)
      if (matches(q, e)) counts[{e["pid"].get<uint32_t>(), e["comm"].get<std::string>(), e["syscall"].get<std::string>()}]++;
    std::vector<std::pair<uint64_t, nlohmann::json>> rows;
    for (const auto& [k, n] : counts)
      rows.push_back({n, {{"pid", std::get<0>(k)}, {"comm", std::get<1>(k)}, {"syscall", std::get<2>(k)},
                          {"errno", "ENOSPC"}, {"count", n}, {"container", nullptr}}});
    std::stable_sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    nlohmann::json out = nlohmann::json::array();
    for (auto& r : rows)
      if (out.size() < q.limit) out.push_back(r.second);
    return {{"top", out}};
  }

  nlohmann::json diagnosis() override {
    std::lock_guard lk(mu_);
    return diagnosis_doc;
  }
  std::atomic<int> doctor_calls{0};

  std::optional<nlohmann::json> doctor() override {
    doctor_calls++;
    {
      // A doctor's scan that takes as long as the test wants: it waits, outside the knobs' lock, until let go.
      std::unique_lock lk(hold_mu_);
      doctors_running_++;
      hold_cv_.notify_all();
      hold_cv_.wait(lk, [&] { return !doctor_held_; });
      doctors_running_--;
    }
    std::lock_guard lk(mu_);
    return doctor_doc;
  }

  void hold_doctor() {
    std::lock_guard lk(hold_mu_);
    doctor_held_ = true;
  }
  void release_doctor() {
    std::lock_guard lk(hold_mu_);
    doctor_held_ = false;
    hold_cv_.notify_all();
  }
  // Holds doctor() calls until the guard goes (a test that fails half-way must not leave a scan held).
  struct DoctorHold {
    FakeBackend& backend;
    explicit DoctorHold(FakeBackend& b) : backend(b) {}
    DoctorHold(const DoctorHold&) = delete;
    DoctorHold& operator=(const DoctorHold&) = delete;
    ~DoctorHold() { backend.release_doctor(); }
  };
  [[nodiscard]] DoctorHold hold_doctor_until_scope_ends() {
    hold_doctor();
    return DoctorHold{*this};
  }
  // Waits until n doctor() calls are running (held); false after 10 s.
  bool doctors_running(int n) {
    std::unique_lock lk(hold_mu_);
    return hold_cv_.wait_for(lk, std::chrono::seconds(10), [&] { return doctors_running_ == n; });
  }
  std::string metrics() override {
    std::lock_guard lk(mu_);
    return metrics_text;
  }

  std::unique_ptr<Subscription> subscribe(const EventQuery& q,
                                          std::function<void(const nlohmann::json&)> on_event) override {
    std::lock_guard lk(mu_);
    uint64_t id = next_sub_++;
    subs_[id] = Sub{q, std::move(on_event)};
    return std::make_unique<FakeSubscription>(this, id);
  }

  Result<void> reset() override {
    reset_calls++;
    std::lock_guard lk(mu_);
    if (reset_error) return make_error(*reset_error);
    events_.clear();
    return {};
  }

  // Records the event and hands it to every matching subscriber, in push order.
  void push(const nlohmann::json& e) {
    std::lock_guard lk(mu_);
    events_.push_back(e);
    for (auto& [id, s] : subs_)
      if (matches(s.query, e)) s.on_event(e);
  }

  // Subscribers see the event; the history does not keep it (cheap for flood tests).
  void publish(const nlohmann::json& e) {
    std::lock_guard lk(mu_);
    for (auto& [id, s] : subs_)
      if (matches(s.query, e)) s.on_event(e);
  }

  size_t subscribers() {
    std::lock_guard lk(mu_);
    return subs_.size();
  }

  EventQuery last_query() {
    std::lock_guard lk(mu_);
    return last_query_;
  }

  static bool matches(const EventQuery& q, const nlohmann::json& e) {
    uint64_t t = u64_of(e, "time_ns");
    if (q.since_ns && t < *q.since_ns) return false;
    if (q.until_ns && t > *q.until_ns) return false;
    if (q.pid && e.value("pid", uint32_t{0}) != *q.pid) return false;
    if (q.comm && e.value("comm", std::string()) != *q.comm) return false;
    if (q.syscall && e.value("syscall", std::string()) != *q.syscall) return false;
    if (q.cause) {
      const auto& c = e["cause"];
      if (!c.is_object() || c.value("id", std::string()) != *q.cause) return false;
    }
    if (q.container) {
      const auto& c = e["container"];
      if (!c.is_object()) return false;
      if (c.value("name", std::string()) != *q.container && !c.value("id", std::string()).starts_with(*q.container))
        return false;
    }
    return true;
  }

 private:
  std::mutex hold_mu_;
  std::condition_variable hold_cv_;
  bool doctor_held_ = false;
  int doctors_running_ = 0;

  struct Sub {
    EventQuery query;
    std::function<void(const nlohmann::json&)> on_event;
  };

  class FakeSubscription : public Subscription {
   public:
    FakeSubscription(FakeBackend* b, uint64_t id) : b_(b), id_(id) {}
    ~FakeSubscription() override {
      std::lock_guard lk(b_->mu_);
      b_->subs_.erase(id_);
    }

   private:
    FakeBackend* b_;
    uint64_t id_;
  };

  std::mutex mu_;
  std::vector<nlohmann::json> events_;
  std::map<uint64_t, Sub> subs_;
  uint64_t next_sub_ = 1;
  EventQuery last_query_;
};

}  // namespace enospcd::api::testing
