#!/usr/bin/python3
"""
The fused engine under load: N batch jobs in flight at once (default 10,000), each polled every 5 s
(its status, and its log: at every poll while it brings lines, less and less often while it brings
none, up to quiet_log_interval, 30 s), against K emulator processes (tests/emulator/, default 2), the
schedules spread over them with per-schedule base_url.

Every schedule fires once, at the same second, so the N starts come as one burst; the jobs then run
for an hour and log nothing after their first two lines, so what is measured is polling. After the
ramp (every job started and polled once), two windows of WINDOW seconds each, one after the other,
measure (the first while the jobs' log reads still thin out, the second once they have settled):

  daemon CPU    (utime + stime of udfcrond over the window) / window, in % of one core
  daemon RSS    VmRSS at the end of the window, and VmHWM (its peak, ramp included)
  polls         status reads seen by the emulators per job in the window, against window / 5 s
  late polls    consecutive status reads of one job further apart than 5 s + 1 s: a poll that fell
                behind (the emulators' clock, so a slow answer does not count, a late request does)

Goals: under 20% of a core, under 200 MiB, no late poll. Missed goals are printed, not fatal.

An emulator spends about 50 µs of CPU on a status or log read (bench-emulator.py): at 10,000 jobs the
daemon's 2,000-2,700 requests a second cost the emulators an eighth of a core, and the burst of starts a
second or so of one. Two processes, each a loop on a core of its own when the daemon leaves one free,
keep them out of the way on this 2-core machine; more would only share the same cores.

Environment: UDFCRON_BENCH_FUSED_JOBS (10000), UDFCRON_BENCH_FUSED_EMULATORS (2),
UDFCRON_BENCH_FUSED_WINDOW (60 s), UDFCROND (default: build/udfcrond), UDFCRON_BENCH_KEEP=1 keeps the
temporary directory.
"""
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from remote_load import POLL, daemon_config, emulator_args, run  # noqa: E402
from emulator.client import Emulator  # noqa: E402  (remote_load puts tests/ on the path)

JOBS = int(os.environ.get("UDFCRON_BENCH_FUSED_JOBS", 10000))
EMULATORS = int(os.environ.get("UDFCRON_BENCH_FUSED_EMULATORS", 2))
WINDOW = float(os.environ.get("UDFCRON_BENCH_FUSED_WINDOW", 60))


def start_emulators(tmp, emulators):
    """K emulators tracking when each status read arrived; jobs that run an hour and log once every
    1000 s."""
    for k in range(EMULATORS):
        emulators.append(Emulator.start(tmp / f"emu{k}", emulator_args("fused.job.status")))
        emulators[-1].config({"fused": {"job": {"pending": 0.5, "running": 3600, "log_interval": 1000}}})


def write_config(tmp, emulators, cron, runtime):
    udf = tmp / "job.py"
    udf.write_text("def udf(i=0):\n    return i\n")
    creds = tmp / "creds"
    creds.mkdir()
    (creds / "fused-token").write_text(emulators[0].fused_token + "\n")
    daemon_config(tmp, runtime, f'fused = {{ base_url = "{emulators[0].fused_base}"; '
                                f'token = "${{secret:fused-token}}"; poll_interval = "{POLL:.0f}s"; }};')
    (tmp / "schedules.d").mkdir()
    with open(tmp / "schedules.d" / "jobs.conf", "w") as f:
        f.write("schedules = (\n")
        for i in range(JOBS):
            emu = emulators[i % len(emulators)]
            f.write(f'  {{ name = "j{i}"; cron = "{cron}"; engine = "fused"; udf = "{udf}"; params = {{ i = {i}; }};\n'
                    f'    fused = {{ mode = "batch"; base_url = "{emu.fused_base}"; }}; }}{"," if i < JOBS - 1 else ""}\n')
        f.write(");\n")
    return creds


def main():
    run("fused", "job", JOBS, WINDOW, "fused.job.status", start_emulators, write_config,
        lambda emulators: sum(sum(e.starts("fused").values()) for e in emulators),
        lambda started, ramp: f"fused engine: {JOBS} batch jobs on {EMULATORS} emulator(s), polled every "
                              f"{POLL:.0f}s; {started} started, the last {ramp:.1f}s after the fire")


if __name__ == "__main__":
    main()
