/*
 * cmd_config: reading barged.yaml for the verbs that take --config
 * (cmd.h).  Owns nothing; the configuration is the caller's.
 */
#include "cmd.h"
#include "config.h"
#include "log.h"

int
cmd_config_load(const char *verb, const char *path, struct config *c)
{
	struct barge_err err = { 0 };
	int rc;

	if (config_init(c, &err) != BARGE_OK) {
		log_error("barged %s: %s", verb, err.msg);
		return EXIT_FAILURE;
	}
	/* The default file may be absent; one named on the command line must exist. */
	rc = config_load_file(c, path != NULL ? path : CONFIG_DEFAULT_PATH, &err);
	if (rc != BARGE_OK && !(rc == BARGE_ENOTFOUND && path == NULL)) {
		log_error("barged %s: %s", verb, err.msg);
		return EXIT_FAILURE;
	}
	return EXIT_SUCCESS;
}
