/* refresh.c: what a restored guest needs before it serves (docs/guest-contract.md, "Host
 * commands"): the wall clock set to the host's (a snapshot resumes with the clock it was taken
 * with), and the kernel CRNG reseeded from host entropy (every restore of one snapshot would
 * otherwise produce the same random numbers). /dev/urandom is opened at boot, before the workload
 * exists, so a workload that replaces the device node cannot make the reseed go elsewhere. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include "walk_init.h"

/* <linux/random.h>; musl ships no kernel headers. */
#ifndef RNDADDENTROPY
#define RNDADDENTROPY _IOW('R', 0x03, int[2])
#endif
#ifndef RNDRESEEDCRNG
#define RNDRESEEDCRNG _IO('R', 0x07)
#endif

static int random_fd = -1;

void refresh_open(void)
{
	random_fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (random_fd < 0)
		say("warning: cannot open /dev/urandom (%s): a restored guest cannot be reseeded", strerror(errno));
}

/* RNDADDENTROPY mixes the bytes into the input pool and credits them (they come from the host's
 * CSPRNG); on its own it does not touch the CRNG that has been initialised since boot, so
 * RNDRESEEDCRNG then rekeys it from the pool: the next read already depends on the new bytes. */
static int reseed(const unsigned char *seed, size_t n)
{
	struct {
		int entropy_count; /* struct rand_pool_info */
		int buf_size;
		unsigned char buf[SEED_MAX_BYTES];
	} info = { .entropy_count = (int)(n * 8), .buf_size = (int)n };
	if (random_fd < 0) {
		errno = EBADF;
		return -1;
	}
	memcpy(info.buf, seed, n);
	int r = ioctl(random_fd, RNDADDENTROPY, &info);
	explicit_bzero(info.buf, sizeof info.buf);
	if (r < 0)
		return -1;
	return ioctl(random_fd, RNDRESEEDCRNG);
}

void refresh_apply(const struct command *c, int *time_ok, int *seed_ok)
{
	*time_ok = clock_settime(CLOCK_REALTIME, &c->time) == 0;
	if (!*time_ok)
		say("refresh: cannot set the clock: %s", strerror(errno));
	*seed_ok = reseed(c->seed, c->seed_len) == 0;
	if (!*seed_ok)
		say("refresh: cannot reseed the kernel's random number generator: %s", strerror(errno));
}
