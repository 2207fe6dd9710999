/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * udfcronctl's side of the control socket, shared by the commands that talk
 * to the daemon (list, status, run, skip, pause, resume, cancel, reload):
 * connecting, one request and its reply, the lines that follow it, exit
 * statuses for what went wrong, and the formatting the commands share.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "control-proto.h"

/* The socket: --socket, else $UDFCRON_CONTROL_SOCKET, else CONTROL_SOCKET_DEFAULT. */
extern const char *ctl_socket_path;

typedef struct CtlConnection {
        int fd;
        char *buffer; /* received, not yet returned: buffer[0..size) */
        size_t size, allocated;
        char *line; /* the raw text of the last message received, NUL-terminated, for --json */
} CtlConnection;

void ctl_connection_done(CtlConnection *c);

/*
 * Connects and sends the request. On failure, prints why ("udfcronctl VERB:
 * ...") and returns the exit status: EXIT_NOT_RUNNING when no daemon listens,
 * EXIT_FAILED otherwise. EXIT_OK on success.
 */
int ctl_open(const char *verb, const ControlRequest *request, CtlConnection *ret);

/*
 * The next message (reply or event), waiting at most timeout_ms (-1:
 * forever). On failure (the daemon hung up, timed out, sent garbage) prints
 * why and returns EXIT_FAILED. A failed reply is returned as such (ok false).
 */
int ctl_receive(const char *verb, CtlConnection *c, int timeout_ms, ControlMessage *ret);

/* A failed reply on stderr: "udfcronctl VERB: message"; returns EXIT_FAILED. */
int ctl_print_failure(const char *verb, const ControlMessage *reply);

/*
 * One request, its reply: ctl_open() and ctl_receive(), and a failed reply
 * printed. EXIT_OK with *ret_reply, or the exit status.
 */
int ctl_call(const char *verb, const ControlRequest *request, ControlMessage *ret_reply, char **ret_raw);

/* Colours on `f`: only on a terminal, and never with $NO_COLOR set (https://no-color.org) or TERM=dumb. */
bool ctl_colors(FILE *f);
#define CTL_GREEN  "\033[32m"
#define CTL_RED    "\033[31m"
#define CTL_YELLOW "\033[33m"
#define CTL_GREY   "\033[90m"
#define CTL_BOLD   "\033[1m"
#define CTL_RESET  "\033[0m"
/* The colour of a run result or schedule state word ("succeeded", "paused", ...), or "". */
const char *ctl_word_color(const char *word);

/* "in 3h 12m", "45s ago", "now": from `now` to `t`, the two largest units. */
char *ctl_relative(uint64_t now_usec, uint64_t t_usec, char *buf, size_t size);
/* "1h 30m", "2.5s", "0s". */
char *ctl_duration(uint64_t usec, char *buf, size_t size);

/*
 * Parses the argv of a verb whose only options are --help and, when `json`
 * is not NULL, --json; between min_args and max_args positional arguments go
 * to ret_args[] (the rest are set to NULL). Returns CTL_PROCEED, or the exit
 * status to end with (EXIT_OK after --help, EXIT_USAGE).
 */
#define CTL_PROCEED (-1)
int ctl_parse_simple(int argc, char **argv, void (*help)(FILE *), bool *json, int min_args, int max_args,
                     char **ret_args);
