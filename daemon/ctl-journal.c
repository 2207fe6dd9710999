/* SPDX-License-Identifier: MIT */
#include "ctl-journal.h"

#include <grp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include "cleanup.h"
#include "schedule.h"

int ctl_journal_open(const char *verb, sd_journal **ret_journal) {
        int r = sd_journal_open(ret_journal, SD_JOURNAL_LOCAL_ONLY);
        if (r < 0)
                fprintf(stderr, "udfcronctl %s: cannot open the journal: %s\n", verb, strerror(-r));
        return r;
}

static bool in_group(const char *name) {
        const struct group *g = getgrnam(name);
        gid_t groups[256];
        int n;

        if (!g)
                return false;
        if (getegid() == g->gr_gid)
                return true;
        n = getgroups((int) ELEMENTSOF(groups), groups);
        for (int i = 0; i < n; i++)
                if (groups[i] == g->gr_gid)
                        return true;
        return false;
}

void ctl_journal_nothing_found(const char *verb, const char *what) {
        fprintf(stderr, "udfcronctl %s: no records of %s in the journal\n", verb, what);
        if (geteuid() != 0 && !in_group("systemd-journal") && !in_group("adm"))
                fprintf(stderr,
                        "udfcronctl %s: hint: you see only your own records; the daemon's need root or "
                        "membership of the 'systemd-journal' or 'adm' group\n",
                        verb);
}

void local_time_init(LocalTime *t) {
        _cleanup_free_ char *name = NULL;

        *t = (LocalTime){ .zone = tz_utc() };
        if (tz_system_zone_name(&name) >= 0 && tzdb_new(NULL, &t->db) >= 0 &&
            tzdb_get(t->db, name, &t->zone) < 0)
                t->zone = tz_utc();
}

void local_time_done(LocalTime *t) {
        t->db = tzdb_free(t->db);
}

char *local_time_format(const LocalTime *t, uint64_t realtime_usec, char buf[static TIMESTAMP_MAX]) {
        int64_t seconds = (int64_t) (realtime_usec / USEC_PER_SEC);
        return timestamp_format(seconds, tz_offset_at(t->zone, seconds), buf);
}
