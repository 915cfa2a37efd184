# Runs inside the VM (busybox sh): the daemon traces real failures, once per origin attach mode, and prints
# each JSON report between markers for the host to check.
cd /payload
# Keep kernel messages off the console so they cannot interleave with the reports printed there.
dmesg -n 1 2>/dev/null
run_mode() {
  mode=$1
  shift
  rm -f /tmp/r.json /tmp/e.log
  ./enospcd --once --duration 300 -o json --events 1000 "$@" >/tmp/r.json 2>/tmp/e.log &
  pid=$!
  i=0
  while ! grep -q 'on syscall exit' /tmp/e.log; do
    sleep 0.2
    i=$((i + 1))
    if [ $i -gt 300 ] || ! kill -0 $pid 2>/dev/null; then
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

  kill -INT $pid
  wait $pid
  rc=$?
  if [ $rc -ne 0 ]; then
    echo "daemon exited with $rc in mode $mode:"
    tail -20 /tmp/e.log
  fi
  echo "ENOSPCD-REPORT-BEGIN $mode"
  cat /tmp/r.json
  echo "ENOSPCD-REPORT-END $mode"
}
run_mode auto
run_mode kretprobe --kretprobe
