"""Amazon orders (Orders API v2026-01-01) → typed order → lifecycle decision → NetSuite record body.

Pure domain code: no Airflow, no HTTP. The pipeline for one order is::

    order = parse_order(raw)                      # lenient pydantic parse, Decimal money
    decision = decide_action(order, mp)           # UPSERT / CANCEL / SKIP + reason
    upsert = customer_for_order(order, mp)        # only for customer strategy "buyer"
    doc = map_order(order, mp, item_ids=..., currency_ids=..., customer_id=...)
    doc.record_type, doc.external_id, doc.body_json()   # PUT /record/v1/{type}/eid:{externalId}

Money is ``Decimal`` end to end; every booked amount must be exact in the currency's minor units and
the document total (Σ line amount + ``tax1Amt``) must equal Amazon's ``proceeds.grandTotal`` to the
minor unit, otherwise :class:`MappingError` is raised and nothing is posted.

Proceeds model (as in Amazon's model examples): an item's ``proceeds.breakdowns`` are additive —
``ITEM`` (unit price × quantity, tax-exclusive), ``SHIPPING``, ``GIFT_WRAP``, ``COD_FEE``, ``OTHER``,
``TAX`` (split by ``detailedBreakdowns[].subtype``) and ``DISCOUNT`` — and the order's ``grandTotal`` is
the sum over items plus order-level charges (``DELIVERY_TIP``). ``DISCOUNT`` amounts are booked as
negative lines whatever sign Amazon sends. Field names written to NetSuite are listed in
``docs/tax-treatment.md`` ("NetSuite document fields").
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_camel

from airflow_provider_amznetsuite.config import MarketplaceConfig
from airflow_provider_amznetsuite.domain.money import is_currency, minor_units, quantize, to_decimal
from airflow_provider_amznetsuite.domain.tax import MappingError, TaxCollector, TaxDecision, decide_line_tax

__all__ = [
    "CUSTOM_FIELDS",
    "ORDER_ITEM_ID_FIELD",
    "AmazonOrder",
    "CustomerUpsert",
    "DocumentLine",
    "DocumentPatch",
    "FulfillmentStatus",
    "LineKind",
    "MappingError",
    "NetSuiteOrderDocument",
    "OrderAction",
    "OrderDecision",
    "OrderItem",
    "buyer_key",
    "close_document_patch",
    "customer_for_order",
    "decide_action",
    "document_type",
    "external_id_for",
    "map_order",
    "parse_order",
    "render_json",
]

# --- NetSuite field names written by the mapping (documented in docs/tax-treatment.md) ------------
ORDER_ITEM_ID_FIELD = "custcol_amz_order_item_id"  # line: Amazon orderItemId (fulfilment writeback key)
CUSTOM_FIELDS = {
    "ship_by": "custbody_amz_ship_by",  # datetime (ISO-8601 UTC): shipByWindow.latestDateTime
    "deliver_by": "custbody_amz_deliver_by",  # datetime (ISO-8601 UTC): deliverByWindow.latestDateTime
    "is_business": "custbody_amz_is_business",
    "is_prime": "custbody_amz_is_prime",
    "is_replacement": "custbody_amz_is_replacement",
    "is_preorder": "custbody_amz_is_preorder",
    "original_order": "custbody_amz_original_order",  # text: the original Amazon order id
    "original_transaction": "custbody_amz_original_transaction",  # transaction ref: its NetSuite internal id
}
PENDING_FULFILLMENT = "B"  # salesOrder orderStatus "Pending Fulfillment"
_EXTERNAL_ID_RE = re.compile(r"^[A-Za-z0-9_-]+\Z")

# proceeds breakdown types
_ITEM_CHARGE_TYPES = ("ITEM", "SHIPPING", "GIFT_WRAP", "COD_FEE", "OTHER", "DISCOUNT")
_ORDER_AGGREGATE_TYPES = frozenset({*_ITEM_CHARGE_TYPES, "TAX"})
_ORDER_LEVEL_TYPES = ("DELIVERY_TIP",)  # charged per order, not attributed to an item
_TAX_SUBTYPES = frozenset({"ITEM", "SHIPPING", "GIFT_WRAP", "COD_FEE", "OTHER", "DISCOUNT"})
_CHARGE_CONFIG_KEYS = {
    "SHIPPING": "orders.shipping_item",
    "GIFT_WRAP": "orders.gift_wrap_item",
    "DISCOUNT": "orders.discount_item",
}


# ============================================================================================
# Typed input: the subset of the Orders v2026-01-01 shape the mapping uses (extra keys ignored)
# ============================================================================================
#: Largest quantity one order line may carry. Amazon caps a line at a few thousand units (business
#: quantity discounts included); anything beyond this is a corrupt answer, not an order to book.
MAX_LINE_QUANTITY = 100_000
#: Largest amount magnitude accepted (13 integer digits: above any order in any currency, JPY and
#: KRW included); longer numbers and exponents like 1E+999999 are corrupt, and would overflow the
#: Decimal context when rounded.
MAX_AMOUNT_DIGITS = 13
MAX_AMOUNT_SIGNIFICANT = 20


#: Order instants outside these years are corrupt answers (Amazon's marketplaces opened in 1995).
ORDER_YEARS = range(1995, 2200)


def _utc(v: datetime | None) -> datetime | None:
    """UTC, refusing instants UTC cannot represent (year 9999 with a negative offset, year 1 with a
    positive one) and years no Amazon order can have."""
    if v is None:
        return None
    try:
        u = v.astimezone(UTC)
    except OverflowError:
        u = None
    if u is None or u.year not in ORDER_YEARS:
        raise ValueError(f"is outside the years an Amazon order can carry ({ORDER_YEARS.start}-{ORDER_YEARS.stop - 1})")
    return u


class _Amazon(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True, alias_generator=to_camel)


class Money(_Amazon):
    amount: Decimal
    currency_code: str

    @field_validator("amount", mode="before")
    @classmethod
    def _amount(cls, v: Any) -> Decimal:
        if isinstance(v, float):
            raise ValueError("amount must be a decimal string (Amazon sends e.g. \"12.50\"), not a binary float")
        amount = to_decimal(v)
        if amount and amount.adjusted() >= MAX_AMOUNT_DIGITS:
            raise ValueError(f"amount has more than {MAX_AMOUNT_DIGITS} integer digits: not an order amount")
        if len(amount.as_tuple().digits) > MAX_AMOUNT_SIGNIFICANT:
            # sums of longer numbers would be rounded silently by the Decimal context (28 digits)
            raise ValueError(f"amount has more than {MAX_AMOUNT_SIGNIFICANT} digits (too many decimals for any currency)")
        return amount

    @field_validator("currency_code")
    @classmethod
    def _currency(cls, v: str) -> str:
        code = v.strip().upper()
        if not is_currency(code):
            raise ValueError(f"{v!r} is not an ISO-4217 currency code")
        return code




class DateTimeRange(_Amazon):
    earliest_date_time: AwareDatetime | None = None
    latest_date_time: AwareDatetime | None = None

    @field_validator("earliest_date_time", "latest_date_time")
    @classmethod
    def _to_utc(cls, v: datetime | None) -> datetime | None:
        return _utc(v)


class ProceedsDetail(_Amazon):
    subtype: str | None = None
    value: Money | None = None


class ItemProceedsBreakdown(_Amazon):
    type: str
    subtotal: Money
    detailed_breakdowns: tuple[ProceedsDetail, ...] = ()


class ItemProceeds(_Amazon):
    proceeds_total: Money | None = None
    breakdowns: tuple[ItemProceedsBreakdown, ...] = ()


class ItemPrice(_Amazon):
    unit_price: Money | None = None
    price_designation: str | None = None


class ItemProduct(_Amazon):
    asin: str | None = None
    title: str | None = None
    seller_sku: str | None = None
    price: ItemPrice | None = None


class PromotionBreakdown(_Amazon):
    promotion_id: str | None = None


class ItemPromotion(_Amazon):
    breakdowns: tuple[PromotionBreakdown, ...] = ()


class CancellationRequest(_Amazon):
    requester: str | None = None
    cancel_reason: str | None = Field(default=None, repr=False)


class CancellationExecution(_Amazon):
    cancelled_by: str | None = None
    cancel_reason: str | None = Field(default=None, repr=False)


class ItemCancellation(_Amazon):
    cancellation_request: CancellationRequest | None = None
    cancellation_execution: CancellationExecution | None = None


class ItemFulfillment(_Amazon):
    quantity_fulfilled: int | None = Field(default=None, ge=0, le=MAX_LINE_QUANTITY)
    quantity_unfulfilled: int | None = Field(default=None, ge=0, le=MAX_LINE_QUANTITY)


class TaxCalculationBreakdown(_Amazon):
    reporting_scheme: str | None = None


class TaxCollection(_Amazon):
    model: str | None = None
    responsible_party: str | None = None


class ItemTax(_Amazon):
    tax_calculation_breakdowns: tuple[TaxCalculationBreakdown, ...] = ()
    tax_collections: tuple[TaxCollection, ...] = ()


class OrderItem(_Amazon):
    order_item_id: str
    quantity_ordered: int = Field(ge=0, le=MAX_LINE_QUANTITY)
    programs: tuple[str, ...] = ()
    product: ItemProduct = Field(default_factory=ItemProduct)
    proceeds: ItemProceeds | None = None
    promotion: ItemPromotion | None = None
    cancellation: ItemCancellation | None = None
    fulfillment: ItemFulfillment | None = None
    tax: ItemTax = Field(default_factory=ItemTax)

    @property
    def sku(self) -> str | None:
        return self.product.seller_sku

    @property
    def unit_price(self) -> Money | None:
        return self.product.price.unit_price if self.product.price else None

    @property
    def promotion_ids(self) -> tuple[str, ...]:
        if self.promotion is None:
            return ()
        return tuple(b.promotion_id for b in self.promotion.breakdowns if b.promotion_id)

    def cancelled_quantity(self, order_cancelled: bool = False) -> int:
        """Units of this item Amazon cancelled.

        A whole-order cancellation cancels everything. Otherwise an item counts as (partly) cancelled
        only when it carries ``cancellation.cancellationExecution``; the cancelled units are then
        ``quantityOrdered - quantityFulfilled - quantityUnfulfilled`` when fulfilment counts are present,
        else the whole quantity. (A cancellation *request* alone cancels nothing.) Amazon may also
        report a fully cancelled item as ``quantityOrdered: 0`` — then 0 units remain and the original
        quantity is unknown (see :attr:`has_cancellation`).
        """
        if order_cancelled:
            return self.quantity_ordered
        if self.cancellation is None or self.cancellation.cancellation_execution is None:
            return 0
        f = self.fulfillment
        if f is not None and (f.quantity_fulfilled is not None or f.quantity_unfulfilled is not None):
            done = (f.quantity_fulfilled or 0) + (f.quantity_unfulfilled or 0)
            return max(0, self.quantity_ordered - done)
        return self.quantity_ordered

    @property
    def has_cancellation(self) -> bool:
        """Amazon executed a cancellation on this item (some or all units)."""
        if self.cancellation is None or self.cancellation.cancellation_execution is None:
            return False
        return self.quantity_ordered == 0 or self.cancelled_quantity() > 0

    def _breakdowns(self) -> tuple[ItemProceedsBreakdown, ...]:
        return self.proceeds.breakdowns if self.proceeds else ()

    def charge_amounts(self, order_id: str) -> dict[str, Decimal]:
        """Non-tax proceeds per type (``ITEM``, ``SHIPPING``, ...); ``DISCOUNT`` is negative."""
        out: dict[str, Decimal] = {}
        for b in self._breakdowns():
            kind = b.type.strip().upper()
            if kind == "TAX":
                continue
            if kind not in _ITEM_CHARGE_TYPES:
                raise MappingError(
                    f"order {order_id} item {self.order_item_id}: unknown proceeds type {b.type!r} "
                    f"(known: {', '.join(_ITEM_CHARGE_TYPES)}, TAX) — order quarantined for review",
                    order_id=order_id,
                )
            amount = -abs(b.subtotal.amount) if kind == "DISCOUNT" else b.subtotal.amount
            out[kind] = out.get(kind, Decimal(0)) + amount
        return out

    def discount_parts(self, order_id: str) -> dict[str, Decimal]:
        """Promotion discounts per subtype (``ITEM``, ``SHIPPING``, ...), all negative."""
        out: dict[str, Decimal] = {}
        for b in self._breakdowns():
            if b.type.strip().upper() != "DISCOUNT":
                continue
            details = [d for d in b.detailed_breakdowns if d.value is not None]
            if not details:
                out["ITEM"] = out.get("ITEM", Decimal(0)) - abs(b.subtotal.amount)
                continue
            detail_sum = sum((abs(d.value.amount) for d in details if d.value), Decimal(0))
            if detail_sum != abs(b.subtotal.amount):
                raise MappingError(
                    f"order {order_id} item {self.order_item_id}: DISCOUNT detailed breakdowns sum to {detail_sum} "
                    f"but the subtotal is {abs(b.subtotal.amount)} — order quarantined for review",
                    order_id=order_id,
                )
            for d in details:
                sub = (d.subtype or "ITEM").strip().upper()
                out[sub] = out.get(sub, Decimal(0)) - abs(d.value.amount)  # type: ignore[union-attr]
        return out

    def tax_components(self, order_id: str) -> dict[str, Decimal]:
        """Tax per component from ``proceeds.breakdowns[type=TAX]`` (undivided tax counts as ``ITEM``)."""
        out: dict[str, Decimal] = {}
        for b in self._breakdowns():
            if b.type.strip().upper() != "TAX":
                continue
            details = [d for d in b.detailed_breakdowns if d.value is not None]
            if not details:
                out["ITEM"] = out.get("ITEM", Decimal(0)) + b.subtotal.amount
                continue
            detail_sum = sum((d.value.amount for d in details if d.value), Decimal(0))
            if detail_sum != b.subtotal.amount:
                raise MappingError(
                    f"order {order_id} item {self.order_item_id}: TAX detailed breakdowns sum to {detail_sum} "
                    f"but the subtotal is {b.subtotal.amount} — order quarantined for review",
                    order_id=order_id,
                )
            for d in details:
                sub = (d.subtype or "ITEM").strip().upper()
                if sub not in _TAX_SUBTYPES:
                    raise MappingError(
                        f"order {order_id} item {self.order_item_id}: unknown TAX subtype {d.subtype!r} — "
                        "order quarantined for review",
                        order_id=order_id,
                    )
                out[sub] = out.get(sub, Decimal(0)) + d.value.amount  # type: ignore[union-attr]
        return out

    def monies(self) -> Iterable[tuple[str, Money]]:
        if self.unit_price is not None:
            yield "product.price.unitPrice", self.unit_price
        if self.proceeds is not None:
            if self.proceeds.proceeds_total is not None:
                yield "proceeds.proceedsTotal", self.proceeds.proceeds_total
            for b in self.proceeds.breakdowns:
                yield f"proceeds.breakdowns[{b.type}]", b.subtotal
                for d in b.detailed_breakdowns:
                    if d.value is not None:
                        yield f"proceeds.breakdowns[{b.type}].detailedBreakdowns[{d.subtype}]", d.value


class AssociatedOrder(_Amazon):
    order_id: str | None = None
    association_type: str | None = None


class SalesChannel(_Amazon):
    channel_name: str | None = None
    marketplace_id: str | None = None
    marketplace_name: str | None = None


class Buyer(_Amazon):
    """Buyer data (PII — only present when the marketplace enables ``orders.pii``). Never logged."""

    buyer_name: str | None = Field(default=None, repr=False)
    buyer_email: str | None = Field(default=None, repr=False)
    buyer_company_name: str | None = Field(default=None, repr=False)
    buyer_purchase_order_number: str | None = Field(default=None, repr=False)


class OrderProceedsBreakdown(_Amazon):
    type: str
    status: str | None = None
    subtotal: Money


class OrderProceeds(_Amazon):
    grand_total: Money | None = None
    breakdowns: tuple[OrderProceedsBreakdown, ...] = ()


class OrderFulfillment(_Amazon):
    fulfillment_status: str
    fulfilled_by: str | None = None
    fulfillment_service_level: str | None = None
    ship_by_window: DateTimeRange | None = None
    deliver_by_window: DateTimeRange | None = None


class OrderPackage(_Amazon):
    package_reference_id: str
    tracking_number: str | None = None
    carrier: str | None = None


class FulfillmentStatus(StrEnum):
    PENDING_AVAILABILITY = "PENDING_AVAILABILITY"
    PENDING = "PENDING"
    UNSHIPPED = "UNSHIPPED"
    PARTIALLY_SHIPPED = "PARTIALLY_SHIPPED"
    SHIPPED = "SHIPPED"
    CANCELLED = "CANCELLED"
    UNFULFILLABLE = "UNFULFILLABLE"


class AmazonOrder(_Amazon):
    """One Orders v2026-01-01 ``Order`` (the fields this provider uses; everything else is ignored)."""

    order_id: str
    created_time: AwareDatetime
    last_updated_time: AwareDatetime
    programs: tuple[str, ...] = ()
    associated_orders: tuple[AssociatedOrder, ...] = ()
    sales_channel: SalesChannel = Field(default_factory=SalesChannel)
    buyer: Buyer | None = Field(default=None, repr=False)
    proceeds: OrderProceeds | None = None
    fulfillment: OrderFulfillment | None = None
    order_items: tuple[OrderItem, ...]
    packages: tuple[OrderPackage, ...] = ()

    @field_validator("created_time", "last_updated_time")
    @classmethod
    def _to_utc(cls, v: datetime) -> datetime:
        return _utc(v)  # type: ignore[return-value]

    @field_validator("order_id")
    @classmethod
    def _order_id(cls, v: str) -> str:
        if not _EXTERNAL_ID_RE.match(v):  # it becomes the NetSuite external id AMZ-<orderId>
            raise ValueError("is not an Amazon order id (letters, digits, '-' and '_' only)")
        return v

    @model_validator(mode="after")
    def _unique_items(self) -> AmazonOrder:
        seen: set[str] = set()
        for n, i in enumerate(self.order_items):
            if i.order_item_id in seen:
                raise ValueError(f"orderItems.{n}.orderItemId {i.order_item_id!r} appears twice in the order "
                                 "(booking it would count the line twice); the order waits for a clean answer")
            seen.add(i.order_item_id)
        return self

    @property
    def fulfillment_status(self) -> str | None:
        return self.fulfillment.fulfillment_status.strip().upper() if self.fulfillment else None

    @property
    def fulfilled_by(self) -> str | None:
        if self.fulfillment is None or not self.fulfillment.fulfilled_by:
            return None
        return self.fulfillment.fulfilled_by.strip().upper()

    @property
    def is_business(self) -> bool:
        if "AMAZON_BUSINESS" in self.programs:
            return True
        return any(i.product.price and i.product.price.price_designation == "BUSINESS_PRICE" for i in self.order_items)

    @property
    def is_prime(self) -> bool:
        return "PRIME" in self.programs

    @property
    def is_preorder(self) -> bool:
        return "PREORDER" in self.programs

    @property
    def original_order_id(self) -> str | None:
        """The order this one replaces (``REPLACEMENT_ORIGINAL_ID``) or exchanges (``EXCHANGE_ORIGINAL_ID``)."""
        for kind in ("REPLACEMENT_ORIGINAL_ID", "EXCHANGE_ORIGINAL_ID"):
            for a in self.associated_orders:
                if a.association_type == kind and a.order_id:
                    return a.order_id
        return None

    @property
    def is_replacement(self) -> bool:
        return any(a.association_type == "REPLACEMENT_ORIGINAL_ID" for a in self.associated_orders)

    @property
    def purchase_order_number(self) -> str | None:
        if self.buyer is None or not self.buyer.buyer_purchase_order_number:
            return None
        return self.buyer.buyer_purchase_order_number.strip() or None

    @property
    def latest_ship_date(self) -> datetime | None:
        w = self.fulfillment.ship_by_window if self.fulfillment else None
        return w.latest_date_time if w else None

    @property
    def latest_delivery_date(self) -> datetime | None:
        w = self.fulfillment.deliver_by_window if self.fulfillment else None
        return w.latest_date_time if w else None

    @property
    def currency(self) -> str | None:
        """The order's currency (from ``grandTotal``, else the first item amount)."""
        if self.proceeds and self.proceeds.grand_total:
            return self.proceeds.grand_total.currency_code
        for item in self.order_items:
            for _, m in item.monies():
                return m.currency_code
        return None

    def monies(self) -> Iterable[tuple[str, Money]]:
        if self.proceeds is not None:
            if self.proceeds.grand_total is not None:
                yield "proceeds.grandTotal", self.proceeds.grand_total
            for b in self.proceeds.breakdowns:
                yield f"proceeds.breakdowns[{b.type}]", b.subtotal
        for item in self.order_items:
            for where, m in item.monies():
                yield f"orderItems[{item.order_item_id}].{where}", m


def parse_order(raw: Mapping[str, Any]) -> AmazonOrder:
    """Parse one Orders v2026-01-01 ``Order`` object (extra fields ignored, money as Decimal).

    Raises :class:`MappingError` listing the offending field paths; input values are never echoed,
    so the message is safe to store (no buyer PII).
    """
    try:
        return AmazonOrder.model_validate(raw)
    except ValidationError as exc:
        order_id = raw.get("orderId") if isinstance(raw, Mapping) else None
        order_id = order_id if isinstance(order_id, str) and _EXTERNAL_ID_RE.match(order_id) else None
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(order)'}: {e['msg']}" for e in exc.errors(include_input=False)
        )
        raise MappingError(
            f"order {order_id or '(unknown id)'}: not a valid Orders v2026-01-01 order — {problems}",
            order_id=order_id,
        ) from None


# ============================================================================================
# Lifecycle
# ============================================================================================
class OrderAction(StrEnum):
    UPSERT = "UPSERT"  # write (create or update in place) the NetSuite document
    CANCEL = "CANCEL"  # close the NetSuite document's lines (never delete)
    SKIP = "SKIP"  # nothing to write now (see reason)


class OrderDecision(BaseModel):
    model_config = ConfigDict(frozen=True)

    action: OrderAction
    reason: str
    record_type: Literal["salesOrder", "cashSale"] | None = None
    partially_cancelled: bool = False


def document_type(order: AmazonOrder, mp: MarketplaceConfig) -> Literal["salesOrder", "cashSale"]:
    """MFN (fulfilledBy MERCHANT) → ``salesOrder``; FBA (AMAZON) → ``mp.orders.fba_document``."""
    by = order.fulfilled_by
    if by == "MERCHANT":
        return "salesOrder"
    if by == "AMAZON":
        return mp.orders.fba_document
    raise MappingError(
        f"order {order.order_id}: fulfillment.fulfilledBy is {by or 'missing'} (expected MERCHANT or AMAZON) — "
        "request includedData=FULFILLMENT",
        order_id=order.order_id,
    )


def decide_action(order: AmazonOrder, mp: MarketplaceConfig, *, already_written: bool | None = None) -> OrderDecision:
    """What to do with this order now (see the lifecycle table in docs/tax-treatment.md).

    ``already_written``: whether the NetSuite document exists (None = unknown). A CANCELLED order
    that was never written needs nothing.
    """
    oid = order.order_id
    channel = order.sales_channel
    if channel.marketplace_id and channel.marketplace_id != mp.marketplace_id:
        return OrderDecision(action=OrderAction.SKIP, reason=f"belongs to marketplace {channel.marketplace_id}, not {mp.code}")
    if (channel.channel_name or "AMAZON").upper() == "NON_AMAZON":
        return OrderDecision(
            action=OrderAction.SKIP,
            reason="multi-channel fulfilment order sold outside Amazon — booked by the channel that sold it",
        )
    if order.fulfillment is None:
        raise MappingError(f"order {oid}: no fulfillment data — request includedData=FULFILLMENT", order_id=oid)
    status = order.fulfillment_status
    try:
        st = FulfillmentStatus(status)
    except ValueError:
        raise MappingError(
            f"order {oid}: unknown fulfillmentStatus {status!r} — order quarantined for review", order_id=oid
        ) from None
    if st in (FulfillmentStatus.PENDING, FulfillmentStatus.PENDING_AVAILABILITY):
        what = "pre-order awaiting availability" if st is FulfillmentStatus.PENDING_AVAILABILITY else "payment not authorised yet"
        return OrderDecision(
            action=OrderAction.SKIP,
            reason=f"{st.value}: {what}; Amazon hides prices until then — written when it next changes",
        )
    if st is FulfillmentStatus.UNFULFILLABLE:
        return OrderDecision(
            action=OrderAction.SKIP,
            reason="UNFULFILLABLE: Amazon cannot fulfil this order (multi-channel order not placed on Amazon) — nothing to book",
        )
    if st is FulfillmentStatus.CANCELLED:
        record_type = document_type(order, mp)
        if already_written is False:
            return OrderDecision(action=OrderAction.SKIP, reason="CANCELLED before it was written — nothing to close")
        if record_type == "cashSale":
            return OrderDecision(
                action=OrderAction.SKIP,
                reason="CANCELLED FBA order: cash sales are written only once shipped, and a shipped FBA order is "
                "refunded through the settlement, not cancelled — nothing to close",
            )
        return OrderDecision(
            action=OrderAction.CANCEL,
            reason="CANCELLED: close the NetSuite document's lines (never delete)",
            record_type=record_type,
        )
    record_type = document_type(order, mp)
    if order.fulfilled_by == "AMAZON" and st is not FulfillmentStatus.SHIPPED:
        return OrderDecision(
            action=OrderAction.SKIP,
            reason=f"{st.value}: FBA orders are written once SHIPPED",
        )
    cancelled = [i.order_item_id for i in order.order_items if i.has_cancellation]
    if cancelled:
        return OrderDecision(
            action=OrderAction.UPSERT,
            reason=f"{st.value}: partial cancellation — {len(cancelled)} item(s) with cancelled units get closed lines",
            record_type=record_type,
            partially_cancelled=True,
        )
    return OrderDecision(action=OrderAction.UPSERT, reason=f"{st.value}: write {record_type}", record_type=record_type)


# ============================================================================================
# Customer
# ============================================================================================
def buyer_key(order: AmazonOrder, mp: MarketplaceConfig) -> str | None:
    """Stable, non-reversible key of the buyer: sha256 of marketplace id + Amazon's anonymised buyer email.

    None when the order carries no buyer email (guest, FBA, or PII not requested).
    """
    email = order.buyer.buyer_email if order.buyer else None
    if not email or not email.strip():
        return None
    digest = hashlib.sha256(f"{mp.marketplace_id}|{email.strip().lower()}".encode()).hexdigest()
    return digest[:32].upper()


class CustomerUpsert(BaseModel):
    """A NetSuite customer to upsert (``PUT /record/v1/customer/eid:<external_id>``) before the order.

    ``body`` holds buyer PII (name, anonymised email) and is excluded from ``repr``; never log it.
    """

    model_config = ConfigDict(frozen=True)

    external_id: str
    buyer_key: str
    body: dict[str, Any] = Field(repr=False)


def customer_for_order(order: AmazonOrder, mp: MarketplaceConfig, *, currency_id: str | None = None) -> CustomerUpsert | None:
    """The per-buyer customer for customer strategy ``buyer``; None for strategy ``marketplace`` and guests."""
    if mp.customer.strategy != "buyer":
        return None
    key = buyer_key(order, mp)
    if key is None:
        return None
    external_id = f"AMZ-BUYER-{key}"
    buyer = order.buyer or Buyer()  # a key implies buyer data
    body: dict[str, Any] = {"externalId": external_id, "subsidiary": {"id": mp.subsidiary}, mp.customer.buyer_key_field: key}
    company = (buyer.buyer_company_name or "").strip()
    name = " ".join((buyer.buyer_name or "").split())
    if company:
        body |= {"isPerson": False, "companyName": company[:83]}
    elif " " in name:
        first, last = name.rsplit(" ", 1)
        body |= {"isPerson": True, "firstName": first[:32], "lastName": last[:32]}
    elif name:
        body |= {"isPerson": False, "companyName": name[:83]}
    else:
        body |= {"isPerson": False, "companyName": f"Amazon buyer {key[:8]}"}
    if buyer.buyer_email:
        body["email"] = buyer.buyer_email.strip()
    if currency_id:
        body["currency"] = {"id": currency_id}
    return CustomerUpsert(external_id=external_id, buyer_key=key, body=body)


# ============================================================================================
# NetSuite document
# ============================================================================================
class LineKind(StrEnum):
    PRODUCT = "PRODUCT"
    SHIPPING = "SHIPPING"
    GIFT_WRAP = "GIFT_WRAP"
    COD_FEE = "COD_FEE"
    OTHER = "OTHER"
    DISCOUNT = "DISCOUNT"
    DELIVERY_TIP = "DELIVERY_TIP"
    CLEARING = "CLEARING"


class DocumentLine(BaseModel):
    """One line of the NetSuite ``item`` sublist. ``key`` is stable across re-mappings of the order."""

    model_config = ConfigDict(frozen=True)

    key: str
    kind: LineKind
    item_id: str
    order_item_id: str | None = None
    sku: str | None = None
    quantity: int
    rate: Decimal
    amount: Decimal
    tax_code_id: str | None = None
    collector: TaxCollector | None = None  # None for lines without tax (order-level charges)
    tax_amount: Decimal = Decimal(0)  # tax1Amt: seller-collected tax only
    withheld_tax: Decimal = Decimal(0)  # marketplace-collected tax recorded on the withheld-tax line field
    is_closed: bool = False
    description: str | None = None

    def body(self, withheld_tax_field: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            "item": {"id": self.item_id},
            "quantity": self.quantity,
            "rate": self.rate,
            "amount": self.amount,
        }
        if self.tax_code_id:
            out["taxCode"] = {"id": self.tax_code_id}
            if self.kind is not LineKind.CLEARING:
                out["tax1Amt"] = self.tax_amount
        if self.collector is not None and self.collector is not TaxCollector.SELLER:
            out[withheld_tax_field] = self.withheld_tax
        if self.order_item_id:
            out[ORDER_ITEM_ID_FIELD] = self.order_item_id
        if self.description:
            out["description"] = self.description
        if self.is_closed:
            out["isClosed"] = True
        return out


def render_json(value: Any) -> str:
    """JSON text where ``Decimal`` values are JSON *numbers* written from their exact digits.

    No binary float is ever involved (``Decimal("12.50")`` → ``12.50``, JPY ``Decimal("5980")`` → ``5980``).
    NetSuite reads currency fields as numbers; this is the body the hook sends.
    """
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"cannot render non-finite amount {value}")
        return format(value, "f")  # plain digits, never an exponent: a valid JSON number
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{json.dumps(str(k))}: {render_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(render_json(v) for v in value) + "]"
    if isinstance(value, float):
        raise TypeError("refusing to render a float into a NetSuite body (money is Decimal)")
    return json.dumps(value, ensure_ascii=False)


class NetSuiteOrderDocument(BaseModel):
    """The NetSuite transaction for one Amazon order, ready to upsert by external id."""

    model_config = ConfigDict(frozen=True)

    record_type: Literal["salesOrder", "cashSale"]
    external_id: str
    order_id: str
    fulfilled_by: str
    currency: str
    header: dict[str, Any]  # JSON-safe body fields (strings, booleans, {"id": ...} references)
    lines: tuple[DocumentLine, ...]
    total: Decimal  # Σ line amount + tax1Amt == Amazon's grandTotal
    amazon_total: Decimal | None  # None only for a cancelled order without proceeds
    withheld_tax_total: Decimal
    seller_tax_total: Decimal
    withheld_tax_field: str
    tax_decisions: tuple[TaxDecision, ...] = ()

    @property
    def body(self) -> dict[str, Any]:
        """The record body; money values are ``Decimal`` (render with :meth:`body_json`)."""
        return {**self.header, "item": {"items": [line.body(self.withheld_tax_field) for line in self.lines]}}

    def body_json(self) -> str:
        return render_json(self.body)

    @property
    def lines_summary(self) -> tuple[dict[str, Any], ...]:
        return tuple(
            {
                "key": line.key, "kind": line.kind.value, "item": line.item_id, "quantity": line.quantity,
                "amount": line.amount, "tax": line.tax_amount, "withheld": line.withheld_tax, "closed": line.is_closed,
            }
            for line in self.lines
        )


def external_id_for(order_id: str) -> str:
    """``AMZ-<orderId>`` (letters, digits, ``_`` and ``-`` only)."""
    if not _EXTERNAL_ID_RE.match(order_id):
        raise MappingError(f"order id {order_id!r} contains characters NetSuite external ids do not allow", order_id=None)
    return f"AMZ-{order_id}"


class _Ctx:
    """Per-order mapping context: currency checks and config lookups with good messages."""

    def __init__(self, order: AmazonOrder, mp: MarketplaceConfig, charge_items: Mapping[str, str]):
        self.order = order
        self.mp = mp
        self.oid = order.order_id
        self.currency = order.currency or mp.currency
        self.charge_items = charge_items
        self.zero = quantize(Decimal(0), self.currency)

    def err(self, msg: str, key: str | None = None) -> MappingError:
        return MappingError(f"order {self.oid}: {msg}", order_id=self.oid, config_key=key)

    def exact(self, amount: Decimal, where: str) -> Decimal:
        q = quantize(amount, self.currency)
        if q != amount:
            raise self.err(f"{where} = {amount} has more decimals than {self.currency} allows ({minor_units(self.currency)})")
        return q if q else q.copy_abs()  # no negative zero

    def check_currencies(self) -> None:
        for where, money in self.order.monies():
            if money.currency_code != self.currency:
                raise self.err(f"{where} is in {money.currency_code} but the order is in {self.currency} — mixed currencies are not booked")

    def charge_item(self, kind: str) -> str:
        if kind in self.charge_items:
            return self.charge_items[kind]
        configured = {
            "SHIPPING": self.mp.orders.shipping_item,
            "GIFT_WRAP": self.mp.orders.gift_wrap_item,
            "DISCOUNT": self.mp.orders.discount_item,
        }.get(kind)
        if configured:
            return configured
        key = _CHARGE_CONFIG_KEYS.get(kind)
        if key:
            raise self.err(
                f"has a {kind} amount but marketplaces.{self.mp.code}.{key} is not set — set it to the NetSuite item "
                "for these charges", key,
            )
        raise self.err(f"has a {kind} charge but no NetSuite item is configured for {kind} charges (charge_items) — order quarantined")


def _rate(amount: Decimal, quantity: int, unit_price: Decimal | None) -> Decimal:
    """Unit rate: Amazon's unit price when it multiplies out to the amount, else amount / quantity.

    The line ``amount`` is authoritative (it is what Amazon charged); the rate is informative.
    """
    if quantity <= 0:
        return Decimal(0)
    if unit_price is not None and unit_price * quantity == amount:
        return unit_price
    rate = amount / quantity
    if rate * quantity == amount:
        return rate
    return rate.quantize(Decimal("0.00000001"))


def _lines_for_item(
    ctx: _Ctx, item: OrderItem, decision: TaxDecision, item_ids: Mapping[str, str], order_cancelled: bool
) -> list[DocumentLine]:
    oid, oiid = ctx.oid, item.order_item_id
    amounts = {k: ctx.exact(v, f"item {oiid} {k}") for k, v in item.charge_amounts(oid).items()}
    ordered = item.quantity_ordered
    cancelled = min(item.cancelled_quantity(order_cancelled), ordered)
    open_qty = ordered - cancelled
    closed_item = open_qty <= 0
    sku = item.sku

    zero = ctx.zero

    def tax_fields(component: str, *, carries_tax: bool = True) -> dict[str, Any]:
        tax = ctx.exact(decision.tax_for(component), f"item {oiid} {component} tax") if carries_tax else zero
        return {
            "tax_code_id": decision.tax_code_id,
            "collector": decision.collector,
            "tax_amount": zero if decision.withheld else tax,
            "withheld_tax": tax if decision.withheld else zero,
        }

    lines: list[DocumentLine] = []
    item_amount = amounts.get("ITEM", zero)
    if ordered == 0:
        # Amazon reports a fully cancelled item as quantity 0 with zero proceeds: keep a closed zero line
        if item_amount != 0 or decision.total_tax != 0 or any(v != 0 for v in amounts.values()):
            raise ctx.err(f"item {oiid} has quantity 0 but non-zero proceeds — order quarantined for review")
        if not (order_cancelled or item.has_cancellation):
            return lines
    item_id = item_ids.get(sku) if sku else None
    if not item_id:
        if closed_item and item_amount == 0 and decision.total_tax == 0 and not any(amounts.values()):
            return lines  # a cancelled item was never booked with an unknown SKU: nothing to close
        if not sku:
            raise ctx.err(f"item {oiid} has no sellerSku — order quarantined")
        shown = sku if len(sku) <= 80 else f"{sku[:60]}… ({len(sku)} characters)"
        raise ctx.err(f"SKU '{shown}' has no NetSuite item (create the item or map the SKU) — order quarantined")
    unit = item.unit_price.amount if item.unit_price else None
    qty = open_qty if not closed_item else ordered
    lines.append(DocumentLine(
        key=f"{oiid}:ITEM", kind=LineKind.PRODUCT, item_id=item_id, order_item_id=oiid, sku=sku, quantity=qty,
        rate=_rate(item_amount, qty, unit), amount=item_amount, is_closed=closed_item, **tax_fields("ITEM"),
    ))
    if cancelled and not closed_item:
        lines.append(DocumentLine(
            key=f"{oiid}:ITEM:CANCELLED", kind=LineKind.PRODUCT, item_id=item_id, order_item_id=oiid, sku=sku,
            quantity=cancelled, rate=zero, amount=zero, is_closed=True, description=f"Cancelled by Amazon ({cancelled})",
            **tax_fields("ITEM", carries_tax=False),
        ))
    for kind, line_kind in (("SHIPPING", LineKind.SHIPPING), ("GIFT_WRAP", LineKind.GIFT_WRAP),
                            ("COD_FEE", LineKind.COD_FEE), ("OTHER", LineKind.OTHER)):
        amount = amounts.get(kind, zero)
        if amount == 0 and decision.tax_for(kind) == 0:
            continue
        lines.append(DocumentLine(
            key=f"{oiid}:{kind}", kind=line_kind, item_id=ctx.charge_item(kind), order_item_id=oiid, sku=sku,
            quantity=1, rate=amount, amount=amount, is_closed=closed_item,
            description=f"{kind.replace('_', ' ').title()} for {sku}"[:4000], **tax_fields(kind),
        ))
    parts = {k: ctx.exact(v, f"item {oiid} DISCOUNT {k}") for k, v in item.discount_parts(oid).items()}
    if not parts and decision.discount_tax != 0:
        parts = {"ITEM": zero}
    promos = ", ".join(item.promotion_ids)
    for n, (sub, amount) in enumerate(sorted(parts.items())):
        fields = tax_fields("DISCOUNT", carries_tax=(n == 0))
        label = f"Promotion {promos}" if promos else "Promotion"
        lines.append(DocumentLine(
            key=f"{oiid}:DISCOUNT:{sub}", kind=LineKind.DISCOUNT, item_id=ctx.charge_item("DISCOUNT"), order_item_id=oiid,
            sku=sku, quantity=1, rate=amount, amount=amount, is_closed=closed_item,
            description=f"{label} ({sub.lower().replace('_', ' ')}) for {sku}"[:4000], **fields,
        ))
    return lines


def _header(
    order: AmazonOrder, mp: MarketplaceConfig, record_type: str, external_id: str, entity: str,
    currency_ids: Mapping[str, str] | None, currency: str, original_internal_id: str | None,
) -> dict[str, Any]:
    tz = ZoneInfo(mp.timezone)
    oid = order.order_id
    by = order.fulfilled_by
    if by == "MERCHANT":
        if not mp.locations.mfn:
            raise MappingError(
                f"order {oid}: MFN order but marketplaces.{mp.code}.locations.mfn is empty — set the NetSuite location "
                "that ships merchant-fulfilled orders", order_id=oid, config_key="locations.mfn",
            )
        location = mp.locations.mfn[0].location_id
    else:
        if not mp.locations.fba:
            raise MappingError(
                f"order {oid}: FBA order but marketplaces.{mp.code}.locations.fba is not set — set the NetSuite location "
                "mirroring Amazon's FBA stock", order_id=oid, config_key="locations.fba",
            )
        location = mp.locations.fba
    h: dict[str, Any] = {
        "externalId": external_id,
        "entity": {"id": entity},
        "subsidiary": {"id": mp.subsidiary},
    }
    if currency_ids is not None:
        cid = currency_ids.get(currency)
        if not cid:
            raise MappingError(
                f"order {oid}: currency {currency} has no NetSuite currency record (add it in NetSuite: "
                "Lists > Accounting > Currencies) — order quarantined", order_id=oid,
            )
        h["currency"] = {"id": cid}
    channel_name = order.sales_channel.marketplace_name or f"Amazon {mp.country}"
    flags = "FBA" if by == "AMAZON" else "MFN"
    memo = f"{channel_name} order {oid} ({flags})"
    if order.is_replacement and order.original_order_id:
        memo += f" — replacement for {order.original_order_id}"
    h |= {
        "location": {"id": location},
        "tranDate": order.created_time.astimezone(tz).date().isoformat(),
        "otherRefNum": (order.purchase_order_number if order.is_business and order.purchase_order_number else oid)[:45],
        "memo": memo[:999],
    }
    if mp.channel.sales_channel:
        h["salesChannel"] = {"id": mp.channel.sales_channel}
    if mp.channel.department:
        h["department"] = {"id": mp.channel.department}
    if mp.channel.class_:
        h["class"] = {"id": mp.channel.class_}
    h |= dict(mp.channel.custom_fields)
    if mp.channel.order_source_field:
        h[mp.channel.order_source_field] = oid
    if record_type == "salesOrder":
        h["orderStatus"] = PENDING_FULFILLMENT
    ship_by = order.latest_ship_date
    if ship_by is not None:
        h["shipDate"] = ship_by.astimezone(tz).date().isoformat()
        h[CUSTOM_FIELDS["ship_by"]] = ship_by.strftime("%Y-%m-%dT%H:%M:%SZ")
    deliver_by = order.latest_delivery_date
    if deliver_by is not None:
        h[CUSTOM_FIELDS["deliver_by"]] = deliver_by.strftime("%Y-%m-%dT%H:%M:%SZ")
    h |= {
        CUSTOM_FIELDS["is_business"]: order.is_business,
        CUSTOM_FIELDS["is_prime"]: order.is_prime,
        CUSTOM_FIELDS["is_replacement"]: order.is_replacement,
        CUSTOM_FIELDS["is_preorder"]: order.is_preorder,
    }
    if order.original_order_id:
        h[CUSTOM_FIELDS["original_order"]] = order.original_order_id
        if original_internal_id:
            h[CUSTOM_FIELDS["original_transaction"]] = {"id": str(original_internal_id)}
    return h


def map_order(
    order: AmazonOrder,
    mp: MarketplaceConfig,
    *,
    item_ids: Mapping[str, str],
    customer_id: str | None = None,
    original_internal_id: str | None = None,
    currency_ids: Mapping[str, str] | None = None,
    charge_items: Mapping[str, str] | None = None,
) -> NetSuiteOrderDocument:
    """Map a parsed order to its NetSuite document (``salesOrder`` for MFN, ``mp.orders.fba_document`` for FBA).

    - ``item_ids``: SKU → NetSuite item internal id (resolved in batches by the caller).
    - ``customer_id``: the buyer's customer (strategy ``buyer``, from :func:`customer_for_order`);
      otherwise the marketplace customer ``mp.customer.customer_id`` is used.
    - ``original_internal_id``: NetSuite internal id of the original order of a replacement, when known.
    - ``currency_ids``: ISO code → NetSuite currency internal id; None leaves ``currency`` unset
      (NetSuite then uses the customer's currency).
    - ``charge_items``: NetSuite items for charge types without a config key (``DELIVERY_TIP``,
      ``COD_FEE``, ``OTHER``); may also override ``SHIPPING`` / ``GIFT_WRAP`` / ``DISCOUNT``.

    Raises :class:`MappingError` (one line, names the fix) for unknown SKUs, missing configuration,
    inconsistent amounts and a total that differs from Amazon's ``grandTotal``.
    """
    oid = order.order_id
    external_id = external_id_for(oid)
    ctx = _Ctx(order, mp, charge_items or {})
    ctx.check_currencies()
    record_type = document_type(order, mp)
    order_cancelled = order.fulfillment_status == FulfillmentStatus.CANCELLED
    has_proceeds = order.proceeds is not None and order.proceeds.grand_total is not None
    if not has_proceeds and not order_cancelled:
        raise ctx.err("has no proceeds.grandTotal — request includedData=PROCEEDS (and TAX, PROMOTION)")
    for item in order.order_items:
        if item.proceeds is None and not order_cancelled and item.quantity_ordered > 0:
            raise ctx.err(f"item {item.order_item_id} has no proceeds — request includedData=PROCEEDS")

    # customer
    if customer_id:
        entity = str(customer_id)
    elif customer_for_order(order, mp) is not None:
        raise ctx.err(
            "customer strategy is 'buyer': upsert customer_for_order() first and pass its internal id as customer_id"
        )
    elif mp.customer.customer_id:
        entity = mp.customer.customer_id
    else:
        raise ctx.err(
            f"marketplaces.{mp.code}.customer.customer_id is not set — set the NetSuite customer that receives this "
            "marketplace's orders", "customer.customer_id",
        )

    decisions: list[TaxDecision] = []
    lines: list[DocumentLine] = []
    for item in order.order_items:
        decision = decide_line_tax(item, order, mp)
        decisions.append(decision)
        lines.extend(_lines_for_item(ctx, item, decision, item_ids, order_cancelled))

    if record_type == "cashSale":
        # a cash sale records what shipped; it has no closed lines — cancelled units are simply not on it
        lines = [line for line in lines if not line.is_closed]
    all_closed = bool(lines) and all(line.is_closed for line in lines)
    if order.proceeds is not None:
        for b in order.proceeds.breakdowns:
            kind = b.type.strip().upper()
            if kind in _ORDER_AGGREGATE_TYPES:
                continue
            if kind not in _ORDER_LEVEL_TYPES:
                raise ctx.err(f"unknown order-level proceeds type {b.type!r} — order quarantined for review")
            amount = ctx.exact(b.subtotal.amount, f"proceeds {kind}")
            if amount == 0:
                continue
            lines.append(DocumentLine(
                key=f"ORDER:{kind}", kind=LineKind(kind), item_id=ctx.charge_item(kind), quantity=1, rate=amount,
                amount=amount, is_closed=all_closed, description=kind.replace("_", " ").title(),
            ))

    withheld = sum((line.withheld_tax for line in lines), Decimal(0))
    if withheld != 0:
        if not mp.tax.clearing_item:
            raise ctx.err(
                f"Amazon withheld tax {withheld} {ctx.currency} but marketplaces.{mp.code}.tax.clearing_item is not set — "
                "set the NetSuite item that posts to the marketplace-tax clearing account", "tax.clearing_item",
            )
        withheld = ctx.exact(withheld, "withheld tax")
        lines.append(DocumentLine(
            key="CLEARING", kind=LineKind.CLEARING, item_id=mp.tax.clearing_item, quantity=1, rate=withheld,
            amount=withheld, tax_code_id=mp.tax.marketplace_collected_code, is_closed=all_closed,
            description="Marketplace-collected tax (clearing; nets to zero with the settlement's withheld tax)",
        ))
    if not lines and not order_cancelled:
        raise ctx.err("has no lines to book — order quarantined for review")

    total = sum((line.amount + line.tax_amount for line in lines), Decimal(0))
    total = quantize(total, ctx.currency)
    amazon_total: Decimal | None = None
    if has_proceeds:
        amazon_total = ctx.exact(order.proceeds.grand_total.amount, "proceeds.grandTotal")  # type: ignore[union-attr]
        if total != amazon_total:
            hints = []
            for item in order.order_items:
                pt = item.proceeds.proceeds_total if item.proceeds else None
                if pt is not None:
                    s = sum(item.charge_amounts(oid).values(), Decimal(0)) + sum(item.tax_components(oid).values(), Decimal(0))
                    if s != pt.amount:
                        hints.append(f"item {item.order_item_id} breakdowns sum to {s} vs proceedsTotal {pt.amount}")
            hint = f" ({'; '.join(hints)})" if hints else ""
            raise ctx.err(
                f"NetSuite document total {total} {ctx.currency} does not equal Amazon's order total "
                f"{amazon_total} {ctx.currency}{hint} — not posted; check the order's proceeds breakdowns",
            )

    header = _header(order, mp, record_type, external_id, entity, currency_ids, ctx.currency, original_internal_id)
    return NetSuiteOrderDocument(
        record_type=record_type,
        external_id=external_id,
        order_id=oid,
        fulfilled_by=order.fulfilled_by or "",
        currency=ctx.currency,
        header=header,
        lines=tuple(lines),
        total=total,
        amazon_total=amazon_total,
        withheld_tax_total=sum((line.withheld_tax for line in lines), Decimal(0)),
        seller_tax_total=sum((line.tax_amount for line in lines), Decimal(0)),
        withheld_tax_field=mp.tax.withheld_tax_field,
        tax_decisions=tuple(decisions),
    )


# ============================================================================================
# Cancellation
# ============================================================================================
class DocumentPatch(BaseModel):
    """A ``PATCH /record/v1/{record_type}/eid:{external_id}`` body (send with ``?replace=`` when set)."""

    model_config = ConfigDict(frozen=True)

    record_type: Literal["salesOrder", "cashSale"]
    external_id: str
    body: dict[str, Any]
    replace: tuple[str, ...] = ()
    closed_lines: int

    def body_json(self) -> str:
        return render_json(self.body)


def close_document_patch(
    doc: NetSuiteOrderDocument, order: AmazonOrder, *, line_numbers: Mapping[str, int] | None = None
) -> DocumentPatch:
    """PATCH closing the cancelled lines of an existing sales order (all lines for a CANCELLED order).

    ``doc`` is :func:`map_order` of the current order state (its cancelled units are closed lines).
    With ``line_numbers`` (line key → NetSuite ``line``, read from the existing document) the patch
    updates those lines in place and appends new ones; without it every line is re-sent and the
    caller must PATCH with ``replace=item`` (NetSuite has no single-line delete). Documents are never
    deleted. Cash sales cannot be closed: a shipped FBA order that Amazon later refunds is handled by
    the settlement's refund lines.
    """
    if doc.record_type != "salesOrder":
        raise MappingError(
            f"order {order.order_id}: a {doc.record_type} cannot be closed — FBA orders are booked once shipped; "
            "Amazon refunds them through the settlement (refund lines)", order_id=order.order_id,
        )
    cancel_all = order.fulfillment_status == FulfillmentStatus.CANCELLED
    items: list[dict[str, Any]] = []
    closed = 0
    for line in doc.lines:
        body = line.body(doc.withheld_tax_field)
        if cancel_all and not line.is_closed:
            body["isClosed"] = True
        if line_numbers is not None:
            if line.key in line_numbers:
                body = {"line": int(line_numbers[line.key]), **body}
                if line.quantity == 0:  # Amazon no longer says how many were ordered: keep NetSuite's quantity
                    del body["quantity"]
            elif line.quantity == 0 and body.get("isClosed"):
                continue  # a zero line that never reached NetSuite: nothing to close
        if body.get("isClosed"):
            closed += 1
        items.append(body)
    replace: tuple[str, ...] = () if line_numbers is not None else ("item",)
    return DocumentPatch(
        record_type=doc.record_type, external_id=doc.external_id, body={"item": {"items": items}},
        replace=replace, closed_lines=closed,
    )
