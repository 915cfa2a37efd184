#include "loader/feature_probe.h"

#include <linux/capability.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "common/kallsyms_lines.h"

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
  static const std::set<std::string> names = {"targeted", "tp_btf", "raw_tp", "tp", "fexit", "kprobe", "io_uring", "aio"};
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

FeatureProbe::Kallsyms FeatureProbe::read_kallsyms() {
  // One pass over /proc/kallsyms (about 5 MB), since this sits on the start-up path. Text symbols all go into
  // a sorted index; data symbols only where asked for.
  static const std::set<std::string, std::less<>> kDataWanted = {"sysctl_mount_max", "__per_cpu_offset", "pty_count",
                                                                   "pty_limit", "pty_reserve",
                                                                   "max_user_watches"};
  static const std::set<std::string, std::less<>> kTextWanted = {"count_mounts", "devpts_new_index", "ep_insert",
                                                                   "do_epoll_ctl"};
  Kallsyms k;
  const std::string text = read_kallsyms_text();
  k.names.reserve(text.size() / 2);
  k.sorted.reserve(text.size() / 40);
  for_each_kallsyms_line(text, [&k](const KallsymsLine& l) {
    if (l.type == 'T' || l.type == 't') {
      k.sorted.push_back(static_cast<uint32_t>(k.names.size()));
      k.names.append(l.name).push_back('\0');
      if (l.module.empty() && kTextWanted.count(l.name)) k.text.emplace(std::string(l.name), l.addr);
    } else if ((l.type == 'D' || l.type == 'd' || l.type == 'B' || l.type == 'b') && kDataWanted.count(l.name)) {
      k.data[std::string(l.name)] = l.addr;
    }
  });
  const char* base = k.names.data();
  std::sort(k.sorted.begin(), k.sorted.end(), [base](uint32_t a, uint32_t b) { return std::strcmp(base + a, base + b) < 0; });
  k.sorted.erase(std::unique(k.sorted.begin(), k.sorted.end(),
                             [base](uint32_t a, uint32_t b) { return std::strcmp(base + a, base + b) == 0; }),
                 k.sorted.end());
  k.names.shrink_to_fit();
  k.sorted.shrink_to_fit();
  return k;
}

bool FeatureProbe::Kallsyms::has_text(std::string_view name) const {
  const char* base = names.data();
  auto it = std::lower_bound(sorted.begin(), sorted.end(), name,
                             [base](uint32_t off, std::string_view n) { return std::string_view(base + off) < n; });
  return it != sorted.end() && std::string_view(base + *it) == name;
}

void FeatureProbe::preload() {
  if (!kallsyms_ && !pending_.valid()) pending_ = std::async(std::launch::async, &FeatureProbe::read_kallsyms);
}

bool FeatureProbe::kallsyms_ready() const {
  return kallsyms_ ||
         (pending_.valid() && pending_.wait_for(std::chrono::seconds(0)) == std::future_status::ready);
}

void FeatureProbe::release_kallsyms() {
  if (pending_.valid()) pending_.wait();
  pending_ = {};
  kallsyms_.reset();
}

const FeatureProbe::Kallsyms& FeatureProbe::kallsyms() {
  if (!kallsyms_) kallsyms_ = pending_.valid() ? pending_.get() : read_kallsyms();
  return *kallsyms_;
}

bool FeatureProbe::has_kernel_symbol(const std::string& name) { return kallsyms().has_text(name); }

uint64_t FeatureProbe::kernel_data_symbol(const std::string& name) {
  auto it = kallsyms().data.find(name);
  return it == kallsyms().data.end() ? 0 : it->second;
}

uint64_t FeatureProbe::kernel_text_address(const std::string& name) {
  auto it = kallsyms().text.find(name);
  return it == kallsyms().text.end() ? 0 : it->second;
}

std::string FeatureProbe::kernel_release() {
  struct utsname u {};
  if (uname(&u) != 0) return "unknown";
  return u.release;
}

}  // namespace enospcd
