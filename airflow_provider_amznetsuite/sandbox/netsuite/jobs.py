"""Asynchronous request processing of the NetSuite sandbox (``Prefer: respond-async``, batch).

A job holds one task per operation — one for a single async request, one per item of a batch
collection, in request order (task ids 1..n). A single worker thread runs jobs in submission order.

* ``GET /services/rest/async/v1/job/{id}`` -> ``{links, completed, id, progress, task: {links}}``;
  ``progress`` is ``pending`` until every task ran, then ``succeeded`` (all tasks succeeded) or
  ``failed`` (at least one task failed — look at the tasks).
* ``GET .../job/{id}/task`` -> collection of ``{links, id}``.
* ``GET .../job/{id}/task/{taskId}`` -> ``{links, completed, id, progress, result: {links}}``.
* ``GET .../job/{id}/task/{taskId}/result`` -> the task's own response replayed: 204 + ``Location`` for a
  create / update / upsert, 200 + body for a read, or NetSuite's error body with its status.
* ``X-NetSuite-Idempotency-Key``: a key seen before -> 400 IDEMPOTENCY_ERROR with ``Location`` of the
  original job (the request is not run again).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .util import ApiError, dumps

Outcome = tuple[int, dict[str, str], bytes | None]
Operation = Callable[[], Outcome]
JOB_PATH = "/services/rest/async/v1/job"


@dataclass
class Task:
    id: int
    op: Operation | None
    outcome: Outcome | None = None

    @property
    def completed(self) -> bool:
        return self.outcome is not None

    @property
    def progress(self) -> str:
        if self.outcome is None:
            return "pending"
        return "succeeded" if self.outcome[0] < 400 else "failed"


@dataclass
class Job:
    id: int
    tasks: list[Task]
    idempotency_key: str | None = None
    done: threading.Event = field(default_factory=threading.Event)

    @property
    def completed(self) -> bool:
        return all(t.completed for t in self.tasks)

    @property
    def progress(self) -> str:
        if not self.completed:
            return "pending"
        return "succeeded" if all(t.progress == "succeeded" for t in self.tasks) else "failed"


class JobManager:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[int, Job] = {}
        self._keys: dict[str, int] = {}
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._next = 1
        self._thread = threading.Thread(target=self._run, name="netsuite-sandbox-async", daemon=True)
        self._thread.start()

    def submit(self, ops: list[Operation], idempotency_key: str | None, base: str) -> Job:
        with self._lock:
            if idempotency_key is not None and idempotency_key in self._keys:
                original = self._keys[idempotency_key]
                raise ApiError(400, "IDEMPOTENCY_ERROR",
                               "A request with the same idempotency key is already submitted. See the \"Location\" "
                               "header for a link to the previously submitted job",
                               headers={"Location": f"{base}{JOB_PATH}/{original}"}, title="Conflict",
                               type_url="https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html#sec10.4.10")
            job = Job(self._next, [Task(i + 1, op) for i, op in enumerate(ops)], idempotency_key)
            self._next += 1
            self._jobs[job.id] = job
            if idempotency_key is not None:
                self._keys[idempotency_key] = job.id
        self._queue.put(job)
        return job

    def get(self, job_id: int) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def count(self) -> int:
        with self._lock:
            return len(self._jobs)

    def stop(self) -> None:
        self._queue.put(None)

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            for task in job.tasks:
                op, task.op = task.op, None
                try:
                    task.outcome = op() if op else (500, {}, None)
                except ApiError as err:
                    task.outcome = (err.status, err.headers, dumps(err.body()).encode())
                except Exception as err:  # noqa: BLE001 - a task must always finish
                    body = ApiError(500, "UNEXPECTED_ERROR", f"An unexpected error occurred: {type(err).__name__}")
                    task.outcome = (500, {}, dumps(body.body()).encode())
            job.done.set()

    # --- rendering -----------------------------------------------------------------------------------
    @staticmethod
    def job_body(job: Job, base: str) -> dict[str, Any]:
        url = f"{base}{JOB_PATH}/{job.id}"
        return {"links": [{"rel": "self", "href": url}], "completed": job.completed, "id": str(job.id),
                "progress": job.progress, "task": {"links": [{"rel": "self", "href": f"{url}/task"}]}}

    @staticmethod
    def tasks_body(job: Job, base: str) -> dict[str, Any]:
        url = f"{base}{JOB_PATH}/{job.id}/task"
        items = [{"links": [{"rel": "self", "href": f"{url}/{t.id}"}], "id": str(t.id)} for t in job.tasks]
        return {"links": [{"rel": "self", "href": url}], "count": len(items), "hasMore": False, "items": items,
                "offset": 0, "totalResults": len(items)}

    @staticmethod
    def task_body(job: Job, task: Task, base: str) -> dict[str, Any]:
        url = f"{base}{JOB_PATH}/{job.id}/task/{task.id}"
        return {"links": [{"rel": "self", "href": url}], "completed": task.completed, "id": str(task.id),
                "progress": task.progress, "result": {"links": [{"rel": "self", "href": f"{url}/result"}]}}
