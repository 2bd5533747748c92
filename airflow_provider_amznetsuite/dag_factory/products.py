"""``amazon_<code>_products``: NetSuite items → Amazon listings (JSON_LISTINGS_FEED), validated at the boundary.

No network and no Connection/Variable lookups here: operators resolve everything at execute time.
"""

from __future__ import annotations

from airflow.sdk import DAG, Param

from airflow_provider_amznetsuite.config import AppConfig, MarketplaceConfig
from airflow_provider_amznetsuite.dag_factory import make_dag
from airflow_provider_amznetsuite.operators.products import (
    TASK_FETCH,
    TASK_PLAN,
    TASK_PUSH,
    TASK_READ,
    TASK_REPORT,
    FetchProductTypesOperator,
    ProductsFeedPushOperator,
    ProductsReportOperator,
    ReadNetSuiteItemsOperator,
    ValidateAndPlanOperator,
)

DOC = """\
### Amazon {code} — products

Publishes NetSuite product master data (items flagged by `{flag}`) to Amazon {country}
(`{marketplace_id}`, language `{lang}`) with `JSON_LISTINGS_FEED`.

1. **{read}** — SuiteQL of flagged items (and of every SKU listed before, so retired ones get flagged).
2. **{fetch}** — Amazon's product type definitions (JSON Schema) for the product types needed.
3. **{plan}** — map, validate locally (exact attribute paths), plan: new → `UPDATE`, changed →
   `PARTIAL_UPDATE`, unchanged → nothing, invalid → quarantined, retired → `PATCH` quantity 0
   (policy `{policy}`), never `DELETE` unless Param `delete_skus` names the SKU.
4. **{push}** — submits the feed(s), waits deferrably, advances the content hash only for accepted SKUs.
5. **{report}** — summary; the run fails after all work if anything was invalid or rejected
   (unless `allow_quarantine`).

Params: `validation_preview` (ask Amazon to validate, send nothing), `delete_skus`, `full_push`,
`dry_run`, `allow_quarantine`. See docs/products-sync.md.
"""


def params() -> dict[str, Param]:
    return {
        "validation_preview": Param(
            False, type="boolean", title="Validation preview",
            description="Validate every planned listing with Amazon (Listings Items API, mode VALIDATION_PREVIEW) "
                        "and report Amazon's issues instead of sending a feed. Nothing is recorded as accepted."),
        "delete_skus": Param(
            [], type="array", items={"type": "string", "minLength": 1, "maxLength": 40},
            title="SKUs to delete",
            description="Send a DELETE for exactly these seller SKUs (the only way this DAG deletes a listing). "
                        "Clear their publish flag in NetSuite too, or the next run lists them again."),
        "full_push": Param(
            False, type="boolean", title="Full push",
            description="Resend every valid listing (PARTIAL_UPDATE for listed SKUs) regardless of the stored "
                        "content hashes."),
    }


def build(mp: MarketplaceConfig, app: AppConfig) -> DAG:
    doc = DOC.format(code=mp.code.upper(), flag=mp.products.flag_field, country=mp.country,
                     marketplace_id=mp.marketplace_id, lang=mp.language_tag, policy=mp.products.discontinued,
                     read=TASK_READ, fetch=TASK_FETCH, plan=TASK_PLAN, push=TASK_PUSH, report=TASK_REPORT)
    dag = make_dag(mp, "products", params=params(), doc_md=doc,
                   description=f"NetSuite items → Amazon {mp.code.upper()} listings (validated JSON_LISTINGS_FEED)")
    common = {"marketplace": mp.code, "config_path": app.source}  # the file this DAG was built from
    with dag:
        read = ReadNetSuiteItemsOperator(task_id=TASK_READ, **common)
        fetch = FetchProductTypesOperator(task_id=TASK_FETCH, pool=mp.pool, **common)
        plan = ValidateAndPlanOperator(task_id=TASK_PLAN, pool=mp.pool, **common)
        push = ProductsFeedPushOperator(task_id=TASK_PUSH, plan_task_id=TASK_PLAN, pool=mp.pool, **common)
        report = ProductsReportOperator(task_id=TASK_REPORT, push_task_id=TASK_PUSH, plan_task_id=TASK_PLAN,
                                        trigger_rule="all_done", **common)
        read >> fetch >> plan >> push >> report
    return dag
