/* SPDX-License-Identifier: MIT */
#include "http-error.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "json-util.h"
#include "macro.h"

/* ---------------------------------------------------------------- one clean line of bounded length */

typedef struct Line {
        char buf[HTTP_MESSAGE_MAX + sizeof "…"];
        size_t len;
        bool blank;     /* whitespace was seen since the last character kept */
        bool truncated; /* something did not fit */
} Line;

/* Length of the valid UTF-8 sequence at s (of n bytes), or 0: no overlongs, surrogates or > U+10FFFF. */
static size_t utf8_sequence(const unsigned char *s, size_t n) {
        size_t len = s[0] < 0x80                    ? 1
                     : s[0] >= 0xc2 && s[0] <= 0xdf ? 2
                     : (s[0] & 0xf0) == 0xe0        ? 3
                     : s[0] >= 0xf0 && s[0] <= 0xf4 ? 4
                                                    : 0;
        if (len == 0 || len > n)
                return 0;
        for (size_t i = 1; i < len; i++)
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
        if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] > 0x9f) ||
            (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] > 0x8f))
                return 0;
        return len;
}

/* Appends text: every run of whitespace and control characters becomes one space, invalid UTF-8 a '?'. */
static void line_add(Line *l, const char *text, size_t n) {
        const unsigned char *s = (const unsigned char *) text;

        for (size_t i = 0; i < n && !l->truncated;) {
                size_t len = utf8_sequence(s + i, n - i);
                const char *piece = len ? (const char *) s + i : "?";

                if (len == 1 && (s[i] <= ' ' || s[i] == 0x7f)) {
                        l->blank = l->len > 0;
                        i++;
                        continue;
                }
                if (l->len + l->blank + MAX(len, (size_t) 1) > HTTP_MESSAGE_MAX) {
                        memcpy(l->buf + l->len, "…", sizeof "…");
                        l->len += sizeof "…" - 1;
                        l->truncated = true;
                        break;
                }
                if (l->blank)
                        l->buf[l->len++] = ' ';
                l->blank = false;
                memcpy(l->buf + l->len, piece, MAX(len, (size_t) 1));
                l->len += MAX(len, (size_t) 1);
                i += MAX(len, (size_t) 1);
        }
        l->buf[l->len] = '\0';
}

static void line_adds(Line *l, const char *s) {
        line_add(l, s, strlen(s));
}

/* ---------------------------------------------------------------- JSON */

static const char *json_string(const cJSON *object, const char *key) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(object, key);
        return cJSON_IsString(v) && v->valuestring[0] != '\0' ? v->valuestring : NULL;
}

/* FastAPI's [{ "loc": ["body", "name"], "msg": "field required" }, ...] or Fusion's
 * [{ "field": "id", "error": "required" }, ...] as "body.name: field required; id: required". */
static void add_error_list(Line *l, const cJSON *list) {
        const cJSON *item, *part;
        bool any = false;

        cJSON_ArrayForEach(item, list) {
                const char *msg = json_string(item, "msg") ?: json_string(item, "error"),
                           *field = json_string(item, "field");
                const cJSON *loc = cJSON_GetObjectItemCaseSensitive(item, "loc"),
                            *path = cJSON_IsArray(loc) ? loc : NULL;
                bool named = false;
                char number[32];

                if (!msg)
                        continue;
                line_adds(l, any ? "; " : "");
                cJSON_ArrayForEach(part, path) {
                        if (cJSON_IsString(part)) {
                                line_adds(l, named ? "." : "");
                                line_adds(l, part->valuestring);
                                named = true;
                        } else if (cJSON_IsNumber(part)) {
                                snprintf(number, sizeof number, "%s%g", named ? "." : "", part->valuedouble);
                                line_adds(l, number);
                                named = true;
                        }
                }
                if (!named && field) {
                        line_adds(l, field);
                        named = true;
                }
                line_adds(l, named ? ": " : "");
                line_adds(l, msg);
                any = true;
        }
}

/* The explanation in a JSON reply, if it has one. */
static bool add_json(Line *l, const cJSON *j, unsigned depth) {
        static const char *const heads[] = { "message", "errormsg",         "error_description",
                                             "title",   "localizedMessage", "httpStatusMessage",
                                             "error" };
        const char *head = NULL;

        if (cJSON_IsString(j) && j->valuestring[0] != '\0') {
                line_adds(l, j->valuestring);
                return true;
        }
        if (!cJSON_IsObject(j))
                return false;
        for (size_t i = 0; i < ELEMENTSOF(heads) && !head; i++)
                head = json_string(j, heads[i]);
        /* Google-style {"error": {"code": 403, "message": "..."}} */
        if (!head && depth == 0 && cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(j, "error")))
                return add_json(l, cJSON_GetObjectItemCaseSensitive(j, "error"), depth + 1);

        /* what comes after the head: a detail string, or a list of validation errors */
        Line tail = {};
        const char *detail = json_string(j, "detail") ?: json_string(j, "details");
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(j, "detail");
        if (!cJSON_IsArray(list))
                list = cJSON_GetObjectItemCaseSensitive(j, "validationErrors");
        if (detail && !(head && strcmp(detail, head) == 0))
                line_adds(&tail, detail);
        else if (cJSON_IsArray(list))
                add_error_list(&tail, list);

        if (!head && tail.len == 0)
                return false;
        line_adds(l, head ?: "");
        line_adds(l, head && tail.len > 0 ? ": " : "");
        line_adds(l, tail.buf);
        return true;
}

/* ---------------------------------------------------------------- other bodies */

/* Whether the n bytes at s begin with prefix, in any case. */
static bool has_prefix_nocase(const char *s, size_t n, const char *prefix) {
        size_t len = strlen(prefix);
        return s && n >= len && strncasecmp(s, prefix, len) == 0;
}

static bool contains_nocase(const char *s, const char *part) {
        return s && strcasestr(s, part);
}

/* The text between <tag> and </tag>, if both are in body. */
static bool xml_element(const char *body, size_t size, const char *tag, const char **ret, size_t *ret_len) {
        char open[32], close[32];
        snprintf(open, sizeof open, "<%s>", tag);
        snprintf(close, sizeof close, "</%s>", tag);
        const char *start = memmem(body, size, open, strlen(open));
        if (!start)
                return false;
        start += strlen(open);
        const char *end = memmem(start, size - (size_t) (start - body), close, strlen(close));
        if (!end || end == start)
                return false;
        *ret = start;
        *ret_len = (size_t) (end - start);
        return true;
}

/* S3 and GCS, which serve signed URLs: <Error><Code>AccessDenied</Code><Message>...</Message></Error> */
static bool add_xml(Line *l, const char *body, size_t size) {
        const char *code, *message;
        size_t code_len, message_len;
        bool has_code = xml_element(body, size, "Code", &code, &code_len),
             has_message = xml_element(body, size, "Message", &message, &message_len);

        if (has_code)
                line_add(l, code, code_len);
        if (has_code && has_message)
                line_adds(l, ": ");
        if (has_message)
                line_add(l, message, message_len);
        return has_code || has_message;
}

static const char *first_visible(const char *body, size_t size) {
        size_t i = 0;
        while (i < size && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' || body[i] == '\n'))
                i++;
        return i < size ? body + i : NULL;
}

static bool add_body(Line *l, const HttpErrorReply *r) {
        const char *ct = r->content_type, *start = first_visible(r->body, r->body_size);
        _cleanup_(json_freep) cJSON *j = NULL;

        if (!start)
                return false;
        size_t left = r->body_size - (size_t) (start - r->body);
        bool html = has_prefix_nocase(start, left, "<!doctype") || has_prefix_nocase(start, left, "<html");
        if (contains_nocase(ct, "json") || (!ct && (*start == '{' || *start == '"')))
                j = cJSON_ParseWithLength(r->body, r->body_size);
        if (j && add_json(l, j, 0))
                return true;
        if (cJSON_IsObject(j)) { /* the SDK shows such a body whole, and so do we (blanks collapsed) */
                line_add(l, r->body, r->body_size);
                return true;
        }
        if (j) /* an array, a number: nothing a human would read as a reason */
                return false;
        if (!html && (contains_nocase(ct, "xml") || (!ct && *start == '<')))
                return add_xml(l, r->body, r->body_size);
        /* text (or a "JSON" reply that is not), but not an HTML error page (its status says as much) and
         * not binary */
        if ((ct && !has_prefix_nocase(ct, strlen(ct), "text/") && !contains_nocase(ct, "json")) ||
            contains_nocase(ct, "html") || *start == '<' || memchr(r->body, '\0', r->body_size))
                return false;
        line_add(l, r->body, r->body_size);
        return true;
}

/* x-fused-metadata of a UDF that raised: {"errormsg": "...", "lineno": 3, "exception": "...", ...} */
static bool add_fused_metadata(Line *l, const char *header) {
        _cleanup_(json_freep) cJSON *j = cJSON_Parse(header);
        const char *msg = json_string(j, "errormsg"), *exception = json_string(j, "exception");
        const cJSON *lineno = cJSON_GetObjectItemCaseSensitive(j, "lineno");
        char where[48];

        if (msg) {
                line_adds(l, msg);
                if (cJSON_IsNumber(lineno)) {
                        snprintf(where, sizeof where, " (line %d)", lineno->valueint);
                        line_adds(l, where);
                }
                return true;
        }
        if (exception) {
                line_adds(l, exception);
                return true;
        }
        return false;
}

bool http_error_udf_raised(const char *fused_metadata) {
        _cleanup_(json_freep) cJSON *j = fused_metadata ? cJSON_Parse(fused_metadata) : NULL;
        return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "has_exception"));
}

static bool add_text(Line *l, const char *text) {
        line_adds(l, text);
        return l->len > 0;
}

const char *http_status_reason(long status) {
        static const struct {
                long status;
                const char *reason;
        } reasons[] = {
                { 400, "Bad Request" },
                { 401, "Unauthorized" },
                { 402, "Payment Required" },
                { 403, "Forbidden" },
                { 404, "Not Found" },
                { 405, "Method Not Allowed" },
                { 406, "Not Acceptable" },
                { 408, "Request Timeout" },
                { 409, "Conflict" },
                { 410, "Gone" },
                { 411, "Length Required" },
                { 412, "Precondition Failed" },
                { 413, "Content Too Large" },
                { 414, "URI Too Long" },
                { 415, "Unsupported Media Type" },
                { 422, "Unprocessable Content" },
                { 423, "Locked" },
                { 425, "Too Early" },
                { 428, "Precondition Required" },
                { 429, "Too Many Requests" },
                { 431, "Request Header Fields Too Large" },
                { 451, "Unavailable For Legal Reasons" },
                { 500, "Internal Server Error" },
                { 501, "Not Implemented" },
                { 502, "Bad Gateway" },
                { 503, "Service Unavailable" },
                { 504, "Gateway Timeout" },
                { 505, "HTTP Version Not Supported" },
                { 507, "Insufficient Storage" },
                { 511, "Network Authentication Required" },
        };
        for (size_t i = 0; i < ELEMENTSOF(reasons); i++)
                if (reasons[i].status == status)
                        return reasons[i].reason;
        return NULL;
}

int http_error_message(const HttpErrorReply *reply, char **ret_message) {
        Line l = {};
        const char *reason = http_status_reason(reply->status);
        char *message;
        bool found = (reply->fused_metadata && add_fused_metadata(&l, reply->fused_metadata)) ||
                     (reply->fused_error && add_text(&l, reply->fused_error)) ||
                     (reply->body && add_body(&l, reply));
        int r;

        if (found && l.len > 0)
                r = asprintf(&message, "HTTP %ld: %s", reply->status, l.buf);
        else if (reason)
                r = asprintf(&message, "HTTP %ld %s", reply->status, reason);
        else
                r = asprintf(&message, "HTTP %ld", reply->status);
        if (r < 0)
                return -ENOMEM;
        *ret_message = message;
        return 0;
}

int http_error_json_message(const cJSON *error, char **ret_message) {
        Line l = {};
        if (!add_json(&l, error, 0) || l.len == 0)
                return -ENOENT;
        char *message = strdup(l.buf);
        if (!message)
                return -ENOMEM;
        *ret_message = message;
        return 0;
}

/* ---------------------------------------------------------------- URLs */

char *http_url_redact(const char *url) {
        const char *scheme_end = strstr(url, "://"), *authority, *host, *rest, *secret;
        char *r;

        /* only the part before any query or fragment can be a scheme separator */
        if (scheme_end && scheme_end > url + strcspn(url, "?#"))
                scheme_end = NULL;
        authority = scheme_end ? scheme_end + 3 : url;
        rest = authority + (scheme_end ? strcspn(authority, "/?#") : 0);
        host = authority;
        for (const char *p = authority; p < rest; p++)
                if (*p == '@')
                        host = p + 1;
        secret = rest + strcspn(rest, "?#");
        if (asprintf(&r, "%.*s%.*s%s", (int) (authority - url), url, (int) (secret - host), host,
                     *secret ? "?[redacted]" : "") < 0)
                return NULL;
        return r;
}
