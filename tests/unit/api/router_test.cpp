#include "api/router.h"

#include <gtest/gtest.h>

#include "support/has_value.h"
#include "unit/api/fake_backend.h"

namespace enospcd::api {
namespace {

using nlohmann::json;
using testing::FakeBackend;
using testing::make_event;

constexpr uint64_t kSec = 1'000'000'000ULL;
constexpr uint64_t kNow = 1714564800ULL * kSec;

Request get(std::string path, Params params = {}) { return Request{"GET", std::move(path), std::move(params), kNow}; }

Route ok_route(const Request& req) {
  RouteResult r = route(req);
  if (auto* e = std::get_if<ApiError>(&r)) {
    ADD_FAILURE() << req.method << " " << req.path << " -> " << e->status << " " << e->message;
    return Route{};
  }
  return std::get<Route>(r);
}

ApiError err_route(const Request& req) {
  RouteResult r = route(req);
  if (std::holds_alternative<Route>(r)) {
    ADD_FAILURE() << req.method << " " << req.path << " unexpectedly routed";
    return ApiError{};
  }
  return std::get<ApiError>(r);
}

TEST(ApiRoute, EveryEndpoint) {
  EXPECT_EQ(ok_route(get("/healthz")).endpoint, Endpoint::healthz);
  EXPECT_EQ(ok_route(get("/metrics")).endpoint, Endpoint::metrics);
  EXPECT_EQ(ok_route(get("/v1/status")).endpoint, Endpoint::status);
  EXPECT_EQ(ok_route(get("/v1/events")).endpoint, Endpoint::events);
  EXPECT_EQ(ok_route(get("/v1/top")).endpoint, Endpoint::top);
  EXPECT_EQ(ok_route(get("/v1/diagnosis")).endpoint, Endpoint::diagnosis);
  EXPECT_EQ(ok_route(get("/v1/doctor")).endpoint, Endpoint::doctor);
  EXPECT_EQ(ok_route(Request{"POST", "/v1/reset", {}, kNow}).endpoint, Endpoint::reset);
  Route ev = ok_route(get("/v1/events/42"));
  EXPECT_EQ(ev.endpoint, Endpoint::event);
  EXPECT_EQ(ev.event_id, 42u);
  EXPECT_EQ(ok_route(get("/v1/events/18446744073709551615")).event_id, UINT64_MAX);
}

// Large answers are built off the worker threads: pages over 1000 events, the doctor, the diagnosis; never
// a follow stream (its backlog is bounded by the stream) nor the small questions.
TEST(ApiRoute, LargeAnswers) {
  EXPECT_TRUE(is_large(ok_route(get("/v1/events", {{"limit", "10000"}}))));
  EXPECT_TRUE(is_large(ok_route(get("/v1/events", {{"limit", "1001"}}))));
  EXPECT_FALSE(is_large(ok_route(get("/v1/events", {{"limit", "1000"}}))));
  EXPECT_FALSE(is_large(ok_route(get("/v1/events"))));
  EXPECT_FALSE(is_large(ok_route(get("/v1/events", {{"limit", "10000"}, {"follow", "1"}}))));
  EXPECT_TRUE(is_large(ok_route(get("/v1/doctor"))));
  EXPECT_TRUE(is_large(ok_route(get("/v1/diagnosis"))));
  for (const char* small : {"/healthz", "/metrics", "/v1/status", "/v1/top", "/v1/events/42"})
    EXPECT_FALSE(is_large(ok_route(get(small)))) << small;
}

TEST(ApiRoute, TrailingSlashIsTolerated) {
  EXPECT_EQ(ok_route(get("/v1/status/")).endpoint, Endpoint::status);
  EXPECT_EQ(ok_route(get("/v1/events/")).endpoint, Endpoint::events);
  EXPECT_EQ(ok_route(get("/v1/events/7/")).event_id, 7u);
}

TEST(ApiRoute, UnknownPathsAre404) {
  for (const char* p : {"/", "", "/v1", "/v1/", "/v1/nope", "/status", "/v1/events/1/chain", "/v1//status",
                        "/v1/status/extra", "/healthz/x", "/v", "/vx/status", "/V1/status"}) {
    ApiError e = err_route(get(p));
    EXPECT_EQ(e.status, 404) << p;
    EXPECT_NE(e.message.find("no such endpoint"), std::string::npos) << p << ": " << e.message;
    EXPECT_NE(e.message.find("/v1/events"), std::string::npos) << "lists endpoints: " << e.message;
  }
}

TEST(ApiRoute, UnknownVersionNamesSupportedOnes) {
  for (const char* p : {"/v2/status", "/v0/events", "/v10", "/v11/events/1"}) {
    ApiError e = err_route(get(p));
    EXPECT_EQ(e.status, 404) << p;
    EXPECT_NE(e.message.find("is not supported"), std::string::npos) << e.message;
    EXPECT_NE(e.message.find("supported versions: v1"), std::string::npos) << e.message;
  }
}

TEST(ApiRoute, WrongMethodIs405WithAllow) {
  for (const char* m : {"POST", "PUT", "DELETE", "PATCH", "OPTIONS", "BREW"}) {
    ApiError e = err_route(Request{m, "/v1/status", {}, kNow});
    EXPECT_EQ(e.status, 405) << m;
    EXPECT_EQ(e.allow, "GET, HEAD");
    EXPECT_NE(e.message.find(m), std::string::npos);
  }
  for (const char* m : {"GET", "HEAD", "PUT"}) {
    ApiError e = err_route(Request{m, "/v1/reset", {}, kNow});
    EXPECT_EQ(e.status, 405) << m;
    EXPECT_EQ(e.allow, "POST");
  }
  // Method is checked before the id.
  EXPECT_EQ(err_route(Request{"DELETE", "/v1/events/abc", {}, kNow}).status, 405);
}

TEST(ApiRoute, HeadIsGetWithoutBodyAndNeverFollows) {
  Route r = ok_route(Request{"HEAD", "/v1/events", {{"follow", "1"}}, kNow});
  EXPECT_TRUE(r.head);
  EXPECT_FALSE(r.follow);
}

TEST(ApiRoute, BadEventIdIs400) {
  for (const char* p : {"/v1/events/abc", "/v1/events/-1", "/v1/events/1.5", "/v1/events/18446744073709551616",
                        "/v1/events/0x10"}) {
    ApiError e = err_route(get(p));
    EXPECT_EQ(e.status, 400) << p;
    EXPECT_NE(e.message.find("invalid event id"), std::string::npos) << e.message;
  }
}

TEST(ApiRoute, EventFilters) {
  Route r = ok_route(get("/v1/events", {{"since", "5m"},
                                        {"until", "2024-05-01T12:00:00Z"},
                                        {"pid", "1234"},
                                        {"comm", "runc:[2:INIT]"},
                                        {"container", "web-1"},
                                        {"syscall", "mount"},
                                        {"cause", "mount_max"},
                                        {"limit", "10000"}}));
  EXPECT_EQ(r.query.since_ns, kNow - 300 * kSec);
  EXPECT_EQ(r.query.until_ns, kNow);
  EXPECT_EQ(r.query.pid, 1234u);
  EXPECT_EQ(r.query.comm, "runc:[2:INIT]");
  EXPECT_EQ(r.query.container, "web-1");
  EXPECT_EQ(r.query.syscall, "mount");
  EXPECT_EQ(r.query.cause, "mount_max");
  EXPECT_EQ(r.query.limit, 10000u);
  EXPECT_FALSE(r.follow);

  EXPECT_EQ(ok_route(get("/v1/events")).query, EventQuery{});
  EXPECT_EQ(ok_route(get("/v1/events")).query.limit, 100u);
  EXPECT_TRUE(ok_route(get("/v1/events", {{"follow", ""}})).follow);
  EXPECT_TRUE(ok_route(get("/v1/events", {{"follow", "true"}})).follow);
  EXPECT_FALSE(ok_route(get("/v1/events", {{"follow", "0"}})).follow);
  EXPECT_TRUE(ok_route(get("/v1/status", {{"pretty", "1"}})).pretty);
  EXPECT_EQ(ok_route(get("/v1/top", {{"limit", "5"}, {"pid", "7"}})).query.limit, 5u);
}

struct BadParam {
  const char* path;
  const char* key;
  const char* value;
  const char* expect;  // fragment of the message
};

TEST(ApiRoute, EveryBadParameterIs400NamingIt) {
  const BadParam cases[] = {
      {"/v1/events", "since", "yesterday", "invalid parameter 'since'"},
      {"/v1/events", "since", "", "invalid parameter 'since'"},
      {"/v1/events", "until", "2024-02-30T00:00:00Z", "invalid parameter 'until'"},
      {"/v1/events", "pid", "0", "invalid parameter 'pid'"},
      {"/v1/events", "pid", "-1", "invalid parameter 'pid'"},
      {"/v1/events", "pid", "4294967296", "invalid parameter 'pid'"},
      {"/v1/events", "pid", "12ab", "invalid parameter 'pid'"},
      {"/v1/events", "comm", "", "invalid parameter 'comm'"},
      {"/v1/events", "comm", "a-very-long-command-name", "invalid parameter 'comm'"},
      {"/v1/events", "comm", "bad\x01", "invalid parameter 'comm'"},
      {"/v1/events", "container", "", "invalid parameter 'container'"},
      {"/v1/events", "syscall", "Mount", "invalid parameter 'syscall'"},
      {"/v1/events", "syscall", "mount;rm", "invalid parameter 'syscall'"},
      {"/v1/events", "cause", "Mount Max", "invalid parameter 'cause'"},
      {"/v1/events", "limit", "0", "invalid parameter 'limit'"},
      {"/v1/events", "limit", "10001", "invalid parameter 'limit'"},
      {"/v1/events", "limit", "ten", "invalid parameter 'limit'"},
      {"/v1/events", "follow", "maybe", "invalid parameter 'follow'"},
      {"/v1/events", "pretty", "2", "invalid parameter 'pretty'"},
      {"/v1/top", "limit", "99999", "invalid parameter 'limit'"},
      {"/v1/events", "bogus", "1", "unknown parameter 'bogus'"},
      {"/v1/top", "follow", "1", "unknown parameter 'follow'"},
      {"/v1/status", "limit", "5", "unknown parameter 'limit'"},
      {"/v1/events/5", "pid", "5", "unknown parameter 'pid'"},
      {"/v1/doctor", "x", "", "unknown parameter 'x'"},
  };
  for (const auto& c : cases) {
    ApiError e = err_route(get(c.path, {{c.key, c.value}}));
    EXPECT_EQ(e.status, 400) << c.path << "?" << c.key << "=" << c.value;
    EXPECT_NE(e.message.find(c.expect), std::string::npos) << e.message;
  }
  ApiError limit = err_route(get("/v1/events", {{"limit", "0"}}));
  EXPECT_NE(limit.message.find("from 1 to 10000"), std::string::npos) << limit.message;
  ApiError unknown = err_route(get("/v1/status", {{"limit", "5"}}));
  EXPECT_NE(unknown.message.find("accepted: pretty"), std::string::npos) << unknown.message;
}

TEST(ApiRoute, DuplicateParameterIs400) {
  ApiError e = err_route(get("/v1/events", {{"pid", "1"}, {"pid", "2"}}));
  EXPECT_EQ(e.status, 400);
  EXPECT_NE(e.message.find("'pid' given more than once"), std::string::npos) << e.message;
}

TEST(ApiRoute, SinceAfterUntilIs400) {
  ApiError e = err_route(get("/v1/events", {{"since", "1m"}, {"until", "1h"}}));
  EXPECT_EQ(e.status, 400);
  EXPECT_NE(e.message.find("'since'"), std::string::npos) << e.message;
  EXPECT_NE(e.message.find("after until"), std::string::npos) << e.message;
}

TEST(ApiRoute, ScrapeEndpointsIgnoreParameters) {
  EXPECT_EQ(ok_route(get("/metrics", {{"name[]", "x"}, {"name[]", "y"}})).endpoint, Endpoint::metrics);
  EXPECT_EQ(ok_route(get("/healthz", {{"anything", "at all"}})).endpoint, Endpoint::healthz);
}

TEST(ApiAuthorize, Levels) {
  Route status = ok_route(get("/v1/status"));
  Route reset = ok_route(Request{"POST", "/v1/reset", {}, kNow});
  Caller root{Access::admin, 0, "enospc"};
  Caller member{Access::read, 1000, "enospc"};
  Caller outsider{Access::none, 65534, "enospc"};
  Caller outsider_no_group{Access::none, 65534, ""};

  EXPECT_FALSE(authorize(status, root, "GET"));
  EXPECT_FALSE(authorize(reset, root, "POST"));
  EXPECT_FALSE(authorize(status, member, "GET"));

  auto denied = authorize(reset, member, "POST");
  ASSERT_HAS_VALUE(denied);
  EXPECT_EQ(denied->status, 403);
  EXPECT_NE(denied->message.find("POST /v1/reset"), std::string::npos) << denied->message;
  EXPECT_NE(denied->message.find("root"), std::string::npos) << denied->message;

  auto out = authorize(status, outsider, "GET");
  ASSERT_HAS_VALUE(out);
  EXPECT_EQ(out->status, 403);
  EXPECT_NE(out->message.find("uid 65534"), std::string::npos) << out->message;
  EXPECT_NE(out->message.find("group 'enospc'"), std::string::npos) << out->message;
  auto out_no_group = authorize(status, outsider_no_group, "GET");
  ASSERT_HAS_VALUE(out_no_group);
  EXPECT_NE(out_no_group->message.find("only root"), std::string::npos) << out_no_group->message;
}

json body_of(const Response& r) {
  json j = json::parse(r.body, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << r.body;
  return j;
}

void expect_error(const Response& r, int status, const std::string& fragment) {
  EXPECT_EQ(r.status, status) << r.body;
  EXPECT_EQ(r.content_type, "application/json");
  json j = body_of(r);
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j.size(), 2u) << r.body;
  EXPECT_EQ(j["status"], status);
  ASSERT_TRUE(j["error"].is_string());
  EXPECT_NE(j["error"].get<std::string>().find(fragment), std::string::npos) << r.body;
}

class ApiHandle : public ::testing::Test {
 protected:
  FakeBackend backend;
  Caller root{Access::admin, 0, "enospc"};
  Caller member{Access::read, 1000, "enospc"};
  Caller outsider{Access::none, 65534, "enospc"};

  Response call(const Request& req, const Caller& c) {
    Handled h = handle(req, c, backend);
    EXPECT_FALSE(h.stream);
    return h.response;
  }
  Response call(const Request& req) { return call(req, root); }
};

TEST_F(ApiHandle, JsonAnswersComeFromTheBackend) {
  backend.push(make_event(1, kNow - 10 * kSec, 100, "runc"));
  backend.push(make_event(2, kNow - 5 * kSec, 200, "dockerd", "openat", "tmpfs_inodes"));
  Response r = call(get("/v1/events"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "application/json");
  json j = body_of(r);
  ASSERT_EQ(j["events"].size(), 2u);
  EXPECT_EQ(j["events"][0]["id"], "2");  // newest first

  r = call(get("/v1/events", {{"pid", "100"}, {"limit", "1"}}));
  j = body_of(r);
  ASSERT_EQ(j["events"].size(), 1u);
  EXPECT_EQ(j["events"][0]["pid"], 100);
  EXPECT_EQ(backend.last_query().limit, 1u);

  r = call(get("/v1/events/2"));
  EXPECT_EQ(body_of(r)["comm"], "dockerd");

  r = call(get("/v1/top"));
  EXPECT_EQ(body_of(r)["top"].size(), 2u);

  r = call(get("/healthz"));
  EXPECT_EQ(body_of(r), json({{"ok", true}}));

  r = call(get("/v1/diagnosis"));
  EXPECT_EQ(body_of(r), backend.diagnosis_doc);
}

TEST_F(ApiHandle, PrettyIndents) {
  Response compact = call(get("/v1/status"));
  Response pretty = call(get("/v1/status", {{"pretty", "1"}}));
  EXPECT_EQ(std::count(compact.body.begin(), compact.body.end(), '\n'), 1);
  EXPECT_GT(std::count(pretty.body.begin(), pretty.body.end(), '\n'), 3);
  EXPECT_EQ(body_of(compact), body_of(pretty));
}

TEST_F(ApiHandle, ErrorBodies) {
  expect_error(call(get("/nope")), 404, "no such endpoint");
  expect_error(call(get("/v2/status")), 404, "supported versions: v1");
  expect_error(call(get("/v1/events", {{"limit", "0"}})), 400, "'limit'");
  expect_error(call(get("/v1/events/99")), 400, "too short to look up as a prefix");
  expect_error(call(get("/v1/events/99999")), 404, "event 99999 not found");
  expect_error(call(get("/v1/doctor")), 503, "doctor is not available");
  Response r = call(Request{"PUT", "/v1/status", {}, kNow});
  expect_error(r, 405, "not allowed");
  ASSERT_EQ(r.headers.size(), 1u);
  EXPECT_EQ(r.headers[0], (std::pair<std::string, std::string>{"Allow", "GET, HEAD"}));
}

TEST_F(ApiHandle, DoctorWhenAvailable) {
  backend.doctor_doc = json{{"tmpfs", json::array()}};
  Response r = call(get("/v1/doctor"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(body_of(r), *backend.doctor_doc);
}

TEST_F(ApiHandle, BackendExceptionIs500) {
  backend.throw_on_status = true;
  expect_error(call(get("/v1/status")), 500, "store unavailable");
}

TEST_F(ApiHandle, ResetForRootOnly) {
  backend.push(make_event(1, kNow, 1, "a"));
  Request post{"POST", "/v1/reset", {}, kNow};
  expect_error(call(post, member), 403, "reserved to root");
  EXPECT_EQ(backend.reset_calls, 0);
  Response r = call(post, root);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(body_of(r), json({{"ok", true}}));
  EXPECT_EQ(backend.reset_calls, 1);
  EXPECT_EQ(body_of(call(get("/v1/events")))["events"].size(), 0u);

  backend.reset_error = "journal is read-only";
  expect_error(call(post, root), 500, "reset failed: journal is read-only");
}

TEST_F(ApiHandle, OutsidersLearnNothing) {
  expect_error(call(get("/v1/status"), outsider), 403, "uid 65534");
  expect_error(call(get("/v2/whatever"), outsider), 403, "permission denied");
  expect_error(call(get("/v1/events", {{"limit", "x"}}), outsider), 403, "permission denied");
  expect_error(call(get("/metrics"), outsider), 403, "permission denied");
  // Members read everything but the state-changing endpoint.
  EXPECT_EQ(call(get("/v1/status"), member).status, 200);
  EXPECT_EQ(call(get("/metrics"), member).status, 200);
}

TEST_F(ApiHandle, FollowIsHandedToTheServer) {
  Handled h = handle(get("/v1/events", {{"follow", "1"}, {"pid", "9"}}), member, backend);
  ASSERT_HAS_VALUE(h.stream);
  EXPECT_TRUE(h.stream->follow);
  EXPECT_EQ(h.stream->query.pid, 9u);
  Handled denied = handle(get("/v1/events", {{"follow", "1"}}), outsider, backend);
  EXPECT_FALSE(denied.stream);
  EXPECT_EQ(denied.response.status, 403);
}

TEST_F(ApiHandle, ExtrasDecorateStatusAndMetrics) {
  Extras extras;
  extras.api_status = [] { return json{{"socket", "/x"}}; };
  extras.metrics = [] { return std::string("enospcd_api_requests_total 3\n"); };
  backend.metrics_text = "enospcd_events_total 5";  // no trailing newline: one is added
  Handled h = handle(get("/v1/status"), root, backend, extras);
  EXPECT_EQ(body_of(h.response)["api"]["socket"], "/x");
  EXPECT_EQ(body_of(h.response)["mode"], "gate-only");
  h = handle(get("/metrics"), root, backend, extras);
  EXPECT_EQ(h.response.content_type, "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(h.response.body, "enospcd_events_total 5\nenospcd_api_requests_total 3\n");
}

TEST(ApiDumpJson, InvalidUtf8NeverThrows) {
  json j = {{"comm", std::string("bad\xff\xfe")}};
  std::string s;
  EXPECT_NO_THROW(s = dump_json(j));
  EXPECT_FALSE(json::parse(s, nullptr, false).is_discarded());
  Response r = error_response(400, std::string("x\xc3"));
  EXPECT_FALSE(json::parse(r.body, nullptr, false).is_discarded());
}

// /v1/events is written out one event at a time; what a reader parses is the whole document the backend
// holds, integers beyond a double's exact range included (as strings of digits), newest first.
TEST(ApiRespond, EventsWrittenOneAtATimeParseToTheWholeAnswer) {
  FakeBackend b;
  for (uint64_t i = 1; i <= 3; i++) {
    json e = make_event(i, kNow - i * kSec, 100 + static_cast<uint32_t>(i), "cp", "write", "fs_blocks");
    e["ipcns"] = {{"shmall", uint64_t{18446744073692774399ULL}}};
    e["path"] = "/tmp/\"quoted\"\n\u001b[31m";
    b.push(e);
  }
  Route r = ok_route(get("/v1/events", {{"limit", "10"}}));
  Response resp = respond(r, b);
  ASSERT_EQ(resp.status, 200);
  ASSERT_FALSE(resp.body.empty());
  EXPECT_EQ(resp.body.back(), '\n');
  json got = json::parse(resp.body);
  ASSERT_EQ(got["events"].size(), 3u);
  EXPECT_EQ(got["events"][0]["id"], "3");
  EXPECT_EQ(got["events"][2]["id"], "1");
  EXPECT_EQ(got["events"][1]["ipcns"]["shmall"], "18446744073692774399");
  EXPECT_EQ(got["events"][1]["path"], "/tmp/\"quoted\"\n\u001b[31m");
  json none = json::parse(respond(ok_route(get("/v1/events", {{"pid", "999"}})), b).body);
  EXPECT_EQ(none, (json{{"events", json::array()}}));
}

}  // namespace
}  // namespace enospcd::api
