/* mounts.c: the init's filesystem setup. In the base root: devtmpfs, proc and sysfs (to find the
 * console, the command line and the agent port). Then the app disk (ro), the state disk (rw) and
 * the overlay of both; pivot_root into the overlay and detach the base root so the workload never
 * sees it; finally the pseudo filesystems inside the new root. Any failure is fatal. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "walk_init.h"

static void must_mount(const char *src, const char *dst, const char *type, unsigned long flags,
		       const char *data, enum walk_error e)
{
	if (mount(src, dst, type, flags, data) < 0 && !(errno == EBUSY && strcmp(type, "devtmpfs") == 0))
		fatal(e, "cannot mount %s (%s) on %s: %s", src, type, dst, strerror(errno));
}

static void must_mkdir(const char *path, mode_t mode, enum walk_error e)
{
	if (mkdir(path, mode) < 0 && errno != EEXIST)
		fatal(e, "cannot create %s: %s", path, strerror(errno));
}

/* Points fds 0-2 at the console: the kernel gives PID 1 none when the base root has no
 * /dev/console, and devtmpfs provides one. */
static void open_console(void)
{
	int fd = open("/dev/console", O_RDWR | O_NOCTTY);
	if (fd < 0)
		return;
	for (int i = 0; i < 3; i++)
		if (fd != i)
			dup2(fd, i);
	if (fd > 2)
		close(fd);
}

void mount_early(void)
{
	must_mount("devtmpfs", "/dev", "devtmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755", WERR_MOUNT);
	open_console();
	must_mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, WERR_MOUNT);
	must_mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, WERR_MOUNT);
}

#ifndef FIFREEZE
#define FIFREEZE _IOWR('X', 119, int) /* <linux/fs.h>; musl ships no kernel headers */
#endif

static int state_fd = -1;

void mount_root(void)
{
	/* pivot_root refuses shared mounts; nothing here needs propagation. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		fatal(WERR_MOUNT, "cannot make / private: %s", strerror(errno));
	must_mount("/dev/vdb", "/mnt/app", "ext4", MS_RDONLY | MS_NODEV, NULL, WERR_MOUNT);
	must_mount("/dev/vdc", "/mnt/state", "ext4", MS_NODEV, NULL, WERR_MOUNT);
	/* Kept open so end_vm can freeze the state disk after the base root is detached. */
	state_fd = open("/mnt/state", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	must_mkdir("/mnt/state/upper", 0755, WERR_MOUNT);
	must_mkdir("/mnt/state/work", 0755, WERR_MOUNT);
	must_mount("overlay", "/mnt/root", "overlay", 0,
		   "lowerdir=/mnt/app,upperdir=/mnt/state/upper,workdir=/mnt/state/work", WERR_MOUNT);
}

void pivot_into_root(void)
{
	/* pivot_root(".", ".") stacks the old root on top of the new one; detaching it leaves only
	 * the overlay (whose layers stay alive through the overlay itself). */
	if (chdir("/mnt/root") < 0 || syscall(SYS_pivot_root, ".", ".") < 0)
		fatal(WERR_MOUNT, "cannot pivot_root into the overlay: %s", strerror(errno));
	if (umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
		fatal(WERR_MOUNT, "cannot detach the base root: %s", strerror(errno));
}

void mount_pseudo(void)
{
	static const struct {
		const char *src, *dst, *type;
		unsigned long flags;
		const char *data;
		mode_t mode;
	} m[] = {
		{ "proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, 0555 },
		{ "sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, 0555 },
		{ "cgroup2", "/sys/fs/cgroup", "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, 0555 },
		{ "devtmpfs", "/dev", "devtmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755", 0755 },
		{ "devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5", 0755 },
		{ "shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777", 01777 },
		{ "run", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755", 0755 },
		{ "tmp", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777", 01777 },
	};
	for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
		must_mkdir(m[i].dst, m[i].mode, WERR_SETUP);
		must_mount(m[i].src, m[i].dst, m[i].type, m[i].flags, m[i].data, WERR_SETUP);
	}
	static const char *const links[][2] = {
		{ "/proc/self/fd", "/dev/fd" },
		{ "/proc/self/fd/0", "/dev/stdin" },
		{ "/proc/self/fd/1", "/dev/stdout" },
		{ "/proc/self/fd/2", "/dev/stderr" },
	};
	for (size_t i = 0; i < sizeof links / sizeof links[0]; i++)
		if (symlink(links[i][0], links[i][1]) < 0 && errno != EEXIST)
			fatal(WERR_SETUP, "cannot create %s: %s", links[i][1], strerror(errno));
}

/* Flushes the state disk's journal and marks it clean, so the next boot needs no recovery.
 * Called with every other process dead; the VM ends right after, frozen. */
void state_freeze(void)
{
	if (state_fd >= 0)
		ioctl(state_fd, FIFREEZE, 0);
}
