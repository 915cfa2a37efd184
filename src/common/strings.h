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
std::string to_upper(std::string_view s);

// "30", "30s", "500ms", "2m", "1h" -> duration. Bare numbers are seconds.
Result<std::chrono::nanoseconds> parse_duration(std::string_view s);

// Wall-clock ns -> "2026-11-21T07:16:53.123456Z".
std::string format_rfc3339(uint64_t unix_ns);

// C string from a fixed char array that may lack a terminator.
template <std::size_t N>
std::string fixed_string(const char (&buf)[N]) {
  std::size_t len = 0;
  while (len < N && buf[len] != '\0') len++;
  return std::string(buf, len);
}

}  // namespace enospcd
