/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * PEM text of an OpenSSL key, for tests that make service-account keys: the private key (PKCS#8, as
 * Google's key files hold it) or its public half. Header-only, so that only tests that use OpenSSL
 * link libcrypto. Failures abort (a test helper).
 */

#include <openssl/pem.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static inline char *pem_of_key(EVP_PKEY *key, bool public_only) {
        BIO *bio = BIO_new(BIO_s_mem());
        char *data, *copy;

        if (!bio || (public_only ? PEM_write_bio_PUBKEY(bio, key)
                                 : PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL)) != 1)
                abort();
        long n = BIO_get_mem_data(bio, &data);
        /* not strndup(): the buffer has no NUL, and ASan's strict string checks read it as a string */
        if (n < 0 || !(copy = malloc((size_t) n + 1)))
                abort();
        memcpy(copy, data, (size_t) n);
        copy[n] = '\0';
        BIO_free(bio);
        return copy;
}
