#!/usr/bin/env bash
# Download the Debian cloud kernels of the VM test matrix and cache their vmlinuz, config and the few
# modules a scenario may need to insmod (the cloud kernels build in tmpfs, ext4, BTF, kprobes and ftrace, but
# loop, overlay, xfs, btrfs, quota_v2 are modules), in a layout run-vm.sh reads:
#
#   CACHE_DIR/kernels/<name>/vmlinuz  vmlinux (amd64: uncompressed ELF, for PVH boot)  config  release  package
#                            version  features  format  arch (x86_64 or arm64; an entry without it is x86_64)
#                            btf (the kernel's raw BTF, as /sys/kernel/btf/vmlinux shows it)  .complete
#                            modules/*.ko (decompressed)  modules/<module>.load (insmod order of the module and
#                            its dependencies, dependencies first)  builtin.list (wanted modules built in)
#                            arm64 only: busybox (static, arm64: PID 1 of the initramfs), bpftool (arm64, for
#                            payloads), userland (package and version of those two)
#   CACHE_DIR/apt/<suite>[-arm64]/  private apt state (sources.list, lists, archives): the host's apt is never touched
#
# Usage: fetch-kernels.sh [--kernel NAME]... [--refresh] [--quiet] [CACHE_DIR]
#   NAME: 5.10 (bullseye), 6.1 (bookworm), 6.12 (bookworm-backports), all amd64; default: these three.
#         arm64-6.1 (bookworm), arm64-6.12 (bookworm-backports): linux-image-cloud-arm64, only when named.
#   --refresh  re-resolve the newest package even when a kernel is cached (otherwise a cached kernel needs no network)
# Environment: ENOSPCD_VM_CACHE (default CACHE_DIR), ENOSPCD_VM_MIRROR (Debian mirror URI; default: the one the
#   host's apt sources use for Debian), ENOSPCD_VM_KEYRING (default /usr/share/keyrings/debian-archive-keyring.gpg).
# Prints one line per kernel: "<name> <uname -r> <path to vmlinuz>".
# Exit codes: 0 ok, 2 usage, 75 mirror unreachable (no network: callers may skip), 1 any other failure.
set -euo pipefail

readonly EX_NONET=75
prog=${0##*/}

die() { echo "$prog: error: $*" >&2; exit 1; }
die_nonet() { echo "$prog: error: $*" >&2; exit "$EX_NONET"; }
say() { [[ $quiet == 1 ]] || echo "$prog: $*" >&2; }

usage() {
  sed -n '/^# Usage:/,/^# Exit codes/s/^# \{0,1\}//p' "$0" >&2
  exit 2
}

# name -> Debian suite. The metapackage linux-image-cloud-<arch> of the suite points at the newest kernel ABI.
declare -A suite_of=([5.10]=bullseye [6.1]=bookworm [6.12]=bookworm-backports
  [arm64-6.1]=bookworm [arm64-6.12]=bookworm-backports)
# name -> Debian architecture, amd64 when not listed. The cloud-arm64 flavour boots on qemu's "-M virt" (PL011
# console, GIC, PSCI and the architected timer built in), like the cloud-amd64 one on a plain PC.
declare -A debarch_of=([arm64-6.1]=arm64 [arm64-6.12]=arm64)
# Debian architecture -> the "arch" file of an entry (the kernel's name for it, what run-vm.sh switches on).
declare -A kernel_arch_of=([amd64]=x86_64 [arm64]=arm64)
# The default set; the arm64 kernels (another qemu, ~25 MB each) are fetched when named.
all_kernels=(5.10 6.1 6.12)
known_kernels=(5.10 6.1 6.12 arm64-6.1 arm64-6.12)
# module:CONFIG option. Cached when the option is =m, listed in builtin.list when =y.
optional_modules=(loop:BLK_DEV_LOOP ext4:EXT4_FS overlay:OVERLAY_FS xfs:XFS_FS btrfs:BTRFS_FS quota_v2:QFMT_V2 fuse:FUSE_FS)
# Bumped when the layout of a cache entry changes: older entries are then fetched again.
readonly cache_format=3

# shellcheck source=cache-dir.sh
. "$(dirname "${BASH_SOURCE[0]}")/cache-dir.sh"

kernels=()
refresh=0
quiet=0
cache_dir=
while (($#)); do
  case $1 in
    --kernel) (($# >= 2)) || usage; kernels+=("$2"); shift 2 ;;
    --kernel=*) kernels+=("${1#*=}"); shift ;;
    --refresh) refresh=1; shift ;;
    --quiet|-q) quiet=1; shift ;;
    -h|--help) usage ;;
    -*) echo "$prog: unknown option $1" >&2; usage ;;
    *) [[ -z $cache_dir ]] || usage; cache_dir=$1; shift ;;
  esac
done
((${#kernels[@]})) || kernels=("${all_kernels[@]}")
for k in "${kernels[@]}"; do
  [[ -n ${suite_of[$k]:-} ]] || die "unknown kernel '$k' (known: ${known_kernels[*]})"
done
cache_dir=${cache_dir:-$(default_cache_dir)}

for tool in apt-get apt-cache dpkg-deb flock sha256sum; do
  command -v "$tool" >/dev/null || die "'$tool' not found (this script needs a Debian-like host)"
done

keyring=${ENOSPCD_VM_KEYRING:-/usr/share/keyrings/debian-archive-keyring.gpg}

# The Debian mirror the host already uses (deb822 .sources stanzas or one-line .list entries), so that a host that
# can only reach a local mirror keeps working. Security and backports URIs are skipped: we need the main archive.
detect_mirror() {
  if [[ -n ${ENOSPCD_VM_MIRROR:-} ]]; then
    echo "${ENOSPCD_VM_MIRROR%/}"
    return
  fi
  local f uri=
  shopt -s nullglob
  for f in /etc/apt/sources.list.d/*.sources; do
    uri=$(awk '
      BEGIN { RS = ""; FS = "\n" }
      {
        uris = ""; suites = ""; types = ""
        for (i = 1; i <= NF; i++) {
          if ($i ~ /^URIs:/) { uris = $i; sub(/^URIs:[ \t]*/, "", uris) }
          if ($i ~ /^Suites:/) { suites = " " $i " " }
          if ($i ~ /^Types:/) { types = " " $i " " }
        }
        if (types ~ / deb / && suites ~ /[ \t](bookworm|bullseye|trixie)[ \t]/) { split(uris, u, /[ \t]+/); print u[1]; exit }
      }' "$f")
    [[ -z $uri ]] || break
  done
  if [[ -z $uri ]]; then
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
      [[ -r $f ]] || continue
      uri=$(awk '$1 == "deb" { i = 2; if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
                               if ($(i + 1) ~ /^(bookworm|bullseye|trixie)$/) { print $i; exit } }' "$f")
      [[ -z $uri ]] || break
    done
  fi
  shopt -u nullglob
  echo "${uri:-http://deb.debian.org/debian}" | sed 's:/*$::'
}

# Private apt state per suite and architecture: one suite per state dir keeps "the candidate of
# linux-image-cloud-amd64" unambiguous. APT::Architectures pins the state to one architecture: otherwise apt takes
# the host's foreign architectures from dpkg. amd64 keeps the state dir it always had (apt/<suite>).
apt_opts=()
apt_dir=
apt_arch=
setup_apt() { # suite, Debian architecture
  local suite=$1 arch=$2 d=$cache_dir/apt/$1
  [[ $arch == amd64 ]] || d+=-$arch
  apt_dir=$d
  apt_arch=$arch
  mkdir -p "$d/lists/partial" "$d/archives/partial" "$d/state"
  : >"$d/state/status"
  # Host hooks (e.g. AppStream's refresh after "update") are about the host's apt state, not this private one.
  printf '#clear APT::Update::Post-Invoke-Success;\n#clear APT::Update::Post-Invoke;\n' >"$d/apt.conf"
  printf 'deb [arch=%s signed-by=%s] %s %s main\n' "$arch" "$keyring" "$mirror" "$suite" >"$d/sources.list"
  apt_opts=(
    -c "$d/apt.conf"
    -o "Dir::Etc::SourceList=$d/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o Dir::Etc::Preferences=/dev/null -o Dir::Etc::PreferencesParts=/dev/null
    -o "Dir::State=$d/state" -o "Dir::State::Lists=$d/lists" -o "Dir::State::status=$d/state/status"
    -o "Dir::Cache=$d" -o "Dir::Cache::Archives=$d/archives"
    -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache=
    -o "APT::Architecture=$arch" -o "APT::Architectures=$arch" -o Acquire::Languages=none
    -o "APT::Sandbox::User=$(id -un)" -o Acquire::Retries=2 -o Acquire::http::Timeout=30
  )
}

declare -A updated=()
update_suite() { # suite (of the state setup_apt made last)
  local suite=$1 log
  [[ -z ${updated[$apt_dir]:-} ]] || return 0
  say "updating package lists of $suite ($apt_arch) from $mirror"
  log=$(apt-get "${apt_opts[@]}" -q update 2>&1) || true
  # apt-get update exits 0 on some fetch failures: judge by the index files it left behind.
  if ! compgen -G "$apt_dir/lists/*_dists_${suite}_main_binary-${apt_arch}_Packages*" >/dev/null; then
    echo "$log" | tail -n 5 >&2
    if grep -qiE 'could not resolve|temporary failure|could not connect|connection (failed|refused|timed out)|unable to connect|network is unreachable|no route' <<<"$log"; then
      die_nonet "cannot reach the Debian mirror $mirror (no network?); set ENOSPCD_VM_MIRROR to use another one"
    fi
    die "apt-get update of $suite from $mirror produced no package list (see messages above)"
  fi
  updated[$apt_dir]=1
}

# A real package with a candidate: "apt-cache show" also succeeds, printing nothing, for a name that is only
# referenced (bookworm-backports' lists mention busybox-static without having it).
pkg_exists() {
  local out
  out=$(apt-cache "${apt_opts[@]}" show --no-all-versions "$1" 2>/dev/null) || return 1
  [[ $'\n'$out == *$'\n'"Package: $1"$'\n'* ]]
}

# linux-image-cloud-amd64 Depends: linux-image-6.1.0-50-cloud-amd64 (= 6.1.176-1) -> the unsigned flavour of it
# (identical kernel without the EFI signature; it exists for every Debian kernel, the signed one is the fallback).
# Same for arm64 (linux-image-cloud-arm64).
resolve_package() {
  local dep
  dep=$(apt-cache "${apt_opts[@]}" show --no-all-versions "linux-image-cloud-$apt_arch" 2>/dev/null |
    sed -n 's/^Depends: *\(linux-image-[^ ,]*\).*/\1/p') || true
  dep=${dep%%$'\n'*}
  if [[ -z $dep ]]; then
    dep=$(apt-cache "${apt_opts[@]}" search --names-only "^linux-image-[0-9.+a-z-]*-cloud-$apt_arch-unsigned\$" 2>/dev/null |
      awk '{ print $1 }' | sort -V | tail -n 1) || true
    [[ -n $dep ]] || return 1
  fi
  dep=${dep%-unsigned}
  if pkg_exists "$dep-unsigned"; then echo "$dep-unsigned"; else echo "$dep"; fi
}

config_value() { # config file, option without CONFIG_ -> y|m|n
  local v
  v=$(sed -n "s/^CONFIG_$2=\(.*\)/\1/p" "$1")
  v=${v%%$'\n'*}
  echo "${v:-n}"
}

# Module dependencies come from the .modinfo "depends=" field of each .ko (the package ships no modules.dep: it
# is generated by depmod at install time). add_module appends the dependency-ordered closure to mod_list.
mod_root=
mod_out=
mod_list=
declare -A mod_done=()
find_module() {
  local name=$1 alt f found
  alt=$(echo "$name" | tr '_-' '-_')
  for f in "$name" "$alt"; do
    found=$(find "$mod_root" -type f \( -name "$f.ko" -o -name "$f.ko.xz" -o -name "$f.ko.zst" -o -name "$f.ko.gz" \) \
      -print -quit)
    [[ -z $found ]] || { echo "$found"; return 0; }
  done
  return 1
}
cat_module() {
  case $1 in
    *.ko.xz) xz -dc "$1" ;;
    *.ko.zst) zstd -qdc "$1" ;;
    *.ko.gz) gzip -dc "$1" ;;
    *) cat "$1" ;;
  esac
}
add_module() { # name, required(1)/optional(0)
  local name=${1//-/_} file deps soft d
  [[ -z ${mod_done[$name]:-} ]] || return 0
  mod_done[$name]=1
  if ! file=$(find_module "$name"); then
    [[ $2 == 0 ]] && return 0 # optional softdep that is built in
    die "module $name not found under $mod_root"
  fi
  if [[ ! -f $mod_out/modules/$name.ko ]]; then
    cat_module "$file" >"$mod_out/modules/$name.ko" || die "cannot decompress $file (xz/zstd missing?)"
  fi
  # Whole-stream readers only: a reader quitting early would SIGPIPE tr and fail the pipeline (pipefail).
  deps=$(tr '\0' '\n' <"$mod_out/modules/$name.ko" | sed -n 's/^depends=//p')
  deps=${deps%%$'\n'*}
  deps=${deps//,/ }
  soft=$(tr '\0' '\n' <"$mod_out/modules/$name.ko" | sed -n 's/^softdep=pre: *//p')
  soft=${soft%%$'\n'*}
  for d in $deps; do add_module "$d" 1; done
  for d in $soft; do add_module "$d" 0; done
  echo "$name.ko" >>"$mod_list"
}

# The uncompressed kernel inside a bzImage, for a PVH boot (qemu -kernel ELF): no decompression under emulation,
# 3-5 s less per boot on a loaded host. The payload's place is in the boot protocol header (setup_sects at 0x1f1,
# payload_offset/payload_length at 0x248/0x24c, Documentation/arch/x86/boot.rst); its last 4 bytes are the
# uncompressed size, not compressed data.
extract_vmlinux() { # bzImage, output; fails if the payload is not an x86-64 ELF
  local img=$1 out=$2 sects off len start magic
  sects=$(od -An -tu1 -j $((0x1f1)) -N1 "$img" | tr -d ' ')
  off=$(od -An -tu4 -j $((0x248)) -N4 "$img" | tr -d ' ')
  len=$(od -An -tu4 -j $((0x24c)) -N4 "$img" | tr -d ' ')
  [[ $sects =~ ^[0-9]+$ && $off =~ ^[0-9]+$ && $len =~ ^[0-9]+$ ]] && ((len > 4)) || return 1
  ((sects)) || sects=4
  start=$(((sects + 1) * 512 + off))
  magic=$(od -An -tx1 -j "$start" -N4 "$img" | tr -d ' ')
  local -a unpack
  case $magic in
    02214c18) unpack=(lz4 -dc) ;;
    28b52ffd) unpack=(zstd -qdc) ;;
    fd377a58) unpack=(xz -dc) ;;
    1f8b08*) unpack=(gzip -dc) ;;
    *) return 1 ;;
  esac
  command -v "${unpack[0]}" >/dev/null || return 1
  dd if="$img" bs=1M iflag=skip_bytes,count_bytes skip="$start" count=$((len - 4)) status=none |
    "${unpack[@]}" >"$out" 2>/dev/null || return 1
  [[ $(od -An -N5 -tx1 "$out" | tr -d ' ') == 7f454c4602 ]]
}

# apt-get download into DIR. A network failure exits 75 (callers skip), any other failure 1.
download_pkg() { # package, dir
  (cd "$2" && apt-get "${apt_opts[@]}" -q download "$1" >"$2/download.log" 2>&1) || {
    tail -n 5 "$2/download.log" >&2
    if grep -qiE 'could not resolve|temporary failure|could not connect|connection (failed|refused|timed out)|unable to connect|network is unreachable|no route' "$2/download.log"; then
      die_nonet "cannot download $1 from $mirror (no network?)"
    fi
    die "apt-get download $1 failed"
  }
}

elf_machine() { od -An -tu2 -j 18 -N2 "$1" | tr -d ' '; } # e_machine: 62 x86-64, 183 AArch64

# The kernel's BTF as a raw blob (what /sys/kernel/btf/vmlinux is in the guest), for host tools that need the
# target kernel's types. From a vmlinux ELF: its .BTF section. An arm64 Image has no section table, so the
# struct btf_header is searched for: magic 0xeb9f (bytes 9f eb), version 1, flags 0, hdr_len 24, then type_off,
# type_len, str_off, str_len (u32, little-endian); the blob is 24 + str_off + str_len bytes. The largest
# consistent candidate wins (a BPF light skeleton built into the kernel carries a small BTF of its own).
bpftool_host=$(command -v bpftool || echo /usr/sbin/bpftool)
extract_btf() { # uncompressed kernel (vmlinux ELF or arm64 Image), output; fails when none is found
  local img=$1 out=$2 o best=-1 best_len=0 toff tlen soff slen size len
  if [[ $(od -An -N4 -tx1 "$img" | tr -d ' ') == 7f454c46 ]] && command -v objcopy >/dev/null; then
    objcopy -O binary --only-section=.BTF "$img" "$out" 2>/dev/null && [[ -s $out ]] || return 1
  else
    size=$(stat -c %s "$img")
    while read -r o; do
      read -r toff tlen soff slen < <(od -An -tu4 -j $((o + 8)) -N16 "$img")
      [[ -n $slen ]] || continue
      len=$((24 + soff + slen))
      ((toff == 0 && soff >= tlen && slen > 0 && o + len <= size && len > best_len)) || continue
      best=$o best_len=$len
    done < <(LC_ALL=C grep -obUaP '\x9f\xeb\x01\x00\x18\x00\x00\x00' "$img" | cut -d: -f1)
    ((best >= 0)) || return 1
    dd if="$img" of="$out" bs=1M iflag=skip_bytes,count_bytes skip="$best" count="$best_len" status=none || return 1
  fi
  # bpftool parses every type and string of the blob: a truncated or misplaced one fails here.
  [[ ! -x $bpftool_host ]] || "$bpftool_host" btf dump file "$out" >/dev/null 2>&1
}

# qemu-system-aarch64 -kernel takes an arm64 Image ("ARM\x64" at offset 56), also gzip-compressed; Debian's
# packages (6.1, 6.12) ship it uncompressed. An EFI zboot image (CONFIG_EFI_ZBOOT: a PE file with "zimg" at
# offset 4) needs QEMU 9.1 to boot, Debian 12 has 7.2. Sets arm64_plain to the uncompressed Image (for the BTF),
# arm64_why to the reason of a failure.
arm64_plain=
arm64_why=
check_arm64_image() { # packaged vmlinuz, scratch file for the decompressed Image
  arm64_plain=$1
  if [[ $(od -An -tx1 -N2 "$1" | tr -d ' ') == 1f8b ]]; then
    gzip -dc "$1" >"$2" || { arm64_why="cannot gunzip it"; return 1; }
    arm64_plain=$2
  fi
  if [[ $(od -An -c -j 4 -N4 "$arm64_plain" | tr -d ' ') == zimg ]]; then
    arm64_why="an EFI zboot image (CONFIG_EFI_ZBOOT), which Debian 12's QEMU 7.2 cannot boot"
    return 1
  fi
  [[ $(od -An -c -j 56 -N4 "$arm64_plain" | tr -d ' ') == ARMd ]] || { arm64_why="not an arm64 Image"; return 1; }
}

# The userland an arm64 guest needs and the host cannot provide: busybox-static for /init (the host's busybox is
# x86-64) and bpftool for payloads (installing bpftool:arm64 would replace the host's own; its libraries libelf1,
# zlib1g, libcap2 and libc6 are Multi-Arch: same, run-vm.sh copies them from the host's arm64 dirs like any
# payload's). Each comes from the kernel's suite when it has the package (bookworm-backports' bpftool matches its
# kernel), else from the base suite (bookworm-backports has no busybox-static).
fetch_userland() { # suite, Debian architecture, scratch dir, out dir, package, path in the package, entry file
  local suite=$1 arch=$2 scratch=$3/$5 out=$4 pkg=$5 path=$6 file=$7 s debs
  local -a suites=("$suite")
  [[ $suite != *-backports ]] || suites+=("${suite%-backports}")
  for s in "${suites[@]}"; do
    setup_apt "$s" "$arch"
    update_suite "$s"
    pkg_exists "$pkg" || continue
    say "downloading $pkg ($arch) from $s"
    rm -rf "$scratch"
    mkdir -p "$scratch/root"
    download_pkg "$pkg" "$scratch"
    debs=("$scratch"/*.deb)
    [[ -f ${debs[0]} ]] || die "apt-get download $pkg left no .deb"
    dpkg-deb -x "${debs[0]}" "$scratch/root"
    [[ -f $scratch/root/$path ]] || die "$pkg ($arch, $s) has no /$path"
    [[ $(elf_machine "$scratch/root/$path") == 183 ]] || die "/$path of $pkg ($arch, $s) is not an AArch64 ELF"
    install -m 0755 "$scratch/root/$path" "$out/$file"
    echo "$file $pkg $(dpkg-deb -f "${debs[0]}" Version) $s" >>"$out/userland"
    return 0
  done
  die "no $pkg ($arch) in ${suites[*]} (mirror $mirror)"
}

fetch_one() {
  local k=$1 suite=${suite_of[$1]} debarch=${debarch_of[$1]:-amd64} kdir=$cache_dir/kernels/$1 pkg tmp deb rel cfg
  local opt v src feat=() files=() essentials=()
  setup_apt "$suite" "$debarch"
  update_suite "$suite"
  pkg=$(resolve_package) || die "no cloud kernel package found in $suite for $debarch (mirror $mirror)"
  say "$k: downloading $pkg ($debarch) from $suite"
  tmp=$(mktemp -d "$cache_dir/tmp.$k.XXXXXX")
  tmp_dirs+=("$tmp")
  download_pkg "$pkg" "$tmp"
  files=("$tmp"/*.deb)
  [[ -f ${files[0]} ]] || die "apt-get download $pkg left no .deb"
  deb=${files[0]}
  mkdir -p "$tmp/root" "$tmp/out/modules"
  dpkg-deb -x "$deb" "$tmp/root"
  files=("$tmp"/root/boot/vmlinuz-*)
  [[ -f ${files[0]} ]] || die "$pkg has no /boot/vmlinuz-*"
  rel=${files[0]##*/vmlinuz-}
  cfg=$tmp/root/boot/config-$rel
  [[ -f $cfg ]] || die "$pkg has no /boot/config-$rel"

  # Boot and BPF essentials must be built in: the initramfs has no way to load them. The console is the PC's
  # 8250 UART on amd64, the virt machine's PL011 on arm64, where poweroff goes through PSCI.
  case $debarch in
    amd64) essentials=(SERIAL_8250_CONSOLE) ;;
    arm64) essentials=(SERIAL_AMBA_PL011_CONSOLE ARM_PSCI_FW) ;;
  esac
  for opt in BLK_DEV_INITRD RD_GZIP DEVTMPFS "${essentials[@]}" BPF_SYSCALL DEBUG_INFO_BTF TMPFS SHMEM; do
    v=$(config_value "$cfg" "$opt")
    [[ $v == y ]] || die "$k ($rel): CONFIG_$opt=$v, the VM tier needs it built in"
  done
  # What the daemon's attach ladder uses: reported (and warned about), not fatal, so a gap shows in selftest.
  for opt in KPROBES KRETPROBES KPROBE_EVENTS BPF_EVENTS BPF_JIT FUNCTION_TRACER DYNAMIC_FTRACE \
    DYNAMIC_FTRACE_WITH_DIRECT_CALLS FTRACE_SYSCALLS CGROUP_BPF DEBUG_FS; do
    v=$(config_value "$cfg" "$opt")
    feat+=("$opt=$v")
    [[ $v != n ]] || say "warning: $k ($rel): CONFIG_$opt is not set"
  done

  # Modules scenarios may ask run-vm.sh for (--modules), each with its dependency closure.
  mod_root=$tmp/root/lib/modules/$rel
  mod_out=$tmp/out
  : >"$mod_out/builtin.list"
  for v in "${optional_modules[@]}"; do
    opt=$(config_value "$cfg" "${v#*:}")
    feat+=("${v#*:}=$opt")
    case $opt in
      y) echo "${v%%:*}" >>"$mod_out/builtin.list" ;;
      m)
        mod_done=()
        mod_list=$mod_out/modules/${v%%:*}.load
        : >"$mod_list"
        add_module "${v%%:*}" 1
        ;;
    esac
  done

  cp "$tmp/root/boot/vmlinuz-$rel" "$tmp/out/vmlinuz"
  case $debarch in
    amd64)
      if [[ $(config_value "$cfg" PVH) == y ]] && extract_vmlinux "$tmp/out/vmlinuz" "$tmp/out/vmlinux"; then
        feat+=(PVH=y)
      else
        rm -f "$tmp/out/vmlinux"
        say "note: $k ($rel): no PVH-bootable vmlinux (CONFIG_PVH=$(config_value "$cfg" PVH)), run-vm.sh boots the bzImage"
      fi
      # The BTF is a by-product on amd64 (the arm64 entries need it for cross builds): its absence is not fatal.
      src=$tmp/out/vmlinux
      [[ -f $src ]] || { src=$tmp/vmlinux; extract_vmlinux "$tmp/out/vmlinuz" "$src" || src=; }
      if [[ -z $src ]] || ! extract_btf "$src" "$tmp/out/btf"; then
        rm -f "$tmp/out/btf"
        say "note: $k ($rel): no BTF extracted from vmlinux (the entry has no btf file)"
      fi
      rm -f "$tmp/vmlinux"
      ;;
    arm64)
      check_arm64_image "$tmp/out/vmlinuz" "$tmp/Image" || die "$k ($rel): /boot/vmlinuz-$rel: $arm64_why"
      extract_btf "$arm64_plain" "$tmp/out/btf" || die "$k ($rel): no valid BTF blob found in the kernel Image"
      rm -f "$tmp/Image"
      fetch_userland "$suite" "$debarch" "$tmp/userland" "$tmp/out" busybox-static bin/busybox busybox
      fetch_userland "$suite" "$debarch" "$tmp/userland" "$tmp/out" bpftool usr/sbin/bpftool bpftool
      rm -rf "$tmp/userland"
      ;;
  esac
  echo "${kernel_arch_of[$debarch]}" >"$tmp/out/arch"
  cp "$cfg" "$tmp/out/config"
  echo "$rel" >"$tmp/out/release"
  echo "$pkg" >"$tmp/out/package"
  dpkg-deb -f "$deb" Version >"$tmp/out/version"
  printf '%s\n' "${feat[@]}" >"$tmp/out/features"
  (cd "$tmp" && sha256sum "${deb##*/}") >"$tmp/out/deb.sha256"
  echo "$cache_format" >"$tmp/out/format"
  touch "$tmp/out/.complete"

  # Replace the cached kernel atomically: a reader sees the old complete tree or the new one.
  rm -rf "$kdir.old"
  [[ ! -e $kdir ]] || mv "$kdir" "$kdir.old"
  mv "$tmp/out" "$kdir"
  rm -rf "$kdir.old" "$tmp"
  say "$k: cached $rel ($(cat "$kdir/version"), $debarch); modules: $(cd "$kdir/modules" && ls -- *.load 2>/dev/null | sed 's/\.load$//' | tr '\n' ' ')"
}

tmp_dirs=()
cleanup() {
  local d
  for d in ${tmp_dirs[@]+"${tmp_dirs[@]}"}; do rm -rf "$d"; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

is_cached() {
  local d=$cache_dir/kernels/$1
  [[ $refresh == 0 && -f $d/.complete && $(cat "$d/format" 2>/dev/null) == "$cache_format" ]]
}

# Entries cached before btf was part of the layout (same format: they stay valid) get it from their vmlinux once,
# without network (0.5 s), when the cache is writable; a read-only cache stays as it is.
backfill_btf() {
  local d=$cache_dir/kernels/$1 t
  [[ -f $d/vmlinux && ! -e $d/btf && -w $d ]] || return 0
  t=$(mktemp "$d/.btf.XXXXXX") || return 0
  tmp_dirs+=("$t")
  if extract_btf "$d/vmlinux" "$t" && chmod 0644 "$t"; then mv "$t" "$d/btf"; else rm -f "$t"; fi
}

# A complete cache needs neither network nor write access (it may be a read-only CI cache).
need_fetch=0
for k in "${kernels[@]}"; do
  is_cached "$k" || need_fetch=1
done

if ((need_fetch)); then
  mkdir -p "$cache_dir/kernels" || die "cannot create cache dir $cache_dir"
  [[ -w $cache_dir ]] || die "cache dir $cache_dir is not writable"
  [[ -r $keyring ]] || die "Debian archive keyring $keyring not found (apt-get install debian-archive-keyring)"
  mirror=$(detect_mirror)
  # Parallel callers (ctest -j) share the cache: one fetches, the others wait and then find it complete.
  exec 9>"$cache_dir/.lock"
  flock -w 1800 9 || die "timed out waiting for the lock on $cache_dir/.lock"
  for k in "${kernels[@]}"; do
    is_cached "$k" && continue
    fetch_one "$k"
  done
  exec 9>&-
  # The indexes are stale by the next fetch (which updates first anyway): do not keep ~20 MB per suite.
  rm -rf "$cache_dir"/apt/*/lists "$cache_dir"/apt/*/archives
fi

for k in "${kernels[@]}"; do
  backfill_btf "$k"
  echo "$k $(cat "$cache_dir/kernels/$k/release") $cache_dir/kernels/$k/vmlinuz"
done
