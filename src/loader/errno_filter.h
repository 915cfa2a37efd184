// The watched errno set as both BPF objects keep it in .rodata (bpf/common.bpf.h): one errno as the syscall
// return it gives, several as a bitmask.
#pragma once

#include <vector>

#include "enospcd/abi.h"

namespace enospcd {

template <typename Rodata>
void set_errno_filter(Rodata* ro, const std::vector<int>& errnos) {
  if (errnos.size() == 1) {
    ro->watch_single_ret = -static_cast<long>(errnos[0]);
    return;
  }
  ro->watch_single_ret = 0;
  for (int e : errnos)
    if (e > 0 && e < ENOSPCD_ERRNO_MAX) ro->errno_mask[e / 64] |= 1ull << (e % 64);
}

}  // namespace enospcd
