// The real Server on a temporary socket, driven by curl and raw sockets.

#include <grp.h>
#include <sys/stat.h>

#include <atomic>
#include <fstream>
#include <thread>

#include "live/api/harness.h"
#include "support/has_value.h"

namespace enospcd::api::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr uint64_t kSec = 1'000'000'000ULL;

json parse(const std::string& body) {
  json j = json::parse(body, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << body;
  return j;
}

void expect_json_error(const CurlAnswer& a, int status, const std::string& fragment) {
  EXPECT_EQ(a.curl_exit, 0) << a.err;
  EXPECT_EQ(a.status, status) << a.body;
  EXPECT_NE(a.headers.find("Content-Type: application/json"), std::string::npos) << a.headers;
  json j = parse(a.body);
  EXPECT_EQ(j["status"], status) << a.body;
  ASSERT_TRUE(j["error"].is_string()) << a.body;
  EXPECT_NE(j["error"].get<std::string>().find(fragment), std::string::npos) << a.body;
}

class ApiServer : public ServerFixture {
 protected:
  void push_sample() {
    now_ = wall_clock_ns();
    backend_.push(make_event(1, now_ - 120 * kSec, 100, "runc:[2:INIT]", "mount", "mount_max",
                             {{"id", "4f1c0d2e9b7a55aa0011"}, {"name", "web-1"}, {"runtime", "containerd"}}));
    backend_.push(make_event(2, now_ - 60 * kSec, 200, "cp", "write", "fs_blocks"));
    backend_.push(make_event(3, now_ - 1 * kSec, 100, "runc:[2:INIT]", "mount", "mount_max"));
  }
  // Asks for a doctor's report on a connection of its own and leaves the answer unread; -1 on failure.
  int ask_doctor_unread() {
    int fd = connect_unix(socket_path_);
    if (fd >= 0) send_all(fd, "GET /v1/doctor HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    return fd;
  }
  uint64_t now_ = 0;
};

TEST_F(ApiServer, EveryEndpointOverCurl) {
  start();
  push_sample();
  backend_.edit([&] { backend_.doctor_doc = json{{"tmpfs", json::array()}}; });

  CurlAnswer status = get("/v1/status");
  ASSERT_EQ(status.curl_exit, 0) << status.err;
  EXPECT_EQ(status.status, 200);
  EXPECT_NE(status.headers.find("Content-Type: application/json"), std::string::npos);
  json s = parse(status.body);
  EXPECT_EQ(s["mode"], "gate-only");
  EXPECT_EQ(s["api"]["socket"], socket_path_);
  EXPECT_EQ(s["api"]["version"], "v1");

  json events = parse(get("/v1/events").body);
  ASSERT_EQ(events["events"].size(), 3u);
  EXPECT_EQ(events["events"][0]["id"], "3");

  json filtered = parse(get("/v1/events?pid=100&since=90s&syscall=mount&cause=mount_max&limit=10").body);
  ASSERT_EQ(filtered["events"].size(), 1u);
  EXPECT_EQ(filtered["events"][0]["id"], "3");
  EXPECT_EQ(parse(get("/v1/events?container=web-1").body)["events"].size(), 1u);
  EXPECT_EQ(parse(get("/v1/events?comm=runc%3A%5B2%3AINIT%5D").body)["events"].size(), 2u);

  CurlAnswer one = get("/v1/events/2");
  EXPECT_EQ(one.status, 200);
  EXPECT_EQ(parse(one.body)["comm"], "cp");

  json top = parse(get("/v1/top").body);
  ASSERT_EQ(top["top"].size(), 2u);
  EXPECT_EQ(top["top"][0]["count"], 2);
  EXPECT_EQ(top["top"][0]["pid"], 100);

  EXPECT_EQ(parse(get("/v1/diagnosis").body), backend_.diagnosis());
  auto doctor = backend_.doctor();
  ASSERT_HAS_VALUE(doctor);
  EXPECT_EQ(parse(get("/v1/doctor").body), *doctor);
  EXPECT_EQ(parse(get("/healthz").body), json({{"ok", true}}));

  CurlAnswer metrics = get("/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.headers.find("Content-Type: text/plain; version=0.0.4"), std::string::npos) << metrics.headers;
  EXPECT_NE(metrics.body.find("enospcd_events_total 0\n"), std::string::npos);
  EXPECT_NE(metrics.body.find("# TYPE enospcd_api_requests_total counter\n"), std::string::npos) << metrics.body;
  EXPECT_NE(metrics.body.find("enospcd_api_follow_streams 0\n"), std::string::npos) << metrics.body;

  CurlAnswer pretty = get("/v1/status?pretty=1");
  EXPECT_NE(pretty.body.find("\n  \"mode\": \"gate-only\""), std::string::npos) << pretty.body;

  CurlAnswer reset = curl({"-X", "POST", "http://localhost/v1/reset"});
  EXPECT_EQ(reset.status, 200) << reset.body;
  EXPECT_EQ(backend_.reset_calls, 1);
  EXPECT_EQ(parse(get("/v1/events").body)["events"].size(), 0u);
}

TEST_F(ApiServer, EveryErrorCodeOverCurl) {
  start();
  push_sample();
  expect_json_error(get("/nope"), 404, "no such endpoint");
  expect_json_error(get("/v1/nope"), 404, "no such endpoint");
  expect_json_error(get("/v2/status"), 404, "supported versions: v1");
  expect_json_error(get("/v1/events/9999"), 404, "event 9999 not found");
  expect_json_error(get("/v1/events/999"), 400, "too short");
  expect_json_error(get("/v1/events/abc"), 400, "invalid event id");
  expect_json_error(get("/v1/events?limit=0"), 400, "'limit'");
  expect_json_error(get("/v1/events?limit=10001"), 400, "'limit'");
  expect_json_error(get("/v1/events?since=yesterday"), 400, "'since'");
  expect_json_error(get("/v1/events?until=2024-02-30T00:00:00Z"), 400, "'until'");
  expect_json_error(get("/v1/events?pid=x"), 400, "'pid'");
  expect_json_error(get("/v1/events?comm=0123456789abcdefg"), 400, "'comm'");
  expect_json_error(get("/v1/events?syscall=MOUNT"), 400, "'syscall'");
  expect_json_error(get("/v1/events?cause=a%20b"), 400, "'cause'");
  expect_json_error(get("/v1/events?follow=2"), 400, "'follow'");
  expect_json_error(get("/v1/events?pid=1&pid=2"), 400, "more than once");
  expect_json_error(get("/v1/events?colour=blue"), 400, "unknown parameter 'colour'");
  expect_json_error(get("/v1/top?follow=1"), 400, "unknown parameter 'follow'");
  expect_json_error(get("/v1/doctor"), 503, "doctor is not available");

  CurlAnswer wrong = curl({"-X", "DELETE", "http://localhost/v1/status"});
  expect_json_error(wrong, 405, "not allowed");
  EXPECT_NE(wrong.headers.find("Allow: GET, HEAD"), std::string::npos) << wrong.headers;
  CurlAnswer get_reset = get("/v1/reset");
  expect_json_error(get_reset, 405, "not allowed");
  EXPECT_NE(get_reset.headers.find("Allow: POST"), std::string::npos) << get_reset.headers;

  backend_.edit([&] { backend_.throw_on_status = true; });
  expect_json_error(get("/v1/status"), 500, "store unavailable");
  backend_.edit([&] {
    backend_.throw_on_status = false;
    backend_.reset_error = "journal is read-only";
  });
  expect_json_error(curl({"-X", "POST", "http://localhost/v1/reset"}), 500, "journal is read-only");
}

TEST_F(ApiServer, HeadAnswersHeadersOnly) {
  start();
  CurlAnswer head = curl({"-I", "http://localhost/v1/status"});
  EXPECT_EQ(head.status, 200);
  EXPECT_NE(head.headers.find("Content-Type: application/json"), std::string::npos);
  EXPECT_EQ(head.body.find("gate-only"), std::string::npos);
}

TEST_F(ApiServer, OversizedRequestsAre413) {
  start();
  std::string big_file = dir_ + "/body";
  std::ofstream(big_file) << std::string(10000, 'x');
  CurlAnswer body = curl({"-X", "POST", "--data-binary", "@" + big_file, "http://localhost/v1/reset"});
  expect_json_error(body, 413, "request bodies are not accepted");
  EXPECT_EQ(backend_.reset_calls, 0);
  // A body announced and never sent is refused at once rather than waited for until the timeout: a chunk of
  // 1 TB, or 100 bytes announced and 2 sent, from a client that then stops writing.
  for (const std::string req : {"POST /v1/reset HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nffffffffff\r\n",
                                "GET /v1/status HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab"}) {
    int fd = connect_unix(socket_path_);
    ASSERT_GE(fd, 0);
    send_all(fd, req);
    shutdown(fd, SHUT_WR);
    std::string answer = read_all(fd, std::chrono::seconds(10));
    close(fd);
    EXPECT_EQ(answer.rfind("HTTP/1.1 413", 0), 0u) << "the connection was held until the timeout: " << req << answer;
  }
  EXPECT_EQ(backend_.reset_calls, 0);

  // Headers beyond MHD_OPTION_CONNECTION_MEMORY_LIMIT: libmicrohttpd answers by itself.
  CurlAnswer header = curl({"-H", "X-Big: " + std::string(40000, 'h'), "http://localhost/v1/status"});
  EXPECT_EQ(header.status, 431) << header.headers << header.body;

  CurlAnswer uri = get("/v1/events?comm=" + std::string(40000, 'c'));
  EXPECT_EQ(uri.status, 414) << uri.headers << uri.body;

  // And the server keeps serving.
  EXPECT_EQ(get("/v1/status").status, 200);
}

// Many query parameters are answered (they were stored in the connection's memory pool until it was full, and
// the request then went unanswered until the timeout); a NUL byte anywhere in the target is a 400, not a cut.
TEST_F(ApiServer, ManyParametersAndNulBytesAreAnsweredInJson) {
  start();
  auto params = [](int n) {
    std::string q;
    for (int i = 0; i < n; ++i) q += (i ? "&p" : "p") + std::to_string(i) + "=1";
    return q;
  };
  auto t0 = std::chrono::steady_clock::now();
  for (int n : {65, 250, 1000}) {
    CurlAnswer a = get("/v1/events?" + params(n));
    EXPECT_EQ(a.status, 414) << n << ": " << a.body;
    EXPECT_EQ(json::parse(a.body, nullptr, false).value("error", ""), "too many query parameters (at most 64)")
        << a.body;
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
  EXPECT_EQ(get("/healthz?" + params(64)).status, 200);
  for (const char* target : {"/v1/events?comm=a%00b", "/v1/status%00x", "/v1/events?c%00mm=a"}) {
    CurlAnswer a = get(target);
    EXPECT_EQ(a.status, 400) << target;
    EXPECT_EQ(json::parse(a.body, nullptr, false).value("error", ""), "the request holds a NUL byte (%00)")
        << target << ": " << a.body;
  }
  // An escaped percent sign is text, not a NUL.
  EXPECT_EQ(get("/v1/events?comm=a%2500b").status, 200);
}

// Clients that ask for large answers and do not read them hold no more than the unsent budget: a further
// large answer is a 503 with Retry-After, small answers go on, and once the readers are gone large ones do too.
TEST_F(ApiServer, UnreadLargeAnswersAreHeldToABudget) {
  options_.unsent_response_bytes = size_t{3} << 20;
  options_.connection_timeout = std::chrono::seconds(20);
  start();
  const uint64_t now = wall_clock_ns();
  for (uint64_t i = 1; i <= 2000; ++i) {
    json e = make_event(i, now, 1, "w");
    e["path"] = std::string(500, 'p');
    backend_.push(e);
  }
  const std::string big = "/v1/events?limit=2000";
  size_t size = get(big).body.size();
  ASSERT_GT(size, size_t{1} << 20) << "the answer must be larger than a socket buffer";
  const size_t fit = options_.unsent_response_bytes / size;  // answers the budget holds
  std::vector<int> silent;
  for (size_t i = 0; i < fit; ++i) {
    int fd = connect_unix(socket_path_);
    ASSERT_GE(fd, 0);
    send_all(fd, "GET " + big + " HTTP/1.1\r\nHost: x\r\n\r\n");
    silent.push_back(fd);
  }
  ASSERT_TRUE(eventually([&] { return server_->stats().unsent_bytes >= fit * size; }));
  CurlAnswer refused = get(big);
  EXPECT_EQ(refused.status, 503) << refused.body.substr(0, 300);
  EXPECT_NE(refused.headers.find("Retry-After: 1"), std::string::npos) << refused.headers;
  EXPECT_EQ(server_->stats().busy, 1u);
  EXPECT_EQ(get("/v1/status").status, 200);
  EXPECT_EQ(get("/v1/events?limit=10").status, 200);
  for (int fd : silent) close(fd);
  ASSERT_TRUE(eventually([&] { return server_->stats().unsent_bytes == 0; }));
  EXPECT_EQ(get(big).status, 200);
}

// A large answer is built away from the worker threads: with one worker, status and a single event are
// answered while a doctor's scan is still running, and the scan's answer arrives when it ends. Large answers
// beyond the queue are a 503 with Retry-After, at once.
TEST_F(ApiServer, SmallQuestionsAreAnsweredWhileALargeAnswerIsBuilt) {
  options_.threads = 1;
  options_.connection_timeout = std::chrono::seconds(30);
  start();
  push_sample();
  backend_.edit([&] { backend_.doctor_doc = json{{"tmpfs", json::array()}}; });
  auto hold = backend_.hold_doctor_until_scope_ends();
  CurlAnswer doctor;
  std::thread slow([&] { doctor = get("/v1/doctor"); });
  ASSERT_TRUE(backend_.doctors_running(1));
  CurlAnswer status = get("/v1/status");
  EXPECT_EQ(status.status, 200) << status.err;
  EXPECT_EQ(get("/v1/events/2").status, 200);
  EXPECT_EQ(get("/v1/events?limit=10").status, 200);
  // One is being built; the queue holds 32 more; the one after them is refused.
  std::vector<int> waiting;
  for (int i = 0; i < 32; i++) {
    int fd = ask_doctor_unread();
    ASSERT_GE(fd, 0);
    waiting.push_back(fd);
  }
  ASSERT_TRUE(eventually([&] { return server_->stats().large_waiting == 32; })) << server_->stats().large_waiting;
  EXPECT_EQ(parse(get("/v1/status").body)["api"]["large_answers_waiting"], 32);
  CurlAnswer refused = get("/v1/doctor");
  EXPECT_EQ(refused.status, 503) << refused.body;
  EXPECT_NE(refused.headers.find("Retry-After: 1"), std::string::npos) << refused.headers;
  EXPECT_EQ(server_->stats().busy, 1u);
  EXPECT_TRUE(doctor.body.empty()) << "the doctor answered before its scan ended: " << doctor.body;
  backend_.release_doctor();
  slow.join();
  EXPECT_EQ(doctor.status, 200) << doctor.err;
  EXPECT_EQ(parse(doctor.body), (json{{"tmpfs", json::array()}}));
  // Every queued scan is answered in turn.
  for (int fd : waiting) {
    std::string answer = read_all(fd);
    EXPECT_EQ(answer.rfind("HTTP/1.1 200", 0), 0u) << answer.substr(0, 200);
    close(fd);
  }
}

// Stopping with large answers queued: each connection gets an answer (the one being built its 200, the ones
// waiting a 503 unless their turn came first), none is left suspended, and stop() returns.
TEST_F(ApiServer, StopAnswersTheLargeAnswersStillWaiting) {
  options_.threads = 1;
  start();
  backend_.edit([&] { backend_.doctor_doc = json{{"tmpfs", json::array()}}; });
  backend_.hold_doctor();
  std::vector<int> fds;
  for (int i = 0; i < 3; i++) {
    int fd = ask_doctor_unread();
    ASSERT_GE(fd, 0);
    fds.push_back(fd);
  }
  ASSERT_TRUE(backend_.doctors_running(1));
  ASSERT_TRUE(eventually([&] { return server_->stats().large_waiting == 2; }));
  std::thread stopper([&] { server_->stop(); });
  std::this_thread::sleep_for(100ms);
  backend_.release_doctor();
  stopper.join();
  EXPECT_FALSE(server_->running());
  std::vector<std::string> firsts;
  for (int fd : fds) {
    std::string answer = read_all(fd);
    close(fd);
    firsts.push_back(answer.substr(0, 12));
    EXPECT_TRUE(answer.rfind("HTTP/1.1 200", 0) == 0 ||
                (answer.rfind("HTTP/1.1 503", 0) == 0 && answer.find("shutting down") != std::string::npos))
        << answer.substr(0, 300);
  }
  EXPECT_EQ(firsts[0], "HTTP/1.1 200");
}

// Clients that hang up while their large answer waits its turn get nothing built: the queue drains at once.
TEST_F(ApiServer, LargeAnswersOfClientsThatHungUpAreNotBuilt) {
  options_.threads = 1;
  start();
  backend_.edit([&] { backend_.doctor_doc = json{{"tmpfs", json::array()}}; });
  backend_.hold_doctor();
  std::vector<int> fds;
  for (int i = 0; i < 4; i++) {
    int fd = ask_doctor_unread();
    ASSERT_GE(fd, 0);
    fds.push_back(fd);
    if (i == 0) {
      ASSERT_TRUE(backend_.doctors_running(1));
    }
  }
  ASSERT_TRUE(eventually([&] { return server_->stats().large_waiting == 3; }));
  for (size_t i = 1; i < fds.size(); i++) close(fds[i]);
  backend_.release_doctor();
  EXPECT_EQ(read_all(fds[0]).rfind("HTTP/1.1 200", 0), 0u);
  close(fds[0]);
  ASSERT_TRUE(eventually([&] { return server_->stats().large_waiting == 0; }));
  EXPECT_EQ(get("/v1/status").status, 200);
  EXPECT_EQ(backend_.doctor_calls.load(), 1);
}

TEST_F(ApiServer, MalformedRequestsDoNotHurt) {
  start();
  const std::string requests[] = {
      "GARBAGE\r\n\r\n",
      "GET\r\n\r\n",
      "GET /v1/status HTTP/9.9\r\nHost: x\r\n\r\n",
      "GET /v1/status HTTP/1.1\r\nno colon here\r\n\r\n",
      "GET /v1/status HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
      "POST /v1/reset HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
      std::string("\x00\x01\x02\xff\r\n\r\n", 8),
      "GET /v1/events?pid=%ZZ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
  };
  for (const auto& req : requests) {
    std::string answer = raw_exchange(socket_path_, req);
    // Either an HTTP error answer or a closed connection; never a crash or a hang.
    if (!answer.empty()) {
      EXPECT_EQ(answer.rfind("HTTP/1.", 0), 0u) << answer;
      EXPECT_EQ(answer.find("HTTP/1.1 200"), std::string::npos) << req << " -> " << answer;
    }
  }
  // A request that stops half-way is timed out, and meanwhile others are served.
  int slow = connect_unix(socket_path_);
  ASSERT_GE(slow, 0);
  send_all(slow, "GET /v1/sta");
  EXPECT_EQ(get("/v1/status").status, 200);
  close(slow);
  EXPECT_EQ(backend_.reset_calls, 0);
}

TEST_F(ApiServer, KeepAliveServesSeveralRequestsPerConnection) {
  start();
  int fd = connect_unix(socket_path_);
  ASSERT_GE(fd, 0);
  send_all(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /v1/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  std::string answer = read_all(fd);
  close(fd);
  size_t first = answer.find("HTTP/1.1 200");
  ASSERT_NE(first, std::string::npos) << answer;
  EXPECT_NE(answer.find("HTTP/1.1 200", first + 1), std::string::npos) << answer;
}

TEST_F(ApiServer, TwoHundredConcurrentConnections) {
  start();
  push_sample();
  constexpr int kClients = 200;
  std::vector<int> fds;
  for (int i = 0; i < kClients; ++i) {
    int fd = connect_unix(socket_path_);
    ASSERT_GE(fd, 0) << "connection " << i;
    fds.push_back(fd);
  }
  // All 200 are open at once before any request is sent.
  for (int fd : fds) ASSERT_TRUE(send_all(fd, "GET /v1/events HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  std::atomic<int> ok{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 8; ++t) {
    readers.emplace_back([&, t] {
      for (int i = t; i < kClients; i += 8) {
        std::string answer = read_all(fds[static_cast<size_t>(i)]);
        if (answer.rfind("HTTP/1.1 200", 0) == 0 && answer.find("\"runc:[2:INIT]\"") != std::string::npos) ok++;
      }
    });
  }
  for (auto& r : readers) r.join();
  for (int fd : fds) close(fd);
  EXPECT_EQ(ok.load(), kClients);
}

TEST_F(ApiServer, ConnectionsBeyondTheLimitWaitForAFreeSlot) {
  options_.connection_limit = 8;
  options_.threads = 1;
  start();
  std::vector<int> fds;
  for (int i = 0; i < 8; ++i) fds.push_back(connect_unix(socket_path_));
  std::this_thread::sleep_for(200ms);
  // The ninth connection stays in the listen backlog: no answer while the eight are open...
  int ninth = connect_unix(socket_path_);
  ASSERT_GE(ninth, 0);
  send_all(ninth, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  pollfd p{ninth, POLLIN, 0};
  EXPECT_EQ(poll(&p, 1, 500), 0) << "answered beyond the connection limit";
  // ...and is served as soon as a slot frees up.
  for (int fd : fds) close(fd);
  auto t0 = std::chrono::steady_clock::now();
  std::string answer = read_all(ninth, 3s);
  close(ninth);
  EXPECT_EQ(answer.rfind("HTTP/1.1 200", 0), 0u) << answer;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
}

}  // namespace
}  // namespace enospcd::api::testing
