"""
What the remote engines' load benchmarks (bench-fused.py, bench-fusion.py) share: the daemon's CPU time
and memory from /proc, and the table of figures measured in a window against the goals (under 20% of a
core, under 200 MiB, no late poll).
"""
import os

CLK_TCK = os.sysconf("SC_CLK_TCK")


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


def report(unit, n, times, window, poll, cpu, pid):
    """
    Prints the figures: `cpu` seconds the daemon `pid` used in `window` seconds, its memory now, and per
    `unit` (of `n`) the times of its polls in the window (`times`: name -> [time]) against one per `poll`.
    """
    late_after = poll + 1.0
    rss, hwm = memory_kib(pid, "VmRSS"), memory_kib(pid, "VmHWM")
    expected = int(window / poll)
    counts = [len(ts) for ts in times.values()] + [0] * max(0, n - len(times))
    gaps = [b - a for ts in times.values() for a, b in zip(sorted(ts), sorted(ts)[1:])]
    late = sum(1 for g in gaps if g > late_after)
    behind = sum(1 for c in counts if c < expected - 1)
    cpu_pct = 100 * cpu / window
    print(f"{'':24}{'value':>12}  goal")
    print(f"{'daemon CPU':24}{cpu_pct:>11.1f}%  < 20% of one core  {'ok' if cpu_pct < 20 else 'MISSED'}")
    print(f"{'daemon RSS':24}{rss / 1024:>8.1f} MiB  < 200 MiB (peak {hwm / 1024:.1f} MiB)  "
          f"{'ok' if hwm < 200 * 1024 else 'MISSED'}")
    print(f"{'status polls / ' + unit:24}{sum(counts) / max(1, len(counts)):>12.2f}  {window / poll:.0f} in "
          f"{window:.0f}s; {behind} {unit}s with fewer than {expected - 1}")
    print(f"{'max gap between polls':24}{max(gaps, default=0):>11.2f}s  <= {late_after:.0f}s; "
          f"{late} late of {len(gaps)}  {'ok' if late == 0 and behind == 0 else 'MISSED'}")
