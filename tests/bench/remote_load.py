"""
What the remote engines' load benchmarks (bench-fused.py, bench-fusion.py) share: the run itself (N
schedules fire at one second against emulator processes, then a window measures the daemon), the
daemon's CPU time and memory from /proc, and the table of figures measured in the window against the
goals (under 20% of a core, under 200 MiB, no late poll).
"""
import collections
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))  # for the benchmarks' `from emulator.client import Emulator`

CLK_TCK = os.sysconf("SC_CLK_TCK")
POLL = 5.0  # the daemon's poll_interval
FIRE_DELAY = 8  # seconds from writing the schedules to their firing: the daemon starts meanwhile
RAMP_MAX = 120  # seconds the starts may take
# windows measured one after the other: the first begins as the ramp ends, when an engine may still poll
# more than it will (the fused engine reads a quiet log less and less often, up to quiet_log_interval);
# the last shows what it settles to
WINDOWS = 2
UDFCROND = Path(os.environ.get("UDFCROND", ROOT / "build" / "udfcrond"))


def cpu_seconds(pid):
    """utime + stime of process `pid`, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def memory_kib(pid, key):
    """A VmRSS/VmHWM-style line of /proc/PID/status, in KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def cron_at(t):
    """A cron expression (with seconds and year) firing once, at epoch second `t`."""
    t = time.gmtime(t)
    return f"{t.tm_sec} {t.tm_min} {t.tm_hour} {t.tm_mday} {t.tm_mon} * {t.tm_year}"


def daemon_config(tmp, runtime, engines):
    """udfcrond.conf in `tmp`: state there, runtime files in `runtime`, the `engines` group given
    (libconfig text), no limit on concurrent runs. Connections: the default 16 per host. Against
    loopback emulators more buy nothing, and curl 7.88 spends time in proportion to the connections
    it keeps on every transfer's removal: 64 per host made that a third of the daemon's CPU."""
    (tmp / "udfcrond.conf").write_text(f"""
timezone = "UTC";
state_directory = "{tmp}/state";
runtime_directory = "{runtime}";
max_concurrent_runs = 100000;
engines = {{ {engines} }};
http = {{ timeout = "30s"; }};
""")


def emulator_args(status_route):
    """An emulator's options for a load run: the arrival of every status read of `status_route` kept (8
    bytes each), only a few whole requests. Keeping the hundreds of thousands of requests of a run
    whole grew each emulator by a few hundred MiB, and the daemon beside them measured a fifth slower."""
    return ["--keep-requests", "1000", "--track-arrivals", status_route]


def poll_times(emulators, route, since, until):
    """Per job (the last segment of its status path), the times at which the emulators received its
    status reads (`route`) in [since, until]."""
    times = collections.defaultdict(list)
    for emu in emulators:
        for path, arrivals in emu.arrivals(route).items():
            times[path.rsplit("/", 1)[1]] += [t for t in arrivals if since <= t <= until]
    return times


def report(unit, n, times, window, cpu, pid):
    """
    Prints the figures: `cpu` seconds the daemon `pid` used in `window` seconds, its memory now, and per
    `unit` (of `n`) the times of its polls in the window (`times`: name -> [time]) against one per POLL.
    """
    late_after = POLL + 1.0
    rss, hwm = memory_kib(pid, "VmRSS"), memory_kib(pid, "VmHWM")
    expected = int(window / POLL)
    counts = [len(ts) for ts in times.values()] + [0] * max(0, n - len(times))
    gaps = [b - a for ts in times.values() for a, b in zip(sorted(ts), sorted(ts)[1:])]
    late = sum(1 for g in gaps if g > late_after)
    behind = sum(1 for c in counts if c < expected - 1)
    cpu_pct = 100 * cpu / window
    print(f"{'':24}{'value':>12}  goal")
    print(f"{'daemon CPU':24}{cpu_pct:>11.1f}%  < 20% of one core  {'ok' if cpu_pct < 20 else 'MISSED'}")
    print(f"{'daemon RSS':24}{rss / 1024:>8.1f} MiB  < 200 MiB (peak {hwm / 1024:.1f} MiB)  "
          f"{'ok' if hwm < 200 * 1024 else 'MISSED'}")
    print(f"{'status polls / ' + unit:24}{sum(counts) / max(1, len(counts)):>12.2f}  {window / POLL:.0f} in "
          f"{window:.0f}s; {behind} {unit}s with fewer than {expected - 1}")
    print(f"{'max gap between polls':24}{max(gaps, default=0):>11.2f}s  <= {late_after:.0f}s; "
          f"{late} late of {len(gaps)}  {'ok' if late == 0 and behind == 0 else 'MISSED'}")


def run(name, unit, n, window, status_route, start_emulators, write_config, started, title):
    """
    The benchmark: emulators from start_emulators(tmp, emulators) (appended to the list given, so
    that every one started is stopped), udfcrond on the config write_config(tmp, emulators, cron,
    runtime) writes (returning its credentials directory) with `n` schedules firing at once at `cron`,
    then the ramp (until started(emulators) reaches n), then WINDOWS windows of `window` seconds each
    measured; title(started, seconds from the fire to the last start seen) heads the figures.
    UDFCRON_BENCH_KEEP=1 keeps the temporary directory.
    """
    tmp = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
    runtime = Path(f"/dev/shm/udfcron-bench-{name}-{os.getpid()}")
    emulators, daemon = [], None
    try:
        start_emulators(tmp, emulators)
        fire_at = int(time.time()) + FIRE_DELAY
        creds = write_config(tmp, emulators, cron_at(fire_at), runtime)
        env = {**os.environ, "CREDENTIALS_DIRECTORY": str(creds)}
        env.pop("NOTIFY_SOCKET", None)
        with open(tmp / "udfcrond.log", "wb") as log:
            daemon = subprocess.Popen([str(UDFCROND), "--config", str(tmp / "udfcrond.conf"), "--log-target",
                                       "stderr"], stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env)

        # the ramp: every one started, then polled at least once
        deadline = fire_at + RAMP_MAX
        count, last_start = 0, fire_at
        while time.time() < deadline:
            count, before = started(emulators), count
            if count > before:
                last_start = time.time()
            if count >= n:
                break
            time.sleep(1)
        time.sleep(POLL + 1)
        print(title(count, last_start - fire_at))

        pids = [daemon.pid] + [emu.proc.pid for emu in emulators]
        ramp_end = time.time()
        for k in range(WINDOWS):
            since, cpu0 = time.time(), [cpu_seconds(pid) for pid in pids]
            time.sleep(window)
            until, cpu = time.time(), [b - a for a, b in zip(cpu0, (cpu_seconds(pid) for pid in pids))]
            print(f"window {k + 1} of {WINDOWS}: {since - ramp_end:.0f}s to {until - ramp_end:.0f}s after the ramp")
            report(unit, n, poll_times(emulators, status_route, since, until), until - since, cpu[0], daemon.pid)
            busiest = f"the busiest of {len(emulators)}, " if len(emulators) > 1 else ""
            print(f"{'emulator CPU':24}{100 * max(cpu[1:]) / (until - since):>11.1f}%  {busiest}in % of one core "
                  f"(what it adds to the machine's load)")
    finally:
        if daemon and daemon.poll() is None:
            daemon.send_signal(signal.SIGKILL)  # the runs would go on: nothing to wait for
            daemon.wait()
        for emu in emulators:
            emu.stop()
        shutil.rmtree(runtime, ignore_errors=True)
        if os.environ.get("UDFCRON_BENCH_KEEP"):
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
