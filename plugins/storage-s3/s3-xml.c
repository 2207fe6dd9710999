/* SPDX-License-Identifier: MIT */
#include "s3-xml.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ a small tree */

typedef struct Node {
        char *name; /* the local name: a prefix ("s3:Key") is dropped */
        char *text; /* the element's own character data, decoded; never NULL once parsed */
        size_t text_len;
        struct Node *children, *last_child, *next;
} Node;

typedef struct Parser {
        const char *p, *end;
} Parser;

/* `len` bytes as a string: not strndup(), since the input is no C string (nothing ends it). */
static char *text_dup(const char *s, size_t len) {
        char *t = malloc(len + 1);
        if (t) {
                memcpy(t, s, len);
                t[len] = '\0';
        }
        return t;
}

static Node *node_free(Node *n) {
        while (n) {
                Node *next = n->next;
                node_free(n->children);
                free(n->name);
                free(n->text);
                free(n);
                n = next;
        }
        return NULL;
}

static bool starts(const Parser *x, const char *s) {
        size_t n = strlen(s);
        return (size_t) (x->end - x->p) >= n && memcmp(x->p, s, n) == 0;
}

/* Moves past the next occurrence of `s`; false when there is none. */
static bool skip_past(Parser *x, const char *s) {
        size_t n = strlen(s);
        for (const char *q = x->p; (size_t) (x->end - q) >= n; q++)
                if (memcmp(q, s, n) == 0) {
                        x->p = q + n;
                        return true;
                }
        return false;
}

static bool is_space(char c) {
        return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool is_name_char(char c) {
        return !is_space(c) && c != '>' && c != '/' && c != '=' && c != '<' && c != '"' && c != '\'' &&
               c != '\0';
}

static int text_append(Node *n, const char *s, size_t len) {
        char *t = realloc(n->text, n->text_len + len + 1);
        if (!t)
                return -ENOMEM;
        memcpy(t + n->text_len, s, len);
        n->text_len += len;
        t[n->text_len] = '\0';
        n->text = t;
        return 0;
}

static int utf8_encode(uint32_t c, char out[static 4]) {
        if (c == 0 || (c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff)
                return -EBADMSG;
        if (c < 0x80) {
                out[0] = (char) c;
                return 1;
        }
        if (c < 0x800) {
                out[0] = (char) (0xc0 | c >> 6);
                out[1] = (char) (0x80 | (c & 0x3f));
                return 2;
        }
        if (c < 0x10000) {
                out[0] = (char) (0xe0 | c >> 12);
                out[1] = (char) (0x80 | ((c >> 6) & 0x3f));
                out[2] = (char) (0x80 | (c & 0x3f));
                return 3;
        }
        out[0] = (char) (0xf0 | c >> 18);
        out[1] = (char) (0x80 | ((c >> 12) & 0x3f));
        out[2] = (char) (0x80 | ((c >> 6) & 0x3f));
        out[3] = (char) (0x80 | (c & 0x3f));
        return 4;
}

/* At '&': appends what the entity stands for. */
static int entity(Parser *x, Node *n) {
        static const struct {
                const char *name, *value;
        } named[] = { { "amp;", "&" }, { "lt;", "<" }, { "gt;", ">" }, { "quot;", "\"" }, { "apos;", "'" } };
        char buf[4];

        x->p++;
        for (size_t i = 0; i < sizeof named / sizeof named[0]; i++)
                if (starts(x, named[i].name)) {
                        x->p += strlen(named[i].name);
                        return text_append(n, named[i].value, 1);
                }
        if (!starts(x, "#"))
                return -EBADMSG;
        x->p++;
        bool hex = x->p < x->end && *x->p == 'x';
        uint32_t c = 0;
        unsigned digits = 0;
        for (x->p += hex; x->p < x->end && *x->p != ';'; x->p++, digits++) {
                char d = *x->p;
                int v = d >= '0' && d <= '9'                            ? d - '0'
                        : hex && (d | 0x20) >= 'a' && (d | 0x20) <= 'f' ? (d | 0x20) - 'a' + 10
                                                                        : -1;
                if (v < 0 || digits >= 8)
                        return -EBADMSG;
                c = c * (hex ? 16 : 10) + (uint32_t) v;
        }
        if (x->p >= x->end || digits == 0)
                return -EBADMSG;
        x->p++;
        int len = utf8_encode(c, buf);
        return len < 0 ? len : text_append(n, buf, (size_t) len);
}

/* Skips what may stand between elements: blanks, comments, processing instructions. */
static int skip_misc(Parser *x) {
        for (;;) {
                while (x->p < x->end && is_space(*x->p))
                        x->p++;
                if (starts(x, "<?")) {
                        if (!skip_past(x, "?>"))
                                return -EBADMSG;
                } else if (starts(x, "<!--")) {
                        if (!skip_past(x, "-->"))
                                return -EBADMSG;
                } else
                        return 0;
        }
}

/* At '<' of a start tag: parses the element and everything in it. */
static int element(Parser *x, unsigned depth, Node **ret) {
        const char *name, *local;
        Node *n;
        int r;

        if (depth >= S3_XML_DEPTH_MAX || !starts(x, "<") || starts(x, "<!") || starts(x, "</"))
                return -EBADMSG; /* a DOCTYPE included: no DTD, no entity definitions */
        name = local = ++x->p;
        while (x->p < x->end && is_name_char(*x->p)) {
                if (*x->p == ':')
                        local = x->p + 1;
                x->p++;
        }
        if (x->p == name || local == x->p)
                return -EBADMSG;
        if (!(n = calloc(1, sizeof *n)) || !(n->name = text_dup(local, (size_t) (x->p - local))) ||
            text_append(n, "", 0) < 0) {
                node_free(n);
                return -ENOMEM;
        }
        size_t name_len = (size_t) (x->p - name);

        /* attributes (xmlns="..."): skipped, minding quotes, which may hold '>' */
        for (;;) {
                if (x->p >= x->end)
                        goto bad;
                char c = *x->p;
                if (c == '"' || c == '\'') {
                        const char *q = memchr(x->p + 1, c, (size_t) (x->end - x->p - 1));
                        if (!q)
                                goto bad;
                        x->p = q + 1;
                } else if (c == '>' || c == '/')
                        break;
                else if (c == '<')
                        goto bad;
                else
                        x->p++;
        }
        if (*x->p == '/') { /* <Empty/> */
                if (!starts(x, "/>"))
                        goto bad;
                x->p += 2;
                *ret = n;
                return 0;
        }
        x->p++;

        for (;;) {
                if (x->p >= x->end)
                        goto bad;
                if (starts(x, "</")) {
                        x->p += 2;
                        if ((size_t) (x->end - x->p) < name_len || memcmp(x->p, name, name_len) != 0)
                                goto bad;
                        x->p += name_len;
                        while (x->p < x->end && is_space(*x->p))
                                x->p++;
                        if (!starts(x, ">"))
                                goto bad;
                        x->p++;
                        *ret = n;
                        return 0;
                }
                if (starts(x, "<![CDATA[")) {
                        const char *start = x->p + 9;
                        x->p = start;
                        if (!skip_past(x, "]]>"))
                                goto bad;
                        r = text_append(n, start, (size_t) (x->p - 3 - start));
                } else if (starts(x, "<!--"))
                        r = skip_past(x, "-->") ? 0 : -EBADMSG;
                else if (starts(x, "<?"))
                        r = skip_past(x, "?>") ? 0 : -EBADMSG;
                else if (starts(x, "<")) {
                        Node *child = NULL;
                        r = element(x, depth + 1, &child);
                        if (r >= 0) {
                                if (n->last_child)
                                        n->last_child->next = child;
                                else
                                        n->children = child;
                                n->last_child = child;
                        }
                } else if (*x->p == '&')
                        r = entity(x, n);
                else {
                        const char *start = x->p;
                        while (x->p < x->end && *x->p != '<' && *x->p != '&')
                                x->p++;
                        r = text_append(n, start, (size_t) (x->p - start));
                }
                if (r < 0) {
                        node_free(n);
                        return r;
                }
        }
bad:
        node_free(n);
        return -EBADMSG;
}

/* The document's root element, named `root`. */
static int parse(const char *xml, size_t size, const char *root, Node **ret) {
        Parser x = { .p = xml, .end = xml + size };
        Node *n = NULL;
        int r;

        if (size >= 3 && memcmp(xml, "\xef\xbb\xbf", 3) == 0) /* a byte order mark */
                x.p += 3;
        if ((r = skip_misc(&x)) < 0 || (r = element(&x, 0, &n)) < 0)
                return r;
        if ((r = skip_misc(&x)) < 0 || x.p != x.end || strcmp(n->name, root) != 0) {
                node_free(n);
                return r < 0 ? r : -EBADMSG;
        }
        *ret = n;
        return 0;
}

static const Node *child(const Node *n, const char *name) {
        for (const Node *c = n->children; c; c = c->next)
                if (strcmp(c->name, name) == 0)
                        return c;
        return NULL;
}

/* A child's text with the blanks around it trimmed, copied; NULL (and ok) when there is no such child. */
static int child_text(const Node *n, const char *name, char **ret) {
        const Node *c = child(n, name);
        *ret = NULL;
        if (!c)
                return 0;
        const char *s = c->text, *e = c->text + c->text_len;
        while (s < e && is_space(*s))
                s++;
        while (e > s && is_space(e[-1]))
                e--;
        if (memchr(s, '\0', (size_t) (e - s)))
                return -EBADMSG;
        return (*ret = text_dup(s, (size_t) (e - s))) ? 0 : -ENOMEM;
}

/* ------------------------------------------------------------------ times */

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian), after Howard Hinnant's days_from_civil. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
        y -= m <= 2;
        int64_t era = (y >= 0 ? y : y - 399) / 400;
        unsigned yoe = (unsigned) (y - era * 400);
        unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
        unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146097 + (int64_t) doe - 719468;
}

int s3_time_parse(const char *text, uint64_t *ret_usec) {
        unsigned y, mo, d, h, mi, s;
        int n = 0;
        uint64_t frac = 0, scale = 1000000;
        static const unsigned month_days[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

        if (sscanf(text, "%4u-%2u-%2uT%2u:%2u:%2u%n", &y, &mo, &d, &h, &mi, &s, &n) != 6 || n != 19 ||
            y < 1970 || mo < 1 || mo > 12 || d < 1 || d > month_days[mo - 1] || h > 23 || mi > 59 || s > 60)
                return -EINVAL;
        const char *p = text + n;
        if (*p == '.') {
                if (!(p[1] >= '0' && p[1] <= '9'))
                        return -EINVAL;
                for (p++; *p >= '0' && *p <= '9'; p++)
                        if (scale > 1) {
                                scale /= 10;
                                frac += (uint64_t) (*p - '0') * scale;
                        }
        }
        if (strcmp(p, "Z") != 0)
                return -EINVAL;
        int64_t days = days_from_civil(y, mo, d);
        *ret_usec = ((uint64_t) days * 86400 + h * 3600 + mi * 60 + (s > 59 ? 59 : s)) /* a leap second */ *
                            1000000 +
                    frac;
        return 0;
}

/* ------------------------------------------------------------------ replies */

static void entry_done(S3ListEntry *e) {
        free(e->key);
}

void s3_list_result_done(S3ListResult *r) {
        for (size_t i = 0; i < r->n_entries; i++)
                entry_done(&r->entries[i]);
        free(r->entries);
        free(r->next_token);
        *r = (S3ListResult){};
}

static int compare_entries(const void *a, const void *b) {
        return strcmp(((const S3ListEntry *) a)->key, ((const S3ListEntry *) b)->key);
}

static int parse_size(const char *text, uint64_t *ret) {
        char *end;
        if (!text || !(*text >= '0' && *text <= '9'))
                return -EBADMSG;
        errno = 0;
        unsigned long long v = strtoull(text, &end, 10);
        if (errno != 0 || *end != '\0')
                return -EBADMSG;
        *ret = v;
        return 0;
}

/* One Contents or CommonPrefixes element as an entry. */
static int list_entry(const Node *n, S3ListEntry *e) {
        char *size = NULL, *modified = NULL;
        int r;

        *e = (S3ListEntry){ .is_prefix = strcmp(n->name, "CommonPrefixes") == 0 };
        r = child_text(n, e->is_prefix ? "Prefix" : "Key", &e->key);
        if (r >= 0 && (!e->key || e->key[0] == '\0'))
                r = -EBADMSG;
        if (r >= 0 && !e->is_prefix)
                r = child_text(n, "Size", &size);
        if (r >= 0 && !e->is_prefix)
                r = parse_size(size, &e->size);
        if (r >= 0 && !e->is_prefix)
                r = child_text(n, "LastModified", &modified);
        if (r >= 0 && modified && s3_time_parse(modified, &e->mtime_usec) < 0)
                e->mtime_usec = 0; /* a time we cannot read is an unknown one, not a broken listing */
        free(size);
        free(modified);
        if (r < 0)
                entry_done(e);
        return r;
}

int s3_list_parse(const char *xml, size_t size, S3ListResult *ret) {
        S3ListResult result = {};
        Node *root = NULL;
        char *truncated = NULL;
        size_t n = 0;
        int r;

        if ((r = parse(xml, size, "ListBucketResult", &root)) < 0)
                return r;
        for (const Node *c = root->children; c; c = c->next)
                n += strcmp(c->name, "Contents") == 0 || strcmp(c->name, "CommonPrefixes") == 0;
        if (!(result.entries = calloc(n + 1, sizeof *result.entries)))
                r = -ENOMEM;
        for (const Node *c = root->children; r >= 0 && c; c = c->next)
                if (strcmp(c->name, "Contents") == 0 || strcmp(c->name, "CommonPrefixes") == 0)
                        if ((r = list_entry(c, &result.entries[result.n_entries])) >= 0)
                                result.n_entries++;
        if (r >= 0)
                r = child_text(root, "IsTruncated", &truncated);
        if (r >= 0 && truncated) {
                if (strcmp(truncated, "true") == 0)
                        result.truncated = true;
                else if (strcmp(truncated, "false") != 0)
                        r = -EBADMSG;
        }
        if (r >= 0)
                r = child_text(root, "NextContinuationToken", &result.next_token);
        if (r >= 0 && result.truncated && (!result.next_token || result.next_token[0] == '\0'))
                r = -EBADMSG; /* a next page we could not ask for */
        free(truncated);
        node_free(root);
        if (r < 0) {
                s3_list_result_done(&result);
                return r;
        }
        if (!result.truncated)
                result.next_token = (free(result.next_token), NULL);
        /* objects and prefixes come in two sorted runs; the caller wants one */
        qsort(result.entries, result.n_entries, sizeof *result.entries, compare_entries);
        *ret = result;
        return 0;
}

/* Blanks and control characters become single spaces, so that the text is one line. */
static void one_line(char *s) {
        char *out = s;
        bool blank = false;
        for (const char *p = s; *p; p++) {
                if ((unsigned char) *p < 0x20 || *p == 0x7f || *p == ' ') {
                        blank = out > s;
                        continue;
                }
                if (blank)
                        *out++ = ' ';
                blank = false;
                *out++ = *p;
        }
        *out = '\0';
}

int s3_error_parse(const char *xml, size_t size, char **ret_code, char **ret_message) {
        Node *root = NULL;
        char *code = NULL, *message = NULL;
        int r;

        if ((r = parse(xml, size, "Error", &root)) < 0)
                return r;
        r = child_text(root, "Code", &code);
        if (r >= 0)
                r = child_text(root, "Message", &message);
        node_free(root);
        if (r < 0) {
                free(code);
                free(message);
                return r;
        }
        if (code)
                one_line(code);
        if (message)
                one_line(message);
        *ret_code = code;
        *ret_message = message;
        return 0;
}
