"""Errors as the Fused API (FastAPI) words them: {"detail": "..."}, and 422 for invalid requests."""
from .core import HttpError, Response


def detail(status, message, headers=None):
    return HttpError(Response.json(status, {"detail": message}, headers))


def invalid(loc, msg, kind="value_error"):
    """A validation error at `loc` (("body", "config"), ("query", "since_ms"), ...)."""
    return HttpError(Response.json(422, {"detail": [{"loc": list(loc), "msg": msg, "type": kind}]}))


def body_json(req):
    try:
        return req.json()
    except ValueError as e:
        raise invalid(("body",), f"JSON decode error: {e}", "value_error.jsondecode") from None
