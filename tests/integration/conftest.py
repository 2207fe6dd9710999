"""Shared fixtures: where the freshly built binaries are, and how to run them."""
import fcntl
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest

BUILD = Path(os.environ.get("UDFCRON_BUILD", Path(__file__).resolve().parents[2] / "build"))

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the emulator package
from emulator.client import Emulator  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line("markers", "emulator(*options): command-line options of the test's emulator")


class Result:
    def __init__(self, proc):
        self.status = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr
        self.lines = proc.stdout.splitlines()


@pytest.fixture
def ctl():
    """Runs build/udfcronctl with the given arguments; returns status, stdout, stderr."""
    binary = BUILD / "udfcronctl"
    assert binary.exists(), f"{binary} is missing: run make first"

    def run(*args, **kwargs):
        proc = subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=30, **kwargs)
        return Result(proc)

    return run


# ---------------------------------------------------------------- journald
#
# A real journald for the journal tests: the running one if there is one,
# else (as root) /lib/systemd/systemd-journald started by hand and stopped
# again at the end, with everything it created under /run removed.
#
# Several pytest sessions on one machine (engineers running `make check` at
# once) share that journald: a session holds a shared flock on USERS_LOCK
# while it uses it, and only the last one out stops it. GATE_LOCK serialises
# the check-and-start and check-and-stop steps, so two sessions never start two
# journalds on one socket, and nobody stops it under another's feet. STATE
# names the journald a test session started (possibly another, finished
# session) and what existed under its roots before it ran. The two (empty)
# lock files stay in /tmp.

JOURNAL_SOCKET = "/run/systemd/journal/socket"
JOURNALD_BINARY = "/lib/systemd/systemd-journald"
JOURNALD_ROOTS = ("/run/systemd/journal", "/run/log/journal")  # all that journald creates at runtime
GATE_LOCK = "/tmp/udfcron-tests-journald.gate"
USERS_LOCK = "/tmp/udfcron-tests-journald.users"
STATE = "/run/udfcron-tests-journald.json"


def _open_lock(path):
    # read-only: flock needs no more, and so a lock file another user created works too
    return os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)


def _flock(fd, op, timeout=60.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, op | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"a journald lock in /tmp is still held after {timeout:.0f}s")
            time.sleep(0.05)


def _journald_listening():
    """Whether something receives on the native socket (a stale socket file refuses connections)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        try:
            s.connect(JOURNAL_SOCKET)
            return True
        except OSError:
            return False


def _journalctl_works():
    proc = subprocess.run(["journalctl", "-n", "0", "--no-pager", "-q"], capture_output=True, timeout=30)
    return proc.returncode == 0


def _tree(root):
    if not os.path.lexists(root):
        return set()
    paths = {root}
    for top, dirs, files in os.walk(root):
        paths.update(os.path.join(top, n) for n in dirs + files)
    return paths


def _decode(value):
    """journalctl -o json: a string, an array of byte numbers (binary), or an array of those (repeated)."""
    if isinstance(value, list) and all(isinstance(v, int) for v in value):
        return bytes(value)
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


class Journald:
    def __init__(self, started_here, startup_seconds):
        self.started_here = started_here  # by this session
        self.startup_seconds = startup_seconds

    def query(self, *args):
        """Raw `journalctl -o json --all --no-pager ARGS` output, once journald has stored all it got."""
        subprocess.run(["journalctl", "--sync"], capture_output=True, timeout=30)
        proc = subprocess.run(["journalctl", "-o", "json", "--all", "--no-pager", *args],
                              capture_output=True, text=True, timeout=30)
        # 1 with "-- No entries --" on stderr is not an error for us
        assert proc.returncode in (0, 1) and "Failed" not in proc.stderr, proc.stderr
        return proc.stdout

    def records(self, since=None, expect=None, timeout=5.0, **matches):
        """
        Records with FIELD=value for every keyword (use a unique value, e.g. a run id, to isolate a
        test), oldest first, as dicts of str (text), bytes (binary) or lists (repeated fields).
        `since` is a Unix time; with `expect`, waits (bounded) until that many records are there.
        """
        args = [f"{k}={v}" for k, v in matches.items()]
        if since is not None:
            args.append(f"--since=@{int(since)}")
        deadline = time.monotonic() + timeout
        while True:
            out = self.query(*args)
            recs = [{k: _decode(v) for k, v in json.loads(line).items()}
                    for line in out.splitlines() if line]
            if expect is None or len(recs) >= expect or time.monotonic() > deadline:
                return recs
            time.sleep(0.05)


def _stop_started_journald(child=None):
    """
    Stops the journald a test session started (`child`, when it was this one), if it still runs,
    and removes what it created.
    """
    try:
        with open(STATE) as f:
            state = json.load(f)
    except FileNotFoundError:
        return
    pid = state["pid"]
    if child is not None and child.pid == pid:
        child.terminate()
        try:
            child.wait(5)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    elif _start_time(pid) == state["start_time"]:  # the same process, not a reused pid
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        while _start_time(pid) == state["start_time"] and time.monotonic() < deadline:
            time.sleep(0.02)
        if _start_time(pid) == state["start_time"]:
            os.kill(pid, signal.SIGKILL)
    # journald leaves its sockets behind; it creates some paths only after it listens, so the
    # difference is taken now: a root that was missing goes as a whole
    before = set(state["before"])
    created = set().union(*(_tree(r) for r in JOURNALD_ROOTS)) - before
    for path in sorted(created, key=len):
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        elif os.path.lexists(path):
            os.unlink(path)
    os.unlink(STATE)


def _start_time(pid):
    """The kernel's start time of a process (field 22 of /proc/PID/stat), or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None if fields[0] == "Z" else int(fields[19])


def _start_journald():
    """Starts journald; returns it and how long it took until its socket listened."""
    try:
        with open(STATE) as f:
            before = set(json.load(f)["before"])  # a stale state: what was there before still counts
    except FileNotFoundError:
        before = set().union(*(_tree(r) for r in JOURNALD_ROOTS))
    log = tempfile.TemporaryFile()
    start = time.monotonic()
    proc = subprocess.Popen([JOURNALD_BINARY], stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                            start_new_session=True)  # not hit by the terminal's ^C before we stop it
    while not _journald_listening():
        if proc.poll() is not None or time.monotonic() - start > 5:
            proc.kill()
            proc.wait()
            log.seek(0)
            pytest.fail(f"{JOURNALD_BINARY} did not open {JOURNAL_SOCKET} within 5s: "
                        f"{log.read().decode(errors='replace')}")
        time.sleep(0.005)
    elapsed = time.monotonic() - start
    with open(STATE + ".tmp", "w") as f:
        json.dump({"pid": proc.pid, "start_time": _start_time(proc.pid), "before": sorted(before)}, f)
    os.rename(STATE + ".tmp", STATE)
    return proc, elapsed


@pytest.fixture(scope="session")
def journald():
    """A journald receiving on /run/systemd/journal/socket, for the whole session (see above)."""
    gate = _open_lock(GATE_LOCK)
    users = _open_lock(USERS_LOCK)
    try:
        _flock(gate, fcntl.LOCK_EX)
        try:
            _flock(users, fcntl.LOCK_SH)
            child, elapsed = None, None
            if not (_journald_listening() and _journalctl_works()):
                if os.geteuid() != 0:
                    pytest.skip(f"no journald listens on {JOURNAL_SOCKET}, and starting "
                                f"{JOURNALD_BINARY} by hand needs root")
                if not os.access(JOURNALD_BINARY, os.X_OK):
                    pytest.skip(f"no journald listens on {JOURNAL_SOCKET}, and {JOURNALD_BINARY} is missing")
                child, elapsed = _start_journald()
        finally:
            fcntl.flock(gate, fcntl.LOCK_UN)

        yield Journald(child is not None, elapsed)

        _flock(gate, fcntl.LOCK_EX)
        try:
            fcntl.flock(users, fcntl.LOCK_UN)
            try:
                fcntl.flock(users, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the last user stops it
            except BlockingIOError:
                return  # still in use: the last session stops it (STATE says which it is)
            _stop_started_journald(child)
        finally:
            fcntl.flock(gate, fcntl.LOCK_UN)
    finally:
        os.close(users)
        os.close(gate)


@pytest.fixture(scope="session")
def journal_driver():
    """tests/integration/journal-driver.c linked with the core library (built by `make check`)."""
    built = BUILD / "tests" / "journal-driver"
    assert built.exists(), f"{built} is missing: run make check"
    return built


# ---------------------------------------------------------------- the daemon
#
# `daemon(...)` starts the real build/udfcrond on a config tree of its own under
# tmp_path (state and runtime directories included), with NOTIFY_SOCKET set to
# a datagram socket this test owns, so the test sees the daemon's real
# sd_notify messages. Each daemon gets a unique schedule-name prefix, so that
# journal queries by UDFCRON_SCHEDULE see only this test's records.

DAEMON_BINARY = BUILD / "udfcrond"
# what the test's own environment must not pass on to a daemon under test
_DAEMON_ENV_DROP = ("NOTIFY_SOCKET", "LISTEN_", "WATCHDOG_", "UDFCRON_", "CREDENTIALS_DIRECTORY",
                    "STATE_DIRECTORY", "RUNTIME_DIRECTORY", "INVOCATION_ID", "JOURNAL_STREAM")


def write_config(root, main, schedules=None):
    """ROOT/udfcrond.conf (MAIN) beside ROOT/schedules.d/, which holds SCHEDULES ({file name: text})."""
    (root / "schedules.d").mkdir(parents=True, exist_ok=True)
    (root / "udfcrond.conf").write_text(main)
    for name, text in (schedules or {}).items():
        (root / "schedules.d" / name).write_text(text)


def check_config(root):
    """udfcrond --check-config on ROOT/udfcrond.conf, run in ROOT as an operator runs it beside the file."""
    return subprocess.run([str(DAEMON_BINARY), "--check-config", "--config", "udfcrond.conf"], cwd=root,
                          capture_output=True, text=True, timeout=30)


def wait_for(condition, timeout, what, interval=0.05):
    """Polls condition() until it returns something true (which is returned); fails after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.1f}s waiting for {what}")
        time.sleep(interval)


class Raw(str):
    """A value written into a libconfig file as is."""


def conf_value(value):
    """A Python value in libconfig syntax: str, bool, int, float, list (array) or dict (group)."""
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        escaped = (value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
                   .replace("\t", "\\t"))
        return f'"{escaped}"'
    if isinstance(value, (list, tuple)):
        return "[ " + ", ".join(conf_value(v) for v in value) + " ]"
    if isinstance(value, dict):
        return "{ " + " ".join(f"{k} = {conf_value(v)};" for k, v in value.items()) + " }"
    raise TypeError(f"no libconfig form for {value!r}")


def conf_group(settings, indent="        "):
    """`key = value;` lines, one per key (so that line numbers are easy to predict)."""
    return "".join(f"{indent}{k} = {conf_value(v)};\n" for k, v in settings.items())


class Notify:
    """An AF_UNIX datagram socket in the abstract namespace, read by a thread: the daemon's NOTIFY_SOCKET.
    (Read at once: a full receive queue, 10 datagrams here, would block the daemon's sd_notify.)"""

    def __init__(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        name = f"udfcron-test-{os.getpid()}-{uuid.uuid4().hex}"
        self.sock.bind("\0" + name)
        self.sock.settimeout(0.1)
        self.address = "@" + name
        self.messages = []  # (time.time(), [lines])
        self.cond = threading.Condition()
        self.closed = False
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        while not self.closed:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            with self.cond:
                self.messages.append((time.time(), data.decode(errors="replace").splitlines()))
                self.cond.notify_all()

    def mark(self):
        """A position: what arrives from now on has a higher index."""
        with self.cond:
            return len(self.messages)

    def lines(self, since=0):
        with self.cond:
            return [line for _, lines in self.messages[since:] for line in lines]

    def wait(self, predicate, since=0, timeout=10.0, what="a notify message"):
        """Waits for a line (after position `since`) matching predicate(line); returns its message index."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for i in range(since, len(self.messages)):
                    if any(predicate(line) for line in self.messages[i][1]):
                        return i
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no {what} on the notify socket within {timeout:.0f}s; got "
                                         f"{[m for _, m in self.messages[since:]]}")
                self.cond.wait(left)

    def close(self):
        self.closed = True
        self.thread.join(2)
        self.sock.close()


def _processes_of(prefix):
    """Pids of processes whose environment names a schedule with this prefix (children a daemon left)."""
    needle = f"UDFCRON_SCHEDULE={prefix}-".encode()
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                if needle in f.read():
                    pids.append(int(entry))
        except OSError:
            pass
    return pids


class Daemon:
    """One udfcrond under test: its config tree, process, notify socket and journal records."""

    def __init__(self, root, journald, log_target="journal"):
        self.root = Path(root)
        self.root.mkdir(parents=True)
        self.prefix = "t" + uuid.uuid4().hex[:8]
        self.journald = journald
        self.log_target = log_target
        self.conf = self.root / "udfcrond.conf"
        self.schedules_dir = self.root / "schedules.d"
        self.state_dir = self.root / "state"
        self.runtime_dir = self.root / "runtime"
        self.stderr_path = self.root / "stderr.log"
        # the control socket in a short directory every user can reach (tests connect as `nobody`, and
        # tmp_path is neither short nor open to others) and create in, /tmp-like (daemons run as `nobody`)
        self.control_dir = Path(tempfile.mkdtemp(prefix="udfcron-ctl-"))
        self.control_dir.chmod(0o1777)
        self.control_socket = self.control_dir / "control.sock"
        self.schedules_dir.mkdir()
        self.env = {}
        self.nofile = None  # RLIMIT_NOFILE (soft = hard) for the daemon, when set
        self.command_prefix = []  # runs the daemon through this (e.g. setpriv ...), which must exec it
        self.proc = None
        self.pids = []  # of every start
        self.started_at = None  # time.time() of the first start
        self.notify = Notify()

    # -- configuration

    def name(self, short):
        """The full name of schedule `short` (configure() prefixes every name)."""
        return f"{self.prefix}-{short}"

    def configure(self, schedules=(), settings=None, files=None):
        """
        Writes udfcrond.conf (base settings, then `settings` over them; a `defaults` dict is merged) and
        schedules.d/50-test.conf with `schedules` (dicts; names get the prefix). `files` maps other names
        in schedules.d to their raw text (None deletes the file). Returns the schedule file's path.
        """
        base = {
            "timezone": "UTC",
            "state_directory": str(self.state_dir),
            "runtime_directory": str(self.runtime_dir),
            "control_socket": str(self.control_socket),
            "shutdown_timeout": "5s",
        }
        settings = dict(settings or {})
        defaults = {"kill_grace": "1s", **settings.pop("defaults", {})}
        base.update(settings)
        self.conf.write_text(conf_group(base, indent="") + "defaults = {\n" + conf_group(defaults) + "};\n")

        groups = []
        for s in schedules:
            s = dict(s, name=self.name(s["name"]))
            groups.append("    {\n" + conf_group(s) + "    }")
        path = self.schedules_dir / "50-test.conf"
        path.write_text("schedules = (\n" + ",\n".join(groups) + "\n);\n")
        for fname, text in (files or {}).items():
            if text is None:
                (self.schedules_dir / fname).unlink(missing_ok=True)
            else:
                (self.schedules_dir / fname).write_text(text)
        return path

    # -- process

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def start(self, env=None, ready_timeout=10.0):
        """Starts the daemon and waits for READY=1 (unless ready_timeout is None). Returns the process."""
        assert DAEMON_BINARY.exists(), f"{DAEMON_BINARY} is missing: run make first"
        assert self.proc is None, "already running"
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(_DAEMON_ENV_DROP)}
        full_env["NOTIFY_SOCKET"] = self.notify.address
        # glibc fills freed memory with this byte: a use after free shows as garbage every time, not
        # only when the allocator happens to reuse the memory (children do not inherit it)
        full_env.setdefault("MALLOC_PERTURB_", "165")
        full_env.update(self.env)
        full_env.update(env or {})
        mark = self.notify.mark()
        nofile = self.nofile
        limit = (lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))) if nofile else None
        with open(self.stderr_path, "ab") as err:
            self.proc = subprocess.Popen(
                [*self.command_prefix, str(DAEMON_BINARY), "--config", str(self.conf), "--log-target",
                 self.log_target],
                stdin=subprocess.DEVNULL, stdout=err, stderr=err, env=full_env, cwd=self.root,
                start_new_session=True, preexec_fn=limit)
        self.pids.append(self.proc.pid)
        if self.started_at is None:
            self.started_at = time.time()
        if ready_timeout is not None:
            self.wait_ready(mark, ready_timeout)
        return self.proc

    def wait_ready(self, since, timeout=10.0):
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.notify.wait(lambda l: l == "READY=1", since, timeout=0.2, what="READY=1")
            except AssertionError:
                if self.proc.poll() is not None:
                    raise AssertionError(f"udfcrond exited with status {self.proc.returncode} before READY=1: "
                                         f"{self.stderr()}") from None
                if time.monotonic() > deadline:
                    raise AssertionError(f"no READY=1 from udfcrond within {timeout:.0f}s: {self.stderr()}")

    def send(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=15.0, sig=signal.SIGTERM):
        """Sends `sig` (SIGTERM) and waits (bounded) for the exit; returns (status, seconds it took)."""
        start = time.monotonic()
        self.proc.send_signal(sig)
        try:
            status = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            self.proc = None
            raise AssertionError(f"udfcrond did not exit within {timeout:.0f}s of {sig.name}") from None
        self.proc = None
        return status, time.monotonic() - start

    def kill(self):
        """SIGKILL, as a crash would."""
        self.proc.kill()
        self.proc.wait()
        self.proc = None

    def ctl(self, *args, user=None, groups=(), env=None, timeout=30):
        """
        Runs build/udfcronctl against this daemon's socket; with `user` as that user through setpriv,
        its primary group `user`'s own and its supplementary groups `groups` (names). Returns a Result.
        """
        command = [str(BUILD / "udfcronctl"), "--socket", str(self.control_socket), *args]
        if user is not None:
            command = ["setpriv", f"--reuid={user}", f"--regid={user if user != 'nobody' else 'nogroup'}",
                       f"--groups={','.join(groups)}" if groups else "--clear-groups", *command]
        full_env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "UDFCRON_CONTROL_SOCKET")}
        full_env.update(env or {})
        proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=full_env)
        return Result(proc)

    def stderr(self):
        try:
            return self.stderr_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def cleanup(self):
        """Stops the daemon with SIGTERM (checking its exit status) and kills what its runs left. Returns
        a list of problems."""
        problems = []
        try:
            if self.proc is not None:
                try:
                    status, _ = self.stop()
                    if status != 0:
                        problems.append(f"udfcrond exited with status {status} on SIGTERM: {self.stderr()}")
                except AssertionError as e:
                    problems.append(str(e))
        finally:
            for pid in _processes_of(self.prefix):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.notify.close()
            shutil.rmtree(self.control_dir, ignore_errors=True)
        return problems

    # -- journal

    def records(self, short=None, expect=None, timeout=5.0, **matches):
        """Journal records of schedule `short` (and/or other FIELD=value matches), oldest first."""
        if short is not None:
            matches["UDFCRON_SCHEDULE"] = self.name(short)
        return self.journald.records(expect=expect, timeout=timeout, **matches)

    def wait_records(self, predicate, timeout, what, short=None, **matches):
        """Polls the records of `short` until predicate(records) holds; returns the records."""
        found = []

        def check():
            found[:] = self.records(short, **matches)
            return predicate(found)
        try:
            wait_for(check, timeout, what, interval=0.15)
        except AssertionError as e:
            raise AssertionError(f"{e}; records: {[r.get('MESSAGE') for r in found]}") from None
        return found

    def daemon_log(self):
        """The records of every process of this daemon (its own messages have no schedule field)."""
        recs = [r for pid in self.pids for r in self.journald.records(_PID=str(pid))]
        return sorted(recs, key=lambda r: int(r["__REALTIME_TIMESTAMP"]))

    def wait_daemon_log(self, predicate, timeout, what):
        found = []

        def check():
            found[:] = self.daemon_log()
            return predicate(found)
        try:
            wait_for(check, timeout, what, interval=0.15)
        except AssertionError as e:
            raise AssertionError(f"{e}; log: {[r.get('MESSAGE') for r in found]}") from None
        return found


@pytest.fixture
def daemon(tmp_path, journald):
    """
    daemon(schedules, settings=None, files=None, env=None, start=True, log_target="journal", nofile=None)
    -> Daemon (nofile: the daemon's descriptor limit):
    writes the config tree, starts udfcrond and waits for READY=1. On teardown each daemon still running
    gets SIGTERM and must exit with status 0 (bounded wait).
    """
    made = []

    def make(schedules=(), settings=None, files=None, env=None, start=True, log_target="journal", nofile=None):
        d = Daemon(tmp_path / f"daemon{len(made)}", journald, log_target)
        made.append(d)
        d.configure(schedules, settings, files)
        d.nofile = nofile
        if env:
            d.env.update(env)
        if start:
            d.start()
        return d

    yield make
    problems = []
    for d in made:
        problems += d.cleanup()
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------- the Fused/Fusion emulator

@pytest.fixture(scope="session")
def _emulators():
    """Emulator processes by their options, shared by the session's tests, stopped at its end."""
    running = {}
    yield running
    for emu in running.values():
        emu.stop()


@pytest.fixture
def emulator(request, _emulators, tmp_path_factory):
    """
    The Fused/Fusion emulator (tests/emulator/, client.py) as an Emulator: base URLs and credentials
    (fused_base, fused_token, fusion_base, fusion_basic(), ...), request() for raw HTTP and the admin
    API (config(), fault(), requests(), starts(), ...). Reset to its start state for every test;
    @pytest.mark.emulator("--exec-udfs") chooses command-line options. Teardown fails the test when
    the emulator hit an internal error.
    """
    marker = request.node.get_closest_marker("emulator")
    options = tuple(marker.args) if marker else ()
    emu = _emulators.get(options)
    if emu is None or not emu.running:
        emu = _emulators[options] = Emulator.start(tmp_path_factory.mktemp("emulator"), options)
    emu.reset()
    yield emu
    emu.check()
