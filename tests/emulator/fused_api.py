"""
The Fused HTTP API (../../shared/api/fused.md), under PREFIX on the main listener, as the fused-py SDK
uses it. Shared-token UDF runs are served both as {base}/realtime-shared/{token}/run/... and, like
udf.ai, at the root: /{token}/run/... (so the shared base is either {base}/realtime-shared or the
listener's root URL).

Errors are FastAPI's: {"detail": "..."}, and 422 with {"detail": [{"loc", "msg", "type"}]} for a
request that does not validate. Every call but /health, shared runs and the by-token reads needs
`Authorization: Bearer <token>` (or `Fused-Env-Bearer <token>`); without a valid one: 401 (INFERRED).

Batch jobs are fused_jobs.Job; saved UDFs, access tokens, secrets and cron jobs live in
fused_catalog, files in files_api.
"""
import hashlib
import itertools
import json
import threading
import time
import uuid

from .core import HttpError, Response, Router, iso_utc
from .fastapi import body_json, detail, invalid
from .fused_catalog import FusedCatalog
from .fused_jobs import Job
from .udfs import UdfCall, evaluate

PREFIX = "/server/v1"
INSTANCE_TYPES = (
    [f"{family}.{size}" for family in ("m5", "r5")
     for size in ("large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge")]
    + [f"t3.{size}" for size in ("small", "medium", "large", "xlarge", "2xlarge")]
    + [f"c2-standard-{n}" for n in (4, 8, 16, 30, 60)] + ["m3-ultramem-32", "m3-ultramem-64"]
    + ["agent", "small", "medium", "large"])
STEP_TYPES = ("udf", "partition_geospatial", "partition_nongeospatial")
SHARED_TOKEN = r"(?P<token>fsh_[A-Za-z0-9_-]+|UDF_[A-Za-z0-9_]+|[0-9a-f]{64})"
TILE = r"/tiles/(?P<z>\d+)/(?P<x>\d+)/(?P<y>\d+)"
# query parameters of realtime GETs that are not UDF arguments
RESERVED_PARAMS = {"format", "dtype_out_vector", "dtype_out_raster", "cache_max_age", "profile", "_include_log",
                   "fused_session_token"}
METADATA_STREAM_MAX = 16384  # stdout/stderr kept in x-fused-metadata (the tail), so headers stay small


class FusedService:
    def __init__(self, emu):
        self.emu = emu
        self.catalog = FusedCatalog(emu, self)
        self.router = Router()
        self._routes()
        self.reset()

    def reset(self):
        self.catalog.reset()
        self.jobs = {}  # id -> Job, in creation order
        self.async_runs = {}  # Fused-Run-Id -> {"done": Event, "response": Response}
        self.realtime_cache = {}  # key -> (time, Response)

    @property
    def config(self):
        return self.emu.config["fused"]

    # ------------------------------------------------------------ routing and auth

    def _routes(self):
        r = self.router.add
        P = PREFIX
        R = P + r"/realtime/(?P<client_id>[^/]+)/api/v1"
        public = {"fused.health", "fused.shared.run", "fused.shared.run.root", "fused.token.get_public",
                  "fused.udf.shared"}
        self.public = public
        r("GET", P + "/health", "fused.health", lambda req: Response.json(200, {"status": "ok"}))
        r("GET", P + "/user/self", "fused.user", self.user_self)
        r("GET", P + "/execution-env/self", "fused.team", self.team_self)
        r("GET", P + "/execution-env/token", "fused.team.token",
          lambda req: Response.json(200, self.config["team"]["token"]))
        r("GET", P + "/realtime-instance/available", "fused.realtime_instances.available",
          lambda req: Response.json(200, self.config["realtime_instances"]))
        r("GET", P + "/realtime-instance", "fused.realtime_instances",
          lambda req: Response.json(200, self.config["realtime_instances"]))
        # realtime runs: a canned delay, executed code or the polling variant's wait take time
        for tile in ("", TILE):
            r("GET", R + r"/run/udf/saved/(?P<owner>[^/]+)/(?P<name>[^/]+)" + tile, "fused.run.saved",
              self.run_saved, blocking=True)
            r("POST", R + "/run/udf" + tile, "fused.run.code", self.run_code, blocking=True)
            r("POST", R + "/run/udf/start" + tile, "fused.run.start", self.run_start, blocking=True)
            for prefix, name in ((P + "/realtime-shared/", "fused.shared.run"), ("/", "fused.shared.run.root")):
                r("GET", prefix + SHARED_TOKEN + ("/run/tiles/(?P<z>\\d+)/(?P<x>\\d+)/(?P<y>\\d+)" if tile
                                                   else "/run(?:/file)?"), name, self.run_shared, blocking=True)
        r("GET", "/" + SHARED_TOKEN + r"\.(?P<ext>[a-z0-9]+)", "fused.shared.run.root", self.run_shared,
          blocking=True)
        r("GET", R + "/run/udf/get/(?P<run_id>[^/]+)", "fused.run.get", self.run_get)
        r("DELETE", P + "/realtime-shared/(?P<client_id>[^/]+)/udf-cache/by-id/(?P<udf_id>[^/]+)/delete",
          "fused.realtime.cache.delete", self.cache_delete)
        # batch jobs
        r("POST", P + "/run", "fused.job.start", self.job_start)
        r("GET", P + "/run/by-id/(?P<job_id>[^/]+)", "fused.job.status", self.job_status)
        r("POST", P + "/run/by-id/(?P<job_id>[^/]+)/cancel", "fused.job.cancel", self.job_cancel)
        r("GET", P + "/run/by-id/(?P<job_id>[^/]+)/results", "fused.job.results", self.job_results)
        r("POST", P + "/run/by-id/(?P<job_id>[^/]+)/increment-progress", "fused.job.progress", self.job_progress)
        r("GET", P + "/logs/(?P<job_id>[^/]+)", "fused.job.logs", self.job_logs)
        r("GET", P + "/job/self", "fused.job.list", self.job_list)
        r("GET", P + "/job/by-id/(?P<job_id>[^/]+)/config", "fused.job.config", self.job_config)
        # saved UDFs and their access tokens
        self.catalog.routes(r, P, R)
        self.emu.files.routes(r, P)

    def handle(self, req):
        route, params = self.router.match(req.method, req.path)
        if route is None and req.path.endswith("/") and self.router.match(req.method, req.path.rstrip("/"))[0]:
            # FastAPI (Starlette) redirects a path with a trailing slash to the one without
            location = self.emu.main_url + req.path.rstrip("/") + (f"?{req.raw_query}" if req.raw_query else "")
            return "fused.trailing_slash", Response(307, b"", None, [("Location", location)])
        if route is None:
            if params:
                return "fused.method_not_allowed", Response.json(405, {"detail": "Method Not Allowed"},
                                                                [("Allow", ", ".join(sorted(set(params))))])
            return "fused.not_found", Response.json(404, {"detail": "Not Found"})
        try:
            if route.name not in self.public:
                self.authenticate(req)
            return route.name, route.handler(req, **params)
        except HttpError as e:
            return route.name, e.response

    def may_block(self, req):
        route, _ = self.router.match(req.method, req.path)
        return route is not None and route.blocking

    @staticmethod
    def _bearer(req):
        scheme, _, token = (req.header("Authorization") or "").partition(" ")
        if scheme.lower() in ("bearer", "fused-env-bearer") and token.strip():
            return token.strip()
        return None

    def credential(self, req):
        """The request's bearer token, as revocable, or None."""
        token = self._bearer(req)
        return token and f"fused-token:{token}"

    def authenticate(self, req):
        token = self._bearer(req)
        valid = self.emu.config["auth"]["fused_tokens"] + [self.config["team"]["token"]]
        if token is None:
            raise detail(401, "Not authenticated", [("WWW-Authenticate", "Bearer")])
        if token not in valid or self.emu.is_revoked(f"fused-token:{token}"):
            raise detail(401, "Invalid or expired token", [("WWW-Authenticate", 'Bearer error="invalid_token"')])

    # ------------------------------------------------------------ identity

    def user_self(self, req):
        user = self.config["user"]
        return Response.json(200, {**user, "execution_environment_id": self.config["team"]["id"]})

    def team_self(self, req):
        team = self.config["team"]
        return Response.json(200, {"id": team["id"], "name": team["name"]})

    # ------------------------------------------------------------ realtime runs

    def check_instance(self, client_id):
        if client_id not in {i["client_id"] for i in self.config["realtime_instances"]}:
            raise detail(404, f"Realtime instance {client_id} not found")

    @staticmethod
    def _query_params(req):
        return {k: v[-1] for k, v in req.query.items() if k not in RESERVED_PARAMS}

    @staticmethod
    def _tile(params):
        return (int(params["z"]), int(params["x"]), int(params["y"])) if params.get("z") is not None else None

    def run_saved(self, req, client_id, owner, name, **tile):
        self.check_instance(client_id)
        record = self.catalog.find(owner, name)
        if record is None and name not in self.config["udfs"]:
            raise detail(404, f"UDF {owner}/{name} not found")
        udf = json.loads(record["udf_body"]) if record else {}
        call = UdfCall(name, self._query_params(req), udf.get("code"), udf.get("entrypoint"), self._tile(tile))
        return self._run(req, call, ("saved", owner, name))

    def run_shared(self, req, token, ext=None, **tile):
        if token.startswith("UDF_"):  # a public catalog UDF
            call = UdfCall(token[len("UDF_"):], self._query_params(req), tile=self._tile(tile))
            return self._run(req, call, ("shared", token))
        access = self.catalog.tokens.get(token)
        record = access and self.catalog.udfs.get(access["udf_id"])
        if not access or not access["enabled"] or record is None:
            raise detail(404, "UDF access token not found")
        udf = json.loads(record["udf_body"])
        call = UdfCall(record["slug"], self._query_params(req), udf.get("code"), udf.get("entrypoint"),
                       self._tile(tile))
        return self._run(req, call, ("shared", token))

    def _posted_call(self, req, tile):
        body = body_json(req)
        if not isinstance(body, dict) or not isinstance(body.get("step_config"), str):
            raise invalid(("body", "step_config"), "field required (a JSON string)", "value_error.missing")
        try:
            step = json.loads(body["step_config"])
        except ValueError as e:
            raise invalid(("body", "step_config"), f"not JSON: {e}") from None
        udf = step.get("udf") if isinstance(step, dict) else None
        if not isinstance(udf, dict) or not isinstance(udf.get("code"), str):
            raise invalid(("body", "step_config", "udf", "code"), "field required", "value_error.missing")
        params = udf.get("parameters") or {}
        if not isinstance(params, dict):
            raise invalid(("body", "step_config", "udf", "parameters"), "value is not a valid dict",
                          "type_error.dict")
        call = UdfCall(udf.get("name") or "udf", params, udf["code"], udf.get("entrypoint"), self._tile(tile))
        return call, ("code", hashlib.sha256(body["step_config"].encode()).hexdigest())

    def run_code(self, req, client_id, **tile):
        self.check_instance(client_id)
        call, key = self._posted_call(req, tile)
        return self._run(req, call, key)

    def run_start(self, req, client_id, **tile):
        """The polling variant: the result if the run ends within `start_wait`, else 202 and
        GET .../run/udf/get/{run_id} until it is there. The run id is the request's Fused-Run-Id
        (one is made up, and sent back in that header, when it has none: INFERRED)."""
        self.check_instance(client_id)
        call, key = self._posted_call(req, tile)
        run_id = req.header("Fused-Run-Id") or str(uuid.uuid4())
        with self.emu.lock:
            if run_id in self.async_runs:
                raise detail(409, f"run {run_id} exists already")
            run = self.async_runs[run_id] = {"done": threading.Event(), "response": None}

        def work():
            try:
                run["response"] = self._run(req, call, key, run_id)
            except HttpError as e:
                run["response"] = e.response
            except Exception as e:  # noqa: BLE001  (the emulator's own bug: report it like any other)
                run["response"] = self.emu.internal_error(req, e)
            run["done"].set()
        threading.Thread(target=work, daemon=True).start()
        return self._async_answer(run, run_id, self.config["realtime"]["start_wait"])

    def run_get(self, req, client_id, run_id):
        self.check_instance(client_id)
        run = self.async_runs.get(run_id)
        if run is None:
            raise detail(404, f"run {run_id} not found")
        return self._async_answer(run, run_id, 0)

    @staticmethod
    def _async_answer(run, run_id, wait):
        if run["done"].wait(wait):
            return run["response"]
        return Response.json(202, {"run_id": run_id, "status": "running"}, [("Fused-Run-Id", run_id)])

    def _run(self, req, call, cache_key, run_id=None):
        """Evaluates a realtime call and answers as the service does: the body typed by Content-Type,
        x-fused-metadata, x-fused-error, cache markers, or a redirect to a signed URL."""
        run_id = run_id or req.header("Fused-Run-Id") or str(uuid.uuid4())
        rt = self.config["realtime"]
        use_cache = (req.header("X-Fused-Cache-Disable", "").lower() != "true"
                     and req.arg("cache_max_age") != "0")
        key = (cache_key, json.dumps(call.parameters, sort_keys=True), call.tile)
        if use_cache:
            max_age = float(req.arg("cache_max_age") or rt["cache_max_age"])
            with self.emu.lock:
                cached = self.realtime_cache.get(key)
            if cached and time.time() - cached[0] <= max_age:
                response = Response(cached[1].status, cached[1].body, None, cached[1].headers)
                response.set_header("x-cache", "hit")
                return response
        self.emu.count_start("fused.realtime", call.name)
        exec_timeout = rt["exec_timeout"] if self.emu.exec_udfs else None
        outcome = evaluate(call, self.config["udfs"].get(call.name), exec_timeout, self.emu.python)
        headers = [("Fused-Run-Id", run_id)]
        if outcome.platform_error:
            return Response.json(outcome.status or 503, {"detail": outcome.platform_error},
                                 headers + [("x-fused-error", outcome.platform_error)])
        meta = outcome.metadata()
        for stream in ("stdout", "stderr"):
            meta[stream] = meta[stream][-METADATA_STREAM_MAX:]
        headers.append(("x-fused-metadata", json.dumps(meta)))
        if outcome.exception:
            return Response.json(outcome.status or rt["error_status"], {"detail": meta["exception"]}, headers)
        if outcome.redirect or rt["redirect"]:
            path = f"/fused-realtime/{run_id}/result"
            self.emu.storage.put(path, outcome.body, outcome.content_type)
            headers.append(("Location", self.emu.storage.sign(path, self.emu.config["signed_url_lifetime"])))
            return Response(307, b"", None, headers)
        response = Response(outcome.status or 200, outcome.body, outcome.content_type, headers)
        if use_cache and response.status == 200:
            with self.emu.lock:
                self.realtime_cache[key] = (time.time(), response)
        return response

    def cache_delete(self, req, client_id, udf_id):
        with self.emu.lock:
            self.realtime_cache = {k: v for k, v in self.realtime_cache.items()
                                   if not (k[0][0] == "saved" and self.catalog.slug_id(k[0][2]) == udf_id)}
        return Response.json(200, True)

    # ------------------------------------------------------------ batch jobs

    def _job(self, job_id):
        job = self.jobs.get(job_id)
        if job is None:
            raise detail(404, f"Job {job_id} not found")
        return job

    def job_start(self, req):
        query = {}
        instance_type = req.arg("instance_type")
        if instance_type is not None:
            if instance_type not in INSTANCE_TYPES:
                raise invalid(("query", "instance_type"), f"value is not a valid enumeration member; permitted: "
                              f"{', '.join(INSTANCE_TYPES)}", "type_error.enum")
            query["instance_type"] = instance_type
        for name in ("region", "backend"):
            if req.arg(name) is not None:
                query[name] = req.arg(name)
        if req.arg("disk_size_gb") is not None:
            try:
                query["disk_size_gb"] = int(req.arg("disk_size_gb"))
            except ValueError:
                raise invalid(("query", "disk_size_gb"), "value is not a valid integer",
                              "type_error.integer") from None
        body = body_json(req)
        if not isinstance(body, dict):
            raise invalid(("body",), "value is not a valid dict", "type_error.dict")
        config = body.get("config")
        if not isinstance(config, dict):
            raise invalid(("body", "config"), "field required", "value_error.missing")
        steps = config.get("steps")
        if not isinstance(steps, list) or not steps:
            raise invalid(("body", "config", "steps"), "at least one step is required")
        for i, step in enumerate(steps):
            if not isinstance(step, dict) or step.get("type") not in STEP_TYPES:
                raise invalid(("body", "config", "steps", i, "type"), f"one of {', '.join(STEP_TYPES)}")
            if step["type"] == "udf" and not isinstance(step.get("udf"), dict):
                raise invalid(("body", "config", "steps", i, "udf"), "field required", "value_error.missing")
        env = body.get("additional_env", [])
        if not isinstance(env, list) or not all(isinstance(e, str) and "=" in e for e in env):
            raise invalid(("body", "additional_env"), "a list of K=V strings")
        first = steps[0]
        name = config.get("name") or first.get("name") or (first.get("udf") or {}).get("name") or "job"
        inputs = first.get("input")
        total = len(inputs) if isinstance(inputs, list) and inputs else 1
        now = time.time()
        with self.emu.lock:
            max_age = body.get("cache_max_age")
            if isinstance(max_age, int) and max_age > 0:
                canonical = json.dumps(config, sort_keys=True)
                for job in reversed(list(self.jobs.values())):
                    if (job.outcome == "succeeded" and now >= job.end and now - job.end <= max_age
                            and json.dumps(job.request["body"]["config"], sort_keys=True) == canonical):
                        return Response.json(200, job.run_response(now), [("x-cache", "hit")])
            job = self.new_job(name, body, query, total)
            return Response.json(200, job.run_response(job.created))

    def new_job(self, name, body, query, total_tasks):
        """Starts a batch job: `body` as posted to /run, `query` its instance_type, region, ..."""
        profile = {**self.config["job"], **self.config["jobs"].get(name, {})}
        with self.emu.lock:
            job = Job(str(uuid.uuid4()), name, {"body": body, "query": query}, profile, total_tasks, time.time())
            self.jobs[job.id] = job
            self.emu.count_start("fused", name)
        self.emu.storage.put(f"/fused-jobs/{job.id}/config.json", json.dumps(body["config"]).encode(),
                             "application/json")
        return job

    def job_status(self, req, job_id):
        return Response.json(200, self._job(job_id).run_response(time.time()))

    def job_cancel(self, req, job_id):
        now = time.time()
        with self.emu.lock:
            job = self._job(job_id)
            job.stop(now, "cancelled")
            self.emu.count_start("fused.cancel", job.name)
            return Response.json(200, job.run_response(now))

    def job_progress(self, req, job_id):
        body = body_json(req)
        if not isinstance(body, dict) or not isinstance(body.get("amount"), int):
            raise invalid(("body", "amount"), "value is not a valid integer", "type_error.integer")
        with self.emu.lock:
            job = self._job(job_id)
            job.progress_increments += body["amount"]
            return Response.json(200, job.run_response(time.time()))

    def job_logs(self, req, job_id):
        job = self._job(job_id)
        since = req.arg("since_ms")
        try:
            since_ms = None if since in (None, "") else int(since)
        except ValueError:
            raise invalid(("query", "since_ms"), "value is not a valid integer", "type_error.integer") from None
        return Response.json(200, job.logs(since_ms, time.time(), job.profile["log_page_limit"]))

    def job_results(self, req, job_id):
        job = self._job(job_id)
        now = time.time()
        if now < job.end or job.outcome != "succeeded":
            return Response.json(200, [])  # INFERRED: no results until the job has succeeded
        lifetime = self.emu.config["signed_url_lifetime"]
        items = []
        # listed in the store's (lexicographic) order, as an object listing is: 10.json before 2.json,
        # which is why the SDK sorts by the number in the name
        for name, ctype, data in sorted(job.result_files()):
            path = f"/fused-results/{job.id}/{name}"
            if self.emu.storage.get(path) is None:
                self.emu.storage.put(path, data, ctype)
            items.append({"name": name, "url": self.emu.storage.sign(path, lifetime), "size": len(data),
                          "last_modified": iso_utc(job.end)})
        return Response.json(200, items)

    def job_list(self, req):
        try:
            skip, limit = int(req.arg("skip", 0)), int(req.arg("limit", 25))
        except ValueError:
            raise invalid(("query", "skip"), "value is not a valid integer", "type_error.integer") from None
        skip, limit, now = max(0, skip), max(0, limit), time.time()
        newest_first = itertools.islice(reversed(self.jobs.values()), skip, skip + limit)
        return Response.json(200, [j.job_response(now, self.config["user"]["id"], self.config["team"]["id"],
                                                  self.config["job_list_names"])
                                   for j in newest_first])

    def job_config(self, req, job_id):
        self._job(job_id)
        url = self.emu.storage.sign(f"/fused-jobs/{job_id}/config.json", self.emu.config["signed_url_lifetime"])
        return Response(307, b"", None, [("Location", url)])

    def finish_job(self, job_id, outcome):
        """Admin: ends a job now with `outcome` (succeeded, failed or cancelled)."""
        with self.emu.lock:
            job = self._job(job_id)
            job.stop(time.time(), outcome)
            return job.run_response(time.time())

