"""
udfcronctl against a running udfcrond over its control socket: every command, --json parsed and checked,
permission refusals for `nobody`, run --wait exit statuses, a daemon that is down, and garbage, oversized,
slow and flooding clients that must never hurt the daemon.

The `daemon` fixture (conftest.py) puts each daemon's control socket in a short directory every user can
reach; `Daemon.ctl()` runs build/udfcronctl against it, as `nobody` when asked (setpriv).
"""
import datetime
import json
import os
import pty
import random
import re
import select
import socket
import stat
import subprocess
import time
from zoneinfo import ZoneInfo

import pytest

from conftest import BUILD, wait_for
from test_daemon import file_lines, of, shell_schedule, slots_of, wait_lines

SEC = 1_000_000
# Fires on 29 February at midnight: never while a test runs.
NEVER = "0 0 29 2 *"
ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="running the client as nobody needs root")


def json_out(result):
    assert result.status == 0, result.err
    return json.loads(result.out)


def by_name(reply):
    return {s["name"]: s for s in reply["schedules"]}


def next_daily(now_usec, hour, minute, zone):
    """The first hour:minute strictly after now in zone, in usec (no DST change in between)."""
    tz = ZoneInfo(zone)
    now = datetime.datetime.fromtimestamp(now_usec / SEC, tz)
    day = now.date()
    while True:
        candidate = datetime.datetime.combine(day, datetime.time(hour, minute), tz)
        if candidate > now:
            return int(candidate.timestamp()) * SEC
        day += datetime.timedelta(days=1)


# ---------------------------------------------------------------- list and status

def test_list_as_a_table_and_as_json(daemon):
    """list --json: every schedule sorted by name with its expression, zone, next fire (usec and local ISO
    time), state, last result and run counts; the table shows the same with the relative next fire."""
    d = daemon([
        shell_schedule("a-berlin", "30 2 * * *", "true", timezone="Europe/Berlin"),
        shell_schedule("b-off", NEVER, "true", enabled=False),
        shell_schedule("c-paused", NEVER, "true"),
    ])
    assert d.ctl("pause", d.name("c-paused")).status == 0
    assert d.ctl("run", "--wait", d.name("b-off")).status == 0  # a disabled schedule still runs by hand

    reply = json_out(d.ctl("list", "--json"))
    rows = by_name(reply)
    assert list(rows) == [d.name("a-berlin"), d.name("b-off"), d.name("c-paused")]
    a = rows[d.name("a-berlin")]
    expected = next_daily(reply["now_usec"], 2, 30, "Europe/Berlin")
    assert a["next_usec"] == expected
    assert a["next"] == datetime.datetime.fromtimestamp(expected / SEC, ZoneInfo("Europe/Berlin")).isoformat()
    assert (a["cron"], a["timezone"], a["state"], a["enabled"], a["paused"]) == \
        ("30 2 * * *", "Europe/Berlin", "enabled", True, False)
    assert (a["last_result"], a["last_run_id"], a["active"], a["running"], a["skip_next"]) == \
        (None, None, 0, 0, False)
    b = rows[d.name("b-off")]
    assert (b["state"], b["next_usec"], b["next"], b["last_result"]) == ("disabled", None, None, "succeeded")
    assert re.fullmatch("[0-9a-f]{16}", b["last_run_id"]) and b["last_end_usec"] <= reply["now_usec"]
    c = rows[d.name("c-paused")]
    assert (c["state"], c["paused"], c["timezone"]) == ("paused", True, "UTC")

    table = d.ctl("list")
    assert table.status == 0 and table.err == ""
    assert table.lines[0].split() == ["SCHEDULE", "CRON", "ZONE", "NEXT", "LAST", "STATE", "RUNNING"]
    line = next(l for l in table.lines if l.startswith(d.name("a-berlin")))
    assert a["next"] in line and re.search(r"\(in (\d+h \d+m|\d+h|\d+m \d+s|\d+m|\d+s)\)", line), line
    assert line.split()[-3:] == ["-", "enabled", "0"]
    assert next(l for l in table.lines if l.startswith(d.name("b-off"))).split()[-3:] == \
        ["succeeded", "disabled", "0"]
    assert "\x1b" not in table.out  # not a terminal
    assert table.lines[-1] == "3 schedules listed."


def test_status_of_the_daemon_and_of_one_schedule(daemon):
    """status: version, pid, uptime, config files, plugins (none configured), counts and the next fire; status
    SCHEDULE: its definition (parameter and environment names, never their values), policy and its
    next 5 fires; an unknown schedule fails with exit status 1."""
    d = daemon([shell_schedule("daily", "30 2 * * *", "true", params={"day": "${scheduled:%F}", "n": 3},
                               environment={"API_TOKEN": "hunter2-value"}, timeout="1h", retries=2)])
    s = json_out(d.ctl("status", "--json"))
    assert s["ok"] is True and s["version"] == "0.1.0" and s["pid"] == d.pid
    assert s["config"] == str(d.conf)
    assert s["config_files"] == [str(d.conf), str(d.schedules_dir / "50-test.conf")]
    assert (s["plugins"], s["schedules"], s["enabled"], s["paused"]) == ([], 1, 1, 0)
    assert (s["runs_running"], s["runs_waiting"], s["stopping"]) == (0, 0, False)
    assert s["control_socket"] == str(d.control_socket)
    assert s["state_file"] == str(d.state_dir / "state.json")
    assert 0 <= s["uptime_usec"] < 60 * SEC
    assert s["next"]["schedule"] == d.name("daily")
    assert s["next"]["usec"] == next_daily(s["now_usec"], 2, 30, "UTC")

    human = d.ctl("status")
    assert human.status == 0
    assert human.lines[0].startswith(f"udfcrond 0.1.0 (pid {d.pid}), running, up ")
    assert re.search(r"^Plugins:\s+none$", human.out, re.M)
    assert re.search(rf"^Next fire:\s+{d.name('daily')} at \S+T02:30:00\+00:00 \(in ", human.out, re.M)

    detail = json_out(d.ctl("status", "--json", d.name("daily")))["schedule"]
    first = next_daily(s["now_usec"], 2, 30, "UTC")
    assert [f["usec"] for f in detail["next_fires"]] == [first + i * 86400 * SEC for i in range(5)]
    assert all(not f["skipped"] for f in detail["next_fires"])
    assert (detail["param_names"], detail["environment_names"]) == (["day", "n"], ["API_TOKEN"])
    assert detail["policy"]["timeout_usec"] == 3600 * SEC and detail["policy"]["retries"] == 2
    assert (detail["file"], detail["line"]) == (str(d.schedules_dir / "50-test.conf"), 3)
    assert detail["runs"] == [] and detail["work"] == "command" and detail["shell"] is True

    text = d.ctl("status", d.name("daily"))
    assert text.status == 0 and text.lines[0] == f"{d.name('daily')}: enabled"
    assert len(re.findall(r"T02:30:00\+00:00 \(in ", text.out)) == 5
    assert re.search(r"^Policy:\s+overlap skip, catch_up last, timeout 1h, retries 2", text.out, re.M)
    for result in (human, text, d.ctl("status", "--json", d.name("daily")), d.ctl("list", "--json")):
        assert "hunter2" not in result.out + result.err

    missing = d.ctl("status", d.name("nope"))
    assert (missing.status, missing.out) == (1, "")
    assert f"no schedule '{d.name('nope')}'" in missing.err


# ---------------------------------------------------------------- run

JOB = 'echo "out $UDFCRON_PARAM_WHO"; echo "err line" >&2; exit "$UDFCRON_PARAM_CODE"'


def test_run_wait_follows_the_run_and_exits_with_its_result(daemon):
    """run --wait: the run's stdout on stdout, its stderr and progress on stderr, exit status 0 when it
    succeeded and 1 when it failed or timed out; --param overrides a parameter for that run only;
    --json streams every event as a JSON line, the last the end."""
    d = daemon([shell_schedule("job", NEVER, JOB, params={"who": "config", "code": "0"}),
                shell_schedule("slow", NEVER, "echo starting; sleep 30", timeout="1s")])

    ok = d.ctl("run", d.name("job"), "--wait", "--param", "who=cli")
    assert ok.status == 0, ok.err
    assert ok.out == "out cli\n"
    run_id = re.match(rf"run ([0-9a-f]{{16}}) of {d.name('job')} dispatched$", ok.err.splitlines()[0]).group(1)
    assert "started attempt 1: sh -c" in ok.err and "err line\n" in ok.err
    assert re.search(r"^succeeded: in \d+\.\d{3}s$", ok.err, re.M)

    failed = d.ctl("run", "-w", "-p", "code=3", d.name("job"))
    assert failed.status == 1 and failed.out == "out config\n"
    assert re.search(r"^failed: exited with status 3 after ", failed.err, re.M)

    timed_out = d.ctl("run", d.name("slow"), "--wait")
    assert timed_out.status == 1 and timed_out.out == "starting\n"
    assert re.search(r"^timed_out: ", timed_out.err, re.M)

    streamed = d.ctl("run", d.name("job"), "--wait", "--json")
    events = [json.loads(line) for line in streamed.lines]
    assert streamed.status == 0 and events[0]["ok"] is True and events[0]["queued"] is False
    assert [e.get("event") for e in events[1:]][0] == "started"
    logs = [(e["stream"], e["line"]) for e in events if e.get("event") == "log"]
    assert sorted(logs) == [("stderr", "err line"), ("stdout", "out config")]
    end = events[-1]
    assert (end["event"], end["result"], end["exit_status"], end["run_id"]) == \
        ("end", "succeeded", 0, events[0]["run_id"])

    # the journal has the run requested by hand, with the overridden parameter's output
    recs = d.records(UDFCRON_RUN_ID=run_id, expect=4)
    assert "run requested" in of(recs, "scheduled")[0]["MESSAGE"]
    assert any(r.get("MESSAGE") == "out cli" for r in recs)


def run_in_background(d, *args):
    """udfcronctl run ... --json in the background; returns the process and its first line (the reply)."""
    proc = subprocess.Popen([str(BUILD / "udfcronctl"), "--socket", str(d.control_socket), "run", "--json", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc, json.loads(proc.stdout.readline())


def test_run_obeys_overlap_and_cancel_stops_runs(daemon):
    """run while a run is active: refused under overlap = skip, queued (once) under queue. cancel RUN_ID
    stops a running run (its follower sees `cancelled` and exits 1) and a queued one, and their ends say
    who cancelled them (udfcronctl's user, uid and pid), in the journal and in history; status SCHEDULE
    lists the runs in flight with their ids."""
    d = daemon([shell_schedule("long", NEVER, "sleep 30"),
                shell_schedule("q", NEVER, "sleep 30", overlap="queue")])
    follower, first = run_in_background(d, "--wait", d.name("long"))
    assert first["ok"] and first["queued"] is False

    refused = d.ctl("run", d.name("long"))
    assert refused.status == 1 and "the previous run is still active (overlap = skip)" in refused.err

    runs = wait_for(lambda: [r for r in json_out(d.ctl("status", "--json", d.name("long")))["schedule"]["runs"]
                             if r["status"] == "running"], 5, "the run to be running")
    assert runs[0]["run_id"] == first["run_id"] and runs[0]["manual"] and runs[0]["attempt"] == 1

    cancelled = d.ctl("cancel", first["run_id"])
    assert cancelled.status == 0, cancelled.err
    assert cancelled.out == f"run {first['run_id']} of {d.name('long')} cancelled (it was running)\n"
    out, err = follower.communicate(timeout=10)
    assert follower.returncode == 1, err
    end = json.loads(out.splitlines()[-1])
    assert (end["event"], end["result"]) == ("end", "cancelled")
    by = f"udfcronctl cancel by uid {os.geteuid()}, pid "
    assert re.fullmatch(rf"cancelled, stopped with SIGTERM after \d+\.\d{{3}}s \({by}\d+\)", end["message"]), end
    d.wait_daemon_log(lambda rs: any(r["MESSAGE"].startswith(f"{d.name('long')} {first['run_id']}: stopping: {by}")
                                     for r in rs), 5, "who cancelled the run, in the journal")
    record = of(d.wait_records(lambda rs: of(rs, "cancelled"), 5, "the end", "long"), "cancelled")[0]
    assert record["UDFCRON_STOPPED_BY"] == "udfcronctl"
    assert record["MESSAGE"] == f"{d.name('long')}[{first['run_id']}] #1 cancelled: {end['message']}"
    shown = json_out(d.ctl("history", "--json", d.name("long")))
    assert [(h["outcome"], h["message"]) for h in shown] == [("cancelled", end["message"])]
    again = d.ctl("cancel", first["run_id"])
    assert again.status == 1 and "no run" in again.err

    q1 = json_out(d.ctl("run", "--json", d.name("q")))
    q2 = json_out(d.ctl("run", "--json", d.name("q")))
    assert (q1["queued"], q2["queued"]) == (False, True)
    third = d.ctl("run", d.name("q"))
    assert third.status == 1 and "a run is already queued (overlap = queue)" in third.err
    detail = json_out(d.ctl("status", "--json", d.name("q")))["schedule"]
    assert {r["run_id"]: r["status"] for r in detail["runs"]}[q2["run_id"]] == "waiting"
    assert d.ctl("cancel", q2["run_id"]).out.endswith("(it was waiting)\n")
    assert d.ctl("cancel", q1["run_id"]).status == 0
    recs = d.wait_records(lambda rs: len(of(rs, "cancelled")) == 2, 10, "both q runs cancelled", "q")
    waited = next(r for r in of(recs, "cancelled") if r["UDFCRON_RUN_ID"] == q2["run_id"])
    assert re.search(rf" cancelled: cancelled before it started \({by}\d+\)$", waited["MESSAGE"]), waited["MESSAGE"]


def test_queue_keeps_one_waiting_run_when_a_run_requested_by_hand_waits(daemon):
    """overlap = queue: while a `run` waits behind the active run, a fire is skipped as a run already
    queued, as a second `run` is refused: never two runs waiting. A reload that removes the schedule then
    cancels the waiting run, saying so, and lets the active one go on."""
    q = shell_schedule("q", NEVER, "sleep 30", overlap="queue")
    d = daemon([q], settings={"shutdown_timeout": "0s"})
    q1 = json_out(d.ctl("run", "--json", d.name("q")))
    q2 = json_out(d.ctl("run", "--json", d.name("q")))
    assert (q1["queued"], q2["queued"]) == (False, True)

    # now a slot 2 s ahead (the reload keeps the runs in flight)
    slot = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) + datetime.timedelta(seconds=2)
    d.configure([dict(q, cron=slot.strftime("%S %M %H %d %m *"))])
    assert d.ctl("reload").status == 0
    recs = d.wait_records(lambda rs: of(rs, "skipped"), 10, "the fire to be skipped", "q")
    skipped = of(recs, "skipped")[0]
    assert int(skipped["UDFCRON_SCHEDULED_USEC"]) == int(slot.timestamp()) * SEC
    assert skipped["MESSAGE"].endswith("skipped: a run is already queued (overlap = queue)")
    runs = json_out(d.ctl("status", "--json", d.name("q")))["schedule"]["runs"]
    assert sorted((r["run_id"], r["status"]) for r in runs) == \
        sorted([(q1["run_id"], "running"), (q2["run_id"], "waiting")])

    d.configure([shell_schedule("other", NEVER, "true")])
    assert d.ctl("reload").status == 0
    recs = d.wait_records(lambda rs: of(rs, "cancelled"), 5, "the waiting run to be cancelled", "q")
    cancelled = of(recs, "cancelled")
    assert [r["UDFCRON_RUN_ID"] for r in cancelled] == [q2["run_id"]]
    assert cancelled[0]["UDFCRON_STOPPED_BY"] == "reload"
    assert cancelled[0]["MESSAGE"].endswith(" cancelled: cancelled before it started (a reload removed the schedule)")
    assert d.ctl("cancel", q1["run_id"]).status == 0  # still in flight


# ---------------------------------------------------------------- skip, pause, resume, reload

def test_skip_and_pause_are_obeyed_and_survive_reload_and_restart(daemon, tmp_path):
    """skip: the next slot is logged as skipped and does not run, the ones after it do. pause: fires are
    skipped until resume, and the pause (like a pending skip) is kept across a reload and a restart."""
    out = tmp_path / "fires"
    d = daemon([shell_schedule("tick", "* * * * * *", 'echo "$UDFCRON_SCHEDULED_USEC" >> "$OUT"', env={"OUT": out}),
                shell_schedule("daily", "30 2 * * *", "true")])
    wait_lines(out, lambda ls: len(ls) >= 1, 10, "a first fire")

    skip = d.ctl("skip", d.name("tick"))
    assert skip.status == 0, skip.err
    slot = json_out(d.ctl("status", "--json", d.name("tick")))["schedule"]["skip_slot_usec"]
    assert skip.out == f"{d.name('tick')}: the fire at " \
        f"{datetime.datetime.fromtimestamp(slot / SEC, datetime.timezone.utc).isoformat()} will be skipped\n"
    wait_lines(out, lambda ls: max(slots_of(out)) > slot, 10, "a fire after the skipped one")
    assert slot not in slots_of(out)
    skipped = d.wait_records(lambda rs: of(rs, "skipped"), 5, "the skipped record", "tick")
    assert int(of(skipped, "skipped")[0]["UDFCRON_SCHEDULED_USEC"]) == slot
    assert of(skipped, "skipped")[0]["MESSAGE"].endswith("skipped: udfcronctl skip")

    assert d.ctl("pause", d.name("tick")).out == f"{d.name('tick')} paused\n"
    assert d.ctl("pause", d.name("tick")).out == f"{d.name('tick')} was paused already\n"
    assert d.ctl("skip", d.name("daily")).status == 0
    d.wait_records(lambda rs: any(r["MESSAGE"].endswith("the schedule is paused") for r in of(rs, "skipped")),
                   5, "a fire skipped for the pause", "tick")
    count = len(file_lines(out))
    d.wait_records(lambda rs: sum(r["MESSAGE"].endswith("the schedule is paused") for r in of(rs, "skipped")) >= 3,
                   10, "more fires skipped for the pause", "tick")
    assert len(file_lines(out)) == count

    def check_kept():
        rows = by_name(json_out(d.ctl("list", "--json")))
        assert rows[d.name("tick")]["state"] == "paused"
        assert rows[d.name("daily")]["skip_next"] is True
        fires = json_out(d.ctl("status", "--json", d.name("daily")))["schedule"]["next_fires"]
        assert [f["skipped"] for f in fires] == [True, False, False, False, False]
    check_kept()
    assert d.ctl("reload").out == "reloaded: 2 schedules\n"
    check_kept()
    d.stop()
    d.start()
    check_kept()
    state = json.loads((d.state_dir / "state.json").read_text())
    assert {s["name"]: s.get("paused", False) for s in state["schedules"]}[d.name("tick")] is True

    assert d.ctl("resume", d.name("tick")).out == f"{d.name('tick')} resumed\n"
    assert d.ctl("resume", d.name("tick")).out == f"{d.name('tick')} was not paused\n"
    wait_lines(out, lambda ls: len(ls) > count, 10, "fires after resume")


def test_reload_reports_the_errors_of_a_broken_config(daemon):
    """reload with a broken file: exit status 1, every error as file:line: message, and the running
    configuration stays; a fixed file reloads."""
    one = shell_schedule("one", NEVER, "true")
    d = daemon([one])
    path = d.configure([one, shell_schedule("two", "61 * * * *", "true")])

    broken = d.ctl("reload")
    assert broken.status == 1 and broken.out == ""
    assert re.search(rf"^{re.escape(str(path))}:\d+: cron: minute field: 61 is out of range 0-59", broken.err, re.M)
    assert broken.err.splitlines()[-1] == "udfcronctl reload: the new configuration has errors; the running one stays"
    assert list(by_name(json_out(d.ctl("list", "--json")))) == [d.name("one")]

    d.configure([one, shell_schedule("two", "1 * * * *", "true")])
    assert d.ctl("reload").out == "reloaded: 2 schedules\n"
    assert list(by_name(json_out(d.ctl("list", "--json")))) == [d.name("one"), d.name("two")]


# ---------------------------------------------------------------- who may do what

@ROOT_ONLY
def test_anyone_may_read_only_root_and_the_control_group_may_change(daemon):
    """As nobody: list and status work (the socket is 0666); every change is refused with exit status 1
    and logged. A member of control_group (supplementary or primary) may change things."""
    d = daemon([shell_schedule("s", NEVER, "true")], settings={"control_group": "users"})
    st = os.stat(d.control_socket)
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o666
    assert st.st_gid == 100  # users

    assert json_out(d.ctl("list", "--json", user="nobody"))["schedules"][0]["name"] == d.name("s")
    assert d.ctl("status", d.name("s"), user="nobody").status == 0
    for args in (["pause", d.name("s")], ["resume", d.name("s")], ["skip", d.name("s")], ["run", d.name("s")],
                 ["cancel", "0123456789abcdef"], ["reload"]):
        refused = d.ctl(*args, user="nobody")
        assert refused.status == 1, args
        assert refused.err == f"udfcronctl {args[0]}: {args[0]} needs root or membership of group 'users'\n"
    assert by_name(json_out(d.ctl("list", "--json")))[d.name("s")]["paused"] is False
    d.wait_daemon_log(lambda rs: any("control: refused pause for uid 65534" in r["MESSAGE"] for r in rs),
                      5, "the refusal in the journal")

    assert d.ctl("pause", d.name("s"), user="nobody", groups=["users"]).status == 0
    assert by_name(json_out(d.ctl("list", "--json")))[d.name("s")]["paused"] is True
    d.wait_daemon_log(lambda rs: any(f"control: pause {d.name('s')} requested by uid 65534" in r["MESSAGE"]
                                     for r in rs), 5, "the change in the journal")

    d.configure([shell_schedule("s", NEVER, "true")], settings={"control_group": "nogroup"})
    assert d.ctl("reload").status == 0  # control_group applies at once
    assert d.ctl("resume", d.name("s"), user="nobody").status == 0  # nobody's primary group is nogroup


@ROOT_ONLY
def test_socket_mode_decides_who_may_connect(daemon):
    d = daemon([shell_schedule("s", NEVER, "true")], settings={"control_socket_mode": "0600"})
    assert stat.S_IMODE(os.stat(d.control_socket).st_mode) == 0o600
    denied = d.ctl("list", user="nobody")
    assert denied.status == 1 and "Permission denied" in denied.err
    assert d.ctl("list").status == 0


# ---------------------------------------------------------------- the daemon is down

COMMANDS = [["list"], ["status"], ["status", "x"], ["run", "x"], ["run", "--wait", "x"], ["skip", "x"],
            ["pause", "x"], ["resume", "x"], ["cancel", "0123456789abcdef"], ["reload"]]


def test_every_command_exits_3_when_the_daemon_is_not_running(daemon, ctl, tmp_path):
    """No socket file, or a stale one of a killed daemon: exit status 3. A new daemon replaces the stale
    file; a second daemon on a live socket refuses to start."""
    for args in COMMANDS:
        r = ctl("--socket", str(tmp_path / "none.sock"), *args)
        assert r.status == 3, (args, r.err)
        assert r.err == f"udfcronctl {args[0]}: udfcrond is not running (no socket at {tmp_path / 'none.sock'})\n"

    d = daemon([shell_schedule("s", NEVER, "true")])
    d.kill()
    assert d.control_socket.exists()
    stale = d.ctl("list")
    assert stale.status == 3 and "nothing listens on" in stale.err
    d.start()
    assert d.ctl("list").status == 0

    rival = daemon([shell_schedule("s", NEVER, "true")], settings={"control_socket": str(d.control_socket)},
                   start=False, log_target="stderr")
    rival.start(ready_timeout=None)
    assert rival.proc.wait(10) == 1
    rival.proc = None
    assert f"control socket {d.control_socket}: another udfcrond listens there" in rival.stderr()
    assert d.ctl("list").status == 0


def test_a_socket_path_longer_than_sun_path(daemon, tmp_path):
    """Paths beyond the 108 bytes of sun_path work, on both sides."""
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    d = daemon([shell_schedule("s", NEVER, "true")], settings={"control_socket": str(deep / "control.sock")})
    assert len(str(deep / "control.sock")) > 108
    r = subprocess.run([str(BUILD / "udfcronctl"), "--socket", str(deep / "control.sock"), "list", "--json"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and json.loads(r.stdout)["schedules"][0]["name"] == d.name("s")


# ---------------------------------------------------------------- bad clients

def exchange(path, data, timeout=5.0):
    """Sends data, half-closes, returns every reply line (parsed) until the daemon closes."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(str(path))
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        received = b""
        try:
            while chunk := s.recv(65536):
                received += chunk
        except ConnectionResetError:  # the daemon closed with input unread (a request too large): a reset
            pass
    return [json.loads(line) for line in received.decode().splitlines()]


def error_of(reply):
    assert reply["ok"] is False, reply
    return reply["error"]["code"], reply["error"]["message"]


def test_garbage_oversized_slow_and_flooding_clients_never_hurt_the_daemon(daemon):
    """Malformed requests get bad_request (and the connection goes on); a line over 64 KiB gets too_large;
    a request that does not arrive whole within control_timeout gets timeout; connections beyond 64 get
    busy; random bytes get errors. Through all of it the daemon keeps answering."""
    d = daemon([shell_schedule("s", NEVER, "true")], settings={"control_timeout": "1s"})
    path = d.control_socket
    cases = {
        b"hello\n": "invalid JSON at byte 0",
        b"[1, 2]\n": "expected a JSON object",
        b'{"command": "list", "x": 1}\n': "unknown key 'x'",
        b'{"command": "pause"}\n': "schedule: missing (pause needs it)",
        b'{"command": "list", "schedule": "s"}\n': "schedule: not an argument of list",
        b'{"command": "list"}\x00\n': "contains a NUL byte",
        b'{"command": 7}\n': "command: expected one of list, status, run, skip, pause, resume, cancel, reload",
        b'{"command": "run", "schedule": "s", "params": {"a-b": 1}}\n': "params: 'a-b' is not a parameter name",
        b"[" * 5000 + b"\n": "invalid JSON",
        b"\xff\xfe\xfd\n": "invalid JSON at byte 0",
    }
    for data, message in cases.items():
        (reply,) = exchange(path, data)
        code, text = error_of(reply)
        assert code == "bad_request" and text.startswith(message), (data[:40], text)

    # pipelined requests, a blank line, an error in between: one reply each, in order
    replies = exchange(path, b'{"command":"status"}\n\n{"oops"}\n{"command":"list"}')
    assert [r["ok"] for r in replies] == [True, False, True] and "schedules" in replies[2]

    (too_large,) = exchange(path, b"a" * 70000)
    assert error_of(too_large)[0] == "too_large"

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as slow:
        slow.settimeout(10)
        slow.connect(str(path))
        started = time.monotonic()
        slow.sendall(b'{"command": "li')
        data = slow.recv(65536)
        assert error_of(json.loads(data))[0] == "timeout"
        assert 0.8 < time.monotonic() - started < 5
        assert slow.recv(65536) == b""

    rng = random.Random(4)
    for _ in range(100):
        noise = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
        for reply in exchange(path, noise.replace(b"\n", b" ") + b"\n"):
            assert reply["ok"] is False

    idle = []
    try:
        for _ in range(70):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(5)
            s.connect(str(path))
            idle.append(s)
        busy = [json.loads(s.recv(65536)) for s in idle[64:]]
        assert all(error_of(b)[0] == "busy" for b in busy), busy
        assert idle[0].recv(65536) == b""  # an idle connection is closed after control_timeout
    finally:
        for s in idle:
            s.close()

    assert d.proc.poll() is None
    assert json_out(d.ctl("list", "--json"))["schedules"][0]["name"] == d.name("s")


def test_a_client_that_stops_reading_does_not_block_the_daemon(daemon):
    """A follower of a run that writes a lot but never reads: the daemon drops output lines for it (and
    says how many) instead of buffering without end or blocking; other clients are served meanwhile."""
    lines = 20000  # of 200 bytes: 4 MB, well beyond what the daemon holds for one follower
    d = daemon([shell_schedule("chatty", NEVER, f"yes \"$(printf '%0200d' 0)\" | head -n {lines}")],
               settings={"control_timeout": "1s"})  # a follower that does not read is not timed out
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(str(d.control_socket))
    s.sendall(json.dumps({"command": "run", "schedule": d.name("chatty"), "wait": True}).encode() + b"\n")
    wait_for(lambda: json_out(d.ctl("list", "--json"))["schedules"][0]["last_result"] == "succeeded", 30,
             "the chatty run to succeed while its follower does not read")

    s.settimeout(10)
    received = b""
    while not received.endswith(b"\n") or b'"event":"end"' not in received.rsplit(b"\n", 2)[-2]:
        chunk = s.recv(1 << 20)
        assert chunk, "the daemon closed the connection"
        received += chunk
    s.close()
    events = [json.loads(line) for line in received.splitlines()]
    dropped = sum(e["lines"] for e in events if e.get("event") == "dropped")
    shown = [e for e in events if e.get("event") == "log"]
    assert dropped > 0 and len(shown) + dropped == lines
    assert events[-1]["result"] == "succeeded"


# ---------------------------------------------------------------- the command line

@pytest.mark.parametrize("verb", ["list", "status", "run", "skip", "pause", "resume", "cancel", "reload"])
def test_every_command_has_help(ctl, verb):
    r = ctl(verb, "--help")
    assert r.status == 0 and r.lines[0].startswith(f"Usage: udfcronctl {verb}"), r.out
    assert "Exit status:" in r.out
    bad = ctl(verb, "--no-such-option")
    assert bad.status == 2 and "Usage:" in bad.err


def run_on_terminal(d, *args, env=None):
    """udfcronctl's stdout on a pseudo-terminal; returns what it printed."""
    master, slave = pty.openpty()
    full_env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    full_env.update(TERM="xterm", **(env or {}))
    proc = subprocess.Popen([str(BUILD / "udfcronctl"), "--socket", str(d.control_socket), *args], stdout=slave,
                            stderr=subprocess.DEVNULL, env=full_env)
    os.close(slave)
    out = b""
    while True:
        ready, _, _ = select.select([master], [], [], 10)
        try:
            chunk = os.read(master, 65536) if ready else b""
        except OSError:  # EIO: the other side is closed
            chunk = b""
        if not chunk:
            break
        out += chunk
    os.close(master)
    assert proc.wait(10) == 0
    return out.decode()


def test_colors_only_on_a_terminal_and_never_with_no_color(daemon):
    d = daemon([shell_schedule("s", NEVER, "true")])
    assert "\x1b[1m" in run_on_terminal(d, "list") and "\x1b[32menabled" in run_on_terminal(d, "list")
    assert "\x1b[" not in run_on_terminal(d, "list", env={"NO_COLOR": "1"})
    assert "\x1b[" not in d.ctl("list").out
