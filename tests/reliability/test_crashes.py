"""Crashes: a task process killed with SIGKILL — at task boundaries and mid-batch — and retried by
"Airflow" ends in exactly the state of an uninterrupted run.

Each DAG run executes in a worker process forked from a zygote (``crash_runner.py``) that keeps XCom and
task states in a file, as Airflow keeps them in its metadata database. A crash point makes the worker
stop at a precise moment; the test then kills it with ``SIGKILL`` (no ``finally``, no atexit, no
exception handler runs) and starts the run again: finished tasks stay finished, the killed task runs
again from scratch — Airflow's retry after a dead worker. A chain of crash points kills the same DAG
run again and again until every point was hit; then it runs to the end. The result is compared with an
uninterrupted run of the same DAG in a second pair of sandboxes with the same seed: NetSuite records by
type and external id (lines, totals), inventory balances, Amazon listings, acknowledgements,
confirmations, accepted values, processed keys and open quarantine must be equal.

Crash points:

* **boundary** — ``after_task``: the task's work reached NetSuite/Amazon, Airflow never recorded it;
* **mid-batch** — ``netsuite_writes``: after N NetSuite record writes of a task (other threads frozen);
* **mid-feed** — ``spapi_call submit_feed``: the feed exists at Amazon, the task has not recorded its id.

The fast test covers the orders and inventory DAGs at their riskiest points; the ``slow`` test kills every
task of the orders, inventory, pricing, settlement and products DAGs (and mid-batch / mid-feed points).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.harness import ROOT, Snapshot, World, day_window, iso, snapshot, world

pytestmark = pytest.mark.integration

PAUSE_TIMEOUT = 240.0


class Zygote:
    """The pre-imported parent of the worker processes (see crash_runner.py)."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.reliability.crash_runner", "serve"], cwd=ROOT,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=os.environ.copy())
        ready = self._read()
        assert ready == {"ready": True}, ready

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise AssertionError(f"the crash-runner zygote exited ({self.proc.poll()})")
        return json.loads(line)

    def _send(self, cmd: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def run(self, **cmd: Any) -> int:
        return int(self._send({"cmd": "run", **cmd})["pid"])

    def wait(self, pid: int) -> int:
        return int(self._send({"cmd": "wait", "pid": pid})["status"])

    def close(self) -> None:
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write(json.dumps({"cmd": "exit"}) + "\n")
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def zygote() -> Iterator[Zygote]:
    z = Zygote()
    try:
        yield z
    finally:
        z.close()


def _events(path: Path) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:  # a line still being written
                break
    return out


def run_with_crashes(w: World, zygote: Zygote, work: Path, dag_id: str, run_id: str, conf: dict[str, Any],
                     interval: tuple[Any, Any] | None, points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run one DAG run in worker processes, SIGKILLing the worker at each point in turn; then to the end."""
    work.mkdir(parents=True, exist_ok=True)
    store = work / f"{dag_id}-{run_id}.store.json"
    hits: list[dict[str, Any]] = []
    for n, point in enumerate([*points, None]):
        events = work / f"{dag_id}-{run_id}-{n}.events.jsonl"
        pid = zygote.run(env=w.env, dag_id=dag_id, run_id=run_id, conf=conf,
                         interval=[x.isoformat() for x in interval] if interval else None, store=str(store),
                         events=str(events), log=str(work / f"{dag_id}-{run_id}-{n}.log"), crash=point)
        if point is None:
            status = zygote.wait(pid)
            done = [e for e in _events(events) if e["event"] in ("finished", "crashed")]
            assert status == 0 and done and done[-1].get("ok"), \
                f"{dag_id}: the final, uninterrupted attempt did not succeed: {done[-1:] or status} (log {work})"
            return hits
        deadline = time.monotonic() + PAUSE_TIMEOUT
        while True:
            evs = _events(events)
            paused = [e for e in evs if e["event"] == "paused"]
            if paused:
                break
            if any(e["event"] in ("finished", "crashed") for e in evs) or time.monotonic() > deadline:
                if not any(e["event"] in ("finished", "crashed") for e in evs):
                    os.kill(pid, signal.SIGUSR1)  # stacks of every thread into the worker log
                    time.sleep(1)
                    os.kill(pid, signal.SIGKILL)
                status = zygote.wait(pid)
                log = (work / f"{dag_id}-{run_id}-{n}.log").read_text(errors="replace")[-6000:]
                raise AssertionError(f"{dag_id}: crash point {point} was never reached ({evs[-1:]}, status {status})\n"
                                     f"{log}")
            time.sleep(0.02)
        os.kill(pid, signal.SIGKILL)
        status = zygote.wait(pid)
        assert status == -signal.SIGKILL, f"worker {pid} ended with {status}, not by SIGKILL"
        hits.append(paused[0])
    return hits


def boundaries(task_ids: list[str]) -> list[dict[str, Any]]:
    return [{"at": "after_task", "task": t} for t in task_ids]


ORDERS_TASKS = ["extract_orders", "decide_tax_and_lifecycle", "map_fba", "map_mfn", "write_fba", "write_mfn",
                "acknowledge_orders", "confirm_shipments", "orders_report"]
INVENTORY_TASKS = ["read_netsuite_stock", "plan_inventory_push", "push_inventory", "mirror_fba_stock",
                   "inventory_report"]
PRICING_TASKS = ["read_netsuite_prices", "plan_pricing_push", "push_prices", "pricing_report"]
SETTLEMENT_TASKS = ["wait_for_settlements", "download_and_reconcile", "post_journal", "settlement_report"]
PRODUCTS_TASKS = ["read_netsuite_items", "fetch_product_types", "validate_and_plan", "push_listings", "products_report"]

FAST_PLAN: dict[str, list[dict[str, Any]]] = {
    "orders": [
        {"at": "netsuite_writes", "task": "write_mfn", "n": 7},  # mid-batch
        {"at": "after_task", "task": "write_mfn"},  # all written, nothing recorded
        {"at": "spapi_call", "task": "acknowledge_orders", "op": "submit_feed", "n": 1},  # feed sent, id not kept
        {"at": "after_task", "task": "acknowledge_orders"},
    ],
    "inventory": [
        {"at": "spapi_call", "task": "push_inventory", "op": "submit_feed", "n": 1},
        {"at": "netsuite_writes", "task": "mirror_fba_stock", "n": 1},  # adjustment posted, not recorded
        {"at": "after_task", "task": "mirror_fba_stock"},
    ],
}
SLOW_PLAN: dict[str, list[dict[str, Any]]] = {
    # in execution order: a task that finished cannot be killed any more
    "orders": [*boundaries(ORDERS_TASKS[:4]), {"at": "netsuite_writes", "task": "write_fba", "n": 3},
               *boundaries(["write_fba"]), *FAST_PLAN["orders"], *boundaries(ORDERS_TASKS[7:])],
    "inventory": [*boundaries(INVENTORY_TASKS[:2]), *FAST_PLAN["inventory"][:1], *boundaries(INVENTORY_TASKS[2:3]),
                  *FAST_PLAN["inventory"][1:], *boundaries(INVENTORY_TASKS[4:])],
    "pricing": [*boundaries(PRICING_TASKS)],
    "products": [*boundaries(PRODUCTS_TASKS)],
    "settlement": [*boundaries(SETTLEMENT_TASKS[:2]), {"at": "netsuite_writes", "task": "post_journal", "n": 1},
                   *boundaries(SETTLEMENT_TASKS[2:])],
}


def _runs(w: World, code: str, syncs: list[str]) -> list[tuple[str, str, dict[str, Any], Any, str]]:
    start, end = day_window(w)
    hour = end.replace(minute=0, second=0, microsecond=0)
    interval = (hour - timedelta(hours=1), hour)
    out = []
    for sync in syncs:
        conf: dict[str, Any] = {"allow_quarantine": True}
        if sync == "orders":
            conf.update(window_start=iso(start), window_end=iso(end))
        out.append((f"amazon_{code}_{sync}", "crash-day", conf, interval, sync))
    return out


def _scenario(tmp_path: Path, zygote: Zygote, plan: dict[str, list[dict[str, Any]]], orders_per_day: int,
              code: str = "uk") -> tuple[Snapshot, Snapshot, dict[str, list[dict[str, Any]]]]:
    syncs = list(plan)
    options = {"orders_per_day": orders_per_day, "unknown_sku_orders": 1}
    with world(tmp_path, name="uninterrupted", **options) as w:
        for dag_id, run_id, conf, interval, _sync in _runs(w, code, syncs):
            result = w.run(dag_id, run_id, conf, data_interval=interval)
            assert result.ok, result.failed
        reference = snapshot(w)
    hits: dict[str, list[dict[str, Any]]] = {}
    with world(tmp_path, name="crashed", **options) as w:
        for dag_id, run_id, conf, interval, sync in _runs(w, code, syncs):
            hits[sync] = run_with_crashes(w, zygote, tmp_path / "work", dag_id, run_id, conf, interval, plan[sync])
        crashed = snapshot(w)
    return reference, crashed, hits


def _check(reference: Snapshot, crashed: Snapshot, hits: dict[str, list[dict[str, Any]]],
           plan: dict[str, list[dict[str, Any]]]) -> None:
    for sync, points in plan.items():
        assert [(h["point"], h["task"]) for h in hits[sync]] == [(p["at"], p["task"]) for p in points]
    mid = [h for hs in hits.values() for h in hs if h["point"] == "netsuite_writes"]
    assert mid and all(h["writes"] >= 1 for h in mid)
    assert sum(1 for k in reference.netsuite if k.startswith(("salesOrder:", "cashSale:"))) > 20
    assert crashed.duplicates == []
    diff = crashed.differences(reference)
    assert diff == [], "\n".join(diff)


@pytest.fixture(scope="module")
def fast_scenario(tmp_path_factory: pytest.TempPathFactory,
                  zygote: Zygote) -> tuple[Snapshot, Snapshot, dict[str, list[dict[str, Any]]]]:
    return _scenario(tmp_path_factory.mktemp("crash-fast"), zygote, FAST_PLAN, orders_per_day=60)


def test_killed_orders_and_inventory_tasks_retry_to_the_uninterrupted_state(
        fast_scenario: tuple[Snapshot, Snapshot, dict[str, list[dict[str, Any]]]]) -> None:
    reference, crashed, hits = fast_scenario
    _check(reference, crashed, hits, FAST_PLAN)
    assert reference.ack_duplicates == []


def test_a_kill_right_after_the_acknowledgement_feed_was_sent_does_not_acknowledge_twice(
        fast_scenario: tuple[Snapshot, Snapshot, dict[str, list[dict[str, Any]]]]) -> None:
    _, crashed, _ = fast_scenario
    assert crashed.ack_duplicates == []


@pytest.mark.slow
def test_a_kill_at_every_task_boundary_and_mid_batch_retries_to_the_uninterrupted_state(
        tmp_path: Path, zygote: Zygote) -> None:
    reference, crashed, hits = _scenario(tmp_path, zygote, SLOW_PLAN, orders_per_day=300)
    _check(reference, crashed, hits, SLOW_PLAN)
    assert reference.ack_duplicates == []
