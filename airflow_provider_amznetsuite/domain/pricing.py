"""Pricing: NetSuite price rows + marketplace config -> Amazon ``purchasable_offer`` per SKU (Decimal end to end).

- One offer per marketplace_id + currency + audience: ``ALL`` (base price level) and ``B2B`` (business
  price level, with ``quantity_discount_plan`` tiers, discount_type ``fixed``).
- Amounts are quantised to the currency's minor unit with ROUND_HALF_UP (:func:`money.quantize`, the
  project's one rounding rule); JPY has no decimals.
- VAT: when NetSuite holds net prices (``pricing.prices_include_tax`` false) and the marketplace expects
  VAT-inclusive ``value_with_tax`` (``pricing.vat_inclusive`` true), :func:`net_to_gross` picks the
  smallest gross whose half-up conversion back equals the net price, so net → gross → net never drifts.
- Effective-dated prices: Amazon's product type schema allows one ``our_price`` and one ``discounted_price``
  schedule entry, so a future NetSuite price is pushed now as a discount window (:func:`amazon_form`): a
  decrease keeps ``our_price`` and discounts to the new price from the instant (``start_at``); an increase
  sends the new ``our_price`` and discounts to the current price until the instant (``end_at``), both UTC
  with ``Z``. The run after the instant sends the plain price and deletes the discount
  (:func:`removal_patch`). A sale window wins inside its window; what one discount cannot hold is sent
  by a later run (``exact_until``, ``follow_up_at``).
- Safety: :func:`check_change` holds large changes and prices below cost/minimum; :func:`screen_offers`
  combines fingerprints (deltas), holds and the ``approve`` list.

See docs/inventory-and-pricing.md.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone
from decimal import ROUND_CEILING, Decimal, localcontext
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import AliasChoices, AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from airflow_provider_amznetsuite.domain.feeds import FeedMessage, PatchOperation, purchasable_offer_patch
from airflow_provider_amznetsuite.domain.money import MoneyError, is_currency, quantize, quantum, to_decimal

if TYPE_CHECKING:
    from airflow_provider_amznetsuite.config import MarketplaceConfig

MAX_TIERS = 5  # quantity_discount_plan levels Amazon accepts per schedule
_PREC = 60  # working precision for VAT division (exact tie detection; see gross_to_net)
_MAX_RATE_DECIMALS = 10

Audience = Literal["ALL", "B2B"]
DiscountKind = Literal["sale", "next_price", "current_price"]


class PricingError(ValueError):
    """Prices, rates or configuration that cannot produce an offer; names the SKU/field and the fix."""


# --- VAT round trip ------------------------------------------------------------------------------------
def _rate(rate: Decimal | int | str) -> Decimal:
    try:
        r = to_decimal(rate)
    except MoneyError as exc:
        raise PricingError(f"VAT rate: {exc}") from None
    if not Decimal(0) <= r < Decimal(1):
        raise PricingError(f"VAT rate {r} must be a fraction 0 <= rate < 1 (e.g. 0.20 for 20 %)")
    exp = r.as_tuple().exponent
    if isinstance(exp, int) and -exp > _MAX_RATE_DECIMALS:
        raise PricingError(f"VAT rate {r} has more than {_MAX_RATE_DECIMALS} decimal places")
    return r


def _amount(value: Decimal | int | str, what: str) -> Decimal:
    try:
        d = to_decimal(value)
    except MoneyError as exc:
        raise PricingError(f"{what}: {exc}") from None
    if d < 0:
        raise PricingError(f"{what}: {d} is negative; prices must be >= 0")
    return d


def gross_to_net(gross: Decimal | int | str, rate: Decimal | int | str, currency: str) -> Decimal:
    """``gross / (1 + rate)`` rounded half-up to the currency's minor unit.

    The quotient is computed with 60 significant digits before :func:`money.quantize`; with rates of at
    most 10 decimals a quotient that is not exact lies far further from a rounding tie than that
    precision, so ties are decided exactly.
    """
    g = _amount(gross, "gross price")
    r = _rate(rate)
    with localcontext() as ctx:
        ctx.prec = _PREC
        exact = g / (1 + r)
    return quantize(exact, currency)


def net_to_gross_exact(net: Decimal | int | str, rate: Decimal | int | str, currency: str) -> tuple[Decimal, bool]:
    """The smallest gross (in minor units) whose :func:`gross_to_net` equals ``net``, and whether one exists.

    ``net`` is first quantised to the currency (half-up). The grosses that convert back to ``net`` are
    those in ``[(net − q/2)(1 + r), (net + q/2)(1 + r))`` with ``q`` the minor unit; that interval is
    ``(1 + r)·q ≥ q`` wide, so for every rate ≥ 0 it holds a multiple of ``q`` and the answer is exact.
    The ``False`` branch (nearest gross, half-up) is a defensive check that the proof holds.
    """
    n = quantize(_amount(net, "net price"), currency)
    r = _rate(rate)
    q = quantum(currency)
    with localcontext() as ctx:
        ctx.prec = _PREC
        lower = (n - q / 2) * (1 + r)
        g = lower.quantize(q, rounding=ROUND_CEILING)
    if g <= 0:
        g = Decimal(0).quantize(q)
    if gross_to_net(g, r, currency) == n:
        return g, True
    with localcontext() as ctx:  # pragma: no cover - unreachable for rate >= 0 (see docstring)
        ctx.prec = _PREC
        return quantize(n * (1 + r), currency), False


def net_to_gross(net: Decimal | int | str, rate: Decimal | int | str, currency: str) -> Decimal:
    """Smallest VAT-inclusive amount that converts back to ``net`` exactly (see :func:`net_to_gross_exact`)."""
    return net_to_gross_exact(net, rate, currency)[0]


def local_instant(day: date, tz: str, at: time = time(0)) -> datetime:
    """The UTC instant of local wall-clock ``at`` on ``day`` in IANA zone ``tz`` (e.g. NetSuite's
    effective date at 00:00 Europe/London)."""
    try:
        zone = ZoneInfo(tz)
    except Exception:  # zoneinfo raises several types for bad keys
        raise PricingError(f"{tz!r} is not an IANA time zone (e.g. 'Europe/London')") from None
    return datetime.combine(day, at, tzinfo=zone).astimezone(timezone.utc)


def iso_z(instant: datetime) -> str:
    """ISO 8601 in UTC with a ``Z`` suffix (``2026-11-28T00:00:00Z``)."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise PricingError(f"{instant!r} has no time zone; schedule instants must be timezone-aware")
    u = instant.astimezone(timezone.utc)
    spec = "seconds" if u.microsecond == 0 else "microseconds"
    return u.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


# --- input rows -------------------------------------------------------------------------------------------
def _dec(v: Any) -> Any:
    if v is None or isinstance(v, Decimal):
        return v
    if isinstance(v, str) and not v.strip():
        return None
    return to_decimal(v)  # refuses float


class _Row(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    @field_validator("currency", mode="before", check_fields=False)
    @classmethod
    def _currency(cls, v: Any) -> Any:
        if isinstance(v, str) and not is_currency(v.strip().upper()):
            raise ValueError(f"{v!r} is not an ISO-4217 currency code")
        return v.strip().upper() if isinstance(v, str) else v


class PriceRow(_Row):
    """One NetSuite price: item × price level × currency × quantity tier (× effective date)."""

    sku: str = Field(min_length=1)
    item_id: str | None = None
    price_level: str = Field(min_length=1)
    currency: str
    price: Decimal
    min_quantity: int = Field(default=0, ge=0)  # quantity-tier lower bound; 0 or 1 = the base price
    effective_from: AwareDatetime | None = None  # None = in effect already

    @field_validator("price", mode="before")
    @classmethod
    def _price(cls, v: Any) -> Any:
        return _dec(v)

    @field_validator("price_level", "item_id", mode="before")
    @classmethod
    def _id(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v


class SaleRow(_Row):
    """A promotional price with its window (from the sale price level and its start/end fields)."""

    sku: str = Field(min_length=1)
    currency: str
    price: Decimal
    start_at: AwareDatetime | None = None
    end_at: AwareDatetime | None = None

    @field_validator("price", mode="before")
    @classmethod
    def _price(cls, v: Any) -> Any:
        return _dec(v)


class ItemPriceFields(_Row):
    """Per-item guard values (custitem min/max price fields and cost), in the marketplace currency and,
    for min/max, on the same tax basis as the NetSuite prices. Cost is always net of VAT."""

    sku: str = Field(min_length=1)
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    cost: Decimal | None = None
    currency: str | None = None  # None = the marketplace currency

    @field_validator("min_price", "max_price", "cost", mode="before")
    @classmethod
    def _amounts(cls, v: Any) -> Any:
        return _dec(v)


PricingInput = PriceRow | SaleRow | ItemPriceFields


# --- offers -------------------------------------------------------------------------------------------------
class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _Windowed(_Frozen):
    """A schedule entry valid in [start_at, end_at); open ends carry no key (never a null)."""

    start_at: AwareDatetime | None = None
    end_at: AwareDatetime | None = None

    def covers(self, instant: datetime) -> bool:
        return (self.start_at is None or self.start_at <= instant) and (self.end_at is None or instant < self.end_at)

    def _window_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.start_at is not None:
            out["start_at"] = iso_z(self.start_at)
        if self.end_at is not None:
            out["end_at"] = iso_z(self.end_at)
        return out


class ScheduleEntry(_Windowed):
    value: Decimal  # value_with_tax as sent to Amazon
    net: Decimal  # the same price net of VAT (for cost / minimum / change checks)

    def to_json(self) -> dict[str, Any]:
        out = self._window_json()
        out["value_with_tax"] = self.value
        return out


class TierLevel(_Frozen):
    lower_bound: int = Field(ge=2)
    value: Decimal
    net: Decimal


class PlanEntry(_Windowed):
    levels: tuple[TierLevel, ...]

    def to_json(self) -> dict[str, Any]:
        out = self._window_json()
        out["discount_type"] = "fixed"
        out["levels"] = [{"lower_bound": t.lower_bound, "value": t.value} for t in self.levels]
        return out


class Offer(_Frozen):
    """One ``purchasable_offer`` entry (marketplace_id + currency + audience).

    *What NetSuite says* (used by the checks, the summary and the next runs):

    - ``regular`` — the regular price from the build instant on, one entry per effective-dated change
      (the first entry has no ``start_at``: in effect already);
    - ``sales`` — the live sale windows (audience ALL);
    - ``plans`` — the B2B quantity tiers over time.

    *What Amazon receives* (:meth:`to_attribute`), within what its product type schema allows — one
    ``our_price`` schedule entry, one ``discounted_price`` schedule entry, one quantity plan — chosen by
    :func:`amazon_form`:

    - ``amazon_price`` — ``our_price`` (no dates);
    - ``amazon_discount`` — ``discounted_price`` (optional ``start_at``/``end_at``), with ``discount_kind``
      ``sale`` (a NetSuite sale window), ``next_price`` (a price decrease: the new price from the instant)
      or ``current_price`` (a price increase: the current price until the instant);
    - ``amazon_plan`` — the quantity tiers in effect when the offer was built (no dates);
    - ``exact_until`` — the first instant at which Amazon's offer stops matching NetSuite unless a later run
      pushes again (``None``: it matches for good); ``follow_up_at`` — the first instant after which a run
      sends a changed offer (the clean-up after a cutover, the end of a sale, the next step).

    Offers stored by earlier versions (``our_price`` / ``discounted_price`` / ``quantity_discount_plan``
    timelines, no ``amazon_*`` fields) still load; :meth:`to_attribute` then renders them as they were sent.
    """

    marketplace_id: str
    currency: str
    audience: Audience
    regular: tuple[ScheduleEntry, ...] = Field(validation_alias=AliasChoices("regular", "our_price"))
    sales: tuple[ScheduleEntry, ...] = Field(default=(), validation_alias=AliasChoices("sales", "discounted_price"))
    plans: tuple[PlanEntry, ...] = Field(default=(), validation_alias=AliasChoices("plans", "quantity_discount_plan"))
    minimum_seller_allowed_price: ScheduleEntry | None = None
    maximum_seller_allowed_price: ScheduleEntry | None = None
    amazon_price: ScheduleEntry | None = None
    amazon_discount: ScheduleEntry | None = None
    discount_kind: DiscountKind | None = None
    amazon_plan: PlanEntry | None = None
    exact_until: AwareDatetime | None = None
    follow_up_at: AwareDatetime | None = None

    def price_at(self, instant: datetime) -> ScheduleEntry | None:
        """The NetSuite regular price in effect at ``instant``."""
        for e in self.regular:
            if e.covers(instant):
                return e
        return None

    def to_attribute(self) -> dict[str, Any]:
        out: dict[str, Any] = {"marketplace_id": self.marketplace_id, "currency": self.currency, "audience": self.audience}
        if self.amazon_price is None:  # stored by an earlier version: render it as it was sent
            out["our_price"] = [{"schedule": [e.to_json() for e in self.regular]}]
            if self.sales:
                out["discounted_price"] = [{"schedule": [e.to_json() for e in self.sales]}]
            if self.plans:
                out["quantity_discount_plan"] = [{"schedule": [p.to_json() for p in self.plans]}]
        else:
            out["our_price"] = [{"schedule": [self.amazon_price.to_json()]}]
            if self.amazon_discount is not None:
                out["discounted_price"] = [{"schedule": [self.amazon_discount.to_json()]}]
            if self.amazon_plan is not None:
                out["quantity_discount_plan"] = [{"schedule": [self.amazon_plan.to_json()]}]
        if self.minimum_seller_allowed_price is not None:
            out["minimum_seller_allowed_price"] = [{"schedule": [{"value_with_tax": self.minimum_seller_allowed_price.value}]}]
        if self.maximum_seller_allowed_price is not None:
            out["maximum_seller_allowed_price"] = [{"schedule": [{"value_with_tax": self.maximum_seller_allowed_price.value}]}]
        return out


class OfferSet(_Frozen):
    """All offers of one SKU in one marketplace, plus the guard values used by :func:`check_change`."""

    sku: str
    as_of: AwareDatetime  # the ``now`` the offers were built for
    offers: tuple[Offer, ...]
    min_price_net: Decimal | None = None
    max_price_net: Decimal | None = None
    cost: Decimal | None = None

    def offer(self, audience: str) -> Offer | None:
        for o in self.offers:
            if o.audience == audience:
                return o
        return None

    def to_attribute(self) -> list[dict[str, Any]]:
        """The ``purchasable_offer`` attribute value (Decimal amounts; the feed writes them as numbers)."""
        return [o.to_attribute() for o in self.offers]

    @property
    def exact_until(self) -> datetime | None:
        found = [o.exact_until for o in self.offers if o.exact_until is not None]
        return min(found) if found else None

    @property
    def follow_up_at(self) -> datetime | None:
        found = [o.follow_up_at for o in self.offers if o.follow_up_at is not None]
        return min(found) if found else None


def _canonical(value: Any) -> str:
    def default(obj: Any) -> Any:
        if isinstance(obj, Decimal):
            return format(obj, "f")
        raise TypeError(type(obj).__name__)

    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=default)


def offer_fingerprint(offer_set: OfferSet) -> str:
    """Stable SHA-256 of what Amazon receives for the SKU (guard values not sent are not part of it)."""
    return hashlib.sha256(_canonical(offer_set.to_attribute()).encode("utf-8")).hexdigest()


class OfferMap(dict[str, OfferSet]):
    """``{sku: OfferSet}`` plus ``problems`` (SKU -> one-line reason; no offer built — quarantine it) and
    ``flags`` (SKU -> notes such as rounding of over-precise NetSuite prices; the offer was built)."""

    def __init__(self) -> None:
        super().__init__()
        self.problems: dict[str, str] = {}
        self.flags: dict[str, list[str]] = {}

    def flag(self, sku: str, note: str) -> None:
        self.flags.setdefault(sku, []).append(note)


# --- what Amazon can hold: one regular price, one discount window, one quantity plan ------------------------
_FOREVER = datetime.max.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class AmazonForm:
    """The Amazon side of an offer at one instant (see :func:`amazon_form`)."""

    price: ScheduleEntry
    discount: ScheduleEntry | None
    kind: DiscountKind | None
    plan: PlanEntry | None
    exact_until: datetime | None  # first instant at which it stops matching NetSuite; None = never

    def wire(self) -> str:
        return _canonical([self.price.to_json(), self.discount.to_json() if self.discount else None,
                           self.plan.to_json() if self.plan else None])


def _regular_from(regular: Sequence[ScheduleEntry], at: datetime) -> list[ScheduleEntry]:
    """The regular timeline from ``at`` on; the entry in effect at ``at`` loses its ``start_at``."""
    out = [e for e in regular if e.end_at is None or e.end_at > at]
    if out:
        out[0] = out[0].model_copy(update={"start_at": None})
    return out


def _plans_from(plans: Sequence[PlanEntry], at: datetime) -> list[PlanEntry]:
    out = [p for p in plans if p.end_at is None or p.end_at > at]
    if out and out[0].covers(at):
        out[0] = out[0].model_copy(update={"start_at": None})
    return out


def _first_mismatch(points: list[datetime], want: Any, got: Any) -> datetime | None:
    for p in points:
        if want(p) != got(p):
            return p
    return None


def _price_form(regular: Sequence[ScheduleEntry], sales: Sequence[ScheduleEntry], now: datetime
                ) -> tuple[ScheduleEntry, ScheduleEntry | None, DiscountKind | None, datetime | None]:
    """Pick ``our_price`` and at most one ``discounted_price`` entry so that what buyers pay on Amazon
    equals what NetSuite says (the sale price inside a sale window, else the regular price) for as long
    as possible.

    Candidates: ``our_price`` = any of the regular prices; discount = none, a sale window, or for a
    cutover at T the next price from T (a decrease; open-ended, or until the following change) or the
    price before T until T (an increase). Each is
    compared with NetSuite at every boundary; the one that matches longest wins; ties go to a discount
    below ``our_price`` (Amazon shows a sale price only below the regular price), then to the simpler
    form, then to the earlier candidate. A plain cutover or a plain sale matches for good; a sale *and*
    a cutover (or two sales) match at least until the second change of the price buyers pay — the run
    after the first change sends the rest.
    """

    def bare(e: ScheduleEntry) -> ScheduleEntry:
        return ScheduleEntry(value=e.value, net=e.net)

    ours: list[ScheduleEntry] = []
    for e in regular:
        if all(o.value != e.value for o in ours):
            ours.append(bare(e))
    discounts: list[tuple[ScheduleEntry | None, DiscountKind | None]] = [(None, None)]
    discounts += [(s, "sale") for s in sales]
    for before, after in zip(regular, regular[1:]):
        discounts.append((ScheduleEntry(value=after.value, net=after.net, start_at=after.start_at), "next_price"))
        if after.end_at is not None:  # a price step that ends again (e.g. back to the old price)
            discounts.append((after, "next_price"))
        discounts.append((ScheduleEntry(value=before.value, net=before.net, end_at=after.start_at), "current_price"))

    def want(t: datetime) -> Decimal:
        for s in sales:
            if s.covers(t):
                return s.value
        for e in regular:
            if e.covers(t):
                return e.value
        raise AssertionError("the regular timeline covers every instant")  # pragma: no cover

    boundaries = {now}
    for e in (*regular, *sales):
        boundaries.update(x for x in (e.start_at, e.end_at) if x is not None and x > now)
    points = sorted(boundaries)
    best: tuple[Any, ...] | None = None
    for index, (our, (disc, kind)) in enumerate((o, d) for o in ours for d in discounts):
        def got(t: datetime, our: ScheduleEntry = our, disc: ScheduleEntry | None = disc) -> Decimal:
            return disc.value if disc is not None and disc.covers(t) else our.value

        until = _first_mismatch(points, want, got)
        if until == now:
            continue  # wrong already now
        key = (until or _FOREVER, disc is None or disc.value < our.value, disc is None, -index)
        if best is None or key > best[0]:
            best = (key, our, disc, kind, until)
    assert best is not None  # the current price with the sale in effect (if any) always matches now
    return best[1], best[2], best[3], best[4]


def amazon_form(regular: Sequence[ScheduleEntry], sales: Sequence[ScheduleEntry], plans: Sequence[PlanEntry],
                at: datetime) -> AmazonForm:
    """What Amazon receives for an offer whose NetSuite timelines are given, built at instant ``at``.

    Amazon's product type schema allows one ``our_price`` schedule entry, one ``discounted_price`` entry
    and one quantity plan per offer, so a future price change is expressed with the discount
    (:func:`_price_form`): a decrease keeps ``our_price`` and adds the new price as a discount from the
    instant (open-ended); an increase sends the new ``our_price`` now and the current price as a discount
    until the instant. The run after the instant sends the plain new price and removes the discount. The
    quantity plan is the one in effect at ``at``; a plan change is sent by the first run after it.
    """
    regular_now = _regular_from(regular, at)
    if not regular_now:
        raise PricingError("an offer needs a regular price in effect")
    live_sales = [s for s in sales if s.end_at is None or s.end_at > at]
    price, discount, kind, until = _price_form(regular_now, live_sales, at)
    plans_now = _plans_from(plans, at)
    plan = None
    if plans_now and plans_now[0].covers(at):
        plan = plans_now[0].model_copy(update={"start_at": None, "end_at": None})
    plan_changes = sorted({x for p in plans_now for x in (p.start_at, p.end_at) if x is not None and x > at})
    if plan_changes and (until is None or plan_changes[0] < until):
        until = plan_changes[0]
    return AmazonForm(price, discount, kind, plan, until)


def _follow_up(regular: Sequence[ScheduleEntry], sales: Sequence[ScheduleEntry], plans: Sequence[PlanEntry],
               at: datetime, form: AmazonForm) -> datetime | None:
    """The first boundary after ``at`` at which the Amazon side changes (a run after it pushes again)."""
    boundaries = sorted({x for e in (*regular, *sales, *plans) for x in (e.start_at, e.end_at)
                         if x is not None and x > at})
    wire = form.wire()
    for b in boundaries:
        if amazon_form(regular, sales, plans, b).wire() != wire:
            return b
    return None


def make_offer(marketplace_id: str, currency: str, audience: Audience, regular: Sequence[ScheduleEntry], *,
               at: datetime, sales: Sequence[ScheduleEntry] = (), plans: Sequence[PlanEntry] = (),
               minimum: ScheduleEntry | None = None, maximum: ScheduleEntry | None = None) -> Offer:
    """An :class:`Offer` with its Amazon side computed by :func:`amazon_form` as of ``at``."""
    form = amazon_form(regular, sales, plans, at)
    return Offer(marketplace_id=marketplace_id, currency=currency, audience=audience, regular=tuple(regular),
                 sales=tuple(sales), plans=tuple(plans), minimum_seller_allowed_price=minimum,
                 maximum_seller_allowed_price=maximum, amazon_price=form.price, amazon_discount=form.discount,
                 discount_kind=form.kind, amazon_plan=form.plan, exact_until=form.exact_until,
                 follow_up_at=_follow_up(regular, sales, plans, at, form))


# --- building -------------------------------------------------------------------------------------------------
class _SkuProblem(Exception):
    pass


class _SkuDeferred(Exception):
    """Every price of the SKU starts later: nothing can be sent yet (not a problem; flagged)."""


@dataclass
class _Converter:
    currency: str
    include_tax: bool  # NetSuite prices are gross
    vat_inclusive: bool  # Amazon expects gross
    rate: Decimal
    sku: str = ""
    notes: list[str] = field(default_factory=list)

    def source(self, amount: Decimal, what: str) -> Decimal:
        if amount < 0:
            raise _SkuProblem(f"{what} {amount} is negative")
        q = quantize(amount, self.currency)
        if q != amount:
            self.notes.append(f"{what} {amount} has more decimals than {self.currency} allows; used {q} (half-up)")
        return q

    def to_net(self, source: Decimal) -> Decimal:
        return gross_to_net(source, self.rate, self.currency) if self.include_tax and self.rate else source

    def to_amazon(self, source: Decimal, what: str) -> Decimal:
        if self.include_tax == self.vat_inclusive or not self.rate:
            return source
        if self.vat_inclusive:  # net in NetSuite, gross on Amazon
            gross, exact = net_to_gross_exact(source, self.rate, self.currency)
            if not exact:  # pragma: no cover - see net_to_gross_exact
                self.notes.append(f"{what}: no gross converts back to {source} exactly; sent {gross}")
            return gross
        net = gross_to_net(source, self.rate, self.currency)  # gross in NetSuite, net on Amazon
        if net_to_gross(net, self.rate, self.currency) != source:
            self.notes.append(
                f"{what}: gross {source} has no exact net at {self.rate:%}; sent net {net} "
                f"(converts back to {net_to_gross(net, self.rate, self.currency)})"
            )
        return net

    def entry(self, amount: Decimal, what: str, start: datetime | None = None, end: datetime | None = None) -> ScheduleEntry:
        src = self.source(amount, what)
        return ScheduleEntry(value=self.to_amazon(src, what), net=self.to_net(src), start_at=start, end_at=end)


_Segment = tuple[datetime | None, datetime | None, dict[int, Decimal]]
_MINUS_INF = datetime.min.replace(tzinfo=timezone.utc)


def _timeline(rows: Sequence[PriceRow], now: datetime, level_name: str) -> list[_Segment]:
    """Split time from ``now`` at each future effective date; per segment, the price of each tier."""
    by_tier: dict[int, list[tuple[datetime | None, Decimal]]] = {}
    for r in rows:
        tier = 1 if r.min_quantity <= 1 else r.min_quantity
        entries = by_tier.setdefault(tier, [])
        if any(eff == r.effective_from for eff, _ in entries):
            when = r.effective_from.isoformat() if r.effective_from else "no effective date"
            raise _SkuProblem(
                f"{level_name} price level has two prices for quantity {tier} ({when}); keep one row per tier and date"
            )
        entries.append((r.effective_from, r.price))
    boundaries = sorted({r.effective_from for r in rows if r.effective_from is not None and r.effective_from > now})
    starts: list[datetime | None] = [None, *boundaries]
    segments: list[_Segment] = []
    for i, start in enumerate(starts):
        at = now if start is None else start
        snap: dict[int, Decimal] = {}
        for tier, entries in by_tier.items():
            # the latest row already in effect at ``at`` (no effective date = in effect since always)
            in_effect = [(eff or _MINUS_INF, price) for eff, price in entries if eff is None or eff <= at]
            if in_effect:
                snap[tier] = max(in_effect, key=lambda e: e[0])[1]
        end = starts[i + 1] if i + 1 < len(starts) else None
        segments.append((start, end, snap))
    return segments


def _merge_entries(entries: list[ScheduleEntry]) -> tuple[ScheduleEntry, ...]:
    out: list[ScheduleEntry] = []
    for e in entries:
        if out and out[-1].value == e.value and out[-1].end_at == e.start_at:
            out[-1] = out[-1].model_copy(update={"end_at": e.end_at})
        else:
            out.append(e)
    return tuple(out)


def _merge_plans(entries: list[PlanEntry]) -> tuple[PlanEntry, ...]:
    out: list[PlanEntry] = []
    for e in entries:
        if out and out[-1].levels == e.levels and out[-1].end_at == e.start_at:
            out[-1] = out[-1].model_copy(update={"end_at": e.end_at})
        else:
            out.append(e)
    return tuple(out)


def _price_schedule(segments: list[_Segment], conv: _Converter, what: str) -> tuple[ScheduleEntry, ...]:
    entries = [conv.entry(snap[1], what, start, end) for start, end, snap in segments if 1 in snap]
    return _merge_entries(entries)


def _plan_schedule(segments: list[_Segment], conv: _Converter) -> tuple[PlanEntry, ...]:
    plans: list[PlanEntry] = []
    for start, end, snap in segments:
        tiers = sorted(t for t in snap if t >= 2)
        if not tiers:
            continue
        when = f" from {iso_z(start)}" if start else ""
        if 1 not in snap:
            raise _SkuProblem(f"B2B price level has quantity tiers but no base (quantity 0/1) price{when}")
        if len(tiers) > MAX_TIERS:
            raise _SkuProblem(f"B2B price level has {len(tiers)} quantity tiers{when}; Amazon accepts at most {MAX_TIERS}")
        base = conv.source(snap[1], "B2B price")
        previous = base
        levels: list[TierLevel] = []
        for t in tiers:
            src = conv.source(snap[t], f"B2B tier {t}")
            if src >= previous:
                raise _SkuProblem(
                    f"B2B tier {t} price {src} is not below the price for fewer units ({previous}){when}; "
                    "quantity prices must fall as quantity rises"
                )
            previous = src
            levels.append(TierLevel(lower_bound=t, value=conv.to_amazon(src, f"B2B tier {t}"), net=conv.to_net(src)))
        plans.append(PlanEntry(levels=tuple(levels), start_at=start, end_at=end))
    return _merge_plans(plans)


def _sale_schedule(sales: list[SaleRow], now: datetime, conv: _Converter, our: tuple[ScheduleEntry, ...]) -> tuple[ScheduleEntry, ...]:
    live = [s for s in sales if s.end_at is None or s.end_at > now]
    for s in live:
        if s.start_at is not None and s.end_at is not None and s.end_at <= s.start_at:
            raise _SkuProblem(f"sale window ends ({iso_z(s.end_at)}) before it starts ({iso_z(s.start_at)})")
    live.sort(key=lambda s: s.start_at or _MINUS_INF)
    for a, b in zip(live, live[1:]):
        if a.end_at is None or (b.start_at or _MINUS_INF) < a.end_at:
            raise _SkuProblem(
                f"sale windows overlap ({iso_z(b.start_at) if b.start_at else 'open start'} starts before the previous "
                "one ends); keep one sale price per period"
            )
    entries = []
    for s in live:
        e = conv.entry(s.price, "sale price", s.start_at, s.end_at)
        regular = None
        for o in our:
            if o.covers(s.start_at or now):
                regular = o
        if regular is not None and e.value >= regular.value:
            conv.notes.append(f"sale price {e.value} is not below the regular price {regular.value}; Amazon will not show it")
        entries.append(e)
    return tuple(entries)


def build_offers(rows: Iterable[PricingInput], mp: MarketplaceConfig, *, now: datetime) -> OfferMap:
    """``purchasable_offer`` per SKU for one marketplace (its currency only) as of ``now``.

    Rows of other currencies or price levels are ignored. SKUs whose data cannot make a valid offer are
    left out and listed in ``result.problems``; ``result.flags`` carries non-blocking notes.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise PricingError("now must be timezone-aware (UTC)")
    pc = mp.pricing
    if pc.price_level is None:
        raise PricingError(f"marketplaces.{mp.code}.pricing.price_level is not set; name the NetSuite base price level id")
    currency = mp.currency
    rate = _rate(pc.vat_rate)
    base_rows: dict[str, list[PriceRow]] = {}
    b2b_rows: dict[str, list[PriceRow]] = {}
    sales: dict[str, list[SaleRow]] = {}
    guards: dict[str, ItemPriceFields] = {}
    for r in rows:
        if isinstance(r, PriceRow):
            if r.currency != currency:
                continue
            if r.price_level == pc.price_level:
                base_rows.setdefault(r.sku, []).append(r)
            elif pc.b2b_price_level is not None and r.price_level == pc.b2b_price_level:
                b2b_rows.setdefault(r.sku, []).append(r)
        elif isinstance(r, SaleRow):
            if r.currency == currency:
                sales.setdefault(r.sku, []).append(r)
        elif isinstance(r, ItemPriceFields):
            if r.currency in (None, currency):
                guards[r.sku] = r
        else:
            raise PricingError(f"unexpected pricing row type {type(r).__name__}; pass PriceRow, SaleRow or ItemPriceFields")

    result = OfferMap()
    skus = sorted(set(base_rows) | set(b2b_rows) | set(sales))
    for sku in skus:
        conv = _Converter(currency, pc.prices_include_tax, pc.vat_inclusive, rate, sku)
        try:
            result[sku] = _build_one(sku, mp, now, conv, base_rows.get(sku, []), b2b_rows.get(sku, []),
                                     sales.get(sku, []), guards.get(sku))
        except _SkuProblem as exc:
            result.problems[sku] = f"SKU {sku}: {exc}"
            continue
        except _SkuDeferred:
            for note in conv.notes:
                result.flag(sku, note)
            continue
        except MoneyError as exc:
            result.problems[sku] = f"SKU {sku}: {exc}"
            continue
        for note in conv.notes:
            result.flag(sku, note)
    return result


def _build_one(sku: str, mp: MarketplaceConfig, now: datetime, conv: _Converter, base: list[PriceRow],
               b2b: list[PriceRow], sales: list[SaleRow], guard: ItemPriceFields | None) -> OfferSet:
    min_entry = max_entry = None
    min_net = max_net = cost = None
    if guard is not None:
        if guard.min_price is not None:
            min_entry = conv.entry(guard.min_price, "minimum price")
            min_net = min_entry.net
        if guard.max_price is not None:
            max_entry = conv.entry(guard.max_price, "maximum price")
            max_net = max_entry.net
        if min_net is not None and max_net is not None and min_net > max_net:
            raise _SkuProblem(f"minimum price {guard.min_price} is above maximum price {guard.max_price}; fix the item fields")
        if guard.cost is not None:
            cost = conv.source(guard.cost, "cost")
    offers: list[Offer] = []
    deferred = False
    guards = {"minimum": min_entry, "maximum": max_entry}
    our_all: tuple[ScheduleEntry, ...] = ()
    if base:
        if any(r.min_quantity > 1 for r in base):
            conv.notes.append("base price level quantity tiers are not sent (Amazon takes quantity prices for B2B only)")
        segments = _timeline(base, now, "base")
        our_all = _price_schedule(segments, conv, "price")
        if our_all and our_all[0].start_at is not None:
            deferred = True
            conv.notes.append(f"the base price starts at {iso_z(our_all[0].start_at)}; Amazon cannot hold a first price "
                              "for later, so the ALL offer is sent by the first run after that instant")
            our_all = ()
        if our_all:
            discounted = _sale_schedule(sales, now, conv, our_all)
            offers.append(make_offer(mp.marketplace_id, conv.currency, "ALL", our_all, at=now, sales=discounted, **guards))
    if sales and not our_all and not deferred:
        raise _SkuProblem("has a sale price but no base price in the base price level")
    if b2b:
        segments = _timeline(b2b, now, "B2B")
        our_b2b = _price_schedule(segments, conv, "B2B price")
        plan = _plan_schedule(segments, conv)
        if not our_b2b:
            raise _SkuProblem("B2B price level has no base (quantity 0/1) price")
        if our_b2b[0].start_at is not None:
            deferred = True
            conv.notes.append(f"the B2B price starts at {iso_z(our_b2b[0].start_at)}; Amazon cannot hold a first price "
                              "for later, so the B2B offer is sent by the first run after that instant")
        else:
            offers.append(make_offer(mp.marketplace_id, conv.currency, "B2B", our_b2b, at=now, plans=plan, **guards))
    if not offers:
        if deferred:
            raise _SkuDeferred("nothing to send yet")
        raise _SkuProblem("no price in the base or B2B price level for the marketplace currency")
    for offer in offers:
        _form_notes(offer, now, conv)
    return OfferSet(sku=sku, as_of=now, offers=tuple(offers), min_price_net=min_net, max_price_net=max_net, cost=cost)


def _form_notes(offer: Offer, now: datetime, conv: _Converter) -> None:
    """Explain where Amazon's one-entry schedules cannot follow NetSuite without another run."""
    if offer.exact_until is None:
        return
    plan_changes = sorted({x for p in offer.plans for x in (p.start_at, p.end_at) if x is not None and x > now})
    if plan_changes and plan_changes[0] == offer.exact_until:
        conv.notes.append(
            f"B2B quantity tiers change at {iso_z(offer.exact_until)}: Amazon's quantity plan holds one entry without "
            "dates, so the new tiers are sent by the first run after that instant")
        return
    after = f" after {iso_z(offer.follow_up_at)}" if offer.follow_up_at is not None else ""
    conv.notes.append(
        f"{offer.audience} offer: Amazon holds one regular price and one discount window, so the offer sent matches "
        f"NetSuite until {iso_z(offer.exact_until)}; the first run{after} sends the rest — make sure one runs before "
        f"{iso_z(offer.exact_until)}")


# --- safety: holds and approvals -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Hold:
    """A price change not pushed; released by naming the SKU in the DAG Param ``approve``."""

    sku: str
    reasons: tuple[str, ...]
    old_price: Decimal | None = None
    new_price: Decimal | None = None
    change_pct: Decimal | None = None

    def to_json(self) -> dict[str, Any]:
        return {"sku": self.sku, "reasons": list(self.reasons),
                "old_price": None if self.old_price is None else str(self.old_price),
                "new_price": None if self.new_price is None else str(self.new_price),
                "change_pct": None if self.change_pct is None else str(self.change_pct)}


def check_change(
    old_offer: OfferSet | None,
    new_offer: OfferSet,
    *,
    max_change_pct: Decimal | int | str,
    min_price: Decimal | None = None,
    cost: Decimal | None = None,
) -> Hold | None:
    """Hold the new offers when a regular price moves more than ``max_change_pct`` % against the old
    price in effect at the same instant, or any price (regular, sale, B2B tier) is below ``cost`` or
    ``min_price``, or above the item's maximum. Compared net of VAT; ``min_price``/``cost`` default to
    the values carried by ``new_offer``."""
    limit = to_decimal(max_change_pct)
    floor_price = min_price if min_price is not None else new_offer.min_price_net
    unit_cost = cost if cost is not None else new_offer.cost
    ceiling = new_offer.max_price_net
    reasons: list[str] = []
    worst: tuple[Decimal, Decimal, Decimal] | None = None  # (|pct|, old, new)
    for offer in new_offer.offers:
        points: list[tuple[str, Decimal]] = []
        for e in offer.regular:
            points.append((f"{offer.audience} price{_when(e.start_at)}", e.net))
        for e in offer.sales:
            points.append((f"{offer.audience} sale price{_when(e.start_at)}", e.net))
        for p in offer.plans:
            for t in p.levels:
                points.append((f"{offer.audience} tier {t.lower_bound}{_when(p.start_at)}", t.net))
        for label, net in points:
            if unit_cost is not None and net < unit_cost:
                reasons.append(f"{label} {net} (net) is below cost {unit_cost}")
            if floor_price is not None and net < floor_price:
                reasons.append(f"{label} {net} (net) is below the minimum price {floor_price}")
            if ceiling is not None and net > ceiling:
                reasons.append(f"{label} {net} (net) is above the maximum price {ceiling}")
        old = old_offer.offer(offer.audience) if old_offer is not None else None
        if old is None:
            continue
        for e in offer.regular:
            instant = e.start_at or new_offer.as_of
            before = old.price_at(instant)
            if before is None or before.net == 0:
                continue
            pct = (e.net - before.net) / before.net * 100
            if abs(pct) > limit:
                shown = pct.quantize(Decimal("0.1"))
                reasons.append(
                    f"{offer.audience} price{_when(e.start_at)} changes {shown:+}% ({before.net} -> {e.net} net), "
                    f"more than the {limit}% allowed"
                )
                if worst is None or abs(pct) > worst[0]:
                    worst = (abs(pct), before.net, e.net)
    if not reasons:
        return None
    if worst is None:
        return Hold(new_offer.sku, tuple(reasons))
    _, old_p, new_p = worst
    return Hold(new_offer.sku, tuple(reasons), old_p, new_p, ((new_p - old_p) / old_p * 100).quantize(Decimal("0.01")))


def _when(start: datetime | None) -> str:
    return f" from {iso_z(start)}" if start is not None else ""


def accepted_state_value(offer_set: OfferSet) -> dict[str, Any]:
    """What the sync state keeps for an accepted SKU: fingerprint + the offer (JSON-able, Decimals as strings)."""
    return {"fingerprint": offer_fingerprint(offer_set), "offer": offer_set.model_dump(mode="json")}


@dataclass(frozen=True)
class Screening:
    push: dict[str, OfferSet]  # changed (or new) and not held, or approved
    held: dict[str, Hold]
    unchanged: set[str]
    approved: set[str]  # held SKUs released by ``approve`` (they are in ``push``)
    previous: dict[str, OfferSet | None] = field(default_factory=dict)  # last accepted offer of each pushed SKU


def screen_offers(
    offers: Mapping[str, OfferSet],
    accepted: Mapping[str, Any],
    *,
    max_change_pct: Decimal | int | str,
    approve: Iterable[str] = (),
    full_push: bool = False,
) -> Screening:
    """Deltas + holds: ``accepted`` holds :func:`accepted_state_value` per SKU (or an OfferSet).

    Unchanged fingerprints are skipped (unless ``full_push``); every other SKU goes through
    :func:`check_change` and is held unless listed in ``approve``.
    """
    approved_names = set(approve)
    push: dict[str, OfferSet] = {}
    held: dict[str, Hold] = {}
    unchanged: set[str] = set()
    released: set[str] = set()
    previous: dict[str, OfferSet | None] = {}
    for sku, new in offers.items():
        prev = accepted.get(sku)
        old: OfferSet | None
        if prev is None:
            old, old_fp = None, None
        elif isinstance(prev, OfferSet):
            old, old_fp = prev, offer_fingerprint(prev)
        else:
            old = OfferSet.model_validate(prev["offer"]) if prev.get("offer") else None
            old_fp = prev.get("fingerprint") or (offer_fingerprint(old) if old else None)
        if not full_push and old_fp is not None and old_fp == offer_fingerprint(new):
            unchanged.add(sku)
            continue
        hold = check_change(old, new, max_change_pct=max_change_pct)
        if hold is not None and sku not in approved_names:
            held[sku] = hold
            continue
        if hold is not None:
            released.add(sku)
        push[sku] = new
        previous[sku] = old
    return Screening(push, held, unchanged, released, previous)


# Sub-attributes of an offer that a merge leaves in place when they are simply left out.
REMOVABLE = ("discounted_price", "quantity_discount_plan", "minimum_seller_allowed_price", "maximum_seller_allowed_price")


def removed_parts(new: OfferSet, old: OfferSet | None) -> dict[str, list[str]]:
    """Per audience, the sub-attributes Amazon holds from the last accepted offer that the new offer drops
    (a discount after its cutover or sale ended, B2B tiers that were removed, a guard rail cleared)."""
    if old is None:
        return {}
    before = {(o["marketplace_id"], o["currency"], o["audience"]): o for o in old.to_attribute()}
    out: dict[str, list[str]] = {}
    for o in new.to_attribute():
        prev = before.get((o["marketplace_id"], o["currency"], o["audience"]))
        gone = [k for k in REMOVABLE if prev is not None and k in prev and k not in o]
        if gone:
            out[o["audience"]] = gone
    return out


def removal_patch(new: OfferSet, old: OfferSet | None) -> PatchOperation | None:
    """A ``delete`` of the dropped sub-attributes (see :func:`removed_parts`), sent before the ``merge``.

    Each value names the offer by its selectors and carries the sub-attributes to remove as they were
    last sent. Where Amazon deletes sub-attributes granularly this removes exactly them; where a
    ``delete`` removes the whole offer entry, the ``merge`` that follows in the same message puts the new
    offer back. Either way Amazon ends up holding exactly the new offer.
    """
    gone = removed_parts(new, old)
    if not gone or old is None:
        return None
    before = {o["audience"]: o for o in old.to_attribute()}
    values = []
    for audience, names in gone.items():
        prev = before[audience]
        entry = {k: prev[k] for k in ("marketplace_id", "currency", "audience")}
        entry.update({k: prev[k] for k in names})
        values.append(entry)
    return PatchOperation(op="delete", path="/attributes/purchasable_offer", value=tuple(values))


def pricing_feed_messages(offers: Mapping[str, OfferSet], *, product_types: Mapping[str, str] | str,
                          previous: Mapping[str, OfferSet | None] | None = None) -> list[FeedMessage]:
    """One PATCH message per SKU (sorted) merging ``/attributes/purchasable_offer``.

    ``previous`` holds the last accepted offer per SKU (:attr:`Screening.previous`): sub-attributes it had
    that the new offer drops are removed first with a ``delete`` patch (:func:`removal_patch`), because a
    ``merge`` that leaves them out keeps them on Amazon.
    """
    out: list[FeedMessage] = []
    for sku in sorted(offers):
        ptype = product_types if isinstance(product_types, str) else product_types.get(sku)
        if not ptype:
            raise PricingError(f"SKU {sku!r}: no Amazon productType known; pass it in product_types")
        patches: list[PatchOperation] = []
        removal = removal_patch(offers[sku], (previous or {}).get(sku))
        if removal is not None:
            patches.append(removal)
        patches.append(purchasable_offer_patch(offers[sku].to_attribute()))
        out.append(FeedMessage.patch(sku, ptype, patches))
    return out
