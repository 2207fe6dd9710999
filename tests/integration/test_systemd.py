"""
What systemd/udfcrond.service promises, checked without systemd as PID 1: the daemon and its jobs work
with exactly the unit's user model and capabilities (recreated with setpriv), every system call they make
is in the unit's SystemCallFilter= (seen with strace), and the unit's ExecReload= lines fail a reload of a
broken configuration and apply a valid one.
"""
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import BUILD, Daemon, wait_for
from test_daemon import file_lines, of, shell_schedule

ROOT = Path(__file__).resolve().parents[2]
UNIT = (ROOT / "systemd" / "udfcrond.service").read_text()
STATUS_FIELDS = re.compile(r"^(Uid|Gid|Groups|CapInh|CapPrm|CapEff|CapAmb|CapBnd|NoNewPrivs):\s*(.*)$")

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")


def unit_setting(key):
    values = re.findall(rf"^{key}=(.*)$", UNIT, re.M)
    assert len(values) == 1, key
    return values[0]


def cap_names(setting):
    """'CAP_SETUID CAP_KILL' -> ['setuid', 'kill'] (setpriv's names)."""
    return [c.lower().removeprefix("cap_") for c in unit_setting(setting).split()]


def cap_mask(names):
    numbers = {"kill": 5, "setgid": 6, "setuid": 7}
    return sum(1 << numbers[n] for n in names)


def status_of(path):
    return {m[1]: m[2].strip() for line in file_lines(path) if (m := STATUS_FIELDS.match(line))}


@pytest.fixture
def shared_dir():
    """A directory every user can reach (pytest's tmp_path is root's alone)."""
    d = Path(tempfile.mkdtemp(prefix="udfcron-unit-", dir="/tmp"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_daemon_and_jobs_with_the_units_user_and_capabilities(journald, shared_dir):
    """As User=udfcron with AmbientCapabilities= and CapabilityBoundingSet= (here the user is nobody): jobs
    of the daemon's user and of another user start with no capability at all, and a job of another user
    that ignores SIGTERM is still killed at its timeout (CAP_KILL)."""
    caps = cap_names("AmbientCapabilities")
    assert caps == cap_names("CapabilityBoundingSet") == ["setuid", "setgid", "kill"]
    assert unit_setting("NoNewPrivileges") == "yes" and unit_setting("User") == "udfcron"
    d = Daemon(shared_dir / "daemon", journald)
    out = shared_dir / "out"
    out.mkdir(mode=0o777)
    out.chmod(0o1777)
    for directory in (d.state_dir, d.runtime_dir):
        directory.mkdir()
        os.chown(directory, 65534, 65534)
    probe = "grep -E '^(Uid|Gid|Groups|Cap|NoNewPrivs)' /proc/self/status > {}.tmp && mv {}.tmp {}"
    stuck_second = (int(time.time()) + 3) % 60
    d.configure([
        shell_schedule("own", "* * * * * *", probe.format(*[out / "own"] * 3)),
        shell_schedule("other", "* * * * * *", probe.format(*[out / "other"] * 3), user="daemon",
                       group="daemon", working_directory=str(out)),
        shell_schedule("stuck", f"{stuck_second} * * * * *", "trap '' TERM; echo $$$$ > stuck.pid; exec sleep 60",
                       user="daemon", group="daemon", working_directory=str(out), timeout="1s",
                       kill_grace="1s"),
    ])
    d.command_prefix = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                        f"--inh-caps=-all,{','.join('+' + c for c in caps)}",
                        f"--ambient-caps=-all,{','.join('+' + c for c in caps)}",
                        f"--bounding-set=-all,{','.join('+' + c for c in caps)}", "--no-new-privs", "--"]
    try:
        d.start()
        daemon_status = status_of(f"/proc/{d.pid}/status")
        assert daemon_status["Uid"].split() == ["65534"] * 4
        assert int(daemon_status["CapAmb"], 16) == int(daemon_status["CapEff"], 16) == cap_mask(caps)

        wait_for(lambda: (out / "own").exists() and (out / "other").exists(), 10, "both probes")
        own, other = status_of(out / "own"), status_of(out / "other")
        assert own["Uid"].split() == ["65534"] * 4
        assert other["Uid"].split() == ["1"] * 4 and other["Gid"].split() == ["1"] * 4
        assert other["Groups"] == ""
        for job in (own, other):
            for field in ("CapInh", "CapPrm", "CapEff", "CapAmb"):
                assert int(job[field], 16) == 0, (field, job)
            assert job["NoNewPrivs"] == "1"

        recs = d.wait_records(lambda rs: of(rs, "timed_out"), 15, "the stuck job's timeout", "stuck")
        stuck_pid = int((out / "stuck.pid").read_text())
        wait_for(lambda: not os.path.exists(f"/proc/{stuck_pid}"), 5, "the stuck job gone")
        assert not [r for r in d.daemon_log() if "not permitted" in str(r.get("MESSAGE"))]
    finally:
        problems = d.cleanup()
    assert not problems, problems


def allowed_syscalls(spec):
    """The system calls a SystemCallFilter= allow list names, groups expanded."""
    names, todo = set(), spec.split()
    seen = set()
    while todo:
        item = todo.pop()
        if not item.startswith("@"):
            names.add(item)
            continue
        if item in seen:
            continue
        seen.add(item)
        proc = subprocess.run(["systemd-analyze", "syscall-filter", item], capture_output=True, text=True,
                              timeout=30)
        assert proc.returncode == 0, proc.stderr
        for line in proc.stdout.splitlines()[1:]:
            line = line.strip()
            if line and not line.startswith("#"):
                todo.append(line)
    return names


def strace_summary(path):
    """The names in `strace -c` output (the last column of the rows between the dashed lines)."""
    rows, inside = [], False
    for line in Path(path).read_text().splitlines():
        if line.startswith("------"):
            inside = not inside
            continue
        if inside and line.split():
            rows.append(line.split()[-1])
    return set(rows)


UDF = '''
import json, urllib.parse
def udf(n: int = 1):
    print("udf says hi")
    return {"n": n, "quoted": urllib.parse.quote("a b")}
'''


def test_every_system_call_is_in_the_units_filter(daemon, tmp_path):
    """The daemon (start, a UDF run, a command, a timeout, a reload, the stop) and its jobs under strace -f:
    nothing outside SystemCallFilter=, which would fail with EPERM under the unit."""
    allowed = allowed_syscalls(unit_setting("SystemCallFilter"))
    assert {"read", "clone3", "pidfd_open", "setresuid", "capset"} <= allowed  # the expansion worked
    assert unit_setting("SystemCallArchitectures") == "native"
    (tmp_path / "job.py").write_text(UDF)
    summary = tmp_path / "strace.txt"
    d = daemon([
        {"name": "udf", "cron": "* * * * * *", "udf": str(tmp_path / "job.py"), "params": {"n": 3}},
        shell_schedule("cmd", "* * * * * *", "echo out; date > /dev/null; ls / > /dev/null"),
        shell_schedule("slow", "*/2 * * * * *", "sleep 5", timeout="1s"),
    ], start=False)
    # -D: strace runs as a grandchild, so the daemon keeps the pid the test signals
    d.command_prefix = ["strace", "-f", "-D", "-qq", "-c", "-o", str(summary), "--"]
    d.start(ready_timeout=30)
    for short, event in (("udf", "finished"), ("cmd", "finished"), ("slow", "timed_out")):
        d.wait_records(lambda rs, e=event: of(rs, e), 30, f"a {event} run", short)
    mark = d.notify.mark()
    d.send(signal.SIGHUP)
    d.notify.wait(lambda line: line == "READY=1", mark, timeout=30, what="READY=1 after the reload")
    status, _ = d.stop(timeout=60)
    assert status == 0
    wait_for(lambda: summary.exists() and "total" in summary.read_text(), 30, "strace's summary")

    used = strace_summary(summary) - {"total"}
    assert {"execve", "pidfd_open", "wait4", "epoll_wait"} & used  # a real trace
    assert used - allowed == set(), f"outside {unit_setting('SystemCallFilter')}: {sorted(used - allowed)}"


def exec_reload(d):
    """Runs the unit's ExecReload= lines as systemd does: in order, stopping at the first that fails."""
    for line in re.findall(r"^ExecReload=(.*)$", UNIT, re.M):
        argv = line.replace("/usr/sbin/", f"{BUILD}/").replace("$MAINPID", str(d.pid)).split()
        if argv[:2] == [str(BUILD / "udfcrond"), "--check-config"]:
            argv += ["--config", str(d.conf)]  # the unit's daemon reads /etc/udfcron/udfcrond.conf
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        if proc.returncode != 0:
            return proc
    return proc


def test_exec_reload_fails_on_a_broken_config_and_applies_a_valid_one(daemon):
    d = daemon([shell_schedule("a", "0 0 1 1 *", "true")])
    path = d.configure([shell_schedule("a", "0 0 1 1 *", "true"), {"name": "b", "cron": "61 * * * *",
                                                                   "command": ["/bin/true"]}])
    mark = d.notify.mark()
    broken = exec_reload(d)
    assert broken.returncode == 1  # `systemctl reload` fails ...
    assert f"{path}:" in broken.stderr and "minute field: 61 is out of range" in broken.stderr  # ... and says why
    time.sleep(0.5)
    assert "RELOADING=1" not in d.notify.lines(mark)  # the daemon was never asked

    d.configure([shell_schedule("a", "0 0 1 1 *", "true"), shell_schedule("b", "0 0 1 1 *", "true")])
    ok = exec_reload(d)
    assert ok.returncode == 0, ok.stderr
    d.notify.wait(lambda line: line == "RELOADING=1", mark, what="RELOADING=1")
    d.notify.wait(lambda line: line.startswith("STATUS=2 schedules"), mark, what="STATUS with 2 schedules")
