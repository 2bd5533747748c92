"""Offers, VAT round trip, cutover, holds (domain/pricing.py)."""

from __future__ import annotations

import json
import random
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from airflow_provider_amznetsuite.config import MarketplaceConfig
from airflow_provider_amznetsuite.domain.feeds import plan_listings_feeds
from airflow_provider_amznetsuite.domain.money import quantum
from airflow_provider_amznetsuite.domain.pricing import (
    ItemPriceFields,
    PriceRow,
    PricingError,
    SaleRow,
    ScheduleEntry,
    accepted_state_value,
    amazon_form,
    build_offers,
    check_change,
    gross_to_net,
    iso_z,
    local_instant,
    net_to_gross,
    net_to_gross_exact,
    offer_fingerprint,
    pricing_feed_messages,
    removed_parts,
    screen_offers,
)

D = Decimal
UTC = timezone.utc
NOW = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)
MODELS = Path(__file__).resolve().parents[2] / "airflow_provider_amznetsuite" / "sandbox" / "models"

MARKETS = {
    "uk": ("A1F83G8C2ARO7P", "eu", "UK", "GBP", {"vat_inclusive": True, "vat_rate": "0.20"}),
    "de": ("A1PA6795UKMFR9", "eu", "DE", "EUR", {"vat_inclusive": True, "vat_rate": "0.19"}),
    "us": ("ATVPDKIKX0DER", "na", "US", "USD", {}),
    "jp": ("A1VC38T7YXB528", "fe", "JP", "JPY", {"vat_inclusive": True, "vat_rate": "0.10"}),
}


def _mp(code: str = "uk", **pricing: Any) -> MarketplaceConfig:
    mid, region, country, currency, vat = MARKETS[code]
    return MarketplaceConfig.model_validate({
        "code": code, "marketplace_id": mid, "region": region, "country": country, "currency": currency,
        "subsidiary": 2, "pricing": {"price_level": 1, "b2b_price_level": 5, "sale_price_level": 6, **vat, **pricing},
    })


def _price(sku: str, price: str, currency: str = "GBP", level: str = "1", qty: int = 0, eff: datetime | None = None) -> PriceRow:
    return PriceRow(sku=sku, price_level=level, currency=currency, price=price, min_quantity=qty, effective_from=eff)


def _attr(offers, sku: str, audience: str = "ALL") -> dict:
    return next(o for o in offers[sku].to_attribute() if o["audience"] == audience)


# --- currency values -------------------------------------------------------------------------------------
@pytest.mark.parametrize(("code", "net", "expected"), [
    ("uk", "10.00", "12.00"),
    ("uk", "9.99", "11.99"),
    ("uk", "10.03", "12.03"),  # the smallest gross that maps back (12.04 would too)
    ("de", "16.80", "19.99"),
    ("de", "8.40", "10.00"),
    ("us", "24.99", "24.99"),  # no VAT conversion in the US
    ("us", "24.995", "25.00"),  # over-precise NetSuite price: half-up, flagged
    ("jp", "1000", "1100"),
    ("jp", "1234.5", "1358"),  # 1235 net -> smallest gross 1358 (1358 / 1.1 = 1234.5 -> 1235)
])
def test_offer_values_are_exact_per_currency(code, net, expected):
    mp = _mp(code)
    offers = build_offers([_price("S1", net, mp.currency)], mp, now=NOW)
    assert offers.problems == {}
    attr = _attr(offers, "S1")
    value = attr["our_price"][0]["schedule"][0]["value_with_tax"]
    assert value == D(expected) and str(value) == expected
    assert attr["marketplace_id"] == mp.marketplace_id and attr["currency"] == mp.currency
    body = plan_listings_feeds("SELLER", pricing_feed_messages(offers, product_types="PRODUCT"))[0].body
    assert f'"value_with_tax":{expected}}}'.encode() in body
    if net in ("24.995", "1234.5"):
        assert "half-up" in offers.flags["S1"][0]
    else:
        assert "S1" not in offers.flags


def test_gross_netsuite_prices_pass_unchanged_to_vat_inclusive_marketplace():
    offers = build_offers([_price("S1", "11.99")], _mp("uk", prices_include_tax=True), now=NOW)
    assert _attr(offers, "S1")["our_price"][0]["schedule"] == [{"value_with_tax": D("11.99")}]
    assert offers["S1"].offers[0].regular[0].net == D("9.99")


def test_other_currencies_and_levels_are_ignored():
    rows = [_price("S1", "10.00"), _price("S1", "11.00", "EUR"), _price("S1", "99.00", level="7")]
    offers = build_offers(rows, _mp("uk"), now=NOW)
    assert [o["audience"] for o in offers["S1"].to_attribute()] == ["ALL"]
    assert _attr(offers, "S1")["our_price"][0]["schedule"][0]["value_with_tax"] == D("12.00")


# --- B2B ---------------------------------------------------------------------------------------------------
def test_b2b_offer_with_quantity_tiers():
    rows = [_price("S1", "10.00"), _price("S1", "9.00", level="5"), _price("S1", "8.50", level="5", qty=10),
            _price("S1", "8.00", level="5", qty=50)]
    offers = build_offers(rows, _mp("uk"), now=NOW)
    b2b = _attr(offers, "S1", "B2B")
    assert b2b["our_price"] == [{"schedule": [{"value_with_tax": D("10.80")}]}]
    assert b2b["quantity_discount_plan"] == [{"schedule": [{"discount_type": "fixed", "levels": [
        {"lower_bound": 10, "value": D("10.20")}, {"lower_bound": 50, "value": D("9.60")}]}]}]
    assert "quantity_discount_plan" not in _attr(offers, "S1", "ALL")
    doc = json.loads(plan_listings_feeds("SELLER", pricing_feed_messages(offers, product_types="PRODUCT"))[0].body)
    schema = json.loads((MODELS / "schema_feed_json_listings_feed_v2.json").read_text())
    jsonschema.Draft7Validator(schema).validate(doc)


def test_b2b_tier_rules_are_validated():
    six = [_price("S1", "10.00"), _price("S1", "9.00", level="5")] + [
        _price("S1", str(8 - i * D("0.1")), level="5", qty=10 * (i + 1)) for i in range(6)]
    offers = build_offers(six, _mp("uk"), now=NOW)
    assert "S1" not in offers and "at most 5" in offers.problems["S1"]
    rising = [_price("S2", "10.00"), _price("S2", "9.00", level="5"), _price("S2", "9.50", level="5", qty=10)]
    assert "must fall" in build_offers(rising, _mp("uk"), now=NOW).problems["S2"]
    no_base = [_price("S3", "10.00"), _price("S3", "8.00", level="5", qty=10)]
    assert "no base" in build_offers(no_base, _mp("uk"), now=NOW).problems["S3"]


# --- sale window and guards ------------------------------------------------------------------------------
def test_sale_window_schedule_and_guard_rails():
    start, end = datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 8, tzinfo=UTC)
    rows = [_price("S1", "10.00"),
            SaleRow(sku="S1", currency="GBP", price="8.00", start_at=start, end_at=end),
            SaleRow(sku="S1", currency="GBP", price="7.00", start_at=NOW - timedelta(days=9), end_at=NOW - timedelta(days=2)),
            ItemPriceFields(sku="S1", min_price="6.00", max_price="20.00", cost="4.50")]
    offers = build_offers(rows, _mp("uk"), now=NOW)
    attr = _attr(offers, "S1")
    assert attr["discounted_price"] == [{"schedule": [
        {"start_at": "2026-12-01T00:00:00Z", "end_at": "2026-12-08T00:00:00Z", "value_with_tax": D("9.60")}]}]
    assert attr["minimum_seller_allowed_price"] == [{"schedule": [{"value_with_tax": D("7.20")}]}]
    assert attr["maximum_seller_allowed_price"] == [{"schedule": [{"value_with_tax": D("24.00")}]}]
    assert offers["S1"].cost == D("4.50") and offers["S1"].min_price_net == D("6.00")


def test_overlapping_or_orphan_sales_are_problems():
    a = SaleRow(sku="S1", currency="GBP", price="8.00", start_at=NOW, end_at=NOW + timedelta(days=5))
    b = SaleRow(sku="S1", currency="GBP", price="7.00", start_at=NOW + timedelta(days=3), end_at=NOW + timedelta(days=9))
    assert "overlap" in build_offers([_price("S1", "10.00"), a, b], _mp("uk"), now=NOW).problems["S1"]
    assert "no base price" in build_offers([a], _mp("uk"), now=NOW).problems["S1"]


# --- effective-dated cutover -----------------------------------------------------------------------------
# Amazon's product type schema allows ONE our_price schedule entry and ONE discounted_price entry, so a
# future price is pushed ahead as a discount window: a decrease keeps our_price and discounts to the new
# price from the instant; an increase raises our_price now and discounts back to the current price until
# the instant. The run after the instant sends the plain new price and deletes the discount.
GMT = (datetime(2026, 11, 27, 15, 0, tzinfo=UTC), date(2026, 11, 28), "2026-11-28T00:00:00Z")
BST = (datetime(2026, 7, 14, 10, 0, tzinfo=UTC), date(2026, 7, 15), "2026-07-14T23:00:00Z")
UK_ID = "A1F83G8C2ARO7P"


def _plain(value: Any) -> Any:
    """Decimals as exact text: compare attribute values without float."""
    return json.loads(json.dumps(value, default=lambda d: format(d, "f")))


def _sandbox_issues(offer_attr: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Validate a purchasable_offer value against the SP-API sandbox's product type schema (one our_price and
    one discounted_price schedule entry, like Amazon's)."""
    from airflow_provider_amznetsuite.sandbox.spapi import product_types as sandbox_types

    return sandbox_types.validate_attributes("HOME", UK_ID, {"purchasable_offer": offer_attr}, enforced=False)


@pytest.mark.parametrize(("now", "day", "instant"), [GMT, BST], ids=["GMT", "BST"])
@pytest.mark.parametrize(("new_net", "our_before", "discount", "kind"), [
    # 9.00 net (10.80 gross) now; 11.00 (13.20) from the instant: our_price rises now, the current price is a
    # discount until the instant
    ("11.00", "13.20", {"end_at": "{instant}", "value_with_tax": "10.80"}, "current_price"),
    # 9.00 net (10.80) now; 8.00 (9.60) from the instant: our_price stays, the new price is a discount from it
    ("8.00", "10.80", {"start_at": "{instant}", "value_with_tax": "9.60"}, "next_price"),
], ids=["increase", "decrease"])
def test_future_price_switches_on_amazon_at_the_exact_london_midnight(now, day, instant, new_net, our_before,
                                                                     discount, kind):
    tomorrow = local_instant(day, "Europe/London")
    assert iso_z(tomorrow) == instant
    rows = [_price("S1", "10.00"), _price("S1", new_net, eff=tomorrow),
            _price("S1", "9.00", eff=now - timedelta(days=400))]  # the row effective 400 days ago is current
    offers = build_offers(rows, _mp("uk"), now=now)
    attr = _attr(offers, "S1")
    want_discount = {k: v.replace("{instant}", instant) for k, v in discount.items()}
    assert _plain(attr["our_price"]) == [{"schedule": [{"value_with_tax": our_before}]}]
    assert _plain(attr["discounted_price"]) == [{"schedule": [want_discount]}]
    offer = offers["S1"].offer("ALL")
    assert offer.discount_kind == kind and offer.exact_until is None and iso_z(offer.follow_up_at) == instant
    # NetSuite's timeline is kept for the checks: 10.80 until the instant, 13.20 / 9.60 from it
    assert [(e.value, e.start_at, e.end_at) for e in offer.regular] == [
        (D("10.80"), None, tomorrow), (quantize_gross(new_net), tomorrow, None)]
    assert _sandbox_issues(offers["S1"].to_attribute()) == []
    assert "S1" not in offers.flags
    # one second before the instant the same offer is built; from the instant on, the plain new price
    assert offer_fingerprint(build_offers(rows, _mp("uk"), now=tomorrow - timedelta(seconds=1))["S1"]) == \
        offer_fingerprint(offers["S1"])
    later = build_offers(rows, _mp("uk"), now=tomorrow)
    assert _plain(later["S1"].to_attribute()) == [{"marketplace_id": UK_ID, "currency": "GBP", "audience": "ALL",
                                                   "our_price": [{"schedule": [{"value_with_tax": format(
                                                       quantize_gross(new_net), "f")}]}]}]
    assert later["S1"].follow_up_at is None


def quantize_gross(net: str) -> Decimal:
    return net_to_gross(net, "0.20", "GBP")


@pytest.mark.parametrize("new_net", ["11.00", "8.00"], ids=["increase", "decrease"])
def test_rerun_before_the_instant_sends_nothing_and_the_run_after_it_sends_exactly_the_cleanup(new_net):
    from airflow_provider_amznetsuite.sandbox.spapi.listings import apply_patches

    t = local_instant(date(2026, 11, 28), "Europe/London")
    rows = [_price("S1", "10.00"), _price("S1", new_net, eff=t), ItemPriceFields(sku="S1", min_price="5.00")]
    mp = _mp("uk")
    first = build_offers(rows, mp, now=NOW)
    (msg,) = pricing_feed_messages(first, product_types="HOME", previous={"S1": None})
    assert [p["op"] for p in msg.to_json(1)["patches"]] == ["merge"]
    state = {"S1": json.loads(json.dumps(accepted_state_value(first["S1"])))}
    amazon = {"purchasable_offer": _plain(first["S1"].to_attribute())}  # what the marketplace holds now

    for minutes in (60, 8 * 60, 9 * 60 - 1):  # reruns up to a minute before the instant
        rerun = screen_offers(build_offers(rows, mp, now=NOW + timedelta(minutes=minutes)), state, max_change_pct=30)
        assert rerun.push == {} and rerun.unchanged == {"S1"}

    after = build_offers(rows, mp, now=t + timedelta(minutes=15))
    screened = screen_offers(after, state, max_change_pct=30)
    assert set(screened.push) == {"S1"} and screened.held == {}  # compared with the price at that instant
    assert removed_parts(after["S1"], screened.previous["S1"]) == {"ALL": ["discounted_price"]}
    (cleanup,) = pricing_feed_messages(screened.push, product_types="HOME", previous=screened.previous)
    delete, merge = cleanup.to_json(1)["patches"]
    assert _plain(delete) == {"op": "delete", "path": "/attributes/purchasable_offer", "value": [
        {"marketplace_id": UK_ID, "currency": "GBP", "audience": "ALL",
         "discounted_price": _plain(first["S1"].to_attribute()[0]["discounted_price"])}]}
    assert merge["op"] == "merge" and "discounted_price" not in merge["value"][0]
    assert _plain(merge["value"]) == _plain(after["S1"].to_attribute())
    # on the sandbox's patch semantics (delete by selector, then merge) Amazon ends with exactly the new offer
    amazon, _ = apply_patches(amazon, _plain([delete, merge]), product_type="HOME", marketplace_id=UK_ID)
    assert amazon["purchasable_offer"] == _plain(after["S1"].to_attribute())

    state = {"S1": json.loads(json.dumps(accepted_state_value(after["S1"])))}
    again = screen_offers(build_offers(rows, mp, now=t + timedelta(hours=2)), state, max_change_pct=30)
    assert again.push == {} and again.unchanged == {"S1"}


# Sale window and cutover together. NOW 2026-11-27 15:00Z; regular 10.00 net (12.00) until T, 11.00 (13.20)
# from T = 2026-11-28 00:00Z; sale 8.00 net (9.60). The sale wins inside its window, the cutover applies
# outside it; where one regular price and one discount window cannot hold both, the earlier change is sent
# and the first run after it sends the rest (exact_until says by when; the SKU is flagged).
T = datetime(2026, 11, 28, tzinfo=UTC)
H = timedelta(hours=1)


@pytest.mark.parametrize(("sale", "our", "discount", "kind", "exact_until", "follow_up"), [
    # sale running now, ending after T: buyers pay the sale price, then the new price -> our_price is already the
    # new price; exact for good
    ((NOW - 24 * H, T + 48 * H), "13.20", {"start_at": "2026-11-26T15:00:00Z", "end_at": "2026-11-30T00:00:00Z",
                                          "value_with_tax": "9.60"}, "sale", None, T + 48 * H),
    # sale after T: the cutover first (exact until the sale starts), the run after T sends the sale
    ((T + 24 * H, T + 72 * H), "13.20", {"end_at": "2026-11-28T00:00:00Z", "value_with_tax": "12.00"},
     "current_price", T + 24 * H, T),
    # sale ending before T: the sale first (exact until T), the run after the sale ends sends the cutover
    ((NOW + H, NOW + 5 * H), "12.00", {"start_at": "2026-11-27T16:00:00Z", "end_at": "2026-11-27T20:00:00Z",
                                       "value_with_tax": "9.60"}, "sale", T, NOW + 5 * H),
    # sale starting before T and ending after it: the sale with the current regular price (exact until the sale
    # ends); once the sale has started a run switches our_price to the new price
    ((NOW + 2 * H, T + 24 * H), "12.00", {"start_at": "2026-11-27T17:00:00Z", "end_at": "2026-11-29T00:00:00Z",
                                          "value_with_tax": "9.60"}, "sale", T + 24 * H, NOW + 2 * H),
], ids=["sale-covers-T", "sale-after-T", "sale-before-T", "sale-starts-before-T"])
def test_sale_window_and_cutover_rule(sale, our, discount, kind, exact_until, follow_up):
    rows = [_price("S1", "10.00"), _price("S1", "11.00", eff=T),
            SaleRow(sku="S1", currency="GBP", price="8.00", start_at=sale[0], end_at=sale[1])]
    offers = build_offers(rows, _mp("uk"), now=NOW)
    attr = _attr(offers, "S1")
    assert _plain(attr["our_price"]) == [{"schedule": [{"value_with_tax": our}]}]
    assert _plain(attr["discounted_price"]) == [{"schedule": [discount]}]
    offer = offers["S1"].offer("ALL")
    assert (offer.discount_kind, offer.exact_until, offer.follow_up_at) == (kind, exact_until, follow_up)
    assert _sandbox_issues(offers["S1"].to_attribute()) == []
    if exact_until is None:
        assert "S1" not in offers.flags
    else:
        (note,) = offers.flags["S1"]
        assert note == (f"ALL offer: Amazon holds one regular price and one discount window, so the offer sent matches "
                        f"NetSuite until {iso_z(exact_until)}; the first run after {iso_z(follow_up)} sends the "
                        f"rest — make sure one runs before {iso_z(exact_until)}")
    # the run after the follow-up instant sends an offer that is exact again
    later = build_offers(rows, _mp("uk"), now=follow_up)["S1"].offer("ALL")
    assert later.exact_until is None or later.exact_until > exact_until


def test_two_sale_windows_send_the_first_and_flag_the_second():
    s1 = SaleRow(sku="S1", currency="GBP", price="8.00", start_at=NOW + H, end_at=NOW + 3 * H)
    s2 = SaleRow(sku="S1", currency="GBP", price="7.00", start_at=NOW + 5 * H, end_at=NOW + 7 * H)
    offers = build_offers([_price("S1", "10.00"), s1, s2], _mp("uk"), now=NOW)
    attr = _attr(offers, "S1")
    assert _plain(attr["discounted_price"]) == [{"schedule": [
        {"start_at": "2026-11-27T16:00:00Z", "end_at": "2026-11-27T18:00:00Z", "value_with_tax": "9.60"}]}]
    offer = offers["S1"].offer("ALL")
    assert (offer.exact_until, offer.follow_up_at) == (NOW + 5 * H, NOW + 3 * H)
    assert _sandbox_issues(offers["S1"].to_attribute()) == []  # one discounted_price entry, as Amazon allows


def test_b2b_cutover_uses_the_discount_and_tier_changes_follow_at_the_next_run():
    t1 = local_instant(date(2026, 11, 28), "Europe/London")
    t2 = local_instant(date(2026, 12, 5), "Europe/London")
    rows = [_price("S1", "10.00"), _price("S1", "10.00", eff=t1),  # same value -> no cutover
            _price("S1", "9.00", level="5"), _price("S1", "8.50", level="5", eff=t1),
            _price("S1", "8.00", level="5", qty=10), _price("S1", "7.50", level="5", qty=10, eff=t2)]
    offers = build_offers(rows, _mp("uk"), now=NOW)
    assert _plain(_attr(offers, "S1")) == {"marketplace_id": UK_ID, "currency": "GBP", "audience": "ALL",
                                           "our_price": [{"schedule": [{"value_with_tax": "12.00"}]}]}
    b2b = _plain(_attr(offers, "S1", "B2B"))
    assert b2b["our_price"] == [{"schedule": [{"value_with_tax": "10.80"}]}]
    assert b2b["discounted_price"] == [{"schedule": [{"start_at": "2026-11-28T00:00:00Z", "value_with_tax": "10.20"}]}]
    assert b2b["quantity_discount_plan"] == [{"schedule": [{"discount_type": "fixed",
                                                            "levels": [{"lower_bound": 10, "value": "9.60"}]}]}]
    offer = offers["S1"].offer("B2B")
    assert (offer.exact_until, offer.follow_up_at) == (t2, t1)
    assert offers.flags["S1"] == ["B2B quantity tiers change at 2026-12-05T00:00:00Z: Amazon's quantity plan holds one "
                                  "entry without dates, so the new tiers are sent by the first run after that instant"]
    after = build_offers(rows, _mp("uk"), now=t2)
    assert _plain(_attr(after, "S1", "B2B")["quantity_discount_plan"]) == [{"schedule": [
        {"discount_type": "fixed", "levels": [{"lower_bound": 10, "value": "9.00"}]}]}]
    assert _sandbox_issues(offers["S1"].to_attribute()) == []


def test_a_first_price_that_starts_later_is_sent_after_it_starts():
    t = local_instant(date(2026, 11, 28), "Europe/London")
    offers = build_offers([_price("S1", "10.00", eff=t)], _mp("uk"), now=NOW)
    assert "S1" not in offers and "S1" not in offers.problems
    assert offers.flags["S1"] == ["the base price starts at 2026-11-28T00:00:00Z; Amazon cannot hold a first price for "
                                  "later, so the ALL offer is sent by the first run after that instant"]
    assert _attr(build_offers([_price("S1", "10.00", eff=t)], _mp("uk"), now=t), "S1")["our_price"] == [
        {"schedule": [{"value_with_tax": D("12.00")}]}]


def test_offer_accepted_by_the_earlier_version_still_loads_and_its_sale_is_removed():
    legacy = {"fingerprint": "0" * 64, "offer": {"sku": "S1", "as_of": "2026-11-20T10:00:00Z", "offers": [{
        "marketplace_id": UK_ID, "currency": "GBP", "audience": "ALL",
        "our_price": [{"value": "12.00", "net": "10.00", "start_at": None, "end_at": None}],
        "discounted_price": [{"value": "9.60", "net": "8.00", "start_at": "2026-11-21T00:00:00Z",
                              "end_at": "2026-11-25T00:00:00Z"}],
        "quantity_discount_plan": [], "minimum_seller_allowed_price": None, "maximum_seller_allowed_price": None}]}}
    new = build_offers([_price("S1", "10.00")], _mp("uk"), now=NOW)
    screened = screen_offers(new, {"S1": legacy}, max_change_pct=30)
    assert set(screened.push) == {"S1"} and screened.held == {}
    (msg,) = pricing_feed_messages(screened.push, product_types="HOME", previous=screened.previous)
    delete = _plain(msg.to_json(1)["patches"][0])
    assert delete["op"] == "delete" and delete["value"][0]["discounted_price"] == [{"schedule": [
        {"start_at": "2026-11-21T00:00:00Z", "end_at": "2026-11-25T00:00:00Z", "value_with_tax": "9.60"}]}]


# --- the Amazon form against NetSuite's timeline: random timelines ------------------------------------------
@settings(max_examples=300, deadline=None)
@given(
    prices=st.lists(st.integers(min_value=100, max_value=200), min_size=1, max_size=3),
    cut_hours=st.lists(st.integers(min_value=1, max_value=60), min_size=2, max_size=2, unique=True),
    sale_hours=st.lists(st.integers(min_value=-10, max_value=70), min_size=0, max_size=4, unique=True),
    sale_price=st.integers(min_value=50, max_value=99),
)
# a sale hiding a whole price step: our_price must be the price after the sale, not the next one
@example(prices=[100, 101, 102], cut_hours=[1, 2], sale_hours=[0, 2], sale_price=50)
@example(prices=[100, 101, 102], cut_hours=[1, 2], sale_hours=[0, 2, 3, 4], sale_price=50)
def test_amazon_form_matches_netsuite_until_the_second_change(prices, cut_hours, sale_hours, sale_price):
    """Whatever NetSuite's timeline, the Amazon side (one our_price, one discount window) charges exactly what
    NetSuite says at every instant before ``exact_until``; ``exact_until`` is never before the second change
    of the buyer price; a single change (a plain cutover or a plain sale) is exact for good; the form is
    valid against the sandbox's product type schema."""
    cuts = sorted(NOW + timedelta(hours=h) for h in cut_hours)[: len(prices) - 1]
    regular = []
    for i, p in enumerate(prices):
        start = cuts[i - 1] if i else None
        end = cuts[i] if i < len(cuts) else None
        regular.append(ScheduleEntry(value=D(p), net=D(p), start_at=start, end_at=end))
    regular = [e for i, e in enumerate(regular) if i == 0 or e.value != regular[i - 1].value] or regular[:1]
    regular = [e.model_copy(update={"end_at": regular[i + 1].start_at if i + 1 < len(regular) else None})
               for i, e in enumerate(regular)]
    bounds = sorted(NOW + timedelta(hours=h) for h in sale_hours)
    sales = [ScheduleEntry(value=D(sale_price), net=D(sale_price), start_at=a, end_at=b)
             for a, b in zip(bounds[::2], bounds[1::2]) if b > NOW]
    form = amazon_form(regular, sales, (), NOW)

    def want(t: datetime) -> Decimal:
        return next((s.value for s in sales if s.covers(t)), None) or next(e.value for e in regular if e.covers(t))

    def got(t: datetime) -> Decimal:
        return form.discount.value if form.discount is not None and form.discount.covers(t) else form.price.value

    points = sorted({NOW} | {x for e in (*regular, *sales) for x in (e.start_at, e.end_at) if x and x > NOW})
    changes = [p for p in points if p > NOW and want(p) != want(p - timedelta(seconds=1))]
    for p in points:
        if form.exact_until is not None and p >= form.exact_until:
            assert got(form.exact_until) != want(form.exact_until)
            break
        assert got(p) == want(p), p
    if len(changes) <= 1:
        assert form.exact_until is None
    elif form.exact_until is not None:
        assert form.exact_until >= changes[1]
    assert form.price.start_at is None and form.price.end_at is None
    attr = {"marketplace_id": UK_ID, "currency": "GBP", "audience": "ALL",
            "our_price": [{"schedule": [form.price.to_json()]}]}
    if form.discount is not None:
        attr["discounted_price"] = [{"schedule": [form.discount.to_json()]}]
    assert _sandbox_issues([attr]) == []


def test_time_zone_is_required():
    with pytest.raises(ValueError):
        PriceRow(sku="S", price_level="1", currency="GBP", price="1", effective_from=datetime(2026, 1, 1))
    with pytest.raises(PricingError):
        build_offers([], _mp("uk"), now=datetime(2026, 1, 1))


# --- VAT round trip --------------------------------------------------------------------------------------
def _check_round_trip(net: Decimal, rate: Decimal, currency: str) -> None:
    gross, exact = net_to_gross_exact(net, rate, currency)
    q = quantum(currency)
    assert exact
    assert gross == gross.quantize(q) and gross.as_tuple().exponent == q.as_tuple().exponent
    assert gross_to_net(gross, rate, currency) == net
    # independent exact oracle (fractions): half-up of gross/(1+rate) is net, and gross is the smallest such
    fq, fr = Fraction(q), 1 + Fraction(rate)
    lo, hi = Fraction(net) - fq / 2, Fraction(net) + fq / 2
    assert lo <= Fraction(gross) / fr < hi
    assert gross == 0 or Fraction(gross - q) / fr < lo


def test_vat_round_trip_100k_random_prices_and_rates():
    rng = random.Random(20261127)
    currencies = ["GBP", "EUR", "USD", "JPY", "SEK", "BHD", "KWD"]
    common = [D("0.20"), D("0.19"), D("0.21"), D("0.10"), D("0.077"), D("0.255"), D("0.05"), D("0.25"), D("0")]
    for i in range(100_000):
        currency = rng.choice(currencies)
        q = quantum(currency)
        net = (D(rng.randint(0, 5_000_000)) * q) if i % 2 else D(rng.randint(0, 20_000)) * q
        places = rng.randint(2, 6)  # random rates 0 .. 0.3 with 2 to 6 decimals
        rate = rng.choice(common) if i % 3 == 0 else D(rng.randint(0, 3 * 10 ** (places - 1))).scaleb(-places)
        _check_round_trip(net, rate, currency)


@settings(max_examples=300, deadline=None)
@given(
    minor=st.integers(min_value=0, max_value=10**9),
    rate=st.decimals(min_value=0, max_value=D("0.9999"), places=4),
    currency=st.sampled_from(["GBP", "EUR", "USD", "JPY", "BHD"]),
)
def test_vat_round_trip_property(minor, rate, currency):
    _check_round_trip(D(minor) * quantum(currency), rate, currency)


def test_vat_helpers_refuse_bad_input():
    with pytest.raises(PricingError, match="fraction"):
        net_to_gross("10.00", "20", "GBP")
    with pytest.raises(PricingError, match="float"):
        net_to_gross(10.0, "0.2", "GBP")  # type: ignore[arg-type]
    with pytest.raises(PricingError, match="negative"):
        gross_to_net("-1.00", "0.2", "GBP")
    assert net_to_gross("0.00", "0.2", "GBP") == D("0.00")


# --- holds, approvals, deltas ----------------------------------------------------------------------------
def _offers(price: str, **guards: str):
    rows: list[Any] = [_price("S1", price)]
    if guards:
        rows.append(ItemPriceFields(sku="S1", **guards))
    return build_offers(rows, _mp("uk"), now=NOW)


def test_sixty_percent_drop_is_held_and_approve_releases_it():
    old, new = _offers("10.00"), _offers("4.00")
    hold = check_change(old["S1"], new["S1"], max_change_pct=D("30"))
    assert hold is not None and hold.sku == "S1"
    assert hold.change_pct == D("-60.00") and hold.old_price == D("10.00") and hold.new_price == D("4.00")
    assert "-60.0%" in hold.reasons[0]
    accepted = {"S1": json.loads(json.dumps(accepted_state_value(old["S1"])))}
    screened = screen_offers(new, accepted, max_change_pct=30)
    assert screened.push == {} and set(screened.held) == {"S1"}
    released = screen_offers(new, accepted, max_change_pct=30, approve=["S1"])
    assert set(released.push) == {"S1"} and released.approved == {"S1"} and released.held == {}


def test_small_change_passes_and_below_cost_or_minimum_is_held():
    assert check_change(_offers("10.00")["S1"], _offers("11.00")["S1"], max_change_pct=30) is None
    below_cost = check_change(None, _offers("5.00", cost="5.50")["S1"], max_change_pct=30)
    assert below_cost is not None and "below cost 5.50" in below_cost.reasons[0]
    below_min = check_change(None, _offers("5.00", min_price="6.00")["S1"], max_change_pct=30)
    assert below_min is not None and "below the minimum price 6.00" in below_min.reasons[0]
    assert check_change(None, _offers("5.00")["S1"], max_change_pct=30, cost=D("6.00")) is not None


def test_scheduled_change_is_compared_with_the_price_at_that_instant():
    t = local_instant(date(2026, 11, 28), "Europe/London")
    old = build_offers([_price("S1", "10.00")], _mp("uk"), now=NOW)["S1"]
    new = build_offers([_price("S1", "10.00"), _price("S1", "3.00", eff=t)], _mp("uk"), now=NOW)["S1"]
    hold = check_change(old, new, max_change_pct=30)
    assert hold is not None and "from 2026-11-28T00:00:00Z" in hold.reasons[0]


def test_rerun_sends_nothing_and_fingerprint_is_stable():
    first = _offers("10.00")
    state = {sku: json.loads(json.dumps(accepted_state_value(o))) for sku, o in first.items()}
    again = build_offers([_price("S1", "10.00")], _mp("uk"), now=NOW + timedelta(hours=1))
    assert offer_fingerprint(again["S1"]) == offer_fingerprint(first["S1"])
    screened = screen_offers(again, state, max_change_pct=30)
    assert screened.push == {} and screened.unchanged == {"S1"}
    assert set(screen_offers(again, state, max_change_pct=30, full_push=True).push) == {"S1"}
    changed = _offers("10.50")
    assert offer_fingerprint(changed["S1"]) != offer_fingerprint(first["S1"])
    assert set(screen_offers(changed, state, max_change_pct=30).push) == {"S1"}
