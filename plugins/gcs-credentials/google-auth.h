/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Google service-account keys and the OAuth2 JWT bearer grant (RFC 7523), as
 * Google's token endpoint takes it: the key's JSON file, the signed assertion
 * (RS256 with OpenSSL) that is exchanged for an access token, and the
 * endpoint's reply. Pure: no I/O, no logging. Messages it returns never quote
 * the key, the assertion or a token.
 */

#include <stddef.h>
#include <stdint.h>

#define GOOGLE_TOKEN_URI_DEFAULT "https://oauth2.googleapis.com/token"
/* What an assertion asks for: Google's longest token lifetime. */
#define GOOGLE_ASSERTION_LIFETIME_SEC 3600
/* The form body of the grant: this, then the assertion. */
#define GOOGLE_GRANT_BODY_PREFIX                                                                            \
        "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion="

typedef struct evp_pkey_st EVP_PKEY;

typedef struct ServiceAccount {
        char *client_email;   /* the issuer of assertions */
        char *private_key_id; /* the JWT's "kid", or NULL */
        char *token_uri;      /* where assertions go; GOOGLE_TOKEN_URI_DEFAULT when the key names none */
        char *project_id;     /* or NULL */
        EVP_PKEY *key;        /* RSA */
} ServiceAccount;

/*
 * Parses a service-account key file (`json`, `size` bytes, need not be NUL
 * terminated): "type" "service_account", "client_email", "private_key" (a PEM
 * RSA key), optional "private_key_id", "token_uri" (http or https),
 * "project_id". Returns 0 and *ret, -EINVAL with a static reason in
 * *ret_reason, or -ENOMEM.
 */
int service_account_parse(const char *json, size_t size, ServiceAccount **ret, const char **ret_reason);
ServiceAccount *service_account_free(ServiceAccount *sa);

/* Base64url without padding (RFC 7515): a malloc'd string, NULL on OOM. */
char *base64url_encode(const void *data, size_t size);

/*
 * The signed JWT that asks `sa`'s token_uri for a token with `scope` (space
 * separated), issued at `now_sec` and valid for GOOGLE_ASSERTION_LIFETIME_SEC:
 * header {"alg":"RS256","typ":"JWT","kid":...}, claims iss, scope, aud,
 * iat, exp. Returns 0 and a malloc'd "header.claims.signature", -EINVAL
 * (an empty scope) or -ENOMEM / -EIO (OpenSSL failed).
 */
int google_assertion(const ServiceAccount *sa, const char *scope, int64_t now_sec, char **ret);

/* The token endpoint's answer, successful or not. */
typedef struct TokenReply {
        char *access_token;  /* printable ASCII without spaces: it goes into a header */
        uint64_t expires_in; /* seconds; 0: the reply did not say */
        char *error;         /* an error reply: "invalid_grant: Invalid JWT Signature." (sanitized) */
} TokenReply;

/*
 * Decodes a reply body: {"access_token", "expires_in", "token_type":
 * "Bearer"}, or an error {"error", "error_description"}. Returns 0 with
 * either access_token or error set, -EBADMSG with a static reason in
 * *ret_reason (not JSON, no token, a token that could not be sent in a
 * header, a token_type other than Bearer, a bad expires_in), or -ENOMEM.
 */
int token_reply_parse(const char *body, size_t size, TokenReply *ret, const char **ret_reason);
void token_reply_done(TokenReply *reply);
