#include "common/strings.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <ctime>
#include <limits>

namespace enospcd {
namespace {

constexpr uint64_t kNsPerSec = 1'000'000'000ULL;
constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();

bool is_digit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (true) {
    std::size_t pos = s.find(sep, start);
    out.push_back(s.substr(start, pos == std::string_view::npos ? std::string_view::npos : pos - start));
    if (pos == std::string_view::npos) break;
    start = pos + 1;
  }
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::string format_bytes(uint64_t bytes) {
  static const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (bytes < 1024) return std::to_string(bytes) + " B";
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024.0 && u < 6) {
    v /= 1024.0;
    u++;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f %s", v, units[u]);
  return buf;
}

std::string to_upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

bool checked_add_digit(uint64_t* out, char c) {
  uint64_t d = static_cast<uint64_t>(c - '0');
  if (*out > (kMax - d) / 10) return false;
  *out = *out * 10 + d;
  return true;
}

bool checked_mul_add(uint64_t* acc, uint64_t value, uint64_t unit) {
  if (value != 0 && unit > kMax / value) return false;
  uint64_t product = value * unit;
  if (*acc > kMax - product) return false;
  *acc += product;
  return true;
}

Result<uint64_t> parse_duration_ns(std::string_view text) {
  if (text.empty()) return make_error("empty duration");
  uint64_t total = 0;
  size_t i = 0;
  while (i < text.size()) {
    if (!is_digit(text[i]))
      return make_error("expected a duration such as 90s, 5m, 1h30m or 2d; got " + quote_for_message(text));
    uint64_t value = 0;
    for (; i < text.size() && is_digit(text[i]); ++i) {
      if (!checked_add_digit(&value, text[i])) return make_error("duration out of range: " + quote_for_message(text));
    }
    uint64_t unit = 0;
    if (text.substr(i, 2) == "ms") {
      unit = 1'000'000ULL;
      i += 2;
    } else if (text.substr(i, 2) == "us") {
      unit = 1'000ULL;
      i += 2;
    } else if (i < text.size()) {
      switch (text[i]) {
        case 's': unit = kNsPerSec; break;
        case 'm': unit = 60 * kNsPerSec; break;
        case 'h': unit = 3600 * kNsPerSec; break;
        case 'd': unit = 86400 * kNsPerSec; break;
        case 'w': unit = 7ULL * 86400 * kNsPerSec; break;
        default: break;
      }
      if (unit != 0) ++i;
    }
    if (unit == 0)
      return make_error("duration needs a unit (us, ms, s, m, h, d, w) after each number; got " +
                        quote_for_message(text));
    if (!checked_mul_add(&total, value, unit)) return make_error("duration out of range: " + quote_for_message(text));
  }
  return total;
}

Result<std::chrono::nanoseconds> parse_duration(std::string_view s) {
  s = trim(s);
  bool bare = !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return is_digit(c); });
  auto ns = parse_duration_ns(bare ? std::string(s) + "s" : std::string(s));
  if (!ns) return ns.error();
  if (*ns > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
    return make_error("duration out of range: " + quote_for_message(s));
  return std::chrono::nanoseconds(static_cast<int64_t>(*ns));
}

std::string format_rfc3339(uint64_t ns, int frac_digits) {
  using namespace std::chrono;
  if (frac_digits < 0) frac_digits = 0;
  if (frac_digits > 9) frac_digits = 9;
  uint64_t secs = ns / kNsPerSec;
  uint64_t frac = ns % kNsPerSec;
  sys_days day{std::chrono::days{static_cast<int64_t>(secs / 86400)}};
  year_month_day ymd{day};
  uint64_t sod = secs % 86400;
  char buf[64];
  int n = std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02u:%02u:%02u", static_cast<int>(ymd.year()),
                        static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                        static_cast<unsigned>(sod / 3600), static_cast<unsigned>(sod / 60 % 60),
                        static_cast<unsigned>(sod % 60));
  std::string out(buf, static_cast<size_t>(n));
  if (frac_digits > 0) {
    char fbuf[16];
    std::snprintf(fbuf, sizeof fbuf, "%09llu", static_cast<unsigned long long>(frac));
    out += '.';
    out.append(fbuf, static_cast<size_t>(frac_digits));
  }
  out += 'Z';
  return out;
}

std::string quote_for_message(std::string_view text, size_t max) {
  std::string out = "'";
  size_t n = text.size() < max ? text.size() : max;
  for (size_t i = 0; i < n; ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7f || c >= 0x80 || c == '\'' || c == '\\') {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '\'';
  if (text.size() > max) out += "...";
  return out;
}


}  // namespace enospcd
