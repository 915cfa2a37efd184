// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The floor of the hot-path benchmark: programs on the same syscall-exit hooks as the gate that do
 * nothing. Whatever they cost is what the kernel charges any syscall-exit tracer (the tracepoint's
 * slow path on every syscall, the BPF trampoline and program call); the gate's overhead is judged
 * against it. The loader autoloads one flavour per measurement.
 *
 * count_exits is not a floor: it counts the syscalls of one process (tar in the realistic workload)
 * in a calibration run, so that the workload's time can be divided by its number of syscalls.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("?tp_btf/sys_exit")
int BPF_PROG(floor_tp_btf, struct pt_regs *regs, long ret)
{
	return 0;
}

SEC("?raw_tp/sys_exit")
int BPF_PROG(floor_raw_tp, struct pt_regs *regs, long ret)
{
	return 0;
}

SEC("?tp/raw_syscalls/sys_exit")
int floor_tp(void *ctx)
{
	return 0;
}

/* tgid whose syscalls count_exits counts; written by the harness between fork and exec. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} count_tgid SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} exit_count SEC(".maps");

SEC("?raw_tp/sys_exit")
int BPF_PROG(count_exits, struct pt_regs *regs, long ret)
{
	__u32 zero = 0;
	__u32 *want = bpf_map_lookup_elem(&count_tgid, &zero);
	if (!want || *want != (__u32)(bpf_get_current_pid_tgid() >> 32))
		return 0;
	__u64 *n = bpf_map_lookup_elem(&exit_count, &zero);
	if (n)
		*n += 1;
	return 0;
}
