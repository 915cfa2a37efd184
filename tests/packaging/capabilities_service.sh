#!/usr/bin/env bash
# enospcd in daemon mode with exactly the capabilities and the primary group of enospcd.service, as systemd
# runs it: no CAP_CHOWN, yet it must hand its socket directory and socket to the group (0710 and 0660
# root:GROUP); members of the group query it, others are refused; a real ENOSPC is found by a query.
# Then the same under socket activation (systemd-socket-activate passes the listening socket, LISTEN_FDS):
# the first query starts the daemon and is answered.
# Usage: capabilities_service.sh ENOSPCD ENOSPCCTL
set -euo pipefail
. "$(dirname "$0")/lib.sh"

(($# == 2)) || die "usage: $prog ENOSPCD ENOSPCCTL"
daemon=$1 client=$2
for b in "$daemon" "$client"; do [[ -x $b ]] || die "$b is not built"; done
need_root "loads BPF programs and mounts a tmpfs"
need_cmd setpriv util-linux
need_cmd capsh libcap2-bin
need_cmd python3 python3-minimal
need_cmd systemd-socket-activate systemd

readonly nobody=65534 gid=64999 # the group: a numeric gid needs no entry in /etc/group
make_scratch

own_bounding=$(capsh --decode="$(awk '/^CapBnd:/ {print $2}' /proc/self/status)" | sed 's/^.*=//')
set="-all"
while read -r c; do
  [[ ,$own_bounding, == *,cap_$c,* ]] && set+=",+$c"
done < <(unit_capabilities)
say "capabilities: $set (of enospcd.service, as far as this environment holds them)"

# As the unit: uid 0, Group= as the primary group, bounding set, no_new_privs, umask 0077. Replaces the
# calling (background) shell, so that $! is the daemon.
exec_as_unit() {
  exec setpriv --regid="$gid" --clear-groups --bounding-set="$set" --inh-caps=-all --no-new-privs -- \
    sh -c 'umask 0077; exec "$@"' sh "$@"
}
as_member() { setpriv --reuid="$nobody" --regid="$gid" --clear-groups -- "$@"; }
as_outsider() { setpriv --reuid="$nobody" --regid="$nobody" --clear-groups -- "$@"; }

stop_daemon() { # pid
  kill -TERM "$1" 2>/dev/null || return 0
  local i
  for i in $(seq 50); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null || true
}

# The event of our trigger in `enospcctl -o json events` output: prints its cause id.
find_event() { # json_file dir
  python3 - "$1" "$2" <<'EOF'
import json, sys
doc = json.load(open(sys.argv[1]))
events = doc.get("events", doc) if isinstance(doc, dict) else doc
for e in events:
    if str(e.get("path", "")).startswith(sys.argv[2] + "/") and e.get("errno") == "ENOSPC":
        print((e.get("cause") or {}).get("id") or "-")
        break
EOF
}

mode_of() { stat -c '%a %u:%g' "$1"; }

# 1. The daemon binds the socket itself.
run=$scratch/run
sock=$run/enospcd.sock
(exec_as_unit "$daemon" --socket "$sock" --group "$gid" --state-dir "$scratch/state") >"$scratch/daemon.log" 2>&1 &
daemon_pid=$!
on_exit "stop_daemon $daemon_pid"
wait_for 30 test -S "$sock" || die "no socket at $sock after 30 s; the daemon said:
$(cat "$scratch/daemon.log")"
kill -0 "$daemon_pid" 2>/dev/null || die "the daemon exited: $(cat "$scratch/daemon.log")"
eff=$(capsh --decode="$(awk '/^CapEff:/ {print $2}' "/proc/$daemon_pid/status")" | sed 's/^.*=//')
expected=$(tr ',' '\n' <<<"${set#-all,}" | sed 's/^+/cap_/' | sort | paste -sd,)
[[ $(tr ',' '\n' <<<"$eff" | sort | paste -sd,) == "$expected" ]] ||
  die "the daemon runs with $eff, expected $expected"
[[ $(mode_of "$run") == "710 0:$gid" ]] || die "$run is $(mode_of "$run"), expected 710 0:$gid"
[[ $(mode_of "$sock") == "660 0:$gid" ]] || die "$sock is $(mode_of "$sock"), expected 660 0:$gid"

mkdir -m 0755 "$scratch/t"
mount_small_tmpfs "$scratch/t/mnt" 4 "mode=1777"
fill_inodes_until_enospc "$scratch/t/mnt" "$nobody" 1

as_member "$client" --socket "$sock" status >/dev/null || die "a member of the group cannot run enospcctl status"
found=
for _ in $(seq 20); do
  as_member "$client" --socket "$sock" -o json events --limit 10000 >"$scratch/events.json" ||
    die "enospcctl events failed for a member of the group"
  found=$(find_event "$scratch/events.json" "$scratch/t/mnt")
  [[ -z $found ]] || break
  sleep 0.25
done
[[ -n $found ]] || die "the ENOSPC in $scratch/t/mnt is not in enospcctl events: $(head -c 1500 "$scratch/events.json")"
[[ $found == tmpfs_inodes ]] || die "the failure was diagnosed as '$found', expected tmpfs_inodes"
if as_outsider "$client" --socket "$sock" status >"$scratch/outsider.out" 2>&1; then
  die "a user outside the group could query the daemon"
fi
say "ok: with {$eff}: self-bound socket 0660 0:$gid in 0710 0:$gid; a member found the failure ($found)," \
  "an outsider was refused: $(head -n 1 "$scratch/outsider.out")"
stop_daemon "$daemon_pid"

# 2. Socket activation: the daemon starts on the first connection and serves the passed socket.
sock2=$scratch/act/enospcd.sock
mkdir -m 0755 "$scratch/act"
systemd-socket-activate -l "$sock2" -- \
  setpriv --regid="$gid" --clear-groups --bounding-set="$set" --inh-caps=-all --no-new-privs -- \
  "$daemon" --socket "$sock2" --group "$gid" --state-dir "$scratch/state2" >"$scratch/activate.log" 2>&1 &
activator=$!
on_exit "stop_daemon $activator"
wait_for 10 test -S "$sock2" || die "systemd-socket-activate did not listen on $sock2: $(cat "$scratch/activate.log")"
timeout 60 "$client" --socket "$sock2" -o json status >"$scratch/status.json" ||
  die "the first query did not start the daemon or was not answered: $(cat "$scratch/activate.log")"
activated=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["api"]["socket_activated"])' \
  "$scratch/status.json") || die "no api.socket_activated in the status: $(head -c 500 "$scratch/status.json")"
[[ $activated == True ]] || die "the daemon did not take the socket from LISTEN_FDS (api.socket_activated=$activated)"
say "ok: socket activation; the first query started the daemon, which served the passed socket"
