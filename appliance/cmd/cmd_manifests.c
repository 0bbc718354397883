/*
 * barged manifests: prints the Kubernetes objects that run barged as a
 * DaemonSet and register its image-swap webhook, or in host mode the
 * webhook registration alone (swap/k8sobj.h), for `kubectl apply -f -`.  Owns the command line and
 * the configuration it makes: barged.yaml, then the flags.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "config.h"
#include "k8sobj.h"
#include "log.h"
#include "tls.h"

static void
manifests_usage(FILE *f)
{
	fprintf(f,
	        "usage: barged manifests [--mode daemonset|host] [--config FILE]\n"
	        "                        [--advertise HOST:PORT] [--namespace NS] [--image REF]\n"
	        "                        [--webhook-url URL] [--data-dir DIR] [--project P]\n"
	        "                        [--policy present|always] [--exclude-namespace NS]...\n"
	        "                        [--label-key KEY]...\n"
	        "\n"
	        "Prints the Kubernetes objects that run barged on every node and swap pod\n"
	        "images to it: Namespace, ServiceAccount, ConfigMap, TLS Secret, DaemonSet,\n"
	        "NodePort Service (%d), webhook Service, MutatingWebhookConfiguration.\n"
	        "With --mode host (barged.service on every node), only the\n"
	        "MutatingWebhookConfiguration, calling the webhook at a URL.\n"
	        "\n"
	        "  --mode M                daemonset (the default) or host\n"
	        "  --config FILE           read settings from FILE (default %s, if present)\n"
	        "  --advertise HOST:PORT   the registry pods are swapped to (webhook.advertise)\n"
	        "  --namespace NS          barged's own namespace, never swapped (barge-system)\n"
	        "  --image REF             barged's container image (localhost/barged:%s)\n"
	        "  --webhook-url URL       host mode: where the API server calls the webhook\n"
	        "                          (https://ADVERTISE/webhook/mutate: the barged on the\n"
	        "                          API server's own node)\n"
	        "  --data-dir DIR          where the CA and server certificate are (data_dir);\n"
	        "                          created there if missing\n"
	        "  --project P             first path segment of swapped repositories (project)\n"
	        "  --policy P              present: swap only images the store holds; always\n"
	        "  --exclude-namespace NS  never swap pods of NS (repeatable)\n"
	        "  --label-key KEY         opt out namespaces and pods labelled KEY=disable too\n"
	        "                          (repeatable)\n"
	        "\n"
	        "The daemonset output holds the server's private key: pipe it to kubectl, do not\n"
	        "keep it.\n",
	        K8SOBJ_PORT, CONFIG_DEFAULT_PATH, BARGE_VERSION);
}

/* A flag that sets a configuration key, applied after the file. */
struct mf_set {
	const char *key, *value;
};

/* Reads the flags; -1 to go on, else the exit status. */
static int
manifests_args(int argc, char **argv, const char **cfg, struct k8sobj_opts *o, struct mf_set *sets,
               size_t max, size_t *nsets)
{
	static const struct option longopts[] = {
		{ "mode", required_argument, NULL, 'm' },
		{ "webhook-url", required_argument, NULL, 'u' },
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
	int ch;

	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		const char *k = NULL;

		switch (ch) {
		case 'm':
			if (strcmp(optarg, "daemonset") == 0) {
				o->mode = K8SOBJ_DAEMONSET;
			} else if (strcmp(optarg, "host") == 0) {
				o->mode = K8SOBJ_HOST;
			} else {
				log_error("barged manifests: --mode '%s' is not daemonset or host",
				          optarg);
				return EXIT_USAGE;
			}
			break;
		case 'u':
			o->webhook_url = optarg;
			break;
		case 'c':
			*cfg = optarg;
			break;
		case 'n':
			o->ns = optarg;
			break;
		case 'i':
			o->image = optarg;
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
			return EXIT_SUCCESS;
		default:
			log_error("barged manifests: bad option '%s'", argv[optind - 1]);
			manifests_usage(stderr);
			return EXIT_USAGE;
		}
		if (k != NULL) {
			if (*nsets == max) {
				log_error("barged manifests: too many options");
				return EXIT_USAGE;
			}
			sets[*nsets].key = k;
			sets[(*nsets)++].value = optarg;
		}
	}
	if (optind != argc) {
		log_error("barged manifests: unexpected argument '%s'", argv[optind]);
		manifests_usage(stderr);
		return EXIT_USAGE;
	}
	return -1;
}

int
cmd_manifests(int argc, char **argv)
{
	/* Flags are applied after the file, whichever order they come in. */
	struct mf_set sets[2 * CONFIG_LIST_MAX + 8];
	struct config c = { 0 };
	struct k8sobj_opts o = { .config = &c, .ensure_cert = tls_ensure };
	struct barge_err err = { 0 };
	const char *cfg = NULL;
	size_t nsets = 0, i;
	int status;

	if ((status = manifests_args(argc, argv, &cfg, &o, sets, sizeof(sets) / sizeof(sets[0]),
	                             &nsets)) >= 0)
		return status;
	if ((status = cmd_config_load("manifests", cfg, &c)) != EXIT_SUCCESS)
		goto out;
	status = EXIT_USAGE;
	for (i = 0; i < nsets; i++)
		if (config_set(&c, sets[i].key, sets[i].value, &err) != BARGE_OK) {
			log_error("barged manifests: %s", err.msg);
			goto out;
		}
	status = EXIT_FAILURE;
	if (config_check(&c, &err) != BARGE_OK) {
		log_error("barged manifests: %s", err.msg);
		goto out;
	}
	status = EXIT_USAGE;
	if (k8sobj_check(&o, &err) != BARGE_OK) {
		log_error("barged manifests: %s", err.msg);
		goto out;
	}
	status = EXIT_FAILURE;
	if (k8sobj_write(stdout, &o, &err) != BARGE_OK) {
		log_error("barged manifests: %s", err.msg);
		goto out;
	}
	status = EXIT_SUCCESS;
out:
	config_free(&c);
	return status;
}
