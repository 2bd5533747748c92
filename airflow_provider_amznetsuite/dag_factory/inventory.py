"""``amazon_<code>_inventory``: NetSuite stock → Amazon MFN quantities (deltas only), FBA stock → NetSuite.

    read_netsuite_stock ─┬─> plan_inventory_push ──> push_inventory ──┬──> inventory_report
                         └─> mirror_fba_stock ─────────────────────────┘

Operations guide: docs/inventory-sync.md.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import DAG, Param

from airflow_provider_amznetsuite.config import AppConfig, MarketplaceConfig
from airflow_provider_amznetsuite.dag_factory import make_dag
from airflow_provider_amznetsuite.operators.feeds import ListingsFeedPushOperator
from airflow_provider_amznetsuite.operators.inventory import (
    InventoryReportOperator,
    MirrorFbaStockOperator,
    PlanInventoryPushOperator,
    ReadNetSuiteStockOperator,
)

SYNC = "inventory"
READ, PLAN, PUSH, MIRROR, REPORT = (
    "read_netsuite_stock", "plan_inventory_push", "push_inventory", "mirror_fba_stock", "inventory_report")

# Item custom fields of the provider's NetSuite setup (docs/inventory-sync.md § NetSuite fields). A
# marketplace config key of the same name (inventory.fba_flag_field, products.category_field) wins
# once the config schema has it; ``None`` there switches the field off.
DEFAULT_FBA_FLAG_FIELD = "custitem_amz_fulfillment_channel"
DEFAULT_CATEGORY_FIELD = "custitem_amz_category"

DOC_MD = """\
### Amazon {country} inventory (`{dag_id}`)

NetSuite is the authority for sellable stock. Every run reads NetSuite availability for the mapped
locations ({locations}), computes the sellable quantity per SKU (safety stock, shares, caps, overrides),
and sends Amazon **only the quantities it has not accepted yet** as JSON_LISTINGS_FEED `PATCH merge`
messages on `fulfillment_availability` (channel `DEFAULT`). FBA SKUs never get an MFN quantity; their
stock flows the other way: Amazon's FBA fulfillable quantities are mirrored into NetSuite location
{fba} with one inventory adjustment per window.

**Params:** `full_push` sends every SKU; `skus` limits the run to the listed SKUs (e.g. from a NetSuite
movement event); `dry_run` computes and reports without writing; `allow_quarantine` finishes green
even if Amazon rejected SKUs (they are still reported and re-sent next run).

See docs/inventory-sync.md for the rules, the report fields and how to trigger a run from NetSuite.
"""


def params() -> dict[str, Param]:
    return {
        "full_push": Param(False, type="boolean", title="Full push",
                           description="Send every MFN SKU's quantity, not only those Amazon has not accepted yet."),
        "skus": Param(None, type=["null", "array"], items={"type": "string", "minLength": 1, "maxLength": 40},
                      uniqueItems=True, title="Only these SKUs",
                      description="Restrict the run to these seller SKUs (NetSuite itemid), one per line. "
                                  "Empty = every SKU of the mapped locations."),
    }


def _option(section: Any, name: str, default: str | None) -> str | None:
    value = getattr(section, name, default)
    return value if value else None


def build(mp: MarketplaceConfig, app: AppConfig) -> DAG:
    locations = ", ".join(loc.location_id for loc in mp.locations.mfn) or "none configured"
    dag = make_dag(
        mp, SYNC, params=params(),
        doc_md=DOC_MD.format(country=mp.country, dag_id=mp.dag_id(SYNC), locations=locations,
                             fba=mp.locations.fba or "(none configured)"),
        description=f"NetSuite → Amazon {mp.country} MFN quantities (deltas) and Amazon FBA → NetSuite FBA location",
    )
    common: dict[str, Any] = {"marketplace": mp.code, "config_path": app.source}
    category_field = _option(mp.products, "category_field",
                             DEFAULT_CATEGORY_FIELD if mp.products.product_types else None)
    with dag:
        read = ReadNetSuiteStockOperator(
            task_id=READ, pool=mp.pool, fba_flag_field=_option(mp.inventory, "fba_flag_field", DEFAULT_FBA_FLAG_FIELD),
            category_field=category_field, doc_md="NetSuite availability per item × mapped location (SuiteQL, "
            "keyset-paged) and the FBA SKU set (Amazon FBA inventory + NetSuite flag) → sync-state batch.", **common)
        plan = PlanInventoryPushOperator(
            task_id=PLAN, read_task_id=READ,
            doc_md="Sellable quantities → deltas vs. Amazon-accepted quantities → feed documents / direct patches.",
            **common)
        push = ListingsFeedPushOperator(
            task_id=PUSH, sync=SYNC, plan_task_id=PLAN, pool=mp.pool,
            doc_md="Submit the feeds, wait deferrably, advance the state only for SKUs Amazon accepted.", **common)
        mirror = MirrorFbaStockOperator(
            task_id=MIRROR, read_task_id=READ, pool=mp.pool,
            doc_md="Amazon FBA fulfillable → NetSuite FBA location (inventory adjustment per window, idempotent).",
            **common)
        report = InventoryReportOperator(
            task_id=REPORT, read_task_id=READ, plan_task_id=PLAN, push_task_id=PUSH, mirror_task_id=MIRROR,
            doc_md="Run summary; fails when SKUs were quarantined (unless allow_quarantine) or a step failed.",
            **common)
        read >> plan >> push >> report
        read >> mirror >> report
    return dag
