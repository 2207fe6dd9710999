"""
The admin API, under /_emulator/ on the main listener (no auth; loopback only). Its own requests are
not recorded. Bodies and answers are JSON.

  GET    /_emulator/info             addresses, credentials, options
  POST   /_emulator/reset            back to the state at start: config, faults, jobs, records
  GET    /_emulator/config           the effective config
  PATCH  /_emulator/config           merge a patch into it (config.py); 400 names a bad key
  GET    /_emulator/faults           the rules, each with `seen` and `hits`
  POST   /_emulator/faults           add a rule (or a list of rules) -> {"ids": [...]}
  DELETE /_emulator/faults[/{id}]    remove all rules, or one
  GET    /_emulator/requests         recorded requests, oldest first; filters: method, path (regex),
                                     route, listener, since (sequence number), limit (the last N)
  DELETE /_emulator/requests         forget them
  GET    /_emulator/arrivals?route=R {path: [epoch seconds]}: when every request of R arrived, for the
                                     routes given with --track-arrivals (kept in full, cheaply)
  GET    /_emulator/stats            {"requests", "routes": {route: n}, "starts": {kind: {name: n}},
                                      "internal_errors": [...]}; starts kinds: fused (batch jobs by
                                     job name), fused.realtime (UDF runs by UDF name), fusion (Spark
                                     runs by config id), fused.cancel, fusion.cancel
  GET    /_emulator/jobs             every Fused job and Fusion run with its current state
  POST   /_emulator/fused/jobs/{id}/finish    {"outcome": "succeeded"|"failed"|"cancelled"}: end it now
  POST   /_emulator/fusion/runs/{id}/finish   {"outcome": "finished"|"error"|"cancelled"}
  POST   /_emulator/revoke           {"fused_token"|"fusion_user"|"fusion_session"|"fusion_jwt"|
                                      "fusion_api_key": value or "*"}: later requests with it get 401
  DELETE /_emulator/revoke           undo every revocation
"""
import re
import time

from .core import HttpError, Response, Router

REVOCABLE = {"fused_token": "fused-token", "fusion_user": "fusion-user", "fusion_session": "fusion-session",
             "fusion_jwt": "fusion-jwt", "fusion_api_key": "fusion-key"}


def bad(message):
    return HttpError(Response.json(400, {"error": message}))


class Admin:
    PREFIX = "/_emulator"

    def __init__(self, emu):
        self.emu = emu
        self.router = Router()
        r = self.router.add
        P = self.PREFIX
        r("GET", P + "/info", "admin.info", lambda req: Response.json(200, self.emu.info()))
        r("POST", P + "/reset", "admin.reset", self.reset)
        r("GET", P + "/config", "admin.config", lambda req: Response.json(200, self.emu.config))
        r("PATCH", P + "/config", "admin.config.patch", self.config_patch)
        r("GET", P + "/faults", "admin.faults", lambda req: Response.json(200, self.emu.faults.describe()))
        r("POST", P + "/faults", "admin.faults.add", self.faults_add)
        r("DELETE", P + "/faults", "admin.faults.clear", self.faults_clear)
        r("DELETE", P + r"/faults/(?P<fault_id>\d+)", "admin.faults.remove", self.fault_remove)
        r("GET", P + "/requests", "admin.requests", self.requests)
        r("DELETE", P + "/requests", "admin.requests.clear", self.requests_clear)
        r("GET", P + "/arrivals", "admin.arrivals", self.arrivals)
        r("GET", P + "/stats", "admin.stats", lambda req: Response.json(200, self.emu.stats()))
        r("GET", P + "/jobs", "admin.jobs", self.jobs)
        r("POST", P + "/fused/jobs/(?P<job_id>[^/]+)/finish", "admin.fused.finish", self.fused_finish)
        r("POST", P + "/fusion/runs/(?P<run_id>[^/]+)/finish", "admin.fusion.finish", self.fusion_finish)
        r("POST", P + "/revoke", "admin.revoke", self.revoke)
        r("DELETE", P + "/revoke", "admin.revoke.clear", self.revoke_clear)

    def handle(self, req):
        route, params = self.router.match(req.method, req.path)
        if route is None:
            return Response.json(405 if params else 404, {"error": f"no admin endpoint {req.method} {req.path}"})
        try:
            return route.handler(req, **params)
        except HttpError as e:
            return e.response

    @staticmethod
    def _body(req):
        try:
            return req.json()
        except ValueError as e:
            raise bad(f"the body is not JSON: {e}") from None

    def reset(self, req):
        self.emu.reset()
        return Response.json(200, {"reset": True})

    def config_patch(self, req):
        try:
            return Response.json(200, self.emu.patch_config(self._body(req)))
        except ValueError as e:
            raise bad(str(e)) from None

    def faults_add(self, req):
        body = self._body(req)
        specs = body if isinstance(body, list) else [body]
        ids = []
        try:
            for spec in specs:
                ids.append(self.emu.faults.add(spec))
        except ValueError as e:
            for fault_id in ids:
                self.emu.faults.remove(fault_id)
            raise bad(str(e)) from None
        return Response.json(200, {"ids": ids})

    def faults_clear(self, req):
        self.emu.faults.clear()
        return Response.json(200, {"cleared": True})

    def fault_remove(self, req, fault_id):
        if not self.emu.faults.remove(int(fault_id)):
            return Response.json(404, {"error": f"no fault {fault_id}"})
        return Response.json(200, {"removed": int(fault_id)})

    def requests(self, req):
        try:
            path = re.compile(req.arg("path", ""))
        except re.error as e:
            raise bad(f"path is not a regex: {e}") from None
        method, route, listener = req.arg("method"), req.arg("route"), req.arg("listener")
        since, limit = int(req.arg("since", 0)), req.arg("limit")
        with self.emu.lock:
            found = [r for r in self.emu.recorded
                     if r.seq > since and (method is None or r.method == method.upper())
                     and (route is None or r.route == route) and (listener is None or r.listener == listener)
                     and path.search(r.path)]
        if limit is not None:
            found = found[-int(limit):] if int(limit) else []
        return Response.json(200, [r.as_json() for r in found])

    def arrivals(self, req):
        route = req.arg("route")
        if route not in self.emu.arrivals:
            raise bad(f"arrivals of {route!r} are not tracked: start the emulator with --track-arrivals {route}")
        with self.emu.lock:
            return Response.json(200, {path: list(times) for path, times in self.emu.arrivals[route].items()})

    def requests_clear(self, req):
        with self.emu.lock:
            self.emu.recorded.clear()
        return Response.json(200, {"cleared": True})

    def jobs(self, req):
        now = time.time()
        with self.emu.lock:
            fused = [{"job_id": j.id, "job_name": j.name, **j.run_response(now), "request": j.request}
                     for j in self.emu.fused.jobs.values()]
            fusion = [{"config_id": r.config_id, "run_id": r.id, "state": r.state(now), "started_by": r.started_by}
                      for runs in self.emu.fusion.runs.values() for r in runs]
        return Response.json(200, {"fused": fused, "fusion": fusion})

    def _outcome(self, req, allowed):
        body = self._body(req)
        outcome = body.get("outcome") if isinstance(body, dict) else None
        if outcome not in allowed:
            raise bad(f"outcome must be one of {', '.join(allowed)}")
        return outcome

    def fused_finish(self, req, job_id):
        outcome = self._outcome(req, ("succeeded", "failed", "cancelled"))
        return Response.json(200, self.emu.fused.finish_job(job_id, outcome))

    def fusion_finish(self, req, run_id):
        outcome = self._outcome(req, ("finished", "error", "cancelled"))
        return Response.json(200, self.emu.fusion.finish_run(run_id, outcome))

    def revoke(self, req):
        body = self._body(req)
        if not isinstance(body, dict) or not body or set(body) - set(REVOCABLE):
            raise bad(f"revoke takes one or more of {', '.join(REVOCABLE)}")
        for kind, value in body.items():
            self.emu.revoke(f"{REVOCABLE[kind]}:{value}")
        return Response.json(200, {"revoked": sorted(self.emu.revoked)})

    def revoke_clear(self, req):
        with self.emu.lock:
            self.emu.revoked.clear()
        return Response.json(200, {"revoked": []})
