/*
 * enospc_trigger: makes real syscalls fail with ENOSPC (or EDQUOT) against one kernel limit at a time, for the
 * live tests in tests/live/causes. Every subcommand ends by printing one line of key=value pairs on stdout:
 *
 *   pid=<pid> ok=<successes> enospc=<failures with ENOSPC> edquot=<...> other=<other failures> [more keys]
 *
 * so a test can compare the daemon's report with the exact number of failures the kernel returned. Where a
 * subcommand changes a global sysctl, it restores the old value itself before exiting (the test also restores
 * it, in case this program dies in between). Namespaced limits (IPC ids, mqueues, user.max_*_namespaces) are
 * changed in a namespace this process creates, so the host's own limits are not touched.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <mqueue.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/fanotify.h>
#include <sys/inotify.h>
#include <sys/ipc.h>
#include <sys/mount.h>
#include <sys/msg.h>
#include <sys/quota.h>
#include <sys/resource.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

struct tally {
	long ok, enospc, edquot, other;
	int last_other_errno;
};

static void count(struct tally *t, int failed)
{
	if (!failed) {
		t->ok++;
		return;
	}
	if (errno == ENOSPC)
		t->enospc++;
	else if (errno == EDQUOT)
		t->edquot++;
	else {
		t->other++;
		t->last_other_errno = errno;
	}
}

/* The result line; extra is a printf format for subcommand-specific keys (may be empty). */
static void report(const struct tally *t, const char *extra, ...)
{
	printf("pid=%d ok=%ld enospc=%ld edquot=%ld other=%ld", (int)getpid(), t->ok, t->enospc, t->edquot, t->other);
	if (t->other)
		printf(" other_errno=%s", strerrorname_np(t->last_other_errno));
	if (extra && *extra) {
		va_list ap;
		va_start(ap, extra);
		putchar(' ');
		vprintf(extra, ap);
		va_end(ap);
	}
	putchar('\n');
	fflush(stdout);
}

static void die(const char *what)
{
	fprintf(stderr, "enospc_trigger: %s: %s\n", what, strerror(errno));
	exit(2);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: enospc_trigger SUBCOMMAND ARGS\n"
		"  create-files DIR N                 open(O_CREAT) DIR/f0..f<N-1>\n"
		"  fill FILE CHUNK RETRIES            write CHUNK bytes until a write fails, then RETRIES more writes\n"
		"  fsync FILE BYTES                   write BYTES (must all succeed), then fsync once\n"
		"  xattr FILE N SIZE                  setxattr user.enospcd.<i> of SIZE bytes, N times\n"
		"  inotify-watches DIR N HOLD_MS      one watch on each of DIR/w0..w<N-1>, then hold them HOLD_MS\n"
		"  fanotify-marks DIR N HOLD_MS       one inode mark on each of DIR/m0..m<N-1>, then hold them HOLD_MS\n"
		"  epoll-watches N HOLD_MS            epoll_ctl(ADD) N eventfds, then hold them HOLD_MS\n"
		"  shm N SHMMNI                       new IPC namespace with kernel.shmmni=SHMMNI, shmget N times\n"
		"  msg N MSGMNI                       new IPC namespace with kernel.msgmni=MSGMNI, msgget N times\n"
		"  mq N QUEUES_MAX                    new IPC namespace with fs.mqueue.queues_max=QUEUES_MAX, without\n"
		"                                     CAP_SYS_RESOURCE, mq_open(O_CREAT) N times\n"
		"  mounts DIR N EXTRA HOLD_MS         new mount namespace; fs.mount-max = its mounts + EXTRA while\n"
		"                                     tmpfs is mounted N times on DIR, held HOLD_MS, then restored\n"
		"  unshare-mnt N LIMIT                new user namespace with user.max_mnt_namespaces=LIMIT,\n"
		"                                     unshare(CLONE_NEWNS) N times\n"
		"  set-quota DEV UID BLOCKS_KIB       set a user block hard limit with quotactl(2)\n");
	exit(2);
}

static long arg_long(const char *s)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *end || v < 0) {
		fprintf(stderr, "enospc_trigger: not a number: %s\n", s);
		exit(2);
	}
	return v;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static int read_proc_u64(const char *path, unsigned long long *out)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	int n = fscanf(f, "%llu", out);
	fclose(f);
	return n == 1 ? 0 : -1;
}

static int write_proc_u64(const char *path, unsigned long long v)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%llu\n", v);
	int rc = write(fd, buf, (size_t)n) == n ? 0 : -1;
	close(fd);
	return rc;
}

static void set_proc_u64(const char *path, unsigned long long v)
{
	if (write_proc_u64(path, v) != 0)
		die(path);
}

/*
 * Lines of /proc/self/mountinfo: the mounts of this namespace that this process sees. The kernel's count
 * (mnt_namespace::nr_mounts, compared with fs.mount-max) can be higher by mounts outside the process's root.
 */
static long mounts_in_namespace(void)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		die("/proc/self/mountinfo");
	long n = 0;
	int c;
	while ((c = fgetc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

static void raise_nofile(long need)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)need) {
		rl.rlim_cur = rl.rlim_max < (rlim_t)need ? rl.rlim_max : (rlim_t)need;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int cmd_create_files(const char *dir, long n)
{
	struct tally t = {0};
	char path[PATH_MAX];
	for (long i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/f%ld", dir, i);
		int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
		count(&t, fd < 0);
		if (fd >= 0)
			close(fd);
	}
	report(&t, "");
	return 0;
}

static int cmd_fill(const char *file, long chunk, long retries)
{
	struct tally t = {0};
	char *buf = calloc(1, (size_t)chunk);
	if (!buf)
		die("calloc");
	memset(buf, 'x', (size_t)chunk);
	int fd = open(file, O_CREAT | O_WRONLY | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		die(file);
	long long bytes = 0;
	for (;;) {
		ssize_t w = write(fd, buf, (size_t)chunk);
		if (w <= 0) {
			count(&t, 1);
			break;
		}
		bytes += w;
		t.ok++;
	}
	for (long i = 0; i < retries; i++) {
		ssize_t w = write(fd, buf, (size_t)chunk);
		if (w > 0)
			bytes += w;
		count(&t, w < 0);
	}
	close(fd);
	free(buf);
	report(&t, "bytes=%lld", bytes);
	return 0;
}

static int cmd_fsync(const char *file, long long total)
{
	struct tally t = {0};
	enum { CHUNK = 1 << 16 };
	static char buf[CHUNK];
	memset(buf, 'w', sizeof(buf));
	int fd = open(file, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
	if (fd < 0)
		die(file);
	long long written = 0;
	long write_failures = 0;
	while (written < total) {
		size_t n = total - written < CHUNK ? (size_t)(total - written) : CHUNK;
		ssize_t w = write(fd, buf, n);
		if (w <= 0) {
			write_failures++;
			break;
		}
		written += w;
	}
	int rc = fsync(fd);
	int fsync_errno = rc ? errno : 0;
	count(&t, rc != 0);
	close(fd);
	report(&t, "written=%lld write_failures=%ld fsync_errno=%s", written, write_failures,
	       fsync_errno ? strerrorname_np(fsync_errno) : "0");
	return 0;
}

static int cmd_xattr(const char *file, long n, long size)
{
	struct tally t = {0};
	char *val = malloc((size_t)size);
	if (!val)
		die("malloc");
	memset(val, 'v', (size_t)size);
	char name[64];
	for (long i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "user.enospcd.%ld", i);
		count(&t, setxattr(file, name, val, (size_t)size, 0) != 0);
	}
	free(val);
	report(&t, "");
	return 0;
}

/* Creates the empty file <dir>/<prefix><i> (it must not fail), its name left in path. */
static void create_numbered(char *path, size_t size, const char *dir, const char *prefix, long i)
{
	snprintf(path, size, "%s/%s%ld", dir, prefix, i);
	int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	if (fd < 0)
		die(path);
	close(fd);
}

static int cmd_inotify_watches(const char *dir, long n, long hold_ms)
{
	struct tally t = {0};
	int in = inotify_init1(IN_CLOEXEC);
	if (in < 0)
		die("inotify_init1");
	char path[PATH_MAX];
	for (long i = 0; i < n; i++) {
		create_numbered(path, sizeof(path), dir, "w", i);
		count(&t, inotify_add_watch(in, path, IN_MODIFY) < 0);
	}
	report(&t, "uid=%u", (unsigned)getuid());
	sleep_ms(hold_ms);  /* the watches stay held while the daemon counts them */
	close(in);
	return 0;
}

/*
 * Every mark of a group counts against fs.fanotify.max_user_marks of the uid that created the group (a ucount,
 * so root is limited too) unless the group has FAN_UNLIMITED_MARKS, which this one does not ask for.
 * fanotify_init(2) with a plain FAN_CLASS_NOTIF needs CAP_SYS_ADMIN; without it (uid 65534) only a group that
 * reports file handles is allowed (unprivileged fanotify, since 5.13), and its inode marks count the same.
 */
static int cmd_fanotify_marks(const char *dir, long n, long hold_ms)
{
	struct tally t = {0};
	int fid = 0;
	int fan = fanotify_init(FAN_CLASS_NOTIF | FAN_CLOEXEC, O_RDONLY);
	if (fan < 0 && errno == EPERM) {
		fid = 1;
		fan = fanotify_init(FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_REPORT_FID, O_RDONLY);
	}
	if (fan < 0)
		die("fanotify_init");
	char path[PATH_MAX];
	for (long i = 0; i < n; i++) {
		create_numbered(path, sizeof(path), dir, "m", i);
		count(&t, fanotify_mark(fan, FAN_MARK_ADD, FAN_MODIFY, AT_FDCWD, path) != 0);
	}
	report(&t, "uid=%u fid=%d", (unsigned)geteuid(), fid);
	sleep_ms(hold_ms);  /* the marks stay held while the daemon counts them */
	close(fan);
	return 0;
}

static int cmd_epoll_watches(long n, long hold_ms)
{
	struct tally t = {0};
	raise_nofile(n + 64);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die("epoll_create1");
	for (long i = 0; i < n; i++) {
		int fd = eventfd(0, EFD_CLOEXEC);
		if (fd < 0)
			die("eventfd");
		struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
		count(&t, epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0);
	}
	report(&t, "uid=%u", (unsigned)getuid());
	sleep_ms(hold_ms);
	return 0;
}

static void new_ipc_namespace(void)
{
	if (unshare(CLONE_NEWIPC) != 0)
		die("unshare(CLONE_NEWIPC)");
}

static int cmd_shm(long n, long shmmni)
{
	struct tally t = {0};
	new_ipc_namespace();
	set_proc_u64("/proc/sys/kernel/shmmni", (unsigned long long)shmmni);
	for (long i = 0; i < n; i++) {
		/* Not removed: a segment without attachments would be destroyed at once and free its id. The
		 * namespace, and every segment in it, goes away when this process exits. */
		count(&t, shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600) < 0);
	}
	unsigned long long now = 0;
	read_proc_u64("/proc/sys/kernel/shmmni", &now);
	report(&t, "shmmni=%llu", now);
	return 0;
}

static int cmd_msg(long n, long msgmni)
{
	struct tally t = {0};
	new_ipc_namespace();
	set_proc_u64("/proc/sys/kernel/msgmni", (unsigned long long)msgmni);
	for (long i = 0; i < n; i++)
		count(&t, msgget(IPC_PRIVATE, IPC_CREAT | 0600) < 0);
	unsigned long long now = 0;
	read_proc_u64("/proc/sys/kernel/msgmni", &now);
	report(&t, "msgmni=%llu", now);
	return 0;
}

/* Root may exceed fs.mqueue.queues_max (mqueue_create_attr checks capable(CAP_SYS_RESOURCE)): drop it. */
static void drop_cap_sys_resource(void)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
	if (syscall(SYS_capget, &hdr, data) != 0)
		die("capget");
	unsigned idx = CAP_TO_INDEX(CAP_SYS_RESOURCE), bit = CAP_TO_MASK(CAP_SYS_RESOURCE);
	data[idx].effective &= ~bit;
	data[idx].permitted &= ~bit;
	data[idx].inheritable &= ~bit;
	if (syscall(SYS_capset, &hdr, data) != 0)
		die("capset");
}

static int cmd_mq(long n, long queues_max)
{
	struct tally t = {0};
	new_ipc_namespace();
	set_proc_u64("/proc/sys/fs/mqueue/queues_max", (unsigned long long)queues_max);
	drop_cap_sys_resource();
	struct mq_attr attr = {.mq_maxmsg = 1, .mq_msgsize = 16};
	char name[64];
	for (long i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "/enospcd-trigger-%ld", i);
		mqd_t q = mq_open(name, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600, &attr);
		count(&t, q == (mqd_t)-1);
		if (q != (mqd_t)-1)
			mq_close(q);
	}
	for (long i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "/enospcd-trigger-%ld", i);
		mq_unlink(name);
	}
	unsigned long long now = 0;
	read_proc_u64("/proc/sys/fs/mqueue/queues_max", &now);
	report(&t, "queues_max=%llu", now);
	return 0;
}

static int cmd_mounts(const char *dir, long n, long extra, long hold_ms)
{
	struct tally t = {0};
	const char *knob = "/proc/sys/fs/mount-max";
	if (unshare(CLONE_NEWNS) != 0)
		die("unshare(CLONE_NEWNS)");
	/* Private, so nothing mounted here propagates back into the host's namespace. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
		die("mount --make-rprivate /");
	unsigned long long old;
	if (read_proc_u64(knob, &old) != 0)
		die(knob);
	long before = mounts_in_namespace();
	unsigned long long limit = (unsigned long long)(before + extra);
	set_proc_u64(knob, limit);
	for (long i = 0; i < n; i++)
		count(&t, mount("enospcd-trigger", dir, "tmpfs", 0, "size=4k") != 0);
	long after = mounts_in_namespace();
	sleep_ms(hold_ms);  /* the daemon reads fs.mount-max while it diagnoses */
	set_proc_u64(knob, old);
	report(&t, "mounts_before=%ld mounts_after=%ld limit=%llu restored=%llu", before, after, limit, old);
	return 0;
}

static void write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		die(path);
	close(fd);
}

/*
 * user.max_mnt_namespaces belongs to a user namespace (and is checked in it and every ancestor, see
 * inc_ucount()): set in a user namespace of this process's own, it limits only this process.
 */
static int cmd_unshare_mnt(long n, long limit)
{
	struct tally t = {0};
	if (unshare(CLONE_NEWUSER) != 0)
		die("unshare(CLONE_NEWUSER)");
	/* Root stays root: the one-line maps of its own ids need no further privilege. */
	write_file("/proc/self/setgroups", "deny");
	write_file("/proc/self/uid_map", "0 0 1");
	write_file("/proc/self/gid_map", "0 0 1");
	set_proc_u64("/proc/sys/user/max_mnt_namespaces", (unsigned long long)limit);
	for (long i = 0; i < n; i++)
		count(&t, unshare(CLONE_NEWNS) != 0);
	report(&t, "limit=%ld", limit);
	return 0;
}

static int cmd_set_quota(const char *dev, long uid, long blocks_kib)
{
	struct tally t = {0};
	struct dqblk q = {0};
	q.dqb_bhardlimit = (uint64_t)blocks_kib; /* in QIF_DQBLKSIZE (1 KiB) units */
	q.dqb_bsoftlimit = (uint64_t)blocks_kib;
	q.dqb_valid = QIF_BLIMITS;
	/* glibc's QCMD shifts an int: Q_SETQUOTA (0x800008) << 8 overflows it. The same bits, shifted unsigned. */
	int qcmd = (int)(((unsigned)Q_SETQUOTA << SUBCMDSHIFT) | ((unsigned)USRQUOTA & SUBCMDMASK));
	count(&t, quotactl(qcmd, dev, (int)uid, (caddr_t)&q) != 0);
	report(&t, "");
	return t.ok ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		usage();
	const char *cmd = argv[1];
	int nargs = argc - 2;
	char **a = argv + 2;
	if (!strcmp(cmd, "create-files") && nargs == 2)
		return cmd_create_files(a[0], arg_long(a[1]));
	if (!strcmp(cmd, "fill") && nargs == 3)
		return cmd_fill(a[0], arg_long(a[1]), arg_long(a[2]));
	if (!strcmp(cmd, "fsync") && nargs == 2)
		return cmd_fsync(a[0], arg_long(a[1]));
	if (!strcmp(cmd, "xattr") && nargs == 3)
		return cmd_xattr(a[0], arg_long(a[1]), arg_long(a[2]));
	if (!strcmp(cmd, "inotify-watches") && nargs == 3)
		return cmd_inotify_watches(a[0], arg_long(a[1]), arg_long(a[2]));
	if (!strcmp(cmd, "fanotify-marks") && nargs == 3)
		return cmd_fanotify_marks(a[0], arg_long(a[1]), arg_long(a[2]));
	if (!strcmp(cmd, "epoll-watches") && nargs == 2)
		return cmd_epoll_watches(arg_long(a[0]), arg_long(a[1]));
	if (!strcmp(cmd, "shm") && nargs == 2)
		return cmd_shm(arg_long(a[0]), arg_long(a[1]));
	if (!strcmp(cmd, "msg") && nargs == 2)
		return cmd_msg(arg_long(a[0]), arg_long(a[1]));
	if (!strcmp(cmd, "mq") && nargs == 2)
		return cmd_mq(arg_long(a[0]), arg_long(a[1]));
	if (!strcmp(cmd, "mounts") && nargs == 4)
		return cmd_mounts(a[0], arg_long(a[1]), arg_long(a[2]), arg_long(a[3]));
	if (!strcmp(cmd, "unshare-mnt") && nargs == 2)
		return cmd_unshare_mnt(arg_long(a[0]), arg_long(a[1]));
	if (!strcmp(cmd, "set-quota") && nargs == 3)
		return cmd_set_quota(a[0], arg_long(a[1]), arg_long(a[2]));
	usage();
}
