"""Product type definitions: envelope parsing, Amazon meta-schema keywords, violations, cache."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_amznetsuite.domain.product_types import (
    AMAZON_META_SCHEMA_ID,
    ProductTypeDefinition,
    ProductTypeError,
    ProductTypeSchema,
    SchemaCache,
    Violation,
    errors_only,
    validate_listing,
)

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "product_types"
MODELS = ROOT / "airflow_provider_amznetsuite" / "sandbox" / "models"
UK = "A1F83G8C2ARO7P"


def _load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def kitchen() -> ProductTypeSchema:
    document = (FIXTURES / "KITCHEN.schema.json").read_bytes()
    return ProductTypeSchema.from_definition(_load("KITCHEN.definition.json"), document)


def _text(value: str, lang: str = "en_GB") -> list[dict[str, Any]]:
    return [{"value": value, "language_tag": lang, "marketplace_id": UK}]


def valid_attrs() -> dict[str, Any]:
    return {
        "item_name": _text("Cast Iron Pan 24 cm"),
        "brand": _text("Sandbox Brand"),
        "bullet_point": _text("Even heat") + _text("Oven safe"),
        "product_description": _text("A heavy pan for searing."),
        "externally_assigned_product_identifier": [{"type": "ean", "value": "5000000000012", "marketplace_id": UK}],
        "condition_type": [{"value": "new_new", "marketplace_id": UK}],
        "item_package_weight": [{"value": 1.25, "unit": "kilograms", "marketplace_id": UK}],
        "main_product_image_locator": [{"media_location": "https://img.example/pan.jpg", "marketplace_id": UK}],
    }


def rules(violations: list[Violation]) -> list[tuple[str, str]]:
    return [(v.path, v.rule) for v in violations]


# -- envelope -------------------------------------------------------------------------------
def test_from_definition_reads_the_envelope(kitchen: ProductTypeSchema) -> None:
    assert kitchen.product_type == "KITCHEN"
    assert kitchen.version == "U8tEST1kItChEn="
    assert kitchen.requirements == "LISTING"
    assert kitchen.requirements_enforced == "ENFORCED"
    assert kitchen.marketplace_id == UK
    assert kitchen.checksum == "c7af9479ca7261645cea9db56c5f720d"
    assert kitchen.property_groups["offer"].property_names == ("condition_type", "fulfillment_availability")
    assert kitchen.document["$schema"] == AMAZON_META_SCHEMA_ID
    assert {"item_name", "brand", "product_description"} == kitchen.required
    assert kitchen.has_attribute("bullet_point") and not kitchen.has_attribute("size")


def test_vendored_model_example_parses_as_definition() -> None:
    model = json.loads((MODELS / "product_type_definitions_2020-09-01.json").read_text(encoding="utf-8"))
    op = model["paths"]["/definitions/2020-09-01/productTypes/{productType}"]["get"]
    example = op["responses"]["200"]["examples"]["application/json"]
    definition = ProductTypeDefinition.model_validate(example)
    assert definition.product_type == "LUGGAGE"
    assert definition.product_type_version.version == "UHqSqmb4FNUk="
    assert definition.schema_link.link.resource == "https://schema-url"
    key = SchemaCache.key_for(example, marketplace_id="ATVPDKIKX0DER")
    assert (key.product_type, key.version, key.requirements, key.parentage_level) == (
        "LUGGAGE", "UHqSqmb4FNUk=", "LISTING", "NONE")


def test_envelope_passed_as_document_is_refused() -> None:
    with pytest.raises(ProductTypeError, match="no 'properties'"):
        ProductTypeSchema(_load("KITCHEN.definition.json"), product_type="KITCHEN", version="1")


def test_broken_schema_document_names_the_place() -> None:
    broken = {"$schema": AMAZON_META_SCHEMA_ID, "properties": {"item_name": {"type": "strng"}}}
    where = r"KITCHEN: schema document is not valid JSON Schema at /properties/item_name"
    with pytest.raises(ProductTypeError, match=where):
        ProductTypeSchema(broken, product_type="KITCHEN", version="1")


def test_definition_for_another_marketplace_is_refused() -> None:
    with pytest.raises(ProductTypeError, match="not A1PA6795UKMFR9"):
        ProductTypeSchema.from_definition(
            _load("KITCHEN.definition.json"), _load("KITCHEN.schema.json"), marketplace_id="A1PA6795UKMFR9")


def test_incomplete_envelope_is_refused() -> None:
    envelope = _load("KITCHEN.definition.json")
    del envelope["productTypeVersion"]
    with pytest.raises(ProductTypeError, match="productTypeVersion"):
        ProductTypeSchema.from_definition(envelope, _load("KITCHEN.schema.json"))


def test_introspection_resolves_refs(kitchen: ProductTypeSchema) -> None:
    assert kitchen.accepts_language_tag("item_name") is True
    assert kitchen.accepts_language_tag("item_type_keyword") is False
    assert kitchen.image_rule("main_product_image_locator") == (500, 500)
    assert kitchen.image_rule("item_name") == (None, None)
    assert kitchen.enum_values("condition_type")[:2] == ("new_new", "new_open_box")
    assert kitchen.enum_values("externally_assigned_product_identifier", "type") == ("ean", "gtin", "isbn", "upc")


# -- violations -----------------------------------------------------------------------------
def test_valid_attributes_have_no_violations_and_informational_keywords_are_ignored(kitchen: ProductTypeSchema) -> None:
    assert kitchen.validate_attributes(valid_attrs()) == []


def test_required_attribute_missing_names_the_netsuite_fields(kitchen: ProductTypeSchema) -> None:
    attrs = valid_attrs()
    del attrs["item_name"]
    sources = {"item_name": ("custitem_amz_title_en_gb", "custitem_amz_title_en", "custitem_amz_title", "displayname")}
    [v] = kitchen.validate_attributes(attrs, sources=sources)
    assert (v.path, v.rule, v.severity) == ("/attributes/item_name", "required", "error")
    assert v.attribute == "item_name"
    assert v.message == ("item_name: required attribute missing — set custitem_amz_title_en_gb "
                         "(or custitem_amz_title_en, custitem_amz_title, displayname)")


def test_required_attribute_without_mapping_points_to_passthrough_field(kitchen: ProductTypeSchema) -> None:
    attrs = valid_attrs()
    del attrs["brand"]
    [v] = kitchen.validate_attributes(attrs)
    assert v.message == ("brand: required attribute missing; the provider does not map brand — set "
                         "custitem_amz_attr_brand in NetSuite")


def test_nested_required_property(kitchen: ProductTypeSchema) -> None:
    attrs = valid_attrs()
    del attrs["item_name"][0]["language_tag"]
    assert rules(kitchen.validate_attributes(attrs)) == [("/attributes/item_name/0/language_tag", "required")]


def test_conditional_requirement_identifier_or_exemption(kitchen: ProductTypeSchema) -> None:
    attrs = valid_attrs()
    del attrs["externally_assigned_product_identifier"]
    assert rules(kitchen.validate_attributes(attrs)) == [
        ("/attributes/externally_assigned_product_identifier", "required")]
    attrs["supplier_declared_has_product_identifier_exemption"] = [{"value": True, "marketplace_id": UK}]
    assert kitchen.validate_attributes(attrs) == []


def test_wrong_type(kitchen: ProductTypeSchema) -> None:
    attrs = valid_attrs()
    attrs["item_package_weight"][0]["value"] = "heavy"
    [v] = kitchen.validate_attributes(attrs, sources={"item_package_weight": ("weight", "weightunit")})
    assert (v.path, v.rule) == ("/attributes/item_package_weight/0/value", "type")
    assert v.message == "item_package_weight (0/value): must be number (got string 'heavy') — fix weight / weightunit"


def test_wrong_type_of_attribute_container(kitchen: ProductTypeSchema) -> None:
    attrs = valid_attrs()
    attrs["brand"] = "Sandbox Brand"
    assert rules(kitchen.validate_attributes(attrs)) == [("/attributes/brand", "type")]


def test_enum_value(kitchen: ProductTypeSchema) -> None:
    attrs = valid_attrs()
    attrs["condition_type"][0]["value"] = "brand_new"
    [v] = kitchen.validate_attributes(attrs)
    assert (v.path, v.rule) == ("/attributes/condition_type/0/value", "enum")
    assert "'brand_new' is not allowed; expected one of new_new, new_open_box" in v.message


def test_max_length_counts_characters(kitchen: ProductTypeSchema) -> None:
    attrs = valid_attrs()
    attrs["item_name"][0]["value"] = "x" * 201  # 201 bytes: under the 300-byte limit, over 200 characters
    [v] = kitchen.validate_attributes(attrs)
    assert (v.path, v.rule) == ("/attributes/item_name/0/value", "maxLength")
    assert "201 characters, maximum 200" in v.message


@pytest.mark.parametrize(
    ("title", "violations"),
    [
        ("é" * 150, []),  # 150 characters, 300 bytes: exactly at the byte limit
        ("€" * 100, []),  # 3-byte characters: 300 bytes
        ("€" * 101, [("/attributes/item_name/0/value", "maxUtf8ByteLength")]),  # 303 bytes, 101 characters
        ("🍳" * 76, [("/attributes/item_name/0/value", "maxUtf8ByteLength")]),  # 4 bytes each: 304 bytes
        ("a" * 199 + "€", []),  # 200 characters, 202 bytes
    ],
)
def test_max_utf8_byte_length_with_multibyte_text(
    kitchen: ProductTypeSchema, title: str, violations: list[tuple[str, str]]
) -> None:
    attrs = valid_attrs()
    attrs["item_name"][0]["value"] = title
    assert rules(kitchen.validate_attributes(attrs)) == violations


def test_utf8_message_explains_bytes(kitchen: ProductTypeSchema) -> None:
    attrs = valid_attrs()
    attrs["item_name"][0]["value"] = "€" * 110
    [v] = kitchen.validate_attributes(attrs, sources={"item_name": ("custitem_amz_title_en_gb",)})
    assert v.message.startswith("item_name (0/value): 330 bytes in UTF-8 (110 characters;")
    assert v.message.endswith("maximum 300 bytes — fix custitem_amz_title_en_gb")


def test_min_utf8_byte_length() -> None:
    schema = ProductTypeSchema(
        {"$schema": AMAZON_META_SCHEMA_ID, "properties": {"generic_keyword": {
            "type": "array", "items": {"type": "object", "properties": {
                "value": {"type": "string", "minUtf8ByteLength": 4}}}}}},
        product_type="TEST", version="1")
    assert schema.validate_attributes({"generic_keyword": [{"value": "ßß"}]}) == []  # 2 chars, 4 bytes
    assert rules(schema.validate_attributes({"generic_keyword": [{"value": "abc"}]})) == [
        ("/attributes/generic_keyword/0/value", "minUtf8ByteLength")]


def test_max_unique_items_groups_by_selectors(kitchen: ProductTypeSchema) -> None:
    attrs = valid_attrs()
    attrs["bullet_point"] = _text("one") + _text("two") + _text("three") + _text("four") + _text("five")
    assert kitchen.validate_attributes(attrs) == []
    attrs["bullet_point"] += _text("six")
    [v] = kitchen.validate_attributes(attrs)
    assert (v.path, v.rule) == ("/attributes/bullet_point", "maxUniqueItems")
    assert "6 values share the selector combination" in v.message
    # five per language are fine: the selectors are marketplace_id + language_tag
    attrs["bullet_point"] = [*attrs["bullet_point"][:5], *(_text(f"b{i}", "de_DE")[0] for i in range(5))]
    assert kitchen.validate_attributes(attrs) == []


def test_pattern(kitchen: ProductTypeSchema) -> None:
    attrs = valid_attrs()
    attrs["main_product_image_locator"][0]["media_location"] = "http://img.example/pan.jpg"
    [v] = kitchen.validate_attributes(attrs)
    assert (v.path, v.rule) == ("/attributes/main_product_image_locator/0/media_location", "pattern")


def test_additional_property_in_item(kitchen: ProductTypeSchema) -> None:
    attrs = valid_attrs()
    attrs["item_name"][0]["colour"] = "red"
    assert rules(kitchen.validate_attributes(attrs)) == [("/attributes/item_name/0/colour", "additionalProperties")]


def test_exclusive_minimum(kitchen: ProductTypeSchema) -> None:
    attrs = valid_attrs()
    attrs["item_package_weight"][0]["value"] = 0
    assert rules(kitchen.validate_attributes(attrs)) == [
        ("/attributes/item_package_weight/0/value", "exclusiveMinimum")]


def test_several_violations_are_sorted_by_path(kitchen: ProductTypeSchema) -> None:
    attrs = valid_attrs()
    del attrs["brand"]
    attrs["condition_type"][0]["value"] = "mint"
    attrs["item_name"][0]["value"] = ""
    assert rules(kitchen.validate_attributes(attrs)) == [
        ("/attributes/brand", "required"),
        ("/attributes/condition_type/0/value", "enum"),
        ("/attributes/item_name/0/value", "minLength"),
    ]


# -- image rules ----------------------------------------------------------------------------
@dataclass
class _Image:
    attribute: str
    url: str
    width: int | None
    height: int | None
    source: str = "custitem_amz_image_main"


@dataclass
class _Draft:
    attributes: dict[str, Any]
    images: list[_Image]
    sources: dict[str, tuple[str, ...]] = field(default_factory=dict)


@pytest.mark.parametrize(
    ("width", "height", "expected"),
    [
        (1000, 1000, []),
        (500, 500, []),
        (499, 800, [("/attributes/main_product_image_locator/0/media_location", "minImageWidth", "error")]),
        (800, 300, [("/attributes/main_product_image_locator/0/media_location", "minImageHeight", "error")]),
        (None, None,
         [("/attributes/main_product_image_locator/0/media_location", "imageDimensionsUnknown", "warning")]),
    ],
)
def test_image_minimum_dimensions(
    kitchen: ProductTypeSchema, width: int | None, height: int | None, expected: list[tuple[str, str, str]]
) -> None:
    draft = _Draft(valid_attrs(), [_Image("main_product_image_locator", "https://img.example/pan.jpg", width, height)])
    got = validate_listing(draft, kitchen)
    assert [(v.path, v.rule, v.severity) for v in got] == expected
    if expected and expected[0][2] == "error":
        assert "upload a larger image to custitem_amz_image_main" in got[0].message
    assert errors_only(got) == [v for v in got if v.severity == "error"]


def test_no_image_rule_when_schema_declares_none() -> None:
    schema = ProductTypeSchema(
        {"$schema": AMAZON_META_SCHEMA_ID, "properties": {"main_product_image_locator": {
            "type": "array", "items": {"type": "object", "properties": {"media_location": {"type": "string"}}}}}},
        product_type="TEST", version="1")
    draft = _Draft({"main_product_image_locator": [{"media_location": "https://x/y.jpg"}]},
                   [_Image("main_product_image_locator", "https://x/y.jpg", 10, 10)])
    assert schema.validate_listing(draft) == []


# -- cache ----------------------------------------------------------------------------------
def test_cache_hits_per_product_type_and_version(tmp_path: Path) -> None:
    cache = SchemaCache()
    definition = _load("KITCHEN.definition.json")
    key = SchemaCache.key_for(definition, marketplace_id=UK)
    assert cache.get(key) is None
    stored = cache.put(definition, _load("KITCHEN.schema.json"), marketplace_id=UK)
    assert cache.get(key) is stored
    assert len(cache) == 1
    newer = copy.deepcopy(definition)
    newer["productTypeVersion"]["version"] = "U8tEST2="
    assert cache.get(SchemaCache.key_for(newer, marketplace_id=UK)) is None
    assert cache.get(SchemaCache.key_for(definition, marketplace_id=UK, parentage_level="PARENT")) is None


def test_cache_persists_to_directory(tmp_path: Path) -> None:
    definition = _load("SHIRT.definition.json")
    first = SchemaCache(tmp_path / "schemas")
    first.put(definition, (FIXTURES / "SHIRT.schema.json").read_text(encoding="utf-8"), marketplace_id=UK,
              parentage_level="CHILD")
    key = SchemaCache.key_for(definition, marketplace_id=UK, parentage_level="CHILD")
    second = SchemaCache(tmp_path / "schemas")
    loaded = second.get(key)
    assert loaded is not None
    assert loaded.product_type == "SHIRT" and loaded.parentage_level == "CHILD"
    assert loaded.document == _load("SHIRT.schema.json")
    assert loaded.has_attribute("size")
    assert second.get(SchemaCache.key_for(definition, marketplace_id=UK)) is None  # NONE parentage not stored


def test_invalid_document_is_not_cached() -> None:
    cache = SchemaCache()
    with pytest.raises(ProductTypeError, match="not JSON"):
        cache.put(_load("KITCHEN.definition.json"), b"<html>", marketplace_id=UK)
    assert len(cache) == 0
