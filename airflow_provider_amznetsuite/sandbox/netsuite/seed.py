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

Item custom fields (``custitem_*``; SuiteQL reads them as columns of ``item``):
``custitem_amz_publish`` (checkbox), ``custitem_amz_brand``, ``custitem_amz_category``,
``custitem_amz_product_type``, ``custitem_amz_safety_stock`` (integer), ``custitem_amz_min_price`` /
``custitem_amz_max_price`` (USD) and ``custitem_amz_min_price_<gbp|eur|usd>`` /
``custitem_amz_max_price_<gbp|eur|usd>`` (per currency), ``custitem_amz_title_<en_gb|de_de|en_us>``,
``custitem_amz_description_<en_gb|de_de|en_us>``, ``custitem_amz_image_url_1`` / ``_2``,
``custitem_amz_fulfillment_channel`` (``AMAZON`` for FBA SKUs, else ``DEFAULT``),
``custitem_amz_variation_theme`` (matrix parents: ``SIZE``), ``custitem_amz_size`` (matrix children).
Native item fields used: itemId (= SKU), displayName, salesDescription, upcCode (GTIN), weight +
weightUnit (kg), costEstimate (USD), isInactive.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from .. import catalog
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
        "custitem_amz_publish": not item.inactive and n % 13 != 0,
        "custitem_amz_brand": item.brand, "custitem_amz_category": item.category,
        "custitem_amz_product_type": PRODUCT_TYPES.get(item.category, "PRODUCT"),
        "custitem_amz_safety_stock": n % 5,
        "custitem_amz_fulfillment_channel": "AMAZON" if item.fba_marketplaces else "DEFAULT",
        "custitem_amz_image_url_1": f"https://images.sandbox.invalid/{item.sku}/main.jpg",
        "custitem_amz_image_url_2": f"https://images.sandbox.invalid/{item.sku}/alt1.jpg",
    }
    if item.gtin:
        body["upcCode"] = item.gtin
    for symbol in PRICE_CURRENCIES:
        base = list_price(item, symbol)
        body[f"custitem_amz_min_price_{symbol.lower()}"] = quantize(base * Decimal("0.70"), symbol)
        body[f"custitem_amz_max_price_{symbol.lower()}"] = quantize(base * Decimal("1.50"), symbol)
    body["custitem_amz_min_price"] = body["custitem_amz_min_price_usd"]
    body["custitem_amz_max_price"] = body["custitem_amz_max_price_usd"]
    for locale, suffix in LOCALES.items():
        body[f"custitem_amz_title_{locale}"] = f"{item.brand} {item.display_name}{suffix}"
        body[f"custitem_amz_description_{locale}"] = (
            f"Sandbox description of {item.display_name} ({item.category})" if locale != "de_de"
            else f"Sandbox-Beschreibung von {item.display_name} ({item.category})")
    if item.is_matrix_parent:
        body["matrixType"] = "PARENT"
        body["custitem_amz_variation_theme"] = "SIZE"
    elif item.matrix_parent_sku:
        body["matrixType"] = "CHILD"
        body["parent"] = {"id": by_sku[item.matrix_parent_sku].internal_id}
        body["custitem_amz_size"] = item.variation.get("size")
    return body
