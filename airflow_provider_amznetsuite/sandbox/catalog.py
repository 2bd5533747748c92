"""Seeded reference data shared by the SP-API and NetSuite sandboxes.

Both sandboxes draw from this one catalogue so that an Amazon SKU in a sandbox order has a matching
NetSuite item, a NetSuite location maps to a marketplace, and settlement lines refer to real orders.
It is sandbox code: it never imports the provider's product code (hooks, domain, operators) — the
sandboxes are an independent implementation of Amazon and NetSuite.

Everything here is a pure function of (seed, size), so two processes agree without talking.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache

# --- marketplaces ---------------------------------------------------------------------------
@dataclass(frozen=True)
class SandboxMarketplace:
    code: str
    marketplace_id: str
    country: str
    region: str
    currency: str
    language_tag: str
    timezone: str
    subsidiary_id: str
    customer_id: str
    mfn_location_ids: tuple[str, ...]
    fba_location_id: str
    vat_rate: Decimal
    marketplace_name: str  # as in settlement reports


MARKETPLACES: dict[str, SandboxMarketplace] = {
    "uk": SandboxMarketplace("uk", "A1F83G8C2ARO7P", "UK", "eu", "GBP", "en_GB", "Europe/London",
                             "2", "101", ("1",), "11", Decimal("0.20"), "Amazon.co.uk"),
    "de": SandboxMarketplace("de", "A1PA6795UKMFR9", "DE", "eu", "EUR", "de_DE", "Europe/Berlin",
                             "3", "102", ("2",), "12", Decimal("0.19"), "Amazon.de"),
    "us": SandboxMarketplace("us", "ATVPDKIKX0DER", "US", "na", "USD", "en_US", "America/New_York",
                             "4", "103", ("3", "4"), "13", Decimal("0"), "Amazon.com"),
}
BY_MARKETPLACE_ID = {m.marketplace_id: m for m in MARKETPLACES.values()}

# --- NetSuite reference records -------------------------------------------------------------
SUBSIDIARIES = {
    "1": {"name": "Parent Company", "currency": "1"},
    "2": {"name": "Example Trading UK Ltd", "currency": "2"},
    "3": {"name": "Example Trading GmbH", "currency": "4"},
    "4": {"name": "Example Trading US Inc", "currency": "1"},
}
CURRENCIES = {"1": "USD", "2": "GBP", "4": "EUR", "6": "JPY"}
CURRENCY_IDS = {v: k for k, v in CURRENCIES.items()}
LOCATIONS = {
    "1": {"name": "UK Warehouse", "subsidiary": "2", "fba": False},
    "2": {"name": "DE Warehouse", "subsidiary": "3", "fba": False},
    "3": {"name": "US Warehouse East", "subsidiary": "4", "fba": False},
    "4": {"name": "US Warehouse West", "subsidiary": "4", "fba": False},
    "5": {"name": "Returns Bay (not sold on Amazon)", "subsidiary": "2", "fba": False},
    "11": {"name": "Amazon FBA UK", "subsidiary": "2", "fba": True},
    "12": {"name": "Amazon FBA DE", "subsidiary": "3", "fba": True},
    "13": {"name": "Amazon FBA US", "subsidiary": "4", "fba": True},
}
CUSTOMERS = {
    "101": {"entityId": "Amazon UK Customer", "subsidiary": "2", "currency": "2"},
    "102": {"entityId": "Amazon DE Customer", "subsidiary": "3", "currency": "4"},
    "103": {"entityId": "Amazon US Customer", "subsidiary": "4", "currency": "1"},
}
SALES_CHANNELS = {"1": "Amazon"}
DEPARTMENTS = {"3": "E-commerce"}
CLASSES = {"4": "Marketplace", "5": "Marketplace EU", "6": "Marketplace NA"}
TAX_CODES = {
    "10": {"name": "UK VAT 20%", "rate": "20"},
    "11": {"name": "DE USt 19%", "rate": "19"},
    "12": {"name": "US Seller-collected Sales Tax", "rate": "0"},
    "20": {"name": "Not Taxable - Marketplace Collected", "rate": "0"},
}
# Non-inventory / service items used on orders.
SERVICE_ITEMS = {
    "900": "Amazon Shipping Charge",
    "901": "Amazon Gift Wrap",
    "902": "Amazon Promotion Discount",
    "903": "Amazon Marketplace Tax Clearing",
    "904": "Amazon Delivery Tip",
    "905": "Amazon COD Fee",
    "906": "Amazon Other Charge",
}
PRICE_LEVELS = {"1": "Base Price", "5": "Amazon Business (B2B)", "6": "Amazon Sale"}

# Chart of accounts for the default settlement GL map (id -> (number, name, type)).
ACCOUNTS = {
    "110": ("1010", "Operating Bank", "Bank"),
    "111": ("1015", "Amazon Clearing", "Bank"),
    "120": ("1250", "Amazon Reserve Receivable", "OthCurrAsset"),
    "210": ("2200", "Sales Tax / VAT Payable", "OthCurrLiab"),
    "211": ("2210", "Marketplace Tax Clearing", "OthCurrLiab"),
    "220": ("2500", "Amazon Lending Loan", "LongTermLiab"),
    "400": ("4000", "Amazon Sales", "Income"),
    "401": ("4010", "Shipping Income", "Income"),
    "402": ("4020", "Gift Wrap Income", "Income"),
    "403": ("4050", "Promotional Discounts", "Income"),
    "404": ("4060", "Sales Returns and Allowances", "Income"),
    "405": ("4070", "A-to-z Claims", "Income"),
    "406": ("4080", "Chargebacks", "Income"),
    "410": ("4500", "FBA Reimbursements", "OthIncome"),
    "411": ("4510", "FBA Reimbursement Reversals", "OthIncome"),
    "500": ("6100", "Amazon Selling Fees", "Expense"),
    "501": ("6110", "FBA Fulfilment Fees", "Expense"),
    "502": ("6120", "FBA Storage Fees", "Expense"),
    "503": ("6130", "Advertising", "Expense"),
    "504": ("6140", "Seller Subscription", "Expense"),
    "505": ("6150", "Other Amazon Fees", "Expense"),
    "510": ("5100", "FBA Inventory Adjustments", "COGS"),
    "599": ("9999", "Amazon Suspense", "OthCurrLiab"),
}

# --- items / SKUs ---------------------------------------------------------------------------
MATRIX_SIZES = ("S", "M", "L")
CATEGORIES = ("Kitchen", "Apparel", "Toys", "Home")


@dataclass(frozen=True)
class CatalogItem:
    internal_id: str
    sku: str
    display_name: str
    category: str
    brand: str
    gtin: str | None
    base_price_usd: Decimal  # list price reference; per-currency prices derive from it
    cost_usd: Decimal
    weight_kg: Decimal
    inactive: bool = False
    matrix_parent_sku: str | None = None  # set on matrix children
    is_matrix_parent: bool = False
    variation: dict[str, str] = field(default_factory=dict)
    fba_marketplaces: tuple[str, ...] = ()  # marketplace codes where this SKU is fulfilled by Amazon


def _gtin13(n: int) -> str:
    body = f"500{n:09d}"
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


@lru_cache(maxsize=8)
def items(seed: int = 42, size: int = 60) -> tuple[CatalogItem, ...]:
    """The sandbox catalogue: ``size`` simple SKUs plus a few matrix families.

    - every 3rd simple SKU is fulfilled by Amazon (FBA) in every marketplace;
    - every 17th is inactive (discontinued) in NetSuite;
    - families MTX-<k> have children MTX-<k>-S/M/L (variation theme SIZE).
    """
    rng = random.Random(seed)
    out: list[CatalogItem] = []
    for n in range(1, size + 1):
        price = Decimal(rng.randint(499, 9999)) / 100
        out.append(CatalogItem(
            internal_id=str(1000 + n), sku=f"SKU-{n:05d}", display_name=f"Sandbox Product {n}",
            category=CATEGORIES[n % len(CATEGORIES)], brand="Sandbox Brand",
            gtin=_gtin13(n) if n % 11 else None, base_price_usd=price,
            cost_usd=(price * Decimal("0.45")).quantize(Decimal("0.01")),
            weight_kg=Decimal(rng.randint(100, 3000)) / 1000, inactive=(n % 17 == 0),
            fba_marketplaces=tuple(MARKETPLACES) if n % 3 == 0 else (),
        ))
    families = max(1, min(5, size // 20))
    next_id = 1000 + size + 1
    for k in range(1, families + 1):
        parent_sku = f"MTX-{k:03d}"
        price = Decimal(rng.randint(1499, 3999)) / 100
        out.append(CatalogItem(
            internal_id=str(next_id), sku=parent_sku, display_name=f"Sandbox T-Shirt {k}", category="Apparel",
            brand="Sandbox Brand", gtin=None, base_price_usd=price, cost_usd=price / 2, weight_kg=Decimal("0.2"),
            is_matrix_parent=True))
        next_id += 1
        for s_i, size_name in enumerate(MATRIX_SIZES):
            out.append(CatalogItem(
                internal_id=str(next_id), sku=f"{parent_sku}-{size_name}", display_name=f"Sandbox T-Shirt {k} {size_name}",
                category="Apparel", brand="Sandbox Brand", gtin=_gtin13(900000 + k * 10 + s_i),
                base_price_usd=price, cost_usd=(price / 2).quantize(Decimal("0.01")), weight_kg=Decimal("0.2"),
                matrix_parent_sku=parent_sku, variation={"size": size_name}))
            next_id += 1
    return tuple(out)


def sellable_items(seed: int = 42, size: int = 60) -> tuple[CatalogItem, ...]:
    """Items that can appear on orders (active, not matrix parents)."""
    return tuple(i for i in items(seed, size) if not i.inactive and not i.is_matrix_parent)


def item_by_sku(seed: int = 42, size: int = 60) -> dict[str, CatalogItem]:
    return {i.sku: i for i in items(seed, size)}


# Deterministic FX used only to derive sandbox list prices per currency.
FX_FROM_USD = {"USD": Decimal("1"), "GBP": Decimal("0.79"), "EUR": Decimal("0.92"), "JPY": Decimal("150")}

# A SKU that Amazon sells but NetSuite does not know (drives the unknown-SKU quarantine path).
UNKNOWN_SKU = "SKU-UNKNOWN-1"
