"""The products sync through both sandboxes over real HTTP (NetSuite SuiteQL/REST, SP-API feeds & listings).

Each test starts its own small pair of sandboxes (catalogue of 8 simple SKUs + the MTX-001 family) so it can
change NetSuite items and Amazon listings freely, and drives the tasks of the real ``amazon_<code>_products``
DAG (built by the DAG factory) like Airflow would: XCom between tasks, deferral through the real
``SpApiFeedTrigger`` run inline. The NetSuite sandbox seeds every field of the docs/products.md contract
(``sandbox/netsuite/seed.py``), so the items are used as seeded; only a new item added by a test gets its
fields from :func:`kitchen_fields`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import requests

from airflow_provider_amznetsuite.config import load_config
from airflow_provider_amznetsuite.dag_factory.products import build
from airflow_provider_amznetsuite.domain.listings import discontinued_hash
from airflow_provider_amznetsuite.hooks.netsuite import NetSuiteHook
from airflow_provider_amznetsuite.hooks.spapi import SpApiHook
from airflow_provider_amznetsuite.operators.products import (
    TASK_FETCH,
    TASK_PLAN,
    TASK_PUSH,
    TASK_READ,
    TASK_REPORT,
)
from airflow_provider_amznetsuite.sandbox import catalog
from airflow_provider_amznetsuite.sandbox.runner import Sandboxes, start_sandboxes
from airflow_provider_amznetsuite.state import SyncStateStore

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
TIME_SCALE = 100.0
CATALOG_SIZE = 8  # SKU-00001..SKU-00008 + MTX-001 (parent) + MTX-001-S/M/L
UK = "A1F83G8C2ARO7P"
DE = "A1PA6795UKMFR9"
US = "ATVPDKIKX0DER"
TASKS = (TASK_READ, TASK_FETCH, TASK_PLAN, TASK_PUSH, TASK_REPORT)
FAMILY = ("MTX-001", "MTX-001-S", "MTX-001-M", "MTX-001-L")


def gtin13(body12: str) -> str:
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body12))
    return body12 + str((10 - total % 10) % 10)


def kitchen_fields(sku: str) -> dict[str, Any]:
    """The docs/products.md fields a merchandiser fills for a new Kitchen item (custom fields of the REST API)."""
    return {
        "custitem_amz_bullet1_en_gb": f"{sku}: stainless steel, oven safe to 250 °C",
        "custitem_amz_bullet2_en_gb": "Dishwasher safe",
        "custitem_amz_image_main": f"https://images.sandbox.invalid/{sku}/main.jpg",
        "custitem_amz_image_main_width": 2000, "custitem_amz_image_main_height": 2000,
        "countryOfManufacture": "DE",
        "custitem_amz_attr_batteries_required": '[{"value": false}]',
        "custitem_amz_attr_supplier_declared_dg_hz_regulation": "not_applicable",
        "custitem_amz_attr_material": "Stainless Steel",
    }


class _TI:
    def __init__(self) -> None:
        self.xcom: dict[str, Any] = {}

    def xcom_pull(self, task_ids: str | None = None, key: str = "return_value") -> Any:
        return self.xcom.get(task_ids or "")


@dataclass
class World:
    sbx: Sandboxes
    state: SyncStateStore
    ns: NetSuiteHook
    spapi: SpApiHook

    # -- NetSuite ------------------------------------------------------------------------------
    def ns_control(self, **body: Any) -> dict[str, Any]:
        resp = requests.post(f"{self.sbx.netsuite_url}/_sandbox/control", json=body, timeout=10)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def item_id(self, sku: str) -> str:
        return catalog.item_by_sku(42, CATALOG_SIZE)[sku].internal_id

    # -- SP-API ---------------------------------------------------------------------------------
    def spapi_control(self, **body: Any) -> None:
        resp = requests.post(f"{self.sbx.spapi_url}/_sandbox/control", json=body, timeout=10)
        assert resp.status_code == 200, resp.text

    def feeds(self) -> list[dict[str, Any]]:
        data = requests.get(f"{self.sbx.spapi_url}/_sandbox/feeds", timeout=10).json()["feeds"]
        return [f for f in data if f["feedType"] == "JSON_LISTINGS_FEED"]

    def listing(self, sku: str, marketplace_id: str) -> dict[str, Any] | None:
        data = requests.get(f"{self.sbx.spapi_url}/_sandbox/listings",
                            params={"sku": sku, "marketplaceId": marketplace_id}, timeout=10).json()["listings"]
        return data[0] if data else None

    # -- the DAG's tasks ------------------------------------------------------------------------
    def run(self, code: str, run_id: str, **params: Any) -> dict[str, Any]:
        """Run the DAG's tasks in order like the scheduler (report runs whatever happened: all_done)."""
        app = load_config()
        dag = build(app.marketplaces[code], app)
        dag.get_task(TASK_PUSH).poll_interval = 0.05
        ctx_params = dag.params.dump()
        ctx_params.update(params)
        ti = _TI()
        context = {"ti": ti, "params": ctx_params, "dag_run": SimpleNamespace(run_id=run_id), "run_id": run_id}
        outcome: dict[str, Any] = {}
        from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException, TaskDeferred

        for task_id in TASKS:
            task = dag.get_task(task_id)
            try:
                try:
                    result = task.execute(context)
                except TaskDeferred as deferred:
                    result = _resume(task, context, deferred)
            except AirflowSkipException:
                result = "skipped"
            except AirflowFailException as exc:
                result = f"failed: {exc}"
            ti.xcom[task_id] = result if isinstance(result, dict) else None
            outcome[task_id] = result
        outcome["summary"] = self.state.run_summaries(dag.dag_id, run_id).get(TASK_REPORT)
        return outcome


def _resume(task: Any, context: dict[str, Any], deferred: Any) -> Any:
    from airflow.sdk.exceptions import TaskDeferred

    while True:
        async def first_event(trigger: Any) -> Any:
            async for event in trigger.run():
                return event
            return None

        event = asyncio.run(first_event(deferred.trigger))
        try:
            return getattr(task, deferred.method_name)(context, event.payload)
        except TaskDeferred as again:
            deferred = again


def messages(feeds: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for f in feeds for m in (f.get("document") or {}).get("messages", [])]


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    sbx = start_sandboxes(seed=42, time_scale=TIME_SCALE, catalog_size=CATALOG_SIZE)
    try:
        for name, value in sbx.connection_env().items():
            monkeypatch.setenv(name, value)
        url = f"sqlite:///{tmp_path / 'state.db'}"
        monkeypatch.setenv("AIRFLOW_CONN_AMZNETSUITE_STATE",
                           json.dumps({"conn_type": "generic", "extra": {"url": url}}))
        monkeypatch.setenv("AMZNETSUITE_CONFIG", str(ROOT / "dags" / "marketplaces.yaml"))
        ns = NetSuiteHook("netsuite_default")
        yield World(sbx=sbx, state=SyncStateStore(url), ns=ns, spapi=SpApiHook("amazon_sp_api_default"))
    finally:
        sbx.stop()


# --------------------------------------------------------------------------------------------
def test_mixed_run_sends_only_new_and_changed_flags_discontinued_and_rerun_sends_nothing(world: World) -> None:
    first = world.run("uk", "baseline")
    assert first["summary"]["accepted"] == 12 and first["summary"]["invalid"] == 0, first["summary"]
    baseline_feeds = len(world.feeds())
    assert baseline_feeds == 1
    offer_before = world.listing("SKU-00005", UK)["attributes"]["purchasable_offer"]

    # new: a Kitchen item that Amazon does not list yet
    world.ns_control(action="add_item", sku="T7-NEW-1", displayName="Sandbox Pan", custitem_amz_publish=True,
                     custitem_amz_category="Kitchen", custitem_amz_brand="Sandbox Brand",
                     upcCode=gtin13("500777000001"),
                     weight=1.25, weightUnit="kg", custitem_amz_title_en_gb="Sandbox Brand Frying Pan 28 cm",
                     custitem_amz_description_en_gb="A frying pan.", **kitchen_fields("T7-NEW-1"))
    # changed: a new English title
    world.ns.update_record("inventoryItem", world.item_id("SKU-00005"),
                           {"custitem_amz_title_en_gb": "Sandbox Brand Product 5 - Organic Cotton"})
    # invalid: a 250-character title (schema maxLength 200) and a HOME item without its required colour
    world.ns.update_record("inventoryItem", world.item_id("SKU-00002"), {"custitem_amz_title_en_gb": "X" * 250})
    world.ns.update_record("inventoryItem", world.item_id("SKU-00007"), {"custitem_amz_attr_color": None})
    # discontinued: deactivated in NetSuite (seller-fulfilled SKU)
    world.ns_control(action="deactivate_item", sku="SKU-00004")

    second = world.run("uk", "mixed")
    summary = second["summary"]
    assert (summary["new"], summary["changed"], summary["unchanged"], summary["invalid"], summary["discontinued"]) \
        == (1, 1, 8, 2, 1), summary
    assert summary["accepted"] == 3 and summary["rejected"] == 0
    assert second[TASK_REPORT].startswith("failed: 2 record(s) quarantined")  # invalid items flag the run

    feeds = world.feeds()
    assert len(feeds) == baseline_feeds + 1
    sent = {m["sku"]: m for m in messages(feeds[baseline_feeds:])}
    assert {s: m["operationType"] for s, m in sent.items()} == {
        "T7-NEW-1": "UPDATE", "SKU-00005": "PARTIAL_UPDATE", "SKU-00004": "PATCH"}
    assert sent["SKU-00004"]["patches"] == [{"op": "merge", "path": "/attributes/fulfillment_availability",
                                             "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": 0}]}]
    assert all(m["operationType"] != "DELETE" for m in messages(feeds))

    # invalid items: exact attribute paths and rules, not sent, quarantined
    reasons = {r.key: r.reason for r in world.state.open_quarantine("products", "uk")}
    assert "/attributes/item_name/0/value [maxLength]" in reasons["SKU-00002"]
    assert "/attributes/color [required]" in reasons["SKU-00007"]
    invalid = {i["sku"]: i["violations"] for i in summary["invalid_items"]}
    assert invalid == {"SKU-00002": ["/attributes/item_name/0/value [maxLength]"],
                       "SKU-00007": ["/attributes/color [required]"]}

    # what landed on Amazon
    new = world.listing("T7-NEW-1", UK)
    assert new["productType"] == "KITCHEN"
    assert new["attributes"]["item_name"] == [{"value": "Sandbox Brand Frying Pan 28 cm", "language_tag": "en_GB",
                                               "marketplace_id": UK}]
    changed = world.listing("SKU-00005", UK)
    assert changed["attributes"]["item_name"][0]["value"] == "Sandbox Brand Product 5 - Organic Cotton"
    assert changed["attributes"]["purchasable_offer"] == offer_before  # PARTIAL_UPDATE kept the offer
    assert world.listing("SKU-00004", UK)["attributes"]["fulfillment_availability"] == [
        {"fulfillment_channel_code": "DEFAULT", "quantity": 0}]
    assert world.listing("SKU-00002", UK)["attributes"]["item_name"][0]["value"] != "X" * 250

    # the accepted values are exactly what the next plan compares against
    accepted = world.state.get_accepted("products", "uk")
    assert accepted["SKU-00004"] == discontinued_hash("zero_quantity")
    assert accepted["SKU-00005"].startswith("listing:v1:")

    third = world.run("uk", "rerun", allow_quarantine=True)
    assert len(world.feeds()) == baseline_feeds + 1  # no feed
    assert third[TASK_PLAN]["ref"] is None
    s3 = third["summary"]
    assert (s3["new"], s3["changed"], s3["unchanged"], s3["discontinued"], s3["invalid"], s3["sent"]) \
        == (0, 0, 10, 0, 2, 0), s3
    assert isinstance(third[TASK_REPORT], dict) and third[TASK_REPORT]["quarantined"] == 2


def test_variation_family_lands_as_parent_and_children(world: World) -> None:
    for sku in FAMILY:  # make the family new on Amazon (seeded listings exist)
        world.spapi.delete_listings_item(None, sku, [US])
    out = world.run("us", "family", allow_quarantine=True)
    summary = out["summary"]
    assert summary["new"] == 4 and summary["accepted"] == 12 and summary["invalid"] == 0, summary

    (feed,) = world.feeds()
    order = [m["sku"] for m in messages([feed])]
    by_sku = {m["sku"]: m for m in messages([feed])}
    assert order.index("MTX-001") < min(order.index(c) for c in FAMILY[1:])
    assert by_sku["MTX-001"]["operationType"] == "UPDATE"
    assert by_sku["MTX-001"]["requirements"] == "LISTING_PRODUCT_ONLY"
    assert all(by_sku[c]["requirements"] == "LISTING" for c in FAMILY[1:])

    parent = world.listing("MTX-001", US)["attributes"]
    assert parent["parentage_level"] == [{"value": "parent", "marketplace_id": US}]
    assert parent["variation_theme"] == [{"name": "SIZE"}]
    assert "purchasable_offer" not in parent and "externally_assigned_product_identifier" not in parent
    for size in ("S", "M", "L"):
        child = world.listing(f"MTX-001-{size}", US)["attributes"]
        assert child["parentage_level"] == [{"value": "child", "marketplace_id": US}]
        assert child["child_parent_sku_relationship"] == [
            {"child_relationship_type": "variation", "parent_sku": "MTX-001", "marketplace_id": US}]
        assert child["variation_theme"] == [{"name": "SIZE"}]
        assert child["size"] == [{"value": size, "language_tag": "en_US", "marketplace_id": US}]
    rel = world.spapi.get_listings_item(None, "MTX-001-M", [US], included_data=["relationships"])
    assert rel["relationships"][0]["relationships"][0]["parentSkus"] == ["MTX-001"]


def test_rejections_are_reported_and_retried_next_run(world: World) -> None:
    world.spapi_control(reject_skus=["SKU-00001"])
    first = world.run("uk", "rejected")
    summary = first["summary"]
    assert summary["accepted"] == 11 and summary["rejected"] == 1, summary
    (rejected,) = summary["rejected_items"]
    assert rejected["sku"] == "SKU-00001" and "8541" in rejected["reason"]
    assert first[TASK_PUSH].startswith("failed: 1 record(s) quarantined")
    assert first[TASK_REPORT].startswith("failed: 1 record(s) quarantined")
    assert "SKU-00001" not in world.state.get_accepted("products", "uk")
    assert [r.key for r in world.state.open_quarantine("products", "uk")] == ["SKU-00001"]

    world.spapi_control(reject_skus=[])
    second = world.run("uk", "retry")
    feeds = world.feeds()
    assert len(feeds) == 2
    assert [(m["sku"], m["operationType"]) for m in messages(feeds[1:])] == [("SKU-00001", "PARTIAL_UPDATE")]
    assert second["summary"]["accepted"] == 1 and second["summary"]["rejected"] == 0
    assert isinstance(second[TASK_REPORT], dict)
    assert world.state.open_quarantine("products", "uk") == []
    assert world.state.get_accepted("products", "uk")["SKU-00001"].startswith("listing:v1:")


def test_delete_skus_param_sends_exactly_one_delete(world: World) -> None:
    assert world.listing("SKU-00008", UK) is not None
    out = world.run("uk", "delete", delete_skus=[" SKU-00008 ", "SKU-00008"])
    (feed,) = world.feeds()
    sent = messages([feed])
    assert [m["sku"] for m in sent if m["operationType"] == "DELETE"] == ["SKU-00008"]
    assert len(sent) == 12 and {m["operationType"] for m in sent} == {"PARTIAL_UPDATE", "DELETE"}
    assert world.listing("SKU-00008", UK) is None
    summary = out["summary"]
    assert summary["deleted"] == 1 and summary["deleted_items"] == ["SKU-00008"] and summary["accepted"] == 12
    assert "SKU-00008" not in world.state.get_accepted("products", "uk")  # no longer listed by this sync


def test_validation_preview_reports_amazons_issues_and_records_nothing(world: World) -> None:
    world.ns.update_record("inventoryItem", world.item_id("SKU-00003"), {"custitem_amz_title_en_gb": "Renamed 3"})
    world.spapi_control(reject_skus=["SKU-00006"])

    out = world.run("uk", "preview", validation_preview=True)
    assert out[TASK_PUSH] == "skipped"
    assert world.feeds() == []
    summary = out["summary"]
    assert summary["changed"] == 12 and summary["preview_valid"] == 11 and summary["preview_invalid"] == 1, summary
    (issue,) = summary["preview_issues"]
    assert issue["sku"] == "SKU-00006" and issue["issues"][0].startswith("8541: ")
    assert world.state.get_accepted("products", "uk") == {}
    assert world.listing("SKU-00003", UK)["attributes"]["item_name"][0]["value"] != "Renamed 3"


@pytest.mark.db
def test_dag_test_amazon_de_products(world: World) -> None:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils.state import DagRunState

    dag = DagBag(dag_folder=str(ROOT / "dags" / "amazon_netsuite.py")).get_dag(
        "amazon_de_products")
    assert dag is not None
    dag.get_task(TASK_PUSH).poll_interval = 0.05
    run = dag.test()
    assert run.state == DagRunState.SUCCESS

    summary = world.state.run_summaries("amazon_de_products").get(TASK_REPORT)
    assert summary["accepted"] == 12 and summary["invalid"] == 0 and summary["rejected"] == 0, summary
    listing = world.listing("SKU-00001", DE)["attributes"]
    # German copy as seeded: title, bullets and description from the custitem_amz_*_de_de fields
    assert listing["item_name"] == [{"value": "Sandbox Brand Sandbox Product 1 - T-Shirt aus Bio-Baumwolle, "
                                              "Grau meliert (DE)", "language_tag": "de_DE", "marketplace_id": DE}]
    assert [b["value"] for b in listing["bullet_point"]] == ["100 % Bio-Baumwolle, Single Jersey 180 g/m²",
                                                             "Normale Passform, fällt größengerecht aus",
                                                             "Farbecht, waschbar bei 30 °C",
                                                             "Ohne kratzendes Etikett"]
    assert listing["product_description"][0]["value"].startswith("Weiches T-Shirt aus Bio-Baumwolle")
    # SKU-00006 has its German copy at the language level (_de): the fallback chain de_de -> de finds it
    fallback = world.listing("SKU-00006", DE)["attributes"]
    assert fallback["item_name"][0]["value"] == "Sandbox Brand Sandbox Product 6 - Sammelfigur"
    assert fallback["bullet_point"][0] == {"value": "Detailreich und handbemalt", "language_tag": "de_DE",
                                           "marketplace_id": DE}
