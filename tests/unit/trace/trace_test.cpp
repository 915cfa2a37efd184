#include <bpf/btf.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <set>

#include "common/names.h"
#include "loader/gate.h"
#include "loader/origins.h"
#include "support/has_value.h"
#include "trace/event.h"
#include "trace/kallsyms.h"

namespace enospcd {
namespace {

enospcd_event raw_event() {
  enospcd_event r{};
  r.hdr.kind = ENOSPCD_KIND_SYSCALL_FAILURE;
  r.hdr.size = sizeof(r);
  r.hdr.ktime_ns = 5'000'000'000;
  r.pid = 42;
  r.tid = 43;
  r.ppid = 1;
  r.uid = 1000;
  if (auto nr = syscall_number("openat"))
    r.syscall_nr = *nr;
  else
    ADD_FAILURE() << "no syscall named openat";
  r.ret = -28;
  r.err = 28;
  r.cgroup_id = 7;
  r.flags = ENOSPCD_EF_ARGS_VALID | ENOSPCD_EF_HAS_MNTNS;
  r.mntns_inum = 4026531840u;
  r.mnt_count = 31;
  std::strcpy(r.comm, "touch");
  std::strcpy(r.path, "/tmp/t/f16");
  return r;
}

TEST(Decode, WellFormedRecord) {
  auto r = raw_event();
  r.chain_len = 2;
  r.chain[0] = {-28, 1, 1, 0};
  r.chain[1] = {-28, 2, 0, 0};
  auto e = decode_event(&r, sizeof(r), 1'000'000'000, {"path_mount", "count_mounts"});
  ASSERT_HAS_VALUE(e);
  EXPECT_EQ(e->pid, 42u);
  EXPECT_EQ(e->comm, "touch");
  EXPECT_EQ(e->syscall, "openat");
  EXPECT_EQ(e->errno_name, "ENOSPC");
  EXPECT_EQ(e->time_ns, 6'000'000'000u);
  EXPECT_EQ(e->path, "/tmp/t/f16");
  EXPECT_TRUE(e->has_mntns);
  EXPECT_EQ(e->mnt_count, 31u);
  ASSERT_EQ(e->chain.size(), 2u);
  EXPECT_EQ(e->chain[0].func, "count_mounts");
  EXPECT_EQ(e->chain[1].func, "path_mount");
  EXPECT_FALSE(e->file);
}

TEST(Decode, RejectsMalformed) {
  auto r = raw_event();
  EXPECT_FALSE(decode_event(&r, sizeof(r) - 1, 0, {}));
  r.hdr.kind = ENOSPCD_KIND_INVALID;
  EXPECT_FALSE(decode_event(&r, sizeof(r), 0, {}));
  r = raw_event();
  r.hdr.size = 12;
  EXPECT_FALSE(decode_event(&r, sizeof(r), 0, {}));
}

TEST(Decode, UnterminatedStringsAndOversizedCountsAreBounded) {
  auto r = raw_event();
  std::memset(r.comm, 'x', sizeof(r.comm));
  std::memset(r.path, 'p', sizeof(r.path));
  r.chain_len = 999;
  r.stack_len = 999;
  auto e = decode_event(&r, sizeof(r), 0, {});
  ASSERT_HAS_VALUE(e);
  EXPECT_EQ(e->comm.size(), sizeof(r.comm));
  EXPECT_EQ(e->path.size(), sizeof(r.path));
  EXPECT_EQ(e->chain.size(), static_cast<size_t>(ENOSPCD_CHAIN_MAX));
  EXPECT_EQ(e->chain[0].func, "origin_0");
}

TEST(EventJson, FieldNamesAndRoundTrip) {
  auto r = raw_event();
  r.flags |= ENOSPCD_EF_HAS_FILE;
  std::strcpy(r.file.fstype, "tmpfs");
  r.file.dev = (0u << 20) | 52;
  r.file.shmem_max_inodes = 16;
  auto e = decode_event(&r, sizeof(r), 0, {});
  ASSERT_HAS_VALUE(e);
  e->id = 99;
  auto j = to_json(*e);
  for (const char* k : {"id", "time", "pid", "tid", "comm", "uid", "syscall", "errno", "ret", "path", "cgroup_id",
                        "mntns", "chain", "kstack", "container", "cause"})
    EXPECT_TRUE(j.contains(k)) << k;
  EXPECT_EQ(j["errno"], "ENOSPC");
  EXPECT_EQ(j["file"]["fstype"], "tmpfs");
  EXPECT_EQ(j["file"]["dev"], "0:52");
  Event back = event_from_json(j);
  EXPECT_EQ(to_json(back), j);
}

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
