"""The sandbox listing store (per SKU x marketplace) and JSON-patch semantics on ``/attributes/*``.

Patch semantics (Listings Items API ``PatchOperation``; only top-level attributes can be patched):

* ``add``: each value replaces the existing entry with the same selector values, else it is appended;
* ``replace``: the attribute becomes exactly ``value``;
* ``merge``: each value must carry every selector field of the attribute; it is deep-merged into
  the entry with the same selector values (appended when none), so e.g. a quantity can change
  without resending ``lead_time_to_ship_max_days``;
* ``delete``: with ``value``, entries matching the given selector values are removed; without, the
  whole attribute is removed.

Selectors come from the product type schema (``fulfillment_availability`` → fulfillment_channel_code,
``purchasable_offer`` → marketplace_id/currency/audience, text attributes → marketplace_id/language_tag);
a missing ``marketplace_id`` means the listing's marketplace and a missing ``audience`` means ALL.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from airflow_provider_amznetsuite.sandbox import catalog
from airflow_provider_amznetsuite.sandbox.spapi import product_types as pt
from airflow_provider_amznetsuite.sandbox.spapi.marketplaces import LISTING_ONLY
from airflow_provider_amznetsuite.sandbox.spapi.orders import list_price
from airflow_provider_amznetsuite.sandbox.spapi.util import asin_for, fnsku_for, iso, q2, stable_rng

LISTING_INCLUDED_DATA = ("summaries", "attributes", "issues", "offers", "fulfillmentAvailability", "procurement",
                         "relationships", "productTypes")
FBA_CHANNEL = {"eu": "AMAZON_EU", "na": "AMAZON_NA"}


class PatchError(ValueError):
    def __init__(self, message: str, attribute: str | None = None) -> None:
        super().__init__(message)
        self.attribute = attribute


@dataclass
class Listing:
    sku: str
    marketplace_id: str
    product_type: str
    attributes: dict[str, Any]
    created: datetime
    updated: datetime
    issues: list[dict[str, Any]] = field(default_factory=list)
    asin: str = ""

    def __post_init__(self) -> None:
        if not self.asin:
            self.asin = asin_for(self.sku)

    # derived views ---------------------------------------------------------------------------
    def _first_value(self, attr: str) -> Any:
        values = self.attributes.get(attr) or []
        return values[0].get("value") if values and isinstance(values[0], dict) else None

    def offers(self) -> list[dict[str, Any]]:
        out = []
        for offer in self.attributes.get("purchasable_offer") or []:
            try:
                value = offer["our_price"][0]["schedule"][0]["value_with_tax"]
            except (KeyError, IndexError, TypeError):
                continue
            audience = offer.get("audience", "ALL")
            out.append({"marketplaceId": offer.get("marketplace_id", self.marketplace_id),
                        "offerType": "B2B" if audience == "B2B" else "B2C",
                        "price": {"currencyCode": offer.get("currency", ""), "amount": str(value)},
                        "audience": {"value": audience,
                                     "displayName": "Amazon Business (B2B)" if audience == "B2B" else "Sell on Amazon"}})
        return out

    def fulfillment(self) -> list[dict[str, Any]]:
        out = []
        for fa in self.attributes.get("fulfillment_availability") or []:
            if not isinstance(fa, dict) or "fulfillment_channel_code" not in fa:
                continue
            entry: dict[str, Any] = {"fulfillmentChannelCode": fa["fulfillment_channel_code"]}
            if isinstance(fa.get("quantity"), int):
                entry["quantity"] = fa["quantity"]
            out.append(entry)
        return out

    def status(self) -> list[str]:
        if self._first_value("parentage_level") == "parent":
            return ["DISCOVERABLE"]
        buyable = bool(self.offers()) and any(
            f["fulfillmentChannelCode"] != "DEFAULT" or f.get("quantity", 0) > 0 for f in self.fulfillment())
        return ["BUYABLE", "DISCOVERABLE"] if buyable else ["DISCOVERABLE"]

    def to_item(self, included: list[str] | tuple[str, ...] = ("summaries",)) -> dict[str, Any]:
        """A Listings Items API ``Item``."""
        item: dict[str, Any] = {"sku": self.sku}
        inc = set(included)
        if "summaries" in inc:
            summary: dict[str, Any] = {"marketplaceId": self.marketplace_id, "asin": self.asin,
                                       "productType": self.product_type, "status": self.status(),
                                       "fnSku": fnsku_for(self.sku),
                                       "createdDate": iso(self.created), "lastUpdatedDate": iso(self.updated)}
            cond = self._first_value("condition_type")
            if cond in ("new_new", "new_open_box", "new_oem", "refurbished_refurbished", "used_like_new",
                        "used_very_good", "used_good", "used_acceptable", "collectible_like_new",
                        "collectible_very_good", "collectible_good", "collectible_acceptable", "club_club"):
                summary["conditionType"] = cond
            name = self._first_value("item_name")
            if isinstance(name, str):
                summary["itemName"] = name
            item["summaries"] = [summary]
        if "attributes" in inc:
            item["attributes"] = copy.deepcopy(self.attributes)
        if "issues" in inc:
            item["issues"] = copy.deepcopy(self.issues)
        if "offers" in inc:
            item["offers"] = self.offers()
        if "fulfillmentAvailability" in inc:
            item["fulfillmentAvailability"] = self.fulfillment()
        if "procurement" in inc:
            item["procurement"] = []
        if "relationships" in inc:
            rels = []
            for rel in self.attributes.get("child_parent_sku_relationship") or []:
                if isinstance(rel, dict) and rel.get("parent_sku"):
                    rels.append({"type": "VARIATION", "parentSkus": [rel["parent_sku"]],
                                 "variationTheme": {"attributes": ["size"], "theme": "SIZE"}})
            item["relationships"] = [{"marketplaceId": self.marketplace_id, "relationships": rels}]
        if "productTypes" in inc:
            item["productTypes"] = [{"marketplaceId": self.marketplace_id, "productType": self.product_type}]
        return item

    def to_state(self) -> dict[str, Any]:
        return {"sku": self.sku, "marketplaceId": self.marketplace_id, "productType": self.product_type,
                "asin": self.asin, "status": self.status(), "attributes": copy.deepcopy(self.attributes),
                "issues": copy.deepcopy(self.issues), "createdDate": iso(self.created),
                "lastUpdatedDate": iso(self.updated)}


def _key(entry: Any, selectors: list[str], marketplace_id: str) -> tuple[str, ...]:
    if not isinstance(entry, dict):
        return (json.dumps(entry, sort_keys=True),)
    out = []
    for s in selectors:
        default = marketplace_id if s == "marketplace_id" else pt.SELECTOR_DEFAULTS.get(s)
        out.append(json.dumps(entry.get(s, default), sort_keys=True))
    return tuple(out)


def _deep_merge(base: Any, extra: Any) -> Any:
    if isinstance(base, dict) and isinstance(extra, dict):
        out = dict(base)
        for k, v in extra.items():
            out[k] = _deep_merge(base.get(k), v) if k in base else copy.deepcopy(v)
        return out
    return copy.deepcopy(extra)


def apply_patches(attributes: dict[str, Any], patches: list[dict[str, Any]], *, product_type: str,
                  marketplace_id: str) -> tuple[dict[str, Any], set[str]]:
    """Apply patch operations; returns (new attributes, names of touched attributes)."""
    out = copy.deepcopy(attributes)
    touched: set[str] = set()
    for i, patch in enumerate(patches):
        op = patch.get("op")
        path = patch.get("path", "")
        parts = path.split("/")
        if len(parts) != 3 or parts[0] != "" or parts[1] != "attributes" or not parts[2]:
            raise PatchError(f"patches[{i}].path '{path}' is not supported: only top-level attributes can be "
                             "patched, as '/attributes/<attribute_name>'.")
        name = parts[2]
        value = patch.get("value")
        if op in ("add", "replace", "merge") and not isinstance(value, list):
            raise PatchError(f"patches[{i}] ('{op}' on {path}) needs a 'value' array.", name)
        selectors = pt.selectors_for(product_type, name)
        current = out.get(name) or []
        if op == "replace":
            out[name] = copy.deepcopy(value)
        elif op == "add":
            merged = list(current)
            for entry in value or []:
                k = _key(entry, selectors, marketplace_id)
                idx = next((j for j, e in enumerate(merged) if _key(e, selectors, marketplace_id) == k
                            and len(selectors) > 0 and not _multi_valued(product_type, name)), None)
                if idx is None:
                    merged.append(copy.deepcopy(entry))
                else:
                    merged[idx] = copy.deepcopy(entry)
            out[name] = merged
        elif op == "merge":
            merged = list(current)
            for entry in value or []:
                missing = [s for s in selectors if s not in entry and s not in ("marketplace_id", "language_tag")]
                if missing:
                    raise PatchError(f"patches[{i}] ('merge' on {path}) must include the selector field(s) "
                                     f"{missing} in every value.", name)
                k = _key(entry, selectors, marketplace_id)
                idx = next((j for j, e in enumerate(merged) if _key(e, selectors, marketplace_id) == k), None)
                if idx is None:
                    merged.append(copy.deepcopy(entry))
                else:
                    merged[idx] = _deep_merge(merged[idx], entry)
            out[name] = merged
        elif op == "delete":
            if value:
                keys = {_key(e, selectors, marketplace_id) for e in value}
                remaining = [e for e in current if _key(e, selectors, marketplace_id) not in keys]
                if remaining:
                    out[name] = remaining
                else:
                    out.pop(name, None)
            else:
                out.pop(name, None)
        else:
            raise PatchError(f"patches[{i}].op '{op}' is not one of add, replace, merge, delete.", name)
        touched.add(name)
    return out, touched


def _multi_valued(product_type: str, name: str) -> bool:
    """Attributes such as bullet_point hold several values per selector set: ``add`` appends."""
    return name in ("bullet_point", "material")


class ListingStore:
    def __init__(self) -> None:
        self.items: dict[tuple[str, str], Listing] = {}

    def get(self, sku: str, marketplace_id: str) -> Listing | None:
        return self.items.get((sku, marketplace_id))

    def put(self, sku: str, marketplace_id: str, product_type: str, attributes: dict[str, Any], now: datetime,
            issues: list[dict[str, Any]] | None = None) -> Listing:
        existing = self.items.get((sku, marketplace_id))
        listing = Listing(sku=sku, marketplace_id=marketplace_id, product_type=product_type,
                          attributes=copy.deepcopy(attributes), created=existing.created if existing else now,
                          updated=now, issues=[i for i in (issues or []) if i["severity"] != "ERROR"])
        self.items[(sku, marketplace_id)] = listing
        return listing

    def delete(self, sku: str, marketplace_id: str) -> bool:
        return self.items.pop((sku, marketplace_id), None) is not None

    def listings(self, sku: str | None = None, marketplace_id: str | None = None) -> list[Listing]:
        return [v for (s, m), v in sorted(self.items.items())
                if (sku is None or s == sku) and (marketplace_id is None or m == marketplace_id)]

    def seed(self, seed: int, catalog_size: int, now: datetime) -> None:
        """Existing listings for every catalogue SKU (and the SKU NetSuite does not know) per marketplace.

        The listing-only marketplaces (Amazon JP) draw from their own random stream, so the uk/de/us
        listings are the same with or without them."""
        created = now - timedelta(days=365)
        unknown = catalog.CatalogItem(internal_id="0", sku=catalog.UNKNOWN_SKU, display_name="Sandbox product unknown to NetSuite",
                                      category="Home", brand="Sandbox Brand", gtin=None,
                                      base_price_usd=Decimal("12.99"), cost_usd=Decimal("5.00"),
                                      weight_kg=Decimal("0.3"))
        for marketplaces, rng in ((catalog.MARKETPLACES, stable_rng("listings", seed, catalog_size)),
                                  (LISTING_ONLY, stable_rng("listings-listing-only", seed, catalog_size))):
            for mp in marketplaces.values():
                for item in catalog.items(seed, catalog_size):
                    self._seed_one(rng, mp, item, created)
                self._seed_one(rng, mp, unknown, created)

    def _seed_one(self, rng: Any, mp: catalog.SandboxMarketplace, item: catalog.CatalogItem, created: datetime) -> None:
        mid = mp.marketplace_id
        lang = pt.LANGUAGES[mp.code][0]
        ptype = "SHIRT" if item.is_matrix_parent or item.matrix_parent_sku else pt.product_type_for_category(item.category)
        attrs: dict[str, Any] = {
            "item_name": [{"value": item.display_name, "language_tag": lang, "marketplace_id": mid}],
            "brand": [{"value": item.brand, "language_tag": lang, "marketplace_id": mid}],
        }
        if item.is_matrix_parent:
            attrs["parentage_level"] = [{"value": "parent", "marketplace_id": mid}]
            attrs["variation_theme"] = [{"name": "SIZE"}]
        else:
            attrs["condition_type"] = [{"value": "new_new", "marketplace_id": mid}]
            value: float | int
            if mp.code in LISTING_ONLY:  # JPY: whole yen, consumption tax included
                value = int((item.base_price_usd * catalog.FX_FROM_USD[mp.currency]).quantize(Decimal("1")))
            else:
                gross = list_price(item, mp.code)
                if mp.currency != "USD":
                    gross = q2(gross * (1 + mp.vat_rate))
                value = float(gross)
            attrs["purchasable_offer"] = [{"marketplace_id": mid, "currency": mp.currency, "audience": "ALL",
                                           "our_price": [{"schedule": [{"value_with_tax": value}]}]}]
            if mp.code in item.fba_marketplaces:
                attrs["fulfillment_availability"] = [{"fulfillment_channel_code": FBA_CHANNEL[mp.region]}]
            else:
                attrs["fulfillment_availability"] = [{"fulfillment_channel_code": "DEFAULT",
                                                      "quantity": 0 if item.inactive else rng.randint(0, 40)}]
            if item.gtin:
                attrs["externally_assigned_product_identifier"] = [{"type": "ean", "value": item.gtin,
                                                                    "marketplace_id": mid}]
            if item.matrix_parent_sku:
                attrs["parentage_level"] = [{"value": "child", "marketplace_id": mid}]
                attrs["child_parent_sku_relationship"] = [{"child_relationship_type": "variation",
                                                           "parent_sku": item.matrix_parent_sku, "marketplace_id": mid}]
                attrs["size"] = [{"value": item.variation.get("size", "M"), "language_tag": lang, "marketplace_id": mid}]
        self.items[(item.sku, mid)] = Listing(sku=item.sku, marketplace_id=mid, product_type=ptype, attributes=attrs,
                                              created=created, updated=created)
