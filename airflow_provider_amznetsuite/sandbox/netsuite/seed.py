"""Deterministic seed of the NetSuite sandbox from the shared catalogue (``sandbox/catalog.py``).

Everything is a pure function of ``(seed, catalog_size, now)``:

* currencies USD(1) GBP(2) EUR(4) JPY(6) (``exchangeRate`` = USD value of one unit), subsidiaries,
  locations (warehouses + one FBA location per region; ``custrecord_amz_fba``,
  ``custrecord_amz_marketplace``; the returns bay has ``makeInventoryAvailable`` false), departments,
  classes, the Amazon sales channel, tax codes (``salesTaxItem``), price levels, the settlement chart of
  accounts, one customer per marketplace;
* an ``inventoryItem`` per catalogue SKU (inactive ones inactive, matrix parents ``matrixType`` PARENT,
  children CHILD with ``parent``) with the Amazon custom fields below, and ``serviceSaleItem`` records for
  the catalogue's service items;
* ``inventorybalance`` rows per (active, non-parent) item x warehouse location, and per FBA item x
  FBA location;
* ``pricing`` rows: Base Price (1) in USD/GBP/EUR (+ JPY, the test currency) at tier 0; Amazon Business
  B2B (5) tiers 0 / 10 / 50 (95 % / 90 % / 85 % of base); Amazon Sale (6) at 80 % for every 4th SKU;
  and one future-dated change: SKU-00001 Base Price GBP +10 % effective tomorrow 00:00 Europe/London
  (``pricing.effectivedate``, stored in UTC; ``NULL`` = in force now).

Item fields (``custitem_*`` are custom fields; SuiteQL reads them as columns of ``item``):

* sync settings: ``custitem_amz_publish`` (checkbox), ``custitem_amz_brand``, ``custitem_amz_category``,
  ``custitem_amz_product_type``, ``custitem_amz_safety_stock`` (integer), ``custitem_amz_min_price`` /
  ``custitem_amz_max_price`` (USD) and ``custitem_amz_min_price_<gbp|eur|usd>`` /
  ``custitem_amz_max_price_<gbp|eur|usd>``, ``custitem_amz_fulfillment_channel`` (``AMAZON`` | ``DEFAULT``);
* the products field contract of docs/products.md §1, named exactly as there (:func:`product_fields`):
  localized copy ``custitem_amz_title|description|bullet1..5`` unsuffixed and ``_en_gb`` / ``_de_de`` /
  ``_en_us`` (a few items at the ``_en`` / ``_de`` level or without, see :func:`copy_fields`), images
  ``custitem_amz_image_main`` and ``custitem_amz_image_1..4`` each with ``_width`` / ``_height`` (px),
  identity (``upcCode``, ``custitem_amz_gtin_type``, ``custitem_amz_gtin_exempt``, ``custitem_amz_asin``),
  ``custitem_amz_item_type_keyword``, ``countryOfManufacture``, package dimensions
  ``custitem_amz_pkg_length|width|height`` + ``custitem_amz_pkg_dim_unit`` (cm),
  ``custitem_amz_discontinued``, the matrix fields ``custitem_amz_variation_theme`` (parents: ``SIZE``) and
  ``custitem_amz_var_size`` (children), and ``custitem_amz_attr_<attribute>`` for what the SP-API sandbox's
  product types require (batteries_required, supplier_declared_dg_hz_regulation, material, color, size,
  department, style, manufacturer_minimum_age, manufacturer, model_number).

Every active item is published except the simple SKUs at catalogue positions 13, 26, 39, 52. All of them
make valid listings for every product type and marketplace except ``INVALID_LISTING_SKU`` (SKU-00011: no
GTIN and no exemption). Simple SKUs at multiples of 19 are ``custitem_amz_discontinued``.
Native item fields used: itemId (= SKU), displayName, salesDescription, upcCode (GTIN), weight +
weightUnit (kg), costEstimate (USD), countryOfManufacture, isInactive.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from .. import catalog
from ..spapi.util import asin_for
from .records import RecordService
from .schema import RECORD_TYPES
from .store import Store
from .util import db_ts, quantize

CURRENCY_NAMES = {"USD": "US Dollar", "GBP": "British Pound", "EUR": "Euro", "JPY": "Japanese Yen"}
SUBSIDIARY_COUNTRY = {"1": "US", "2": "GB", "3": "DE", "4": "US"}
WAREHOUSE_LOCATIONS = ("1", "2", "3", "4", "5")
PRICE_CURRENCIES = ("USD", "GBP", "EUR")
TEST_CURRENCY = "JPY"
BASE_LEVEL, B2B_LEVEL, SALE_LEVEL = 1, 5, 6
B2B_TIERS = ((0, Decimal("0.95")), (10, Decimal("0.90")), (50, Decimal("0.85")))
PRODUCT_TYPES = {"Kitchen": "KITCHEN", "Apparel": "SHIRT", "Toys": "TOY_FIGURE", "Home": "HOME"}
LOCALES = {"en_gb": "", "de_de": " (DE)", "en_us": ""}
FUTURE_PRICE_SKU = "SKU-00001"


@dataclass(frozen=True)
class FuturePrice:
    sku: str
    item_id: str
    price_level: int
    currency: str
    current: Decimal
    new: Decimal
    effective_utc: datetime


@dataclass(frozen=True)
class SeedInfo:
    now: datetime
    future_price: FuturePrice | None
    items: int
    inventory_rows: int
    price_rows: int


def _marketplace_of_location() -> dict[str, str]:
    out = {}
    for mp in catalog.MARKETPLACES.values():
        for loc in mp.mfn_location_ids:
            out[loc] = mp.code
        out[mp.fba_location_id] = mp.code
    return out


def list_price(item: catalog.CatalogItem, currency: str) -> Decimal:
    return quantize(item.base_price_usd * catalog.FX_FROM_USD[currency], currency)


def seed(store: Store, service: RecordService, *, seed: int = 42, catalog_size: int = 60,
         now: datetime) -> SeedInfo:
    rng = random.Random(seed)
    with store.tx():
        def put(rtype: str, rid: str, body: dict[str, Any]) -> None:
            service.create(RECORD_TYPES[rtype], body, record_id=int(rid))

        for cid, symbol in catalog.CURRENCIES.items():
            fx = catalog.FX_FROM_USD[symbol]
            put("currency", cid, {"name": CURRENCY_NAMES[symbol], "symbol": symbol,
                                  "exchangeRate": (Decimal(1) / fx).quantize(Decimal("0.000001")),
                                  "currencyPrecision": 0 if symbol == "JPY" else 2, "isBaseCurrency": cid == "1"})
        for sid, sub in catalog.SUBSIDIARIES.items():
            body: dict[str, Any] = {"name": sub["name"], "currency": {"id": sub["currency"]},
                                    "country": SUBSIDIARY_COUNTRY.get(sid, "US")}
            if sid != "1":
                body["parent"] = {"id": "1"}
            put("subsidiary", sid, body)
        mp_of = _marketplace_of_location()
        for lid, loc in catalog.LOCATIONS.items():
            body = {"name": loc["name"], "subsidiary": {"id": loc["subsidiary"]}, "custrecord_amz_fba": loc["fba"],
                    "makeInventoryAvailable": "not sold" not in loc["name"]}
            if lid in mp_of:
                body["custrecord_amz_marketplace"] = mp_of[lid]
            put("location", lid, body)
        for did, name in catalog.DEPARTMENTS.items():
            put("department", did, {"name": name})
        for cid, name in catalog.CLASSES.items():
            put("classification", cid, {"name": name})
        for chid, name in catalog.SALES_CHANNELS.items():
            put("salesChannel", chid, {"name": name})
        for tid, tax in catalog.TAX_CODES.items():
            put("salesTaxItem", tid, {"itemId": tax["name"], "rate": Decimal(tax["rate"])})
        for pid, name in catalog.PRICE_LEVELS.items():
            put("priceLevel", pid, {"name": name})
        for aid, (number, name, acct_type) in catalog.ACCOUNTS.items():
            put("account", aid, {"acctNumber": number, "acctName": name,
                                 "acctType": {"id": acct_type, "refName": acct_type}})
        for cid, cust in catalog.CUSTOMERS.items():
            put("customer", cid, {"entityId": cust["entityId"], "companyName": cust["entityId"],
                                  "subsidiary": {"id": cust["subsidiary"]}, "currency": {"id": cust["currency"]}})
        for sid, name in catalog.SERVICE_ITEMS.items():
            put("serviceSaleItem", sid, {"itemId": name, "displayName": name, "salesDescription": name})

        items = catalog.items(seed, catalog_size)
        by_sku = {i.sku: i for i in items}
        for n, item in enumerate(items, start=1):
            put("inventoryItem", item.internal_id, _item_body(item, by_sku, n))

        inventory_rows = 0
        for item in items:
            if item.is_matrix_parent:
                continue
            iid = int(item.internal_id)
            for loc in WAREHOUSE_LOCATIONS:
                onhand = rng.choice((0, 0, 3, 8, 15, 25, 40, 60, 120)) if not item.inactive else rng.randint(0, 5)
                committed = min(onhand, rng.choice((0, 0, 1, 2, 5)))
                store.set_inventory(iid, int(loc), onhand=onhand, committed=committed,
                                    intransit=rng.choice((0, 0, 0, 4, 10)), onorder=rng.choice((0, 0, 12, 24)),
                                    now=now)
                inventory_rows += 1
            for code in item.fba_marketplaces:
                fba_loc = catalog.MARKETPLACES[code].fba_location_id
                store.set_inventory(iid, int(fba_loc), onhand=rng.randint(0, 80), committed=0, now=now)
                inventory_rows += 1

        price_rows = 0
        for item in items:
            if item.is_matrix_parent:
                continue
            iid = int(item.internal_id)
            for symbol in PRICE_CURRENCIES + (TEST_CURRENCY,):
                cur = int(catalog.CURRENCY_IDS[symbol])
                base = list_price(item, symbol)
                store.set_price(iid, BASE_LEVEL, cur, 0, base)
                price_rows += 1
                if symbol == TEST_CURRENCY:
                    continue
                for tier, factor in B2B_TIERS:
                    store.set_price(iid, B2B_LEVEL, cur, tier, quantize(base * factor, symbol))
                    price_rows += 1
                if int(item.internal_id) % 4 == 0:
                    store.set_price(iid, SALE_LEVEL, cur, 0, quantize(base * Decimal("0.80"), symbol))
                    price_rows += 1

        future = None
        target = by_sku.get(FUTURE_PRICE_SKU)
        if target is not None:
            london = ZoneInfo("Europe/London")
            local_tomorrow = (now.astimezone(london) + timedelta(days=1)).date()
            effective = datetime(local_tomorrow.year, local_tomorrow.month, local_tomorrow.day, tzinfo=london)
            current = list_price(target, "GBP")
            new = quantize(current * Decimal("1.10"), "GBP")
            store.set_price(int(target.internal_id), BASE_LEVEL, int(catalog.CURRENCY_IDS["GBP"]), 0, new,
                            effectivedate=db_ts(effective))
            price_rows += 1
            future = FuturePrice(target.sku, target.internal_id, BASE_LEVEL, "GBP", current, new,
                                 effective.astimezone(now.tzinfo))
        # Let the id sequences restart from the seeded maxima.
        store.conn.execute("DELETE FROM seq WHERE name LIKE 'id:%'")
    return SeedInfo(now, future, len(items), inventory_rows, price_rows)


def _item_body(item: catalog.CatalogItem, by_sku: dict[str, catalog.CatalogItem], n: int) -> dict[str, Any]:
    body: dict[str, Any] = {
        "itemId": item.sku, "displayName": item.display_name,
        "salesDescription": f"{item.display_name} - {item.category}",
        "weight": item.weight_kg, "weightUnit": "kg", "costEstimate": item.cost_usd, "isInactive": item.inactive,
        # published: every active item except the simple SKUs at positions 13, 26, … (a matrix family is
        # published as a whole: a child of an unpublished parent would be held by the products sync)
        "custitem_amz_publish": not item.inactive and (n % 13 != 0 or _is_matrix(item)),
        "custitem_amz_brand": item.brand, "custitem_amz_category": item.category,
        "custitem_amz_product_type": PRODUCT_TYPES.get(item.category, "PRODUCT"),
        "custitem_amz_safety_stock": n % 5,
        "custitem_amz_fulfillment_channel": "AMAZON" if item.fba_marketplaces else "DEFAULT",
    }
    if item.gtin:
        body["upcCode"] = item.gtin
    for symbol in PRICE_CURRENCIES:
        base = list_price(item, symbol)
        body[f"custitem_amz_min_price_{symbol.lower()}"] = quantize(base * Decimal("0.70"), symbol)
        body[f"custitem_amz_max_price_{symbol.lower()}"] = quantize(base * Decimal("1.50"), symbol)
    body["custitem_amz_min_price"] = body["custitem_amz_min_price_usd"]
    body["custitem_amz_max_price"] = body["custitem_amz_max_price_usd"]
    if item.is_matrix_parent:
        body["matrixType"] = "PARENT"
        body["custitem_amz_variation_theme"] = "SIZE"
    elif item.matrix_parent_sku:
        body["matrixType"] = "CHILD"
        body["parent"] = {"id": by_sku[item.matrix_parent_sku].internal_id}
        body["custitem_amz_var_size"] = item.variation.get("size")
    body.update(product_fields(item))
    return body


# --- Amazon product content (docs/products.md §1) ---------------------------------------------------
INVALID_LISTING_SKU = "SKU-00011"
"""The one catalogue item seeded without GTIN *and* without GTIN exemption (every other no-GTIN item is
exempt): its listing is invalid on every marketplace, ``/attributes/externally_assigned_product_identifier
[required]`` — the products demo shows it being reported. Present when ``catalog_size >= 11``."""

SPELLING_US = (("Colour", "Color"), ("colour", "color"), ("Grey", "Gray"), ("grey", "gray"),
               ("guarantee", "warranty"), ("Cushion", "Pillow"), ("cushion", "pillow"))


@dataclass(frozen=True)
class _Term:
    en: str  # British English; US spelling via SPELLING_US
    de: str


COLOURS = (_Term("Navy Blue", "Marineblau"), _Term("Heather Grey", "Grau meliert"),
           _Term("Off-White", "Naturweiß"), _Term("Sage Green", "Salbeigrün"), _Term("Charcoal", "Anthrazit"))
KITCHEN_MATERIALS = (_Term("Stainless Steel", "Edelstahl"), _Term("Bamboo", "Bambus"),
                     _Term("Silicone", "Silikon"), _Term("Cast Iron", "Gusseisen"))
HOME_MATERIALS = (_Term("Linen", "Leinen"), _Term("Cotton", "Baumwolle"), _Term("Velvet", "Samt"))
SHIRT_SIZES = ("S", "M", "L", "XL")
DEPARTMENTS = ("unisex-adult", "mens", "womens")
HOME_STYLES = ("Modern", "Classic", "Scandinavian")
TOY_AGES_MONTHS = (36, 48, 96)
ITEM_TYPE_KEYWORDS = {"Kitchen": "cooking-utensils", "Apparel": "t-shirts", "Toys": "action-figures",
                      "Home": "throw-pillow-covers"}
COUNTRIES = {"Kitchen": ("DE", "CN", "IT"), "Apparel": ("PT", "TR", "IN"), "Toys": ("CN", "VN", "PL"),
             "Home": ("GB", "IN", "PL")}
PACKAGE_CM = {"Kitchen": ("32", "8", "4"), "Apparel": ("30", "24", "3"), "Toys": ("22", "14", "9"),
              "Home": ("46", "46", "4")}
MANUFACTURER = "Sandbox Manufacturing Ltd"
IMAGE_HOST = "https://images.sandbox.invalid"


@dataclass(frozen=True)
class Copy:
    """Customer-facing text of one item in one language: title, description, bullet points."""

    title: str
    description: str
    bullets: tuple[str, ...]


def _us(text: str) -> str:
    for gb, us in SPELLING_US:
        text = text.replace(gb, us)
    return text


def _is_matrix(item: catalog.CatalogItem) -> bool:
    return item.is_matrix_parent or bool(item.matrix_parent_sku)


def _number(item: catalog.CatalogItem) -> int:
    """What the seeded content of an item is derived from: the catalogue number of a simple SKU
    (SKU-00007 -> 7); the family number of a matrix item (MTX-002 and MTX-002-M -> 2), so that a
    family shares colour, department, country and copy."""
    sku = item.matrix_parent_sku or item.sku
    digits = sku.split("-")[1] if "-" in sku else ""
    return int(digits) if digits.isdigit() else int(item.internal_id)


def _english_copy(item: catalog.CatalogItem, k: int) -> Copy:
    """British English copy; :func:`_us` gives the US variant."""
    colour = COLOURS[k % len(COLOURS)].en
    brand = item.brand
    if item.category == "Kitchen":
        material = KITCHEN_MATERIALS[(k // 4) % len(KITCHEN_MATERIALS)].en
        noun = f"{material} Cooking Utensil"
        bullets = (f"{material} head and handle, safe for non-stick pans", "Heat resistant up to 220 °C",
                   "Dishwasher safe", "Hanging loop for easy storage", f"Backed by the {brand} 2-year guarantee")
        description = (f"A {material.lower()} cooking utensil from {brand} for everyday cooking. It does not "
                       "scratch coated pans and goes straight into the dishwasher.")
    elif item.category == "Apparel":
        noun = f"Organic Cotton T-Shirt, {colour}"
        bullets = ("100% organic cotton jersey, 180 g/m²", "Regular fit, true to size",
                   "Colour-fast, machine washable at 30 °C", "Tagless neck label for comfort",
                   "Sizes S to XL")
        description = (f"A soft organic cotton T-shirt from {brand} in {colour.lower()}. Regular fit with a "
                       "ribbed crew neck; the colour stays bright wash after wash.")
    elif item.category == "Toys":
        age = TOY_AGES_MONTHS[k % len(TOY_AGES_MONTHS)] // 12
        noun = "Collectible Action Figure"
        bullets = ("Highly detailed, hand-painted figure", "14 points of articulation",
                   "Includes a display stand", f"Suitable from {age} years", "No batteries required")
        description = (f"A collectible action figure from {brand}, hand-painted and fully poseable, with a "
                       f"display stand. Suitable for children from {age} years.")
    else:
        material = HOME_MATERIALS[k % len(HOME_MATERIALS)].en
        noun = f"{colour} {material} Cushion Cover"
        bullets = (f"{material} cover with a hidden zip", "Fits 45 × 45 cm cushions",
                   "Colour-fast, machine washable at 40 °C", "Cushion insert not included",
                   "OEKO-TEX certified fabric")
        description = (f"A {material.lower()} cushion cover from {brand} in {colour.lower()}. The hidden zip "
                       "keeps the front clean; the colour stays fresh wash after wash.")
    title = f"{brand} {item.display_name} - {noun}"
    return Copy(title, description, bullets[: 3 + k % 3])


def _german_copy(item: catalog.CatalogItem, k: int) -> Copy:
    colour = COLOURS[k % len(COLOURS)].de
    brand = item.brand
    if item.category == "Kitchen":
        material = KITCHEN_MATERIALS[(k // 4) % len(KITCHEN_MATERIALS)].de
        noun = f"Kochutensil aus {material}"
        bullets = (f"Kopf und Griff aus {material}, geeignet für beschichtete Pfannen", "Hitzebeständig bis 220 °C",
                   "Spülmaschinenfest", "Mit Aufhängeöse", f"{brand}: 2 Jahre Garantie")
        description = (f"Kochutensil aus {material} von {brand} für jeden Tag. Zerkratzt keine beschichteten "
                       "Pfannen und darf in die Spülmaschine.")
    elif item.category == "Apparel":
        noun = f"T-Shirt aus Bio-Baumwolle, {colour}"
        bullets = ("100 % Bio-Baumwolle, Single Jersey 180 g/m²", "Normale Passform, fällt größengerecht aus",
                   "Farbecht, waschbar bei 30 °C", "Ohne kratzendes Etikett", "Größen S bis XL")
        description = (f"Weiches T-Shirt aus Bio-Baumwolle von {brand} in {colour}. Normale Passform mit "
                       "Rippbündchen; die Farbe bleibt auch nach vielen Wäschen frisch.")
    elif item.category == "Toys":
        age = TOY_AGES_MONTHS[k % len(TOY_AGES_MONTHS)] // 12
        noun = "Sammelfigur"
        bullets = ("Detailreich und handbemalt", "14 bewegliche Gelenke", "Mit Standfuß",
                   f"Geeignet ab {age} Jahren", "Keine Batterien erforderlich")
        description = (f"Handbemalte, voll bewegliche Sammelfigur von {brand} mit Standfuß. Geeignet für "
                       f"Kinder ab {age} Jahren.")
    else:
        material = HOME_MATERIALS[k % len(HOME_MATERIALS)].de
        noun = f"Kissenbezug aus {material}, {colour}"
        bullets = (f"Bezug aus {material} mit verdecktem Reißverschluss", "Für Kissen 45 × 45 cm",
                   "Farbecht, waschbar bei 40 °C", "Ohne Kissenfüllung", "Stoff nach OEKO-TEX zertifiziert")
        description = (f"Kissenbezug aus {material} von {brand} in {colour}. Der verdeckte Reißverschluss hält "
                       "die Vorderseite sauber.")
    return Copy(f"{brand} {item.display_name} - {noun}", description, bullets[: 3 + k % 3])


def copy_fields(item: catalog.CatalogItem) -> dict[str, str]:
    """``custitem_amz_title|description|bullet1..5[_<locale>]`` of one item (docs/products.md §2).

    Every item has the company's base language (US English) in the unsuffixed fields and localized copy
    in ``_en_gb`` (British spelling), ``_de_de`` (German, title marked ``(DE)``) and ``_en_us``, except
    the items that rely on the fallback chain (simple SKUs by catalogue number ``k``; matrix items
    always carry every locale):

    * ``k % 5 == 0`` (SKU-00005, -00010, …): no ``_en_gb`` / ``_en_us`` fields; Amazon.co.uk and
      Amazon.com read the language-level ``_en`` fields (British spelling);
    * ``k % 6 == 0`` (SKU-00006, -00012, …): German copy at the language level ``_de`` (no ``_de_de``);
    * ``k % 7 == 0`` and ``k % 5 != 0`` (SKU-00007, -00014, …): no ``_en_us`` fields and no unsuffixed
      title: Amazon.com takes the title from ``displayname`` and description and bullets from the
      unsuffixed fields.
    """
    k = _number(item)
    simple = not _is_matrix(item)
    gb = _english_copy(item, k)
    us = Copy(_us(gb.title), _us(gb.description), tuple(_us(b) for b in gb.bullets))
    de = _german_copy(item, k)
    levels: dict[str, Copy] = {"": us}
    language_level_en = simple and k % 5 == 0
    us_from_base = simple and k % 7 == 0 and not language_level_en
    if language_level_en:
        levels["en"] = gb
    else:
        levels["en_gb"] = gb
        if not us_from_base:
            levels["en_us"] = us
    if simple and k % 6 == 0:
        levels["de"] = de
    else:
        levels["de_de"] = Copy(de.title + " (DE)", de.description, de.bullets)
    out: dict[str, str] = {}
    for suffix, text in levels.items():
        tail = f"_{suffix}" if suffix else ""
        if not (suffix == "" and us_from_base):
            out[f"custitem_amz_title{tail}"] = text.title
        out[f"custitem_amz_description{tail}"] = text.description
        for i, bullet in enumerate(text.bullets, start=1):
            out[f"custitem_amz_bullet{i}{tail}"] = bullet
    return out


def _attribute_fields(item: catalog.CatalogItem, k: int) -> dict[str, str]:
    """``custitem_amz_attr_<attribute>`` values the sandbox product types require (plain text or
    Amazon's attribute JSON, docs/products.md §1)."""
    colour = COLOURS[k % len(COLOURS)]
    out = {
        "custitem_amz_attr_batteries_required": '[{"value": false}]',
        "custitem_amz_attr_supplier_declared_dg_hz_regulation": "not_applicable",
        "custitem_amz_attr_manufacturer": MANUFACTURER,
    }
    if not item.is_matrix_parent:
        out["custitem_amz_attr_model_number"] = f"SB-{item.sku}"
    if item.category == "Kitchen":
        out["custitem_amz_attr_material"] = KITCHEN_MATERIALS[(k // 4) % len(KITCHEN_MATERIALS)].en
    elif item.category == "Apparel":
        out["custitem_amz_attr_department"] = DEPARTMENTS[k % len(DEPARTMENTS)]
        out["custitem_amz_attr_material"] = "Organic Cotton"
        if not item.is_matrix_parent:
            out["custitem_amz_attr_color"] = _us(colour.en)
        if not _is_matrix(item):
            out["custitem_amz_attr_size"] = SHIRT_SIZES[k % len(SHIRT_SIZES)]
    elif item.category == "Toys":
        months = TOY_AGES_MONTHS[k % len(TOY_AGES_MONTHS)]
        out["custitem_amz_attr_manufacturer_minimum_age"] = f'[{{"value": {months}, "unit": "months"}}]'
    else:
        out["custitem_amz_attr_color"] = _us(colour.en)
        out["custitem_amz_attr_material"] = HOME_MATERIALS[k % len(HOME_MATERIALS)].en
        out["custitem_amz_attr_style"] = HOME_STYLES[k % len(HOME_STYLES)]
    return out


def product_fields(item: catalog.CatalogItem) -> dict[str, Any]:
    """Every docs/products.md field of one seeded item except the ones ``_item_body`` sets
    (SKU, names, GTIN, weight, matrix structure, publish flag, brand, category)."""
    matrix = _is_matrix(item)
    k = _number(item)
    body: dict[str, Any] = dict(copy_fields(item))
    body.update(_attribute_fields(item, k))
    body["countryOfManufacture"] = COUNTRIES[item.category][k % 3]
    body["custitem_amz_item_type_keyword"] = ITEM_TYPE_KEYWORDS[item.category]
    body["custitem_amz_discontinued"] = not matrix and not item.inactive and k % 19 == 0
    # Identity of buyable SKUs: GTIN (type given on every second one, otherwise derived from its length),
    # the ASIN Amazon shows for FBA SKUs, the GTIN exemption for the no-GTIN items except the invalid one.
    if item.gtin and k % 2 == 0:
        body["custitem_amz_gtin_type"] = "ean"
    body["custitem_amz_gtin_exempt"] = (not item.gtin and not item.is_matrix_parent
                                        and item.sku != INVALID_LISTING_SKU)
    if item.fba_marketplaces:
        body["custitem_amz_asin"] = asin_for(item.sku)
    # Images (pixel sizes in the _width / _height fields; every image is at least 1000 px).
    main = 2000 if k % 2 else 1600
    body["custitem_amz_image_main"] = f"{IMAGE_HOST}/{item.sku}/main.jpg"
    body["custitem_amz_image_main_width"] = main
    body["custitem_amz_image_main_height"] = main
    for slot in range(1, (2 if matrix else 1 + k % 4) + 1):
        body[f"custitem_amz_image_{slot}"] = f"{IMAGE_HOST}/{item.sku}/{slot}.jpg"
        body[f"custitem_amz_image_{slot}_width"] = 1500
        body[f"custitem_amz_image_{slot}_height"] = 1000 + 100 * slot
    length, width, height = (Decimal(v) for v in PACKAGE_CM[item.category])
    body["custitem_amz_pkg_length"] = length + Decimal(k % 5) / 2
    body["custitem_amz_pkg_width"] = width
    body["custitem_amz_pkg_height"] = height
    body["custitem_amz_pkg_dim_unit"] = "cm"
    return body
