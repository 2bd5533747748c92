"""Hostile order payloads (issue #18 item 8): each one order quarantined with a one-line reason, the rest booked.

Before: a duplicated orderItemId was booked twice, a quantity of 10^30 written, a year-9999 createdTime
raised OverflowError and an 80-digit amount decimal.InvalidOperation — the whole batch failed.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from airflow_provider_amznetsuite.domain.orders import MAX_LINE_QUANTITY, MappingError, map_order, parse_order
from airflow_provider_amznetsuite.operators import orders as ops
from tests.unit.test_orders_operators import FakeNetSuite, FakeSpApi, Flow, mfn, state  # noqa: F401 - fixture
from tests.unit.test_orders_support import CURRENCY_IDS, ITEM_IDS, item, marketplace, order

OID = "202-0000001-0000001"
PII_NAME = "Jane Q Public"


def _base() -> dict[str, Any]:
    raw = order(OID, [item("1", "SKU-1", 2, "10.00", "GBP", tax={"ITEM": "4.00"})])
    raw["buyer"] = {"buyerName": PII_NAME, "buyerEmail": "jane@marketplace.amazon.invalid"}
    return raw


def _set(raw: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    raw = copy.deepcopy(raw)
    target: Any = raw
    parts = path.split(".")
    for part in parts[:-1]:
        target = target[int(part)] if part.isdigit() else target.setdefault(part, {})
    target[int(parts[-1]) if parts[-1].isdigit() else parts[-1]] = value
    return raw


def _dup_item(raw: dict[str, Any]) -> dict[str, Any]:
    raw = copy.deepcopy(raw)
    raw["orderItems"].append(copy.deepcopy(raw["orderItems"][0]))
    return raw


AMOUNT = "orderItems.0.proceeds.breakdowns.0.subtotal.amount"
CASES = {
    "duplicate orderItemId": (_dup_item(_base()), "orderItemId '1' appears twice"),
    "quantity 10^30": (_set(_base(), "orderItems.0.quantityOrdered", 10**30), "quantityOrdered"),
    "quantity just over the cap": (_set(_base(), "orderItems.0.quantityOrdered", MAX_LINE_QUANTITY + 1), "quantityOrdered"),
    "fulfilled 10^30": (_set(_base(), "orderItems.0.fulfillment", {"quantityFulfilled": 10**30}), "quantityFulfilled"),
    "createdTime year 9999 -05:00": (_set(_base(), "createdTime", "9999-12-31T23:59:59-05:00"), "createdTime"),
    "createdTime year 9999 UTC": (_set(_base(), "createdTime", "9999-12-31T23:59:59Z"), "createdTime"),
    "lastUpdatedTime year 1 +05:00": (_set(_base(), "lastUpdatedTime", "0001-01-01T00:00:00+05:00"), "lastUpdatedTime"),
    "createdTime 1970": (_set(_base(), "createdTime", "1970-01-01T00:00:00Z"), "createdTime"),
    "ship-by year 9999 -23:59": (_set(_base(), "fulfillment.shipByWindow", {"latestDateTime": "9999-12-31T23:59:59-23:59"}),
                                 "shipByWindow"),
    "offset +99:99": (_set(_base(), "createdTime", "2026-03-02T10:15:00+99:99"), "createdTime"),
    "80-digit amount": (_set(_base(), AMOUNT, "9" * 80), "more than 13 integer digits"),
    "80-digit unit price": (_set(_base(), "orderItems.0.product.price.unitPrice.amount", "1" * 80), "unitPrice"),
    "exponent 1E+999999": (_set(_base(), AMOUNT, "1E+999999"), "more than 13 integer digits"),
    "NaN": (_set(_base(), AMOUNT, "NaN"), "finite"),
    "Infinity": (_set(_base(), AMOUNT, "-Infinity"), "finite"),
    "60 decimals": (_set(_base(), AMOUNT, "20." + "0" * 59 + "1"), "decimals"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_a_hostile_order_is_a_mapping_error_naming_the_field_without_pii(name: str) -> None:
    raw, words = CASES[name]
    with pytest.raises(MappingError) as info:
        o = parse_order(raw)
        map_order(o, marketplace("uk"), item_ids=ITEM_IDS, customer_id="77", currency_ids=CURRENCY_IDS)
    text = str(info.value)
    assert words in text and OID in text
    assert PII_NAME not in text and "jane@" not in text and "\n" not in text
    assert info.value.order_id == OID


@pytest.mark.parametrize("oid", ["202-0000001-0000001 x", "202-0000001-0000001\n", "202/0000001", ""])
def test_an_order_id_that_cannot_be_an_external_id_is_refused_at_parse(oid: str) -> None:
    """Before, it parsed and external_id_for raised later, outside the per-order quarantine."""
    with pytest.raises(MappingError, match="orderId: Value error, is not an Amazon order id") as info:
        parse_order(_set(_base(), "orderId", oid))
    assert info.value.order_id is None  # quarantined under a generated key, the id is not echoed


def test_the_bounds_still_accept_real_orders() -> None:
    raw = _set(_set(_base(), "orderItems.0.quantityOrdered", 1000), AMOUNT, "10000.00")
    raw = _set(raw, "orderItems.0.product.price.unitPrice.amount", "10.00")
    o = parse_order(_set(raw, "createdTime", "2026-12-31T23:59:59-12:00"))
    assert o.order_items[0].quantity_ordered == 1000 and o.created_time.year == 2027


def test_one_poisoned_order_is_quarantined_and_the_others_are_written(state) -> None:  # noqa: F811
    good = [mfn(f"202-000000{n}-000000{n}") for n in (2, 3)]
    poisoned = [
        _dup_item(mfn("202-0000004-0000004")),
        _set(mfn("202-0000005-0000005"), "orderItems.0.quantityOrdered", 10**30),
        _set(mfn("202-0000006-0000006"), "createdTime", "9999-12-31T23:59:59-05:00"),
        _set(mfn("202-0000007-0000007"), "orderItems.0.product.price.unitPrice.amount", "9" * 80),
    ]
    sp, ns = FakeSpApi(good + poisoned), FakeNetSuite()
    flow = Flow(state, sp, ns)
    x = flow.run("r1", stop_after="write")
    assert set(ns.by_eid) == {"AMZ-202-0000002-0000002", "AMZ-202-0000003-0000003"}
    assert x["write_mfn"]["counts"]["outcomes"] == {"salesOrder:created": 2}
    reasons = {q.key: q.reason for q in state.open_quarantine("orders", "uk")}
    assert set(reasons) == {p["orderId"] for p in poisoned}
    assert all("\n" not in r and r.startswith(f"order {k}: ") for k, r in reasons.items())
    assert ops.TASK_IDS["write_mfn"] in x
