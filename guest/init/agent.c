/* agent.c: finds and opens the agent channel, a virtio-console port named "walk.agent"
 * (QEMU: virtserialport name=walk.agent). The init opens it before the workload exists and keeps
 * it open: virtio-console allows one opener per port, so the workload cannot open it (EBUSY) and
 * cannot forge the status the host reads there. */
#include <dirent.h>
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
