"""
A Google OAuth2 token endpoint on loopback for the tests of gcs-credentials: it takes the JWT bearer
grant (RFC 7523) as Google's https://oauth2.googleapis.com/token does, and checks everything Google
would:

  - the form: grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer and an assertion;
  - the JWT's header: alg RS256, typ JWT, kid as expected;
  - its RS256 signature (RSASSA-PKCS1-v1_5 with SHA-256), verified here in Python with the service
    account's public key (the modulus and exponent as `openssl rsa -pubin -text` prints them), so the
    check does not share code with the OpenSSL that signed it;
  - its claims: iss the service account, aud this endpoint's URL, a non-empty scope, iat within a
    minute of now, exp exactly an hour after iat.

It answers {"access_token": "tok-N", "expires_in": E, "token_type": "Bearer"}, or 400 {"error":
"invalid_grant", "error_description": why}. After every request it writes its record atomically to the
stats file: {"posts", "tokens": [{"token", "scope"}], "rejected": [why]}. POST /config {"expires_in":
E} changes the lifetime of later tokens.

    python3 token-endpoint.py --public-key PEM --email E --kid K --ready-file F --stats-file F [--expires-in N]

Once listening it writes {"url": "http://127.0.0.1:PORT/token"} to the ready file. SIGTERM stops it.
"""
import argparse
import base64
import hashlib
import hmac
import http.server
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.parse

# DER of DigestInfo { sha256, NULL }, followed by the 32-byte digest (RFC 8017 §9.2, note 1)
SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def public_key(path):
    """(n, e) of an RSA public key in PEM, read through `openssl rsa -text`."""
    text = subprocess.run(["openssl", "rsa", "-pubin", "-in", path, "-noout", "-text"], check=True,
                          capture_output=True, text=True).stdout
    modulus = re.search(r"Modulus:\s*\n((?:\s+[0-9a-f:]+\n)+)", text).group(1)
    n = int(re.sub(r"[\s:]", "", modulus), 16)
    e = int(re.search(r"Exponent: (\d+)", text).group(1))
    return n, e


def b64url_decode(part):
    if not re.fullmatch(r"[A-Za-z0-9_-]*", part):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def rs256_valid(n, e, signed, signature):
    k = (n.bit_length() + 7) // 8
    if len(signature) != k:
        return False
    m = pow(int.from_bytes(signature, "big"), e, n).to_bytes(k, "big")
    digest_info = SHA256_DIGEST_INFO + hashlib.sha256(signed).digest()
    expected = b"\x00\x01" + b"\xff" * (k - 3 - len(digest_info)) + b"\x00" + digest_info
    return hmac.compare_digest(m, expected)


class Endpoint:
    def __init__(self, args):
        self.n, self.e = public_key(args.public_key)
        self.email = args.email
        self.kid = args.kid
        self.expires_in = args.expires_in
        self.stats_file = args.stats_file
        self.url = None
        self.lock = threading.Lock()
        self.stats = {"posts": 0, "tokens": [], "rejected": []}

    def check(self, assertion):
        """The scope the assertion asks for; ValueError says what is wrong with it."""
        parts = assertion.split(".")
        if len(parts) != 3:
            raise ValueError("not a JWS of three parts")
        header = json.loads(b64url_decode(parts[0]))
        claims = json.loads(b64url_decode(parts[1]))
        if header != {"alg": "RS256", "typ": "JWT", "kid": self.kid}:
            raise ValueError(f"unexpected header {header}")
        if not rs256_valid(self.n, self.e, f"{parts[0]}.{parts[1]}".encode(), b64url_decode(parts[2])):
            raise ValueError("Invalid JWT Signature.")
        if claims.get("iss") != self.email:
            raise ValueError(f"iss {claims.get('iss')!r} is not the service account")
        if claims.get("aud") != self.url:
            raise ValueError(f"aud {claims.get('aud')!r} is not {self.url}")
        if not isinstance(claims.get("scope"), str) or not claims["scope"]:
            raise ValueError("no scope")
        iat, exp = claims.get("iat"), claims.get("exp")
        if not isinstance(iat, int) or abs(iat - time.time()) > 60:
            raise ValueError(f"iat {iat!r} is not now")
        if exp != iat + 3600:
            raise ValueError(f"exp {exp!r} is not an hour after iat")
        if set(claims) != {"iss", "scope", "aud", "iat", "exp"}:
            raise ValueError(f"unexpected claims {sorted(claims)}")
        return claims["scope"]

    def token(self, form):
        """(status, JSON reply) for a grant."""
        with self.lock:
            self.stats["posts"] += 1
            try:
                if form.get("grant_type") != [GRANT_TYPE]:
                    raise ValueError(f"grant_type {form.get('grant_type')}")
                if len(form.get("assertion", [])) != 1:
                    raise ValueError("no assertion")
                scope = self.check(form["assertion"][0])
            except (ValueError, UnicodeDecodeError, json.JSONDecodeError) as e:
                self.stats["rejected"].append(str(e))
                return 400, {"error": "invalid_grant", "error_description": str(e)}
            token = f"tok-{len(self.stats['tokens']) + 1}"
            self.stats["tokens"].append({"token": token, "scope": scope})
            return 200, {"access_token": token, "expires_in": self.expires_in, "token_type": "Bearer"}

    def save(self):
        with self.lock:
            text = json.dumps(self.stats)
        with open(self.stats_file + ".tmp", "w") as f:
            f.write(text)
        os.rename(self.stats_file + ".tmp", self.stats_file)


def handler_for(endpoint):
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def reply(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode("ascii", "replace")
            if self.path == "/config":
                endpoint.expires_in = json.loads(body)["expires_in"]
                status, answer = 200, {}
            elif self.path != "/token":
                status, answer = 404, {"error": "not_found"}
            elif self.headers.get("Content-Type") != "application/x-www-form-urlencoded":
                status, answer = 400, {"error": "invalid_request", "error_description": "not a form"}
            else:
                status, answer = endpoint.token(urllib.parse.parse_qs(body))
            endpoint.save()  # before the answer: whoever got it finds the request on record
            self.reply(status, answer)

    return Handler


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--public-key", required=True)
    p.add_argument("--email", required=True)
    p.add_argument("--kid", required=True)
    p.add_argument("--ready-file", required=True)
    p.add_argument("--stats-file", required=True)
    p.add_argument("--expires-in", type=int, default=3600)
    args = p.parse_args()

    endpoint = Endpoint(args)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler_for(endpoint))
    endpoint.url = f"http://127.0.0.1:{server.server_address[1]}/token"
    endpoint.save()
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    with open(args.ready_file + ".tmp", "w") as f:
        json.dump({"url": endpoint.url}, f)
    os.rename(args.ready_file + ".tmp", args.ready_file)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
