"""
Starting an emulator process and driving it, for tests and benchmarks:

    emu = Emulator.start(workdir)                     # --port 0: addresses come from its ready file
    emu.config({"fused": {"job": {"running": 0.5}}})  # PATCH /_emulator/config
    emu.fault("status", method="POST", path="/run$", status=503, count=1)
    reply = emu.request("GET", "/server/v1/user/self", headers=emu.fused_auth())
    emu.starts("fused")                               # {"job name": times started}
    emu.stop()

Requests go through http.client: nothing is followed, added or retried behind the caller's back.
"""
import base64
import http.client
import json
import signal
import subprocess
import time
import urllib.parse
from pathlib import Path

EMULATOR_DIR = Path(__file__).resolve().parent
PYTHON = "/usr/bin/python3"


class Reply:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # http.client.HTTPMessage: case-insensitive, get_all() for repeats
        self.body = body

    def header(self, name):
        return self.headers.get(name)

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<Reply {self.status} {self.body[:200]!r}>"


class Emulator:
    def __init__(self, proc, info, log_path):
        self.proc = proc
        self.info = info
        self.log_path = log_path

    @classmethod
    def start(cls, workdir, args=(), timeout=10.0, emulator_dir=None):
        """Starts `python3 tests/emulator --port 0 ARGS` with its output in workdir/emulator.log;
        `emulator_dir` runs another copy of the emulator instead (a benchmark's baseline)."""
        workdir = Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        ready = workdir / "emulator-ready.json"
        ready.unlink(missing_ok=True)
        log_path = workdir / "emulator.log"
        with open(log_path, "ab") as log:
            argv = [PYTHON, str(emulator_dir or EMULATOR_DIR), "--port", "0", "--ready-file", str(ready), *args]
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + timeout
        while not ready.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                raise RuntimeError(f"the emulator did not start: {log_path.read_text(errors='replace')}")
            time.sleep(0.01)
        return cls(proc, json.loads(ready.read_text()), log_path)

    def stop(self):
        """SIGTERM, then SIGKILL after 5 s; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    @property
    def running(self):
        return self.proc.poll() is None

    def log(self):
        return self.log_path.read_text(errors="replace")

    # -- addresses and credentials

    @property
    def url(self):
        return self.info["url"]

    @property
    def storage_url(self):
        return self.info["storage_url"]

    @property
    def fused_base(self):
        return self.info["fused"]["base_url"]

    @property
    def fused_shared_base(self):
        return self.info["fused"]["shared_base_url"]

    @property
    def fused_token(self):
        return self.info["fused"]["token"]

    @property
    def realtime_client_id(self):
        return self.info["fused"]["realtime_client_id"]

    @property
    def fusion_base(self):
        return self.info["fusion"]["base_url"]

    @property
    def fusion_user(self):
        return next(iter(self.info["fusion"]["users"]))

    @property
    def fusion_password(self):
        return self.info["fusion"]["users"][self.fusion_user]

    @property
    def fusion_api_key(self):
        return self.info["fusion"]["api_key"]

    def fused_auth(self, token=None):
        return {"Authorization": f"Bearer {token or self.fused_token}"}

    def fusion_basic(self, user=None, password=None):
        pair = f"{user or self.fusion_user}:{password or self.fusion_password}"
        return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}

    # -- raw HTTP

    def request(self, method, url, body=None, headers=None, json_body=None, timeout=10.0):
        """One request; `url` may be a path on the main listener. Returns a Reply (any status)."""
        if not url.startswith("http"):
            url = self.url + url
        split = urllib.parse.urlsplit(url)
        headers = dict(headers or {})
        if json_body is not None:
            body = json.dumps(json_body).encode()
            headers.setdefault("Content-Type", "application/json")
        conn = http.client.HTTPConnection(split.hostname, split.port, timeout=timeout)
        try:
            conn.request(method, split.path + (f"?{split.query}" if split.query else ""), body, headers)
            resp = conn.getresponse()
            return Reply(resp.status, resp.headers, resp.read())
        finally:
            conn.close()

    # -- admin API

    def admin(self, method, path, body=None):
        reply = self.request(method, "/_emulator" + path, json_body=body)
        if reply.status != 200:
            raise RuntimeError(f"admin {method} {path}: {reply.status} {reply.body!r}")
        return reply.json()

    def reset(self):
        return self.admin("POST", "/reset")

    def config(self, patch=None):
        """The effective config, after merging `patch` into it when given."""
        return self.admin("PATCH", "/config", patch) if patch is not None else self.admin("GET", "/config")

    def fault(self, kind, method="*", path="", **params):
        """Adds a fault rule (see faults.py); returns its id."""
        return self.admin("POST", "/faults", {"kind": kind, "method": method, "path": path, **params})["ids"][0]

    def faults(self):
        return self.admin("GET", "/faults")

    def clear_faults(self):
        return self.admin("DELETE", "/faults")

    def requests(self, **filters):
        """Recorded requests (method, path regex, route, listener, since, limit), oldest first. Each has
        headers as [name, value] pairs; see header_values()."""
        query = urllib.parse.urlencode({k: v for k, v in filters.items() if v is not None})
        return self.admin("GET", "/requests" + (f"?{query}" if query else ""))

    def arrivals(self, route):
        """{path: [arrival times]} of a route the emulator was started to track (--track-arrivals)."""
        return self.admin("GET", "/arrivals?" + urllib.parse.urlencode({"route": route}))

    def clear_requests(self):
        return self.admin("DELETE", "/requests")

    def stats(self):
        return self.admin("GET", "/stats")

    def starts(self, kind):
        """{name: count} of one kind of start: fused, fused.realtime, fusion, fused.cancel, fusion.cancel."""
        return self.stats()["starts"].get(kind, {})

    def jobs(self):
        return self.admin("GET", "/jobs")

    def finish_fused_job(self, job_id, outcome="succeeded"):
        return self.admin("POST", f"/fused/jobs/{job_id}/finish", {"outcome": outcome})

    def finish_fusion_run(self, run_id, outcome="finished"):
        return self.admin("POST", f"/fusion/runs/{run_id}/finish", {"outcome": outcome})

    def revoke(self, **credentials):
        """revoke(fused_token=..., fusion_session="*", ...): later requests with them get 401."""
        return self.admin("POST", "/revoke", credentials)

    def unrevoke(self):
        return self.admin("DELETE", "/revoke")

    def check(self):
        """AssertionError when the emulator hit a bug of its own (an internal error) so far."""
        errors = self.stats()["internal_errors"]
        if errors:
            raise AssertionError("the emulator failed internally:\n" + "\n".join(errors))


def header_values(record, name):
    """The values of header `name` in a recorded request (a list: headers may repeat)."""
    return [v for k, v in record["headers"] if k.lower() == name.lower()]

