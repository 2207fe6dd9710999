/* SPDX-License-Identifier: MIT */
/*
 * http-retry: the OK/RETRY/FAIL table, backoff bounds and growth, and Retry-After in both of its
 * forms, with "now" pinned.
 */
#include <curl/curl.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "http-retry.h"
#include "macro.h"

#define SEC UINT64_C(1000000)

static void test_status_outcome(void **state) {
        static const struct {
                long status;
                HttpOutcome outcome;
        } cases[] = {
                { 200, HTTP_OK },    { 201, HTTP_OK },    { 204, HTTP_OK },    { 299, HTTP_OK },
                { 408, HTTP_RETRY }, { 429, HTTP_RETRY }, { 500, HTTP_RETRY }, { 502, HTTP_RETRY },
                { 503, HTTP_RETRY }, { 504, HTTP_RETRY }, { 599, HTTP_RETRY }, { 400, HTTP_FAIL },
                { 401, HTTP_FAIL },  { 403, HTTP_FAIL },  { 404, HTTP_FAIL },  { 409, HTTP_FAIL },
                { 422, HTTP_FAIL },  { 499, HTTP_FAIL },  { 100, HTTP_FAIL },  { 304, HTTP_FAIL },
                { 600, HTTP_FAIL },  { 0, HTTP_FAIL },    { -1, HTTP_FAIL },
        };
        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                if (http_status_outcome(cases[i].status) != cases[i].outcome)
                        fail_msg("status %ld: got %s", cases[i].status,
                                 http_outcome_names[http_status_outcome(cases[i].status)]);
        }
}

static void test_curl_outcome(void **state) {
        static const struct {
                CURLcode code;
                HttpOutcome outcome;
                int error;
        } cases[] = {
                { CURLE_COULDNT_CONNECT, HTTP_RETRY, -ECONNREFUSED },
                { CURLE_OPERATION_TIMEDOUT, HTTP_RETRY, -ETIMEDOUT },
                { CURLE_RECV_ERROR, HTTP_RETRY, -ECONNRESET },
                { CURLE_GOT_NOTHING, HTTP_RETRY, -ECONNRESET },
                { CURLE_COULDNT_RESOLVE_HOST, HTTP_RETRY, -EHOSTUNREACH },
                { CURLE_PEER_FAILED_VERIFICATION, HTTP_FAIL, -EPERM },
                { CURLE_FILESIZE_EXCEEDED, HTTP_FAIL, -EFBIG },
                { CURLE_UNSUPPORTED_PROTOCOL, HTTP_FAIL, -EPROTONOSUPPORT },
                { CURLE_FTP_ACCEPT_FAILED, HTTP_FAIL, -EIO }, /* anything unlisted */
        };
        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                int error = 0;
                assert_int_equal(http_curl_outcome(cases[i].code, &error), cases[i].outcome);
                assert_int_equal(error, cases[i].error);
        }
}

static void test_backoff(void **state) {
        (void) state;
        /* random 0 takes nothing off: the ceiling doubles per retry up to the cap */
        assert_int_equal(http_backoff_usec(1 * SEC, 30 * SEC, 1, 0), 1 * SEC);
        assert_int_equal(http_backoff_usec(1 * SEC, 30 * SEC, 2, 0), 2 * SEC);
        assert_int_equal(http_backoff_usec(1 * SEC, 30 * SEC, 5, 0), 16 * SEC);
        assert_int_equal(http_backoff_usec(1 * SEC, 30 * SEC, 6, 0), 30 * SEC);
        assert_int_equal(http_backoff_usec(1 * SEC, 30 * SEC, 1000000, 0), 30 * SEC);
        /* the most random can take off is half */
        assert_int_equal(http_backoff_usec(1 * SEC, 30 * SEC, 1, SEC / 2), SEC / 2);
        assert_int_equal(http_backoff_usec(1 * SEC, 30 * SEC, 6, 15 * SEC), 15 * SEC);
        /* every random lands in [delay/2, delay] */
        for (uint64_t r = 0; r < 100000; r += 7919) {
                uint64_t d = http_backoff_usec(1 * SEC, 30 * SEC, 3, r * 104729);
                assert_true(d >= 2 * SEC && d <= 4 * SEC);
        }
        /* a base above the cap is the cap; no overflow near the top of the range */
        assert_int_equal(http_backoff_usec(60 * SEC, 30 * SEC, 1, 0), 30 * SEC);
        assert_int_equal(http_backoff_usec(UINT64_MAX / 3, UINT64_MAX - 1, 10, 0), UINT64_MAX - 1);
        assert_int_equal(http_backoff_usec(0, 30 * SEC, 3, 12345), 0);
}

static void test_date_parse(void **state) {
        int64_t t = 0;
        (void) state;
        /* RFC 9110's three spellings of one instant */
        assert_int_equal(http_date_parse("Sun, 06 Nov 1994 08:49:37 GMT", &t), 0);
        assert_int_equal(t, 784111777);
        assert_int_equal(http_date_parse("Sunday, 06-Nov-94 08:49:37 GMT", &t), 0);
        assert_int_equal(t, 784111777);
        assert_int_equal(http_date_parse("Sun Nov  6 08:49:37 1994", &t), 0);
        assert_int_equal(t, 784111777);
        assert_int_equal(http_date_parse("Thu, 29 Feb 2024 23:59:59 GMT", &t), 0);
        assert_int_equal(t, 1709251199);
        assert_int_equal(http_date_parse("Monday, 01-Jan-24 00:00:00 GMT", &t), 0);
        assert_int_equal(t, 1704067200);
        assert_int_equal(http_date_parse("Wed Dec 31 23:59:60 2025", &t), 0); /* a leap second */
        assert_int_equal(t, 1767225600);

        static const char *const bad[] = {
                "",
                "Sun, 06 Nov 1994 08:49:37",      /* no zone */
                "Sun, 06 Nov 1994 08:49:37 UTC",  /* only GMT is allowed */
                "Sun, 6 Nov 1994 08:49:37 GMT",   /* two-digit day */
                "Sun, 06 nov 1994 08:49:37 GMT",  /* case-sensitive names */
                "Sun, 30 Feb 2024 08:49:37 GMT",  /* no such day */
                "Fri, 29 Feb 2023 08:49:37 GMT",  /* not a leap year */
                "Sun, 06 Nov 1994 24:00:00 GMT",  /* no such hour */
                "Sun, 06 Nov 1994 08:60:00 GMT",  /* no such minute */
                "Sun, 06 Nov 1994 08:49:37 GMTX", /* trailing junk */
                "Sun Nov 6 08:49:37 1994",        /* asctime pads the day to two */
                "Sunday, 06-Nov-1994 08:49:37 GMT",
                "Xyz, 06 Nov 1994 08:49:37 GMT",
                "Sun, 06 Nov 1994 08:49:37 GMT ",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                if (http_date_parse(bad[i], &t) != -EINVAL)
                        fail_msg("accepted '%s'", bad[i]);
}

static void test_retry_after(void **state) {
        /* "now" is 1994-11-06T08:49:30.250Z, 7.75 s before the dates below */
        const uint64_t now = UINT64_C(784111770) * SEC + SEC / 4;
        uint64_t d = 1;
        (void) state;

        assert_int_equal(http_retry_after_parse("120", now, &d), 0);
        assert_int_equal(d, 120 * SEC);
        assert_int_equal(http_retry_after_parse(" \t5 ", now, &d), 0);
        assert_int_equal(d, 5 * SEC);
        assert_int_equal(http_retry_after_parse("0", now, &d), 0);
        assert_int_equal(d, 0);
        /* absurd values saturate at a century instead of overflowing */
        assert_int_equal(http_retry_after_parse("99999999999999999999999", now, &d), 0);
        assert_true(d >= UINT64_C(100) * 365 * 86400 * SEC && d < UINT64_MAX / 2);

        /* a date: whole seconds from the second we are in, minus what of it has passed */
        assert_int_equal(http_retry_after_parse("Sun, 06 Nov 1994 08:49:37 GMT", now, &d), 0);
        assert_int_equal(d, 7 * SEC - SEC / 4);
        assert_int_equal(http_retry_after_parse("Sun Nov  6 08:49:37 1994", now, &d), 0);
        assert_int_equal(d, 7 * SEC - SEC / 4);
        assert_int_equal(http_retry_after_parse("Sun, 06 Nov 1994 08:49:00 GMT", now, &d), 0);
        assert_int_equal(d, 0); /* the past: now */
        assert_int_equal(http_retry_after_parse("Fri, 31 Dec 9999 23:59:59 GMT", now, &d), 0);
        assert_true(d > 0 && d < UINT64_MAX / 2);

        static const char *const bad[] = { "",     "  ",   "-1",
                                           "1.5",  "+3",   "5s",
                                           "soon", "0x10", "Sun, 06 Nov 1994 08:49:37 GMT, 5" };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                if (http_retry_after_parse(bad[i], now, &d) != -EINVAL)
                        fail_msg("accepted '%s'", bad[i]);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_status_outcome), cmocka_unit_test(test_curl_outcome),
                cmocka_unit_test(test_backoff),        cmocka_unit_test(test_date_parse),
                cmocka_unit_test(test_retry_after),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
