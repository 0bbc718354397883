/*
 * cmd_verbs: the verbs of the barge program, dispatched by main.c.  Each
 * takes the arguments after the verb (argv[0] is the verb itself), reports
 * through common/log.h and returns the process exit status: 0 success,
 * 1 failure, 2 usage error.
 *
 * Not cmd.h: barged's verbs have that name, and the unit tests see the
 * headers of both programs.
 */
#ifndef BARGE_CMD_VERBS_H
#define BARGE_CMD_VERBS_H

int cmd_resolve(int argc, char **argv);
int cmd_images(int argc, char **argv);
int cmd_build(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_keygen(int argc, char **argv);
int cmd_iso(int argc, char **argv);
int cmd_split(int argc, char **argv);

#endif
