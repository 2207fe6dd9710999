# udfcron's local UDF runner. udfcrond embeds this file and runs it as
#   python3 -c <this file> UDF_PATH ENTRYPOINT
# with the run's parameters as a JSON object on stdin. It imports the UDF
# file, calls the entrypoint with the parameters as keyword arguments, and
# writes the return value as JSON to file descriptor 3. print() output and
# tracebacks go to stdout/stderr, which udfcrond forwards to the journal.
#
# Exit status: 0 success, 1 the UDF raised, 2 the UDF could not be loaded or
# called (missing file, no such entrypoint, bad parameters), 3 the result is
# not JSON-serialisable.
#
# UDFs written for Fused (`import fused`, `@fused.udf`) run unchanged as far
# as the standard library allows: a small `fused` module is provided when the
# real SDK is not installed.

import datetime
import decimal
import functools
import importlib.util
import inspect
import json
import os
import sys
import traceback
import types


def _make_fused_module():
    fused = types.ModuleType("fused")
    fused.__doc__ = "udfcron's stand-in for the Fused SDK: enough to run UDFs locally."
    fused.__udfcron_shim__ = True

    def udf(fn=None, **options):
        """@fused.udf or @fused.udf(cache_max_age=..., ...): marks a UDF; options are accepted and kept."""
        def wrap(f):
            f.__fused_udf_options__ = options
            return f
        return wrap(fn) if callable(fn) else wrap

    def cache(fn=None, **options):
        """@fused.cache: memoises within this run (there is no cross-run cache locally)."""
        def wrap(f):
            memo = functools.lru_cache(maxsize=None)(f)

            @functools.wraps(f)
            def call(*args, **kwargs):
                try:
                    return memo(*args, **kwargs)
                except TypeError:  # unhashable arguments: just call it
                    return f(*args, **kwargs)
            return call
        return wrap(fn) if callable(fn) else wrap

    def submit(fn, arg_list, *, max_workers=None, collect=True, **_options):
        """fused.submit run locally: calls fn once per argument set, in order."""
        results = []
        for args in arg_list:
            if isinstance(args, dict):
                results.append(fn(**args))
            elif isinstance(args, (list, tuple)):
                results.append(fn(*args))
            else:
                results.append(fn(args))
        return results if collect else iter(results)

    def run(*_args, **_kwargs):
        raise RuntimeError("fused.run needs the Fused service: use the `fused` engine "
                           "or install the fused package")

    fused.udf = udf
    fused.cache = cache
    fused.submit = submit
    fused.run = run
    fused.options = types.SimpleNamespace(default_udf_run_engine="local")
    return fused


def _json_default(value):
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    for attr in ("to_dict", "tolist", "to_json"):  # pandas, numpy, geopandas when present
        if hasattr(value, attr):
            out = getattr(value, attr)()
            return json.loads(out) if attr == "to_json" else out
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _fail(status, message):
    print(f"udfcron: {message}", file=sys.stderr)
    sys.exit(status)


def main():
    if len(sys.argv) != 3:
        _fail(2, "usage: udf-runner UDF_PATH ENTRYPOINT")
    path, entrypoint = sys.argv[1], sys.argv[2]

    try:
        import fused  # noqa: F401  (the real SDK wins when installed)
    except ImportError:
        sys.modules["fused"] = _make_fused_module()

    try:
        params = json.loads(sys.stdin.read() or "{}")
    except ValueError as e:
        _fail(2, f"parameters are not JSON: {e}")
    if not isinstance(params, dict):
        _fail(2, "parameters must be a JSON object")

    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    spec = importlib.util.spec_from_file_location("__udf__", path)
    if spec is None or spec.loader is None:
        _fail(2, f"{path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except FileNotFoundError:
        _fail(2, f"{path}: no such file")
    except Exception:
        traceback.print_exc()
        _fail(1, f"{path}: raised while loading")

    fn = getattr(module, entrypoint, None)
    if not callable(fn):
        _fail(2, f"{path}: no function '{entrypoint}'")

    # Pass only parameters the function accepts, unless it takes **kwargs.
    signature = inspect.signature(fn)
    takes_any = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
    kwargs = {k: v for k, v in params.items() if takes_any or k in signature.parameters}
    try:
        signature.bind(**kwargs)
    except TypeError as e:
        _fail(2, f"{entrypoint}(): {e}")

    try:
        result = fn(**kwargs)
    except Exception:
        traceback.print_exc()
        _fail(1, f"{entrypoint}() raised")

    try:
        encoded = json.dumps(result, default=_json_default)
    except (TypeError, ValueError) as e:
        _fail(3, f"{entrypoint}() returned a value that is not JSON: {e}")

    sys.stdout.flush()
    with os.fdopen(3, "w", encoding="utf-8") as out:
        out.write(encoded)


main()
