"""Amazon order → NetSuite document: header, lines, charges, special orders, errors, rendering."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest

from airflow_provider_amznetsuite.domain.orders import (
    CUSTOM_FIELDS,
    ORDER_ITEM_ID_FIELD,
    MappingError,
    buyer_key,
    close_document_patch,
    customer_for_order,
    decide_action,
    external_id_for,
    map_order,
    parse_order,
    render_json,
)
from tests.unit.test_orders_support import CURRENCY_IDS, ITEM_IDS, item, marketplace, model_examples, order

D = Decimal
UK, DE, US, JP = (marketplace(c) for c in ("uk", "de", "us", "jp"))


def _map(raw, mp=UK, **kw):
    kw.setdefault("item_ids", ITEM_IDS)
    kw.setdefault("currency_ids", CURRENCY_IDS)
    return map_order(parse_order(raw), mp, **kw)


def _items(doc):
    return doc.body["item"]["items"]


# --- header ----------------------------------------------------------------------------------
def test_mfn_sales_order_header():
    raw = order("111-4000000-0000001", [item("1", "SKU-1", 1, "10.00", "USD")], market="us", currency="USD",
                created="2026-03-02T03:30:00Z", ship_by="2026-03-04T03:59:59Z", deliver_by="2026-03-09T04:59:59Z",
                programs=("PRIME",))
    doc = _map(raw, US)
    h = doc.body
    assert doc.record_type == "salesOrder" and doc.external_id == "AMZ-111-4000000-0000001"
    assert h["externalId"] == "AMZ-111-4000000-0000001"
    assert h["entity"] == {"id": "103"} and h["subsidiary"] == {"id": "4"} and h["currency"] == {"id": "1"}
    assert h["location"] == {"id": "3"}  # first MFN location
    assert h["tranDate"] == "2026-03-01"  # 03:30 UTC is still the 1st in New York
    assert h["otherRefNum"] == "111-4000000-0000001"
    assert h["memo"] == "Amazon US order 111-4000000-0000001 (MFN)"
    assert h["salesChannel"] == {"id": "1"} and h["department"] == {"id": "3"} and h["class"] == {"id": "4"}
    assert h["custbody_amz_channel"] == "Amazon"
    assert h["custbody_amz_order_id"] == "111-4000000-0000001"
    assert h["orderStatus"] == "B"
    assert h["shipDate"] == "2026-03-03"  # latest ship 03:59 UTC on the 4th = 22:59 on the 3rd in New York
    assert h[CUSTOM_FIELDS["ship_by"]] == "2026-03-04T03:59:59Z"
    assert h[CUSTOM_FIELDS["deliver_by"]] == "2026-03-09T04:59:59Z"
    assert h[CUSTOM_FIELDS["is_prime"]] is True
    assert h[CUSTOM_FIELDS["is_business"]] is False and h[CUSTOM_FIELDS["is_replacement"]] is False
    assert h[CUSTOM_FIELDS["is_preorder"]] is False
    assert CUSTOM_FIELDS["original_order"] not in h
    (line,) = _items(doc)
    assert line[ORDER_ITEM_ID_FIELD] == "1" and line["item"] == {"id": "1001"} and line["quantity"] == 1


def test_fba_cash_sale_header_uses_fba_location_and_no_order_status():
    raw = order("202-4000000-0000002", [item("1", "SKU-1", 1, "10.00", "GBP")], status="SHIPPED", fulfilled_by="AMAZON")
    doc = _map(raw)
    assert doc.record_type == "cashSale"
    assert doc.body["location"] == {"id": "11"}
    assert "orderStatus" not in doc.body
    assert doc.body["memo"].endswith("(FBA)")
    doc = _map(raw, marketplace("uk", orders={"fba_document": "salesOrder"}))
    assert doc.record_type == "salesOrder" and doc.body["location"] == {"id": "11"}


def test_missing_locations_name_the_config_key():
    raw = order("202-4000000-0000003", [item("1", "SKU-1", 1, "10.00", "GBP")])
    with pytest.raises(MappingError, match=r"marketplaces\.uk\.locations\.mfn is empty"):
        _map(raw, marketplace("uk", locations={"mfn": []}))
    raw = order("202-4000000-0000004", [item("1", "SKU-1", 1, "10.00", "GBP")], status="SHIPPED", fulfilled_by="AMAZON")
    with pytest.raises(MappingError, match=r"marketplaces\.uk\.locations\.fba is not set"):
        _map(raw, marketplace("uk", locations={"fba": None}))


def test_channel_attribution_is_optional():
    mp = marketplace("uk", channel={"sales_channel": None, "department": None, "class": None, "custom_fields": {},
                                    "order_source_field": None})
    doc = _map(order("202-4000000-0000005", [item("1", "SKU-1", 1, "10.00", "GBP")]), mp)
    for key in ("salesChannel", "department", "class", "custbody_amz_order_id"):
        assert key not in doc.body
    assert doc.body["custbody_amz_channel"] == "Amazon"  # custom_fields deep-merge from the defaults


def test_currency_ids_optional_but_unknown_currency_is_an_error():
    raw = order("202-4000000-0000006", [item("1", "SKU-1", 1, "10.00", "GBP")])
    assert "currency" not in _map(raw, currency_ids=None).body
    with pytest.raises(MappingError, match="currency GBP has no NetSuite currency record"):
        _map(raw, currency_ids={"USD": "1"})


# --- lines: promotions, shipping, gift wrap, order-level charges -----------------------------
def test_promotions_shipping_and_gift_wrap_lines():
    raw = order("202-4000000-0000007", [
        item("1", "SKU-1", 2, "12.50", "GBP", shipping="3.99", gift_wrap="1.50", discount="2.50", shipping_discount="3.99",
             promotions=("PROMO-A", "FREESHIP"), tax={"ITEM": "5.00", "SHIPPING": "0.80", "GIFT_WRAP": "0.30",
                                                       "DISCOUNT": "-1.30"}),
    ])
    doc = _map(raw)
    got = [(line.kind.value, line.item_id, line.quantity, line.rate, line.amount, line.tax_amount) for line in doc.lines]
    assert got == [
        ("PRODUCT", "1001", 2, D("12.50"), D("25.00"), D("5.00")),
        ("SHIPPING", "900", 1, D("3.99"), D("3.99"), D("0.80")),
        ("GIFT_WRAP", "901", 1, D("1.50"), D("1.50"), D("0.30")),
        ("DISCOUNT", "902", 1, D("-2.50"), D("-2.50"), D("-1.30")),
        ("DISCOUNT", "902", 1, D("-3.99"), D("-3.99"), D("0.00")),
    ]
    assert doc.total == doc.amazon_total == D("28.80")
    discount = _items(doc)[3]
    assert discount["description"] == "Promotion PROMO-A, FREESHIP (item) for SKU-1"
    assert _items(doc)[4]["description"] == "Promotion PROMO-A, FREESHIP (shipping) for SKU-1"
    assert all(line[ORDER_ITEM_ID_FIELD] == "1" for line in _items(doc))


def test_zero_shipping_gives_no_line():
    doc = _map(order("202-4000000-0000008", [item("1", "SKU-1", 1, "10.00", "GBP", shipping="0.00")]))
    assert [line.kind.value for line in doc.lines] == ["PRODUCT"]


@pytest.mark.parametrize(("kw", "key"), [({"shipping": "2.00"}, "orders.shipping_item"),
                                         ({"gift_wrap": "2.00"}, "orders.gift_wrap_item"),
                                         ({"discount": "2.00"}, "orders.discount_item")])
def test_missing_charge_item_names_the_config_key(kw, key):
    field = key.split(".")[1]
    raw = order("202-4000000-0000009", [item("1", "SKU-1", 1, "10.00", "GBP", **kw)])
    with pytest.raises(MappingError, match=re.escape(f"marketplaces.uk.{key} is not set")) as exc:
        _map(raw, marketplace("uk", orders={field: None}))
    assert exc.value.config_key == key


def test_delivery_tip_needs_a_charge_item_and_then_matches_amazons_example():
    o = parse_order(model_examples()["search_example"])  # 99.98 + 0.02 tax + 49.99 + 5.00 delivery tip
    with pytest.raises(MappingError, match="DELIVERY_TIP charge but no NetSuite item"):
        map_order(o, US, item_ids={"ECHO-DOT-4-CHARCOAL": "1", "FIRE-TV-4K-2021": "2"})
    doc = map_order(o, US, item_ids={"ECHO-DOT-4-CHARCOAL": "1", "FIRE-TV-4K-2021": "2"},
                    charge_items={"DELIVERY_TIP": "904"}, currency_ids=CURRENCY_IDS)
    assert [(line.item_id, line.amount, line.tax_amount) for line in doc.lines] == [
        ("1", D("99.98"), D("0.02")), ("2", D("49.99"), D("0.00")), ("904", D("5.00"), D("0"))]
    assert doc.total == doc.amazon_total == D("154.99")


def test_rate_falls_back_to_amount_over_quantity():
    raw = order("202-4000000-0000010", [item("1", "SKU-1", 3, "3.34", "GBP", item_amount="10.00")])
    (line,) = _map(raw).lines
    assert line.amount == D("10.00") and line.quantity == 3
    assert line.rate == D("3.33333333")


# --- special orders --------------------------------------------------------------------------
def test_business_order_uses_po_number():
    buyer = {"buyerCompanyName": "ACME Ltd", "buyerPurchaseOrderNumber": "PO-4711"}
    raw = order("202-4000000-0000011", [item("1", "SKU-1", 1, "10.00", "GBP", business_price=True)], buyer=buyer)
    doc = _map(raw)
    assert doc.body["otherRefNum"] == "PO-4711"
    assert doc.body[CUSTOM_FIELDS["is_business"]] is True
    raw = order("202-4000000-0000012", [item("1", "SKU-1", 1, "10.00", "GBP")], programs=("AMAZON_BUSINESS",))
    doc = _map(raw)
    assert doc.body["otherRefNum"] == "202-4000000-0000012" and doc.body[CUSTOM_FIELDS["is_business"]] is True


def test_replacement_order_is_zero_value_and_linked_to_the_original():
    raw = order("202-4000000-0000013", [item("1", "SKU-1", 2, "0.00", "GBP")],
                associated=[{"orderId": "202-4000000-0000001", "associationType": "REPLACEMENT_ORIGINAL_ID"}])
    raw["orderItems"][0]["product"]["price"]["unitPrice"]["amount"] = "19.99"  # list price shown, not charged
    doc = _map(raw, original_internal_id="5521")
    (line,) = doc.lines
    assert (line.quantity, line.rate, line.amount, line.tax_amount) == (2, D("0"), D("0.00"), D("0.00"))
    assert doc.total == D("0.00") == doc.amazon_total
    assert doc.body[CUSTOM_FIELDS["is_replacement"]] is True
    assert doc.body[CUSTOM_FIELDS["original_order"]] == "202-4000000-0000001"
    assert doc.body[CUSTOM_FIELDS["original_transaction"]] == {"id": "5521"}
    assert "replacement for 202-4000000-0000001" in doc.body["memo"]
    assert CUSTOM_FIELDS["original_transaction"] not in _map(raw).body  # internal id unknown


def test_preorder_flag_once_written():
    doc = _map(order("202-4000000-0000014", [item("1", "SKU-1", 1, "10.00", "GBP")], programs=("PREORDER",)))
    assert doc.body[CUSTOM_FIELDS["is_preorder"]] is True


def test_partial_cancellation_closes_cancelled_units_and_adjusts_quantities():
    raw = order("202-4000000-0000015", [
        # 3 ordered, 1 cancelled: 2 remain open at Amazon's amount, 1 closed zero line
        item("1", "SKU-1", 3, "10.00", "GBP", item_amount="20.00", tax={"ITEM": "4.00"},
             cancelled_execution=True, fulfilled=0, unfulfilled=2),
        # fully cancelled item (Amazon reports zero proceeds)
        item("2", "SKU-2", 1, "5.00", "GBP", item_amount="0.00", cancelled_execution=True),
        item("3", "SKU-3", 1, "7.00", "GBP"),
    ])
    doc = _map(raw)
    got = [(line.key, line.quantity, line.amount, line.is_closed) for line in doc.lines]
    assert got == [
        ("1:ITEM", 2, D("20.00"), False),
        ("1:ITEM:CANCELLED", 1, D("0.00"), True),
        ("2:ITEM", 1, D("0.00"), True),
        ("3:ITEM", 1, D("7.00"), False),
    ]
    assert doc.total == D("31.00")
    closed = [line for line in _items(doc) if line.get("isClosed")]
    assert len(closed) == 2 and all(line["amount"] == 0 for line in closed)
    assert "isClosed" not in _items(doc)[0]


def test_whole_order_cancellation_patch_closes_every_line():
    items = [item("1", "SKU-1", 1, "10.00", "GBP", shipping="2.00")]
    live = _map(order("202-4000000-0000016", items))
    cancelled = parse_order(order("202-4000000-0000016", [item("1", "SKU-1", 1, "0.00", "GBP")], status="CANCELLED"))
    doc = map_order(cancelled, UK, item_ids=ITEM_IDS)
    assert all(line.is_closed for line in doc.lines) and doc.total == 0
    # without line numbers: re-send the sublist with replace=item
    patch = close_document_patch(doc, cancelled)
    assert patch.replace == ("item",) and patch.external_id == live.external_id
    assert [line["isClosed"] for line in patch.body["item"]["items"]] == [True]
    # with the existing document's line numbers: update in place, no replace
    patch = close_document_patch(live, cancelled, line_numbers={"1:ITEM": 1, "1:SHIPPING": 2})
    assert patch.replace == ()
    assert [(line["line"], line["isClosed"]) for line in patch.body["item"]["items"]] == [(1, True), (2, True)]
    assert patch.closed_lines == 2
    assert json.loads(patch.body_json())["item"]["items"][0]["line"] == 1


def test_partial_cancellation_patch_updates_open_line_and_appends_closed_line():
    raw = order("202-4000000-0000017", [item("1", "SKU-1", 3, "10.00", "GBP", item_amount="20.00",
                                             cancelled_execution=True, fulfilled=0, unfulfilled=2)])
    o = parse_order(raw)
    doc = map_order(o, UK, item_ids=ITEM_IDS)
    patch = close_document_patch(doc, o, line_numbers={"1:ITEM": 1})
    first, second = patch.body["item"]["items"]
    assert first["line"] == 1 and first["quantity"] == 2 and "isClosed" not in first
    assert "line" not in second and second["isClosed"] is True and second["quantity"] == 1
    assert patch.closed_lines == 1


def _zero_quantity_cancelled(order_item_id, sku):
    """A fully cancelled item as Amazon (and the sandbox) report it: quantity 0, zero proceeds."""
    raw = item(order_item_id, sku, 0, "10.00", "GBP", cancelled_execution=True, fulfilled=0, unfulfilled=0)
    raw["proceeds"] = {"proceedsTotal": {"amount": "0", "currencyCode": "GBP"}, "breakdowns": []}
    return raw


def test_zero_quantity_cancelled_item_gets_a_closed_line():
    raw = order("202-4000000-0000040", [item("1", "SKU-1", 1, "10.00", "GBP"), _zero_quantity_cancelled("2", "SKU-2")])
    o = parse_order(raw)
    assert decide_action(o, UK).partially_cancelled
    doc = map_order(o, UK, item_ids=ITEM_IDS)
    assert [(line.key, line.quantity, line.amount, line.is_closed) for line in doc.lines] == [
        ("1:ITEM", 1, D("10.00"), False), ("2:ITEM", 0, D("0.00"), True)]
    assert doc.total == D("10.00")
    # the existing NetSuite line keeps its quantity and is closed at zero
    patch = close_document_patch(doc, o, line_numbers={"1:ITEM": 1, "2:ITEM": 2})
    assert patch.body["item"]["items"][1] == {
        "line": 2, "item": {"id": "1002"}, "rate": D("0"), "amount": D("0.00"), "taxCode": {"id": "10"},
        "tax1Amt": D("0.00"), ORDER_ITEM_ID_FIELD: "2", "isClosed": True}
    # never written: no zero line is appended
    patch = close_document_patch(doc, o, line_numbers={"1:ITEM": 1})
    assert [line.get("line") for line in patch.body["item"]["items"]] == [1] and patch.closed_lines == 0


def test_cancelled_order_with_zero_quantities_and_unknown_skus_still_maps_for_closing():
    raw = order("202-4000000-0000041", [_zero_quantity_cancelled("1", "SKU-1"), _zero_quantity_cancelled("2", "SKU-GONE")],
                status="CANCELLED", grand_total="0")
    o = parse_order(raw)
    doc = map_order(o, UK, item_ids=ITEM_IDS)
    assert [(line.key, line.is_closed) for line in doc.lines] == [("1:ITEM", True)]
    assert doc.total == 0
    patch = close_document_patch(doc, o, line_numbers={"1:ITEM": 3})
    assert [(line["line"], line["isClosed"], "quantity" in line) for line in patch.body["item"]["items"]] == [(3, True, False)]


def test_cash_sale_leaves_cancelled_units_off():
    raw = order("202-4000000-0000042", [
        item("1", "SKU-1", 3, "10.00", "GBP", item_amount="20.00", cancelled_execution=True, fulfilled=2, unfulfilled=0),
        _zero_quantity_cancelled("2", "SKU-2"),
    ], status="SHIPPED", fulfilled_by="AMAZON")
    doc = _map(raw)
    assert doc.record_type == "cashSale"
    assert [(line.key, line.quantity, line.amount) for line in doc.lines] == [("1:ITEM", 2, D("20.00"))]
    assert "isClosed" not in doc.body_json() and doc.total == D("20.00")
    # the same order as an FBA sales order keeps the closed lines
    doc = _map(raw, marketplace("uk", orders={"fba_document": "salesOrder"}))
    assert [line.key for line in doc.lines if line.is_closed] == ["1:ITEM:CANCELLED", "2:ITEM"]


def test_cash_sale_cannot_be_closed():
    raw = order("202-4000000-0000018", [item("1", "SKU-1", 1, "10.00", "GBP")], status="SHIPPED", fulfilled_by="AMAZON")
    o = parse_order(raw)
    doc = map_order(o, UK, item_ids=ITEM_IDS)
    with pytest.raises(MappingError, match="a cashSale cannot be closed"):
        close_document_patch(doc, o)


# --- multi-currency --------------------------------------------------------------------------
def test_jpy_order_from_amazons_sandbox_example():
    o = parse_order(model_examples()["static_250-1234567-8901234"])
    doc = map_order(o, JP, item_ids={"ECHO-DOT-4-JP-CHARCOAL": "3001", "FIRE-TV-4K-MAX-JP": "3002"},
                    currency_ids=CURRENCY_IDS)
    assert doc.record_type == "cashSale" and doc.currency == "JPY"
    assert doc.body["currency"] == {"id": "6"} and doc.body["location"] == {"id": "17"}
    assert doc.body["tranDate"] == "2024-12-25"  # 02:30 UTC = 11:30 in Tokyo
    assert [(line.item_id, line.quantity, line.rate, line.amount) for line in doc.lines] == [
        ("3001", 1, D("5980"), D("5980")), ("3002", 2, D("6980"), D("13960"))]
    assert doc.total == D("19940") == doc.amazon_total
    text = doc.body_json()
    assert '"amount": 13960,' in text and '"rate": 6980,' in text and '"tax1Amt": 0,' in text
    assert "13960.0" not in text


def test_jpy_amount_with_decimals_is_refused():
    raw = order("503-4000000-0000019", [item("1", "SKU-1", 1, "100.5", "JPY")], market="jp", currency="JPY")
    with pytest.raises(MappingError, match=r"item 1 ITEM = 100.5 has more decimals than JPY allows \(0\)"):
        _map(raw, JP)


def test_three_decimal_currency_keeps_its_scale():
    raw = order("202-4000000-0000020", [item("1", "SKU-1", 2, "1.255", "BHD", tax={"ITEM": "0.251"})], currency="BHD")
    doc = _map(raw, currency_ids={"BHD": "9"})
    assert doc.total == D("2.761")
    assert '"amount": 2.510' in doc.body_json() and '"tax1Amt": 0.251' in doc.body_json()


def test_mixed_currencies_are_refused():
    raw = order("202-4000000-0000021", [item("1", "SKU-1", 1, "10.00", "GBP"), item("2", "SKU-2", 1, "10.00", "EUR")])
    with pytest.raises(MappingError, match=r"orderItems\[2\]\..* is in EUR but the order is in GBP"):
        _map(raw)


# --- errors ----------------------------------------------------------------------------------
def test_unknown_sku_message():
    raw = order("202-4000000-0000022", [item("1", "SKU-NOPE", 1, "10.00", "GBP")])
    with pytest.raises(MappingError) as exc:
        _map(raw)
    assert str(exc.value) == (
        "order 202-4000000-0000022: SKU 'SKU-NOPE' has no NetSuite item (create the item or map the SKU) — order quarantined"
    )
    assert exc.value.order_id == "202-4000000-0000022"


def test_total_mismatch_reports_both_figures_and_posts_nothing():
    raw = order("202-4000000-0000023", [item("1", "SKU-1", 1, "10.00", "GBP", tax={"ITEM": "2.00"})], grand_total="12.01")
    with pytest.raises(MappingError) as exc:
        _map(raw)
    msg = str(exc.value)
    assert "NetSuite document total 12.00 GBP does not equal Amazon's order total 12.01 GBP" in msg
    assert "not posted" in msg


def test_total_mismatch_points_at_inconsistent_item():
    raw = order("202-4000000-0000024", [item("1", "SKU-1", 1, "10.00", "GBP")], grand_total="11.00")
    raw["orderItems"][0]["proceeds"]["proceedsTotal"]["amount"] = "11.00"
    with pytest.raises(MappingError, match=r"item 1 breakdowns sum to 10.00 vs proceedsTotal 11.00"):
        _map(raw)


def test_missing_proceeds_asks_for_included_data():
    raw = order("202-4000000-0000025", [item("1", "SKU-1", 1, "10.00", "GBP")])
    del raw["proceeds"]
    with pytest.raises(MappingError, match="includedData=PROCEEDS"):
        _map(raw)
    raw = order("202-4000000-0000026", [item("1", "SKU-1", 1, "10.00", "GBP")])
    del raw["orderItems"][0]["proceeds"]
    with pytest.raises(MappingError, match="item 1 has no proceeds"):
        _map(raw)


def test_unknown_proceeds_type_is_quarantined():
    raw = order("202-4000000-0000027", [item("1", "SKU-1", 1, "10.00", "GBP")])
    raw["orderItems"][0]["proceeds"]["breakdowns"].append({"type": "SURPRISE", "subtotal": {"amount": "1.00", "currencyCode": "GBP"}})
    with pytest.raises(MappingError, match="unknown proceeds type 'SURPRISE'"):
        _map(raw)


def test_marketplace_customer_missing_names_the_key():
    with pytest.raises(MappingError, match=r"marketplaces\.uk\.customer\.customer_id is not set"):
        _map(order("202-4000000-0000028", [item("1", "SKU-1", 1, "10.00", "GBP")]), marketplace("uk", customer={"customer_id": None}))


# --- determinism and rendering ---------------------------------------------------------------
def test_external_id_is_deterministic():
    raw = order("202-4000000-0000029", [item("1", "SKU-1", 2, "9.99", "GBP", shipping="1.99")])
    a, b = _map(raw), _map(json.loads(json.dumps(raw)))
    assert a.external_id == b.external_id == external_id_for("202-4000000-0000029") == "AMZ-202-4000000-0000029"
    assert a.body_json() == b.body_json()
    with pytest.raises(MappingError, match="characters NetSuite external ids do not allow"):
        external_id_for("202|evil")


def test_body_json_renders_decimals_as_exact_numbers():
    doc = _map(order("202-4000000-0000030", [item("1", "SKU-1", 3, "0.10", "GBP", tax={"ITEM": "0.06"})]))
    text = doc.body_json()
    assert '"rate": 0.10' in text and '"amount": 0.30' in text and '"tax1Amt": 0.06' in text
    parsed = json.loads(text, parse_float=Decimal)
    line = parsed["item"]["items"][0]
    assert line["amount"] + line["tax1Amt"] == D("0.36") == doc.total
    assert render_json({"x": D("-0.00"), "y": D("1E+2"), "z": [True, None, "é"]}) == '{"x": -0.00, "y": 100, "z": [true, null, "é"]}'
    with pytest.raises(TypeError):
        render_json({"bad": 0.1})


def test_document_round_trips_through_json_storage():
    doc = _map(order("202-4000000-0000031", [item("1", "SKU-1", 1, "10.00", "GBP", collector="GB_VOEC", tax={"ITEM": "2.00"})]))
    again = type(doc).model_validate_json(doc.model_dump_json())
    assert again == doc and again.body_json() == doc.body_json()


# --- customers -------------------------------------------------------------------------------
BUYER = {"buyerName": "Jane Q Public", "buyerEmail": "Jane.Public@marketplace.amazon.co.uk"}


def test_buyer_strategy_produces_a_customer_upsert_without_pii_in_the_id():
    mp = marketplace("uk", customer={"strategy": "buyer"}, orders={"pii": True})
    o = parse_order(order("202-4000000-0000032", [item("1", "SKU-1", 1, "10.00", "GBP")], buyer=BUYER))
    up = customer_for_order(o, mp, currency_id="2")
    key = buyer_key(o, mp)
    assert up is not None and up.external_id == f"AMZ-BUYER-{key}" and len(key) == 32
    assert "jane" not in up.external_id.lower() and "public" not in up.external_id.lower()
    assert up.body["firstName"] == "Jane Q" and up.body["lastName"] == "Public" and up.body["isPerson"] is True
    assert up.body["custentity_amz_buyer_key"] == key and up.body["subsidiary"] == {"id": "2"}
    assert up.body["currency"] == {"id": "2"}
    assert "Jane" not in repr(up)
    # same buyer, different case/whitespace in the email → same key; another marketplace → another key
    o2 = parse_order(order("202-4000000-0000033", [item("1", "SKU-1", 1, "10.00", "GBP")],
                           buyer={"buyerEmail": " jane.public@marketplace.amazon.co.uk "}))
    assert buyer_key(o2, mp) == key
    assert buyer_key(o, marketplace("de")) != key
    with pytest.raises(MappingError, match="upsert customer_for_order"):
        map_order(o, mp, item_ids=ITEM_IDS)
    assert map_order(o, mp, item_ids=ITEM_IDS, customer_id="7788").body["entity"] == {"id": "7788"}


def test_business_buyer_is_a_company():
    mp = marketplace("uk", customer={"strategy": "buyer"}, orders={"pii": True})
    o = parse_order(order("202-4000000-0000034", [item("1", "SKU-1", 1, "10.00", "GBP")],
                          buyer={**BUYER, "buyerCompanyName": "ACME Ltd"}))
    up = customer_for_order(o, mp)
    assert up.body["isPerson"] is False and up.body["companyName"] == "ACME Ltd"


def test_guest_and_marketplace_strategy_use_the_marketplace_customer():
    mp = marketplace("uk", customer={"strategy": "buyer"}, orders={"pii": True})
    guest = parse_order(order("202-4000000-0000035", [item("1", "SKU-1", 1, "10.00", "GBP")]))
    assert customer_for_order(guest, mp) is None
    assert map_order(guest, mp, item_ids=ITEM_IDS).body["entity"] == {"id": "101"}
    with_buyer = parse_order(order("202-4000000-0000036", [item("1", "SKU-1", 1, "10.00", "GBP")], buyer=BUYER))
    assert customer_for_order(with_buyer, UK) is None
    assert map_order(with_buyer, UK, item_ids=ITEM_IDS).body["entity"] == {"id": "101"}
