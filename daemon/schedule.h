/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * A schedule as the configuration defines it: when it fires, what it runs,
 * and the policies around its runs. Built by config.c, read by everyone else;
 * immutable once loaded (a reload builds new ones).
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "cron.h"
#include "plugin.h"
#include "tz.h"

typedef struct cJSON cJSON;

#define USEC_PER_SEC      UINT64_C(1000000)
#define SCHEDULE_NAME_MAX 64

/* 1 to SCHEDULE_NAME_MAX characters of A-Z a-z 0-9 _ . @ - */
bool schedule_name_is_valid(const char *name);

typedef enum OverlapPolicy {
        OVERLAP_SKIP,    /* a fire while a run is active is skipped (logged) */
        OVERLAP_ALLOW,   /* runs may overlap freely */
        OVERLAP_REPLACE, /* the active run is cancelled and the new one starts */
        OVERLAP_QUEUE,   /* at most one fire waits for the active run to end */
        _OVERLAP_POLICY_MAX,
        _OVERLAP_POLICY_INVALID = -22,
} OverlapPolicy;

typedef enum CatchUpMode {
        CATCH_UP_NONE,    /* missed slots are dropped */
        CATCH_UP_LAST,    /* one run for the latest missed slot (the default) */
        CATCH_UP_ALL,     /* one run per missed slot */
        CATCH_UP_BOUNDED, /* "last N within DURATION" */
        _CATCH_UP_MODE_MAX,
        _CATCH_UP_MODE_INVALID = -22,
} CatchUpMode;

typedef struct CatchUp {
        CatchUpMode mode;
        unsigned count;       /* CATCH_UP_BOUNDED: at most this many slots ... */
        uint64_t within_usec; /* ... no older than this */
} CatchUp;

/* Policies a schedule inherits from the daemon's `defaults` group unless it sets them. */
typedef struct RunPolicy {
        OverlapPolicy overlap;
        CatchUp catch_up;
        uint64_t jitter_usec;            /* stable per-schedule offset in [0, jitter) */
        uint64_t timeout_usec;           /* 0: no timeout */
        uint64_t kill_grace_usec;        /* SIGTERM, then SIGKILL after this */
        unsigned retries;                /* extra attempts after a failure */
        uint64_t retry_backoff_usec;     /* first delay; doubles per attempt ... */
        uint64_t retry_backoff_max_usec; /* ... up to this, with jitter */
        CronDstPolicy dst;
} RunPolicy;

/* How a fan-out's results are joined into the run's one result. */
typedef enum CollectFormat {
        COLLECT_JSON,   /* a JSON array, in argument order */
        COLLECT_NDJSON, /* one line per task, in argument order */
        _COLLECT_FORMAT_MAX,
        _COLLECT_FORMAT_INVALID = -22,
} CollectFormat;

/* Fan-out (like fused.submit): one run calls the UDF once per argument set (see fanout.h). */
typedef struct Fanout {
        cJSON *arg_list;         /* NULL: no fan-out; else an array of objects, each set over `params` */
        bool arg_list_templates; /* written inline: its strings are ${...} templates (a file's are data) */
        char *arg_name;          /* the parameter a non-object item sets; NULL: none */
        unsigned max_workers;    /* tasks running at once */
        unsigned max_retry;      /* extra attempts of a failed task */
        bool ignore_exceptions;  /* failed tasks do not fail the run (their results are null) */
        CollectFormat collect;
} Fanout;

typedef enum WorkKind {
        WORK_UDF,       /* a Python file whose entrypoint is called with the parameters */
        WORK_COMMAND,   /* argv (or a shell line), parameters as JSON on stdin and UDFCRON_* env */
        WORK_SPARK_JOB, /* a run of a Fusion Spark job configuration (engine "fusion") */
        WORK_PIPELINE,  /* steps, one after another (see pipeline.h) */
} WorkKind;

typedef enum FusedMode {
        FUSED_MODE_REALTIME, /* a UDF run: one HTTP call, its answer is the result */
        FUSED_MODE_BATCH,    /* a batch job (POST /run), polled until it ends */
        _FUSED_MODE_MAX,
        _FUSED_MODE_INVALID = -22,
} FusedMode;

/* What a schedule of the `fused` engine runs, and how (its `fused` group); NULLs and 0s: the engine's. */
typedef struct FusedSchedule {
        char *saved_udf;    /* "owner/name": a saved UDF, owner an email, a handle or "team"; or */
        char *shared_token; /* a shared token ("fsh_..."); or the schedule's `udf` file, posted as code */
        FusedMode mode;
        char *instance_type, *region; /* batch */
        unsigned disk_size_gb;
        char **additional_env; /* batch: NULL-terminated "NAME=value" list; NULL: the SDK's default */
        char *image;
        char *format;   /* result formats asked for; NULL: the SDK's default */
        cJSON *inputs;  /* batch: one task per element (templates, like params); NULL: one task */
        char *base_url; /* another Fused environment than the engine's ... */
        char *token;    /* ... with its own token (a template, like the engine's) */
} FusedSchedule;

/* What a schedule of the `fusion` engine runs (its `fusion` group). */
typedef struct FusionSchedule {
        char *job;     /* the id of a Spark job configuration */
        bool jobs_api; /* started and stopped through the Jobs API rather than /spark/jobs */
} FusionSchedule;

typedef enum StepKind {
        STEP_UDF,       /* a UDF file, run like a schedule's `udf` on the schedule's engine */
        STEP_INGEST,    /* a step type of an ingest plugin instance */
        STEP_FUSED_JOB, /* a Fused job step config (partition_geospatial, ...), run as a Fused batch job */
} StepKind;

/* One step of a pipeline (a schedule's `steps`). */
typedef struct PipelineStep {
        char *name; /* unique in its pipeline: the `name` key, else its type (numbered when repeated) */
        char *type; /* "udf", "partition_geospatial", or a plugin's step type */
        StepKind kind;
        unsigned line;
        char *output; /* a storage URL template, what ${output:NAME} gives later steps; NULL: none */

        char *udf_path, *entrypoint; /* STEP_UDF, as a schedule's */
        cJSON *params;

        char *instance; /* STEP_INGEST: "ingest/rows" */
        char *input;    /* ... a storage URL template, or NULL */
        Plugin *plugin; /* ... one reference: the options structure is laid out as its step type says */
        const PluginStepType *step_type;
        void *options;

        cJSON *job_step; /* STEP_FUSED_JOB: its fields with the contract's defaults; strings are templates */
} PipelineStep;

void step_done(PipelineStep *step);

typedef struct Schedule {
        char *name;
        char *file; /* where it was defined, for messages */
        unsigned line;

        char *cron_text;
        CronExpr cron;
        const TzZone *zone; /* borrowed from the daemon's TzDb */
        bool enabled;
        char *engine; /* "local", "fused", "fusion" */

        WorkKind work;
        char *udf_path;   /* WORK_UDF: absolute */
        char *entrypoint; /* WORK_UDF: function name, default "udf" */
        char **command;   /* WORK_COMMAND: NULL-terminated argv; with shell, one line for /bin/sh -c */
        bool shell;
        cJSON *params; /* an object whose strings may hold ${...} references, expanded at dispatch */

        char *output; /* a storage URL template for the result (UDF) or stdout (command); NULL: none */
        PipelineStep *steps; /* WORK_PIPELINE */
        size_t n_steps;

        char *working_directory; /* NULL: the state directory */
        char **environment;      /* NULL-terminated NAME=value list added to the child's */
        char **credentials;      /* NULL-terminated names of `credentials` instances whose environment
                                    the child gets; NULL: none */
        uid_t uid;               /* (uid_t) -1: do not switch */
        gid_t gid;
        int nice;

        Fanout fanout;
        FusedSchedule fused;   /* engine "fused" */
        FusionSchedule fusion; /* engine "fusion" */

        RunPolicy policy;
        uint64_t digest; /* hash of the whole definition: equal digests mean "unchanged" on reload */
        unsigned n_refs; /* references beyond its owner's (the Config's): see schedule_ref() */
} Schedule;

/*
 * Keeps s alive beyond its Config (a reload frees the old one) for a user that must go on with the
 * definition it started with; schedule_free() drops one reference, the last frees.
 */
Schedule *schedule_ref(const Schedule *s);
Schedule *schedule_free(Schedule *s);

/*
 * The delay before retry number `retry` (1-based) of something failed under policy p: retry_backoff,
 * doubled per retry up to retry_backoff_max, then up to half of it taken off by `random`, so that
 * retries of many runs spread out.
 */
uint64_t retry_delay_usec(const RunPolicy *p, unsigned retry, uint64_t random);

/* Indexed by CollectFormat, NULL-terminated. */
extern const char *const collect_format_names[_COLLECT_FORMAT_MAX + 1];

/* Indexed by OverlapPolicy, NULL-terminated (for tables of allowed values). */
extern const char *const overlap_policy_names[_OVERLAP_POLICY_MAX + 1];
const char *overlap_policy_to_string(OverlapPolicy p);
OverlapPolicy overlap_policy_from_string(const char *s);
/* "none", "last", "all", or "last N within DURATION"; -EINVAL otherwise. */
int catch_up_parse(const char *s, CatchUp *ret);
/* Writes the canonical text form into buf. */
const char *catch_up_to_string(const CatchUp *c, char *buf, size_t size);

extern const char *const fused_mode_names[_FUSED_MODE_MAX + 1]; /* "realtime", "batch" */

#include "cleanup.h"
DEFINE_TRIVIAL_CLEANUP_FUNC(Schedule *, schedule_free);
