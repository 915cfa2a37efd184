// libFuzzer target over the API's pure request handling: routing, parameter validation, time parsing and
// error bodies (src/api/router.cpp, src/api/query.cpp). No sockets, no MHD.
//
// Input layout (text): first byte picks the caller's access level, then lines:
//   METHOD \n PATH \n key=value \n key=value ...
// The whole input is also fed to the time and duration parsers.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "api/query.h"
#include "api/router.h"

namespace {

using namespace enospcd::api;

constexpr uint64_t kNow = 1714564800ULL * 1'000'000'000ULL;
// 9999-12-31T23:59:59Z: the last second format_rfc3339 writes with four year digits.
constexpr uint64_t kYear9999 = 253402300799ULL * 1'000'000'000ULL;

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "invariant violated: %s\n", what);
    std::abort();
  }
}

void check_error_body(const Response& r) {
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  check(!j.is_discarded(), "response body is JSON");
  if (r.status >= 400) {
    check(j.is_object() && j.contains("error") && j["error"].is_string(), "error body has an error string");
    check(j["status"] == r.status, "error body repeats the status");
  }
}

void fuzz_times(std::string_view text) {
  if (auto t = parse_time_ns(text, kNow); t && *t <= kYear9999) {
    auto again = parse_time_ns(format_rfc3339(*t, 9), 0);
    check(again && *again == *t, "RFC 3339 round trip");
  }
  (void)parse_duration_ns(text);
  (void)parse_uint(text, 1, kMaxLimit);
  (void)parse_flag(text);
  (void)quote_for_message(text, 16);
}

// Stateless answers: every input sees the same backend, whatever the previous ones did (e.g. a reset).
class ConstBackend : public Backend {
 public:
  nlohmann::json status() override { return {{"mode", "gate-only"}}; }
  nlohmann::json events(const EventQuery& q) override {
    nlohmann::json e = {{"id", 1}, {"time_ns", kNow}, {"pid", q.pid.value_or(42)}, {"comm", q.comm.value_or("x")}};
    return {{"events", nlohmann::json::array({e})}};
  }
  std::optional<nlohmann::json> event(uint64_t id) override {
    if (id % 2) return nlohmann::json{{"id", id}};
    return std::nullopt;
  }
  nlohmann::json top(const EventQuery& q) override { return {{"top", nlohmann::json::array()}, {"limit", q.limit}}; }
  nlohmann::json diagnosis() override { return nlohmann::json::object(); }
  std::optional<nlohmann::json> doctor() override { return std::nullopt; }
  std::string metrics() override { return "enospcd_events_total 0"; }
  std::unique_ptr<Subscription> subscribe(const EventQuery&, std::function<void(const nlohmann::json&)>) override {
    return std::make_unique<Subscription>();
  }
  enospcd::Result<void> reset() override { return {}; }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  fuzz_times(in);
  if (in.empty()) return 0;

  Caller caller;
  caller.access = static_cast<Access>(static_cast<uint8_t>(in[0]) % 3);
  caller.uid = static_cast<uint8_t>(in[0]);
  caller.group = "enospc";
  in.remove_prefix(1);

  Request req;
  req.now_ns = kNow;
  size_t line = 0;
  while (!in.empty()) {
    size_t nl = in.find('\n');
    std::string_view part = in.substr(0, nl);
    in = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);
    if (line == 0) {
      req.method = part;
    } else if (line == 1) {
      req.path = part;
    } else {
      size_t eq = part.find('=');
      req.params.emplace_back(part.substr(0, eq), eq == std::string_view::npos ? "" : part.substr(eq + 1));
      fuzz_times(eq == std::string_view::npos ? part : part.substr(eq + 1));
    }
    ++line;
  }

  RouteResult rr = route(req);
  if (const auto* e = std::get_if<ApiError>(&rr)) {
    check(e->status == 400 || e->status == 404 || e->status == 405, "routing errors are 400/404/405");
    check((e->status == 405) == !e->allow.empty(), "405 and only 405 carries Allow");
    check_error_body(error_response(*e));
  } else {
    const Route& r = std::get<Route>(rr);
    check(r.query.limit >= 1 && r.query.limit <= kMaxLimit, "limit within bounds");
    check(!(r.follow && r.head), "HEAD never follows");
    check(!r.query.since_ns || !r.query.until_ns || *r.query.since_ns <= *r.query.until_ns, "since <= until");
  }

  static ConstBackend backend;
  Handled h = handle(req, caller, backend);
  if (!h.stream) {
    if (h.response.content_type == kJsonType) check_error_body(h.response);
    if (caller.access == Access::none) check(h.response.status == 403, "no access means 403");
  } else {
    check(caller.access != Access::none, "streams need access");
  }
  return 0;
}
