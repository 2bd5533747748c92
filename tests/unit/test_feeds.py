"""JSON_LISTINGS_FEED building and processing-report reading (domain/feeds.py)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import jsonschema
import pytest

from airflow_provider_amznetsuite.domain.feeds import (
    MAX_BYTES,
    FeedError,
    FeedMessage,
    PatchOperation,
    build_listings_feeds,
    fulfillment_availability_patch,
    parse_processing_report,
    plan_listings_feeds,
    purchasable_offer_patch,
)

MODELS = Path(__file__).resolve().parents[2] / "airflow_provider_amznetsuite" / "sandbox" / "models"
SELLER = "A2SELLER123"


def _schema(name: str) -> dict:
    return json.loads((MODELS / name).read_text(encoding="utf-8"))


FEED_SCHEMA = _schema("schema_feed_json_listings_feed_v2.json")
MESSAGE_SCHEMA = _schema("schema_feed_json_listings_feed_message_v2.json")
REPORT_SCHEMA = _schema("schema_feed_listings_processing_report_v2.json")


def _qty_messages(n: int, start: int = 0) -> list[FeedMessage]:
    return [
        FeedMessage.patch(f"SKU-{i:06d}", "PRODUCT", [fulfillment_availability_patch(i % 50)])
        for i in range(start, start + n)
    ]


def _report(issues: list[dict], *, accepted: int, processed: int, invalid: int) -> dict:
    errors = sum(1 for i in issues if i["severity"] == "ERROR")
    warnings = sum(1 for i in issues if i["severity"] == "WARNING")
    return {
        "header": {"sellerId": SELLER, "version": "2.0", "feedId": "50001"},
        "issues": issues,
        "summary": {"errors": errors, "warnings": warnings, "messagesProcessed": processed,
                    "messagesAccepted": accepted, "messagesInvalid": invalid},
    }


# --- building ---------------------------------------------------------------------------------------------
def test_mixed_operations_validate_against_vendored_feed_and_message_schemas():
    offer = {"marketplace_id": "A1F83G8C2ARO7P", "currency": "GBP", "audience": "ALL",
             "our_price": [{"schedule": [{"value_with_tax": Decimal("12.50")}]}]}
    messages = [
        FeedMessage.patch("SKU-A", "PRODUCT", [fulfillment_availability_patch(7, handling_time_days=2)]),
        FeedMessage.patch("SKU-B", "PRODUCT", [purchasable_offer_patch([offer])]),
        FeedMessage(sku="SKU-C", operation_type="DELETE"),
        FeedMessage(sku="SKU-D", operation_type="PARTIAL_UPDATE", product_type="HOME",
                    attributes={"item_name": [{"value": "Mug", "language_tag": "en_GB", "marketplace_id": "A1F83G8C2ARO7P"}]}),
        FeedMessage(sku="SKU-E", operation_type="UPDATE", product_type="HOME", requirements="LISTING_OFFER_ONLY",
                    attributes={"condition_type": [{"value": "new_new"}]}),
    ]
    docs = plan_listings_feeds(SELLER, messages, issue_locale="en_GB")
    assert len(docs) == 1
    doc = json.loads(docs[0].body)
    jsonschema.Draft7Validator(FEED_SCHEMA).validate(doc)
    for m in doc["messages"]:
        jsonschema.Draft7Validator(MESSAGE_SCHEMA).validate(m)
    assert doc["header"] == {"sellerId": SELLER, "version": "2.0", "issueLocale": "en_GB"}
    assert docs[0].sent == {1: "SKU-A", 2: "SKU-B", 3: "SKU-C", 4: "SKU-D", 5: "SKU-E"}
    assert doc["messages"][0]["patches"] == [{
        "op": "merge", "path": "/attributes/fulfillment_availability",
        "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": 7, "lead_time_to_ship_max_days": 2}],
    }]
    # Decimal amounts are written as exact JSON numbers, never strings or floats
    assert b'"value_with_tax":12.50' in docs[0].body
    assert doc["messages"][1]["patches"][0]["path"] == "/attributes/purchasable_offer"


def test_jpy_amount_is_written_without_decimals():
    offer = {"marketplace_id": "A1VC38T7YXB528", "currency": "JPY", "audience": "ALL",
             "our_price": [{"schedule": [{"value_with_tax": Decimal("1200")}]}]}
    body = build_listings_feeds(SELLER, [FeedMessage.patch("J-1", "PRODUCT", [purchasable_offer_patch([offer])])])[0]
    assert b'"value_with_tax":1200}' in body


def test_100k_skus_make_exactly_four_feeds_each_within_limits():
    docs = plan_listings_feeds(SELLER, _qty_messages(100_000))
    assert [d.message_count for d in docs] == [25_000, 25_000, 25_000, 25_000]
    assert all(d.size <= MAX_BYTES for d in docs)
    assert all(len(d.body) < 10 * 1024 * 1024 for d in docs)
    # every SKU exactly once, messageIds 1..25000 in every feed
    skus = [s for d in docs for s in d.sent.values()]
    assert len(set(skus)) == 100_000
    for d in docs:
        assert sorted(d.sent) == list(range(1, 25_001))
    # spot-check the documents against the schema (the whole 25k-message validation is slow)
    last = json.loads(docs[-1].body)
    assert len(last["messages"]) == 25_000
    sample = {"header": last["header"], "messages": last["messages"][:200] + last["messages"][-200:]}
    jsonschema.Draft7Validator(FEED_SCHEMA).validate(sample)
    assert last["messages"][-1] == {
        "messageId": 25_000, "sku": "SKU-099999", "operationType": "PATCH", "productType": "PRODUCT",
        "patches": [{"op": "merge", "path": "/attributes/fulfillment_availability",
                     "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": 99_999 % 50}]}],
    }


def test_500_messages_fit_one_feed_and_nothing_makes_no_feed():
    assert [d.message_count for d in plan_listings_feeds(SELLER, _qty_messages(500))] == [500]
    assert build_listings_feeds(SELLER, []) == []


def test_byte_limit_splits_before_the_message_limit_and_is_never_exceeded():
    msgs = _qty_messages(1000)
    one = len(plan_listings_feeds(SELLER, msgs[:1])[0].body)
    limit = one * 30  # roughly 30+ messages per feed
    docs = plan_listings_feeds(SELLER, msgs, max_bytes=limit)
    assert all(d.size <= limit for d in docs)
    assert sum(d.message_count for d in docs) == 1000
    # greedy packing: adding the next message to any feed but the last would exceed the limit
    for d, nxt in zip(docs, docs[1:]):
        first_next = json.loads(nxt.body)["messages"][0]
        first_next["messageId"] = d.message_count + 1
        extra = len(json.dumps(first_next, separators=(",", ":")).encode()) + 1
        assert d.size + extra > limit
    for d in docs:
        json.loads(d.body)


def test_message_limit_and_caller_message_ids_are_kept():
    msgs = [FeedMessage.patch(f"S{i}", "PRODUCT", [fulfillment_availability_patch(1)], message_id=1000 + i) for i in range(7)]
    docs = plan_listings_feeds(SELLER, msgs, max_messages=3)
    assert [d.message_count for d in docs] == [3, 3, 1]
    assert docs[1].sent == {1003: "S3", 1004: "S4", 1005: "S5"}


def test_invalid_inputs_name_the_problem():
    with pytest.raises(FeedError, match="appears in two messages"):
        plan_listings_feeds(SELLER, _qty_messages(2) + _qty_messages(1))
    with pytest.raises(FeedError, match="messageId 5 is used twice"):
        plan_listings_feeds(SELLER, [FeedMessage.patch("A", "P", [fulfillment_availability_patch(1)], message_id=5),
                                     FeedMessage.patch("B", "P", [fulfillment_availability_patch(1)], message_id=5)])
    with pytest.raises(FeedError, match="on every message or on none"):
        plan_listings_feeds(SELLER, [FeedMessage.patch("A", "P", [fulfillment_availability_patch(1)], message_id=5),
                                     FeedMessage.patch("B", "P", [fulfillment_availability_patch(1)])])
    with pytest.raises(FeedError, match="exceeds max_bytes"):
        plan_listings_feeds(SELLER, _qty_messages(1), max_bytes=100)
    with pytest.raises(FeedError, match="needs a productType"):
        FeedMessage(sku="A", operation_type="PATCH", patches=(fulfillment_availability_patch(1),))
    with pytest.raises(FeedError, match="DELETE takes no"):
        FeedMessage(sku="A", operation_type="DELETE", product_type="X")
    with pytest.raises(FeedError, match="only top-level attributes"):
        PatchOperation(op="merge", path="/attributes/fulfillment_availability/0/quantity", value=({"a": 1},))
    with pytest.raises(FeedError, match="messageId 0"):
        FeedMessage.patch("A", "P", [fulfillment_availability_patch(1)], message_id=0)
    with pytest.raises(FeedError, match="non-negative integer"):
        fulfillment_availability_patch(-1)
    with pytest.raises(FeedError, match="float"):
        plan_listings_feeds(SELLER, [FeedMessage.patch("A", "P", [PatchOperation("merge", "/attributes/x", ({"v": 1.5},))])])
    with pytest.raises(FeedError, match="selector"):
        purchasable_offer_patch([{"marketplace_id": "X", "currency": "GBP"}])


# --- processing report ------------------------------------------------------------------------------------
def test_three_rejected_skus_are_exactly_the_rejected_ones():
    sent = {i: f"SKU-{i:03d}" for i in range(1, 11)}
    issues = [
        {"messageId": 2, "sku": "SKU-002", "code": "90220", "severity": "ERROR", "message": "'quantity' is invalid."},
        {"messageId": 5, "sku": "SKU-005", "code": "4000003", "severity": "ERROR",
         "message": "SKU not found.", "attributeName": "fulfillment_availability"},
        {"messageId": 5, "sku": "SKU-005", "code": "99022", "severity": "ERROR", "message": "second problem"},
        {"messageId": 9, "sku": "SKU-009", "code": "8541", "severity": "ERROR", "message": "conflict"},
        {"messageId": 7, "sku": "SKU-007", "code": "18448", "severity": "WARNING", "message": "incomplete"},
    ]
    report = _report(issues, accepted=7, processed=10, invalid=3)
    jsonschema.Draft7Validator(REPORT_SCHEMA).validate(report)
    out = parse_processing_report(report, sent)
    assert set(out.rejected) == {"SKU-002", "SKU-005", "SKU-009"}
    assert out.accepted_skus == frozenset(sent.values()) - {"SKU-002", "SKU-005", "SKU-009"}
    assert out.unconfirmed_skus == frozenset()
    assert [i.code for i in out.rejected["SKU-005"]] == ["4000003", "99022"]
    assert out.rejected["SKU-005"][0].attribute_name == "fulfillment_availability"
    assert [i.code for i in out.warnings["SKU-007"]] == ["18448"]
    assert out.counts() == {"sent": 10, "accepted": 7, "rejected": 3, "unconfirmed": 0, "warnings": 1}


def test_unmentioned_messages_not_covered_by_summary_are_unconfirmed():
    # Amazon's own example: 5 messages sent, 4 processed, 2 accepted, errors on 4 and 5
    example = json.loads((MODELS / "schema_feed_listings_processing_report_v2.example.json").read_text())
    sent = {1: "My-SKU-A", 2: "My-SKU-B2", 3: "My-SKU-C3", 4: "My-SKU-B", 5: "My-SKU-C"}
    out = parse_processing_report(example, sent)
    assert set(out.rejected) == {"My-SKU-B", "My-SKU-C"}
    # 3 messages are free of errors but only 2 were accepted: which ones is unknowable -> none confirmed
    assert out.accepted_skus == frozenset()
    assert out.unconfirmed_skus == {"My-SKU-A", "My-SKU-B2", "My-SKU-C3"}
    assert any("unconfirmed" in n for n in out.notes)


def test_warned_messages_accepted_even_when_silent_ones_are_not_covered():
    sent = {1: "A", 2: "B", 3: "C"}
    report = _report([{"messageId": 1, "sku": "A", "code": "1", "severity": "WARNING", "message": "w"}],
                     accepted=1, processed=1, invalid=0)
    out = parse_processing_report(report, sent)
    assert out.accepted_skus == {"A"}
    assert out.unconfirmed_skus == {"B", "C"}


@pytest.mark.parametrize("status", ["FATAL", "CANCELLED"])
def test_fatal_or_cancelled_feed_accepts_nothing(status):
    sent = {1: "A", 2: "B"}
    out = parse_processing_report(None, sent, processing_status=status)
    assert out.accepted_skus == frozenset()
    assert out.unconfirmed_skus == {"A", "B"}
    report = _report([{"messageId": 1, "sku": "A", "code": "5", "severity": "ERROR", "message": "bad"}],
                     accepted=1, processed=2, invalid=1)
    out = parse_processing_report(report, sent, processing_status=status)
    assert out.accepted_skus == frozenset() and set(out.rejected) == {"A"} and out.unconfirmed_skus == {"B"}


def test_report_problems_are_explicit():
    with pytest.raises(FeedError, match="missing for a DONE feed"):
        parse_processing_report(None, {1: "A"})
    with pytest.raises(FeedError, match="summary"):
        parse_processing_report({"header": {}, "issues": []}, {1: "A"})
    report = _report([{"messageId": 99, "code": "1", "severity": "ERROR", "message": "stray"},
                      {"severity": "ERROR", "message": "feed-level"}], accepted=1, processed=1, invalid=0)
    out = parse_processing_report(report, {1: "A"})
    assert out.accepted_skus == {"A"}
    assert [i.message for i in out.feed_issues] == ["stray", "feed-level"]
