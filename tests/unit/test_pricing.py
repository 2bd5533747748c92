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
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_amznetsuite.config import MarketplaceConfig
from airflow_provider_amznetsuite.domain.feeds import plan_listings_feeds
from airflow_provider_amznetsuite.domain.money import quantum
from airflow_provider_amznetsuite.domain.pricing import (
    ItemPriceFields,
    PriceRow,
    PricingError,
    SaleRow,
    accepted_state_value,
    build_offers,
    check_change,
    gross_to_net,
    iso_z,
    local_instant,
    net_to_gross,
    net_to_gross_exact,
    offer_fingerprint,
    pricing_feed_messages,
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
    assert offers["S1"].offers[0].our_price[0].net == D("9.99")


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
@pytest.mark.parametrize(("now", "day", "instant"), [
    (datetime(2026, 11, 27, 15, 0, tzinfo=UTC), date(2026, 11, 28), "2026-11-28T00:00:00Z"),  # GMT
    (datetime(2026, 7, 14, 10, 0, tzinfo=UTC), date(2026, 7, 15), "2026-07-14T23:00:00Z"),  # BST
])
def test_future_price_is_scheduled_at_the_exact_london_midnight(now, day, instant):
    tomorrow = local_instant(day, "Europe/London")
    assert iso_z(tomorrow) == instant
    rows = [_price("S1", "10.00"), _price("S1", "11.00", eff=tomorrow), _price("S1", "9.00", eff=now - timedelta(days=400))]
    offers = build_offers(rows, _mp("uk"), now=now)
    assert _attr(offers, "S1")["our_price"] == [{"schedule": [
        {"end_at": instant, "value_with_tax": D("10.80")},  # the row effective 400 days ago is current
        {"start_at": instant, "value_with_tax": D("13.20")},
    ]}]
    # after the instant the same rows give a single current price
    later = build_offers(rows, _mp("uk"), now=tomorrow)
    assert _attr(later, "S1")["our_price"] == [{"schedule": [{"value_with_tax": D("13.20")}]}]


def test_cutover_applies_to_b2b_tiers_and_equal_prices_merge():
    t1 = local_instant(date(2026, 11, 28), "Europe/London")
    t2 = local_instant(date(2026, 12, 5), "Europe/London")
    rows = [_price("S1", "10.00"), _price("S1", "10.00", eff=t1),  # same value -> no split
            _price("S1", "9.00", level="5"), _price("S1", "8.00", level="5", qty=10),
            _price("S1", "7.50", level="5", qty=10, eff=t2)]
    offers = build_offers(rows, _mp("uk"), now=NOW)
    assert _attr(offers, "S1")["our_price"] == [{"schedule": [{"value_with_tax": D("12.00")}]}]
    plan = _attr(offers, "S1", "B2B")["quantity_discount_plan"][0]["schedule"]
    assert plan == [
        {"end_at": "2026-12-05T00:00:00Z", "discount_type": "fixed", "levels": [{"lower_bound": 10, "value": D("9.60")}]},
        {"start_at": "2026-12-05T00:00:00Z", "discount_type": "fixed", "levels": [{"lower_bound": 10, "value": D("9.00")}]},
    ]


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
