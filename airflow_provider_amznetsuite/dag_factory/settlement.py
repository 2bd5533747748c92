"""``amazon_<code>_settlement``: Amazon V2 settlement reports -> balanced NetSuite journal entries, with a
finance review report per settlement (see docs/settlement.md).

    wait_for_settlements >> download_and_reconcile >> post_journal >> settlement_report

Parsing builds operators only: no network, no Connection or Variable lookup.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG, Param

from airflow_provider_amznetsuite.config import AppConfig, MarketplaceConfig
from airflow_provider_amznetsuite.dag_factory import make_dag
from airflow_provider_amznetsuite.operators.settlement import (
    TASK_IDS,
    SettlementPostOperator,
    SettlementReconcileOperator,
    SettlementReportOperator,
    SettlementWaitSensor,
)

SYNC = "settlement"
WAIT_TIMEOUT = timedelta(minutes=30)  # a scheduled run waits this long for a new report, then ends green
POKE_INTERVAL = timedelta(minutes=5)  # getReports allows one call per 45 s (burst 10)


def settlement_params() -> dict[str, Param]:
    return {
        "settlement_id": Param(None, type=["null", "string"], pattern=r"^[A-Za-z0-9_-]{1,64}$", title="Settlement id",
                               description="Reprocess this settlement (the settlement-id of the report's first data "
                                           "row): re-match, rewrite the review report and re-post the journal entry "
                                           "by upsert. Empty: process new settlements."),
        "wait_minutes": Param(int(WAIT_TIMEOUT.total_seconds() // 60), type="integer", minimum=0, maximum=1440,
                              title="Wait for a new report (minutes)",
                              description="How long the run waits (deferred, no worker slot) for a new settlement "
                                          "report before ending green with 'no new settlement'. 0 = do not wait."),
    }


def _doc(mp: MarketplaceConfig) -> str:
    st = mp.settlement
    accounts = ", ".join(f"`{role}` {acct}" for role, acct in st.accounts.items()) or "none configured"
    return f"""### Settlement reconciliation — {mp.code} ({mp.marketplace_id}, {mp.currency})

Each new `GET_V2_SETTLEMENT_REPORT_DATA_FLAT_FILE_V2` report becomes **one balanced journal entry**
`AMZ-STL-<settlement-id>` in subsidiary {mp.subsidiary}{' (one per month: split_by_period)' if st.split_by_period else ''},
with one line per GL account and the deposit on the `bank` account. Every line is classified to a GL
role and the role's account; order and refund lines are matched to their NetSuite documents.

* GL role accounts: {accounts}.
* Unknown combinations and roles without an account go to `suspense`, listed as **unmapped**.
* Orders missing in NetSuite are listed as **unmatched** (still posted to their accounts) and re-checked
  on later runs for {st.recheck_days} days.
* A settlement that does not balance, or has unreadable lines, is **not posted** and fails the run
  (unless `allow_quarantine`). Fix, then re-run with Param `settlement_id`.
* Review report (HTML + CSV of exceptions) per settlement: see the task log and the run summary.

Finance guide: docs/settlement.md.
"""


def build(mp: MarketplaceConfig, app: AppConfig) -> DAG:
    dag = make_dag(mp, SYNC, params=settlement_params(), doc_md=_doc(mp),
                   description=f"Amazon {mp.code} settlements -> NetSuite journal entries ({mp.currency})")
    common = {"marketplace": mp.code, "config_path": app.source}
    with dag:
        wait = SettlementWaitSensor(task_id=TASK_IDS["wait"], marketplace_id=mp.marketplace_id,
                                    conn_id=mp.spapi_conn_id, deferrable=True, poke_interval=POKE_INTERVAL.total_seconds(),
                                    wait_timeout=WAIT_TIMEOUT, timeout=(WAIT_TIMEOUT + timedelta(hours=1)).total_seconds(),
                                    pool=mp.pool, **common)
        rec = SettlementReconcileOperator(task_id=TASK_IDS["reconcile"], pool=mp.pool,
                                          execution_timeout=timedelta(hours=3), **common)
        post = SettlementPostOperator(task_id=TASK_IDS["post"], **common)
        report = SettlementReportOperator(task_id=TASK_IDS["report"], **common)
        wait >> rec >> post >> report
    return dag
