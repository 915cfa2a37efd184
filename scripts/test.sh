#!/usr/bin/env bash
# Builds everything and runs every test tier: unit, live (root, real triggers on this kernel), vm (QEMU kernel
# matrix), fuzz (bounded). Exits non-zero when anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake --preset default >/dev/null
cmake --build --preset default
cd build
# Live tests mount filesystems and load BPF: they run one at a time.
ctest --output-on-failure --timeout 1800 "$@"
