// The kernel globals a function loads, read from its machine code. Kernels built without KALLSYMS_ALL (Debian's
// arm64 cloud kernel of bookworm, 6.1; small VM kernels) list no data symbols in /proc/kallsyms, so the
// addresses of the variables the gate reads at a failure (sysctl_mount_max, ...) are found where a function
// that reads them takes them from: on arm64 an ADRP that forms the variable's 4 KiB page and a load from that
// page, on x86_64 a RIP-relative mov.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/names.h"

namespace enospcd {

struct GlobalLoad {
  uint64_t addr = 0;  // the variable's address
  uint8_t size = 0;   // bytes loaded: 4 or 8
  bool operator==(const GlobalLoad&) const = default;
};

// The globals loaded by the code at `pc` (its first `len` bytes), in the order of the loads, each once. arm64:
// "adrp xN, page" followed (before xN is written again) by "ldr wM|xM, [xN, #off]" (unsigned offset), or by
// "add xN, xN, #lo12" and then "ldr wM|xM, [xN]". x86_64: "mov r32|r64, [rip+disp32]" at any byte offset,
// so some candidates are not loads at all: a candidate is only a place to check.
std::vector<GlobalLoad> global_loads(Arch arch, uint64_t pc, const uint8_t* code, std::size_t len);

}  // namespace enospcd
