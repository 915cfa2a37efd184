# Runs inside the VM (busybox sh): third-party programs (GNU cp, dd and tar, rsync, python3's shutil, git,
# util-linux fallocate and unshare) fail with ENOSPC on small tmpfs mounts while the daemon traces, once per
# origin attach mode. Each case runs in a cgroup of its own name, so the host can tell the cases apart in the
# report (the event's "cgroup"); each prints its programs' exit status, the number of ENOSPC failures their
# own output reports, and their stderr. Then the daemon's exit status, its stderr and its JSON report.
cd /payload
# Keep kernel messages off the console so they cannot interleave with the reports printed there.
dmesg -n 1 2>/dev/null
B=/payload/bin
export PYTHONHOME=/payload/py PYTHONDONTWRITEBYTECODE=1 HOME=/root
# The sanitizers stop the daemon at their first report (it then exits non-zero), with a stack trace; an abort
# (a failed libstdc++ assertion) gets one too.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:halt_on_error=1:handle_abort=1:print_stacktrace=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-abort_on_error=1:halt_on_error=1:print_stacktrace=1}

# Source data, the same for every case: 24 small files (a directory and a tar of it), a 1 MiB file and a
# directory of three 200 KiB files.
mkdir -p /data/many /data/bigdir
i=1
while [ $i -le 24 ]; do
  echo "file $i" >/data/many/f$i
  i=$((i + 1))
done
head -c 1048576 /dev/urandom >/data/big.bin
for n in a b c; do head -c 204800 /dev/urandom >/data/bigdir/$n; done
(cd /data && $B/tar -cf /data/many.tar many)

# The tmpfs mount points live on ext4 (loop-mounted image), the working directory too: a path the daemon
# resolves once a tmpfs is gone, or relative to the cwd instead of the dirfd the program used, lands there.
mkdir -p /mnt/disk
if ! mount -t ext4 -o loop disk.img /mnt/disk 2>/tmp/m.err; then
  echo "scenario: cannot mount disk.img: $(cat /tmp/m.err); using ramfs"
  mount -t ramfs none /mnt/disk
fi

tmpfs_at() { # options dir
  mkdir -p "$2" && mount -t tmpfs -o "$1" none "$2"
}
case_begin() { # name
  name=$1
  mkdir -p /sys/fs/cgroup/$name
  : >/tmp/case.err
  : >/tmp/case.out
  runs=0
  rcs=
}
in_case() { # command...: runs it in the case's cgroup with stderr and stdout collected
  runs=$((runs + 1))
  sh -c 'echo $$ >/sys/fs/cgroup/'"$name"'/cgroup.procs && exec "$@"' sh "$@" >>/tmp/case.out 2>>/tmp/case.err
  rcs="$rcs${rcs:+,}$?"
}
case_end() { # enospc=N (failures the programs reported) [more key=value]
  daemon=up
  kill -0 $pid 2>/dev/null || daemon=gone
  echo "ENOSPCD-FIELD-CASE $mode $name runs=$runs rc=$rcs $* daemon=$daemon uptime=$(cut -d ' ' -f 1 /proc/uptime)"
  sed 's/^/  | /' /tmp/case.err /tmp/case.out
  rmdir /sys/fs/cgroup/$name 2>/dev/null
}
lines() { # pattern: lines of the case's stderr matching it
  grep -c "$1" /tmp/case.err
}
settle() { # waits until the daemon's CPU time stands still for a second (it has read what was queued), at most 60 s
  last=-1
  i=0
  while [ $i -lt 60 ] && kill -0 $pid 2>/dev/null; do
    sleep 1
    t=$(awk '{ print $14 + $15 }' /proc/$pid/stat 2>/dev/null || echo 0)
    [ $last -ge 0 ] && [ $((t - last)) -le 1 ] && break
    last=$t
    i=$((i + 1))
  done
}

# Python snippets, as an application would write them.
copytree='
import shutil, sys
try:
    shutil.copytree(sys.argv[1], sys.argv[2])
    print("enospc=0")
except shutil.Error as e:
    print("enospc=%d" % sum("[Errno 28]" in str(why) for _, _, why in e.args[0]))
'
# Registers pipes with one epoll instance until the kernel refuses (fs.epoll.max_user_watches).
epoll_fill='
import os, select
ep = select.epoll()
fds = []
try:
    while len(fds) < 64:
        r, w = os.pipe()
        fds += [r, w]
        ep.register(r, select.EPOLLIN)
    print("enospc=0")
except OSError as e:
    print("enospc=%d" % (e.errno == 28))
'
# Opens ptys (os.openpty: /dev/ptmx) until the kernel refuses one.
openpty_fill='
import os
fds = []
try:
    while len(fds) < 64:
        fds.append(os.openpty())
    print("enospc=0")
except OSError as e:
    print("enospc=%d" % (e.errno == 28))
'
copyfile='
import shutil, sys
n = 0
for dst in sys.argv[2:]:
    try:
        shutil.copyfile(sys.argv[1], dst)
    except OSError as e:
        if e.errno != 28:
            raise
        n += 1
print("enospc=%d" % n)
'
# mknod(2) in a full tmpfs every 0.5 s for 8 s, then three more times: in the targeted run mknod and mknodat (on
# arm64 mknodat alone) are left out of the set, so the early failures count only while the completeness check
# runs, which adds the syscall.
mknod_fill='
import os, sys, time
n = late = 0
end = time.time() + 8
i = 0
while True:
    last = time.time() >= end
    for k in range(3 if last else 1):
        i += 1
        try:
            os.mknod(sys.argv[1] + ("/late%d" % i if last else "/early%d" % i))
        except OSError as e:
            if e.errno != 28:
                raise
            n += 1
            late += last
    if last:
        break
    time.sleep(0.5)
print("enospc=%d" % n)
print("late=%d" % late)
'
# A job runner that never removes its cgroups: one per job under a parent that enables the memory controller,
# until the kernel refuses one. Then removes them all.
cgroup_fill='
import os, sys
n = 0
try:
    while True:
        os.mkdir("%s/job%d" % (sys.argv[1], n))
        n += 1
except OSError as e:
    print("created=%d" % n)
    print("enospc=%d" % (e.errno == 28))
    print("errno=%d" % e.errno)
'
cgroup_drain='
import os, sys
for d in os.listdir(sys.argv[1]):
    if d.startswith("job"):
        os.rmdir(os.path.join(sys.argv[1], d))
'
py_enospc() { sed -n 's/^enospc=\([0-9]*\)$/\1/p' /tmp/case.out | awk '{ s += $1 } END { print s + 0 }'; }

run_mode() {
  mode=$1
  shift
  rm -f /tmp/r.json /tmp/e.log
  ./enospcd --once --duration 300 -o json --events 2000 "$@" >/tmp/r.json 2>/tmp/e.log &
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
  cd /mnt/disk

  if [ "$mode" = auto ]; then
    # Targeted mode's completeness check notices mknod(2) failing outside the set and adds it.
    case_begin untargeted
    tmpfs_at nr_inodes=2 /mnt/disk/un
    in_case $B/python3 -c "$mknod_fill" /mnt/disk/un
    case_end $(grep -o 'enospc=[0-9]*' /tmp/case.out) $(grep -o 'late=[0-9]*' /tmp/case.out)
    umount /mnt/disk/un

    # The memory controller out of cgroup ids (65 535): python3 makes cgroups until the kernel refuses one, then
    # coreutils mkdir is refused the next; the hierarchy's cgroups as the kernel counted them right after. Only
    # where the ids are an idr (mem_cgroup_idr, ENOSPC): Debian's 6.12 keeps them in an xarray and refuses with
    # EBUSY. Once, in this run: filling the ids takes 20-30 s under emulation. A kernel whose kallsyms lists no
    # data symbols (no KALLSYMS_ALL, no jiffies: Debian's arm64 6.1) cannot be told by the symbol: there the case
    # runs and the errno of the refusal (errno=) tells.
    if grep -q ' mem_cgroup_idr$' /proc/kallsyms || ! grep -q ' jiffies$' /proc/kallsyms; then
      case_begin cgroup_ids
      echo +memory >/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null
      mkdir -p /sys/fs/cgroup/jobs && echo +memory >/sys/fs/cgroup/jobs/cgroup.subtree_control
      in_case $B/python3 -c "$cgroup_fill" /sys/fs/cgroup/jobs
      live=$(sed -n 's/^nr_descendants //p' /sys/fs/cgroup/cgroup.stat)
      in_case $B/mkdir /sys/fs/cgroup/jobs/one-more
      case_end enospc=$(($(py_enospc) + $(lines 'No space left on device'))) live=$live \
        $(grep -o 'created=[0-9]*' /tmp/case.out) $(grep -o 'errno=[0-9]*' /tmp/case.out)
      $B/python3 -c "$cgroup_drain" /sys/fs/cgroup/jobs
      rmdir /sys/fs/cgroup/jobs
    else
      echo "ENOSPCD-FIELD-CASE $mode cgroup_ids skipped=no-mem_cgroup_idr"
    fi
  fi

  # cp of a 1 MiB file onto a 256 KiB tmpfs, three times (each truncates the partial copy and fails again).
  case_begin cp_blocks
  tmpfs_at size=256k /mnt/disk/cp
  for r in 1 2 3; do in_case $B/cp /data/big.bin /mnt/disk/cp/big.bin; done
  case_end enospc=$(lines 'No space left on device')
  umount /mnt/disk/cp

  # dd onto a 64 KiB tmpfs with three block sizes: GNU dd stops at its first failed write.
  case_begin dd_blocks
  tmpfs_at size=64k /mnt/disk/dd
  for bs in 4k 16k 1M; do in_case $B/dd if=/dev/zero of=/mnt/disk/dd/zero bs=$bs count=64; done
  case_end enospc=$(lines 'error writing.*No space left on device')
  umount /mnt/disk/dd

  # rsync of 24 files into a tmpfs of 8 inodes: the receiver's mkstemp (openat relative to a dirfd) fails.
  case_begin rsync_inodes
  tmpfs_at nr_inodes=8 /mnt/disk/ri
  in_case $B/rsync -a /data/many /mnt/disk/ri/
  case_end enospc=$(lines 'No space left on device (28)')
  umount /mnt/disk/ri

  # rsync of 600 KiB onto 256 KiB: the receiver's write fails and it gives up (code 11).
  case_begin rsync_blocks
  tmpfs_at size=256k /mnt/disk/rb
  in_case $B/rsync -a /data/bigdir /mnt/disk/rb/
  case_end enospc=$(lines 'write failed on .*No space left on device')
  umount /mnt/disk/rb

  # GNU tar -x into a tmpfs of 8 inodes, run from a cwd on ext4: every file is an openat relative to the -C
  # directory's fd, reported once as "Cannot open".
  case_begin tar_inodes
  tmpfs_at nr_inodes=8 /mnt/disk/tx
  in_case $B/tar -C /mnt/disk/tx -xf /data/many.tar
  case_end enospc=$(lines 'Cannot open: No space left on device')
  umount /mnt/disk/tx

  # The same from a cwd on another tmpfs (/tmp): the paths are relative to the -C directory, not to the cwd.
  case_begin tar_cwd_tmpfs
  tmpfs_at nr_inodes=8 /mnt/disk/tt
  cd /tmp && in_case $B/tar -C /mnt/disk/tt -xf /data/many.tar
  cd /mnt/disk
  case_end enospc=$(lines 'Cannot open: No space left on device')
  umount /mnt/disk/tt

  # python3 shutil.copytree into a tmpfs of 8 inodes: it goes on after each failed file and lists them.
  case_begin py_copytree
  tmpfs_at nr_inodes=8 /mnt/disk/pt
  in_case $B/python3 -c "$copytree" /data/many /mnt/disk/pt/tree
  case_end enospc=$(py_enospc)
  umount /mnt/disk/pt

  # python3 shutil.copyfile (sendfile) of 1 MiB three times onto a 256 KiB tmpfs: the first fills it.
  case_begin py_copyfile
  tmpfs_at size=256k /mnt/disk/pf
  in_case $B/python3 -c "$copyfile" /data/big.bin /mnt/disk/pf/a /mnt/disk/pf/b /mnt/disk/pf/c
  case_end enospc=$(py_enospc)
  umount /mnt/disk/pf

  # git: init in a tmpfs of 6 inodes, add of 24 files in one of 40 (loose objects: mkdir, link, open).
  case_begin git_inodes
  tmpfs_at nr_inodes=6 /mnt/disk/gi && mkdir -p /mnt/disk/gi/repo
  cd /mnt/disk/gi/repo && in_case $B/git init -q --template=
  tmpfs_at nr_inodes=40 /mnt/disk/ga && mkdir -p /mnt/disk/ga/repo
  cd /mnt/disk/ga/repo && $B/git init -q --template= && cp /data/many/* . && in_case $B/git add .
  cd /mnt/disk
  case_end enospc=$(lines 'No space left on device')
  umount /mnt/disk/gi
  umount /mnt/disk/ga

  # git add of a 200 KiB file of random data in a 256 KiB tmpfs: writing its loose object fails.
  case_begin git_blocks
  tmpfs_at size=256k /mnt/disk/gb && mkdir -p /mnt/disk/gb/repo
  cd /mnt/disk/gb/repo && $B/git init -q --template= && cp /data/bigdir/a . && in_case $B/git add .
  cd /mnt/disk
  case_end enospc=$(lines 'No space left on device')
  umount /mnt/disk/gb

  # fallocate on a 1 MiB tmpfs: 4 MiB (more than the whole size), then 768 KiB once 512 KiB are taken.
  case_begin fallocate
  tmpfs_at size=1m /mnt/disk/fa
  in_case $B/fallocate -l 4M /mnt/disk/fa/huge
  in_case $B/fallocate -l 512k /mnt/disk/fa/half
  in_case $B/fallocate -l 768k /mnt/disk/fa/more
  case_end enospc=$(lines 'fallocate failed: No space left on device')
  umount /mnt/disk/fa

  # sqlite3 inserting three 100 KB blobs into a database on a 256 KiB tmpfs; its journal is deleted right after
  # the failure, so only the numbers of the failure agree with it.
  case_begin sqlite_blocks
  tmpfs_at size=256k /mnt/disk/sq
  in_case $B/sqlite3 /mnt/disk/sq/db "create table t(x); insert into t values(randomblob(100000));
    insert into t values(randomblob(100000)); insert into t values(randomblob(100000));"
  case_end enospc=$(lines 'database or disk is full')
  umount /mnt/disk/sq

  # dd into an overlay whose upper layer is a 256 KiB tmpfs: the overlay holds no blocks, the tmpfs refuses.
  case_begin overlay_blocks
  tmpfs_at size=256k /mnt/disk/ou && mkdir -p /mnt/disk/ou/u /mnt/disk/ou/w /mnt/disk/ol /mnt/disk/om
  if mount -t overlay overlay -o lowerdir=/mnt/disk/ol,upperdir=/mnt/disk/ou/u,workdir=/mnt/disk/ou/w /mnt/disk/om; then
    in_case $B/dd if=/dev/zero of=/mnt/disk/om/big bs=64k count=16
    umount /mnt/disk/om
  else
    echo "scenario: no overlay mount" >>/tmp/case.err
  fi
  case_end enospc=$(lines 'error writing.*No space left on device')
  umount /mnt/disk/ou

  # Limits that are not a filesystem's, where the kernel function that checks them is inlined into its caller
  # (ep_insert into do_epoll_ctl) or checks more than one limit (newary: SEMMNS and SEMMNI), and a device that
  # refuses every write.
  case_begin dev_full
  in_case $B/dd if=/dev/zero of=/dev/full bs=4k count=1
  case_end enospc=$(lines 'No space left on device')

  case_begin epoll_watches
  w=$(cat /proc/sys/fs/epoll/max_user_watches)
  echo 8 >/proc/sys/fs/epoll/max_user_watches
  in_case $B/python3 -c "$epoll_fill"
  echo "$w" >/proc/sys/fs/epoll/max_user_watches
  case_end $(grep -o 'enospc=[0-9]*' /tmp/case.out)

  case_begin semmns
  sem=$(cat /proc/sys/kernel/sem)
  echo "$sem" | awk '{ print $1, 16, $3, $4 }' >/proc/sys/kernel/sem
  echo "kernel.sem: $(cat /proc/sys/kernel/sem)" >>/tmp/case.out
  in_case $B/ipcmk -S 32
  echo "$sem" >/proc/sys/kernel/sem
  case_end enospc=$(lines 'No space left on device')

  # dd into a directory of an XFS (prjquota) that xfs_quota put in project 42 with a hard limit of 1 MiB: XFS
  # refuses with ENOSPC, not EDQUOT, while the filesystem has ~280 MiB free.
  case_begin xfs_project
  truncate -s 300M /tmp/xfs.img && mkdir -p /mnt/xq
  if $B/mkfs.xfs -q /tmp/xfs.img 2>>/tmp/case.out && mount -t xfs -o loop,prjquota /tmp/xfs.img /mnt/xq 2>>/tmp/case.out; then
    mkdir /mnt/xq/vol
    $B/xfs_quota -x -c 'project -s -p /mnt/xq/vol 42' -c 'limit -p bhard=1m 42' /mnt/xq >>/tmp/case.out 2>&1
    in_case $B/dd if=/dev/zero of=/mnt/xq/vol/big bs=64k count=100
    # The project's numbers are the filesystem's, read when the daemon explains the event (a running daemon
    # does so within milliseconds; under TCG it can take longer): the filesystem stays mounted until then.
    settle
    umount /mnt/xq
  else
    echo "scenario: no xfs with prjquota" >>/tmp/case.err
  fi
  rm -f /tmp/xfs.img
  case_end enospc=$(lines 'No space left on device')

  # From here the daemon is stopped while the programs fail: it reads their events after the processes, their
  # mount namespace or their tmpfs are gone, as a daemon running behind on a loaded host does.

  # A private mount namespace (unshare -m) with two tmpfs mounts: cp of 1 MiB into 64 KiB, cp -r of 24 files
  # into 4 inodes. The namespace dies with the shell.
  mkdir -p /mnt/disk/ns1 /mnt/disk/ns2
  kill -STOP $pid
  case_begin ns_gone
  in_case $B/unshare -m sh -c "mount -t tmpfs -o size=64k none /mnt/disk/ns1 && $B/cp /data/big.bin /mnt/disk/ns1/;
    mount -t tmpfs -o nr_inodes=4 none /mnt/disk/ns2 && $B/cp -r /data/many /mnt/disk/ns2/"
  case_end enospc=$(lines 'No space left on device')

  # python3 pty.openpty() until the host's kernel.pty.max (4 above the ptys open) refuses; the limit is put back
  # and the ptys closed before the daemon reads the event. The limit put back (max_after), and whether kallsyms
  # lists pty_count (the count BPF reads at the failure; without KALLSYMS_ALL it does not).
  case_begin pty_max
  pty_max=$(cat /proc/sys/kernel/pty/max)
  limit=$(($(cat /proc/sys/kernel/pty/nr) + 4))
  echo $limit >/proc/sys/kernel/pty/max
  in_case $B/python3 -c "$openpty_fill"
  echo "$pty_max" >/proc/sys/kernel/pty/max
  case_end $(grep -o 'enospc=[0-9]*' /tmp/case.out) limit=$limit max_after=$pty_max \
    pty_count_listed=$(grep -c ' pty_count$' /proc/kallsyms)

  # Two tmpfs mounts of 8 inodes unmounted right after the failures: copytree by absolute paths, tar relative
  # to its -C directory's fd.
  case_begin unmounted
  tmpfs_at nr_inodes=8 /mnt/disk/um1
  tmpfs_at nr_inodes=8 /mnt/disk/um2
  in_case $B/python3 -c "$copytree" /data/many /mnt/disk/um1/tree
  in_case $B/tar -C /mnt/disk/um2 -xf /data/many.tar
  umount /mnt/disk/um1
  umount /mnt/disk/um2
  case_end enospc=$(($(py_enospc) + $(lines 'Cannot open: No space left on device')))
  kill -CONT $pid
  # Let it work through what queued up while it was stopped (at exit it reads the ring for 100 ms only).
  settle

  cd /payload
  kill -INT $pid
  wait $pid
  rc=$?
  echo "ENOSPCD-FIELD-DAEMON $mode rc=$rc"
  echo "ENOSPCD-FIELD-STDERR-BEGIN $mode"
  cat /tmp/e.log
  echo "ENOSPCD-FIELD-STDERR-END $mode"
  echo "ENOSPCD-FIELD-REPORT-BEGIN $mode"
  cat /tmp/r.json
  echo "ENOSPCD-FIELD-REPORT-END $mode"
}
# arm64 has no mknod(2) (glibc's mknod() is mknodat there), and the daemon refuses a name that is not a syscall of
# its architecture.
case $(uname -m) in
  aarch64) untargeted=-mknodat ;;
  *) untargeted=-mknod,-mknodat ;;
esac
run_mode auto --targeted-syscalls=$untargeted --targeted-check-every 4s --targeted-check-for 2s
run_mode gate --gate tp_btf
run_mode kretprobe --kretprobe
