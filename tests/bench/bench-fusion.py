#!/usr/bin/python3
"""
The fusion engine under load: N Spark job runs in flight at once (default 2,000, one per job
configuration, since Fusion runs a configuration once at a time), each polled every 5 s (its status,
then its driver log), against one emulator process (tests/emulator/; the engine has one base_url).

Every schedule fires once, at the same second, so the N starts come as one burst (each preceded by a
read of the configuration's latest run); the runs then last an hour and log nothing after their first
lines, so what is measured is polling. After the ramp (every run started and polled once), a window of
WINDOW seconds measures:

  daemon CPU    (utime + stime of udfcrond over the window) / window, in % of one core
  daemon RSS    VmRSS at the end of the window, and VmHWM (its peak, ramp included)
  polls         status reads seen by the emulator per run in the window, against window / 5 s
  late polls    consecutive status reads of one run further apart than 5 s + 1 s: a poll that fell
                behind (the emulator's clock, so a slow answer does not count, a late request does)

Goals: under 20% of a core, under 200 MiB, no late poll. Missed goals are printed, not fatal.

Environment: UDFCRON_BENCH_FUSION_RUNS (2000), UDFCRON_BENCH_FUSION_WINDOW (60 s), UDFCROND (default:
build/udfcrond), UDFCRON_BENCH_KEEP=1 keeps the temporary directory.
"""
import collections
import json
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

RUNS = int(os.environ.get("UDFCRON_BENCH_FUSION_RUNS", 2000))
WINDOW = float(os.environ.get("UDFCRON_BENCH_FUSION_WINDOW", 60))
POLL = 5.0
UDFCROND = Path(os.environ.get("UDFCROND", ROOT / "build" / "udfcrond"))


def write_emulator_config(tmp):
    """The emulator's seed: one Spark job configuration per run; runs that last an hour, almost silent."""
    path = tmp / "emulator.json"
    path.write_text(json.dumps({
        "fusion": {"job": {"starting": 0.5, "running": 3600, "log_interval": 1000}},
        "seed": {"spark_configurations": [{"id": f"job-{i}", "type": "custom_python_job", "script": "pass"}
                                          for i in range(RUNS)]},
    }))
    return path


def write_config(tmp, emu, fire_at):
    creds = tmp / "creds"
    creds.mkdir()
    (creds / "fusion-password").write_text(emu.fusion_password + "\n")
    (tmp / "schedules.d").mkdir()
    t = time.gmtime(fire_at)
    cron = f"{t.tm_sec} {t.tm_min} {t.tm_hour} {t.tm_mday} {t.tm_mon} * {t.tm_year}"
    (tmp / "udfcrond.conf").write_text(f"""
timezone = "UTC";
state_directory = "{tmp}/state";
runtime_directory = "/dev/shm/udfcron-bench-fusion-{os.getpid()}";
max_concurrent_runs = 100000;
engines = {{ fusion = {{ base_url = "{emu.url}"; auth = "session"; user = "{emu.fusion_user}";
                         password = "${{secret:fusion-password}}"; poll_interval = "{POLL:.0f}s"; }}; }};
http = {{ timeout = "30s"; max_connections_per_host = 64; }};
""")
    with open(tmp / "schedules.d" / "runs.conf", "w") as f:
        f.write("schedules = (\n")
        for i in range(RUNS):
            f.write(f'  {{ name = "r{i}"; cron = "{cron}"; engine = "fusion"; fusion = {{ job = "job-{i}"; }}; }}'
                    f'{"," if i < RUNS - 1 else ""}\n')
        f.write(");\n")
    return creds


def poll_times(emu, since, until):
    """Per run, the times of its status reads in [since, until]."""
    times = collections.defaultdict(list)
    for r in emu.requests(route="fusion.spark.status"):
        if since <= r["time"] <= until:
            times[r["path"].rsplit("/", 1)[1]].append(r["time"])
    return times


def main():
    tmp = Path(tempfile.mkdtemp(prefix="bench-fusion-"))
    emu, daemon = None, None
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (resource.getrlimit(resource.RLIMIT_NOFILE)[1],) * 2)
        keep = int(RUNS * 2 * (WINDOW + 30) / POLL) + 4 * RUNS + 10000
        emu = Emulator.start(tmp / "emu", ["--keep-requests", str(keep), "--config", str(write_emulator_config(tmp))])
        fire_at = int(time.time()) + 8
        creds = write_config(tmp, emu, fire_at)
        env = {**os.environ, "CREDENTIALS_DIRECTORY": str(creds)}
        env.pop("NOTIFY_SOCKET", None)
        log = open(tmp / "udfcrond.log", "wb")
        daemon = subprocess.Popen([str(UDFCROND), "--config", str(tmp / "udfcrond.conf"), "--log-target", "stderr"],
                                  stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env)

        # the ramp: every run started, then polled at least once
        deadline = time.time() + 8 + 120
        started = 0
        while time.time() < deadline:
            started = sum(emu.starts("fusion").values())
            if started >= RUNS:
                break
            time.sleep(1)
        ramp = time.time() - fire_at
        time.sleep(POLL + 1)
        print(f"fusion engine: {RUNS} Spark runs on one emulator, polled every {POLL:.0f}s (status and driver "
              f"log); {started} started in {ramp:.1f}s")

        since = time.time()
        cpu0 = cpu_seconds(daemon.pid)
        time.sleep(WINDOW)
        until = time.time()
        cpu = cpu_seconds(daemon.pid) - cpu0
        report("run", RUNS, poll_times(emu, since, until), until - since, POLL, cpu, daemon.pid)
    finally:
        if daemon and daemon.poll() is None:
            daemon.send_signal(signal.SIGKILL)  # runs would go on: nothing to wait for
            daemon.wait()
        if emu:
            emu.stop()
        shutil.rmtree(f"/dev/shm/udfcron-bench-fusion-{os.getpid()}", ignore_errors=True)
        if os.environ.get("UDFCRON_BENCH_KEEP"):
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
