/* user.c: resolves WALK_USER (user, uid, user:group, uid:gid, ...) against the image's own
 * /etc/passwd and /etc/group, the way container runtimes do. The files are image content, so
 * they are read bounded and malformed lines are skipped, never trusted to be well formed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "walk_init.h"

#define DB_MAX_BYTES (4u << 20)

/* A numeric id: decimal digits only, below 2^32-1 (which is (uid_t)-1, "no id"). */
static int parse_id(const char *s, unsigned *out)
{
	if (!*s || strlen(s) > 10)
		return 0;
	unsigned long long v = 0;
	for (const char *c = s; *c; c++) {
		if (*c < '0' || *c > '9')
			return 0;
		v = v * 10 + (unsigned)(*c - '0');
	}
	if (v >= 0xffffffffull)
		return 0;
	*out = (unsigned)v;
	return 1;
}

/* Splits a line into at most max ':'-separated fields in place; returns the count. */
static int split_colon(char *line, char **f, int max)
{
	int n = 0;
	f[n++] = line;
	for (char *c = line; *c && n < max; c++)
		if (*c == ':') {
			*c = '\0';
			f[n++] = c + 1;
		}
	return n;
}

/* Loads a database file; a missing file is an empty database. */
static char *load_db(const char *path)
{
	char *buf;
	size_t len;
	if (read_file_bounded(path, DB_MAX_BYTES, &buf, &len) < 0)
		return NULL;
	return buf;
}

/* Calls fn for each line of the db with its fields; stops when fn returns non-zero. */
static int each_line(char *db, int nfields, int (*fn)(char **f, void *ctx), void *ctx)
{
	if (!db)
		return 0;
	char *save = NULL;
	for (char *line = strtok_r(db, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *f[8];
		if (line[0] == '#' || split_colon(line, f, nfields) != nfields)
			continue;
		int r = fn(f, ctx);
		if (r)
			return r;
	}
	return 0;
}

struct pw_query {
	const char *name; /* match by name, or */
	unsigned uid;     /* by uid when name is NULL */
	char name_out[256];
	unsigned uid_out, gid_out;
	char home[256];
};

static int pw_match(char **f, void *ctx)
{
	struct pw_query *q = ctx;
	unsigned uid, gid;
	if (!parse_id(f[2], &uid) || !parse_id(f[3], &gid))
		return 0;
	if (q->name ? strcmp(f[0], q->name) != 0 : uid != q->uid)
		return 0;
	snprintf(q->name_out, sizeof q->name_out, "%s", f[0]);
	q->uid_out = uid;
	q->gid_out = gid;
	snprintf(q->home, sizeof q->home, "%s", f[5][0] == '/' ? f[5] : "/");
	return 1;
}

struct gr_query {
	const char *name; /* the group to find by name, or NULL */
	unsigned gid_out;
	const char *member; /* collect every group listing this user, or NULL */
	struct walk_creds *cr;
	int overflow;
};

static int gr_match(char **f, void *ctx)
{
	struct gr_query *q = ctx;
	unsigned gid;
	if (!parse_id(f[2], &gid))
		return 0;
	if (q->name) {
		if (strcmp(f[0], q->name) != 0)
			return 0;
		q->gid_out = gid;
		return 1;
	}
	char *save = NULL;
	for (char *m = strtok_r(f[3], ",", &save); m; m = strtok_r(NULL, ",", &save)) {
		if (strcmp(m, q->member) != 0)
			continue;
		int dup = 0;
		for (size_t i = 0; i < q->cr->ngroups; i++)
			dup |= q->cr->groups[i] == gid;
		if (dup)
			break;
		if (q->cr->ngroups == MAX_GROUPS) {
			q->overflow = 1;
			return 1;
		}
		q->cr->groups[q->cr->ngroups++] = gid;
		break;
	}
	return 0;
}

enum walk_error user_resolve(const char *spec, const char *passwd_path, const char *group_path,
			     struct walk_creds *out, char *err)
{
	memset(out, 0, sizeof *out);
	strcpy(out->home, "/");
	char spec_buf[512];
	if (strlen(spec) >= sizeof spec_buf) {
		snprintf(err, WALK_ERRLEN, "WALK_USER is too long");
		return WERR_USER_INVALID;
	}
	strcpy(spec_buf, spec);
	char *user = spec_buf;
	char *group = strchr(spec_buf, ':');
	if (group)
		*group++ = '\0';
	if (!*user || (group && !*group) || (group && strchr(group, ':'))) {
		snprintf(err, WALK_ERRLEN, "WALK_USER \"%.64s\" is not user[:group]", spec);
		return WERR_USER_INVALID;
	}

	enum walk_error rc = WERR_NONE;
	char *pw = load_db(passwd_path);
	struct pw_query q = { 0 };
	unsigned id;
	int found;
	if (parse_id(user, &id)) {
		q.uid = id;
		found = each_line(pw, 7, pw_match, &q);
		out->uid = id;
		out->gid = found ? q.gid_out : 0;
	} else {
		q.name = user;
		found = each_line(pw, 7, pw_match, &q);
		if (!found) {
			snprintf(err, WALK_ERRLEN, "user \"%.64s\" is not in the image's /etc/passwd", user);
			rc = WERR_USER_UNKNOWN;
			goto done;
		}
		out->uid = q.uid_out;
		out->gid = q.gid_out;
	}
	if (found)
		strcpy(out->home, q.home);

	char *gr = NULL;
	if (group) {
		if (parse_id(group, &id)) {
			out->gid = id;
		} else {
			gr = load_db(group_path);
			struct gr_query g = { .name = group };
			if (!each_line(gr, 4, gr_match, &g)) {
				snprintf(err, WALK_ERRLEN, "group \"%.64s\" is not in the image's /etc/group", group);
				rc = WERR_GROUP_UNKNOWN;
				free(gr);
				goto done;
			}
			out->gid = g.gid_out;
			free(gr);
		}
	}
	if (found) {
		/* Supplementary groups: every group naming the user, as runc and Docker do. */
		gr = load_db(group_path);
		struct gr_query g = { .member = q.name_out, .cr = out };
		each_line(gr, 4, gr_match, &g);
		free(gr);
		if (g.overflow) {
			snprintf(err, WALK_ERRLEN, "user \"%.64s\" is in more than %d groups", q.name_out, MAX_GROUPS);
			rc = WERR_USER_INVALID;
		}
	}
done:
	free(pw);
	return rc;
}
