#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The croniter column of bench-cron: ns per get_next() call and the first fire times.

Run once by tests/bench/bench-cron.c, which passes the expressions in udfcron's
syntax; they are translated to the dialect of Debian's croniter (1.3.x):
seconds move from the first field to the last, `?` becomes `*` (udfcron treats
both as "any day" for the OR/AND rule) and `5L` becomes `L5`. Forms croniter
cannot express (`W`, `LW`, `L-n`, `@every`, the year field) are reported as
unsupported. Output, one tab-separated line per result:

    bench  INDEX  ZONE  NS_PER_CALL            (or: bench INDEX ZONE unsupported REASON)
    fires  INDEX  ZONE  START  F1,F2,...        (epoch seconds)
"""

import argparse
import datetime
import re
import statistics
import sys
import time

try:  # croniter 1.3 is built and tested around pytz; zoneinfo zones make it repeat fires after DST changes
    import pytz

    zone_by_name = pytz.timezone
except ImportError:
    from zoneinfo import ZoneInfo as zone_by_name

try:
    from croniter import croniter
except ImportError:  # the C side prints n/a
    print("croniter missing: install python3-croniter", file=sys.stderr)
    sys.exit(3)


def translate(expr):
    """udfcron syntax -> (croniter syntax, None) or (None, why it is unsupported)."""
    e = expr.strip()
    if e.lower().startswith("@every"):
        return None, "@every is not cron syntax"
    if e.startswith("@"):
        return e, None
    fields = e.split()
    if len(fields) == 7:
        return None, "no year field"
    if len(fields) == 6:
        fields = fields[1:] + fields[:1]  # croniter's seconds come last
    dom, dow = fields[2], fields[4]
    if "W" in dom.upper():
        return None, "no W/LW day-of-month"
    if re.search(r"L-\d", dom, re.I):
        return None, "no L-n day-of-month"
    fields[2] = "*" if dom == "?" else dom
    fields[4] = "*" if dow == "?" else re.sub(r"^(\w+?)L$", r"L\1", dow, flags=re.I)
    return " ".join(fields), None


def utc(ts, zone):
    """The aware local datetime of instant `ts` (fromtimestamp localizes pytz zones correctly)."""
    return datetime.datetime.fromtimestamp(ts, zone)


def ns_per_call(expr, zone, start, reset):
    """Median ns per chained get_next() over 7 runs of ~25 ms, restarting at `start` past `reset`."""
    it = croniter(expr, utc(start, zone))

    def run(n):
        nonlocal it
        t0 = time.perf_counter_ns()
        for _ in range(n):
            if it.get_next(float) >= reset:
                it = croniter(expr, utc(start, zone))
        return time.perf_counter_ns() - t0

    n = 1
    while True:
        spent = run(n)
        if spent >= 25_000_000 or n >= 1 << 20:
            break
        n = max(n * 2, int(n * 30_000_000 / max(spent, 1)))
    return statistics.median(run(n) / n for _ in range(7))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--zones", required=True, help="comma-separated IANA names")
    ap.add_argument("--starts", required=True, help="comma-separated epoch seconds for the fire lists")
    ap.add_argument("--fires", type=int, default=6)
    ap.add_argument("--bench-start", type=int, required=True)
    ap.add_argument("--reset", type=int, required=True)
    ap.add_argument("expressions", nargs="+")
    args = ap.parse_args()
    zones = args.zones.split(",")
    starts = [int(s) for s in args.starts.split(",")]

    for i, expr in enumerate(args.expressions):
        translated, why = translate(expr)
        for name in zones:
            zone = zone_by_name(name)
            if translated is not None:
                try:
                    croniter(translated, utc(args.bench_start, zone))
                except Exception as e:  # croniter's own verdict
                    translated, why = None, "rejected: %s" % e
            if translated is None:
                print("bench\t%d\t%s\tunsupported\t%s" % (i, name, why), flush=True)
                continue
            for s in starts:
                it = croniter(translated, utc(s, zone))
                fires = [str(int(it.get_next(float))) for _ in range(args.fires)]
                print("fires\t%d\t%s\t%d\t%s" % (i, name, s, ",".join(fires)), flush=True)
            ns = ns_per_call(translated, zone, args.bench_start, args.reset)
            print("bench\t%d\t%s\t%.0f" % (i, name, ns), flush=True)


if __name__ == "__main__":
    main()
