"""The inventory sync through both sandboxes over real HTTP (and one large run with an in-memory NetSuite).

Each scenario starts its own pair of sandboxes (≈1 s) so exact listing quantities and NetSuite stock
levels are not disturbed by other modules writing to the shared session sandboxes. The tasks are the
ones ``dag_factory.inventory.build`` wires into ``amazon_uk_inventory``, executed in DAG order with a
minimal task-instance stand-in (the push waits by polling instead of deferring); one test runs the
real DAG with ``dag.test()``.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import requests
import yaml
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_amznetsuite.config import load_config
from airflow_provider_amznetsuite.dag_factory.inventory import build
from airflow_provider_amznetsuite.operators.inventory import ReadNetSuiteStockOperator
from airflow_provider_amznetsuite.sandbox import catalog
from airflow_provider_amznetsuite.sandbox.runner import Sandboxes, start_sandboxes
from airflow_provider_amznetsuite.state import SyncStateStore

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "dags" / "marketplaces.yaml"
UK = "A1F83G8C2ARO7P"
ORDER = ("read_netsuite_stock", "plan_inventory_push", "push_inventory", "mirror_fba_stock", "inventory_report")
T0 = datetime(2026, 11, 26, 0, 0, tzinfo=timezone.utc)


class FakeTI:
    def __init__(self) -> None:
        self.xcom: dict[str, Any] = {}

    def xcom_pull(self, task_ids: str) -> Any:
        return self.xcom.get(task_ids)


class Harness:
    """Runs the tasks of ``amazon_uk_inventory`` in order against the sandboxes (all_done for the report)."""

    def __init__(self, sbx: Sandboxes, config: Path, state_url: str, **plan_options: Any) -> None:
        self.sbx = sbx
        self.config = config
        self.state = SyncStateStore(state_url)
        self.plan_options = plan_options
        self.runs = 0

    def dag(self) -> Any:
        app = load_config(self.config)
        dag = build(app.marketplace("uk"), app)
        push = dag.get_task("push_inventory")
        push.deferrable, push.poll_interval = False, 0.1
        for name, value in self.plan_options.items():
            setattr(dag.get_task("plan_inventory_push"), name, value)
        return dag

    def run(self, *, window_end: datetime | None = None, **params: Any) -> dict[str, Any]:
        self.runs += 1
        end = window_end or T0 + timedelta(hours=self.runs)
        dag = self.dag()
        ti = FakeTI()
        ctx = {"ti": ti, "dag_run": SimpleNamespace(run_id=f"test__{self.runs}", run_after=end),
               "params": {**dag.params.dump(), **params},
               "data_interval_start": end - timedelta(hours=1), "data_interval_end": end}
        out: dict[str, Any] = {}
        for task_id in ORDER:
            try:
                ti.xcom[task_id] = out[task_id] = dag.get_task(task_id).execute(ctx)
            except AirflowFailException as exc:  # visibly failed task; downstream report still runs (all_done)
                out[task_id] = exc
        return out

    # -- sandbox inspection ----------------------------------------------------------------------
    def feeds(self) -> list[dict[str, Any]]:
        feeds = requests.get(f"{self.sbx.spapi_url}/_sandbox/feeds", timeout=30).json()["feeds"]
        return [f for f in feeds if f["feedType"] == "JSON_LISTINGS_FEED"]

    def listing_quantities(self) -> dict[str, int | None]:
        listings = requests.get(f"{self.sbx.spapi_url}/_sandbox/listings", params={"marketplaceId": UK},
                                timeout=30).json()["listings"]
        out: dict[str, int | None] = {}
        for lst in listings:
            for fa in lst["attributes"].get("fulfillment_availability") or []:
                if fa.get("fulfillment_channel_code") == "DEFAULT":
                    out[lst["sku"]] = fa.get("quantity")
        return out

    def ns_control(self, **body: Any) -> dict[str, Any]:
        r = requests.post(f"{self.sbx.netsuite_url}/_sandbox/control", json=body, timeout=30)
        r.raise_for_status()
        return r.json()

    def sp_control(self, **body: Any) -> dict[str, Any]:
        r = requests.post(f"{self.sbx.spapi_url}/_sandbox/control", json=body, timeout=30)
        r.raise_for_status()
        return r.json()

    def ns_items(self) -> dict[str, dict[str, Any]]:
        items = requests.get(f"{self.sbx.netsuite_url}/_sandbox/records/inventoryItem", timeout=30).json()["items"]
        return {i["itemId"]: i for i in items}

    def bump_stock(self, skus: list[str], by: int = 7) -> None:
        items = self.ns_items()
        for sku in skus:
            row = self.sbx.netsuite.store.inventory(int(items[sku]["id"]), 1)
            self.ns_control(action="set_inventory", sku=sku, location=1,
                            quantityonhand=int(row["quantityonhand"]) + by)

    def expected_quantities(self) -> dict[str, int]:
        """Independent oracle for the uk config: location 1 only, safety = item field, never negative."""
        out = {}
        for sku, item in self.ns_items().items():
            row = self.sbx.netsuite.store.inventory(int(item["id"]), 1)
            if row is None or sku in FBA_UK:
                continue
            available = int(row["quantityavailable"]) - int(row["quantitybackordered"])
            out[sku] = 0 if item["isInactive"] else max(max(available, 0) - int(item["custitem_amz_safety_stock"]), 0)
        return out


FBA_UK = {i.sku for i in catalog.items(42, 60) if "uk" in i.fba_marketplaces}
ACTIVE_MFN = sorted(i.sku for i in catalog.sellable_items(42, 60) if i.sku not in FBA_UK)


def mfn_quantity_skus(feed: dict[str, Any]) -> list[str]:
    """SKUs that a JSON_LISTINGS_FEED document gives a seller-fulfilled (DEFAULT) quantity."""
    out = []
    for m in feed["document"]["messages"]:
        for p in m.get("patches") or []:
            if p["path"] == "/attributes/fulfillment_availability" and any(
                    v.get("fulfillment_channel_code") == "DEFAULT" for v in p.get("value") or []):
                out.append(m["sku"])
    return out


@pytest.fixture
def harness(tmp_path, monkeypatch) -> Iterator[Harness]:
    sbx = start_sandboxes(seed=42, time_scale=100.0)
    try:
        for name, value in sbx.connection_env().items():
            monkeypatch.setenv(name, value)
        url = f"sqlite:///{tmp_path / 'state.db'}"
        monkeypatch.setenv("AIRFLOW_CONN_AMZNETSUITE_STATE", json.dumps({"conn_type": "generic", "extra": {"url": url}}))
        yield Harness(sbx, CONFIG, url, max_messages_per_feed=13)
    finally:
        sbx.stop()


def test_first_run_sends_every_mfn_sku_then_nothing_then_only_the_changes(harness):
    first = harness.run()
    assert not any(isinstance(v, Exception) for v in first.values()), first
    feeds = harness.feeds()
    mfn_expected = harness.expected_quantities()
    # 49 MFN SKUs at ≤ 13 messages per feed (the fast-suite stand-in for 100,000 at 25,000)
    assert len(mfn_expected) == 49 and len(feeds) == math.ceil(49 / 13) == 4
    assert first["plan_inventory_push"]["feeds"] == 4 and first["push_inventory"]["accepted"] == 49
    sent = [sku for f in feeds for sku in mfn_quantity_skus(f)]
    assert sorted(sent) == sorted(mfn_expected)
    assert not set(sent) & FBA_UK  # FBA SKUs never receive an MFN quantity
    listed = harness.listing_quantities()
    assert {s: listed[s] for s in mfn_expected} == mfn_expected
    assert not set(listed) & FBA_UK  # FBA listings still have no DEFAULT channel entry
    assert harness.state.get_accepted("inventory", "uk") == mfn_expected
    report = first["inventory_report"]
    assert report["unmapped_locations"] == ["5"] and report["fba_skus_skipped"] == len(FBA_UK)

    second = harness.run()
    assert second["plan_inventory_push"]["ref"] is None and second["push_inventory"]["feeds"] == 0
    assert len(harness.feeds()) == 4

    changed = ACTIVE_MFN[1:4]
    harness.bump_stock(changed)
    third = harness.run()
    feeds = harness.feeds()
    assert len(feeds) == 5 and sorted(mfn_quantity_skus(feeds[-1])) == changed
    assert third["push_inventory"]["accepted"] == 3
    listed, now_expected = harness.listing_quantities(), harness.expected_quantities()
    assert {s: listed[s] for s in changed} == {s: now_expected[s] for s in changed}
    assert all(now_expected[s] > mfn_expected[s] for s in changed)


def test_rejected_skus_are_quarantined_and_resent_until_accepted(harness):
    assert harness.run()["push_inventory"]["accepted"] == 49
    rejected, others = ACTIVE_MFN[5:8], ACTIVE_MFN[10:12]
    harness.sp_control(reject_skus=rejected)
    before = harness.listing_quantities()
    harness.bump_stock(rejected + others)
    out = harness.run()
    assert isinstance(out["push_inventory"], AirflowFailException) and "3 record(s) quarantined" in str(out["push_inventory"])
    assert isinstance(out["inventory_report"], AirflowFailException)
    summary = harness.state.run_summaries("amazon_uk_inventory", "test__2")
    assert summary["push_inventory"]["accepted"] == 2 and summary["push_inventory"]["rejected_codes"] == {"8541": 3}
    assert summary["inventory_report"]["open_rejection_skus"] == rejected
    quarantined = harness.state.open_quarantine("inventory", "uk")
    assert sorted(r.key for r in quarantined) == rejected
    assert all(r.reason.startswith("Amazon rejected the listing update — 8541") for r in quarantined)
    listed = harness.listing_quantities()
    assert {s: listed[s] for s in rejected} == {s: before[s] for s in rejected}

    out = harness.run()  # still rejected: exactly those 3 are sent again
    assert sorted(mfn_quantity_skus(harness.feeds()[-1])) == rejected
    assert isinstance(out["push_inventory"], AirflowFailException)

    harness.sp_control(reject_skus=[])
    out = harness.run(allow_quarantine=False)
    assert sorted(mfn_quantity_skus(harness.feeds()[-1])) == rejected
    assert out["push_inventory"]["accepted"] == 3 and not isinstance(out["inventory_report"], Exception)
    assert harness.state.open_quarantine("inventory", "uk") == []
    expected = harness.expected_quantities()
    listed = harness.listing_quantities()
    assert {s: listed[s] for s in rejected} == {s: expected[s] for s in rejected}
    count = len(harness.feeds())
    assert harness.run()["push_inventory"]["feeds"] == 0 and len(harness.feeds()) == count


def fba_levels(harness: Harness) -> tuple[dict[str, int], dict[str, int]]:
    amazon = {r["sku"]: r["fulfillable"] for r in requests.get(
        f"{harness.sbx.spapi_url}/_sandbox/inventory", params={"marketplace": "uk"}, timeout=30).json()["inventory"]}
    items = harness.ns_items()
    netsuite = {}
    for sku in amazon:
        row = harness.sbx.netsuite.store.inventory(int(items[sku]["id"]), 11)
        netsuite[sku] = int(row["quantityonhand"]) if row else 0
    return amazon, netsuite


def test_fba_location_mirrors_amazon_and_a_rerun_changes_nothing(harness):
    amazon, netsuite = fba_levels(harness)
    assert amazon != netsuite  # the seeds disagree, so the first run has something to do
    first = harness.run(window_end=T0 + timedelta(hours=1))
    mirror = first["mirror_fba_stock"]
    assert mirror["adjustments_posted"] == 1 and mirror["posted_external_ids"] == ["AMZ-FBA-uk-20261126-0100"]
    amazon, netsuite = fba_levels(harness)
    assert netsuite == amazon
    adj = requests.get(f"{harness.sbx.netsuite_url}/_sandbox/records/inventoryAdjustment",
                       params={"externalId": "AMZ-FBA-uk-20261126-0100"}, timeout=30).json()["items"]
    assert len(adj) == 1 and "Amazon FBA mirror uk 20261126-0100" in adj[0]["memo"]

    rerun = harness.run(window_end=T0 + timedelta(hours=1))  # same window again (e.g. a cleared task)
    assert rerun["mirror_fba_stock"]["plan_reused"] is True
    assert rerun["mirror_fba_stock"]["adjustments_posted"] == 0
    assert rerun["mirror_fba_stock"]["adjustments_already_in_netsuite"] == 1
    later = harness.run(window_end=T0 + timedelta(hours=2))
    assert later["mirror_fba_stock"]["adjustments_planned"] == 0 and later["mirror_fba_stock"]["movements"] == 0
    assert fba_levels(harness)[1] == amazon

    sku = sorted(amazon)[0]
    harness.sp_control(fba_quantity={"sku": sku, "marketplace": "uk", "fulfillable": amazon[sku] + 11})
    moved = harness.run(window_end=T0 + timedelta(hours=3))
    assert moved["mirror_fba_stock"]["movements"] == 1 and moved["mirror_fba_stock"]["units_in"] == 11
    amazon, netsuite = fba_levels(harness)
    assert netsuite == amazon
    assert len(requests.get(f"{harness.sbx.netsuite_url}/_sandbox/records/inventoryAdjustment",
                            timeout=30).json()["items"]) == 2


def test_small_delta_goes_through_patch_listings_item(harness, tmp_path):
    doc = yaml.safe_load(CONFIG.read_text())
    doc["marketplaces"]["uk"].setdefault("inventory", {})["small_delta_threshold"] = 5
    config = tmp_path / "marketplaces.yaml"
    config.write_text(yaml.safe_dump(doc))
    harness.config = config
    harness.run(full_push=True)
    feeds = len(harness.feeds())
    changed = ACTIVE_MFN[20:22]
    harness.bump_stock(changed, by=9)
    out = harness.run()
    assert out["plan_inventory_push"]["direct"] == 2 and out["push_inventory"]["direct"] == 2
    assert out["push_inventory"]["accepted"] == 2 and len(harness.feeds()) == feeds
    expected = harness.expected_quantities()
    listed = harness.listing_quantities()
    assert {s: listed[s] for s in changed} == {s: expected[s] for s in changed}
    assert harness.state.get_accepted("inventory", "uk", changed) == {s: expected[s] for s in changed}


# --- the real DAG ---------------------------------------------------------------------------------------------
@pytest.mark.db
def test_dag_test_runs_green_and_a_second_run_sends_no_feed(harness, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("AMZNETSUITE_CONFIG", str(CONFIG))
    dag = DagBag(dag_folder=str(ROOT / "dags" / "amazon_netsuite.py")).get_dag("amazon_uk_inventory")
    dag.get_task("push_inventory").poll_interval = 0.2
    first = dag.test(logical_date=T0 + timedelta(hours=5))
    states = {ti.task_id: ti.state for ti in first.get_task_instances()}
    assert first.state == "success", states
    assert len(harness.feeds()) == 1
    assert harness.state.get_accepted("inventory", "uk") == harness.expected_quantities()
    amazon, netsuite = fba_levels(harness)
    assert netsuite == amazon

    second = dag.test(logical_date=T0 + timedelta(hours=6))
    assert second.state == "success"
    assert len(harness.feeds()) == 1
    report = harness.state.run_summaries("amazon_uk_inventory", second.run_id)["inventory_report"]
    assert report["deltas"] == 0 and report["feeds"] == 0 and report["fba"]["adjustments_planned"] == 0


# --- 100,000 SKUs × 3 locations ----------------------------------------------------------------------------------
LARGE_SKUS = 100_000


class InMemoryNetSuite:
    """NetSuite availability for 100,000 SKUs × 3 locations, served as the hook's keyset pass would."""

    def __init__(self, items: list[catalog.CatalogItem], locations: tuple[str, ...], seed: int = 7) -> None:
        rng = random.Random(seed)
        self.items = items
        self.stock = {(i.sku, loc): rng.randint(0, 60) for i in items for loc in locations}

    def suiteql_keyset(self, select_sql: str, *, key: str, where: str, params: dict[str, Any], page_size: int = 1000):
        loc = str(params["loc"])
        for i in self.items:
            q = str(self.stock[(i.sku, loc)])
            yield {"item": i.internal_id, "location": loc, "itemid": i.sku, "quantityonhand": q, "quantitycommitted": "0",
                   "quantityavailable": q, "quantityintransit": "0", "quantitybackordered": "0",
                   "isinactive": "T" if i.inactive else "F", "safety_stock": "1", "fba_flag": "DEFAULT",
                   "category": i.category}

    def suiteql(self, query: str, params: dict[str, Any] | None = None, page_size: int = 1000):
        return iter([])  # no other locations in this subsidiary


@pytest.mark.slow
@pytest.mark.timeout(3000)
def test_100k_skus_3_locations_4_feeds_then_500_in_1_then_none(tmp_path, monkeypatch):
    # 150,000 catalogue SKUs on Amazon: every 3rd is FBA, so the first 100,000 seller-fulfilled ones are ours.
    started = time.perf_counter()
    sbx = start_sandboxes(seed=42, time_scale=20.0, catalog_size=150_000, netsuite=False, orders_per_day=1, days=1)
    timings: dict[str, float] = {"sandbox_start_s": time.perf_counter() - started}
    try:
        for name, value in sbx.connection_env().items():
            monkeypatch.setenv(name, value)
        url = f"sqlite:///{tmp_path / 'state.db'}"
        monkeypatch.setenv("AIRFLOW_CONN_AMZNETSUITE_STATE", json.dumps({"conn_type": "generic", "extra": {"url": url}}))
        doc = yaml.safe_load(CONFIG.read_text())
        doc["marketplaces"]["uk"]["locations"] = {"mfn": [{"location_id": 1}, {"location_id": 7}, {"location_id": 8}],
                                                  "fba": 11}
        config = tmp_path / "large.yaml"
        config.write_text(yaml.safe_dump(doc))
        items = [i for i in catalog.items(42, 150_000) if not i.fba_marketplaces and not i.is_matrix_parent][:LARGE_SKUS]
        assert len(items) == LARGE_SKUS
        netsuite = InMemoryNetSuite(items, ("1", "7", "8"))
        monkeypatch.setattr(ReadNetSuiteStockOperator, "netsuite_hook", lambda self: netsuite)
        harness = Harness(sbx, config, url)
        order = ("read_netsuite_stock", "plan_inventory_push", "push_inventory")

        def run(label: str) -> dict[str, Any]:
            harness.runs += 1
            dag = harness.dag()
            ti = FakeTI()
            ctx = {"ti": ti, "dag_run": SimpleNamespace(run_id=f"large__{harness.runs}"),
                   "params": dag.params.dump()}
            for task_id in order:
                t = time.perf_counter()
                ti.xcom[task_id] = dag.get_task(task_id).execute(ctx)
                timings[f"{label}.{task_id}_s"] = round(time.perf_counter() - t, 1)
            return ti.xcom

        first = run("first")
        feeds = harness.feeds()
        assert first["plan_inventory_push"]["feeds"] == len(feeds) == math.ceil(LARGE_SKUS / 25_000) == 4
        assert [len(f["document"]["messages"]) for f in feeds] == [25_000] * 4
        assert first["push_inventory"]["accepted"] == LARGE_SKUS

        active = [i.sku for i in items if not i.inactive]
        for sku in random.Random(3).sample(active, 500):
            netsuite.stock[(sku, "7")] += 3
        second = run("after_500_changes")
        feeds = harness.feeds()
        assert second["plan_inventory_push"]["feeds"] == 1 and len(feeds) == 5
        assert len(feeds[-1]["document"]["messages"]) == 500 and second["push_inventory"]["accepted"] == 500

        third = run("no_change")
        assert third["plan_inventory_push"]["feeds"] == 0 and len(harness.feeds()) == 5
    finally:
        sbx.stop()
        print("inventory large-case timings:", json.dumps(timings))
