// Event lookup by id or id prefix, and the filters' vocabularies (syscall table, cause ids) through the whole
// request pipeline with the fake backend.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "api/router.h"
#include "unit/api/fake_backend.h"

namespace enospcd::api::testing {
namespace {

using nlohmann::json;

constexpr uint64_t kSec = 1'000'000'000ULL;
constexpr uint64_t kNow = 1714564800ULL * kSec;

Request get(std::string path, Params params = {}) { return Request{"GET", std::move(path), std::move(params), kNow}; }

class Lookup : public ::testing::Test {
 protected:
  FakeBackend backend;
  Caller root{Access::admin, 0, ""};

  Response call(const Request& req) { return handle(req, root, backend).response; }
  json body(const Request& req) { return json::parse(call(req).body); }
};

// Ids as the daemon makes them: 19 digits, so that only the tail tells them apart.
constexpr uint64_t kA = 7357189049442136064ULL;
constexpr uint64_t kB = 7357189049442140160ULL;
constexpr uint64_t kC = 7357189112233445566ULL;

TEST_F(Lookup, FullIdAndUnambiguousPrefix) {
  backend.push(make_event(kA, kNow, 1, "a"));
  backend.push(make_event(kB, kNow, 2, "b"));
  backend.push(make_event(kC, kNow, 3, "c"));
  EXPECT_EQ(body(get("/v1/events/7357189049442136064"))["comm"], "a");
  EXPECT_EQ(body(get("/v1/events/7357189049442140160"))["comm"], "b");
  EXPECT_EQ(body(get("/v1/events/73571891"))["comm"], "c");   // only kC continues with 1
  EXPECT_EQ(body(get("/v1/events/735718904944214"))["comm"], "b");
  EXPECT_EQ(call(get("/v1/events/73571891")).status, 200);
}

TEST_F(Lookup, AmbiguousPrefixIs409ListingTheCandidates) {
  backend.push(make_event(kA, kNow, 1, "a"));
  backend.push(make_event(kB, kNow, 2, "b"));
  Response r = call(get("/v1/events/7357189049"));
  EXPECT_EQ(r.status, 409) << r.body;
  json j = json::parse(r.body);
  EXPECT_EQ(j["status"], 409);
  std::string msg = j["error"];
  EXPECT_NE(msg.find("ambiguous"), std::string::npos) << msg;
  EXPECT_NE(msg.find("7357189049442136064"), std::string::npos) << msg;
  EXPECT_NE(msg.find("7357189049442140160"), std::string::npos) << msg;
}

TEST_F(Lookup, ManyCandidatesAreCut) {
  for (uint64_t i = 0; i < 9; i++) backend.push(make_event(kA + i, kNow, 1, "a"));
  Response r = call(get("/v1/events/7357"));
  EXPECT_EQ(r.status, 409);
  EXPECT_NE(r.body.find("more than 5 events match"), std::string::npos) << r.body;
}

TEST_F(Lookup, ExactIdWinsOverTheIdsItPrefixes) {
  backend.push(make_event(1234, kNow, 1, "short"));
  backend.push(make_event(12345, kNow, 2, "long"));
  EXPECT_EQ(body(get("/v1/events/1234"))["comm"], "short");
  EXPECT_EQ(body(get("/v1/events/12345"))["comm"], "long");
}

TEST_F(Lookup, TooShortUnknownAndMalformed) {
  backend.push(make_event(kA, kNow, 1, "a"));
  Response r = call(get("/v1/events/735"));
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("at least 4 digits"), std::string::npos) << r.body;
  r = call(get("/v1/events/7358"));
  EXPECT_EQ(r.status, 404) << r.body;
  EXPECT_NE(r.body.find("event 7358 not found"), std::string::npos) << r.body;
  for (const char* bad : {"/v1/events/7357x", "/v1/events/123456789012345678901", "/v1/events/99999999999999999999"}) {
    r = call(get(bad));
    EXPECT_EQ(r.status, 400) << bad << ": " << r.body;
    EXPECT_NE(r.body.find("invalid event id"), std::string::npos) << r.body;
  }
}

TEST_F(Lookup, IdsAreStringsOfDigits) {
  backend.push(make_event(kA, kNow, 1, "a"));
  json e = body(get("/v1/events"))["events"][0];
  ASSERT_TRUE(e["id"].is_string());
  EXPECT_EQ(e["id"], "7357189049442136064");
  ASSERT_TRUE(e["time_ns"].is_string());
  EXPECT_EQ(e["time_ns"], "1714564800000000000");
}

TEST_F(Lookup, UnknownSyscallIs400NamingTheKnownOnes) {
  Response r = call(get("/v1/events", {{"syscall", "opnat"}}));
  EXPECT_EQ(r.status, 400) << r.body;
  std::string msg = json::parse(r.body)["error"];
  EXPECT_NE(msg.find("invalid parameter 'syscall': unknown syscall 'opnat'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("openat"), std::string::npos);
  EXPECT_NE(msg.find("mount"), std::string::npos);
  EXPECT_NE(msg.find("fallocate"), std::string::npos);
  // The same on /v1/top and on follow streams.
  EXPECT_EQ(call(get("/v1/top", {{"syscall", "opnat"}})).status, 400);
  EXPECT_EQ(call(get("/v1/events", {{"syscall", "opnat"}, {"follow", "1"}})).status, 400);
  // Known names, and the numbered form events use for syscalls the table does not know.
  EXPECT_EQ(call(get("/v1/events", {{"syscall", "openat"}})).status, 200);
  EXPECT_EQ(call(get("/v1/top", {{"syscall", "mount"}})).status, 200);
  EXPECT_EQ(call(get("/v1/events", {{"syscall", "syscall_1000"}})).status, 200);
  EXPECT_EQ(call(get("/v1/events", {{"syscall", "syscall_x"}})).status, 400);
  // io_uring requests are named as the events name them.
  EXPECT_EQ(call(get("/v1/events", {{"syscall", "io_uring:write"}})).status, 200);
  EXPECT_EQ(call(get("/v1/events", {{"syscall", "io_uring:nope"}})).status, 400);
}

TEST_F(Lookup, UnknownCauseIs400NamingTheKnownOnes) {
  Response r = call(get("/v1/events", {{"cause", "mount-max"}}));
  EXPECT_EQ(r.status, 400) << r.body;
  std::string msg = json::parse(r.body)["error"];
  EXPECT_EQ(msg, "invalid parameter 'cause': unknown cause 'mount-max' (known: mount_max, tmpfs_inodes, fs_blocks, unknown)");
  EXPECT_EQ(call(get("/v1/top", {{"cause", "mount-max"}})).status, 400);
  EXPECT_EQ(call(get("/v1/events", {{"cause", "tmpfs_inodes"}})).status, 200);
  // Without a vocabulary any well-formed id passes the router.
  EXPECT_TRUE(std::holds_alternative<Route>(route(get("/v1/events", {{"cause", "mount-max"}}))));
}

TEST_F(Lookup, TopRefusesTimeWindows) {
  for (const char* p : {"since", "until"}) {
    Response r = call(get("/v1/top", {{p, "2099-01-01T00:00:00Z"}}));
    EXPECT_EQ(r.status, 400) << r.body;
    std::string msg = json::parse(r.body)["error"];
    EXPECT_NE(msg.find(std::string("parameter '") + p + "' is not accepted by /v1/top"), std::string::npos) << msg;
  }
  backend.push(make_event(kA, kNow - 60 * kSec, 1, "a"));
  EXPECT_EQ(body(get("/v1/events", {{"since", "2099-01-01T00:00:00Z"}}))["events"].size(), 0u);
  EXPECT_EQ(body(get("/v1/events", {{"since", "5m"}}))["events"].size(), 1u);
}

}  // namespace
}  // namespace enospcd::api::testing

namespace enospcd::api::testing {
namespace {

TEST(DumpJson, IntegersBeyondDoublesBecomeStrings) {
  nlohmann::json j = {{"shmmax", 18446744073692774399ULL},
                      {"exact", 9007199254740992ULL},  // 2^53 itself is exact
                      {"neg", -9007199254740993LL},
                      {"nested", {{"list", {1, 9007199254740993ULL}}}},
                      {"float", 1.5}};
  nlohmann::json out = nlohmann::json::parse(dump_json(j));
  EXPECT_EQ(out["shmmax"], "18446744073692774399");
  EXPECT_EQ(out["exact"], 9007199254740992ULL);
  EXPECT_EQ(out["neg"], "-9007199254740993");
  EXPECT_EQ(out["nested"]["list"], nlohmann::json({1, "9007199254740993"}));
  EXPECT_EQ(out["float"], 1.5);
  EXPECT_EQ(nlohmann::json::parse(dump_json({{"a", 1}}, true)), nlohmann::json({{"a", 1}}));
}

}  // namespace
}  // namespace enospcd::api::testing
