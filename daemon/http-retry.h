/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * What an HTTP attempt's end means and when to try again, as pure functions:
 * the OK / RETRY / FAIL verdict for a status or a libcurl result, capped
 * exponential backoff with jitter, and the Retry-After header (delta-seconds
 * or an HTTP-date). No I/O, no clock, no randomness of their own: callers
 * pass "now" and a random number, so tests can pin both.
 */

#include <stdint.h>

typedef enum HttpOutcome {
        HTTP_OK,    /* 2xx */
        HTTP_RETRY, /* network errors, timeouts, 408, 429, 5xx: trying again may help */
        HTTP_FAIL,  /* any other 4xx, TLS verification, a refused reply: it will not */
        _HTTP_OUTCOME_MAX,
} HttpOutcome;

extern const char *const http_outcome_names[_HTTP_OUTCOME_MAX + 1]; /* "ok", "retry", "fail" */

/* The verdict for a final (non-3xx) HTTP status. */
HttpOutcome http_status_outcome(long status);

/*
 * The verdict for a libcurl result (a CURLcode other than CURLE_OK), and a
 * negative errno naming the kind of failure in *ret_error (-ETIMEDOUT,
 * -ECONNREFUSED, -ECONNRESET, -EHOSTUNREACH, -EFBIG, -EPROTO, ...).
 */
HttpOutcome http_curl_outcome(int curl_code, int *ret_error);

/*
 * The delay before retry number `retry` (1 for the first retry): base doubled
 * per earlier retry, capped at `cap`, then up to half of it taken off by
 * `random` (any uniformly random number), so that many clients retrying the
 * same server spread out.
 */
uint64_t http_backoff_usec(uint64_t base_usec, uint64_t cap_usec, unsigned retry, uint64_t random);

/*
 * Parses an HTTP-date in any of the three forms RFC 9110 makes recipients
 * accept: "Sun, 06 Nov 1994 08:49:37 GMT" (IMF-fixdate), "Sunday, 06-Nov-94
 * 08:49:37 GMT" (RFC 850; years 70-99 are 19xx) and "Sun Nov  6 08:49:37 1994"
 * (asctime). Returns 0 and seconds since the epoch, or -EINVAL.
 */
int http_date_parse(const char *text, int64_t *ret_seconds);

/*
 * Parses a Retry-After value: delta-seconds ("120") or an HTTP-date, which is
 * turned into a delay from `now_usec` (CLOCK_REALTIME; a date in the past is
 * a delay of 0). Surrounding blanks are allowed. Huge delays saturate rather
 * than overflow. Returns 0 and the delay, or -EINVAL.
 */
int http_retry_after_parse(const char *value, uint64_t now_usec, uint64_t *ret_delay_usec);
