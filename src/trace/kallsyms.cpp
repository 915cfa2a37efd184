#include "trace/kallsyms.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

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

Kallsyms Kallsyms::parse(const std::string& text) {
  Kallsyms k;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    // "ffffffff816f4650 T count_mounts" or "ffffffffc0a01000 t foo\t[ext4]"
    std::istringstream ls(line);
    std::string addr_s, type, name, module;
    if (!(ls >> addr_s >> type >> name)) continue;
    if (type != "T" && type != "t" && type != "W" && type != "w") continue;
    uint64_t addr = std::strtoull(addr_s.c_str(), nullptr, 16);
    if (addr == 0) continue;
    if (ls >> module) name += " " + module;
    k.syms_.push_back({addr, std::move(name)});
  }
  std::sort(k.syms_.begin(), k.syms_.end(), [](const Sym& a, const Sym& b) { return a.addr < b.addr; });
  return k;
}

Kallsyms Kallsyms::load(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return parse(ss.str());
}

std::string Kallsyms::symbolize(uint64_t addr) const {
  char buf[64];
  auto it = std::upper_bound(syms_.begin(), syms_.end(), addr, [](uint64_t a, const Sym& s) { return a < s.addr; });
  if (it == syms_.begin()) {
    std::snprintf(buf, sizeof(buf), "0x%llx", static_cast<unsigned long long>(addr));
    return buf;
  }
  --it;
  std::string name = it->name, module;
  if (auto sp = name.find(' '); sp != std::string::npos) module = name.substr(sp), name.resize(sp);
  std::snprintf(buf, sizeof(buf), "+0x%llx", static_cast<unsigned long long>(addr - it->addr));
  return name + buf + module;
}

}  // namespace enospcd
