/* exec.c: the forked child's path from init to workload: new session, credentials, WORKDIR,
 * then argv[0] resolved on the workload's PATH like execvp. A failure is written to errfd (a
 * close-on-exec pipe, so a successful exec reads as EOF in the parent) and the child exits. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "walk_init.h"

__attribute__((noreturn)) static void fail(int errfd, enum walk_error e, int errnum)
{
	struct exec_failure f = { .error = e, .errnum = errnum };
	ssize_t r = write(errfd, &f, sizeof f);
	(void)r;
	_exit(127);
}

static enum walk_error classify(int errnum, const char *path)
{
	if (errnum == EACCES || errnum == EPERM)
		return WERR_EXEC_NOT_EXECUTABLE;
	/* ENOENT for a file that exists means its interpreter or loader is missing. */
	if ((errnum == ENOENT || errnum == ENOTDIR) && access(path, F_OK) < 0)
		return WERR_EXEC_NOT_FOUND;
	return WERR_EXEC_FAILED;
}

void exec_workload(const struct walk_config *cfg, const struct walk_creds *cr, int errfd)
{
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	setsid();
	int null = open("/dev/null", O_RDONLY);
	if (null >= 0 && null != 0) {
		dup2(null, 0);
		close(null);
	}
	if (setgroups(cr->ngroups, cr->groups) < 0 || setgid(cr->gid) < 0 || setuid(cr->uid) < 0)
		fail(errfd, WERR_CREDENTIALS, errno);
	if (chdir(cfg->workdir) < 0)
		fail(errfd, WERR_WORKDIR, errno);

	char *const *argv = cfg->argv.v;
	char *const *envp = cfg->env.v;
	const char *file = argv[0];
	if (strchr(file, '/')) {
		execve(file, argv, envp);
		fail(errfd, classify(errno, file), errno);
	}
	int denied = 0;
	const char *p = cfg->path;
	for (;;) {
		const char *end = strchrnul(p, ':');
		size_t dlen = (size_t)(end - p);
		char full[PATH_MAX];
		/* An empty PATH element means the current directory, as in execvp. */
		if (dlen + 1 + strlen(file) < sizeof full) {
			snprintf(full, sizeof full, "%.*s%s%s", (int)dlen, p, dlen ? "/" : "", file);
			execve(full, argv, envp);
			if (errno == EACCES)
				denied = 1;
			else if ((errno != ENOENT && errno != ENOTDIR) || access(full, F_OK) == 0)
				fail(errfd, classify(errno, full), errno);
		}
		if (!*end)
			break;
		p = end + 1;
	}
	fail(errfd, denied ? WERR_EXEC_NOT_EXECUTABLE : WERR_EXEC_NOT_FOUND, denied ? EACCES : ENOENT);
}
