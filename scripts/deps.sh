#!/usr/bin/env bash
# Installs what building, running and testing enospcd needs on Debian 12, skipping what is already there;
# with --runtime only what building and running it needs; with --arm64 only what the arm64 cross build needs
# (scripts/build-arm64.sh): Debian's cross compiler and the arm64 -dev packages, installed beside the host's
# through multiarch (dpkg --add-architecture arm64), and the arm64 runtime libraries of the VM field cases'
# third-party programs.
set -euo pipefail

packages=(
  # build
  cmake make g++ pkg-config clang llvm bpftool libbpf-dev libelf-dev zlib1g-dev linux-libc-dev
  libspdlog-dev libfmt-dev libmicrohttpd-dev nlohmann-json3-dev libcli11-dev libcurl4-openssl-dev libsystemd-dev
)
# What only the test tiers need; `deps.sh --runtime` (scripts/quickstart.sh) leaves it out.
test_packages=(
  # tests
  libgtest-dev libgmock-dev libbenchmark-dev libclang-rt-14-dev curl e2fsprogs util-linux procps
  # VM kernel matrix and container tests
  qemu-system-x86 busybox-static cpio podman runc containerd docker.io
  # arm64 VM tier: the arm64 build (below) booted on Debian's arm64 kernels
  qemu-system-arm
  # VM field cases: the third-party programs copied into the guest
  coreutils tar rsync git python3
  # host field cases: inotify watches, XFS, btrfs, sqlite3 on a tmpfs
  inotify-tools xfsprogs btrfs-progs sqlite3
  # io_uring completions (live and VM): fio's io_uring engine
  fio
  # lint tier: clang-tidy with the bugprone checks
  clang-tidy-16
  # packaging tests: .deb build and install into a clean root, systemd units, Prometheus, shell completion
  prometheus debootstrap systemd-container python3-yaml dpkg-dev man-db libcap2-bin zsh
)
# The arm64 cross build: cmake, clang and bpftool of the host; compiler and libraries of the target. The
# header-only libraries (nlohmann-json, CLI11) are architecture-independent and come with the host's build set.
arm64_packages=(
  g++-aarch64-linux-gnu libc6-dev:arm64 libbpf-dev:arm64 libelf-dev:arm64 zlib1g-dev:arm64 libspdlog-dev:arm64
  libfmt-dev:arm64 libmicrohttpd-dev:arm64 libsystemd-dev:arm64 libcurl4-openssl-dev:arm64 dpkg-dev
  # VM field cases on the arm64 kernels: tests/vm/field/payload.sh extracts Debian's arm64 programs (coreutils,
  # rsync, tar, git, util-linux, sqlite3, xfsprogs, python3.11) from their .debs without installing them, and
  # run-vm.sh takes their shared libraries from the multiarch dirs, so those are installed here (all Multi-Arch:
  # same, beside the amd64 ones; their own dependencies come with them).
  libselinux1:arm64 libacl1:arm64 libattr1:arm64 libpcre2-8-0:arm64 libpopt0:arm64 liblz4-1:arm64 libzstd1:arm64
  libxxhash0:arm64 libssl3:arm64 zlib1g:arm64 libsqlite3-0:arm64 libreadline8:arm64 libblkid1:arm64
  libuuid1:arm64 libinih1:arm64 liburcu8:arm64 libedit2:arm64 libexpat1:arm64
)
# On an arm64 host the native compiler and -dev packages are the arm64 ones: the build set has them.
[[ $(dpkg --print-architecture) != arm64 ]] || arm64_packages=()
case ${1:-} in
  --runtime) ;;
  --arm64) packages+=(${arm64_packages[@]+"${arm64_packages[@]}"}) ;;
  *) packages+=("${test_packages[@]}" ${arm64_packages[@]+"${arm64_packages[@]}"}) ;;
esac
if [[ " ${packages[*]} " == *:arm64\ * ]] && ! dpkg --print-foreign-architectures | grep -qx arm64; then
  [[ $(id -u) -eq 0 ]] || { echo "deps.sh: the arm64 build needs 'dpkg --add-architecture arm64'; run as root" >&2; exit 1; }
  dpkg --add-architecture arm64
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "deps.sh: missing packages (${missing[*]}); run as root to install them" >&2
    exit 1
  fi
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
