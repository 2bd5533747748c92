"""Writebacks to Amazon: acknowledgement feed XML, confirmShipment package detail, ship-by alerts."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest

from airflow_provider_amznetsuite.domain.orders import MappingError, parse_order
from airflow_provider_amznetsuite.domain.writeback import (
    ACK_FEED_TYPE,
    Acknowledgement,
    AcknowledgementItem,
    acknowledgement_feed,
    acknowledgement_for,
    carrier_for,
    confirm_shipment_body,
    ship_by_alerts,
    shipment_package_detail,
)
from tests.unit.test_orders_support import item, order

XSI = "{http://www.w3.org/2001/XMLSchema-instance}"


def _mfn(order_id="202-6000000-0000001", **kw):
    return parse_order(order(order_id, [item("11", "SKU-1", 2, "10.00", "GBP"), item("12", "SKU-2", 1, "5.00", "GBP")], **kw))


# --- acknowledgement -------------------------------------------------------------------------
def test_acknowledgement_feed_structure():
    o = _mfn()
    ack = acknowledgement_for(o, "SO10452", merchant_item_ids={"11": "1"})
    xml = acknowledgement_feed([ack], merchant_identifier="A2SELLER")
    assert ACK_FEED_TYPE == "POST_ORDER_ACKNOWLEDGEMENT_DATA"
    assert xml.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    root = ET.fromstring(xml)
    assert root.tag == "AmazonEnvelope" and root.get(f"{XSI}noNamespaceSchemaLocation") == "amzn-envelope.xsd"
    assert root.findtext("Header/DocumentVersion") == "1.01"
    assert root.findtext("Header/MerchantIdentifier") == "A2SELLER"
    assert root.findtext("MessageType") == "OrderAcknowledgement"
    msg = root.find("Message")
    assert msg.findtext("MessageID") == "1"
    body = msg.find("OrderAcknowledgement")
    assert [child.tag for child in body] == ["AmazonOrderID", "MerchantOrderID", "StatusCode", "Item", "Item"]
    assert body.findtext("AmazonOrderID") == "202-6000000-0000001"
    assert body.findtext("MerchantOrderID") == "SO10452"
    assert body.findtext("StatusCode") == "Success"
    items = body.findall("Item")
    assert [(i.findtext("AmazonOrderItemCode"), i.findtext("MerchantOrderItemID")) for i in items] == [("11", "1"), ("12", None)]


def test_acknowledgement_feed_numbers_messages():
    acks = [acknowledgement_for(_mfn(f"202-6000000-000000{n}"), f"SO{n}") for n in range(1, 4)]
    root = ET.fromstring(acknowledgement_feed(acks, merchant_identifier="A2SELLER"))
    assert [m.findtext("MessageID") for m in root.findall("Message")] == ["1", "2", "3"]
    assert [m.findtext("OrderAcknowledgement/MerchantOrderID") for m in root.findall("Message")] == ["SO1", "SO2", "SO3"]


@pytest.mark.parametrize("hostile", [
    "</MerchantOrderID><StatusCode>Failure</StatusCode>",
    "<![CDATA[x]]>",
    "&amp; &lt; \"quoted\" 'single'",
    "<!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/passwd'>]>&e;",
    "Ünïcødé ✓ 注文",
])
def test_acknowledgement_escapes_hostile_strings(hostile):
    ack = Acknowledgement(amazon_order_id="202-6000000-0000001", merchant_order_id=hostile,
                          items=(AcknowledgementItem(amazon_order_item_code="11", merchant_order_item_id=hostile),))
    xml = acknowledgement_feed([ack], merchant_identifier=hostile)
    root = ET.fromstring(xml)  # still well-formed
    assert root.findtext("Header/MerchantIdentifier") == hostile
    body = root.find("Message/OrderAcknowledgement")
    assert body.findtext("MerchantOrderID") == hostile
    assert body.findtext("Item/MerchantOrderItemID") == hostile
    assert body.findtext("StatusCode") == "Success"
    assert len(root.findall("Message")) == 1 and len(body.findall("StatusCode")) == 1


def test_acknowledgement_refuses_control_characters_and_bad_input():
    ack = Acknowledgement(amazon_order_id="202-6000000-0000001", merchant_order_id="SO1\x00\x1b")
    with pytest.raises(ValueError, match="MerchantOrderID of 202-6000000-0000001 contains a character XML cannot carry"):
        acknowledgement_feed([ack], merchant_identifier="A2SELLER")
    with pytest.raises(ValueError, match="no acknowledgements"):
        acknowledgement_feed([], merchant_identifier="A2SELLER")
    with pytest.raises(ValueError, match="'Maybe'"):
        acknowledgement_feed([Acknowledgement(amazon_order_id="1", status="Maybe")], merchant_identifier="A2SELLER")
    fba = parse_order(order("202-6000000-0000009", [item("1", "SKU-1", 1, "1.00", "GBP")], status="SHIPPED", fulfilled_by="AMAZON"))
    with pytest.raises(MappingError, match="only merchant-fulfilled orders are acknowledged"):
        acknowledgement_for(fba, "CS1")


# --- shipment confirmation -------------------------------------------------------------------
def _fulfillment(**overrides):
    record = {
        "id": "8812",
        "tranId": "IF331",
        "tranDate": "2026-03-03",
        "createdDate": "2026-03-03T16:02:11Z",
        "shipMethod": {"id": "44", "refName": "Royal Mail Tracked 24"},
        "item": {"items": [
            {"orderLine": 1, "item": {"id": "1001"}, "quantity": 1, "itemReceive": True, "custcol_amz_order_item_id": "11"},
            {"orderLine": 1, "item": {"id": "1001"}, "quantity": 1, "itemReceive": True, "custcol_amz_order_item_id": "11"},
            {"orderLine": 2, "item": {"id": "1002"}, "quantity": 1, "itemReceive": False, "custcol_amz_order_item_id": "12"},
        ]},
        "package": {"items": [{"packageTrackingNumber": "JD0002241234GB", "packageWeight": 0.4}]},
    }
    record.update(overrides)
    return record


def test_package_detail_from_fulfilment():
    o = _mfn()
    detail = shipment_package_detail(o, _fulfillment(), timezone="Europe/London", now=datetime(2026, 3, 4, tzinfo=UTC))
    assert detail == {
        "packageReferenceId": "8812",
        "carrierCode": "Royal Mail",
        "trackingNumber": "JD0002241234GB",
        "shipDate": "2026-03-03T12:00:00Z",
        "orderItems": [{"orderItemId": "11", "quantity": 2}],  # the unreceived line is not shipped
        "shippingMethod": "Royal Mail Tracked 24",
    }
    body = confirm_shipment_body(o, _fulfillment(), marketplace_id="A1F83G8C2ARO7P", timezone="Europe/London")
    assert body["marketplaceId"] == "A1F83G8C2ARO7P" and body["packageDetail"]["packageReferenceId"] == "8812"


def test_package_reference_id_is_idempotent():
    o = _mfn()
    first = shipment_package_detail(o, _fulfillment())
    retry = shipment_package_detail(o, _fulfillment())
    assert first == retry and first["packageReferenceId"] == "8812"
    other = shipment_package_detail(o, _fulfillment(id="8813"))
    assert other["packageReferenceId"] == "8813"
    assert shipment_package_detail(o, _fulfillment(id="008812"))["packageReferenceId"] == "8812"
    with pytest.raises(MappingError, match="not a NetSuite internal id"):
        shipment_package_detail(o, _fulfillment(id="IF-8812"))


@pytest.mark.parametrize(("name", "code", "carrier_name"), [
    ("UPS Ground", "UPS", None),
    ("USPS Priority Mail", "USPS", None),
    ("FedEx 2Day", "FedEx", None),
    ("DHL eCommerce Parcel Expedited", "DHL eCommerce", None),
    ("DHL Express Worldwide", "DHL", None),
    ("royal-mail 48", "Royal Mail", None),
    ("DPD Next Day", "DPD", None),
    ("Deutsche Post Warenpost", "Deutsche Post", None),
    ("Bob's Courier Service", "Other", "Bob's Courier Service"),
    ("Upsilon Freight", "Other", "Upsilon Freight"),  # 'ups' must match a whole word
])
def test_carrier_code_mapping(name, code, carrier_name):
    assert carrier_for(name) == (code, carrier_name)


def test_carrier_overrides_and_other_fallback_in_package_detail():
    o = _mfn()
    record = _fulfillment(shipMethod={"id": "9", "refName": "Bob's Courier Service"})
    detail = shipment_package_detail(o, record)
    assert detail["carrierCode"] == "Other" and detail["carrierName"] == "Bob's Courier Service"
    detail = shipment_package_detail(o, record, carrier_codes={"Bob's Courier Service": "Yodel"})
    assert detail["carrierCode"] == "Yodel" and "carrierName" not in detail
    # an explicit carrier field wins over the ship method name
    detail = shipment_package_detail(o, _fulfillment(shipCarrier={"id": "ups", "refName": "UPS"}))
    assert detail["carrierCode"] == "UPS"


def test_ship_date_is_never_in_the_future_and_falls_back_to_created_date():
    o = _mfn()
    now = datetime(2026, 3, 3, 9, 30, tzinfo=UTC)
    assert shipment_package_detail(o, _fulfillment(), now=now)["shipDate"] == "2026-03-03T09:30:00Z"
    record = _fulfillment()
    del record["tranDate"]
    assert shipment_package_detail(o, record)["shipDate"] == "2026-03-03T16:02:11Z"


def test_package_detail_errors():
    o = _mfn()
    with pytest.raises(MappingError, match="has no tracking number"):
        shipment_package_detail(o, _fulfillment(package={"items": []}))
    bad = _fulfillment()
    del bad["item"]["items"][0]["custcol_amz_order_item_id"]
    with pytest.raises(MappingError, match="line 1 has no custcol_amz_order_item_id"):
        shipment_package_detail(o, bad)
    bad = _fulfillment()
    bad["item"]["items"][0]["custcol_amz_order_item_id"] = "99"
    with pytest.raises(MappingError, match="ships order item 99, which is not on this Amazon order"):
        shipment_package_detail(o, bad)
    bad = _fulfillment()
    bad["item"]["items"][0]["quantity"] = 5
    with pytest.raises(MappingError, match="ships 6 of item 11 but Amazon ordered 2"):
        shipment_package_detail(o, bad)
    with pytest.raises(MappingError, match="no ship method or carrier"):
        shipment_package_detail(o, _fulfillment(shipMethod=None))
    fba = parse_order(order("202-6000000-0000008", [item("11", "SKU-1", 1, "1.00", "GBP")], status="SHIPPED", fulfilled_by="AMAZON"))
    with pytest.raises(MappingError, match="only merchant-fulfilled"):
        shipment_package_detail(fba, _fulfillment())


def test_fulfilment_quantities_may_arrive_as_whole_floats_but_not_fractions():
    o = _mfn()
    record = _fulfillment()
    record["item"]["items"][0]["quantity"] = 1.0
    assert shipment_package_detail(o, record)["orderItems"] == [{"orderItemId": "11", "quantity": 2}]
    record["item"]["items"][0]["quantity"] = 1.5
    with pytest.raises(MappingError, match="line 1: quantity 1.5 is not a whole number"):
        shipment_package_detail(o, record)


def test_ups_package_sublist_and_linked_tracking_numbers():
    o = _mfn()
    record = _fulfillment(package=None, packageUps={"items": [{"packageTrackingNumberUps": "1Z999AA10123456784"}]})
    assert shipment_package_detail(o, record)["trackingNumber"] == "1Z999AA10123456784"
    record = _fulfillment(package=None, linkedTrackingNumbers="9400111899223197428490")
    assert shipment_package_detail(o, record)["trackingNumber"] == "9400111899223197428490"


# --- ship-by alerts --------------------------------------------------------------------------
def test_ship_by_alerts():
    now = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
    due_soon = _mfn("202-6000000-0000011", ship_by="2026-03-04T23:59:59Z")
    overdue = _mfn("202-6000000-0000012", ship_by="2026-03-04T08:00:00Z")
    later = _mfn("202-6000000-0000013", ship_by="2026-03-06T23:59:59Z")
    fulfilled = _mfn("202-6000000-0000014", ship_by="2026-03-04T20:00:00Z")
    shipped = _mfn("202-6000000-0000015", ship_by="2026-03-04T20:00:00Z", status="SHIPPED")
    partial = _mfn("202-6000000-0000016", ship_by="2026-03-04T20:00:00Z", status="PARTIALLY_SHIPPED")
    fba = parse_order(order("202-6000000-0000017", [item("1", "SKU-1", 1, "1.00", "GBP")], status="UNSHIPPED",
                            fulfilled_by="AMAZON", ship_by="2026-03-04T13:00:00Z"))
    alerts = ship_by_alerts([due_soon, overdue, later, fulfilled, shipped, partial, fba, due_soon], now, 24,
                            fulfilled={"202-6000000-0000014"})
    assert [(a.order_id, a.overdue, a.minutes_left) for a in alerts] == [
        ("202-6000000-0000012", True, -240),
        ("202-6000000-0000016", False, 480),
        ("202-6000000-0000011", False, 719),
    ]
    assert ship_by_alerts([due_soon], now, 6) == []
    with pytest.raises(ValueError, match="timezone-aware"):
        ship_by_alerts([], datetime(2026, 3, 4), 24)
