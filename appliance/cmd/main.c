/*
 * barged: the edge-side daemon and its CLI.  main only picks the verb
 * (cmd.h) and returns its exit status; it owns the table of verbs.
 */
#include <stdlib.h>

#include "cmd.h"
#include "log.h"
#include "verb.h"

static const struct verb verbs[] = {
	{ "load", cmd_load, "load a bundle into the store" },
	{ "serve", cmd_serve, "serve the registry over HTTPS" },
	{ "token", cmd_token, "create, list and remove read-only pull tokens" },
	{ "passwd", cmd_passwd, "set the admin password (SIGHUP makes barged serve use it)" },
	{ "ls", cmd_ls, "list the images or bundles in the store" },
	{ "rm", cmd_rm, "remove a bundle and unpin its images" },
	{ "gc", cmd_gc, "remove what no tag, bundle or upload holds" },
	{ "fsck", cmd_fsck, "re-hash every blob, check every reference" },
	{ "sync", cmd_sync, "copy every bundle, image and tag a peer barged holds" },
	{ "manifests", cmd_manifests, "print the Kubernetes objects that deploy barged" },
	{ "mirror-config", cmd_mirror_config, "write containerd or CRI-O mirror configuration" },
	{ "webhook", cmd_webhook,
	  "webhook test: show what the image-swap webhook does with a pod" },
};

int
main(int argc, char **argv)
{
	log_init("barged", 0);
	return verb_main("barged", verbs, sizeof(verbs) / sizeof(verbs[0]), argc, argv);
}
