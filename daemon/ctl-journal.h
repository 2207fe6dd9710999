/* SPDX-License-Identifier: MIT */
#pragma once

/* What udfcronctl's journal readers (history, logs) share: opening the journal, and local times. */

#include <stdint.h>

#include "timestamp.h"
#include "tz.h"

typedef struct sd_journal sd_journal;

/* Opens the local journal (system and runtime files); on failure says why on stderr as "udfcronctl VERB:
 * ...". */
int ctl_journal_open(const char *verb, sd_journal **ret_journal);

/*
 * Says on stderr that nothing matched and, for a caller who cannot read the system journal (not root,
 * in neither systemd-journal nor adm), that this may be why.
 */
void ctl_journal_nothing_found(const char *verb, const char *what);

/* Times shown in the system's zone (/etc/localtime), as ISO-8601 with the offset. */
typedef struct LocalTime {
        TzDb *db;
        const TzZone *zone; /* UTC when the system zone cannot be read */
} LocalTime;

void local_time_init(LocalTime *t);
void local_time_done(LocalTime *t);
char *local_time_format(const LocalTime *t, uint64_t realtime_usec, char buf[static TIMESTAMP_MAX]);
