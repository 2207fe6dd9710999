/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The built-in secret provider: systemd credentials. A secret NAME is the
 * file $CREDENTIALS_DIRECTORY/NAME (LoadCredential= in the unit), one
 * trailing newline stripped. Plugins add providers later.
 */

/* Returns 0 and a malloc'd value, -ENOENT (no such credential, or no
 * $CREDENTIALS_DIRECTORY), -EINVAL (a name with '/' or a leading '.'), -EFBIG. */
int secrets_resolve(const char *name, char **ret_value);
