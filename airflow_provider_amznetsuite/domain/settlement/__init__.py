"""Settlement reconciliation (pure domain code: no Airflow, no HTTP).

Pipeline for one ``GET_V2_SETTLEMENT_REPORT_DATA_FLAT_FILE_V2`` file::

    parse (streaming, quarantine)  ->  balance (Σ rows == total-amount, exact)
      ->  classify (GL map, MF tax rule, suspense)  ->  match (NetSuite lookups via an injected callable)
      ->  journal (one balanced journalEntry body)  ->  report (HTML + CSV of exceptions)

:func:`reconcile` runs it all; the modules can be used on their own.
"""

from airflow_provider_amznetsuite.domain.settlement.classify import Classification, GlClassifier
from airflow_provider_amznetsuite.domain.settlement.default_gl_map import DEFAULT_GL_MAP, GL_ROLES, ROLE_NAMES
from airflow_provider_amznetsuite.domain.settlement.journal import (
    JournalEntry,
    JournalLine,
    UnbalancedSettlementError,
    build_journal,
)
from airflow_provider_amznetsuite.domain.settlement.match import (
    MAX_LOOKUP_BATCH,
    MatchKey,
    MatchPlan,
    NetSuiteDocument,
    match_key,
    order_external_id,
    refund_external_id,
)
from airflow_provider_amznetsuite.domain.settlement.parse import (
    REPORT_TYPE,
    Balance,
    ParsedSettlement,
    QuarantinedRow,
    SettlementFile,
    SettlementFormatError,
    SettlementRow,
    SettlementSummary,
    check_balance,
    open_settlement,
    parse_settlement,
)
from airflow_provider_amznetsuite.domain.settlement.reconcile import ReconcileResult, reconcile
from airflow_provider_amznetsuite.domain.settlement.report import ExceptionLine, ReportPaths, write_report

__all__ = [
    "DEFAULT_GL_MAP", "GL_ROLES", "ROLE_NAMES", "MAX_LOOKUP_BATCH", "REPORT_TYPE", "Balance", "Classification", "ExceptionLine",
    "GlClassifier", "JournalEntry", "JournalLine", "MatchKey", "MatchPlan", "NetSuiteDocument", "ParsedSettlement",
    "QuarantinedRow", "ReconcileResult", "ReportPaths", "SettlementFile", "SettlementFormatError", "SettlementRow",
    "SettlementSummary", "UnbalancedSettlementError", "build_journal", "check_balance", "match_key", "open_settlement",
    "order_external_id", "parse_settlement", "reconcile", "refund_external_id", "write_report",
]
