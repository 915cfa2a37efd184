// The event pipeline end to end, without BPF or root: a ring-buffer record as the gate writes it goes through
// decode, symbolize, enrich and diagnose against fakes of the kernel symbols, /proc and the host.
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <stdexcept>

#include "common/names.h"
#include "support/has_value.h"
#include "trace/pipeline.h"
#include "unit/diagnose/fake_facts.h"

namespace enospcd {
namespace {

using diagnose::fakes::FakeFacts;

class TableSymbols : public Symbolizer {
 public:
  std::string symbolize(uint64_t addr) const override {
    auto it = names.find(addr);
    return it != names.end() ? it->second : "0xdead";
  }
  std::map<uint64_t, std::string> names;
};

class FakeProcs : public ProcessReader {
 public:
  ProcessInfo read(uint32_t pid) override {
    reads++;
    if (throws) throw std::runtime_error("unreadable /proc");
    auto it = live.find(pid);
    return it != live.end() ? it->second : ProcessInfo{};
  }
  std::map<uint32_t, ProcessInfo> live;
  int reads = 0;
  bool throws = false;
};

constexpr const char* kContainerId = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

// tar extracting into a tmpfs whose 4 inodes are all in use, as the gate records it with a chain from the
// tmpfs inode accounting and the parent directory read at the first failing origin.
enospcd_event tar_record() {
  enospcd_event r{};
  r.hdr.kind = ENOSPCD_KIND_SYSCALL_FAILURE;
  r.hdr.size = sizeof(r);
  r.hdr.ktime_ns = 2'000'000'000;
  r.pid = r.tid = 900;
  r.ppid = 1;
  r.syscall_nr = syscall_number("openat").value_or(0);
  r.ret = -28;
  r.err = 28;
  r.cgroup_id = 77;
  r.flags = ENOSPCD_EF_ARGS_VALID | ENOSPCD_EF_HAS_FILE | ENOSPCD_EF_FILE_PARENT;
  std::strcpy(r.comm, "tar");
  std::strcpy(r.path, "./etc/passwd");
  r.chain_len = 2;
  r.chain[0] = {-28, 0, 0, 0};  // origin 0: shmem_reserve_inode, the innermost
  r.chain[1] = {-28, 1, 0, 0};  // origin 1: __shmem_get_inode
  r.stack_len = 4;
  r.kstack[0] = 0x1000;  // the tracer's own frame
  r.kstack[1] = 0x2005;  // the traced function's entry site behind it
  r.kstack[2] = 0x3000;
  r.kstack[3] = 0x4000;
  r.file.dev = 45;
  r.file.magic = 0x01021994;
  std::strcpy(r.file.fstype, "tmpfs");
  std::strcpy(r.file.name, "etc");
  std::strcpy(r.file.mnt_name, "scratch");
  r.file.shmem_max_inodes = 4;
  r.file.shmem_free_inodes = 0;
  r.file.shmem_max_blocks = 64;
  r.file.shmem_used_blocks = 3;
  return r;
}

const std::vector<std::string> kOrigins = {"shmem_reserve_inode", "__shmem_get_inode"};

struct Pipeline {
  Pipeline() {
    symbols.names = {{0x1000, "bpf_prog_abc_origin_exit [bpf]"},
                     {0x2005, "shmem_reserve_inode+0x5"},
                     {0x3000, "__shmem_get_inode+0x4a"},
                     {0x4000, "path_openat+0x10c"}};
  }
  TableSymbols symbols;
  FakeProcs procs;
  ContainerCache containers;
  FakeFacts facts;
  EventPipeline pipeline{symbols, procs, containers, facts};
};

TEST(Pipeline, RecordBecomesAnExplainedAttributedEvent) {
  Pipeline p;
  p.procs.live[900] = {"/usr/bin/tar", "tar -xf rootfs.tar",
                       std::string("/system.slice/docker-") + kContainerId + ".scope"};
  auto r = tar_record();
  auto e = p.pipeline.process(&r, sizeof(r), 1'000'000'000, kOrigins);
  ASSERT_HAS_VALUE(e);
  EXPECT_EQ(e->time_ns, 3'000'000'000u);
  EXPECT_EQ(e->syscall, "openat");
  ASSERT_EQ(e->chain.size(), 2u);
  EXPECT_EQ(e->chain[0].func, "shmem_reserve_inode");
  // The BPF program's frame and the entry site its trampoline leaves are not the kernel's path.
  EXPECT_EQ(e->kstack, (std::vector<std::string>{"__shmem_get_inode+0x4a", "path_openat+0x10c"}));
  EXPECT_EQ(e->exe, "/usr/bin/tar");
  EXPECT_EQ(e->cmdline, "tar -xf rootfs.tar");
  ASSERT_HAS_VALUE(e->container);
  EXPECT_EQ(e->container->runtime, "docker");
  EXPECT_EQ(e->container->id, kContainerId);
  ASSERT_HAS_VALUE(e->cause);
  EXPECT_EQ(e->cause->id, CauseId::TmpfsInodes);
  EXPECT_EQ(e->cause->confidence, Confidence::High);
  EXPECT_EQ(to_json(*e->cause)["evidence"]["at_failure"]["of"], "parent");
  EXPECT_EQ(to_json(*e->cause)["evidence"]["inodes"], 4);
  EXPECT_EQ(to_json(*e->cause)["evidence"]["inodes_free"], 0);
  EXPECT_EQ(p.pipeline.records(), 1u);
  EXPECT_EQ(p.pipeline.malformed(), 0u);
  EXPECT_EQ(p.pipeline.unexplained(), 0u);
}

TEST(Pipeline, ContainerOfAnExitedProcessComesFromTheCache) {
  Pipeline p;
  p.procs.live[900] = {"/usr/bin/tar", "tar", std::string("/system.slice/docker-") + kContainerId + ".scope"};
  auto r = tar_record();
  ASSERT_HAS_VALUE(p.pipeline.process(&r, sizeof(r), 0, kOrigins));
  // The next failure in the same cgroup comes from a process that exited before /proc was read.
  r.pid = r.tid = 901;
  auto e = p.pipeline.process(&r, sizeof(r), 0, kOrigins);
  ASSERT_HAS_VALUE(e);
  EXPECT_TRUE(e->exe.empty());
  ASSERT_HAS_VALUE(e->container);
  EXPECT_EQ(e->container->id, kContainerId);
  auto cached = p.containers.find(77);
  ASSERT_HAS_VALUE(cached);
  EXPECT_EQ(cached->id, kContainerId);
  EXPECT_FALSE(p.containers.find(78).has_value());
}

TEST(Pipeline, LeafNameRecordedInBpfNamesTheContainerOfAGoneProcess) {
  Pipeline p;
  auto r = tar_record();
  std::snprintf(r.cgroup_name, sizeof(r.cgroup_name), "libpod-%s.scope", kContainerId);
  auto e = p.pipeline.process(&r, sizeof(r), 0, kOrigins);
  ASSERT_HAS_VALUE(e);
  ASSERT_HAS_VALUE(e->container);
  EXPECT_EQ(e->container->runtime, "podman");
  EXPECT_EQ(e->container->id, kContainerId);
}

TEST(Pipeline, MalformedRecordIsCountedAndDropped) {
  Pipeline p;
  auto r = tar_record();
  EXPECT_FALSE(p.pipeline.process(&r, sizeof(r) - 1, 0, kOrigins));
  r.hdr.kind = ENOSPCD_KIND_INVALID;
  EXPECT_FALSE(p.pipeline.process(&r, sizeof(r), 0, kOrigins));
  EXPECT_EQ(p.pipeline.records(), 2u);
  EXPECT_EQ(p.pipeline.malformed(), 2u);
  EXPECT_EQ(p.procs.reads, 0);
}

TEST(Pipeline, EventWhoseExplanationFailsIsKeptWithoutACause) {
  Pipeline p;
  p.procs.throws = true;
  auto r = tar_record();
  auto e = p.pipeline.process(&r, sizeof(r), 0, kOrigins);
  ASSERT_HAS_VALUE(e);
  EXPECT_FALSE(e->cause.has_value());
  EXPECT_EQ(e->chain.size(), 2u);
  EXPECT_EQ(p.pipeline.unexplained(), 1u);
}

TEST(Pipeline, StackCutAtAKretprobeTrampolineSaysSo) {
  Pipeline p;
  p.symbols.names[0x4000] = "kretprobe_trampoline+0x0";
  auto r = tar_record();
  auto e = p.pipeline.process(&r, sizeof(r), 0, kOrigins);
  ASSERT_HAS_VALUE(e);
  EXPECT_EQ(e->kstack, (std::vector<std::string>{"__shmem_get_inode+0x4a"}));
  EXPECT_FALSE(e->kstack_truncated.empty());
}

// The way out from the chain: for one link, its stack; for more, the stack taken as the outermost returned,
// which goes on where kretprobes cut the innermost one short.
TEST(Pipeline, ChainOuterComesFromTheOutermostLinksStack) {
  Pipeline p;
  p.symbols.names[0x4000] = "kretprobe_trampoline+0x0";
  p.symbols.names[0x5000] = "path_openat+0x10c";
  p.symbols.names[0x6000] = "do_syscall_64+0x38";
  auto r = tar_record();
  r.outer_stack_len = 3;
  r.outer_stack[0] = 0x1000;  // the tracer's own frame
  r.outer_stack[1] = 0x5000;
  r.outer_stack[2] = 0x6000;
  auto e = p.pipeline.process(&r, sizeof(r), 0, kOrigins);
  ASSERT_HAS_VALUE(e);
  EXPECT_EQ(e->kstack, (std::vector<std::string>{"__shmem_get_inode+0x4a"}));
  EXPECT_FALSE(e->kstack_truncated.empty());
  EXPECT_EQ(e->chain_outer, (std::vector<std::string>{"path_openat+0x10c", "do_syscall_64+0x38"}));
  EXPECT_TRUE(e->chain_outer_truncated.empty());

  r.chain_len = 1;
  e = p.pipeline.process(&r, sizeof(r), 0, kOrigins);
  ASSERT_HAS_VALUE(e);
  EXPECT_EQ(e->chain_outer, e->kstack);
  EXPECT_FALSE(e->chain_outer_truncated.empty());

  r.chain_len = 0;  // gate-only: no chain, no way out of it
  e = p.pipeline.process(&r, sizeof(r), 0, kOrigins);
  ASSERT_HAS_VALUE(e);
  EXPECT_TRUE(e->chain_outer.empty());
}

// Where the kernel cannot unwind through a kretprobe's trampoline, BPF scans the stack for return addresses:
// the way out keeps those inside a known function and past its first byte, each run of one address once, and
// says it was scanned. It is the way out even for a chain of one, whose unwound stack stops at the trampoline.
TEST(Pipeline, ScannedWayOutKeepsOnlyReturnAddresses) {
  Pipeline p;
  p.symbols.names[0x4000] = "kretprobe_trampoline+0x0";
  p.symbols.names[0x5000] = "path_openat+0x10c";
  p.symbols.names[0x6000] = "do_syscall_64+0x38";
  p.symbols.names[0x8000] = "vfs_open+0x0";  // a function's address, not a return address
  p.symbols.names[0x9000] = "ext4_file_write_iter+0x0 [ext4]";
  p.symbols.names[0xa000] = "ext4_buffered_write_iter+0x9f [ext4]";
  auto r = tar_record();
  r.chain_len = 1;
  r.flags |= ENOSPCD_EF_OUTER_SCANNED;
  const uint64_t scanned[] = {0x7000, 0x5000, 0x5000, 0x8000, 0x4000, 0x9000, 0xa000, 0x6000};
  r.outer_stack_len = sizeof(scanned) / sizeof(scanned[0]);
  for (unsigned i = 0; i < r.outer_stack_len; i++) r.outer_stack[i] = scanned[i];
  auto e = p.pipeline.process(&r, sizeof(r), 0, kOrigins);
  ASSERT_HAS_VALUE(e);
  EXPECT_EQ(e->chain_outer, (std::vector<std::string>{"path_openat+0x10c", "ext4_buffered_write_iter+0x9f [ext4]",
                                                      "do_syscall_64+0x38"}));
  EXPECT_TRUE(e->chain_outer_scanned);
  EXPECT_TRUE(e->chain_outer_truncated.empty());
  auto j = to_json(*e);
  EXPECT_EQ(j["chain_outer_scanned"], true);
  EXPECT_TRUE(event_from_json(j).chain_outer_scanned);

  r.outer_stack_len = 0;  // the scan found nothing: the way out stops at the trampoline, and says so
  e = p.pipeline.process(&r, sizeof(r), 0, kOrigins);
  ASSERT_HAS_VALUE(e);
  EXPECT_TRUE(e->chain_outer.empty());
  EXPECT_FALSE(e->chain_outer_truncated.empty());

  r.flags &= ~ENOSPCD_EF_OUTER_SCANNED;  // an unwound stack never says it was scanned
  r.outer_stack_len = 2;
  r.outer_stack[0] = 0x5000;
  r.outer_stack[1] = 0x6000;
  r.chain_len = 2;
  e = p.pipeline.process(&r, sizeof(r), 0, kOrigins);
  ASSERT_HAS_VALUE(e);
  EXPECT_FALSE(e->chain_outer_scanned);
  EXPECT_FALSE(to_json(*e).contains("chain_outer_scanned"));
}

}  // namespace
}  // namespace enospcd
