/*
 * barged mirror-config: writes the container runtime configuration that
 * makes nodes pull through barged (swap/mirrorcfg.h).  Owns the command
 * line and the settings it makes: barged.yaml, then the flags.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "config.h"
#include "log.h"
#include "mirrorcfg.h"

static void
mirror_usage(FILE *f)
{
	fprintf(f,
	        "usage: barged mirror-config --runtime containerd|crio --output-dir DIR\n"
	        "                            [--config FILE]\n"
	        "                            [--endpoint HOST:PORT] [--registry NAME[=SERVER]]...\n"
	        "                            [--data-dir DIR] [--ca FILE] [--project P]\n"
	        "\n"
	        "Writes container runtime configuration that pulls through barged first and\n"
	        "falls back to the upstream registry.\n"
	        "\n"
	        "  --runtime R            containerd: DIR/certs.d/<registry>/hosts.toml and\n"
	        "                         DIR/certs.d/<endpoint>/hosts.toml (trust for swapped\n"
	        "                         references)\n"
	        "                         (DIR is /etc/containerd; point the CRI plugin's\n"
	        "                         registry.config_path at DIR/certs.d);\n"
	        "                         crio: DIR/registries.conf.d/50-barge.conf and\n"
	        "                         DIR/certs.d/<endpoint>/ca.crt (DIR is /etc/containers)\n"
	        "  --output-dir DIR       where to write\n"
	        "  --config FILE          read settings from FILE (default %s, if present)\n"
	        "  --endpoint HOST:PORT   barged's registry as nodes reach it\n"
	        "                         (default: webhook.advertise, 127.0.0.1:30003)\n"
	        "  --registry NAME        an upstream registry to mirror (repeatable; default\n"
	        "                         docker.io, ghcr.io, quay.io, registry.k8s.io);\n"
	        "                         NAME=SERVER also sets the upstream server URL\n"
	        "  --data-dir DIR         barged's data directory, holding ca.crt\n"
	        "  --ca FILE              the CA file containerd is told to trust\n"
	        "                         (default DATA_DIR/ca.crt, as a path on the node)\n"
	        "  --project P            first path segment of barged's repositories\n",
	        CONFIG_DEFAULT_PATH);
}

/* Reads the flags into o; -1 to go on, else the exit status. */
static int
mirror_args(int argc, char **argv, const char **cfg, struct mirrorcfg_opts *o, const char **regargs)
{
	static const struct option longopts[] = {
		{ "runtime", required_argument, NULL, 'r' },
		{ "output-dir", required_argument, NULL, 'O' },
		{ "output", required_argument, NULL, 'o' },
		{ "config", required_argument, NULL, 'c' },
		{ "endpoint", required_argument, NULL, 'e' },
		{ "registry", required_argument, NULL, 'R' },
		{ "data-dir", required_argument, NULL, 'd' },
		{ "ca", required_argument, NULL, 'C' },
		{ "project", required_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *runtime = NULL;
	enum outfmt fmt;
	int ch;

	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "ho:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'r':
			runtime = optarg;
			break;
		case 'o':
			/* Only text: -o is here to say where a directory goes now. */
			if (cmd_parse_output("mirror-config", optarg, OUTFMT_TEXT,
			                     "the configuration into a directory", "--output-dir",
			                     &fmt) != EXIT_SUCCESS)
				return EXIT_USAGE;
			break;
		case 'O':
			o->out = optarg;
			break;
		case 'c':
			*cfg = optarg;
			break;
		case 'e':
			o->endpoint = optarg;
			break;
		case 'R':
			if (o->nregistries == MIRRORCFG_REGISTRIES_MAX) {
				log_error("barged mirror-config: at most %d --registry",
				          MIRRORCFG_REGISTRIES_MAX);
				return EXIT_USAGE;
			}
			regargs[o->nregistries++] = optarg;
			break;
		case 'd':
			o->data_dir = optarg;
			break;
		case 'C':
			o->ca = optarg;
			break;
		case 'P':
			o->project = optarg;
			break;
		case 'h':
			mirror_usage(stdout);
			return EXIT_SUCCESS;
		default:
			log_error("barged mirror-config: bad option '%s'", argv[optind - 1]);
			mirror_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc || runtime == NULL || o->out == NULL ||
	    (strcmp(runtime, "containerd") != 0 && strcmp(runtime, "crio") != 0)) {
		if (optind != argc)
			log_error("barged mirror-config: unexpected argument '%s'", argv[optind]);
		else
			log_error(
			        "barged mirror-config: --runtime containerd|crio and --output-dir "
			        "DIR are required");
		mirror_usage(stderr);
		return EXIT_USAGE;
	}
	o->runtime = strcmp(runtime, "crio") == 0 ? MIRRORCFG_CRIO : MIRRORCFG_CONTAINERD;
	return -1;
}

int
cmd_mirror_config(int argc, char **argv)
{
	const char *cfg = NULL, *regargs[MIRRORCFG_REGISTRIES_MAX];
	struct mirrorcfg_opts o = { .registries = regargs };
	struct config c = { 0 };
	struct barge_err err = { 0 };
	int status;

	if ((status = mirror_args(argc, argv, &cfg, &o, regargs)) >= 0)
		return status;
	if ((status = cmd_config_load("mirror-config", cfg, &c)) != EXIT_SUCCESS)
		goto out;
	if (o.endpoint == NULL)
		o.endpoint = c.webhook.advertise;
	if (o.data_dir == NULL)
		o.data_dir = c.data_dir;
	if (o.project == NULL)
		o.project = c.project;
	status = EXIT_USAGE;
	if (mirrorcfg_check(&o, &err) != BARGE_OK) {
		log_error("barged mirror-config: %s", err.msg);
		goto out;
	}
	status = EXIT_FAILURE;
	if (mirrorcfg_write(&o, stdout, &err) != BARGE_OK) {
		log_error("barged mirror-config: %s", err.msg);
		goto out;
	}
	status = EXIT_SUCCESS;
out:
	config_free(&c);
	return status;
}
