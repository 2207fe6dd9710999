"""
Pipelines across daemon restarts and retries: the real daemon, SIGKILLed (a crash) or stopped with
SIGTERM in the middle of a pipeline, the Fused emulator for a Fused job step, real UDF children,
journald and the state file.

- a crash during a Fused job step: the next daemon re-attaches to the job (never starts another) and
  goes on from that step; the steps before it do not run again;
- a crash during a local step: that step is lost (it died with the daemon) and the retry goes on from
  it, with the outputs of the steps before it;
- SIGTERM while a local step runs: the step finishes, the next one does not start, and the next daemon
  starts it;
- a step that fails is retried from that step, also when a crash falls into the retry's backoff.

Each UDF appends its name to a file as it runs: how often each step ran.
"""
import json

from conftest import wait_for
from test_fused import once_soon
from test_pipeline import settings, steps

RECORD = """\
import time

def udf(log: str, name: str, sleep: float = 0, fail_first: bool = False, **inputs):
    with open(log, "a") as f:
        f.write(name + "\\n")
    runs = open(log).read().split().count(name)
    if fail_first and runs == 1:
        raise RuntimeError(f"{name} fails the first time")
    if runs == 1:
        time.sleep(sleep)
    return {"step": name, "run": runs, **inputs}
"""


def udf_step(tmp_path, name, output=True, **params):
    """A UDF step `name` of RECORD, its output (when it has one) under the attempt's own directory."""
    step = {"type": "udf", "name": name, "udf": str(tmp_path / "record.py"),
            "params": {"log": str(tmp_path / "runs.log"), "name": name, **params}}
    if output:
        step["output"] = output_url(tmp_path, "${run_id}", "${attempt}", name)
    return step


def output_url(tmp_path, run_id, attempt, name):
    """Where step `name` of udf_step() stores its result in that attempt of that run."""
    return f"file://{tmp_path}/out/{run_id}/{attempt}/{name}.json"


def ran(tmp_path):
    """The steps that ran, in order."""
    log = tmp_path / "runs.log"
    return log.read_text().split() if log.exists() else []


def of(recs, *events):
    return [r for r in recs if r.get("UDFCRON_EVENT") in events]


def steps_of(recs, *events):
    return [(r["UDFCRON_EVENT"], r["UDFCRON_STEP"]) for r in of(recs, *events)]


def crash_then_finish(d, short):
    """SIGKILL, a new daemon, and the records of the run once it finished."""
    d.kill()
    d.start()
    return run_records(d, short, "finished", 20)


def run_records(d, short, event, timeout):
    """The records of the run of `short` once it has an `event` record."""
    recs = d.wait_records(lambda rs: of(rs, event), timeout, f"a {event} record", short)
    run_id = of(recs, event)[0]["UDFCRON_RUN_ID"]
    return run_id, [r for r in recs if r.get("UDFCRON_RUN_ID") == run_id]


def recorded_run(d):
    """The (only) run in flight in the state file on disk, or None."""
    path = d.state_dir / "state.json"
    runs = json.loads(path.read_text()).get("runs", []) if path.exists() else []
    return runs[0] if runs else None


def result(recs):
    """The run's result: the last step's, in its `finished` record."""
    return json.loads(of(recs, "finished")[0]["MESSAGE"].split("s: ", 1)[1])


def prepare(tmp_path):
    """The steps' UDF, and the daemon's settings (file storage under tmp_path)."""
    (tmp_path / "record.py").write_text(RECORD)
    return settings(tmp_path)


def fused_pipeline(daemon, emulator, tmp_path, http=None):
    """A daemon running `remote` once: a UDF step, a Fused job step (its job runs until the test finishes it),
    a UDF step that gets both outputs; one retry."""
    emulator.config({"fused": {"job": {"pending": 0.1, "running": 60, "shutdown": 0.1, "log_interval": 0.2}}})
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "fused-token").write_text(emulator.fused_token + "\n")
    return daemon([{
        "name": "remote", "cron": once_soon(), "retries": 1, "retry_backoff": "1s",
        "steps": steps(
            udf_step(tmp_path, "first"),
            {"type": "partition_geospatial", "name": "split", "input": ["s3://bucket/${run_id}/in.parquet"],
             "output": "s3://bucket/${run_id}/parts/", "partitioning_method": "rows",
             "partitioning_split_method": "median"},
            udf_step(tmp_path, "last", output=False, first="${output:first}", parts="${output:split}")),
    }], settings={**prepare(tmp_path), "http": http or {}, "engines": {"fused": {
        "base_url": emulator.fused_base, "token": "${secret:fused-token}", "poll_interval": "1s"}}},
        env={"CREDENTIALS_DIRECTORY": str(creds)})


def finish_the_job(d, emulator, step_started):
    """Once the next daemon has started the Fused job step again (its `step_started` record number
    `step_started`), the job ends; returns it, the run's id and its records."""
    d.wait_records(lambda rs: len(of(rs, "step_started")) == step_started, 15, "the step again", "remote")
    [job] = emulator.jobs()["fused"]
    emulator.finish_fused_job(job["job_id"])
    return (job, *run_records(d, "remote", "finished", 20))


def test_a_crash_during_a_fused_job_step_reattaches_to_its_job(daemon, emulator, tmp_path):
    """SIGKILL while the pipeline's Fused job step runs: the state file holds the step, the output of the
    step before it and the job's id; the next daemon follows that job (the emulator saw one start), then
    runs the last step, which gets both outputs. The first step ran once; each step finished once."""
    d = fused_pipeline(daemon, emulator, tmp_path)
    record = wait_for(lambda: (r := recorded_run(d)) and r.get("job_id") and r, 15, "the job's id on disk")
    assert record["step"] == "split" and record["phase"] == "running"
    first_url = output_url(tmp_path, record["run_id"], 1, "first")
    assert record["step_outputs"] == {"first": first_url}
    d.wait_records(lambda rs: any(r.get("UDFCRON_REMOTE_USEC") for r in rs), 10, "a line of the job's log", "remote")
    d.kill()
    d.start()
    job, run_id, recs = finish_the_job(d, emulator, 3)

    assert ran(tmp_path) == ["first", "last"]
    assert emulator.starts("fused") == {f"{d.name('remote')}.{run_id}.1.split": 1}
    assert result(recs) == {"step": "last", "run": 1, "first": first_url, "parts": f"s3://bucket/{run_id}/parts/"}
    assert steps_of(recs, "step_started", "step_finished") == [
        ("step_started", "first"), ("step_finished", "first"), ("step_started", "split"),
        ("step_started", "split"), ("step_finished", "split"), ("step_started", "last"), ("step_finished", "last")]
    again = of(recs, "step_started")[2]
    assert again["MESSAGE"].endswith(f"step 2/3 'split': Fused batch job partition_geospatial, re-attached to job "
                                      f"{job['job_id']}")
    assert again["UDFCRON_JOB_ID"] == job["job_id"] and "UDFCRON_JOB_ID" not in of(recs, "step_started")[3]
    started = of(recs, "started")
    assert len(started) == 2 and started[1]["MESSAGE"].endswith("3 steps: first, split, last; going on at step "
                                                                 "2/3 'split'")
    assert all(r["UDFCRON_ATTEMPT"] == "1" for r in recs) and not of(recs, "lost", "retry", "failed")
    # its log lines: none twice
    lines = [r["MESSAGE"] for r in of(recs, "log") if r.get("UDFCRON_REMOTE_USEC")]
    assert lines and len(lines) == len(set(lines))
    assert recorded_run(d) is None


def test_a_crash_before_the_jobs_id_came_back_finds_the_job(daemon, emulator, tmp_path):
    """SIGKILL after POST /run of the Fused job step reached the service but before its answer did: the
    state file holds the step without a job; the next daemon looks for the job by its name, finds it, and
    follows it: one start."""
    emulator.fault("hang", method="POST", path=r"/run$", seconds=5, then="respond", count=1)
    d = fused_pipeline(daemon, emulator, tmp_path, http={"timeout": "10s"})
    wait_for(lambda: emulator.jobs()["fused"], 15, "the job to start")
    assert recorded_run(d)["step"] == "split" and "job_id" not in recorded_run(d)
    d.kill()
    d.start()
    job, run_id, recs = finish_the_job(d, emulator, 3)

    assert ran(tmp_path) == ["first", "last"]
    assert emulator.starts("fused") == {f"{d.name('remote')}.{run_id}.1.split": 1}
    assert of(recs, "step_started")[2]["MESSAGE"].endswith(
        "Fused batch job partition_geospatial, looking for the job the previous daemon may have started")
    assert any("started before: following it" in r["MESSAGE"] for r in d.daemon_log())
    assert steps_of(recs, "step_finished") == [("step_finished", "first"), ("step_finished", "split"),
                                                ("step_finished", "last")]
    assert of(recs, "step_finished")[1]["UDFCRON_JOB_ID"] == job["job_id"]


def test_a_crash_during_a_local_step_retries_from_that_step(daemon, tmp_path):
    """SIGKILL while the second of three UDF steps runs: the next daemon finds that step lost (it died
    with the daemon) and the retry goes on from it, with the first step's output of attempt 1. The first
    step never runs again."""
    d = daemon([{
        "name": "local", "cron": once_soon(), "retries": 1, "retry_backoff": "1s",
        "steps": steps(udf_step(tmp_path, "first"), udf_step(tmp_path, "slow", sleep=60),
                       udf_step(tmp_path, "last", output=False, first="${output:first}", slow="${output:slow}")),
    }], settings=prepare(tmp_path))

    wait_for(lambda: ran(tmp_path) == ["first", "slow"], 15, "the second step to start")
    wait_for(lambda: (r := recorded_run(d)) and r.get("step") == "slow", 5, "the step on disk")
    run_id, recs = crash_then_finish(d, "local")

    assert ran(tmp_path) == ["first", "slow", "slow", "last"]
    assert result(recs) == {"step": "last", "run": 1, "first": output_url(tmp_path, run_id, 1, "first"),
                            "slow": output_url(tmp_path, run_id, 2, "slow")}
    [retry] = of(recs, "retry")
    assert retry["UDFCRON_STEP"] == "slow" and retry["UDFCRON_ATTEMPT"] == "1"
    assert "step 2/3 'slow': the daemon stopped while it ran; its output and result are lost; attempt 2 of 2" \
        in retry["MESSAGE"]
    assert [(r["UDFCRON_ATTEMPT"], s) for r, s in zip(of(recs, "step_started", "step_finished"),
                                                      steps_of(recs, "step_started", "step_finished"))] == [
        ("1", ("step_started", "first")), ("1", ("step_finished", "first")), ("1", ("step_started", "slow")),
        ("2", ("step_started", "slow")), ("2", ("step_finished", "slow")), ("2", ("step_started", "last")),
        ("2", ("step_finished", "last"))]
    assert of(recs, "started")[-1]["MESSAGE"].endswith("; going on at step 2/3 'slow'")
    assert not of(recs, "lost", "failed")


def test_sigterm_between_steps_leaves_the_next_step_to_the_next_daemon(daemon, tmp_path):
    """SIGTERM while a step runs: the daemon lets it finish, does not start the next one, and exits; the
    next daemon starts that step (it never started: no retry, the same attempt), and no other."""
    d = daemon([{
        "name": "graceful", "cron": once_soon(),
        "steps": steps(udf_step(tmp_path, "first", sleep=2), udf_step(tmp_path, "last", first="${output:first}")),
    }], settings=prepare(tmp_path))

    wait_for(lambda: ran(tmp_path) == ["first"], 15, "the first step to start")
    status, _ = d.stop()
    assert status == 0
    record = recorded_run(d)
    assert record["step"] == "last" and record["step_outputs"] == {
        "first": output_url(tmp_path, record["run_id"], 1, "first")}
    assert any(r["MESSAGE"].endswith("step 2/2 'last' starts after its next start") for r in d.daemon_log())
    assert ran(tmp_path) == ["first"]
    d.start()
    run_id, recs = run_records(d, "graceful", "finished", 15)

    assert ran(tmp_path) == ["first", "last"]
    assert result(recs)["first"] == output_url(tmp_path, run_id, 1, "first")
    assert steps_of(recs, "step_started", "step_finished") == [
        ("step_started", "first"), ("step_finished", "first"), ("step_started", "last"), ("step_finished", "last")]
    assert all(r["UDFCRON_ATTEMPT"] == "1" for r in recs)


def test_a_retry_goes_on_from_the_failed_step(daemon, tmp_path):
    """The second step fails the first time: the retry starts at that step, with the first step's
    output of attempt 1, even when a crash falls into the backoff (the state file keeps where)."""
    d = daemon([{
        "name": "flaky", "cron": once_soon(), "retries": 2, "retry_backoff": "3s",
        "steps": steps(udf_step(tmp_path, "first"), udf_step(tmp_path, "flaky", fail_first=True),
                       udf_step(tmp_path, "last", output=False, first="${output:first}", flaky="${output:flaky}")),
    }], settings=prepare(tmp_path))

    d.wait_records(lambda rs: of(rs, "retry"), 15, "a retry", "flaky")
    record = wait_for(lambda: (r := recorded_run(d)) and r.get("retry_usec") and r, 5, "the retry on disk")
    assert record["attempt"] == 2 and record["step"] == "flaky"
    run_id, recs = crash_then_finish(d, "flaky")

    assert ran(tmp_path) == ["first", "flaky", "flaky", "last"]
    assert result(recs) == {"step": "last", "run": 1, "first": output_url(tmp_path, run_id, 1, "first"),
                            "flaky": output_url(tmp_path, run_id, 2, "flaky")}
    [retry] = of(recs, "retry")
    assert retry["UDFCRON_STEP"] == "flaky" and "step 2/3 'flaky': exited with status 1; attempt 2 of 3" \
        in retry["MESSAGE"]
    assert steps_of(recs, "step_started", "step_failed", "step_finished") == [
        ("step_started", "first"), ("step_finished", "first"), ("step_started", "flaky"), ("step_failed", "flaky"),
        ("step_started", "flaky"), ("step_finished", "flaky"), ("step_started", "last"), ("step_finished", "last")]
    assert of(recs, "started")[-1]["MESSAGE"].endswith("; going on at step 2/3 'flaky'")
