/*
 * cmd: the verbs of the barged program.  Each takes the arguments after the
 * verb (argv[0] is the verb itself) and returns the process exit status:
 * EXIT_SUCCESS (0), EXIT_FAILURE (1) or EXIT_USAGE (2).  Verbs report
 * through the logger (common/log.h); their modules never print.
 */
#ifndef BARGE_CMD_H
#define BARGE_CMD_H

#include <jansson.h>
#include <stdlib.h>

#include "outfmt.h"

#include "verb.h" /* EXIT_USAGE */

struct config;

int cmd_load(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_token(int argc, char **argv);
int cmd_passwd(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_rm(int argc, char **argv);
int cmd_gc(int argc, char **argv);
int cmd_fsck(int argc, char **argv);
int cmd_manifests(int argc, char **argv);
int cmd_mirror_config(int argc, char **argv);
int cmd_webhook(int argc, char **argv);
int cmd_sync(int argc, char **argv);

/*
 * For the verbs that read barged.yaml: fills c with the defaults and the
 * file at path, or CONFIG_DEFAULT_PATH when path is NULL (absent, it is
 * the defaults).  Logs why it failed, as "barged VERB: ...", and returns
 * EXIT_FAILURE; EXIT_SUCCESS with c to config_free either way.
 */
int cmd_config_load(const char *verb, const char *path, struct config *c);

/*
 * -o/--output, one meaning in every verb: the format of what it prints
 * (outfmt.h).  Checks arg against the formats in allowed; where the verb
 * writes something (what, with write_flag) a path given to -o is refused
 * naming that flag.  EXIT_SUCCESS, or EXIT_USAGE logged as "barged VERB: ...".
 */
int cmd_parse_output(const char *verb, const char *arg, unsigned allowed, const char *what,
                     const char *write_flag, enum outfmt *fmt);

/* Prints v (its reference taken) in fmt on stdout: EXIT_SUCCESS, or EXIT_FAILURE logged. */
int cmd_print_output(const char *verb, enum outfmt fmt, json_t *v);

#endif
