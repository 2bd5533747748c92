"""Reconcile one V2 settlement file: parse -> balance -> classify -> (match) -> journal.

No HTTP here: matching calls an injected ``lookup(field, values)`` (see :mod:`.match`), which the
operator/CLI implements with one SuiteQL per batch of at most 1,000 ids.

Buckets (every data row lands in exactly one)
    ``quarantined`` > ``unmapped`` > ``unmatched`` > ``matched``: a row that cannot be read is
    quarantined; a readable row without a GL mapping is unmapped (posted to suspense) even if its order
    is also missing; a mapped order/refund row whose NetSuite document is missing or disagrees is
    unmatched; everything else is matched (order/refund rows to their document, all other rows to the
    settlement itself). Offline there is no NetSuite, so mapped rows are just ``mapped``.

Memory
    The file is streamed. What is kept: one small aggregate per (account, month), per order with tax
    rows (for the marketplace-facilitator rule), per NetSuite key (16 bytes per row for later
    re-reading), and the exception lines themselves.

Exit status
    ``exit_code`` is 0 only when the file balances and no row is quarantined (unmapped and unmatched
    rows are listed for review but do not fail the run; they still post, to suspense and to their
    accounts respectively).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, Inexact, localcontext
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from airflow_provider_amznetsuite.domain.money import format_amount
from airflow_provider_amznetsuite.domain.settlement.classify import UNSET_PREFIX, GlClassifier
from airflow_provider_amznetsuite.domain.settlement.default_gl_map import ROLE_BANK, ROLE_SUSPENSE, missing_role_reason
from airflow_provider_amznetsuite.domain.settlement.journal import JournalEntry, build_journal
from airflow_provider_amznetsuite.domain.settlement.match import MAX_LOOKUP_BATCH, Lookup, MatchPlan
from airflow_provider_amznetsuite.domain.settlement.parse import (
    DecimalSeparator,
    QuarantinedRow,
    RowError,
    SettlementFile,
    SettlementRow,
    Source,
    check_balance,
    parse_amount,
)
from airflow_provider_amznetsuite.domain.settlement.report import ExceptionLine, ReportPaths, write_report

# Marketplaces whose locale writes decimal commas (a hint only: the file's own amounts win).
COMMA_DECIMAL_COUNTRIES = frozenset({"DE", "FR", "IT", "ES", "NL", "BE", "SE", "PL", "TR", "BR"})


class ReconcileResult(BaseModel):
    """Everything the CLI, the operator and the review report need about one settlement."""

    model_config = ConfigDict(frozen=True)

    settlement_id: str
    currency: str
    start: datetime
    end: datetime
    deposit_date: datetime
    total_amount: Decimal
    lines_total: Decimal
    difference: Decimal  # lines_total - total_amount
    balanced: bool
    rows: int  # data rows (summary excluded), quarantined included
    buckets: dict[str, int]
    bucket_amounts: dict[str, Decimal]
    by_account: dict[str, Decimal]  # net per GL account, settlement sign (Σ = lines_total)
    by_account_period: dict[str, dict[str, Decimal]]  # 'YYYY-MM' -> account -> net
    account_in: dict[str, Decimal]  # Σ positive amounts per account
    account_out: dict[str, Decimal]  # Σ negative amounts per account
    bank_account: str | None  # None: settlement.accounts.bank is not configured (no journal)
    unmapped: list[ExceptionLine]
    quarantined: list[ExceptionLine]
    unmatched: list[ExceptionLine] = Field(default_factory=list)
    offline: bool
    journal: JournalEntry | None = None
    journal_problem: str | None = None
    encoding: str
    line_endings: str
    decimal_separator: str
    decimal_source: str
    account_labels: dict[str, str] = Field(default_factory=dict)  # what each account holds (memos, report)
    unknown_columns: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    lookup_calls: int = 0
    lookup_ids: int = 0
    marketplace_facilitator_orders: int = 0

    @property
    def postable(self) -> bool:
        return self.balanced and not self.quarantined

    @property
    def exit_code(self) -> int:
        return 0 if self.postable else 1

    @property
    def exceptions(self) -> list[ExceptionLine]:
        return sorted([*self.quarantined, *self.unmapped, *self.unmatched], key=lambda e: e.line)

    def to_dict(self) -> dict[str, Any]:
        """The CLI's ``--json`` object (decimal strings, 1-based line numbers)."""
        cur = self.currency
        out: dict[str, Any] = {
            "settlement_id": self.settlement_id,
            "currency": cur,
            "total_amount": format_amount(self.total_amount, cur),
            "lines_total": format_amount(self.lines_total, cur),
            "balanced": self.balanced,
            "rows": self.rows,
            "buckets": dict(self.buckets),
            "by_account": {a: format_amount(v, cur) for a, v in self.by_account.items()},
            "unmapped": [e.to_json() for e in self.unmapped],
            "quarantined": [e.to_json() for e in self.quarantined],
        }
        if not self.offline:
            out["unmatched"] = [e.to_json() for e in self.unmatched]
        return out

    def to_json(self, *, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    def write_report(self, directory: str | os.PathLike[str], *,
                     account_labels: Mapping[str, str] | None = None) -> ReportPaths:
        """Write ``settlement_<id>.html`` and ``settlement_<id>_exceptions.csv`` under ``directory``."""
        return write_report(self, directory, account_labels=self.account_labels if account_labels is None else account_labels)


def _decimal_hint(marketplace: Any, explicit: DecimalSeparator | None) -> DecimalSeparator | None:
    if explicit is not None:
        return explicit
    country = getattr(marketplace, "country", None)
    if not country:
        return None
    return "," if str(country).upper() in COMMA_DECIMAL_COUNTRIES else "."


def _row_exception(row: SettlementRow, bucket: str, reason: str, account: str | None, currency: str,
                   key: str | None = None) -> ExceptionLine:
    return ExceptionLine(
        line=row.line, bucket=bucket, reason=reason, transaction_type=row.transaction_type, order_id=row.order_id,  # type: ignore[arg-type]
        merchant_order_id=row.merchant_order_id, adjustment_id=row.adjustment_id, amount_type=row.amount_type,
        amount_description=row.amount_description, amount=format_amount(row.amount, currency), sku=row.sku,
        account=account, key=key,
    )


def _quarantine_exception(q: QuarantinedRow) -> ExceptionLine:
    return ExceptionLine(
        line=q.line, bucket="quarantined", reason=q.reason, transaction_type=q.transaction_type, order_id=q.order_id,
        amount_type=q.amount_type, amount_description=q.amount_description, amount=q.amount_text, sku=q.sku,
    )


def _add(totals: dict[Any, list[Decimal]], key: Any, amount: Decimal) -> None:
    slot = totals.get(key)
    if slot is None:
        slot = totals[key] = [Decimal(0), Decimal(0)]
    if amount >= 0:
        slot[0] += amount
    else:
        slot[1] += amount


def reconcile(
    source: Source,
    *,
    marketplace: Any,
    offline: bool,
    lookup: Lookup | None = None,
    currency_ids: Mapping[str, str] | None = None,
    subsidiary: str | None = None,
    decimal_separator: DecimalSeparator | None = None,
    amount_tolerance: Decimal | None = Decimal(0),
    lookup_batch_size: int = MAX_LOOKUP_BATCH,
    account_labels: Mapping[str, str] | None = None,
) -> ReconcileResult:
    """Reconcile one ``GET_V2_SETTLEMENT_REPORT_DATA_FLAT_FILE_V2`` file.

    ``marketplace``: a ``MarketplaceConfig`` (its ``settlement`` section, ``subsidiary``, ``currency``,
    ``country`` as decimal hint, ``channel.department/class`` as fallbacks) or any object with the
    ``SettlementConfig`` fields — ``accounts`` (GL role -> account id), ``gl_map``, ``split_by_period``,
    ``department``, ``class_`` — (then pass ``subsidiary`` for the journal).
    ``account_labels``: what each account holds, for memos and the report (default: the labels of the
    GL roles the accounts are configured for).
    ``offline=True``: parse, balance and classify only. ``offline=False``: also match through
    ``lookup(field, values) -> {value: {id, type, currency, total}}`` (required) and build the journal
    body when the settlement is postable; ``currency_ids`` maps ISO codes to NetSuite currency ids
    (needed for the journal and to read NetSuite currencies given as ids).
    Raises :class:`~.parse.SettlementFormatError` when the file is not a readable V2 settlement.
    """
    if not offline and lookup is None:
        raise ValueError("reconcile(offline=False) needs a lookup(field, values) callable to match NetSuite documents")
    settlement_cfg = getattr(marketplace, "settlement", marketplace)
    channel = getattr(marketplace, "channel", None)
    department = getattr(settlement_cfg, "department", None) or getattr(channel, "department", None)
    class_ = getattr(settlement_cfg, "class_", None) or getattr(channel, "class_", None)
    subsidiary = subsidiary or getattr(marketplace, "subsidiary", None)
    expected_currency = getattr(marketplace, "currency", None)
    classifier = GlClassifier(settlement_cfg)
    classify = classifier.classify

    with localcontext() as ctx:
        ctx.prec = 60
        ctx.traps[Inexact] = True  # money arithmetic must be exact; anything else is a bug, not a rounding
        with SettlementFile(source, decimal_separator=_decimal_hint(marketplace, decimal_separator)) as sf:
            summary = sf.summary
            cur = summary.currency
            plan = None if offline else MatchPlan()
            plan_add = None if plan is None else plan.add
            totals: dict[tuple[str, str], list[Decimal]] = {}
            # Buyer-tax rows of orders whose marketplace-facilitator status is not known yet (their
            # withheld-tax row may come later): order-id -> [(mapped account, period, amount)]. They move
            # to the clearing account as soon as the order shows a withheld line, else to their mapped
            # account at the end. Kept per row only while undecided.
            pending_tax: dict[str, list[tuple[str, str, Decimal]]] = {}
            mf_orders: set[str] = set()
            clearing = classifier.clearing_account
            unmapped: list[ExceptionLine] = []
            unmapped_amount = Decimal(0)
            lines_total = Decimal(0)
            nrows = 0
            suspense = classifier.suspense_account
            for row in sf.rows():
                nrows += 1
                amount = row.amount
                lines_total += amount
                order_id = row.order_id
                c = classify(row.transaction_type, row.amount_type, row.amount_description)
                if c.mf_withheld and order_id and order_id not in mf_orders:
                    mf_orders.add(order_id)
                    for _, period, value in pending_tax.pop(order_id, ()):
                        _add(totals, (clearing, period), value)
                mapped = c.source != "suspense"
                if not mapped:
                    unmapped_amount += amount
                    unmapped.append(_row_exception(
                        row, "unmapped",
                        classifier.unmapped_reason(c, row.transaction_type, row.amount_type, row.amount_description),
                        suspense, cur))
                if plan_add is not None:
                    plan_add(row, counted=mapped)
                account = c.account
                if c.seller_tax and order_id:
                    if order_id in mf_orders:
                        account = clearing
                    else:
                        waiting = pending_tax.get(order_id)
                        if waiting is None:
                            pending_tax[order_id] = [(account, row.period, amount)]
                        else:
                            waiting.append((account, row.period, amount))
                        continue
                key = (account, row.period)
                slot = totals.get(key)
                if slot is None:
                    slot = totals[key] = [Decimal(0), Decimal(0)]
                slot[amount < 0] += amount  # [Σ positive, Σ negative]
            for waiting in pending_tax.values():  # orders without a withheld line: seller-collected tax
                for account, period, value in waiting:
                    _add(totals, (account, period), value)
            del pending_tax

            quarantined = [_quarantine_exception(q) for q in sf.quarantined]
            q_amount = Decimal(0)
            for q in sf.quarantined:
                try:
                    q_amount += parse_amount(q.amount_text, sf.decimal_separator, 60)
                except RowError:
                    pass
            balance = check_balance(summary.total_amount, lines_total)
            warnings = list(sf.warnings)
            if expected_currency and expected_currency != cur:
                warnings.append(f"settlement currency {cur} differs from the marketplace currency {expected_currency}")

            buckets: dict[str, int] = {"mapped": nrows - len(unmapped), "unmapped": len(unmapped),
                                       "quarantined": len(quarantined)}
            bucket_amounts: dict[str, Decimal] = {"mapped": lines_total - unmapped_amount, "unmapped": unmapped_amount,
                                                  "quarantined": q_amount}
            unmatched: list[ExceptionLine] = []
            lookup_calls = lookup_ids = 0
            if plan is not None:
                assert lookup is not None
                verdicts = plan.resolve(lookup, currency=cur, currency_ids=currency_ids,
                                        amount_tolerance=amount_tolerance, batch_size=lookup_batch_size)
                lookup_calls, lookup_ids = verdicts.lookup_calls, verdicts.lookup_ids
                for rows, reason in verdicts.unmatched:
                    for line, offset in rows.positions():
                        unmatched.append(_reread_exception(sf, classifier, mf_orders, line, offset, reason,
                                                           rows.key.value, cur))
                for u in verdicts.unkeyed:
                    unmatched.append(_reread_exception(sf, classifier, mf_orders, u.line, u.offset, u.reason, None, cur))
                unmatched.sort(key=lambda e: e.line)
                buckets["matched"] = verdicts.matched_rows
                buckets["unmatched"] = verdicts.unmatched_rows
                bucket_amounts["matched"] = verdicts.matched_amount
                bucket_amounts["unmatched"] = verdicts.unmatched_amount
                if buckets["matched"] + buckets["unmatched"] != buckets["mapped"]:  # pragma: no cover - invariant
                    raise AssertionError("bucket invariant broken: matched + unmatched != mapped")

        by_account: dict[str, Decimal] = {}
        account_in: dict[str, Decimal] = {}
        account_out: dict[str, Decimal] = {}
        by_period: dict[str, dict[str, Decimal]] = {}
        net_amounts: dict[tuple[str, str], Decimal] = {}
        for (account, period), (pos, neg) in sorted(totals.items()):
            by_account[account] = by_account.get(account, Decimal(0)) + pos + neg
            account_in[account] = account_in.get(account, Decimal(0)) + pos
            account_out[account] = account_out.get(account, Decimal(0)) + neg
            by_period.setdefault(period, {})[account] = pos + neg
            net_amounts[(account, period)] = pos + neg
        by_account = dict(sorted(by_account.items(), key=lambda kv: (len(kv[0]), kv[0])))

        labels = dict(account_labels) if account_labels is not None else classifier.account_labels()
        journal: JournalEntry | None = None
        problem: str | None = None
        if not offline:
            currency_id = (currency_ids or {}).get(cur)
            if not balance.balanced:
                problem = (f"not posted: rows add up to {format_amount(lines_total, cur)} but total-amount is "
                           f"{format_amount(summary.total_amount, cur)}")
            elif quarantined:
                problem = f"not posted: {len(quarantined)} quarantined line(s) must be fixed first"
            elif currency_id is None:
                problem = f"no NetSuite currency id for {cur}: pass currency_ids={{'{cur}': '<internal id>'}}"
            elif not subsidiary:
                problem = "no subsidiary: configure the marketplace's subsidiary"
            elif classifier.bank_account is None:
                problem = f"not posted: {missing_role_reason(ROLE_BANK)} (the deposit line needs it)"
            elif any(a.startswith(UNSET_PREFIX) for a in by_account):
                problem = f"not posted: {missing_role_reason(ROLE_SUSPENSE)} (unmapped lines need it)"
            else:
                journal = build_journal(
                    settlement_id=summary.settlement_id, deposit_date=summary.deposit_date.date(), currency=cur,
                    currency_id=str(currency_id), subsidiary=str(subsidiary), total_amount=summary.total_amount,
                    amounts=net_amounts, bank_account=classifier.bank_account,
                    split_by_period=bool(getattr(settlement_cfg, "split_by_period", False)),
                    department=department, class_=class_, labels=labels,
                )
                if not journal.lines:
                    journal, problem = None, "nothing to post: every account nets to zero"

        return ReconcileResult(
            settlement_id=summary.settlement_id, currency=cur, start=summary.start, end=summary.end,
            deposit_date=summary.deposit_date, total_amount=summary.total_amount, lines_total=lines_total,
            difference=balance.difference, balanced=balance.balanced, rows=nrows + len(quarantined), buckets=buckets,
            bucket_amounts=bucket_amounts, by_account=by_account, by_account_period=by_period, account_in=account_in,
            account_out=account_out, bank_account=classifier.bank_account, unmapped=unmapped, quarantined=quarantined,
            unmatched=unmatched, offline=offline, journal=journal, journal_problem=problem, encoding=sf.encoding,
            line_endings=sf.line_endings, decimal_separator=sf.decimal_separator, decimal_source=sf.decimal_source,
            account_labels=labels, unknown_columns=list(sf.header.unknown_columns), warnings=warnings, lookup_calls=lookup_calls,
            lookup_ids=lookup_ids, marketplace_facilitator_orders=len(mf_orders),
        )


def _reread_exception(sf: SettlementFile, classifier: GlClassifier, mf_orders: set[str], line: int, offset: int,
                      reason: str, key: str | None, currency: str) -> ExceptionLine:
    row = sf.row_at(offset, line)
    if isinstance(row, QuarantinedRow):  # pragma: no cover - the line parsed once already
        return ExceptionLine(line=line, bucket="unmatched", reason=reason, key=key)
    c = classifier.classify(row.transaction_type, row.amount_type, row.amount_description)
    account = classifier.tax_account(c, row.order_id in mf_orders) if c.seller_tax and row.order_id else c.account
    return _row_exception(row, "unmatched", reason, account, currency, key)


__all__ = ["COMMA_DECIMAL_COUNTRIES", "ReconcileResult", "reconcile"]
