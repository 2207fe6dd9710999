/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * One child process of the local engine, driven by the sd-event loop: spawned
 * with every descriptor O_CLOEXEC, in its own process group, watched through
 * a pidfd; its stdout and stderr read line by line without ever blocking the
 * loop; an optional result channel (fd 3 in the child, or its stdout) for a
 * UDF's JSON result or a command's output; killed on timeout or cancel with SIGTERM to the whole group, then
 * SIGKILL after a grace period.
 *
 * The child does not know about schedules or the journal: it reports lines
 * and its end through callbacks, and the caller decides what they mean.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct sd_event sd_event;
typedef struct Child Child;

#define CHILD_LINE_MAX   (64 * 1024)        /* longer lines are delivered in pieces of this size */
#define CHILD_RESULT_MAX (16 * 1024 * 1024) /* a larger result fails the run */

typedef struct ChildSpec {
        const char *const *argv; /* argv[0] is an absolute path or found in PATH of envp */
        const char *const *envp; /* the whole environment of the child */
        const void *input;       /* written to the child's stdin, which is then closed; may be NULL */
        size_t input_size;
        const char *working_directory; /* NULL: inherit */
        uid_t uid;                     /* (uid_t) -1: do not switch (requires root otherwise) */
        gid_t gid;
        int nice;                 /* added to the daemon's niceness */
        bool want_result;         /* open fd 3 in the child for a result */
        bool stdout_is_result;    /* with want_result: the result channel is the child's stdout, not fd 3
                                     (a command's output, byte for byte; no stdout lines are reported) */
        uint64_t timeout_usec;    /* 0: none */
        uint64_t kill_grace_usec; /* between SIGTERM and SIGKILL */
        const char *start_marker; /* NULL, or a file the child creates just before its exec (as the daemon's
                                     user): it exists only if the work may have started */
} ChildSpec;

typedef enum ChildEnd {
        CHILD_EXITED,    /* exited on its own; see exit_status */
        CHILD_SIGNALED,  /* killed by a signal it did not get from us; see signal */
        CHILD_TIMED_OUT, /* we killed it: the timeout passed */
        CHILD_CANCELLED, /* we killed it: child_cancel() */
} ChildEnd;

typedef struct ChildResult {
        ChildEnd end;
        int exit_status; /* CHILD_EXITED */
        int signal;      /* CHILD_SIGNALED, CHILD_TIMED_OUT, CHILD_CANCELLED: the fatal signal */
        pid_t pid;
        uint64_t started_usec, ended_usec; /* CLOCK_REALTIME */
        const char *result;                /* fd 3 contents (borrowed, valid during the callback), or NULL */
        size_t result_size;
        bool result_truncated; /* more than CHILD_RESULT_MAX was written */
} ChildResult;

typedef struct ChildCallbacks {
        /*
         * A piece of output: a whole line without its newline, or, for a line
         * longer than CHILD_LINE_MAX, one of its CHILD_LINE_MAX pieces with
         * `partial` set; the piece that ends a line has it clear (and may be
         * empty, when the line's length was a multiple of CHILD_LINE_MAX). A
         * last line without a newline is delivered at exit. `line` is borrowed
         * for the duration of the call and NUL-terminated after `size` bytes.
         */
        void (*output)(void *userdata, bool is_stderr, const char *line, size_t size, bool partial);
        /* The child is gone and all its output was delivered. Called once; the Child may be freed in it. */
        void (*ended)(void *userdata, const ChildResult *result);
} ChildCallbacks;

/*
 * Starts a child. `spec` and its strings are borrowed only during the call.
 * Returns 0 and *ret_child (owned by the caller; child_free() kills a child
 * that is still running and frees without calling `ended`), or a negative
 * errno when nothing could be started, exec failures included (-ENOENT for
 * a missing program, -EACCES, ...); then no callback is ever called.
 * SIGCHLD must be blocked, as sd-event requires for child sources (-EBUSY).
 */
int child_spawn(sd_event *event, const ChildSpec *spec, const ChildCallbacks *callbacks, void *userdata,
                Child **ret_child);

/* SIGTERM to the group, SIGKILL after the grace period; `ended` follows with CHILD_CANCELLED. */
int child_cancel(Child *child);

pid_t child_pid(const Child *child);
Child *child_free(Child *child);

#include "cleanup.h"
DEFINE_TRIVIAL_CLEANUP_FUNC(Child *, child_free);
