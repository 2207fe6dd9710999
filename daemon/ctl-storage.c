/* SPDX-License-Identifier: MIT */
/*
 * udfcronctl storage ls|get|put|rm|sign URL: the daemon's storage, for
 * operators. The storage plugins are loaded from the daemon's own
 * configuration and run here, on an event loop of our own, exactly as the
 * daemon runs them (no daemon needed).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include "config.h"
#include "duration.h"
#include "fileio.h"
#include "plugin-host.h"
#include "storage.h"
#include "timestamp.h"
#include "udfcronctl.h"

#define GET_MAX_DEFAULT (256 * 1024 * 1024) /* what `get` reads at most, unless --max-size says more */
#define PUT_MAX         (1024 * 1024 * 1024)
#define LIST_PAGE_SIZE  1000

typedef struct Job {
        sd_event *event;
        PluginHost *host;
        const char *url;
        FILE *out;
        int error;
} Job;

static void storage_help(FILE *f) {
        fprintf(f,
                "Usage: udfcronctl storage [OPTIONS] COMMAND URL [FILE]\n"
                "\n"
                "Work with the storage the daemon's configuration declares (storage = { ... }),\n"
                "through the same plugins the daemon uses.\n"
                "\n"
                "Commands:\n"
                "  ls URL          list the objects and directories directly under URL\n"
                "  get URL         write the object at URL to stdout (or --output FILE)\n"
                "  put URL [FILE]  store FILE (default: stdin) at URL, replacing what is there\n"
                "  rm URL          delete the object at URL\n"
                "  sign URL        print a URL that grants read access without credentials\n"
                "\n"
                "  -c, --config FILE     main configuration file (default %s)\n"
                "  -o, --output FILE     get: write to FILE instead of stdout\n"
                "      --max-size BYTES  get: refuse larger objects (default %d)\n"
                "      --expires DURATION  sign: how long the URL is valid (default 1h)\n"
                "  -h, --help            show this help\n"
                "\n"
                "Exit status: 0 ok, 1 the operation failed or the configuration is invalid, 2 usage "
                "error.\n",
                CONFIG_DEFAULT_PATH, GET_MAX_DEFAULT);
}

static void finish(Job *job, int error) {
        job->error = error;
        (void) sd_event_exit(job->event, 0);
}

static void on_done(void *userdata, int error) {
        finish(userdata, error);
}

static void on_data(void *userdata, int error, const void *data, size_t size) {
        Job *job = userdata;
        if (error >= 0 && (fwrite(data, 1, size, job->out) != size || fflush(job->out) != 0))
                error = -errno;
        finish(job, error);
}

static void on_text(void *userdata, int error, const char *text) {
        Job *job = userdata;
        if (error >= 0)
                printf("%s\n", text);
        finish(job, error);
}

static void on_list(void *userdata, int error, const struct udfcron_storage_entry *entries, size_t n,
                    const char *next_page) {
        Job *job = userdata;
        char when[TIMESTAMP_MAX];

        if (error < 0) {
                finish(job, error);
                return;
        }
        for (size_t i = 0; i < n; i++) {
                const struct udfcron_storage_entry *e = &entries[i];
                char size[24] = "-";
                if (!e->is_directory)
                        snprintf(size, sizeof size, "%" PRIu64, e->size);
                printf("%-20s  %12s  %s\n",
                       e->mtime_usec ? timestamp_format((int64_t) (e->mtime_usec / 1000000), 0, when) : "-",
                       size, e->url);
        }
        if (!next_page) {
                finish(job, 0);
                return;
        }
        int r = storage_list(job->host, NULL, job->url, next_page, LIST_PAGE_SIZE, on_list, job, NULL);
        if (r < 0)
                finish(job, r);
}

static const char *describe_error(int error) {
        switch (error) {
        case -EPROTONOSUPPORT:
                return "no storage instance of the configuration serves this URL's scheme";
        case -EOPNOTSUPP: /* only sign is optional */
                return "the storage serving this URL cannot sign URLs";
        case -EINVAL:
                return "invalid URL or argument";
        default:
                return strerror(-error);
        }
}

/* Loads the configuration and starts its plugin instances; errors are printed. */
static int load(const char *path, TzDb **ret_tzdb, Config **ret_config) {
        _cleanup_(strv_freep) char **errors = NULL;
        int r = tzdb_new(NULL, ret_tzdb);
        if (r >= 0)
                r = config_load(path, *ret_tzdb, ret_config, &errors);
        if (r == -EINVAL) {
                for (char **e = errors; e && *e; e++)
                        fprintf(stderr, "%s\n", *e);
                fprintf(stderr, "udfcronctl storage: %s: the configuration has errors\n", path);
                return r;
        }
        if (r < 0)
                fprintf(stderr, "udfcronctl storage: cannot load %s: %s\n", path, strerror(-r));
        return r;
}

static int read_input(const char *file, char **ret_data, size_t *ret_size) {
        _cleanup_close_ int fd =
                strcmp(file, "-") == 0 ? dup(STDIN_FILENO) : open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        return read_full_fd(fd, PUT_MAX, ret_data, ret_size);
}

int verb_storage(int argc, char **argv) {
        enum { ARG_MAX_SIZE = 0x100, ARG_EXPIRES };
        static const struct option options[] = {
                { "config", required_argument, NULL, 'c' },
                { "output", required_argument, NULL, 'o' },
                { "max-size", required_argument, NULL, ARG_MAX_SIZE },
                { "expires", required_argument, NULL, ARG_EXPIRES },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        const char *config_path = CONFIG_DEFAULT_PATH, *output = NULL;
        uint64_t max_size = GET_MAX_DEFAULT, expires_sec = 3600;
        int c, r;

        optind = 0;
        while ((c = getopt_long(argc, argv, "c:o:h", options, NULL)) >= 0) /* options anywhere */
                switch (c) {
                case 'c':
                        config_path = optarg;
                        break;
                case 'o':
                        output = optarg;
                        break;
                case ARG_MAX_SIZE: {
                        char *end;
                        errno = 0;
                        max_size = strtoull(optarg, &end, 10);
                        if (errno || end == optarg || *end || optarg[0] == '-') {
                                fprintf(stderr, "udfcronctl storage: --max-size takes a number of bytes\n");
                                return EXIT_USAGE;
                        }
                        break;
                }
                case ARG_EXPIRES:
                        if (duration_parse(optarg, 7 * 86400, &expires_sec) < 0 || expires_sec == 0) {
                                fprintf(stderr,
                                        "udfcronctl storage: --expires takes a duration from 1s to 7d\n");
                                return EXIT_USAGE;
                        }
                        break;
                case 'h':
                        storage_help(stdout);
                        return EXIT_OK;
                default:
                        storage_help(stderr);
                        return EXIT_USAGE;
                }

        static const char *const verbs[] = { "ls", "get", "put", "rm", "sign" };
        const char *verb = optind < argc ? argv[optind] : NULL,
                   *url = optind + 1 < argc ? argv[optind + 1] : NULL;
        size_t expected = verb && strcmp(verb, "put") == 0 ? 3 : 2, k = 0;
        while (verb && k < ELEMENTSOF(verbs) && strcmp(verb, verbs[k]) != 0)
                k++;
        if (!verb || k == ELEMENTSOF(verbs) || !url || (size_t) (argc - optind) > expected) {
                fprintf(stderr, "udfcronctl storage: %s; see 'udfcronctl storage --help'\n",
                        !verb                    ? "missing COMMAND"
                        : k == ELEMENTSOF(verbs) ? "unknown COMMAND (ls, get, put, rm or sign)"
                        : !url                   ? "missing URL"
                                                 : "too many arguments");
                return EXIT_USAGE;
        }

        _cleanup_(tzdb_freep) TzDb *tzdb = NULL;
        _cleanup_(config_freep) Config *config = NULL;
        _cleanup_(journal_freep) Journal *journal = NULL;
        _cleanup_(plugin_host_freep) PluginHost *host = NULL;
        _cleanup_free_ char *data = NULL;
        _cleanup_fclose_ FILE *out = NULL;
        sd_event *event = NULL;
        size_t size = 0;

        if (strcmp(verb, "put") == 0) {
                const char *file = optind + 2 < argc ? argv[optind + 2] : "-";
                if ((r = read_input(file, &data, &size)) < 0) {
                        fprintf(stderr, "udfcronctl storage: %s: %s\n", file, strerror(-r));
                        return EXIT_FAILED;
                }
        }
        if (load(config_path, &tzdb, &config) < 0)
                return EXIT_FAILED;
        if (output && strcmp(verb, "get") == 0 && !(out = fopen(output, "we"))) {
                fprintf(stderr, "udfcronctl storage: %s: %s\n", output, strerror(errno));
                return EXIT_FAILED;
        }

        /* the plugins' messages go to stderr, as the daemon's would in the foreground */
        r = journal_new(JOURNAL_STDERR, &journal);
        if (r >= 0)
                r = sd_event_new(&event);
        if (r >= 0)
                r = plugin_host_new(event, journal, &host);
        if (r >= 0)
                r = plugin_host_apply(host, config);
        if (r < 0) {
                fprintf(stderr, "udfcronctl storage: cannot start the storage plugins: %s\n", strerror(-r));
                host = plugin_host_free(host);
                sd_event_unref(event);
                return EXIT_FAILED;
        }

        Job job = { .event = event, .host = host, .url = url, .out = out ?: stdout };
        switch (k) {
        case 0:
                r = storage_list(host, NULL, url, NULL, LIST_PAGE_SIZE, on_list, &job, NULL);
                break;
        case 1:
                r = storage_get(host, NULL, url, max_size, on_data, &job, NULL);
                break;
        case 2:
                r = storage_put(host, NULL, url, data, size, NULL, on_done, &job, NULL);
                break;
        case 3:
                r = storage_remove(host, NULL, url, on_done, &job, NULL);
                break;
        default:
                r = storage_sign(host, NULL, url, expires_sec * 1000000, on_text, &job, NULL);
                break;
        }
        if (r >= 0)
                r = sd_event_loop(event);
        if (r >= 0)
                r = job.error;
        host = plugin_host_free(host); /* before the loop it runs on */
        sd_event_unref(event);
        if (r < 0) {
                fprintf(stderr, "udfcronctl storage: %s %s: %s\n", verb, url, describe_error(r));
                return EXIT_FAILED;
        }
        return EXIT_OK;
}
