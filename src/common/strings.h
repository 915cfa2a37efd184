// Small string helpers and value parsers shared by the CLI, the config and the API.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace enospcd {

std::vector<std::string_view> split(std::string_view s, char sep);
std::string_view trim(std::string_view s);
// "5.0 MiB", "512 B": binary units, one decimal.
std::string format_bytes(uint64_t bytes);
std::string to_upper(std::string_view s);

// Decimal digit c appended to *out; false on overflow (nothing changed then).
bool checked_add_digit(uint64_t* out, char c);
// *acc += value * unit; false on overflow.
bool checked_mul_add(uint64_t* acc, uint64_t value, uint64_t unit);

// A duration such as "90s", "5m", "1h30m", "2d", "1w", "250ms" or "20us" (units may be combined). No sign,
// no fractions.
Result<uint64_t> parse_duration_ns(std::string_view text);
// The same, for the command line and configuration, where a bare number is seconds: "30", "30s", "500ms".
Result<std::chrono::nanoseconds> parse_duration(std::string_view s);

// UTC RFC 3339 with `frac_digits` (0..9) fractional digits: 2026-11-21T07:16:53.123456Z.
std::string format_rfc3339(uint64_t unix_ns, int frac_digits = 6);

// A copy of untrusted text fit for an error message: at most `max` bytes, control bytes escaped.
std::string quote_for_message(std::string_view text, std::size_t max = 64);

// C string from a fixed char array that may lack a terminator.
template <std::size_t N>
std::string fixed_string(const char (&buf)[N]) {
  std::size_t len = 0;
  while (len < N && buf[len] != '\0') len++;
  return std::string(buf, len);
}

}  // namespace enospcd
