"""Parsing Orders v2026-01-01 JSON into typed orders (Amazon's own model examples as fixtures)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from airflow_provider_amznetsuite.domain.orders import MappingError, parse_order
from tests.unit.test_orders_support import item, model_examples, order


def test_model_search_example_parses_with_decimal_money():
    o = parse_order(model_examples()["search_example"])
    assert o.order_id == "123-4567890-1234567"
    assert o.created_time == datetime(2024, 12, 25, 10, 30, tzinfo=UTC)
    assert o.proceeds.grand_total.amount == Decimal("154.99")
    assert isinstance(o.proceeds.grand_total.amount, Decimal)
    assert o.currency == "USD"
    assert o.fulfillment_status == "SHIPPED" and o.fulfilled_by == "MERCHANT"
    assert [i.sku for i in o.order_items] == ["ECHO-DOT-4-CHARCOAL", "FIRE-TV-4K-2021"]
    first = o.order_items[0]
    assert first.unit_price.amount == Decimal("49.99")
    assert first.charge_amounts(o.order_id) == {"ITEM": Decimal("99.98")}
    assert first.tax_components(o.order_id) == {"ITEM": Decimal("0.02")}
    assert first.promotion_ids == ("PROMO-HOLIDAY-2024",)
    # it has cancellation data but both units shipped: nothing cancelled
    assert first.cancelled_quantity() == 0
    assert o.is_business and o.is_prime and o.is_replacement
    assert o.original_order_id == "123-4567890-1234566"
    assert o.purchase_order_number == "PO-2024-12345"
    assert o.latest_ship_date == datetime(2024, 12, 27, 23, 59, 59, tzinfo=UTC)
    assert o.packages[0].tracking_number == "1Z999AA1234567890"


def test_model_get_example_has_tax_split_by_subtype():
    o = parse_order(model_examples()["get_example"])
    (it,) = o.order_items
    assert it.charge_amounts(o.order_id) == {"ITEM": Decimal("89.97"), "SHIPPING": Decimal("10.00")}
    assert it.tax_components(o.order_id) == {"ITEM": Decimal("3.00"), "SHIPPING": Decimal("1.00")}
    assert o.proceeds.grand_total.amount == Decimal("103.97")


@pytest.mark.parametrize("key", ["static_250-1234567-8901234", "static_202-7654321-1098765", "static_171-2345678-9012345"])
def test_model_sandbox_static_orders_parse(key):
    raw = model_examples()[key]
    o = parse_order(raw)
    assert o.order_id == raw["orderId"]
    assert o.proceeds.grand_total.amount == Decimal(raw["proceeds"]["grandTotal"]["amount"])


def test_jpy_amounts_have_no_minor_unit():
    o = parse_order(model_examples()["static_250-1234567-8901234"])
    assert o.currency == "JPY"
    assert o.proceeds.grand_total.amount == Decimal("19940")
    assert o.fulfilled_by == "AMAZON"


def test_unknown_fields_are_ignored():
    raw = order("202-1111111-1111111", [item("1", "SKU-1", 1, "9.99", "GBP")])
    raw["somethingNew"] = {"x": 1}
    raw["orderItems"][0]["product"]["futureField"] = [1, 2]
    assert parse_order(raw).order_items[0].sku == "SKU-1"


def test_float_amount_is_refused():
    raw = order("202-1111111-1111112", [item("1", "SKU-1", 1, "9.99", "GBP")])
    raw["proceeds"]["grandTotal"]["amount"] = 9.99
    with pytest.raises(MappingError, match=r"proceeds\.grandTotal\.amount.*binary float") as exc:
        parse_order(raw)
    assert exc.value.order_id == "202-1111111-1111112"


def test_parse_error_names_the_field_and_never_echoes_buyer_pii():
    raw = order("202-1111111-1111113", [item("1", "SKU-1", 1, "9.99", "GBP")],
                buyer={"buyerName": "Jane Secret", "buyerEmail": "jane.secret@example.invalid"})
    bad = copy.deepcopy(raw)
    bad["buyer"]["buyerName"] = {"not": "a string", "name": "Jane Secret"}
    bad["createdTime"] = "Jane Secret"
    with pytest.raises(MappingError) as exc:
        parse_order(bad)
    text = str(exc.value)
    assert "createdTime" in text and "buyer.buyerName" in text
    assert "Jane" not in text and "Secret" not in text


def test_buyer_pii_is_not_in_repr():
    raw = order("202-1111111-1111114", [item("1", "SKU-1", 1, "9.99", "GBP")],
                buyer={"buyerName": "Jane Secret", "buyerEmail": "jane.secret@example.invalid",
                       "buyerPurchaseOrderNumber": "PO-77"})
    o = parse_order(raw)
    assert o.buyer.buyer_name == "Jane Secret"
    assert "Secret" not in repr(o) and "example.invalid" not in repr(o)


def test_bad_currency_and_naive_datetime_are_rejected():
    raw = order("202-1111111-1111115", [item("1", "SKU-1", 1, "9.99", "GBP")])
    raw["proceeds"]["grandTotal"]["currencyCode"] = "GBX"
    with pytest.raises(MappingError, match="ISO-4217"):
        parse_order(raw)
    raw = order("202-1111111-1111116", [item("1", "SKU-1", 1, "9.99", "GBP")])
    raw["createdTime"] = "2026-03-02T10:15:00"
    with pytest.raises(MappingError, match="createdTime"):
        parse_order(raw)


def test_times_are_normalised_to_utc():
    raw = order("202-1111111-1111117", [item("1", "SKU-1", 1, "9.99", "GBP")], created="2026-03-02T11:15:00+01:00")
    assert parse_order(raw).created_time == datetime(2026, 3, 2, 10, 15, tzinfo=UTC)
