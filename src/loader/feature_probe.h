// What this kernel and this process can do for tracing, probed once and cached. Tests fake it; an override
// set (`--no-feature`) forces fallbacks so every rung of every ladder can be exercised on one kernel.
#pragma once

#include <cstdint>
#include <future>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace enospcd {

class FeatureProbe {
 public:
  FeatureProbe() = default;
  virtual ~FeatureProbe() = default;

  // Names accepted by disable(): targeted tp_btf raw_tp tp fexit kprobe io_uring aio.
  static const std::set<std::string>& known_features();
  void disable(const std::string& feature) { disabled_.insert(feature); }
  bool disabled(const std::string& feature) const { return disabled_.count(feature) != 0; }

  virtual bool has_vmlinux_btf();
  // CAP_BPF (or CAP_SYS_ADMIN) and CAP_PERFMON (or CAP_SYS_ADMIN) in the effective set.
  virtual bool can_load_bpf();
  // A kprobe PMU or tracefs kprobe_events exists (CONFIG_KPROBE_EVENTS).
  virtual bool has_kprobes();
  // Kernel symbol exists in /proc/kallsyms (text symbols only).
  virtual bool has_kernel_symbol(const std::string& name);
  virtual std::string kernel_release();
  // Address of a kernel data symbol from /proc/kallsyms (0 when absent or hidden by kptr_restrict); only the
  // few symbols the tracer reads are indexed.
  virtual uint64_t kernel_data_symbol(const std::string& name);
  // Address of one of the few functions whose code tells where a global is when kallsyms lists no data
  // symbols (count_mounts, ...: KernelData::readers); 0 when absent or hidden.
  virtual uint64_t kernel_text_address(const std::string& name);
  // Starts reading /proc/kallsyms in the background (on a loaded host this competes with the caller).
  void preload();
  // Frees the symbol index once start-up has decided what to attach (a few MB on a distribution kernel);
  // later queries read /proc/kallsyms again.
  void release_kallsyms();
  bool kallsyms_loaded() const { return kallsyms_.has_value(); }
  // Loaded, or the background read of preload() has finished: kallsyms() will not block.
  bool kallsyms_ready() const;

 private:
  std::set<std::string> disabled_;
  std::optional<bool> btf_, bpf_caps_, kprobes_;
  struct Kallsyms {
    // Text symbol names, each followed by a NUL, and their offsets sorted by name: about 4 MB for the
    // 120 000 symbols of a distribution kernel, against 12 MB as a set of strings.
    std::string names;
    std::vector<uint32_t> sorted;
    std::map<std::string, uint64_t> data;
    std::map<std::string, uint64_t> text;  // the functions of kernel_text_address() only
    bool has_text(std::string_view name) const;
  };
  static Kallsyms read_kallsyms();
  const Kallsyms& kallsyms();
  std::optional<Kallsyms> kallsyms_;
  std::future<Kallsyms> pending_;
};

}  // namespace enospcd
