"""NetSuite items → Amazon listings: typed input, attribute mapping, validation, change detection.

Pipeline (all pure; the products operator does the I/O)::

    rows (SuiteQL)  --NetSuiteItem.from_row-->  NetSuiteItem
    NetSuiteItem    --product_type_for / definition_request_for-->  which definition to load
    NetSuiteItem    --map_listing(item, mp, product_type=, schema=)-->  ListingDraft (validated)
    drafts + accepted hashes  --plan_changes-->  ListingPlan (new / changed / unchanged / invalid /
                                                  held / discontinued) → .messages() for feeds.py

The NetSuite field contract, the locale fallback chain, validation, change detection and the
discontinuation policy are documented in docs/products.md. Messages are plain dicts that validate
against Amazon's JSON_LISTINGS_FEED message schema (v2); attribute values are JSON types except that
measurements (weights, dimensions) are exact ``Decimal`` / ``int`` — never float — which
``domain.feeds`` writes as exact JSON numbers. :func:`to_feed_message` hands a message to feeds.py.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from airflow_provider_amznetsuite.config import MarketplaceConfig, ProductsConfig
from airflow_provider_amznetsuite.domain.feeds import FeedMessage, PatchOperation
from airflow_provider_amznetsuite.domain.product_types import (
    DefinitionRequest,
    ParentageLevel,
    ProductTypeError,
    ProductTypeSchema,
    Requirements,
    Violation,
    errors_only,
)

# --------------------------------------------------------------------------------------------
# NetSuite field contract (see docs/products.md)
# --------------------------------------------------------------------------------------------
TITLE_FIELD = "custitem_amz_title"
BULLET_FIELD = "custitem_amz_bullet{n}"
DESCRIPTION_FIELD = "custitem_amz_description"
MAX_BULLETS = 5
TITLE_FALLBACK = "displayname"
DESCRIPTION_FALLBACK = "salesdescription"
IMAGE_MAIN_FIELD = "custitem_amz_image_main"
IMAGE_OTHER_FIELD = "custitem_amz_image_{n}"
MAX_OTHER_IMAGES = 8
GTIN_FIELD = "upccode"
GTIN_TYPE_FIELD = "custitem_amz_gtin_type"
GTIN_EXEMPT_FIELD = "custitem_amz_gtin_exempt"
ASIN_FIELD = "custitem_amz_asin"
ITEM_TYPE_KEYWORD_FIELD = "custitem_amz_item_type_keyword"
COUNTRY_FIELD = "countryofmanufacture"
DISCONTINUED_FIELD = "custitem_amz_discontinued"
VARIATION_THEME_FIELD = "custitem_amz_variation_theme"
VARIATION_PREFIX = "custitem_amz_var_"
ATTRIBUTE_PREFIX = "custitem_amz_attr_"
PACKAGE_FIELDS = ("custitem_amz_pkg_length", "custitem_amz_pkg_width", "custitem_amz_pkg_height")
PACKAGE_UNIT_FIELD = "custitem_amz_pkg_dim_unit"

#: Attributes the provider sets from the matrix structure; custitem_amz_attr_* cannot override them.
RELATIONSHIP_ATTRIBUTES = frozenset({"parentage_level", "child_parent_sku_relationship", "variation_theme"})
#: Text attributes that carry a language_tag when no schema says otherwise.
_TEXT_ATTRIBUTES = frozenset({"item_name", "brand", "bullet_point", "product_description"})

_WEIGHT_UNITS = {
    "1": "pounds", "lb": "pounds", "lbs": "pounds", "pound": "pounds", "pounds": "pounds",
    "2": "ounces", "oz": "ounces", "ounce": "ounces", "ounces": "ounces",
    "3": "kilograms", "kg": "kilograms", "kilogram": "kilograms", "kilograms": "kilograms",
    "4": "grams", "g": "grams", "gram": "grams", "grams": "grams",
}
_LENGTH_UNITS = {
    "mm": "millimeters", "millimeter": "millimeters", "millimeters": "millimeters",
    "cm": "centimeters", "centimeter": "centimeters", "centimeters": "centimeters",
    "m": "meters", "meter": "meters", "meters": "meters",
    "in": "inches", "inch": "inches", "inches": "inches",
    "ft": "feet", "foot": "feet", "feet": "feet",
}
_TRUE = {"t", "true", "1", "yes", "y"}
_FALSE = {"f", "false", "0", "no", "n", ""}

HASH_PREFIX = "listing:v1:"
DISCONTINUED_HASH_PREFIX = "discontinued:v1:"


class ItemRowError(ValueError):
    """A NetSuite row that cannot even be identified (no internal id or no SKU)."""


# --------------------------------------------------------------------------------------------
# Typed NetSuite input
# --------------------------------------------------------------------------------------------
class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RowProblem(_Frozen):
    """A NetSuite value that could not be used; becomes a violation of the listing."""

    field: str
    attribute: str | None = None
    message: str


class ItemImage(_Frozen):
    slot: str  # "main" or "1".."8"
    url: str
    width: int | None = None
    height: int | None = None

    @property
    def attribute(self) -> str:
        return "main_product_image_locator" if self.slot == "main" else f"other_product_image_locator_{self.slot}"

    @property
    def source(self) -> str:
        return IMAGE_MAIN_FIELD if self.slot == "main" else IMAGE_OTHER_FIELD.format(n=self.slot)


class Measure(_Frozen):
    value: Decimal
    unit: str  # Amazon unit name (kilograms, centimeters, …)


class PackageDimensions(_Frozen):
    length: Decimal
    width: Decimal
    height: Decimal
    unit: str


class LocalizedCopy(_Frozen):
    """Customer-facing text for one language tag, with the NetSuite field each piece came from."""

    language_tag: str
    title: str | None = None
    title_source: str | None = None
    bullets: tuple[str, ...] = ()
    bullets_source: str | None = None  # locale suffix level the bullets came from, e.g. custitem_amz_bullet*_de
    description: str | None = None
    description_source: str | None = None
    tried: dict[str, tuple[str, ...]] = Field(default_factory=dict)  # attribute -> fields in fallback order


def locale_chain(language_tag: str) -> tuple[str, ...]:
    """Field suffixes tried for ``language_tag``: ``de_DE`` → ``("de_de", "de", "")`` ("" = unsuffixed)."""
    tag = language_tag.strip().lower().replace("-", "_")
    lang = tag.split("_", 1)[0]
    chain = [tag] if tag else []
    if lang and lang != tag:
        chain.append(lang)
    chain.append("")
    return tuple(chain)


def _suffixed(base: str, suffix: str) -> str:
    return f"{base}_{suffix}" if suffix else base


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


_SURROGATE = re.compile("[\ud800-\udfff]")


def _refuse_constant(name: str) -> Any:
    """NaN/Infinity are not numbers Amazon accepts; refuse them when reading attribute JSON."""
    raise ValueError(f"{name} is not an exact number")


class NetSuiteItem(_Frozen):
    """One NetSuite item as the products sync needs it (built from a SuiteQL row by :meth:`from_row`)."""

    internal_id: str
    sku: str
    item_type: str | None = None
    matrix_type: Literal["parent", "child"] | None = None
    parent_sku: str | None = None
    variation: dict[str, str] = Field(default_factory=dict)  # amazon attribute -> value, e.g. {"size": "M"}
    variation_theme: str | None = None
    category: str | None = None
    brand: str | None = None
    brand_field: str = "custitem_amz_brand"
    gtin: str | None = None
    gtin_type: str | None = None
    gtin_exempt: bool = False
    asin: str | None = None
    item_type_keyword: str | None = None
    country_of_origin: str | None = None
    display_name: str | None = None
    sales_description: str | None = None
    copy_fields: dict[str, str] = Field(default_factory=dict)  # custitem_amz_title_*/bullet*/description*
    images: tuple[ItemImage, ...] = ()
    weight: Measure | None = None
    package_dimensions: PackageDimensions | None = None
    extra_attributes: dict[str, Any] = Field(default_factory=dict)  # custitem_amz_attr_<attribute>
    inactive: bool = False
    discontinued: bool = False
    publish: bool = True
    row_problems: tuple[RowProblem, ...] = ()

    @property
    def is_parent(self) -> bool:
        return self.matrix_type == "parent"

    @property
    def is_child(self) -> bool:
        return self.matrix_type == "child"

    @property
    def retired(self) -> bool:
        """Inactive, discontinued or no longer flagged for the marketplace."""
        return self.inactive or self.discontinued or not self.publish

    # -- row parsing ----------------------------------------------------------------------
    @classmethod
    def from_row(cls, row: Mapping[str, Any], products: ProductsConfig | None = None) -> NetSuiteItem:
        """Build an item from one SuiteQL result row (lower-case column names, 'T'/'F' booleans).

        Malformed values never raise: they are kept as :class:`RowProblem` and surface as
        violations of the listing, so one bad item does not stop the run. Only a row without an
        internal id or SKU raises :class:`ItemRowError`.
        """
        products = products or ProductsConfig()
        r = {str(k).lower(): v for k, v in row.items()}
        internal_id = _text(r.get("id"))
        sku = _text(r.get("itemid"))
        if not internal_id or not sku:
            raise ItemRowError(
                f"NetSuite item row without {'id' if not internal_id else 'itemid'} "
                f"(internal id {internal_id or '?'}, SKU {sku or '?'}): select i.id and i.itemid in the SuiteQL query"
            )
        problems: list[RowProblem] = []
        # text stored from non-UTF-8 bytes arrives with lone surrogates: that item is invalid, not the run
        broken = [k for k, v in r.items() if isinstance(v, str) and _SURROGATE.search(v)]
        if broken:
            r = {k: (_SURROGATE.sub("\ufffd", v) if k in broken else v) for k, v in r.items()}
            for field in broken:
                problems.append(RowProblem(field=field, message=f"{field}: text is not valid Unicode (it was stored "
                                                                f"from bytes that are not UTF-8); re-enter it in NetSuite"))

        def flag(field: str, default: bool = False) -> bool:
            raw = r.get(field)
            if raw is None:
                return default
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in _TRUE:
                return True
            if text in _FALSE:
                return default if text == "" else False
            problems.append(RowProblem(field=field, message=f"{field}: {raw!r} is not a checkbox value (T/F)"))
            return default

        def decimal(field: str, attribute: str) -> Decimal | None:
            raw = r.get(field)
            if raw is None or (isinstance(raw, str) and not raw.strip()):
                return None
            if isinstance(raw, float):
                raw = repr(raw)
            try:
                value = Decimal(str(raw).strip())
            except (InvalidOperation, ValueError):
                problems.append(RowProblem(field=field, attribute=attribute,
                                           message=f"{field}: {str(raw)[:40]!r} is not a number"))
                return None
            if not value.is_finite() or value <= 0:
                problems.append(RowProblem(field=field, attribute=attribute,
                                           message=f"{field}: {raw} must be a positive number"))
                return None
            return value

        def pixels(field: str, attribute: str) -> int | None:
            raw = r.get(field)
            if raw is None or (isinstance(raw, str) and not raw.strip()):
                return None
            try:
                value = int(str(raw).strip())
            except ValueError:
                problems.append(RowProblem(field=field, attribute=attribute,
                                           message=f"{field}: {str(raw)[:20]!r} is not a whole number of pixels"))
                return None
            if value <= 0:
                problems.append(RowProblem(field=field, attribute=attribute, message=f"{field}: must be > 0 pixels"))
                return None
            return value

        matrix_raw = (_text(r.get("matrixtype")) or "").lower()
        matrix_type: Literal["parent", "child"] | None = None
        if matrix_raw in ("parent", "child"):
            matrix_type = matrix_raw  # type: ignore[assignment]
        elif matrix_raw not in ("", "none"):
            problems.append(RowProblem(field="matrixtype",
                                       message=f"matrixtype: {matrix_raw!r} is not PARENT or CHILD"))
        parent_sku = _text(r.get("parent_sku"))
        if matrix_type == "child" and not parent_sku:
            problems.append(RowProblem(
                field="parent_sku", attribute="child_parent_sku_relationship",
                message="child_parent_sku_relationship: matrix child without a parent SKU — select the parent's "
                        "itemid as parent_sku in the SuiteQL query",
            ))

        copy_fields: dict[str, str] = {}
        variation: dict[str, str] = {}
        extra: dict[str, Any] = {}
        for key, raw in r.items():
            if key.startswith((TITLE_FIELD, "custitem_amz_bullet", DESCRIPTION_FIELD)):
                text = _text(raw)
                if text:
                    copy_fields[key] = text
            elif key.startswith(VARIATION_PREFIX):
                text = _text(raw)
                if text:
                    variation[key[len(VARIATION_PREFIX):]] = text
            elif key.startswith(ATTRIBUTE_PREFIX):
                name = key[len(ATTRIBUTE_PREFIX):]
                text = _text(raw)
                if not text:
                    continue
                if name in RELATIONSHIP_ATTRIBUTES:
                    problems.append(RowProblem(field=key, attribute=name,
                                               message=f"{key}: {name} is set from the matrix structure, not a field"))
                    continue
                if text.startswith(("[", "{")):
                    try:
                        value = json.loads(text, parse_float=Decimal, parse_constant=_refuse_constant)
                    except ValueError as exc:
                        detail = f"{exc.msg} at {exc.pos}" if isinstance(exc, json.JSONDecodeError) else str(exc)
                        problems.append(RowProblem(field=key, attribute=name,
                                                   message=f"{key}: not valid JSON ({detail})"))
                        continue
                    extra[name] = value if isinstance(value, list) else [value]
                else:
                    extra[name] = text

        images: list[ItemImage] = []
        slots = [("main", IMAGE_MAIN_FIELD)] + [
            (str(n), IMAGE_OTHER_FIELD.format(n=n)) for n in range(1, MAX_OTHER_IMAGES + 1)
        ]
        for slot, field in slots:
            url = _text(r.get(field))
            if not url:
                continue
            image = ItemImage(slot=slot, url=url)
            images.append(image.model_copy(update={
                "width": pixels(f"{field}_width", image.attribute),
                "height": pixels(f"{field}_height", image.attribute),
            }))

        weight = None
        weight_value = decimal("weight", "item_package_weight")
        if weight_value is not None:
            unit_raw = (_text(r.get("weightunit")) or "").lower()
            unit = _WEIGHT_UNITS.get(unit_raw)
            if unit is None:
                problems.append(RowProblem(field="weightunit", attribute="item_package_weight",
                                           message=f"weightunit: {unit_raw or '(empty)'!r} is not lb, oz, kg or g"))
            else:
                weight = Measure(value=weight_value, unit=unit)

        dims = None
        dim_values = [decimal(f, "item_package_dimensions") for f in PACKAGE_FIELDS]
        if any(v is not None for v in dim_values):
            unit_raw = (_text(r.get(PACKAGE_UNIT_FIELD)) or "").lower()
            unit = _LENGTH_UNITS.get(unit_raw)
            missing = [f for f in PACKAGE_FIELDS if _text(r.get(f)) is None]
            if missing:
                problems.append(RowProblem(field=missing[0], attribute="item_package_dimensions",
                                           message=f"item_package_dimensions: set all of length, width and height "
                                                   f"(missing {', '.join(missing)})"))
            elif unit is None:
                problems.append(RowProblem(field=PACKAGE_UNIT_FIELD, attribute="item_package_dimensions",
                                           message=f"{PACKAGE_UNIT_FIELD}: {unit_raw or '(empty)'!r} is not mm, cm, m, "
                                                   "in or ft"))
            elif None not in dim_values:  # an unusable number was reported by decimal() already
                length, width, height = dim_values
                dims = PackageDimensions(length=length, width=width, height=height, unit=unit)  # type: ignore[arg-type]

        gtin = _text(r.get(GTIN_FIELD))
        gtin_type = (_text(r.get(GTIN_TYPE_FIELD)) or "").lower() or None
        country = _text(r.get(COUNTRY_FIELD))
        return cls(
            internal_id=internal_id,
            sku=sku,
            item_type=_text(r.get("itemtype")),
            matrix_type=matrix_type,
            parent_sku=parent_sku if matrix_type == "child" else None,
            variation=variation,
            variation_theme=(_text(r.get(VARIATION_THEME_FIELD)) or "").upper() or None,
            category=_text(r.get("category")),
            brand=_text(r.get(products.brand_field.lower())),
            brand_field=products.brand_field,
            gtin=re.sub(r"[\s-]", "", gtin) if gtin else None,
            gtin_type=gtin_type,
            gtin_exempt=flag(GTIN_EXEMPT_FIELD),
            asin=(_text(r.get(ASIN_FIELD)) or "").upper() or None,
            item_type_keyword=_text(r.get(ITEM_TYPE_KEYWORD_FIELD)),
            country_of_origin=country.upper() if country else None,
            display_name=_text(r.get(TITLE_FALLBACK)),
            sales_description=_text(r.get(DESCRIPTION_FALLBACK)),
            copy_fields=copy_fields,
            images=tuple(images),
            weight=weight,
            package_dimensions=dims,
            extra_attributes=extra,
            inactive=flag("isinactive"),
            discontinued=flag(DISCONTINUED_FIELD),
            publish=flag(products.flag_field.lower(), default=True),
            row_problems=tuple(problems),
        )

    # -- locale copy ----------------------------------------------------------------------
    def localized_copy(self, language_tag: str) -> LocalizedCopy:
        """Title, bullets and description for ``language_tag`` following the fallback chain.

        Title and description fall back independently: ``<field>_<xx_yy>`` → ``<field>_<xx>`` →
        ``<field>`` → the NetSuite standard field (displayname / salesdescription). Bullets are taken
        as a set from the first level of the chain that has any bullet, so a listing never mixes
        languages between bullet points; they have no standard-field fallback.
        """
        chain = locale_chain(language_tag)
        title_fields = tuple(_suffixed(TITLE_FIELD, s) for s in chain) + (TITLE_FALLBACK,)
        desc_fields = tuple(_suffixed(DESCRIPTION_FIELD, s) for s in chain) + (DESCRIPTION_FALLBACK,)
        values = dict(self.copy_fields)
        if self.display_name:
            values[TITLE_FALLBACK] = self.display_name
        if self.sales_description:
            values[DESCRIPTION_FALLBACK] = self.sales_description

        def first(fields: Sequence[str]) -> tuple[str | None, str | None]:
            for f in fields:
                if values.get(f):
                    return values[f], f
            return None, None

        title, title_src = first(title_fields)
        desc, desc_src = first(desc_fields)
        bullets: tuple[str, ...] = ()
        bullets_src = None
        for suffix in chain:
            found = [values.get(_suffixed(BULLET_FIELD.format(n=n), suffix)) for n in range(1, MAX_BULLETS + 1)]
            present = tuple(b for b in found if b)
            if present:
                bullets = present
                bullets_src = _suffixed("custitem_amz_bullet1..5", suffix)
                break
        bullet_fields = tuple(_suffixed(BULLET_FIELD.format(n=1), s) for s in chain)
        return LocalizedCopy(
            language_tag=language_tag, title=title, title_source=title_src, bullets=bullets,
            bullets_source=bullets_src, description=desc, description_source=desc_src,
            tried={"item_name": title_fields, "product_description": desc_fields, "bullet_point": bullet_fields},
        )


def parse_item_rows(
    rows: Iterable[Mapping[str, Any]], products: ProductsConfig | None = None
) -> tuple[list[NetSuiteItem], list[str]]:
    """Parse SuiteQL rows; returns (items, problems of rows that could not be identified)."""
    items: list[NetSuiteItem] = []
    problems: list[str] = []
    seen: dict[str, str] = {}
    for index, row in enumerate(rows):
        try:
            item = NetSuiteItem.from_row(row, products)
        except ItemRowError as exc:
            problems.append(f"row {index + 1}: {exc}")
            continue
        if item.sku in seen:
            problems.append(f"row {index + 1}: SKU {item.sku} appears twice (internal ids {seen[item.sku]} and "
                            f"{item.internal_id}); the second row is ignored — make itemid unique")
            continue
        seen[item.sku] = item.internal_id
        items.append(item)
    return items, problems


# --------------------------------------------------------------------------------------------
# Product type resolution
# --------------------------------------------------------------------------------------------
def product_type_for(item: NetSuiteItem, mp: MarketplaceConfig) -> str | None:
    """NetSuite category → Amazon product type (exact, then case-insensitive), else the default."""
    mapping = mp.products.product_types
    if item.category:
        if item.category in mapping:
            return mapping[item.category]
        folded = {k.casefold(): v for k, v in mapping.items()}
        if item.category.casefold() in folded:
            return folded[item.category.casefold()]
    return mp.products.default_product_type


def parentage_level_of(item: NetSuiteItem) -> ParentageLevel:
    return "PARENT" if item.is_parent else "CHILD" if item.is_child else "NONE"


def requirements_of(item: NetSuiteItem) -> Requirements:
    """Parents carry no offer (LISTING_PRODUCT_ONLY); every other SKU is a full LISTING."""
    return "LISTING_PRODUCT_ONLY" if item.is_parent else "LISTING"


def definition_request_for(item: NetSuiteItem, mp: MarketplaceConfig) -> DefinitionRequest | None:
    """Which ``getDefinitionsProductType`` call validates this item (None: no product type mapped)."""
    product_type = product_type_for(item, mp)
    if product_type is None:
        return None
    return DefinitionRequest(product_type=product_type, requirements=requirements_of(item),
                             parentage_level=parentage_level_of(item))


_THEME_ORDER = ("SIZE", "COLOR")


def theme_from_variation(names: Iterable[str]) -> str | None:
    """``{"size"}`` → ``SIZE``; ``{"color", "size"}`` → ``SIZE/COLOR`` (size, color, then A–Z)."""
    upper = {n.upper() for n in names}
    if not upper:
        return None
    ordered = [t for t in _THEME_ORDER if t in upper] + sorted(upper - set(_THEME_ORDER))
    return "/".join(ordered)


def theme_attributes(theme: str) -> tuple[str, ...]:
    """Attributes a child must carry for a theme: ``SIZE/COLOR`` → ``("size", "color")``;
    ``COLOR_NAME/SIZE_NAME`` → ``("color", "size")``."""
    out = []
    for part in theme.split("/"):
        name = part.strip().lower()
        if name.endswith("_name"):
            name = name[: -len("_name")]
        if name:
            out.append(name)
    return tuple(out)


def family_themes(items: Iterable[NetSuiteItem]) -> dict[str, str]:
    """Variation theme per parent SKU: the parent's custitem_amz_variation_theme, else derived from
    the variation fields its children carry."""
    items = list(items)
    explicit = {i.sku: i.variation_theme for i in items if i.is_parent and i.variation_theme}
    names: dict[str, set[str]] = {}
    for item in items:
        if item.is_child and item.parent_sku:
            names.setdefault(item.parent_sku, set()).update(item.variation)
    out: dict[str, str] = {}
    for parent in {i.sku for i in items if i.is_parent} | set(names):
        theme = explicit.get(parent) or theme_from_variation(names.get(parent, ()))
        if theme:
            out[parent] = theme
    return out


# --------------------------------------------------------------------------------------------
# The draft
# --------------------------------------------------------------------------------------------
class ListingDraft(BaseModel):
    """One SKU's listing for one marketplace: the attributes that would be sent, and why not if not."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sku: str
    internal_id: str
    marketplace_id: str
    language_tag: str
    currency: str
    product_type: str | None
    requirements: Requirements = "LISTING"
    parentage: Literal["parent", "child"] | None = None
    parent_sku: str | None = None
    variation_theme: str | None = None
    attributes: dict[str, list[Any]] = Field(default_factory=dict)
    dropped: tuple[str, ...] = ()  # mapped attributes the product type's schema does not declare
    sources: dict[str, tuple[str, ...]] = Field(default_factory=dict)  # attribute -> NetSuite fields
    images: tuple[ItemImage, ...] = ()
    inactive: bool = False
    discontinued: bool = False
    publish: bool = True
    discontinued_policy: Literal["zero_quantity", "zero_quantity_and_inactive"] = "zero_quantity"
    schema_version: str | None = None
    violations: tuple[Violation, ...] = ()

    @property
    def errors(self) -> list[Violation]:
        return errors_only(self.violations)

    @property
    def valid(self) -> bool:
        return not self.errors

    @property
    def retired(self) -> bool:
        return self.inactive or self.discontinued or not self.publish


def _number(value: Decimal) -> Decimal | int:
    """A measurement for the feed: exact Decimal (int when whole), never float — feeds.py writes
    Decimals as exact JSON numbers and refuses floats."""
    normal = value.normalize()
    if normal == normal.to_integral_value():
        return int(normal)
    return normal


def _gtin_problem(gtin: str, gtin_type: str | None) -> str | None:
    if not gtin.isdigit():
        return f"{gtin!r} must contain digits only"
    if gtin_type == "isbn" and len(gtin) == 10:
        return None
    if len(gtin) not in (8, 12, 13, 14):
        return f"{gtin!r} has {len(gtin)} digits; a GTIN has 8, 12 (UPC), 13 (EAN) or 14"
    digits = [int(d) for d in gtin.rjust(14, "0")]
    total = sum(d * (3 if i % 2 == 0 else 1) for i, d in enumerate(digits[:13]))
    expected = (10 - total % 10) % 10
    if digits[13] != expected:
        return f"{gtin!r} has check digit {digits[13]}, expected {expected} — the barcode is mistyped"
    return None


def _gtin_type(gtin: str, declared: str | None) -> str:
    if declared in ("ean", "upc", "gtin", "isbn"):
        return declared
    return {8: "ean", 12: "upc", 13: "ean", 14: "gtin"}.get(len(gtin), "gtin")


def map_listing(
    item: NetSuiteItem,
    mp: MarketplaceConfig,
    *,
    product_type: str | None,
    schema: ProductTypeSchema | None,
    variation_theme: str | None = None,
) -> ListingDraft:
    """Map one NetSuite item to the listing attributes for ``mp`` and validate them.

    Only attributes declared in ``schema.properties`` are kept (the rest are listed in
    ``dropped``). ``product_type=None`` (no category mapping) or ``schema=None`` (definition not
    loaded) yield a draft with a violation on ``/productType``. ``variation_theme`` overrides the
    item's own theme (pass :func:`family_themes` results so children use their parent's theme).
    """
    if schema is not None and product_type is not None and schema.product_type != product_type:
        raise ProductTypeError(f"{item.sku}: schema is for {schema.product_type}, not {product_type}")
    mid = mp.marketplace_id
    lang = mp.language_tag
    copy = item.localized_copy(lang)
    attrs: dict[str, list[Any]] = {}
    sources: dict[str, tuple[str, ...]] = {}
    violations: list[Violation] = []

    def with_lang(name: str) -> bool:
        if schema is not None and schema.has_attribute(name):
            return schema.accepts_language_tag(name)
        return name in _TEXT_ATTRIBUTES

    def text_value(name: str, value: str) -> dict[str, Any]:
        entry: dict[str, Any] = {"value": value}
        if with_lang(name):
            entry["language_tag"] = lang
        entry["marketplace_id"] = mid
        return entry

    def put(name: str, values: list[Any], fields: Sequence[str]) -> None:
        sources[name] = tuple(fields)
        if values:
            attrs[name] = values

    put("item_name", [text_value("item_name", copy.title)] if copy.title else [], copy.tried["item_name"])
    put("brand", [text_value("brand", item.brand)] if item.brand else [], (item.brand_field,))
    put("bullet_point", [text_value("bullet_point", b) for b in copy.bullets], copy.tried["bullet_point"])
    put("product_description", [text_value("product_description", copy.description)] if copy.description else [],
        copy.tried["product_description"])
    put("item_type_keyword", [{"value": item.item_type_keyword, "marketplace_id": mid}] if item.item_type_keyword
        else [], (ITEM_TYPE_KEYWORD_FIELD,))
    put("country_of_origin", [{"value": item.country_of_origin, "marketplace_id": mid}] if item.country_of_origin
        else [], (COUNTRY_FIELD,))

    # variation family
    theme = variation_theme or item.variation_theme
    if item.is_child and not theme:
        theme = theme_from_variation(item.variation)
    parentage: Literal["parent", "child"] | None = None
    if item.is_parent or item.is_child:
        parentage = "parent" if item.is_parent else "child"
        put("parentage_level", [{"value": parentage, "marketplace_id": mid}], ("matrixtype",))
        put("variation_theme", [{"name": theme}] if theme else [], (VARIATION_THEME_FIELD,))
        if not theme:
            violations.append(Violation(
                path="/attributes/variation_theme", rule="variationTheme",
                message=f"variation_theme: cannot tell the variation theme of {item.parent_sku or item.sku} — set "
                        f"{VARIATION_THEME_FIELD} (e.g. SIZE) on the matrix parent",
            ))
    if item.is_child:
        put("child_parent_sku_relationship",
            [{"child_relationship_type": "variation", "parent_sku": item.parent_sku, "marketplace_id": mid}]
            if item.parent_sku else [], ("parent_sku",))
        for name, value in sorted(item.variation.items()):
            put(name, [text_value(name, value)], (VARIATION_PREFIX + name,))
        for name in theme_attributes(theme or ""):
            if name not in item.variation:
                violations.append(Violation(
                    path=f"/attributes/{name}", rule="variationTheme",
                    message=f"{name}: variation theme {theme} needs a {name} on every child — set "
                            f"{VARIATION_PREFIX}{name} on {item.sku}",
                ))

    # offer and identity of buyable SKUs (a parent is not buyable)
    if not item.is_parent:
        id_fields = (GTIN_FIELD, ASIN_FIELD, GTIN_EXEMPT_FIELD)
        if item.gtin:
            put("externally_assigned_product_identifier", [{
                "type": _gtin_type(item.gtin, item.gtin_type), "value": item.gtin, "marketplace_id": mid,
            }], id_fields)
            problem = _gtin_problem(item.gtin, item.gtin_type)
            if problem:
                violations.append(Violation(
                    path="/attributes/externally_assigned_product_identifier/0/value", rule="gtinCheckDigit",
                    message=f"externally_assigned_product_identifier: {problem} — fix {GTIN_FIELD}",
                ))
        else:
            sources["externally_assigned_product_identifier"] = id_fields
        put("merchant_suggested_asin", [{"value": item.asin, "marketplace_id": mid}] if item.asin else [],
            (ASIN_FIELD,))
        put("supplier_declared_has_product_identifier_exemption",
            [{"value": True, "marketplace_id": mid}] if item.gtin_exempt and not item.gtin else [],
            (GTIN_EXEMPT_FIELD,))
        put("condition_type", [{"value": mp.products.condition, "marketplace_id": mid}],
            ("products.condition (marketplace config)",))

    if item.weight is not None:
        put("item_package_weight", [{"value": _number(item.weight.value), "unit": item.weight.unit,
                                     "marketplace_id": mid}], ("weight", "weightunit"))
    if item.package_dimensions is not None:
        d = item.package_dimensions
        put("item_package_dimensions", [{
            "length": {"value": _number(d.length), "unit": d.unit},
            "width": {"value": _number(d.width), "unit": d.unit},
            "height": {"value": _number(d.height), "unit": d.unit},
            "marketplace_id": mid,
        }], (*PACKAGE_FIELDS, PACKAGE_UNIT_FIELD))
    for image in item.images:
        put(image.attribute, [{"media_location": image.url, "marketplace_id": mid}], (image.source,))
    sources.setdefault("main_product_image_locator", (IMAGE_MAIN_FIELD,))

    # escape hatch: custitem_amz_attr_<attribute> (text value or a full Amazon attribute array)
    for name, value in sorted(item.extra_attributes.items()):
        if isinstance(value, list):
            put(name, value, (ATTRIBUTE_PREFIX + name,))
        else:
            put(name, [text_value(name, value)], (ATTRIBUTE_PREFIX + name,))

    for problem in item.row_problems:
        path = f"/attributes/{problem.attribute}" if problem.attribute else f"/netsuite/{problem.field}"
        violations.append(Violation(path=path, rule="netsuiteValue", message=problem.message + f" (item {item.sku})"))

    dropped: tuple[str, ...] = ()
    if product_type is None:
        violations.append(Violation(
            path="/productType", rule="productTypeMapping",
            message=f"category {item.category!r} has no Amazon product type — add it to products.product_types "
                    f"of marketplace {mp.code} or set products.default_product_type",
        ))
    elif schema is None:
        violations.append(Violation(
            path="/productType", rule="productTypeDefinition",
            message=f"no product type definition loaded for {product_type} in {mid} — check the "
                    "getDefinitionsProductType call for this product type",
        ))
    else:
        dropped = tuple(sorted(name for name in attrs if not schema.has_attribute(name)))
        for name in dropped:
            del attrs[name]

    images = tuple(i for i in item.images if i.attribute in attrs)
    draft = ListingDraft(
        sku=item.sku, internal_id=item.internal_id, marketplace_id=mid, language_tag=lang, currency=mp.currency,
        product_type=product_type, requirements=requirements_of(item), parentage=parentage,
        parent_sku=item.parent_sku, variation_theme=theme if parentage else None, attributes=attrs,
        dropped=dropped, sources=sources, images=images, inactive=item.inactive, discontinued=item.discontinued,
        publish=item.publish, discontinued_policy=mp.products.discontinued,
        schema_version=schema.version if schema is not None else None,
    )
    if schema is not None and product_type is not None:
        violations.extend(schema.validate_listing(draft))
    ordered = sorted(set(violations), key=lambda v: (v.severity != "error", v.path, v.rule, v.message))
    return draft.model_copy(update={"violations": tuple(ordered)})


def prepare_drafts(
    items: Iterable[NetSuiteItem],
    mp: MarketplaceConfig,
    schema_for: Callable[[DefinitionRequest], ProductTypeSchema | None],
) -> list[ListingDraft]:
    """Map every item: resolve its product type and definition, pass family variation themes."""
    items = list(items)
    themes = family_themes(items)
    drafts = []
    for item in items:
        request = definition_request_for(item, mp)
        schema = schema_for(request) if request is not None else None
        theme = themes.get(item.sku if item.is_parent else item.parent_sku or "")
        drafts.append(map_listing(item, mp, product_type=request.product_type if request else None,
                                  schema=schema, variation_theme=theme))
    return drafts


# --------------------------------------------------------------------------------------------
# Change detection
# --------------------------------------------------------------------------------------------
def _canonical(value: Any) -> str:
    """Canonical JSON text: object keys sorted, numbers normalised (1 == 1.0 == Decimal('1.00'))."""
    if isinstance(value, Mapping):
        pairs = sorted(value.items(), key=lambda kv: str(kv[0]))
        return "{" + ",".join(json.dumps(str(k), ensure_ascii=False) + ":" + _canonical(v) for k, v in pairs) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_canonical(v) for v in value) + "]"
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, (int, float, Decimal)):
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
        if not number.is_finite():
            raise ValueError(f"cannot hash the non-finite number {value!r}")
        text = format(number.normalize(), "f")
        return "0" if text in ("-0", "0") else text
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    raise TypeError(f"cannot hash a {type(value).__name__} in listing attributes")


def content_hash(draft: ListingDraft) -> str:
    """Stable hash of what would be sent (product type + attributes); independent of key order,
    sensitive to every value and to the order of array entries (bullet order is visible)."""
    body = _canonical({"productType": draft.product_type, "attributes": draft.attributes})
    return HASH_PREFIX + hashlib.sha256(body.encode("utf-8")).hexdigest()


def discontinued_hash(policy: str, *, fba: bool = False) -> str:
    """The accepted-state value recorded once a SKU has been flagged discontinued."""
    body = _canonical({"discontinued": policy, "fba": fba})
    return DISCONTINUED_HASH_PREFIX + hashlib.sha256(body.encode("utf-8")).hexdigest()


Operation = Literal["UPDATE", "PARTIAL_UPDATE", "PATCH", "DELETE"]


class PlannedListing(BaseModel):
    """A message to send and the hash to record once Amazon accepted it."""

    model_config = ConfigDict(frozen=True)

    sku: str
    action: Literal["new", "changed", "discontinued"]
    operation: Operation
    parentage: Literal["parent", "child"] | None = None
    content_hash: str
    message: dict[str, Any]  # without messageId (assigned by ListingPlan.messages)
    reason: str = ""


class InvalidListing(BaseModel):
    model_config = ConfigDict(frozen=True)

    sku: str
    product_type: str | None
    violations: tuple[Violation, ...]

    def summary(self) -> str:
        """One line (quarantine reason): the first violation and how many more."""
        first = self.violations[0] if self.violations else None
        more = f" (+{len(self.violations) - 1} more)" if len(self.violations) > 1 else ""
        return f"{self.sku}: {first.path} [{first.rule}] {first.message}{more}" if first else f"{self.sku}: invalid"


class HeldListing(BaseModel):
    model_config = ConfigDict(frozen=True)

    sku: str
    parent_sku: str | None
    reason: str


class DiscontinuedListing(BaseModel):
    model_config = ConfigDict(frozen=True)

    sku: str
    status: Literal["flag", "already_flagged", "never_listed", "no_offer", "fba_no_action", "cannot_flag"]
    reason: str
    planned: PlannedListing | None = None


class ListingPlan(BaseModel):
    """What one products run does for one marketplace."""

    model_config = ConfigDict(frozen=True)

    new: tuple[PlannedListing, ...] = ()
    changed: tuple[PlannedListing, ...] = ()
    unchanged: tuple[str, ...] = ()
    invalid: tuple[InvalidListing, ...] = ()
    held: tuple[HeldListing, ...] = ()
    discontinued: tuple[DiscontinuedListing, ...] = ()
    reactivated: tuple[str, ...] = ()  # were flagged discontinued; pricing/inventory must resend their offer

    @property
    def to_send(self) -> list[PlannedListing]:
        """Send order: variation parents first, then every other SKU, then discontinuation flags."""
        updates = sorted((*self.new, *self.changed), key=lambda p: (p.parentage != "parent", p.sku))
        flags = sorted((d.planned for d in self.discontinued if d.planned is not None), key=lambda p: p.sku)
        return [*updates, *flags]

    def messages(self, start_id: int = 1) -> list[dict[str, Any]]:
        """JSON_LISTINGS_FEED messages in send order, ``messageId`` from ``start_id``."""
        return [{"messageId": start_id + i, **p.message} for i, p in enumerate(self.to_send)]

    def feed_messages(self) -> list[FeedMessage]:
        """The messages as :class:`domain.feeds.FeedMessage` (no messageId: each feed numbers its own)."""
        return [to_feed_message(p.message) for p in self.to_send]

    @property
    def pending_hashes(self) -> dict[str, str]:
        """SKU → hash to store once Amazon accepted that SKU's message (never before)."""
        return {p.sku: p.content_hash for p in self.to_send}

    def hashes_to_accept(self, accepted_skus: Iterable[str]) -> dict[str, str]:
        """The hashes that may advance now: only for SKUs the processing report accepted
        (``FeedOutcome.accepted_skus``). Rejected and unconfirmed SKUs keep their old hash and are
        planned again next run."""
        pending = self.pending_hashes
        return {sku: pending[sku] for sku in accepted_skus if sku in pending}

    def counts(self) -> dict[str, int]:
        return {
            "new": len(self.new), "changed": len(self.changed), "unchanged": len(self.unchanged),
            "invalid": len(self.invalid), "held": len(self.held),
            "discontinued": sum(1 for d in self.discontinued if d.planned is not None),
            "discontinued_total": len(self.discontinued), "messages": len(self.to_send),
        }


def _update_message(draft: ListingDraft, operation: Literal["UPDATE", "PARTIAL_UPDATE"]) -> dict[str, Any]:
    message: dict[str, Any] = {"sku": draft.sku, "operationType": operation, "productType": draft.product_type}
    if operation == "UPDATE":
        message["requirements"] = draft.requirements
    message["attributes"] = draft.attributes
    return message


def _discontinue_message(draft: ListingDraft, *, fba: bool, now: datetime) -> dict[str, Any] | None:
    patches: list[dict[str, Any]] = []
    if not fba:
        patches.append({"op": "merge", "path": "/attributes/fulfillment_availability",
                        "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": 0}]})
    if draft.discontinued_policy == "zero_quantity_and_inactive":
        patches.append({"op": "merge", "path": "/attributes/purchasable_offer", "value": [{
            "marketplace_id": draft.marketplace_id, "currency": draft.currency, "audience": "ALL",
            "end_at": {"value": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")},
        }]})
    if not patches:
        return None
    return {"sku": draft.sku, "operationType": "PATCH", "productType": draft.product_type, "patches": patches}


def plan_changes(
    drafts: Iterable[ListingDraft],
    accepted_hashes: Mapping[str, str],
    *,
    known_skus: Collection[str] | None = None,
    fba_skus: Collection[str] = (),
    now: datetime | None = None,
) -> ListingPlan:
    """Decide per SKU what to send.

    - ``accepted_hashes``: SKU → hash Amazon last accepted (from the sync-state database).
    - ``known_skus``: SKUs that exist on Amazon for this marketplace, if known (a listings report,
      the state DB). A SKU Amazon has but we never sent is *changed* (PARTIAL_UPDATE, so offer data
      owned by the pricing/inventory syncs is kept); a SKU with a hash that Amazon no longer has is
      *new* again.
    - ``fba_skus``: fulfilled by Amazon; their quantity is never touched.
    - ``now``: timestamp of the inactive marker (``purchasable_offer.end_at``), UTC.

    new → UPDATE (full attributes, requirements LISTING / LISTING_PRODUCT_ONLY for parents);
    changed → PARTIAL_UPDATE with every product attribute this provider manages; unchanged →
    nothing; invalid → reported with paths; children of an invalid or unpublished parent → held;
    retired (inactive, discontinued, publish flag cleared) → a PATCH (quantity 0, plus the
    inactive marker under ``zero_quantity_and_inactive``) once, never a DELETE.
    """
    drafts = list(drafts)
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    fba = set(fba_skus)
    known = set(known_skus) if known_skus is not None else None
    by_sku = {d.sku: d for d in drafts}
    if len(by_sku) != len(drafts):
        dupes = sorted({d.sku for d in drafts if sum(1 for e in drafts if e.sku == d.sku) > 1})
        raise ValueError(f"duplicate SKUs in drafts: {', '.join(dupes)}")

    def on_amazon(sku: str) -> bool:
        return sku in accepted_hashes or (known is not None and sku in known)

    new: list[PlannedListing] = []
    changed: list[PlannedListing] = []
    unchanged: list[str] = []
    invalid: list[InvalidListing] = []
    held: list[HeldListing] = []
    discontinued: list[DiscontinuedListing] = []
    reactivated: list[str] = []

    for draft in sorted(drafts, key=lambda d: d.sku):
        sku = draft.sku
        if draft.retired:
            why = "inactive in NetSuite" if draft.inactive else "discontinued" if draft.discontinued \
                else "publish flag cleared"
            discontinued.append(_plan_discontinued(draft, why, accepted_hashes, on_amazon(sku), sku in fba, now))
            continue
        if draft.errors:
            invalid.append(InvalidListing(sku=sku, product_type=draft.product_type, violations=tuple(draft.errors)))
            continue
        if draft.parentage == "child":
            reason = _parent_problem(draft, by_sku, on_amazon)
            if reason:
                held.append(HeldListing(sku=sku, parent_sku=draft.parent_sku, reason=reason))
                continue
        digest = content_hash(draft)
        previous = accepted_hashes.get(sku)
        remote = known is not None and sku in known
        if previous is None and not remote:
            new.append(PlannedListing(sku=sku, action="new", operation="UPDATE", parentage=draft.parentage,
                                      content_hash=digest, message=_update_message(draft, "UPDATE")))
        elif previous is not None and known is not None and not remote:
            new.append(PlannedListing(sku=sku, action="new", operation="UPDATE", parentage=draft.parentage,
                                      content_hash=digest, message=_update_message(draft, "UPDATE"),
                                      reason="accepted earlier but no longer on Amazon"))
        elif previous == digest:
            unchanged.append(sku)
        else:
            reason = "exists on Amazon, not yet synced" if previous is None else "content changed"
            if previous is not None and previous.startswith(DISCONTINUED_HASH_PREFIX):
                reactivated.append(sku)
                reason = "reactivated after discontinuation"
            changed.append(PlannedListing(sku=sku, action="changed", operation="PARTIAL_UPDATE",
                                          parentage=draft.parentage, content_hash=digest,
                                          message=_update_message(draft, "PARTIAL_UPDATE"), reason=reason))
    return ListingPlan(new=tuple(new), changed=tuple(changed), unchanged=tuple(unchanged), invalid=tuple(invalid),
                       held=tuple(held), discontinued=tuple(discontinued), reactivated=tuple(reactivated))


def _parent_problem(
    draft: ListingDraft, by_sku: Mapping[str, ListingDraft], on_amazon: Callable[[str], bool]
) -> str | None:
    parent_sku = draft.parent_sku
    if not parent_sku:
        return None  # reported as a violation already
    parent = by_sku.get(parent_sku)
    if parent is None:
        if on_amazon(parent_sku):
            return None
        return f"parent {parent_sku} is not published to this marketplace — flag the matrix parent for it"
    if parent.retired:
        return None if on_amazon(parent_sku) else f"parent {parent_sku} is inactive and was never listed"
    if parent.errors:
        first = parent.errors[0]
        return f"parent {parent_sku} is invalid ({first.path} [{first.rule}]); the child waits for it"
    return None


def _plan_discontinued(
    draft: ListingDraft, why: str, accepted: Mapping[str, str], listed: bool, fba: bool, now: datetime
) -> DiscontinuedListing:
    sku = draft.sku
    if not listed:
        return DiscontinuedListing(sku=sku, status="never_listed", reason=f"{why}; never listed, nothing to flag")
    if draft.parentage == "parent":
        return DiscontinuedListing(sku=sku, status="no_offer",
                                   reason=f"{why}; a variation parent has no offer — its children are flagged")
    if draft.product_type is None:
        return DiscontinuedListing(sku=sku, status="cannot_flag",
                                   reason=f"{why}; cannot flag without a product type — map the item's "
                                          "category in products.product_types")
    digest = discontinued_hash(draft.discontinued_policy, fba=fba)
    if accepted.get(sku) == digest:
        return DiscontinuedListing(sku=sku, status="already_flagged", reason=f"{why}; already flagged on Amazon")
    message = _discontinue_message(draft, fba=fba, now=now)
    if message is None:
        return DiscontinuedListing(sku=sku, status="fba_no_action",
                                   reason=f"{why}; fulfilled by Amazon, quantity is Amazon's — use policy "
                                          "zero_quantity_and_inactive or a removal order")
    planned = PlannedListing(sku=sku, action="discontinued", operation="PATCH", parentage=draft.parentage,
                             content_hash=digest, message=message, reason=why)
    return DiscontinuedListing(sku=sku, status="flag", reason=why, planned=planned)


def to_feed_message(message: Mapping[str, Any], *, keep_message_id: bool = False) -> FeedMessage:
    """A message dict of this module (plan or :func:`delete_messages`) as a ``feeds.FeedMessage``."""
    patches = message.get("patches")
    return FeedMessage(
        sku=message["sku"],
        operation_type=message["operationType"],
        product_type=message.get("productType"),
        attributes=message.get("attributes"),
        requirements=message.get("requirements"),
        patches=tuple(PatchOperation(op=p["op"], path=p["path"], value=tuple(p["value"]) if "value" in p else None)
                      for p in patches) if patches is not None else None,
        message_id=message.get("messageId") if keep_message_id else None,
    )


_SKU_RE = re.compile(r"^\S(.*\S)?\Z")


def delete_messages(skus_requested_explicitly: Iterable[str], *, start_id: int = 1) -> list[dict[str, Any]]:
    """DELETE messages for SKUs a user named explicitly (DAG Param). The only way to delete.

    Names are stripped and de-duplicated (first occurrence wins); an empty name or one longer
    than 40 characters (Amazon's SKU limit) raises ``ValueError`` naming it.
    """
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for raw in skus_requested_explicitly:
        if not isinstance(raw, str):
            raise ValueError(f"SKU to delete must be text, got {type(raw).__name__} {raw!r}")
        sku = raw.strip()
        if not sku or not _SKU_RE.match(sku):
            raise ValueError("empty SKU in the list of SKUs to delete — remove it from the Param")
        if len(sku) > 40:
            raise ValueError(f"SKU {sku[:40]}… is longer than Amazon's 40 characters — check the Param")
        if sku in seen:
            continue
        seen.add(sku)
        out.append({"messageId": start_id + len(out), "sku": sku, "operationType": "DELETE"})
    return out
