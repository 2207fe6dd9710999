/* SPDX-License-Identifier: MIT */
/*
 * child: one process of the local engine, on the sd-event loop.
 *
 *  spawn  Pipes are O_CLOEXEC. The child is a vfork-style clone(CLONE_VM | CLONE_VFORK | CLONE_PIDFD) on a
 *         stack of its own, as posix_spawn does: no copy of the daemon's page tables, which would make every
 *         start cost what fork() costs, and the pidfd comes atomically. It shares our memory until execve,
 *         so it makes only async-signal-safe system calls, touches no heap and writes nothing of ours but
 *         errno; we are suspended meanwhile. All signals are blocked around the clone, and the child resets
 *         every signal that is not SIG_DFL before unblocking, so no handler of the daemon ever runs in it.
 *         It reports an errno through a CLOEXEC pipe rather than through shared memory: valgrind turns
 *         this clone into a fork (it keeps CLONE_PIDFD but drops CLONE_VM), and the pipe works either way;
 *         with CLONE_VFORK reading it never waits. Where the clone is refused (EINVAL, ENOSYS: seccomp
 *         filters of some container runtimes, old kernels) clone3(CLONE_PIDFD), then fork() + pidfd_open()
 *         (the child is not reaped yet, so its pid cannot be recycled in between; the pid alone serves
 *         where pidfd_open is missing too: Linux < 5.3), run the same child code.
 *  run    stdin gets as much of `input` as the empty pipe takes before the clone (64 KiB by default, so
 *         usually all of it): then its write end is closed at once and the run holds one descriptor less.
 *         The rest, if any, is fed from a copy; stdout and stderr are cut into lines, fd 3 is collected;
 *         all through non-blocking IO sources.
 *  stop   On timeout or child_cancel(): SIGTERM to the process group (and to the child through its pidfd,
 *         in case it left the group), SIGKILL after the grace period. The grace period is the whole
 *         group's, as with systemd's KillMode=control-group: a grandchild still busy after the child died
 *         gets it too. When a stopped run ends, whatever is left of its group is SIGKILLed.
 *         Having asked it to stop, we report CHILD_TIMED_OUT or CHILD_CANCELLED whatever the child did
 *         next (the run did not complete normally), with exit_status and signal filled as for any end:
 *         exit_status is the exit code if it exited (else -1), signal the fatal signal (else 0).
 *  end    When the child has exited and every pipe is at EOF. A grandchild that keeps a pipe open gets
 *         CHILD_DRAIN_USEC after the exit (after the SIGKILL, for a stopped run); then the pipes are read
 *         once more and closed: it sees EPIPE or SIGPIPE on its next write. After a normal exit such a
 *         straggler is left running, as cron does. `ended` is only called from an IO or timer callback,
 *         never from the child source's: sd-event reaps the child right after that callback returns, so
 *         the Child and its pidfd must outlive it.
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/pidfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <systemd/sd-event.h>
#include <time.h>
#include <unistd.h>

#include "child.h"

#if defined(__SANITIZE_ADDRESS__)
#define HAVE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HAVE_ASAN 1
#endif
#endif
#ifdef HAVE_ASAN
#include <sanitizer/asan_interface.h>
#endif

#define USEC_PER_MSEC       1000ULL
#define USEC_PER_SEC        1000000ULL
#define CHILD_DRAIN_USEC    (1 * USEC_PER_SEC)
#define TIMER_ACCURACY_USEC USEC_PER_MSEC
/* How many reads one callback makes of a pipe at the child's exit or drain: bounded, for the loop. */
#define STREAM_DRAIN_READS  16
#define DEFAULT_PATH        "/usr/local/bin:/usr/bin:/bin"
/* The child's deepest frame holds a PATH_MAX buffer; ASan's redzones and reports need room too. Pages
 * that are never touched cost nothing. */
#define CHILD_STACK_SIZE (128 * 1024)

typedef enum StreamKind { STREAM_STDOUT, STREAM_STDERR, STREAM_RESULT, _STREAM_MAX } StreamKind;

typedef struct Stream {
        Child *child;
        StreamKind kind;
        int fd;
        sd_event_source *source;
        char *buf; /* one byte more than `allocated`, so what we hand out is NUL-terminated */
        size_t size, allocated;
        bool continued; /* the last piece delivered was partial: its line still has to end */
} Stream;

struct Child {
        sd_event *event;
        ChildCallbacks callbacks;
        void *userdata;
        pid_t pid; /* also the process group */
        int pidfd;
        sd_event_source *exit_source, *kill_timer, *drain_timer, *input_source;
        int input_fd;
        char *input;
        size_t input_size, input_done;
        Stream streams[_STREAM_MAX];
        bool result_truncated;
        uint64_t kill_grace_usec;
        ChildEnd stop_reason; /* CHILD_EXITED until we ask it to stop */
        int kill_signal;      /* the last signal we sent: 0, SIGTERM, SIGKILL */
        bool exited, ended;
        int code, status; /* from the exit's siginfo */
        uint64_t started_usec, ended_usec;
};

static uint64_t now_realtime(void) {
        struct timespec ts;
        (void) clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

/* The group reaches grandchildren; the child is signalled itself too, in case it left the group (by pid
 * only while it is unreaped: then its pid cannot have been recycled). */
static void child_signal(Child *c, int sig) {
        if (c->pid <= 0) /* kill(-0) would signal our own group */
                return;
        (void) kill(-c->pid, sig);
        if (c->pidfd >= 0)
                (void) pidfd_send_signal(c->pidfd, sig, NULL, 0);
        else if (!c->exited)
                (void) kill(c->pid, sig);
}

static void child_reap(Child *c) {
        siginfo_t si;
        while ((c->pidfd >= 0 ? waitid(P_PIDFD, (id_t) c->pidfd, &si, WEXITED)
                              : waitid(P_PID, (id_t) c->pid, &si, WEXITED)) < 0 &&
               errno == EINTR)
                ;
        c->exited = true;
}

static void stream_deliver(Stream *s, size_t start, size_t end, bool partial) {
        s->buf[end] = '\0';
        s->continued = partial;
        if (s->child->callbacks.output)
                s->child->callbacks.output(s->child->userdata, s->kind == STREAM_STDERR, s->buf + start,
                                           end - start, partial);
}

/* `n` new bytes follow the `size` buffered ones, which hold no '\n'. */
static void stream_split(Stream *s, size_t n) {
        size_t start = 0, scan = s->size;
        char *nl;

        s->size += n;
        while ((nl = memchr(s->buf + scan, '\n', s->size - scan))) {
                size_t end = (size_t) (nl - s->buf);
                stream_deliver(s, start, end, false);
                start = scan = end + 1;
        }
        if (start > 0) {
                memmove(s->buf, s->buf + start, s->size - start);
                s->size -= start;
        } else if (s->size == CHILD_LINE_MAX) {
                stream_deliver(s, 0, CHILD_LINE_MAX, true);
                s->size = 0;
        }
}

static int stream_grow_result(Stream *s) {
        size_t want = MAX(s->allocated * 2, (size_t) 4096);
        char *p;

        want = MIN(want, (size_t) CHILD_RESULT_MAX);
        p = realloc(s->buf, want + 1);
        if (!p)
                return -ENOMEM;
        s->buf = p;
        s->allocated = want;
        return 0;
}

/* Reads once: level-triggered sources call again. Returns bytes read, 0 at EOF, -EAGAIN or -errno. */
static int stream_read(Stream *s) {
        char sink[16384];
        char *p = sink;
        size_t room = sizeof sink;
        ssize_t n;

        if (s->kind != STREAM_RESULT) {
                /* Allocated on first output only: many children print nothing. */
                if (!s->buf) {
                        s->buf = malloc(CHILD_LINE_MAX + 1);
                        if (!s->buf)
                                return -ENOMEM;
                        s->allocated = CHILD_LINE_MAX;
                }
                p = s->buf + s->size;
                room = s->allocated - s->size;
        } else if (s->size < CHILD_RESULT_MAX) {
                if (s->size == s->allocated && stream_grow_result(s) < 0) {
                        s->child->result_truncated = true; /* losing part of it must fail the run */
                        return -ENOMEM;
                }
                p = s->buf + s->size;
                room = s->allocated - s->size;
        } /* else: past the limit, keep draining into `sink` so the child is not blocked */

        n = read(s->fd, p, room);
        if (n < 0)
                return errno == EINTR ? -EAGAIN : -errno;
        if (n == 0)
                return 0;
        if (s->kind != STREAM_RESULT)
                stream_split(s, (size_t) n);
        else if (p == sink)
                s->child->result_truncated = true;
        else
                s->size += (size_t) n;
        return (int) n;
}

/* Delivers a last line without '\n' when `deliver`; child_free() must not call back. */
static void stream_close(Stream *s, bool deliver) {
        s->source = sd_event_source_disable_unref(s->source);
        s->fd = safe_close(s->fd);
        if (s->kind == STREAM_RESULT)
                return;
        if (deliver && (s->size > 0 || s->continued)) /* a last line, or the end of a long one */
                stream_deliver(s, 0, s->size, false);
        s->size = 0;
        s->buf = mfree(s->buf);
}

/* Reads what is there, a bounded amount, and closes the stream at EOF. */
static void stream_drain(Stream *s) {
        int r = 0;

        for (int i = 0; s->fd >= 0 && i < STREAM_DRAIN_READS && (r = stream_read(s)) > 0; i++)
                ;
        if (s->fd >= 0 && r <= 0 && r != -EAGAIN)
                stream_close(s, true);
}

static bool child_streams_open(const Child *c) {
        for (size_t k = 0; k < _STREAM_MAX; k++)
                if (c->streams[k].fd >= 0)
                        return true;
        return false;
}

static void input_close(Child *c) {
        c->input_source = sd_event_source_disable_unref(c->input_source);
        c->input_fd = safe_close(c->input_fd);
        c->input = mfree(c->input);
}

/* Both timers exist from the start, so stopping and ending never allocate and cannot fail. */
static int arm(sd_event_source *timer, uint64_t usec) {
        int r = sd_event_source_set_time_relative(timer, usec);
        if (r < 0)
                return r;
        return sd_event_source_set_enabled(timer, SD_EVENT_ONESHOT);
}

static void child_finish(Child *c) {
        const Stream *res = &c->streams[STREAM_RESULT];
        bool exited = c->code == CLD_EXITED;
        ChildResult r = {
                .end = c->stop_reason != CHILD_EXITED ? c->stop_reason
                       : exited                       ? CHILD_EXITED
                                                      : CHILD_SIGNALED,
                .exit_status = exited ? c->status : -1,
                .signal = exited ? 0 : c->status,
                .pid = c->pid,
                .started_usec = c->started_usec,
                .ended_usec = c->ended_usec,
                .result = res->size > 0 ? res->buf : NULL, /* NUL-terminated, for JSON parsers */
                .result_size = res->size,
                .result_truncated = c->result_truncated,
        };

        if (res->size > 0)
                res->buf[res->size] = '\0';
        /* A stopped run leaves nothing behind, not even members of its group that hold no pipe. While a
         * member lives the kernel keeps the group's number; once none does, reuse needs a pid wrap-around.
         */
        if (c->kill_signal != 0)
                (void) kill(-c->pid, SIGKILL);
        c->ended = true;
        c->kill_timer = sd_event_source_disable_unref(c->kill_timer);
        c->drain_timer = sd_event_source_disable_unref(c->drain_timer);
        input_close(c);
        /* Last: the callback may free the Child. */
        if (c->callbacks.ended)
                c->callbacks.ended(c->userdata, &r);
}

static int on_stream(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        Stream *s = userdata;
        Child *c = s->child;
        int r;

        (void) source, (void) fd, (void) revents;
        r = stream_read(s);
        if (r > 0 || r == -EAGAIN)
                return 0;
        stream_close(s, true); /* EOF, or an error that no retry would fix */
        if (c->exited && !c->ended && !child_streams_open(c))
                child_finish(c);
        return 0;
}

/* A pipe whose reader is gone must give EPIPE, not kill the daemon: SIGPIPE is blocked while writing
 * and one it caused is consumed, without changing the daemon's disposition or losing a pending one. */
static int on_input(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        static const struct timespec zero = { 0, 0 };
        Child *c = userdata;
        sigset_t pipe_set, old, pending;
        bool was_pending, broken = false;

        (void) source, (void) revents;
        sigemptyset(&pipe_set);
        sigaddset(&pipe_set, SIGPIPE);
        (void) sigpending(&pending);
        was_pending = sigismember(&pending, SIGPIPE) == 1;
        (void) sigprocmask(SIG_BLOCK, &pipe_set, &old);
        while (c->input_done < c->input_size) {
                ssize_t n = write(fd, c->input + c->input_done, c->input_size - c->input_done);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        broken = errno != EAGAIN; /* EPIPE: the child does not read stdin, which is fine */
                        if (errno == EPIPE && !was_pending)
                                (void) sigtimedwait(&pipe_set, NULL, &zero);
                        break;
                }
                c->input_done += (size_t) n;
        }
        (void) sigprocmask(SIG_SETMASK, &old, NULL);
        if (broken || c->input_done == c->input_size)
                input_close(c); /* EOF for the child */
        return 0;
}

static int on_drain(sd_event_source *source, uint64_t usec, void *userdata) {
        Child *c = userdata;

        (void) source, (void) usec;
        for (size_t k = 0; k < _STREAM_MAX; k++) {
                Stream *s = &c->streams[k];
                if (s->fd < 0)
                        continue;
                for (int i = 0; i < STREAM_DRAIN_READS && stream_read(s) > 0; i++)
                        ;
                stream_close(s, true);
        }
        child_finish(c);
        return 0;
}

static int on_child_exit(sd_event_source *source, const siginfo_t *si, void *userdata) {
        Child *c = userdata;

        (void) source;
        c->exited = true;
        c->code = si->si_code;
        c->status = si->si_status;
        c->ended_usec = now_realtime();
        /* A timeout must not stop a run that is over. */
        if (c->kill_signal == 0)
                (void) sd_event_source_set_enabled(c->kill_timer, SD_EVENT_OFF);
        /* Usually the pipes are at EOF by now: reading them here closes them in this same dispatch, rather
         * than in one more each, and a burst's exited children leave no HUP'd pipes for every poll to
         * report again (sources are level-triggered). What a grandchild still writes is read as usual. */
        for (size_t k = 0; k < _STREAM_MAX; k++)
                stream_drain(&c->streams[k]);
        /* During a stop's grace period the rest of the group may still write: its drain starts with the
         * SIGKILL. Otherwise now, or at once (a timer, see the top) when the pipes are at EOF already. */
        if (c->kill_signal != SIGTERM || !child_streams_open(c))
                (void) arm(c->drain_timer, child_streams_open(c) ? CHILD_DRAIN_USEC : 0);
        return 0;
}

static int child_stop(Child *c, ChildEnd reason) {
        int r;

        c->stop_reason = reason;
        c->kill_signal = SIGTERM;
        child_signal(c, SIGTERM);
        r = arm(c->kill_timer, c->kill_grace_usec);
        if (r < 0) { /* no grace without a timer */
                c->kill_signal = SIGKILL;
                child_signal(c, SIGKILL);
        }
        return 0;
}

static int on_kill_timer(sd_event_source *source, uint64_t usec, void *userdata) {
        Child *c = userdata;

        (void) source, (void) usec;
        if (c->kill_signal == 0)
                return child_stop(c, CHILD_TIMED_OUT);
        c->kill_signal = SIGKILL;
        child_signal(c, SIGKILL);
        if (c->exited && child_streams_open(c))
                (void) arm(c->drain_timer, CHILD_DRAIN_USEC);
        return 0;
}

int child_cancel(Child *child) {
        if (!child)
                return -EINVAL;
        /* Over, exited on its own (it ends as such), or already being stopped: nothing more to do. */
        if (child->ended || child->exited || child->kill_signal != 0)
                return 0;
        return child_stop(child, CHILD_CANCELLED);
}

/* execvp() without the daemon's environ: PATH comes from the child's envp; empty entries (the current
 * directory) are skipped. Only async-signal-safe calls. Returns -errno like execvp() would report. */
static int exec_search(const char *file, char *const argv[], char *const envp[], const char *search) {
        char path[PATH_MAX];
        size_t len = strlen(file);
        int r = -ENOENT;

        if (strchr(file, '/')) {
                execve(file, argv, envp);
                return -errno;
        }
        for (const char *p = search;; p++) {
                const char *colon = strchrnul(p, ':');
                size_t dlen = (size_t) (colon - p);

                if (dlen > 0 && len > 0 && dlen + 1 + len < sizeof path) {
                        memcpy(path, p, dlen);
                        path[dlen] = '/';
                        memcpy(path + dlen + 1, file, len + 1);
                        execve(path, argv, envp);
                        if (errno == EACCES)
                                r = -EACCES; /* reported unless a later directory has it */
                        else if (errno != ENOENT && errno != ENOTDIR && errno != ELOOP &&
                                 errno != ENAMETOOLONG)
                                return -errno;
                }
                p = colon;
                if (!*p)
                        return r;
        }
}

/* What the child needs, on our stack: read in place under CLONE_VM, from its copy after a fork. */
typedef struct ExecArgs {
        const ChildSpec *spec;
        const char *search;     /* PATH of envp */
        int fds[4];             /* the ends for 0, 1, 2 and (want_result) 3 */
        int error_fd;           /* the write end of the error pipe */
        uint64_t reset_signals; /* bit sig - 1: a signal whose disposition is not SIG_DFL */
} ExecArgs;

/* Returns the exit status of a child that could not exec, having reported `error`. */
static int child_fail(int error_fd, int error) {
        ssize_t k = write(error_fd, &error, sizeof error);
        (void) k;
        return 127;
}

/*
 * In the child: async-signal-safe system calls only, no heap, and nothing of ours written but errno (see
 * the top); all signals are blocked on entry. Nothing here is noreturn: the ASan runtime would unpoison
 * "the rest of the stack" from a stack pointer that is not on the thread's stack. Returns an exit status
 * after a failure, which glibc's clone() hands to the exit system call (the fallbacks call _exit).
 */
static int child_main(void *userdata) {
        const ExecArgs *a = userdata;
        const ChildSpec *spec = a->spec;
        struct sigaction dfl = { .sa_handler = SIG_DFL };
        int n = spec->want_result && !spec->stdout_is_result ? 4 : 3, error_fd = a->error_fd, fds[4];
        sigset_t none;

        /* The daemon's handlers must not run here, on its memory, once signals are unblocked; and ignored
         * signals (SIGPIPE) would survive execve. */
        _Static_assert(_NSIG - 1 <= 64, "reset_signals has a bit for each signal");
        for (int sig = 1; sig < _NSIG; sig++)
                if (a->reset_signals & (UINT64_C(1) << (sig - 1)))
                        (void) sigaction(sig, &dfl, NULL);
        if (setsid() < 0)
                return child_fail(error_fd, errno);

        /* Any end numbered below n would be overwritten by the dup2() calls: move it out first. The copies
         * go to our own stack, not to the parent's `a`. */
        memcpy(fds, a->fds, sizeof fds);
        if (error_fd < n) {
                int moved = fcntl(error_fd, F_DUPFD_CLOEXEC, n);
                if (moved < 0)
                        return child_fail(error_fd, errno);
                error_fd = moved;
        }
        for (int i = 0; i < n; i++)
                if (fds[i] < n && (fds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, n)) < 0)
                        return child_fail(error_fd, errno);
        for (int i = 0; i < n; i++)
                if (dup2(fds[i], i) < 0) /* the copy is not CLOEXEC */
                        return child_fail(error_fd, errno);
        /* Everything is O_CLOEXEC already; this also catches descriptors a library opened without it. It
         * marks rather than closes so the error pipe stays open until execve. Older kernels: ignored. */
        (void) close_range((unsigned) n, ~0U, CLOSE_RANGE_CLOEXEC);

        /* Before the switch to the job's user, who may not write the daemon's directory; a marker that
         * cannot be made fails the start, since a restarted daemon would take its absence for "never ran".
         */
        if (spec->start_marker) {
                int fd = open(spec->start_marker, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW,
                              0644);
                if (fd < 0)
                        return child_fail(error_fd, errno);
                (void) close(fd);
        }
        if (spec->nice != 0) {
                errno = 0;
                if (nice(spec->nice) == -1 && errno != 0)
                        return child_fail(error_fd, errno);
        }
        /* Under systemd the daemon holds CAP_SETUID, CAP_SETGID and CAP_KILL as inheritable and ambient
         * capabilities (so that it can run jobs as other users without being root). Both would outlive the
         * execve into the job: emptying the inheritable set empties the ambient one too. The permitted and
         * effective sets stay for the user switch below; a non-root job then starts with no capability. */
        struct __user_cap_header_struct cap_header = { .version = _LINUX_CAPABILITY_VERSION_3 };
        struct __user_cap_data_struct caps[_LINUX_CAPABILITY_U32S_3];
        if (syscall(SYS_capget, &cap_header, caps) < 0)
                return child_fail(error_fd, errno);
        if (caps[0].inheritable != 0 || caps[1].inheritable != 0) {
                caps[0].inheritable = caps[1].inheritable = 0;
                if (syscall(SYS_capset, &cap_header, caps) < 0)
                        return child_fail(error_fd, errno);
        }
        /* Raw system calls: glibc's wrappers would try to synchronise threads of a process that was not
         * fork()ed by glibc. Supplementary groups are dropped. */
        if (spec->uid != (uid_t) -1 && (syscall(SYS_setgroups, 0, NULL) < 0 ||
                                        syscall(SYS_setresgid, spec->gid, spec->gid, spec->gid) < 0 ||
                                        syscall(SYS_setresuid, spec->uid, spec->uid, spec->uid) < 0))
                return child_fail(error_fd, errno);
        /* After the switch, so the directory is checked with the job's own permissions. */
        if (spec->working_directory && chdir(spec->working_directory) < 0)
                return child_fail(error_fd, errno);

        sigemptyset(&none);
        (void) sigprocmask(SIG_SETMASK, &none, NULL);
        return child_fail(error_fd, -exec_search(spec->argv[0], (char *const *) spec->argv,
                                                 (char *const *) spec->envp, a->search));
}

/*
 * The signals whose disposition is not SIG_DFL, as bit sig - 1: the kernel lists the ignored ones and
 * those with a handler in /proc/self/status. One read of it costs a few microseconds, where a sigaction()
 * for each of the 64 signals costs tens (8 against 63 on this project's slow test machine, per start).
 * Without /proc: all of them. The daemon is single-threaded and all signals are blocked from here to the
 * clone, so the answer cannot change in between.
 */
static uint64_t signals_not_default(void) {
        char buf[4096], *ign, *cgt;
        size_t size = 0;
        ssize_t n;
        int fd;

        fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return UINT64_MAX;
        while (size < sizeof buf - 1 && (n = read(fd, buf + size, sizeof buf - 1 - size)) != 0) {
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        break;
                size += (size_t) n;
        }
        (void) close(fd);
        buf[size] = '\0';
        ign = strstr(buf, "\nSigIgn:");
        cgt = strstr(buf, "\nSigCgt:");
        if (!ign || !cgt)
                return UINT64_MAX;
        return strtoull(ign + 8, NULL, 16) | strtoull(cgt + 8, NULL, 16);
}

/* A CLOEXEC pipe whose end `ours` (0: read, 1: write) is non-blocking; the child's end stays blocking
 * (each end is its own open file description). */
static int make_pipe(int ours, int *ret_ours, int *ret_theirs) {
        int p[2], r;

        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        if (fcntl(p[ours], F_SETFL, O_NONBLOCK) < 0) {
                r = -errno;
                safe_close(p[0]);
                safe_close(p[1]);
                return r;
        }
        *ret_ours = p[ours];
        *ret_theirs = p[!ours];
        return 0;
}

/*
 * Before the clone, while the read end is still ours (so no EPIPE): as much of `input` as the empty pipe
 * takes. A non-blocking write tells what fits, so F_GETPIPE_SZ is not needed: 64 KiB by default, less once
 * the user's pipe-user-pages-soft is exhausted. When it all fits the write end is closed at once and
 * there is no IO source; otherwise on_input() writes a copy of the rest.
 */
static int input_prefill(Child *c, const char *input, size_t size) {
        ssize_t n = write(c->input_fd, input, size); /* non-blocking: never EINTR */

        if (n < 0 && errno != EAGAIN)
                return -errno;
        if (n < 0)
                n = 0;
        if ((size_t) n == size) {
                c->input_fd = safe_close(c->input_fd);
                return 0;
        }
        c->input = malloc(size - (size_t) n);
        if (!c->input)
                return -ENOMEM;
        memcpy(c->input, input + n, size - (size_t) n);
        c->input_size = size - (size_t) n;
        return 0;
}

static pid_t clone_pidfd(int *ret_pidfd) {
        struct clone_args args = {
                .flags = CLONE_PIDFD,
                .pidfd = (uint64_t) (uintptr_t) ret_pidfd,
                .exit_signal = SIGCHLD,
        };
        pid_t pid = (pid_t) syscall(SYS_clone3, &args, sizeof args);

        if (pid < 0 && errno == ENOSYS) {
                *ret_pidfd = -1;
                pid = fork();
        }
        return pid;
}

/*
 * The vfork-style child's stack, below a guard page: mapped on the first spawn and kept. We are
 * single-threaded and suspended while a child runs on it, so one serves every spawn; mapping and
 * unmapping one per spawn cost three system calls and, since the child ran on another CPU in our address
 * space, a TLB shootdown each (a tenth of the daemon's time in a burst of starts).
 */
static char *spawn_stack(void) {
        static char *stack;
        size_t page = (size_t) sysconf(_SC_PAGESIZE);
        char *p;

        if (stack)
                return stack;
        p = mmap(NULL, CHILD_STACK_SIZE, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED)
                return NULL;
        if (mprotect(p, page, PROT_NONE) < 0) { /* stacks grow down on every architecture we build for */
                int error = errno;
                (void) munmap(p, CHILD_STACK_SIZE);
                errno = error;
                return NULL;
        }
        return (stack = p);
}

/*
 * Starts child_main(args) in a new process and returns its pid (-1 and errno on failure), with *ret_pidfd
 * set, or -1 where no pidfd came with it (a kernel older than 5.2 ignores CLONE_PIDFD). Needs all signals
 * blocked. We are suspended until the vfork-style child execs or exits, so its stack is free again when
 * clone() returns.
 */
static pid_t spawn_process(ExecArgs *args, int *ret_pidfd) {
        char *stack = spawn_stack();
        pid_t pid;
        int error;

        *ret_pidfd = -1;
        if (!stack)
                return -1;
        /* glibc returns the pidfd through parent_tid. */
        pid = clone(child_main, stack + CHILD_STACK_SIZE, CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD,
                    args, ret_pidfd);
        error = errno;
#ifdef HAVE_ASAN
        /* The child's instrumented frames poisoned the shadow of this stack and an execve left them so; the
         * next child must not inherit that. */
        __asan_unpoison_memory_region(stack, CHILD_STACK_SIZE);
#endif
        if (pid >= 0 || (error != EINVAL && error != ENOSYS)) {
                errno = error;
                return pid;
        }

        pid = clone_pidfd(ret_pidfd);
        if (pid == 0)
                _exit(child_main(args));
        return pid;
}

int child_spawn(sd_event *event, const ChildSpec *spec, const ChildCallbacks *callbacks, void *userdata,
                Child **ret_child) {
        _cleanup_close_ int in_r = -1, out_w = -1, err_w = -1, res_w = -1, error_r = -1, error_w = -1;
        _cleanup_(child_freep) Child *c = NULL;
        ExecArgs args = { .spec = spec, .search = DEFAULT_PATH };
        sigset_t all, saved;
        int error, pipe_fds[2], pidfd = -1, r;
        ssize_t n;
        pid_t pid;

        if (!event || !spec || !spec->argv || !spec->argv[0] || !spec->envp || !ret_child)
                return -EINVAL;
        if (spec->uid != (uid_t) -1 && spec->gid == (gid_t) -1)
                return -EINVAL;

        c = calloc(1, sizeof *c);
        if (!c)
                return -ENOMEM;
        *c = (Child){
                .event = sd_event_ref(event),
                .callbacks = callbacks ? *callbacks : (ChildCallbacks){ 0 },
                .userdata = userdata,
                .pidfd = -1,
                .input_fd = -1,
                .kill_grace_usec = spec->kill_grace_usec,
                .stop_reason = CHILD_EXITED,
        };
        for (size_t k = 0; k < _STREAM_MAX; k++)
                c->streams[k] = (Stream){ .child = c, .kind = (StreamKind) k, .fd = -1 };

        if (spec->input_size > 0) {
                r = make_pipe(1, &c->input_fd, &in_r);
                if (r >= 0)
                        r = input_prefill(c, spec->input, spec->input_size);
        } else {
                in_r = open("/dev/null", O_RDONLY | O_CLOEXEC);
                r = in_r < 0 ? -errno : 0;
        }
        if (r < 0)
                return r;
        if (!spec->stdout_is_result && (r = make_pipe(0, &c->streams[STREAM_STDOUT].fd, &out_w)) < 0)
                return r;
        r = make_pipe(0, &c->streams[STREAM_STDERR].fd, &err_w);
        if (r < 0)
                return r;
        if (spec->want_result && (r = make_pipe(0, &c->streams[STREAM_RESULT].fd, &res_w)) < 0)
                return r;
        if (pipe2(pipe_fds, O_CLOEXEC) < 0)
                return -errno;
        error_r = pipe_fds[0];
        error_w = pipe_fds[1];

        /* Created before the child, so that nothing after the exec can fail for want of them. */
        r = sd_event_add_time(event, &c->kill_timer, CLOCK_MONOTONIC, UINT64_MAX, TIMER_ACCURACY_USEC,
                              on_kill_timer, c);
        if (r < 0)
                return r;
        r = sd_event_add_time(event, &c->drain_timer, CLOCK_MONOTONIC, UINT64_MAX, TIMER_ACCURACY_USEC,
                              on_drain, c);
        if (r < 0)
                return r;

        for (const char *const *e = spec->envp; *e; e++)
                if (strncmp(*e, "PATH=", 5) == 0) {
                        args.search = *e + 5;
                        break;
                }
        if (spec->stdout_is_result)
                memcpy(args.fds, (int[4]){ in_r, res_w, err_w, -1 }, sizeof args.fds);
        else
                memcpy(args.fds, (int[4]){ in_r, out_w, err_w, res_w }, sizeof args.fds);
        args.error_fd = error_w;

        sigfillset(&all);
        if (sigprocmask(SIG_BLOCK, &all, &saved) < 0)
                return -errno;
        /* sd-event's rule for child sources; checked before there is a child to clean up. */
        if (sigismember(&saved, SIGCHLD) != 1) {
                (void) sigprocmask(SIG_SETMASK, &saved, NULL);
                return -EBUSY;
        }
        args.reset_signals = signals_not_default();
        c->started_usec = now_realtime();
        pid = spawn_process(&args, &pidfd);
        r = pid < 0 ? -errno : 0;
        (void) sigprocmask(SIG_SETMASK, &saved, NULL);
        if (r < 0)
                return r;
        c->pid = pid;
        c->pidfd = pidfd >= 0 ? pidfd : pidfd_open(pid, 0);
        /* Without pidfd_open (before Linux 5.3, valgrind 3.19) the pid serves: the child is ours and
         * unreaped, so it cannot be recycled. Any other failure: child_free() kills and reaps. */
        if (c->pidfd < 0 && errno != ENOSYS)
                return -errno;

        /* Our copies of the child's ends must go, or the error pipe never reaches EOF. */
        in_r = safe_close(in_r);
        out_w = safe_close(out_w);
        err_w = safe_close(err_w);
        res_w = safe_close(res_w);
        error_w = safe_close(error_w);
        do
                n = read(error_r, &error, sizeof error);
        while (n < 0 && errno == EINTR);
        if (n != 0) {
                r = n < 0 ? -errno : n == sizeof error && error > 0 ? -error : -EIO;
                if (n == sizeof error) /* it is exiting by itself */
                        child_reap(c);
                if (spec->start_marker) /* it did not start after all */
                        (void) unlink(spec->start_marker);
                return r;
        }

        r = c->pidfd >= 0
                    ? sd_event_add_child_pidfd(event, &c->exit_source, c->pidfd, WEXITED, on_child_exit, c)
                    : sd_event_add_child(event, &c->exit_source, c->pid, WEXITED, on_child_exit, c);
        if (r < 0)
                return r;
        for (size_t k = 0; k < _STREAM_MAX; k++) {
                Stream *s = &c->streams[k];
                if (s->fd >= 0 && (r = sd_event_add_io(event, &s->source, s->fd, EPOLLIN, on_stream, s)) < 0)
                        return r;
        }
        if (c->input_fd >= 0 &&
            (r = sd_event_add_io(event, &c->input_source, c->input_fd, EPOLLOUT, on_input, c)) < 0)
                return r;
        if (spec->timeout_usec > 0 && (r = arm(c->kill_timer, spec->timeout_usec)) < 0)
                return r;

        *ret_child = TAKE_PTR(c);
        return 0;
}

pid_t child_pid(const Child *child) {
        return child ? child->pid : -EINVAL;
}

Child *child_free(Child *child) {
        if (!child)
                return NULL;

        child->exit_source = sd_event_source_disable_unref(child->exit_source);
        if (child->pid > 0 && !child->exited) {
                child_signal(child, SIGKILL);
                child_reap(child); /* with the exit source gone nobody else would, and no zombie may stay */
        } else if (child->pid > 0 && child->kill_signal != 0 && !child->ended)
                child_signal(child, SIGKILL); /* stragglers of a run we were stopping */

        child->kill_timer = sd_event_source_disable_unref(child->kill_timer);
        child->drain_timer = sd_event_source_disable_unref(child->drain_timer);
        input_close(child);
        for (size_t k = 0; k < _STREAM_MAX; k++) {
                stream_close(&child->streams[k], false);
                free(child->streams[k].buf);
        }
        safe_close(child->pidfd);
        sd_event_unref(child->event);
        free(child);
        return NULL;
}
