#!/usr/bin/python3
"""
The fused engine under load: N batch jobs in flight at once (default 10,000), each polled every 5 s
(its status and its log), against K emulator processes (tests/emulator/, default 2: one Python process
cannot answer 4,000 requests a second), the schedules spread over them with per-schedule base_url.

Every schedule fires once, at the same second, so the N starts come as one burst; the jobs then run
for an hour and log nothing after their first two lines, so what is measured is polling. After the
ramp (every job started and polled once), a window of WINDOW seconds measures:

  daemon CPU    (utime + stime of udfcrond over the window) / window, in % of one core
  daemon RSS    VmRSS at the end of the window, and VmHWM (its peak, ramp included)
  polls         status reads seen by the emulators per job in the window, against window / 5 s
  late polls    consecutive status reads of one job further apart than 5 s + 1 s: a poll that fell
                behind (the emulators' clock, so a slow answer does not count, a late request does)

Goals: under 20% of a core, under 200 MiB, no late poll. Missed goals are printed, not fatal.

Environment: UDFCRON_BENCH_FUSED_JOBS (10000), UDFCRON_BENCH_FUSED_EMULATORS (2),
UDFCRON_BENCH_FUSED_WINDOW (60 s), UDFCROND (default: ../udfcrond beside this build's bench dir),
UDFCRON_BENCH_KEEP=1 keeps the temporary directory.
"""
import collections
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
from emulator.client import Emulator  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from remote_load import cpu_seconds, report  # noqa: E402

JOBS = int(os.environ.get("UDFCRON_BENCH_FUSED_JOBS", 10000))
EMULATORS = int(os.environ.get("UDFCRON_BENCH_FUSED_EMULATORS", 2))
WINDOW = float(os.environ.get("UDFCRON_BENCH_FUSED_WINDOW", 60))
POLL = 5.0
UDFCROND = Path(os.environ.get("UDFCROND", ROOT / "build" / "udfcrond"))


def write_config(tmp, emulators, fire_at):
    udf = tmp / "job.py"
    udf.write_text("def udf(i=0):\n    return i\n")
    creds = tmp / "creds"
    creds.mkdir()
    (creds / "fused-token").write_text(emulators[0].fused_token + "\n")
    (tmp / "schedules.d").mkdir()
    t = time.gmtime(fire_at)
    cron = f"{t.tm_sec} {t.tm_min} {t.tm_hour} {t.tm_mday} {t.tm_mon} * {t.tm_year}"
    (tmp / "udfcrond.conf").write_text(f"""
timezone = "UTC";
state_directory = "{tmp}/state";
runtime_directory = "/dev/shm/udfcron-bench-fused-{os.getpid()}";
max_concurrent_runs = 100000;
engines = {{ fused = {{ base_url = "{emulators[0].fused_base}"; token = "${{secret:fused-token}}";
                        poll_interval = "{POLL:.0f}s"; }}; }};
http = {{ timeout = "30s"; max_connections_per_host = 64; }};
""")
    with open(tmp / "schedules.d" / "jobs.conf", "w") as f:
        f.write("schedules = (\n")
        for i in range(JOBS):
            emu = emulators[i % len(emulators)]
            f.write(f'  {{ name = "j{i}"; cron = "{cron}"; engine = "fused"; udf = "{udf}"; params = {{ i = {i}; }};\n'
                    f'    fused = {{ mode = "batch"; base_url = "{emu.fused_base}"; }}; }}{"," if i < JOBS - 1 else ""}\n')
        f.write(");\n")
    return creds


def poll_gaps(emulators, since, until):
    """Per job, the times of its status reads in [since, until], from every emulator's records."""
    times = collections.defaultdict(list)
    for emu in emulators:
        for r in emu.requests(route="fused.job.status"):
            if since <= r["time"] <= until:
                times[r["path"].rsplit("/", 1)[1]].append(r["time"])
    return times


def main():
    tmp = Path(tempfile.mkdtemp(prefix="bench-fused-"))
    emulators, daemon = [], None
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (resource.getrlimit(resource.RLIMIT_NOFILE)[1],) * 2)
        keep = int(JOBS / EMULATORS * 2 * (WINDOW + 30) / POLL) + 10000
        for k in range(EMULATORS):
            emu = Emulator.start(tmp / f"emu{k}", ["--keep-requests", str(keep)])
            emu.config({"fused": {"job": {"pending": 0.5, "running": 3600, "log_interval": 1000}}})
            emulators.append(emu)
        fire_at = int(time.time()) + 8
        creds = write_config(tmp, emulators, fire_at)
        env = {**os.environ, "CREDENTIALS_DIRECTORY": str(creds)}
        env.pop("NOTIFY_SOCKET", None)
        log = open(tmp / "udfcrond.log", "wb")
        daemon = subprocess.Popen([str(UDFCROND), "--config", str(tmp / "udfcrond.conf"), "--log-target", "stderr"],
                                  stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env)

        # the ramp: every job started, then polled at least once
        deadline = time.time() + 8 + 120
        while time.time() < deadline:
            started = sum(sum(e.starts("fused").values()) for e in emulators)
            if started >= JOBS:
                break
            time.sleep(1)
        ramp = time.time() - fire_at
        time.sleep(POLL + 1)
        print(f"fused engine: {JOBS} batch jobs on {EMULATORS} emulator(s), polled every {POLL:.0f}s; "
              f"{started} started in {ramp:.1f}s")

        since = time.time()
        cpu0 = cpu_seconds(daemon.pid)
        time.sleep(WINDOW)
        until = time.time()
        cpu = cpu_seconds(daemon.pid) - cpu0
        report("job", JOBS, poll_gaps(emulators, since, until), until - since, POLL, cpu, daemon.pid)
    finally:
        if daemon and daemon.poll() is None:
            daemon.send_signal(signal.SIGKILL)  # jobs would run on: nothing to wait for
            daemon.wait()
        for emu in emulators:
            emu.stop()
        shutil.rmtree(f"/dev/shm/udfcron-bench-fused-{os.getpid()}", ignore_errors=True)
        if os.environ.get("UDFCRON_BENCH_KEEP"):
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
