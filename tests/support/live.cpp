#include "support/live.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <grp.h>
#include <sys/un.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <thread>

namespace enospcd::testing {

CmdResult run(const std::vector<std::string>& argv) {
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) return {};
  // Built before fork(): a test with threads may fork while another thread holds the allocator's lock, and the
  // child must then make only async-signal-safe calls until exec.
  std::vector<char*> a;
  for (const auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
  a.push_back(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(pipefd[1], 1);
    dup2(pipefd[1], 2);
    execvp(a[0], a.data());
    _exit(127);
  }
  close(pipefd[1]);
  CmdResult r;
  char buf[4096];
  ssize_t n;
  while ((n = read(pipefd[0], buf, sizeof(buf))) > 0) r.out.append(buf, static_cast<size_t>(n));
  close(pipefd[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  return r;
}

CmdResult sh(const std::string& cmdline) { return run({"/bin/sh", "-c", cmdline}); }

TmpfsMount::TmpfsMount(const std::string& options) {
  ok_ = !dir_.path().empty() && mount("enospcd-test", dir_.path().c_str(), "tmpfs", 0, options.c_str()) == 0;
}

TmpfsMount::~TmpfsMount() {
  if (ok_) umount2(dir_.path().c_str(), MNT_DETACH);
}

LoopExt4::LoopExt4(int size_mib) {
  image_ = img_dir_.path() + "/fs.img";
  if (sh("truncate -s " + std::to_string(size_mib) + "M " + image_ + " && mkfs.ext4 -q -F " + image_).exit_code != 0)
    return;
  ok_ = sh("mount -o loop " + image_ + " " + mnt_.path()).exit_code == 0;
}

LoopExt4::~LoopExt4() {
  if (ok_) umount2(mnt_.path().c_str(), MNT_DETACH);
}

DaemonProcess::DaemonProcess(std::vector<std::string> args) {
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC)) return;
  std::vector<char*> a;  // before fork(), as in run()
  for (const auto& s : args) a.push_back(const_cast<char*>(s.c_str()));
  a.push_back(nullptr);
  pid_ = fork();
  if (pid_ == 0) {
    dup2(out[1], 1);
    dup2(err[1], 2);
    execv(a[0], a.data());
    _exit(127);
  }
  close(out[1]);
  close(err[1]);
  out_fd_ = out[0];
  err_fd_ = err[0];
  fcntl(out_fd_, F_SETFL, O_NONBLOCK);
  fcntl(err_fd_, F_SETFL, O_NONBLOCK);
}

DaemonProcess::~DaemonProcess() {
  if (pid_ > 0 && !status_) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  if (out_fd_ >= 0) close(out_fd_);
  if (err_fd_ >= 0) close(err_fd_);
}

void DaemonProcess::drain(bool block_until_eof) {
  std::array<char, 65536> buf;
  for (int fd : {out_fd_, err_fd_}) {
    if (fd < 0) continue;
    while (true) {
      ssize_t n = read(fd, buf.data(), buf.size());
      if (n > 0) {
        (fd == out_fd_ ? out_ : err_).append(buf.data(), static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && errno == EAGAIN && block_until_eof) {
        pollfd p{fd, POLLIN, 0};
        if (poll(&p, 1, 2000) > 0) continue;
      }
      break;
    }
  }
}

bool DaemonProcess::wait_ready(std::chrono::seconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    drain(false);
    if (err_.find(" on syscall exit (") != std::string::npos) return true;
    int status;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      status_ = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
      drain(true);
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

std::optional<int> DaemonProcess::wait_exit(std::chrono::milliseconds timeout) {
  if (status_) return status_;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    drain(false);
    int status;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      status_ = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
      drain(true);
      return status_;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return std::nullopt;
}

std::optional<int> DaemonProcess::stop(int sig, std::chrono::milliseconds timeout) {
  if (!status_) kill(pid_, sig);
  return wait_exit(timeout);
}

std::string DaemonProcess::stdout_text() {
  drain(false);
  return out_;
}

std::string DaemonProcess::stderr_text() {
  drain(false);
  return err_;
}

nlohmann::json stop_for_report(DaemonProcess& d) {
  auto code = d.stop(SIGINT);
  EXPECT_TRUE(code.has_value()) << "daemon did not exit after SIGINT";
  EXPECT_EQ(code.value_or(-1), 0) << d.stderr_text();
  try {
    return nlohmann::json::parse(d.stdout_text());
  } catch (const std::exception& e) {
    ADD_FAILURE() << "report is not JSON: " << e.what() << "\n" << d.stdout_text();
    return nlohmann::json::object();
  }
}

std::string daemon_binary() { return std::string(ENOSPCD_BINARY_DIR) + "/src/daemon/enospcd"; }
int connect_unix(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::strncpy(sa.sun_path, path.c_str(), sizeof sa.sun_path - 1);
  if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

bool send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Reads until EOF (or error) or the timeout.
std::string read_all(int fd, std::chrono::milliseconds timeout) {
  std::string out;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char buf[65536];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

gid_t unused_gid(gid_t from) {
  for (gid_t g = from; g < from + 1000; ++g)
    if (getgrgid(g) == nullptr) return g;
  return from + 999;
}

std::string ctl_binary() { return std::string(ENOSPCD_BINARY_DIR) + "/src/cli/enospcctl"; }

void run_times(const std::vector<std::string>& argv, int times) {
  for (int i = 0; i < times; i++) run(argv);
}

}  // namespace enospcd::testing
