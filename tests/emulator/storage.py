"""
The object store behind signed URLs: the emulator's stand-in for S3, on a listener (host:port) of its
own, as the real results live on another host than the API.

Objects are addressed as /<bucket>/<key>. A signed URL carries S3-style query parameters
(X-Amz-Date, X-Amz-Expires, X-Amz-Signature: an HMAC of method, path, date and lifetime) and needs
no other authentication. As S3 does, the store answers with an XML error:
  400 InvalidArgument       the request also carries an Authorization header ("only one auth
                            mechanism allowed": the reason the SDK fetches results without it)
  403 AccessDenied          no signature, or the URL has expired
  403 SignatureDoesNotMatch the signature does not fit the method, path or times
  404 NoSuchKey             no such object
Uploads are S3 presigned POSTs (multipart form with the signed policy fields), answered 204.
"""
import base64
import calendar
import email.parser
import email.policy
import hashlib
import hmac
import json
import secrets
import threading
import time
import urllib.parse

from .core import Response

AMZ_DATE = "%Y%m%dT%H%M%SZ"


def _xml_error(status, code, message, resource):
    body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
            f"<Resource>{resource}</Resource><RequestId>{secrets.token_hex(8).upper()}</RequestId></Error>")
    return Response(status, body.encode(), "application/xml")


class Storage:
    def __init__(self):
        self.lock = threading.Lock()
        self.secret = secrets.token_bytes(32)
        self.objects = {}  # "/bucket/key" -> (bytes, content type, time stored)
        self.base_url = None  # http://127.0.0.1:PORT, set once the listener is bound

    def clear(self):
        with self.lock:
            self.objects = {}

    # -- objects

    def put(self, path, data, content_type="application/octet-stream"):
        with self.lock:
            self.objects[path] = (bytes(data), content_type, time.time())

    def get(self, path):
        with self.lock:
            return self.objects.get(path)

    def delete(self, path):
        with self.lock:
            return self.objects.pop(path, None) is not None

    def under(self, prefix):
        """{path: (bytes, content type, time)} of the objects whose path starts with prefix."""
        with self.lock:
            return {p: o for p, o in self.objects.items() if p.startswith(prefix)}

    # -- signing

    def _signature(self, *parts):
        return hmac.new(self.secret, "\n".join(parts).encode(), hashlib.sha256).hexdigest()

    def sign(self, path, lifetime, method="GET"):
        """A URL for `path` that works without authentication for `lifetime` seconds."""
        date = time.strftime(AMZ_DATE, time.gmtime())
        expires = str(max(1, int(lifetime)))
        query = urllib.parse.urlencode({
            "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
            "X-Amz-Date": date,
            "X-Amz-Expires": expires,
            "X-Amz-SignedHeaders": "host",
            "X-Amz-Signature": self._signature(method, path, date, expires),
        })
        return f"{self.base_url}{urllib.parse.quote(path)}?{query}"

    def presigned_post(self, path, lifetime, max_length):
        """S3 presigned-POST form fields for uploading `path`: {"url", "fields"}."""
        bucket, key = path.lstrip("/").split("/", 1)
        expiration = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + lifetime))
        policy = base64.b64encode(json.dumps({
            "expiration": expiration,
            "conditions": [{"bucket": bucket}, {"key": key}, ["content-length-range", 0, max_length]],
        }).encode()).decode()
        return {"url": f"{self.base_url}/{bucket}",
                "fields": {"key": key, "policy": policy, "x-amz-algorithm": "AWS4-HMAC-SHA256",
                           "x-amz-signature": self._signature("POST", policy)}}

    # -- the listener

    def handle(self, req):
        path = urllib.parse.unquote(req.path)
        if req.method == "POST":
            return self._upload(req, path)
        if req.method not in ("GET", "HEAD"):
            return _xml_error(405, "MethodNotAllowed", "The specified method is not allowed", path)
        if req.header("Authorization") is not None:
            return _xml_error(400, "InvalidArgument",
                              "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, "
                              "Signature query string parameter or the Authorization header should be specified",
                              path)
        date, expires, signature = (req.arg(k) for k in ("X-Amz-Date", "X-Amz-Expires", "X-Amz-Signature"))
        if not (date and expires and signature):
            return _xml_error(403, "AccessDenied", "Access Denied", path)
        if not hmac.compare_digest(signature, self._signature("GET", path, date, expires)):
            return _xml_error(403, "SignatureDoesNotMatch",
                              "The request signature we calculated does not match the signature you provided",
                              path)
        try:
            signed_at = calendar.timegm(time.strptime(date, AMZ_DATE))
        except ValueError:
            return _xml_error(403, "AccessDenied", "X-Amz-Date must be in the ISO8601 Long Format", path)
        if time.time() > signed_at + int(expires):
            return _xml_error(403, "AccessDenied", "Request has expired", path)
        found = self.get(path)
        if found is None:
            return _xml_error(404, "NoSuchKey", "The specified key does not exist.", path)
        data, content_type, _ = found
        return Response(200, data, content_type, [("ETag", f'"{hashlib.md5(data).hexdigest()}"')])

    def _upload(self, req, path):
        ctype = req.header("Content-Type", "")
        if not ctype.startswith("multipart/form-data"):
            return _xml_error(412, "PreconditionFailed", "Bucket POST must be of the enclosure-type "
                                                         "multipart/form-data", path)
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + req.body)
        fields, data = {}, None
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if name == "file":
                data = part.get_payload(decode=True) or b""
            elif name:
                fields[name.lower()] = part.get_payload(decode=True).decode()
        policy = fields.get("policy", "")
        if not hmac.compare_digest(fields.get("x-amz-signature", ""), self._signature("POST", policy)):
            return _xml_error(403, "SignatureDoesNotMatch", "The request signature we calculated does not "
                                                            "match the signature you provided", path)
        try:
            decoded = json.loads(base64.b64decode(policy))
            expiration = calendar.timegm(time.strptime(decoded["expiration"], "%Y-%m-%dT%H:%M:%SZ"))
            conditions = decoded["conditions"]
            (key,) = [c["key"] for c in conditions if isinstance(c, dict) and "key" in c]
            (max_length,) = [c[2] for c in conditions if isinstance(c, list) and c[0] == "content-length-range"]
        except (ValueError, KeyError, TypeError, IndexError):
            return _xml_error(400, "InvalidPolicyDocument", "Invalid Policy", path)
        if time.time() > expiration:
            return _xml_error(403, "AccessDenied", "Invalid according to Policy: Policy expired.", path)
        if data is None:
            return _xml_error(400, "InvalidArgument", "POST requires exactly one file upload per request.", path)
        if fields.get("key") != key:
            return _xml_error(403, "AccessDenied", "Invalid according to Policy: Policy Condition failed: "
                                                   f'["eq", "$key", "{key}"]', path)
        if len(data) > max_length:
            return _xml_error(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size", path)
        self.put(f"{path.rstrip('/')}/{fields['key']}", data)
        return Response(204)
