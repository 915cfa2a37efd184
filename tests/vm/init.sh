#!/bin/sh
# PID 1 of the VM test initramfs built by run-vm.sh (busybox sh). It prepares the mounts a BPF tracer expects,
# runs /scenario.sh, prints "ENOSPCD-VM-EXIT <rc>" and powers off. run-vm.sh takes the exit code from that line,
# so nothing here may exit early: an exit of PID 1 is a kernel panic.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
umask 022
/bin/busybox --install -s

# The kernel opens /dev/console for PID 1 only if the initramfs has that node; creating it needs root at build
# time, so mount devtmpfs first and take the console from there.
mount -t devtmpfs -o mode=0755 devtmpfs /dev
exec </dev/console >/dev/console 2>&1

warn() { echo "enospcd-vm init: $*"; }
mnt() { # fstype source target [options]
  mkdir -p "$3"
  mount -t "$1" ${4:+-o "$4"} "$2" "$3" || warn "cannot mount $1 on $3"
}

mnt proc proc /proc
mnt sysfs sysfs /sys
mnt devpts devpts /dev/pts gid=5,mode=0620,ptmxmode=0666
mnt tmpfs shm /dev/shm mode=1777,nosuid,nodev
mnt tmpfs run /run mode=0755,nosuid,nodev
mnt tmpfs tmp /tmp mode=1777,nosuid,nodev
mnt tracefs tracefs /sys/kernel/tracing
mnt debugfs debugfs /sys/kernel/debug
mnt cgroup2 cgroup2 /sys/fs/cgroup nsdelegate
mnt bpf bpf /sys/fs/bpf mode=0700
ln -sf /proc/self/fd /dev/fd
ln -sf /proc/self/fd/0 /dev/stdin
ln -sf /proc/self/fd/1 /dev/stdout
ln -sf /proc/self/fd/2 /dev/stderr
[ -e /etc/mtab ] || ln -sf /proc/self/mounts /etc/mtab

# Before 5.11 BPF maps and programs are charged to RLIMIT_MEMLOCK (64 KiB by default), not to the memory cgroup.
# shellcheck disable=SC3045 # busybox ash has ulimit -l
ulimit -l unlimited || warn "cannot raise RLIMIT_MEMLOCK"
hostname enospcd-vm
ip link set lo up 2>/dev/null || ifconfig lo 127.0.0.1 up 2>/dev/null || warn "cannot bring up lo"

if [ -f /lib/modules/enospcd-vm.load ]; then
  for m in $(cat /lib/modules/enospcd-vm.load); do
    insmod "/lib/modules/$m" || warn "insmod $m failed"
  done
fi

[ ! -f /etc/enospcd-vm.env ] || . /etc/enospcd-vm.env
export HOME=/root TERM=dumb
export PATH=/payload/bin:/payload/sbin:/payload:$PATH

echo "ENOSPCD-VM-BOOTED $(cut -d ' ' -f 1 /proc/uptime)"
cd /payload || cd /
sh /scenario.sh </dev/null
rc=$?
cd /

# WARN()/BUG()/oops reports that did not panic are below the console log level (quiet): show them.
if dmesg | grep -qE '(WARNING:|BUG:|Oops|general protection fault|Call Trace:)'; then
  echo "ENOSPCD-VM-KERNEL-WARNINGS-BEGIN"
  dmesg | grep -E -A 20 '(WARNING:|BUG:|Oops|general protection fault)' | head -n 200
  echo "ENOSPCD-VM-KERNEL-WARNINGS-END"
fi

echo "ENOSPCD-VM-EXIT $rc"
sync
poweroff -f
sleep 5
echo o >/proc/sysrq-trigger
sleep 30
