// The attach ladders without BPF: a fake feature probe says what the kernel has, a fake attach what it accepts.
#include <gtest/gtest.h>

#include <cerrno>
#include <set>

#include "loader/gate.h"
#include "loader/origins.h"

namespace enospcd {
namespace {

class FakeProbe : public FeatureProbe {
 public:
  bool has_vmlinux_btf() override { return btf; }
  bool can_load_bpf() override { return true; }
  bool has_kprobes() override { return kprobes && !disabled("kprobe"); }
  bool has_kernel_symbol(const std::string& name) override {
    symbol_lookups++;
    return !missing.count(name);
  }
  std::string kernel_release() override { return "6.1.0-fake"; }
  uint64_t kernel_data_symbol(const std::string&) override { return 0; }

  bool btf = true, kprobes = true;
  std::set<std::string> missing;
  int symbol_lookups = 0;
};

// What the kernel accepts: a mode either attaches every origin given or fails with an errno.
struct FakeKernel {
  int fexit_error = 0, kretprobe_error = 0;
  std::vector<std::pair<OriginMode, std::size_t>> attempts;
  int detached = 0;
};

OriginLadder climb(const OriginConfig& cfg, FakeProbe& probe, FakeKernel& k,
                   std::map<std::string, FuncProto> protos) {
  OriginLadder out;
  run_origin_ladder(
      cfg, probe, protos, out,
      [&](OriginMode mode, const std::vector<int>& ids, bool) -> Result<void> {
        k.attempts.emplace_back(mode, ids.size());
        int err = mode == OriginMode::Fexit ? k.fexit_error : k.kretprobe_error;
        if (err) return make_error(std::string("refused: ") + strerror(err), err);
        for (int i : ids) out.status[static_cast<std::size_t>(i)].mode = mode;
        return {};
      },
      [&] { k.detached++; });
  return out;
}

OriginConfig two_origins() {
  OriginConfig cfg;
  cfg.origins = {{"count_mounts", "mount"}, {"shmem_reserve_inode", "tmpfs"}, {"ext4_void_helper", "ext4"}};
  return cfg;
}

const std::map<std::string, FuncProto> kProtos = {{"count_mounts", {2, FuncProto::Ret::Int32}},
                                                  {"shmem_reserve_inode", {2, FuncProto::Ret::Int32}},
                                                  {"ext4_void_helper", {1, FuncProto::Ret::Void}}};

TEST(OriginLadder, FexitWhereTheKernelTakesIt) {
  FakeProbe probe;
  FakeKernel k;
  auto l = climb(two_origins(), probe, k, kProtos);
  EXPECT_EQ(l.summary, "origin probes on fexit");
  EXPECT_EQ(l.status[0].mode, OriginMode::Fexit);
  EXPECT_EQ(l.status[1].mode, OriginMode::Fexit);
  EXPECT_EQ(l.status[2].mode, OriginMode::Unavailable);
  EXPECT_EQ(l.status[2].reason, "its return value cannot carry an error");
  ASSERT_EQ(k.attempts.size(), 1u);
  EXPECT_EQ(k.attempts[0].second, 2u);
}

TEST(OriginLadder, KretprobeWhenFexitFailsAndSaysWhy) {
  FakeProbe probe;
  FakeKernel k;
  k.fexit_error = EINVAL;
  auto l = climb(two_origins(), probe, k, kProtos);
  EXPECT_EQ(l.status[0].mode, OriginMode::Kretprobe);
  EXPECT_EQ(l.status[0].reason, "fexit refused: Invalid argument");
  EXPECT_EQ(l.summary, "origin probes on kretprobe (fexit refused: Invalid argument)");
}

TEST(OriginLadder, KernelRefusingFexitWithoutKprobesIsDecidedBeforeKallsyms) {
  FakeProbe probe;
  probe.kprobes = false;
  FakeKernel k;
  k.fexit_error = EPERM;
  auto l = climb(two_origins(), probe, k, kProtos);
  EXPECT_EQ(probe.symbol_lookups, 0) << "kallsyms was read although nothing could attach";
  ASSERT_EQ(k.attempts.size(), 1u);
  EXPECT_EQ(k.attempts[0].second, 1u) << "one trial load";
  EXPECT_EQ(k.detached, 1);
  EXPECT_EQ(l.status[0].mode, OriginMode::Unavailable);
  EXPECT_EQ(l.summary, "fexit refused: Operation not permitted; kprobes are not built into this kernel (no kprobe PMU)");
  EXPECT_EQ(l.status[1].reason, l.summary);
}

TEST(OriginLadder, TrialThatWorksGoesOnToAttachEverything) {
  FakeProbe probe;
  probe.kprobes = false;
  FakeKernel k;
  auto l = climb(two_origins(), probe, k, kProtos);
  ASSERT_EQ(k.attempts.size(), 2u);
  EXPECT_EQ(k.attempts[1].second, 2u);
  EXPECT_EQ(l.status[0].mode, OriginMode::Fexit);
  EXPECT_EQ(l.status[0].reason, "");
}

TEST(OriginLadder, ForcedAndDisabledRungs) {
  FakeProbe probe;
  FakeKernel k;
  auto cfg = two_origins();
  cfg.force_kretprobe = true;
  auto l = climb(cfg, probe, k, kProtos);
  EXPECT_EQ(l.status[0].mode, OriginMode::Kretprobe);
  EXPECT_EQ(l.summary, "origin probes on kretprobe (kretprobe mode forced)");

  FakeProbe none;
  none.disable("fexit");
  none.disable("kprobe");
  FakeKernel k2;
  auto l2 = climb(two_origins(), none, k2, kProtos);
  EXPECT_TRUE(k2.attempts.empty());
  EXPECT_EQ(l2.summary, "fexit disabled by --no-feature; kprobes disabled by --no-feature");
  EXPECT_EQ(l2.status[1].mode, OriginMode::Unavailable);
}

TEST(OriginLadder, FunctionsMissingFromBtfOrKallsymsAreNamedAsSuch) {
  FakeProbe probe;
  probe.missing = {"shmem_reserve_inode"};
  FakeKernel k;
  auto protos = kProtos;
  protos.erase("count_mounts");
  auto l = climb(two_origins(), probe, k, protos);
  EXPECT_EQ(l.status[0].reason, "not in this kernel (no BTF entry: absent, renamed or inlined)");
  EXPECT_EQ(l.status[1].reason, "not in this kernel (absent, renamed or inlined)");
  EXPECT_EQ(l.summary, "no origin function of the table exists in this kernel");
  EXPECT_TRUE(k.attempts.empty());
}

TEST(OriginLadder, OriginsBeyondTheSlotsAreRefused) {
  FakeProbe probe;
  FakeKernel k;
  OriginConfig cfg;
  std::map<std::string, FuncProto> protos;
  for (int i = 0; i < ENOSPCD_ORIGIN_MAX + 2; i++) {
    std::string f = "origin_fn_" + std::to_string(i);
    cfg.origins.push_back({f, "user"});
    protos[f] = {1, FuncProto::Ret::Int32};
  }
  auto l = climb(cfg, probe, k, protos);
  ASSERT_EQ(k.attempts.size(), 1u);
  EXPECT_EQ(k.attempts[0].second, static_cast<std::size_t>(ENOSPCD_ORIGIN_MAX));
  EXPECT_EQ(l.status.back().mode, OriginMode::Unavailable);
  EXPECT_NE(l.status.back().reason.find("no free probe slot"), std::string::npos);
}

TEST(GateLadder, RungsByWhatTheKernelHasAndWhatIsDisabled) {
  FakeProbe probe;
  GateConfig cfg;
  EXPECT_EQ(gate_ladder(cfg, probe), (std::vector<GateMode>{GateMode::TpBtf, GateMode::RawTp, GateMode::Tp}));
  probe.btf = false;
  EXPECT_EQ(gate_ladder(cfg, probe), (std::vector<GateMode>{GateMode::RawTp, GateMode::Tp}));
  probe.btf = true;
  probe.disable("tp_btf");
  probe.disable("raw_tp");
  EXPECT_EQ(gate_ladder(cfg, probe), (std::vector<GateMode>{GateMode::Tp}));
  cfg.force_mode = GateMode::RawTp;  // forced: that rung alone, even when disabled
  EXPECT_EQ(gate_ladder(cfg, probe), (std::vector<GateMode>{GateMode::RawTp}));
}

}  // namespace
}  // namespace enospcd
