// Who may talk to the socket: file modes, SO_PEERCRED, the group; and how the socket comes to be: race-free
// creation, stale sockets, a second daemon, systemd socket activation, the loopback metrics port.

#include <fcntl.h>
#include <signal.h>
#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "live/api/harness.h"
#include "support/live.h"

namespace enospcd::api::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

std::vector<std::string> as_user(uid_t uid, gid_t gid, const std::string& groups = "") {
  std::vector<std::string> v{"setpriv", "--reuid=" + std::to_string(uid), "--regid=" + std::to_string(gid)};
  if (groups.empty())
    v.push_back("--clear-groups");
  else
    v.push_back("--groups=" + groups);
  return v;
}

class ApiAccess : public ServerFixture {
 protected:
  void SetUp() override {
    ServerFixture::SetUp();
    if (geteuid() != 0) GTEST_SKIP() << "needs root: chown to root:<group> and running curl as other users";
    if (access("/usr/bin/setpriv", X_OK) != 0) GTEST_SKIP() << "needs setpriv (util-linux)";
    gid_ = enospcd::testing::unused_gid(47000);
    options_.group = std::to_string(gid_);
    // Let other users traverse the test's private temp dir; the socket's own directory still decides.
    chmod(dir_.c_str(), 0711);
  }
  gid_t gid_ = 0;
};

TEST_F(ApiAccess, SocketAndDirectoryModes) {
  start();
  struct stat st{};
  ASSERT_EQ(stat((dir_ + "/run").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0710u);
  EXPECT_EQ(st.st_uid, 0u);
  EXPECT_EQ(st.st_gid, gid_);
  ASSERT_EQ(lstat(socket_path_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0660u);
  EXPECT_EQ(st.st_uid, 0u);
  EXPECT_EQ(st.st_gid, gid_);
}

TEST_F(ApiAccess, FileModeKeepsOutsidersAway) {
  start();
  CurlAnswer a = curl({"http://localhost/v1/status"}, as_user(65534, 65534));
  EXPECT_EQ(a.curl_exit, 7) << "curl should fail to connect: " << a.err << a.body;
  EXPECT_EQ(server_->stats().requests, 0u);
}

TEST_F(ApiAccess, PeerCredRefusesOutsidersWith403) {
  start();
  // Test-only: open the file modes so that only the SO_PEERCRED check stands in the way.
  ASSERT_EQ(chmod((dir_ + "/run").c_str(), 0711), 0);
  ASSERT_EQ(chmod(socket_path_.c_str(), 0666), 0);
  for (const char* target : {"/v1/status", "/v1/events", "/metrics", "/v2/nope"}) {
    CurlAnswer a = curl({std::string("http://localhost") + target}, as_user(65534, 65534));
    ASSERT_EQ(a.curl_exit, 0) << a.err;
    EXPECT_EQ(a.status, 403) << target << ": " << a.body;
    json j = json::parse(a.body, nullptr, false);
    EXPECT_EQ(j["status"], 403);
    EXPECT_NE(j["error"].get<std::string>().find("uid 65534 is not root and not a member of group"),
              std::string::npos)
        << a.body;
  }
  CurlAnswer post = curl({"-X", "POST", "http://localhost/v1/reset"}, as_user(65534, 65534));
  EXPECT_EQ(post.status, 403);
  EXPECT_EQ(backend_.reset_calls, 0);
  EXPECT_EQ(server_->stats().denied, 5u);
}

TEST_F(ApiAccess, GroupMembersReadButMayNotReset) {
  start();
  // Primary group...
  CurlAnswer a = curl({"http://localhost/v1/status"}, as_user(65534, gid_));
  ASSERT_EQ(a.curl_exit, 0) << a.err;
  EXPECT_EQ(a.status, 200) << a.body;
  // ...or supplementary group.
  CurlAnswer b = curl({"http://localhost/v1/events"}, as_user(65534, 65534, std::to_string(gid_)));
  ASSERT_EQ(b.curl_exit, 0) << b.err;
  EXPECT_EQ(b.status, 200) << b.body;

  CurlAnswer post = curl({"-X", "POST", "http://localhost/v1/reset"}, as_user(65534, gid_));
  EXPECT_EQ(post.status, 403) << post.body;
  EXPECT_NE(post.body.find("POST /v1/reset changes state and is reserved to root"), std::string::npos) << post.body;
  EXPECT_EQ(backend_.reset_calls, 0);

  CurlAnswer root = curl({"-X", "POST", "http://localhost/v1/reset"});
  EXPECT_EQ(root.status, 200) << root.body;
  EXPECT_EQ(backend_.reset_calls, 1);
}

TEST_F(ApiAccess, MissingGroupMeansRootOnly) {
  options_.group = "no-such-group-enospcd-test";
  start();
  struct stat st{};
  ASSERT_EQ(lstat(socket_path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  ASSERT_EQ(stat((dir_ + "/run").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  EXPECT_EQ(get("/v1/status").status, 200);
}

// A child running as `uid` (in the API's group) that opens `n` connections, sends each an unfinished request
// line and then stays silent until killed. Returns its pid.
pid_t silent_clients(const std::string& socket_path, uid_t uid, gid_t gid, int n) {
  pid_t pid = fork();
  if (pid != 0) return pid;
  if (setgroups(0, nullptr) != 0 || setgid(gid) != 0 || setuid(uid) != 0) _exit(1);
  for (int i = 0; i < n; ++i) {
    int fd = connect_unix(socket_path);
    if (fd >= 0) send_all(fd, "GET /v1/sta");
  }
  for (;;) pause();
}

// Silent clients of one group member take their share of connections, no more: the member's further
// connections are closed at once, root's and another member's requests are answered at once.
TEST_F(ApiAccess, SilentClientsOfOneUserCannotLockOthersOut) {
  options_.connection_limit = 16;
  options_.per_uid_connections = 4;
  options_.root_reserved_connections = 4;
  options_.threads = 1;
  options_.connection_timeout = std::chrono::seconds(20);
  start();
  pid_t attacker = silent_clients(socket_path_, 65534, gid_, 40);
  ASSERT_GT(attacker, 0);
  for (int i = 0; i < 500 && server_->stats().connections_refused < 36; i++) std::this_thread::sleep_for(20ms);
  EXPECT_EQ(server_->stats().connections_refused, 36u);
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(get("/v1/status").status, 200);
  CurlAnswer other = curl({"http://localhost/v1/status"}, as_user(65533, gid_));
  EXPECT_EQ(other.status, 200) << other.body;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
  kill(attacker, SIGKILL);
  waitpid(attacker, nullptr, 0);
}

#ifdef ENOSPCCTL_PATH
TEST_F(ApiAccess, EnospcctlExplainsPermissionDenied) {
  start();
  std::vector<std::string> argv = as_user(65534, 65534);
  argv.insert(argv.end(), {ENOSPCCTL_PATH, "--socket", socket_path_, "status"});
  Finished f = run(argv);
  EXPECT_EQ(f.exit_code, 1);
  EXPECT_EQ(f.out, "");
  EXPECT_EQ(f.err, "permission denied on " + socket_path_ + ": run as root or as a member of group '" +
                       std::to_string(gid_) + "'\n");
}
#endif

// The socket's life cycle does not need root.
class ApiLifecycle : public ServerFixture {};

void make_stale(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::strncpy(sa.sun_path, path.c_str(), sizeof sa.sun_path - 1);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0) << strerror(errno);
  close(fd);
}

TEST_F(ApiLifecycle, StaleSocketIsReplaced) {
  ASSERT_EQ(mkdir((dir_ + "/run").c_str(), 0700), 0);
  make_stale(socket_path_);
  ASSERT_NE(connect_unix(socket_path_), 0) << "precondition: nothing listens";
  start();
  EXPECT_EQ(get("/v1/status").status, 200);
}

TEST_F(ApiLifecycle, SecondServerOnALivePathIsRefused) {
  start();
  FakeBackend other_backend;
  Server second(options_, other_backend);
  auto r = second.start();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "another enospcd is serving " + socket_path_);
  // The first one is untouched.
  EXPECT_EQ(get("/v1/status").status, 200);
  server_->stop();
  EXPECT_TRUE(second.start()) << "free again once the first one stopped";
  EXPECT_EQ(get("/healthz").status, 200);
}

TEST_F(ApiLifecycle, ForeignListenerOnThePathIsRefused) {
  // Something that does not hold our lock but accepts connections, e.g. an older daemon.
  ASSERT_EQ(mkdir((dir_ + "/run").c_str(), 0700), 0);
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::strncpy(sa.sun_path, socket_path_.c_str(), sizeof sa.sun_path - 1);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  ASSERT_EQ(listen(fd, 4), 0);
  Server server(options_, backend_);
  auto r = server.start();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "another enospcd is serving " + socket_path_);
  EXPECT_EQ(access(socket_path_.c_str(), F_OK), 0) << "the live socket must stay";
  close(fd);
}

TEST_F(ApiLifecycle, SystemdSocketActivation) {
  std::string act = dir_ + "/activated.sock";
  // Put the socket on fd 3 as systemd would, keeping whatever the test process had there.
  int saved = fcntl(3, F_DUPFD_CLOEXEC, 10);
  int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::strncpy(sa.sun_path, act.c_str(), sizeof sa.sun_path - 1);
  ASSERT_EQ(bind(lfd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  ASSERT_EQ(listen(lfd, 16), 0);
  if (lfd != 3) {
    ASSERT_EQ(dup2(lfd, 3), 3);
    close(lfd);
  }
  setenv("LISTEN_PID", std::to_string(getpid()).c_str(), 1);
  setenv("LISTEN_FDS", "1", 1);
  setenv("LISTEN_FDNAMES", "api", 1);

  options_.socket_activation = true;
  start();
  EXPECT_TRUE(server_->socket_activated());
  EXPECT_EQ(server_->socket_path(), act);
  EXPECT_EQ(getenv("LISTEN_PID"), nullptr);
  EXPECT_EQ(getenv("LISTEN_FDS"), nullptr);
  EXPECT_NE(access(socket_path_.c_str(), F_OK), 0) << "no socket of its own";

  CurlAnswer a = curl({"--unix-socket", act, "http://localhost/v1/status"});
  EXPECT_EQ(a.status, 200) << a.err;
  EXPECT_EQ(json::parse(a.body)["api"]["socket_activated"], true);
  server_->stop();
  EXPECT_EQ(fcntl(3, F_GETFD), -1) << "fd 3 closed with the server";
  if (saved >= 0) {
    dup2(saved, 3);
    close(saved);
  }
}

TEST_F(ApiLifecycle, MetricsOnLoopbackTcp) {
  options_.metrics_listen = "127.0.0.1:0";
  start();
  uint16_t port = server_->metrics_port();
  ASSERT_GT(port, 0);
  std::string base = "http://127.0.0.1:" + std::to_string(port);
  Finished m = run({"curl", "-sS", "-i", base + "/metrics"});
  EXPECT_EQ(m.exit_code, 0) << m.err;
  EXPECT_NE(m.out.find("HTTP/1.1 200"), std::string::npos) << m.out;
  EXPECT_NE(m.out.find("Content-Type: text/plain; version=0.0.4"), std::string::npos) << m.out;
  EXPECT_NE(m.out.find("enospcd_events_total 0"), std::string::npos) << m.out;
  Finished h = run({"curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", base + "/healthz"});
  EXPECT_EQ(h.out, "200");
  Finished s = run({"curl", "-sS", base + "/v1/status"});
  EXPECT_NE(s.out.find("\"status\":404"), std::string::npos) << s.out;
  EXPECT_NE(s.out.find("serves /metrics and /healthz only"), std::string::npos) << s.out;
  Finished p = run({"curl", "-sS", "-X", "POST", base + "/metrics"});
  EXPECT_NE(p.out.find("\"status\":405"), std::string::npos) << p.out;
  EXPECT_EQ(json::parse(get("/v1/status").body)["api"]["metrics_listen"], "127.0.0.1:" + std::to_string(port));
}

TEST_F(ApiLifecycle, MetricsRefusesNonLoopback) {
  for (const char* addr : {"0.0.0.0:9633", "[::]:9633", "192.0.2.1:9633"}) {
    options_.metrics_listen = addr;
    Server server(options_, backend_);
    auto r = server.start();
    ASSERT_FALSE(r) << addr;
    EXPECT_NE(r.error().message.find("is not a loopback address"), std::string::npos) << r.error().message;
    EXPECT_NE(access(socket_path_.c_str(), F_OK), 0) << "nothing left behind";
  }
}

TEST_F(ApiLifecycle, BadOptionsAreRefused) {
  options_.follow_keepalive = std::chrono::seconds(10);  // not shorter than the 5 s connection timeout
  Server server(options_, backend_);
  auto r = server.start();
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("keepalive"), std::string::npos);
}

}  // namespace
}  // namespace enospcd::api::testing
