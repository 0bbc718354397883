/*
 * cmd: the verbs of the barged program.  Each takes the arguments after the
 * verb (argv[0] is the verb itself) and returns the process exit status:
 * 0 success, 1 failure, 2 usage error.
 */
#ifndef BARGE_CMD_H
#define BARGE_CMD_H

int cmd_load(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_token(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_rm(int argc, char **argv);
int cmd_gc(int argc, char **argv);
int cmd_fsck(int argc, char **argv);
int cmd_manifests(int argc, char **argv);
int cmd_mirror_config(int argc, char **argv);

#endif
