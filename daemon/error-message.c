/* SPDX-License-Identifier: MIT */
#include "error-message.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

int error_message(char **ret_error, const char *format, ...) {
        va_list ap;
        va_start(ap, format);
        int r = vasprintf(ret_error, format, ap);
        va_end(ap);
        if (r < 0) {
                *ret_error = NULL;
                return -ENOMEM;
        }
        return -EINVAL;
}
