"""Inventory: NetSuite availability rows + marketplace config -> sellable MFN quantity per SKU; deltas;
the FBA mirror (Amazon FBA fulfillable -> NetSuite FBA location as an inventory adjustment).

Rules (see docs/inventory-and-pricing.md for the reasoning):

Per SKU and marketplace, for each row at a location listed in ``mp.locations.mfn``:

    available  = row.available            (NetSuite ``quantityavailable`` = on hand − committed;
                                            derived as on_hand − committed when the row has none —
                                            committed is never subtracted twice)
    location   = available
                 + in_transit              (only when ``inventory.include_in_transit``)
                 − backordered             (only when ``inventory.subtract_backordered``)
    location   = max(location, 0)
    contribution = min(floor(location × share_L), cap_L)      (cap only when configured)

    pool       = Σ contributions
    after      = max(pool − safety, 0)     (safety = the item's safety-stock field value when present,
                                            else ``inventory.safety_stock``)
    quantity   = min(floor(after × inventory.allocation_share), inventory.cap)

``inventory.sku_overrides[sku]`` replaces the computed quantity; an inactive item always gets 0.
Rows at locations not in ``mp.locations.mfn`` contribute nothing and are reported in
``unmapped_locations`` (no implicit defaults); the FBA location (``mp.locations.fba``) never counts as
MFN stock and is not reported as unmapped. FBA SKUs (``fba_skus`` or a row flagged ``is_fba``) never get
an MFN quantity: they are left out of ``quantities`` and listed in ``skipped_fba``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from airflow_provider_amznetsuite.domain.feeds import FeedMessage, fulfillment_availability_patch

if TYPE_CHECKING:
    from airflow_provider_amznetsuite.config import MarketplaceConfig

MAX_ADJUSTMENT_LINES = 1000  # NetSuite caps an inventory adjustment at 1,000 lines
_EXTERNAL_ID_PART = re.compile(r"^[A-Za-z0-9_-]+\Z")


class InventoryError(ValueError):
    """Input rows or configuration that cannot produce a quantity; names the field and the fix."""


# --- input rows ------------------------------------------------------------------------------------
def _quantity(value: Any, rounding: str, what: str) -> int:
    """NetSuite quantities arrive as ints, numeric strings or JSON numbers; fractions are rounded
    conservatively (supply down, demand up) so that sellable stock is never overstated."""
    if value is None or value == "":
        return 0
    if isinstance(value, bool):
        raise ValueError(f"{what}: expected a number, got a boolean")
    if isinstance(value, int):
        return value
    try:
        d = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValueError(f"{what}: {value!r} is not a number") from None
    if not d.is_finite():
        raise ValueError(f"{what}: {value!r} is not a finite number")
    return int(d.to_integral_value(rounding=rounding))


_SUPPLY = ("on_hand", "available", "in_transit")  # rounded down when fractional
_DEMAND = ("committed", "backordered")  # rounded up when fractional


class InventoryRow(BaseModel):
    """NetSuite availability for one item at one location (one SuiteQL row), for one marketplace."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sku: str = Field(min_length=1)
    item_id: str = Field(min_length=1)
    location_id: str = Field(min_length=1)
    on_hand: int = 0
    committed: int = 0
    available: int | None = None  # NetSuite quantityavailable (= on hand − committed); None → derived
    in_transit: int = 0
    backordered: int = 0
    safety_stock: int | None = None  # value of the item's safety-stock field, when set
    is_fba: bool = False  # the SKU is fulfilled by Amazon in this marketplace
    inactive: bool = False

    @model_validator(mode="before")
    @classmethod
    def _normalise(cls, data: Any) -> Any:
        """One pass over a raw SuiteQL row: ids to strings, 'T'/'F' flags, quantities to ints."""
        if not isinstance(data, Mapping):
            return data
        out = dict(data)
        for key in ("item_id", "location_id"):
            v = out.get(key)
            if isinstance(v, int) and not isinstance(v, bool):
                out[key] = str(v)
        for key in _SUPPLY:
            if key in out:
                v = out[key]
                if type(v) is not int and not (v is None and key == "available"):
                    out[key] = _quantity(v, ROUND_FLOOR, key)
        for key in _DEMAND:
            if key in out:
                v = out[key]
                if type(v) is not int:
                    out[key] = _quantity(v, ROUND_CEILING, key)
        if "safety_stock" in out:
            v = out["safety_stock"]
            if v == "" or v is None:
                out["safety_stock"] = None
            else:
                q = v if type(v) is int else _quantity(v, ROUND_CEILING, "safety_stock")
                if q < 0:
                    raise ValueError(f"safety_stock {q} is negative; fix the item's safety-stock field")
                out["safety_stock"] = q
        for key in ("is_fba", "inactive"):
            v = out.get(key)
            if isinstance(v, str) and v.strip().upper() in ("T", "F"):  # SuiteQL booleans
                out[key] = v.strip().upper() == "T"
            elif v is None and key in out:
                out[key] = False
        return out

    @property
    def available_qty(self) -> int:
        return self.available if self.available is not None else self.on_hand - self.committed


def parse_rows(raw: Iterable[Mapping[str, Any]]) -> list[InventoryRow]:
    """Validate raw dict rows; the error names the row number, SKU and field."""
    out: list[InventoryRow] = []
    for n, r in enumerate(raw, start=1):
        try:
            out.append(InventoryRow.model_validate(r))
        except ValidationError as exc:
            e = exc.errors()[0]
            loc = ".".join(str(p) for p in e["loc"])
            raise InventoryError(f"inventory row {n} (sku {r.get('sku')!r}): {loc}: {e['msg']}") from None
    return out


# --- sellable quantity ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SellableDetail:
    """How one SKU's quantity was reached (for logs and the run report)."""

    locations: dict[str, int]  # mapped location -> contribution after location share and cap
    pool: int
    safety_stock: int
    after_safety: int
    allocated: int  # after channel share and cap
    quantity: int
    rule: str  # "computed" | "override" | "inactive"


@dataclass(frozen=True)
class InventoryComputation:
    quantities: dict[str, int]
    unmapped_locations: set[str]
    skipped_fba: set[str]
    details: dict[str, SellableDetail]
    unknown_overrides: set[str] = field(default_factory=set)  # sku_overrides naming SKUs not in the rows


def _ratio(share: Decimal) -> tuple[int, int]:
    num, den = share.as_integer_ratio()
    return num, den


def _floor_share(qty: int, ratio: tuple[int, int]) -> int:
    """floor(qty × share) exactly, with the share as an integer ratio (qty >= 0)."""
    num, den = ratio
    return qty if num == den else qty * num // den


def compute_sellable(
    rows: Iterable[InventoryRow],
    mp: MarketplaceConfig,
    *,
    fba_skus: Iterable[str] = (),
) -> InventoryComputation:
    """Sellable MFN quantity per SKU for one marketplace (rules in the module docstring)."""
    inv = mp.inventory
    mfn = {loc.location_id: loc for loc in mp.locations.mfn}
    loc_rules = {loc.location_id: (_ratio(loc.share), loc.cap) for loc in mp.locations.mfn}
    fba_location = mp.locations.fba
    if fba_location is not None and fba_location in mfn:
        raise InventoryError(
            f"marketplaces.{mp.code}.locations: location {fba_location} is both the FBA location and an MFN "
            "location; remove it from locations.mfn (FBA stock is never sold as MFN)"
        )
    fba = set(fba_skus)
    per_sku: dict[str, dict[str, int]] = {}
    safety_field: dict[str, int] = {}
    inactive: set[str] = set()
    unmapped: set[str] = set()
    include_transit = inv.include_in_transit
    subtract_back = inv.subtract_backordered

    for row in rows:
        sku = row.sku
        locs = per_sku.get(sku)
        if locs is None:
            locs = per_sku[sku] = {}
        if row.is_fba:
            fba.add(sku)
        if row.inactive:
            inactive.add(sku)
        if row.safety_stock is not None:
            # the field belongs to the item; if rows disagree, the larger buffer wins
            prev = safety_field.get(sku)
            safety_field[sku] = row.safety_stock if prev is None else max(prev, row.safety_stock)
        loc_id = row.location_id
        if loc_id not in mfn:
            if loc_id != fba_location:
                unmapped.add(loc_id)
            continue
        qty = row.available if row.available is not None else row.on_hand - row.committed
        if include_transit:
            qty += row.in_transit
        if subtract_back:
            qty -= row.backordered
        # several rows for one item x location (e.g. per bin) are summed before clamping
        locs[loc_id] = locs.get(loc_id, 0) + qty

    quantities: dict[str, int] = {}
    details: dict[str, SellableDetail] = {}
    skipped: set[str] = set()
    default_safety = inv.safety_stock
    share = _ratio(inv.allocation_share)
    cap = inv.cap
    overrides = inv.sku_overrides
    for sku in sorted(per_sku):
        if sku in fba:
            skipped.add(sku)
            continue
        contributions: dict[str, int] = {}
        for loc_id, raw in per_sku[sku].items():
            loc_share, loc_cap = loc_rules[loc_id]
            c = _floor_share(raw if raw > 0 else 0, loc_share)
            if loc_cap is not None and c > loc_cap:
                c = loc_cap
            contributions[loc_id] = c
        pool = sum(contributions.values())
        safety = safety_field.get(sku, default_safety)
        after = max(pool - safety, 0)
        allocated = _floor_share(after, share)
        if cap is not None:
            allocated = min(allocated, cap)
        if sku in inactive:
            final, rule = 0, "inactive"
        elif sku in overrides:
            final, rule = max(int(overrides[sku]), 0), "override"
        else:
            final, rule = allocated, "computed"
        quantities[sku] = final
        details[sku] = SellableDetail(contributions, pool, safety, after, allocated, final, rule)
    unknown_overrides = {s for s in overrides if s not in per_sku}
    return InventoryComputation(quantities, unmapped, skipped, details, unknown_overrides)


def compute_deltas(current: Mapping[str, int], accepted: Mapping[str, Any], *, full_push: bool = False) -> dict[str, int]:
    """Quantities to send: SKUs Amazon has not accepted yet, and SKUs whose quantity changed.

    ``accepted`` is the last quantity Amazon accepted per SKU (from the sync state). Unchanged SKUs are
    omitted; ``full_push`` sends every SKU of ``current``. SKUs only in ``accepted`` are not touched
    (an item that left the NetSuite query is the products sync's business).
    """
    if full_push:
        return dict(current)
    out: dict[str, int] = {}
    for sku, qty in current.items():
        prev = accepted.get(sku)
        if prev is None or int(prev) != qty:
            out[sku] = qty
    return out


def inventory_feed_messages(
    quantities: Mapping[str, int],
    *,
    product_types: Mapping[str, str] | str,
    handling_time_days: int | None = None,
) -> list[FeedMessage]:
    """One PATCH message per SKU (sorted by SKU) merging ``fulfillment_availability`` (channel DEFAULT)."""
    out: list[FeedMessage] = []
    for sku in sorted(quantities):
        if isinstance(product_types, str):
            ptype = product_types
        else:
            ptype = product_types.get(sku)  # type: ignore[assignment]
            if not ptype:
                raise InventoryError(f"SKU {sku!r}: no Amazon productType known; pass it in product_types")
        out.append(FeedMessage.patch(sku, ptype, [fulfillment_availability_patch(quantities[sku], handling_time_days)]))
    return out


# --- FBA mirror ------------------------------------------------------------------------------------------
class _Reserved(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    total: int = Field(default=0, alias="totalReservedQuantity", ge=0)


class _Researching(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    total: int = Field(default=0, alias="totalResearchingQuantity", ge=0)


class _Unfulfillable(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    total: int = Field(default=0, alias="totalUnfulfillableQuantity", ge=0)


class _Details(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    fulfillable: int = Field(default=0, alias="fulfillableQuantity", ge=0)
    inbound_working: int = Field(default=0, alias="inboundWorkingQuantity", ge=0)
    inbound_shipped: int = Field(default=0, alias="inboundShippedQuantity", ge=0)
    inbound_receiving: int = Field(default=0, alias="inboundReceivingQuantity", ge=0)
    reserved: _Reserved = Field(default_factory=_Reserved, alias="reservedQuantity")
    researching: _Researching = Field(default_factory=_Researching, alias="researchingQuantity")
    unfulfillable: _Unfulfillable = Field(default_factory=_Unfulfillable, alias="unfulfillableQuantity")


class FbaSummary(BaseModel):
    """One ``InventorySummary`` of getInventorySummaries (FBA Inventory v1, called with details=true)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    seller_sku: str = Field(alias="sellerSku", min_length=1)
    details: _Details = Field(alias="inventoryDetails")

    @property
    def fulfillable(self) -> int:
        return self.details.fulfillable

    @property
    def inbound(self) -> int:
        d = self.details
        return d.inbound_working + d.inbound_shipped + d.inbound_receiving


@dataclass(frozen=True, slots=True)
class FbaMovement:
    """One SKU's FBA picture for operations: NetSuite FBA on hand moves ``from_qty`` -> ``to_qty``."""

    sku: str
    from_qty: int
    to_qty: int
    delta: int
    inbound: int
    reserved: int
    unfulfillable: int
    researching: int

    def to_json(self) -> dict[str, Any]:
        return {"sku": self.sku, "from": self.from_qty, "to": self.to_qty, "delta": self.delta,
                "inbound": self.inbound, "reserved": self.reserved, "unfulfillable": self.unfulfillable,
                "researching": self.researching}


@dataclass(frozen=True)
class FbaAdjustmentPlan:
    adjustments: list[dict[str, Any]]  # NetSuite inventoryAdjustment bodies (≤ 1000 lines each)
    movements: list[FbaMovement]  # every SKU considered, sorted by SKU (delta may be 0)
    unknown_skus: set[str]  # reported by Amazon but without a NetSuite item id (quarantine them)
    not_reported: set[str]  # NetSuite has FBA stock, Amazon did not report the SKU (left unchanged)

    @property
    def external_ids(self) -> list[str]:
        return [a["externalId"] for a in self.adjustments]

    @property
    def line_count(self) -> int:
        return sum(len(a["inventory"]["items"]) for a in self.adjustments)


def window_key_for(window_end: datetime) -> str:
    """``yyyymmdd-hhmm`` of a window end in UTC (the convention for FBA adjustment external ids)."""
    if window_end.tzinfo is None or window_end.utcoffset() is None:
        raise InventoryError("window_end must be timezone-aware (UTC)")
    return window_end.astimezone(timezone.utc).strftime("%Y%m%d-%H%M")


def fba_adjustment(
    fba_summaries: Iterable[FbaSummary | Mapping[str, Any]],
    netsuite_fba_on_hand: Mapping[str, int],
    *,
    item_ids: Mapping[str, str],
    location_id: str,
    subsidiary_id: str,
    window_key: str | datetime,
    marketplace: str,
    account_id: str | None = None,
    memo: str | None = None,
    tran_date: date | None = None,
    zero_missing: bool = False,
    max_lines: int = MAX_ADJUSTMENT_LINES,
) -> FbaAdjustmentPlan:
    """Plan inventory adjustments that make NetSuite's FBA location equal Amazon's fulfillable quantity.

    ``adjustQtyBy = fulfillable − NetSuite on hand`` per SKU; zero lines are dropped, so a rerun with
    equal quantities yields no adjustment. Several summaries for one SKU are summed. Lines are sorted
    by SKU and split into adjustments of ≤ ``max_lines``; external ids are
    ``AMZ-FBA-<marketplace>-<window_key>`` then ``…-2``, ``…-3`` (deterministic for equal inputs).
    SKUs NetSuite holds at the FBA location but Amazon did not report are left alone and listed in
    ``not_reported`` — unless ``zero_missing`` (the summaries are a complete listing), then they go to 0.
    """
    key = window_key_for(window_key) if isinstance(window_key, datetime) else str(window_key)
    for what, value in (("marketplace", marketplace), ("window_key", key)):
        if not _EXTERNAL_ID_PART.match(value or ""):
            raise InventoryError(f"{what} {value!r} may contain only letters, digits, '_' and '-' (it forms the external id)")
    for what, value in (("location_id", location_id), ("subsidiary_id", subsidiary_id), ("account_id", account_id)):
        if value is not None and not str(value).isdigit():
            raise InventoryError(f"{what} {value!r} is not a NetSuite internal id (digits only)")
    if not 1 <= max_lines <= MAX_ADJUSTMENT_LINES:
        raise InventoryError(f"max_lines {max_lines} must be 1..{MAX_ADJUSTMENT_LINES}")

    fulfillable: dict[str, int] = {}
    extra: dict[str, list[int]] = {}  # sku -> [inbound, reserved, unfulfillable, researching]
    for n, raw in enumerate(fba_summaries, start=1):
        try:
            s = raw if isinstance(raw, FbaSummary) else FbaSummary.model_validate(raw)
        except ValidationError as exc:
            e = exc.errors()[0]
            loc = ".".join(str(p) for p in e["loc"])
            hint = " (call getInventorySummaries with details=true)" if "inventoryDetails" in loc else ""
            raise InventoryError(f"FBA inventory summary {n}: {loc}: {e['msg']}{hint}") from None
        sku = s.seller_sku
        fulfillable[sku] = fulfillable.get(sku, 0) + s.fulfillable
        acc = extra.setdefault(sku, [0, 0, 0, 0])
        acc[0] += s.inbound
        acc[1] += s.details.reserved.total
        acc[2] += s.details.unfulfillable.total
        acc[3] += s.details.researching.total

    targets = dict(fulfillable)
    not_reported: set[str] = set()
    for sku, on_hand in netsuite_fba_on_hand.items():
        if sku not in targets and on_hand:
            if zero_missing:
                targets[sku] = 0
            else:
                not_reported.add(sku)

    unknown: set[str] = set()
    movements: list[FbaMovement] = []
    lines: list[dict[str, Any]] = []
    for sku in sorted(targets):
        current = int(netsuite_fba_on_hand.get(sku, 0) or 0)
        to = targets[sku]
        delta = to - current
        inbound, reserved, unfulfillable, researching = extra.get(sku, [0, 0, 0, 0])
        movements.append(FbaMovement(sku, current, to, delta, inbound, reserved, unfulfillable, researching))
        if delta == 0:
            continue
        item = item_ids.get(sku)
        if not item:
            unknown.add(sku)
            continue
        lines.append({"item": {"id": str(item)}, "location": {"id": str(location_id)}, "adjustQtyBy": delta})

    base_id = f"AMZ-FBA-{marketplace}-{key}"
    text = memo or f"Amazon FBA mirror {marketplace} {key}: NetSuite FBA location set to Amazon fulfillable"
    adjustments: list[dict[str, Any]] = []
    for i in range(0, len(lines), max_lines):
        n = i // max_lines + 1
        body: dict[str, Any] = {
            "externalId": base_id if n == 1 else f"{base_id}-{n}",
            "subsidiary": {"id": str(subsidiary_id)},
            "adjLocation": {"id": str(location_id)},
            "memo": text[:999],
            "inventory": {"items": lines[i : i + max_lines]},
        }
        if account_id is not None:
            body["account"] = {"id": str(account_id)}
        if tran_date is not None:
            body["tranDate"] = tran_date.isoformat()
        adjustments.append(body)
    return FbaAdjustmentPlan(adjustments, movements, unknown, not_reported)
