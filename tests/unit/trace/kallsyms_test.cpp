#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "trace/kallsyms.h"

namespace enospcd {
namespace {

TEST(Kallsyms, Symbolize) {
  auto k = Kallsyms::parse(
      "ffffffff81000000 T _stext\n"
      "ffffffff816f4650 T count_mounts\n"
      "ffffffff816f57b0 t do_add_mount\n"
      "ffffffff816f5c30 d some_data\n"
      "ffffffffc0001000 t ext4_foo\t[ext4]\n"
      "0000000000000000 T hidden\n");
  EXPECT_EQ(k.size(), 4u);
  EXPECT_EQ(k.symbolize(0xffffffff816f4650ull + 0x2a), "count_mounts+0x2a");
  EXPECT_EQ(k.symbolize(0xffffffff816f57b0ull), "do_add_mount+0x0");
  EXPECT_EQ(k.symbolize(0xffffffffc0001010ull), "ext4_foo+0x10 [ext4]");
  EXPECT_EQ(k.symbolize(0x1000), "0x1000");
}

TEST(Kallsyms, MalformedLinesAreSkipped) {
  auto k = Kallsyms::parse(
      "garbage\n"
      "ffffffff81000000\n"
      "zzzz T not_hex\n"
      "ffffffff81000000 T\n"
      "ffffffff81000000 Tx glued\n"
      "ffffffff81000100 T good\n"
      "ffffffffc0002000 t bpf_prog_1234_gate\t[bpf]");
  EXPECT_EQ(k.size(), 2u);
  EXPECT_EQ(k.symbolize(0xffffffff81000104ull), "good+0x4");
  EXPECT_EQ(k.symbolize(0xffffffffc0002008ull), "bpf_prog_1234_gate+0x8 [bpf]");
}

TEST(Kallsyms, StripTracerFrames) {
  std::vector<std::string> fexit = {"bpf_prog_eaae57e65ab73994_origin_fexit_0+0x26f [bpf]",
                                    "bpf_trampoline_6442518581+0x69 [bpf]",
                                    "count_mounts+0x5",
                                    "attach_recursive_mnt+0x278",
                                    "bpf_trampoline_6442518579+0x46 [bpf]",
                                    "attach_recursive_mnt+0x5",
                                    "path_mount+0xa01",
                                    "__x64_sys_mount+0x116"};
  EXPECT_EQ(strip_tracer_frames(fexit, Arch::x86_64),
            (std::vector<std::string>{"attach_recursive_mnt+0x278", "path_mount+0xa01", "__x64_sys_mount+0x116"}));
  std::vector<std::string> kret = {"shmem_mknod+0x2d", "path_openat+0xf28", "foo+0x5"};
  EXPECT_EQ(strip_tracer_frames(kret, Arch::x86_64), kret);
}

// arm64's trampolines are called from the traced function's second instruction: the frame they leave is func+0x8
// (a stack taken by an origin's fexit program on Debian's arm64 6.12, with write(2)'s entry traced too).
TEST(Kallsyms, StripTracerFramesOnArm64) {
  std::vector<std::string> fexit = {"bpf_prog_3f0c_origin_fexit_12+0x1c4 [bpf]",
                                    "bpf_trampoline_6442510305+0x70 [bpf]",
                                    "dquot_add_space+0x8",
                                    "__dquot_alloc_space+0x100",
                                    "bpf_trampoline_6442510302+0x80 [bpf]",
                                    "__dquot_alloc_space+0x8",
                                    "ext4_da_reserve_space+0x48",
                                    "ksys_write+0x7c",
                                    "__arm64_sys_write+0x24",
                                    "bpf_trampoline_6442468735+0x5c [bpf]",
                                    "__arm64_sys_write+0xc",
                                    "invoke_syscall+0x60"};
  EXPECT_EQ(strip_tracer_frames(fexit, Arch::aarch64),
            (std::vector<std::string>{"__dquot_alloc_space+0x100", "ext4_da_reserve_space+0x48", "ksys_write+0x7c",
                                      "__arm64_sys_write+0x24", "invoke_syscall+0x60"}));
  // Without a trampoline before it, +0x8 is a real return address; x86's entry sites mean nothing here.
  std::vector<std::string> kret = {"shmem_mknod+0x8", "bpf_trampoline_1+0x5c [bpf]", "path_openat+0x5", "foo+0x8"};
  EXPECT_EQ(strip_tracer_frames(kret, Arch::aarch64),
            (std::vector<std::string>{"shmem_mknod+0x8", "path_openat+0x5", "foo+0x8"}));
}

}  // namespace
}  // namespace enospcd
