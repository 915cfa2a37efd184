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

#endif /* ENOSPCD_CORE_FIXES_BPF_H */
