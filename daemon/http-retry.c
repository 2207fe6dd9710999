/* SPDX-License-Identifier: MIT */
#include "http-retry.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "calendar.h"
#include "macro.h"

#define USEC_PER_SEC UINT64_C(1000000)
/* A delay this long is "never" for any caller, and still far from overflowing when added to a clock. */
#define DELAY_MAX_USEC (UINT64_C(100) * 366 * SECONDS_PER_DAY * USEC_PER_SEC)

const char *const http_outcome_names[_HTTP_OUTCOME_MAX + 1] = {
        [HTTP_OK] = "ok",
        [HTTP_RETRY] = "retry",
        [HTTP_FAIL] = "fail",
};

HttpOutcome http_status_outcome(long status) {
        if (status >= 200 && status <= 299)
                return HTTP_OK;
        if (status == 408 || status == 429 || (status >= 500 && status <= 599))
                return HTTP_RETRY;
        return HTTP_FAIL;
}

HttpOutcome http_curl_outcome(int curl_code, int *ret_error) {
        static const struct {
                CURLcode code;
                HttpOutcome outcome;
                int error;
        } table[] = {
                /* the network or the server had a bad moment */
                { CURLE_COULDNT_RESOLVE_HOST, HTTP_RETRY, EHOSTUNREACH },
                { CURLE_COULDNT_RESOLVE_PROXY, HTTP_RETRY, EHOSTUNREACH },
                { CURLE_COULDNT_CONNECT, HTTP_RETRY, ECONNREFUSED },
                { CURLE_OPERATION_TIMEDOUT, HTTP_RETRY, ETIMEDOUT },
                { CURLE_SEND_ERROR, HTTP_RETRY, ECONNRESET },
                { CURLE_RECV_ERROR, HTTP_RETRY, ECONNRESET },
                { CURLE_GOT_NOTHING, HTTP_RETRY, ECONNRESET },
                { CURLE_PARTIAL_FILE, HTTP_RETRY, ECONNRESET },
                { CURLE_HTTP2, HTTP_RETRY, EPROTO },
                { CURLE_HTTP2_STREAM, HTTP_RETRY, EPROTO },
                { CURLE_SSL_CONNECT_ERROR, HTTP_RETRY, EPROTO },
                /* retrying cannot change these */
                { CURLE_PEER_FAILED_VERIFICATION, HTTP_FAIL, EPERM },
                { CURLE_SSL_CACERT_BADFILE, HTTP_FAIL, ENOENT },
                { CURLE_SSL_CERTPROBLEM, HTTP_FAIL, EPERM },
                { CURLE_FILESIZE_EXCEEDED, HTTP_FAIL, EFBIG },
                { CURLE_WRITE_ERROR, HTTP_FAIL, EFBIG }, /* only our write callback refuses data */
                { CURLE_UNSUPPORTED_PROTOCOL, HTTP_FAIL, EPROTONOSUPPORT },
                { CURLE_URL_MALFORMAT, HTTP_FAIL, EINVAL },
                { CURLE_OUT_OF_MEMORY, HTTP_FAIL, ENOMEM },
                { CURLE_BAD_CONTENT_ENCODING, HTTP_FAIL, EBADMSG },
                { CURLE_WEIRD_SERVER_REPLY, HTTP_FAIL, EBADMSG },
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                if ((int) table[i].code == curl_code) {
                        *ret_error = -table[i].error;
                        return table[i].outcome;
                }
        *ret_error = -EIO;
        return HTTP_FAIL;
}

uint64_t http_backoff_usec(uint64_t base_usec, uint64_t cap_usec, unsigned retry, uint64_t random) {
        uint64_t delay = MIN(base_usec, cap_usec);
        for (unsigned i = 1; i < retry && delay < cap_usec; i++)
                delay = delay > cap_usec / 2 ? cap_usec : delay * 2;
        return delay - (delay > 1 ? random % (delay / 2 + 1) : 0);
}

/* ---------------------------------------------------------------- HTTP-date */

static const char *const month_names[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
static const char *const day_names[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
static const char *const long_day_names[] = { "Sunday",   "Monday", "Tuesday", "Wednesday",
                                              "Thursday", "Friday", "Saturday" };

/* Consumes one of `names` (case-sensitive, as the grammar says) at *p; returns its index or -1. */
static int take_name(const char **p, const char *const *names, size_t n) {
        for (size_t i = 0; i < n; i++) {
                size_t len = strlen(names[i]);
                if (strncmp(*p, names[i], len) == 0) {
                        *p += len;
                        return (int) i;
                }
        }
        return -1;
}

/* Consumes exactly `digits` digits (a leading space stands for a zero where `space_ok`). */
static bool take_number(const char **p, unsigned digits, bool space_ok, unsigned *ret) {
        unsigned v = 0;
        for (unsigned i = 0; i < digits; i++) {
                char c = (*p)[i];
                if (space_ok && i == 0 && c == ' ')
                        continue;
                if (c < '0' || c > '9')
                        return false;
                v = v * 10 + (unsigned) (c - '0');
        }
        *p += digits;
        *ret = v;
        return true;
}

static bool take(const char **p, const char *literal) {
        size_t len = strlen(literal);
        if (strncmp(*p, literal, len) != 0)
                return false;
        *p += len;
        return true;
}

/* "08:49:37" */
static bool take_time(const char **p, CivilTime *c) {
        return take_number(p, 2, false, &c->hour) && take(p, ":") && take_number(p, 2, false, &c->minute) &&
               take(p, ":") && take_number(p, 2, false, &c->second);
}

int http_date_parse(const char *text, int64_t *ret_seconds) {
        const char *p = text;
        CivilTime c = {};
        unsigned year, month;
        int m;

        if (take_name(&p, long_day_names, ELEMENTSOF(long_day_names)) >= 0) {
                /* RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT" */
                if (!take(&p, ", ") || !take_number(&p, 2, false, &c.day) || !take(&p, "-") ||
                    (m = take_name(&p, month_names, ELEMENTSOF(month_names))) < 0 || !take(&p, "-") ||
                    !take_number(&p, 2, false, &year) || !take(&p, " ") || !take_time(&p, &c) ||
                    !take(&p, " GMT"))
                        return -EINVAL;
                year += year < 70 ? 2000 : 1900;
        } else if (take_name(&p, day_names, ELEMENTSOF(day_names)) < 0)
                return -EINVAL;
        else if (take(&p, ", ")) {
                /* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
                if (!take_number(&p, 2, false, &c.day) || !take(&p, " ") ||
                    (m = take_name(&p, month_names, ELEMENTSOF(month_names))) < 0 || !take(&p, " ") ||
                    !take_number(&p, 4, false, &year) || !take(&p, " ") || !take_time(&p, &c) ||
                    !take(&p, " GMT"))
                        return -EINVAL;
        } else {
                /* asctime: "Sun Nov  6 08:49:37 1994" */
                if (!take(&p, " ") || (m = take_name(&p, month_names, ELEMENTSOF(month_names))) < 0 ||
                    !take(&p, " ") || !take_number(&p, 2, true, &c.day) || !take(&p, " ") ||
                    !take_time(&p, &c) || !take(&p, " ") || !take_number(&p, 4, false, &year))
                        return -EINVAL;
        }
        month = (unsigned) m + 1;
        if (*p != '\0' || c.day < 1 || c.day > days_in_month(year, month) || c.hour > 23 || c.minute > 59 ||
            c.second > 60) /* a leap second reads as the next second, which is what it means to a delay */
                return -EINVAL;
        c.year = year;
        c.month = month;
        *ret_seconds = seconds_from_civil(&c);
        return 0;
}

/* ---------------------------------------------------------------- Retry-After */

int http_retry_after_parse(const char *value, uint64_t now_usec, uint64_t *ret_delay_usec) {
        char buf[64];
        size_t start = strspn(value, " \t"), len = strlen(value + start);
        int64_t date;

        while (len > 0 && (value[start + len - 1] == ' ' || value[start + len - 1] == '\t'))
                len--;
        if (len == 0 || len >= sizeof buf)
                return -EINVAL;
        memcpy(buf, value + start, len);
        buf[len] = '\0';

        if (strspn(buf, "0123456789") == len) {
                uint64_t seconds = 0;
                for (size_t i = 0; i < len && seconds <= DELAY_MAX_USEC / USEC_PER_SEC; i++)
                        seconds = seconds * 10 + (uint64_t) (buf[i] - '0');
                *ret_delay_usec = MIN(seconds, DELAY_MAX_USEC / USEC_PER_SEC) * USEC_PER_SEC;
                return 0;
        }
        if (http_date_parse(buf, &date) < 0)
                return -EINVAL;
        int64_t now_sec = (int64_t) (now_usec / USEC_PER_SEC);
        if (date <= now_sec)
                *ret_delay_usec = 0;
        else /* whole seconds, measured from the whole second we are in, as the server counted */
                *ret_delay_usec = MIN((uint64_t) (date - now_sec) * USEC_PER_SEC - now_usec % USEC_PER_SEC,
                                      DELAY_MAX_USEC);
        return 0;
}
