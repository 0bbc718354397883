/*
 * barged passwd: sets the admin password (auth.h): writes the file that
 * barged.yaml names (auth.admin_password_file, else DATA_DIR/admin.password)
 * atomically with mode 0600.  The new password comes from standard input,
 * from a prompt without echo on a terminal, or is generated and printed
 * once.  A running barged takes it on SIGHUP.  Owns the password read
 * until it is written, wiped before it is freed.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "auth.h"
#include "cmd.h"
#include "config.h"
#include "log.h"

static void
passwd_usage(FILE *f)
{
	fprintf(f,
	        "usage: barged passwd [--generate] [--config FILE] [--data-dir DIR]\n"
	        "                     [--admin-password-file FILE]\n"
	        "\n"
	        "Sets the admin password: reads it from standard input (one line), or\n"
	        "asks for it twice without echo on a terminal, and writes it to the\n"
	        "password file with mode 0600.  A running barged serve uses it from its\n"
	        "next admin login or request (or at SIGHUP: kill -HUP, systemctl reload\n"
	        "barged); the old one stops working, and the admin API's sessions end.\n"
	        "\n"
	        "  --generate                   a random password, printed once on stdout\n"
	        "  --config FILE                configuration (default %s)\n"
	        "  --data-dir DIR               write DIR/admin.password (when the\n"
	        "                               configuration names no password file)\n"
	        "  --admin-password-file FILE   write FILE instead\n",
	        CONFIG_DEFAULT_PATH);
}

/*
 * Reads one password from fd into buf (room for AUTH_PASSWORD_MAX + 2
 * bytes): everything up to end of file, less one trailing newline.
 * Returns its length, or -1 on a read error.
 */
static ssize_t
passwd_read(int fd, char *buf, size_t room)
{
	size_t n = 0;
	ssize_t r;

	while (n < room - 1) {
		r = read(fd, buf + n, room - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		n += (size_t)r;
		/* A terminal gives one line per read: the first line is the answer. */
		if (isatty(fd) && memchr(buf, '\n', n) != NULL)
			break;
	}
	/* A full buffer is kept whole: too long, auth_password_set refuses it. */
	if (n < room - 1 && n > 0 && buf[n - 1] == '\n')
		n--;
	if (n < room - 1 && n > 0 && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	return (ssize_t)n;
}

/* Asks on the terminal, without echo; returns the length or -1. */
static ssize_t
passwd_prompt(const char *question, char *buf, size_t room)
{
	struct termios old, quiet;
	ssize_t n;

	fprintf(stderr, "%s", question);
	fflush(stderr);
	if (tcgetattr(STDIN_FILENO, &old) != 0)
		return -1;
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	quiet.c_lflag |= ECHONL;
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) != 0)
		return -1;
	n = passwd_read(STDIN_FILENO, buf, room);
	(void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
	return n;
}

/* The new password into pw (room for AUTH_PASSWORD_MAX + 2); its length, or -1 when logged. */
static ssize_t
passwd_ask(char *pw, size_t room)
{
	char again[AUTH_PASSWORD_MAX + 2];
	ssize_t n, m;

	if (!isatty(STDIN_FILENO)) {
		if ((n = passwd_read(STDIN_FILENO, pw, room)) < 0)
			log_error("barged passwd: reading standard input: %s", strerror(errno));
		return n;
	}
	if ((n = passwd_prompt("New admin password: ", pw, room)) < 0 ||
	    (m = passwd_prompt("Again: ", again, sizeof(again))) < 0) {
		log_error("barged passwd: reading the terminal: %s", strerror(errno));
		return -1;
	}
	if (m != n || memcmp(pw, again, (size_t)n) != 0) {
		log_error("barged passwd: the two passwords differ; nothing written");
		n = -1;
	}
	explicit_bzero(again, sizeof(again));
	return n;
}

int
cmd_passwd(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "generate", no_argument, NULL, 'g' },
		{ "config", required_argument, NULL, 'c' },
		{ "data-dir", required_argument, NULL, 'd' },
		{ "admin-password-file", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config_path = NULL, *data_dir = NULL, *file = NULL;
	struct barge_err err = { 0 };
	struct config c = { 0 };
	char pw[AUTH_PASSWORD_MAX + 2], *path = NULL, *gen = NULL;
	int o, generate = 0, status = EXIT_FAILURE;
	ssize_t n;

	optind = 1;
	opterr = 0;
	while ((o = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (o) {
		case 'g':
			generate = 1;
			break;
		case 'c':
			config_path = optarg;
			break;
		case 'd':
			data_dir = optarg;
			break;
		case 'f':
			file = optarg;
			break;
		case 'h':
			passwd_usage(stdout);
			return EXIT_SUCCESS;
		default:
			log_error("barged passwd: bad option '%s'", argv[optind - 1]);
			passwd_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		log_error("barged passwd: unexpected argument '%s'", argv[optind]);
		passwd_usage(stderr);
		return EXIT_USAGE;
	}
	if (cmd_config_load("passwd", config_path, &c) != EXIT_SUCCESS)
		goto out;
	path = auth_password_file(data_dir != NULL ? data_dir : c.data_dir,
	                          file != NULL ? file : c.auth.admin_password_file);
	if (path == NULL) {
		log_error("barged passwd: out of memory");
		goto out;
	}
	if (generate) {
		if (auth_password_generate(path, &gen, &err) != BARGE_OK) {
			log_error("barged passwd: %s", err.msg);
			goto out;
		}
		printf("%s\n", gen);
		explicit_bzero(gen, strlen(gen));
		free(gen);
	} else {
		if ((n = passwd_ask(pw, sizeof(pw))) < 0)
			goto out;
		o = auth_password_set(path, pw, (size_t)n, &err);
		explicit_bzero(pw, sizeof(pw));
		if (o != BARGE_OK) {
			log_error("barged passwd: %s: %s", path, err.msg);
			goto out;
		}
	}
	/* The path only: the password itself is never logged. */
	log_info("barged passwd: wrote the admin password to %s; a running barged serve uses it "
	         "from its next admin request (or at SIGHUP, systemctl reload barged)",
	         path);
	status = EXIT_SUCCESS;
out:
	free(path);
	config_free(&c);
	return status;
}
