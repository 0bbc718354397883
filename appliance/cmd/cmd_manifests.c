/*
 * barged manifests: the Kubernetes objects that run barged as a DaemonSet
 * and register its image-swap webhook (DESIGN §10), printed as one
 * multi-document YAML stream for `kubectl apply -f -`.
 *
 * The TLS Secret holds the server certificate and key of DATA_DIR/tls
 * (issued by tls_ensure, with the webhook Service's DNS names and the
 * advertised host among its names), and the webhook's caBundle is
 * DATA_DIR/ca.crt, so the API server trusts exactly barged's CA.
 *
 * Every value that comes from a flag or the configuration is written as a
 * double-quoted YAML scalar, so no value can change the structure.
 */
#include <ctype.h>
#include <getopt.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "config.h"
#include "fileutil.h"
#include "log.h"
#include "ref.h"
#include "tls.h"

#define MANIFESTS_PORT     30003 /* containerPort and nodePort */
#define MANIFESTS_SVC      "barged-webhook"
#define MANIFESTS_LABEL    "barge.dev/imageswap"
#define MANIFESTS_NAME_MAX 63 /* an RFC 1123 label, as namespace names are */

/* What the objects are made from. */
struct mf {
	const struct config *c;
	const char *ns;
	const char *image;
	char *ca_b64, *cert_b64, *key_b64;
};

static void
manifests_usage(FILE *f)
{
	fprintf(f,
	        "usage: barged manifests [--config FILE] [--advertise HOST:PORT] [--namespace NS]\n"
	        "                        [--image REF] [--data-dir DIR] [--project P]\n"
	        "                        [--policy present|always] [--exclude-namespace NS]...\n"
	        "                        [--label-key KEY]...\n"
	        "\n"
	        "Prints the Kubernetes objects that run barged on every node and swap pod\n"
	        "images to it: Namespace, ServiceAccount, ConfigMap, TLS Secret, DaemonSet,\n"
	        "NodePort Service (%d), webhook Service, MutatingWebhookConfiguration.\n"
	        "\n"
	        "  --config FILE           read settings from FILE (default %s, if present)\n"
	        "  --advertise HOST:PORT   the registry pods are swapped to (webhook.advertise)\n"
	        "  --namespace NS          barged's own namespace, never swapped (barge-system)\n"
	        "  --image REF             barged's container image (localhost/barged:%s)\n"
	        "  --data-dir DIR          where the CA and server certificate are (data_dir);\n"
	        "                          created there if missing\n"
	        "  --project P             first path segment of swapped repositories (project)\n"
	        "  --policy P              present: swap only images the store holds; always\n"
	        "  --exclude-namespace NS  never swap pods of NS (repeatable)\n"
	        "  --label-key KEY         opt out namespaces and pods labelled KEY=disable too\n"
	        "                          (repeatable)\n"
	        "\n"
	        "The output holds the server's private key: pipe it to kubectl, do not keep it.\n",
	        MANIFESTS_PORT, CONFIG_DEFAULT_PATH, BARGE_VERSION);
}

/* Writes s as a double-quoted YAML scalar (JSON escaping is valid YAML). */
static void
yq(FILE *f, const char *s)
{
	const unsigned char *p;

	fputc('"', f);
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

/* Whether s is an RFC 1123 label: a namespace name. */
static int
dns_label(const char *s)
{
	size_t n = strlen(s), i;

	if (n == 0 || n > MANIFESTS_NAME_MAX || !isalnum((unsigned char)s[0]) ||
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

	if (n > TLS_PEM_MAX * 4 || (out = malloc((n + 2) / 3 * 4 + 1)) == NULL)
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

/* The opt-out expressions: each label key NotIn [disable]. */
static void
print_optout(FILE *f, const struct mf *m, int namespaces)
{
	static const char *const builtin_ns[] = { MANIFESTS_LABEL, "stylus.io/imageswap" };
	size_t i;

	for (i = 0; i < (namespaces ? 2u : 1u); i++) {
		fprintf(f, "      - key: ");
		yq(f, builtin_ns[i]);
		fprintf(f, "\n        operator: NotIn\n        values: [\"disable\"]\n");
	}
	for (i = 0; i < m->c->webhook.label_keys.n; i++) {
		fprintf(f, "      - key: ");
		yq(f, m->c->webhook.label_keys.v[i]);
		fprintf(f, "\n        operator: NotIn\n        values: [\"disable\"]\n");
	}
}

static void
print_config(FILE *f, const struct mf *m)
{
	const struct config *c = m->c;
	size_t i;

	/* The file barged reads inside the pod: JSON-style scalars, valid YAML. */
	fprintf(f, "    data_dir: \"/var/lib/barge\"\n    listen: \":%d\"\n    project: ",
	        MANIFESTS_PORT);
	yq(f, c->project);
	fprintf(f, "\n    tls:\n      cert: \"/etc/barge/tls/tls.crt\"\n"
	           "      key: \"/etc/barge/tls/tls.key\"\n    webhook:\n      advertise: ");
	yq(f, c->webhook.advertise);
	fprintf(f, "\n      policy: %s\n",
	        c->webhook.policy == CONFIG_POLICY_ALWAYS ? "always" : "present");
	fprintf(f, "      exclude_namespaces: [");
	for (i = 0; i < c->webhook.exclude_namespaces.n; i++) {
		fprintf(f, "%s", i > 0 ? ", " : "");
		yq(f, c->webhook.exclude_namespaces.v[i]);
	}
	fprintf(f, "]\n      label_keys: [");
	for (i = 0; i < c->webhook.label_keys.n; i++) {
		fprintf(f, "%s", i > 0 ? ", " : "");
		yq(f, c->webhook.label_keys.v[i]);
	}
	fprintf(f, "]\n    log:\n      format: json\n");
}

static void
print_all(FILE *f, const struct mf *m)
{
	const char *ns = m->ns;
	size_t i;

	fprintf(f, "# Generated by barged manifests %s.  Holds a private key: do not commit.\n",
	        BARGE_VERSION);
	/* Namespace: opted out of the swap; hostPath needs the privileged Pod Security level. */
	fprintf(f,
	        "---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: \"%s\"\n"
	        "  labels:\n    %s: \"disable\"\n"
	        "    pod-security.kubernetes.io/enforce: \"privileged\"\n",
	        ns, MANIFESTS_LABEL);
	fprintf(f,
	        "---\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: barged\n"
	        "  namespace: \"%s\"\nautomountServiceAccountToken: false\n",
	        ns);
	fprintf(f,
	        "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: barged\n"
	        "  namespace: \"%s\"\ndata:\n  barged.yaml: |\n",
	        ns);
	print_config(f, m);
	fprintf(f,
	        "---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: barged-tls\n"
	        "  namespace: \"%s\"\ntype: kubernetes.io/tls\ndata:\n"
	        "  tls.crt: %s\n  tls.key: %s\n  ca.crt: %s\n",
	        ns, m->cert_b64, m->key_b64, m->ca_b64);

	/*
	 * Root without any capability: enough to own files in the hostPath
	 * store (created root-owned), nothing more.  See docs/operations.md.
	 * The Secret's defaultMode 256 is 0400: YAML 1.1 (kubectl) and 1.2 read
	 * a leading 0 differently, decimal they read alike.
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
	        "      tolerations:\n      - operator: Exists\n"
	        "      securityContext:\n        runAsUser: 0\n        runAsGroup: 0\n"
	        "        runAsNonRoot: false\n        seccompProfile:\n"
	        "          type: RuntimeDefault\n"
	        "      containers:\n      - name: barged\n        image: ",
	        ns, MANIFESTS_LABEL);
	yq(f, m->image);
	fprintf(f,
	        "\n        imagePullPolicy: IfNotPresent\n"
	        "        args: [\"serve\", \"--config\", \"/etc/barge/barged.yaml\"]\n"
	        "        ports:\n        - name: https\n          containerPort: %d\n"
	        "          protocol: TCP\n"
	        "        livenessProbe:\n          httpGet:\n            path: /healthz\n"
	        "            port: https\n            scheme: HTTPS\n"
	        "          periodSeconds: 10\n          failureThreshold: 3\n"
	        "        readinessProbe:\n          httpGet:\n            path: /readyz\n"
	        "            port: https\n            scheme: HTTPS\n"
	        "          periodSeconds: 5\n"
	        "        resources:\n          requests:\n            cpu: 50m\n"
	        "            memory: 64Mi\n"
	        "        securityContext:\n          readOnlyRootFilesystem: true\n"
	        "          allowPrivilegeEscalation: false\n          privileged: false\n"
	        "          capabilities:\n            drop: [\"ALL\"]\n"
	        "        volumeMounts:\n        - name: store\n          mountPath: "
	        "/var/lib/barge\n"
	        "        - name: config\n          mountPath: /etc/barge/barged.yaml\n"
	        "          subPath: barged.yaml\n          readOnly: true\n"
	        "        - name: tls\n          mountPath: /etc/barge/tls\n          readOnly: "
	        "true\n"
	        "        - name: tmp\n          mountPath: /tmp\n"
	        "      volumes:\n      - name: store\n        hostPath:\n"
	        "          path: /var/lib/barge\n          type: DirectoryOrCreate\n"
	        "      - name: config\n        configMap:\n          name: barged\n"
	        "      - name: tls\n        secret:\n          secretName: barged-tls\n"
	        "          defaultMode: 256\n"
	        "      - name: tmp\n        emptyDir: {}\n",
	        MANIFESTS_PORT);

	/* Local: a node's kubelet pulling 127.0.0.1:30003 reaches the barged on that node. */
	fprintf(f,
	        "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: barged\n"
	        "  namespace: \"%s\"\nspec:\n  type: NodePort\n  externalTrafficPolicy: Local\n"
	        "  selector:\n    app.kubernetes.io/name: barged\n"
	        "  ports:\n  - name: https\n    protocol: TCP\n    port: %d\n    targetPort: %d\n"
	        "    nodePort: %d\n",
	        ns, MANIFESTS_PORT, MANIFESTS_PORT, MANIFESTS_PORT);
	fprintf(f,
	        "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: %s\n"
	        "  namespace: \"%s\"\nspec:\n  type: ClusterIP\n"
	        "  selector:\n    app.kubernetes.io/name: barged\n"
	        "  ports:\n  - name: https\n    protocol: TCP\n    port: 443\n    targetPort: %d\n",
	        MANIFESTS_SVC, ns, MANIFESTS_PORT);

	fprintf(f,
	        "---\napiVersion: admissionregistration.k8s.io/v1\n"
	        "kind: MutatingWebhookConfiguration\nmetadata:\n  name: barged-imageswap\n"
	        "webhooks:\n- name: imageswap.barge.dev\n  admissionReviewVersions: [\"v1\"]\n"
	        "  clientConfig:\n    service:\n      name: %s\n      namespace: \"%s\"\n"
	        "      path: /webhook/mutate\n      port: 443\n    caBundle: %s\n"
	        "  rules:\n  - apiGroups: [\"\"]\n    apiVersions: [\"v1\"]\n"
	        "    operations: [\"CREATE\", \"UPDATE\"]\n"
	        "    resources: [\"pods\", \"pods/ephemeralcontainers\"]\n"
	        "    scope: Namespaced\n"
	        "  namespaceSelector:\n    matchExpressions:\n",
	        MANIFESTS_SVC, ns, m->ca_b64);
	print_optout(f, m, 1);
	fprintf(f, "      - key: kubernetes.io/metadata.name\n        operator: NotIn\n"
	           "        values: [");
	yq(f, ns);
	for (i = 0; i < m->c->webhook.exclude_namespaces.n; i++) {
		fprintf(f, ", ");
		yq(f, m->c->webhook.exclude_namespaces.v[i]);
	}
	fprintf(f, "]\n  objectSelector:\n    matchExpressions:\n");
	print_optout(f, m, 0);
	fprintf(f, "  failurePolicy: Ignore\n  matchPolicy: Equivalent\n  sideEffects: None\n"
	           "  timeoutSeconds: 5\n  reinvocationPolicy: IfNeeded\n");
}

int
cmd_manifests(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "advertise", required_argument, NULL, 'a' },
		{ "namespace", required_argument, NULL, 'n' },
		{ "image", required_argument, NULL, 'i' },
		{ "data-dir", required_argument, NULL, 'd' },
		{ "project", required_argument, NULL, 'P' },
		{ "policy", required_argument, NULL, 'p' },
		{ "exclude-namespace", required_argument, NULL, 'x' },
		{ "label-key", required_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	/* Flags are applied after the file, whichever order they come in. */
	struct {
		const char *key, *value;
	} sets[2 * CONFIG_LIST_MAX + 8];
	struct config c = { 0 };
	struct mf m = { .c = &c, .ns = "barge-system" };
	struct barge_err err = { 0 };
	const char *cfg = NULL, *names[4];
	char *cert = NULL, *key = NULL, *ca = NULL, *host = NULL, *image = NULL;
	char *svc = NULL, *svc_full = NULL;
	struct ref *r = NULL;
	size_t nsets = 0, i, calen;
	int ch, rc, status = 1;

	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		const char *k = NULL;

		switch (ch) {
		case 'c':
			cfg = optarg;
			break;
		case 'n':
			m.ns = optarg;
			break;
		case 'i':
			m.image = optarg;
			break;
		case 'a':
			k = "webhook.advertise";
			break;
		case 'd':
			k = "data_dir";
			break;
		case 'P':
			k = "project";
			break;
		case 'p':
			k = "webhook.policy";
			break;
		case 'x':
			k = "webhook.exclude_namespaces";
			break;
		case 'k':
			k = "webhook.label_keys";
			break;
		case 'h':
			manifests_usage(stdout);
			return 0;
		default:
			fprintf(stderr, "barged manifests: bad option '%s'\n", argv[optind - 1]);
			manifests_usage(stderr);
			return 2;
		}
		if (k != NULL) {
			if (nsets == sizeof(sets) / sizeof(sets[0])) {
				fprintf(stderr, "barged manifests: too many options\n");
				return 2;
			}
			sets[nsets].key = k;
			sets[nsets++].value = optarg;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "barged manifests: unexpected argument '%s'\n", argv[optind]);
		manifests_usage(stderr);
		return 2;
	}
	if (config_init(&c, &err) != BARGE_OK) {
		fprintf(stderr, "barged manifests: %s\n", err.msg);
		return 1;
	}
	rc = config_load_file(&c, cfg != NULL ? cfg : CONFIG_DEFAULT_PATH, &err);
	if (rc != BARGE_OK && !(rc == BARGE_ENOTFOUND && cfg == NULL)) {
		fprintf(stderr, "barged manifests: %s\n", err.msg);
		goto out;
	}
	for (i = 0; i < nsets; i++)
		if (config_set(&c, sets[i].key, sets[i].value, &err) != BARGE_OK) {
			fprintf(stderr, "barged manifests: %s\n", err.msg);
			status = 2;
			goto out;
		}
	if (config_check(&c, &err) != BARGE_OK) {
		fprintf(stderr, "barged manifests: %s\n", err.msg);
		goto out;
	}

	status = 2;
	if (!dns_label(m.ns)) {
		fprintf(stderr,
		        "barged manifests: --namespace '%s' is not a valid namespace name\n", m.ns);
		goto out;
	}
	for (i = 0; i < c.webhook.exclude_namespaces.n; i++)
		if (!dns_label(c.webhook.exclude_namespaces.v[i])) {
			fprintf(stderr,
			        "barged manifests: excluded namespace '%s' is not a valid "
			        "namespace name\n",
			        c.webhook.exclude_namespaces.v[i]);
			goto out;
		}
	for (i = 0; i < c.webhook.label_keys.n; i++)
		if (!label_key(c.webhook.label_keys.v[i])) {
			fprintf(stderr, "barged manifests: '%s' is not a valid label key\n",
			        c.webhook.label_keys.v[i]);
			goto out;
		}
	if (m.image == NULL)
		m.image = image = fu_printf("localhost/barged:%s", BARGE_VERSION);
	if (m.image == NULL)
		goto out;
	if (ref_parse(m.image, &r, &err) != BARGE_OK) {
		fprintf(stderr, "barged manifests: --image: %s\n", err.msg);
		goto out;
	}
	if (strchr(c.webhook.advertise, ':') == NULL || strchr(c.webhook.advertise, '/') != NULL) {
		fprintf(stderr, "barged manifests: advertise '%s' is not HOST:PORT\n",
		        c.webhook.advertise);
		goto out;
	}
	status = 1;

	/* The API server calls the webhook by its Service name; pullers use the advertised host. */
	host = advertise_host(c.webhook.advertise);
	svc = fu_printf("%s.%s.svc", MANIFESTS_SVC, m.ns);
	svc_full = fu_printf("%s.%s.svc.cluster.local", MANIFESTS_SVC, m.ns);
	if (host == NULL || svc == NULL || svc_full == NULL) {
		fprintf(stderr, "barged manifests: out of memory\n");
		goto out;
	}
	names[0] = svc;
	names[1] = svc_full;
	names[2] = host;
	if (tls_ensure(c.data_dir, names, 3, &cert, &key, &err) != BARGE_OK) {
		fprintf(stderr, "barged manifests: TLS certificate in %s: %s\n", c.data_dir,
		        err.msg);
		goto out;
	}
	free(host);
	host = fu_printf("%s/ca.crt", c.data_dir);
	if (host == NULL || fu_read_file(host, TLS_PEM_MAX, &ca, &calen, &err) != BARGE_OK) {
		fprintf(stderr, "barged manifests: %s\n", host != NULL ? err.msg : "out of memory");
		goto out;
	}
	m.ca_b64 = b64(ca);
	m.cert_b64 = b64(cert);
	m.key_b64 = b64(key);
	if (m.ca_b64 == NULL || m.cert_b64 == NULL || m.key_b64 == NULL) {
		fprintf(stderr, "barged manifests: out of memory\n");
		goto out;
	}
	print_all(stdout, &m);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "barged manifests: writing the output failed\n");
		goto out;
	}
	status = 0;
out:
	config_free(&c);
	ref_free(r);
	free(image);
	free(host);
	free(svc);
	free(svc_full);
	free(cert);
	free(ca);
	free(m.ca_b64);
	free(m.cert_b64);
	if (key != NULL) {
		explicit_bzero(key, strlen(key));
		free(key);
	}
	if (m.key_b64 != NULL) {
		explicit_bzero(m.key_b64, strlen(m.key_b64));
		free(m.key_b64);
	}
	return status;
}
