/* SPDX-License-Identifier: MIT */
/*
 * The Fused API replies storage-fused and secrets-fused decode: listings (list-details and list),
 * their ISO 8601 times, presigned upload forms, JSON strings and booleans, realtime instances; and
 * what each refuses.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../plugins/shared/fused-api.h"
#include "../../plugins/shared/fused-reply.h"
#include "macro.h"

#define S(text) text, strlen(text)

static void test_times(void **state) {
        static const struct {
                const char *text;
                uint64_t usec; /* 0: refused */
        } cases[] = {
                { "2026-01-02T03:04:05Z", UINT64_C(1767323045000000) },
                { "2026-01-02T03:04:05.123456Z", UINT64_C(1767323045123456) },
                { "2026-01-02T03:04:05.1Z", UINT64_C(1767323045100000) },
                { "2026-01-02T03:04:05.123456789Z", UINT64_C(1767323045123456) },
                { "2026-01-02T03:04:05", UINT64_C(1767323045000000) },
                { "2026-01-02 03:04:05+00:00", UINT64_C(1767323045000000) },
                { "2026-01-02T05:04:05+02:00", UINT64_C(1767323045000000) },
                { "2026-01-01T22:04:05-05:00", UINT64_C(1767323045000000) },
                { "2024-02-29T00:00:00Z", UINT64_C(1709164800000000) },
                { "2026-02-31T00:00:00Z", 0 },
                { "2026-13-01T00:00:00Z", 0 },
                { "2026-01-02T03:04:05.Z", 0 },
                { "2026-01-02T03:04:05Zjunk", 0 },
                { "2026-01-02T03:04:05+2", 0 },
                { "1969-12-31T23:59:59Z", 0 },
                { "2026-01-02", 0 },
                { "", 0 },
        };
        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                uint64_t usec = 0;
                int r = fused_parse_time(cases[i].text, &usec);
                if (cases[i].usec == 0) {
                        if (r != -EINVAL)
                                fail_msg("'%s' accepted as %llu", cases[i].text, (unsigned long long) usec);
                        continue;
                }
                if (r < 0 || usec != cases[i].usec)
                        fail_msg("'%s': %d, %llu", cases[i].text, r, (unsigned long long) usec);
        }
}

static void test_files(void **state) {
        FusedFile *files = NULL;
        size_t n = 0;
        const char *reason = NULL;
        (void) state;

        const char *details =
                "[{\"url\": \"s3://b/u/a.json\", \"file_name\": \"a.json\", \"is_directory\": false,"
                " \"size\": 12, \"last_modified\": \"2026-01-02T03:04:05.000001Z\", \"extra\": 1},"
                " {\"url\": \"s3://b/u/dir/\", \"file_name\": \"dir\", \"is_directory\": true,"
                " \"size\": null, \"last_modified\": null},"
                " {\"url\": \"s3://b/u/plain\", \"is_directory\": true},"
                " {\"url\": \"s3://b/u/odd\", \"size\": -3, \"last_modified\": \"yesterday\"}]";
        assert_int_equal(fused_reply_files(S(details), &files, &n, &reason), 0);
        assert_int_equal(n, 4);
        assert_string_equal(files[0].url, "s3://b/u/a.json");
        assert_int_equal(files[0].size, 12);
        assert_int_equal(files[0].mtime_usec, UINT64_C(1767323045000001));
        assert_false(files[0].is_directory);
        assert_string_equal(files[1].url, "s3://b/u/dir/");
        assert_true(files[1].is_directory);
        assert_int_equal(files[1].mtime_usec, 0);
        assert_string_equal(files[2].url, "s3://b/u/plain/"); /* a directory's URL ends in '/' */
        assert_int_equal(files[3].size, 0);                   /* what cannot be read is unknown */
        assert_int_equal(files[3].mtime_usec, 0);
        fused_files_free(files, n);

        /* files/list: URLs only, directories by their '/' */
        assert_int_equal(fused_reply_files(S("[\"fd://x/a\", \"fd://x/d/\"]"), &files, &n, &reason), 0);
        assert_int_equal(n, 2);
        assert_false(files[0].is_directory);
        assert_true(files[1].is_directory);
        fused_files_free(files, n);

        assert_int_equal(fused_reply_files(S("[]"), &files, &n, &reason), 0);
        assert_int_equal(n, 0);
        fused_files_free(files, n);

        static const char *const refused[] = { "",
                                               "{}",
                                               "[1]",
                                               "[{\"url\": 7}]",
                                               "[{\"url\": \"\"}]",
                                               "[{\"url\": \"a\\nb\"}]",
                                               "[\"a\", null]",
                                               "[\"a\"" };
        for (size_t i = 0; i < ELEMENTSOF(refused); i++) {
                reason = NULL;
                assert_int_equal(fused_reply_files(S(refused[i]), &files, &n, &reason), -EBADMSG);
                assert_non_null(reason);
        }
}

static void test_upload_form(void **state) {
        FusedUploadForm form = {};
        const char *reason = NULL;
        (void) state;

        assert_int_equal(
                fused_reply_upload_form(S("{\"url\": \"https://s3/bucket\", \"fields\": {\"key\": \"u/a\","
                                          " \"policy\": \"eyJ9\", \"x-amz-signature\": \"abc\"}}"),
                                        &form, &reason),
                0);
        assert_string_equal(form.url, "https://s3/bucket");
        assert_int_equal(form.n_fields, 3);
        assert_string_equal(form.fields[0], "key");
        assert_string_equal(form.fields[1], "u/a");
        assert_string_equal(form.fields[4], "x-amz-signature");
        assert_null(form.fields[6]);
        fused_upload_form_done(&form);

        static const char *const refused[] = {
                "[]",
                "{\"fields\": {}}",
                "{\"url\": \"u\"}",
                "{\"url\": \"u\", \"fields\": {\"key\": 1}}",
                "{\"url\": \"u\", \"fields\": {\"key\": \"a\\r\\nX: y\"}}",
                "{\"url\": \"u\", \"fields\": {\"a\\\"b\": \"v\"}}",
        };
        for (size_t i = 0; i < ELEMENTSOF(refused); i++)
                assert_int_equal(fused_reply_upload_form(S(refused[i]), &form, &reason), -EBADMSG);
}

static void test_scalars(void **state) {
        char *s = NULL;
        bool b = false;
        const char *reason = NULL;
        (void) state;

        assert_int_equal(fused_reply_string(S("\"s3://bucket/u/\""), &s, &reason), 0);
        assert_string_equal(s, "s3://bucket/u/");
        free(s);
        assert_int_equal(fused_reply_string(S("\"\""), &s, &reason), 0);
        assert_string_equal(s, "");
        free(s);
        assert_int_equal(fused_reply_string(S("[\"s3://x\"]"), &s, &reason), -EBADMSG);
        assert_int_equal(fused_reply_string(S("{\"detail\": \"x\"}"), &s, &reason), -EBADMSG);

        assert_int_equal(fused_reply_bool(S("true"), &b, &reason), 0);
        assert_true(b);
        assert_int_equal(fused_reply_bool(S("false"), &b, &reason), 0);
        assert_false(b);
        assert_int_equal(fused_reply_bool(S("1"), &b, &reason), -EBADMSG);
}

static void test_instance(void **state) {
        char *id = NULL;
        const char *reason = NULL;
        (void) state;

        assert_int_equal(fused_reply_instance(S("[{\"client_id\": \"rt-1\", \"preference_rank\": 1},"
                                                " {\"client_id\": \"rt-2\", \"preference_rank\": 5},"
                                                " {\"client_id\": \"../evil\", \"preference_rank\": 9},"
                                                " {\"client_id\": \"rt-3\"}]"),
                                              &id, &reason),
                         0);
        assert_string_equal(id, "rt-2");
        free(id);
        assert_int_equal(fused_reply_instance(S("[]"), &id, &reason), -EBADMSG);
        assert_int_equal(fused_reply_instance(S("[{\"client_id\": \"..\"}]"), &id, &reason), -EBADMSG);
        assert_int_equal(fused_reply_instance(S("{}"), &id, &reason), -EBADMSG);
}

static void test_escape(void **state) {
        (void) state;
        char *e = fused_escape("fd://dir/a b+c%é?&=");
        assert_string_equal(e, "fd%3A%2F%2Fdir%2Fa%20b%2Bc%25%C3%A9%3F%26%3D");
        free(e);
        e = fused_escape("Az09-._~");
        assert_string_equal(e, "Az09-._~");
        free(e);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_times),       cmocka_unit_test(test_files),
                cmocka_unit_test(test_upload_form), cmocka_unit_test(test_scalars),
                cmocka_unit_test(test_instance),    cmocka_unit_test(test_escape),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
