"""A task-running process that the crash tests kill with SIGKILL at a chosen point.

``python -m tests.reliability.crash_runner serve`` starts a *zygote*: it imports Airflow and the
provider once, then reads one JSON command per line on stdin and answers one JSON line on stdout:

* ``{"cmd": "run", "env": {...}, "dag_id": ..., "run_id": ..., "conf": {...}, "interval": [start, end] | null,
  "store": "<run-store.json>", "events": "<events.jsonl>", "log": "<worker.log>", "crash": {...} | null}`` →
  forks a worker process
  that executes the DAG run (resuming from the run store, like Airflow after a worker died) and answers
  ``{"pid": <worker pid>}``;
* ``{"cmd": "wait", "pid": n}`` → waits for that worker and answers ``{"pid": n, "status": <exit code, or
  -signal>}``;
* ``{"cmd": "exit"}``.

The worker is a real process: the test kills it with ``os.kill(pid, SIGKILL)`` — no exception handler,
``finally`` or atexit runs. Crash points (``crash``), all controlled from the test harness only:

* ``{"at": "after_task", "task": T}`` — T's work is done (NetSuite/Amazon changed) but Airflow has not
  recorded it (no XCom, no success): the retry runs T again from scratch;
* ``{"at": "netsuite_writes", "task": T, "n": N}`` — after N NetSuite record writes of task T were answered
  (mid-batch); every other thread of the worker is stopped before its next request;
* ``{"at": "spapi_call", "task": T, "op": name, "n": N}`` — after the N-th successful ``SpApiHook.<name>``
  call of task T (e.g. ``submit_feed``: the feed exists at Amazon, the task has not recorded it).

When the point is reached the worker writes ``{"event": "paused", ...}`` to the events file and blocks;
the test then kills it.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import traceback
from datetime import datetime
from pathlib import Path
from typing import Any

_PAUSED = threading.Event()
_STATE: dict[str, Any] = {"task": None, "writes": 0, "calls": 0}
_LOCK = threading.Lock()


def _event(events: str, **data: Any) -> None:
    with open(events, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(data) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def _pause(events: str, **why: Any) -> None:
    """Stop this thread for good (and make every other thread stop at its next request)."""
    _PAUSED.set()
    _event(events, event="paused", **why)
    threading.Event().wait()


def _install(crash: dict[str, Any] | None, events: str) -> None:
    from airflow_provider_amznetsuite.hooks.netsuite import NetSuiteHook
    from airflow_provider_amznetsuite.hooks.spapi import SpApiHook

    original_request = NetSuiteHook._request

    def request(self: NetSuiteHook, method: str, path: str, **kw: Any) -> Any:
        if _PAUSED.is_set():
            threading.Event().wait()
        resp = original_request(self, method, path, **kw)
        if crash and crash["at"] == "netsuite_writes" and _STATE["task"] == crash["task"] \
                and method in ("POST", "PUT", "PATCH") and "/record/v1/" in path:
            with _LOCK:
                _STATE["writes"] += 1
                hit = _STATE["writes"] >= int(crash["n"]) and not _PAUSED.is_set()
                if hit:
                    _PAUSED.set()
            if hit:
                _pause(events, point="netsuite_writes", task=_STATE["task"], writes=_STATE["writes"], request=path)
        return resp

    NetSuiteHook._request = request  # type: ignore[method-assign]

    if crash and crash["at"] == "spapi_call":
        name = crash["op"]
        original = getattr(SpApiHook, name)

        def call(self: SpApiHook, *args: Any, **kwargs: Any) -> Any:
            result = original(self, *args, **kwargs)
            if _STATE["task"] == crash["task"]:
                with _LOCK:
                    _STATE["calls"] += 1
                    hit = _STATE["calls"] >= int(crash.get("n", 1))
                if hit:
                    _pause(events, point="spapi_call", task=_STATE["task"], op=name, result=str(result)[:80])
            return result

        setattr(SpApiHook, name, call)


def _work(cmd: dict[str, Any]) -> int:
    import faulthandler
    import signal

    faulthandler.register(signal.SIGUSR1, all_threads=True)  # the test asks for stacks before giving up
    os.environ.update(cmd["env"])
    from tests.reliability.harness import DagRunner, RunStore

    events = cmd["events"]
    crash = cmd.get("crash")
    _install(crash, events)

    from airflow_provider_amznetsuite.config import load_config
    from airflow_provider_amznetsuite.dag_factory import build_dags

    dag_id = cmd["dag_id"]

    def make() -> Any:
        return build_dags(load_config(cmd["env"]["AMZNETSUITE_CONFIG"]), only_dag_id=dag_id)[dag_id]

    def before(task_id: str, attempt: int) -> None:
        _STATE.update(task=task_id, writes=0, calls=0)
        _event(events, event="task_start", task=task_id, attempt=attempt)

    def after(task_id: str, value: Any) -> None:
        if crash and crash["at"] == "after_task" and crash["task"] == task_id:
            _pause(events, point="after_task", task=task_id)

    interval = cmd.get("interval")
    runner = DagRunner(make, cmd["run_id"], cmd.get("conf") or {}, store=RunStore(Path(cmd["store"])),
                       data_interval=tuple(datetime.fromisoformat(x) for x in interval) if interval else None,
                       before=before, after=after)
    result = runner.run()
    _event(events, event="finished", states=result.states, ok=result.ok)
    return 0 if result.ok else 1


def serve() -> int:
    # the protocol gets a private copy of stdout; anything else printed (Airflow's import-time logging) goes
    # to stderr
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    # imported once here, inherited by every worker
    import airflow.sdk  # noqa: F401

    import airflow_provider_amznetsuite.dag_factory  # noqa: F401
    import airflow_provider_amznetsuite.operators.feeds  # noqa: F401
    import airflow_provider_amznetsuite.operators.inventory  # noqa: F401
    import airflow_provider_amznetsuite.operators.orders  # noqa: F401
    import airflow_provider_amznetsuite.operators.pricing  # noqa: F401
    import airflow_provider_amznetsuite.operators.settlement  # noqa: F401
    import tests.reliability.harness  # noqa: F401

    print(json.dumps({"ready": True}), file=proto, flush=True)
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd["cmd"] == "exit":
            return 0
        if cmd["cmd"] == "wait":
            _, status = os.waitpid(int(cmd["pid"]), 0)
            code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
            print(json.dumps({"pid": cmd["pid"], "status": code}), file=proto, flush=True)
            continue
        pid = os.fork()
        if pid == 0:  # the worker: its output goes to its own log, never into the protocol
            code = 1
            try:
                sys.stdin.close()
                proto.close()
                fd = os.open(cmd["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                os.dup2(fd, 1)
                os.dup2(fd, 2)
                os.close(fd)
                sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
                sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
                code = _work(cmd)
            except BaseException:
                _event(cmd["events"], event="crashed", error=traceback.format_exc()[-2000:])
            finally:
                os._exit(code)
        print(json.dumps({"pid": pid}), file=proto, flush=True)
    return 0


if __name__ == "__main__":
    if sys.argv[1:] != ["serve"]:
        raise SystemExit("usage: python -m tests.reliability.crash_runner serve")
    raise SystemExit(serve())
