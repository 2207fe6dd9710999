/* SPDX-License-Identifier: MIT */
#include "fused-steps.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "json-util.h"
#include "macro.h"
#include "suggest.h"

typedef enum FieldType {
        FIELD_STRING,  /* StrictStr */
        FIELD_STRINGS, /* List[StrictStr] */
        FIELD_STRING_OR_STRINGS,
        FIELD_PAIR,       /* Tuple[str, str] */
        FIELD_BOOL,       /* StrictBool */
        FIELD_INT,        /* int, at least 1 */
        FIELD_NUMBER,     /* int or float */
        FIELD_CHOICE,     /* Literal[...] */
        FIELD_OBJECT,     /* any JSON object: user metadata, a table schema */
        FIELD_STRING_MAP, /* Dict[str, str] */
        FIELD_GROUP,      /* a model of its own: `fields` */
} FieldType;

typedef struct Field {
        const char *name;
        FieldType type;
        const char *default_json; /* NULL: none, the field is left out (null) */
        bool required;
        const char *const *choices; /* FIELD_CHOICE */
        const struct Field *fields; /* FIELD_GROUP, ended by a NULL name */
} Field;

static const char *const methods[] = { "area", "length", "coords", "rows", NULL };
static const char *const utm[] = { "file", "chunk", NULL };
static const char *const split_methods[] = { "mean", "median", NULL };
static const char *const subdivide_methods[] = { "area", NULL };

/* A field: its name, type, then .default_json, .required, .choices, .fields as needed. */
#define F(n, t, ...)                                                                                        \
        { .name = (n), .type = (t), __VA_ARGS__ }
#define DEFAULT(json) .default_json = (json)

/* GDALOpenConfig */
static const Field gdal_fields[] = {
        F("open_options", FIELD_STRING_MAP, DEFAULT("{}")),
        F("layer", FIELD_STRING),
        { .name = NULL },
};

/* JobStepConfig and PartitionJobStepConfig: what both partition steps have. */
#define PARTITION_FIELDS                                                                                    \
        F("metadata", FIELD_OBJECT), F("ignore_chunk_error", FIELD_BOOL, DEFAULT("false")),                 \
                F("input", FIELD_STRING_OR_STRINGS, .required = true), F("output", FIELD_STRING),           \
                F("output_metadata", FIELD_STRING),                                                         \
                F("partitioning_maximum_per_file", FIELD_INT, DEFAULT("2500000")),                          \
                F("partitioning_maximum_per_chunk", FIELD_INT, DEFAULT("65000"))

static const Field geospatial_fields[] = {
        PARTITION_FIELDS,
        F("table_schema", FIELD_OBJECT),
        F("file_suffix", FIELD_STRING),
        F("load_columns", FIELD_STRINGS),
        F("remove_cols", FIELD_STRINGS, DEFAULT("[]")),
        F("explode_geometries", FIELD_BOOL, DEFAULT("false")),
        F("drop_out_of_bounds", FIELD_BOOL),
        F("lonlat_cols", FIELD_PAIR),
        F("partitioning_max_width_ratio", FIELD_NUMBER, DEFAULT("2")),
        F("partitioning_max_height_ratio", FIELD_NUMBER, DEFAULT("2")),
        F("partitioning_method", FIELD_CHOICE, .required = true, .choices = methods),
        F("partitioning_force_utm", FIELD_CHOICE, .choices = utm),
        F("partitioning_split_method", FIELD_CHOICE, .required = true, .choices = split_methods),
        F("subdivide_start", FIELD_NUMBER),
        F("subdivide_stop", FIELD_NUMBER),
        F("subdivide_method", FIELD_CHOICE, DEFAULT("\"area\""), .choices = subdivide_methods),
        F("split_identical_centroids", FIELD_BOOL, DEFAULT("true")),
        F("target_num_chunks", FIELD_INT, DEFAULT("5000")),
        F("partitioning_schema_input", FIELD_STRING),
        F("gdal_config", FIELD_GROUP, DEFAULT("{\"open_options\": {}}"), .fields = gdal_fields),
        { .name = NULL },
};

static const Field nongeospatial_fields[] = {
        PARTITION_FIELDS,
        F("partition_col", FIELD_STRING),
        { .name = NULL },
};

static const struct {
        const char *type;
        const Field *fields;
} step_types[] = {
        { "partition_geospatial", geospatial_fields },
        { "partition_nongeospatial", nongeospatial_fields },
};

static const Field *fields_of(const char *type) {
        for (size_t i = 0; i < ELEMENTSOF(step_types); i++)
                if (strcmp(step_types[i].type, type) == 0)
                        return step_types[i].fields;
        return NULL;
}

bool fused_step_type_is_known(const char *type) {
        return fields_of(type) != NULL;
}

typedef struct Checker {
        FusedStepReport report;
        void *userdata;
        bool failed;
} Checker;

_printf_(3, 4) static void problem(Checker *c, const char *key, const char *format, ...) {
        char message[512];
        va_list ap;
        va_start(ap, format);
        (void) vsnprintf(message, sizeof message, format, ap);
        va_end(ap);
        c->report(c->userdata, key, message);
        c->failed = true;
}

static const char *json_type_name(const cJSON *v) {
        return cJSON_IsString(v)   ? "a string"
               : cJSON_IsBool(v)   ? "a boolean"
               : cJSON_IsNumber(v) ? (v->valuedouble == trunc(v->valuedouble) ? "an integer" : "a float")
               : cJSON_IsArray(v)  ? "a list"
               : cJSON_IsObject(v) ? "a group"
                                   : "nothing";
}

static bool all_strings(const cJSON *list) {
        for (const cJSON *e = list->child; e; e = e->next)
                if (!cJSON_IsString(e))
                        return false;
        return true;
}

static void check_fields(Checker *c, const Field *fields, cJSON *object, const char *prefix);

/* Checks one member against its field; `key` is its dotted path. */
static void check_value(Checker *c, const Field *f, cJSON *v, const char *key) {
        switch (f->type) {
        case FIELD_STRING:
                if (!cJSON_IsString(v))
                        problem(c, key, "%s: expected a string, got %s", key, json_type_name(v));
                return;
        case FIELD_STRINGS:
                if (!cJSON_IsArray(v) || !all_strings(v))
                        problem(c, key, "%s: expected a list of strings", key);
                return;
        case FIELD_STRING_OR_STRINGS:
                if (!cJSON_IsString(v) &&
                    (!cJSON_IsArray(v) || !all_strings(v) || cJSON_GetArraySize(v) == 0))
                        problem(c, key, "%s: expected a string or a non-empty list of strings", key);
                return;
        case FIELD_PAIR:
                if (!cJSON_IsArray(v) || !all_strings(v) || cJSON_GetArraySize(v) != 2)
                        problem(c, key, "%s: expected two column names [\"lon\", \"lat\"]", key);
                return;
        case FIELD_BOOL:
                if (!cJSON_IsBool(v))
                        problem(c, key, "%s: expected a boolean (true or false), got %s", key,
                                json_type_name(v));
                return;
        case FIELD_INT:
                if (!cJSON_IsNumber(v) || v->valuedouble != trunc(v->valuedouble))
                        problem(c, key, "%s: expected an integer, got %s", key, json_type_name(v));
                else if (v->valuedouble < 1)
                        problem(c, key, "%s: %.0f is out of range: at least 1", key, v->valuedouble);
                return;
        case FIELD_NUMBER:
                if (!cJSON_IsNumber(v))
                        problem(c, key, "%s: expected a number, got %s", key, json_type_name(v));
                else if (v->valuedouble < 0)
                        problem(c, key, "%s: %g is negative", key, v->valuedouble);
                return;
        case FIELD_CHOICE: {
                for (const char *const *ch = f->choices; cJSON_IsString(v) && *ch; ch++)
                        if (strcmp(v->valuestring, *ch) == 0)
                                return;
                char list[128] = "";
                for (const char *const *ch = f->choices; *ch; ch++)
                        strcat(strcat(list, ch == f->choices ? "" : ", "), *ch); /* short, fixed */
                if (cJSON_IsString(v))
                        problem(c, key, "%s: '%s' is not one of %s", key, v->valuestring, list);
                else
                        problem(c, key, "%s: expected one of %s, got %s", key, list, json_type_name(v));
                return;
        }
        case FIELD_OBJECT:
                if (!cJSON_IsObject(v))
                        problem(c, key, "%s: expected a group { ... }, got %s", key, json_type_name(v));
                return;
        case FIELD_STRING_MAP:
                if (!cJSON_IsObject(v) || !all_strings(v))
                        problem(c, key, "%s: expected a group of strings { name = \"value\"; }", key);
                return;
        case FIELD_GROUP:
                if (!cJSON_IsObject(v))
                        problem(c, key, "%s: expected a group { ... }, got %s", key, json_type_name(v));
                else
                        check_fields(c, f->fields, v, key);
                return;
        }
}

static bool add_default(cJSON *object, const Field *f) {
        cJSON *v = cJSON_Parse(f->default_json);
        if (!v || !cJSON_AddItemToObject(object, f->name, v)) {
                cJSON_Delete(v);
                return false;
        }
        return true;
}

/* Checks the members of `object` (at dotted path `prefix`, NULL at the top) and adds missing defaults. */
static void check_fields(Checker *c, const Field *fields, cJSON *object, const char *prefix) {
        const char *known[64];
        size_t n = 0;
        cJSON *v;

        for (const Field *f = fields; f->name && n < ELEMENTSOF(known) - 1; f++)
                known[n++] = f->name;
        known[n] = NULL;

        cJSON_ArrayForEach(v, object) {
                char key[256];
                snprintf(key, sizeof key, "%s%s%s", prefix ?: "", prefix ? "." : "", v->string);
                const Field *f = fields;
                while (f->name && strcmp(f->name, v->string) != 0)
                        f++;
                if (f->name) {
                        check_value(c, f, v, key);
                        continue;
                }
                const char *near = suggest_name(v->string, known);
                if (near)
                        problem(c, key, "unknown key '%s' (did you mean '%s'?)", key, near);
                else
                        problem(c, key, "unknown key '%s'", key);
        }
        for (const Field *f = fields; f->name; f++) {
                if (cJSON_GetObjectItemCaseSensitive(object, f->name))
                        continue;
                if (f->required)
                        problem(c, NULL, "missing key '%s%s%s'", prefix ?: "", prefix ? "." : "", f->name);
                else if (f->default_json && !add_default(object, f))
                        c->failed = true; /* out of memory, the only way a default can fail */
        }
}

int fused_step_check(const char *type, cJSON *fields, FusedStepReport report, void *userdata) {
        const Field *table = fields_of(type);
        Checker c = { .report = report, .userdata = userdata };

        if (!table || !cJSON_IsObject(fields))
                return -EINVAL;
        check_fields(&c, table, fields, NULL);
        if (c.failed)
                return -EINVAL;

        /* "Start area should be greater than or equal to stop area ... stop area cannot be zero" */
        const cJSON *start = cJSON_GetObjectItemCaseSensitive(fields, "subdivide_start"),
                    *stop = cJSON_GetObjectItemCaseSensitive(fields, "subdivide_stop");
        if (stop && stop->valuedouble <= 0)
                problem(&c, "subdivide_stop",
                        "subdivide_stop: must be above 0 (it would subdivide forever)");
        else if (start && stop && start->valuedouble < stop->valuedouble)
                problem(&c, "subdivide_start", "subdivide_start: %g is below subdivide_stop %g",
                        start->valuedouble, stop->valuedouble);
        return c.failed ? -EINVAL : 0;
}

cJSON *fused_job_config_new(const char *job_name, const char *type, const char *step_name,
                            const cJSON *fields, const cJSON *metadata) {
        _cleanup_(json_freep) cJSON *config = cJSON_CreateObject();
        cJSON *steps, *step;

        /* type and name first, as the SDK writes them */
        if (!config || !cJSON_AddStringToObject(config, "name", job_name) ||
            !(steps = cJSON_AddArrayToObject(config, "steps")) || !(step = cJSON_CreateObject()) ||
            !cJSON_AddItemToArray(steps, step) || !cJSON_AddStringToObject(step, "type", type) ||
            !cJSON_AddStringToObject(step, "name", step_name))
                return NULL;
        for (const cJSON *f = fields->child; f; f = f->next) {
                cJSON *copy = cJSON_Duplicate(f, true);
                if (!copy || !cJSON_AddItemToObject(step, f->string, copy)) {
                        cJSON_Delete(copy);
                        return NULL;
                }
        }
        cJSON *m = metadata ? cJSON_Duplicate(metadata, true) : NULL;
        if (metadata && (!m || !cJSON_AddItemToObject(config, "metadata", m))) {
                cJSON_Delete(m);
                return NULL;
        }
        return TAKE_PTR(config);
}
