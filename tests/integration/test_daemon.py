"""
udfcrond end to end: the real daemon binary, real child processes, a real journald and real files.

Each test starts its own daemon through the `daemon` fixture (conftest.py): a config tree under tmp_path,
NOTIFY_SOCKET on a socket the test reads, READY=1 awaited, and on teardown SIGTERM with exit status 0
checked. Schedule names carry a per-daemon prefix, so journal queries by schedule see only this test.
Times come from what children write to files (their own clock) and from journal records; waits are on
conditions with deadlines, never fixed sleeps, except where a test observes that nothing happens.

Shell commands are parameter templates too: `${...}` is a reference and `$$` a literal `$`, so scripts
below write `$VAR` (never `${VAR}`) and `$$$$` for the shell's own pid.
"""
import datetime
import json
import os
import random
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from conftest import check_config, wait_for, write_config
from test_journal import MESSAGE_IDS, PRIORITIES

SEC = 1_000_000  # usec
LIFECYCLE = ("scheduled", "started", "finished", "failed", "timed_out", "cancelled", "skipped", "retry", "lost")


# ---------------------------------------------------------------- helpers

def shell_schedule(name, cron, script, env=None, **keys):
    """A schedule running `script` with /bin/sh -c; `env` becomes its environment (paths as str)."""
    s = {"name": name, "cron": cron, "command": script, "shell": True}
    if env:
        s["environment"] = {k: str(v) for k, v in env.items()}
    s.update(keys)
    return s


def file_lines(path):
    """The complete lines of a file children append to (a line still being written is left out)."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return []
    return text[:text.rfind("\n") + 1].splitlines()


def wait_lines(path, predicate, timeout, what):
    """Waits until predicate(lines of path) holds; returns the lines."""
    found = []

    def check():
        found[:] = file_lines(path)
        return predicate(found)
    try:
        wait_for(check, timeout, what)
    except AssertionError as e:
        raise AssertionError(f"{e}; {path.name} has {len(found)} lines, ending {found[-5:]}") from None
    return found


def slots_of(path):
    """The first word of every line, as integers: the $UDFCRON_SCHEDULED_USEC a child wrote."""
    return [int(line.split()[0]) for line in file_lines(path)]


def of(recs, *events, run=None):
    """The records of these events (and of run id `run`), in journal order."""
    return [r for r in recs if r.get("UDFCRON_EVENT") in events and (run is None or r["UDFCRON_RUN_ID"] == run)]


def lifecycle(recs):
    return [r for r in recs if r.get("UDFCRON_EVENT") in LIFECYCLE]


def names(recs):
    return [r["UDFCRON_EVENT"] for r in recs]


def rt(rec):
    """When journald received a record, in usec."""
    return int(rec["__REALTIME_TIMESTAMP"])


def as_bytes(value):
    return value.encode() if isinstance(value, str) else value


def messages(recs):
    return [r.get("MESSAGE") for r in recs]


def run_intervals(path):
    """
    {run_id: {"schedule", "slot", "start", "end"}} from lines "start|end SCHEDULE RUN_ID SLOT TIME_USEC"
    that children wrote (see RECORD_START/RECORD_END); "end" is missing for a run that was killed.
    """
    runs = {}
    for line in file_lines(path):
        kind, schedule, run_id, slot, when = line.split()
        run = runs.setdefault(run_id, {"schedule": schedule, "slot": int(slot)})
        run[kind] = int(when)
    return runs


RECORD = 'echo "{kind} $UDFCRON_SCHEDULE $UDFCRON_RUN_ID $UDFCRON_SCHEDULED_USEC $(date +%s%6N)" >> "$OUT"'
RECORD_START = RECORD.format(kind="start")
RECORD_END = RECORD.format(kind="end")


def max_concurrency(intervals):
    """The most intervals [start, end] that overlap at one instant."""
    points = sorted([(s, 1) for s, e in intervals] + [(e, -1) for s, e in intervals])
    most = now = 0
    for _, step in points:  # at equal times an end (-1) sorts first: touching is not overlapping
        now += step
        most = max(most, now)
    return most


def process_gone(pid):
    """No such process, or only a zombie left."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (FileNotFoundError, ProcessLookupError):
        return True


def check_lifecycle_record(rec, d, short, run_id, event, attempt=1):
    """The fields every lifecycle record of a local run carries."""
    name = d.name(short)
    assert rec["UDFCRON_EVENT"] == event
    assert rec["MESSAGE_ID"] == MESSAGE_IDS[event], rec
    assert rec["PRIORITY"] == PRIORITIES[event], rec
    assert rec["SYSLOG_IDENTIFIER"] == "udfcrond"
    assert rec["UDFCRON_SCHEDULE"] == name
    assert rec["UDFCRON_RUN_ID"] == run_id
    assert rec["UDFCRON_ENGINE"] == "local"
    assert rec["UDFCRON_ATTEMPT"] == str(attempt)
    assert int(rec["UDFCRON_SCHEDULED_USEC"]) % SEC == 0
    assert rec["MESSAGE"].startswith(f"{name}[{run_id}] #{attempt} {event}"), rec["MESSAGE"]


def first_run(d, short, event, timeout):
    """Waits for the first `event` record of schedule `short`; returns (run id, that run's records)."""
    recs = d.wait_records(lambda rs: of(rs, event), timeout, f"a {event} record", short)
    run_id = of(recs, event)[0]["UDFCRON_RUN_ID"]
    return run_id, [r for r in recs if r.get("UDFCRON_RUN_ID") == run_id]


# ---------------------------------------------------------------- 1. firing

def test_every_slot_fires_once_on_time(daemon, tmp_path):
    """`* * * * * *`: each second fires exactly once, the child starts within 1 s after its slot (never
    before it), and the slots follow each other without a gap."""
    out = tmp_path / "fires"
    daemon([shell_schedule("tick", "* * * * * *", 'echo "$UDFCRON_SCHEDULED_USEC $(date +%s%6N)" >> "$OUT"',
                           env={"OUT": out})])
    lines = wait_lines(out, lambda ls: len(ls) >= 3, 10, "three fires")
    slots = [int(line.split()[0]) for line in lines]
    starts = [int(line.split()[1]) for line in lines]
    assert all(s % SEC == 0 for s in slots), slots
    assert slots == list(range(slots[0], slots[0] + len(slots) * SEC, SEC)), "slots not consecutive"
    for slot, start in zip(slots, starts):
        assert 0 <= start - slot < SEC, f"slot {slot} started {(start - slot) / SEC:+.3f}s after it"


# ---------------------------------------------------------------- 2. journal records

def test_a_run_is_recorded_in_the_journal(daemon):
    """A run's records: scheduled, started, one `log` record per output line (stderr PRIORITY=4, stdout 6),
    finished with exit status and duration; lifecycle records carry their MESSAGE_ID; a query by run id
    returns that run and nothing else. A failing command ends with `failed` and its exit status."""
    d = daemon([
        shell_schedule("ok", "* * * * * *", "echo out-1; echo err-1 >&2; echo out-2; echo err-2 >&2"),
        shell_schedule("bad", "* * * * * *", "echo about to fail; exit 3"),
    ])
    run_id, _ = first_run(d, "ok", "finished", 10)
    recs = d.records(UDFCRON_RUN_ID=run_id)  # journalctl UDFCRON_RUN_ID=<id>

    assert {r["UDFCRON_RUN_ID"] for r in recs} == {run_id}
    assert {r["UDFCRON_SCHEDULE"] for r in recs} == {d.name("ok")}
    assert names(lifecycle(recs)) == ["scheduled", "started", "finished"]
    assert names(recs)[0] == "scheduled" and names(recs)[-1] == "finished"
    slot = recs[0]["UDFCRON_SCHEDULED_USEC"]
    assert {r["UDFCRON_SCHEDULED_USEC"] for r in recs} == {slot}
    for rec in lifecycle(recs):
        check_lifecycle_record(rec, d, "ok", run_id, rec["UDFCRON_EVENT"])
    started, finished = of(recs, "started")[0], of(recs, "finished")[0]
    assert started["MESSAGE"].endswith("started: sh -c echo out-1; echo err-1 >&2; echo out-2; echo err-2 >&2")
    assert finished["UDFCRON_EXIT_STATUS"] == "0"
    assert 0 < int(finished["UDFCRON_DURATION_USEC"]) < 5 * SEC

    logs = of(recs, "log")
    assert len(logs) == 4  # one record per line
    for rec in logs:
        assert rec["MESSAGE_ID"] == MESSAGE_IDS["log"]
        assert rec["UDFCRON_ATTEMPT"] == "1" and rec["UDFCRON_ENGINE"] == "local"
        assert rec["PRIORITY"] == ("4" if rec["UDFCRON_STREAM"] == "stderr" else "6"), rec
    assert [r["MESSAGE"] for r in logs if r["UDFCRON_STREAM"] == "stdout"] == ["out-1", "out-2"]
    assert [r["MESSAGE"] for r in logs if r["UDFCRON_STREAM"] == "stderr"] == ["err-1", "err-2"]

    bad_id, bad = first_run(d, "bad", "failed", 10)
    bad = d.records(UDFCRON_RUN_ID=bad_id)
    assert names(lifecycle(bad)) == ["scheduled", "started", "failed"]
    failed = of(bad, "failed")[0]
    check_lifecycle_record(failed, d, "bad", bad_id, "failed")
    assert failed["UDFCRON_EXIT_STATUS"] == "3"
    assert "exited with status 3" in failed["MESSAGE"]
    assert "UDFCRON_DURATION_USEC" in failed
    assert [r["MESSAGE"] for r in of(bad, "log")] == ["about to fail"]


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")
def test_user_group_nice_and_working_directory(daemon):
    """As root, `user`/`group` switch the child's ids (supplementary groups dropped), `nice` lowers its
    priority, and `working_directory` is where it starts; the daemon itself stays root."""
    d = daemon([shell_schedule("who", "* * * * * *", 'echo "$(id -u) $(id -g) $(id -G) $(nice) $(pwd)"',
                               user="nobody", group="nogroup", nice=5, working_directory="/tmp")])
    run_id, _ = first_run(d, "who", "finished", 10)
    assert messages(of(d.records(UDFCRON_RUN_ID=run_id), "log")) == ["65534 65534 65534 5 /tmp"]
    assert os.stat(f"/proc/{d.pid}").st_uid == 0


# ---------------------------------------------------------------- 3. UDF runs

UDF_SOURCE = '''\
import fused


@fused.udf
def udf(schedule: str, run_id: str, attempt: str, slot: str, rows: int = 0):
    print(f"hello from {schedule}")
    print(f"slot {slot}")
    return {"schedule": schedule, "run_id": run_id, "attempt": attempt, "slot": slot, "rows": rows}


@fused.udf
def explode(schedule: str = ""):
    print("about to raise")
    raise ValueError("boom in " + schedule)


@fused.udf
def opaque():
    return object()
'''


def test_udf_run_result_and_output(daemon, tmp_path):
    """A Fused-style UDF gets its expanded parameters (${schedule}, ${run_id}, ${attempt},
    ${scheduled:FORMAT} in the schedule's zone); its print() lines are log records; its JSON result is
    in the finished record and in <state_directory>/results/<schedule>/<run_id>.json."""
    udf = tmp_path / "job.py"
    udf.write_text(UDF_SOURCE)
    zone = "Asia/Kolkata"
    d = daemon([{"name": "udf", "cron": "* * * * * *", "udf": str(udf), "timezone": zone,
                 "params": {"schedule": "${schedule}", "run_id": "${run_id}", "attempt": "${attempt}",
                            "slot": "${scheduled:%Y-%m-%dT%H:%M:%S}", "rows": 7}}])
    name = d.name("udf")

    run_id, recs = first_run(d, "udf", "finished", 15)
    slot = int(recs[0]["UDFCRON_SCHEDULED_USEC"])
    local = datetime.datetime.fromtimestamp(slot / SEC, ZoneInfo(zone)).strftime("%Y-%m-%dT%H:%M:%S")
    expected = {"schedule": name, "run_id": run_id, "attempt": "1", "slot": local, "rows": 7}

    logs = of(recs, "log")
    assert [(r["UDFCRON_STREAM"], r["MESSAGE"]) for r in logs] == [("stdout", f"hello from {name}"),
                                                                   ("stdout", f"slot {local}")]
    finished = of(recs, "finished")[0]
    assert finished["UDFCRON_EXIT_STATUS"] == "0"
    result_file = d.state_dir / "results" / name / f"{run_id}.json"
    assert result_file.exists(), sorted(p.name for p in (d.state_dir / "results").rglob("*"))
    assert result_file.read_bytes() == json.dumps(expected).encode()
    assert json.loads(result_file.read_text()) == expected
    assert as_bytes(finished["MESSAGE"]).endswith(b": " + json.dumps(expected).encode()), finished["MESSAGE"]


def test_udf_failures(daemon, tmp_path):
    """A UDF that raises fails (exit status 1) with its traceback as stderr records; one returning a value
    that is not JSON fails (exit status 3); neither stores a result."""
    udf = tmp_path / "job.py"
    udf.write_text(UDF_SOURCE)
    d = daemon([
        {"name": "raises", "cron": "* * * * * *", "udf": str(udf), "entrypoint": "explode",
         "params": {"schedule": "${schedule}"}},
        {"name": "opaque", "cron": "* * * * * *", "udf": str(udf), "entrypoint": "opaque"},
    ])

    raised_id, _ = first_run(d, "raises", "failed", 15)
    raised = d.records(UDFCRON_RUN_ID=raised_id)
    assert names(lifecycle(raised)) == ["scheduled", "started", "failed"]
    failed = of(raised, "failed")[0]
    check_lifecycle_record(failed, d, "raises", raised_id, "failed")
    assert failed["UDFCRON_EXIT_STATUS"] == "1"
    stderr = [r for r in of(raised, "log") if r["UDFCRON_STREAM"] == "stderr"]
    assert all(r["PRIORITY"] == "4" for r in stderr)
    assert "Traceback (most recent call last):" in messages(stderr)
    assert f"ValueError: boom in {d.name('raises')}" in messages(stderr)
    assert messages(stderr)[-1] == "udfcron: explode() raised"
    assert [r["MESSAGE"] for r in of(raised, "log") if r["UDFCRON_STREAM"] == "stdout"] == ["about to raise"]
    assert not (d.state_dir / "results" / d.name("raises")).exists()

    opaque_id, _ = first_run(d, "opaque", "failed", 15)
    opaque = d.records(UDFCRON_RUN_ID=opaque_id)
    failed = of(opaque, "failed")[0]
    check_lifecycle_record(failed, d, "opaque", opaque_id, "failed")
    assert failed["UDFCRON_EXIT_STATUS"] == "3"
    assert any("opaque() returned a value that is not JSON" in m for m in messages(of(opaque, "log")))
    assert not (d.state_dir / "results" / d.name("opaque")).exists()


# ---------------------------------------------------------------- 4. overlap policies

def test_overlap_policies(daemon, tmp_path):
    """A 2.5 s child on `* * * * * *`: skip never runs two at once and logs the skipped fires; allow
    overlaps; replace cancels the previous run; queue keeps at most one waiting and starts it as soon as
    the previous run ends."""
    outs = {p: tmp_path / p for p in ("skip", "allow", "replace", "queue")}
    script = f"{RECORD_START}; sleep 2.5; {RECORD_END}"
    d = daemon([shell_schedule(p, "* * * * * *", script, env={"OUT": outs[p]}, overlap=p) for p in outs],
               settings={"shutdown_timeout": "0s"})

    # allow: the second run starts while the first still sleeps
    def allow_runs():
        runs = sorted(run_intervals(outs["allow"]).values(), key=lambda r: r["slot"])
        return runs if len(runs) >= 2 and "end" in runs[0] else None
    runs = wait_for(allow_runs, 10, "two allow runs")
    assert runs[1]["slot"] == runs[0]["slot"] + SEC
    assert runs[1]["start"] < runs[0]["end"], "allow: the second run waited for the first"

    # replace: the next fire cancels the running run, which never reaches its end
    cancelled = d.wait_records(lambda rs: of(rs, "cancelled"), 10, "a cancelled run", "replace")
    victim = of(cancelled, "cancelled")[0]
    check_lifecycle_record(victim, d, "replace", victim["UDFCRON_RUN_ID"], "cancelled")
    successor_slot = int(victim["UDFCRON_SCHEDULED_USEC"]) + SEC
    assert any(int(r["UDFCRON_SCHEDULED_USEC"]) == successor_slot for r in of(cancelled, "started"))
    assert "end" not in run_intervals(outs["replace"]).get(victim["UDFCRON_RUN_ID"], {})
    assert any(m == f"{d.name('replace')} {victim['UDFCRON_RUN_ID']}: stopping: replaced by a newer run, "
                    "overlap = replace" for m in messages(d.daemon_log()))
    assert victim["UDFCRON_STOPPED_BY"] == "replace"
    assert victim["MESSAGE"].endswith("s (replaced by a newer run, overlap = replace)"), victim["MESSAGE"]

    # queue: run 2 is the first slot that came during run 1, and starts right when run 1 ends
    def queue_runs():
        runs = sorted(run_intervals(outs["queue"]).values(), key=lambda r: r["slot"])
        return runs if len(runs) >= 2 and "end" in runs[0] else None
    first, second = wait_for(queue_runs, 12, "the queued run")[:2]
    assert second["slot"] == first["slot"] + SEC
    assert first["end"] <= second["start"] < first["end"] + SEC // 2, "queue: the queued run did not follow"
    queue_recs = d.records("queue")
    skipped = of(queue_recs, "skipped")
    assert any(int(r["UDFCRON_SCHEDULED_USEC"]) == first["slot"] + 2 * SEC for r in skipped), \
        "queue: the fire while one run waited was not skipped"
    assert all(r["MESSAGE"].endswith("skipped: a run is already queued (overlap = queue)") for r in skipped)
    assert not any(int(r["UDFCRON_SCHEDULED_USEC"]) == first["slot"] + SEC for r in skipped)

    # skip: the fires during a run are skipped; the next run starts only after the first ended
    def skip_runs():
        runs = sorted(run_intervals(outs["skip"]).values(), key=lambda r: r["slot"])
        return runs if len(runs) >= 2 else None
    runs = wait_for(skip_runs, 12, "a second skip run")
    assert runs[0]["end"] <= runs[1]["start"]
    assert runs[1]["slot"] >= runs[0]["slot"] + 3 * SEC
    skipped = of(d.records("skip"), "skipped")
    skipped_slots = {int(r["UDFCRON_SCHEDULED_USEC"]) for r in skipped}
    assert {runs[0]["slot"] + SEC, runs[0]["slot"] + 2 * SEC} <= skipped_slots
    for r in skipped:
        check_lifecycle_record(r, d, "skip", r["UDFCRON_RUN_ID"], "skipped")
        assert r["MESSAGE"].endswith("skipped: the previous run is still active (overlap = skip)")
    # never two skip runs at once, over everything recorded so far
    done = [(r["start"], r["end"]) for r in run_intervals(outs["skip"]).values() if "end" in r]
    assert max_concurrency(done) == 1


# ---------------------------------------------------------------- 5. timeout

TRAP_SCRIPT = """\
trap 'echo caught TERM >&2' TERM
(trap '' TERM; exec sleep 30) &
echo $! > "$DIR/grandchild.$UDFCRON_RUN_ID"
echo $$$$ > "$DIR/child.$UDFCRON_RUN_ID"
while :; do wait; done
"""


def test_timeout_kills_the_whole_process_group(daemon, tmp_path):
    """timeout = 1s, kill_grace = 1s: a child that survives SIGTERM (and its grandchild, which ignores it)
    is SIGKILLed after the grace period; the run ends timed_out and nothing of it is left."""
    d = daemon([shell_schedule("slow", "* * * * * *", TRAP_SCRIPT, env={"DIR": tmp_path},
                               timeout="1s", kill_grace="1s")],
               settings={"shutdown_timeout": "0s"})
    run_id, recs = first_run(d, "slow", "timed_out", 10)
    child = int(wait_for(lambda: file_lines(tmp_path / f"child.{run_id}"), 2, "the pid file")[0])
    grandchild = int(wait_for(lambda: file_lines(tmp_path / f"grandchild.{run_id}"), 2, "the pid file")[0])

    timed_out = of(recs, "timed_out")[0]
    check_lifecycle_record(timed_out, d, "slow", run_id, "timed_out")
    assert "SIGKILL" in timed_out["MESSAGE"], timed_out["MESSAGE"]
    assert timed_out["UDFCRON_STOPPED_BY"] == "timeout"
    assert int(timed_out["UDFCRON_DURATION_USEC"]) >= 1.9 * SEC  # timeout, then the whole grace period
    assert "caught TERM" in messages(of(recs, "log"))  # SIGTERM came first, and the child survived it
    assert names(lifecycle(recs)) == ["scheduled", "started", "timed_out"]  # no retries by default
    wait_for(lambda: process_gone(child) and process_gone(grandchild), 3, "the child and grandchild to go")


# ---------------------------------------------------------------- 6. retries

def test_retries_with_exponential_backoff(daemon, tmp_path):
    """retries = 3, retry_backoff = 1s: attempts 1 and 2 fail, each with a retry record whose
    UDFCRON_NEXT_USEC is when the next attempt starts, after a delay in [b/2, b] for b = 1s, then 2s
    (doubling, jitter takes at most half); attempt 3 succeeds. With retries = 1 a run that always fails
    ends failed after 2 attempts."""
    out = tmp_path / "attempts"
    d = daemon([
        shell_schedule("flaky", "* * * * * *",
                       'echo "$UDFCRON_RUN_ID $UDFCRON_ATTEMPT $(date +%s%6N)" >> "$OUT"; '
                       'echo "attempt $UDFCRON_ATTEMPT"; test "$UDFCRON_ATTEMPT" -ge 3',
                       env={"OUT": out}, retries=3, retry_backoff="1s"),
        shell_schedule("broken", "* * * * * *", "exit 7", retries=1, retry_backoff="1s"),
    ])
    run_id, _ = first_run(d, "flaky", "finished", 15)
    recs = d.records(UDFCRON_RUN_ID=run_id)
    steps = [(r["UDFCRON_EVENT"], r["UDFCRON_ATTEMPT"]) for r in lifecycle(recs)]
    assert steps == [("scheduled", "1"), ("started", "1"), ("retry", "1"), ("started", "2"), ("retry", "2"),
                     ("started", "3"), ("finished", "3")]
    assert messages(of(recs, "log")) == ["attempt 1", "attempt 2", "attempt 3"]

    attempts = [line.split() for line in file_lines(out) if line.split()[0] == run_id]
    assert [a[1] for a in attempts] == ["1", "2", "3"]  # $UDFCRON_ATTEMPT
    started_at = [int(a[2]) for a in attempts]
    for n, (retry, base) in enumerate(zip(of(recs, "retry"), (1 * SEC, 2 * SEC))):
        check_lifecycle_record(retry, d, "flaky", run_id, "retry", attempt=n + 1)
        assert retry["UDFCRON_EXIT_STATUS"] == "1"
        assert f"attempt {n + 2} of 4 in" in retry["MESSAGE"]
        next_usec = int(retry["UDFCRON_NEXT_USEC"])
        # the daemon chose the delay after attempt n started and before journald stamped the record
        assert next_usec - rt(retry) <= base, f"retry {n + 1}: delay above {base / SEC}s"
        assert base / 2 <= next_usec - started_at[n] <= base + SEC // 2, \
            f"retry {n + 1}: next attempt planned {(next_usec - started_at[n]) / SEC:.3f}s after attempt {n + 1}"
        gap = started_at[n + 1] - started_at[n]
        assert gap >= base / 2, f"attempt {n + 2} came {gap / SEC:.3f}s after attempt {n + 1}"
        assert next_usec - 0.05 * SEC <= started_at[n + 1] <= next_usec + SEC, \
            f"attempt {n + 2} started {(started_at[n + 1] - next_usec) / SEC:+.3f}s from UDFCRON_NEXT_USEC"

    broken_id, _ = first_run(d, "broken", "failed", 15)
    broken = d.records(UDFCRON_RUN_ID=broken_id)
    steps = [(r["UDFCRON_EVENT"], r["UDFCRON_ATTEMPT"]) for r in lifecycle(broken)]
    assert steps == [("scheduled", "1"), ("started", "1"), ("retry", "1"), ("started", "2"), ("failed", "2")]
    assert of(broken, "failed")[0]["UDFCRON_EXIT_STATUS"] == "7"
    assert "attempt 2 of 2 in" in of(broken, "retry")[0]["MESSAGE"]


def test_a_retry_keeps_its_time_across_a_restart(daemon, tmp_path):
    """A run waiting for its retry when the daemon is killed: after the restart its next attempt still
    waits for the time the retry record announced (the state file keeps it), and starts once."""
    out = tmp_path / "attempts"
    d = daemon([shell_schedule("flaky", "* * * * * *",
                               'echo "$UDFCRON_RUN_ID $UDFCRON_ATTEMPT $(date +%s%6N)" >> "$OUT"; '
                               'test "$UDFCRON_ATTEMPT" -ge 2', env={"OUT": out}, retries=1,
                               retry_backoff="8s", retry_backoff_max="8s")])
    run_id, recs = first_run(d, "flaky", "retry", 10)
    d.kill()
    next_usec = int(of(recs, "retry")[0]["UDFCRON_NEXT_USEC"])
    assert next_usec - time.time() * SEC > 2 * SEC  # in [4 s, 8 s] after the first attempt
    d.start()
    d.wait_records(lambda rs: of(rs, "finished"), 12, "the second attempt to finish", UDFCRON_RUN_ID=run_id)
    attempts = [line.split() for line in file_lines(out) if line.split()[0] == run_id]
    assert [a[1] for a in attempts] == ["1", "2"]
    assert int(attempts[1][2]) >= next_usec - SEC // 20, \
        f"attempt 2 started {(next_usec - int(attempts[1][2])) / SEC:.2f}s before its time"


# ---------------------------------------------------------------- 7. concurrency limit

def test_max_concurrent_runs(daemon, tmp_path):
    """max_concurrent_runs = 2 with 5 schedules firing in the same second, each run 1 s long: never more
    than 2 children at once, all 5 run, and the journal says runs wait for a free slot."""
    out = tmp_path / "runs"
    script = f"{RECORD_START}; sleep 1; {RECORD_END}"
    d = daemon([shell_schedule(f"c{i}", "* * * * * *", script, env={"OUT": out}) for i in range(5)],
               settings={"max_concurrent_runs": 2, "shutdown_timeout": "0s"})

    everyone = {d.name(f"c{i}") for i in range(5)}
    wait_for(lambda: {r["schedule"] for r in run_intervals(out).values() if "end" in r} == everyone, 15,
             "a finished run of each of the 5 schedules")
    runs = run_intervals(out)
    done = [(r["start"], r["end"]) for r in runs.values() if "end" in r]
    assert max_concurrency(done) == 2, "more than max_concurrent_runs children at once"
    first_slots = {min(r["slot"] for r in runs.values() if r["schedule"] == name) for name in everyone}
    assert len(first_slots) == 1, "the 5 schedules did not fire in the same second"
    for i in range(5):  # and the journal agrees that each finished
        assert d.records(f"c{i}", UDFCRON_EVENT="finished"), f"c{i}"
    assert any(re.fullmatch(r"\d+ runs wait for a free slot \(max_concurrent_runs = 2\)", str(m))
               for m in messages(d.daemon_log()))


def test_descriptor_limit_caps_concurrency_and_loses_no_run(daemon, tmp_path):
    """A daemon with very few descriptors (soft = hard = 96) runs no more children at once than its
    descriptors allow, says so, and still runs every schedule: none fails for 'Too many open files'."""
    out = tmp_path / "runs"
    script = f"{RECORD_START}; sleep 1; {RECORD_END}"
    d = daemon([shell_schedule(f"f{i}", "* * * * * *", script, env={"OUT": out}) for i in range(8)],
               settings={"max_concurrent_runs": 100, "shutdown_timeout": "0s"}, nofile=96)

    everyone = {d.name(f"f{i}") for i in range(8)}
    wait_for(lambda: {r["schedule"] for r in run_intervals(out).values() if "end" in r} == everyone, 20,
             "a finished run of each of the 8 schedules")
    allowed = [int(m.group(1)) for m in (re.fullmatch(r"\d+ runs wait for a free slot \(the descriptor limit "
                                                      r"allows (\d+) local runs at once\)", str(x))
                                         for x in messages(d.daemon_log())) if m]
    assert allowed, "the journal does not say that the descriptor limit holds runs back"
    done = [(r["start"], r["end"]) for r in run_intervals(out).values() if "end" in r]
    assert 1 <= max_concurrency(done) <= allowed[0] < 8
    for i in range(8):
        assert not d.records(f"f{i}", UDFCRON_EVENT="failed"), f"f{i} failed"


# ---------------------------------------------------------------- 8. parameters and secrets

SECRET_SCRIPT = """\
input=$(cat)
printf '%s' "$input" > "$DIR/stdin.json"
printf '%s' "$UDFCRON_PARAM_TOKEN" > "$DIR/env.txt"
printf '%s' "$1" > "$DIR/argv.txt"
echo "stdin: $input"
echo "env: $UDFCRON_PARAM_TOKEN"
echo "argv: $1" >&2
"""


def test_secrets_reach_the_child_and_nothing_else(daemon, tmp_path):
    """${secret:api_token} from $CREDENTIALS_DIRECTORY reaches the child (stdin JSON,
    UDFCRON_PARAM_TOKEN, argv), but its value is nowhere in the journal (raw JSON, decoded binary
    fields), in state.json or on the daemon's stderr: it is masked as [redacted]."""
    secret = f"tok-{os.urandom(12).hex()}"
    creds = tmp_path / "credentials"
    creds.mkdir()
    (creds / "api_token").write_text(secret + "\n")  # a trailing newline is not part of the value
    since = time.time() - 1
    d = daemon([{"name": "secret", "cron": "* * * * * *",
                 "command": ["/bin/sh", "-c", SECRET_SCRIPT, "sh", "${secret:api_token}"],
                 "params": {"token": "${secret:api_token}", "plain": "visible"},
                 "environment": {"DIR": str(tmp_path)}}],
               env={"CREDENTIALS_DIRECTORY": str(creds)})

    run_id, recs = first_run(d, "secret", "finished", 10)
    assert json.loads((tmp_path / "stdin.json").read_text()) == {"token": secret, "plain": "visible"}
    assert (tmp_path / "env.txt").read_text() == secret
    assert (tmp_path / "argv.txt").read_text() == secret
    # the lines the child printed are there, masked
    logs = of(recs, "log")
    assert [r["MESSAGE"] for r in logs if r["UDFCRON_STREAM"] == "stdout"] == \
        ['stdin: {"token":"[redacted]","plain":"visible"}', "env: [redacted]"]
    assert [r["MESSAGE"] for r in logs if r["UDFCRON_STREAM"] == "stderr"] == ["argv: [redacted]"]
    assert of(recs, "started")[0]["MESSAGE"].endswith(" sh [redacted]")
    assert d.stop()[0] == 0

    raw = d.journald.query(f"--since=@{int(since)}")
    assert secret not in raw
    for line in raw.splitlines():
        for value in json.loads(line).values():
            if isinstance(value, list):  # binary fields (and repeated ones) come as arrays
                for v in (value if value and isinstance(value[0], list) else [value]):
                    if all(isinstance(b, int) for b in v):
                        assert secret.encode() not in bytes(v)
    assert secret not in (d.state_dir / "state.json").read_text()
    assert secret not in d.stderr()
    assert not any(secret in p.read_text(errors="replace")
                   for p in d.state_dir.rglob("*") if p.is_file())


def test_secret_split_across_64k_pieces_is_still_masked(daemon, tmp_path):
    """A line longer than 64 KiB goes to the journal in pieces that join up to the line; a secret that
    straddles a piece boundary must not be readable in the joined pieces either."""
    secret = f"tok-{os.urandom(12).hex()}"
    creds = tmp_path / "credentials"
    creds.mkdir()
    (creds / "api_token").write_text(secret)
    # 65531 bytes of padding: the secret starts 5 bytes before the first 64 KiB boundary
    script = 'head -c 65531 /dev/zero | tr "\\0" x; printf "%s\\n" "$UDFCRON_PARAM_TOKEN"'
    d = daemon([shell_schedule("split", "* * * * * *", script, params={"token": "${secret:api_token}"})],
               env={"CREDENTIALS_DIRECTORY": str(creds)})
    run_id, recs = first_run(d, "split", "finished", 10)
    pieces = [as_bytes(r["MESSAGE"]) for r in of(recs, "log")]
    assert len(pieces) == 2, "the line was not split: the test no longer crosses a piece boundary"
    joined = b"".join(pieces)
    assert secret.encode() not in joined, "the secret is readable in the journal, split over two records"
    assert joined == b"x" * 65531 + b"[redacted]"


# ---------------------------------------------------------------- 9. --check-config

SCHEDULE_FILE = """\
schedules = (
    {{
        name = "{name}";
        cron = "{cron}";
        {work};
        {extra}
    }}
);
"""


def schedule_file(name="x", cron="*/5 * * * *", work='command = [ "/bin/true" ]', extra=""):
    return SCHEDULE_FILE.format(name=name, cron=cron, work=work, extra=extra)


KNOWN_REFS = "(known: scheduled:FORMAT, now:FORMAT, schedule, run_id, attempt, env:NAME, secret:NAME, output:STEP)"
CHECK_CASES = [
    ("unknown key", {"a.conf": schedule_file(extra='timout = "1s";')},
     ["schedules.d/a.conf:6: unknown key 'timout' (did you mean 'timeout'?)"]),
    ("wrong type", {"a.conf": schedule_file(extra='retries = "3";')},
     ["schedules.d/a.conf:6: retries: expected an integer, got a string"]),
    ("bad cron", {"a.conf": schedule_file(cron="61 * * * *")},
     ["schedules.d/a.conf:4: cron: minute field: 61 is out of range 0-59 at column 1"]),
    ("unknown zone", {"a.conf": schedule_file(extra='timezone = "Mars/Olympus_Mons";')},
     ["schedules.d/a.conf:6: timezone: unknown time zone 'Mars/Olympus_Mons'"]),
    ("duplicate names", {"a.conf": schedule_file(), "b.conf": schedule_file()},
     ["schedules.d/b.conf:3: duplicate schedule name 'x' (first defined at schedules.d/a.conf:3)"]),
    ("missing udf", {"a.conf": schedule_file(work='udf = "missing.py"')},
     ["schedules.d/a.conf:5: udf: cannot access 'schedules.d/missing.py': No such file or directory"]),
    ("bare numbers", {"a.conf": schedule_file(extra='timeout = 30; jitter = "30";')},
     ['schedules.d/a.conf:6: timeout: 30 is not a duration: write "30s"',
      'schedules.d/a.conf:6: jitter: "30" is not a duration: write "30s"']),
    ("bad reference", {"a.conf": schedule_file(extra='params = { day = "${sheduled:%F}"; };')},
     [f"schedules.d/a.conf:6: params.day: unknown reference '${{sheduled:%F}}' {KNOWN_REFS}"]),
]


def check_schedule_files(root, files):
    """udfcrond --check-config on schedules.d/FILES under root, beside a plain udfcrond.conf."""
    write_config(root, 'timezone = "UTC";\nstate_directory = "state";\n', files)
    return check_config(root)


@pytest.mark.parametrize("files, errors", [c[1:] for c in CHECK_CASES], ids=[c[0] for c in CHECK_CASES])
def test_check_config_reports_file_and_line(tmp_path, files, errors):
    """--check-config: every error as "file:line: message", a count, exit status 1, nothing on stdout."""
    proc = check_schedule_files(tmp_path, files)
    n = len(errors)
    assert proc.stderr.splitlines() == errors + [f"udfcrond: udfcrond.conf: {n} error{'s' if n > 1 else ''}"]
    assert proc.returncode == 1
    assert proc.stdout == ""


def test_check_config_accepts_a_valid_config(tmp_path):
    proc = check_schedule_files(tmp_path, {"a.conf": schedule_file(extra='timeout = "30s";')})
    assert (proc.returncode, proc.stderr) == (0, "")
    assert proc.stdout == "udfcrond: udfcrond.conf: configuration OK, 1 schedules in 2 files\n"


# ---------------------------------------------------------------- 10. reload

LONG = shell_schedule("long", "* * * * * *", "echo long starts; sleep 3; echo long ends")


def notify_after(d, since, first, then, timeout=10):
    """Waits for line `first`, then `then` after it, on the notify socket; returns the second's index."""
    i = d.notify.wait(lambda l: l == first, since, timeout, what=first)
    return d.notify.wait(lambda l: l == then, i + 1, timeout, what=f"{then} after {first}")


def test_reload_applies_a_new_config_without_touching_running_runs(daemon):
    """SIGHUP with a valid config that changes one schedule and adds another, while a run is going:
    RELOADING=1 then READY=1; the running child finishes normally; the changed schedule runs its new
    command; the new schedule fires."""
    other = {"name": "other", "cron": "* * * * * *", "command": ["/bin/echo", "other v1"]}
    d = daemon([LONG, other])
    run_id, _ = first_run(d, "long", "started", 10)

    d.configure([LONG, dict(other, command=["/bin/echo", "other v2"]),
                 {"name": "new", "cron": "* * * * * *", "command": ["/bin/echo", "new here"]}])
    mark, reloaded_at = d.notify.mark(), time.time()
    d.send(signal.SIGHUP)
    notify_after(d, mark, "RELOADING=1", "READY=1")
    assert any(m == "reloaded: 3 schedules (1 unchanged, 1 changed, 1 added, 0 removed)"
               for m in messages(d.wait_daemon_log(lambda rs: any(str(m).startswith("reloaded")
                                                                  for m in messages(rs)), 5, "reloaded")))

    recs = d.wait_records(lambda rs: of(rs, "finished", "failed", "cancelled", run=run_id), 10,
                          "the long run to end", UDFCRON_RUN_ID=run_id)
    assert names(lifecycle(recs)) == ["scheduled", "started", "finished"]
    assert of(recs, "finished")[0]["UDFCRON_EXIT_STATUS"] == "0"
    assert messages(of(recs, "log")) == ["long starts", "long ends"]

    new = d.wait_records(lambda rs: of(rs, "finished"), 10, "the new schedule to run", "new")
    assert "new here" in messages(of(new, "log"))
    d.wait_records(lambda rs: any(r["MESSAGE"] == "other v2" and rt(r) > reloaded_at * SEC for r in rs),
                   10, "the changed schedule's new command", "other", UDFCRON_EVENT="log")


def test_reload_refuses_a_broken_config_and_keeps_running(daemon):
    """SIGHUP with a broken file: the journal names file:line and what is wrong, the old schedules keep
    firing (and the running run finishes), the daemon keeps running."""
    tick = {"name": "tick", "cron": "* * * * * *", "command": ["/bin/true"]}
    d = daemon([LONG, tick])
    run_id, _ = first_run(d, "long", "started", 10)

    broken = d.schedules_dir / "60-broken.conf"
    d.configure([LONG, tick], files={broken.name: schedule_file(name=d.name("broken"), cron="61 * * * * *")})
    mark, reloaded_at = d.notify.mark(), time.time()
    d.send(signal.SIGHUP)
    notify_after(d, mark, "RELOADING=1", "READY=1")
    d.notify.wait(lambda l: l.startswith("STATUS=reload failed"), mark, 5, what="STATUS=reload failed")
    log = d.wait_daemon_log(lambda rs: any("reload refused" in str(m) for m in messages(rs)), 5,
                            "the refused reload")
    assert f"{broken}:4: cron: second field: 61 is out of range 0-59 at column 1" in messages(log)
    assert "reload refused, the running configuration stays: 1 error in the configuration" in messages(log)

    d.wait_records(lambda rs: any(int(r["UDFCRON_SCHEDULED_USEC"]) > reloaded_at * SEC for r in rs), 5,
                   "tick to fire after the refused reload", "tick", UDFCRON_EVENT="started")
    recs = d.wait_records(lambda rs: of(rs, "finished", "failed", "cancelled"), 10, "the long run to end",
                          UDFCRON_RUN_ID=run_id)
    assert names(lifecycle(recs)) == ["scheduled", "started", "finished"]
    assert d.proc.poll() is None
    assert d.records("broken") == []


def test_reload_removing_a_running_schedule_lets_its_run_finish(daemon):
    """SIGHUP with a config that drops the schedule whose child is running: the child finishes normally,
    and the schedule never fires again."""
    tick = {"name": "tick", "cron": "* * * * * *", "command": ["/bin/true"]}
    d = daemon([LONG, tick])
    run_id, _ = first_run(d, "long", "started", 10)

    d.configure([tick])
    mark, reloaded_at = d.notify.mark(), time.time()
    d.send(signal.SIGHUP)
    notify_after(d, mark, "RELOADING=1", "READY=1")
    recs = d.wait_records(lambda rs: of(rs, "finished", "failed", "cancelled"), 10, "the long run to end",
                          UDFCRON_RUN_ID=run_id)
    assert names(lifecycle(recs)) == ["scheduled", "started", "finished"]
    assert messages(of(recs, "log")) == ["long starts", "long ends"]
    assert "reloaded: 1 schedules (1 unchanged, 0 changed, 0 added, 1 removed)" in messages(d.daemon_log())

    # tick keeps firing after the run ended; long does not
    d.wait_records(lambda rs: any(int(r["UDFCRON_SCHEDULED_USEC"]) >= rt(of(recs, "finished")[0]) + SEC
                                  for r in rs), 5, "tick fires after the run", "tick", UDFCRON_EVENT="scheduled")
    later = [r for r in d.records("long") if r.get("UDFCRON_RUN_ID") != run_id]
    assert later == [], f"the removed schedule fired again: {messages(later)}"
    assert all(int(r["UDFCRON_SCHEDULED_USEC"]) < reloaded_at * SEC
               for r in d.records("long", UDFCRON_EVENT="scheduled"))


# ---------------------------------------------------------------- 11. shutdown

def test_sigterm_waits_for_running_runs(daemon, tmp_path):
    """SIGTERM while a 2 s child runs (shutdown_timeout = 10s): STOPPING=1, nothing new fires, the child
    finishes, then the daemon exits with status 0."""
    ended = tmp_path / "ended"
    d = daemon([shell_schedule("long", "* * * * * *", 'sleep 2; echo done; date +%s%6N >> "$OUT"',
                               env={"OUT": ended})],
               settings={"shutdown_timeout": "10s"})
    run_id, _ = first_run(d, "long", "started", 10)
    mark = d.notify.mark()
    stop_at = time.time()
    status, _ = d.stop(timeout=15)
    exited_at = time.time()
    assert status == 0
    d.notify.wait(lambda l: l == "STOPPING=1", mark, 2, what="STOPPING=1")

    recs = d.records(UDFCRON_RUN_ID=run_id)
    assert names(lifecycle(recs)) == ["scheduled", "started", "finished"]
    finished = of(recs, "finished")[0]
    assert finished["UDFCRON_EXIT_STATUS"] == "0"
    assert "done" in messages(of(recs, "log"))
    assert int(file_lines(ended)[0]) <= exited_at * SEC  # the daemon was still there when the child ended
    assert not [r for r in d.records("long", UDFCRON_EVENT="scheduled")
                if int(r["UDFCRON_SCHEDULED_USEC"]) > stop_at * SEC + SEC // 2]
    assert "stopping: waiting up to 10s for 1 running run" in messages(d.daemon_log())
    assert "stopped" in messages(d.daemon_log())


def test_sigterm_cancels_runs_after_shutdown_timeout(daemon):
    """SIGTERM while a 30 s child runs, shutdown_timeout = 1s: the run is cancelled, saying why, and the
    daemon exits with status 0 within a few seconds."""
    d = daemon([{"name": "forever", "cron": "* * * * * *", "command": ["/bin/sleep", "30"]}],
               settings={"shutdown_timeout": "1s"})
    run_id, _ = first_run(d, "forever", "started", 10)
    status, took = d.stop(timeout=10)
    assert status == 0
    assert took < 4, f"stopping took {took:.1f}s"
    recs = d.records(UDFCRON_RUN_ID=run_id)
    assert names(lifecycle(recs)) == ["scheduled", "started", "cancelled"]
    cancelled = of(recs, "cancelled")[0]
    check_lifecycle_record(cancelled, d, "forever", run_id, "cancelled")
    assert cancelled["UDFCRON_STOPPED_BY"] == "shutdown"
    assert re.search(r"cancelled: cancelled, stopped with SIGTERM after \d+\.\d{3}s \(the daemon is stopping, and "
                     r"shutdown_timeout passed\)$", cancelled["MESSAGE"]), cancelled["MESSAGE"]
    assert "shutdown_timeout passed; cancelling the runs still going" in messages(d.daemon_log())


# ---------------------------------------------------------------- 12. crash safety

def test_sigkill_at_random_moments_never_loses_or_repeats_a_slot(daemon, tmp_path):
    """catch_up = all: SIGKILLed at random moments and restarted, the daemon still runs every slot exactly
    once (slots missed while it was down are caught up, slots in flight are not repeated). `lost` records
    are only for runs a killed daemon had started and not seen end. (The children are near-instant and
    outlive the daemon, so there may be none.)"""
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    out = tmp_path / "slots"
    d = daemon([shell_schedule("crash", "* * * * * *", 'echo "$UDFCRON_SCHEDULED_USEC" >> "$OUT"',
                               env={"OUT": out}, catch_up="all", overlap="allow")])
    # one downtime misses two slots or more, so that catch_up = all has a backlog to run
    pauses = [2.3] + [rng.uniform(0, 0.8) for _ in range(5)]
    rng.shuffle(pauses)
    for pause in pauses:
        time.sleep(rng.uniform(0.3, 1.3))
        d.kill()
        time.sleep(pause)
        d.start()
    last_start = time.time()
    wait_lines(out, lambda ls: ls and max(map(int, ls)) >= (last_start + 2) * SEC, 10,
               "2 s of fires after the last restart")
    status, _ = d.stop()
    assert status == 0

    slots = slots_of(out)
    duplicates = sorted({s for s in slots if slots.count(s) > 1})
    assert not duplicates, f"seed {seed}: slots run twice: {duplicates}"
    missing = sorted(set(range(min(slots), max(slots) + SEC, SEC)) - set(slots))
    assert not missing, f"seed {seed}: slots never run: {missing}"

    catch_ups = [m for m in messages(d.daemon_log()) if str(m).startswith(f"{d.name('crash')}: slots missed")]
    assert any(int(re.search(r"catch_up = all runs (\d+) of them", m).group(1)) >= 2 for m in catch_ups), \
        f"seed {seed}: no catch-up after the long downtime: {catch_ups}"

    recs = d.records("crash")
    for lost in of(recs, "lost"):
        run_id = lost["UDFCRON_RUN_ID"]
        before = [r for r in recs if r.get("UDFCRON_RUN_ID") == run_id and r["_PID"] != lost["_PID"]]
        assert "started" in names(before), f"seed {seed}: lost run {run_id} never started"
        assert not of(before, "finished", "failed", "timed_out", "cancelled"), \
            f"seed {seed}: run {run_id} ended, yet was reported lost"
        assert "the daemon stopped while it ran" in lost["MESSAGE"]


def test_child_killed_with_the_daemon_is_recorded_lost(daemon, tmp_path):
    """The daemon and its running child die together (as systemd's KillMode=control-group does): after a
    restart that run is recorded `lost` (retries = 0), its slot is not run again, and firing goes on."""
    out = tmp_path / "runs"
    d = daemon([shell_schedule("victim", "* * * * * *",
                               f'echo $$$$ > "$DIR/pid.$UDFCRON_RUN_ID"; {RECORD_START}; sleep 1; {RECORD_END}',
                               env={"OUT": out, "DIR": tmp_path})])
    runs = wait_for(lambda: run_intervals(out), 10, "a run to start")
    run_id, run = next(iter(runs.items()))
    child = int(wait_for(lambda: file_lines(tmp_path / f"pid.{run_id}"), 2, "the pid file")[0])
    d.kill()
    os.killpg(child, signal.SIGKILL)  # the child is its own process group's leader
    wait_for(lambda: process_gone(child), 2, "the child to die")

    d.start()
    recs = d.wait_records(lambda rs: of(rs, "lost"), 5, "the lost record", UDFCRON_RUN_ID=run_id)
    lost = of(recs, "lost")[0]
    check_lifecycle_record(lost, d, "victim", run_id, "lost")
    assert lost["_PID"] == str(d.pid)  # said by the new daemon
    assert "the daemon stopped while it ran" in lost["MESSAGE"]
    assert names(lifecycle(recs)) == ["scheduled", "started", "lost"]
    d.wait_records(lambda rs: any(r["_PID"] == str(d.pid) for r in rs), 5, "firing to go on", "victim",
                   UDFCRON_EVENT="finished")
    assert [r["slot"] for r in run_intervals(out).values()].count(run["slot"]) == 1
    assert "end" not in run_intervals(out)[run_id]


def test_crash_right_after_a_run_ends_does_not_run_its_slot_again(daemon, tmp_path):
    """The crash-safety rule of the test above, at the one moment random kills rarely hit: the daemon is
    stalled (strace) right after it removed the start marker of a run that ended, and SIGKILLed there.
    After a restart that slot must not run again."""
    strace = shutil.which("strace")
    if not strace:
        pytest.skip("needs strace to stop the daemon at that moment")
    out = tmp_path / "slots"
    d = daemon([shell_schedule("crash", "* * * * * *", 'echo "$UDFCRON_SCHEDULED_USEC" >> "$OUT"',
                               env={"OUT": out}, catch_up="all", overlap="allow")])
    log = tmp_path / "strace.log"
    with open(log, "w") as f:  # each unlink(2) returns, then the daemon stays stopped for 5 s
        tracer = subprocess.Popen([strace, "-s", "4096", "-p", str(d.pid), "-e", "trace=unlink,unlinkat",
                                   "-e", "inject=unlink,unlinkat:delay_exit=5000000"],
                                  stdout=subprocess.DEVNULL, stderr=f)
    try:
        def marker_removed():
            if tracer.poll() is not None:
                pytest.skip(f"strace cannot attach here: {log.read_text()}")
            # unlink("/.../started/RUN_ID.1") = 0, or unlinkat(AT_FDCWD, "...", 0) = 0
            return re.search(r'/started/([0-9a-f]{16})\.1"(?:, \w+)?\) += 0', log.read_text())
        run_id = wait_for(marker_removed, 5, "the daemon to remove a start marker").group(1)
        d.send(signal.SIGKILL)  # while it is stopped right after that unlink
    finally:
        tracer.kill()
        tracer.wait()
    d.kill()  # reaps it: a traced process is reported to its parent once the tracer is gone
    slot = int(d.records(UDFCRON_RUN_ID=run_id, UDFCRON_EVENT="scheduled")[0]["UDFCRON_SCHEDULED_USEC"])
    wait_lines(out, lambda ls: slot in map(int, ls), 2, "the run's own append")

    restarted = time.time()
    d.start()
    wait_lines(out, lambda ls: max(map(int, ls)) >= (restarted + 1) * SEC, 8, "fires after the restart")
    assert d.stop()[0] == 0
    slots = slots_of(out)
    assert slots.count(slot) == 1, f"slot {slot} ran {slots.count(slot)} times"
    assert names(lifecycle(d.records(UDFCRON_RUN_ID=run_id))).count("started") == 1


def prepared_runs(state_path):
    runs = json.loads(state_path.read_text()).get("runs", []) if state_path.exists() else []
    return [r for r in runs if r["phase"] == "prepared"]


def test_a_slot_is_recorded_before_it_comes(daemon):
    """The run of the next slot is in the state file (phase "prepared") before the slot, so that nothing
    stands between the slot and the start; at the slot that very run starts, ends and leaves the state."""
    d = daemon([{"name": "tick", "cron": "*/3 * * * * *", "command": ["/bin/true"]}])
    state = d.state_dir / "state.json"
    rec = wait_for(lambda: prepared_runs(state), 6, "a prepared run in the state file")[0]
    assert rec["schedule"] == d.name("tick") and rec["slot_usec"] % (3 * SEC) == 0
    recs = d.wait_records(lambda rs: of(rs, "finished"), 6, "the prepared run to end",
                          UDFCRON_RUN_ID=rec["run_id"])
    assert names(lifecycle(recs)) == ["scheduled", "started", "finished"]
    assert int(recs[0]["UDFCRON_SCHEDULED_USEC"]) == rec["slot_usec"]
    wait_for(lambda: all(r["run_id"] != rec["run_id"] for r in json.loads(state.read_text())["runs"]), 5,
             "the run to leave the state file")


def test_prepared_runs_left_by_a_crash(daemon):
    """A daemon that died between preparing a slot and the slot leaves a prepared record. Without a start
    marker the run never started: the record goes and the slot is treated like any missed one (catch_up =
    none: not run). With one it did start: it is reported lost, and catch_up = all does not run its slot
    again."""
    now = datetime.datetime.now(datetime.timezone.utc)
    slot = int(datetime.datetime(now.year, 1, 1, tzinfo=datetime.timezone.utc).timestamp()) * SEC
    year_before = int(datetime.datetime(now.year - 1, 1, 1, tzinfo=datetime.timezone.utc).timestamp()) * SEC
    d = daemon([{"name": "never", "cron": "0 0 0 1 1 *", "command": ["/bin/true"], "catch_up": "none"},
                {"name": "began", "cron": "0 0 0 1 1 *", "command": ["/bin/true"], "catch_up": "all"}],
               start=False)
    ids = {"never": "00000000000000aa", "began": "00000000000000bb"}
    d.state_dir.mkdir()
    (d.state_dir / "state.json").write_text(json.dumps({
        "version": 1,
        "schedules": [{"name": d.name(s), "last_slot_usec": year_before} for s in ("began", "never")],
        "runs": [{"run_id": ids[s], "schedule": d.name(s), "engine": "local", "slot_usec": slot, "attempt": 1,
                  "phase": "prepared"} for s in ("never", "began")]}))
    (d.runtime_dir / "started").mkdir(parents=True)
    (d.runtime_dir / "started" / f"{ids['began']}.1").touch()
    d.start()

    lost = d.wait_records(lambda rs: of(rs, "lost"), 5, "the started one reported lost", "began")
    assert [r["UDFCRON_RUN_ID"] for r in lifecycle(lost)] == [ids["began"]]
    state = d.state_dir / "state.json"
    wait_for(lambda: not json.loads(state.read_text())["runs"], 5, "both run records to go")
    # the catch-up of both has been decided by now: nothing ran
    log = messages(d.daemon_log())
    assert f"{d.name('never')}: slots missed" in " ".join(map(str, log))
    assert not any(str(m).startswith(f"{d.name('began')}: slots missed") for m in log), log
    assert names(lifecycle(d.records("never"))) == []
    assert names(lifecycle(d.records("began"))) == ["lost"]
    assert d.stop()[0] == 0


def test_corrupt_state_file_is_moved_aside(daemon):
    """A state.json that is not JSON is renamed state.json.corrupt-<time>, reported, and the daemon
    starts with an empty state (and writes a valid one)."""
    d = daemon([{"name": "tick", "cron": "* * * * * *", "command": ["/bin/true"]}], start=False)
    d.state_dir.mkdir()
    garbage = b"\x00{this is not json\xff"
    (d.state_dir / "state.json").write_bytes(garbage)
    d.start()

    aside = list(d.state_dir.glob("state.json.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == garbage
    log = d.wait_daemon_log(lambda rs: any("is corrupt" in str(m) for m in messages(rs)), 5, "the report")
    report = next(r for r in log if "is corrupt" in str(r["MESSAGE"]))
    assert report["MESSAGE"].startswith(f"state file {d.state_dir / 'state.json'} is corrupt (")
    assert report["MESSAGE"].endswith(f"moved aside to {aside[0]}, starting with an empty state")
    assert report["PRIORITY"] == "4"
    state = wait_for(lambda: (d.state_dir / "state.json").exists() and
                     json.loads((d.state_dir / "state.json").read_text()), 5, "a new state file")
    assert isinstance(state, dict)
    d.wait_records(lambda rs: of(rs, "finished"), 5, "a run after the corrupt state", "tick")


# ---------------------------------------------------------------- 13. DST on a running daemon

SPRING_GAP_END = 1710054000  # 2024-03-10T07:00:00Z: America/New_York goes 02:00 EST -> 03:00 EDT
FALL_REPEAT = 1730613600     # 2024-11-03T06:00:00Z: America/New_York goes 02:00 EDT -> 01:00 EST


def clock_offset_to(instant):
    """$UDFCRON_TEST_CLOCK_OFFSET that makes the daemon's "now" start at `instant` (give or take 1 s)."""
    return str(instant - int(time.time()))


def test_spring_forward_on_a_running_daemon(daemon, tmp_path):
    """3 s before the 2024 US spring-forward: `0 30 2 * * *` (02:30 does not exist that day) fires once,
    at the end of the gap (03:00 EDT = 07:00:00Z, which is also its recorded slot); `*/2 * * * * *`
    follows real time across the jump, every 2 s, without duplicates."""
    fixed, wild = tmp_path / "fixed", tmp_path / "wild"
    record = 'echo "$UDFCRON_SCHEDULED_USEC" >> "$OUT"'
    d = daemon([shell_schedule("fixed", "0 30 2 * * *", record, env={"OUT": fixed}, timezone="America/New_York"),
                shell_schedule("wild", "*/2 * * * * *", record, env={"OUT": wild}, timezone="America/New_York")],
               env={"UDFCRON_TEST_CLOCK_OFFSET": clock_offset_to(SPRING_GAP_END - 3)})

    wait_lines(wild, lambda ls: ls and int(ls[-1]) >= (SPRING_GAP_END + 2) * SEC, 12, "wild fires past the gap")
    wait_lines(fixed, lambda ls: ls, 2, "the fixed-time fire")
    assert slots_of(fixed) == [SPRING_GAP_END * SEC]
    scheduled = d.records("fixed", UDFCRON_EVENT="scheduled")
    assert [int(r["UDFCRON_SCHEDULED_USEC"]) for r in scheduled] == [SPRING_GAP_END * SEC]

    slots = slots_of(wild)
    assert SPRING_GAP_END * SEC in slots
    assert slots == list(range(slots[0], slots[-1] + 2 * SEC, 2 * SEC)), slots
    assert slots[0] < SPRING_GAP_END * SEC


def test_fall_back_on_a_running_daemon(daemon, tmp_path):
    """Before the 2024 US fall-back: the fixed-time `0 30 1 * * *`, whose first 01:30 (EDT) has passed,
    does not fire at the repeated 01:30 EST: its next fire is the next day. `*/2 * * * * *` keeps firing
    every 2 s across 06:00:00Z (local 01:59:58 EDT, then 01:00:00 EST) without duplicates."""
    fixed = daemon([{"name": "fixed", "cron": "0 30 1 * * *", "command": ["/bin/true"],
                     "timezone": "America/New_York"}],
                   env={"UDFCRON_TEST_CLOCK_OFFSET": clock_offset_to(FALL_REPEAT - 3)})
    statuses = [l for l in fixed.notify.lines() if l.startswith("STATUS=")]
    assert statuses and all(l.endswith(f"next: {fixed.name('fixed')} at 2024-11-04T01:30") for l in statuses), \
        statuses
    status, _ = fixed.stop()
    assert status == 0

    wild = tmp_path / "wild"
    d = daemon([shell_schedule("wild", "*/2 * * * * *", 'echo "$UDFCRON_SCHEDULED_USEC" >> "$OUT"',
                               env={"OUT": wild}, timezone="America/New_York")],
               env={"UDFCRON_TEST_CLOCK_OFFSET": clock_offset_to(FALL_REPEAT - 3)})
    wait_lines(wild, lambda ls: ls and int(ls[-1]) >= (FALL_REPEAT + 2) * SEC, 10, "wild fires past 06:00Z")
    slots = slots_of(wild)
    assert FALL_REPEAT * SEC in slots
    assert slots == list(range(slots[0], slots[-1] + 2 * SEC, 2 * SEC)), slots
    # the status line's local time goes back an hour with the clocks
    statuses = [l for l in d.notify.lines() if l.startswith("STATUS=") and "next:" in l]
    local = [re.search(r" at (\S+)$", l).group(1) for l in statuses]
    assert "2024-11-03T01:59" in local and "2024-11-03T01:00" in local
    assert local.index("2024-11-03T01:59") < len(local) - 1 - local[::-1].index("2024-11-03T01:00")


# ---------------------------------------------------------------- 14. clock steps

def test_clock_steps_forward_and_back(daemon, tmp_path):
    """The clock jumps an hour ahead (test clock file + SIGUSR2): the daemon says so, catch_up = last runs
    one run for the missed hour (its latest slot), then fires on time. The clock goes back an hour:
    nothing that already fired fires again."""
    clock, out = tmp_path / "clock", tmp_path / "slots"
    clock.write_text("0\n")
    d = daemon([shell_schedule("tick", "* * * * * *", 'echo "$UDFCRON_SCHEDULED_USEC" >> "$OUT"',
                               env={"OUT": out}, catch_up="last")],
               env={"UDFCRON_TEST_CLOCK_FILE": str(clock)})
    before = wait_lines(out, lambda ls: len(ls) >= 2, 10, "two fires")
    last_before = int(before[-1])

    def clock_set_records():
        return [r for r in d.daemon_log() if str(r.get("MESSAGE")).startswith("the clock was set (now ")]

    clock.write_text("3600\n")
    d.send(signal.SIGUSR2)
    step = wait_for(clock_set_records, 5, "the clock-set record")[0]
    now = re.search(r"\(now (\S+)\)", step["MESSAGE"]).group(1)
    step_second = int(datetime.datetime.fromisoformat(now).timestamp()) * SEC
    assert step_second >= (last_before + 3590 * SEC)
    wait_lines(out, lambda ls: int(ls[-1]) >= step_second + 2 * SEC, 8, "on-time fires after the step")

    slots = slots_of(out)
    pre = [s for s in slots if s <= last_before + 10 * SEC]
    post = [s for s in slots if s > last_before + 10 * SEC]
    # the catch-up run is for the latest missed slot: the second of the step (or the next, had the
    # timer run a second later than the log line); the slots before it in the missed hour never run
    assert post[0] in (step_second, step_second + SEC), (post[0], step_second)
    assert post == list(range(post[0], post[-1] + SEC, SEC)), post
    assert pre == list(range(pre[0], pre[-1] + SEC, SEC)), pre
    assert any(m.endswith("catch_up = last runs 1 of them") and m.startswith(f"{d.name('tick')}: slots missed")
               for m in messages(d.daemon_log()) if isinstance(m, str))

    clock.write_text("0\n")
    fired = slots_of(out)
    d.send(signal.SIGUSR2)
    wait_for(lambda: len(clock_set_records()) >= 2, 5, "the second clock-set record")
    time.sleep(1.5)  # an observation window: a slot fired again would fire in it
    again = slots_of(out)
    assert len(again) == len(set(again)), "a slot fired twice"
    assert [s for s in again[len(fired):] if s <= max(fired)] == [], "an already fired slot fired again"


# ---------------------------------------------------------------- 15. children's output

def test_output_is_delivered_whole_and_does_not_block_the_loop(daemon, tmp_path):
    """A child's 1 MiB line arrives in 64 KiB records that join up to it, binary bytes (NUL, invalid
    UTF-8) arrive unchanged as a binary MESSAGE, and a last line without a newline arrives at exit;
    nothing is lost, and another schedule keeps firing every second meanwhile."""
    big = b"".join(b"%08d" % i for i in range(131072))  # 1 MiB, no newline, every 8 bytes different
    binary = b"bin\x00ary \xff\xfe \xc3( end"
    (tmp_path / "big").write_bytes(big)
    (tmp_path / "binary").write_bytes(binary + b"\n")
    ticks, interval = tmp_path / "ticks", tmp_path / "interval"
    d = daemon([
        shell_schedule("output", "* * * * * *",
                       f'{RECORD_START}; cat "$DIR/big"; echo; cat "$DIR/binary"; sleep 2.5; {RECORD_END}; '
                       'printf "last words, no newline"', env={"DIR": tmp_path, "OUT": interval}),
        shell_schedule("tick", "* * * * * *", 'echo "$UDFCRON_SCHEDULED_USEC" >> "$OUT"', env={"OUT": ticks}),
    ])
    run_id, _ = first_run(d, "output", "finished", 15)
    recs = d.records(UDFCRON_RUN_ID=run_id)
    logs = of(recs, "log")
    assert all(r["UDFCRON_STREAM"] == "stdout" for r in logs)
    pieces = [as_bytes(r["MESSAGE"]) for r in logs]
    assert len(pieces) == 18, [len(p) for p in pieces]
    assert [len(p) for p in pieces[:16]] == [64 * 1024] * 16
    assert b"".join(pieces[:16]) == big
    assert isinstance(logs[16]["MESSAGE"], bytes), "binary MESSAGE not stored as binary"
    assert pieces[16] == binary
    assert pieces[17] == b"last words, no newline"
    assert of(recs, "finished")[0]["UDFCRON_EXIT_STATUS"] == "0"

    run = run_intervals(interval)[run_id]
    during = [s for s in slots_of(ticks) if run["start"] <= s <= run["end"]]
    assert len(during) >= 2, f"tick fired {len(during)} times during the 2.5 s output run"
    slots = slots_of(ticks)
    assert slots == list(range(slots[0], slots[-1] + SEC, SEC)), slots
