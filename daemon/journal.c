/* SPDX-License-Identifier: MIT */
#include "journal.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* Without this, sd-journal.h adds CODE_FILE/LINE/FUNC: always this file's emit_journald(), so noise. */
#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>

#include "cleanup.h"
#include "terminal.h"
#include "timestamp.h"

/*
 * Targets. JOURNAL_AUTO picks journald when its socket exists, else stderr;
 * $UDFCRON_LOG_TARGET=stderr|journal (or "journald"; "auto" and "" mean
 * detect) overrides the detection, so tests and developers can force either.
 * An explicit JOURNAL_JOURNALD/JOURNAL_STDERR from the caller (the command
 * line) wins over the environment. A record journald refuses is written to
 * stderr instead; note that libsystemd reports a missing socket as success.
 *
 * journald: one sd_journal_sendv() per record, one iovec per "FIELD=value",
 * built here (no format strings reach libsystemd). Values may hold any bytes:
 * libsystemd switches to the length-prefixed binary form for a value with a
 * newline, and the plain form keeps NUL bytes because journald splits fields
 * at newlines only. A lifecycle MESSAGE is "nightly[r-3f2a] #1 started: text",
 * so `journalctl -u udfcrond` reads well without -o verbose; an output line's
 * MESSAGE is the line itself, byte for byte.
 *
 * stderr: one line per record, for people, after "TIMESTAMP " (UTC, seconds):
 *   TIMESTAMP text                                                   journal_log()
 *   TIMESTAMP nightly[r-3f2a] #1 failed: text (job=J exit=N duration=S.mmms next=T)
 *   TIMESTAMP nightly[r-3f2a] | a line of the run's stdout
 *   TIMESTAMP nightly[r-3f2a] ! a line of the run's stderr
 *   TIMESTAMP nightly[r-3f2a/7] | a line of task 7 of a fan-out run (UDFCRON_TASK=7)
 * The parenthesis lists only the members that are set. Control characters
 * (but tab), DEL, invalid UTF-8, C1 controls and bidi overrides are written as
 * \xNN, so no record can forge a line or drive the terminal; a backslash stays
 * as is (readability over reversibility: journald has the exact bytes). Color
 * by priority only on a terminal, unless $NO_COLOR is non-empty or TERM=dumb.
 * A remote line's own timestamp is journald-only (UDFCRON_REMOTE_USEC).
 *
 * Secrets: every occurrence of every registered value becomes "[redacted]";
 * overlapping or adjacent occurrences merge into one, so no part of a secret
 * and no boundary between two of them shows. Masked: journald's MESSAGE and
 * string fields, and the whole stderr line. Not masked: the numbers we format
 * ourselves (a 4-digit secret would otherwise corrupt UDFCRON_SCHEDULED_USEC;
 * a number carries no secret, and journald adds its own numbers anyway). A
 * caller that writes one line in pieces holds back journal_secret_overlap()
 * bytes of each piece, so a secret split between pieces is still found.
 */

#define JOURNAL_SOCKET  "/run/systemd/journal/socket"
#define REDACTED        "[redacted]"
#define SECRET_SIZE_MIN 4
#define FIELDS_MAX      20

#define streq(a, b) (strcmp((a), (b)) == 0)

/*
 * Per event: its UDFCRON_EVENT name, its MESSAGE_ID (fixed for all time:
 * operators and alerts match on them, e.g. `journalctl MESSAGE_ID=5cc6f3e1...`
 * for every failed run; output lines have one too, for "all job output"), and
 * its priority: errors for what ended a run badly, a warning for a failed
 * attempt that will be retried, a notice for what the overlap policy or an
 * operator asked for (skipped, cancelled: working as configured, yet worth
 * seeing). Output lines take their priority from their stream instead.
 */
static const struct {
        const char *name;
        const char *message_id;
        int priority;
} event_table[_RUN_EVENT_MAX] = {
        [RUN_EVENT_SCHEDULED] = { "scheduled", "cfee399d9008437fbc87b80682382b20", LOG_INFO },
        [RUN_EVENT_STARTED] = { "started", "e9736a30a7d14d32bb14b447c136f021", LOG_INFO },
        [RUN_EVENT_LOG] = { "log", "8a54356e94ae485d851abf125cebd49e", LOG_INFO },
        [RUN_EVENT_FINISHED] = { "finished", "0546626a7cb44626a55117e8cba58bd5", LOG_INFO },
        [RUN_EVENT_FAILED] = { "failed", "5cc6f3e102ac4e9585bf971231a83b32", LOG_ERR },
        [RUN_EVENT_TIMED_OUT] = { "timed_out", "0e7b950806744d36beedceb3a5d21e23", LOG_ERR },
        [RUN_EVENT_CANCELLED] = { "cancelled", "046106b6eb40434a94d8f0213955911a", LOG_NOTICE },
        [RUN_EVENT_SKIPPED] = { "skipped", "2ea4dec98398439a94b99ea057df96e9", LOG_NOTICE },
        [RUN_EVENT_RETRY] = { "retry", "b4c228dfd74044afa58935d7d5fa4f46", LOG_WARNING },
        [RUN_EVENT_LOST] = { "lost", "b7455edffab244438a5715cdfe43dd78", LOG_ERR },
        [RUN_EVENT_TASK_RETRY] = { "task_retry", "98ecb65415384abeb9e4fb0d572c4da9", LOG_WARNING },
        [RUN_EVENT_TASK_FAILED] = { "task_failed", "f3775cd62a1740848d3bbc93d5a45aeb", LOG_ERR },
        [RUN_EVENT_STEP_STARTED] = { "step_started", "bce27f7b27ab4cc687e9a088451534c2", LOG_INFO },
        [RUN_EVENT_STEP_FINISHED] = { "step_finished", "04eac739b6674a44bcfb9ecb6b5084d0", LOG_INFO },
        [RUN_EVENT_STEP_FAILED] = { "step_failed", "88215c1de96346f0b8f0bacf1f35c48c", LOG_ERR },
};

typedef struct Secret {
        char *value;
        size_t size;
} Secret;

struct Journal {
        bool to_stderr;
        bool color;
        Secret *secrets;
        size_t n_secrets;
};

/* What one record says; the targets render it. */
typedef struct Entry {
        int priority;
        const RunFields *run; /* NULL for daemon messages */
        RunEvent event;       /* _RUN_EVENT_INVALID for daemon messages */
        bool is_stderr;       /* RUN_EVENT_LOG */
        uint64_t remote_usec; /* RUN_EVENT_LOG */
        const char *message;
        size_t message_size;
        const char *plugin, *instance; /* a plugin's message */
} Entry;

/* A growing byte buffer whose appends need no checks: the first failure sets `failed`, checked once. */
typedef struct Buf {
        char *data;
        size_t size, allocated;
        bool failed;
} Buf;

static void buf_done(Buf *b) {
        free(b->data);
}

/* Makes room for n more bytes. */
static bool buf_reserve(Buf *b, size_t n) {
        if (b->failed)
                return false;
        if (n <= b->allocated - b->size)
                return true;
        size_t want = MAX(b->allocated * 2, b->size + n + 256);
        char *d = realloc(b->data, want);
        if (!d) {
                b->failed = true;
                return false;
        }
        b->data = d;
        b->allocated = want;
        return true;
}

static void buf_put(Buf *b, const void *p, size_t n) {
        if (n == 0 || !buf_reserve(b, n))
                return;
        memcpy(b->data + b->size, p, n);
        b->size += n;
}

static void buf_puts(Buf *b, const char *s) {
        buf_put(b, s, strlen(s));
}

static _printf_(2, 0) void buf_vprintf(Buf *b, const char *format, va_list ap) {
        va_list aq;
        va_copy(aq, ap);
        int n = vsnprintf(NULL, 0, format, aq);
        va_end(aq);
        if (n < 0)
                b->failed = true; /* EOVERFLOW or a bad conversion: drop rather than guess */
        else if (buf_reserve(b, (size_t) n + 1)) {
                (void) vsnprintf(b->data + b->size, (size_t) n + 1, format, ap);
                b->size += (size_t) n;
        }
}

static _printf_(2, 3) void buf_printf(Buf *b, const char *format, ...) {
        va_list ap;
        va_start(ap, format);
        buf_vprintf(b, format, ap);
        va_end(ap);
}

/* Appends data with every byte terminal_printable_span() stops at written as \xNN. */
static void buf_put_escaped(Buf *b, const char *data, size_t size) {
        static const char hex[] = "0123456789abcdef";

        for (size_t i = 0; i < size;) {
                size_t n = terminal_printable_span(data + i, size - i);
                buf_put(b, data + i, n);
                i += n;
                if (i < size) {
                        unsigned char c = (unsigned char) data[i++];
                        char e[4] = { '\\', 'x', hex[c >> 4], hex[c & 15] };
                        buf_put(b, e, sizeof e);
                }
        }
}

static void buf_put_plain(Buf *b, const char *data, size_t size, bool escape) {
        if (escape)
                buf_put_escaped(b, data, size);
        else
                buf_put(b, data, size);
}

/* Appends data (escaped for stderr, or as is) with every occurrence of every secret masked. */
static void buf_put_masked(Buf *b, const Journal *j, const char *data, size_t size, bool escape) {
        _cleanup_free_ char *hidden = NULL; /* one flag per byte of data, only once a secret occurs */

        if (size == 0)
                return;
        for (size_t i = 0; i < j->n_secrets; i++) {
                const Secret *s = &j->secrets[i];
                size_t from = 0, marked = 0; /* bytes before `marked` are hidden already */
                const char *hit;

                /* Searching again from the byte after each hit finds overlapping occurrences too. */
                while (from < size && (hit = memmem(data + from, size - from, s->value, s->size))) {
                        size_t at = (size_t) (hit - data), start = MAX(at, marked);
                        if (!hidden && !(hidden = calloc(size, 1))) {
                                b->failed = true; /* never fall back to writing it unmasked */
                                return;
                        }
                        memset(hidden + start, 1, at + s->size - start);
                        marked = at + s->size;
                        from = at + 1;
                }
        }
        if (!hidden)
                return buf_put_plain(b, data, size, escape);

        for (size_t i = 0, k; i < size; i = k) {
                for (k = i; k < size && hidden[k] == hidden[i]; k++)
                        ;
                if (hidden[i])
                        buf_puts(b, REDACTED);
                else
                        buf_put_plain(b, data + i, k - i, escape);
        }
}

/* "nightly[r-3f2a]", or "nightly[r-3f2a/7]" for task 7 of a fan-out: the schedule and run a record is
 * about. */
static void buf_put_run(Buf *b, const RunFields *run) {
        buf_puts(b, run->schedule ?: "-");
        if (run->run_id && run->has_task)
                buf_printf(b, "[%s/%zu]", run->run_id, run->task);
        else if (run->run_id)
                buf_printf(b, "[%s]", run->run_id);
}

/* The stderr form's " (job=J exit=N duration=S.mmms next=T)", of the members that are set. */
static void buf_put_details(Buf *b, const RunFields *run) {
        char ts[TIMESTAMP_MAX];
        const char *sep = " (";

        if (run->job_id) {
                buf_printf(b, "%sjob=%s", sep, run->job_id);
                sep = " ";
        }
        if (run->has_exit_status) {
                buf_printf(b, "%sexit=%d", sep, run->exit_status);
                sep = " ";
        }
        if (run->duration_usec > 0) {
                buf_printf(b, "%sduration=%" PRIu64 ".%03" PRIu64 "s", sep, run->duration_usec / 1000000,
                           run->duration_usec / 1000 % 1000);
                sep = " ";
        }
        if (run->next_usec > 0) {
                buf_printf(b, "%snext=%s", sep,
                           timestamp_format((int64_t) (run->next_usec / 1000000), 0, ts));
                sep = " ";
        }
        if (!streq(sep, " ("))
                buf_puts(b, ")");
}

/* Last resort when a record cannot be built: say so rather than lose it without a trace. */
static void note_dropped(void) {
        static const char msg[] = "udfcrond: out of memory, a log record was dropped\n";
        (void) !write(STDERR_FILENO, msg, sizeof msg - 1);
}

static void emit_stderr(const Journal *j, const Entry *e) {
        _cleanup_(buf_done) Buf line = {}, out = {};
        char ts[TIMESTAMP_MAX];
        struct timespec now = {};

        (void) clock_gettime(CLOCK_REALTIME, &now);
        buf_printf(&line, "%s ", timestamp_format(now.tv_sec, 0, ts));
        if (e->run && e->event == RUN_EVENT_LOG) {
                buf_put_run(&line, e->run);
                buf_puts(&line, e->is_stderr ? " ! " : " | ");
        }
        buf_put(&line, e->message, e->message_size);
        if (e->run && e->event != RUN_EVENT_LOG)
                buf_put_details(&line, e->run);

        const char *color = j->color ? terminal_priority_color(e->priority) : NULL;
        if (color)
                buf_puts(&out, color);
        buf_put_masked(&out, j, line.data, line.size, true);
        if (color)
                buf_puts(&out, ANSI_RESET);
        buf_put(&out, "\n", 1);

        if (line.failed || out.failed)
                return note_dropped();
        /* One fwrite of the whole line: stderr is unbuffered, so this is one write(). */
        (void) fwrite(out.data, 1, out.size, stderr);
}

/* Fields of one journald record, each "NAME=value", back to back in one buffer. */
typedef struct Record {
        Buf buf;
        size_t start[FIELDS_MAX];
        size_t n;
} Record;

static void record_done(Record *r) {
        buf_done(&r->buf);
}

static void record_begin(Record *r) {
        assert(r->n < FIELDS_MAX);
        r->start[r->n++] = r->buf.size;
}

static void record_string(Record *r, const Journal *j, const char *name, const char *value, size_t size) {
        record_begin(r);
        buf_printf(&r->buf, "%s=", name);
        buf_put_masked(&r->buf, j, value, size, false);
}

static _printf_(2, 3) void record_printf(Record *r, const char *format, ...) {
        va_list ap;
        record_begin(r);
        va_start(ap, format);
        buf_vprintf(&r->buf, format, ap);
        va_end(ap);
}

static int emit_journald(const Journal *j, const Entry *e) {
        _cleanup_(record_done) Record r = {};
        struct iovec iov[FIELDS_MAX];
        const RunFields *run = e->run;

        record_string(&r, j, "MESSAGE", e->message, e->message_size);
        record_printf(&r, "PRIORITY=%d", e->priority);
        record_printf(&r, "SYSLOG_IDENTIFIER=udfcrond");
        if (run) {
                record_printf(&r, "MESSAGE_ID=%s", event_table[e->event].message_id);
                record_printf(&r, "UDFCRON_EVENT=%s", event_table[e->event].name);
                if (run->schedule)
                        record_string(&r, j, "UDFCRON_SCHEDULE", run->schedule, strlen(run->schedule));
                if (run->run_id)
                        record_string(&r, j, "UDFCRON_RUN_ID", run->run_id, strlen(run->run_id));
                if (run->engine)
                        record_string(&r, j, "UDFCRON_ENGINE", run->engine, strlen(run->engine));
                if (run->job_id)
                        record_string(&r, j, "UDFCRON_JOB_ID", run->job_id, strlen(run->job_id));
                if (run->step)
                        record_string(&r, j, "UDFCRON_STEP", run->step, strlen(run->step));
                if (run->attempt > 0)
                        record_printf(&r, "UDFCRON_ATTEMPT=%u", run->attempt);
                if (run->has_task)
                        record_printf(&r, "UDFCRON_TASK=%zu", run->task);
                if (run->scheduled_usec > 0)
                        record_printf(&r, "UDFCRON_SCHEDULED_USEC=%" PRIu64, run->scheduled_usec);
                if (run->duration_usec > 0)
                        record_printf(&r, "UDFCRON_DURATION_USEC=%" PRIu64, run->duration_usec);
                if (run->has_exit_status)
                        record_printf(&r, "UDFCRON_EXIT_STATUS=%d", run->exit_status);
                if (run->next_usec > 0)
                        record_printf(&r, "UDFCRON_NEXT_USEC=%" PRIu64, run->next_usec);
                if (run->stopped_by)
                        record_string(&r, j, "UDFCRON_STOPPED_BY", run->stopped_by, strlen(run->stopped_by));
        }
        if (e->plugin) {
                record_string(&r, j, "PLUGIN", e->plugin, strlen(e->plugin));
                record_string(&r, j, "INSTANCE", e->instance, strlen(e->instance));
        }
        if (run && e->event == RUN_EVENT_LOG) {
                record_printf(&r, "UDFCRON_STREAM=%s", e->is_stderr ? "stderr" : "stdout");
                if (e->remote_usec > 0)
                        record_printf(&r, "UDFCRON_REMOTE_USEC=%" PRIu64, e->remote_usec);
        }
        if (r.buf.failed)
                return -ENOMEM;

        for (size_t i = 0; i < r.n; i++) {
                size_t end = i + 1 < r.n ? r.start[i + 1] : r.buf.size;
                iov[i] = (struct iovec){ .iov_base = r.buf.data + r.start[i], .iov_len = end - r.start[i] };
        }
        return sd_journal_sendv(iov, (int) r.n);
}

static void emit(const Journal *j, const Entry *e, bool failed) {
        if (failed)
                return note_dropped();
        if (!j->to_stderr && emit_journald(j, e) >= 0)
                return;
        emit_stderr(j, e);
}

const char *run_event_to_string(RunEvent e) {
        return e >= 0 && e < _RUN_EVENT_MAX ? event_table[e].name : NULL;
}

RunEvent run_event_from_string(const char *s, size_t size) {
        for (RunEvent e = 0; e < _RUN_EVENT_MAX; e++)
                if (strlen(event_table[e].name) == size && memcmp(event_table[e].name, s, size) == 0)
                        return e;
        return _RUN_EVENT_INVALID;
}

bool run_event_is_end(RunEvent e) {
        return e >= 0 && e < _RUN_EVENT_MAX && !run_event_is_part(e) &&
               !IN_SET(e, RUN_EVENT_SCHEDULED, RUN_EVENT_STARTED, RUN_EVENT_LOG, RUN_EVENT_RETRY);
}

bool run_event_is_part(RunEvent e) {
        return IN_SET(e, RUN_EVENT_STEP_STARTED, RUN_EVENT_STEP_FINISHED, RUN_EVENT_STEP_FAILED,
                      RUN_EVENT_TASK_RETRY, RUN_EVENT_TASK_FAILED);
}

int journal_new(JournalTarget target, Journal **ret_journal) {
        assert(ret_journal);

        if (target == JOURNAL_AUTO) {
                const char *e = getenv("UDFCRON_LOG_TARGET");
                if (e && streq(e, "stderr"))
                        target = JOURNAL_STDERR;
                else if (e && (streq(e, "journal") || streq(e, "journald")))
                        target = JOURNAL_JOURNALD;
                else if (!e || streq(e, "") || streq(e, "auto"))
                        target = access(JOURNAL_SOCKET, F_OK) >= 0 ? JOURNAL_JOURNALD : JOURNAL_STDERR;
                else
                        return -EINVAL;
        }
        if (target != JOURNAL_JOURNALD && target != JOURNAL_STDERR)
                return -EINVAL;

        Journal *j = calloc(1, sizeof *j);
        if (!j)
                return -ENOMEM;
        j->to_stderr = target == JOURNAL_STDERR;
        /* Even in journald mode: a record journald refuses ends up on stderr. */
        j->color = terminal_wants_color(STDERR_FILENO);
        *ret_journal = j;
        return 0;
}

Journal *journal_free(Journal *j) {
        if (!j)
                return NULL;
        for (size_t i = 0; i < j->n_secrets; i++) {
                explicit_bzero(j->secrets[i].value, j->secrets[i].size);
                free(j->secrets[i].value);
        }
        free(j->secrets);
        free(j);
        return NULL;
}

bool journal_is_stderr(const Journal *j) {
        assert(j);
        return j->to_stderr;
}

int journal_add_secret(Journal *j, const char *value) {
        assert(j);
        assert(value);

        size_t size = strlen(value);
        if (size < SECRET_SIZE_MIN)
                return 0;
        for (size_t i = 0; i < j->n_secrets; i++)
                if (j->secrets[i].size == size && memcmp(j->secrets[i].value, value, size) == 0)
                        return 0;

        Secret *s = reallocarray(j->secrets, j->n_secrets + 1, sizeof *s);
        if (!s)
                return -ENOMEM;
        j->secrets = s;
        char *copy = strdup(value);
        if (!copy)
                return -ENOMEM;
        j->secrets[j->n_secrets++] = (Secret){ .value = copy, .size = size };
        return 1;
}

size_t journal_secret_overlap(const Journal *j) {
        size_t longest = 0;
        for (size_t i = 0; i < j->n_secrets; i++)
                longest = MAX(longest, j->secrets[i].size);
        return longest > 0 ? longest - 1 : 0;
}

char *journal_redact(const Journal *j, const char *data, size_t size, size_t *ret_size) {
        Buf b = {};
        buf_put_masked(&b, j, data, size, false);
        if (!buf_reserve(&b, 1)) {
                buf_done(&b);
                return NULL;
        }
        b.data[b.size] = '\0';
        if (ret_size)
                *ret_size = b.size;
        return b.data;
}

void journal_log(Journal *j, int priority, const char *format, ...) {
        _cleanup_(buf_done) Buf m = {};
        va_list ap;

        assert(j);
        va_start(ap, format);
        buf_vprintf(&m, format, ap);
        va_end(ap);
        emit(j,
             &(Entry){ .priority = priority & LOG_PRIMASK,
                       .event = _RUN_EVENT_INVALID,
                       .message = m.data,
                       .message_size = m.size },
             m.failed);
}

void journal_log_plugin(Journal *j, int priority, const char *plugin, const char *instance,
                        const char *message) {
        _cleanup_(buf_done) Buf m = {};

        assert(j);
        buf_printf(&m, "%s: %s", instance, message);
        emit(j,
             &(Entry){ .priority = priority & LOG_PRIMASK,
                       .event = _RUN_EVENT_INVALID,
                       .message = m.data,
                       .message_size = m.size,
                       .plugin = plugin,
                       .instance = instance },
             m.failed);
}

void journal_run_event(Journal *j, const RunFields *run, RunEvent event, const char *format, ...) {
        _cleanup_(buf_done) Buf m = {};
        va_list ap;

        assert(j);
        assert(run);
        assert(event >= 0 && event < _RUN_EVENT_MAX && event != RUN_EVENT_LOG);

        buf_put_run(&m, run);
        if (run->attempt > 0)
                buf_printf(&m, " #%u", run->attempt);
        buf_printf(&m, " %s: ", event_table[event].name);
        size_t before = m.size;
        va_start(ap, format);
        buf_vprintf(&m, format, ap);
        va_end(ap);
        if (!m.failed && m.size == before)
                m.size -= 2; /* no text: no dangling ": " */
        emit(j,
             &(Entry){ .priority = event_table[event].priority,
                       .run = run,
                       .event = event,
                       .message = m.data,
                       .message_size = m.size },
             m.failed);
}

void journal_run_output(Journal *j, const RunFields *run, bool is_stderr, const char *line, size_t size,
                        uint64_t remote_usec) {
        assert(j);
        assert(run);
        assert(line || size == 0);

        emit(j,
             &(Entry){ .priority = is_stderr ? LOG_WARNING : LOG_INFO,
                       .run = run,
                       .event = RUN_EVENT_LOG,
                       .is_stderr = is_stderr,
                       .remote_usec = remote_usec,
                       .message = line,
                       .message_size = size },
             false);
}
