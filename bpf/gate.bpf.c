// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The syscall gate: one program body on syscall exit, in three attach flavours (tp_btf, raw_tp, tp) of
 * which the loader autoloads exactly one. Fast path: the return value compared with the watched errno.
 * On a match: an exact per-(tgid, syscall, errno, cgroup) counter, and a rate-limited event record with
 * the evidence that is gone once the process exits.
 */
/* tmpfs usage summed over the CPUs, as statfs would give it (the origins keep the folded count: each of their
 * programs would carry the walk over the CPUs). */
#define ENOSPCD_PERCPU_SUM
#include "common.bpf.h"
#include "core_fixes.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

const volatile __u32 self_tgid = 0;        /* the daemon's own failures are never traced */
const volatile __u32 origins_enabled = 0;  /* chains are consumed only when origin probes are attached */
const volatile __u64 rl_rate = 0;          /* detailed events per second per counter key; 0 = unlimited */
const volatile __u64 rl_burst = 0;         /* bucket depth in events */
/* Address of the kernel's sysctl_mount_max (from kallsyms), so the limit is recorded as it was at failure.
 * In .bss, not .rodata: user space sets it once /proc/kallsyms has been read, after the gate is attached. */
volatile __u64 mount_max_addr = 0;
/* Addresses of pty_count, pty_limit and pty_reserve (kallsyms, set with mount_max_addr): a pty refused by the
 * host's limit is told from one refused by its devpts instance by these numbers as they were. */
volatile __u64 pty_count_addr = 0;
volatile __u64 pty_limit_addr = 0;
volatile __u64 pty_reserve_addr = 0;
/* Address of max_user_watches (fs.epoll.max_user_watches; kallsyms, set with mount_max_addr). */
volatile __u64 max_user_watches_addr = 0;
/* peek_kernel's request and answer. */
volatile __u64 peek_addr = 0;
volatile __u32 peek_len = 0;
volatile __s64 peek_err = 0;
__u8 peek_buf[ENOSPCD_PEEK_MAX] = {};
const volatile __u32 nr_epoll_ctl = ~0u;
/* Numbers of the syscalls that make a directory (a cgroup, in a cgroup filesystem); ~0 when unknown. */
const volatile __u32 nr_mkdir = ~0u;
const volatile __u32 nr_mkdirat = ~0u;
/* Numbers of the syscalls that open /dev/ptmx; ~0 when unknown. */
const volatile __u32 nr_open = ~0u;
const volatile __u32 nr_openat = ~0u;
const volatile __u32 nr_openat2 = ~0u;
/* Numbers of the syscalls whose refusing per-user-namespace count is read (ENOSPCD_UC_*); ~0 when unknown. */
const volatile __u32 nr_inotify_add_watch = ~0u;
const volatile __u32 nr_fanotify_mark = ~0u;
const volatile __u32 nr_unshare = ~0u;
const volatile __u32 nr_clone = ~0u;
const volatile __u32 nr_clone3 = ~0u;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct enospcd_count_key);
	__type(value, struct enospcd_count_val);
} counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, ENOSPCD_SYSCALL_MAX);
	__type(key, __u32);
	__type(value, struct enospcd_path_args);
} path_args SEC(".maps");


/* All zeroes, copied over a fresh ring-buffer reservation (too large for an inline memset). */
const volatile struct enospcd_event zero_event = {};

/* The six arguments of the syscall, from the saved user registers, with libbpf's per-architecture CO-RE
 * accessors (x86: di si dx r10 r8 r9; arm64: orig_x0 then x1..x5, x0 being overwritten by the return value).
 * libbpf before 1.2 names five; the sixth is the architecture's next argument register. */
#ifndef PT_REGS_PARM6_CORE_SYSCALL
#if defined(__TARGET_ARCH_x86)
#define PT_REGS_PARM6_CORE_SYSCALL(x) BPF_CORE_READ(x, r9)
#elif defined(__TARGET_ARCH_arm64)
#define PT_REGS_PARM6_CORE_SYSCALL(x) BPF_CORE_READ(x, regs[5])
#else
#error "unsupported architecture"
#endif
#endif
static __always_inline void read_syscall_args(struct pt_regs *regs, __u64 *args)
{
	args[0] = PT_REGS_PARM1_CORE_SYSCALL(regs);
	args[1] = PT_REGS_PARM2_CORE_SYSCALL(regs);
	args[2] = PT_REGS_PARM3_CORE_SYSCALL(regs);
	args[3] = PT_REGS_PARM4_CORE_SYSCALL(regs);
	args[4] = PT_REGS_PARM5_CORE_SYSCALL(regs);
	args[5] = PT_REGS_PARM6_CORE_SYSCALL(regs);
}

/* Remove this thread's chain: copied into *out when given, else counted as discarded (the syscall ended
 * some other way, so the chain must not reach a later event). */
static __always_inline bool take_chain(__u32 tid, struct enospcd_event *out, bool check_nr)
{
	__s64 *pending = pending_counter();
	if (!pending || *pending <= 0)
		return false;
	struct enospcd_chain *c = bpf_map_lookup_elem(&chains, &tid);
	if (!c)
		return false;
	bool used = false;
	/* In targeted mode a syscall outside the set leaves the chain its origins made; only the syscall that made a
	 * chain may take it (a chain whose number was not read is taken as before). */
	if (out && check_nr && c->syscall_nr != ENOSPCD_CHAIN_NR_UNKNOWN && c->syscall_nr != (__u16)out->syscall_nr)
		out = NULL;
	if (out) {
		__u16 len = c->len;
		if (len > ENOSPCD_CHAIN_MAX)
			len = ENOSPCD_CHAIN_MAX;
		__u16 slen = c->stack_len;
		if (slen > ENOSPCD_STACK_MAX)
			slen = ENOSPCD_STACK_MAX;
		__u16 olen = c->outer_stack_len;
		if (olen > ENOSPCD_STACK_MAX)
			olen = ENOSPCD_STACK_MAX;
		__builtin_memcpy(out->chain, c->links, sizeof(out->chain));
		__builtin_memcpy(out->kstack, c->kstack, sizeof(out->kstack));
		__builtin_memcpy(out->outer_stack, c->outer_stack, sizeof(out->outer_stack));
		out->chain_len = len;
		out->stack_len = slen;
		out->chain_dropped = c->dropped;
		out->outer_stack_len = olen;
		if (c->outer_scanned)
			out->flags |= ENOSPCD_EF_OUTER_SCANNED;
		/* The directory the failing create was in beats the directory a relative path started from (the
		 * path may cross mounts), and is the only evidence for an absolute path; an fd's file stays. */
		bool start_dir = out->flags & (ENOSPCD_EF_FILE_DIRFD | ENOSPCD_EF_FILE_CWD);
		if (c->has_dir && (!(out->flags & ENOSPCD_EF_HAS_FILE) || start_dir)) {
			__builtin_memcpy(&out->file, &c->dir, sizeof(out->file));
			out->flags &= ~(ENOSPCD_EF_FILE_DIRFD | ENOSPCD_EF_FILE_CWD);
			out->flags |= ENOSPCD_EF_HAS_FILE | ENOSPCD_EF_FILE_PARENT;
		}
		used = true;
	} else {
		count_loss(ENOSPCD_LOSS_CHAIN_DISCARDED);
	}
	if (bpf_map_delete_elem(&chains, &tid) == 0)
		__sync_fetch_and_add(pending, -1);
	return used;
}

/* Token bucket per counter key: true when a detailed event may be sent. */
static __always_inline bool rate_allows(struct enospcd_count_val *v, __u64 now)
{
	if (!rl_rate)
		return true;
	__u64 cap = rl_burst * 1000;
	__u64 elapsed = now - v->refill_ktime_ns;
	/* rate events/s = rate*1000 milli-events per 1e9 ns */
	__u64 add = elapsed / 1000000 * rl_rate;
	__u64 tokens = v->tokens_milli + add;
	if (tokens > cap)
		tokens = cap;
	if (add)
		v->refill_ktime_ns = now;
	if (tokens < 1000) {
		v->tokens_milli = tokens;
		return false;
	}
	v->tokens_milli = tokens - 1000;
	return true;
}

/* Exact count for this failure; returns false when the detailed event is to be suppressed. */
static __always_inline bool count_failure(__u32 tgid, long nr, __u32 err, __u64 cgid, __u64 now)
{
	struct enospcd_count_key key = {
		.tgid = tgid, .syscall_nr = (__u32)nr, .err = err, .cgroup_id = cgid,
	};
	struct enospcd_count_val *v = bpf_map_lookup_elem(&counts, &key);
	if (!v) {
		struct enospcd_count_val init = {
			.tokens_milli = rl_burst * 1000, .refill_ktime_ns = now,
		};
		bpf_get_current_comm(init.comm, sizeof(init.comm));
		long rc = bpf_map_update_elem(&counts, &key, &init, BPF_NOEXIST);
		if (rc && rc != -17 /* EEXIST: another CPU created it */) {
			count_loss(ENOSPCD_LOSS_COUNTER_MAP_FULL);
			return true;
		}
		v = bpf_map_lookup_elem(&counts, &key);
		if (!v)
			return true;
	}
	__sync_fetch_and_add(&v->count, 1);
	v->last_ktime_ns = now;
	if (rate_allows(v, now))
		return true;
	__sync_fetch_and_add(&v->suppressed, 1);
	count_loss(ENOSPCD_LOSS_RATE_LIMITED);
	return false;
}

static __always_inline void fill_task(struct enospcd_event *e, struct task_struct *task)
{
	e->ppid = BPF_CORE_READ(task, real_parent, tgid);
	struct mnt_namespace *mnt_ns = BPF_CORE_READ(task, nsproxy, mnt_ns);
	if (mnt_ns) {
		e->mntns_inum = BPF_CORE_READ(mnt_ns, ns.inum);
		e->mnt_count = mnt_ns_mount_count(mnt_ns);
		e->mnt_pending = BPF_CORE_READ(mnt_ns, pending_mounts);
		e->flags |= ENOSPCD_EF_HAS_MNTNS;
	}
	/* Per-namespace limits (SysV IPC, mqueue, user.max_mnt_namespaces): the process may be gone, and its
	 * namespace with it, by the time user space diagnoses. */
	struct ipc_namespace *ipc = BPF_CORE_READ(task, nsproxy, ipc_ns);
	if (ipc) {
		e->ipcns_inum = BPF_CORE_READ(ipc, ns.inum);
		e->shm_ctlmni = BPF_CORE_READ(ipc, shm_ctlmni);
		e->msg_ctlmni = BPF_CORE_READ(ipc, msg_ctlmni);
		e->mq_queues_max = BPF_CORE_READ(ipc, mq_queues_max);
		e->sem_ctlmni = BPF_CORE_READ(ipc, sem_ctls[3]);
		e->sem_semmns = BPF_CORE_READ(ipc, sem_ctls[1]);
		e->sem_used = BPF_CORE_READ(ipc, used_sems);
		e->ipc_in_use[ENOSPCD_IPC_SEM] = BPF_CORE_READ(ipc, ids[ENOSPCD_IPC_SEM].in_use);
		e->ipc_in_use[ENOSPCD_IPC_MSG] = BPF_CORE_READ(ipc, ids[ENOSPCD_IPC_MSG].in_use);
		e->ipc_in_use[ENOSPCD_IPC_SHM] = BPF_CORE_READ(ipc, ids[ENOSPCD_IPC_SHM].in_use);
		e->shm_tot = BPF_CORE_READ(ipc, shm_tot);
		e->shm_ctlall = BPF_CORE_READ(ipc, shm_ctlall);
		e->mq_queues_count = BPF_CORE_READ(ipc, mq_queues_count);
		e->flags |= ENOSPCD_EF_HAS_IPCNS;
	}
	struct user_namespace *uns = BPF_CORE_READ(task, cred, user_ns);
	if (uns && bpf_core_enum_value_exists(enum ucount_type, UCOUNT_MNT_NAMESPACES)) {
		__s64 max = 0;
		if (userns_ucount_max(uns, bpf_core_enum_value(enum ucount_type, UCOUNT_MNT_NAMESPACES), &max)) {
			e->userns_inum = BPF_CORE_READ(uns, ns.inum);
			e->userns_max_mnt = max;
			e->flags |= ENOSPCD_EF_HAS_USERNS;
		}
	}
	__u64 mm_addr = mount_max_addr;
	if (mm_addr && bpf_probe_read_kernel(&e->mount_max, sizeof(e->mount_max), (const void *)mm_addr) == 0)
		e->flags |= ENOSPCD_EF_HAS_MOUNT_MAX;
	const char *cgname = BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, name);
	if (cgname && bpf_probe_read_kernel_str(e->cgroup_name, sizeof(e->cgroup_name), cgname) == sizeof(e->cgroup_name))
		e->flags |= ENOSPCD_EF_CGNAME_TRUNCATED;
}

/* The XFS project quota of the file evidence's inode: XFS refuses a charge over a project's hard limit with
 * ENOSPC, and the numbers change (or the filesystem is unmounted) soon after. */
static __noinline void fill_project_quota(struct enospcd_event *e, __u64 inode)
{
	if (xfs_project_quota((struct inode *)inode, &e->project_quota))
		e->flags |= ENOSPCD_EF_HAS_PRJQUOTA;
}

/* Describe an inode as the event's file evidence. */
static __always_inline void fill_inode(struct enospcd_event *e, struct inode *inode, const unsigned char *fname,
				       struct vfsmount *vmnt)
{
	if (!fill_inode_info(&e->file, inode, fname, vmnt))
		return;
	e->flags |= ENOSPCD_EF_HAS_FILE;
	if (e->file.magic == ENOSPCD_XFS_SB_MAGIC)
		fill_project_quota(e, (__u64)inode);
}

#define OVERLAYFS_SUPER_MAGIC 0x794c7630

/* An overlay file holds no blocks: a write lands in the file of its upper layer. struct ovl_inode
 * (fs/overlayfs/ovl_entry.h) embeds the VFS inode with the upper dentry right after it, as it has since v4.13;
 * the overlay module's own types need not be in the kernel's BTF, the VFS inode's size is. */
static __noinline void fill_overlay_upper(struct enospcd_event *e, __u64 inode)
{
	struct dentry *upper = NULL;
	if (bpf_probe_read_kernel(&upper, sizeof(upper), (const void *)(inode + bpf_core_type_size(struct inode))) ||
	    !upper)
		return;
	struct inode *ui = BPF_CORE_READ(upper, d_inode);
	if (!ui || (__u64)BPF_CORE_READ(ui, i_sb) == (__u64)BPF_CORE_READ((struct inode *)inode, i_sb))
		return;
	if (fill_inode_info(&e->upper, ui, BPF_CORE_READ(upper, d_name.name), NULL) &&
	    e->upper.magic != OVERLAYFS_SUPER_MAGIC)
		e->flags |= ENOSPCD_EF_HAS_UPPER;
}

/* Describe an open file, and on overlayfs its upper layer's file. */
static __always_inline void fill_file_of(struct enospcd_event *e, struct file *f)
{
	if (!f)
		return;
	struct inode *inode = BPF_CORE_READ(f, f_inode);
	fill_inode(e, inode, BPF_CORE_READ(f, f_path.dentry, d_name.name), BPF_CORE_READ(f, f_path.mnt));
	if (inode && e->file.magic == OVERLAYFS_SUPER_MAGIC)
		fill_overlay_upper(e, (__u64)inode);
}

/* The file behind fd in the task's table, NULL when there is none. */
static __always_inline struct file *file_of_fd(struct task_struct *task, __u64 fd)
{
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	if (!fdt || fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *f = NULL;
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd & 0xffffff]);
	return f;
}

/* Describe the file behind fd in the current task's table. */
static __always_inline void fill_file(struct enospcd_event *e, struct task_struct *task, __u64 fd)
{
	fill_file_of(e, file_of_fd(task, fd));
}

/* Syscall argument by 1-based index (0 = none), written so the verifier sees the bound. */
static __always_inline __u64 arg_at(struct enospcd_event *e, __u8 one_based)
{
	__u32 i = one_based;
	if (i < 1 || i > 6)
		return 0;
	i -= 1;
	barrier_var(i);
	if (i >= 6)
		return 0;
	return e->args[i];
}

/* The directory a relative path starts from, as it is at the failure: the dirfd argument's directory, or the
 * task's working directory for AT_FDCWD and for the syscalls without a dirfd. */
static __always_inline void fill_start_dir(struct enospcd_event *e, struct task_struct *task, __u8 dir_arg)
{
	if (dir_arg != ENOSPCD_DIR_CWD) {
		int dfd = (int)arg_at(e, dir_arg);
		if (dfd != AT_FDCWD) {
			fill_file(e, task, (__u32)dfd);
			if (e->flags & ENOSPCD_EF_HAS_FILE)
				e->flags |= ENOSPCD_EF_FILE_DIRFD;
			return;
		}
	}
	struct dentry *d = BPF_CORE_READ(task, fs, pwd.dentry);
	if (!d)
		return;
	fill_inode(e, BPF_CORE_READ(d, d_inode), BPF_CORE_READ(d, d_name.name), BPF_CORE_READ(task, fs, pwd.mnt));
	if (e->flags & ENOSPCD_EF_HAS_FILE)
		e->flags |= ENOSPCD_EF_FILE_CWD;
}

/* The levels of one per-user-namespace count that inc_ucount() walks (kernel/ucount.c): the charged (namespace,
 * uid), then the namespace's creator in its parent, up to the initial namespace. leaf is the charged level's
 * ucounts when known (its count is then read), uid the uid charged there, which the kernel's enum ucount_type.
 * The caller sets e->ucount_kind. */
static __noinline void ucount_walk(struct enospcd_event *e, struct user_namespace *ns, __u32 uid,
				  struct ucounts *leaf, __u32 which)
{
	struct ucounts *uc = leaf;
	e->ucount_levels = 0;
	for (int i = 0; i < ENOSPCD_UCOUNT_LEVELS; i++) {
		if (!ns)
			break;
		struct enospcd_ucount_level *l = &e->ucount[i];
		l->flags = 0;
		l->userns_inum = BPF_CORE_READ(ns, ns.inum);
		l->uid = uc ? BPF_CORE_READ(uc, uid.val) : uid;
		if (!userns_ucount_max(ns, which, &l->max))
			break;
		if (!uc || !ucounts_count(uc, which, &l->count)) {
			l->count = -1;
			l->flags |= ENOSPCD_UCL_NO_COUNT;
		}
		e->ucount_levels = i + 1;
		uc = BPF_CORE_READ(ns, ucounts);
		if (!uc) {
			l->flags |= ENOSPCD_UCL_INITIAL;
			break;
		}
		ns = BPF_CORE_READ(uc, ns);
	}
}

/* Whether a level read is at its limit (the charge that failed would have passed it). */
static __always_inline bool ucount_at_limit(struct enospcd_event *e)
{
	for (int i = 0; i < ENOSPCD_UCOUNT_LEVELS; i++) {
		if (i >= e->ucount_levels)
			break;
		struct enospcd_ucount_level *l = &e->ucount[i];
		if (l->max <= 0 || (!(l->flags & ENOSPCD_UCL_NO_COUNT) && l->count >= l->max))
			return true;
	}
	return false;
}

#define UC_TRY_NS(flag, kind, enumerator)                                                              \
	if (!done && (flags & (flag)) && bpf_core_enum_value_exists(enum ucount_type, enumerator)) {      \
		e->ucount_kind = (kind);                                                                \
		ucount_walk(e, uns, euid, leaf, bpf_core_enum_value(enum ucount_type, enumerator));     \
		done = ucount_at_limit(e);                                                              \
	}

/* The notification group behind an inotify or fanotify fd: its file's private data. */
static __always_inline struct fsnotify_group *group_of_fd(struct task_struct *task, __u64 fd)
{
	struct file *f = file_of_fd(task, fd);
	return f ? BPF_CORE_READ(f, private_data) : NULL;
}

/* Records the levels of the count `kind` charged to `uc` (a group's ucounts), if there is one. */
static __always_inline void walk_group_ucounts(struct enospcd_event *e, struct ucounts *uc, __u32 kind, int type)
{
	if (!uc)
		return;
	e->ucount_kind = kind;
	ucount_walk(e, BPF_CORE_READ(uc, ns), BPF_CORE_READ(uc, uid.val), uc, type);
}

/* The host's pty count and limits at the failure of an open (of /dev/ptmx or an instance's ptmx). */
static __noinline void fill_pty(struct enospcd_event *e)
{
	__u32 nr = e->syscall_nr;
	__u64 count = pty_count_addr, limit = pty_limit_addr, reserve = pty_reserve_addr;
	if (e->err != 28 /* ENOSPC */ || !count || !limit || !reserve)
		return;
	if (nr != nr_open && nr != nr_openat && nr != nr_openat2)
		return;
	if (bpf_probe_read_kernel(&e->pty_nr, sizeof(e->pty_nr), (const void *)count) ||
	    bpf_probe_read_kernel(&e->pty_max, sizeof(e->pty_max), (const void *)limit) ||
	    bpf_probe_read_kernel(&e->pty_reserve, sizeof(e->pty_reserve), (const void *)reserve))
		return;
	e->flags |= ENOSPCD_EF_HAS_PTY;
}

/* The hierarchy the memory controller is bound to, at the failure of a mkdir: the memory controller refuses a
 * new cgroup with ENOSPC when it has no id left for it (mem_cgroup_alloc()), and what holds ids are the
 * hierarchy's cgroups, live and dying. Read through the task's own css_set, so no kernel symbol is needed. */
static __noinline void fill_memcg(struct enospcd_event *e, struct task_struct *task)
{
	__u32 nr = e->syscall_nr;
	if (e->err != 28 /* ENOSPC */ || (nr != nr_mkdir && nr != nr_mkdirat))
		return;
	if (!bpf_core_enum_value_exists(enum cgroup_subsys_id, memory_cgrp_id))
		return;
	__u64 id = bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id);
	struct css_set *cset = BPF_CORE_READ(task, cgroups);
	struct cgroup_subsys_state *css = NULL;
	if (!cset || id >= 64)
		return;
	__u64 slot = (__u64)cset + bpf_core_field_offset(struct css_set, subsys) + id * sizeof(void *);
	if (bpf_probe_read_kernel(&css, sizeof(css), (const void *)slot) || !css)
		return;
	struct cgroup_root *root = BPF_CORE_READ(css, cgroup, root);
	if (!root)
		return;
	e->memcg_hierarchy = BPF_CORE_READ(root, hierarchy_id);
	e->memcg_descendants = BPF_CORE_READ(root, cgrp.nr_descendants);
	e->memcg_dying = BPF_CORE_READ(root, cgrp.nr_dying_descendants);
	e->flags |= ENOSPCD_EF_HAS_MEMCG;
}

/* The watches of the user an epoll instance is charged to, and the limit, at the failure of epoll_ctl (the
 * epoll fd is the first argument; on ENOSPC it is an epoll instance). */
static __noinline void fill_epoll(struct enospcd_event *e, struct task_struct *task)
{
	if (e->err != 28 /* ENOSPC */ || e->syscall_nr != nr_epoll_ctl)
		return;
	struct file *f = file_of_fd(task, e->args[0]);
	if (!f)
		return;
	struct eventpoll___enospcd *ep = BPF_CORE_READ(f, private_data);
	struct user_struct___enospcd *user = ep ? BPF_CORE_READ(ep, user) : NULL;
	if (!user)
		return;
	__u64 field = (__u64)user + bpf_core_field_offset(struct user_struct___enospcd, epoll_watches);
	__s64 count = 0;
	if (bpf_core_field_size(struct user_struct___enospcd, epoll_watches) == sizeof(__s64)) {
		/* an atomic_long_t: exact */
		if (bpf_probe_read_kernel(&count, sizeof(count), (const void *)field))
			return;
		e->epoll_flags |= ENOSPCD_EPF_SUMMED;
	} else {
		if (bpf_probe_read_kernel(&count, sizeof(count),
					  (const void *)(field + bpf_core_field_offset(struct percpu_counter, count))))
			return;
		__u64 counters = 0;
		bpf_probe_read_kernel(&counters, sizeof(counters),
				      (const void *)(field + bpf_core_field_offset(struct percpu_counter, counters)));
		__s64 deltas = percpu_deltas(counters);
		if (deltas != ENOSPCD_DELTAS_UNKNOWN) {
			count += deltas;
			e->epoll_flags |= ENOSPCD_EPF_SUMMED;
		}
	}
	e->epoll_watches = count;
	e->epoll_uid = BPF_CORE_READ(user, uid.val);
	__u64 max_addr = max_user_watches_addr;
	if (max_addr && bpf_probe_read_kernel(&e->epoll_max, sizeof(e->epoll_max), (const void *)max_addr) == 0)
		e->epoll_flags |= ENOSPCD_EPF_MAX;
	e->flags |= ENOSPCD_EF_HAS_EPOLL;
}

/* The count that refused an inotify watch, a fanotify mark or a new namespace, with its limit, at every level:
 * the process, its watches and its user namespace may be gone when the event is explained. Out of line: it runs
 * only for the failures of five syscalls. */
static __noinline void fill_ucounts(struct enospcd_event *e, struct task_struct *task)
{
	__u32 nr = e->syscall_nr;
	if (e->err != 28 /* ENOSPC */)
		return;
	if (nr == nr_inotify_add_watch) {
		/* The watches are charged where the inotify instance was: its group's ucounts (fs/notify/inotify). */
		if (!bpf_core_enum_value_exists(enum ucount_type, UCOUNT_INOTIFY_WATCHES))
			return;
		struct fsnotify_group *group = group_of_fd(task, e->args[0]);
		walk_group_ucounts(e, group ? BPF_CORE_READ(group, inotify_data.ucounts) : NULL,
				   ENOSPCD_UC_INOTIFY_WATCHES, bpf_core_enum_value(enum ucount_type, UCOUNT_INOTIFY_WATCHES));
		return;
	}
	if (nr == nr_fanotify_mark) {
		/* Since v5.13 marks are charged where the fanotify group was made: its ucounts (fs/notify/fanotify). */
		if (!bpf_core_enum_value_exists(enum ucount_type, UCOUNT_FANOTIFY_MARKS) ||
		    !bpf_core_field_exists(((struct fsnotify_group *)0)->fanotify_data.ucounts))
			return;
		struct fsnotify_group *group = group_of_fd(task, e->args[0]);
		walk_group_ucounts(e, group ? BPF_CORE_READ(group, fanotify_data.ucounts) : NULL,
				   ENOSPCD_UC_FANOTIFY_MARKS, bpf_core_enum_value(enum ucount_type, UCOUNT_FANOTIFY_MARKS));
		return;
	}
	__u64 flags = 0;
	if (nr == nr_unshare || nr == nr_clone)
		flags = e->args[0];
	else if (nr == nr_clone3 && e->args[0])
		bpf_probe_read_user(&flags, sizeof(flags), (const void *)e->args[0]); /* clone_args.flags */
	else
		return;
	struct user_namespace *uns = BPF_CORE_READ(task, cred, user_ns);
	__u32 euid = BPF_CORE_READ(task, cred, euid.val);
	struct ucounts *leaf = NULL;
	if (bpf_core_field_exists(task->cred->ucounts))
		leaf = BPF_CORE_READ(task, cred, ucounts);
	bool done = false;
	/* The order in which the kernel creates them: the user namespace first (unshare_userns, copy_creds), then
	 * create_new_namespaces(); each is charged with inc_ucount(). */
	UC_TRY_NS(0x10000000, ENOSPCD_UC_USER_NS, UCOUNT_USER_NAMESPACES)
	UC_TRY_NS(0x00020000, ENOSPCD_UC_MNT_NS, UCOUNT_MNT_NAMESPACES)
	UC_TRY_NS(0x04000000, ENOSPCD_UC_UTS_NS, UCOUNT_UTS_NAMESPACES)
	UC_TRY_NS(0x08000000, ENOSPCD_UC_IPC_NS, UCOUNT_IPC_NAMESPACES)
	UC_TRY_NS(0x20000000, ENOSPCD_UC_PID_NS, UCOUNT_PID_NAMESPACES)
	UC_TRY_NS(0x02000000, ENOSPCD_UC_CGROUP_NS, UCOUNT_CGROUP_NAMESPACES)
	UC_TRY_NS(0x40000000, ENOSPCD_UC_NET_NS, UCOUNT_NET_NAMESPACES)
	UC_TRY_NS(0x00000080, ENOSPCD_UC_TIME_NS, UCOUNT_TIME_NAMESPACES)
}

/* A watched failure: everything after the errno test. Out of line, so that the entry programs, which run on
 * every syscall exit, need neither callee-saved registers nor a stack frame: their fast path is a load, a
 * compare and a return, as close to an empty program as a test of the return value can be.
 * regs: the task's saved user registers at a syscall exit (NULL when unknown); an asynchronous completion
 * has none and passes the request's file instead. check_nr: the chain must be this syscall's (targeted mode). */
static __noinline int gate_failure(struct pt_regs *regs, long nr, long ret, struct file *async_file, bool check_nr)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32, tid = (__u32)pid_tgid;
	if (tgid == self_tgid) {
		if (origins_enabled)
			discard_chain(tid);
		return 0;
	}
	__u64 now = bpf_ktime_get_ns();
	__u64 cgid = bpf_get_current_cgroup_id();
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	if (regs)
		nr = syscall_nr_of(regs);
	__u32 err = (__u32)-ret;

	if (!count_failure(tgid, nr, err, cgid, now)) {
		if (origins_enabled)
			discard_chain(tid);
		return 0;
	}

	struct enospcd_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_loss(ENOSPCD_LOSS_RINGBUF_FULL);
		if (origins_enabled)
			discard_chain(tid);
		return 0;
	}
	/* The reservation is not zeroed; clear it so no stale bytes reach user space. */
	bpf_probe_read_kernel(e, sizeof(*e), (const void *)&zero_event);
	e->hdr.kind = ENOSPCD_KIND_SYSCALL_FAILURE;
	e->hdr.size = sizeof(*e);
	e->hdr.ktime_ns = now;
	e->pid = tgid;
	e->tid = tid;
	__u64 ugid = bpf_get_current_uid_gid();
	e->uid = (__u32)ugid;
	e->gid = ugid >> 32;
	e->syscall_nr = (__u32)nr;
	e->ret = ret;
	e->err = err;
	e->cgroup_id = cgid;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	fill_task(e, task);

	if (regs) {
		read_syscall_args(regs, e->args);
		e->flags |= ENOSPCD_EF_ARGS_VALID;
		__u32 idx = (__u32)nr;
		struct enospcd_path_args *pa = bpf_map_lookup_elem(&path_args, &idx);
		if (pa) {
			const void *p1 = (const void *)arg_at(e, pa->path1);
			const void *p2 = (const void *)arg_at(e, pa->path2);
			if (p1 && bpf_probe_read_user_str(e->path, sizeof(e->path), p1) == sizeof(e->path))
				e->flags |= ENOSPCD_EF_PATH_TRUNCATED;
			if (p2)
				bpf_probe_read_user_str(e->path2, sizeof(e->path2), p2);
			if (pa->fd_arg)
				fill_file(e, task, arg_at(e, pa->fd_arg));
			else if (pa->dir_arg && e->path[0] && e->path[0] != '/')
				fill_start_dir(e, task, pa->dir_arg);
		}
		fill_ucounts(e, task);
		fill_pty(e);
		fill_epoll(e, task);
		fill_memcg(e, task);
	}
	if (async_file)
		fill_file_of(e, async_file);
	if (origins_enabled)
		take_chain(tid, e, check_nr);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

static __always_inline int gate(struct pt_regs *regs, long nr, long ret)
{
	if (likely(!errno_watched(ret))) {
		if (origins_enabled)
			discard_chain((__u32)bpf_get_current_pid_tgid());
		return 0;
	}
	return gate_failure(regs, nr, ret, NULL, false);
}

SEC("?tp_btf/sys_exit")
int BPF_PROG(gate_tp_btf, struct pt_regs *regs, long ret)
{
	return gate(regs, -1, ret);
}

SEC("?raw_tp/sys_exit")
int BPF_PROG(gate_raw_tp, struct pt_regs *regs, long ret)
{
	return gate(regs, -1, ret);
}

SEC("?tp/raw_syscalls/sys_exit")
int gate_tp(struct trace_event_raw_sys_exit *ctx)
{
	long ret = ctx->ret;
	if (likely(!errno_watched(ret)) && !origins_enabled)
		return 0;
	/* bpf_task_pt_regs() (v5.15) gives the saved user registers where the tracepoint does not. */
	struct pt_regs *regs = NULL;
	if (bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_task_pt_regs))
		regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	return gate(regs, ctx->id, ret);
}

/*
 * Targeted mode (targeted.bpf.c has the slots on the syscalls' entry functions): the program a slot hands a
 * failure to by tail call, loaded once per prototype of the entry functions (the kernel lets a program tail-call
 * only programs attached to functions of its own prototype), and the completeness check.
 */

/* By syscall number: 1 where a slot counts the syscall's failures. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, ENOSPCD_SYSCALL_MAX);
	__type(key, __u32);
	__type(value, __u32);
} targeted_nrs SEC(".maps");

/* By syscall number: failures the completeness check saw from syscalls no slot counts. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, ENOSPCD_SYSCALL_MAX);
	__type(key, __u32);
	__type(value, __u64);
} untargeted SEC(".maps");

/* The registers are the task's, not the argument: some entry functions' BTF types it as a pointer to a declared
 * but undefined struct, which v5.10 refuses to read from the context at all. */
/* While the completeness check runs (1 at 0), each failure a slot hands over is marked with its syscall by thread:
 * the check, which runs next on the same syscall's exit, takes the mark. A failure of a syscall of the set
 * without one passed a slot on the wrong function (an entry function the syscall does not go through). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} targeted_checking SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u32);
} targeted_marks SEC(".maps");

SEC("?fexit")
int targeted_failure(unsigned long long *ctx)
{
	struct pt_regs *regs = current_user_regs((struct task_struct *)bpf_get_current_task());
	__u32 zero = 0;
	__u32 *checking = bpf_map_lookup_elem(&targeted_checking, &zero);
	if (checking && *checking) {
		__u32 tid = (__u32)bpf_get_current_pid_tgid(), nr = (__u32)syscall_nr_of(regs);
		bpf_map_update_elem(&targeted_marks, &tid, &nr, BPF_ANY);
	}
	return gate_failure(regs, -1, (long)ctx[1], NULL, true);
}

/* An ia32 syscall on x86_64 (its numbers are another table's): the completeness check leaves it out. */
static __always_inline bool compat_syscall(void)
{
#if defined(__TARGET_ARCH_x86)
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	if (bpf_core_field_exists(task->thread_info.status))
		return BPF_CORE_READ(task, thread_info.status) & 0x0002 /* TS_COMPAT */;
#endif
	return false;
}

/*
 * The completeness check: attached to sys_exit for a while at start-up and then at intervals, it counts and
 * records the failures that no slot counted: of syscalls outside the set, which the daemon then adds, and of
 * syscalls whose slot is on a function they do not go through. Those a slot counted it leaves to the slot.
 */
SEC("?tp_btf/sys_exit")
int BPF_PROG(targeted_check, struct pt_regs *regs, long ret)
{
	if (likely(!errno_watched(ret)) || compat_syscall())
		return 0;
	__u32 nr = (__u32)syscall_nr_of(regs);
	__u32 *slot = bpf_map_lookup_elem(&targeted_nrs, &nr);
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	if (!slot || pid_tgid >> 32 == self_tgid)
		return 0;
	if (*slot) {
		/* Counted by its slot when it left a mark. */
		__u32 tid = (__u32)pid_tgid;
		__u32 *mark = bpf_map_lookup_elem(&targeted_marks, &tid);
		bool counted = mark && *mark == nr;
		if (mark)
			bpf_map_delete_elem(&targeted_marks, &tid);
		if (counted)
			return 0;
	}
	__u64 *seen = bpf_map_lookup_elem(&untargeted, &nr);
	if (seen)
		__sync_fetch_and_add(seen, 1);
	return gate_failure(regs, -1, ret, NULL, true);
}

/*
 * io_uring: a request completes with its result in a completion entry, while the io_uring_enter(2) that
 * submitted it succeeds; the syscall-exit gate never sees the error. The completion tracepoint carries the
 * result and, on kernels whose tracepoint records the request (Debian's 6.1 and 6.12; not 5.10), the request,
 * from which the opcode and the file are read: whether it does is a CO-RE field probe. Only the fields read
 * are declared.
 * The completion runs in the submitting task or in one of its io-wq workers (threads of the same process on
 * current kernels), where the origins of a failing request also ran: its chain is taken here.
 */
struct trace_event_raw_io_uring_complete___enospcd {
	void *ctx;
	void *req;
	__u64 user_data;
	int res;
} __attribute__((preserve_access_index));

struct kiocb___enospcd {
	struct file *ki_filp;
} __attribute__((preserve_access_index));

struct io_rw___enospcd {
	struct kiocb___enospcd kiocb;
} __attribute__((preserve_access_index));

struct io_kiocb___enospcd {
	struct io_rw___enospcd rw;
	struct file *file;
	void *ctx;
	__u64 user_data;
	__u8 opcode;
} __attribute__((preserve_access_index));

/* Where the completion tracepoint does not record the request (5.10), a failing read or write request is
 * remembered as it completes, by its ring and user_data, for the tracepoint that follows in the same call. */
const volatile __u32 uring_rw_enabled = 0;

struct uring_req_key {
	__u64 ctx;
	__u64 user_data;
};

struct uring_req_val {
	__u64 file;
	__u32 opcode;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, struct uring_req_key);
	__type(value, struct uring_req_val);
} uring_reqs SEC(".maps");

SEC("?tp/io_uring/io_uring_complete")
int async_io_uring(struct trace_event_raw_io_uring_complete___enospcd *ctx)
{
	long res = ctx->res;
	if (likely(!errno_watched(res)))
		return 0;
	__u32 opcode = ENOSPCD_IO_URING_OP_UNKNOWN;
	struct file *file = NULL;
	if (bpf_core_field_exists(ctx->req)) {
		struct io_kiocb___enospcd *req = ctx->req;
		opcode = BPF_CORE_READ(req, opcode);
		file = BPF_CORE_READ(req, file);
	} else if (uring_rw_enabled) {
		struct uring_req_key key = {(__u64)ctx->ctx, ctx->user_data};
		struct uring_req_val *v = bpf_map_lookup_elem(&uring_reqs, &key);
		if (v) {
			opcode = v->opcode;
			file = (struct file *)v->file;
			bpf_map_delete_elem(&uring_reqs, &key);
		}
	}
	return gate_failure(NULL, ENOSPCD_NR_IO_URING + opcode, res, file, false);
}

/* kiocb_done() (5.10) ends every io_uring read and write with its result, before the completion is posted. */
static __always_inline int uring_rw_done(struct kiocb___enospcd *kiocb, long ret)
{
	if (likely(!errno_watched(ret)))
		return 0;
	struct io_kiocb___enospcd *req =
		(void *)((char *)kiocb - bpf_core_field_offset(struct io_kiocb___enospcd, rw.kiocb));
	struct uring_req_key key = {(__u64)BPF_CORE_READ(req, ctx), BPF_CORE_READ(req, user_data)};
	struct uring_req_val v = {(__u64)BPF_CORE_READ(req, file), BPF_CORE_READ(req, opcode), 0};
	bpf_map_update_elem(&uring_reqs, &key, &v, BPF_ANY);
	return 0;
}

/* A handler of a kernel function that has no tracepoint, taking its kiocb and its result: on fentry where fexit
 * works, else on a kprobe (the loader loads one of the two). */
#define KIOCB_HOOKS(name, func, handler)                                      \
	SEC("?fentry/" #func)                                                 \
	int BPF_PROG(name##_fentry, struct kiocb___enospcd *iocb, long res)  \
	{                                                                     \
		return handler(iocb, res);                                    \
	}                                                                     \
	SEC("?kprobe/" #func)                                                 \
	int BPF_KPROBE(name##_kprobe, struct kiocb___enospcd *iocb, long res) \
	{                                                                     \
		return handler(iocb, res);                                    \
	}

KIOCB_HOOKS(uring_rw, kiocb_done, uring_rw_done)

/*
 * Linux AIO: io_submit(2) succeeds and a request's result reaches user space through io_getevents(2), so the
 * syscall-exit gate never sees it either. aio_complete_rw() (the completion of IOCB_CMD_PREAD, PWRITE, PREADV
 * and PWRITEV) gets the result; there is no tracepoint, so it is traced where fentry works, else with a kprobe
 * (its second argument is the result on every kernel: 5.10 has a third, res2). A buffered request, which is
 * where a write meets a full filesystem, completes inside io_submit(2), in the submitting task, whose iocb
 * (its user-space address is the completion's "obj") holds the opcode. A completion from interrupt context
 * (direct I/O) runs in whatever task was current: its opcode is not read and it is counted as that task's.
 */
struct io_event___enospcd {
	__u64 obj;
} __attribute__((preserve_access_index));

struct aio_kiocb___enospcd {
	struct kiocb___enospcd rw;
	struct io_event___enospcd ki_res;
} __attribute__((preserve_access_index));

/* struct iocb (include/uapi/linux/aio_abi.h): aio_data, aio_key and aio_rw_flags, then the opcode. */
#define ENOSPCD_IOCB_OPCODE_OFFSET 16
#define ENOSPCD_IOCB_CMD_MAX 8 /* IOCB_CMD_PWRITEV */

static __always_inline int aio_completion(struct kiocb___enospcd *iocb, long res)
{
	if (likely(!errno_watched(res)))
		return 0;
	__u32 opcode = ENOSPCD_AIO_OP_UNKNOWN;
	struct aio_kiocb___enospcd *req =
		(void *)((char *)iocb - bpf_core_field_offset(struct aio_kiocb___enospcd, rw));
	__u64 user_iocb = BPF_CORE_READ(req, ki_res.obj);
	__u16 op = 0;
	if (user_iocb &&
	    bpf_probe_read_user(&op, sizeof(op), (const void *)(user_iocb + ENOSPCD_IOCB_OPCODE_OFFSET)) == 0 &&
	    op <= ENOSPCD_IOCB_CMD_MAX)
		opcode = op;
	return gate_failure(NULL, ENOSPCD_NR_AIO + opcode, res, BPF_CORE_READ(iocb, ki_filp), false);
}

KIOCB_HOOKS(async_aio, aio_complete_rw, aio_completion)

/* Copies peek_len bytes (at most ENOSPCD_PEEK_MAX) of kernel memory from peek_addr into peek_buf, run by the loader through
 * BPF_PROG_TEST_RUN (never attached): the machine code of a function whose globals kallsyms does not list, and
 * the values of the candidates found in it (loader/text_refs.h). */
SEC("?raw_tp")
int peek_kernel(void *ctx)
{
	__u32 n = peek_len;
	if (n == 0 || n > ENOSPCD_PEEK_MAX) {
		peek_err = -22;
		return 0;
	}
	peek_err = bpf_probe_read_kernel(peek_buf, n, (const void *)peek_addr);
	return 0;
}
