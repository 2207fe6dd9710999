/* SPDX-License-Identifier: MIT */
#include "sigv4.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s3-url.h"

static void hex(const unsigned char *bytes, size_t n, char *out) {
        static const char digits[] = "0123456789abcdef";
        for (size_t i = 0; i < n; i++) {
                out[2 * i] = digits[bytes[i] >> 4];
                out[2 * i + 1] = digits[bytes[i] & 15];
        }
        out[2 * n] = '\0';
}

int sigv4_sha256_hex(const void *data, size_t size, char ret_hex[static 65]) {
        unsigned char digest[32];
        unsigned n = 0;
        if (!EVP_Digest(data, size, digest, &n, EVP_sha256(), NULL) || n != sizeof digest)
                return -ENOMEM;
        hex(digest, sizeof digest, ret_hex);
        return 0;
}

static bool hmac(const void *key, size_t key_len, const char *text, unsigned char out[static 32]) {
        unsigned n = 0;
        return HMAC(EVP_sha256(), key, (int) key_len, (const unsigned char *) text, strlen(text), out, &n) &&
               n == 32;
}

int sigv4_signing_key(const char *secret, const char *date, const char *region, const char *service,
                      unsigned char ret_key[static 32]) {
        unsigned char k[32];
        char *first = NULL;
        bool ok;

        if (asprintf(&first, "AWS4%s", secret) < 0)
                return -ENOMEM;
        ok = hmac(first, strlen(first), date, k) && hmac(k, sizeof k, region, k) &&
             hmac(k, sizeof k, service, k) && hmac(k, sizeof k, "aws4_request", ret_key);
        explicit_bzero(first, strlen(first));
        free(first);
        explicit_bzero(k, sizeof k);
        return ok ? 0 : -ENOMEM;
}

/* A value that goes into the credential scope unencoded: no '/', nothing to escape. */
static bool token_valid(const char *s) {
        return s[0] != '\0' &&
               strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.") == strlen(s);
}

int sigv4_presign_query(const SigV4Presign *p, char **ret_query) {
        char date[9], stamp[17], request_hash[65], signature[65];
        char *query = NULL, *canonical = NULL, *to_sign = NULL, *credential = NULL,
             *encoded_credential = NULL;
        unsigned char key[32], mac[32];
        struct tm tm;
        int r = -ENOMEM;

        if (p->expires_sec < 1 || p->expires_sec > SIGV4_EXPIRES_MAX || !token_valid(p->access_key_id) ||
            !token_valid(p->region) || !token_valid(p->service) || !gmtime_r(&p->now, &tm))
                return -EINVAL;
        strftime(date, sizeof date, "%Y%m%d", &tm);
        strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);

        /* the parameters in their canonical (sorted) order, so the query is its own canonical form */
        if (asprintf(&credential, "%s/%s/%s/%s/aws4_request", p->access_key_id, date, p->region,
                     p->service) < 0)
                credential = NULL;
        else if ((encoded_credential = s3_uri_encode(credential, false)) &&
                 asprintf(&query,
                          "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=%s&X-Amz-Date=%s"
                          "&X-Amz-Expires=%u&X-Amz-SignedHeaders=host",
                          encoded_credential, stamp, p->expires_sec) < 0)
                query = NULL;
        if (!query)
                goto finish;
        if (asprintf(&canonical, "GET\n%s\n%s\nhost:%s\n\nhost\n" SIGV4_UNSIGNED_PAYLOAD, p->path, query,
                     p->host) < 0) {
                canonical = NULL;
                goto finish;
        }
        if ((r = sigv4_sha256_hex(canonical, strlen(canonical), request_hash)) < 0)
                goto finish;
        r = -ENOMEM;
        if (asprintf(&to_sign, "AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s", stamp, date, p->region,
                     p->service, request_hash) < 0) {
                to_sign = NULL;
                goto finish;
        }
        if ((r = sigv4_signing_key(p->secret, date, p->region, p->service, key)) < 0)
                goto finish;
        r = -ENOMEM;
        if (!hmac(key, sizeof key, to_sign, mac))
                goto finish;
        hex(mac, sizeof mac, signature);
        char *signed_query;
        if (asprintf(&signed_query, "%s&X-Amz-Signature=%s", query, signature) < 0)
                goto finish;
        *ret_query = signed_query;
        r = 0;
finish:
        explicit_bzero(key, sizeof key);
        free(query);
        free(canonical);
        free(to_sign);
        free(credential);
        free(encoded_credential);
        return r;
}
