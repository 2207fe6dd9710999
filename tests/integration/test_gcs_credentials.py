"""
gcs-credentials in the daemon: a schedule's `credentials = [ "gcs" ]` gives its local runs
GOOGLE_APPLICATION_CREDENTIALS, a private copy of the service-account key (a secret) in the instance's
runtime directory; the key never reaches the journal, the state or the daemon's stderr; the copy goes
when the daemon stops; a missing key fails the run for good; a schedule naming an instance that does
not exist is a configuration error with file:line. (Its access tokens: tests/unit/test-credentials-gcs.c,
against a token endpoint that verifies the JWTs.)
"""
import json
import os
import subprocess
import time

from conftest import check_config, write_config
from test_plugins import PLUGINS, first_run, journal_has_no, mode, of, plugin_settings

EMAIL = "runner@project.iam.gserviceaccount.com"

SCRIPT = """\
f="$GOOGLE_APPLICATION_CREDENTIALS"
echo "file $f"
stat -c 'mode %a' "$f"
/usr/bin/python3 -c 'import json, os; print("email", json.load(open(os.environ["GOOGLE_APPLICATION_CREDENTIALS"]))["client_email"])'
"""


def service_account(tmp_path):
    """A service-account key file with a fresh RSA key, as Google's console writes it; and its PEM."""
    pem = subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
                         check=True, capture_output=True, text=True).stdout
    key = {"type": "service_account", "project_id": "project", "private_key_id": os.urandom(8).hex(),
           "private_key": pem, "client_email": EMAIL, "client_id": "1234567890",
           "auth_uri": "https://accounts.google.com/o/oauth2/auth",
           "token_uri": "https://oauth2.googleapis.com/token"}
    return json.dumps(key, indent=2), pem


def secrets_dir(tmp_path, **secrets):
    d = tmp_path / "secrets"
    d.mkdir(mode=0o700, exist_ok=True)
    for name, value in secrets.items():
        (d / name).write_text(value)
    return {"file": {"directory": str(d)}}


def test_a_local_run_gets_the_key_as_a_private_file(daemon, tmp_path):
    key, pem = service_account(tmp_path)
    since = time.time() - 1
    d = daemon([{"name": "gcs", "cron": "* * * * * *", "credentials": ["gcs"],
                 "command": ["/bin/sh", "-c", SCRIPT]},
                {"name": "plain", "cron": "* * * * * *", "command": ["/bin/sh", "-c", 'echo "[$GOOGLE_APPLICATION_CREDENTIALS]"']}],
               settings=plugin_settings(secrets=secrets_dir(tmp_path, gcs_fused=key),
                                        credentials={"gcs": {}}))

    _, recs = first_run(d, "gcs", "finished", 20)
    path = d.runtime_dir / "plugins" / "credentials" / "gcs" / "service-account.json"
    assert [r["MESSAGE"] for r in of(recs, "log")] == [f"file {path}", "mode 600", f"email {EMAIL}"]
    assert path.read_text() == key
    assert mode(path) == 0o600 and mode(path.parent) == 0o700
    assert mode(path.parent.parent) == 0o700 and mode(path.parent.parent.parent) == 0o700

    _, recs = first_run(d, "plain", "finished", 20)  # only schedules that name the instance get it
    assert [r["MESSAGE"] for r in of(recs, "log")] == ["[]"]

    assert d.stop()[0] == 0
    assert not path.parent.exists()  # the last instance of the name took its files along
    body = "".join(pem.splitlines()[1:-1])
    for line in [key, body] + pem.splitlines()[1:-1]:
        journal_has_no(d.journald, since, line)
        assert line not in d.stderr()
        assert not any(line in p.read_text(errors="replace") for p in d.state_dir.rglob("*") if p.is_file())


FANOUT_UDF = """\
import os


def udf(n: int = 0):
    return {"n": n, "key": os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")}
"""


def test_every_task_of_a_fan_out_gets_the_key(daemon, tmp_path):
    key, _ = service_account(tmp_path)
    (tmp_path / "tasks.py").write_text(FANOUT_UDF)
    d = daemon([{"name": "fan", "cron": "* * * * * *", "credentials": ["gcs"], "udf": str(tmp_path / "tasks.py"),
                 "arg_list": [1, 2, 3], "arg_name": "n"}],
               settings=plugin_settings(secrets=secrets_dir(tmp_path, gcs_fused=key), credentials={"gcs": {}}))
    run_id, _ = first_run(d, "fan", "finished", 30)
    path = d.runtime_dir / "plugins" / "credentials" / "gcs" / "service-account.json"
    results = json.loads((d.state_dir / "results" / d.name("fan") / f"{run_id}.json").read_text())
    assert results == [{"n": n, "key": str(path)} for n in (1, 2, 3)]


def test_the_schedule_environment_overrides_credentials(daemon, tmp_path):
    key, _ = service_account(tmp_path)
    d = daemon([{"name": "own", "cron": "* * * * * *", "credentials": "gcs",
                 "environment": {"GOOGLE_APPLICATION_CREDENTIALS": "/etc/own.json"},
                 "command": ["/bin/sh", "-c", 'env | grep -c ^GOOGLE_APPLICATION_CREDENTIALS=; echo "$GOOGLE_APPLICATION_CREDENTIALS"']}],
               settings=plugin_settings(secrets=secrets_dir(tmp_path, gcs_fused=key),
                                        credentials={"gcs": {}}))
    _, recs = first_run(d, "own", "finished", 20)
    assert [r["MESSAGE"] for r in of(recs, "log")] == ["1", "/etc/own.json"]


def test_a_missing_or_broken_key_fails_the_run_for_good(daemon, tmp_path):
    since = time.time() - 1
    d = daemon([{"name": "nokey", "cron": "* * * * * *", "credentials": ["gcs"], "retries": 2,
                 "command": ["/bin/true"]},
                {"name": "badkey", "cron": "* * * * * *", "credentials": ["broken"], "retries": 2,
                 "command": ["/bin/true"]}],
               settings=plugin_settings(secrets=secrets_dir(tmp_path, not_a_key='{"type": "authorized_user"}'),
                                        credentials={"gcs": {}, "broken": {"plugin": "gcs", "secret": "not_a_key"}}))
    _, recs = first_run(d, "nokey", "failed", 20)
    assert of(recs, "retry") == []
    assert "credentials 'gcs': No such file or directory" in of(recs, "failed")[0]["MESSAGE"]
    _, recs = first_run(d, "badkey", "failed", 20)
    assert of(recs, "retry") == []
    assert "credentials 'broken': Invalid argument" in of(recs, "failed")[0]["MESSAGE"]
    logged = {r["INSTANCE"]: r["MESSAGE"] for r in d.journald.records(since=since, PLUGIN="gcs")}
    assert logged["credentials/gcs"] == "credentials/gcs: secret 'gcs_fused': no secrets provider knows it"
    assert logged["credentials/broken"] == ("credentials/broken: secret 'not_a_key': not a service account "
                                            "key (its \"type\" is not \"service_account\")")


def test_a_schedule_naming_no_instance_or_a_remote_engine_is_a_config_error(tmp_path):
    write_config(tmp_path,
                 f'timezone = "UTC";\nstate_directory = "state";\nplugin_directories = [ "{PLUGINS}" ];\n'
                 'credentials = { gcs = { }; };\n',
                 {"a.conf": 'schedules = ( {\n  name = "a";\n  cron = "@daily";\n  command = [ "/bin/true" ];\n'
                            '  credentials = [ "gcs", "gce" ];\n}, {\n  name = "b";\n  cron = "@daily";\n'
                            '  engine = "fused";\n  fused = { udf = "team/rollup"; };\n  credentials = [ "gcs" ];\n'
                            '} );\n'})
    r = check_config(tmp_path)
    assert r.returncode == 1
    assert ("schedules.d/a.conf:5: credentials: no instance 'gce' in the credentials group of "
            f"{tmp_path}/udfcrond.conf") in r.stderr
    assert 'schedules.d/a.conf:11: credentials: only applies with engine = "local"' in r.stderr
