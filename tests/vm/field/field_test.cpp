// The VM tier's field cases: real third-party programs (GNU cp, dd and tar, rsync, python3's shutil, git,
// util-linux fallocate and unshare) run out of space on small tmpfs mounts in Debian's stock kernels under QEMU
// while the daemon traces with chains (fexit, then forced kretprobes). Some failures are read by the daemon
// only after the process, its mount namespace or its tmpfs is gone, or name a path relative to a dirfd. The
// daemon must exit cleanly (and, in a sanitizer build, without a sanitizer report), list every failure the
// programs themselves reported, under the program's name, and explain each with a tmpfs cause. The arm64
// kernels boot the arm64 build of this tree (scripts/build-arm64.sh) with Debian's arm64 builds of the programs.
//
// ENOSPCD_VM_FIELD_DAEMON=/path/to/enospcd runs the cases against another build of the daemon (the x86_64
// kernels; ENOSPCD_VM_FIELD_ARM64_DAEMON for the arm64 ones);
// ENOSPCD_VM_FIELD_KEEP=DIR keeps each kernel's console log (with the daemon's reports) as DIR/<kernel>.log, from
// which the recorded events of tests/unit/diagnose/fixtures are taken.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

using nlohmann::json;

// One case of the scenario: what its programs printed about themselves.
struct CaseResult {
  std::map<std::string, std::string> kv;  // runs, rc (comma-separated exit statuses), enospc, uptime
  std::string output;                     // the programs' stderr and stdout
};

struct ModeRun {
  int daemon_rc = -1;
  std::string daemon_stderr;
  bool has_report = false;
  json report;
  std::map<std::string, CaseResult> cases;
};

struct VmRun {
  int exit_code = -1;
  std::string skip;  // why the run could not happen here (payload program missing)
  std::string log;
  double seconds = 0;
  std::map<std::string, ModeRun> modes;
};

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// arm64 kernels of the matrix ("arm64-6.1") boot the arm64 build of this tree under qemu-system-aarch64.
bool is_arm64(const std::string& kernel) { return kernel.rfind("arm64-", 0) == 0; }

// Debian's arm64 6.1 is built without DYNAMIC_FTRACE_WITH_DIRECT_CALLS: fexit programs load there but no
// function takes their trampoline (ENOTSUPP).
bool fexit_attaches(const std::string& kernel) { return kernel != "arm64-6.1"; }

std::string daemon_path(const std::string& kernel) {
  const char* d = std::getenv(is_arm64(kernel) ? "ENOSPCD_VM_FIELD_ARM64_DAEMON" : "ENOSPCD_VM_FIELD_DAEMON");
  if (d && *d) return d;
  return is_arm64(kernel) ? std::string(ENOSPCD_ARM64_BUILD_DIR) + "/src/daemon/enospcd" : ENOSPCD_DAEMON;
}

std::string between(const std::string& text, const std::string& begin, const std::string& end, bool* found) {
  auto b = text.find(begin), e = text.find(end);
  *found = b != std::string::npos && e != std::string::npos && e > b;
  if (!*found) return "";
  return text.substr(b + begin.size(), e - b - begin.size());
}

std::map<std::string, std::string> key_values(const std::string& line) {
  std::map<std::string, std::string> kv;
  std::istringstream words(line);
  std::string w;
  while (words >> w)
    if (auto eq = w.find('='); eq != std::string::npos) kv[w.substr(0, eq)] = w.substr(eq + 1);
  return kv;
}

void parse(const std::string& text, VmRun& r) {
  std::istringstream lines(text);
  std::string line;
  CaseResult* current = nullptr;
  while (std::getline(lines, line)) {
    if (line.rfind("ENOSPCD-FIELD-CASE ", 0) == 0) {
      std::istringstream words(line.substr(19));
      std::string mode, name;
      words >> mode >> name;
      current = &r.modes[mode].cases[name];
      current->kv = key_values(line);
    } else if (current && line.rfind("  | ", 0) == 0) {
      current->output += line.substr(4) + "\n";
    } else {
      current = nullptr;
    }
    if (line.rfind("ENOSPCD-FIELD-DAEMON ", 0) == 0) {
      std::istringstream words(line.substr(21));
      std::string mode;
      words >> mode;
      auto kv = key_values(line);
      r.modes[mode].daemon_rc = kv.count("rc") ? std::atoi(kv["rc"].c_str()) : -1;
    }
  }
  for (auto& [mode, m] : r.modes) {
    bool found = false;
    m.daemon_stderr = between(text, "ENOSPCD-FIELD-STDERR-BEGIN " + mode + "\n", "ENOSPCD-FIELD-STDERR-END " + mode, &found);
    std::string body = between(text, "ENOSPCD-FIELD-REPORT-BEGIN " + mode + "\n", "ENOSPCD-FIELD-REPORT-END " + mode, &found);
    if (!found) continue;
    try {
      m.report = json::parse(body);
      m.has_report = m.report.is_object();
    } catch (const std::exception&) {
    }
  }
}

VmRun boot_once(const std::string& kernel) {
  VmRun r;
  char tmpl[] = "/tmp/enospcd-vmfield.XXXXXX";
  std::string dir = mkdtemp(tmpl);
  std::string payload = dir + "/payload", log = dir + "/console.log";
  std::string vm = ENOSPCD_VM_DIR;
  // The programs are the host's for x86_64, Debian's arm64 packages for arm64 (payload.sh tells by the daemon).
  int status = std::system((vm + "/field/payload.sh " + payload + " " + daemon_path(kernel) + " --arch " +
                            (is_arm64(kernel) ? "arm64" : "x86_64") + " 2>" + dir + "/payload.err")
                               .c_str());
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::string why = read_file(dir + "/payload.err");
    if (WIFEXITED(status) && WEXITSTATUS(status) == 77)
      r.skip = why;
    else if (WIFEXITED(status) && WEXITSTATUS(status) == 75)
      r.exit_code = 75, r.log = why;  // an arm64 package neither cached nor downloadable: as an uncached kernel
    else
      r.log = "payload.sh failed: " + why;
    std::system(("rm -rf " + dir).c_str());
    return r;
  }
  if (std::string versions = read_file(payload + "/userland"); !versions.empty()) {
    std::replace(versions.begin(), versions.end(), '\n', ';');
    std::printf("[%s] Debian's arm64 programs: %s\n", kernel.c_str(), versions.c_str());
  }
  auto t0 = std::chrono::steady_clock::now();
  // The sanitizer build needs more memory than the default 1 GiB leaves once the initramfs is unpacked, and
  // 65 535 memory cgroups take about 1.4 GiB.
  std::string cmd = vm + "/run-vm.sh --kernel " + kernel + " --mem 3G --modules loop,overlay,xfs --payload " + payload + " --script " + vm +
                    "/field/scenario.sh --timeout 600 --quiet --log " + log + " >/dev/null 2>" + dir + "/harness.err";
  status = std::system(cmd.c_str());
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::string text = read_file(log);
  text.erase(std::remove(text.begin(), text.end(), '\r'), text.end());
  if (const char* keep = std::getenv("ENOSPCD_VM_FIELD_KEEP"); keep && *keep)
    std::ofstream(std::string(keep) + "/" + kernel + ".log") << text;
  r.log = text + read_file(dir + "/harness.err");
  parse(text, r);
  std::system(("rm -rf " + dir).c_str());
  return r;
}

// Boots the kernel once (both modes run inside) and keeps the result for the tests of that kernel. When the
// console lost a report (the daemon's exit line is missing), the boot is tried once more.
const VmRun& boot(const std::string& kernel) {
  static std::map<std::string, VmRun> runs;
  auto it = runs.find(kernel);
  if (it != runs.end()) return it->second;
  VmRun r = boot_once(kernel);
  auto complete = [](const VmRun& v) {
    for (const std::string mode : {"auto", "gate", "kretprobe"})
      if (!v.modes.count(mode) || v.modes.at(mode).daemon_rc < 0) return false;
    return true;
  };
  if (r.skip.empty() && r.exit_code != 75 && !complete(r)) {
    std::printf("[%s] first boot ended without both daemon runs (exit %d); booting again\n", kernel.c_str(), r.exit_code);
    VmRun again = boot_once(kernel);
    again.log = r.log + "\n--- second boot ---\n" + again.log;
    r = std::move(again);
  }
  std::printf("[%s] VM run: %.0f s (exit %d)\n", kernel.c_str(), r.seconds, r.exit_code);
  return runs[kernel] = std::move(r);
}

std::string tail(const std::string& s, size_t n = 6000) { return s.substr(s.size() > n ? s.size() - n : 0); }

// A number as the daemon's summaries write it: groups of three digits split by a space ("4 096").
std::string grouped(long n) {
  std::string digits = std::to_string(n), out;
  for (size_t i = 0; i < digits.size(); i++) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ' ';
    out += digits[i];
  }
  return out;
}

// Sanitizer frames of the guest's daemon, "(/payload/enospcd+0x1234)", resolved with the host's copy (the
// cross binutils' addr2line for the arm64 build).
std::string symbolize(const std::string& text, const std::string& kernel) {
  static const std::string frame = "(/payload/enospcd+0x";
  std::string out;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    out += line;
    auto at = line.find(frame);
    auto end = at == std::string::npos ? at : line.find(')', at);
    if (end != std::string::npos) {
      std::string offset = line.substr(at + frame.size(), end - at - frame.size());
      const std::string addr2line = is_arm64(kernel) ? "aarch64-linux-gnu-addr2line" : "addr2line";
      std::string cmd = addr2line + " -C -f -i -p -e " + daemon_path(kernel) + " 0x" + offset + " 2>/dev/null";
      if (offset.find_first_not_of("0123456789abcdef") == std::string::npos)
        if (FILE* p = popen(cmd.c_str(), "r")) {
          char buf[512];
          std::string where;
          while (fgets(buf, sizeof(buf), p)) where += buf;
          pclose(p);
          while (!where.empty() && where.back() == '\n') where.pop_back();
          if (!where.empty()) out += "  <- " + where;
        }
    }
    out += "\n";
  }
  return out;
}

std::vector<std::string> funcs(const json& e) {
  std::vector<std::string> out;
  for (const auto& l : e["chain"]) out.push_back(l["func"]);
  return out;
}

std::string chain_text(const json& e) {
  std::string s;
  for (const auto& l : e["chain"]) {
    s += (s.empty() ? "" : " <- ") + l["func"].get<std::string>();
    if (l.value("returns", 1) > 1) s += " x" + std::to_string(l.value("returns", 1));
  }
  if (s.empty()) return "(empty)";
  for (const auto& f : e.value("chain_outer", json::array())) s += " <- " + f.get<std::string>();
  return s;
}

// A frame of the architecture's syscall entry, or of the io_uring worker a request may run in. arm64 enters from
// the el0t_64_sync vector through el0_svc and invoke_syscall into the __arm64_sys_ wrapper.
bool entry_frame(const std::string& f, const std::string& kernel) {
  static const std::vector<std::string> x86 = {"do_syscall_64", "entry_SYSCALL_64", "__x64_sys_", "io_wq_worker",
                                               "ret_from_fork"};
  static const std::vector<std::string> arm64 = {"el0t_64_sync", "el0_svc", "invoke_syscall", "__arm64_sys_",
                                                 "io_wq_worker", "ret_from_fork"};
  for (const auto& p : is_arm64(kernel) ? arm64 : x86)
    if (f.rfind(p, 0) == 0) return true;
  return false;
}

bool shmem_origin(const json& e) {
  for (const auto& f : funcs(e))
    if (f.rfind("shmem_", 0) == 0 || f.rfind("__shmem_", 0) == 0) return true;
  return false;
}

const std::set<std::string> kWriteSyscalls = {"write", "pwrite64", "writev", "pwritev", "pwritev2", "fallocate",
                                              "ftruncate", "copy_file_range", "sendfile", "splice"};

// What a case expects of the daemon's events.
struct Expect {
  std::string name;
  std::set<std::string> comms;  // the programs that fail (their children share their name)
  bool exact = true;            // events == failures the programs reported; else events >= reported >= 1
  std::string cause;            // tmpfs_blocks or tmpfs_inodes; empty: by syscall (writes: blocks)
  std::set<std::string> mounts;  // the case's tmpfs mount points: the only ones a cause may name
};

class VmField : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {
 protected:
  void SetUp() override {
    if (geteuid() != 0 && !std::getenv("CI")) GTEST_SKIP() << "needs root for the VM harness";
    const auto& [kernel, mode] = GetParam();
    const std::string qemu = is_arm64(kernel) ? "qemu-system-aarch64" : "qemu-system-x86_64";
    if (std::system(("command -v " + qemu + " >/dev/null").c_str()) != 0) {
      if (std::getenv("CI")) FAIL() << qemu << " missing in CI";
      GTEST_SKIP() << qemu << " is not installed";
    }
    if (is_arm64(kernel) && access(daemon_path(kernel).c_str(), X_OK) != 0) {
      std::string why = "no arm64 daemon at " + daemon_path(kernel) + " (scripts/build-arm64.sh makes it)";
      if (std::getenv("CI")) FAIL() << why;
      GTEST_SKIP() << why;
    }
    run_ = &boot(kernel);
    if (!run_->skip.empty()) {
      if (std::getenv("CI")) FAIL() << run_->skip;
      GTEST_SKIP() << run_->skip;
    }
    if (run_->exit_code == 75)
      GTEST_SKIP() << "kernel " << kernel << (is_arm64(kernel) ? " or its arm64 programs" : "")
                   << " neither cached nor downloadable: " << tail(run_->log, 400);
    ASSERT_EQ(run_->exit_code, 0) << tail(run_->log);
    ASSERT_TRUE(run_->modes.count(mode)) << "no output for mode " << mode << "\n" << tail(run_->log);
    m_ = &run_->modes.at(mode);
    // auto: targeted mode with origins on fexit; gate: the sys_exit gate (tp_btf) with origins on fexit. Where
    // fexit does not attach (arm64-6.1) the origins fall back to kretprobes, and auto mode, which tries targeted
    // mode only where the origins found fexit working, takes the tp_btf gate.
    expected_mode_ = mode == "kretprobe" || !fexit_attaches(kernel) ? "kretprobe" : "fexit";
    expected_gate_ = mode == "auto" && fexit_attaches(kernel) ? "targeted" : "tp_btf";
  }

  // The report, or a failure that shows how the daemon ended.
  const json* report() {
    if (m_->has_report) return &m_->report;
    ADD_FAILURE() << "no JSON report in mode " << std::get<1>(GetParam()) << " (daemon exit " << m_->daemon_rc
                  << "); daemon stderr:\n" << symbolize(m_->daemon_stderr, std::get<0>(GetParam()));
    return nullptr;
  }

  std::vector<json> events_of(const std::string& case_name) {
    std::vector<json> out;
    for (const auto& e : m_->report["events"])
      if (e.value("cgroup", "") == case_name) out.push_back(e);
    return out;
  }

  // Prints what the daemon made of a case: counts, syscalls, chains and causes, and one event in full.
  void record(const std::string& name, const std::vector<json>& ev, long reported) {
    std::map<std::string, int> syscalls, chains, causes;
    for (const auto& e : ev) {
      syscalls[e["syscall"].get<std::string>()]++;
      chains[chain_text(e)]++;
      causes[e["cause"].value("id", "?") + "/" + e["cause"].value("confidence", "?")]++;
    }
    auto join = [](const std::map<std::string, int>& m) {
      std::string s;
      for (const auto& [k, n] : m) s += (s.empty() ? "" : ", ") + k + " x" + std::to_string(n);
      return s;
    };
    std::printf("[%s %s] %s: %ld failures reported by the programs, %zu events\n    syscalls: %s\n    chains: %s\n"
                "    causes: %s\n",
                std::get<0>(GetParam()).c_str(), std::get<1>(GetParam()).c_str(), name.c_str(), reported, ev.size(),
                join(syscalls).c_str(), join(chains).c_str(), join(causes).c_str());
    if (!ev.empty())
      std::printf("    e.g. %s(2) %s by %s: %s\n", ev.back()["syscall"].get<std::string>().c_str(),
                  ev.back()["path"].get<std::string>().c_str(), ev.back()["comm"].get<std::string>().c_str(),
                  ev.back()["cause"].value("summary", "").c_str());
  }

  void check_case(const Expect& x) {
    auto c = m_->cases.find(x.name);
    ASSERT_NE(c, m_->cases.end()) << "the scenario printed no result for " << x.name << "\n" << tail(run_->log);
    const CaseResult& cr = c->second;
    long reported = std::atol(cr.kv.count("enospc") ? cr.kv.at("enospc").c_str() : "-1");
    ASSERT_GE(reported, 1) << x.name << ": the programs reported no ENOSPC:\n" << cr.output;
    const json* r = report();
    ASSERT_NE(r, nullptr);
    auto ev = events_of(x.name);
    record(x.name, ev, reported);
    if (x.exact) {
      EXPECT_EQ(static_cast<long>(ev.size()), reported) << x.name << " (programs' output:\n" << cr.output << ")";
    } else {
      EXPECT_GE(static_cast<long>(ev.size()), reported) << x.name << " (programs' output:\n" << cr.output << ")";
    }
    // The exact in-kernel counters of the case's cgroup agree with the events listed (none lost or dropped).
    std::set<uint64_t> cgroups;
    for (const auto& e : ev) cgroups.insert(e["cgroup_id"].get<uint64_t>());
    uint64_t counted = 0;
    for (const auto& row : (*r)["top"])
      if (cgroups.count(row["cgroup_id"].get<uint64_t>()) && row["errno"] == "ENOSPC") counted += row["count"].get<uint64_t>();
    EXPECT_EQ(counted, ev.size()) << x.name << ": exact counters vs events";
    for (const auto& e : ev) {
      std::string want = x.cause;
      if (want.empty()) want = kWriteSyscalls.count(e["syscall"]) ? "tmpfs_blocks" : "tmpfs_inodes";
      EXPECT_TRUE(x.comms.count(e["comm"])) << x.name << ": comm " << e["comm"] << "\n" << e.dump(1);
      EXPECT_EQ(e["errno"], "ENOSPC") << e.dump(1);
      EXPECT_EQ(e["cause"].value("id", ""), want) << x.name << ", chain " << chain_text(e) << ":\n" << e.dump(1);
      // The numbers are the failure's, read in BPF: the fd's file, the directory a relative path started from,
      // or the directory an open(2) was creating in (the path walk's, read when the origin failed).
      const json ev_at = e["cause"].value("evidence", json::object()).value("at_failure", json());
      EXPECT_TRUE(ev_at.is_object()) << x.name << ": numbers not from the failure:\n" << e.dump(1);
      EXPECT_EQ(e["cause"].value("summary", "").find("read after the failure"), std::string::npos) << e.dump(1);
      // A cause that names a mount point names the case's tmpfs, not the filesystem below it.
      std::string mp = e["cause"].value("evidence", json::object()).value("mount_point", "");
      if (!mp.empty()) {
        EXPECT_TRUE(x.mounts.count(mp)) << x.name << ": cause names " << mp << ":\n" << e.dump(1);
      }
    }
  }

  // A case outside the tmpfs ones: every failure the program reported is one event of its syscall, whose chain
  // starts in the function that checks the limit, explained by the cause (its summary naming `names`).
  // comm: the one program of the case, or empty where more than one fails.
  void check_other(const std::string& name, const std::string& comm, const std::string& syscall,
                   const std::string& cause, const std::set<std::string>& innermost, const std::string& names) {
    auto c = m_->cases.find(name);
    ASSERT_NE(c, m_->cases.end()) << "the scenario printed no result for " << name << "\n" << tail(run_->log);
    long reported = std::atol(c->second.kv.count("enospc") ? c->second.kv.at("enospc").c_str() : "-1");
    ASSERT_GE(reported, 1) << name << ": the program reported no ENOSPC:\n" << c->second.output;
    ASSERT_NE(report(), nullptr);
    auto ev = events_of(name);
    record(name, ev, reported);
    EXPECT_EQ(static_cast<long>(ev.size()), reported) << c->second.output;
    for (const auto& e : ev) {
      if (!comm.empty()) {
        EXPECT_EQ(e["comm"], comm) << e.dump(1);
      }
      EXPECT_EQ(e["syscall"], syscall) << e.dump(1);
      auto f = funcs(e);
      ASSERT_FALSE(f.empty()) << "no chain: " << e.dump(1);
      EXPECT_TRUE(innermost.count(f.front())) << chain_text(e);
      EXPECT_EQ(e["cause"].value("id", ""), cause) << chain_text(e) << "\n" << e.dump(1);
      EXPECT_NE(e["cause"].value("summary", "").find(names), std::string::npos) << e["cause"].dump(1);
    }
  }

  const VmRun* run_ = nullptr;
  const ModeRun* m_ = nullptr;
  std::string expected_mode_, expected_gate_;
};

TEST_P(VmField, DaemonExitsCleanlyWithoutSanitizerReport) {
  std::string err = m_->daemon_stderr;
  std::string shown = symbolize(err, std::get<0>(GetParam()));
  // The first case after which the daemon was no longer running.
  std::string gone;
  for (const auto& [name, c] : m_->cases)
    if (c.kv.count("daemon") && c.kv.at("daemon") == "gone" &&
        (gone.empty() || std::atof(c.kv.at("uptime").c_str()) < std::atof(m_->cases.at(gone).kv.at("uptime").c_str())))
      gone = name;
  EXPECT_EQ(m_->daemon_rc, 0) << (gone.empty() ? "" : "the daemon was gone at the end of case " + gone + "\n")
                              << "daemon stderr:\n" << shown;
  for (const std::string bad : {"ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer", "Assertion",
                                "munmap_chunk", "double free", "free(): invalid", "terminate called",
                                "explaining it failed"})
    EXPECT_EQ(err.find(bad), std::string::npos) << "\"" << bad << "\" in the daemon's stderr:\n" << shown;
  if (const json* r = report()) {
    EXPECT_EQ((*r)["status"]["mode"], "chains") << (*r)["status"].dump(1);
    // Where fexit works targeted mode is the default; --gate tp_btf and --kretprobe take the sys_exit gate.
    EXPECT_EQ((*r)["status"]["gate"]["mode"], expected_gate_) << (*r)["status"]["gate"].dump(1);
    // Where fexit does not attach, the daemon says so and puts every origin it traces on a kretprobe.
    if (!fexit_attaches(std::get<0>(GetParam())) && std::get<1>(GetParam()) != "kretprobe") {
      EXPECT_NE((*r)["status"].value("mode_reason", "").find("fexit attach failed on every function: not supported "
                                                             "by this kernel (ENOTSUPP)"),
                std::string::npos)
          << (*r)["status"].dump(1);
      for (const auto& o : (*r)["status"]["origins"])
        EXPECT_TRUE(o["mode"] == "kretprobe" || o["mode"] == "unavailable") << o.dump();
    }
    // Events whose diagnosis threw are kept without a cause and counted here.
    EXPECT_EQ((*r)["status"]["counters"].value("events_unexplained", 0), 0);
    for (const auto& [loss, n] : (*r)["status"]["counters"]["losses"].items())
      if (loss != "chain_discarded") {
        EXPECT_EQ(n, 0) << "loss " << loss;
      }
  }
}

// Targeted mode, with mknod(2) and mknodat(2) left out of its set: the completeness check sees them fail, says so
// and adds them; the last three failures, after the check has run, are all counted.
TEST_P(VmField, TargetedModeNoticesASyscallOutsideItsSetAndAddsIt) {
  if (std::get<1>(GetParam()) != "auto") GTEST_SKIP() << "targeted mode runs in the auto run";
  auto c = m_->cases.find("untargeted");
  ASSERT_NE(c, m_->cases.end()) << tail(run_->log);
  const long reported = std::atol(c->second.kv.count("enospc") ? c->second.kv.at("enospc").c_str() : "-1");
  const long late = std::atol(c->second.kv.count("late") ? c->second.kv.at("late").c_str() : "-1");
  ASSERT_EQ(late, 3) << c->second.output;
  ASSERT_GE(reported, 10) << c->second.output;  // 8 s every 0.5 s, then 3
  const json* r = report();
  ASSERT_NE(r, nullptr);
  auto ev = events_of("untargeted");
  record("untargeted", ev, reported);
  ASSERT_FALSE(ev.empty());
  if (!fexit_attaches(std::get<0>(GetParam()))) {
    // No targeted mode without fexit: the auto run's tp_btf gate sees every syscall, so every failure counts.
    EXPECT_EQ((*r)["status"]["gate"]["mode"], "tp_btf") << (*r)["status"]["gate"].dump(1);
    EXPECT_TRUE((*r)["status"]["gate"]["targeted"].is_null()) << (*r)["status"]["gate"].dump(1);
    EXPECT_EQ(static_cast<long>(ev.size()), reported) << c->second.output;
    for (const auto& e : ev) EXPECT_EQ(e["cause"].value("id", ""), "tmpfs_inodes") << e.dump(1);
    GTEST_SKIP() << "targeted mode needs fexit, which this kernel does not attach (ENOTSUPP): the auto run took the "
                    "tp_btf gate, which counted all "
                 << reported << " failures";
  }
  const std::string syscall = ev.back()["syscall"];
  EXPECT_TRUE(syscall == "mknod" || syscall == "mknodat") << syscall;
  long late_events = 0;
  for (const auto& e : ev) {
    EXPECT_EQ(e["syscall"], syscall);
    EXPECT_EQ(e["comm"], "python3");
    EXPECT_EQ(e["cause"].value("id", ""), "tmpfs_inodes") << e.dump(1);
    late_events += e["path"].get<std::string>().find("/late") != std::string::npos;
  }
  // Before it was added only failures during a check were seen (the first check may already catch the first
  // failure); after, every one.
  EXPECT_EQ(late_events, 3);
  EXPECT_LE(static_cast<long>(ev.size()), reported);
  const json& tg = (*r)["status"]["gate"]["targeted"];
  ASSERT_TRUE(tg.is_object()) << (*r)["status"]["gate"].dump(1);
  EXPECT_NE(std::find(tg["added"].begin(), tg["added"].end(), syscall), tg["added"].end()) << tg.dump(1);
  EXPECT_GE(tg["untargeted_failures"].value(syscall, 0), 1) << tg.dump(1);
  EXPECT_GE(tg["check"]["runs"].get<int>(), 2) << tg.dump(1);
  // The set is the daemon's whole ENOSPC table, not a few syscalls. arm64 has none of the table's 15 legacy path
  // syscalls (open, creat, mkdir, mknod, symlink, link, rename, unlink, rmdir, chmod, chown, lchown, utime, utimes,
  // futimesat), only their *at successors, so its set is that much smaller.
  EXPECT_GE(tg["syscalls"].get<int>(), is_arm64(std::get<0>(GetParam())) ? 60 - 15 : 60) << tg.dump(1);
  EXPECT_NE(m_->daemon_stderr.find("a syscall outside the set; adding it"), std::string::npos) << m_->daemon_stderr;
}

// A job runner that never removes its cgroups exhausts the memory controller's ids: python3 (os.mkdir) and then
// coreutils mkdir are refused with ENOSPC, and the daemon names the id space with the hierarchy's count at the
// failure, which is what cgroup.stat said right after.
TEST_P(VmField, MkdirOfACgroupWhenTheMemoryControllerHasNoIdLeft) {
  if (std::get<1>(GetParam()) != "auto") GTEST_SKIP() << "the ids are filled once, in the auto run";
  auto c = m_->cases.find("cgroup_ids");
  ASSERT_NE(c, m_->cases.end()) << tail(run_->log);
  // Told by the mem_cgroup_idr symbol, or where kallsyms lists no data symbols by the refusal's errno.
  if (c->second.kv.count("skipped") || (c->second.kv.count("errno") && c->second.kv.at("errno") == "16"))
    GTEST_SKIP() << "this kernel keeps the memory cgroup ids in an xarray and refuses with EBUSY, not ENOSPC";
  const long reported = std::atol(c->second.kv.count("enospc") ? c->second.kv.at("enospc").c_str() : "-1");
  const long live = std::atol(c->second.kv.count("live") ? c->second.kv.at("live").c_str() : "-1");
  const long created = std::atol(c->second.kv.count("created") ? c->second.kv.at("created").c_str() : "-1");
  ASSERT_EQ(reported, 2) << c->second.output;
  // 65 535 memory cgroups (65 534 on 5.10), the root, jobs and the case's own among them.
  ASSERT_GE(created, 65000) << c->second.output;
  ASSERT_GE(live, created + 2) << c->second.output;
  char thousands[48];
  std::snprintf(thousands, sizeof(thousands), "%ld %03ld", live / 1000, live % 1000);
  // arm64 has no mkdir(2): glibc's mkdir() is mkdirat there.
  const std::string mkdir = is_arm64(std::get<0>(GetParam())) ? "mkdirat" : "mkdir";
  check_other("cgroup_ids", "", mkdir, "cgroup_ids", {"mem_cgroup_css_alloc"},
              std::string("the memory controller had no id left for a new cgroup: it gives out at most 65 535, one for each "
              "memory cgroup, the root's too; its hierarchy (cgroup v2) held ") + thousands + 
                  " cgroups below its root at the failure");
  std::set<std::string> comms;
  for (const auto& e : events_of("cgroup_ids")) {
    comms.insert(e["comm"].get<std::string>());
    const json at = e["cause"]["evidence"].value("at_failure", json::object());
    EXPECT_EQ(at.value("descendants", -1), live) << e.dump(1);
    EXPECT_EQ(e["memcg"].value("descendants", -1), live) << e.dump(1);
    EXPECT_EQ(e["cause"].value("confidence", ""), "high") << e.dump(1);
    EXPECT_TRUE(e["path"] == "/sys/fs/cgroup/jobs/one-more" ||
                e["path"] == "/sys/fs/cgroup/jobs/job" + std::to_string(created))
        << e.dump(1);
  }
  EXPECT_EQ(comms, (std::set<std::string>{"python3", "mkdir"}));
}

// The three runs count the same failures of every case: targeted mode (auto), the sys_exit gate with the same
// fexit origins (gate), and with kretprobe origins. Where fexit does not attach (arm64-6.1) the auto and gate runs
// are the same configuration (tp_btf, kretprobe origins), still two runs of the programs to compare.
TEST_P(VmField, TargetedModeCountsWhatTheGateCounts) {
  if (std::get<1>(GetParam()) != "auto") GTEST_SKIP() << "compared once, from the auto run";
  for (const std::string other : {"gate", "kretprobe"}) {
    ASSERT_TRUE(run_->modes.count(other) && run_->modes.at(other).has_report) << other;
    const ModeRun& o = run_->modes.at(other);
    for (const auto& [name, cr] : m_->cases) {
      if (name == "untargeted" || name == "cgroup_ids") continue;  // the auto run's own cases
      ASSERT_TRUE(o.cases.count(name)) << name << " missing in the " << other << " run";
      auto count_of = [&](const ModeRun& m) {
        uint64_t n = 0;
        for (const auto& e : m.report["events"]) n += e.value("cgroup", "") == name;
        return n;
      };
      // The programs ran again in the other run: compared where they reported the same failures.
      if (cr.kv.count("enospc") && o.cases.at(name).kv.count("enospc") &&
          cr.kv.at("enospc") == o.cases.at(name).kv.at("enospc")) {
        EXPECT_EQ(count_of(*m_), count_of(o)) << name << ": targeted vs " << other;
      }
    }
  }
}

TEST_P(VmField, CpOfABigFileOntoASmallTmpfs) {
  check_case({"cp_blocks", {"cp"}, true, "tmpfs_blocks", {"/mnt/disk/cp"}});
}

TEST_P(VmField, DdFailsOnceAtTheFirstWriteThatDoesNotFit) {
  check_case({"dd_blocks", {"dd"}, true, "tmpfs_blocks", {"/mnt/disk/dd"}});
  if (!m_->has_report) return;
  std::map<uint32_t, int> per_pid;
  for (const auto& e : events_of("dd_blocks")) {
    EXPECT_EQ(e["syscall"], "write");
    per_pid[e["pid"].get<uint32_t>()]++;
  }
  EXPECT_EQ(per_pid.size(), 3u);
  for (const auto& [pid, n] : per_pid) EXPECT_EQ(n, 1) << "dd pid " << pid;
}

TEST_P(VmField, RsyncIntoATmpfsOutOfInodes) {
  check_case({"rsync_inodes", {"rsync"}, true, "tmpfs_inodes", {"/mnt/disk/ri"}});
}

// rsync's receiver writes the buffer again when it cleans up after the failed write, so one reported failure
// may be two failed write(2)s.
TEST_P(VmField, RsyncOntoATmpfsOutOfBlocks) {
  check_case({"rsync_blocks", {"rsync"}, false, "tmpfs_blocks", {"/mnt/disk/rb"}});
}

TEST_P(VmField, TarExtractsRelativeToADirfdIntoATmpfsOutOfInodes) {
  check_case({"tar_inodes", {"tar"}, true, "tmpfs_inodes", {"/mnt/disk/tx"}});
}

// tar's cwd is another tmpfs (/tmp): a cause must not describe that one.
TEST_P(VmField, TarFromACwdOnAnotherTmpfs) {
  check_case({"tar_cwd_tmpfs", {"tar"}, true, "tmpfs_inodes", {"/mnt/disk/tt"}});
}

TEST_P(VmField, PythonShutilCopytreeIntoATmpfsOutOfInodes) {
  check_case({"py_copytree", {"python3"}, true, "tmpfs_inodes", {"/mnt/disk/pt"}});
}

TEST_P(VmField, PythonShutilCopyfileOntoAFullTmpfs) {
  check_case({"py_copyfile", {"python3"}, true, "tmpfs_blocks", {"/mnt/disk/pf"}});
}

// git reports a failed object write once, after it may have tried mkdir, link and open.
TEST_P(VmField, GitInitAndAddInATmpfsOutOfInodes) {
  check_case({"git_inodes", {"git"}, false, "tmpfs_inodes", {"/mnt/disk/gi", "/mnt/disk/ga"}});
}

TEST_P(VmField, GitAddInATmpfsOutOfBlocks) {
  check_case({"git_blocks", {"git"}, false, "tmpfs_blocks", {"/mnt/disk/gb"}});
}

TEST_P(VmField, FallocateBeyondTheSizeAndBeyondWhatIsFree) {
  check_case({"fallocate", {"fallocate"}, true, "tmpfs_blocks", {"/mnt/disk/fa"}});
}

// sqlite3's rollback journal is deleted right after the failure: the numbers are those BPF summed at the failure.
TEST_P(VmField, Sqlite3OnASmallTmpfs) {
  check_case({"sqlite_blocks", {"sqlite3"}, false, "tmpfs_blocks", {"/mnt/disk/sq"}});
  if (!m_->has_report) return;
  for (const auto& e : events_of("sqlite_blocks")) {
    const json ev = e["cause"].value("evidence", json::object());
    EXPECT_EQ(ev.value("bytes_used_at_failure", false), true) << e.dump(1);
    EXPECT_GT(ev.value("bytes_used", uint64_t{0}) + std::max<uint64_t>(ev.value("bytes_requested", uint64_t{0}), 4096),
              ev.value("bytes_max", uint64_t{0}))
        << "numbers that would have let the call through:\n" << e.dump(1);
  }
}

// The overlay holds no blocks: the cause names its upper layer's tmpfs, with that tmpfs's numbers.
TEST_P(VmField, DdThroughAnOverlayOntoAFullTmpfs) {
  check_case({"overlay_blocks", {"dd"}, true, "tmpfs_blocks", {"/mnt/disk/ou"}});
  if (!m_->has_report) return;
  for (const auto& e : events_of("overlay_blocks")) {
    EXPECT_EQ(e.value("file", json::object()).value("fstype", ""), "overlay") << e.dump(1);
    EXPECT_EQ(e.value("upper", json::object()).value("fstype", ""), "tmpfs") << e.dump(1);
  }
}

// The processes and their private mount namespace are gone when the daemon reads the events.
TEST_P(VmField, TmpfsInAPrivateMountNamespaceThatIsGone) {
  check_case({"ns_gone", {"cp"}, true, "", {"/mnt/disk/ns1", "/mnt/disk/ns2"}});
}

// The tmpfs mounts are unmounted before the daemon reads the events: their paths now lead to the ext4 below.
TEST_P(VmField, TmpfsUnmountedBeforeTheDaemonReadsTheEvents) {
  check_case({"unmounted", {"python3", "tar"}, true, "tmpfs_inodes", {"/mnt/disk/um1", "/mnt/disk/um2"}});
}

// Limits that are no filesystem's, checked in a function inlined into its caller or in one that checks two
// limits, and a device that refuses every write: each has its chain and its own cause.
TEST_P(VmField, DdOntoDevFullIsTheDevicesRefusal) {
  check_other("dev_full", "dd", "write", "device", {"write_full"}, "");
}

// fs.epoll.max_user_watches is put back right after python3 is refused: the limit and uid 0's watches (the
// daemon's own among them) as BPF read them at the failure.
TEST_P(VmField, PythonEpollOverMaxUserWatches) {
  check_other("epoll_watches", "python3", "epoll_ctl", "epoll_watches", {"ep_insert", "do_epoll_ctl"},
              "fs.epoll.max_user_watches was 8 and uid 0 held 8 epoll watches at the failure.");
  for (const auto& e : events_of("epoll_watches")) {
    EXPECT_EQ(e["epoll"].value("watches", -1), 8) << e.dump(1);
    EXPECT_EQ(e["epoll"].value("watches_exact", false), true) << e.dump(1);
  }
}

TEST_P(VmField, IpcmkSemaphoresOverSemmns) {
  check_other("semmns", "ipcmk", "semget", "sysv_ipc", {"newary"}, "SEMMNS");
}

// python3 (os.openpty) opens ptys until kernel.pty.max refuses one; the limit is put back and the ptys are closed before the
// daemon reads the event: the host's numbers of the failure are the ones named.
TEST_P(VmField, PythonOpenptyOverKernelPtyMax) {
  auto c = m_->cases.find("pty_max");
  ASSERT_NE(c, m_->cases.end()) << "the scenario printed no result for pty_max\n" << tail(run_->log);
  long limit = std::atol(c->second.kv.count("limit") ? c->second.kv.at("limit").c_str() : "0");
  ASSERT_GT(limit, 1) << c->second.output;
  // BPF reads the count where kallsyms lists pty_count. A kernel built without KALLSYMS_ALL (Debian's arm64 6.1)
  // does not, and the daemon has no other way to it (docs/api.md, "pty"): it names the host's numbers when it
  // explains the event, by then the limit put back, and says they were read after the failure.
  if (c->second.kv.count("pty_count_listed") && c->second.kv.at("pty_count_listed") == "0") {
    const long max_after = std::atol(c->second.kv.count("max_after") ? c->second.kv.at("max_after").c_str() : "0");
    ASSERT_GT(max_after, limit) << c->second.output;
    check_other("pty_max", "python3", "openat", "pty", {"devpts_new_index"},
                "kernel.pty.max is " + grouped(max_after) + " with ");
    for (const auto& e : events_of("pty_max")) {
      EXPECT_EQ(e["path"], "/dev/ptmx");
      EXPECT_FALSE(e.contains("pty")) << e.dump(1);
      EXPECT_NE(e["cause"].value("summary", "").find(" open on the host (read after the failure)."), std::string::npos)
          << e["cause"].dump(1);
      EXPECT_EQ(e["cause"].value("confidence", ""), "medium") << e["cause"].dump(1);
    }
    return;
  }
  check_other("pty_max", "python3", "openat", "pty", {"devpts_new_index"},
              "kernel.pty.max is " + std::to_string(limit) + " and " + std::to_string(limit - 1) +
                  " ptys were open on the host at the failure.");
  for (const auto& e : events_of("pty_max")) {
    EXPECT_EQ(e["path"], "/dev/ptmx");
    EXPECT_EQ(e["pty"].value("max", 0), limit) << e.dump(1);
    EXPECT_EQ(e["pty"].value("nr", 0), limit - 1) << e.dump(1);
  }
}

// XFS reports a project quota as ENOSPC: the project at its hard limit is named, not the filesystem (which has
// room), with its numbers as read when the event was explained.
TEST_P(VmField, DdIntoAnXfsProjectAtItsHardLimit) {
  auto c = m_->cases.find("xfs_project");
  ASSERT_NE(c, m_->cases.end()) << "the scenario printed no result for xfs_project\n" << tail(run_->log);
  long reported = std::atol(c->second.kv.count("enospc") ? c->second.kv.at("enospc").c_str() : "-1");
  ASSERT_EQ(reported, 1) << c->second.output;
  ASSERT_NE(report(), nullptr);
  auto ev = events_of("xfs_project");
  record("xfs_project", ev, reported);
  ASSERT_EQ(static_cast<long>(ev.size()), reported) << c->second.output;
  const json& e = ev[0];
  EXPECT_EQ(e["comm"], "dd");
  EXPECT_EQ(e["syscall"], "write");
  EXPECT_EQ(e["cause"].value("id", ""), "quota") << e.dump(1);
  const json q = e["cause"]["evidence"].value("project_quota", json::object());
  EXPECT_EQ(q.value("project", 0), 42) << e.dump(1);
  EXPECT_EQ(q.value("bytes_hard", uint64_t{0}), 1u << 20) << e.dump(1);
  std::string summary = e["cause"].value("summary", "");
  EXPECT_NE(summary.find("XFS project 42 on /dev/loop"), std::string::npos) << summary;
  // 6.1 and 6.12 have the xfs module's BTF: BPF reads the file's project at the failure, the whole 1 MiB
  // reserved. 5.10 has no module BTF: the projects are read when the event is explained, and said to be.
  if (std::get<0>(GetParam()) != "5.10") {
    ASSERT_TRUE(e.contains("project_quota")) << e.dump(1);
    EXPECT_EQ(e["project_quota"]["project"], 42) << e.dump(1);
    EXPECT_EQ(e["project_quota"]["blocks_reserved"], e["project_quota"]["blocks_hard"]) << e.dump(1);
    EXPECT_EQ(q.value("at_failure", false), true) << e.dump(1);
    EXPECT_EQ(q.value("bytes", uint64_t{0}), 1u << 20) << e.dump(1);
    EXPECT_NE(summary.find(" at /mnt/xq had used 1.0 MiB of its 1.0 MiB hard limit when the call asked for 64.0 KiB; "
                           "XFS reports a project quota as ENOSPC, while the filesystem has "),
              std::string::npos)
        << summary;
  } else {
    EXPECT_FALSE(e.contains("project_quota")) << e.dump(1);
    EXPECT_NE(summary.find(" at /mnt/xq has used "), std::string::npos) << summary;
    EXPECT_NE(summary.find("of its 1.0 MiB hard limit (read after the failure), and the call asked for 64.0 KiB; XFS "
                           "reports a project quota as ENOSPC while the filesystem has "),
              std::string::npos)
        << summary;
  }
}

// The whole path of every failure: the chain starts in the tmpfs accounting that made the error, lists each
// function once (a retry is counted on its link, never repeated until the chain overflows), and its way out
// reaches the syscall entry.
TEST_P(VmField, EveryChainRunsFromWhereTheErrorWasMadeToTheSyscall) {
  const json* r = report();
  ASSERT_NE(r, nullptr);
  static const std::set<std::string> makers = {
      "shmem_reserve_inode",      "shmem_link",          "shmem_get_inode",           "__shmem_get_inode",
      "shmem_inode_acct_blocks",  "shmem_inode_acct_block", "shmem_acct_block",      "shmem_alloc_and_add_folio",
      "shmem_alloc_and_acct_folio", "shmem_alloc_and_acct_page", "shmem_fallocate",
      "write_full", "ep_insert", "do_epoll_ctl", "newary", "devpts_new_index", "mem_cgroup_css_alloc"};
  // Where the kernel inlined every block accounting function into the page cache lookup (Debian's arm64 6.1, whose
  // BTF has none of them), a block failure's innermost traced link is that lookup.
  static const std::set<std::string> accounting = {"shmem_inode_acct_blocks",    "shmem_inode_acct_block",
                                                   "shmem_acct_block",           "shmem_alloc_and_add_folio",
                                                   "shmem_alloc_and_acct_folio", "shmem_alloc_and_acct_page"};
  bool accounting_in_kernel = false;
  for (const auto& o : (*r)["status"]["origins"])
    if (accounting.count(o["func"].get<std::string>()) &&
        (o["mode"] != "unavailable" || o.value("reason", "").rfind("not in this kernel", 0) != 0))
      accounting_in_kernel = true;
  size_t retried = 0;
  for (const auto& e : (*r)["events"]) {
    // XFS's quota reservation is not an origin: that case's chain is the event's, checked by its own test.
    if (e.value("cgroup", "") == "xfs_project") continue;
    auto f = funcs(e);
    ASSERT_FALSE(f.empty()) << "no chain:\n" << e.dump(1);
    EXPECT_TRUE(makers.count(f.front()) || (!accounting_in_kernel && f.front() == "shmem_get_folio_gfp"))
        << "innermost link " << f.front() << ": " << chain_text(e);
    EXPECT_EQ(std::set<std::string>(f.begin(), f.end()).size(), f.size()) << chain_text(e);
    EXPECT_FALSE(e.contains("chain_dropped")) << chain_text(e);
    for (const auto& l : e["chain"]) retried += l.value("returns", 1) > 1;
    const json outer = e.value("chain_outer", json::array());
    EXPECT_FALSE(e.contains("chain_outer_truncated")) << chain_text(e) << "\n" << e.dump(1);
    // Before v5.14 the kernel cannot unwind through a kretprobe's return trampoline: the way out is found by
    // scanning the stack, and the event says so. On 5.10 that is every chain in kretprobe mode, and where the
    // outermost link's function takes more than six arguments (fexit cannot trace it there) in auto mode.
    if (std::get<0>(GetParam()) != "5.10") {
      EXPECT_FALSE(e.value("chain_outer_scanned", false)) << chain_text(e);
    } else if (expected_mode_ == "kretprobe") {
      EXPECT_TRUE(e.value("chain_outer_scanned", false)) << chain_text(e);
    }
    bool reaches = std::any_of(outer.begin(), outer.end(), [&](const json& x) {
      return entry_frame(x.get<std::string>(), std::get<0>(GetParam()));
    });
    EXPECT_TRUE(reaches) << "the chain's way out stops short: " << chain_text(e) << "\n" << e.dump(1);
  }
  std::printf("[%s %s] %zu events, %zu links counting retries; e.g. %s\n", std::get<0>(GetParam()).c_str(),
              expected_mode_.c_str(), (*r)["events"].size(), retried,
              (*r)["events"].empty() ? "-" : chain_text((*r)["events"][0]).c_str());
}

// Wherever the kernel's chain passed through shmem, the daemon names a cause.
TEST_P(VmField, NoUnknownCauseWhereTheChainHoldsAShmemOrigin) {
  const json* r = report();
  ASSERT_NE(r, nullptr);
  size_t with_shmem = 0;
  for (const auto& e : (*r)["events"]) {
    if (!shmem_origin(e)) continue;
    with_shmem++;
    EXPECT_NE(e["cause"].value("id", "unknown"), "unknown") << chain_text(e) << "\n" << e.dump(1);
  }
  std::printf("[%s %s] %zu of %zu events hold a shmem origin in their chain\n", std::get<0>(GetParam()).c_str(),
              expected_mode_.c_str(), with_shmem, (*r)["events"].size());
  EXPECT_GT(with_shmem, 0u);
}

INSTANTIATE_TEST_SUITE_P(Kernels, VmField,
                         ::testing::Combine(::testing::Values("5.10", "6.1", "6.12", "arm64-6.1", "arm64-6.12"),
                                            ::testing::Values("auto", "gate", "kretprobe")),
                         [](const auto& info) {
                           std::string k = std::get<0>(info.param);
                           std::replace(k.begin(), k.end(), '.', '_');
                           std::replace(k.begin(), k.end(), '-', '_');
                           return "linux_" + k + "_" + std::get<1>(info.param);
                         });

}  // namespace
