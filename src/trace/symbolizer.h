// Kernel text address -> "function+0xoff": the pipeline's symbolize stage asks this; trace/kallsyms.h answers
// from /proc/kallsyms, tests from a table.
#pragma once

#include <cstdint>
#include <string>

namespace enospcd {

class Symbolizer {
 public:
  virtual ~Symbolizer() = default;
  // "0x..." for an address it cannot name.
  virtual std::string symbolize(uint64_t addr) const = 0;
};

}  // namespace enospcd
