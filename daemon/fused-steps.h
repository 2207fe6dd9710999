/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The Fused job step configs a pipeline can hold besides its own steps:
 * partition_geospatial (GeospatialPartitionJobStepConfig) and
 * partition_nongeospatial (NonGeospatialPartitionJobStepConfig), checked
 * against the contract's fields, types and defaults (shared/api/fused.md §5),
 * and the JobConfig that runs one as a Fused batch job. Pure: no I/O, no
 * logging.
 */

#include <stdbool.h>

typedef struct cJSON cJSON;

/* Whether `type` is one of the job step types here. */
bool fused_step_type_is_known(const char *type);

/* A problem with the member at `key` (a dotted path: "gdal_config.layer"), or with the step as a whole
 * (NULL: a required field is missing). */
typedef void (*FusedStepReport)(void *userdata, const char *key, const char *message);

/*
 * Checks `fields`, a JSON object holding a step block's members except
 * `type` and `name`, against the fields of job step `type`: unknown ones
 * (with the nearest known name), missing required ones, wrong types, values
 * out of range or not among the allowed ones; each problem goes to `report`.
 * Then adds the fields left out that have a default, so the object is the
 * whole step config. Strings may be templates (${...}), expanded later.
 * Returns 0; -EINVAL when something was reported; -ENOMEM.
 */
int fused_step_check(const char *type, cJSON *fields, FusedStepReport report, void *userdata);

/*
 * The JobConfig that runs one checked (and expanded) step as a Fused batch
 * job, a new object: {"name": job_name, "steps": [{"type": type, "name":
 * step_name, ...fields}], "metadata": metadata} (metadata may be NULL: left
 * out). NULL on OOM.
 */
cJSON *fused_job_config_new(const char *job_name, const char *type, const char *step_name,
                            const cJSON *fields, const cJSON *metadata);
