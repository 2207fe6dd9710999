/* SPDX-License-Identifier: MIT */
/* Fuzzes the ISO-8601 parser; what it accepts must format and parse back to the same instant. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "fuzz-util.h"
#include "timestamp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size > 128)
                return 0;
        _cleanup_free_ char *text = fuzz_text(data, size);
        if (!text)
                return 0;

        int64_t t, again;
        /* years 0001-9998, so that the +05:30 rendering below still has four digits */
        if (timestamp_parse(text, &t) < 0 || t < INT64_C(-62135596800) + 86400 || t > INT64_C(253370764800))
                return 0;

        char buf[TIMESTAMP_MAX];
        if (timestamp_parse(timestamp_format(t, 19800, buf), &again) < 0 || again != t)
                abort();
        return 0;
}
