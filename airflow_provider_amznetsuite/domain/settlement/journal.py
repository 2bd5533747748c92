"""One balanced NetSuite journal entry per settlement.

Sign convention
    Settlement amounts are from the seller's point of view: positive = Amazon owes the seller. A GL
    account whose rows net to a positive amount is **credited** (income: principal, shipping,
    reimbursements, a released reserve), a negative net is **debited** (fees, refunds, a reserve held,
    a loan repayment). The deposit line goes to the bank/clearing account for ``total-amount``:
    **debit** when positive, **credit** when negative (the seller was charged). With
    Σ row amounts = total-amount, Σ debits = Σ credits to the cent, and Σ over account lines of
    (credit − debit) = total-amount.

What is posted
    Every parsed row, matched or not: an unmatched order is still real money, so its rows post to
    their GL accounts and the unmatched list tells finance which orders to chase. Unmapped rows post
    to the suspense account. Quarantined rows make the settlement unbalanced, and an unbalanced
    settlement is never journalised (:class:`UnbalancedSettlementError`).

Periods
    With ``split_by_period`` and rows in more than one month (by ``posted-date-time``, UTC), lines are
    grouped per month: one line per GL account per month, and each month's group carries its own
    deposit/clearing line for that month's net, so each group balances on its own and the group
    deposit lines add up to total-amount. :meth:`JournalEntry.body` is the one entry
    (``AMZ-STL-<id>``) dated on the deposit date; :meth:`JournalEntry.period_bodies` gives one entry per
    month instead (``AMZ-STL-<id>-<YYYYMM>``, dated on the month's last day, the deposit date for the
    last month) for ledgers that must book each month in its own period.
"""

from __future__ import annotations

import calendar
import json
import re
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from airflow_provider_amznetsuite.domain.money import quantize

RECORD_TYPE = "journalEntry"
_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_DEC_MARK = re.compile(r'"__DEC__(-?[0-9]+(?:\.[0-9]+)?)__"')


class UnbalancedSettlementError(ValueError):
    """The rows do not add up to total-amount: nothing may be posted."""


def external_id(settlement_id: str) -> str:
    if not _ID_RE.fullmatch(settlement_id):
        raise ValueError(f"settlement id {settlement_id!r} cannot form a NetSuite external id")
    return f"AMZ-STL-{settlement_id}"


class JournalLine(BaseModel):
    model_config = ConfigDict(frozen=True)

    account: str
    debit: Decimal | None = None
    credit: Decimal | None = None
    memo: str
    period: str | None = None  # 'YYYY-MM' when the entry is split by period
    kind: Literal["account", "deposit"] = "account"

    @property
    def signed(self) -> Decimal:
        """credit − debit (the settlement's sign)."""
        return (self.credit or Decimal(0)) - (self.debit or Decimal(0))


class JournalEntry(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True)

    external_id: str
    settlement_id: str
    tran_date: date
    subsidiary: str
    currency: str  # ISO code
    currency_id: str  # NetSuite internal id
    memo: str
    department: str | None = None
    class_: str | None = Field(default=None, alias="class")
    lines: list[JournalLine]
    periods: list[str] = Field(default_factory=list)  # month groups ([] = not split)

    @property
    def total_debit(self) -> Decimal:
        return sum((ln.debit or Decimal(0) for ln in self.lines), Decimal(0))

    @property
    def total_credit(self) -> Decimal:
        return sum((ln.credit or Decimal(0) for ln in self.lines), Decimal(0))

    @property
    def balanced(self) -> bool:
        return self.total_debit == self.total_credit

    def _line_body(self, ln: JournalLine) -> dict[str, Any]:
        out: dict[str, Any] = {"account": {"id": ln.account}}
        if ln.debit is not None:
            out["debit"] = ln.debit
        if ln.credit is not None:
            out["credit"] = ln.credit
        out["memo"] = ln.memo
        if self.department:
            out["department"] = {"id": self.department}
        if self.class_:
            out["class"] = {"id": self.class_}
        return out

    def _body(self, ext_id: str, tran_date: date, memo: str, lines: list[JournalLine]) -> dict[str, Any]:
        body: dict[str, Any] = {
            "externalId": ext_id,
            "tranDate": tran_date.isoformat(),
            "subsidiary": {"id": self.subsidiary},
            "currency": {"id": self.currency_id},
            "memo": memo,
        }
        if self.department:
            body["department"] = {"id": self.department}
        if self.class_:
            body["class"] = {"id": self.class_}
        body["line"] = {"items": [self._line_body(ln) for ln in lines]}
        return body

    def body(self) -> dict[str, Any]:
        """The NetSuite REST ``journalEntry`` body (amounts as Decimal; see :meth:`body_json`)."""
        return self._body(self.external_id, self.tran_date, self.memo, self.lines)

    def period_bodies(self) -> list[dict[str, Any]]:
        """One body per month group (just :meth:`body` when the entry is not split)."""
        if not self.periods:
            return [self.body()]
        out = []
        last = self.periods[-1]
        for period in self.periods:
            year, month = int(period[:4]), int(period[5:7])
            month_end = date(year, month, calendar.monthrange(year, month)[1])
            tran = self.tran_date if period == last else min(self.tran_date, month_end)
            lines = [ln for ln in self.lines if ln.period == period]
            out.append(self._body(f"{self.external_id}-{year:04d}{month:02d}", tran, f"{self.memo} — {period}", lines))
        return out

    def body_json(self, body: dict[str, Any] | None = None) -> str:
        """JSON text of a body with amounts as exact JSON numbers (no float ever involved)."""

        def enc(o: Any) -> Any:
            if isinstance(o, Decimal):
                return f"__DEC__{o}__"
            raise TypeError(f"cannot encode {type(o).__name__}")

        text = json.dumps(self.body() if body is None else body, default=enc, ensure_ascii=False)
        return _DEC_MARK.sub(r"\1", text)


def build_journal(
    *,
    settlement_id: str,
    deposit_date: date,
    currency: str,
    currency_id: str,
    subsidiary: str,
    total_amount: Decimal,
    amounts: Mapping[tuple[str, str], Decimal],
    bank_account: str,
    split_by_period: bool = False,
    department: str | None = None,
    class_: str | None = None,
    labels: Mapping[str, str] | None = None,
    memo: str | None = None,
) -> JournalEntry:
    """Build the entry from net amounts per ``(account, period 'YYYY-MM')`` (settlement sign).

    Raises :class:`UnbalancedSettlementError` when the amounts do not add up to ``total_amount``.
    """
    for (account, period), value in amounts.items():
        if quantize(value, currency) != value:
            raise ValueError(f"amount {value} for account {account} ({period}) has more decimals than {currency} allows")
    lines_total = sum(amounts.values(), Decimal(0))
    if lines_total != total_amount:
        raise UnbalancedSettlementError(
            f"settlement {settlement_id}: rows add up to {lines_total} but total-amount is {total_amount} "
            f"(difference {lines_total - total_amount}); nothing is posted until it balances"
        )
    labels = labels or {}
    periods = sorted({p for _, p in amounts})
    split = split_by_period and len(periods) > 1
    groups: dict[str | None, dict[str, Decimal]] = {}
    for (account, period), value in amounts.items():
        group = groups.setdefault(period if split else None, {})
        group[account] = group.get(account, Decimal(0)) + value

    def acct_sort(a: str) -> tuple[int, str]:
        return (int(a), a) if a.isdigit() else (10**12, a)

    lines: list[JournalLine] = []
    for period in sorted(groups, key=lambda p: p or ""):
        group = groups[period]
        suffix = f" — {period}" if period else ""
        for account in sorted(group, key=acct_sort):
            net = quantize(group[account], currency)
            if net == 0:
                continue
            what = labels.get(account) or f"account {account}"
            memo_line = f"Amazon settlement {settlement_id}: {what}{suffix}"
            if net > 0:
                lines.append(JournalLine(account=account, credit=net, memo=memo_line, period=period))
            else:
                lines.append(JournalLine(account=account, debit=-net, memo=memo_line, period=period))
        deposit = quantize(sum(group.values(), Decimal(0)), currency)
        if deposit != 0:
            dmemo = (f"Amazon settlement {settlement_id}: net for {period}" if period
                     else f"Amazon settlement {settlement_id}: deposit")
            if deposit > 0:
                lines.append(JournalLine(account=bank_account, debit=deposit, memo=dmemo, period=period, kind="deposit"))
            else:
                lines.append(JournalLine(account=bank_account, credit=-deposit, memo=dmemo, period=period, kind="deposit"))
    entry = JournalEntry(
        external_id=external_id(settlement_id), settlement_id=settlement_id, tran_date=deposit_date,
        subsidiary=subsidiary, currency=currency, currency_id=currency_id,
        memo=memo or f"Amazon settlement {settlement_id}", department=department, class_=class_,
        lines=lines, periods=periods if split else [],
    )
    if not entry.balanced:  # cannot happen with exact amounts; kept as the last line of defence
        raise UnbalancedSettlementError(f"settlement {settlement_id}: journal debits ≠ credits")
    return entry


__all__ = ["JournalEntry", "JournalLine", "RECORD_TYPE", "UnbalancedSettlementError", "build_journal", "external_id"]
