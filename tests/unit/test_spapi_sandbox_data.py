"""Pure parts of the SP-API sandbox: order generator, settlement renderer, product types, listing
patches, token buckets, fault injection and the clock (no HTTP)."""

from __future__ import annotations

import io
import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from jsonschema import Draft201909Validator

from airflow_provider_amznetsuite.sandbox import catalog
from airflow_provider_amznetsuite.sandbox.spapi import feeds
from airflow_provider_amznetsuite.sandbox.spapi import product_types as pt
from airflow_provider_amznetsuite.sandbox.spapi.clock import DEFAULT_NOW, SandboxClock
from airflow_provider_amznetsuite.sandbox.spapi.limits import FaultInjector, RateLimiter
from airflow_provider_amznetsuite.sandbox.spapi.listings import ListingStore, PatchError, apply_patches
from airflow_provider_amznetsuite.sandbox.spapi.orders import INCLUDED_DATA, Order, generate_orders
from airflow_provider_amznetsuite.sandbox.spapi.settlement import COLUMNS, render_settlement, write_settlement

NOW = DEFAULT_NOW
UK = catalog.MARKETPLACES["uk"].marketplace_id


@pytest.fixture(scope="module")
def orders() -> dict[str, list[Order]]:
    return {code: generate_orders(code, now=NOW) for code in catalog.MARKETPLACES}


def _json(orders: list[Order], now: datetime = NOW) -> str:
    return json.dumps([o.to_json(now, INCLUDED_DATA) for o in orders if o.visible(now)], sort_keys=True)


# --- generator ----------------------------------------------------------------------------------------
def test_generator_is_deterministic_per_seed() -> None:
    a = generate_orders("de", seed=7, orders_per_day=20, days=2, now=NOW)
    b = generate_orders("de", seed=7, orders_per_day=20, days=2, now=NOW)
    c = generate_orders("de", seed=8, orders_per_day=20, days=2, now=NOW)
    assert _json(a) == _json(b)
    assert _json(a) != _json(c)


def test_visible_orders_are_orders_per_day_times_days(orders: dict[str, list[Order]]) -> None:
    for code, generated in orders.items():
        visible = [o for o in generated if o.visible(NOW)]
        assert len(visible) == 60 * 3, code
        assert min(o.created for o in visible) >= NOW - timedelta(days=3)
        assert len(generated) > len(visible)  # later orders appear when the clock moves on
        assert len({o.order_id for o in generated}) == len(generated)


def test_order_mix_covers_the_documented_cases(orders: dict[str, list[Order]]) -> None:
    every = [o for gen in orders.values() for o in gen if o.visible(NOW)]
    statuses = Counter(o.status_at(NOW) for o in every)
    assert statuses["SHIPPED"] > 50 and statuses["UNSHIPPED"] > 50 and statuses["CANCELLED"] > 0
    assert statuses["PENDING_AVAILABILITY"] > 0 and Counter(o.fulfilled_by for o in every).keys() == {"AMAZON", "MERCHANT"}
    assert any(o.replacement_of and all(ln.unit_price == 0 for ln in o.lines) for o in every)
    assert any(o.status_at(NOW) != "CANCELLED" and any(ln.is_cancelled(NOW) for ln in o.lines) for o in every)
    assert any("AMAZON_BUSINESS" in o.programs and o.buyer.get("buyerPurchaseOrderNumber") for o in every)
    assert all(o.mf_tax for o in orders["us"])
    assert {o.reporting_scheme for o in orders["uk"] + orders["de"]} >= {"IOSS", "UOSS", None}
    assert any(ln.promotion_ids and ln.item_discount for o in every for ln in o.lines)
    assert any(ln.shipping_discount for o in every for ln in o.lines)
    assert any(ln.gift_wrap and ln.gift_message for o in every for ln in o.lines)
    assert any(ln.quantity > 1 for o in every for ln in o.lines)
    assert any(len(o.lines) > 1 for o in every)
    skus = {i.sku for i in catalog.sellable_items()}
    assert {ln.sku for o in every for ln in o.lines} <= skus


def test_fba_orders_use_fba_skus_and_mfn_orders_have_ship_windows(orders: dict[str, list[Order]]) -> None:
    by_sku = catalog.item_by_sku()
    for code, generated in orders.items():
        for o in generated:
            for ln in o.lines:
                assert (code in by_sku[ln.sku].fba_marketplaces) == (o.fulfilled_by == "AMAZON")
            assert (o.ship_by is not None) == (o.fulfilled_by == "MERCHANT")


def test_unknown_sku_option() -> None:
    generated = generate_orders("uk", orders_per_day=10, days=2, now=NOW, unknown_sku_orders=3)
    hits = [o for o in generated if any(ln.sku == catalog.UNKNOWN_SKU for ln in o.lines)]
    assert len(hits) == 3 and all(o.visible(NOW) and o.fulfilled_by == "MERCHANT" for o in hits)
    assert not any(ln.sku == catalog.UNKNOWN_SKU for o in generate_orders("uk", orders_per_day=10, days=2, now=NOW)
                   for ln in o.lines)


def test_proceeds_add_up_exactly(orders: dict[str, list[Order]]) -> None:
    checked = 0
    for generated in orders.values():
        for o in generated:
            if not o.visible(NOW):
                continue
            body = o.to_json(NOW, INCLUDED_DATA)
            if "proceeds" not in body:
                assert o.status_at(NOW) in ("PENDING", "PENDING_AVAILABILITY")
                continue
            grand = Decimal(0)
            for item in body["orderItems"]:
                proceeds = item["proceeds"]
                total = Decimal(proceeds["proceedsTotal"]["amount"])
                assert sum((Decimal(b["subtotal"]["amount"]) for b in proceeds["breakdowns"]), Decimal(0)) == total
                for b in proceeds["breakdowns"]:
                    assert b["subtotal"]["currencyCode"] == o.currency
                    if "detailedBreakdowns" in b:
                        assert sum(Decimal(d["value"]["amount"]) for d in b["detailedBreakdowns"]) == \
                            Decimal(b["subtotal"]["amount"])
                    if b["type"] == "DISCOUNT":
                        assert Decimal(b["subtotal"]["amount"]) < 0
                grand += total
                checked += 1
            assert grand == Decimal(body["proceeds"]["grandTotal"]["amount"])
            by_type = {b["type"]: Decimal(b["subtotal"]["amount"]) for b in body["proceeds"]["breakdowns"]}
            assert sum(by_type.values(), Decimal(0)) == grand
    assert checked > 400


def test_pii_only_with_included_data(orders: dict[str, list[Order]]) -> None:
    o = next(x for x in orders["uk"] if x.visible(NOW) and x.status_at(NOW) == "SHIPPED" and x.fulfilled_by == "MERCHANT")
    plain = json.dumps(o.to_json(NOW, ("PROCEEDS", "FULFILLMENT", "TAX", "PACKAGES")))
    assert not any(v in plain for v in o.pii_values())
    full = o.to_json(NOW, ("BUYER", "RECIPIENT"))
    assert full["buyer"]["buyerEmail"].endswith("@marketplace.amazon.co.uk")
    assert full["recipient"]["deliveryAddress"]["countryCode"] == "GB"
    pending = next(x for x in orders["de"] if x.visible(NOW) and x.status_at(NOW) == "PENDING_AVAILABILITY")
    assert "recipient" not in pending.to_json(NOW, ("RECIPIENT",))
    assert "price" not in pending.to_json(NOW, ())["orderItems"][0]["product"]


def test_status_timeline_moves_with_time(orders: dict[str, list[Order]]) -> None:
    fba = next(o for o in orders["us"] if o.fulfilled_by == "AMAZON" and o.visible(NOW)
               and o.status_at(NOW) != "SHIPPED" and o.status_at(NOW + timedelta(days=2)) == "SHIPPED")
    assert fba.last_updated(NOW + timedelta(days=2)) > fba.last_updated(NOW)
    pre = next(o for o in orders["us"] if o.visible(NOW) and o.status_at(NOW) == "PENDING_AVAILABILITY")
    assert "PREORDER" in pre.programs and pre.status_at(NOW + timedelta(days=9)) in ("UNSHIPPED", "SHIPPED")


# --- settlement ---------------------------------------------------------------------------------------
def _rows(text: str) -> list[list[str]]:
    return [line.split("\t") for line in text.splitlines()]


@pytest.mark.parametrize("code", ["uk", "de", "us"])
def test_settlement_sums_to_total_and_is_consistent(orders: dict[str, list[Order]], code: str) -> None:
    end = NOW - timedelta(hours=1)
    text = render_settlement(code, orders[code], settlement_id="12345678901", start=end - timedelta(days=14), end=end,
                             seed=42)
    rows = _rows(text)
    assert tuple(rows[0]) == COLUMNS and len(COLUMNS) == 24
    summary, body = rows[1], rows[2:]
    eu = code != "us"

    def amount(s: str) -> Decimal:
        if eu:
            assert "." not in s and "," in s
            return Decimal(s.replace(",", "."))
        assert "," not in s
        return Decimal(s)

    assert summary[0] == "12345678901" and summary[1] == (end - timedelta(days=14)).strftime("%Y-%m-%d %H:%M:%S UTC")
    assert summary[5] == catalog.MARKETPLACES[code].currency and all(c == "" for c in summary[6:])
    assert sum(amount(r[14]) for r in body) == amount(summary[4])
    ids = {o.order_id for o in orders[code]}
    assert {r[7] for r in body if r[7]} <= ids
    for r in body:
        posted = datetime.strptime(r[17], "%Y-%m-%d %H:%M:%S UTC")
        assert r[16] == posted.strftime("%d/%m/%y" if eu else "%m/%d/%y")
        assert r[4] == "" and r[0] == "12345678901"
    kinds = {(r[6], r[12], r[13]) for r in body}
    for needed in [("Order", "ItemPrice", "Principal"), ("Order", "ItemPrice", "Tax"), ("Order", "ItemFees", "Commission"),
                   ("Order", "ItemFees", "FBAPerUnitFulfillmentFee"), ("Refund", "ItemPrice", "Principal"),
                   ("Refund", "ItemFees", "RefundCommission"), ("Chargeback Refund", "ItemPrice", "Principal"),
                   ("A-to-z Guarantee Refund", "ItemPrice", "Principal"),
                   ("other-transaction", "FBA Inventory Reimbursement", "WAREHOUSE_DAMAGE"),
                   ("other-transaction", "FBA Inventory Reimbursement", "REVERSAL_REIMBURSEMENT"),
                   ("other-transaction", "other-transaction", "Current Reserve Amount"),
                   ("other-transaction", "other-transaction", "Previous Reserve Amount Balance"),
                   ("other-transaction", "other-transaction", "Storage Fee"),
                   ("other-transaction", "other-transaction", "Subscription Fee"),
                   ("ServiceFee", "Cost of Advertising", "TransactionTotalAmount"), ("Order", "Promotion", "Principal")]:
        assert needed in kinds, needed
    withheld = {k[2] for k in kinds if k[1] == "ItemWithheldTax"}
    if code == "us":
        assert "MarketplaceFacilitatorTax-Principal" in withheld
        # MF tax nets to zero against the buyer tax of the same order lines
        for oid in {r[7] for r in body if r[6] == "Order"}:
            lines = [r for r in body if r[7] == oid and r[6] == "Order"]
            tax = sum(amount(r[14]) for r in lines if r[13] in ("Tax", "ShippingTax", "GiftWrapTax"))
            held = sum(amount(r[14]) for r in lines if r[12] == "ItemWithheldTax")
            assert tax + held == 0
    else:
        assert withheld & {"MarketplaceFacilitatorVAT-Principal", "LowValueGoodsTax-Principal"}
    promo = [r for r in body if r[12] == "Promotion"]
    assert all(r[23] for r in promo)
    # order rows match the order's item amounts
    shipped = next(o for o in orders[code] if o.ship_time(end) and o.ship_time(end) >= end - timedelta(days=14)
                   and any(ln.item_amount for ln in o.lines))
    ln = shipped.active_lines(end)[0]
    principal = [r for r in body if r[7] == shipped.order_id and r[6] == "Order" and r[18] == ln.order_item_id
                 and r[13] == "Principal" and r[12] == "ItemPrice"]
    assert [amount(r[14]) for r in principal] == [ln.item_amount] and principal[0][22] == str(ln.quantity)


def test_settlement_extra_lines_are_streamed_and_balanced() -> None:
    end = NOW
    out = io.StringIO()
    total = write_settlement(out, "de", [], settlement_id="1", start=end - timedelta(days=14), end=end, seed=3,
                             extra_lines=5000)
    rows = _rows(out.getvalue())
    assert len(rows) == 2 + 5000 + 8  # header, summary, padding rows, account-level rows
    assert sum(Decimal(r[14].replace(",", ".")) for r in rows[2:]) == total == Decimal(rows[1][4].replace(",", "."))
    again = render_settlement("de", [], settlement_id="1", start=end - timedelta(days=14), end=end, seed=3,
                              extra_lines=5000)
    assert again == out.getvalue()


def test_settlement_rejects_unknown_marketplace() -> None:
    with pytest.raises(ValueError, match="unknown marketplace code 'fr'"):
        render_settlement("fr", [], settlement_id="1", start=NOW - timedelta(days=1), end=NOW, seed=1)


# --- product types and listing patches -----------------------------------------------------------------
@pytest.mark.parametrize("ptype", ["KITCHEN", "SHIRT", "TOY_FIGURE", "HOME"])
def test_product_type_schemas_are_valid_json_schema(ptype: str) -> None:
    for mp in catalog.MARKETPLACES.values():
        for req in pt.REQUIREMENTS:
            schema = pt.build_schema(ptype, mp.marketplace_id, req, enforced=True)
            Draft201909Validator.check_schema(schema)
            assert schema["$id"].endswith("/" + ptype)
    relaxed = pt.build_schema(ptype, UK, "LISTING", enforced=False)
    assert "required" not in relaxed and "allOf" not in relaxed
    Draft201909Validator.check_schema(pt.meta_schema())


def test_attribute_validation_issues() -> None:
    attrs = {"item_name": [{"value": "x" * 201, "language_tag": "en_GB", "marketplace_id": UK}],
             "condition_type": [{"value": "brand_new", "marketplace_id": UK}],
             "fulfillment_availability": [{"fulfillment_channel_code": "DEFAULT", "quantity": 1},
                                          {"fulfillment_channel_code": "DEFAULT", "quantity": 2}],
             "colour_of_the_day": [{"value": "red"}]}
    issues = pt.validate_attributes("HOME", UK, attrs, enforced=False)
    by_code = Counter(i["code"] for i in issues)
    assert by_code == {"4000001": 2, "99010": 1, "99300": 1}
    assert {i["severity"] for i in issues if i["code"] == "99300"} == {"WARNING"}
    enforced = pt.validate_attributes("HOME", UK, attrs, enforced=True)
    assert {i["attributeNames"][0] for i in enforced if i["code"] == "90220"} >= {"brand", "color", "bullet_point"}
    exempt = pt.validate_attributes("HOME", UK, {"supplier_declared_has_product_identifier_exemption":
                                                 [{"value": True, "marketplace_id": UK}]}, enforced=True)
    assert "externally_assigned_product_identifier" not in {i.get("attributeNames", [""])[0] for i in exempt}
    child = pt.validate_attributes("SHIRT", UK, {"parentage_level": [{"value": "child", "marketplace_id": UK}]})
    assert "child_parent_sku_relationship" in {i.get("attributeNames", [""])[0] for i in child}
    unknown = pt.validate_attributes("LUGGAGE", UK, {})
    assert unknown[0]["code"] == "90244" and unknown[0]["severity"] == "ERROR"


def test_patch_semantics() -> None:
    base = {"fulfillment_availability": [{"fulfillment_channel_code": "DEFAULT", "quantity": 5,
                                          "lead_time_to_ship_max_days": 3}],
            "bullet_point": [{"value": "a", "language_tag": "en_GB"}],
            "item_name": [{"value": "Old", "language_tag": "en_GB", "marketplace_id": UK}]}
    merged, touched = apply_patches(base, [{"op": "merge", "path": "/attributes/fulfillment_availability",
                                            "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": 9}]}],
                                    product_type="HOME", marketplace_id=UK)
    assert merged["fulfillment_availability"] == [{"fulfillment_channel_code": "DEFAULT", "quantity": 9,
                                                   "lead_time_to_ship_max_days": 3}]
    assert touched == {"fulfillment_availability"} and base["fulfillment_availability"][0]["quantity"] == 5
    added, _ = apply_patches(base, [{"op": "add", "path": "/attributes/item_name",
                                     "value": [{"value": "New", "language_tag": "en_GB"}]},
                                    {"op": "add", "path": "/attributes/bullet_point",
                                     "value": [{"value": "b", "language_tag": "en_GB"}]}],
                             product_type="HOME", marketplace_id=UK)
    assert added["item_name"] == [{"value": "New", "language_tag": "en_GB"}]  # same selectors: replaced
    assert [b["value"] for b in added["bullet_point"]] == ["a", "b"]  # multi-valued: appended
    replaced, _ = apply_patches(base, [{"op": "replace", "path": "/attributes/item_name", "value": []}],
                                product_type="HOME", marketplace_id=UK)
    assert replaced["item_name"] == []
    deleted, _ = apply_patches(base, [{"op": "delete", "path": "/attributes/item_name"},
                                      {"op": "delete", "path": "/attributes/fulfillment_availability",
                                       "value": [{"fulfillment_channel_code": "DEFAULT"}]}],
                               product_type="HOME", marketplace_id=UK)
    assert "item_name" not in deleted and "fulfillment_availability" not in deleted
    with pytest.raises(PatchError, match="top-level"):
        apply_patches(base, [{"op": "replace", "path": "/attributes/item_name/0", "value": []}],
                      product_type="HOME", marketplace_id=UK)
    with pytest.raises(PatchError, match="selector"):
        apply_patches(base, [{"op": "merge", "path": "/attributes/fulfillment_availability", "value": [{"quantity": 1}]}],
                      product_type="HOME", marketplace_id=UK)


# --- limits, faults, clock -----------------------------------------------------------------------------
class FakeTime:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_token_bucket_burst_refill_and_time_scale() -> None:
    fake = FakeTime()
    limiter = RateLimiter(SandboxClock(time_scale=1.0, monotonic=fake))
    assert [limiter.acquire("getInventorySummaries") for _ in range(3)] == [True, True, False]
    fake.t += 0.5  # 2 req/s -> one token
    assert [limiter.acquire("getInventorySummaries") for _ in range(2)] == [True, False]
    scaled = RateLimiter(SandboxClock(time_scale=100.0, monotonic=fake))
    assert all(scaled.acquire("searchOrders") for _ in range(20)) and not scaled.acquire("searchOrders")
    fake.t += 2.0  # 0.0056/s * 100 * 2 s = 1.12 tokens
    assert scaled.acquire("searchOrders") and not scaled.acquire("searchOrders")
    assert limiter.rate_header("createFeed") == "0.0083" and limiter.acquire("notAnOperation")


def test_feed_type_window() -> None:
    fake = FakeTime()
    limiter = RateLimiter(SandboxClock(time_scale=10.0, monotonic=fake))
    assert [limiter.acquire_feed_type("JSON_LISTINGS_FEED", "eu") for _ in range(6)] == [True] * 5 + [False]
    assert limiter.acquire_feed_type("JSON_LISTINGS_FEED", "na")  # per region
    fake.t += 30.0  # 300 s / time_scale 10
    assert limiter.acquire_feed_type("JSON_LISTINGS_FEED", "eu")


def test_fault_injector_is_deterministic_and_respects_eligibility() -> None:
    def run(seed: int) -> list[str | None]:
        f = FaultInjector.from_spec({"rate": 0.4, "seed": seed})
        return [(d.kind if (d := f.decide("getOrder", paginated=False)) else None) for _ in range(200)]
    first = run(3)
    assert first == run(3) and first != run(4)
    assert "expired_pagination" not in first and {"429", "5xx", "slow", "drop", "expired_token"} <= set(first)
    storm = FaultInjector(rate=0.0, operations={"searchOrders": 1.0}, kinds=("429",), storm_length=3)
    assert [storm.decide("searchOrders").kind for _ in range(3)] == ["429"] * 3  # type: ignore[union-attr]
    assert storm.decide("getOrder") is None and storm.decide("lwaToken") is None
    assert FaultInjector.from_spec("0.25").rate == 0.25 and not FaultInjector.from_spec(None).enabled
    with pytest.raises(ValueError, match="unknown fault kind"):
        FaultInjector.from_spec({"kinds": ["meteor"]})
    with pytest.raises(ValueError, match="unknown faults key"):
        FaultInjector.from_spec('{"ratio": 1}')


def test_clock_fixed_and_real() -> None:
    fixed = SandboxClock()
    assert fixed.now() == DEFAULT_NOW and fixed.advance(90) == DEFAULT_NOW + timedelta(minutes=90)
    target = datetime(2027, 1, 1, tzinfo=UTC)
    assert fixed.set(target) == target
    wall = [datetime(2026, 11, 1, 12, 0, tzinfo=UTC)]
    real = SandboxClock("real", wall=lambda: wall[0])
    real.advance(10)
    wall[0] += timedelta(minutes=5)
    assert real.now() == datetime(2026, 11, 1, 12, 15, tzinfo=UTC)
    with pytest.raises(ValueError):
        SandboxClock(datetime(2026, 1, 1))
    with pytest.raises(ValueError):
        SandboxClock(time_scale=0)


# --- feed limits ----------------------------------------------------------------------------------------
def _feed(feed_id: str = "1") -> feeds.Feed:
    return feeds.Feed(feed_id=feed_id, feed_type="JSON_LISTINGS_FEED", marketplace_ids=[UK], input_document_id="d",
                      created=NOW, created_mono=0.0)


def test_listings_feed_size_and_message_limits() -> None:
    store = ListingStore()
    big = b'{"header": {"sellerId": "S", "version": "2.0"}, "messages": [' + b" " * (10 * 1024 * 1024) + b"]}"
    status, report = feeds.process_json_listings_feed(_feed(), big, seller_id="S", store=store, now=NOW,
                                                      reject_skus=set())
    assert status == "FATAL" and "10 MiB" in report["issues"][0]["message"]
    many = {"header": {"sellerId": "S", "version": "2.0"},
            "messages": [{"messageId": i, "sku": f"S{i}", "operationType": "DELETE"} for i in range(1, 25002)]}
    status, report = feeds.process_json_listings_feed(_feed(), json.dumps(many).encode(), seller_id="S", store=store,
                                                      now=NOW, reject_skus=set())
    assert status == "FATAL" and "messages" in report["issues"][0]["message"]
    wrong_seller = {"header": {"sellerId": "OTHER", "version": "2.0"},
                    "messages": [{"messageId": 1, "sku": "A", "operationType": "DELETE"}]}
    status, report = feeds.process_json_listings_feed(_feed(), json.dumps(wrong_seller).encode(), seller_id="S",
                                                      store=store, now=NOW, reject_skus=set())
    assert status == "FATAL" and "sellerId" in report["issues"][0]["message"]
    dup = {"header": {"sellerId": "S", "version": "2.0"},
           "messages": [{"messageId": 1, "sku": "A", "operationType": "DELETE"},
                        {"messageId": 1, "sku": "B", "operationType": "DELETE"}]}
    status, report = feeds.process_json_listings_feed(_feed(), json.dumps(dup).encode(), seller_id="S", store=store,
                                                      now=NOW, reject_skus=set())
    assert status == "DONE" and report["summary"] == {"errors": 1, "warnings": 1, "messagesProcessed": 2,
                                                      "messagesAccepted": 1, "messagesInvalid": 1}
    assert [i["code"] for i in report["issues"]] == ["4000007", "4000006"]


def test_order_acknowledgement_flat_file() -> None:
    messages, parsed = feeds.parse_acknowledgements(
        b"order-id\tmerchant-order-id\torder-item-id\n202-1-1\tSO-1\t123\n202-2-2\tSO-2\t\n")
    assert parsed["format"] == "flat-file"
    assert [(m["orderId"], m["merchantOrderId"], m["statusCode"]) for m in messages] == [
        ("202-1-1", "SO-1", "Success"), ("202-2-2", "SO-2", "Success")]
    assert messages[0]["items"] == [{"orderItemId": "123", "merchantOrderItemId": ""}]
    with pytest.raises(ValueError, match="order-id"):
        feeds.parse_acknowledgements(b"sku\tqty\nA\t1\n")
