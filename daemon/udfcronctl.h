/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * udfcronctl verbs. Each takes the verb's own argv (argv[0] is the verb) and
 * returns the process exit status.
 */

enum {
        EXIT_OK = 0,
        EXIT_FAILED = 1,     /* the operation failed */
        EXIT_USAGE = 2,      /* bad arguments, an invalid expression or zone */
        EXIT_NOT_RUNNING = 3 /* the daemon is not running */
};

int verb_next(int argc, char **argv);
int verb_check(int argc, char **argv);
int verb_history(int argc, char **argv);
int verb_logs(int argc, char **argv);
int verb_storage(int argc, char **argv);

/* Through the daemon's control socket (ctl-*.c). */
int verb_list(int argc, char **argv);
int verb_status(int argc, char **argv);
int verb_run(int argc, char **argv);
int verb_skip(int argc, char **argv);
int verb_pause(int argc, char **argv);
int verb_resume(int argc, char **argv);
int verb_cancel(int argc, char **argv);
int verb_reload(int argc, char **argv);
