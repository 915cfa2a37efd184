#include "cli/cli.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "api/query.h"
#include "cli/client.h"
#include "cli/format.h"
#include "common/printable.h"

#ifndef ENOSPCD_VERSION
#define ENOSPCD_VERSION "unknown"
#endif

namespace enospcd::cli {
namespace {

constexpr int kExitRuntime = 1;
constexpr int kExitUsage = 2;

std::atomic<bool> g_interrupted{false};

void on_signal(int) { g_interrupted.store(true); }

// Standard output through write(2), so that a failed write (ENOSPC, EIO, a closed descriptor) is seen and
// reported instead of lost in a stream buffer. After the first failure nothing more is written.
struct Stdout {
  int error = 0;

  bool write(std::string_view s) {
    while (!s.empty() && error == 0) {
      ssize_t n = ::write(STDOUT_FILENO, s.data(), s.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        error = errno;
        break;
      }
      s.remove_prefix(static_cast<std::size_t>(n));
    }
    return error == 0;
  }
};

Stdout g_out;

int fail(const std::string& sentence, int code = kExitRuntime) {
  std::string line = printable(sentence) + "\n";
  (void)!::write(STDERR_FILENO, line.data(), line.size());
  return code;
}

// A 400 answer means the command line asked for something invalid (a usage error); anything else is a failure
// at run time.
int http_failure(const HttpAnswer& answer) {
  return fail(error_message(answer), answer.status == 400 ? kExitUsage : kExitRuntime);
}

struct Filters {
  std::string since, until, comm, container, syscall, cause;
  std::optional<uint32_t> pid;
  std::optional<unsigned> limit;

  void add_to(CLI::App* cmd, bool with_limit) {
    cmd->add_option("--since", since, "only events at or after this time: 5m, 1h30m, RFC 3339 or unix seconds");
    cmd->add_option("--until", until, "only events at or before this time");
    cmd->add_option("--pid", pid, "only this process id");
    cmd->add_option("--comm", comm, "only this command name (as in /proc/PID/comm)");
    cmd->add_option("--container", container, "only this container (id, id prefix or name; namespace/pod[/container] in Kubernetes)");
    cmd->add_option("--syscall", syscall, "only this syscall, e.g. mount");
    cmd->add_option("--cause", cause, "only this cause, e.g. mount_max");
    if (with_limit) cmd->add_option("--limit", limit, "at most this many rows (1-10000, default 100)");
  }

  std::string query(bool follow) const {
    std::string q;
    auto add = [&](const char* key, const std::string& value) {
      if (value.empty()) return;
      q += q.empty() ? "?" : "&";
      q += key;
      q += '=';
      q += url_escape(value);
    };
    add("since", since);
    add("until", until);
    if (pid) add("pid", std::to_string(*pid));
    add("comm", comm);
    add("container", container);
    add("syscall", syscall);
    add("cause", cause);
    if (limit) add("limit", std::to_string(*limit));
    if (follow) add("follow", "1");
    return q;
  }
};

// Fetches target and prints it: verbatim with -o json, else through `render`.
template <class Render>
int show(Client& client, const std::string& target, bool json_output, Render render) {
  auto answer = client.get(target);
  if (!answer) return fail(answer.error().message);
  if (answer->status < 200 || answer->status >= 300) return http_failure(*answer);
  if (json_output) {
    g_out.write(answer->body);
    if (!answer->body.empty() && answer->body.back() != '\n') g_out.write("\n");
    return 0;
  }
  auto j = nlohmann::json::parse(answer->body, nullptr, false);
  if (j.is_discarded()) return fail("enospcd sent an answer that is not JSON");
  g_out.write(render(j));
  return 0;
}

int watch(Client& client, const std::string& query, bool json_output, const Style& style) {
  struct sigaction sa{};
  sa.sa_handler = &on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  bool header_printed = false;
  auto on_line = [&](std::string_view line) {
    if (line.empty()) return true;  // keepalive
    if (json_output) return g_out.write(std::string(line) + "\n");
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded()) return true;
    if (!header_printed) {
      if (!g_out.write(watch_header(style))) return false;
      header_printed = true;
    }
    return g_out.write(watch_line(j, style));
  };
  auto on_open = [&] {
    if (!json_output) fail("watching for failures on " + client.socket_path() + " (Ctrl-C to stop)", 0);
  };
  std::string error_body;
  auto status = client.stream_lines("/v1/events" + query, on_open, on_line, &g_interrupted, &error_body);
  if (g_out.error != 0) return kExitRuntime;  // reported by run()
  if (!status) return fail(status.error().message);
  if (*status < 200 || *status >= 300) return http_failure(HttpAnswer{*status, "", error_body});
  if (g_interrupted.load()) return 0;
  return fail("enospcd ended the event stream");
}

// The first word that is not an option or an option's value: the subcommand the user meant. Only the global
// options take values before it.
std::optional<std::string> first_word(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--") return i + 1 < argc ? std::optional<std::string>(argv[i + 1]) : std::nullopt;
    if (a.size() > 1 && a[0] == '-') {
      if (a == "--socket" || a == "-o" || a == "--output") ++i;
      continue;
    }
    return std::string(a);
  }
  return std::nullopt;
}

int run_parsed(int argc, char** argv) {
  CLI::App app{"enospcctl: ask enospcd which syscalls failed with ENOSPC, and why", "enospcctl"};
  // Global options are accepted before and after the subcommand.
  app.fallthrough();
  app.set_version_flag("--version", "enospcctl " ENOSPCD_VERSION);
  app.require_subcommand(1);

  const char* env_socket = std::getenv("ENOSPCD_SOCKET");
  std::string socket_path = env_socket != nullptr && *env_socket ? env_socket : "/run/enospcd/enospcd.sock";
  std::string output = "table";
  bool verbose = false;
  app.add_option("--socket", socket_path, "enospcd's API socket (env ENOSPCD_SOCKET)")
      ->capture_default_str()
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.add_option("-o,--output", output,
                 "table (for people, fit to the terminal), wide (table, nothing cut) or json (the server's answer "
                 "verbatim)")
      ->check(CLI::IsMember({"table", "wide", "json"}))
      ->capture_default_str()
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.add_flag("-v,--verbose", verbose, "details: status's probe table, doctor's informational findings and evidence");

  Filters ev_filters, top_filters, watch_filters;
  bool follow = false;
  auto* status = app.add_subcommand("status", "daemon summary (mode, version, uptime, failures, losses); -v: details");
  auto* events = app.add_subcommand("events", "recent failures, newest first; -f: follow as they happen");
  ev_filters.add_to(events, true);
  events->add_flag("-f,--follow", follow, "print failures as they happen, until Ctrl-C (as watch)");
  auto* top = app.add_subcommand("top", "failures counted by process and syscall (like syscount -P)");
  top_filters.add_to(top, true);
  auto* explain = app.add_subcommand("explain", "everything known about one event: cause, chain, evidence");
  std::string event_id;
  explain->add_option("ID", event_id, "event id, or an unambiguous prefix of one (first column of 'events')")
      ->required();
  auto* diagnosis = app.add_subcommand("diagnosis", "current causes with explanation and remedy");
  auto* doctor = app.add_subcommand("doctor", "host snapshot of conditions that lead to ENOSPC; -v: everything");
  auto* watch_cmd = app.add_subcommand("watch", "print failures as they happen, until Ctrl-C");
  watch_filters.add_to(watch_cmd, false);
  auto* metrics = app.add_subcommand("metrics", "Prometheus metrics, as scraped");
  auto* reset = app.add_subcommand("reset", "forget the event history (root only)");

  // A word that is no subcommand is named, rather than reported as a missing subcommand.
  if (auto word = first_word(argc, argv)) {
    bool known = false;
    std::string names;
    for (const auto* sub : app.get_subcommands([](CLI::App*) { return true; })) {
      known = known || sub->get_name() == *word;
      names += (names.empty() ? "" : ", ") + sub->get_name();
    }
    if (!known)
      return fail("enospcctl: unknown command '" + *word + "' (commands: " + names + "; see enospcctl --help)",
                  kExitUsage);
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    g_out.write(app.help());
    return 0;
  } catch (const CLI::CallForAllHelp& e) {
    g_out.write(app.help("", CLI::AppFormatMode::All));
    return 0;
  } catch (const CLI::CallForVersion& e) {
    g_out.write(std::string("enospcctl ") + ENOSPCD_VERSION + "\n");
    return 0;
  } catch (const CLI::ParseError& e) {
    return fail(std::string("enospcctl: ") + e.what() + " (see enospcctl --help)", kExitUsage);
  }

  const bool json_output = output == "json";
  Style style;
  style.width = output == "wide" ? 0 : terminal_width(STDOUT_FILENO);
  style.verbose = verbose;
  Client client(socket_path);
  const uint64_t now = api::wall_clock_ns();

  if (*status)
    return show(client, "/v1/status", json_output, [&](const nlohmann::json& j) { return render_status(j, style); });
  if (*events && follow) return watch(client, ev_filters.query(true), json_output, style);
  if (*events)
    return show(client, "/v1/events" + ev_filters.query(false), json_output,
                [&](const nlohmann::json& j) { return render_events(j, now, style); });
  if (*top)
    return show(client, "/v1/top" + top_filters.query(false), json_output,
                [&](const nlohmann::json& j) { return render_top(j, style); });
  if (*explain) {
    if (event_id.empty()) return fail("enospcctl: explain needs an event id (first column of 'events')", kExitUsage);
    return show(client, "/v1/events/" + url_escape(event_id), json_output,
                [&](const nlohmann::json& j) { return render_event(j, now); });
  }
  if (*diagnosis)
    return show(client, "/v1/diagnosis", json_output,
                [&](const nlohmann::json& j) { return render_diagnosis(j, now, style); });
  if (*doctor)
    return show(client, "/v1/doctor", json_output, [&](const nlohmann::json& j) { return render_doctor(j, style); });
  if (*watch_cmd) return watch(client, watch_filters.query(true), json_output, style);
  if (*metrics) {
    auto answer = client.get("/metrics");
    if (!answer) return fail(answer.error().message);
    if (answer->status != 200) return http_failure(*answer);
    g_out.write(answer->body);
    return 0;
  }
  if (*reset) {
    auto answer = client.post("/v1/reset");
    if (!answer) return fail(answer.error().message);
    if (answer->status != 200) return http_failure(*answer);
    g_out.write(json_output ? answer->body : "event history cleared\n");
    return 0;
  }
  return 0;
}

}  // namespace

int run(int argc, char** argv) {
  int code = run_parsed(argc, argv);
  if (g_out.error != 0)
    return fail(std::string("enospcctl: cannot write to standard output: ") + std::strerror(g_out.error),
                kExitRuntime);
  return code;
}

}  // namespace enospcd::cli
