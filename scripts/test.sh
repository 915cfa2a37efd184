#!/usr/bin/env bash
# Builds everything and runs every test tier: unit, live (root, real triggers on this kernel), vm (QEMU kernel
# matrix), fuzz (bounded), lint (clang-tidy, on one core beside the others), packaging. Then builds the daemon,
# the client and the tests again with AddressSanitizer and UndefinedBehaviorSanitizer and runs the unit, live
# and vm tiers on that build: a memory error or undefined behaviour on any path they drive ends the program and
# fails its test. The VM tests that run the daemon (chains, field) run on the sanitizer build only; the harness's
# own VM tests on the first. The arm64 build (scripts/build-arm64.sh) comes right after the first build.
# Extra arguments go to both ctest runs. Exits non-zero when anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
status=0

cmake --preset default >/dev/null
cmake --build --preset default
# The arm64 build and its package: the packaging tests check the package, and the sanitizer pass's VM tests boot
# it on Debian's arm64 kernels (the arm64 build itself is not sanitized).
scripts/build-arm64.sh >/dev/null || status=1
# clang-tidy (the lint tier) takes one core for the rest of the run, beside the tests, which mostly wait on the
# kernel, and the sanitizer build; its verdict is collected at the end.
tidy_log=build/clang-tidy.log
TIDY_JOBS=1 scripts/tidy.sh build >"$tidy_log" 2>&1 &
tidy_pid=$!
# Live tests mount filesystems and load BPF: they run one at a time.
(cd build && ctest --output-on-failure --timeout 1800 -E '^vm_(chains|field)_' -LE '^lint$' "$@") || status=1

cmake --preset sanitize >/dev/null
cmake --build --preset sanitize
export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1:print_summary=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
# The VM harness's own tests (selftest, harness) exercise no daemon code and run once, above; so do the packaging
# tests, which install and boot the .deb built by the first build.
(cd build-sanitize &&
  ctest --output-on-failure --timeout 1800 -L '^(unit|live|vm)$' -LE '^packaging$' -E '^vm_(selftest|harness)' \
    "$@") || status=1

tidy_rc=0
wait "$tidy_pid" || tidy_rc=$?
cat "$tidy_log"
if ((tidy_rc != 0 && tidy_rc != 77)); then
  echo "test.sh: clang-tidy failed (exit $tidy_rc), see above" >&2
  status=1
fi
exit "$status"
