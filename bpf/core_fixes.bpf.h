/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Kernel differences, one helper per change, chosen by CO-RE field probes (never by version numbers).
 */
#ifndef ENOSPCD_CORE_FIXES_BPF_H
#define ENOSPCD_CORE_FIXES_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

/*
 * struct mnt_namespace counted its mounts in `mounts` until commit 2eea9ce4310d ("mounts: keep list of
 * mounts in an rbtree", v6.8), which renamed the counter to `nr_mounts`.
 */
struct mnt_namespace___old {
	unsigned int mounts;
} __attribute__((preserve_access_index));

struct mnt_namespace___new {
	unsigned int nr_mounts;
} __attribute__((preserve_access_index));

static __always_inline __u32 mnt_ns_mount_count(struct mnt_namespace *ns)
{
	struct mnt_namespace___new *n = (void *)ns;
	struct mnt_namespace___old *o = (void *)ns;

	if (bpf_core_field_exists(n->nr_mounts))
		return BPF_CORE_READ(n, nr_mounts);
	if (bpf_core_field_exists(o->mounts))
		return BPF_CORE_READ(o, mounts);
	return 0;
}

/*
 * kernfs_node::parent became __parent (RCU-protected) in commit 633488947ef6 ("kernfs: Use RCU to access
 * kernfs_node::parent.", v6.15). Only the name is needed here, which did not move.
 */

/*
 * shmem_sb_info::free_inodes became free_ispace, counted in BOGO_INODE_SIZE (1024) units so that xattrs use
 * inode space, in commit 2daf18a7884d ("tmpfs,xattr: enable limited user extended attributes", v6.6).
 */
struct shmem_sb_info___old {
	unsigned long max_inodes;
	unsigned long free_inodes;
} __attribute__((preserve_access_index));

struct shmem_sb_info___new {
	unsigned long max_inodes;
	unsigned long free_ispace;
} __attribute__((preserve_access_index));

#define ENOSPCD_BOGO_INODE_SIZE 1024

static __always_inline __u64 shmem_free_inodes(struct shmem_sb_info *sbinfo)
{
	struct shmem_sb_info___new *n = (void *)sbinfo;
	struct shmem_sb_info___old *o = (void *)sbinfo;

	if (bpf_core_field_exists(n->free_ispace))
		return BPF_CORE_READ(n, free_ispace) / ENOSPCD_BOGO_INODE_SIZE;
	if (bpf_core_field_exists(o->free_inodes))
		return BPF_CORE_READ(o, free_inodes);
	return 0;
}

/*
 * user_namespace::ucount_max[] and ucounts::ucount[] became long (from int) in commit f9c82a4ea89c ("Increase
 * size of ucounts to atomic_long_t", v5.14). The element size is the array's size over UCOUNT_COUNTS, both
 * taken from the running kernel's BTF. Reads element `which` of such an array of `total` bytes at `arr`.
 */
static __always_inline bool ucount_array_read(const void *arr, __u32 total, __u32 which, __s64 *out)
{
	__u32 counts = bpf_core_enum_value(enum ucount_type, UCOUNT_COUNTS);
	if (!counts || which >= counts)
		return false;
	if (total == counts * 8) {
		__s64 v = 0;
		if (bpf_probe_read_kernel(&v, sizeof(v), arr + which * 8))
			return false;
		*out = v;
		return true;
	}
	if (total == counts * 4) {
		__s32 v = 0;
		if (bpf_probe_read_kernel(&v, sizeof(v), arr + which * 4))
			return false;
		*out = v;
		return true;
	}
	return false;
}

/* A user namespace's limit of one count (user.max_*). */
static __always_inline bool userns_ucount_max(struct user_namespace *ns, __u32 which, __s64 *out)
{
	return ucount_array_read((void *)ns + bpf_core_field_offset(ns->ucount_max), bpf_core_field_size(ns->ucount_max),
				 which, out);
}

/* The count of one kind charged to a (user namespace, uid). */
static __always_inline bool ucounts_count(struct ucounts *uc, __u32 which, __s64 *out)
{
	return ucount_array_read((void *)uc + bpf_core_field_offset(uc->ucount), bpf_core_field_size(uc->ucount), which,
				 out);
}

/*
 * XFS is a module on most kernels: its types are in the module's BTF (/sys/kernel/btf/xfs, v5.11+), which
 * libbpf searches for CO-RE relocations when the module is loaded before the programs are. Where it is not
 * (v5.10, or xfs loaded later), bpf_core_type_exists() is 0 and the verifier drops the read. struct xfs_dquot
 * keeps a count's usage and limits together in struct xfs_dquot_res (q_blk, q_ino) since v5.9; the inode holds
 * its project's dquot in i_pdquot while it has its dquots attached (from its first change on).
 */
struct xfs_dquot_res___enospcd {
	__u64 reserved; /* used, plus what changes in flight hold */
	__u64 hardlimit;
} __attribute__((preserve_access_index));

struct xfs_dquot___enospcd {
	__u32 q_id;
	struct xfs_dquot_res___enospcd q_blk;
	struct xfs_dquot_res___enospcd q_ino;
} __attribute__((preserve_access_index));

struct xfs_inode___enospcd {
	struct xfs_dquot___enospcd *i_pdquot;
	struct inode i_vnode;
} __attribute__((preserve_access_index));

#define ENOSPCD_XFS_SB_MAGIC 0x58465342 /* fs/xfs/libxfs/xfs_format.h */

/* The project quota the XFS inode is charged to, false where this kernel's XFS types are not known or the inode
 * has no project dquot attached. */
static __always_inline bool xfs_project_quota(struct inode *inode, struct enospcd_project_quota *q)
{
	if (!bpf_core_type_exists(struct xfs_inode___enospcd) ||
	    !bpf_core_field_exists(struct xfs_dquot___enospcd, q_blk))
		return false;
	struct xfs_inode___enospcd *xi =
		(void *)inode - bpf_core_field_offset(struct xfs_inode___enospcd, i_vnode);
	struct xfs_dquot___enospcd *dq = BPF_CORE_READ(xi, i_pdquot);
	if (!dq)
		return false;
	q->id = BPF_CORE_READ(dq, q_id);
	q->blk_reserved = BPF_CORE_READ(dq, q_blk.reserved);
	q->blk_hardlimit = BPF_CORE_READ(dq, q_blk.hardlimit);
	q->ino_reserved = BPF_CORE_READ(dq, q_ino.reserved);
	q->ino_hardlimit = BPF_CORE_READ(dq, q_ino.hardlimit);
	q->blocksize = BPF_CORE_READ(inode, i_sb, s_blocksize);
	return true;
}

/*
 * The epoll watches a user holds, user_struct::epoll_watches, were an atomic_long_t until commit 1e1c15839df0
 * ("epoll: use percpu counter for user's watches count", v5.13), and a percpu_counter since: told apart by the
 * field's size. (Two structs match each other for CO-RE, so the local type serves both.)
 */
struct user_struct___enospcd {
	struct percpu_counter epoll_watches;
	kuid_t uid;
} __attribute__((preserve_access_index));

struct eventpoll___enospcd {
	struct user_struct___enospcd *user;
} __attribute__((preserve_access_index));

#endif /* ENOSPCD_CORE_FIXES_BPF_H */
