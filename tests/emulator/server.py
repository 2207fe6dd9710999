"""
The emulator process: two loopback listeners (the API, and the object store behind signed URLs),
one shared state, fault injection in front of every service, and a record of what was received.
"""
import argparse
import collections
import http.server
import json
import os
import signal
import socket
import struct
import sys
import threading
import time
import traceback
from pathlib import Path

from . import config as emuconfig
from .admin import Admin
from .core import Request, Response, deep_merge
from .faults import FaultSet, replace_status_fields
from .files_api import FusedFiles
from .fused_api import PREFIX as FUSED_PREFIX, FusedService
from .fusion_api import FusionService, rest_error
from .storage import Storage

HOST = "127.0.0.1"  # never anything else: the emulator has no business off this machine
MAX_BODY = 64 * 1024 * 1024
RECORDED_BODY_MAX = 8192  # of each request body kept on record


class Emulator:
    def __init__(self, file_config=None, base_dir=".", exec_udfs=False, python="/usr/bin/python3", seed=None,
                 keep_requests=10000, verbose=False):
        self.lock = threading.RLock()
        self.file_config = dict(file_config or {})
        self.base_dir = Path(base_dir)
        self.exec_udfs = exec_udfs
        self.python = python
        self.verbose = verbose
        self.main_url = None
        self.storage = Storage()
        self.faults = FaultSet(seed)
        self.files = FusedFiles(self)
        self.fused = FusedService(self)
        self.fusion = FusionService(self)
        self.admin = Admin(self)
        self.recorded = collections.deque(maxlen=keep_requests)
        self.release_hangs = threading.Event()
        self.internal_errors = []
        emuconfig.check(self._file_settings())
        self.reset()

    def _file_settings(self):
        return {k: v for k, v in self.file_config.items() if k not in ("faults", "seed")}

    def reset(self):
        """Back to the state at start: the file's config, faults and seed; no jobs, no records."""
        with self.lock:
            self.config = deep_merge(emuconfig.defaults(), self._file_settings())
            self.revoked = set()
            self.recorded.clear()
            self.seq = 0
            self.routes = collections.Counter()
            self.starts = collections.defaultdict(collections.Counter)
            self.internal_errors = []
            self.storage.clear()
            self.faults.clear()
            for spec in self.file_config.get("faults", []):
                self.faults.add(spec)
            self.fused.reset()
            self.fusion.reset()
            self.release_hangs.set()  # whoever hangs now lets go
            self.release_hangs = threading.Event()
            self._seed(self.file_config.get("seed", {}))

    def _seed(self, seed):
        for udf in seed.get("udfs", []):
            code = udf.get("code")
            if code is None:
                code = (self.base_dir / udf["code_file"]).read_text()
            record = self.fused.catalog.save_udf(udf["slug"], {
                "type": "geopandas_v2", "name": udf["slug"], "code": code,
                "entrypoint": udf.get("entrypoint", "udf"), "parameters": udf.get("parameters", {}),
                "headers": [], "metadata": {}})
            if udf.get("token"):
                self.fused.catalog.create_token(record["id"], token=udf["token"])
        for spark in seed.get("spark_configurations", []):
            self.fusion.save_config(spark, "admin")

    def patch_config(self, patch):
        if not isinstance(patch, dict):
            raise ValueError("a config patch is a JSON object")
        emuconfig.check(patch)
        with self.lock:
            self.config = deep_merge(self.config, patch)
            return self.config

    # -- bookkeeping

    def count_start(self, kind, name):
        with self.lock:
            self.starts[kind][name] += 1

    def revoke(self, credential):
        with self.lock:
            self.revoked.add(credential)

    def is_revoked(self, credential):
        kind = credential.partition(":")[0]
        with self.lock:
            return credential in self.revoked or f"{kind}:*" in self.revoked

    def stats(self):
        with self.lock:
            return {"requests": self.seq, "routes": dict(self.routes),
                    "starts": {k: dict(v) for k, v in self.starts.items()},
                    "internal_errors": list(self.internal_errors)}

    def info(self):
        auth = self.config["auth"]
        instances = sorted(self.config["fused"]["realtime_instances"], key=lambda i: i["preference_rank"])
        return {
            "pid": os.getpid(),
            "url": self.main_url,
            "storage_url": self.storage.base_url,
            "admin_url": f"{self.main_url}{Admin.PREFIX}",
            "fused": {"base_url": f"{self.main_url}{FUSED_PREFIX}",
                      "shared_base_url": f"{self.main_url}{FUSED_PREFIX}/realtime-shared",
                      "token": auth["fused_tokens"][0] if auth["fused_tokens"] else None,
                      "realtime_client_id": instances[-1]["client_id"] if instances else None,
                      "user_email": self.config["fused"]["user"]["email"],
                      "saved_udfs": sorted(u["slug"] for u in self.fused.catalog.udfs.values()),
                      "shared_tokens": {t: a["udf_slug"] for t, a in self.fused.catalog.tokens.items()}},
            "fusion": {"base_url": f"{self.main_url}/api",
                       "users": auth["fusion_users"],
                       "api_key": auth["fusion_api_keys"][0] if auth["fusion_api_keys"] else None,
                       "spark_configurations": sorted(self.fusion.configs)},
            "exec_udfs": self.exec_udfs,
        }

    def record(self, req, route, status, fault):
        body = req.body[:RECORDED_BODY_MAX].decode("utf-8", errors="replace")
        with self.lock:
            self.seq += 1
            if route:
                self.routes[route] += 1
            self.recorded.append({
                "seq": self.seq, "time": req.time, "listener": req.listener, "method": req.method,
                "path": req.path, "query": req.raw_query, "headers": [[k, v] for k, v in req.headers.items()],
                "body": body, "body_length": len(req.body), "route": route, "status": status,
                "fault": fault and {"id": fault.id, "kind": fault.kind}})

    def internal_error(self, req, exc):
        text = "".join(traceback.format_exception(exc))
        sys.stderr.write(f"emulator: internal error on {req.method} {req.path}:\n{text}")
        with self.lock:
            self.internal_errors.append(f"{req.method} {req.path}: {text}")
        return Response.json(500, {"detail": f"emulator internal error: {exc!r}"})

    # -- dispatch

    def service_of(self, req):
        if req.listener == "storage":
            return "storage"
        if req.path.startswith(Admin.PREFIX + "/"):
            return "admin"
        if self.fusion.handles(req.path):
            return "fusion"
        return "fused"

    def dispatch(self, req):
        """(route name, response) of the service the request is for."""
        try:
            service = self.service_of(req)
            if service == "storage":
                return "storage.object", self.storage.handle(req)
            if service == "admin":
                return None, self.admin.handle(req)
            if service == "fusion":
                return self.fusion.handle(req)
            return self.fused.handle(req)
        except Exception as e:  # noqa: BLE001  (a bug of the emulator: answer 500 and report it)
            return "internal_error", self.internal_error(req, e)

    def error_response(self, req, status, message):
        """An error as the service the request is for words it."""
        service = self.service_of(req)
        if service == "fusion":
            return rest_error(status, message)
        if service == "storage":
            return Response(status, f"<Error><Code>ServiceUnavailable</Code><Message>{message}</Message></Error>"
                            .encode(), "application/xml")
        return Response.json(status, {"detail": message})

    def credential_of(self, req):
        """What authenticates the request (see the services' credential()), or None."""
        service = {"fused": self.fused, "fusion": self.fusion}.get(self.service_of(req))
        return service.credential(req) if service else None


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as clients reuse connections
    server_version = "udfcron-emulator"
    disable_nagle_algorithm = True  # small answers go out at once, not after the peer's delayed ACK

    def version_string(self):
        return self.server_version

    def log_message(self, format, *args):  # noqa: A002  (the base class's name)
        pass  # requests are logged by _serve when --log is given

    def _read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
                if sum(map(len, chunks)) > MAX_BODY:
                    raise ValueError("body too large")
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0 or length > MAX_BODY:
            raise ValueError("body too large")
        return self.rfile.read(length) if length else b""

    def _serve(self):
        emu = self.server.emulator
        try:
            body = self._read_body()
        except ValueError as e:
            self.close_connection = True
            self._write(Response.json(413 if "large" in str(e) else 400, {"detail": str(e)}))
            return
        req = Request(self.server.listener, self.command, self.path, self.headers, body, self.client_address)
        admin = req.listener == "main" and req.path.startswith(Admin.PREFIX + "/")
        fault = None if admin else emu.faults.pick(req)
        if fault is not None and fault.kind == "revoke_auth":
            credential = emu.credential_of(req)
            if credential:
                emu.revoke(credential)
        route, response = (None, None)
        if fault is None or not fault.before_service:
            route, response = emu.dispatch(req)
        if not admin:
            emu.record(req, route, self._final_status(fault, response), fault)
        if emu.verbose and not admin:
            shown = self._final_status(fault, response)
            note = f" [fault {fault.id}: {fault.kind}]" if fault else ""
            sys.stderr.write(f"{time.strftime('%H:%M:%S')} {req.listener:7} {req.method} {req.target} -> "
                             f"{shown if shown is not None else '-'}{note}\n")
        try:
            self._deliver(req, response, fault, emu)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as e:  # noqa: BLE001  (a bug of the emulator: report it, drop the connection)
            emu.internal_error(req, e)
            self.close_connection = True

    @staticmethod
    def _final_status(fault, response):
        if fault is None:
            return response.status
        if fault.kind == "status":
            return fault["status"]
        if fault.kind in ("reset", "close") or (fault.kind == "hang" and fault["then"] == "close"):
            return None
        return response.status

    def _deliver(self, req, response, fault, emu):
        kind = fault.kind if fault else None
        if kind == "hang":
            emu.release_hangs.wait(float(fault["seconds"]))
            if fault["then"] == "close":
                self.close_connection = True
                return
        elif kind == "status":
            response = self._status_fault(req, fault, emu)
        elif kind == "close":
            self.close_connection = True
            return
        elif kind == "reset":
            if fault["after_bytes"] is not None:
                self._write(response, limit=int(fault["after_bytes"]))
            self._reset()
            return
        elif kind == "malformed_json":
            response = Response(response.status, str(fault["body"]).encode(), "application/json",
                                [(k, v) for k, v in response.headers if k.lower() != "content-type"])
        elif kind == "unknown_status":
            try:
                value = json.loads(response.body)
                response.body = json.dumps(replace_status_fields(value, fault["value"])).encode()
            except ValueError:
                pass  # not JSON: nothing to change
        elif kind == "truncate":
            keep = len(response.body) // 2 if fault["keep"] is None else int(fault["keep"])
            if fault["framing"] == "json":
                response.body = response.body[:keep]
            else:
                self._write(response, body_bytes=keep)
                self.close_connection = True
                return
        elif kind == "slow":
            self._write(response, chunk=max(1, int(fault["chunk"])), interval=float(fault["interval"]))
            return
        self._write(response)

    def _status_fault(self, req, fault, emu):
        status = int(fault["status"])
        if fault["body"] is None:
            response = emu.error_response(req, status, f"emulated fault {fault.id}: status {status}")
        elif isinstance(fault["body"], str):
            response = Response(status, fault["body"].encode(), fault["content_type"] or "text/html")
        else:
            response = Response.json(status, fault["body"])
            if fault["content_type"]:
                response.set_header("Content-Type", fault["content_type"])
        if fault["retry_after"] is not None:
            response.set_header("Retry-After", str(fault["retry_after"]))
        return response

    def _write(self, response, limit=None, body_bytes=None, chunk=None, interval=0.0):
        """Sends `response`; with `limit`, only that many bytes of the whole answer (the head too when
        the limit falls inside it, as a reset can); with `body_bytes`, the head and that much of the
        body; with `chunk`, the body a chunk per interval."""
        self.send_response(response.status)
        for key, value in response.headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(response.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        head = b"".join(self._headers_buffer) + b"\r\n"
        self._headers_buffer = []
        body = b"" if self.command == "HEAD" else response.body
        if body_bytes is not None:
            limit = len(head) + body_bytes
        if limit is not None:
            self.wfile.write((head + body)[:limit])
            self.wfile.flush()
            return
        if chunk is None:
            self.wfile.write(head + body)  # one write: one segment for a small answer
            return
        self.wfile.write(head)
        for i in range(0, len(body), chunk):
            self.wfile.write(body[i:i + chunk])
            self.wfile.flush()
            if i + chunk < len(body) and self.server.emulator.release_hangs.wait(interval):
                break

    def _reset(self):
        """Drops the connection with a TCP RST (SO_LINGER 0), not an orderly FIN."""
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.rfile.close()  # the last reference besides the socket: close() now closes it
        self.connection.close()

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _serve


class Listener(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024

    def __init__(self, emulator, listener, port):
        self.emulator = emulator
        self.listener = listener
        super().__init__((HOST, port), Handler)

    @property
    def url(self):
        return f"http://{HOST}:{self.server_address[1]}"


def serve(emu, port, storage_port):
    """Binds both listeners and serves them on threads; returns them (call shutdown() on each)."""
    main = Listener(emu, "main", port)
    storage = Listener(emu, "storage", storage_port)
    emu.main_url = main.url
    emu.storage.base_url = storage.url
    for listener in (main, storage):
        threading.Thread(target=listener.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
    return main, storage


def banner(info):
    fused, fusion = info["fused"], info["fusion"]
    users = ", ".join(f"{u}:{p}" for u, p in fusion["users"].items())
    return "\n".join([
        f"udfcron emulator (pid {info['pid']}) on {HOST}; Ctrl-C stops it",
        f"  Fused API        {fused['base_url']}",
        f"                   Authorization: Bearer {fused['token']}",
        f"                   realtime client id {fused['realtime_client_id']}, user {fused['user_email']}",
        f"  Fused shared     {fused['shared_base_url']} (or {info['url']}/<token>/run/file; no auth)",
        f"  Fusion API       {fusion['base_url']}  (also /api/apollo, /api/apps/<app>)",
        f"                   Basic {users}; x-api-key: {fusion['api_key']}; POST /api/session",
        *([f"  Fused UDFs       saved: {', '.join(fused['saved_udfs'])}; shared tokens: "
           + ", ".join(f"{t} ({slug})" for t, slug in fused["shared_tokens"].items())]
          if fused["saved_udfs"] else []),
        *([f"  Spark configs    {', '.join(fusion['spark_configurations'])}"]
          if fusion["spark_configurations"] else []),
        f"  signed URLs      {info['storage_url']}",
        f"  admin API        {info['admin_url']}/info, /config, /faults, /requests, /stats, /jobs",
        f"  run UDF code     {'yes (--exec-udfs)' if info['exec_udfs'] else 'no: canned results or echo'}",
        ""])


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python3 tests/emulator",
                                     description="Loopback emulator of the Fused and Fusion HTTP APIs "
                                                 "for udfcron's tests.")
    parser.add_argument("--port", type=int, default=0, help="API port on 127.0.0.1 (default 0: any free port)")
    parser.add_argument("--storage-port", type=int, default=0,
                        help="port of the signed-URL object store (default 0: any free port)")
    parser.add_argument("--config", type=Path, help="JSON file: config, faults and seed (see config.py)")
    parser.add_argument("--ready-file", type=Path,
                        help="once listening, write the addresses and credentials here as JSON")
    parser.add_argument("--fault", action="append", default=[], metavar="JSON",
                        help='a fault rule (repeatable), e.g. '
                             '\'{"kind": "status", "path": "/run$", "status": 503}\'')
    parser.add_argument("--exec-udfs", action="store_true",
                        help="run posted and saved UDF code in a child process (off: canned results or echo)")
    parser.add_argument("--python", default="/usr/bin/python3", help="interpreter for --exec-udfs")
    parser.add_argument("--seed", type=int, help="seed of the random choices of probabilistic faults")
    parser.add_argument("--keep-requests", type=int, default=10000, help="how many requests to keep on record")
    parser.add_argument("--log", action="store_true", help="log every request on stderr")
    args = parser.parse_args(argv)

    try:
        faults = [json.loads(f) for f in args.fault]
    except ValueError as e:
        print(f"emulator: --fault is not JSON: {e}", file=sys.stderr)
        return 2
    try:
        file_config = json.loads(args.config.read_text()) if args.config else {}
        file_config["faults"] = file_config.get("faults", []) + faults
        emu = Emulator(file_config, args.config.parent if args.config else ".", args.exec_udfs, args.python,
                       args.seed, args.keep_requests, args.log)
    except (OSError, ValueError, KeyError) as e:
        print(f"emulator: {args.config or 'config'}: {e}", file=sys.stderr)
        return 1
    try:
        listeners = serve(emu, args.port, args.storage_port)
    except OSError as e:
        print(f"emulator: cannot listen on {HOST}: {e}", file=sys.stderr)
        return 1

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    info = emu.info()
    if args.ready_file:
        tmp = args.ready_file.with_name(args.ready_file.name + ".tmp")
        tmp.write_text(json.dumps(info))
        tmp.rename(args.ready_file)
    sys.stdout.write(banner(info))
    sys.stdout.flush()
    stop.wait()
    emu.release_hangs.set()
    for listener in listeners:
        listener.shutdown()
        listener.server_close()
    return 0
