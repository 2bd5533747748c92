"""The SP-API sandbox's in-memory store: orders, listings, FBA stock, feeds, reports, documents,
settlements, tokens, pagination cursors and request statistics. Every access holds ``lock``."""

from __future__ import annotations

import dataclasses
import gzip
import io
import json
import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from airflow_provider_amznetsuite.sandbox import catalog
from airflow_provider_amznetsuite.sandbox.spapi import feeds as feedmod
from airflow_provider_amznetsuite.sandbox.spapi.clock import SandboxClock
from airflow_provider_amznetsuite.sandbox.spapi.credentials import SELLER_ID
from airflow_provider_amznetsuite.sandbox.spapi.finances import Transaction, transactions_from_settlement
from airflow_provider_amznetsuite.sandbox.spapi.inventory import FbaInventory
from airflow_provider_amznetsuite.sandbox.spapi.listings import ListingStore
from airflow_provider_amznetsuite.sandbox.spapi.marketplaces import LISTING_BY_ID
from airflow_provider_amznetsuite.sandbox.spapi.orders import Order, OrderLine, Package, generate_orders, list_price
from airflow_provider_amznetsuite.sandbox.spapi.reports import ORDER_REPORT_TYPES, Report, render_order_report
from airflow_provider_amznetsuite.sandbox.spapi.settlement import (
    REPORT_TYPE as SETTLEMENT_TYPE,
)
from airflow_provider_amznetsuite.sandbox.spapi.settlement import (
    SettlementLine,
    settlement_id_for,
    settlement_lines,
    write_settlement,
)
from airflow_provider_amznetsuite.sandbox.spapi.util import floor_minute, stable_rng

GZIP_THRESHOLD = 100 * 1024  # report documents at least this large are served GZIP-compressed
SETTLEMENT_DAYS = 14


@dataclass
class TokenInfo:
    expires_mono: float
    grantless: bool
    scope: str | None = None


@dataclass
class Cursor:
    kind: str
    expires_mono: float | None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Settlement:
    report_id: str
    settlement_id: str
    marketplace: str
    start: datetime
    end: datetime
    lines: list[SettlementLine]
    total: Decimal


@dataclass
class OpStats:
    requests: int = 0
    throttled: int = 0
    faults: int = 0
    statuses: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"requests": self.requests, "throttled": self.throttled, "faults": self.faults,
                "statuses": dict(sorted(self.statuses.items()))}


class SandboxState:
    def __init__(self, *, clock: SandboxClock, seed: int = 42, catalog_size: int = 60, orders_per_day: int = 60,
                 days: int = 3, unknown_sku_orders: int = 0, feed_queue_seconds: float = 10.0,
                 feed_processing_seconds: float = 20.0, report_processing_seconds: float = 30.0) -> None:
        self.lock = threading.RLock()
        self.clock = clock
        self.seed = seed
        self.catalog_size = catalog_size
        self.seller_id = SELLER_ID
        self.feed_queue_seconds = feed_queue_seconds
        self.feed_processing_seconds = feed_processing_seconds
        self.report_processing_seconds = report_processing_seconds
        self._ids = stable_rng("ids", seed)
        self._feed_counter = 50_000_000_000 + self._ids.randint(0, 9_999_999) * 100
        self._report_counter = 60_000_000_000 + self._ids.randint(0, 9_999_999) * 100
        now0 = clock.now()
        self.generated_at = now0
        self.orders: dict[str, Order] = {}
        future = 7 if clock.real else 2
        for code in catalog.MARKETPLACES:
            for o in generate_orders(code, seed=seed, catalog_size=catalog_size, orders_per_day=orders_per_day,
                                     days=days, now=now0, future_days=future, unknown_sku_orders=unknown_sku_orders):
                self.orders[o.order_id] = o
        self.listings = ListingStore()
        self.listings.seed(seed, catalog_size, now0)
        self.inventory = FbaInventory()
        self.inventory.seed(seed, catalog_size, now0)
        self.documents: dict[str, feedmod.Document] = {}
        self.feeds: dict[str, feedmod.Feed] = {}
        self.reports: dict[str, Report] = {}
        self.settlements: dict[str, Settlement] = {}
        self.transactions: list[Transaction] = []
        self.confirmations: list[dict[str, Any]] = []
        self.acknowledgements: list[feedmod.Acknowledgement] = []
        self.reject_skus: set[str] = set()
        self.tokens: dict[str, TokenInfo] = {}
        self.cursors: dict[str, Cursor] = {}
        self.stats: dict[str, OpStats] = {}
        self.listing_submissions: list[dict[str, Any]] = []
        end = now0.replace(minute=0, second=0) - timedelta(hours=1)
        for code in catalog.MARKETPLACES:
            self.add_settlement(code, start=end - timedelta(days=SETTLEMENT_DAYS), end=end)

    # --- ids ----------------------------------------------------------------------------------
    def next_feed_id(self) -> str:
        self._feed_counter += 1
        return str(self._feed_counter)

    def next_report_id(self) -> str:
        self._report_counter += 1
        return str(self._report_counter)

    def new_document_id(self, purpose: str, region: str = "eu") -> str:
        if purpose == "report":
            return f"amzn1.spdoc.1.4.{region}.{self._ids.getrandbits(128):032x}"
        return f"amzn1.tortuga.4.{region}.{self._ids.getrandbits(128):032x}.T{self._ids.getrandbits(40):010X}"

    def new_token(self, prefix: str = "") -> str:
        return prefix + secrets.token_urlsafe(24)

    # --- stats ----------------------------------------------------------------------------------
    def record(self, operation: str, status: int, *, throttled: bool = False, fault: bool = False) -> None:
        with self.lock:
            s = self.stats.setdefault(operation, OpStats())
            s.requests += 1
            s.statuses[str(status)] = s.statuses.get(str(status), 0) + 1
            if throttled:
                s.throttled += 1
            if fault:
                s.faults += 1

    # --- documents ----------------------------------------------------------------------------
    def add_document(self, purpose: str, content_type: str, data: bytes | None = None, *,
                     compress: bool | None = None, region: str = "eu") -> feedmod.Document:
        doc = feedmod.Document(doc_id=self.new_document_id(purpose, region), content_type=content_type,
                               created_mono=self.clock.mono(), purpose=purpose)
        if data is not None:
            if compress is None:
                compress = len(data) >= GZIP_THRESHOLD
            doc.data = gzip.compress(data, mtime=0) if compress else data
            doc.compression = "GZIP" if compress else None
        self.documents[doc.doc_id] = doc
        return doc

    # --- orders -------------------------------------------------------------------------------
    def visible_orders(self) -> list[Order]:
        now = self.clock.now()
        return [o for o in self.orders.values() if o.visible(now)]

    def cancel_order(self, order: Order, at: datetime) -> None:
        for ln in order.lines:
            if ln.cancelled_at is None or ln.cancelled_at > at:
                ln.cancelled_at = at
                ln.cancel_requester = "SELLER"
                ln.cancel_reason = "Seller cancelled the order"
        order.events.append((at, "CANCELLED"))
        order.events.sort(key=lambda e: e[0])

    def add_order(self, marketplace: str, items: list[tuple[str, int]] | None = None, *,
                  fulfilled_by: str = "MERCHANT", status: str = "UNSHIPPED", created: datetime | None = None,
                  order_id: str | None = None, business: bool = False, mf_tax: bool | None = None,
                  reporting_scheme: str | None = None, shipping: Decimal | None = None,
                  promotion_discount: Decimal | None = None, replacement_of: str | None = None) -> Order:
        """Create an order for tests. ``items`` are (sku, quantity); unknown SKUs are allowed."""
        if marketplace not in catalog.MARKETPLACES:
            raise ValueError(f"unknown marketplace code {marketplace!r}; expected one of {sorted(catalog.MARKETPLACES)}")
        if fulfilled_by not in ("MERCHANT", "AMAZON"):
            raise ValueError("fulfilled_by must be MERCHANT or AMAZON")
        if status not in ("PENDING_AVAILABILITY", "PENDING", "UNSHIPPED", "SHIPPED", "CANCELLED"):
            raise ValueError(f"status {status!r} cannot be used for a new order")
        mp = catalog.MARKETPLACES[marketplace]
        now = self.clock.now()
        created = created or now - timedelta(minutes=5)
        by_sku = catalog.item_by_sku(self.seed, self.catalog_size)
        rng = stable_rng("add_order", self.seed, len(self.orders), marketplace)
        prefix = {"uk": "203", "de": "303", "us": "113"}[marketplace]
        oid = order_id or f"{prefix}-{rng.randint(0, 9999999):07d}-{rng.randint(0, 9999999):07d}"
        if oid in self.orders:
            raise ValueError(f"order {oid} already exists")
        if not items:
            default = next(i for i in catalog.sellable_items(self.seed, self.catalog_size)
                           if (marketplace in i.fba_marketplaces) == (fulfilled_by == "AMAZON"))
            items = [(default.sku, 1)]
        rate = mp.vat_rate if marketplace != "us" else Decimal("0.0825")
        lines = []
        for sku, qty in items:
            item = by_sku.get(sku)
            unit = list_price(item, marketplace) if item else Decimal("9.99")
            lines.append(OrderLine(order_item_id=str(rng.randint(10**13, 10**14 - 1)), sku=sku,
                                   title=item.display_name if item else f"Product {sku}", quantity=qty,
                                   unit_price=Decimal(0) if replacement_of else unit, tax_rate=rate,
                                   price_designation="BUSINESS_PRICE" if business else None))
        if shipping is not None:
            lines[0].shipping = shipping
        if promotion_discount:
            lines[0].item_discount = promotion_discount
            lines[0].promotion_ids = (f"PLM-TEST-{rng.randint(1000, 9999)}",)
        events: list[tuple[datetime, str]] = [(created, "PENDING_AVAILABILITY" if status == "PENDING_AVAILABILITY" else "PENDING")]
        if status in ("UNSHIPPED", "SHIPPED", "CANCELLED"):
            events.append((created + timedelta(minutes=1), "UNSHIPPED"))
        order = Order(order_id=oid, marketplace=marketplace, created=created, fulfilled_by=fulfilled_by, lines=lines,
                      events=events, programs=(["AMAZON_BUSINESS"] if business else []),
                      buyer={"buyerName": "Test Buyer", "buyerEmail": f"{oid.replace('-', '')}@marketplace.amazon.test"},
                      recipient={"name": "Test Recipient", "addressLine1": "1 Test Street", "city": "Testville",
                                 "postalCode": "00000", "countryCode": mp.country if mp.country != "UK" else "GB"},
                      mf_tax=(marketplace == "us") if mf_tax is None else mf_tax, reporting_scheme=reporting_scheme,
                      replacement_of=replacement_of,
                      ship_by=(created, created + timedelta(days=2)) if fulfilled_by == "MERCHANT" else None,
                      deliver_by=(created + timedelta(days=2), created + timedelta(days=5)),
                      shipment_id=f"T{rng.randint(10**8, 10**9 - 1)}")
        if status == "SHIPPED":
            ship = created + timedelta(minutes=2)
            if fulfilled_by == "AMAZON":
                order.events.append((ship, "SHIPPED"))
            else:
                order.packages.append(Package("1", ship, ship, "Other", None, "TEST000001",
                                              [(ln.order_item_id, ln.quantity) for ln in lines], carrier_name="Test"))
        if status == "CANCELLED":
            self.cancel_order(order, created + timedelta(minutes=2))
        self.orders[oid] = order
        return order

    def update_order(self, order_id: str, *, status: str | None = None, at: datetime | None = None,
                     **fields: Any) -> Order:
        """Move an order on (``status`` event at ``at``/now) and/or set Order attributes for tests."""
        order = self.orders.get(order_id)
        if order is None:
            raise KeyError(f"order {order_id} does not exist")
        at = at or self.clock.now()
        settable = {f.name for f in dataclasses.fields(Order)} - {"order_id", "events", "marketplace"}
        for key, value in fields.items():
            if key not in settable:
                raise ValueError(f"update_order cannot set {key!r}; settable: {', '.join(sorted(settable))}")
            setattr(order, key, value)
        if status == "CANCELLED":
            self.cancel_order(order, at)
        elif status == "SHIPPED" and order.fulfilled_by == "MERCHANT":
            shipped = order.shipped_quantities(at)
            rest = [(ln.order_item_id, ln.quantity - shipped.get(ln.order_item_id, 0)) for ln in order.active_lines(at)]
            rest = [(i, q) for i, q in rest if q > 0]
            if rest:
                order.packages.append(Package(f"auto-{len(order.packages) + 1}", at, at, "Other", None,
                                              f"AUTO{len(order.packages) + 1:06d}", rest, carrier_name="Sandbox"))
        elif status is not None:
            order.events.append((at, status))
            order.events.sort(key=lambda e: e[0])
        else:
            order.updates.append(at)
        return order

    # --- feeds / reports progress ---------------------------------------------------------------
    def tick(self) -> None:
        """Advance feed and report processing whose (time-scaled) delay has passed."""
        with self.lock:
            mono = self.clock.mono()
            queue = self.clock.scaled(self.feed_queue_seconds)
            work = self.clock.scaled(self.feed_processing_seconds)
            for feed in self.feeds.values():
                if feed.status == "IN_QUEUE" and mono >= feed.created_mono + queue:
                    feed.status = "IN_PROGRESS"
                    feed.started = self.clock.now()
                if feed.status == "IN_PROGRESS" and mono >= feed.created_mono + queue + work:
                    self._process_feed(feed)
            rwork = self.clock.scaled(self.report_processing_seconds)
            for report in self.reports.values():
                if report.status == "IN_QUEUE" and mono >= report.created_mono + rwork / 3:
                    report.status = "IN_PROGRESS"
                    report.started = self.clock.now()
                if report.status == "IN_PROGRESS" and mono >= report.created_mono + rwork:
                    self._process_report(report)

    def _process_feed(self, feed: feedmod.Feed) -> None:
        now = self.clock.now()
        doc = self.documents[feed.input_document_id]
        raw = doc.data or b""
        region = LISTING_BY_ID[feed.marketplace_ids[0]].region
        if feed.feed_type in feedmod.DEPRECATED_FEED_TYPES:
            status = "FATAL"
            text = (f"Feed type {feed.feed_type} is no longer supported (deprecated listings feeds were retired on "
                    "2025-07-31). Use JSON_LISTINGS_FEED or the Listings Items API.")
            feed.document = raw[:2000].decode("utf-8", "replace")
            feed.report = text
            result = self.add_document("feed-result", "text/plain; charset=UTF-8", text.encode(), compress=False,
                                       region=region)
        elif feed.feed_type == feedmod.JSON_LISTINGS_FEED:
            status, report = feedmod.process_json_listings_feed(
                feed, raw, seller_id=self.seller_id, store=self.listings, now=now, reject_skus=set(self.reject_skus))
            feed.report = report
            result = self.add_document("feed-result", "application/json; charset=UTF-8",
                                       json.dumps(report).encode(), compress=True, region=region)
        else:
            status, xml, acks = feedmod.process_order_acknowledgements(
                feed, raw, seller_id=self.seller_id, orders=self.orders, now=now, cancel=self.cancel_order)
            self.acknowledgements += acks
            feed.report = xml
            result = self.add_document("feed-result", "text/xml; charset=UTF-8", xml.encode(), compress=False,
                                       region=region)
        feed.status = status
        feed.ended = now
        feed.result_document_id = result.doc_id

    def _process_report(self, report: Report) -> None:
        now = self.clock.now()
        start = report.data_start or (now - timedelta(days=30))
        end = report.data_end or now
        text = render_order_report(list(self.orders.values()), marketplace_ids=report.marketplace_ids, start=start,
                                   end=end, by_last_update=report.report_type.endswith("BY_LAST_UPDATE_GENERAL"),
                                   now=now)
        region = catalog.BY_MARKETPLACE_ID[report.marketplace_ids[0]].region
        doc = self.add_document("report", "text/tab-separated-values; charset=UTF-8", text.encode("utf-8"),
                                region=region)
        report.status = "DONE"
        report.ended = now
        report.document_id = doc.doc_id

    def create_report(self, report_type: str, marketplace_ids: list[str], start: datetime | None,
                      end: datetime | None, options: dict[str, str]) -> Report:
        assert report_type in ORDER_REPORT_TYPES
        report = Report(report_id=self.next_report_id(), report_type=report_type, marketplace_ids=marketplace_ids,
                        created=self.clock.now(), created_mono=self.clock.mono(), data_start=start, data_end=end,
                        options=options)
        self.reports[report.report_id] = report
        return report

    # --- settlements --------------------------------------------------------------------------
    def add_settlement(self, marketplace: str, *, start: datetime | None = None, end: datetime | None = None,
                       extra_lines: int = 0, gzip_document: bool | None = None) -> Settlement:
        if marketplace not in catalog.MARKETPLACES:
            raise ValueError(f"unknown marketplace code {marketplace!r}; expected one of {sorted(catalog.MARKETPLACES)}")
        with self.lock:
            mp = catalog.MARKETPLACES[marketplace]
            previous = [s for s in self.settlements.values() if s.marketplace == marketplace]
            end = floor_minute(end or self.clock.now())
            if start is None:
                start = max((s.end for s in previous), default=end - timedelta(days=SETTLEMENT_DAYS))
            if start >= end:
                raise ValueError(f"settlement start {start.isoformat()} must be before end {end.isoformat()}")
            sid = settlement_id_for(self.seed, marketplace, len(previous) + 1)
            orders = list(self.orders.values())
            buf = io.StringIO()
            total = write_settlement(buf, marketplace, orders, settlement_id=sid, start=start, end=end, seed=self.seed,
                                     extra_lines=extra_lines, catalog_size=self.catalog_size)
            charset = "UTF-8" if marketplace == "us" else "Cp1252"
            data = buf.getvalue().encode("utf-8" if marketplace == "us" else "cp1252", errors="replace")
            doc = self.add_document("report", f"text/plain; charset={charset}", data, compress=gzip_document,
                                    region=mp.region)
            created = min(end + timedelta(minutes=30), max(end, self.clock.now()))
            report = Report(report_id=self.next_report_id(), report_type=SETTLEMENT_TYPE,
                            marketplace_ids=[mp.marketplace_id], created=created, created_mono=self.clock.mono(),
                            data_start=start, data_end=end, status="DONE", started=created, ended=created,
                            document_id=doc.doc_id, generated=True)
            self.reports[report.report_id] = report
            lines = settlement_lines(marketplace, orders, settlement_id=sid, start=start, end=end, seed=self.seed,
                                     catalog_size=self.catalog_size)
            settlement = Settlement(report.report_id, sid, marketplace, start, end, lines, total)
            self.settlements[report.report_id] = settlement
            self.transactions += transactions_from_settlement(sid, marketplace, lines)
            self.transactions.sort(key=lambda t: (t.posted, t.key))
            return settlement
