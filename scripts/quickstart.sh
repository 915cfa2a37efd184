#!/usr/bin/env bash
# Installs what is missing, builds, and runs the one-shot report: trace for 30 s, then print what failed.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake --preset default >/dev/null
cmake --build --preset default --target enospcd enospcctl
exec ./build/src/daemon/enospcd --once --duration "${DURATION:-30s}" "$@"
