"""NetSuite → Amazon writebacks for merchant-fulfilled (MFN) orders — pure domain code.

(a) **Acknowledgement** — feed type ``POST_ORDER_ACKNOWLEDGEMENT_DATA`` takes Amazon's classic XML
    envelope (it has no JSON flavour)::

        <AmazonEnvelope xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
                        xsi:noNamespaceSchemaLocation="amzn-envelope.xsd">
          <Header><DocumentVersion>1.01</DocumentVersion><MerchantIdentifier>SELLER</MerchantIdentifier></Header>
          <MessageType>OrderAcknowledgement</MessageType>
          <Message><MessageID>1</MessageID>
            <OrderAcknowledgement>
              <AmazonOrderID>…</AmazonOrderID><MerchantOrderID>NetSuite tranId</MerchantOrderID>
              <StatusCode>Success</StatusCode>
              <Item><AmazonOrderItemCode>…</AmazonOrderItemCode><MerchantOrderItemID>…</MerchantOrderItemID></Item>
            </OrderAcknowledgement>
          </Message>
        </AmazonEnvelope>

    Built with :mod:`xml.etree.ElementTree`, so every value is escaped; characters XML 1.0 cannot carry
    (control characters) are refused. With the NetSuite document number as ``MerchantOrderID`` the
    settlement report's ``merchant-order-id`` carries it.
(b) **Shipment confirmation** — ``confirmShipment`` ``packageDetail`` from a NetSuite itemFulfillment:
    tracking number, Amazon carrier code (``Other`` + ``carrierName`` when the carrier is not known),
    ship date (ISO-8601 UTC), order items from ``custcol_amz_order_item_id`` + quantity, and a
    ``packageReferenceId`` equal to the fulfilment's internal id — numeric as Amazon requires, and the
    same on every retry, so a resend edits the package instead of adding one.
(c) **Ship-by alerts** — MFN orders close to (or past) ``latestShipDate`` without a fulfilment.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Collection, Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from airflow_provider_amznetsuite.domain.orders import ORDER_ITEM_ID_FIELD, AmazonOrder, FulfillmentStatus
from airflow_provider_amznetsuite.domain.tax import MappingError

__all__ = [
    "ACK_FEED_CONTENT_TYPE",
    "ACK_FEED_TYPE",
    "DEFAULT_CARRIER_CODES",
    "Acknowledgement",
    "AcknowledgementItem",
    "ShipByAlert",
    "acknowledgement_feed",
    "acknowledgement_for",
    "carrier_for",
    "confirm_shipment_body",
    "ship_by_alerts",
    "shipment_package_detail",
]

ACK_FEED_TYPE = "POST_ORDER_ACKNOWLEDGEMENT_DATA"
ACK_FEED_CONTENT_TYPE = "text/xml; charset=UTF-8"
_XSI = "http://www.w3.org/2001/XMLSchema-instance"
# XML 1.0 forbids C0 controls other than tab/CR/LF, surrogates and U+FFFE/U+FFFF.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


# ============================================================================================
# (a) acknowledgement feed
# ============================================================================================
class AcknowledgementItem(BaseModel):
    model_config = ConfigDict(frozen=True)

    amazon_order_item_code: str
    merchant_order_item_id: str | None = None


class Acknowledgement(BaseModel):
    model_config = ConfigDict(frozen=True)

    amazon_order_id: str
    merchant_order_id: str | None = None  # the NetSuite document number (tranId)
    status: str = "Success"  # Success | Failure
    items: tuple[AcknowledgementItem, ...] = ()


def acknowledgement_for(
    order: AmazonOrder, tran_id: str, *, merchant_item_ids: Mapping[str, str] | None = None
) -> Acknowledgement:
    """Success acknowledgement of an MFN order written to NetSuite as document ``tran_id``.

    ``merchant_item_ids`` (orderItemId → NetSuite line id) fills ``MerchantOrderItemID`` when known.
    """
    if order.fulfilled_by != "MERCHANT":
        raise MappingError(
            f"order {order.order_id}: only merchant-fulfilled orders are acknowledged (this one is {order.fulfilled_by})",
            order_id=order.order_id,
        )
    ids = merchant_item_ids or {}
    items = tuple(
        AcknowledgementItem(amazon_order_item_code=i.order_item_id, merchant_order_item_id=ids.get(i.order_item_id))
        for i in order.order_items
    )
    return Acknowledgement(amazon_order_id=order.order_id, merchant_order_id=tran_id, items=items)


def _text(parent: ET.Element, tag: str, value: str, what: str) -> None:
    if _XML_ILLEGAL.search(value):
        raise ValueError(f"{what} contains a character XML cannot carry (control character) — fix the value")
    ET.SubElement(parent, tag).text = value


def acknowledgement_feed(acks: Iterable[Acknowledgement], *, merchant_identifier: str) -> bytes:
    """The ``POST_ORDER_ACKNOWLEDGEMENT_DATA`` feed document (UTF-8 XML, one message per order)."""
    root = ET.Element("AmazonEnvelope", {f"{{{_XSI}}}noNamespaceSchemaLocation": "amzn-envelope.xsd"})
    header = ET.SubElement(root, "Header")
    _text(header, "DocumentVersion", "1.01", "DocumentVersion")
    _text(header, "MerchantIdentifier", merchant_identifier, "MerchantIdentifier")
    _text(root, "MessageType", "OrderAcknowledgement", "MessageType")
    count = 0
    for n, ack in enumerate(acks, start=1):
        if ack.status not in ("Success", "Failure"):
            raise ValueError(f"acknowledgement status {ack.status!r} must be 'Success' or 'Failure'")
        msg = ET.SubElement(root, "Message")
        _text(msg, "MessageID", str(n), "MessageID")
        body = ET.SubElement(msg, "OrderAcknowledgement")
        _text(body, "AmazonOrderID", ack.amazon_order_id, "AmazonOrderID")
        if ack.merchant_order_id:
            _text(body, "MerchantOrderID", ack.merchant_order_id, f"MerchantOrderID of {ack.amazon_order_id}")
        _text(body, "StatusCode", ack.status, "StatusCode")
        for item in ack.items:
            el = ET.SubElement(body, "Item")
            _text(el, "AmazonOrderItemCode", item.amazon_order_item_code, "AmazonOrderItemCode")
            if item.merchant_order_item_id:
                _text(el, "MerchantOrderItemID", item.merchant_order_item_id, "MerchantOrderItemID")
        count += 1
    if count == 0:
        raise ValueError("no acknowledgements to send (an empty feed is refused by Amazon)")
    return ET.tostring(root, encoding="UTF-8", xml_declaration=True)


# ============================================================================================
# (b) shipment confirmation
# ============================================================================================
#: NetSuite carrier / ship-method name prefix (normalised: lower case, words) → Amazon ``carrierCode``.
#: The longest matching prefix wins ("dhl ecommerce" before "dhl"); pass ``carrier_codes`` to add or
#: override names; anything else is sent as ``Other`` with the NetSuite name as ``carrierName``.
DEFAULT_CARRIER_CODES: dict[str, str] = {
    "usps": "USPS",
    "united states postal service": "USPS",
    "ups": "UPS",
    "ups mail innovations": "UPS Mail Innovations",
    "fedex": "FedEx",
    "fed ex": "FedEx",
    "dhl": "DHL",
    "dhl express": "DHL",
    "dhl ecommerce": "DHL eCommerce",
    "dhl paket": "DHL",
    "deutsche post": "Deutsche Post",
    "royal mail": "Royal Mail",
    "parcelforce": "Parcelforce",
    "dpd": "DPD",
    "yodel": "Yodel",
    "evri": "Evri",
    "hermes": "Hermes",
    "gls": "GLS",
    "ontrac": "OnTrac",
    "amazon shipping": "Amazon Shipping",
    "canada post": "Canada Post",
    "japan post": "Japan Post",
    "yamato": "Yamato Transport",
    "sagawa": "Sagawa Express",
    "australia post": "Australia Post",
    "la poste": "La Poste",
    "colissimo": "Colissimo",
    "chronopost": "Chronopost",
    "poste italiane": "Poste Italiane",
    "correos": "Correos",
    "postnl": "PostNL",
    "tnt": "TNT",
}


def _norm(name: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9]+", " ", name.lower()).split())


def carrier_for(name: str | None, carrier_codes: Mapping[str, str] | None = None) -> tuple[str, str | None]:
    """``(carrierCode, carrierName)`` for a NetSuite carrier / ship-method name.

    ``carrierName`` is set only when ``carrierCode`` is ``Other`` (Amazon requires it then).
    """
    if not name or not name.strip():
        raise ValueError("no carrier: the fulfilment has no ship method or carrier — set one in NetSuite")
    norm = _norm(name)
    table = {_norm(k): v for k, v in DEFAULT_CARRIER_CODES.items()}
    if carrier_codes:
        table |= {_norm(k): v for k, v in carrier_codes.items()}
    words = norm.split()
    for n in range(len(words), 0, -1):
        code = table.get(" ".join(words[:n]))
        if code:
            return code, (name.strip() if code == "Other" else None)
    return "Other", name.strip()[:64]


def _ref_name(value: Any) -> str | None:
    if isinstance(value, Mapping):
        name = value.get("refName") or value.get("name")
        return str(name) if name else None
    return str(value) if value else None


def _sublist(record: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    value = record.get(key)
    if isinstance(value, Mapping):
        value = value.get("items")
    return [v for v in value or [] if isinstance(v, Mapping)]


class _Fulfillment(BaseModel):
    """The parts of a NetSuite ``itemFulfillment`` (read with ``expandSubResources=true``) that we use."""

    model_config = ConfigDict(frozen=True)

    internal_id: str
    tran_date: date | None = None
    created: datetime | None = None
    carrier: str | None = None
    ship_method: str | None = None
    tracking_numbers: tuple[str, ...] = ()
    quantities: dict[str, int] = Field(default_factory=dict)  # orderItemId -> quantity

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> _Fulfillment:
        fid = str(record.get("id") or "").strip()
        if not fid.isdigit() or int(fid) <= 0:
            raise MappingError(f"fulfilment id {fid!r} is not a NetSuite internal id (positive digits)")
        tracking: list[str] = []
        for sub, field in (("package", "packageTrackingNumber"), ("packageUps", "packageTrackingNumberUps"),
                           ("packageFedEx", "packageTrackingNumberFedEx"), ("packageUsps", "packageTrackingNumberUsps")):
            for pkg in _sublist(record, sub):
                number = str(pkg.get(field) or pkg.get("trackingNumber") or "").strip()
                if number and number not in tracking:
                    tracking.append(number)
        for number in re.split(r"[\s,]+", str(record.get("linkedTrackingNumbers") or "")):
            if number and number not in tracking:
                tracking.append(number)
        quantities: dict[str, int] = {}
        for n, line in enumerate(_sublist(record, "item"), start=1):
            if line.get("itemReceive") is False:
                continue
            raw_qty = line.get("quantity")
            if isinstance(raw_qty, float) and raw_qty.is_integer():  # NetSuite may send 2.0 (a count, not money)
                raw_qty = int(raw_qty)
            if isinstance(raw_qty, bool) or not isinstance(raw_qty, int | str) or not str(raw_qty).strip().isdigit():
                raise MappingError(f"fulfilment {fid} line {n}: quantity {raw_qty!r} is not a whole number")
            qty = int(raw_qty)
            if qty <= 0:
                continue
            oiid = str(line.get(ORDER_ITEM_ID_FIELD) or "").strip()
            if not oiid:
                raise MappingError(
                    f"fulfilment {fid} line {n} has no {ORDER_ITEM_ID_FIELD} — the sales order line was not created by "
                    "this provider; fill the Amazon order item id on the line"
                )
            quantities[oiid] = quantities.get(oiid, 0) + qty
        tran_date = record.get("tranDate")
        created = record.get("createdDate")
        return cls(
            internal_id=str(int(fid)),
            tran_date=date.fromisoformat(str(tran_date)[:10]) if tran_date else None,
            created=datetime.fromisoformat(str(created).replace("Z", "+00:00")) if created else None,
            carrier=_ref_name(record.get("shipCarrier")),
            ship_method=_ref_name(record.get("shipMethod")),
            tracking_numbers=tuple(tracking),
            quantities=quantities,
        )


def _ship_date(f: _Fulfillment, order: AmazonOrder, timezone: str, now: datetime | None) -> datetime:
    if f.tran_date is not None:
        when = datetime.combine(f.tran_date, time(12, 0), tzinfo=ZoneInfo(timezone)).astimezone(UTC)
    elif f.created is not None:
        when = (f.created if f.created.tzinfo else f.created.replace(tzinfo=UTC)).astimezone(UTC)
    else:
        raise MappingError(f"fulfilment {f.internal_id} has neither tranDate nor createdDate — cannot date the shipment")
    if now is not None and when > now:
        when = now.astimezone(UTC)  # Amazon refuses ship dates in the future
    return max(when, order.created_time)


def shipment_package_detail(
    order: AmazonOrder,
    fulfillment_record: Mapping[str, Any],
    *,
    carrier_codes: Mapping[str, str] | None = None,
    timezone: str = "UTC",
    now: datetime | None = None,
) -> dict[str, Any]:
    """``packageDetail`` for ``confirmShipment`` from a NetSuite itemFulfillment record.

    - ``packageReferenceId`` = the fulfilment's internal id (positive numeric, stable → idempotent);
    - ``carrierCode`` from ``shipCarrier`` / ``shipMethod`` names (:func:`carrier_for`);
    - ``trackingNumber`` = the first package's tracking number (one package per fulfilment);
    - ``shipDate`` = the fulfilment's ``tranDate`` at 12:00 in ``timezone`` (UTC ISO-8601), never in the
      future relative to ``now``, never before the order was placed;
    - ``orderItems`` = Σ fulfilled quantity per ``custcol_amz_order_item_id``.
    """
    oid = order.order_id
    if order.fulfilled_by != "MERCHANT":
        raise MappingError(f"order {oid}: only merchant-fulfilled orders are confirmed to Amazon", order_id=oid)
    f = _Fulfillment.from_record(fulfillment_record)
    if not f.tracking_numbers:
        raise MappingError(
            f"order {oid}: fulfilment {f.internal_id} has no tracking number — add it to the package in NetSuite",
            order_id=oid,
        )
    if not f.quantities:
        raise MappingError(f"order {oid}: fulfilment {f.internal_id} ships no Amazon order items", order_id=oid)
    ordered = {i.order_item_id: i.quantity_ordered for i in order.order_items}
    for oiid, qty in f.quantities.items():
        if oiid not in ordered:
            raise MappingError(
                f"order {oid}: fulfilment {f.internal_id} ships order item {oiid}, which is not on this Amazon order",
                order_id=oid,
            )
        if qty > ordered[oiid]:
            raise MappingError(
                f"order {oid}: fulfilment {f.internal_id} ships {qty} of item {oiid} but Amazon ordered {ordered[oiid]}",
                order_id=oid,
            )
    try:
        code, name = carrier_for(f.carrier or f.ship_method, carrier_codes)
    except ValueError as exc:
        raise MappingError(f"order {oid}: fulfilment {f.internal_id}: {exc}", order_id=oid) from None
    detail: dict[str, Any] = {
        "packageReferenceId": f.internal_id,
        "carrierCode": code,
        "trackingNumber": f.tracking_numbers[0],
        "shipDate": _ship_date(f, order, timezone, now).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "orderItems": [{"orderItemId": oiid, "quantity": qty} for oiid, qty in f.quantities.items()],
    }
    if name:
        detail["carrierName"] = name
    if f.ship_method:
        detail["shippingMethod"] = f.ship_method[:250]
    return detail


def confirm_shipment_body(
    order: AmazonOrder,
    fulfillment_record: Mapping[str, Any],
    *,
    marketplace_id: str,
    carrier_codes: Mapping[str, str] | None = None,
    timezone: str = "UTC",
    now: datetime | None = None,
) -> dict[str, Any]:
    """The whole ``confirmShipment`` request body: ``{marketplaceId, packageDetail}``."""
    return {
        "marketplaceId": marketplace_id,
        "packageDetail": shipment_package_detail(
            order, fulfillment_record, carrier_codes=carrier_codes, timezone=timezone, now=now
        ),
    }


# ============================================================================================
# (c) ship-by alerts
# ============================================================================================
class ShipByAlert(BaseModel):
    model_config = ConfigDict(frozen=True)

    order_id: str
    latest_ship_date: datetime
    minutes_left: int  # negative when overdue
    overdue: bool


def ship_by_alerts(
    orders: Iterable[AmazonOrder], now: datetime, hours: int, *, fulfilled: Collection[str] = ()
) -> list[ShipByAlert]:
    """MFN orders whose ``latestShipDate`` is within ``hours`` of ``now`` (or past) and not yet fulfilled.

    ``fulfilled`` holds Amazon order ids that already have a NetSuite item fulfilment. Orders Amazon
    already reports as SHIPPED or CANCELLED (and FBA orders) are never listed. Sorted by due time.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    now = now.astimezone(UTC)
    horizon = now + timedelta(hours=hours)
    done = set(fulfilled)
    out: list[ShipByAlert] = []
    seen: set[str] = set()
    for order in orders:
        if order.order_id in seen:
            continue
        seen.add(order.order_id)
        if order.fulfilled_by != "MERCHANT" or order.order_id in done:
            continue
        if order.fulfillment_status not in (FulfillmentStatus.UNSHIPPED, FulfillmentStatus.PARTIALLY_SHIPPED):
            continue
        latest = order.latest_ship_date
        if latest is None or latest > horizon:
            continue
        minutes = int((latest - now).total_seconds() // 60)
        out.append(ShipByAlert(order_id=order.order_id, latest_ship_date=latest, minutes_left=minutes, overdue=latest < now))
    out.sort(key=lambda a: (a.latest_ship_date, a.order_id))
    return out
