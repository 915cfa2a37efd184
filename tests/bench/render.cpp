// Results JSON -> the generated part of BENCHMARKS.md, and the data the plot is drawn from.
#include <cmath>
#include <algorithm>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "bench.h"

namespace bench {
namespace {

using nlohmann::json;

double num(const json& j, const char* key, double fallback = NAN) {
  return j.is_object() && j.contains(key) && j[key].is_number() ? j[key].get<double>() : fallback;
}

std::string f1(double v) { return std::isnan(v) ? "n/a" : fmt::format("{:.1f}", v); }
std::string f2(double v) { return std::isnan(v) ? "n/a" : fmt::format("{:.2f}", v); }
std::string mib(double bytes) { return std::isnan(bytes) ? "n/a" : fmt::format("{:.1f} MiB", bytes / 1048576.0); }
std::string kib_as_mib(double kb) { return std::isnan(kb) ? "n/a" : fmt::format("{:.1f} MiB", kb / 1024.0); }
std::string thousands(double v) {
  if (std::isnan(v)) return "n/a";
  std::string s = fmt::format("{:.0f}", v), out;
  int n = 0;
  for (auto it = s.rbegin(); it != s.rend(); ++it) {
    if (n && n % 3 == 0 && *it != '-') out.insert(out.begin(), ' ');
    out.insert(out.begin(), *it);
    n++;
  }
  return out;
}

std::string config_label(const json& hot, const std::string& key) {
  for (const auto& c : hot["configs"])
    if (c["key"] == key) {
      std::string hook = c.value("hook", "-");
      return c.value("label", key) + (hook == "-" ? "" : " (" + hook + ")");
    }
  return key;
}

const json* find_workload(const json& hot, const std::string& key) {
  for (const auto& w : hot["workloads"])
    if (w["key"] == key) return &w;
  return nullptr;
}

void hotpath_md(std::ostringstream& md, const json& hot) {
  md << "### 1. Hot-path overhead\n\n";
  md << fmt::format("{} rounds; in every round each configuration, in a shuffled order, is attached, measured on "
                    "every workload and detached, and \"no tracer\" is measured right before it. The benchmark runs "
                    "pinned to CPU {}. Loops: {} calls per measurement, the median of {}-call chunks of thread CPU "
                    "time. tar: CPU time of `tar -x` ({} files, {:.0f} syscalls per extraction, counted by a BPF "
                    "program) onto a fresh tmpfs. Overhead = configuration minus the no-tracer measurement next to "
                    "it; the tables give the median over rounds and, in brackets, the interquartile range.\n\n",
                    hot.value("rounds", 0), hot.value("cpu", 0), hot.value("loop_calls_per_round", 0), 20000,
                    hot["tar"].value("files", 0), num(hot["tar"], "syscalls_per_extraction"));
  md << "| configuration | ";
  std::vector<std::string> wl;
  for (const auto& w : hot["workloads"]) {
    wl.push_back(w["key"]);
    md << w.value("label", "") << ": ns/syscall | overhead ns (IQR) | ";
  }
  md << "\n|---|";
  for (std::size_t i = 0; i < wl.size(); i++) md << "---:|---:|";
  md << "\n";
  for (const auto& c : hot["configs"]) {
    std::string key = c["key"];
    md << "| " << config_label(hot, key) << " | ";
    for (const auto& wk : wl) {
      const auto& jc = (*find_workload(hot, wk))["configs"][key];
      double med = num(jc["summary"], "median");
      md << f1(med) << " | ";
      if (key == "base") {
        md << "- | ";
      } else {
        const auto& o = jc["overhead"];
        md << f1(num(o, "median")) << " (" << f1(num(o, "p25")) << " .. " << f1(num(o, "p75")) << ") | ";
      }
    }
    md << "\n";
  }
  md << "\n**Ratios of overheads** ((a - base) / (b - base); median overhead of a over median overhead of b, "
        "and in brackets the interquartile range of the same ratio formed round by round):\n\n";
  md << "| a / b | ";
  for (const auto& w : hot["workloads"]) md << w.value("key", "") << " | ";
  md << "target |\n|---|";
  for (std::size_t i = 0; i < wl.size(); i++) md << "---:|";
  md << "---|\n";
  const auto& ratios0 = (*find_workload(hot, wl[0]))["ratios"];
  for (std::size_t r = 0; r < ratios0.size(); r++) {
    std::string a = ratios0[r]["num"], b = ratios0[r]["den"];
    // A run of some configurations only (--hotpath-configs) leaves out the ratios it has no numbers for.
    bool any = false;
    std::set<double> maxes;
    for (const auto& wk : wl) {
      const auto& jr = (*find_workload(hot, wk))["ratios"][r];
      any = any || !std::isnan(num(jr, "ratio_of_median_overheads"));
      if (jr.contains("target")) maxes.insert(jr["target"]["max"].get<double>());
    }
    if (!any) continue;
    md << "| " << config_label(hot, a) << " / " << config_label(hot, b) << " | ";
    for (const auto& wk : wl) {
      const auto& jr = (*find_workload(hot, wk))["ratios"][r];
      double v = num(jr, "ratio_of_median_overheads");
      md << "**" << f2(v) << "** (" << f2(num(jr["per_round"], "p25")) << " .. " << f2(num(jr["per_round"], "p75"))
         << ")";
      if (jr.contains("target") && !std::isnan(v)) md << (v <= jr["target"]["max"].get<double>() ? " ✓" : " ✗");
      md << " | ";
    }
    if (maxes.size() > 1)
      md << ratios0[r]["target"]["what"].get<std::string>() << " |\n";
    else if (ratios0[r].contains("target"))
      md << "≤ " << f2(ratios0[r]["target"]["max"].get<double>()) << " |\n";
    else
      md << "- |\n";
  }
  md << "\n";
  if (hot.contains("ab_tp_btf")) {
    const auto& ab = hot["ab_tp_btf"];
    md << fmt::format("**Gate against floor in tight succession** (tp_btf, getppid loop, {} triplets no tracer / "
                      "floor / gate a few hundred ms apart, floor and gate alternating in order, {} skipped because "
                      "other tracers came or went): (gate - base) / (floor - base) = **{}** (IQR {} .. {}); "
                      "gate - floor = {} ns (IQR {} .. {}) on a floor overhead of {} ns.\n\n",
                      ab.value("triplets", 0), ab.value("skipped", 0), f2(num(ab["ratio"], "median")),
                      f2(num(ab["ratio"], "p25")), f2(num(ab["ratio"], "p75")),
                      f1(num(ab["gate_minus_floor_ns"], "median")), f1(num(ab["gate_minus_floor_ns"], "p25")),
                      f1(num(ab["gate_minus_floor_ns"], "p75")), f1(num(ab["floor_overhead_ns"], "median")));
  }
  for (const auto& c : hot["configs"])
    if (c["key"] == "enospcd" && c["notes"].is_object()) {
      const auto& n = c["notes"];
      md << fmt::format("The daemon ran in **{}** mode with the {} gate: {} of {} origin functions attached ({}).\n\n",
                        n.value("mode", "?"), n.value("gate", "?"), n.value("origins_live", 0),
                        n.value("origins_total", 0), n.value("mode_reason", ""));
    }
  if (hot.contains("program_profiles") && !hot["program_profiles"].empty()) {
    md << "**Program bodies alone** (the kernel's BPF run-time statistics, switched on only for this step, over 2M "
          "getppid calls; the hook's fixed cost is not in these figures):\n\n"
          "| program | hook | BPF instructions (whole program) | JIT bytes | ns per run |\n|---|---|---:|---:|---:|\n";
    for (const auto& [key, p] : hot["program_profiles"].items())
      md << "| `" << p.value("name", key) << "` | " << config_label(hot, key) << " | "
         << thousands(num(p, "xlated_insns")) << " | " << thousands(num(p, "jited_bytes")) << " | "
         << f2(num(p, "run_ns_per_call")) << " |\n";
    md << "\n";
  }
  if (!hot["setup_errors"].empty()) md << "Set-up failures: `" << hot["setup_errors"].dump() << "`\n\n";
  if (hot.contains("other_tracers")) {
    const auto& o = hot["other_tracers"];
    int changed = o.value("dropped_set_changed", 0), unpaired = o.value("dropped_set_differs_from_base", 0);
    if (o["programs"].empty()) {
      md << "No other program was attached to the syscall tracepoints during the run.\n\n";
    } else {
      md << fmt::format("**Other tracers on the host.** In {} of {} measurements, programs that are not part of the "
                        "benchmark were attached to the syscall tracepoints (other engineers' daemons and tests on "
                        "this shared machine): ",
                        o.value("measurements_with_other_tracers", 0), o.value("measurements", 0));
      bool first = true;
      for (const auto& p : o["programs"]) {
        md << (first ? "" : ", ") << "`" << p.get<std::string>() << "`";
        first = false;
      }
      md << fmt::format(". They add the same cost to every configuration, \"no tracer\" included; where they were "
                        "present, the kernel's fixed cost of a syscall-exit tracer (the syscall slow path) was already "
                        "paid by \"no tracer\", and the overheads above are the marginal cost of one more program. "
                        "{} measurements were dropped because the set changed while they ran, {} because it differed "
                        "from that of the no-tracer measurement next to it.\n\n",
                        changed, unpaired);
    }
  }
}

void storm_md(std::ostringstream& md, const json& st) {
  md << "### 2. Storm\n\n";
  md << fmt::format("{} worker processes loop on `open(O_CREAT)`, each on its own tmpfs mounted `nr_inodes=2` "
                    "(full), until {} failures in total. The workers count their own ENOSPC; the daemon's `top` rows "
                    "for their pids must match each worker exactly. Daemon CPU is utime+stime from /proc/<pid>/stat, "
                    "from before the storm until the daemon has drained its ring buffer; the workers stay alive "
                    "until then, so that the daemon can still read their /proc entries.\n\n",
                    st.value("workers", 0), thousands(num(st, "target_failures")));
  md << "Failures/s is wall-clock and moves with the load of the shared machine; the workers' CPU time per "
        "failure does not, and its increase over the untraced run is what tracing costs the failing process.\n\n";
  md << "| run | failures | failures/s | worker CPU ns per failure | counted by enospcd | exact | events received "
        "| suppressed (rate limit) | lost (ring full) | daemon CPU per 100k failures |\n"
        "|---|---:|---:|---:|---:|---|---:|---:|---:|---:|\n";
  double untraced_ns = NAN;
  for (const auto& r : st["runs"])
    if (r.value("key", "") == "untraced") untraced_ns = num(r, "worker_cpu_ns_per_failure");
  for (const auto& r : st["runs"]) {
    double ns = num(r, "worker_cpu_ns_per_failure");
    md << "| " << r.value("label", "") << " | " << thousands(num(r, "failures")) << " | "
       << thousands(num(r, "failures_per_s")) << " | " << thousands(ns);
    if (r.value("key", "") != "untraced" && !std::isnan(untraced_ns))
      md << " (" << (ns >= untraced_ns ? "+" : "") << thousands(ns - untraced_ns) << ")";
    md << " | ";
    if (r.contains("daemon")) {
      const auto& d = r["daemon"];
      md << thousands(num(d, "failures_counted_workers")) << " | "
         << (d.value("exact", false) ? "100 % ✓" : f2(num(d, "exactness_pct")) + " % ✗") << " | "
         << thousands(num(d, "events_received")) << " | " << thousands(num(d["losses"], "rate_limited")) << " | "
         << thousands(num(d["losses"], "ringbuf_full")) << " | " << f1(num(r, "daemon_cpu_ms_per_100k"))
         << " ms |\n";
    } else if (r.contains("error")) {
      md << r["error"].get<std::string>() << " | | | | | |\n";
    } else {
      md << "- | - | - | - | - | - |\n";
    }
  }
  md << "\n";
}

void startup_md(std::ostringstream& md, const json& su) {
  md << "### 3. Start-up\n\n";
  md << fmt::format("Time from fork+exec to the ready line, {} rounds alternating the tools. bpftrace prints "
                    "\"Attaching 1 probe...\" just *before* attaching, enospcd logs \"tracing ...\" *after*.\n\n",
                    su.value("rounds", 0));
  md << "| tool | ready line | median ms | IQR ms | min ms | attach (self-reported) ms |\n"
        "|---|---|---:|---:|---:|---:|\n";
  for (const auto& t : su["tools"]) {
    md << "| " << t.value("label", "") << " | `" << t.value("ready_line", "") << "` | " << f1(num(t["ms"], "median"))
       << " | " << f1(num(t["ms"], "p25")) << " .. " << f1(num(t["ms"], "p75")) << " | " << f1(num(t["ms"], "min"))
       << " | " << (t.contains("self_reported_attach_ms") ? f1(num(t["self_reported_attach_ms"], "median")) : "-")
       << " |\n";
  }
  md << "\n";
}

void memory_md(std::ostringstream& md, const json& st) {
  md << "### 4. Memory\n\n";
  md << "Daemon memory 1 s after it started tracing (idle) and after the storm above, once drained. BPF map memory "
        "is the `memlock` of each map the daemon holds, from /proc/<pid>/fdinfo.\n\n";
  md << "| run | failures | VmRSS idle | VmHWM idle | VmRSS after | VmHWM after | BPF maps idle | BPF maps after |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|\n";
  const json* maps = nullptr;
  for (const auto& r : st["runs"]) {
    if (!r.contains("memory_idle")) continue;
    const auto& i = r["memory_idle"];
    const auto& a = r["memory_after"];
    md << "| " << r.value("label", "") << " | " << thousands(num(r, "failures")) << " | "
       << kib_as_mib(num(i, "vm_rss_kb")) << " | " << kib_as_mib(num(i, "vm_hwm_kb")) << " | "
       << kib_as_mib(num(a, "vm_rss_kb")) << " | " << kib_as_mib(num(a, "vm_hwm_kb")) << " | "
       << mib(num(i, "bpf_map_memlock_bytes")) << " | " << mib(num(a, "bpf_map_memlock_bytes")) << " |\n";
    if (!maps) maps = &a["bpf_maps"];
  }
  if (maps && !maps->empty()) {
    md << "\nBPF maps of the daemon: ";
    bool first = true;
    for (const auto& m : *maps) {
      md << (first ? "" : ", ") << "`" << m.value("name", "?") << "` (" << m.value("type", "") << ", "
         << thousands(num(m, "max_entries")) << " entries) " << mib(num(m, "memlock"));
      first = false;
    }
    md << ".\n";
  }
  md << "\n";
}

void query_md(std::ostringstream& md, const json& q) {
  md << "### 5. Query latency\n\n";
  if (q.contains("skipped")) {
    md << "Not measured in this run: " << q["skipped"].get<std::string>() << ".\n\n";
    return;
  }
  md << fmt::format("{} events stored; the requests of an endpoint come from one curl process over one kept-alive "
                    "connection (curl's `time_total` per transfer, after 5 warm-up requests).\n\n",
                    thousands(num(q, "events_stored")));
  md << "| endpoint | requests | p50 ms | p99 ms | response bytes | non-200 |\n|---|---:|---:|---:|---:|---:|\n";
  for (const auto& e : q["endpoints"])
    md << "| `GET " << e.value("path", "") << "` | " << e.value("requests", 0) << " | " << f2(num(e, "p50_ms")) << " | "
       << f2(num(e, "p99_ms")) << " | "
       << thousands(num(e, "response_bytes")) << " | " << e.value("non_200", 0) << " |\n";
  md << "\n";
}

void soak_md(std::ostringstream& md, const json& sk) {
  md << "### Soak\n\n";
  md << fmt::format(
      "The daemon as deployed (daemon mode, default rate limit, journal, API: `{}`) for {} s under a storm that "
      "does not stop: {} worker process(es) at a time fail `open(O_CREAT)` and `mkdir()` with ENOSPC on a full "
      "tmpfs as fast as they can, and each is replaced by a new process every {} ms, so pids and counter keys "
      "come and go. Every {} s: the daemon's VmRSS, CPU, BPF map memory, state directory size and counters are "
      "read and `/v1/top` and `/v1/events?limit=100` are queried.\n\n",
      [&] {
        std::string a;
        for (const auto& x : sk["daemon_args"]) {
          if (!a.empty()) a += ' ';
          a += x.get<std::string>();
        }
        return a.substr(a.find_last_of('/') + 1);
      }(),
      f1(num(sk, "duration_s")), sk.value("workers", 0), sk.value("churn_ms", 0), f1(num(sk, "sample_s")));
  md << "![daemon RSS during the soak](tests/bench/results/soak.png)\n\n";
  double failures = num(sk, "failures");
  md << "| measure | value |\n|---|---:|\n";
  md << "| failures (the workers' own count) | " << thousands(failures) << " |\n";
  md << "| counted by enospcd (the workers' `/v1/top` rows, " << thousands(num(sk, "worker_top_rows"))
     << " of them) | " << thousands(num(sk, "failures_counted")) << " ("
     << (sk.value("exact", false) ? "exact ✓" : "NOT exact ✗") << ") |\n";
  md << "| counted by enospcd for the whole host | " << thousands(num(sk, "failures_counted_host")) << " |\n";
  md << "| failing processes (each exited) | " << thousands(num(sk, "processes_spawned")) << " |\n";
  md << "| failures per second | " << thousands(failures / num(sk, "duration_s")) << " |\n";
  md << "| daemon CPU per 100 000 failures | " << f1(num(sk, "daemon_cpu_ms_per_100k")) << " ms |\n";
  md << "| daemon CPU, whole run | " << f1(num(sk, "daemon_cpu_s")) << " s |\n";
  if (sk.contains("rss_after_warmup")) {
    const auto& r = sk["rss_after_warmup"];
    md << "| VmRSS after the first tenth: min / median / max | " << f1(num(r, "min")) << " / "
       << f1(num(r, "median")) << " / " << f1(num(r, "max")) << " MiB |\n";
    md << "| VmRSS trend after the first tenth (least squares) | " << f2(num(sk, "rss_slope_mib_per_hour"))
       << " MiB per hour |\n";
  }
  // The second half, when every bound (event store, retired counters, journal cap) has long been reached.
  {
    double half = num(sk, "duration_s") / 2;
    std::vector<double> x, y;
    for (const auto& smp : sk["samples"])
      if (num(smp, "t_s", 0) >= half && smp.contains("vm_rss_kb")) {
        x.push_back(num(smp, "t_s", 0) / 3600.0);
        y.push_back(num(smp, "vm_rss_kb", 0) / 1024.0);
      }
    if (x.size() >= 3) {
      double n = static_cast<double>(x.size()), sx = 0, sy = 0, sxx = 0, sxy = 0;
      for (std::size_t i = 0; i < x.size(); i++) sx += x[i], sy += y[i], sxx += x[i] * x[i], sxy += x[i] * y[i];
      double d = n * sxx - sx * sx;
      auto mm = std::minmax_element(y.begin(), y.end());
      md << "| VmRSS in the second half: min / max | " << f1(*mm.first) << " / " << f1(*mm.second) << " MiB |\n";
      md << "| VmRSS trend in the second half (least squares) | " << f2(d == 0 ? 0.0 : (n * sxy - sx * sy) / d)
         << " MiB per hour |\n";
    }
  }
  md << "| VmRSS / VmHWM at the end | " << kib_as_mib(num(sk, "vm_rss_kb_end")) << " / "
     << kib_as_mib(num(sk, "vm_hwm_kb_end")) << " |\n";
  double max_state = 0, max_maps = 0, max_query = 0, max_rows = 0;
  uint64_t ring_full = 0, counter_full = 0, queries_failed = 0;
  for (const auto& smp : sk["samples"]) {
    max_state = std::max(max_state, num(smp, "state_dir_bytes", 0));
    max_maps = std::max(max_maps, num(smp, "bpf_map_memlock_bytes", 0));
    max_query = std::max(max_query, num(smp, "query_ms", 0));
    max_rows = std::max(max_rows, num(smp, "top_rows", 0));
    ring_full = std::max<uint64_t>(ring_full, smp.value("ringbuf_full", uint64_t{0}));
    counter_full = std::max<uint64_t>(counter_full, smp.value("counter_map_full", uint64_t{0}));
    if (!smp.value("queries_ok", false)) queries_failed++;
  }
  md << "| BPF map memory (max over samples) | " << mib(max_maps) << " |\n";
  md << "| state directory (max over samples) | " << mib(max_state) << " |\n";
  md << "| `/v1/top` rows (max over samples) | " << thousands(max_rows) << " |\n";
  md << "| `/v1/top` + `/v1/events?limit=100`, slowest sample | " << f1(max_query) << " ms |\n";
  md << "| samples whose queries failed | " << queries_failed << " of " << sk["samples"].size() << " |\n";
  md << "| events lost to a full ring buffer / counter map full | " << ring_full << " / " << counter_full << " |\n";
  md << "| SIGTERM at the end: exit status, time to exit | " << sk.value("exit_status", -1) << ", "
     << f1(num(sk, "stop_ms")) << " ms |\n\n";
}

}  // namespace

std::string render_markdown(const json& res) {
  std::ostringstream md;
  const auto& m = res["machine"];
  bool soak_only = res.contains("soak") && !res.contains("hotpath") && !res.contains("storm");
  md << (soak_only ? "## Soak of the last run\n\n" : "## Results of the last run\n\n");
  md << "- Date: " << res.value("date", "") << ", total run time " << f1(num(res, "elapsed_s")) << " s\n";
  md << "- Machine: `" << m.value("uname", "") << "`\n";
  md << "- CPU: " << m.value("cpu", "") << ", nproc " << m.value("nproc", 0) << ", load average at start "
     << f2(num(m, "loadavg_at_start")) << ", spectre_v2: " << m.value("spectre_v2", "") << "\n";
  md << "- Command: `" << res.value("command", "") << "`\n\n";
  if (res.contains("hotpath")) md << "![ns per syscall per configuration](tests/bench/results/hotpath.png)\n\n";
  if (res.contains("hotpath")) hotpath_md(md, res["hotpath"]);
  if (res.contains("storm")) storm_md(md, res["storm"]);
  if (res.contains("startup")) startup_md(md, res["startup"]);
  if (res.contains("storm")) memory_md(md, res["storm"]);
  if (res.contains("query")) query_md(md, res["query"]);
  if (res.contains("soak")) soak_md(md, res["soak"]);
  for (const auto& [k, v] : res["errors"].items())
    md << "**" << k << " failed:** " << v.get<std::string>() << "\n\n";
  return md.str();
}

// One block per plotted workload (getppid, tar, getppid on CPU 0): short label, median, p25, p75, colour, and
// the same three for the overhead.
std::string render_plot_data(const json& res) {
  std::ostringstream out;
  if (!res.contains("hotpath")) return "";
  const auto& hot = res["hotpath"];
  auto short_label = [](const json& c) {
    std::string key = c["key"];
    if (key == "base") return std::string("no tracer");
    if (key == "enospcd") return std::string("enospcd daemon");
    if (key == "bpftrace") return std::string("bpftrace");
    std::string kind = key.rfind("floor", 0) == 0 ? "floor" : "gate";
    return kind + " " + c.value("hook", "");
  };
  auto colour = [](const std::string& key) {
    if (key == "base") return 0x999999;
    if (key.rfind("floor", 0) == 0) return 0x4477aa;
    if (key.rfind("gate", 0) == 0 || key == "enospcd") return 0x228833;
    return 0xee6677;
  };
  for (const std::string wk : {"getppid", "tar", "getppid_cpu0"}) {
    const json* w = find_workload(hot, wk);
    if (!w) continue;
    out << "# " << w->value("label", "") << "\n";
    for (const auto& c : hot["configs"]) {
      const auto& jc = (*w)["configs"][c["key"].get<std::string>()];
      const auto& s = jc["summary"];
      const auto& o = jc["overhead"];
      bool base = c["key"] == "base";
      out << "\"" << short_label(c) << "\" " << num(s, "median") << " " << num(s, "p25") << " " << num(s, "p75") << " "
          << colour(c["key"]) << " " << (base ? 0.0 : num(o, "median")) << " " << (base ? 0.0 : num(o, "p25")) << " "
          << (base ? 0.0 : num(o, "p75")) << "\n";
    }
    out << "\n\n";
  }
  return out.str();
}

// Soak samples: minutes, VmRSS MiB, daemon CPU s, state directory MiB, BPF map MiB.
std::string render_soak_plot_data(const json& res) {
  std::ostringstream out;
  if (!res.contains("soak")) return "";
  for (const auto& smp : res["soak"]["samples"])
    out << num(smp, "t_s", 0) / 60.0 << " " << num(smp, "vm_rss_kb", 0) / 1024.0 << " " << num(smp, "daemon_cpu_s", 0)
        << " " << num(smp, "state_dir_bytes", 0) / 1048576.0 << " " << num(smp, "bpf_map_memlock_bytes", 0) / 1048576.0
        << "\n";
  return out.str();
}

}  // namespace bench
