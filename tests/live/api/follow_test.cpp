// Follow streams (GET /v1/events?follow=1): order, filters, backlog, slow and vanished clients, shutdown.

#include <sys/socket.h>

#include <atomic>
#include <thread>

#include "live/api/harness.h"

namespace enospcd::api::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr uint64_t kSec = 1'000'000'000ULL;

class ApiFollow : public ServerFixture {
 protected:
  std::unique_ptr<Child> follow(const std::string& query) {
    auto c = std::make_unique<Child>(std::vector<std::string>{
        "curl", "-sSN", "--unix-socket", socket_path_, "http://localhost/v1/events?follow=1" + query});
    return c;
  }

  // A client that asks to follow and then never reads, with a small receive buffer; -1 on failure.
  int stalled_follower() {
    int fd = connect_unix(socket_path_);
    if (fd < 0) return -1;
    int small = 4096;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    send_all(fd, "GET /v1/events?follow=1 HTTP/1.1\r\nHost: x\r\n\r\n");
    return fd;
  }

  // Next non-empty line (keepalives are empty lines).
  static json next_event(Child& c, std::chrono::milliseconds timeout = 5s) {
    std::string line;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (!c.read_line(&line, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now())))
        break;
      if (!line.empty()) return json::parse(line, nullptr, false);
    }
    return json();
  }
};

TEST_F(ApiFollow, ReceivesPushedEventsInOrder) {
  start();
  auto c = follow("");
  ASSERT_TRUE(eventually([&] { return backend_.subscribers() == 1; }));
  const uint64_t now = wall_clock_ns();
  for (uint64_t i = 1; i <= 200; ++i) backend_.push(make_event(i, now, 100 + static_cast<uint32_t>(i % 3), "w"));
  for (uint64_t i = 1; i <= 200; ++i) {
    json e = next_event(*c);
    ASSERT_TRUE(e.is_object()) << "event " << i;
    ASSERT_EQ(e["id"], std::to_string(i));
  }
  EXPECT_EQ(server_->stats().follow_active, 1u);
}

TEST_F(ApiFollow, StreamIsChunkedNdjson) {
  start();
  int fd = connect_unix(socket_path_);
  ASSERT_GE(fd, 0);
  send_all(fd, "GET /v1/events?follow=1 HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(eventually([&] { return backend_.subscribers() == 1; }));
  backend_.push(make_event(5, wall_clock_ns(), 1, "a"));
  std::string got;
  ASSERT_TRUE(eventually([&] {
    char buf[4096];
    ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) got.append(buf, static_cast<size_t>(n));
    return got.find("\"id\":\"5\"") != std::string::npos;
  }));
  close(fd);
  EXPECT_NE(got.find("Transfer-Encoding: chunked"), std::string::npos) << got;
  EXPECT_NE(got.find("Content-Type: application/x-ndjson"), std::string::npos) << got;
}

TEST_F(ApiFollow, FiltersApply) {
  start();
  auto c = follow("&pid=42&syscall=mount");
  ASSERT_TRUE(eventually([&] { return backend_.subscribers() == 1; }));
  EXPECT_EQ(backend_.last_query().pid, std::nullopt) << "no history query without since";
  const uint64_t now = wall_clock_ns();
  backend_.push(make_event(1, now, 41, "a"));
  backend_.push(make_event(2, now, 42, "a", "write"));
  backend_.push(make_event(3, now, 42, "a", "mount"));
  json e = next_event(*c);
  EXPECT_EQ(e["id"], "3");
}

TEST_F(ApiFollow, SinceReplaysHistoryFirstWithoutDuplicates) {
  start();
  const uint64_t now = wall_clock_ns();
  backend_.push(make_event(1, now - 7200 * kSec, 1, "old"));
  backend_.push(make_event(2, now - 30 * kSec, 1, "recent"));
  backend_.push(make_event(3, now - 10 * kSec, 1, "recent"));
  auto c = follow("&since=1h");
  EXPECT_EQ(next_event(*c)["id"], "2");
  EXPECT_EQ(next_event(*c)["id"], "3");
  backend_.push(make_event(4, now, 1, "live"));
  EXPECT_EQ(next_event(*c)["id"], "4");
}

// The backlog a stream starts with is held to the stream's queue bound (the newest events), not to limit=.
TEST_F(ApiFollow, SinceBacklogIsHeldToTheQueueBound) {
  options_.follow_queue_lines = 50;
  start();
  const uint64_t now = wall_clock_ns();
  for (uint64_t i = 1; i <= 400; ++i) backend_.push(make_event(i, now - 60 * kSec, 1, "old"));
  auto c = follow("&since=1h&limit=10000");
  std::vector<std::string> ids;
  for (json e = next_event(*c, 2s); e.is_object(); e = next_event(*c, 1s)) ids.push_back(e["id"]);
  ASSERT_EQ(ids.size(), 50u);
  EXPECT_EQ(ids.front(), "351");
  EXPECT_EQ(ids.back(), "400");
  EXPECT_EQ(backend_.last_query().limit, 50u);
}

// What all streams hold for their clients is bounded in bytes too: a stream whose since= history would go
// beyond it is refused with a 503 (counted as busy); a stalled stream whose live events would go beyond it is
// dropped; once it is gone, a reading client's history fits again.
TEST_F(ApiFollow, BacklogsOfAllStreamsAreHeldToABudget) {
  options_.follow_held_bytes = 64 * 1024;
  start();
  const uint64_t now = wall_clock_ns();
  json proto = make_event(0, now - 60 * kSec, 1, "old");
  proto["path"] = std::string(900, 'p');  // about 1.3 KB a line
  for (uint64_t i = 1; i <= 60; ++i) {
    proto["id"] = std::to_string(i);
    backend_.push(proto);
  }
  // 60 lines of history (~80 KB) do not fit.
  CurlAnswer refused = get("/v1/events?follow=1&since=1h");
  EXPECT_EQ(refused.status, 503) << refused.body.substr(0, 300);
  EXPECT_NE(refused.body.find("busy: follow streams hold"), std::string::npos) << refused.body.substr(0, 300);
  EXPECT_NE(refused.headers.find("Retry-After: 1"), std::string::npos) << refused.headers;
  EXPECT_EQ(server_->stats().busy, 1u);
  EXPECT_EQ(server_->stats().follow_active, 0u);
  // A stream that stalls: once its socket is full, live events pile up in the daemon until the budget drops it.
  int stalled = stalled_follower();
  ASSERT_GE(stalled, 0);
  ASSERT_TRUE(eventually([&] { return backend_.subscribers() == 1; }));
  for (uint64_t i = 61; i <= 2000 && server_->stats().follow_dropped == 0; ++i) {
    proto["id"] = std::to_string(i);
    proto["time_ns"] = std::to_string(wall_clock_ns());
    backend_.publish(proto);
  }
  EXPECT_TRUE(eventually([&] { return server_->stats().follow_dropped == 1; }));
  close(stalled);
  EXPECT_TRUE(eventually([&] { return server_->stats().follow_active == 0; }, 5s));
  // 40 lines (~52 KB) fit in the budget, free again.
  auto c = follow("&since=1h&limit=40");
  std::vector<std::string> ids;
  for (json e = next_event(*c, 2s); e.is_object() && ids.size() < 40; e = next_event(*c, 1s)) ids.push_back(e["id"]);
  ASSERT_EQ(ids.size(), 40u);
  EXPECT_EQ(ids.front(), "21");
  EXPECT_EQ(ids.back(), "60");
}

// A stream that starts with history (since=) loads it on the large-answers thread, in turn, not on a worker
// thread: with one worker and that thread busy, the stream waits while status is answered at once, then gets
// its history, including what happened while it waited, and the live events after it.
TEST_F(ApiFollow, HistoryIsLoadedInTurnWithLargeAnswersNotOnAWorker) {
  options_.threads = 1;
  start();
  const uint64_t now = wall_clock_ns();
  backend_.push(make_event(1, now - 7200 * kSec, 1, "old"));
  backend_.push(make_event(2, now - 30 * kSec, 1, "recent"));
  backend_.edit([&] { backend_.doctor_doc = json{{"tmpfs", json::array()}}; });
  auto hold = backend_.hold_doctor_until_scope_ends();
  CurlAnswer doctor;
  std::thread slow([&] { doctor = get("/v1/doctor"); });
  ASSERT_TRUE(backend_.doctors_running(1));
  auto c = follow("&since=1h");
  ASSERT_TRUE(eventually([&] { return server_->stats().large_waiting == 1; })) << server_->stats().large_waiting;
  EXPECT_EQ(backend_.subscribers(), 0u);
  EXPECT_EQ(get("/v1/status").status, 200);
  backend_.push(make_event(3, now - 1 * kSec, 1, "meanwhile"));
  backend_.release_doctor();
  slow.join();
  EXPECT_EQ(doctor.status, 200) << doctor.err;
  EXPECT_EQ(next_event(*c)["id"], "2");
  EXPECT_EQ(next_event(*c)["id"], "3");
  ASSERT_TRUE(eventually([&] { return backend_.subscribers() == 1; }));
  backend_.push(make_event(4, now, 1, "live"));
  EXPECT_EQ(next_event(*c)["id"], "4");
  EXPECT_EQ(server_->stats().large_waiting, 0u);
}

TEST_F(ApiFollow, IdleStreamGetsKeepalivesAndStaysOpen) {
  start();
  auto c = follow("");
  ASSERT_TRUE(eventually([&] { return backend_.subscribers() == 1; }));
  // Longer than the 5 s connection timeout: keepalives keep the stream alive.
  std::string line;
  int empty_lines = 0;
  auto until = std::chrono::steady_clock::now() + 6s;
  while (std::chrono::steady_clock::now() < until) {
    if (c->read_line(&line, 1s) && line.empty()) empty_lines++;
  }
  EXPECT_GE(empty_lines, 5);
  backend_.push(make_event(9, wall_clock_ns(), 1, "late"));
  EXPECT_EQ(next_event(*c)["id"], "9");
}

TEST_F(ApiFollow, VanishedClientIsUnsubscribed) {
  start();
  {
    auto c = follow("");
    ASSERT_TRUE(eventually([&] { return backend_.subscribers() == 1; }));
  }  // curl killed
  EXPECT_TRUE(eventually([&] { return backend_.subscribers() == 0; }, 5s));
  EXPECT_TRUE(eventually([&] { return server_->stats().follow_active == 0; }, 5s));
}

TEST_F(ApiFollow, StalledClientIsDroppedWithoutBlockingThePusher) {
  start();
  int stalled = stalled_follower();
  ASSERT_GE(stalled, 0);
  ASSERT_TRUE(eventually([&] { return backend_.subscribers() == 1; }));

  // Others keep being served while the flood goes on.
  std::atomic<bool> flooding{true};
  std::atomic<int> served{0}, failed{0};
  std::thread other([&] {
    while (flooding) {
      if (get("/v1/status").status == 200)
        served++;
      else
        failed++;
    }
  });

  const uint64_t now = wall_clock_ns();
  json proto = make_event(0, now, 7, "flood");
  auto slowest = std::chrono::nanoseconds(0);
  auto t0 = std::chrono::steady_clock::now();
  for (uint64_t i = 1; i <= 100000; ++i) {
    proto["id"] = std::to_string(i);
    auto p0 = std::chrono::steady_clock::now();
    backend_.publish(proto);
    slowest = std::max(slowest, std::chrono::steady_clock::now() - p0);
  }
  auto total = std::chrono::steady_clock::now() - t0;
  std::this_thread::sleep_for(300ms);
  flooding = false;
  other.join();

  EXPECT_LT(total, 20s) << "pushing 100k events took "
                        << std::chrono::duration_cast<std::chrono::milliseconds>(total).count() << " ms";
  EXPECT_LT(slowest, 500ms) << "one push blocked for "
                            << std::chrono::duration_cast<std::chrono::milliseconds>(slowest).count() << " ms";
  EXPECT_GT(served.load(), 0);
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(server_->stats().follow_dropped, 1u);
  EXPECT_TRUE(eventually([&] { return backend_.subscribers() == 0; }, 10s));
  EXPECT_TRUE(eventually([&] { return server_->stats().follow_active == 0; }, 10s));
  // The stalled client finds its stream cut short: it ends without the last events.
  std::string rest = read_all(stalled, 5s);
  close(stalled);
  EXPECT_EQ(rest.find("\"id\":100000"), std::string::npos);
  EXPECT_EQ(get("/v1/status").status, 200);
}

TEST_F(ApiFollow, StopEndsStreamsAndUnsubscribes) {
  start();
  auto a = follow("");
  auto b = follow("&pid=1");
  ASSERT_TRUE(eventually([&] { return backend_.subscribers() == 2; }));
  auto t0 = std::chrono::steady_clock::now();
  server_->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
  EXPECT_EQ(backend_.subscribers(), 0u);
  EXPECT_EQ(server_->stats().follow_active, 0u);
  // curl sees the end of the stream and exits.
  Finished fa = a->wait(5s);
  EXPECT_EQ(fa.exit_code, 0) << fa.err;
  EXPECT_NE(access(socket_path_.c_str(), F_OK), 0) << "socket removed by stop()";
}

}  // namespace
}  // namespace enospcd::api::testing
