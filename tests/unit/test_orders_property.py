"""Property: for any order Amazon can send, the NetSuite document total equals Amazon's grand total exactly."""

from __future__ import annotations

import json
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_amznetsuite.domain.money import minor_units
from airflow_provider_amznetsuite.domain.orders import LineKind, map_order, parse_order
from tests.unit.test_orders_support import ITEM_IDS, item, marketplace, order

MP = marketplace("us")
CURRENCIES = ("USD", "GBP", "EUR", "JPY", "BHD")


@st.composite
def orders(draw):
    currency = draw(st.sampled_from(CURRENCIES))
    minor = minor_units(currency)

    def amount(lo: int, hi: int) -> str:
        return str(Decimal(draw(st.integers(lo, hi))).scaleb(-minor))

    items = []
    for n in range(draw(st.integers(1, 6))):
        qty = draw(st.integers(1, 20))
        unit = amount(0, 500_000)
        collector = draw(st.sampled_from([None, "MF", "IOSS", "UOSS", "GB_VOEC"]))
        kw = {}
        tax = {"ITEM": amount(0, 20_000)}
        if draw(st.booleans()):
            kw["shipping"] = amount(0, 5_000)
            tax["SHIPPING"] = amount(0, 1_000)
        if draw(st.booleans()):
            kw["gift_wrap"] = amount(1, 2_000)
            tax["GIFT_WRAP"] = amount(0, 400)
        if draw(st.booleans()):
            kw["discount"] = amount(1, 50_000)
            tax["DISCOUNT"] = "-" + amount(0, 5_000)
            if draw(st.booleans()):
                kw["shipping_discount"] = amount(1, 5_000)
        if draw(st.booleans()):  # Amazon's ITEM need not be unit × quantity (rounding, partial cancels)
            kw["item_amount"] = amount(0, 10_000_000)
        if draw(st.integers(0, 5)) == 0:  # partial cancellation
            kept = draw(st.integers(0, qty))
            kw.update(cancelled_execution=True, fulfilled=0, unfulfilled=kept)
        items.append(item(str(10_000 + n), f"SKU-{n + 1}", qty, unit, currency, collector=collector, tax=tax,
                          promotions=("P1",) if "discount" in kw else (), **kw))
    tip = {"DELIVERY_TIP": amount(1, 1_000)} if draw(st.booleans()) else None
    return order("111-5000000-0000001", items, market="us", currency=currency, order_level=tip), currency


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(orders())
def test_document_total_equals_amazon_grand_total(case):
    raw, currency = case
    grand = Decimal(raw["proceeds"]["grandTotal"]["amount"])
    doc = map_order(parse_order(raw), MP, item_ids=ITEM_IDS, charge_items={"DELIVERY_TIP": "904"})
    assert doc.total == grand == doc.amazon_total

    # the rendered body (what NetSuite receives) adds up to the same figure, with no float anywhere
    body = json.loads(doc.body_json(), parse_float=Decimal, parse_int=Decimal)
    lines = body["item"]["items"]
    assert sum((line["amount"] + line.get("tax1Amt", 0) for line in lines), Decimal(0)) == grand

    # marketplace-collected tax is never tax1Amt; the clearing line carries exactly Σ withheld
    withheld = sum((line.get(doc.withheld_tax_field, Decimal(0)) for line in lines), Decimal(0))
    clearing = [line for line in doc.lines if line.kind is LineKind.CLEARING]
    assert (clearing[0].amount if clearing else Decimal(0)) == withheld == doc.withheld_tax_total
    for line in doc.lines:
        if line.collector is not None and line.collector.value != "SELLER":
            assert line.tax_amount == 0

    # every booked amount is in the currency's minor units
    minor = minor_units(currency)
    for line in lines:
        for key in ("amount", "tax1Amt", doc.withheld_tax_field):
            if key in line:
                assert -line[key].as_tuple().exponent == minor, (key, line[key], currency)
