#include "loader/text_refs.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <vector>

namespace enospcd {
namespace {

std::vector<uint8_t> code_of(const std::vector<uint32_t>& insns) {
  std::vector<uint8_t> out(insns.size() * 4);
  std::memcpy(out.data(), insns.data(), out.size());
  return out;
}

// The first 64 bytes of count_mounts() in Debian's arm64 cloud kernel 6.1.0-50 (6.1.176-1), as loaded at
// 0xffffb01c02dd5454 in one boot (its Image, at offset 0x3d5454), which kallsyms lists without sysctl_mount_max
// (no KALLSYMS_ALL). aarch64-linux-gnu-objdump:
//   nop; nop; mov x7, x0; adrp x2, 0xffffb01c04211000; add x0, x2, #0xb20; paciasp; ldr w2, [x0, #52];
//   ldr w0, [x7, #112]; cmp w0, w2; ...
// The Image holds 100000, fs.mount-max's default, at the offset of 0xffffb01c04211000 + 0xb20 + 52.
TEST(TextRefs, CountMountsOfDebianArm64LoadsSysctlMountMaxFirst) {
  const std::vector<uint32_t> insns = {0xd503201f, 0xd503201f, 0xaa0003e7, 0x9000a1e2, 0x912c8040, 0xd503233f,
                                       0xb9403402, 0xb94070e0, 0x6b02001f, 0x54000442, 0xb94074e8, 0x4b000042,
                                       0x6b02011f, 0x540003c2, 0x4b080046, 0xb4000301};
  auto code = code_of(insns);
  auto loads = global_loads(Arch::aarch64, 0xffffb01c02dd5454ull, code.data(), code.size());
  ASSERT_EQ(loads.size(), 1u);  // the others load through x7, the namespace argument
  EXPECT_EQ(loads[0].addr, 0xffffb01c04211b54ull);
  EXPECT_EQ(loads[0].size, 4);
}

// Assembled with aarch64-linux-gnu-as at 0x10000 (encodings from aarch64-linux-gnu-objdump):
//   adrp x1, 0x13000; ldr x3, [x1, #16]          -> 8 bytes at 0x13010
//   adrp x4, 0xf000; mov x4, #5; ldr w5, [x4, #8] -> nothing: x4 no longer holds the page
//   adrp x6, 0x15000; ldr w6, [x6, #4]            -> 4 bytes at 0x15004, and x6 now holds the loaded value
//   ldr w7, [x6, #4]                              -> nothing
//   adrp x8, 0x13000; ldr x9, [x8, #16]           -> 0x13010 again: listed once
//   str w1, [x8, #4]; ldr w10, [x8, #32]          -> a store writes no register: 4 bytes at 0x13020
TEST(TextRefs, PagesFollowTheRegistersThatHoldThem) {
  const std::vector<uint32_t> insns = {0xf0000001, 0xf9400823, 0xf0ffffe4, 0xd28000a4, 0xb9400885, 0xb0000026,
                                       0xb94004c6, 0xb94004c7, 0xf0000008, 0xf9400909, 0xb9000501, 0xb940210a};
  auto code = code_of(insns);
  auto loads = global_loads(Arch::aarch64, 0x10000, code.data(), code.size());
  EXPECT_EQ(loads, (std::vector<GlobalLoad>{{0x13010, 8}, {0x15004, 4}, {0x13020, 4}}));
}

TEST(TextRefs, TruncatedCodeGivesNothing) {
  const std::vector<uint32_t> insns = {0xf0000001, 0xf9400823};
  auto code = code_of(insns);
  // The load's last byte missing: only whole instructions are decoded.
  EXPECT_TRUE(global_loads(Arch::aarch64, 0x10000, code.data(), code.size() - 1).empty());
  EXPECT_TRUE(global_loads(Arch::aarch64, 0x10000, code.data(), 0).empty());
}

// x86_64: "mov eax, [rip+0x100]" (8b 05 00 01 00 00) at 0x1000 loads 4 bytes at 0x1106; "mov rdx,
// [rip-0x10]" (48 8b 15 f0 ff ff ff) at 0x1006 loads 8 bytes at 0x1007 + 6 - 0x10; "mov eax, [rbx]" (8b 03)
// is no RIP-relative load.
TEST(TextRefs, X86RipRelativeMovs) {
  const std::vector<uint8_t> code = {0x8b, 0x05, 0x00, 0x01, 0x00, 0x00, 0x48, 0x8b, 0x15, 0xf0,
                                     0xff, 0xff, 0xff, 0x8b, 0x03, 0xc3};
  auto loads = global_loads(Arch::x86_64, 0x1000, code.data(), code.size());
  EXPECT_EQ(loads, (std::vector<GlobalLoad>{{0x1106, 4}, {0x1007 + 6 - 0x10, 8}}));
  EXPECT_TRUE(global_loads(Arch::x86_64, 0x1000, code.data(), 5).empty());
}

}  // namespace
}  // namespace enospcd
