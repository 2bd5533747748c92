"""Order lifecycle: which Amazon states are written, skipped or cancelled (docs/tax-treatment.md § Lifecycle)."""

from __future__ import annotations

import pytest

from airflow_provider_amznetsuite.domain.orders import MappingError, OrderAction, decide_action, document_type, parse_order
from tests.unit.test_orders_support import item, marketplace, order

UK = marketplace("uk")


def _decide(status: str, by: str, *, mp=UK, items=None, **kw):
    raw = order("202-2000000-0000001", items or [item("1", "SKU-1", 1, "10.00", "GBP")], status=status, fulfilled_by=by, **kw)
    return decide_action(parse_order(raw), mp)


@pytest.mark.parametrize(
    ("status", "by", "action", "record_type", "reason_part"),
    [
        ("PENDING", "MERCHANT", OrderAction.SKIP, None, "payment not authorised"),
        ("PENDING", "AMAZON", OrderAction.SKIP, None, "written when it next changes"),
        ("PENDING_AVAILABILITY", "MERCHANT", OrderAction.SKIP, None, "pre-order"),
        ("UNSHIPPED", "MERCHANT", OrderAction.UPSERT, "salesOrder", "UNSHIPPED"),
        ("PARTIALLY_SHIPPED", "MERCHANT", OrderAction.UPSERT, "salesOrder", "PARTIALLY_SHIPPED"),
        ("SHIPPED", "MERCHANT", OrderAction.UPSERT, "salesOrder", "SHIPPED"),
        ("UNSHIPPED", "AMAZON", OrderAction.SKIP, None, "FBA orders are written once SHIPPED"),
        ("PARTIALLY_SHIPPED", "AMAZON", OrderAction.SKIP, None, "FBA orders are written once SHIPPED"),
        ("SHIPPED", "AMAZON", OrderAction.UPSERT, "cashSale", "cashSale"),
        ("CANCELLED", "MERCHANT", OrderAction.CANCEL, "salesOrder", "never delete"),
        ("CANCELLED", "AMAZON", OrderAction.SKIP, None, "refunded through the settlement"),
        ("UNFULFILLABLE", "AMAZON", OrderAction.SKIP, None, "UNFULFILLABLE"),
    ],
)
def test_lifecycle_table(status, by, action, record_type, reason_part):
    d = _decide(status, by)
    assert d.action is action
    assert d.record_type == record_type
    assert reason_part in d.reason


def test_cancelled_fba_order_is_skipped_when_it_would_be_a_cash_sale():
    d = _decide("CANCELLED", "AMAZON")
    assert d.action is OrderAction.SKIP and "cash sales are written only once shipped" in d.reason
    d = _decide("CANCELLED", "AMAZON", mp=marketplace("uk", orders={"fba_document": "salesOrder"}))
    assert d.action is OrderAction.CANCEL and d.record_type == "salesOrder"


def test_fba_document_is_configurable():
    mp = marketplace("uk", orders={"fba_document": "salesOrder"})
    d = _decide("SHIPPED", "AMAZON", mp=mp)
    assert d.action is OrderAction.UPSERT and d.record_type == "salesOrder"


def test_cancelled_before_written_needs_nothing():
    raw = order("202-2000000-0000002", [item("1", "SKU-1", 1, "10.00", "GBP")], status="CANCELLED")
    o = parse_order(raw)
    assert decide_action(o, UK, already_written=False).action is OrderAction.SKIP
    assert decide_action(o, UK, already_written=True).action is OrderAction.CANCEL


def test_preorder_pending_availability_is_skipped_but_written_once_paid():
    items = [item("1", "SKU-1", 1, "10.00", "GBP")]
    assert _decide("PENDING_AVAILABILITY", "MERCHANT", items=items, programs=("PREORDER",)).action is OrderAction.SKIP
    assert _decide("UNSHIPPED", "MERCHANT", items=items, programs=("PREORDER",)).action is OrderAction.UPSERT


def test_partial_cancellation_is_an_upsert_flagged_partial():
    items = [
        item("1", "SKU-1", 3, "10.00", "GBP", item_amount="20.00", cancelled_execution=True, fulfilled=0, unfulfilled=2),
        item("2", "SKU-2", 1, "5.00", "GBP"),
    ]
    d = _decide("UNSHIPPED", "MERCHANT", items=items)
    assert d.action is OrderAction.UPSERT
    assert d.partially_cancelled
    assert "1 item(s)" in d.reason


def test_other_marketplace_and_non_amazon_channel_are_skipped():
    raw = order("202-2000000-0000003", [item("1", "SKU-1", 1, "10.00", "GBP")])
    raw["salesChannel"]["marketplaceId"] = "A1PA6795UKMFR9"
    d = decide_action(parse_order(raw), UK)
    assert d.action is OrderAction.SKIP and "A1PA6795UKMFR9" in d.reason
    raw = order("202-2000000-0000004", [item("1", "SKU-1", 1, "10.00", "GBP")], fulfilled_by="AMAZON", status="SHIPPED")
    raw["salesChannel"] = {"channelName": "NON_AMAZON"}
    assert decide_action(parse_order(raw), UK).action is OrderAction.SKIP


def test_missing_fulfillment_data_and_unknown_status_raise():
    raw = order("202-2000000-0000005", [item("1", "SKU-1", 1, "10.00", "GBP")])
    del raw["fulfillment"]
    with pytest.raises(MappingError, match="includedData=FULFILLMENT"):
        decide_action(parse_order(raw), UK)
    raw = order("202-2000000-0000006", [item("1", "SKU-1", 1, "10.00", "GBP")], status="INVOICE_UNCONFIRMED")
    with pytest.raises(MappingError, match="unknown fulfillmentStatus 'INVOICE_UNCONFIRMED'"):
        decide_action(parse_order(raw), UK)
    raw = order("202-2000000-0000007", [item("1", "SKU-1", 1, "10.00", "GBP")], fulfilled_by="SOMEONE")
    with pytest.raises(MappingError, match="fulfilledBy is SOMEONE"):
        document_type(parse_order(raw), UK)
