#!/usr/bin/env bash
# The systemd units as the package installs them (staged with DESTDIR from the CMake component "deb", next to
# this machine's own units) pass `systemd-analyze verify` without a single message, man pages included;
# they hold the settings the design asks for; `systemd-analyze security` rates the service's exposure at
# most 4.0 ("OK"); tmpfiles.d creates /run/enospcd as 0710 root:enospc.
# Usage: systemd_verify.sh BUILD_DIR
set -euo pipefail
. "$(dirname "$0")/lib.sh"

(($# == 1)) || die "usage: $prog BUILD_DIR"
build=$1
need_cmd systemd-analyze systemd
need_cmd systemd-tmpfiles systemd
need_cmd cmake
readonly max_exposure=4.0 threshold=40 # systemd-analyze takes the exposure times ten

make_scratch
root=$scratch/root
mkdir -p "$root/lib/systemd/system" "$root/etc"
# systemd's own units (targets the ours depend on), then the package's files over them.
cp -a /lib/systemd/system/. "$root/lib/systemd/system/"
DESTDIR=$root cmake --install "$build" --component deb --prefix /usr >"$scratch/install.log" 2>&1 ||
  die "staging the package failed (is the tree built?): $(tail -n 5 "$scratch/install.log")"
service=$root/lib/systemd/system/enospcd.service
socket=$root/lib/systemd/system/enospcd.socket
[[ -f $service && -f $socket ]] || die "the package installs no units in /lib/systemd/system"

# verify exits 0 on many problems ("..., ignoring"): any message is a failure.
messages=$(MANPATH=$root/usr/share/man systemd-analyze verify --root="$root" enospcd.service enospcd.socket 2>&1) ||
  die "systemd-analyze verify failed:
$messages"
[[ -z $messages ]] || die "systemd-analyze verify has complaints:
$messages"

# The settings the design asks for, as the installed files state them.
missing=()
require() { # file line
  grep -qxF -- "$2" "$1" || missing+=("$(basename "$1"): $2")
}
for line in \
  'ExecStart=/usr/sbin/enospcd $ENOSPCD_OPTS' 'EnvironmentFile=-/etc/default/enospcd' \
  'CapabilityBoundingSet=CAP_BPF CAP_PERFMON CAP_SYS_RESOURCE CAP_SYS_PTRACE CAP_DAC_READ_SEARCH' \
  'AmbientCapabilities=CAP_BPF CAP_PERFMON CAP_SYS_RESOURCE CAP_SYS_PTRACE CAP_DAC_READ_SEARCH' \
  'NoNewPrivileges=yes' 'ProtectSystem=strict' 'ProtectHome=read-only' \
  'RuntimeDirectory=enospcd' 'RuntimeDirectoryMode=0710' 'StateDirectory=enospcd' 'Group=enospc' \
  'Restart=on-failure' 'LimitMEMLOCK=infinity'; do
  require "$service" "$line"
done
grep -qE '^StartLimitIntervalSec=[0-9]+' "$service" || missing+=("enospcd.service: StartLimitIntervalSec=")
grep -qE '^StartLimitBurst=[0-9]+' "$service" || missing+=("enospcd.service: StartLimitBurst=")
for line in 'ListenStream=/run/enospcd/enospcd.sock' 'SocketMode=0660' 'SocketGroup=enospc' 'DirectoryMode=0710'; do
  require "$socket" "$line"
done
grep -v '^#' "$service" | grep -q 'CAP_SYS_ADMIN' && missing+=("enospcd.service must not grant CAP_SYS_ADMIN")
((${#missing[@]} == 0)) || die "settings missing from the units: $(printf '\n  %s' "${missing[@]}")"

# The paths in the units are the daemon's and the client's defaults.
[[ -x $root/usr/sbin/enospcd ]] || die "ExecStart names /usr/sbin/enospcd, which the package does not install"
client_default=$("$root/usr/bin/enospcctl" --help | sed -n 's/.*--socket TEXT=\([^ ]*\).*/\1/p')
[[ $client_default == /run/enospcd/enospcd.sock ]] ||
  die "enospcctl's default socket is '$client_default', the socket unit listens on /run/enospcd/enospcd.sock"

security=$(systemd-analyze security --offline=true --root="$root" --threshold="$threshold" enospcd.service 2>&1) ||
  die "systemd-analyze security rates enospcd.service above $max_exposure:
$(tail -n 25 <<<"$security")"
exposure=$(sed -n 's/.*Overall exposure level for enospcd.service: //p' <<<"$security")

# tmpfiles.d: the socket directory, root:enospc 0710, with a group database holding enospc.
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\nenospc:x:64998:\n' >"$root/etc/group"
systemd-tmpfiles --root="$root" --create enospcd.conf >"$scratch/tmpfiles.log" 2>&1 ||
  die "systemd-tmpfiles failed: $(cat "$scratch/tmpfiles.log")"
[[ -s $scratch/tmpfiles.log ]] && die "systemd-tmpfiles complained: $(cat "$scratch/tmpfiles.log")"
got=$(stat -c '%a %u:%g' "$root/run/enospcd")
[[ $got == "710 0:64998" ]] || die "tmpfiles.d made /run/enospcd $got, expected 710 0:64998 (root:enospc)"

say "ok: verify clean (man pages found), required settings present, exposure $exposure, /run/enospcd 0710 root:enospc"
