/*
 * barge: the CI-side bundler.
 *
 *   barge resolve PROFILE... [--output-file LOCK]   pin every image to its digest
 *   barge images PROFILE...            list the images a profile names
 *   barge build PROFILE... | --locked LOCK [--base OLD] [--sign-key KEY]
 *   barge inspect BUNDLE               describe a bundle
 *   barge verify BUNDLE [--key PUB]    check a bundle's signature and every blob
 *   barge keygen --out PREFIX          make an Ed25519 signing key pair
 *   barge iso BUNDLE... --output-file ISO [--base ISO]  install media holding bundles
 *   barge split BUNDLE [--size SIZE]   parts for FAT32 sticks
 *
 * -o/--output is the format of what a verb prints (text, json, yaml) in
 * every verb; files are named with --output-file (outfmt.h).
 *
 * Exit codes: 0 success, 1 failure, 2 usage error.
 *
 * This file only dispatches: each verb is in its cmd_<verb>.c (cmd_verbs.h).
 */
#include <stdlib.h>

#include "cmd_opts.h"
#include "cmd_verbs.h"
#include "log.h"
#include "verb.h"

static const struct verb verbs[] = {
	{ "resolve", cmd_resolve, "pin a profile's images to digests in a lock file" },
	{ "images", cmd_images, "list the images profiles name (resolved or not)" },
	{ "build", cmd_build, "pull a profile's or a lock's images into a bundle" },
	{ "inspect", cmd_inspect, "describe a bundle: images, platforms, blobs, signature" },
	{ "verify", cmd_verify, "check a bundle's signature and every blob's digest" },
	{ "keygen", cmd_keygen, "make an Ed25519 key pair for signing bundles" },
	{ "iso", cmd_iso, "write an ISO image (install media) holding bundles" },
	{ "split", cmd_split, "cut a bundle into parts for FAT32 sticks" },
};

int
main(int argc, char **argv)
{
	log_init("barge", 0);
	return verb_main("barge", verbs, sizeof(verbs) / sizeof(verbs[0]), argc, argv);
}
