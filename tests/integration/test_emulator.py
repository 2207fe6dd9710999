"""
The emulator (tests/emulator/) against the contracts in shared/api/fused.md and fusion.md, over real
HTTP with http.client (nothing follows redirects or adds headers behind the test's back): each
endpoint group, each auth scheme, the job state machines, signed URLs, and every fault kind. The
engines' tests rely on it behaving exactly so.
"""
import base64
import http.client
import json
import socket
import subprocess
import time
import urllib.parse

import pytest

from conftest import wait_for
from emulator.client import EMULATOR_DIR, PYTHON, header_values

FAST_FUSED = {"pending": 0.2, "running": 0.8, "shutdown": 0.2, "log_interval": 0.1}
FAST_FUSION = {"starting": 0.2, "running": 0.6, "finishing": 0.2, "cancelling": 0.2, "log_interval": 0.1}
NO_CACHE = {"X-Fused-Cache-Disable": "true"}


def udf_step(name, inputs=None, code="def udf(x=1):\n    return x\n"):
    return {"type": "udf", "udf": {"type": "geopandas_v2", "name": name, "code": code, "entrypoint": "udf",
                                   "parameters": {}}, "input": inputs}


def start_job(emu, name, inputs=None, query="", **body):
    reply = fused(emu, "POST", f"/run{query}", {"config": {"name": name, "steps": [udf_step(name, inputs)]},
                                                 **body})
    assert reply.status == 200, reply
    return reply


def fused(emu, method, path, body=None, headers=None, **kwargs):
    """A call of the Fused API (path under /server/v1) with the bearer token."""
    return emu.request(method, "/server/v1" + path, json_body=body,
                       headers={**emu.fused_auth(), **(headers or {})}, **kwargs)


def job_status(emu, job_id):
    reply = fused(emu, "GET", f"/run/by-id/{job_id}")
    assert reply.status == 200, reply
    return reply.json()


def log_pages(emu, job_id):
    """The whole log, paged as the SDK's tail_logs does (since_ms = the last timestamp seen)."""
    pages, since = [], None
    while True:
        query = "" if since is None else f"?since_ms={since}"
        page = fused(emu, "GET", f"/logs/{job_id}{query}").json()
        if not page:
            return pages
        pages.append(page)
        since = page[-1]["timestamp"]


def all_logs(emu, job_id):
    return [entry for page in log_pages(emu, job_id) for entry in page]


def realtime(emu, suffix):
    return f"/server/v1/realtime/{emu.realtime_client_id}/api/v1{suffix}"


def post_code(emu, code, params=None, name="adder", path="/run/udf", headers=None):
    step = {"type": "udf", "udf": {"type": "geopandas_v2", "name": name, "code": code, "entrypoint": "udf",
                                   "parameters": params or {}}}
    body = {"step_config": json.dumps(step), "format": "npy,tiff,parquet,json", "profile": False}
    return emu.request("POST", realtime(emu, path), json_body=body,
                       headers={**emu.fused_auth(), **NO_CACHE, **(headers or {})})


def save_udf(emu, slug, code="def udf(a='1'):\n    return a\n"):
    udf = {"type": "geopandas_v2", "name": slug, "code": code, "entrypoint": "udf", "parameters": {}}
    reply = fused(emu, "POST", "/udf/new", {"slug": slug, "udf_body": json.dumps(udf), "udf_type": "auto",
                                            "allow_public_read": False, "allow_public_list": False})
    assert reply.status == 200, reply
    return reply.json()


def metadata(reply):
    return json.loads(reply.header("x-fused-metadata"))


def fusion(emu, method, path, body=None, prefix="/api", headers=None):
    return emu.request(method, prefix + path, json_body=body, headers={**emu.fusion_basic(), **(headers or {})})


def spark_config(emu, cid, **fields):
    reply = fusion(emu, "POST", "/spark/configurations", {"id": cid, "type": "custom_python_job",
                                                           "script": "print(1)", **fields})
    assert reply.status == 200, reply
    return reply.json()


def fetch_signed(emu, url, headers=None):
    return emu.request("GET", url, headers=headers)


# ---------------------------------------------------------------- Fused: identity and auth

def test_fused_auth_and_identity(emulator):
    emu = emulator
    assert emu.request("GET", "/server/v1/health").status == 200  # no auth
    missing = emu.request("GET", "/server/v1/user/self")
    assert missing.status == 401 and missing.json() == {"detail": "Not authenticated"}
    assert missing.header("WWW-Authenticate") == "Bearer"
    assert emu.request("GET", "/server/v1/user/self", headers=emu.fused_auth("wrong")).status == 401
    me = fused(emu, "GET", "/user/self")
    assert me.status == 200 and me.header("Content-Type") == "application/json"
    assert me.json()["email"] == "user@emulator.test" and me.json()["name"]
    env = emu.request("GET", "/server/v1/user/self",
                      headers={"Authorization": f"Fused-Env-Bearer {emu.fused_token}"})
    assert env.status == 200
    instances = fused(emu, "GET", "/realtime-instance/available").json()
    best = max(instances, key=lambda i: i["preference_rank"])["client_id"]
    assert best == emu.realtime_client_id
    team_token = fused(emu, "GET", "/execution-env/token").json()
    assert emu.request("GET", "/server/v1/execution-env/self", headers=emu.fused_auth(team_token)).status == 200
    assert fused(emu, "GET", "/nowhere").json() == {"detail": "Not Found"}
    assert fused(emu, "DELETE", "/run").status == 405


# ---------------------------------------------------------------- Fused: batch jobs

def test_fused_job_lifecycle_logs_and_results(emulator):
    emu = emulator
    emu.config({"fused": {"job": FAST_FUSED}})
    inputs = [{"day": d} for d in range(12)]
    started = start_job(emu, "nightly", inputs, query="?instance_type=m5.large&region=us-west-2&disk_size_gb=50")
    run = started.json()
    assert set(run) >= {"job_id", "job_name", "instance_id", "instance_type", "status", "terminal_status",
                        "last_heartbeat", "job_status", "job_status_date", "finished_job_status", "total_tasks",
                        "finished_tasks"}
    assert (run["job_name"], run["instance_type"], run["status"], run["total_tasks"]) == ("nightly", "m5.large",
                                                                                         "pending", 12)
    job_id = run["job_id"]

    seen = []

    def ended():
        status = job_status(emu, job_id)
        seen.append(tuple(status[k] for k in ("status", "job_status", "finished_job_status", "terminal_status")))
        return status if status["terminal_status"] else None
    final = wait_for(ended, 10, "the job's instance to terminate", interval=0.05)
    order = ["pending", "running", "shutting-down", "terminated"]
    assert [order.index(s[0]) for s in seen] == sorted(order.index(s[0]) for s in seen)
    assert {s[0] for s in seen} >= {"running", "terminated"}
    assert all(s[2] for s in seen if s[0] in ("shutting-down", "terminated"))
    assert final["job_status"] == "succeeded" and final["finished_tasks"] == 12

    # logs: paging with since_ms gives exactly the whole log, nothing twice
    whole = fused(emu, "GET", f"/logs/{job_id}").json()
    assert all_logs(emu, job_id) == whole
    assert whole[0]["message"].startswith("Job nightly") and whole[-1]["message"] == "All 12 task(s) finished"
    assert len(whole) > 5 and [e["timestamp"] for e in whole] == sorted(e["timestamp"] for e in whole)
    later = fused(emu, "GET", f"/logs/{job_id}?since_ms={whole[2]['timestamp']}")
    assert later.json() == [e for e in whole if e["timestamp"] > whole[2]["timestamp"]]

    # results: listed as an object store lists them, each behind a signed URL that takes no auth
    results = fused(emu, "GET", f"/run/by-id/{job_id}/results").json()
    names = [r["name"] for r in results]
    assert names == sorted(f"{i}.json" for i in range(12)) and names[2] == "10.json"
    by_number = sorted(results, key=lambda r: int(r["name"].split(".")[0]))
    assert urllib.parse.urlsplit(by_number[0]["url"]).netloc == urllib.parse.urlsplit(emu.storage_url).netloc
    first = fetch_signed(emu, by_number[3]["url"])
    assert first.status == 200 and first.json() == {"task": 3, "job_id": job_id, "input": {"day": 3}}
    both = fetch_signed(emu, by_number[3]["url"], headers=emu.fused_auth())
    assert both.status == 400 and b"Only one auth mechanism allowed" in both.body

    # the job list and the job's config, behind a redirect
    listed = fused(emu, "GET", "/job/self?skip=0&limit=25").json()
    assert [j["id"] for j in listed] == [job_id] and listed[0]["execution_environment_id"]
    redirect = fused(emu, "GET", f"/job/by-id/{job_id}/config")
    assert redirect.status == 307
    assert fetch_signed(emu, redirect.header("Location")).json()["name"] == "nightly"
    assert emu.starts("fused") == {"nightly": 1}
    recorded = emu.requests(route="fused.job.start")
    assert len(recorded) == 1 and recorded[0]["query"].startswith("instance_type=m5.large")


def test_fused_job_validation_errors(emulator):
    emu = emulator
    auth = emu.fused_auth()
    for body, loc in [({"send_status_email": True}, ["body", "config"]),
                      ({"config": {"steps": []}}, ["body", "config", "steps"]),
                      ({"config": {"steps": [{"type": "nope"}]}}, ["body", "config", "steps", 0, "type"])]:
        reply = fused(emu, "POST", "/run", body)
        assert reply.status == 422 and reply.json()["detail"][0]["loc"] == loc, reply
    bad_type = fused(emu, "POST", "/run?instance_type=huge", {"config": {"steps": [udf_step("x")]}})
    assert bad_type.status == 422 and bad_type.json()["detail"][0]["loc"] == ["query", "instance_type"]
    assert emu.request("POST", "/server/v1/run", body=b"{not json", headers=auth).status == 422
    assert fused(emu, "GET", "/run/by-id/nope").json() == {"detail": "Job nope not found"}
    job_id = start_job(emu, "v").json()["job_id"]
    assert fused(emu, "GET", f"/logs/{job_id}?since_ms=soon").status == 422
    assert emu.starts("fused") == {"v": 1}


def test_fused_job_cancel_failure_and_cache(emulator):
    emu = emulator
    emu.config({"fused": {"job": {**FAST_FUSED, "running": 30}, "jobs": {"broken": {"outcome": "failed",
                                                                                     "running": 0.3}}}})
    job_id = start_job(emu, "long").json()["job_id"]
    wait_for(lambda: job_status(emu, job_id)["status"] == "running", 5, "the job to run")
    cancelled = fused(emu, "POST", f"/run/by-id/{job_id}/cancel").json()
    assert cancelled["job_status"] == "cancelled" and cancelled["finished_job_status"]
    assert cancelled["status"] == "shutting-down" and not cancelled["terminal_status"]
    wait_for(lambda: job_status(emu, job_id)["terminal_status"], 5, "the instance to terminate")
    assert all_logs(emu, job_id)[-1]["message"] == "Job cancelled"

    failed_id = start_job(emu, "broken", [1, 2]).json()["job_id"]
    final = wait_for(lambda: (s := job_status(emu, failed_id))["finished_job_status"] and s, 5, "the job to fail")
    assert final["job_status"] == "failed" and final["finished_tasks"] < 2
    messages = [e["message"] for e in all_logs(emu, failed_id)]
    assert messages[-2:] == ["ValueError: emulated task failure", "Job failed"]
    assert fused(emu, "GET", f"/run/by-id/{failed_id}/results").json() == []
    assert emu.starts("fused.cancel") == {"long": 1}

    # a cached result: the same config within cache_max_age starts nothing
    emu.config({"fused": {"job": {"pending": 0, "running": 0.1}}})
    done = start_job(emu, "cached", cache_max_age=3600).json()["job_id"]
    wait_for(lambda: job_status(emu, done)["finished_job_status"], 5, "the job to end")
    again = start_job(emu, "cached", cache_max_age=3600)
    assert again.header("x-cache") == "hit" and again.json()["job_id"] == done
    assert emu.starts("fused")["cached"] == 1


def test_fused_logs_groups_of_one_millisecond_are_never_split(emulator):
    emu = emulator
    emu.config({"fused": {"job": {**FAST_FUSED, "running": 0.6, "log_lines_per_tick": 3, "log_page_limit": 4,
                                  "log_messages": ["a", "b", "c", "d", "e"]}}})
    job_id = start_job(emu, "chatty").json()["job_id"]
    pages = []
    since = None
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # tail while it runs, as a client does
        query = "" if since is None else f"?since_ms={since}"
        page = fused(emu, "GET", f"/logs/{job_id}{query}").json()
        if page:
            pages.append(page)
            since = page[-1]["timestamp"]
        elif job_status(emu, job_id)["terminal_status"]:
            break
        time.sleep(0.03)
    tailed = [e for p in pages for e in p]
    after = log_pages(emu, job_id)  # read again, after the end
    assert tailed == [e for p in after for e in p]
    assert max(len(p) for p in after) > 4  # the limit was reached, and not obeyed within a group
    pages += after
    ticks = [e for e in tailed if len(e["message"]) == 1]
    assert [e["message"] for e in ticks] == (["a", "b", "c", "d", "e"] * 10)[:len(ticks)] and len(ticks) >= 9
    for page in pages:  # a page ends after a whole group of one timestamp
        last = page[-1]["timestamp"]
        assert sum(e["timestamp"] == last for e in tailed) == sum(e["timestamp"] == last for e in page)


# ---------------------------------------------------------------- Fused: realtime UDF runs

def test_fused_realtime_echo_in_every_form(emulator):
    emu = emulator
    posted = post_code(emu, "def udf(x=1): return x", {"x": 5, "tags": ["a", "b"]})
    assert posted.status == 200 and posted.header("Content-Type") == "application/json"
    assert posted.json() == {"udf": "adder", "parameters": {"x": 5, "tags": ["a", "b"]}}
    meta = metadata(posted)
    assert set(meta) == {"stdout", "stderr", "exception_class", "has_exception", "lineno", "errormsg", "exception",
                         "error_type", "profile"}
    assert meta["has_exception"] is False and meta["stdout"].startswith("adder called with")
    tile = post_code(emu, "def udf(): pass", path="/run/udf/tiles/3/4/5")
    assert tile.json()["tile"] == {"z": 3, "x": 4, "y": 5}

    record = save_udf(emu, "rollup")
    query = "?format=json&profile=False&day=2024-01-01&flag=true&ids=%5B1%2C+2%5D"
    saved = emu.request("GET", realtime(emu, f"/run/udf/saved/user%40emulator.test/rollup{query}"),
                        headers={**emu.fused_auth(), **NO_CACHE})
    assert saved.json() == {"udf": "rollup", "parameters": {"day": "2024-01-01", "flag": "true", "ids": "[1, 2]"}}
    team = emu.request("GET", realtime(emu, "/run/udf/saved/team/rollup/tiles/1/2/3"), headers=emu.fused_auth())
    assert team.json()["tile"] == {"z": 1, "x": 2, "y": 3}
    assert emu.request("GET", realtime(emu, "/run/udf/saved/team/ghost"), headers=emu.fused_auth()).status == 404
    assert emu.request("GET", "/server/v1/realtime/no-such-id/api/v1/run/udf/saved/team/rollup",
                       headers=emu.fused_auth()).status == 404

    token = fused(emu, "POST", "/udf-access-token/new", {"udf_id": record["id"], "client_id": None, "cache": True,
                                                         "metadata_json": {}, "enabled": True}).json()["token"]
    assert token.startswith("fsh_")
    for url in (f"{emu.fused_shared_base}/{token}/run/file?n=1", f"{emu.url}/{token}/run?n=1",
                f"{emu.url}/{token}/run/tiles/0/0/0?n=1"):
        shared = emu.request("GET", url)  # no auth
        assert shared.status == 200 and shared.json()["parameters"] == {"n": "1"}, url
    catalog = emu.request("GET", f"{emu.fused_shared_base}/UDF_Arcgis_Rgb/run/tiles/1/1/1")
    assert catalog.json()["udf"] == "Arcgis_Rgb"
    assert emu.request("GET", f"{emu.fused_shared_base}/fsh_unknown/run/file").status == 404

    # without X-Fused-Cache-Disable a repeated run is served from the cache
    first = emu.request("GET", realtime(emu, "/run/udf/saved/team/rollup?a=1"), headers=emu.fused_auth())
    second = emu.request("GET", realtime(emu, "/run/udf/saved/team/rollup?a=1"), headers=emu.fused_auth())
    assert first.header("x-cache") is None and second.header("x-cache") == "hit" and second.body == first.body
    # runs of "rollup": saved, team, shared file and tile (the second shared file run was a cache hit too),
    # and the first of the last two
    assert emu.starts("fused.realtime")["rollup"] == 5


def test_fused_realtime_canned_results(emulator):
    emu = emulator
    emu.config({"fused": {"udfs": {"picky": [
        {"when": {"x": 3}, "exception": {"class": "ValueError", "message": "x must not be 3", "lineno": 7},
         "stdout": "checking 3\n", "stderr": "warning\n"},
        {"when": {"x": 4}, "platform_error": "Realtime instance overloaded"},
        {"when": {"x": 5}, "text": "<b>five</b>", "content_type": "text/html"},
        {"when": {"x": 6}, "result": None},
        {"when": {"x": 7}, "result": {"big": True}, "redirect": True},
        {"result": {"ok": True}, "stdout": "fine\n"}]}}})
    raised = post_code(emu, "...", {"x": 3}, name="picky")
    meta = metadata(raised)
    assert raised.status == 500 and raised.json() == {"detail": "ValueError: x must not be 3"}
    assert (meta["has_exception"], meta["exception_class"], meta["errormsg"], meta["lineno"]) == (
        True, "ValueError", "x must not be 3", 7)
    assert (meta["stdout"], meta["stderr"]) == ("checking 3\n", "warning\n")
    platform = post_code(emu, "...", {"x": 4}, name="picky")
    assert platform.status == 503 and platform.header("x-fused-error") == "Realtime instance overloaded"
    assert platform.header("x-fused-metadata") is None
    html = post_code(emu, "...", {"x": 5}, name="picky")
    assert html.header("Content-Type") == "text/html" and html.body == b"<b>five</b>"
    none = post_code(emu, "...", {"x": 6}, name="picky")
    assert none.status == 200 and none.body == b""
    moved = post_code(emu, "...", {"x": 7}, name="picky")
    assert moved.status == 307 and metadata(moved)["has_exception"] is False
    assert fetch_signed(emu, moved.header("Location")).json() == {"big": True}
    other = post_code(emu, "...", {"x": 8}, name="picky")
    assert other.json() == {"ok": True} and metadata(other)["stdout"] == "fine\n"


def test_fused_realtime_polling_variant(emulator):
    emu = emulator
    emu.config({"fused": {"realtime": {"start_wait": 0.1}, "udfs": {"slow": {"result": 42, "delay": 0.6},
                                                                     "quick": {"result": 1}}}})
    quick = post_code(emu, "...", name="quick", path="/run/udf/start", headers={"Fused-Run-Id": "run-q"})
    assert quick.status == 200 and quick.json() == 1
    started = post_code(emu, "...", name="slow", path="/run/udf/start", headers={"Fused-Run-Id": "run-s"})
    assert started.status == 202 and started.header("Fused-Run-Id") == "run-s"
    polled = wait_for(lambda: (r := emu.request("GET", realtime(emu, "/run/udf/get/run-s"),
                                                headers=emu.fused_auth())).status == 200 and r, 5, "the run's end")
    assert polled.json() == 42 and polled.header("x-fused-metadata")
    assert emu.request("GET", realtime(emu, "/run/udf/get/nope"), headers=emu.fused_auth()).status == 404


@pytest.mark.emulator("--exec-udfs")
def test_fused_realtime_runs_posted_code_when_enabled(emulator):
    emu = emulator
    code = ("import fused\n\n@fused.udf\ndef udf(x: int = 1, label: str = 'n'):\n"
            "    print(f'{label}={x}')\n"
            "    if x == 3:\n"
            "        raise ValueError('three is not allowed')\n"
            "    return {'double': x * 2}\n")
    ok = post_code(emu, code, {"x": 4, "label": "four"})
    assert ok.status == 200 and ok.json() == {"double": 8} and metadata(ok)["stdout"] == "four=4\n"
    bad = post_code(emu, code, {"x": 3})
    meta = metadata(bad)
    assert bad.status == 500 and (meta["exception_class"], meta["errormsg"], meta["lineno"]) == (
        "ValueError", "three is not allowed", 7)
    assert "Traceback" in meta["stderr"]
    save_udf(emu, "echo", "def udf(a='none'):\n    return a\n")
    saved = emu.request("GET", realtime(emu, "/run/udf/saved/team/echo?a=2"),
                        headers={**emu.fused_auth(), **NO_CACHE})
    assert saved.json() == "2"  # query parameters arrive as strings


# ---------------------------------------------------------------- Fused: the other APIs

def test_fused_secrets_udfs_tokens_and_cron(emulator):
    emu = emulator
    auth = emu.fused_auth()
    secrets = realtime(emu, "/secrets")
    assert emu.request("PUT", secrets + "/gcs_fused", json_body={"value": "s3cret"}, headers=auth).status == 200
    assert emu.request("GET", secrets + "/gcs_fused", headers=auth).json() == "s3cret"
    assert list(emu.request("GET", secrets, headers=auth).json()) == ["gcs_fused"]
    assert emu.request("DELETE", secrets + "/gcs_fused", headers=auth).status == 200
    assert emu.request("GET", secrets + "/gcs_fused", headers=auth).status == 404

    record = save_udf(emu, "daily")
    assert fused(emu, "POST", "/udf/new", {"slug": "daily", "udf_body": "{}"}).status == 409
    for path in (f"/udf/by-id/{record['id']}", "/udf/by-user-email/user@emulator.test/by-slug/daily",
                 "/udf/by-user-handle/emulator-user/by-slug/daily", "/udf/exec-env/self/by-slug/daily"):
        assert fused(emu, "GET", path).json()["id"] == record["id"], path
    assert fused(emu, "GET", "/udf/public/by-slug/daily").status == 404
    assert [u["slug"] for u in fused(emu, "GET", "/udf/self?skip=0&limit=300").json()] == ["daily"]
    token = fused(emu, "POST", "/udf-access-token/new", {"udf_slug": "daily", "cache": False}).json()
    public = emu.request("GET", f"/server/v1/udf-access-token/by-token/{token['token']}")  # no auth
    assert public.json()["udf_id"] == record["id"]
    assert emu.request("GET", f"/server/v1/udf/shared/by-token/{token['token']}").json()["slug"] == "daily"
    disabled = fused(emu, "POST", f"/udf-access-token/by-token/{token['token']}", {"enabled": False}).json()
    assert disabled["enabled"] is False
    assert emu.request("GET", f"{emu.fused_shared_base}/{token['token']}/run/file").status == 404
    assert len(fused(emu, "GET", "/udf-access-token/self").json()) == 1
    assert fused(emu, "DELETE", f"/udf-access-token/by-token/{token['token']}").status == 200

    cron = fused(emu, "POST", "/cronjob/create", {"name": "daily", "udf": record["id"], "minute": [30],
                                                  "hour": [2], "enabled": True, "udf_args": {"a": "1"}}).json()
    assert cron["day_of_week"] == list(range(7)) and cron["id"]
    assert fused(emu, "POST", "/cronjob/create", {"name": "x", "udf": "u", "minute": [60]}).status == 422
    assert fused(emu, "POST", f"/cronjob/by-id/{cron['id']}", {"hour": [3]}).json()["hour"] == [3]
    assert [c["id"] for c in fused(emu, "GET", f"/cronjob/by-udf-id/{record['id']}").json()] == [cron["id"]]
    ran = fused(emu, "POST", f"/cronjob/user-run/by-id/{cron['id']}", {}).json()
    assert ran["run"]["job_name"] == "daily" and ran["cronjob"]["last_run"]
    assert emu.starts("fused") == {"daily": 1}
    assert fused(emu, "DELETE", f"/cronjob/by-id/{cron['id']}").status == 200
    assert fused(emu, "GET", "/cronjob/get-self").json() == []
    assert fused(emu, "DELETE", f"/udf/by-id/{record['id']}").status == 200


def test_fused_files(emulator):
    emu = emulator
    auth = emu.fused_auth()
    F = "/server/v1/files"
    uploaded = emu.request("PUT", f"{F}/upload?path=fd://reports/a.csv", body=b"x,y\n1,2\n", headers=auth)
    assert uploaded.json() is True
    resolved = emu.request("POST", f"{F}/resolve?path=fd://reports/a.csv", headers=auth).json()
    assert resolved == "s3://fused-users/fused/user@emulator.test/reports/a.csv"
    emu.request("PUT", f"{F}/upload?path=fd://reports/deep/b.csv", body=b"b", headers=auth)
    listing = emu.request("GET", f"{F}/list?path=fd://reports/", headers=auth).json()
    assert listing == [resolved, "s3://fused-users/fused/user@emulator.test/reports/deep/"]
    details = emu.request("GET", f"{F}/list-details?path=fd://reports", headers=auth).json()
    assert [(d["file_name"], d["is_directory"], d["size"]) for d in details] == [("a.csv", False, 8),
                                                                              ("deep", True, None)]
    got = emu.request("GET", f"{F}/get?path={resolved}", headers=auth)
    assert got.status == 307 and fetch_signed(emu, got.header("Location")).body == b"x,y\n1,2\n"
    assert fetch_signed(emu, emu.request("GET", f"{F}/sign?path={resolved}", headers=auth).json()).status == 200
    assert sorted(emu.request("GET", f"{F}/sign_prefix?path=fd://reports/", headers=auth).json()) == [
        "fused/user@emulator.test/reports/a.csv", "fused/user@emulator.test/reports/deep/b.csv"]

    post = emu.request("GET", f"{F}/sign-upload?path=s3://bucket/in/c.txt&content_length=5", headers=auth).json()
    boundary = "----emulatorboundary"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
             for k, v in post["fields"].items()]
    form = ("".join(parts) + f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="c.txt"\r\n'
            f"Content-Type: text/plain\r\n\r\nhello\r\n--{boundary}--\r\n").encode()
    uploaded = emu.request("POST", post["url"], body=form,
                           headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert uploaded.status == 204, uploaded
    assert emu.request("GET", f"{F}/list?path=s3://bucket/in", headers=auth).json() == ["s3://bucket/in/c.txt"]
    tampered = form.replace(post["fields"]["x-amz-signature"].encode(), b"0" * 64)
    assert emu.request("POST", post["url"], body=tampered,
                       headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}).status == 403
    temp = emu.request("POST", f"{F}/upload-temp?extension=parquet", body=b"PAR1", headers=auth).json()
    assert temp.startswith("s3://fused-tmp/") and temp.endswith(".parquet")
    assert emu.request("DELETE", f"{F}/delete?path=fd://reports&max_deletion_depth=unlimited", body=b"{}",
                       headers=auth).json() is True
    assert emu.request("GET", f"{F}/list?path=fd://reports/", headers=auth).json() == []


# ---------------------------------------------------------------- signed URLs

def test_signed_urls_expire_and_check_their_signature(emulator):
    emu = emulator
    emu.config({"signed_url_lifetime": 2, "fused": {"job": {"pending": 0, "running": 0.05, "shutdown": 0}}})
    job_id = start_job(emu, "tiny").json()["job_id"]
    wait_for(lambda: job_status(emu, job_id)["finished_job_status"], 5, "the job's end")
    url = fused(emu, "GET", f"/run/by-id/{job_id}/results").json()[0]["url"]
    assert fetch_signed(emu, url).status == 200
    tampered = url.replace("/0.json", "/1.json")
    assert b"SignatureDoesNotMatch" in fetch_signed(emu, tampered).body
    unsigned = fetch_signed(emu, url.split("?")[0])
    assert unsigned.status == 403 and unsigned.header("Content-Type") == "application/xml"
    expired = wait_for(lambda: (r := fetch_signed(emu, url)).status != 200 and r, 5, "the URL to expire")
    assert expired.status == 403 and b"Request has expired" in expired.body
    assert not any(header_values(r, "Authorization") for r in emu.requests(listener="storage"))


# ---------------------------------------------------------------- Fusion

def test_fusion_auth_schemes(emulator):
    emu = emulator
    anonymous = emu.request("GET", "/api/spark/jobs")
    assert anonymous.status == 401
    assert anonymous.json()["error"] == "unauthorized" and anonymous.json()["path"] == "/api/spark/jobs"
    assert fusion(emu, "GET", "/spark/jobs").status == 200
    assert emu.request("GET", "/api/spark/jobs", headers=emu.fusion_basic(password="wrong")).status == 401

    login = emu.request("POST", "/api/session?realmName=native",
                        json_body={"username": emu.fusion_user, "password": emu.fusion_password})
    assert login.status == 201 and login.body == b""
    cookie = login.header("Set-Cookie")
    assert cookie.startswith("id=") and "HttpOnly" in cookie and "Path=/api" in cookie
    session = {"Cookie": cookie.split(";")[0]}
    me = emu.request("GET", "/api/session", headers=session).json()
    assert me["user"]["username"] == emu.fusion_user and me["roles"]
    wrong = {"username": emu.fusion_user, "password": "no"}
    assert emu.request("POST", "/api/session", json_body=wrong).status == 401
    assert emu.request("DELETE", "/api/session", headers=session).status == 204
    assert emu.request("GET", "/api/spark/jobs", headers=session).status == 401

    emu.config({"auth": {"fusion_session_idle": 0.8}})
    login = emu.request("POST", "/api/session", json_body={"username": emu.fusion_user,
                                                          "password": emu.fusion_password})
    session = {"Cookie": login.header("Set-Cookie").split(";")[0]}
    assert emu.request("GET", "/api/spark/jobs", headers=session).status == 200
    time.sleep(1.0)
    assert emu.request("GET", "/api/spark/jobs", headers=session).status == 401  # idle too long

    token = emu.request("POST", "/oauth2/token", headers=emu.fusion_basic()).json()
    assert token["expires_in"] > 0 and token["access_token"].count(".") == 2
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    assert emu.request("GET", "/api/spark/jobs", headers=bearer).status == 200
    assert emu.request("POST", "/oauth2/token").status == 401
    for headers, query in (({"x-api-key": emu.fusion_api_key}, ""), ({"apiKey": emu.fusion_api_key}, ""),
                           ({}, f"?apiKey={emu.fusion_api_key}")):
        assert emu.request("GET", f"/api/spark/jobs{query}", headers=headers).status == 200
    assert emu.request("GET", "/api/spark/jobs", headers={"x-api-key": "nope"}).status == 401

    echoed = fusion(emu, "GET", "/spark/jobs", headers={"fusion-request-id": "PdNfxc1V2o"})
    assert echoed.header("fusion-request-id") == "PdNfxc1V2o"
    assert len(fusion(emu, "GET", "/spark/jobs").header("fusion-request-id")) == 10


def test_fusion_spark_run_lifecycle_under_every_prefix(emulator):
    emu = emulator
    emu.config({"fusion": {"job": FAST_FUSION}})
    config = spark_config(emu, "daily-rollup")
    assert config["updates"][0]["userId"] == emu.fusion_user
    bad = fusion(emu, "POST", "/spark/configurations", {"id": "daily_rollup", "type": "custom_python_job"})
    assert bad.status == 400 and bad.json()["type"] == "RESTValidationError"
    assert bad.json()["validationErrors"][0]["field"] == "id"
    assert fusion(emu, "POST", "/spark/configurations", {"id": "daily-rollup", "type": "script"}).status == 409
    idle = fusion(emu, "GET", "/spark/jobs/daily-rollup").json()
    assert idle["state"] == "idle"

    started = fusion(emu, "POST", "/spark/jobs/daily-rollup", prefix="/api/apollo")
    assert started.status == 200
    run = started.json()
    assert run["state"] == "starting" and run["jobId"] == run["result"]["jobRunId"] and len(run["jobId"]) == 10
    again = fusion(emu, "POST", "/spark/jobs/daily-rollup")
    assert again.status == 409 and again.json()["httpStatusCode"] == 409 and again.json()["requestId"]

    states = []

    def finished():
        status = fusion(emu, "GET", "/spark/jobs/daily-rollup", prefix="/api/apps/search").json()
        states.append(status["state"])
        return status if status["state"] not in ("starting", "running", "finishing") else None
    final = wait_for(finished, 10, "the Spark run to finish", interval=0.05)
    order = ["starting", "running", "finishing", "finished"]
    assert states == sorted(states, key=order.index) and {"running", "finished"} <= set(states)
    assert final["jobId"] == run["jobId"] and final["startTime"].endswith("Z")
    assert final["endTime"] and final["duration"] >= 1000 * 0.9

    log = fusion(emu, "GET", "/spark/driver/log/daily-rollup?rows=3")
    assert log.header("Content-Type").startswith("text/plain")
    lines = log.body.decode().splitlines()
    assert len(lines) == 3 and lines[-1].endswith("Successfully stopped SparkContext")
    assert len(fusion(emu, "GET", "/spark/driver/log/daily-rollup").body.decode().splitlines()) > 5
    assert fusion(emu, "GET", "/spark/driver/log/ghost").status == 404
    fusion(emu, "POST", "/spark/jobs/daily-rollup")
    assert [r["jobId"] for r in fusion(emu, "GET", "/spark/jobs/daily-rollup/all").json()][1] == run["jobId"]
    assert len(fusion(emu, "GET", "/spark/jobs").json()) == 2
    assert emu.starts("fusion") == {"daily-rollup": 2}
    assert fusion(emu, "POST", "/spark/jobs/ghost").status == 404


def test_fusion_cancel_error_and_adhoc(emulator):
    emu = emulator
    emu.config({"fusion": {"job": {**FAST_FUSION, "running": 30}, "jobs": {"fails": {"outcome": "error",
                                                                                     "running": 0.2}}}})
    spark_config(emu, "long")
    spark_config(emu, "fails")
    assert fusion(emu, "DELETE", "/spark/jobs/long").status == 200  # nothing running: fine
    fusion(emu, "POST", "/spark/jobs/long")
    cancel = fusion(emu, "DELETE", "/spark/jobs/long")
    assert cancel.status == 200 and cancel.body == b""
    assert fusion(emu, "GET", "/spark/jobs/long").json()["state"] == "cancelling"
    wait_for(lambda: fusion(emu, "GET", "/spark/jobs/long").json()["state"] == "cancelled", 5, "the cancel")
    assert emu.starts("fusion.cancel") == {"long": 1}

    run_id = fusion(emu, "POST", "/spark/jobs/fails").json()["jobId"]
    failed = wait_for(lambda: (s := fusion(emu, "GET", "/spark/jobs/fails").json())["state"] == "error" and s, 5,
                      "the run to fail")
    exception = failed["result"]["exception"]
    assert exception["type"] == "JobExecutionError" and exception["jobRunId"] == run_id
    assert exception["job"] == {"type": "SPARK_JOB", "id": "fails"} and "stage failure" in exception["message"]
    assert "ERROR" in fusion(emu, "GET", "/spark/driver/log/fails").body.decode()

    emu.config({"fusion": {"job": {"running": 0.2}}})
    adhoc = fusion(emu, "POST", "/spark/jobs?sync=true", {"type": "sql_template", "inputCollection": "c"}).json()
    assert adhoc["state"] == "finished" and adhoc["jobConfig"]["id"].startswith("sql-template-")

    emu.config({"fusion": {"driver_log": False}})
    assert fusion(emu, "GET", "/spark/driver/log/long").status == 404


def test_fusion_jobs_api_and_configurations(emulator):
    emu = emulator
    emu.config({"fusion": {"job": FAST_FUSION}})
    assert fusion(emu, "PUT", "/spark/configurations/metrics", {"type": "aggregation", "sql": "x"}).status == 200
    assert fusion(emu, "GET", "/spark/configurations/metrics").json()["type"] == "aggregation"
    assert [c["id"] for c in fusion(emu, "GET", "/spark/configurations").json()] == ["metrics"]
    assert "oneOf" in fusion(emu, "GET", "/spark/schema").json()
    view = fusion(emu, "GET", "/jobs/spark:metrics").json()
    assert (view["resource"], view["status"]) == ("spark:metrics", "ready")
    started = fusion(emu, "POST", "/jobs/spark:metrics/actions", {"action": "start", "comment": "test"}).json()
    assert started == {"resource": "spark:metrics", "action": "start", "accepted": True,
                       "message": "Started job spark:metrics"}
    assert fusion(emu, "POST", "/jobs/spark%3Ametrics/actions", {"action": "START"}).json()["accepted"] is False
    assert fusion(emu, "GET", "/jobs/spark:metrics").json()["status"] == "running"
    aborted = fusion(emu, "POST", "/jobs/spark:metrics/actions", {"action": "abort"}).json()
    assert aborted["accepted"] is True
    wait_for(lambda: fusion(emu, "GET", "/jobs/spark:metrics").json()["status"] == "aborted", 5, "the abort")
    fusion(emu, "POST", "/jobs/spark:metrics/actions", {"action": "start"})
    wait_for(lambda: fusion(emu, "GET", "/jobs/spark:metrics").json()["status"] == "success", 5, "the run")
    history = fusion(emu, "GET", "/jobs/spark:metrics/history?limit=10").json()
    assert [h["status"] for h in history] == ["success", "aborted"] and history[0]["startedBy"] == emu.fusion_user
    assert fusion(emu, "GET", "/jobs?type=spark&status=success").json()[0]["resource"] == "spark:metrics"
    assert fusion(emu, "GET", "/jobs?type=datasource").json() == []
    assert fusion(emu, "POST", "/jobs/spark:metrics/actions", {"action": "jump"}).status == 400

    assert fusion(emu, "GET", "/jobs/spark:metrics/schedule").json()["default"] is True
    trigger = {"type": "cron", "enabled": True, "expression": "0 30 12 ? * MON-FRI"}
    put = fusion(emu, "PUT", "/jobs/spark:metrics/schedule", {"enabled": True, "triggers": [trigger]}).json()
    assert put["triggers"] == [trigger] and put["default"] is False
    assert fusion(emu, "GET", "/jobs/spark:metrics/schedule").json()["triggers"] == [trigger]
    assert fusion(emu, "DELETE", "/jobs/spark:metrics/schedule").json()["triggers"] == []
    assert fusion(emu, "GET", "/jobs/_schema").status == 200
    assert fusion(emu, "GET", "/jobs/status").json()[0]["status"] == "ok"
    assert fusion(emu, "GET", "/jobs/datasource:movies").status == 404
    assert fusion(emu, "DELETE", "/spark/configurations/metrics").status == 200
    assert fusion(emu, "GET", "/spark/configurations/metrics").json()["type"] == "RESTError"


def test_fusion_trailing_slash(emulator):
    emu = emulator
    spark_config(emu, "slash")
    for path in ("/spark/jobs/slash/", "/spark/configurations/"):
        reply = fusion(emu, "GET", path)
        assert reply.status == 404 and reply.json()["httpStatusCode"] == 404, path
    emu.config({"fusion": {"reject_trailing_slash": False}})
    assert fusion(emu, "GET", "/spark/jobs/slash/").status == 200


# ---------------------------------------------------------------- HTTP

class RawConnection:
    """A client socket that sends bytes as given and reads answers by their Content-Length."""

    def __init__(self, emu):
        split = urllib.parse.urlsplit(emu.url)
        self.sock = socket.create_connection((split.hostname, split.port), timeout=5)
        self.buffer = b""
        self.token = emu.fused_token

    def request(self, method, path, extra="", body=b""):
        head = f"{method} /server/v1{path} HTTP/1.1\r\nHost: emu\r\nAuthorization: Bearer {self.token}\r\n{extra}\r\n"
        return head.encode() + body

    def answer(self, head_only=False):
        """(status, {lower-case name: value}, body) of the next answer."""
        while b"\r\n\r\n" not in self.buffer:
            self._receive()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length = 0 if head_only else int(headers.get("content-length", 0))
        while len(self.buffer) < length:
            self._receive()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return int(lines[0].split()[1]), headers, body

    def closed(self):
        return self.sock.recv(1) == b""

    def _receive(self):
        data = self.sock.recv(65536)
        assert data, "the emulator closed the connection"
        self.buffer += data


def test_http_keep_alive_pipelining_and_bodies(emulator):
    emu = emulator
    conn = RawConnection(emu)
    conn.sock.sendall(conn.request("GET", "/health") + conn.request("GET", "/user/self"))  # pipelined
    assert conn.answer()[2] == b'{"status": "ok"}'
    status, headers, body = conn.answer()
    assert status == 200 and json.loads(body)["email"] == emu.config()["fused"]["user"]["email"]
    assert headers["server"] == "udfcron-emulator" and headers["date"].endswith(" GMT")

    config = json.dumps({"config": {"name": "chunked", "steps": [udf_step("chunked")]}}).encode()
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(config[i:i + 40]), config[i:i + 40]) for i in range(0, len(config), 40))
    conn.sock.sendall(conn.request("POST", "/run", "Transfer-Encoding: chunked\r\n", chunks + b"0\r\n\r\n"))
    assert conn.answer()[0] == 200 and emu.starts("fused") == {"chunked": 1}
    assert emu.requests(route="fused.job.start")[0]["body"] == config.decode()

    conn.sock.sendall(conn.request("POST", "/run", f"Content-Length: {len(config)}\r\nExpect: 100-continue\r\n"))
    assert conn.answer(head_only=True)[0] == 100
    conn.sock.sendall(config)
    assert conn.answer()[0] == 200 and emu.starts("fused") == {"chunked": 2}

    conn.sock.sendall(conn.request("HEAD", "/user/self") + conn.request("GET", "/health", "Connection: close\r\n"))
    status, headers, body = conn.answer(head_only=True)
    assert status == 200 and int(headers["content-length"]) > 0
    status, headers, body = conn.answer()
    assert status == 200 and headers["connection"] == "close" and conn.closed()

    for garbage, status in ((b"NONSENSE\r\n\r\n", 400), (b"BREW /pot HTTP/1.1\r\n\r\n", 501),
                            (b"GET / HTTP/2.0\r\n\r\n", 505),
                            (b"POST /server/v1/run HTTP/1.1\r\nContent-Length: 999999999999\r\n\r\n", 413)):
        conn = RawConnection(emu)
        conn.sock.sendall(garbage)
        assert conn.answer()[0] == status and conn.closed(), garbage


def test_http_a_slow_answer_holds_up_no_other(emulator):
    emu = emulator
    emu.fault("hang", path="/user/self", seconds=1.0, then="respond", count=1)
    slow = RawConnection(emu)
    slow.sock.sendall(slow.request("GET", "/user/self"))
    time.sleep(0.1)  # the hang has begun
    start = time.monotonic()
    assert fused(emu, "GET", "/run/by-id/nope").status == 404
    assert job_status(emu, start_job(emu, "meanwhile").json()["job_id"])["job_name"] == "meanwhile"
    assert time.monotonic() - start < 0.5
    assert slow.answer()[0] == 200
    slow.sock.sendall(slow.request("GET", "/health"))  # the connection goes on after its slow answer
    assert slow.answer()[2] == b'{"status": "ok"}'


# ---------------------------------------------------------------- faults

def test_fault_status_counts_skip_probability_and_retry_after(emulator):
    emu = emulator
    emu.fault("status", method="GET", path="/user/self$", status=503, count=1)
    first = fused(emu, "GET", "/user/self")
    assert first.status == 503 and "detail" in first.json()
    assert fused(emu, "GET", "/user/self").status == 200  # once only
    emu.fault("status", path="/api/spark/jobs$", status=429, retry_after=7, skip=1)
    assert fusion(emu, "GET", "/spark/jobs").status == 200
    throttled = fusion(emu, "GET", "/spark/jobs")
    assert throttled.status == 429 and throttled.header("Retry-After") == "7"
    assert throttled.json()["httpStatusCode"] == 429 and throttled.header("fusion-request-id") is None
    assert fusion(emu, "GET", "/spark/jobs").status == 429  # always (no count)
    emu.clear_faults()
    emu.fault("status", path="/health", status=502, body="<html>Bad Gateway</html>", probability=0.0)
    assert emu.request("GET", "/server/v1/health").status == 200  # probability 0: never
    emu.clear_faults()
    emu.fault("status", method="POST", path="/health", status=500)  # another method: no match
    emu.fault("status", path="/health", status=502, body="<html>Bad Gateway</html>")
    html = emu.request("GET", "/server/v1/health")
    assert (html.status, html.header("Content-Type"), html.body) == (502, "text/html", b"<html>Bad Gateway</html>")
    assert [(f["seen"], f["hits"]) for f in emu.faults()] == [(0, 0), (1, 1)]
    assert emu.requests(path="/health")[-1]["fault"]["kind"] == "status"


def test_fault_before_or_after_the_service_acts(emulator):
    emu = emulator
    emu.fault("status", method="POST", path="/server/v1/run$", status=502, count=1)
    assert fused(emu, "POST", "/run", {"config": {"name": "a", "steps": [udf_step("a")]}}).status == 502
    assert emu.starts("fused") == {}  # the request never reached the service
    emu.fault("status", method="POST", path="/server/v1/run$", status=504, count=1, process=True)
    assert fused(emu, "POST", "/run", {"config": {"name": "a", "steps": [udf_step("a")]}}).status == 504
    assert emu.starts("fused") == {"a": 1}  # the job started, the answer was lost


def test_fault_reset_and_close(emulator):
    emu = emulator
    emu.fault("reset", path="/health", count=1)
    with pytest.raises(ConnectionResetError):
        emu.request("GET", "/server/v1/health")
    emu.fault("reset", path="/user/self", after_bytes=60, count=1)
    with pytest.raises((ConnectionResetError, http.client.IncompleteRead, http.client.RemoteDisconnected)):
        fused(emu, "GET", "/user/self")
    emu.fault("close", path="/health", count=1)
    with pytest.raises(http.client.RemoteDisconnected):
        emu.request("GET", "/server/v1/health")
    assert emu.request("GET", "/server/v1/health").status == 200


def test_fault_hang(emulator):
    emu = emulator
    emu.fault("hang", path="/health", seconds=30, count=1)
    start = time.monotonic()
    with pytest.raises(socket.timeout):
        emu.request("GET", "/server/v1/health", timeout=0.3)
    assert time.monotonic() - start >= 0.3
    emu.fault("hang", path="/user/self", seconds=0.3, then="respond", count=1)
    start = time.monotonic()
    assert fused(emu, "GET", "/user/self").status == 200
    assert time.monotonic() - start >= 0.3
    emu.fault("hang", path="/health", seconds=0.2, count=1)
    with pytest.raises(http.client.RemoteDisconnected):
        emu.request("GET", "/server/v1/health")


def test_fault_slow_body(emulator):
    emu = emulator
    emu.fault("slow", path="/user/self", chunk=10, interval=0.03)
    expected = emu.config()["fused"]["user"]
    split = urllib.parse.urlsplit(emu.url)
    conn = http.client.HTTPConnection(split.hostname, split.port, timeout=5)
    conn.request("GET", "/server/v1/user/self", headers=emu.fused_auth())
    resp = conn.getresponse()
    arrivals, body = [], b""
    while chunk := resp.read1(4096):
        arrivals.append(time.monotonic())
        body += chunk
    conn.close()
    assert json.loads(body)["email"] == expected["email"]
    assert len(arrivals) >= 3 and arrivals[-1] - arrivals[0] >= 0.03 * (len(body) // 10 - 2)


def test_fault_truncate_and_malformed_json(emulator):
    emu = emulator
    emu.fault("truncate", path="/user/self", count=1)
    cut = fused(emu, "GET", "/user/self")
    assert cut.status == 200 and int(cut.header("Content-Length")) == len(cut.body)
    with pytest.raises(ValueError):
        cut.json()
    emu.fault("truncate", path="/user/self", framing="connection", keep=5, count=1)
    with pytest.raises(http.client.IncompleteRead):
        fused(emu, "GET", "/user/self")
    emu.fault("malformed_json", path="/api/spark/jobs$", count=1)
    garbled = fusion(emu, "GET", "/spark/jobs")
    assert garbled.status == 200 and garbled.header("Content-Type") == "application/json"
    with pytest.raises(ValueError):
        garbled.json()
    assert fusion(emu, "GET", "/spark/jobs").json() == []


def test_fault_unknown_status_values(emulator):
    emu = emulator
    emu.fault("unknown_status", path="/run/by-id/", value="hibernating")
    job_id = start_job(emu, "odd").json()["job_id"]
    odd = job_status(emu, job_id)
    assert odd["status"] == odd["job_status"] == "hibernating" and odd["job_id"] == job_id
    spark_config(emu, "odd")
    emu.fault("unknown_status", path="/spark/jobs/odd$")
    assert fusion(emu, "GET", "/spark/jobs/odd").json()["state"] == "frobnicating"


def test_fault_revoke_auth_mid_job(emulator):
    emu = emulator
    job_id = start_job(emu, "revoked").json()["job_id"]
    emu.fault("revoke_auth", method="GET", path="/run/by-id/", skip=2, count=1)
    for _ in range(2):
        assert fused(emu, "GET", f"/run/by-id/{job_id}").status == 200
    expired = fused(emu, "GET", f"/run/by-id/{job_id}")
    assert expired.status == 401 and expired.json()["detail"] == "Invalid or expired token"
    assert fused(emu, "GET", f"/logs/{job_id}").status == 401  # for good
    emu.unrevoke()
    assert fused(emu, "GET", f"/logs/{job_id}").status == 200

    # a Fusion session expires; logging in again works
    spark_config(emu, "relogin")
    login = {"username": emu.fusion_user, "password": emu.fusion_password}
    cookie = emu.request("POST", "/api/session", json_body=login).header("Set-Cookie").split(";")[0]
    emu.fault("revoke_auth", path="/spark/jobs/relogin", count=1)
    assert emu.request("GET", "/api/spark/jobs/relogin", headers={"Cookie": cookie}).status == 401
    cookie = emu.request("POST", "/api/session", json_body=login).header("Set-Cookie").split(";")[0]
    assert emu.request("GET", "/api/spark/jobs/relogin", headers={"Cookie": cookie}).status == 200
    emu.revoke(fusion_user=emu.fusion_user)
    assert fusion(emu, "GET", "/spark/jobs").status == 401


# ---------------------------------------------------------------- admin API and command line

DEMO = EMULATOR_DIR / "demo.json"


@pytest.mark.emulator("--config", str(DEMO), "--fault", '{"kind": "status", "path": "/health$", "status": 418}')
def test_demo_config_and_command_line_faults(emulator):
    """What `make emulator` loads works, and faults given at start survive a reset."""
    emu = emulator
    assert emu.request("GET", "/server/v1/health").status == 418
    hello = emu.request("GET", f"{emu.url}/fsh_udfcronDemoHello/run/file?greeting=hi")
    assert hello.json() == {"udf": "hello", "parameters": {"greeting": "hi"}}
    assert fusion(emu, "GET", "/spark/configurations/daily-rollup").json()["type"] == "custom_python_job"
    flaky = post_code(emu, "...", {"fail": "true"}, name="flaky")
    assert metadata(flaky)["errormsg"] == "asked to fail"
    emu.reset()
    assert emu.request("GET", "/server/v1/health").status == 418


def test_command_line_errors(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"fused": {"job": {"pending": "soon"}}}')
    for args, status, message in ((["--config", str(bad)], 1, "fused.job.pending: expected a non-negative number"),
                                  (["--fault", "{oops"], 2, "--fault is not JSON"),
                                  (["--config", str(tmp_path / "missing.json")], 1, "missing.json")):
        proc = subprocess.run([PYTHON, str(EMULATOR_DIR), *args], capture_output=True, text=True, timeout=30)
        assert proc.returncode == status and message in proc.stderr, (args, proc.stderr)


def test_admin_api(emulator):
    emu = emulator
    bad = emu.request("PATCH", "/_emulator/config", json_body={"fused": {"job": {"runing": 1}}})
    assert bad.status == 400 and "fused.job.runing" in bad.json()["error"]
    maybe = {"fused": {"job": {"outcome": "maybe"}}}
    assert emu.request("PATCH", "/_emulator/config", json_body=maybe).status == 400
    assert emu.request("POST", "/_emulator/faults", json_body={"kind": "explode"}).status == 400
    assert emu.request("POST", "/_emulator/faults", json_body=[{"kind": "close", "path": "x"},
                                                               {"kind": "close", "colour": 1}]).status == 400
    assert emu.faults() == []  # all or nothing

    emu.request("GET", "/server/v1/user/self", headers={**emu.fused_auth(), "X-Test": "one"})
    fusion(emu, "GET", "/spark/jobs")
    recorded = emu.requests(path="/user/self")
    assert len(recorded) == 1 and header_values(recorded[0], "x-test") == ["one"]
    assert header_values(recorded[0], "Authorization") == [f"Bearer {emu.fused_token}"]
    assert recorded[0]["status"] == 200 and recorded[0]["route"] == "fused.user"
    assert [r["route"] for r in emu.requests(limit=1)] == ["fusion.spark.jobs"]
    assert emu.stats()["routes"] == {"fused.user": 1, "fusion.spark.jobs": 1}

    job_id = start_job(emu, "forced").json()["job_id"]
    assert emu.finish_fused_job(job_id, "failed")["job_status"] == "failed"
    assert emu.jobs()["fused"][0]["job_name"] == "forced"
    spark_config(emu, "forced")
    run_id = fusion(emu, "POST", "/spark/jobs/forced").json()["jobId"]
    assert emu.finish_fusion_run(run_id, "finished")["state"] == "finished"

    emu.reset()
    assert emu.requests() == [] and emu.jobs() == {"fused": [], "fusion": []} and emu.stats()["starts"] == {}
    info = emu.admin("GET", "/info")
    assert info["fused"]["token"] == emu.fused_token and info["storage_url"] == emu.storage_url
    assert base64.b64decode(emu.fusion_basic()["Authorization"][6:]).decode() == "admin:emu-password"


@pytest.mark.emulator("--track-arrivals", "fused.job.status")
def test_arrivals_of_a_tracked_route(emulator):
    """--track-arrivals keeps when every request of a route arrived, per path, for load benchmarks that
    keep few whole records; an untracked route is refused by name."""
    job_id = start_job(emulator, "tracked").json()["job_id"]
    before = time.time()
    for _ in range(3):
        assert job_status(emulator, job_id)["job_name"] == "tracked"
    arrivals = emulator.arrivals("fused.job.status")
    assert list(arrivals) == [f"/server/v1/run/by-id/{job_id}"]
    times = arrivals[f"/server/v1/run/by-id/{job_id}"]
    assert len(times) == 3 and before <= times[0] <= times[1] <= times[2] <= time.time()
    refused = emulator.request("GET", "/_emulator/arrivals?route=fused.job.logs")
    assert refused.status == 400 and b"--track-arrivals fused.job.logs" in refused.body
