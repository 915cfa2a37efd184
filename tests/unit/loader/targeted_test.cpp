// Targeted mode without BPF: the syscall set and its edits, the entry functions chosen from BTF names, the
// documentation's table, and where the rung sits on the gate ladder.
#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <string>
#include <vector>

#include "loader/gate.h"
#include "loader/targeted.h"

namespace enospcd {
namespace {

bool has(const std::vector<std::string>& v, const std::string& s) { return std::find(v.begin(), v.end(), s) != v.end(); }

TEST(TargetedSet, EnospcCoversTheCausesAndEdquotItsOwn) {
  auto space = targeted_set({ENOSPC}, {});
  ASSERT_TRUE(space.ok()) << space.error().message;
  for (const char* s : {"write", "pwrite64", "openat", "mkdir", "fallocate", "setxattr", "mount", "unshare",
                        "inotify_add_watch", "fanotify_mark", "epoll_ctl", "fsync", "close", "shmget"})
    EXPECT_TRUE(has(*space, s)) << s;
  EXPECT_FALSE(has(*space, "add_key"));  // key quotas are EDQUOT
  EXPECT_FALSE(has(*space, "getppid"));
  auto quota = targeted_set({EDQUOT}, {});
  ASSERT_TRUE(quota.ok());
  EXPECT_TRUE(has(*quota, "add_key"));
  EXPECT_TRUE(has(*quota, "write"));
  EXPECT_FALSE(has(*quota, "epoll_ctl"));
  auto both = targeted_set({ENOSPC, EDQUOT}, {});
  ASSERT_TRUE(both.ok());
  EXPECT_TRUE(has(*both, "add_key") && has(*both, "epoll_ctl"));
  EXPECT_EQ(std::count(both->begin(), both->end(), "write"), 1);
}

TEST(TargetedSet, AnErrnoWithoutADerivedSetIsRefused) {
  auto r = targeted_set({ENOSPC, EIO}, {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("EIO"), std::string::npos) << r.error().message;
}

TEST(TargetedSet, EditsAddAndDropInOrder) {
  auto base = targeted_set({ENOSPC}, {});
  auto r = targeted_set({ENOSPC}, {"-write", "+fcntl", "getppid", "fcntl", "-close", "+close"});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_FALSE(has(*r, "write"));
  EXPECT_EQ(std::count(r->begin(), r->end(), "fcntl"), 1);
  EXPECT_TRUE(has(*r, "getppid"));
  EXPECT_TRUE(has(*r, "close"));  // dropped, then added back
  EXPECT_EQ(r->size(), base->size() - 1 + 2);
  auto bad = targeted_set({ENOSPC}, {"+no_such_call"});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("no_such_call"), std::string::npos);
}

TEST(TargetedEntries, NativeThenCompatByTheNamesTheKernelHas) {
  BtfFunctions btf = {{"__x64_sys_openat", 1},       {"__ia32_compat_sys_openat", 1}, {"__ia32_sys_openat", 1},
                      {"__x64_sys_mkdir", 1},        {"__ia32_sys_mkdir", 2},         {"__x64_sys_sendfile64", 1}, {"__x64_sys_sendfile", 1},
                      {"__ia32_compat_sys_sendfile", 1}, {"__x64_sys_epoll_ctl", 2}, {"__x64_sys_read", 1}};
  auto e = entry_functions({"openat", "mkdir", "sendfile", "epoll_ctl", "fanotify_mark"}, btf);
  ASSERT_EQ(e.size(), 5u);
  EXPECT_EQ(e[0].functions, (std::vector<std::string>{"__x64_sys_openat", "__ia32_compat_sys_openat"}));
  EXPECT_EQ(e[1].functions, (std::vector<std::string>{"__x64_sys_mkdir", "__ia32_sys_mkdir"}));
  // sendfile(2) enters through sys_sendfile64 (sys_sendfile exists, unused by x86_64's table); the ia32 table's
  // sendfile is its compat function.
  EXPECT_EQ(e[2].functions, (std::vector<std::string>{"__x64_sys_sendfile64", "__ia32_compat_sys_sendfile"}));
  EXPECT_EQ(e[3].functions, (std::vector<std::string>{"__x64_sys_epoll_ctl"}));
  EXPECT_TRUE(e[4].functions.empty());
}

// The prefixes come from the kernel's BTF, whatever the machine the daemon was built on.
TEST(TargetedEntries, Arm64KernelsEnterThroughTheirOwnWrappers) {
  BtfFunctions btf = {{"__arm64_sys_openat", 1}, {"__arm64_compat_sys_openat", 1}, {"__arm64_sys_write", 1},
                      {"__arm64_sys_read", 1}, {"__arm64_sys_sendfile64", 1}, {"__arm64_compat_sys_sendfile", 1}};
  auto e = entry_functions({"openat", "write", "fallocate", "sendfile"}, btf);
  ASSERT_EQ(e.size(), 4u);
  EXPECT_EQ(e[0].functions, (std::vector<std::string>{"__arm64_sys_openat", "__arm64_compat_sys_openat"}));
  EXPECT_EQ(e[1].functions, (std::vector<std::string>{"__arm64_sys_write"}));
  EXPECT_TRUE(e[2].functions.empty());
  EXPECT_EQ(e[3].functions, (std::vector<std::string>{"__arm64_sys_sendfile64", "__arm64_compat_sys_sendfile"}));
}

TEST(TargetedEntries, AKernelWithoutKnownWrappersGetsNoFunctions) {
  BtfFunctions btf = {{"__se_sys_openat", 1}, {"__do_sys_openat", 1}};
  auto e = entry_functions({"openat"}, btf);
  ASSERT_EQ(e.size(), 1u);
  EXPECT_TRUE(e[0].functions.empty());
}

// docs/targeted.md's table lists the same syscalls, in the same order, as the daemon's.
TEST(TargetedSet, DocumentationListsTheTable) {
  std::ifstream in(std::string(ENOSPCD_SOURCE_DIR) + "/docs/targeted.md");
  ASSERT_TRUE(in) << "docs/targeted.md";
  std::vector<std::string> documented;
  for (std::string line; std::getline(in, line);)
    if (line.rfind("| `", 0) == 0) documented.push_back(line.substr(3, line.find('`', 3) - 3));
  std::vector<std::string> table;
  for (const auto& s : enospc_syscalls()) table.emplace_back(s.name);
  EXPECT_EQ(documented, table);
}

class Probe : public FeatureProbe {
 public:
  bool has_vmlinux_btf() override { return true; }
  bool can_load_bpf() override { return true; }
  bool has_kprobes() override { return false; }
  bool has_kernel_symbol(const std::string&) override { return true; }
  std::string kernel_release() override { return "6.1.0-fake"; }
  uint64_t kernel_data_symbol(const std::string&) override { return 0; }
};

TEST(GateLadder, TargetedFirstWhereFexitWorksAndTheErrnosHaveASet) {
  Probe probe;
  GateConfig cfg;
  const std::vector<GateMode> gate = {GateMode::TpBtf, GateMode::RawTp, GateMode::Tp};
  cfg.targeted_syscalls = {"write"};
  EXPECT_EQ(gate_ladder(cfg, probe), gate);  // fexit not known to work
  cfg.fexit = true;
  std::vector<GateMode> all = {GateMode::Targeted};
  all.insert(all.end(), gate.begin(), gate.end());
  EXPECT_EQ(gate_ladder(cfg, probe), all);
  cfg.targeted_syscalls.clear();  // no set for the watched errnos
  EXPECT_EQ(gate_ladder(cfg, probe), gate);
  cfg.targeted_syscalls = {"write"};
  Probe no_targeted;
  no_targeted.disable("targeted");
  EXPECT_EQ(gate_ladder(cfg, no_targeted), gate);
  Probe no_fexit;
  no_fexit.disable("fexit");
  EXPECT_EQ(gate_ladder(cfg, no_fexit), gate);
  cfg.force_mode = GateMode::Targeted;
  EXPECT_EQ(gate_ladder(cfg, no_targeted), (std::vector<GateMode>{GateMode::Targeted}));
  EXPECT_EQ(*parse_gate_mode("targeted"), GateMode::Targeted);
  EXPECT_EQ(gate_mode_name(GateMode::Targeted), "targeted");
}

}  // namespace
}  // namespace enospcd
