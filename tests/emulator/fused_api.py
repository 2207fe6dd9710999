"""
The Fused HTTP API (../../shared/api/fused.md), under PREFIX on the main listener, as the fused-py SDK
uses it. Shared-token UDF runs are served both as {base}/realtime-shared/{token}/run/... and, like
udf.ai, at the root: /{token}/run/... (so the shared base is either {base}/realtime-shared or the
listener's root URL).

Errors are FastAPI's: {"detail": "..."}, and 422 with {"detail": [{"loc", "msg", "type"}]} for a
request that does not validate. Every call but /health, shared runs and the by-token reads needs
`Authorization: Bearer <token>` (or `Fused-Env-Bearer <token>`); without a valid one: 401 (INFERRED).

Batch job vocabulary (INFERRED, the contract knows none): the instance `status` goes
pending -> running -> shutting-down -> terminated; `job_status` goes pending -> running ->
succeeded | failed | cancelled; finished_job_status turns true when the job ends, terminal_status
when its instance has shut down.
"""
import hashlib
import json
import threading
import time
import uuid

from .core import HttpError, Response, Router, iso_utc, random_id
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


def detail(status, message, headers=None):
    return HttpError(Response.json(status, {"detail": message}, headers))


def invalid(loc, msg, kind="value_error"):
    """FastAPI's validation error."""
    return HttpError(Response.json(422, {"detail": [{"loc": list(loc), "msg": msg, "type": kind}]}))


def body_json(req, loc=("body",)):
    try:
        return req.json()
    except ValueError as e:
        raise invalid(loc, f"JSON decode error: {e}", "value_error.jsondecode") from None


class Job:
    """One batch job. Its whole life is fixed when it is created (durations from the config then),
    so every answer is computed from the clock, and a cancel or a forced end moves its end."""

    def __init__(self, job_id, name, request, profile, total_tasks, created):
        self.id = job_id
        self.name = name
        self.request = request  # the body posted, and the query: instance_type, region, disk_size_gb
        self.profile = profile
        self.total_tasks = total_tasks
        self.created = created
        self.start = created + profile["pending"]
        self.natural_end = self.start + profile["running"]
        self.end, self.outcome = self.natural_end, profile["outcome"]
        self.instance_id = "i-" + random_id(17, "0123456789abcdef")
        self.progress_increments = 0

    def stop(self, at, outcome):
        """Ends the job at `at` (cancel, or a forced end) unless it has ended already."""
        if at < self.end:
            self.end, self.outcome = at, outcome

    @property
    def terminated_at(self):
        return self.end + self.profile["shutdown"]

    def finished_tasks(self, now):
        if now >= self.end and self.outcome == "succeeded":
            return self.total_tasks
        running = self.profile["running"]
        done = 0 if running <= 0 else int(self.total_tasks * max(0.0, min(now, self.end) - self.start) / running)
        return min(self.total_tasks - 1, done + self.progress_increments) if self.total_tasks else 0

    def job_status(self, now):
        if now >= self.end:
            return self.outcome, self.end
        if now >= self.start:
            return "running", self.start
        return "pending", self.created

    def run_response(self, now):
        job_status, since = self.job_status(now)
        if now >= self.terminated_at:
            status = "terminated"
        elif now >= self.end:
            status = "shutting-down"
        else:
            status = "running" if now >= self.start else "pending"
        query = self.request["query"]
        return {
            "job_id": self.id,
            "job_name": self.name,
            "instance_id": self.instance_id,
            "instance_type": query.get("instance_type"),
            "status": status,
            "terminal_status": now >= self.terminated_at,
            "last_heartbeat": iso_utc(min(now, self.terminated_at)) if now >= min(self.start, self.end) else None,
            "job_status": job_status,
            "job_status_date": iso_utc(since),
            "finished_job_status": now >= self.end,
            "total_tasks": self.total_tasks,
            "finished_tasks": self.finished_tasks(now),
        }

    def job_response(self, now, user_id, team_id):
        job_status, since = self.job_status(now)
        return {"id": self.id, "user_id": user_id, "creation_date": iso_utc(self.created), "job_status": job_status,
                "job_status_date": iso_utc(since), "instance_id": self.instance_id,
                "instance_type": self.request["query"].get("instance_type"), "execution_environment_id": team_id,
                "job_name": self.name}

    # -- logs

    def _tick_messages(self, k):
        custom = self.profile["log_messages"]
        per_tick = self.profile["log_lines_per_tick"]
        if custom:
            return [custom[((k - 1) * per_tick + j) % len(custom)] for j in range(per_tick)]
        task = min(self.total_tasks, 1 + (k - 1) * self.total_tasks // max(1, self._ticks()))
        return [f"task {task}/{self.total_tasks}: step {k}" + (f".{j}" if per_tick > 1 else "")
                for j in range(per_tick)]

    def _ticks(self):
        """How many ticks fit into the running phase (the last one strictly before its end)."""
        interval = self.profile["log_interval"]
        return max(0, int((self.natural_end - self.start) / interval - 1e-9))

    def logs(self, since_ms, now, limit):
        """Entries with a timestamp after since_ms (all when None) that exist by `now`, oldest first.
        An entry is visible once its millisecond has passed, so entries sharing a timestamp appear
        together and a client paging with the last timestamp it saw never misses one. A page longer
        than `limit` ends after a whole group of entries with one timestamp."""
        now_ms = int(now * 1000)
        lo = -1 if since_ms is None else since_ms
        ms = lambda t: int(t * 1000)  # noqa: E731
        entries = [(ms(self.created), f"Job {self.name} ({self.id}) queued: {self.total_tasks} task(s) "
                                      f"on {self.request['query'].get('instance_type') or 'the default instance'}")]
        if self.end > self.start:
            entries.append((ms(self.start), f"Instance {self.instance_id} is running"))
            interval = self.profile["log_interval"]
            last = self._ticks()
            first = max(1, int(((lo + 1) / 1000 - self.start) / interval) - 1)
            generated = 0  # tick lines after `lo`: past the limit, the page ends among them
            for k in range(first, last + 1):
                t = self.start + k * interval
                if t >= self.end or ms(t) >= now_ms or (limit and generated > limit):
                    break
                if ms(t) > lo:
                    lines = self._tick_messages(k)
                    entries += [(ms(t), m) for m in lines]
                    generated += len(lines)
        if self.outcome == "succeeded":
            final = [f"All {self.total_tasks} task(s) finished"]
        elif self.outcome == "failed":
            final = self.profile["error"].splitlines() + ["Job failed"]
        else:
            final = ["Job cancelled"]
        entries += [(ms(self.end), m) for m in final]
        visible = [(t, m) for t, m in entries if lo < t < now_ms]
        visible.sort(key=lambda e: e[0])  # stable: lines of one timestamp keep their order
        if limit and len(visible) > limit:
            cut = limit
            while cut < len(visible) and visible[cut][0] == visible[cut - 1][0]:
                cut += 1
            visible = visible[:cut]
        return [{"message": m, "timestamp": t} for t, m in visible]

    # -- results

    def result_files(self):
        """(name, content type, bytes) of the files a successful job leaves."""
        spec = self.profile["results"]
        if spec is None:
            inputs = self._inputs()
            return [(f"{i}.json", "application/json",
                     json.dumps({"task": i, "job_id": self.id, "input": inputs[i] if inputs else None}).encode())
                    for i in range(self.total_tasks)]
        files = []
        for item in spec:
            if "text" in item:
                files.append((item["name"], item.get("content_type", "text/plain"), item["text"].encode()))
            else:
                files.append((item["name"], item.get("content_type", "application/json"),
                              json.dumps(item.get("result")).encode()))
        return files

    def _inputs(self):
        step = self.request["body"]["config"]["steps"][0]
        inputs = step.get("input") if isinstance(step, dict) else None
        return inputs if isinstance(inputs, list) and inputs else None


class FusedService:
    def __init__(self, emu):
        self.emu = emu
        self.router = Router()
        self._routes()
        self.reset()

    def reset(self):
        self.jobs = {}  # id -> Job, in creation order
        self.udfs = {}  # id -> saved UDF record
        self.tokens = {}  # shared token -> UdfAccessToken
        self.secrets = {}  # client id -> {key: value}
        self.cronjobs = {}
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
        r("GET", P + "/execution-env/token", "fused.team.token", lambda req: Response.json(200, self.config["team"]["token"]))
        r("GET", P + "/realtime-instance/available", "fused.realtime_instances.available",
          lambda req: Response.json(200, self.config["realtime_instances"]))
        r("GET", P + "/realtime-instance", "fused.realtime_instances",
          lambda req: Response.json(200, self.config["realtime_instances"]))
        # realtime runs
        for tile in ("", TILE):
            r("GET", R + r"/run/udf/saved/(?P<owner>[^/]+)/(?P<name>[^/]+)" + tile, "fused.run.saved", self.run_saved)
            r("POST", R + "/run/udf" + tile, "fused.run.code", self.run_code)
            r("POST", R + "/run/udf/start" + tile, "fused.run.start", self.run_start)
            for prefix, name in ((P + "/realtime-shared/", "fused.shared.run"), ("/", "fused.shared.run.root")):
                r("GET", prefix + SHARED_TOKEN + ("/run/tiles/(?P<z>\\d+)/(?P<x>\\d+)/(?P<y>\\d+)" if tile
                                                   else "/run(?:/file)?"), name, self.run_shared)
        r("GET", "/" + SHARED_TOKEN + r"\.(?P<ext>[a-z0-9]+)", "fused.shared.run.root", self.run_shared)
        r("GET", R + "/run/udf/get/(?P<run_id>[^/]+)", "fused.run.get", self.run_get)
        r("DELETE", P + "/realtime-shared/(?P<client_id>[^/]+)/udf-cache/by-id/(?P<udf_id>[^/]+)/delete",
          "fused.realtime.cache.delete", self.cache_delete)
        # secrets
        r("GET", R + "/secrets", "fused.secrets.list", self.secrets_list)
        r("GET", R + "/secrets/(?P<key>[^/]+)", "fused.secrets.get", self.secret_get)
        r("PUT", R + "/secrets/(?P<key>[^/]+)", "fused.secrets.put", self.secret_put)
        r("DELETE", R + "/secrets/(?P<key>[^/]+)", "fused.secrets.delete", self.secret_delete)
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
        r("POST", P + "/udf/new", "fused.udf.create", self.udf_create)
        r("POST", P + "/udf/by-id/(?P<udf_id>[^/]+)", "fused.udf.update", self.udf_update)
        r("GET", P + "/udf/by-id/(?P<udf_id>[^/]+)", "fused.udf.get", self.udf_get)
        r("DELETE", P + "/udf/by-id/(?P<udf_id>[^/]+)", "fused.udf.delete", self.udf_delete)
        r("GET", P + "/udf/by-user-email/(?P<email>[^/]+)/by-slug/(?P<slug>[^/]+)", "fused.udf.by_email",
          self.udf_by_email)
        r("GET", P + "/udf/by-user-handle/(?P<handle>[^/]+)/by-slug/(?P<slug>[^/]+)", "fused.udf.by_handle",
          self.udf_by_handle)
        r("GET", P + "/udf/exec-env/self/by-slug/(?P<slug>[^/]+)", "fused.udf.by_team", self.udf_by_team)
        r("GET", P + "/udf/public/by-slug/(?P<slug>[^/]+)", "fused.udf.public", self.udf_public)
        r("GET", P + "/udf/shared/by-token/(?P<token>[^/]+)", "fused.udf.shared", self.udf_shared)
        r("GET", P + "/udf/(?P<scope>self|public|exec-env/self)", "fused.udf.list", self.udf_list)
        r("POST", P + "/udf-access-token/new", "fused.token.create", self.token_create)
        r("GET", P + "/udf-access-token/(?P<scope>self|all)", "fused.token.list", self.token_list)
        r("GET", P + "/udf-access-token/by-token/(?P<token>[^/]+)", "fused.token.get_public", self.token_get)
        r("POST", P + "/udf-access-token/by-token/(?P<token>[^/]+)", "fused.token.update", self.token_update)
        r("DELETE", P + "/udf-access-token/by-token/(?P<token>[^/]+)", "fused.token.delete", self.token_delete)
        # cron jobs
        r("GET", P + "/cronjob/get-self", "fused.cron.list", self.cron_list)
        r("POST", P + "/cronjob/create", "fused.cron.create", self.cron_create)
        r("GET", P + "/cronjob/by-id/(?P<cron_id>[^/]+)", "fused.cron.get", self.cron_get)
        r("POST", P + "/cronjob/by-id/(?P<cron_id>[^/]+)", "fused.cron.update", self.cron_update)
        r("DELETE", P + "/cronjob/by-id/(?P<cron_id>[^/]+)", "fused.cron.delete", self.cron_delete)
        r("GET", P + "/cronjob/by-udf-id/(?P<udf_id>[^/]+)", "fused.cron.by_udf", self.cron_by_udf)
        r("POST", P + "/cronjob/user-run/by-id/(?P<cron_id>[^/]+)", "fused.cron.run", self.cron_run)
        # files
        self.emu.files.routes(r, P)

    def handles(self, path):
        return path.startswith(PREFIX + "/") or self.router.match("GET", path)[0] is not None

    def handle(self, req):
        route, params = self.router.match(req.method, req.path)
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

    def error(self, status, message, headers=None):
        return Response.json(status, {"detail": message}, headers)

    # ------------------------------------------------------------ identity

    def user_self(self, req):
        user = self.config["user"]
        return Response.json(200, {**user, "execution_environment_id": self.config["team"]["id"]})

    def team_self(self, req):
        team = self.config["team"]
        return Response.json(200, {"id": team["id"], "name": team["name"]})

    # ------------------------------------------------------------ realtime runs

    def _instance(self, client_id):
        if client_id not in {i["client_id"] for i in self.config["realtime_instances"]}:
            raise detail(404, f"Realtime instance {client_id} not found")

    def _saved(self, owner, slug):
        email = self.config["user"]["email"]
        if owner not in (email, "team"):
            return None
        for record in self.udfs.values():
            if record["slug"] == slug:
                return record
        return None

    @staticmethod
    def _query_params(req):
        return {k: v[-1] for k, v in req.query.items() if k not in RESERVED_PARAMS}

    @staticmethod
    def _tile(params):
        return (int(params["z"]), int(params["x"]), int(params["y"])) if params.get("z") is not None else None

    def run_saved(self, req, client_id, owner, name, **tile):
        self._instance(client_id)
        record = self._saved(owner, name)
        if record is None and name not in self.config["udfs"]:
            raise detail(404, f"UDF {owner}/{name} not found")
        udf = json.loads(record["udf_body"]) if record else {}
        call = UdfCall(name, self._query_params(req), udf.get("code"), udf.get("entrypoint"), self._tile(tile))
        return self._run(req, call, ("saved", owner, name))

    def run_shared(self, req, token, ext=None, **tile):
        if token.startswith("UDF_"):  # a public catalog UDF
            call = UdfCall(token[len("UDF_"):], self._query_params(req), tile=self._tile(tile))
            return self._run(req, call, ("shared", token))
        access = self.tokens.get(token)
        record = access and self.udfs.get(access["udf_id"])
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
            raise invalid(("body", "step_config", "udf", "parameters"), "value is not a valid dict", "type_error.dict")
        call = UdfCall(udf.get("name") or "udf", params, udf["code"], udf.get("entrypoint"), self._tile(tile))
        return call, ("code", hashlib.sha256(body["step_config"].encode()).hexdigest())

    def run_code(self, req, client_id, **tile):
        self._instance(client_id)
        call, key = self._posted_call(req, tile)
        return self._run(req, call, key)

    def run_start(self, req, client_id, **tile):
        """The polling variant: the result if the run ends within `start_wait`, else 202 and
        GET .../run/udf/get/{run_id} until it is there. The run id is the request's Fused-Run-Id
        (one is made up, and sent back in that header, when it has none: INFERRED)."""
        self._instance(client_id)
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
        self._instance(client_id)
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
                                   if not (k[0][0] == "saved" and self._slug_id(k[0][2]) == udf_id)}
        return Response.json(200, True)

    def _slug_id(self, slug):
        return next((i for i, u in self.udfs.items() if u["slug"] == slug), None)

    # ------------------------------------------------------------ secrets

    def _vault(self, client_id):
        self._instance(client_id)
        return self.secrets.setdefault(client_id, {})

    def secrets_list(self, req, client_id):
        # values masked (INFERRED): the SDK only reads the keys
        return Response.json(200, {k: "********" for k in self._vault(client_id)})

    def secret_get(self, req, client_id, key):
        vault = self._vault(client_id)
        if key not in vault:
            raise detail(404, f"Secret {key} not found")
        return Response.json(200, vault[key])

    def secret_put(self, req, client_id, key):
        body = body_json(req)
        if not isinstance(body, dict) or not isinstance(body.get("value"), str):
            raise invalid(("body", "value"), "field required", "value_error.missing")
        with self.emu.lock:
            self._vault(client_id)[key] = body["value"]
        return Response.json(200, {"key": key})

    def secret_delete(self, req, client_id, key):
        with self.emu.lock:
            if self._vault(client_id).pop(key, None) is None:
                raise detail(404, f"Secret {key} not found")
        return Response.json(200, {"key": key})

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
                raise invalid(("query", "disk_size_gb"), "value is not a valid integer", "type_error.integer") from None
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
        canonical = json.dumps(config, sort_keys=True)
        with self.emu.lock:
            max_age = body.get("cache_max_age")
            if isinstance(max_age, int) and max_age > 0:
                for job in reversed(list(self.jobs.values())):
                    if (job.outcome == "succeeded" and now >= job.end and now - job.end <= max_age
                            and json.dumps(job.request["body"]["config"], sort_keys=True) == canonical):
                        return Response.json(200, job.run_response(now), [("x-cache", "hit")])
            profile = {**self.config["job"], **self.config["jobs"].get(name, {})}
            job = Job(str(uuid.uuid4()), name, {"body": body, "query": query}, profile, total, now)
            self.jobs[job.id] = job
            self.emu.count_start("fused", name)
            self.emu.storage.put(f"/fused-jobs/{job.id}/config.json", json.dumps(config).encode(), "application/json")
            return Response.json(200, job.run_response(now))

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
        now = time.time()
        newest_first = list(reversed(list(self.jobs.values())))[skip:skip + limit]
        return Response.json(200, [j.job_response(now, self.config["user"]["id"], self.config["team"]["id"])
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

    # ------------------------------------------------------------ saved UDFs

    def _udf_body(self, req, require_slug):
        body = body_json(req)
        if not isinstance(body, dict):
            raise invalid(("body",), "value is not a valid dict", "type_error.dict")
        if require_slug and not isinstance(body.get("slug"), str):
            raise invalid(("body", "slug"), "field required", "value_error.missing")
        udf_body = body.get("udf_body")
        if udf_body is not None:
            try:
                if not isinstance(json.loads(udf_body), dict):
                    raise ValueError("not an object")
            except (ValueError, TypeError) as e:
                raise invalid(("body", "udf_body"), f"a UDF as a JSON string: {e}") from None
        return body

    def save_udf(self, slug, udf, udf_type="auto", public=False):
        """Stores a UDF (the JSON object); returns its record."""
        with self.emu.lock:
            udf_id = self._slug_id(slug) or str(uuid.uuid4())
            record = {"id": udf_id, "slug": slug, "udf_body": json.dumps(udf), "udf_type": udf_type,
                      "allow_public_read": public, "allow_public_list": public,
                      "user_id": self.config["user"]["id"], "user_email": self.config["user"]["email"],
                      "execution_environment_id": self.config["team"]["id"], "last_updated": iso_utc(time.time())}
            self.udfs[udf_id] = record
            return record

    def udf_create(self, req):
        body = self._udf_body(req, True)
        if self._slug_id(body["slug"]):
            raise detail(409, f"A UDF named {body['slug']} exists already")
        record = self.save_udf(body["slug"], json.loads(body.get("udf_body") or "{}"), body.get("udf_type", "auto"),
                               bool(body.get("allow_public_read")))
        return Response.json(200, record)

    def udf_update(self, req, udf_id):
        old = self._udf(udf_id)
        body = self._udf_body(req, False)
        with self.emu.lock:
            old.update({k: body[k] for k in ("slug", "udf_body", "udf_type", "allow_public_read", "allow_public_list")
                        if k in body}, last_updated=iso_utc(time.time()))
            return Response.json(200, old)

    def _udf(self, udf_id):
        if udf_id not in self.udfs:
            raise detail(404, f"UDF {udf_id} not found")
        return self.udfs[udf_id]

    def udf_get(self, req, udf_id):
        return Response.json(200, self._udf(udf_id))

    def udf_delete(self, req, udf_id):
        with self.emu.lock:
            record = self._udf(udf_id)
            del self.udfs[udf_id]
            return Response.json(200, record)

    def _udf_by_slug(self, slug, allowed=True):
        udf_id = self._slug_id(slug)
        if not allowed or udf_id is None:
            raise detail(404, f"UDF {slug} not found")
        return Response.json(200, self.udfs[udf_id])

    def udf_by_email(self, req, email, slug):
        return self._udf_by_slug(slug, email == self.config["user"]["email"])

    def udf_by_handle(self, req, handle, slug):
        return self._udf_by_slug(slug, handle == self.config["user"]["handle"])

    def udf_by_team(self, req, slug):
        return self._udf_by_slug(slug)

    def udf_public(self, req, slug):
        udf_id = self._slug_id(slug)
        return self._udf_by_slug(slug, udf_id is not None and self.udfs[udf_id]["allow_public_read"])

    def udf_shared(self, req, token):
        access = self.tokens.get(token)
        if not access or access["udf_id"] not in self.udfs:
            raise detail(404, "UDF access token not found")
        return Response.json(200, self.udfs[access["udf_id"]])

    def udf_list(self, req, scope):
        skip, limit = int(req.arg("skip", 0)), int(req.arg("limit", 300))
        kind = req.arg("udf_type")
        items = [u for u in self.udfs.values()
                 if (scope != "public" or u["allow_public_list"])
                 and (kind is None or (u["udf_type"] == "app") == (kind == "app"))]
        return Response.json(200, items[skip:skip + limit])

    # ------------------------------------------------------------ UDF access tokens

    def create_token(self, udf_id, token=None, **fields):
        record = self._udf(udf_id)
        now = iso_utc(time.time())
        access = {"token": token or "fsh_" + random_id(22, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"),
                  "udf_email": self.config["user"]["email"], "udf_slug": record["slug"], "udf_id": udf_id,
                  "enabled": True, "owning_user_id": self.config["user"]["id"],
                  "owning_execution_environment_id": self.config["team"]["id"],
                  "client_id": self.config["realtime_instances"][0]["client_id"], "public_read": None,
                  "access_scope": None, "cache": True, "metadata_json": {}, "last_updated": now}
        access.update({k: v for k, v in fields.items() if k in access and k != "token"})
        with self.emu.lock:
            self.tokens[access["token"]] = access
        return access

    def token_create(self, req):
        body = body_json(req)
        if not isinstance(body, dict):
            raise invalid(("body",), "value is not a valid dict", "type_error.dict")
        udf_id = body.get("udf_id") or self._slug_id(body.get("udf_slug") or "")
        if udf_id is None:
            raise invalid(("body", "udf_id"), "udf_id or udf_slug of a saved UDF is required")
        fields = {k: v for k, v in body.items() if k not in ("udf_id", "token") and v is not None}
        return Response.json(200, self.create_token(udf_id, **fields))

    def token_list(self, req, scope):
        skip, limit = int(req.arg("skip", 0)), int(req.arg("limit", 100))
        return Response.json(200, list(self.tokens.values())[skip:skip + limit])

    def _token(self, token):
        if token not in self.tokens:
            raise detail(404, "UDF access token not found")
        return self.tokens[token]

    def token_get(self, req, token):
        return Response.json(200, self._token(token))

    def token_update(self, req, token):
        body = body_json(req)
        with self.emu.lock:
            access = self._token(token)
            access.update({k: v for k, v in (body if isinstance(body, dict) else {}).items()
                           if k in ("client_id", "cache", "metadata_json", "enabled", "public_read", "access_scope")},
                          last_updated=iso_utc(time.time()))
            return Response.json(200, access)

    def token_delete(self, req, token):
        with self.emu.lock:
            return Response.json(200, self.tokens.pop(self._token(token)["token"]))

    # ------------------------------------------------------------ cron jobs

    CRON_FIELDS = {"minute": (0, 59), "hour": (0, 23), "day_of_month": (1, 31), "month": (1, 12), "day_of_week": (0, 6)}

    def _cron_body(self, req, base):
        body = body_json(req)
        if not isinstance(body, dict):
            raise invalid(("body",), "value is not a valid dict", "type_error.dict")
        cron = {**base, **body}
        for key in ("name", "udf"):
            if not isinstance(cron.get(key), str):
                raise invalid(("body", key), "field required", "value_error.missing")
        for key, (lo, hi) in self.CRON_FIELDS.items():
            values = cron.setdefault(key, list(range(lo, hi + 1)))
            if not isinstance(values, list) or not all(isinstance(v, int) and lo <= v <= hi for v in values):
                raise invalid(("body", key), f"a list of integers {lo}-{hi}")
        cron.setdefault("enabled", True)
        cron.setdefault("udf_args", {})
        cron.setdefault("last_run", None)
        cron.setdefault("description", None)
        cron["execution_environment_id"] = self.config["team"]["id"]
        return cron

    def _cron(self, cron_id):
        if cron_id not in self.cronjobs:
            raise detail(404, f"Cron job {cron_id} not found")
        return self.cronjobs[cron_id]

    def cron_list(self, req):
        return Response.json(200, list(self.cronjobs.values()))

    def cron_create(self, req):
        cron = self._cron_body(req, {"id": str(uuid.uuid4())})
        with self.emu.lock:
            self.cronjobs[cron["id"]] = cron
        return Response.json(200, cron)

    def cron_get(self, req, cron_id):
        return Response.json(200, self._cron(cron_id))

    def cron_update(self, req, cron_id):
        cron = self._cron_body(req, self._cron(cron_id))
        cron["id"] = cron_id
        with self.emu.lock:
            self.cronjobs[cron_id] = cron
        return Response.json(200, cron)

    def cron_delete(self, req, cron_id):
        with self.emu.lock:
            self._cron(cron_id)
            return Response.json(200, self.cronjobs.pop(cron_id))

    def cron_by_udf(self, req, udf_id):
        return Response.json(200, [c for c in self.cronjobs.values() if c["udf"] == udf_id])

    def cron_run(self, req, cron_id):
        cron = self._cron(cron_id)
        record = self._udf(cron["udf"])
        udf = {**json.loads(record["udf_body"]), "parameters": cron["udf_args"]}
        now = time.time()
        with self.emu.lock:
            name = cron["name"]
            profile = {**self.config["job"], **self.config["jobs"].get(name, {})}
            body = {"config": {"name": name, "steps": [{"type": "udf", "udf": udf, "input": None}]}}
            job = Job(str(uuid.uuid4()), name, {"body": body, "query": {}}, profile, 1, now)
            self.jobs[job.id] = job
            self.emu.count_start("fused", name)
            cron["last_run"] = iso_utc(now)
            return Response.json(200, {"run": job.run_response(now), "cronjob": cron})
