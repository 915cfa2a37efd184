// The /proc/kallsyms format, read in one place: "ffffffff816f4650 T count_mounts" or
// "ffffffffc0a01000 t foo\t[ext4]". The symbolizer and the feature probe both walk it with this.
#pragma once

#include <charconv>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>

namespace enospcd {

struct KallsymsLine {
  uint64_t addr = 0;  // 0 when hidden (kptr_restrict): the symbol still exists
  char type = 0;      // T/t text, W/w weak, D/d/B/b data, ...
  std::string_view name;
  std::string_view module;  // "[ext4]" for a module's symbol, else empty
};

// The whole file: one read, about 5 MB on a distribution kernel. Empty when it cannot be read.
inline std::string read_kallsyms_text(const std::string& path = "/proc/kallsyms") {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Calls f(const KallsymsLine&) for each well-formed line; others are skipped.
template <typename F>
void for_each_kallsyms_line(std::string_view text, F&& f) {
  while (!text.empty()) {
    std::size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);
    std::size_t sp1 = line.find(' ');
    if (sp1 == std::string_view::npos || sp1 + 3 > line.size() || line[sp1 + 2] != ' ') continue;
    KallsymsLine l;
    auto [p, ec] = std::from_chars(line.data(), line.data() + sp1, l.addr, 16);
    if (ec != std::errc() || p != line.data() + sp1) continue;
    l.type = line[sp1 + 1];
    l.name = line.substr(sp1 + 3);
    if (std::size_t tab = l.name.find_first_of("\t "); tab != std::string_view::npos) {
      l.module = l.name.substr(tab + 1);
      l.name = l.name.substr(0, tab);
      while (!l.module.empty() && (l.module.front() == ' ' || l.module.front() == '\t')) l.module.remove_prefix(1);
    }
    if (l.name.empty()) continue;
    f(static_cast<const KallsymsLine&>(l));
  }
}

}  // namespace enospcd
