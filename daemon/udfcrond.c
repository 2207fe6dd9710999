/* SPDX-License-Identifier: MIT */
/* udfcrond: the udfcron scheduler daemon. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "clock.h"
#include "config-check.h"
#include "config.h"
#include "control.h"
#include "journal.h"
#include "manager.h"

enum {
        EXIT_CONFIG = 1, /* the configuration is invalid, or start-up failed */
        EXIT_USAGE = 2,
};

static const char *arg_config = CONFIG_DEFAULT_PATH;
static JournalTarget arg_log_target = JOURNAL_AUTO;
static bool arg_check_config;

static void help(FILE *f) {
        fprintf(f,
                "Usage: udfcrond [OPTIONS]\n"
                "\n"
                "The udfcron scheduler: fires the schedules of the configuration at their cron\n"
                "times and records every run in the journal. Runs in the foreground; meant to be\n"
                "started by systemd (Type=notify).\n"
                "\n"
                "  -c, --config FILE        main configuration file (default %s)\n"
                "  -t, --check-config       validate the configuration and exit (0 valid, 1 not)\n"
                "      --log-target TARGET  auto (default), journal or stderr\n"
                "  -h, --help               show this help\n"
                "      --version            show the version\n"
                "\n"
                "Signals: SIGHUP reloads the configuration (a broken one is refused and the\n"
                "running one stays), SIGTERM stops after the running runs end (shutdown_timeout).\n"
                "Exit status: 0 stopped cleanly or configuration valid, 1 invalid configuration or\n"
                "start-up failure, 2 usage error.\n",
                CONFIG_DEFAULT_PATH);
}

static int parse_argv(int argc, char **argv) {
        enum { ARG_VERSION = 0x100, ARG_LOG_TARGET };
        static const struct option options[] = {
                { "config", required_argument, NULL, 'c' },
                { "check-config", no_argument, NULL, 't' },
                { "log-target", required_argument, NULL, ARG_LOG_TARGET },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                {},
        };
        int c;

        while ((c = getopt_long(argc, argv, "c:th", options, NULL)) >= 0)
                switch (c) {
                case 'c':
                        arg_config = optarg;
                        break;
                case 't':
                        arg_check_config = true;
                        break;
                case ARG_LOG_TARGET:
                        if (strcmp(optarg, "auto") == 0)
                                arg_log_target = JOURNAL_AUTO;
                        else if (strcmp(optarg, "journal") == 0)
                                arg_log_target = JOURNAL_JOURNALD;
                        else if (strcmp(optarg, "stderr") == 0)
                                arg_log_target = JOURNAL_STDERR;
                        else {
                                fprintf(stderr, "udfcrond: --log-target must be auto, journal or stderr\n");
                                return -EINVAL;
                        }
                        break;
                case 'h':
                        help(stdout);
                        return 0;
                case ARG_VERSION:
                        printf("udfcrond %s\n", UDFCRON_VERSION);
                        return 0;
                default:
                        help(stderr);
                        return -EINVAL;
                }
        if (optind < argc) {
                fprintf(stderr, "udfcrond: unexpected argument '%s'\n", argv[optind]);
                return -EINVAL;
        }
        return 1;
}

static int on_reload_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        (void) s, (void) si;
        (void) manager_reload(userdata, NULL);
        return 0;
}

/* Tests only ($UDFCRON_TEST_CLOCK_FILE): a new clock offset, as if someone set the clock. */
static int on_test_clock_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        (void) s, (void) si;
        if (clock_reload_test_file() >= 0)
                manager_clock_changed(userdata);
        return 0;
}

static int on_stop_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        (void) s, (void) si;
        manager_stop(userdata);
        return 0;
}

static int run(int argc, char **argv) {
        _cleanup_(journal_freep) Journal *journal = NULL;
        _cleanup_(manager_freep) Manager *manager = NULL;
        _cleanup_(control_freep) Control *control = NULL; /* freed before the manager: it watches runs */
        sd_event *event = NULL;
        int r;

        r = parse_argv(argc, argv);
        if (r <= 0)
                return r < 0 ? EXIT_USAGE : EXIT_SUCCESS;
        if (clock_init_from_environment() < 0) {
                fprintf(stderr, "udfcrond: the test clock offset ($UDFCRON_TEST_CLOCK_OFFSET or the file "
                                "$UDFCRON_TEST_CLOCK_FILE) must be a number of seconds\n");
                return EXIT_USAGE;
        }
        if (arg_check_config)
                return config_check("udfcrond", arg_config, stdout, stderr) < 0 ? EXIT_CONFIG : EXIT_SUCCESS;

        /*
         * Every run holds a few descriptors; the soft limit (1024 under systemd) would cap a burst
         * at a couple of hundred runs, while the hard limit is there to be used.
         */
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl) >= 0 && rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max;
                (void) setrlimit(RLIMIT_NOFILE, &rl);
        }

        r = journal_new(arg_log_target, &journal);
        if (r < 0) {
                fprintf(stderr, "udfcrond: cannot set up logging: %s\n", strerror(-r));
                return EXIT_CONFIG;
        }

        /* sd-event takes signals (and child exits) through signalfd/pidfd: block them first */
        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigaddset(&mask, SIGCHLD);
        sigaddset(&mask, SIGUSR2);
        (void) sigprocmask(SIG_BLOCK, &mask, NULL);
        (void) signal(SIGPIPE, SIG_IGN);

        r = sd_event_default(&event);
        if (r >= 0)
                r = manager_new(event, journal, arg_config, &manager);
        if (r >= 0)
                r = sd_event_add_signal(event, NULL, SIGTERM, on_stop_signal, manager);
        if (r >= 0)
                r = sd_event_add_signal(event, NULL, SIGINT, on_stop_signal, manager);
        if (r >= 0)
                r = sd_event_add_signal(event, NULL, SIGHUP, on_reload_signal, manager);
        if (r >= 0 && clock_has_test_file())
                r = sd_event_add_signal(event, NULL, SIGUSR2, on_test_clock_signal, manager);
        if (r >= 0)
                r = sd_event_set_watchdog(event, true);
        if (r < 0) {
                journal_log(journal, LOG_ERR, "cannot set up the event loop: %s", strerror(-r));
                sd_event_unref(event);
                return EXIT_CONFIG;
        }

        r = manager_start(manager);
        if (r >= 0)
                r = control_new(manager, &control);
        if (r < 0) {
                (void) sd_notifyf(false, "STATUS=failed to start: %s\nERRNO=%d", strerror(-r), -r);
                manager = manager_free(manager);
                sd_event_unref(event);
                return EXIT_CONFIG;
        }
        (void) sd_notify(false, "READY=1");

        r = sd_event_loop(event);
        control = control_free(control);
        manager = manager_free(manager);
        sd_event_unref(event);
        if (r < 0) {
                journal_log(journal, LOG_ERR, "event loop failed: %s", strerror(-r));
                return EXIT_CONFIG;
        }
        return r;
}

int main(int argc, char **argv) {
        return run(argc, argv);
}
