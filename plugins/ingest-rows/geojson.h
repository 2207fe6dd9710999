/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * A GeoJSON FeatureCollection reader (RFC 7946) that reads a few features at
 * a time, so that a large input is read in slices: the collection's members
 * are scanned without building a tree of the whole document, and each feature
 * is parsed on its own. A feature's row is its text as written; its bounding
 * box is that of every position of its geometry (any geometry type, including
 * collections). Errors name the feature and its line: "feature 12 (line 40):
 * geometry: latitude 95 is out of range -90..90".
 */

#include <stdbool.h>
#include <stddef.h>

#include "rows.h"

typedef struct GeojsonOptions {
        bool geospatial;            /* every feature needs a geometry, in range: its bbox is kept */
        const char *value_property; /* the partition column: properties.NAME, or NULL */
} GeojsonOptions;

typedef enum GeojsonState {
        GEOJSON_START,    /* before the collection's '{' */
        GEOJSON_MEMBERS,  /* between its members */
        GEOJSON_FEATURES, /* inside "features": [ ... ] */
        GEOJSON_AFTER,    /* after its '}' */
} GeojsonState;

typedef struct GeojsonReader {
        const char *data;
        size_t size, pos;
        size_t line_pos; /* line counts newlines up to here */
        unsigned line;
        GeojsonOptions options;
        GeojsonState state;
        bool saw_type, saw_features;
        size_t n_features;
} GeojsonReader;

void geojson_reader_init(GeojsonReader *r, const char *data, size_t size, const GeojsonOptions *options);

/*
 * Reads up to `max_features` more features into `rows`. Returns 1 once the
 * whole input is read, 0 when more remains; -EINVAL with one line in `error`
 * (not JSON, not a FeatureCollection, a feature without a usable geometry);
 * -ENOMEM; -E2BIG (more than ROWS_MAX features).
 */
int geojson_read(GeojsonReader *r, Rows *rows, size_t max_features, char *error, size_t error_size);
