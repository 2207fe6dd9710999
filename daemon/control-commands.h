/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * What each control request does to the manager, and its reply. The
 * transport (control.c) decodes the request, checks the peer's right to make
 * changes, and sends what is written here.
 */

#include <stdbool.h>
#include <sys/types.h>

#include "control-proto.h"
#include "json-writer.h"
#include "macro.h"
#include "manager.h"

typedef struct ControlCall {
        Manager *manager;
        const ControlRequest *request;
        uid_t uid; /* the peer, for the record of who cancelled what */
        pid_t pid;
        JsonWriter *reply; /* the reply object is written here (without its newline) */
        Run *follow;       /* out: run with "wait": the run whose events follow the reply */
} ControlCall;

void control_call(ControlCall *call);

/* {"ok":false,"error":{"code":...,"message":...}} */
_printf_(3, 4) void control_reply_error(JsonWriter *w, ControlError code, const char *format, ...);

/* One streamed event line's object: a run's news (RunNews), ... */
void control_write_news(JsonWriter *w, const Run *run, const RunNews *news);
/* ... or how many output lines a slow reader missed. */
void control_write_dropped(JsonWriter *w, uint64_t lines);
