"""Finances API v2024-06-19 ``listTransactions``, derived from the sandbox's settlement rows.

One transaction per (settlement, transaction-type, order or adjustment, posted instant); its items
are the order lines, breakdowns group the settlement amount types (ItemPrice → "Sales" / "Tax",
Promotion, ItemWithheldTax, ItemFees → "Fees", other rows by description). Amounts are JSON numbers
(``BigDecimal`` in the model); parse them with ``parse_float=Decimal``. Every transaction is
``RELEASED`` (the sandbox has no deferred transactions).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from airflow_provider_amznetsuite.sandbox import catalog
from airflow_provider_amznetsuite.sandbox.spapi.settlement import SettlementLine
from airflow_provider_amznetsuite.sandbox.spapi.util import ZERO, iso

TRANSACTION_TYPES = {"Order": "Shipment", "Refund": "Refund", "Chargeback Refund": "Chargeback",
                     "A-to-z Guarantee Refund": "GuaranteeClaim", "ServiceFee": "ServiceFee",
                     "other-transaction": "Adjustment"}


def _num(amount: Decimal) -> float:
    # two-decimal values: the float's shortest repr is the exact decimal string
    return float(amount)


def _currency(amount: Decimal, currency: str) -> dict[str, Any]:
    return {"currencyCode": currency, "currencyAmount": _num(amount)}


def _breakdown_type(line: SettlementLine) -> tuple[str, str]:
    if line.amount_type == "ItemPrice":
        return ("Tax" if "Tax" in line.amount_description else "Sales"), line.amount_description
    if line.amount_type == "Promotion":
        return "Promotion", line.amount_description
    if line.amount_type == "ItemWithheldTax":
        return "Tax", line.amount_description
    if line.amount_type == "ItemFees":
        return "Fees", line.amount_description
    return line.amount_type, line.amount_description


@dataclass
class Transaction:
    settlement_id: str
    marketplace: str
    key: tuple[str, ...]
    lines: list[SettlementLine]

    @property
    def posted(self) -> datetime:
        return self.lines[0].posted

    @property
    def order_id(self) -> str:
        return self.lines[0].order_id

    @property
    def total(self) -> Decimal:
        return sum((ln.amount for ln in self.lines), ZERO)

    def _breakdowns(self, lines: Iterable[SettlementLine], currency: str) -> list[dict[str, Any]]:
        groups: dict[str, dict[str, Decimal]] = {}
        for ln in lines:
            top, sub = _breakdown_type(ln)
            groups.setdefault(top, {})
            groups[top][sub] = groups[top].get(sub, ZERO) + ln.amount
        return [{"breakdownType": top, "breakdownAmount": _currency(sum(subs.values(), ZERO), currency),
                 "breakdowns": [{"breakdownType": k, "breakdownAmount": _currency(v, currency), "breakdowns": []}
                                for k, v in subs.items()]}
                for top, subs in groups.items()]

    def to_json(self, seller_id: str) -> dict[str, Any]:
        mp = catalog.MARKETPLACES[self.marketplace]
        first = self.lines[0]
        related = [{"relatedIdentifierName": "SETTLEMENT_ID", "relatedIdentifierValue": self.settlement_id},
                   {"relatedIdentifierName": "FINANCIAL_EVENT_GROUP_ID", "relatedIdentifierValue": self.settlement_id}]
        if first.order_id:
            related.insert(0, {"relatedIdentifierName": "ORDER_ID", "relatedIdentifierValue": first.order_id})
        if first.shipment_id:
            related.append({"relatedIdentifierName": "SHIPMENT_ID", "relatedIdentifierValue": first.shipment_id})
        if first.adjustment_id:
            related.append({"relatedIdentifierName": "REFUND_ID", "relatedIdentifierValue": first.adjustment_id})
        items = []
        by_item: dict[str, list[SettlementLine]] = {}
        for ln in self.lines:
            if ln.order_item_code or ln.sku:
                by_item.setdefault(ln.order_item_code or ln.sku, []).append(ln)
        for code, lines in by_item.items():
            qty = next((ln.quantity for ln in lines if ln.quantity), None)
            ctx: dict[str, Any] = {"contextType": "ProductContext", "sku": lines[0].sku,
                                   "fulfillmentNetwork": lines[0].fulfillment_id or "AFN"}
            if qty:
                ctx["quantityShipped"] = qty
            item: dict[str, Any] = {"description": lines[0].sku or lines[0].amount_description,
                                    "totalAmount": _currency(sum((ln.amount for ln in lines), ZERO), mp.currency),
                                    "breakdowns": self._breakdowns(lines, mp.currency), "contexts": [ctx]}
            if lines[0].order_item_code:
                item["relatedIdentifiers"] = [{"itemRelatedIdentifierName": "ORDER_ADJUSTMENT_ITEM_ID",
                                               "itemRelatedIdentifierValue": lines[0].order_item_code}]
            items.append(item)
        tid = hashlib.sha256("|".join(self.key).encode()).hexdigest()[:40]
        return {
            "sellingPartnerMetadata": {"sellingPartnerId": seller_id, "accountType": "PAYABLE",
                                       "marketplaceId": mp.marketplace_id},
            "relatedIdentifiers": related,
            "transactionType": TRANSACTION_TYPES.get(first.transaction_type, first.transaction_type),
            "transactionId": tid,
            "transactionStatus": "RELEASED",
            "description": first.amount_description if not first.order_id else first.transaction_type,
            "postedDate": iso(first.posted),
            "totalAmount": _currency(self.total, mp.currency),
            "marketplaceDetails": {"marketplaceId": mp.marketplace_id, "marketplaceName": mp.marketplace_name},
            "items": items,
            "breakdowns": self._breakdowns(self.lines, mp.currency),
        }


def transactions_from_settlement(settlement_id: str, marketplace: str,
                                 lines: Iterable[SettlementLine]) -> list[Transaction]:
    groups: dict[tuple[str, ...], list[SettlementLine]] = {}
    for ln in lines:
        if ln.order_id:
            key = (settlement_id, ln.transaction_type, ln.order_id, ln.adjustment_id, iso(ln.posted))
        else:
            key = (settlement_id, ln.transaction_type, ln.amount_type, ln.amount_description, ln.sku, iso(ln.posted))
        groups.setdefault(key, []).append(ln)
    out = [Transaction(settlement_id, marketplace, k, v) for k, v in groups.items()]
    out.sort(key=lambda t: (t.posted, t.key))
    return out
