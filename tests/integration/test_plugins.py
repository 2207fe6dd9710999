"""
Plugins end to end: the real daemon and udfcronctl loading the real plugin .so files from the build tree
(storage-file, secrets-file, secrets-env, the example), a real journald, real files.

- run outputs go through the storage plugin to the URL a schedule names;
- secrets from plugin providers reach the run and nothing else;
- a plugin's config errors and the loader's refusals stop the start with file:line;
- a reload swaps plugin instances, or is refused whole;
- `udfcronctl status` lists the instances;
- `udfcronctl storage` works through the same plugins;
- a plugin built out of the tree against an installed DESTDIR loads.
"""
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest

from conftest import BUILD, DAEMON_BINARY, check_config, wait_for, write_config

REPO = Path(__file__).resolve().parents[2]
PLUGINS = BUILD / "plugins"
# "1.3": the plugin ABI the build's plugins were built with
ABI = ".".join(re.findall(r"^#define UDFCRON_PLUGIN_ABI_(?:MAJOR|MINOR) (\d+)$",
                          (REPO / "include/udfcron/plugin.h").read_text(), re.M))
SEC = 1_000_000


def of(recs, *events, run=None):
    return [r for r in recs if r.get("UDFCRON_EVENT") in events and (run is None or r["UDFCRON_RUN_ID"] == run)]


def first_run(d, short, event, timeout):
    """Waits for the first `event` record of schedule `short`; returns (run id, that run's records)."""
    recs = d.wait_records(lambda rs: of(rs, event), timeout, f"a {event} record", short)
    run_id = of(recs, event)[0]["UDFCRON_RUN_ID"]
    return run_id, [r for r in recs if r.get("UDFCRON_RUN_ID") == run_id]


def plugin_settings(**groups):
    """udfcrond.conf settings naming the build's plugins, plus plugin groups."""
    return {"plugin_directories": [str(PLUGINS)], **groups}


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def journal_has_no(journald, since, secret):
    """Asserts that no record since `since` holds `secret`, in text or in binary fields."""
    raw = journald.query(f"--since=@{int(since)}")
    assert secret not in raw
    for line in raw.splitlines():
        for value in json.loads(line).values():
            if isinstance(value, list):
                for v in (value if value and isinstance(value[0], list) else [value]):
                    if all(isinstance(b, int) for b in v):
                        assert secret.encode() not in bytes(v)


# ---------------------------------------------------------------- outputs

UDF = """\
def udf(rows: int = 2, **kwargs):
    return {"rows": rows, "tag": "ok"}
"""


def test_outputs_go_to_the_storage_url(daemon, tmp_path):
    """A UDF's result and a command's stdout, byte for byte, land at their expanded output URLs, private
    (0600 files, 0700 directories); the finished record says where; stdout with an output is not logged."""
    root = tmp_path / "out"
    root.mkdir()
    (tmp_path / "job.py").write_text(UDF)
    d = daemon([
        {"name": "udf", "cron": "* * * * * *", "udf": str(tmp_path / "job.py"), "params": {"rows": 7},
         "output": f"file://{root}/${{schedule}}/${{scheduled:%Y}}/${{run_id}}.json"},
        {"name": "cmd", "cron": "* * * * * *", "command": ["/usr/bin/printf", "a\\0b\\nno newline"],
         "output": f"file://{root}/cmd/${{run_id}}.out"},
    ], settings=plugin_settings(storage={"file": {"root": str(root)}}))

    run_id, recs = first_run(d, "udf", "finished", 15)
    year = time.strftime("%Y", time.gmtime(int(recs[0]["UDFCRON_SCHEDULED_USEC"]) // SEC))
    stored = root / d.name("udf") / year / f"{run_id}.json"
    assert json.loads(stored.read_text()) == {"rows": 7, "tag": "ok"}
    assert of(recs, "finished")[0]["MESSAGE"].endswith(f', stored at file://{stored}')
    assert mode(stored) == 0o600 and mode(stored.parent) == 0o700 and mode(root / d.name("udf")) == 0o700

    run_id, recs = first_run(d, "cmd", "finished", 15)
    out = root / "cmd" / f"{run_id}.out"
    assert out.read_bytes() == b"a\0b\nno newline"
    assert of(recs, "finished")[0]["MESSAGE"].endswith(f": 14 bytes, stored at file://{out}")
    assert of(recs, "log") == []  # the output is the stdout: not journal lines as well
    assert not [p for p in root.rglob("*") if p.name.startswith(".udfcron-tmp-")]


def test_an_output_that_cannot_be_stored_fails_the_run(daemon, tmp_path):
    """The work succeeded but its output could not be stored: the run fails (and is retried), saying why;
    a URL that leads out of the root is refused by the plugin, which logs with PLUGIN= and INSTANCE=."""
    root = tmp_path / "out"
    root.mkdir()
    (root / "blocker").write_text("a file where a directory should be")
    since = time.time() - 1
    d = daemon([
        {"name": "blocked", "cron": "* * * * * *", "command": ["/bin/echo", "x"],
         "output": f"file://{root}/blocker/${{run_id}}.txt"},
        {"name": "escape", "cron": "* * * * * *", "command": ["/bin/echo", "x"], "retries": 1,
         "retry_backoff": "1s", "output": f"file://{root}/${{env:UDFCRON_TEST_SUB}}/x.txt"},
    ], settings=plugin_settings(storage={"file": {"root": str(root)}}),
        env={"UDFCRON_TEST_SUB": "../escaped"})

    _, recs = first_run(d, "blocked", "failed", 15)
    assert of(recs, "failed")[0]["MESSAGE"].endswith(
        f"exited with status 0, but its output could not be stored at file://{root}/blocker/"
        f"{recs[0]['UDFCRON_RUN_ID']}.txt: Not a directory after "
        + of(recs, "failed")[0]["MESSAGE"].rsplit(" after ", 1)[1])

    run_id, recs = first_run(d, "escape", "failed", 20)
    assert [r["UDFCRON_EVENT"] for r in of(recs, "retry", "failed")] == ["retry", "failed"]
    assert "could not be stored at file://" in of(recs, "failed")[0]["MESSAGE"]
    assert "Operation not permitted" in of(recs, "failed")[0]["MESSAGE"]
    assert not (tmp_path / "escaped").exists()
    plugin_log = [r for r in d.journald.records(since=since, INSTANCE="storage/file")
                  if str(tmp_path) in r["MESSAGE"]]
    assert plugin_log, "the plugin's refusal is not in the journal"
    assert plugin_log[0]["PLUGIN"] == "file"
    assert plugin_log[0]["PRIORITY"] == "3"
    assert plugin_log[0]["MESSAGE"] == (f"storage/file: file://{root}/../escaped/x.txt: outside the root "
                                        f"{root}, refusing it")


# ---------------------------------------------------------------- secrets

SECRETS_SCRIPT = """\
printf '%s %s %s %s' "$1" "$2" "$3" "$4" > "$DIR/seen.txt"
echo "seen: $1 $2 $3 $4"
"""


def test_secrets_from_providers_reach_the_run_and_nothing_else(daemon, tmp_path):
    """${secret:...} from the systemd credentials, secrets-env and secrets-file (asked in that order: the
    credentials first, then the providers as configured): the child gets the values, while the journal,
    the state directory and the daemon's stderr never show them."""
    suffix = os.urandom(8).hex()
    values = {"cred": f"cred-{suffix}", "env": f"env-{suffix}", "file": f"file-{suffix}",
              "shadowed": f"shadow-{suffix}"}
    creds, files = tmp_path / "creds", tmp_path / "secrets"
    creds.mkdir(mode=0o700)
    files.mkdir(mode=0o700)
    (creds / "in_creds").write_text(values["cred"] + "\n")
    (files / "in_creds").write_text(values["shadowed"])  # the credentials come first
    (files / "in_file").write_text(values["file"] + "\n")
    (files / "in_env").write_text(values["shadowed"])  # secrets-env is configured before secrets-file
    since = time.time() - 1
    d = daemon([{"name": "s", "cron": "* * * * * *",
                 "command": ["/bin/sh", "-c", SECRETS_SCRIPT, "sh", "${secret:in_creds}", "${secret:in_env}",
                             "${secret:in_file}", "${secret:in_env}"],
                 "environment": {"DIR": str(tmp_path)}}],
               settings=plugin_settings(secrets={"env": {"prefix": "UDFCRON_TEST_SECRET_"},
                                                 "file": {"directory": str(files)}}),
               env={"CREDENTIALS_DIRECTORY": str(creds), "UDFCRON_TEST_SECRET_in_env": values["env"]})

    _, recs = first_run(d, "s", "finished", 15)
    assert (tmp_path / "seen.txt").read_text() == f"{values['cred']} {values['env']} {values['file']} {values['env']}"
    assert [r["MESSAGE"] for r in of(recs, "log")] == ["seen: [redacted] [redacted] [redacted] [redacted]"]
    assert d.stop()[0] == 0
    for value in values.values():
        journal_has_no(d.journald, since, value)
        assert value not in d.stderr()
        assert not any(value in p.read_text(errors="replace") for p in d.state_dir.rglob("*") if p.is_file())


def test_a_missing_secret_fails_the_run_without_retrying(daemon, tmp_path):
    d = daemon([{"name": "m", "cron": "* * * * * *", "command": ["/bin/echo", "${secret:nowhere}"],
                 "retries": 3}],
               settings=plugin_settings(secrets={"env": {}}))
    _, recs = first_run(d, "m", "failed", 15)
    assert of(recs, "retry") == []
    assert "parameters: secret 'nowhere': No such file or directory" in of(recs, "failed")[0]["MESSAGE"]


# ---------------------------------------------------------------- configuration errors

def test_plugin_config_errors_stop_the_start_with_file_and_line(tmp_path, ctl):
    """A typo and a wrong type in a plugin's block: --check-config, udfcronctl check and the daemon's start
    all refuse with file:line and a suggestion."""
    write_config(tmp_path, f'timezone = "UTC";\nstate_directory = "state";\n'
                           f'plugin_directories = [ "{PLUGINS}" ];\n'
                           'storage = {\n'
                           '        file = {\n'
                           '                rot = "/srv";\n'
                           '        };\n'
                           '};\n'
                           'secrets = { env = { prefix = 5; }; };\n')
    errors = ["udfcrond.conf:6: unknown key 'rot' (did you mean 'root'?)",
              "udfcrond.conf:5: storage/file: missing option 'root' (the directory that file:// URLs must lie under)",
              "udfcrond.conf:9: prefix: expected a string, got an integer"]
    proc = check_config(tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == errors + ["udfcrond: udfcrond.conf: 3 errors"]
    res = ctl("check", "--config", "udfcrond.conf", cwd=tmp_path)
    assert res.status == 1
    assert res.err.splitlines()[:3] == errors

    start = subprocess.run([str(DAEMON_BINARY), "--config", "udfcrond.conf", "--log-target", "stderr"],
                           cwd=tmp_path, capture_output=True, text=True, timeout=30,
                           env={**os.environ, "NOTIFY_SOCKET": ""})
    assert start.returncode == 1
    for e in errors:
        assert e in start.stderr


def test_the_loader_refuses_unsafe_plugins(tmp_path):
    """A plugin directory others may write, and a plugin from a newer udfcron: refused, naming the file."""
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    shutil.copy(PLUGINS / "storage-file.so", plugins / "storage-file.so")
    os.chmod(plugins, 0o777)
    write_config(tmp_path, f'plugin_directories = [ "plugins" ];\nstorage = {{ file = {{ root = "/tmp"; }}; }};\n')
    proc = check_config(tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.splitlines()[0] == (f"udfcrond.conf:2: storage/file: {plugins}: writable by group and "
                                           "others (mode 0777): refusing to load plugins from it")
    os.chmod(plugins, 0o755)
    os.chmod(plugins / "storage-file.so", 0o666)
    proc = check_config(tmp_path)
    assert proc.stderr.splitlines()[0] == (f"udfcrond.conf:2: storage/file: {plugins}/storage-file.so: writable "
                                           "by group and others (mode 0666): refusing to load it")
    os.chmod(plugins / "storage-file.so", 0o644)
    assert check_config(tmp_path).returncode == 0


# ---------------------------------------------------------------- reload

def test_reload_swaps_plugin_instances_or_keeps_them(daemon, tmp_path):
    """SIGHUP with new plugin options: later runs see the new instance; with a broken plugin block the
    reload is refused (file:line) and the running instances stay."""
    script = 'printf "%s\\n" "$1" >> "$DIR/seen.txt"'
    sched = [{"name": "r", "cron": "* * * * * *", "command": ["/bin/sh", "-c", script, "sh", "${secret:word}"],
              "environment": {"DIR": str(tmp_path)}}]

    def settings(value, extra=None):
        block = {"values": [f"word={value}"], **(extra or {})}
        return plugin_settings(secrets={"example": block})

    d = daemon(sched, settings=settings("first-value"))
    seen = tmp_path / "seen.txt"
    wait_for(lambda: seen.exists() and "first-value" in seen.read_text(), 10, "a run with the first value")

    d.configure(sched, settings=settings("second-value"))
    d.send(signal.SIGHUP)
    wait_for(lambda: "second-value" in seen.read_text(), 10, "a run with the reloaded value")

    d.configure(sched, settings=settings("third-value", {"dellay": "1s"}))
    d.send(signal.SIGHUP)
    log = d.wait_daemon_log(lambda rs: any("reload refused" in str(r.get("MESSAGE")) for r in rs), 10,
                            "the refused reload")
    assert any(str(r.get("MESSAGE")).endswith("unknown key 'dellay' (did you mean 'delay'?)") for r in log)
    lines = len(seen.read_text().splitlines())
    wait_for(lambda: len(seen.read_text().splitlines()) >= lines + 2, 10, "two more runs")
    assert "third-value" not in seen.read_text()
    assert seen.read_text().splitlines()[-1] == "second-value"


# ---------------------------------------------------------------- udfcronctl status

def test_status_lists_the_plugin_instances(daemon, tmp_path):
    """udfcronctl status: each current instance in configuration order, with its plugin, file, ABI and a
    storage instance's schemes (never its options), as JSON and one line each; after a reload, the new set."""
    root, secrets = tmp_path / "data", tmp_path / "team-secrets"
    root.mkdir()
    secrets.mkdir(mode=0o700)
    storage = {"file": {"root": str(root)}}
    d = daemon([], settings=plugin_settings(storage=storage, secrets={
        "env": {"prefix": "UDFCRON_TEST_SECRET_"}, "team": {"plugin": "file", "directory": str(secrets)}}))

    status = d.ctl("status", "--json")
    assert status.status == 0, status.err
    plugins = json.loads(status.out)["plugins"]
    where = PLUGINS.resolve()  # as the daemon found it
    assert [(p["name"], p["kind"], p["plugin"], p["path"], p.get("schemes")) for p in plugins] == [
        ("storage/file", "storage", "file", str(where / "storage-file.so"), ["file"]),
        ("secrets/env", "secrets", "env", str(where / "secrets-env.so"), None),
        ("secrets/team", "secrets", "file", str(where / "secrets-file.so"), None)]
    assert {p["abi"] for p in plugins} == {ABI}
    assert plugins[0]["description"] == "file:// URLs under a root directory, written atomically"

    human = d.ctl("status")
    assert human.status == 0, human.err
    at = next(n for n, line in enumerate(human.lines) if line.startswith("Plugins:"))
    assert human.lines[at:at + 3] == [
        f"Plugins:      storage/file (plugin file, ABI {ABI}): {where}/storage-file.so, serves file://",
        f"              secrets/env (plugin env, ABI {ABI}): {where}/secrets-env.so",
        f"              secrets/team (plugin file, ABI {ABI}): {where}/secrets-file.so"]
    assert str(secrets) not in status.out + human.out and "UDFCRON_TEST_SECRET_" not in status.out

    d.configure([], settings=plugin_settings(storage=storage))
    assert d.ctl("reload").status == 0
    assert [p["name"] for p in json.loads(d.ctl("status", "--json").out)["plugins"]] == ["storage/file"]


# ---------------------------------------------------------------- udfcronctl storage

def test_udfcronctl_storage(tmp_path, ctl):
    root = tmp_path / "data"
    root.mkdir()
    write_config(tmp_path,
                 f'plugin_directories = [ "{PLUGINS}" ];\nstorage = {{ file = {{ root = "{root}"; }}; }};\n')
    conf = str(tmp_path / "udfcrond.conf")
    url = f"file://{root}/reports/2024/a.csv"

    res = ctl("storage", "--config", conf, "put", url, input="x,y\n1,2\n")
    assert (res.status, res.out, res.err) == (0, "", "")
    assert (root / "reports/2024/a.csv").read_text() == "x,y\n1,2\n"
    assert mode(root / "reports/2024/a.csv") == 0o600
    (tmp_path / "b.bin").write_bytes(b"\0\1\2")
    assert ctl("storage", "-c", conf, "put", f"file://{root}/reports/2024/b.bin", str(tmp_path / "b.bin")).status == 0

    res = ctl("storage", "-c", conf, "get", url)
    assert (res.status, res.out) == (0, "x,y\n1,2\n")
    res = ctl("storage", "-c", conf, "get", url, "--output", str(tmp_path / "copy.csv"))
    assert res.status == 0 and (tmp_path / "copy.csv").read_text() == "x,y\n1,2\n"

    res = ctl("storage", "-c", conf, "ls", f"file://{root}/reports/2024/")
    assert res.status == 0
    rows = [line.split() for line in res.lines]
    assert [(r[1], r[2]) for r in rows] == [("8", url), ("3", f"file://{root}/reports/2024/b.bin")]
    res = ctl("storage", "-c", conf, "ls", f"file://{root}")
    assert [line.split()[1:] for line in res.lines] == [["-", f"file://{root}/reports/"]]

    assert ctl("storage", "-c", conf, "rm", url).status == 0
    assert not (root / "reports/2024/a.csv").exists()
    res = ctl("storage", "-c", conf, "rm", url)
    assert (res.status, res.err) == (1, f"udfcronctl storage: rm {url}: No such file or directory\n")

    res = ctl("storage", "-c", conf, "sign", f"file://{root}/reports/2024/b.bin")
    assert res.status == 1 and res.err.endswith(": the storage serving this URL cannot sign URLs\n")
    res = ctl("storage", "-c", conf, "get", "s3://bucket/key")
    assert res.status == 1
    assert res.err == ("udfcronctl storage: get s3://bucket/key: no storage instance of the configuration serves "
                       "this URL's scheme\n")
    res = ctl("storage", "-c", conf, "get", f"file://{root}/../udfcrond.conf")
    assert res.status == 1 and res.out == ""
    assert f"storage/file: file://{root}/../udfcrond.conf: outside the root {root}, refusing it" in res.err

    for args in (["frobnicate", url], ["get"], ["put", url, "a", "b"], ["--expires", "forever", "sign", url]):
        assert ctl("storage", "-c", conf, *args).status == 2
    assert ctl("storage", "--help").status == 0


# ---------------------------------------------------------------- out of the tree

def test_a_plugin_built_out_of_tree_against_an_installed_destdir_loads(daemon, tmp_path, ctl):
    """`make install DESTDIR=...` installs the header, the .pc and the version script; plugins/example
    built with nothing but `cc -shared -fPIC $(pkg-config --cflags --libs udfcron-plugin)` exports only its
    descriptor, and the daemon loads it and answers ${secret:...} with it."""
    dest = tmp_path / "dest"
    proc = subprocess.run(["make", "--no-print-directory", "-C", str(REPO), f"B={BUILD}", f"DESTDIR={dest}",
                           "install"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    pc = dest / "usr/local/share/pkgconfig/udfcron-plugin.pc"
    assert pc.exists() and (dest / "usr/local/include/udfcron/plugin.h").exists()
    installed = sorted(p.name for p in (dest / "usr/local/lib/udfcron/plugins").iterdir())
    assert installed == ["credentials-gcs.so", "ingest-rows.so", "secrets-env.so", "secrets-file.so",
                         "secrets-fused.so", "storage-file.so", "storage-fused.so", "storage-s3.so"]

    env = {**os.environ, "PKG_CONFIG_PATH": str(pc.parent)}
    flags = subprocess.run(["pkg-config", "--define-prefix", "--cflags", "--libs", "udfcron-plugin"],
                           capture_output=True, text=True, env=env, check=True).stdout.split()
    work = tmp_path / "out-of-tree"
    plugins = work / "plugins"
    plugins.mkdir(parents=True)
    shutil.copy(REPO / "plugins/example/example.c", work / "example.c")  # only the source leaves the tree
    cc = subprocess.run(["cc", "-shared", "-fPIC", *flags, "example.c", "-o", "plugins/secrets-example.so"],
                        cwd=work, capture_output=True, text=True, timeout=120)
    assert cc.returncode == 0, cc.stderr
    exported = subprocess.run(["nm", "-D", "--defined-only", str(plugins / "secrets-example.so")],
                              capture_output=True, text=True, check=True).stdout.split()
    assert exported[1:] == ["D", "udfcron_plugin_entry"]

    script = 'printf "%s" "$1" > "$DIR/greeting.txt"'
    d = daemon([{"name": "g", "cron": "* * * * * *", "command": ["/bin/sh", "-c", script, "sh", "${secret:greeting}"],
                 "environment": {"DIR": str(tmp_path)}}],
               settings={"plugin_directories": [str(plugins)],
                         "secrets": {"example": {"values": ["greeting=hello from out of tree"]}}})
    wait_for(lambda: (tmp_path / "greeting.txt").exists(), 10, "the run")
    assert (tmp_path / "greeting.txt").read_text() == "hello from out of tree"
    assert ctl("check", "--config", str(d.conf)).status == 0
