/* SPDX-License-Identifier: MIT */
#pragma once

#include "macro.h"

/*
 * For parsers that explain their refusals: sets *ret_error to the malloc'd
 * message and returns -EINVAL, so that they can `return error_message(...)`;
 * or returns -ENOMEM, with *ret_error NULL, when even the message cannot be
 * allocated.
 */
_printf_(2, 3) int error_message(char **ret_error, const char *format, ...);
