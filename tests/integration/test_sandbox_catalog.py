"""The sandboxes' seeded catalogue is a realistic product catalogue for the products sync, as seeded.

Freshly started default sandboxes (``start_sandboxes()`` defaults: seed 42, 60 simple SKUs + the matrix
families MTX-001..003; only ``time_scale`` is raised so Amazon's rate limits and feed processing are fast),
no field filling: every active, published item is either accepted by the SP-API sandbox or reported invalid
for the one documented reason — ``SKU-00011`` has neither GTIN nor GTIN exemption
(``seed.INVALID_LISTING_SKU``). The NetSuite fields follow docs/products.md §1 exactly.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import requests

from airflow_provider_amznetsuite.config import load_config
from airflow_provider_amznetsuite.dag_factory.products import build
from airflow_provider_amznetsuite.domain.product_types import ProductTypeSchema
from airflow_provider_amznetsuite.hooks.spapi import SpApiHook
from airflow_provider_amznetsuite.operators.products import (
    TASK_FETCH,
    TASK_PLAN,
    TASK_PUSH,
    TASK_READ,
    TASK_REPORT,
)
from airflow_provider_amznetsuite.sandbox import catalog
from airflow_provider_amznetsuite.sandbox.netsuite import seed
from airflow_provider_amznetsuite.sandbox.runner import Sandboxes, start_sandboxes
from airflow_provider_amznetsuite.sandbox.spapi import product_types as pt
from airflow_provider_amznetsuite.state import SyncStateStore

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
TIME_SCALE = 100.0
TASKS = (TASK_READ, TASK_FETCH, TASK_PLAN, TASK_PUSH, TASK_REPORT)
INVALID = ("SKU-00011", ["/attributes/externally_assigned_product_identifier [required]"])
FAMILY = ("MTX-001", "MTX-001-S", "MTX-001-M", "MTX-001-L")
ITEMS = catalog.items()  # the default catalogue (seed 42, 60 simple SKUs)


def netsuite_items(sbx: Sandboxes) -> dict[str, dict[str, Any]]:
    """The seeded inventory items as stored (REST record bodies), by SKU."""
    page = requests.get(f"{sbx.netsuite_url}/_sandbox/records/inventoryItem", params={"limit": 1000},
                        timeout=10).json()
    assert page["totalResults"] == len(page["items"])
    return {r["itemId"]: r for r in page["items"]}


def expected_buckets(sbx: Sandboxes) -> tuple[set[str], set[str]]:
    """(SKUs that must be accepted, retired SKUs) among the items a first run reads (active + published)."""
    published = [r for r in netsuite_items(sbx).values() if r["custitem_amz_publish"] and not r["isInactive"]]
    retired = {r["itemId"] for r in published if r["custitem_amz_discontinued"]}
    return {r["itemId"] for r in published} - retired - {INVALID[0]}, retired


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Sandboxes, SyncStateStore]]:
    """One pair of default sandboxes for the module; each test changes only its own marketplace."""
    url = f"sqlite:///{tmp_path_factory.mktemp('catalogue') / 'state.db'}"
    sandboxes = start_sandboxes(time_scale=TIME_SCALE)
    try:
        with pytest.MonkeyPatch.context() as mp:
            for name, value in sandboxes.connection_env().items():
                mp.setenv(name, value)
            mp.setenv("AIRFLOW_CONN_AMZNETSUITE_STATE", json.dumps({"conn_type": "generic", "extra": {"url": url}}))
            mp.setenv("AMZNETSUITE_CONFIG", str(ROOT / "dags" / "marketplaces.yaml"))
            yield sandboxes, SyncStateStore(url)
    finally:
        sandboxes.stop()


def _listing(sbx: Sandboxes, sku: str, marketplace_id: str) -> dict[str, Any] | None:
    data = requests.get(f"{sbx.spapi_url}/_sandbox/listings", params={"sku": sku, "marketplaceId": marketplace_id},
                        timeout=10).json()["listings"]
    return data[0] if data else None


def _feed_messages(sbx: Sandboxes, marketplace_id: str) -> list[dict[str, Any]]:
    feeds = requests.get(f"{sbx.spapi_url}/_sandbox/feeds", timeout=10).json()["feeds"]
    return [m for f in feeds if f["feedType"] == "JSON_LISTINGS_FEED" and f["marketplaceIds"] == [marketplace_id]
            for m in (f.get("document") or {}).get("messages", [])]


class _TI:
    def __init__(self) -> None:
        self.xcom: dict[str, Any] = {}

    def xcom_pull(self, task_ids: str | None = None, key: str = "return_value") -> Any:
        return self.xcom.get(task_ids or "")


def run_products(code: str, run_id: str, state: SyncStateStore) -> dict[str, Any]:
    """The DAG's tasks in order like the scheduler (deferrals resumed inline with the real trigger)."""
    from airflow.sdk.exceptions import AirflowFailException, TaskDeferred

    app = load_config()
    dag = build(app.marketplaces[code], app)
    dag.get_task(TASK_PUSH).poll_interval = 0.05
    ti = _TI()
    context = {"ti": ti, "params": dag.params.dump(), "dag_run": SimpleNamespace(run_id=run_id), "run_id": run_id}
    outcome: dict[str, Any] = {}
    for task_id in TASKS:
        task = dag.get_task(task_id)
        try:
            try:
                result = task.execute(context)
            except TaskDeferred as deferred:
                while True:
                    async def first_event(trigger: Any) -> Any:
                        async for event in trigger.run():
                            return event
                        return None

                    event = asyncio.run(first_event(deferred.trigger))
                    try:
                        result = getattr(task, deferred.method_name)(context, event.payload)
                        break
                    except TaskDeferred as again:
                        deferred = again
        except AirflowFailException as exc:
            result = f"failed: {exc}"
        ti.xcom[task_id] = result if isinstance(result, dict) else None
        outcome[task_id] = result
    outcome["summary"] = state.run_summaries(dag.dag_id, run_id).get(TASK_REPORT)
    return outcome


# --------------------------------------------------------------------------------------------
def test_seeded_items_carry_the_products_field_contract(world: tuple[Sandboxes, SyncStateStore]) -> None:
    sbx, _ = world
    by_sku = netsuite_items(sbx)
    assert set(by_sku) == {i.sku for i in ITEMS}
    for rec in by_sku.values():
        # docs/products.md names, not the old ones
        assert not {"custitem_amz_image_url_1", "custitem_amz_image_url_2", "custitem_amz_size"} & set(rec)
        for field in ("custitem_amz_image_main", "custitem_amz_image_main_width", "custitem_amz_image_main_height",
                      "custitem_amz_image_1", "custitem_amz_image_1_width", "custitem_amz_pkg_length",
                      "custitem_amz_pkg_width", "custitem_amz_pkg_height", "custitem_amz_pkg_dim_unit",
                      "custitem_amz_item_type_keyword", "custitem_amz_discontinued", "custitem_amz_gtin_exempt",
                      "countryOfManufacture", "custitem_amz_attr_batteries_required",
                      "custitem_amz_attr_supplier_declared_dg_hz_regulation"):
            assert rec.get(field) not in (None, ""), (rec["itemId"], field)
    no_gtin = sorted(s for s, r in by_sku.items() if not r.get("upcCode") and not s.startswith("MTX-"))
    assert no_gtin == ["SKU-00011", "SKU-00022", "SKU-00033", "SKU-00044", "SKU-00055"]
    assert [s for s in no_gtin if not by_sku[s]["custitem_amz_gtin_exempt"]] == [INVALID[0]]
    assert by_sku["MTX-001-M"]["custitem_amz_var_size"] == "M"
    assert by_sku["MTX-001"]["custitem_amz_variation_theme"] == "SIZE"
    assert by_sku["SKU-00003"]["custitem_amz_asin"].startswith("B0")  # FBA SKUs carry Amazon's ASIN
    # the documented locale fallbacks (seed.copy_fields)
    assert "custitem_amz_title_en_gb" not in by_sku["SKU-00005"] and by_sku["SKU-00005"]["custitem_amz_bullet1_en"]
    assert "custitem_amz_title_de_de" not in by_sku["SKU-00006"] and by_sku["SKU-00006"]["custitem_amz_title_de"]
    assert not {"custitem_amz_title_en_us", "custitem_amz_title"} & set(by_sku["SKU-00007"])


@pytest.mark.parametrize("ptype", pt.product_types())
def test_sandbox_image_minimums_are_where_the_products_sync_reads_them(ptype: str) -> None:
    """One representation on both sides: minImageWidth / minImageHeight on each image's media_location."""
    uk = catalog.MARKETPLACES["uk"].marketplace_id
    definition = pt.definition_response(ptype, uk, requirements="LISTING", enforced=True, locale="en_GB",
                                        schema_url="https://sandbox.invalid/schema.json",
                                        meta_url="https://sandbox.invalid/meta.json")
    document = pt.build_schema(ptype, uk)
    schema = ProductTypeSchema.from_definition(definition, document)
    images = ["main_product_image_locator"] + [f"other_product_image_locator_{n}" for n in range(1, 9)]
    assert {name: schema.image_rule(name) for name in images} == dict.fromkeys(images, (500, 500))
    assert not any("minimumImageDimensions" in document["properties"][name] for name in images)
    assert set(pt.meta_schema()["properties"]) >= {"minImageWidth", "minImageHeight"}
    assert "item_package_dimensions" in schema.properties


@pytest.mark.db
def test_uk_products_dag_on_default_sandboxes_reports_only_the_documented_invalid_item(
        world: tuple[Sandboxes, SyncStateStore]) -> None:
    sbx, state = world
    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils.state import DagRunState

    dag = DagBag(dag_folder=str(ROOT / "dags" / "amazon_netsuite.py")).get_dag("amazon_uk_products")
    assert dag is not None
    dag.get_task(TASK_PUSH).poll_interval = 0.05
    run = dag.test()
    assert run.state == DagRunState.FAILED  # the invalid listing flags the run, after everything was sent

    listable, retired = expected_buckets(sbx)
    assert len(listable) == 61 and retired == {"SKU-00019", "SKU-00038", "SKU-00057"}
    summary = state.run_summaries("amazon_uk_products").get(TASK_REPORT)
    # Amazon lists every seeded SKU already: valid items go as PARTIAL_UPDATE, retired ones get a PATCH
    assert summary["invalid_items"] == [{"sku": INVALID[0], "violations": INVALID[1]}], summary
    assert (summary["invalid"], summary["rejected"], summary["row_problems"], summary["definition_failures"]) \
        == (1, 0, 0, 0), summary
    assert summary["changed"] == len(listable) and summary["new"] == 0
    assert sorted(summary["discontinued_items"]) == ["SKU-00019", "SKU-00038"]  # SKU-00057 is FBA: no action
    assert summary["accepted"] == len(listable) + 2 and summary["sent"] == summary["accepted"]
    uk = catalog.MARKETPLACES["uk"].marketplace_id
    sent = {m["sku"]: m["operationType"] for m in _feed_messages(sbx, uk)}
    assert sent == {**dict.fromkeys(listable, "PARTIAL_UPDATE"), "SKU-00019": "PATCH", "SKU-00038": "PATCH"}
    # what landed: every docs/products.md attribute the product type declares
    home = _listing(sbx, "SKU-00007", uk)["attributes"]
    assert home["country_of_origin"] == [{"value": "IN", "marketplace_id": uk}]
    assert home["item_package_dimensions"] == [{"length": {"value": 47, "unit": "centimeters"},
                                                "width": {"value": 46, "unit": "centimeters"},
                                                "height": {"value": 4, "unit": "centimeters"}, "marketplace_id": uk}]
    assert home["other_product_image_locator_4"][0]["media_location"].endswith("/SKU-00007/4.jpg")
    assert home["color"][0]["value"] == "Off-White" and home["batteries_required"] == [{"value": False}]


@pytest.mark.parametrize("code", ["de", "us"])
def test_every_item_is_accepted_as_a_new_listing_except_the_documented_one(
        world: tuple[Sandboxes, SyncStateStore], code: str) -> None:
    sbx, state = world
    mp = catalog.MARKETPLACES[code]
    mid = mp.marketplace_id
    listable, retired = expected_buckets(sbx)
    hook = SpApiHook("amazon_sp_api_default")
    for item in ITEMS:  # Amazon forgets the seeded listings: everything is created with UPDATE (ENFORCED)
        hook.delete_listings_item(None, item.sku, [mid])

    out = run_products(code, f"catalogue-{code}", state)
    summary = out["summary"]
    assert summary["invalid_items"] == [{"sku": INVALID[0], "violations": INVALID[1]}], summary
    assert (summary["new"], summary["accepted"], summary["rejected"], summary["changed"]) \
        == (len(listable), len(listable), 0, 0), summary
    assert summary["discontinued"] == 0 and summary["discontinued_total"] == len(retired) == 3  # never listed
    assert out[TASK_REPORT].startswith("failed: 1 record(s) quarantined")
    sent = _feed_messages(sbx, mid)
    assert {m["operationType"] for m in sent} == {"UPDATE"} and {m["sku"] for m in sent} == listable
    for sku in listable:
        assert _listing(sbx, sku, mid) is not None, sku
    assert _listing(sbx, INVALID[0], mid) is None

    # the variation family landed with its relationships (the parent without identifier or offer)
    order = [m["sku"] for m in sent]
    assert order.index("MTX-001") < min(order.index(c) for c in FAMILY[1:])
    parent = _listing(sbx, "MTX-001", mid)["attributes"]
    assert parent["parentage_level"] == [{"value": "parent", "marketplace_id": mid}]
    assert parent["variation_theme"] == [{"name": "SIZE"}]
    assert not {"externally_assigned_product_identifier", "purchasable_offer", "condition_type"} & set(parent)
    for size in ("S", "M", "L"):
        child = _listing(sbx, f"MTX-001-{size}", mid)["attributes"]
        assert child["child_parent_sku_relationship"] == [
            {"child_relationship_type": "variation", "parent_sku": "MTX-001", "marketplace_id": mid}]
        assert child["size"] == [{"value": size, "language_tag": mp.language_tag, "marketplace_id": mid}]
    rel = hook.get_listings_item(None, "MTX-001-M", [mid], included_data=["relationships"])
    assert rel["relationships"][0]["relationships"][0]["parentSkus"] == ["MTX-001"]

    # localized copy, including the documented fallbacks (seed.copy_fields)
    by_sku = {i.sku: i for i in ITEMS}
    suffix = {"uk": "en_gb", "de": "de_de", "us": "en_us"}[code]
    fields = seed.copy_fields(by_sku["SKU-00001"])
    first = _listing(sbx, "SKU-00001", mid)["attributes"]
    assert first["item_name"] == [{"value": fields[f"custitem_amz_title_{suffix}"], "language_tag": mp.language_tag,
                                   "marketplace_id": mid}]
    assert [b["value"] for b in first["bullet_point"]] == [
        fields[f"custitem_amz_bullet{n}_{suffix}"] for n in range(1, 6) if f"custitem_amz_bullet{n}_{suffix}" in fields]
    fallback = {"uk": ("SKU-00005", "custitem_amz_title_en"), "de": ("SKU-00006", "custitem_amz_title_de"),
                "us": ("SKU-00007", None)}[code]
    title = _listing(sbx, fallback[0], mid)["attributes"]["item_name"][0]["value"]
    expected = seed.copy_fields(by_sku[fallback[0]])[fallback[1]] if fallback[1] else by_sku[fallback[0]].display_name
    assert title == expected
