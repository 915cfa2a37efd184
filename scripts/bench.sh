#!/usr/bin/env bash
# Runs the enospcd benchmark suite (tests/bench, issue 8): builds the daemon and the harness in Release, runs
# the hot-path, storm/memory, start-up and query benchmarks in one process, and writes
#   tests/bench/results/results.json   every number, per round
#   tests/bench/results/hotpath.png    ns/syscall per configuration
#   BENCHMARKS.md                      the section between the "bench:results" markers
#
# Usage: sudo scripts/bench.sh [enospcd-bench run options, e.g. --rounds 31, --only hotpath,startup]
#        sudo scripts/bench.sh --quick   # a short run to check that everything works; writes to the build dir
#        sudo scripts/bench.sh --only soak [--soak-duration 3600]   # the hour-long soak, on its own: writes
#             tests/bench/results/soak.{json,png} and the "bench:soak" section of BENCHMARKS.md
# Needs root, bpftrace, curl, gnuplot (apt-get install bpftrace curl gnuplot-nox) and the build dependencies.
# Environment: BUILD_DIR (default build-bench), BENCH_CMAKE_ARGS (extra configure arguments, e.g.
# -DENOSPCD_SKIP_COMPONENTS="api;context" while a component is broken).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BUILD_DIR:-$root/build-bench}
cd "$root"

if [[ $(id -u) -ne 0 ]]; then
  echo "bench.sh: needs root (BPF programs, tmpfs mounts)" >&2
  exit 1
fi
missing=()
for tool in cmake bpftrace curl gnuplot tar; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if ((${#missing[@]})); then
  echo "bench.sh: missing ${missing[*]} (apt-get install bpftrace curl gnuplot-nox)" >&2
  exit 1
fi

quick=0 part=results
prev=
for a in "$@"; do
  [[ $a == --quick ]] && quick=1
  [[ $prev == --only && $a == soak ]] && part=soak
  prev=$a
done
if ((quick)); then
  out=$build/bench-quick
else
  out=$root/tests/bench/results
fi
mkdir -p "$out"

# tests/CMakeLists.txt adds tests/bench itself once it has `add_subdirectory(bench)`; until then the hook does.
hook=(-UCMAKE_PROJECT_INCLUDE)
if ! grep -q '^[[:space:]]*add_subdirectory(bench)' tests/CMakeLists.txt; then
  hook=(-DCMAKE_PROJECT_INCLUDE="$root/tests/bench/hook.cmake")
fi
mkdir -p "$build"
# shellcheck disable=SC2086
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DENOSPCD_BUILD_TESTS=ON \
  "${hook[@]}" ${BENCH_CMAKE_ARGS:-} >"$build/bench-configure.log" 2>&1 ||
  { cat "$build/bench-configure.log" >&2; exit 1; }
cmake --build "$build" --target enospcd enospcd-bench -j"$(nproc)"

bench=$build/tests/bench/enospcd-bench
start=$(date +%s)
status=0
"$bench" run --enospcd "$build/src/daemon/enospcd" --out "$out/$part.json" \
  --command "scripts/bench.sh${*:+ $*}" "$@" || status=$?
[[ -f $out/$part.json ]] || exit 1

plot=(--plot-data "$out/hotpath.dat")
[[ $part == soak ]] && plot=(--soak-plot-data "$out/soak.dat")
"$bench" render "$out/$part.json" --markdown "$out/$part.md" "${plot[@]}"
if [[ $part == results && -s $out/hotpath.dat ]]; then
  gnuplot -e "datafile='$out/hotpath.dat'; outfile='$out/hotpath.png'" tests/bench/plot.gp
fi
if [[ $part == soak && -s $out/soak.dat ]]; then
  gnuplot -e "datafile='$out/soak.dat'; outfile='$out/soak.png'" tests/bench/soak.gp
fi

if ((!quick)); then
  # Replace the generated section of BENCHMARKS.md; the prose around it is kept.
  begin="<!-- bench:$part:begin -->" end="<!-- bench:$part:end -->"
  if ! grep -qF "$begin" BENCHMARKS.md 2>/dev/null; then
    printf '\n%s\n%s\n' "$begin" "$end" >>BENCHMARKS.md
  fi
  awk -v begin="$begin" -v end="$end" -v part="$out/$part.md" '
    $0 == begin { print; while ((getline line < part) > 0) print line; skip = 1; next }
    $0 == end { skip = 0 }
    !skip { print }' BENCHMARKS.md >BENCHMARKS.md.tmp
  mv BENCHMARKS.md.tmp BENCHMARKS.md
  rm -f "$out/$part.md"
fi
echo "bench.sh: done in $(($(date +%s) - start)) s; results in ${out#"$root"/}" >&2
exit "$status"
