/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The one header shared by the BPF programs and the C++ daemon. Every field is fixed-width, padding is
 * explicit, and there are no pointers, longs, bools or enum-typed fields, so both compilers agree on the
 * layout (checked by static_assert in abi_check.h and, in the unit tests, against the BTF of the built
 * object).
 */
#ifndef ENOSPCD_ABI_H
#define ENOSPCD_ABI_H

#ifdef __BPF__
/* vmlinux.h provides the __u* types on the BPF side. */
#else
#include <linux/types.h>
#endif

#define ENOSPCD_COMM_LEN 16
#define ENOSPCD_PATH_LEN 256
#define ENOSPCD_CGNAME_LEN 128 /* cri-containerd-<64 hex>.scope is 85 */
#define ENOSPCD_FSTYPE_LEN 16
#define ENOSPCD_PEEK_MAX 256   /* bytes of kernel memory one run of the gate's peek_kernel copies */
#define ENOSPCD_FNAME_LEN 64
#define ENOSPCD_CHAIN_MAX 8
#define ENOSPCD_STACK_MAX 32
/* errnos 1..ENOSPCD_ERRNO_MAX-1 can be watched (the kernel's errno space ends at 133, EHWPOISON). */
#define ENOSPCD_ERRNO_MAX 256
#define ENOSPCD_ORIGIN_MAX 56 /* program slots per attach kind in origins.bpf.c */
/* Syscall numbers below this get per-syscall path-argument metadata. */
#define ENOSPCD_SYSCALL_MAX 512
/* fexit slots for syscall entry functions in gate.bpf.c (targeted mode). */
#define ENOSPCD_TARGETED_MAX 160
/* Asynchronous failures are counted and reported under a pseudo syscall number: an io_uring request that
 * completed with a watched errno is ENOSPCD_NR_IO_URING + its opcode (IORING_OP_*), or + ..._OP_UNKNOWN where
 * the kernel's completion tracepoint does not carry the request. Far above every real syscall number. */
#define ENOSPCD_NR_IO_URING 0x10000
#define ENOSPCD_IO_URING_OP_UNKNOWN 0xff
/* A Linux AIO request (io_submit(2)) that completed with a watched errno: ENOSPCD_NR_AIO + its opcode
 * (IOCB_CMD_*), or + ..._OP_UNKNOWN where the request's iocb could not be read. */
#define ENOSPCD_NR_AIO 0x20000
#define ENOSPCD_AIO_OP_UNKNOWN 0xff

/* Record kinds in the ring buffer. 0 is never valid, so a zeroed record is detectable. */
enum enospcd_kind {
	ENOSPCD_KIND_INVALID = 0,
	ENOSPCD_KIND_SYSCALL_FAILURE = 1,
};

/* How the gate program is attached to syscall exit. */
enum enospcd_gate_mode {
	ENOSPCD_GATE_NONE = 0,
	ENOSPCD_GATE_TP_BTF = 1,
	ENOSPCD_GATE_RAW_TP = 2,
	ENOSPCD_GATE_TP = 3,
	ENOSPCD_GATE_TARGETED = 4, /* fexit on the entry functions of the syscalls that can fail so */
};

/* Reasons a failure did not reach user space in full; per-CPU counters indexed by these. */
enum enospcd_loss {
	ENOSPCD_LOSS_RINGBUF_FULL = 0,    /* ring buffer reserve failed: event lost, count kept */
	ENOSPCD_LOSS_COUNTER_MAP_FULL = 1,/* exact-counter hash full: count lost for a new key */
	ENOSPCD_LOSS_RATE_LIMITED = 2,    /* event suppressed by the per-key token bucket, count kept */
	ENOSPCD_LOSS_CHAIN_MAP_FULL = 3,  /* per-thread chain could not be created */
	ENOSPCD_LOSS_CHAIN_OVERFLOW = 4,  /* more distinct links than ENOSPCD_CHAIN_MAX: middle links dropped */
	ENOSPCD_LOSS_CHAIN_DISCARDED = 5, /* chain from a syscall that ended otherwise, thrown away */
	ENOSPCD_LOSS_UNCOUNTED = 6,       /* targeted mode: a failure a slot could not hand to the failure program */
	ENOSPCD_LOSS_MAX = 7,
};

/* How an origin function's return value signals failure. */
enum enospcd_ret_kind {
	ENOSPCD_RET_INVALID = 0,
	ENOSPCD_RET_INT = 1,      /* int: -errno */
	ENOSPCD_RET_LONG = 2,     /* long / ssize_t: -errno */
	ENOSPCD_RET_ERR_PTR = 3,  /* pointer: ERR_PTR(-errno) */
	ENOSPCD_RET_PTR_NULL = 4, /* pointer: ERR_PTR(-errno), or NULL meaning "no space" */
	ENOSPCD_RET_BOOL = 5,     /* bool: false means failure */
};

/* Event flags. */
#define ENOSPCD_EF_PATH_TRUNCATED (1u << 0)
#define ENOSPCD_EF_ARGS_VALID (1u << 1)   /* args[] came from the task's saved registers */
#define ENOSPCD_EF_HAS_FILE (1u << 2)     /* file evidence was captured for the fd argument */
#define ENOSPCD_EF_HAS_MNTNS (1u << 3)
#define ENOSPCD_EF_HAS_MOUNT_MAX (1u << 4)
#define ENOSPCD_EF_CGNAME_TRUNCATED (1u << 5)
#define ENOSPCD_EF_HAS_IPCNS (1u << 6)
#define ENOSPCD_EF_HAS_USERNS (1u << 7)
/* The file evidence describes the directory a relative path starts from, not a file the call had open: the
 * directory of the dirfd argument, or the task's working directory. A file created there is created on that
 * directory's filesystem unless the path crosses a mount point. */
#define ENOSPCD_EF_FILE_DIRFD (1u << 8)
#define ENOSPCD_EF_FILE_CWD (1u << 9)
/* file evidence is the directory the failing call was creating its file in, read when the first origin failed
 * (the path walk's parent directory, current->nameidata) */
#define ENOSPCD_EF_FILE_PARENT (1u << 10)
/* file is on overlayfs and upper describes the file of its upper layer, where the write lands (the overlay
 * itself holds no blocks). */
#define ENOSPCD_EF_HAS_UPPER (1u << 11)
/* outer_stack holds the return addresses found by scanning the kernel stack, not an unwound stack (kretprobes on
 * kernels that cannot unwind through their return trampoline) */
#define ENOSPCD_EF_OUTER_SCANNED (1u << 12)
/* project_quota holds the XFS project quota of the file evidence's inode, read at the failure */
#define ENOSPCD_EF_HAS_PRJQUOTA (1u << 13)
/* pty_* hold the host's pty count and limits, read at the failure of an open */
#define ENOSPCD_EF_HAS_PTY (1u << 14)
/* epoll_* hold the epoll watches of the user the instance is charged to, read at the failure of epoll_ctl */
#define ENOSPCD_EF_HAS_EPOLL (1u << 15)
/* memcg_* were read: the cgroup hierarchy the memory controller is bound to, at the failure of a mkdir */
#define ENOSPCD_EF_HAS_MEMCG (1u << 16)

/* epoll_flags */
#define ENOSPCD_EPF_SUMMED (1u << 0) /* epoll_watches is exact: every CPU's delta added to the percpu_counter */
#define ENOSPCD_EPF_MAX (1u << 1)    /* epoll_max holds fs.epoll.max_user_watches as it was */

/* Path-argument metadata per syscall number: which argument (1-based, 0 = none) is a user path. */
struct enospcd_path_args {
	__u8 path1; /* argument index + 1 of the first user path, 0 if none */
	__u8 path2; /* argument index + 1 of a second path (mount target, rename new name), 0 if none */
	__u8 fd_arg; /* argument index + 1 of an fd whose file to describe, 0 if none */
	__u8 dir_arg; /* where a relative path1 starts: argument index + 1 of its dirfd (AT_FDCWD: the working
	               * directory), ENOSPCD_DIR_CWD for the working directory, 0 when path1 is not a path */
};

#define ENOSPCD_DIR_CWD 7

/* Index of ipc_namespace.ids[] (IPC_SEM_IDS, IPC_MSG_IDS, IPC_SHM_IDS in ipc/util.h). */
#define ENOSPCD_IPC_SEM 0
#define ENOSPCD_IPC_MSG 1
#define ENOSPCD_IPC_SHM 2

/* Which per-user-namespace count (kernel/ucount.c, enum ucount_type) refused: inotify watches (fs.inotify.
 * max_user_watches, user.max_inotify_watches) or the namespaces of one type (user.max_*_namespaces). */
#define ENOSPCD_UC_NONE 0
#define ENOSPCD_UC_INOTIFY_WATCHES 1
#define ENOSPCD_UC_USER_NS 2
#define ENOSPCD_UC_PID_NS 3
#define ENOSPCD_UC_UTS_NS 4
#define ENOSPCD_UC_IPC_NS 5
#define ENOSPCD_UC_NET_NS 6
#define ENOSPCD_UC_MNT_NS 7
#define ENOSPCD_UC_CGROUP_NS 8
#define ENOSPCD_UC_TIME_NS 9
#define ENOSPCD_UC_FANOTIFY_MARKS 10

/* inc_ucount() charges the (user namespace, uid) the call is charged to, then the creator of that namespace in
 * its parent, and so on up to the initial namespace; the first level at its limit refuses. One level each, read
 * at the failure (the count after the refused charge was rolled back). */
#define ENOSPCD_UCOUNT_LEVELS 4
#define ENOSPCD_UCL_INITIAL (1u << 0)  /* this level's namespace is the initial user namespace */
#define ENOSPCD_UCL_NO_COUNT (1u << 1) /* the count was not readable (the charged level before v5.14) */
struct enospcd_ucount_level {
	__u32 userns_inum;
	__u32 uid; /* the uid charged at this level (kuid) */
	__s64 count;
	__s64 max;
	__u32 flags; /* ENOSPCD_UCL_* */
	__u32 pad;
};

struct enospcd_hdr {
	__u32 kind;
	__u32 size;
	__u64 ktime_ns;
};

/* One origin function returning the watched error, appended innermost first. A function that returns it again
 * in the same syscall (a retry: ext4 commits the journal and tries the allocation again) is not appended again:
 * its link counts the returns. */
struct enospcd_chain_link {
	__s64 ret;       /* of the first return */
	__u64 ktime_ns;  /* of the first return */
	__u32 origin_id; /* index into the loader's origin table */
	__u32 repeats;   /* returns after the first */
};

/* shmem_used_blocks is exact, as percpu_counter_sum() counts: the folded count plus every CPU's delta. Without
 * it, it is the folded count alone, short by up to a batch per CPU (a small tmpfs can look empty). */
#define ENOSPCD_FI_USED_SUMMED (1u << 0)
/* ext4_* were read (an ext4 superblock), and with every CPU's delta added to the free counts (else the folded
 * counts alone, short by up to a batch per CPU). */
#define ENOSPCD_FI_EXT4 (1u << 1)
#define ENOSPCD_FI_EXT4_SUMMED (1u << 2)

/* Superblock evidence of the file behind an fd argument (or the path's mount, where cheap). */
struct enospcd_file_info {
	__u32 dev;       /* kernel dev_t (MAJOR << 20 | MINOR) */
	__u32 magic;     /* s_magic */
	__u64 ino;
	__u32 mode;      /* i_mode: S_IFCHR and S_IFBLK tell a device from a file */
	__u32 rdev;      /* a device's i_rdev (MAJOR << 20 | MINOR) */
	__u64 shmem_max_blocks;
	__u64 shmem_used_blocks;
	__u64 shmem_max_inodes;
	__u64 shmem_free_inodes;
	__u32 flags;     /* ENOSPCD_FI_* */
	__u32 pad;
	/* ext4 only (ENOSPCD_FI_EXT4), as ext4_statfs() counts them, in blocks of ext4_block_size: the blocks
	 * (less the filesystem's own overhead), the free ones (free clusters less those delayed allocation holds),
	 * those kept from unprivileged writers (the root reserve and ext4's reserved clusters), and the inodes. */
	__u64 ext4_blocks;
	__u64 ext4_free_blocks;
	__u64 ext4_reserved_blocks;
	__u64 ext4_inodes;
	__u64 ext4_free_inodes;
	__u32 ext4_block_size;
	__u32 ext4_pad;
	char fstype[ENOSPCD_FSTYPE_LEN];
	char name[ENOSPCD_FNAME_LEN]; /* the file's dentry name (last path component) */
	char mnt_name[ENOSPCD_FNAME_LEN]; /* the name its mount is mounted on (the mount point's last component,
	                                   * "/" for a namespace's root): a device number is reused once the
	                                   * filesystem is unmounted, this tells the mounts apart */
};

/* The XFS project quota (dquot) an inode is charged to, as the kernel accounts it at the failure (struct
 * xfs_dquot's q_blk and q_ino, fs/xfs/xfs_dquot.h): XFS refuses a charge over a project's hard limit with
 * ENOSPC (xfs_trans_dqresv()). reserved counts what is used plus what writes in flight hold. */
struct enospcd_project_quota {
	__u32 id;              /* the project id */
	__u32 blocksize;       /* bytes per block of blk_* (the filesystem's block) */
	__u64 blk_reserved;    /* blocks */
	__u64 blk_hardlimit;   /* blocks, 0: none */
	__u64 ino_reserved;
	__u64 ino_hardlimit;   /* 0: none */
};

struct enospcd_event {
	struct enospcd_hdr hdr;
	__u32 pid;        /* tgid */
	__u32 tid;
	__u32 ppid;
	__u32 uid;
	__u32 gid;
	__u32 syscall_nr;
	__s64 ret;
	__u64 cgroup_id;
	__u64 args[6];
	__u32 mntns_inum;
	__u32 mnt_count;  /* mounts in the task's mount namespace at failure time */
	__u32 mnt_pending;
	__u32 flags;      /* ENOSPCD_EF_* */
	__u32 err;        /* positive errno */
	__u32 mount_max;  /* fs.mount-max at failure time (0 when not read) */
	__u32 ipcns_inum; /* the task's IPC namespace and its per-namespace limits at failure time */
	__s32 shm_ctlmni;
	__u32 msg_ctlmni;
	__u32 mq_queues_max;
	__s32 sem_ctlmni;  /* SEMMNI, sem_ctls[3] */
	/* What the IPC namespace's limits are compared with, at failure time: ids in use per kind, semaphores in
	 * use against SEMMNS, shared memory pages in use against SHMALL, queues against queues_max. */
	__u32 ipc_in_use[3]; /* ENOSPCD_IPC_SEM, _MSG, _SHM: ipc_namespace.ids[].in_use */
	__s32 sem_semmns;    /* sem_ctls[1] */
	__s32 sem_used;      /* used_sems */
	__u64 shm_tot;       /* pages */
	__u64 shm_ctlall;    /* pages */
	__u32 mq_queues_count;
	__u32 userns_inum; /* the task's user namespace and its user.max_mnt_namespaces */
	__s64 userns_max_mnt;
	__u32 ucount_kind;   /* ENOSPCD_UC_*, NONE when not read */
	__u32 ucount_levels; /* levels read into ucount[] */
	struct enospcd_ucount_level ucount[ENOSPCD_UCOUNT_LEVELS];
	__u16 chain_len;
	__u16 stack_len;
	__u16 chain_dropped;   /* links dropped between the innermost half and the outermost ones */
	__u16 outer_stack_len;
	struct enospcd_chain_link chain[ENOSPCD_CHAIN_MAX];
	__u64 kstack[ENOSPCD_STACK_MAX];  /* when the innermost link returned */
	/* When the outermost link returned: its callers, out to the syscall entry. With kretprobes before v5.14 the
	 * innermost stack stops at the first probed caller, and this one goes on from the last. */
	__u64 outer_stack[ENOSPCD_STACK_MAX];
	struct enospcd_file_info file;
	struct enospcd_file_info upper; /* ENOSPCD_EF_HAS_UPPER */
	struct enospcd_project_quota project_quota; /* ENOSPCD_EF_HAS_PRJQUOTA */
	/* ENOSPCD_EF_HAS_PTY: ptys open on the host (pty_count, drivers/tty/pty.c), kernel.pty.max and
	 * kernel.pty.reserve (pty_limit, pty_reserve, fs/devpts/inode.c), as devpts_new_index() compares them */
	__u32 pty_nr;
	__u32 pty_max;
	__u32 pty_reserve;
	__u32 pty_pad;
	/* ENOSPCD_EF_HAS_EPOLL: the watches of the user who made the epoll instance (ep->user), which ep_insert()
	 * compares with fs.epoll.max_user_watches, and that limit (max_user_watches, kallsyms) */
	__s64 epoll_watches;
	__s64 epoll_max;
	__u32 epoll_uid;
	__u32 epoll_flags; /* ENOSPCD_EPF_* */
	/* ENOSPCD_EF_HAS_MEMCG: the root of the hierarchy the memory controller is bound to (cgroup v2's, or a v1
	 * hierarchy's), as the task's css_set names it: its live and dying descendants. The memory controller
	 * refuses a new cgroup with ENOSPC once it has no id left (MEM_CGROUP_ID_MAX, mm/memcontrol.c). */
	__u32 memcg_hierarchy; /* cgroup_root.hierarchy_id: 0 for cgroup v2 */
	__s32 memcg_descendants;
	__s32 memcg_dying;
	__u32 memcg_pad;
	char comm[ENOSPCD_COMM_LEN];
	char cgroup_name[ENOSPCD_CGNAME_LEN];
	char path[ENOSPCD_PATH_LEN];
	char path2[ENOSPCD_PATH_LEN];
};

/* Key of the exact in-kernel failure counters (syscount -P with errno and cgroup). */
struct enospcd_count_key {
	__u32 tgid;
	__u32 syscall_nr;
	__u32 err;
	__u32 pad;
	__u64 cgroup_id;
};

struct enospcd_count_val {
	__u64 count;          /* exact: atomically incremented for every failure */
	__u64 last_ktime_ns;
	__u64 tokens_milli;   /* token bucket for detailed events, in thousandths of an event */
	__u64 refill_ktime_ns;
	__u64 suppressed;     /* failures counted but not sent as events (rate limit) */
	char comm[ENOSPCD_COMM_LEN];
};

/* Per-thread chain, filled by origin probes, consumed (and always deleted) by the gate. */
#define ENOSPCD_CHAIN_NR_UNKNOWN 0xffff
struct enospcd_chain {
	__u16 len;
	__u16 stack_len;
	__u16 has_dir; /* dir is set */
	__u16 dropped; /* links dropped to keep the innermost half and the outermost ones */
	__u16 outer_stack_len;
	__u16 outer_scanned; /* outer_stack was scanned, not unwound */
	__u16 syscall_nr; /* the syscall that made the chain (low 16 bits), or ENOSPCD_CHAIN_NR_UNKNOWN */
	__u16 pad;
	struct enospcd_chain_link links[ENOSPCD_CHAIN_MAX];
	__u64 kstack[ENOSPCD_STACK_MAX];
	__u64 outer_stack[ENOSPCD_STACK_MAX];
	/* The directory a path walk was creating in when the first origin failed (open(O_CREAT) of an absolute
	 * path: the tmpfs that refused, with its numbers at that moment). */
	struct enospcd_file_info dir;
};

#endif /* ENOSPCD_ABI_H */
