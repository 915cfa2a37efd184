#include "api/query.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <limits>

namespace enospcd::api {
namespace {

constexpr uint64_t kNsPerSec = 1'000'000'000ULL;
constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool add_digit(uint64_t* out, char c) { return checked_add_digit(out, c); }

// Reads exactly `n` digits at s[*pos].
bool fixed_digits(std::string_view s, size_t* pos, size_t n, int* out) {
  if (*pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = 0; i < n; ++i) {
    char c = s[*pos + i];
    if (!is_digit(c)) return false;
    v = v * 10 + (c - '0');
  }
  *pos += n;
  *out = v;
  return true;
}

bool expect(std::string_view s, size_t* pos, char c) {
  if (*pos >= s.size() || s[*pos] != c) return false;
  ++*pos;
  return true;
}

Error time_error(std::string_view text) {
  return make_error(
      "expected an RFC 3339 time (2024-05-01T12:00:00Z), a duration before now (5m, 1h30m) or unix seconds "
      "(1714564800); got " +
      quote_for_message(text));
}

Result<uint64_t> parse_unix_seconds(std::string_view text) {
  uint64_t secs = 0;
  size_t i = 0;
  for (; i < text.size() && is_digit(text[i]); ++i) {
    if (!add_digit(&secs, text[i])) return make_error("unix time out of range: " + quote_for_message(text));
  }
  uint64_t frac = 0;
  if (i < text.size()) {
    // Caller checked the shape: a '.' followed by at least one digit.
    ++i;
    uint64_t scale = kNsPerSec;
    for (; i < text.size(); ++i) {
      scale /= 10;
      frac += static_cast<uint64_t>(text[i] - '0') * scale;
    }
  }
  if (secs > (kMax - frac) / kNsPerSec) return make_error("unix time out of range: " + quote_for_message(text));
  return secs * kNsPerSec + frac;
}

Result<uint64_t> parse_rfc3339(std::string_view s) {
  using namespace std::chrono;
  size_t pos = 0;
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!fixed_digits(s, &pos, 4, &year) || !expect(s, &pos, '-') || !fixed_digits(s, &pos, 2, &month) ||
      !expect(s, &pos, '-') || !fixed_digits(s, &pos, 2, &day))
    return time_error(s);
  if (pos >= s.size() || (s[pos] != 'T' && s[pos] != 't' && s[pos] != ' ')) return time_error(s);
  ++pos;
  if (!fixed_digits(s, &pos, 2, &hour) || !expect(s, &pos, ':') || !fixed_digits(s, &pos, 2, &minute) ||
      !expect(s, &pos, ':') || !fixed_digits(s, &pos, 2, &second))
    return time_error(s);
  uint64_t frac_ns = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    size_t start = pos;
    uint64_t scale = kNsPerSec;
    for (; pos < s.size() && is_digit(s[pos]); ++pos) {
      scale /= 10;  // digits past the ninth are accepted and ignored
      frac_ns += static_cast<uint64_t>(s[pos] - '0') * scale;
    }
    if (pos == start) return time_error(s);
  }
  int64_t offset_s = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int sign = s[pos] == '-' ? -1 : 1;
    ++pos;
    int oh = 0, om = 0;
    if (!fixed_digits(s, &pos, 2, &oh) || !expect(s, &pos, ':') || !fixed_digits(s, &pos, 2, &om) || oh > 23 ||
        om > 59)
      return time_error(s);
    offset_s = int64_t{sign} * (oh * 3600 + om * 60);
  } else {
    return make_error("RFC 3339 time needs a zone ('Z' or +hh:mm); got " + quote_for_message(s));
  }
  if (pos != s.size()) return time_error(s);

  year_month_day ymd{std::chrono::year{year}, std::chrono::month{static_cast<unsigned>(month)},
                     std::chrono::day{static_cast<unsigned>(day)}};
  // RFC 3339 allows second 60 (a leap second); POSIX time has no such second, so it folds into :59.
  if (!ymd.ok() || hour > 23 || minute > 59 || second > 60)
    return make_error("not a valid date and time: " + quote_for_message(s));
  if (second == 60) second = 59;
  int64_t days = sys_days{ymd}.time_since_epoch().count();
  int64_t secs = days * 86400 + int64_t{hour} * 3600 + int64_t{minute} * 60 + second - offset_s;
  if (secs < 0) return make_error("time lies before 1970: " + quote_for_message(s));
  // Nanoseconds since 1970 fit in 64 bits until 2554-07-21T23:34:33Z.
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  if (static_cast<uint64_t>(secs) > (kMax - frac_ns) / kNsPerSec)
    return make_error("time out of range (after 2554-07-21): " + quote_for_message(s));
  return static_cast<uint64_t>(secs) * kNsPerSec + frac_ns;
}

}  // namespace

uint64_t wall_clock_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * kNsPerSec + static_cast<uint64_t>(ts.tv_nsec);
}

Result<uint64_t> parse_time_ns(std::string_view text, uint64_t now_ns) {
  if (text.empty()) return time_error(text);
  size_t digits = 0;
  while (digits < text.size() && is_digit(text[digits])) ++digits;
  if (digits == 0) return time_error(text);
  if (digits == text.size()) return parse_unix_seconds(text);
  if (text[digits] == '.') {
    size_t j = digits + 1;
    while (j < text.size() && is_digit(text[j])) ++j;
    if (j == text.size() && j > digits + 1) return parse_unix_seconds(text);
    return time_error(text);
  }
  if (text[digits] == '-' && digits == 4) return parse_rfc3339(text);
  auto d = parse_duration_ns(text);
  if (!d) return time_error(text);
  return *d >= now_ns ? 0 : now_ns - *d;
}

Result<uint64_t> parse_uint(std::string_view text, uint64_t min, uint64_t max) {
  auto range = [&] {
    return make_error("expected an integer from " + std::to_string(min) + " to " + std::to_string(max) + "; got " +
                      quote_for_message(text));
  };
  if (text.empty()) return range();
  uint64_t v = 0;
  for (char c : text) {
    if (!is_digit(c) || !add_digit(&v, c)) return range();
  }
  if (v < min || v > max) return range();
  return v;
}

Result<bool> parse_flag(std::string_view text) {
  if (text.empty() || text == "1" || text == "true" || text == "yes") return true;
  if (text == "0" || text == "false" || text == "no") return false;
  return make_error("expected 1/true/yes or 0/false/no; got " + quote_for_message(text));
}

}  // namespace enospcd::api
