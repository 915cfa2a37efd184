#!/usr/bin/env bash
# Boot one kernel of the VM matrix under QEMU (TCG) with a busybox initramfs, run a scenario script in it and
# exit with the script's exit code.
#
# Usage: run-vm.sh --kernel NAME|DIR --script FILE [--payload DIR] [options]
#   --kernel NAME    5.10, 6.1 or 6.12 (x86_64), arm64-6.1 or arm64-6.12 (arm64, booted by qemu-system-aarch64
#                    -M virt) (fetched into the cache by fetch-kernels.sh if missing), or a directory laid out like
#                    a cache entry (vmlinuz, release, optional arch, modules/ and builtin.list; arm64: busybox)
#   --script FILE    scenario, run as "sh /scenario.sh" by busybox in /payload, stdin /dev/null
#   --payload DIR    copied to /payload; the shared libraries of every ELF in it (ldd; for an arm64 kernel the
#                    DT_NEEDED closure from the host's /lib/aarch64-linux-gnu and /usr/lib/aarch64-linux-gnu) and
#                    the dynamic loader are copied to the same absolute paths. Executables and shared objects
#                    must be built for the kernel's architecture
#   --timeout SEC    whole run, boot included (default 300); qemu is killed when it expires
#   --log FILE       console log, also streamed to stdout; default: a new file in ${TMPDIR:-/tmp}, deleted after a
#                    run that exits 0. Two runs never share a log (the second one fails).
#   --quiet          do not stream the console to stdout (the log is still written)
#   --cache DIR      kernel cache (default as fetch-kernels.sh)
#   --mem SIZE       guest memory (default 1G)         --smp N     guest CPUs (default 1)
#   --cpu MODEL      QEMU CPU model (default max,cx16=off on x86_64, max,pauth-impdef=on on arm64: see the
#                    comments on cpu= below)
#   --boot pvh|bzimage  x86_64 only. pvh (default when the cache has vmlinux): qemu loads the uncompressed ELF
#                    kernel, no decompression and no KASLR of the kernel image; bzimage: the packaged vmlinuz,
#                    with KASLR. arm64 boots the packaged Image.
#   --append ARGS    extra kernel command line arguments (e.g. loglevel=7 to see all kernel messages)
#   --env NAME=VAL   exported to the scenario (repeatable)
#   --modules LIST   comma-separated modules insmod-ed at boot with their dependencies (default loop; "none"):
#                    loop, overlay, xfs, btrfs, quota_v2, fuse (ext4 is built in; a built-in one is accepted)
#   --fail-on-kernel-warning  exit 125 if the kernel logged a WARNING/BUG/oops, even if the script passed
#   --keep           keep the work dir (initramfs tree and image) and print its path
# In the guest: proc, sysfs, devtmpfs, devpts, tmpfs on /tmp /run /dev/shm, tracefs on /sys/kernel/tracing,
# debugfs, cgroup2 on /sys/fs/cgroup, bpffs on /sys/fs/bpf, lo up, RLIMIT_MEMLOCK unlimited, --modules loaded;
# the scenario sees ENOSPCD_VM_KERNEL (NAME) and ENOSPCD_VM_RELEASE (expected uname -r).
# Environment: QEMU (the qemu binary, whatever the kernel's architecture), BUSYBOX (the static busybox put in the
# initramfs; default the host's for x86_64, the cache entry's for arm64).
# Exit codes: the script's exit code; 124 timeout; 125 harness or VM failure (panic, no exit line, bad payload);
# 75 kernel not cached and not downloadable (no network); 2 usage; 69 qemu-system-x86_64 (arm64:
# qemu-system-aarch64) or another host tool missing.
set -euo pipefail
export LC_ALL=C

readonly EX_TIMEOUT=124 EX_VM=125 EX_USAGE=2 EX_UNAVAILABLE=69 EX_NONET=75
readonly sentinel=ENOSPCD-VM-EXIT
prog=${0##*/}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

fail() { # exit code, message
  local rc=$1
  shift
  echo "$prog: error: $*" >&2
  exit "$rc"
}
usage() {
  sed -n '/^# Usage:/,/^# Exit codes/s/^# \{0,1\}//p' "$0" >&2
  exit "$EX_USAGE"
}
note() { echo "$prog: $*" >&2; }

kernel=
script=
payload=
timeout=300
log=
quiet=0
cache_dir=
mem=1G
smp=1
# Default CPU model per architecture, set once the kernel's is known (see the comments there).
cpu=
extra_append=
fail_on_warn=0
keep=0
modules=loop
boot=
envs=()
while (($#)); do
  opt=$1
  case $opt in
    --*=*) set -- "${opt%%=*}" "${opt#*=}" "${@:2}"; continue ;;
  esac
  case $opt in
    --quiet) quiet=1; shift; continue ;;
    --keep) keep=1; shift; continue ;;
    --fail-on-kernel-warning) fail_on_warn=1; shift; continue ;;
    -h|--help) usage ;;
  esac
  (($# >= 2)) || { echo "$prog: $opt needs a value" >&2; usage; }
  case $opt in
    --kernel) kernel=$2 ;;
    --script) script=$2 ;;
    --payload) payload=$2 ;;
    --timeout) timeout=$2 ;;
    --log) log=$2 ;;
    --cache) cache_dir=$2 ;;
    --mem) mem=$2 ;;
    --smp) smp=$2 ;;
    --cpu) cpu=$2 ;;
    --append) extra_append+=" $2" ;;
    --env) envs+=("$2") ;;
    --modules) modules=$2 ;;
    --boot) boot=$2 ;;
    *) echo "$prog: unknown option $opt" >&2; usage ;;
  esac
  shift 2
done
[[ -n $kernel && -n $script ]] || usage
[[ $timeout =~ ^[1-9][0-9]*$ ]] || fail "$EX_USAGE" "--timeout must be a positive number of seconds"
[[ $smp =~ ^[1-9][0-9]*$ ]] || fail "$EX_USAGE" "--smp must be a positive number"
[[ -f $script && -r $script ]] || fail "$EX_USAGE" "scenario script '$script' not found"
[[ -z $payload || -d $payload ]] || fail "$EX_USAGE" "payload '$payload' is not a directory"
for e in ${envs[@]+"${envs[@]}"}; do
  [[ $e =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] || fail "$EX_USAGE" "--env wants NAME=VALUE, got '$e'"
done

# The kernel's architecture picks qemu, busybox and how payload libraries are found. It is known before any
# download, so that a missing qemu is reported without fetching: a directory says it in its "arch" file (none:
# x86_64), fetch-kernels.sh names its arm64 kernels arm64-*. The cache entry's own file is read again after a fetch.
arch_of_dir() { cat "$1/arch" 2>/dev/null || echo x86_64; }
if [[ -d $kernel ]]; then arch=$(arch_of_dir "$kernel"); elif [[ $kernel == arm64-* ]]; then arch=arm64; else arch=x86_64; fi
check_qemu() {
  case $arch in
    x86_64) qemu=${QEMU:-qemu-system-x86_64} qemu_pkg=qemu-system-x86 ;;
    arm64) qemu=${QEMU:-qemu-system-aarch64} qemu_pkg=qemu-system-arm ;;
    *) fail "$EX_VM" "kernel $kernel: unknown architecture '$arch' (x86_64 or arm64)" ;;
  esac
  command -v "$qemu" >/dev/null ||
    fail "$EX_UNAVAILABLE" "$qemu not found (apt-get install $qemu_pkg)"
}
# x86_64 guests run the host's static busybox; arm64 ones the cache entry's (checked once the entry is known).
busybox=${BUSYBOX:-}
host_busybox() {
  if [[ -z $busybox ]]; then
    for b in /bin/busybox /usr/bin/busybox "$(command -v busybox || true)"; do
      [[ -n $b && -x $b ]] && { busybox=$b; break; }
    done
  fi
  [[ -n $busybox ]] || fail "$EX_UNAVAILABLE" "busybox not found (apt-get install busybox-static)"
}
check_qemu
[[ $arch != x86_64 ]] || host_busybox
for tool in cpio gzip ldd od flock timeout; do
  command -v "$tool" >/dev/null || fail "$EX_UNAVAILABLE" "'$tool' not found"
done

# Resolve the kernel: a cache entry by name (fetched on demand) or a directory given by path.
if [[ -d $kernel ]]; then
  kdir=$(cd "$kernel" && pwd)
  kname=${kdir##*/}
else
  kname=$kernel
  fetch_args=(--quiet --kernel "$kernel")
  [[ -z $cache_dir ]] || fetch_args+=("$cache_dir")
  set +e
  fetched=$("$here/fetch-kernels.sh" "${fetch_args[@]}")
  rc=$?
  set -e
  ((rc == 0)) || { ((rc == EX_NONET)) && exit "$EX_NONET"; fail "$EX_VM" "cannot get kernel $kernel (fetch-kernels.sh exit $rc)"; }
  kdir=$(dirname "$(echo "$fetched" | awk -v k="$kernel" '$1 == k { print $3 }')")
fi
if [[ $(arch_of_dir "$kdir") != "$arch" ]]; then
  arch=$(arch_of_dir "$kdir")
  check_qemu
fi
case $arch in
  x86_64)
    host_busybox
    case ${boot:-auto} in
      auto) if [[ -f $kdir/vmlinux ]]; then boot=pvh; kernel_image=$kdir/vmlinux; else boot=bzimage; kernel_image=$kdir/vmlinuz; fi ;;
      pvh) kernel_image=$kdir/vmlinux ;;
      bzimage) kernel_image=$kdir/vmlinuz ;;
      *) fail "$EX_USAGE" "--boot must be pvh or bzimage" ;;
    esac
    # With CX16 exposed, Linux 6.12 under QEMU 7.2 TCG (Debian 12) oopses in 20-45% of boots on corrupted SLUB
    # freelists (double faults in kmem_cache_alloc_noprof right after the per-CPU cmpxchg16b of the SLUB fast
    # path, this_cpu_try_cmpxchg128), whatever the rest of the CPU model. Without CX16 the kernel uses its
    # software fallback: no oops in 130 boots. 5.10 and 6.1 are not affected; all kernels get the same CPU model.
    cpu=${cpu:-max,cx16=off}
    ;;
  arm64)
    [[ -z $boot ]] || fail "$EX_USAGE" "--boot is for x86_64 kernels; $kname is arm64 (its Image is booted)"
    boot=Image
    kernel_image=$kdir/vmlinuz
    busybox=${BUSYBOX:-$kdir/busybox}
    [[ -z ${BUSYBOX:-} || -f $busybox ]] || fail "$EX_UNAVAILABLE" "BUSYBOX=$busybox not found"
    [[ -f $busybox ]] || fail "$EX_VM" "no arm64 busybox in $kdir (refetch: fetch-kernels.sh --refresh --kernel $kname)"
    [[ $(od -An -tu2 -j 18 -N2 "$busybox" | tr -d ' ') == 183 ]] ||
      fail "$EX_USAGE" "busybox $busybox is not an AArch64 executable (the kernel $kname is arm64)"
    command -v readelf >/dev/null || fail "$EX_UNAVAILABLE" "'readelf' not found (apt-get install binutils)"
    # pauth-impdef=on: the kernels sign their return addresses (ARM64_PTR_AUTH_KERNEL), and TCG's emulation of
    # the architected QARMA5 cipher is slow: a boot to /init took 5.3 s with plain "max", 1.3 s with QEMU's
    # implementation-defined algorithm (idle 2-core host). Pointer authentication stays on, as on Graviton.
    cpu=${cpu:-max,pauth-impdef=on}
    ;;
esac
[[ -f $kernel_image ]] || fail "$EX_VM" "no ${kernel_image##*/} in $kdir (--boot $boot)"
release=$(cat "$kdir/release" 2>/dev/null || echo unknown)
auto_log=0
if [[ -z $log ]]; then
  log=$(mktemp --suffix=.log "${TMPDIR:-/tmp}/enospcd-vm-$kname.XXXXXX")
  auto_log=1
fi
mkdir -p "$(dirname "$log")"
# The exit line is read back from the log: a concurrent run writing the same file would mix up results.
exec {log_lock_fd}>>"$log"
flock -n "$log_lock_fd" || fail "$EX_USAGE" "log $log is being written by another run"

work=
qemu_pid=
out_pid=
cleanup() {
  local rc=$?
  trap - EXIT INT TERM HUP
  if [[ -n $qemu_pid ]] && kill -0 "$qemu_pid" 2>/dev/null; then
    kill -TERM "$qemu_pid" 2>/dev/null || true
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$qemu_pid" 2>/dev/null || break; sleep 0.3; done
    kill -KILL "$qemu_pid" 2>/dev/null || true
    wait "$qemu_pid" 2>/dev/null || true
  fi
  [[ -z $out_pid ]] || wait "$out_pid" 2>/dev/null || true
  if [[ -n $work ]]; then
    if ((keep)); then note "work dir kept: $work"; else rm -rf "$work"; fi
  fi
  ((!auto_log || rc != 0)) || rm -f "$log"
  exit "$rc"
}
trap cleanup EXIT
trap 'note "interrupted"; exit 130' INT TERM HUP

t_start=$EPOCHREALTIME
work=$(mktemp -d "${TMPDIR:-/tmp}/enospcd-vm.XXXXXX")
root=$work/root
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,run,mnt,root,etc,payload,lib/modules,var/tmp}

# --- initramfs tree ---------------------------------------------------------------------------------------------
# The applet symlinks are made by "busybox --install -s" in the guest: ~400 ln(1) forks here cost a second.
cp "$busybox" "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
install -m 0755 "$here/init.sh" "$root/init"
install -m 0755 "$script" "$root/scenario.sh"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
printf 'root:x:0:\ntty:x:5:\nnogroup:x:65534:\n' >"$root/etc/group"
{
  printf 'export ENOSPCD_VM_KERNEL=%q ENOSPCD_VM_RELEASE=%q\n' "$kname" "$release"
  for e in ${envs[@]+"${envs[@]}"}; do printf 'export %s=%q\n' "${e%%=*}" "${e#*=}"; done
} >"$root/etc/enospcd-vm.env"
# printf %q may produce bash-only $'...' quoting; busybox ash understands it too.

# Modules and their dependencies, in load order, each once.
declare -A ko_seen=()
: >"$root/lib/modules/enospcd-vm.load"
if [[ $modules != none ]]; then
  IFS=, read -r -a wanted <<<"$modules"
  for m in "${wanted[@]}"; do
    [[ -n $m ]] || continue
    if [[ -f $kdir/modules/$m.load ]]; then
      while read -r ko; do
        [[ -n $ko && -z ${ko_seen[$ko]:-} ]] || continue
        ko_seen[$ko]=1
        cp "$kdir/modules/$ko" "$root/lib/modules/$ko" || fail "$EX_VM" "$kdir/modules/$ko is missing (refetch the kernel)"
        echo "$ko" >>"$root/lib/modules/enospcd-vm.load"
      done <"$kdir/modules/$m.load"
    elif ! grep -qx -- "$m" "$kdir/builtin.list" 2>/dev/null; then
      fail "$EX_USAGE" "module '$m' is neither cached nor built in for $kname (cached: $(cd "$kdir/modules" 2>/dev/null &&
        ls -- *.load 2>/dev/null | sed 's/\.load$//' | tr '\n' ' '))"
    fi
  done
fi

# Payload and the shared libraries of its ELF files, at the absolute paths they were found at on the host.
# Executables and shared objects must be built for the kernel's architecture: a foreign one would only fail in
# the guest ("not found" or "Exec format error"). Relocatable objects (BPF programs among them) are not checked.
elf_kind() { # file -> "<e_type> <e_machine>" if it is an ELF file
  local -a b
  read -r -a b < <(od -An -v -N20 -tu1 "$1" 2>/dev/null | tr '\n' ' ')
  ((${#b[@]} == 20)) && [[ ${b[*]:0:4} == '127 69 76 70' ]] || return 1
  if ((b[5] == 2)); then echo "$((b[16] << 8 | b[17])) $((b[18] << 8 | b[19]))"; else echo "$((b[16] | b[17] << 8)) $((b[18] | b[19] << 8))"; fi
}
machine_name() {
  case $1 in 3) echo i386 ;; 40) echo ARM ;; 62) echo x86-64 ;; 183) echo AArch64 ;; 243) echo RISC-V ;; *) echo "e_machine $1" ;; esac
}
declare -A libs=()
missing=()
foreign=()
dyn_queue=()
if [[ -n $payload ]]; then
  payload_abs=$(cd "$payload" && pwd)
  cp -a "$payload_abs/." "$root/payload/"
  while IFS= read -r -d '' f; do
    kind=$(elf_kind "$f") || continue
    if [[ $kind == [23]\ * ]]; then # ET_EXEC, ET_DYN
      case $arch:${kind#* } in
        x86_64:62 | x86_64:3 | arm64:183) ;;
        *) foreign+=("${f#"$payload_abs"/} ($(machine_name "${kind#* }"))"); continue ;;
      esac
    fi
    if [[ $arch == arm64 ]]; then
      [[ $kind != [23]\ 183 ]] || dyn_queue+=("$f") # resolved below
      continue
    fi
    ldd_out=$(LC_ALL=C ldd "$f" 2>&1) || continue # static executables, objects
    while read -r line; do
      case $line in
        *'=> not found'*) missing+=("${f#"$payload_abs"/}: ${line%% *}") ;;
        *'=> /'*) lib=${line#*=> }; libs[${lib%% (*}]=1 ;;
        /*) libs[${line%% (*}]=1 ;;
      esac
    done <<<"$ldd_out"
  done < <(find "$payload_abs" -type f -print0)
fi
((${#foreign[@]} == 0)) || fail "$EX_VM" "payload ELF files not built for $arch (the kernel $kname): ${foreign[*]}"

# ldd cannot run a foreign ELF: for an arm64 guest the DT_NEEDED closure is resolved here as ld.so would resolve
# it without an ld.so.cache: the object's DT_RUNPATH (else DT_RPATH) with $ORIGIN, then the default dirs of
# Debian's arm64 ld.so (multiarch first). Candidates that are not AArch64 ELF files are passed over, as ld.so does.
# The host provides the libraries as arm64 packages (dpkg --add-architecture arm64; apt-get install libfoo:arm64).
aarch64_default_dirs=(/lib/aarch64-linux-gnu /usr/lib/aarch64-linux-gnu /lib /usr/lib)
declare -A dyn_seen=()
find_aarch64_lib() { # name, search dirs... -> path
  local name=$1 d k
  shift
  for d in "$@"; do
    [[ -f $d/$name ]] || continue
    k=$(elf_kind "$d/$name") || continue
    [[ ${k#* } == 183 ]] || continue
    echo "$d/$name"
    return 0
  done
  return 1
}
while ((${#dyn_queue[@]})); do
  obj=${dyn_queue[0]}
  dyn_queue=("${dyn_queue[@]:1}")
  [[ -z ${dyn_seen[$obj]:-} ]] || continue
  dyn_seen[$obj]=1
  dyn=$(LC_ALL=C readelf -dlW "$obj" 2>/dev/null) || { missing+=("${obj#"$payload_abs"/}: unreadable ELF"); continue; }
  interp=$(sed -n 's/^ *\[Requesting program interpreter: \(.*\)\]$/\1/p' <<<"$dyn")
  if [[ -n $interp ]]; then
    if [[ -e $interp ]]; then libs[$interp]=1; else missing+=("${obj#"$payload_abs"/}: $interp"); fi
  fi
  search=$(sed -n 's/.*(RUNPATH).*Library runpath: \[\(.*\)\]$/\1/p' <<<"$dyn")
  [[ -n $search ]] || search=$(sed -n 's/.*(RPATH).*Library rpath: \[\(.*\)\]$/\1/p' <<<"$dyn")
  origin=$(dirname "$obj")
  # shellcheck disable=SC2016 # the literal $ORIGIN of the dynamic section
  search=${search//'${ORIGIN}'/$origin}
  # shellcheck disable=SC2016
  search=${search//'$ORIGIN'/$origin}
  IFS=: read -r -a dirs <<<"$search"
  dirs+=("${aarch64_default_dirs[@]}")
  while IFS= read -r name; do
    [[ -n $name ]] || continue
    if [[ $name == */* ]]; then lib=$name; [[ -f $lib ]] || lib=; else lib=$(find_aarch64_lib "$name" "${dirs[@]}") || lib=; fi
    if [[ -z $lib ]]; then
      missing+=("${obj#"$payload_abs"/}: $name")
      continue
    fi
    case $lib in "$payload_abs"/*) ;; *) libs[$lib]=1 ;; esac
    dyn_queue+=("$lib")
  done < <(sed -n 's/.*(NEEDED).*Shared library: \[\(.*\)\]$/\1/p' <<<"$dyn")
done
if ((${#missing[@]})); then
  [[ $arch == x86_64 ]] || fail "$EX_VM" "payload libraries not found (in RUNPATHs and ${aarch64_default_dirs[*]}; install the" \
    "arm64 packages, e.g. apt-get install libfoo:arm64): ${missing[*]}"
  fail "$EX_VM" "payload libraries not found by ldd: ${missing[*]}"
fi
for lib in "${!libs[@]}"; do
  case $lib in "$payload_abs"/*) continue ;; esac # $ORIGIN libraries travel with the payload
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done

# --- image ---------------------------------------------------------------------------------------------------
initrd=$work/initrd.cpio.gz
(cd "$root" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc -R 0:0 --quiet) | gzip -1 >"$initrd"
t_built=$EPOCHREALTIME

# --- boot ----------------------------------------------------------------------------------------------------
# no_timer_check: under emulation on a loaded host the IO-APIC timer self-test can miss its window and panic
# ("IO-APIC + timer doesn't work!"), seen once in 40 boots with two VMs on two cores.
# tsc=unstable: on a loaded host the early TSC calibration is sometimes far off (652 and 815 MHz instead of
# 2300 seen in 2 of 8 boots), and CLOCK_MONOTONIC then runs several times too fast (up to a 240 s jump) until the
# clocksource watchdog gives up on the TSC. The HPET follows the host's clock from the start.
case $arch in
  x86_64)
    append="console=ttyS0 panic=-1 oops=panic quiet mitigations=off no_timer_check tsc=unstable random.trust_cpu=on"
    append+=$extra_append
    qemu_cmd=(
      "$qemu" -accel tcg -cpu "$cpu" -m "$mem" -smp "$smp"
      -nodefaults -no-user-config -display none -no-reboot -serial stdio
      -kernel "$kernel_image" -initrd "$initrd" -append "$append"
    )
    ;;
  arm64)
    # "virt" has a PL011 UART (ttyAMA0) for the console, PSCI for poweroff and for the reboot that panic=-1
    # turns into a qemu exit (-no-reboot), and the architected timer, which needs none of the x86 workarounds
    # (no_timer_check, tsc=unstable). The Image is loaded as is: no firmware, no decompression in the guest.
    append="console=ttyAMA0 panic=-1 oops=panic quiet mitigations=off random.trust_cpu=on"
    append+=$extra_append
    qemu_cmd=(
      "$qemu" -M virt -accel tcg -cpu "$cpu" -m "$mem" -smp "$smp"
      -nodefaults -no-user-config -display none -no-reboot -serial stdio
      -kernel "$kernel_image" -initrd "$initrd" -append "$append"
    )
    ;;
esac
note "booting $kname ($release, $boot), initramfs $(($(stat -c %s "$initrd") / 1024)) KiB, timeout ${timeout}s, log $log"

# Console: CRs and the firmware's terminal escapes dropped, written to the log and (unless --quiet) to stdout.
if ((quiet)); then
  exec {console_fd}> >(sed -u -e 's/\r$//' -e 's/\x1bc//g' -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' >"$log")
else
  exec {console_fd}> >(sed -u -e 's/\r$//' -e 's/\x1bc//g' -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' | tee "$log")
fi
out_pid=$!
# timeout(1) bounds qemu even if this script is killed with SIGKILL and cannot clean up.
timeout --foreground --kill-after=10 $((timeout + 30)) "${qemu_cmd[@]}" </dev/null >&"$console_fd" 2>&1 &
qemu_pid=$!
exec {console_fd}>&-

deadline=$((${t_built%.*} + timeout))
timed_out=0
ticks=0
seen_exit_at=
while kill -0 "$qemu_pid" 2>/dev/null; do
  now=${EPOCHREALTIME%.*}
  if ((now >= deadline)); then
    timed_out=1
    break
  fi
  # After the exit line the guest powers off within a second; if it does not, do not wait for the timeout.
  if ((++ticks % 5 == 0)) && [[ -z $seen_exit_at ]] && grep -aqE "^$sentinel [0-9]+$" "$log" 2>/dev/null; then
    seen_exit_at=$now
  fi
  if [[ -n $seen_exit_at ]] && ((now - seen_exit_at >= 15)); then
    note "guest printed its exit line but did not power off: stopping qemu"
    break
  fi
  sleep 0.2
done
if kill -0 "$qemu_pid" 2>/dev/null; then
  kill -TERM "$qemu_pid" 2>/dev/null || true
  for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$qemu_pid" 2>/dev/null || break; sleep 0.3; done
  kill -KILL "$qemu_pid" 2>/dev/null || true
fi
qemu_rc=0
wait "$qemu_pid" || qemu_rc=$?
qemu_pid=
wait "$out_pid" 2>/dev/null || true
out_pid=
t_end=$EPOCHREALTIME

elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
booted=$(sed -n 's/^ENOSPCD-VM-BOOTED \([0-9.]*\)$/\1/p' "$log" | tail -n 1)
timing="build $(elapsed "$t_start" "$t_built")s, vm $(elapsed "$t_built" "$t_end")s${booted:+ (init reached at ${booted}s guest uptime)}"

if ((timed_out)); then
  note "last console lines:"
  tail -n 15 "$log" >&2
  fail "$EX_TIMEOUT" "timed out after ${timeout}s on $kname ($release); qemu killed; log: $log"
fi
if grep -aq 'ENOSPCD-VM-KERNEL-WARNINGS-BEGIN' "$log"; then
  note "the kernel logged warnings (see the ENOSPCD-VM-KERNEL-WARNINGS block in $log)"
fi
rc=$(sed -n "s/^$sentinel \([0-9][0-9]*\)$/\1/p" "$log" | tail -n 1)
if [[ -z $rc ]]; then
  panic=$(grep -a -m 1 'Kernel panic' "$log" || true)
  [[ -z $panic ]] || fail "$EX_VM" "kernel panic on $kname ($release): ${panic#*] }; log: $log"
  note "last console lines:"
  tail -n 15 "$log" >&2
  fail "$EX_VM" "$kname ($release): the VM stopped (qemu exit $qemu_rc) without printing '$sentinel <rc>'; log: $log"
fi
if ((fail_on_warn)) && grep -aq 'ENOSPCD-VM-KERNEL-WARNINGS-BEGIN' "$log"; then
  fail "$EX_VM" "$kname ($release): kernel warnings with --fail-on-kernel-warning (script exit $rc); log: $log"
fi
((auto_log && rc == 0)) || timing+="; log $log"
note "$kname ($release): script exit $rc; $timing"
exit "$rc"
