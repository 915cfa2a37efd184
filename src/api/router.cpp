#include "api/router.h"

#include <algorithm>
#include <array>
#include <exception>

#include "api/query.h"
#include "common/names.h"

namespace enospcd::api {
namespace {

constexpr std::string_view kReadMethods = "GET, HEAD";
constexpr std::string_view kWriteMethods = "POST";

enum class Param : unsigned {
  since = 1u << 0,
  until = 1u << 1,
  pid = 1u << 2,
  comm = 1u << 3,
  container = 1u << 4,
  syscall = 1u << 5,
  cause = 1u << 6,
  limit = 1u << 7,
  follow = 1u << 8,
  pretty = 1u << 9,
};

struct ParamName {
  Param param;
  std::string_view name;
};
constexpr std::array<ParamName, 10> kParamNames{{
    {Param::since, "since"},
    {Param::until, "until"},
    {Param::pid, "pid"},
    {Param::comm, "comm"},
    {Param::container, "container"},
    {Param::syscall, "syscall"},
    {Param::cause, "cause"},
    {Param::limit, "limit"},
    {Param::follow, "follow"},
    {Param::pretty, "pretty"},
}};

constexpr unsigned bit(Param p) { return static_cast<unsigned>(p); }
constexpr unsigned kFilterParams = bit(Param::since) | bit(Param::until) | bit(Param::pid) | bit(Param::comm) |
                                   bit(Param::container) | bit(Param::syscall) | bit(Param::cause) |
                                   bit(Param::limit) | bit(Param::pretty);

struct EndpointSpec {
  Endpoint endpoint;
  std::string_view path;  // without the /v1 prefix for versioned endpoints
  bool versioned;
  bool write;          // POST instead of GET/HEAD
  bool ignore_params;  // /metrics and /healthz: scrapers may add parameters of their own
  unsigned params;
};

constexpr std::array<EndpointSpec, 9> kEndpoints{{
    {Endpoint::healthz, "/healthz", false, false, true, 0},
    {Endpoint::metrics, "/metrics", false, false, true, 0},
    {Endpoint::status, "/status", true, false, false, bit(Param::pretty)},
    {Endpoint::events, "/events", true, false, false, kFilterParams | bit(Param::follow)},
    {Endpoint::event, "/events/{id}", true, false, false, bit(Param::pretty)},
    // Top counts are totals since start or reset: no time window.
    {Endpoint::top, "/top", true, false, false, kFilterParams & ~(bit(Param::since) | bit(Param::until))},
    {Endpoint::diagnosis, "/diagnosis", true, false, false, bit(Param::pretty)},
    {Endpoint::doctor, "/doctor", true, false, false, bit(Param::pretty)},
    {Endpoint::reset, "/reset", true, true, false, bit(Param::pretty)},
}};

const EndpointSpec& spec_of(Endpoint e) {
  for (const auto& s : kEndpoints)
    if (s.endpoint == e) return s;
  return kEndpoints[0];
}

std::string display_path(const EndpointSpec& s) {
  return s.versioned ? "/" + std::string(kApiVersion) + std::string(s.path) : std::string(s.path);
}

std::string accepted_params(unsigned mask) {
  std::string out;
  for (const auto& p : kParamNames) {
    if (mask & bit(p.param)) {
      if (!out.empty()) out += ", ";
      out += p.name;
    }
  }
  return out.empty() ? "none" : out;
}

ApiError bad_param(std::string_view name, std::string_view why) {
  return ApiError{400, "invalid parameter '" + std::string(name) + "': " + std::string(why), {}};
}

bool all_chars(std::string_view s, std::string_view allowed_extra, bool lower_only) {
  return std::all_of(s.begin(), s.end(), [&](char c) {
    return (c >= 'a' && c <= 'z') || (!lower_only && c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           allowed_extra.find(c) != std::string_view::npos;
  });
}

std::optional<ApiError> check_text(std::string_view name, std::string_view value, size_t max_len) {
  if (value.empty()) return bad_param(name, "must not be empty");
  if (value.size() > max_len)
    return bad_param(name, "longer than " + std::to_string(max_len) + " bytes: " + quote_for_message(value));
  for (char c : value) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return bad_param(name, "contains a control character: " + quote_for_message(value));
  }
  return std::nullopt;
}

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) {
    if (!out.empty()) out += ", ";
    out += i;
  }
  return out;
}

// A name from the syscall table, or "syscall_<nr>" as events name syscalls the table does not know.
bool known_syscall(std::string_view name) {
  if (syscall_number(name)) return true;
  constexpr std::string_view kNumbered = "syscall_";
  if (!name.starts_with(kNumbered)) return false;
  return static_cast<bool>(parse_uint(name.substr(kNumbered.size()), 0, UINT32_MAX));
}

// Validates the parameters allowed by `spec` and fills `r`.
std::optional<ApiError> parse_params(const EndpointSpec& spec, const Request& req, const RouteOptions& options,
                                     Route* r) {
  unsigned seen = 0;
  for (const auto& [key, value] : req.params) {
    const ParamName* p = nullptr;
    for (const auto& candidate : kParamNames)
      if (candidate.name == key) p = &candidate;
    if (p != nullptr && spec.endpoint == Endpoint::top && (p->param == Param::since || p->param == Param::until))
      return ApiError{400,
                      "parameter '" + std::string(p->name) +
                          "' is not accepted by /v1/top: its counts are exact totals since the daemon started or "
                          "was last reset, not per time window (/v1/events?" +
                          std::string(p->name) + "=... lists the failures of a time window)",
                      {}};
    if (p == nullptr || !(spec.params & bit(p->param))) {
      return ApiError{400,
                      "unknown parameter " + quote_for_message(key) + " for " + display_path(spec) +
                          " (accepted: " + accepted_params(spec.params) + ")",
                      {}};
    }
    if (seen & bit(p->param))
      return ApiError{400, "parameter '" + std::string(p->name) + "' given more than once", {}};
    seen |= bit(p->param);

    EventQuery& q = r->query;
    switch (p->param) {
      case Param::since:
      case Param::until: {
        auto t = parse_time_ns(value, req.now_ns);
        if (!t) return bad_param(p->name, t.error().message);
        (p->param == Param::since ? q.since_ns : q.until_ns) = *t;
        break;
      }
      case Param::pid: {
        auto v = parse_uint(value, 1, UINT32_MAX);
        if (!v) return bad_param(p->name, "expected a process id (positive integer); got " + quote_for_message(value));
        q.pid = static_cast<uint32_t>(*v);
        break;
      }
      case Param::comm:
        // The kernel keeps TASK_COMM_LEN (16) bytes including the NUL: a longer name can never match.
        if (auto e = check_text(p->name, value, 15)) return e;
        q.comm = value;
        break;
      case Param::container:
        if (auto e = check_text(p->name, value, 256)) return e;
        q.container = value;
        break;
      case Param::syscall:
        if (auto e = check_text(p->name, value, 64)) return e;
        // ':' for io_uring requests, e.g. io_uring:write.
        if (!all_chars(value, "_:", true))
          return bad_param(p->name, "expected a syscall name such as mount or openat; got " + quote_for_message(value));
        if (!known_syscall(value))
          return bad_param(p->name, "unknown syscall " + quote_for_message(value) +
                                        " (known: " + joined(syscall_names()) + ")");
        q.syscall = value;
        break;
      case Param::cause:
        if (auto e = check_text(p->name, value, 64)) return e;
        if (!all_chars(value, "_-.", true))
          return bad_param(p->name, "expected a cause id such as mount_max; got " + quote_for_message(value));
        if (!options.cause_ids.empty() &&
            std::find(options.cause_ids.begin(), options.cause_ids.end(), value) == options.cause_ids.end())
          return bad_param(p->name, "unknown cause " + quote_for_message(value) + " (known: " +
                                        joined(options.cause_ids) + ")");
        q.cause = value;
        break;
      case Param::limit: {
        auto v = parse_uint(value, 1, kMaxLimit);
        if (!v) return bad_param(p->name, v.error().message);
        q.limit = static_cast<size_t>(*v);
        break;
      }
      case Param::follow: {
        auto v = parse_flag(value);
        if (!v) return bad_param(p->name, v.error().message);
        r->follow = *v;
        break;
      }
      case Param::pretty: {
        auto v = parse_flag(value);
        if (!v) return bad_param(p->name, v.error().message);
        r->pretty = *v;
        break;
      }
    }
  }
  if (r->query.since_ns && r->query.until_ns && *r->query.since_ns > *r->query.until_ns) {
    return ApiError{400,
                    "invalid parameter 'since': " + format_rfc3339(*r->query.since_ns, 3) +
                        " is after until=" + format_rfc3339(*r->query.until_ns, 3),
                    {}};
  }
  return std::nullopt;
}

std::string endpoint_list() {
  std::string out;
  for (const auto& s : kEndpoints) {
    if (!out.empty()) out += ", ";
    out += display_path(s);
  }
  return out;
}

ApiError not_found(std::string_view path) {
  return ApiError{404, "no such endpoint: " + quote_for_message(path, 128) + " (endpoints: " + endpoint_list() + ")", {}};
}

// "/v2/status" -> "v2"; nullopt when the path does not start with a version segment.
std::optional<std::string_view> version_segment(std::string_view path) {
  if (path.size() < 3 || path[0] != '/' || path[1] != 'v') return std::nullopt;
  size_t end = path.find('/', 1);
  std::string_view seg = path.substr(1, end == std::string_view::npos ? std::string_view::npos : end - 1);
  if (seg.size() < 2 || !std::all_of(seg.begin() + 1, seg.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  return seg;
}

}  // namespace

std::string_view endpoint_name(Endpoint e) {
  switch (e) {
    case Endpoint::healthz: return "healthz";
    case Endpoint::metrics: return "metrics";
    case Endpoint::status: return "status";
    case Endpoint::events: return "events";
    case Endpoint::event: return "event";
    case Endpoint::top: return "top";
    case Endpoint::diagnosis: return "diagnosis";
    case Endpoint::doctor: return "doctor";
    case Endpoint::reset: return "reset";
  }
  return "unknown";
}

bool is_state_changing(Endpoint e) { return spec_of(e).write; }

RouteResult route(const Request& req, const RouteOptions& options) {
  std::string_view path = req.path;
  if (path.size() > 1 && path.back() == '/') path.remove_suffix(1);

  const EndpointSpec* spec = nullptr;
  uint64_t event_id = 0;
  std::string event_ref;
  std::optional<ApiError> id_error;

  if (auto version = version_segment(path)) {
    if (*version != kApiVersion) {
      return ApiError{404,
                      "API version " + quote_for_message(*version) + " is not supported (supported versions: " +
                          std::string(kApiVersion) + ")",
                      {}};
    }
    std::string_view rest = path.substr(1 + version->size());
    for (const auto& s : kEndpoints) {
      if (s.versioned && s.endpoint != Endpoint::event && rest == s.path) spec = &s;
    }
    constexpr std::string_view kEventsPrefix = "/events/";
    if (spec == nullptr && rest.starts_with(kEventsPrefix)) {
      std::string_view id = rest.substr(kEventsPrefix.size());
      if (id.find('/') == std::string_view::npos) {
        spec = &spec_of(Endpoint::event);
        // Ids have at most 20 digits (UINT64_MAX); a longer string is neither an id nor a prefix of one.
        bool digits = !id.empty() && id.size() <= 20 &&
                      std::all_of(id.begin(), id.end(), [](char c) { return c >= '0' && c <= '9'; });
        auto v = digits ? parse_uint(id, 0, UINT64_MAX) : Result<uint64_t>(make_error("not digits"));
        // 20 digits beyond UINT64_MAX are neither an id nor a prefix of one.
        if (digits && (v || id.size() < 20)) {
          event_ref = std::string(id);
          if (v) event_id = *v;
        } else {
          id_error = ApiError{400,
                              "invalid event id " + quote_for_message(id) +
                                  ": expected the decimal id, or a prefix of it of at least " +
                                  std::to_string(kMinEventIdPrefix) + " digits",
                              {}};
        }
      }
    }
  } else {
    for (const auto& s : kEndpoints) {
      if (!s.versioned && path == s.path) spec = &s;
    }
  }
  if (spec == nullptr) return not_found(req.path);

  bool is_head = req.method == "HEAD";
  bool method_ok = spec->write ? req.method == "POST" : (req.method == "GET" || is_head);
  if (!method_ok) {
    std::string_view allow = spec->write ? kWriteMethods : kReadMethods;
    return ApiError{405,
                    "method " + quote_for_message(req.method, 16) + " is not allowed on " + display_path(*spec) +
                        " (allowed: " + std::string(allow) + ")",
                    std::string(allow)};
  }
  if (id_error) return *id_error;

  Route r;
  r.endpoint = spec->endpoint;
  r.event_id = event_id;
  r.event_ref = std::move(event_ref);
  r.head = is_head;
  if (!spec->ignore_params) {
    if (auto e = parse_params(*spec, req, options, &r)) return *e;
  }
  if (is_head) r.follow = false;
  return r;
}

std::optional<ApiError> authorize(const Route& r, const Caller& caller, std::string_view method) {
  if (caller.access == Access::none) {
    std::string msg = "permission denied: uid " + std::to_string(caller.uid) + " is not root";
    msg += caller.group.empty() ? " (only root may use this socket)"
                                : " and not a member of group '" + caller.group + "'";
    return ApiError{403, msg, {}};
  }
  if (is_state_changing(r.endpoint) && caller.access != Access::admin) {
    return ApiError{403,
                    "permission denied: " + std::string(method) + " " + display_path(spec_of(r.endpoint)) +
                        " changes state and is reserved to root (uid " + std::to_string(caller.uid) +
                        " may only read)",
                    {}};
  }
  return std::nullopt;
}

namespace {

// 2^53: the largest integer below which every integer is exact as a double (JavaScript, jq).
constexpr uint64_t kExactInDouble = uint64_t{1} << 53;

bool beyond_double(const nlohmann::json& j) {
  if (j.is_number_unsigned()) return j.get<uint64_t>() > kExactInDouble;
  if (j.is_number_integer()) {
    int64_t v = j.get<int64_t>();
    return v > static_cast<int64_t>(kExactInDouble) || v < -static_cast<int64_t>(kExactInDouble);
  }
  if (j.is_structured())
    for (const auto& child : j)
      if (beyond_double(child)) return true;
  return false;
}

void widen_to_strings(nlohmann::json& j) {
  if (j.is_number_integer()) {
    if (beyond_double(j)) j = j.dump();
    return;
  }
  if (j.is_structured())
    for (auto& child : j) widen_to_strings(child);
}

}  // namespace

std::string dump_json(const nlohmann::json& j, bool pretty) {
  if (beyond_double(j)) {
    // Integers a double cannot hold exactly (kernel.shmmax, 64-bit inode numbers in evidence) leave as strings
    // of digits, so no JSON reader rounds them.
    nlohmann::json copy = j;
    widen_to_strings(copy);
    return dump_json(copy, pretty);
  }
  std::string s = j.dump(pretty ? 2 : -1, ' ', false, nlohmann::json::error_handler_t::replace);
  s += '\n';
  return s;
}

Response error_response(const ApiError& e) {
  Response resp;
  resp.status = e.status;
  resp.content_type = std::string(kJsonType);
  resp.body = dump_json(nlohmann::json{{"error", e.message}, {"status", e.status}});
  if (!e.allow.empty()) resp.headers.emplace_back("Allow", e.allow);
  return resp;
}

Response error_response(int status, std::string_view message) {
  return error_response(ApiError{status, std::string(message), {}});
}

Response respond(const Route& r, Backend& backend, const Extras& extras) {
  auto json_ok = [&](const nlohmann::json& j) {
    Response resp;
    resp.content_type = std::string(kJsonType);
    resp.body = dump_json(j, r.pretty);
    return resp;
  };
  try {
    switch (r.endpoint) {
      case Endpoint::healthz:
        return json_ok(nlohmann::json{{"ok", true}});
      case Endpoint::metrics: {
        Response resp;
        resp.content_type = std::string(kPrometheusType);
        resp.body = backend.metrics();
        if (!resp.body.empty() && resp.body.back() != '\n') resp.body += '\n';
        if (extras.metrics) resp.body += extras.metrics();
        return resp;
      }
      case Endpoint::status: {
        nlohmann::json j = backend.status();
        if (extras.api_status && j.is_object() && !j.contains("api")) j["api"] = extras.api_status();
        return json_ok(j);
      }
      case Endpoint::events: {
        if (r.pretty) return json_ok(backend.events(r.query));
        // Written out one event at a time: the text a compact dump of {"events": [...]} would be, without the
        // whole answer held as a document (about ten times its text) beside it.
        Response resp;
        resp.content_type = std::string(kJsonType);
        resp.body = "{\"events\":[";
        bool first = true;
        backend.each_event(r.query, [&](const nlohmann::json& e) {
          if (!first) resp.body += ',';
          first = false;
          resp.body += dump_json(e, false);
          resp.body.pop_back();  // dump_json's newline
        });
        resp.body += "]}\n";
        return resp;
      }
      case Endpoint::event: {
        // The exact id first (any length), then the ids it is a prefix of.
        bool exact_fits = r.event_ref.size() == std::to_string(r.event_id).size();
        if (exact_fits) {
          if (auto e = backend.event(r.event_id)) return json_ok(*e);
        }
        if (r.event_ref.size() < kMinEventIdPrefix)
          return error_response(400, "event " + r.event_ref + " not found, and too short to look up as a prefix (give " +
                                         "the full id or at least " + std::to_string(kMinEventIdPrefix) + " digits)");
        constexpr size_t kShown = 5;
        auto ids = backend.event_ids_with_prefix(r.event_ref, kShown + 1);
        if (ids.size() > 1) {
          std::string list;
          for (size_t i = 0; i < ids.size() && i < kShown; i++) list += (i ? ", " : "") + std::to_string(ids[i]);
          return error_response(409, "event id prefix " + r.event_ref + " is ambiguous: " +
                                         (ids.size() > kShown ? "more than " + std::to_string(kShown)
                                                              : std::to_string(ids.size())) +
                                         " events match (" + list + (ids.size() > kShown ? ", ..." : "") +
                                         "); give more digits");
        }
        std::optional<nlohmann::json> e;
        if (ids.size() == 1) e = backend.event(ids[0]);
        if (!e)
          return error_response(404, "event " + r.event_ref + " not found (unknown id, or aged out of the history)");
        return json_ok(*e);
      }
      case Endpoint::top:
        return json_ok(backend.top(r.query));
      case Endpoint::diagnosis:
        return json_ok(backend.diagnosis());
      case Endpoint::doctor: {
        auto d = backend.doctor();
        if (!d) return error_response(503, "doctor is not available: this daemon cannot take a host snapshot");
        return json_ok(*d);
      }
      case Endpoint::reset: {
        auto res = backend.reset();
        if (!res) return error_response(500, "reset failed: " + res.error().message);
        return json_ok(nlohmann::json{{"ok", true}});
      }
    }
  } catch (const std::exception& ex) {
    return error_response(500, "internal error answering " + std::string(endpoint_name(r.endpoint)) + ": " + ex.what());
  }
  return error_response(500, "internal error: unhandled endpoint");
}

bool is_large(const Route& r) {
  constexpr size_t kLargePage = 1000;
  switch (r.endpoint) {
    case Endpoint::events:
      return !r.follow && r.query.limit > kLargePage;
    case Endpoint::doctor:
    case Endpoint::diagnosis:
      return true;
    default:
      return false;
  }
}

Handled handle(const Request& req, const Caller& caller, Backend& backend, const Extras& extras, bool defer_large) {
  Handled out;
  RouteOptions options;
  try {
    options.cause_ids = backend.cause_ids();
  } catch (const std::exception&) {
    options.cause_ids.clear();  // the filter then takes any well-formed id
  }
  RouteResult rr = route(req, options);
  if (auto* e = std::get_if<ApiError>(&rr)) {
    // Peers without any access learn nothing about the API beyond the refusal.
    std::optional<ApiError> refusal;
    if (caller.access == Access::none) refusal = authorize(Route{}, caller, req.method);
    out.response = error_response(refusal ? *refusal : *e);
    return out;
  }
  const Route& r = std::get<Route>(rr);
  if (auto denied = authorize(r, caller, req.method)) {
    out.response = error_response(*denied);
    return out;
  }
  if (r.follow) {
    out.stream = r;
    return out;
  }
  if (defer_large && is_large(r)) {
    out.deferred = r;
    return out;
  }
  out.response = respond(r, backend, extras);
  return out;
}

}  // namespace enospcd::api
