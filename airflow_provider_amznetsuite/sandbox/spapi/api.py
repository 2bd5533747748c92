"""SP-API operation handlers of the sandbox (HTTP plumbing, auth, limits and faults live in server.py)."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from airflow_provider_amznetsuite.sandbox import catalog
from airflow_provider_amznetsuite.sandbox.spapi import feeds as feedmod
from airflow_provider_amznetsuite.sandbox.spapi import product_types as pt
from airflow_provider_amznetsuite.sandbox.spapi.listings import LISTING_INCLUDED_DATA, PatchError, apply_patches
from airflow_provider_amznetsuite.sandbox.spapi.marketplaces import LISTING_BY_ID
from airflow_provider_amznetsuite.sandbox.spapi.orders import FULFILLMENT_STATUSES, INCLUDED_DATA, Package
from airflow_provider_amznetsuite.sandbox.spapi.reports import ORDER_REPORT_TYPES, SETTLEMENT_TYPES
from airflow_provider_amznetsuite.sandbox.spapi.state import Cursor
from airflow_provider_amznetsuite.sandbox.spapi.util import ApiError, invalid, iso, not_found, parse_iso

if TYPE_CHECKING:
    from airflow_provider_amznetsuite.sandbox.spapi.server import SpApiSandbox

PRESIGNED_SECONDS = 300  # presigned document URLs are valid 5 minutes
SEARCH_TOKEN_SECONDS = 24 * 3600  # Orders v2026 paginationToken lifetime (time-scaled)
INVENTORY_TOKEN_SECONDS = 30  # FBA inventory nextToken lifetime (time-scaled)
INVENTORY_TOKEN_MIN_REAL_SECONDS = 2.0  # ...but never shorter than this in real time (loaded test machines)
VALID_CARRIERS = frozenset({
    "Amazon Shipping", "Amazon Logistics", "Royal Mail", "Parcelforce", "DPD", "DPD UK", "Evri", "Hermes", "Yodel",
    "DHL", "DHL Express", "DHL Parcel UK", "Deutsche Post", "GLS", "UPS", "UPS Mail Innovations", "USPS", "FedEx",
    "FedEx SmartPost", "OnTrac", "Other",
})


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Mapping[str, str]
    body: bytes
    params: dict[str, str] = field(default_factory=dict)
    base_url: str = ""

    def q(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None

    def qlist(self, name: str) -> list[str] | None:
        values = self.query.get(name)
        if not values:
            return None
        return [p.strip() for v in values for p in v.split(",") if p.strip()]

    def json_body(self) -> Any:
        if not self.body:
            raise invalid("The request body is missing; send a JSON object.")
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise invalid(f"The request body is not valid JSON: {exc}.") from None


@dataclass
class Response:
    status: int
    body: Any = None  # dict / list -> JSON; bytes / str -> as is; None -> empty
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


def _int(value: str | None, name: str, default: int, lo: int, hi: int) -> int:
    if value is None:
        return default
    try:
        n = int(value)
    except ValueError:
        raise invalid(f"{name} must be an integer between {lo} and {hi}, got {value!r}.") from None
    if not lo <= n <= hi:
        raise invalid(f"{name} must be between {lo} and {hi}, got {n}.")
    return n


def _time(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_iso(value)
    except ValueError:
        raise invalid(f"{name} {value!r} is not a valid ISO 8601 date-time (e.g. 2026-01-01T00:00:00Z).") from None


def _marketplace_ids(values: list[str] | None, name: str = "marketplaceIds", *, required: bool = False,
                     max_items: int = 50, listings: bool = False) -> list[str] | None:
    """Validate marketplace ids; ``listings=True`` also accepts the listing-only marketplaces (Amazon JP) for
    listings, feeds and product type definitions."""
    known = LISTING_BY_ID if listings else catalog.BY_MARKETPLACE_ID
    if not values:
        if required:
            raise invalid(f"{name} is required.")
        return None
    if len(values) > max_items:
        raise invalid(f"{name} accepts at most {max_items} values, got {len(values)}.")
    for m in values:
        if m not in known:
            raise invalid(f"{name} value {m!r} is not a marketplace of this selling partner.",
                          f"Known marketplaces: {', '.join(sorted(known))}")
    return values


def _enum_list(values: list[str] | None, name: str, allowed: frozenset[str] | tuple[str, ...]) -> list[str] | None:
    if values is None:
        return None
    for v in values:
        if v not in allowed:
            raise invalid(f"{name} value {v!r} is not one of {', '.join(sorted(allowed))}.")
    return values


class Api:
    def __init__(self, sandbox: SpApiSandbox) -> None:
        self.sb = sandbox
        self.state = sandbox.state
        self.clock = sandbox.clock
        self._secret = hashlib.sha256(f"presign-{sandbox.seed}".encode()).digest()

    # --- presigned document URLs ---------------------------------------------------------------
    def _sign(self, method: str, doc_id: str, expires: int, ce: str) -> str:
        return hmac.new(self._secret, f"{method}|{doc_id}|{expires}|{ce}".encode(), hashlib.sha256).hexdigest()

    def presign(self, req: Request, method: str, doc_id: str, *, content_encoding: bool = False) -> str:
        expires = int(time.time()) + PRESIGNED_SECONDS
        ce = "1" if content_encoding else "0"
        sig = self._sign(method, doc_id, expires, ce)
        return (f"{req.base_url}/_docs/{quote(doc_id)}?X-Amz-Expires={PRESIGNED_SECONDS}&Expires={expires}"
                f"&ce={ce}&X-Amz-Signature={sig}")

    @staticmethod
    def _s3_error(status: int, code: str, message: str) -> Response:
        body = f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>'
        return Response(status, body.encode(), content_type="application/xml")

    def _check_presigned(self, req: Request, method: str) -> tuple[feedmod.Document | None, Response | None]:
        doc_id = req.params["docId"]
        expires, sig, ce = req.q("Expires"), req.q("X-Amz-Signature"), req.q("ce") or "0"
        if not expires or not sig or not expires.isdigit():
            return None, self._s3_error(403, "AccessDenied", "Query-string authentication requires the Signature "
                                                             "and Expires parameters")
        if not hmac.compare_digest(sig, self._sign(method, doc_id, int(expires), ce)):
            return None, self._s3_error(403, "SignatureDoesNotMatch", "The request signature we calculated does not "
                                                                      "match the signature you provided.")
        if int(expires) < time.time():
            return None, self._s3_error(403, "AccessDenied", "Request has expired")
        doc = self.state.documents.get(doc_id)
        if doc is None:
            return None, self._s3_error(404, "NoSuchKey", "The specified key does not exist.")
        return doc, None

    def upload_document(self, req: Request) -> Response:
        with self.state.lock:
            doc, err = self._check_presigned(req, "PUT")
            if err:
                return err
            assert doc is not None
            if doc.purpose != "feed-input":
                return self._s3_error(403, "AccessDenied", "This document cannot be written.")
            sent = (req.headers.get("Content-Type") or "").replace(" ", "").lower()
            if sent != doc.content_type.replace(" ", "").lower():
                return self._s3_error(403, "SignatureDoesNotMatch",
                                      "The Content-Type of the upload must be the contentType given to "
                                      "createFeedDocument")
            doc.data = req.body
            doc.content_encoding_upload = req.headers.get("Content-Encoding")
            etag = hashlib.md5(req.body).hexdigest()
        return Response(200, b"", headers={"ETag": f'"{etag}"'}, content_type="text/plain")

    def download_document(self, req: Request) -> Response:
        with self.state.lock:
            doc, err = self._check_presigned(req, "GET")
            if err:
                return err
            assert doc is not None
            if doc.data is None:
                return self._s3_error(404, "NoSuchKey", "The document has no content yet.")
            headers = {}
            if req.q("ce") == "1" and doc.compression == "GZIP":
                headers["Content-Encoding"] = "gzip"
            return Response(200, doc.data, headers=headers, content_type=doc.content_type)

    # --- Orders v2026-01-01 ------------------------------------------------------------------------
    def _included(self, req: Request) -> list[str]:
        return _enum_list(req.qlist("includedData"), "includedData", INCLUDED_DATA) or []

    def search_orders(self, req: Request) -> Response:
        now = self.clock.now()
        token = req.q("paginationToken")
        with self.state.lock:
            if token:
                cursor = self._cursor(token, "searchOrders", "paginationToken")
                ids, included, offset, size = (cursor.data["ids"], cursor.data["included"], cursor.data["offset"],
                                               cursor.data["size"])
                before_key, before = cursor.data["before_key"], cursor.data["before"]
                del self.state.cursors[token]
            else:
                included = self._included(req)
                size = _int(req.q("maxResultsPerPage"), "maxResultsPerPage", 100, 1, 100)
                ca, cb = _time(req.q("createdAfter"), "createdAfter"), _time(req.q("createdBefore"), "createdBefore")
                la, lb = (_time(req.q("lastUpdatedAfter"), "lastUpdatedAfter"),
                          _time(req.q("lastUpdatedBefore"), "lastUpdatedBefore"))
                if (ca is None) == (la is None):
                    raise invalid("Exactly one of createdAfter or lastUpdatedAfter must be specified.")
                if (ca is not None and lb is not None) or (la is not None and cb is not None):
                    raise invalid("createdAfter/createdBefore cannot be combined with lastUpdatedAfter/lastUpdatedBefore.")
                by_created = ca is not None
                after = ca if by_created else la
                before_given = cb if by_created else lb
                limit = now - timedelta(minutes=2)
                name = "createdBefore" if by_created else "lastUpdatedBefore"
                if before_given is not None and before_given > limit:
                    raise invalid(f"{name} must be at least 2 minutes before the current time.",
                                  f"{name}={iso(before_given)}; the latest accepted value now is {iso(limit)}.")
                before = before_given or limit
                assert after is not None
                if after > before:
                    raise invalid(f"{'createdAfter' if by_created else 'lastUpdatedAfter'} must not be after {name}.")
                mids = set(_marketplace_ids(req.qlist("marketplaceIds")) or catalog.BY_MARKETPLACE_ID)
                statuses = _enum_list(req.qlist("fulfillmentStatuses"), "fulfillmentStatuses", FULFILLMENT_STATUSES)
                by = _enum_list(req.qlist("fulfilledBy"), "fulfilledBy", ("MERCHANT", "AMAZON"))
                matches: list[tuple[datetime, str]] = []
                for o in self.state.orders.values():
                    if not o.visible(now) or o.mp.marketplace_id not in mids:
                        continue
                    t = o.created if by_created else o.last_updated(now)
                    if not (after <= t <= before):
                        continue
                    if statuses and o.status_at(now) not in statuses:
                        continue
                    if by and o.fulfilled_by not in by:
                        continue
                    matches.append((t, o.order_id))
                matches.sort()
                ids = [oid for _, oid in matches]
                offset = 0
                before_key = "createdBefore" if by_created else "lastUpdatedBefore"
                before = iso(before)
            page = ids[offset:offset + size]
            body: dict[str, Any] = {"orders": [self.state.orders[oid].to_json(now, included) for oid in page]}
            if offset + size < len(ids):
                nxt = self.state.new_token()
                self.state.cursors[nxt] = Cursor("searchOrders", self.clock.mono() + self.clock.scaled(SEARCH_TOKEN_SECONDS),
                                                 {"ids": ids, "included": included, "offset": offset + size,
                                                  "size": size, "before_key": before_key, "before": before})
                body["pagination"] = {"nextToken": nxt}
            body[before_key] = before
        return Response(200, body)

    def _cursor(self, token: str, kind: str, name: str) -> Cursor:
        cursor = self.state.cursors.get(token)
        if cursor is None or cursor.kind != kind:
            raise invalid(f"The {name} is not valid.", f"{name} values are single-use and expire.")
        if cursor.expires_mono is not None and self.clock.mono() > cursor.expires_mono:
            del self.state.cursors[token]
            raise invalid(f"The {name} has expired.", "Start the listing again without the token.")
        return cursor

    def expire_cursor(self, req: Request) -> bool:
        """Fault 'expired_pagination': the token carried by the request expires now."""
        for name in ("paginationToken", "nextToken"):
            token = req.q(name)
            if token:
                with self.state.lock:
                    cursor = self.state.cursors.get(token)
                    if cursor is not None:
                        cursor.expires_mono = float("-inf")
                return True
        return False

    def get_order(self, req: Request) -> Response:
        now = self.clock.now()
        included = self._included(req)
        with self.state.lock:
            order = self.state.orders.get(req.params["orderId"])
            if order is None or not order.visible(now):
                raise not_found(f"Order {req.params['orderId']} was not found.")
            return Response(200, {"order": order.to_json(now, included)})

    # --- Orders v0 confirmShipment -----------------------------------------------------------------
    def confirm_shipment(self, req: Request) -> Response:
        now = self.clock.now()
        body = req.json_body()
        if not isinstance(body, dict):
            raise invalid("The request body must be a ConfirmShipmentRequest object.")
        with self.state.lock:
            order = self.state.orders.get(req.params["orderId"])
            if order is None or not order.visible(now):
                raise not_found(f"Order {req.params['orderId']} was not found.")
            mid = body.get("marketplaceId")
            if not mid:
                raise invalid("marketplaceId is required.")
            if mid != order.mp.marketplace_id:
                raise invalid(f"marketplaceId {mid} does not match the order's marketplace {order.mp.marketplace_id}.")
            pd = body.get("packageDetail")
            if not isinstance(pd, dict):
                raise invalid("packageDetail is required.")
            for key in ("packageReferenceId", "carrierCode", "trackingNumber", "shipDate", "orderItems"):
                if pd.get(key) in (None, "", []):
                    raise invalid(f"packageDetail.{key} is required.")
            carrier = pd["carrierCode"]
            if carrier not in VALID_CARRIERS:
                raise invalid(f"packageDetail.carrierCode {carrier!r} is not a valid carrier code.",
                              "Use a carrier code from Amazon's list, or 'Other' with carrierName.")
            if carrier == "Other" and not pd.get("carrierName"):
                raise invalid("packageDetail.carrierName is required when carrierCode is 'Other'.")
            ship_date = _time(str(pd["shipDate"]), "packageDetail.shipDate")
            assert ship_date is not None
            if order.fulfilled_by != "MERCHANT":
                raise invalid(f"Order {order.order_id} is fulfilled by Amazon; shipment confirmation is only for "
                              "seller-fulfilled orders.")
            status = order.status_at(now)
            if status not in ("UNSHIPPED", "PARTIALLY_SHIPPED", "SHIPPED"):
                raise invalid(f"Order {order.order_id} is {status}; only paid, not cancelled orders can be confirmed.")
            ref = str(pd["packageReferenceId"])
            others = [p for p in order.packages if p.package_reference_id != ref]
            used: dict[str, int] = {}
            for p in others:
                for item_id, qty in p.items:
                    used[item_id] = used.get(item_id, 0) + qty
            lines = {ln.order_item_id: ln for ln in order.active_lines(now)}
            items: list[tuple[str, int]] = []
            for n, it in enumerate(pd["orderItems"]):
                item_id = str(it.get("orderItemId", "")) if isinstance(it, dict) else ""
                qty = it.get("quantity") if isinstance(it, dict) else None
                if item_id not in lines:
                    raise invalid(f"packageDetail.orderItems[{n}].orderItemId {item_id!r} is not an open item of "
                                  f"order {order.order_id}.")
                if not isinstance(qty, int) or qty < 1:
                    raise invalid(f"packageDetail.orderItems[{n}].quantity must be a positive integer.")
                used[item_id] = used.get(item_id, 0) + qty
                if used[item_id] > lines[item_id].quantity:
                    raise invalid(f"packageDetail.orderItems[{n}]: quantity {qty} exceeds the unshipped quantity of "
                                  f"item {item_id}.")
                items.append((item_id, qty))
            package = Package(ref, now, ship_date, carrier, pd.get("shippingMethod"), str(pd["trackingNumber"]), items,
                              carrier_name=pd.get("carrierName"), ship_from_supply_source_id=pd.get("shipFromSupplySourceId"))
            replaced = len(others) < len(order.packages)
            order.packages = others + [package]
            self.state.confirmations.append({"orderId": order.order_id, "marketplaceId": mid, "packageDetail": pd,
                                             "receivedTime": iso(now), "replacedPackage": replaced,
                                             "orderStatus": order.status_at(now)})
        return Response(204)

    # --- Feeds 2021-06-30 --------------------------------------------------------------------------
    def create_feed_document(self, req: Request) -> Response:
        body = req.json_body()
        if not isinstance(body, dict) or not isinstance(body.get("contentType"), str) or not body["contentType"]:
            raise invalid("contentType is required.")
        with self.state.lock:
            doc = self.state.add_document("feed-input", body["contentType"])
            url = self.presign(req, "PUT", doc.doc_id)
        return Response(201, {"feedDocumentId": doc.doc_id, "url": url})

    def create_feed(self, req: Request) -> Response:
        body = req.json_body()
        if not isinstance(body, dict):
            raise invalid("The request body must be a CreateFeedSpecification object.")
        feed_type = body.get("feedType")
        if not isinstance(feed_type, str) or not feed_type:
            raise invalid("feedType is required.")
        mids = body.get("marketplaceIds")
        if not isinstance(mids, list) or not mids:
            raise invalid("marketplaceIds is required (1 to 25 marketplace ids).")
        _marketplace_ids(mids, max_items=25, listings=True)
        doc_id = body.get("inputFeedDocumentId")
        if not isinstance(doc_id, str) or not doc_id:
            raise invalid("inputFeedDocumentId is required.")
        options = body.get("feedOptions") or {}
        if not isinstance(options, dict) or not all(isinstance(v, str) for v in options.values()):
            raise invalid("feedOptions must be an object of string values.")
        if feed_type not in feedmod.SUPPORTED_FEED_TYPES | feedmod.DEPRECATED_FEED_TYPES:
            raise invalid(f"feedType {feed_type!r} is not supported by the sandbox.",
                          f"Supported: {', '.join(sorted(feedmod.SUPPORTED_FEED_TYPES))}.")
        with self.state.lock:
            doc = self.state.documents.get(doc_id)
            if doc is None or doc.purpose != "feed-input":
                raise invalid(f"inputFeedDocumentId {doc_id!r} is not a feed document of this selling partner.")
            if doc.data is None:
                raise invalid(f"Feed document {doc_id} has no content: upload it to the URL from createFeedDocument "
                              "before calling createFeed.")
            region = LISTING_BY_ID[mids[0]].region
            if not self.sb.limiter.acquire_feed_type(feed_type, region):
                raise ApiError(429, "QuotaExceeded", "You exceeded your quota for the requested resource.",
                               f"The {feed_type} feed type accepts at most 5 feeds per 5 minutes per region.")
            feed = feedmod.Feed(feed_id=self.state.next_feed_id(), feed_type=feed_type, marketplace_ids=list(mids),
                                input_document_id=doc_id, created=self.clock.now(), created_mono=self.clock.mono(),
                                options=dict(options))
            self.state.feeds[feed.feed_id] = feed
        return Response(202, {"feedId": feed.feed_id})

    def get_feed(self, req: Request) -> Response:
        with self.state.lock:
            self.state.tick()
            feed = self.state.feeds.get(req.params["feedId"])
            if feed is None:
                raise not_found(f"Feed {req.params['feedId']} was not found.")
            return Response(200, feed.to_json())

    def cancel_feed(self, req: Request) -> Response:
        with self.state.lock:
            self.state.tick()
            feed = self.state.feeds.get(req.params["feedId"])
            if feed is None:
                raise not_found(f"Feed {req.params['feedId']} was not found.")
            if feed.status != "IN_QUEUE":
                raise invalid(f"Feed {feed.feed_id} is {feed.status}; only feeds IN_QUEUE can be cancelled.")
            feed.status = "CANCELLED"
            feed.ended = self.clock.now()
        return Response(200)

    def get_feeds(self, req: Request) -> Response:
        return self._list_records(req, kind="getFeeds", type_param="feedTypes", records="feeds")

    def _list_records(self, req: Request, *, kind: str, type_param: str, records: str) -> Response:
        now = self.clock.now()
        token = req.q("nextToken")
        with self.state.lock:
            self.state.tick()
            if token:
                extra = sorted(k for k in req.query if k != "nextToken")
                if extra:
                    raise invalid(f"nextToken must be the only parameter; also got {', '.join(extra)}.")
                cursor = self._cursor(token, kind, "nextToken")
                del self.state.cursors[token]
                ids, offset, size = cursor.data["ids"], cursor.data["offset"], cursor.data["size"]
            else:
                types = req.qlist(type_param)
                if not types:
                    raise invalid(f"Either {type_param} or nextToken is required.")
                if len(types) > 10:
                    raise invalid(f"{type_param} accepts 1 to 10 values.")
                size = _int(req.q("pageSize"), "pageSize", 10, 1, 100)
                statuses = _enum_list(req.qlist("processingStatuses"), "processingStatuses",
                                      ("CANCELLED", "DONE", "FATAL", "IN_PROGRESS", "IN_QUEUE"))
                mids = _marketplace_ids(req.qlist("marketplaceIds"), max_items=10, listings=kind == "getFeeds")
                since = _time(req.q("createdSince"), "createdSince") or now - timedelta(days=90)
                until = _time(req.q("createdUntil"), "createdUntil") or now
                if since > until:
                    raise invalid("createdSince must be before createdUntil.")
                store = self.state.feeds if records == "feeds" else self.state.reports
                chosen = []
                for rec in store.values():
                    rtype = rec.feed_type if records == "feeds" else rec.report_type  # type: ignore[union-attr]
                    if rtype not in types or not (since <= rec.created <= until):
                        continue
                    if statuses and rec.status not in statuses:
                        continue
                    if mids and not set(mids) & set(rec.marketplace_ids):
                        continue
                    chosen.append(rec)
                chosen.sort(key=lambda r: r.created, reverse=True)
                ids = [r.feed_id if records == "feeds" else r.report_id for r in chosen]  # type: ignore[union-attr]
                offset = 0
            store = self.state.feeds if records == "feeds" else self.state.reports
            body: dict[str, Any] = {records: [store[i].to_json() for i in ids[offset:offset + size]]}
            if offset + size < len(ids):
                nxt = self.state.new_token()
                self.state.cursors[nxt] = Cursor(kind, None, {"ids": ids, "offset": offset + size, "size": size})
                body["nextToken"] = nxt
        return Response(200, body)

    def get_feed_document(self, req: Request) -> Response:
        with self.state.lock:
            self.state.tick()
            doc = self.state.documents.get(req.params["feedDocumentId"])
            if doc is None or doc.purpose not in ("feed-input", "feed-result"):
                raise not_found(f"Feed document {req.params['feedDocumentId']} was not found.")
            ce = (req.q("enableContentEncodingUrlHeader") or "").lower() == "true"
            body: dict[str, Any] = {"feedDocumentId": doc.doc_id, "url": self.presign(req, "GET", doc.doc_id,
                                                                                      content_encoding=ce)}
            if doc.compression:
                body["compressionAlgorithm"] = doc.compression
        return Response(200, body)

    # --- Listings Items 2021-08-01 -------------------------------------------------------------------
    def _listing_args(self, req: Request, *, mode_allowed: bool = True) -> tuple[str, str, bool]:
        if req.params["sellerId"] != self.state.seller_id:
            raise ApiError(403, "Unauthorized", "Access to requested resource is denied.",
                           "The sellerId does not match the selling partner of the access token.")
        mids = _marketplace_ids(req.qlist("marketplaceIds"), required=True, max_items=1, listings=True)
        assert mids is not None
        mode = req.q("mode")
        if mode is not None and (mode != "VALIDATION_PREVIEW" or not mode_allowed):
            raise invalid(f"mode {mode!r} is not supported; the only mode is VALIDATION_PREVIEW.")
        return req.params["sku"], mids[0], mode == "VALIDATION_PREVIEW"

    def _submission(self, sku: str, status: str, issues: list[dict[str, Any]], *, identifiers: bool = False,
                    marketplace_id: str = "") -> Response:
        sid = hashlib.sha1(f"{sku}|{self.clock.mono()}|{len(self.state.listing_submissions)}".encode()).hexdigest()
        body: dict[str, Any] = {"sku": sku, "status": status, "submissionId": sid, "issues": issues}
        if identifiers and status == "ACCEPTED":
            listing = self.state.listings.get(sku, marketplace_id)
            if listing is not None:
                body["identifiers"] = [{"marketplaceId": marketplace_id, "asin": listing.asin}]
        self.state.listing_submissions.append({"sku": sku, "status": status, "submissionId": sid,
                                               "marketplaceId": marketplace_id, "issues": issues})
        return Response(200, body)

    def _listing_status(self, issues: list[dict[str, Any]], preview: bool) -> str:
        if any(i["severity"] == "ERROR" for i in issues):
            return "INVALID"
        return "VALID" if preview else "ACCEPTED"

    def _rejected(self, sku: str) -> list[dict[str, Any]]:
        if sku in self.state.reject_skus:
            return [{"code": "8541", "message": f"SKU {sku} was rejected by the sandbox (reject_skus).",
                     "severity": "ERROR", "categories": ["INVALID_ATTRIBUTE"]}]
        return []

    def put_listing(self, req: Request) -> Response:
        sku, mid, preview = self._listing_args(req)
        body = req.json_body()
        if not isinstance(body, dict) or not isinstance(body.get("productType"), str) \
                or not isinstance(body.get("attributes"), dict):
            raise invalid("The body must be a ListingsItemPutRequest with productType and attributes.")
        requirements = body.get("requirements", "LISTING")
        if requirements not in pt.REQUIREMENTS:
            raise invalid(f"requirements must be one of {', '.join(pt.REQUIREMENTS)}.")
        included = req.qlist("includedData") or []
        with self.state.lock:
            issues = self._rejected(sku) or pt.validate_attributes(body["productType"], mid, body["attributes"],
                                                                   requirements=requirements, enforced=True)
            status = self._listing_status(issues, preview)
            if status == "ACCEPTED":
                self.state.listings.put(sku, mid, body["productType"], body["attributes"], self.clock.now(), issues)
            return self._submission(sku, status, issues, identifiers="identifiers" in included, marketplace_id=mid)

    def patch_listing(self, req: Request) -> Response:
        sku, mid, preview = self._listing_args(req)
        body = req.json_body()
        if not isinstance(body, dict) or not isinstance(body.get("productType"), str) \
                or not isinstance(body.get("patches"), list) or not body["patches"]:
            raise invalid("The body must be a ListingsItemPatchRequest with productType and at least one patch.")
        included = req.qlist("includedData") or []
        with self.state.lock:
            existing = self.state.listings.get(sku, mid)
            issues = self._rejected(sku)
            if not issues and existing is None:
                issues = [{"code": "4000003", "message": f"SKU {sku} has no listing in marketplace {mid}; PATCH only "
                                                         "changes existing listings (use PUT to create one).",
                           "severity": "ERROR", "categories": ["INVALID_ATTRIBUTE"]}]
            if not issues:
                assert existing is not None
                # Amazon accepts the generic PRODUCT type for patches of offer attributes
                ptype = existing.product_type if body["productType"] == "PRODUCT" else body["productType"]
                try:
                    merged, touched = apply_patches(existing.attributes, body["patches"],
                                                    product_type=ptype, marketplace_id=mid)
                    issues = pt.validate_attributes(ptype, mid,
                                                    {k: v for k, v in merged.items() if k in touched}, enforced=False)
                except PatchError as exc:
                    issues = [{"code": "4000009", "message": str(exc), "severity": "ERROR",
                               "categories": ["INVALID_ATTRIBUTE"], **({"attributeNames": [exc.attribute]}
                                                                       if exc.attribute else {})}]
                status = self._listing_status(issues, preview)
                if status == "ACCEPTED":
                    self.state.listings.put(sku, mid, existing.product_type, merged, self.clock.now(),
                                            existing.issues + issues)
            else:
                status = "INVALID"
            return self._submission(sku, status, issues, identifiers="identifiers" in included, marketplace_id=mid)

    def delete_listing(self, req: Request) -> Response:
        sku, mid, _ = self._listing_args(req, mode_allowed=False)
        with self.state.lock:
            self.state.listings.delete(sku, mid)
            return self._submission(sku, "ACCEPTED", [], marketplace_id=mid)

    def get_listing(self, req: Request) -> Response:
        sku, mid, _ = self._listing_args(req, mode_allowed=False)
        included = _enum_list(req.qlist("includedData"), "includedData", LISTING_INCLUDED_DATA) or ["summaries"]
        with self.state.lock:
            listing = self.state.listings.get(sku, mid)
            if listing is None:
                raise not_found(f"SKU {sku} has no listing in marketplace {mid}.")
            return Response(200, listing.to_item(included))

    # --- Product Type Definitions 2020-09-01 ---------------------------------------------------------
    def get_definition(self, req: Request) -> Response:
        ptype = req.params["productType"]
        mids = _marketplace_ids(req.qlist("marketplaceIds"), required=True, max_items=1, listings=True)
        assert mids is not None
        requirements = req.q("requirements") or "LISTING"
        if requirements not in pt.REQUIREMENTS:
            raise invalid(f"requirements must be one of {', '.join(pt.REQUIREMENTS)}.")
        enforced_text = req.q("requirementsEnforced") or "ENFORCED"
        if enforced_text not in ("ENFORCED", "NOT_ENFORCED"):
            raise invalid("requirementsEnforced must be ENFORCED or NOT_ENFORCED.")
        version = req.q("productTypeVersion") or "LATEST"
        if version not in ("LATEST", "RELEASE_CANDIDATE") and not version.startswith("U"):
            raise invalid("productTypeVersion must be LATEST, RELEASE_CANDIDATE or a version id.")
        try:
            pt.definition_meta(ptype)
        except pt.UnknownProductType:
            raise not_found(f"Product type {ptype} was not found.") from None
        mp = LISTING_BY_ID[mids[0]]
        locale = req.q("locale") or "DEFAULT"
        if locale == "DEFAULT":
            locale = mp.language_tag
        enforced = enforced_text == "ENFORCED"
        schema_url = f"{req.base_url}/_schemas/product-types/{ptype}/{mids[0]}/{requirements}/{enforced_text}.json"
        meta_url = f"{req.base_url}/_schemas/product-types/meta-schema/v1"
        return Response(200, pt.definition_response(ptype, mids[0], requirements=requirements, enforced=enforced,
                                                     locale=locale, schema_url=schema_url, meta_url=meta_url))

    def search_definitions(self, req: Request) -> Response:
        mids = _marketplace_ids(req.qlist("marketplaceIds"), required=True, listings=True)
        assert mids is not None
        keywords = [k.lower() for k in (req.qlist("keywords") or [])]
        out = []
        for name in pt.product_types():
            meta = pt.definition_meta(name)
            text = f"{name} {meta['displayName']}".lower()
            if keywords and not any(k in text for k in keywords):
                continue
            out.append({"name": name, "displayName": meta["displayName"], "marketplaceIds": mids})
        return Response(200, {"productTypes": out, "productTypeVersion": "LATEST"})

    def get_schema(self, req: Request) -> Response:
        p = req.params
        if p["requirements"] not in pt.REQUIREMENTS or p["enforced"] not in ("ENFORCED", "NOT_ENFORCED") \
                or p["marketplaceId"] not in LISTING_BY_ID:
            return Response(404, {"errors": [{"code": "NotFound", "message": "No such schema document."}]})
        try:
            data = pt.schema_bytes(p["productType"], p["marketplaceId"], p["requirements"], p["enforced"] == "ENFORCED")
        except pt.UnknownProductType:
            return Response(404, {"errors": [{"code": "NotFound", "message": "No such product type."}]})
        return Response(200, data, content_type="application/schema+json")

    def get_meta_schema(self, req: Request) -> Response:
        return Response(200, json.dumps(pt.meta_schema()).encode(), content_type="application/schema+json")

    # --- FBA inventory v1 -----------------------------------------------------------------------------
    def get_inventory_summaries(self, req: Request) -> Response:
        token = req.q("nextToken")
        with self.state.lock:
            if token:
                cursor = self._cursor(token, "getInventorySummaries", "nextToken")
                del self.state.cursors[token]
                data = cursor.data
            else:
                gtype, gid = req.q("granularityType"), req.q("granularityId")
                if gtype != "Marketplace":
                    raise invalid("granularityType is required and must be Marketplace.")
                mids = _marketplace_ids(req.qlist("marketplaceIds"), required=True, max_items=1)
                assert mids is not None
                if gid != mids[0]:
                    raise invalid("granularityId must be the marketplace id given in marketplaceIds.")
                skus = req.qlist("sellerSkus")
                if skus and len(skus) > 50:
                    raise invalid(f"sellerSkus accepts at most 50 SKUs, got {len(skus)}.")
                single = req.q("sellerSku")
                if single:
                    skus = [single]
                start = _time(req.q("startDateTime"), "startDateTime")
                now = self.clock.now()
                if start and start < now - timedelta(days=548):
                    raise invalid("startDateTime can be at most 18 months in the past.")
                details = (req.q("details") or "false").lower() == "true"
                code = catalog.BY_MARKETPLACE_ID[mids[0]].code
                rows = [r for r in self.state.inventory.rows(code)
                        if (not skus or r.sku in skus) and (start is None or r.updated >= start)]
                data = {"skus": [r.sku for r in rows], "offset": 0, "details": details, "code": code,
                        "marketplaceId": mids[0]}
            page_size = 50
            page = data["skus"][data["offset"]:data["offset"] + page_size]
            summaries = [self.state.inventory.stock[(s, data["code"])].summary(data["details"]) for s in page
                         if (s, data["code"]) in self.state.inventory.stock]
            body: dict[str, Any] = {"payload": {"granularity": {"granularityType": "Marketplace",
                                                                "granularityId": data["marketplaceId"]},
                                                "inventorySummaries": summaries}}
            if data["offset"] + page_size < len(data["skus"]):
                nxt = self.state.new_token()
                self.state.cursors[nxt] = Cursor("getInventorySummaries",
                                                 self.clock.mono() + max(INVENTORY_TOKEN_MIN_REAL_SECONDS, self.clock.scaled(INVENTORY_TOKEN_SECONDS)),
                                                 {**data, "offset": data["offset"] + page_size})
                body["pagination"] = {"nextToken": nxt}
        return Response(200, body)

    # --- Reports 2021-06-30 ---------------------------------------------------------------------------
    def get_reports(self, req: Request) -> Response:
        return self._list_records(req, kind="getReports", type_param="reportTypes", records="reports")

    def get_report(self, req: Request) -> Response:
        with self.state.lock:
            self.state.tick()
            report = self.state.reports.get(req.params["reportId"])
            if report is None:
                raise not_found(f"Report {req.params['reportId']} was not found.")
            return Response(200, report.to_json())

    def cancel_report(self, req: Request) -> Response:
        with self.state.lock:
            self.state.tick()
            report = self.state.reports.get(req.params["reportId"])
            if report is None:
                raise not_found(f"Report {req.params['reportId']} was not found.")
            if report.status != "IN_QUEUE":
                raise invalid(f"Report {report.report_id} is {report.status}; only reports IN_QUEUE can be cancelled.")
            report.status = "CANCELLED"
            report.ended = self.clock.now()
        return Response(200)

    def create_report(self, req: Request) -> Response:
        body = req.json_body()
        if not isinstance(body, dict):
            raise invalid("The body must be a CreateReportSpecification object.")
        rtype = body.get("reportType")
        if not isinstance(rtype, str) or not rtype:
            raise invalid("reportType is required.")
        mids = body.get("marketplaceIds")
        if not isinstance(mids, list) or not mids:
            raise invalid("marketplaceIds is required (1 to 25 marketplace ids).")
        _marketplace_ids(mids, max_items=25)
        if rtype in SETTLEMENT_TYPES:
            raise invalid(f"Report type {rtype} cannot be requested: settlement reports are generated by Amazon on "
                          "the settlement schedule. List them with getReports(reportTypes=...) instead.")
        if rtype not in ORDER_REPORT_TYPES:
            raise invalid(f"Report type {rtype} is not supported by the sandbox.",
                          f"Requestable: {', '.join(sorted(ORDER_REPORT_TYPES))}.")
        start = _time(body.get("dataStartTime"), "dataStartTime")
        end = _time(body.get("dataEndTime"), "dataEndTime")
        now = self.clock.now()
        if start and (end or now) - start > timedelta(days=30):
            raise invalid("Date range exceeded. Report can be requested only upto 30 days.")
        options = body.get("reportOptions") or {}
        with self.state.lock:
            report = self.state.create_report(rtype, list(mids), start, end, dict(options))
        return Response(202, {"reportId": report.report_id})

    def get_report_document(self, req: Request) -> Response:
        with self.state.lock:
            doc = self.state.documents.get(req.params["reportDocumentId"])
            if doc is None or doc.purpose != "report":
                raise not_found(f"Report document {req.params['reportDocumentId']} was not found.")
            ce = (req.q("enableContentEncodingUrlHeader") or "").lower() == "true"
            body: dict[str, Any] = {"reportDocumentId": doc.doc_id,
                                    "url": self.presign(req, "GET", doc.doc_id, content_encoding=ce)}
            if doc.compression:
                body["compressionAlgorithm"] = doc.compression
        return Response(200, body)

    # --- Finances 2024-06-19 ----------------------------------------------------------------------------
    def list_transactions(self, req: Request) -> Response:
        now = self.clock.now()
        token = req.q("nextToken")
        with self.state.lock:
            if token:
                cursor = self._cursor(token, "listTransactions", "nextToken")
                del self.state.cursors[token]
                data = cursor.data
            else:
                rname, rvalue = req.q("relatedIdentifierName"), req.q("relatedIdentifierValue")
                if rname and rname not in ("ORDER_ID", "FINANCIAL_EVENT_GROUP_ID"):
                    raise invalid("relatedIdentifierName must be ORDER_ID or FINANCIAL_EVENT_GROUP_ID.")
                if bool(rname) != bool(rvalue):
                    raise invalid("relatedIdentifierName and relatedIdentifierValue must be given together.")
                after = _time(req.q("postedAfter"), "postedAfter")
                before = _time(req.q("postedBefore"), "postedBefore")
                if after is None and not rname:
                    raise invalid("postedAfter is required unless relatedIdentifierName is given.")
                limit = now - timedelta(minutes=2)
                if before and before > limit:
                    raise invalid("postedBefore must be at least 2 minutes before the current time.")
                before = before or limit
                if after and before <= after:
                    raise invalid("postedBefore must be after postedAfter.")
                if after and before - after > timedelta(days=180):
                    raise invalid("The postedAfter..postedBefore window can be at most 180 days.")
                mid = req.q("marketplaceId")
                if mid:
                    _marketplace_ids([mid], "marketplaceId")
                status = req.q("transactionStatus")
                if status and status not in ("DEFERRED", "RELEASED", "DEFERRED_RELEASED"):
                    raise invalid("transactionStatus must be DEFERRED, RELEASED or DEFERRED_RELEASED.")
                chosen = []
                for n, t in enumerate(self.state.transactions):
                    if mid and catalog.MARKETPLACES[t.marketplace].marketplace_id != mid:
                        continue
                    if status and status != "RELEASED":
                        continue
                    if rname == "ORDER_ID" and t.order_id != rvalue:
                        continue
                    if rname == "FINANCIAL_EVENT_GROUP_ID" and t.settlement_id != rvalue:
                        continue
                    if after and not (after <= t.posted <= before):
                        continue
                    chosen.append(n)
                data = {"idx": chosen, "offset": 0}
            size = 100
            page = data["idx"][data["offset"]:data["offset"] + size]
            payload: dict[str, Any] = {"transactions": [self.state.transactions[i].to_json(self.state.seller_id)
                                                        for i in page]}
            if data["offset"] + size < len(data["idx"]):
                nxt = self.state.new_token()
                self.state.cursors[nxt] = Cursor("listTransactions", None, {**data, "offset": data["offset"] + size})
                payload["nextToken"] = nxt
        return Response(200, {"payload": payload})



@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    operation: str
    handler: str
    auth: bool = True  # needs an LWA access token
    paginated: tuple[str, ...] = ()


def _r(method: str, path: str, operation: str, handler: str, *, auth: bool = True,
       paginated: tuple[str, ...] = ()) -> Route:
    regex = "^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path) + "$"
    return Route(method, re.compile(regex), operation, handler, auth, paginated)


ROUTES: tuple[Route, ...] = (
    _r("GET", "/orders/2026-01-01/orders", "searchOrders", "search_orders", paginated=("paginationToken",)),
    _r("GET", "/orders/2026-01-01/orders/{orderId}", "getOrder", "get_order"),
    _r("POST", "/orders/v0/orders/{orderId}/shipmentConfirmation", "confirmShipment", "confirm_shipment"),
    _r("POST", "/feeds/2021-06-30/documents", "createFeedDocument", "create_feed_document"),
    _r("GET", "/feeds/2021-06-30/documents/{feedDocumentId}", "getFeedDocument", "get_feed_document"),
    _r("POST", "/feeds/2021-06-30/feeds", "createFeed", "create_feed"),
    _r("GET", "/feeds/2021-06-30/feeds", "getFeeds", "get_feeds", paginated=("nextToken",)),
    _r("GET", "/feeds/2021-06-30/feeds/{feedId}", "getFeed", "get_feed"),
    _r("DELETE", "/feeds/2021-06-30/feeds/{feedId}", "cancelFeed", "cancel_feed"),
    _r("GET", "/listings/2021-08-01/items/{sellerId}/{sku}", "getListingsItem", "get_listing"),
    _r("PUT", "/listings/2021-08-01/items/{sellerId}/{sku}", "putListingsItem", "put_listing"),
    _r("PATCH", "/listings/2021-08-01/items/{sellerId}/{sku}", "patchListingsItem", "patch_listing"),
    _r("DELETE", "/listings/2021-08-01/items/{sellerId}/{sku}", "deleteListingsItem", "delete_listing"),
    _r("GET", "/definitions/2020-09-01/productTypes", "searchDefinitionsProductTypes", "search_definitions"),
    _r("GET", "/definitions/2020-09-01/productTypes/{productType}", "getDefinitionsProductType", "get_definition"),
    _r("GET", "/fba/inventory/v1/summaries", "getInventorySummaries", "get_inventory_summaries",
       paginated=("nextToken",)),
    _r("GET", "/reports/2021-06-30/reports", "getReports", "get_reports", paginated=("nextToken",)),
    _r("POST", "/reports/2021-06-30/reports", "createReport", "create_report"),
    _r("GET", "/reports/2021-06-30/reports/{reportId}", "getReport", "get_report"),
    _r("DELETE", "/reports/2021-06-30/reports/{reportId}", "cancelReport", "cancel_report"),
    _r("GET", "/reports/2021-06-30/documents/{reportDocumentId}", "getReportDocument", "get_report_document"),
    _r("GET", "/finances/2024-06-19/transactions", "listTransactions", "list_transactions", paginated=("nextToken",)),
    _r("PUT", "/_docs/{docId}", "uploadDocument", "upload_document", auth=False),
    _r("GET", "/_docs/{docId}", "downloadDocument", "download_document", auth=False),
    _r("GET", "/_schemas/product-types/meta-schema/v1", "getMetaSchema", "get_meta_schema", auth=False),
    _r("GET", "/_schemas/product-types/{productType}/{marketplaceId}/{requirements}/{enforced}.json", "getSchema",
       "get_schema", auth=False),
)
