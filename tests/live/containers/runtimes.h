// What the live tests of real container runtimes (podman, containerd, Docker) share: the busybox image they all
// run, made here without a registry, and reading what a container printed and left mounted.
#pragma once

#include <elf.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "support/live.h"

namespace enospcd::testing {

inline bool on_path(const std::string& tool) {
  return sh("command -v " + tool + " >/dev/null 2>&1").exit_code == 0;
}

// A static busybox has no PT_INTERP: it runs in a rootfs without a libc.
inline bool is_static_elf(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  Elf64_Ehdr eh{};
  if (!in.read(reinterpret_cast<char*>(&eh), sizeof(eh)) || std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
      eh.e_ident[EI_CLASS] != ELFCLASS64)
    return false;
  for (int i = 0; i < eh.e_phnum; i++) {
    Elf64_Phdr ph{};
    in.seekg(static_cast<std::streamoff>(eh.e_phoff + static_cast<uint64_t>(i) * eh.e_phentsize));
    if (!in.read(reinterpret_cast<char*>(&ph), sizeof(ph))) return false;
    if (ph.p_type == PT_INTERP) return false;
  }
  return true;
}

inline std::string busybox_static() {
  for (const char* p : {"/bin/busybox", "/usr/bin/busybox"})
    if (access(p, X_OK) == 0 && is_static_elf(p)) return p;
  return "";
}

// Why the runtime tests cannot run here ("" when they can): a tool missing, or no static busybox.
inline std::string missing_for_runtime(const std::vector<std::string>& tools) {
  for (const auto& tool : tools)
    if (!on_path(tool)) return tool + " is not installed (scripts/deps.sh installs it)";
  if (busybox_static().empty()) return "no static busybox to build the test image from (apt-get install busybox-static)";
  return "";
}

// A rootfs of the static busybox and its applets under `dir`, as a tar file: `dir`/rootfs.tar, or "" with
// `error` set.
inline std::string busybox_rootfs_tar(const std::string& dir, std::string& error) {
  namespace fs = std::filesystem;
  const std::string busybox = busybox_static();
  const std::string rootfs = dir + "/rootfs";
  std::error_code ec;
  for (const char* d : {"bin", "proc", "sys", "dev", "etc", "tmp", "scratch", "m"})
    fs::create_directories(rootfs + "/" + d, ec);
  fs::copy_file(busybox, rootfs + "/bin/busybox", ec);
  if (ec) {
    error = "copying " + busybox + ": " + ec.message();
    return "";
  }
  // Relative applet links: `busybox --install -s` would point them at the host's path of busybox.
  auto list = run({busybox, "--list"});
  std::istringstream applets(list.out);
  for (std::string a; std::getline(applets, a);)
    if (!a.empty() && a != "busybox") fs::create_symlink("busybox", rootfs + "/bin/" + a, ec);
  std::string tarball = dir + "/rootfs.tar";
  auto tar = run({"tar", "-C", rootfs, "--numeric-owner", "-cf", tarball, "."});
  if (tar.exit_code != 0) {
    error = "tar: " + tar.out;
    return "";
  }
  return tarball;
}

inline std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

inline std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// "key=value" lines printed by a container script.
inline std::map<std::string, std::string> key_values(const std::string& out) {
  std::map<std::string, std::string> kv;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);)
    if (auto eq = line.find('='); eq != std::string::npos) kv[line.substr(0, eq)] = line.substr(eq + 1);
  return kv;
}

// "mnt:[4026532177]" -> 4026532177
inline uint64_t ns_inode(const std::string& link) {
  auto open = link.find('[');
  return open == std::string::npos ? 0 : std::strtoull(link.c_str() + open + 1, nullptr, 10);
}

inline uint64_t host_mntns() {
  struct stat st{};
  return stat("/proc/self/ns/mnt", &st) == 0 ? st.st_ino : 0;
}

inline std::vector<std::string> mount_points_under(const std::string& prefix) {
  std::vector<std::string> out;
  std::ifstream in("/proc/self/mountinfo");
  for (std::string line; std::getline(in, line);) {
    std::istringstream f(line);
    std::string id, parent, devno, root, mnt;
    f >> id >> parent >> devno >> root >> mnt;
    std::string raw;  // mountinfo escapes space, tab, newline and backslash as \ooo
    for (std::size_t i = 0; i < mnt.size(); i++) {
      if (mnt[i] == '\\' && i + 3 < mnt.size()) {
        raw.push_back(static_cast<char>(std::stoi(mnt.substr(i + 1, 3), nullptr, 8)));
        i += 3;
      } else {
        raw.push_back(mnt[i]);
      }
    }
    if (raw.rfind(prefix, 0) == 0) out.push_back(raw);
  }
  return out;
}

// Unmounts whatever is mounted under `prefix`, deepest first.
inline void unmount_under(const std::string& prefix) {
  auto mounts = mount_points_under(prefix);
  std::sort(mounts.begin(), mounts.end(), [](const auto& a, const auto& b) { return a.size() > b.size(); });
  for (const auto& m : mounts) umount2(m.c_str(), MNT_DETACH);
}

inline std::string container_id_of(const nlohmann::json& e) {
  return e.contains("container") && e["container"].is_object() ? e["container"].value("id", "") : "";
}

}  // namespace enospcd::testing
