# udfcron: one non-recursive GNU Makefile.
#
#   make            build everything into build/
#   make run        install missing dependencies, build, run udfcrond on the examples in etc/
#   make check      install missing dependencies, build, run unit (ASan+UBSan) and integration tests
#   make bench      benchmarks (tests/bench/), optimised build, figures as tables
#   make emulator   the Fused/Fusion emulator (tests/emulator/) in the foreground on 127.0.0.1:8787
#   make run-fused  udfcrond on etc/fused-emulator/ (the fused engine), against `make emulator`
#   make run-fusion udfcrond on etc/fusion-emulator/ (the fusion engine), against `make emulator`
#   make fuzz       libFuzzer targets (tests/fuzz/), FUZZ_SECONDS each (default 60)
#   make install    PREFIX=/usr/local DESTDIR= (make uninstall reverses it)
#   make deps       install missing Debian packages (as root), or print the apt-get command
#
# The core modules form a static library that the tools, tests, fuzzers and
# benchmarks all link, in three flavours: plain (build/), sanitized
# (build/asan/, for unit tests) and libFuzzer (build/fuzz/, clang).

CC        ?= gcc
FUZZ_CC   ?= clang
PYTHON    ?= /usr/bin/python3
PREFIX    ?= /usr/local
BINDIR    ?= $(PREFIX)/bin
SBINDIR   ?= $(PREFIX)/sbin
# udfcrond reads /etc/udfcron/udfcrond.conf unless told otherwise (--config)
SYSCONFDIR ?= /etc
DATADIR   ?= $(PREFIX)/share
LIBDIR    ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PLUGINDIR ?= $(LIBDIR)/udfcron/plugins
PKGCONFIGDIR ?= $(DATADIR)/pkgconfig
MANDIR    ?= $(DATADIR)/man
DOCDIR    ?= $(DATADIR)/doc/udfcron
BASHCOMPLETIONDIR ?= $(DATADIR)/bash-completion/completions
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
DESTDIR   ?=
B         ?= build
FUZZ_SECONDS ?= 60
EMULATOR_PORT ?= 8787
EMULATOR_STORAGE_PORT ?= 8788
EMULATOR_ARGS ?=
VERSION   := 0.1.0

WARNINGS  := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
             -Wformat=2 -Wundef -Wpointer-arith -Wvla -Wimplicit-fallthrough
CPPFLAGS  += -D_GNU_SOURCE -DUDFCRON_VERSION='"$(VERSION)"' -DUDFCRON_PLUGIN_DIR='"$(PLUGINDIR)"' \
             -Idaemon -Iinclude -I$(B)/gen -MMD -MP
CFLAGS    ?= -O2 -g
CFLAGS    += -std=gnu11 $(WARNINGS) -fno-strict-aliasing
SANITIZE  := -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer

LIBS      := -lsystemd -lconfig -lcjson -lcurl

# Debian packages the build, the tests and `make run` need.
# libcurl: the OpenSSL flavour, Debian's default, the one the curl command uses (same CA store, same
# behaviour when an operator reproduces a request by hand), with the threaded resolver that keeps name
# lookups off the event loop. libssl-dev: libcrypto, which gcs-credentials signs its JWTs with (RS256).
DEPS_PACKAGES := gcc make pkg-config tzdata libsystemd-dev libconfig-dev libcjson-dev libcmocka-dev \
                 libcurl4-openssl-dev libssl-dev ca-certificates openssl \
                 python3 python3-pytest python3-croniter strace systemd scdoc groff-base man-db bash-completion \
                 curl
FUZZ_PACKAGES := clang libclang-rt-dev

# ---------------------------------------------------------------- sources
CORE_SRCS := daemon/calendar.c daemon/duration.c daemon/timestamp.c daemon/fileio.c daemon/strv.c daemon/tz.c daemon/cron.c \
             daemon/clock.c daemon/prioq.c daemon/params.c daemon/secrets.c daemon/schedule.c \
             daemon/config.c daemon/state.c daemon/journal.c daemon/child.c daemon/engine.c daemon/engine-local.c \
             daemon/engine-fused.c daemon/fused-api.c daemon/engine-fusion.c daemon/fusion-api.c \
             daemon/arglist.c daemon/fanout.c daemon/run.c daemon/manager.c \
             daemon/config-check.c daemon/utf8.c daemon/terminal.c daemon/journal-read.c daemon/history.c \
             daemon/http-retry.c daemon/http-error.c daemon/http.c daemon/url.c daemon/plugin.c daemon/plugin-host.c \
             daemon/storage.c daemon/credentials.c \
             daemon/error-message.c daemon/json-writer.c daemon/unix-socket.c daemon/control-proto.c daemon/control.c \
             daemon/control-commands.c daemon/suggest.c daemon/fused-steps.c daemon/ingest.c daemon/pipeline.c
CTL_SRCS  := daemon/udfcronctl.c daemon/ctl-next.c daemon/ctl-check.c daemon/ctl-journal.c \
             daemon/ctl-history.c daemon/ctl-logs.c daemon/ctl-storage.c \
             daemon/ctl-client.c daemon/ctl-list.c daemon/ctl-status.c daemon/ctl-run.c daemon/ctl-actions.c
DAEMON_SRCS := daemon/udfcrond.c
TEST_SUPPORT_SRCS := $(wildcard tests/support/*.c)
UNIT_SRCS  := $(wildcard tests/unit/test-*.c)
FUZZ_SRCS  := $(wildcard tests/fuzz/fuzz-*.c)
BENCH_SRCS := $(wildcard tests/bench/bench-*.c)

obj = $(patsubst %.c,$(1)/%.o,$(2))

CORE_OBJS      := $(call obj,$(B)/obj,$(CORE_SRCS))
CORE_ASAN_OBJS := $(call obj,$(B)/asan,$(CORE_SRCS))
CORE_FUZZ_OBJS := $(call obj,$(B)/fuzz,$(CORE_SRCS))
LIBCORE        := $(B)/libudfcron-core.a
LIBCORE_ASAN   := $(B)/asan/libudfcron-core.a
LIBCORE_FUZZ   := $(B)/fuzz/libudfcron-core.a

UDFCRONCTL  := $(B)/udfcronctl
UDFCROND    := $(B)/udfcrond
RUNNER_H    := $(B)/gen/udf-runner.h
UNIT_TESTS  := $(patsubst tests/unit/%.c,$(B)/asan/tests/%,$(UNIT_SRCS))
FUZZERS     := $(patsubst tests/fuzz/%.c,$(B)/fuzz/%,$(FUZZ_SRCS))
# The same fuzz targets, driven over their committed corpora by a plain main():
# `make check` replays every seed under ASan+UBSan without needing clang.
FUZZ_REPLAYS := $(patsubst tests/fuzz/%.c,$(B)/asan/replay/%,$(FUZZ_SRCS))
BENCHES     := $(patsubst tests/bench/%.c,$(B)/bench/%,$(BENCH_SRCS))
# Writes journal records on request, for the journald integration tests.
JOURNAL_DRIVER := $(B)/tests/journal-driver
MAN_PAGES   := $(patsubst daemon/man/%.scd,$(B)/man/%,$(wildcard daemon/man/*.scd))
UNIT        := $(B)/systemd/udfcrond.service

# Plugins: plugins/<kind>-<name>/*.c -> <kind>-<name>.so, built against include/udfcron/plugin.h only
# (no -Idaemon), exporting only their descriptor. plugins/example is the sample for plugin authors;
# it is built and tested, not installed. The sanitized copies are what the unit tests load.
# The folder gcs-credentials/ (the design's name) builds credentials-gcs.so. Code that several plugins
# compile in lives in plugins/shared/ (PLUGIN_SRCS_<file>).
plugin_folder   = $(if $(filter credentials-gcs,$(1)),gcs-credentials,$(1))
PLUGIN_NAMES   := $(sort $(patsubst gcs-credentials,credentials-gcs,$(notdir $(patsubst %/,%,$(wildcard plugins/*-*/)))))
PLUGINS        := $(patsubst %,$(B)/plugins/%.so,$(PLUGIN_NAMES))
EXAMPLE_PLUGIN := $(B)/plugins/secrets-example.so
PLUGINS_ASAN   := $(patsubst %,$(B)/asan/plugins/%.so,$(PLUGIN_NAMES) secrets-example)
PLUGIN_CFLAGS  := -D_GNU_SOURCE -Iinclude -fPIC -fvisibility=hidden
PLUGIN_LDFLAGS := -shared -Wl,--version-script=plugins/plugin.map
PLUGIN_PC      := $(B)/udfcron-plugin.pc
# Libraries a plugin links beyond libc, and the shared code it compiles in.
PLUGIN_LIBS_credentials-gcs := -lcjson -lcrypto
PLUGIN_LIBS_storage-fused   := -lcjson
PLUGIN_LIBS_secrets-fused   := -lcjson
FUSED_API_SRCS              := $(wildcard plugins/shared/fused-*.c plugins/shared/fused-*.h)
PLUGIN_SRCS_storage-fused   := $(FUSED_API_SRCS)
PLUGIN_SRCS_secrets-fused   := $(FUSED_API_SRCS)
PLUGIN_LIBS_storage-s3       := -lcrypto
PLUGIN_LIBS_ingest-rows      := -lcjson
# Plugins that break the rules on purpose, for the loader's unit tests (tests/unit/plugins/variants.c).
TEST_PLUGIN_VARIANTS := good major minor small kind name nosym options default slow
# storage-fetch (tests/unit/plugins/fetch.c) drives the host's HTTP service.
TEST_PLUGINS := $(patsubst %,$(B)/asan/test-plugins/%.so,$(TEST_PLUGIN_VARIANTS)) $(B)/asan/test-plugins/fetch.so

.PHONY: all deps deps-fuzz deps-node deps-node-debian check unit fuzz-replay integration run run-fused run-fusion \
	emulator bench fuzz man install uninstall clean

all: $(UDFCRONCTL) $(UDFCROND) $(PLUGINS) $(EXAMPLE_PLUGIN) $(PLUGIN_PC)

# ---------------------------------------------------------------- build rules
$(B)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(B)/asan/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -std=gnu11 $(WARNINGS) $(SANITIZE) -c $< -o $@

$(B)/fuzz/%.o: %.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(CPPFLAGS) -std=gnu11 $(WARNINGS) -g -O1 -fsanitize=fuzzer-no-link,address,undefined -c $< -o $@

# The Python UDF runner is embedded in the daemon as a C string.
$(RUNNER_H): daemon/udf-runner.py
	@mkdir -p $(@D)
	{ echo "static const char udf_runner_source[] = {"; od -An -v -tx1 $< | sed 's/ *\([0-9a-f][0-9a-f]\)/0x\1,/g'; \
	  echo "0x00 };"; } > $@.tmp && mv $@.tmp $@
$(B)/obj/daemon/engine-local.o $(B)/asan/daemon/engine-local.o $(B)/fuzz/daemon/engine-local.o: $(RUNNER_H)

$(LIBCORE): $(CORE_OBJS)
	$(AR) rcs $@ $^
$(LIBCORE_ASAN): $(CORE_ASAN_OBJS)
	$(AR) rcs $@ $^
$(LIBCORE_FUZZ): $(CORE_FUZZ_OBJS)
	$(AR) rcs $@ $^

$(UDFCRONCTL): $(call obj,$(B)/obj,$(CTL_SRCS)) $(LIBCORE)
	$(CC) $(CFLAGS) $(LDFLAGS) $^ $(LIBS) -o $@

$(UDFCROND): $(call obj,$(B)/obj,$(DAEMON_SRCS)) $(LIBCORE)
	$(CC) $(CFLAGS) $(LDFLAGS) $^ $(LIBS) -o $@

$(B)/asan/tests/%: $(B)/asan/tests/unit/%.o $(call obj,$(B)/asan,$(TEST_SUPPORT_SRCS)) $(LIBCORE_ASAN)
	@mkdir -p $(@D)
	$(CC) $(SANITIZE) $^ $(LIBS) -lcmocka -o $@

$(B)/asan/replay/%: $(B)/asan/tests/fuzz/%.o $(B)/asan/tests/fuzz/replay-main.o $(LIBCORE_ASAN)
	@mkdir -p $(@D)
	$(CC) $(SANITIZE) $^ $(LIBS) -o $@

$(JOURNAL_DRIVER): $(B)/asan/tests/integration/journal-driver.o $(LIBCORE_ASAN)
	@mkdir -p $(@D)
	$(CC) $(SANITIZE) $^ $(LIBS) -o $@

# Tests and fuzzers that reach into a plugin's own code link its object files (and its libraries).
INGEST_ROWS_PURE := $(patsubst %,plugins/ingest-rows/%.c,rows csv geojson partition buf)
$(B)/asan/tests/test-ingest-rows: $(call obj,$(B)/asan,$(INGEST_ROWS_PURE))
$(B)/fuzz/fuzz-csv $(B)/fuzz/fuzz-geojson: $(call obj,$(B)/fuzz,$(INGEST_ROWS_PURE))
$(B)/asan/replay/fuzz-csv $(B)/asan/replay/fuzz-geojson: $(call obj,$(B)/asan,$(INGEST_ROWS_PURE))
$(B)/bench/bench-ingest: $(call obj,$(B)/obj,$(INGEST_ROWS_PURE)) | $(PLUGINS)
$(B)/fuzz/fuzz-file-url: $(B)/fuzz/plugins/storage-file/file-url.o
$(B)/asan/replay/fuzz-file-url: $(B)/asan/plugins/storage-file/file-url.o
$(B)/asan/tests/test-google-auth: $(B)/asan/plugins/gcs-credentials/google-auth.o
$(B)/asan/tests/test-google-auth: LIBS += -lcrypto
$(B)/asan/tests/test-credentials-gcs: LIBS += -lcrypto
$(B)/fuzz/fuzz-google-auth: $(B)/fuzz/plugins/gcs-credentials/google-auth.o
$(B)/asan/replay/fuzz-google-auth: $(B)/asan/plugins/gcs-credentials/google-auth.o
$(B)/fuzz/fuzz-google-auth $(B)/asan/replay/fuzz-google-auth: LIBS += -lcrypto
$(B)/asan/tests/test-fused-reply: $(B)/asan/plugins/shared/fused-reply.o $(B)/asan/plugins/shared/fused-api.o
$(B)/fuzz/fuzz-fused-reply: $(B)/fuzz/plugins/shared/fused-reply.o
$(B)/asan/replay/fuzz-fused-reply: $(B)/asan/plugins/shared/fused-reply.o
$(B)/fuzz/fuzz-s3-xml: $(B)/fuzz/plugins/storage-s3/s3-xml.o
$(B)/asan/replay/fuzz-s3-xml: $(B)/asan/plugins/storage-s3/s3-xml.o
S3_PLUGIN_ASAN_OBJS := $(call obj,$(B)/asan,plugins/storage-s3/s3-url.c plugins/storage-s3/s3-xml.c plugins/storage-s3/sigv4.c)
$(B)/asan/tests/test-storage-s3: $(S3_PLUGIN_ASAN_OBJS)
$(B)/asan/tests/test-storage-s3: LIBS += -lcrypto
$(B)/bench/bench-s3: LIBS += -lcrypto

$(B)/fuzz/%: $(B)/fuzz/tests/fuzz/%.o $(LIBCORE_FUZZ)
	$(FUZZ_CC) -fsanitize=fuzzer,address,undefined $^ $(LIBS) -o $@

$(B)/bench/%: $(B)/obj/tests/bench/%.o $(call obj,$(B)/obj,$(TEST_SUPPORT_SRCS)) $(LIBCORE)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $^ $(LIBS) -lm -o $@

# The loader refuses plugins in directories or files that others may write: keep the build's private.
.SECONDEXPANSION:
$(B)/plugins/%.so: $$(wildcard plugins/$$(call plugin_folder,$$*)/*.[ch]) $$(PLUGIN_SRCS_$$*) include/udfcron/plugin.h \
		plugins/plugin.map
	@mkdir -p $(@D) && chmod go-w $(@D)
	$(CC) $(PLUGIN_CFLAGS) $(CFLAGS) $(PLUGIN_LDFLAGS) -Wl,-z,defs $(filter %.c,$^) $(PLUGIN_LIBS_$*) -o $@
	@chmod go-w $@

$(B)/asan/plugins/%.so: $$(wildcard plugins/$$(call plugin_folder,$$*)/*.[ch]) $$(PLUGIN_SRCS_$$*) \
		include/udfcron/plugin.h plugins/plugin.map
	@mkdir -p $(@D) && chmod go-w $(@D)
	$(CC) $(PLUGIN_CFLAGS) -std=gnu11 $(WARNINGS) $(SANITIZE) $(PLUGIN_LDFLAGS) $(filter %.c,$^) \
		$(PLUGIN_LIBS_$*) -o $@
	@chmod go-w $@

$(EXAMPLE_PLUGIN) $(B)/asan/plugins/secrets-example.so: plugins/example/example.c include/udfcron/plugin.h
$(EXAMPLE_PLUGIN):
	@mkdir -p $(@D) && chmod go-w $(@D)
	$(CC) $(PLUGIN_CFLAGS) $(CFLAGS) $(PLUGIN_LDFLAGS) -Wl,-z,defs plugins/example/example.c -o $@
	@chmod go-w $@
$(B)/asan/plugins/secrets-example.so:
	@mkdir -p $(@D) && chmod go-w $(@D)
	$(CC) $(PLUGIN_CFLAGS) -std=gnu11 $(WARNINGS) $(SANITIZE) $(PLUGIN_LDFLAGS) plugins/example/example.c -o $@
	@chmod go-w $@

$(B)/asan/test-plugins/%.so: tests/unit/plugins/variants.c tests/unit/plugins/variants.h include/udfcron/plugin.h
	@mkdir -p $(@D) && chmod go-w $(@D)
	$(CC) $(PLUGIN_CFLAGS) -std=gnu11 $(WARNINGS) $(SANITIZE) -DVARIANT_$(shell echo $* | tr a-z A-Z) \
		-shared $< -o $@
	@chmod go-w $@

$(B)/asan/test-plugins/fetch.so: tests/unit/plugins/fetch.c tests/unit/plugins/fetch.h include/udfcron/plugin.h
	@mkdir -p $(@D) && chmod go-w $(@D)
	$(CC) $(PLUGIN_CFLAGS) -std=gnu11 $(WARNINGS) $(SANITIZE) $(PLUGIN_LDFLAGS) $< -o $@
	@chmod go-w $@

$(PLUGIN_PC): plugins/udfcron-plugin.pc.in Makefile
	@mkdir -p $(@D)
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' $< > $@

# Unit tests load the plugins (sanitized) from the build directory.
$(B)/asan/tests/%.o: CPPFLAGS += -DUDFCRON_BUILD_DIR='"$(abspath $(B))"' -DUDFCRON_SOURCE_DIR='"$(abspath .)"'
$(UNIT_TESTS): | $(PLUGINS_ASAN) $(TEST_PLUGINS)

# The S3 server of storage-s3's integration tests and benchmark (tests/support/s3-server): an npm package,
# installed into the build at the versions its package-lock.json pins, and the script that starts it.
S3_SERVER_DIR := $(B)/node
S3_SERVER     := $(S3_SERVER_DIR)/s3-server.js
S3_SERVER_PKG := $(S3_SERVER_DIR)/node_modules/@20minutes/s3rver/package.json

$(S3_SERVER_PKG): tests/support/s3-server/package.json tests/support/s3-server/package-lock.json
	@command -v npm >/dev/null || { echo "npm is missing: make deps-node"; exit 1; }
	@mkdir -p $(S3_SERVER_DIR)
	cp tests/support/s3-server/package.json tests/support/s3-server/package-lock.json $(S3_SERVER_DIR)/
	cd $(S3_SERVER_DIR) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(S3_SERVER): tests/support/s3-server/s3-server.js $(S3_SERVER_PKG)
	cp $< $@

# ---------------------------------------------------------------- dependencies
# Installs only what is missing; never touches apt when everything is there.
define install_packages
	@missing=""; for p in $(1); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" -eq 0 ]; then \
		echo "Installing missing packages:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	else \
		echo "Missing packages:$$missing"; \
		echo "Run: sudo apt-get install -y$$missing"; exit 1; \
	fi
endef

deps:
	$(call install_packages,$(DEPS_PACKAGES))

deps-fuzz:
	$(call install_packages,$(FUZZ_PACKAGES))

# Node.js and npm, for the S3 test server: the machine's own when it has them (a Node.js build that
# bundles npm, which Debian's npm package would conflict with), else Debian's.
deps-node:
	@command -v npm >/dev/null 2>&1 || $(MAKE) --no-print-directory deps-node-debian
deps-node-debian:
	$(call install_packages,nodejs npm)

# ---------------------------------------------------------------- tests
check: deps deps-node
	@$(MAKE) --no-print-directory all $(UNIT_TESTS) $(FUZZ_REPLAYS) $(JOURNAL_DRIVER) $(PLUGINS_ASAN) $(TEST_PLUGINS) \
		$(S3_SERVER)
	@$(MAKE) --no-print-directory unit fuzz-replay integration

export ASAN_OPTIONS  := detect_leaks=1:abort_on_error=0:strict_string_checks=1
export UBSAN_OPTIONS := print_stacktrace=1:halt_on_error=1

unit: $(UNIT_TESTS)
	@set -e; for t in $(UNIT_TESTS); do echo "== $$t"; $$t; done

fuzz-replay: $(FUZZ_REPLAYS)
	@set -e; for r in $(FUZZ_REPLAYS); do n=$$(basename $$r); \
		echo "== $$r tests/fuzz/corpus/$$n"; $$r tests/fuzz/corpus/$$n; done

integration: all $(JOURNAL_DRIVER) $(S3_SERVER)
	cd tests/integration && UDFCRON_BUILD=$(abspath $(B)) $(PYTHON) -m pytest -q -p no:cacheprovider .

# ---------------------------------------------------------------- run, bench, fuzz
# The daemon in the foreground on the examples; its state goes to build/run/. Ctrl-C stops it.
run: deps
	@$(MAKE) --no-print-directory all
	$(UDFCROND) --config etc/udfcrond.conf --log-target stderr

# The daemon on the fused engine's examples (etc/fused-emulator/), against `make emulator` running
# elsewhere; the token comes from etc/fused-emulator/credentials/ as a systemd credential would.
run-fused: deps
	@$(MAKE) --no-print-directory all
	CREDENTIALS_DIRECTORY=$(abspath etc/fused-emulator/credentials) \
		$(UDFCROND) --config etc/fused-emulator/udfcrond.conf --log-target stderr

# The same for the fusion engine's examples (etc/fusion-emulator/); the password is a credential too.
run-fusion: deps
	@$(MAKE) --no-print-directory all
	CREDENTIALS_DIRECTORY=$(abspath etc/fusion-emulator/credentials) \
		$(UDFCROND) --config etc/fusion-emulator/udfcrond.conf --log-target stderr

# The Fused/Fusion emulator in the foreground, on fixed loopback ports, with the demo UDF, shared token
# and Spark job config of tests/emulator/demo.json; it prints its URLs and credentials, then every
# request. Ctrl-C stops it. EMULATOR_ARGS=--exec-udfs runs posted UDF code.
emulator:
	$(PYTHON) tests/emulator --port $(EMULATOR_PORT) --storage-port $(EMULATOR_STORAGE_PORT) \
		--config tests/emulator/demo.json --log $(EMULATOR_ARGS)

bench: deps deps-node $(BENCHES) $(UDFCROND) $(PLUGINS) $(S3_SERVER)
	@set -e; for b in $(BENCHES); do $$b; done
	$(PYTHON) tests/bench/bench-emulator.py
	UDFCROND=$(abspath $(UDFCROND)) $(PYTHON) tests/bench/bench-fused.py
	UDFCROND=$(abspath $(UDFCROND)) $(PYTHON) tests/bench/bench-fusion.py

fuzz: deps-fuzz $(FUZZERS)
	@set -e; for f in $(FUZZERS); do n=$$(basename $$f); mkdir -p $(B)/fuzz/corpus/$$n; \
		echo "== $$n for $(FUZZ_SECONDS)s"; \
		$$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
			$(B)/fuzz/corpus/$$n tests/fuzz/corpus/$$n; done

# ---------------------------------------------------------------- install
man: $(MAN_PAGES)

$(B)/man/%: daemon/man/%.scd
	@mkdir -p $(@D)
	@command -v scdoc >/dev/null || { echo "scdoc is missing: make deps (or apt-get install scdoc)"; exit 1; }
	scdoc < $< > $@.tmp && mv $@.tmp $@

# The unit names the installed daemon.
$(UNIT): systemd/udfcrond.service
	@mkdir -p $(@D)
	sed -e 's|=/usr/sbin/udfcrond|=$(SBINDIR)/udfcrond|' $< > $@.tmp && mv $@.tmp $@
.PHONY: $(UNIT) # SBINDIR may differ from the last build's

INSTALLED_CONF := $(DESTDIR)$(SYSCONFDIR)/udfcron/udfcrond.conf

# Configuration is never overwritten: an existing udfcrond.conf stays, whatever it holds.
install: all man $(UNIT)
	install -Dm755 $(UDFCRONCTL) $(DESTDIR)$(BINDIR)/udfcronctl
	install -Dm755 $(UDFCROND) $(DESTDIR)$(SBINDIR)/udfcrond
	install -Dm644 $(UNIT) $(DESTDIR)$(SYSTEMDUNITDIR)/udfcrond.service
	install -Dm644 systemd/udfcron.sysusers $(DESTDIR)$(SYSUSERSDIR)/udfcron.conf
	install -Dm644 systemd/udfcron.tmpfiles $(DESTDIR)$(TMPFILESDIR)/udfcron.conf
	for m in $(MAN_PAGES); do n=$$(basename $$m); \
		install -Dm644 $$m $(DESTDIR)$(MANDIR)/man$${n##*.}/$$n; done
	install -Dm644 daemon/udfcronctl.bash $(DESTDIR)$(BASHCOMPLETIONDIR)/udfcronctl
	install -Dm644 README.md $(DESTDIR)$(DOCDIR)/README.md
	install -Dm644 etc/schedules.d/examples.conf $(DESTDIR)$(DOCDIR)/examples/schedules.d/examples.conf
	install -Dm644 etc/udfs/hello.py $(DESTDIR)$(DOCDIR)/examples/udfs/hello.py
	install -Dm644 etc/udfs/points.py $(DESTDIR)$(DOCDIR)/examples/udfs/points.py
	install -dm755 $(DESTDIR)$(SYSCONFDIR)/udfcron/schedules.d
	@if [ -e $(INSTALLED_CONF) ]; then echo "kept the existing $(INSTALLED_CONF)"; \
	else echo "install -m644 etc/system/udfcrond.conf $(INSTALLED_CONF)"; \
		install -m644 etc/system/udfcrond.conf $(INSTALLED_CONF); fi
	install -d -m755 $(DESTDIR)$(PLUGINDIR)
	install -m644 $(PLUGINS) $(DESTDIR)$(PLUGINDIR)/
	install -Dm644 include/udfcron/plugin.h $(DESTDIR)$(INCLUDEDIR)/udfcron/plugin.h
	install -Dm644 plugins/plugin.map $(DESTDIR)$(DATADIR)/udfcron/plugin.map
	install -Dm644 $(PLUGIN_PC) $(DESTDIR)$(PKGCONFIGDIR)/udfcron-plugin.pc

# Removes what install put in place, but no configuration that was changed or added, and
# never the state (/var/lib/udfcron) or the journal.
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/udfcronctl $(DESTDIR)$(SBINDIR)/udfcrond
	rm -f $(addprefix $(DESTDIR)$(PLUGINDIR)/,$(notdir $(PLUGINS)))
	rm -f $(DESTDIR)$(INCLUDEDIR)/udfcron/plugin.h $(DESTDIR)$(DATADIR)/udfcron/plugin.map \
		$(DESTDIR)$(PKGCONFIGDIR)/udfcron-plugin.pc
	-rmdir $(DESTDIR)$(PLUGINDIR) $(DESTDIR)$(LIBDIR)/udfcron $(DESTDIR)$(INCLUDEDIR)/udfcron \
		$(DESTDIR)$(DATADIR)/udfcron 2>/dev/null
	rm -f $(DESTDIR)$(SYSTEMDUNITDIR)/udfcrond.service $(DESTDIR)$(SYSUSERSDIR)/udfcron.conf \
		$(DESTDIR)$(TMPFILESDIR)/udfcron.conf $(DESTDIR)$(BASHCOMPLETIONDIR)/udfcronctl
	for s in $(notdir $(MAN_PAGES)); do rm -f $(DESTDIR)$(MANDIR)/man$${s##*.}/$$s; done
	rm -f $(DESTDIR)$(DOCDIR)/README.md $(DESTDIR)$(DOCDIR)/examples/schedules.d/examples.conf \
		$(DESTDIR)$(DOCDIR)/examples/udfs/hello.py $(DESTDIR)$(DOCDIR)/examples/udfs/points.py
	-rmdir $(DESTDIR)$(DOCDIR)/examples/schedules.d $(DESTDIR)$(DOCDIR)/examples/udfs \
		$(DESTDIR)$(DOCDIR)/examples $(DESTDIR)$(DOCDIR) 2>/dev/null
	@if cmp -s etc/system/udfcrond.conf $(INSTALLED_CONF); then echo "rm -f $(INSTALLED_CONF)"; \
		rm -f $(INSTALLED_CONF); \
	elif [ -e $(INSTALLED_CONF) ]; then echo "kept $(INSTALLED_CONF): it was changed"; fi
	-rmdir $(DESTDIR)$(SYSCONFDIR)/udfcron/schedules.d $(DESTDIR)$(SYSCONFDIR)/udfcron 2>/dev/null

clean:
	rm -rf $(B)

-include $(shell find $(B) -name '*.d' 2>/dev/null)
