#include "daemon/options.h"

#include <sys/stat.h>

#include <CLI/CLI.hpp>

#include "api/socket.h"

#include "common/names.h"
#include "common/strings.h"
#include "loader/feature_probe.h"

namespace enospcd {
namespace {

// "4M", "512K", "1G", "65536": bytes.
Result<uint64_t> parse_bytes(const std::string& s) {
  std::string_view v = trim(s);
  uint64_t mult = 1;
  if (!v.empty() && (v.back() == 'K' || v.back() == 'k')) mult = 1024, v.remove_suffix(1);
  else if (!v.empty() && (v.back() == 'M' || v.back() == 'm')) mult = 1024ULL * 1024, v.remove_suffix(1);
  else if (!v.empty() && (v.back() == 'G' || v.back() == 'g')) mult = 1024ULL * 1024 * 1024, v.remove_suffix(1);
  uint64_t n = 0;
  for (char c : v) {
    if (c < '0' || c > '9' || n > (1ull << 40)) return make_error("invalid size \"" + s + "\" (expected e.g. 4M, 512K)");
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v.empty()) return make_error("invalid size \"" + s + "\"");
  if (n > UINT64_MAX / mult) return make_error("size \"" + s + "\" is too large");
  return n * mult;
}

Result<uint32_t> parse_ringbuf_size(const std::string& s) {
  auto n = parse_bytes(s);
  if (!n) return n.error();
  // The kernel wants a power of two that is a multiple of the page size.
  if (*n < 4096 || *n > (1ull << 30) || (*n & (*n - 1)))
    return make_error("ring buffer size " + s + " must be a power of two between 4K and 1G");
  return static_cast<uint32_t>(*n);
}

// The directory of a file the daemon will create: it must exist, the file itself need not.
Result<void> parent_exists(const std::string& option, const std::string& file) {
  std::size_t slash = file.rfind('/');
  std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : file.substr(0, slash));
  struct stat st{};
  if (file.back() == '/') return make_error(option + " " + file + " names a directory, not a file");
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return make_error(option + " " + file + ": directory " + dir + " does not exist");
  return {};
}

}  // namespace

ParseOutcome parse_daemon_options(int argc, const char* const* argv) {
  DaemonOptions o;
  CLI::App app{"enospcd: catches every syscall failing with ENOSPC, finds the kernel code and the limit behind it, "
               "and answers queries over a local Unix socket.",
               "enospcd"};
  app.set_version_flag("--version", std::string("enospcd ") + ENOSPCD_VERSION);
  // --help shows each option's default.
  app.option_defaults()->always_capture_default();
  // An option given twice takes its last value, so that a wrapper's defaults can be overridden by appending.
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  std::string duration = "30s", errnos = "ENOSPC", gate = "auto", output = "text", log_format = "text";
  std::string ringbuf = "4M", events_file_size = "64M", targeted_syscalls, check_every = "60s", check_for = "2s";
  app.get_formatter()->column_width(34);
  app.add_flag("--once", o.once, "Trace in the foreground for --duration (or until Ctrl-C), print a report, exit");
  auto* duration_opt =
      app.add_option("--duration", duration, "How long --once traces (e.g. 30s, 2m; bare numbers are seconds)");
  app.add_option("--errno", errnos, "Errnos to watch, names or numbers, comma-separated");
  app.add_option("--gate", gate,
                 "Syscall hook: auto, targeted, tp_btf, raw_tp or tp (auto probes in that order; targeted is fexit on "
                 "the entry functions of the syscalls that can fail with the watched errnos, where fexit works)");
  app.add_option("--targeted-syscalls", targeted_syscalls,
                 "Edit targeted mode's syscall set, comma-separated: NAME or +NAME adds, -NAME drops "
                 "(e.g. --targeted-syscalls=+fcntl,-close)");
  app.add_option("--targeted-check-every", check_every,
                 "Targeted mode: how often the completeness check runs on sys_exit (0: at start-up only)");
  app.add_option("--targeted-check-for", check_for,
                 "Targeted mode: how long each completeness check stays on sys_exit");
  app.add_option("--no-feature", o.no_features, "Pretend the kernel lacks a feature: targeted, tp_btf, raw_tp, tp, fexit, kprobe, io_uring, aio")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
      ->check(CLI::IsMember(FeatureProbe::known_features()));
  auto* output_opt = app.add_option("-o,--output", output, "Report format for --once: text or json")
      ->check(CLI::IsMember({"text", "json"}));
  auto* events_opt = app.add_option("--events", o.report_events, "How many recent events the --once report lists")
      ->check(CLI::Range(0, 100000));
  app.add_flag("-v,--verbose", o.verbosity, "More logging; -v also shows libbpf's own messages");
  app.add_option("--log-format", log_format, "Log format: text or json")->check(CLI::IsMember({"text", "json"}));
  app.add_option("--log-file", o.log_file, "Log to this file instead of stderr (reopened on SIGHUP)");
  app.add_flag("--journald-events", o.journald_events,
               "Send each event to journald as a structured entry (ENOSPCD_* fields, priority warning)");
  app.add_option("--events-file", o.events_file,
                 "Append each event to this file as one JSON line (NDJSON), for log collectors; reopened on "
                 "SIGHUP");
  app.add_option("--events-file-size", events_file_size, "Rotate the events file before it grows past this size");
  app.add_option("--events-file-keep", o.events_file_keep, "Rotated events files kept (FILE.1 ... FILE.N)")
      ->check(CLI::Range(0, 100));
  app.add_option("--socket", o.socket_path, "Unix socket the query API listens on");
  app.add_option("--group", o.group, "Group allowed to query the socket (if it exists)");
  app.add_option("--state-dir", o.state_dir, "Directory of the event journal");
  app.add_option("--metrics-listen", o.metrics_listen,
                 "Also serve /metrics on this loopback address, e.g. 127.0.0.1:9633 or [::1]:9633");
  app.add_flag("--metrics-allow-remote", o.metrics_allow_remote,
               "Allow a non-loopback --metrics-listen address (e.g. the pod IP); serves only /metrics and /healthz");
  app.add_option("--rate-limit", o.rate_limit,
                 "Detailed events per second per (pid, syscall, errno, cgroup); counts stay exact beyond it")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1000000}));
  app.add_option("--rate-burst", o.rate_burst, "Token-bucket depth for --rate-limit")
      ->check(CLI::Range(uint64_t{1}, uint64_t{10000000}));
  app.add_option("--ringbuf-size", ringbuf, "Ring buffer size (power of two, e.g. 4M)");
  app.add_option("--history", o.history, "Events kept in memory")->check(CLI::Range(1, 10000000));
  app.add_option("--probe", o.extra_probes, "Also trace this kernel function as an ENOSPC origin (repeatable)")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_option("--host-root", o.names.root,
                 "The host's root directory, where the kubelet's and the container runtimes' state is read for "
                 "names (/proc/1/root in a container that shares the host's pid namespace)");
  app.add_option("--podman-root", o.names.podman_roots,
                 "A containers/storage root (podman's or CRI-O's --root) whose state names containers (repeatable; "
                 "default /var/lib/containers/storage)");
  app.add_option("--docker-root", o.names.docker_root,
                 "Docker's data root (its --data-root), whose containers/<id>/config.v2.json names containers "
                 "(default /var/lib/docker)");
  app.add_option("--containerd-state", o.names.containerd_state,
                 "containerd's state directory (its --state), where a running container's OCI spec names its pod "
                 "(default /run/containerd)");
  app.add_flag("--kretprobe", o.force_kretprobe, "Attach origin probes with kretprobes even where fexit works");
  app.add_flag("--no-origins", o.no_origins, "Do not attach origin probes (gate only)");

  ParseOutcome out;
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    out.exit_code = 0;
    out.message = app.help();
    return out;
  } catch (const CLI::CallForVersion& e) {
    out.exit_code = 0;
    out.message = std::string("enospcd ") + ENOSPCD_VERSION + "\n";
    return out;
  } catch (const CLI::ParseError& e) {
    out.exit_code = 2;
    out.message = std::string("enospcd: ") + e.what() + " (see enospcd --help)\n";
    return out;
  }
  auto fail = [&](const std::string& msg) {
    out.exit_code = 2;
    out.message = "enospcd: " + msg + "\n";
    return out;
  };
  if (!o.once) {
    for (const auto* opt : {duration_opt, output_opt, events_opt})
      if (opt->count() > 0) return fail(opt->get_name() + " applies only to --once");
  }
  auto d = parse_duration(duration);
  if (!d) return fail(d.error().message);
  if (d->count() == 0) return fail("--duration must be greater than zero");
  o.duration = *d;
  auto e = parse_errno_list(errnos);
  if (!e) return fail(e.error().message);
  o.errnos = *e;
  auto g = parse_gate_mode(gate);
  if (!g) return fail(g.error().message);
  o.gate_mode = *g;
  for (std::string_view piece : split(targeted_syscalls, ',')) {
    std::string item(trim(piece));
    if (item.empty()) continue;
    std::string name = !item.empty() && (item[0] == '+' || item[0] == '-') ? item.substr(1) : item;
    if (!syscall_number(name)) return fail("--targeted-syscalls: \"" + name + "\" is not a syscall of this architecture");
    o.targeted_edits.push_back(item);
  }
  auto every = parse_duration(check_every);
  if (!every) return fail("--targeted-check-every: " + every.error().message);
  o.targeted_check_every = *every;
  auto window = parse_duration(check_for);
  if (!window) return fail("--targeted-check-for: " + window.error().message);
  if (window->count() == 0) return fail("--targeted-check-for must be greater than zero");
  if (every->count() > 0 && *every <= *window)
    return fail("--targeted-check-every must be longer than --targeted-check-for");
  o.targeted_check_for = *window;
  auto rb = parse_ringbuf_size(ringbuf);
  if (!rb) return fail(rb.error().message);
  o.ringbuf_bytes = *rb;
  o.output = output == "json" ? OutputFormat::Json : OutputFormat::Text;
  o.log_format = log_format == "json" ? LogFormat::Json : LogFormat::Text;
  if (o.socket_path.empty()) return fail("--socket must not be empty");
  if (o.metrics_listen) {
    if (auto a = api::parse_loopback_address(*o.metrics_listen, o.metrics_allow_remote); !a)
      return fail(a.error().message);
  } else if (o.metrics_allow_remote) {
    return fail("--metrics-allow-remote applies only with --metrics-listen");
  }
  // The log file and the events file may be created, their directories never are.
  if (!o.log_file.empty()) {
    if (auto r = parent_exists("--log-file", o.log_file); !r) return fail(r.error().message);
  }
  if (!o.events_file.empty()) {
    if (auto r = parent_exists("--events-file", o.events_file); !r) return fail(r.error().message);
  }
  auto max = parse_bytes(events_file_size);
  if (!max) return fail(max.error().message);
  if (*max < 4096) return fail("--events-file-size " + events_file_size + " is below 4K");
  o.events_file_max_bytes = *max;
  if (o.rate_burst < o.rate_limit) o.rate_burst = o.rate_limit;
  out.options = o;
  return out;
}

}  // namespace enospcd
