/* decode_tool: decodes one contract file with the init's own decoder and prints what it decoded
 * as JSON in the golden files' shape (base64 strings), so node:test compares it to
 * test/golden/contract/NAME.json. Usage: decode-tool argv|env FILE. Exit 1 with the init's error
 * message on stderr when the file is refused. */
#include <stdio.h>
#include <string.h>
#include "../walk_init.h"

static void b64(const char *s, size_t n)
{
	static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *u = (const unsigned char *)s;
	putchar('"');
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)u[i] << 16 | (i + 1 < n ? (unsigned)u[i + 1] << 8 : 0) | (i + 2 < n ? u[i + 2] : 0);
		putchar(t[v >> 18 & 63]);
		putchar(t[v >> 12 & 63]);
		putchar(i + 1 < n ? t[v >> 6 & 63] : '=');
		putchar(i + 2 < n ? t[v & 63] : '=');
	}
	putchar('"');
}

int main(int argc, char **argv)
{
	if (argc != 3 || (strcmp(argv[1], "argv") && strcmp(argv[1], "env"))) {
		fprintf(stderr, "usage: decode-tool argv|env FILE\n");
		return 2;
	}
	char *buf, err[WALK_ERRLEN];
	size_t len;
	if (read_file_bounded(argv[2], CONTRACT_MAX_BYTES, &buf, &len) < 0) {
		perror(argv[2]);
		return 2;
	}
	if (strcmp(argv[1], "argv") == 0) {
		struct strvec v;
		if (contract_decode_argv(buf, len, &v, err) < 0) {
			fprintf(stderr, "%s\n", err);
			return 1;
		}
		printf("{\"argv_b64\":[");
		for (size_t i = 0; i < v.n; i++) {
			if (i)
				putchar(',');
			b64(v.v[i], strlen(v.v[i]));
		}
		printf("]}\n");
		return 0;
	}
	struct walk_config cfg;
	if (contract_decode_env(buf, len, &cfg, err) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	printf("{\"env_b64\":[");
	for (size_t i = 0; i < cfg.env.n; i++) {
		const char *e = cfg.env.v[i];
		size_t k = strcspn(e, "=");
		printf(i ? ",[" : "[");
		b64(e, k);
		putchar(',');
		b64(e + k + 1, strlen(e + k + 1));
		putchar(']');
	}
	printf("],\"workdir_b64\":");
	b64(cfg.workdir, strlen(cfg.workdir));
	printf(",\"user_b64\":");
	b64(cfg.user, strlen(cfg.user));
	printf("}\n");
	return 0;
}
