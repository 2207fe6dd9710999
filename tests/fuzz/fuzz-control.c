/* SPDX-License-Identifier: MIT */
/*
 * Fuzzes the control protocol's decoders: the daemon's request decoder, and
 * the client's decoder of replies and events. Every refusal must say why;
 * whatever request is accepted must encode and decode to the same request.
 * The same bytes go through the JSON writer as a string, which must always
 * come out as JSON that reads back (invalid UTF-8 included).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "control-proto.h"
#include "json-util.h"
#include "json-writer.h"

static bool same(const char *a, const char *b) {
        return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static void check_request(const uint8_t *data, size_t size) {
        ControlRequest req, again;
        _cleanup_free_ char *error = NULL, *line = NULL, *format_error = NULL;
        size_t n;

        int r = control_request_parse((const char *) data, size, &req, &error);
        if (r == -EINVAL && !error)
                abort(); /* every refusal says why */
        if (r < 0)
                return;
        if (control_request_format(&req, &line, &n, &format_error) < 0 ||
            control_request_parse(line, n, &again, &format_error) < 0)
                abort();
        if (again.command != req.command || !same(again.schedule, req.schedule) ||
            !same(again.run_id, req.run_id) || !same(again.params, req.params) || again.wait != req.wait)
                abort();
        control_request_done(&again);
        control_request_done(&req);
}

static void check_message(const uint8_t *data, size_t size) {
        ControlMessage m;
        _cleanup_free_ char *error = NULL;
        int r = control_message_parse((const char *) data, size, &m, &error);
        if (r == -EINVAL && !error)
                abort();
        if (r < 0)
                return;
        if (m.is_event ? !m.event : (!m.ok && (!m.error_code || !m.error_message)))
                abort();
        uint64_t v;
        bool b;
        (void) control_u64(m.root, "now_usec", &v);
        (void) control_bool(m.root, "ok", &b);
        control_message_done(&m);
}

static void check_writer(const uint8_t *data, size_t size) {
        JsonWriter w = {};
        char *text;
        size_t n;
        json_string_len(&w, (const char *) data, size);
        if (json_writer_steal(&w, &text, &n) < 0)
                return;
        _cleanup_(json_freep) cJSON *j = cJSON_ParseWithLength(text, n);
        if (!cJSON_IsString(j))
                abort();
        /* text without NUL bytes that was UTF-8 already comes back as it was */
        if (!memchr(data, '\0', size) && !strstr(text, "\\\\x") &&
            (strlen(j->valuestring) != size || memcmp(j->valuestring, data, size) != 0))
                abort();
        free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size > CONTROL_REQUEST_MAX + 16)
                return 0;
        check_request(data, size);
        check_message(data, size);
        check_writer(data, size);
        return 0;
}
