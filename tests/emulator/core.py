"""What every part of the emulator shares: requests, responses, errors, routing and time formats."""
import datetime
import functools
import json
import re
import secrets
import string
import time
import urllib.parse


class Headers:
    """A request's header fields in their order, as sent; a lookup ignores case and finds the first."""

    def __init__(self, fields):
        self.fields = fields  # (name, value) pairs
        self.first = {}
        for name, value in fields:
            self.first.setdefault(name.lower(), value)

    def get(self, name, default=None):
        return self.first.get(name.lower(), default)


class Request:
    """One HTTP request as the services see it: path (still percent-encoded), query, headers, body."""

    def __init__(self, listener, method, target, headers, body, client):
        if target.startswith("/") and not target.startswith("//"):  # origin form, as clients send it
            path, _, query = target.partition("#")[0].partition("?")
        else:
            split = urllib.parse.urlsplit(target)
            path, query = split.path, split.query
        self.listener = listener  # "main" or "storage"
        self.method = method
        self.target = target
        self.path = path
        self.raw_query = query
        self.headers = headers  # Headers
        self.body = body
        self.client = client
        self.time = time.time()

    @functools.cached_property
    def query(self):
        return urllib.parse.parse_qs(self.raw_query, keep_blank_values=True)

    def arg(self, name, default=None):
        values = self.query.get(name)
        return values[0] if values else default

    def header(self, name, default=None):
        return self.headers.get(name, default)

    def json(self):
        """The body as JSON; ValueError when it is not."""
        return json.loads(self.body.decode("utf-8"))


class Response:
    """A complete response. Faults may deliver it badly (slowly, cut short, reset)."""

    def __init__(self, status, body=b"", content_type=None, headers=None):
        self.status = status
        self.body = body
        self.headers = list(headers or [])
        if content_type is not None:
            self.headers.insert(0, ("Content-Type", content_type))

    @classmethod
    def json(cls, status, value, headers=None):
        return cls(status, json.dumps(value).encode(), "application/json", headers)

    @classmethod
    def text(cls, status, text, content_type="text/plain; charset=utf-8", headers=None):
        return cls(status, text.encode(), content_type, headers)

    def header(self, name):
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def set_header(self, name, value):
        self.headers = [(k, v) for k, v in self.headers if k.lower() != name.lower()]
        self.headers.append((name, value))


class HttpError(Exception):
    """Raised by a handler to answer with `response` instead."""

    def __init__(self, response):
        super().__init__(response.status)
        self.response = response


class Route:
    def __init__(self, method, pattern, name, handler, blocking):
        self.method = method
        self.regex = re.compile(pattern + r"\Z")
        self.name = name
        self.handler = handler
        self.blocking = blocking  # its answer may take time (see http1.Connection.in_thread)


class Router:
    """Routes by method and a regex over the path; path parameters are percent-decoded."""

    MEMO_MAX = 65536  # paths remembered: a job is polled at the same ones all its life

    def __init__(self):
        self.routes = []
        self.memo = {}  # (method, path) -> what match() answered

    def add(self, method, pattern, name, handler, blocking=False):
        self.routes.append(Route(method, pattern, name, handler, blocking))
        self.memo = {}

    def match(self, method, path):
        """(route, params), or (None, methods allowed on this path: empty when the path is unknown).
        The answer may be one given before: not to be modified."""
        key = (method, path)
        found = self.memo.get(key)
        if found is None:
            if len(self.memo) >= self.MEMO_MAX:
                self.memo = {}
            found = self.memo[key] = self._match(method, path)
        return found

    def _match(self, method, path):
        allowed = []
        for route in self.routes:
            m = route.regex.match(path)
            if not m:
                continue
            if route.method == method or (method == "HEAD" and route.method == "GET"):
                return route, {k: urllib.parse.unquote(v) for k, v in m.groupdict().items()}
            allowed.append(route.method)
        return None, tuple(allowed)


# ---------------------------------------------------------------- time and ids

def iso_utc(t, digits=6):
    """An ISO-8601 UTC time ending in Z, with `digits` fractional digits (3, 6 or 9)."""
    if t is None:
        return None
    text = datetime.datetime.fromtimestamp(t, datetime.timezone.utc).isoformat(timespec="microseconds")
    return text[:19] + (f".{(text[20:26] + '000')[:digits]}" if digits else "") + "Z"  # of ...T12:34:56.789012+00:00


def http_date(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%a, %d %b %Y %H:%M:%S GMT")


def random_id(length, alphabet=string.ascii_lowercase + string.digits):
    """`length` characters of `alphabet`, each as likely as the others, from one draw of the system's
    randomness (not one per character)."""
    n = secrets.randbelow(len(alphabet) ** length)
    chars = []
    for _ in range(length):
        n, digit = divmod(n, len(alphabet))
        chars.append(alphabet[digit])
    return "".join(chars)


def deep_merge(base, patch):
    """A copy of dict `base` with dict `patch` merged in: nested dicts merge, other values replace."""
    out = dict(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out
