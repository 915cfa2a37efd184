#include <gtest/gtest.h>
#include <sys/sysmacros.h>

#include "context/container.h"
#include "context/procfs.h"
#include "context/sysctl.h"
#include "context/text.h"
#include "fake_tree.h"
#include "support/has_value.h"

using namespace enospcd::context;
using enospcd::context::test::FakeTree;

TEST(Text, JoinRoot) {
  EXPECT_EQ(join_root("/", "/proc/1/status"), "/proc/1/status");
  EXPECT_EQ(join_root("", "/proc"), "/proc");
  EXPECT_EQ(join_root("/tmp/x/", "/proc/1"), "/tmp/x/proc/1");
  EXPECT_EQ(join_root("/tmp/x", "proc"), "/tmp/x/proc");
}

TEST(Text, UnescapeOctal) {
  EXPECT_EQ(unescape_octal("/mnt/my\\040disk"), "/mnt/my disk");
  EXPECT_EQ(unescape_octal("a\\011b\\012c\\134d"), "a\tb\nc\\d");
  EXPECT_EQ(unescape_octal("trailing\\04"), "trailing\\04");  // incomplete escape left alone
  EXPECT_EQ(unescape_octal("\\999"), "\\999");
}

TEST(Text, Numbers) {
  uint64_t v = 0;
  EXPECT_TRUE(parse_u64(" 42\n", v));
  EXPECT_EQ(v, 42u);
  EXPECT_TRUE(parse_u64("0x1f", v, 16));
  EXPECT_EQ(v, 31u);
  EXPECT_FALSE(parse_u64("12abc", v));
  EXPECT_FALSE(parse_u64("", v));
  EXPECT_TRUE(parse_u64("18446744073709551615", v));
  EXPECT_FALSE(parse_u64("18446744073709551616", v));
  EXPECT_EQ(enospcd::format_bytes(512), "512 B");
  EXPECT_EQ(enospcd::format_bytes(5u << 20), "5.0 MiB");
  EXPECT_EQ(enospcd::format_bytes(1536), "1.5 KiB");
  EXPECT_EQ(percent_ceil(1, 3), 34u);
  EXPECT_EQ(percent_ceil(16, 16), 100u);
  EXPECT_EQ(percent_ceil(0, 0), 0u);
  EXPECT_EQ(percent_ceil(UINT64_MAX / 2, UINT64_MAX), 50u);
}

TEST(Mountinfo, ParsesFieldsEscapesAndOptionalTags) {
  const char* text =
      "36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 shared:7 - ext3 /dev/root rw,errors=continue\n"
      "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard\n"
      "90 27 0:55 / /mnt/my\\040disk rw,nosuid - tmpfs tmp\\040fs rw,size=1024k,nr_inodes=16\n"
      "91 27 0:56 / /media/ro ro,relatime - squashfs /dev/loop0 ro\n"
      "garbage line\n"
      "92 27 0:57 / /weird rw - fuse.sshfs  rw\n";  // empty source: two spaces
  std::size_t bad = 0;
  auto m = parse_mountinfo(text, &bad);
  ASSERT_EQ(m.size(), 5u);
  EXPECT_EQ(bad, 1u);
  EXPECT_EQ(m[0].mount_id, 36);
  EXPECT_EQ(m[0].parent_id, 35);
  EXPECT_EQ(m[0].major, 98u);
  EXPECT_EQ(m[0].minor, 0u);
  EXPECT_EQ(m[0].root, "/mnt1");
  EXPECT_EQ(m[0].mount_point, "/mnt/parent");
  EXPECT_EQ(m[0].optional_fields, (std::vector<std::string>{"master:1", "shared:7"}));
  EXPECT_EQ(m[0].fstype, "ext3");
  EXPECT_EQ(m[0].source, "/dev/root");
  EXPECT_EQ(m[0].super_options, "rw,errors=continue");
  EXPECT_EQ(m[0].dev(), makedev(98, 0));
  EXPECT_FALSE(m[0].read_only());
  EXPECT_EQ(m[2].mount_point, "/mnt/my disk");
  EXPECT_EQ(m[2].source, "tmp fs");
  EXPECT_TRUE(m[3].read_only());
  EXPECT_EQ(m[4].fstype, "fuse.sshfs");
  EXPECT_EQ(m[4].source, "");
  EXPECT_EQ(m[4].super_options, "rw");
}

TEST(Mountinfo, RejectsTruncatedLines) {
  EXPECT_FALSE(parse_mountinfo_line("36 35 98:0 /mnt1 /mnt/parent rw"));
  EXPECT_FALSE(parse_mountinfo_line("36 35 98:0 /mnt1 /mnt/parent rw -"));
  EXPECT_FALSE(parse_mountinfo_line("x 35 98:0 / / rw - ext4 /dev/sda rw"));
  EXPECT_FALSE(parse_mountinfo_line("1 35 98 / / rw - ext4 /dev/sda rw"));
  EXPECT_FALSE(parse_mountinfo_line(""));
}

TEST(Status, Parses) {
  const char* text =
      "Name:\tmy\\nproc x\nUmask:\t0022\nState:\tD (disk sleep)\nTgid:\t4242\nNgid:\t0\nPid:\t4242\n"
      "PPid:\t1\nTracerPid:\t0\nUid:\t1000\t1001\t1002\t1003\nGid:\t100\t100\t100\t100\nThreads:\t7\n"
      "VmRSS:\t   1234 kB\n";
  auto st = parse_status(text);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->name, "my\nproc x");
  EXPECT_EQ(st->state, 'D');
  EXPECT_EQ(st->pid, 4242);
  EXPECT_EQ(st->ppid, 1);
  EXPECT_EQ(st->uid[0], 1000u);
  EXPECT_EQ(st->uid[1], 1001u);
  EXPECT_EQ(st->uid[3], 1003u);
  EXPECT_EQ(st->gid[0], 100u);
  EXPECT_EQ(st->threads, 7);
  EXPECT_EQ(st->vm_rss_kib, 1234u);
  EXPECT_FALSE(parse_status("Pid:\t1\n").ok());
  EXPECT_FALSE(parse_status("").ok());
}

TEST(Stat, ParsesCommWithParensAndSpaces) {
  const char* text =
      "1234 (a) (b c)) S 1 1234 1234 0 -1 4194560 500 0 0 0 17 4 0 0 20 0 3 0 98765 12345678 300 "
      "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 42 0 0\n";
  auto st = parse_stat(text);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->pid, 1234);
  EXPECT_EQ(st->comm, "a) (b c)");
  EXPECT_EQ(st->state, 'S');
  EXPECT_EQ(st->ppid, 1);
  EXPECT_EQ(st->utime, 17u);
  EXPECT_EQ(st->stime, 4u);
  EXPECT_EQ(st->num_threads, 3);
  EXPECT_EQ(st->starttime, 98765u);
  EXPECT_EQ(st->vsize, 12345678u);
  EXPECT_EQ(st->rss_pages, 300);
  EXPECT_EQ(st->blkio_ticks, 42u);
  EXPECT_FALSE(parse_stat("1234 no parens S 1").ok());
  EXPECT_FALSE(parse_stat("1234 (x)").ok());
}

TEST(Cmdline, SplitsOnNul) {
  std::string t("/usr/bin/sleep\0" "100\0", 19);
  EXPECT_EQ(parse_cmdline(t), (std::vector<std::string>{"/usr/bin/sleep", "100"}));
  EXPECT_TRUE(parse_cmdline("").empty());
}

TEST(Links, ExeNsAndFdClassification) {
  auto e = parse_exe_link("/usr/sbin/nginx (deleted)");
  EXPECT_TRUE(e.deleted);
  EXPECT_EQ(e.path, "/usr/sbin/nginx");
  EXPECT_EQ(parse_ns_link("mnt:[4026531841]"), 4026531841ull);
  EXPECT_FALSE(parse_ns_link("mnt:4026531841"));
  EXPECT_FALSE(parse_ns_link("/etc/passwd"));

  auto d = classify_fd_target(3, "/var/log/app.log (deleted)");
  EXPECT_EQ(d.kind, FdKind::path);
  EXPECT_TRUE(d.deleted);
  EXPECT_EQ(d.path, "/var/log/app.log");
  EXPECT_EQ(classify_fd_target(4, "socket:[12345]").kind, FdKind::socket);
  EXPECT_EQ(classify_fd_target(5, "pipe:[999]").kind, FdKind::pipe);
  auto in = classify_fd_target(6, "anon_inode:inotify");
  EXPECT_EQ(in.kind, FdKind::anon_inode);
  EXPECT_EQ(in.anon, "inotify");
  EXPECT_EQ(classify_fd_target(7, "anon_inode:[eventpoll]").anon, "[eventpoll]");
  EXPECT_EQ(classify_fd_target(8, "net:[4026531840]").kind, FdKind::ns);
  EXPECT_EQ(classify_fd_target(9, "/dev/null").kind, FdKind::path);
  EXPECT_TRUE(is_internal_path("/memfd:wayland (deleted)"));
  EXPECT_TRUE(is_internal_path("/SYSV00000000"));
  EXPECT_TRUE(is_internal_path("/dev/zero"));
  EXPECT_FALSE(is_internal_path("/var/log/syslog"));
}

TEST(Fdinfo, Inotify) {
  const char* text =
      "pos:\t0\nflags:\t02004000\nmnt_id:\t15\nino:\t1057\n"
      "inotify wd:3 ino:9e7e sdev:800013 mask:800afce ignored_mask:0 fhandle-bytes:8 fhandle-type:1 "
      "f_handle:7e9e0000640d1b6d\n"
      "inotify wd:a ino:1 sdev:fd00001 mask:fff ignored_mask:0 fhandle-bytes:8 fhandle-type:1 f_handle:01\n";
  auto fi = parse_fdinfo(text);
  EXPECT_EQ(fi.flags, 02004000u);
  EXPECT_EQ(fi.mnt_id, 15);
  EXPECT_EQ(fi.ino, 1057u);
  ASSERT_EQ(fi.inotify.size(), 2u);
  EXPECT_EQ(fi.inotify[0].wd, 3);
  EXPECT_EQ(fi.inotify[0].ino, 0x9e7eu);
  EXPECT_EQ(fi.inotify[0].sdev, 0x800013u);
  EXPECT_EQ(fi.inotify[0].mask, 0x800afceu);
  EXPECT_EQ(fi.inotify[1].wd, 10);  // wd is printed in hex
}

TEST(Fdinfo, FanotifyAndEpoll) {
  const char* fan =
      "pos:\t0\nflags:\t02\nmnt_id:\t13\n"
      "fanotify flags:10 event-flags:0\n"
      "fanotify ino:4f969 sdev:800013 mflags:0 mask:3b ignored_mask:40000000 fhandle-bytes:8 fhandle-type:1 "
      "f_handle:69f90400c3093e06\n"
      "fanotify mnt_id:16 mflags:0 mask:3b ignored_mask:0\n"
      "fanotify sdev:800013 mflags:0 mask:3b ignored_mask:0\n";
  auto f = parse_fdinfo(fan);
  EXPECT_TRUE(f.fanotify_group);
  EXPECT_EQ(f.fanotify_flags, 0x10u);
  ASSERT_EQ(f.fanotify.size(), 3u);
  EXPECT_EQ(f.fanotify[0].kind, FanotifyMark::Kind::inode);
  EXPECT_EQ(f.fanotify[0].ino, 0x4f969u);
  EXPECT_EQ(f.fanotify[0].ignored_mask, 0x40000000u);
  EXPECT_EQ(f.fanotify[1].kind, FanotifyMark::Kind::mount);
  EXPECT_EQ(f.fanotify[1].mnt_id, 0x16);
  EXPECT_EQ(f.fanotify[2].kind, FanotifyMark::Kind::sb);

  const char* ep =
      "pos:\t0\nflags:\t02\nmnt_id:\t15\nino:\t1057\n"
      "tfd:        5 events:       19 data:                5  pos:0 ino:2d1c sdev:9\n"
      "tfd:       12 events: 8000001d data:     7f0000000001  pos:0 ino:1f2 sdev:d\n";
  auto e = parse_fdinfo(ep);
  ASSERT_EQ(e.epoll.size(), 2u);
  EXPECT_EQ(e.epoll[0].tfd, 5);
  EXPECT_EQ(e.epoll[0].events, 0x19u);
  EXPECT_EQ(e.epoll[0].ino, 0x2d1cu);
  EXPECT_EQ(e.epoll[1].tfd, 12);
  EXPECT_EQ(e.epoll[1].data, 0x7f0000000001u);
  EXPECT_EQ(e.epoll[1].sdev, 0xdu);
}

TEST(Maps, ParsesDeletedSpacesAndAnonymous) {
  const char* text =
      "55d0c4a00000-55d0c4a02000 r--p 00000000 fd:01 1311234                    /usr/bin/cat\n"
      "7f1c2a000000-7f1c2a500000 rw-s 00000000 00:2d 17                         /tmp/x/big file (deleted)\n"
      "7ffd5b8e0000-7ffd5b901000 rw-p 00000000 00:00 0                          [stack]\n"
      "7f1c2b000000-7f1c2b001000 rw-p 00000000 00:00 0 \n"
      "7f1c2c000000-7f1c2c100000 rw-s 00000000 00:01 4242                       /memfd:pool (deleted)\n"
      "not a maps line\n";
  auto m = parse_maps(text);
  ASSERT_EQ(m.size(), 5u);
  EXPECT_EQ(m[0].start, 0x55d0c4a00000u);
  EXPECT_EQ(m[0].dev_major, 0xfdu);
  EXPECT_EQ(m[0].dev_minor, 1u);
  EXPECT_EQ(m[0].inode, 1311234u);
  EXPECT_EQ(m[0].path, "/usr/bin/cat");
  EXPECT_FALSE(m[0].deleted);
  EXPECT_EQ(m[1].path, "/tmp/x/big file");
  EXPECT_TRUE(m[1].deleted);
  EXPECT_EQ(m[1].dev(), makedev(0, 0x2d));
  EXPECT_EQ(m[1].map_files_name(), "7f1c2a000000-7f1c2a500000");
  EXPECT_EQ(m[1].perms, "rw-s");
  EXPECT_EQ(m[2].path, "[stack]");
  EXPECT_EQ(m[3].path, "");
  EXPECT_TRUE(is_internal_path(m[4].path));
}

TEST(Misc, WchanAndCgroup) {
  EXPECT_EQ(parse_wchan("0"), "");
  EXPECT_EQ(parse_wchan("do_sys_poll\n"), "do_sys_poll");
  EXPECT_EQ(parse_proc_cgroup("0::/system.slice/docker-abc.scope\n"), "/system.slice/docker-abc.scope");
  EXPECT_EQ(parse_proc_cgroup("12:pids:/docker/a\n1:name=systemd:/docker/b\n0::/c\n"), "/c");
  EXPECT_EQ(parse_proc_cgroup("12:pids:/docker/a\n1:name=systemd:/docker/b\n"), "/docker/b");
  EXPECT_EQ(parse_proc_cgroup("12:pids:/x:y\n"), "/x:y");
}

TEST(Readers, FakeTreeAndVanishingProcess) {
  FakeTree t;
  FakeTree::Proc p;
  p.pid = 100;
  p.comm = "worker";
  p.state = 'R';
  p.uid = 1000;
  p.euid = 1000;
  t.add_process(p);
  t.write("proc/100/mountinfo", "27 1 254:0 / / rw - ext4 /dev/vda rw\n");
  t.write("proc/100/cmdline", std::string("worker\0--x\0", 11));
  t.link("proc/100/exe", "/usr/bin/worker (deleted)");
  t.add_fd(100, 3, "anon_inode:inotify", "pos:\t0\nflags:\t0\nmnt_id:\t15\ninotify wd:1 ino:2 sdev:3 mask:4\n");
  t.add_fd(100, 4, "socket:[77]", "pos:\t0\n");
  t.link("proc/self", "100");
  t.mkdir("proc/not-a-pid");
  t.mkdir("proc/101");  // a process that exited: directory listed, files gone

  auto pids = list_pids(t.root());
  ASSERT_TRUE(pids.ok());
  std::sort(pids->begin(), pids->end());
  EXPECT_EQ(*pids, (std::vector<int>{100, 101}));
  EXPECT_EQ(self_pid(t.root()), 100);

  auto st = read_status(t.root(), 100);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->name, "worker");
  EXPECT_EQ(st->uid[1], 1000u);
  auto mi = read_mountinfo(t.root(), 100);
  ASSERT_TRUE(mi.ok());
  EXPECT_EQ(mi->size(), 1u);
  EXPECT_EQ(*read_ns_inode(t.root(), 100), 4026531841ull);
  auto exe = read_exe(t.root(), 100);
  ASSERT_TRUE(exe.ok());
  EXPECT_TRUE(exe->deleted);
  EXPECT_EQ((*read_cmdline(t.root(), 100)).size(), 2u);
  t.write("proc/100/comm", "worker\n");
  EXPECT_EQ(*read_comm(t.root(), 100), "worker");
  EXPECT_FALSE(read_comm(t.root(), 101).ok());
  auto links = read_fd_links(t.root(), 100);
  ASSERT_TRUE(links.ok());
  ASSERT_EQ(links->size(), 2u);
  auto fi = read_fdinfo(t.root(), 100, 3);
  ASSERT_TRUE(fi.ok());
  EXPECT_EQ(fi->inotify.size(), 1u);
  EXPECT_EQ(*read_cgroup(t.root(), 100), "/system.slice/fake.service");
  EXPECT_EQ(*read_wchan(t.root(), 100), "");

  auto gone = read_status(t.root(), 101);
  ASSERT_FALSE(gone.ok());
  EXPECT_TRUE(is_gone(gone.error()));
  EXPECT_FALSE(read_maps(t.root(), 101).ok());
  EXPECT_FALSE(read_fd_links(t.root(), 101).ok());
  EXPECT_FALSE(read_mountinfo(t.root(), 999).ok());
}

TEST(Sysctl, ReadsPresentAndSkipsMissing) {
  FakeTree t;
  t.write("proc/sys/fs/mount-max", "100000\n");
  t.write("proc/sys/fs/inotify/max_user_watches", "8192\n");
  t.write("proc/sys/fs/inotify/max_user_instances", "128\n");
  t.write("proc/sys/fs/epoll/max_user_watches", "1620582\n");
  t.write("proc/sys/kernel/shmmni", "4096\n");
  t.write("proc/sys/kernel/shmall", "18446744073692774399\n");
  t.write("proc/sys/kernel/sem", "32000\t1024000000\t500\t32000\n");
  t.write("proc/sys/kernel/msgmni", "garbage\n");
  t.write("proc/sys/user/max_mnt_namespaces", "63432\n");
  auto s = read_sysctls(t.root());
  EXPECT_EQ(s.mount_max, 100000u);
  EXPECT_EQ(s.inotify_max_user_watches, 8192u);
  EXPECT_EQ(s.inotify_max_user_instances, 128u);
  EXPECT_FALSE(s.fanotify_max_user_marks);  // older kernel: absent
  EXPECT_EQ(s.epoll_max_user_watches, 1620582u);
  EXPECT_EQ(s.shmall, 18446744073692774399ull);
  ASSERT_HAS_VALUE(s.sem);
  EXPECT_EQ((*s.sem)[3], 32000u);
  EXPECT_FALSE(s.msgmni);
  EXPECT_EQ(s.max_namespaces.at("mnt"), 63432u);
  auto j = to_json(s);
  EXPECT_EQ(j["fs.mount-max"], 100000);
  EXPECT_FALSE(j.contains("fs.fanotify.max_user_marks"));
  EXPECT_EQ(sysctl_path("/r", "fs.inotify.max_user_watches"), "/r/proc/sys/fs/inotify/max_user_watches");
}

TEST(Fs, MagicNamesAndStatfs) {
  EXPECT_EQ(fs_type_name(0x01021994), "tmpfs");
  EXPECT_EQ(fs_type_name(0xEF53), "ext4");
  EXPECT_EQ(fs_type_name(0x58465342), "xfs");
  EXPECT_EQ(fs_type_name(0x794c7630), "overlay");
  EXPECT_EQ(fs_type_name(0x9123683E), "btrfs");
  EXPECT_EQ(fs_type_name(0x12345678), "");
  EXPECT_TRUE(is_remote_fstype("nfs4"));
  EXPECT_TRUE(is_remote_fstype("fuse.sshfs"));
  EXPECT_FALSE(is_remote_fstype("ext4"));
  EXPECT_TRUE(is_static_image_fstype("squashfs"));
  EXPECT_TRUE(is_internal_magic(0x50495045));

  auto fs = stat_fs("/tmp");
  ASSERT_TRUE(fs.ok());
  EXPECT_GT(fs->blocks, 0u);
  EXPECT_GE(fs->blocks_free, fs->blocks_avail);
  EXPECT_EQ(fs->reserved_bytes(), (fs->blocks_free - fs->blocks_avail) * fs->block_size);
  EXPECT_FALSE(stat_fs("/nonexistent/path").ok());
  auto st = stat_file("/tmp");
  ASSERT_TRUE(st.ok());
  EXPECT_TRUE(S_ISDIR(st->mode));

  FsStats s;
  s.block_size = 4096;
  s.blocks = 1000;
  s.blocks_free = 100;
  s.blocks_avail = 50;  // 50 reserved
  s.inodes = 16;
  s.inodes_free = 0;
  EXPECT_EQ(s.blocks_used_pct(), 95u);  // 900 / (900 + 50), rounded up like df
  EXPECT_EQ(s.inodes_used_pct(), 100u);
  EXPECT_EQ(s.reserved_bytes(), 50u * 4096);
}

// Whatever /proc hands over (truncated reads, a future format, garbage), parsers return values, never crash.
TEST(Parsers, SurviveGarbage) {
  uint64_t x = 0x9e3779b97f4a7c15ull;
  auto next = [&] {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  };
  const std::string alphabet = "0123456789abcdef :()-/\\\n\t[]_xD(deleted)inotify wd:fanotify tfd:";
  const std::vector<std::string> seeds = {
      "36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw\n",
      "1234 (a) (b c)) S 1 1234 1234 0 -1 4194560 500 0 0 0 17 4 0 0 20 0 3 0 98765\n",
      "inotify wd:3 ino:9e7e sdev:800013 mask:800afce ignored_mask:0\ntfd: 5 events: 19 data: 5 pos:0\n",
      "7f1c2a000000-7f1c2a500000 rw-s 00000000 00:2d 17 /tmp/x (deleted)\n",
      "Name:\tx\nState:\tS\nUid:\t1\t2\n",
      "0::/kubepods.slice/kubepods-pod1_2.slice/cri-containerd-abc.scope\n",
  };
  for (int i = 0; i < 3000; i++) {
    std::string s = seeds[next() % seeds.size()];
    int edits = static_cast<int>(next() % 8);
    for (int e = 0; e < edits && !s.empty(); e++) {
      std::size_t pos = next() % s.size();
      switch (next() % 3) {
        case 0: s[pos] = alphabet[next() % alphabet.size()]; break;
        case 1: s.erase(pos, next() % 6); break;
        default: s.insert(pos, 1, alphabet[next() % alphabet.size()]); break;
      }
    }
    (void)parse_mountinfo(s);
    (void)parse_stat(s);
    (void)parse_status(s);
    (void)parse_fdinfo(s);
    (void)parse_maps(s);
    (void)parse_cmdline(s);
    (void)parse_proc_cgroup(s);
    (void)parse_ns_link(s);
    (void)classify_fd_target(0, s);
    (void)unescape_octal(s);
    (void)cgroup_to_container(s);
  }
  SUCCEED();
}
