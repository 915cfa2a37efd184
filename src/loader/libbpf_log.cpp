#include "loader/libbpf_log.h"

#include <bpf/libbpf.h>
#include <spdlog/spdlog.h>

#include <cstdarg>
#include <cstdio>
#include <string>

namespace enospcd {
namespace {

int log_verbose(enum libbpf_print_level level, const char* fmt, va_list args) {
  // Verifier logs arrive as one message of many kilobytes: size the buffer to the message.
  va_list copy;
  va_copy(copy, args);
  int n = vsnprintf(nullptr, 0, fmt, copy);
  va_end(copy);
  if (n <= 0) return n;
  std::string msg(static_cast<size_t>(n) + 1, '\0');
  vsnprintf(msg.data(), msg.size(), fmt, args);
  msg.resize(static_cast<size_t>(n));
  while (!msg.empty() && msg.back() == '\n') msg.pop_back();
  (void)level;
  spdlog::debug("libbpf: {}", msg);
  return n;
}

int log_silent(enum libbpf_print_level, const char*, va_list) { return 0; }

}  // namespace

void route_libbpf_log(bool verbose) { libbpf_set_print(verbose ? log_verbose : log_silent); }

}  // namespace enospcd
