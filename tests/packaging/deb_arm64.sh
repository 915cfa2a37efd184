#!/usr/bin/env bash
# The arm64 package from the cross build (scripts/build-arm64.sh): its control data, the same files as the
# amd64 package, both programs AArch64 executables with the same build IDs as the binaries the arm64 VM tests
# boot (tests/vm/chains: vm_chains_arm64-*), and a Depends that names the package of every library they need.
# Skips (77) outside CI when there is no arm64 build; fails in CI.
# Usage: deb_arm64.sh SOURCE_DIR
set -euo pipefail
. "$(dirname "$0")/lib.sh"

(($# == 1)) || die "usage: $prog SOURCE_DIR"
source_dir=$(cd "$1" && pwd)
arm64_build=${ENOSPCD_ARM64_BUILD_DIR:-$source_dir/build-arm64}
need_cmd dpkg-deb dpkg
need_cmd readelf binutils

mapfile -t debs < <(ls "$arm64_build"/enospcd_*_arm64.deb 2>/dev/null)
if ((${#debs[@]} != 1)); then
  why="expected one $arm64_build/enospcd_*_arm64.deb, found ${#debs[@]} (scripts/build-arm64.sh makes it)"
  [[ -z ${CI:-} ]] || die "$why"
  skip "$why"
fi
deb=${debs[0]}
make_scratch

field() { dpkg-deb -f "$deb" "$1"; }
project_version=$(sed -n 's/^CMAKE_PROJECT_VERSION:[A-Z]*=//p' "$arm64_build/CMakeCache.txt")
[[ $(field Package) == enospcd ]] || die "Package is '$(field Package)'"
[[ $(field Architecture) == arm64 ]] || die "Architecture is '$(field Architecture)'"
[[ $(field Version) == "$project_version"-* ]] || die "Version '$(field Version)' is not the project's $project_version"
depends=$(field Depends)

# The files of the amd64 package.
check_deb_contents "$deb" "$scratch/contents"
dpkg-deb -x "$deb" "$scratch/root"

build_id() { readelf -n "$1" | sed -n 's/^ *Build ID: //p'; }
for pair in usr/sbin/enospcd:src/daemon/enospcd usr/bin/enospcctl:src/cli/enospcctl; do
  packaged=$scratch/root/${pair%%:*}
  built=$arm64_build/${pair#*:}
  header=$(readelf -h "$packaged")
  grep -q 'Machine: *AArch64' <<<"$header" || die "${pair%%:*} is not an AArch64 program: $(grep Machine <<<"$header")"
  readelf -l "$packaged" | grep -q 'interpreter: /lib/ld-linux-aarch64.so.1' ||
    die "${pair%%:*} does not run through /lib/ld-linux-aarch64.so.1"
  [[ -n $(build_id "$packaged") && $(build_id "$packaged") == $(build_id "$built") ]] ||
    die "${pair%%:*} (build ID $(build_id "$packaged")) is not $built ($(build_id "$built"))"
  # Every library it needs comes from a package Depends names (the arm64 -dev packages' runtime halves).
  while read -r lib; do
    path=
    for d in /lib/aarch64-linux-gnu /usr/lib/aarch64-linux-gnu; do
      [[ -e $d/$lib ]] && { path=$d/$lib; break; }
    done
    [[ -n $path ]] || die "${pair%%:*} needs $lib, which no arm64 package installed here provides"
    owner=$(dpkg -S "$(readlink -f "$path")" 2>/dev/null | head -n 1 | cut -d: -f1) || true
    [[ -n $owner ]] || owner=$(dpkg -S "$path" 2>/dev/null | head -n 1 | cut -d: -f1) || true
    [[ -n $owner ]] || die "no package owns $path"
    # The package, or a name it provides (shlibs may name a virtual package: libspdlog1.10-fmt9).
    names=("$owner")
    IFS=', ' read -r -a provides <<<"$(dpkg-query -W -f='${Provides}' "$owner:arm64" 2>/dev/null | sed 's/([^)]*)//g')"
    names+=(${provides[@]+"${provides[@]}"})
    listed=0
    for n in "${names[@]}"; do
      [[ -n $n ]] || continue
      [[ ", $depends," == *", $n "* || ", $depends," == *", $n,"* ]] && listed=1
    done
    ((listed)) || die "${pair%%:*} needs $lib from $owner, which Depends lacks: $depends"
  done < <(readelf -d "$packaged" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
done
say "$(basename "$deb"): arm64, $(wc -l <"$scratch/contents") entries, Depends: $depends"
