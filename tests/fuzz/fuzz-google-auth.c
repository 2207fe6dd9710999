/* SPDX-License-Identifier: MIT */
/*
 * Fuzzes what gcs-credentials decodes: the token endpoint's reply (from the network) and the
 * service-account key (from a secret). The input is either, both decoders see it. A reply is either
 * a token that can go into a header as it is (printable ASCII, no space) or a bounded printable
 * error; a key that is accepted signs an assertion of three base64url parts.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../plugins/gcs-credentials/google-auth.h"
#include "cleanup.h"
#include "fuzz-util.h"

static bool printable(const char *s, bool space_allowed) {
        for (; *s; s++)
                if (*s < ' ' || *s > '~' || (*s == ' ' && !space_allowed))
                        return false;
        return true;
}

static void check_reply(const char *text, size_t size) {
        TokenReply reply = {};
        const char *reason = NULL;

        if (token_reply_parse(text, size, &reply, &reason) < 0) {
                if (!reason || reply.access_token || reply.error)
                        abort();
                return;
        }
        if (!reply.access_token == !reply.error)
                abort(); /* one or the other */
        if (reply.access_token && (!reply.access_token[0] || !printable(reply.access_token, false)))
                abort();
        if (reply.error && (strlen(reply.error) > 200 || !printable(reply.error, true)))
                abort();
        if (reply.expires_in > 86400)
                abort();
        token_reply_done(&reply);
}

static void check_key(const char *text, size_t size) {
        ServiceAccount *sa = NULL;
        const char *reason = NULL;
        _cleanup_free_ char *jwt = NULL;

        if (service_account_parse(text, size, &sa, &reason) < 0) {
                if (!reason || sa)
                        abort();
                return;
        }
        if (!sa->client_email || !sa->token_uri || !sa->key)
                abort();
        if (google_assertion(sa, "https://www.googleapis.com/auth/devstorage.read_only", 1700000000, &jwt) <
            0)
                abort();
        const char *dot1 = strchr(jwt, '.'), *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
        if (!dot2 || strchr(dot2 + 1, '.') || dot1 == jwt || dot2 == dot1 + 1 || !dot2[1] ||
            strspn(jwt, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.") != strlen(jwt))
                abort();
        service_account_free(sa);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size > 16384)
                return 0;
        _cleanup_free_ char *text = fuzz_text(data, size);
        if (!text)
                return 0;
        check_reply(text, size);
        check_key(text, size);
        return 0;
}
