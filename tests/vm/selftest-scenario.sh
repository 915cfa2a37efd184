#!/bin/sh
# Guest side of selftest.sh (busybox sh, cwd /payload). Checks what the daemon's VM tests will rely on and
# prints the kernel facts they depend on. Lines: "PASS ...", "FAIL ...", "INFO ...", "FUNC ...", "CHAIN ...".
# Exit status: number of failed checks (0 = all passed).
fails=0
pass() { echo "PASS $*"; }
fail() { echo "FAIL $*"; fails=$((fails + 1)); }
info() { echo "INFO $*"; }
t0=$(cut -d ' ' -f 1 /proc/uptime)
elapsed() { awk -v a="$t0" -v b="$(cut -d ' ' -f 1 /proc/uptime)" 'BEGIN { printf "%.1f", b - a }'; }

# --- kernel identity and a dynamically linked payload program -----------------------------------------------
release=$(uname -r)
if [ "$release" = "${ENOSPCD_VM_RELEASE:-}" ]; then pass "uname -r is $release"; else fail "uname -r is '$release', expected '${ENOSPCD_VM_RELEASE:-}'"; fi
probe_release=$(vmprobe release 2>&1)
if [ "$probe_release" = "$release" ]; then pass "dynamically linked vmprobe runs (uname: $probe_release)"; else fail "vmprobe release: $probe_release"; fi

# --- BPF: BTF and program types -----------------------------------------------------------------------------
if [ -r /sys/kernel/btf/vmlinux ]; then
  pass "/sys/kernel/btf/vmlinux exists ($(wc -c </sys/kernel/btf/vmlinux) bytes)"
else
  fail "/sys/kernel/btf/vmlinux missing"
fi
bpftool feature probe kernel >/tmp/features.txt 2>/tmp/features.err || fail "bpftool feature probe kernel: $(tail -n 3 /tmp/features.err)"
grep -E 'program_type (tracing|kprobe|raw_tracepoint|tracepoint) is' /tmp/features.txt | sed 's/^/INFO bpftool: /'
for t in tracing kprobe; do
  if grep -q "program_type $t is available" /tmp/features.txt; then pass "program_type $t available"; else fail "program_type $t not available"; fi
done
grep -E "map_type ringbuf is" /tmp/features.txt | sed 's/^/INFO bpftool: /'
for f in /sys/kernel/tracing/kprobe_events /sys/kernel/tracing/available_filter_functions /sys/kernel/tracing/events/syscalls/sys_exit_mount; do
  if [ -e "$f" ]; then pass "$f present"; else fail "$f missing"; fi
done
info "machine $(uname -m): $(grep -c . /sys/kernel/tracing/available_filter_functions) functions in available_filter_functions"

# --- ENOSPC origin candidates: kallsyms, ftrace (fentry/fexit need it) and BTF (fexit needs a BTF FUNC) ---------
# Mount path, tmpfs inode/block accounting (names differ by kernel), a few ext4 allocators. Functions returning
# void (shmem_free_inode, shmem_inode_unacct_blocks) are listed for their existence only.
funcs="path_mount do_new_mount do_add_mount graft_tree attach_recursive_mnt count_mounts do_mount_setattr
  shmem_reserve_inode shmem_free_inode shmem_get_inode __shmem_get_inode shmem_mknod
  shmem_inode_acct_block shmem_inode_acct_blocks shmem_inode_unacct_blocks shmem_acct_block
  shmem_get_folio_gfp shmem_getpage_gfp shmem_fill_super __ext4_new_inode ext4_da_reserve_space"
# One read of each source: /proc/kallsyms and the BTF dump are slow to produce under emulation.
cat /proc/kallsyms >/tmp/kallsyms
cat /sys/kernel/tracing/available_filter_functions >/tmp/ftrace_funcs
bpftool btf dump file /sys/kernel/btf/vmlinux format raw 2>/dev/null | sed -n "s/^\[[0-9]*\] FUNC '\([^']*\)'.*/\1/p" >/tmp/btf_funcs
# A static function may exist only as compiler clones (name.isra.0, name.constprop.0): all are listed, and the
# first non-.cold one is what the kretprobes below attach to.
awk -v list="$funcs" '
  BEGIN { n = split(list, want, /[ \t\n]+/); for (i = 1; i <= n; i++) if (want[i] != "") w[want[i]] = 1 }
  FILENAME == "/tmp/kallsyms" {
    if ($4 != "") next # module symbols
    base = $3; sub(/\..*/, "", base)
    if (!(base in w)) next
    if (nks[base]++) ks[base] = ks[base] ","
    ks[base] = ks[base] $3 "(" $2 ")"
    if (!(base in probe) && $3 !~ /\.cold/) probe[base] = $3
    next
  }
  FILENAME == "/tmp/ftrace_funcs" { base = $1; sub(/\..*/, "", base); if (base in w) ft[base] = "yes"; next }
  { if ($1 in w) bt[$1] = "yes" }
  END {
    for (i = 1; i <= n; i++) {
      f = want[i]
      if (f == "") continue
      printf "FUNC %s kallsyms=%s ftrace=%s btf=%s\n", f, (f in ks) ? ks[f] : "no", (f in ft) ? "yes" : "no", (f in bt) ? "yes" : "no"
      if ((f in probe) && f !~ /^(shmem_free_inode|shmem_inode_unacct_blocks)$/) print probe[f] >"/tmp/probe_syms"
    }
  }' /tmp/kallsyms /tmp/ftrace_funcs /tmp/btf_funcs
grep -E ' (count_mounts|do_add_mount|path_mount|shmem_reserve_inode|shmem_inode_acct_block|shmem_inode_acct_blocks|shmem_acct_block)$' \
  /tmp/kallsyms | sed 's/^/INFO kallsyms: /'
info "function table done at +$(elapsed)s"

# --- kretprobes on the candidates, then real ENOSPC triggers ------------------------------------------------
tr=/sys/kernel/tracing
probed=""
echo >$tr/kprobe_events
touch /tmp/probe_syms
for sym in $(cat /tmp/probe_syms); do
  if echo "r:vmtest/$(echo "$sym" | tr . _) $sym ret=\$retval:s32" >>$tr/kprobe_events 2>/dev/null; then
    probed="$probed $sym"
  else
    info "kretprobe on $sym refused"
  fi
done
info "kretprobes:$probed"
echo 1 >$tr/events/vmtest/enable 2>/dev/null || fail "cannot enable kretprobe events"
echo >$tr/trace

# Each trigger runs in its own step; the trace shows which probed functions returned -28 (ENOSPC).
chain() { # step name: the functions that returned -ENOSPC since the last call, in order of first return
          # (innermost first), then clear the trace
  c=$(grep -oE '<- [a-z_0-9.]+\) ret=-28' $tr/trace | sed 's/^<- \([^)]*\)).*/\1/' |
    awk '{ if (!($0 in n)) order[++k] = $0; n[$0]++ }
         END { for (i = 1; i <= k; i++) printf "%s%s x%d", (i > 1 ? " -> " : ""), order[i], n[order[i]] }')
  echo "CHAIN $1: ${c:-none}"
  echo >$tr/trace
  [ -n "$c" ]
}

mkdir -p /mnt/inodes /mnt/blocks /mnt/mounts /mnt/ext4
if mount -t tmpfs -o nr_inodes=4 none /mnt/inodes; then
  pass "mount -t tmpfs -o nr_inodes=4"
  if out=$(vmprobe fill-inodes /mnt/inodes 2>&1); then pass "tmpfs inodes: $out"; else fail "tmpfs inodes: $out"; fi
  chain tmpfs-inodes || fail "no kretprobe saw -ENOSPC for tmpfs inodes"
  umount /mnt/inodes
else
  fail "mount -t tmpfs -o nr_inodes=4"
fi

if mount -t tmpfs -o size=64k none /mnt/blocks; then
  if out=$(vmprobe fill-blocks /mnt/blocks/f 2>&1); then pass "tmpfs blocks: $out"; else fail "tmpfs blocks: $out"; fi
  chain tmpfs-blocks || info "no probed function returned -ENOSPC for tmpfs blocks (bool/inlined accounting)"
  umount /mnt/blocks
else
  fail "mount -t tmpfs -o size=64k"
fi

old_max=$(sysctl -n fs.mount-max)
if sysctl -w fs.mount-max=40 >/dev/null && [ "$(sysctl -n fs.mount-max)" = 40 ]; then
  pass "sysctl -w fs.mount-max=40 (was $old_max, $(wc -l </proc/self/mountinfo) mounts now)"
  if out=$(vmprobe mount-until-fail /mnt/mounts 2>&1); then pass "mount-max: $out"; else fail "mount-max: $out"; fi
  chain mount-max || fail "no kretprobe saw -ENOSPC for fs.mount-max"
  sysctl -w fs.mount-max="$old_max" >/dev/null
else
  fail "sysctl -w fs.mount-max=40"
fi

# busybox sh runs its own applets before searching PATH (mke2fs is one): call the payload's by path.
# An arm64 payload has no mke2fs (the host's is x86-64): the host made the same file system, /payload/ext4.img.
ext4_img=
if [ -x /payload/sbin/mke2fs ]; then
  export MKE2FS_CONFIG=/payload/etc/mke2fs.conf
  if truncate -s 16M /tmp/ext4.img && /payload/sbin/mke2fs -q -F -t ext4 -N 64 /tmp/ext4.img >/tmp/mke2fs.out 2>&1; then
    ext4_img=/tmp/ext4.img
  else
    fail "mke2fs: $(cat /tmp/mke2fs.out)"
  fi
elif [ -f /payload/ext4.img ]; then
  if cp /payload/ext4.img /tmp/ext4.img; then ext4_img=/tmp/ext4.img; else fail "cp /payload/ext4.img /tmp/ext4.img"; fi
else
  info "mke2fs not in the payload: loop/ext4 check skipped"
fi
if [ -n "$ext4_img" ]; then
  if mount -t ext4 -o loop "$ext4_img" /mnt/ext4; then
    pass "loop-mounted ext4 ($(grep /mnt/ext4 /proc/mounts | cut -d ' ' -f 1))"
    if out=$(vmprobe fill-blocks /mnt/ext4/big 2>&1); then pass "ext4 blocks: $out"; else fail "ext4 blocks: $out"; fi
    chain ext4-blocks || true
    rm -f /mnt/ext4/big
    if out=$(vmprobe fill-inodes /mnt/ext4 2>&1); then pass "ext4 inodes: $out"; else fail "ext4 inodes: $out"; fi
    chain ext4-inodes || true
    umount /mnt/ext4
  else
    fail "mount -o loop ext4 (loop module: $(grep -c '^loop ' /proc/modules) loaded)"
  fi
fi

echo 0 >$tr/events/vmtest/enable 2>/dev/null
echo >$tr/kprobe_events
info "scenario took $(elapsed)s, $fails failed check(s)"
exit "$fails"
