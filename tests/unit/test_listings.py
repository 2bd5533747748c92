"""NetSuite items → listing drafts → plan → JSON_LISTINGS_FEED messages."""

from __future__ import annotations

import copy
import json
import random
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator

from airflow_provider_amznetsuite.config import MarketplaceConfig
from airflow_provider_amznetsuite.domain.feeds import parse_processing_report, plan_listings_feeds
from airflow_provider_amznetsuite.domain.listings import (
    DISCONTINUED_HASH_PREFIX,
    HASH_PREFIX,
    ItemRowError,
    ListingDraft,
    ListingPlan,
    NetSuiteItem,
    content_hash,
    definition_request_for,
    delete_messages,
    discontinued_hash,
    family_themes,
    locale_chain,
    map_listing,
    parse_item_rows,
    plan_changes,
    prepare_drafts,
    product_type_for,
    theme_attributes,
    to_feed_message,
)
from airflow_provider_amznetsuite.domain.product_types import DefinitionRequest, ProductTypeSchema

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "product_types"
MODELS = ROOT / "airflow_provider_amznetsuite" / "sandbox" / "models"
UK = "A1F83G8C2ARO7P"
DE = "A1PA6795UKMFR9"
NOW = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)


def _mp(**products: Any) -> MarketplaceConfig:
    base = {"product_types": {"Kitchen": "KITCHEN", "Apparel": "SHIRT"}}
    base.update(products)
    return MarketplaceConfig(code="uk", marketplace_id=UK, region="eu", country="UK", currency="GBP",
                             language_tag="en_GB", subsidiary="2", products=base)


MP = _mp()
MP_DE = MarketplaceConfig(code="de", marketplace_id=DE, region="eu", country="DE", currency="EUR",
                          language_tag="de_DE", subsidiary="3",
                          products={"product_types": {"Kitchen": "KITCHEN", "Apparel": "SHIRT"}})


def _schema(name: str, marketplace_id: str = UK) -> ProductTypeSchema:
    definition = json.loads((FIXTURES / f"{name}.definition.json").read_text(encoding="utf-8"))
    document = json.loads((FIXTURES / f"{name}.schema.json").read_text(encoding="utf-8"))
    definition["marketplaceIds"] = [marketplace_id]
    return ProductTypeSchema.from_definition(definition, document)


SCHEMAS = {"KITCHEN": _schema("KITCHEN"), "SHIRT": _schema("SHIRT")}


def gtin13(n: int) -> str:
    """A valid EAN-13 (independent re-computation of the GS1 check digit)."""
    body = f"500{n:09d}"
    odd = sum(int(d) for d in body[0::2])
    even = sum(int(d) for d in body[1::2])
    return body + str((10 - (odd + 3 * even) % 10) % 10)


def kitchen_row(n: int, **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": str(1000 + n), "itemid": f"SKU-{n:05d}", "itemtype": "InvtPart", "matrixtype": None,
        "displayname": f"Sandbox Product {n}", "salesdescription": f"Sandbox product number {n}.",
        "category": "Kitchen", "custitem_amz_brand": "Sandbox Brand", "upccode": gtin13(n),
        "weight": "0.450", "weightunit": "3", "isinactive": "F", "custitem_amz_publish": "T",
        "custitem_amz_image_main": f"https://img.example/{n}.jpg",
        "custitem_amz_image_main_width": "1000", "custitem_amz_image_main_height": "1000",
    }
    row.update(overrides)
    return row


def shirt_rows(k: int = 1) -> list[dict[str, Any]]:
    parent = f"MTX-{k:03d}"
    rows = [{
        "id": str(2000 + k * 10), "itemid": parent, "itemtype": "InvtPart", "matrixtype": "PARENT",
        "displayname": f"Sandbox T-Shirt {k}", "salesdescription": "Organic cotton T-shirt.",
        "category": "Apparel", "custitem_amz_brand": "Sandbox Brand", "custitem_amz_variation_theme": "SIZE",
        "isinactive": "F", "custitem_amz_publish": "T",
    }]
    for i, size in enumerate(("S", "M", "L")):
        rows.append({
            "id": str(2000 + k * 10 + i + 1), "itemid": f"{parent}-{size}", "itemtype": "InvtPart",
            "matrixtype": "CHILD", "parent_sku": parent, "displayname": f"Sandbox T-Shirt {k} {size}",
            "salesdescription": "Organic cotton T-shirt.", "category": "Apparel",
            "custitem_amz_brand": "Sandbox Brand", "upccode": gtin13(900000 + k * 10 + i),
            "custitem_amz_var_size": size, "weight": "0.2", "weightunit": "kg", "isinactive": "F",
            "custitem_amz_publish": "T",
        })
    return rows


def draft_for(row: dict[str, Any], mp: MarketplaceConfig = MP) -> ListingDraft:
    item = NetSuiteItem.from_row(row)
    pt = product_type_for(item, mp)
    return map_listing(item, mp, product_type=pt, schema=SCHEMAS.get(pt or ""))


def drafts_for(rows: list[dict[str, Any]], mp: MarketplaceConfig = MP) -> list[ListingDraft]:
    items, problems = parse_item_rows(rows)
    assert problems == []
    return prepare_drafts(items, mp, lambda req: SCHEMAS.get(req.product_type))


def rules(violations: Any) -> list[tuple[str, str]]:
    return [(v.path, v.rule) for v in violations]


# -- NetSuite rows ----------------------------------------------------------------------------
def test_from_row_types_every_field() -> None:
    item = NetSuiteItem.from_row({
        "ID": "1005", "ITEMID": "SKU-00005", "matrixtype": "CHILD", "parent_sku": "MTX-001",
        "custitem_amz_var_size": " M ", "custitem_amz_var_color": "Blue", "upccode": "500-000 000 005",
        "custitem_amz_gtin_exempt": "F", "custitem_amz_asin": "b000test01", "weight": "1.5", "weightunit": "lb",
        "custitem_amz_pkg_length": "30", "custitem_amz_pkg_width": "20.5", "custitem_amz_pkg_height": "4",
        "custitem_amz_pkg_dim_unit": "cm", "custitem_amz_image_main": "https://img.example/5.jpg",
        "custitem_amz_image_main_width": "1600", "custitem_amz_image_main_height": "1200",
        "custitem_amz_image_3": "https://img.example/5c.jpg", "isinactive": "T", "custitem_amz_discontinued": "F",
        "custitem_amz_title_en_gb": "  Title  ", "custitem_amz_bullet2_de": "Zwei", "countryofmanufacture": "cn",
        "custitem_amz_attr_item_type_keyword": "frying-pans",
        "custitem_amz_attr_material": '[{"value": "Steel", "language_tag": "en_GB"}]',
    })
    assert (item.internal_id, item.sku, item.matrix_type, item.parent_sku) == ("1005", "SKU-00005", "child", "MTX-001")
    assert item.variation == {"size": "M", "color": "Blue"}
    assert item.gtin == "500000000005" and item.asin == "B000TEST01" and item.gtin_exempt is False
    assert item.weight is not None and (item.weight.value, item.weight.unit) == (Decimal("1.5"), "pounds")
    dims = item.package_dimensions
    assert dims is not None and (dims.length, dims.width, dims.height, dims.unit) == (
        Decimal("30"), Decimal("20.5"), Decimal("4"), "centimeters")
    assert [(i.slot, i.attribute, i.width, i.height) for i in item.images] == [
        ("main", "main_product_image_locator", 1600, 1200), ("3", "other_product_image_locator_3", None, None)]
    assert item.inactive is True and item.discontinued is False and item.publish is True and item.retired
    assert item.copy_fields == {"custitem_amz_title_en_gb": "Title", "custitem_amz_bullet2_de": "Zwei"}
    assert item.country_of_origin == "CN"
    assert item.extra_attributes == {"item_type_keyword": "frying-pans",
                                     "material": [{"value": "Steel", "language_tag": "en_GB"}]}
    assert item.row_problems == ()


def test_bad_values_become_row_problems_not_exceptions() -> None:
    item = NetSuiteItem.from_row(kitchen_row(
        3, weight="heavy", custitem_amz_image_main_width="wide", custitem_amz_pkg_length="10",
        custitem_amz_gtin_exempt="maybe", custitem_amz_attr_material="[oops",
        custitem_amz_attr_parentage_level="child"))
    assert sorted((p.field, p.attribute) for p in item.row_problems) == [
        ("custitem_amz_attr_material", "material"),
        ("custitem_amz_attr_parentage_level", "parentage_level"),
        ("custitem_amz_gtin_exempt", None),
        ("custitem_amz_image_main_width", "main_product_image_locator"),
        ("custitem_amz_pkg_width", "item_package_dimensions"),
        ("weight", "item_package_weight"),
    ]
    draft = map_listing(item, MP, product_type="KITCHEN", schema=SCHEMAS["KITCHEN"])
    netsuite = [v for v in draft.violations if v.rule == "netsuiteValue"]
    assert ("/attributes/item_package_weight", "netsuiteValue") in rules(netsuite)
    assert ("/netsuite/custitem_amz_gtin_exempt", "netsuiteValue") in rules(netsuite)
    assert any("'heavy' is not a number" in v.message and "SKU-00003" in v.message for v in netsuite)
    assert not draft.valid


def test_row_without_identity_raises_and_parse_collects() -> None:
    with pytest.raises(ItemRowError, match="without itemid"):
        NetSuiteItem.from_row({"id": "1"})
    items, problems = parse_item_rows([kitchen_row(1), {"itemid": "X"}, kitchen_row(1, id="9999")])
    assert [i.sku for i in items] == ["SKU-00001"]
    assert problems[0].startswith("row 2: NetSuite item row without id")
    assert problems[1] == ("row 3: SKU SKU-00001 appears twice (internal ids 1001 and 9999); the second row is "
                           "ignored — make itemid unique")


def test_configured_brand_and_flag_fields() -> None:
    mp = _mp(brand_field="custitem_brand_name", flag_field="custitem_sell_on_amazon")
    row = kitchen_row(2, custitem_brand_name="House Brand", custitem_sell_on_amazon="F")
    item = NetSuiteItem.from_row(row, mp.products)
    assert item.brand == "House Brand" and item.publish is False
    draft = map_listing(item, mp, product_type="KITCHEN", schema=SCHEMAS["KITCHEN"])
    assert draft.sources["brand"] == ("custitem_brand_name",)


# -- locale fallback --------------------------------------------------------------------------
def test_locale_chain() -> None:
    assert locale_chain("de_DE") == ("de_de", "de", "")
    assert locale_chain("en_GB") == ("en_gb", "en", "")


def test_locale_fallback_per_field() -> None:
    row = kitchen_row(
        7,
        custitem_amz_title_de="Pfanne (de)", custitem_amz_title="Pan (default)",
        custitem_amz_description_de_de="Beschreibung (de_DE)", custitem_amz_description_de="Beschreibung (de)",
        custitem_amz_bullet1_de="Erstens", custitem_amz_bullet3_de="Drittens",
        custitem_amz_bullet1="First (default)", custitem_amz_bullet2="Second (default)",
    )
    copy = NetSuiteItem.from_row(row).localized_copy("de_DE")
    assert (copy.title, copy.title_source) == ("Pfanne (de)", "custitem_amz_title_de")
    assert (copy.description, copy.description_source) == ("Beschreibung (de_DE)", "custitem_amz_description_de_de")
    # bullets come as a set from the first level that has any: never a mix of languages
    assert copy.bullets == ("Erstens", "Drittens")
    assert copy.bullets_source == "custitem_amz_bullet1..5_de"
    en = NetSuiteItem.from_row(row).localized_copy("en_GB")
    assert (en.title, en.title_source) == ("Pan (default)", "custitem_amz_title")
    assert (en.description, en.description_source) == ("Sandbox product number 7.", "salesdescription")
    assert en.bullets == ("First (default)", "Second (default)")


def test_locale_fallback_ends_at_standard_fields() -> None:
    copy = NetSuiteItem.from_row(kitchen_row(8)).localized_copy("de_DE")
    assert (copy.title, copy.title_source) == ("Sandbox Product 8", "displayname")
    assert copy.bullets == () and copy.bullets_source is None
    assert copy.tried["item_name"] == ("custitem_amz_title_de_de", "custitem_amz_title_de", "custitem_amz_title",
                                       "displayname")


def test_mapped_copy_carries_marketplace_language_tag() -> None:
    row = kitchen_row(9, custitem_amz_title_de_de="Gusseisenpfanne", custitem_amz_bullet1_de_de="Schwer")
    draft = map_listing(NetSuiteItem.from_row(row), MP_DE, product_type="KITCHEN", schema=_schema("KITCHEN", DE))
    assert draft.attributes["item_name"] == [
        {"value": "Gusseisenpfanne", "language_tag": "de_DE", "marketplace_id": DE}]
    assert draft.attributes["bullet_point"] == [{"value": "Schwer", "language_tag": "de_DE", "marketplace_id": DE}]
    assert draft.attributes["condition_type"] == [{"value": "new_new", "marketplace_id": DE}]
    assert draft.valid, draft.violations


# -- mapping ----------------------------------------------------------------------------------
def test_map_simple_item_to_amazon_attributes() -> None:
    draft = draft_for(kitchen_row(1, custitem_amz_item_type_keyword="frying-pans", countryofmanufacture="GB",
                                  custitem_amz_image_2="https://img.example/1b.jpg",
                                  custitem_amz_image_2_width="800", custitem_amz_image_2_height="800"))
    assert draft.valid, draft.violations
    assert draft.product_type == "KITCHEN" and draft.requirements == "LISTING" and draft.parentage is None
    assert draft.attributes == {
        "item_name": [{"value": "Sandbox Product 1", "language_tag": "en_GB", "marketplace_id": UK}],
        "brand": [{"value": "Sandbox Brand", "language_tag": "en_GB", "marketplace_id": UK}],
        "product_description": [{"value": "Sandbox product number 1.", "language_tag": "en_GB", "marketplace_id": UK}],
        "item_type_keyword": [{"value": "frying-pans", "marketplace_id": UK}],
        "country_of_origin": [{"value": "GB", "marketplace_id": UK}],
        "externally_assigned_product_identifier": [{"type": "ean", "value": gtin13(1), "marketplace_id": UK}],
        "condition_type": [{"value": "new_new", "marketplace_id": UK}],
        "item_package_weight": [{"value": Decimal("0.45"), "unit": "kilograms", "marketplace_id": UK}],
        "main_product_image_locator": [{"media_location": "https://img.example/1.jpg", "marketplace_id": UK}],
        "other_product_image_locator_2": [{"media_location": "https://img.example/1b.jpg", "marketplace_id": UK}],
    }


def test_identifier_exemption_and_asin() -> None:
    exempt = draft_for(kitchen_row(11, upccode=None, custitem_amz_gtin_exempt="T"))
    assert exempt.valid
    assert exempt.attributes["supplier_declared_has_product_identifier_exemption"] == [
        {"value": True, "marketplace_id": UK}]
    assert "externally_assigned_product_identifier" not in exempt.attributes
    asin = draft_for(kitchen_row(12, upccode="", custitem_amz_asin="B0TEST0012"))
    assert asin.valid and asin.attributes["merchant_suggested_asin"] == [{"value": "B0TEST0012", "marketplace_id": UK}]
    none = draft_for(kitchen_row(13, upccode=""))
    [v] = none.errors
    assert (v.path, v.rule) == ("/attributes/externally_assigned_product_identifier", "required")
    assert "set upccode (or custitem_amz_asin, custitem_amz_gtin_exempt)" in v.message


def test_attributes_not_in_schema_are_dropped_and_listed() -> None:
    row = kitchen_row(14, custitem_amz_pkg_length="30", custitem_amz_pkg_width="20", custitem_amz_pkg_height="5",
                      custitem_amz_pkg_dim_unit="cm", custitem_amz_var_size="M",
                      custitem_amz_attr_material="Cast iron", custitem_amz_attr_item_type_keyword="pans")
    item = NetSuiteItem.from_row(row)
    kitchen = map_listing(item, MP, product_type="KITCHEN", schema=SCHEMAS["KITCHEN"])
    assert kitchen.dropped == ("item_package_dimensions", "material")
    assert "item_package_dimensions" not in kitchen.attributes and "material" not in kitchen.attributes
    assert kitchen.attributes["item_type_keyword"] == [{"value": "pans", "marketplace_id": UK}]  # no language_tag
    assert kitchen.valid
    shirt = map_listing(item, MP, product_type="SHIRT", schema=SCHEMAS["SHIRT"])
    assert shirt.dropped == ("material",)
    assert shirt.attributes["item_package_dimensions"] == [{
        "length": {"value": 30, "unit": "centimeters"}, "width": {"value": 20, "unit": "centimeters"},
        "height": {"value": 5, "unit": "centimeters"}, "marketplace_id": UK}]


def test_unmapped_category_is_reported() -> None:
    item = NetSuiteItem.from_row(kitchen_row(15, category="Garden"))
    assert product_type_for(item, MP) is None
    assert definition_request_for(item, MP) is None
    draft = map_listing(item, MP, product_type=None, schema=None)
    [v] = draft.errors
    assert (v.path, v.rule) == ("/productType", "productTypeMapping")
    assert v.message == ("category 'Garden' has no Amazon product type — add it to products.product_types of "
                         "marketplace uk or set products.default_product_type")
    assert product_type_for(item, _mp(default_product_type="HOME")) == "HOME"
    assert product_type_for(NetSuiteItem.from_row(kitchen_row(16, category="kitchen")), MP) == "KITCHEN"


def test_missing_definition_is_reported() -> None:
    draft = map_listing(NetSuiteItem.from_row(kitchen_row(17)), MP, product_type="KITCHEN", schema=None)
    assert rules(draft.errors) == [("/productType", "productTypeDefinition")]


def test_required_title_missing_names_fields() -> None:
    draft = draft_for(kitchen_row(18, displayname=None))
    [v] = draft.errors
    assert (v.path, v.rule) == ("/attributes/item_name", "required")
    assert v.message == ("item_name: required attribute missing — set custitem_amz_title_en_gb "
                         "(or custitem_amz_title_en, custitem_amz_title, displayname)")


def test_wrong_check_digit_and_condition_enum() -> None:
    bad = gtin13(19)[:-1] + str((int(gtin13(19)[-1]) + 1) % 10)
    draft = map_listing(NetSuiteItem.from_row(kitchen_row(19, upccode=bad)), _mp(condition="brand_new"),
                        product_type="KITCHEN", schema=SCHEMAS["KITCHEN"])
    assert rules(draft.errors) == [
        ("/attributes/condition_type/0/value", "enum"),
        ("/attributes/externally_assigned_product_identifier/0/value", "gtinCheckDigit"),
    ]
    assert "fix upccode" in draft.errors[1].message


def test_small_image_blocks_unknown_size_warns() -> None:
    small = draft_for(kitchen_row(20, custitem_amz_image_main_width="300"))
    assert rules(small.errors) == [("/attributes/main_product_image_locator/0/media_location", "minImageWidth")]
    unknown = draft_for(kitchen_row(21, custitem_amz_image_main_width=None, custitem_amz_image_main_height=None))
    assert unknown.valid
    assert rules(unknown.violations) == [
        ("/attributes/main_product_image_locator/0/media_location", "imageDimensionsUnknown")]


def test_multibyte_title_over_byte_limit_is_invalid() -> None:
    draft = draft_for(kitchen_row(22, custitem_amz_title_en_gb="Crème brûlée set " + "€" * 95))
    assert rules(draft.errors) == [("/attributes/item_name/0/value", "maxUtf8ByteLength")]


# -- variation family -------------------------------------------------------------------------
def test_variation_family_parent_and_three_children() -> None:
    rows = shirt_rows(1)
    rows = [rows[2], rows[0], rows[3], rows[1]]  # NetSuite order is not family order
    drafts = drafts_for(rows)
    assert all(d.valid for d in drafts), [d.violations for d in drafts]
    plan = plan_changes(drafts, {}, now=NOW)
    messages = plan.messages()
    assert [(m["messageId"], m["sku"], m["operationType"]) for m in messages] == [
        (1, "MTX-001", "UPDATE"), (2, "MTX-001-L", "UPDATE"), (3, "MTX-001-M", "UPDATE"), (4, "MTX-001-S", "UPDATE")]
    parent = messages[0]
    assert parent["productType"] == "SHIRT" and parent["requirements"] == "LISTING_PRODUCT_ONLY"
    assert parent["attributes"]["parentage_level"] == [{"value": "parent", "marketplace_id": UK}]
    assert parent["attributes"]["variation_theme"] == [{"name": "SIZE"}]
    for absent in ("condition_type", "externally_assigned_product_identifier", "child_parent_sku_relationship"):
        assert absent not in parent["attributes"]
    for message, size in zip(messages[1:], ("L", "M", "S"), strict=True):
        attrs = message["attributes"]
        assert message["requirements"] == "LISTING"
        assert attrs["parentage_level"] == [{"value": "child", "marketplace_id": UK}]
        assert attrs["child_parent_sku_relationship"] == [
            {"child_relationship_type": "variation", "parent_sku": "MTX-001", "marketplace_id": UK}]
        assert attrs["variation_theme"] == [{"name": "SIZE"}]
        assert attrs["size"] == [{"value": size, "language_tag": "en_GB", "marketplace_id": UK}]
        assert attrs["condition_type"] == [{"value": "new_new", "marketplace_id": UK}]


def test_child_theme_derived_from_family_when_parent_has_no_theme_field() -> None:
    rows = shirt_rows(2)
    rows[0]["custitem_amz_variation_theme"] = None
    items, _ = parse_item_rows(rows)
    assert family_themes(items) == {"MTX-002": "SIZE"}
    drafts = drafts_for(rows)
    assert all(d.variation_theme == "SIZE" and d.valid for d in drafts)
    assert theme_attributes("SIZE/COLOR") == ("size", "color")
    assert theme_attributes("COLOR_NAME/SIZE_NAME") == ("color", "size")


def test_child_without_theme_attribute_is_invalid() -> None:
    rows = shirt_rows(3)
    rows[1]["custitem_amz_var_size"] = None  # MTX-003-S
    drafts = {d.sku: d for d in drafts_for(rows)}
    assert rules(drafts["MTX-003-S"].errors) == [("/attributes/size", "variationTheme")]
    assert "set custitem_amz_var_size on MTX-003-S" in drafts["MTX-003-S"].errors[0].message


def test_unknown_theme_value_is_an_enum_violation() -> None:
    rows = shirt_rows(4)
    rows[0]["custitem_amz_variation_theme"] = "FLAVOR"
    rows = rows[:1]
    [draft] = drafts_for(rows)
    assert rules(draft.errors) == [("/attributes/variation_theme/0/name", "enum")]


def test_children_of_an_invalid_parent_are_held_back() -> None:
    rows = shirt_rows(5)
    rows[0]["custitem_amz_brand"] = None
    plan = plan_changes(drafts_for(rows), {}, now=NOW)
    assert [i.sku for i in plan.invalid] == ["MTX-005"]
    assert rules(plan.invalid[0].violations) == [("/attributes/brand", "required")]
    assert [(h.sku, h.parent_sku) for h in plan.held] == [
        ("MTX-005-L", "MTX-005"), ("MTX-005-M", "MTX-005"), ("MTX-005-S", "MTX-005")]
    assert plan.held[0].reason == "parent MTX-005 is invalid (/attributes/brand [required]); the child waits for it"
    assert plan.messages() == []


def test_child_of_unpublished_parent_is_held_unless_parent_is_on_amazon() -> None:
    children = drafts_for(shirt_rows(6)[1:])
    plan = plan_changes(children, {}, now=NOW)
    assert len(plan.held) == 3 and "MTX-006 is not published" in plan.held[0].reason
    plan = plan_changes(children, {"MTX-006": HASH_PREFIX + "0" * 64}, now=NOW)
    assert plan.held == () and [p.sku for p in plan.new] == ["MTX-006-L", "MTX-006-M", "MTX-006-S"]


# -- the plan -----------------------------------------------------------------------------------
def _one_of_each() -> tuple[list[ListingDraft], dict[str, str]]:
    rows = [
        kitchen_row(1),                                        # new
        kitchen_row(2, displayname="Renamed Product 2"),        # changed
        kitchen_row(3),                                         # unchanged
        kitchen_row(4, custitem_amz_brand=None),                # invalid
        kitchen_row(5, isinactive="T"),                         # discontinued (listed before)
        kitchen_row(6, custitem_amz_discontinued="T"),          # discontinued, never listed
    ]
    drafts = drafts_for(rows)
    accepted = {
        "SKU-00002": content_hash(draft_for(kitchen_row(2))),
        "SKU-00003": content_hash(draft_for(kitchen_row(3))),
        "SKU-00005": content_hash(draft_for(kitchen_row(5))),
    }
    return drafts, accepted


def test_new_changed_unchanged_invalid_discontinued_in_one_plan() -> None:
    drafts, accepted = _one_of_each()
    plan = plan_changes(drafts, accepted, now=NOW)
    assert [p.sku for p in plan.new] == ["SKU-00001"]
    assert [p.sku for p in plan.changed] == ["SKU-00002"]
    assert plan.unchanged == ("SKU-00003",)
    assert [(i.sku, rules(i.violations)) for i in plan.invalid] == [("SKU-00004", [("/attributes/brand", "required")])]
    assert plan.invalid[0].summary() == (
        "SKU-00004: /attributes/brand [required] brand: required attribute missing — set custitem_amz_brand")
    assert [(d.sku, d.status) for d in plan.discontinued] == [("SKU-00005", "flag"), ("SKU-00006", "never_listed")]

    messages = plan.messages()
    assert [(m["sku"], m["operationType"]) for m in messages] == [
        ("SKU-00001", "UPDATE"), ("SKU-00002", "PARTIAL_UPDATE"), ("SKU-00005", "PATCH")]
    assert all(m["operationType"] != "DELETE" for m in messages)
    new, changed, flag = messages
    assert new["requirements"] == "LISTING" and new["attributes"] == drafts[0].attributes
    assert "requirements" not in changed
    assert changed["attributes"]["item_name"][0]["value"] == "Renamed Product 2"
    assert flag == {"messageId": 3, "sku": "SKU-00005", "operationType": "PATCH", "productType": "KITCHEN",
                    "patches": [{"op": "merge", "path": "/attributes/fulfillment_availability",
                                 "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": 0}]}]}
    assert plan.pending_hashes == {
        "SKU-00001": content_hash(drafts[0]), "SKU-00002": content_hash(drafts[1]),
        "SKU-00005": discontinued_hash("zero_quantity")}
    assert plan.counts() == {"new": 1, "changed": 1, "unchanged": 1, "invalid": 1, "held": 0, "discontinued": 1,
                             "discontinued_total": 2, "messages": 3}


def test_rerun_after_acceptance_sends_nothing() -> None:
    drafts, accepted = _one_of_each()
    first = plan_changes(drafts, accepted, now=NOW)
    accepted = {**accepted, **first.pending_hashes}
    again = plan_changes(drafts, accepted, now=NOW)
    assert again.messages() == []
    assert set(again.unchanged) == {"SKU-00001", "SKU-00002", "SKU-00003"}
    assert [(d.sku, d.status) for d in again.discontinued] == [
        ("SKU-00005", "already_flagged"), ("SKU-00006", "never_listed")]
    assert [i.sku for i in again.invalid] == ["SKU-00004"]  # still reported until fixed


def test_rejected_message_is_retried_because_hash_did_not_advance() -> None:
    drafts, accepted = _one_of_each()
    first = plan_changes(drafts, accepted, now=NOW)
    accepted_now = {**accepted, **{k: v for k, v in first.pending_hashes.items() if k != "SKU-00001"}}
    again = plan_changes(drafts, accepted_now, now=NOW)
    assert [m["sku"] for m in again.messages()] == ["SKU-00001"]


def test_inactive_marker_policy() -> None:
    mp = _mp(discontinued="zero_quantity_and_inactive")
    draft = draft_for(kitchen_row(5, isinactive="T"), mp)
    plan = plan_changes([draft], {"SKU-00005": "listing:v1:old"}, now=NOW)
    [message] = plan.messages()
    assert message["patches"] == [
        {"op": "merge", "path": "/attributes/fulfillment_availability",
         "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": 0}]},
        {"op": "merge", "path": "/attributes/purchasable_offer",
         "value": [{"marketplace_id": UK, "currency": "GBP", "audience": "ALL",
                    "end_at": {"value": "2026-03-01T12:30:00Z"}}]},
    ]
    assert plan.pending_hashes["SKU-00005"] == discontinued_hash("zero_quantity_and_inactive")
    assert discontinued_hash("zero_quantity_and_inactive") != discontinued_hash("zero_quantity")
    # switching the policy later flags again
    upgraded = plan_changes([draft], {"SKU-00005": discontinued_hash("zero_quantity")}, now=NOW)
    assert [d.status for d in upgraded.discontinued] == ["flag"]


def test_fba_quantity_is_never_touched() -> None:
    draft = draft_for(kitchen_row(5, isinactive="T"))
    plan = plan_changes([draft], {"SKU-00005": "listing:v1:old"}, fba_skus={"SKU-00005"}, now=NOW)
    assert plan.messages() == [] and plan.discontinued[0].status == "fba_no_action"
    inactive = draft_for(kitchen_row(5, isinactive="T"), _mp(discontinued="zero_quantity_and_inactive"))
    plan = plan_changes([inactive], {"SKU-00005": "listing:v1:old"}, fba_skus={"SKU-00005"}, now=NOW)
    [message] = plan.messages()
    assert [p["path"] for p in message["patches"]] == ["/attributes/purchasable_offer"]


def test_publish_flag_cleared_flags_the_listing() -> None:
    draft = draft_for(kitchen_row(8, custitem_amz_publish="F"))
    plan = plan_changes([draft], {"SKU-00008": content_hash(draft)}, now=NOW)
    assert [(d.sku, d.status, d.reason) for d in plan.discontinued] == [("SKU-00008", "flag", "publish flag cleared")]


def test_discontinued_parent_has_no_offer_to_flag() -> None:
    rows = shirt_rows(7)
    rows[0]["isinactive"] = "T"
    plan = plan_changes(drafts_for(rows[:1]), {"MTX-007": "listing:v1:x"}, now=NOW)
    assert [(d.sku, d.status) for d in plan.discontinued] == [("MTX-007", "no_offer")]
    assert plan.messages() == []


def test_known_skus_decide_between_update_and_partial_update() -> None:
    draft = draft_for(kitchen_row(30))
    # on Amazon already (created elsewhere) but never synced: keep the offer, PARTIAL_UPDATE
    adopted = plan_changes([draft], {}, known_skus={"SKU-00030"}, now=NOW)
    assert [(p.sku, p.operation, p.reason) for p in adopted.changed] == [
        ("SKU-00030", "PARTIAL_UPDATE", "exists on Amazon, not yet synced")]
    # accepted once, but Amazon no longer has it: full UPDATE again
    lost = plan_changes([draft], {"SKU-00030": content_hash(draft)}, known_skus=set(), now=NOW)
    assert [(p.sku, p.operation) for p in lost.new] == [("SKU-00030", "UPDATE")]


def test_reactivated_sku_is_updated_and_reported() -> None:
    draft = draft_for(kitchen_row(31))
    plan = plan_changes([draft], {"SKU-00031": discontinued_hash("zero_quantity")}, now=NOW)
    assert [(p.sku, p.operation, p.reason) for p in plan.changed] == [
        ("SKU-00031", "PARTIAL_UPDATE", "reactivated after discontinuation")]
    assert plan.reactivated == ("SKU-00031",)


def test_plan_refuses_naive_time_and_duplicates() -> None:
    draft = draft_for(kitchen_row(32))
    with pytest.raises(ValueError, match="timezone-aware"):
        plan_changes([draft], {}, now=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="duplicate SKUs in drafts: SKU-00032"):
        plan_changes([draft, draft], {}, now=NOW)


# -- deletes ----------------------------------------------------------------------------------
def test_delete_only_for_explicitly_named_skus() -> None:
    assert delete_messages([" SKU-00009 ", "SKU-00010", "SKU-00009"], start_id=4) == [
        {"messageId": 4, "sku": "SKU-00009", "operationType": "DELETE"},
        {"messageId": 5, "sku": "SKU-00010", "operationType": "DELETE"},
    ]
    assert delete_messages([]) == []
    with pytest.raises(ValueError, match="empty SKU"):
        delete_messages(["SKU-1", "  "])
    with pytest.raises(ValueError, match="longer than Amazon's 40 characters"):
        delete_messages(["X" * 41])


# -- hashing ----------------------------------------------------------------------------------
def _with_attributes(attributes: dict[str, Any], product_type: str = "KITCHEN") -> ListingDraft:
    return ListingDraft(sku="H-1", internal_id="1", marketplace_id=UK, language_tag="en_GB", currency="GBP",
                        product_type=product_type, attributes=attributes)


def test_hash_ignores_key_order_and_number_spelling() -> None:
    base = draft_for(kitchen_row(40)).attributes
    rng = random.Random(7)

    def shuffled(value: Any) -> Any:
        if isinstance(value, dict):
            keys = list(value)
            rng.shuffle(keys)
            return {k: shuffled(value[k]) for k in keys}
        if isinstance(value, list):
            return [shuffled(v) for v in value]
        return value

    reordered = shuffled(base)
    assert list(reordered) != list(base) or list(reordered["item_name"][0]) != list(base["item_name"][0])
    assert content_hash(_with_attributes(base)) == content_hash(_with_attributes(reordered))
    one = {"item_package_weight": [{"value": 1, "unit": "kilograms"}]}
    for same in (1.0, Decimal("1.00"), Decimal("1E+0")):
        assert content_hash(_with_attributes(one)) == content_hash(
            _with_attributes({"item_package_weight": [{"unit": "kilograms", "value": same}]}))
    assert content_hash(_with_attributes(one)).startswith(HASH_PREFIX)
    assert len(content_hash(_with_attributes(one))) == len(HASH_PREFIX) + 64


def test_hash_is_stable_across_processes() -> None:
    attrs = {"item_name": [{"value": "Pan", "language_tag": "en_GB", "marketplace_id": UK}]}
    assert content_hash(_with_attributes(attrs)) == (
        "listing:v1:" + __import__("hashlib").sha256(
            ('{"attributes":{"item_name":[{"language_tag":"en_GB","marketplace_id":"A1F83G8C2ARO7P",'
             '"value":"Pan"}]},"productType":"KITCHEN"}').encode()).hexdigest())


@pytest.mark.parametrize(
    "change",
    [
        lambda a: a["item_name"][0].__setitem__("value", "Sandbox Product 41 "),
        lambda a: a["item_package_weight"][0].__setitem__("value", Decimal("0.451")),
        lambda a: a.__setitem__("bullet_point", list(reversed(a["bullet_point"]))),
        lambda a: a.pop("main_product_image_locator"),
        lambda a: a["condition_type"][0].__setitem__("marketplace_id", DE),
    ],
)
def test_hash_changes_with_content(change: Any) -> None:
    draft = draft_for(kitchen_row(41, custitem_amz_bullet1="One", custitem_amz_bullet2="Two"))
    attrs = copy.deepcopy(draft.attributes)
    change(attrs)
    assert content_hash(_with_attributes(attrs)) != content_hash(_with_attributes(draft.attributes))


def test_hash_changes_with_product_type_and_never_equals_discontinued_marker() -> None:
    attrs = draft_for(kitchen_row(42)).attributes
    assert content_hash(_with_attributes(attrs, "KITCHEN")) != content_hash(_with_attributes(attrs, "HOME"))
    assert discontinued_hash("zero_quantity").startswith(DISCONTINUED_HASH_PREFIX)


# -- Amazon's message schema --------------------------------------------------------------------
def _message_validator() -> Draft7Validator:
    schema = json.loads((MODELS / "schema_feed_json_listings_feed_message_v2.json").read_text(encoding="utf-8"))
    return Draft7Validator(schema)


def _feed_validator() -> Draft7Validator:
    schema = json.loads((MODELS / "schema_feed_json_listings_feed_v2.json").read_text(encoding="utf-8"))
    return Draft7Validator(schema)


def _all_kinds() -> tuple[ListingPlan, list[dict[str, Any]]]:
    drafts, accepted = _one_of_each()
    family = drafts_for(shirt_rows(9))
    inactive = draft_for(kitchen_row(50, isinactive="T"), _mp(discontinued="zero_quantity_and_inactive"))
    plan = plan_changes([*drafts, *family, inactive], {**accepted, "SKU-00050": "listing:v1:x"}, now=NOW)
    messages = plan.messages() + delete_messages(["SKU-00099"], start_id=len(plan.to_send) + 1)
    return plan, messages


def _walk(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [x for v in value.values() for x in _walk(v)]
    if isinstance(value, list):
        return [x for v in value for x in _walk(v)]
    return [value]


def test_every_message_kind_validates_against_the_vendored_schemas() -> None:
    plan, messages = _all_kinds()
    kinds = {m["operationType"] for m in messages}
    assert kinds == {"UPDATE", "PARTIAL_UPDATE", "PATCH", "DELETE"}
    validator = _message_validator()
    for message in messages:
        errors = list(validator.iter_errors(message))
        assert errors == [], (message["sku"], [e.message for e in errors])
    feed = {"header": {"sellerId": "A2SANDBOXSELLER", "version": "2.0", "issueLocale": "en_GB"}, "messages": messages}
    assert list(_feed_validator().iter_errors(feed)) == []
    assert len({m["messageId"] for m in messages}) == len(messages)
    leaves = _walk(messages)
    assert not any(isinstance(v, float) for v in leaves)  # measurements are exact Decimals
    assert Decimal("0.45") in leaves


def test_messages_hand_over_to_feeds_and_the_documents_validate() -> None:
    plan, messages = _all_kinds()
    deletes = [to_feed_message(m) for m in messages if m["operationType"] == "DELETE"]
    feed_messages = [*plan.feed_messages(), *deletes]
    [document] = plan_listings_feeds("A2SANDBOXSELLER", feed_messages, issue_locale="en_GB")
    body = json.loads(document.body)
    assert list(_feed_validator().iter_errors(body)) == []
    assert [(m["sku"], m["operationType"]) for m in body["messages"]] == [
        (m["sku"], m["operationType"]) for m in messages]
    weights = [m["attributes"]["item_package_weight"][0]["value"]
               for m in body["messages"] if "item_package_weight" in m.get("attributes", {})]
    assert 0.45 in weights and b'"value":0.45,' in document.body  # exact number text, not a string
    assert to_feed_message(messages[0], keep_message_id=True).message_id == 1


def test_only_accepted_skus_advance_and_rejections_are_planned_again() -> None:
    drafts, accepted = _one_of_each()
    plan = plan_changes(drafts, accepted, now=NOW)
    [document] = plan_listings_feeds("A2SANDBOXSELLER", plan.feed_messages())
    rejected_id = next(mid for mid, sku in document.sent.items() if sku == "SKU-00002")
    report = {
        "header": {"sellerId": "A2SANDBOXSELLER", "version": "2.0", "feedId": "50001"},
        "issues": [{"messageId": rejected_id, "sku": "SKU-00002", "code": "90220", "severity": "ERROR",
                    "message": "'[bullet_point]' is required but not supplied.", "attributeName": "bullet_point"}],
        "summary": {"errors": 1, "warnings": 0, "messagesProcessed": 3, "messagesAccepted": 2, "messagesInvalid": 1},
    }
    outcome = parse_processing_report(report, document.sent)
    advanced = plan.hashes_to_accept(outcome.accepted_skus)
    assert set(advanced) == {"SKU-00001", "SKU-00005"}
    again = plan_changes(drafts, {**accepted, **advanced}, now=NOW)
    assert [(m["sku"], m["operationType"]) for m in again.messages()] == [("SKU-00002", "PARTIAL_UPDATE")]


def test_message_schema_would_catch_a_broken_message() -> None:
    # guards the test above: the vendored schema really rejects what we must never produce
    validator = _message_validator()
    assert list(validator.iter_errors({"messageId": 1, "sku": "X", "operationType": "PARTIAL_UPDATE",
                                       "productType": "KITCHEN", "requirements": "LISTING",
                                       "attributes": {"item_name": []}}))
    assert list(validator.iter_errors({"messageId": 1, "sku": "X", "operationType": "PATCH", "productType": "K"}))


def test_plan_round_trips_as_python_data() -> None:
    drafts, accepted = _one_of_each()
    plan = plan_changes(drafts, accepted, now=NOW)
    again = ListingPlan.model_validate(plan.model_dump())
    assert again.messages() == plan.messages()
    assert again.pending_hashes == plan.pending_hashes


def test_definition_requests_follow_parentage() -> None:
    items, _ = parse_item_rows([kitchen_row(60), *shirt_rows(10)])
    requests = [definition_request_for(i, MP) for i in items]
    assert requests[:3] == [
        DefinitionRequest(product_type="KITCHEN", requirements="LISTING", parentage_level="NONE"),
        DefinitionRequest(product_type="SHIRT", requirements="LISTING_PRODUCT_ONLY", parentage_level="PARENT"),
        DefinitionRequest(product_type="SHIRT", requirements="LISTING", parentage_level="CHILD"),
    ]
