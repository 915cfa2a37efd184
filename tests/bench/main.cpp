// enospcd-bench: the benchmark suite of issue 8, run by scripts/bench.sh.
//
//   enospcd-bench run --enospcd build/src/daemon/enospcd --out results.json [--only hotpath,storm,startup,query]
//   enospcd-bench run --enospcd ... --out soak.json --only soak [--soak-duration 3600]
//   enospcd-bench render results.json --markdown part.md --plot-data hotpath.dat [--soak-plot-data soak.dat]
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <ctime>
#include <fstream>
#include <iostream>
#include <set>

#include <CLI/CLI.hpp>

#include "bench.h"
#include "loader/libbpf_log.h"

namespace {

std::string now_utc() {
  std::time_t t = std::time(nullptr);
  char buf[64];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S UTC", std::gmtime(&t));
  return buf;
}

void write_file(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp);
    out << text;
  }
  std::rename(tmp.c_str(), path.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"enospcd benchmark suite: overhead against the floor and bpftrace, storms, start-up, memory, queries"};
  app.require_subcommand(1);
  bench::Settings s;
  std::string out_path = "results.json", only = "hotpath,storm,startup,query", command;
  auto* run = app.add_subcommand("run", "Run the measurements and write the results JSON");
  run->add_option("--enospcd", s.enospcd, "Path of the enospcd binary")->required()->check(CLI::ExistingFile);
  run->add_option("--bpftrace", s.bpftrace, "bpftrace binary");
  run->add_option("--curl", s.curl, "curl binary");
  run->add_option("--out", out_path, "Results JSON");
  run->add_option("--only", only,
                  "Comma-separated subset: hotpath, storm, startup, query; or soak (not in the default set)");
  run->add_option("--work-dir", s.work_dir, "Scratch directory (default: a fresh one under /tmp)");
  run->add_option("--rounds", s.rounds, "Rounds of the hot-path benchmark")->check(CLI::Range(1, 1000));
  run->add_option("--storm-workers", s.storm_workers, "Storm worker processes (default 2 x nproc)");
  run->add_option("--storm-failures", s.storm_failures, "Failures per storm run");
  run->add_option("--startup-rounds", s.startup_rounds, "Rounds of the start-up benchmark")->check(CLI::Range(1, 100));
  run->add_option("--query-requests", s.query_requests, "Requests per endpoint")->check(CLI::Range(1, 100000));
  run->add_option("--soak-duration", s.soak_seconds, "Seconds the soak runs")->check(CLI::Range(10.0, 7 * 86400.0));
  run->add_option("--soak-sample", s.soak_sample_s, "Seconds between soak samples")->check(CLI::Range(1.0, 3600.0));
  run->add_option("--soak-churn-ms", s.soak_churn_ms, "Lifetime of each soak worker process")
      ->check(CLI::Range(10, 3600000));
  run->add_option("--soak-workers", s.soak_workers, "Soak worker processes running at once")->check(CLI::Range(1, 64));
  run->add_option("--command", command, "The command line to record in the results (set by scripts/bench.sh)");
  run->add_option("--hotpath-configs", s.hotpath_configs,
                  "Hot path: only these configurations, comma-separated (e.g. base,floor_tp_btf,gate_tp_btf,"
                  "gate_targeted in the VM tier, where fexit works)")
      ->delimiter(',');
  run->add_flag("--quick", s.quick, "Few rounds and small workloads, to check the harness works");

  std::string results_path, md_path, plot_path, soak_plot_path;
  auto* render = app.add_subcommand("render", "Turn a results JSON into Markdown and plot data");
  render->add_option("results", results_path, "Results JSON")->required()->check(CLI::ExistingFile);
  render->add_option("--markdown", md_path, "Where to write the Markdown section")->required();
  render->add_option("--plot-data", plot_path, "Where to write the plot data");
  render->add_option("--soak-plot-data", soak_plot_path, "Where to write the soak's plot data");
  CLI11_PARSE(app, argc, argv);

  if (*render) {
    std::ifstream in(results_path);
    auto res = nlohmann::json::parse(in);
    write_file(md_path, bench::render_markdown(res));
    if (!plot_path.empty()) write_file(plot_path, bench::render_plot_data(res));
    if (!soak_plot_path.empty()) write_file(soak_plot_path, bench::render_soak_plot_data(res));
    return 0;
  }

  if (geteuid() != 0) {
    std::fprintf(stderr, "enospcd-bench: needs root (BPF programs, tmpfs mounts)\n");
    return 1;
  }
  enospcd::route_libbpf_log(false);
  if (s.work_dir.empty()) {
    char tmpl[] = "/tmp/enospcd-bench.XXXXXX";
    if (!mkdtemp(tmpl)) {
      std::perror("mkdtemp");
      return 1;
    }
    s.work_dir = tmpl;
  }
  mkdir(s.work_dir.c_str(), 0755);
  std::set<std::string> parts;
  for (std::size_t b = 0, e; b <= only.size(); b = e + 1) {
    e = only.find(',', b);
    if (e == std::string::npos) e = only.size();
    if (e > b) parts.insert(only.substr(b, e - b));
  }

  nlohmann::json res;
  res["date"] = now_utc();
  res["machine"] = bench::machine_info();
  res["command"] = command.empty() ? "enospcd-bench run" : command;
  res["quick"] = s.quick;
  res["errors"] = nlohmann::json::object();
  auto t0 = bench::Clock::now();
  using Fn = nlohmann::json (*)(const bench::Settings&);
  std::vector<std::pair<std::string, Fn>> steps = {
      {"hotpath", bench::run_hotpath}, {"storm", bench::run_storm}, {"startup", bench::run_startup},
      {"query", bench::run_query}, {"soak", bench::run_soak}};
  for (const auto& [name, fn] : steps) {
    if (!parts.count(name)) continue;
    auto t1 = bench::Clock::now();
    try {
      res[name] = fn(s);
      res[name]["elapsed_s"] = std::chrono::duration<double>(bench::Clock::now() - t1).count();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s: %s\n", name.c_str(), e.what());
      res["errors"][name] = e.what();
    }
    res["elapsed_s"] = std::chrono::duration<double>(bench::Clock::now() - t0).count();
    write_file(out_path, res.dump(2) + "\n");  // partial results survive a later failure
  }
  // The scratch directory goes, unless something is still mounted below it.
  bool mounted = false;
  {
    std::ifstream mounts("/proc/self/mounts");
    std::string dev, dir;
    while (mounts >> dev >> dir) {
      if (dir.rfind(s.work_dir + "/", 0) == 0) mounted = true;
      mounts.ignore(4096, '\n');
    }
  }
  if (!mounted) {
    std::error_code ec;
    std::filesystem::remove_all(s.work_dir, ec);
  }
  return res["errors"].empty() ? 0 : 1;
}
