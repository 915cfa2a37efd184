#pragma once
// A real Server on a temporary socket with a FakeBackend, and clients to poke it: curl, raw sockets.

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "api/server.h"
#include "support/live.h"
#include "support/temp_dir.h"
#include "live/api/process.h"
#include "unit/api/fake_backend.h"

namespace enospcd::api::testing {

struct CurlAnswer {
  int curl_exit = -1;
  int status = 0;
  std::string body;
  std::string headers;
  std::string err;
};

// Raw sockets for requests curl cannot make (half sent, never read); shared with the daemon's live tests.
using enospcd::testing::connect_unix;
using enospcd::testing::read_all;
using enospcd::testing::send_all;

// One raw HTTP exchange; the server closes after answering (Connection: close).
inline std::string raw_exchange(const std::string& path, const std::string& request) {
  int fd = connect_unix(path);
  if (fd < 0) return "";
  send_all(fd, request);
  std::string answer = read_all(fd);
  close(fd);
  return answer;
}

class ServerFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(tmp_.path().empty());
    dir_ = tmp_.path();
    // curl may run as another user (setpriv): give it somewhere to write headers.
    out_dir_ = dir_ + "/out";
    ASSERT_EQ(mkdir(out_dir_.c_str(), 0777), 0);
    chmod(out_dir_.c_str(), 01777);
    socket_path_ = dir_ + "/run/enospcd.sock";
    options_.socket_path = socket_path_;
    options_.group = "";
    options_.socket_activation = false;
    options_.connection_timeout = std::chrono::seconds(5);
    options_.follow_keepalive = std::chrono::milliseconds(300);
  }

  void TearDown() override { server_.reset(); }

  void start() {
    server_ = std::make_unique<Server>(options_, backend_);
    auto r = server_->start();
    ASSERT_TRUE(r) << r.error().message;
  }

  std::vector<std::string> curl_argv(const std::vector<std::string>& args) const {
    std::vector<std::string> argv{"curl", "-sS", "--max-time", "20", "--unix-socket", socket_path_,
                                  "-D", out_dir_ + "/headers." + std::to_string(counter_++), "-w", "\n%{http_code}"};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }

  // curl with the given extra arguments; the last one is usually the URL.
  CurlAnswer curl(const std::vector<std::string>& args, const std::vector<std::string>& prefix = {}) const {
    std::vector<std::string> argv = prefix;
    size_t headers_index = counter_;
    auto c = curl_argv(args);
    argv.insert(argv.end(), c.begin(), c.end());
    Finished f = run(argv);
    CurlAnswer a;
    a.curl_exit = f.exit_code;
    a.err = f.err;
    size_t nl = f.out.rfind('\n');
    if (nl != std::string::npos) {
      a.status = std::atoi(f.out.c_str() + nl + 1);
      a.body = f.out.substr(0, nl);
    }
    std::string hpath = out_dir_ + "/headers." + std::to_string(headers_index);
    if (FILE* h = fopen(hpath.c_str(), "r")) {
      char buf[4096];
      size_t n;
      while ((n = fread(buf, 1, sizeof buf, h)) > 0) a.headers.append(buf, n);
      fclose(h);
      unlink(hpath.c_str());
    }
    return a;
  }

  CurlAnswer get(const std::string& target) const { return curl({"http://localhost" + target}); }

  enospcd::testing::TempDir tmp_;  // first: removed after the server is gone
  std::string dir_;
  std::string out_dir_;
  std::string socket_path_;
  ServerOptions options_;
  FakeBackend backend_;
  std::unique_ptr<Server> server_;
  mutable size_t counter_ = 0;
};

}  // namespace enospcd::api::testing
