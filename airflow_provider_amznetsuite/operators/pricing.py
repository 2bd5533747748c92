"""Pricing sync: NetSuite price levels -> Amazon ``purchasable_offer`` (JSON_LISTINGS_FEED PATCH, ``merge``).

Tasks of ``amazon_<code>_pricing`` (see ``dag_factory/pricing.py`` and docs/pricing-sync.md):

1. :class:`PricingReadOperator` (``read_netsuite_prices``) — SuiteQL in keyset pages: the marketplace
   currency's internal id (``currency`` by ISO symbol), the price rows of the mapped price levels
   (base, B2B with quantity tiers, sale; effective-dated rows included) and the item guard fields
   (minimum / maximum price, cost, sale window, category). Raw rows go to the sync-state database;
   XCom carries ``{ref, counts}``.
2. :class:`PricingPlanOperator` (``plan_pricing_push``) — pure mapping: rows -> ``domain.pricing`` inputs,
   :func:`~airflow_provider_amznetsuite.domain.pricing.build_offers` as of the real current instant,
   :func:`~airflow_provider_amznetsuite.domain.pricing.screen_offers` against the accepted state
   (deltas + holds + Param ``approve``), feed documents for the SKUs to push. Held SKUs and SKUs whose
   data cannot make an offer are quarantined (reported, not pushed). Future prices go out as a discount
   window that switches at the exact instant; the first run after the instant sends the plain price with a
   ``delete`` of the stale discount before the ``merge`` (summary ``cleanups``, ``follow_up``).
3. ``ListingsFeedPushOperator`` (``push_prices``, operators/feeds.py) — submits, waits deferrably,
   advances the state for accepted SKUs only.
4. :class:`PricingReportOperator` (``pricing_report``) — one summary of the run; fails the run visibly
   (after everything else was done) when SKUs were held, unusable or rejected, unless Param
   ``allow_quarantine``.

Why the real current instant (not the data interval): prices are state, not events. The offer must say
what Amazon should charge from *now* on, with every later NetSuite price scheduled at its exact
instant. A re-run or backfill of an old interval must not schedule instants that have already passed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from airflow.sdk.exceptions import AirflowFailException
from pydantic import BaseModel, ConfigDict, ValidationError

from airflow_provider_amznetsuite.config import MarketplaceConfig
from airflow_provider_amznetsuite.domain.feeds import plan_listings_feeds
from airflow_provider_amznetsuite.domain.listings import NetSuiteItem, product_type_for
from airflow_provider_amznetsuite.domain.money import minor_units, quantize
from airflow_provider_amznetsuite.domain.pricing import (
    Hold,
    ItemPriceFields,
    OfferSet,
    PriceRow,
    PricingInput,
    SaleRow,
    accepted_state_value,
    build_offers,
    iso_z,
    pricing_feed_messages,
    removed_parts,
    screen_offers,
)
from airflow_provider_amznetsuite.operators.base import MarketplaceOperator

SYNC = "pricing"
CATEGORY_FIELD = "custitem_amz_category"  # NetSuite category -> products.product_types (as the products sync)
SALE_START_FIELD = "custitem_amz_sale_start"  # Date/Time item fields bounding the sale price level (end exclusive)
SALE_END_FIELD = "custitem_amz_sale_end"
FALLBACK_PRODUCT_TYPE = "PRODUCT"  # when neither products.product_types nor default_product_type applies
MAX_SKU_PARAM = 1000  # SuiteQL IN (...) limit
LISTED = 100  # SKUs named one by one in run summaries (all of them stay in the stored plan summary)
CURRENCY_TOKEN = "{currency}"

_FIELD_RE = re.compile(r"^[a-z][a-z0-9_]{0,98}\Z")


class PricingSetupError(ValueError):
    """Configuration or NetSuite setup that stops the whole run; the message names the field and the fix."""


# --- boundaries: what the read task stores ------------------------------------------------------------
class NetSuiteCurrency(BaseModel):
    """A NetSuite ``currency`` record as SuiteQL returns it."""

    model_config = ConfigDict(frozen=True)

    id: str
    symbol: str
    exchange_rate: Decimal | None = None  # value of one unit in the company base currency
    precision: int | None = None
    is_base: bool = False


class FieldNames(BaseModel):
    """Item columns the read task selected (already expanded for the marketplace currency)."""

    model_config = ConfigDict(frozen=True)

    min_price: str | None = None
    max_price: str | None = None
    cost: str | None = None
    cost_in_marketplace_currency: bool = False  # False: cost is in the base currency and is converted
    sale_start: str | None = None
    sale_end: str | None = None


class PriceLevels(BaseModel):
    model_config = ConfigDict(frozen=True)

    base: str
    b2b: str | None = None
    sale: str | None = None

    def ids(self) -> list[str]:
        return [x for x in (self.base, self.b2b, self.sale) if x is not None]


class PricingBatch(BaseModel):
    """Raw NetSuite rows of one run (SuiteQL values are strings; NULL columns are absent)."""

    marketplace: str
    currency: NetSuiteCurrency
    levels: PriceLevels
    fields: FieldNames
    netsuite_timezone: str = "UTC"
    read_at: datetime
    sku_filter: list[str] | None = None
    prices: list[dict[str, Any]]
    items: list[dict[str, Any]]


# --- helpers (pure) ----------------------------------------------------------------------------------
def expand_field(template: str | None, currency: str, what: str) -> str | None:
    """A configured item field name with ``{currency}`` replaced by the lower-case ISO code; validated as
    a SuiteQL identifier (it is written into the query, so it must never carry anything else)."""
    if template is None or not str(template).strip():
        return None
    name = str(template).strip().replace(CURRENCY_TOKEN, currency.lower()).lower()
    if not _FIELD_RE.match(name):
        raise PricingSetupError(
            f"{what}: {template!r} is not a NetSuite field id (letters, digits and '_', e.g. "
            f"'custitem_amz_min_price' or 'custitem_amz_min_price_{{currency}}')"
        )
    return name


def sku_list(value: Any, param: str) -> list[str]:
    """A Param holding SKUs (array of strings; a comma-separated string is accepted too)."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        items: Iterable[Any] = value.split(",")
    elif isinstance(value, (list, tuple, set)):
        items = value
    else:
        raise AirflowFailException(f"Param {param}: expected a list of SKUs, got {type(value).__name__}")
    out: list[str] = []
    for v in items:
        if not isinstance(v, str):
            raise AirflowFailException(f"Param {param}: every SKU must be a string, got {v!r}")
        v = v.strip()
        if v and v not in out:
            out.append(v)
    return out


def _decimal(raw: Any, what: str) -> Decimal | None:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if isinstance(raw, float):
        raise ValueError(f"{what} {raw!r} arrived as a float; NetSuite values must be read as text")
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        raise ValueError(f"{what} {raw!r} is not a number") from None
    if not value.is_finite():
        raise ValueError(f"{what} {raw!r} is not a finite number")
    return value


def _quantity(raw: Any) -> int:
    q = _decimal(raw, "quantity tier")
    if q is None:
        return 0
    if q != q.to_integral_value() or q < 0:
        raise ValueError(f"quantity tier {raw!r} is not a whole number >= 0")
    return int(q)


def _zone(name: str, what: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except Exception:  # zoneinfo raises several types for bad keys
        raise PricingSetupError(f"{what}: {name!r} is not an IANA time zone (e.g. 'UTC', 'Europe/London')") from None


def parse_netsuite_instant(raw: Any, netsuite_tz: str) -> datetime | None:
    """``TO_CHAR(col, 'YYYY-MM-DD HH24:MI:SS')`` text (or ISO 8601) -> aware UTC datetime.

    Text without an offset is wall-clock time in ``netsuite_tz`` (the integration user's time-zone
    preference; UTC recommended). A bare date means 00:00 of that day in ``netsuite_tz``.
    """
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    text = str(raw).strip()
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is not a date/time (expected YYYY-MM-DD HH24:MI:SS)") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=_zone(netsuite_tz, "netsuite_timezone"))
    return dt.astimezone(timezone.utc)


@dataclass
class PricingInputs:
    """The domain inputs of one marketplace, plus what could not be used."""

    rows: list[PricingInput]
    product_types: dict[str, str]
    problems: dict[str, str] = field(default_factory=dict)  # SKU -> reason (no offer; quarantined)
    notes: dict[str, list[str]] = field(default_factory=dict)  # SKU -> non-blocking notes

    def note(self, sku: str, text: str) -> None:
        self.notes.setdefault(sku, []).append(text)


class _ProductTypes:
    """Category -> Amazon product type, as the products sync resolves it (cached per category)."""

    def __init__(self, mp: MarketplaceConfig) -> None:
        self.mp = mp
        self._cache: dict[str | None, str] = {}

    def __call__(self, sku: str, item_id: str, category: str | None) -> str:
        if category not in self._cache:
            item = NetSuiteItem.from_row({"id": item_id or "0", "itemid": sku, "category": category}, self.mp.products)
            self._cache[category] = product_type_for(item, self.mp) or FALLBACK_PRODUCT_TYPE
        return self._cache[category]


def to_pricing_inputs(batch: PricingBatch, mp: MarketplaceConfig) -> PricingInputs:
    """Raw SuiteQL rows -> :mod:`domain.pricing` rows. A SKU with any malformed row is left out entirely
    (listed in ``problems``) so a partial price list is never pushed."""
    currency = mp.currency
    levels = batch.levels
    ns_tz = batch.netsuite_timezone
    out = PricingInputs(rows=[], product_types={})
    price_rows: dict[str, list[PriceRow]] = {}
    sale_rows: dict[str, list[tuple[datetime | None, Decimal, str]]] = {}

    for raw in batch.prices:
        sku = str(raw.get("itemid") or "").strip()
        if not sku:
            continue  # NetSuite requires itemid; a row without one cannot be matched to a listing
        if sku in out.problems:
            continue
        row_ref = f"NetSuite pricing row {raw.get('id')} (price level {raw.get('pricelevel')}, quantity {raw.get('quantity') or 0})"
        try:
            price = _decimal(raw.get("unitprice"), "unit price")
            qty = _quantity(raw.get("quantity"))
            eff = parse_netsuite_instant(raw.get("effectivedate"), ns_tz)
        except ValueError as exc:
            out.problems[sku] = f"SKU {sku}: {row_ref}: {exc}; fix the price in NetSuite"
            continue
        if price is None:
            out.note(sku, f"{row_ref} has no unit price; ignored")
            continue
        level = str(raw.get("pricelevel") or "")
        if levels.sale is not None and level == levels.sale:
            if qty > 1:
                out.note(sku, f"{row_ref}: quantity tiers of the sale price level are not sent (Amazon sale prices have no tiers)")
                continue
            sale_rows.setdefault(sku, []).append((eff, price, row_ref))
        elif level == levels.base or (levels.b2b is not None and level == levels.b2b):
            try:
                price_rows.setdefault(sku, []).append(PriceRow(
                    sku=sku, item_id=str(raw.get("item") or "") or None, price_level=level, currency=currency,
                    price=price, min_quantity=qty, effective_from=eff))
            except ValidationError as exc:
                out.problems[sku] = f"SKU {sku}: {row_ref}: {exc.errors()[0]['msg']}; fix the price in NetSuite"

    ptype = _ProductTypes(mp)
    fields = batch.fields
    windows: dict[str, tuple[datetime | None, datetime | None]] = {}
    guards: list[ItemPriceFields] = []
    for item in batch.items:
        sku = str(item.get("itemid") or "").strip()
        if not sku:
            continue
        out.product_types[sku] = ptype(sku, str(item.get("id") or ""), item.get("category"))
        if sku in out.problems:
            continue
        try:
            min_price = _decimal(item.get("min_price"), f"item field {fields.min_price}")
            max_price = _decimal(item.get("max_price"), f"item field {fields.max_price}")
            cost = _decimal(item.get("cost"), f"item field {fields.cost}")
            start = parse_netsuite_instant(item.get("sale_start"), ns_tz)
            end = parse_netsuite_instant(item.get("sale_end"), ns_tz)
        except ValueError as exc:
            out.problems[sku] = f"SKU {sku}: {exc}; fix the item in NetSuite"
            continue
        if cost is not None and not fields.cost_in_marketplace_currency:
            cost = _cost_in_marketplace_currency(cost, batch.currency, currency)
            if cost is None:
                out.note(sku, f"cost not checked: NetSuite currency {currency} has no exchange rate to the base currency")
        if start is not None or end is not None:
            windows[sku] = (start, end)
        if min_price is not None or max_price is not None or cost is not None:
            guards.append(ItemPriceFields(sku=sku, min_price=min_price, max_price=max_price, cost=cost, currency=currency))

    for sku, entries in sale_rows.items():
        if sku in out.problems:
            continue
        try:
            out.rows.extend(_sale_windows(sku, currency, entries, windows.get(sku, (None, None))))
        except ValueError as exc:
            out.problems[sku] = f"SKU {sku}: {exc}"

    for sku, rows in price_rows.items():
        if sku not in out.problems:
            out.rows.extend(rows)
    out.rows.extend(g for g in guards if g.sku not in out.problems)
    for sku in list(out.notes):
        if sku in out.problems:
            del out.notes[sku]
    return out


def _cost_in_marketplace_currency(cost: Decimal, ns_currency: NetSuiteCurrency, currency: str) -> Decimal | None:
    """NetSuite keeps item cost in the company base currency; ``exchangerate`` of a currency is the base
    value of one unit, so cost in the marketplace currency = cost / rate (rounded half-up once)."""
    if ns_currency.is_base:
        return quantize(cost, currency)
    rate = ns_currency.exchange_rate
    if rate is None or rate <= 0:
        return None
    return quantize(cost / rate, currency)


def _sale_windows(sku: str, currency: str, entries: list[tuple[datetime | None, Decimal, str]],
                  window: tuple[datetime | None, datetime | None]) -> list[SaleRow]:
    """Sale price level rows -> sale windows. Each row runs from its effective date (or open) until the
    next row's effective date; the item's sale start/end fields clip every window."""
    ordered = sorted(entries, key=lambda e: e[0] or datetime.min.replace(tzinfo=timezone.utc))
    for a, b in zip(ordered, ordered[1:]):
        if a[0] == b[0]:
            raise ValueError(f"the sale price level has two prices in effect from the same date ({a[2]}, {b[2]}); keep one")
    w_start, w_end = window
    out: list[SaleRow] = []
    for i, (eff, price, _ref) in enumerate(ordered):
        start = eff
        end = ordered[i + 1][0] if i + 1 < len(ordered) else None
        if w_start is not None and (start is None or start < w_start):
            start = w_start
        if w_end is not None and (end is None or end > w_end):
            end = w_end
        if start is not None and end is not None and end <= start:
            continue
        out.append(SaleRow(sku=sku, currency=currency, price=price, start_at=start, end_at=end))
    return out


def scheduled_instants(offer_set: OfferSet, now: datetime) -> list[datetime]:
    """Future instants at which a regular or B2B price of this SKU changes (``start_at`` > now)."""
    found: set[datetime] = set()
    for offer in offer_set.offers:
        for e in offer.regular:
            if e.start_at is not None and e.start_at > now:
                found.add(e.start_at)
        for p in offer.plans:
            if p.start_at is not None and p.start_at > now:
                found.add(p.start_at)
    return sorted(found)


def hold_reason(hold: Hold) -> str:
    """One quarantine line: what is held, why, and how to release it."""
    return (f"held for approval: {'; '.join(hold.reasons)} — check the NetSuite price; to push it anyway re-run "
            f"with Param approve=[\"{hold.sku}\"]")


def _first(mapping: Mapping[str, Any], n: int = LISTED) -> dict[str, Any]:
    return {k: mapping[k] for k in sorted(mapping)[:n]}


# --- 1. read -------------------------------------------------------------------------------------------
class PricingReadOperator(MarketplaceOperator):
    """``read_netsuite_prices``: currency, price rows and item guard fields from NetSuite (SuiteQL keyset)."""

    sync = SYNC
    ui_color = "#e6f2e6"

    def __init__(self, *, sale_start_field: str | None = SALE_START_FIELD, sale_end_field: str | None = SALE_END_FIELD,
                 netsuite_timezone: str = "UTC", page_size: int = 1000, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sale_start_field = sale_start_field
        self.sale_end_field = sale_end_field
        self.netsuite_timezone = netsuite_timezone
        self.page_size = page_size

    def hook(self) -> Any:
        from airflow_provider_amznetsuite.hooks.netsuite import NetSuiteHook

        return NetSuiteHook(self.mp.netsuite_conn_id)

    def field_names(self) -> FieldNames:
        pc, cur = self.mp.pricing, self.mp.currency
        where = f"marketplaces.{self.marketplace}.pricing"
        sale = pc.sale_price_level is not None
        return FieldNames(
            min_price=expand_field(pc.min_price_field, cur, f"{where}.min_price_field"),
            max_price=expand_field(pc.max_price_field, cur, f"{where}.max_price_field"),
            cost=expand_field(pc.cost_field, cur, f"{where}.cost_field"),
            cost_in_marketplace_currency=bool(pc.cost_field and CURRENCY_TOKEN in pc.cost_field),
            sale_start=expand_field(self.sale_start_field, cur, "sale_start_field") if sale else None,
            sale_end=expand_field(self.sale_end_field, cur, "sale_end_field") if sale else None,
        )

    def levels(self) -> PriceLevels:
        pc = self.mp.pricing
        if pc.price_level is None:
            raise AirflowFailException(
                f"marketplaces.{self.marketplace}.pricing.price_level is not set; name the NetSuite base price level id")
        return PriceLevels(base=pc.price_level, b2b=pc.b2b_price_level, sale=pc.sale_price_level)

    @staticmethod
    def resolve_currency(hook: Any, symbol: str) -> NetSuiteCurrency:
        rows = list(hook.suiteql(
            "SELECT c.id, c.symbol, c.exchangerate, c.currencyprecision, c.isbasecurrency FROM currency c "
            "WHERE c.symbol = :symbol", params={"symbol": symbol}))
        if not rows:
            raise AirflowFailException(
                f"NetSuite has no currency with ISO code {symbol}; add it (Lists > Accounting > Currencies) or fix "
                "the marketplace's currency")
        if len(rows) > 1:
            raise AirflowFailException(
                f"NetSuite has {len(rows)} currencies with ISO code {symbol} (ids "
                f"{', '.join(str(r.get('id')) for r in rows)}); make the symbol unique")
        row = rows[0]
        rate = _decimal(row.get("exchangerate"), "currency exchange rate")
        precision = row.get("currencyprecision")
        return NetSuiteCurrency(id=str(row["id"]), symbol=str(row.get("symbol") or symbol), exchange_rate=rate,
                                precision=int(precision) if precision not in (None, "") else None,
                                is_base=str(row.get("isbasecurrency") or "F").upper() in ("T", "TRUE"))

    def execute(self, context: Mapping[str, Any]) -> dict[str, Any]:
        params = self.params_of(context)
        skus = sku_list(params.get("skus"), "skus")
        if len(skus) > MAX_SKU_PARAM:
            raise AirflowFailException(f"Param skus: {len(skus)} SKUs given; at most {MAX_SKU_PARAM} per run")
        try:
            fields = self.field_names()
            publish_field = expand_field(self.mp.products.flag_field, self.mp.currency,
                                         f"marketplaces.{self.marketplace}.products.flag_field")
            _zone(self.netsuite_timezone, "netsuite_timezone")
        except PricingSetupError as exc:
            raise AirflowFailException(str(exc)) from None
        levels = self.levels()
        hook = self.hook()
        currency = self.resolve_currency(hook, self.mp.currency)
        if currency.precision is not None and currency.precision != minor_units(self.mp.currency):
            self.log.warning("NetSuite currency %s has precision %s; Amazon amounts use the ISO minor units (%s)",
                             currency.symbol, currency.precision, minor_units(self.mp.currency))

        item_filter = "i.isinactive = :inactive"
        item_params: dict[str, Any] = {"inactive": False}
        if publish_field:
            item_filter += f" AND i.{publish_field} = :publish"
            item_params["publish"] = True
        if skus:
            item_filter += " AND i.itemid IN (:skus)"
            item_params["skus"] = skus

        price_sql = ("SELECT p.id, p.item, i.itemid, p.pricelevel, p.quantity, p.unitprice, "
                     "TO_CHAR(p.effectivedate, 'YYYY-MM-DD HH24:MI:SS') AS effectivedate "
                     "FROM pricing p INNER JOIN item i ON i.id = p.item")
        prices = list(hook.suiteql_keyset(
            price_sql, key="p.id", page_size=self.page_size,
            where=f"p.currency = :currency AND p.pricelevel IN (:levels) AND {item_filter}",
            params={"currency": int(currency.id), "levels": [int(x) for x in levels.ids()], **item_params}))

        columns = ["i.id", "i.itemid", f"i.{CATEGORY_FIELD} AS category"]
        for alias, name in (("min_price", fields.min_price), ("max_price", fields.max_price), ("cost", fields.cost)):
            if name:
                columns.append(f"i.{name} AS {alias}")
        for alias, name in (("sale_start", fields.sale_start), ("sale_end", fields.sale_end)):
            if name:
                columns.append(f"TO_CHAR(i.{name}, 'YYYY-MM-DD HH24:MI:SS') AS {alias}")
        items = list(hook.suiteql_keyset(f"SELECT {', '.join(columns)} FROM item i", key="i.id",
                                         page_size=self.page_size, where=item_filter, params=item_params))

        batch = PricingBatch(marketplace=self.marketplace, currency=currency, levels=levels, fields=fields,
                             netsuite_timezone=self.netsuite_timezone, read_at=datetime.now(timezone.utc),
                             sku_filter=skus or None, prices=prices, items=items)
        ref = f"{self.run_key(context)}/{self.task_id}/netsuite"
        self.state.put_batch(ref, batch.model_dump(mode="json"))
        priced = {str(r.get("itemid")) for r in prices if r.get("itemid")}
        counts = {"price_rows": len(prices), "items": len(items), "skus_with_prices": len(priced),
                  "currency_id": currency.id}
        if skus:
            counts["skus_not_found"] = len([s for s in skus if s not in priced])
        self.log.info("%s pricing: read %s", self.marketplace, counts)
        return {"ref": ref, "counts": counts}


# --- 2. plan -------------------------------------------------------------------------------------------
class PricingPlanOperator(MarketplaceOperator):
    """``plan_pricing_push``: offers as of now, deltas + holds, feed documents for the push task."""

    sync = SYNC
    ui_color = "#fff3cc"

    def __init__(self, *, read_task_id: str = "read_netsuite_prices", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.read_task_id = read_task_id

    def now(self) -> datetime:
        """The instant offers are built for: the real current time in UTC (see the module docstring)."""
        return datetime.now(timezone.utc)

    def seller_id(self) -> str:
        from airflow_provider_amznetsuite.hooks.spapi import SpApiHook

        seller = SpApiHook(self.mp.spapi_conn_id).seller_id
        if not seller:
            raise AirflowFailException(
                f"connection {self.mp.spapi_conn_id!r} has no extra.seller_id; set it to the selling partner's "
                "merchant token (Seller Central > Settings > Account Info > Merchant Token)")
        return seller

    def summary_ref(self, context: Mapping[str, Any]) -> str:
        return f"{self.run_key(context)}/{self.task_id}/summary"

    def execute(self, context: Mapping[str, Any]) -> dict[str, Any]:
        params = self.params_of(context)
        dry_run = bool(params.get("dry_run"))
        full_push = bool(params.get("full_push"))
        approve = sku_list(params.get("approve"), "approve")
        read = context["ti"].xcom_pull(task_ids=self.read_task_id) or {}
        if not read.get("ref"):
            raise AirflowFailException(f"{self.read_task_id} returned no batch reference; run it first")
        batch = PricingBatch.model_validate(self.state.get_batch(read["ref"]))
        now = self.now().astimezone(timezone.utc)

        inputs = to_pricing_inputs(batch, self.mp)
        offers = build_offers(inputs.rows, self.mp, now=now)
        problems = {**inputs.problems, **offers.problems}
        flags: dict[str, list[str]] = {}
        for source in (inputs.notes, offers.flags):
            for sku, notes in source.items():
                if sku not in problems:
                    flags.setdefault(sku, []).extend(notes)

        accepted = self.state.get_accepted(SYNC, self.marketplace, keys=list(offers)) if offers else {}
        screening = screen_offers(offers, accepted, max_change_pct=self.mp.pricing.max_change_pct,
                                  approve=approve, full_push=full_push)
        push = screening.push
        product_types = {sku: inputs.product_types.get(sku, FALLBACK_PRODUCT_TYPE) for sku in push}
        messages = pricing_feed_messages(push, product_types=product_types, previous=screening.previous)
        cleanups = {sku: parts for sku in push if (parts := removed_parts(push[sku], screening.previous.get(sku)))}
        docs = plan_listings_feeds(self.seller_id(), messages) if messages else []

        ref = None
        if docs:
            ref = f"{self.run_key(context)}/{self.task_id}/plan"
            self.state.put_batch(ref, {
                "feeds": [{"body": d.body.decode("utf-8"), "sent": {str(k): v for k, v in d.sent.items()}} for d in docs],
                "values": {sku: accepted_state_value(o) for sku, o in push.items()},
            })

        if not dry_run:
            for sku, hold in screening.held.items():
                self.state.quarantine(SYNC, self.marketplace, sku, hold_reason(hold),
                                      detail=json.dumps(hold.to_json(), sort_keys=True))
            for sku, reason in problems.items():
                self.state.quarantine(SYNC, self.marketplace, sku, reason)
            if screening.unchanged:
                # Amazon already holds exactly this offer: an earlier hold or rejection no longer applies.
                self.state.resolve(SYNC, self.marketplace, sorted(screening.unchanged))

        live = {**{s: offers[s] for s in screening.unchanged}, **push}  # what Amazon will hold after this run
        cutovers = {sku: scheduled_instants(o, now) for sku, o in live.items()}
        cutovers = {sku: inst for sku, inst in cutovers.items() if inst}
        instants = sorted(i for inst in cutovers.values() for i in inst)
        sale_windows = sum(1 for s in live.values() for o in s.offers if o.discount_kind == "sale")
        follow_ups = {sku: o.follow_up_at for sku, o in live.items() if o.follow_up_at is not None}
        exact = {sku: o.exact_until for sku, o in live.items() if o.exact_until is not None}
        priced = set(offers) | set(problems)
        summary = {
            "as_of": iso_z(now),
            "currency": self.mp.currency,
            "netsuite_currency_id": batch.currency.id,
            "skus": len(priced),
            "offers_built": sum(len(o.offers) for o in offers.values()),
            "to_push": len(push),
            "unchanged": len(screening.unchanged),
            "held": {sku: h.to_json() for sku, h in sorted(screening.held.items())},
            "approved": sorted(screening.approved),
            "approve_unused": sorted(set(approve) - screening.approved),
            "problems": dict(sorted(problems.items())),
            "flags": dict(sorted(flags.items())),
            "scheduled_cutovers": {"count": len(instants), "skus": len(cutovers),
                                   "next_at": iso_z(instants[0]) if instants else None,
                                   "by_sku": {s: [iso_z(i) for i in v] for s, v in sorted(cutovers.items())}},
            "sale_windows": sale_windows,
            "follow_up": {"skus": len(follow_ups), "next_at": iso_z(min(follow_ups.values())) if follow_ups else None,
                          "by_sku": {s: iso_z(t) for s, t in sorted(follow_ups.items())}},
            "exact_until": {s: iso_z(t) for s, t in sorted(exact.items())},
            "cleanups": {s: parts for s, parts in sorted(cleanups.items())},
            "feeds": len(docs),
            "messages": len(messages),
            "full_push": full_push,
            "dry_run": dry_run,
            "skus_not_found": sorted(set(batch.sku_filter or ()) - priced),
        }
        self.state.put_batch(self.summary_ref(context), summary)
        counts = {"skus": summary["skus"], "to_push": len(push), "unchanged": len(screening.unchanged),
                  "held": len(screening.held), "approved": len(screening.approved), "problems": len(problems),
                  "flagged": len(flags), "scheduled_cutovers": len(instants), "cleanups": len(cleanups)}
        self._record(context, {**counts, "feeds": len(docs), "messages": len(messages), "dry_run": dry_run,
                               "next_cutover_at": summary["scheduled_cutovers"]["next_at"],
                               "next_follow_up_at": summary["follow_up"]["next_at"],
                               "held_skus": _first({s: h.reasons for s, h in screening.held.items()})})
        for sku, hold in list(screening.held.items())[:LISTED]:
            self.log.warning("held %s: %s", sku, "; ".join(hold.reasons))
        return {"ref": ref, "feeds": len(docs), "messages": len(messages), "summary_ref": self.summary_ref(context),
                "counts": counts}

    def _record(self, context: Mapping[str, Any], summary: Mapping[str, Any]) -> None:
        run_id = getattr(context.get("dag_run"), "run_id", None) or "adhoc"
        try:
            self.state.record_run(self.dag_id, run_id, self.task_id, summary)
        except Exception:  # a summary must never turn a plan into a failure
            self.log.exception("could not record the plan summary")


# --- 4. report -----------------------------------------------------------------------------------------
class PricingReportOperator(MarketplaceOperator):
    """``pricing_report``: the run in one summary; fails visibly when SKUs were held, unusable or rejected.

    Runs with ``trigger_rule=all_done`` so holds are reported even when the push failed, and fails itself
    whenever an upstream task failed (the report is the DAG's leaf, it decides the run's state).
    """

    sync = SYNC
    ui_color = "#eeeeee"

    def __init__(self, *, plan_task_id: str = "plan_pricing_push", push_task_id: str = "push_prices",
                 **kwargs: Any) -> None:
        kwargs.setdefault("trigger_rule", "all_done")
        super().__init__(**kwargs)
        self.plan_task_id = plan_task_id
        self.push_task_id = push_task_id

    def execute(self, context: Mapping[str, Any]) -> dict[str, Any]:
        params = self.params_of(context)
        dry_run = bool(params.get("dry_run"))
        plan = context["ti"].xcom_pull(task_ids=self.plan_task_id) or {}
        if not plan.get("summary_ref"):
            raise AirflowFailException(
                f"{self.plan_task_id} did not finish, so nothing was planned or pushed; see the logs of "
                f"read_netsuite_prices / {self.plan_task_id}")
        planned = self.state.get_batch(plan["summary_ref"])
        run_id = getattr(context.get("dag_run"), "run_id", None) or "adhoc"
        push = self.state.run_summaries(self.dag_id, run_id).get(self.push_task_id)
        failures: list[str] = []
        if push is None:
            failures.append(f"{self.push_task_id} did not finish; its feeds (if any were submitted) are settled by the "
                            "next run — see its log")
            push = {}
        held = planned.get("held", {})
        problems = planned.get("problems", {})
        rejected = int(push.get("rejected", 0) or 0)
        summary = {
            "as_of": planned.get("as_of"),
            "currency": planned.get("currency"),
            "skus": planned.get("skus", 0),
            "offers_built": planned.get("offers_built", 0),
            "unchanged": planned.get("unchanged", 0),
            "offers_sent": planned.get("messages", 0),
            "feeds": push.get("feeds", 0),
            "accepted": push.get("accepted", 0),
            "rejected": rejected,
            "rejected_codes": push.get("rejected_codes", {}),
            "unconfirmed": push.get("unconfirmed", 0),
            "held": len(held),
            "held_reasons": _first({sku: h.get("reasons", []) for sku, h in held.items()}),
            "approved": planned.get("approved", []),
            "approve_unused": planned.get("approve_unused", []),
            "problems": len(problems),
            "problem_reasons": _first(problems),
            "flagged": len(planned.get("flags", {})),
            "scheduled_cutovers": planned.get("scheduled_cutovers", {}).get("count", 0),
            "next_cutover_at": planned.get("scheduled_cutovers", {}).get("next_at"),
            "sale_windows": planned.get("sale_windows", 0),
            "cleanups": len(planned.get("cleanups", {})),
            "follow_up_skus": planned.get("follow_up", {}).get("skus", 0),
            "next_follow_up_at": planned.get("follow_up", {}).get("next_at"),
            "not_exact": len(planned.get("exact_until", {})),
            "skus_not_found": planned.get("skus_not_found", []),
            "dry_run": dry_run,
        }
        for sku, reasons in summary["held_reasons"].items():
            self.log.warning("held for approval %s: %s", sku, "; ".join(reasons))
        flagged = 0 if dry_run else len(held) + len(problems) + rejected
        return self.finish(context, summary, quarantined=flagged, failures=failures)
