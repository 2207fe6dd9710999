"""
A Spark job run, from its start to a terminal state. As a Fused job's, its life is fixed when it
starts (durations and outcome from the config then); only a cancel or a forced end changes it.
States: starting -> running -> finishing -> finished | error, or cancelling -> cancelled.
"""
import time

from .core import iso_utc

ACTIVE = ("starting", "running", "finishing", "cancelling")
# the Jobs API's status of a run in each Spark state (INFERRED)
JOBS_STATUS = {"starting": "running", "running": "running", "finishing": "running", "cancelling": "running",
               "finished": "success", "error": "failed", "cancelled": "aborted",
               "idle": "ready", "unknown": "ready"}


class SparkRun:
    def __init__(self, run_id, config, profile, started_by, created):
        self.id = run_id
        self.config = config
        self.profile = profile
        self.started_by = started_by
        self.created = created
        self.running_at = created + profile["starting"]
        self.finishing_at = self.running_at + profile["running"]
        self.end = self.finishing_at + profile["finishing"]
        self.outcome = profile["outcome"]
        self.cancel_at = None

    @property
    def config_id(self):
        return self.config["id"]

    def cancel(self, now):
        if self.cancel_at is None and now < self.end:
            self.cancel_at = now

    def finish(self, now, outcome):
        if self.cancel_at is None and now < self.end:
            self.end, self.outcome = now, outcome

    @property
    def terminal_at(self):
        return self.end if self.cancel_at is None else self.cancel_at + self.profile["cancelling"]

    def state(self, now):
        if self.cancel_at is not None:
            return "cancelling" if now < self.terminal_at else "cancelled"
        if now >= self.end:
            return self.outcome
        if now < self.running_at:
            return "starting"
        if now < self.finishing_at:
            return "running"
        return "finishing"

    def exception(self):
        return {"type": "JobExecutionError", "httpStatusCode": 500, "httpStatusMessage": "Internal Server Error",
                "message": self.profile["error"], "details": self.profile["error"],
                "job": {"type": "SPARK_JOB", "id": self.config_id}, "jobRunId": self.id}

    def status(self, now):
        state = self.state(now)
        result = {"jobConfigId": self.config_id, "jobRunId": self.id}
        if state == "error":
            result["exception"] = self.exception()
        out = {"state": state, "jobId": self.id, "jobConfig": self.config,
               "hostname": f"{self.config_id}-driver", "result": result}
        if now >= self.running_at or self.cancel_at is not None:
            out["startTime"] = iso_utc(self.created, 3)
        if state not in ACTIVE:
            out["endTime"] = iso_utc(self.terminal_at, 3)
            out["duration"] = int((self.terminal_at - self.created) * 1000)  # INFERRED: milliseconds
        return out

    def run_view(self, now):
        state = self.state(now)
        view = {"resource": f"spark:{self.config_id}", "runId": self.id, "startTime": iso_utc(self.created, 3),
                "endTime": None if state in ACTIVE else iso_utc(self.terminal_at, 3),
                "status": JOBS_STATUS[state], "extra": {}, "startedBy": self.started_by}
        if state == "error":
            view["error"] = self.exception()
        return view

    def driver_log(self, now):
        """The driver's log lines written by `now`."""
        def line(t, level, text):
            stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t)) + f",{int(t * 1000) % 1000:03d}"
            return t, f"{stamp} {level:<5} {text}"
        lines = [line(self.created, "INFO", f"SparkSubmit: submitting job config {self.config_id}, run {self.id}"),
                 line(self.created, "INFO",
                      f"KubernetesClientApplication: driver pod {self.config_id}-driver created")]
        stop = self.end if self.cancel_at is None else self.cancel_at
        if stop > self.running_at:
            lines.append(line(self.running_at, "INFO", "SparkContext: Running Spark version 3.4.1"))
            interval = self.profile["log_interval"]
            k = 1
            while self.running_at + k * interval < min(stop, self.finishing_at, now):
                lines.append(line(self.running_at + k * interval, "INFO",
                                  f"TaskSetManager: Finished task {k - 1}.0 in stage 0.0"))
                k += 1
        if self.cancel_at is not None:
            lines.append(line(self.cancel_at, "WARN", "SparkContext: job cancelled by request"))
        elif self.outcome == "error":
            lines += [line(self.end, "ERROR", text) for text in self.profile["error"].splitlines()]
        else:
            if self.end > self.finishing_at:
                lines.append(line(self.finishing_at, "INFO", "DAGScheduler: Job 0 finished"))
            lines.append(line(self.end, "INFO", "SparkContext: Successfully stopped SparkContext"))
        return [text for t, text in lines if t <= now]


