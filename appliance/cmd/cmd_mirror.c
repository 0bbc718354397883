/*
 * barged mirror-config: container runtime configuration that makes nodes
 * pull through barged whatever the pod spec says (DESIGN §9, §10).
 *
 *   --runtime containerd  DIR/certs.d/<registry>/hosts.toml, and
 *                         DIR/certs.d/<endpoint>/hosts.toml trusting barged's
 *                         CA for the references the webhook swapped
 *   --runtime crio        DIR/registries.conf.d/50-barge.conf, and the CA
 *                         in DIR/certs.d/<endpoint>/ca.crt
 *
 * DIR is the runtime's configuration directory (/etc/containerd,
 * /etc/containers).  containerd mirrors use the ?ns= form: the host entry is
 * the endpoint itself and containerd names the upstream registry in each
 * request's ns parameter, which barged maps to <project>/<registry>/<path>.
 * CRI-O and podman know no such parameter, so their mirror location carries
 * the project path: ENDPOINT/<project>/<registry>.  In both, the upstream
 * stays configured after the mirror, so an image barged does not hold is
 * still pulled from its registry when the node is online.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "config.h"
#include "fileutil.h"
#include "ref.h"

#define MIRROR_REGISTRIES_MAX 64

/* One upstream registry: its name in references and the server to fall back to. */
struct mirror_reg {
	char *host;   /* normalised: "docker.io", "registry.local:5000" */
	char *server; /* "https://registry-1.docker.io" */
	char *local;  /* "edge/docker.io": where barged keeps its repositories */
};

static const char *const mirror_default_regs[] = { "docker.io", "ghcr.io", "quay.io",
	                                           "registry.k8s.io" };

static void
mirror_usage(FILE *f)
{
	fprintf(f,
	        "usage: barged mirror-config --runtime containerd|crio -o DIR [--config FILE]\n"
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
	        "  -o, --output DIR       where to write\n"
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

/* Writes s as a TOML basic string. */
static void
toml_str(FILE *f, const char *s)
{
	const unsigned char *p;

	fputc('"', f);
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(f, "\\u%04X", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

static void
mirror_reg_free(struct mirror_reg *r)
{
	free(r->host);
	free(r->server);
	free(r->local);
}

/*
 * Parses NAME[=SERVER]: NAME must be a registry host as references spell
 * it; it is normalised as references are (index.docker.io is docker.io).
 */
static int
mirror_reg_parse(const char *arg, const char *project, struct mirror_reg *out,
                 struct barge_err *err)
{
	const char *eq = strchr(arg, '=');
	char *name = NULL, *probe = NULL, *repo = NULL;
	struct ref *r = NULL;
	size_t n;
	int rc = BARGE_ENOMEM;

	memset(out, 0, sizeof(*out));
	if ((name = eq != NULL ? fu_printf("%.*s", (int)(eq - arg), arg) : strdup(arg)) == NULL)
		goto fail;
	/* A reference naming a repository on the registry shows how references see its host. */
	if ((probe = fu_printf("%s/barge/probe", name)) == NULL)
		goto fail;
	if (strchr(name, '/') != NULL || ref_parse(probe, &r, err) != BARGE_OK ||
	    strcmp(r->path, "barge/probe") != 0) {
		rc = err_set(err, BARGE_EINVAL, "--registry '%s': not a registry host name", name);
		goto fail;
	}
	if ((repo = ref_local_repo(r, project)) == NULL)
		goto fail;
	n = strlen(repo) - strlen("/barge/probe");
	repo[n] = '\0';
	if (eq != NULL) {
		if (strncmp(eq + 1, "https://", 8) != 0 && strncmp(eq + 1, "http://", 7) != 0) {
			rc = err_set(err, BARGE_EINVAL,
			             "--registry '%s': the server must be an http(s):// URL", arg);
			goto fail;
		}
		out->server = strdup(eq + 1);
	} else if (strcmp(r->host, "docker.io") == 0) {
		out->server = strdup("https://registry-1.docker.io");
	} else {
		out->server = fu_printf("https://%s", r->host);
	}
	out->host = strdup(r->host);
	out->local = repo;
	repo = NULL;
	if (out->server == NULL || out->host == NULL) {
		mirror_reg_free(out);
		goto fail;
	}
	rc = BARGE_OK;
fail:
	if (rc == BARGE_ENOMEM)
		err_set(err, rc, "out of memory");
	free(name);
	free(probe);
	free(repo);
	ref_free(r);
	return rc;
}

/* Writes buf to path atomically, creating its directory. */
static int
mirror_write(const char *path, char *buf, size_t len, struct barge_err *err)
{
	char *dir = strdup(path), *slash;
	int rc;

	if (dir == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	if ((slash = strrchr(dir, '/')) != NULL)
		*slash = '\0';
	rc = fu_mkdirs(dir, 0755, err);
	if (rc == BARGE_OK)
		rc = fu_write_atomic(path, buf, len, 0644, err);
	free(dir);
	return rc;
}

static int
mirror_containerd(const char *out, const char *endpoint, const char *ca,
                  const struct mirror_reg *regs, size_t n, struct barge_err *err)
{
	size_t i, len;
	char *buf = NULL, *path = NULL;
	FILE *f;
	int rc = BARGE_OK;

	for (i = 0; i < n && rc == BARGE_OK; i++) {
		if ((f = open_memstream(&buf, &len)) == NULL)
			return err_set(err, BARGE_ENOMEM, "out of memory");
		fprintf(f,
		        "# Generated by barged mirror-config: pulls of %s try barged first.\n"
		        "# barged reads the upstream registry from the ns= parameter containerd\n"
		        "# adds to mirror requests, and serves it from %s.\n"
		        "server = ",
		        regs[i].host, regs[i].local);
		toml_str(f, regs[i].server);
		fprintf(f,
		        "\n\n[host.\"https://%s\"]\n  capabilities = [\"pull\", \"resolve\"]\n"
		        "  ca = ",
		        endpoint);
		toml_str(f, ca);
		fputc('\n', f);
		if (fclose(f) != 0 || buf == NULL) {
			free(buf);
			return err_set(err, BARGE_ENOMEM, "out of memory");
		}
		path = fu_printf("%s/certs.d/%s/hosts.toml", out, regs[i].host);
		rc = path == NULL ? err_set(err, BARGE_ENOMEM, "out of memory")
		                  : mirror_write(path, buf, len, err);
		free(path);
		free(buf);
		buf = NULL;
	}
	if (rc != BARGE_OK)
		return rc;
	/* Swapped references name barged itself: containerd must trust its CA for them too. */
	if ((f = open_memstream(&buf, &len)) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	fprintf(f,
	        "# Generated by barged mirror-config: images the webhook swapped to barged\n"
	        "# (%s/...) are pulled from it, trusting its CA.\n"
	        "server = \"https://%s\"\n\n[host.\"https://%s\"]\n"
	        "  capabilities = [\"pull\", \"resolve\"]\n  ca = ",
	        endpoint, endpoint, endpoint);
	toml_str(f, ca);
	fputc('\n', f);
	if (fclose(f) != 0 || buf == NULL) {
		free(buf);
		return err_set(err, BARGE_ENOMEM, "out of memory");
	}
	path = fu_printf("%s/certs.d/%s/hosts.toml", out, endpoint);
	rc = path == NULL ? err_set(err, BARGE_ENOMEM, "out of memory")
	                  : mirror_write(path, buf, len, err);
	free(path);
	free(buf);
	return rc;
}

static int
mirror_crio(const char *out, const char *endpoint, const char *data_dir,
            const struct mirror_reg *regs, size_t n, struct barge_err *err)
{
	size_t i, len, calen;
	char *buf = NULL, *path = NULL, *ca = NULL, *capath;
	FILE *f;
	int rc;

	if ((capath = fu_printf("%s/ca.crt", data_dir)) == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory");
	rc = fu_read_file(capath, 64 * 1024, &ca, &calen, err);
	free(capath);
	if (rc != BARGE_OK)
		return err_prefix(err, "the CA mirrors must trust");
	if ((f = open_memstream(&buf, &len)) == NULL) {
		free(ca);
		return err_set(err, BARGE_ENOMEM, "out of memory");
	}
	fprintf(f,
	        "# Generated by barged mirror-config: pulls try barged at %s first.\n"
	        "# It is trusted through /etc/containers/certs.d/%s/ca.crt.\n",
	        endpoint, endpoint);
	for (i = 0; i < n; i++) {
		fprintf(f, "\n[[registry]]\nprefix = ");
		toml_str(f, regs[i].host);
		fprintf(f, "\nlocation = ");
		toml_str(f, regs[i].host);
		fprintf(f, "\n\n[[registry.mirror]]\nlocation = \"%s/%s\"\n", endpoint,
		        regs[i].local);
	}
	if (fclose(f) != 0 || buf == NULL) {
		free(buf);
		free(ca);
		return err_set(err, BARGE_ENOMEM, "out of memory");
	}
	path = fu_printf("%s/registries.conf.d/50-barge.conf", out);
	rc = path == NULL ? err_set(err, BARGE_ENOMEM, "out of memory")
	                  : mirror_write(path, buf, len, err);
	free(path);
	if (rc == BARGE_OK) {
		path = fu_printf("%s/certs.d/%s/ca.crt", out, endpoint);
		rc = path == NULL ? err_set(err, BARGE_ENOMEM, "out of memory")
		                  : mirror_write(path, ca, calen, err);
		free(path);
	}
	free(buf);
	free(ca);
	return rc;
}

int
cmd_mirror_config(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "runtime", required_argument, NULL, 'r' },
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
	const char *runtime = NULL, *out = NULL, *cfg = NULL, *endpoint = NULL, *ca = NULL;
	const char *data_dir = NULL, *project = NULL, *regargs[MIRROR_REGISTRIES_MAX];
	struct mirror_reg regs[MIRROR_REGISTRIES_MAX];
	struct config c = { 0 };
	struct barge_err err = { 0 };
	char *capath = NULL;
	size_t nargs = 0, nregs = 0, i, j;
	int ch, rc, status = 1;

	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "ho:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'r':
			runtime = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		case 'c':
			cfg = optarg;
			break;
		case 'e':
			endpoint = optarg;
			break;
		case 'R':
			if (nargs == MIRROR_REGISTRIES_MAX) {
				fprintf(stderr, "barged mirror-config: at most %d --registry\n",
				        MIRROR_REGISTRIES_MAX);
				return 2;
			}
			regargs[nargs++] = optarg;
			break;
		case 'd':
			data_dir = optarg;
			break;
		case 'C':
			ca = optarg;
			break;
		case 'P':
			project = optarg;
			break;
		case 'h':
			mirror_usage(stdout);
			return 0;
		default:
			fprintf(stderr, "barged mirror-config: bad option '%s'\n",
			        argv[optind - 1]);
			mirror_usage(stderr);
			return 2;
		}
	}
	if (optind != argc || runtime == NULL || out == NULL ||
	    (strcmp(runtime, "containerd") != 0 && strcmp(runtime, "crio") != 0)) {
		if (optind != argc)
			fprintf(stderr, "barged mirror-config: unexpected argument '%s'\n",
			        argv[optind]);
		else
			fprintf(stderr,
			        "barged mirror-config: --runtime containerd|crio and -o DIR "
			        "are required\n");
		mirror_usage(stderr);
		return 2;
	}
	if (config_init(&c, &err) != BARGE_OK) {
		fprintf(stderr, "barged mirror-config: %s\n", err.msg);
		return 1;
	}
	rc = config_load_file(&c, cfg != NULL ? cfg : CONFIG_DEFAULT_PATH, &err);
	if (rc != BARGE_OK && !(rc == BARGE_ENOTFOUND && cfg == NULL)) {
		fprintf(stderr, "barged mirror-config: %s\n", err.msg);
		goto out;
	}
	if (endpoint == NULL)
		endpoint = c.webhook.advertise;
	if (data_dir == NULL)
		data_dir = c.data_dir;
	if (project == NULL)
		project = c.project;
	status = 2;
	if (strchr(endpoint, ':') == NULL || strpbrk(endpoint, "/\"\\ \t\n") != NULL) {
		fprintf(stderr, "barged mirror-config: endpoint '%s' is not HOST:PORT\n", endpoint);
		goto out;
	}
	if (!ref_valid_repo(project) || strchr(project, '/') != NULL) {
		fprintf(stderr, "barged mirror-config: project '%s' is not one path component\n",
		        project);
		goto out;
	}
	if (nargs == 0)
		for (; nargs < sizeof(mirror_default_regs) / sizeof(mirror_default_regs[0]);
		     nargs++)
			regargs[nargs] = mirror_default_regs[nargs];
	for (i = 0; i < nargs; i++) {
		if (mirror_reg_parse(regargs[i], project, &regs[nregs], &err) != BARGE_OK) {
			fprintf(stderr, "barged mirror-config: %s\n", err.msg);
			goto out;
		}
		nregs++;
		for (j = 0; j + 1 < nregs; j++)
			if (strcmp(regs[j].host, regs[nregs - 1].host) == 0) {
				fprintf(stderr, "barged mirror-config: registry %s given twice\n",
				        regs[j].host);
				goto out;
			}
	}
	status = 1;
	if (strcmp(runtime, "containerd") == 0) {
		if (ca == NULL && (ca = capath = fu_printf("%s/ca.crt", data_dir)) == NULL) {
			fprintf(stderr, "barged mirror-config: out of memory\n");
			goto out;
		}
		rc = mirror_containerd(out, endpoint, ca, regs, nregs, &err);
	} else {
		rc = mirror_crio(out, endpoint, data_dir, regs, nregs, &err);
	}
	if (rc != BARGE_OK) {
		fprintf(stderr, "barged mirror-config: %s\n", err.msg);
		goto out;
	}
	for (i = 0; i < nregs; i++)
		printf("%s -> %s/%s\n", regs[i].host, endpoint, regs[i].local);
	status = 0;
out:
	for (i = 0; i < nregs; i++)
		mirror_reg_free(&regs[i]);
	free(capath);
	config_free(&c);
	return status;
}
