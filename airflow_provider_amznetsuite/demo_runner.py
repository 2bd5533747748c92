"""Child process of ``amznetsuite demo``: runs the real DAG file's DAGs with ``dag.test()`` and writes a summary.

Runs in its own process so that Airflow is configured (AIRFLOW_HOME, connections) before it is imported.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

# Facts shown per sync, in order: (label, summary key). The first task summary carrying a key wins.
FACTS: dict[str, list[tuple[str, str]]] = {
    "orders": [("fetched", "fetched"), ("updated", "updated"), ("closed", "cancelled_closed"),
               ("quarantined", "quarantined"), ("ship-by alerts", "ship_by_alerts")],
    "inventory": [("deltas", "deltas"), ("feeds", "feeds"), ("accepted", "accepted"), ("rejected", "rejected"),
                  ("FBA movements", "fba_movements"), ("unmapped locations", "unmapped_locations")],
    "products": [("new", "new"), ("changed", "changed"), ("unchanged", "unchanged"), ("invalid", "invalid"),
                 ("discontinued", "discontinued"), ("sent", "sent"), ("accepted", "accepted"),
                 ("rejected", "rejected")],
    "pricing": [("offers", "offers"), ("sent", "planned_messages"), ("held", "held"), ("accepted", "accepted"),
                ("rejected", "rejected")],
    "settlement": [("settlements", "settlements"), ("rows", "rows"), ("matched", "matched"),
                   ("unmatched", "unmatched"), ("unmapped", "unmapped"), ("quarantined", "quarantined"),
                   ("journals posted", "journals_posted"), ("balanced", "balanced")],
}


def _orders_facts(summaries: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Orders written by NetSuite document type, and what went back to Amazon."""
    report = summaries.get("orders_report", {})
    facts: dict[str, Any] = {}
    for record_type, outcomes in sorted((report.get("written") or {}).items()):
        label = {"salesOrder": "sales orders", "cashSale": "cash sales"}.get(record_type, record_type)
        facts[label] = sum(v for v in outcomes.values() if isinstance(v, int))
    facts["acknowledged"] = summaries.get("acknowledge_orders", {}).get("accepted", 0)
    facts["shipments confirmed"] = summaries.get("confirm_shipments", {}).get("confirmed", 0)
    return facts


def _facts(sync: str, summaries: dict[str, dict[str, Any]]) -> tuple[dict[str, Any], list[str], int]:
    facts: dict[str, Any] = _orders_facts(summaries) if sync == "orders" else {}
    reports: list[str] = []
    for label, key in FACTS.get(sync, []):
        for summary in summaries.values():
            if key in summary and label not in facts:
                value = summary[key]
                facts[label] = len(value) if isinstance(value, (list, dict)) else value
    flagged = 0
    for summary in summaries.values():
        for key in ("quarantined", "invalid", "held", "rejected"):
            value = summary.get(key)
            if isinstance(value, int) and not isinstance(value, bool):
                flagged = max(flagged, value)
        for key, value in summary.items():
            if key in ("reports", "report_paths") and isinstance(value, list):
                reports.extend(str(v) for v in value)
            elif isinstance(value, str) and value.endswith((".html", ".csv")):
                reports.append(value)
    return facts, sorted(set(reports)), flagged


def conf_for(sync: str, now: datetime) -> dict[str, Any]:
    # quarantined records are reported as "flagged" in the summary instead of failing the demo run
    conf: dict[str, Any] = {"allow_quarantine": True}
    if sync == "settlement":
        conf["wait_minutes"] = 0  # the demo processes what is there; it does not wait for Amazon's next one
    if sync == "orders":
        # the sandbox generates the last few days of orders: cover them all in the demo run
        start = (now - timedelta(days=4)).replace(microsecond=0)
        end = (now - timedelta(minutes=3)).replace(microsecond=0)
        conf.update(window_start=start.isoformat().replace("+00:00", "Z"),
                    window_end=end.isoformat().replace("+00:00", "Z"))
    return conf


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--dags-folder", required=True)
    p.add_argument("--marketplaces", required=True)
    p.add_argument("--syncs", required=True)
    args = p.parse_args(argv)

    from airflow.dag_processing.dagbag import DagBag

    from airflow_provider_amznetsuite.state import SyncStateStore

    bag = DagBag(dag_folder=str(Path(args.dags_folder) / "amazon_netsuite.py"))
    if bag.import_errors:
        Path(args.out).write_text(json.dumps({"ok": False, "import_errors": bag.import_errors, "marketplaces": {}}))
        return 1
    state = SyncStateStore.from_airflow()
    result: dict[str, Any] = {"ok": True, "marketplaces": {}}
    for code in args.marketplaces.split(","):
        per: dict[str, Any] = {}
        for sync in args.syncs.split(","):
            dag_id = f"amazon_{code}_{sync}"
            dag = bag.get_dag(dag_id)
            if dag is None:
                per[sync] = {"state": "absent", "facts": {}}
                continue
            print(f"=== {dag_id} ===", flush=True)
            now = datetime.now(timezone.utc)
            try:
                run = dag.test(run_conf=conf_for(sync, now))
                run_state = str(getattr(run, "state", "unknown"))
                run_id = getattr(run, "run_id", None)
            except Exception as exc:  # keep going: the summary says which run failed
                print(f"{dag_id} raised {type(exc).__name__}: {exc}", flush=True)
                run_state, run_id = "error", None
            summaries = state.run_summaries(dag_id, run_id) if run_id else {}
            facts, reports, flagged = _facts(sync, summaries)
            state_name = run_state.rsplit(".", 1)[-1].lower()
            per[sync] = {"state": "flagged" if state_name == "success" and flagged else state_name,
                         "run_id": run_id, "facts": facts, "reports": reports}
            if state_name != "success":
                result["ok"] = False
        result["marketplaces"][code] = per
    Path(args.out).write_text(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    sys.exit(main())
