#!/usr/bin/env bash
# Smoke test of the VM harness: boots each kernel with a payload (vmprobe built from vmprobe.c, bpftool, mke2fs)
# and runs selftest-scenario.sh in it: uname, BTF, bpftool program types, kallsyms/ftrace/BTF of the ENOSPC
# origin candidates, kretprobes seeing -ENOSPC from real tmpfs/mount-max/ext4 triggers, loop-mounted ext4.
# arm64 kernels (arm64-6.1, arm64-6.12) get an arm64 payload: vmprobe built with $CROSS_CC (default
# aarch64-linux-gnu-gcc, libraries from the host's libc6:arm64), the cache entry's arm64 bpftool, and instead of
# mke2fs an ext4 image made on the host with the same options.
#
# Usage: selftest.sh [--cache DIR] [--log-dir DIR] [--timeout SEC] [KERNEL...]   (default: 5.10 6.1 6.12)
# Exit codes: 0 all passed; 77 skipped (no qemu, or kernels not cached and no network), with the reason printed;
# otherwise the number of failed kernels (1 or more).
set -euo pipefail
export LC_ALL=C

readonly EX_SKIP=77 EX_NONET=75 EX_UNAVAILABLE=69
prog=${0##*/}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

cache_args=()
cache_dir=
log_dir=${TMPDIR:-/tmp}
timeout=420
kernels=()
while (($#)); do
  case $1 in
    --cache) cache_args=(--cache "$2"); cache_dir=$2; shift 2 ;;
    --log-dir) log_dir=$2; shift 2 ;;
    --timeout) timeout=$2; shift 2 ;;
    -h|--help) sed -n '/^# Usage:/,/^# otherwise/s/^# \{0,1\}//p' "$0"; exit 0 ;;
    -*) echo "$prog: unknown option $1" >&2; exit 2 ;;
    *) kernels+=("$1"); shift ;;
  esac
done
((${#kernels[@]})) || kernels=(5.10 6.1 6.12)

skip() { echo "$prog: SKIP: $*"; exit "$EX_SKIP"; }
# The architecture of each kernel, known before any download as run-vm.sh knows it: a directory's "arch" file,
# fetch-kernels.sh's arm64-* names. Its qemu must be there, else the selftest skips.
arch_of() {
  if [[ -d $1 ]]; then cat "$1/arch" 2>/dev/null || echo x86_64; elif [[ $1 == arm64-* ]]; then echo arm64; else echo x86_64; fi
}
need_x86=0
need_arm64=0
for k in "${kernels[@]}"; do
  if [[ $(arch_of "$k") == arm64 ]]; then need_arm64=1; else need_x86=1; fi
done
((!need_x86)) || command -v "${QEMU:-qemu-system-x86_64}" >/dev/null ||
  skip "qemu-system-x86_64 not installed (apt-get install qemu-system-x86 busybox-static cpio)"
((!need_arm64)) || command -v "${QEMU:-qemu-system-aarch64}" >/dev/null ||
  skip "qemu-system-aarch64 not installed (apt-get install qemu-system-arm cpio)"

work=$(mktemp -d "${TMPDIR:-/tmp}/enospcd-vm-selftest.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$log_dir"

if ((need_x86)); then
  bpftool=$(command -v bpftool || echo /usr/sbin/bpftool)
  [[ -x $bpftool ]] || { echo "$prog: error: bpftool not found (apt-get install bpftool)" >&2; exit 1; }
  payload=$work/payload
  mkdir -p "$payload/bin" "$payload/sbin" "$payload/etc"
  "${CC:-cc}" -O2 -g -Wall -Wextra -Werror -o "$payload/bin/vmprobe" "$here/vmprobe.c" ||
    { echo "$prog: error: cannot compile vmprobe.c with ${CC:-cc}" >&2; exit 1; }
  cp "$bpftool" "$payload/bin/bpftool"
  if mke2fs=$(command -v mke2fs || command -v mkfs.ext4); then
    cp "$mke2fs" "$payload/sbin/mke2fs"
    [[ ! -f /etc/mke2fs.conf ]] || cp /etc/mke2fs.conf "$payload/etc/mke2fs.conf"
  else
    echo "$prog: note: mke2fs not found on the host, the loop/ext4 check is skipped (apt-get install e2fsprogs)"
  fi
fi

# arm64: the host's mke2fs cannot run in the guest and an arm64 e2fsprogs cannot be installed next to it, so the
# host makes the file system the scenario would make (16 MiB ext4, 64 inodes) and the guest loop-mounts a copy.
# bpftool comes from the kernel's cache entry (fetch-kernels.sh extracts the suite's arm64 package).
if ((need_arm64)); then
  cross_cc=${CROSS_CC:-aarch64-linux-gnu-gcc}
  mkdir -p "$work/payload-arm64/bin"
  "$cross_cc" -O2 -g -Wall -Wextra -Werror -o "$work/payload-arm64/bin/vmprobe" "$here/vmprobe.c" ||
    { echo "$prog: error: cannot compile vmprobe.c with $cross_cc (apt-get install gcc-aarch64-linux-gnu)" >&2; exit 1; }
  if mke2fs=$(command -v mke2fs || command -v mkfs.ext4); then
    truncate -s 16M "$work/payload-arm64/ext4.img"
    "$mke2fs" -q -F -t ext4 -N 64 "$work/payload-arm64/ext4.img" ||
      { echo "$prog: error: $mke2fs failed on a 16 MiB image" >&2; exit 1; }
  else
    echo "$prog: note: mke2fs not found on the host, the loop/ext4 check is skipped (apt-get install e2fsprogs)"
  fi
fi

failed=()
skipped=()
for k in "${kernels[@]}"; do
  echo "=== $prog: kernel $k"
  log=$log_dir/vm-selftest-$k.log
  rc=0
  if [[ $(arch_of "$k") == arm64 ]]; then
    # The entry (fetched now if needed) holds the arm64 bpftool; a failure here is reported as run-vm.sh would.
    payload=$work/payload-$k
    rm -rf "$payload"
    cp -a "$work/payload-arm64" "$payload"
    if [[ -d $k ]]; then
      kdir=$k
    else
      kdir=$("$here/fetch-kernels.sh" --quiet --kernel "$k" ${cache_dir:+"$cache_dir"} | awk '{ print $3 }') || rc=$?
      kdir=$(dirname "${kdir:-.}")
    fi
    if ((rc == 0)) && [[ ! -x $kdir/bpftool ]]; then
      echo "$prog: error: no arm64 bpftool in $kdir (refetch: fetch-kernels.sh --refresh --kernel $k)" >&2
      rc=1
    fi
    ((rc != 0)) || cp "$kdir/bpftool" "$payload/bin/bpftool"
  fi
  ((rc != 0)) ||
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
