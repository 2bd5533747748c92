"""Inventory sync operators (``amazon_<code>_inventory``): NetSuite stock → Amazon MFN quantities, and
Amazon FBA stock → NetSuite's FBA location.

Tasks (each a thin operator; payloads live in the sync-state database, XCom carries refs and counts):

``read_netsuite_stock`` (:class:`ReadNetSuiteStockOperator`)
    One keyset-paged SuiteQL pass over ``aggregateItemLocation`` per mapped MFN location (key: item
    id, unique within a location), joined to ``item`` for the SKU (``itemid``), ``isinactive``, the
    safety-stock field, the optional FBA flag field and the optional category field. Rows are
    validated (``domain.inventory.InventoryRow``); a malformed row quarantines its SKU instead of
    stopping the run. Other active locations of the marketplace's subsidiary are counted with one
    aggregate query so unmapped stock can be reported. The FBA SKU set is read from Amazon
    (``getInventorySummaries``; every SKU Amazon reports in the marketplace's FBA inventory) plus items
    whose NetSuite FBA flag field says ``AMAZON``/``AMAZON_*``/checked.
``plan_inventory_push`` (:class:`PlanInventoryPushOperator`)
    ``compute_sellable`` → ``compute_deltas`` against the accepted quantities (Params ``full_push``,
    ``skus``), plus SKUs still in quarantine; builds PATCH ``merge`` messages on
    ``/attributes/fulfillment_availability`` and packs them into JSON_LISTINGS_FEED documents (or the
    ``direct`` patchListingsItem list for small deltas) for :class:`~.feeds.ListingsFeedPushOperator`.
``mirror_fba_stock`` (:class:`MirrorFbaStockOperator`)
    Amazon FBA fulfillable → NetSuite FBA location as ``inventoryAdjustment`` records, one plan per
    window stored before posting, create-if-absent by external id.
``inventory_report`` (:class:`InventoryReportOperator`)
    One summary per run; fails visibly when anything was quarantined (unless ``allow_quarantine``) or a
    step did not finish.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from typing import Any, NamedTuple, cast
from zoneinfo import ZoneInfo

from airflow_provider_amznetsuite.domain.feeds import MAX_BYTES, MAX_MESSAGES, plan_listings_feeds
from airflow_provider_amznetsuite.domain.inventory import (
    MAX_ADJUSTMENT_LINES,
    InventoryRow,
    compute_deltas,
    compute_sellable,
    fba_adjustment,
    inventory_feed_messages,
    window_key_for,
)
from airflow_provider_amznetsuite.domain.listings import NetSuiteItem, product_type_for
from airflow_provider_amznetsuite.hooks.netsuite import NetSuiteHook
from airflow_provider_amznetsuite.hooks.netsuite_errors import NetSuiteError
from airflow_provider_amznetsuite.hooks.spapi import SpApiHook
from airflow_provider_amznetsuite.operators.base import MarketplaceOperator, resolve_window

SYNC = "inventory"
FBA_SYNC = "inventory_fba"  # quarantine namespace of the FBA mirror (Amazon SKUs unknown to NetSuite)
GENERIC_PRODUCT_TYPE = "PRODUCT"  # accepted by Amazon for PATCH of offer attributes on any listing
SUITEQL_IN_MAX = 1000
_FIELD_RE = re.compile(r"^[a-z][a-z0-9_]{0,99}\Z")
_FBA_FLAG_TRUE = ("T", "TRUE", "Y", "YES", "1", "AMAZON")

# Compact row layout of the read batch (one list per NetSuite item x location row).
ROW_COLUMNS = ("sku", "location_id", "on_hand", "committed", "available", "in_transit", "backordered")
# Per-item layout of the read batch.
ITEM_COLUMNS = ("item_id", "safety_stock", "inactive", "netsuite_fba", "category")


class StoredRow(NamedTuple):
    """An availability row as stored by the read task: the attributes of ``InventoryRow``, already validated."""

    sku: str
    item_id: str
    location_id: str
    on_hand: int
    committed: int
    available: int | None
    in_transit: int
    backordered: int
    safety_stock: int | None
    is_fba: bool
    inactive: bool


class InventorySyncError(RuntimeError):
    """A configuration or data problem that stops the inventory sync; names the setting and the fix."""


def _field_name(value: str | None, what: str) -> str | None:
    """NetSuite field ids go into SuiteQL as identifiers: accept only plain lower-case ids."""
    if value is None or value == "":
        return None
    text = str(value).strip().lower()
    if not _FIELD_RE.match(text):
        raise InventorySyncError(
            f"{what} {value!r} is not a NetSuite field id (lower-case letters, digits and '_', e.g. "
            "'custitem_amz_safety_stock')")
    return text


def is_fba_flag(value: Any) -> bool:
    """Whether a NetSuite FBA flag value marks the item as fulfilled by Amazon.

    Accepts a checkbox (``'T'``/``true``) or a fulfillment-channel text (``AMAZON``, ``AMAZON_EU``,
    ``AMAZON_NA`` …); ``DEFAULT``, ``'F'``, empty or missing mean seller-fulfilled.
    """
    if value is None or isinstance(value, bool):
        return bool(value)
    text = str(value).strip().upper()
    return text in _FBA_FLAG_TRUE or text.startswith("AMAZON_")


def _row_error(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        loc = ".".join(str(p) for p in first.get("loc", ()))
        msg = str(first.get("msg", ""))
        msg = msg[len("Value error, "):] if msg.startswith("Value error, ") else msg
        return f"{loc}: {msg}" if loc else msg
    return str(exc)


def _plain_int(value: Any) -> Any:
    """Fast path for SuiteQL's usual whole-number strings ("12"); anything else (fractions, negatives,
    garbage, NULL) is left for ``InventoryRow`` to round conservatively or refuse."""
    if type(value) is str and value.isascii() and value.isdigit():
        return int(value)
    return value


def _whole(value: Any) -> int:
    """A SuiteQL quantity (string, number or missing) as a whole number, rounded down."""
    if value is None or value == "":
        return 0
    try:
        return int(Decimal(str(value).strip()).to_integral_value(rounding=ROUND_FLOOR))
    except (InvalidOperation, ValueError):
        return 0


def compact_summary(summary: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of an FBA ``InventorySummary`` the mirror needs (a fraction of Amazon's payload)."""
    d = summary.get("inventoryDetails") or {}
    out: dict[str, Any] = {"sellerSku": summary.get("sellerSku")}
    if d:
        out["inventoryDetails"] = {
            k: d[k] for k in ("fulfillableQuantity", "inboundWorkingQuantity", "inboundShippedQuantity",
                              "inboundReceivingQuantity") if k in d}
        for group, total in (("reservedQuantity", "totalReservedQuantity"),
                             ("researchingQuantity", "totalResearchingQuantity"),
                             ("unfulfillableQuantity", "totalUnfulfillableQuantity")):
            if isinstance(d.get(group), Mapping) and total in d[group]:
                out["inventoryDetails"][group] = {total: d[group][total]}
    return out


def _chunks(values: Sequence[str], size: int) -> Iterator[list[str]]:
    for i in range(0, len(values), size):
        yield list(values[i:i + size])


class _Hooks:
    """Hook construction in one place (tests substitute fakes by overriding these)."""

    mp: Any

    def netsuite_hook(self) -> NetSuiteHook:
        return NetSuiteHook(self.mp.netsuite_conn_id)

    def spapi_hook(self) -> SpApiHook:
        return SpApiHook(self.mp.spapi_conn_id)


class ReadNetSuiteStockOperator(_Hooks, MarketplaceOperator):
    """Read NetSuite availability per item × mapped location, and the FBA SKU set; store as a batch.

    :param fba_flag_field: optional item field marking FBA items in NetSuite (checkbox, or a text such
        as ``AMAZON``/``DEFAULT``); ``None`` = rely on Amazon's FBA inventory only.
    :param category_field: optional item field with the merchandising category; it selects the
        Amazon product type of the PATCH messages through ``products.product_types``.
    :param page_size: SuiteQL page size (1..1000).
    """

    sync = SYNC
    ui_color = "#e3f4e1"

    def __init__(self, *, fba_flag_field: str | None = None, category_field: str | None = None,
                 page_size: int = 1000, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fba_flag_field = fba_flag_field
        self.category_field = category_field
        self.page_size = page_size

    def batch_ref(self, context: Mapping[str, Any]) -> str:
        return f"{self.run_key(context)}/{self.task_id}"

    # -- SuiteQL ---------------------------------------------------------------------------------
    def _select(self) -> str:
        safety = _field_name(self.mp.inventory.safety_stock_field, f"marketplaces.{self.mp.code}.inventory.safety_stock_field")
        flag = _field_name(self.fba_flag_field, "fba_flag_field")
        category = _field_name(self.category_field, "category_field")
        cols = ["a.item", "a.location", "i.itemid", "a.quantityonhand", "a.quantitycommitted", "a.quantityavailable",
                "a.quantityintransit", "a.quantitybackordered", "i.isinactive"]
        if safety:
            cols.append(f"i.{safety} AS safety_stock")
        if flag:
            cols.append(f"i.{flag} AS fba_flag")
        if category:
            cols.append(f"i.{category} AS category")
        return "SELECT " + ", ".join(cols) + " FROM aggregateItemLocation a INNER JOIN item i ON i.id = a.item"

    def _location_rows(self, hook: NetSuiteHook, location: str, skus: list[str] | None) -> Iterator[dict[str, Any]]:
        where = "a.location = :loc"
        params: dict[str, Any] = {"loc": int(location)}
        if skus:
            where += " AND i.itemid IN (:skus)"
            params["skus"] = skus
        return hook.suiteql_keyset(self._select(), key="a.item", where=where, params=params, page_size=self.page_size)

    def _unmapped_stock(self, hook: NetSuiteHook, read: set[str]) -> list[dict[str, Any]]:
        """Other active locations of the subsidiary that hold available stock (one aggregate query)."""
        fba = self.mp.locations.fba
        try:
            locations = [str(r["id"]) for r in hook.suiteql(
                "SELECT l.id FROM location l WHERE l.subsidiary = :sub AND l.isinactive = :inactive",
                params={"sub": int(self.mp.subsidiary), "inactive": False})]
            others = sorted((loc for loc in locations if loc not in read and loc != fba), key=int)
            if not others:
                return []
            rows = hook.suiteql(
                "SELECT a.location, COUNT(a.item) AS items, SUM(a.quantityavailable) AS available "
                "FROM aggregateItemLocation a WHERE a.location IN (:locs) GROUP BY a.location",
                params={"locs": [int(x) for x in others]})
            out = []
            for r in rows:
                available = _whole(r.get("available"))
                if available > 0:
                    out.append({"location_id": str(r.get("location")), "items": int(r.get("items") or 0),
                                "available": available})
            return sorted(out, key=lambda x: int(x["location_id"]))
        except (NetSuiteError, ValueError) as exc:  # a diagnostic must not stop the sync
            self.log.warning("could not check the subsidiary's other locations for unmapped stock: %s", exc)
            return []

    # -- Amazon ----------------------------------------------------------------------------------
    def fba_summaries(self) -> list[dict[str, Any]]:
        """Amazon's FBA inventory of the marketplace (getInventorySummaries, details=true), compacted.

        The hook fetches each listing's pages back to back (``nextToken`` lives 30 s); the list is
        materialised before anything else runs.
        """
        return [compact_summary(s) for s in list(self.spapi_hook().get_inventory_summaries(self.mp.marketplace_id))
                if s.get("sellerSku")]

    # -- execution -------------------------------------------------------------------------------
    def execute(self, context: Mapping[str, Any]) -> dict[str, Any]:
        mp = self.mp
        if not mp.locations.mfn:
            raise InventorySyncError(
                f"marketplaces.{mp.code}.locations.mfn is empty: list the NetSuite locations whose stock is sold "
                "on Amazon (there is no implicit 'all locations' default)")
        wanted = self.params_of(context).get("skus") or None
        sku_filter = sorted({str(s) for s in wanted}) if wanted else None
        sql_filter = sku_filter if sku_filter and len(sku_filter) <= SUITEQL_IN_MAX else None
        hook = self.netsuite_hook()
        mapped = [loc.location_id for loc in mp.locations.mfn]

        rows: list[list[Any]] = []
        items: dict[str, list[Any]] = {}
        invalid: dict[str, str] = {}
        raw_count = 0
        for location in mapped:
            for raw in self._location_rows(hook, location, sql_filter):
                raw_count += 1
                sku = str(raw.get("itemid") or "").strip()
                if sku_filter is not None and sql_filter is None and sku not in sku_filter:
                    continue
                try:
                    row = InventoryRow.model_validate({
                        "sku": sku, "item_id": str(raw.get("item") or ""), "location_id": str(raw.get("location") or location),
                        "on_hand": _plain_int(raw.get("quantityonhand")),
                        "committed": _plain_int(raw.get("quantitycommitted")),
                        "available": _plain_int(raw.get("quantityavailable")),
                        "in_transit": _plain_int(raw.get("quantityintransit")),
                        "backordered": _plain_int(raw.get("quantitybackordered")),
                        "safety_stock": _plain_int(raw.get("safety_stock")),
                        "inactive": raw.get("isinactive") or "F",
                    })
                except ValueError as exc:
                    key = sku or f"item {raw.get('item')}"
                    invalid[key] = (f"NetSuite availability of item {raw.get('item')} at location {location} is not "
                                    f"usable — {_row_error(exc)}; fix the item or its inventory record")
                    continue
                rows.append([row.sku, row.location_id, row.on_hand, row.committed, row.available, row.in_transit,
                             row.backordered])
                category = raw.get("category")
                entry = items.get(row.sku)
                if entry is None:
                    items[row.sku] = [row.item_id, row.safety_stock, row.inactive, is_fba_flag(raw.get("fba_flag")),
                                      category if category not in (None, "") else None]
                else:  # item fields repeat on every location row; be conservative if they ever disagree
                    if row.safety_stock is not None and (entry[1] is None or row.safety_stock > entry[1]):
                        entry[1] = row.safety_stock
                    entry[2] = entry[2] or row.inactive
                    entry[3] = entry[3] or is_fba_flag(raw.get("fba_flag"))
                    if entry[4] is None and category not in (None, ""):
                        entry[4] = category
        if invalid:  # one bad row takes its whole SKU out of this run (never a partial quantity)
            rows = [r for r in rows if r[0] not in invalid]
            for sku in invalid:
                items.pop(sku, None)
        if not self.params_of(context).get("dry_run"):
            for sku, reason in sorted(invalid.items()):
                self.state.quarantine(self.sync, mp.code, sku, reason)

        summaries = self.fba_summaries()
        amazon_fba = sorted({str(x["sellerSku"]) for x in summaries})
        unmapped = self._unmapped_stock(hook, set(mapped))
        data = {
            "version": 1, "row_columns": list(ROW_COLUMNS), "item_columns": list(ITEM_COLUMNS),
            "rows": rows, "items": items, "amazon_fba": amazon_fba, "invalid": invalid,
            "locations": {"mapped": mapped, "fba": mp.locations.fba, "unmapped_with_stock": unmapped},
            "sku_filter": sku_filter, "read_at": datetime.now(timezone.utc).isoformat(),
        }
        ref = self.state.put_batch(self.batch_ref(context), data)
        fba_ref = self.state.put_batch(f"{ref}/fba_summaries", summaries)  # reused by the FBA mirror of this run
        counts = {"rows": len(rows), "skus": len(items), "locations": len(mapped), "invalid_skus": len(invalid),
                  "amazon_fba_skus": len(amazon_fba), "netsuite_fba_skus": sum(1 for v in items.values() if v[3]),
                  "unmapped_locations_with_stock": len(unmapped), "suiteql_rows": raw_count}
        self.log.info("%s: read %s", mp.code, counts)
        return {"ref": ref, "fba_ref": fba_ref, "counts": counts}


class PlanInventoryPushOperator(_Hooks, MarketplaceOperator):
    """Quantities → deltas → feed documents (or direct patches) for :class:`~.feeds.ListingsFeedPushOperator`.

    :param read_task_id: the :class:`ReadNetSuiteStockOperator` task.
    :param max_messages_per_feed: ≤ 25,000 (Amazon's limit); lower it only for tests and trials.
    :param max_feed_bytes: ≤ 10 MiB (Amazon's limit).
    :param default_product_type: productType for SKUs whose category maps to none (``PRODUCT``, which
        Amazon accepts for PATCH of offer attributes).
    """

    sync = SYNC
    ui_color = "#fff3c4"

    def __init__(self, *, read_task_id: str, max_messages_per_feed: int = MAX_MESSAGES,
                 max_feed_bytes: int = MAX_BYTES, default_product_type: str = GENERIC_PRODUCT_TYPE,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not 1 <= max_messages_per_feed <= MAX_MESSAGES:
            raise ValueError(f"max_messages_per_feed must be 1..{MAX_MESSAGES}, got {max_messages_per_feed}")
        if not 1 <= max_feed_bytes <= MAX_BYTES:
            raise ValueError(f"max_feed_bytes must be 1..{MAX_BYTES}, got {max_feed_bytes}")
        self.read_task_id = read_task_id
        self.max_messages_per_feed = max_messages_per_feed
        self.max_feed_bytes = max_feed_bytes
        self.default_product_type = default_product_type

    def _product_types(self, skus: Iterable[str], items: Mapping[str, Sequence[Any]]) -> dict[str, str]:
        cache: dict[str | None, str] = {}
        out: dict[str, str] = {}
        for sku in skus:
            category = items[sku][4] if sku in items else None
            ptype = cache.get(category)
            if ptype is None:
                found = product_type_for(NetSuiteItem(internal_id="0", sku=sku, category=category), self.mp) if category else \
                    self.mp.products.default_product_type
                ptype = cache[category] = found or self.default_product_type
            out[sku] = ptype
        return out

    def _seller_id(self) -> str:
        seller = self.spapi_hook().seller_id
        if not seller:
            raise InventorySyncError(
                f"connection {self.mp.spapi_conn_id!r} has no extra.seller_id; JSON_LISTINGS_FEED documents need the "
                "merchant token (Seller Central > Settings > Account Info > Merchant Token)")
        return seller

    def execute(self, context: Mapping[str, Any]) -> dict[str, Any]:
        mp = self.mp
        params = self.params_of(context)
        read = context["ti"].xcom_pull(task_ids=self.read_task_id) or {}
        if not read.get("ref"):
            raise InventorySyncError(f"task {self.read_task_id} returned no batch ref; run it first")
        data = self.state.get_batch(read["ref"])
        items: dict[str, list[Any]] = data["items"]
        # The read task validated every row with InventoryRow; rebuilding 300k pydantic models here would
        # cost more than the computation, so compute_sellable gets light records with the same attributes.
        rows = [
            StoredRow(sku, items[sku][0], loc, on_hand, committed, available, in_transit, backordered,
                      items[sku][1], False, bool(items[sku][2]))
            for sku, loc, on_hand, committed, available, in_transit, backordered in data["rows"]
        ]
        amazon_fba = set(data.get("amazon_fba") or [])
        netsuite_fba = {sku for sku, v in items.items() if v[3]}
        comp = compute_sellable(cast("list[InventoryRow]", rows), mp, fba_skus=amazon_fba | netsuite_fba)
        current = comp.quantities

        sku_filter = params.get("skus") or None
        not_found: list[str] = []
        if sku_filter:
            wanted = {str(s) for s in sku_filter}
            not_found = sorted(s for s in wanted if s not in current and s not in comp.skipped_fba)
            current = {s: q for s, q in current.items() if s in wanted}
        full_push = bool(params.get("full_push"))
        accepted = self.state.get_accepted(SYNC, mp.code)
        deltas = compute_deltas(current, accepted, full_push=full_push)
        retried = 0
        for rec in self.state.open_quarantine(SYNC, mp.code):  # rejected earlier: send again until accepted
            if rec.key in current and rec.key not in deltas:
                deltas[rec.key] = current[rec.key]
                retried += 1

        ptypes = self._product_types(deltas, items)
        messages = inventory_feed_messages(deltas, product_types=ptypes, handling_time_days=mp.inventory.handling_time_days)
        threshold = mp.inventory.small_delta_threshold
        feeds: list[dict[str, Any]] = []
        direct: list[dict[str, Any]] = []
        if messages and 0 < threshold and len(messages) <= threshold:
            direct = [{"sku": m.sku, "product_type": m.product_type, "patches": [p.to_json() for p in m.patches or ()]}
                      for m in messages]
        elif messages:
            docs = plan_listings_feeds(self._seller_id(), messages, max_messages=self.max_messages_per_feed,
                                       max_bytes=self.max_feed_bytes, issue_locale=mp.language_tag)
            feeds = [{"body": d.body.decode("utf-8"), "sent": {str(k): v for k, v in d.sent.items()}} for d in docs]

        base = f"{self.run_key(context)}/{self.task_id}"
        unmapped = sorted(set(comp.unmapped_locations) | {u["location_id"] for u in data["locations"]["unmapped_with_stock"]},
                          key=lambda x: int(x) if x.isdigit() else 0)
        summary = {
            "skus_considered": len(items), "mfn_skus": len(current), "fba_skus_skipped": len(comp.skipped_fba),
            "amazon_fba_skus": len(amazon_fba), "netsuite_fba_skus": len(netsuite_fba),
            "deltas": len(deltas), "retried_from_quarantine": retried, "full_push": full_push,
            "feeds_planned": len(feeds), "direct_planned": len(direct), "messages_planned": len(messages),
            "units_planned": sum(deltas.values()), "unmapped_locations": unmapped,
            "unmapped_stock": data["locations"]["unmapped_with_stock"],
            "unknown_overrides": sorted(comp.unknown_overrides), "skus_not_found": not_found[:50],
            "skus_not_found_count": len(not_found), "invalid_skus": len(data.get("invalid") or {}),
            "product_types": dict(sorted(_count(ptypes.values()).items())),
        }
        summary_ref = self.state.put_batch(f"{base}/summary", summary)
        ref = None
        if feeds or direct:
            ref = self.state.put_batch(f"{base}/plan", {"feeds": feeds, "values": deltas, "direct": direct})
        self.log.info("%s: %d SKU(s) to send in %d feed(s) + %d direct patch(es); unmapped locations: %s",
                      mp.code, len(deltas), len(feeds), len(direct), ", ".join(unmapped) or "none")
        return {"ref": ref, "summary_ref": summary_ref, "feeds": len(feeds), "messages": len(messages),
                "direct": len(direct),
                "counts": {"deltas": len(deltas), "mfn_skus": len(current), "fba_skus_skipped": len(comp.skipped_fba)}}


def _count(values: Iterable[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return out


class MirrorFbaStockOperator(_Hooks, MarketplaceOperator):
    """Make NetSuite's FBA location hold Amazon's FBA fulfillable quantities (inventory adjustments).

    Idempotent per window: the plan of window ``AMZ-FBA-<code>-<yyyymmdd-hhmm>`` is computed once and
    stored (``put_batch``) before anything is posted; a rerun of the window reuses it and skips every
    adjustment whose external id already exists in NetSuite. A later window recomputes from current
    quantities, so unchanged stock yields no adjustment.

    :param zero_missing: treat Amazon's listing as complete — NetSuite FBA stock of SKUs Amazon no
        longer reports is set to 0 (default: left alone and reported as ``not_reported``).
    """

    sync = SYNC
    ui_color = "#e8e1f4"

    def __init__(self, *, read_task_id: str | None = None, zero_missing: bool = False,
                 max_lines: int = MAX_ADJUSTMENT_LINES, page_size: int = 1000, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.read_task_id = read_task_id
        self.zero_missing = zero_missing
        self.max_lines = max_lines
        self.page_size = page_size

    def plan_ref(self, window_key: str) -> str:
        return f"inventory-fba/{self.mp.code}/{window_key}"

    def _netsuite_on_hand(self, hook: NetSuiteHook, location: str) -> tuple[dict[str, int], dict[str, str]]:
        on_hand: dict[str, int] = {}
        item_ids: dict[str, str] = {}
        query = ("SELECT a.item, i.itemid, a.quantityonhand FROM aggregateItemLocation a "
                 "INNER JOIN item i ON i.id = a.item")
        for r in hook.suiteql_keyset(query, key="a.item", where="a.location = :loc", params={"loc": int(location)},
                                     page_size=self.page_size):
            sku = str(r.get("itemid") or "")
            if not sku:
                continue
            qty = _whole(r.get("quantityonhand"))
            on_hand[sku] = on_hand.get(sku, 0) + qty
            item_ids[sku] = str(r["item"])
        return on_hand, item_ids

    @staticmethod
    def _item_ids(hook: NetSuiteHook, skus: Sequence[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for chunk in _chunks(sorted(skus), SUITEQL_IN_MAX):
            for r in hook.suiteql("SELECT i.id, i.itemid FROM item i WHERE i.itemid IN (:skus)", params={"skus": chunk}):
                if r.get("itemid") and r.get("id"):
                    out.setdefault(str(r["itemid"]), str(r["id"]))
        return out

    def _summaries(self, context: Mapping[str, Any]) -> tuple[list[dict[str, Any]], str]:
        """This run's FBA listing: the one the read task stored, else a fresh getInventorySummaries."""
        if self.read_task_id:
            read = context["ti"].xcom_pull(task_ids=self.read_task_id) or {}
            if read.get("fba_ref"):
                try:
                    return list(self.state.get_batch(read["fba_ref"])), "read_task"
                except KeyError:
                    self.log.info("FBA listing of %s is gone; reading it from Amazon", self.read_task_id)
        # getInventorySummaries' nextToken lives 30 s: materialise every page before anything else runs
        return [compact_summary(s) for s in list(self.spapi_hook().get_inventory_summaries(self.mp.marketplace_id))
                if s.get("sellerSku")], "amazon"

    def _compute(self, context: Mapping[str, Any], key: str, window_end: datetime) -> dict[str, Any]:
        mp = self.mp
        location = mp.locations.fba
        assert location is not None
        summaries, origin = self._summaries(context)
        hook = self.netsuite_hook()
        on_hand, item_ids = self._netsuite_on_hand(hook, location)
        reported = {str(s.get("sellerSku")) for s in summaries if s.get("sellerSku")}
        missing_ids = sorted(reported - set(item_ids))
        if missing_ids:
            item_ids.update(self._item_ids(hook, missing_ids))
        tran_date = window_end.astimezone(ZoneInfo(mp.timezone)).date()
        plan = fba_adjustment(
            summaries, on_hand, item_ids=item_ids, location_id=location, subsidiary_id=mp.subsidiary,
            window_key=key, marketplace=mp.code, account_id=mp.inventory.fba_adjustment_account,
            tran_date=tran_date, zero_missing=self.zero_missing, max_lines=self.max_lines)
        return {
            "window": key, "window_end": window_end.isoformat(), "computed_at": datetime.now(timezone.utc).isoformat(),
            "adjustments": plan.adjustments, "movements": [m.to_json() for m in plan.movements],
            "unknown_skus": sorted(plan.unknown_skus), "not_reported": sorted(plan.not_reported),
            "reported_skus": len(reported), "fba_listing_from": origin,
        }

    def execute(self, context: Mapping[str, Any]) -> dict[str, Any]:
        mp = self.mp
        dry_run = bool(self.params_of(context).get("dry_run"))
        if mp.locations.fba is None:
            return self.finish(context, {"skipped": f"marketplaces.{mp.code}.locations.fba is not set; no FBA mirror"})
        _, window_end, source = resolve_window(context)
        key = window_key_for(window_end)
        ref = self.plan_ref(key)
        try:
            plan = self.state.get_batch(ref)
            reused = True
        except KeyError:
            plan = self._compute(context, key, window_end)
            reused = False
            if not dry_run:
                self.state.put_batch(ref, plan)  # stored before posting: a retry posts this plan, not a new one

        adjustments: list[dict[str, Any]] = plan["adjustments"]
        hook = self.netsuite_hook()
        external_ids = [a["externalId"] for a in adjustments]
        existing = hook.lookup_external_ids("transaction", external_ids) if external_ids else {}
        posted: dict[str, str] = {}
        for body in adjustments:
            eid = body["externalId"]
            if eid in existing or dry_run:
                continue
            posted[eid] = hook.upsert_record("inventoryAdjustment", eid, body)
            self.log.info("posted inventory adjustment %s (internal id %s, %d line(s))", eid, posted[eid],
                          len(body["inventory"]["items"]))

        moves = [m for m in plan["movements"] if m["delta"]]
        for m in moves:
            self.log.info("FBA %s %s: NetSuite %d -> %d (%+d); Amazon inbound %d, reserved %d, unfulfillable %d, "
                          "researching %d", mp.code, m["sku"], m["from"], m["to"], m["delta"], m["inbound"],
                          m["reserved"], m["unfulfillable"], m["researching"])
        unknown: list[str] = plan["unknown_skus"]
        if not dry_run:
            for sku in unknown:
                self.state.quarantine(
                    FBA_SYNC, mp.code, sku,
                    f"Amazon reports FBA stock for SKU {sku} in {mp.code} but NetSuite has no item with itemid {sku}; "
                    "create the item (or fix its itemid) so the FBA location can hold it")
            known = [m["sku"] for m in plan["movements"] if m["sku"] not in set(unknown)]
            self.state.resolve(FBA_SYNC, mp.code, known)
        summary = {
            "window": key, "window_source": source, "plan_ref": ref, "plan_reused": reused, "dry_run": dry_run,
            "reported_skus": plan.get("reported_skus", 0), "movements": len(moves),
            "units_in": sum(m["delta"] for m in moves if m["delta"] > 0),
            "units_out": -sum(m["delta"] for m in moves if m["delta"] < 0),
            "adjustments_planned": len(adjustments), "adjustments_posted": len(posted),
            "adjustments_already_in_netsuite": len(existing), "posted_external_ids": sorted(posted),
            "not_reported": len(plan["not_reported"]), "unknown_skus": len(unknown),
        }
        return self.finish(context, summary, quarantined=0 if dry_run else len(unknown))


class InventoryReportOperator(MarketplaceOperator):
    """One summary of the run (recorded with ``finish``); fails when anything was quarantined or a step
    did not finish. Runs whatever the upstream outcome (``trigger_rule="all_done"``)."""

    sync = SYNC
    ui_color = "#f4e1e1"

    def __init__(self, *, read_task_id: str, plan_task_id: str, push_task_id: str, mirror_task_id: str | None,
                 cleanup: bool = True, **kwargs: Any) -> None:
        kwargs.setdefault("trigger_rule", "all_done")
        super().__init__(**kwargs)
        self.read_task_id = read_task_id
        self.plan_task_id = plan_task_id
        self.push_task_id = push_task_id
        self.mirror_task_id = mirror_task_id
        self.cleanup = cleanup

    def execute(self, context: Mapping[str, Any]) -> dict[str, Any]:
        mp = self.mp
        ti = context["ti"]
        run_id = getattr(context.get("dag_run"), "run_id", None) or "adhoc"
        read = ti.xcom_pull(task_ids=self.read_task_id) or {}
        plan = ti.xcom_pull(task_ids=self.plan_task_id) or {}
        recorded = self.state.run_summaries(self.dag_id, run_id)
        push = recorded.get(self.push_task_id)
        mirror = recorded.get(self.mirror_task_id) if self.mirror_task_id else None
        failures: list[str] = []
        for task_id, result in ((self.read_task_id, read), (self.plan_task_id, plan), (self.push_task_id, push),
                                (self.mirror_task_id, mirror)):
            if task_id and not result:
                failures.append(f"task {task_id} did not finish (see its log)")
        plan_summary: dict[str, Any] = {}
        if plan.get("summary_ref"):
            try:
                plan_summary = self.state.get_batch(plan["summary_ref"])
            except KeyError:
                failures.append(f"summary of {self.plan_task_id} is missing from the sync-state database")
        push = push or {}
        rejected_open = self.state.open_quarantine(SYNC, mp.code)
        summary = {
            "marketplace": mp.code,
            "skus_considered": plan_summary.get("skus_considered", read.get("counts", {}).get("skus", 0)),
            "mfn_skus": plan_summary.get("mfn_skus", 0),
            "fba_skus_skipped": plan_summary.get("fba_skus_skipped", 0),
            "deltas": plan_summary.get("deltas", 0),
            "full_push": plan_summary.get("full_push", False),
            "feeds": push.get("feeds", 0), "direct": push.get("direct", 0),
            "messages_planned": plan_summary.get("messages_planned", 0),
            "accepted": push.get("accepted", 0), "rejected": push.get("rejected", 0),
            "unconfirmed": push.get("unconfirmed", 0), "rejected_codes": push.get("rejected_codes", {}),
            "open_rejections": len(rejected_open),
            "open_rejection_skus": [r.key for r in rejected_open[:20]],
            "unmapped_locations": plan_summary.get("unmapped_locations", []),
            "unmapped_stock": plan_summary.get("unmapped_stock", []),
            "invalid_skus": read.get("counts", {}).get("invalid_skus", 0),
            "skus_not_found": plan_summary.get("skus_not_found", []),
            "fba": {k: (mirror or {}).get(k) for k in (
                "window", "movements", "units_in", "units_out", "adjustments_planned", "adjustments_posted",
                "adjustments_already_in_netsuite", "not_reported", "unknown_skus", "plan_ref")},
            "dry_run": bool(self.params_of(context).get("dry_run")),
        }
        quarantined = int(push.get("rejected", 0) or 0) + int(summary["invalid_skus"] or 0) + \
            int((mirror or {}).get("unknown_skus") or 0)
        if self.cleanup:
            if read.get("ref"):
                self.state.drop_batches(read["ref"])
            if plan.get("ref") and push:
                self.state.drop_batches(plan["ref"])
        return self.finish(context, summary, quarantined=quarantined, failures=failures)
