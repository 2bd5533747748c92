"""Marketplace-of-record (MoR) tax decision per order line — pure domain code.

For every Amazon order item we decide *who owes the tax* Amazon charged the buyer:

- ``MARKETPLACE_FACILITATOR`` — Amazon withholds and remits it (US marketplace-facilitator states):
  the item carries ``tax.taxCollections[].model == "MARKETPLACE_FACILITATOR"`` (in a marketplace
  outside region ``na`` the same flag is recorded as ``DEEMED_SUPPLIER`` without a scheme);
- ``DEEMED_SUPPLIER`` — Amazon is the deemed supplier for VAT (UK ≤ GBP 135 / overseas sellers,
  EU IOSS and Union-OSS, Norway/UK VOEC): ``tax.taxCalculationBreakdowns[].reportingScheme`` is one of
  :data:`DEEMED_SUPPLIER_SCHEMES`;
- ``SELLER`` — otherwise: the seller received the tax and must remit it.

Facilitator and deemed-supplier tax is never booked as tax payable. The order mapping
(:mod:`airflow_provider_amznetsuite.domain.orders`) puts such lines on the marketplace's non-taxable
``tax.marketplace_collected_code``, records the withheld amount on the line field
``tax.withheld_tax_field`` and adds one ``tax.clearing_item`` line carrying the sum, so the NetSuite
document total equals what the buyer paid. Seller-collected tax uses ``tax.seller_collected_code`` and
Amazon's amount (never a recomputed rate). See ``docs/tax-treatment.md``.

The amounts come from the item's ``proceeds.breakdowns[type=TAX]`` (``includedData=PROCEEDS``); the
collector flags from ``tax`` (``includedData=TAX``).
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:  # the order models live in domain.orders, which imports this module
    from airflow_provider_amznetsuite.config import MarketplaceConfig
    from airflow_provider_amznetsuite.domain.orders import AmazonOrder, OrderItem

__all__ = [
    "DEEMED_SUPPLIER_SCHEMES",
    "MARKETPLACE_FACILITATOR_MODEL",
    "SELLER_COLLECTION_MODELS",
    "TAX_COMPONENTS",
    "MappingError",
    "TaxCollector",
    "TaxDecision",
    "decide_line_tax",
]


class MappingError(ValueError):
    """An Amazon order that cannot be turned into a NetSuite document as it is.

    The message is one line that names the order, the field or configuration key, and the fix. It
    never contains buyer PII or secrets, so it can be stored as the quarantine reason.
    ``config_key`` is set when the fix is a configuration change (e.g. ``tax.clearing_item``).
    """

    def __init__(self, message: str, *, order_id: str | None = None, config_key: str | None = None):
        self.order_id = order_id
        self.config_key = config_key
        super().__init__(message)


class TaxCollector(StrEnum):
    SELLER = "SELLER"
    MARKETPLACE_FACILITATOR = "MARKETPLACE_FACILITATOR"
    DEEMED_SUPPLIER = "DEEMED_SUPPLIER"


#: ``taxCollections[].model`` value meaning Amazon withholds and remits the tax.
MARKETPLACE_FACILITATOR_MODEL = "MARKETPLACE_FACILITATOR"
#: ``taxCollections[].model`` values meaning the seller receives the tax (Finances "Standard" model).
SELLER_COLLECTION_MODELS = frozenset({"STANDARD"})
#: ``taxCalculationBreakdowns[].reportingScheme`` values under which Amazon is the deemed supplier.
#: IOSS/UOSS are documented by Amazon (Orders v2026-01-01); the VOEC variants (UK / Norway) are seen
#: in the field (third-party code) and are treated the same way.
DEEMED_SUPPLIER_SCHEMES = frozenset({"IOSS", "UOSS", "VOEC", "GB_VOEC", "UK_VOEC", "NO_VOEC"})

#: Components a tax amount can belong to (``TAX`` detailedBreakdowns subtypes).
TAX_COMPONENTS = ("ITEM", "SHIPPING", "GIFT_WRAP", "COD_FEE", "OTHER", "DISCOUNT")


class TaxDecision(BaseModel):
    """Who owes the tax of one order item, how much per component, and the NetSuite tax code to use."""

    model_config = ConfigDict(frozen=True)

    order_item_id: str
    collector: TaxCollector
    scheme: str | None = None  # IOSS / UOSS / VOEC ... for deemed-supplier items
    responsible_party: str | None = None  # e.g. "Amazon Services, Inc." (not PII)
    item_tax: Decimal = Decimal(0)
    shipping_tax: Decimal = Decimal(0)
    gift_wrap_tax: Decimal = Decimal(0)
    cod_fee_tax: Decimal = Decimal(0)
    other_tax: Decimal = Decimal(0)
    discount_tax: Decimal = Decimal(0)  # tax on promotion discounts (normally <= 0)
    tax_code_id: str | None = None

    @property
    def withheld(self) -> bool:
        """True when Amazon collects and remits the tax (never tax payable for the seller)."""
        return self.collector is not TaxCollector.SELLER

    @property
    def total_tax(self) -> Decimal:
        return sum((self.tax_for(c) for c in TAX_COMPONENTS), Decimal(0))

    def tax_for(self, component: str) -> Decimal:
        """Tax attached to one component (``ITEM``, ``SHIPPING``, ``GIFT_WRAP``, ``COD_FEE``, ``OTHER``, ``DISCOUNT``)."""
        return {
            "ITEM": self.item_tax,
            "SHIPPING": self.shipping_tax,
            "GIFT_WRAP": self.gift_wrap_tax,
            "COD_FEE": self.cod_fee_tax,
            "OTHER": self.other_tax,
            "DISCOUNT": self.discount_tax,
        }[component]


def _collector(item: OrderItem, order_id: str, region: str) -> tuple[TaxCollector, str | None, str | None]:
    schemes = [b.reporting_scheme.strip().upper() for b in item.tax.tax_calculation_breakdowns if b.reporting_scheme]
    models = [(c.model.strip().upper(), c.responsible_party) for c in item.tax.tax_collections if c.model]
    deemed = [s for s in schemes if s in DEEMED_SUPPLIER_SCHEMES]
    facilitator = [party for model, party in models if model == MARKETPLACE_FACILITATOR_MODEL]
    if deemed:
        party = facilitator[0] if facilitator else None
        return TaxCollector.DEEMED_SUPPLIER, deemed[0], party
    if facilitator:
        # Outside North America "Amazon collects and remits" is the deemed-supplier regime (UK / EU / AU ...).
        collector = TaxCollector.MARKETPLACE_FACILITATOR if region == "na" else TaxCollector.DEEMED_SUPPLIER
        return collector, None, facilitator[0]
    unknown_schemes = sorted(set(schemes))
    if unknown_schemes:
        raise MappingError(
            f"order {order_id} item {item.order_item_id}: unknown tax reportingScheme "
            f"{', '.join(unknown_schemes)} — cannot tell whether Amazon or the seller owes the tax "
            f"(known deemed-supplier schemes: {', '.join(sorted(DEEMED_SUPPLIER_SCHEMES))}); order quarantined for review",
            order_id=order_id,
        )
    unknown_models = sorted({m for m, _ in models if m not in SELLER_COLLECTION_MODELS})
    if unknown_models:
        raise MappingError(
            f"order {order_id} item {item.order_item_id}: unknown tax collection model "
            f"{', '.join(unknown_models)} — cannot tell who owes the tax; order quarantined for review",
            order_id=order_id,
        )
    return TaxCollector.SELLER, None, None


def decide_line_tax(item: OrderItem, order: AmazonOrder, mp: MarketplaceConfig) -> TaxDecision:
    """Decide the collector, the scheme, the tax per component and the NetSuite tax code of one item.

    Raises :class:`MappingError` when the configuration lacks the tax code the decision needs
    (``tax.seller_collected_code`` for seller-collected tax, ``tax.marketplace_collected_code`` for
    facilitator / deemed-supplier items) or when Amazon reports a scheme/model this code does not know.
    """
    order_id = order.order_id
    collector, scheme, party = _collector(item, order_id, mp.region)
    components = item.tax_components(order_id)
    currency = order.currency
    if collector is TaxCollector.SELLER:
        code = mp.tax.seller_collected_code
        total = sum(components.values(), Decimal(0))
        if code is None and total != 0:
            raise MappingError(
                f"order {order_id} item {item.order_item_id}: seller-collected tax {total} {currency} but "
                f"marketplaces.{mp.code}.tax.seller_collected_code is not set — set it to the NetSuite tax code "
                "for tax you owe",
                order_id=order_id,
                config_key="tax.seller_collected_code",
            )
    else:
        code = mp.tax.marketplace_collected_code
        if code is None:
            who = "marketplace facilitator" if collector is TaxCollector.MARKETPLACE_FACILITATOR else f"deemed supplier ({scheme})"
            raise MappingError(
                f"order {order_id} item {item.order_item_id}: Amazon collects this tax as {who} but "
                f"marketplaces.{mp.code}.tax.marketplace_collected_code is not set — set it to a non-taxable "
                "NetSuite tax code (marketplace-collected tax is never booked as tax payable)",
                order_id=order_id,
                config_key="tax.marketplace_collected_code",
            )
    return TaxDecision(
        order_item_id=item.order_item_id,
        collector=collector,
        scheme=scheme,
        responsible_party=party,
        item_tax=components.get("ITEM", Decimal(0)),
        shipping_tax=components.get("SHIPPING", Decimal(0)),
        gift_wrap_tax=components.get("GIFT_WRAP", Decimal(0)),
        cod_fee_tax=components.get("COD_FEE", Decimal(0)),
        other_tax=components.get("OTHER", Decimal(0)),
        discount_tax=components.get("DISCOUNT", Decimal(0)),
        tax_code_id=code,
    )
