/* SPDX-License-Identifier: MIT */
/*
 * gcs-credentials' key and JWT code: service-account keys accepted and refused, base64url, the
 * assertion's header and claims, its RS256 signature checked with the public key through OpenSSL (and
 * refused once altered), and the token endpoint's replies.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../plugins/gcs-credentials/google-auth.h"
#include "../support/pem.h"
#include "cleanup.h"
#include "macro.h"

#define EMAIL "runner@project.iam.gserviceaccount.com"
#define SCOPE "https://www.googleapis.com/auth/devstorage.read_write"

typedef struct Keys {
        EVP_PKEY *rsa;
        char *rsa_pem;
        char *ec_pem;
} Keys;

static int setup(void **state) {
        Keys *k = calloc(1, sizeof *k);
        assert_non_null(k);
        assert_non_null(k->rsa = EVP_RSA_gen(2048));
        k->rsa_pem = pem_of_key(k->rsa, false);
        EVP_PKEY *ec = EVP_EC_gen("P-256");
        assert_non_null(ec);
        k->ec_pem = pem_of_key(ec, false);
        EVP_PKEY_free(ec);
        *state = k;
        return 0;
}

static int teardown(void **state) {
        Keys *k = *state;
        EVP_PKEY_free(k->rsa);
        free(k->rsa_pem);
        free(k->ec_pem);
        free(k);
        return 0;
}

/* A key file as Google's console writes it, with `pem` and, unless NULL, `token_uri`. */
static char *key_json(const char *type, const char *email, const char *pem, const char *token_uri) {
        cJSON *o = cJSON_CreateObject();
        assert_non_null(o);
        if (type)
                cJSON_AddStringToObject(o, "type", type);
        cJSON_AddStringToObject(o, "project_id", "project");
        cJSON_AddStringToObject(o, "private_key_id", "0123abcd");
        if (pem)
                cJSON_AddStringToObject(o, "private_key", pem);
        if (email)
                cJSON_AddStringToObject(o, "client_email", email);
        cJSON_AddStringToObject(o, "client_id", "1234567890");
        cJSON_AddStringToObject(o, "auth_uri", "https://accounts.google.com/o/oauth2/auth");
        if (token_uri)
                cJSON_AddStringToObject(o, "token_uri", token_uri);
        char *text = cJSON_Print(o);
        assert_non_null(text);
        cJSON_Delete(o);
        return text;
}

static ServiceAccount *parse_ok(const char *json) {
        ServiceAccount *sa = NULL;
        const char *reason = NULL;
        int r = service_account_parse(json, strlen(json), &sa, &reason);
        if (r < 0)
                fail_msg("refused: %s", reason);
        return sa;
}

static void expect_refused(const char *json, const char *reason_part) {
        ServiceAccount *sa = NULL;
        const char *reason = NULL;
        assert_int_equal(service_account_parse(json, json ? strlen(json) : 0, &sa, &reason), -EINVAL);
        assert_null(sa);
        assert_non_null(reason);
        if (!strstr(reason, reason_part))
                fail_msg("reason '%s' does not say '%s'", reason, reason_part);
}

static void test_service_account(void **state) {
        Keys *k = *state;
        _cleanup_free_ char *json =
                key_json("service_account", EMAIL, k->rsa_pem, "http://127.0.0.1:1/token");
        ServiceAccount *sa = parse_ok(json);
        assert_string_equal(sa->client_email, EMAIL);
        assert_string_equal(sa->private_key_id, "0123abcd");
        assert_string_equal(sa->token_uri, "http://127.0.0.1:1/token");
        assert_string_equal(sa->project_id, "project");
        assert_int_equal(EVP_PKEY_eq(sa->key, k->rsa), 1);
        service_account_free(sa);

        /* without a token_uri: Google's */
        _cleanup_free_ char *plain = key_json("service_account", EMAIL, k->rsa_pem, NULL);
        sa = parse_ok(plain);
        assert_string_equal(sa->token_uri, GOOGLE_TOKEN_URI_DEFAULT);
        service_account_free(sa);
        assert_null(service_account_free(NULL));
}

static void test_service_account_refused(void **state) {
        Keys *k = *state;
        char *json;

        expect_refused("", "not a JSON object");
        expect_refused("[1]", "not a JSON object");
        expect_refused("{\"type\": \"service_account\"", "not a JSON object");
        json = key_json("authorized_user", EMAIL, k->rsa_pem, NULL);
        expect_refused(json, "not a service account key");
        free(json);
        json = key_json(NULL, EMAIL, k->rsa_pem, NULL);
        expect_refused(json, "not a service account key");
        free(json);
        json = key_json("service_account", NULL, k->rsa_pem, NULL);
        expect_refused(json, "client_email");
        free(json);
        json = key_json("service_account", EMAIL, NULL, NULL);
        expect_refused(json, "no \"private_key\"");
        free(json);
        json = key_json("service_account", EMAIL,
                        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", NULL);
        expect_refused(json, "not a PEM RSA private key");
        free(json);
        json = key_json("service_account", EMAIL, k->ec_pem, NULL);
        expect_refused(json, "not a PEM RSA private key");
        free(json);
        json = key_json("service_account", EMAIL, k->rsa_pem, "file:///etc/passwd");
        expect_refused(json, "token_uri");
        free(json);
}

static void test_base64url(void **state) {
        static const struct {
                const char *in;
                size_t size;
                const char *out;
        } cases[] = {
                { "", 0, "" },
                { "f", 1, "Zg" },
                { "fo", 2, "Zm8" },
                { "foo", 3, "Zm9v" },
                { "foob", 4, "Zm9vYg" },
                { "fooba", 5, "Zm9vYmE" },
                { "foobar", 6, "Zm9vYmFy" },
                { "\xfb\xff", 2, "-_8" },
                { "\x00\x00\x00", 3, "AAAA" },
        };
        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *out = base64url_encode(cases[i].in, cases[i].size);
                assert_string_equal(out, cases[i].out);
        }
}

/* Decodes base64url (no padding) with OpenSSL's standard decoder: an independent check of ours. */
static char *base64url_decode(const char *in, size_t len, size_t *ret_size) {
        _cleanup_free_ char *std = malloc(len + 4);
        size_t n = 0;
        assert_non_null(std);
        for (; n < len; n++)
                std[n] = in[n] == '-' ? '+' : in[n] == '_' ? '/' : in[n];
        while (n % 4)
                std[n++] = '=';
        unsigned char *out = malloc(n / 4 * 3 + 1);
        assert_non_null(out);
        int size = EVP_DecodeBlock(out, (unsigned char *) std, (int) n);
        assert_true(size >= 0);
        size -= (int) (n - len > 0 ? n - len : 0); /* EVP_DecodeBlock counts the padding as zero bytes */
        out[size] = '\0';
        *ret_size = (size_t) size;
        return (char *) out;
}

static cJSON *decode_part(const char *part, size_t len) {
        size_t size;
        _cleanup_free_ char *text = base64url_decode(part, len, &size);
        cJSON *j = cJSON_ParseWithLength(text, size);
        assert_true(cJSON_IsObject(j));
        return j;
}

static bool verify(EVP_PKEY *key, const char *signed_part, size_t signed_len, const char *signature,
                   size_t signature_len) {
        size_t size;
        _cleanup_free_ char *raw = base64url_decode(signature, signature_len, &size);
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        assert_non_null(md);
        assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key), 1);
        int ok = EVP_DigestVerify(md, (unsigned char *) raw, size, (const unsigned char *) signed_part,
                                  signed_len);
        EVP_MD_CTX_free(md);
        return ok == 1;
}

static const char *string_of(const cJSON *o, const char *name) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, name);
        assert_true(cJSON_IsString(m));
        return m->valuestring;
}

static double number_of(const cJSON *o, const char *name) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, name);
        assert_true(cJSON_IsNumber(m));
        return m->valuedouble;
}

static void test_assertion(void **state) {
        Keys *k = *state;
        _cleanup_free_ char *json =
                key_json("service_account", EMAIL, k->rsa_pem, "https://t.example/token");
        _cleanup_free_ char *jwt = NULL;
        ServiceAccount *sa = parse_ok(json);

        assert_int_equal(google_assertion(sa, SCOPE, 1700000000, &jwt), 0);
        assert_int_equal(strspn(jwt, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."),
                         strlen(jwt));
        const char *dot1 = strchr(jwt, '.'), *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
        assert_non_null(dot2);
        assert_null(strchr(dot2 + 1, '.'));

        cJSON *header = decode_part(jwt, (size_t) (dot1 - jwt));
        assert_string_equal(string_of(header, "alg"), "RS256");
        assert_string_equal(string_of(header, "typ"), "JWT");
        assert_string_equal(string_of(header, "kid"), "0123abcd");
        cJSON_Delete(header);

        cJSON *claims = decode_part(dot1 + 1, (size_t) (dot2 - dot1 - 1));
        assert_string_equal(string_of(claims, "iss"), EMAIL);
        assert_string_equal(string_of(claims, "scope"), SCOPE);
        assert_string_equal(string_of(claims, "aud"), "https://t.example/token");
        assert_true(number_of(claims, "iat") == 1700000000);
        assert_true(number_of(claims, "exp") == 1700000000 + 3600);
        cJSON_Delete(claims);

        /* signed with the key: the public half verifies it, and nothing else */
        size_t signed_len = (size_t) (dot2 - jwt);
        assert_true(verify(k->rsa, jwt, signed_len, dot2 + 1, strlen(dot2 + 1)));
        jwt[dot1 - jwt + 3] ^= 1; /* one claim character changed */
        assert_false(verify(k->rsa, jwt, signed_len, dot2 + 1, strlen(dot2 + 1)));
        EVP_PKEY *other = EVP_RSA_gen(2048);
        jwt[dot1 - jwt + 3] ^= 1;
        assert_false(verify(other, jwt, signed_len, dot2 + 1, strlen(dot2 + 1)));
        EVP_PKEY_free(other);

        char *none = NULL;
        assert_int_equal(google_assertion(sa, "", 1700000000, &none), -EINVAL);
        assert_null(none);
        service_account_free(sa);
}

static void test_token_reply(void **state) {
        static const struct {
                const char *body;
                int r;
                const char *token, *error;
                uint64_t expires_in;
        } cases[] = {
                { "{\"access_token\":\"ya29.c.abc-_/+=\",\"expires_in\":3599,\"token_type\":\"Bearer\"}", 0,
                  "ya29.c.abc-_/+=", NULL, 3599 },
                { "{\"access_token\":\"t\",\"expires_in\":\"120\",\"token_type\":\"bearer\"}", 0, "t", NULL,
                  120 },
                { "{\"access_token\":\"t\"}", 0, "t", NULL, 0 },
                { "{\"error\":\"invalid_grant\",\"error_description\":\"Invalid JWT Signature.\"}", 0, NULL,
                  "invalid_grant: Invalid JWT Signature.", 0 },
                { "{\"error\":\"bad\\r\\nX-Injected: 1\"}", 0, NULL, "bad??X-Injected: 1", 0 },
                { "{\"error\":{\"code\":400}}", 0, NULL, "", 0 },
                { "", -EBADMSG, NULL, NULL, 0 },
                { "null", -EBADMSG, NULL, NULL, 0 },
                { "{\"token_type\":\"Bearer\"}", -EBADMSG, NULL, NULL, 0 },
                { "{\"access_token\":\"\"}", -EBADMSG, NULL, NULL, 0 },
                { "{\"access_token\":\"a b\"}", -EBADMSG, NULL, NULL, 0 },
                { "{\"access_token\":\"a\\r\\nHost: evil\"}", -EBADMSG, NULL, NULL, 0 },
                { "{\"access_token\":\"t\",\"token_type\":\"mac\"}", -EBADMSG, NULL, NULL, 0 },
                { "{\"access_token\":\"t\",\"expires_in\":0}", -EBADMSG, NULL, NULL, 0 },
                { "{\"access_token\":\"t\",\"expires_in\":-5}", -EBADMSG, NULL, NULL, 0 },
                { "{\"access_token\":\"t\",\"expires_in\":1e300}", -EBADMSG, NULL, NULL, 0 },
                { "{\"access_token\":\"t\",\"expires_in\":\"12x\"}", -EBADMSG, NULL, NULL, 0 },
                { "{\"access_token\":7}", -EBADMSG, NULL, NULL, 0 },
        };
        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                TokenReply reply = {};
                const char *reason = NULL;
                int r = token_reply_parse(cases[i].body, strlen(cases[i].body), &reply, &reason);
                if (r != cases[i].r)
                        fail_msg("case %zu: %d, expected %d (%s)", i, r, cases[i].r, reason ?: "");
                if (r < 0) {
                        assert_non_null(reason);
                        assert_null(reply.access_token);
                        continue;
                }
                if (cases[i].token) {
                        assert_string_equal(reply.access_token, cases[i].token);
                        assert_null(reply.error);
                } else {
                        assert_null(reply.access_token);
                        assert_string_equal(reply.error, cases[i].error);
                }
                assert_int_equal(reply.expires_in, cases[i].expires_in);
                token_reply_done(&reply);
                assert_null(reply.access_token);
        }
}

/* A long error description is cut, not copied whole into a message. */
static void test_token_reply_long_error(void **state) {
        char body[4096];
        TokenReply reply = {};
        const char *reason = NULL;
        (void) state;
        int n = snprintf(body, sizeof body, "{\"error\":\"x\",\"error_description\":\"");
        memset(body + n, 'd', 3000);
        strcpy(body + n + 3000, "\"}");
        assert_int_equal(token_reply_parse(body, strlen(body), &reply, &reason), 0);
        assert_int_equal(strlen(reply.error), 200);
        token_reply_done(&reply);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_service_account), cmocka_unit_test(test_service_account_refused),
                cmocka_unit_test(test_base64url),       cmocka_unit_test(test_assertion),
                cmocka_unit_test(test_token_reply),     cmocka_unit_test(test_token_reply_long_error),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
