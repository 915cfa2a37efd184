#!/usr/bin/env bash
# Installs what building and running enospcd needs (not the test tiers' packages: scripts/test.sh installs
# those), builds the daemon and the client, and runs the one-shot report: trace for 30 s (or $DURATION), then
# print what failed. Extra arguments go to enospcd after these defaults, so later ones win:
# scripts/quickstart.sh --duration 5s -o json
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh --runtime
cmake -S . -B build-quickstart -DCMAKE_BUILD_TYPE=RelWithDebInfo -DENOSPCD_BUILD_TESTS=OFF >/dev/null
cmake --build build-quickstart -j"$(nproc)" --target enospcd enospcctl
exec ./build-quickstart/src/daemon/enospcd --once --duration "${DURATION:-30s}" "$@"
