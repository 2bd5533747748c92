"""Marketplace-of-record tax: who owes the tax, and the exact NetSuite lines for every path.

The fixture orders are the worked examples of docs/tax-treatment.md; the numbers asserted here are
the numbers quoted there.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from airflow_provider_amznetsuite.domain.orders import LineKind, map_order, parse_order
from airflow_provider_amznetsuite.domain.tax import MappingError, TaxCollector, decide_line_tax
from tests.unit.test_orders_support import CURRENCY_IDS, ITEM_IDS, item, load_fixture, marketplace, order

D = Decimal


def _decision(raw_item, market="uk", currency="GBP", **mp_overrides):
    mp = marketplace(market, **mp_overrides)
    o = parse_order(order("202-3000000-0000001", [raw_item], market=market, currency=currency))
    return decide_line_tax(o.order_items[0], o, mp)


def _doc(fixture: str, market: str, **mp_overrides):
    return map_order(parse_order(load_fixture(fixture)), marketplace(market, **mp_overrides),
                     item_ids=ITEM_IDS, currency_ids=CURRENCY_IDS)


def _lines(doc):
    """(kind, item, amount, tax1Amt, withheld, taxCode) per line, from the rendered body."""
    out = []
    for line in doc.body["item"]["items"]:
        out.append((line["item"]["id"], line["amount"], line.get("tax1Amt"), line.get(doc.withheld_tax_field),
                    line.get("taxCode", {}).get("id")))
    return out


# --- collector decisions ---------------------------------------------------------------------
def test_us_marketplace_facilitator():
    d = _decision(item("1", "SKU-1", 2, "24.99", "USD", shipping="5.99", collector="MF",
                       tax={"ITEM": "3.12", "SHIPPING": "0.37"}), market="us", currency="USD")
    assert d.collector is TaxCollector.MARKETPLACE_FACILITATOR
    assert d.scheme is None and d.responsible_party == "Amazon Services, Inc."
    assert (d.item_tax, d.shipping_tax, d.gift_wrap_tax) == (D("3.12"), D("0.37"), D("0"))
    assert d.tax_code_id == "20"  # marketplace_collected_code (non-taxable)
    assert d.withheld and d.total_tax == D("3.49")


@pytest.mark.parametrize("scheme", ["IOSS", "UOSS", "GB_VOEC", "NO_VOEC", "ioss"])
def test_deemed_supplier_schemes(scheme):
    d = _decision(item("1", "SKU-1", 1, "42.02", "EUR", collector=scheme, tax={"ITEM": "7.98"}), market="de", currency="EUR")
    assert d.collector is TaxCollector.DEEMED_SUPPLIER
    assert d.scheme == scheme.upper()
    assert d.item_tax == D("7.98") and d.tax_code_id == "20"


def test_facilitator_flag_outside_north_america_is_recorded_as_deemed_supplier():
    d = _decision(item("1", "SKU-1", 1, "10.00", "GBP", collector="MF", tax={"ITEM": "2.00"}))
    assert d.collector is TaxCollector.DEEMED_SUPPLIER and d.scheme is None and d.withheld


@pytest.mark.parametrize(("market", "currency", "code"), [("uk", "GBP", "10"), ("de", "EUR", "11"), ("us", "USD", "12")])
def test_seller_collected(market, currency, code):
    d = _decision(item("1", "SKU-1", 1, "15.00", currency, shipping="2.99", gift_wrap="1.00",
                       tax={"ITEM": "3.00", "SHIPPING": "0.60", "GIFT_WRAP": "0.20"}), market=market, currency=currency)
    assert d.collector is TaxCollector.SELLER and not d.withheld
    assert (d.item_tax, d.shipping_tax, d.gift_wrap_tax) == (D("3.00"), D("0.60"), D("0.20"))
    assert d.tax_code_id == code


def test_standard_collection_model_is_seller():
    raw = item("1", "SKU-1", 1, "10.00", "GBP", tax={"ITEM": "2.00"})
    raw["tax"] = {"taxCollections": [{"model": "STANDARD"}]}
    assert _decision(raw).collector is TaxCollector.SELLER


def test_unknown_scheme_is_quarantined_unless_amazon_says_it_collects():
    raw = item("1", "SKU-1", 1, "10.00", "EUR", collector="XYZ_SCHEME", tax={"ITEM": "1.90"})
    with pytest.raises(MappingError, match="unknown tax reportingScheme XYZ_SCHEME"):
        _decision(raw, market="de", currency="EUR")
    raw["tax"]["taxCollections"] = [{"model": "MARKETPLACE_FACILITATOR"}]
    assert _decision(raw, market="de", currency="EUR").withheld


def test_unknown_collection_model_is_quarantined():
    raw = item("1", "SKU-1", 1, "10.00", "GBP", tax={"ITEM": "2.00"})
    raw["tax"] = {"taxCollections": [{"model": "SOMETHING_NEW"}]}
    with pytest.raises(MappingError, match="unknown tax collection model SOMETHING_NEW"):
        _decision(raw)


def test_undivided_tax_counts_as_item_tax_and_mismatched_details_are_refused():
    raw = item("1", "SKU-1", 1, "10.00", "GBP")
    raw["proceeds"]["breakdowns"].append({"type": "TAX", "subtotal": {"amount": "2.00", "currencyCode": "GBP"}})
    assert _decision(raw).item_tax == D("2.00")
    raw = item("1", "SKU-1", 1, "10.00", "GBP", tax={"ITEM": "2.00"})
    raw["proceeds"]["breakdowns"][-1]["subtotal"]["amount"] = "2.50"
    with pytest.raises(MappingError, match="TAX detailed breakdowns sum to 2.00 but the subtotal is 2.50"):
        _decision(raw)


# --- missing configuration -------------------------------------------------------------------
def test_facilitator_without_marketplace_collected_code_names_the_key():
    raw = item("1", "SKU-1", 1, "10.00", "USD", collector="MF", tax={"ITEM": "0.70"})
    with pytest.raises(MappingError) as exc:
        _decision(raw, market="us", currency="USD", tax={"marketplace_collected_code": None})
    assert "marketplaces.us.tax.marketplace_collected_code is not set" in str(exc.value)
    assert exc.value.config_key == "tax.marketplace_collected_code"


def test_seller_tax_without_seller_code_names_the_key_but_untaxed_lines_need_none():
    raw = item("1", "SKU-1", 1, "10.00", "GBP", tax={"ITEM": "2.00"})
    with pytest.raises(MappingError, match=r"marketplaces\.uk\.tax\.seller_collected_code is not set") as exc:
        _decision(raw, tax={"seller_collected_code": None})
    assert exc.value.config_key == "tax.seller_collected_code"
    d = _decision(item("1", "SKU-1", 1, "10.00", "GBP"), tax={"seller_collected_code": None})
    assert d.tax_code_id is None and d.total_tax == 0


def test_withheld_tax_without_clearing_item_names_the_key():
    raw = order("111-3000000-0000009", [item("1", "SKU-1", 1, "10.00", "USD", collector="MF", tax={"ITEM": "0.70"})],
                market="us", currency="USD")
    with pytest.raises(MappingError, match=r"marketplaces\.us\.tax\.clearing_item is not set") as exc:
        map_order(parse_order(raw), marketplace("us", tax={"clearing_item": None}), item_ids=ITEM_IDS)
    assert exc.value.config_key == "tax.clearing_item"


# --- worked examples: exact NetSuite lines and totals ----------------------------------------
def test_worked_example_us_marketplace_facilitator():
    doc = _doc("us_mf_mfn.json", "us")
    assert doc.record_type == "salesOrder"
    assert _lines(doc) == [
        ("1001", D("49.98"), D("0"), D("3.12"), "20"),
        ("900", D("5.99"), D("0"), D("0.37"), "20"),
        ("903", D("3.49"), None, None, "20"),  # clearing line: Σ withheld
    ]
    assert doc.total == doc.amazon_total == D("59.46")
    assert doc.withheld_tax_total == D("3.49") and doc.seller_tax_total == 0
    assert [line.kind for line in doc.lines][-1] is LineKind.CLEARING


def test_worked_example_uk_deemed_supplier_fba():
    doc = _doc("uk_deemed_fba.json", "uk")
    assert doc.record_type == "cashSale" and doc.header["location"] == {"id": "11"}
    assert _lines(doc) == [
        ("1002", D("41.66"), D("0"), D("8.33"), "20"),
        ("901", D("2.50"), D("0"), D("0.50"), "20"),
        ("903", D("8.83"), None, None, "20"),
    ]
    assert doc.total == D("52.99") and doc.tax_decisions[0].scheme == "GB_VOEC"


def test_worked_example_uk_seller_collected():
    doc = _doc("uk_seller_mfn.json", "uk")
    assert _lines(doc) == [
        ("1003", D("15.00"), D("3.00"), None, "10"),
        ("900", D("2.99"), D("0.60"), None, "10"),
    ]
    assert doc.total == D("21.59") and doc.seller_tax_total == D("3.60") and doc.withheld_tax_total == 0


def test_worked_example_de_ioss():
    doc = _doc("de_ioss_mfn.json", "de")
    assert _lines(doc) == [
        ("1004", D("42.02"), D("0"), D("7.98"), "20"),
        ("903", D("7.98"), None, None, "20"),
    ]
    assert doc.total == D("50.00") and doc.tax_decisions[0].scheme == "IOSS"


def test_worked_example_de_uoss_fba():
    doc = _doc("de_uoss_fba.json", "de")
    assert doc.record_type == "cashSale"
    assert _lines(doc) == [
        ("1005", D("33.60"), D("0"), D("6.38"), "20"),
        ("903", D("6.38"), None, None, "20"),
    ]
    assert doc.total == D("39.98") and doc.tax_decisions[0].scheme == "UOSS"


def test_worked_example_de_seller_collected_with_promotion():
    doc = _doc("de_seller_mfn.json", "de")
    assert _lines(doc) == [
        ("1006", D("25.20"), D("4.79"), None, "11"),
        ("902", D("-2.52"), D("-0.48"), None, "11"),
    ]
    assert doc.total == D("26.99") and doc.seller_tax_total == D("4.31")


def test_mixed_collectors_in_one_order():
    raw = order("111-3000000-0000010", [
        item("1", "SKU-1", 1, "20.00", "USD", collector="MF", tax={"ITEM": "1.40"}),
        item("2", "SKU-2", 1, "10.00", "USD", tax={"ITEM": "0.80"}),
    ], market="us", currency="USD")
    doc = map_order(parse_order(raw), marketplace("us"), item_ids=ITEM_IDS)
    assert _lines(doc) == [
        ("1001", D("20.00"), D("0"), D("1.40"), "20"),
        ("1002", D("10.00"), D("0.80"), None, "12"),
        ("903", D("1.40"), None, None, "20"),
    ]
    assert doc.total == D("32.20")
