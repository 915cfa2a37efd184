// Kernel address -> "function+0xoff" from /proc/kallsyms, loaded once, binary-searched. The names live in one
// buffer (about 3 MB for 120 000 text symbols) rather than one heap string each.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/names.h"
#include "trace/symbolizer.h"

namespace enospcd {

// Symbolized frames without the tracer's own: BPF programs and trampolines ("[bpf]" frames) and the ftrace
// call site at a traced function's entry that a trampoline leaves right after them: x86_64's func+0x5 (func+0x9
// behind an ENDBR), arm64's func+0x8 (the "bl" after "mov x9, x30"; func+0xc behind a BTI landing pad).
std::vector<std::string> strip_tracer_frames(const std::vector<std::string>& frames, Arch arch = native_arch());

class Kallsyms : public Symbolizer {
 public:
  // Reads a kallsyms-format file. Addresses that read as 0 (kptr_restrict) leave the table empty.
  static Kallsyms load(const std::string& path = "/proc/kallsyms");
  static Kallsyms parse(std::string_view text);

  bool empty() const { return syms_.empty(); }
  std::size_t size() const { return syms_.size(); }
  // "count_mounts+0x2a" (or "count_mounts+0x2a [module]"); "0xffff..." when unknown.
  std::string symbolize(uint64_t addr) const override;

 private:
  struct Sym {
    uint64_t addr;
    uint32_t name_off;  // into names_: the name, then " [module]" for module symbols
    uint32_t name_len;
  };
  std::vector<Sym> syms_;
  std::string names_;
};

}  // namespace enospcd
