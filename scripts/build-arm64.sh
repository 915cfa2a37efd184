#!/usr/bin/env bash
# Builds enospcd and enospcctl for arm64 on this x86_64 Debian 12 host, and their Debian package: installs the
# cross compiler and the arm64 -dev packages through multiarch if missing (scripts/deps.sh --arm64), configures
# the "arm64" preset (build-arm64/, cmake/toolchains/aarch64-linux-gnu.cmake) and runs cpack. The BPF objects
# are compiled against bpf/vmlinux/arm64/vmlinux.h. Prints the paths of the two programs and the .deb.
# Extra arguments go to the configure step (e.g. -DCMAKE_BUILD_TYPE=Release).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh --arm64
cmake --preset arm64 "$@" >/dev/null
cmake --build --preset arm64
# The package is written into the build directory; the previous one goes first, so the path printed is new.
rm -f build-arm64/enospcd_*_arm64.deb
(cd build-arm64 && cpack -G DEB >/dev/null)
deb=$(ls build-arm64/enospcd_*_arm64.deb)
for f in build-arm64/src/daemon/enospcd build-arm64/src/cli/enospcctl "$deb"; do
  echo "$f"
done
