#include "api/socket.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include <gtest/gtest.h>

#include "support/temp_dir.h"

namespace enospcd::api {
namespace {

TEST(ApiAccessFor, RootOwnerMembersAndOthers) {
  AccessPolicy policy{/*owner_uid=*/1500, /*read_gid=*/4242, "enospc"};
  EXPECT_EQ(access_for(Peer{1, 0, 0, {}}, policy), Access::admin);
  EXPECT_EQ(access_for(Peer{1, 1500, 1500, {}}, policy), Access::admin);
  EXPECT_EQ(access_for(Peer{1, 1000, 4242, {}}, policy), Access::read);
  EXPECT_EQ(access_for(Peer{1, 1000, 1000, {27, 4242}}, policy), Access::read);
  EXPECT_EQ(access_for(Peer{1, 1000, 1000, {27, 100}}, policy), Access::none);
  EXPECT_EQ(access_for(Peer{1, 65534, 65534, {}}, policy), Access::none);
  AccessPolicy root_only{0, std::nullopt, ""};
  EXPECT_EQ(access_for(Peer{1, 1000, 4242, {4242}}, root_only), Access::none);
  EXPECT_EQ(access_for(Peer{1, 0, 0, {}}, root_only), Access::admin);
}

TEST(ApiResolveGroup, NamesNumbersAndMissing) {
  GroupChoice none = resolve_group("");
  EXPECT_FALSE(none.gid);
  EXPECT_FALSE(none.missing);
  GroupChoice root = resolve_group("root");
  EXPECT_EQ(root.gid, 0u);
  GroupChoice numeric = resolve_group("0");
  ASSERT_TRUE(numeric.gid);
  EXPECT_EQ(numeric.name, "root");
  GroupChoice unnamed = resolve_group("4242");
  EXPECT_EQ(unnamed.gid, 4242u);
  GroupChoice missing = resolve_group("no-such-group-enospcd-test");
  EXPECT_FALSE(missing.gid);
  EXPECT_TRUE(missing.missing);
}

TEST(ApiLoopbackAddress, AcceptsLoopbackOnly) {
  auto v4 = parse_loopback_address("127.0.0.1:9633");
  ASSERT_TRUE(v4) << v4.error().message;
  EXPECT_EQ(v4->port, 9633);
  EXPECT_TRUE(parse_loopback_address("127.3.2.1:0"));
  EXPECT_EQ(parse_loopback_address("localhost:80")->host, "127.0.0.1");
  auto v6 = parse_loopback_address("[::1]:9633");
  ASSERT_TRUE(v6) << v6.error().message;
  EXPECT_EQ(v6->host, "::1");

  for (const char* bad : {"0.0.0.0:9633", "10.1.2.3:9633", "[::]:9633", "192.168.0.1:1"}) {
    auto r = parse_loopback_address(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().message.find("not a loopback address"), std::string::npos) << r.error().message;
  }
  for (const char* bad : {"127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "::1:9633", "[::1]9633", "host:1", ":9633"}) {
    EXPECT_FALSE(parse_loopback_address(bad)) << bad;
  }
}

// The DaemonSet's --metrics-listen=[$(POD_IP)]:9633: the brackets hold a pod address of either family, so one
// manifest serves IPv4, IPv6 and dual-stack clusters.
TEST(ApiLoopbackAddress, BracketsHoldAPodAddressOfEitherFamily) {
  auto v4 = parse_loopback_address("[10.244.1.7]:9633", true);
  ASSERT_TRUE(v4) << v4.error().message;
  EXPECT_EQ(v4->family, AF_INET);
  EXPECT_EQ(v4->host, "10.244.1.7");
  auto v6 = parse_loopback_address("[fd00:10:244:1::7]:9633", true);
  ASSERT_TRUE(v6) << v6.error().message;
  EXPECT_EQ(v6->family, AF_INET6);
  EXPECT_EQ(v6->port, 9633);
  // Without brackets an IPv6 pod address is ambiguous and refused with the fix in the message.
  auto bare = parse_loopback_address("fd00:10:244:1::7:9633", true);
  ASSERT_FALSE(bare);
  EXPECT_NE(bare.error().message.find("brackets"), std::string::npos) << bare.error().message;
  EXPECT_FALSE(parse_loopback_address("[]:9633", true));
}

class ApiSocketDir : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(tmp_.path().empty());
    root_ = tmp_.path();
    path_ = root_ + "/run/api.sock";
  }

  // A socket file that nobody listens on, as a crashed daemon leaves behind.
  void make_stale(const std::string& path) {
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::strcpy(sa.sun_path, path.c_str());
    ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0) << strerror(errno);
    close(fd);
  }

  enospcd::testing::TempDir tmp_;
  std::string root_, path_;
};

TEST_F(ApiSocketDir, CreatesPrivateModesWithoutGroup) {
  auto s = ListenSocket::bind_unix(path_, std::nullopt);
  ASSERT_TRUE(s) << s.error().message;
  struct stat st{};
  ASSERT_EQ(stat((root_ + "/run").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  ASSERT_EQ(lstat(path_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // Nothing but the socket and its lock is left in the directory.
  size_t entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(root_ + "/run")) {
    ++entries;
    EXPECT_TRUE(e.path().filename() == "api.sock" || e.path().filename() == "api.sock.lock") << e.path();
  }
  EXPECT_EQ(entries, 2u);
  s->close();
  EXPECT_NE(access(path_.c_str(), F_OK), 0) << "socket removed on close";
}

TEST_F(ApiSocketDir, ReplacesStaleSocket) {
  ASSERT_EQ(mkdir((root_ + "/run").c_str(), 0700), 0);
  make_stale(path_);
  struct stat before{};
  ASSERT_EQ(lstat(path_.c_str(), &before), 0);
  auto s = ListenSocket::bind_unix(path_, std::nullopt);
  ASSERT_TRUE(s) << s.error().message;
  struct stat after{};
  ASSERT_EQ(lstat(path_.c_str(), &after), 0);
  EXPECT_NE(before.st_ino, after.st_ino);
}

TEST_F(ApiSocketDir, RefusesLiveSocketAndNonSockets) {
  auto first = ListenSocket::bind_unix(path_, std::nullopt);
  ASSERT_TRUE(first) << first.error().message;
  auto second = ListenSocket::bind_unix(path_, std::nullopt);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().message, "another enospcd is serving " + path_);
  first->close();

  std::string file = root_ + "/run/file.sock";
  FILE* f = fopen(file.c_str(), "w");
  ASSERT_NE(f, nullptr);
  fclose(f);
  auto third = ListenSocket::bind_unix(file, std::nullopt);
  ASSERT_FALSE(third);
  EXPECT_NE(third.error().message.find("not a socket"), std::string::npos) << third.error().message;
}

TEST_F(ApiSocketDir, LeavesSharedDirectoriesAlone) {
  // A directory with unrelated content is not ours: its mode must not change.
  ASSERT_EQ(mkdir((root_ + "/shared").c_str(), 0755), 0);
  FILE* f = fopen((root_ + "/shared/other").c_str(), "w");
  ASSERT_NE(f, nullptr);
  fclose(f);
  auto s = ListenSocket::bind_unix(root_ + "/shared/api.sock", std::nullopt);
  ASSERT_TRUE(s) << s.error().message;
  struct stat st{};
  ASSERT_EQ(stat((root_ + "/shared").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0755u);
}

// Another user who could rename entries in any directory on the way could move the socket away and serve a
// fake one in its place; root's clients would then read the fake's answers.
TEST_F(ApiSocketDir, RefusesADirectoryAnotherUserCanChange) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to give a directory to another user";
  std::string foreign = root_ + "/user";
  ASSERT_EQ(mkdir(foreign.c_str(), 0755), 0);
  ASSERT_EQ(chown(foreign.c_str(), 4321, 4321), 0);
  for (const std::string& path : {foreign + "/api.sock", foreign + "/run/api.sock", foreign + "/./run/api.sock"}) {
    auto s = ListenSocket::bind_unix(path, std::nullopt);
    ASSERT_FALSE(s) << path;
    EXPECT_EQ(s.error().message, "refusing to serve the API at " + path + ": " + foreign +
                                     " is owned by uid 4321, not by root: that user could replace what is in it");
  }
  // Neither chowned to root nor given a directory.
  struct stat st{};
  ASSERT_EQ(stat(foreign.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 4321u);
  EXPECT_EQ(st.st_mode & 07777, 0755u);
  EXPECT_FALSE(std::filesystem::exists(foreign + "/run"));
  // A symlink of that user's to a directory of root's.
  ASSERT_EQ(mkdir((root_ + "/private").c_str(), 0700), 0);
  ASSERT_EQ(symlink((root_ + "/private").c_str(), (foreign + "/link").c_str()), 0);
  EXPECT_FALSE(ListenSocket::bind_unix(foreign + "/link/api.sock", std::nullopt));
  // A lock file another user made (in a directory root let it write to once).
  ASSERT_EQ(mkdir((root_ + "/run").c_str(), 0700), 0);
  int lf = creat((root_ + "/run/api.sock.lock").c_str(), 0644);
  ASSERT_GE(lf, 0);
  ASSERT_EQ(fchown(lf, 4321, 4321), 0);
  close(lf);
  auto locked = ListenSocket::bind_unix(path_, std::nullopt);
  ASSERT_FALSE(locked);
  EXPECT_NE(locked.error().message.find("owner uid 4321"), std::string::npos) << locked.error().message;
}

TEST_F(ApiSocketDir, RefusesADirectoryWritableByOthers) {
  ASSERT_EQ(mkdir((root_ + "/open").c_str(), 0777), 0);
  ASSERT_EQ(chmod((root_ + "/open").c_str(), 0777), 0);
  auto s = ListenSocket::bind_unix(root_ + "/open/run/api.sock", std::nullopt);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find(root_ + "/open is writable by everyone"), std::string::npos) << s.error().message;
  EXPECT_FALSE(std::filesystem::exists(root_ + "/open/run"));
}

// A second daemon started on the same socket by mistake fails, and leaves the first one's directory as it was
// (its group keeps access).
TEST_F(ApiSocketDir, FailedSecondStartLeavesTheDirectoryAlone) {
  auto first = ListenSocket::bind_unix(path_, gid_t{4242});
  ASSERT_TRUE(first) << first.error().message;
  struct stat before{};
  ASSERT_EQ(stat((root_ + "/run").c_str(), &before), 0);
  EXPECT_EQ(before.st_mode & 07777, 0710u);
  auto second = ListenSocket::bind_unix(path_, std::nullopt);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().message, "another enospcd is serving " + path_);
  struct stat after{};
  ASSERT_EQ(stat((root_ + "/run").c_str(), &after), 0);
  EXPECT_EQ(after.st_mode & 07777, 0710u);
  EXPECT_EQ(after.st_gid, before.st_gid);
  EXPECT_EQ(after.st_uid, before.st_uid);
}

TEST_F(ApiSocketDir, RefusesTooLongPath) {
  auto s = ListenSocket::bind_unix(root_ + "/" + std::string(120, 'x'), std::nullopt);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("too long"), std::string::npos);
}

TEST(ApiSystemdActivation, AbsentOrForAnotherProcess) {
  unsetenv("LISTEN_PID");
  unsetenv("LISTEN_FDS");
  auto none = ListenSocket::from_systemd();
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none);
  setenv("LISTEN_PID", "1", 1);
  setenv("LISTEN_FDS", "1", 1);
  auto other = ListenSocket::from_systemd();
  ASSERT_TRUE(other);
  EXPECT_FALSE(*other);
  EXPECT_NE(getenv("LISTEN_PID"), nullptr) << "variables meant for another process stay";
  unsetenv("LISTEN_PID");
  unsetenv("LISTEN_FDS");
}

}  // namespace
TEST(MetricsAddress, RemoteOnlyWhenAllowed) {
  EXPECT_FALSE(parse_loopback_address("10.1.2.3:9633"));
  auto r = parse_loopback_address("10.1.2.3:9633", true);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->host, "10.1.2.3");
  EXPECT_TRUE(parse_loopback_address("[fd00::5]:9633", true));
  EXPECT_FALSE(parse_loopback_address("not-an-ip:9633", true));
}

}  // namespace enospcd::api
