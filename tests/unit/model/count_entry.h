// One counter entry as the kernel map holds it, for the counter tests.
#pragma once

#include <cstdint>
#include <cstring>

#include "model/counters.h"

namespace enospcd::fakes {

// A failure count of ENOSPC for (pid, syscall nr, cgroup).
inline CountEntry entry(uint32_t pid, uint32_t nr, uint64_t count, const char* comm, uint64_t cgroup = 7,
                        uint64_t suppressed = 0) {
  CountEntry c{};
  c.key.tgid = pid;
  c.key.syscall_nr = nr;
  c.key.err = 28;
  c.key.cgroup_id = cgroup;
  c.val.count = count;
  c.val.suppressed = suppressed;
  std::strncpy(c.val.comm, comm, sizeof(c.val.comm) - 1);
  return c;
}

}  // namespace enospcd::fakes
