/* SPDX-License-Identifier: MIT */
/* The engines a schedule can name. */

#include <string.h>

#include "engine.h"

const Engine *const engine_table[] = { &engine_local, &engine_fused, &engine_fusion, NULL };

const Engine *engine_find(const char *name) {
        for (const Engine *const *e = engine_table; *e; e++)
                if (strcmp((*e)->name, name) == 0)
                        return *e;
        return NULL;
}

const Engine *engine_for_schedule(const Schedule *s) {
        return s->fanout.arg_list ? &engine_fanout : engine_find(s->engine);
}
