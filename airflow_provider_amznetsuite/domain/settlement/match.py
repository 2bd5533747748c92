"""Matching settlement rows to NetSuite documents: the lookup plan and its verdicts.

Which rows are matched
    * ``transaction-type`` **Order**: the sales document written by the order sync. Key: the
      ``merchant-order-id`` (the NetSuite document number the order acknowledgement wrote back to
      Amazon), looked up by ``tranid``; without it, the ``order-id`` looked up by external id
      ``AMZ-<order-id>``. A merchant-order-id that is not a plain document number (quotes, control
      characters, over 64 characters) is not looked up; the order-id key is used instead.
    * ``transaction-type`` **Refund**: the credit memo / cash refund written for the refund, by external
      id ``AMZ-RFD-<order-id>-<adjustment-id>`` (characters other than letters, digits, ``_`` and ``-``
      in the adjustment id written as ``_``).
    * Every other row (fees without an order, storage, subscription, advertising, reimbursements,
      reserves, loans, A-to-z claims, chargebacks, transfers…) is *settlement-level*: it is matched to
      the settlement itself (its journal entry) and needs no lookup.

    All rows of one key (principal, tax, fees, promotions of the order) share the key's verdict.

Lookups
    :meth:`MatchPlan.resolve` calls the caller's ``lookup`` once per batch of at most 1,000 values
    (one SuiteQL ``IN (...)`` each; :meth:`MatchPlan.batches` lists them). ``lookup(field, values)`` returns
    ``{value: {"id", "type", "currency", "total"}}`` for the values it found (``field`` is
    ``"tranid"`` or ``"externalid"``). ``currency`` may be an ISO code or a NetSuite currency internal
    id (translated with the ``currency_ids`` mapping ISO -> id); ``total`` is compared when given.

Verdicts (reasons are one line)
    * not found: ``order AMZ-... not in NetSuite`` / ``refund AMZ-RFD-... not in NetSuite ...``;
    * wrong document type (e.g. the external id belongs to a journal);
    * currency: ``currency EUR ≠ NetSuite GBP``;
    * amount: the key's gross in this settlement (Σ ItemPrice + Promotion rows, i.e. what the buyer
      paid or got back, tax included) differs from the NetSuite document's total by more than
      ``amount_tolerance`` (``None`` switches the check off — e.g. for sellers whose orders settle
      across several settlements).
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, field_validator

from airflow_provider_amznetsuite.domain.money import format_amount
from airflow_provider_amznetsuite.domain.settlement.parse import SettlementRow

LookupField = Literal["tranid", "externalid"]
Lookup = Callable[[LookupField, list[str]], Mapping[str, Any]]
MAX_LOOKUP_BATCH = 1000

_EXTERNAL_ID_RE = re.compile(r"[A-Za-z0-9_-]+")
_TRANID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _./#:-]{0,63}")
ORDER_DOCUMENT_TYPES = frozenset({"salesord", "cashsale", "custinvc", "salesorder", "invoice"})
REFUND_DOCUMENT_TYPES = frozenset({"custcred", "cashrfnd", "custrfnd", "creditmemo", "cashrefund", "customerrefund"})
_GROSS_TYPES = frozenset({"itemprice", "promotion"})


def order_external_id(order_id: str) -> str:
    return f"AMZ-{order_id}"


_UNSAFE_RE = re.compile(r"[^A-Za-z0-9_-]")


def refund_external_id(order_id: str, adjustment_id: str) -> str:
    """``AMZ-RFD-<order-id>-<adjustment-id>``; characters of the adjustment id that a NetSuite external id
    cannot hold (``amzn1.adj.…`` has dots) become ``_``."""
    return f"AMZ-RFD-{order_id}-{_UNSAFE_RE.sub('_', adjustment_id)}"


class NetSuiteDocument(BaseModel):
    """One lookup answer (a SuiteQL row reduced to what matching needs)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str
    type: str | None = None
    currency: str | None = None
    total: Decimal | None = None

    @field_validator("id", "type", "currency", mode="before")
    @classmethod
    def _text(cls, v: Any) -> Any:
        return None if v is None else str(v)

    @field_validator("total", mode="before")
    @classmethod
    def _total(cls, v: Any) -> Any:
        if v is None or v == "":
            return None
        if isinstance(v, float):
            return Decimal(repr(v))  # JSON numbers: keep the shortest repr, never binary noise
        return v


class MatchKey(NamedTuple):
    """What a row is looked up by (a tuple, so hashing stays in C on the per-row path)."""

    kind: Literal["order", "refund"]
    field: LookupField
    value: str

    @property
    def label(self) -> str:
        return self.value if self.field == "externalid" else f"{self.value} (merchant-order-id)"


@dataclass(slots=True)
class KeyRows:
    """The rows of one key: counts and sums, plus (line, byte offset) pairs of each counted row."""

    key: MatchKey
    count: int = 0
    amount: Decimal = Decimal(0)
    gross: Decimal = Decimal(0)
    refs: array = field(default_factory=lambda: array("q"))  # line0, offset0, line1, offset1, ...

    def positions(self) -> Iterator[tuple[int, int]]:
        refs = self.refs
        for i in range(0, len(refs), 2):
            yield refs[i], refs[i + 1]


@dataclass(frozen=True, slots=True)
class Unkeyed:
    """An Order/Refund row that cannot be looked up at all."""

    line: int
    offset: int
    amount: Decimal
    reason: str


def match_key(row: SettlementRow) -> MatchKey | str | None:
    """The key of a row; a reason string when it should have one but cannot; None if settlement-level."""
    ttype = row.transaction_type
    if ttype != "Order" and ttype != "Refund":  # exact spellings first: this runs once per row
        ttype = {"order": "Order", "refund": "Refund"}.get(ttype.casefold(), "")
        if not ttype:
            return None
    order_id = row.order_id
    if ttype == "Order":
        moid = row.merchant_order_id
        if moid and _TRANID_RE.fullmatch(moid):
            return MatchKey("order", "tranid", moid)
        if not order_id:
            return "Order row has neither merchant-order-id nor order-id; cannot find its NetSuite order"
        if not _EXTERNAL_ID_RE.fullmatch(order_id):
            return f"order-id {order_id[:40]!r} cannot form a NetSuite external id (letters, digits, '_', '-')"
        return MatchKey("order", "externalid", order_external_id(order_id))
    adjustment_id = row.adjustment_id
    if not order_id or not adjustment_id:
        missing = "order-id" if not order_id else "adjustment-id"
        return f"Refund row has no {missing}; cannot find its NetSuite credit memo / cash refund"
    if not _EXTERNAL_ID_RE.fullmatch(order_id):
        return f"order-id {order_id[:40]!r} cannot form a NetSuite external id (letters, digits, '_', '-')"
    if len(adjustment_id) > 100:
        return "adjustment-id is longer than 100 characters; cannot form a NetSuite external id"
    return MatchKey("refund", "externalid", refund_external_id(order_id, adjustment_id))


class MatchPlan:
    """Collects order/refund rows while the settlement streams by; then batches lookups and judges."""

    def __init__(self) -> None:
        self.keys: dict[MatchKey, KeyRows] = {}
        self.unkeyed: list[Unkeyed] = []
        self.settlement_level_rows = 0
        self.settlement_level_amount = Decimal(0)
        self._last_sig: tuple[str, str, str, str] | None = None
        self._last_target: KeyRows | str | None = None

    def add(self, row: SettlementRow, *, counted: bool = True) -> None:
        """Record a row. ``counted=False`` (an unmapped row) only contributes to its key's gross."""
        # Rows of one order are usually adjacent: remember the previous row's key resolution.
        sig = (row.transaction_type, row.order_id, row.merchant_order_id, row.adjustment_id)
        if sig == self._last_sig:
            target = self._last_target
        else:
            key = match_key(row)
            if key is None or isinstance(key, str):
                target = key
            else:
                target = self.keys.get(key)
                if target is None:
                    target = self.keys[key] = KeyRows(key)
            self._last_sig, self._last_target = sig, target
        if target is None:
            if counted:
                self.settlement_level_rows += 1
                self.settlement_level_amount += row.amount
            return
        if isinstance(target, str):
            if counted:
                self.unkeyed.append(Unkeyed(row.line, row.offset, row.amount, target))
            return
        rows = target
        atype = row.amount_type
        if atype == "ItemPrice" or atype == "Promotion" or atype.casefold() in _GROSS_TYPES:
            rows.gross += row.amount
        if counted:
            rows.count += 1
            rows.amount += row.amount
            rows.refs.append(row.line)
            rows.refs.append(row.offset)

    def _key_batches(self, size: int) -> Iterator[tuple[LookupField, dict[str, list[KeyRows]]]]:
        if not 1 <= size <= MAX_LOOKUP_BATCH:
            raise ValueError(f"lookup batch size must be 1..{MAX_LOOKUP_BATCH} (got {size})")
        for fld in ("tranid", "externalid"):
            by_value: dict[str, list[KeyRows]] = {}
            for key, rows in self.keys.items():
                if key.field == fld and rows.count:
                    by_value.setdefault(key.value, []).append(rows)
            values = sorted(by_value)
            for i in range(0, len(values), size):
                yield fld, {v: by_value[v] for v in values[i:i + size]}  # type: ignore[misc]

    def batches(self, size: int = MAX_LOOKUP_BATCH) -> Iterator[tuple[LookupField, list[str]]]:
        """The lookups to make: ``(field, values)`` with at most ``size`` (≤ 1000) distinct values each."""
        for fld, chunk in self._key_batches(size):
            yield fld, list(chunk)

    def resolve(self, lookup: Lookup, *, currency: str, currency_ids: Mapping[str, str] | None = None,
                amount_tolerance: Decimal | None = Decimal(0), batch_size: int = MAX_LOOKUP_BATCH) -> MatchVerdicts:
        """Call ``lookup`` once per batch and judge that batch's keys straight away.

        Only verdicts are kept (never the NetSuite answers), so memory stays flat however many
        documents the settlement touches.
        """
        by_id = {str(v): k for k, v in (currency_ids or {}).items()}
        out = MatchVerdicts(0, Decimal(0), [], list(self.unkeyed), self.settlement_level_rows,
                            self.settlement_level_amount)
        for fld, chunk in self._key_batches(batch_size):
            values = list(chunk)
            out.lookup_calls += 1
            out.lookup_ids += len(values)
            answer = lookup(fld, values) or {}
            for value, key_rows in chunk.items():
                raw = answer.get(value)
                doc = None if raw is None else (raw if isinstance(raw, NetSuiteDocument) else NetSuiteDocument.model_validate(raw))
                for rows in key_rows:
                    reason = _verdict(rows.key, rows, doc, currency, by_id, amount_tolerance)
                    if reason is None:
                        out.matched_key_rows += rows.count
                        out.matched_key_amount += rows.amount
                    else:
                        out.unmatched.append((rows, reason))
        return out


def _verdict(key: MatchKey, rows: KeyRows, doc: NetSuiteDocument | None, currency: str,
             currency_by_id: Mapping[str, str], tolerance: Decimal | None) -> str | None:
    if doc is None:
        if key.kind == "order":
            return f"order {key.label} not in NetSuite (sync the order, then rerun)"
        return f"refund {key.value} not in NetSuite (no credit memo / cash refund with that external id)"
    allowed = ORDER_DOCUMENT_TYPES if key.kind == "order" else REFUND_DOCUMENT_TYPES
    if doc.type is not None and doc.type.replace(" ", "").casefold() not in allowed:
        what = "a sales order, cash sale or invoice" if key.kind == "order" else "a credit memo or cash refund"
        return f"{key.label} is a {doc.type} in NetSuite, expected {what}"
    if doc.currency is not None:
        ns_currency = currency_by_id.get(doc.currency, doc.currency.upper())
        if ns_currency != currency:
            shown = ns_currency if len(ns_currency) == 3 and ns_currency.isalpha() else f"currency id {doc.currency}"
            return f"currency {currency} ≠ NetSuite {shown} ({key.label})"
    if tolerance is not None and doc.total is not None:
        if abs(abs(rows.gross) - abs(doc.total)) > tolerance:
            return (f"amount {format_amount(abs(rows.gross), currency)} in the settlement ≠ NetSuite total "
                    f"{format_amount(abs(doc.total), currency)} ({key.label})")
    return None


@dataclass(slots=True)
class MatchVerdicts:
    """The outcome of :meth:`MatchPlan.resolve`: row counts and amounts per verdict."""

    matched_key_rows: int  # order/refund rows whose document was found and agrees
    matched_key_amount: Decimal
    unmatched: list[tuple[KeyRows, str]]
    unkeyed: list[Unkeyed]
    settlement_level_rows: int
    settlement_level_amount: Decimal
    lookup_calls: int = 0
    lookup_ids: int = 0

    @property
    def unmatched_rows(self) -> int:
        return sum(r.count for r, _ in self.unmatched) + len(self.unkeyed)

    @property
    def unmatched_amount(self) -> Decimal:
        return sum((r.amount for r, _ in self.unmatched), Decimal(0)) + sum((u.amount for u in self.unkeyed), Decimal(0))

    @property
    def matched_rows(self) -> int:
        return self.matched_key_rows + self.settlement_level_rows

    @property
    def matched_amount(self) -> Decimal:
        return self.matched_key_amount + self.settlement_level_amount


def plan_lookups(rows: Sequence[SettlementRow]) -> MatchPlan:
    """Convenience for in-memory rows: a plan with every row counted."""
    plan = MatchPlan()
    for row in rows:
        plan.add(row)
    return plan


__all__ = [
    "KeyRows", "Lookup", "LookupField", "MAX_LOOKUP_BATCH", "MatchKey", "MatchPlan", "MatchVerdicts",
    "NetSuiteDocument", "Unkeyed", "match_key", "order_external_id", "plan_lookups", "refund_external_id",
]
