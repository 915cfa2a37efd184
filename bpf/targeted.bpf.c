// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Targeted mode: fexit on the entry function (__x64_sys_openat, __arm64_sys_write, ...) of each syscall that can
 * return a watched errno, in place of the gate on sys_exit, which makes every syscall of every thread take the
 * tracepoint's slow path. The loader assigns the entry functions to the slots (bpf_program__set_attach_target).
 * A slot tests the return value; a failure goes by tail call to the gate's failure program (gate.bpf.c), which
 * records what the gate records, so the failure path is verified once, not once per slot.
 */
#include "common.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

const volatile __u32 origins_enabled = 0; /* chains are discarded only when origin probes are attached */

/* The failure program for this object's prototype, at 0. */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} targeted_jump SEC(".maps");

static __always_inline int targeted(unsigned long long *ctx, long ret)
{
	if (likely(!errno_watched(ret))) {
		/* The syscall ended some other way: a chain its origins made must not reach a later event. */
		if (origins_enabled)
			discard_chain((__u32)bpf_get_current_pid_tgid());
		return 0;
	}
	bpf_tail_call(ctx, &targeted_jump, 0);
	count_loss(ENOSPCD_LOSS_UNCOUNTED); /* the failure program is not in place */
	return 0;
}

/* Only the return value is read (after the one argument): see targeted_failure. */
#define TARGETED_SLOT(n)                                                   \
	SEC("?fexit")                                                      \
	int targeted_##n(unsigned long long *ctx)                          \
	{                                                                  \
		return targeted(ctx, (long)ctx[1]);                        \
	}
#define TARGETED_SLOTS10(b)                                                       \
	TARGETED_SLOT(b##0) TARGETED_SLOT(b##1) TARGETED_SLOT(b##2) TARGETED_SLOT(b##3) \
	TARGETED_SLOT(b##4) TARGETED_SLOT(b##5) TARGETED_SLOT(b##6) TARGETED_SLOT(b##7) \
	TARGETED_SLOT(b##8) TARGETED_SLOT(b##9)

/* ENOSPCD_TARGETED_MAX (160) slots: targeted_0 .. targeted_159. */
TARGETED_SLOT(0) TARGETED_SLOT(1) TARGETED_SLOT(2) TARGETED_SLOT(3) TARGETED_SLOT(4)
TARGETED_SLOT(5) TARGETED_SLOT(6) TARGETED_SLOT(7) TARGETED_SLOT(8) TARGETED_SLOT(9)
TARGETED_SLOTS10(1) TARGETED_SLOTS10(2) TARGETED_SLOTS10(3) TARGETED_SLOTS10(4) TARGETED_SLOTS10(5)
TARGETED_SLOTS10(6) TARGETED_SLOTS10(7) TARGETED_SLOTS10(8) TARGETED_SLOTS10(9) TARGETED_SLOTS10(10)
TARGETED_SLOTS10(11) TARGETED_SLOTS10(12) TARGETED_SLOTS10(13) TARGETED_SLOTS10(14) TARGETED_SLOTS10(15)
