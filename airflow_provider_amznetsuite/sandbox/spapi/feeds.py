"""Feed processing: ``JSON_LISTINGS_FEED`` and ``POST_ORDER_ACKNOWLEDGEMENT_DATA``.

``JSON_LISTINGS_FEED`` documents are validated against Amazon's feed schema (header) and message
schema (per message), then against the sandbox product type definitions; accepted messages are
applied to the listing store. The result document is a processing report in Amazon's
``listings-feed-processing-report-schema-v2`` format with per-message issues.

``POST_ORDER_ACKNOWLEDGEMENT_DATA`` accepts either Amazon's XML envelope
(``<AmazonEnvelope><MessageType>OrderAcknowledgement</MessageType><Message><MessageID/>
<OrderAcknowledgement><AmazonOrderID/><MerchantOrderID/><StatusCode>Success|Failure</StatusCode>
<Item><AmazonOrderItemCode/><MerchantOrderItemID/></Item>…``) or a tab-separated flat file whose
header has ``order-id`` and ``merchant-order-id`` (optional ``status-code``, ``order-item-id``,
``merchant-order-item-id``). ``Success`` records the merchant order id (returned afterwards as the
order's ``SELLER_ORDER_ID`` alias and in settlement ``merchant-order-id``); ``Failure`` cancels a
not-yet-shipped seller-fulfilled order. The result is Amazon's XML ``ProcessingReport``.
"""

from __future__ import annotations

import copy
import gzip
import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from importlib import resources
from typing import Any

from jsonschema import Draft7Validator

from airflow_provider_amznetsuite.sandbox import catalog
from airflow_provider_amznetsuite.sandbox.spapi import product_types as pt
from airflow_provider_amznetsuite.sandbox.spapi.listings import ListingStore, PatchError, apply_patches
from airflow_provider_amznetsuite.sandbox.spapi.orders import Order
from airflow_provider_amznetsuite.sandbox.spapi.util import iso

MAX_FEED_BYTES = 10 * 1024 * 1024  # 10 MiB
MAX_MESSAGES = 25_000
JSON_LISTINGS_FEED = "JSON_LISTINGS_FEED"
ORDER_ACK_FEED = "POST_ORDER_ACKNOWLEDGEMENT_DATA"
SUPPORTED_FEED_TYPES = frozenset({JSON_LISTINGS_FEED, ORDER_ACK_FEED})
DEPRECATED_FEED_TYPES = frozenset({
    "POST_PRODUCT_DATA", "POST_INVENTORY_AVAILABILITY_DATA", "POST_PRODUCT_PRICING_DATA",
    "POST_PRODUCT_OVERRIDES_DATA", "POST_PRODUCT_IMAGE_DATA", "POST_PRODUCT_RELATIONSHIP_DATA",
    "POST_FLAT_FILE_INVLOADER_DATA", "POST_FLAT_FILE_LISTINGS_DATA",
    "POST_FLAT_FILE_PRICEANDQUANTITYONLY_UPDATE_DATA", "POST_FLAT_FILE_BOOKLOADER_DATA",
    "POST_FLAT_FILE_CONVERGENCE_LISTINGS_DATA", "POST_UIEE_BOOKLOADER_DATA",
})


@dataclass
class Document:
    doc_id: str
    content_type: str
    created_mono: float
    purpose: str  # feed-input | feed-result | report
    data: bytes | None = None  # bytes as served / uploaded
    compression: str | None = None  # "GZIP" when ``data`` is gzip-compressed
    content_encoding_upload: str | None = None


@dataclass
class Feed:
    feed_id: str
    feed_type: str
    marketplace_ids: list[str]
    input_document_id: str
    created: datetime
    created_mono: float
    options: dict[str, str] = field(default_factory=dict)
    status: str = "IN_QUEUE"
    started: datetime | None = None
    ended: datetime | None = None
    result_document_id: str | None = None
    document: Any = None  # parsed submitted document (JSON) or text
    report: Any = None  # parsed processing report (JSON) or text

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"feedId": self.feed_id, "feedType": self.feed_type,
                               "marketplaceIds": list(self.marketplace_ids), "createdTime": iso(self.created),
                               "processingStatus": self.status}
        if self.started:
            out["processingStartTime"] = iso(self.started)
        if self.ended:
            out["processingEndTime"] = iso(self.ended)
        if self.result_document_id:
            out["resultFeedDocumentId"] = self.result_document_id
        return out

    def to_state(self) -> dict[str, Any]:
        out = self.to_json()
        out["inputFeedDocumentId"] = self.input_document_id
        out["feedOptions"] = dict(self.options)
        out["document"] = self.document
        out["processingReport"] = self.report
        return out


def _model(name: str) -> dict[str, Any]:
    text = resources.files("airflow_provider_amznetsuite.sandbox").joinpath("models").joinpath(name).read_text("utf-8")
    return json.loads(text)


@lru_cache(maxsize=1)
def _feed_header_validator() -> Draft7Validator:
    schema = copy.deepcopy(_model("schema_feed_json_listings_feed_v2.json"))
    schema["properties"]["messages"]["items"] = {}  # messages are validated one by one
    return Draft7Validator(schema)


@lru_cache(maxsize=1)
def _message_validator() -> Draft7Validator:
    return Draft7Validator(_model("schema_feed_json_listings_feed_message_v2.json"))


def decode_document(data: bytes) -> bytes:
    if data[:2] == b"\x1f\x8b":
        return gzip.decompress(data)
    return data


def _report_issue(message_id: int | None, sku: str | None, code: str, severity: str, message: str,
                  attribute: str | None = None) -> dict[str, Any]:
    issue: dict[str, Any] = {}
    if message_id is not None and isinstance(message_id, int) and message_id >= 1:
        issue["messageId"] = message_id
    if sku:
        issue["sku"] = sku
    issue.update({"code": code, "severity": severity, "message": message})
    if attribute:
        issue["attributeName"] = attribute
    return issue


def _fatal_listings_report(seller_id: str, feed_id: str, message: str, code: str = "4000005") -> dict[str, Any]:
    return {"header": {"sellerId": seller_id, "version": "2.0", "feedId": feed_id},
            "issues": [_report_issue(None, None, code, "ERROR", message)],
            "summary": {"errors": 1, "warnings": 0, "messagesProcessed": 0, "messagesAccepted": 0,
                        "messagesInvalid": 0}}


def process_json_listings_feed(feed: Feed, raw: bytes, *, seller_id: str, store: ListingStore, now: datetime,
                               reject_skus: set[str]) -> tuple[str, dict[str, Any]]:
    """Process a JSON_LISTINGS_FEED; returns (processingStatus, processing report)."""
    if len(raw) > MAX_FEED_BYTES:
        feed.document = f"<{len(raw)} bytes: over the 10 MiB limit, not parsed>"
        return "FATAL", _fatal_listings_report(seller_id, feed.feed_id,
                                               f"The feed document is {len(raw)} bytes; the limit is {MAX_FEED_BYTES} "
                                               "bytes (10 MiB). Split it into several feeds.")
    try:
        doc = json.loads(decode_document(raw).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, OSError) as exc:
        feed.document = raw[:2000].decode("utf-8", "replace")
        return "FATAL", _fatal_listings_report(seller_id, feed.feed_id,
                                               f"The feed document is not valid UTF-8 JSON: {exc}.")
    feed.document = doc
    header_errors = sorted(_feed_header_validator().iter_errors(doc), key=lambda e: list(e.absolute_path))
    if header_errors:
        e = header_errors[0]
        where = "/".join(str(p) for p in e.absolute_path) or "document"
        return "FATAL", _fatal_listings_report(seller_id, feed.feed_id,
                                               f"The feed document does not match the JSON_LISTINGS_FEED schema at "
                                               f"'{where}': {e.message[:300]}")
    header = doc["header"]
    if header["sellerId"] != seller_id:
        return "FATAL", _fatal_listings_report(seller_id, feed.feed_id,
                                               f"header.sellerId '{header['sellerId']}' does not match the selling "
                                               "partner that submitted the feed.")
    report_header: dict[str, Any] = {"sellerId": seller_id, "version": "2.0", "feedId": feed.feed_id}
    if "report" in header:
        report_header["report"] = header["report"]
    issues: list[dict[str, Any]] = []
    accepted = invalid = 0
    seen_ids: set[int] = set()
    item_skus: list[str] = []
    validator = _message_validator()
    for position, msg in enumerate(doc["messages"], start=1):
        mid = msg.get("messageId") if isinstance(msg, dict) else None
        sku = msg.get("sku") if isinstance(msg, dict) and isinstance(msg.get("sku"), str) else None
        msg_issues: list[dict[str, Any]] = []
        errors = sorted(validator.iter_errors(msg), key=lambda e: list(e.absolute_path))
        if errors:
            for e in errors[:5]:
                where = "/".join(str(p) for p in e.absolute_path) or f"messages[{position - 1}]"
                text = e.message if e.validator != "oneOf" else (
                    f"the fields of operationType '{msg.get('operationType')}' are not valid: UPDATE and "
                    "PARTIAL_UPDATE need productType and attributes, PATCH needs productType and patches, "
                    "DELETE takes neither")
                msg_issues.append(_report_issue(mid, sku, "4000004", "ERROR",
                                                f"Message {position} is invalid at '{where}': {text[:300]}"))
        elif mid in seen_ids:
            msg_issues.append(_report_issue(mid, sku, "4000006", "ERROR",
                                            f"messageId {mid} is used by more than one message in this feed."))
        elif sku in reject_skus:
            msg_issues.append(_report_issue(mid, sku, "8541", "ERROR",
                                            f"SKU {sku} was rejected by the sandbox (reject_skus): the listing "
                                            "could not be updated."))
        else:
            for marketplace_id in feed.marketplace_ids:
                msg_issues += _apply_message(msg, marketplace_id, store, now)
        if isinstance(mid, int):
            seen_ids.add(mid)
        # de-duplicate issues repeated across marketplaces
        unique: list[dict[str, Any]] = []
        for i in msg_issues:
            if i not in unique:
                unique.append(i)
        issues += unique
        if any(i["severity"] == "ERROR" for i in unique):
            invalid += 1
        else:
            accepted += 1
            if sku:
                item_skus.append(sku)
    report: dict[str, Any] = {
        "header": report_header,
        "issues": issues,
        "summary": {"errors": sum(1 for i in issues if i["severity"] == "ERROR"),
                    "warnings": sum(1 for i in issues if i["severity"] == "WARNING"),
                    "messagesProcessed": len(doc["messages"]), "messagesAccepted": accepted,
                    "messagesInvalid": invalid},
    }
    if "report" in header:
        included = header["report"]["includedData"]
        items = []
        for sku in dict.fromkeys(item_skus):
            listing = store.get(sku, feed.marketplace_ids[0])
            if listing is not None:
                items.append(listing.to_item(included))
        report["items"] = items
        report["summary"]["itemSummary"] = {
            "items": len(items),
            "errors": sum(1 for it in items for i in it.get("issues", []) if i["severity"] == "ERROR"),
            "warnings": sum(1 for it in items for i in it.get("issues", []) if i["severity"] == "WARNING")}
    return "DONE", report


def _to_report_issues(mid: int, sku: str, issues: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for i in issues:
        names = i.get("attributeNames") or [None]
        out.append(_report_issue(mid, sku, i["code"], i["severity"], i["message"], names[0]))
    return out


def _apply_message(msg: dict[str, Any], marketplace_id: str, store: ListingStore, now: datetime) -> list[dict[str, Any]]:
    mid, sku, op = msg["messageId"], msg["sku"], msg["operationType"]
    existing = store.get(sku, marketplace_id)
    if op == "DELETE":
        if existing is None:
            return [_report_issue(mid, sku, "4000007", "WARNING",
                                  f"There is no listing for SKU {sku} in marketplace {marketplace_id} to delete.")]
        store.delete(sku, marketplace_id)
        return []
    ptype = msg["productType"]
    if op in ("PATCH", "PARTIAL_UPDATE"):
        if existing is None:
            return [_report_issue(mid, sku, "4000003", "ERROR",
                                  f"SKU {sku} has no listing in marketplace {marketplace_id}; {op} only changes an "
                                  "existing listing. Send an UPDATE message to create it.")]
        if ptype == "PRODUCT" and op == "PATCH":
            ptype = existing.product_type  # Amazon accepts the generic PRODUCT type for offer-only patches
        if existing.product_type != ptype:
            return [_report_issue(mid, sku, "4000008", "ERROR",
                                  f"productType '{ptype}' does not match the listing's product type "
                                  f"'{existing.product_type}'.")]
    if op == "UPDATE":
        requirements = msg.get("requirements", "LISTING")
        issues = pt.validate_attributes(ptype, marketplace_id, msg["attributes"], requirements=requirements,
                                        enforced=True)
        report_issues = _to_report_issues(mid, sku, issues)
        if not any(i["severity"] == "ERROR" for i in issues):
            store.put(sku, marketplace_id, ptype, msg["attributes"], now, issues)
        return report_issues
    assert existing is not None
    if op == "PARTIAL_UPDATE":
        issues = pt.validate_attributes(ptype, marketplace_id, msg["attributes"], enforced=False)
        merged = dict(existing.attributes)
        merged.update(copy.deepcopy(msg["attributes"]))
    else:  # PATCH
        try:
            merged, touched = apply_patches(existing.attributes, msg["patches"], product_type=ptype,
                                            marketplace_id=marketplace_id)
        except PatchError as exc:
            return [_report_issue(mid, sku, "4000009", "ERROR", str(exc), exc.attribute)]
        issues = pt.validate_attributes(ptype, marketplace_id, {k: v for k, v in merged.items() if k in touched},
                                        enforced=False)
    report_issues = _to_report_issues(mid, sku, issues)
    if not any(i["severity"] == "ERROR" for i in issues):
        store.put(sku, marketplace_id, ptype, merged, now, existing.issues + issues)
    return report_issues


# --- order acknowledgements ----------------------------------------------------------------------

@dataclass
class Acknowledgement:
    order_id: str
    merchant_order_id: str | None
    status_code: str
    items: list[dict[str, str]]
    feed_id: str
    received: datetime

    def to_state(self) -> dict[str, Any]:
        return {"orderId": self.order_id, "merchantOrderId": self.merchant_order_id, "statusCode": self.status_code,
                "items": self.items, "feedId": self.feed_id, "receivedTime": iso(self.received)}


def _text(el: ET.Element | None, tag: str) -> str | None:
    if el is None:
        return None
    child = el.find(tag)
    return child.text.strip() if child is not None and child.text else None


def parse_acknowledgements(raw: bytes) -> tuple[list[dict[str, Any]], Any]:
    """Parse the XML envelope or the flat file into message dicts; returns (messages, parsed document)."""
    text = decode_document(raw).decode("utf-8-sig")
    stripped = text.lstrip()
    messages: list[dict[str, Any]] = []
    if stripped.startswith("<"):
        root = ET.fromstring(stripped)
        if root.tag != "AmazonEnvelope":
            raise ValueError(f"the XML root element is <{root.tag}>, expected <AmazonEnvelope>")
        mtype = _text(root, "MessageType")
        if mtype != "OrderAcknowledgement":
            raise ValueError(f"MessageType is {mtype!r}, expected 'OrderAcknowledgement'")
        for n, msg in enumerate(root.findall("Message"), start=1):
            ack = msg.find("OrderAcknowledgement")
            mid_text = _text(msg, "MessageID")
            messages.append({
                "messageId": int(mid_text) if mid_text and mid_text.isdigit() else n,
                "orderId": _text(ack, "AmazonOrderID"), "merchantOrderId": _text(ack, "MerchantOrderID"),
                "statusCode": _text(ack, "StatusCode"),
                "items": [{"orderItemId": _text(it, "AmazonOrderItemCode") or "",
                           "merchantOrderItemId": _text(it, "MerchantOrderItemID") or ""}
                          for it in (ack.findall("Item") if ack is not None else [])]})
        return messages, {"format": "xml", "messages": messages}
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise ValueError("the document is empty")
    header = [h.strip().lower() for h in lines[0].split("\t")]
    if "order-id" not in header:
        raise ValueError("the flat file header must contain 'order-id' (and 'merchant-order-id'); "
                         f"got {header}")
    for n, line in enumerate(lines[1:], start=1):
        row = dict(zip(header, (c.strip() for c in line.split("\t")), strict=False))
        items = []
        if row.get("order-item-id"):
            items.append({"orderItemId": row["order-item-id"], "merchantOrderItemId": row.get("merchant-order-item-id", "")})
        messages.append({"messageId": n, "orderId": row.get("order-id"), "merchantOrderId": row.get("merchant-order-id") or None,
                         "statusCode": row.get("status-code") or "Success", "items": items})
    return messages, {"format": "flat-file", "messages": messages}


def _xml_report(feed_id: str, seller_id: str, processed: int, ok: int, errors: list[tuple[int, str]]) -> str:
    env = ET.Element("AmazonEnvelope")
    head = ET.SubElement(env, "Header")
    ET.SubElement(head, "DocumentVersion").text = "1.02"
    ET.SubElement(head, "MerchantIdentifier").text = seller_id
    ET.SubElement(env, "MessageType").text = "ProcessingReport"
    msg = ET.SubElement(env, "Message")
    ET.SubElement(msg, "MessageID").text = "1"
    rep = ET.SubElement(msg, "ProcessingReport")
    ET.SubElement(rep, "DocumentTransactionID").text = feed_id
    ET.SubElement(rep, "StatusCode").text = "Complete"
    summ = ET.SubElement(rep, "ProcessingSummary")
    ET.SubElement(summ, "MessagesProcessed").text = str(processed)
    ET.SubElement(summ, "MessagesSuccessful").text = str(ok)
    ET.SubElement(summ, "MessagesWithError").text = str(len({m for m, _ in errors}))
    ET.SubElement(summ, "MessagesWithWarning").text = "0"
    for mid, text in errors:
        res = ET.SubElement(rep, "Result")
        ET.SubElement(res, "MessageID").text = str(mid)
        ET.SubElement(res, "ResultCode").text = "Error"
        ET.SubElement(res, "ResultMessageCode").text = "25"
        ET.SubElement(res, "ResultDescription").text = text
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(env, encoding="unicode")


def process_order_acknowledgements(feed: Feed, raw: bytes, *, seller_id: str, orders: dict[str, Order],
                                   now: datetime, cancel: Callable[[Order, datetime], None]
                                   ) -> tuple[str, str, list[Acknowledgement]]:
    """Returns (processingStatus, XML processing report, acknowledgements recorded)."""
    try:
        messages, parsed = parse_acknowledgements(raw)
    except (ValueError, ET.ParseError, UnicodeDecodeError, OSError) as exc:
        feed.document = raw[:2000].decode("utf-8", "replace")
        return "FATAL", _xml_report(feed.feed_id, seller_id, 0, 0, [(0, f"The document could not be parsed: {exc}")]), []
    feed.document = parsed
    errors: list[tuple[int, str]] = []
    acks: list[Acknowledgement] = []
    ok = 0
    for m in messages:
        mid = m["messageId"]
        order = orders.get(m["orderId"] or "")
        if order is None or not order.visible(now):
            errors.append((mid, f"AmazonOrderID {m['orderId']!r} was not found."))
            continue
        if catalog.MARKETPLACES[order.marketplace].marketplace_id not in feed.marketplace_ids:
            errors.append((mid, f"Order {order.order_id} does not belong to the feed's marketplace(s)."))
            continue
        known_items = {ln.order_item_id for ln in order.lines}
        bad = [it["orderItemId"] for it in m["items"] if it["orderItemId"] and it["orderItemId"] not in known_items]
        if bad:
            errors.append((mid, f"AmazonOrderItemCode {bad[0]} is not an item of order {order.order_id}."))
            continue
        status = m["statusCode"]
        if status not in ("Success", "Failure"):
            errors.append((mid, f"StatusCode {status!r} must be Success or Failure."))
            continue
        if status == "Failure":
            if order.fulfilled_by != "MERCHANT" or order.status_at(now) not in ("PENDING", "UNSHIPPED"):
                errors.append((mid, f"Order {order.order_id} cannot be cancelled in status {order.status_at(now)}."))
                continue
            cancel(order, now)
        elif m["merchantOrderId"]:
            order.seller_order_id = m["merchantOrderId"]
        acks.append(Acknowledgement(order.order_id, m["merchantOrderId"], status, m["items"], feed.feed_id, now))
        ok += 1
    return "DONE", _xml_report(feed.feed_id, seller_id, len(messages), ok, errors), acks
