"""
Pipelines end to end: the real daemon running a schedule's steps on the local engine, the real
ingest-rows and storage-file plugins, real files, a real journald.

- a UDF step's GeoJSON, partitioned into files and chunks with an index, read back by a last UDF step;
- a failing middle step (a CSV with a bad latitude) stops the pipeline there: the third step never
  runs, and the journal and the state say which step failed and why;
- configuration errors in steps, with file:line.
"""
import json

from conftest import BUILD, Raw, check_config, conf_value, wait_for, write_config

PLUGINS = BUILD / "plugins"

EXTRACT = """\
import random

def udf(n: int):
    rng = random.Random(7)
    points = [(rng.uniform(-10, 10), rng.uniform(40, 50)) for _ in range(n // 2)]
    points += [(rng.uniform(100, 120), rng.uniform(-40, -30)) for _ in range(n - n // 2)]
    return {"type": "FeatureCollection",
            "features": [{"type": "Feature", "properties": {"i": i},
                          "geometry": {"type": "Point", "coordinates": [x, y]}}
                         for i, (x, y) in enumerate(points)]}
"""

SUMMARIZE = """\
import json

def udf(index: str):
    with open(index[len("file://"):]) as f:
        ix = json.load(f)
    print(f"{len(ix['files'])} files")
    return {"files": len(ix["files"]), "rows": sum(f["rows"] for f in ix["files"])}
"""

WRITE_CSV = """\
def udf(path: str):
    with open(path, "w") as f:
        f.write("name,lon,lat\\nA,1,2\\n\\"B, with a comma\\",3,4\\nC,5,95.5\\n")
    return {"wrote": path}
"""


def steps(*blocks):
    """A `steps` list of groups, in libconfig syntax."""
    return Raw("( " + ", ".join(conf_value(b) for b in blocks) + " )")


def settings(root):
    return {"plugin_directories": [str(PLUGINS)], "storage": {"file": {"root": str(root)}},
            "ingest": {"rows": {"slice_rows": 50, "read_size": 4096}}}  # many turns, even for small inputs


def of(recs, *events):
    return [r for r in recs if r.get("UDFCRON_EVENT") in events]


def first_run(d, short, events, timeout=20):
    """The records of the first run of `short` that has one of `events`."""
    recs = d.wait_records(lambda rs: of(rs, *events), timeout, f"a {events} record", short)
    run_id = of(recs, *events)[0]["UDFCRON_RUN_ID"]
    return run_id, d.records(short, UDFCRON_RUN_ID=run_id)


def test_a_pipeline_partitions_and_hands_on(daemon, tmp_path):
    """UDF → partition → UDF: each step in turn, with its own records (UDFCRON_STEP); the partitioned
    files and the index on disk, every row in one file; the last step reads the index."""
    root = tmp_path / "out"
    root.mkdir()
    (tmp_path / "extract.py").write_text(EXTRACT)
    (tmp_path / "summarize.py").write_text(SUMMARIZE)
    d = daemon([{
        "name": "ingest", "cron": "* * * * * *",
        "steps": steps(
            {"type": "udf", "name": "extract", "udf": str(tmp_path / "extract.py"), "params": {"n": 400},
             "output": f"file://{root}/${{run_id}}/raw.geojson"},
            {"type": "partition", "input": "${output:extract}", "output": f"file://{root}/${{run_id}}/parts/",
             "rows_per_file": 60, "rows_per_chunk": 25},
            {"type": "udf", "name": "summarize", "udf": str(tmp_path / "summarize.py"),
             "params": {"index": "${output:partition}_index.json"}}),
    }], settings=settings(root))

    run_id, recs = first_run(d, "ingest", ("finished", "failed"))
    assert of(recs, "finished"), [r["MESSAGE"] for r in recs]
    assert [(r["UDFCRON_EVENT"], r["UDFCRON_STEP"]) for r in of(recs, "step_started", "step_finished")] == [
        ("step_started", "extract"), ("step_finished", "extract"), ("step_started", "partition"),
        ("step_finished", "partition"), ("step_started", "summarize"), ("step_finished", "summarize")]
    assert "UDFCRON_STEP" not in of(recs, "finished")[0]
    partition_done = of(recs, "step_finished")[1]["MESSAGE"]
    assert f"index at file://{root}/{run_id}/parts/_index.json" in partition_done
    parts = root / run_id / "parts"
    index = json.loads((parts / "_index.json").read_text())
    assert index["rows"] == 400 and index["partitioning"] == "quadkey" and index["format"] == "geojson"
    assert index["input"] == f"file://{root}/{run_id}/raw.geojson"
    seen = []
    for f in index["files"]:
        assert 1 <= f["rows"] <= 60 and f["url"] == f"file://{parts}/{f['path']}"
        data = (parts / f["path"]).read_bytes()
        assert len(data) == f["bytes"]
        features = json.loads(data)["features"]
        assert len(features) == f["rows"] == sum(c["rows"] for c in f["chunks"])
        for c in f["chunks"]:
            chunk = json.loads(b"[" + data[c["offset"]:c["offset"] + c["size"]] + b"]")
            assert len(chunk) == c["rows"] <= 25 and c["quadkey"].startswith(f["quadkey"])
            for feature in chunk:
                x, y = feature["geometry"]["coordinates"]
                assert c["bbox"][0] <= x <= c["bbox"][2] and c["bbox"][1] <= y <= c["bbox"][3]
        seen += [feature["properties"]["i"] for feature in features]
    assert sorted(seen) == list(range(400))
    # two clusters far apart: no file mixes them
    assert all(f["bbox"][2] < 50 or f["bbox"][0] > 50 for f in index["files"])

    # the last step read the index: its result is the run's
    n = len(index["files"])
    assert f"400 rows in {n} files (" in partition_done
    assert json.loads(of(recs, "finished")[0]["MESSAGE"].split("s: ", 1)[1]) == {"files": n, "rows": 400}
    # the plugin's lines and the UDF's output are their step's records
    lines = [(r["UDFCRON_STEP"], r["MESSAGE"]) for r in of(recs, "log")]
    assert any(s == "partition" and m.startswith("read 400 rows (") for s, m in lines)
    assert ("summarize", f"{n} files") in lines


def test_a_failing_step_stops_the_pipeline(daemon, tmp_path):
    """The middle step fails on line 4 of its CSV: the third step never starts, the run fails (it has no
    retries; see test_pipeline_resume.py), and the journal and the state say where.
    The schedule's timeout spans the steps: the one under way when it passes is stopped, and is the
    one the run ends at."""
    root = tmp_path / "out"
    root.mkdir()
    (tmp_path / "write_csv.py").write_text(WRITE_CSV)
    (tmp_path / "never.py").write_text("def udf():\n    open('NEVER', 'w')\n")
    (tmp_path / "slow.py").write_text("import time\n\ndef udf(seconds: int):\n    time.sleep(seconds)\n")
    slow = {"type": "udf", "udf": str(tmp_path / "slow.py")}
    d = daemon([{
        "name": "slow", "cron": "* * * * * *", "timeout": "3s", "kill_grace": "1s",
        "steps": steps({**slow, "params": {"seconds": 0}}, {**slow, "params": {"seconds": 60}},
                       {**slow, "params": {"seconds": 0}}),
    }, {
        "name": "broken", "cron": "* * * * * *",
        "steps": steps(
            {"type": "udf", "name": "write", "udf": str(tmp_path / "write_csv.py"),
             "params": {"path": f"{root}/${{run_id}}.csv"}},
            {"type": "partition", "input": f"file://{root}/${{run_id}}.csv", "output": f"file://{root}/${{run_id}}/",
             "ingest": "rows"},
            {"type": "udf", "name": "never", "udf": str(tmp_path / "never.py")}),
    }], settings=settings(root))

    run_id, recs = first_run(d, "broken", ("finished", "failed"))
    why = f"file://{root}/{run_id}.csv: line 4: latitude 95.5 is out of range -90..90"
    failed = of(recs, "failed")
    assert len(failed) == 1 and failed[0]["UDFCRON_STEP"] == "partition"
    assert failed[0]["MESSAGE"].startswith(f"{d.name('broken')}[{run_id}] #1 failed: step 2/3 'partition': {why} after ")
    step_failed = of(recs, "step_failed")
    assert len(step_failed) == 1 and step_failed[0]["UDFCRON_STEP"] == "partition"
    assert f"step 2/3 'partition' failed after " in step_failed[0]["MESSAGE"] and why in step_failed[0]["MESSAGE"]
    assert [r["UDFCRON_STEP"] for r in of(recs, "step_started")] == ["write", "partition"]
    assert not (tmp_path / "NEVER").exists() and not (root / run_id).exists()

    def recorded():
        state = json.loads((d.state_dir / "state.json").read_text())
        return [s for s in state["schedules"] if s.get("last_run_id") == run_id]
    entry = wait_for(recorded, 10, "the failure in the state file")[0]
    assert entry["last_result"] == "failed" and entry["last_failed_step"] == "partition"
    # and udfcronctl says so
    status = d.ctl("status", "--json", d.name("broken"))
    assert status.status == 0, status.err
    detail = json.loads(status.out)["schedule"]
    assert detail["work"] == "steps" and [s["name"] for s in detail["steps"]] == ["write", "partition", "never"]
    if detail["last_run_id"] == run_id:
        assert detail["last_failed_step"] == "partition"
    assert "failed at step 'partition', run " in d.ctl("status", d.name("broken")).out

    run_id, recs = first_run(d, "slow", ("finished", "timed_out"))
    [timed_out] = of(recs, "timed_out")
    assert timed_out["UDFCRON_STEP"] == "udf-2"
    assert " timed_out: step 2/3 'udf-2': timed out, stopped with SIGTERM after " in timed_out["MESSAGE"]
    assert [r["UDFCRON_STEP"] for r in of(recs, "step_started")] == ["udf-1", "udf-2"]


def test_a_fused_partition_step_runs_as_a_batch_job(daemon, emulator, tmp_path):
    """A partition_geospatial step between two UDF steps: its JobConfig (the contract's defaults, its
    templates expanded, named after the run and the step) is posted as a Fused batch job with the
    engine's token, followed until it ends, its log lines the step's; then the last step runs."""
    emulator.config({"fused": {"job": {"pending": 0.2, "running": 0.6, "shutdown": 0.1, "log_interval": 0.2}}})
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "fused-token").write_text(emulator.fused_token + "\n")
    (tmp_path / "first.py").write_text("def udf():\n    return {'ok': 1}\n")
    (tmp_path / "last.py").write_text("def udf(parts: str):\n    return {'parts': parts}\n")
    root = tmp_path / "out"
    root.mkdir()
    d = daemon([{
        "name": "remote", "cron": "* * * * * *",
        "steps": steps(
            {"type": "udf", "name": "first", "udf": str(tmp_path / "first.py")},
            {"type": "partition_geospatial", "name": "split", "input": ["s3://bucket/${run_id}/in.parquet"],
             "output": "s3://bucket/${run_id}/parts/", "partitioning_method": "rows",
             "partitioning_split_method": "median", "lonlat_cols": ["x", "y"]},
            {"type": "udf", "name": "last", "udf": str(tmp_path / "last.py"), "params": {"parts": "${output:split}"}}),
    }], settings={**settings(root), "engines": {"fused": {"base_url": emulator.fused_base, "token": "${secret:fused-token}",
                                                          "poll_interval": "1s"}}},
        env={"CREDENTIALS_DIRECTORY": str(creds)})

    run_id, recs = first_run(d, "remote", ("finished", "failed"), timeout=30)
    assert of(recs, "finished"), [r["MESSAGE"] for r in recs]
    assert [r["UDFCRON_STEP"] for r in of(recs, "step_finished")] == ["first", "split", "last"]
    assert json.loads(of(recs, "finished")[0]["MESSAGE"].split("s: ", 1)[1]) == {
        "parts": f"s3://bucket/{run_id}/parts/"}

    [start] = [r for r in emulator.requests(method="POST", path="/run$") if run_id in json.dumps(r["body"])]
    assert ["Bearer " + emulator.fused_token] == [v for k, v in start["headers"] if k.lower() == "authorization"]
    config = json.loads(start["body"])["config"]
    assert config["name"] == f"{d.name('remote')}.{run_id}.1.split"
    assert config["metadata"] == {"udfcron_schedule": d.name("remote"), "udfcron_run_id": run_id,
                                  "udfcron_attempt": 1, "udfcron_step": "split"}
    [step] = config["steps"]
    assert step == {
        "type": "partition_geospatial", "name": "split", "input": [f"s3://bucket/{run_id}/in.parquet"],
        "output": f"s3://bucket/{run_id}/parts/", "partitioning_method": "rows",
        "partitioning_split_method": "median", "lonlat_cols": ["x", "y"], "ignore_chunk_error": False,
        "partitioning_maximum_per_file": 2500000, "partitioning_maximum_per_chunk": 65000, "remove_cols": [],
        "explode_geometries": False, "partitioning_max_width_ratio": 2, "partitioning_max_height_ratio": 2,
        "subdivide_method": "area", "split_identical_centroids": True, "target_num_chunks": 5000,
        "gdal_config": {"open_options": {}}}
    assert any(r["UDFCRON_STEP"] == "split" and r["MESSAGE"].startswith("Fused job ") for r in of(recs, "log"))


def test_step_config_errors_have_file_and_line(tmp_path):
    write_config(tmp_path,
                 f'timezone = "UTC";\nstate_directory = "state";\nplugin_directories = [ "{PLUGINS}" ];\n'
                 'storage = { file = { root = "out"; }; };\ningest = { rows = { }; };\n',
                 {"p.conf": 'schedules = ( { name = "p"; cron = "@daily";\n'
                            '  steps = (\n'
                            '    { type = "partition"; input = "file:///x.csv"; output = "file:///out/";\n'
                            '      rows_per_fil = 10; },\n'
                            '    { type = "partition_geospatial"; input = "s3://b/in.csv"; '
                            'partitioning_method = "rows";\n'
                            '      partitioning_split_method = "mean"; partitioning_maximum_per_fle = 5; },\n'
                            '    { type = "udf"; udf = "missing.py"; params = { x = "${output:nowhere}"; }; }\n'
                            '  ); } );\n'})
    proc = check_config(tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        "schedules.d/p.conf:4: unknown key 'rows_per_fil' (did you mean 'rows_per_file'?)",
        "schedules.d/p.conf:6: step 2: unknown key 'partitioning_maximum_per_fle' (did you mean "
        "'partitioning_maximum_per_file'?)",
        "schedules.d/p.conf:5: step 2: partition_geospatial runs as a Fused batch job, which needs a Fused token: "
        "set token = \"${secret:NAME}\" in the engines.fused group of udfcrond.conf",
        "schedules.d/p.conf:7: udf: cannot access 'schedules.d/missing.py': No such file or directory",
        "schedules.d/p.conf:7: step 3: ${output:nowhere}: no earlier step is called 'nowhere'",
        "udfcrond: udfcrond.conf: 5 errors",
    ]
