/* SPDX-License-Identifier: MIT */
/*
 * Drives daemon/journal.c for tests/integration/test_journal.py, without the
 * daemon: writes the records a script on stdin describes, through the target
 * named by the only argument (journal, stderr or auto).
 *
 * One command a line, then key=value words; every value is hex-encoded bytes,
 * so that any byte (NUL, newline, invalid UTF-8) can be passed, and secrets
 * travel through stdin, never through argv (journald records _CMDLINE):
 *
 *   secret value=HEX
 *   log priority=HEX message=HEX
 *   event event=HEX message=HEX [RUN]
 *   output stream=HEX line=HEX [remote=HEX] [RUN]
 *   RUN: schedule= run_id= engine= job_id= attempt= scheduled= duration= next= exit= task=
 *
 * Numbers are decimal text before hex encoding. Exits 0, or 2 on a bad script.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "journal.h"

#define ARGS_MAX 16

typedef struct Arg {
        char key[32];
        char *value; /* decoded, NUL-terminated (a value may also contain NULs: see size) */
        size_t size;
} Arg;

typedef struct Args {
        Arg arg[ARGS_MAX];
        size_t n;
} Args;

static void args_done(Args *a) {
        for (size_t i = 0; i < a->n; i++)
                free(a->arg[i].value);
}

static int unhex(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

/* Splits "key=HEX key=HEX ..." into decoded arguments. */
static int args_parse(char *words, Args *ret) {
        for (char *w = strtok(words, " "); w; w = strtok(NULL, " ")) {
                char *eq = strchr(w, '=');
                size_t hexlen = eq ? strlen(eq + 1) : 0;
                if (!eq || (size_t) (eq - w) >= sizeof ret->arg[0].key || hexlen % 2 != 0 ||
                    ret->n >= ARGS_MAX)
                        return -EINVAL;
                Arg *a = &ret->arg[ret->n];
                a->value = malloc(hexlen / 2 + 1);
                if (!a->value)
                        return -ENOMEM;
                ret->n++;
                memcpy(a->key, w, (size_t) (eq - w));
                a->key[eq - w] = '\0';
                for (size_t i = 0; i < hexlen / 2; i++) {
                        int hi = unhex(eq[1 + 2 * i]), lo = unhex(eq[2 + 2 * i]);
                        if (hi < 0 || lo < 0)
                                return -EINVAL;
                        a->value[i] = (char) (hi << 4 | lo);
                }
                a->size = hexlen / 2;
                a->value[a->size] = '\0';
        }
        return 0;
}

static const Arg *arg_get(const Args *a, const char *key) {
        for (size_t i = 0; i < a->n; i++)
                if (strcmp(a->arg[i].key, key) == 0)
                        return &a->arg[i];
        return NULL;
}

static const char *arg_string(const Args *a, const char *key) {
        const Arg *arg = arg_get(a, key);
        return arg ? arg->value : NULL;
}

static unsigned long long arg_number(const Args *a, const char *key) {
        const char *v = arg_string(a, key);
        return v ? strtoull(v, NULL, 10) : 0;
}

static RunFields run_fields(const Args *a) {
        return (RunFields){
                .schedule = arg_string(a, "schedule"),
                .run_id = arg_string(a, "run_id"),
                .engine = arg_string(a, "engine"),
                .job_id = arg_string(a, "job_id"),
                .attempt = (unsigned) arg_number(a, "attempt"),
                .scheduled_usec = arg_number(a, "scheduled"),
                .duration_usec = arg_number(a, "duration"),
                .next_usec = arg_number(a, "next"),
                .has_exit_status = arg_get(a, "exit") != NULL,
                .exit_status = (int) strtol(arg_string(a, "exit") ?: "0", NULL, 10),
                .has_task = arg_get(a, "task") != NULL,
                .task = (size_t) arg_number(a, "task"),
        };
}

static int run_command(Journal *j, char *line) {
        __attribute__((cleanup(args_done))) Args args = {};
        char *words = strchr(line, ' ');
        const Arg *a;

        if (words)
                *words++ = '\0';
        int r = args_parse(words ?: (char[]){ "" }, &args);
        if (r < 0)
                return r;

        RunFields run = run_fields(&args);
        if (strcmp(line, "secret") == 0) {
                if (!(a = arg_get(&args, "value")))
                        return -EINVAL;
                return journal_add_secret(j, a->value);
        }
        if (strcmp(line, "log") == 0) {
                journal_log(j, (int) arg_number(&args, "priority"), "%s",
                            arg_string(&args, "message") ?: "");
                return 0;
        }
        if (strcmp(line, "event") == 0) {
                const char *name = arg_string(&args, "event") ?: "";
                for (int e = 0; e < _RUN_EVENT_MAX; e++)
                        if (e != RUN_EVENT_LOG && strcmp(run_event_to_string((RunEvent) e), name) == 0) {
                                journal_run_event(j, &run, (RunEvent) e, "%s",
                                                  arg_string(&args, "message") ?: "");
                                return 0;
                        }
                return -EINVAL;
        }
        if (strcmp(line, "output") == 0) {
                const char *stream = arg_string(&args, "stream") ?: "";
                if (!(a = arg_get(&args, "line")) ||
                    (strcmp(stream, "stdout") != 0 && strcmp(stream, "stderr") != 0))
                        return -EINVAL;
                journal_run_output(j, &run, strcmp(stream, "stderr") == 0, a->value, a->size,
                                   arg_number(&args, "remote"));
                return 0;
        }
        return -EINVAL;
}

int main(int argc, char **argv) {
        _cleanup_(journal_freep) Journal *j = NULL;
        _cleanup_free_ char *line = NULL;
        size_t allocated = 0;
        ssize_t n;
        JournalTarget target;

        if (argc != 2 || !(strcmp(argv[1], "journal") == 0 || strcmp(argv[1], "stderr") == 0 ||
                           strcmp(argv[1], "auto") == 0)) {
                fprintf(stderr, "usage: %s journal|stderr|auto < script\n", argv[0]);
                return 2;
        }
        target = argv[1][0] == 'j' ? JOURNAL_JOURNALD : argv[1][0] == 's' ? JOURNAL_STDERR : JOURNAL_AUTO;
        int r = journal_new(target, &j);
        if (r < 0) {
                fprintf(stderr, "journal_new: %s\n", strerror(-r));
                return 1;
        }
        for (unsigned lineno = 1; (n = getline(&line, &allocated, stdin)) > 0; lineno++) {
                if (line[n - 1] == '\n')
                        line[n - 1] = '\0';
                r = run_command(j, line);
                if (r < 0) {
                        fprintf(stderr, "stdin:%u: %s\n", lineno, strerror(-r));
                        return 2;
                }
        }
        return 0;
}
