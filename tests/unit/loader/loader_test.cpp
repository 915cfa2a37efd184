// The loader's tables and parsers that need no BPF privileges: origin return kinds, path arguments, gate modes.
#include <bpf/btf.h>
#include <gtest/gtest.h>

#include <set>

#include "common/names.h"
#include "loader/gate.h"
#include "loader/origins.h"
#include "support/has_value.h"

namespace enospcd {
namespace {

TEST(Origins, ClassifyReturnTypes) {
  EXPECT_EQ(classify_return({2, FuncProto::Ret::Int32}, false), ENOSPCD_RET_INT);
  EXPECT_EQ(classify_return({2, FuncProto::Ret::Int64}, false), ENOSPCD_RET_LONG);
  EXPECT_EQ(classify_return({2, FuncProto::Ret::Pointer}, false), ENOSPCD_RET_ERR_PTR);
  EXPECT_EQ(classify_return({2, FuncProto::Ret::Pointer}, true), ENOSPCD_RET_PTR_NULL);
  EXPECT_EQ(classify_return({2, FuncProto::Ret::Bool}, false), ENOSPCD_RET_BOOL);
  EXPECT_EQ(classify_return({2, FuncProto::Ret::Void}, false), ENOSPCD_RET_INVALID);
}

TEST(Origins, TableHasEverySubsystemOnce) {
  std::set<std::string> names, subsystems;
  for (const auto& o : builtin_origins()) {
    EXPECT_TRUE(names.insert(o.func).second) << "duplicate " << o.func;
    subsystems.insert(o.subsystem);
  }
  for (const char* s : {"mount", "tmpfs", "ext4", "inotify", "ipc"}) EXPECT_TRUE(subsystems.count(s)) << s;
  EXPECT_LE(builtin_origins().size(), static_cast<size_t>(ENOSPCD_ORIGIN_MAX));
}

// Reads the running kernel's BTF, which every user may read; skipped where the kernel has none.
TEST(Origins, BtfPrototypesOfThisKernel) {
  btf* b = btf__load_vmlinux_btf();
  if (!b) GTEST_SKIP() << "this kernel exposes no BTF";
  auto cm = btf_func_proto(b, "count_mounts");
  if (cm) {
    EXPECT_EQ(cm->ret, FuncProto::Ret::Int32);
    EXPECT_EQ(cm->nargs, 2);
  }
  auto pm = btf_func_proto(b, "path_mount");
  ASSERT_HAS_VALUE(pm);
  EXPECT_EQ(pm->ret, FuncProto::Ret::Int32);
  EXPECT_EQ(pm->nargs, 5);
  EXPECT_FALSE(btf_func_proto(b, "no_such_function_in_any_kernel"));
  btf__free(b);
}

TEST(PathArgs, TableByArchitecture) {
  auto t = path_arg_table();
  auto find = [&](const char* name) {
    auto nr = syscall_number(name);
    for (const auto& [n, spec] : t)
      if (nr && n == *nr) return spec;
    return enospcd_path_args{};
  };
  EXPECT_EQ(find("openat").path1, 2);
  EXPECT_EQ(find("mount").path1, 2);
  EXPECT_EQ(find("mount").path2, 1);
  EXPECT_EQ(find("write").fd_arg, 1);
  EXPECT_EQ(find("mkdir").path1, 1);
  EXPECT_EQ(find("getpid").path1, 0);
  // Where a relative first path starts: the dirfd argument, or the working directory; not for names.
  EXPECT_EQ(find("openat").dir_arg, 1);
  EXPECT_EQ(find("linkat").dir_arg, 3);
  EXPECT_EQ(find("symlinkat").dir_arg, 2);
  EXPECT_EQ(find("fanotify_mark").dir_arg, 4);
  EXPECT_EQ(find("link").dir_arg, ENOSPCD_DIR_CWD);
  EXPECT_EQ(find("mq_open").dir_arg, 0);
  EXPECT_EQ(find("write").dir_arg, 0);
}

TEST(GateMode, Parse) {
  EXPECT_EQ(*parse_gate_mode("tp_btf"), GateMode::TpBtf);
  EXPECT_EQ(*parse_gate_mode("raw_tp"), GateMode::RawTp);
  EXPECT_EQ(*parse_gate_mode("tp"), GateMode::Tp);
  EXPECT_EQ(*parse_gate_mode("auto"), GateMode::Auto);
  EXPECT_FALSE(parse_gate_mode("kprobe"));
}

}  // namespace
}  // namespace enospcd
