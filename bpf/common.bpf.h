/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Maps, settings and helpers shared by the gate and origin programs. */
#ifndef ENOSPCD_COMMON_BPF_H
#define ENOSPCD_COMMON_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "enospcd/abi.h"
#include "core_fixes.bpf.h"

#ifndef likely
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#endif

#define AT_FDCWD -100 /* include/uapi/linux/fcntl.h */
#define TMPFS_MAGIC 0x01021994 /* include/uapi/linux/magic.h */
#define EXT4_SUPER_MAGIC 0xEF53
#define EXT4_FEATURE_INCOMPAT_64BIT 0x80
#define ENOSPCD_PF_KTHREAD 0x00200000 /* include/linux/sched.h */

/* Watched errno set, fixed at load time. With one errno the test is one load and one compare: the value kept
 * is the syscall return that errno gives (-28 for ENOSPC), so nothing is negated on the hot path. */
const volatile long watch_single_ret = -28; /* 0 when errno_mask holds several */
const volatile __u64 errno_mask[ENOSPCD_ERRNO_MAX / 64] = {};

static __always_inline bool errno_watched(long ret)
{
	long single = watch_single_ret; /* one read of the volatile */

	if (single)
		return ret == single;
	if (ret >= 0 || ret <= -ENOSPCD_ERRNO_MAX)
		return false;
	__u32 e = (__u32)-ret;
	/* ENOSPCD_ERRNO_MAX is 256: four words, index masked so the verifier sees the bound. The verifier loses
	 * the range of ret at the negation, while clang knows e < 256 and drops the "& 3" (then 6.12 refuses the
	 * origin programs: "R3 max value is outside of the allowed memory range"); barrier_var keeps the mask. */
	__u32 word = e >> 6;
	barrier_var(word);
	return (errno_mask[word & 3] >> (e & 63)) & 1;
}

/* Per-CPU loss counters, indexed by enum enospcd_loss; shared between objects by fd reuse. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ENOSPCD_LOSS_MAX);
	__type(key, __u32);
	__type(value, __u64);
} losses SEC(".maps");

static __always_inline void count_loss(__u32 reason)
{
	__u64 *v = bpf_map_lookup_elem(&losses, &reason);
	if (v)
		*v += 1;
}

#define ENOSPCD_THREAD_SIZE 16384 /* THREAD_SIZE on x86_64 and arm64 (4 KiB pages), without KASAN */

#if defined(__TARGET_ARCH_x86)
static __always_inline long syscall_nr_of(struct pt_regs *regs)
{
	return BPF_CORE_READ(regs, orig_ax);
}
#elif defined(__TARGET_ARCH_arm64)
static __always_inline long syscall_nr_of(struct pt_regs *regs)
{
	return BPF_CORE_READ(regs, syscallno);
}
#else
#error "unsupported architecture"
#endif

/* The current task's saved user registers, at the top of its kernel stack (bpf_task_pt_regs() since v5.15, else
 * where task_pt_regs() finds them): what a syscall's entry function is given. */
static __always_inline struct pt_regs *current_user_regs(struct task_struct *task)
{
	if (bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_task_pt_regs))
		return (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	return (struct pt_regs *)((__u64)BPF_CORE_READ(task, stack) + ENOSPCD_THREAD_SIZE -
				  bpf_core_type_size(struct pt_regs));
}

/* The number of the syscall the current task is in. */
static __always_inline long current_syscall_nr(struct task_struct *task)
{
	return syscall_nr_of(current_user_regs(task));
}

/* Per-thread chains of origin functions that returned the watched error. Shared by fd reuse. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct enospcd_chain);
} chains SEC(".maps");

/*
 * Number of chains that exist. The gate only looks up per-thread state while this is non-zero, so
 * a host whose origins never fire pays one load and one compare per syscall exit.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __s64);
} chain_pending SEC(".maps");

static __always_inline __s64 *pending_counter(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&chain_pending, &zero);
}

/* Removes the thread's chain, if it has one, as discarded: its syscall ended without the watched error. */
static __always_inline void discard_chain(__u32 tid)
{
	__s64 *pending = pending_counter();
	if (!pending || *pending <= 0)
		return;
	if (bpf_map_delete_elem(&chains, &tid) == 0) {
		__sync_fetch_and_add(pending, -1);
		count_loss(ENOSPCD_LOSS_CHAIN_DISCARDED);
	}
}

#ifdef ENOSPCD_PERCPU_SUM
/* One value per CPU. Its addresses, the per-CPU one the map keeps (struct bpf_array::pptrs) and each CPU's copy
 * (bpf_map_lookup_percpu_elem), give each CPU's per-CPU offset, which turns any __percpu pointer read from a
 * kernel structure into that CPU's copy. The value also holds a pointer while it is turned into a number. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} cpu_anchor SEC(".maps");

#define ENOSPCD_MAX_CPUS 1024
#define ENOSPCD_DELTAS_UNKNOWN ((__s64)1 << 63)

/* Before v5.19: the kernel's __per_cpu_offset[] (from kallsyms, 0 when unknown) for CPUs 0..nr_possible_cpus-1.
 * In .bss: user space sets the address once /proc/kallsyms has been read, after the gate is attached. */
volatile __u64 per_cpu_offset_addr = 0;
volatile __u32 nr_possible_cpus = 0;

/* A pointer as a number: stored into map memory and loaded back (the verifier keeps pointer types on the stack). */
static __always_inline __u64 address_of(volatile __u64 *slot, const void *p)
{
	*slot = (__u64)p;
	return *slot;
}

/*
 * What percpu_counter_sum() adds to a percpu_counter's folded count: each CPU's delta not yet folded in (up to
 * a batch per CPU, which on a small tmpfs can be all of it). `counters` is the counter's __percpu s32 array.
 * ENOSPCD_DELTAS_UNKNOWN where a copy cannot be read: before v5.19 (no bpf_map_lookup_percpu_elem) on a kernel
 * whose kallsyms lists no __per_cpu_offset, or more CPUs than this walks. A global function: the verifier checks its loop once, not once per caller (a loop, not
 * bpf_loop(), whose callback v5.10 cannot load even where it is never called).
 */
__noinline __s64 percpu_deltas(__u64 counters)
{
	__u32 zero = 0;
	if (!counters)
		return ENOSPCD_DELTAS_UNKNOWN;
	if (!bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_map_lookup_percpu_elem)) {
		/* Each CPU's offset from __per_cpu_offset[], where kallsyms lists it. */
		__u64 offsets = per_cpu_offset_addr;
		__u32 n = nr_possible_cpus;
		if (!offsets || !n || n > ENOSPCD_MAX_CPUS)
			return ENOSPCD_DELTAS_UNKNOWN;
		__s64 sum = 0;
		for (__u32 cpu = 0; cpu < ENOSPCD_MAX_CPUS && cpu < n; cpu++) {
			__u64 offset = 0;
			__s32 delta = 0;
			if (bpf_probe_read_kernel(&offset, sizeof(offset), (const void *)(offsets + cpu * sizeof(__u64))) ||
			    bpf_probe_read_kernel(&delta, sizeof(delta), (const void *)(counters + offset)))
				return ENOSPCD_DELTAS_UNKNOWN;
			sum += delta;
		}
		return sum;
	}
	volatile __u64 *slot = bpf_map_lookup_elem(&cpu_anchor, &zero);
	if (!slot)
		return ENOSPCD_DELTAS_UNKNOWN;
	__u64 pptr = 0;
	__u64 map = address_of(slot, &cpu_anchor);
	if (bpf_probe_read_kernel(&pptr, sizeof(pptr),
				  (const void *)(map + bpf_core_field_offset(struct bpf_array, pptrs))) || !pptr)
		return ENOSPCD_DELTAS_UNKNOWN;
	__s64 sum = 0;
	for (__u32 cpu = 0; cpu < ENOSPCD_MAX_CPUS; cpu++) {
		const void *copy = bpf_map_lookup_percpu_elem(&cpu_anchor, &zero, cpu);
		if (!copy)
			return sum; /* past nr_cpu_ids: every CPU is counted */
		__s32 delta = 0;
		if (bpf_probe_read_kernel(&delta, sizeof(delta), (const void *)(counters + address_of(slot, copy) - pptr)))
			return ENOSPCD_DELTAS_UNKNOWN;
		sum += delta;
	}
	return ENOSPCD_DELTAS_UNKNOWN;
}
#endif

/* A percpu_counter as percpu_counter_sum() counts it, where every CPU's delta can be read; *exact is cleared
 * where it cannot (the folded count alone). */
static __always_inline __s64 counter_sum(struct percpu_counter *c, bool *exact)
{
	__s64 v = BPF_CORE_READ(c, count);
#ifdef ENOSPCD_PERCPU_SUM
	__s64 deltas = percpu_deltas((__u64)BPF_CORE_READ(c, counters));
	if (deltas != ENOSPCD_DELTAS_UNKNOWN)
		return v + deltas;
#endif
	*exact = false;
	return v;
}

/* ext4's space and inodes as ext4_statfs() counts them, at this moment: what refused a write or a new inode. */
static __noinline void fill_ext4(struct enospcd_file_info *f, struct super_block *sb)
{
	struct ext4_sb_info *sbi = BPF_CORE_READ(sb, s_fs_info);
	struct ext4_super_block *es = sbi ? BPF_CORE_READ(sbi, s_es) : NULL;
	if (!es)
		return;
	__u32 bits = BPF_CORE_READ(sbi, s_cluster_bits);
	if (bits > 16)
		return;
	__u64 blocks = BPF_CORE_READ(es, s_blocks_count_lo), reserved = BPF_CORE_READ(es, s_r_blocks_count_lo);
	if (BPF_CORE_READ(es, s_feature_incompat) & EXT4_FEATURE_INCOMPAT_64BIT) {
		blocks |= (__u64)BPF_CORE_READ(es, s_blocks_count_hi) << 32;
		reserved |= (__u64)BPF_CORE_READ(es, s_r_blocks_count_hi) << 32;
	}
	bool exact = true;
	__s64 free = counter_sum(&sbi->s_freeclusters_counter, &exact) - counter_sum(&sbi->s_dirtyclusters_counter, &exact);
	__s64 ifree = counter_sum(&sbi->s_freeinodes_counter, &exact);
	__s64 resv = BPF_CORE_READ(sbi, s_resv_clusters.counter);
	__u64 overhead = (__u64)BPF_CORE_READ(sbi, s_overhead) << bits;
	f->ext4_blocks = blocks > overhead ? blocks - overhead : 0;
	f->ext4_free_blocks = free > 0 ? (__u64)free << bits : 0;
	f->ext4_reserved_blocks = reserved + (resv > 0 ? (__u64)resv << bits : 0);
	f->ext4_inodes = BPF_CORE_READ(es, s_inodes_count);
	f->ext4_free_inodes = ifree > 0 ? ifree : 0;
	f->ext4_block_size = BPF_CORE_READ(sb, s_blocksize);
	f->flags |= ENOSPCD_FI_EXT4 | (exact ? ENOSPCD_FI_EXT4_SUMMED : 0);
}

/* Describe an inode: superblock, fs type, and for tmpfs its inode and block accounting as they are now. `vmnt`
 * (the mount it was reached through) names the mount point, which tells apart filesystems that reuse a device
 * number after an unmount. Returns false when the inode has no superblock. */
static __always_inline bool fill_inode_info(struct enospcd_file_info *f, struct inode *inode,
					    const unsigned char *fname, struct vfsmount *vmnt)
{
	if (vmnt) {
		/* struct mount embeds the vfsmount (real_mount() in fs/mount.h). */
		struct mount *m = (void *)vmnt - bpf_core_field_offset(struct mount, mnt);
		const unsigned char *mname = BPF_CORE_READ(m, mnt_mountpoint, d_name.name);
		if (mname)
			bpf_probe_read_kernel_str(f->mnt_name, sizeof(f->mnt_name), mname);
	}
	struct super_block *sb = BPF_CORE_READ(inode, i_sb);
	if (!sb)
		return false;
	f->dev = BPF_CORE_READ(sb, s_dev);
	f->magic = BPF_CORE_READ(sb, s_magic);
	f->ino = BPF_CORE_READ(inode, i_ino);
	f->mode = BPF_CORE_READ(inode, i_mode);
	f->rdev = BPF_CORE_READ(inode, i_rdev);
	const char *fstype = BPF_CORE_READ(sb, s_type, name);
	if (fstype)
		bpf_probe_read_kernel_str(f->fstype, sizeof(f->fstype), fstype);
	if (fname)
		bpf_probe_read_kernel_str(f->name, sizeof(f->name), fname);
	if (f->magic == TMPFS_MAGIC) {
		struct shmem_sb_info *si = BPF_CORE_READ(sb, s_fs_info);
		if (si) {
			f->shmem_max_blocks = BPF_CORE_READ(si, max_blocks);
			bool exact = true;
			__s64 used = counter_sum(&si->used_blocks, &exact);
			if (exact)
				f->flags |= ENOSPCD_FI_USED_SUMMED;
			f->shmem_used_blocks = used < 0 ? 0 : used;
			f->shmem_max_inodes = BPF_CORE_READ(si, max_inodes);
			f->shmem_free_inodes = shmem_free_inodes(si);
		}
	} else if (f->magic == EXT4_SUPER_MAGIC) {
		fill_ext4(f, sb);
	}
	return true;
}

#endif /* ENOSPCD_COMMON_BPF_H */
