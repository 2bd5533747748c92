"""Inventory sync operators with fake hooks and a real (temporary SQLite) sync-state store."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jsonschema
import pytest
from airflow.sdk import DAG
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_amznetsuite.config import MarketplaceConfig, load_config
from airflow_provider_amznetsuite.operators.inventory import (
    FBA_SYNC,
    InventoryReportOperator,
    InventorySyncError,
    MirrorFbaStockOperator,
    PlanInventoryPushOperator,
    ReadNetSuiteStockOperator,
    compact_summary,
    is_fba_flag,
)
from airflow_provider_amznetsuite.state import SyncStateStore

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "airflow_provider_amznetsuite" / "sandbox" / "models"
WINDOW_END = datetime(2026, 11, 26, 11, 0, tzinfo=timezone.utc)


# --- fakes -------------------------------------------------------------------------------------------
def ns_row(sku: str, item: int, loc: str, on_hand: Any, committed: Any = 0, *, available: Any = None,
           transit: Any = 0, back: Any = 0, safety: Any = None, flag: Any = "DEFAULT", category: Any = "Kitchen",
           inactive: str = "F") -> dict[str, Any]:
    row = {"item": str(item), "location": loc, "itemid": sku, "quantityonhand": str(on_hand),
           "quantitycommitted": str(committed), "quantityintransit": str(transit), "quantitybackordered": str(back),
           "isinactive": inactive, "fba_flag": flag, "category": category}
    row["quantityavailable"] = str(available if available is not None else int(on_hand) - int(committed))
    if safety is not None:
        row["safety_stock"] = str(safety)
    return row


class FakeNetSuite:
    """Just enough of NetSuiteHook: keyset reads per location, small queries, adjustments."""

    def __init__(self, rows: list[dict[str, Any]] | None = None, *, locations: list[str] | None = None,
                 unmapped: list[dict[str, Any]] | None = None, fba_on_hand: dict[str, tuple[int, int]] | None = None,
                 items: dict[str, int] | None = None):
        self.rows = rows or []
        self.locations = locations or []
        self.unmapped = unmapped or []
        self.fba_on_hand = dict(fba_on_hand or {})  # sku -> (item id, on hand)
        self.items = items or {}
        self.keyset_calls: list[dict[str, Any]] = []
        self.queries: list[tuple[str, dict[str, Any] | None]] = []
        self.existing: dict[str, str] = {}
        self.upserts: list[tuple[str, str, dict[str, Any]]] = []

    def suiteql_keyset(self, select_sql: str, *, key: str, where: str, params: dict[str, Any], page_size: int = 1000):
        self.keyset_calls.append({"sql": select_sql, "key": key, "where": where, "params": params})
        loc = str(params["loc"])
        if "quantitycommitted" not in select_sql:  # the FBA mirror's on-hand query
            return iter([{"item": str(i), "itemid": sku, "quantityonhand": str(q)}
                         for sku, (i, q) in sorted(self.fba_on_hand.items())])
        skus = set(params.get("skus") or [])
        return iter([dict(r) for r in self.rows if r["location"] == loc and (not skus or r["itemid"] in skus)])

    def suiteql(self, query: str, params: dict[str, Any] | None = None, page_size: int = 1000):
        self.queries.append((query, params))
        if "FROM location" in query:
            return iter([{"id": x} for x in self.locations])
        if "GROUP BY" in query:
            return iter(self.unmapped)
        if "FROM item" in query:
            return iter([{"id": str(self.items[s]), "itemid": s} for s in params["skus"] if s in self.items])
        raise AssertionError(f"unexpected query {query}")

    def lookup_external_ids(self, table: str, external_ids: list[str]) -> dict[str, str]:
        assert table == "transaction"
        return {e: self.existing[e] for e in external_ids if e in self.existing}

    def upsert_record(self, record_type: str, external_id: str, body: dict[str, Any]) -> str:
        assert body["externalId"] == external_id
        self.upserts.append((record_type, external_id, body))
        rid = str(9000 + len(self.upserts))
        self.existing[external_id] = rid
        for line in body["inventory"]["items"]:  # apply like NetSuite does
            sku = next(s for s, (i, _) in self.fba_on_hand.items() if str(i) == line["item"]["id"]) \
                if any(str(i) == line["item"]["id"] for i, _ in self.fba_on_hand.values()) else \
                next(s for s, i in self.items.items() if str(i) == line["item"]["id"])
            item, qty = self.fba_on_hand.get(sku, (int(line["item"]["id"]), 0))
            self.fba_on_hand[sku] = (item, qty + line["adjustQtyBy"])
        return rid


def fba_summary(sku: str, fulfillable: int, inbound: int = 0, reserved: int = 0) -> dict[str, Any]:
    return {"asin": "B000", "sellerSku": sku, "productName": "x", "totalQuantity": fulfillable + inbound + reserved,
            "inventoryDetails": {"fulfillableQuantity": fulfillable, "inboundWorkingQuantity": inbound,
                                 "inboundShippedQuantity": 0, "inboundReceivingQuantity": 0,
                                 "reservedQuantity": {"totalReservedQuantity": reserved, "pendingCustomerOrderQuantity": reserved},
                                 "researchingQuantity": {"totalResearchingQuantity": 0},
                                 "unfulfillableQuantity": {"totalUnfulfillableQuantity": 0}}}


class FakeSpApi:
    def __init__(self, summaries: list[dict[str, Any]] | None = None, seller_id: str | None = "A2SELLER"):
        self.summaries = summaries or []
        self.seller_id = seller_id
        self.calls = 0

    def get_inventory_summaries(self, marketplace_id: str, seller_skus: Any = None):
        assert marketplace_id == "A1F83G8C2ARO7P"
        self.calls += 1
        return iter(list(self.summaries))


class FakeTI:
    def __init__(self) -> None:
        self.xcom: dict[str, Any] = {}

    def xcom_pull(self, task_ids: str) -> Any:
        return self.xcom.get(task_ids)


def context(ti: FakeTI, run_id: str = "manual__1", *, end: datetime = WINDOW_END, **params: Any) -> dict[str, Any]:
    p = {"dry_run": False, "allow_quarantine": False, "full_push": False, "skus": None}
    p.update(params)
    return {"ti": ti, "dag_run": SimpleNamespace(run_id=run_id, run_after=end), "params": p,
            "data_interval_start": end - timedelta(hours=1), "data_interval_end": end}


def marketplace(**inventory: Any) -> MarketplaceConfig:
    return MarketplaceConfig.model_validate({
        "code": "uk", "marketplace_id": "A1F83G8C2ARO7P", "region": "eu", "country": "UK", "currency": "GBP",
        "language_tag": "en_GB", "timezone": "Europe/London", "subsidiary": 2,
        "locations": {"mfn": [{"location_id": 1}, {"location_id": 2}], "fba": 11},
        "inventory": {"safety_stock": 1, "fba_adjustment_account": 510, **inventory},
        "products": {"product_types": {"Kitchen": "KITCHEN", "Apparel": "SHIRT"}},
    })


@pytest.fixture
def store(tmp_path):
    return SyncStateStore(f"sqlite:///{tmp_path / 'state.db'}")


def make(cls: type, store: SyncStateStore, mp: MarketplaceConfig, *, ns: FakeNetSuite | None = None,
         sp: FakeSpApi | None = None, **kwargs: Any) -> Any:
    sub = type(cls.__name__, (cls,), {"netsuite_hook": lambda self: ns, "spapi_hook": lambda self: sp})
    dag = DAG("amazon_uk_inventory", schedule=None)
    op = sub(task_id=kwargs.pop("task_id"), marketplace="uk", dag=dag, **kwargs)
    op.__dict__["state"] = store
    op.__dict__["mp"] = mp
    return op


def read_op(store, mp, ns, sp, **kw):
    return make(ReadNetSuiteStockOperator, store, mp, ns=ns, sp=sp, task_id="read_netsuite_stock",
                fba_flag_field="custitem_amz_fulfillment_channel", category_field="custitem_amz_category", **kw)


def plan_op(store, mp, sp, **kw):
    return make(PlanInventoryPushOperator, store, mp, sp=sp, task_id="plan_inventory_push",
                read_task_id="read_netsuite_stock", **kw)


def catalogue(n: int, *, fba_every: int = 0) -> list[dict[str, Any]]:
    rows = []
    for k in range(1, n + 1):
        flag = "AMAZON" if fba_every and k % fba_every == 0 else "DEFAULT"
        rows.append(ns_row(f"SKU-{k:04d}", 1000 + k, "1", 10 + k, 1, flag=flag))
        rows.append(ns_row(f"SKU-{k:04d}", 1000 + k, "2", 5, 0, flag=flag))
    return rows


def run_read_plan(store, mp, ns, sp, run_id, **params):
    ti = FakeTI()
    ctx = context(ti, run_id, **params)
    ti.xcom["read_netsuite_stock"] = read_op(store, mp, ns, sp).execute(ctx)
    ti.xcom["plan_inventory_push"] = plan_op(store, mp, sp).execute(ctx)
    return ti, ctx


def accept_plan(store: SyncStateStore, plan_xcom: dict[str, Any], reject: set[str] = frozenset()) -> None:
    """What the push operator does after a fully processed feed (accepted-only state advance)."""
    if not plan_xcom["ref"]:
        return
    doc = store.get_batch(plan_xcom["ref"])
    store.set_accepted("inventory", "uk", {s: q for s, q in doc["values"].items() if s not in reject})
    for sku in reject:
        store.quarantine("inventory", "uk", sku, "Amazon rejected the listing update — 8541: test")


# --- small helpers -------------------------------------------------------------------------------------
@pytest.mark.parametrize(("value", "expected"), [
    ("AMAZON", True), ("amazon_eu", True), ("AMAZON_NA", True), ("T", True), (True, True),
    ("DEFAULT", False), ("F", False), ("", False), (None, False), (False, False), ("MERCHANT", False),
])
def test_fba_flag_values(value, expected):
    assert is_fba_flag(value) is expected


def test_compact_summary_keeps_what_the_mirror_needs():
    full = fba_summary("A", 7, inbound=3, reserved=2)
    small = compact_summary(full)
    assert small == {"sellerSku": "A", "inventoryDetails": {
        "fulfillableQuantity": 7, "inboundWorkingQuantity": 3, "inboundShippedQuantity": 0, "inboundReceivingQuantity": 0,
        "reservedQuantity": {"totalReservedQuantity": 2}, "researchingQuantity": {"totalResearchingQuantity": 0},
        "unfulfillableQuantity": {"totalUnfulfillableQuantity": 0}}}


# --- read ------------------------------------------------------------------------------------------------
def test_read_builds_one_keyset_pass_per_mapped_location_and_stores_a_batch(store):
    mp = marketplace()
    ns = FakeNetSuite([
        ns_row("A", 11, "1", 10, 2, safety=3), ns_row("A", 11, "2", 4),
        ns_row("B", 12, "1", "7.9", "0.2", available="7.7", flag="AMAZON"),
        ns_row("C", 13, "2", 1, inactive="T", category=None),
    ], locations=["1", "2", "5", "11"], unmapped=[{"location": "5", "items": "3", "available": "12.5"}])
    sp = FakeSpApi([fba_summary("D", 4), fba_summary("A-FBA", 0)])
    ti = FakeTI()
    out = read_op(store, mp, ns, sp).execute(context(ti))

    assert [c["params"] for c in ns.keyset_calls] == [{"loc": 1}, {"loc": 2}]
    call = ns.keyset_calls[0]
    assert call["key"] == "a.item" and call["where"] == "a.location = :loc"
    assert "FROM aggregateItemLocation a INNER JOIN item i ON i.id = a.item" in call["sql"]
    for col in ("i.custitem_amz_safety_stock AS safety_stock", "i.custitem_amz_fulfillment_channel AS fba_flag",
                "i.custitem_amz_category AS category", "a.quantityintransit", "a.quantitybackordered"):
        assert col in call["sql"]
    # the subsidiary's other locations are counted with one aggregate query (mapped + FBA excluded)
    (agg_q, agg_p), = [q for q in ns.queries if "GROUP BY" in q[0]]
    assert agg_p == {"locs": [5]}

    assert out == {"ref": "amazon_uk_inventory/manual__1/read_netsuite_stock",
                   "fba_ref": "amazon_uk_inventory/manual__1/read_netsuite_stock/fba_summaries",
                   "counts": {"rows": 4, "skus": 3, "locations": 2, "invalid_skus": 0, "amazon_fba_skus": 2,
                              "netsuite_fba_skus": 1, "unmapped_locations_with_stock": 1, "suiteql_rows": 4}}
    data = store.get_batch(out["ref"])
    assert data["rows"] == [["A", "1", 10, 2, 8, 0, 0], ["B", "1", 7, 1, 7, 0, 0], ["A", "2", 4, 0, 4, 0, 0],
                            ["C", "2", 1, 0, 1, 0, 0]]
    assert data["items"] == {"A": ["11", 3, False, False, "Kitchen"], "B": ["12", None, False, True, "Kitchen"],
                             "C": ["13", None, True, False, None]}
    assert data["amazon_fba"] == ["A-FBA", "D"]
    assert data["locations"]["unmapped_with_stock"] == [{"location_id": "5", "items": 3, "available": 12}]
    assert [s["sellerSku"] for s in store.get_batch(out["fba_ref"])] == ["D", "A-FBA"]


def test_read_quarantines_a_sku_with_a_bad_row_and_drops_all_its_rows(store):
    mp = marketplace()
    ns = FakeNetSuite([ns_row("A", 11, "1", 10), ns_row("A", 11, "2", "lots", available=1), ns_row("B", 12, "1", 3)])
    out = read_op(store, mp, ns, FakeSpApi()).execute(context(FakeTI()))
    data = store.get_batch(out["ref"])
    assert [r[0] for r in data["rows"]] == ["B"] and set(data["items"]) == {"B"}
    (rec,) = store.open_quarantine("inventory", "uk")
    assert rec.key == "A"
    assert "item 11 at location 2" in rec.reason and "on_hand" in rec.reason and "'lots' is not a number" in rec.reason
    assert out["counts"]["invalid_skus"] == 1


def test_read_skus_param_filters_in_suiteql(store):
    ns = FakeNetSuite([ns_row("A", 11, "1", 10), ns_row("B", 12, "1", 3)])
    out = read_op(store, marketplace(), ns, FakeSpApi()).execute(context(FakeTI(), skus=["B", "A", "B"]))
    assert ns.keyset_calls[0]["where"] == "a.location = :loc AND i.itemid IN (:skus)"
    assert ns.keyset_calls[0]["params"]["skus"] == ["A", "B"]
    assert store.get_batch(out["ref"])["sku_filter"] == ["A", "B"]


def test_read_refuses_a_marketplace_without_mfn_locations_and_bad_field_ids(store):
    mp = marketplace().model_copy(update={"locations": marketplace().locations.model_copy(update={"mfn": []})})
    with pytest.raises(InventorySyncError, match=r"marketplaces\.uk\.locations\.mfn is empty"):
        read_op(store, mp, FakeNetSuite(), FakeSpApi()).execute(context(FakeTI()))
    op = make(ReadNetSuiteStockOperator, store, marketplace(), ns=FakeNetSuite(), sp=FakeSpApi(),
              task_id="read_netsuite_stock", category_field="custitem_x; DROP")
    with pytest.raises(InventorySyncError, match="category_field 'custitem_x; DROP' is not a NetSuite field id"):
        op.execute(context(FakeTI()))


# --- plan ------------------------------------------------------------------------------------------------
def test_plan_first_run_sends_every_mfn_sku_and_never_an_fba_sku(store):
    mp = marketplace(handling_time_days=2)
    rows = catalogue(9, fba_every=3) + [ns_row("AMZ-ONLY", 99, "1", 50)]
    sp = FakeSpApi([fba_summary("AMZ-ONLY", 3)])
    ns = FakeNetSuite(rows, locations=["1", "2", "7"], unmapped=[{"location": "7", "items": "1", "available": "40"}])
    ti, _ = run_read_plan(store, mp, ns, sp, "r1")
    plan = ti.xcom["plan_inventory_push"]
    doc = store.get_batch(plan["ref"])
    sent = {sku for f in doc["feeds"] for sku in f["sent"].values()}
    fba = {"SKU-0003", "SKU-0006", "SKU-0009", "AMZ-ONLY"}
    assert sent == {f"SKU-{k:04d}" for k in range(1, 10)} - fba
    assert plan["feeds"] == 1 and plan["messages"] == 6 and plan["direct"] == 0
    body = json.loads(doc["feeds"][0]["body"])
    schema = json.loads((MODELS / "schema_feed_json_listings_feed_v2.json").read_text())
    jsonschema.validate(body, schema)
    assert body["header"] == {"sellerId": "A2SELLER", "version": "2.0", "issueLocale": "en_GB"}
    first = body["messages"][0]
    assert first == {"messageId": 1, "sku": "SKU-0001", "operationType": "PATCH", "productType": "KITCHEN",
                     "patches": [{"op": "merge", "path": "/attributes/fulfillment_availability",
                                  "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": 14,
                                             "lead_time_to_ship_max_days": 2}]}]}
    # location 1: 11 − 1 committed = 10, location 2: 5 → pool 15, minus safety 1 = 14
    assert doc["values"]["SKU-0001"] == 14
    summary = store.get_batch(plan["summary_ref"])
    assert summary["fba_skus_skipped"] == 4 and summary["unmapped_locations"] == ["7"]
    assert summary["product_types"] == {"KITCHEN": 6}


def test_plan_sends_only_changes_then_nothing(store):
    mp = marketplace()
    ns = FakeNetSuite(catalogue(20))
    sp = FakeSpApi()
    ti, _ = run_read_plan(store, mp, ns, sp, "r1")
    accept_plan(store, ti.xcom["plan_inventory_push"])
    ti, _ = run_read_plan(store, mp, ns, sp, "r2")
    assert ti.xcom["plan_inventory_push"]["ref"] is None and ti.xcom["plan_inventory_push"]["feeds"] == 0
    for r in ns.rows:
        if r["itemid"] in ("SKU-0004", "SKU-0017") and r["location"] == "2":
            r["quantityonhand"] = r["quantityavailable"] = "40"
    ti, _ = run_read_plan(store, mp, ns, sp, "r3")
    plan = ti.xcom["plan_inventory_push"]
    assert store.get_batch(plan["ref"])["values"] == {"SKU-0004": 13 + 40 - 1, "SKU-0017": 26 + 40 - 1}
    assert plan["feeds"] == 1 and plan["messages"] == 2


def test_plan_splits_by_max_messages_per_feed_4_then_1_then_0(store):
    mp = marketplace()
    ns = FakeNetSuite(catalogue(100))
    sp = FakeSpApi()

    def run(run_id: str) -> dict[str, Any]:
        ti = FakeTI()
        ctx = context(ti, run_id)
        ti.xcom["read_netsuite_stock"] = read_op(store, mp, ns, sp).execute(ctx)
        out = make(PlanInventoryPushOperator, store, mp, sp=sp, task_id="plan_inventory_push",
                   read_task_id="read_netsuite_stock", max_messages_per_feed=25).execute(ctx)
        accept_plan(store, out)
        return out

    first = run("r1")
    assert (first["feeds"], first["messages"]) == (4, 100)
    doc = store.get_batch(first["ref"])
    assert [len(f["sent"]) for f in doc["feeds"]] == [25, 25, 25, 25]
    assert all(sorted(map(int, f["sent"])) == list(range(1, 26)) for f in doc["feeds"])
    for r in ns.rows[:40:2]:  # 20 SKUs change at location 1
        r["quantityavailable"] = str(int(r["quantityavailable"]) + 3)
    second = run("r2")
    assert (second["feeds"], second["messages"]) == (1, 20)
    third = run("r3")
    assert (third["feeds"], third["messages"], third["ref"]) == (0, 0, None)


def test_plan_full_push_skus_param_and_quarantine_retry(store):
    mp = marketplace()
    ns = FakeNetSuite(catalogue(6))
    sp = FakeSpApi()
    ti, _ = run_read_plan(store, mp, ns, sp, "r1")
    accept_plan(store, ti.xcom["plan_inventory_push"], reject={"SKU-0002", "SKU-0005"})
    ti, _ = run_read_plan(store, mp, ns, sp, "r2")
    assert set(store.get_batch(ti.xcom["plan_inventory_push"]["ref"])["values"]) == {"SKU-0002", "SKU-0005"}
    # a rejected SKU whose quantity equals an older accepted value is still re-sent while quarantined
    store.set_accepted("inventory", "uk", {"SKU-0002": store.get_batch(ti.xcom["plan_inventory_push"]["ref"])["values"]["SKU-0002"]})
    ti, _ = run_read_plan(store, mp, ns, sp, "r3")
    assert set(store.get_batch(ti.xcom["plan_inventory_push"]["ref"])["values"]) == {"SKU-0002", "SKU-0005"}
    summary = store.get_batch(ti.xcom["plan_inventory_push"]["summary_ref"])
    assert summary["retried_from_quarantine"] == 1
    store.resolve("inventory", "uk", ["SKU-0002", "SKU-0005"])
    store.set_accepted("inventory", "uk", {"SKU-0005": 0})
    ti, _ = run_read_plan(store, mp, ns, sp, "r4", full_push=True)
    assert len(store.get_batch(ti.xcom["plan_inventory_push"]["ref"])["values"]) == 6
    ti, _ = run_read_plan(store, mp, ns, sp, "r5", skus=["SKU-0005", "SKU-0001", "NOPE"])
    values = store.get_batch(ti.xcom["plan_inventory_push"]["ref"])["values"]
    assert values == {"SKU-0005": 14 + 5 - 1}
    summary = store.get_batch(ti.xcom["plan_inventory_push"]["summary_ref"])
    assert summary["skus_not_found"] == ["NOPE"] and summary["mfn_skus"] == 2


def test_plan_small_delta_goes_direct(store):
    mp = marketplace(small_delta_threshold=3)
    ns = FakeNetSuite(catalogue(2) + [ns_row("T-1", 50, "1", 9, category="Apparel"),
                                      ns_row("T-2", 51, "1", 9, category="Garden")])
    ti, _ = run_read_plan(store, mp, ns, FakeSpApi(seller_id=None), "r1", skus=["T-1", "T-2", "SKU-0001"])
    plan = ti.xcom["plan_inventory_push"]
    assert (plan["feeds"], plan["direct"]) == (0, 3)
    doc = store.get_batch(plan["ref"])
    assert doc["feeds"] == []
    assert [(d["sku"], d["product_type"]) for d in doc["direct"]] == [
        ("SKU-0001", "KITCHEN"), ("T-1", "SHIRT"), ("T-2", "PRODUCT")]
    assert doc["direct"][1]["patches"] == [{"op": "merge", "path": "/attributes/fulfillment_availability",
                                            "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": 8}]}]


def test_plan_needs_a_seller_id_for_feeds(store):
    with pytest.raises(InventorySyncError, match="has no extra.seller_id"):
        run_read_plan(store, marketplace(), FakeNetSuite(catalogue(2)), FakeSpApi(seller_id=None), "r1")


def test_plan_max_messages_is_bounded():
    with pytest.raises(ValueError, match="max_messages_per_feed must be 1..25000"):
        PlanInventoryPushOperator(task_id="p", marketplace="uk", read_task_id="r", max_messages_per_feed=30_000)


# --- FBA mirror --------------------------------------------------------------------------------------------
def mirror_op(store, mp, ns, sp, **kw):
    return make(MirrorFbaStockOperator, store, mp, ns=ns, sp=sp, task_id="mirror_fba_stock", **kw)


def test_mirror_adjusts_netsuite_to_amazon_fulfillable_and_is_idempotent(store):
    mp = marketplace()
    ns = FakeNetSuite(fba_on_hand={"F1": (21, 5), "F2": (22, 9), "F3": (23, 4)}, items={"F4": 24})
    sp = FakeSpApi([fba_summary("F1", 8, inbound=12), fba_summary("F2", 9), fba_summary("F4", 3)])
    out = mirror_op(store, mp, ns, sp).execute(context(FakeTI()))
    assert out["adjustments_posted"] == 1 and out["posted_external_ids"] == ["AMZ-FBA-uk-20261126-1100"]
    (rtype, eid, body), = ns.upserts
    assert rtype == "inventoryAdjustment"
    assert body["subsidiary"] == {"id": "2"} and body["adjLocation"] == {"id": "11"} and body["account"] == {"id": "510"}
    assert body["tranDate"] == "2026-11-26"
    assert body["inventory"]["items"] == [
        {"item": {"id": "21"}, "location": {"id": "11"}, "adjustQtyBy": 3},
        {"item": {"id": "24"}, "location": {"id": "11"}, "adjustQtyBy": 3}]
    assert {s: q for s, (_, q) in ns.fba_on_hand.items()} == {"F1": 8, "F2": 9, "F3": 4, "F4": 3}
    assert out["not_reported"] == 1 and out["units_in"] == 6 and out["movements"] == 2
    stored = store.get_batch("inventory-fba/uk/20261126-1100")
    assert stored["adjustments"] == [body]

    # rerun of the same window: the stored plan is reused and not posted again
    sp.summaries = [fba_summary("F1", 1)]
    again = mirror_op(store, mp, ns, sp).execute(context(FakeTI(), "manual__2"))
    assert again["plan_reused"] is True and again["adjustments_posted"] == 0
    assert again["adjustments_already_in_netsuite"] == 1 and len(ns.upserts) == 1

    # next window with unchanged Amazon quantities: nothing to adjust
    sp.summaries = [fba_summary("F1", 8, inbound=12), fba_summary("F2", 9), fba_summary("F4", 3)]
    later = mirror_op(store, mp, ns, sp).execute(context(FakeTI(), "manual__3", end=WINDOW_END + timedelta(hours=1)))
    assert later["adjustments_planned"] == 0 and later["movements"] == 0 and len(ns.upserts) == 1


def test_mirror_posts_what_a_crashed_try_left_over(store):
    mp = marketplace()
    ns = FakeNetSuite(fba_on_hand={f"F{k}": (100 + k, 0) for k in range(5)})
    sp = FakeSpApi([fba_summary(f"F{k}", 2) for k in range(5)])
    op = mirror_op(store, mp, ns, sp, max_lines=2)
    ns.existing["AMZ-FBA-uk-20261126-1100"] = "77"  # the first chunk made it before the crash
    store.put_batch("inventory-fba/uk/20261126-1100", op._compute(context(FakeTI()), "20261126-1100", WINDOW_END))
    out = op.execute(context(FakeTI()))
    assert [e for _, e, _ in ns.upserts] == ["AMZ-FBA-uk-20261126-1100-2", "AMZ-FBA-uk-20261126-1100-3"]
    assert out["adjustments_planned"] == 3 and out["adjustments_already_in_netsuite"] == 1


def test_mirror_reuses_the_read_task_listing_and_falls_back_to_amazon(store):
    mp = marketplace()
    ns = FakeNetSuite(fba_on_hand={"F1": (21, 0)})
    sp = FakeSpApi([fba_summary("F1", 99)])
    ti = FakeTI()
    store.put_batch("runX/read/fba_summaries", [compact_summary(fba_summary("F1", 4))])
    ti.xcom["read_netsuite_stock"] = {"ref": "runX/read", "fba_ref": "runX/read/fba_summaries"}
    out = mirror_op(store, mp, ns, sp, read_task_id="read_netsuite_stock").execute(context(ti))
    assert sp.calls == 0 and ns.upserts[0][2]["inventory"]["items"][0]["adjustQtyBy"] == 4
    assert store.get_batch(out["plan_ref"])["fba_listing_from"] == "read_task"
    store.drop_batches("runX/")
    out = mirror_op(store, mp, ns, sp, read_task_id="read_netsuite_stock").execute(
        context(ti, end=WINDOW_END + timedelta(hours=1)))
    assert sp.calls == 1 and ns.fba_on_hand["F1"] == (21, 99)


def test_mirror_quarantines_amazon_skus_netsuite_does_not_know(store):
    mp = marketplace()
    ns = FakeNetSuite(fba_on_hand={"F1": (21, 0)})
    sp = FakeSpApi([fba_summary("F1", 2), fba_summary("GHOST", 5)])
    with pytest.raises(AirflowFailException, match="1 record\\(s\\) quarantined for uk inventory"):
        mirror_op(store, mp, ns, sp).execute(context(FakeTI()))
    (rec,) = store.open_quarantine(FBA_SYNC, "uk")
    assert rec.key == "GHOST" and "NetSuite has no item with itemid GHOST" in rec.reason
    assert ns.fba_on_hand["F1"] == (21, 2)  # the known SKU was still adjusted
    out = mirror_op(store, mp, ns, sp).execute(context(FakeTI(), end=WINDOW_END + timedelta(hours=1),
                                                       allow_quarantine=True))
    assert out["quarantined"] == 1 and out["adjustments_planned"] == 0


def test_mirror_dry_run_posts_and_stores_nothing(store):
    ns = FakeNetSuite(fba_on_hand={"F1": (21, 0)})
    out = mirror_op(store, marketplace(), ns, FakeSpApi([fba_summary("F1", 2)])).execute(context(FakeTI(), dry_run=True))
    assert out["adjustments_planned"] == 1 and out["adjustments_posted"] == 0 and ns.upserts == []
    with pytest.raises(KeyError):
        store.get_batch("inventory-fba/uk/20261126-1100")


def test_mirror_without_fba_location_is_skipped(store):
    mp = marketplace()
    mp = mp.model_copy(update={"locations": mp.locations.model_copy(update={"fba": None})})
    out = mirror_op(store, mp, FakeNetSuite(), FakeSpApi()).execute(context(FakeTI()))
    assert out["skipped"] == "marketplaces.uk.locations.fba is not set; no FBA mirror"


# --- report -------------------------------------------------------------------------------------------------
def report_op(store, mp):
    return make(InventoryReportOperator, store, mp, task_id="inventory_report", read_task_id="read_netsuite_stock",
                plan_task_id="plan_inventory_push", push_task_id="push_inventory", mirror_task_id="mirror_fba_stock")


def test_report_summarises_and_cleans_up(store):
    mp = marketplace()
    ns = FakeNetSuite(catalogue(4) + [ns_row("F1", 21, "1", 3, flag="AMAZON")], fba_on_hand={"F1": (21, 0)},
                      locations=["1", "2", "7"], unmapped=[{"location": "7", "items": "1", "available": "40"}])
    ti, ctx = run_read_plan(store, mp, ns, FakeSpApi([fba_summary("F1", 2)]), "r1")
    store.record_run("amazon_uk_inventory", "r1", "push_inventory",
                     {"feeds": 1, "direct": 0, "accepted": 4, "rejected": 0, "unconfirmed": 0, "rejected_codes": {}})
    store.record_run("amazon_uk_inventory", "r1", "mirror_fba_stock", {"window": "w", "movements": 1, "unknown_skus": 0})
    op = report_op(store, mp)
    assert op.trigger_rule == "all_done"
    out = op.execute(ctx)
    assert out["deltas"] == 4 and out["accepted"] == 4 and out["feeds"] == 1 and out["quarantined"] == 0
    assert out["unmapped_locations"] == ["7"] and out["fba"]["movements"] == 1 and out["fba_skus_skipped"] == 1
    assert store.run_summaries("amazon_uk_inventory", "r1")["inventory_report"]["deltas"] == 4
    for ref in (ti.xcom["read_netsuite_stock"]["ref"], ti.xcom["plan_inventory_push"]["ref"]):
        with pytest.raises(KeyError):
            store.get_batch(ref)
    assert store.get_batch(ti.xcom["plan_inventory_push"]["summary_ref"])["deltas"] == 4


def test_report_fails_on_rejections_and_on_missing_steps(store):
    mp = marketplace()
    ti, ctx = run_read_plan(store, mp, FakeNetSuite(catalogue(3)), FakeSpApi(), "r1")
    store.record_run("amazon_uk_inventory", "r1", "push_inventory",
                     {"feeds": 1, "accepted": 1, "rejected": 2, "rejected_codes": {"8541": 2}})
    store.record_run("amazon_uk_inventory", "r1", "mirror_fba_stock", {"unknown_skus": 0})
    with pytest.raises(AirflowFailException, match="2 record\\(s\\) quarantined"):
        report_op(store, mp).execute(ctx)
    assert store.run_summaries("amazon_uk_inventory", "r1")["inventory_report"]["rejected_codes"] == {"8541": 2}
    ctx["params"]["allow_quarantine"] = True
    assert report_op(store, mp).execute(ctx)["rejected"] == 2
    ctx2 = context(FakeTI(), "r2", allow_quarantine=True)
    with pytest.raises(AirflowFailException, match="task read_netsuite_stock did not finish.*task push_inventory did not finish"):
        report_op(store, mp).execute(ctx2)


# --- DAG -------------------------------------------------------------------------------------------------------
def test_dag_shape_params_and_pools():
    from airflow.sdk import CronDataIntervalTimetable

    from airflow_provider_amznetsuite.dag_factory.inventory import build

    app = load_config(ROOT / "dags" / "marketplaces.yaml")
    dag = build(app.marketplace("uk"), app)
    assert dag.dag_id == "amazon_uk_inventory"
    assert isinstance(dag.timetable, CronDataIntervalTimetable)
    assert {t.task_id: sorted(t.upstream_task_ids) for t in dag.tasks} == {
        "read_netsuite_stock": [], "plan_inventory_push": ["read_netsuite_stock"],
        "push_inventory": ["plan_inventory_push"], "mirror_fba_stock": ["read_netsuite_stock"],
        "inventory_report": ["mirror_fba_stock", "push_inventory"]}
    pools = {t.task_id: t.pool for t in dag.tasks}
    assert pools["push_inventory"] == pools["read_netsuite_stock"] == pools["mirror_fba_stock"] == "spapi_amazon_sp_api_default_eu"
    assert dag.get_task("push_inventory").deferrable is True
    assert dag.get_task("read_netsuite_stock").fba_flag_field == "custitem_amz_fulfillment_channel"
    assert dag.get_task("read_netsuite_stock").category_field == "custitem_amz_category"
    assert dag.params.dump() == {"dry_run": False, "allow_quarantine": False, "full_push": False, "skus": None}
    p = dag.params
    p["skus"] = ["SKU-00001", "SKU-00002"]
    p["full_push"] = True
    p.validate()
    with pytest.raises(Exception, match="not of type 'boolean'|is not valid"):
        p["full_push"] = "yes"
        p.validate()


def test_the_documented_asset_relay_dag_parses(tmp_path):
    """docs/inventory-sync.md's relay DAG is real code: it parses and triggers each inventory DAG."""
    import re

    from airflow.dag_processing.dagbag import DagBag

    text = (ROOT / "docs" / "inventory-sync.md").read_text(encoding="utf-8")
    (block,) = [b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "netsuite_inventory_events" in b]
    (tmp_path / "relay.py").write_text(block, encoding="utf-8")
    bag = DagBag(dag_folder=str(tmp_path / "relay.py"))
    assert bag.import_errors == {}
    dag = bag.dags["netsuite_inventory_events"]
    assert [a.name for a in dag.timetable.asset_condition.objects] == ["netsuite_inventory_movements"]
    triggers = {t.task_id: t.trigger_dag_id for t in dag.tasks if t.task_id.startswith("inventory_")}
    assert triggers == {f"inventory_{c}": f"amazon_{c}_inventory" for c in ("uk", "de", "us")}
    collect = dag.get_task("skus_from_events").python_callable
    events = {"netsuite_inventory_movements": [SimpleNamespace(extra={"skus": ["SKU-2", "SKU-1"], "from_rest_api": True}),
                                               SimpleNamespace(extra={"skus": ["SKU-1"]}), SimpleNamespace(extra=None)]}
    assert collect(triggering_asset_events=events) == {"skus": ["SKU-1", "SKU-2"]}
    assert collect(triggering_asset_events={"netsuite_inventory_movements": [SimpleNamespace(extra={})]}) == {"skus": None}
    # the relay's conf shape is what the inventory DAG's Params accept
    from airflow.sdk.definitions.param import ParamsDict

    from airflow_provider_amznetsuite.dag_factory.inventory import params

    p = ParamsDict(params())
    p["skus"] = ["SKU-00002"]
    p.validate()
    p["skus"] = None
    p.validate()
