"""Test harness of the reliability suite: sandbox worlds and an Airflow-like DAG runner.

* :func:`world` starts both sandboxes (fixed business time, time-scaled rate limits), a private
  sync-state SQLite database and the environment (connections, config) a task needs, and yields a
  :class:`World` with inspection helpers (NetSuite records, Amazon listings, acknowledgements ...).
* :class:`DagRunner` executes one DAG run of the *real* DAG (built by ``dag_factory`` from the config)
  the way Airflow's scheduler/task runner does: tasks in topological order, trigger rules, branching,
  XCom handed along, deferrals resolved by running the operator's own trigger (``trigger.run()``) with
  a short poll interval, and a failed try re-run from scratch up to ``task.retries`` (a fresh
  operator object per try, as Airflow re-parses the DAG for every try). ``AirflowFailException`` and
  ``AirflowSkipException`` are final, as in Airflow. XCom and task states can live in a JSON file so a
  run can be continued by another process (the crash tests).

Nothing here is product code: it only drives the public operators and reads the sandboxes.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "dags" / "marketplaces.yaml"
STATE_CONN_ENV = "AIRFLOW_CONN_AMZNETSUITE_STATE"
TRIGGER_POLL = 0.05
TRIGGER_TIMEOUT = 3.0  # the sandboxes run time-scaled: a 30-minute "nothing new yet" wait lasts 3 s here

SUCCESS, FAILED, SKIPPED, UPSTREAM_FAILED = "success", "failed", "skipped", "upstream_failed"


def iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def state_conn_json(url: str) -> str:
    return json.dumps({"conn_type": "generic", "extra": {"url": url}})


# ================================================================================================
# XCom / task-state store (in memory, or a JSON file shared between processes)
# ================================================================================================
class RunStore:
    """Task states, tries and XCom values of one DAG run. With ``path`` every change is written to disk
    atomically, like Airflow's metadata DB: a killed process loses only the task it was running."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.data: dict[str, Any] = {"states": {}, "xcom": {}, "tries": {}, "errors": {}}
        if path is not None and path.exists():
            self.data = json.loads(path.read_text())

    def _save(self) -> None:
        if self.path is None:
            return
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, default=str))
        os.replace(tmp, self.path)

    @property
    def states(self) -> dict[str, str]:
        return self.data["states"]

    @property
    def xcom(self) -> dict[str, Any]:
        return self.data["xcom"]

    @property
    def errors(self) -> dict[str, list[str]]:
        return self.data["errors"]

    def tries(self, task_id: str) -> int:
        return int(self.data["tries"].get(task_id, 0))

    def start_try(self, task_id: str) -> int:
        n = self.tries(task_id) + 1
        self.data["tries"][task_id] = n
        self._save()
        return n

    def finish(self, task_id: str, state: str, value: Any = None) -> None:
        self.states[task_id] = state
        if value is not None:
            self.xcom[task_id] = json.loads(json.dumps(value, default=str))
        self._save()

    def error(self, task_id: str, message: str) -> None:
        self.errors.setdefault(task_id, []).append(message)
        self._save()

    def clear_failed(self) -> None:
        """What "Clear failed tasks" does in the UI: failed and upstream_failed tasks run again."""
        for task_id, state in list(self.states.items()):
            if state in (FAILED, UPSTREAM_FAILED):
                del self.states[task_id]
                self.data["tries"].pop(task_id, None)
        self._save()


class FakeTI:
    def __init__(self, store: RunStore, task_id: str) -> None:
        self.store = store
        self.task_id = task_id
        self.try_number = store.tries(task_id)

    def xcom_pull(self, task_ids: str | list[str] | None = None, key: str = "return_value", **_: Any) -> Any:
        if isinstance(task_ids, (list, tuple)):
            return [self.store.xcom.get(t) for t in task_ids]
        return self.store.xcom.get(task_ids or self.task_id)

    def xcom_push(self, key: str, value: Any, **_: Any) -> None:  # operators here only return values
        self.store.xcom.setdefault(f"{self.task_id}:{key}", value)


# ================================================================================================
# DAG runner
# ================================================================================================
@dataclass
class RunResult:
    dag_id: str
    run_id: str
    states: dict[str, str]
    xcom: dict[str, Any]
    errors: dict[str, list[str]]
    tries: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def failed(self) -> dict[str, list[str]]:
        return {t: self.errors.get(t, []) for t, s in self.states.items() if s == FAILED}

    @property
    def ok(self) -> bool:
        return not any(s in (FAILED, UPSTREAM_FAILED) for s in self.states.values())


def _first_event(trigger: Any) -> Any:
    async def first() -> Any:
        agen = trigger.run()
        try:
            async for event in agen:
                return event
        finally:
            await agen.aclose()
        raise AssertionError(f"trigger {type(trigger).__name__} ended without an event")

    return asyncio.run(first())


def resolve_deferral(task: Any, context: dict[str, Any], deferred: Any, *, poll: float = TRIGGER_POLL,
                     timeout: float = TRIGGER_TIMEOUT, on_defer: Callable[[Any], None] | None = None) -> Any:
    """What the triggerer + the resumed task do: run the trigger to its first event, call the method.
    Poll intervals and trigger timeouts are shortened like the sandboxes' clocks."""
    while True:
        trigger = deferred.trigger
        if hasattr(trigger, "poll_interval"):
            trigger.poll_interval = min(float(trigger.poll_interval), poll)
        if getattr(trigger, "timeout", None) is not None:
            trigger.timeout = min(float(trigger.timeout), timeout)
        if on_defer is not None:
            on_defer(trigger)
        event = _first_event(trigger)
        from airflow.sdk.exceptions import TaskDeferred

        try:
            return getattr(task, deferred.method_name)(context, event=event.payload, **(deferred.kwargs or {}))
        except TaskDeferred as again:
            deferred = again


class DagRunner:
    """One DAG run, executed task by task the way Airflow would (see the module docstring).

    :param dag_factory: returns a *fresh* DAG object (called once per try, like Airflow's re-parse).
    :param conf: the run conf (Params), validated against the DAG's Params first.
    :param data_interval: ``(start, end)``; None = a manual run without a data interval.
    :param retries: overrides ``task.retries`` when given.
    :param hooks: optional callables ``before(task_id, try)``, ``after(task_id, value)`` (crash points).
    :param lose_result: ``(task_id, try) -> bool``: that try did all its work, but the worker lost the
        result (missed heartbeat): it counts as failed and is retried by a fresh operator. Deterministic
        task retries, unlike the ones random request faults may or may not cause.
    """

    def __init__(self, dag_factory: Callable[[], Any], run_id: str, conf: Mapping[str, Any] | None = None, *,
                 data_interval: tuple[datetime, datetime] | None = None, run_after: datetime | None = None,
                 store: RunStore | None = None, retries: int | None = None, retry_pause: float = 0.0,
                 before: Callable[[str, int], None] | None = None, after: Callable[[str, Any], None] | None = None,
                 log: Callable[[str], None] | None = None,
                 lose_result: Callable[[str, int], bool] | None = None) -> None:
        self.dag_factory = dag_factory
        self.lose_result = lose_result
        self.run_id = run_id
        self.conf = dict(conf or {})
        self.data_interval = data_interval
        self.run_after = run_after or (data_interval[1] if data_interval else None)
        self.store = store or RunStore()
        self.retries = retries
        self.retry_pause = retry_pause
        self.before = before
        self.after = after
        self.log = log or (lambda _msg: None)

    def params(self, dag: Any) -> dict[str, Any]:
        import copy

        p = copy.deepcopy(dag.params)
        for k, v in self.conf.items():
            p[k] = v
        return dict(p.validate())

    def context(self, dag: Any, task: Any) -> dict[str, Any]:
        start, end = self.data_interval if self.data_interval else (None, None)
        return {
            "params": self.params(dag), "run_id": self.run_id, "dag": dag, "task": task,
            "dag_run": SimpleNamespace(run_id=self.run_id, run_after=self.run_after, conf=dict(self.conf),
                                       data_interval_start=start, data_interval_end=end, logical_date=start),
            "ti": FakeTI(self.store, task.task_id), "data_interval_start": start, "data_interval_end": end,
            "logical_date": start, "ds": start.date().isoformat() if start else None,
        }

    # -- scheduling ------------------------------------------------------------------------------
    def _ready(self, task: Any) -> str | None:
        """None = not decidable yet; 'run'; or the final state the task gets without running."""
        ups = [self.store.states.get(u) for u in task.upstream_task_ids]
        if any(s is None for s in ups):
            return None
        rule = str(getattr(task, "trigger_rule", "all_success")).rsplit(".", 1)[-1].lower()
        failed = any(s in (FAILED, UPSTREAM_FAILED) for s in ups)
        skipped = any(s == SKIPPED for s in ups)
        if rule == "all_success":
            return UPSTREAM_FAILED if failed else SKIPPED if skipped else "run"
        if rule == "all_done":
            return "run"
        if rule == "none_failed_min_one_success":
            if failed:
                return UPSTREAM_FAILED
            return "run" if any(s == SUCCESS for s in ups) or not ups else SKIPPED
        if rule == "none_failed":
            return UPSTREAM_FAILED if failed else "run"
        if rule == "one_success":
            return "run" if any(s == SUCCESS for s in ups) else (UPSTREAM_FAILED if failed else SKIPPED)
        raise AssertionError(f"trigger rule {rule!r} of {task.task_id} is not supported by the test harness")

    def run(self) -> RunResult:
        dag = self._dag = self.dag_factory()
        order = [t.task_id for t in dag.topological_sort()] if hasattr(dag, "topological_sort") else list(dag.task_dict)
        pending = [t for t in order if t not in self.store.states]
        while pending:
            progressed = False
            for task_id in list(pending):
                if task_id in self.store.states:  # decided meanwhile (a branch skipped it)
                    pending.remove(task_id)
                    progressed = True
                    continue
                verdict = self._ready(dag.get_task(task_id))
                if verdict is None:
                    continue
                pending.remove(task_id)
                progressed = True
                if verdict != "run":
                    self.store.finish(task_id, verdict)
                    continue
                self._run_task(task_id)
            if not progressed:
                raise AssertionError(f"DAG {dag.dag_id}: no task can run; pending {pending}")
        return RunResult(dag.dag_id, self.run_id, dict(self.store.states), dict(self.store.xcom),
                         {k: list(v) for k, v in self.store.errors.items()}, dict(self.store.data["tries"]),
                         dict(self.store.data.get("seconds", {})))

    def _run_task(self, task_id: str) -> None:
        started = time.monotonic()
        try:
            self._tries(task_id)
        finally:
            self.store.data.setdefault("seconds", {})[task_id] = round(time.monotonic() - started, 2)
            self.store._save()

    def _tries(self, task_id: str) -> None:
        from airflow.providers.standard.operators.branch import BaseBranchOperator
        from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException, TaskDeferred

        while True:
            attempt = self.store.start_try(task_id)
            first = attempt == 1 and getattr(self, "_dag", None) is not None
            dag = self._dag if first else self.dag_factory()  # a retry gets a freshly parsed operator
            task = dag.get_task(task_id)
            retries = task.retries if self.retries is None else self.retries
            ctx = self.context(dag, task)
            if self.before is not None:
                self.before(task_id, attempt)
            try:
                if isinstance(task, BaseBranchOperator):
                    chosen = task.choose_branch(ctx)
                    chosen = [chosen] if isinstance(chosen, str) else list(chosen)
                    for down in task.downstream_task_ids:
                        if down not in chosen:
                            self.store.finish(down, SKIPPED)
                    value: Any = chosen
                else:
                    try:
                        value = task.execute(ctx)
                    except TaskDeferred as deferred:
                        value = resolve_deferral(task, ctx, deferred)
                    if self.lose_result is not None and self.lose_result(task_id, attempt):
                        raise ConnectionResetError(f"harness: the worker lost the result of {task_id} try {attempt}")
            except AirflowSkipException:
                self.store.finish(task_id, SKIPPED)
                return
            except AirflowFailException as exc:
                self.store.error(task_id, f"AirflowFailException: {exc}")
                self.log(f"{task_id} failed (no retry): {exc}")
                self.store.finish(task_id, FAILED)
                return
            except Exception as exc:  # an Airflow retry re-runs the task from scratch
                self.store.error(task_id, f"{type(exc).__name__}: {exc}")
                self.log(f"{task_id} try {attempt} failed: {type(exc).__name__}: {exc}\n{traceback.format_exc()}")
                if attempt <= retries:
                    if self.retry_pause:
                        time.sleep(self.retry_pause)
                    continue
                self.store.finish(task_id, FAILED)
                return
            if self.after is not None:
                self.after(task_id, value)
            self.store.finish(task_id, SUCCESS, value)
            return


def run_until_done(make_runner: Callable[[RunStore], DagRunner], *, reruns: int = 3,
                   accept: Callable[[RunResult], bool] | None = None) -> tuple[RunResult, int]:
    """Run a DAG run; while tasks failed for non-final reasons, clear the failed tasks and run again
    (what an operator does with "Clear failed"); returns the last result and how many clears it took."""
    store = RunStore()
    result = make_runner(store).run()
    clears = 0
    while not (accept or (lambda r: r.ok))(result) and clears < reruns:
        store.clear_failed()
        clears += 1
        result = make_runner(store).run()
    return result, clears


# ================================================================================================
# worlds: sandboxes + state DB + environment
# ================================================================================================
class World:
    """Both sandboxes, a state DB and the environment of one scenario."""

    def __init__(self, sbx: Any, state_url: str, config: Path, env: dict[str, str]) -> None:
        from airflow_provider_amznetsuite.state import SyncStateStore

        self.sbx = sbx
        self.state_url = state_url
        self.state = SyncStateStore(state_url)
        self.config = config
        self.env = env

    # -- the DAGs ---------------------------------------------------------------------------------
    def app(self) -> Any:
        from airflow_provider_amznetsuite.config import load_config

        return load_config(self.config)

    def dag_factory(self, dag_id: str) -> Callable[[], Any]:
        from airflow_provider_amznetsuite.dag_factory import build_dags

        def make() -> Any:
            dags = build_dags(self.app(), only_dag_id=dag_id)
            if dag_id not in dags:
                raise AssertionError(f"DAG {dag_id} is not built from {self.config} (sync not landed yet?)")
            return dags[dag_id]

        return make

    def runner(self, dag_id: str, run_id: str, conf: Mapping[str, Any] | None = None, **kw: Any) -> DagRunner:
        return DagRunner(self.dag_factory(dag_id), run_id, conf, **kw)

    def run(self, dag_id: str, run_id: str, conf: Mapping[str, Any] | None = None, **kw: Any) -> RunResult:
        return self.runner(dag_id, run_id, conf, **kw).run()

    # -- sandbox views ----------------------------------------------------------------------------
    @property
    def now(self) -> datetime:
        return self.sbx.spapi.now()

    def records(self, record_type: str) -> list[dict[str, Any]]:
        resp = requests.get(f"{self.sbx.netsuite_url}/_sandbox/records/{record_type}", timeout=60)
        resp.raise_for_status()
        return json.loads(resp.content, parse_float=Decimal)["items"]

    def spapi_view(self, name: str, **params: Any) -> Any:
        resp = requests.get(f"{self.sbx.spapi_url}/_sandbox/{name}", params=params, timeout=60)
        resp.raise_for_status()
        return resp.json()

    def netsuite_stats(self) -> dict[str, Any]:
        return requests.get(f"{self.sbx.netsuite_url}/_sandbox/stats", timeout=30).json()

    def spapi_stats(self) -> dict[str, Any]:
        return self.spapi_view("stats")

    def netsuite_control(self, action: str, **body: Any) -> dict[str, Any]:
        resp = requests.post(f"{self.sbx.netsuite_url}/_sandbox/control", json={"action": action, **body}, timeout=30)
        resp.raise_for_status()
        return resp.json()

    def spapi_control(self, **body: Any) -> dict[str, Any]:
        resp = requests.post(f"{self.sbx.spapi_url}/_sandbox/control", json=body, timeout=30)
        resp.raise_for_status()
        return resp.json()


@contextmanager
def world(tmp_path: Path, *, config: Path = CONFIG, name: str = "world", time_scale: float = 500.0,
          **options: Any) -> Iterator[World]:
    """Sandboxes (seeded, business time frozen) + a private state DB; sets the environment while open."""
    from airflow_provider_amznetsuite.sandbox.runner import start_sandboxes

    options.setdefault("days", 1)
    sbx = start_sandboxes(seed=options.pop("seed", 42), time_scale=time_scale, **options)
    directory = tmp_path / f"{name}-{sbx.spapi.port}"
    directory.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{directory / 'state.db'}"
    env = {**sbx.connection_env(), "AMZNETSUITE_CONFIG": str(config), STATE_CONN_ENV: state_conn_json(url),
           "AMZNETSUITE_REPORTS": str(directory / "reports")}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield World(sbx, url, config, env)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        sbx.stop()


def day_window(w: World, days: float = 1.0) -> tuple[datetime, datetime]:
    """The window covering the sandbox's generated history up to just before business 'now'."""
    return w.now - timedelta(days=days + 0.5), w.now - timedelta(minutes=3)


# ================================================================================================
# end-state snapshots (compared between a disturbed run and an undisturbed one)
# ================================================================================================
_VOLATILE = {"id", "tranId", "createdDate", "lastModifiedDate", "links", "lastUpdatedDate", "lastUpdatedTime",
             "receivedTime", "feedId"}


def _normalise(value: Any, ids: Mapping[str, str]) -> Any:
    """Drop volatile keys; references to records this provider wrote become their external ids."""
    if isinstance(value, Mapping):
        if set(value) <= {"id", "refName"} and "id" in value and str(value["id"]) in ids:
            return {"ref": ids[str(value["id"])]}
        # sublist line numbers are NetSuite's internal ids (a re-post with replace=line renumbers the same lines)
        return {k: _normalise(v, ids) for k, v in value.items()
                if k not in _VOLATILE and not (k == "line" and isinstance(v, int))}
    if isinstance(value, list):
        return [_normalise(v, ids) for v in value]
    return value


@dataclass
class Snapshot:
    """What a run leaves behind, in a form two worlds can be compared by (no ids, no timestamps)."""

    netsuite: dict[str, dict[str, Any]]  # "type:externalId" -> normalised body
    netsuite_unkeyed: dict[str, int]  # records without external id: "type:<json>" -> count
    netsuite_counts: dict[str, int]  # records per type
    duplicates: list[str]  # external ids held by more than one record
    balances: list[tuple[Any, ...]]  # NetSuite inventory balances
    listings: dict[str, Any]  # "sku@marketplaceId" -> attributes/status/issues
    acknowledgements: list[tuple[str, str, str]]  # unique (orderId, statusCode, externalId of the document acknowledged)
    ack_duplicates: list[str]  # order ids Amazon received more than one acknowledgement message for
    confirmations: list[str]
    quarantine: dict[str, str]  # "sync/marketplace/key" -> reason (open records)
    accepted: dict[str, Any]  # "sync/marketplace" -> normalised accepted values
    processed: dict[str, list[str]]  # "sync/marketplace" -> keys

    def differences(self, other: Snapshot, limit: int = 12) -> list[str]:
        """What differs in the end state (acknowledgements as a set; repeated messages are checked apart)."""
        out: list[str] = []
        for name in ("netsuite_counts", "duplicates", "balances", "acknowledgements", "confirmations", "quarantine",
                     "processed"):
            a, b = getattr(self, name), getattr(other, name)
            if a != b:
                out.append(f"{name}: {_diff(a, b)}")
        for name in ("netsuite", "netsuite_unkeyed", "listings", "accepted"):
            a, b = getattr(self, name), getattr(other, name)
            for key in sorted(set(a) | set(b)):
                if a.get(key) != b.get(key):
                    out.append(f"{name}[{key}]{_first_diff(a.get(key), b.get(key))}")
                    if len(out) >= limit:
                        return out
        return out


def _first_diff(a: Any, b: Any, path: str = "") -> str:
    """Where two JSON-like values first differ: ``.line.items[3].credit: 1.00 != 2.00``."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=str):
            if a.get(k) != b.get(k):
                return _first_diff(a.get(k), b.get(k), f"{path}.{k}")
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} items != {len(b)} items ({json.dumps(a, default=str)[:200]} / " \
                   f"{json.dumps(b, default=str)[:200]})"
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                return _first_diff(x, y, f"{path}[{i}]")
    return f"{path}: {json.dumps(a, default=str)[:300]} != {json.dumps(b, default=str)[:300]}"


def _drop_keys(value: Any, keys: set[str]) -> Any:
    if isinstance(value, dict):
        return {k: _drop_keys(v, keys) for k, v in value.items() if k not in keys}
    if isinstance(value, list):
        return [_drop_keys(v, keys) for v in value]
    return value


def _diff(a: Any, b: Any) -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))[:5]
        return "; ".join(f"{k}: {a.get(k)!r} != {b.get(k)!r}" for k in keys)
    if isinstance(a, list) and isinstance(b, list):
        sa, sb = [json.dumps(x, default=str) for x in a], [json.dumps(x, default=str) for x in b]
        return f"only left {[x for x in sa if x not in sb][:3]}, only right {[x for x in sb if x not in sa][:3]}, " \
               f"lengths {len(a)}/{len(b)}"
    return f"{a!r} != {b!r}"


def snapshot(w: World) -> Snapshot:
    store = w.sbx.netsuite.store
    rows = store.query("SELECT type, id, externalid, body FROM record ORDER BY type, id", {})
    ids = {str(rid): f"{rtype}:{eid}" for rtype, rid, eid, _ in rows if eid}
    tranids: dict[str, str] = {}
    keyed: dict[str, Any] = {}
    unkeyed: dict[str, int] = {}
    counts: dict[str, int] = {}
    seen: dict[str, int] = {}
    for rtype, _rid, eid, body in rows:
        data = json.loads(body, parse_float=Decimal)
        counts[rtype] = counts.get(rtype, 0) + 1
        if data.get("tranId") and eid:
            tranids[str(data["tranId"])] = eid
        norm = _normalise(data, ids)
        if eid:
            key = f"{rtype}:{eid}"
            seen[key] = seen.get(key, 0) + 1
            keyed[key] = norm
        else:
            blob = f"{rtype}:{json.dumps(norm, sort_keys=True, default=str)}"
            unkeyed[blob] = unkeyed.get(blob, 0) + 1
    columns = [c[1] for c in store.query("PRAGMA table_info(inventorybalance)", {})
               if not any(t in c[1].lower() for t in ("modified", "date", "time", "change"))]
    balances = sorted(tuple(r) for r in store.query(f"SELECT {', '.join(columns)} FROM inventorybalance", {}))
    listings = {f"{x['sku']}@{x['marketplaceId']}": _normalise({k: x.get(k) for k in ("attributes", "status", "issues",
                                                                                       "productType")}, {})
                for x in w.spapi_view("listings")["listings"]}
    ship = w.spapi_view("shipments")
    ack_list = [(a["orderId"], a["statusCode"], tranids.get(str(a.get("merchantOrderId")), "?"))
                for a in ship["acknowledgements"]]
    acks = sorted(set(ack_list))
    ack_counts: dict[str, int] = {}
    for oid, _status, _doc in ack_list:
        ack_counts[oid] = ack_counts.get(oid, 0) + 1
    confirmations = sorted(json.dumps(_normalise(c, {}), sort_keys=True, default=str) for c in ship["confirmations"])
    quarantine = {f"{q.sync}/{q.marketplace}/{q.key}": q.reason for q in w.state.open_quarantine()}
    accepted: dict[str, Any] = {}
    processed: dict[str, list[str]] = {}
    from airflow_provider_amznetsuite.state import accepted as accepted_table
    from airflow_provider_amznetsuite.state import processed as processed_table
    from sqlalchemy import select

    with w.state.engine.connect() as conn:
        for sync, mp, key, value in conn.execute(select(accepted_table.c.sync, accepted_table.c.marketplace,
                                                        accepted_table.c.key, accepted_table.c.value)):
            v = _drop_keys(json.loads(value), {"as_of"})  # when the offer was computed
            if isinstance(v, dict):
                v = {k: x for k, x in v.items() if k not in ("id", "tranid", "fingerprint")}  # ids differ per world
            accepted.setdefault(f"{sync}/{mp}", {})[key] = v
        for sync, mp, key in conn.execute(select(processed_table.c.sync, processed_table.c.marketplace,
                                                 processed_table.c.key)):
            processed.setdefault(f"{sync}/{mp}", []).append(key)
    return Snapshot(keyed, unkeyed, counts, sorted(k for k, n in seen.items() if n > 1), balances, listings, acks,
                    sorted(o for o, n in ack_counts.items() if n > 1), confirmations, quarantine, accepted,
                    {k: sorted(v) for k, v in processed.items()})
