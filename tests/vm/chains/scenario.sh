# Runs inside the VM (busybox sh): the daemon traces real failures, once per origin attach mode, and prints
# each JSON report between markers for the host to check.
cd /payload
# Keep kernel messages off the console so they cannot interleave with the reports printed there.
dmesg -n 1 2>/dev/null
# busybox su runs the quota trigger as uid 65534; it looks both users up in /etc/passwd.
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n' >/etc/passwd
printf 'root:x:0:\nnogroup:x:65534:\n' >/etc/group
run_mode() {
  mode=$1
  shift
  rm -f /tmp/r.json /tmp/e.log
  ./enospcd --once --duration 300 -o json --events 1000 "$@" >/tmp/r.json 2>/tmp/e.log &
  pid=$!
  i=0
  while ! grep -q '^.* info tracing .*, attached in ' /tmp/e.log; do
    sleep 0.2
    i=$((i + 1))
    if [ $i -gt 600 ] || ! kill -0 $pid 2>/dev/null; then
      echo "daemon did not start in mode $mode:"
      cat /tmp/e.log
      return 1
    fi
  done

  # fs.mount-max: two mounts fail in count_mounts.
  n=$(wc -l </proc/self/mountinfo)
  sysctl -w fs.mount-max=$((n + 2)) >/dev/null
  mkdir -p /mnt/m1 /mnt/m2 /mnt/m3 /mnt/m4
  for d in m1 m2 m3 m4; do mount -t tmpfs none /mnt/$d 2>/dev/null || echo "scenario: mount $d failed"; done
  sysctl -w fs.mount-max=100000 >/dev/null
  for d in m1 m2 m3 m4; do umount /mnt/$d 2>/dev/null; done

  # tmpfs inodes: nr_inodes=4 holds the root and three files; three touches fail.
  mkdir -p /t1 && mount -t tmpfs -o nr_inodes=4 none /t1
  for f in a b c d e f; do touch /t1/$f 2>/dev/null || echo "scenario: touch /t1/$f failed"; done
  umount /t1

  # tmpfs blocks: dd's write fails once 64 KiB are used.
  mkdir -p /t2 && mount -t tmpfs -o size=64k none /t2
  dd if=/dev/zero of=/t2/x bs=4k count=64 2>/dev/null || echo "scenario: dd failed"
  umount /t2

  # A chain from a syscall that succeeded must not reach a later event: with huge=always a write first tries a
  # huge page, whose accounting fails with ENOSPC once less than 2 MiB is free, then succeeds with a small page.
  mkdir -p /t3 && if mount -t tmpfs -o size=3m,huge=always none /t3 2>/dev/null; then
    dd if=/dev/zero of=/t3/x bs=4k count=1024 2>/dev/null || echo "scenario: huge dd failed"
    umount /t3
  fi

  # io_uring: fio's write request completes with -ENOSPC in its completion entry on a full tmpfs, while the
  # io_uring_enter(2) that submitted it succeeds. One request in flight: exactly one fails, and fio stops.
  if [ -x ./fio ]; then
    mkdir -p /t4 && mount -t tmpfs -o size=1m none /t4
    ./fio --name=fill --filename=/t4/data --size=2m --bs=4k --rw=write --ioengine=io_uring --iodepth=1 \
      --fallocate=none >/tmp/fio.out 2>&1
    grep -q "No space left on device" /tmp/fio.out || { echo "scenario: fio did not fail with ENOSPC:"; tail -5 /tmp/fio.out; }
    umount /t4
    # Linux AIO: the same with fio's libaio engine; io_submit(2) succeeds, the request's completion carries the
    # error (a buffered write completes inside io_submit).
    mkdir -p /t5 && mount -t tmpfs -o size=1m none /t5
    ./fio --name=aio --filename=/t5/data --size=2m --bs=4k --rw=write --ioengine=libaio --iodepth=1 \
      --fallocate=none >/tmp/fio-aio.out 2>&1
    grep -q "No space left on device" /tmp/fio-aio.out || { echo "scenario: fio libaio did not fail with ENOSPC:"; tail -5 /tmp/fio-aio.out; }
    umount /t5
  fi

  # Disk quota: uid 65534 may hold 256 KiB of quota.img (ext4 -O quota, made on the host), so its 4 KiB writes
  # fail with EDQUOT from the 65th on. The trigger's own count goes to the host with the report. The mount stays
  # until the daemon has exited: its diagnosis names the mount point.
  quota="skipped: no quota.img in the payload (mkfs.ext4 missing on the host?)"
  if [ -f quota.img ]; then
    mkdir -p /mnt/quota
    if ! mount -t ext4 -o loop,usrquota quota.img /mnt/quota 2>/tmp/q.err; then
      quota="mount -o loop,usrquota failed: $(cat /tmp/q.err)"
    elif ! mkdir -p /mnt/quota/pub || ! chmod 777 /mnt/quota/pub ||
      ! ./enospc_trigger set-quota "$(awk '$2 == "/mnt/quota" { print $1 }' /proc/mounts)" 65534 256 >/tmp/q.err 2>&1; then
      quota="set-quota failed: $(cat /tmp/q.err)"
    else
      quota=$(su -s /bin/sh nobody -c './enospc_trigger fill /mnt/quota/pub/q 4096 2' 2>&1 | tail -1)
    fi
  fi
  # A full ext4: root's dd fills the 16 MiB image (root may use the reserved blocks too) and its write fails
  # after ext4 retried the allocation behind a journal commit.
  if grep -q ' /mnt/quota ' /proc/mounts; then
    dd if=/dev/zero of=/mnt/quota/full bs=64k count=1024 2>/dev/null && echo "scenario: dd filled no ext4"
  fi

  kill -INT $pid
  wait $pid
  rc=$?
  if [ $rc -ne 0 ]; then
    echo "daemon exited with $rc in mode $mode:"
    tail -20 /tmp/e.log
  fi
  if grep -q ' /mnt/quota ' /proc/mounts; then
    rm -f /mnt/quota/pub/q /mnt/quota/full
    umount /mnt/quota
  fi
  echo "ENOSPCD-QUOTA $mode $quota"
  echo "ENOSPCD-REPORT-BEGIN $mode"
  cat /tmp/r.json
  echo "ENOSPCD-REPORT-END $mode"
}
run_mode auto --errno ENOSPC,EDQUOT
run_mode kretprobe --kretprobe --errno ENOSPC,EDQUOT
