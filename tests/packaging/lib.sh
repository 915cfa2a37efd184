# Helpers of the packaging tests; sourced, not run. Every test script starts with
#   set -euo pipefail; . "$(dirname "$0")/lib.sh"
# and exits 0 (pass), 77 (skipped, with the reason on stderr: CTest SKIP_RETURN_CODE) or anything else (fail).

readonly EX_SKIP=77
prog=${0##*/}
packaging_src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../packaging" && pwd)
tests_src=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

say() { echo "$prog: $*" >&2; }
die() { echo "$prog: FAIL: $*" >&2; exit 1; }
skip() { echo "$prog: SKIP: $*" >&2; exit "$EX_SKIP"; }

need_root() { [[ $(id -u) -eq 0 ]] || skip "needs root (${1:-this test})"; }
need_cmd() { # command [debian package]
  command -v "$1" >/dev/null 2>&1 || die "$1 not found; install the Debian package ${2:-$1} (scripts/deps.sh)"
}

# Cleanup actions run in reverse order on exit, whatever the exit path.
_cleanups=()
on_exit() { _cleanups+=("$*"); }
_run_cleanups() {
  local rc=$? i
  for ((i = ${#_cleanups[@]} - 1; i >= 0; i--)); do
    eval "${_cleanups[i]}" || true
  done
  return "$rc"
}
trap _run_cleanups EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Sets scratch to a private directory, removed on exit. (Not $(...): cleanups registered in a subshell are lost.)
make_scratch() {
  scratch=$(mktemp -d "${TMPDIR:-/tmp}/enospcd-pkgtest.XXXXXX")
  chmod 755 "$scratch"
  on_exit "rm -rf --one-file-system '$scratch'"
}

# Mounts a tmpfs with room for `inodes` inodes at dir (created) and unmounts it on exit.
mount_small_tmpfs() { # dir inodes [extra mount options]
  mkdir -p "$1"
  mount -t tmpfs -o "nr_inodes=$2,size=1m${3:+,$3}" enospcd-pkgtest "$1"
  on_exit "umount -l '$1' 2>/dev/null"
}

# Creates files in dir until the kernel says ENOSPC; fails the test if that never happens.
# With `as_uid`, runs as that user, inside a shell that stays alive for `linger` seconds after the failure
# (so that the daemon can still read /proc/PID of the process that failed).
fill_inodes_until_enospc() { # dir [as_uid] [linger]
  local dir=$1 uid=${2:-} linger=${3:-0} out
  local script='i=0; while [ $i -lt 100 ]; do i=$((i+1)); if ! true > "$0/f$i"; then sleep "$1"; exit 0; fi; done; exit 1'
  if [[ -n $uid ]]; then
    out=$(setpriv --reuid="$uid" --regid="$uid" --clear-groups -- sh -c "$script" "$dir" "$linger" 2>&1) ||
      die "no ENOSPC after 100 files in $dir: $out"
  else
    out=$(sh -c "$script" "$dir" "$linger" 2>&1) || die "no ENOSPC after 100 files in $dir: $out"
  fi
  [[ $out == *"No space left on device"* ]] || die "creating files in $dir failed, but not with ENOSPC: $out"
}

# Waits until `cmd...` succeeds, at most `seconds`.
wait_for() { # seconds cmd...
  local deadline=$((SECONDS + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}

# Capability names of the service unit, lower case without CAP_ (bpf perfmon ...), one per line.
unit_capabilities() {
  sed -n 's/^CapabilityBoundingSet=//p' "$packaging_src/systemd/enospcd.service" | tr ' ' '\n' |
    sed -n 's/^CAP_//p' | tr 'A-Z' 'a-z'
}

# The Debian mirror this machine's apt uses (deb822 or one-line sources), or $ENOSPCD_DEBIAN_MIRROR.
debian_mirror() {
  if [[ -n ${ENOSPCD_DEBIAN_MIRROR:-} ]]; then
    echo "$ENOSPCD_DEBIAN_MIRROR"
    return
  fi
  local f uri
  for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -r $f ]] || continue
    if [[ $f == *.sources ]]; then
      # Stanzas whose Suites name bookworm (not bookworm-security/-updates only).
      uri=$(awk '
        function flush() { if (!done && u != "" && s ~ / bookworm /) { print u; done = 1 } u = ""; s = "" }
        /^[[:space:]]*$/ { flush(); next }
        tolower($1) == "uris:" { u = $2 }
        tolower($1) == "suites:" { $1 = ""; s = $0 " " }
        END { flush() }' "$f")
    else
      uri=$(awk '$1 == "deb" && $0 ~ / bookworm / { for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) { print $i; exit } }' "$f")
    fi
    if [[ -n $uri ]]; then
      echo "${uri%/}"
      return
    fi
  done
  echo http://deb.debian.org/debian
}

mirror_reachable() { # uri
  curl -fsS --max-time 15 -o /dev/null "$1/dists/bookworm/InRelease"
}

# Sets tarball to a tarball of a clean Debian 12 root (debootstrap --variant=minbase, plus systemd so that
# systemctl works as on any Debian host), made once and cached. Needs root and, the first time, the mirror.
readonly debootstrap_cache_dir=${ENOSPCD_DEBOOTSTRAP_CACHE:-/var/cache/enospcd-debootstrap}
debootstrap_tarball() { # mirror
  local mirror=$1 arch work
  arch=$(dpkg --print-architecture)
  tarball=$debootstrap_cache_dir/bookworm-minbase-systemd-$arch.tar.gz
  [[ -s $tarball ]] && return
  need_cmd debootstrap
  mkdir -p "$debootstrap_cache_dir"
  work=$(mktemp -d "$debootstrap_cache_dir/build.XXXXXX")
  on_exit "rm -rf --one-file-system '$work'"
  say "debootstrap --variant=minbase bookworm from $mirror (cached in $tarball afterwards)"
  if ! debootstrap --variant=minbase --include=systemd --arch="$arch" bookworm "$work/root" "$mirror" \
    >"$work/debootstrap.log" 2>&1; then
    tail -n 20 "$work/debootstrap.log" >&2
    die "debootstrap failed (log above)"
  fi
  rm -rf "$work/root/var/cache/apt/archives/"*.deb "$work/root/var/lib/apt/lists/"*_Packages
  tar -C "$work/root" --numeric-owner -czf "$work/root.tar.gz" .
  # rename(2) within the cache directory: a concurrent reader sees the whole tarball or none.
  mv "$work/root.tar.gz" "$tarball"
}

# Unpacks the cached root into dir, with /proc, /dev and DNS, all undone on exit.
enter_fresh_root() { # tarball dir
  local tarball=$1 root=$2
  mkdir -p "$root"
  tar -C "$root" --numeric-owner -xzf "$tarball"
  mount -t proc proc "$root/proc"
  on_exit "umount -l '$root/proc'"
  mount --rbind /dev "$root/dev"
  mount --make-rslave "$root/dev"
  on_exit "umount -R -l '$root/dev'"
  cp -L /etc/resolv.conf "$root/etc/resolv.conf"
}

# Builds the package with the commands of the README's "build" block, and prints the path of the .deb.
# The commands configure their build directory as RelWithDebInfo: they run on the test's own build directory
# only when it is configured so already, else on a build directory of their own below it.
# ENOSPCD_PACKAGING_DEB=FILE skips the build and uses FILE (then the build commands go untested: say so).
# The files every enospcd package holds, with the daemon executable: dies naming what is missing. Writes the
# package's listing ("mode path" per entry) to out.
check_deb_contents() { # deb out
  local deb=$1 out=$2 f
  dpkg-deb -c "$deb" | awk '{print $1, $6}' >"$out"
  for f in ./usr/sbin/enospcd ./usr/bin/enospcctl ./usr/share/man/man8/enospcd.8.gz ./usr/share/man/man1/enospcctl.1.gz \
    ./lib/systemd/system/enospcd.service ./lib/systemd/system/enospcd.socket ./usr/lib/tmpfiles.d/enospcd.conf \
    ./etc/default/enospcd ./usr/share/bash-completion/completions/enospcctl ./usr/share/zsh/vendor-completions/_enospcctl; do
    grep -q " $f\$" "$out" || die "the package lacks $f"
  done
  grep -q '^-rwxr-xr-x ./usr/sbin/enospcd$' "$out" || die "/usr/sbin/enospcd is not 0755"
}

readme_build_deb() { # source_dir build_dir scratch
  local source_dir=$1 build=$2 scratch=$3 build_type readme_build debs
  if [[ -n ${ENOSPCD_PACKAGING_DEB:-} ]]; then
    [[ -f $ENOSPCD_PACKAGING_DEB ]] || die "ENOSPCD_PACKAGING_DEB=$ENOSPCD_PACKAGING_DEB is no file"
    say "NOTE: using ENOSPCD_PACKAGING_DEB=$ENOSPCD_PACKAGING_DEB; the README's build commands are not run"
    local name
    name=$(dpkg-deb -f "$ENOSPCD_PACKAGING_DEB" Package)_$(dpkg-deb -f "$ENOSPCD_PACKAGING_DEB" Version)
    name+=_$(dpkg-deb -f "$ENOSPCD_PACKAGING_DEB" Architecture).deb
    mkdir -p "$scratch/given"
    cp "$ENOSPCD_PACKAGING_DEB" "$scratch/given/$name"
    echo "$scratch/given/$name"
    return
  fi
  build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build/CMakeCache.txt" 2>/dev/null || true)
  readme_build=$build
  if [[ $build_type != RelWithDebInfo ]]; then
    readme_build=$build/packaging/readme-build
    say "the build directory is ${build_type:-unconfigured}: building the package in $readme_build"
  fi
  python3 "$tests_src/readme_blocks.py" "$packaging_src/../README.md" build --build-dir "$readme_build" \
    >"$scratch/build.sh" || die "cannot read the build commands from README.md"
  (cd "$source_dir" && bash -euo pipefail -x "$scratch/build.sh") >"$scratch/build.log" 2>&1 ||
    die "the README's build commands failed: $(tail -n 30 "$scratch/build.log")"
  mapfile -t debs < <(ls -t "$readme_build"/enospcd_*.deb 2>/dev/null)
  ((${#debs[@]} == 1)) ||
    die "expected one $readme_build/enospcd_*.deb (the README installs that glob), found ${#debs[@]}: ${debs[*]:-none}"
  echo "${debs[0]}"
}
