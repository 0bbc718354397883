/*
 * k8sobj: the Kubernetes objects that run barged as a DaemonSet and
 * register its image-swap webhook (DESIGN §10), written as one
 * multi-document YAML stream for `kubectl apply -f -`: Namespace,
 * ServiceAccount, ConfigMap (the barged.yaml of the pod), TLS Secret,
 * DaemonSet, NodePort Service (K8SOBJ_PORT), webhook Service and
 * MutatingWebhookConfiguration.  In host mode (barged.service on every
 * node) only the MutatingWebhookConfiguration, which calls a URL: the
 * barged on the API server's own node by default.
 *
 * The TLS Secret holds the server certificate and key of the data
 * directory (from the caller's ensure_cert, tls_ensure in barged, with the
 * webhook Service's DNS names, the advertised host and in host mode the
 * webhook URL's host among its names; host mode writes no Secret: the
 * nodes get a copy of the files),
 * and the webhook's caBundle is DATA_DIR/ca.crt, so the API server trusts
 * exactly barged's CA.  Every value that comes from a flag or the
 * configuration is a double-quoted scalar (quote.h), so no value can
 * change the structure.  The output holds the private key.
 *
 * Nothing is kept: the options and the configuration are borrowed for the
 * call, the stream is the caller's.
 */
#ifndef BARGE_K8SOBJ_H
#define BARGE_K8SOBJ_H

#include <stddef.h>
#include <stdio.h>

#include "err.h"

struct config;

#define K8SOBJ_PORT      30003 /* containerPort and nodePort */
#define K8SOBJ_NAMESPACE "barge-system"
#define K8SOBJ_URL_MAX   2048 /* the longest --webhook-url */
/* Where the pod finds the TLS Secret mounted. */
#define K8SOBJ_TLS_DIR "/etc/barge/tls"

/* What barged runs as on the nodes, and so what the cluster needs. */
enum k8sobj_mode {
	K8SOBJ_DAEMONSET, /* every object, the webhook called through its Service */
	K8SOBJ_HOST,      /* barged.service on the nodes: the webhook configuration only */
};

struct k8sobj_opts {
	const struct config *config; /* project, data_dir and webhook.*; config_check passed */
	enum k8sobj_mode mode;
	const char *ns;    /* barged's own namespace; NULL: K8SOBJ_NAMESPACE */
	const char *image; /* barged's image (daemonset); NULL: localhost/barged:VERSION */
	/* Where the API server calls the webhook (host); NULL: https://ADVERTISE/webhook/mutate. */
	const char *webhook_url;
	/*
	 * Loads, or issues, the server certificate of dir with names among its
	 * subjectAltNames; the PEM strings are the caller's to free (tls_ensure).
	 */
	int (*ensure_cert)(const char *dir, const char *const *names, size_t nnames,
	                   char **cert_pem, char **key_pem, struct barge_err *err);
};

/*
 * Checks what is asked of the objects: the namespaces are namespace names,
 * the label keys label keys, the image a reference, webhook.advertise
 * HOST:PORT and the webhook URL https://HOST[:PORT]/PATH; --image only in
 * daemonset mode, --webhook-url only in host mode.  BARGE_EINVAL names the
 * value at fault (by its flag).
 */
int k8sobj_check(const struct k8sobj_opts *o, struct barge_err *err) BARGE_MUST_CHECK;

/*
 * Gets the certificate (ensure_cert) and DATA_DIR/ca.crt, then writes the
 * objects to f and flushes it; BARGE_EIO when f could not take them.
 * Call k8sobj_check first.
 */
int k8sobj_write(FILE *f, const struct k8sobj_opts *o, struct barge_err *err) BARGE_MUST_CHECK;

#endif
