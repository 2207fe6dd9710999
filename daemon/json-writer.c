/* SPDX-License-Identifier: MIT */
#include "json-writer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "utf8.h"

/* Room for n more bytes and a NUL; false (and the writer failed) when there is none. */
static bool reserve(JsonWriter *w, size_t n) {
        if (w->failed)
                return false;
        if (w->allocated - w->size > n)
                return true;
        size_t want = MAX(w->allocated * 2, w->size + n + 1);
        want = MAX(want, (size_t) 256);
        char *d = realloc(w->data, want);
        if (!d) {
                w->failed = true;
                return false;
        }
        w->data = d;
        w->allocated = want;
        return true;
}

static void put(JsonWriter *w, const char *s, size_t n) {
        if (!reserve(w, n))
                return;
        memcpy(w->data + w->size, s, n);
        w->size += n;
        w->data[w->size] = '\0';
}

static void put_char(JsonWriter *w, char c) {
        put(w, &c, 1);
}

/* Before any value or key: the comma that separates it from the previous one. */
static void separate(JsonWriter *w) {
        if (w->after_key)
                w->after_key = false;
        else if (w->need_comma)
                put_char(w, ',');
}

void json_object_begin(JsonWriter *w) {
        separate(w);
        put_char(w, '{');
        w->need_comma = false;
}

void json_object_end(JsonWriter *w) {
        put_char(w, '}');
        w->need_comma = true;
}

void json_array_begin(JsonWriter *w) {
        separate(w);
        put_char(w, '[');
        w->need_comma = false;
}

void json_array_end(JsonWriter *w) {
        put_char(w, ']');
        w->need_comma = true;
}

/* Bytes written as they are: printable ASCII but the quote and the backslash. */
static const bool plain[256] = {
        [0x20 ... '"' - 1] = true,
        ['"' + 1 ... '\\' - 1] = true,
        ['\\' + 1 ... 0x7f] = true,
};

void json_string_len(JsonWriter *w, const char *s, size_t size) {
        static const char hex[] = "0123456789abcdef";
        const unsigned char *p = (const unsigned char *) s;

        separate(w);
        if (!s) {
                put(w, "null", 4);
                w->need_comma = true;
                return;
        }
        /* the worst case, a \u00XX for every byte, so that the loop below never reallocates */
        if (size > (SIZE_MAX - 2) / 6 || !reserve(w, size * 6 + 2))
                return (void) (w->failed = true);
        char *out = w->data + w->size;
        *out++ = '"';
        for (size_t i = 0; i < size;) {
                size_t run = i;
                while (run < size && plain[p[run]])
                        run++;
                memcpy(out, p + i, run - i);
                out += run - i;
                if ((i = run) == size)
                        break;

                unsigned char c = p[i];
                uint32_t code_point;
                size_t n = c >= 0x80 ? utf8_decode((const char *) p + i, size - i, &code_point) : 1;
                if (c >= 0x80 && n > 0) {
                        memcpy(out, p + i, n);
                        out += n;
                        i += n;
                        continue;
                }
                *out++ = '\\';
                switch (c) {
                case '"':
                case '\\':
                        *out++ = (char) c;
                        break;
                case '\n':
                        *out++ = 'n';
                        break;
                case '\t':
                        *out++ = 't';
                        break;
                case '\r':
                        *out++ = 'r';
                        break;
                default:
                        if (c < 0x20) {
                                memcpy(out, "u00", 3);
                                out += 3;
                        } else { /* not UTF-8: the text \xNN, whose backslash JSON escapes too */
                                memcpy(out, "\\x", 2);
                                out += 2;
                        }
                        *out++ = hex[c >> 4];
                        *out++ = hex[c & 15];
                }
                i++;
        }
        *out++ = '"';
        *out = '\0';
        w->size = (size_t) (out - w->data);
        w->need_comma = true;
}

void json_string(JsonWriter *w, const char *s) {
        json_string_len(w, s, s ? strlen(s) : 0);
}

/* Digits (after a '-' when negative) written backwards from the end of buf; returns their start. */
static char *format_integer(uint64_t magnitude, bool negative, char buf[static 24]) {
        char *p = buf + 24;
        do
                *--p = (char) ('0' + magnitude % 10);
        while ((magnitude /= 10) > 0);
        if (negative)
                *--p = '-';
        return p;
}

static void put_integer(JsonWriter *w, uint64_t magnitude, bool negative) {
        char buf[24], *p = format_integer(magnitude, negative, buf);
        separate(w);
        put(w, p, (size_t) (buf + sizeof buf - p));
        w->need_comma = true;
}

void json_u64(JsonWriter *w, uint64_t v) {
        put_integer(w, v, false);
}

void json_i64(JsonWriter *w, int64_t v) {
        put_integer(w, v < 0 ? -(uint64_t) v : (uint64_t) v, v < 0);
}

void json_bool(JsonWriter *w, bool v) {
        separate(w);
        put(w, v ? "true" : "false", v ? 4 : 5);
        w->need_comma = true;
}

void json_null(JsonWriter *w) {
        separate(w);
        put(w, "null", 4);
        w->need_comma = true;
}

void json_raw(JsonWriter *w, const char *json, size_t size) {
        separate(w);
        put(w, json, size);
        w->need_comma = true;
}

void json_key(JsonWriter *w, const char *key) {
        size_t n = strlen(key);
        separate(w);
        if (!reserve(w, n + 3))
                return;
        char *out = w->data + w->size;
        out[0] = '"';
        memcpy(out + 1, key, n);
        memcpy(out + 1 + n, "\":", 3); /* and the NUL */
        w->size += n + 3;
        w->after_key = true;
}

void json_key_string(JsonWriter *w, const char *key, const char *s) {
        json_key(w, key);
        json_string(w, s);
}

void json_key_u64(JsonWriter *w, const char *key, uint64_t v) {
        json_key(w, key);
        json_u64(w, v);
}

void json_key_bool(JsonWriter *w, const char *key, bool v) {
        json_key(w, key);
        json_bool(w, v);
}

void json_end_line(JsonWriter *w) {
        put_char(w, '\n');
        w->need_comma = false;
}

int json_writer_steal(JsonWriter *w, char **ret_data, size_t *ret_size) {
        if (w->failed || !reserve(w, 0)) {
                json_writer_done(w);
                return -ENOMEM;
        }
        *ret_data = w->data;
        *ret_size = w->size;
        *w = (JsonWriter){};
        return 0;
}

void json_writer_done(JsonWriter *w) {
        free(w->data);
        *w = (JsonWriter){};
}
