/* main.c: walk-init, PID 1 of every walk microVM. The order of the boot, nothing else: each
 * step lives in its own file and ends the VM with a distinct status when it fails. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>
#include "walk_init.h"

static void load_contract(struct walk_config *cfg)
{
	char err[WALK_ERRLEN];
	char *buf;
	size_t len;
	/* Read from the app disk itself, not the overlay: a workload must not be able to change
	 * its own next argv through the state disk. */
	if (read_file_bounded("/mnt/app/walk/argv", CONTRACT_MAX_BYTES, &buf, &len) < 0) {
		if (errno == ENOENT)
			fatal(WERR_ARGV_MISSING, "the app disk has no /walk/argv");
		fatal(WERR_ARGV_INVALID, "cannot read /walk/argv: %s", strerror(errno));
	}
	if (contract_decode_argv(buf, len, &cfg->argv, err) < 0)
		fatal(WERR_ARGV_INVALID, "%s", err);
	if (read_file_bounded("/mnt/app/walk/env", CONTRACT_MAX_BYTES, &buf, &len) < 0) {
		if (errno == ENOENT)
			fatal(WERR_ENV_MISSING, "the app disk has no /walk/env");
		fatal(WERR_ENV_INVALID, "cannot read /walk/env: %s", strerror(errno));
	}
	if (contract_decode_env(buf, len, cfg, err) < 0)
		fatal(WERR_ENV_INVALID, "%s", err);
	if (!cfg->path) {
		static char path_entry[] = "PATH=" DEFAULT_PATH;
		env_append(cfg, path_entry);
		cfg->path = DEFAULT_PATH;
	}
}

int main(void)
{
	if (getpid() != 1) {
		fprintf(stderr, "walk-init runs only as PID 1 of a walk microVM\n");
		return 2;
	}
	umask(022);
	mount_early();

	/* Signals are handled synchronously through a signalfd; blocking them first also queues a
	 * stop request that arrives while the system is still being set up. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	int sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sigfd < 0)
		fatal(WERR_INTERNAL, "signalfd: %s", strerror(errno));
	/* Ctrl-Alt-Del (Firecracker's SendCtrlAltDel, QEMU's send-key) becomes SIGINT for PID 1. */
	reboot(RB_DISABLE_CAD);

	char *cmdline;
	size_t len;
	char err[WALK_ERRLEN];
	struct walk_params params;
	if (read_file_bounded("/proc/cmdline", 4096, &cmdline, &len) < 0)
		fatal(WERR_CMDLINE, "cannot read /proc/cmdline: %s", strerror(errno));
	if (params_parse(cmdline, &params, err) < 0) {
		/* walk.agent cannot be trusted now, but a host that provides the port still hears why. */
		report_set_agent(agent_open(AGENT_VIRTIO_CONSOLE));
		fatal(WERR_CMDLINE, "%s", err);
	}
	report_set_agent(agent_open(params.agent));
	report_hello();
	refresh_open();

	struct walk_config cfg;
	mount_root();
	load_contract(&cfg);
	pivot_into_root();
	mount_pseudo();
	net_setup(&params);
	etc_files_write(&params);

	struct walk_creds creds;
	enum walk_error e = user_resolve(cfg.user, "/etc/passwd", "/etc/group", &creds, err);
	if (e != WERR_NONE)
		fatal(e, "%s", err);
	if (!cfg.home_given) {
		static char home[sizeof "HOME=" + sizeof creds.home];
		snprintf(home, sizeof home, "HOME=%s", creds.home);
		env_append(&cfg, home);
	}
	supervise(&cfg, &creds, &params, sigfd);
}
