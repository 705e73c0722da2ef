/* io.c: bounded file reads and small writes. Every file the init reads (the contract files,
 * the image's /etc/passwd and /etc/group) is image content, so every read has a limit. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
#include "walk_init.h"

/* Reads at most max bytes; a larger file fails with EFBIG. The buffer gets a trailing NUL
 * (not counted in *len) so text callers can use it as a string. */
int read_file_bounded(const char *path, size_t max, char **buf, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -1;
	size_t cap = 4096, n = 0;
	char *b = malloc(cap + 1);
	if (!b)
		goto fail;
	for (;;) {
		if (n == cap) {
			if (cap > max)
				break;
			cap *= 2;
			char *nb = realloc(b, cap + 1);
			if (!nb)
				goto fail;
			b = nb;
		}
		ssize_t r = read(fd, b + n, cap - n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	if (n > max) {
		free(b);
		errno = EFBIG;
		return -1;
	}
	b[n] = '\0';
	*buf = b;
	*len = n;
	return 0;
fail:
	close(fd);
	free(b);
	return -1;
}
