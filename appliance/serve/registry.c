/*
 * registry.c: the registry's handle (struct registry: its options, the
 * table of upload sessions, one store per server thread) and the dispatch
 * of a parsed route and a method to the pull, push and list handlers
 * (registry_int.h).  It owns the stores it opens, closed by registry_free.
 */
#include "registry.h"

#include <stdlib.h>
#include <string.h>

#include "ref.h"
#include "registry_int.h"

#define REGISTRY_UPLOADS_DEFAULT 64
#define REGISTRY_UPLOAD_AGE      (24 * 3600)

int
registry_new(const struct registry_opts *o, struct registry **out, struct barge_err *err)
{
	struct registry *r;

	if (o->data_dir == NULL)
		return err_set(err, BARGE_EINVAL, "registry: no data directory");
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return err_set(err, BARGE_ENOMEM, "registry: out of memory");
	r->data_dir = strdup(o->data_dir);
	r->project = strdup(o->project != NULL ? o->project : "edge");
	if (r->data_dir == NULL || r->project == NULL) {
		free(r->data_dir);
		free(r->project);
		free(r);
		return err_set(err, BARGE_ENOMEM, "registry: out of memory");
	}
	if (!ref_valid_repo(r->project) || strchr(r->project, '/') != NULL) {
		err_set(err, BARGE_EINVAL, "project '%s': not a valid repository path component",
		        r->project);
		free(r->data_dir);
		free(r->project);
		free(r);
		return BARGE_EINVAL;
	}
	if (pthread_key_create(&r->key, NULL) != 0) {
		free(r->data_dir);
		free(r->project);
		free(r);
		return err_set(err, BARGE_EINTERNAL, "registry: no thread key");
	}
	pthread_mutex_init(&r->mtx, NULL);
	r->log_error = o->log_error;
	r->allow_delete = o->allow_delete;
	r->max_uploads = o->max_uploads ? o->max_uploads : REGISTRY_UPLOADS_DEFAULT;
	r->upload_max_age = o->upload_max_age > 0 ? o->upload_max_age : REGISTRY_UPLOAD_AGE;
	r->blob_max = o->blob_max ? o->blob_max : UINT64_MAX;
	r->proxy = o->proxy;
	*out = r;
	return BARGE_OK;
}

void
registry_free(struct registry *r)
{
	struct registry_session *sess;
	struct registry_store *n;

	if (r == NULL)
		return;
	while ((n = r->stores) != NULL) {
		r->stores = n->next;
		store_close(n->s);
		free(n);
	}
	while ((sess = r->sessions) != NULL) {
		r->sessions = sess->next;
		registry_session_free(sess);
	}
	pthread_key_delete(r->key);
	pthread_mutex_destroy(&r->mtx);
	free(r->data_dir);
	free(r->project);
	free(r);
}

/* This thread's store, opened on first use. */
static struct store *
registry_store(struct registry *r, struct barge_err *err)
{
	struct registry_store *n;
	struct store *s;

	if ((s = pthread_getspecific(r->key)) != NULL)
		return s;
	if ((n = malloc(sizeof(*n))) == NULL) {
		err_set(err, BARGE_ENOMEM, "registry: out of memory");
		return NULL;
	}
	if (store_open(r->data_dir, &s, err) != BARGE_OK) {
		free(n);
		return NULL;
	}
	if (store_push_init(s, err) != BARGE_OK) {
		store_close(s);
		free(n);
		return NULL;
	}
	if (pthread_setspecific(r->key, s) != 0) {
		store_close(s);
		free(n);
		err_set(err, BARGE_EINTERNAL, "registry: cannot keep the store of a thread");
		return NULL;
	}
	n->s = s;
	pthread_mutex_lock(&r->mtx);
	n->next = r->stores;
	r->stores = n;
	pthread_mutex_unlock(&r->mtx);
	return s;
}

int
registry_route_request(const struct registry *r, struct http_req *req, struct registry_route *out,
                       struct barge_err *err)
{
	return registry_route_parse(http_req_path(req), http_req_query(req, "ns"), r->project, out,
	                            err);
}

/* Uploads: the id "" starts one; any other must look like a session id. */
static void
registry_uploads(struct registry *r, struct http_req *req, struct store *s,
                 const struct registry_route *rt)
{
	const char *method = http_req_method(req);

	if (rt->reference[0] == '\0') {
		if (strcmp(method, "POST") == 0)
			registry_upload_start(r, req, s, rt);
		else
			registry_unsupported(req, "POST");
	} else if (!store_upload_id_valid(rt->reference)) {
		registry_send_error(req, 404, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown");
	} else if (strcmp(method, "GET") == 0) {
		registry_upload_status(r, req, s, rt);
	} else if (strcmp(method, "PATCH") == 0) {
		registry_upload_write(r, req, s, rt, 0);
	} else if (strcmp(method, "PUT") == 0) {
		registry_upload_write(r, req, s, rt, 1);
	} else if (strcmp(method, "DELETE") == 0) {
		registry_upload_cancel(r, req, s, rt);
	} else {
		registry_unsupported(req, "GET, PATCH, PUT, DELETE");
	}
}

void
registry_serve(struct registry *r, struct http_req *req, int parsed,
               const struct registry_route *rt, const struct barge_err *err)
{
	const char *method = http_req_method(req);
	int get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
	struct barge_err serr = { 0 };
	struct store *s;

	if (parsed == BARGE_ENOTFOUND) {
		registry_send_error(req, 404, "NAME_UNKNOWN", "no such API endpoint");
		return;
	}
	if (parsed != BARGE_OK) {
		registry_send_error(req, 400, rt->error != NULL ? rt->error : "NAME_INVALID",
		                    err->msg);
		return;
	}
	if (rt->kind == REGISTRY_ROUTE_BASE) {
		if (get)
			registry_send_json(req, 200, json_object());
		else
			registry_unsupported(req, "GET, HEAD");
		return;
	}
	if ((s = registry_store(r, &serr)) == NULL) {
		registry_send_internal(r, req, &serr);
		return;
	}
	switch (rt->kind) {
	case REGISTRY_ROUTE_MANIFEST:
		if (get)
			registry_manifest_get(r, req, s, rt);
		else if (strcmp(method, "PUT") == 0)
			registry_manifest_put(r, req, s, rt);
		else if (strcmp(method, "DELETE") == 0)
			registry_delete(r, req, s, rt);
		else
			registry_unsupported(req, "GET, HEAD, PUT, DELETE");
		break;
	case REGISTRY_ROUTE_BLOB:
		if (get)
			registry_blob_get(r, req, s, rt);
		else if (strcmp(method, "DELETE") == 0)
			registry_delete(r, req, s, rt);
		else
			registry_unsupported(req, "GET, HEAD, DELETE");
		break;
	case REGISTRY_ROUTE_UPLOAD:
		registry_uploads(r, req, s, rt);
		break;
	case REGISTRY_ROUTE_TAGS:
	case REGISTRY_ROUTE_CATALOG:
	case REGISTRY_ROUTE_REFERRERS:
		if (!get)
			registry_unsupported(req, "GET, HEAD");
		else if (rt->kind == REGISTRY_ROUTE_TAGS)
			registry_tags_list(r, req, s, rt);
		else if (rt->kind == REGISTRY_ROUTE_CATALOG)
			registry_catalog(r, req, s);
		else
			registry_referrers(r, req, s, rt);
		break;
	case REGISTRY_ROUTE_BASE:
		break;
	}
}
