/* SPDX-License-Identifier: MIT */
#include "s3-url.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool is_lower_alnum(char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool bucket_valid(const char *b, size_t n) {
        if (n < 1 || n > 222 || !is_lower_alnum(b[0]) || !is_lower_alnum(b[n - 1]))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!is_lower_alnum(b[i]) && b[i] != '.' && b[i] != '-' && b[i] != '_')
                        return false;
        return true;
}

/* Valid UTF-8 without control characters (C0, DEL, C1). */
static bool text_valid(const char *s) {
        const unsigned char *p = (const unsigned char *) s;
        while (*p) {
                unsigned c = *p, n;
                uint32_t cp;
                if (c < 0x80) {
                        if (c < 0x20 || c == 0x7f)
                                return false;
                        p++;
                        continue;
                }
                if (c >= 0xc2 && c <= 0xdf)
                        n = 1, cp = c & 0x1f;
                else if (c >= 0xe0 && c <= 0xef)
                        n = 2, cp = c & 0x0f;
                else if (c >= 0xf0 && c <= 0xf4)
                        n = 3, cp = c & 0x07;
                else
                        return false;
                for (unsigned i = 1; i <= n; i++) {
                        if ((p[i] & 0xc0) != 0x80)
                                return false;
                        cp = cp << 6 | (p[i] & 0x3f);
                }
                if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
                    (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp < 0xa0))
                        return false;
                p += n + 1;
        }
        return true;
}

/* Whether a segment of the key is "." or "..". */
static bool has_dot_segment(const char *key) {
        for (const char *s = key;;) {
                size_t n = strcspn(s, "/");
                if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
                        return true;
                if (s[n] == '\0')
                        return false;
                s += n + 1;
        }
}

int s3_url_parse(const char *url, const char *scheme, char **ret_bucket, char **ret_key) {
        size_t n = strlen(scheme);
        const char *bucket, *slash;
        char *b, *k;

        if (strncasecmp(url, scheme, n) != 0 || strncmp(url + n, "://", 3) != 0)
                return -EINVAL;
        bucket = url + n + 3;
        slash = strchr(bucket, '/');
        size_t bucket_len = slash ? (size_t) (slash - bucket) : strlen(bucket);
        const char *key = slash ? slash + 1 : "";
        if (!bucket_valid(bucket, bucket_len) || strlen(key) > S3_KEY_MAX || !text_valid(key) ||
            has_dot_segment(key))
                return -EINVAL;
        if (!(b = strndup(bucket, bucket_len)))
                return -ENOMEM;
        if (!(k = strdup(key))) {
                free(b);
                return -ENOMEM;
        }
        *ret_bucket = b;
        *ret_key = k;
        return 0;
}

char *s3_uri_encode(const char *s, bool keep_slash) {
        static const char hex[] = "0123456789ABCDEF";
        char *out = malloc(strlen(s) * 3 + 1), *o = out;
        if (!out)
                return NULL;
        for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
                unsigned char c = *p;
                if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                    c == '_' || c == '.' || c == '~' || (c == '/' && keep_slash))
                        *o++ = (char) c;
                else {
                        *o++ = '%';
                        *o++ = hex[c >> 4];
                        *o++ = hex[c & 15];
                }
        }
        *o = '\0';
        return out;
}

void s3_endpoint_done(S3Endpoint *e) {
        free(e->host);
        free(e->port);
        *e = (S3Endpoint){};
}

int s3_endpoint_parse(const char *url, S3Endpoint *ret) {
        S3Endpoint e = {};
        const char *host, *end, *port = NULL;

        if (strncasecmp(url, "https://", 8) == 0)
                e.https = true, host = url + 8;
        else if (strncasecmp(url, "http://", 7) == 0)
                host = url + 7;
        else
                return -EINVAL;
        if (host[0] == '[') { /* [::1]:9000 */
                end = strchr(host, ']');
                if (!end || end == host + 1)
                        return -EINVAL;
                end++;
        } else {
                end = host + strcspn(host, ":/");
                if (end == host)
                        return -EINVAL;
                for (const char *p = host; p < end; p++)
                        if (!is_lower_alnum((char) (*p | 0x20)) && *p != '.' && *p != '-')
                                return -EINVAL;
        }
        if (*end == ':') {
                port = end;
                end = port + 1 + strspn(port + 1, "0123456789");
                long v = strtol(port + 1, NULL, 10);
                if (end == port + 1 || end - port > 6 || v < 1 || v > 65535)
                        return -EINVAL;
        }
        if (!(end[0] == '\0' || (end[0] == '/' && end[1] == '\0')))
                return -EINVAL; /* a path, a query, user info: nothing an endpoint has */
        size_t host_len = (size_t) ((port ? port : end) - host);
        if (!(e.host = strndup(host, host_len)) ||
            !(e.port = port ? strndup(port, (size_t) (end - port)) : strdup(""))) {
                s3_endpoint_done(&e);
                return -ENOMEM;
        }
        for (char *p = e.host; *p; p++)
                if (*p >= 'A' && *p <= 'Z')
                        *p = (char) (*p | 0x20);
        *ret = e;
        return 0;
}

void s3_target_done(S3Target *t) {
        free(t->url);
        free(t->host);
        free(t->path);
        *t = (S3Target){};
}

int s3_target(const S3Endpoint *e, bool path_style, const char *bucket, const char *key, const char *query,
              S3Target *ret) {
        S3Target t = {};
        char *encoded = s3_uri_encode(key, true);
        int r = -ENOMEM;

        if (!encoded)
                return -ENOMEM;
        /* a bucket name cannot go before an IP address, and a wildcard TLS certificate cannot cover one
         * with a '.' in its name */
        path_style = path_style || strchr(bucket, '.') || e->host[0] == '[' ||
                     strspn(e->host, "0123456789.") == strlen(e->host);
        /* the bucket itself has no trailing slash path-style: servers canonicalize "/bucket" */
        if (path_style ? asprintf(&t.path, "/%s%s%s", bucket, key[0] ? "/" : "", encoded) < 0
                       : asprintf(&t.path, "/%s", encoded) < 0) {
                t.path = NULL;
                goto finish;
        }
        if (path_style ? asprintf(&t.host, "%s%s", e->host, e->port) < 0
                       : asprintf(&t.host, "%s.%s%s", bucket, e->host, e->port) < 0) {
                t.host = NULL;
                goto finish;
        }
        if (asprintf(&t.url, "%s://%s%s%s%s", e->https ? "https" : "http", t.host, t.path, query ? "?" : "",
                     query ? query : "") < 0) {
                t.url = NULL;
                goto finish;
        }
        *ret = t;
        t = (S3Target){};
        r = 0;
finish:
        s3_target_done(&t);
        free(encoded);
        return r;
}
