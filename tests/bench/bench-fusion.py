#!/usr/bin/python3
"""
The fusion engine under load: N Spark job runs in flight at once (default 2,000, one per job
configuration, since Fusion runs a configuration once at a time), each polled every 5 s (its status,
then its driver log), against one emulator process (tests/emulator/; the engine has one base_url).

Every schedule fires once, at the same second, so the N starts come as one burst (each preceded by a
read of the configuration's latest run); the runs then last an hour and log nothing after their first
lines, so what is measured is polling. After the ramp (every run started and polled once), two windows
of WINDOW seconds each, one after the other, measure:

  daemon CPU    (utime + stime of udfcrond over the window) / window, in % of one core
  daemon RSS    VmRSS at the end of the window, and VmHWM (its peak, ramp included)
  polls         status reads seen by the emulator per run in the window, against window / 5 s
  late polls    consecutive status reads of one run further apart than 5 s + 1 s: a poll that fell
                behind (the emulator's clock, so a slow answer does not count, a late request does)

Goals: under 20% of a core, under 200 MiB, no late poll. Missed goals are printed, not fatal.

Environment: UDFCRON_BENCH_FUSION_RUNS (2000), UDFCRON_BENCH_FUSION_WINDOW (60 s), UDFCROND (default:
build/udfcrond), UDFCRON_BENCH_KEEP=1 keeps the temporary directory.
"""
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from remote_load import POLL, daemon_config, emulator_args, run  # noqa: E402
from emulator.client import Emulator  # noqa: E402  (remote_load puts tests/ on the path)

RUNS = int(os.environ.get("UDFCRON_BENCH_FUSION_RUNS", 2000))
WINDOW = float(os.environ.get("UDFCRON_BENCH_FUSION_WINDOW", 60))


def start_emulators(tmp, emulators):
    """One emulator seeded with a Spark job configuration per run; runs that last an hour, almost silent."""
    seed = tmp / "emulator.json"
    seed.write_text(json.dumps({
        "fusion": {"job": {"starting": 0.5, "running": 3600, "log_interval": 1000}},
        "seed": {"spark_configurations": [{"id": f"job-{i}", "type": "custom_python_job", "script": "pass"}
                                          for i in range(RUNS)]},
    }))
    emulators.append(Emulator.start(tmp / "emu", emulator_args("fusion.spark.status") + ["--config", str(seed)]))


def write_config(tmp, emulators, cron, runtime):
    emu = emulators[0]
    creds = tmp / "creds"
    creds.mkdir()
    (creds / "fusion-password").write_text(emu.fusion_password + "\n")
    daemon_config(tmp, runtime, f'fusion = {{ base_url = "{emu.url}"; auth = "session"; user = "{emu.fusion_user}"; '
                                f'password = "${{secret:fusion-password}}"; poll_interval = "{POLL:.0f}s"; }};')
    (tmp / "schedules.d").mkdir()
    with open(tmp / "schedules.d" / "runs.conf", "w") as f:
        f.write("schedules = (\n")
        for i in range(RUNS):
            f.write(f'  {{ name = "r{i}"; cron = "{cron}"; engine = "fusion"; fusion = {{ job = "job-{i}"; }}; }}'
                    f'{"," if i < RUNS - 1 else ""}\n')
        f.write(");\n")
    return creds


def main():
    run("fusion", "run", RUNS, WINDOW, "fusion.spark.status", start_emulators, write_config,
        lambda emulators: sum(emulators[0].starts("fusion").values()),
        lambda started, ramp: f"fusion engine: {RUNS} Spark runs on one emulator, polled every {POLL:.0f}s "
                              f"(status and driver log); {started} started, the last {ramp:.1f}s after the fire")


if __name__ == "__main__":
    main()
