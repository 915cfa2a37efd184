#!/usr/bin/env bash
# Builds the payload of the VM field test: the daemon, the host's own third-party programs (GNU coreutils cp, dd
# and mkdir, rsync, GNU tar, git, util-linux fallocate, unshare and ipcmk, sqlite3, xfsprogs' mkfs.xfs and xfs_quota, python3
# with the part of its standard library that
# shutil needs) and an ext4 image on which the scenario mounts its tmpfs instances. run-vm.sh adds the shared
# libraries of every ELF in the payload (ldd).
#
# Usage: payload.sh OUT_DIR DAEMON
# Exit codes: 0 done; 77 a program is missing on the host (its package is named); 1 anything else.
set -euo pipefail
export LC_ALL=C

(($# == 2)) || { echo "usage: payload.sh OUT_DIR DAEMON" >&2; exit 2; }
out=$1
daemon=$2
[[ -x $daemon ]] || { echo "payload.sh: daemon $daemon not found" >&2; exit 1; }

# Programs by absolute path, so that a pyenv shim or /usr/local copy never stands in for Debian's binary.
declare -A programs=(
  [cp]=/usr/bin/cp:coreutils [dd]=/usr/bin/dd:coreutils [mkdir]=/usr/bin/mkdir:coreutils [rsync]=/usr/bin/rsync:rsync [tar]=/usr/bin/tar:tar
  [git]=/usr/bin/git:git [fallocate]=/usr/bin/fallocate:util-linux [unshare]=/usr/bin/unshare:util-linux
  [sqlite3]=/usr/bin/sqlite3:sqlite3 [ipcmk]=/usr/bin/ipcmk:util-linux
  [mkfs.xfs]=/usr/sbin/mkfs.xfs:xfsprogs [xfs_quota]=/usr/sbin/xfs_quota:xfsprogs
)
python=
for p in /usr/bin/python3 /usr/bin/python3.*; do
  [[ $p =~ /python3(\.[0-9]+)?$ && -x $p ]] && { python=$(readlink -f "$p"); break; }
done
missing=()
for name in "${!programs[@]}"; do
  path=${programs[$name]%%:*}
  [[ -x $path ]] || missing+=("$name (apt-get install ${programs[$name]#*:})")
done
[[ -n $python ]] || missing+=("python3 (apt-get install python3)")
mkfs=$(PATH=$PATH:/usr/sbin:/sbin command -v mkfs.ext4 || true)
[[ -n $mkfs ]] || missing+=("mkfs.ext4 (apt-get install e2fsprogs)")
if ((${#missing[@]})); then
  echo "payload.sh: missing on the host: ${missing[*]}" >&2
  exit 77
fi

rm -rf "$out"
mkdir -p "$out/bin"
# Without its debug sections (a third of the size, less to unpack under emulation); code and symbols are
# unchanged, so the host resolves sanitizer frames with the original binary.
objcopy --strip-debug "$daemon" "$out/enospcd" 2>/dev/null || cp "$daemon" "$out/enospcd"
for name in "${!programs[@]}"; do cp "${programs[$name]%%:*}" "$out/bin/$name"; done
cp "$python" "$out/bin/python3"

# The standard library modules that python3 loads from files (not frozen into the binary) to run the
# scenario's shutil calls, found by importing the same modules here; os.py too, the landmark of a stdlib dir.
# The extension modules (bz2, lzma) are left out: shutil treats them as optional.
stdlib=$("$python" -I -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])')
pyver=${stdlib##*/}
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
# The interpreter must start from that tree alone (no host paths), as it will in the guest.
env -i PYTHONHOME="$out/py" PYTHONDONTWRITEBYTECODE=1 "$out/bin/python3" -c '
import sys, shutil
assert all(not p.startswith("/usr/lib/python") for p in sys.path), sys.path
' || { echo "payload.sh: python3 does not start from the copied standard library" >&2; exit 1; }

# ext4 under the tmpfs mount points: a path the daemon resolves after the tmpfs is gone lands on another
# filesystem, as it would on a real host (16 MiB, sparse; the guest's rootfs is itself a tmpfs).
truncate -s 16M "$out/disk.img"
"$mkfs" -q -F "$out/disk.img"
