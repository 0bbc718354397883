/*
 * upstream: the HTTP client the pull-through cache (and `barged sync`)
 * reaches upstream registries and peers with.
 *
 * barged links no libcurl: the client lives in a loadable module,
 * barged-upstream.so (upstream_curl.c, linking barge-client), which
 * upstream_load dlopen()s the first time a proxy, a peer or a sync asks for
 * it.  A barged without any of them never loads it.  The module is found at
 * $BARGED_UPSTREAM_MODULE, else at the path compiled in (the installed
 * module, or the build tree's in a development build).
 *
 * The module exports one symbol, UPSTREAM_OPS_SYMBOL, a struct
 * upstream_ops; upstream_load checks its ABI number.
 *
 * An upstream handle (one per configured registry or peer) is safe to use
 * from several threads at once: every request gets its own transfer, and
 * connections, TLS sessions, DNS answers and bearer tokens are shared under
 * the handle's lock.  A body belongs to the one thread reading it.
 *
 * Credentials (docker config.json and its helpers, a username and a
 * password file, or an exec helper whose answer carries an expiry) are the
 * handle's; they are sent only to the upstream's own host (a redirect to
 * blob storage gets none) and never appear in an error message.
 */
#ifndef BARGE_UPSTREAM_H
#define BARGE_UPSTREAM_H

#include <stddef.h>
#include <stdint.h>

#include "digest.h"
#include "err.h"

#define UPSTREAM_ABI        1
#define UPSTREAM_OPS_SYMBOL "barged_upstream_ops"
/* The header a peer's request carries: its answer must come from the local store only. */
#define UPSTREAM_PEER_HEADER "X-Barge-Peer"

struct upstream_opts {
	const char *url;     /* "http(s)://authority[/prefix]" */
	const char *ca_file; /* PEM bundle to verify the server with; NULL: the system's */
	int insecure;        /* no TLS verification (tests only) */
	/* Credentials: at most one of the three kinds. */
	const char *docker_config; /* a docker config.json (auths, credHelpers, credsStore) */
	const char *registry;      /* the name to look up in it ("docker.io"); NULL: url's host */
	const char *username;      /* with password_file */
	const char *password_file;
	const char *exec; /* a program (no shell) printing {"username","password","expires_in"} */
	int peer;         /* a barged peer: requests carry UPSTREAM_PEER_HEADER */
	int body_idle_ms; /* a body that makes no progress this long breaks; 0: 30000 */
};

/* Why a request failed. */
enum upstream_fail {
	UPSTREAM_FAIL_NONE = 0,
	UPSTREAM_FAIL_TIMEOUT, /* no answer within the deadline */
	UPSTREAM_FAIL_CONNECT, /* no connection (refused, unreachable, DNS, TLS) */
	UPSTREAM_FAIL_HTTP,    /* an answer whose status says no (resp->status) */
	UPSTREAM_FAIL_BROKEN,  /* the body ended before its length, or stalled */
	UPSTREAM_FAIL_AUTH,    /* credentials missing, refused, or the helper failed */
	UPSTREAM_FAIL_OTHER    /* out of memory, a bad URL */
};

/* What an answer's head said. */
struct upstream_resp {
	long status;
	char content_type[256];
	char digest[DIGEST_STR_MAX]; /* Docker-Content-Digest, "" when absent or no digest */
	int64_t length;              /* Content-Length, -1 when absent */
	enum upstream_fail fail;     /* set on every failure */
};

struct upstream;
struct upstream_body;

struct upstream_ops {
	int abi; /* UPSTREAM_ABI */
	int (*open)(const struct upstream_opts *o, struct upstream **out, struct barge_err *err);
	void (*close)(struct upstream *u);
	/*
	 * GET (body non-NULL) or HEAD (body NULL) of path ("/v2/<repo>/...",
	 * appended to the url's prefix) for repository repo (the token scope),
	 * with an Accept header (may be NULL).  Waits at most deadline_ms for
	 * the answer's head, authentication included.  Returns BARGE_OK with
	 * resp filled for any 2xx (and *body open for a GET: the caller reads
	 * it and closes it), else BARGE_ENET with resp->fail set (and
	 * resp->status for UPSTREAM_FAIL_HTTP; 404 is BARGE_ENOTFOUND).
	 */
	int (*request)(struct upstream *u, const char *path, const char *repo, const char *accept,
	               int deadline_ms, struct upstream_resp *resp, struct upstream_body **body,
	               struct barge_err *err);
	/*
	 * Up to len bytes of the body into buf: *got is 0 at its end.  A body
	 * that breaks or stalls is BARGE_ENET (UPSTREAM_FAIL_BROKEN).
	 */
	int (*read)(struct upstream_body *b, void *buf, size_t len, size_t *got,
	            struct barge_err *err);
	/* Ends the transfer (early or not).  Accepts NULL. */
	void (*body_close)(struct upstream_body *b);
};

/*
 * The transport, loading the module on first use (thread-safe; later calls
 * return the same table).  Fails naming the path and dlerror() when the
 * module cannot be loaded or is not an upstream module of this ABI.
 */
const struct upstream_ops *upstream_load(struct barge_err *err);

/* Whether the module has been loaded in this process (for tests). */
int upstream_loaded(void);

#endif
