"""
storage-s3 end to end: the real plugin in udfcronctl and udfcrond against a real S3 server on loopback
(tests/support/s3-server: @20minutes/s3rver, which checks every request's AWS Signature Version 4 and
every presigned URL's), credentials from the systemd credentials directory through ${secret:NAME}.

- `udfcronctl storage put/get/ls/rm/sign` on s3:// and gs:// URLs; a presigned URL works without
  credentials, and stops working when tampered with;
- wrong credentials fail with the server's own explanation, and the secret appears nowhere;
- a listing longer than S3's 1000-key page is read page by page, whole and in order;
- a schedule's `output = "s3://..."` stores its result there.
"""
import datetime
import hashlib
import hmac
import http.client
import os
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from conftest import BUILD, conf_value

PLUGINS = BUILD / "plugins"
S3_SERVER = BUILD / "node" / "s3-server.js"
BUCKET = "udfcron-test"
GS_BUCKET = "udfcron-gs"
KEY_ID = "AKIDUDFCRONTEST"
SECRET = "s3cr3t/Kz+9bq2-udfcron"
OTHER_KEY_ID = "AKIDOTHER"


class S3Server:
    """The node process, its port, and a small SigV4 client of our own for setting up and checking."""

    def __init__(self, root):
        assert S3_SERVER.exists(), f"{S3_SERVER} is missing: run make check (it installs the S3 server)"
        root.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            ["node", "--openssl-legacy-provider", str(S3_SERVER), "--directory", str(root), "--bucket", BUCKET, "--bucket", GS_BUCKET,
             "--key", f"{KEY_ID}:{SECRET}", "--key", f"{OTHER_KEY_ID}:other-secret"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        assert line.strip().isdigit(), f"the S3 server did not start: {line!r} {self.proc.stderr.read()}"
        self.port = int(line)
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)

    def stop(self):
        self.conn.close()
        self.proc.stdin.close()  # it exits when its stdin does
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def request(self, method, path, body=b"", query="", key_id=KEY_ID, secret=SECRET):
        """A SigV4-signed request (path-style, path and query already encoded); returns (status, body)."""
        now = datetime.datetime.now(datetime.timezone.utc)
        stamp, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
        host = f"127.0.0.1:{self.port}"
        payload = hashlib.sha256(body).hexdigest()
        headers = {"host": host, "x-amz-content-sha256": payload, "x-amz-date": stamp}
        signed = ";".join(sorted(headers))
        canonical = "\n".join([method, path, query, *(f"{h}:{headers[h]}" for h in sorted(headers)), "",
                               signed, payload])
        scope = f"{day}/us-east-1/s3/aws4_request"
        to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
        k = f"AWS4{secret}".encode()
        for part in (day, "us-east-1", "s3", "aws4_request"):
            k = hmac.new(k, part.encode(), hashlib.sha256).digest()
        signature = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
        headers["authorization"] = (f"AWS4-HMAC-SHA256 Credential={key_id}/{scope}, SignedHeaders={signed}, "
                                    f"Signature={signature}")
        del headers["host"]
        for attempt in (1, 2):  # the server closes idle connections after 5 s
            try:
                self.conn.request(method, path + (f"?{query}" if query else ""), body=body, headers=headers)
                reply = self.conn.getresponse()
                return reply.status, reply.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.conn.close()
                if attempt == 2:
                    raise

    def put(self, key, body):
        status, text = self.request("PUT", f"/{BUCKET}/{urllib.parse.quote(key, safe='/~')}", body)
        assert status == 200, text

    def get(self, key, bucket=BUCKET):
        return self.request("GET", f"/{bucket}/{urllib.parse.quote(key, safe='/~')}")


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    server = S3Server(tmp_path_factory.mktemp("s3") / "data")
    yield server
    server.stop()


def s3_options(s3):
    """storage-s3's block for the test server: s3:// and gs:// both, credentials through ${secret:...}."""
    return {"endpoint": s3.endpoint, "path_style": True,
            "access_key_id": "${secret:s3_key_id}", "secret_access_key": "${secret:s3_secret}",
            "gs_endpoint": s3.endpoint,
            "gs_access_key_id": "${secret:s3_key_id}", "gs_secret_access_key": "${secret:s3_secret}"}


def credentials(root, key_id=KEY_ID, secret=SECRET):
    """A systemd credentials directory with the two secrets; returns its path."""
    creds = root / "credentials"
    creds.mkdir(mode=0o700, exist_ok=True)
    (creds / "s3_key_id").write_text(key_id)
    (creds / "s3_secret").write_text(secret + "\n")
    return str(creds)


def configure(root, s3, **creds):
    """udfcrond.conf with storage-s3 on the test server. Returns (its path, the environment for udfcronctl)."""
    (root / "schedules.d").mkdir(exist_ok=True)
    conf = root / "udfcrond.conf"
    conf.write_text(f"plugin_directories = {conf_value([str(PLUGINS)])};\n"
                    f"storage = {conf_value({'s3': s3_options(s3)})};\n")
    return str(conf), {**os.environ, "CREDENTIALS_DIRECTORY": credentials(root, **creds)}


def storage(ctl, conf, env, *args, **kwargs):
    return ctl("storage", "--config", conf, *args, env=env, **kwargs)


def listing(res):
    """`ls` lines as (size, url)."""
    assert res.status == 0, res.err
    return [tuple(line.split(None, 2)[1:]) for line in res.lines]


def messages(res):
    """stderr's lines without the timestamps of the plugins' log lines."""
    return [line.split(" ", 1)[1] if line[:1].isdigit() else line for line in res.err.splitlines()]


# ---------------------------------------------------------------- udfcronctl storage

def test_put_get_ls_rm(tmp_path, ctl, s3):
    conf, env = configure(tmp_path, s3)
    base = f"s3://{BUCKET}/ctl"
    url = f"{base}/reports/2024/a b+c.csv"

    res = storage(ctl, conf, env, "put", url, input="x,y\n1,2\n")
    assert (res.status, res.out, res.err) == (0, "", "")
    assert s3.get("ctl/reports/2024/a b+c.csv") == (200, b"x,y\n1,2\n")  # what the server holds
    blob = bytes(range(256)) * 4096  # 1 MiB, every byte value
    (tmp_path / "blob.bin").write_bytes(blob)
    assert storage(ctl, conf, env, "put", f"{base}/reports/2024/blob.bin", str(tmp_path / "blob.bin")).status == 0

    res = storage(ctl, conf, env, "get", url)
    assert (res.status, res.out) == (0, "x,y\n1,2\n")
    res = storage(ctl, conf, env, "get", f"{base}/reports/2024/blob.bin", "--output", str(tmp_path / "copy"))
    assert res.status == 0 and (tmp_path / "copy").read_bytes() == blob
    res = storage(ctl, conf, env, "get", f"{base}/reports/2024/blob.bin", "--max-size", "1000")
    assert res.status == 1 and res.err.endswith("File too large\n")

    assert listing(storage(ctl, conf, env, "ls", f"{base}/reports/2024/")) == [
        ("8", url), (str(len(blob)), f"{base}/reports/2024/blob.bin")]
    # a "directory" without its slash lists the same; its parents show it as a directory
    assert listing(storage(ctl, conf, env, "ls", f"{base}/reports/2024")) == [
        ("8", url), (str(len(blob)), f"{base}/reports/2024/blob.bin")]
    assert listing(storage(ctl, conf, env, "ls", f"{base}/reports")) == [("-", f"{base}/reports/2024/")]
    # (the test server finds a "directory" only through an object right inside it, where S3 finds any)
    assert storage(ctl, conf, env, "put", f"{base}/readme.txt", input="hi").status == 0
    assert ("-", f"{base}/") in listing(storage(ctl, conf, env, "ls", f"s3://{BUCKET}"))
    assert listing(storage(ctl, conf, env, "ls", f"{base}/nothing-here/")) == []

    assert storage(ctl, conf, env, "rm", url).status == 0
    assert s3.get("ctl/reports/2024/a b+c.csv")[0] == 404
    res = storage(ctl, conf, env, "rm", url)
    assert (res.status, res.err) == (1, f"udfcronctl storage: rm {url}: No such file or directory\n")
    res = storage(ctl, conf, env, "get", url)
    assert (res.status, res.out) == (1, "")
    assert res.err.endswith(f"udfcronctl storage: get {url}: No such file or directory\n")

    # what S3 cannot hold, or names a bucket: refused before any request
    for bad in (f"s3://{BUCKET}/a/../b", "s3://Not_A_Bucket/k"):
        res = storage(ctl, conf, env, "put", bad, input="x")
        assert res.status == 1 and "not s3://BUCKET/KEY" in res.err
    res = storage(ctl, conf, env, "get", f"s3://{BUCKET}/")
    assert res.status == 1 and "names a bucket, not an object" in res.err
    res = storage(ctl, conf, env, "get", "s3://no-such-bucket/k")
    assert res.status == 1 and "NoSuchBucket" in res.err


def test_gs_urls(tmp_path, ctl, s3):
    """gs:// goes to gs_endpoint with the gs_ credentials, signed for the region "auto" as GCS's XML API wants."""
    conf, env = configure(tmp_path, s3)
    url = f"gs://{GS_BUCKET}/out/result.json"
    assert storage(ctl, conf, env, "put", url, input='{"ok": true}').status == 0
    assert s3.get("out/result.json", bucket=GS_BUCKET) == (200, b'{"ok": true}')
    assert storage(ctl, conf, env, "get", url).out == '{"ok": true}'
    assert listing(storage(ctl, conf, env, "ls", f"gs://{GS_BUCKET}/out/")) == [("12", url)]


def test_sign(tmp_path, ctl, s3):
    """A presigned URL reads the object without credentials until it expires; the server checks its
    signature, so a tampered one is refused."""
    conf, env = configure(tmp_path, s3)
    s3.put("signed/report.csv", b"a,b\n")
    res = storage(ctl, conf, env, "sign", f"s3://{BUCKET}/signed/report.csv", "--expires", "10m")
    assert res.status == 0, res.err
    signed = res.out.strip()
    assert signed.startswith(f"{s3.endpoint}/{BUCKET}/signed/report.csv?X-Amz-Algorithm=AWS4-HMAC-SHA256")
    assert "X-Amz-Expires=600&" in signed and SECRET not in signed
    assert urllib.request.urlopen(signed, timeout=10).read() == b"a,b\n"

    tampered = signed.replace("report.csv", "other.csv")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(tampered, timeout=10)
    assert refused.value.code == 403 and b"SignatureDoesNotMatch" in refused.value.read()

    res = storage(ctl, conf, env, "sign", f"s3://{BUCKET}/signed/report.csv", "--expires", "1s")
    time.sleep(2.1)
    with pytest.raises(urllib.error.HTTPError) as expired:
        urllib.request.urlopen(res.out.strip(), timeout=10)
    assert expired.value.code == 403 and b"Request has expired" in expired.value.read()


def test_wrong_credentials_fail_clearly(tmp_path, ctl, s3):
    """A wrong secret or an unknown key id: the server's code and message, EACCES, and the secret nowhere;
    a secret no provider has: said so, before any request."""
    wrong = "not-the-secret-42"
    conf, env = configure(tmp_path, s3, secret=wrong)
    url = f"s3://{BUCKET}/denied.txt"
    res = storage(ctl, conf, env, "put", url, input="x")
    assert res.status == 1
    assert messages(res) == [
        f"storage/s3: put {url}: SignatureDoesNotMatch: The request signature we calculated does not match the "
        "signature you provided. Check your key and signing method. (HTTP 403)",
        f"udfcronctl storage: put {url}: Permission denied"]
    assert wrong not in res.err + res.out
    assert s3.get("denied.txt")[0] == 404

    conf, env = configure(tmp_path, s3, key_id="AKIDNOBODY")
    res = storage(ctl, conf, env, "get", url)
    assert res.status == 1 and "InvalidAccessKeyId: The AWS Access Key Id you provided does not exist" in res.err

    os.unlink(tmp_path / "credentials" / "s3_secret")
    res = storage(ctl, conf, env, "ls", f"s3://{BUCKET}/")
    assert res.status == 1
    assert "storage/s3: secret_access_key: cannot look up ${secret:s3_secret}: No such file or directory" in res.err


def test_config_refuses_an_inline_secret(tmp_path, ctl, s3):
    conf, env = configure(tmp_path, s3)
    text = Path(conf).read_text().replace("${secret:s3_secret}", "inline-secret", 1)
    Path(conf).write_text(text)
    res = storage(ctl, conf, env, "ls", f"s3://{BUCKET}/")
    assert res.status == 1
    assert "secret_access_key: write \"${secret:NAME}\"" in res.err and "inline-secret" not in res.err


def test_listing_longer_than_a_page(tmp_path, ctl, s3):
    """S3 returns at most 1000 keys a page: 1003 objects and 2 directories come back whole, in order, once each."""
    conf, env = configure(tmp_path, s3)
    keys = [f"paged/obj-{i:04d}" for i in range(1003)] + ["paged/dir-a/x", "paged/dir-b/y"]
    for k in keys:
        s3.put(k, b"z")
    rows = listing(storage(ctl, conf, env, "ls", f"s3://{BUCKET}/paged/"))
    expected = sorted([("1", f"s3://{BUCKET}/{k}") for k in keys[:1003]]
                      + [("-", f"s3://{BUCKET}/paged/dir-a/"), ("-", f"s3://{BUCKET}/paged/dir-b/")],
                      key=lambda r: r[1])
    assert rows == expected


# ---------------------------------------------------------------- the daemon

def test_schedule_output_goes_to_s3(daemon, tmp_path, s3):
    """A command's stdout lands at its expanded s3:// output, byte for byte; the secret stays out of the
    journal."""
    since = time.time() - 1
    d = daemon([{"name": "report", "cron": "* * * * * *", "command": ["/usr/bin/printf", "rows=%s\\n", "42"],
                 "output": f"s3://{BUCKET}/runs/${{schedule}}/${{run_id}}.txt"}],
               settings={"plugin_directories": [str(PLUGINS)], "storage": {"s3": s3_options(s3)}},
               env={"CREDENTIALS_DIRECTORY": credentials(tmp_path)})
    recs = d.wait_records(lambda rs: [r for r in rs if r.get("UDFCRON_EVENT") == "finished"], 20,
                          "a finished run", "report")
    run_id = next(r for r in recs if r.get("UDFCRON_EVENT") == "finished")["UDFCRON_RUN_ID"]
    assert s3.get(f"runs/{d.name('report')}/{run_id}.txt") == (200, b"rows=42\n")
    assert SECRET not in d.journald.query(f"--since=@{int(since)}")
