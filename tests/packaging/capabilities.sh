#!/usr/bin/env bash
# enospcd traces with exactly the capabilities of packaging/systemd/enospcd.service and nothing else (no
# CAP_SYS_ADMIN), as root the way systemd starts it (bounding set, no_new_privs), and a real ENOSPC shows up
# in its report: a process of another user fills the inodes of a tmpfs mounted below a directory root does
# not own.
#
# Then each capability is taken away in turn, to show what it is for on this kernel: without CAP_BPF or
# CAP_PERFMON the daemon must refuse to start; without CAP_DAC_READ_SEARCH or CAP_SYS_PTRACE it runs but
# knows less (reported, not asserted, since that depends on the daemon's lookups). Last, RLIMIT_MEMLOCK is
# cut to 64 KiB to learn whether BPF memory is still charged to it here (CAP_SYS_RESOURCE's only use).
# Usage: capabilities.sh ENOSPCD
set -euo pipefail
. "$(dirname "$0")/lib.sh"

(($# == 1)) || die "usage: $prog ENOSPCD"
daemon=$1
[[ -x $daemon ]] || die "$daemon is not built"
need_root "loads BPF programs and mounts a tmpfs"
need_cmd setpriv util-linux
need_cmd capsh libcap2-bin
need_cmd python3 python3-minimal

readonly nobody=65534 duration=3s
make_scratch

mapfile -t unit_caps < <(unit_capabilities)
((${#unit_caps[@]} > 0)) || die "no CapabilityBoundingSet= in enospcd.service"
for c in "${unit_caps[@]}"; do
  [[ $c != sys_admin ]] || die "enospcd.service keeps CAP_SYS_ADMIN; it must not need it"
done

# The test can only hand out what it holds itself (a container may lack some, e.g. CAP_SYS_RESOURCE).
own_bounding=$(capsh --decode="$(awk '/^CapBnd:/ {print $2}' /proc/self/status)" | sed 's/^.*=//')
caps=() absent=()
for c in "${unit_caps[@]}"; do
  if [[ ,$own_bounding, == *,cap_$c,* ]]; then caps+=("$c"); else absent+=("$c"); fi
done
if ((${#absent[@]})); then
  say "this environment does not hold CAP_${absent[*]^^}: the daemon runs without it, which shows it is not" \
    "needed on this kernel"
fi

# Mirrors the unit: root uid, the bounding set, no_new_privs. Sets out (the daemon's stdout), err (stderr),
# rc (exit status) and daemon_caps (its CapEff/CapBnd while it ran).
run_daemon() { # name cap... [-- extra setpriv args]
  local name=$1 set="-all" extra=()
  shift
  while (($#)); do
    if [[ $1 == -- ]]; then shift; extra=("$@"); break; fi
    set+=",+$1"
    shift
  done
  out=$scratch/$name.json err=$scratch/$name.err rc=0 daemon_caps=
  local pid
  "${extra[@]}" setpriv --bounding-set="$set" --inh-caps=-all --no-new-privs -- \
    "$daemon" --once --duration "$duration" -o json --events 10000 >"$out" 2>"$err" &
  pid=$!
  # Trigger only once the syscall gate is attached (or the daemon gave up).
  if wait_for 20 grep -q "tracing .* on syscall exit" "$err"; then
    daemon_caps=$(awk '/^Cap(Eff|Bnd):/ {printf "%s=%s ", $1, $2}' "/proc/$pid/status" 2>/dev/null || true)
    trigger
  fi
  wait "$pid" || rc=$?
}

# A tmpfs with 4 inodes in a 0700 directory of another user, filled by that user until ENOSPC.
n_trigger=0
trigger() {
  n_trigger=$((n_trigger + 1))
  local top=$scratch/private$n_trigger
  mkdir -m 0700 "$top"
  mount_small_tmpfs "$top/mnt" 4 "uid=$nobody,mode=0700"
  chown "$nobody:$nobody" "$top"
  trigger_dir=$top/mnt
  fill_inodes_until_enospc "$trigger_dir" "$nobody" 1
}

# The report's event for our trigger, as "cause exe" ("-" where absent), or nothing.
our_event() { # report
  python3 - "$1" "$trigger_dir" "$nobody" <<'EOF'
import json, sys
report, prefix, uid = sys.argv[1], sys.argv[2] + "/", int(sys.argv[3])
with open(report) as f:
    events = json.load(f).get("events", [])
for e in events:
    if str(e.get("path", "")).startswith(prefix) and e.get("errno") == "ENOSPC" and e.get("uid") == uid:
        cause = (e.get("cause") or {}).get("id") or "-"
        print(cause, e.get("exe") or "-")
        break
EOF
}

# 1. Exactly the unit's set.
run_daemon full "${caps[@]}"
[[ $rc == 0 ]] || die "enospcd failed with the unit's capabilities (exit $rc):
$(cat "$err")"
say "daemon ran with ${daemon_caps:-?}"
got_bnd=$(tr ' ' '\n' <<<"$daemon_caps" | sed -n 's/^CapBnd:=//p')
got_eff=$(tr ' ' '\n' <<<"$daemon_caps" | sed -n 's/^CapEff:=//p')
[[ -n $got_bnd ]] || die "could not read the daemon's capabilities from /proc"
decoded_bnd=$(capsh --decode="$got_bnd" | sed 's/^.*=//')
decoded_eff=$(capsh --decode="$got_eff" | sed 's/^.*=//')
expected=$(printf 'cap_%s\n' "${caps[@]}" | sort | paste -sd,)
[[ $(tr ',' '\n' <<<"$decoded_bnd" | sort | paste -sd,) == "$expected" ]] ||
  die "the daemon's bounding set is $decoded_bnd, expected $expected"
[[ $(tr ',' '\n' <<<"$decoded_eff" | sort | paste -sd,) == "$expected" ]] ||
  die "the daemon's effective set is $decoded_eff, expected $expected"
[[ ,$decoded_eff, != *,cap_sys_admin,* ]] || die "the daemon ran with CAP_SYS_ADMIN"
read -r cause exe < <(our_event "$out") || true
[[ -n ${cause:-} ]] || die "the ENOSPC of uid $nobody in $trigger_dir is not in the report ($out):
$(head -c 2000 "$out")"
[[ $cause == tmpfs_inodes ]] || die "the failure was diagnosed as '$cause', expected tmpfs_inodes"
say "ok: with {${expected}} only, the failure in $trigger_dir was caught and diagnosed as $cause" \
  "(process $exe)"

# 2. Each capability taken away.
declare -A verdict
for drop in "${caps[@]}"; do
  rest=()
  for c in "${caps[@]}"; do [[ $c == "$drop" ]] || rest+=("$c"); done
  unset cause exe
  run_daemon "no_$drop" "${rest[@]}"
  if [[ $rc != 0 ]]; then
    verdict[$drop]="needed: without it enospcd does not start ($(head -n 1 "$err"))"
    continue
  fi
  read -r cause exe < <(our_event "$out") || true
  if [[ -z ${cause:-} ]]; then
    verdict[$drop]="needed: without it the failure was not reported"
  elif [[ $cause != tmpfs_inodes ]]; then
    verdict[$drop]="needed for evidence: without it the cause is '$cause' instead of tmpfs_inodes"
  elif [[ $exe == - ]]; then
    verdict[$drop]="needed for /proc/PID of other users: without it the process's executable is unknown"
  else
    verdict[$drop]="not needed for this trigger"
  fi
done
for c in bpf perfmon; do
  [[ ${verdict[$c]:-} == "needed: without it enospcd does not start"* ]] ||
    die "without CAP_${c^^} enospcd should refuse to start, but: ${verdict[$c]:-it was not tested}"
done

# 3. RLIMIT_MEMLOCK of 64 KiB and no CAP_SYS_RESOURCE: memcg accounting (Linux 5.11) or memlock?
no_resource=()
for c in "${caps[@]}"; do [[ $c == sys_resource ]] || no_resource+=("$c"); done
unset cause
run_daemon memlock "${no_resource[@]}" -- prlimit --memlock=65536:65536
if [[ $rc == 0 ]] && read -r cause exe < <(our_event "$out") && [[ -n ${cause:-} ]]; then
  memlock="BPF memory is not charged to RLIMIT_MEMLOCK here (memcg accounting): CAP_SYS_RESOURCE not needed"
else
  memlock="BPF memory is charged to RLIMIT_MEMLOCK here: LimitMEMLOCK=infinity or CAP_SYS_RESOURCE needed"
  memlock+=" ($(head -n 1 "$err"))"
fi

say "what each capability of enospcd.service does on $(uname -r):"
for c in "${caps[@]}"; do say "  CAP_${c^^}: ${verdict[$c]}"; done
for c in "${absent[@]}"; do say "  CAP_${c^^}: not held by this environment, so not needed here"; done
say "  memlock: $memlock"
say "  CAP_SYS_ADMIN: not needed (never granted)"
