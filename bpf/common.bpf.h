/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Maps, settings and helpers shared by the gate and origin programs. */
#ifndef ENOSPCD_COMMON_BPF_H
#define ENOSPCD_COMMON_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "enospcd/abi.h"

#ifndef likely
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#endif

#define AT_FDCWD -100 /* include/uapi/linux/fcntl.h */
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

#endif /* ENOSPCD_COMMON_BPF_H */
