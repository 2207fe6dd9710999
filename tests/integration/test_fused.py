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
    assert config["name"] == f"{d.name('nightly')}.{run_id}.1"
    step = config["steps"][0]
    assert step["type"] == "udf" and step["name"] == "rollup" and "def udf" in step["udf"]["code"]
    assert step["udf"]["parameters"] == {"day": "monday"}
    assert step["input"][1:] == [{"day": "x"}, 3] and step["input"][0]["day"].count("-") == 2
    assert body["additional_env"] == ["STAGE=prod"] and body["image_name"] == "fused:1.2"
    assert body["send_status_email"] is False
    assert emulator.starts("fused") == {config["name"]: 1}

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
