#pragma once
// Running real programs (curl, setpriv, enospcctl) from the live API tests.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace enospcd::api::testing {

struct Finished {
  int exit_code = -1;  // -1 when killed by a signal or timed out
  std::string out;
  std::string err;
};

// A child process with stdout and stderr on pipes.
class Child {
 public:
  explicit Child(const std::vector<std::string>& argv, const std::vector<std::string>& env = {}) {
    int out[2], err[2];
    if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(out[1], 1);
      dup2(err[1], 2);
      int devnull = open("/dev/null", O_RDONLY);
      dup2(devnull, 0);
      for (const auto& e : env) putenv(const_cast<char*>(e.c_str()));
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      execvp(args[0], args.data());
      _exit(127);
    }
    close(out[1]);
    close(err[1]);
    out_fd_ = out[0];
    err_fd_ = err[0];
  }
  ~Child() {
    if (pid_ > 0 && !reaped_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (out_fd_ >= 0) close(out_fd_);
    if (err_fd_ >= 0) close(err_fd_);
  }

  pid_t pid() const { return pid_; }

  // Next stdout line (without '\n'), or false after `timeout` or at EOF.
  bool read_line(std::string* line, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      size_t nl = out_buf_.find('\n');
      if (nl != std::string::npos) {
        *line = out_buf_.substr(0, nl);
        out_buf_.erase(0, nl + 1);
        return true;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0 || out_fd_ < 0) return false;
      pollfd p{out_fd_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buf[4096];
      ssize_t n = read(out_fd_, buf, sizeof buf);
      if (n <= 0) {
        close(out_fd_);
        out_fd_ = -1;
        return false;
      }
      out_buf_.append(buf, static_cast<size_t>(n));
    }
  }

  void signal(int sig) {
    if (pid_ > 0 && !reaped_) kill(pid_, sig);
  }

  // Collects the remaining output and the exit status; kills the child after `timeout`.
  Finished wait(std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    Finished f;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    f.out = std::move(out_buf_);
    while (out_fd_ >= 0 || err_fd_ >= 0) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        kill(pid_, SIGKILL);
        break;
      }
      pollfd p[2] = {{out_fd_, POLLIN, 0}, {err_fd_, POLLIN, 0}};
      if (poll(p, 2, static_cast<int>(left.count())) <= 0) continue;
      for (int i = 0; i < 2; ++i) {
        int& fd = i == 0 ? out_fd_ : err_fd_;
        if (fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        char buf[8192];
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0) {
          close(fd);
          fd = -1;
        } else {
          (i == 0 ? f.out : f.err).append(buf, static_cast<size_t>(n));
        }
      }
    }
    int status = 0;
    waitpid(pid_, &status, 0);
    reaped_ = true;
    f.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return f;
  }

 private:
  pid_t pid_ = -1;
  int out_fd_ = -1;
  int err_fd_ = -1;
  bool reaped_ = false;
  std::string out_buf_;
};

inline Finished run(const std::vector<std::string>& argv, const std::vector<std::string>& env = {},
                    std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  Child c(argv, env);
  return c.wait(timeout);
}

template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return pred();
}

}  // namespace enospcd::api::testing
