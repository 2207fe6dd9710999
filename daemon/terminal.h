/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * What may reach a person's terminal: colours only where they belong, and no
 * byte that could forge a line or drive the terminal.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define ANSI_RESET "\x1b[0m"

/* Whether to colour what goes to fd: a terminal, $NO_COLOR unset or empty, and TERM not "dumb". */
bool terminal_wants_color(int fd);

/* The colour of a syslog priority (errors red, warnings yellow, notices bold, debug dim), or NULL. */
const char *terminal_priority_color(int priority);

/*
 * Length of the longest prefix of data[0..size) that is safe to show as is:
 * printable ASCII, tab, and valid UTF-8 of printable code points. C0 and C1
 * controls, DEL, invalid UTF-8 and bidi overrides end it (terminals act on
 * the first ones, and the last can make a line read unlike its bytes).
 */
size_t terminal_printable_span(const char *data, size_t size);

/* Writes data to f with every byte terminal_printable_span() stops at as \xNN. */
void terminal_put_escaped(FILE *f, const char *data, size_t size);
