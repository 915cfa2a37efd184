#!/usr/bin/env bash
# Smoke test of the VM harness: boots each kernel with a payload (vmprobe built from vmprobe.c, bpftool, mke2fs)
# and runs selftest-scenario.sh in it: uname, BTF, bpftool program types, kallsyms/ftrace/BTF of the ENOSPC
# origin candidates, kretprobes seeing -ENOSPC from real tmpfs/mount-max/ext4 triggers, loop-mounted ext4.
#
# Usage: selftest.sh [--cache DIR] [--log-dir DIR] [--timeout SEC] [KERNEL...]   (default: 5.10 6.1 6.12)
# Exit codes: 0 all passed; 77 skipped (no qemu, or kernels not cached and no network), with the reason printed;
# otherwise the number of failed kernels (1..3).
set -euo pipefail
export LC_ALL=C

readonly EX_SKIP=77 EX_NONET=75 EX_UNAVAILABLE=69
prog=${0##*/}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

cache_args=()
log_dir=${TMPDIR:-/tmp}
timeout=420
kernels=()
while (($#)); do
  case $1 in
    --cache) cache_args=(--cache "$2"); shift 2 ;;
    --log-dir) log_dir=$2; shift 2 ;;
    --timeout) timeout=$2; shift 2 ;;
    -h|--help) sed -n '/^# Usage:/,/^# otherwise/s/^# \{0,1\}//p' "$0"; exit 0 ;;
    -*) echo "$prog: unknown option $1" >&2; exit 2 ;;
    *) kernels+=("$1"); shift ;;
  esac
done
((${#kernels[@]})) || kernels=(5.10 6.1 6.12)

skip() { echo "$prog: SKIP: $*"; exit "$EX_SKIP"; }
command -v "${QEMU:-qemu-system-x86_64}" >/dev/null ||
  skip "qemu-system-x86_64 not installed (apt-get install qemu-system-x86 busybox-static cpio)"
bpftool=$(command -v bpftool || echo /usr/sbin/bpftool)
[[ -x $bpftool ]] || { echo "$prog: error: bpftool not found (apt-get install bpftool)" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/enospcd-vm-selftest.XXXXXX")
trap 'rm -rf "$work"' EXIT
payload=$work/payload
mkdir -p "$payload/bin" "$payload/sbin" "$payload/etc" "$log_dir"

"${CC:-cc}" -O2 -g -Wall -Wextra -Werror -o "$payload/bin/vmprobe" "$here/vmprobe.c" ||
  { echo "$prog: error: cannot compile vmprobe.c with ${CC:-cc}" >&2; exit 1; }
cp "$bpftool" "$payload/bin/bpftool"
if mke2fs=$(command -v mke2fs || command -v mkfs.ext4); then
  cp "$mke2fs" "$payload/sbin/mke2fs"
  [[ ! -f /etc/mke2fs.conf ]] || cp /etc/mke2fs.conf "$payload/etc/mke2fs.conf"
else
  echo "$prog: note: mke2fs not found on the host, the loop/ext4 check is skipped (apt-get install e2fsprogs)"
fi

failed=()
skipped=()
for k in "${kernels[@]}"; do
  echo "=== $prog: kernel $k"
  log=$log_dir/vm-selftest-$k.log
  rc=0
  "$here/run-vm.sh" --kernel "$k" ${cache_args[@]+"${cache_args[@]}"} --payload "$payload" \
    --script "$here/selftest-scenario.sh" --timeout "$timeout" --log "$log" || rc=$?
  case $rc in
    0) echo "=== $prog: kernel $k: PASS" ;;
    "$EX_NONET") skipped+=("$k"); echo "=== $prog: kernel $k: SKIP (kernel not cached and the Debian mirror is unreachable)" ;;
    "$EX_UNAVAILABLE") skipped+=("$k"); echo "=== $prog: kernel $k: SKIP (a host tool is missing, see above)" ;;
    *)
      failed+=("$k")
      echo "=== $prog: kernel $k: FAIL (exit $rc), log $log"
      grep -a '^FAIL ' "$log" | sed 's/^/    /' || true
      ;;
  esac
done

if ((${#failed[@]})); then
  echo "$prog: failed on: ${failed[*]}"
  exit "${#failed[@]}"
fi
if ((${#skipped[@]} == ${#kernels[@]})); then
  skip "no kernel could be run (${skipped[*]}): see the reasons above"
fi
((${#skipped[@]} == 0)) || echo "$prog: note: skipped ${skipped[*]}"
echo "$prog: all passed (${kernels[*]})"
