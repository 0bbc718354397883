/*
 * k8sobj: the Kubernetes objects that deploy barged (k8sobj.h): checks the
 * values asked for, gathers the certificate, key and CA, and writes the
 * YAML stream.  Owns, for one call, the PEM texts and their base64 forms
 * (the key ones wiped before they are freed).
 */
#include "k8sobj.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fileutil.h"
#include "quote.h"
#include "ref.h"

#define K8SOBJ_SVC      "barged-webhook"
#define K8SOBJ_LABEL    "barge.dev/imageswap"
#define K8SOBJ_NAME_MAX 63          /* an RFC 1123 label, as namespace names are */
#define K8SOBJ_PEM_MAX  (64 * 1024) /* the largest PEM text encoded (TLS_PEM_MAX) */

/* What the objects are made from. */
struct k8s {
	const struct k8sobj_opts *o;
	const char *ns;
	const char *image;
	const char *url; /* host mode: where the API server calls the webhook */
	char *ca_b64, *cert_b64, *key_b64;
};

/* Whether s is an RFC 1123 label: a namespace name. */
static int
dns_label(const char *s)
{
	size_t n = strlen(s), i;

	if (n == 0 || n > K8SOBJ_NAME_MAX || !isalnum((unsigned char)s[0]) ||
	    !isalnum((unsigned char)s[n - 1]))
		return 0;
	for (i = 0; i < n; i++)
		if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '-'))
			return 0;
	return 1;
}

/* Whether s is a label key: [DNS-subdomain-prefix/]name, name [A-Za-z0-9._-] up to 63. */
static int
label_key(const char *s)
{
	const char *name = strrchr(s, '/'), *p;
	size_t n;

	if (name != NULL) {
		if (name == s || (size_t)(name - s) > 253)
			return 0;
		for (p = s; p < name; p++)
			if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) ||
			      *p == '-' || *p == '.'))
				return 0;
		name++;
	} else {
		name = s;
	}
	n = strlen(name);
	if (n == 0 || n > 63 || !isalnum((unsigned char)name[0]) ||
	    !isalnum((unsigned char)name[n - 1]))
		return 0;
	for (p = name; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' && *p != '.')
			return 0;
	return 1;
}

static char *
b64(const char *s)
{
	size_t n = strlen(s);
	unsigned char *out;

	if (n > K8SOBJ_PEM_MAX * 4 || (out = malloc((n + 2) / 3 * 4 + 1)) == NULL)
		return NULL;
	EVP_EncodeBlock(out, (const unsigned char *)s, (int)n);
	return (char *)out;
}

/* The host of HOST:PORT, without IPv6 brackets; caller frees. */
static char *
advertise_host(const char *adv)
{
	const char *colon = strrchr(adv, ':');
	size_t n = colon != NULL ? (size_t)(colon - adv) : strlen(adv);

	if (n >= 2 && adv[0] == '[' && adv[n - 1] == ']')
		return fu_printf("%.*s", (int)(n - 2), adv + 1);
	return fu_printf("%.*s", (int)n, adv);
}

/*
 * The host of https://HOST[:PORT][/PATH], without IPv6 brackets; NULL when
 * url is not of that form (or out of memory).  Caller frees.
 */
static char *
url_host(const char *url)
{
	const char *h = url + strlen("https://"), *end;

	if (strncmp(url, "https://", strlen("https://")) != 0)
		return NULL;
	if (h[0] == '[') {
		if ((end = strchr(h, ']')) == NULL || end == h + 1 || strchr(":/", end[1]) == NULL)
			return NULL;
		return fu_printf("%.*s", (int)(end - h - 1), h + 1);
	}
	if ((end = h + strcspn(h, ":/")) == h)
		return NULL;
	return fu_printf("%.*s", (int)(end - h), h);
}

/* Whether url is one the API server accepts: https, a host and a path, nothing else. */
static int
url_ok(const char *url)
{
	const char *p;
	char *host;

	if (strlen(url) > K8SOBJ_URL_MAX || strpbrk(url, "?#@\"") != NULL)
		return 0;
	for (p = url; *p != '\0'; p++)
		if (!isgraph((unsigned char)*p))
			return 0;
	if ((host = url_host(url)) == NULL)
		return 0;
	free(host);
	return 1;
}

/* The opt-out expressions: each label key NotIn [disable]. */
static void
write_optout(FILE *f, const struct k8s *m, int namespaces)
{
	static const char *const builtin_ns[] = { K8SOBJ_LABEL, "stylus.io/imageswap" };
	size_t i;

	for (i = 0; i < (namespaces ? 2u : 1u); i++) {
		fprintf(f, "      - key: ");
		quote_fput(f, builtin_ns[i], 0);
		fprintf(f, "\n        operator: NotIn\n        values: [\"disable\"]\n");
	}
	for (i = 0; i < m->o->config->webhook.label_keys.n; i++) {
		fprintf(f, "      - key: ");
		quote_fput(f, m->o->config->webhook.label_keys.v[i], 0);
		fprintf(f, "\n        operator: NotIn\n        values: [\"disable\"]\n");
	}
}

static void
write_config(FILE *f, const struct k8s *m)
{
	const struct config *c = m->o->config;
	size_t i;

	/* The file barged reads inside the pod: JSON-style scalars, valid YAML. */
	fprintf(f,
	        "    data_dir: \"" CONFIG_DEFAULT_DATA_DIR "\"\n    listen: \":%d\"\n    project: ",
	        K8SOBJ_PORT);
	quote_fput(f, c->project, 0);
	fprintf(f, "\n    tls:\n      cert: \"" K8SOBJ_TLS_DIR "/tls.crt\"\n"
	           "      key: \"" K8SOBJ_TLS_DIR "/tls.key\"\n    webhook:\n      advertise: ");
	quote_fput(f, c->webhook.advertise, 0);
	fprintf(f, "\n      policy: %s\n",
	        c->webhook.policy == CONFIG_POLICY_ALWAYS ? "always" : "present");
	fprintf(f, "      exclude_namespaces: [");
	for (i = 0; i < c->webhook.exclude_namespaces.n; i++) {
		fprintf(f, "%s", i > 0 ? ", " : "");
		quote_fput(f, c->webhook.exclude_namespaces.v[i], 0);
	}
	fprintf(f, "]\n      label_keys: [");
	for (i = 0; i < c->webhook.label_keys.n; i++) {
		fprintf(f, "%s", i > 0 ? ", " : "");
		quote_fput(f, c->webhook.label_keys.v[i], 0);
	}
	fprintf(f, "]\n    log:\n      format: json\n");
}

/* The DaemonSet: barged on every node, its store on the node's disk. */
static void
write_daemonset(FILE *f, const struct k8s *m)
{
	const char *ns = m->ns;

	/*
	 * Root without any capability: enough to own files in the hostPath
	 * store (created root-owned), nothing more.  See docs/operations.md.
	 * The Secret's defaultMode 256 is 0400: YAML 1.1 (kubectl) and 1.2 read
	 * a leading 0 differently, decimal they read alike.  system-node-critical
	 * and the tolerations because every node's pulls go through its barged;
	 * the memory request and limit are explained in docs/operations.md.
	 */
	fprintf(f,
	        "---\napiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: barged\n"
	        "  namespace: \"%s\"\n  labels:\n    app.kubernetes.io/name: barged\n"
	        "spec:\n  selector:\n    matchLabels:\n      app.kubernetes.io/name: barged\n"
	        "  updateStrategy:\n    type: RollingUpdate\n"
	        "  template:\n    metadata:\n      labels:\n        app.kubernetes.io/name: "
	        "barged\n"
	        "        %s: \"disable\"\n"
	        "    spec:\n      serviceAccountName: barged\n"
	        "      automountServiceAccountToken: false\n"
	        "      priorityClassName: system-node-critical\n"
	        "      tolerations:\n      - operator: Exists\n"
	        "      securityContext:\n        runAsUser: 0\n        runAsGroup: 0\n"
	        "        runAsNonRoot: false\n        seccompProfile:\n"
	        "          type: RuntimeDefault\n"
	        "      containers:\n      - name: barged\n        image: ",
	        ns, K8SOBJ_LABEL);
	quote_fput(f, m->image, 0);
	fprintf(f,
	        "\n        imagePullPolicy: IfNotPresent\n"
	        "        args: [\"serve\", \"--config\", \"" CONFIG_DEFAULT_PATH "\"]\n"
	        "        ports:\n        - name: https\n          containerPort: %d\n"
	        "          protocol: TCP\n"
	        "        livenessProbe:\n          httpGet:\n            path: /healthz\n"
	        "            port: https\n            scheme: HTTPS\n"
	        "          periodSeconds: 10\n          failureThreshold: 3\n"
	        "        readinessProbe:\n          httpGet:\n            path: /readyz\n"
	        "            port: https\n            scheme: HTTPS\n"
	        "          periodSeconds: 5\n"
	        "        resources:\n          requests:\n            cpu: 50m\n"
	        "            memory: 32Mi\n          limits:\n            memory: 128Mi\n"
	        "        securityContext:\n          readOnlyRootFilesystem: true\n"
	        "          allowPrivilegeEscalation: false\n          privileged: false\n"
	        "          capabilities:\n            drop: [\"ALL\"]\n"
	        "        volumeMounts:\n        - name: store\n          "
	        "mountPath: " CONFIG_DEFAULT_DATA_DIR "\n"
	        "        - name: config\n          mountPath: " CONFIG_DEFAULT_PATH "\n"
	        "          subPath: barged.yaml\n          readOnly: true\n"
	        "        - name: tls\n          mountPath: " K8SOBJ_TLS_DIR "\n          readOnly: "
	        "true\n"
	        "        - name: tmp\n          mountPath: /tmp\n"
	        "      volumes:\n      - name: store\n        hostPath:\n"
	        "          path: " CONFIG_DEFAULT_DATA_DIR "\n          type: DirectoryOrCreate\n"
	        "      - name: config\n        configMap:\n          name: barged\n"
	        "      - name: tls\n        secret:\n          secretName: barged-tls\n"
	        "          defaultMode: 256\n"
	        "      - name: tmp\n        emptyDir: {}\n",
	        K8SOBJ_PORT);
}

/*
 * The webhook: called through its Service (daemonset) or at a URL (host).
 * Besides the opt-out labels it never sees barged's own namespace,
 * kube-system (whose pods must start without barged) and the excluded ones.
 */
static void
write_webhook(FILE *f, const struct k8s *m)
{
	const struct config *c = m->o->config;
	size_t i;

	fprintf(f, "---\napiVersion: admissionregistration.k8s.io/v1\n"
	           "kind: MutatingWebhookConfiguration\nmetadata:\n  name: barged-imageswap\n"
	           "webhooks:\n- name: imageswap.barge.dev\n  admissionReviewVersions: [\"v1\"]\n"
	           "  clientConfig:\n");
	if (m->url != NULL) {
		fprintf(f, "    url: ");
		quote_fput(f, m->url, 0);
		fprintf(f, "\n");
	} else {
		fprintf(f,
		        "    service:\n      name: %s\n      namespace: \"%s\"\n"
		        "      path: /webhook/mutate\n      port: 443\n",
		        K8SOBJ_SVC, m->ns);
	}
	fprintf(f,
	        "    caBundle: %s\n"
	        "  rules:\n  - apiGroups: [\"\"]\n    apiVersions: [\"v1\"]\n"
	        "    operations: [\"CREATE\", \"UPDATE\"]\n"
	        "    resources: [\"pods\", \"pods/ephemeralcontainers\"]\n"
	        "    scope: Namespaced\n"
	        "  namespaceSelector:\n    matchExpressions:\n",
	        m->ca_b64);
	write_optout(f, m, 1);
	fprintf(f, "      - key: kubernetes.io/metadata.name\n        operator: NotIn\n"
	           "        values: [");
	quote_fput(f, m->ns, 0);
	if (strcmp(m->ns, "kube-system") != 0)
		fprintf(f, ", \"kube-system\"");
	for (i = 0; i < c->webhook.exclude_namespaces.n; i++) {
		const char *x = c->webhook.exclude_namespaces.v[i];

		if (strcmp(x, m->ns) == 0 || strcmp(x, "kube-system") == 0)
			continue;
		fprintf(f, ", ");
		quote_fput(f, x, 0);
	}
	fprintf(f, "]\n  objectSelector:\n    matchExpressions:\n");
	write_optout(f, m, 0);
	fprintf(f, "  failurePolicy: Ignore\n  matchPolicy: Equivalent\n  sideEffects: None\n"
	           "  timeoutSeconds: 5\n  reinvocationPolicy: IfNeeded\n");
}

static void
write_all(FILE *f, const struct k8s *m)
{
	const char *ns = m->ns;

	if (m->url != NULL) {
		fprintf(f,
		        "# Generated by barged manifests %s --mode host: barged.service runs on "
		        "every node.\n",
		        BARGE_VERSION);
		write_webhook(f, m);
		return;
	}
	fprintf(f, "# Generated by barged manifests %s.  Holds a private key: do not commit.\n",
	        BARGE_VERSION);
	/* Namespace: opted out of the swap; hostPath needs the privileged Pod Security level. */
	fprintf(f,
	        "---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: \"%s\"\n"
	        "  labels:\n    %s: \"disable\"\n"
	        "    pod-security.kubernetes.io/enforce: \"privileged\"\n",
	        ns, K8SOBJ_LABEL);
	fprintf(f,
	        "---\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: barged\n"
	        "  namespace: \"%s\"\nautomountServiceAccountToken: false\n",
	        ns);
	fprintf(f,
	        "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: barged\n"
	        "  namespace: \"%s\"\ndata:\n  barged.yaml: |\n",
	        ns);
	write_config(f, m);
	fprintf(f,
	        "---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: barged-tls\n"
	        "  namespace: \"%s\"\ntype: kubernetes.io/tls\ndata:\n"
	        "  tls.crt: %s\n  tls.key: %s\n  ca.crt: %s\n",
	        ns, m->cert_b64, m->key_b64, m->ca_b64);

	write_daemonset(f, m);

	/* Local: a node's kubelet pulling 127.0.0.1:30003 reaches the barged on that node. */
	fprintf(f,
	        "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: barged\n"
	        "  namespace: \"%s\"\nspec:\n  type: NodePort\n  externalTrafficPolicy: Local\n"
	        "  selector:\n    app.kubernetes.io/name: barged\n"
	        "  ports:\n  - name: https\n    protocol: TCP\n    port: %d\n    targetPort: %d\n"
	        "    nodePort: %d\n",
	        ns, K8SOBJ_PORT, K8SOBJ_PORT, K8SOBJ_PORT);
	fprintf(f,
	        "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: %s\n"
	        "  namespace: \"%s\"\nspec:\n  type: ClusterIP\n"
	        "  selector:\n    app.kubernetes.io/name: barged\n"
	        "  ports:\n  - name: https\n    protocol: TCP\n    port: 443\n    targetPort: %d\n",
	        K8SOBJ_SVC, ns, K8SOBJ_PORT);
	/*
	 * Peers of the pull-through cache: every barged pod's address under one
	 * name (proxy.peer_dns: barged-peers.NS.svc:PORT), ready or not.
	 */
	fprintf(f,
	        "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: barged-peers\n"
	        "  namespace: \"%s\"\nspec:\n  clusterIP: None\n  publishNotReadyAddresses: true\n"
	        "  selector:\n    app.kubernetes.io/name: barged\n"
	        "  ports:\n  - name: https\n    protocol: TCP\n    port: %d\n    targetPort: %d\n",
	        ns, K8SOBJ_PORT, K8SOBJ_PORT);
	write_webhook(f, m);
}

int
k8sobj_check(const struct k8sobj_opts *o, struct barge_err *err)
{
	const struct config *c = o->config;
	const char *ns = o->ns != NULL ? o->ns : K8SOBJ_NAMESPACE;
	struct ref *r = NULL;
	size_t i;

	if (!dns_label(ns))
		return err_set(err, BARGE_EINVAL, "--namespace '%s' is not a valid namespace name",
		               ns);
	for (i = 0; i < c->webhook.exclude_namespaces.n; i++)
		if (!dns_label(c->webhook.exclude_namespaces.v[i]))
			return err_set(err, BARGE_EINVAL,
			               "excluded namespace '%s' is not a valid namespace name",
			               c->webhook.exclude_namespaces.v[i]);
	for (i = 0; i < c->webhook.label_keys.n; i++)
		if (!label_key(c->webhook.label_keys.v[i]))
			return err_set(err, BARGE_EINVAL, "'%s' is not a valid label key",
			               c->webhook.label_keys.v[i]);
	if (o->mode == K8SOBJ_HOST && o->image != NULL)
		return err_set(err, BARGE_EINVAL, "--image: host mode runs no DaemonSet");
	if (o->mode != K8SOBJ_HOST && o->webhook_url != NULL)
		return err_set(err, BARGE_EINVAL, "--webhook-url is for --mode host");
	if (o->webhook_url != NULL && !url_ok(o->webhook_url))
		return err_set(err, BARGE_EINVAL,
		               "--webhook-url '%s' is not https://HOST[:PORT][/PATH]",
		               o->webhook_url);
	if (o->image != NULL) {
		if (ref_parse(o->image, &r, err) != BARGE_OK)
			return err_prefix(err, "--image");
		ref_free(r);
	}
	if (strchr(c->webhook.advertise, ':') == NULL || strchr(c->webhook.advertise, '/') != NULL)
		return err_set(err, BARGE_EINVAL, "advertise '%s' is not HOST:PORT",
		               c->webhook.advertise);
	return BARGE_OK;
}

/* The certificate, key and CA of the data directory, base64 for the Secret. */
static int
gather_tls(struct k8s *m, struct barge_err *err)
{
	const char *dir = m->o->config->data_dir, *names[4];
	char *host = NULL, *svc = NULL, *svc_full = NULL, *capath = NULL, *url_h = NULL;
	char *cert = NULL, *key = NULL, *ca = NULL;
	size_t calen;
	int rc = BARGE_ENOMEM;

	/* The API server calls the webhook by its Service name; pullers use the advertised host. */
	host = advertise_host(m->o->config->webhook.advertise);
	svc = fu_printf("%s.%s.svc", K8SOBJ_SVC, m->ns);
	svc_full = fu_printf("%s.%s.svc.cluster.local", K8SOBJ_SVC, m->ns);
	if (host == NULL || svc == NULL || svc_full == NULL)
		goto out;
	names[0] = svc;
	names[1] = svc_full;
	names[2] = host;
	/* Host mode: the API server calls the URL's host, which the nodes' copies must answer to.
	 */
	if (m->url != NULL && (url_h = url_host(m->url)) == NULL)
		goto out;
	names[3] = url_h;
	if ((rc = m->o->ensure_cert(dir, names, url_h != NULL ? 4 : 3, &cert, &key, err)) !=
	    BARGE_OK) {
		err_prefix(err, "TLS certificate in %s", dir);
		goto out;
	}
	rc = BARGE_ENOMEM;
	if ((capath = fu_printf("%s/ca.crt", dir)) == NULL)
		goto out;
	if ((rc = fu_read_file(capath, K8SOBJ_PEM_MAX, &ca, &calen, err)) != BARGE_OK)
		goto out;
	rc = BARGE_ENOMEM;
	m->ca_b64 = b64(ca);
	m->cert_b64 = b64(cert);
	m->key_b64 = b64(key);
	if (m->ca_b64 != NULL && m->cert_b64 != NULL && m->key_b64 != NULL)
		rc = BARGE_OK;
out:
	if (rc == BARGE_ENOMEM)
		err_set(err, rc, "out of memory");
	free(host);
	free(svc);
	free(svc_full);
	free(url_h);
	free(capath);
	free(cert);
	free(ca);
	fu_free_secret(key);
	return rc;
}

int
k8sobj_write(FILE *f, const struct k8sobj_opts *o, struct barge_err *err)
{
	struct k8s m = { .o = o,
		         .ns = o->ns != NULL ? o->ns : K8SOBJ_NAMESPACE,
		         .image = o->image };
	char *image = NULL, *url = NULL;
	int rc;

	if (o->mode == K8SOBJ_HOST) {
		m.url = o->webhook_url;
		if (m.url == NULL &&
		    (m.url = url = fu_printf("https://%s/webhook/mutate",
		                             o->config->webhook.advertise)) == NULL) {
			rc = err_set(err, BARGE_ENOMEM, "out of memory");
			goto out;
		}
	} else if (m.image == NULL &&
	           (m.image = image = fu_printf("localhost/barged:%s", BARGE_VERSION)) == NULL) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = gather_tls(&m, err)) != BARGE_OK)
		goto out;
	write_all(f, &m);
	if (fflush(f) != 0 || ferror(f))
		rc = err_set(err, BARGE_EIO, "writing the output failed");
out:
	free(image);
	free(url);
	free(m.ca_b64);
	free(m.cert_b64);
	fu_free_secret(m.key_b64);
	return rc;
}
