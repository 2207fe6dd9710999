"""
storage-fused and secrets-fused against the Fused emulator: the real plugins loaded by udfcronctl and
the daemon, their bearer token from a secrets-file provider, a real journald.

- `udfcronctl storage` on fd:// URLs: put (a presigned POST that carries no Fused credentials), ls
  (the store's URLs turned back into fd:// ones), get (through the signed URL), sign, rm with the depth
  guard;
- a schedule's output stored at an fd:// URL;
- ${secret:...} from the Fused secrets store, after the providers before it, never in the journal or
  the state; a secret the store does not have fails the run without retries;
- what the service says when it refuses (a revoked token) reaches the operator.
"""
import json
import os
import time

import pytest

from conftest import BUILD, wait_for
from emulator.client import header_values
from test_plugins import PLUGINS, first_run, journal_has_no, of, plugin_settings

CONF = "udfcrond.conf"


def token_provider(tmp_path, emulator):
    """A secrets-file directory holding the Fused API's bearer token as fused_token."""
    secrets = tmp_path / "secrets"
    secrets.mkdir(mode=0o700, exist_ok=True)
    (secrets / "fused_token").write_text(emulator.fused_token + "\n")
    return {"file": {"directory": str(secrets)}}


def ctl_config(tmp_path, emulator, **storage_options):
    (tmp_path / "schedules.d").mkdir(exist_ok=True)
    secrets = token_provider(tmp_path, emulator)["file"]["directory"]
    (tmp_path / CONF).write_text(
        f'timezone = "UTC";\nstate_directory = "{tmp_path}/state";\nruntime_directory = "{tmp_path}/run";\n'
        f'plugin_directories = [ "{PLUGINS}" ];\n'
        f'secrets = {{ file = {{ directory = "{secrets}"; }}; }};\n'
        f'storage = {{ fused = {{ base_url = "{emulator.fused_base}"; '
        + "".join(f"{k} = {v}; " for k, v in storage_options.items()) + "}; };\n")
    return str(tmp_path / CONF)


def test_udfcronctl_storage_on_fd_urls(tmp_path, ctl, emulator):
    conf = ctl_config(tmp_path, emulator)
    data = os.urandom(3000) + b"\r\n--udfcron-boundary-lookalike--\r\n"
    (tmp_path / "blob").write_bytes(data)

    r = ctl("storage", "--config", conf, "put", "fd://runs/2026/blob.bin", str(tmp_path / "blob"))
    assert r.status == 0, r.err
    r = ctl("storage", "--config", conf, "put", "fd://runs/2026/sub/x.json", input='{"x": 1}')
    assert r.status == 0, r.err

    # the upload: a presigned form from the API, then the object store, which never sees the token
    signs = emulator.requests(route="fused.files.sign_upload")
    assert [header_values(q, "Authorization") for q in signs] == [[f"Bearer {emulator.fused_token}"]] * 2
    assert "content_length=3034" in signs[0]["query"]
    uploads = emulator.requests(listener="storage", method="POST")
    assert len(uploads) == 2 and not any(header_values(q, "Authorization") for q in uploads)
    assert all(q["status"] == 204 for q in uploads)

    r = ctl("storage", "--config", conf, "ls", "fd://runs/2026/")
    assert r.status == 0, r.err
    listed = [line.split() for line in r.lines]
    assert [(e[1], e[2]) for e in listed] == [("3034", "fd://runs/2026/blob.bin"), ("-", "fd://runs/2026/sub/")]
    assert time.strptime(listed[0][0][:19], "%Y-%m-%dT%H:%M:%S")  # the store's time, readable

    r = ctl("storage", "--config", conf, "get", "fd://runs/2026/blob.bin", "-o", str(tmp_path / "back"))
    assert r.status == 0, r.err
    assert (tmp_path / "back").read_bytes() == data
    signed_reads = emulator.requests(listener="storage", method="GET")
    assert signed_reads and not any(header_values(q, "Authorization") for q in signed_reads)

    r = ctl("storage", "--config", conf, "sign", "fd://runs/2026/blob.bin")
    assert r.status == 0, r.err
    assert r.out.startswith(emulator.storage_url) and "X-Amz-Signature=" in r.out
    assert emulator.request("GET", r.out.strip()).body == data

    r = ctl("storage", "--config", conf, "get", "fd://runs/2026/missing")
    assert r.status == 1
    assert r.err.strip().endswith("get fd://runs/2026/missing: No such file or directory")

    # the depth guard: the object alone (max_deletion_depth=0); a "directory" URL deletes nothing
    r = ctl("storage", "--config", conf, "rm", "fd://runs/2026/blob.bin")
    assert r.status == 0, r.err
    deletes = emulator.requests(route="fused.files.delete")
    assert "max_deletion_depth=0" in deletes[0]["query"]
    r = ctl("storage", "--config", conf, "rm", "fd://runs/2026")
    assert r.status == 1 and "No such file or directory" in r.err
    r = ctl("storage", "--config", conf, "ls", "fd://runs/2026/sub/")
    assert [line.split()[2] for line in r.lines] == ["fd://runs/2026/sub/x.json"]


def test_a_deeper_deletion_depth_reaches_that_far(tmp_path, ctl, emulator):
    conf = ctl_config(tmp_path, emulator, max_deletion_depth=1)
    for name in ("d/a", "d/b", "d/sub/c"):
        assert ctl("storage", "--config", conf, "put", f"fd://{name}", input=name).status == 0
    r = ctl("storage", "--config", conf, "rm", "fd://d")
    assert r.status == 0, r.err
    r = ctl("storage", "--config", conf, "ls", "fd://d/")
    assert [line.split()[2] for line in r.lines] == ["fd://d/sub/"]


def test_a_refused_token_reaches_the_operator(tmp_path, ctl, emulator):
    conf = ctl_config(tmp_path, emulator)
    emulator.revoke(fused_token=emulator.fused_token)
    r = ctl("storage", "--config", conf, "ls", "fd://")
    assert r.status == 1
    assert "storage/fused: list fd://: HTTP 401: Invalid or expired token" in r.err
    assert r.err.strip().endswith("ls fd://: Permission denied")
    assert emulator.fused_token not in r.err


def test_outputs_go_to_fd_urls(daemon, tmp_path, emulator):
    (tmp_path / "job.py").write_text("def udf(n: int = 1):\n    return {'n': n, 'where': 'fused'}\n")
    d = daemon([{"name": "out", "cron": "* * * * * *", "udf": str(tmp_path / "job.py"), "params": {"n": 5},
                 "output": "fd://results/${schedule}/${run_id}.json"}],
               settings=plugin_settings(secrets=token_provider(tmp_path, emulator),
                                        storage={"fused": {"base_url": emulator.fused_base}}))
    run_id, recs = first_run(d, "out", "finished", 20)
    url = f"fd://results/{d.name('out')}/{run_id}.json"
    assert of(recs, "finished")[0]["MESSAGE"].endswith(f", stored at {url}")
    stored = emulator.request("GET", f"/server/v1/files/get?path={url}", headers=emulator.fused_auth())
    assert stored.status == 307
    assert json.loads(emulator.request("GET", stored.header("Location")).body) == {"n": 5, "where": "fused"}


SECRETS_SCRIPT = 'printf "%s|%s" "$1" "$2" > "$DIR/seen.txt"; echo "got $1 and $2"'


def test_secrets_from_the_fused_store(daemon, tmp_path, emulator):
    """The Fused store answers after the providers configured before it (which also hold its token); its
    values reach the run and nothing else."""
    cid = emulator.realtime_client_id
    value = f"fused-{os.urandom(8).hex()}"
    shadowed = f"local-{os.urandom(8).hex()}"
    for key, v in (("db_password", value), ("in_file", "never read: the file provider answers first")):
        reply = emulator.request("PUT", f"/server/v1/realtime/{cid}/api/v1/secrets/{key}",
                                 headers=emulator.fused_auth(), json_body={"value": v})
        assert reply.status == 200
    providers = token_provider(tmp_path, emulator)
    (tmp_path / "secrets" / "in_file").write_text(shadowed)
    since = time.time() - 1
    d = daemon([{"name": "s", "cron": "* * * * * *", "environment": {"DIR": str(tmp_path)},
                 "command": ["/bin/sh", "-c", SECRETS_SCRIPT, "sh", "${secret:db_password}", "${secret:in_file}"]},
                {"name": "missing", "cron": "* * * * * *", "retries": 2,
                 "command": ["/bin/echo", "${secret:nowhere}"]}],
               settings=plugin_settings(secrets={**providers, "fused": {"base_url": emulator.fused_base}}))

    _, recs = first_run(d, "s", "finished", 20)
    assert (tmp_path / "seen.txt").read_text() == f"{value}|{shadowed}"
    assert [r["MESSAGE"] for r in of(recs, "log")] == ["got [redacted] and [redacted]"]
    # the instance the SDK would pick (highest rank), asked once; the token went along
    assert emulator.requests(route="fused.realtime_instances.available")
    gets = emulator.requests(route="fused.secrets.get")
    assert "db_password" in {q["path"].rsplit("/", 1)[1] for q in gets}
    assert "in_file" not in {q["path"].rsplit("/", 1)[1] for q in gets}  # the file provider knew it
    assert all(f"/realtime/{cid}/" in q["path"] for q in gets)

    _, recs = first_run(d, "missing", "failed", 20)
    assert of(recs, "retry") == []
    assert "parameters: secret 'nowhere': No such file or directory" in of(recs, "failed")[0]["MESSAGE"]

    assert d.stop()[0] == 0
    for secret in (value, shadowed, emulator.fused_token):
        journal_has_no(d.journald, since, secret)
        assert secret not in d.stderr()
        assert not any(secret in p.read_text(errors="replace") for p in d.state_dir.rglob("*") if p.is_file())


def test_a_failing_store_fails_the_attempt_and_says_why(daemon, tmp_path, emulator):
    """The store down (503 after the HTTP client's retries) is no "secret not found": the attempt fails
    with the provider's error and the retry policy applies."""
    emulator.fault("status", method="GET", path="/api/v1/secrets/", status=503)
    since = time.time() - 1
    d = daemon([{"name": "down", "cron": "* * * * * *", "retries": 1, "retry_backoff": "1s",
                 "command": ["/bin/echo", "${secret:db_password}"]}],
               settings=plugin_settings(secrets={**token_provider(tmp_path, emulator),
                                                 "fused": {"base_url": emulator.fused_base,
                                                           "client_id": emulator.realtime_client_id}},
                                        http={"retries": 0}))
    _, recs = first_run(d, "down", "failed", 30)
    assert [r["UDFCRON_EVENT"] for r in of(recs, "retry", "failed")] == ["retry", "failed"]
    assert "secret 'db_password': Resource temporarily unavailable" in of(recs, "failed")[0]["MESSAGE"]
    logged = [r["MESSAGE"] for r in d.journald.records(since=since, INSTANCE="secrets/fused")]
    assert any(m.startswith("secrets/fused: secret 'db_password': HTTP 503") for m in logged), logged
    assert not emulator.requests(route="fused.realtime_instances.available")  # client_id was given
