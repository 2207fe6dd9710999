/* SPDX-License-Identifier: MIT */
#include "geojson.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Deeper nesting in a member that is skipped, or in a geometry collection, is refused. */
#define DEPTH_MAX      512
#define COLLECTION_MAX 8

void geojson_reader_init(GeojsonReader *r, const char *data, size_t size, const GeojsonOptions *options) {
        *r = (GeojsonReader){ .data = data, .size = size, .line = 1, .options = *options };
        if (size >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0)
                r->pos = r->line_pos = 3;
}

/* The line of `pos`: counted on from the last position asked about (they only move forward). */
static unsigned line_of(GeojsonReader *r, size_t pos) {
        if (pos > r->size)
                pos = r->size;
        if (pos < r->line_pos)
                return r->line;
        for (const char *p = r->data + r->line_pos; (p = memchr(p, '\n', pos - (size_t) (p - r->data))); p++)
                r->line++;
        r->line_pos = pos;
        return r->line;
}

__attribute__((format(printf, 5, 6))) static int fail(GeojsonReader *r, size_t pos, char *error, size_t size,
                                                      const char *format, ...) {
        va_list ap;
        va_start(ap, format);
        int k = rows_error(error, size, line_of(r, pos), format, ap);
        va_end(ap);
        return k;
}

static void skip_space(GeojsonReader *r) {
        while (r->pos < r->size && strchr(" \t\r\n", r->data[r->pos]) && r->data[r->pos])
                r->pos++;
}

/* Past the string that starts at r->pos (a '"'); false when it does not end. */
static bool skip_string(GeojsonReader *r) {
        for (size_t p = r->pos + 1; p < r->size; p++) {
                if (r->data[p] == '\\')
                        p++;
                else if (r->data[p] == '"') {
                        r->pos = p + 1;
                        return true;
                }
        }
        return false;
}

/* Past the value at r->pos, checking only that brackets and strings are balanced: -EINVAL. */
static int skip_value(GeojsonReader *r, char *error, size_t size) {
        char closers[DEPTH_MAX];
        size_t depth = 0, start = r->pos;

        do {
                if (r->pos >= r->size)
                        return fail(r, start, error, size, "a value that does not end");
                char c = r->data[r->pos];
                if (c == '"') {
                        if (!skip_string(r))
                                return fail(r, r->pos, error, size, "a string that does not end");
                        continue;
                }
                if (c == '{' || c == '[') {
                        if (depth == DEPTH_MAX)
                                return fail(r, r->pos, error, size, "nested more than %d deep", DEPTH_MAX);
                        closers[depth++] = c == '{' ? '}' : ']';
                } else if (c == '}' || c == ']') {
                        if (depth == 0 || closers[depth - 1] != c)
                                return fail(r, r->pos, error, size, "a '%c' that closes nothing", c);
                        depth--;
                } else if (depth == 0) { /* a number or a literal ends at what follows it */
                        size_t n = 0;
                        while (r->pos + n < r->size &&
                               strchr("0123456789+-.eEtruefalsn", r->data[r->pos + n]) &&
                               r->data[r->pos + n])
                                n++;
                        if (n == 0)
                                return fail(r, r->pos, error, size, "unexpected '%c'", c);
                        r->pos += n;
                        return 0;
                }
                r->pos++;
        } while (depth > 0);
        return 0;
}

/* ------------------------------------------------------------------ one feature */

typedef struct Box {
        double w, s, e, n;
        size_t positions;
} Box;

/* Each check below returns true, or false with the reason in why[0..size). */

static bool position(const cJSON *p, Box *box, char *why, size_t size) {
        const cJSON *lon = cJSON_GetArrayItem(p, 0), *lat = cJSON_GetArrayItem(p, 1);

        if (!cJSON_IsArray(p) || !cJSON_IsNumber(lon) || !cJSON_IsNumber(lat)) {
                snprintf(why, size, "a position is not [longitude, latitude]");
                return false;
        }
        double x = lon->valuedouble, y = lat->valuedouble;
        if (!rows_in_range(x, y)) {
                snprintf(why, size,
                         "position [%g, %g] is out of range (longitude -180..180, latitude -90..90)", x, y);
                return false;
        }
        if (box->positions++ == 0) {
                box->w = box->e = x;
                box->s = box->n = y;
        }
        box->w = x < box->w ? x : box->w;
        box->e = x > box->e ? x : box->e;
        box->s = y < box->s ? y : box->s;
        box->n = y > box->n ? y : box->n;
        return true;
}

/* The positions of coordinates nested `depth` arrays deep (0: one position). */
static bool positions(const cJSON *c, unsigned depth, Box *box, char *why, size_t size) {
        if (depth == 0)
                return position(c, box, why, size);
        if (!cJSON_IsArray(c)) {
                snprintf(why, size, "coordinates are not nested as the geometry type says");
                return false;
        }
        for (const cJSON *e = c->child; e; e = e->next)
                if (!positions(e, depth - 1, box, why, size))
                        return false;
        return true;
}

static bool geometry_box(const cJSON *g, unsigned level, Box *box, char *why, size_t size) {
        static const struct {
                const char *type;
                unsigned depth;
        } types[] = { { "Point", 0 },           { "MultiPoint", 1 }, { "LineString", 1 },
                      { "MultiLineString", 2 }, { "Polygon", 2 },    { "MultiPolygon", 3 } };
        const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(g, "type"));

        if (!cJSON_IsObject(g) || !type) {
                snprintf(why, size, "its geometry is not an object with a type");
                return false;
        }
        if (strcmp(type, "GeometryCollection") == 0) {
                const cJSON *list = cJSON_GetObjectItemCaseSensitive(g, "geometries");
                if (!cJSON_IsArray(list) || level >= COLLECTION_MAX) {
                        snprintf(why, size, "a GeometryCollection %s",
                                 level >= COLLECTION_MAX ? "nested too deep"
                                                         : "without a list of geometries");
                        return false;
                }
                for (const cJSON *e = list->child; e; e = e->next)
                        if (!geometry_box(e, level + 1, box, why, size))
                                return false;
                return true;
        }
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
                if (strcmp(type, types[i].type) == 0)
                        return positions(cJSON_GetObjectItemCaseSensitive(g, "coordinates"), types[i].depth,
                                         box, why, size);
        snprintf(why, size, "geometry type '%.32s' is not a GeoJSON one", type);
        return false;
}

static int add_feature(GeojsonReader *r, Rows *rows, size_t start, char *error, size_t size) {
        unsigned line = line_of(r, start);
        size_t n = r->pos - start;
        cJSON *f = cJSON_ParseWithLength(r->data + start, n);
        const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(f, "type"));
        Row row = { .offset = start, .size = (uint32_t) n, .line = line };
        char why[160] = "";
        Box box = {};

        r->n_features++;
        if (!f)
                snprintf(why, sizeof why, "not valid JSON");
        else if (!type || strcmp(type, "Feature") != 0)
                snprintf(why, sizeof why, "its type is not \"Feature\"");
        else if (r->options.geospatial) {
                const cJSON *g = cJSON_GetObjectItemCaseSensitive(f, "geometry");
                if (!g || cJSON_IsNull(g))
                        snprintf(why, sizeof why, "it has no geometry");
                else if (geometry_box(g, 0, &box, why, sizeof why) && box.positions == 0)
                        snprintf(why, sizeof why, "its geometry has no positions");
                row.bbox[0] = box.w, row.bbox[1] = box.s, row.bbox[2] = box.e, row.bbox[3] = box.n;
        }
        if (why[0]) {
                cJSON_Delete(f);
                snprintf(error, size, "feature %zu (line %u): %s", r->n_features, line, why);
                return -EINVAL;
        }
        if (n > UINT32_MAX) {
                cJSON_Delete(f);
                snprintf(error, size, "feature %zu (line %u): larger than 4 GiB", r->n_features, line);
                return -EINVAL;
        }

        const char *value = "";
        char *printed = NULL;
        if (r->options.value_property) {
                const cJSON *v = cJSON_GetObjectItemCaseSensitive(
                        cJSON_GetObjectItemCaseSensitive(f, "properties"), r->options.value_property);
                if (cJSON_IsString(v))
                        value = v->valuestring;
                else if (v && !cJSON_IsNull(v) && !(value = printed = cJSON_PrintUnformatted(v))) {
                        cJSON_Delete(f);
                        return -ENOMEM;
                }
        }
        int k = rows_add(rows, &row, value, strlen(value), r->options.value_property != NULL);
        free(printed);
        cJSON_Delete(f);
        return k;
}

/* ------------------------------------------------------------------ the collection */

/* Whether the string at [start, end) (quotes included) is `s`. */
static bool string_is(const GeojsonReader *r, size_t start, size_t end, const char *s) {
        size_t n = strlen(s);
        return end - start == n + 2 && memcmp(r->data + start + 1, s, n) == 0;
}

/* One member of the collection: "type" must be "FeatureCollection", "features" opens the list, others are
 * skipped. */
static int read_member(GeojsonReader *r, char *error, size_t size) {
        size_t key = r->pos, value;

        if (r->pos >= r->size || r->data[r->pos] != '"' || !skip_string(r))
                return fail(r, key, error, size, "expected a member name of the FeatureCollection");
        size_t key_end = r->pos;
        skip_space(r);
        if (r->pos >= r->size || r->data[r->pos] != ':')
                return fail(r, r->pos, error, size, "expected ':' after a member name");
        r->pos++;
        skip_space(r);
        value = r->pos;
        if (string_is(r, key, key_end, "features")) {
                if (r->pos >= r->size || r->data[r->pos] != '[')
                        return fail(r, value, error, size, "\"features\" is not a list");
                if (r->saw_features)
                        return fail(r, key, error, size, "a second \"features\" member");
                r->saw_features = true;
                r->pos++;
                r->state = GEOJSON_FEATURES;
                return 0;
        }
        int k = skip_value(r, error, size);
        if (k < 0)
                return k;
        if (string_is(r, key, key_end, "type")) {
                if (!string_is(r, value, r->pos, "FeatureCollection"))
                        return fail(r, value, error, size,
                                    "the document's type is %.*s, not \"FeatureCollection\"",
                                    (int) (r->pos - value > 40 ? 40 : r->pos - value), r->data + value);
                r->saw_type = true;
        }
        return 0;
}

/* After a member or a feature: ',' goes on, `closer` ends the object or list. Returns 1 at the closer. */
static int after_item(GeojsonReader *r, char closer, char *error, size_t size) {
        skip_space(r);
        if (r->pos < r->size && r->data[r->pos] == closer) {
                r->pos++;
                return 1;
        }
        if (r->pos >= r->size || r->data[r->pos] != ',')
                return fail(r, r->pos, error, size, "expected ',' or '%c'", closer);
        r->pos++;
        skip_space(r);
        return 0;
}

int geojson_read(GeojsonReader *r, Rows *rows, size_t max_features, char *error, size_t size) {
        size_t done = 0;
        int k;

        for (;;) {
                skip_space(r);
                switch (r->state) {
                case GEOJSON_START:
                        if (r->pos >= r->size || r->data[r->pos] != '{')
                                return fail(r, r->pos, error, size,
                                            "not a GeoJSON FeatureCollection: expected '{'");
                        r->pos++;
                        skip_space(r);
                        r->state = GEOJSON_MEMBERS;
                        if (r->pos < r->size && r->data[r->pos] == '}') {
                                r->pos++;
                                r->state = GEOJSON_AFTER;
                        } else if ((k = read_member(r, error, size)) < 0)
                                return k;
                        break;
                case GEOJSON_MEMBERS:
                        if ((k = after_item(r, '}', error, size)) < 0)
                                return k;
                        if (k > 0)
                                r->state = GEOJSON_AFTER;
                        else if ((k = read_member(r, error, size)) < 0)
                                return k;
                        break;
                case GEOJSON_FEATURES:
                        if (done == max_features)
                                return 0;
                        if (r->pos < r->size && r->data[r->pos] == ']' && r->n_features == 0) {
                                r->pos++;
                                r->state = GEOJSON_MEMBERS;
                                break;
                        }
                        if (r->n_features > 0) {
                                if ((k = after_item(r, ']', error, size)) < 0)
                                        return k;
                                if (k > 0) {
                                        r->state = GEOJSON_MEMBERS;
                                        break;
                                }
                        }
                        size_t start = r->pos;
                        if (r->pos >= r->size || r->data[r->pos] != '{')
                                return fail(r, r->pos, error, size, "feature %zu is not an object",
                                            r->n_features + 1);
                        if ((k = skip_value(r, error, size)) < 0 ||
                            (k = add_feature(r, rows, start, error, size)) < 0)
                                return k;
                        done++;
                        break;
                case GEOJSON_AFTER:
                        if (r->pos < r->size)
                                return fail(r, r->pos, error, size, "text after the FeatureCollection");
                        if (!r->saw_type)
                                return fail(r, r->pos, error, size,
                                            "not a FeatureCollection: it has no \"type\"");
                        if (!r->saw_features)
                                return fail(r, r->pos, error, size,
                                            "the FeatureCollection has no \"features\"");
                        return 1;
                }
        }
}
