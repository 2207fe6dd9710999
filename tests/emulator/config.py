"""
The emulator's behaviour, as one JSON object: credentials, durations, outcomes, canned UDF results.
A config file (--config) and PATCH /_emulator/config merge into DEFAULTS (objects merge key by key,
other values replace); unknown keys are errors, so a typo never goes unnoticed. Durations are in
seconds.

A config file may also hold "faults" (a list of fault rules, see faults.py) and "seed": saved UDFs
({"slug", "code" or "code_file" relative to the file, "entrypoint", "parameters", "token": a
shared token to create for it}) and "spark_configurations" (Fusion job configs) created at start
and after every reset.
"""
import copy

from .udfs import check_rules

DEFAULTS = {
    "auth": {
        "fused_tokens": ["emu-fused-token"],  # Authorization: Bearer <token>
        "fusion_users": {"admin": "emu-password"},  # Basic, and POST /api/session
        "fusion_api_keys": ["emu-api-key"],  # x-api-key, apiKey header or ?apiKey=
        "fusion_session_idle": 1800.0,  # a session cookie expires after this long unused
        "fusion_jwt_lifetime": 1800.0,  # expires_in of POST /oauth2/token
    },
    "signed_url_lifetime": 300.0,
    "fused": {
        "user": {"id": "0b5c7a1e-2f3d-4c5b-9a8e-7d6c5b4a3f21", "email": "user@emulator.test",
                 "name": "Emulator User", "handle": "emulator-user"},
        "team": {"id": "emu-team", "name": "Emulator team", "token": "emu-team-token"},
        "realtime_instances": [{"client_id": "emu-rt-1", "preference_rank": 1},
                               {"client_id": "emu-rt-2", "preference_rank": 2}],
        # a batch job: pending, then running, then its instance shuts down; every log_interval a
        # tick of log_lines_per_tick lines (log_messages cycled, or "task i/n ..." lines)
        "job": {"pending": 1.0, "running": 3.0, "shutdown": 0.5, "outcome": "succeeded",
                "error": "ValueError: emulated task failure", "log_interval": 0.5, "log_lines_per_tick": 1,
                "log_messages": [], "log_page_limit": 1000, "results": None},
        "jobs": {},  # job name -> overrides of "job"
        # GET /job/self items are JobResponse, which has no name (the contract): a client that looks
        # for its job by name reads each job's config. True adds job_name to the items, as a service
        # might one day; the daemon then needs no config.
        "job_list_names": False,
        "udfs": {},  # UDF name -> canned rule(s), see udfs.py
        "realtime": {"error_status": 500, "start_wait": 2.0, "exec_timeout": 60.0, "redirect": False,
                     "cache_max_age": 14 * 86400.0},
    },
    "fusion": {
        # a Spark job run: starting, running, finishing, then finished or error; a cancel passes
        # through cancelling; a driver log line every log_interval
        "job": {"starting": 1.0, "running": 3.0, "finishing": 0.5, "cancelling": 0.5, "outcome": "finished",
                "error": "org.apache.spark.SparkException: Job aborted due to stage failure (emulated)",
                "log_interval": 0.5},
        "jobs": {},  # config id -> overrides of "job"
        "reject_trailing_slash": True,  # as Fusion 5.9.11+: a path ending in / is 404
        "driver_log": True,  # false: /spark/driver/log answers 404, as on Fusion 4
    },
}
OUTCOMES = {"fused": ("succeeded", "failed"), "fusion": ("finished", "error")}
# maps whose keys are names (of jobs, UDFs, users), each value checked against a template
NAMED = {("fused", "jobs"): ("fused", "job"), ("fusion", "jobs"): ("fusion", "job"),
         ("fused", "udfs"): None, ("auth", "fusion_users"): None}


def _at(path):
    node = DEFAULTS
    for key in path:
        node = node[key]
    return node


def _check_value(value, template, path):
    where = ".".join(path)
    if isinstance(template, dict):
        if not isinstance(value, dict):
            raise ValueError(f"{where}: expected an object")
        check(value, template, path)
    elif isinstance(template, bool):
        if not isinstance(value, bool):
            raise ValueError(f"{where}: expected true or false")
    elif isinstance(template, (int, float)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ValueError(f"{where}: expected a non-negative number")
    elif isinstance(template, str) and not isinstance(value, str):
        raise ValueError(f"{where}: expected a string")
    elif isinstance(template, list) and not isinstance(value, list):
        raise ValueError(f"{where}: expected a list")


def check(patch, template=DEFAULTS, path=()):
    """ValueError naming the key when `patch` does not fit `template` (DEFAULTS or the part of it at
    `path`)."""
    for key, value in patch.items():
        at = path + (key,)
        if path in NAMED:
            if path == ("fused", "udfs"):
                check_rules(key, value)
            elif NAMED[path] is None:
                if not isinstance(value, str):
                    raise ValueError(f"{'.'.join(at)}: expected a string")
            else:
                _check_value(value, _at(NAMED[path]), at)
            continue
        if key not in template:
            raise ValueError(f"unknown config key {'.'.join(at)}")
        _check_value(value, template[key], at)
        if key == "outcome" and value not in OUTCOMES[path[0]]:
            raise ValueError(f"{'.'.join(at)}: one of {', '.join(OUTCOMES[path[0]])}")
        if key == "log_interval" and value < 0.01:
            raise ValueError(f"{'.'.join(at)}: at least 0.01 s")


def defaults():
    return copy.deepcopy(DEFAULTS)
