"""
The `fused` engine end to end: the real daemon against the Fused emulator (tests/emulator/), a real
journald, real files. Every flow of the engine (realtime runs of saved UDFs, shared tokens and posted
code; batch jobs with their logs, progress and results; cancel and timeout; restarts), and every
fault the emulator can inject, each checked by the run's final state, its journal records and what the
emulator saw (requests, starts).

Jobs are short (the emulator's `fused.job` durations) and polled every second, the shortest
poll_interval allowed, so a job takes a few seconds from start to end.
"""
import json
import signal
import time
import urllib.parse

import pytest

from conftest import Raw, wait_for
from emulator.client import header_values
from test_daemon import first_run, names, of

SEC = 1_000_000
# every batch job of these tests: queued, running ~2s with a log line every 0.25s, down 0.1s later
SHORT_JOB = {"pending": 0.2, "running": 2.0, "shutdown": 0.1, "log_interval": 0.25}
STATUS_PATH = r"/run/by-id/[^/]+$"


def once_soon():
    """A cron expression that fires once, at the next second but one (restart tests must not fire again)."""
    t = time.gmtime(time.time() + 2)
    return f"{t.tm_sec} {t.tm_min} {t.tm_hour} {t.tm_mday} {t.tm_mon} * {t.tm_year}"


def fused_daemon(daemon, emulator, tmp_path, schedules, engine=None, http=None, **kwargs):
    """A daemon whose engines.fused points at the emulator, its token read from a credential
    (${secret:fused-token}), polling every second; HTTP attempts time out after 2 s."""
    creds = tmp_path / "creds"
    creds.mkdir(exist_ok=True)
    (creds / "fused-token").write_text(emulator.fused_token + "\n")
    settings = {
        "engines": {"fused": {"base_url": emulator.fused_base, "shared_base_url": emulator.url,
                              "token": "${secret:fused-token}", "poll_interval": "1s", **(engine or {})}},
        "http": {"timeout": "2s", "retry_backoff": "1s", "retry_backoff_max": "2s", **(http or {})},
    }
    settings.update(kwargs.pop("settings", {}))
    env = {"CREDENTIALS_DIRECTORY": str(creds), **kwargs.pop("env", {})}
    return daemon(schedules, settings=settings, env=env, **kwargs)


def batch(name, udf="user@emulator.test/rollup", cron="* * * * * *", fused=None, **keys):
    return {"name": name, "cron": cron, "engine": "fused", "fused": {"udf": udf, "mode": "batch", **(fused or {})},
            **keys}


def save_udf(emulator, slug, code="@fused.udf\ndef udf(day=None):\n    return day\n", **extra):
    """Saves a UDF through the service's own API, as the SDK does; returns its record."""
    body = {"slug": slug, "udf_body": json.dumps({"type": "geopandas_v2", "name": slug, "code": code,
                                                   "entrypoint": "udf", "parameters": {"day": "monday"}, **extra})}
    reply = emulator.request("POST", "/server/v1/udf/new", json_body=body, headers=emulator.fused_auth())
    assert reply.status == 200, reply
    return reply.json()


def job_log(emulator, job_id):
    """The whole log of a job as the service has it: [(timestamp_ms, message)]."""
    reply = emulator.request("GET", f"/server/v1/logs/{job_id}", headers=emulator.fused_auth())
    return [(e["timestamp"], e["message"]) for e in reply.json()]


def forwarded(recs):
    """The log lines a run forwarded: [(remote timestamp in ms, message)]."""
    return [(int(r["UDFCRON_REMOTE_USEC"]) // 1000, r["MESSAGE"]) for r in of(recs, "log")]


def job_name(d, short, run_id, attempt=1):
    """The name of a run's batch job: how a restarted daemon finds it."""
    return f"{d.name(short)}.{run_id}.{attempt}"


def query(record):
    """A recorded request's query as {name: value}."""
    return dict(urllib.parse.parse_qsl(record["query"], keep_blank_values=True))


def jobs_of(emulator, job_name_prefix):
    return [j for j in emulator.jobs()["fused"] if j["job_name"].startswith(job_name_prefix)]


def stored(d, short, run_id):
    return sorted(p.relative_to(d.state_dir / "results" / d.name(short)).as_posix()
                  for p in (d.state_dir / "results" / d.name(short)).rglob("*") if p.is_file()
                  and p.relative_to(d.state_dir / "results" / d.name(short)).as_posix().startswith(run_id))


# ---------------------------------------------------------------- realtime runs

def test_realtime_runs_of_saved_shared_and_posted_udfs(daemon, emulator, tmp_path):
    """The three kinds of UDF reference as realtime runs: a saved UDF by owner/name (GET, with the
    token), a shared token (GET, no credentials), a local file posted as code (POST .../start with a
    Fused-Run-Id). Parameters are encoded as the SDK encodes them; the x-fused-metadata output becomes
    log records (stdout info, stderr warning); the result is stored under the state directory."""
    emulator.config({"fused": {"udfs": {"greet": {"result": {"hi": 1}, "stdout": "line 1\nline 2\n",
                                                  "stderr": "careful\n"}}}})
    udf = tmp_path / "echo.py"
    udf.write_text("def main(day, n=1):\n    return {'day': day}\n")
    params = {"day": "${scheduled:%F}", "n": 3, "flag": True, "tags": ["a", "b c"]}
    d = fused_daemon(daemon, emulator, tmp_path, [
        {"name": "saved", "cron": "* * * * * *", "engine": "fused", "fused": {"udf": "user@emulator.test/greet"},
         "params": params},
        {"name": "shared", "cron": "* * * * * *", "engine": "fused", "fused": {"shared_token": "UDF_greet"}},
        {"name": "code", "cron": "* * * * * *", "engine": "fused", "udf": str(udf), "entrypoint": "main",
         "params": params},
    ])
    saved_id, saved = first_run(d, "saved", "finished", 10)
    shared_id, shared = first_run(d, "shared", "finished", 10)
    code_id, code = first_run(d, "code", "finished", 10)
    d.stop()

    for recs in (saved, shared):
        assert [(r["MESSAGE"], r["PRIORITY"]) for r in of(recs, "log")] == \
            [("line 1", "6"), ("line 2", "6"), ("careful", "4")]
        assert of(recs, "finished")[0]["MESSAGE"].endswith(': {"hi": 1}')
        assert of(recs, "started")[0]["UDFCRON_ENGINE"] == "fused"
    assert json.loads((d.state_dir / "results" / d.name("saved") / f"{saved_id}.json").read_text()) == {"hi": 1}

    get = emulator.requests(route="fused.run.saved")[0]
    assert get["path"] == f"/server/v1/realtime/{emulator.realtime_client_id}/api/v1/run/udf/saved/" \
                          "user@emulator.test/greet"
    assert header_values(get, "Authorization") == [f"Bearer {emulator.fused_token}"]
    assert header_values(get, "X-Fused-Cache-Disable") == ["true"]
    day = time.strftime("%Y-%m-%d", time.gmtime(int(saved[0]["UDFCRON_SCHEDULED_USEC"]) // SEC))
    assert query(get) == {
        "format": "npy,tiff,parquet,json", "day": day, "n": "3", "flag": "true", "tags": '["a","b c"]'}
    assert emulator.requests(route="fused.realtime_instances.available"), "the client id is discovered"
    shared_get = emulator.requests(route="fused.shared.run.root")[0]
    assert shared_get["path"] == "/UDF_greet/run/file" and not header_values(shared_get, "Authorization")

    # posted code: the file's code and entrypoint in a step config (a JSON string), parameters as JSON
    post = emulator.requests(route="fused.run.start")[0]
    run_uuid = header_values(post, "Fused-Run-Id")[0]
    step = json.loads(json.loads(post["body"])["step_config"])
    assert step["udf"]["code"] == udf.read_text() and step["udf"]["entrypoint"] == "main"
    assert step["udf"]["name"] == "echo"
    assert step["udf"]["parameters"] == {"day": day, "n": 3, "flag": True, "tags": ["a", "b c"]}
    assert run_uuid.startswith(code_id[:8] + "-" + code_id[8:12] + "-4")
    echo = json.loads((d.state_dir / "results" / d.name("code") / f"{code_id}.json").read_text())
    assert echo == {"udf": "echo", "parameters": {"day": day, "n": 3, "flag": True, "tags": ["a", "b c"]}}
    assert names(code) == ["scheduled", "started", "log", "finished"]  # the echo's stdout line


def test_realtime_failures(daemon, emulator, tmp_path):
    """A UDF that raises fails its run with the exception (and its output forwarded), without the HTTP
    client repeating the call; a platform error (x-fused-error) and a missing UDF fail with the
    service's message; a missing UDF is not retried, a UDF error is (retries = 1)."""
    emulator.config({"fused": {"udfs": {
        "boom": {"exception": {"class": "ValueError", "message": "bad day", "lineno": 7}, "stdout": "about to fail\n"},
        "down": {"platform_error": "instance unavailable", "status": 400}}}})
    d = fused_daemon(daemon, emulator, tmp_path, [
        {"name": "boom", "cron": "* * * * * *", "engine": "fused", "fused": {"shared_token": "UDF_boom"},
         "retries": 1, "retry_backoff": "1s"},
        {"name": "down", "cron": "* * * * * *", "engine": "fused", "fused": {"shared_token": "UDF_down"},
         "retries": 1},
        {"name": "missing", "cron": "* * * * * *", "engine": "fused", "fused": {"udf": "user@emulator.test/nope"},
         "retries": 1},
    ])
    boom_id, boom = first_run(d, "boom", "failed", 15)
    _, down = first_run(d, "down", "failed", 10)
    _, missing = first_run(d, "missing", "failed", 10)
    d.stop()

    assert names(boom)[:5] == ["scheduled", "started", "log", "retry", "started"]
    assert of(boom, "failed")[0]["MESSAGE"].startswith(
        f"{d.name('boom')}[{boom_id}] #2 failed: the UDF raised ValueError: bad day (line 7) (HTTP 500)")
    assert [r["MESSAGE"] for r in of(boom, "log")] == ["about to fail", "about to fail"]
    # one call per attempt, never repeated by the HTTP client
    assert emulator.starts("fused.realtime")["boom"] == len(of(d.records("boom"), "started"))
    assert "instance unavailable" in of(down, "failed")[0]["MESSAGE"]
    assert "retry" not in names(down) and "retry" not in names(missing)  # a 4xx is not retried
    assert "HTTP 404: UDF user@emulator.test/nope not found" in of(missing, "failed")[0]["MESSAGE"]


def test_a_long_realtime_run_is_polled(daemon, emulator, tmp_path):
    """Posted code that outlasts the service's wait answers 202: the engine records the run's id and asks
    GET .../run/udf/get/{id} until the result is there."""
    emulator.config({"fused": {"realtime": {"start_wait": 0.2},
                               "udfs": {"slow": {"result": [1, 2], "delay": 2.5}}}})
    udf = tmp_path / "slow.py"
    udf.write_text("def udf():\n    pass\n")
    d = fused_daemon(daemon, emulator, tmp_path, [{"name": "slow", "cron": "* * * * * *", "engine": "fused",
                                                    "udf": str(udf)}])
    run_id, recs = first_run(d, "slow", "finished", 15)
    d.stop()
    gets = emulator.requests(route="fused.run.get")
    assert len(gets) >= 2 and {g["status"] for g in gets[:-1]} == {202} and gets[-1]["status"] == 200
    run_uuid = header_values(emulator.requests(route="fused.run.start")[0], "Fused-Run-Id")[0]
    assert of(recs, "finished")[0]["UDFCRON_JOB_ID"] == run_uuid
    assert of(recs, "finished")[0]["MESSAGE"].endswith(": [1, 2]")


# ---------------------------------------------------------------- batch jobs

def test_batch_job_end_to_end(daemon, emulator, tmp_path):
    """A saved UDF as a batch job: its code fetched and posted in a job config named after the run, with
    the schedule's instance, region, disk, environment and image and one task per input; every log
    line forwarded once, in order, with its own timestamp; the result files fetched from their signed
    URLs without credentials and stored; the job started exactly once."""
    emulator.config({"fused": {"job": SHORT_JOB}})
    save_udf(emulator, "rollup")
    d = fused_daemon(daemon, emulator, tmp_path, [batch("nightly", fused={
        "instance_type": "m5.large", "region": "us-west-2", "disk_size_gb": 50, "image": "fused:1.2",
        "additional_env": {"STAGE": "prod"}, "inputs": Raw('( { day = "${scheduled:%F}"; }, { day = "x"; }, 3 )')})])
    run_id, recs = first_run(d, "nightly", "finished", 20)
    d.stop()

    post = emulator.requests(route="fused.job.start")[0]
    assert query(post) == {"instance_type": "m5.large", "region": "us-west-2",
                                                            "disk_size_gb": "50"}
    body = json.loads(post["body"])
    config = body["config"]
    assert config["name"] == job_name(d, "nightly", run_id)
    step = config["steps"][0]
    assert step["type"] == "udf" and step["name"] == "rollup" and "def udf" in step["udf"]["code"]
    assert step["udf"]["parameters"] == {"day": "monday"}
    assert step["input"][1:] == [{"day": "x"}, 3] and step["input"][0]["day"].count("-") == 2
    assert body["additional_env"] == ["STAGE=prod"] and body["image_name"] == "fused:1.2"
    assert body["send_status_email"] is False
    assert emulator.starts("fused")[config["name"]] == 1  # (a later slot may have started its own)

    job_id = of(recs, "finished")[0]["UDFCRON_JOB_ID"]
    assert forwarded(recs) == job_log(emulator, job_id)  # every line, once, in order, its own timestamp
    assert len(forwarded(recs)) >= 8
    assert {r["UDFCRON_JOB_ID"] for r in of(recs, "log")} == {job_id}
    assert f"s: 3 result files in results/{d.name('nightly')}/{run_id}/, 0.json: {{" in \
        of(recs, "finished")[0]["MESSAGE"]
    assert stored(d, "nightly", run_id) == [f"{run_id}/0.json", f"{run_id}/1.json", f"{run_id}/2.json"]
    result = json.loads((d.state_dir / "results" / d.name("nightly") / run_id / "2.json").read_text())
    assert result == {"task": 2, "job_id": job_id, "input": 3}
    storage = emulator.requests(listener="storage")
    assert len(storage) == 3 and not any(header_values(r, "Authorization") for r in storage)


def test_a_quiet_log_is_read_less_often(daemon, emulator, tmp_path):
    """A job that logs nothing while it runs, polled every second: each read of its log that brings
    nothing doubles the wait before the next, up to quiet_log_interval (4 s); no line is lost or
    doubled, and its last lines still come before its end."""
    emulator.config({"fused": {"job": {**SHORT_JOB, "running": 12.0, "log_interval": 60.0}}})
    save_udf(emulator, "rollup")
    d = fused_daemon(daemon, emulator, tmp_path, [batch("quiet", cron=once_soon())],
                     engine={"quiet_log_interval": "4s"})
    run_id, recs = first_run(d, "quiet", "finished", 30)
    d.stop()

    job_id = of(recs, "finished")[0]["UDFCRON_JOB_ID"]
    assert forwarded(recs) == job_log(emulator, job_id)
    assert names(recs)[-1] == "finished"
    statuses = [r["time"] for r in emulator.requests(route="fused.job.status")]
    reads = [r["time"] for r in emulator.requests(route="fused.job.logs") if r["time"] <= statuses[-1]]
    gaps = [round(b - a) for a, b in zip(reads, reads[1:])]
    assert len(statuses) >= 12
    assert 2 in gaps and 4 in gaps and max(gaps) == 4, gaps  # 1, 2, 4, then 4 again: never beyond


def test_remote_jobs_do_not_count_against_the_descriptor_limit(daemon, emulator, tmp_path):
    """With descriptors for a handful of local runs only (soft = hard = 96), twelve batch jobs all run at
    once: a job followed over pooled connections holds no descriptor of its own."""
    emulator.config({"fused": {"job": {**SHORT_JOB, "running": 30}}})
    save_udf(emulator, "rollup")
    d = fused_daemon(daemon, emulator, tmp_path, [batch(f"j{i}", cron=once_soon()) for i in range(12)],
                     settings={"max_concurrent_runs": 100}, nofile=96)
    wait_for(lambda: len(emulator.jobs()["fused"]) == 12, 15, "twelve jobs running at once")
    d.stop()


def test_batch_job_outcomes(daemon, emulator, tmp_path):
    """A job that fails, one cancelled on the service, and one whose job_status nobody knows: each run
    ends accordingly, with the job's last log lines in the journal before its end."""
    emulator.config({"fused": {"job": {**SHORT_JOB, "running": 30}}})  # each ends when the test says
    save_udf(emulator, "rollup")
    udf = tmp_path / "job.py"
    udf.write_text("def udf(day=None):\n    return day\n")
    d = fused_daemon(daemon, emulator, tmp_path, [
        batch("fails", udf="team/rollup"),
        batch("cancelled"),
        {"name": "odd", "cron": "* * * * * *", "engine": "fused", "udf": str(udf), "fused": {"mode": "batch"}},
    ])
    wait_for(lambda: len(emulator.jobs()["fused"]) >= 3, 10, "three jobs")
    by_name = {j["job_name"].split(".")[0]: j["job_id"] for j in emulator.jobs()["fused"]}
    emulator.fault("unknown_status", method="GET", path=by_name[d.name("odd")] + "$")
    emulator.finish_fused_job(by_name[d.name("fails")], "failed")
    emulator.finish_fused_job(by_name[d.name("cancelled")], "cancelled")
    emulator.finish_fused_job(by_name[d.name("odd")], "succeeded")
    _, fails = first_run(d, "fails", "failed", 15)
    _, cancelled = first_run(d, "cancelled", "cancelled", 15)
    _, odd = first_run(d, "odd", "failed", 15)
    d.stop()

    fail_id = by_name[d.name("fails")]
    assert f"failed: job {fail_id} failed (job_status failed) after " in of(fails, "failed")[0]["MESSAGE"]
    assert [m for _, m in forwarded(fails)][-2:] == ["ValueError: emulated task failure", "Job failed"]
    assert names(fails)[-1] == "failed" and "retry" not in names(fails)
    assert "was cancelled on the service (job_status cancelled)" in of(cancelled, "cancelled")[0]["MESSAGE"]
    assert [m for _, m in forwarded(cancelled)][-1] == "Job cancelled"
    assert "ended with job_status 'frobnicating', which udfcron does not know" in of(odd, "failed")[0]["MESSAGE"]
    assert emulator.requests(route="fused.udf.by_team"), "team/NAME is read from the team's UDFs"


# ---------------------------------------------------------------- faults

def test_polling_survives_every_fault(daemon, emulator, tmp_path):
    """Status and log reads of a running job meet every fault the service can throw: 5xx, 429 with
    Retry-After, resets, a hang past the timeout, a trickled body, malformed and truncated JSON, a
    status nobody knows. The run still ends `finished` with every log line exactly once, and the job
    was started once."""
    emulator.config({"fused": {"job": {**SHORT_JOB, "running": 60}}})  # until every fault has applied
    save_udf(emulator, "rollup")
    status_faults = [
        ("unknown_status", {}),  # first: while the job runs, not at its end
        ("status", {"status": 503}),
        ("status", {"status": 429, "retry_after": "1"}),
        ("reset", {}),
        ("hang", {"seconds": 4}),
        ("slow", {"chunk": 40, "interval": 0.05}),
        ("malformed_json", {}),
        ("truncate", {}),
        ("truncate", {"framing": "connection"}),
    ]
    log_faults = [("status", {"status": 502}), ("reset", {"after_bytes": 10}), ("malformed_json", {}),
                  ("truncate", {}), ("slow", {"chunk": 20, "interval": 0.05})]
    for kind, p in status_faults:
        emulator.fault(kind, method="GET", path=STATUS_PATH, count=1, **p)
    for kind, p in log_faults:
        emulator.fault(kind, method="GET", path="/logs/", count=1, **p)
    d = fused_daemon(daemon, emulator, tmp_path, [batch("faulty", cron=once_soon())])
    wait_for(lambda: all(f["hits"] == 1 for f in emulator.faults()), 40, "every fault to apply once")
    emulator.finish_fused_job(emulator.jobs()["fused"][0]["job_id"], "succeeded")
    run_id, recs = first_run(d, "faulty", "finished", 15)
    d.stop()

    job_id = of(recs, "finished")[0]["UDFCRON_JOB_ID"]
    assert forwarded(recs) == job_log(emulator, job_id)
    assert emulator.starts("fused")[job_name(d, "faulty", run_id)] == 1
    assert names(recs)[-1] == "finished" and "failed" not in names(recs)


def test_lost_start_answers_never_start_a_job_twice(daemon, emulator, tmp_path):
    """POST /run whose answer is lost after the service acted (a reset mid-answer, an answer past the
    timeout, a broken body) is followed by a look at the job list, which finds the job by its name (the
    list's items have none, as in the contract: each candidate's config is read); one refused before the
    service acted (503, 429 with Retry-After) is started again. Every job is started exactly once, and
    every run finishes."""
    emulator.config({"fused": {"job": SHORT_JOB}})
    save_udf(emulator, "rollup")
    for kind, p in [("reset", {"after_bytes": 5}), ("hang", {"seconds": 3, "then": "respond"}),
                    ("malformed_json", {}), ("status", {"status": 503}),
                    ("status", {"status": 429, "retry_after": "1"})]:
        emulator.fault(kind, method="POST", path=r"/run$", count=1, **p)
    d = fused_daemon(daemon, emulator, tmp_path, [batch(f"s{i}") for i in range(5)])
    for i in range(5):
        first_run(d, f"s{i}", "finished", 30)
    d.stop()

    assert all(f["hits"] == 1 for f in emulator.faults())
    starts = emulator.starts("fused")
    assert set(starts.values()) == {1}, starts
    searches = emulator.requests(route="fused.job.list")
    assert len(searches) >= 3  # one per lost answer, at least
    assert len(emulator.requests(route="fused.job.config")) >= 3
    found = [r for r in d.daemon_log() if "started before: following it" in r.get("MESSAGE", "")]
    assert len(found) == 3, [r["MESSAGE"] for r in found]


def test_expired_token_mid_job_fails_the_run_without_a_retry(daemon, emulator, tmp_path):
    """The token is revoked while the job runs: the run fails at once with the service's 401 message, and
    is not retried (another job could run beside the one it lost sight of)."""
    emulator.config({"fused": {"job": {**SHORT_JOB, "running": 30}}})
    save_udf(emulator, "rollup")
    emulator.fault("revoke_auth", method="GET", path=STATUS_PATH, skip=2, count=1)
    d = fused_daemon(daemon, emulator, tmp_path, [batch("expiring", retries=2)])
    run_id, recs = first_run(d, "expiring", "failed", 15)
    d.stop()
    job_id = of(recs, "failed")[0]["UDFCRON_JOB_ID"]
    assert f"failed: lost track of job {job_id}: HTTP 401: Invalid or expired token after " in \
        of(recs, "failed")[0]["MESSAGE"]
    assert "retry" not in names(recs)
    assert emulator.starts("fused")[job_name(d, "expiring", run_id)] == 1


# ---------------------------------------------------------------- timeouts, restarts

def test_timeouts_cancel_the_job(daemon, emulator, tmp_path):
    """A batch job still running at the schedule's timeout is cancelled on the service (POST .../cancel)
    and the run ends timed_out; a realtime run past its timeout is abandoned the same way."""
    emulator.config({"fused": {"job": {**SHORT_JOB, "running": 60},
                               "udfs": {"sleepy": {"result": 1, "delay": 10}}}})
    save_udf(emulator, "rollup")
    d = fused_daemon(daemon, emulator, tmp_path, [
        batch("long", timeout="3s"),
        {"name": "sleepy", "cron": "* * * * * *", "engine": "fused", "fused": {"shared_token": "UDF_sleepy"},
         "timeout": "2s"}])
    run_id, recs = first_run(d, "long", "timed_out", 15)
    _, sleepy = first_run(d, "sleepy", "timed_out", 10)
    d.stop()
    job_id = of(recs, "timed_out")[0]["UDFCRON_JOB_ID"]
    assert f"timed_out: timed out after 3s; job {job_id} cancelled after " in of(recs, "timed_out")[0]["MESSAGE"]
    # the cancel is sent at 3 s; its answer may take one 2 s HTTP attempt more when the emulator is busy
    assert 3 * SEC <= int(of(recs, "timed_out")[0]["UDFCRON_DURATION_USEC"]) < 7 * SEC
    job = next(j for j in emulator.jobs()["fused"] if j["job_id"] == job_id)
    assert job["job_status"] == "cancelled"
    assert emulator.starts("fused.cancel") == {job["job_name"]: 1}
    assert "timed out after 2s after 2." in of(sleepy, "timed_out")[0]["MESSAGE"]


def test_restarts_mid_job_reattach_without_a_second_start(daemon, emulator, tmp_path):
    """A job survives two stops of the daemon: SIGTERM (the daemon lets it run on) and SIGKILL (a crash).
    Each restart re-attaches to it from the state file and goes on tailing its log where the last daemon
    stopped: over the three daemons every line is forwarded exactly once, and the job was started once."""
    emulator.config({"fused": {"job": {**SHORT_JOB, "running": 9.0, "log_lines_per_tick": 2}}})
    save_udf(emulator, "rollup")
    d = fused_daemon(daemon, emulator, tmp_path, [batch("survivor", cron=once_soon())])
    d.wait_records(lambda rs: len(of(rs, "log")) >= 4, 10, "a few log lines", "survivor")
    status, _ = d.stop()
    assert status == 0
    assert any("runs on without the daemon" in r["MESSAGE"] for r in d.daemon_log())
    d.start()
    d.wait_records(lambda rs: len(of(rs, "log")) >= 10, 10, "more log lines", "survivor")
    d.kill()
    d.start()
    run_id, recs = first_run(d, "survivor", "finished", 20)
    d.stop()

    job_id = of(recs, "finished")[0]["UDFCRON_JOB_ID"]
    assert forwarded(recs) == job_log(emulator, job_id)  # none twice, none lost
    assert len(of(recs, "started")) == 3
    assert [r["MESSAGE"].split(": ", 1)[1] for r in of(recs, "started")[1:]] == [f"re-attached to job {job_id}"] * 2
    assert list(emulator.starts("fused").values()) == [1]


def test_a_crash_between_start_and_answer_finds_the_job(daemon, emulator, tmp_path):
    """The daemon dies after POST /run reached the service but before its answer (the job id) did: the
    next daemon does not know the job's id, looks for the job by its name, and follows it. Here the job
    list names its jobs (job_list_names): no job's config needs reading."""
    emulator.config({"fused": {"job": SHORT_JOB, "job_list_names": True}})
    save_udf(emulator, "rollup")
    emulator.fault("hang", method="POST", path=r"/run$", seconds=5, then="respond", count=1)
    d = fused_daemon(daemon, emulator, tmp_path, [batch("crashy", cron=once_soon())], http={"timeout": "10s"})
    wait_for(lambda: emulator.jobs()["fused"], 10, "the job to start")
    d.kill()
    d.start()
    run_id, recs = first_run(d, "crashy", "finished", 20)
    d.stop()
    assert list(emulator.starts("fused").values()) == [1]
    assert any("started before: following it" in r.get("MESSAGE", "") for r in d.daemon_log())
    assert forwarded(recs) == job_log(emulator, of(recs, "finished")[0]["UDFCRON_JOB_ID"])
    assert emulator.requests(route="fused.job.list") and not emulator.requests(route="fused.job.config")
