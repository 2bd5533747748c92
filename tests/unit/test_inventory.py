"""Sellable quantity, deltas and the FBA mirror (domain/inventory.py)."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from typing import Any

import pytest

from airflow_provider_amznetsuite.config import MarketplaceConfig
from airflow_provider_amznetsuite.domain.feeds import plan_listings_feeds
from airflow_provider_amznetsuite.domain.inventory import (
    FbaSummary,
    InventoryError,
    InventoryRow,
    compute_deltas,
    compute_sellable,
    fba_adjustment,
    inventory_feed_messages,
    parse_rows,
    window_key_for,
)


def _mp(inventory: dict[str, Any] | None = None, mfn: list[dict[str, Any]] | None = None, fba: str | None = "11") -> MarketplaceConfig:
    return MarketplaceConfig.model_validate({
        "code": "uk", "marketplace_id": "A1F83G8C2ARO7P", "region": "eu", "country": "UK", "currency": "GBP",
        "subsidiary": 2,
        "locations": {"mfn": mfn if mfn is not None else [{"location_id": 1}], "fba": fba},
        "inventory": inventory or {},
    })


def _row(sku: str = "A", loc: str = "1", **kw: Any) -> InventoryRow:
    kw.setdefault("item_id", "1001")
    return InventoryRow(sku=sku, location_id=loc, **kw)


def test_available_is_used_and_committed_not_subtracted_twice():
    mp = _mp()
    # NetSuite quantityavailable already excludes committed stock
    out = compute_sellable([_row(on_hand=10, committed=3, available=7)], mp)
    assert out.quantities == {"A": 7}
    # when the query gives no available column it is derived as on hand - committed
    assert compute_sellable([_row(on_hand=10, committed=3)], mp).quantities == {"A": 7}


def test_safety_stock_default_and_item_field_override():
    mp = _mp({"safety_stock": 2})
    out = compute_sellable([_row("A", available=10), _row("B", available=10, safety_stock=5),
                            _row("C", available=1), _row("D", available=10, safety_stock=0)], mp)
    assert out.quantities == {"A": 8, "B": 5, "C": 0, "D": 10}
    assert out.details["B"].safety_stock == 5 and out.details["C"].after_safety == 0


def test_location_share_and_cap_then_channel_share_and_cap_floor():
    mp = _mp({"allocation_share": "0.5", "cap": 40},
             mfn=[{"location_id": 1, "share": "0.7"}, {"location_id": 2, "cap": 25}])
    rows = [_row("A", "1", available=15), _row("A", "2", available=30),  # floor(10.5)=10 ; min(30,25)=25
            _row("B", "1", available=200), _row("B", "2", available=100)]  # 140 + 25 = 165 -> 82 -> cap 40
    out = compute_sellable(rows, mp)
    assert out.details["A"].locations == {"1": 10, "2": 25}
    assert out.details["A"].pool == 35
    assert out.quantities == {"A": 17, "B": 40}  # floor(35 * 0.5) = 17
    assert out.details["B"].allocated == 40


def test_sku_override_replaces_computed_and_inactive_is_zero():
    mp = _mp({"sku_overrides": {"A": 3, "GHOST": 9}})
    out = compute_sellable([_row("A", available=50), _row("B", available=50, inactive=True),
                            _row("C", available=4, inactive="T")], mp)
    assert out.quantities == {"A": 3, "B": 0, "C": 0}
    assert out.details["A"].rule == "override" and out.details["B"].rule == "inactive"
    assert out.unknown_overrides == {"GHOST"}


def test_in_transit_added_only_when_configured_and_backorders_subtracted():
    rows = [_row("A", available=5, in_transit=4, backordered=2)]
    assert compute_sellable(rows, _mp()).quantities == {"A": 3}  # default: no transit, subtract backorders
    assert compute_sellable(rows, _mp({"include_in_transit": True})).quantities == {"A": 7}
    assert compute_sellable(rows, _mp({"include_in_transit": True, "subtract_backordered": False})).quantities == {"A": 9}
    assert compute_sellable([_row("A", available=1, backordered=6)], _mp()).quantities == {"A": 0}  # never negative


def test_never_negative_and_negative_location_does_not_eat_other_locations():
    mp = _mp(mfn=[{"location_id": 1}, {"location_id": 2}])
    out = compute_sellable([_row("A", "1", available=-4), _row("A", "2", available=6)], mp)
    assert out.quantities == {"A": 6}


def test_unmapped_location_reported_and_contributes_nothing():
    mp = _mp()
    out = compute_sellable([_row("A", "1", available=5), _row("A", "5", available=100), _row("B", "5", available=7),
                            _row("A", "11", available=40)], mp)
    assert out.quantities == {"A": 5, "B": 0}
    assert out.unmapped_locations == {"5"}  # the FBA location 11 is known, not "unmapped"


def test_no_implicit_default_location():
    out = compute_sellable([_row("A", "1", available=5)], _mp(mfn=[]))
    assert out.quantities == {"A": 0}
    assert out.unmapped_locations == {"1"}


def test_fba_skus_never_get_mfn_quantity():
    mp = _mp()
    rows = [_row("A", available=5), _row("B", available=5), _row("C", available=5, is_fba=True), _row("B", "11", available=9)]
    out = compute_sellable(rows, mp, fba_skus={"B"})
    assert out.quantities == {"A": 5}
    assert out.skipped_fba == {"B", "C"}
    body = b"".join(d.body for d in plan_listings_feeds("S", inventory_feed_messages(out.quantities, product_types="PRODUCT")))
    assert b'"sku":"B"' not in body and b'"sku":"C"' not in body


def test_fba_location_listed_as_mfn_is_refused():
    # refused by the config now (config validate names it); the domain keeps its own guard for a config
    # built without validation
    with pytest.raises(ValueError, match="also an MFN location"):
        _mp(mfn=[{"location_id": 11}], fba="11")
    mp = _mp(mfn=[{"location_id": 11}], fba=None)
    mp = mp.model_copy(update={"locations": mp.locations.model_copy(update={"fba": "11"})})
    with pytest.raises(InventoryError, match="both the FBA location and an MFN location"):
        compute_sellable([], mp)


def test_bin_rows_are_summed_and_quantities_parsed_conservatively():
    rows = parse_rows([
        {"sku": "A", "item_id": 1001, "location_id": 1, "available": "3.9", "backordered": None},
        {"sku": "A", "item_id": 1001, "location_id": 1, "available": 4, "backordered": "0.2"},
    ])
    assert rows[0].available == 3 and rows[1].backordered == 1  # supply floored, demand ceiled
    assert compute_sellable(rows, _mp()).quantities == {"A": 6}
    with pytest.raises(InventoryError, match="row 1 .*available"):
        parse_rows([{"sku": "A", "item_id": 1, "location_id": 1, "available": "lots"}])


def test_deltas_new_changed_unchanged_and_full_push():
    current = {"A": 5, "B": 0, "C": 7, "D": 2}
    accepted = {"A": 5, "B": 3, "D": 2, "GONE": 4}
    assert compute_deltas(current, accepted) == {"B": 0, "C": 7}
    assert compute_deltas(current, accepted, full_push=True) == current
    assert compute_deltas(current, current) == {}


def test_inventory_messages_carry_handling_time_and_product_type():
    msgs = inventory_feed_messages({"B": 2, "A": 0}, product_types={"A": "HOME", "B": "TOY"}, handling_time_days=3)
    assert [m.sku for m in msgs] == ["A", "B"]
    assert msgs[0].product_type == "HOME"
    assert msgs[1].patches[0].to_json()["value"] == [
        {"fulfillment_channel_code": "DEFAULT", "quantity": 2, "lead_time_to_ship_max_days": 3}]
    with pytest.raises(InventoryError, match="productType"):
        inventory_feed_messages({"Z": 1}, product_types={})


# --- FBA mirror -----------------------------------------------------------------------------------------
def _summary(sku: str, fulfillable: int, inbound: int = 0, reserved: int = 0, unfulfillable: int = 0) -> dict[str, Any]:
    return {"asin": "B0TEST", "fnSku": "X00" + sku, "sellerSku": sku, "condition": "NewItem", "totalQuantity": fulfillable,
            "inventoryDetails": {"fulfillableQuantity": fulfillable, "inboundWorkingQuantity": inbound,
                                 "inboundShippedQuantity": 0, "inboundReceivingQuantity": 0,
                                 "reservedQuantity": {"totalReservedQuantity": reserved},
                                 "unfulfillableQuantity": {"totalUnfulfillableQuantity": unfulfillable}}}


def _plan(summaries, on_hand, **kw):
    ids = {s: str(2000 + i) for i, s in enumerate(sorted({*on_hand, *(x["sellerSku"] for x in summaries)}))}
    kw.setdefault("item_ids", ids)
    return fba_adjustment(summaries, on_hand, location_id="11", subsidiary_id="2",
                          window_key=datetime(2026, 11, 27, 6, 0, tzinfo=timezone.utc), marketplace="uk", **kw)


def test_fba_adjustment_moves_netsuite_to_fulfillable():
    plan = _plan([_summary("F1", 10, inbound=5, reserved=2, unfulfillable=1), _summary("F2", 3), _summary("F3", 0)],
                 {"F1": 7, "F2": 3, "F3": 2}, account_id="505", tran_date=date(2026, 11, 27))
    assert plan.external_ids == ["AMZ-FBA-uk-20261127-0600"]
    body = plan.adjustments[0]
    assert body["subsidiary"] == {"id": "2"} and body["adjLocation"] == {"id": "11"} and body["account"] == {"id": "505"}
    assert body["tranDate"] == "2026-11-27" and "uk" in body["memo"]
    assert body["inventory"]["items"] == [
        {"item": {"id": "2000"}, "location": {"id": "11"}, "adjustQtyBy": 3},
        {"item": {"id": "2002"}, "location": {"id": "11"}, "adjustQtyBy": -2},
    ]
    f1 = plan.movements[0]
    assert f1.to_json() == {"sku": "F1", "from": 7, "to": 10, "delta": 3, "inbound": 5, "reserved": 2,
                            "unfulfillable": 1, "researching": 0}
    json.dumps([m.to_json() for m in plan.movements])


def test_fba_rerun_with_equal_quantities_makes_no_adjustment():
    summaries = [_summary("F1", 10), _summary("F2", 3)]
    first = _plan(summaries, {"F1": 0})
    assert first.line_count == 2
    after = {m.sku: m.to_qty for m in first.movements}
    again = _plan(summaries, after)
    assert again.adjustments == [] and all(m.delta == 0 for m in again.movements)


def test_fba_adjustment_splits_at_1000_lines_with_suffixes():
    summaries = [_summary(f"F{i:04d}", 1) for i in range(2345)]
    plan = _plan(summaries, {})
    assert plan.external_ids == ["AMZ-FBA-uk-20261127-0600", "AMZ-FBA-uk-20261127-0600-2", "AMZ-FBA-uk-20261127-0600-3"]
    assert [len(a["inventory"]["items"]) for a in plan.adjustments] == [1000, 1000, 345]
    assert _plan(summaries, {}).adjustments == plan.adjustments  # deterministic


def test_fba_unknown_and_unreported_skus():
    plan = _plan([_summary("F1", 4), _summary("NEW", 2)], {"F1": 4, "OLD": 6}, item_ids={"F1": "2000", "OLD": "2001"})
    assert plan.unknown_skus == {"NEW"}
    assert plan.not_reported == {"OLD"} and plan.adjustments == []
    zeroed = _plan([_summary("F1", 4)], {"F1": 4, "OLD": 6}, item_ids={"F1": "2000", "OLD": "2001"}, zero_missing=True)
    assert zeroed.adjustments[0]["inventory"]["items"] == [{"item": {"id": "2001"}, "location": {"id": "11"}, "adjustQtyBy": -6}]


def test_fba_summary_needs_details_and_ids_are_checked():
    with pytest.raises(InventoryError, match="details=true"):
        _plan([{"sellerSku": "F1", "totalQuantity": 3}], {})
    with pytest.raises(InventoryError, match="letters, digits"):
        fba_adjustment([], {}, item_ids={}, location_id="11", subsidiary_id="2", window_key="2026 11", marketplace="uk")
    assert window_key_for(datetime(2026, 7, 1, 0, 30, tzinfo=timezone.utc)) == "20260701-0030"
    assert FbaSummary.model_validate(_summary("X", 2, inbound=3)).inbound == 3
