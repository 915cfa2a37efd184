// The input of the decode fuzz target: one control byte, then the ring-buffer record (struct enospcd_event of
// include/enospcd/abi.h, possibly followed by more bytes).
//
// The decoder accepts a record only when its header names a failure record of the right size, which random
// bytes almost never do. So that the fuzzer explores the fields behind the header, the control byte has the
// harness write a valid header over the record (kind and size; ktime stays) unless its two low bits are 0.
// Bits 2-3 pick the wall-clock offset the decoder adds to ktime.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "enospcd/abi.h"

namespace enospcd::fuzz {

constexpr uint8_t kKeepHeader = 0x00;   // control byte: the record's header as it is
constexpr uint8_t kPatchHeader = 0x01;  // control byte: kind and size set to a valid failure record

inline bool patches_header(uint8_t control) { return (control & 3) != 0; }

// Realtime minus monotonic: none, a host booted in 2024, a clock set before the boot.
inline int64_t realtime_offset(uint8_t control) {
  static constexpr int64_t offsets[4] = {0, 1'714'000'000'000'000'000, -1'000'000'000, 1'714'000'000'000'000'000};
  return offsets[(control >> 2) & 3];
}

// The loader's origin table the chain's origin_id indexes (ids past its end decode as "origin_<id>").
inline const std::vector<std::string>& origin_names() {
  static const std::vector<std::string> v = {"count_mounts",        "attach_recursive_mnt", "graft_tree",
                                             "do_add_mount",        "path_mount",           "shmem_reserve_inode",
                                             "shmem_get_inode",     "dquot_add_space"};
  return v;
}

}  // namespace enospcd::fuzz
