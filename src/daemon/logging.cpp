#include "daemon/logging.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "loader/libbpf_log.h"

namespace enospcd {
namespace {

// %* flag: the message as a JSON string literal, escaped by nlohmann::json.
class JsonMessageFlag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    std::string payload(msg.payload.data(), msg.payload.size());
    std::string quoted = nlohmann::json(payload).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    dest.append(quoted.data(), quoted.data() + quoted.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<JsonMessageFlag>(); }
};

// %& flag: the syslog priority as journald reads it at the start of a line ("<4>" for a warning).
class PriorityFlag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    char p = '6';
    switch (msg.level) {
      case spdlog::level::trace:
      case spdlog::level::debug: p = '7'; break;
      case spdlog::level::warn: p = '4'; break;
      case spdlog::level::err: p = '3'; break;
      case spdlog::level::critical: p = '2'; break;
      default: break;
    }
    const char prefix[3] = {'<', p, '>'};
    dest.append(prefix, prefix + 3);
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<PriorityFlag>(); }
};

}  // namespace

bool stderr_is_journal() {
  // systemd sets JOURNAL_STREAM to the device and inode of the stream it connected stdout/stderr to; stderr
  // redirected elsewhere by a wrapper keeps the variable but not the inode.
  const char* js = std::getenv("JOURNAL_STREAM");
  unsigned long long dev = 0, ino = 0;
  if (!js || std::sscanf(js, "%llu:%llu", &dev, &ino) != 2) return false;
  struct stat st {};
  return ::fstat(STDERR_FILENO, &st) == 0 && st.st_dev == dev && st.st_ino == ino;
}

namespace {
LogFormat g_format = LogFormat::Text;
int g_verbosity = 0;
std::string g_file;

std::shared_ptr<spdlog::logger> make_logger() {
  std::shared_ptr<spdlog::logger> logger;
  if (g_file.empty())
    logger = std::make_shared<spdlog::logger>("enospcd", std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
  else
  {
    // The log names processes, paths and containers of every user: 0600, whatever the umask, also when the
    // file exists already or is reopened after rotation.
    spdlog::file_event_handlers handlers;
    handlers.before_open = [](const spdlog::filename_t& name) {
      int fd = ::open(name.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
      if (fd >= 0) ::close(fd);
    };
    handlers.after_open = [](const spdlog::filename_t&, std::FILE* f) { ::fchmod(::fileno(f), 0600); };
    logger = std::make_shared<spdlog::logger>(
        "enospcd", std::make_shared<spdlog::sinks::basic_file_sink_mt>(g_file, false, handlers));
  }
  return logger;
}
}  // namespace

void reopen_logs() {
  if (g_file.empty()) return;
  try {
    setup_logging(g_format, g_verbosity, g_file);
    spdlog::info("reopened log file {}", g_file);
  } catch (const spdlog::spdlog_ex& e) {
    spdlog::warn("cannot reopen log file {}: {}", g_file, e.what());
  }
}

void setup_logging(LogFormat format, int verbosity, const std::string& log_file) {
  g_format = format;
  g_verbosity = verbosity;
  g_file = log_file;
  auto logger = make_logger();
  spdlog::set_default_logger(logger);
  if (format == LogFormat::Json) {
    auto f = std::make_unique<spdlog::pattern_formatter>();
    f->add_flag<JsonMessageFlag>('*').set_pattern(R"({"time":"%Y-%m-%dT%H:%M:%S.%f%z","level":"%l","msg":%*})");
    logger->set_formatter(std::move(f));
  } else if (log_file.empty() && stderr_is_journal()) {
    // journald stamps each line itself and reads its priority from the prefix: `journalctl -p warning` works.
    auto f = std::make_unique<spdlog::pattern_formatter>();
    f->add_flag<PriorityFlag>('&').set_pattern("%&%v");
    logger->set_formatter(std::move(f));
  } else {
    logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ %v");
  }
  logger->set_level(verbosity >= 2 ? spdlog::level::trace : verbosity == 1 ? spdlog::level::debug : spdlog::level::info);
  logger->flush_on(spdlog::level::info);
  route_libbpf_log(verbosity >= 1);
}

}  // namespace enospcd
