// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Origin probes: on return from a kernel function known to produce ENOSPC, append (function, return value,
 * time) to the current thread's chain when it returned the watched error. The gate consumes the chain when
 * the syscall fails, and discards it otherwise.
 *
 * One body serves every target. A program slot per target is needed because kernels before v5.15 have
 * neither bpf_get_func_ip() in fexit nor attach cookies, so the slot number is how a probe knows which
 * function it is on; the loader assigns targets to slots with bpf_program__set_attach_target() (fexit) or
 * attaches the kretprobe slot to the function by name.
 */
#include "common.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Per slot: how the return value signals failure (enum enospcd_ret_kind) and, for fexit, its position. */
const volatile __u8 slot_ret_kind[ENOSPCD_ORIGIN_MAX] = {};
const volatile __u8 slot_nargs[ENOSPCD_ORIGIN_MAX] = {};
/* Maps a slot to the loader's origin id (reported in chain links). */
const volatile __u32 slot_origin_id[ENOSPCD_ORIGIN_MAX] = {};
const volatile __u32 capture_stack = 1;
/* Set by the loader for kretprobes where the kernel cannot unwind through their return trampoline (x86 before
 * v5.14): the way out is then found by scanning the stack for return addresses. */
const volatile __u32 scan_kret_stack = 0;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct enospcd_chain);
} chain_scratch SEC(".maps");

#define MAX_ERRNO 4095

#if defined(__TARGET_ARCH_x86)
#define SCAN_WORDS 64  /* one read of the stack */
#define SCAN_READS 16  /* up to 8 KiB above the stack pointer */
#define KERNEL_TEXT_START 0xffffffff80000000ULL /* the kernel image, then modules, to the fixmap */
#define KERNEL_TEXT_END 0xffffffffff000000ULL

struct scan_buf {
	__u64 w[SCAN_WORDS];
	__u64 skip; /* words of w[] already scanned */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scan_buf);
} scan_scratch SEC(".maps");

/* Whether addr follows a call instruction: `call rel32` (retpoline thunks included), or `call *%reg`. */
static __always_inline bool after_call(__u64 addr)
{
	__u8 insn[5];
	if (bpf_probe_read_kernel(insn, sizeof(insn), (const void *)(addr - sizeof(insn))))
		return false;
	return insn[0] == 0xe8 || (insn[3] == 0xff && (insn[4] & 0xf8) == 0xd0) ||
	       (insn[2] == 0x41 && insn[3] == 0xff && (insn[4] & 0xf8) == 0xd0);
}

/*
 * The callers of a function that just returned through a kretprobe trampoline, on a kernel that cannot unwind
 * past it: the words from the stack pointer up to the saved user registers at the top of the task's stack that
 * point right after a call instruction in kernel text, innermost first. Like the kernel's own "?" frames, one
 * may be stale (a return address left in a live frame's unused slot); user registers are not scanned. A global
 * function: the verifier checks the loop once.
 */
__noinline int scan_stack(__u64 sp, __u64 stack, __u32 tid)
{
	__u32 zero = 0;
	struct enospcd_chain *c = bpf_map_lookup_elem(&chains, &tid);
	struct scan_buf *b = bpf_map_lookup_elem(&scan_scratch, &zero);
	if (!c || !b || !stack || sp <= stack)
		return 0;
	__u64 top = stack + ENOSPCD_THREAD_SIZE - bpf_core_type_size(struct pt_regs);
	/* The count and the words to skip live in the map value, so the verifier does not tell states apart by
	 * what a comparison with them taught it: one pass per word, not one per word and value. */
	c->outer_stack_len = 0;
	c->outer_scanned = 1;
	for (__u32 r = 0; r < SCAN_READS; r++) {
		__u64 want = sp + r * sizeof(b->w);
		if (want >= top)
			break;
		/* The last read ends where the user registers begin; the words it holds again are skipped. */
		__u64 at = want + sizeof(b->w) > top ? top - sizeof(b->w) : want;
		if (bpf_probe_read_kernel(b->w, sizeof(b->w), (const void *)at))
			break;
		b->skip = (want - at) / sizeof(__u64);
		for (__u32 i = 0; i < SCAN_WORDS; i++) {
			__u64 a = b->w[i];
			if (i < *(volatile __u64 *)&b->skip || a < KERNEL_TEXT_START || a >= KERNEL_TEXT_END || !after_call(a))
				continue;
			__u16 k = c->outer_stack_len;
			if (k >= ENOSPCD_STACK_MAX)
				return k;
			c->outer_stack[k & (ENOSPCD_STACK_MAX - 1)] = a;
			c->outer_stack_len = k + 1;
		}
	}
	return c->outer_stack_len;
}
#endif

static __always_inline bool is_failure(__u8 kind, __u64 raw, __s64 *ret_out)
{
	__s64 ret;
	switch (kind) {
	case ENOSPCD_RET_INT:
		ret = (__s32)raw;
		*ret_out = ret;
		return errno_watched(ret);
	case ENOSPCD_RET_LONG:
	case ENOSPCD_RET_ERR_PTR:
		ret = (__s64)raw;
		*ret_out = ret;
		return ret < 0 && ret >= -MAX_ERRNO && errno_watched(ret);
	case ENOSPCD_RET_PTR_NULL:
		ret = (__s64)raw;
		*ret_out = ret;
		return raw == 0 || (ret < 0 && ret >= -MAX_ERRNO && errno_watched(ret));
	case ENOSPCD_RET_BOOL:
		*ret_out = raw & 0xff;
		return (raw & 0xff) == 0;
	default:
		return false;
	}
}

/*
 * Inside a path walk (open(2) and its relatives; not mkdir(2), link(2) and mknod(2), whose walk ends before the
 * filesystem is called) the task's nameidata holds the directory being created in: the filesystem that
 * refused, whose numbers are read now, at the failure. An absolute path gives the gate nothing else to read.
 */
static __always_inline void capture_dir(struct enospcd_chain *c, struct task_struct *task)
{
	struct nameidata *nd = BPF_CORE_READ(task, nameidata);
	if (!nd)
		return;
	struct dentry *d = BPF_CORE_READ(nd, path.dentry);
	if (!d)
		return;
	if (fill_inode_info(&c->dir, BPF_CORE_READ(d, d_inode), BPF_CORE_READ(d, d_name.name),
			    BPF_CORE_READ(nd, path.mnt)))
		c->has_dir = 1;
}

static __always_inline int record(void *ctx, __u32 slot, __u64 raw, bool kret)
{
	__s64 ret = 0;
	if (slot >= ENOSPCD_ORIGIN_MAX || !is_failure(slot_ret_kind[slot], raw, &ret))
		return 0;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	/* Kernel threads (writeback, workers) never return to a syscall that would consume the chain. */
	if (BPF_CORE_READ(task, flags) & ENOSPCD_PF_KTHREAD)
		return 0;

	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct enospcd_chain *c = bpf_map_lookup_elem(&chains, &tid);
	if (!c) {
		__u32 zero = 0;
		struct enospcd_chain *fresh = bpf_map_lookup_elem(&chain_scratch, &zero);
		if (!fresh)
			return 0;
		fresh->len = 0;
		fresh->stack_len = 0;
		fresh->has_dir = 0;
		fresh->dropped = 0;
		fresh->outer_stack_len = 0;
		fresh->outer_scanned = 0;
		long nr = current_syscall_nr(task);
		fresh->syscall_nr = nr >= 0 && nr < ENOSPCD_CHAIN_NR_UNKNOWN ? (__u16)nr : ENOSPCD_CHAIN_NR_UNKNOWN;
		if (bpf_map_update_elem(&chains, &tid, fresh, BPF_NOEXIST)) {
			count_loss(ENOSPCD_LOSS_CHAIN_MAP_FULL);
			return 0;
		}
		__s64 *pending = pending_counter();
		if (pending)
			__sync_fetch_and_add(pending, 1);
		c = bpf_map_lookup_elem(&chains, &tid);
		if (!c)
			return 0;
	}
	__u32 id = slot_origin_id[slot];
	__u16 len = c->len;
	/* A function that already returned the error in this syscall returns it again: a retry (ext4 commits the
	 * journal and allocates again; shmem tries a huge page, then a small one). Its link counts the returns, so
	 * the chain still reaches out to the callers. */
#pragma unroll
	for (int i = 0; i < ENOSPCD_CHAIN_MAX; i++) {
		if (i >= len)
			break;
		if (c->links[i].origin_id == id) {
			c->links[i].repeats++;
			return 0;
		}
	}
	__u32 at = len;
	if (len >= ENOSPCD_CHAIN_MAX) {
		/* Full: the innermost half stays (where the error was made), the outer half slides outwards (where
		 * the call came from), and the links dropped between them are counted. */
#pragma unroll
		for (int i = ENOSPCD_CHAIN_MAX / 2; i < ENOSPCD_CHAIN_MAX - 1; i++)
			c->links[i] = c->links[i + 1];
		at = ENOSPCD_CHAIN_MAX - 1;
		c->dropped++;
		count_loss(ENOSPCD_LOSS_CHAIN_OVERFLOW);
	} else {
		c->len = len + 1;
	}
	struct enospcd_chain_link *l = &c->links[at & (ENOSPCD_CHAIN_MAX - 1)];
	l->ret = ret;
	l->ktime_ns = bpf_ktime_get_ns();
	l->origin_id = id;
	l->repeats = 0;
	if (len == 0) {
		/* The innermost failing function's stack shows the whole path, inlined callers included. */
		if (capture_stack) {
			long n = bpf_get_stack(ctx, c->kstack, sizeof(c->kstack), 0);
			c->stack_len = n > 0 ? n / sizeof(__u64) : 0;
		}
		capture_dir(c, task);
	}
#if defined(__TARGET_ARCH_x86)
	if (kret && scan_kret_stack && capture_stack) {
		/* The unwound stack stops at the trampoline: the callers are found on the stack itself, from each
		 * failing link out (the outermost one's scan is kept). */
		scan_stack(PT_REGS_SP((struct pt_regs *)ctx), (__u64)BPF_CORE_READ(task, stack), tid);
		return 0;
	}
#endif
	if (len != 0 && capture_stack) {
		/* The outermost one's callers: where kretprobes cut the innermost stack short (before v5.14 the
		 * kernel cannot unwind through a probed caller's return trampoline), the path goes on from here. */
		long n = bpf_get_stack(ctx, c->outer_stack, sizeof(c->outer_stack), 0);
		c->outer_stack_len = n > 0 ? n / sizeof(__u64) : 0;
		c->outer_scanned = 0;
	}
	return 0;
}

/*
 * fexit: the return value follows the arguments in the context. Each load is its own instruction with a
 * constant offset (the verifier refuses ctx loads through a computed pointer, which is what the compiler
 * makes of a switch over plain ctx[n] loads); the slot's argument count is fixed in .rodata, so the
 * verifier only walks the one live case.
 */
#define CTX_LOAD(n)                                                                          \
	asm volatile("%[r] = *(u64 *)(%[c] + %[o])" : [r] "=r"(raw) : [c] "r"(ctx), [o] "i"((n) * 8))

static __always_inline int on_fexit(__u64 *ctx, __u32 slot)
{
	__u64 raw;
	switch (slot_nargs[slot]) {
	case 0: CTX_LOAD(0); break;
	case 1: CTX_LOAD(1); break;
	case 2: CTX_LOAD(2); break;
	case 3: CTX_LOAD(3); break;
	case 4: CTX_LOAD(4); break;
	case 5: CTX_LOAD(5); break;
	case 6: CTX_LOAD(6); break;
	default: return 0;
	}
	return record(ctx, slot, raw, false);
}

#define ORIGIN_SLOT(n)                                                  \
	SEC("?fexit")                                                   \
	int origin_fexit_##n(__u64 *ctx) { return on_fexit(ctx, n); }  \
	SEC("?kretprobe")                                               \
	int origin_kret_##n(struct pt_regs *ctx) { return record(ctx, n, PT_REGS_RC(ctx), true); }

#define ORIGIN_SLOTS8(b)                                                          \
	ORIGIN_SLOT(b##0) ORIGIN_SLOT(b##1) ORIGIN_SLOT(b##2) ORIGIN_SLOT(b##3)   \
	ORIGIN_SLOT(b##4) ORIGIN_SLOT(b##5) ORIGIN_SLOT(b##6) ORIGIN_SLOT(b##7)

ORIGIN_SLOT(0) ORIGIN_SLOT(1) ORIGIN_SLOT(2) ORIGIN_SLOT(3)
ORIGIN_SLOT(4) ORIGIN_SLOT(5) ORIGIN_SLOT(6) ORIGIN_SLOT(7)
ORIGIN_SLOT(8) ORIGIN_SLOT(9)
ORIGIN_SLOTS8(1) ORIGIN_SLOT(18) ORIGIN_SLOT(19)
ORIGIN_SLOTS8(2) ORIGIN_SLOT(28) ORIGIN_SLOT(29)
ORIGIN_SLOTS8(3) ORIGIN_SLOT(38) ORIGIN_SLOT(39)
ORIGIN_SLOTS8(4)
ORIGIN_SLOT(48) ORIGIN_SLOT(49) ORIGIN_SLOT(50) ORIGIN_SLOT(51)
ORIGIN_SLOT(52) ORIGIN_SLOT(53) ORIGIN_SLOT(54) ORIGIN_SLOT(55)
