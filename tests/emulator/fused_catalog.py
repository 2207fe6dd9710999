"""
The Fused API's stores: saved UDFs, their access tokens (for shared-token runs), secrets per
realtime instance, and cron jobs (schedule_udf), each kept in memory.
"""
import json
import time
import uuid

from .core import Response, iso_utc, random_id
from .fastapi import body_json, detail, invalid

TOKEN_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


class FusedCatalog:
    def __init__(self, emu, fused):
        self.emu = emu
        self.fused = fused  # the service: realtime instances, and the batch job of a cron job's run
        self.reset()

    def reset(self):
        self.udfs = {}  # id -> saved UDF record
        self.tokens = {}  # shared token -> UdfAccessToken
        self.secrets = {}  # client id -> {key: value}
        self.cronjobs = {}

    @property
    def config(self):
        return self.emu.config["fused"]

    def routes(self, r, P, R):
        r("GET", R + "/secrets", "fused.secrets.list", self.secrets_list)
        r("GET", R + "/secrets/(?P<key>[^/]+)", "fused.secrets.get", self.secret_get)
        r("PUT", R + "/secrets/(?P<key>[^/]+)", "fused.secrets.put", self.secret_put)
        r("DELETE", R + "/secrets/(?P<key>[^/]+)", "fused.secrets.delete", self.secret_delete)
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
        r("GET", P + "/cronjob/get-self", "fused.cron.list", self.cron_list)
        r("POST", P + "/cronjob/create", "fused.cron.create", self.cron_create)
        r("GET", P + "/cronjob/by-id/(?P<cron_id>[^/]+)", "fused.cron.get", self.cron_get)
        r("POST", P + "/cronjob/by-id/(?P<cron_id>[^/]+)", "fused.cron.update", self.cron_update)
        r("DELETE", P + "/cronjob/by-id/(?P<cron_id>[^/]+)", "fused.cron.delete", self.cron_delete)
        r("GET", P + "/cronjob/by-udf-id/(?P<udf_id>[^/]+)", "fused.cron.by_udf", self.cron_by_udf)
        r("POST", P + "/cronjob/user-run/by-id/(?P<cron_id>[^/]+)", "fused.cron.run", self.cron_run)

    # ------------------------------------------------------------ secrets

    def _vault(self, client_id):
        self.fused.check_instance(client_id)
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

    def save_udf(self, slug, udf, udf_type="auto", public_read=False, public_list=False):
        """Stores a UDF (the JSON object); returns its record."""
        with self.emu.lock:
            udf_id = self.slug_id(slug) or str(uuid.uuid4())
            record = {"id": udf_id, "slug": slug, "udf_body": json.dumps(udf), "udf_type": udf_type,
                      "allow_public_read": public_read, "allow_public_list": public_list,
                      "user_id": self.config["user"]["id"], "user_email": self.config["user"]["email"],
                      "execution_environment_id": self.config["team"]["id"], "last_updated": iso_utc(time.time())}
            self.udfs[udf_id] = record
            return record

    def udf_create(self, req):
        body = self._udf_body(req, True)
        if self.slug_id(body["slug"]):
            raise detail(409, f"A UDF named {body['slug']} exists already")
        record = self.save_udf(body["slug"], json.loads(body.get("udf_body") or "{}"), body.get("udf_type", "auto"),
                               bool(body.get("allow_public_read")), bool(body.get("allow_public_list")))
        return Response.json(200, record)

    def udf_update(self, req, udf_id):
        old = self.udf(udf_id)
        body = self._udf_body(req, False)
        with self.emu.lock:
            old.update({k: body[k] for k in ("slug", "udf_body", "udf_type", "allow_public_read",
                                             "allow_public_list")
                        if k in body}, last_updated=iso_utc(time.time()))
            return Response.json(200, old)

    def slug_id(self, slug):
        return next((i for i, u in self.udfs.items() if u["slug"] == slug), None)

    def find(self, owner, slug):
        """The saved UDF `slug` of `owner` (the user's email, or "team"), or None."""
        if owner not in (self.config["user"]["email"], "team"):
            return None
        udf_id = self.slug_id(slug)
        return udf_id and self.udfs[udf_id]

    def udf(self, udf_id):
        if udf_id not in self.udfs:
            raise detail(404, f"UDF {udf_id} not found")
        return self.udfs[udf_id]

    def udf_get(self, req, udf_id):
        return Response.json(200, self.udf(udf_id))

    def udf_delete(self, req, udf_id):
        with self.emu.lock:
            record = self.udf(udf_id)
            del self.udfs[udf_id]
            return Response.json(200, record)

    def _udf_by_slug(self, slug, allowed=True):
        udf_id = self.slug_id(slug)
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
        udf_id = self.slug_id(slug)
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
        record = self.udf(udf_id)
        now = iso_utc(time.time())
        access = {"token": token or "fsh_" + random_id(22, TOKEN_ALPHABET),
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
        udf_id = body.get("udf_id") or self.slug_id(body.get("udf_slug") or "")
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
                           if k in ("client_id", "cache", "metadata_json", "enabled", "public_read",
                                    "access_scope")},
                          last_updated=iso_utc(time.time()))
            return Response.json(200, access)

    def token_delete(self, req, token):
        with self.emu.lock:
            return Response.json(200, self.tokens.pop(self._token(token)["token"]))

    # ------------------------------------------------------------ cron jobs

    CRON_FIELDS = {"minute": (0, 59), "hour": (0, 23), "day_of_month": (1, 31), "month": (1, 12),
                   "day_of_week": (0, 6)}

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
        record = self.udf(cron["udf"])
        udf = {**json.loads(record["udf_body"]), "parameters": cron["udf_args"]}
        body = {"config": {"name": cron["name"], "steps": [{"type": "udf", "udf": udf, "input": None}]}}
        job = self.fused.new_job(cron["name"], body, {}, 1)
        cron["last_run"] = iso_utc(job.created)
        return Response.json(200, {"run": job.run_response(job.created), "cronjob": cron})
