/* SPDX-License-Identifier: MIT */
/*
 * Fuzzes the state file parser. Whatever it accepts must format, parse back,
 * and format to the same text: a state the daemon saves must always load.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(state_freep) State *s = NULL, *again = NULL;
        _cleanup_free_ char *error = NULL, *text = NULL, *text_again = NULL;

        int r = state_parse((const char *) data, size, &s, &error);
        if (r == -EINVAL && !error)
                abort(); /* every refusal says why */
        if (r < 0)
                return 0;

        text = state_format(s);
        if (!text || state_parse(text, strlen(text), &again, NULL) < 0)
                abort();
        text_again = state_format(again);
        if (!text_again || strcmp(text, text_again) != 0)
                abort();
        return 0;
}
