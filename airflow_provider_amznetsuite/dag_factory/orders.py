"""``amazon_<code>_orders``: Amazon orders → NetSuite (tax, FBA/MFN branch) → acknowledgements and shipments.

Built from the marketplace config only (no network, no Connection/Variable lookups at parse time).
Operations guide: ``docs/orders-sync.md``.
"""

from __future__ import annotations

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, Param

from airflow_provider_amznetsuite.config import AppConfig, MarketplaceConfig
from airflow_provider_amznetsuite.dag_factory import make_dag, window_params
from airflow_provider_amznetsuite.operators.orders import (
    ORDER_ID_PATTERN,
    TASK_IDS,
    AcknowledgeOrdersOperator,
    BranchFulfilmentOperator,
    ConfirmShipmentsOperator,
    DecideOrdersOperator,
    ExtractOrdersOperator,
    MapOrdersOperator,
    OrdersReportOperator,
    WriteOrdersOperator,
)

DOC_MD = """
### Amazon {country} orders → NetSuite

Each run reads the orders Amazon changed in the run's window (``searchOrders`` by
``lastUpdatedAfter/Before``, widened by ``orders.overlap_minutes``), decides lifecycle and
marketplace-of-record tax per order, writes FBA orders as ``{fba_document}`` and MFN orders as
``salesOrder`` (upsert by external id ``AMZ-<orderId>``), acknowledges new MFN orders with the NetSuite
document number, confirms NetSuite item fulfilments to Amazon and reports ship-by alerts.

* **Params**: ``window_start`` / ``window_end`` (explicit window, ISO-8601 with zone), ``order_ids``
  (re-process exactly these Amazon order ids), ``dry_run``, ``allow_quarantine``.
* Orders that cannot be booked are **quarantined** with a reason and re-tried by every later run; the
  ``orders_report`` task then fails (after everything else was written) unless ``allow_quarantine``.
* Re-running a window, overlapping backfills and task retries never create duplicates.

See ``docs/orders-sync.md`` for the lifecycle table, the writebacks and operations.
"""


def params() -> dict[str, Param]:
    return {
        **window_params(),
        "order_ids": Param(
            [], type="array", items={"type": "string", "pattern": ORDER_ID_PATTERN}, uniqueItems=True,
            title="Amazon order ids",
            description="Re-process exactly these orders (getOrder), e.g. [\"202-1234567-1234567\"]; the window is "
                        "ignored when set.",
        ),
    }


def build(mp: MarketplaceConfig, app: AppConfig) -> DAG:
    dag = make_dag(
        mp, "orders", params=params(),
        doc_md=DOC_MD.format(country=mp.country, fba_document=mp.orders.fba_document),
        description=f"Amazon {mp.country} orders → NetSuite (tax, FBA/MFN), acknowledgements, shipment confirmations",
    )
    common = {"marketplace": mp.code, "config_path": app.source}
    with dag:
        extract = ExtractOrdersOperator(task_id=TASK_IDS["extract"], pool=mp.pool, **common)
        decide = DecideOrdersOperator(task_id=TASK_IDS["decide"], **common)
        branch = BranchFulfilmentOperator(task_id=TASK_IDS["branch"], decide_task_id=decide.task_id)
        map_fba = MapOrdersOperator(task_id=TASK_IDS["map_fba"], channel="FBA", **common)
        map_mfn = MapOrdersOperator(task_id=TASK_IDS["map_mfn"], channel="MFN", **common)
        write_fba = WriteOrdersOperator(task_id=TASK_IDS["write_fba"], channel="FBA", map_task_id=map_fba.task_id,
                                        **common)
        write_mfn = WriteOrdersOperator(task_id=TASK_IDS["write_mfn"], channel="MFN", map_task_id=map_mfn.task_id,
                                        **common)
        no_orders = EmptyOperator(task_id=TASK_IDS["no_orders"])
        join = EmptyOperator(task_id=TASK_IDS["join"], trigger_rule="none_failed_min_one_success")
        ack = AcknowledgeOrdersOperator(task_id=TASK_IDS["ack"], pool=mp.pool, **common)
        ship = ConfirmShipmentsOperator(task_id=TASK_IDS["ship"], pool=mp.pool, **common)
        report = OrdersReportOperator(task_id=TASK_IDS["report"], trigger_rule="all_done", **common)

        extract >> decide >> branch >> [map_fba, map_mfn, no_orders]
        map_fba >> write_fba >> join
        map_mfn >> write_mfn >> join
        no_orders >> join
        join >> [ack, ship] >> report
    return dag
