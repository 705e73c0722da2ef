/* contract.c: decodes /walk/argv and /walk/env (docs/guest-contract.md, format v1).
 * Pure functions over a buffer: no I/O, so the host tests them against the golden files.
 * Everything the host could get wrong is refused here, never guessed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "walk_init.h"

static const char ARGV_MAGIC[] = "walk-argv-v1";
static const char ENV_MAGIC[] = "walk-env-v1";

/* Splits buf into NUL-terminated fields after checking magic, termination and limits.
 * On success *fields has n+1 slots (NULL-terminated) and excludes the magic field. */
static int split_fields(char *buf, size_t len, const char *magic, const char *what,
			char ***fields, size_t *n, char *err)
{
	if (len > CONTRACT_MAX_BYTES) {
		snprintf(err, WALK_ERRLEN, "%s is larger than %u bytes", what, CONTRACT_MAX_BYTES);
		return -1;
	}
	if (len == 0 || buf[len - 1] != '\0') {
		snprintf(err, WALK_ERRLEN, "%s does not end with a NUL byte (truncated or not format v1)", what);
		return -1;
	}
	size_t count = 0;
	for (size_t i = 0; i < len; i++)
		if (buf[i] == '\0')
			count++;
	if (strcmp(buf, magic) != 0) {
		snprintf(err, WALK_ERRLEN, "%s does not start with the field \"%s\" (unknown format or version)",
			 what, magic);
		return -1;
	}
	count--; /* the magic */
	if (count > CONTRACT_MAX_FIELDS) {
		snprintf(err, WALK_ERRLEN, "%s has more than %u fields", what, CONTRACT_MAX_FIELDS);
		return -1;
	}
	/* +1 for the NULL, +2 spare slots for the defaults env_append adds (PATH, HOME). */
	char **v = calloc(count + 3, sizeof *v);
	if (!v) {
		snprintf(err, WALK_ERRLEN, "out of memory decoding %s", what);
		return -1;
	}
	char *p = buf + strlen(buf) + 1;
	for (size_t i = 0; i < count; i++) {
		v[i] = p;
		p += strlen(p) + 1;
	}
	*fields = v;
	*n = count;
	return 0;
}

int contract_decode_argv(char *buf, size_t len, struct strvec *out, char *err)
{
	char **v;
	size_t n;
	if (split_fields(buf, len, ARGV_MAGIC, "/walk/argv", &v, &n, err) < 0)
		return -1;
	if (n == 0 || v[0][0] == '\0') {
		snprintf(err, WALK_ERRLEN, "/walk/argv has no command (argv[0] is missing or empty)");
		free(v);
		return -1;
	}
	out->v = v;
	out->n = n;
	return 0;
}

static int key_cmp(const void *a, const void *b)
{
	const char *x = *(const char *const *)a, *y = *(const char *const *)b;
	size_t lx = strcspn(x, "="), ly = strcspn(y, "=");
	int c = memcmp(x, y, lx < ly ? lx : ly);
	return c ? c : (lx > ly) - (lx < ly);
}

static int has_key(const char *entry, const char *key)
{
	size_t k = strlen(key);
	return strncmp(entry, key, k) == 0 && entry[k] == '=';
}

int contract_decode_env(char *buf, size_t len, struct walk_config *cfg, char *err)
{
	char **v;
	size_t n;
	if (split_fields(buf, len, ENV_MAGIC, "/walk/env", &v, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		const char *eq = strchr(v[i], '=');
		if (!eq || eq == v[i]) {
			snprintf(err, WALK_ERRLEN, "/walk/env entry %zu is not KEY=VALUE with a non-empty KEY", i + 1);
			free(v);
			return -1;
		}
	}
	char **sorted = malloc((n + 1) * sizeof *sorted);
	if (!sorted) {
		snprintf(err, WALK_ERRLEN, "out of memory decoding /walk/env");
		free(v);
		return -1;
	}
	memcpy(sorted, v, n * sizeof *sorted);
	qsort(sorted, n, sizeof *sorted, key_cmp);
	for (size_t i = 1; i < n; i++) {
		if (key_cmp(&sorted[i - 1], &sorted[i]) == 0) {
			snprintf(err, WALK_ERRLEN, "/walk/env has the key %.*s twice",
				 (int)strcspn(sorted[i], "="), sorted[i]);
			free(sorted);
			free(v);
			return -1;
		}
	}
	free(sorted);

	cfg->workdir = "/";
	cfg->user = "0:0";
	cfg->user_given = 0;
	cfg->home_given = 0;
	cfg->path = NULL;
	size_t kept = 0;
	for (size_t i = 0; i < n; i++) {
		if (has_key(v[i], "WALK_WORKDIR")) {
			cfg->workdir = v[i] + sizeof "WALK_WORKDIR";
			continue;
		}
		if (has_key(v[i], "WALK_USER")) {
			cfg->user = v[i] + sizeof "WALK_USER";
			cfg->user_given = 1;
			continue;
		}
		if (has_key(v[i], "PATH"))
			cfg->path = v[i] + sizeof "PATH";
		if (has_key(v[i], "HOME"))
			cfg->home_given = 1;
		v[kept++] = v[i];
	}
	v[kept] = NULL;
	if (cfg->workdir[0] != '/') {
		snprintf(err, WALK_ERRLEN, "WALK_WORKDIR is not an absolute path");
		free(v);
		return -1;
	}
	cfg->env.v = v;
	cfg->env.n = kept;
	return 0;
}

/* Appends a default entry (PATH or HOME) into one of the spare slots split_fields reserved. */
void env_append(struct walk_config *cfg, char *entry)
{
	cfg->env.v[cfg->env.n++] = entry;
	cfg->env.v[cfg->env.n] = NULL;
}
