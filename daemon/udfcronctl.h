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
