#include <malloc.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <string>

#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include "api/router.h"
#include "common/printable.h"
#include "daemon/daemon.h"
#include "daemon/logging.h"
#include "daemon/options.h"
#include "daemon/output.h"
#include "daemon/views.h"

static int run(int argc, char** argv);

// One line on stderr: "enospcd: <message>", unless the message already names enospcd as its subject.
static void report_error(const std::string& message) {
  if (message.rfind("enospcd ", 0) == 0)
    std::fprintf(stderr, "%s\n", message.c_str());
  else
    std::fprintf(stderr, "enospcd: %s\n", message.c_str());
}

int main(int argc, char** argv) {
  // Start-up reads large buffers once (/proc/kallsyms, the kernel's BTF through libbpf), partly on helper
  // threads. With glibc's adaptive mmap threshold those land in thread arenas whose freed top is never given
  // back (malloc_trim trims only the main arena's top), about 11 MB for the daemon's lifetime. A fixed
  // threshold keeps large blocks in their own mappings, returned to the kernel when freed.
  mallopt(M_MMAP_THRESHOLD, 256 * 1024);
  // The event loop allocates on the main arena; the API and start-up threads share one more rather than each
  // keeping an arena of its own with its freed pages.
  mallopt(M_ARENA_MAX, 2);
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "enospcd: internal error: %s\n", e.what());
    return 70;
  }
}

static int run(int argc, char** argv) {
  // Before anything is opened: a closed stdout or stderr would otherwise be taken by the next descriptor
  // (the log file, a BPF object, the journal), which would then receive the report or the log lines.
  const bool stdout_closed = enospcd::ensure_standard_fds();
  // A write to a pipe whose reader is gone fails with EPIPE, which is reported, rather than killing the
  // daemon silently (and mid-report) with SIGPIPE.
  signal(SIGPIPE, SIG_IGN);
  auto parsed = enospcd::parse_daemon_options(argc, argv);
  if (!parsed.options) {
    (parsed.exit_code == 0 ? std::cout : std::cerr) << parsed.message;
    return parsed.exit_code;
  }
  const auto& opts = *parsed.options;
  if (opts.once && stdout_closed) {
    std::fprintf(stderr, "enospcd: standard output is closed, so the --once report would have nowhere to go\n");
    return enospcd::kExitReportNotWritten;
  }
  try {
    enospcd::setup_logging(opts.log_format, opts.verbosity, opts.log_file);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "enospcd: cannot open log file %s: %s\n", opts.log_file.c_str(), e.what());
    return 2;
  }

  // Termination signals are taken through a signalfd by the run loop; block them before any thread starts.
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &mask, nullptr);

  enospcd::Daemon daemon(opts);
  // Configuration that can fail (state directory) is checked before any BPF program is loaded.
  if (!opts.once) {
    if (auto r = daemon.open_journal(); !r) {
      report_error(r.error().message);
      return 1;
    }
  }
  if (auto r = daemon.start(); !r) {
    report_error(r.error().message);
    return 1;
  }
  if (opts.once) {
    daemon.run(std::chrono::steady_clock::now() + opts.duration, STDOUT_FILENO);
    // Strings from the kernel (paths, comm, cgroup names) need not be UTF-8: replace, never throw; integers beyond
    // 2^53 are strings of digits, as in the API. In the text report they are escaped: no control character or
    // invalid UTF-8 reaches the terminal.
    std::string report = opts.output == enospcd::OutputFormat::Json
                             ? enospcd::api::dump_json(enospcd::report_json(daemon), true)
                             : enospcd::printable_lines(enospcd::report_text(daemon));
    // Written with write(2), not std::cout, whose failures (EPIPE, ENOSPC) would pass unnoticed.
    if (auto r = daemon.write_report(STDOUT_FILENO, report); !r) {
      std::fprintf(stderr, "enospcd: the report could not be written to standard output: %s\n",
                   r.error().message.c_str());
      return enospcd::kExitReportNotWritten;
    }
    return 0;
  }
  if (auto r = daemon.serve(); !r) {
    report_error(r.error().message);
    return 1;
  }
  // Under systemd (Type=notify) the service is started once failures are traced and the API answers: a unit
  // ordered after it, or a script waiting for it, does not miss the first failures. Without NOTIFY_SOCKET
  // this does nothing.
  sd_notify(0, "READY=1");
  daemon.run(std::nullopt);
  sd_notify(0, "STOPPING=1");
  return 0;
}
