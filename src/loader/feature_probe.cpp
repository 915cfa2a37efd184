#include "loader/feature_probe.h"

#include <linux/capability.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

namespace enospcd {
namespace {

bool has_effective_cap(int cap) {
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2] = {};
  if (syscall(SYS_capget, &hdr, data) != 0) return false;
  return data[cap / 32].effective & (1u << (cap % 32));
}

bool exists(const char* path) { return access(path, F_OK) == 0; }

}  // namespace

const std::set<std::string>& FeatureProbe::known_features() {
  static const std::set<std::string> names = {"tp_btf", "raw_tp", "tp", "fexit", "kprobe"};
  return names;
}

bool FeatureProbe::has_vmlinux_btf() {
  if (!btf_) btf_ = exists("/sys/kernel/btf/vmlinux");
  return *btf_;
}

bool FeatureProbe::can_load_bpf() {
  if (!bpf_caps_) {
    constexpr int kCapPerfmon = 38, kCapBpf = 39;
    bool admin = has_effective_cap(CAP_SYS_ADMIN);
    bpf_caps_ = (admin || has_effective_cap(kCapBpf)) && (admin || has_effective_cap(kCapPerfmon));
  }
  return *bpf_caps_;
}

bool FeatureProbe::has_kprobes() {
  if (!kprobes_)
    kprobes_ = exists("/sys/bus/event_source/devices/kprobe/type") ||
               exists("/sys/kernel/tracing/kprobe_events") || exists("/sys/kernel/debug/tracing/kprobe_events");
  return *kprobes_ && !disabled("kprobe");
}

bool FeatureProbe::has_kernel_symbol(const std::string& name) {
  if (!kallsyms_) {
    kallsyms_.emplace();
    std::ifstream in("/proc/kallsyms");
    std::string line;
    while (std::getline(in, line)) {
      // "ffffffff816f4650 T count_mounts" or "... t name [module]"
      std::istringstream ss(line);
      std::string addr, type, sym;
      if (!(ss >> addr >> type >> sym)) continue;
      if (type == "T" || type == "t") kallsyms_->insert(sym);
    }
  }
  return kallsyms_->count(name) != 0;
}

uint64_t FeatureProbe::kernel_data_symbol(const std::string& name) {
  std::ifstream in("/proc/kallsyms");
  std::string addr, type, sym;
  while (in >> addr >> type >> sym) {
    in.ignore(4096, '\n');
    if (sym == name && (type == "D" || type == "d" || type == "B" || type == "b"))
      return std::strtoull(addr.c_str(), nullptr, 16);
  }
  return 0;
}

std::string FeatureProbe::kernel_release() {
  struct utsname u {};
  if (uname(&u) != 0) return "unknown";
  return u.release;
}

}  // namespace enospcd
