/* SPDX-License-Identifier: MIT */
#include "ingest.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"

struct IngestCall {
        PluginCall call;
        struct udfcron_ingest_step step; /* what the plugin sees, and the strings it points to */
        struct udfcron_run_info run;
        char *strings[7];
        void *job; /* the plugin's handle, once started */
        bool started, cancelled;
        IngestLog log;
        IngestDone done;
        void *userdata;
        int error; /* the plugin's answer */
        char *message, *result;
};

static IngestCall *call_of(const struct udfcron_ingest_step *step) {
        return (IngestCall *) ((char *) step - offsetof(IngestCall, step));
}

static void free_answer(PluginCall *call) {
        IngestCall *c = (IngestCall *) call;
        free(c->message);
        free(c->result);
        for (size_t i = 0; i < ELEMENTSOF(c->strings); i++)
                free(c->strings[i]);
}

static void deliver(PluginCall *call) {
        IngestCall *c = (IngestCall *) call;
        c->done(c->userdata, c->error, c->message, c->result);
}

static void on_done(void *userdata, int error, const char *message, const char *result) {
        IngestCall *c = userdata;
        if (c->call.answered) { /* a second answer is only reported */
                plugin_call_answered(&c->call);
                return;
        }
        c->error = error > 0 ? -error : error;
        if ((message && !(c->message = strdup(message))) || (result && !(c->result = strdup(result))))
                c->error = c->error < 0 ? c->error : -ENOMEM;
        plugin_call_answered(&c->call);
}

_printf_(3, 4) static void on_log(const struct udfcron_ingest_step *step, int priority, const char *format,
                                  ...) {
        IngestCall *c = call_of(step);
        _cleanup_free_ char *line = NULL;
        va_list ap;

        if (c->call.abandoned || c->call.answered)
                return; /* nobody listens, or too late: the step is over */
        va_start(ap, format);
        int r = vasprintf(&line, format, ap);
        va_end(ap);
        c->log(c->userdata, priority, r < 0 ? "(out of memory formatting a line)" : line);
}

/* Copies s into the call's strings; false on OOM. */
static bool keep(IngestCall *c, size_t i, const char *s, const char **ret) {
        if (!s) {
                *ret = NULL;
                return true;
        }
        *ret = c->strings[i] = strdup(s);
        return c->strings[i];
}

int ingest_start(PluginHost *h, PluginInstance *instance, const IngestRequest *request, IngestLog log,
                 IngestDone done, void *userdata, IngestCall **ret_call) {
        const struct udfcron_ingest_vtable *vt = plugin_instance_vtable(instance);
        IngestCall *c = plugin_call_new(h, instance, NULL, sizeof *c, deliver, free_answer);
        if (!c)
                return -ENOMEM;
        c->log = log;
        c->done = done;
        c->userdata = userdata;
        c->run = *request->run;
        c->step = (struct udfcron_ingest_step){ .run = &c->run, .options = request->options, .log = on_log };
        if (!keep(c, 0, request->run->schedule, &c->run.schedule) ||
            !keep(c, 1, request->run->run_id, &c->run.run_id) ||
            !keep(c, 2, request->run->engine, &c->run.engine) || !keep(c, 3, request->type, &c->step.type) ||
            !keep(c, 4, request->name, &c->step.name) || !keep(c, 5, request->input, &c->step.input) ||
            !keep(c, 6, request->output, &c->step.output)) {
                plugin_call_refused(&c->call);
                return -ENOMEM;
        }

        int r = vt->start(plugin_instance_context(instance), &c->step, on_done, c, &c->job);
        if (r < 0) {
                plugin_call_refused(&c->call);
                return r;
        }
        c->started = true;
        *ret_call = c;
        return 0;
}

void ingest_cancel(IngestCall *c) {
        if (!c || !c->started || c->cancelled || c->call.answered)
                return;
        c->cancelled = true;
        const struct udfcron_ingest_vtable *vt = plugin_instance_vtable(c->call.instance);
        vt->cancel(plugin_instance_context(c->call.instance), c->job);
}

IngestCall *ingest_abandon(IngestCall *c) {
        if (!c)
                return NULL;
        ingest_cancel(c);
        plugin_call_abandon(&c->call);
        return NULL;
}
