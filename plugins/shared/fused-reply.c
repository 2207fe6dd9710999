/* SPDX-License-Identifier: MIT */
#include "fused-reply.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FILES_MAX 1000000 /* entries of one listing */

static void json_delete(cJSON **j) {
        cJSON_Delete(*j);
}
#define _cleanup_json_ __attribute__((cleanup(json_delete)))

static int bad(const char **ret_reason, const char *reason) {
        *ret_reason = reason;
        return -EBADMSG;
}

/* Text that may go into a URL or a message: non-empty, no control characters. */
static bool clean_text(const char *s) {
        if (!*s)
                return false;
        for (; *s; s++)
                if ((unsigned char) *s < ' ' || *s == 0x7f)
                        return false;
        return true;
}

int fused_reply_string(const char *body, size_t size, char **ret, const char **ret_reason) {
        _cleanup_json_ cJSON *root = cJSON_ParseWithLength(body, size);
        if (!cJSON_IsString(root))
                return bad(ret_reason, "not a JSON string");
        /* cJSON stops a string at an escaped NUL: what it holds is all a C caller could use */
        return (*ret = strdup(root->valuestring)) ? 0 : -ENOMEM;
}

int fused_reply_bool(const char *body, size_t size, bool *ret, const char **ret_reason) {
        _cleanup_json_ cJSON *root = cJSON_ParseWithLength(body, size);
        if (!cJSON_IsBool(root))
                return bad(ret_reason, "not true or false");
        *ret = cJSON_IsTrue(root);
        return 0;
}

/* ------------------------------------------------------------------ time */

static bool digits(const char *s, int n, int *ret) {
        int v = 0;
        for (int i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return false;
                v = v * 10 + (s[i] - '0');
        }
        *ret = v;
        return true;
}

int fused_parse_time(const char *s, uint64_t *ret_usec) {
        int year, month, day, hour, minute, second, offset = 0;
        uint64_t usec = 0;

        if (!digits(s, 4, &year) || s[4] != '-' || !digits(s + 5, 2, &month) || s[7] != '-' ||
            !digits(s + 8, 2, &day) || (s[10] != 'T' && s[10] != ' ') || !digits(s + 11, 2, &hour) ||
            s[13] != ':' || !digits(s + 14, 2, &minute) || s[16] != ':' || !digits(s + 17, 2, &second))
                return -EINVAL;
        if (year < 1970 || month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 ||
            second > 60)
                return -EINVAL;
        s += 19;
        if (*s == '.') {
                int n = 0;
                for (s++; *s >= '0' && *s <= '9'; s++, n++)
                        if (n < 6)
                                usec = usec * 10 + (uint64_t) (*s - '0');
                if (n == 0)
                        return -EINVAL;
                for (; n < 6; n++)
                        usec *= 10;
        }
        if (*s == '+' || *s == '-') {
                int h, m;
                if (!digits(s + 1, 2, &h) || s[3] != ':' || !digits(s + 4, 2, &m) || s[6] || h > 23 ||
                    m > 59)
                        return -EINVAL;
                offset = (h * 60 + m) * 60 * (*s == '-' ? -1 : 1);
        } else if ((*s == 'Z' && s[1]) || (*s && *s != 'Z'))
                return -EINVAL;

        struct tm tm = { .tm_year = year - 1900,
                         .tm_mon = month - 1,
                         .tm_mday = day,
                         .tm_hour = hour,
                         .tm_min = minute,
                         .tm_sec = second };
        time_t t = timegm(&tm);
        if (t == (time_t) -1 || tm.tm_mday != day || (int64_t) t - offset < 0)
                return -EINVAL; /* 31 February came out as 3 March */
        *ret_usec = (uint64_t) ((int64_t) t - offset) * 1000000 + usec;
        return 0;
}

/* ------------------------------------------------------------------ listings */

void fused_files_free(FusedFile *files, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(files[i].url);
        free(files);
}

/* One item of a listing into *f: a URL string, or a ListDetails object. */
static int read_file_item(const cJSON *item, FusedFile *f, const char **ret_reason) {
        const cJSON *url = cJSON_IsString(item) ? item : cJSON_GetObjectItemCaseSensitive(item, "url");
        if (!cJSON_IsObject(item) && !cJSON_IsString(item))
                return bad(ret_reason, "an item that is neither a URL nor an object");
        if (!cJSON_IsString(url) || !clean_text(url->valuestring))
                return bad(ret_reason, "an item without a \"url\" string");

        size_t len = strlen(url->valuestring);
        const cJSON *dir = cJSON_GetObjectItemCaseSensitive(item, "is_directory");
        f->is_directory = cJSON_IsTrue(dir) || url->valuestring[len - 1] == '/';
        if (!(f->url = malloc(len + 2)))
                return -ENOMEM;
        memcpy(f->url, url->valuestring, len + 1);
        if (f->is_directory && f->url[len - 1] != '/')
                memcpy(f->url + len, "/", 2); /* the storage interface's spelling of a directory */

        const cJSON *size = cJSON_GetObjectItemCaseSensitive(item, "size");
        if (!f->is_directory && cJSON_IsNumber(size) && size->valuedouble >= 0 && size->valuedouble < 1e18)
                f->size = (uint64_t) size->valuedouble;
        const cJSON *mtime = cJSON_GetObjectItemCaseSensitive(item, "last_modified");
        if (!cJSON_IsString(mtime) || fused_parse_time(mtime->valuestring, &f->mtime_usec) < 0)
                f->mtime_usec = 0;
        return 0;
}

int fused_reply_files(const char *body, size_t size, FusedFile **ret, size_t *ret_n,
                      const char **ret_reason) {
        _cleanup_json_ cJSON *root = cJSON_ParseWithLength(body, size);
        FusedFile *files = NULL;
        size_t n = 0;

        if (!cJSON_IsArray(root))
                return bad(ret_reason, "not a JSON array");
        int count = cJSON_GetArraySize(root);
        if (count > FILES_MAX)
                return bad(ret_reason, "more than a million entries");
        if (count > 0 && !(files = calloc((size_t) count, sizeof *files)))
                return -ENOMEM;
        for (const cJSON *item = root->child; item; item = item->next) {
                int r = read_file_item(item, &files[n], ret_reason);
                if (r < 0) {
                        fused_files_free(files, n + 1);
                        return r;
                }
                n++;
        }
        *ret = files;
        *ret_n = n;
        return 0;
}

/* ------------------------------------------------------------------ uploads */

void fused_upload_form_done(FusedUploadForm *form) {
        free(form->url);
        for (size_t i = 0; i < form->n_fields * 2; i++)
                free(form->fields[i]);
        free(form->fields);
        *form = (FusedUploadForm){};
}

/* A form field's name or value goes into a multipart header or body: no line breaks, no quotes. */
static bool form_safe(const char *s) {
        for (; *s; s++)
                if (*s == '\r' || *s == '\n' || *s == '"')
                        return false;
        return true;
}

int fused_reply_upload_form(const char *body, size_t size, FusedUploadForm *ret, const char **ret_reason) {
        _cleanup_json_ cJSON *root = cJSON_ParseWithLength(body, size);
        FusedUploadForm form = {};

        if (!cJSON_IsObject(root))
                return bad(ret_reason, "not a JSON object");
        const cJSON *url = cJSON_GetObjectItemCaseSensitive(root, "url"),
                    *fields = cJSON_GetObjectItemCaseSensitive(root, "fields");
        if (!cJSON_IsString(url) || !clean_text(url->valuestring))
                return bad(ret_reason, "no \"url\" string");
        if (!cJSON_IsObject(fields))
                return bad(ret_reason, "no \"fields\" object");
        size_t count = (size_t) cJSON_GetArraySize(fields);
        if (!(form.url = strdup(url->valuestring)) ||
            !(form.fields = calloc(count * 2 + 1, sizeof(char *)))) {
                fused_upload_form_done(&form);
                return -ENOMEM;
        }
        for (const cJSON *f = fields->child; f; f = f->next) {
                if (!cJSON_IsString(f) || !f->string[0] || !form_safe(f->string) ||
                    !form_safe(f->valuestring)) {
                        fused_upload_form_done(&form);
                        return bad(ret_reason, "a form field that is not a plain string");
                }
                form.fields[form.n_fields * 2] = strdup(f->string);
                form.fields[form.n_fields * 2 + 1] = strdup(f->valuestring);
                form.n_fields++;
                if (!form.fields[form.n_fields * 2 - 2] || !form.fields[form.n_fields * 2 - 1]) {
                        fused_upload_form_done(&form);
                        return -ENOMEM;
                }
        }
        *ret = form;
        return 0;
}

/* ------------------------------------------------------------------ realtime instances */

int fused_reply_instance(const char *body, size_t size, char **ret_client_id, const char **ret_reason) {
        _cleanup_json_ cJSON *root = cJSON_ParseWithLength(body, size);
        const char *best = NULL;
        double best_rank = 0;

        if (!cJSON_IsArray(root))
                return bad(ret_reason, "not a JSON array");
        for (const cJSON *item = root->child; item; item = item->next) {
                const cJSON *id = cJSON_GetObjectItemCaseSensitive(item, "client_id"),
                            *rank = cJSON_GetObjectItemCaseSensitive(item, "preference_rank");
                if (!cJSON_IsString(id) || !id->valuestring[0] ||
                    strspn(id->valuestring,
                           "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") !=
                            strlen(id->valuestring) ||
                    strcmp(id->valuestring, ".") == 0 || strcmp(id->valuestring, "..") == 0)
                        continue; /* not one we can address */
                double r = cJSON_IsNumber(rank) ? rank->valuedouble : 0;
                if (!best || r > best_rank) {
                        best = id->valuestring;
                        best_rank = r;
                }
        }
        if (!best)
                return bad(ret_reason, "no realtime instance with a usable client_id");
        return (*ret_client_id = strdup(best)) ? 0 : -ENOMEM;
}
