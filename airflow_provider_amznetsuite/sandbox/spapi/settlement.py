"""Settlement reports in Amazon's ``GET_V2_SETTLEMENT_REPORT_DATA_FLAT_FILE_V2`` format.

Layout (tab-separated, one header line, then rows):

* columns: the 23 documented V2 columns plus ``promotion-id`` (see :data:`COLUMNS`);
* the first data row is the summary: only settlement-id, settlement-start-date, settlement-end-date,
  deposit-date, total-amount (the net deposit) and currency are filled;
* dates ``YYYY-MM-DD HH:MM:SS UTC``; ``posted-date`` is ``MM/DD/YY`` in the US and ``DD/MM/YY`` in
  UK/DE (parse ``posted-date-time``); amounts use a decimal point in the US and a decimal comma in
  UK/DE (``95,00``), no thousands separator;
* Σ(amount of every non-summary row) == total-amount, exactly.

Rows are consistent with the sandbox orders: an ``Order`` group per shipped line (principal, tax,
shipping, gift wrap, promotions, marketplace-facilitator / deemed-supplier withheld tax, commission,
FBA fees), refunds, a chargeback, an A-to-z claim, FBA reimbursements and a reversal, reserves,
storage, subscription and advertising. Principal/Shipping/GiftWrap are tax-exclusive with the tax in
separate ``Tax``/``ShippingTax``/``GiftWrapTax`` rows (matching the Orders API proceeds).

``extra_lines`` pads the file with synthetic order rows (order ids that are not in the order store)
so large files (1,000,000 lines) can be produced quickly for benchmarks; they are streamed twice
(sum pass, write pass) and never held in memory.
"""

from __future__ import annotations

import io
import random
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TextIO

from airflow_provider_amznetsuite.sandbox import catalog
from airflow_provider_amznetsuite.sandbox.spapi.orders import Order, OrderLine
from airflow_provider_amznetsuite.sandbox.spapi.util import ZERO, q2, stable_rng

REPORT_TYPE = "GET_V2_SETTLEMENT_REPORT_DATA_FLAT_FILE_V2"
COLUMNS = (
    "settlement-id", "settlement-start-date", "settlement-end-date", "deposit-date", "total-amount",
    "currency", "transaction-type", "order-id", "merchant-order-id", "adjustment-id", "shipment-id",
    "marketplace-name", "amount-type", "amount-description", "amount", "fulfillment-id", "posted-date",
    "posted-date-time", "order-item-code", "merchant-order-item-id", "merchant-adjustment-item-id", "sku",
    "quantity-purchased", "promotion-id",
)
COMMISSION_RATE = Decimal("0.15")
FBA_UNIT_FEE = {"uk": Decimal("2.85"), "de": Decimal("3.05"), "us": Decimal("3.22")}
SUBSCRIPTION_FEE = {"uk": Decimal("25.00"), "de": Decimal("39.00"), "us": Decimal("39.99")}
EU_CODES = frozenset({"uk", "de"})


@dataclass
class SettlementLine:
    transaction_type: str
    amount_type: str
    amount_description: str
    amount: Decimal
    posted: datetime
    order_id: str = ""
    merchant_order_id: str = ""
    adjustment_id: str = ""
    shipment_id: str = ""
    marketplace_name: str = ""
    fulfillment_id: str = ""
    order_item_code: str = ""
    merchant_order_item_id: str = ""
    merchant_adjustment_item_id: str = ""
    sku: str = ""
    quantity: int | None = None
    promotion_id: str = ""


def fmt_amount(amount: Decimal, marketplace: str) -> str:
    text = f"{q2(amount):.2f}"
    return text.replace(".", ",") if marketplace in EU_CODES else text


def fmt_cents(cents: int, marketplace: str) -> str:
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    sep = "," if marketplace in EU_CODES else "."
    return f"{sign}{whole}{sep}{frac:02d}"


def fmt_datetime(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%d %H:%M:%S UTC")


def fmt_posted_date(dt: datetime, marketplace: str) -> str:
    return dt.strftime("%d/%m/%y" if marketplace in EU_CODES else "%m/%d/%y")


# --- rows from orders ----------------------------------------------------------------------------

def _order_rows(order: Order, ln: OrderLine, posted: datetime, ttype: str, sign: int, adj: str = "",
                fraction: Decimal = Decimal(1), with_shipping: bool = True, fees: bool = True) -> list[SettlementLine]:
    """Rows of one order line. ``sign`` +1 for a sale, -1 for a refund-like reversal."""
    mp = order.mp
    code = order.marketplace
    base = dict(order_id=order.order_id, merchant_order_id=order.seller_order_id or "", adjustment_id=adj,
                shipment_id=order.shipment_id if not adj else "", marketplace_name=mp.marketplace_name,
                fulfillment_id="AFN" if order.fulfilled_by == "AMAZON" else "MFN",
                order_item_code=ln.order_item_id, sku=ln.sku)

    def part(value: Decimal) -> Decimal:
        return q2(value * fraction)

    rows: list[SettlementLine] = []

    def add(atype: str, desc: str, value: Decimal, **kw: object) -> None:
        if value:
            rows.append(SettlementLine(ttype, atype, desc, value, posted, **base, **kw))  # type: ignore[arg-type]

    principal, tax_item = part(ln.item_amount), part(ln.tax_item)
    shipping = ln.shipping if with_shipping else ZERO
    ship_tax = ln.tax_shipping if with_shipping else ZERO
    ship_disc = ln.shipping_discount if with_shipping else ZERO
    gift, gift_tax = (ln.gift_wrap, ln.tax_gift_wrap) if with_shipping else (ZERO, ZERO)
    item_disc = part(ln.item_discount)
    add("ItemPrice", "Principal", sign * principal, quantity=ln.quantity if sign > 0 else None)
    add("ItemPrice", "Tax", sign * tax_item)
    add("ItemPrice", "Shipping", sign * shipping)
    add("ItemPrice", "ShippingTax", sign * ship_tax)
    add("ItemPrice", "GiftWrap", sign * gift)
    add("ItemPrice", "GiftWrapTax", sign * gift_tax)
    promo = ln.promotion_ids[0] if ln.promotion_ids else ""
    add("Promotion", "Principal", -sign * item_disc, promotion_id=promo)
    add("Promotion", "Shipping", -sign * ship_disc, promotion_id=promo)
    if order.mf_tax:
        if code == "us":
            names = ("MarketplaceFacilitatorTax-Principal", "MarketplaceFacilitatorTax-Shipping",
                     "MarketplaceFacilitatorTax-Other")
        elif order.reporting_scheme == "IOSS":
            names = ("LowValueGoodsTax-Principal", "LowValueGoodsTax-Shipping", "LowValueGoodsTax-Other")
        else:
            names = ("MarketplaceFacilitatorVAT-Principal", "MarketplaceFacilitatorVAT-Shipping",
                     "MarketplaceFacilitatorVAT-Other")
        add("ItemWithheldTax", names[0], -sign * tax_item)
        add("ItemWithheldTax", names[1], -sign * ship_tax)
        add("ItemWithheldTax", names[2], -sign * gift_tax)
    if fees:
        commission = q2((principal - item_disc + shipping - ship_disc + gift) * COMMISSION_RATE)
        add("ItemFees", "Commission", -sign * commission)
        if sign < 0 and commission:
            add("ItemFees", "RefundCommission", -min(Decimal("5.00"), q2(commission * Decimal("0.20"))))
        if sign > 0 and order.fulfilled_by == "AMAZON":
            add("ItemFees", "FBAPerUnitFulfillmentFee", -(FBA_UNIT_FEE[code] * ln.quantity))
            add("ItemFees", "GiftwrapChargeback", -gift)
            add("ItemFees", "ShippingChargeback", -(shipping - ship_disc))
    return rows


def settlement_lines(marketplace: str, orders: Sequence[Order], *, settlement_id: str, start: datetime,
                     end: datetime, seed: int, catalog_size: int = 60) -> list[SettlementLine]:
    """All non-summary rows of one settlement, sorted by posted time (stable)."""
    mp = catalog.MARKETPLACES[marketplace]
    rng = stable_rng("settlement", seed, marketplace, settlement_id)
    lines: list[SettlementLine] = []
    shipped: list[tuple[Order, datetime]] = []
    for o in orders:
        if o.marketplace != marketplace:
            continue
        t = o.ship_time(end)
        if t is None or not (start <= t < end):
            continue
        if all(ln.proceeds_total == 0 for ln in o.lines):
            continue  # zero-value replacement orders are not settled
        shipped.append((o, t))
        for ln in o.active_lines(end):
            lines += _order_rows(o, ln, t, "Order", +1)
    sales = sum((ln.amount for ln in lines if ln.amount_type == "ItemPrice" and ln.amount_description == "Principal"),
                ZERO)

    def adj_id() -> str:
        return f"amzn1.adj.{rng.getrandbits(64):016x}"

    def later(t: datetime, lo: float, hi: float) -> datetime | None:
        """A posting time between ship time and the settlement end (fractions of that gap)."""
        p = t + (end - t) * rng.uniform(lo, hi)
        p = p.replace(microsecond=0)
        return p if t < p < end else None

    # refunds (full and partial)
    pool = list(shipped)
    rng.shuffle(pool)
    n_refunds = max(1, len(pool) // 16) if pool else 0
    for o, t in pool[:n_refunds]:
        posted = later(t, 0.2, 0.9)
        if posted is None:
            continue
        ln = o.active_lines(end)[0]
        partial = rng.random() < 0.3
        lines += _order_rows(o, ln, posted, "Refund", -1, adj=adj_id(),
                             fraction=Decimal("0.5") if partial else Decimal(1), with_shipping=not partial)
    rest = sorted(pool[n_refunds:], key=lambda ot: ot[1])  # oldest first: room to post a claim
    # one card chargeback and one A-to-z claim
    if rest:
        o, t = rest[0]
        posted = later(t, 0.3, 0.95)
        if posted:
            lines += _order_rows(o, o.active_lines(end)[0], posted, "Chargeback Refund", -1, adj=adj_id(), fees=False)
    if len(rest) > 1:
        o, t = next(((o2, t2) for o2, t2 in rest[1:] if o2.fulfilled_by == "MERCHANT"), rest[1])
        posted = later(t, 0.3, 0.95)
        if posted:
            lines += _order_rows(o, o.active_lines(end)[0], posted, "A-to-z Guarantee Refund", -1, adj=adj_id())
    # account-level rows (no order)
    sellable = catalog.sellable_items(seed, catalog_size)
    fba_skus = [i for i in sellable if marketplace in i.fba_marketplaces] or list(sellable)
    span = max(1, int((end - start).total_seconds()))

    def at(frac: float) -> datetime:
        return start + timedelta(seconds=int(span * frac))

    def other(desc: str, amount: Decimal, posted: datetime, *, atype: str = "other-transaction",
              ttype: str = "other-transaction", sku: str = "", qty: int | None = None) -> None:
        lines.append(SettlementLine(ttype, atype, desc, amount, posted, sku=sku, quantity=qty))

    for desc, sign in (("WAREHOUSE_DAMAGE", 1), ("WAREHOUSE_LOST", 1), ("REVERSAL_REIMBURSEMENT", -1)):
        item = rng.choice(fba_skus)
        qty = rng.randint(1, 3)
        value = q2(item.cost_usd * catalog.FX_FROM_USD[mp.currency] * qty)
        other(desc, sign * value, at(rng.uniform(0.1, 0.9)), atype="FBA Inventory Reimbursement", sku=item.sku, qty=qty)
    other("Previous Reserve Amount Balance", q2(sales * Decimal("0.07")) + Decimal("50.00"), at(0.0))
    other("Current Reserve Amount", -(q2(sales * Decimal("0.08")) + Decimal("50.00")), end - timedelta(minutes=1))
    other("Storage Fee", -q2(Decimal(len(fba_skus)) * Decimal("0.45")), at(0.5))
    other("Subscription Fee", -SUBSCRIPTION_FEE[marketplace], at(0.05))
    other("TransactionTotalAmount", -(q2(sales * Decimal("0.05")) + Decimal("10.00")), at(0.8),
          atype="Cost of Advertising", ttype="ServiceFee")
    lines.sort(key=lambda ln: ln.posted)
    return lines


# --- synthetic padding ---------------------------------------------------------------------------

def _extra_rows(marketplace: str, n: int, seed: int, start: datetime, end: datetime, head: str,
                catalog_size: int = 60) -> Iterator[tuple[str, int]]:
    """``n`` synthetic order rows as ``(line, amount in cents)``; order ids are not in the order store."""
    rng = random.Random(seed * 1_000_003 + 17)
    rand = rng.random
    mp = catalog.MARKETPLACES[marketplace]
    items = [(i.sku, int(i.base_price_usd * 100)) for i in catalog.sellable_items(seed, catalog_size)]
    n_items = len(items)
    minutes = max(1, int((end - start).total_seconds()) // 60)
    fba_fee = int(FBA_UNIT_FEE[marketplace] * 100)
    tax_pct = 8 if marketplace == "us" else 20
    us = marketplace == "us"
    stamp_cache: dict[int, tuple[str, str]] = {}
    emitted = 0
    while emitted < n:
        oid = f"X0{1 + int(rand() * 3)}-{int(rand() * 10_000_000):07d}-{int(rand() * 10_000_000):07d}"
        sku, unit = items[int(rand() * n_items)]
        qty = 1 + int(rand() * 3)
        price = unit * qty
        tax = price * tax_pct // 100
        minute = int(rand() * minutes)
        stamps = stamp_cache.get(minute)
        if stamps is None:
            posted = start + timedelta(minutes=minute)
            stamps = stamp_cache[minute] = (fmt_posted_date(posted, marketplace), posted.strftime("%Y-%m-%d %H:%M"))
        second = int(rand() * 60)
        fba = rand() < 0.4
        prefix = (f"{head}Order\t{oid}\t\t\t{'D' if fba else 'M'}{100_000_000 + int(rand() * 900_000_000)}"
                  f"\t{mp.marketplace_name}\t")
        suffix = (f"\t{'AFN' if fba else 'MFN'}\t{stamps[0]}\t{stamps[1]}:{second:02d} UTC"
                  f"\t{10**13 + int(rand() * 9 * 10**13)}\t\t\t{sku}\t")
        rows = [("ItemPrice\tPrincipal\t", price, str(qty)), ("ItemPrice\tTax\t", tax, ""),
                ("ItemFees\tCommission\t", -(price * 15 // 100), "")]
        if us:
            rows.append(("ItemWithheldTax\tMarketplaceFacilitatorTax-Principal\t", -tax, ""))
        if fba:
            rows.append(("ItemFees\tFBAPerUnitFulfillmentFee\t", -fba_fee * qty, ""))
        for kind, cents, q in rows:
            if emitted >= n:
                return
            emitted += 1
            yield f"{prefix}{kind}{fmt_cents(cents, marketplace)}{suffix}{q}\t\n", cents


# --- rendering -----------------------------------------------------------------------------------

def write_settlement(out: TextIO, marketplace_code: str, orders: Sequence[Order], *, settlement_id: str,
                     start: datetime, end: datetime, seed: int, extra_lines: int = 0,
                     deposit_date: datetime | None = None, catalog_size: int = 60) -> Decimal:
    """Stream a settlement report to ``out``; returns the total-amount (net deposit)."""
    if marketplace_code not in catalog.MARKETPLACES:
        raise ValueError(f"unknown marketplace code {marketplace_code!r}; expected one of {sorted(catalog.MARKETPLACES)}")
    mp = catalog.MARKETPLACES[marketplace_code]
    code = marketplace_code
    lines = settlement_lines(code, orders, settlement_id=settlement_id, start=start, end=end, seed=seed,
                             catalog_size=catalog_size)
    total = sum((ln.amount for ln in lines), ZERO)
    head = f"{settlement_id}\t\t\t\t\t{mp.currency}\t"
    spool = None
    if extra_lines:
        # one generation pass: rows go to a spooled temporary file while their sum is taken
        spool = tempfile.SpooledTemporaryFile(max_size=32 * 1024 * 1024, mode="w+", encoding="utf-8")
        extra_cents = 0
        chunk: list[str] = []
        for line, cents in _extra_rows(code, extra_lines, seed, start, end, head, catalog_size):
            extra_cents += cents
            chunk.append(line)
            if len(chunk) >= 10000:
                spool.write("".join(chunk))
                chunk.clear()
        spool.write("".join(chunk))
        total += Decimal(extra_cents) / 100
    deposit = deposit_date or (end + timedelta(days=3))
    out.write("\t".join(COLUMNS) + "\n")
    summary = [settlement_id, fmt_datetime(start), fmt_datetime(end), fmt_datetime(deposit),
               fmt_amount(total, code), mp.currency] + [""] * (len(COLUMNS) - 6)
    out.write("\t".join(summary) + "\n")
    for ln in lines:
        out.write(head + "\t".join((
            ln.transaction_type, ln.order_id, ln.merchant_order_id, ln.adjustment_id, ln.shipment_id,
            ln.marketplace_name, ln.amount_type, ln.amount_description, fmt_amount(ln.amount, code),
            ln.fulfillment_id, fmt_posted_date(ln.posted, code), fmt_datetime(ln.posted), ln.order_item_code,
            ln.merchant_order_item_id, ln.merchant_adjustment_item_id, ln.sku,
            "" if ln.quantity is None else str(ln.quantity), ln.promotion_id)) + "\n")
    if spool is not None:
        spool.seek(0)
        shutil.copyfileobj(spool, out, 1024 * 1024)
        spool.close()
    return total


def render_settlement(marketplace_code: str, orders: Sequence[Order], *, settlement_id: str, start: datetime,
                      end: datetime, seed: int, extra_lines: int = 0, deposit_date: datetime | None = None,
                      catalog_size: int = 60) -> str:
    """The settlement report as a string (see :func:`write_settlement` for large files)."""
    buf = io.StringIO()
    write_settlement(buf, marketplace_code, orders, settlement_id=settlement_id, start=start, end=end, seed=seed,
                     extra_lines=extra_lines, deposit_date=deposit_date, catalog_size=catalog_size)
    return buf.getvalue()


def settlement_id_for(seed: int, marketplace: str, n: int) -> str:
    rng = stable_rng("settlement-id", seed, marketplace, n)
    return str(rng.randint(10**10, 10**11 - 1))
