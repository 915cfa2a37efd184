// A fake /proc (and /etc) under a temporary directory, for driving the context readers and the doctor
// without root. Links that must be stat'ed point at real files so statx/statfs return real numbers.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "context/fs.h"
#include "support/temp_dir.h"

namespace enospcd::context::test {

class FakeTree {
 public:
  FakeTree() : root_(dir_.path()) {
    std::filesystem::create_directories(root_ + "/proc");
    std::filesystem::create_directories(root_ + "/rootfs");
  }
  FakeTree(const FakeTree&) = delete;
  FakeTree& operator=(const FakeTree&) = delete;

  const std::string& root() const { return root_; }
  std::string path(const std::string& rel) const { return root_ + "/" + rel; }

  void write(const std::string& rel, const std::string& content) const {
    std::filesystem::create_directories(std::filesystem::path(path(rel)).parent_path());
    std::ofstream(path(rel), std::ios::binary) << content;
  }
  void link(const std::string& rel, const std::string& target) const {
    std::filesystem::create_directories(std::filesystem::path(path(rel)).parent_path());
    std::error_code ec;
    std::filesystem::remove(path(rel), ec);
    std::filesystem::create_symlink(target, path(rel));
  }
  void mkdir(const std::string& rel) const { std::filesystem::create_directories(path(rel)); }

  struct Proc {
    int pid = 0;
    std::string comm = "proc";
    char state = 'S';
    int ppid = 1;
    unsigned uid = 0;
    unsigned euid = 0;
    int threads = 1;
    uint64_t mnt_ns = 4026531841ull;
    std::string cgroup = "0::/system.slice/fake.service";
    uint64_t starttime = 1000;
    std::string wchan = "0";
  };

  // A process directory with status, stat, ns/mnt, cgroup, cwd/root (to rootfs), empty fd/ and maps.
  void add_process(const Proc& p) const {
    const std::string d = "proc/" + std::to_string(p.pid) + "/";
    write(d + "status", "Name:\t" + p.comm + "\nUmask:\t0022\nState:\t" + std::string(1, p.state) +
                            " (whatever)\nTgid:\t" + std::to_string(p.pid) + "\nPid:\t" + std::to_string(p.pid) +
                            "\nPPid:\t" + std::to_string(p.ppid) + "\nUid:\t" + std::to_string(p.uid) + "\t" +
                            std::to_string(p.euid) + "\t" + std::to_string(p.euid) + "\t" + std::to_string(p.euid) +
                            "\nGid:\t0\t0\t0\t0\nThreads:\t" + std::to_string(p.threads) + "\n");
    const std::string stat = std::to_string(p.pid) + " (" + p.comm + ") " + std::string(1, p.state) + " " +
                             std::to_string(p.ppid) + " 1 1 0 -1 4194560 100 0 0 0 5 6 0 0 20 0 " +
                             std::to_string(p.threads) + " 0 " + std::to_string(p.starttime) +
                             " 1000000 100 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 7 0 0\n";
    write(d + "stat", stat);
    write(d + "task/" + std::to_string(p.pid) + "/stat", stat);
    write(d + "wchan", p.wchan);
    write(d + "task/" + std::to_string(p.pid) + "/wchan", p.wchan);
    write(d + "cgroup", p.cgroup + "\n");
    write(d + "maps", "");
    link(d + "ns/mnt", "mnt:[" + std::to_string(p.mnt_ns) + "]");
    link(d + "cwd", path("rootfs"));
    link(d + "root", path("rootfs"));
    mkdir(d + "fd");
    mkdir(d + "fdinfo");
  }

  void add_fd(int pid, int fd, const std::string& target, const std::string& fdinfo) const {
    const std::string d = "proc/" + std::to_string(pid) + "/";
    link(d + "fd/" + std::to_string(fd), target);
    write(d + "fdinfo/" + std::to_string(fd), fdinfo);
  }

  // A mountinfo line for the filesystem holding `real_dir`, with its real mount id and device, so statx
  // through the fake links finds it "mounted".
  std::string mountinfo_line_for(const std::string& real_dir, const std::string& mount_point, int parent = 1) const {
    auto st = stat_file(real_dir);
    if (!st) return {};
    return std::to_string(st->mnt_id.value_or(0)) + " " + std::to_string(parent) + " " +
           std::to_string(major(st->dev)) + ":" + std::to_string(minor(st->dev)) + " / " + mount_point +
           " rw,relatime - " + fstype_of(real_dir) + " fakesrc rw\n";
  }

  static std::string fstype_of(const std::string& dir) {
    auto fs = stat_fs(dir);
    if (!fs) return "unknown";
    auto name = fs_type_name(fs->magic);
    return name.empty() ? "unknown" : std::string(name);
  }

 private:
  enospcd::testing::TempDir dir_;  // before root_: root_ is initialized from it
  std::string root_;
};

}  // namespace enospcd::context::test
