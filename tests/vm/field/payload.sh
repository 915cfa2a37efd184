#!/usr/bin/env bash
# Builds the payload of the VM field test: the daemon, the third-party programs (GNU coreutils cp, dd and mkdir,
# rsync, GNU tar, git, util-linux fallocate, unshare and ipcmk, sqlite3, xfsprogs' mkfs.xfs and xfs_quota, python3
# with the part of its standard library that shutil needs) and an ext4 image on which the scenario mounts its
# tmpfs instances. run-vm.sh adds the shared libraries of every ELF in the payload.
#
# x86_64: the host's own programs. arm64: the same programs from Debian's arm64 packages, at the versions the
# host's apt lists name (apt-get download, kept in CACHE_DIR/userland-arm64/ and reused; dpkg-deb -x, nothing is
# installed). Their libraries come from the host's multiarch dirs (scripts/deps.sh --arm64 installs them), the
# standard library's .py files from the host's python3 of the same version (architecture-independent).
#
# Usage: payload.sh OUT_DIR DAEMON [--arch x86_64|arm64]
#   --arch  the guest's architecture; default: the daemon's (its ELF header). The two must agree.
# Environment: ENOSPCD_VM_CACHE (CACHE_DIR, as in fetch-kernels.sh: else $XDG_CACHE_HOME/enospcd-vm, else
#   /var/cache/enospcd-vm, else ~/.cache/enospcd-vm).
# Exit codes: 0 done; 77 a program or package is missing (its package is named); 75 an arm64 package is neither
# cached nor downloadable; 2 usage; 1 anything else.
set -euo pipefail
export LC_ALL=C

usage() { echo "usage: payload.sh OUT_DIR DAEMON [--arch x86_64|arm64]" >&2; exit 2; }
args=()
arch=
while (($#)); do
  case $1 in
    --arch) (($# >= 2)) || usage; arch=$2; shift 2 ;;
    --arch=*) arch=${1#*=}; shift ;;
    -*) usage ;;
    *) args+=("$1"); shift ;;
  esac
done
((${#args[@]} == 2)) || usage
out=${args[0]}
daemon=${args[1]}
[[ -x $daemon ]] || { echo "payload.sh: daemon $daemon not found" >&2; exit 1; }

# e_machine, the little-endian 16 bits at offset 18 of the ELF header: 62 x86_64, 183 AArch64.
machine=$(od -An -tu2 -j18 -N2 "$daemon" | tr -d ' ')
case $machine in
  62) daemon_arch=x86_64 ;;
  183) daemon_arch=arm64 ;;
  *) echo "payload.sh: $daemon is no x86_64 or AArch64 ELF executable (e_machine ${machine:-?})" >&2; exit 1 ;;
esac
arch=${arch:-$daemon_arch}
[[ $arch == x86_64 || $arch == arm64 ]] || usage
[[ $arch == "$daemon_arch" ]] || { echo "payload.sh: --arch $arch, but $daemon is built for $daemon_arch" >&2; exit 1; }

# name -> path on the host : Debian package. Programs by absolute path, so that a pyenv shim or /usr/local copy
# never stands in for Debian's binary. arm64 looks for the same names in the package's bin and sbin dirs.
declare -A programs=(
  [cp]=/usr/bin/cp:coreutils [dd]=/usr/bin/dd:coreutils [mkdir]=/usr/bin/mkdir:coreutils [rsync]=/usr/bin/rsync:rsync [tar]=/usr/bin/tar:tar
  [git]=/usr/bin/git:git [fallocate]=/usr/bin/fallocate:util-linux [unshare]=/usr/bin/unshare:util-linux
  [sqlite3]=/usr/bin/sqlite3:sqlite3 [ipcmk]=/usr/bin/ipcmk:util-linux
  [mkfs.xfs]=/usr/sbin/mkfs.xfs:xfsprogs [xfs_quota]=/usr/sbin/xfs_quota:xfsprogs
)
# The host's python3 gives the standard library (and, on x86_64, the interpreter).
python=
for p in /usr/bin/python3 /usr/bin/python3.*; do
  [[ $p =~ /python3(\.[0-9]+)?$ && -x $p ]] && { python=$(readlink -f "$p"); break; }
done
missing=()
if [[ $arch == x86_64 ]]; then
  for name in "${!programs[@]}"; do
    path=${programs[$name]%%:*}
    [[ -x $path ]] || missing+=("$name (apt-get install ${programs[$name]#*:})")
  done
fi
[[ -n $python ]] || missing+=("python3 (apt-get install python3)")
mkfs=$(PATH=$PATH:/usr/sbin:/sbin command -v mkfs.ext4 || true)
[[ -n $mkfs ]] || missing+=("mkfs.ext4 (apt-get install e2fsprogs)")
if [[ $arch == arm64 ]]; then
  for tool in apt-get apt-cache dpkg-deb flock aarch64-linux-gnu-objcopy; do
    command -v $tool >/dev/null ||
      missing+=("$tool (apt-get install ${tool/aarch64-linux-gnu-objcopy/binutils-aarch64-linux-gnu})")
  done
fi
if ((${#missing[@]})); then
  echo "payload.sh: missing on the host: ${missing[*]}" >&2
  exit 77
fi

stdlib=$("$python" -I -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])')
pyver=${stdlib##*/} # python3.11

rm -rf "$out"
mkdir -p "$out/bin"

if [[ $arch == x86_64 ]]; then
  # Without its debug sections (a third of the size, less to unpack under emulation); code and symbols are
  # unchanged, so the host resolves sanitizer frames with the original binary.
  objcopy --strip-debug "$daemon" "$out/enospcd" 2>/dev/null || cp "$daemon" "$out/enospcd"
  for name in "${!programs[@]}"; do cp "${programs[$name]%%:*}" "$out/bin/$name"; done
  cp "$python" "$out/bin/python3"
else
  # The host's objcopy knows no AArch64 ELF; the cross binutils' does (debug info is 93% of the arm64 build).
  aarch64-linux-gnu-objcopy --strip-debug "$daemon" "$out/enospcd"

  # shellcheck source=../cache-dir.sh
  . "$(dirname "${BASH_SOURCE[0]}")/../cache-dir.sh"
  debs=$(default_cache_dir)/userland-arm64
  mkdir -p "$debs"
  # The interpreter of the same minor version as the host's standard library (python3.11-minimal has
  # /usr/bin/python3.11): bytecode and the C API of the stdlib's modules change between minor versions only.
  packages=(coreutils rsync tar git util-linux sqlite3 xfsprogs "$pyver-minimal")
  root=$(mktemp -d "${TMPDIR:-/tmp}/enospcd-field-arm64.XXXXXX")
  trap 'rm -rf "$root"' EXIT
  # Concurrent payload builds (ctest -j, one per arm64 kernel) download once; a .deb appears under its final
  # name only when complete.
  exec 9>"$debs/.lock"
  flock 9
  # The version the host's apt lists name for each (the candidate apt-get download fetches) and its file name on
  # the mirror, in one apt-cache call (0.8 s each).
  declare -A version_of=() file_of=()
  while read -r pkg version file; do
    version_of[$pkg]=$version
    file_of[$pkg]=$file
  done < <(apt-cache show --no-all-versions "${packages[@]/%/:arm64}" 2>/dev/null |
    awk '/^Package: / { p = $2 } /^Version: / { v = $2 } /^Architecture: / { a = $2 }
         /^Filename: / { if (a == "arm64") print p, v, $2 }')
  : >"$out/userland"
  for pkg in "${packages[@]}"; do
    version=${version_of[$pkg]:-}
    file=${file_of[$pkg]:-}
    if [[ -z $version || -z $file ]]; then
      echo "payload.sh: apt knows no arm64 package $pkg (dpkg --add-architecture arm64 && apt-get update)" >&2
      exit 77
    fi
    deb=$debs/${file##*/}
    if [[ ! -s $deb ]]; then
      tmp=$(mktemp -d "$debs/.download.XXXXXX")
      if ! (cd "$tmp" && apt-get download -q -o APT::Sandbox::User=root "$pkg:arm64=$version" >"$tmp/log" 2>&1); then
        echo "payload.sh: cannot download $pkg:arm64 $version: $(tail -2 "$tmp/log")" >&2
        rm -rf "$tmp"
        exit 75
      fi
      mv "$tmp"/*.deb "$deb"
      rm -rf "$tmp"
    fi
    fields=$(dpkg-deb -f "$deb" Package Architecture Version | tr '\n' ' ')
    [[ $fields == "Package: $pkg Architecture: arm64 Version: $version " ]] ||
      { echo "payload.sh: $deb is not $pkg:arm64 $version ($fields)" >&2; exit 1; }
    dpkg-deb -x "$deb" "$root"
    echo "$pkg $version" >>"$out/userland"
  done
  flock -u 9
  find_in_root() { # name -> path of the extracted program (usrmerge: /bin and /usr/bin are the same on a host)
    local d
    for d in usr/bin bin usr/sbin sbin; do
      [[ -f $root/$d/$1 && -x $root/$d/$1 ]] && { echo "$root/$d/$1"; return 0; }
    done
    return 1
  }
  for name in "${!programs[@]}"; do
    path=$(find_in_root "$name") || { echo "payload.sh: no $name in ${programs[$name]#*:}:arm64" >&2; exit 1; }
    cp "$path" "$out/bin/$name"
  done
  path=$(find_in_root "$pyver") || { echo "payload.sh: no $pyver in $pyver-minimal:arm64" >&2; exit 1; }
  cp "$path" "$out/bin/python3"
fi

# The standard library modules that python3 loads from files (not frozen into the binary) to run the
# scenario's shutil calls, found by importing the same modules here; os.py too, the landmark of a stdlib dir.
# The extension modules (bz2, lzma) are left out: shutil treats them as optional. The scenario's other modules
# (select, posix's openpty, time, errno) are built into Debian's interpreter on both architectures.
pydir=$out/py/lib/$pyver
mkdir -p "$pydir"
"$python" -I -c '
import sys, os, errno, shutil
stdlib = sys.argv[1]
files = {os.path.join(stdlib, "os.py")}
for m in list(sys.modules.values()):
    f = getattr(m, "__file__", None)
    if f and f.endswith(".py") and os.path.dirname(os.path.abspath(f)).startswith(stdlib) and "-packages" not in f:
        files.add(os.path.abspath(f))
print("\n".join(sorted(os.path.relpath(f, stdlib) for f in files)))
' "$stdlib" | while read -r rel; do
  mkdir -p "$pydir/$(dirname "$rel")"
  cp "$stdlib/$rel" "$pydir/$rel"
done
# The interpreter must start from that tree alone (no host paths), as it will in the guest. The arm64 one cannot
# run here: the host's interpreter of the same version checks the tree, the guest runs the arm64 one.
pycheck=$out/bin/python3
[[ $arch == x86_64 ]] || pycheck=$python
env -i PYTHONHOME="$out/py" PYTHONDONTWRITEBYTECODE=1 "$pycheck" -c '
import sys, shutil, select, time
assert all(not p.startswith("/usr/lib/python") for p in sys.path), sys.path
' || { echo "payload.sh: python3 does not start from the copied standard library" >&2; exit 1; }

# ext4 under the tmpfs mount points: a path the daemon resolves after the tmpfs is gone lands on another
# filesystem, as it would on a real host (16 MiB, sparse; the guest's rootfs is itself a tmpfs). The host's
# mkfs.ext4 makes it for either architecture: the on-disk format is the same.
truncate -s 16M "$out/disk.img"
"$mkfs" -q -F "$out/disk.img"
