#!/usr/bin/env bash
# The package under a real systemd: a clean Debian 12 (the cached debootstrap root) boots in systemd-nspawn
# and, once up, runs the "install" commands of README.md verbatim (as root, sudo dropped,
# USER=alice), then the "query" commands as alice after a new login. Checked from outside afterwards:
#   - the daemon runs with exactly the unit's capabilities (as far as the container holds them), no_new_privs,
#     group enospc; /run/enospcd is 0710 and the socket 0660, root:enospc; it serves the socket of
#     enospcd.socket (LISTEN_FDS);
#   - failures of short-lived processes on tmpfs mounted below /home, /tmp and /srv are diagnosed with the
#     right filesystem from inside the unit's sandbox (ProtectSystem, ProtectHome, ...);
#   - stopping the service leaves the socket listening, and the next query starts it again;
#   - a crash (SIGSEGV) is followed by a restart (Restart=on-failure);
#   - the running manager's `systemd-analyze security` rates the exposure at most 4.0.
# Skips (77) when the Debian mirror is unreachable or systemd-nspawn cannot run containers here.
# Usage: systemd_boot.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
. "$(dirname "$0")/lib.sh"

(($# == 2)) || die "usage: $prog SOURCE_DIR BUILD_DIR"
source_dir=$(cd "$1" && pwd)
build=$(cd "$2" && pwd)
need_root "systemd-nspawn"
need_cmd systemd-nspawn systemd-container
need_cmd capsh libcap2-bin
need_cmd python3 python3-minimal
need_cmd cpack cmake

started=$SECONDS
mirror=$(debian_mirror)
mirror_reachable "$mirror" || skip "the Debian mirror $mirror is unreachable (needed for the package's dependencies)"
make_scratch
deb=$(readme_build_deb "$source_dir" "$build" "$scratch")
debootstrap_tarball "$mirror"
root=$scratch/root
mkdir -p "$root"
tar -C "$root" --numeric-owner -xzf "$tarball"

machine=enospcd-boot-$$
# BPF needs CAP_BPF and CAP_PERFMON in the container's bounding set and bpf(2), perf_event_open(2) through
# nspawn's seccomp filter; the unit then narrows both again for the daemon.
nspawn_caps=CAP_BPF,CAP_PERFMON
own_bounding=$(capsh --decode="$(awk '/^CapBnd:/ {print $2}' /proc/self/status)" | sed 's/^.*=//')
[[ ,$own_bounding, == *,cap_sys_resource,* ]] && nspawn_caps+=,CAP_SYS_RESOURCE
nspawn=(systemd-nspawn --quiet --register=no --keep-unit --machine="$machine" --directory="$root"
  --capability="$nspawn_caps" --system-call-filter="bpf perf_event_open" --resolv-conf=copy-host)
if ! out=$(timeout 60 "${nspawn[@]}" --pipe /bin/true 2>&1); then
  skip "systemd-nspawn cannot run a container here: $out"
fi

# The package where the README expects it (./build/ below the working directory), the user to let in, and
# apt answering its "Do you want to continue?" with yes, as the person following the README would.
mkdir -p "$root/root/build" "$root/root/result"
echo 'APT::Get::Assume-Yes "true";' >"$root/etc/apt/apt.conf.d/90enospcd-test"
cp "$deb" "$root/root/build/"
chroot "$root" useradd --create-home --shell /bin/bash alice

install_cmds=$(python3 "$tests_src/readme_blocks.py" "$packaging_src/../README.md" install --no-sudo --user alice)
query_cmds=$(python3 "$tests_src/readme_blocks.py" "$packaging_src/../README.md" query)
cat >"$root/root/boot-test.sh" <<EOF
#!/bin/bash
# Runs once at boot (boot-test.service); results go to /root/result, read by $prog outside.
set -euxo pipefail
export DEBIAN_FRONTEND=noninteractive APT_LISTCHANGES_FRONTEND=none
trap 'echo "exit \$? at line \$LINENO" >/root/result/exit; systemctl start poweroff.target --job-mode=replace-irreversibly --no-block' EXIT
grep CapBnd /proc/1/status >/root/result/container-caps
cd /root
apt-get update -qq
# README.md, Install:
$install_cmds
for i in \$(seq 150); do
  systemctl is-active --quiet enospcd.service && [ -S /run/enospcd/enospcd.sock ] && break
  sleep 0.2
done
systemctl is-active enospcd.service enospcd.socket
# Events to journald as structured entries, and a watchdog short enough to see two pings.
sed -i 's/^ENOSPCD_OPTS=.*/ENOSPCD_OPTS="--journald-events"/' /etc/default/enospcd
mkdir -p /etc/systemd/system/enospcd.service.d
printf '[Service]\nWatchdogSec=4s\n' >/etc/systemd/system/enospcd.service.d/watchdog.conf
systemctl daemon-reload
systemctl restart enospcd.service
systemctl is-active enospcd.service
pid=\$(systemctl show -p MainPID --value enospcd.service)
grep -E '^(CapEff|CapBnd|NoNewPrivs|Gid):' /proc/\$pid/status >/root/result/daemon-status
getent group enospc | cut -d: -f3 >/root/result/enospc-gid
stat -c '%n %a %U:%G' /run/enospcd /run/enospcd/enospcd.sock >/root/result/perms
# Short-lived processes fill tmpfs mounted below paths the unit's sandbox treats specially.
for d in /home/enospcd-test /tmp/enospcd-test /srv/enospcd-test; do
  mkdir -p \$d && mount -t tmpfs -o nr_inodes=4,size=1m enospcd-test \$d
  for i in 1 2 3 4 5 6; do touch \$d/f\$i 2>/dev/null || break; done
  echo \$d >>/root/result/triggers
done
sleep 1
w1=\$(systemctl show -p WatchdogTimestampMonotonic --value enospcd.service)
sleep 3
w2=\$(systemctl show -p WatchdogTimestampMonotonic --value enospcd.service)
echo "\$(systemctl show -p WatchdogUSec --value enospcd.service) \$w1 \$w2" >/root/result/watchdog
journalctl -u enospcd.service -o json --no-pager >/root/result/journal.json
# README.md, Install (the query after a new login):
su - alice -c '$query_cmds' >/root/result/query.out 2>&1
su - alice -c 'enospcctl -o json events --limit 10000' >/root/result/events.json
su - alice -c 'enospcctl -o json status' >/root/result/status.json
# The socket keeps listening while the service is stopped; the next query starts it.
systemctl stop enospcd.service
systemctl is-active enospcd.socket
su - alice -c 'enospcctl -o json status' >/root/result/status-activated.json
systemctl is-active enospcd.service >/root/result/activated
# Restart=on-failure.
old=\$(systemctl show -p MainPID --value enospcd.service)
kill -SEGV \$old
for i in \$(seq 100); do
  new=\$(systemctl show -p MainPID --value enospcd.service)
  [ "\$new" != 0 ] && [ "\$new" != "\$old" ] && systemctl is-active --quiet enospcd.service && break
  sleep 0.2
done
echo "\$old \$new \$(systemctl show -p NRestarts --value enospcd.service)" >/root/result/restart
systemd-analyze security enospcd.service >/root/result/security.txt 2>&1 || true
journalctl -u enospcd.service -u enospcd.socket --no-pager >/root/result/journal.txt
echo ok >/root/result/ok
EOF
chmod 755 "$root/root/boot-test.sh"
cat >"$root/etc/systemd/system/boot-test.service" <<'EOF'
[Unit]
Description=enospcd packaging test
After=basic.target
[Service]
Type=oneshot
ExecStart=/root/boot-test.sh
StandardOutput=file:/root/result/boot-test.log
StandardError=inherit
TimeoutStartSec=600
[Install]
WantedBy=multi-user.target
EOF
ln -s /etc/systemd/system/boot-test.service "$root/etc/systemd/system/multi-user.target.wants/boot-test.service"

say "booting Debian 12 with systemd in systemd-nspawn ($machine)"
boot_started=$SECONDS
timeout 700 "${nspawn[@]}" --boot --console=pipe >"$scratch/console.log" 2>&1 </dev/null || true
result=$root/root/result
if [[ ! -f $result/ok ]]; then
  die "the test inside the container did not finish ($(cat "$result/exit" 2>/dev/null || echo 'no exit status'));" \
    "its log:
$(tail -n 40 "$result/boot-test.log" 2>/dev/null)
journal of enospcd:
$(tail -n 20 "$result/journal.txt" 2>/dev/null)
console:
$(tail -n 20 "$scratch/console.log")"
fi
say "the container booted, installed, tested and powered off in $((SECONDS - boot_started)) s"

# Capabilities: the unit's set, as far as the container's bounding set holds it.
decode() { capsh --decode="$1" | sed 's/^.*=//' | tr ',' '\n' | sort | paste -sd,; }
container=$(awk '{print $2}' "$result/container-caps")
expected=$(comm -12 <(unit_capabilities | sed 's/^/cap_/' | sort) <(decode "$container" | tr ',' '\n' | sort) | paste -sd,)
eff=$(decode "$(awk '/^CapEff:/ {print $2}' "$result/daemon-status")")
bnd=$(decode "$(awk '/^CapBnd:/ {print $2}' "$result/daemon-status")")
[[ $eff == "$expected" && $bnd == "$expected" ]] ||
  die "the daemon runs with effective {$eff}, bounding {$bnd}; expected {$expected}"
grep -q '^NoNewPrivs:[[:space:]]*1$' "$result/daemon-status" || die "the daemon runs without no_new_privs"
gid=$(cat "$result/enospc-gid")
grep -qE "^Gid:[[:space:]]+${gid}[[:space:]]" "$result/daemon-status" || die "the daemon's group is not enospc ($gid)"
grep -qx '/run/enospcd 710 root:enospc' "$result/perms" || die "/run/enospcd: $(head -n 1 "$result/perms")"
grep -qx '/run/enospcd/enospcd.sock 660 root:enospc' "$result/perms" || die "socket: $(tail -n 1 "$result/perms")"

# The README's query worked for alice, the daemon took systemd's socket, and diagnosed every trigger right.
[[ -s $result/query.out ]] || die "enospcctl status printed nothing for alice"
python3 - "$result" <<'EOF' || die "diagnosis or activation wrong (above)"
import json, os, sys
r = sys.argv[1]
status = json.load(open(os.path.join(r, "status.json")))
problems = []
if status.get("api", {}).get("socket_activated") is not True:
    problems.append("the daemon did not serve the socket of enospcd.socket (api.socket_activated is not true)")
events = json.load(open(os.path.join(r, "events.json")))
events = events.get("events", events)
for d in open(os.path.join(r, "triggers")).read().split():
    mine = [e for e in events if str(e.get("path", "")).startswith(d + "/") and e.get("errno") == "ENOSPC"]
    if not mine:
        problems.append(f"no event for the ENOSPC in {d}")
        continue
    cause = mine[0].get("cause") or {}
    mp = (cause.get("evidence") or {}).get("mount_point")
    if cause.get("id") != "tmpfs_inodes" or mp != d:
        problems.append(f"{d}: diagnosed as {cause.get('id')} at {mp}, expected tmpfs_inodes at {d}")
# journald: each failure as a structured entry of priority warning; the daemon's own lines with their
# priority and no second timestamp.
entries = [json.loads(l) for l in open(os.path.join(r, "journal.json")) if l.strip()]
for d in open(os.path.join(r, "triggers")).read().split():
    mine = [e for e in entries if str(e.get("ENOSPCD_PATH", "")).startswith(d + "/")]
    if not mine:
        problems.append(f"no journald entry for the ENOSPC in {d}")
    elif any(e.get("ENOSPCD_CAUSE") != "tmpfs_inodes" or e.get("PRIORITY") != "4" or
             json.loads(e.get("ENOSPCD_JSON", "{}")).get("path") != e.get("ENOSPCD_PATH") for e in mine):
        problems.append(f"{d}: journald entries {mine[0]}")
own = [e for e in entries if "ENOSPCD_JSON" not in e and e.get("SYSLOG_IDENTIFIER") == "enospcd"]
if not own or any(e.get("PRIORITY") not in ("2", "3", "4", "5", "6", "7") for e in own):
    problems.append(f"the daemon's log lines carry no priority: {own[:2]}")
if any(str(e.get("MESSAGE", "")).startswith(("20", "<")) for e in own):
    problems.append(f"a log line kept its own timestamp or prefix: {[e['MESSAGE'] for e in own][:3]}")
if not any(e.get("PRIORITY") == "6" for e in own):
    problems.append("no info line at priority 6")
usec, w1, w2 = open(os.path.join(r, "watchdog")).read().split()
if usec in ("0", "infinity") or int(w2) <= int(w1):
    problems.append(f"no watchdog pings (WatchdogUSec {usec}, last ping {w1} then {w2})")
activated = json.load(open(os.path.join(r, "status-activated.json")))
if "api" not in activated:
    problems.append("no status after the socket started the stopped service")
if problems:
    sys.exit("\n".join(problems))
EOF
[[ $(cat "$result/activated") == active ]] || die "the query did not start the stopped service"
read -r old new restarts <"$result/restart"
[[ $new != 0 && $new != "$old" && $restarts -ge 1 ]] ||
  die "no restart after SIGSEGV (MainPID $old -> $new, NRestarts $restarts)"
exposure=$(sed -n 's/.*Overall exposure level for enospcd.service: \([0-9.]*\).*/\1/p' "$result/security.txt")
[[ -n $exposure ]] && python3 -c "import sys; sys.exit(float(sys.argv[1]) > 4.0)" "$exposure" ||
  die "systemd-analyze security: exposure '${exposure:-?}' (at most 4.0): $(tail -n 3 "$result/security.txt")"
say "ok: README install under systemd; caps {$eff}, no_new_privs, root:enospc 0710/0660, socket activation," \
  "right diagnosis below /home /tmp /srv, events and priorities in journald, watchdog pings, restart after a crash, exposure $exposure; $((SECONDS - started)) s in all"
