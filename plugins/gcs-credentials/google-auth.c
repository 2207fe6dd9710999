/* SPDX-License-Identifier: MIT */
#include "google-auth.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define TOKEN_MAX      8192  /* Google's are a few hundred bytes */
#define ERROR_TEXT_MAX 200   /* of an error reply, as quoted in messages */
#define EXPIRES_IN_MAX 86400 /* a day: Google says 3599 */

static void free_ptr(void *p) {
        free(*(void **) p);
}
#define _cleanup_free_ __attribute__((cleanup(free_ptr)))

static void json_delete(cJSON **j) {
        cJSON_Delete(*j);
}
#define _cleanup_json_ __attribute__((cleanup(json_delete)))

/* A member that must be a non-empty string, or NULL. */
static const char *string_member(const cJSON *object, const char *name) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(object, name);
        return cJSON_IsString(m) && m->valuestring[0] ? m->valuestring : NULL;
}

static bool copy_optional(const char *s, char **ret) {
        *ret = s ? strdup(s) : NULL;
        return !s || *ret;
}

/* ------------------------------------------------------------------ the key */

ServiceAccount *service_account_free(ServiceAccount *sa) {
        if (!sa)
                return NULL;
        free(sa->client_email);
        free(sa->private_key_id);
        free(sa->token_uri);
        free(sa->project_id);
        EVP_PKEY_free(sa->key);
        free(sa);
        return NULL;
}

/* The PEM private key, or NULL; the PEM text is wiped by the caller (it is the secret's). */
static EVP_PKEY *read_private_key(const char *pem) {
        BIO *bio = BIO_new_mem_buf(pem, -1);
        if (!bio)
                return NULL;
        /* no password callback: an encrypted key fails instead of prompting */
        EVP_PKEY *key = PEM_read_bio_PrivateKey(bio, NULL, NULL, (void *) "");
        BIO_free(bio);
        return key;
}

static bool http_url(const char *s) {
        return strncmp(s, "https://", 8) == 0 || strncmp(s, "http://", 7) == 0;
}

int service_account_parse(const char *json, size_t size, ServiceAccount **ret, const char **ret_reason) {
        _cleanup_json_ cJSON *root = cJSON_ParseWithLength(json, size);
        const char *type, *email, *pem, *token_uri;

        if (!root || !cJSON_IsObject(root)) {
                *ret_reason = "not a JSON object";
                return -EINVAL;
        }
        if (!(type = string_member(root, "type")) || strcmp(type, "service_account") != 0) {
                *ret_reason = "not a service account key (its \"type\" is not \"service_account\")";
                return -EINVAL;
        }
        if (!(email = string_member(root, "client_email"))) {
                *ret_reason = "no \"client_email\"";
                return -EINVAL;
        }
        if (!(pem = string_member(root, "private_key"))) {
                *ret_reason = "no \"private_key\"";
                return -EINVAL;
        }
        token_uri = string_member(root, "token_uri") ?: GOOGLE_TOKEN_URI_DEFAULT;
        if (!http_url(token_uri)) {
                *ret_reason = "its \"token_uri\" is not an http(s) URL";
                return -EINVAL;
        }

        ServiceAccount *sa = calloc(1, sizeof *sa);
        if (!sa)
                return -ENOMEM;
        sa->key = read_private_key(pem);
        /* cJSON holds the PEM text: wipe it before the tree is freed */
        explicit_bzero(cJSON_GetObjectItemCaseSensitive(root, "private_key")->valuestring, strlen(pem));
        if (!sa->key || EVP_PKEY_get_base_id(sa->key) != EVP_PKEY_RSA) {
                service_account_free(sa);
                *ret_reason = "its \"private_key\" is not a PEM RSA private key";
                return -EINVAL;
        }
        if (!(sa->client_email = strdup(email)) || !(sa->token_uri = strdup(token_uri)) ||
            !copy_optional(string_member(root, "private_key_id"), &sa->private_key_id) ||
            !copy_optional(string_member(root, "project_id"), &sa->project_id)) {
                service_account_free(sa);
                return -ENOMEM;
        }
        *ret = sa;
        return 0;
}

/* ------------------------------------------------------------------ the assertion */

char *base64url_encode(const void *data, size_t size) {
        static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        const unsigned char *p = data;
        char *out = malloc(size / 3 * 4 + 5), *o = out;

        if (!out)
                return NULL;
        for (size_t i = 0; i < size; i += 3) {
                size_t n = size - i < 3 ? size - i : 3;
                uint32_t v = (uint32_t) p[i] << 16 | (n > 1 ? (uint32_t) p[i + 1] << 8 : 0) |
                             (n > 2 ? p[i + 2] : 0);
                *o++ = alphabet[v >> 18 & 63];
                *o++ = alphabet[v >> 12 & 63];
                if (n > 1)
                        *o++ = alphabet[v >> 6 & 63];
                if (n > 2)
                        *o++ = alphabet[v & 63];
        }
        *o = '\0';
        return out;
}

/* base64url(JSON of `object`), or NULL on OOM. */
static char *encode_json(const cJSON *object) {
        _cleanup_free_ char *text = cJSON_PrintUnformatted(object);
        return text ? base64url_encode(text, strlen(text)) : NULL;
}

/* An RS256 (RSASSA-PKCS1-v1_5 with SHA-256) signature of `input`, base64url: 0, -ENOMEM or -EIO. */
static int sign_rs256(EVP_PKEY *key, const char *input, char **ret) {
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        _cleanup_free_ unsigned char *signature = NULL;
        size_t size = 0;
        int r = -EIO;

        if (!md)
                return -ENOMEM;
        if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
            EVP_DigestSign(md, NULL, &size, (const unsigned char *) input, strlen(input)) == 1) {
                if (!(signature = malloc(size)))
                        r = -ENOMEM;
                else if (EVP_DigestSign(md, signature, &size, (const unsigned char *) input,
                                        strlen(input)) == 1)
                        r = (*ret = base64url_encode(signature, size)) ? 0 : -ENOMEM;
        }
        EVP_MD_CTX_free(md);
        return r;
}

int google_assertion(const ServiceAccount *sa, const char *scope, int64_t now_sec, char **ret) {
        _cleanup_json_ cJSON *header = cJSON_CreateObject(), *claims = cJSON_CreateObject();
        _cleanup_free_ char *header_text = NULL, *claims_text = NULL, *input = NULL, *signature = NULL;

        if (!scope || !*scope)
                return -EINVAL;
        if (!header || !claims || !cJSON_AddStringToObject(header, "alg", "RS256") ||
            !cJSON_AddStringToObject(header, "typ", "JWT") ||
            (sa->private_key_id && !cJSON_AddStringToObject(header, "kid", sa->private_key_id)) ||
            !cJSON_AddStringToObject(claims, "iss", sa->client_email) ||
            !cJSON_AddStringToObject(claims, "scope", scope) ||
            !cJSON_AddStringToObject(claims, "aud", sa->token_uri) ||
            !cJSON_AddNumberToObject(claims, "iat", (double) now_sec) ||
            !cJSON_AddNumberToObject(claims, "exp", (double) (now_sec + GOOGLE_ASSERTION_LIFETIME_SEC)))
                return -ENOMEM;
        if (!(header_text = encode_json(header)) || !(claims_text = encode_json(claims)) ||
            asprintf(&input, "%s.%s", header_text, claims_text) < 0) {
                input = NULL;
                return -ENOMEM;
        }
        int r = sign_rs256(sa->key, input, &signature);
        if (r < 0)
                return r;
        if (asprintf(ret, "%s.%s", input, signature) < 0)
                return -ENOMEM;
        return 0;
}

/* ------------------------------------------------------------------ the reply */

void token_reply_done(TokenReply *reply) {
        if (reply->access_token)
                explicit_bzero(reply->access_token, strlen(reply->access_token));
        free(reply->access_token);
        free(reply->error);
        *reply = (TokenReply){};
}

static bool header_safe(const char *s) {
        size_t n = 0;
        for (; s[n]; n++)
                if (s[n] <= ' ' || s[n] > '~')
                        return false;
        return n > 0 && n <= TOKEN_MAX;
}

/* Appends `s` to buf (of `size` bytes, NUL-terminated), printable ASCII only, as much as fits. */
static void append_printable(char *buf, size_t size, const char *s) {
        size_t n = strlen(buf);
        for (; s && *s && n + 1 < size; s++)
                buf[n++] = *s >= ' ' && *s <= '~' ? *s : '?';
        buf[n] = '\0';
}

/* "error: description", printable and bounded: it comes from the network and goes into messages. */
static char *error_text(const cJSON *root) {
        const char *error = string_member(root, "error"),
                   *description = string_member(root, "error_description");
        char buf[ERROR_TEXT_MAX + 1] = "";

        append_printable(buf, sizeof buf, error);
        if (error && description)
                append_printable(buf, sizeof buf, ": ");
        append_printable(buf, sizeof buf, description);
        return strdup(buf);
}

/* expires_in as a number or a string of digits (some endpoints quote it); false when unusable. */
static bool parse_expires_in(const cJSON *m, uint64_t *ret) {
        double v;
        if (!m) {
                *ret = 0;
                return true;
        }
        if (cJSON_IsNumber(m))
                v = m->valuedouble;
        else if (cJSON_IsString(m) && m->valuestring[0] &&
                 strspn(m->valuestring, "0123456789") == strlen(m->valuestring) &&
                 strlen(m->valuestring) < 10)
                v = strtod(m->valuestring, NULL);
        else
                return false;
        if (!(v >= 1 && v <= EXPIRES_IN_MAX))
                return false;
        *ret = (uint64_t) v;
        return true;
}

int token_reply_parse(const char *body, size_t size, TokenReply *ret, const char **ret_reason) {
        _cleanup_json_ cJSON *root = cJSON_ParseWithLength(body, size);
        TokenReply reply = {};

        if (!cJSON_IsObject(root)) {
                *ret_reason = "not a JSON object";
                return -EBADMSG;
        }
        const cJSON *token = cJSON_GetObjectItemCaseSensitive(root, "access_token");
        if (!token && cJSON_GetObjectItemCaseSensitive(root, "error")) {
                if (!(reply.error = error_text(root)))
                        return -ENOMEM;
                *ret = reply;
                return 0;
        }
        if (!cJSON_IsString(token)) {
                *ret_reason = "no \"access_token\" string";
                return -EBADMSG;
        }
        if (!header_safe(token->valuestring)) {
                *ret_reason = "an \"access_token\" that is empty, too long, or not printable ASCII";
                return -EBADMSG;
        }
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(root, "token_type");
        if (type && !(cJSON_IsString(type) && strcasecmp(type->valuestring, "Bearer") == 0)) {
                *ret_reason = "a \"token_type\" other than Bearer";
                return -EBADMSG;
        }
        if (!parse_expires_in(cJSON_GetObjectItemCaseSensitive(root, "expires_in"), &reply.expires_in)) {
                *ret_reason = "an \"expires_in\" that is not a number of seconds from 1 to 86400";
                return -EBADMSG;
        }
        if (!(reply.access_token = strdup(token->valuestring)))
                return -ENOMEM;
        explicit_bzero(token->valuestring, strlen(token->valuestring));
        *ret = reply;
        return 0;
}
