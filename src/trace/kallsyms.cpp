#include "trace/kallsyms.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <fstream>
#include <iterator>

namespace enospcd {

std::vector<std::string> strip_tracer_frames(const std::vector<std::string>& frames) {
  std::vector<std::string> out;
  bool after_bpf = false;
  for (const auto& f : frames) {
    if (f.size() >= 6 && f.compare(f.size() - 6, 6, " [bpf]") == 0) {
      after_bpf = true;
      continue;
    }
    bool entry_site = f.size() > 4 && (f.compare(f.size() - 4, 4, "+0x5") == 0 || f.compare(f.size() - 4, 4, "+0x9") == 0);
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
  while (!text.empty()) {
    std::size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);
    // "ffffffff816f4650 T count_mounts" or "ffffffffc0a01000 t foo\t[ext4]"
    std::size_t sp1 = line.find(' ');
    if (sp1 == std::string_view::npos || sp1 + 3 > line.size() || line[sp1 + 2] != ' ') continue;
    char type = line[sp1 + 1];
    if (type != 'T' && type != 't' && type != 'W' && type != 'w') continue;
    uint64_t addr = 0;
    auto [p, ec] = std::from_chars(line.data(), line.data() + sp1, addr, 16);
    if (ec != std::errc() || p != line.data() + sp1 || addr == 0) continue;
    std::string_view name = line.substr(sp1 + 3), module;
    if (std::size_t tab = name.find_first_of("\t "); tab != std::string_view::npos) {
      module = name.substr(tab + 1);
      name = name.substr(0, tab);
      while (!module.empty() && (module.front() == ' ' || module.front() == '\t')) module.remove_prefix(1);
    }
    if (name.empty()) continue;
    Sym s{addr, static_cast<uint32_t>(k.names_.size()), 0};
    k.names_.append(name);
    if (!module.empty()) k.names_.append(" ").append(module);
    s.name_len = static_cast<uint32_t>(k.names_.size() - s.name_off);
    k.syms_.push_back(s);
  }
  std::sort(k.syms_.begin(), k.syms_.end(), [](const Sym& a, const Sym& b) { return a.addr < b.addr; });
  k.syms_.shrink_to_fit();
  k.names_.shrink_to_fit();
  return k;
}

Kallsyms Kallsyms::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return parse(text);
}

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
