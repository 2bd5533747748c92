"""Order ingest: Amazon orders (Orders API v2026-01-01) → NetSuite sales orders / cash sales → writebacks.

One operator per visible task of the ``amazon_<code>_orders`` DAG (``dag_factory/orders.py``)::

    extract_orders → decide_tax_and_lifecycle → branch_fulfilment ─┬─ map_fba → write_fba ─┐
                                                                   ├─ map_mfn → write_mfn ─┼─ join ─┬─ acknowledge_orders ─┐
                                                                   └─ no_orders ───────────┘        └─ confirm_shipments ──┴─ orders_report

The operators are thin: the lifecycle, tax, mapping and writeback rules are the pure functions of
``domain/orders.py``, ``domain/tax.py`` and ``domain/writeback.py``. Payloads travel between tasks in
the sync-state database (``put_batch``); XCom carries ``{"ref": ..., "counts": {...}}`` only. Buyer PII
(only requested when ``orders.pii`` is on) is never logged, never put in XCom, never in a quarantine
reason.

State kept across runs (``SyncStateStore``, marketplace = the config code):

* quarantine ``orders`` (key = Amazon order id), ``orders_ack`` (order id), ``orders_shipment``
  (NetSuite item fulfilment id) — re-tried by later runs, resolved when they go through;
* accepted ``orders_doc`` — per order the fingerprint, internal id, tranId and record type of the
  document last written, so an unchanged re-run costs no NetSuite write;
* accepted ``orders_ack_queue`` — MFN orders written but not yet acknowledged to Amazon;
* accepted ``orders_open_mfn`` — open MFN orders (minimal, PII-free order JSON) for ship-by alerts;
* processed ``orders_ack`` (order id) and ``shipment`` (fulfilment id) — writebacks done exactly once;
* in-flight ``orders_ack`` — acknowledgement feeds submitted and not yet read.

Idempotency: documents are upserted by external id ``AMZ-<orderId>``. A new document is created with
``PUT …/eid:`` and ``replace=item`` (a PUT the hook re-sends after a lost answer replaces the lines
instead of doubling them). A document that already exists is never PUT again — replacing the lines
of a sales order that NetSuite has started to fulfil or bill would fail — it is read back and PATCHed
line by line (:func:`match_lines`), which is safe to repeat after a lost response, a task retry or an
overlapping backfill.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from airflow.providers.standard.operators.branch import BaseBranchOperator

from airflow_provider_amznetsuite.domain.order_storage import stored_order
from airflow_provider_amznetsuite.domain.orders import (
    CUSTOM_FIELDS,
    ORDER_ITEM_ID_FIELD,
    AmazonOrder,
    DocumentLine,
    FulfillmentStatus,
    MappingError,
    NetSuiteOrderDocument,
    OrderAction,
    close_document_patch,
    customer_for_order,
    decide_action,
    external_id_for,
    map_order,
    parse_order,
)
from airflow_provider_amznetsuite.domain.tax import decide_line_tax
from airflow_provider_amznetsuite.domain.writeback import (
    ACK_FEED_CONTENT_TYPE,
    ACK_FEED_TYPE,
    Acknowledgement,
    AcknowledgementItem,
    acknowledgement_feed,
    ship_by_alerts,
    shipment_package_detail,
)
from airflow_provider_amznetsuite.hooks.netsuite import NetSuiteHook
from airflow_provider_amznetsuite.hooks.netsuite_errors import (
    NetSuiteConcurrencyError,
    NetSuiteError,
    NetSuiteJobError,
    NetSuiteRecordNotFound,
    NetSuiteServerError,
    NetSuiteTransportError,
    NetSuiteValidationError,
)
from airflow_provider_amznetsuite.hooks.spapi import SpApiHook
from airflow_provider_amznetsuite.hooks.spapi_errors import SpApiBadRequest, SpApiNotFound
from airflow_provider_amznetsuite.operators.base import MarketplaceOperator, resolve_window

__all__ = [
    "ACK_SYNC",
    "INCLUDED_DATA",
    "ORDER_ID_PATTERN",
    "SHIPMENT_SYNC",
    "SYNC",
    "TASK_IDS",
    "AcknowledgeOrdersOperator",
    "BranchFulfilmentOperator",
    "ConfirmShipmentsOperator",
    "DecideOrdersOperator",
    "ExtractOrdersOperator",
    "MapOrdersOperator",
    "OrdersReportOperator",
    "WriteOrdersOperator",
    "dedupe_orders",
    "match_lines",
    "parse_ack_processing_report",
    "skip_reason_key",
    "update_body",
]

SYNC = "orders"
ACK_SYNC = "orders_ack"
SHIPMENT_SYNC = "orders_shipment"
DOC_STATE = "orders_doc"
ACK_QUEUE = "orders_ack_queue"
OPEN_MFN = "orders_open_mfn"
SHIPMENT_DONE = "shipment"

#: Amazon order ids (3-7-7 digits); also the pattern of the ``order_ids`` Param.
ORDER_ID_PATTERN = r"^[0-9]{3}-[0-9]{7}-[0-9]{7}$"  # for the Param's JSON schema (ECMA regex, shown in the UI)
_ORDER_ID_RE = re.compile(r"^[0-9]{3}-[0-9]{7}-[0-9]{7}\Z")  # ASCII digits  # Python's '$' would accept a trailing newline
#: ``includedData`` of every order request; BUYER / RECIPIENT are added only when ``orders.pii`` is on.
INCLUDED_DATA = ("PROCEEDS", "TAX", "PROMOTION", "FULFILLMENT", "CANCELLATION")
PII_INCLUDED_DATA = ("BUYER", "RECIPIENT")
#: SuiteQL ``transaction.type`` of the documents this sync writes.
TRANSACTION_TYPE = {"salesOrder": "SalesOrd", "cashSale": "CashSale"}
ACK_INTENT_SYNC = "orders_ack_intent"  # acknowledgement feeds about to be created (crash safety)
ACK_INTENT_PREFIX = "intent:"
ACK_FEEDS = "orders_ack_feed"  # acknowledgement feeds already read (processed-once keys)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # control characters (NUL, newline, ...)
SUITEQL_IN_MAX = 1000
ACK_FEED_MAX_MESSAGES = 10_000
FEED_TERMINAL = ("DONE", "FATAL", "CANCELLED")
SHIPMENT_LOOKBACK = timedelta(days=30)
WRITE_ATTEMPTS = 3
MAX_PAGINATION_RESTARTS = 10

TASK_IDS = {
    "extract": "extract_orders",
    "decide": "decide_tax_and_lifecycle",
    "branch": "branch_fulfilment",
    "map_fba": "map_fba",
    "map_mfn": "map_mfn",
    "write_fba": "write_fba",
    "write_mfn": "write_mfn",
    "no_orders": "no_orders",
    "join": "join",
    "ack": "acknowledge_orders",
    "ship": "confirm_shipments",
    "report": "orders_report",
}
CHANNELS = ("FBA", "MFN")


# ================================================================================================
# Pure helpers (no I/O) — unit tested directly
# ================================================================================================
def _parse_time(value: Any) -> datetime:
    try:
        dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def dedupe_orders(orders: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One entry per ``orderId``, keeping the one with the latest ``lastUpdatedTime`` (later wins ties).

    Buyer address data (``recipient``) is dropped: the mapping never uses it, so it is not stored.
    Entries without an ``orderId`` are kept once each (they are quarantined by the next step).
    """
    best: dict[str, dict[str, Any]] = {}
    anonymous: list[dict[str, Any]] = []
    for raw in orders:
        entry = {k: v for k, v in raw.items() if k != "recipient"}
        oid = entry.get("orderId")
        if not isinstance(oid, str) or not oid:
            anonymous.append(entry)
            continue
        current = best.get(oid)
        if current is None or _parse_time(entry.get("lastUpdatedTime")) >= _parse_time(current.get("lastUpdatedTime")):
            best[oid] = entry
    return [*best.values(), *anonymous]


def skip_reason_key(order: AmazonOrder, reason: str) -> str:
    """A short, stable counter key for a SKIP decision (``pending``, ``fba_not_shipped``, …)."""
    if reason.startswith("belongs to marketplace"):
        return "other_marketplace"
    if reason.startswith("multi-channel"):
        return "non_amazon_channel"
    status = order.fulfillment_status
    if status == FulfillmentStatus.PENDING:
        return "pending"
    if status == FulfillmentStatus.PENDING_AVAILABILITY:
        return "preorder_pending_availability"
    if status == FulfillmentStatus.UNFULFILLABLE:
        return "unfulfillable"
    if status == FulfillmentStatus.CANCELLED:
        return "cancelled_not_written" if "before it was written" in reason else "cancelled_fba_cash_sale"
    if order.fulfilled_by == "AMAZON":
        return "fba_not_shipped"
    return "other"


_DIGITS = re.compile(r"\d+")


def _ref_id(value: Any) -> str:
    if isinstance(value, Mapping):
        value = value.get("id")
    return "" if value is None else str(value)


def _signature(order_item_id: Any, item: Any, description: Any) -> tuple[str, str, str]:
    text = " ".join(str(description or "").split())
    return str(order_item_id or ""), _ref_id(item), _DIGITS.sub("#", text)


def _record_lines(record: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    sub = record.get("item")
    items = sub.get("items") if isinstance(sub, Mapping) else sub
    lines = [ln for ln in items or [] if isinstance(ln, Mapping) and ln.get("line") is not None]
    return sorted(lines, key=lambda ln: int(str(ln["line"])))


def match_lines(doc: NetSuiteOrderDocument, record: Mapping[str, Any]) -> tuple[dict[str, int], list[Mapping[str, Any]]]:
    """Map the document's line keys to the ``line`` numbers of the existing NetSuite record.

    Returns ``(line_numbers, unmatched_existing_lines)``. A NetSuite line matches a document line when
    it carries the same Amazon order item id (``custcol_amz_order_item_id``) and item, and — first
    pass — the same description up to digits (so "Cancelled by Amazon (1)" matches "(2)"); a second
    pass matches the remaining lines on order item id + item alone (NetSuite fills in a product
    line's description from the item). Lines are consumed in NetSuite line order.
    """
    existing = _record_lines(record)
    free = list(existing)
    numbers: dict[str, int] = {}
    for exact in (True, False):
        for line in doc.lines:
            if line.key in numbers:
                continue
            want = _signature(line.order_item_id, line.item_id, line.description)
            for ns in free:
                got = _signature(ns.get(ORDER_ITEM_ID_FIELD), ns.get("item"), ns.get("description"))
                if (got == want) if exact else (got[:2] == want[:2]):
                    numbers[line.key] = int(str(ns["line"]))
                    free.remove(ns)
                    break
    return numbers, free


def _keyed_line(line: DocumentLine, field: str, numbers: Mapping[str, int]) -> dict[str, Any] | None:
    body = line.body(field)
    if line.key in numbers:
        body = {"line": numbers[line.key], **body}
        if line.quantity == 0:  # Amazon no longer says how many were ordered: keep NetSuite's quantity
            body.pop("quantity", None)
    elif line.quantity == 0 and body.get("isClosed"):
        return None  # a zero line that never reached NetSuite: nothing to close
    return body


def _neutralise(line: Mapping[str, Any], record_type: str, withheld_field: str, *, close: bool) -> dict[str, Any]:
    """PATCH entry that takes a line this provider wrote, and no longer books, out of the total."""
    out: dict[str, Any] = {"line": int(str(line["line"]))}
    if not close:
        out |= {"rate": 0, "amount": 0}
        if line.get("tax1Amt") is not None and not _is_zero(line.get("tax1Amt")):
            out["tax1Amt"] = 0
        if line.get(withheld_field) is not None and not _is_zero(line.get(withheld_field)):
            out[withheld_field] = 0
    if record_type == "salesOrder":
        out["isClosed"] = True
    return out


def _is_zero(value: Any) -> bool:
    try:
        return Decimal(str(value if value is not None else 0)) == 0
    except (ArithmeticError, InvalidOperation, ValueError):
        return False


def _ours(line: Mapping[str, Any], managed_items: set[str]) -> bool:
    return bool(line.get(ORDER_ITEM_ID_FIELD)) or _ref_id(line.get("item")) in managed_items


def update_body(doc: NetSuiteOrderDocument, record: Mapping[str, Any], managed_items: Iterable[str] = ()) -> dict[str, Any]:
    """PATCH body that brings an existing NetSuite document to ``doc`` in place.

    Header fields are re-sent (except ``orderStatus``: NetSuite owns the status once the order
    exists); lines are updated by ``line`` number, new lines appended, and lines this provider wrote
    earlier that the order no longer has (a removed charge or promotion) are set to zero (and closed
    on sales orders). Lines someone added by hand in NetSuite are left alone.
    """
    numbers, unmatched = match_lines(doc, record)
    header = {k: v for k, v in doc.header.items() if k != "orderStatus"}
    items = [b for b in (_keyed_line(line, doc.withheld_tax_field, numbers) for line in doc.lines) if b is not None]
    managed = set(managed_items)
    for line in unmatched:
        if not _ours(line, managed):
            continue
        if line.get("isClosed") is True and _is_zero(line.get("amount")):
            continue
        items.append(_neutralise(line, doc.record_type, doc.withheld_tax_field, close=False))
    return {**header, "item": {"items": items}}


def cancel_body(doc: NetSuiteOrderDocument, order: AmazonOrder, record: Mapping[str, Any],
                managed_items: Iterable[str] = ()) -> tuple[dict[str, Any], tuple[str, ...]]:
    """``close_document_patch`` with the existing line numbers, plus closing stray lines we wrote."""
    numbers, unmatched = match_lines(doc, record)
    patch = close_document_patch(doc, order, line_numbers=numbers)
    body = {k: v for k, v in patch.body.items()}
    items = list(body.get("item", {}).get("items", []))
    managed = set(managed_items)
    for line in unmatched:
        if _ours(line, managed) and line.get("isClosed") is not True:
            items.append(_neutralise(line, doc.record_type, doc.withheld_tax_field, close=True))
    body["item"] = {"items": items}
    return body, patch.replace


def fingerprint(doc: NetSuiteOrderDocument, action: str) -> str:
    """Stable hash of what would be written (record type, action and the exact JSON body)."""
    blob = f"{doc.record_type}|{action}|{doc.body_json()}".encode()
    return hashlib.sha256(blob).hexdigest()


def parse_ack_processing_report(report: bytes | str | Mapping[str, Any] | None) -> tuple[bool, dict[int, str]]:
    """Read Amazon's XML ``ProcessingReport`` of an order-acknowledgement feed.

    Returns ``(complete, errors)``: ``complete`` when the report's ``StatusCode`` is ``Complete``;
    ``errors`` maps ``MessageID`` → "ResultMessageCode: ResultDescription" for ``Error`` results
    (warnings are not rejections). MessageID 0 (a document-level error) is kept under key 0.
    """
    if report is None or isinstance(report, Mapping):
        return False, {}
    raw = report.encode("utf-8") if isinstance(report, str) else bytes(report)
    try:
        root = ET.fromstring(raw.lstrip())
    except ET.ParseError:
        return False, {}
    rep = root.find("./Message/ProcessingReport")
    if rep is None:
        rep = root.find(".//ProcessingReport")
    if rep is None:
        return False, {}
    complete = (rep.findtext("StatusCode") or "").strip() == "Complete"
    errors: dict[int, str] = {}
    for res in rep.findall("Result"):
        if (res.findtext("ResultCode") or "").strip() != "Error":
            continue
        mid_text = (res.findtext("MessageID") or "0").strip()
        mid = int(mid_text) if mid_text.isdigit() else 0
        code = (res.findtext("ResultMessageCode") or "").strip()
        text = " ".join((res.findtext("ResultDescription") or "").split())
        errors[mid] = f"{code}: {text}"[:500] if code else text[:500]
    return complete, errors


def minimal_order_json(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The PII-free subset of an order that the writebacks need (parseable by ``parse_order``)."""
    ful = raw.get("fulfillment") or {}
    out: dict[str, Any] = {
        "orderId": raw.get("orderId"),
        "createdTime": raw.get("createdTime"),
        "lastUpdatedTime": raw.get("lastUpdatedTime"),
        "orderItems": [{"orderItemId": i.get("orderItemId"), "quantityOrdered": i.get("quantityOrdered", 0)}
                       for i in raw.get("orderItems") or [] if isinstance(i, Mapping)],
    }
    if ful:
        out["fulfillment"] = {k: ful[k] for k in ("fulfillmentStatus", "fulfilledBy", "shipByWindow") if k in ful}
    return out


def _chunks(values: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(values), size):
        yield values[i:i + size]


def _netsuite_reason(exc: NetSuiteError, scrub: Iterable[str] = ()) -> str:
    """One-line quarantine reason from a NetSuite error: code, path and detail, buyer data removed."""
    detail = exc.detail or str(exc)
    for value in scrub:
        if value and len(value) >= 3:
            detail = detail.replace(value, "[redacted]")
    where = f" at {exc.path}" if exc.path else ""
    return (f"NetSuite rejected the document: {exc.code or exc.status}{where}: {detail}"[:900]
            + " — fix the data or configuration in NetSuite; retried next run")


def _pii_values(order: AmazonOrder) -> list[str]:
    b = order.buyer
    if b is None:
        return []
    return [v for v in (b.buyer_name, b.buyer_email, b.buyer_company_name, b.buyer_purchase_order_number) if v]


# ================================================================================================
# Shared base
# ================================================================================================
class _Transient(Exception):
    """A NetSuite failure that a later attempt (or task retry) may get past."""


class OrdersOperator(MarketplaceOperator):
    """Base of the order-sync operators: hooks, batch refs, XCom helpers, quarantine bookkeeping."""

    sync = SYNC
    template_fields = ("marketplace",)
    # class-level (not per instance): operators must stay copyable/serialisable; contention is negligible
    _q_lock = threading.Lock()

    def __init__(self, *, extract_task_id: str = TASK_IDS["extract"], decide_task_id: str = TASK_IDS["decide"],
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.extract_task_id = extract_task_id
        self.decide_task_id = decide_task_id
        self._quarantined: dict[str, dict[str, str]] = {}

    def ref(self, context: Mapping[str, Any], name: str) -> str:
        return f"{self.run_key(context)}/orders/{name}"

    # -- quarantine -------------------------------------------------------------------------------
    def quarantine(self, context: Mapping[str, Any], key: str, reason: str, *, sync: str = SYNC,
                   detail: str | None = None) -> None:
        with self._q_lock:
            self._quarantined.setdefault(sync, {})[key] = reason
        if not self.dry_run(context):
            self.state.quarantine(sync, self.marketplace, key, reason, detail=detail)
        self.log.warning("%s %s quarantined %s: %s", self.marketplace, sync, key, reason)

    def quarantined(self, sync: str = SYNC) -> dict[str, str]:
        return dict(self._quarantined.get(sync, {}))

    def existing_documents(self, hook: NetSuiteHook, external_ids: Iterable[str]) -> dict[str, dict[str, str]]:
        """``{externalId: {"id", "type", "tranid"}}`` of transactions that exist (≤ 1000 ids per query)."""
        ids = sorted(set(external_ids))
        found: dict[str, dict[str, str]] = {}
        for chunk in _chunks(ids, SUITEQL_IN_MAX):
            rows = hook.suiteql("SELECT t.id, t.externalid, t.type, t.tranid FROM transaction t "
                                "WHERE t.externalid IN (:ids) ORDER BY t.id", params={"ids": list(chunk)})
            for row in rows:
                eid = row.get("externalid")
                if eid is None or str(eid) in found:
                    continue
                found[str(eid)] = {"id": str(row.get("id")), "type": str(row.get("type") or ""),
                                   "tranid": str(row.get("tranid") or "")}
        return found

    def managed_items(self) -> set[str]:
        o, t = self.mp.orders, self.mp.tax
        return {i for i in (o.shipping_item, o.gift_wrap_item, o.discount_item, o.delivery_tip_item, o.cod_fee_item,
                            o.other_charge_item, t.clearing_item) if i}

    def charge_items(self) -> dict[str, str]:
        o = self.mp.orders
        return {k: v for k, v in (("DELIVERY_TIP", o.delivery_tip_item), ("COD_FEE", o.cod_fee_item),
                                  ("OTHER", o.other_charge_item)) if v}


# ================================================================================================
# 1. extract
# ================================================================================================
class ExtractOrdersOperator(OrdersOperator):
    """``searchOrders`` over the run's window (widened by ``orders.overlap_minutes``), or ``getOrder`` for the
    Param ``order_ids``; plus every order open in this marketplace's quarantine. De-duplicated, stored."""

    ui_color = "#ffd8a8"

    def __init__(self, *, page_size: int = 100, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not 1 <= int(page_size) <= 100:
            raise ValueError(f"page_size must be 1..100 (searchOrders maxResultsPerPage), got {page_size}")
        self.page_size = int(page_size)

    def included_data(self) -> list[str]:
        return [*INCLUDED_DATA, *(PII_INCLUDED_DATA if self.mp.orders.pii else ())]

    def execute(self, context: Mapping[str, Any]) -> dict[str, Any]:
        self._quarantined = {}
        params = self.params_of(context)
        hook = self.spapi()
        included = self.included_data()
        requested = [str(o).strip() for o in (params.get("order_ids") or []) if str(o).strip()]
        bad = [o for o in requested if not _ORDER_ID_RE.match(o)]
        if bad:
            raise ValueError(f"Param order_ids: {len(bad)} value(s) are not Amazon order ids (expected 123-1234567-1234567)")
        orders: list[dict[str, Any]] = []
        counts: dict[str, Any] = {"searched": 0, "requested": len(requested), "refetched": 0, "not_found": 0,
                                  "pagination_restarts": 0}
        window: dict[str, str] = {}
        if requested:
            for oid in dict.fromkeys(requested):
                try:
                    orders.append(hook.get_order(oid, included))
                except SpApiNotFound:
                    counts["not_found"] += 1
                    self.log.warning("order %s was not found on Amazon (marketplace %s)", oid, self.marketplace)
        else:
            start, end, source = resolve_window(context, params)
            start = start - timedelta(minutes=self.mp.orders.overlap_minutes)
            window = {"start": start.isoformat(), "end": end.isoformat(), "source": source}
            found, restarts = self._search(hook, start, end, included)
            counts["searched"] = len({o.get("orderId") for o in found})
            counts["pagination_restarts"] = restarts
            orders.extend(found)
            seen = {o.get("orderId") for o in found}
            for q in self.state.open_quarantine(SYNC, self.marketplace):
                if not _ORDER_ID_RE.match(q.key) or q.key in seen:
                    continue
                try:
                    orders.append(hook.get_order(q.key, included))
                    counts["refetched"] += 1
                except SpApiNotFound:
                    counts["not_found"] += 1
        # only what the later tasks read is stored (no gift messages, legal names, tax ids; buyer only with pii)
        unique = [stored_order(o, pii=self.mp.orders.pii) for o in dedupe_orders(orders)]
        counts["orders"] = len(unique)
        ref = self.state.put_batch(self.ref(context, "extract"), {"window": window, "orders": unique})
        self.record(context, {**counts, **{f"window_{k}": v for k, v in window.items()}})
        return {"ref": ref, "counts": counts, "window": window}

    def _search(self, hook: SpApiHook, start: datetime, end: datetime, included: list[str]) -> tuple[list[dict[str, Any]], int]:
        """All orders of the window. When a pagination token expires mid-listing, the orders read so far are
        kept and the window is searched again in two halves (smaller listings finish sooner); results are
        de-duplicated afterwards, so overlaps never double-count. No assumption about Amazon's sort order."""
        restarts = 0
        found: list[dict[str, Any]] = []
        pending = [(start, end)]
        while pending:
            a, b = pending.pop()
            got: list[dict[str, Any]] = []
            try:
                for order in hook.search_orders([self.mp.marketplace_id], last_updated_after=a,
                                                last_updated_before=b, included_data=included,
                                                max_results_per_page=self.page_size):
                    got.append(order)
            except SpApiBadRequest as exc:
                token_problem = any("token" in f"{e.get('message', '')} {e.get('details', '')}".lower()
                                    for e in exc.errors)
                if not got or not token_problem or restarts >= MAX_PAGINATION_RESTARTS:
                    raise
                restarts += 1
                found.extend(got)
                if b - a > timedelta(minutes=2):
                    mid = a + (b - a) / 2
                    pending += [(mid, b), (a, mid)]
                else:
                    pending.append((a, b))
                self.log.warning("searchOrders pagination token expired after %d orders; searching %s..%s again in "
                                 "%s (%d/%d)", len(got), a.isoformat(), b.isoformat(),
                                 "two halves" if b - a > timedelta(minutes=2) else "one piece", restarts,
                                 MAX_PAGINATION_RESTARTS)
                continue
            found.extend(got)
        return found, restarts


# ================================================================================================
# 2. lifecycle + tax decisions
# ================================================================================================
class DecideOrdersOperator(OrdersOperator):
    """Lifecycle (``decide_action``) and marketplace-of-record tax (``decide_line_tax``) for every order."""

    ui_color = "#ffe3e3"

    def execute(self, context: Mapping[str, Any]) -> dict[str, Any]:
        self._quarantined = {}
        extract_ref = self.pull(context, self.extract_task_id).get("ref")
        if not extract_ref:
            raise RuntimeError(f"task {self.extract_task_id} left no batch reference in XCom")
        raw_orders = self.state.get_batch(extract_ref)["orders"]
        parsed: list[AmazonOrder] = []
        for n, raw in enumerate(raw_orders):
            try:
                parsed.append(parse_order(raw))
            except MappingError as exc:
                key = exc.order_id or f"unparsed-{n}"
                self.quarantine(context, key, str(exc))
        hook = self.netsuite()
        existing = self.existing_documents(hook, [external_id_for(o.order_id) for o in parsed]) if parsed else {}
        entries: dict[str, dict[str, Any]] = {}
        skipped: Counter[str] = Counter()
        tax_lines: Counter[str] = Counter()
        skipped_ids: list[str] = []
        for order in parsed:
            oid = order.order_id
            eid = external_id_for(oid)
            try:
                decision = decide_action(order, self.mp, already_written=eid in existing)
                if decision.action is OrderAction.SKIP:
                    skipped[skip_reason_key(order, decision.reason)] += 1
                    skipped_ids.append(oid)
                    continue
                decisions = [decide_line_tax(item, order, self.mp) for item in order.order_items]
            except MappingError as exc:
                self.quarantine(context, oid, str(exc))
                continue
            collectors = Counter(d.collector.value for d in decisions)
            tax_lines.update(collectors)
            entries[oid] = {
                "action": decision.action.value,
                "reason": decision.reason,
                "record_type": decision.record_type,
                "channel": "FBA" if order.fulfilled_by == "AMAZON" else "MFN",
                "partially_cancelled": decision.partially_cancelled,
                "existing": existing.get(eid),
                "tax": dict(collectors),
            }
        if skipped_ids and not self.dry_run(context):
            self.state.resolve(SYNC, self.marketplace, skipped_ids)  # nothing to do any more
        by_channel = Counter(e["channel"] for e in entries.values())
        actions = Counter(e["action"] for e in entries.values())
        counts = {"orders": len(raw_orders), "fba": by_channel["FBA"], "mfn": by_channel["MFN"],
                  "upsert": actions["UPSERT"], "cancel": actions["CANCEL"], "skipped": dict(skipped),
                  "tax_lines": dict(tax_lines), "quarantined": len(self.quarantined())}
        ref = self.state.put_batch(self.ref(context, "decide"), {
            "extract_ref": extract_ref, "orders": entries, "skipped": dict(skipped), "quarantined": self.quarantined()})
        self.record(context, counts)
        return {"ref": ref, "counts": counts}


# ================================================================================================
# 3. branch
# ================================================================================================
class BranchFulfilmentOperator(BaseBranchOperator):
    """Run ``map_fba`` and/or ``map_mfn`` depending on what the batch holds, else ``no_orders``."""

    ui_color = "#e5dbff"

    def __init__(self, *, decide_task_id: str = TASK_IDS["decide"], fba_task_id: str = TASK_IDS["map_fba"],
                 mfn_task_id: str = TASK_IDS["map_mfn"], empty_task_id: str = TASK_IDS["no_orders"], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.decide_task_id = decide_task_id
        self.fba_task_id = fba_task_id
        self.mfn_task_id = mfn_task_id
        self.empty_task_id = empty_task_id

    def choose_branch(self, context: Mapping[str, Any]) -> list[str]:  # type: ignore[override]
        counts = (context["ti"].xcom_pull(task_ids=self.decide_task_id) or {}).get("counts") or {}
        out = []
        if counts.get("fba"):
            out.append(self.fba_task_id)
        if counts.get("mfn"):
            out.append(self.mfn_task_id)
        return out or [self.empty_task_id]


# ================================================================================================
# 4. map
# ================================================================================================
class MapOrdersOperator(OrdersOperator):
    """SKU → item (one SuiteQL per ≤ 1000 SKUs, cached per run), currencies, customers, ``map_order``."""

    ui_color = "#d3f9d8"

    def __init__(self, *, channel: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if channel not in CHANNELS:
            raise ValueError(f"channel must be one of {CHANNELS}, got {channel!r}")
        self.channel = channel

    def execute(self, context: Mapping[str, Any]) -> dict[str, Any]:
        self._quarantined = {}
        decided = self.load(context, self.decide_task_id)
        entries = {oid: e for oid, e in decided["orders"].items() if e["channel"] == self.channel}
        raw_by_id = {r.get("orderId"): r for r in self.state.get_batch(decided["extract_ref"])["orders"]}
        orders = {oid: parse_order(raw_by_id[oid]) for oid in entries if oid in raw_by_id}
        hook = self.netsuite()
        cache_ref = self.ref(context, "cache")
        cache = self._load_cache(cache_ref)
        # a SKU with control characters can be neither looked up nor written: its order is quarantined
        # alone (below) instead of failing the whole lookup
        skus = {i.sku for o in orders.values() for i in o.order_items if i.sku and not _CONTROL.search(i.sku)}
        currencies = {o.currency or self.mp.currency for o in orders.values()}
        self._resolve_items(hook, cache, skus)
        self._resolve_currencies(hook, cache, currencies)
        self.state.put_batch(cache_ref, cache)
        item_ids = {sku: v["id"] for sku, v in cache["items"].items() if v and v.get("active")}
        currency_ids = {c: v for c, v in cache["currencies"].items() if v}
        originals = {o.original_order_id for o in orders.values() if o.original_order_id}
        original_ids = {}
        if originals:
            found = self.existing_documents(hook, [external_id_for(x) for x in originals if _ORDER_ID_RE.match(x)])
            original_ids = {eid[4:]: v["id"] for eid, v in found.items()}
        customers: dict[str, str] = {}
        docs: dict[str, Any] = {}
        for oid, order in orders.items():
            entry = entries[oid]
            try:
                self._check_sku_text(order)
                self._check_inactive(order, cache)
                customer_id = self._customer(context, hook, order, currency_ids, customers)
                doc = map_order(order, self.mp, item_ids=item_ids, customer_id=customer_id,
                                original_internal_id=original_ids.get(order.original_order_id or ""),
                                currency_ids=currency_ids, charge_items=self.charge_items())
            except MappingError as exc:
                self.quarantine(context, oid, str(exc))
                continue
            except NetSuiteValidationError as exc:  # the buyer's customer could not be upserted
                self.quarantine(context, oid, _netsuite_reason(exc, _pii_values(order)).replace(
                    "the document", "the buyer's customer record"))
                continue
            docs[oid] = {"action": entry["action"], "doc": doc.model_dump(mode="json"),
                         "order": minimal_order_json(raw_by_id[oid])}
        counts = {"orders": len(entries), "mapped": len(docs), "quarantined": len(self.quarantined()),
                  "skus": len(skus), "customers_upserted": len(customers)}
        ref = self.state.put_batch(self.ref(context, f"map/{self.channel}"),
                                   {"docs": docs, "quarantined": self.quarantined()})
        self.record(context, counts)
        return {"ref": ref, "counts": counts}

    def _load_cache(self, ref: str) -> dict[str, Any]:
        try:
            cache = self.state.get_batch(ref)
        except KeyError:
            cache = {}
        cache.setdefault("items", {})
        cache.setdefault("currencies", {})
        return cache

    def _resolve_items(self, hook: NetSuiteHook, cache: dict[str, Any], skus: set[str]) -> None:
        missing = sorted(s for s in skus if s not in cache["items"])
        for chunk in _chunks(missing, SUITEQL_IN_MAX):
            found: dict[str, dict[str, Any]] = {}
            for row in hook.suiteql("SELECT i.id, i.itemid, i.isinactive FROM item i WHERE i.itemid IN (:skus) "
                                    "ORDER BY i.id", params={"skus": list(chunk)}):
                sku = str(row.get("itemid"))
                active = str(row.get("isinactive", "F")).upper() not in ("T", "TRUE")
                if sku not in found or (active and not found[sku]["active"]):
                    found[sku] = {"id": str(row.get("id")), "active": active}
            for sku in chunk:
                cache["items"][sku] = found.get(sku)  # None: unknown in NetSuite (cached for this run)

    def _resolve_currencies(self, hook: NetSuiteHook, cache: dict[str, Any], codes: set[str]) -> None:
        missing = sorted(c for c in codes if c not in cache["currencies"])
        if not missing:
            return
        found = {str(r.get("symbol")).upper(): str(r.get("id"))
                 for r in hook.suiteql("SELECT c.id, c.symbol FROM currency c WHERE c.symbol IN (:codes)",
                                       params={"codes": missing})}
        for code in missing:
            cache["currencies"][code] = found.get(code)

    @staticmethod
    def _check_sku_text(order: AmazonOrder) -> None:
        for item in order.order_items:
            if item.sku and _CONTROL.search(item.sku):
                shown = repr(item.sku[:60])
                raise MappingError(
                    f"order {order.order_id}: SKU {shown} contains a control character — correct the SKU in Seller "
                    "Central (it cannot match a NetSuite item); order quarantined", order_id=order.order_id)

    @staticmethod
    def _check_inactive(order: AmazonOrder, cache: Mapping[str, Any]) -> None:
        for item in order.order_items:
            entry = cache["items"].get(item.sku or "")
            if entry and not entry.get("active") and item.quantity_ordered > 0:
                raise MappingError(
                    f"order {order.order_id}: SKU '{item.sku}' maps to NetSuite item {entry['id']}, which is inactive — "
                    "reactivate the item or map the SKU to an active item; order quarantined", order_id=order.order_id)

    def _customer(self, context: Mapping[str, Any], hook: NetSuiteHook, order: AmazonOrder,
                  currency_ids: Mapping[str, str], done: dict[str, str]) -> str | None:
        upsert = customer_for_order(order, self.mp, currency_id=currency_ids.get(order.currency or ""))
        if upsert is None:
            return None
        if upsert.external_id in done:
            return done[upsert.external_id]
        if self.dry_run(context):
            found = hook.lookup_external_ids("customer", [upsert.external_id])
            cid = found.get(upsert.external_id, "0")
        else:
            cid = hook.upsert_record("customer", upsert.external_id, upsert.body)
        done[upsert.external_id] = cid
        return cid


# ================================================================================================
# 5. write
# ================================================================================================
class WriteOrdersOperator(OrdersOperator):
    """Upsert each document by external id (new) or PATCH it in place (existing), in a thread pool bounded by
    the NetSuite connection's concurrency; CANCEL closes lines (never deletes). One bad order never blocks
    the batch: NetSuite validation errors quarantine it; transient failures fail the task after all other
    orders are written (an Airflow retry then redoes only those)."""

    ui_color = "#c5f6fa"
    _lock = threading.Lock()
    #: seconds between in-task attempts at one document (after the hook's own retries); tests set 0
    attempt_delay: float = 2.0

    def __init__(self, *, channel: str, map_task_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if channel not in CHANNELS:
            raise ValueError(f"channel must be one of {CHANNELS}, got {channel!r}")
        self.channel = channel
        self.map_task_id = map_task_id or TASK_IDS[f"map_{channel.lower()}"]

    def execute(self, context: Mapping[str, Any]) -> dict[str, Any]:
        self._quarantined = {}
        mapped = self.load(context, self.map_task_id)
        entries: dict[str, Any] = mapped["docs"]
        progress_ref = self.ref(context, f"write/{self.channel}")
        try:
            progress = self.state.get_batch(progress_ref)
        except KeyError:
            progress = {"done": {}, "quarantined": {}}
        done: dict[str, dict[str, Any]] = progress["done"]
        todo = {oid: e for oid, e in entries.items() if oid not in done}
        # documents an earlier try wrote without reading back their number: read it now, then queue the ack
        unnumbered = {oid: r for oid, r in done.items() if r.get("id") and not r.get("tranid") and oid in entries}
        self._tranid_failures = 0
        dry = self.dry_run(context)
        hook = self.netsuite()
        docs = {oid: NetSuiteOrderDocument.model_validate(e["doc"]) for oid, e in todo.items()}
        existing = self.existing_documents(hook, [d.external_id for d in docs.values()]) if docs else {}
        known = self.state.get_accepted(DOC_STATE, self.marketplace, list(todo)) if todo else {}
        failures: dict[str, str] = {}
        results: dict[str, dict[str, Any]] = {}

        def work(oid: str) -> None:
            try:
                out = self._write_one(context, hook, oid, todo[oid], docs[oid], existing, known.get(oid), dry)
            except _Transient as exc:
                with self._lock:
                    failures[oid] = str(exc)
                return
            if out is not None:
                with self._lock:
                    results[oid] = out

        # Replacement orders whose original is written in this same batch are linked in a second phase.
        link_field, orig_field = CUSTOM_FIELDS["original_transaction"], CUSTOM_FIELDS["original_order"]
        later = [oid for oid, d in docs.items() if d.header.get(orig_field) and not d.header.get(link_field)]
        first = [oid for oid in todo if oid not in set(later)]
        try:
            workers = max(1, min(int(hook.settings.concurrency), len(todo) or 1))
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"write-{self.channel.lower()}") as pool:
                list(pool.map(work, first))
                if later:
                    originals = self.existing_documents(
                        hook, [external_id_for(str(docs[o].header[orig_field])) for o in later
                               if _ORDER_ID_RE.match(str(docs[o].header[orig_field]))])
                    for oid in later:
                        found = originals.get(f"AMZ-{docs[oid].header[orig_field]}")
                        if found:
                            docs[oid] = docs[oid].model_copy(
                                update={"header": {**docs[oid].header, link_field: {"id": found["id"]}}})
                    list(pool.map(work, later))
        finally:
            results = {**unnumbered, **results}
            self._flush(context, hook, results, entries, dry)
            done.update(results)
            progress["quarantined"].update(self.quarantined())
            self.state.put_batch(progress_ref, progress)
        outcomes = Counter(f"{r['type']}:{r['outcome']}" for r in done.values())
        counts = {"documents": len(entries), "written": sum(1 for r in done.values() if r["outcome"] != "unchanged"),
                  "outcomes": dict(outcomes), "quarantined": len(progress["quarantined"]),
                  "transient_failures": len(failures), "dry_run": dry}
        self.record(context, counts)
        if failures:
            raise RuntimeError(
                f"{len(failures)} {self.marketplace} {self.channel} order(s) could not be written because NetSuite kept "
                f"failing ({sorted(set(failures.values()))[:3]}); everything else was written — the task retry "
                "writes the rest")
        if self._tranid_failures:
            # written, but without its number the order can be neither acknowledged nor matched by the
            # settlement: the task retry reads the numbers (it writes nothing again)
            raise RuntimeError(
                f"{self._tranid_failures} {self.marketplace} {self.channel} document(s) were written but NetSuite "
                "failed while their document numbers were read; the task retry reads them and queues the "
                "acknowledgements (nothing is written twice)")
        return {"ref": progress_ref, "counts": counts}

    # -- one document ---------------------------------------------------------------------------
    def _write_one(self, context: Mapping[str, Any], hook: NetSuiteHook, oid: str, entry: Mapping[str, Any],
                   doc: NetSuiteOrderDocument, existing: dict[str, dict[str, str]], known: Mapping[str, Any] | None,
                   dry: bool) -> dict[str, Any] | None:
        action = entry["action"]
        order = parse_order(entry["order"])
        fp = fingerprint(doc, action)
        ex = existing.get(doc.external_id)
        last_error = ""
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            if attempt > 1:  # the previous attempt may have been applied: look again before writing
                try:
                    ex = self.existing_documents(hook, [doc.external_id]).get(doc.external_id)
                except NetSuiteError as exc:
                    last_error = f"{type(exc).__name__}: {exc.code or exc.status}"
                    time.sleep(min(self.attempt_delay * attempt, 10.0))
                    continue
            want_type = TRANSACTION_TYPE[doc.record_type]
            if ex and ex["type"] and ex["type"] != want_type:
                self.quarantine(context, oid,
                                f"order {oid}: {doc.external_id} already exists in NetSuite as transaction type "
                                f"{ex['type']} but this order is now booked as {doc.record_type} — change "
                                f"orders.fba_document back or re-book the order by hand")
                return None
            try:
                return self._apply(hook, oid, action, doc, order, ex, known, fp, dry)
            except NetSuiteValidationError as exc:
                ref = str(doc.header.get("otherRefNum") or "")
                self.quarantine(context, oid, _netsuite_reason(exc, [ref] if ref and ref != oid else []),
                                detail=f"{exc.method or ''} {exc.url_path or ''}".strip() or None)
                return None
            except MappingError as exc:
                self.quarantine(context, oid, str(exc))
                return None
            except (NetSuiteServerError, NetSuiteTransportError, NetSuiteConcurrencyError, NetSuiteJobError,
                    NetSuiteRecordNotFound) as exc:
                last_error = f"{type(exc).__name__} {exc.code or exc.status or ''}".strip()
                self.log.warning("order %s: NetSuite failed (%s), attempt %d/%d", oid, last_error, attempt, WRITE_ATTEMPTS)
                time.sleep(min(self.attempt_delay * attempt, 10.0))
        raise _Transient(last_error or "NetSuite unavailable")

    def _apply(self, hook: NetSuiteHook, oid: str, action: str, doc: NetSuiteOrderDocument, order: AmazonOrder,
               ex: Mapping[str, str] | None, known: Mapping[str, Any] | None, fp: str, dry: bool) -> dict[str, Any] | None:
        base = {"type": doc.record_type, "action": action, "fingerprint": fp,
                "items": [i.order_item_id for i in order.order_items], "status": order.fulfillment_status}
        if action == OrderAction.CANCEL.value:
            if not ex:
                return {**base, "outcome": "cancel_not_written", "id": None, "tranid": None}
            if known and known.get("fingerprint") == fp and known.get("id") == ex["id"]:
                return {**base, "outcome": "unchanged", "id": ex["id"], "tranid": ex["tranid"]}
            if dry:
                return {**base, "outcome": "would_close", "id": ex["id"], "tranid": ex["tranid"]}
            record = hook.get_record(doc.record_type, ex["id"], expand_sub_resources=True)
            body, replace = cancel_body(doc, order, record, self.managed_items())
            hook.update_record(doc.record_type, ex["id"], body, replace=list(replace) or None)
            return {**base, "outcome": "closed", "id": ex["id"], "tranid": ex["tranid"]}
        if ex is None:
            if dry:
                return {**base, "outcome": "would_create", "id": None, "tranid": None}
            # replace=item: if the hook re-sends this PUT after a lost answer, the lines are replaced, not doubled
            rid = hook.upsert_record(doc.record_type, doc.external_id, doc.body, replace=["item"])
            return {**base, "outcome": "created", "id": str(rid), "tranid": None}
        if known and known.get("fingerprint") == fp and known.get("id") == ex["id"]:
            return {**base, "outcome": "unchanged", "id": ex["id"], "tranid": ex["tranid"]}
        if dry:
            return {**base, "outcome": "would_update", "id": ex["id"], "tranid": ex["tranid"]}
        record = hook.get_record(doc.record_type, ex["id"], expand_sub_resources=True)
        hook.update_record(doc.record_type, ex["id"], update_body(doc, record, self.managed_items()))
        return {**base, "outcome": "updated", "id": ex["id"], "tranid": ex["tranid"]}

    # -- state after the writes -----------------------------------------------------------------
    def _flush(self, context: Mapping[str, Any], hook: NetSuiteHook, results: dict[str, dict[str, Any]],
               entries: Mapping[str, Any], dry: bool) -> None:
        if not results or dry:
            return
        need = [r["id"] for r in results.values() if r.get("id") and not r.get("tranid")]
        if need:
            try:
                tranids: dict[str, str] = {}
                for chunk in _chunks(sorted(set(need)), SUITEQL_IN_MAX):
                    for row in hook.suiteql("SELECT t.id, t.tranid FROM transaction t WHERE t.id IN (:ids)",
                                            params={"ids": [int(i) for i in chunk]}):
                        tranids[str(row.get("id"))] = str(row.get("tranid") or "")
                for r in results.values():
                    if r.get("id") and not r.get("tranid"):
                        r["tranid"] = tranids.get(str(r["id"])) or None
            except NetSuiteError:
                self._tranid_failures = len(need)
                self.log.warning("could not read the document numbers of %d new document(s); the task retry reads "
                                 "them", len(need))
        written = {oid: r for oid, r in results.items() if r.get("id")}
        self.state.set_accepted(DOC_STATE, self.marketplace, {
            oid: {"fingerprint": r["fingerprint"], "id": r["id"], "tranid": r.get("tranid"), "type": r["type"],
                  "channel": self.channel} for oid, r in written.items()})
        self.state.resolve(SYNC, self.marketplace, list(results))
        if self.channel != "MFN":
            return
        queue: dict[str, Any] = {}
        open_now: dict[str, Any] = {}
        closed: list[str] = []
        for oid, r in written.items():
            if r["action"] == OrderAction.UPSERT.value and r.get("tranid") and self.mp.orders.acknowledge \
                    and not self.state.is_processed(ACK_SYNC, self.marketplace, oid):
                queue[oid] = {"tranid": r["tranid"], "items": r["items"]}
            if r["action"] == OrderAction.UPSERT.value and r["status"] in ("UNSHIPPED", "PARTIALLY_SHIPPED"):
                open_now[oid] = entries[oid]["order"]
            else:
                closed.append(oid)
        closed += [oid for oid, r in results.items() if not r.get("id")]
        self.state.set_accepted(ACK_QUEUE, self.marketplace, queue)
        self.state.set_accepted(OPEN_MFN, self.marketplace, open_now)
        if closed:
            self.state.forget_accepted(OPEN_MFN, self.marketplace, closed)


# ================================================================================================
# 6. acknowledgement writeback
# ================================================================================================
class AcknowledgeOrdersOperator(OrdersOperator):
    """Acknowledge newly written MFN orders with the NetSuite document number as ``MerchantOrderID``
    (``POST_ORDER_ACKNOWLEDGEMENT_DATA``), wait deferrably, and mark only what Amazon processed."""

    ui_color = "#fff3bf"

    def __init__(self, *, deferrable: bool = True, poll_interval: float = 30.0,
                 feed_timeout: timedelta = timedelta(hours=4), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.feed_timeout = feed_timeout

    def _outcome_ref(self, context: Mapping[str, Any]) -> str:
        return self.ref(context, "ack")

    def _outcome(self, context: Mapping[str, Any]) -> dict[str, Any]:
        try:
            return self.state.get_batch(self._outcome_ref(context))
        except KeyError:
            return {"feeds": 0, "sent": 0, "accepted": 0, "rejected": {}, "unconfirmed": 0, "previous_runs": 0,
                    "queued": 0, "dry_run": False}

    def execute(self, context: Mapping[str, Any]) -> dict[str, Any]:
        self._quarantined = {}
        outcome = self._outcome(context)
        if not self.mp.orders.acknowledge:
            return self._finish_ack(context, outcome)
        hook = self.spapi()
        run = self.run_key(context)
        self._settle_intents(hook)
        inflight = self.state.list_inflight(ACK_SYNC, self.marketplace)
        for feed_id, payload in inflight.items():  # feeds of earlier runs: settle when Amazon is done
            if payload.get("run") == run:
                continue
            status = str(hook.get_feed(feed_id).get("processingStatus", ""))
            if status in FEED_TERMINAL:
                self._apply(context, hook, feed_id, payload, status, outcome)
                outcome["previous_runs"] += 1
        inflight = self.state.list_inflight(ACK_SYNC, self.marketplace)
        in_feeds = {oid for p in inflight.values() for oid in p.get("messages", {}).values()}
        queue = self.state.get_accepted(ACK_QUEUE, self.marketplace)
        acked = [oid for oid in queue if self.state.is_processed(ACK_SYNC, self.marketplace, oid)]
        if acked:
            self.state.forget_accepted(ACK_QUEUE, self.marketplace, acked)
        todo = sorted(oid for oid in queue if oid not in in_feeds and oid not in acked and queue[oid].get("tranid"))
        outcome["queued"] = len(todo)
        if self.dry_run(context):
            outcome["dry_run"] = True
            self.state.put_batch(self._outcome_ref(context), outcome)
            return self._finish_ack(context, outcome)
        mine = {fid: p for fid, p in inflight.items() if p.get("run") == run}
        if todo and not mine:
            seller = hook.seller_id
            if not seller:
                raise ValueError(f"connection {self.mp.spapi_conn_id!r} has no extra.seller_id (merchant token); the "
                                 "acknowledgement feed needs it as MerchantIdentifier")
            for chunk in _chunks(todo, ACK_FEED_MAX_MESSAGES):
                acks = [Acknowledgement(amazon_order_id=oid, merchant_order_id=str(queue[oid]["tranid"]),
                                        items=tuple(AcknowledgementItem(amazon_order_item_code=i)
                                                    for i in queue[oid].get("items") or []))
                        for oid in chunk]
                body = acknowledgement_feed(acks, merchant_identifier=seller)
                payload = {"run": run, "messages": {str(n): oid for n, oid in enumerate(chunk, start=1)},
                           "tranids": {oid: str(queue[oid]["tranid"]) for oid in chunk}}
                # the intent is recorded before the feed exists: a worker killed between createFeed and the
                # next line leaves a trace, and the retry adopts Amazon's feed instead of sending a second one
                intent = f"{ACK_INTENT_PREFIX}{run}/{chunk[0]}"
                self.state.add_inflight(ACK_INTENT_SYNC, self.marketplace, intent,
                                        {**payload, "at": datetime.now(timezone.utc).isoformat()})
                feed_id = hook.submit_feed(ACK_FEED_TYPE, body, [self.mp.marketplace_id], content_type=ACK_FEED_CONTENT_TYPE)
                self.state.add_inflight(ACK_SYNC, self.marketplace, feed_id, payload)
                self.state.close_inflight(ACK_INTENT_SYNC, self.marketplace, intent)
                outcome["feeds"] += 1
                outcome["sent"] += len(chunk)
                self.state.put_batch(self._outcome_ref(context), outcome)
        self.state.put_batch(self._outcome_ref(context), outcome)
        return self._wait_or_finish(context, hook)

    def _settle_intents(self, hook: SpApiHook) -> None:
        """Acknowledgement feeds that may have been created by a try that was killed before recording them.

        Amazon's createFeed takes no client token, so such a feed is recognised as an acknowledgement feed
        of this marketplace that this sync neither tracks nor has read before (one acknowledgement task runs
        per marketplace at a time: max_active_runs=1). No clocks are compared: Amazon's and the worker's may
        differ. Without such a feed the feed was never created, the intent is dropped and its orders are
        queued again. (A feed another tool created for the same marketplace in that gap would be taken for
        ours: give acknowledgements to one integration only.)
        """
        intents = self.state.list_inflight(ACK_INTENT_SYNC, self.marketplace)
        if not intents:
            return
        known = set(self.state.list_inflight(ACK_SYNC, self.marketplace)) | set(
            self.state.processed_keys(ACK_FEEDS, self.marketplace))
        candidates = sorted(
            (f for f in hook.list_feeds([ACK_FEED_TYPE], marketplace_ids=[self.mp.marketplace_id])
             if str(f.get("feedId")) not in known),
            key=lambda f: str(f.get("createdTime", "")))
        for intent, payload in sorted(intents.items(), key=lambda kv: kv[1]["at"]):
            if candidates:
                match = candidates.pop(0)
                record = {k: v for k, v in payload.items() if k != "at"}
                self.state.add_inflight(ACK_SYNC, self.marketplace, str(match["feedId"]), record)
                self.log.warning("adopted acknowledgement feed %s created by an interrupted try", match["feedId"])
            self.state.close_inflight(ACK_INTENT_SYNC, self.marketplace, intent)

    def _wait_or_finish(self, context: Mapping[str, Any], hook: SpApiHook) -> dict[str, Any]:
        run = self.run_key(context)
        pending = {f: p for f, p in self.state.list_inflight(ACK_SYNC, self.marketplace).items() if p.get("run") == run}
        outcome = self._outcome(context)
        if not pending:
            return self._finish_ack(context, outcome)
        if self.deferrable:
            from airflow_provider_amznetsuite.triggers.spapi import SpApiFeedTrigger

            feed_id = next(iter(pending))
            self.defer(trigger=SpApiFeedTrigger(feed_id=feed_id, conn_id=self.mp.spapi_conn_id,
                                                poll_interval=self.poll_interval,
                                                timeout=self.feed_timeout.total_seconds()),
                       method_name="execute_complete", timeout=self.feed_timeout)
        deadline = time.monotonic() + self.feed_timeout.total_seconds()
        for feed_id, payload in pending.items():
            while True:
                status = str(hook.get_feed(feed_id).get("processingStatus", ""))
                if status in FEED_TERMINAL:
                    self._apply(context, hook, feed_id, payload, status, outcome)
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"acknowledgement feed {feed_id} not processed within {self.feed_timeout}; "
                                       "the next run reads it")
                time.sleep(self.poll_interval)
        return self._finish_ack(context, outcome)

    def execute_complete(self, context: Mapping[str, Any], event: Mapping[str, Any] | None = None) -> dict[str, Any]:
        event = event or {}
        feed_id = str(event.get("feed_id", ""))
        status = str(event.get("status", "")).upper()
        if status not in FEED_TERMINAL:
            raise RuntimeError(f"acknowledgement feed {feed_id}: waiting ended without a final status "
                               f"({event.get('message') or status}); the next run reads it")
        hook = self.spapi()
        payload = self.state.list_inflight(ACK_SYNC, self.marketplace).get(feed_id)
        if payload is not None:
            outcome = self._outcome(context)
            self._apply(context, hook, feed_id, payload, status, outcome)
        return self._wait_or_finish(context, hook)

    def _apply(self, context: Mapping[str, Any], hook: SpApiHook, feed_id: str, payload: Mapping[str, Any],
               status: str, outcome: dict[str, Any]) -> None:
        messages = {int(k): v for k, v in (payload.get("messages") or {}).items()}
        complete, errors = False, {}
        if status == "DONE":
            complete, errors = parse_ack_processing_report(hook.get_feed_result(feed_id))
        if not complete or 0 in errors:
            outcome["unconfirmed"] += len(messages)  # re-sent by a later run (still queued)
            self.log.warning("acknowledgement feed %s ended %s without a complete processing report; %d order(s) "
                             "stay queued", feed_id, status, len(messages))
        else:
            done: list[str] = []
            for mid, oid in messages.items():
                if mid in errors:
                    reason = f"Amazon rejected the order acknowledgement — {errors[mid]}"
                    self.quarantine(context, oid, reason, sync=ACK_SYNC, detail=f"feed {feed_id}")
                    outcome["rejected"][oid] = reason
                else:
                    self.state.mark_processed(ACK_SYNC, self.marketplace, oid, {
                        "merchant_order_id": (payload.get("tranids") or {}).get(oid), "feed_id": feed_id})
                    outcome["accepted"] += 1
                done.append(oid)
            self.state.resolve(ACK_SYNC, self.marketplace, [o for o in done if o not in outcome["rejected"]])
            self.state.forget_accepted(ACK_QUEUE, self.marketplace, done)
        self.state.close_inflight(ACK_SYNC, self.marketplace, feed_id)
        self.state.mark_processed(ACK_FEEDS, self.marketplace, feed_id)  # known feed: never adopted by an intent
        self.state.put_batch(self._outcome_ref(context), outcome)

    def _finish_ack(self, context: Mapping[str, Any], outcome: Mapping[str, Any]) -> dict[str, Any]:
        counts = {"feeds": outcome.get("feeds", 0), "sent": outcome.get("sent", 0), "accepted": outcome.get("accepted", 0),
                  "rejected": len(outcome.get("rejected") or {}), "unconfirmed": outcome.get("unconfirmed", 0),
                  "settled_from_previous_runs": outcome.get("previous_runs", 0), "queued": outcome.get("queued", 0),
                  "dry_run": bool(outcome.get("dry_run"))}
        self.state.put_batch(self._outcome_ref(context), dict(outcome))
        self.record(context, counts)
        return {"ref": self._outcome_ref(context), "counts": counts}


# ================================================================================================
# 7. shipment confirmation + ship-by alerts
# ================================================================================================
class ConfirmShipmentsOperator(OrdersOperator):
    """NetSuite item fulfilments (with tracking) of this marketplace's MFN orders → ``confirmShipment``,
    once per fulfilment; ship-by alerts for open MFN orders without a fulfilment."""

    ui_color = "#ffec99"

    def __init__(self, *, lookback: timedelta = SHIPMENT_LOOKBACK, carrier_codes: Mapping[str, str] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.lookback = lookback
        self.carrier_codes = dict(carrier_codes or {})

    def fulfilments(self, hook: NetSuiteHook, since: datetime) -> list[dict[str, Any]]:
        """Item fulfilments created since ``since`` from AMZ- sales orders of this marketplace's subsidiary."""
        rows = hook.suiteql(
            "SELECT f.id, f.tranid, so.id AS order_internal_id, so.externalid AS order_external_id "
            "FROM transaction f INNER JOIN transaction so ON so.id = f.createdfrom "
            "WHERE f.type = 'ItemShip' AND so.type = 'SalesOrd' AND so.externalid LIKE 'AMZ-%' "
            "AND so.subsidiary = :subsidiary "
            "AND f.createddate >= TO_TIMESTAMP(:since, 'YYYY-MM-DD HH24:MI:SS') ORDER BY f.id",
            params={"subsidiary": int(self.mp.subsidiary), "since": since.strftime("%Y-%m-%d %H:%M:%S")})
        return list(rows)

    def execute(self, context: Mapping[str, Any]) -> dict[str, Any]:
        self._quarantined = {}
        dry = self.dry_run(context)
        _, window_end, _ = resolve_window(context, self.params_of(context))
        counts: Counter[str] = Counter()
        rows: list[dict[str, Any]] = []
        extract_orders: dict[str, dict[str, Any]] = {}
        extract_ref = self.pull(context, self.extract_task_id).get("ref")
        if extract_ref:
            try:
                extract_orders = {o.get("orderId"): o for o in self.state.get_batch(extract_ref)["orders"]}
            except KeyError:
                extract_orders = {}
        ns = self.netsuite()
        if self.mp.orders.confirm_shipments:
            rows = self.fulfilments(ns, datetime.now(UTC) - self.lookback)
        order_of = {str(r["id"]): str(r.get("order_external_id", ""))[4:] for r in rows}
        ours = self.state.get_accepted(DOC_STATE, self.marketplace, sorted(set(order_of.values()))) if order_of else {}
        spapi = self.spapi() if rows else None
        for fid, oid in order_of.items():
            if ours.get(oid, {}).get("channel") != "MFN":
                continue  # another marketplace's (or an FBA sales) order on the same subsidiary
            if self.state.is_processed(SHIPMENT_DONE, self.marketplace, fid):
                counts["already_confirmed"] += 1
                continue
            record = ns.get_record("itemFulfillment", fid, expand_sub_resources=True)
            try:
                raw = extract_orders.get(oid) or spapi.get_order(oid, ["FULFILLMENT"])  # type: ignore[union-attr]
                order = parse_order(raw)
                detail = shipment_package_detail(order, record, carrier_codes=self.carrier_codes or None,
                                                 timezone=self.mp.timezone, now=datetime.now(UTC))
            except MappingError as exc:
                if "no tracking number" in str(exc):
                    counts["awaiting_tracking"] += 1
                    continue
                self.quarantine(context, fid, str(exc), sync=SHIPMENT_SYNC)
                counts["failed"] += 1
                continue
            if dry:
                counts["would_confirm"] += 1
                continue
            try:
                spapi.confirm_shipment(oid, self.mp.marketplace_id, detail)  # type: ignore[union-attr]
            except SpApiBadRequest as exc:
                text = "; ".join(f"{e.get('code')}: {e.get('message')}" for e in exc.errors[:3]) or str(exc.status)
                self.quarantine(context, fid, f"order {oid}: Amazon refused the shipment confirmation of fulfilment "
                                f"{fid} — {text}"[:900], sync=SHIPMENT_SYNC)
                counts["failed"] += 1
                continue
            self.state.mark_processed(SHIPMENT_DONE, self.marketplace, fid, {
                "order_id": oid, "package_reference_id": detail["packageReferenceId"],
                "carrier_code": detail["carrierCode"]})
            self.state.resolve(SHIPMENT_SYNC, self.marketplace, [fid])
            counts["confirmed"] += 1
        alerts = self._ship_by_alerts(window_end, set(order_of.values()), dry)
        counts["ship_by_alerts"] = len(alerts)
        counts["overdue"] = sum(1 for a in alerts if a["overdue"])
        ref = self.state.put_batch(self.ref(context, "shipments"), {
            "counts": dict(counts), "alerts": alerts, "quarantined": self.quarantined(SHIPMENT_SYNC)})
        result = {**{k: counts.get(k, 0) for k in ("confirmed", "already_confirmed", "awaiting_tracking", "failed",
                                                     "would_confirm", "ship_by_alerts", "overdue")},
                  "fulfilments_seen": len(rows)}
        self.record(context, result)
        return {"ref": ref, "counts": result}

    def _ship_by_alerts(self, now: datetime, fulfilled: set[str], dry: bool) -> list[dict[str, Any]]:
        index = self.state.get_accepted(OPEN_MFN, self.marketplace)
        orders, stale = [], []
        for oid, raw in index.items():
            try:
                order = parse_order(raw)
            except MappingError:
                stale.append(oid)
                continue
            latest = order.latest_ship_date
            if oid in fulfilled or (latest is not None and latest < now - self.lookback):
                stale.append(oid)
            orders.append(order)
        alerts = ship_by_alerts(orders, now, self.mp.orders.ship_by_warning_hours, fulfilled=fulfilled)
        if stale and not dry:
            self.state.forget_accepted(OPEN_MFN, self.marketplace, stale)
        return [{"order_id": a.order_id, "latest_ship_date": a.latest_ship_date.isoformat(),
                 "minutes_left": a.minutes_left, "overdue": a.overdue} for a in alerts]


# ================================================================================================
# 8. report
# ================================================================================================
class OrdersReportOperator(OrdersOperator):
    """One summary of the run; fails visibly (after all work) when anything was quarantined.

    When the run completed (acknowledgement and shipment tasks both ran), the batches that carry order
    payloads — the extract, the decisions, the mapped documents and the lookup cache — are deleted; the
    small outcome batches (counts, quarantine reasons) stay for the summary until the retention purge."""

    ui_color = "#e9ecef"
    MAX_LISTED = 100
    PAYLOAD_BATCHES = ("extract", "cache")  # deleted
    REASON_BATCHES = ("decide", f"map/{CHANNELS[0]}", f"map/{CHANNELS[1]}")  # cut down to their quarantine reasons

    def drop_payload_batches(self, context: Mapping[str, Any]) -> int:
        n = sum(self.state.drop_batches(self.ref(context, name)) for name in self.PAYLOAD_BATCHES)
        for name in self.REASON_BATCHES:
            ref = self.ref(context, name)
            try:
                reasons = self.state.get_batch(ref).get("quarantined") or {}
            except KeyError:
                continue
            self.state.put_batch(ref, {"quarantined": reasons})  # a re-run of this report still lists them
            n += 1
        self.log.info("%s: deleted the order payloads of the completed run (%d batch(es))", self.marketplace, n)
        return n

    def execute(self, context: Mapping[str, Any]) -> dict[str, Any]:
        x = {name: self.pull(context, TASK_IDS[name]) for name in
             ("extract", "decide", "map_fba", "map_mfn", "write_fba", "write_mfn", "ack", "ship")}
        counts = {k: (v.get("counts") or {}) for k, v in x.items()}
        quarantined: dict[str, dict[str, str]] = {SYNC: {}, ACK_SYNC: {}, SHIPMENT_SYNC: {}}
        for name in ("decide", "map_fba", "map_mfn", "write_fba", "write_mfn"):
            ref = x[name].get("ref")
            if ref:
                try:
                    quarantined[SYNC].update(self.state.get_batch(ref).get("quarantined") or {})
                except KeyError:
                    pass
        for name, sync in (("ack", ACK_SYNC), ("ship", SHIPMENT_SYNC)):
            ref = x[name].get("ref")
            if ref:
                try:
                    batch = self.state.get_batch(ref)
                except KeyError:
                    continue
                quarantined[sync].update(batch.get("rejected") or batch.get("quarantined") or {})
        alerts: list[dict[str, Any]] = []
        if x["ship"].get("ref"):
            try:
                alerts = self.state.get_batch(x["ship"]["ref"]).get("alerts") or []
            except KeyError:
                alerts = []
        written: dict[str, Counter[str]] = {}
        for name in ("write_fba", "write_mfn"):
            for key, n in (counts[name].get("outcomes") or {}).items():
                rtype, outcome = key.split(":", 1)
                written.setdefault(rtype, Counter())[outcome] += n
        total_q = sum(len(v) for v in quarantined.values())
        summary = {
            "window": (x["extract"].get("window") or {}),
            "fetched": counts["extract"].get("orders", 0),
            "refetched_from_quarantine": counts["extract"].get("refetched", 0),
            "written": {t: dict(c) for t, c in written.items()},
            "created": sum(c.get("created", 0) for c in written.values()),
            "updated": sum(c.get("updated", 0) for c in written.values()),
            "unchanged": sum(c.get("unchanged", 0) for c in written.values()),
            "cancelled_closed": sum(c.get("closed", 0) for c in written.values()),
            "skipped": counts["decide"].get("skipped", {}),
            "tax_lines": counts["decide"].get("tax_lines", {}),
            "quarantined": total_q,
            "quarantine_reasons": [{"sync": s, "key": k, "reason": r} for s, d in quarantined.items()
                                   for k, r in sorted(d.items())][: self.MAX_LISTED],
            "acknowledgements": counts["ack"],
            "shipments": {k: v for k, v in counts["ship"].items() if k not in ("ship_by_alerts", "overdue")},
            "ship_by_alerts": alerts[: self.MAX_LISTED],
            "dry_run": self.dry_run(context),
        }
        ref = self.state.put_batch(self.ref(context, "report"), summary)
        if x["ack"] and x["ship"]:  # both ran: nothing upstream failed, so no retry will read the payloads again
            self.drop_payload_batches(context)
        self.finish(context, summary, quarantined=total_q)
        return {"ref": ref, "counts": {"fetched": summary["fetched"], "created": summary["created"],
                                       "updated": summary["updated"], "cancelled_closed": summary["cancelled_closed"],
                                       "quarantined": total_q, "ship_by_alerts": len(alerts)}}
