"""
Fan-out (arg_list) end to end: the real daemon runs a real UDF file once per argument set on the local
engine. Concurrency is measured from the stamps the UDF calls write themselves; results are read from
the result file the daemon stores; records from a real journald.

Each schedule fires once a minute, a few seconds after its daemon starts (soon()), so that a test sees
exactly one run of it and no second fan-out takes the machine's few cores.
"""
import json
import time

from conftest import Raw, conf_value, wait_for
from test_daemon import SEC, file_lines, max_concurrency, of, process_gone
from test_fused import fused_daemon, query

UDF = '''\
import os
import time


def udf(n, day="", out="", sleep=0.0, fail=""):
    """Stamps "n pid start end attempt" into `out`; fails always, or on its first attempt only."""
    start = time.time_ns() // 1000
    print(f"task {n} on {day}")
    first = not os.path.exists(f"{out}.{n}.tried")
    open(f"{out}.{n}.tried", "a").close()
    with open(out, "a") as f:
        f.write(f"start {n} {os.getpid()} {start}\\n")
    time.sleep(sleep)
    with open(out, "a") as f:
        f.write(f"end {n} {os.getpid()} {time.time_ns() // 1000}\\n")
    if fail == "always" or (fail == "once" and first):
        raise RuntimeError(f"task {n} failed")
    return {"n": n, "day": day}
'''


def soon(lead=3):
    """A cron expression that fires once a minute, `lead` seconds from now."""
    return f"{(int(time.time()) + lead) % 60} * * * * *"


def conf_list(items):
    """A libconfig list `( ... )`: unlike an array, it may hold groups."""
    return Raw("( " + ", ".join(conf_value(v) for v in items) + " )")


def fanout_schedule(name, udf, out, **keys):
    s = {"name": name, "cron": soon(), "udf": str(udf), "params": {"out": str(out)}}
    s.update(keys)
    return s


def stamps(path):
    """{n: [(start, end or None), ...]} per task, in the order its attempts started."""
    tasks, open_ = {}, {}
    for line in file_lines(path):
        kind, n, pid, when = line.split()
        if kind == "start":
            open_[pid] = len(tasks.setdefault(int(n), []))
            tasks[int(n)].append((int(when), None))
        else:
            start, _ = tasks[int(n)][open_[pid]]
            tasks[int(n)][open_[pid]] = (start, int(when))
    return tasks


def result_of(d, short, run_id):
    return (d.state_dir / "results" / d.name(short) / f"{run_id}.json").read_text()


def ended_run(d, short, event, timeout=30):
    """Waits for the run of `short` to end with `event`; returns (its id, its records)."""
    recs = d.wait_records(lambda rs: of(rs, event), timeout, f"a {event} record", short)
    run_id = of(recs, event)[0]["UDFCRON_RUN_ID"]
    return run_id, d.records(UDFCRON_RUN_ID=run_id)


def test_tasks_run_bounded_and_results_come_in_argument_order(daemon, ctl, tmp_path):
    """6 argument sets, max_workers = 2: never more than 2 UDF calls at once (from their own stamps),
    all 6 run with the schedule's parameters under each set's own (${...} expanded), every output line
    carries UDFCRON_TASK (and `udfcronctl logs` names the task), and the result is a JSON array in
    argument order. A second schedule reads its argument sets from an NDJSON file (plain values set
    arg_name), collects NDJSON, and with ignore_exceptions a task that fails for good leaves null in
    its place and the run succeeds."""
    udf = tmp_path / "job.py"
    udf.write_text(UDF)
    (tmp_path / "args.ndjson").write_text('10\n{"n": 11, "fail": "always"}\n\n12\n')
    out, out_file = tmp_path / "stamps", tmp_path / "stamps-file"
    d = daemon([
        fanout_schedule("bounded", udf, out, max_workers=2,
                        params={"out": str(out), "day": "${scheduled:%F}", "sleep": 0.5},
                        arg_list=conf_list([{"n": 0}, {"n": 1, "day": "${schedule}"}, 2, 3, 4, 5]), arg_name="n"),
        fanout_schedule("from-file", udf, out_file, arg_list=str(tmp_path / "args.ndjson"), arg_name="n",
                        collect="ndjson", ignore_exceptions=True, max_retry=0),
    ])

    run_id, recs = ended_run(d, "bounded", "finished")
    tasks = stamps(out)
    assert sorted(tasks) == [0, 1, 2, 3, 4, 5]
    assert all(len(attempts) == 1 for attempts in tasks.values())
    assert max_concurrency([a for attempts in tasks.values() for a in attempts]) == 2
    # in argument order: the first two at once, the others as workers come free
    assert set(sorted(tasks, key=lambda n: tasks[n][0][0])[:2]) == {0, 1}

    day = time.strftime("%Y-%m-%d", time.gmtime(int(of(recs, "scheduled")[0]["UDFCRON_SCHEDULED_USEC"]) / SEC))
    expected = [{"n": n, "day": d.name("bounded") if n == 1 else day} for n in range(6)]
    assert json.loads(result_of(d, "bounded", run_id)) == expected
    started = of(recs, "started")[0]
    assert started["MESSAGE"].endswith(f"job.py:udf for 6 argument sets, up to 2 at once")
    logs = of(recs, "log")
    assert sorted((r["UDFCRON_TASK"], r["MESSAGE"]) for r in logs) == \
        [(str(n), f"task {n} on {e['day']}") for n, e in enumerate(expected)]
    assert all(r["UDFCRON_ATTEMPT"] == "1" for r in logs)
    shown = ctl("logs", run_id)
    assert shown.status == 0, shown.err
    assert sorted(line.split(" ", 1)[1] for line in shown.lines if " | " in line) == \
        [f"task {n} | task {n} on {e['day']}" for n, e in enumerate(expected)]
    assert not of(recs, "task_retry", "task_failed")

    run_id, recs = ended_run(d, "from-file", "finished")
    assert result_of(d, "from-file", run_id) == \
        '{"n": 10, "day": ""}\nnull\n{"n": 12, "day": ""}\n'
    failed = of(recs, "task_failed")
    assert [r["UDFCRON_TASK"] for r in failed] == ["1"]
    assert failed[0]["UDFCRON_EXIT_STATUS"] == "1"
    assert failed[0]["MESSAGE"].endswith(f"[{run_id}/1] #1 task_failed: exited with status 1 (attempt 1 of 1)")
    assert "RuntimeError: task 11 failed" in [r["MESSAGE"] for r in of(recs, "log") if r["UDFCRON_TASK"] == "1"]
    assert len(stamps(out_file)[11]) == 1  # max_retry = 0

    # by hand, followed: each line of output names its task
    waited = d.ctl("run", "--wait", d.name("from-file"))
    assert waited.status == 0, waited.err
    assert sorted(waited.lines) == [f"task {i} | task {n} on " for i, n in enumerate((10, 11, 12))]
    assert "task 1 | RuntimeError: task 11 failed" in waited.err.splitlines()


def test_a_failing_task_is_retried_and_one_that_keeps_failing_fails_the_run(daemon, tmp_path):
    """max_retry = 1, retry_backoff = 1s: task 0 fails once, then succeeds on its retry; task 1 fails
    both attempts, which fails the run (no ignore_exceptions), with no result stored. Task 2 is not held
    up by them."""
    udf = tmp_path / "job.py"
    udf.write_text(UDF)
    out = tmp_path / "stamps"
    d = daemon([fanout_schedule("retry", udf, out, max_retry=1, retry_backoff="1s",
                                arg_list=conf_list([{"n": 0, "fail": "once"}, {"n": 1, "fail": "always"}, {"n": 2}]))])

    run_id, recs = ended_run(d, "retry", "failed")
    tasks = stamps(out)
    assert [len(tasks[n]) for n in range(3)] == [2, 2, 1]
    retries = of(recs, "task_retry")
    assert sorted(r["UDFCRON_TASK"] for r in retries) == ["0", "1"]
    for r in retries:
        assert "exited with status 1; attempt 2 of 2 in" in r["MESSAGE"]
        n = int(r["UDFCRON_TASK"])
        # the retry waited for its backoff: between half of it and all of it after the first attempt
        first_end, second_start = tasks[n][0][1], tasks[n][1][0]
        assert 0.5 * SEC - 0.1 * SEC <= second_start - first_end, f"task {n} was retried too soon"
        assert abs(int(r["UDFCRON_NEXT_USEC"]) - second_start) < 0.5 * SEC

    failed = of(recs, "task_failed")
    assert [r["UDFCRON_TASK"] for r in failed] == ["1"]
    assert "(attempt 2 of 2)" in failed[0]["MESSAGE"]
    end = of(recs, "failed")[0]
    assert "UDFCRON_TASK" not in end
    assert "1 of 3 tasks failed; task 1: exited with status 1 after" in end["MESSAGE"]
    assert not (d.state_dir / "results" / d.name("retry")).exists()


def test_timeout_and_cancel_stop_every_task(daemon, tmp_path):
    """timeout = 2s over 4 tasks of 30 s, 2 at a time: the run times out, both running children are
    stopped and the other 2 never start. Another fan-out still running at shutdown (shutdown_timeout =
    0s) is cancelled the same way."""
    udf = tmp_path / "job.py"
    udf.write_text(UDF)
    outs = {name: tmp_path / name for name in ("timeout", "cancel")}
    keys = {"max_workers": 2, "arg_list": [0, 1, 2, 3], "arg_name": "n", "kill_grace": "1s"}
    d = daemon([
        fanout_schedule("timeout", udf, outs["timeout"], timeout="2s",
                        params={"out": str(outs["timeout"]), "sleep": 30}, **keys),
        fanout_schedule("cancel", udf, outs["cancel"], params={"out": str(outs["cancel"]), "sleep": 30}, **keys),
    ], settings={"shutdown_timeout": "0s"})

    run_id, recs = ended_run(d, "timeout", "timed_out")
    timed_out = of(recs, "timed_out")[0]
    assert "timed out with 4 of 4 tasks unfinished after" in timed_out["MESSAGE"]
    # (a local child's own timer counts from the loop's iteration: it may end a moment early)
    assert 1.9 * SEC <= int(timed_out["UDFCRON_DURATION_USEC"]) < 5 * SEC
    pids = {int(line.split()[2]) for line in file_lines(outs["timeout"])}
    assert len(pids) == 2
    wait_for(lambda: all(process_gone(p) for p in pids), 3, "the timed-out tasks' children to go")
    assert not of(recs, "task_retry", "task_failed")  # stopped, not failed

    wait_for(lambda: len(file_lines(outs["cancel"])) == 2, 10, "two running tasks to cancel")
    pids = {int(line.split()[2]) for line in file_lines(outs["cancel"])}
    # udfcronctl status shows the tasks of the run in flight
    schedule = json.loads(d.ctl("status", "--json", d.name("cancel")).out)["schedule"]
    assert schedule["fanout"] == {"argument_sets": 4, "max_workers": 2, "max_retry": 2,
                                  "ignore_exceptions": False, "collect": "json"}
    run = schedule["runs"][0]
    assert run["task_counts"] == {"pending": 2, "running": 2, "succeeded": 0, "failed": 0}
    assert (run["tasks_finished"], run["tasks_total"]) == (0, 4)
    assert run["tasks"] == [{"task": n, "state": "running", "attempts": 1, "error": None} for n in (0, 1)]
    shown = d.ctl("status", d.name("cancel")).out
    assert "0 of 4 tasks, 2 running, 2 pending" in shown
    assert "task 1 running (1 attempt)" in shown
    assert "Fan-out:      4 argument sets, up to 2 at once, max_retry 2, collect json" in shown
    status, _ = d.stop(timeout=10)
    assert status == 0
    assert all(process_gone(p) for p in pids)
    cancelled = d.records("cancel", UDFCRON_EVENT="cancelled")
    assert len(cancelled) == 1
    assert "cancelled with 4 of 4 tasks unfinished after" in cancelled[0]["MESSAGE"]
    assert len(file_lines(outs["cancel"])) == 2  # no task started after the stop, none finished


def test_fused_realtime_tasks(daemon, emulator, tmp_path):
    """Over the fused engine (the emulator): each argument set is a realtime run of the UDF with the set's
    members among its parameters, each its own call; results come back in argument order. A task whose
    UDF raises is retried (max_retry = 1), then is null in the result (ignore_exceptions). The service's
    stdout lines for a task carry UDFCRON_TASK."""
    emulator.config({"fused": {"udfs": {"echo": [
        {"when": {"n": "2"}, "exception": {"class": "ValueError", "message": "no 2"}, "stdout": "two\n"}]}}})
    d = fused_daemon(daemon, emulator, tmp_path, [{
        "name": "remote", "cron": soon(), "engine": "fused", "fused": {"shared_token": "UDF_echo"},
        "params": {"day": "2024-01-01"}, "arg_list": [0, 1, 2, 3], "arg_name": "n", "max_workers": 2,
        "max_retry": 1, "retry_backoff": "1s", "ignore_exceptions": True}])

    run_id, recs = ended_run(d, "remote", "finished")
    result = json.loads(result_of(d, "remote", run_id))
    assert [r and (r["udf"], r["parameters"]["day"], r["parameters"]["n"]) for r in result] == \
        [("echo", "2024-01-01", "0"), ("echo", "2024-01-01", "1"), None, ("echo", "2024-01-01", "3")]
    calls = [query(r)["n"] for r in emulator.requests(route="fused.shared.run.root")]
    assert sorted(calls) == ["0", "1", "2", "2", "3"]  # task 2 twice: its retry
    assert [r["UDFCRON_TASK"] for r in of(recs, "task_retry", "task_failed")] == ["2", "2"]
    assert "the UDF raised ValueError: no 2" in of(recs, "task_failed")[0]["MESSAGE"]
    assert [r["UDFCRON_TASK"] for r in of(recs, "log") if r["MESSAGE"] == "two"] == ["2", "2"]
    assert of(recs, "started")[0]["UDFCRON_ENGINE"] == "fused"
