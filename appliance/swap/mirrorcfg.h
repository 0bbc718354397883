/*
 * mirrorcfg: container runtime configuration that makes nodes pull through
 * barged whatever the pod spec says (DESIGN §9, §10).
 *
 *   containerd  OUT/certs.d/<registry>/hosts.toml, and
 *               OUT/certs.d/<endpoint>/hosts.toml trusting barged's CA for
 *               the references the webhook swapped
 *   crio        OUT/registries.conf.d/50-barge.conf, and the CA in
 *               OUT/certs.d/<endpoint>/ca.crt
 *
 * OUT is the runtime's configuration directory (/etc/containerd,
 * /etc/containers).  containerd mirrors use the ?ns= form: the host entry
 * is the endpoint itself and containerd names the upstream registry in each
 * request's ns parameter, which barged maps to <project>/<registry>/<path>.
 * CRI-O and podman know no such parameter, so their mirror location
 * carries the project path: ENDPOINT/<project>/<registry>.  In both, the
 * upstream stays configured after the mirror, so an image barged does not
 * hold is still pulled from its registry when the node is online.  Every
 * file is written atomically, its directory created.
 *
 * Nothing is kept: the options are borrowed for the call.
 */
#ifndef BARGE_MIRRORCFG_H
#define BARGE_MIRRORCFG_H

#include <stddef.h>
#include <stdio.h>

#include "err.h"

#define MIRRORCFG_REGISTRIES_MAX 64

enum mirrorcfg_runtime { MIRRORCFG_CONTAINERD, MIRRORCFG_CRIO };

struct mirrorcfg_opts {
	enum mirrorcfg_runtime runtime;
	const char *out;      /* the runtime's configuration directory */
	const char *endpoint; /* barged's registry as nodes reach it, HOST:PORT */
	const char *data_dir; /* barged's data directory, holding ca.crt */
	const char *ca;       /* containerd: the CA path on the node; NULL: DATA_DIR/ca.crt */
	const char *project;  /* first path segment of barged's repositories */
	/*
	 * The upstream registries, NAME[=SERVER] (NAME as references spell
	 * the host, SERVER an http(s):// URL); none: docker.io, ghcr.io,
	 * quay.io and registry.k8s.io.  At most MIRRORCFG_REGISTRIES_MAX.
	 */
	const char *const *registries;
	size_t nregistries;
};

/*
 * Checks the options: the endpoint is HOST:PORT, the project one path
 * component, each registry a registry host (with an http(s) server) given
 * once.  BARGE_EINVAL names the value at fault.
 */
int mirrorcfg_check(const struct mirrorcfg_opts *o, struct barge_err *err) BARGE_MUST_CHECK;

/*
 * Writes the configuration, then one line per registry to summary
 * ("docker.io -> ENDPOINT/edge/docker.io").  Call mirrorcfg_check first.
 */
int mirrorcfg_write(const struct mirrorcfg_opts *o, FILE *summary,
                    struct barge_err *err) BARGE_MUST_CHECK;

#endif
