/* command.c: the host's commands on the agent channel (docs/guest-contract.md, "Host commands"):
 * cutting the byte stream into lines of at most CMD_LINE_MAX bytes and parsing each line
 * strictly. Pure (no I/O), so the host unit tests reach every malformed input. A longer line is
 * dropped whole and reported once it ends: nothing the host sends can overflow a buffer, and a
 * line's tail is never read as a command of its own. */
#include <string.h>
#include "walk_init.h"

static int is_digit(char c) { return c >= '0' && c <= '9'; }

static int hex_value(char c)
{
	if (is_digit(c))
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1; /* upper case too: one spelling per value */
}

/* <seconds>.<nanoseconds>: 1 to 10 digits without a leading zero, a dot, exactly 9 digits. */
static int parse_time(const char *s, size_t len, struct timespec *out)
{
	const char *dot = memchr(s, '.', len);
	if (!dot)
		return -1;
	size_t ns = (size_t)(dot - s);
	if (ns == 0 || ns > 10 || s[0] == '0' || len - ns - 1 != 9)
		return -1;
	long long sec = 0;
	for (size_t i = 0; i < ns; i++) {
		if (!is_digit(s[i]))
			return -1;
		sec = sec * 10 + (s[i] - '0');
	}
	long nsec = 0;
	for (const char *p = dot + 1; p < s + len; p++) {
		if (!is_digit(*p))
			return -1;
		nsec = nsec * 10 + (*p - '0');
	}
	out->tv_sec = (time_t)sec;
	out->tv_nsec = nsec;
	return 0;
}

/* Lower-case hex, an even number of digits, SEED_MIN_BYTES to SEED_MAX_BYTES bytes. */
static int parse_seed(const char *s, size_t len, struct command *out)
{
	if (len % 2 != 0 || len < 2 * SEED_MIN_BYTES || len > 2 * SEED_MAX_BYTES)
		return -1;
	for (size_t i = 0; i < len; i += 2) {
		int hi = hex_value(s[i]), lo = hex_value(s[i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out->seed[i / 2] = (unsigned char)(hi << 4 | lo);
	}
	out->seed_len = len / 2;
	return 0;
}

static void parse_line(const char *line, size_t len, struct command *out)
{
	static const char refresh[] = "refresh ";
	const size_t rlen = sizeof refresh - 1;
	if (len == 4 && memcmp(line, "stop", 4) == 0) {
		out->kind = CMD_STOP;
		return;
	}
	out->kind = CMD_INVALID;
	if (len < rlen || memcmp(line, refresh, rlen) != 0) {
		out->error = "unknown command";
		return;
	}
	const char *t = line + rlen, *end = line + len;
	const char *space = memchr(t, ' ', (size_t)(end - t));
	if (!space || parse_time(t, (size_t)(space - t), &out->time) < 0) {
		out->error = "malformed time";
		return;
	}
	if (parse_seed(space + 1, (size_t)(end - space - 1), out) < 0) {
		out->error = "malformed seed";
		return;
	}
	out->kind = CMD_REFRESH;
}

size_t command_next(struct cmd_reader *r, const char *data, size_t n, struct command *out)
{
	out->kind = CMD_NONE;
	const char *nl = memchr(data, '\n', n);
	size_t part = nl ? (size_t)(nl - data) : n;
	if (!r->overflow && r->len + part <= CMD_LINE_MAX) {
		memcpy(r->line + r->len, data, part);
		r->len += part;
	} else {
		r->overflow = 1;
	}
	if (!nl)
		return n;
	if (r->overflow) {
		out->kind = CMD_INVALID;
		out->error = "line too long";
	} else {
		parse_line(r->line, r->len, out);
	}
	memset(r->line, 0, r->len); /* a seed does not linger in PID 1's memory */
	r->len = 0;
	r->overflow = 0;
	return part + 1;
}
