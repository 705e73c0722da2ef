/* unit: host-side tests of the init's pure parts: the walk.* parameter parser, user lookup
 * against fixture /etc files, and contract decoding cases the golden files do not cover.
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
	printf("%d checks, %d failed\n", checks, failures);
	return failures ? 1 : 0;
}
