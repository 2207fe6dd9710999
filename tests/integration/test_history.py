"""
udfcronctl history and logs: runs read back from the real journald, written by the real daemon (and, for
cases a daemon makes only by chance, by daemon/journal.c through the journal driver, or forged on the
journal's native socket), with the daemon running and stopped.
"""
import json
import os
import pty
import re
import select
import socket
import subprocess
import time
import uuid

import pytest

from conftest import BUILD, wait_for
from test_daemon import of, rt, shell_schedule
from test_journal import Driver

SCHEDULED_USEC = "1795366800000000"  # 2026-11-22T17:00:00Z
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture
def driver(journal_driver):
    return Driver(journal_driver)


def new_schedule():
    return "h" + uuid.uuid4().hex[:12]


def run_ids(n):
    """n run ids that sort in the order they are written (journal times may tie within a microsecond)."""
    base = uuid.uuid4().int & ((1 << 60) - 1)
    return [f"{base + i:016x}" for i in range(n)]


def history(ctl, schedule, *args):
    r = ctl("history", schedule, "--json", *args)
    assert r.status == 0, r.err
    return json.loads(r.out)


def event(name, schedule, run_id, message="", attempt=1, **fields):
    return ("event", dict(event=name, message=message, schedule=schedule, run_id=run_id, engine="local",
                          attempt=str(attempt), scheduled=SCHEDULED_USEC, **fields))


def output(stream, line, schedule, run_id, attempt=1):
    return ("output", dict(stream=stream, line=line, schedule=schedule, run_id=run_id, engine="local",
                           attempt=str(attempt), scheduled=SCHEDULED_USEC))


# ---------------------------------------------------------------- runs of the real daemon

def test_history_and_logs_of_real_runs_with_the_daemon_running_and_stopped(daemon, ctl):
    d = daemon([
        shell_schedule("ok", "* * * * * *", "echo out-$UDFCRON_ATTEMPT; echo err-line >&2"),
        shell_schedule("bad", "* * * * * *", "echo about to fail; exit 3"),
        shell_schedule("flaky", "*/2 * * * * *", "test $UDFCRON_ATTEMPT -ge 2", retries=1,
                       retry_backoff="1s"),
        shell_schedule("slow", "*/2 * * * * *", "sleep 5", timeout="1s"),
    ])
    ended = ("finished", "failed", "timed_out")
    for short, count in (("ok", 2), ("bad", 2), ("flaky", 1), ("slow", 1)):
        d.wait_records(lambda rs, n=count: len(of(rs, *ended)) >= n, 15, f"{count} ended runs", short)

    running = history(ctl, d.name("ok"))
    assert len(running) >= 2 and all(r["schedule"] == d.name("ok") for r in running)

    status, _ = d.stop()
    assert status == 0
    # from here on the daemon is down: everything comes from the journal alone
    for short in ("ok", "bad", "flaky", "slow"):
        recs = d.records(short)
        runs = history(ctl, d.name(short), "-n", "1000")
        by_id = {r["run_id"]: r for r in runs}
        began = [r["UDFCRON_RUN_ID"] for r in of(recs, "scheduled", "skipped")]
        assert [r["run_id"] for r in runs] == began, short  # every run, in the order they began
        for end in of(recs, *ended):
            run = by_id[end["UDFCRON_RUN_ID"]]
            assert run["ended"] is True
            assert run["duration_usec"] == int(end["UDFCRON_DURATION_USEC"])
            exit_status = end.get("UDFCRON_EXIT_STATUS")
            assert run.get("exit_status") == (int(exit_status) if exit_status else None)
            assert run["end_usec"] == rt(end)
            assert run["engine"] == "local"
            assert run["scheduled_usec"] == int(end["UDFCRON_SCHEDULED_USEC"])
            assert end["MESSAGE"].endswith(run["message"]) and run["message"]
            first = [r for r in recs if r["UDFCRON_RUN_ID"] == end["UDFCRON_RUN_ID"]][0]
            assert run["begin_usec"] == rt(first)

    ok = history(ctl, d.name("ok"), "-n", "1000")
    assert {r["outcome"] for r in ok if r["ended"]} == {"succeeded"}
    assert all(r["exit_status"] == 0 and r["attempts"] == 1 for r in ok if r["ended"])
    bad = [r for r in history(ctl, d.name("bad"), "-n", "1000") if r["ended"]]
    assert {(r["outcome"], r["exit_status"]) for r in bad} == {("failed", 3)}
    assert all("exited with status 3" in r["message"] for r in bad)
    flaky = history(ctl, d.name("flaky"), "-n", "1000")
    assert any(r["outcome"] == "succeeded" and r["attempts"] == 2 for r in flaky), flaky
    slow = history(ctl, d.name("slow"), "-n", "1000")
    assert any(r["outcome"] == "timed_out" for r in slow), slow

    # -n: the newest runs only, still oldest first
    assert [r["run_id"] for r in history(ctl, d.name("ok"), "-n", "2")] == [r["run_id"] for r in ok[-2:]]

    # the table: a header, then one line per run, no colours off a terminal
    table = ctl("history", d.name("bad"), "-n", "1000")
    assert table.status == 0 and table.err == ""
    assert table.lines[0].split() == ["TIME", "RUN", "ATTEMPTS", "OUTCOME", "DURATION", "EXIT", "MESSAGE"]
    rows = table.lines[1:]
    assert len(rows) == len(history(ctl, d.name("bad"), "-n", "1000"))
    for row, run in zip(rows, history(ctl, d.name("bad"), "-n", "1000")):
        cols = row.split(None, 6)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", cols[0])
        assert cols[1] == run["run_id"] and cols[3] == run["outcome"]
        if run["ended"]:
            assert cols[5] == "3" and cols[6] == run["message"]
    assert "\x1b" not in table.out

    # logs: lifecycle records and output lines of one run, in order
    run_id = ok[0]["run_id"]
    logs = ctl("logs", run_id)
    assert logs.status == 0, logs.err
    texts = [line.split(" ", 1)[1] for line in logs.lines]
    name = d.name("ok")
    assert texts[0] == f"{name}[{run_id}] #1 scheduled: fired"
    assert texts[1].startswith(f"{name}[{run_id}] #1 started: sh -c ")
    assert sorted(texts[2:4]) == ["! err-line", "| out-1"]
    assert re.fullmatch(rf"{re.escape(name)}\[{run_id}\] #1 finished: in \d+\.\d+s", texts[4])
    assert len(texts) == 5


def test_logs_follow_ends_with_the_run(daemon, ctl):
    """-f prints what is there, then what comes, and exits when the run's end record arrives."""
    d = daemon([shell_schedule("tail", "*/3 * * * * *", "echo one; sleep 1; echo two; sleep 1; echo three")])
    recs = d.wait_records(lambda rs: of(rs, "started"), 10, "a started record", "tail")
    run_id = of(recs, "started")[0]["UDFCRON_RUN_ID"]
    proc = subprocess.Popen([str(BUILD / "udfcronctl"), "logs", "-f", run_id], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=15)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    lines = [line.split(" ", 1)[1] for line in out.splitlines()]
    assert [l for l in lines if l.startswith("| ")] == ["| one", "| two", "| three"]
    assert "finished: in " in lines[-1]


# ---------------------------------------------------------------- what the daemon writes only by chance

def test_history_folds_attempts_and_tells_runs_in_flight(journald, driver, ctl):
    s = new_schedule()
    r = run_ids(6)
    driver([
        event("scheduled", s, r[0], "fired"), event("started", s, r[0], "sh -c x"),
        event("retry", s, r[0], "exited with status 1; attempt 2 of 2 in 1.0s", exit="1", duration="5000"),
        event("started", s, r[0], "sh -c x", attempt=2),
        event("finished", s, r[0], "in 0.007s", attempt=2, exit="0", duration="7000"),
        event("skipped", s, r[1], "the previous run is still active"),
        event("scheduled", s, r[2], "fired"), event("started", s, r[2], "sh -c y"),
        event("scheduled", s, r[3], "fired"), event("started", s, r[3], "sh -c z"),
        event("retry", s, r[3], "timed out; attempt 2 of 3 in 30.0s", duration="1000000"),
        event("scheduled", s, r[4], "run requested"),
        event("scheduled", s, r[5], "fired"), event("cancelled", s, r[5], "by udfcronctl after 0.000s"),
    ])
    journald.records(UDFCRON_SCHEDULE=s, expect=14)

    runs = history(ctl, s)
    assert [x["run_id"] for x in runs] == r
    assert [x["outcome"] for x in runs] == ["succeeded", "skipped", "running", "retrying", "waiting", "cancelled"]
    assert [x["ended"] for x in runs] == [True, True, False, False, False, True]
    assert [x["attempts"] for x in runs] == [2, 1, 1, 1, 1, 1]
    assert runs[0]["exit_status"] == 0 and runs[0]["duration_usec"] == 7000 and runs[0]["message"] == "in 0.007s"
    assert runs[1]["message"] == "the previous run is still active"
    assert "exit_status" not in runs[2] and "end_usec" not in runs[2]
    assert runs[3]["message"] == "timed out; attempt 2 of 3 in 30.0s"
    assert all(x["scheduled_usec"] == int(SCHEDULED_USEC) for x in runs)
    assert [x["run_id"] for x in history(ctl, s, "-n", "2")] == r[4:]

    table = ctl("history", s).lines
    assert [line.split()[3] for line in table[1:]] == [x["outcome"] for x in runs]
    assert table[1].split()[4] == "7ms" and table[4].split()[4] == "1.000s"


def test_forged_and_damaged_records_neither_break_nor_leak_into_the_output(journald, ctl):
    """Anyone may log UDFCRON_* fields: bad values count as absent, text is escaped, JSON stays JSON."""
    s = new_schedule()
    r = run_ids(3)
    fields = [
        # a run whose fields are all wrong but its id
        [("UDFCRON_EVENT", "scheduled"), ("UDFCRON_ATTEMPT", "-1"), ("UDFCRON_SCHEDULED_USEC", "12abc"),
         ("MESSAGE", "x")],
        [("UDFCRON_EVENT", "failed"), ("UDFCRON_ATTEMPT", "99999999999999999999999"),
         ("UDFCRON_EXIT_STATUS", "1e3"), ("UDFCRON_DURATION_USEC", "-5"),
         ("MESSAGE", f"{s}[{r[0]}] #1 failed: \x1b[2Jcleared\x07 \xff\xfe bytes")],
        # an unknown event, and one without a run id: ignored
        [("UDFCRON_EVENT", "exploded"), ("MESSAGE", "?")],
        [("UDFCRON_EVENT", "finished"), ("MESSAGE", "no run id")],
        # a fine run after them
        [("UDFCRON_EVENT", "scheduled"), ("UDFCRON_ATTEMPT", "1"), ("MESSAGE", "fired")],
        [("UDFCRON_EVENT", "finished"), ("UDFCRON_ATTEMPT", "1"), ("UDFCRON_EXIT_STATUS", "0"),
         ("MESSAGE", f"{s}[{r[1]}] #1 finished: in 1.000s")],
    ]
    run_of = [r[0], r[0], r[2], None, r[1], r[1]]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.connect("/run/systemd/journal/socket")
        for rec, run in zip(fields, run_of):
            rec = [("UDFCRON_SCHEDULE", s)] + ([("UDFCRON_RUN_ID", run)] if run else []) + rec
            payload = b""
            for k, v in rec:
                v = v.encode("latin-1") if "\xff" in v else v.encode()
                payload += k.encode() + b"\n" + len(v).to_bytes(8, "little") + v + b"\n"  # binary-safe form
            sock.send(payload)
    journald.records(UDFCRON_SCHEDULE=s, expect=6)

    r0, r1 = history(ctl, s)  # valid JSON despite the bytes
    assert r0["run_id"] == r[0] and r0["outcome"] == "failed"
    assert r0["attempts"] == 0 and "exit_status" not in r0 and "duration_usec" not in r0
    assert "scheduled_usec" not in r0
    assert r0["message"] == "\x1b[2Jcleared\x07 \ufffd\ufffd bytes"  # JSON escapes control characters
    assert r1["run_id"] == r[1] and r1["outcome"] == "succeeded" and r1["exit_status"] == 0

    table = ctl("history", s)
    assert "\x1b" not in table.out and "\x07" not in table.out
    assert "\\x1b[2Jcleared\\x07 \\xff\\xfe bytes" in table.lines[1]


def test_logs_follow_waits_for_a_run_that_has_not_started(journald, driver, ctl):
    s = new_schedule()
    (run,) = run_ids(1)
    proc = subprocess.Popen([str(BUILD / "udfcronctl"), "logs", "--follow", run], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        driver([event("scheduled", s, run, "fired"), event("started", s, run, "sh -c x"),
                output("stdout", "first", s, run)])
        journald.records(UDFCRON_RUN_ID=run, expect=3)
        time.sleep(0.3)
        assert proc.poll() is None  # no end yet: still following
        driver([output("stderr", "second", s, run), event("failed", s, run, "exited with status 2", exit="2")])
        out, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    texts = [line.split(" ", 1)[1] for line in out.splitlines()]
    assert texts == [f"{s}[{run}] #1 scheduled: fired", f"{s}[{run}] #1 started: sh -c x", "| first",
                     "! second", f"{s}[{run}] #1 failed: exited with status 2"]


def run_in_pty(args, env):
    """Runs args with stdout and stderr on a new terminal; returns what it wrote."""
    main, sub = pty.openpty()
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=sub, stderr=sub, env=env)
    os.close(sub)
    out = b""
    try:
        while True:
            ready, _, _ = select.select([main], [], [], 10)
            if not ready:
                break
            try:
                chunk = os.read(main, 65536)
            except OSError:  # EIO: the other side is closed
                break
            if not chunk:
                break
            out += chunk
    finally:
        proc.wait(10)
        os.close(main)
    return out.decode(errors="replace")


def test_colours_only_on_a_terminal_and_never_with_no_color(journald, driver, ctl):
    s = new_schedule()
    (run,) = run_ids(1)
    driver([event("scheduled", s, run, "fired"), output("stderr", "warned", s, run),
            event("failed", s, run, "exited with status 1", exit="1")])
    journald.records(UDFCRON_RUN_ID=run, expect=3)
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "TERM")}
    env["TERM"] = "xterm"
    for args in (["history", s], ["logs", run]):
        binary = [str(BUILD / "udfcronctl"), *args]
        coloured = run_in_pty(binary, env)
        assert ANSI.search(coloured), coloured
        plain = run_in_pty(binary, dict(env, NO_COLOR="1"))
        assert "\x1b" not in plain and ANSI.sub("", coloured) == plain
        assert "\x1b" not in ctl(*args).out  # a pipe


def test_usage_and_nothing_found(journald, ctl):
    for args in (["history"], ["history", "a", "b"], ["history", "bad name"], ["history", "x" * 65],
                 ["history", "x", "-n", "0"], ["history", "x", "-n", "abc"], ["history", "x", "--bogus"],
                 ["logs"], ["logs", "xyz"], ["logs", "0123456789abcdef0"], ["logs", "a", "b"]):
        r = ctl(*args)
        assert r.status == 2, (args, r.out, r.err)
        assert r.out == "" and r.err
    missing = ctl("history", new_schedule())
    assert missing.status == 0 and missing.out == "" and "no records of schedule" in missing.err
    assert ctl("history", new_schedule(), "--json").out == "[]\n"
    gone = ctl("logs", run_ids(1)[0])
    assert gone.status == 1 and "no records of run" in gone.err
    assert ctl("history", "--help").status == 0 and ctl("logs", "--help").status == 0
    upper = ctl("logs", run_ids(1)[0].upper())
    assert upper.status == 1  # accepted, matched in lower case
