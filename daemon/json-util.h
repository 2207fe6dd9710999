/* SPDX-License-Identifier: MIT */
#pragma once

/* cJSON with the house cleanup conventions. */

#include <cjson/cJSON.h>

#include "cleanup.h"

static inline cJSON *json_free(cJSON *j) {
        cJSON_Delete(j);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(cJSON *, json_free);
