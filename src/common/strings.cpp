#include "common/strings.h"

#include <cctype>
#include <charconv>
#include <cstdio>
#include <ctime>

namespace enospcd {

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

std::string to_upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

Result<std::chrono::nanoseconds> parse_duration(std::string_view s) {
  s = trim(s);
  uint64_t value = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || p == s.data())
    return make_error("invalid duration \"" + std::string(s) + "\" (expected e.g. 30s, 500ms, 2m, 1h)");
  std::string_view unit(p, static_cast<std::size_t>(s.data() + s.size() - p));
  uint64_t mult;
  if (unit.empty() || unit == "s") mult = 1'000'000'000ull;
  else if (unit == "ms") mult = 1'000'000ull;
  else if (unit == "us") mult = 1'000ull;
  else if (unit == "m") mult = 60'000'000'000ull;
  else if (unit == "h") mult = 3'600'000'000'000ull;
  else return make_error("invalid duration unit \"" + std::string(unit) + "\" in \"" + std::string(s) + "\"");
  if (value > UINT64_MAX / mult / 2) return make_error("duration \"" + std::string(s) + "\" is too large");
  return std::chrono::nanoseconds(static_cast<int64_t>(value * mult));
}

std::string format_rfc3339(uint64_t unix_ns) {
  time_t secs = static_cast<time_t>(unix_ns / 1'000'000'000ull);
  struct tm tm {};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%06uZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<unsigned>((unix_ns % 1'000'000'000ull) / 1000));
  return buf;
}

}  // namespace enospcd
