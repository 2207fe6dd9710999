"""
The emulator process: two loopback listeners (the API, and the object store behind signed URLs),
one shared state, fault injection in front of every service, and a record of what was received.
"""
import argparse
import array
import collections
import json
import os
import signal
import sys
import threading
import time
import traceback
from pathlib import Path

from . import config as emuconfig
from . import http1
from .admin import Admin
from .core import Request, Response, deep_merge
from .faults import FaultSet, replace_status_fields
from .files_api import FusedFiles
from .fused_api import PREFIX as FUSED_PREFIX, FusedService
from .fusion_api import FusionService, rest_error
from .storage import Storage

MAX_BODY = 64 * 1024 * 1024
LARGE_BODY = 65536  # sent apart from its head, not copied into one buffer with it
RECORDED_BODY_MAX = 8192  # of each request body kept on record


class Record(collections.namedtuple("Record", "seq time listener method path query headers body body_length "
                                             "route status fault")):
    """A request received, as kept: a tuple, cheap to make, turned into JSON only when asked for."""
    __slots__ = ()

    def as_json(self):
        fault = self.fault and {"id": self.fault[0], "kind": self.fault[1]}
        return {**self._asdict(), "headers": [[k, v] for k, v in self.headers],
                "body": self.body.decode("utf-8", errors="replace"), "fault": fault}


class Emulator:
    def __init__(self, file_config=None, base_dir=".", exec_udfs=False, python="/usr/bin/python3", seed=None,
                 keep_requests=10000, verbose=False, track_arrivals=()):
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
        # routes whose arrival times are kept, per path, in full: 8 bytes each where a record takes hundreds,
        # so that a load benchmark can tell every poll's time without the emulator's memory growing
        self.track_arrivals = tuple(track_arrivals)
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
            self.arrivals = {route: collections.defaultdict(lambda: array.array("d")) for route in self.track_arrivals}
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
        body = req.body[:RECORDED_BODY_MAX]
        with self.lock:
            self.seq += 1
            if route:
                self.routes[route] += 1
                if route in self.arrivals:
                    self.arrivals[route][req.path].append(req.time)
            self.recorded.append(Record(self.seq, req.time, req.listener, req.method, req.path, req.raw_query,
                                        req.headers.fields, body, len(req.body), route, status,
                                        fault and (fault.id, fault.kind)))

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

    def _api_of(self, req):
        """The Fused or Fusion service the request is for, or None."""
        return {"fused": self.fused, "fusion": self.fusion}.get(self.service_of(req))

    def may_block(self, req):
        """Whether the service may take its time to answer (then not on the HTTP server's loop)."""
        service = self._api_of(req)
        return service is not None and service.may_block(req)

    def credential_of(self, req):
        """What authenticates the request (see the services' credential()), or None."""
        service = self._api_of(req)
        return service.credential(req) if service else None


class Handler:
    """What the emulator does with each request the HTTP server reads: pick a fault, let the service
    act, keep a record, deliver the answer as the fault says. On the loop, unless it may take time."""

    def __init__(self, emu):
        self.emu = emu

    def refuse(self, conn, status, message):
        self._write(conn, None, Response.json(status, {"detail": message}))

    def serve(self, conn, head, body):
        emu = self.emu
        req = Request(conn.listener, head.method, head.target, head.headers, body, conn.client)
        admin = req.listener == "main" and req.path.startswith(Admin.PREFIX + "/")
        fault = None if admin else emu.faults.pick(req)
        if fault is not None or emu.may_block(req):
            conn.in_thread(lambda: self._serve(conn, req, admin, fault))
        else:
            self._serve(conn, req, admin, fault)

    def _serve(self, conn, req, admin, fault):
        emu = self.emu
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
            self._deliver(conn, req, response, fault)
        except (BrokenPipeError, ConnectionResetError):
            conn.close()
        except Exception as e:  # noqa: BLE001  (a bug of the emulator: report it, drop the connection)
            emu.internal_error(req, e)
            conn.close()

    @staticmethod
    def _final_status(fault, response):
        if fault is None:
            return response.status
        if fault.kind == "status":
            return fault["status"]
        if fault.kind in ("reset", "close") or (fault.kind == "hang" and fault["then"] == "close"):
            return None
        return response.status

    def _deliver(self, conn, req, response, fault):
        """Sends the answer, or what the fault makes of it (on a thread of its own: faults may block)."""
        kind = fault.kind if fault else None
        if kind == "hang":
            self.emu.release_hangs.wait(float(fault["seconds"]))
            if fault["then"] == "close":
                conn.close()
                return
        elif kind == "status":
            response = self._status_fault(req, fault)
        elif kind == "close":
            conn.close()
            return
        elif kind == "reset":
            if fault["after_bytes"] is not None:
                self._write(conn, req, response, limit=int(fault["after_bytes"]))
            conn.reset()
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
                self._write(conn, req, response, body_bytes=keep)
                conn.close()
                return
        elif kind == "slow":
            self._write(conn, req, response, chunk=max(1, int(fault["chunk"])), interval=float(fault["interval"]))
            return
        self._write(conn, req, response)

    def _status_fault(self, req, fault):
        status = int(fault["status"])
        if fault["body"] is None:
            response = self.emu.error_response(req, status, f"emulated fault {fault.id}: status {status}")
        elif isinstance(fault["body"], str):
            response = Response(status, fault["body"].encode(), fault["content_type"] or "text/html")
        else:
            response = Response.json(status, fault["body"])
            if fault["content_type"]:
                response.set_header("Content-Type", fault["content_type"])
        if fault["retry_after"] is not None:
            response.set_header("Retry-After", str(fault["retry_after"]))
        return response

    def _write(self, conn, req, response, limit=None, body_bytes=None, chunk=None, interval=0.0):
        """Sends `response` (to `req`: None when it could not be read); with `limit`, only that many bytes
        of the whole answer (the head too when the limit falls inside it, as a reset can); with
        `body_bytes`, the head and that much of the body; with `chunk`, the body a chunk per interval."""
        head = conn.answer_head(response.status, response.headers, len(response.body))
        body = b"" if req is not None and req.method == "HEAD" else response.body
        if body_bytes is not None:
            limit = len(head) + body_bytes
        if limit is not None:
            conn.send((head + body)[:limit])
        elif chunk is not None:
            conn.send(head)
            for i in range(0, len(body), chunk):
                conn.send(body[i:i + chunk])
                if i + chunk < len(body) and self.emu.release_hangs.wait(interval):
                    break
        elif len(body) > LARGE_BODY:
            conn.send(head)
            conn.send(body)
        else:
            conn.send(head + body)  # one write: one segment for a small answer


def serve(emu, port, storage_port):
    """Binds both listeners and serves them on a thread; returns the server (call stop() on it)."""
    server = http1.Server(Handler(emu), MAX_BODY)
    emu.main_url = server.listen("main", port)
    emu.storage.base_url = server.listen("storage", storage_port)
    server.start()
    return server


def banner(info):
    fused, fusion = info["fused"], info["fusion"]
    users = ", ".join(f"{u}:{p}" for u, p in fusion["users"].items())
    return "\n".join([
        f"udfcron emulator (pid {info['pid']}) on {http1.HOST}; Ctrl-C stops it",
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
    parser.add_argument("--track-arrivals", action="append", default=[], metavar="ROUTE",
                        help="keep the arrival time of every request of ROUTE (repeatable): GET /_emulator/arrivals")
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
                       args.seed, args.keep_requests, args.log, args.track_arrivals)
    except (OSError, ValueError, KeyError) as e:
        print(f"emulator: {args.config or 'config'}: {e}", file=sys.stderr)
        return 1
    try:
        server = serve(emu, args.port, args.storage_port)
    except OSError as e:
        print(f"emulator: cannot listen on {http1.HOST}: {e}", file=sys.stderr)
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
    server.stop()
    return 0
