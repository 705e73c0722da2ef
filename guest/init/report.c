/* report.c: everything the init tells the outside world. Human-readable lines go to the serial
 * console; the exit status goes to the agent channel (primary, only the init can open it) and as
 * a WALK-STATUS protocol line on the console (fallback), after every other process is dead and
 * the console is drained, so a workload's output can neither hide nor follow it. Answers to host
 * commands and the contract version go to the agent channel only. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/reboot.h>
#include <termios.h>
#include <unistd.h>
#include "walk_init.h"

static int agent_fd = -1;

static const char *const error_names[] = {
	[WERR_NONE] = "none",
	[WERR_CMDLINE] = "cmdline",
	[WERR_MOUNT] = "mount",
	[WERR_ARGV_MISSING] = "argv_missing",
	[WERR_ARGV_INVALID] = "argv_invalid",
	[WERR_ENV_MISSING] = "env_missing",
	[WERR_ENV_INVALID] = "env_invalid",
	[WERR_NETWORK] = "network",
	[WERR_SETUP] = "setup",
	[WERR_USER_INVALID] = "user_invalid",
	[WERR_USER_UNKNOWN] = "user_unknown",
	[WERR_GROUP_UNKNOWN] = "group_unknown",
	[WERR_CREDENTIALS] = "credentials",
	[WERR_WORKDIR] = "workdir",
	[WERR_EXEC_NOT_FOUND] = "exec_not_found",
	[WERR_EXEC_NOT_EXECUTABLE] = "exec_not_executable",
	[WERR_EXEC_FAILED] = "exec_failed",
	[WERR_INTERNAL] = "internal",
};

const char *walk_error_name(enum walk_error e)
{
	if ((unsigned)e >= sizeof error_names / sizeof error_names[0])
		return "internal";
	return error_names[e];
}

static void write_all(int fd, const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, s, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

/* The agent port must never hang PID 1: a host that stops reading gets at most AGENT_WRITE_MS. */
#define AGENT_WRITE_MS 2000

static void agent_write(const char *s, size_t n)
{
	if (agent_fd < 0)
		return;
	int waited = 0;
	while (n > 0) {
		ssize_t w = write(agent_fd, s, n);
		if (w > 0) {
			s += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN && waited < AGENT_WRITE_MS) {
			struct pollfd p = { .fd = agent_fd, .events = POLLOUT };
			poll(&p, 1, 100);
			waited += 100;
			continue;
		}
		return;
	}
}

void say(const char *fmt, ...)
{
	char line[WALK_ERRLEN + 64];
	int n = snprintf(line, sizeof line, "walk-init: ");
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
	va_end(ap);
	strcat(line, "\n");
	write_all(2, line, strlen(line));
}

void report_set_agent(int fd)
{
	agent_fd = fd;
	if (fd >= 0)
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}
int report_agent_fd(void) { return agent_fd; }

/* The host may only send what this init understands: contract v2 added `refresh`. */
void report_hello(void)
{
	static const char line[] = "WALK-INIT v2\n";
	agent_write(line, sizeof line - 1);
}

void report_started(void)
{
	static const char line[] = "WALK-STARTED v1\n";
	agent_write(line, sizeof line - 1);
}

void report_refreshed(int time_ok, int seed_ok)
{
	char line[64];
	snprintf(line, sizeof line, "WALK-REFRESHED v2 time=%s seed=%s\n", time_ok ? "ok" : "failed", seed_ok ? "ok" : "failed");
	agent_write(line, strlen(line));
}

/* why is one of command.c's constant reasons: printable ASCII, no newline. */
void report_rejected(const char *why)
{
	char line[96];
	snprintf(line, sizeof line, "WALK-REJECTED v2 %s\n", why);
	agent_write(line, strlen(line));
}

/* The message of an error status: printable ASCII only, so it stays one line on any channel. */
static void sanitize(char *s)
{
	for (; *s; s++)
		if (*s < 0x20 || *s > 0x7e)
			*s = '?';
}

void report_status(const struct walk_status *st)
{
	char line[WALK_ERRLEN + 64];
	switch (st->kind) {
	case ST_EXIT:
		snprintf(line, sizeof line, "WALK-STATUS v1 exit=%d\n", st->value);
		break;
	case ST_SIGNAL:
		snprintf(line, sizeof line, "WALK-STATUS v1 signal=%d\n", st->value);
		break;
	default: {
		char msg[WALK_ERRLEN];
		snprintf(msg, sizeof msg, "%s", st->msg);
		sanitize(msg);
		snprintf(line, sizeof line, "WALK-STATUS v1 error=%s msg=%s\n", walk_error_name(st->error), msg);
	}
	}
	agent_write(line, strlen(line));
	/* The leading newline ends whatever partial line the workload left on the console. */
	tcdrain(1);
	write_all(1, "\n", 1);
	write_all(1, line, strlen(line));
	tcdrain(1);
}

void end_vm(void)
{
	sync();
	state_freeze();
	reboot(RB_AUTOBOOT);
	/* reboot(2) failed: PID 1 must never exit (that panics the kernel), so wait forever. */
	for (;;)
		pause();
}

void fatal(enum walk_error e, const char *fmt, ...)
{
	struct walk_status st = { .kind = ST_ERROR, .error = e };
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(st.msg, sizeof st.msg, fmt, ap);
	va_end(ap);
	say("error: %s: %s", walk_error_name(e), st.msg);
	if (getpid() == 1)
		kill(-1, SIGKILL);
	report_status(&st);
	end_vm();
}
