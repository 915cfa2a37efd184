// An io_uring request that failed asynchronously is explained by the rules of the call it stands for, and the
// summary names the request, not a syscall that never failed.
#include <gtest/gtest.h>

#include "common/names.h"
#include "diagnose/diagnose.h"
#include "enospcd/abi.h"
#include "unit/diagnose/fake_facts.h"

namespace enospcd::diagnose {
namespace {

using fakes::FakeFacts;

constexpr uint32_t kTmpfsMagic = 0x01021994;

// As the gate records fio's IORING_OP_WRITE completing with -ENOSPC on a tmpfs mounted size=1m.
Event io_uring_write() {
  Event e;
  e.pid = 3100;
  e.comm = "fio";
  e.syscall_nr = ENOSPCD_NR_IO_URING + 23;
  e.syscall = syscall_name(e.syscall_nr);
  e.errno_name = "ENOSPC";
  e.err = 28;
  e.ret = -28;
  FileInfo f;
  f.dev = 77;
  f.magic = kTmpfsMagic;
  f.fstype = "tmpfs";
  f.name = "data";
  f.shmem_max_blocks = 256;
  f.shmem_used_blocks = 256;
  f.shmem_used_exact = true;
  e.file = f;
  return e;
}

TEST(IoUring, WriteRequestIsExplainedLikeAWrite) {
  FakeFacts facts;
  PathFs fs = fakes::make_fs("/mnt/scratch", "tmpfs", kTmpfsMagic, 256, 0);
  fs.super_options = "rw,size=1024k";
  facts.by_dev[77] = fs;
  Cause c = diagnose(io_uring_write(), facts);
  EXPECT_EQ(c.id, CauseId::TmpfsBlocks);
  EXPECT_EQ(c.summary,
            "io_uring write request by fio (pid 3100, container -) failed: the tmpfs at /mnt/scratch is full: "
            "1.0 MiB of 1.0 MiB (size=1024k) used.");
}

TEST(IoUring, RequestWithoutARuleIsUnknownAndNamed) {
  FakeFacts facts;
  Event e = io_uring_write();
  e.syscall_nr = ENOSPCD_NR_IO_URING + 46;  // IORING_OP_URING_CMD
  e.syscall = syscall_name(e.syscall_nr);
  e.file.reset();
  Cause c = diagnose(e, facts);
  EXPECT_EQ(c.id, CauseId::Unknown);
  EXPECT_EQ(c.summary.rfind("io_uring uring_cmd request by fio (pid 3100, container -) failed with ENOSPC", 0), 0u)
      << c.summary;
}

// 5.10's completion tracepoint does not carry the request: no opcode, no file.
TEST(IoUring, RequestOfUnknownOpcode) {
  FakeFacts facts;
  Event e = io_uring_write();
  e.syscall_nr = ENOSPCD_NR_IO_URING + ENOSPCD_IO_URING_OP_UNKNOWN;
  e.syscall = syscall_name(e.syscall_nr);
  e.file.reset();
  Cause c = diagnose(e, facts);
  EXPECT_EQ(c.id, CauseId::Unknown);
  EXPECT_EQ(c.summary,
            "an io_uring request by fio (pid 3100, container -) failed with ENOSPC; no rule explains it (no kernel "
            "chain was recorded).");
}

// Linux AIO: fio's libaio engine writing onto a full tmpfs; io_submit(2) succeeded, the completion carried
// -ENOSPC. Explained as the pwrite it stands for, and named as the request.
TEST(Aio, WriteRequestIsExplainedLikeAWrite) {
  FakeFacts facts;
  PathFs fs = fakes::make_fs("/mnt/scratch", "tmpfs", kTmpfsMagic, 256, 0);
  fs.super_options = "rw,size=1024k";
  facts.by_dev[77] = fs;
  Event e = io_uring_write();
  e.syscall_nr = ENOSPCD_NR_AIO + 1;  // IOCB_CMD_PWRITE
  e.syscall = syscall_name(e.syscall_nr);
  Cause c = diagnose(e, facts);
  EXPECT_EQ(c.id, CauseId::TmpfsBlocks);
  EXPECT_EQ(c.summary,
            "aio pwrite request by fio (pid 3100, container -) failed: the tmpfs at /mnt/scratch is full: "
            "1.0 MiB of 1.0 MiB (size=1024k) used.");
  e.syscall_nr = ENOSPCD_NR_AIO + ENOSPCD_AIO_OP_UNKNOWN;
  e.syscall = syscall_name(e.syscall_nr);
  e.file.reset();
  c = diagnose(e, facts);
  EXPECT_EQ(c.id, CauseId::Unknown);
  EXPECT_EQ(c.summary.rfind("an aio request by fio (pid 3100, container -) failed with ENOSPC", 0), 0u) << c.summary;
}

}  // namespace
}  // namespace enospcd::diagnose
