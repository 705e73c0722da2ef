/* agent.c: the guest end of the agent channel, a virtio-console port named "walk.agent" (QEMU:
 * virtserialport name=walk.agent): finds and opens it, and serves the host's commands on it. The
 * init opens it before the workload exists and keeps it open: virtio-console allows one opener per
 * port, so the workload cannot open it (EBUSY), cannot forge what the host reads there, and cannot
 * send the init commands. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "walk_init.h"

#define PORT_NAME "walk.agent"
#define WAIT_MS 3000

static int find_port(char *dev, size_t devlen)
{
	DIR *d = opendir("/sys/class/virtio-ports");
	if (!d)
		return -1;
	struct dirent *e;
	int found = -1;
	while (found < 0 && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char path[300], name[64];
		snprintf(path, sizeof path, "/sys/class/virtio-ports/%s/name", e->d_name);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		ssize_t n = read(fd, name, sizeof name - 1);
		close(fd);
		if (n <= 0)
			continue;
		name[n] = '\0';
		name[strcspn(name, "\n")] = '\0';
		if (strcmp(name, PORT_NAME) == 0) {
			snprintf(dev, devlen, "/dev/%s", e->d_name);
			found = 0;
		}
	}
	closedir(d);
	return found;
}

int agent_open(enum agent_kind kind)
{
	if (kind != AGENT_VIRTIO_CONSOLE)
		return -1;
	/* The port and its name arrive from the host asynchronously after the driver probes. */
	char dev[300];
	for (int waited = 0; waited < WAIT_MS; waited += 5) {
		if (find_port(dev, sizeof dev) == 0) {
			int fd = open(dev, O_RDWR | O_CLOEXEC | O_NOCTTY);
			if (fd >= 0)
				return fd;
		}
		struct timespec ts = { 0, 5 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	say("warning: no virtio-console port named " PORT_NAME "; reporting on the console only");
	return -1;
}

int agent_serve(int fd)
{
	static struct cmd_reader reader;
	char buf[512];
	ssize_t n = read(fd, buf, sizeof buf);
	if (n == 0) {
		/* The host end went away: a line it left unfinished is not continued by the next host. */
		explicit_bzero(&reader, sizeof reader);
		return -1;
	}
	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 0 : -1;
	int stop = 0;
	for (size_t at = 0; at < (size_t)n;) {
		struct command c;
		at += command_next(&reader, buf + at, (size_t)n - at, &c);
		if (c.kind == CMD_STOP) {
			stop = 1;
		} else if (c.kind == CMD_REFRESH) {
			int time_ok, seed_ok;
			refresh_apply(&c, &time_ok, &seed_ok);
			report_refreshed(time_ok, seed_ok);
		} else if (c.kind == CMD_INVALID) {
			report_rejected(c.error);
		}
		explicit_bzero(&c, sizeof c);
	}
	explicit_bzero(buf, sizeof buf);
	return stop;
}
