/*
 * trove_tool.c - command line front end to backends/trove_codec.c, for
 * the interoperability test against the openssl and gzip tools:
 *
 *     trove_tool enc md5|sha256|pbkdf2 PASSFILE [LEVEL] < plain > backup
 *     trove_tool dec PASSFILE < backup > plain
 *
 * The passphrase is the first line of PASSFILE without its newline, as
 * "openssl enc -pass file:PASSFILE" reads it. Exit 0 on success; 1 with
 * one message naming the errno (e.g. EKEYREJECTED) on failure, 2 on bad
 * usage. Single-threaded.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "../../backends/trove_codec.h"

#define TOOL_CHUNK (64 * 1024)

static void usage(void)
{
	fprintf(stderr,
		"usage: trove_tool enc md5|sha256|pbkdf2 PASSFILE [LEVEL] < in > out\n"
		"       trove_tool dec PASSFILE < in > out\n");
}

static void report(const char *what, int err)
{
	const char *name = strerrorname_np(-err);

	fprintf(stderr, "trove_tool: %s: %s (%s)\n", what,
		name ? name : "unknown error", strerror(-err));
}

/*
 * Reads the first line of @path, without its newline, into *@out: the
 * caller wipes its *@len + 1 bytes and frees it.
 */
static int read_pass(const char *path, char **out, size_t *len)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	FILE *f;

	f = fopen(path, "r");
	if (!f)
		return -errno;
	n = getline(&line, &cap, f);
	if (n < 0 && ferror(f)) {
		fclose(f);
		free(line);
		return -EIO;
	}
	fclose(f);
	if (!line) {
		/* an empty file is an empty passphrase */
		line = calloc(1, 1);
		if (!line)
			return -ENOMEM;
	}
	if (n < 0)
		line[0] = '\0';
	*len = strcspn(line, "\n");
	line[*len] = '\0';
	*out = line;
	return 0;
}

static int sink_stdout(void *arg, const void *data, size_t len)
{
	(void)arg;
	if (fwrite(data, 1, len, stdout) != len)
		return -EIO;
	return 0;
}

static int parse_kdf(const char *s, enum trove_kdf *kdf)
{
	if (strcmp(s, "md5") == 0)
		*kdf = TROVE_KDF_MD5;
	else if (strcmp(s, "sha256") == 0)
		*kdf = TROVE_KDF_SHA256;
	else if (strcmp(s, "pbkdf2") == 0)
		*kdf = TROVE_KDF_PBKDF2;
	else
		return -EINVAL;
	return 0;
}

static int parse_level(const char *s, int *level)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 1 || v > 9)
		return -EINVAL;
	*level = (int)v;
	return 0;
}

/* Streams stdin through the encoder @e or, if it is NULL, the decoder @d. */
static int run_codec(struct trove_enc *e, struct trove_dec *d,
		     unsigned char *buf)
{
	size_t n;
	int err = 0;

	while (!err) {
		n = fread(buf, 1, TOOL_CHUNK, stdin);
		if (!n)
			break;
		if (e)
			err = trove_enc_write(e, buf, n, sink_stdout, NULL);
		else
			err = trove_dec_write(d, buf, n, sink_stdout, NULL);
	}
	if (!err && ferror(stdin))
		err = -EIO;
	if (!err && e)
		err = trove_enc_finish(e, sink_stdout, NULL);
	else if (!err)
		err = trove_dec_finish(d, sink_stdout, NULL);
	return err;
}

static int run_enc(const char *pass, size_t pass_len, enum trove_kdf kdf,
		   int level, unsigned char *buf)
{
	struct trove_enc *e;
	int err;

	err = trove_enc_new(pass, pass_len, kdf, NULL, level, &e);
	if (err)
		return err;
	err = run_codec(e, NULL, buf);
	trove_enc_free(e);
	return err;
}

static int run_dec(const char *pass, size_t pass_len, unsigned char *buf)
{
	struct trove_dec *d;
	int err;

	err = trove_dec_new(pass, pass_len, &d);
	if (err)
		return err;
	err = run_codec(NULL, d, buf);
	trove_dec_free(d);
	return err;
}

int main(int argc, char **argv)
{
	enum trove_kdf kdf = TROVE_KDF_SHA256;
	const char *passfile;
	unsigned char *buf;
	size_t pass_len = 0;
	int level = 6;
	char *pass = NULL;
	bool enc;
	int err;

	if (argc >= 4 && argc <= 5 && strcmp(argv[1], "enc") == 0) {
		enc = true;
		passfile = argv[3];
		if (parse_kdf(argv[2], &kdf) ||
		    (argc == 5 && parse_level(argv[4], &level))) {
			usage();
			return 2;
		}
	} else if (argc == 3 && strcmp(argv[1], "dec") == 0) {
		enc = false;
		passfile = argv[2];
	} else {
		usage();
		return 2;
	}

	err = read_pass(passfile, &pass, &pass_len);
	if (err) {
		fprintf(stderr, "trove_tool: cannot read '%s': %s\n", passfile,
			strerror(-err));
		return 1;
	}
	buf = malloc(TOOL_CHUNK);
	if (!buf) {
		err = -ENOMEM;
		goto out_wipe;
	}
	if (enc)
		err = run_enc(pass, pass_len, kdf, level, buf);
	else
		err = run_dec(pass, pass_len, buf);
	free(buf);
	if (!err && fflush(stdout) != 0)
		err = -EIO;
out_wipe:
	OPENSSL_cleanse(pass, pass_len + 1);
	free(pass);
	if (err) {
		report(enc ? "enc" : "dec", err);
		return 1;
	}
	return 0;
}
