"""Inventory benchmark: 100,000 SKUs × 3 locations -> sellable quantities -> deltas -> JSON_LISTINGS_FEEDs.

Pure domain code (no sandboxes, no database). Three runs as in issue #6:

1. first run: nothing accepted yet -> every MFN SKU is sent;
2. after 500 NetSuite changes -> only those 500 are sent (1 feed);
3. no change -> nothing is sent (no feed).

Run:  .venv/bin/python bench/inventory_bench.py [--skus 100000]   (prints one JSON object)
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from typing import Any

from airflow_provider_amznetsuite.config import MarketplaceConfig
from airflow_provider_amznetsuite.domain.feeds import plan_listings_feeds
from airflow_provider_amznetsuite.domain.inventory import (
    InventoryRow,
    compute_deltas,
    compute_sellable,
    inventory_feed_messages,
)

LOCATIONS = ("3", "4", "7")
SELLER_ID = "A2BENCHSELLER"


def _marketplace() -> MarketplaceConfig:
    return MarketplaceConfig.model_validate({
        "code": "us", "marketplace_id": "ATVPDKIKX0DER", "region": "na", "country": "US", "currency": "USD",
        "subsidiary": 4,
        "locations": {"mfn": [{"location_id": 3}, {"location_id": 4, "share": "0.5", "cap": 200},
                              {"location_id": 7, "share": "0.8"}], "fba": 13},
        "inventory": {"safety_stock": 2, "allocation_share": "0.9", "handling_time_days": 2},
    })


def _raw_rows(skus: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows = []
    for n in range(skus):
        sku = f"BENCH-{n:06d}"
        for loc in LOCATIONS:
            on_hand = rng.randint(0, 400)
            committed = rng.randint(0, min(on_hand, 20))
            rows.append({"sku": sku, "item_id": str(100000 + n), "location_id": loc, "on_hand": on_hand,
                         "committed": committed, "available": on_hand - committed, "in_transit": rng.randint(0, 5),
                         "backordered": 0, "is_fba": n % 100 == 0})
    return rows


def _push(rows: list[InventoryRow], mp: MarketplaceConfig, accepted: dict[str, int]) -> dict[str, Any]:
    t0 = time.perf_counter()
    comp = compute_sellable(rows, mp)
    t1 = time.perf_counter()
    deltas = compute_deltas(comp.quantities, accepted)
    t2 = time.perf_counter()
    messages = inventory_feed_messages(deltas, product_types="PRODUCT", handling_time_days=mp.inventory.handling_time_days)
    docs = plan_listings_feeds(SELLER_ID, messages)
    t3 = time.perf_counter()
    # pretend Amazon accepted everything: the state advances to the sent quantities
    accepted.update(deltas)
    return {
        "compute_sellable_s": round(t1 - t0, 3),
        "compute_deltas_s": round(t2 - t1, 3),
        "delta_computation_s": round(t2 - t0, 3),
        "feed_build_s": round(t3 - t2, 3),
        "messages": len(messages),
        "feeds": len(docs),
        "bytes": sum(d.size for d in docs),
        "max_feed_bytes": max((d.size for d in docs), default=0),
        "skipped_fba": len(comp.skipped_fba),
    }


def run(skus: int = 100_000, seed: int = 6) -> dict[str, Any]:
    mp = _marketplace()
    raw = _raw_rows(skus, seed)
    t0 = time.perf_counter()
    rows = [InventoryRow.model_validate(r) for r in raw]
    parse_s = time.perf_counter() - t0
    accepted: dict[str, int] = {}
    first = _push(rows, mp, accepted)

    rng = random.Random(seed + 1)
    changed = rng.sample(range(skus), 600)
    bumped: set[str] = set()
    for n in changed:  # add 25 units at the first location of 500 MFN SKUs
        if n % 100 == 0 or len(bumped) == 500:
            continue
        i = n * len(LOCATIONS)
        r = rows[i]
        rows[i] = r.model_copy(update={"available": (r.available or 0) + 25, "on_hand": r.on_hand + 25})
        bumped.add(r.sku)
    second = _push(rows, mp, accepted)
    third = _push(rows, mp, accepted)
    return {
        "benchmark": "inventory",
        "skus": skus,
        "locations": len(LOCATIONS),
        "rows": len(rows),
        "row_validation_s": round(parse_s, 3),
        "first_run": first,
        "after_500_changes": {**second, "changed_skus": len(bumped)},
        "no_change": third,
        "python": sys.version.split()[0],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skus", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=6)
    args = ap.parse_args(argv)
    print(json.dumps(run(args.skus, args.seed), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
