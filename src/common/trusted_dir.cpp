#include "common/trusted_dir.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <deque>
#include <vector>

namespace enospcd {
namespace {

constexpr int kMaxLinks = 40;  // as the kernel's path walk (MAXSYMLINKS)

std::deque<std::string> components(const std::string& path) {
  std::deque<std::string> out;
  size_t i = 0;
  while (i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    if (j > i) out.emplace_back(path, i, j - i);
    i = j + 1;
  }
  return out;
}

// The errno of the call that just failed, in an error naming what was attempted.
Error sys_error(const std::string& what) {
  int err = errno;
  return make_error(what + ": " + std::strerror(err), err);
}

std::string shown(const std::vector<std::string>& names) {
  if (names.empty()) return "/";
  std::string out;
  for (const auto& n : names) out += "/" + n;
  return out;
}

// The directory open as `fd`, named `where`, may be changed by root and `owner` only. A sticky directory
// writable by others is accepted on the way (others cannot rename or remove what they do not own in it), not
// as the directory itself.
Result<void> check_dir(int fd, const std::string& where, uid_t owner, bool last) {
  struct stat st{};
  if (::fstat(fd, &st) != 0) return sys_error("cannot stat " + where);
  if (st.st_uid != 0 && st.st_uid != owner)
    return make_error(where + " is owned by uid " + std::to_string(st.st_uid) +
                      ", not by root: that user could replace what is in it");
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0 && (last || (st.st_mode & S_ISVTX) == 0))
    return make_error(where + " is writable by " + ((st.st_mode & S_IWOTH) != 0 ? "everyone" : "its group") +
                      ": others could replace what is in it");
  return {};
}

}  // namespace

Result<TrustedDir> open_trusted_dir(const std::string& path, uid_t owner, mode_t create_mode) {
  if (path.empty()) return make_error("no directory given");
  if (path.find('\0') != std::string::npos) return make_error("directory name holds a NUL byte");
  std::string abs = path;
  if (abs[0] != '/') {
    char cwd[PATH_MAX];
    if (::getcwd(cwd, sizeof cwd) == nullptr)
      return sys_error("cannot resolve " + path + ": getcwd");
    abs = std::string(cwd) + "/" + path;
  }
  std::deque<std::string> todo = components(abs);
  std::vector<UniqueFd> stack;  // the directories walked so far, "/" first
  std::vector<std::string> names;
  stack.emplace_back(::open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (stack.back().get() < 0) return sys_error("cannot open /");
  if (auto r = check_dir(stack.back().get(), "/", owner, false); !r) return r.error();

  TrustedDir out;
  int links = 0;
  while (!todo.empty()) {
    std::string c = std::move(todo.front());
    todo.pop_front();
    if (c == ".") continue;
    if (c == "..") {
      if (stack.size() > 1) {
        stack.pop_back();
        names.pop_back();
      }
      continue;
    }
    const bool last = todo.empty();
    const int parent = stack.back().get();
    names.push_back(c);
    const std::string where = shown(names);
    struct stat st{};
    if (::fstatat(parent, c.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno != ENOENT || create_mode == 0) return sys_error("cannot stat " + where);
      if (::mkdirat(parent, c.c_str(), last ? create_mode : 0755) != 0 && errno != EEXIST)
        return sys_error("cannot create " + where);
      out.created = last;
      if (::fstatat(parent, c.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
        return sys_error("cannot stat " + where);
    }
    if (S_ISLNK(st.st_mode)) {
      if (++links > kMaxLinks) return make_error("too many symbolic links resolving " + path);
      std::vector<char> buf(PATH_MAX + 1);
      ssize_t n = ::readlinkat(parent, c.c_str(), buf.data(), buf.size() - 1);
      if (n < 0) return sys_error("cannot read symbolic link " + where);
      std::string target(buf.data(), static_cast<size_t>(n));
      names.pop_back();
      auto more = components(target);
      todo.insert(todo.begin(), more.begin(), more.end());
      if (!target.empty() && target[0] == '/') {
        stack.resize(1);
        names.clear();
      }
      continue;
    }
    if (!S_ISDIR(st.st_mode)) return make_error(where + ": " + std::strerror(ENOTDIR), ENOTDIR);
    UniqueFd next(::openat(parent, c.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (next.get() < 0) return sys_error("cannot open " + where);
    if (auto r = check_dir(next.get(), where, owner, false); !r) return r.error();
    stack.push_back(std::move(next));
  }
  if (auto r = check_dir(stack.back().get(), shown(names), owner, true); !r) return r.error();
  out.fd = std::move(stack.back());
  return out;
}

}  // namespace enospcd
