"""Marketplaces the SP-API sandbox knows.

The shared catalogue (``sandbox/catalog.py``) defines uk/de/us: they carry orders, FBA stock, reports and
settlements, and the NetSuite sandbox maps them to subsidiaries. The SP-API sandbox additionally knows
**listing-only** marketplaces — today Amazon JP (``A1VC38T7YXB528``, region ``fe``, JPY, 10 % consumption
tax included in prices): seeded listings, the Listings Items API, product type definitions and
``JSON_LISTINGS_FEED`` accept them, so a JPY offer can be pushed and read back. They generate no orders,
FBA stock, reports or settlements, so adding one leaves everything seeded for uk/de/us unchanged.
"""

from __future__ import annotations

from decimal import Decimal

from airflow_provider_amznetsuite.sandbox import catalog

LISTING_ONLY: dict[str, catalog.SandboxMarketplace] = {
    "jp": catalog.SandboxMarketplace("jp", "A1VC38T7YXB528", "JP", "fe", "JPY", "ja_JP", "Asia/Tokyo",
                                     subsidiary_id="", customer_id="", mfn_location_ids=(), fba_location_id="",
                                     vat_rate=Decimal("0.10"), marketplace_name="Amazon.co.jp"),
}
# Every marketplace with listings: the catalogue's plus the listing-only ones.
LISTING_MARKETPLACES: dict[str, catalog.SandboxMarketplace] = {**catalog.MARKETPLACES, **LISTING_ONLY}
LISTING_BY_ID: dict[str, catalog.SandboxMarketplace] = {m.marketplace_id: m for m in LISTING_MARKETPLACES.values()}
