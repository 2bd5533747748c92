"""FBA inventory (FBA Inventory API v1 ``getInventorySummaries``) for the catalogue's FBA SKUs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from airflow_provider_amznetsuite.sandbox import catalog
from airflow_provider_amznetsuite.sandbox.spapi.util import asin_for, fnsku_for, iso, stable_rng


@dataclass
class FbaStock:
    sku: str
    marketplace: str
    product_name: str
    updated: datetime
    fulfillable: int = 0
    inbound_working: int = 0
    inbound_shipped: int = 0
    inbound_receiving: int = 0
    pending_customer_order: int = 0
    pending_transshipment: int = 0
    fc_processing: int = 0
    researching: int = 0
    customer_damaged: int = 0
    warehouse_damaged: int = 0
    defective: int = 0

    QUANTITY_FIELDS = ("fulfillable", "inbound_working", "inbound_shipped", "inbound_receiving",
                       "pending_customer_order", "pending_transshipment", "fc_processing", "researching",
                       "customer_damaged", "warehouse_damaged", "defective")

    @property
    def reserved(self) -> int:
        return self.pending_customer_order + self.pending_transshipment + self.fc_processing

    @property
    def unfulfillable(self) -> int:
        return self.customer_damaged + self.warehouse_damaged + self.defective

    @property
    def total(self) -> int:
        return (self.fulfillable + self.inbound_working + self.inbound_shipped + self.inbound_receiving
                + self.reserved + self.researching + self.unfulfillable)

    def summary(self, details: bool) -> dict[str, Any]:
        out: dict[str, Any] = {"asin": asin_for(self.sku), "fnSku": fnsku_for(self.sku), "sellerSku": self.sku,
                               "condition": "NewItem", "lastUpdatedTime": iso(self.updated),
                               "productName": self.product_name, "totalQuantity": self.total}
        if details:
            out["inventoryDetails"] = {
                "fulfillableQuantity": self.fulfillable,
                "inboundWorkingQuantity": self.inbound_working,
                "inboundShippedQuantity": self.inbound_shipped,
                "inboundReceivingQuantity": self.inbound_receiving,
                "reservedQuantity": {"totalReservedQuantity": self.reserved,
                                     "pendingCustomerOrderQuantity": self.pending_customer_order,
                                     "pendingTransshipmentQuantity": self.pending_transshipment,
                                     "fcProcessingQuantity": self.fc_processing},
                "researchingQuantity": {"totalResearchingQuantity": self.researching,
                                        "researchingQuantityBreakdown": [
                                            {"name": "researchingQuantityInShortTerm", "quantity": self.researching}]},
                "unfulfillableQuantity": {"totalUnfulfillableQuantity": self.unfulfillable,
                                          "customerDamagedQuantity": self.customer_damaged,
                                          "warehouseDamagedQuantity": self.warehouse_damaged,
                                          "distributorDamagedQuantity": 0, "carrierDamagedQuantity": 0,
                                          "defectiveQuantity": self.defective, "expiredQuantity": 0},
            }
        return out

    def to_state(self) -> dict[str, Any]:
        out: dict[str, Any] = {"sku": self.sku, "marketplace": self.marketplace,
                               "marketplaceId": catalog.MARKETPLACES[self.marketplace].marketplace_id,
                               "lastUpdatedTime": iso(self.updated), "totalQuantity": self.total}
        out.update({f: getattr(self, f) for f in self.QUANTITY_FIELDS})
        return out


class FbaInventory:
    def __init__(self) -> None:
        self.stock: dict[tuple[str, str], FbaStock] = {}

    def seed(self, seed: int, catalog_size: int, now: datetime) -> None:
        rng = stable_rng("fba", seed, catalog_size)
        for code in catalog.MARKETPLACES:
            for item in catalog.sellable_items(seed, catalog_size):
                if code not in item.fba_marketplaces:
                    continue
                zero = rng.random() < 0.1
                self.stock[(item.sku, code)] = FbaStock(
                    sku=item.sku, marketplace=code, product_name=item.display_name,
                    updated=now.replace(minute=0, second=0) if not zero else now.replace(hour=0, minute=0, second=0),
                    fulfillable=0 if zero else rng.randint(5, 300), inbound_working=rng.choice((0, 0, 12, 24)),
                    inbound_shipped=rng.choice((0, 0, 0, 36)), inbound_receiving=rng.choice((0, 0, 6)),
                    pending_customer_order=rng.randint(0, 4), pending_transshipment=rng.choice((0, 0, 2)),
                    fc_processing=rng.choice((0, 1)), researching=rng.choice((0, 0, 0, 1)),
                    customer_damaged=rng.choice((0, 0, 1)), warehouse_damaged=rng.choice((0, 0, 0, 2)),
                    defective=rng.choice((0, 0, 0, 1)))

    def set(self, sku: str, marketplace: str, now: datetime, **quantities: int) -> FbaStock:
        """Set quantities (fulfillable=..., inbound_working=..., ...) of one SKU; creates it if new."""
        valid = set(FbaStock.QUANTITY_FIELDS)
        bad = set(quantities) - valid
        if bad:
            raise ValueError(f"unknown FBA quantity field(s) {sorted(bad)}; expected some of {sorted(valid)}")
        if marketplace not in catalog.MARKETPLACES:
            raise ValueError(f"unknown marketplace code {marketplace!r}")
        for k, v in quantities.items():
            if not isinstance(v, int) or v < 0:
                raise ValueError(f"FBA quantity {k} must be a non-negative integer, got {v!r}")
        row = self.stock.get((sku, marketplace))
        if row is None:
            row = self.stock[(sku, marketplace)] = FbaStock(sku=sku, marketplace=marketplace, product_name=sku,
                                                            updated=now)
        for k, v in quantities.items():
            setattr(row, k, v)
        row.updated = now
        return row

    def rows(self, marketplace: str) -> list[FbaStock]:
        return [v for (s, m), v in sorted(self.stock.items()) if m == marketplace]

