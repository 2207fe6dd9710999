"""
Lucidworks Fusion's Spark job and Jobs APIs (../../shared/api/fusion.md) on the main listener: every
endpoint under /api, /api/apollo and /api/apps/{app}, plus POST /oauth2/token.

Auth, any of: Basic (auth.fusion_users), the session cookie `id` from POST /api/session (expires
after auth.fusion_session_idle unused), Bearer tokens from POST /oauth2/token, and API keys
(x-api-key, apiKey header, ?apiKey=). Without one: 401 with the gateway's body. Errors are
RESTError JSON; every answer carries fusion-request-id (the request's own when it sent one). A path
ending in / is 404, as on 5.9.11+ (fusion.reject_trailing_slash).

Choices where the contract says UNKNOWN (INFERRED): a config never run reports state "idle"; a
start while a run is active is 409; DELETE with nothing running is 200; a Jobs API start while
running answers accepted: false; a config id must follow the Fusion 5 pod-name rule.
"""
import base64
import hashlib
import hmac
import http
import json
import re
import secrets
import string
import time

from .core import HttpError, Response, Router, iso_utc, random_id
from .fusion_runs import ACTIVE, JOBS_STATUS, SparkRun

API = re.compile(r"/api(?:/apollo|/apps/(?P<app>[^/]+))?(?P<rest>/.*)\Z")
POD_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?\Z", re.IGNORECASE)
SPARK_TYPES = ("custom_python_job", "custom_spark_scala_job", "custom_spark_job", "script", "aggregation",
               "sql_template", "parallel-bulk-loader")


def rest_error(status, message, error_type="RESTError", **extra):
    phrase = http.HTTPStatus(status).phrase if status in http.HTTPStatus._value2member_map_ else "Error"
    body = {"type": error_type, "httpStatusCode": status, "httpStatusMessage": phrase, "error": phrase,
            "message": message, "details": message, "class": f"com.lucidworks.apollo.common.{error_type}",
            "requestId": None, "cause": None, "stackTrace": [], "localizedMessage": message, "suppressed": []}
    body.update(extra)
    return Response.json(status, body)


def fail(status, message, error_type="RESTError", **extra):
    return HttpError(rest_error(status, message, error_type, **extra))


def invalid(field, value, message):
    return fail(400, f"Invalid {field}: {message}", "RESTValidationError",
                validationErrors=[{"field": field, "value": value, "error": message}])


class FusionService:
    def __init__(self, emu):
        self.emu = emu
        self.jwt_secret = secrets.token_bytes(32)
        self.router = Router()
        self._routes()
        self.reset()

    def reset(self):
        self.configs = {}  # id -> config
        self.runs = {}  # config id -> [SparkRun], oldest first
        self.schedules = {}  # resource -> schedule
        self.sessions = {}  # id -> {"user", "last_used"}
        self.jwts = {}  # token -> {"user", "expires"}

    @property
    def config(self):
        return self.emu.config["fusion"]

    def _routes(self):
        r = self.router.add
        r("POST", "/session", "fusion.session.create", self.session_create)
        r("GET", "/session", "fusion.session.get", self.session_get)
        r("DELETE", "/session", "fusion.session.delete", self.session_delete)
        r("GET", "/spark/jobs", "fusion.spark.jobs", self.spark_jobs)
        r("POST", "/spark/jobs", "fusion.spark.adhoc", self.spark_adhoc, blocking=True)  # ?sync=true waits
        r("GET", "/spark/jobs/(?P<cid>[^/]+)", "fusion.spark.status", self.spark_status)
        r("POST", "/spark/jobs/(?P<cid>[^/]+)", "fusion.spark.start", self.spark_start)
        r("DELETE", "/spark/jobs/(?P<cid>[^/]+)", "fusion.spark.cancel", self.spark_cancel)
        r("GET", "/spark/jobs/(?P<cid>[^/]+)/all", "fusion.spark.runs", self.spark_runs)
        r("GET", "/spark/configurations", "fusion.config.list", self.config_list)
        r("POST", "/spark/configurations", "fusion.config.create", self.config_create)
        r("GET", "/spark/configurations/(?P<cid>[^/]+)", "fusion.config.get", self.config_get)
        r("PUT", "/spark/configurations/(?P<cid>[^/]+)", "fusion.config.put", self.config_put)
        r("DELETE", "/spark/configurations/(?P<cid>[^/]+)", "fusion.config.delete", self.config_delete)
        r("GET", "/spark/schema", "fusion.spark.schema", self.spark_schema)
        r("GET", "/spark/driver/log/(?P<cid>[^/]+)", "fusion.spark.driver_log", self.driver_log)
        r("GET", "/jobs", "fusion.jobs.list", self.jobs_list)
        r("GET", "/jobs/_schema", "fusion.jobs.schema", self.jobs_schema)
        r("GET", "/jobs/status", "fusion.jobs.status", self.jobs_status)
        r("GET", "/jobs/(?P<resource>[^/]+)", "fusion.jobs.get", self.jobs_get)
        r("POST", "/jobs/(?P<resource>[^/]+)/actions", "fusion.jobs.action", self.jobs_action)
        r("GET", "/jobs/(?P<resource>[^/]+)/history", "fusion.jobs.history", self.jobs_history)
        r("GET", "/jobs/(?P<resource>[^/]+)/schedule", "fusion.jobs.schedule.get", self.schedule_get)
        r("PUT", "/jobs/(?P<resource>[^/]+)/schedule", "fusion.jobs.schedule.put", self.schedule_put)
        r("DELETE", "/jobs/(?P<resource>[^/]+)/schedule", "fusion.jobs.schedule.delete", self.schedule_delete)

    @staticmethod
    def handles(path):
        return path == "/oauth2/token" or API.match(path) is not None

    def may_block(self, req):
        m = API.match(req.path)
        route, _ = self.router.match(req.method, m.group("rest").rstrip("/")) if m else (None, None)
        return route is not None and route.blocking

    def handle(self, req):
        request_id = req.header("fusion-request-id") or random_id(10, string.ascii_letters + string.digits)
        try:
            name, response = self._dispatch(req)
        except HttpError as e:
            name, response = "fusion.error", e.response
        if response.header("Content-Type") == "application/json" and response.status >= 400:
            body = json.loads(response.body)
            if isinstance(body, dict) and "requestId" in body:
                response.body = json.dumps({**body, "requestId": request_id}).encode()
        response.set_header("fusion-request-id", request_id)
        return name, response

    def _dispatch(self, req):
        if req.path == "/oauth2/token":
            if req.method != "POST":
                return "fusion.oauth2.token", rest_error(405, "Method Not Allowed")
            return "fusion.oauth2.token", self.oauth2_token(req)
        m = API.match(req.path)
        rest = m.group("rest")
        if rest not in ("/session",) or req.method != "POST":
            req.fusion_user = self.authenticate(req)
        if rest.endswith("/") and rest != "/":
            if self.config["reject_trailing_slash"]:
                return "fusion.trailing_slash", rest_error(404, f"No handler found for {req.method} {req.path}")
            rest = rest.rstrip("/")
        route, params = self.router.match(req.method, rest)
        if route is None:
            if params:
                return "fusion.method_not_allowed", rest_error(405, f"Request method '{req.method}' not supported")
            return "fusion.not_found", rest_error(404, f"No handler found for {req.method} {req.path}")
        try:
            return route.name, route.handler(req, **params)
        except HttpError as e:
            return route.name, e.response

    # ------------------------------------------------------------ authentication

    def unauthorized(self, req):
        return HttpError(Response.json(401, {"service": "proxy", "error": "unauthorized", "path": req.path,
                                             "timestamp": iso_utc(time.time())[:-1]}))

    def _basic(self, req):
        scheme, _, value = (req.header("Authorization") or "").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, _, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return user, password

    def _check_password(self, user, password):
        expected = self.emu.config["auth"]["fusion_users"].get(user)
        return (expected is not None and hmac.compare_digest(expected, password)
                and not self.emu.is_revoked(f"fusion-user:{user}"))

    def _cookie_session(self, req):
        for part in (req.header("Cookie") or "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == "id" and value:
                return value
        return None

    def _api_key(self, req):
        return req.header("x-api-key") or req.header("apiKey") or req.arg("apiKey")

    def credential(self, req):
        """What authenticates the request, as revocable: session, user, token or key."""
        sid = self._cookie_session(req)
        if sid:
            return f"fusion-session:{sid}"
        basic = self._basic(req)
        if basic:
            return f"fusion-user:{basic[0]}"
        scheme, _, token = (req.header("Authorization") or "").partition(" ")
        if scheme.lower() == "bearer":
            return f"fusion-jwt:{token.strip()}"
        key = self._api_key(req)
        return f"fusion-key:{key}" if key else None

    def authenticate(self, req):
        """The user name the request acts as; 401 when nothing it carries is valid."""
        now = time.time()
        sid = self._cookie_session(req)
        with self.emu.lock:
            session = self.sessions.get(sid) if sid else None
            if session and not self.emu.is_revoked(f"fusion-session:{sid}"):
                if now - session["last_used"] <= self.emu.config["auth"]["fusion_session_idle"]:
                    session["last_used"] = now
                    return session["user"]
                del self.sessions[sid]
        basic = self._basic(req)
        if basic and self._check_password(*basic):
            return basic[0]
        scheme, _, token = (req.header("Authorization") or "").partition(" ")
        if scheme.lower() == "bearer":
            jwt = self.jwts.get(token.strip())
            if jwt and now < jwt["expires"] and not self.emu.is_revoked(f"fusion-jwt:{token.strip()}"):
                return jwt["user"]
        key = self._api_key(req)
        if (key and key in self.emu.config["auth"]["fusion_api_keys"]
                and not self.emu.is_revoked(f"fusion-key:{key}")):
            return "api-key"
        raise self.unauthorized(req)

    def session_create(self, req):
        realm = req.arg("realmName", "native")
        try:
            body = req.json()
        except ValueError:
            raise fail(400, "Request body must be JSON: {\"username\": ..., \"password\": ...}") from None
        if not isinstance(body, dict):
            raise fail(400, "Request body must be a JSON object")
        user, password = body.get("username"), body.get("password")
        if realm != "native" or not isinstance(user, str) or not isinstance(password, str) \
                or not self._check_password(user, password):
            raise self.unauthorized(req)
        sid = secrets.token_hex(16)
        sid = f"{sid[:8]}-{sid[8:12]}-{sid[12:16]}-{sid[16:20]}-{sid[20:]}"
        with self.emu.lock:
            self.sessions[sid] = {"user": user, "last_used": time.time()}
        return Response(201, b"", None, [("Set-Cookie", f"id={sid};HttpOnly;Path=/api")])

    def session_get(self, req):
        user = req.fusion_user
        return Response.json(200, {"user": {"id": hashlib.sha1(user.encode()).hexdigest()[:12], "username": user},
                                   "roles": [{"name": "admin"}]})

    def session_delete(self, req):
        sid = self._cookie_session(req)
        with self.emu.lock:
            self.sessions.pop(sid, None)
        return Response(204, b"", None, [("Set-Cookie", "id=;Max-Age=0;HttpOnly;Path=/api")])

    def oauth2_token(self, req):
        basic = self._basic(req)
        if not basic or not self._check_password(*basic):
            raise self.unauthorized(req)
        lifetime = self.emu.config["auth"]["fusion_jwt_lifetime"]
        now = time.time()

        def b64(data):
            return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
        head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        claims = b64(json.dumps({"sub": basic[0], "iat": int(now), "exp": int(now + lifetime),
                                 "jti": secrets.token_hex(8)}).encode())
        signature = b64(hmac.new(self.jwt_secret, f"{head}.{claims}".encode(), hashlib.sha256).digest())
        token = f"{head}.{claims}.{signature}"
        with self.emu.lock:
            self.jwts[token] = {"user": basic[0], "expires": now + lifetime}
        return Response.json(200, {"access_token": token, "token_type": "bearer", "expires_in": int(lifetime),
                                   "scope": "api"})

    # ------------------------------------------------------------ Spark job configurations

    def _config(self, cid):
        config = self.configs.get(cid)
        if config is None:
            raise fail(404, f"Job configuration {cid} not found")
        return config

    def save_config(self, body, user, cid=None):
        """Validates and stores a job config (the body of a create or an update); returns it."""
        if not isinstance(body, dict):
            raise fail(400, "A job configuration is a JSON object")
        cid = cid or body.get("id")
        if not isinstance(cid, str) or not cid:
            raise invalid("id", cid, "is required")
        if body.get("id", cid) != cid:
            raise invalid("id", body.get("id"), f"does not match the path ({cid})")
        if not POD_NAME.match(cid) or "_" in cid:
            raise invalid("id", cid, "must start and end with a letter or digit, use '-' (never '_') and be "
                                     "under 63 characters: it becomes the Spark driver's pod name")
        if not isinstance(body.get("type"), str):
            raise invalid("type", body.get("type"), "is required")
        with self.emu.lock:
            old = self.configs.get(cid, {})
            config = {**body, "id": cid, "updates": old.get("updates", []) + [
                {"userId": user, "timestamp": iso_utc(time.time(), 9)}]}
            self.configs[cid] = config
        return config

    def config_list(self, req):
        return Response.json(200, list(self.configs.values()))

    def config_create(self, req):
        body = self._body(req)
        if isinstance(body, dict) and body.get("id") in self.configs:
            raise fail(409, f"Job configuration {body['id']} already exists")
        return Response.json(200, self.save_config(body, req.fusion_user))

    def config_get(self, req, cid):
        return Response.json(200, self._config(cid))

    def config_put(self, req, cid):
        # 4.1 scripts create configs with PUT too
        return Response.json(200, self.save_config(self._body(req), req.fusion_user, cid))

    def config_delete(self, req, cid):
        with self.emu.lock:
            self._config(cid)
            del self.configs[cid]
        return Response(200)

    @staticmethod
    def _body(req):
        try:
            return req.json()
        except ValueError as e:
            raise fail(400, f"Could not parse the request body as JSON: {e}") from None

    def spark_schema(self, req):
        return Response.json(200, {"type": "object", "oneOf": [
            {"title": t, "type": "object", "required": ["id", "type"],
             "properties": {"id": {"type": "string"}, "type": {"type": "string", "enum": [t]},
                            "sparkConfig": {"type": "array", "items": {"type": "object"}}}}
            for t in SPARK_TYPES]})

    # ------------------------------------------------------------ Spark job runs

    def _latest(self, cid):
        runs = self.runs.get(cid)
        return runs[-1] if runs else None

    def start_run(self, cid, user):
        """Starts a run of config `cid`; 409 while one is active. Returns the run."""
        now = time.time()
        with self.emu.lock:
            config = self._config(cid)
            latest = self._latest(cid)
            if latest and latest.state(now) in ACTIVE:
                raise fail(409, f"Job spark:{cid} is already running (run {latest.id})", "JobExecutionError",
                           job={"type": "SPARK_JOB", "id": cid}, jobRunId=latest.id)
            profile = {**self.config["job"], **self.config["jobs"].get(cid, {})}
            taken = {run.id for runs in self.runs.values() for run in runs}
            run_id = random_id(10)
            while run_id in taken:
                run_id = random_id(10)
            run = SparkRun(run_id, config, profile, user, now)
            self.runs.setdefault(cid, []).append(run)
            self.emu.count_start("fusion", cid)
            return run

    def spark_jobs(self, req):
        now = time.time()
        runs = sorted((r for runs in self.runs.values() for r in runs), key=lambda r: r.created, reverse=True)
        return Response.json(200, [r.status(now) for r in runs])

    def spark_status(self, req, cid):
        config = self._config(cid)
        latest = self._latest(cid)
        if latest is None:
            return Response.json(200, {"state": "idle", "jobConfig": config, "result": {"jobConfigId": cid}})
        return Response.json(200, latest.status(time.time()))

    def spark_runs(self, req, cid):
        self._config(cid)
        now = time.time()
        return Response.json(200, [r.status(now) for r in reversed(self.runs.get(cid, []))])

    def spark_start(self, req, cid):
        return Response.json(200, self.start_run(cid, req.fusion_user).status(time.time()))

    def spark_cancel(self, req, cid):
        self._config(cid)
        with self.emu.lock:
            latest = self._latest(cid)
            if latest and latest.state(time.time()) in ACTIVE:
                latest.cancel(time.time())
                self.emu.count_start("fusion.cancel", cid)
        return Response(200)

    def spark_adhoc(self, req):
        """POST /spark/jobs: run the config in the body under a new unique id; ?sync=true waits for the end."""
        body = self._body(req)
        if not isinstance(body, dict) or not isinstance(body.get("type"), str):
            raise invalid("type", None if not isinstance(body, dict) else body.get("type"), "is required")
        cid = f"{body['type'].replace('_', '-')}-{random_id(8)}"
        self.save_config({**body, "id": cid}, req.fusion_user)
        run = self.start_run(cid, req.fusion_user)
        if req.arg("sync", "false").lower() == "true":
            wait = run.terminal_at - time.time()
            if wait > 0:
                self.emu.release_hangs.wait(wait)  # a reset ends the wait early
        return Response.json(200, run.status(time.time()))

    def driver_log(self, req, cid):
        if not self.config["driver_log"]:
            raise fail(404, "No handler found for GET /spark/driver/log (Fusion 4 has no driver log endpoint)")
        self._config(cid)
        try:
            rows = max(0, int(req.arg("rows", 100)))
        except ValueError:
            raise invalid("rows", req.arg("rows"), "must be an integer") from None
        latest = self._latest(cid)
        lines = latest.driver_log(time.time()) if latest else []
        text = "".join(line + "\n" for line in (lines[-rows:] if rows else []))
        return Response.text(200, text)

    def finish_run(self, run_id, outcome):
        """Admin: ends a run now with `outcome` (finished or error), or cancels it (cancelled)."""
        now = time.time()
        with self.emu.lock:
            for runs in self.runs.values():
                for run in runs:
                    if run.id == run_id:
                        run.cancel(now) if outcome == "cancelled" else run.finish(now, outcome)
                        return run.status(now)
        raise fail(404, f"Run {run_id} not found")

    # ------------------------------------------------------------ Jobs API

    def _spark_resource(self, resource):
        kind, _, cid = resource.partition(":")
        if kind != "spark" or cid not in self.configs:
            raise fail(404, f"Job {resource} not found")
        return cid

    def _schedule(self, resource):
        default = {"resource": resource, "enabled": True, "triggers": [], "default": True}
        return self.schedules.get(resource) or default

    def _job_view(self, cid, now):
        latest = self._latest(cid)
        resource = f"spark:{cid}"
        view = {"resource": resource, "enabled": self._schedule(resource)["enabled"], "startedBy": None,
                "status": "ready", "extra": {}, "lastStartTime": None, "lastEndTime": None, "nextStartTime": None}
        if latest:
            state = latest.state(now)
            view.update(startedBy=latest.started_by, status=JOBS_STATUS[state],
                        lastStartTime=iso_utc(latest.created, 3),
                        lastEndTime=None if state in ACTIVE else iso_utc(latest.terminal_at, 3))
        return view

    def jobs_list(self, req):
        now = time.time()
        kind = req.arg("type")
        views = [] if kind not in (None, "spark") else [self._job_view(cid, now) for cid in self.configs]
        status, enabled = req.arg("status"), req.arg("enabled")
        return Response.json(200, [v for v in views if (status is None or v["status"] == status)
                                   and (enabled is None or str(v["enabled"]).lower() == enabled.lower())])

    def jobs_schema(self, req):
        return Response.json(200, {"type": "object", "properties": {
            "resource": {"type": "string"}, "enabled": {"type": "boolean"},
            "triggers": {"type": "array", "items": {"type": "object"}}}})

    def jobs_status(self, req):
        return Response.json(200, [{"status": "ok", "node": "emulator", "messages": []}])

    def jobs_get(self, req, resource):
        return Response.json(200, self._job_view(self._spark_resource(resource), time.time()))

    def jobs_action(self, req, resource):
        cid = self._spark_resource(resource)
        body = self._body(req)
        action = body.get("action") if isinstance(body, dict) else None
        if not isinstance(action, str) or action.upper() not in ("START", "PAUSE", "ABORT"):
            raise invalid("action", action, "must be one of START, PAUSE, ABORT")
        action = action.lower()
        if action == "start":
            try:
                self.start_run(cid, req.fusion_user)
            except HttpError:
                return Response.json(200, {"resource": resource, "action": action, "accepted": False,
                                           "message": f"Job {resource} is already running"})
            message = f"Started job {resource}"
        elif action == "abort":
            with self.emu.lock:
                latest = self._latest(cid)
                if not latest or latest.state(time.time()) not in ACTIVE:
                    return Response.json(200, {"resource": resource, "action": action, "accepted": False,
                                               "message": f"Job {resource} is not running"})
                latest.cancel(time.time())
                self.emu.count_start("fusion.cancel", cid)
            message = f"Aborted job {resource}"
        else:
            message = f"Paused job {resource}"
        return Response.json(200, {"resource": resource, "action": action, "accepted": True, "message": message})

    def jobs_history(self, req, resource):
        cid = self._spark_resource(resource)
        limit = int(req.arg("limit", 100))
        now = time.time()
        return Response.json(200, [r.run_view(now) for r in reversed(self.runs.get(cid, []))][:limit])

    def schedule_get(self, req, resource):
        self._spark_resource(resource)
        return Response.json(200, self._schedule(resource))

    def schedule_put(self, req, resource):
        self._spark_resource(resource)
        body = self._body(req)
        if not isinstance(body, dict) or not isinstance(body.get("triggers", []), list):
            raise invalid("triggers", None, "must be a list")
        schedule = {"enabled": True, "triggers": [], **body, "resource": resource, "default": False}
        with self.emu.lock:
            self.schedules[resource] = schedule
        return Response.json(200, schedule)

    def schedule_delete(self, req, resource):
        self._spark_resource(resource)
        with self.emu.lock:
            self.schedules.pop(resource, None)
        return Response.json(200, self._schedule(resource))
