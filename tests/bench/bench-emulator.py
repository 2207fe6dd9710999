#!/usr/bin/python3
"""
The test emulator's own speed (tests/emulator/), on the requests the fused engine sends most: the
emulator must not be what limits bench-fused.py. One emulator process, keep-alive connections from a
client that keeps CONNECTIONS requests in flight at once (as the daemon's connection pool does), for
each route in turn:

  start   POST /run, the body the daemon posts (one UDF step, its metadata)
  status  GET /run/by-id/{id}
  logs    GET /logs/{id}?since_ms=<the last line's timestamp>: a quiet job, an empty page
  list    GET /job/self?skip=0&limit=25 (the daemon's search for a job it may have started)

and prints the requests per second served and the emulator's CPU time per request (utime + stime
from /proc, so the client's share does not count). With UDFCRON_BENCH_EMULATOR_BASELINE set to
another copy of tests/emulator/ (say, after `git archive main tests/emulator | tar -xC /tmp/old`,
/tmp/old/tests/emulator), it measures that one too and prints how many times faster this one is.

Environment: UDFCRON_BENCH_EMULATOR_JOBS (2000 jobs started, then polled),
UDFCRON_BENCH_EMULATOR_REQUESTS (20000 per polling route), UDFCRON_BENCH_EMULATOR_CONNECTIONS (64: what
the daemon opens to one host in bench-fused.py), UDFCRON_BENCH_EMULATOR_BASELINE.
"""
import json
import os
import selectors
import socket
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from remote_load import cpu_seconds  # noqa: E402
from emulator.client import Emulator  # noqa: E402  (remote_load puts tests/ on the path)

JOBS = int(os.environ.get("UDFCRON_BENCH_EMULATOR_JOBS", 2000))
REQUESTS = int(os.environ.get("UDFCRON_BENCH_EMULATOR_REQUESTS", 20000))
CONNECTIONS = int(os.environ.get("UDFCRON_BENCH_EMULATOR_CONNECTIONS", 64))
BASELINE = os.environ.get("UDFCRON_BENCH_EMULATOR_BASELINE")


def http_request(method, target, host, token, body=None):
    """The bytes of one request, with the headers libcurl and the daemon send."""
    head = [f"{method} {target} HTTP/1.1", f"Host: {host}", "User-Agent: udfcron/bench", "Accept: */*",
            f"Authorization: Bearer {token}"]
    if body is not None:
        head += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + (body or b"")


def start_body(i):
    """What the daemon posts to /run for one schedule's UDF."""
    return json.dumps({
        "config": {"name": f"j{i}-20260101T000000Z",
                   "steps": [{"type": "udf", "name": "job",
                              "udf": {"type": "geopandas_v2", "name": "job", "entrypoint": "udf",
                                      "code": "def udf(i=0):\n    return i\n", "parameters": {"i": i}},
                              "input": [{"i": i}], "ignore_chunk_error": False}],
                   "metadata": {"udfcron_schedule": f"j{i}", "udfcron_run_id": f"{i:032x}",
                                "udfcron_attempt": 1}},
        "send_status_email": False, "additional_env": ["FUSED_CREDENTIAL_PROVIDER=ec2"]}).encode()


class Connection:
    def __init__(self, address):
        self.sock = socket.create_connection(address)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""
        self.index = None  # of the request in flight

    def answer(self):
        """The body of the answer in the buffer once it is whole, else None."""
        head_end = self.buffer.find(b"\r\n\r\n")
        if head_end < 0:
            return None
        head = self.buffer[:head_end].decode("latin-1")
        status = int(head.split(" ", 2)[1])
        length = next(int(line.split(":", 1)[1]) for line in head.split("\r\n")[1:]
                      if line.lower().startswith("content-length:"))
        end = head_end + 4 + length
        if len(self.buffer) < end:
            return None
        body, self.buffer = self.buffer[head_end + 4:end], self.buffer[end:]
        if status != 200:
            raise RuntimeError(f"answer {status}: {body[:200]!r}")
        return body


def load(address, requests, connections):
    """Sends every request (bytes) over `connections` keep-alive connections, one in flight on each;
    returns the answers' bodies in the requests' order."""
    answers = [None] * len(requests)
    pending = iter(range(len(requests)))
    sel = selectors.DefaultSelector()
    busy = 0
    for _ in range(min(connections, len(requests))):
        conn = Connection(address)
        conn.index = next(pending)
        conn.sock.sendall(requests[conn.index])
        sel.register(conn.sock, selectors.EVENT_READ, conn)
        busy += 1
    while busy:
        for key, _ in sel.select():
            conn = key.data
            data = conn.sock.recv(65536)
            if not data:
                raise RuntimeError("the emulator closed a connection")
            conn.buffer += data
            body = conn.answer()
            if body is None:
                continue
            answers[conn.index] = body
            conn.index = next(pending, None)
            if conn.index is None:
                sel.unregister(conn.sock)
                conn.sock.close()
                busy -= 1
            else:
                conn.sock.sendall(requests[conn.index])
    return answers


def measure(emu, requests):
    """(requests per second, emulator CPU µs per request, answers) of one batch."""
    split = urllib.parse.urlsplit(emu.url)
    cpu0, t0 = cpu_seconds(emu.proc.pid), time.monotonic()
    answers = load((split.hostname, split.port), requests, CONNECTIONS)
    wall, cpu = time.monotonic() - t0, cpu_seconds(emu.proc.pid) - cpu0
    return len(requests) / wall, 1e6 * cpu / len(requests), answers


def run(emulator_dir, workdir):
    """{route: (requests/s, µs/request)} of the emulator in `emulator_dir`."""
    emu = Emulator.start(workdir, ["--keep-requests", str(JOBS + 3 * REQUESTS)], emulator_dir=emulator_dir)
    try:
        emu.config({"fused": {"job": {"pending": 0.5, "running": 3600, "log_interval": 1000}}})
        host, token = urllib.parse.urlsplit(emu.url).netloc, emu.fused_token
        base = urllib.parse.urlsplit(emu.fused_base).path
        figures = {}
        rate, us, answers = measure(emu, [http_request("POST", f"{base}/run?instance_type=m5.large", host, token,
                                                       start_body(i)) for i in range(JOBS)])
        figures["start"] = (rate, us)
        ids = [json.loads(a)["job_id"] for a in answers]
        time.sleep(0.6)  # every job past pending: it has logged its first lines
        since = {}
        for job_id, page in zip(ids, measure(emu, [http_request("GET", f"{base}/logs/{i}", host, token)
                                                    for i in ids])[2]):
            since[job_id] = json.loads(page)[-1]["timestamp"]
        routes = {
            "status": lambda i: http_request("GET", f"{base}/run/by-id/{i}", host, token),
            "logs": lambda i: http_request("GET", f"{base}/logs/{i}?since_ms={since[i]}", host, token),
            "list": lambda i: http_request("GET", f"{base}/job/self?skip=0&limit=25", host, token),
        }
        for route, make in routes.items():
            count = REQUESTS if route != "list" else REQUESTS // 10
            rate, us, _ = measure(emu, [make(ids[n % len(ids)]) for n in range(count)])
            figures[route] = (rate, us)
        emu.check()
        return figures
    finally:
        emu.stop()


def main():
    with tempfile.TemporaryDirectory(prefix="bench-emulator-") as tmp:
        figures = run(None, Path(tmp) / "emu")
        baseline = run(Path(BASELINE), Path(tmp) / "baseline") if BASELINE else None
    print(f"emulator: {JOBS} batch jobs started, then polled; {CONNECTIONS} connections, one request in flight "
          f"on each")
    print(f"{'route':10}{'requests/s':>12}{'CPU µs/request':>16}" + (f"{'baseline µs':>14}{'speedup':>9}"
                                                                    if baseline else ""))
    for route, (rate, us) in figures.items():
        line = f"{route:10}{rate:>12.0f}{us:>16.0f}"
        if baseline:
            line += f"{baseline[route][1]:>14.0f}{baseline[route][1] / us:>8.1f}x"
        print(line)


if __name__ == "__main__":
    main()
