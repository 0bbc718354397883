/*
 * upstream.c: loads the upstream transport module (upstream.h) once per
 * process with dlopen(), on first use only, so that a barged without a
 * proxy, a peer or a sync never maps libcurl.  It owns the module's handle,
 * kept for the life of the process.
 */
#include "upstream.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>

#ifndef BARGED_UPSTREAM_MODULE_PATH
#define BARGED_UPSTREAM_MODULE_PATH "barged-upstream.so"
#endif
#ifndef BARGED_UPSTREAM_BUILD_PATH
#define BARGED_UPSTREAM_BUILD_PATH BARGED_UPSTREAM_MODULE_PATH
#endif

static pthread_mutex_t upstream_mtx = PTHREAD_MUTEX_INITIALIZER;
static const struct upstream_ops *upstream_ops;

const struct upstream_ops *
upstream_load(struct barge_err *err)
{
	const struct upstream_ops *ops = NULL;
	const char *path = getenv("BARGED_UPSTREAM_MODULE");
	const char *why;
	void *h;

	if (path == NULL || path[0] == '\0')
		path = BARGED_UPSTREAM_MODULE_PATH;
	pthread_mutex_lock(&upstream_mtx);
	if (upstream_ops != NULL) {
		ops = upstream_ops;
		goto out;
	}
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	/* Not installed yet: a development build runs the module it built. */
	if (h == NULL && path == (const char *)BARGED_UPSTREAM_MODULE_PATH) {
		h = dlopen(BARGED_UPSTREAM_BUILD_PATH, RTLD_NOW | RTLD_LOCAL);
		if (h == NULL)
			(void)dlopen(path,
			             RTLD_NOW |
			                     RTLD_LOCAL); /* dlerror() names the installed path */
	}
	if (h == NULL) {
		why = dlerror();
		err_set(err, BARGE_ENOTFOUND,
		        "upstream module %s: %s (set BARGED_UPSTREAM_MODULE to its path)", path,
		        why != NULL ? why : "cannot be loaded");
		goto out;
	}
	ops = dlsym(h, UPSTREAM_OPS_SYMBOL);
	if (ops == NULL || ops->abi != UPSTREAM_ABI) {
		err_set(err, BARGE_EINVAL, "upstream module %s: no %s of ABI %d", path,
		        UPSTREAM_OPS_SYMBOL, UPSTREAM_ABI);
		ops = NULL;
		dlclose(h);
		goto out;
	}
	upstream_ops = ops;
out:
	pthread_mutex_unlock(&upstream_mtx);
	return ops;
}

int
upstream_loaded(void)
{
	int loaded;

	pthread_mutex_lock(&upstream_mtx);
	loaded = upstream_ops != NULL;
	pthread_mutex_unlock(&upstream_mtx);
	return loaded;
}
