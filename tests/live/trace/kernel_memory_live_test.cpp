// The gate's peek_kernel program, run through BPF_PROG_TEST_RUN, reads kernel memory: what finds the globals
// a kernel without KALLSYMS_ALL does not list (loader/text_refs.h). Checked here against a global this kernel
// does list, whose value a sysctl shows.
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>

#include "loader/feature_probe.h"
#include "loader/gate.h"
#include "support/live.h"

namespace enospcd::testing {
namespace {

uint32_t mount_max_sysctl() {
  uint32_t v = 0;
  std::ifstream("/proc/sys/fs/mount-max") >> v;
  return v;
}

bool set_mount_max(uint32_t v) {
  std::ofstream out("/proc/sys/fs/mount-max");
  out << v;
  out.flush();
  return static_cast<bool>(out);
}

// The gate finds fs.mount-max's variable (in kallsyms, or else in count_mounts()'s code: this machine's kernel
// lists no data symbols) and reads it as it is: a new value written to the sysctl is what it reads next.
TEST(KernelMemory, TheGateReadsFsMountMaxWhereverKallsymsPutsIt) {
  ENOSPCD_REQUIRE_ROOT();
  FeatureProbe probe;
  GateConfig cfg;
  cfg.self_tgid = static_cast<uint32_t>(getpid());
  cfg.kernel_data = read_kernel_data(probe);
  const bool listed = cfg.kernel_data.mount_max != 0;
  auto gate = GateTracer::start(cfg, probe);
  ASSERT_TRUE(gate.ok()) << gate.error().message;
  const uint64_t addr = (*gate)->kernel_data().mount_max;
  ASSERT_NE(addr, 0u) << "fs.mount-max's variable found neither in kallsyms nor in count_mounts()'s code";
  if (!listed) {
    ASSERT_EQ((*gate)->kernel_data().found_in_text.size() >= 1, true);
    EXPECT_EQ((*gate)->kernel_data().found_in_text.front(), "sysctl_mount_max: in count_mounts()'s code");
  }
  auto read = [&]() -> std::optional<uint32_t> {
    auto bytes = (*gate)->peek(addr, 4);
    if (!bytes) return std::nullopt;
    uint32_t v = 0;
    std::memcpy(&v, bytes->data(), 4);
    return v;
  };
  const uint32_t before = mount_max_sysctl();
  ASSERT_GT(before, 0u);
  EXPECT_EQ(read(), before);
  ASSERT_TRUE(set_mount_max(before + 7));
  EXPECT_EQ(read(), before + 7);
  ASSERT_TRUE(set_mount_max(before));
  EXPECT_EQ(read(), before);
  // Kernel text reads too: count_mounts() starts with instructions, not with zeroes.
  uint64_t text = probe.kernel_text_address("count_mounts");
  ASSERT_NE(text, 0u);
  auto code = (*gate)->peek(text, ENOSPCD_PEEK_MAX);
  ASSERT_TRUE(code.has_value());
  EXPECT_NE(std::count(code->begin(), code->end(), 0), static_cast<long>(code->size()));
  // Out of range sizes and unreadable addresses are refused, not read.
  EXPECT_FALSE((*gate)->peek(addr, 0).has_value());
  EXPECT_FALSE((*gate)->peek(addr, ENOSPCD_PEEK_MAX + 1).has_value());
  EXPECT_FALSE((*gate)->peek(8, 4).has_value());
}

}  // namespace
}  // namespace enospcd::testing
