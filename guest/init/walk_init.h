/* walk-init: shared types of the guest init (PID 1). Each .c file owns one concern; this header
 * is the only coupling between them. Nothing here may allocate or perform I/O. */
#ifndef WALK_INIT_H
#define WALK_INIT_H

#include <stddef.h>
#include <time.h>
#include <sys/types.h>
#include <netinet/in.h>

#define WALK_ERRLEN 256

/* The stable status names of the exit-status protocol (docs/guest-contract.md). */
enum walk_error {
	WERR_NONE = 0,
	WERR_CMDLINE,             /* a walk.* kernel parameter is malformed */
	WERR_MOUNT,               /* a drive, the overlay or pivot_root failed */
	WERR_ARGV_MISSING,        /* /walk/argv is not on the app disk */
	WERR_ARGV_INVALID,        /* /walk/argv is corrupt (magic, termination, limits) */
	WERR_ENV_MISSING,
	WERR_ENV_INVALID,
	WERR_NETWORK,             /* lo or eth0 could not be configured */
	WERR_SETUP,               /* hostname, /etc files, pseudo filesystems */
	WERR_USER_INVALID,        /* WALK_USER is malformed */
	WERR_USER_UNKNOWN,        /* user name not in the image's /etc/passwd */
	WERR_GROUP_UNKNOWN,       /* group name not in the image's /etc/group */
	WERR_CREDENTIALS,         /* setgroups/setgid/setuid refused */
	WERR_WORKDIR,             /* WALK_WORKDIR cannot be entered */
	WERR_EXEC_NOT_FOUND,      /* argv[0] not found (on PATH) */
	WERR_EXEC_NOT_EXECUTABLE, /* argv[0] found but not executable */
	WERR_EXEC_FAILED,         /* execve failed otherwise (format, E2BIG...) */
	WERR_INTERNAL,
};

const char *walk_error_name(enum walk_error e);

/* A list of NUL-terminated strings pointing into a buffer owned elsewhere. */
struct strvec {
	char **v;   /* NULL-terminated */
	size_t n;
};

/* ---- contract.c: /walk/argv and /walk/env, format v1 ---- */
#define CONTRACT_MAX_BYTES (1u << 20)
#define CONTRACT_MAX_FIELDS 65536u
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

struct walk_config {
	struct strvec argv;
	struct strvec env;   /* workload env: reserved keys removed, PATH defaulted */
	const char *workdir; /* WALK_WORKDIR or "/" */
	const char *user;    /* WALK_USER or "0:0" */
	const char *path;    /* the PATH value the workload gets */
	int user_given;      /* WALK_USER was present */
	int home_given;      /* the env has HOME */
};

/* Decode one file's bytes in place (buf is modified and must outlive the result). */
int contract_decode_argv(char *buf, size_t len, struct strvec *out, char *err);
int contract_decode_env(char *buf, size_t len, struct walk_config *cfg, char *err);
/* Adds a default entry; at most two calls per decoded env (slots are reserved for PATH and HOME). */
void env_append(struct walk_config *cfg, char *entry);

/* ---- cmdline.c: walk.* kernel command-line parameters ---- */
#define MAX_DNS 3
enum agent_kind { AGENT_NONE = 0, AGENT_VIRTIO_CONSOLE };

struct walk_params {
	int has_ip;
	struct in_addr ip;
	int prefix;
	int has_gw;
	struct in_addr gw;
	struct in_addr dns[MAX_DNS];
	int ndns;
	int mtu;            /* 0 = leave the device default */
	char hostname[64];  /* default "walk" */
	int grace_s;        /* default 10 */
	int stopsig;        /* signal a stop request becomes; default SIGTERM */
	enum agent_kind agent;
};

int params_parse(const char *cmdline, struct walk_params *p, char *err);

/* ---- user.c: WALK_USER against the image's /etc/passwd and /etc/group ---- */
#define MAX_GROUPS 64

struct walk_creds {
	uid_t uid;
	gid_t gid;
	gid_t groups[MAX_GROUPS];
	size_t ngroups;
	char home[256]; /* from /etc/passwd, or "/" */
};

/* Returns WERR_NONE or one of WERR_USER_INVALID, WERR_USER_UNKNOWN, WERR_GROUP_UNKNOWN. */
enum walk_error user_resolve(const char *spec, const char *passwd_path, const char *group_path,
			     struct walk_creds *out, char *err);

/* ---- report.c: the console and the agent channel ---- */
enum status_kind { ST_EXIT, ST_SIGNAL, ST_ERROR };
struct walk_status {
	enum status_kind kind;
	int value;             /* exit code or signal number */
	enum walk_error error;
	char msg[WALK_ERRLEN]; /* for ST_ERROR */
};

void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void report_set_agent(int fd);
int report_agent_fd(void);
void report_hello(void);      /* WALK-INIT: the contract version this init speaks */
void report_started(void);
void report_refreshed(int time_ok, int seed_ok);
void report_rejected(const char *why);
void report_status(const struct walk_status *st);
/* Report an error status, kill everything, sync and end the VM. Never returns. */
void fatal(enum walk_error e, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));
void end_vm(void) __attribute__((noreturn));

/* ---- mounts.c ---- */
void mount_early(void);            /* devtmpfs, proc, sysfs in the base root */
void mount_root(void);             /* app, state and their overlay at /mnt/root */
void pivot_into_root(void);        /* pivot_root into the overlay, detach the base root */
void mount_pseudo(void);           /* /proc /sys /dev /dev/pts /dev/shm /run /tmp in the new root */
void state_freeze(void);           /* FIFREEZE the state disk: clean journal before the VM ends */
int read_file_bounded(const char *path, size_t max, char **buf, size_t *len);

/* ---- agent.c: the agent channel's guest end ---- */
int agent_open(enum agent_kind kind);
/* Reads and serves what the host sent. Returns 1 when it asked to stop, -1 when the host end is
 * not connected (virtio-console then reads as EOF until it is again), else 0. */
int agent_serve(int fd);

/* ---- command.c: host commands on the agent channel (contract v2) ---- */
#define CMD_LINE_MAX 320
#define SEED_MIN_BYTES 32
#define SEED_MAX_BYTES 128

struct cmd_reader {
	char line[CMD_LINE_MAX];
	size_t len;
	int overflow; /* the current line is longer than CMD_LINE_MAX: it is dropped */
};
enum cmd_kind { CMD_NONE, CMD_STOP, CMD_REFRESH, CMD_INVALID };
struct command {
	enum cmd_kind kind;
	struct timespec time;                 /* CMD_REFRESH: the host's CLOCK_REALTIME */
	unsigned char seed[SEED_MAX_BYTES];   /* CMD_REFRESH: entropy from the host */
	size_t seed_len;
	const char *error;                    /* CMD_INVALID: why, a constant string */
};
/* Consumes data up to and including the first newline; returns the bytes consumed. When a line
 * ended, *out is its command (CMD_INVALID with a reason if it is not one), else CMD_NONE. */
size_t command_next(struct cmd_reader *r, const char *data, size_t n, struct command *out);

/* ---- refresh.c: clock and entropy after a snapshot restore ---- */
void refresh_open(void); /* at boot, before the workload exists */
void refresh_apply(const struct command *c, int *time_ok, int *seed_ok);

/* ---- net.c ---- */
void net_setup(const struct walk_params *p);
void etc_files_write(const struct walk_params *p);

/* ---- exec.c (runs in the forked child) ---- */
struct exec_failure {
	int error; /* enum walk_error */
	int errnum;
};
void exec_workload(const struct walk_config *cfg, const struct walk_creds *cr, int errfd)
	__attribute__((noreturn));

/* ---- supervise.c ---- */
void supervise(const struct walk_config *cfg, const struct walk_creds *cr,
	       const struct walk_params *p, int sigfd) __attribute__((noreturn));

#endif
