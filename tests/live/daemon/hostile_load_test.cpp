// The daemon as deployed, under everything a member of its group can do to the API with a script, all at once
// for a bounded time: connections held with half a request line (more than one user's share), large answers
// asked for and never read, follow streams with a day of backlog never read, and a stream of malformed and
// hostile requests. Meanwhile root's questions are answered every time; afterwards the daemon's memory and
// descriptors are back near idle, nothing hung, and it still counts failures.
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "live/daemon/daemon_harness.h"
#include "support/live.h"

namespace enospcd::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

// Reads until the server closes or `timeout` passes without a byte; true when it closed (answered or refused).
bool read_until_closed(int fd, std::chrono::milliseconds timeout) {
  char buf[65536];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return false;
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) return true;
  }
}

// A child that drops to `uid` in the daemon's group and runs `attack` until killed; the attack's exit code is
// the child's.
pid_t attacker(uid_t uid, gid_t gid, const std::function<int()>& attack) {
  pid_t pid = fork();
  if (pid != 0) return pid;
  if (setgroups(1, &gid) != 0 || setresgid(gid, gid, gid) != 0 || setresuid(uid, uid, uid) != 0) _exit(90);
  signal(SIGPIPE, SIG_IGN);
  _exit(attack());
}

TEST(HostileLoad, AGroupMembersScriptCannotStopTheApiOrGrowTheDaemon) {
  ENOSPCD_REQUIRE_ROOT();
  const gid_t gid = unused_gid(47100);
  TmpfsMount mnt("nr_inodes=2");
  ASSERT_TRUE(mnt.ok());
  RunningDaemon d({"--group", std::to_string(gid), "--rate-limit", "1000000", "--rate-burst", "1000000"});
  ASSERT_TRUE(d.ready()) << d.proc->stderr_text();
  // Others may traverse the test's directory; the socket's own directory and mode decide who gets in.
  chmod(d.dir.path().c_str(), 0711);
  run({"touch", mnt.path() + "/only"});
  const uint64_t stored = fill_with_events(d, mnt.path() + "/hostile-" + std::string(120, 'h'), 2000);
  ASSERT_GE(stored, 1500u) << d.get("/v1/status").dump();
  const pid_t daemon = d.proc->pid();
  d.get("/v1/events?limit=10000");
  std::this_thread::sleep_for(1s);  // what that answer took is given back within a tick
  const uint64_t idle_rss = rss_kib(daemon);
  const int idle_fds = open_fds(daemon);
  const std::string sock = d.sock;

  std::vector<pid_t> attackers;
  // 40 connections that send half a request line and go silent (one user's share is 32).
  attackers.push_back(attacker(65534, gid, [&] {
    std::vector<int> fds;
    for (int i = 0; i < 40; i++) {
      int fd = connect_unix(sock);
      if (fd >= 0) send_all(fd, "GET /v1/st"), fds.push_back(fd);
    }
    pause();
    return 0;
  }));
  // Large answers asked for and never read, asked for again as soon as one is refused.
  attackers.push_back(attacker(65533, gid, [&]() -> int {
    for (;;) {
      int fd = connect_unix(sock);
      if (fd < 0) continue;
      send_all(fd, "GET /v1/events?limit=10000 HTTP/1.1\r\nHost: x\r\n\r\n");
      std::this_thread::sleep_for(50ms);  // held open: the descriptor is never closed
    }
  }));
  // Follow streams that start with a day of backlog and are never read.
  attackers.push_back(attacker(65532, gid, [&] {
    for (int i = 0; i < 30; i++) {
      int fd = connect_unix(sock);
      if (fd >= 0) send_all(fd, "GET /v1/events?follow=1&since=24h&limit=10000 HTTP/1.1\r\nHost: x\r\n\r\n");
    }
    pause();
    return 0;
  }));
  // Malformed and hostile requests, one connection each: every one is answered or closed, none hangs. The exit
  // code is the number of connections that hung (capped).
  attackers.push_back(attacker(65531, gid, [&] {
    const std::vector<std::string> requests = {
        "GET /v1/events?since=2600-01-01T00:00:00Z HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /v1/events?since=1h1h&until=2024-01-01T00:00:00Z HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /v1/status%00x HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /v1/events?comm=%1b%5d0%3bPWNED%07 HTTP/1.1\r\nHost: x\r\n\r\n",
        "POST /v1/reset HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
        "GET /v1/events?limit=99999999999999999999 HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /v1/events/" + std::string(5000, '9') + " HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /" + std::string(20000, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n",
        "BREW /v1/status HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /v1/status HTTP/9.9\r\n\r\n",
        "GET /v1/status HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nffffffffff\r\n",
    };
    std::mt19937 rng(42);
    int hung = 0;
    for (int i = 0; i < 400; i++) {
      int fd = connect_unix(sock);
      if (fd < 0) continue;
      std::string req;
      if (i % 4 == 3) {
        req.resize(1 + rng() % 2048);
        for (auto& c : req) c = static_cast<char>(rng());
        req += "\r\n\r\n";
      } else {
        req = requests[rng() % requests.size()];
      }
      send_all(fd, req);
      shutdown(fd, SHUT_WR);
      // Well short of the 30 s inactivity timeout that ends a request the server waits on.
      if (!read_until_closed(fd, 15s)) hung++;
      close(fd);
    }
    return std::min(hung, 100);
  }));
  for (pid_t p : attackers) ASSERT_GT(p, 0);

  // Root asks every 100 ms while the attack goes on.
  int asked = 0, answered = 0;
  uint64_t peak_rss = 0;
  std::chrono::steady_clock::duration slowest{};
  std::string last_failure;
  const auto end = std::chrono::steady_clock::now() + 8s;
  while (std::chrono::steady_clock::now() < end) {
    const auto asked_at = std::chrono::steady_clock::now();
    auto r = run({"curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5", "--unix-socket", sock,
                  "http://localhost/v1/status"});
    asked++;
    slowest = std::max(slowest, std::chrono::steady_clock::now() - asked_at);
    if (r.out == "200") answered++;
    else last_failure = r.out;
    peak_rss = std::max(peak_rss, rss_kib(daemon));
    std::this_thread::sleep_for(100ms);
  }
  // The malformed-request attacker ends by itself; the others are stopped.
  int malformed_status = -1;
  int st = 0;
  for (size_t i = 0; i + 1 < attackers.size(); i++) kill(attackers[i], SIGKILL);
  for (size_t i = 0; i < attackers.size(); i++) {
    waitpid(attackers[i], &st, 0);
    if (i + 1 == attackers.size()) malformed_status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  }
  EXPECT_EQ(answered, asked) << "root's last refused question: " << last_failure;
  EXPECT_EQ(malformed_status, 0) << "requests neither answered nor closed within 15 s (or the attacker failed)";

  // The attackers are gone: their connections, streams and answers go with them.
  bool settled = false;
  for (int i = 0; i < 100 && !settled; i++) {
    std::this_thread::sleep_for(100ms);
    // Counted while no request of the test's own is in flight.
    const bool fds_back = open_fds(daemon) <= idle_fds;
    json s = d.get("/v1/status");
    settled = fds_back && s["api"].value("follow_streams", 1) == 0 && s["api"].value("large_answers_waiting", 1) == 0;
  }
  std::this_thread::sleep_for(1s);  // a tick of the server gives what they held back to the system
  const uint64_t after_rss = rss_kib(daemon);
  std::printf("hostile load: root answered %d/%d, the slowest in %lld ms; RSS idle %llu KiB, peak %llu KiB, after %llu KiB; fds idle %d, "
              "after %d\n",
              answered, asked,
              static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(slowest).count()),
              static_cast<unsigned long long>(idle_rss), static_cast<unsigned long long>(peak_rss),
              static_cast<unsigned long long>(after_rss), idle_fds, open_fds(daemon));
  EXPECT_TRUE(settled) << d.get("/v1/status")["api"].dump() << " fds " << open_fds(daemon) << " (idle " << idle_fds
                       << ")";
  // Bounded while it lasted: the 64 MiB that unread answers may hold, the 32 MiB of follow backlogs, and room
  // for the answer being built and the allocator's own overhead.
  if (kRssIsMeaningful) {
    EXPECT_LT(peak_rss, idle_rss + (64 + 32 + 64) * 1024);
    EXPECT_LT(after_rss, idle_rss + 16 * 1024);
  }
  json status = d.get("/v1/status");
  EXPECT_GT(status["api"].value("connections_refused", 0), 0) << status["api"].dump();
  // Still counting: a failure after the attack is an event like any other.
  EXPECT_NE(run({"touch", mnt.path() + "/after"}).exit_code, 0);
  bool seen = false;
  for (int i = 0; i < 50 && !seen; i++) {
    std::this_thread::sleep_for(50ms);
    json touches = d.get("/v1/events?comm=touch&limit=10");
    for (const auto& e : touches["events"]) seen |= e["path"] == mnt.path() + "/after";
  }
  EXPECT_TRUE(seen);
  EXPECT_EQ(d.proc->stop(SIGTERM, 3000ms), 0);
}

}  // namespace
}  // namespace enospcd::testing
