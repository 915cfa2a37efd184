// Start-up: from exec to the moment the tracer says it is tracing. enospcd logs "tracing ENOSPC on syscall
// exit (...)" after its hook is attached; bpftrace prints "Attaching 1 probe..." just before it attaches,
// so its figure is, if anything, flattering to bpftrace. Configurations alternate within each round.
#include <signal.h>

#include <cstdio>
#include <regex>

#include "bench.h"

namespace bench {

nlohmann::json run_startup(const Settings& s) {
  struct Tool {
    std::string key, label;
    std::vector<std::string> argv;
    std::string needle;
  };
  auto scratch = daemon_scratch_args(s, "startup");
  std::vector<Tool> tools = {
      {"enospcd", "enospcd (origin probes requested)", {s.enospcd, "--once", "--duration", "1h"}, "tracing "},
      {"enospcd_no_origins", "enospcd --no-origins", {s.enospcd, "--once", "--duration", "1h", "--no-origins"},
       "tracing "},
      {"bpftrace", "bpftrace one-liner", {s.bpftrace, "-e", kBpftraceOneLiner}, "Attaching 1 probe"},
  };
  for (auto& t : tools)
    if (t.key != "bpftrace") t.argv.insert(t.argv.end(), scratch.begin(), scratch.end());
  std::map<std::string, std::vector<double>> ms, attach_ms;
  std::map<std::string, std::string> errors;
  int rounds = s.quick ? 2 : s.startup_rounds;
  const std::regex attached(R"(attached in ([0-9.]+) ms)");
  for (int r = 0; r < rounds; r++) {
    std::fprintf(stderr, "startup: round %d/%d\n", r + 1, rounds);
    for (const auto& t : tools) {
      Child c;
      c.spawn(t.argv, {t.needle});
      auto seen = c.wait_for(t.needle, std::chrono::seconds(60));
      if (!seen) {
        errors[t.key] = c.err().substr(0, 500);
        c.stop(SIGKILL);
        continue;
      }
      ms[t.key].push_back(std::chrono::duration<double, std::milli>(*seen - c.spawned_at()).count());
      c.stop(SIGINT);
      std::smatch m;
      std::string err = c.err();
      if (std::regex_search(err, m, attached)) attach_ms[t.key].push_back(std::stod(m[1].str()));
    }
  }
  nlohmann::json out;
  out["rounds"] = rounds;
  out["tools"] = nlohmann::json::array();
  for (const auto& t : tools) {
    nlohmann::json jt = {{"key", t.key}, {"label", t.label}, {"argv", t.argv}, {"ready_line", t.needle},
                         {"ms", to_json(summarize(ms[t.key]))}};
    if (!attach_ms[t.key].empty()) jt["self_reported_attach_ms"] = to_json(summarize(attach_ms[t.key]));
    if (errors.count(t.key)) jt["error"] = errors[t.key];
    out["tools"].push_back(jt);
  }
  return out;
}

}  // namespace bench
