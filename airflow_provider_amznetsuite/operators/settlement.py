"""Settlement sync operators (``amazon_<code>_settlement``): Amazon V2 settlement reports -> one balanced
NetSuite journal entry per settlement, matched line by line against NetSuite, with a finance review report.

Tasks (see ``dag_factory/settlement.py`` and docs/settlement.md):

``wait_for_settlements`` (:class:`SettlementWaitSensor`, a deferrable ``SettlementReportSensor``)
    Lists DONE ``GET_V2_SETTLEMENT_REPORT_DATA_FLAT_FILE_V2`` reports of the marketplace created after
    the newest report this marketplace has already handled (posted, or flagged: see
    :func:`settlement_cursor`) — 89 days back when there is none. Nothing new: it waits in the triggerer for up to
    ``wait_timeout`` and then succeeds with ``{"reports": [], "message": "no new settlement"}`` (a
    scheduled run with nothing to do is green, never red or skipped).
``download_and_reconcile`` (:class:`SettlementReconcileOperator`)
    Downloads each new report (its raw file is kept next to the review report, so later re-checks need
    neither Amazon nor its 90-day retention), reads the settlement id from the summary row and skips
    settlements already processed (sync-state database, or their ``AMZ-STL-<id>`` journal already in
    NetSuite). Runs :func:`~airflow_provider_amznetsuite.domain.settlement.reconcile` with NetSuite
    lookups (one SuiteQL per ≤ 1000 keys), writes the HTML + CSV review report, quarantines unreadable
    settlements, quarantined lines and unbalanced settlements (flagged, never posted). It also
    **re-checks** processed settlements that still had unmatched lines (posted within the last
    ``settlement.recheck_days``): matching is re-run and the review report updated; nothing is re-posted
    (unmatched lines were posted to their GL accounts already; matching changes no amount).
    Param ``settlement_id`` reprocesses that one settlement (re-matched and re-posted by upsert).
``post_journal`` (:class:`SettlementPostOperator`)
    Upserts ``journalEntry`` ``AMZ-STL-<id>`` (or one per month, ``AMZ-STL-<id>-<YYYYMM>``, with
    ``split_by_period``) with ``replace=line`` — a re-post replaces the lines, never appends — and marks
    the settlement processed with the journal ids, report paths and counts.
``settlement_report`` (:class:`SettlementReportOperator`)
    The run summary (settlements, rows, bucket counts and amounts, balanced, journals posted, report
    paths, unmatched lines); fails the run after everything else is done when a line was quarantined or
    a settlement did not balance, unless Param ``allow_quarantine``.

Module functions :func:`netsuite_lookup`, :func:`netsuite_currency_ids`, :func:`existing_journals`,
:func:`post_journal_entry` and :func:`reports_dir` are shared with the ``amznetsuite settlement
reconcile`` command.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Any

from airflow.sdk.exceptions import AirflowException, AirflowFailException

from airflow_provider_amznetsuite.config import AppConfig, load_config
from airflow_provider_amznetsuite.domain.money import format_amount
from airflow_provider_amznetsuite.domain.settlement import (
    REPORT_TYPE,
    JournalEntry,
    ReconcileResult,
    SettlementFormatError,
    open_settlement,
    reconcile,
)
from airflow_provider_amznetsuite.domain.settlement.match import MAX_LOOKUP_BATCH, LookupField
from airflow_provider_amznetsuite.hooks.netsuite import NetSuiteHook
from airflow_provider_amznetsuite.hooks.spapi import SpApiHook
from airflow_provider_amznetsuite.operators.base import MarketplaceOperator
from airflow_provider_amznetsuite.sensors.spapi import SettlementReportSensor
from airflow_provider_amznetsuite.state import SyncStateStore, default_base_path
from airflow_provider_amznetsuite.triggers.spapi import SpApiNewReportsTrigger

SYNC = "settlement"
FLAGGED_SYNC = "settlement_flagged"  # processed-table namespace: reports handled but left unposted (by report id)
TASK_IDS = {"wait": "wait_for_settlements", "reconcile": "download_and_reconcile", "post": "post_journal",
            "report": "settlement_report"}
NO_NEW = "no new settlement"
LOOKBACK = timedelta(days=89)  # Amazon keeps reports 90 days
REPORTS_ENV = "AMZNETSUITE_REPORTS"
ORDER_TYPES = ("SalesOrd", "CashSale", "CustInvc")  # what a merchant-order-id (tranid) may name
JOURNAL_TYPE = "Journal"
LISTED = 50  # exception lines named one by one per settlement in the run summary
QUARANTINED_LINES_MAX = 500  # quarantine entries per settlement (the CSV report lists them all)
FLAGGED = ("unbalanced", "quarantined", "unreadable", "not_postable")  # settlements left unposted for a human
_ORDER_TYPES_LOWER = {"salesord", "cashsale", "custinvc"}
_REFUND_TYPES_LOWER = {"custcred", "cashrfnd", "custrfnd"}


# ================================================================================================
# shared with the CLI
# ================================================================================================
def reports_dir(app: AppConfig, marketplace: str) -> Path:
    """Where review reports (and the raw settlement files) go: ``$AMZNETSUITE_REPORTS``, else
    ``state.base_path/reports``, else ``$AIRFLOW_HOME/amznetsuite/reports`` — then ``settlement/<code>``."""
    env = os.environ.get(REPORTS_ENV)
    if env:
        base = Path(env)
    elif app.state.base_path:
        base = Path(app.state.base_path) / "reports"
    else:
        base = default_base_path() / "reports"
    return base / "settlement" / marketplace


class NetSuiteLookup:
    """``lookup(field, values)`` for :func:`reconcile`: one SuiteQL per call (≤ 1000 values).

    * ``tranid`` (a merchant-order-id): sales orders, cash sales and invoices only;
    * ``externalid``: any transaction (orders ``AMZ-<order-id>``, refunds ``AMZ-RFD-...``).

    Returns ``{value: {"id", "type", "currency" (ISO symbol), "total" (foreigntotal)}}``; voided
    transactions are ignored. When a value names several transactions, an order (for tranid) or an
    order/refund type (for external ids) wins, then the lowest internal id.
    """

    def __init__(self, hook: NetSuiteHook) -> None:
        self.hook = hook
        self.calls = 0

    def __call__(self, field: LookupField, values: list[str]) -> dict[str, dict[str, Any]]:
        if not values:
            return {}
        if len(values) > MAX_LOOKUP_BATCH:
            raise ValueError(f"at most {MAX_LOOKUP_BATCH} values per SuiteQL lookup (got {len(values)})")
        self.calls += 1
        select = ("SELECT t.id, t.tranid, t.externalid, t.type, t.foreigntotal, c.symbol AS currencysymbol "
                  "FROM transaction t LEFT JOIN currency c ON c.id = t.currency ")
        if field == "tranid":
            rows = self.hook.suiteql(select + "WHERE t.tranid IN (:values) AND t.type IN (:types) "
                                     "AND t.voided = 'F' ORDER BY t.id", params={"values": list(values),
                                                                                "types": list(ORDER_TYPES)})
            key, preferred = "tranid", _ORDER_TYPES_LOWER
        elif field == "externalid":
            rows = self.hook.suiteql(select + "WHERE t.externalid IN (:values) AND t.voided = 'F' ORDER BY t.id",
                                     params={"values": list(values)})
            key, preferred = "externalid", _ORDER_TYPES_LOWER | _REFUND_TYPES_LOWER
        else:
            raise ValueError(f"unknown lookup field {field!r} (tranid or externalid)")
        wanted = set(values)
        out: dict[str, dict[str, Any]] = {}
        for row in rows:
            value = row.get(key)
            if value is None or str(value) not in wanted:
                continue
            value = str(value)
            doc = {"id": str(row.get("id")), "type": row.get("type"), "currency": row.get("currencysymbol"),
                   "total": row.get("foreigntotal")}
            current = out.get(value)
            if current is None or (str(current["type"] or "").lower() not in preferred
                                   and str(doc["type"] or "").lower() in preferred):
                out[value] = doc
        return out


def netsuite_lookup(hook: NetSuiteHook) -> NetSuiteLookup:
    return NetSuiteLookup(hook)


def netsuite_currency_ids(hook: NetSuiteHook) -> dict[str, str]:
    """``{ISO code: NetSuite currency internal id}``."""
    out: dict[str, str] = {}
    for row in hook.suiteql("SELECT id, symbol FROM currency ORDER BY id"):
        symbol, cid = row.get("symbol"), row.get("id")
        if symbol and cid is not None:
            out.setdefault(str(symbol).upper(), str(cid))
    return out


def existing_journals(hook: NetSuiteHook, external_ids: Iterable[str]) -> dict[str, str]:
    """``{externalId: internal id}`` of the settlement journal entries already in NetSuite."""
    ids = sorted(set(external_ids))
    if not ids:
        return {}
    return hook.lookup_external_ids("transaction", ids, where="type = :t", params={"t": JOURNAL_TYPE})


def journal_bodies(journal: JournalEntry) -> list[dict[str, Any]]:
    """The ``journalEntry`` bodies to upsert (one per month when the entry is split by period)."""
    return journal.period_bodies()


def post_journal_entry(hook: NetSuiteHook, bodies: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Upsert each body by its external id, replacing the ``line`` sublist. ``{externalId: internal id}``."""
    out: dict[str, str] = {}
    for body in bodies:
        eid = str(body["externalId"])
        out[eid] = hook.upsert_record("journalEntry", eid, body, replace=["line"])
    return out


def _loads_body(text: str) -> dict[str, Any]:
    return json.loads(text, parse_float=Decimal)


def _parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def settlement_cursor(state: SyncStateStore, marketplace: str) -> tuple[datetime | None, set[str]]:
    """The newest report creation time this marketplace has handled, and the report ids it knows.

    Handled = posted (processed ``settlement``, by settlement id) or flagged (processed
    ``settlement_flagged``, by report id: unbalanced, quarantined lines, unreadable, not postable).
    Flagged reports are listed in quarantine and wait for a reprocess with Param ``settlement_id``
    instead of being downloaded again every run (resolving their quarantine entry does not bring them
    back).
    """
    infos: list[Mapping[str, Any]] = list(state.processed_keys(SYNC, marketplace).values())
    infos += list(state.processed_keys(FLAGGED_SYNC, marketplace).values())
    times = [t for t in (_parse_time(i.get("created_time")) for i in infos) if t is not None]
    known = {str(i["report_id"]) for i in infos if i.get("report_id")}
    return (max(times) if times else None), known


def created_since(cursor: datetime | None, now: datetime | None = None) -> datetime:
    """Where the next listing starts: one second after the cursor, never more than 89 days back."""
    now = now or datetime.now(timezone.utc)
    floor = (now - LOOKBACK).replace(microsecond=0)
    if cursor is None:
        return floor
    return max(cursor.astimezone(timezone.utc).replace(microsecond=0) + timedelta(seconds=1), floor)


def _iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# ================================================================================================
# 1. wait for new settlement reports
# ================================================================================================
class SettlementWaitSensor(SettlementReportSensor):
    """``SettlementReportSensor`` whose window starts after the last handled settlement, and which ends
    *successfully* with no reports after ``wait_timeout`` (a quiet day is not a failure)."""

    def __init__(self, *, marketplace: str, config_path: str | None = None,
                 wait_timeout: timedelta = timedelta(minutes=30), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.marketplace = marketplace
        self.config_path = config_path
        self.wait_timeout = wait_timeout

    def _state(self) -> SyncStateStore:
        return SyncStateStore.from_airflow(load_config(self.config_path).state.conn_id)

    def _known_and_since(self) -> tuple[set[str], datetime]:
        cursor, known = settlement_cursor(self._state(), self.marketplace)
        return known, created_since(cursor)

    def _result(self, reports: list[dict[str, Any]], since: str | None, message: str | None = None) -> dict[str, Any]:
        out = self._xcom(reports)
        out["created_since"] = since
        if message:
            out["message"] = message
        return out

    def execute(self, context: Any) -> Any:
        sid = (context.get("params") or {}).get("settlement_id")
        if sid:
            self.log.info("Param settlement_id=%s: reprocessing that settlement, not waiting for new reports", sid)
            return self._result([], None, f"reprocess settlement {sid}")
        known, since = self._known_and_since()
        self.created_since = _iso(since)
        found = [r for r in self._find() if str(r.get("report_id")) not in known]
        if found:
            self.log.info("%d new settlement report(s) for %s since %s", len(found), self.marketplace, self.created_since)
            return self._result(found, self.created_since)
        minutes = (context.get("params") or {}).get("wait_minutes")
        wait_td = timedelta(minutes=int(minutes)) if minutes is not None else self.wait_timeout
        wait = wait_td.total_seconds()
        if wait <= 0:
            self.log.info("%s for %s since %s", NO_NEW, self.marketplace, self.created_since)
            return self._result([], self.created_since, NO_NEW)
        self.log.info("no new settlement report for %s since %s; waiting up to %.0f s in the triggerer",
                      self.marketplace, self.created_since, wait)
        self.defer(
            trigger=SpApiNewReportsTrigger(report_type=self.report_type, marketplace_id=self.marketplace_id,
                                           conn_id=self.conn_id, created_since=self.created_since,
                                           poll_interval=float(self.poke_interval), timeout=wait),
            method_name="execute_complete",
            timeout=wait_td + timedelta(minutes=10),
        )

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> dict[str, Any]:
        # a resumed task is a fresh operator instance: the window is recomputed (same state, same answer)
        event = event or {}
        status = event.get("status")
        known, since = self._known_and_since()
        self.created_since = _iso(since)
        if status == "timeout":
            self.log.info("%s for %s (waited %.0f s)", NO_NEW, self.marketplace, self.wait_timeout.total_seconds())
            return self._result([], self.created_since, NO_NEW)
        if status != "success":
            raise AirflowException(f"waiting for settlement reports failed: {status}: {event.get('message', 'no detail')}")
        reports = [r for r in event.get("reports") or [] if str(r.get("report_id")) not in known]
        return self._result(reports, self.created_since, None if reports else NO_NEW)


# ================================================================================================
# shared operator base
# ================================================================================================
class SettlementOperator(MarketplaceOperator):
    sync = SYNC

    def __init__(self, *, wait_task_id: str = TASK_IDS["wait"], reconcile_task_id: str = TASK_IDS["reconcile"],
                 post_task_id: str = TASK_IDS["post"], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.wait_task_id = wait_task_id
        self.reconcile_task_id = reconcile_task_id
        self.post_task_id = post_task_id

    @property
    def reports_dir(self) -> Path:
        return reports_dir(self.app_config, self.marketplace)


# ================================================================================================
# 2. download and reconcile
# ================================================================================================
def _lines(exceptions: Sequence[Any], limit: int = LISTED) -> list[dict[str, Any]]:
    return [e.to_json() for e in exceptions[:limit]]


def _summary_of(result: ReconcileResult) -> dict[str, Any]:
    cur = result.currency
    return {
        "settlement_id": result.settlement_id, "currency": cur,
        "total_amount": format_amount(result.total_amount, cur), "lines_total": format_amount(result.lines_total, cur),
        "difference": format_amount(result.difference, cur), "balanced": result.balanced, "rows": result.rows,
        "buckets": dict(result.buckets),
        "amounts": {k: format_amount(v, cur) for k, v in result.bucket_amounts.items()},
        "deposit_date": result.deposit_date.date().isoformat(),
        "journal_problem": result.journal_problem,
        "unmatched_lines": _lines(result.unmatched), "unmapped_lines": _lines(result.unmapped),
        "quarantined_lines": _lines(result.quarantined),
        "lookup_calls": result.lookup_calls,
    }


class _NetSuite:
    """The task's NetSuite hook, lookup and currency ids, created on first use."""

    def __init__(self, factory: Callable[[], NetSuiteHook]) -> None:
        self._factory = factory
        self.used = False

    @cached_property
    def hook(self) -> NetSuiteHook:
        self.used = True
        return self._factory()

    @cached_property
    def lookup(self) -> NetSuiteLookup:
        return netsuite_lookup(self.hook)

    @cached_property
    def currency_ids(self) -> dict[str, str]:
        return netsuite_currency_ids(self.hook)


class SettlementReconcileOperator(SettlementOperator):
    """Download new settlement reports, reconcile them against NetSuite, write the review reports."""

    ui_color = "#e8f1ff"

    def execute(self, context: Mapping[str, Any]) -> dict[str, Any]:
        params = self.params_of(context)
        sid_param = params.get("settlement_id") or None
        dry = self.dry_run(context)
        ns = _NetSuite(self.netsuite)  # connected on first use: a quiet run makes no NetSuite request
        self.reports_dir.mkdir(parents=True, exist_ok=True)
        entries: list[dict[str, Any]] = []
        if sid_param:
            report, source = self._locate(str(sid_param))
            entries.append(self._reconcile(report, source, mode="reprocess", ns=ns, dry=dry))
        else:
            reports = list(self.pull(context, self.wait_task_id).get("reports") or [])
            reports.sort(key=lambda r: str(r.get("created_time") or ""))
            seen: dict[str, int] = {}
            for report in reports:
                source, problem = self._download(report)
                if source is None:
                    entries.append(self._unreadable(report, problem, dry))
                    continue
                sid = self._settlement_id(source)
                if sid in seen:  # Amazon listed the same settlement twice: keep the newest report
                    entries[seen[sid]] = {**entries[seen[sid]], "status": "superseded"}
                if self.state.is_processed(SYNC, self.marketplace, sid):
                    self.log.info("settlement %s (report %s) is already processed; skipped", sid, report.get("report_id"))
                    entries.append({"settlement_id": sid, "report_id": report.get("report_id"), "mode": "new",
                                    "status": "already_processed"})
                    continue
                seen[sid] = len(entries)
                entries.append(self._reconcile(report, source, mode="new", ns=ns, dry=dry))
            entries += self._recheck(ns, dry, skip={e.get("settlement_id") for e in entries})
        ref = f"{self.run_key(context)}/settlement/reconcile"
        self.state.put_batch(ref, {"settlements": entries})
        counts = {
            "settlements": sum(1 for e in entries if e.get("mode") in ("new", "reprocess") and "result" in e),
            "postable": sum(1 for e in entries if e.get("status") == "postable"),
            "flagged": sum(1 for e in entries if e.get("status") in FLAGGED),
            "rechecked": sum(1 for e in entries if e.get("mode") == "recheck"),
            "lookups": ns.lookup.calls if ns.used else 0,
        }
        self.record(context, {"ref": ref, **counts})
        self.log.info("%s settlement reconcile: %s", self.marketplace, counts)
        return {"ref": ref, "counts": counts}

    # -- sources ---------------------------------------------------------------------------------
    def _source_path(self, settlement_id: str) -> Path:
        return self.reports_dir / f"settlement_{settlement_id}_source.tsv"

    def _download(self, report: Mapping[str, Any]) -> tuple[Path | None, str | None]:
        """Download a report document next to the reports, named by its settlement id.

        Returns ``(path, None)``, or ``(None, reason)`` when the document is not a readable settlement.
        """
        doc = report.get("report_document_id")
        if not doc:
            return None, "the report has no document id"
        data = self.spapi().download_report(str(doc))
        tmp = self.reports_dir / f".download-{uuid.uuid4().hex}.tsv"
        with open(tmp, "wb") as fh:
            fh.write(data)
        try:
            sid = self._settlement_id(tmp)
        except SettlementFormatError as exc:
            tmp.unlink(missing_ok=True)
            return None, str(exc)
        final = self._source_path(sid)
        os.replace(tmp, final)
        return final, None

    @staticmethod
    def _settlement_id(path: Path) -> str:
        with open_settlement(path) as sf:
            return sf.summary.settlement_id

    def _locate(self, settlement_id: str) -> tuple[dict[str, Any], Path]:
        """The report and a local copy of settlement ``settlement_id`` (Param reprocess)."""
        info = self.state.processed_keys(SYNC, self.marketplace).get(settlement_id) or {}
        if not info:
            flagged = [i for i in self.state.processed_keys(FLAGGED_SYNC, self.marketplace).values()
                       if i.get("settlement_id") == settlement_id]
            info = max(flagged, key=lambda i: str(i.get("created_time") or ""), default={})
        report = {k: info.get(k) for k in ("report_id", "report_document_id", "created_time")}
        local = self._source_path(settlement_id)
        if local.exists():
            return report, local
        if report.get("report_document_id"):
            path, _ = self._download(report)
            if path is not None and path.name == local.name:
                return report, path
        since = datetime.now(timezone.utc) - LOOKBACK
        for r in self.spapi().list_reports([REPORT_TYPE], created_since=since, processing_statuses=["DONE"],
                                           marketplace_ids=[self.mp.marketplace_id]):
            ref = {"report_id": r.get("reportId"), "report_document_id": r.get("reportDocumentId"),
                   "created_time": r.get("createdTime")}
            path, _ = self._download(ref)
            if path is not None and path.name == local.name:
                return ref, path
        raise AirflowFailException(
            f"settlement {settlement_id} was not found among the {self.marketplace} settlement reports of the last "
            "90 days, and no local copy exists; check the settlement id (the first data row of the report)")

    # -- reconcile one settlement -----------------------------------------------------------------
    def _reconcile(self, report: Mapping[str, Any], source: Path, *, mode: str, ns: _NetSuite,
                   dry: bool) -> dict[str, Any]:
        cfg = self.mp.settlement
        try:
            result = reconcile(source, marketplace=self.mp, offline=False, lookup=ns.lookup,
                               currency_ids=ns.currency_ids, amount_tolerance=cfg.amount_tolerance)
        except SettlementFormatError as exc:
            return self._unreadable(report, str(exc), dry)
        sid = result.settlement_id
        paths = result.write_report(self.reports_dir)
        self.log.info("settlement %s review report: %s (exceptions: %s)", sid, paths.html, paths.csv)
        entry: dict[str, Any] = {
            "settlement_id": sid, "mode": mode, "report_id": report.get("report_id"),
            "report_document_id": report.get("report_document_id"), "created_time": report.get("created_time"),
            "source": str(source), "reports": [str(paths.html), str(paths.csv)], "result": _summary_of(result),
        }
        detail = json.dumps({k: entry[k] for k in ("report_id", "report_document_id", "created_time")} |
                            {"source": entry["source"]})
        if result.quarantined or not result.balanced:
            entry["status"] = "unbalanced" if not result.balanced else "quarantined"
            if not dry:
                self._quarantine_settlement(result, detail)
                self._flag(entry)
            return entry
        if result.journal is None:
            entry["journal_problem"] = result.journal_problem
            if (result.journal_problem or "").startswith("nothing to post"):
                entry["status"] = "empty"
                return entry
            entry["status"] = "not_postable"  # configuration (accounts, currency, subsidiary): fix and reprocess
            if not dry:
                self.state.quarantine(SYNC, self.marketplace, sid, f"settlement {sid}: {result.journal_problem}; "
                                      f"then reprocess with Param settlement_id={sid}", detail)
                self._flag(entry)
            return entry
        bodies = journal_bodies(result.journal)
        entry["external_ids"] = [b["externalId"] for b in bodies]
        entry["journal_bodies"] = [result.journal.body_json(b) for b in bodies]
        entry["journal"] = {"lines": len(result.journal.lines), "debit": str(result.journal.total_debit),
                            "credit": str(result.journal.total_credit), "periods": list(result.journal.periods)}
        if mode == "new":
            found = existing_journals(ns.hook, entry["external_ids"])
            if found and set(found) == set(entry["external_ids"]):
                self.log.info("settlement %s is already in NetSuite (%s); not posted again", sid, found)
                entry["status"] = "adopted"
                entry["journal_ids"] = found
                return entry
        entry["status"] = "postable"
        return entry

    def _unreadable(self, report: Mapping[str, Any], reason: str | None, dry: bool) -> dict[str, Any]:
        reason = reason or "the report document could not be read"
        rid = str(report.get("report_id") or "unknown")
        key = f"report-{rid}"
        self.log.error("settlement report %s cannot be read: %s", rid, reason)
        entry = {"settlement_id": None, "report_id": rid, "mode": "new", "status": "unreadable", "reason": reason,
                 "created_time": report.get("created_time"), "report_document_id": report.get("report_document_id")}
        if not dry:
            detail = json.dumps({k: report.get(k) for k in ("report_id", "report_document_id", "created_time")})
            self.state.quarantine(SYNC, self.marketplace, key, f"settlement report {rid} is not a readable V2 "
                                  f"settlement: {reason}", detail)
            self._flag(entry)
        return entry

    def _flag(self, entry: Mapping[str, Any]) -> None:
        """Remember a report that was handled but not posted, so discovery moves past it."""
        rid = entry.get("report_id")
        if not rid:
            return
        info = {k: entry.get(k) for k in ("settlement_id", "report_id", "report_document_id", "created_time",
                                          "status", "source")}
        info["flagged_at"] = _iso(datetime.now(timezone.utc))
        if not self.state.mark_processed(FLAGGED_SYNC, self.marketplace, str(rid), info):
            self.state.unmark_processed(FLAGGED_SYNC, self.marketplace, str(rid))
            self.state.mark_processed(FLAGGED_SYNC, self.marketplace, str(rid), info)

    def _quarantine_settlement(self, result: ReconcileResult, detail: str) -> None:
        sid, cur = result.settlement_id, result.currency
        if not result.balanced:
            reason = (f"settlement {sid} does not balance: rows add up to {format_amount(result.lines_total, cur)} but "
                      f"total-amount is {format_amount(result.total_amount, cur)} (difference "
                      f"{format_amount(result.difference, cur)}); not posted — see settlement_{sid}.html")
        else:
            reason = (f"settlement {sid}: {len(result.quarantined)} line(s) could not be read; not posted — see "
                      f"settlement_{sid}_exceptions.csv, then reprocess with Param settlement_id={sid}")
        self.state.quarantine(SYNC, self.marketplace, sid, reason, detail)
        for e in result.quarantined[:QUARANTINED_LINES_MAX]:
            self.state.quarantine(SYNC, self.marketplace, f"{sid}/line-{e.line}", f"line {e.line}: {e.reason}")

    # -- re-check settlements with unmatched lines -------------------------------------------------
    def _recheck(self, ns: _NetSuite, dry: bool, skip: set[Any]) -> list[dict[str, Any]]:
        days = self.mp.settlement.recheck_days
        if days <= 0:
            return []
        oldest = datetime.now(timezone.utc) - timedelta(days=days)
        out: list[dict[str, Any]] = []
        for sid, info in sorted(self.state.processed_keys(SYNC, self.marketplace).items()):
            posted_at = _parse_time(info.get("posted_at"))
            if sid in skip or not int(info.get("unmatched") or 0) or posted_at is None or posted_at < oldest:
                continue
            source = Path(str(info.get("source") or self._source_path(sid)))
            if not source.exists():
                if not info.get("report_document_id"):
                    continue
                downloaded, _ = self._download(info)
                if downloaded is None:
                    continue
                source = downloaded
            try:
                result = reconcile(source, marketplace=self.mp, offline=False, lookup=ns.lookup,
                                   currency_ids=ns.currency_ids, amount_tolerance=self.mp.settlement.amount_tolerance)
            except SettlementFormatError as exc:
                self.log.warning("settlement %s cannot be re-checked: %s", sid, exc)
                continue
            paths = result.write_report(self.reports_dir)
            before = int(info.get("unmatched") or 0)
            after = int(result.buckets.get("unmatched", 0))
            self.log.info("settlement %s re-checked: unmatched lines %d -> %d (review report %s)", sid, before, after,
                          paths.html)
            if not dry:
                new_info = {**info, "unmatched": after, "matched": int(result.buckets.get("matched", 0)),
                            "reports": [str(paths.html), str(paths.csv)], "source": str(source),
                            "rechecked_at": _iso(datetime.now(timezone.utc))}
                self.state.unmark_processed(SYNC, self.marketplace, sid)
                self.state.mark_processed(SYNC, self.marketplace, sid, new_info)
            out.append({"settlement_id": sid, "mode": "recheck", "status": "rechecked", "before": before,
                        "after": after, "reports": [str(paths.html), str(paths.csv)], "result": _summary_of(result)})
        return out


# ================================================================================================
# 3. post the journal entry
# ================================================================================================
class SettlementPostOperator(SettlementOperator):
    """Upsert the balanced journal entries and mark their settlements processed."""

    ui_color = "#e3f7e8"

    def execute(self, context: Mapping[str, Any]) -> dict[str, Any]:
        batch = self.load(context, self.reconcile_task_id)
        dry = self.dry_run(context)
        ns: NetSuiteHook | None = None
        posted: dict[str, dict[str, str]] = {}
        adopted: list[str] = []
        for entry in batch.get("settlements", []):
            status, sid = entry.get("status"), entry.get("settlement_id")
            if status not in ("postable", "adopted"):
                continue
            if dry:
                self.log.info("dry run: would post settlement %s as %s", sid, ", ".join(entry.get("external_ids", [])))
                continue
            if status == "postable":
                ns = ns or self.netsuite()
                bodies = [_loads_body(text) for text in entry["journal_bodies"]]
                ids = post_journal_entry(ns, bodies)
                posted[sid] = ids
                self.log.info("settlement %s posted: %s", sid, ids)
            else:
                ids = dict(entry.get("journal_ids") or {})
                adopted.append(sid)
            result = entry["result"]
            info = {
                "journal_ids": ids, "report_id": entry.get("report_id"),
                "report_document_id": entry.get("report_document_id"), "created_time": entry.get("created_time"),
                "source": entry.get("source"), "reports": entry.get("reports", []), "rows": result["rows"],
                "matched": result["buckets"].get("matched", 0), "unmatched": result["buckets"].get("unmatched", 0),
                "unmapped": result["buckets"].get("unmapped", 0), "deposit_date": result["deposit_date"],
                "total_amount": result["total_amount"], "currency": result["currency"],
                "posted_at": _iso(datetime.now(timezone.utc)), "adopted": status == "adopted",
            }
            if not self.state.mark_processed(SYNC, self.marketplace, sid, info):  # reprocess: replace the record
                self.state.unmark_processed(SYNC, self.marketplace, sid)
                self.state.mark_processed(SYNC, self.marketplace, sid, info)
            keys = [q.key for q in self.state.open_quarantine(SYNC, self.marketplace)
                    if q.key == sid or q.key.startswith(f"{sid}/")]
            if keys:
                self.state.resolve(SYNC, self.marketplace, keys)
        ref = f"{self.run_key(context)}/settlement/post"
        self.state.put_batch(ref, {"posted": posted, "adopted": adopted})
        counts = {"journals_posted": sum(len(v) for v in posted.values()), "settlements_posted": len(posted),
                  "adopted": len(adopted)}
        self.record(context, {"ref": ref, **counts})
        return {"ref": ref, "counts": counts}


# ================================================================================================
# 4. run summary
# ================================================================================================
class SettlementReportOperator(SettlementOperator):
    """One summary per run; flags the run when lines were quarantined or a settlement did not balance."""

    ui_color = "#fff3d6"

    def execute(self, context: Mapping[str, Any]) -> dict[str, Any]:
        batch = self.load(context, self.reconcile_task_id)
        post_ref = self.pull(context, self.post_task_id).get("ref")
        post = self.state.get_batch(post_ref) if post_ref else {"posted": {}, "adopted": []}
        wait = self.pull(context, self.wait_task_id)
        entries = [e for e in batch.get("settlements", []) if e.get("status") != "superseded"]
        handled = [e for e in entries if e.get("mode") in ("new", "reprocess") and "result" in e]
        rechecked = [e for e in entries if e.get("mode") == "recheck"]
        unreadable = [e for e in entries if e.get("status") == "unreadable"]
        buckets = ("matched", "unmatched", "unmapped", "quarantined")
        counts = {b: sum(int(e["result"]["buckets"].get(b, 0)) for e in handled) for b in buckets}
        amounts: dict[str, dict[str, str]] = {}
        for b in buckets:
            per: dict[str, Decimal] = {}
            for e in handled:
                value = e["result"]["amounts"].get(b)
                if value is not None:
                    per[e["result"]["currency"]] = per.get(e["result"]["currency"], Decimal(0)) + Decimal(value)
            amounts[b] = {cur: format_amount(v, cur) for cur, v in per.items()}
        unbalanced = [e["settlement_id"] for e in handled if not e["result"]["balanced"]]
        not_postable = [e["settlement_id"] for e in handled if e.get("status") == "not_postable"]
        posted: dict[str, dict[str, str]] = post.get("posted", {})
        reports = [p for e in handled + rechecked for p in e.get("reports", [])]
        unmatched_lines = [{"settlement_id": e["settlement_id"], **line} for e in handled + rechecked
                           for line in e["result"].get("unmatched_lines", [])]
        summary: dict[str, Any] = {
            "settlements": len(handled),
            "settlement_ids": [e["settlement_id"] for e in handled],
            "rows": sum(int(e["result"]["rows"]) for e in handled),
            **{b: counts[b] for b in ("matched", "unmatched", "unmapped")},
            "quarantined_lines": counts["quarantined"],
            "amounts": amounts,
            "balanced": not unbalanced,
            "unbalanced": unbalanced,
            "unreadable": [e["report_id"] for e in unreadable],
            "journals_posted": sum(len(v) for v in posted.values()),
            "journal_ids": posted,
            "adopted": post.get("adopted", []),
            "not_posted": {e["settlement_id"]: e.get("journal_problem") or e["result"].get("journal_problem")
                           for e in handled if e.get("status") not in ("postable", "adopted")},
            "rechecked": len(rechecked),
            "recheck_matched": sum(max(0, int(e["before"]) - int(e["after"])) for e in rechecked),
            "reports": reports,
            "unmatched_lines": unmatched_lines[:LISTED],
            "dry_run": self.dry_run(context),
        }
        if not handled and not unreadable:
            summary["message"] = wait.get("message") or NO_NEW
            self.log.info("%s: %s", self.marketplace, summary["message"])
        for path in reports:
            self.log.info("review report: %s", path)
        for line in unmatched_lines[:LISTED]:
            self.log.info("unmatched: settlement %s line %s: %s", line["settlement_id"], line["line"], line["reason"])
        if unbalanced:
            self.log.error("settlement(s) not balanced, not posted: %s", ", ".join(unbalanced))
        if not_postable:
            self.log.error("settlement(s) not posted: %s", summary["not_posted"])
        flagged = counts["quarantined"] + len(unbalanced) + len(unreadable) + len(not_postable)
        return self.finish(context, summary, quarantined=flagged)


__all__ = [
    "NO_NEW", "NetSuiteLookup", "SYNC", "SettlementPostOperator", "SettlementReconcileOperator",
    "SettlementReportOperator", "SettlementWaitSensor", "TASK_IDS", "created_since", "existing_journals",
    "journal_bodies", "netsuite_currency_ids", "netsuite_lookup", "post_journal_entry", "reports_dir",
    "settlement_cursor",
]
