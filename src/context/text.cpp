#include "context/text.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>

namespace enospcd::context {

std::string join_root(std::string_view root, std::string_view abs_path) {
  if (root.empty() || root == "/") return std::string(abs_path);
  std::string out(root);
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  if (abs_path.empty() || abs_path.front() != '/') out.push_back('/');
  out.append(abs_path);
  return out;
}

namespace {

Result<std::string> read_fd_to_end(int fd, const char* what, std::size_t limit) {
  std::string out;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return make_error(std::string("read ") + what + ": " + std::strerror(err), err);
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
    if (out.size() >= limit) break;
  }
  ::close(fd);
  return out;
}

Result<std::string> readlink_impl(int dirfd, const char* path) {
  std::string out(256, '\0');
  for (;;) {
    ssize_t n = ::readlinkat(dirfd, path, out.data(), out.size());
    if (n < 0) {
      int err = errno;
      return make_error(std::string("readlink ") + path + ": " + std::strerror(err), err);
    }
    if (static_cast<std::size_t>(n) < out.size()) {
      out.resize(static_cast<std::size_t>(n));
      return out;
    }
    if (out.size() >= (1u << 16)) return make_error(std::string("readlink ") + path + ": target too long", ENAMETOOLONG);
    out.resize(out.size() * 2);
  }
}

}  // namespace

Result<std::string> read_file(const std::string& path, std::size_t limit) { return read_file_at(AT_FDCWD, path.c_str(), limit); }

Result<std::string> read_file_at(int dirfd, const char* rel, std::size_t limit) {
  int fd = ::openat(dirfd, rel, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    int err = errno;
    return make_error(std::string("open ") + rel + ": " + std::strerror(err), err);
  }
  return read_fd_to_end(fd, rel, limit);
}

Result<std::string> read_link(const std::string& path) { return readlink_impl(AT_FDCWD, path.c_str()); }
Result<std::string> read_link_at(int dirfd, const char* rel) { return readlink_impl(dirfd, rel); }

std::vector<std::string_view> split_fields(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) i++;
    std::size_t start = i;
    while (i < s.size() && s[i] != ' ' && s[i] != '\t') i++;
    if (i > start) out.push_back(s.substr(start, i - start));
  }
  return out;
}

std::vector<std::string_view> split_lines(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (start < s.size()) {
    std::size_t nl = s.find('\n', start);
    if (nl == std::string_view::npos) nl = s.size();
    if (nl > start) out.push_back(s.substr(start, nl - start));
    start = nl + 1;
  }
  return out;
}

bool parse_u64(std::string_view s, uint64_t& out, int base) {
  s = trim(s);
  if (base == 16 && s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) s.remove_prefix(2);
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out, base);
  return ec == std::errc() && p == s.data() + s.size();
}

bool parse_i64(std::string_view s, int64_t& out) {
  s = trim(s);
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out, 10);
  return ec == std::errc() && p == s.data() + s.size();
}

bool parse_int(std::string_view s, int& out) {
  int64_t v = 0;
  if (!parse_i64(s, v) || v < INT32_MIN || v > INT32_MAX) return false;
  out = static_cast<int>(v);
  return true;
}

std::string unescape_octal(std::string_view s) {
  auto is_oct = [](char c) { return c >= '0' && c <= '7'; };
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); i++) {
    if (s[i] == '\\' && i + 3 < s.size() && is_oct(s[i + 1]) && is_oct(s[i + 2]) && is_oct(s[i + 3])) {
      int v = (s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0');
      if (v < 256) {
        out.push_back(static_cast<char>(v));
        i += 3;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

unsigned percent_ceil(uint64_t part, uint64_t total) {
  if (total == 0) return 0;
  if (part >= total) return 100;
  // part * 100 may overflow for exabyte-sized counts; use long double there.
  if (part > UINT64_MAX / 100) return static_cast<unsigned>((static_cast<long double>(part) * 100 + total - 1) / total);
  return static_cast<unsigned>((part * 100 + total - 1) / total);
}

bool is_lower_hex(std::string_view s) {
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return !s.empty();
}

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }
bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

}  // namespace enospcd::context
