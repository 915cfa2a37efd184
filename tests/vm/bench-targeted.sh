#!/bin/bash
# Targeted mode's hot-path benchmark in the VM tier (this host refuses fexit): boots each kernel, runs
# enospcd-bench's hot path there with no tracer, the empty program on sys_exit (the floor), the tp_btf gate and
# targeted mode taking turns within each round, and the daemon's attach time in both modes, then renders the
# results. Ratios are formed inside one VM run; absolute numbers are TCG's, not a real CPU's.
#
#   tests/vm/bench-targeted.sh BUILD_DIR OUT_DIR [KERNEL...]     (default kernels: 6.1 6.12; ROUNDS=5)
#
# For the arm64 kernels BUILD_DIR is the arm64 build (build-arm64, with its enospcd-bench target built) and
# RENDER_BENCH a build of enospcd-bench for this host, which renders the results (default: BUILD_DIR's).
set -euo pipefail
build=${1:?usage: bench-targeted.sh BUILD_DIR OUT_DIR [KERNEL...]}
out=${2:?usage: bench-targeted.sh BUILD_DIR OUT_DIR [KERNEL...]}
shift 2
kernels=("$@")
[ ${#kernels[@]} -gt 0 ] || kernels=(6.1 6.12)
here=$(cd "$(dirname "$0")" && pwd)
bench=$build/tests/bench/enospcd-bench
daemon=$build/src/daemon/enospcd
[ -x "$bench" ] && [ -x "$daemon" ] || { echo "bench-targeted.sh: build enospcd and enospcd-bench in $build first" >&2; exit 2; }
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/payload"
cp "$bench" "$daemon" "$work/payload/"
cat >"$work/scenario.sh" <<SCEN
uname -r
for i in 1 2 3 4 5; do
  for g in tp_btf targeted; do
    ./enospcd --once --duration 1s --gate \$g -o json --events 0 >/tmp/r.json 2>/tmp/e.log
    echo "STARTUP gate=\$g round=\$i attach_ms=\$(grep -o 'attached in [0-9.]* ms' /tmp/e.log | grep -o '[0-9.]*')"
  done
done
mkdir -p /tmp/bw
./enospcd-bench run --enospcd ./enospcd --only hotpath --hotpath-configs base,floor_tp_btf,gate_tp_btf,gate_targeted \
  --rounds ${ROUNDS:-5} --work-dir /tmp/bw --out /tmp/hot.json >/tmp/bench.log 2>&1 || tail -20 /tmp/bench.log
echo BEGIN-JSON
cat /tmp/hot.json
echo END-JSON
SCEN
for k in "${kernels[@]}"; do
  log=$work/console-$k.txt
  "$here/run-vm.sh" --kernel "$k" --payload "$work/payload" --script "$work/scenario.sh" --timeout 2400 --quiet \
    --log "$log" >/dev/null
  tr -d '\r' <"$log" | awk '/^BEGIN-JSON/{p=1;next} /^END-JSON/{p=0} p' >"$out/targeted-$k.json"
  tr -d '\r' <"$log" | grep '^STARTUP ' >"$out/startup-$k.txt"
  "${RENDER_BENCH:-$bench}" render "$out/targeted-$k.json" --markdown "$out/targeted-$k.md"
  echo "$k: $out/targeted-$k.json, $out/targeted-$k.md, $out/startup-$k.txt"
done
