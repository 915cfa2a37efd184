#!/usr/bin/env bash
# Tests of run-vm.sh itself on one kernel: the scenario's exit code comes back, a hung scenario is killed at the
# timeout with exit 124, a kernel panic or a VM that stops without the exit line is a failure (125), and no qemu
# or work dir is left behind.
#
# Usage: harness-test.sh [--cache DIR] [--log-dir DIR] [KERNEL]   (default kernel 6.1; arm64-6.1 etc. work too)
# Exit codes: 0 passed, 1 failed, 77 skipped (no qemu, or kernel not cached and no network).
set -euo pipefail
export LC_ALL=C

prog=${0##*/}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache_args=()
log_dir=${TMPDIR:-/tmp}
kernel=6.1
while (($#)); do
  case $1 in
    --cache) cache_args=(--cache "$2"); shift 2 ;;
    --log-dir) log_dir=$2; shift 2 ;;
    -*) echo "$prog: unknown option $1" >&2; exit 2 ;;
    *) kernel=$1; shift ;;
  esac
done

# The qemu run-vm.sh will pick: fetch-kernels.sh's arm64 kernels are named arm64-*.
case $kernel in
  arm64-*) qemu=${QEMU:-qemu-system-aarch64} ;;
  *) qemu=${QEMU:-qemu-system-x86_64} ;;
esac
command -v "$qemu" >/dev/null || { echo "$prog: SKIP: $qemu not installed"; exit 77; }

# Work dirs live under a private TMPDIR so that "nothing left behind" is checkable while other runs go on.
work=$(mktemp -d "${TMPDIR:-/tmp}/enospcd-vm-harness.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/tmp" "$work/payload" "$log_dir"
failures=0

run() { # expected-rc name script-body [run-vm.sh options...]
  local want=$1 name=$2 body=$3 rc=0 t0 t1 pids
  shift 3
  printf '%s\n' "$body" >"$work/$name.sh"
  t0=$SECONDS
  TMPDIR=$work/tmp "$here/run-vm.sh" --kernel "$kernel" ${cache_args[@]+"${cache_args[@]}"} --quiet \
    --payload "$work/payload" --script "$work/$name.sh" --log "$log_dir/vm-harness-$kernel-$name.log" "$@" || rc=$?
  t1=$SECONDS
  if ((rc == 75)); then
    echo "$prog: SKIP: kernel $kernel not cached and the Debian mirror is unreachable"
    exit 77
  fi
  if ((rc == want)); then
    echo "PASS $name: exit $rc in $((t1 - t0))s"
  else
    echo "FAIL $name: exit $rc, expected $want (log $log_dir/vm-harness-$kernel-$name.log)"
    failures=$((failures + 1))
  fi
  if [[ -n $(ls -A "$work/tmp") ]]; then
    echo "FAIL $name: left behind in TMPDIR: $(ls -A "$work/tmp")"
    failures=$((failures + 1))
  fi
  pids=$(pgrep -f -- "-initrd $work/tmp/" || true)
  if [[ -n $pids ]]; then
    echo "FAIL $name: qemu still running: $pids"
    failures=$((failures + 1))
  fi
}

run 0 exit0 'echo hello; test "$(uname -r)" = "$ENOSPCD_VM_RELEASE"'
run 7 exit7 'echo "$GREETING"; [ "$GREETING" = "hi there" ] && exit 7' --env 'GREETING=hi there'
run 124 timeout 'echo going to sleep; sleep 600' --timeout 20
run 125 panic 'echo c >/proc/sysrq-trigger; sleep 30'
run 125 no-exit-line 'echo powering off early; poweroff -f; sleep 30'

((failures == 0)) || { echo "$prog: $failures failure(s)"; exit 1; }
echo "$prog: all passed on $kernel"
