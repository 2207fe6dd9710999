"""
The fusion engine end to end: the real daemon runs Spark jobs on the emulated Lucidworks Fusion
(tests/emulator/), with real journald records. Every test starts one run and checks how it ended, what
reached the journal and what the service saw (its request records and its count of starts).
"""
import json

import pytest

from conftest import wait_for
from emulator.client import header_values

CONFIG = "nightly-rollup"
FAST = {"starting": 0.3, "running": 0.6, "finishing": 0.2, "cancelling": 0.3, "log_interval": 0.15}
ENDS = ("finished", "failed", "timed_out", "cancelled")


def spark_config(emu, cid=CONFIG, **job):
    """Creates Spark job config `cid` on the emulator; `job` overrides its run profile (fusion.jobs.ID)."""
    emu.config({"fusion": {"job": FAST, "jobs": {cid: job} if job else {}}})
    reply = emu.request("POST", "/api/spark/configurations", headers=emu.fusion_basic(),
                        json_body={"id": cid, "type": "custom_python_job", "script": "print('rolling up')"})
    assert reply.status == 200, reply
    emu.clear_requests()  # from here on, the daemon's


def fusion_daemon(daemon, emu, tmp_path, engine=None, schedule=None, settings=None, password=None):
    """A daemon with one schedule `spark` on the fusion engine, run once now (udfcronctl run); `engine`
    overrides keys of engines.fusion (None removes one). The password is the credential fusion-password."""
    creds = tmp_path / "credentials"
    creds.mkdir(exist_ok=True)
    (creds / "fusion-password").write_text((password or emu.fusion_password) + "\n")
    fusion = {"base_url": emu.url, "auth": "basic", "user": emu.fusion_user,
              "password": "${secret:fusion-password}", "poll_interval": "1s", **(engine or {})}
    fusion = {k: v for k, v in fusion.items() if v is not None}
    s = {"name": "spark", "cron": "0 0 0 1 1 *", "engine": "fusion", "fusion": {"job": CONFIG},
         **(schedule or {})}
    d = daemon([s], settings={"engines": {"fusion": fusion}, **(settings or {})},
               env={"CREDENTIALS_DIRECTORY": str(creds)})
    started = d.ctl("run", d.name("spark"))
    assert started.status == 0, started.err
    return d


def of(recs, *events):
    return [r for r in recs if r.get("UDFCRON_EVENT") in events]


def run_end(d, timeout=20):
    """The first run's records up to its end (finished, failed, timed_out or cancelled)."""
    recs = d.wait_records(lambda rs: of(rs, *ENDS), timeout, "the run's end", "spark")
    run_id = of(recs, *ENDS)[0]["UDFCRON_RUN_ID"]
    return [r for r in recs if r["UDFCRON_RUN_ID"] == run_id]


def fusion_requests(emu, method=None, path=None):
    return [r for r in emu.requests(method=method, path=path) if r["route"].startswith("fusion")]


def driver_log(emu, cid=CONFIG):
    reply = emu.request("GET", f"/api/spark/driver/log/{cid}?rows=1000", headers=emu.fusion_basic())
    return reply.body.decode().splitlines()


# ---------------------------------------------------------------- a run, every way in

AUTH_CASES = {
    # auth, engine settings, the api prefix the requests must use
    "basic": ({"auth": "basic"}, "/api"),
    "session": ({"auth": "session", "api_prefix": "/api/apollo"}, "/api/apollo"),
    "jwt": ({"auth": "bearer", "app": "search"}, "/api/apps/search"),
    "bearer": ({"auth": "bearer", "user": None, "password": None, "token": "${secret:fusion-token}"}, "/api"),
    "api_key": ({"auth": "api_key", "user": None, "password": None, "token": "${secret:fusion-key}"}, "/api"),
}


@pytest.mark.parametrize("case", AUTH_CASES)
def test_a_run_polled_to_success_with_its_driver_log(daemon, emulator, tmp_path, case):
    """Start, poll, success: the driver log's lines become the run's output records, the run records its
    Spark run id, every request carries the configured auth and path prefix and never a trailing slash, a
    session is opened once and closed at the end, and Fusion started exactly one run."""
    engine, prefix = AUTH_CASES[case]
    token = emulator.request("POST", "/oauth2/token", headers=emulator.fusion_basic()).json()["access_token"]
    spark_config(emulator)
    (tmp_path / "credentials").mkdir()
    (tmp_path / "credentials" / "fusion-key").write_text(emulator.fusion_api_key)
    (tmp_path / "credentials" / "fusion-token").write_text(token)
    d = fusion_daemon(daemon, emulator, tmp_path, engine=engine)

    recs = run_end(d)
    seen = fusion_requests(emulator)  # before the test's own
    finished = of(recs, "finished")
    assert finished, [r["MESSAGE"] for r in recs]
    job_id = finished[0]["UDFCRON_JOB_ID"]
    assert [r["UDFCRON_ENGINE"] for r in of(recs, "started", "finished")] == ["fusion", "fusion"]
    assert of(recs, "started")[0]["MESSAGE"].endswith(f"started: Spark job {CONFIG}")
    lines = [r["MESSAGE"] for r in of(recs, "log")]
    assert lines == driver_log(emulator)  # every line, once, in order
    assert f"run {job_id}" in lines[0] and "Successfully stopped SparkContext" in lines[-1]
    assert emulator.starts("fusion") == {CONFIG: 1}
    result = d.state_dir / "results" / d.name("spark") / f"{finished[0]['UDFCRON_RUN_ID']}.json"
    assert f'"jobId":"{job_id}"' in result.read_text() and '"state":"finished"' in result.read_text()

    api = [r for r in seen if r["route"] not in ("fusion.session.create", "fusion.session.delete",
                                                 "fusion.oauth2.token")]
    assert api and all(r["path"].startswith(prefix + "/") for r in api), \
        [(r["route"], r["path"]) for r in api if not r["path"].startswith(prefix + "/")]
    assert not any(r["path"].endswith("/") for r in seen)
    assert all(r["status"] < 400 for r in seen), [(r["path"], r["status"]) for r in seen]
    if case == "basic":
        assert all(header_values(r, "Authorization")[0].startswith("Basic ") for r in api)
    if case == "session":  # one login; the session is closed at the end
        wait_for(lambda: [r["route"] for r in fusion_requests(emulator) if "session" in r["route"]]
                 == ["fusion.session.create", "fusion.session.delete"], 5, "the session to be closed")
        assert all(header_values(r, "Cookie") and not header_values(r, "Authorization") for r in api)
    if case == "jwt":
        assert [r["route"] for r in seen].count("fusion.oauth2.token") == 1
        assert all(header_values(r, "Authorization")[0].startswith("Bearer ey") for r in api)
    if case == "bearer":
        assert "fusion.oauth2.token" not in [r["route"] for r in seen]
        assert all(header_values(r, "Authorization") == [f"Bearer {token}"] for r in api)
    if case == "api_key":
        assert all(header_values(r, "x-api-key") == [emulator.fusion_api_key] for r in api)
        assert emulator.fusion_api_key not in d.journald.query(f"_PID={d.pid}")


def test_a_failed_run_carries_the_servers_message(daemon, emulator, tmp_path):
    """A run that ends in state "error" fails with the exception Fusion reports; its error lines are in
    the journal; the retry policy applies (a failed Spark run is worth another try)."""
    spark_config(emulator, outcome="error", error="java.lang.IllegalStateException: input collection is empty")
    d = fusion_daemon(daemon, emulator, tmp_path, schedule={"retries": 1, "retry_backoff": "1s"})

    recs = d.wait_records(lambda rs: len(of(rs, "failed", "retry")) >= 2, 20, "two failed attempts", "spark")
    retry, failed = of(recs, "retry")[0], of(recs, "failed")[0]
    for rec in (retry, failed):
        assert "failed: java.lang.IllegalStateException: input collection is empty" in rec["MESSAGE"]
    assert failed["UDFCRON_ATTEMPT"] == "2" and failed["PRIORITY"] == "3"
    assert any("ERROR" in r["MESSAGE"] for r in of(recs, "log"))
    assert emulator.starts("fusion") == {CONFIG: 2}


def test_run_with_parameters_is_refused(daemon, emulator, tmp_path):
    """A Spark job run takes no parameters (neither start carries any): `udfcronctl run --param` is refused
    with the reason, rather than run without them, and Fusion starts nothing for it."""
    spark_config(emulator)
    d = fusion_daemon(daemon, emulator, tmp_path)
    run_end(d)

    refused = d.ctl("run", "--param", "day=2026-11-22", d.name("spark"))
    assert refused.status == 1
    assert refused.err == (f'udfcronctl run: {d.name("spark")} runs on engine "fusion", whose runs take no '
                           "parameters: run it without --param\n")
    assert d.ctl("run", "--wait", d.name("spark")).status == 0  # without --param it runs
    assert len(of(d.records("spark"), "scheduled")) == 2
    assert emulator.starts("fusion") == {CONFIG: 2}


# ---------------------------------------------------------------- credentials

@pytest.mark.parametrize("auth", ["basic", "session"])
def test_refused_credentials_fail_the_run_for_good(daemon, emulator, tmp_path, auth):
    """A wrong password: the run fails at once, without a retry (retrying cannot help), says Fusion
    refused it, starts nothing, and the password appears nowhere."""
    spark_config(emulator)
    d = fusion_daemon(daemon, emulator, tmp_path, engine={"auth": auth}, password="not-the-password",
                      schedule={"retries": 2, "retry_backoff": "1s"})

    recs = run_end(d)
    assert [r["UDFCRON_EVENT"] for r in of(recs, *ENDS, "retry")] == ["failed"]
    assert "refused" in of(recs, "failed")[0]["MESSAGE"] and "HTTP 401" in of(recs, "failed")[0]["MESSAGE"]
    assert emulator.starts("fusion") == {}
    assert "not-the-password" not in d.journald.query(f"_PID={d.pid}")


def test_an_expired_session_is_renewed_once_and_the_run_goes_on(daemon, emulator, tmp_path):
    """The session expires mid-run (401 for its cookie from the third poll on): the daemon logs in again
    once, repeats the request and follows the same run to its end."""
    spark_config(emulator, running=2.5)
    emulator.fault("revoke_auth", method="GET", path=f"/spark/jobs/{CONFIG}$", skip=3, count=1)
    d = fusion_daemon(daemon, emulator, tmp_path, engine={"auth": "session"})

    recs = run_end(d)
    assert of(recs, "finished"), [r["MESSAGE"] for r in recs]
    routes = [r["route"] for r in fusion_requests(emulator)]
    assert routes.count("fusion.session.create") == 2
    assert [r["status"] for r in fusion_requests(emulator)].count(401) == 1
    assert emulator.starts("fusion") == {CONFIG: 1}


# ---------------------------------------------------------------- faults

POLL = ("GET", f"/spark/jobs/{CONFIG}$")
FAULTS = {
    # name: (fault kind, (method, path), parameters, the run's end, a part of its message)
    "503 on the start": ("status", ("POST", f"/spark/jobs/{CONFIG}$"), {"status": 503, "count": 1},
                         "finished", None),
    "429 on polls": ("status", POLL, {"status": 429, "retry_after": "1", "count": 2}, "finished", None),
    "resets on polls": ("reset", POLL, {"count": 2}, "finished", None),
    "a poll that hangs": ("hang", POLL, {"seconds": 30, "count": 1}, "finished", None),
    "malformed JSON once": ("malformed_json", POLL, {"count": 1, "skip": 1}, "finished", None),
    "unknown states": ("unknown_status", POLL, {"count": 2, "skip": 1}, "finished", None),
    "malformed JSON for good": ("malformed_json", POLL, {"skip": 1}, "failed", "not a SparkJobStatus"),
    "404 on the start": ("status", ("POST", f"/spark/jobs/{CONFIG}$"), {"status": 404}, "failed", "HTTP 404"),
}


@pytest.mark.parametrize("name", FAULTS)
def test_faults_end_the_run_as_they_should(daemon, emulator, tmp_path, name):
    """Each fault on the way ends the run in the state it should: transient ones are ridden out (the
    HTTP client's retries, then the next poll; a start whose answer was lost is looked for, then retried
    by the schedule's policy), nonsense that persists and refusals fail the run. A run starts at most
    once per attempt."""
    kind, (method, path), params, end, message = FAULTS[name]
    spark_config(emulator)
    emulator.fault(kind, method=method, path=path, **params)
    d = fusion_daemon(daemon, emulator, tmp_path, schedule={"retries": 1, "retry_backoff": "1s"},
                      settings={"http": {"timeout": "1s", "retry_backoff": "1s", "retries": 2}})

    recs = d.wait_records(lambda rs: of(rs, *ENDS), 40, "the run's end", "spark")
    ended = of(recs, *ENDS)[0]
    assert ended["UDFCRON_EVENT"] == end, [r["MESSAGE"] for r in recs]
    if message:
        assert message in ended["MESSAGE"]
    attempts = int(ended["UDFCRON_ATTEMPT"])
    assert sum(emulator.starts("fusion").values()) <= attempts
    if end == "finished":
        assert emulator.starts("fusion") == {CONFIG: 1}
    if name == "404 on the start":  # a refusal is not retried
        assert attempts == 1 and not of(recs, "retry")


# ---------------------------------------------------------------- stopping

@pytest.mark.parametrize("jobs_api", [False, True])
def test_a_timeout_cancels_the_run_in_fusion(daemon, emulator, tmp_path, jobs_api):
    """A run past the schedule's timeout is cancelled in Fusion (DELETE /spark/jobs/{id}, or the Jobs
    API's abort action when the schedule starts through the Jobs API) and ends timed_out once Fusion
    confirms."""
    spark_config(emulator, running=30)
    d = fusion_daemon(daemon, emulator, tmp_path,
                      schedule={"timeout": "2s", "kill_grace": "5s", "fusion": {"job": CONFIG, "jobs_api": jobs_api}})

    recs = run_end(d)
    ended = of(recs, *ENDS)[0]
    assert ended["UDFCRON_EVENT"] == "timed_out", ended["MESSAGE"]
    assert "Fusion cancelled run" in ended["MESSAGE"]
    assert emulator.starts("fusion") == {CONFIG: 1}
    assert emulator.starts("fusion.cancel") == {CONFIG: 1}
    routes = [r["route"] for r in fusion_requests(emulator)]
    if jobs_api:
        actions = [json.loads(r["body"]) for r in fusion_requests(emulator, method="POST", path="/actions$")]
        assert [a["action"] for a in actions] == ["start", "abort"]
        assert d.name("spark") in actions[0]["comment"]
        assert "fusion.spark.start" not in routes and "fusion.spark.cancel" not in routes
    else:
        assert routes.count("fusion.spark.cancel") == 1


def test_a_timeout_before_the_start_is_answered_still_cancels_the_run(daemon, emulator, tmp_path):
    """The timeout passes while the start's answer is on its way (Fusion acts at once, answers late): the
    daemon waits for the answer rather than forget a run it may have made, then cancels that run."""
    spark_config(emulator, running=30)
    emulator.fault("hang", method="POST", path=f"/spark/jobs/{CONFIG}$", seconds=2.5, then="respond", count=1)
    d = fusion_daemon(daemon, emulator, tmp_path, schedule={"timeout": "1s", "kill_grace": "5s"})

    recs = run_end(d)
    ended = of(recs, *ENDS)[0]
    assert ended["UDFCRON_EVENT"] == "timed_out" and "Fusion cancelled run" in ended["MESSAGE"], ended["MESSAGE"]
    assert emulator.starts("fusion") == {CONFIG: 1}
    assert emulator.starts("fusion.cancel") == {CONFIG: 1}


@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM"])
def test_a_restarted_daemon_follows_the_same_run(daemon, emulator, tmp_path, how):
    """The daemon dies (SIGKILL) or stops (SIGTERM: at once, leaving the job to run) mid-run: started
    again, it re-attaches to the Spark run it recorded, never starts another, and forwards the rest of
    the driver log."""
    spark_config(emulator, running=4)
    d = fusion_daemon(daemon, emulator, tmp_path)
    recs = d.wait_records(lambda rs: any(r.get("UDFCRON_JOB_ID") for r in rs) and of(rs, "log"), 15,
                          "the run to be under way", "spark")
    job_id = next(r["UDFCRON_JOB_ID"] for r in recs if r.get("UDFCRON_JOB_ID"))
    wait_for(lambda: job_id in (d.state_dir / "state.json").read_text(), 5, "the job id in the state")
    first_pid = d.pid
    if how == "SIGKILL":
        d.kill()
    else:
        status, took = d.stop()
        assert status == 0 and took < 3
        assert job_id in (d.state_dir / "state.json").read_text()
    d.start()

    recs = run_end(d)
    ended = of(recs, *ENDS)[0]
    assert ended["UDFCRON_EVENT"] == "finished" and ended["UDFCRON_JOB_ID"] == job_id
    assert ended["_PID"] != str(first_pid)
    assert f"re-attached to job {job_id}" in of(recs, "started")[-1]["MESSAGE"]
    assert emulator.starts("fusion") == {CONFIG: 1}
    lines = [r["MESSAGE"] for r in of(recs, "log")]
    assert set(driver_log(emulator)) <= set(lines)
    assert len(lines) - len(set(lines)) <= 2  # at most the last poll's lines again, after a SIGKILL
