/* SPDX-License-Identifier: MIT */
#include "config-check.h"

#include <errno.h>
#include <string.h>

#include "config.h"

int config_check(const char *program, const char *path, FILE *out, FILE *err) {
        _cleanup_(tzdb_freep) TzDb *tzdb = NULL;
        _cleanup_(config_freep) Config *config = NULL;
        _cleanup_(strv_freep) char **errors = NULL;

        int r = tzdb_new(NULL, &tzdb);
        if (r >= 0)
                r = config_load(path, tzdb, &config, &errors);
        if (r == -EINVAL) {
                size_t n = 0;
                for (char **e = errors; e && *e; e++, n++)
                        fprintf(err, "%s\n", *e);
                fprintf(err, "%s: %s: %zu error%s\n", program, path, n, n == 1 ? "" : "s");
                return r;
        }
        if (r < 0) {
                fprintf(err, "%s: cannot load %s: %s\n", program, path, strerror(-r));
                return r;
        }
        size_t files = 0;
        while (config->files[files])
                files++;
        fprintf(out, "%s: %s: configuration OK, %zu schedules in %zu files\n", program, path,
                config->n_schedules, files);
        return 0;
}
