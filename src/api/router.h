#pragma once
// Routing, parameter validation and response building, as pure functions over plain data so they can be
// unit-tested and fuzzed without sockets. The server (server.cpp) only moves bytes between these and MHD.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "api/backend.h"

namespace enospcd::api {

inline constexpr std::string_view kApiVersion = "v1";
inline constexpr std::string_view kJsonType = "application/json";
inline constexpr std::string_view kNdjsonType = "application/x-ndjson";
inline constexpr std::string_view kPrometheusType = "text/plain; version=0.0.4; charset=utf-8";

// Query parameters in arrival order, already percent-decoded; a key without '=' has an empty value.
using Params = std::vector<std::pair<std::string, std::string>>;

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string path;    // percent-decoded path without the query string
  Params params;
  uint64_t now_ns = 0;  // wall clock, for relative times such as since=5m
};

enum class Endpoint { healthz, metrics, status, events, event, top, diagnosis, doctor, reset };

std::string_view endpoint_name(Endpoint e);
// Endpoints that change state are for root only.
bool is_state_changing(Endpoint e);

struct Route {
  Endpoint endpoint = Endpoint::healthz;
  EventQuery query;       // events, top
  std::string event_ref;  // event: the id or an id prefix, decimal digits
  uint64_t event_id = 0;  // event: event_ref as a number, when it fits in 64 bits
  bool follow = false;    // events?follow=1 (never set for HEAD)
  bool pretty = false;    // ?pretty=1: indented JSON
  bool head = false;      // HEAD: headers only

  bool operator==(const Route&) const = default;
};

struct ApiError {
  int status = 500;
  std::string message;
  std::string allow;  // the Allow header of a 405
};

using RouteResult = std::variant<Route, ApiError>;

// Event ids are looked up exactly, or by a prefix of at least this many digits.
inline constexpr size_t kMinEventIdPrefix = 4;

// What the filters accept beyond their syntax. Syscall names are always checked against the syscall table.
struct RouteOptions {
  std::vector<std::string> cause_ids;  // empty: any well-formed cause id
};

// Maps method + path + parameters to an endpoint with validated parameters, or to the HTTP error to answer:
// 404 unknown path or API version, 405 wrong method, 400 bad parameter (the message names it, and for an
// unknown syscall or cause the known ones).
RouteResult route(const Request& req, const RouteOptions& options = {});

// What the peer on the other end of the socket may do.
enum class Access { none, read, admin };

struct Caller {
  Access access = Access::none;
  uint32_t uid = 0;
  std::string group;  // group granting read access, empty when only root may connect
};

// 403 when the caller may not use this route, else nullopt.
std::optional<ApiError> authorize(const Route& r, const Caller& caller, std::string_view method);

struct Response {
  int status = 200;
  std::string content_type;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

// {"error": message, "status": status} with the right content type (and Allow header for a 405).
Response error_response(const ApiError& e);
Response error_response(int status, std::string_view message);

// JSON serialisation that never throws on invalid UTF-8 (it substitutes U+FFFD). Integers beyond 2^53 in
// magnitude are written as strings of decimal digits: no JSON reader holding numbers as doubles rounds them.
std::string dump_json(const nlohmann::json& j, bool pretty = false);

// What the server adds to the backend's answers: an "api" member in /v1/status and its own series in /metrics.
struct Extras {
  std::function<nlohmann::json()> api_status;
  std::function<std::string()> metrics;
};

// Answers a non-follow route from the backend. Backend exceptions become a 500.
Response respond(const Route& r, Backend& backend, const Extras& extras = {});

// Answers that take long to build: many events (the default page is 100, a page of 10 000 is ~13 MB of JSON
// and ~0.4 s), the doctor's scan of every process, a diagnosis of the host.
bool is_large(const Route& r);

// The whole pipeline for one request minus streaming: route, authorize, respond. When the request is a
// follow stream that the caller must serve, `stream` holds the route and `response` is unused. With
// `defer_large`, a large answer is not built: `deferred` holds its authorized route for the caller to answer
// (respond()) where it does not hold up small questions.
struct Handled {
  Response response;
  std::optional<Route> stream;
  std::optional<Route> deferred;
};
Handled handle(const Request& req, const Caller& caller, Backend& backend, const Extras& extras = {},
               bool defer_large = false);

}  // namespace enospcd::api
