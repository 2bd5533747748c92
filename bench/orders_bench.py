"""Order-sync benchmark: throughput against the binding SP-API ceiling, requests per order on both sides.

The binding limit of the order ingest is ``searchOrders`` (Orders v2026-01-01): 100 orders per page at
0.0056 requests/s once the burst of 20 is spent, i.e. a steady ceiling of **0.56 orders/s** at
Amazon's official limits. This benchmark starts both sandboxes time-scaled (every SP-API rate × the
scale; the hook is told the same scale), spends the ``searchOrders`` burst first so that every page is
paid at the steady rate, then runs the ``amazon_<code>_orders`` tasks for each marketplace (task by
task, in DAG order, feeds waited for by polling) and reads the sandboxes' ``/_sandbox/stats``.

Figures printed (one JSON object):

* ``extract_orders_per_s_official`` — orders fetched ÷ (extract wall time × time scale): the SP-API side
  in official-time units, and ``extract_ratio_to_ceiling`` = that ÷ 0.56;
* ``end_to_end_orders_per_s_official`` — orders ÷ (extract time × scale + NetSuite-side time unscaled; the
  NetSuite sandbox is not time-scaled) and its ratio to the ceiling;
* ``netsuite_requests_per_order`` / ``amazon_requests_per_order`` — API requests per fetched order and
  per written document (token requests listed separately).

Run:  .venv/bin/python bench/orders_bench.py [--orders-per-day 1000] [--time-scale 100] [--latency-ms 0]
Not part of the test suite (no timed assertions anywhere).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
SEARCH_RATE, SEARCH_BURST, PAGE = 0.0056, 20, 100
CEILING = SEARCH_RATE * PAGE  # orders/s at the official steady rate


class _TI:
    def __init__(self, xcoms: dict[str, Any]) -> None:
        self.xcoms = xcoms

    def xcom_pull(self, task_ids: str | None = None, **_: Any) -> Any:
        return self.xcoms.get(task_ids)


def _run_dag(code: str, run_id: str, start: str, end: str) -> tuple[dict[str, Any], dict[str, float]]:
    from airflow.sdk.exceptions import AirflowFailException, TaskDeferred

    from airflow_provider_amznetsuite.config import load_config
    from airflow_provider_amznetsuite.dag_factory.orders import build
    from airflow_provider_amznetsuite.hooks.spapi import SpApiHook

    app = load_config()
    dag = build(app.marketplaces[code], app)
    params = {k: dag.params[k] for k in dag.params} | {"window_start": start, "window_end": end, "allow_quarantine": True}
    x: dict[str, Any] = {}
    timing: dict[str, float] = {}
    ctx = {"params": params, "dag_run": SimpleNamespace(run_id=run_id, run_after=None), "ti": _TI(x), "run_id": run_id}

    def call(task_id: str) -> Any:
        task = dag.get_task(task_id)
        t0 = time.perf_counter()
        try:
            try:
                return task.execute(ctx)
            except TaskDeferred as deferred:
                while True:
                    hook = SpApiHook(deferred.trigger.conn_id)
                    while (status := hook.get_feed(deferred.trigger.feed_id).get("processingStatus")) not in (
                            "DONE", "FATAL", "CANCELLED"):
                        time.sleep(0.02)
                    try:
                        return getattr(task, deferred.method_name)(
                            ctx, event={"status": status, "feed_id": deferred.trigger.feed_id})
                    except TaskDeferred as again:
                        deferred = again
        except AirflowFailException:
            return None
        finally:
            timing[task_id] = time.perf_counter() - t0

    for task_id in ("extract_orders", "decide_tax_and_lifecycle"):
        x[task_id] = call(task_id)
    for branch in dag.get_task("branch_fulfilment").choose_branch(ctx):
        if branch.startswith("map_"):
            ch = branch[4:]
            x[branch] = call(branch)
            x[f"write_{ch}"] = call(f"write_{ch}")
    for task_id in ("acknowledge_orders", "confirm_shipments", "orders_report"):
        x[task_id] = call(task_id)
    return x, timing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders-per-day", type=int, default=1000, help="per marketplace (default 1000)")
    parser.add_argument("--marketplaces", default="uk,us")
    parser.add_argument("--time-scale", type=float, default=100.0)
    parser.add_argument("--latency-ms", type=int, default=0, help="added to every sandbox request (not scaled)")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    logging.disable(logging.INFO)
    sys.stdout.flush()
    stdout_fd = os.dup(1)
    os.dup2(2, 1)  # task/hook logs go to stderr; only the JSON result goes to stdout
    try:
        out = _bench(args)
    finally:
        sys.stdout.flush()
        os.dup2(stdout_fd, 1)
        os.close(stdout_fd)
    print(json.dumps(out, indent=2))
    return 0


def _bench(args: argparse.Namespace) -> dict[str, Any]:

    from airflow_provider_amznetsuite.sandbox.runner import start_sandboxes

    tmp = Path(tempfile.mkdtemp(prefix="orders-bench-"))
    sbx = start_sandboxes(seed=args.seed, time_scale=args.time_scale, orders_per_day=args.orders_per_day, days=1,
                          latency_ms=args.latency_ms)
    os.environ.update(sbx.connection_env())
    os.environ["AMZNETSUITE_CONFIG"] = str(ROOT / "dags" / "marketplaces.yaml")
    os.environ["AIRFLOW_CONN_AMZNETSUITE_STATE"] = json.dumps(
        {"conn_type": "generic", "extra": {"url": f"sqlite:///{tmp / 'state.db'}"}})
    try:
        from airflow_provider_amznetsuite.hooks.spapi import SpApiHook

        now = sbx.spapi.now()
        hook = SpApiHook()

        def spend_burst() -> int:
            """Empty the searchOrders bucket (client and sandbox) so every measured page is paid at the steady rate."""
            n = 0
            while hook.rate_limit_wait("searchOrders") <= 0 and n < 2 * SEARCH_BURST:
                list(hook.search_orders(["A1F83G8C2ARO7P"], last_updated_after=now - timedelta(days=60),
                                        last_updated_before=now - timedelta(days=59)))
                n += 1
            return n

        drain_calls = 0
        start = (now - timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
        end = (now - timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
        fetched = written = 0
        extract_s = other_s = 0.0
        per_mp = {}
        for code in args.marketplaces.split(","):
            drain_calls += spend_burst()
            if not per_mp:
                requests.post(f"{sbx.spapi_url}/_sandbox/control", json={"reset_stats": True}, timeout=30)
                requests.post(f"{sbx.netsuite_url}/_sandbox/control", json={"action": "reset_stats"}, timeout=30)
                drain_calls = 0
            x, timing = _run_dag(code, f"bench-{code}", start, end)
            report = (x.get("orders_report") or {}).get("counts") or {}
            n = (x["extract_orders"] or {}).get("counts", {}).get("orders", 0)
            fetched += n
            docs = sum(((x.get(f"write_{c}") or {}).get("counts") or {}).get("written", 0) for c in ("fba", "mfn"))
            written += docs
            extract_s += timing["extract_orders"]
            other_s += sum(v for k, v in timing.items() if k != "extract_orders")
            pages = -(-n // PAGE)
            per_mp[code] = {"orders": n, "documents_written": docs, "quarantined": report.get("quarantined"),
                            "search_pages": pages,
                            "extract_ratio_to_ceiling": round(n / (timing["extract_orders"] * args.time_scale) / CEILING, 3),
                            "task_seconds": {k: round(v, 3) for k, v in timing.items()}}
        ns = requests.get(f"{sbx.netsuite_url}/_sandbox/stats", timeout=30).json()
        sp = requests.get(f"{sbx.spapi_url}/_sandbox/stats", timeout=30).json()
        ns_kinds = {k: v for k, v in ns["requests"].items() if "sandbox" not in k}  # inspection calls are not API calls
        ns_token = sum(v for k, v in ns_kinds.items() if "token" in k.lower())
        ns_api = sum(ns_kinds.values()) - ns_token
        sp_ops = sp["operations"]
        sp_token = sum(v["requests"] for k, v in sp_ops.items() if k.startswith("lwa"))
        sp_api = sp["totals"]["requests"] - sp_token - drain_calls  # the burst-spending calls are not the sync's
        extract_official = fetched / (extract_s * args.time_scale) if extract_s else 0.0
        e2e_official = fetched / (extract_s * args.time_scale + other_s) if (extract_s or other_s) else 0.0
        out = {
            "orders_per_day": args.orders_per_day, "marketplaces": per_mp, "time_scale": args.time_scale,
            "latency_ms": args.latency_ms, "orders_fetched": fetched, "documents_written": written,
            "ceiling_orders_per_s_official": CEILING,
            "extract_seconds_real": round(extract_s, 3), "netsuite_side_seconds_real": round(other_s, 3),
            "extract_orders_per_s_official": round(extract_official, 4),
            "extract_ratio_to_ceiling": round(extract_official / CEILING, 3),
            "end_to_end_orders_per_s_official": round(e2e_official, 4),
            "end_to_end_ratio_to_ceiling": round(e2e_official / CEILING, 3),
            "netsuite_requests": ns_api, "netsuite_token_requests": ns_token,
            "netsuite_requests_per_order": round(ns_api / fetched, 3) if fetched else None,
            "netsuite_requests_per_document": round(ns_api / written, 3) if written else None,
            "netsuite_requests_by_kind": ns_kinds,
            "amazon_requests": sp_api, "amazon_token_requests": sp_token,
            "amazon_requests_per_order": round(sp_api / fetched, 4) if fetched else None,
            "amazon_requests_by_operation": {k: v["requests"] - (drain_calls if k == "searchOrders" else 0)
                                             for k, v in sp_ops.items()},
            "amazon_throttled": sp["totals"]["throttled"],
        }
        return out
    finally:
        sbx.stop()


if __name__ == "__main__":
    sys.exit(main())
