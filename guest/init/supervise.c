/* supervise.c: PID 1's duties once the system is set up. Starts the workload, reaps every
 * zombie, serves the agent channel (agent.c), turns stop requests (SIGTERM, SIGINT from
 * ctrl-alt-del, "stop" on the agent channel) into a signal for the workload, kills everything when
 * the grace period is over, and when the workload is gone kills what is left, reports its status
 * and ends the VM. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "walk_init.h"

#define REAP_WAIT_MS 5000
/* While the host end of the agent port is not connected (walkd restarting) the port polls as
 * hung up without pause; it is looked at again this often, so the next walkd is heard. */
#define AGENT_RETRY_MS 500

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static pid_t start(const struct walk_config *cfg, const struct walk_creds *cr, int sigfd)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		fatal(WERR_INTERNAL, "pipe: %s", strerror(errno));
	pid_t pid = fork();
	if (pid < 0)
		fatal(WERR_INTERNAL, "fork: %s", strerror(errno));
	if (pid == 0) {
		close(p[0]);
		close(sigfd);
		if (report_agent_fd() >= 0)
			close(report_agent_fd());
		exec_workload(cfg, cr, p[1]);
	}
	close(p[1]);
	struct exec_failure f;
	ssize_t r;
	do
		r = read(p[0], &f, sizeof f);
	while (r < 0 && errno == EINTR);
	close(p[0]);
	if (r != (ssize_t)sizeof f)
		return pid; /* EOF: the exec succeeded */
	waitpid(pid, NULL, 0);
	const char *what = strerror(f.errnum);
	switch (f.error) {
	case WERR_CREDENTIALS:
		fatal(f.error, "cannot switch to uid %u gid %u: %s", (unsigned)cr->uid, (unsigned)cr->gid, what);
	case WERR_WORKDIR:
		fatal(f.error, "cannot enter the working directory %s: %s", cfg->workdir, what);
	case WERR_EXEC_NOT_FOUND:
		if (strchr(cfg->argv.v[0], '/'))
			fatal(f.error, "%s: no such file", cfg->argv.v[0]);
		fatal(f.error, "%s: not found on PATH=%s", cfg->argv.v[0], cfg->path);
	case WERR_EXEC_NOT_EXECUTABLE:
		fatal(f.error, "%s: not executable (%s)", cfg->argv.v[0], what);
	default:
		fatal(WERR_EXEC_FAILED, "cannot execute %s: %s", cfg->argv.v[0], what);
	}
}

/* Waits (bounded) until every process but PID 1 is gone. */
static void reap_all(int sigfd)
{
	long deadline = now_ms() + REAP_WAIT_MS;
	for (;;) {
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
		if (errno == ECHILD || now_ms() >= deadline)
			return;
		struct pollfd pfd = { .fd = sigfd, .events = POLLIN };
		poll(&pfd, 1, (int)(deadline - now_ms()));
		struct signalfd_siginfo si;
		while (read(sigfd, &si, sizeof si) > 0)
			;
		errno = 0;
	}
}

void supervise(const struct walk_config *cfg, const struct walk_creds *cr,
	       const struct walk_params *p, int sigfd)
{
	pid_t pid = start(cfg, cr, sigfd);
	report_started();

	int agent = report_agent_fd();
	long agent_retry = -1; /* while the host end is away: when to look at the port again */
	long deadline = -1;    /* when the grace period ends, once a stop was requested */
	int killed = 0, wstatus = 0;
	for (;;) {
		long now = now_ms();
		if (agent_retry >= 0 && now >= agent_retry)
			agent_retry = -1;
		int watch_agent = agent >= 0 && agent_retry < 0;
		struct pollfd pfd[2] = { { .fd = sigfd, .events = POLLIN }, { .fd = agent, .events = POLLIN } };
		long wake = -1;
		if (deadline >= 0 && !killed)
			wake = deadline;
		if (agent_retry >= 0 && (wake < 0 || agent_retry < wake))
			wake = agent_retry;
		int timeout = wake < 0 ? -1 : wake > now ? (int)(wake - now) : 0;
		int r = poll(pfd, watch_agent ? 2 : 1, timeout);
		if (r < 0 && errno != EINTR)
			fatal(WERR_INTERNAL, "poll: %s", strerror(errno));
		if (deadline >= 0 && !killed && now_ms() >= deadline) {
			say("the workload did not exit within %d s of the stop request: killing it", p->grace_s);
			kill(-1, SIGKILL);
			killed = 1;
		}
		int stop = 0, forward = 0;
		if (r > 0 && (pfd[0].revents & POLLIN)) {
			struct signalfd_siginfo si;
			while (read(sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
				if (si.ssi_signo == SIGTERM) {
					stop = 1;
					forward = SIGTERM;
				} else if (si.ssi_signo == SIGINT) {
					stop = 1;
				}
			}
			pid_t w;
			int st;
			while ((w = waitpid(-1, &st, WNOHANG)) > 0)
				if (w == pid) {
					wstatus = st;
					pid = 0;
				}
		}
		if (r > 0 && watch_agent && (pfd[1].revents & (POLLIN | POLLHUP | POLLERR))) {
			int c = agent_serve(agent);
			if (c > 0)
				stop = 1;
			else if (c < 0)
				agent_retry = now_ms() + AGENT_RETRY_MS;
		}
		if (pid == 0)
			break;
		if (stop) {
			kill(pid, forward ? forward : p->stopsig);
			if (deadline < 0)
				deadline = now_ms() + p->grace_s * 1000L;
		}
	}
	/* The workload is gone: like a container's PID namespace, nothing else outlives it. */
	kill(-1, SIGKILL);
	reap_all(sigfd);
	struct walk_status st = { 0 };
	if (WIFSIGNALED(wstatus)) {
		st.kind = ST_SIGNAL;
		st.value = WTERMSIG(wstatus);
	} else {
		st.kind = ST_EXIT;
		st.value = WEXITSTATUS(wstatus);
	}
	report_status(&st);
	end_vm();
}
