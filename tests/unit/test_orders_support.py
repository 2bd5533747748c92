"""Builders shared by the order tests: Orders v2026-01-01 JSON and small marketplace configs.

Orders are built as raw JSON dicts in Amazon's shape (decimal strings, camelCase) so every test goes
through ``parse_order`` like production data does.
"""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from airflow_provider_amznetsuite.config import MarketplaceConfig, parse_config
from airflow_provider_amznetsuite.domain.orders import parse_order

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "orders"
MODEL = ROOT / "airflow_provider_amznetsuite" / "sandbox" / "models" / "orders_2026-01-01.json"

# --- marketplace configs ---------------------------------------------------------------------
_DEFAULTS: dict[str, Any] = {
    "channel": {"sales_channel": 1, "department": 3, "class": 4, "custom_fields": {"custbody_amz_channel": "Amazon"}},
    "orders": {"shipping_item": 900, "gift_wrap_item": 901, "discount_item": 902},
    "tax": {"marketplace_collected_code": 20, "clearing_item": 903},
}
_MARKETS: dict[str, dict[str, Any]] = {
    "uk": {"marketplace_id": "A1F83G8C2ARO7P", "region": "eu", "country": "UK", "currency": "GBP",
           "language_tag": "en_GB", "timezone": "Europe/London", "subsidiary": 2, "customer": {"customer_id": 101},
           "locations": {"mfn": [{"location_id": 1}], "fba": 11}, "tax": {"seller_collected_code": 10}},
    "de": {"marketplace_id": "A1PA6795UKMFR9", "region": "eu", "country": "DE", "currency": "EUR",
           "language_tag": "de_DE", "timezone": "Europe/Berlin", "subsidiary": 3, "customer": {"customer_id": 102},
           "locations": {"mfn": [{"location_id": 2}], "fba": 12}, "tax": {"seller_collected_code": 11}},
    "us": {"marketplace_id": "ATVPDKIKX0DER", "region": "na", "country": "US", "currency": "USD",
           "language_tag": "en_US", "timezone": "America/New_York", "subsidiary": 4, "customer": {"customer_id": 103},
           "locations": {"mfn": [{"location_id": 3}, {"location_id": 4}], "fba": 13},
           "tax": {"seller_collected_code": 12}},
    # made-up Japanese marketplace (JPY has no minor unit)
    "jp": {"marketplace_id": "A1VC38T7YXB528", "region": "fe", "country": "JP", "currency": "JPY",
           "language_tag": "ja_JP", "timezone": "Asia/Tokyo", "subsidiary": 5, "customer": {"customer_id": 105},
           "locations": {"mfn": [{"location_id": 7}], "fba": 17}, "tax": {"seller_collected_code": 15}},
}
CURRENCY_IDS = {"USD": "1", "GBP": "2", "EUR": "4", "JPY": "6"}
ITEM_IDS = {f"SKU-{n}": str(1000 + n) for n in range(1, 40)}


def marketplace(code: str, **overrides: Any) -> MarketplaceConfig:
    """A MarketplaceConfig from parse_config on a small dict; ``overrides`` deep-merge into the market."""
    body = copy.deepcopy(_MARKETS[code])
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(body.get(key), dict):
            body[key] = {**body[key], **value}
        else:
            body[key] = value
    return parse_config({"defaults": copy.deepcopy(_DEFAULTS), "marketplaces": {code: body}}).marketplaces[code]


# --- order builders --------------------------------------------------------------------------
def money(amount: Decimal | str | int, currency: str) -> dict[str, str]:
    return {"amount": str(amount), "currencyCode": currency}


def item(
    order_item_id: str,
    sku: str,
    quantity: int,
    unit_price: str,
    currency: str,
    *,
    shipping: str | None = None,
    gift_wrap: str | None = None,
    discount: str | None = None,  # positive magnitude, booked negative
    shipping_discount: str | None = None,
    tax: dict[str, str] | None = None,  # subtype -> amount
    collector: str | None = None,  # None (seller) | "MF" | "IOSS" | "UOSS" | any reportingScheme
    item_amount: str | None = None,  # override ITEM subtotal (default unit × quantity)
    cancelled_execution: bool = False,
    fulfilled: int | None = None,
    unfulfilled: int | None = None,
    promotions: tuple[str, ...] = (),
    business_price: bool = False,
) -> dict[str, Any]:
    amount = Decimal(item_amount) if item_amount is not None else Decimal(unit_price) * quantity
    breakdowns: list[dict[str, Any]] = [{"type": "ITEM", "subtotal": money(amount, currency)}]
    total = amount
    if shipping is not None:
        breakdowns.append({"type": "SHIPPING", "subtotal": money(shipping, currency)})
        total += Decimal(shipping)
    if gift_wrap is not None:
        breakdowns.append({"type": "GIFT_WRAP", "subtotal": money(gift_wrap, currency)})
        total += Decimal(gift_wrap)
    if discount is not None or shipping_discount is not None:
        parts = []
        if discount is not None:
            parts.append({"subtype": "ITEM", "value": money(f"-{discount}", currency)})
        if shipping_discount is not None:
            parts.append({"subtype": "SHIPPING", "value": money(f"-{shipping_discount}", currency)})
        d_total = sum((Decimal(p["value"]["amount"]) for p in parts), Decimal(0))
        breakdowns.append({"type": "DISCOUNT", "subtotal": money(d_total, currency), "detailedBreakdowns": parts})
        total += d_total
    if tax:
        t_total = sum((Decimal(v) for v in tax.values()), Decimal(0))
        breakdowns.append({
            "type": "TAX", "subtotal": money(t_total, currency),
            "detailedBreakdowns": [{"subtype": k, "value": money(v, currency)} for k, v in tax.items()],
        })
        total += t_total
    out: dict[str, Any] = {
        "orderItemId": order_item_id,
        "quantityOrdered": quantity,
        "product": {"asin": "B000000000", "title": f"Product {sku}", "sellerSku": sku,
                    "price": {"unitPrice": money(unit_price, currency)}},
        "proceeds": {"proceedsTotal": money(total, currency), "breakdowns": breakdowns},
    }
    if business_price:
        out["product"]["price"]["priceDesignation"] = "BUSINESS_PRICE"
    if promotions:
        out["promotion"] = {"breakdowns": [{"promotionId": p} for p in promotions]}
    if collector == "MF":
        out["tax"] = {"taxCollections": [{"model": "MARKETPLACE_FACILITATOR", "responsibleParty": "Amazon Services, Inc."}]}
    elif collector:
        out["tax"] = {"taxCalculationBreakdowns": [{"reportingScheme": collector}]}
    if cancelled_execution:
        out["cancellation"] = {"cancellationExecution": {"cancelledBy": "BUYER", "cancelReason": "changed mind"}}
    if fulfilled is not None or unfulfilled is not None:
        out["fulfillment"] = {"quantityFulfilled": fulfilled or 0, "quantityUnfulfilled": unfulfilled or 0}
    return out


MARKETPLACE_IDS = {"uk": "A1F83G8C2ARO7P", "de": "A1PA6795UKMFR9", "us": "ATVPDKIKX0DER", "jp": "A1VC38T7YXB528"}


def order(
    order_id: str,
    items: list[dict[str, Any]],
    *,
    market: str = "uk",
    currency: str = "GBP",
    status: str = "UNSHIPPED",
    fulfilled_by: str = "MERCHANT",
    created: str = "2026-03-02T10:15:00Z",
    programs: tuple[str, ...] = (),
    associated: list[dict[str, str]] | None = None,
    buyer: dict[str, str] | None = None,
    order_level: dict[str, str] | None = None,  # e.g. {"DELIVERY_TIP": "2.00"}
    grand_total: str | None = None,  # override
    ship_by: str | None = "2026-03-04T23:59:59Z",
    deliver_by: str | None = "2026-03-07T23:59:59Z",
) -> dict[str, Any]:
    total = sum((Decimal(i["proceeds"]["proceedsTotal"]["amount"]) for i in items), Decimal(0))
    breakdowns = [{"type": "ITEM", "subtotal": money(
        sum((Decimal(b["subtotal"]["amount"]) for i in items for b in i["proceeds"]["breakdowns"] if b["type"] == "ITEM"),
            Decimal(0)), currency)}]
    for kind, amount in (order_level or {}).items():
        breakdowns.append({"type": kind, "status": "FINALIZED", "subtotal": money(amount, currency)})
        total += Decimal(amount)
    fulfillment: dict[str, Any] = {"fulfillmentStatus": status, "fulfilledBy": fulfilled_by,
                                   "fulfillmentServiceLevel": "STANDARD"}
    if ship_by:
        fulfillment["shipByWindow"] = {"earliestDateTime": created, "latestDateTime": ship_by}
    if deliver_by:
        fulfillment["deliverByWindow"] = {"earliestDateTime": created, "latestDateTime": deliver_by}
    out: dict[str, Any] = {
        "orderId": order_id,
        "createdTime": created,
        "lastUpdatedTime": created,
        "programs": list(programs),
        "salesChannel": {"channelName": "AMAZON", "marketplaceId": MARKETPLACE_IDS[market]},
        "proceeds": {"grandTotal": money(grand_total if grand_total is not None else total, currency),
                     "breakdowns": breakdowns},
        "fulfillment": fulfillment,
        "orderItems": items,
    }
    if associated:
        out["associatedOrders"] = associated
    if buyer:
        out["buyer"] = buyer
    return out


def load_fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def model_examples() -> dict[str, dict[str, Any]]:
    """Orders from the vendored Orders v2026-01-01 model: response example + sandbox static responses."""
    model = json.loads(MODEL.read_text(encoding="utf-8"))
    search = model["paths"]["/orders/2026-01-01/orders"]["get"]["responses"]["200"]
    get = model["paths"]["/orders/2026-01-01/orders/{orderId}"]["get"]["responses"]["200"]
    out = {"search_example": search["examples"]["application/json"]["orders"][0],
           "get_example": get["examples"]["application/json"]["order"]}
    for static in search["x-amzn-api-sandbox"]["static"]:
        for o in static["response"]["orders"]:
            out[f"static_{o['orderId']}"] = o
    return out


# --- sanity checks of the builders themselves ------------------------------------------------
def test_builder_grand_total_is_sum_of_item_proceeds_and_order_level_charges():
    raw = order("202-0000000-0000001", [
        item("1", "SKU-1", 2, "10.00", "GBP", shipping="3.99", tax={"ITEM": "4.00", "SHIPPING": "0.80"}),
        item("2", "SKU-2", 1, "5.50", "GBP", discount="1.50"),
    ], order_level={"DELIVERY_TIP": "2.00"})
    assert raw["proceeds"]["grandTotal"] == {"amount": "34.79", "currencyCode": "GBP"}
    parsed = parse_order(raw)
    assert parsed.proceeds.grand_total.amount == Decimal("34.79")


def test_marketplace_builder_applies_overrides():
    mp = marketplace("uk", tax={"seller_collected_code": None})
    assert mp.tax.seller_collected_code is None
    assert mp.tax.marketplace_collected_code == "20"
    assert marketplace("jp").currency == "JPY"
