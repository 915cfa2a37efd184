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
  EXPECT_EQ(strip_tracer_frames(fexit),
            (std::vector<std::string>{"attach_recursive_mnt+0x278", "path_mount+0xa01", "__x64_sys_mount+0x116"}));
  std::vector<std::string> kret = {"shmem_mknod+0x2d", "path_openat+0xf28", "foo+0x5"};
  EXPECT_EQ(strip_tracer_frames(kret), kret);
}

}  // namespace
}  // namespace enospcd
