#include "context/sysctl.h"

#include <cerrno>

#include "context/text.h"

namespace enospcd::context {

std::string sysctl_path(std::string_view root, std::string_view name) {
  std::string rel = "/proc/sys/";
  for (char c : name) rel.push_back(c == '.' ? '/' : c);
  return join_root(root, rel);
}

Result<std::string> read_sysctl(std::string_view root, std::string_view name) {
  auto text = read_file(sysctl_path(root, name), 4096);
  if (!text) return text.error();
  return std::string(trim(*text));
}

Result<uint64_t> read_sysctl_u64(std::string_view root, std::string_view name) {
  auto text = read_sysctl(root, name);
  if (!text) return text.error();
  uint64_t v = 0;
  if (!parse_u64(*text, v)) return make_error(std::string(name) + ": not a number: '" + *text + "'", EINVAL);
  return v;
}

Sysctls read_sysctls(std::string_view root) {
  Sysctls s;
  auto get = [&](std::string_view name, std::optional<uint64_t>& out) {
    if (auto v = read_sysctl_u64(root, name)) out = *v;
  };
  get("fs.mount-max", s.mount_max);
  get("fs.inotify.max_user_watches", s.inotify_max_user_watches);
  get("fs.inotify.max_user_instances", s.inotify_max_user_instances);
  get("fs.fanotify.max_user_marks", s.fanotify_max_user_marks);
  get("fs.fanotify.max_user_groups", s.fanotify_max_user_groups);
  get("fs.epoll.max_user_watches", s.epoll_max_user_watches);
  get("kernel.shmmni", s.shmmni);
  get("kernel.shmall", s.shmall);
  get("kernel.shmmax", s.shmmax);
  get("kernel.msgmni", s.msgmni);
  get("fs.mqueue.queues_max", s.mqueue_queues_max);
  get("fs.mqueue.msg_max", s.mqueue_msg_max);
  get("kernel.pty.max", s.pty_max);
  get("kernel.pty.reserve", s.pty_reserve);
  get("kernel.pty.nr", s.pty_nr);
  if (auto sem = read_sysctl(root, "kernel.sem")) {
    auto f = split_fields(*sem);
    std::array<uint64_t, 4> v{};
    bool ok = f.size() == 4;
    for (std::size_t i = 0; ok && i < 4; i++) ok = parse_u64(f[i], v[i]);
    if (ok) s.sem = v;
  }
  for (const char* ns : {"cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts"}) {
    if (auto v = read_sysctl_u64(root, std::string("user.max_") + ns + "_namespaces")) s.max_namespaces[ns] = *v;
  }
  return s;
}

nlohmann::json to_json(const Sysctls& s) {
  nlohmann::json j = nlohmann::json::object();
  auto put = [&](const char* name, const std::optional<uint64_t>& v) {
    if (v) j[name] = *v;
  };
  put("fs.mount-max", s.mount_max);
  put("fs.inotify.max_user_watches", s.inotify_max_user_watches);
  put("fs.inotify.max_user_instances", s.inotify_max_user_instances);
  put("fs.fanotify.max_user_marks", s.fanotify_max_user_marks);
  put("fs.fanotify.max_user_groups", s.fanotify_max_user_groups);
  put("fs.epoll.max_user_watches", s.epoll_max_user_watches);
  put("kernel.shmmni", s.shmmni);
  put("kernel.shmall", s.shmall);
  put("kernel.shmmax", s.shmmax);
  put("kernel.msgmni", s.msgmni);
  if (s.sem) j["kernel.sem"] = *s.sem;
  put("fs.mqueue.queues_max", s.mqueue_queues_max);
  put("fs.mqueue.msg_max", s.mqueue_msg_max);
  put("kernel.pty.max", s.pty_max);
  put("kernel.pty.reserve", s.pty_reserve);
  put("kernel.pty.nr", s.pty_nr);
  for (const auto& [ns, v] : s.max_namespaces) j["user.max_" + ns + "_namespaces"] = v;
  return j;
}

}  // namespace enospcd::context
