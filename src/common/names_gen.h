// Tables generated at build time from the kernel UAPI headers (cmake/gen_name_tables.cmake).
#pragma once

#include <cstddef>
#include <cstdint>

namespace enospcd::gen {

struct NameEntry {
  uint32_t number;
  const char* name;
};

extern const NameEntry kSyscallsX86_64[];
extern const std::size_t kSyscallsX86_64Len;
extern const NameEntry kSyscallsAarch64[];
extern const std::size_t kSyscallsAarch64Len;
extern const NameEntry kErrnos[];
extern const std::size_t kErrnosLen;

}  // namespace enospcd::gen
