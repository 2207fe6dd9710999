/* SPDX-License-Identifier: MIT */
/*
 * Fuzzes the ${...} template parser: the config check and the expansion at
 * dispatch must agree, so whatever params_check() accepts must expand.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "fuzz-util.h"
#include "params.h"

static int fake_secret(void *userdata, const char *name, char **ret_value) {
        (void) userdata;
        *ret_value = strdup(name);
        return *ret_value ? 0 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size > 4096)
                return 0;
        _cleanup_free_ char *text = fuzz_text(data, size), *error = NULL, *value = NULL;
        if (!text)
                return 0;

        int checked = params_check(text, &error);
        if (checked < 0 && !error)
                abort(); /* every rejection explains itself */

        ParamContext ctx = { .schedule = "s",
                             .run_id = "r",
                             .attempt = 1,
                             .scheduled = 1710036000,
                             .now = 1710036000,
                             .resolve_secret = fake_secret };
        free(error);
        error = NULL;
        int expanded = params_expand_string(text, &ctx, &value, &error);
        /* a format that expands past 4 KiB is the one failure the check cannot foresee */
        if (checked == 0 && expanded < 0 && !(error && strstr(error, "more than 4 KiB")))
                abort();
        if (checked < 0 && expanded >= 0)
                abort();
        return 0;
}
