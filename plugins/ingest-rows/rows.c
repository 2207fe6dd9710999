/* SPDX-License-Identifier: MIT */
#include "rows.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool rows_grow_array(void **p, size_t *allocated, size_t needed, size_t item) {
        if (needed <= *allocated)
                return true;
        size_t n = *allocated ? *allocated : 64;
        while (n < needed)
                n *= 2;
        void *q = reallocarray(*p, n, item);
        if (!q)
                return false;
        *p = q;
        *allocated = n;
        return true;
}

int rows_add(Rows *rows, const Row *row, const char *value, size_t value_size, bool keep_value) {
        if (rows->n >= ROWS_MAX)
                return -E2BIG;
        if (!rows_grow_array((void **) &rows->rows, &rows->allocated, rows->n + 1, sizeof(Row)))
                return -ENOMEM;
        if (keep_value) {
                if (!rows_grow_array((void **) &rows->values, &rows->values_allocated, rows->n + 1,
                                     sizeof(size_t)) ||
                    !rows_grow_array((void **) &rows->pool, &rows->pool_allocated,
                                     rows->pool_size + value_size + 1, 1))
                        return -ENOMEM;
                rows->values[rows->n] = rows->pool_size;
                if (value_size > 0)
                        memcpy(rows->pool + rows->pool_size, value, value_size);
                rows->pool[rows->pool_size + value_size] = '\0';
                rows->pool_size += value_size + 1;
        }
        rows->rows[rows->n++] = *row;
        return 0;
}

int rows_error(char *error, size_t size, unsigned line, const char *format, va_list ap) {
        int n = line > 0 ? snprintf(error, size, "line %u: ", line) : 0;
        if (n >= 0 && (size_t) n < size)
                (void) vsnprintf(error + n, size - (size_t) n, format, ap);
        return -EINVAL;
}

void rows_done(Rows *rows) {
        free(rows->rows);
        free(rows->values);
        free(rows->pool);
        *rows = (Rows){};
}

bool rows_parse_number(const char *s, size_t size, double *ret) {
        char buf[64];
        size_t i = 0, end = size;

        while (i < end && s[i] == ' ')
                i++;
        while (end > i && s[end - 1] == ' ')
                end--;
        if (end - i == 0 || end - i >= sizeof buf)
                return false;
        /* [-+]digits[.digits][(e|E)[-+]digits], with at least one digit before the exponent */
        size_t k = i, digits = 0;
        if (s[k] == '-' || s[k] == '+')
                k++;
        for (; k < end && s[k] >= '0' && s[k] <= '9'; k++)
                digits++;
        if (k < end && s[k] == '.')
                for (k++; k < end && s[k] >= '0' && s[k] <= '9'; k++)
                        digits++;
        if (digits == 0)
                return false;
        if (k < end && (s[k] == 'e' || s[k] == 'E')) {
                size_t exp_digits = 0;
                if (++k < end && (s[k] == '-' || s[k] == '+'))
                        k++;
                for (; k < end && s[k] >= '0' && s[k] <= '9'; k++)
                        exp_digits++;
                if (exp_digits == 0)
                        return false;
        }
        if (k != end)
                return false;
        memcpy(buf, s + i, end - i);
        buf[end - i] = '\0';
        *ret = strtod(buf, NULL);
        return true;
}
