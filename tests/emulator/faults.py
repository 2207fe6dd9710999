"""
Fault rules: which requests go wrong, and how.

A rule matches a request by method, a regex searched in the path (query left out) and optionally the
listener ("main" or "storage"). Of the matching requests it lets `skip` pass, then applies to at most
`count` of them (null: all), each with `probability`. The first rule that applies wins.

Kinds, with their parameters:

  status          answer `status` (503) with the service's error body, or `body`/`content_type`;
                  `retry_after` adds a Retry-After header (seconds, or any text such as an HTTP date)
  reset           a TCP reset: before the response, or after `after_bytes` bytes of it (the
                  service's own answer, so the service acts)
  close           close the connection without answering
  hang            answer nothing for `seconds` (3600), then close; or with `then` "respond" the
                  service acts at once and its answer comes after that delay (a slow server)
  slow            the normal response with its body trickled: `chunk` bytes every `interval` s
  truncate        the normal response cut to `keep` bytes of body (default half): with `framing`
                  "json" the Content-Length matches (valid HTTP, broken JSON), with "connection" it
                  announces the whole body and the connection closes early
  malformed_json  the service's status, application/json, and a body that is not JSON (`body`)
  unknown_status  the normal response with every status field ("status", "job_status", "state")
                  replaced by `value` ("frobnicating")
  revoke_auth     revokes the credential the request carries (token, session, API key or user), so
                  it and every later request with it get 401: "expiry mid-job" after `skip` requests

status, close, a reset before the answer and a hang that closes answer in place of the service: the
request is not carried out, unless `process` is true (the service acts, then its answer is lost, as
behind a failing proxy).
"""
import random
import re
import threading

ANSWER_KINDS = ("status", "reset", "close", "hang")  # answer in place of the service

PARAMS = {
    "status": {"status": 503, "retry_after": None, "body": None, "content_type": None, "process": False},
    "reset": {"after_bytes": None, "process": False},
    "close": {"process": False},
    "hang": {"seconds": 3600.0, "then": "close", "process": False},
    "slow": {"chunk": 1, "interval": 0.1},
    "truncate": {"keep": None, "framing": "json"},
    "malformed_json": {"body": '{"status": "running", "job_id": '},
    "unknown_status": {"value": "frobnicating"},
    "revoke_auth": {},
}
MATCH = {"method": "*", "path": "", "listener": None, "skip": 0, "count": None, "probability": 1.0}
STATUS_FIELDS = ("status", "job_status", "state")


class Fault:
    def __init__(self, fault_id, spec):
        kind = spec.get("kind")
        if kind not in PARAMS:
            raise ValueError(f"unknown fault kind {kind!r} (one of {', '.join(PARAMS)})")
        unknown = set(spec) - set(PARAMS[kind]) - set(MATCH) - {"kind", "id"}
        if unknown:
            raise ValueError(f"unknown parameter(s) for a {kind} fault: {', '.join(sorted(unknown))}")
        self.id = fault_id
        self.kind = kind
        self.spec = {**MATCH, **PARAMS[kind], **spec, "kind": kind, "id": fault_id}
        self.method = str(self.spec["method"]).upper()
        try:
            self.path = re.compile(self.spec["path"])
        except (re.error, TypeError) as e:
            raise ValueError(f"bad path regex {self.spec['path']!r}: {e}") from None
        for key in ("skip", "count"):
            if self.spec[key] is not None and (not isinstance(self.spec[key], int) or self.spec[key] < 0):
                raise ValueError(f"{key} must be a non-negative integer")
        if not 0.0 <= float(self.spec["probability"]) <= 1.0:
            raise ValueError("probability must be between 0 and 1")
        if kind == "truncate" and self.spec["framing"] not in ("json", "connection"):
            raise ValueError("framing must be 'json' or 'connection'")
        if kind == "hang" and self.spec["then"] not in ("close", "respond"):
            raise ValueError("then must be 'close' or 'respond'")
        self.seen = 0  # matching requests
        self.hits = 0  # requests it was applied to

    def __getitem__(self, key):
        return self.spec[key]

    @property
    def before_service(self):
        """Whether this fault answers in place of the service (which then does not act)."""
        if self.kind == "reset" and self.spec["after_bytes"] is not None:
            return False  # cut in the middle of the service's own answer
        if self.kind == "hang" and self.spec["then"] == "respond":
            return False  # the service acts at once, its answer comes late
        return self.kind in ANSWER_KINDS and not self.spec.get("process")

    def matches(self, req):
        return ((self.method == "*" or self.method == req.method)
                and (self.spec["listener"] in (None, req.listener))
                and self.path.search(req.path) is not None)

    def describe(self):
        return {**self.spec, "seen": self.seen, "hits": self.hits}


class FaultSet:
    def __init__(self, seed=None):
        self.lock = threading.Lock()
        self.rules = []
        self.next_id = 1
        self.random = random.Random(seed)

    def add(self, spec):
        """Adds a rule (a dict as in the module doc); returns its id. ValueError when it is invalid."""
        if not isinstance(spec, dict):
            raise ValueError("a fault is a JSON object")
        with self.lock:
            fault = Fault(self.next_id, spec)
            self.next_id += 1
            self.rules.append(fault)
            return fault.id

    def remove(self, fault_id):
        with self.lock:
            before = len(self.rules)
            self.rules = [f for f in self.rules if f.id != fault_id]
            return len(self.rules) != before

    def clear(self):
        with self.lock:
            self.rules = []

    def describe(self):
        with self.lock:
            return [f.describe() for f in self.rules]

    def pick(self, req):
        """The fault to apply to this request, or None; counts what it sees."""
        if not self.rules:
            return None  # the usual case, not worth the lock
        with self.lock:
            for fault in self.rules:
                if not fault.matches(req):
                    continue
                fault.seen += 1
                if fault.seen <= fault["skip"]:
                    continue
                if fault["count"] is not None and fault.hits >= fault["count"]:
                    continue
                if fault["probability"] < 1.0 and self.random.random() >= fault["probability"]:
                    continue
                fault.hits += 1
                return fault
        return None


def replace_status_fields(value, replacement):
    """A JSON value with the status fields of the top-level object (or of each object in a top-level
    list) replaced: what a client sees when the service grows a state it does not know."""
    def fix(obj):
        if isinstance(obj, dict):
            return {k: (replacement if k in STATUS_FIELDS and isinstance(v, str) else v) for k, v in obj.items()}
        return obj
    return [fix(v) for v in value] if isinstance(value, list) else fix(value)
