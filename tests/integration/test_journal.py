"""daemon/journal.c against a real journald, through tests/integration/journal-driver.c."""
import os
import re
import subprocess
import time
import uuid

import pytest

# Fixed for all time: operators and alerts match on them (daemon/journal.c, event_table).
MESSAGE_IDS = {
    "scheduled": "cfee399d9008437fbc87b80682382b20",
    "started": "e9736a30a7d14d32bb14b447c136f021",
    "log": "8a54356e94ae485d851abf125cebd49e",
    "finished": "0546626a7cb44626a55117e8cba58bd5",
    "failed": "5cc6f3e102ac4e9585bf971231a83b32",
    "timed_out": "0e7b950806744d36beedceb3a5d21e23",
    "cancelled": "046106b6eb40434a94d8f0213955911a",
    "skipped": "2ea4dec98398439a94b99ea057df96e9",
    "retry": "b4c228dfd74044afa58935d7d5fa4f46",
    "lost": "b7455edffab244438a5715cdfe43dd78",
    "task_retry": "98ecb65415384abeb9e4fb0d572c4da9",
    "task_failed": "f3775cd62a1740848d3bbc93d5a45aeb",
}
PRIORITIES = {"scheduled": "6", "started": "6", "finished": "6", "failed": "3", "timed_out": "3",
              "cancelled": "5", "skipped": "5", "retry": "4", "lost": "3", "task_retry": "4", "task_failed": "3"}
SCHEDULED_USEC = "1795366800000000"  # 2026-11-22T17:00:00Z
REDACTED = b"[redacted]"


def as_bytes(value):
    return value.encode() if isinstance(value, str) else value


class Driver:
    def __init__(self, binary):
        self.binary = binary

    def __call__(self, commands, target="journal", env=None):
        """Runs the driver on [(command, {key: str|bytes})]; returns (pid, stderr bytes)."""
        script = "".join(cmd + "".join(f" {k}={as_bytes(v).hex()}" for k, v in args.items()) + "\n"
                         for cmd, args in commands)
        proc = subprocess.Popen([str(self.binary), target], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env)
        out, err = proc.communicate(script.encode(), timeout=60)
        assert proc.returncode == 0, err.decode(errors="replace")
        assert out == b""
        return proc.pid, err


@pytest.fixture
def driver(journal_driver):
    return Driver(journal_driver)


def new_run():
    return "r-" + uuid.uuid4().hex[:12]


def test_lifecycle_events_carry_every_field_and_their_message_id(journald, driver):
    run = new_run()
    base = dict(schedule="nightly", run_id=run, engine="fused", job_id="job-42", attempt="2",
                scheduled=SCHEDULED_USEC)
    events = [
        ("scheduled", "for 2026-11-22T17:00:00+00:00", {}),
        ("started", "POST /run", {}),
        ("retry", "HTTP 503, again in 30s", {"exit": "1"}),
        ("finished", "succeeded", {"duration": "12500000", "exit": "0", "next": "1795453200000000"}),
        ("failed", "exit status 3", {"exit": "3", "duration": "1000"}),
        ("timed_out", "after 1h", {"duration": "3600000000"}),
        ("cancelled", "by udfcronctl", {}),
        ("skipped", "previous run still running", {}),
        ("lost", "the daemon restarted", {}),
        ("task_retry", "exited with status 1; attempt 2 of 3 in 1.0s", {"task": "0", "exit": "1"}),
        ("task_failed", "killed by SIGKILL (attempt 3 of 3)", {"task": "17", "duration": "2000"}),
    ]
    _, err = driver([("event", dict(base, event=e, message=m, **extra)) for e, m, extra in events])
    assert err == b""  # nothing fell back to stderr

    recs = journald.records(UDFCRON_RUN_ID=run, expect=len(events))
    assert [r["UDFCRON_EVENT"] for r in recs] == [e for e, _, _ in events]
    for rec, (event, message, extra) in zip(recs, events):
        where = f"{run}/{extra['task']}" if "task" in extra else run
        assert rec["MESSAGE"] == f"nightly[{where}] #2 {event}: {message}"
        assert rec["PRIORITY"] == PRIORITIES[event]
        assert rec["SYSLOG_IDENTIFIER"] == "udfcrond"
        assert rec["MESSAGE_ID"] == MESSAGE_IDS[event]
        assert rec["UDFCRON_SCHEDULE"] == "nightly"
        assert rec["UDFCRON_ENGINE"] == "fused"
        assert rec["UDFCRON_JOB_ID"] == "job-42"
        assert rec["UDFCRON_ATTEMPT"] == "2"
        assert rec["UDFCRON_SCHEDULED_USEC"] == SCHEDULED_USEC
        optional = {"UDFCRON_DURATION_USEC": "duration", "UDFCRON_EXIT_STATUS": "exit",
                    "UDFCRON_NEXT_USEC": "next", "UDFCRON_TASK": "task"}
        for field, key in optional.items():
            assert rec.get(field) == extra.get(key), field
        assert "UDFCRON_STREAM" not in rec and "UDFCRON_REMOTE_USEC" not in rec
        assert "CODE_FILE" not in rec  # libsystemd's location fields would always name journal.c


def test_message_ids_are_distinct_128_bit_ids():
    assert len(set(MESSAGE_IDS.values())) == len(MESSAGE_IDS)
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in MESSAGE_IDS.values())


def test_output_lines_come_back_byte_exact_with_their_stream(journald, driver):
    run = new_run()
    base = dict(schedule="etl", run_id=run, engine="local", attempt="1", scheduled=SCHEDULED_USEC)
    long_line = bytes(range(256)) * 256  # 64 KiB: every byte value, NULs and newlines included
    lines = [
        ("stdout", b"rows: 42", None),
        ("stderr", b"a\x00b\xff\xfe invalid \xc3 utf-8\x00", None),
        ("stderr", b"with\nnewline and \x00 NUL", "1795366801123456"),
        ("stdout", "naïve ✓".encode(), None),
        ("stdout", b"", None),
        ("stdout", long_line, None),
    ]
    cmds = []
    for stream, line, remote in lines:
        args = dict(base, stream=stream, line=line)
        if remote:
            args["remote"] = remote
        cmds.append(("output", args))
    _, err = driver(cmds)
    assert err == b""

    recs = journald.records(UDFCRON_RUN_ID=run, expect=len(lines))
    assert len(recs) == len(lines)
    for rec, (stream, line, remote) in zip(recs, lines):
        assert as_bytes(rec["MESSAGE"]) == line
        assert rec["PRIORITY"] == ("4" if stream == "stderr" else "6")
        assert rec["UDFCRON_STREAM"] == stream
        assert rec["UDFCRON_EVENT"] == "log"
        assert rec["MESSAGE_ID"] == MESSAGE_IDS["log"]
        assert rec["UDFCRON_SCHEDULE"] == "etl"
        assert rec["UDFCRON_ATTEMPT"] == "1"
        assert rec.get("UDFCRON_REMOTE_USEC") == remote
        assert "UDFCRON_JOB_ID" not in rec and "UDFCRON_EXIT_STATUS" not in rec
    assert isinstance(recs[1]["MESSAGE"], bytes)  # stored as binary, not mangled into text


def test_daemon_message_has_no_run_fields(journald, driver):
    tag = uuid.uuid4().hex
    pid, err = driver([("log", dict(priority="3", message=f"config {tag}: broken"))])
    assert err == b""
    [rec] = journald.records(_PID=str(pid), expect=1)
    assert rec["MESSAGE"] == f"config {tag}: broken"
    assert rec["PRIORITY"] == "3"
    assert rec["SYSLOG_IDENTIFIER"] == "udfcrond"
    assert "MESSAGE_ID" not in rec
    assert not [k for k in rec if k.startswith("UDFCRON_")]


def test_secrets_appear_nowhere_in_the_journal(journald, driver):
    since = time.time() - 1
    run = new_run()
    secret = "hunter2-" + uuid.uuid4().hex
    other = "tok-" + uuid.uuid4().hex
    overlapping = secret[-6:] + other[:6]  # spans the two: nothing of either may show
    base = dict(schedule="sync", run_id=run, engine="fusion", attempt="1", scheduled=SCHEDULED_USEC)
    pid, err = driver([
        ("secret", dict(value=secret)),
        ("secret", dict(value=other)),
        ("secret", dict(value=overlapping)),
        ("event", dict(base, event="started", message=f"token={secret}", job_id=f"job-{secret}")),
        ("output", dict(base, stream="stdout", line=f"{secret} middle {secret}")),
        ("output", dict(base, stream="stderr", line=b"\x00\xff" + (secret + other).encode() + b"\n\x00")),
        ("output", dict(base, stream="stdout", line=f"{secret[:-6]}{overlapping}{other[6:]}")),
        ("log", dict(priority="6", message=f"resolved {other}")),
    ])
    assert err == b""

    recs = journald.records(_PID=str(pid), expect=5)
    assert len(recs) == 5
    assert recs[0]["MESSAGE"] == f"sync[{run}] #1 started: token=[redacted]"
    assert recs[0]["UDFCRON_JOB_ID"] == "job-[redacted]"
    assert recs[1]["MESSAGE"] == "[redacted] middle [redacted]"
    assert as_bytes(recs[2]["MESSAGE"]) == b"\x00\xff[redacted]\n\x00"
    assert recs[3]["MESSAGE"] == "[redacted]"
    assert recs[4]["MESSAGE"] == "resolved [redacted]"

    # Nowhere: not in the raw JSON of this process's records, nor of anything logged meanwhile,
    # nor in any decoded value (binary fields are arrays of numbers in JSON). The secrets went in
    # through stdin, so the driver's _CMDLINE does not hold them either.
    for raw in (journald.query(f"_PID={pid}"), journald.query(f"--since=@{int(since)}")):
        for needle in (secret, other, overlapping, secret[:20], other[-20:]):
            assert needle not in raw
    for rec in journald.records(since=since):
        for value in rec.values():
            for v in value if isinstance(value, list) else [value]:
                for needle in (secret, other, overlapping):
                    assert needle.encode() not in as_bytes(v or b"")


def test_auto_target_picks_journald_when_its_socket_exists_and_env_overrides(journald, driver):
    env = {k: v for k, v in os.environ.items() if k != "UDFCRON_LOG_TARGET"}
    run = new_run()
    base = dict(schedule="auto", run_id=run, engine="local", attempt="1", scheduled=SCHEDULED_USEC)

    _, err = driver([("event", dict(base, event="started", message="to journald"))], target="auto", env=env)
    assert err == b""
    _, err = driver([("event", dict(base, event="started", message="to stderr"))], target="auto",
                    env=dict(env, UDFCRON_LOG_TARGET="stderr"))
    assert re.fullmatch(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00 auto\[" + run.encode() +
                        rb"\] #1 started: to stderr\n", err), err

    recs = journald.records(UDFCRON_RUN_ID=run, expect=1)
    assert [r["MESSAGE"] for r in recs] == [f"auto[{run}] #1 started: to journald"]
