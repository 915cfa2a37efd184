// The daemon's answer to the API: api::Backend over the tracer, the store, the diagnosis and the doctor.
#pragma once

#include <memory>
#include <string>

#include "api/backend.h"
#include "daemon/daemon.h"

namespace enospcd {

class DaemonBackend : public api::Backend {
 public:
  explicit DaemonBackend(Daemon& d) : d_(d) {}

  nlohmann::json status() override;
  nlohmann::json events(const api::EventQuery& q) override;
  void each_event(const api::EventQuery& q, const std::function<void(const nlohmann::json&)>& emit) override;
  std::optional<nlohmann::json> event(uint64_t id) override;
  std::vector<uint64_t> event_ids_with_prefix(std::string_view digits, size_t max) override;
  std::vector<std::string> cause_ids() override;
  nlohmann::json top(const api::EventQuery& q) override;
  nlohmann::json diagnosis() override;
  std::optional<nlohmann::json> doctor() override;
  std::string metrics() override;
  std::unique_ptr<api::Subscription> subscribe(const api::EventQuery& q,
                                               std::function<void(const nlohmann::json&)> on_event) override;
  Result<void> reset() override;

 private:
  Daemon& d_;
};

EventFilter to_filter(const api::EventQuery& q);

// Prometheus label value escaping (\, ", newline).
std::string prom_escape(const std::string& s);

}  // namespace enospcd
