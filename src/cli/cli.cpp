#include "cli/cli.h"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "api/query.h"
#include "cli/client.h"
#include "cli/format.h"

#ifndef ENOSPCD_VERSION
#define ENOSPCD_VERSION "unknown"
#endif

namespace enospcd::cli {
namespace {

std::atomic<bool> g_interrupted{false};

void on_signal(int) { g_interrupted.store(true); }

struct Filters {
  std::string since, until, comm, container, syscall, cause;
  std::optional<uint32_t> pid;
  std::optional<unsigned> limit;

  void add_to(CLI::App* cmd, bool with_limit) {
    cmd->add_option("--since", since, "only events at or after this time: 5m, 1h30m, RFC 3339 or unix seconds");
    cmd->add_option("--until", until, "only events at or before this time");
    cmd->add_option("--pid", pid, "only this process id");
    cmd->add_option("--comm", comm, "only this command name (as in /proc/PID/comm)");
    cmd->add_option("--container", container, "only this container (id, id prefix or name)");
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

int fail(const std::string& sentence) {
  std::cerr << sentence << "\n";
  return 1;
}

// Fetches target and prints it: verbatim with -o json, else through `render`.
template <class Render>
int show(Client& client, const std::string& target, bool json_output, Render render) {
  auto answer = client.get(target);
  if (!answer) return fail(answer.error().message);
  if (answer->status < 200 || answer->status >= 300) return fail(error_message(*answer));
  if (json_output) {
    std::cout << answer->body;
    if (!answer->body.empty() && answer->body.back() != '\n') std::cout << "\n";
    return 0;
  }
  auto j = nlohmann::json::parse(answer->body, nullptr, false);
  if (j.is_discarded()) return fail("enospcd sent an answer that is not JSON");
  std::cout << render(j);
  return 0;
}

int watch(Client& client, const Filters& filters, bool json_output) {
  struct sigaction sa{};
  sa.sa_handler = &on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  bool header_printed = false;
  auto on_line = [&](std::string_view line) {
    if (line.empty()) return true;  // keepalive
    if (json_output) {
      std::cout << line << "\n" << std::flush;
      return true;
    }
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded()) return true;
    if (!header_printed) {
      std::cout << watch_header();
      header_printed = true;
    }
    std::cout << watch_line(j) << std::flush;
    return true;
  };
  auto on_open = [&] {
    if (!json_output) std::cerr << "watching for failures on " << client.socket_path() << " (Ctrl-C to stop)\n";
  };
  std::string error_body;
  auto status =
      client.stream_lines("/v1/events" + filters.query(true), on_open, on_line, &g_interrupted, &error_body);
  if (!status) return fail(status.error().message);
  if (*status < 200 || *status >= 300) return fail(error_message(HttpAnswer{*status, "", error_body}));
  if (g_interrupted.load()) return 0;
  return fail("enospcd ended the event stream");
}

}  // namespace

int run(int argc, char** argv) {
  CLI::App app{"enospcctl: ask enospcd which syscalls failed with ENOSPC, and why"};
  app.set_version_flag("--version", "enospcctl " ENOSPCD_VERSION);
  app.require_subcommand(1);

  const char* env_socket = std::getenv("ENOSPCD_SOCKET");
  std::string socket_path = env_socket != nullptr && *env_socket ? env_socket : "/run/enospcd/enospcd.sock";
  std::string output = "table";
  app.add_option("--socket", socket_path, "enospcd's API socket (env ENOSPCD_SOCKET)")
      ->capture_default_str()
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.add_option("-o,--output", output, "table (for humans) or json (the server's answer verbatim)")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str()
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);

  Filters ev_filters, top_filters, watch_filters;
  auto* status = app.add_subcommand("status", "daemon state, probe modes and counters");
  auto* events = app.add_subcommand("events", "recent failures, newest first");
  ev_filters.add_to(events, true);
  auto* top = app.add_subcommand("top", "failures counted by process and syscall (like syscount -P)");
  top_filters.add_to(top, true);
  auto* explain = app.add_subcommand("explain", "everything known about one event: cause, chain, evidence");
  uint64_t event_id = 0;
  explain->add_option("ID", event_id, "event id (first column of 'events')")->required();
  auto* diagnosis = app.add_subcommand("diagnosis", "current causes with explanation and remedy");
  auto* doctor = app.add_subcommand("doctor", "host snapshot of conditions that lead to ENOSPC");
  auto* watch_cmd = app.add_subcommand("watch", "print failures as they happen, until Ctrl-C");
  watch_filters.add_to(watch_cmd, false);
  auto* metrics = app.add_subcommand("metrics", "Prometheus metrics, as scraped");
  auto* reset = app.add_subcommand("reset", "forget the event history (root only)");

  CLI11_PARSE(app, argc, argv);

  const bool json_output = output == "json";
  Client client(socket_path);
  const uint64_t now = api::wall_clock_ns();

  if (*status) return show(client, "/v1/status", json_output, [](const nlohmann::json& j) { return render_generic(j); });
  if (*events)
    return show(client, "/v1/events" + ev_filters.query(false), json_output,
                [now](const nlohmann::json& j) { return render_events(j, now); });
  if (*top)
    return show(client, "/v1/top" + top_filters.query(false), json_output,
                [](const nlohmann::json& j) { return render_top(j); });
  if (*explain)
    return show(client, "/v1/events/" + std::to_string(event_id), json_output,
                [now](const nlohmann::json& j) { return render_event(j, now); });
  if (*diagnosis)
    return show(client, "/v1/diagnosis", json_output, [](const nlohmann::json& j) { return render_generic(j); });
  if (*doctor) return show(client, "/v1/doctor", json_output, [](const nlohmann::json& j) { return render_generic(j); });
  if (*watch_cmd) return watch(client, watch_filters, json_output);
  if (*metrics) {
    auto answer = client.get("/metrics");
    if (!answer) return fail(answer.error().message);
    if (answer->status != 200) return fail(error_message(*answer));
    std::cout << answer->body;
    return 0;
  }
  if (*reset) {
    auto answer = client.post("/v1/reset");
    if (!answer) return fail(answer.error().message);
    if (answer->status != 200) return fail(error_message(*answer));
    if (json_output)
      std::cout << answer->body;
    else
      std::cout << "event history cleared\n";
    return 0;
  }
  return 0;
}

}  // namespace enospcd::cli
