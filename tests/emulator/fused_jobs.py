"""
A Fused batch job, from POST /run to its instance's end. Its whole life is fixed when it starts
(durations and outcome from the config then), so every answer is computed from the clock; only a
cancel or a forced end (admin) moves its end.

Vocabulary (INFERRED, the contract knows none): the instance `status` goes pending -> running ->
shutting-down -> terminated; `job_status` goes pending -> running -> succeeded | failed | cancelled;
finished_job_status turns true when the job ends, terminal_status when its instance has shut down.
"""
import json
import secrets

from .core import iso_utc


class Job:
    def __init__(self, job_id, name, request, profile, total_tasks, created):
        self.id = job_id
        self.name = name
        self.request = request  # the body posted, and the query: instance_type, region, disk_size_gb
        self.profile = profile
        self.total_tasks = total_tasks
        self.created = created
        self.start = created + profile["pending"]
        self.natural_end = self.start + profile["running"]
        self.end, self.outcome = self.natural_end, profile["outcome"]
        self.instance_id = "i-" + secrets.token_hex(9)[:17]
        self.progress_increments = 0

    def stop(self, at, outcome):
        """Ends the job at `at` (cancel, or a forced end) unless it has ended already."""
        if at < self.end:
            self.end, self.outcome = at, outcome

    @property
    def terminated_at(self):
        return self.end + self.profile["shutdown"]

    def finished_tasks(self, now):
        if now >= self.end and self.outcome == "succeeded":
            return self.total_tasks
        running = self.profile["running"]
        done = 0 if running <= 0 else int(self.total_tasks * max(0.0, min(now, self.end) - self.start) / running)
        return min(self.total_tasks - 1, done + self.progress_increments) if self.total_tasks else 0

    def job_status(self, now):
        if now >= self.end:
            return self.outcome, self.end
        if now >= self.start:
            return "running", self.start
        return "pending", self.created

    def run_response(self, now):
        job_status, since = self.job_status(now)
        if now >= self.terminated_at:
            status = "terminated"
        elif now >= self.end:
            status = "shutting-down"
        else:
            status = "running" if now >= self.start else "pending"
        query = self.request["query"]
        return {
            "job_id": self.id,
            "job_name": self.name,
            "instance_id": self.instance_id,
            "instance_type": query.get("instance_type"),
            "status": status,
            "terminal_status": now >= self.terminated_at,
            "last_heartbeat": iso_utc(min(now, self.terminated_at)) if now >= min(self.start, self.end) else None,
            "job_status": job_status,
            "job_status_date": iso_utc(since),
            "finished_job_status": now >= self.end,
            "total_tasks": self.total_tasks,
            "finished_tasks": self.finished_tasks(now),
        }

    def job_response(self, now, user_id, team_id, with_name=False):
        job_status, since = self.job_status(now)
        item = {"id": self.id, "user_id": user_id, "creation_date": iso_utc(self.created),
                "job_status": job_status,
                "job_status_date": iso_utc(since), "instance_id": self.instance_id,
                "instance_type": self.request["query"].get("instance_type"), "execution_environment_id": team_id}
        if with_name:
            item["job_name"] = self.name
        return item

    # -- logs

    def _tick_messages(self, k):
        custom = self.profile["log_messages"]
        per_tick = self.profile["log_lines_per_tick"]
        if custom:
            return [custom[((k - 1) * per_tick + j) % len(custom)] for j in range(per_tick)]
        task = min(self.total_tasks, 1 + (k - 1) * self.total_tasks // max(1, self._ticks()))
        return [f"task {task}/{self.total_tasks}: step {k}" + (f".{j}" if per_tick > 1 else "")
                for j in range(per_tick)]

    def _ticks(self):
        """How many ticks fit into the running phase (the last one strictly before its end)."""
        interval = self.profile["log_interval"]
        return max(0, int((self.natural_end - self.start) / interval - 1e-9))

    def logs(self, since_ms, now, limit):
        """Entries with a timestamp after since_ms (all when None) that exist by `now`, oldest first.
        An entry is visible once its millisecond has passed, so entries sharing a timestamp appear
        together and a client paging with the last timestamp it saw never misses one. A page longer
        than `limit` ends after a whole group of entries with one timestamp."""
        now_ms = int(now * 1000)
        lo = -1 if since_ms is None else since_ms
        ms = lambda t: int(t * 1000)  # noqa: E731
        entries = []  # those in the page's time range, lo < timestamp < now_ms, in the order they were made
        if lo < ms(self.created) < now_ms:
            instance = self.request["query"].get("instance_type") or "the default instance"
            entries.append((ms(self.created), f"Job {self.name} ({self.id}) queued: {self.total_tasks} task(s) "
                                              f"on {instance}"))
        if self.end > self.start:
            if lo < ms(self.start) < now_ms:
                entries.append((ms(self.start), f"Instance {self.instance_id} is running"))
            interval = self.profile["log_interval"]
            last = self._ticks()
            first = max(1, int(((lo + 1) / 1000 - self.start) / interval) - 1)
            generated = 0  # tick lines after `lo`: past the limit, the page ends among them
            for k in range(first, last + 1):
                t = self.start + k * interval
                if t >= self.end or ms(t) >= now_ms or (limit and generated > limit):
                    break
                if ms(t) > lo:
                    lines = self._tick_messages(k)
                    entries += [(ms(t), m) for m in lines]
                    generated += len(lines)
        if lo < ms(self.end) < now_ms:
            if self.outcome == "succeeded":
                final = [f"All {self.total_tasks} task(s) finished"]
            elif self.outcome == "failed":
                final = self.profile["error"].splitlines() + ["Job failed"]
            else:
                final = ["Job cancelled"]
            entries += [(ms(self.end), m) for m in final]
        visible = sorted(entries, key=lambda e: e[0])  # stable: lines of one timestamp keep their order
        if limit and len(visible) > limit:
            cut = limit
            while cut < len(visible) and visible[cut][0] == visible[cut - 1][0]:
                cut += 1
            visible = visible[:cut]
        return [{"message": m, "timestamp": t} for t, m in visible]

    # -- results

    def result_files(self):
        """(name, content type, bytes) of the files a successful job leaves."""
        spec = self.profile["results"]
        if spec is None:
            inputs = self._inputs()
            return [(f"{i}.json", "application/json",
                     json.dumps({"task": i, "job_id": self.id, "input": inputs[i] if inputs else None}).encode())
                    for i in range(self.total_tasks)]
        files = []
        for item in spec:
            if "text" in item:
                files.append((item["name"], item.get("content_type", "text/plain"), item["text"].encode()))
            else:
                files.append((item["name"], item.get("content_type", "application/json"),
                              json.dumps(item.get("result")).encode()))
        return files

    def _inputs(self):
        step = self.request["body"]["config"]["steps"][0]
        inputs = step.get("input") if isinstance(step, dict) else None
        return inputs if isinstance(inputs, list) and inputs else None

