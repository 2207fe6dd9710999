"""Shared fixtures: where the freshly built binaries are, and how to run them."""
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

BUILD = Path(os.environ.get("UDFCRON_BUILD", Path(__file__).resolve().parents[2] / "build"))


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
