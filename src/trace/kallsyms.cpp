#include "trace/kallsyms.h"

#include <algorithm>
#include <cstdio>

#include "common/kallsyms_lines.h"

namespace enospcd {

std::vector<std::string> strip_tracer_frames(const std::vector<std::string>& frames, Arch arch) {
  const std::string_view sites[2] = {arch == Arch::aarch64 ? "+0x8" : "+0x5", arch == Arch::aarch64 ? "+0xc" : "+0x9"};
  std::vector<std::string> out;
  bool after_bpf = false;
  for (const auto& f : frames) {
    if (f.ends_with(" [bpf]")) {
      after_bpf = true;
      continue;
    }
    bool entry_site = f.ends_with(sites[0]) || f.ends_with(sites[1]);
    if (after_bpf && entry_site) {
      after_bpf = false;
      continue;
    }
    after_bpf = false;
    out.push_back(f);
  }
  return out;
}

Kallsyms Kallsyms::parse(std::string_view text) {
  Kallsyms k;
  k.syms_.reserve(text.size() / 48);
  k.names_.reserve(text.size() / 2);
  for_each_kallsyms_line(text, [&k](const KallsymsLine& l) {
    if (l.type != 'T' && l.type != 't' && l.type != 'W' && l.type != 'w') return;
    if (l.addr == 0) return;  // hidden: nothing to symbolize with
    Sym s{l.addr, static_cast<uint32_t>(k.names_.size()), 0};
    k.names_.append(l.name);
    if (!l.module.empty()) k.names_.append(" ").append(l.module);
    s.name_len = static_cast<uint32_t>(k.names_.size() - s.name_off);
    k.syms_.push_back(s);
  });
  std::sort(k.syms_.begin(), k.syms_.end(), [](const Sym& a, const Sym& b) { return a.addr < b.addr; });
  k.syms_.shrink_to_fit();
  k.names_.shrink_to_fit();
  return k;
}

Kallsyms Kallsyms::load(const std::string& path) { return parse(read_kallsyms_text(path)); }

std::string Kallsyms::symbolize(uint64_t addr) const {
  char buf[64];
  auto it = std::upper_bound(syms_.begin(), syms_.end(), addr, [](uint64_t a, const Sym& s) { return a < s.addr; });
  if (it == syms_.begin()) {
    std::snprintf(buf, sizeof(buf), "0x%llx", static_cast<unsigned long long>(addr));
    return buf;
  }
  --it;
  std::string_view full(names_.data() + it->name_off, it->name_len), name = full, module;
  if (auto sp = full.find(' '); sp != std::string_view::npos) module = full.substr(sp), name = full.substr(0, sp);
  std::snprintf(buf, sizeof(buf), "+0x%llx", static_cast<unsigned long long>(addr - it->addr));
  std::string out(name);
  out += buf;
  out += module;
  return out;
}

}  // namespace enospcd
