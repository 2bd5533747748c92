"""Inventory sync operators benchmark: 100,000 SKUs × 3 locations through read_netsuite_stock and
plan_inventory_push (the real operators and a real SQLite sync-state database; NetSuite rows come from an
in-memory source shaped like SuiteQL rows, Amazon is a stand-in that only gives the seller id and the
FBA listing). Three runs as in issue #6, each followed by "Amazon accepted everything":

1. first run   -> every MFN SKU is planned (4 feeds of ≤ 25,000 messages);
2. 500 changes -> 500 messages in 1 feed;
3. no change   -> no feed.

The end-to-end variant with the SP-API sandbox processing the feeds is the slow test
``tests/integration/test_inventory_sync.py::test_100k_skus_3_locations_4_feeds_then_500_in_1_then_none``.

Run:  .venv/bin/python bench/inventory_sync_bench.py [--skus 100000] [--fba 1000]   (prints one JSON object)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
LOCATIONS = ("1", "7", "8")


class _NetSuite:
    def __init__(self, skus: int, seed: int) -> None:
        rng = random.Random(seed)
        self.skus = [f"BENCH-{n:06d}" for n in range(skus)]
        self.stock = {(s, loc): rng.randint(0, 400) for s in self.skus for loc in LOCATIONS}

    def suiteql_keyset(self, select_sql: str, *, key: str, where: str, params: dict[str, Any], page_size: int = 1000):
        loc = str(params["loc"])
        for n, sku in enumerate(self.skus):
            q = str(self.stock[(sku, loc)])
            yield {"item": str(100000 + n), "location": loc, "itemid": sku, "quantityonhand": q,
                   "quantitycommitted": "0", "quantityavailable": q, "quantityintransit": "0",
                   "quantitybackordered": "0", "isinactive": "F", "safety_stock": "2", "category": "Kitchen"}

    def suiteql(self, query: str, params: dict[str, Any] | None = None, page_size: int = 1000):
        return iter([])


class _SpApi:
    def __init__(self, fba: list[str]) -> None:
        self.seller_id = "A2BENCHSELLER"
        self.fba = fba

    def get_inventory_summaries(self, marketplace_id: str, seller_skus: Any = None):
        return iter([{"sellerSku": s, "inventoryDetails": {"fulfillableQuantity": 5}} for s in self.fba])


class _TI:
    def __init__(self) -> None:
        self.xcom: dict[str, Any] = {}

    def xcom_pull(self, task_ids: str) -> Any:
        return self.xcom.get(task_ids)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skus", type=int, default=100_000)
    ap.add_argument("--fba", type=int, default=1_000, help="SKUs Amazon reports as FBA (left out of the push)")
    ap.add_argument("--changes", type=int, default=500)
    args = ap.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="inventory-sync-bench-"))
    os.environ.setdefault("AIRFLOW_HOME", str(work / "airflow"))
    doc = yaml.safe_load((ROOT / "dags" / "marketplaces.yaml").read_text())
    doc["marketplaces"]["uk"]["locations"] = {"mfn": [{"location_id": int(x)} for x in LOCATIONS], "fba": 11}
    doc["state"] = {"conn_id": "bench_state_unused"}
    config = work / "marketplaces.yaml"
    config.write_text(yaml.safe_dump(doc))

    from airflow.sdk import DAG

    from airflow_provider_amznetsuite.operators.inventory import PlanInventoryPushOperator, ReadNetSuiteStockOperator
    from airflow_provider_amznetsuite.state import SyncStateStore

    store = SyncStateStore(f"sqlite:///{work / 'state.db'}")
    netsuite = _NetSuite(args.skus, seed=11)
    spapi = _SpApi(netsuite.skus[: args.fba])
    hooks = {"netsuite_hook": lambda self: netsuite, "spapi_hook": lambda self: spapi}
    read_cls = type("BenchRead", (ReadNetSuiteStockOperator,), hooks)
    plan_cls = type("BenchPlan", (PlanInventoryPushOperator,), hooks)

    def run(label: str, n: int) -> dict[str, Any]:
        dag = DAG("amazon_uk_inventory", schedule=None)
        read = read_cls(task_id="read_netsuite_stock", marketplace="uk", config_path=str(config), dag=dag,
                        category_field="custitem_amz_category")
        plan = plan_cls(task_id="plan_inventory_push", marketplace="uk", config_path=str(config), dag=dag,
                        read_task_id="read_netsuite_stock")
        for op in (read, plan):
            op.__dict__["state"] = store
        ti = _TI()
        ctx = {"ti": ti, "dag_run": SimpleNamespace(run_id=f"bench__{n}"), "params": {}}
        t0 = time.perf_counter()
        ti.xcom["read_netsuite_stock"] = read.execute(ctx)
        t1 = time.perf_counter()
        out = plan.execute(ctx)
        t2 = time.perf_counter()
        sizes = []
        if out["ref"]:
            doc = store.get_batch(out["ref"])
            sizes = [len(f["body"].encode("utf-8")) for f in doc["feeds"]]
            store.set_accepted("inventory", "uk", doc["values"])  # as if Amazon accepted every message
        t3 = time.perf_counter()
        store.drop_batches(f"amazon_uk_inventory/bench__{n}/")
        return {"run": label, "read_netsuite_stock_s": round(t1 - t0, 2), "plan_inventory_push_s": round(t2 - t1, 2),
                "accept_s": round(t3 - t2, 2), "rows": ti.xcom["read_netsuite_stock"]["counts"]["rows"],
                "deltas": out["counts"]["deltas"], "feeds": out["feeds"], "messages": out["messages"],
                "max_feed_bytes": max(sizes, default=0), "fba_skipped": out["counts"]["fba_skus_skipped"]}

    results = [run("first_run", 1)]
    rng = random.Random(5)
    for sku in rng.sample(netsuite.skus[args.fba:], args.changes):
        netsuite.stock[(sku, "7")] += 3
    results.append(run(f"after_{args.changes}_changes", 2))
    results.append(run("no_change", 3))
    print(json.dumps({"benchmark": "inventory_sync_operators", "skus": args.skus, "locations": len(LOCATIONS),
                      "fba_skus": args.fba, "python": sys.version.split()[0], "cpus": os.cpu_count(),
                      "load_average_1m": round(os.getloadavg()[0], 2), "runs": results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
