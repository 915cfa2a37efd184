// An event with every member set to a value that is not its default (and 64-bit values past 2^53), for tests
// that check a form of the event (JSON, the store's packing) keeps all of it.
#pragma once

#include "model/event.h"

namespace enospcd::testing {

inline Event full_event() {
  Event e;
  e.id = 7357189049442136064ULL;
  e.ktime_ns = 9007199254740993ULL;
  e.time_ns = 1795248383349122226ULL;
  e.pid = 48377, e.tid = 48378, e.ppid = 1, e.uid = 1000, e.gid = 1001;
  e.comm = "tar";
  e.syscall_nr = 257;
  e.syscall = "openat";
  e.err = 28;
  e.errno_name = "ENOSPC";
  e.ret = -28;
  e.cgroup_id = 0xfedcba9876543210ULL;
  e.cgroup_name = "libpod-449a.scope";
  e.cgroup_name_truncated = true;
  e.mntns = 4026532000u, e.mnt_count = 14, e.mnt_pending = 2;
  e.has_mntns = true;
  e.mount_max = 100000;
  Event::IpcLimits ipc;
  ipc.inum = 4026531839u, ipc.shm_ctlmni = 4096, ipc.msg_ctlmni = 32000, ipc.mq_queues_max = 256;
  ipc.sem_ctlmni = 32000, ipc.sem_ids = 3, ipc.msg_ids = 4, ipc.shm_ids = 5, ipc.sem_semmns = 1024000000;
  ipc.sem_used = -1, ipc.shm_tot = 18446744073692774399ULL, ipc.shm_ctlall = 7, ipc.mq_queues_count = 9;
  e.ipc = ipc;
  e.userns = 4026531837u;
  e.userns_max_mnt = -5;
  e.ucounts = Ucounts{UcountKind::MntNs, {{4026532100u, 0, 16, 16, false}, {4026531837u, 1000, std::nullopt, 1 << 20, true}}};
  e.args_valid = true;
  e.args = {0xffffff9cULL, 0x7ffd1234abcdULL, 0x241, 0x1b6, 0, 0xffffffffffffffffULL};
  e.path = "./etc/\x1b[31mpasswd";
  e.path2 = "/tmp/b";
  e.path_truncated = true;
  FileInfo f;
  f.role = FileRole::Parent;
  f.dev = (45u << 20) | 3, f.magic = 0x01021994, f.ino = 18446744073709551557ULL, f.mode = 040755, f.rdev = 7;
  f.fstype = "tmpfs", f.name = "etc", f.mount_name = "rootfs";
  f.shmem_max_blocks = 256, f.shmem_used_blocks = 257, f.shmem_max_inodes = 16, f.shmem_free_inodes = 0;
  f.shmem_used_exact = true;
  e.file = f;
  f.role = FileRole::Fd;
  f.fstype = "ext4";
  e.upper = f;
  e.project_quota = ProjectQuotaUse{42, 4096, 256, 256, 18446744073709551615ULL, 0};
  e.pty = PtyCounts{4095, 4096, 1024};
  e.epoll = EpollWatches{65534, -3, true, 9007199254740993LL};
  e.chain = {{"shmem_reserve_inode", -28, 100, 2}, {"shmem_get_inode", 0, 101, 1}};
  e.chain_dropped = 3;
  e.chain_outer = {"path_openat+0x10c", "do_filp_open+0xa9"};
  e.chain_outer_truncated = "the kernel cannot unwind through a kretprobe trampoline";
  e.chain_outer_scanned = true;
  e.kstack = {"shmem_reserve_inode+0x4a", "path_openat+0x10c", "do_filp_open+0xa9"};
  e.kstack_truncated = "short";
  e.exe = "/usr/bin/tar";
  e.cmdline = "tar -xf rootfs.tar";
  e.cgroup_path = "/machine.slice/libpod-449a.scope";
  e.container = ContainerRef{"449a0c1f", "podman", "web", "5e3c-9f8e", "web-0", "shop", true};
  e.cause = Cause{CauseId::TmpfsInodes, Confidence::High, "openat(2) of ./etc/passwd by tar failed: full.",
                  "Remount with a larger nr_inodes.",
                  Evidence{.fs = FsRef{"/t", "tmpfs", "tmpfs",
                                       StatfsNumbers{.type = "tmpfs", .total_bytes = 18446744073709551615ULL}},
                           .detail = TmpfsEvidence{.at_failure = TmpfsAtFailure{"dirfd", 4, 1, 16, 0},
                                                   .inodes = 16,
                                                   .inodes_free = 0},
                           .bytes_requested = 18446744073709551615ULL,
                           .chain = std::vector<std::string>{"shmem_reserve_inode"},
                           .origin = "shmem_reserve_inode",
                           .overlay = OverlayRef{std::nullopt, "0:52", "tmpfs"}},
                  18446744073709551615ULL};
  return e;
}

}  // namespace enospcd::testing
