// vmprobe: the dynamically linked program of the VM harness selftest. It proves that a payload ELF and its
// libraries work in the guest, and it drives the ENOSPC triggers the selftest traces with kretprobes.
//
//   vmprobe release                print uname(2) release
//   vmprobe fill-inodes DIR        create empty files in DIR until creat(2) fails
//   vmprobe fill-blocks FILE       append 4 KiB blocks to FILE until write(2) fails
//   vmprobe mount-until-fail DIR   stack tmpfs mounts on DIR until mount(2) fails, then unmount them
//
// The fill/mount commands print what happened and exit 0 only if the failure was ENOSPC.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/utsname.h>
#include <unistd.h>

enum { max_attempts = 1000000 };

static int report(const char *what, long done, int err) {
  printf("%s: %ld succeeded, then errno %d %s (%s)\n", what, done, err, strerrorname_np(err) ?: "?",
         strerror(err));
  return err == ENOSPC ? 0 : 1;
}

static int cmd_release(void) {
  struct utsname u;
  if (uname(&u) != 0) {
    perror("uname");
    return 1;
  }
  puts(u.release);
  return 0;
}

static int cmd_fill_inodes(const char *dir) {
  char path[4096];
  for (long i = 0; i < max_attempts; i++) {
    snprintf(path, sizeof(path), "%s/f%ld", dir, i);
    int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
    if (fd < 0) return report("fill-inodes", i, errno);
    close(fd);
  }
  fprintf(stderr, "fill-inodes: no failure after %d files\n", max_attempts);
  return 1;
}

static int cmd_fill_blocks(const char *file) {
  static char block[4096];
  memset(block, 0xa5, sizeof(block));
  int fd = open(file, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0) {
    perror(file);
    return 1;
  }
  for (long i = 0; i < max_attempts; i++) {
    ssize_t n = write(fd, block, sizeof(block));
    if (n < 0) {
      int err = errno;
      close(fd);
      return report("fill-blocks", i, err);
    }
  }
  close(fd);
  fprintf(stderr, "fill-blocks: no failure after %d blocks\n", max_attempts);
  return 1;
}

static int cmd_mount_until_fail(const char *dir) {
  long mounted = 0;
  int err = 0;
  while (mounted < 100000) {
    if (mount("vmprobe", dir, "tmpfs", 0, "size=64k") != 0) {
      err = errno;
      break;
    }
    mounted++;
  }
  int rc = err ? report("mount-until-fail", mounted, err) : 1;
  for (long i = 0; i < mounted; i++) {
    if (umount2(dir, MNT_DETACH) != 0) {
      perror("umount2");
      return 1;
    }
  }
  return rc;
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc == 2 && strcmp(argv[1], "release") == 0) return cmd_release();
  if (argc == 3 && strcmp(argv[1], "fill-inodes") == 0) return cmd_fill_inodes(argv[2]);
  if (argc == 3 && strcmp(argv[1], "fill-blocks") == 0) return cmd_fill_blocks(argv[2]);
  if (argc == 3 && strcmp(argv[1], "mount-until-fail") == 0) return cmd_mount_until_fail(argv[2]);
  fprintf(stderr, "usage: vmprobe release | fill-inodes DIR | fill-blocks FILE | mount-until-fail DIR\n");
  return 2;
}
