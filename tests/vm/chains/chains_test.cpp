// The VM tier: Debian's stock kernels under QEMU, where fexit and kretprobes work, running the real daemon
// against real failures; the chains, stacks and causes it reports are asserted here.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

namespace {

using nlohmann::json;

struct VmRun {
  int exit_code = -1;
  std::string log;
  std::map<std::string, json> reports;  // mode -> report
  std::map<std::string, std::string> quota;  // mode -> the quota trigger's result line, or why it did not run
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
// function takes their trampoline (ENOTSUPP), so in auto mode the origins go on kretprobes.
bool fexit_attaches(const std::string& kernel) { return kernel != "arm64-6.1"; }

struct Payload {
  std::string daemon, trigger;
  bool fio;  // the host's fio goes into the guest: there is no arm64 one here
};

Payload payload_for(const std::string& kernel) {
  if (is_arm64(kernel))
    return {std::string(ENOSPCD_ARM64_BUILD_DIR) + "/src/daemon/enospcd",
            std::string(ENOSPCD_ARM64_BUILD_DIR) + "/tests/programs/enospc_trigger", false};
  return {ENOSPCD_DAEMON, ENOSPC_TRIGGER, true};
}

VmRun boot_once(const std::string& kernel) {
  VmRun r;
  const Payload p = payload_for(kernel);
  char tmpl[] = "/tmp/enospcd-vmchains.XXXXXX";
  std::string dir = mkdtemp(tmpl);
  std::string payload = dir + "/payload", log = dir + "/console.log";
  // The quota scenario's filesystem: busybox's mke2fs knows no quota feature, so the image is made here (sparse;
  // the scenario skips the quota case when it is missing). loop and quota_v2 (the ext4 quota file format) are
  // modules on every kernel of the matrix.
  std::string image = payload + "/quota.img";
  std::string cmd = "mkdir -p " + payload + " && cp " + p.daemon + " " + p.trigger + " " + payload + "/ && " +
                    (p.fio ? "{ ! command -v fio >/dev/null || cp \"$(command -v fio)\" " + payload + "/; } && " : "") +
                    "{ PATH=$PATH:/usr/sbin:/sbin; ! command -v mkfs.ext4 >/dev/null || { truncate -s 16M " +
                    image + " && mkfs.ext4 -q -F -O quota -E quotatype=usrquota " + image + "; } || rm -f " + image +
                    "; } && " + ENOSPCD_VM_DIR + "/run-vm.sh --kernel " + kernel + " --modules loop,quota_v2 --payload " +
                    payload + " --script " + ENOSPCD_VM_DIR + "/chains/scenario.sh --timeout 600 --quiet --log " + log +
                    " >/dev/null 2>" + dir + "/harness.err";
  int status = std::system(cmd.c_str());
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.log = read_file(log) + read_file(dir + "/harness.err");
  std::string text = read_file(log);
  for (const std::string mode : {"auto", "kretprobe"}) {
    std::string quota = "ENOSPCD-QUOTA " + mode + " ";
    if (auto q = text.find(quota); q != std::string::npos) {
      std::string line = text.substr(q + quota.size(), text.find('\n', q) - q - quota.size());
      line.erase(std::remove(line.begin(), line.end(), '\r'), line.end());
      r.quota[mode] = line;
    }
    std::string begin = "ENOSPCD-REPORT-BEGIN " + mode + "\n", end = "ENOSPCD-REPORT-END " + mode;
    auto b = text.find(begin), e = text.find(end);
    if (b == std::string::npos || e == std::string::npos) continue;
    std::string body = text.substr(b + begin.size(), e - b - begin.size());
    body.erase(std::remove(body.begin(), body.end(), '\r'), body.end());
    try {
      r.reports[mode] = json::parse(body);
    } catch (const std::exception&) {
    }
  }
  std::system(("rm -rf " + dir).c_str());
  return r;
}

// Boots the kernel once (both modes run inside) and caches the result for the tests of that kernel. The
// reports travel over the emulated serial console; when one is missing or unreadable the boot is tried once
// more, and both attempts are kept in the log.
const VmRun& boot(const std::string& kernel) {
  static std::map<std::string, VmRun> runs;
  auto it = runs.find(kernel);
  if (it != runs.end()) return it->second;
  VmRun r = boot_once(kernel);
  if (r.exit_code != 75 && r.reports.size() < 2) {
    std::printf("[%s] first boot gave %zu of 2 reports (exit %d); booting again\n", kernel.c_str(), r.reports.size(),
                r.exit_code);
    VmRun again = boot_once(kernel);
    again.log = r.log + "\n--- second boot ---\n" + again.log;
    r = std::move(again);
  }
  return runs[kernel] = std::move(r);
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
  if (e.contains("chain_dropped")) s += " (" + e["chain_dropped"].dump() + " dropped)";
  for (const auto& f : e.value("chain_outer", json::array())) s += " <- " + f.get<std::string>();
  return s;
}

bool contains(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

// No frame a BPF trampoline leaves at the traced function's entry (x86 func+0x5, arm64 func+0x8): such a frame
// names the function right after a frame inside it, or the last link of the chain.
::testing::AssertionResult no_tracer_frames(const json& e) {
  std::vector<std::string> names;
  for (const auto& l : e["chain"]) names.push_back(l["func"]);
  for (const auto& f : e.value("chain_outer", json::array())) names.push_back(f.get<std::string>());
  auto fn = [](const std::string& frame) { return frame.substr(0, frame.find('+')); };
  for (std::size_t i = 1; i < names.size(); i++)
    if (fn(names[i]) == fn(names[i - 1]))
      return ::testing::AssertionFailure() << "a trampoline's frame: " << names[i - 1] << " <- " << names[i];
  return ::testing::AssertionSuccess();
}

// The stack reaches the syscall entry, or says it stopped at a kretprobe trampoline (kernels before 5.14).
::testing::AssertionResult stack_reaches(const json& e, const std::string& syscall_frame) {
  std::string stack = e["kstack"].dump();
  if (stack.find(syscall_frame) != std::string::npos) return ::testing::AssertionSuccess();
  // Before 5.14 a stack taken in or below a kretprobe ends at its trampoline; the daemon must say so.
  if (e.contains("kstack_truncated")) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "stack " << stack << " reaches no " << syscall_frame;
}

std::vector<json> events_of(const json& report, const std::string& comm, const std::string& syscall) {
  std::vector<json> out;
  for (const auto& e : report["events"])
    if (e["comm"] == comm && e["syscall"] == syscall) out.push_back(e);
  return out;
}

// "pid=1 ok=64 enospc=0 edquot=3" -> {pid: 1, ...}
std::map<std::string, std::string> key_values(const std::string& line) {
  std::map<std::string, std::string> kv;
  std::istringstream words(line);
  std::string w;
  while (words >> w)
    if (auto eq = w.find('='); eq != std::string::npos) kv[w.substr(0, eq)] = w.substr(eq + 1);
  return kv;
}

class VmChains : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {
 protected:
  void SetUp() override {
    if (geteuid() != 0 && !std::getenv("CI")) GTEST_SKIP() << "needs root for the VM harness";
    const auto& [kernel, mode] = GetParam();
    const std::string qemu = is_arm64(kernel) ? "qemu-system-aarch64" : "qemu-system-x86_64";
    if (std::system(("command -v " + qemu + " >/dev/null").c_str()) != 0) {
      if (std::getenv("CI")) FAIL() << qemu << " missing in CI";
      GTEST_SKIP() << qemu << " is not installed";
    }
    if (is_arm64(kernel)) {
      const Payload p = payload_for(kernel);
      if (access(p.daemon.c_str(), X_OK) != 0 || access(p.trigger.c_str(), X_OK) != 0) {
        std::string why = "no arm64 build at " ENOSPCD_ARM64_BUILD_DIR " (scripts/build-arm64.sh makes it)";
        if (std::getenv("CI")) FAIL() << why;
        GTEST_SKIP() << why;
      }
    }
    run_ = &boot(kernel);
    if (run_->exit_code == 75) GTEST_SKIP() << "kernel " << kernel << " neither cached nor downloadable";
    ASSERT_EQ(run_->exit_code, 0) << run_->log.substr(run_->log.size() > 6000 ? run_->log.size() - 6000 : 0);
    ASSERT_TRUE(run_->reports.count(mode)) << "no report for mode " << mode << "\n" << run_->log.substr(run_->log.size() > 6000 ? run_->log.size() - 6000 : 0);
    report_ = run_->reports.at(mode);
    expected_mode_ = mode == "auto" && fexit_attaches(kernel) ? "fexit" : "kretprobe";
  }
  void record(const std::string& scenario, const json& e) {
    std::printf("[%s %s] %s: %s(2) chain: %s\n    kstack: %s%s\n    cause: %s\n", std::get<0>(GetParam()).c_str(),
                expected_mode_.c_str(), scenario.c_str(), e["syscall"].get<std::string>().c_str(),
                chain_text(e).c_str(), e["kstack"].dump().c_str(),
                e.contains("kstack_truncated") ? " (truncated: kretprobe trampoline)" : "",
                e["cause"]["summary"].get<std::string>().c_str());
  }
  std::string origin_mode(const std::string& func) {
    for (const auto& o : report_["status"]["origins"])
      if (o["func"] == func) return o["mode"];
    return "absent";
  }
  const VmRun* run_ = nullptr;
  json report_;
  std::string expected_mode_;
};

TEST_P(VmChains, MountMaxChainFromCountMountsToPathMount) {
  EXPECT_EQ(report_["status"]["mode"], "chains");
  EXPECT_EQ(origin_mode("count_mounts"), expected_mode_);
  if (std::get<1>(GetParam()) == "auto" && !fexit_attaches(std::get<0>(GetParam()))) {
    EXPECT_NE(report_["status"].dump().find("fexit attach failed on every function: not supported by this kernel "
                                            "(ENOTSUPP)"),
              std::string::npos)
        << report_["status"].dump(1);
  }
  auto ev = events_of(report_, "mount", "mount");
  ASSERT_EQ(ev.size(), 2u) << report_.dump(1);
  for (const auto& e : ev) {
    auto f = funcs(e);
    ASSERT_FALSE(f.empty());
    EXPECT_EQ(f.front(), "count_mounts") << chain_text(e);
    EXPECT_TRUE(contains(f, "do_add_mount")) << chain_text(e);
    EXPECT_TRUE(contains(f, "path_mount")) << chain_text(e);
    for (const auto& l : e["chain"]) EXPECT_EQ(l["ret"], -28) << chain_text(e);
    std::string stack = e["kstack"].dump();
    EXPECT_TRUE(stack_reaches(e, "sys_mount"));
    EXPECT_TRUE(no_tracer_frames(e)) << chain_text(e);
    EXPECT_EQ(stack.find("[bpf]"), std::string::npos) << stack;
    EXPECT_EQ(e["cause"]["id"], "mount_max");
    EXPECT_EQ(e["cause"]["confidence"], "high");
    // The limit recorded at failure time equals the namespace's mount count (the scenario restores the
    // sysctl right after, so a value read later would be wrong).
    EXPECT_EQ(e["mount_max"], e["mnt_count"]);
    EXPECT_NE(e["cause"]["summary"].get<std::string>().find("fs.mount-max is " + std::to_string(e["mnt_count"].get<int>())),
              std::string::npos) << e["cause"]["summary"];
  }
  record("fs.mount-max", ev[0]);
}

TEST_P(VmChains, TmpfsInodeChainShowsTheKernelsInodeReservation) {
  auto ev = events_of(report_, "touch", "openat");
  ASSERT_EQ(ev.size(), 3u) << report_.dump(1);
  static const std::set<std::string> reservation = {"shmem_reserve_inode", "shmem_get_inode", "__shmem_get_inode"};
  for (const auto& e : ev) {
    auto f = funcs(e);
    ASSERT_FALSE(f.empty()) << e.dump();
    EXPECT_TRUE(reservation.count(f.front())) << chain_text(e);
    EXPECT_EQ(e["cause"]["id"], "tmpfs_inodes");
    EXPECT_TRUE(stack_reaches(e, "openat"));
    EXPECT_TRUE(no_tracer_frames(e)) << chain_text(e);
  }
  record("tmpfs nr_inodes", ev[0]);
}

TEST_P(VmChains, TmpfsBlockChainShowsTheKernelsBlockAccounting) {
  std::vector<json> ev;
  for (const auto& e : events_of(report_, "dd", "write"))
    if (e.value("file", json::object()).value("tmpfs", json::object()).value("max_blocks", 0) == 16) ev.push_back(e);
  ASSERT_EQ(ev.size(), 1u) << report_.dump(1);
  static const std::set<std::string> accounting = {"shmem_inode_acct_blocks", "shmem_inode_acct_block",
                                                   "shmem_acct_block", "shmem_alloc_and_acct_folio",
                                                   "shmem_alloc_and_acct_page", "shmem_alloc_and_add_folio"};
  auto f = funcs(ev[0]);
  ASSERT_FALSE(f.empty());
  // Where the kernel inlined every accounting function (Debian's arm64 6.1), the innermost one traced is the
  // page cache lookup that called it.
  bool traced = false;
  for (const auto& a : accounting) traced = traced || origin_mode(a) == expected_mode_;
  if (traced)
    EXPECT_TRUE(accounting.count(f.front())) << chain_text(ev[0]);
  else
    EXPECT_EQ(f.front(), "shmem_get_folio_gfp") << chain_text(ev[0]);
  EXPECT_TRUE(no_tracer_frames(ev[0])) << chain_text(ev[0]);
  EXPECT_EQ(ev[0]["cause"]["id"], "tmpfs_blocks");
  EXPECT_TRUE(stack_reaches(ev[0], "write"));
  record("tmpfs size", ev[0]);
}

// 256 writes each saw a huge-page attempt fail with ENOSPC and then succeeded: their chains were discarded,
// and the one write that failed carries only its own links.
TEST_P(VmChains, ChainOfASucceedingSyscallNeverLeaks) {
  std::vector<json> ev;
  for (const auto& e : events_of(report_, "dd", "write"))
    if (e.value("file", json::object()).value("tmpfs", json::object()).value("max_blocks", 0) == 768) ev.push_back(e);
  if (ev.empty()) GTEST_SKIP() << "this kernel has no huge=always tmpfs";
  ASSERT_EQ(ev.size(), 1u);
  auto f = funcs(ev[0]);
  // One failing write holds at most: huge and small attempts, retried once after shrinking huge pages, and
  // shmem_get_folio_gfp. A leak of the 256 discarded chains would add their returns to the links.
  uint64_t returns = 0;
  for (const auto& l : ev[0]["chain"]) returns += l.value("returns", uint64_t{1});
  EXPECT_LT(returns, 8u) << "leaked links: " << chain_text(ev[0]);
  EXPECT_FALSE(ev[0].contains("chain_dropped")) << chain_text(ev[0]);
  if (report_["status"]["counters"]["losses"]["chain_discarded"].get<uint64_t>() < 200)
    GTEST_SKIP() << "this kernel does not try a huge page it cannot account for, so no write failed inside "
                    "and succeeded outside (chain: " << chain_text(ev[0]) << ")";
  EXPECT_EQ(report_["status"]["counters"]["losses"]["chain_overflow"], 0);
  record("huge-page fallback, then full", ev[0]);
}

// Disk quota: uid 65534 may hold 256 KiB on an ext4 with the quota feature; its writes past that fail with
// EDQUOT where fs/quota/dquot.c compares the charge with the limit, under ext4's delayed-allocation reservation.
TEST_P(VmChains, QuotaEdquotChainShowsTheQuotaCharge) {
  auto line = run_->quota.find(std::get<1>(GetParam()));
  ASSERT_NE(line, run_->quota.end()) << "the scenario printed no quota result";
  if (line->second.rfind("skipped: no quota.img", 0) == 0) GTEST_SKIP() << line->second;
  auto kv = key_values(line->second);
  ASSERT_TRUE(kv.count("pid") && kv.count("edquot")) << "quota trigger: " << line->second;
  EXPECT_EQ(kv["other"], "0") << line->second;
  // The first failing write and the two retries.
  ASSERT_EQ(kv["edquot"], "3") << line->second;
  std::vector<json> ev;
  for (const auto& e : report_["events"])
    if (std::to_string(e["pid"].get<uint32_t>()) == kv["pid"] && e["errno"] == "EDQUOT") ev.push_back(e);
  ASSERT_EQ(ev.size(), 3u) << "trigger: " << line->second << "\n" << report_.dump(1);
  // Both are in kallsyms, ftrace and BTF on 5.10, 6.1 and 6.12.
  EXPECT_EQ(origin_mode("dquot_add_space"), expected_mode_);
  EXPECT_EQ(origin_mode("__dquot_alloc_space"), expected_mode_);
  for (const auto& e : ev) {
    EXPECT_EQ(e["syscall"], "write");
    EXPECT_EQ(e["uid"], 65534);
    auto f = funcs(e);
    ASSERT_FALSE(f.empty()) << e.dump();
    EXPECT_EQ(f.front(), "dquot_add_space") << chain_text(e);
    EXPECT_TRUE(contains(f, "__dquot_alloc_space")) << chain_text(e);
    for (const auto& l : e["chain"]) EXPECT_EQ(l["ret"], -122) << chain_text(e);
    EXPECT_TRUE(stack_reaches(e, "write"));
    const json& c = e["cause"];
    EXPECT_EQ(c["id"], "quota");
    EXPECT_EQ(c["confidence"], "high");
    EXPECT_EQ(c["evidence"].value("origin", ""), "dquot_add_space") << c.dump();
    EXPECT_EQ(c["evidence"].value("mount_point", ""), "/mnt/quota") << c.dump();
    std::string summary = c["summary"];
    for (const std::string part : {"uid 65534", "block quota on /mnt/quota", "dquot_add_space returned -122"})
      EXPECT_NE(summary.find(part), std::string::npos) << "summary lacks \"" << part << "\": " << summary;
  }
  record("ext4 block quota", ev[0]);
}

// A write onto a full ext4: ext4 commits the journal and tries the allocation again before it gives up. The
// retries are counted on their links instead of filling the chain, which reaches out to the syscall.
TEST_P(VmChains, FullExt4ChainCountsTheRetriesAndReachesTheSyscall) {
  auto line = run_->quota.find(std::get<1>(GetParam()));
  ASSERT_NE(line, run_->quota.end()) << "the scenario printed no quota result";
  if (line->second.rfind("skipped: no quota.img", 0) == 0) GTEST_SKIP() << line->second;
  std::vector<json> ev;
  for (const auto& e : events_of(report_, "dd", "write"))
    if (e.value("file", json::object()).value("fstype", "") == "ext4") ev.push_back(e);
  ASSERT_EQ(ev.size(), 1u) << report_.dump(1);
  const json& e = ev[0];
  auto f = funcs(e);
  ASSERT_FALSE(f.empty()) << e.dump(1);
  EXPECT_EQ(f.front(), "ext4_claim_free_clusters") << chain_text(e);
  EXPECT_TRUE(contains(f, "ext4_da_reserve_space")) << chain_text(e);
  EXPECT_EQ(std::set<std::string>(f.begin(), f.end()).size(), f.size()) << chain_text(e);
  EXPECT_FALSE(e.contains("chain_dropped")) << chain_text(e);
  EXPECT_GT(e["chain"][0].value("returns", 0), 1) << "no retry counted: " << chain_text(e);
  std::string outer = e.value("chain_outer", json::array()).dump();
  EXPECT_FALSE(e.contains("chain_outer_truncated")) << chain_text(e);
  // Before v5.14 the kernel cannot unwind through a kretprobe's return trampoline: the way out is found by
  // scanning the stack, and the event says so (ext4's functions here take at most six arguments: fexit in auto
  // mode).
  EXPECT_EQ(e.value("chain_outer_scanned", false), std::get<0>(GetParam()) == "5.10" && std::get<1>(GetParam()) == "kretprobe")
      << chain_text(e);
  EXPECT_NE(outer.find("ext4_da_write_begin"), std::string::npos) << chain_text(e);
  // The architecture's syscall dispatcher: x86's do_syscall_64, arm64's el0_svc (through invoke_syscall).
  EXPECT_NE(outer.find(is_arm64(std::get<0>(GetParam())) ? "el0_svc" : "do_syscall_64"), std::string::npos)
      << chain_text(e);
  EXPECT_EQ(e["cause"]["id"], "fs_blocks") << e["cause"].dump();
  record("full ext4", e);
}

// io_uring: fio's write request fails in its completion entry, not in a syscall. It is counted once under its
// own key and explained like a write. 5.10's completion tracepoint does not record the request: there the
// opcode and file come from kiocb_done(), where the write ended, traced like AIO's completions.
TEST_P(VmChains, IoUringWriteFailsInItsCompletion) {
  if (is_arm64(std::get<0>(GetParam()))) GTEST_SKIP() << "the arm64 guest has no fio (the host's is an x86 program)";
  if (std::system("command -v fio >/dev/null") != 0) {
    if (std::getenv("CI")) FAIL() << "fio is missing in CI (scripts/deps.sh installs it)";
    GTEST_SKIP() << "fio is not installed on the host, so the VM has none";
  }
  const std::string kernel = std::get<0>(GetParam());
  const std::string how = std::get<1>(GetParam()) == "kretprobe" ? "kprobe" : "fentry";
  EXPECT_EQ(report_["status"]["gate"].value("io_uring", ""),
            kernel == "5.10" ? "attached (reads and writes also on kiocb_done, " + how + ")" : "attached")
      << report_["status"]["gate"].dump();
  std::vector<json> ev;
  for (const auto& e : report_["events"])
    if (e["syscall"].get<std::string>().rfind("io_uring:", 0) == 0) ev.push_back(e);
  ASSERT_EQ(ev.size(), 1u) << report_["events"].dump(1);
  const json& e = ev[0];
  EXPECT_EQ(e["comm"], "fio");
  EXPECT_EQ(e["ret"], -28);
  static const std::set<std::string> names = {"io_uring:write", "io_uring:writev"};
  EXPECT_TRUE(names.count(e["syscall"].get<std::string>())) << e.dump(1);
  static const std::set<std::string> accounting = {"shmem_inode_acct_blocks", "shmem_inode_acct_block",
                                                   "shmem_acct_block", "shmem_alloc_and_acct_folio",
                                                   "shmem_alloc_and_acct_page", "shmem_alloc_and_add_folio"};
  // A buffered write to a tmpfs is handed to an io-wq worker thread, where the accounting fails, and its
  // completion is posted from the submitting thread: the worker's chain is not linked to the request yet, so
  // a chain, where there is one, must be the accounting's.
  auto f = funcs(e);
  if (!f.empty()) {
    EXPECT_TRUE(accounting.count(f.front())) << chain_text(e);
  }
  std::string summary = e["cause"]["summary"];
  EXPECT_EQ(e["cause"]["id"], "tmpfs_blocks") << e.dump(1);
  EXPECT_NE(summary.find("the tmpfs at /t4 is full: 1.0 MiB of 1.0 MiB (size=1024k) used"), std::string::npos)
      << summary;
  uint64_t counted = 0;
  for (const auto& r : report_["top"])
    if (r["syscall"] == e["syscall"] && r["pid"] == e["pid"]) counted += r["count"].get<uint64_t>();
  EXPECT_EQ(counted, 1u) << report_["top"].dump(1);
  record("io_uring write onto a full tmpfs", e);
}

// Linux AIO: fio's libaio write request fails in its completion (io_submit(2) succeeded). aio_complete_rw has
// no tracepoint: it is traced with fentry where fexit works, with a kprobe in kretprobe mode. Counted once under
// its own key, attributed to fio, and explained like the pwrite it stands for.
TEST_P(VmChains, AioWriteFailsInItsCompletion) {
  if (is_arm64(std::get<0>(GetParam()))) GTEST_SKIP() << "the arm64 guest has no fio (the host's is an x86 program)";
  if (std::system("command -v fio >/dev/null") != 0) {
    if (std::getenv("CI")) FAIL() << "fio is missing in CI (scripts/deps.sh installs it)";
    GTEST_SKIP() << "fio is not installed on the host, so the VM has none";
  }
  const std::string mode = std::get<1>(GetParam());
  EXPECT_EQ(report_["status"]["gate"].value("aio", ""), mode == "kretprobe" ? "attached (kprobe)" : "attached (fentry)")
      << report_["status"]["gate"].dump();
  std::vector<json> ev;
  for (const auto& e : report_["events"])
    if (e["syscall"].get<std::string>().rfind("aio:", 0) == 0) ev.push_back(e);
  ASSERT_EQ(ev.size(), 1u) << report_["events"].dump(1);
  const json& e = ev[0];
  EXPECT_EQ(e["syscall"], "aio:pwrite") << e.dump(1);
  EXPECT_EQ(e["comm"], "fio");
  EXPECT_EQ(e["ret"], -28);
  EXPECT_EQ(e["cause"]["id"], "tmpfs_blocks") << e.dump(1);
  const std::string summary = e["cause"]["summary"];
  EXPECT_EQ(summary.rfind("aio pwrite request by fio (pid ", 0), 0u) << summary;
  EXPECT_NE(summary.find("the tmpfs at /t5 is full: 1.0 MiB of 1.0 MiB (size=1024k) used"), std::string::npos)
      << summary;
  // The write ran in io_submit(2) in fio's thread, where the accounting failed: the chain is the accounting's.
  static const std::set<std::string> accounting = {"shmem_inode_acct_blocks", "shmem_inode_acct_block",
                                                   "shmem_acct_block", "shmem_alloc_and_acct_folio",
                                                   "shmem_alloc_and_acct_page", "shmem_alloc_and_add_folio"};
  auto f = funcs(e);
  ASSERT_FALSE(f.empty()) << e.dump(1);
  EXPECT_TRUE(accounting.count(f.front())) << chain_text(e);
  uint64_t counted = 0;
  for (const auto& r : report_["top"])
    if (r["syscall"] == "aio:pwrite" && r["pid"] == e["pid"]) counted += r["count"].get<uint64_t>();
  EXPECT_EQ(counted, 1u) << report_["top"].dump(1);
  record("Linux AIO write onto a full tmpfs", e);
}

INSTANTIATE_TEST_SUITE_P(Kernels, VmChains,
                         ::testing::Combine(::testing::Values("5.10", "6.1", "6.12", "arm64-6.1", "arm64-6.12"),
                                            ::testing::Values("auto", "kretprobe")),
                         [](const auto& info) {
                           std::string k = std::get<0>(info.param);
                           std::replace(k.begin(), k.end(), '.', '_');
                           std::replace(k.begin(), k.end(), '-', '_');
                           return "linux_" + k + "_" + std::get<1>(info.param);
                         });

}  // namespace
