/* cmdline.c: parses and strictly validates the walk.* kernel command-line parameters.
 * The host generates them (never from free-form user input); anything unexpected is a host bug,
 * so an unknown key, a duplicate or a malformed value is refused rather than ignored. */
#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include "walk_init.h"

/* Parses a decimal in [min,max] with no sign, no leading zeros and nothing after it. */
static int parse_uint(const char *s, size_t len, long min, long max, long *out)
{
	if (len == 0 || len > 9 || (len > 1 && s[0] == '0'))
		return -1;
	long v = 0;
	for (size_t i = 0; i < len; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	if (v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* Dotted quad, four decimal octets, nothing else. */
static int parse_ipv4(const char *s, size_t len, struct in_addr *out)
{
	unsigned char b[4];
	size_t i = 0;
	for (int k = 0; k < 4; k++) {
		size_t start = i;
		while (i < len && s[i] != '.')
			i++;
		long v;
		if (parse_uint(s + start, i - start, 0, 255, &v) < 0)
			return -1;
		b[k] = (unsigned char)v;
		if (k < 3) {
			if (i >= len)
				return -1;
			i++; /* the dot */
		}
	}
	if (i != len)
		return -1;
	memcpy(&out->s_addr, b, 4);
	return 0;
}

/* One DNS label (RFC 1123): 1-63 of [a-z0-9-], not starting or ending with '-'. Lower case only,
 * so the guest's hostname has exactly one spelling. */
static int valid_label(const char *s, size_t len)
{
	if (len == 0 || len > 63 || s[0] == '-' || s[len - 1] == '-')
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '-'))
			return 0;
	return 1;
}

enum { P_IP, P_GW, P_DNS, P_MTU, P_HOSTNAME, P_GRACE, P_STOPSIG, P_AGENT, P_COUNT };
static const char *const names[P_COUNT] = { "ip", "gw", "dns", "mtu", "hostname", "grace", "stopsig", "agent" };

static int parse_one(struct walk_params *p, int which, const char *v, size_t len)
{
	long n;
	switch (which) {
	case P_IP: {
		const char *slash = memchr(v, '/', len);
		if (!slash || parse_ipv4(v, (size_t)(slash - v), &p->ip) < 0)
			return -1;
		if (parse_uint(slash + 1, len - (size_t)(slash + 1 - v), 1, 32, &n) < 0)
			return -1;
		p->prefix = (int)n;
		p->has_ip = 1;
		return 0;
	}
	case P_GW:
		p->has_gw = 1;
		return parse_ipv4(v, len, &p->gw);
	case P_DNS: {
		size_t i = 0;
		while (i <= len) {
			size_t start = i;
			while (i < len && v[i] != ',')
				i++;
			if (p->ndns == MAX_DNS || parse_ipv4(v + start, i - start, &p->dns[p->ndns]) < 0)
				return -1;
			p->ndns++;
			i++;
		}
		return 0;
	}
	case P_MTU:
		if (parse_uint(v, len, 68, 65535, &n) < 0)
			return -1;
		p->mtu = (int)n;
		return 0;
	case P_HOSTNAME:
		if (!valid_label(v, len))
			return -1;
		memcpy(p->hostname, v, len);
		p->hostname[len] = '\0';
		return 0;
	case P_GRACE:
		if (parse_uint(v, len, 0, 3600, &n) < 0)
			return -1;
		p->grace_s = (int)n;
		return 0;
	case P_STOPSIG:
		if (parse_uint(v, len, 1, 31, &n) < 0 || n == SIGKILL || n == SIGSTOP)
			return -1;
		p->stopsig = (int)n;
		return 0;
	case P_AGENT:
		if (len == strlen("virtio-console") && memcmp(v, "virtio-console", len) == 0) {
			p->agent = AGENT_VIRTIO_CONSOLE;
			return 0;
		}
		return -1;
	}
	return -1;
}

int params_parse(const char *cmdline, struct walk_params *p, char *err)
{
	memset(p, 0, sizeof *p);
	strcpy(p->hostname, "walk");
	p->grace_s = 10;
	p->stopsig = SIGTERM;
	int seen[P_COUNT] = { 0 };

	const char *s = cmdline;
	while (*s) {
		while (*s == ' ' || *s == '\t' || *s == '\n')
			s++;
		const char *tok = s;
		while (*s && *s != ' ' && *s != '\t' && *s != '\n')
			s++;
		size_t len = (size_t)(s - tok);
		if (len < 5 || memcmp(tok, "walk.", 5) != 0)
			continue;
		const char *key = tok + 5;
		const char *eq = memchr(key, '=', len - 5);
		size_t klen = eq ? (size_t)(eq - key) : len - 5;
		int which = -1;
		for (int i = 0; i < P_COUNT; i++)
			if (strlen(names[i]) == klen && memcmp(names[i], key, klen) == 0)
				which = i;
		if (which < 0) {
			snprintf(err, WALK_ERRLEN, "unknown kernel parameter walk.%.*s", (int)klen, key);
			return -1;
		}
		if (!eq) {
			snprintf(err, WALK_ERRLEN, "kernel parameter walk.%s has no value", names[which]);
			return -1;
		}
		if (seen[which]++) {
			snprintf(err, WALK_ERRLEN, "kernel parameter walk.%s is given twice", names[which]);
			return -1;
		}
		const char *val = eq + 1;
		if (parse_one(p, which, val, (size_t)(tok + len - val)) < 0) {
			snprintf(err, WALK_ERRLEN, "kernel parameter walk.%s has an invalid value", names[which]);
			return -1;
		}
	}
	if (p->has_gw && !p->has_ip) {
		snprintf(err, WALK_ERRLEN, "kernel parameter walk.gw needs walk.ip");
		return -1;
	}
	if (p->has_gw) {
		uint32_t mask = p->prefix == 0 ? 0 : htonl(~0u << (32 - p->prefix));
		if ((p->gw.s_addr & mask) != (p->ip.s_addr & mask)) {
			snprintf(err, WALK_ERRLEN, "kernel parameter walk.gw is outside the walk.ip subnet");
			return -1;
		}
	}
	return 0;
}
