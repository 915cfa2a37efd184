#!/usr/bin/env bash
# Fresh machine: build the Debian package with the commands of README.md ("Install"), check its
# control data and contents, install it into a clean Debian 12 root made by debootstrap (cached as a tarball)
# with apt-get, dependencies coming from the mirror, and run it there: enospcd --version, enospcctl --help,
# the group enospc, the units verified by that system's own systemd, tmpfiles, a short trace. Then purge it:
# binaries, conffile, journal and enable links go, the group stays.
# Skips (77) when the Debian mirror is unreachable.
# Usage: deb_install.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
. "$(dirname "$0")/lib.sh"

(($# == 2)) || die "usage: $prog SOURCE_DIR BUILD_DIR"
source_dir=$(cd "$1" && pwd)
build=$(cd "$2" && pwd)
need_root "debootstrap, chroot and mounts"
need_cmd debootstrap
need_cmd dpkg-deb dpkg
need_cmd dpkg-shlibdeps dpkg-dev
need_cmd cpack cmake
need_cmd curl
need_cmd python3 python3-minimal

started=$SECONDS
mirror=$(debian_mirror)
mirror_reachable "$mirror" || skip "the Debian mirror $mirror is unreachable (needed for the package's dependencies)"
make_scratch

# 1. The package, built with the README's commands.
say "building the package as README.md says"
deb=$(readme_build_deb "$source_dir" "$build" "$scratch")
say "built $(basename "$deb") ($(du -k "$deb" | cut -f1) KiB) in $((SECONDS - started)) s"

# 2. Control data and contents.
field() { dpkg-deb -f "$deb" "$1"; }
project_version=$(sed -n 's/^CMAKE_PROJECT_VERSION:[A-Z]*=//p' "$build/CMakeCache.txt")
[[ $(field Package) == enospcd ]] || die "Package is '$(field Package)'"
[[ $(field Version) == "$project_version"-* ]] || die "Version '$(field Version)' is not the project's $project_version"
[[ $(field Section) == admin ]] || die "Section is '$(field Section)', expected admin"
[[ $(field Maintainer) == *"enospcd maintainers"* ]] || die "Maintainer is '$(field Maintainer)'"
depends=$(field Depends)
for d in adduser libbpf1 libc6 libcurl4; do
  [[ ", $depends," == *", $d "* || ", $depends," == *", $d,"* ]] ||
    die "Depends lacks $d (dpkg-shlibdeps should have found the libraries): $depends"
done
check_deb_contents "$deb" "$scratch/contents"
dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles >"$scratch/conffiles"
[[ $(cat "$scratch/conffiles") == /etc/default/enospcd ]] || die "conffiles is '$(cat "$scratch/conffiles")'"

# 3. A clean Debian 12 and apt-get install with dependencies from the mirror.
debootstrap_tarball "$mirror"
root=$scratch/root
enter_fresh_root "$tarball" "$root"
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 \
  DEBIAN_FRONTEND=noninteractive "$@"; }
in_root getent group enospc >/dev/null && die "the fresh root already has a group enospc"
cp "$deb" "$root/tmp/enospcd.deb"
say "apt-get install in a fresh Debian 12 root from $(basename "$tarball")"
in_root apt-get update -qq >"$scratch/apt.log" 2>&1 || die "apt-get update failed: $(tail -n 20 "$scratch/apt.log")"
in_root apt-get install -y /tmp/enospcd.deb >>"$scratch/apt.log" 2>&1 ||
  die "apt-get install failed: $(tail -n 30 "$scratch/apt.log")"
pulled=$(sed -n 's/.* \([0-9][0-9]*\) newly installed.*/\1/p' "$scratch/apt.log" | tail -n 1)

# 4. It runs there.
version=$(in_root enospcd --version) || die "enospcd --version failed in the fresh root"
[[ $version == "enospcd $project_version" ]] || die "enospcd --version says '$version'"
in_root enospcctl --help >"$scratch/ctl-help" 2>&1 || die "enospcctl --help failed: $(cat "$scratch/ctl-help")"
grep -q 'status' "$scratch/ctl-help" || die "enospcctl --help lists no commands: $(cat "$scratch/ctl-help")"
in_root getent group enospc >/dev/null || die "installing did not create the group enospc"
in_root dpkg-query -W -f='${Conffiles}\n' enospcd | grep -q '/etc/default/enospcd' ||
  die "dpkg does not treat /etc/default/enospcd as a conffile"
missing_libs=$(in_root ldd /usr/sbin/enospcd /usr/bin/enospcctl | grep 'not found' || true)
[[ -z $missing_libs ]] || die "libraries missing in the fresh root: $missing_libs"
verify=$(in_root systemd-analyze verify --man=no enospcd.service enospcd.socket 2>&1) && [[ -z $verify ]] ||
  die "that system's systemd-analyze verify complains: $verify"
in_root systemd-tmpfiles --create enospcd.conf || die "systemd-tmpfiles --create enospcd.conf failed"
got=$(stat -c '%a %U:%G' "$root/run/enospcd")
[[ $got == "710 root:"* && $(stat -c %g "$root/run/enospcd") == $(in_root getent group enospc | cut -d: -f3) ]] ||
  die "/run/enospcd is $got, expected 710 root:enospc"
mount -t sysfs -o ro sysfs "$root/sys"
on_exit "umount -l '$root/sys'"
if [[ -d /sys/kernel/tracing/events ]]; then
  mount --bind /sys/kernel/tracing "$root/sys/kernel/tracing" 2>/dev/null && on_exit "umount -l '$root/sys/kernel/tracing'"
fi
in_root enospcd --once --duration 1s -o json >"$scratch/once.json" 2>"$scratch/once.err" ||
  die "the installed enospcd cannot trace: $(cat "$scratch/once.err")"
gate=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["status"]["gate"]["mode"])' "$scratch/once.json") ||
  die "no gate mode in the report of the installed enospcd: $(head -c 500 "$scratch/once.json")"
say "ok: installed with ${pulled:-?} packages from $mirror; '$version' traces with $gate; enospcctl --help," \
  "group enospc, conffile, units and tmpfiles fine"

# 5. Purge after an administrator enabled the units and the daemon wrote its journal.
in_root systemctl enable enospcd.service >/dev/null 2>&1 || die "systemctl enable enospcd failed in the root"
links=("$root/etc/systemd/system/multi-user.target.wants/enospcd.service"
  "$root/etc/systemd/system/sockets.target.wants/enospcd.socket")
for l in "${links[@]}"; do [[ -L $l ]] || die "systemctl enable did not create $l"; done
mkdir -p "$root/var/lib/enospcd" && echo '{}' >"$root/var/lib/enospcd/journal-00000001.ndjson"
in_root apt-get purge -y enospcd >"$scratch/purge.log" 2>&1 || die "apt-get purge failed: $(tail -n 20 "$scratch/purge.log")"
for gone in /usr/sbin/enospcd /usr/bin/enospcctl /etc/default/enospcd /var/lib/enospcd \
  /lib/systemd/system/enospcd.service "${links[@]#"$root"}"; do
  [[ ! -e $root$gone && ! -L $root$gone ]] || die "$gone is still there after purge"
done
in_root getent group enospc >/dev/null || die "purge removed the group enospc (it must stay, see postrm)"
say "ok: purge removed binaries, conffile, journal and enable links and kept the group; $((SECONDS - started)) s in all"
