/*
 * upstream.c: loads the upstream transport module (upstream.h) once per
 * process with dlopen(), on first use only, so that a barged without a
 * proxy, a peer or a sync never maps libcurl.  It owns the module's handle,
 * kept for the life of the process.
 */
#include "upstream.h"

#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef BARGED_UPSTREAM_MODULE_PATH
#define BARGED_UPSTREAM_MODULE_PATH "barged-upstream.so"
#endif

/* Where a barged run from its build tree finds the module it built. */
#define UPSTREAM_BESIDE "/proxy/barged-upstream.so"

static pthread_mutex_t upstream_mtx = PTHREAD_MUTEX_INITIALIZER;
static const struct upstream_ops *upstream_ops;

/*
 * The module beside the running executable, in proxy/: the build tree's
 * layout (build/appliance/barged, build/appliance/proxy/).  Never a path
 * fixed at build time: a build under /tmp would name a folder anyone may
 * write, while an installed barged's folder is root's.  0 on success.
 */
static int
beside_exe(char *buf, size_t n)
{
	ssize_t len = readlink("/proc/self/exe", buf, n - 1);
	char *slash;

	if (len <= 0)
		return -1;
	buf[len] = '\0';
	if ((slash = strrchr(buf, '/')) == NULL ||
	    (size_t)(slash - buf) + sizeof(UPSTREAM_BESIDE) > n)
		return -1;
	memcpy(slash, UPSTREAM_BESIDE, sizeof(UPSTREAM_BESIDE));
	return 0;
}

const struct upstream_ops *
upstream_load(struct barge_err *err)
{
	const struct upstream_ops *ops = NULL;
	const char *path = getenv("BARGED_UPSTREAM_MODULE");
	const char *why;
	char beside[PATH_MAX];
	void *h;
	int installed = 0;

	if (path == NULL || path[0] == '\0') {
		path = BARGED_UPSTREAM_MODULE_PATH;
		installed = 1;
	}
	pthread_mutex_lock(&upstream_mtx);
	if (upstream_ops != NULL) {
		ops = upstream_ops;
		goto out;
	}
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	/* Not installed yet: a development build runs the module it built. */
	if (h == NULL && installed && beside_exe(beside, sizeof(beside)) == 0) {
		h = dlopen(beside, RTLD_NOW | RTLD_LOCAL);
		/* Failing again on the installed path makes dlerror() name it. */
		if (h == NULL)
			(void)dlopen(path, RTLD_NOW | RTLD_LOCAL);
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
upstream_check(struct barge_err *err)
{
	const char *path = getenv("BARGED_UPSTREAM_MODULE");
	char beside[PATH_MAX];

	if (path != NULL && path[0] != '\0')
		return access(path, R_OK) == 0 ? BARGE_OK
		                               : err_set(err, BARGE_ENOTFOUND,
		                                         "upstream module %s: not readable", path);
	if (access(BARGED_UPSTREAM_MODULE_PATH, R_OK) == 0 ||
	    (beside_exe(beside, sizeof(beside)) == 0 && access(beside, R_OK) == 0))
		return BARGE_OK;
	return err_set(err, BARGE_ENOTFOUND,
	               "upstream module %s: not installed (set BARGED_UPSTREAM_MODULE to its path)",
	               BARGED_UPSTREAM_MODULE_PATH);
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
