/* SPDX-License-Identifier: MIT */
/* The engines a schedule can name. */

#include <string.h>

#include "engine.h"
#include "macro.h"

const Engine *engine_find(const char *name) {
        static const Engine *const engines[] = { &engine_local, &engine_fused };
        for (size_t i = 0; i < ELEMENTSOF(engines); i++)
                if (strcmp(engines[i]->name, name) == 0)
                        return engines[i];
        return NULL;
}
