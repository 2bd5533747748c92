"""``amazon_<code>_pricing``: NetSuite price levels -> Amazon offers (see docs/pricing-sync.md).

    read_netsuite_prices >> plan_pricing_push >> push_prices >> pricing_report

Parsing builds operators only: no network, no Connection or Variable lookup.
"""

from __future__ import annotations

from airflow.sdk import DAG, Param

from airflow_provider_amznetsuite.config import AppConfig, MarketplaceConfig
from airflow_provider_amznetsuite.dag_factory import make_dag
from airflow_provider_amznetsuite.operators.feeds import ListingsFeedPushOperator
from airflow_provider_amznetsuite.operators.pricing import (
    PricingPlanOperator,
    PricingReadOperator,
    PricingReportOperator,
)

SYNC = "pricing"
READ, PLAN, PUSH, REPORT = "read_netsuite_prices", "plan_pricing_push", "push_prices", "pricing_report"


def pricing_params() -> dict[str, Param]:
    return {
        "full_push": Param(False, type="boolean", title="Full push",
                           description="Send every SKU's offer, not only those that differ from what Amazon accepted "
                                       "(holds still apply)."),
        "approve": Param([], type="array", items={"type": "string", "minLength": 1}, title="Approve held SKUs",
                         description="SKUs whose held price change (too large, below cost/minimum, above maximum) "
                                     "may be pushed in this run."),
        "skus": Param(None, type=["null", "array"], items={"type": "string", "minLength": 1}, maxItems=1000,
                      title="Only these SKUs",
                      description="Limit the run to these SKUs (at most 1000). Empty: every priced SKU."),
    }


def _doc(mp: MarketplaceConfig) -> str:
    pc = mp.pricing
    vat = (f"NetSuite prices are {'gross' if pc.prices_include_tax else 'net'}; Amazon receives "
           f"{'VAT-inclusive' if pc.vat_inclusive else 'VAT-exclusive'} amounts (VAT rate {pc.vat_rate}).")
    return f"""### Pricing — {mp.code} ({mp.marketplace_id}, {mp.currency})

NetSuite price levels (base `{pc.price_level}`, B2B `{pc.b2b_price_level}`, sale `{pc.sale_price_level}`) in
{mp.currency} become Amazon `purchasable_offer` entries (audience `ALL` and `B2B`), sent as
`JSON_LISTINGS_FEED` PATCH `merge` of `/attributes/purchasable_offer`. {vat}

* Only offers that differ from what Amazon last accepted are sent (`full_push` sends all).
* Future-dated NetSuite prices are pushed now as a schedule switching at the exact instant (UTC).
* A change of more than {pc.max_change_pct} %, or a price below cost / minimum or above maximum, is
  **held**: reported and quarantined, not pushed. Re-run with Param `approve` = the SKUs to release.
* `pricing_report` fails the run (after everything else was pushed) when SKUs were held, unusable or
  rejected by Amazon, unless `allow_quarantine`.

Operations guide: docs/pricing-sync.md.
"""


def build(mp: MarketplaceConfig, app: AppConfig) -> DAG:
    dag = make_dag(mp, SYNC, params=pricing_params(), doc_md=_doc(mp),
                   description=f"NetSuite price levels -> Amazon {mp.code} offers ({mp.currency})")
    common = {"marketplace": mp.code, "config_path": app.source}
    with dag:
        read = PricingReadOperator(task_id=READ, **common)
        plan = PricingPlanOperator(task_id=PLAN, read_task_id=READ, **common)
        push = ListingsFeedPushOperator(task_id=PUSH, sync=SYNC, plan_task_id=PLAN, deferrable=True,
                                        pool=mp.pool, **common)
        report = PricingReportOperator(task_id=REPORT, plan_task_id=PLAN, push_task_id=PUSH, **common)
        read >> plan >> push >> report
    return dag
