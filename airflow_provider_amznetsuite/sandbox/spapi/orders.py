"""Seeded order generator and the Orders API v2026-01-01 JSON rendering.

Everything is a pure function of ``(seed, catalog_size, orders_per_day, days, now)``: two sandboxes
started with the same arguments hold byte-identical orders.

Model (documented conventions the product code can rely on):

* Each order carries a **timeline** of status events (``PENDING_AVAILABILITY`` → ``PENDING`` →
  ``UNSHIPPED`` → ``SHIPPED``/``CANCELLED``). Its status and ``lastUpdatedTime`` are evaluated at the
  sandbox's business time, so ``advance()`` moves orders forward. Orders created after ``now`` are
  invisible until the clock reaches them (the generator fills ``future_days`` beyond ``now``).
* Seller-fulfilled (MERCHANT) orders created more than 36 h before the generation instant were
  shipped by the seller in the past (one package covering everything); newer MERCHANT orders stay
  ``UNSHIPPED`` until ``confirmShipment``. AMAZON orders ship by themselves a few hours after payment.
* Money: ``ITEM``/``SHIPPING``/``GIFT_WRAP`` are tax-exclusive, ``TAX`` holds the tax on them
  (``detailedBreakdowns`` ITEM/SHIPPING/GIFT_WRAP), ``DISCOUNT`` is negative (ITEM/SHIPPING).
  ``proceedsTotal`` = Σ breakdown subtotals; each subtotal = Σ its detailed breakdowns; order
  ``grandTotal`` = Σ item ``proceedsTotal``. Tax is computed on the discounted amount.
* While an order is ``PENDING``/``PENDING_AVAILABILITY`` prices and proceeds are withheld (as Amazon
  does); ``recipient`` is only returned from ``UNSHIPPED`` on. A cancelled line reports
  ``quantityOrdered: 0`` with zero proceeds and a ``cancellation`` block.
* ``includedData`` gating: BUYER → ``buyer``; RECIPIENT → ``recipient``; PROCEEDS → ``proceeds``
  (order and items); PROMOTION → item ``promotion``; CANCELLATION → item ``cancellation``;
  FULFILLMENT → order/item ``fulfillment`` (incl. gift options and IOSS number); PACKAGES →
  ``packages`` (MERCHANT only); TAX → item ``tax`` (taxCollections / taxCalculationBreakdowns) and
  order ``tax`` (business buyers' VAT registration). EXPENSE, PAYMENT and FULFILLMENT_ORDERS are
  accepted and return nothing extra.
"""

from __future__ import annotations

import random
import string
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from airflow_provider_amznetsuite.sandbox import catalog
from airflow_provider_amznetsuite.sandbox.spapi.util import ZERO, asin_for, iso, money, q2, stable_rng

INCLUDED_DATA = frozenset({"BUYER", "RECIPIENT", "PROCEEDS", "EXPENSE", "PROMOTION", "CANCELLATION",
                           "FULFILLMENT", "PACKAGES", "TAX", "PAYMENT", "FULFILLMENT_ORDERS"})
FULFILLMENT_STATUSES = ("PENDING_AVAILABILITY", "PENDING", "UNSHIPPED", "PARTIALLY_SHIPPED", "SHIPPED",
                        "CANCELLED", "UNFULFILLABLE")
PRE_PAYMENT = frozenset({"PENDING", "PENDING_AVAILABILITY"})
SHIPPABLE = frozenset({"UNSHIPPED", "PARTIALLY_SHIPPED", "SHIPPED"})
MFN_AUTO_SHIP_AGE = timedelta(hours=36)

ORDER_PREFIXES = {"uk": ("202", "203", "204", "205", "206"), "de": ("302", "303", "304", "305", "306"),
                  "us": ("111", "112", "113", "114")}
MF_PARTY = {"us": "Amazon Services, Inc.", "uk": "Amazon Services Europe S.a.r.L.",
            "de": "Amazon Services Europe S.a.r.L."}
IOSS_NUMBER = "IM4420001201"
CARRIERS = {"uk": ("Royal Mail", "Royal Mail Tracked 48"), "de": ("DHL", "DHL Paket"),
            "us": ("UPS", "UPS Ground")}
SHIPPING_NET = {"uk": Decimal("2.99"), "de": Decimal("3.49"), "us": Decimal("4.99")}
GIFT_WRAP_NET = {"uk": Decimal("2.49"), "de": Decimal("2.99"), "us": Decimal("3.99")}
US_STATES = (  # state, city, zip, combined rate
    ("WA", "Seattle", "98101", Decimal("0.1035")), ("NY", "Brooklyn", "11201", Decimal("0.08875")),
    ("CA", "Oakland", "94607", Decimal("0.1025")), ("TX", "Austin", "78701", Decimal("0.0825")),
    ("OR", "Portland", "97205", Decimal("0")), ("IL", "Chicago", "60601", Decimal("0.1025")),
    ("FL", "Tampa", "33602", Decimal("0.075")), ("CO", "Denver", "80202", Decimal("0.0881")),
)
UK_TOWNS = (("Leeds", "LS6 2QH"), ("Bristol", "BS1 4DJ"), ("Norwich", "NR2 1TF"), ("York", "YO1 7HH"),
            ("Cardiff", "CF10 1EP"), ("Brighton", "BN1 1AE"), ("Exeter", "EX1 1HB"), ("Bath", "BA1 1LZ"))
DE_TOWNS = (("Berlin", "10115"), ("Hamburg", "20095"), ("München", "80331"), ("Köln", "50667"),
            ("Leipzig", "04109"), ("Dresden", "01067"), ("Bremen", "28195"), ("Freiburg", "79098"))
FIRST_NAMES = ("Harriet", "Ottilie", "Barnaby", "Ezekiel", "Philippa", "Lysander", "Wilhelmina",
               "Cornelius", "Marisol", "Thaddeus", "Evangeline", "Leopold", "Clementine", "Ignatius",
               "Rosalind", "Fitzgerald", "Henrike", "Benedikt", "Annegret", "Quirin", "Dagmar",
               "Wendelin", "Liesel", "Volkmar", "Shelby", "Dakota", "Beckett", "Marguerite",
               "Jolene", "Augustin")
LAST_NAMES = ("Quenby", "Farthingale", "Pemberton-Vale", "Ashcombe", "Thistlewood", "Marchbanks",
              "Ollerenshaw", "Winterbottom", "Kesselring", "Baumgartner", "Hollerbach",
              "Stiefelmeyer", "Wunderlich", "Grünewald", "Zimmermann-Roth", "Hargreave",
              "Castellano", "Fairweather", "Lindqvist", "Oyelaran", "Brightwater", "Copperfield",
              "Vanderhoek", "Nakashima", "Delacroix-Hunt", "Whitlock", "Abernathy", "Rosenquist")
UK_STREETS = ("Larkspur Close", "Tannery Lane", "Quayside Mews", "Cobbler's Row", "Willowmere Road",
              "Foxglove Crescent", "Kingfisher Walk", "Orchard Terrace")
DE_STREETS = ("Lindenstraße", "Am Mühlbach", "Kastanienallee", "Weidenweg", "Rosengasse",
              "Birkenhof", "Uferpromenade", "Holunderstieg")
US_STREETS = ("Maple Hollow Ave", "Juniper Ridge Rd", "Sycamore Bend Dr", "Bluebonnet Trail",
              "Cedar Glen Ct", "Quail Run Ln", "Harbor View Blvd", "Aspen Meadow Way")
COMPANIES = ("Quenby & Farthingale Ltd", "Thistlewood Engineering GmbH", "Marchbanks Office Supply LLC",
             "Kesselring Werkzeuge GmbH", "Brightwater Dental Practice", "Copperfield Catering LLC")
GIFT_MESSAGES = ("Happy birthday, dear {n}! Love from the Farthingales", "Congratulations {n} — from all of us",
                 "For {n}, with love and a big hug", "Alles Gute, {n}! Deine Hollerbachs")
EMAIL_DOMAIN = {"uk": "marketplace.amazon.co.uk", "de": "marketplace.amazon.de", "us": "marketplace.amazon.com"}
SERVICE_LEVELS = ("STANDARD", "STANDARD", "STANDARD", "EXPEDITED", "NEXT_DAY")


@dataclass
class Package:
    package_reference_id: str
    created: datetime
    ship_time: datetime
    carrier: str
    shipping_service: str | None
    tracking_number: str
    items: list[tuple[str, int]]  # (orderItemId, quantity)
    carrier_name: str | None = None
    ship_from_supply_source_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "packageReferenceId": self.package_reference_id,
            "createdTime": iso(self.created),
            "packageStatus": {"status": "SHIPPED"},
            "carrier": self.carrier_name or self.carrier,
            "shipTime": iso(self.ship_time),
            "trackingNumber": self.tracking_number,
            "packageItems": [{"orderItemId": i, "quantity": q} for i, q in self.items],
        }
        if self.shipping_service:
            out["shippingService"] = self.shipping_service
        return out


@dataclass
class OrderLine:
    order_item_id: str
    sku: str
    title: str
    quantity: int
    unit_price: Decimal  # tax-exclusive
    tax_rate: Decimal = ZERO
    shipping: Decimal = ZERO
    gift_wrap: Decimal = ZERO
    item_discount: Decimal = ZERO  # positive; rendered negative
    shipping_discount: Decimal = ZERO
    promotion_ids: tuple[str, ...] = ()
    gift_message: str | None = None
    gift_wrap_level: str | None = None
    price_designation: str | None = None
    cancelled_at: datetime | None = None
    cancel_requester: str = "BUYER"
    cancel_reason: str = "Buyer changed their mind"
    asin: str = ""

    def __post_init__(self) -> None:
        if not self.asin:
            self.asin = asin_for(self.sku)

    # amounts --------------------------------------------------------------------------------
    @property
    def item_amount(self) -> Decimal:
        return q2(self.unit_price * self.quantity)

    @property
    def tax_item(self) -> Decimal:
        return q2((self.item_amount - self.item_discount) * self.tax_rate)

    @property
    def tax_shipping(self) -> Decimal:
        return q2((self.shipping - self.shipping_discount) * self.tax_rate)

    @property
    def tax_gift_wrap(self) -> Decimal:
        return q2(self.gift_wrap * self.tax_rate)

    @property
    def tax_total(self) -> Decimal:
        return self.tax_item + self.tax_shipping + self.tax_gift_wrap

    @property
    def proceeds_total(self) -> Decimal:
        return (self.item_amount + self.shipping + self.gift_wrap + self.tax_total
                - self.item_discount - self.shipping_discount)

    def is_cancelled(self, now: datetime) -> bool:
        return self.cancelled_at is not None and self.cancelled_at <= now

    def breakdowns(self, currency: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = [{"type": "ITEM", "subtotal": money(self.item_amount, currency)}]
        if self.shipping:
            out.append({"type": "SHIPPING", "subtotal": money(self.shipping, currency)})
        if self.gift_wrap:
            out.append({"type": "GIFT_WRAP", "subtotal": money(self.gift_wrap, currency)})
        details = [(s, v) for s, v in (("ITEM", self.tax_item), ("SHIPPING", self.tax_shipping),
                                       ("GIFT_WRAP", self.tax_gift_wrap)) if v]
        if details:
            out.append({"type": "TAX", "subtotal": money(self.tax_total, currency),
                        "detailedBreakdowns": [{"subtype": s, "value": money(v, currency)} for s, v in details]})
        disc = [(s, v) for s, v in (("ITEM", self.item_discount), ("SHIPPING", self.shipping_discount)) if v]
        if disc:
            out.append({"type": "DISCOUNT", "subtotal": money(-(self.item_discount + self.shipping_discount), currency),
                        "detailedBreakdowns": [{"subtype": s, "value": money(-v, currency)} for s, v in disc]})
        return out


@dataclass
class Order:
    order_id: str
    marketplace: str  # catalogue code: uk / de / us
    created: datetime
    fulfilled_by: str  # MERCHANT | AMAZON
    lines: list[OrderLine]
    events: list[tuple[datetime, str]]
    service_level: str = "STANDARD"
    programs: list[str] = field(default_factory=list)
    buyer: dict[str, str] = field(default_factory=dict)
    recipient: dict[str, str] = field(default_factory=dict)
    mf_tax: bool = False  # marketplace facilitator / deemed supplier collects the tax
    reporting_scheme: str | None = None  # IOSS | UOSS (UK/EU deemed supplier)
    replacement_of: str | None = None
    ship_by: tuple[datetime, datetime] | None = None
    deliver_by: tuple[datetime, datetime] | None = None
    packages: list[Package] = field(default_factory=list)
    seller_order_id: str | None = None
    buyer_vat_number: str | None = None
    updates: list[datetime] = field(default_factory=list)
    shipment_id: str = ""

    @property
    def mp(self) -> catalog.SandboxMarketplace:
        return catalog.MARKETPLACES[self.marketplace]

    @property
    def currency(self) -> str:
        return self.mp.currency

    def visible(self, now: datetime) -> bool:
        return self.created <= now

    def base_status(self, now: datetime) -> str:
        status = self.events[0][1]
        for at, st in self.events:
            if at <= now:
                status = st
        return status

    def active_lines(self, now: datetime) -> list[OrderLine]:
        return [ln for ln in self.lines if not ln.is_cancelled(now)]

    def shipped_quantities(self, now: datetime) -> dict[str, int]:
        out: dict[str, int] = {}
        for p in self.packages:
            if p.created <= now:
                for item_id, qty in p.items:
                    out[item_id] = out.get(item_id, 0) + qty
        return out

    def status_at(self, now: datetime) -> str:
        status = self.base_status(now)
        if self.lines and all(ln.is_cancelled(now) for ln in self.lines):
            return "CANCELLED"
        if self.fulfilled_by == "MERCHANT" and status in SHIPPABLE:
            shipped = self.shipped_quantities(now)
            active = self.active_lines(now)
            if not shipped:
                return "UNSHIPPED"
            if all(shipped.get(ln.order_item_id, 0) >= ln.quantity for ln in active):
                return "SHIPPED"
            return "PARTIALLY_SHIPPED"
        return status

    def last_updated(self, now: datetime) -> datetime:
        times = [at for at, _ in self.events if at <= now]
        times += [p.created for p in self.packages if p.created <= now]
        times += [ln.cancelled_at for ln in self.lines if ln.cancelled_at and ln.cancelled_at <= now]
        times += [u for u in self.updates if u <= now]
        return max(times) if times else self.created

    def ship_time(self, now: datetime) -> datetime | None:
        """When the order (last package) shipped, if it has by ``now``."""
        if self.status_at(now) != "SHIPPED":
            return None
        if self.fulfilled_by == "AMAZON":
            return max(at for at, st in self.events if st == "SHIPPED" and at <= now)
        return max(p.ship_time for p in self.packages if p.created <= now)

    # rendering ---------------------------------------------------------------------------------
    def to_json(self, now: datetime, included: Iterable[str] = ()) -> dict[str, Any]:
        inc = frozenset(included)
        status = self.status_at(now)
        cur = self.currency
        mp = self.mp
        paid = status not in PRE_PAYMENT
        out: dict[str, Any] = {
            "orderId": self.order_id,
            "createdTime": iso(self.created),
            "lastUpdatedTime": iso(self.last_updated(now)),
            "programs": list(self.programs),
            "salesChannel": {"channelName": "AMAZON", "marketplaceId": mp.marketplace_id,
                             "marketplaceName": mp.marketplace_name},
        }
        if self.seller_order_id:
            out["orderAliases"] = [{"aliasId": self.seller_order_id, "aliasType": "SELLER_ORDER_ID"}]
        if self.replacement_of:
            out["associatedOrders"] = [{"orderId": self.replacement_of, "associationType": "REPLACEMENT_ORIGINAL_ID"}]
        if "BUYER" in inc and self.buyer:
            buyer = dict(self.buyer)
            if self.fulfilled_by != "MERCHANT":
                buyer.pop("buyerEmail", None)
            out["buyer"] = buyer
        if "RECIPIENT" in inc and status in SHIPPABLE and self.recipient:
            out["recipient"] = {"deliveryAddress": dict(self.recipient)}
        if "PROCEEDS" in inc and paid:
            totals: dict[str, Decimal] = {}
            for ln in self.active_lines(now):
                for b in ln.breakdowns(cur):
                    totals[b["type"]] = totals.get(b["type"], ZERO) + Decimal(b["subtotal"]["amount"])
            order_breakdowns = [{"type": t, "subtotal": money(v, cur)} for t, v in totals.items()]
            out["proceeds"] = {"grandTotal": money(sum(totals.values(), ZERO), cur), "breakdowns": order_breakdowns}
        if "TAX" in inc and self.buyer_vat_number:
            out["tax"] = {"taxRegistrations": [{
                "entityType": "BUSINESS", "legalName": self.buyer.get("buyerCompanyName", ""),
                "taxRegistrationType": "VAT", "taxRegistrationNumber": self.buyer_vat_number}]}
        if "FULFILLMENT" in inc:
            ful: dict[str, Any] = {"fulfillmentStatus": status, "fulfilledBy": self.fulfilled_by,
                                   "fulfillmentServiceLevel": self.service_level}
            if self.ship_by:
                ful["shipByWindow"] = {"earliestDateTime": iso(self.ship_by[0]), "latestDateTime": iso(self.ship_by[1])}
            if self.deliver_by:
                ful["deliverByWindow"] = {"earliestDateTime": iso(self.deliver_by[0]),
                                          "latestDateTime": iso(self.deliver_by[1])}
            out["fulfillment"] = ful
        shipped = self.shipped_quantities(now)
        out["orderItems"] = [self._item_json(ln, now, inc, status, shipped) for ln in self.lines]
        if "PACKAGES" in inc and self.fulfilled_by == "MERCHANT":
            out["packages"] = [p.to_json() for p in self.packages if p.created <= now]
        return out

    def _item_json(self, ln: OrderLine, now: datetime, inc: frozenset[str], status: str,
                   shipped: dict[str, int]) -> dict[str, Any]:
        cur = self.currency
        cancelled = ln.is_cancelled(now)
        paid = status not in PRE_PAYMENT
        product: dict[str, Any] = {"asin": ln.asin, "title": ln.title, "sellerSku": ln.sku,
                                   "condition": {"conditionType": "NEW", "conditionSubtype": "NEW"}}
        if paid:
            price: dict[str, Any] = {"unitPrice": money(ln.unit_price, cur)}
            if ln.price_designation:
                price["priceDesignation"] = ln.price_designation
            product["price"] = price
        item: dict[str, Any] = {"orderItemId": ln.order_item_id, "quantityOrdered": 0 if cancelled else ln.quantity,
                                "product": product}
        if "PROCEEDS" in inc and paid:
            if cancelled:
                item["proceeds"] = {"proceedsTotal": money(ZERO, cur), "breakdowns": []}
            else:
                item["proceeds"] = {"proceedsTotal": money(ln.proceeds_total, cur), "breakdowns": ln.breakdowns(cur)}
        if "PROMOTION" in inc and ln.promotion_ids and not cancelled:
            item["promotion"] = {"breakdowns": [{"promotionId": p} for p in ln.promotion_ids]}
        if "CANCELLATION" in inc and cancelled:
            item["cancellation"] = {
                "cancellationRequest": {"requester": ln.cancel_requester, "cancelReason": ln.cancel_reason},
                "cancellationExecution": {"cancelledBy": "AMAZON" if ln.cancel_requester == "BUYER" else "SELLER",
                                          "cancelReason": ln.cancel_reason}}
        if "FULFILLMENT" in inc:
            if cancelled:
                done, todo = 0, 0
            elif self.fulfilled_by == "AMAZON":
                done = ln.quantity if status == "SHIPPED" else 0
                todo = ln.quantity - done
            else:
                done = min(ln.quantity, shipped.get(ln.order_item_id, 0))
                todo = ln.quantity - done
            ful: dict[str, Any] = {"quantityFulfilled": done, "quantityUnfulfilled": todo}
            if ln.gift_message or ln.gift_wrap_level:
                gift: dict[str, str] = {}
                if ln.gift_message:
                    gift["giftMessage"] = ln.gift_message
                if ln.gift_wrap_level:
                    gift["giftWrapLevel"] = ln.gift_wrap_level
                ful["packing"] = {"giftOption": gift}
            if self.reporting_scheme == "IOSS":
                ful["shipping"] = {"internationalShipping": {"iossNumber": IOSS_NUMBER}}
            item["fulfillment"] = ful
        if "TAX" in inc and self.mf_tax:
            tax: dict[str, Any] = {"taxCollections": [{"model": "MARKETPLACE_FACILITATOR",
                                                       "responsibleParty": MF_PARTY[self.marketplace]}]}
            if self.reporting_scheme:
                tax["taxCalculationBreakdowns"] = [{"reportingScheme": self.reporting_scheme}]
            item["tax"] = tax
        return item

    def pii_values(self) -> list[str]:
        vals = [self.buyer.get(k, "") for k in ("buyerName", "buyerEmail", "buyerCompanyName")]
        vals += [self.recipient.get(k, "") for k in ("name", "companyName", "addressLine1", "addressLine2", "phone")]
        vals += [ln.gift_message or "" for ln in self.lines]
        vals.append(self.buyer_vat_number or "")
        return [v for v in vals if v]


# --- generation ----------------------------------------------------------------------------------

def list_price(item: catalog.CatalogItem, marketplace: str) -> Decimal:
    """Tax-exclusive unit price of a catalogue item in the marketplace's currency.

    UK/DE shelf prices are VAT-inclusive x.99 values; the net is derived from them.
    """
    mp = catalog.MARKETPLACES[marketplace]
    if mp.currency == "USD":
        return q2(item.base_price_usd)
    gross = (item.base_price_usd * catalog.FX_FROM_USD[mp.currency]).quantize(Decimal("1")) - Decimal("0.01")
    gross = max(gross, Decimal("2.99"))
    return q2(gross / (1 + mp.vat_rate))


class _Ids:
    def __init__(self, rng: random.Random, marketplace: str) -> None:
        self.rng = rng
        self.prefixes = ORDER_PREFIXES[marketplace]
        self.seen: set[str] = set()

    def order_id(self) -> str:
        while True:
            oid = f"{self.rng.choice(self.prefixes)}-{self.rng.randint(0, 9999999):07d}-{self.rng.randint(0, 9999999):07d}"
            if oid not in self.seen:
                self.seen.add(oid)
                return oid

    def item_id(self) -> str:
        return f"{self.rng.randint(10**13, 10**14 - 1)}"


def _person(rng: random.Random, marketplace: str, business: bool) -> tuple[dict[str, str], dict[str, str], str | None]:
    name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
    email = "".join(rng.choices(string.ascii_lowercase + string.digits, k=14)) + "@" + EMAIL_DOMAIN[marketplace]
    company = rng.choice(COMPANIES) if business else None
    buyer: dict[str, str] = {"buyerName": name, "buyerEmail": email}
    vat = None
    if company:
        buyer["buyerCompanyName"] = company
        buyer["buyerPurchaseOrderNumber"] = f"PO-{rng.randint(100000, 999999)}"
    n = rng.randint(2, 188)
    if marketplace == "uk":
        town, postcode = rng.choice(UK_TOWNS)
        addr = {"name": name, "addressLine1": f"{n} {rng.choice(UK_STREETS)}", "city": town,
                "postalCode": postcode, "countryCode": "GB", "phone": f"+44 7700 900{rng.randint(0, 999):03d}"}
        if company:
            vat = f"GB{rng.randint(100000000, 999999999)}"
    elif marketplace == "de":
        town, postcode = rng.choice(DE_TOWNS)
        addr = {"name": name, "addressLine1": f"{rng.choice(DE_STREETS)} {n}", "city": town,
                "postalCode": postcode, "countryCode": "DE", "phone": f"+49 151 {rng.randint(10000000, 99999999)}"}
        if company:
            vat = f"DE{rng.randint(100000000, 999999999)}"
    else:
        state, city, zip_code, _ = rng.choice(US_STATES)
        addr = {"name": name, "addressLine1": f"{n * 10 + rng.randint(0, 9)} {rng.choice(US_STREETS)}",
                "city": city, "stateOrRegion": state, "postalCode": zip_code, "countryCode": "US",
                "phone": f"+1 206-555-01{rng.randint(0, 99):02d}"}
    if rng.random() < 0.3:
        addr["addressLine2"] = f"Flat {rng.randint(1, 40)}" if marketplace == "uk" else (
            f"Hinterhaus {rng.randint(1, 5)}. OG" if marketplace == "de" else f"Apt {rng.randint(100, 999)}")
    addr["addressType"] = "COMMERCIAL" if company else "RESIDENTIAL"
    if company:
        addr["companyName"] = company
    return buyer, addr, vat


def generate_orders(marketplace: str, *, seed: int = 42, catalog_size: int = 60, orders_per_day: int = 60,
                    days: int = 3, now: datetime, future_days: int = 2,
                    unknown_sku_orders: int = 0) -> list[Order]:
    """Orders of one marketplace created over ``[now - days, now + future_days)``, sorted by creation.

    Exactly ``orders_per_day * days`` of them are visible at ``now``.
    """
    if marketplace not in catalog.MARKETPLACES:
        raise ValueError(f"unknown marketplace code {marketplace!r}; expected one of {sorted(catalog.MARKETPLACES)}")
    mp = catalog.MARKETPLACES[marketplace]
    rng = stable_rng("orders", seed, catalog_size, marketplace, orders_per_day, days, iso(now))
    ids = _Ids(rng, marketplace)
    sellable = [i for i in catalog.sellable_items(seed, catalog_size)]
    fba_pool = [i for i in sellable if marketplace in i.fba_marketplaces]
    mfn_pool = [i for i in sellable if marketplace not in i.fba_marketplaces]
    start = now - timedelta(days=days)
    created_times: list[datetime] = []
    for d in range(days + future_days):
        day0 = start + timedelta(days=d)
        created_times += sorted(day0 + timedelta(seconds=rng.randint(0, 86399)) for _ in range(orders_per_day))
    orders: list[Order] = []
    visible_count = orders_per_day * days
    unknown_at = set()
    if unknown_sku_orders:
        step = max(1, visible_count // unknown_sku_orders)
        unknown_at = {min(visible_count - 1, k * step + step // 2) for k in range(unknown_sku_orders)}
    for idx, t0 in enumerate(created_times):
        orders.append(_one_order(rng, ids, marketplace, mp, t0, now, fba_pool, mfn_pool, orders,
                                 unknown=idx in unknown_at))
    return orders


def _one_order(rng: random.Random, ids: _Ids, code: str, mp: catalog.SandboxMarketplace, t0: datetime,
               now: datetime, fba_pool: list[catalog.CatalogItem], mfn_pool: list[catalog.CatalogItem],
               earlier: list[Order], *, unknown: bool) -> Order:
    roll = rng.random()
    kind = "normal"
    if roll < 0.04:
        kind = "cancel"
    elif roll < 0.07:
        kind = "partial_cancel"
    elif roll < 0.10:
        kind = "preorder"
    elif roll < 0.12 and earlier:
        kind = "replacement"
    elif roll < 0.14:
        kind = "slow_payment"
    fba = bool(fba_pool) and (rng.random() < 0.4) and not unknown
    pool = fba_pool if fba else mfn_pool
    business = rng.random() < 0.08 and kind != "replacement"
    n_lines = rng.choices((1, 2, 3), weights=(70, 22, 8))[0]
    if kind == "partial_cancel":
        n_lines = max(2, n_lines)
    skus = rng.sample(pool, min(n_lines, len(pool)))
    buyer, recipient, vat = _person(rng, code, business)
    # tax regime of the order
    mf_tax = False
    scheme = None
    if code == "us":
        rate = next(r for s, _, _, r in US_STATES if s == recipient.get("stateOrRegion"))
        mf_tax = True
    else:
        rate = mp.vat_rate
        if not business and rng.random() < 0.12:
            mf_tax = True
            scheme = "UOSS" if rng.random() < 0.5 else "IOSS"
    lines: list[OrderLine] = []
    for item in skus:
        qty = rng.choices((1, 2, 3), weights=(70, 20, 10))[0]
        unit = list_price(item, code)
        if business:
            unit = q2(unit * Decimal("0.95"))
        lines.append(OrderLine(order_item_id=ids.item_id(), sku=item.sku, title=item.display_name, quantity=qty,
                               unit_price=unit, tax_rate=rate,
                               price_designation="BUSINESS_PRICE" if business else None))
    if unknown:
        lines[0] = OrderLine(order_item_id=lines[0].order_item_id, sku=catalog.UNKNOWN_SKU,
                             title="Sandbox product unknown to NetSuite", quantity=1,
                             unit_price=Decimal("9.99") if code == "us" else Decimal("8.32"), tax_rate=rate)
    service = rng.choice(SERVICE_LEVELS)
    prime = fba or rng.random() < 0.15
    if not prime:
        lines[0].shipping = SHIPPING_NET[code] * (2 if service != "STANDARD" else 1)
    # promotions
    if rng.random() < 0.12:
        ln = rng.choice(lines)
        ln.item_discount = q2(ln.item_amount * Decimal("0.10"))
        ln.promotion_ids = (f"PLM-{code.upper()}-{rng.randint(1000, 9999)}",)
    elif lines[0].shipping and rng.random() < 0.25:
        lines[0].shipping_discount = lines[0].shipping
        lines[0].promotion_ids = (f"FREESHIP-{code.upper()}-{rng.randint(100, 999)}",)
    if rng.random() < 0.05 and not (mf_tax and code != "us"):
        ln = rng.choice(lines)
        ln.gift_wrap = GIFT_WRAP_NET[code]
        ln.gift_wrap_level = "STANDARD"
        ln.gift_message = rng.choice(GIFT_MESSAGES).format(n=rng.choice(FIRST_NAMES))
    if scheme == "IOSS":  # low-value consignments only (GBP 135 / EUR 150)
        limit = Decimal("135") if code == "uk" else Decimal("150")
        if sum((ln.proceeds_total for ln in lines), Decimal(0)) > limit:
            scheme = "UOSS"
    replacement_of = None
    if kind == "replacement":
        original = rng.choice(earlier[-50:])
        replacement_of = original.order_id
        for ln in lines:
            ln.unit_price = ZERO
            ln.shipping = ZERO
            ln.gift_wrap = ZERO
            ln.item_discount = ZERO
            ln.shipping_discount = ZERO
            ln.promotion_ids = ()
            ln.gift_message = None
            ln.gift_wrap_level = None
    # timeline
    events: list[tuple[datetime, str]] = []
    pay_start = t0
    programs: list[str] = []
    if kind == "preorder":
        events.append((t0, "PENDING_AVAILABILITY"))
        release = (t0 + timedelta(days=rng.randint(3, 8))).replace(hour=0, minute=0, second=0)
        pay_start = release
        events.append((release, "PENDING"))
        programs.append("PREORDER")
    else:
        events.append((t0, "PENDING"))
    if kind == "slow_payment":
        unshipped = pay_start + timedelta(hours=rng.randint(6, 30))
    else:
        unshipped = pay_start + timedelta(minutes=rng.randint(2, 40))
    events.append((unshipped, "UNSHIPPED"))
    if kind == "cancel":
        cancel_at = t0 + timedelta(minutes=rng.randint(5, 50))
        events = [e for e in events if e[0] < cancel_at] + [(cancel_at, "CANCELLED")]
        for ln in lines:
            ln.cancelled_at = cancel_at
    if kind == "partial_cancel":
        lines[-1].cancelled_at = unshipped + timedelta(minutes=rng.randint(10, 120))
    packages: list[Package] = []
    if kind != "cancel":
        if fba:
            events.append((unshipped + timedelta(hours=rng.randint(3, 30), minutes=rng.randint(0, 59)), "SHIPPED"))
        elif t0 < now - MFN_AUTO_SHIP_AGE and kind != "preorder":
            ship_time = unshipped + timedelta(hours=rng.randint(8, 30), minutes=rng.randint(0, 59))
            carrier, service_name = CARRIERS[code]
            cancelled_line = lines[-1] if kind == "partial_cancel" else None
            if cancelled_line is not None and cancelled_line.cancelled_at and cancelled_line.cancelled_at > ship_time:
                cancelled_line.cancelled_at = ship_time - timedelta(minutes=5)
            packages.append(Package(
                package_reference_id="1", created=ship_time, ship_time=ship_time, carrier=carrier,
                shipping_service=service_name,
                tracking_number=f"{code.upper()}{rng.randint(10**10, 10**11 - 1)}",
                items=[(ln.order_item_id, ln.quantity) for ln in lines if ln is not cancelled_line]))
    if fba or prime:
        programs.append("PRIME")
    if business:
        programs.append("AMAZON_BUSINESS")
    ship_by = None
    if not fba:
        latest = (pay_start + timedelta(days=2)).replace(hour=23, minute=59, second=59)
        ship_by = (pay_start, latest)
        deliver_by = (latest + timedelta(seconds=1), latest + timedelta(days=4))
    else:
        deliver_by = ((pay_start + timedelta(days=1)).replace(hour=0, minute=0, second=0),
                      (pay_start + timedelta(days=3)).replace(hour=23, minute=59, second=59))
    return Order(order_id=ids.order_id(), marketplace=code, created=t0, fulfilled_by="AMAZON" if fba else "MERCHANT",
                 lines=lines, events=events, service_level=service, programs=programs, buyer=buyer,
                 recipient=recipient, mf_tax=mf_tax, reporting_scheme=scheme, replacement_of=replacement_of,
                 ship_by=ship_by, deliver_by=deliver_by, packages=packages, buyer_vat_number=vat,
                 shipment_id=f"{'D' if fba else 'M'}{rng.randint(10**8, 10**9 - 1)}")
