"""
What a realtime UDF run returns. The emulator runs no posted code unless started with --exec-udfs;
in order:

1. A canned result, when config `fused.udfs` has rules for the UDF's name: the first rule whose
   `when` (parameter name -> value; values compared as the UDF received them) matches. A rule:
     result       JSON value returned (application/json), or `text` / `base64` with `content_type`
     stdout, stderr
     exception    {"class", "message", "lineno"}: a UDF error (x-fused-metadata, fused.realtime.error_status)
     platform_error  a message: answered with x-fused-error and status 503 (or `status`)
     status       the HTTP status (default 200, or the error status above)
     delay        seconds the run takes
     redirect     answer with a redirect to a signed URL holding the result
2. With --exec-udfs and UDF code at hand (posted, or saved through /udf/new): the code runs in a
   child process through udfcron's own local runner (daemon/udf-runner.py), so a UDF behaves as on
   the `local` engine: its print() output becomes stdout, a raised exception a UDF error with its
   class, message and line. GET forms pass parameters as the strings of the query (the real service
   casts them by the UDF's annotations; INFERRED), POSTed code gets the JSON values.
3. Otherwise an echo: {"udf": name, "parameters": {...}} (plus "tile" {z, x, y}), with the
   parameters exactly as received, so tests can check how a client encoded them, and one stdout line.
"""
import base64
import json
import os
import shlex
import subprocess
import tempfile
import time
from pathlib import Path

RUNNER = Path(__file__).resolve().parents[2] / "daemon" / "udf-runner.py"
RULE_KEYS = {"when", "result", "text", "base64", "content_type", "stdout", "stderr", "exception",
             "platform_error", "status", "delay", "redirect"}


class UdfCall:
    def __init__(self, name, parameters, code=None, entrypoint="udf", tile=None):
        self.name = name
        self.parameters = parameters
        self.code = code
        self.entrypoint = entrypoint or "udf"
        self.tile = tile  # (z, x, y) or None


class Outcome:
    """A run's result: body and content type, captured output, and what went wrong if anything."""

    def __init__(self, body=b"", content_type="application/json", stdout="", stderr="", exception=None,
                 platform_error=None, status=None, redirect=False):
        self.body = body
        self.content_type = content_type
        self.stdout = stdout
        self.stderr = stderr
        self.exception = exception  # {"class", "message", "lineno"} or None
        self.platform_error = platform_error
        self.status = status
        self.redirect = redirect

    def metadata(self):
        """The x-fused-metadata header's JSON object."""
        e = self.exception
        return {
            "stdout": self.stdout,
            "stderr": self.stderr,
            "exception_class": e and e.get("class"),
            "has_exception": e is not None,
            "lineno": e and e.get("lineno"),
            "errormsg": e and e.get("message"),
            "exception": e and f"{e.get('class')}: {e.get('message')}",
            "error_type": e and "udf_error",  # INFERRED: the vocabulary is unknown
            "profile": None,
        }


def check_rules(name, rules):
    """ValueError unless `rules` (one rule or a list) are valid rules for UDF `name`."""
    for rule in rules if isinstance(rules, list) else [rules]:
        if not isinstance(rule, dict):
            raise ValueError(f"fused.udfs.{name}: a rule is a JSON object")
        unknown = set(rule) - RULE_KEYS
        if unknown:
            raise ValueError(f"fused.udfs.{name}: unknown key(s) {', '.join(sorted(unknown))}")
        if "when" in rule and not isinstance(rule["when"], dict):
            raise ValueError(f"fused.udfs.{name}: `when` maps parameter names to values")


def _canned(rule):
    if "base64" in rule:
        body, ctype = base64.b64decode(rule["base64"]), rule.get("content_type", "application/octet-stream")
    elif "text" in rule:
        body, ctype = rule["text"].encode(), rule.get("content_type", "text/plain; charset=utf-8")
    elif "result" in rule:
        body = b"" if rule["result"] is None else json.dumps(rule["result"]).encode()
        ctype = rule.get("content_type", "application/json")
    else:
        body, ctype = b"", "application/json"
    return Outcome(body, ctype, rule.get("stdout", ""), rule.get("stderr", ""), rule.get("exception"),
                   rule.get("platform_error"), rule.get("status"), bool(rule.get("redirect")))


def _echo(call):
    value = {"udf": call.name, "parameters": call.parameters}
    if call.tile:
        value["tile"] = dict(zip("zxy", call.tile))
    line = f"{call.name} called with {json.dumps(call.parameters, sort_keys=True)}\n"
    return Outcome(json.dumps(value).encode(), stdout=line)


def _exception_from(stderr, path):
    """Class, message and line of the UDF's exception, from the runner's stderr: a traceback ending in
    "Class: message", then the runner's own "udfcron: ..." line (alone when the UDF could not even be
    called, or returned something that is not JSON)."""
    lines = stderr.splitlines()
    runner = [i for i, line in enumerate(lines) if line.startswith("udfcron: ")]
    frames = [line for line in lines if line.startswith(f'  File "{path}", line ')]
    lineno = int(frames[-1].split(", line ")[1].split(",")[0]) if frames else None
    if "Traceback (most recent call last):" in lines and runner and runner[-1] > 0:
        klass, _, message = lines[runner[-1] - 1].partition(":")
        return {"class": klass.strip(), "message": message.strip(), "lineno": lineno}
    message = lines[runner[-1]][len("udfcron: "):] if runner else stderr.strip()
    return {"class": "UdfError", "message": message, "lineno": lineno}


def _execute(call, python, timeout):
    with tempfile.TemporaryDirectory(prefix="udfcron-emulator-") as workdir:
        path = os.path.join(workdir, "udf.py")
        result = os.path.join(workdir, "result.json")
        with open(path, "w") as f:
            f.write(call.code)
        # the runner writes its result to descriptor 3
        argv = ["/bin/sh", "-c", f'exec "$0" "$@" 3>{shlex.quote(result)}', python, str(RUNNER), path,
                call.entrypoint]
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                cwd=workdir, env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8",
                                                  "PYTHONDONTWRITEBYTECODE": "1"})
        try:
            out, err = proc.communicate(json.dumps(call.parameters).encode(), timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            return Outcome(platform_error=f"UDF run timed out after {timeout:g}s")
        stdout, stderr = out.decode(errors="replace"), err.decode(errors="replace")
        if proc.returncode != 0:
            return Outcome(stdout=stdout, stderr=stderr, exception=_exception_from(stderr, path))
        with open(result, "rb") as f:
            body = f.read()
        return Outcome(b"" if body == b"null" else body, stdout=stdout, stderr=stderr)


def evaluate(call, rules, exec_timeout=None, python="/usr/bin/python3"):
    """The outcome of `call`. `rules`: the canned rules for its name (or None); `exec_timeout`: run
    posted code with this timeout (None: never run code)."""
    for rule in (rules if isinstance(rules, list) else [rules]) if rules else []:
        if all(call.parameters.get(k) == v for k, v in rule.get("when", {}).items()):
            if rule.get("delay"):
                time.sleep(float(rule["delay"]))
            return _canned(rule)
    if exec_timeout is not None and call.code is not None:
        return _execute(call, python, exec_timeout)
    return _echo(call)
