/* unit: host-side tests of the init's pure parts: the walk.* parameter parser, user lookup
 * against fixture /etc files, contract decoding cases the golden files do not cover, and the
 * agent channel's command reader (framing, strict parsing, every malformed form).
 * Usage: unit-tests FIXTURES_DIR. Prints one line per failure; exit status 1 if any failed. */
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../walk_init.h"

static int failures, checks;
#define CHECK(cond)                                                           \
	do {                                                                  \
		checks++;                                                     \
		if (!(cond)) {                                                \
			failures++;                                           \
			fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); \
		}                                                             \
	} while (0)

static char passwd[512], group[512];

static void test_params(void)
{
	struct walk_params p;
	char err[WALK_ERRLEN];
	CHECK(params_parse("console=ttyS0 quiet", &p, err) == 0);
	CHECK(!p.has_ip && p.grace_s == 10 && p.stopsig == SIGTERM && strcmp(p.hostname, "walk") == 0);
	CHECK(p.agent == AGENT_NONE && p.ndns == 0 && p.mtu == 0);

	CHECK(params_parse("ro walk.ip=10.0.0.2/24 walk.gw=10.0.0.1 walk.dns=1.1.1.1,9.9.9.9 walk.mtu=1400 "
			   "walk.hostname=my-app1 walk.grace=3 walk.stopsig=3 walk.agent=virtio-console\n", &p, err) == 0);
	CHECK(p.has_ip && p.prefix == 24 && p.ip.s_addr == inet_addr("10.0.0.2"));
	CHECK(p.has_gw && p.gw.s_addr == inet_addr("10.0.0.1"));
	CHECK(p.ndns == 2 && p.dns[1].s_addr == inet_addr("9.9.9.9"));
	CHECK(p.mtu == 1400 && p.grace_s == 3 && p.stopsig == 3 && strcmp(p.hostname, "my-app1") == 0);
	CHECK(p.agent == AGENT_VIRTIO_CONSOLE);

	static const char *const bad[] = {
		"walk.ip=10.0.0.2",          "walk.ip=10.0.0.256/24",  "walk.ip=10.0.0.02/24", "walk.ip=10.0.0/24",
		"walk.ip=10.0.0.2/33",       "walk.ip=10.0.0.2/0",     "walk.ip=10.0.0.2/24x", "walk.ip=+1.0.0.2/24",
		"walk.gw=10.0.0.1",          "walk.ip=10.0.0.2/24 walk.gw=10.0.1.1",
		"walk.dns=1.1.1.1,",         "walk.dns=1.1.1.1,2.2.2.2,3.3.3.3,4.4.4.4", "walk.dns=",
		"walk.mtu=67",               "walk.mtu=65536",         "walk.mtu=1500.0",
		"walk.hostname=My-App",      "walk.hostname=-a",       "walk.hostname=a-",     "walk.hostname=a.b",
		"walk.hostname=a_b",         "walk.hostname=",
		"walk.hostname=a234567890123456789012345678901234567890123456789012345678901234",
		"walk.grace=-1",             "walk.grace=3601",        "walk.grace=010",
		"walk.stopsig=9",            "walk.stopsig=19",        "walk.stopsig=0",       "walk.stopsig=32",
		"walk.agent=vsock",          "walk.agent",             "walk.unknown=1",       "walk.ip",
		"walk.grace=1 walk.grace=2", "walk.IP=10.0.0.2/24",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err[0] = '\0';
		int r = params_parse(bad[i], &p, err);
		if (r == 0)
			fprintf(stderr, "accepted: %s\n", bad[i]);
		CHECK(r < 0 && strstr(err, "walk.") != NULL);
	}
}

static void test_user(void)
{
	struct walk_creds c;
	char err[WALK_ERRLEN];
	CHECK(user_resolve("app", passwd, group, &c, err) == WERR_NONE);
	CHECK(c.uid == 1000 && c.gid == 1000 && strcmp(c.home, "/home/app") == 0);
	CHECK(c.ngroups == 2 && c.groups[0] == 50 && c.groups[1] == 29);

	CHECK(user_resolve("app:staff", passwd, group, &c, err) == WERR_NONE);
	CHECK(c.uid == 1000 && c.gid == 50 && c.ngroups == 2);

	CHECK(user_resolve("1000", passwd, group, &c, err) == WERR_NONE); /* known uid: its passwd entry */
	CHECK(c.uid == 1000 && c.gid == 1000 && c.ngroups == 2 && strcmp(c.home, "/home/app") == 0);

	CHECK(user_resolve("4242", passwd, group, &c, err) == WERR_NONE); /* unknown uid: gid 0, no groups */
	CHECK(c.uid == 4242 && c.gid == 0 && c.ngroups == 0 && strcmp(c.home, "/") == 0);

	CHECK(user_resolve("4242:4343", passwd, group, &c, err) == WERR_NONE);
	CHECK(c.uid == 4242 && c.gid == 4343 && c.ngroups == 0);

	CHECK(user_resolve("daemon:video", passwd, group, &c, err) == WERR_NONE);
	CHECK(c.uid == 1 && c.gid == 44 && c.ngroups == 1 && c.groups[0] == 29);

	CHECK(user_resolve("0:0", passwd, group, &c, err) == WERR_NONE);
	CHECK(c.uid == 0 && c.gid == 0 && c.ngroups == 0 && strcmp(c.home, "/root") == 0);

	CHECK(user_resolve("nohome", passwd, group, &c, err) == WERR_NONE);
	CHECK(c.uid == 1001 && strcmp(c.home, "/") == 0);

	CHECK(user_resolve("nobody", passwd, group, &c, err) == WERR_USER_UNKNOWN);
	CHECK(strstr(err, "\"nobody\"") && strstr(err, "/etc/passwd"));
	CHECK(user_resolve("bad", passwd, group, &c, err) == WERR_USER_UNKNOWN); /* malformed line skipped */
	CHECK(user_resolve("app:wheel", passwd, group, &c, err) == WERR_GROUP_UNKNOWN);
	CHECK(strstr(err, "\"wheel\"") && strstr(err, "/etc/group"));
	CHECK(user_resolve("1000:wheel", passwd, group, &c, err) == WERR_GROUP_UNKNOWN);
	CHECK(user_resolve("app", "/nonexistent/passwd", group, &c, err) == WERR_USER_UNKNOWN);
	CHECK(user_resolve("1000:50", "/nonexistent/passwd", "/nonexistent/group", &c, err) == WERR_NONE);
	CHECK(c.uid == 1000 && c.gid == 50 && c.ngroups == 0);

	static const char *const invalid[] = { "", ":", "app:", ":staff", "a:b:c", "4294967295", "99999999999" };
	for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
		enum walk_error e = user_resolve(invalid[i], passwd, group, &c, err);
		/* An out-of-range number is not an id, so it is looked up as a name and not found. */
		CHECK(e == WERR_USER_INVALID || (i >= 5 && e == WERR_USER_UNKNOWN));
	}
}

static int decode_env(const char *bytes, size_t len, struct walk_config *cfg, char *err)
{
	char *b = malloc(len);
	memcpy(b, bytes, len);
	return contract_decode_env(b, len, cfg, err);
}

static void test_contract(void)
{
	struct walk_config cfg;
	char err[WALK_ERRLEN];
	static const char dup[] = "walk-env-v1\0A=1\0B=2\0A=3";
	CHECK(decode_env(dup, sizeof dup, &cfg, err) < 0 && strstr(err, "key A twice"));
	static const char noeq[] = "walk-env-v1\0A";
	CHECK(decode_env(noeq, sizeof noeq, &cfg, err) < 0 && strstr(err, "entry 1"));
	static const char rel[] = "walk-env-v1\0WALK_WORKDIR=srv";
	CHECK(decode_env(rel, sizeof rel, &cfg, err) < 0 && strstr(err, "absolute"));
	static const char prefix[] = "walk-env-v1\0WALK_USERX=1\0PATHS=/x\0HOMER=1";
	CHECK(decode_env(prefix, sizeof prefix, &cfg, err) == 0);
	CHECK(cfg.env.n == 3 && !cfg.user_given && !cfg.path && !cfg.home_given && strcmp(cfg.user, "0:0") == 0);
	static const char defaults[] = "walk-env-v1\0HOME=/h\0PATH=/p";
	CHECK(decode_env(defaults, sizeof defaults, &cfg, err) == 0);
	CHECK(cfg.home_given && cfg.path && strcmp(cfg.path, "/p") == 0);
	static const char empty[] = "walk-env-v1";
	CHECK(decode_env(empty, sizeof empty, &cfg, err) == 0 && cfg.env.n == 0);
	char path_entry[] = "PATH=" DEFAULT_PATH, home_entry[] = "HOME=/";
	env_append(&cfg, path_entry);
	env_append(&cfg, home_entry);
	CHECK(cfg.env.n == 2 && cfg.env.v[2] == NULL && strcmp(cfg.env.v[1], "HOME=/") == 0);

	/* Field and size limits. */
	size_t n = CONTRACT_MAX_FIELDS + 1;
	size_t len = sizeof "walk-argv-v1" + 2 * n;
	char *big = malloc(len);
	memcpy(big, "walk-argv-v1", sizeof "walk-argv-v1");
	for (size_t i = 0; i < n; i++) {
		big[sizeof "walk-argv-v1" + 2 * i] = 'x';
		big[sizeof "walk-argv-v1" + 2 * i + 1] = '\0';
	}
	struct strvec v;
	CHECK(contract_decode_argv(big, len, &v, err) < 0 && strstr(err, "more than 65536 fields"));
	big = malloc(len);
	memcpy(big, "walk-argv-v1", sizeof "walk-argv-v1");
	for (size_t i = 0; i < n - 1; i++) {
		big[sizeof "walk-argv-v1" + 2 * i] = 'x';
		big[sizeof "walk-argv-v1" + 2 * i + 1] = '\0';
	}
	CHECK(contract_decode_argv(big, len - 2, &v, err) == 0 && v.n == CONTRACT_MAX_FIELDS);
	char *huge = calloc(CONTRACT_MAX_BYTES + 1, 1);
	memcpy(huge, "walk-argv-v1\0x", 14);
	CHECK(contract_decode_argv(huge, CONTRACT_MAX_BYTES + 1, &v, err) < 0 && strstr(err, "larger than"));
	static const char nul_only[] = "";
	char one[1] = { nul_only[0] };
	CHECK(contract_decode_argv(one, 0, &v, err) < 0 && strstr(err, "NUL"));
	CHECK(contract_decode_argv(one, 1, &v, err) < 0 && strstr(err, "walk-argv-v1"));
}

/* Feeds a whole stream in chunks of `chunk` bytes; returns how many commands it yielded. */
static size_t feed(const char *data, size_t n, size_t chunk, struct command *out, size_t max)
{
	struct cmd_reader r = { 0 };
	size_t got = 0;
	for (size_t at = 0; at < n;) {
		size_t len = n - at < chunk ? n - at : chunk;
		while (len > 0) {
			struct command c;
			size_t used = command_next(&r, data + at, len, &c);
			CHECK(used >= 1 && used <= len);
			at += used;
			len -= used;
			if (c.kind != CMD_NONE && got < max)
				out[got++] = c;
		}
	}
	return got;
}

/* The single command of a stream that holds exactly one line. */
static struct command one(const char *data, size_t n)
{
	struct command c[2];
	memset(c, 0, sizeof c);
	CHECK(feed(data, n, n, c, 2) == 1);
	return c[0];
}

static int rejected(const char *data, size_t n, const char *why)
{
	struct command c = one(data, n);
	int ok = c.kind == CMD_INVALID && strcmp(c.error, why) == 0;
	if (!ok)
		fprintf(stderr, "not rejected as \"%s\": %.*s", why, (int)n, data);
	return ok;
}

static void test_commands(void)
{
	char seed[2 * 64 + 1], line[2 * CMD_LINE_MAX];
	for (int i = 0; i < 64; i++)
		snprintf(seed + 2 * i, 3, "%02x", (unsigned)(i * 37 + 5) & 0xff);

	CHECK(one("stop\n", 5).kind == CMD_STOP);
	int n = snprintf(line, sizeof line, "refresh 1717171717.000000042 %s\n", seed);
	struct command c = one(line, (size_t)n);
	CHECK(c.kind == CMD_REFRESH && c.time.tv_sec == 1717171717 && c.time.tv_nsec == 42);
	CHECK(c.seed_len == 64 && c.seed[0] == 5 && c.seed[1] == 42 && c.seed[63] == (unsigned char)(63 * 37 + 5));

	/* Any chunking of one stream yields the same commands, in order. */
	char stream[3 * CMD_LINE_MAX];
	n = snprintf(stream, sizeof stream, "stop\nrefresh 9999999999.999999999 %s\nbogus\n", seed);
	for (size_t chunk = 1; chunk <= (size_t)n; chunk += 7) {
		struct command got[4];
		CHECK(feed(stream, (size_t)n, chunk, got, 4) == 3);
		CHECK(got[0].kind == CMD_STOP);
		CHECK(got[1].kind == CMD_REFRESH && got[1].time.tv_sec == 9999999999LL && got[1].time.tv_nsec == 999999999);
		CHECK(got[2].kind == CMD_INVALID && strcmp(got[2].error, "unknown command") == 0);
	}

	/* Seed bounds: 32 and 128 bytes are accepted. */
	char as[2 * SEED_MAX_BYTES + 3];
	memset(as, 'a', sizeof as - 1);
	as[sizeof as - 1] = '\0';
	n = snprintf(line, sizeof line, "refresh 1.000000000 %.64s\n", as);
	CHECK(one(line, (size_t)n).kind == CMD_REFRESH && one(line, (size_t)n).seed_len == SEED_MIN_BYTES);
	n = snprintf(line, sizeof line, "refresh 1.000000000 %.256s\n", as);
	CHECK(one(line, (size_t)n).kind == CMD_REFRESH && one(line, (size_t)n).seed[127] == 0xaa);

	static const char *const unknown[] = { "\n", "STOP\n", "stop \n", "stop\r\n", " stop\n", "refresh\n", "refreshx\n", "time 1.000000000\n" };
	for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++)
		CHECK(rejected(unknown[i], strlen(unknown[i]), "unknown command"));

	static const char *const bad_time[] = {
		"", "1", "1.", ".000000000", "0.000000000", "01.000000000", "12345678901.000000000", "1.00000000",
		"1.0000000000", "-1.000000000", "+1.000000000", "1.00000000x", "1,000000000", "1.000000000.0",
	};
	for (size_t i = 0; i < sizeof bad_time / sizeof bad_time[0]; i++) {
		n = snprintf(line, sizeof line, "refresh %s %s\n", bad_time[i], seed);
		CHECK(rejected(line, (size_t)n, "malformed time"));
	}
	CHECK(rejected("refresh 1.000000000\n", 20, "malformed time")); /* no seed at all */

	char bad_seed[8][2 * SEED_MAX_BYTES + 8];
	snprintf(bad_seed[0], sizeof bad_seed[0], "%s", "");
	snprintf(bad_seed[1], sizeof bad_seed[1], "%.62s", as);   /* 31 bytes */
	snprintf(bad_seed[2], sizeof bad_seed[2], "%.258s", as);  /* 129 bytes */
	snprintf(bad_seed[3], sizeof bad_seed[3], "%.65s", as);   /* odd */
	snprintf(bad_seed[4], sizeof bad_seed[4], "%.63sA", as);  /* upper case */
	snprintf(bad_seed[5], sizeof bad_seed[5], "%.63sg", as);  /* not hex */
	snprintf(bad_seed[6], sizeof bad_seed[6], " %s", seed);   /* two spaces */
	snprintf(bad_seed[7], sizeof bad_seed[7], "%s ", seed);   /* trailing space */
	for (size_t i = 0; i < 8; i++) {
		n = snprintf(line, sizeof line, "refresh 1.000000000 %s\n", bad_seed[i]);
		CHECK(rejected(line, (size_t)n, "malformed seed"));
	}
	n = snprintf(line, sizeof line, "refresh 1.000000000 %s\n", seed);
	line[n - 10] = '\0'; /* a NUL inside the seed */
	CHECK(rejected(line, (size_t)n, "malformed seed"));

	/* An overlong line is dropped whole, however it is chunked, and the next line still parses. */
	char flood[4 * CMD_LINE_MAX];
	memset(flood, 's', sizeof flood);
	memcpy(flood + sizeof flood - 9, "\nstop\nst", 8); /* ends inside an unfinished line */
	for (size_t chunk = 1; chunk <= sizeof flood; chunk += 97) {
		struct command got[3];
		CHECK(feed(flood, sizeof flood - 1, chunk, got, 3) == 2);
		CHECK(got[0].kind == CMD_INVALID && strcmp(got[0].error, "line too long") == 0);
		CHECK(got[1].kind == CMD_STOP);
	}
	/* Exactly CMD_LINE_MAX bytes is still a line; one more is not. */
	char edge[CMD_LINE_MAX + 2];
	memset(edge, 'x', sizeof edge);
	edge[CMD_LINE_MAX] = '\n';
	CHECK(rejected(edge, CMD_LINE_MAX + 1, "unknown command"));
	edge[CMD_LINE_MAX] = 'x';
	edge[CMD_LINE_MAX + 1] = '\n';
	CHECK(rejected(edge, CMD_LINE_MAX + 2, "line too long"));
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: unit-tests FIXTURES_DIR\n");
		return 2;
	}
	snprintf(passwd, sizeof passwd, "%s/etc/passwd", argv[1]);
	snprintf(group, sizeof group, "%s/etc/group", argv[1]);
	test_params();
	test_user();
	test_contract();
	test_commands();
	printf("%d checks, %d failed\n", checks, failures);
	return failures ? 1 : 0;
}
