#include "trace/pipeline.h"

#include <spdlog/spdlog.h>

#include "context/container.h"
#include "context/procfs.h"
#include "context/workloads.h"
#include "trace/kallsyms.h"

namespace enospcd {
namespace {

class ProcReader : public ProcessReader {
 public:
  explicit ProcReader(std::string root) : root_(std::move(root)) {}
  ProcessInfo read(uint32_t pid) override {
    // A process reaped between two reads leaves the rest empty: that is normal, not an error.
    ProcessInfo p;
    int id = static_cast<int>(pid);
    if (auto exe = context::read_exe(root_, id)) p.exe = exe->path + (exe->deleted ? " (deleted)" : "");
    if (auto args = context::read_cmdline(root_, id)) {
      for (const auto& a : *args) {
        if (!p.cmdline.empty()) p.cmdline += ' ';
        p.cmdline += a;
      }
    }
    if (auto cg = context::read_cgroup(root_, id)) p.cgroup_path = *cg;
    return p;
  }

 private:
  std::string root_;
};

constexpr std::size_t kContainerCacheMax = 8192;

}  // namespace

std::unique_ptr<ProcessReader> make_proc_reader(std::string root) {
  return std::make_unique<ProcReader>(std::move(root));
}

ContainerRef ContainerCache::named(ContainerRef ref) const {
  if (names_) names_->name(ref);
  return ref;
}

std::optional<ContainerRef> ContainerCache::resolve(const Event& e) {
  std::lock_guard<std::mutex> lk(mu_);
  auto now = std::chrono::steady_clock::now();
  if (entries_.size() > kContainerCacheMax / 2)
    for (auto it = entries_.begin(); it != entries_.end();)
      it = now - it->second.seen > std::chrono::minutes(15) ? entries_.erase(it) : std::next(it);
  auto remember = [&](const ContainerRef& j) {
    if (entries_.size() < kContainerCacheMax || entries_.count(e.cgroup_id)) entries_[e.cgroup_id] = {j, now};
  };
  if (!e.cgroup_path.empty()) {
    if (auto ref = context::cgroup_to_container(e.cgroup_path)) {
      auto j = named(std::move(*ref));
      remember(j);
      return j;
    }
  }
  if (auto it = entries_.find(e.cgroup_id); it != entries_.end()) {
    it->second.seen = now;
    return it->second.container;
  }
  if (!e.cgroup_name.empty() && !e.cgroup_name_truncated) {
    if (auto ref = context::cgroup_to_container(e.cgroup_name)) {
      auto j = named(std::move(*ref));
      remember(j);
      return j;
    }
  }
  return std::nullopt;
}

std::optional<ContainerRef> ContainerCache::find(uint64_t cgroup_id) const {
  std::lock_guard<std::mutex> lk(mu_);
  auto it = entries_.find(cgroup_id);
  return it != entries_.end() ? it->second.container : std::nullopt;
}

std::optional<Event> EventPipeline::process(const void* data, std::size_t size, int64_t realtime_offset_ns,
                                            const std::vector<std::string>& origin_names) {
  records_++;
  auto e = decode_event(data, size, realtime_offset_ns, origin_names);
  if (!e) {
    malformed_++;
    return std::nullopt;
  }
  symbolize(*e);
  try {
    enrich(*e);
  } catch (const std::exception& ex) {
    // One event the host readers or the diagnosis could not handle must not take the daemon down: it is kept
    // with what BPF recorded, counted, and logged (the first time, then every 1 000th).
    uint64_t n = ++unexplained_;
    if (n == 1 || n % 1000 == 0)
      spdlog::error("event of pid {} ({} {}): explaining it failed ({} so far): {}", e->pid, e->syscall,
                    e->errno_name, n, ex.what());
    e->cause.reset();
  }
  return e;
}

namespace {
// Kernels before v5.14 cannot unwind through a kretprobe's return trampoline (fixed by commit 19138af1bd88
// "x86/kprobes: Push a fake return address at kretprobe_trampoline"): a stack stops there. Returns why it is
// short, or "".
std::string drop_trampoline(std::vector<std::string>& frames) {
  if (frames.empty() || frames.back().find("kretprobe_trampoline") == std::string::npos) return "";
  frames.pop_back();
  return "the kernel cannot unwind through a kretprobe trampoline";
}

// The return addresses a scan of the stack found, as frames: only those inside a known function (never at its
// first byte, where no call returns to), each run of one address kept once.
std::vector<std::string> scanned_frames(const std::vector<std::string>& frames) {
  std::vector<std::string> out;
  for (const auto& f : frames) {
    std::size_t plus = f.find('+');
    bool at_entry = plus == std::string::npos || (f.compare(plus, 4, "+0x0") == 0 && (plus + 4 == f.size() || f[plus + 4] == ' '));
    if (at_entry || f.find("kretprobe_trampoline") != std::string::npos) continue;
    if (!out.empty() && out.back() == f) continue;
    out.push_back(f);
  }
  return out;
}
}  // namespace

std::vector<std::string> EventPipeline::frames_of(const std::vector<uint64_t>& addrs) const {
  std::vector<std::string> frames;
  frames.reserve(addrs.size());
  for (uint64_t a : addrs) frames.push_back(symbols_.symbolize(a));
  return strip_tracer_frames(frames);
}

void EventPipeline::symbolize(Event& e) const {
  e.kstack = frames_of(e.kstack_addrs);
  e.kstack_truncated = drop_trampoline(e.kstack);
  if (e.chain.empty()) return;
  // The way out from the outermost link: its callers, from the stack taken as it returned. For a chain of one,
  // that is the innermost stack.
  if (e.chain_outer_scanned) {
    e.chain_outer = scanned_frames(frames_of(e.outer_stack_addrs));
    if (e.chain_outer.empty()) e.chain_outer_truncated = e.kstack_truncated;
  } else if (e.outer_stack_addrs.empty()) {
    e.chain_outer = e.kstack;
    e.chain_outer_truncated = e.kstack_truncated;
  } else {
    e.chain_outer = frames_of(e.outer_stack_addrs);
    e.chain_outer_truncated = drop_trampoline(e.chain_outer);
  }
}

void EventPipeline::enrich(Event& e) {
  // Only while the process exists; a short-lived one is gone, and the BPF evidence stands alone.
  auto p = procs_.read(e.pid);
  e.exe = std::move(p.exe);
  e.cmdline = std::move(p.cmdline);
  e.cgroup_path = std::move(p.cgroup_path);
  e.container = containers_.resolve(e);
  e.cause = diagnose::diagnose(e, facts_);
}

}  // namespace enospcd
