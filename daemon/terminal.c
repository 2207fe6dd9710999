/* SPDX-License-Identifier: MIT */
#include "terminal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "utf8.h"

bool terminal_wants_color(int fd) {
        const char *no_color = getenv("NO_COLOR"), *term = getenv("TERM");
        return isatty(fd) && !(no_color && *no_color) && !(term && strcmp(term, "dumb") == 0);
}

const char *terminal_priority_color(int priority) {
        if (priority <= LOG_ERR)
                return "\x1b[1;31m";
        if (priority == LOG_WARNING)
                return "\x1b[1;33m";
        if (priority == LOG_NOTICE)
                return "\x1b[1m";
        if (priority == LOG_DEBUG)
                return "\x1b[2m";
        return NULL;
}

static bool is_printable(uint32_t cp) {
        if (cp < 0x80)
                return (cp >= 0x20 && cp < 0x7f) || cp == '\t';
        return cp >= 0xa0 && !(cp >= 0x202a && cp <= 0x202e) && !(cp >= 0x2066 && cp <= 0x2069);
}

size_t terminal_printable_span(const char *data, size_t size) {
        size_t i = 0, n;
        uint32_t cp;

        while (i < size && (n = utf8_decode(data + i, size - i, &cp)) > 0 && is_printable(cp))
                i += n;
        return i;
}

void terminal_put_escaped(FILE *f, const char *data, size_t size) {
        for (size_t i = 0; i < size;) {
                size_t n = terminal_printable_span(data + i, size - i);
                (void) fwrite(data + i, 1, n, f);
                i += n;
                if (i < size)
                        fprintf(f, "\\x%02x", (unsigned char) data[i++]);
        }
}
