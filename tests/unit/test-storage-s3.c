/* SPDX-License-Identifier: MIT */
/*
 * storage-s3's pure parts: presigned URLs against AWS's published examples,
 * s3:// URLs and the request URLs made of them (what is sent is what is
 * signed), and the XML replies (ListBucketResult, Error), malformed ones
 * included. The plugin's requests against a real S3 server are in
 * tests/integration/test_storage_s3.py.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "../../plugins/storage-s3/s3-url.h"
#include "../../plugins/storage-s3/s3-xml.h"
#include "../../plugins/storage-s3/sigv4.h"

#define AWS_KEY_ID "AKIAIOSFODNN7EXAMPLE"

static time_t utc(int year, int month, int day, int hour, int minute, int second) {
        struct tm tm = { .tm_year = year - 1900,
                         .tm_mon = month - 1,
                         .tm_mday = day,
                         .tm_hour = hour,
                         .tm_min = minute,
                         .tm_sec = second };
        return timegm(&tm);
}

static void hex(const unsigned char *b, size_t n, char *out) {
        for (size_t i = 0; i < n; i++)
                sprintf(out + 2 * i, "%02x", b[i]);
}

/* ---------------------------------------------------------------- SigV4 */

static void test_signing_key(void **state) {
        unsigned char key[32];
        char text[65];
        (void) state;

        /* "Examples of how to derive a signing key for Signature Version 4", AWS General Reference */
        assert_int_equal(sigv4_signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215",
                                           "us-east-1", "iam", key),
                         0);
        hex(key, sizeof key, text);
        assert_string_equal(text, "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d");

        assert_int_equal(sigv4_sha256_hex("", 0, text), 0);
        assert_string_equal(text, SIGV4_EMPTY_SHA256);
        assert_int_equal(sigv4_sha256_hex("abc", 3, text), 0);
        assert_string_equal(text, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_presign_aws_example(void **state) {
        char *query = NULL;
        (void) state;

        /* "Authenticating Requests: Using Query Parameters (AWS Signature Version 4)", Amazon S3 API
         * Reference: GET https://examplebucket.s3.amazonaws.com/test.txt for 86400 s from 2013-05-24 */
        const SigV4Presign p = {
                .host = "examplebucket.s3.amazonaws.com",
                .path = "/test.txt",
                .access_key_id = AWS_KEY_ID,
                .secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                .region = "us-east-1",
                .service = "s3",
                .now = utc(2013, 5, 24, 0, 0, 0),
                .expires_sec = 86400,
        };
        assert_int_equal(sigv4_presign_query(&p, &query), 0);
        assert_string_equal(
                query, "X-Amz-Algorithm=AWS4-HMAC-SHA256"
                       "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
                       "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
                       "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
        assert_null(strstr(query, "wJalr")); /* the secret signs; it is never part of the URL */
        free(query);

        /* the signature covers the host, the path and the expiry: each changes it */
        SigV4Presign other = p;
        other.host = "examplebucket.s3.amazonaws.com:9000";
        assert_int_equal(sigv4_presign_query(&other, &query), 0);
        assert_null(strstr(query, "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"));
        free(query);
        other = p;
        other.expires_sec = 86399;
        assert_int_equal(sigv4_presign_query(&other, &query), 0);
        assert_null(strstr(query, "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"));
        free(query);
}

static void test_presign_refusals(void **state) {
        const SigV4Presign good = { .host = "h",
                                    .path = "/b/k",
                                    .access_key_id = "AKID",
                                    .secret = "s",
                                    .region = "us-east-1",
                                    .service = "s3",
                                    .now = 1,
                                    .expires_sec = 60 };
        char *query = (char *) "untouched";
        (void) state;

        SigV4Presign p = good;
        p.expires_sec = 0;
        assert_int_equal(sigv4_presign_query(&p, &query), -EINVAL);
        p.expires_sec = SIGV4_EXPIRES_MAX + 1;
        assert_int_equal(sigv4_presign_query(&p, &query), -EINVAL);
        p = good;
        p.access_key_id = "AKID/other-scope";
        assert_int_equal(sigv4_presign_query(&p, &query), -EINVAL);
        p = good;
        p.region = "";
        assert_int_equal(sigv4_presign_query(&p, &query), -EINVAL);
        assert_string_equal(query, "untouched");
}

/* ---------------------------------------------------------------- URLs */

static void expect_url(const char *url, const char *bucket, const char *key) {
        char *b = NULL, *k = NULL;
        assert_int_equal(s3_url_parse(url, "s3", &b, &k), 0);
        assert_string_equal(b, bucket);
        assert_string_equal(k, key);
        free(b);
        free(k);
}

static void test_url_parse(void **state) {
        char long_key[S3_KEY_MAX + 32], *b = (char *) "untouched", *k = NULL;
        (void) state;

        expect_url("s3://bucket/key", "bucket", "key");
        expect_url("S3://bucket/a/b/c.json", "bucket", "a/b/c.json");
        expect_url("s3://my.bucket-1/", "my.bucket-1", "");
        expect_url("s3://b0", "b0", "");
        expect_url("s3://b/with space/%41?x#y", "b", "with space/%41?x#y"); /* taken as written */
        expect_url("s3://b/a//b/", "b", "a//b/");
        expect_url("s3://b/caf\xc3\xa9/...", "b", "caf\xc3\xa9/...");

        static const char *const bad[] = {
                "gs://bucket/key",     "s3:/bucket/key", "s3://",       "s3:///key",
                "s3://Bucket/key",     "s3://-b/key",    "s3://b-/key", "s3://b_x!/key",
                "s3://b/a\nb",         "s3://b/\x7f",    "s3://b/\xc3", "s3://b/\xc0\x80",
                "s3://b/\xed\xa0\x80", "s3://b/.",       "s3://b/..",   "s3://b/a/./c",
                "s3://b/a/../c",       "s3://b/../x",
        };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
                if (s3_url_parse(bad[i], "s3", &b, &k) != -EINVAL)
                        fail_msg("accepted %s", bad[i]);
        memset(long_key, 'k', sizeof long_key);
        memcpy(long_key, "s3://b/", 7);
        long_key[7 + S3_KEY_MAX] = '\0';
        expect_url(long_key, "b", long_key + 7);
        long_key[7 + S3_KEY_MAX] = 'k';
        long_key[8 + S3_KEY_MAX] = '\0';
        assert_int_equal(s3_url_parse(long_key, "s3", &b, &k), -EINVAL);
        assert_string_equal(b, "untouched");

        expect_url("s3://b/k", "b", "k");
        assert_int_equal(s3_url_parse("gs://bucket_1/k", "gs", &b, &k), 0);
        assert_string_equal(b, "bucket_1");
        free(b);
        free(k);
}

static void test_uri_encode(void **state) {
        char *e;
        (void) state;
        e = s3_uri_encode("a/b c+d=e&f~g_h-i.j%k\xc3\xa9*", true);
        assert_string_equal(e, "a/b%20c%2Bd%3De%26f~g_h-i.j%25k%C3%A9%2A");
        free(e);
        e = s3_uri_encode("dir/==", false);
        assert_string_equal(e, "dir%2F%3D%3D");
        free(e);
}

static void expect_target(const char *endpoint, bool path_style, const char *bucket, const char *key,
                          const char *query, const char *url, const char *host, const char *path) {
        S3Endpoint e;
        S3Target t;
        assert_int_equal(s3_endpoint_parse(endpoint, &e), 0);
        assert_int_equal(s3_target(&e, path_style, bucket, key, query, &t), 0);
        assert_string_equal(t.url, url);
        assert_string_equal(t.host, host);
        assert_string_equal(t.path, path);
        s3_target_done(&t);
        s3_endpoint_done(&e);
}

static void test_targets(void **state) {
        S3Endpoint e;
        (void) state;

        expect_target("https://s3.eu-west-1.amazonaws.com", false, "bkt", "a b/c", NULL,
                      "https://bkt.s3.eu-west-1.amazonaws.com/a%20b/c", "bkt.s3.eu-west-1.amazonaws.com",
                      "/a%20b/c");
        expect_target("https://S3.amazonaws.com/", true, "bkt", "k", NULL, "https://s3.amazonaws.com/bkt/k",
                      "s3.amazonaws.com", "/bkt/k");
        /* the bucket itself: no trailing slash path-style, "/" virtual-host style */
        expect_target("http://127.0.0.1:9000", true, "bkt", "", "list-type=2&prefix=",
                      "http://127.0.0.1:9000/bkt?list-type=2&prefix=", "127.0.0.1:9000", "/bkt");
        expect_target("http://s3.localhost:9000", false, "bkt", "", NULL, "http://bkt.s3.localhost:9000/",
                      "bkt.s3.localhost:9000", "/");
        /* path-style whatever the option: an IP address, or a bucket with a dot */
        expect_target("http://127.0.0.1:9000", false, "bkt", "k", NULL, "http://127.0.0.1:9000/bkt/k",
                      "127.0.0.1:9000", "/bkt/k");
        expect_target("http://[::1]:9000", false, "bkt", "k", NULL, "http://[::1]:9000/bkt/k", "[::1]:9000",
                      "/bkt/k");
        expect_target("https://storage.googleapis.com", false, "my.bucket", "k", NULL,
                      "https://storage.googleapis.com/my.bucket/k", "storage.googleapis.com",
                      "/my.bucket/k");

        static const char *const bad[] = { "ftp://h",     "https://",        "https://h/path", "https://u@h",
                                           "https://h:0", "https://h:65536", "https://h:",     "https://h?x",
                                           "h:9000",      "https://[::1",    "https://h_x" };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
                if (s3_endpoint_parse(bad[i], &e) != -EINVAL)
                        fail_msg("accepted %s", bad[i]);
}

/* ---------------------------------------------------------------- XML */

/* ListObjectsV2 as AWS documents it, with what the parser must cope with besides. */
static const char list_xml[] =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\n"
        "  <Name>bucket</Name><Prefix>photos/</Prefix><KeyCount>4</KeyCount><MaxKeys>4</MaxKeys>\n"
        "  <Delimiter>/</Delimiter><IsTruncated>true</IsTruncated>\n"
        "  <NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>\n"
        "  <Contents><Key>photos/z&amp;a "
        "&lt;1&gt;.jpg</Key><LastModified>2009-10-12T17:50:30.000Z</LastModified>\n"
        "    <ETag>&quot;fba9dede5f27731c9771645a39863328&quot;</ETag><Size>434234</Size>\n"
        "    <StorageClass>STANDARD</StorageClass></Contents>\n"
        "  <!-- a comment -->\n"
        "  <Contents><Key><![CDATA[photos/b<c>.png]]></Key><LastModified>bad</LastModified><Size>0</Size>"
        "<Owner/></Contents>\n"
        "  <CommonPrefixes><Prefix>photos/2006/</Prefix></CommonPrefixes>\n"
        "  <CommonPrefixes><Prefix>photos/caf&#233;&#x2F;</Prefix></CommonPrefixes>\n"
        "</ListBucketResult>\n";

static void test_list_parse(void **state) {
        S3ListResult r;
        (void) state;

        assert_int_equal(s3_list_parse(list_xml, strlen(list_xml), &r), 0);
        assert_true(r.truncated);
        assert_string_equal(r.next_token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
        assert_int_equal(r.n_entries, 4);
        /* one sorted list of objects and prefixes */
        assert_string_equal(r.entries[0].key, "photos/2006/");
        assert_true(r.entries[0].is_prefix);
        assert_string_equal(r.entries[1].key, "photos/b<c>.png");
        assert_int_equal(r.entries[1].mtime_usec, 0); /* unreadable: unknown */
        assert_string_equal(r.entries[2].key, "photos/caf\xc3\xa9/");
        assert_true(r.entries[2].is_prefix);
        assert_string_equal(r.entries[3].key, "photos/z&a <1>.jpg");
        assert_int_equal(r.entries[3].size, 434234);
        assert_int_equal(r.entries[3].mtime_usec, UINT64_C(1255369830) * 1000000);
        assert_false(r.entries[3].is_prefix);
        s3_list_result_done(&r);

        const char *last = "<ListBucketResult><IsTruncated>false</IsTruncated>"
                           "<NextContinuationToken>stale</NextContinuationToken></ListBucketResult>";
        assert_int_equal(s3_list_parse(last, strlen(last), &r), 0);
        assert_int_equal(r.n_entries, 0);
        assert_false(r.truncated);
        assert_null(r.next_token);
        s3_list_result_done(&r);
}

static void test_list_parse_refusals(void **state) {
        S3ListResult r;
        char deep[1024] = "<ListBucketResult>";
        (void) state;

        static const char *const bad[] = {
                "",
                "not xml",
                "<Error><Code>x</Code></Error>",
                "<ListBucketResult>",
                "<ListBucketResult></ListBucket>",
                "<ListBucketResult/><ListBucketResult/>",
                "<ListBucketResult><IsTruncated>maybe</IsTruncated></ListBucketResult>",
                "<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>", /* no token */
                "<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>",
                "<ListBucketResult><Contents><Key></Key><Size>1</Size></Contents></ListBucketResult>",
                "<ListBucketResult><Contents><Key>k</Key><Size>-1</Size></Contents></ListBucketResult>",
                "<ListBucketResult><Contents><Key>k</Key></Contents></ListBucketResult>",
                "<ListBucketResult><Contents><Key>k&bogus;</Key><Size>1</Size></Contents></"
                "ListBucketResult>",
                "<ListBucketResult><Contents><Key>k&#0;</Key><Size>1</Size></Contents></ListBucketResult>",
                "<!DOCTYPE x [<!ENTITY a \"b\">]><ListBucketResult/>",
                "<ListBucketResult a=\"unterminated></ListBucketResult>",
        };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
                if (s3_list_parse(bad[i], strlen(bad[i]), &r) != -EBADMSG)
                        fail_msg("accepted %s", bad[i]);

        for (unsigned i = 0; i < S3_XML_DEPTH_MAX; i++)
                strcat(deep, "<a>");
        assert_int_equal(s3_list_parse(deep, strlen(deep), &r), -EBADMSG);
}

static void test_error_parse(void **state) {
        char *code, *message;
        (void) state;

        const char *xml =
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SignatureDoesNotMatch</Code>"
                "<Message>The request signature we calculated does not match the signature you "
                "provided.\n  Check your key &amp; signing method.</Message>"
                "<StringToSign>AWS4-HMAC-SHA256\n20261122T000000Z</StringToSign>"
                "<RequestId>4442587FB7D0A2F9</RequestId></Error>";
        assert_int_equal(s3_error_parse(xml, strlen(xml), &code, &message), 0);
        assert_string_equal(code, "SignatureDoesNotMatch");
        assert_string_equal(message, "The request signature we calculated does not match the signature you "
                                     "provided. Check your key & signing method.");
        free(code);
        free(message);

        assert_int_equal(s3_error_parse("<Error><Code>NoSuchKey</Code></Error>", 37, &code, &message), 0);
        assert_string_equal(code, "NoSuchKey");
        assert_null(message);
        free(code);

        assert_int_equal(s3_error_parse("{\"message\":\"json\"}", 18, &code, &message), -EBADMSG);
        assert_int_equal(s3_error_parse("<ListBucketResult/>", 19, &code, &message), -EBADMSG);
}

static void test_time_parse(void **state) {
        uint64_t t;
        (void) state;
        assert_int_equal(s3_time_parse("1970-01-01T00:00:00Z", &t), 0);
        assert_int_equal(t, 0);
        assert_int_equal(s3_time_parse("2026-11-22T17:41:40.123456789Z", &t), 0);
        assert_int_equal(t, (uint64_t) utc(2026, 11, 22, 17, 41, 40) * 1000000 + 123456);
        assert_int_equal(s3_time_parse("2024-02-29T23:59:59.5Z", &t), 0);
        assert_int_equal(t, (uint64_t) utc(2024, 2, 29, 23, 59, 59) * 1000000 + 500000);
        static const char *const bad[] = { "",
                                           "2026-11-22",
                                           "2026-11-22T17:41:40",
                                           "2026-11-22T17:41:40+01:00",
                                           "2026-13-01T00:00:00Z",
                                           "2026-11-22T24:00:00Z",
                                           "2026-11-22T17:41:40.Z",
                                           "1969-12-31T23:59:59Z",
                                           " 2026-11-22T17:41:40Z" };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
                if (s3_time_parse(bad[i], &t) != -EINVAL)
                        fail_msg("accepted %s", bad[i]);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_signing_key),      cmocka_unit_test(test_presign_aws_example),
                cmocka_unit_test(test_presign_refusals), cmocka_unit_test(test_url_parse),
                cmocka_unit_test(test_uri_encode),       cmocka_unit_test(test_targets),
                cmocka_unit_test(test_list_parse),       cmocka_unit_test(test_list_parse_refusals),
                cmocka_unit_test(test_error_parse),      cmocka_unit_test(test_time_parse),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
