"""End to end through a real ``airflow standalone`` and its REST API v2 (``make e2e``).

The tests share one running stack (see conftest.py) and build on each other in file order:
DAGs listed → scheduled run on unpause → manual trigger with Params → invalid Params rejected →
two-day backfill without duplicates → clean shutdown.
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_amznetsuite.config import SYNCS
from airflow_provider_amznetsuite.dag_factory import builder
from airflow_provider_amznetsuite.launch import port_in_use
from tests.e2e.conftest import DAY, E2E_MARKETPLACE, Stack, duplicates, iso, today_utc

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

DAG_ID = f"amazon_{E2E_MARKETPLACE}_orders"
DOCUMENT_OF = {"MERCHANT": "salesOrder", "AMAZON": "cashSale"}  # example config: orders.fba_document = cashSale


def documents_by_external_id(stack: Stack) -> dict[str, tuple[str, dict[str, Any]]]:
    """Every order document in NetSuite, keyed by external id; asserts there are no duplicates of any kind."""
    docs = stack.order_documents()
    flat = [(rt, d) for rt, items in docs.items() for d in items]
    ext_ids = [d.get("externalId") for _, d in flat]
    assert all(ext_ids), "an order document without externalId escapes the idempotent upsert"
    # the sandbox enforces unique external ids per record type; across types and per Amazon order it does not
    assert duplicates(ext_ids) == []
    order_refs = [d.get("custbody_amz_order_id") for _, d in flat]
    assert duplicates([r for r in order_refs if r]) == [], "one Amazon order was booked twice"
    return {d["externalId"]: (rt, d) for rt, d in flat}


def assert_documents_match_amazon(stack: Stack, docs: dict[str, tuple[str, dict[str, Any]]]) -> None:
    amazon = {o["orderId"]: o for o in stack.amazon_orders(E2E_MARKETPLACE)}
    for ext_id, (record_type, doc) in docs.items():
        assert ext_id.startswith("AMZ-"), ext_id
        order_id = ext_id.removeprefix("AMZ-")
        assert order_id in amazon, f"{ext_id} does not belong to an Amazon {E2E_MARKETPLACE} order"
        assert doc["custbody_amz_order_id"] == order_id
        assert record_type == DOCUMENT_OF[amazon[order_id]["fulfilledBy"]], (ext_id, record_type)


def wait_for_run_of_type(stack: Stack, run_type: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = stack.get(f"/dags/{DAG_ID}/dagRuns", run_type=[run_type], limit=10)["dag_runs"]
        if runs:
            return runs[0]
        time.sleep(1)
    raise AssertionError(f"no {run_type} run of {DAG_ID} was created within {timeout:.0f}s")


def test_standalone_lists_every_dag_with_param_forms(stack: Stack) -> None:
    started = time.monotonic()
    stack.wait_dag(DAG_ID)
    stack.timings["dag_visible_after_ready_s"] = round(time.monotonic() - started, 1)

    assert stack.get("/importErrors")["total_entries"] == 0
    listed = {d["dag_id"]: d for d in stack.get("/dags", limit=100)["dags"]}
    expected = {f"amazon_{E2E_MARKETPLACE}_{sync}" for sync in SYNCS if builder(sync) is not None}
    assert DAG_ID in expected
    assert set(listed) == expected
    assert all(d["is_paused"] for d in listed.values()), "new DAGs must start paused"

    params = stack.get(f"/dags/{DAG_ID}/details")["params"]
    assert {"window_start", "window_end", "order_ids", "dry_run", "allow_quarantine"} <= set(params)
    assert params["window_start"]["schema"]["pattern"].startswith("^\\d{4}-")
    assert params["order_ids"]["schema"]["items"]["pattern"] == r"^[0-9]{3}-[0-9]{7}-[0-9]{7}$"
    assert params["dry_run"]["value"] is False

    pool = stack.get("/pools/spapi_amazon_sp_api_default_eu")
    assert pool["slots"] == 4


def test_unpause_runs_the_latest_daily_interval(stack: Stack) -> None:
    resp = stack.patch(f"/dags/{DAG_ID}", {"is_paused": False})
    assert resp.status_code == 200, resp.text
    assert resp.json()["is_paused"] is False

    run = wait_for_run_of_type(stack, "scheduled")
    today = today_utc()
    assert run["data_interval_start"] == iso(today - DAY)
    assert run["data_interval_end"] == iso(today)
    started = time.monotonic()
    stack.wait_run(DAG_ID, run["dag_run_id"])
    stack.timings["scheduled_run_s"] = round(time.monotonic() - started, 1)

    window = stack.xcom(DAG_ID, run["dag_run_id"], "extract_orders")["window"]
    assert window["source"] == "data_interval"
    assert window["end"].startswith(today.strftime("%Y-%m-%dT00:00:00"))
    documents_by_external_id(stack)


def test_trigger_with_params_writes_orders_to_netsuite(stack: Stack) -> None:
    before = documents_by_external_id(stack)
    now = datetime.now(timezone.utc)
    # the sandbox (real business time) holds the last three days of orders
    conf = {"window_start": iso(now - timedelta(days=4)), "window_end": iso(now)}
    resp = stack.post(f"/dags/{DAG_ID}/dagRuns", {"logical_date": now.isoformat(), "conf": conf})
    assert resp.status_code == 200, resp.text
    run_id = resp.json()["dag_run_id"]
    assert resp.json()["conf"]["window_start"] == conf["window_start"]

    started = time.monotonic()
    run = stack.wait_run(DAG_ID, run_id)
    stack.timings["orders_run_s"] = round(time.monotonic() - started, 1)
    assert run["state"] == "success"

    window = stack.xcom(DAG_ID, run_id, "extract_orders")["window"]
    assert window["source"] == "params"
    counts = stack.xcom(DAG_ID, run_id, "orders_report")["counts"]
    after = documents_by_external_id(stack)
    assert_documents_match_amazon(stack, after)
    new = set(after) - set(before)
    assert counts["created"] == len(new)
    assert counts["quarantined"] == 0
    assert counts["fetched"] >= len(after) > 0
    kinds = {rt for rt, _ in after.values()}
    assert kinds == {"salesOrder", "cashSale"}, "the sandbox has FBA and MFN orders; both documents expected"
    # documents written earlier (scheduled run) were left as they were: same internal ids
    assert all(after[e][1]["id"] == before[e][1]["id"] for e in before)


@pytest.mark.parametrize(("conf", "param", "message"), [
    ({"window_start": "yesterday", "window_end": "2026-11-26T00:00:00Z"}, "window_start", "does not match"),
    ({"order_ids": ["123-45"]}, "order_ids", "does not match"),
    ({"dry_run": "yes"}, "dry_run", "is not of type 'boolean'"),
])
def test_invalid_params_are_rejected_with_the_schema_message(stack: Stack, conf: dict[str, Any], param: str,
                                                              message: str) -> None:
    before = stack.get(f"/dags/{DAG_ID}/dagRuns", limit=100)["total_entries"]
    resp = stack.post(f"/dags/{DAG_ID}/dagRuns", {"logical_date": datetime.now(timezone.utc).isoformat(),
                                                   "conf": conf})
    assert resp.status_code == 400, resp.text
    detail = resp.json()["detail"]
    assert f"Invalid input for param {param}" in detail
    assert message in detail
    assert stack.get(f"/dags/{DAG_ID}/dagRuns", limit=100)["total_entries"] == before, "no run may be created"


def test_backfill_over_two_days_creates_no_duplicates(stack: Stack) -> None:
    before = documents_by_external_id(stack)
    today = today_utc()
    first, last = today - 3 * DAY, today - 2 * DAY  # logical dates = interval starts of two complete days
    body = {"dag_id": DAG_ID, "from_date": iso(first), "to_date": iso(last), "max_active_runs": 1,
            "reprocess_behavior": "none", "dag_run_conf": {}}
    resp = stack.post("/backfills", body)
    assert resp.status_code == 200, resp.text
    backfill_id = resp.json()["id"]

    started = time.monotonic()
    runs: list[dict[str, Any]] = []
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        runs = [r for r in stack.get(f"/dags/{DAG_ID}/dagRuns", run_type=["backfill"], limit=10)["dag_runs"]]
        if len(runs) == 2 and all(r["state"] in ("success", "failed") for r in runs):
            break
        for r in runs:
            if r["state"] == "running":
                stack.wait_run(DAG_ID, r["dag_run_id"], timeout=max(1.0, deadline - time.monotonic()))
        time.sleep(1)
    stack.timings["backfill_2_runs_s"] = round(time.monotonic() - started, 1)
    assert sorted((r["data_interval_start"], r["data_interval_end"]) for r in runs) == [
        (iso(first), iso(first + DAY)), (iso(last), iso(last + DAY))]
    for r in runs:
        assert r["state"] == "success", stack.explain(DAG_ID, r["dag_run_id"])

    backfill = stack.get(f"/backfills/{backfill_id}")
    assert backfill["dag_id"] == DAG_ID

    after = documents_by_external_id(stack)
    assert_documents_match_amazon(stack, after)
    assert set(before) <= set(after)
    assert all(after[e][1]["id"] == before[e][1]["id"] for e in before), "a document was re-created"
    created = sum(stack.xcom(DAG_ID, r["dag_run_id"], "orders_report")["counts"]["created"] for r in runs)
    assert created == len(set(after) - set(before))


def test_clean_shutdown_leaves_no_process_behind(stack: Stack) -> None:
    groups = [stack.airflow.proc.pid, stack.sandbox.proc.pid]  # each was started as its own process group
    assert stack.stop() == []
    for pgid in groups:
        with pytest.raises(ProcessLookupError):
            os.killpg(pgid, 0)  # signal 0: only checks whether any process of the group is left
    assert not port_in_use(stack.airflow.port)
    assert not port_in_use(int(stack.sandbox.netsuite_url.rsplit(":", 1)[1]))
