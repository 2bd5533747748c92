"""Pricing sync operators and DAG (operators/pricing.py, dag_factory/pricing.py) with fakes: no network."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import jsonschema
import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_amznetsuite.config import AppConfig, parse_config
from airflow_provider_amznetsuite.dag_factory.pricing import build
from airflow_provider_amznetsuite.domain.pricing import ItemPriceFields, PriceRow, SaleRow
from airflow_provider_amznetsuite.operators.pricing import (
    FieldNames,
    NetSuiteCurrency,
    PriceLevels,
    PricingBatch,
    PricingSetupError,
    expand_field,
    parse_netsuite_instant,
    sku_list,
    to_pricing_inputs,
)
from airflow_provider_amznetsuite.state import SyncStateStore

D = Decimal
UTC = timezone.utc
NOW = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)
MODELS = Path(__file__).resolve().parents[2] / "airflow_provider_amznetsuite" / "sandbox" / "models"
SELLER = "A2UNITSELLER"


def _app(**pricing: Any) -> AppConfig:
    return parse_config({
        "defaults": {
            "pricing": {"price_level": 1, "b2b_price_level": 5, "sale_price_level": 6, "max_change_pct": 30,
                        "min_price_field": "custitem_amz_min_price_{currency}",
                        "max_price_field": "custitem_amz_max_price_{currency}", **pricing},
            "products": {"product_types": {"Kitchen": "KITCHEN", "Apparel": "SHIRT"}},
        },
        "marketplaces": {
            "uk": {"marketplace_id": "A1F83G8C2ARO7P", "region": "eu", "country": "UK", "currency": "GBP",
                   "timezone": "Europe/London", "subsidiary": 2, "pricing": {"vat_inclusive": True, "vat_rate": "0.20"}},
            "us": {"marketplace_id": "ATVPDKIKX0DER", "region": "na", "country": "US", "currency": "USD",
                   "subsidiary": 4},
        },
    })


# --- fakes ---------------------------------------------------------------------------------------------
class FakeTI:
    def __init__(self) -> None:
        self.xcom: dict[str, Any] = {}

    def xcom_pull(self, task_ids: str) -> Any:
        return self.xcom.get(task_ids)


class FakeNetSuite:
    """Answers the three SuiteQL queries of the read task from in-memory rows, recording each call."""

    def __init__(self, prices: list[dict[str, Any]], items: list[dict[str, Any]],
                 currencies: list[dict[str, Any]] | None = None) -> None:
        self.prices, self.items = prices, items
        self.currencies = currencies if currencies is not None else [
            {"id": "7", "symbol": "GBP", "exchangerate": "1.265823", "currencyprecision": "2", "isbasecurrency": "F"},
            {"id": "1", "symbol": "USD", "exchangerate": "1", "currencyprecision": "2", "isbasecurrency": "T"},
        ]
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def suiteql(self, query: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        self.calls.append((query, dict(params or {})))
        assert "FROM currency" in query
        return [c for c in self.currencies if c["symbol"] == (params or {}).get("symbol")]

    def suiteql_keyset(self, select_sql: str, *, key: str, page_size: int, where: str,
                       params: dict[str, Any]) -> list[dict[str, Any]]:
        self.calls.append((select_sql + " WHERE " + where, dict(params)))
        return self.prices if "FROM pricing" in select_sql else self.items


def _price(pid: int, sku: str, level: int, price: str | None, qty: int = 0, eff: str | None = None,
           item: int = 1000) -> dict[str, Any]:
    row: dict[str, Any] = {"id": str(pid), "item": str(item), "itemid": sku, "pricelevel": str(level),
                           "quantity": str(qty)}
    if price is not None:
        row["unitprice"] = price
    if eff is not None:
        row["effectivedate"] = eff
    return row


def _item(iid: int, sku: str, *, category: str = "Kitchen", **values: str) -> dict[str, Any]:
    return {"id": str(iid), "itemid": sku, "category": category, **values}


def _uk_rows() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    prices = [
        _price(1, "SKU-A", 1, "10.03", item=1001),
        _price(2, "SKU-A", 5, "9.50", item=1001), _price(3, "SKU-A", 5, "9.00", 10, item=1001),
        _price(4, "SKU-A", 5, "8.57", 50, item=1001),
        _price(5, "SKU-A", 6, "8.33", item=1001),
        _price(6, "SKU-B", 1, "20.00", item=1002),
        _price(7, "SKU-B", 1, "22.00", eff="2026-11-28 00:00:00", item=1002),
    ]
    items = [
        _item(1001, "SKU-A", min_price="8.00", max_price="20.00", cost="5.00",
              sale_start="2026-11-30 09:00:00", sale_end="2026-12-03 00:00:00"),
        _item(1002, "SKU-B", category="Apparel", cost="6.00"),  # USD: 4.74 GBP
    ]
    return prices, items


class Harness:
    """The four tasks of a pricing DAG with a real state store on SQLite and fake hooks."""

    def __init__(self, tmp_path: Path, app: AppConfig, code: str, netsuite: FakeNetSuite,
                 now: datetime = NOW) -> None:
        self.app, self.code, self.netsuite = app, code, netsuite
        self.state = SyncStateStore(f"sqlite:///{tmp_path}/state.db")
        self.dag = build(app.marketplaces[code], app)
        self.now = now
        self.runs = 0

    def task(self, task_id: str) -> Any:
        t = self.dag.get_task(task_id)
        t.app_config = self.app
        t.state = self.state
        if task_id == "read_netsuite_prices":
            t.hook = lambda: self.netsuite
        if task_id == "plan_pricing_push":
            t.now = lambda: self.now
            t.seller_id = lambda: SELLER
        return t

    def context(self, ti: FakeTI, **params: Any) -> dict[str, Any]:
        return {"ti": ti, "params": {"dry_run": False, "allow_quarantine": False, "full_push": False,
                                     "approve": [], "skus": None, **params},
                "dag_run": SimpleNamespace(run_id=f"manual__{self.runs}")}

    def plan(self, **params: Any) -> tuple[dict[str, Any], dict[str, Any], FakeTI]:
        """read + plan; returns (plan XCom, stored plan summary, ti)."""
        self.runs += 1
        ti = FakeTI()
        ctx = self.context(ti, **params)
        ti.xcom["read_netsuite_prices"] = self.task("read_netsuite_prices").execute(ctx)
        out = self.task("plan_pricing_push").execute(ctx)
        ti.xcom["plan_pricing_push"] = out
        return out, self.state.get_batch(out["summary_ref"]), ti

    def accept(self, plan: dict[str, Any]) -> None:
        """What the push task records when Amazon accepts every SKU of the plan."""
        self.state.set_accepted("pricing", self.code, self.state.get_batch(plan["ref"])["values"])

    def messages(self, plan: dict[str, Any]) -> list[dict[str, Any]]:
        data = self.state.get_batch(plan["ref"])
        return [m for feed in data["feeds"] for m in json.loads(feed["body"], parse_float=Decimal)["messages"]]

    def patches(self, plan: dict[str, Any], sku: str) -> list[dict[str, Any]]:
        (msg,) = [m for m in self.messages(plan) if m["sku"] == sku]
        return msg["patches"]

    def offer(self, plan: dict[str, Any], sku: str) -> list[dict[str, Any]]:
        (patch,) = self.patches(plan, sku)
        assert patch["op"] == "merge" and patch["path"] == "/attributes/purchasable_offer"
        return patch["value"]


# --- helpers -------------------------------------------------------------------------------------------
def test_expand_field_fills_currency_and_refuses_anything_but_an_identifier() -> None:
    assert expand_field("custitem_amz_min_price_{currency}", "GBP", "f") == "custitem_amz_min_price_gbp"
    assert expand_field("costestimate", "JPY", "f") == "costestimate"
    assert expand_field(None, "GBP", "f") is None
    for bad in ("custitem_x; DROP TABLE item", "custitem x", "i.costestimate", "1abc"):
        with pytest.raises(PricingSetupError, match="is not a NetSuite field id"):
            expand_field(bad, "GBP", "marketplaces.uk.pricing.min_price_field")


def test_sku_list_param() -> None:
    assert sku_list(None, "approve") == []
    assert sku_list(["A", " B ", "A", ""], "approve") == ["A", "B"]
    assert sku_list("A, B", "approve") == ["A", "B"]
    with pytest.raises(AirflowFailException, match="Param approve: every SKU must be a string"):
        sku_list(["A", 3], "approve")


def test_parse_netsuite_instant_time_zones() -> None:
    assert parse_netsuite_instant("2026-11-28 00:00:00", "UTC") == datetime(2026, 11, 28, tzinfo=UTC)
    assert parse_netsuite_instant("2026-07-15 00:00:00", "Europe/London") == datetime(2026, 7, 14, 23, tzinfo=UTC)
    assert parse_netsuite_instant("2026-11-28T00:00:00Z", "America/New_York") == datetime(2026, 11, 28, tzinfo=UTC)
    assert parse_netsuite_instant("2026-12-02", "UTC") == datetime(2026, 12, 2, tzinfo=UTC)
    assert parse_netsuite_instant(None, "UTC") is None
    with pytest.raises(ValueError, match="is not a date/time"):
        parse_netsuite_instant("28/11/2026", "UTC")


def _batch(prices: list[dict[str, Any]], items: list[dict[str, Any]], *, cost_local: bool = False,
           currency: NetSuiteCurrency | None = None) -> PricingBatch:
    return PricingBatch(
        marketplace="uk", currency=currency or NetSuiteCurrency(id="7", symbol="GBP", exchange_rate=D("1.265823")),
        levels=PriceLevels(base="1", b2b="5", sale="6"),
        fields=FieldNames(min_price="custitem_amz_min_price_gbp", max_price="custitem_amz_max_price_gbp",
                          cost="costestimate", cost_in_marketplace_currency=cost_local,
                          sale_start="custitem_amz_sale_start", sale_end="custitem_amz_sale_end"),
        read_at=NOW, prices=prices, items=items)


def test_rows_become_domain_inputs() -> None:
    prices = [
        _price(1, "A", 1, "10.03"), _price(2, "A", 5, "9.50"), _price(3, "A", 5, "9.00", 10),
        _price(4, "A", 1, "11.00", eff="2026-12-01 00:00:00"),
        # sale level: 8.00 from 1 Dec, 7.50 from 5 Dec; the item window (2 Dec 09:00 - 6 Dec) clips both
        _price(5, "A", 6, "8.00", eff="2026-12-01 00:00:00"), _price(6, "A", 6, "7.50", eff="2026-12-05 00:00:00"),
        _price(7, "A", 6, "6.00", 10),  # sale tiers are not sent
        _price(8, "A", 9, "1.00"),  # unmapped level: ignored
        _price(9, "B", 1, None),  # blank price: ignored with a note
        _price(10, "B", 1, "4.00"),
    ]
    items = [_item(1, "A", min_price="8.00", max_price="20.00", cost="10.45",
                   sale_start="2026-12-02 09:00:00", sale_end="2026-12-06 00:00:00"),
             _item(2, "B", category="Toys")]
    out = to_pricing_inputs(_batch(prices, items), _app().marketplaces["uk"])
    assert out.problems == {}
    price_rows = sorted((r.sku, r.price_level, r.min_quantity, r.price, r.effective_from)
                        for r in out.rows if isinstance(r, PriceRow))
    assert price_rows == [
        ("A", "1", 0, D("10.03"), None), ("A", "1", 0, D("11.00"), datetime(2026, 12, 1, tzinfo=UTC)),
        ("A", "5", 0, D("9.50"), None), ("A", "5", 10, D("9.00"), None), ("B", "1", 0, D("4.00"), None),
    ]
    assert all(r.currency == "GBP" for r in out.rows if isinstance(r, PriceRow))
    sales = [(s.price, s.start_at, s.end_at) for s in out.rows if isinstance(s, SaleRow)]
    assert sales == [(D("8.00"), datetime(2026, 12, 2, 9, tzinfo=UTC), datetime(2026, 12, 5, tzinfo=UTC)),
                     (D("7.50"), datetime(2026, 12, 5, tzinfo=UTC), datetime(2026, 12, 6, tzinfo=UTC))]
    (guard,) = [g for g in out.rows if isinstance(g, ItemPriceFields)]
    # cost is in the base currency (USD): 10.45 / 1.265823 = 8.2555... -> 8.26 GBP
    assert (guard.sku, guard.min_price, guard.max_price, guard.cost) == ("A", D("8.00"), D("20.00"), D("8.26"))
    assert out.product_types == {"A": "KITCHEN", "B": "PRODUCT"}  # Toys is not mapped -> PRODUCT
    assert any("quantity tiers of the sale price level are not sent" in n for n in out.notes["A"])
    assert any("has no unit price; ignored" in n for n in out.notes["B"])


def test_cost_field_in_marketplace_currency_is_not_converted_and_bad_rows_exclude_the_sku() -> None:
    prices = [_price(1, "A", 1, "10.00"), _price(2, "BAD", 1, "12,50"), _price(3, "BAD", 5, "9.00"),
              _price(4, "Q", 1, "5.00", 0), _price(5, "Q", 5, "4.00", 0)]
    prices[4]["quantity"] = "2.5"
    items = [_item(1, "A", cost="6.00"), _item(2, "BAD"), _item(3, "Q")]
    out = to_pricing_inputs(_batch(prices, items, cost_local=True), _app().marketplaces["uk"])
    (guard,) = [g for g in out.rows if isinstance(g, ItemPriceFields)]
    assert guard.cost == D("6.00")
    assert out.problems == {
        "BAD": "SKU BAD: NetSuite pricing row 2 (price level 1, quantity 0): unit price '12,50' is not a number; "
               "fix the price in NetSuite",
        "Q": "SKU Q: NetSuite pricing row 5 (price level 5, quantity 2.5): quantity tier '2.5' is not a whole "
             "number >= 0; fix the price in NetSuite",
    }
    assert {r.sku for r in out.rows} == {"A"}  # nothing of BAD or Q is used, not even their good rows


# --- read ----------------------------------------------------------------------------------------------
def test_read_resolves_currency_by_symbol_and_stores_rows(tmp_path: Path) -> None:
    prices, items = _uk_rows()
    fake = FakeNetSuite(prices, items)
    h = Harness(tmp_path, _app(), "uk", fake)
    ti = FakeTI()
    out = h.task("read_netsuite_prices").execute(h.context(ti, skus=["SKU-A", "O'Brien"]))
    assert out["counts"] == {"price_rows": 7, "items": 2, "skus_with_prices": 2, "currency_id": "7",
                             "skus_not_found": 1}
    assert set(out) == {"ref", "counts"}
    (cur_sql, cur_params), (price_sql, price_params), (item_sql, item_params) = fake.calls
    assert cur_params == {"symbol": "GBP"}
    # the currency internal id comes from NetSuite (7 here), never from a table in the code
    assert price_params == {"currency": 7, "levels": [1, 5, 6], "inactive": False, "publish": True,
                            "skus": ["SKU-A", "O'Brien"]}
    assert "p.currency = :currency" in price_sql and "i.itemid IN (:skus)" in price_sql
    assert "i.custitem_amz_publish = :publish" in price_sql
    assert "O'Brien" not in price_sql + item_sql  # values travel as parameters only
    for column in ("i.custitem_amz_min_price_gbp AS min_price", "i.custitem_amz_max_price_gbp AS max_price",
                   "i.costestimate AS cost", "TO_CHAR(i.custitem_amz_sale_start, 'YYYY-MM-DD HH24:MI:SS') AS sale_start"):
        assert column in item_sql
    assert item_params == {"inactive": False, "publish": True, "skus": ["SKU-A", "O'Brien"]}
    stored = PricingBatch.model_validate(h.state.get_batch(out["ref"]))
    assert stored.currency.id == "7" and stored.levels.ids() == ["1", "5", "6"]
    assert stored.prices == prices and stored.sku_filter == ["SKU-A", "O'Brien"]


def test_read_fails_clearly_for_an_unknown_currency_or_a_bad_field(tmp_path: Path) -> None:
    h = Harness(tmp_path, _app(), "uk", FakeNetSuite([], [], currencies=[]))
    with pytest.raises(AirflowFailException, match="NetSuite has no currency with ISO code GBP"):
        h.task("read_netsuite_prices").execute(h.context(FakeTI()))
    # a field id that is not an identifier is refused by the config itself, before any query
    from airflow_provider_amznetsuite.config import ConfigError

    with pytest.raises(ConfigError, match=re.escape("pricing.min_price_field: 'custitem min' is not a NetSuite field id")):
        _app(min_price_field="custitem min")


# --- plan ----------------------------------------------------------------------------------------------
def test_plan_builds_exact_feed_with_tiers_sale_and_cutover(tmp_path: Path) -> None:
    prices, items = _uk_rows()
    h = Harness(tmp_path, _app(), "uk", FakeNetSuite(prices, items))
    plan, summary, _ = h.plan()
    assert (plan["feeds"], plan["messages"]) == (1, 2)
    assert plan["counts"]["to_push"] == 2 and plan["counts"]["held"] == 0
    (body,) = [f["body"] for f in h.state.get_batch(plan["ref"])["feeds"]]
    # exact decimal text in the document Amazon receives (net 10.03 at 20 % -> 12.03, not 12.04)
    assert '"value_with_tax":12.03' in body and '"value_with_tax":9.99' in body
    jsonschema.validate(json.loads(body), json.loads((MODELS / "schema_feed_json_listings_feed_v2.json").read_text()))
    assert h.offer(plan, "SKU-A") == [
        {"marketplace_id": "A1F83G8C2ARO7P", "currency": "GBP", "audience": "ALL",
         "our_price": [{"schedule": [{"value_with_tax": D("12.03")}]}],
         "discounted_price": [{"schedule": [{"start_at": "2026-11-30T09:00:00Z", "end_at": "2026-12-03T00:00:00Z",
                                             "value_with_tax": D("9.99")}]}],
         "minimum_seller_allowed_price": [{"schedule": [{"value_with_tax": D("9.60")}]}],
         "maximum_seller_allowed_price": [{"schedule": [{"value_with_tax": D("24.00")}]}]},
        {"marketplace_id": "A1F83G8C2ARO7P", "currency": "GBP", "audience": "B2B",
         "our_price": [{"schedule": [{"value_with_tax": D("11.40")}]}],
         "quantity_discount_plan": [{"schedule": [{"discount_type": "fixed", "levels": [
             {"lower_bound": 10, "value": D("10.80")}, {"lower_bound": 50, "value": D("10.28")}]}]}],
         "minimum_seller_allowed_price": [{"schedule": [{"value_with_tax": D("9.60")}]}],
         "maximum_seller_allowed_price": [{"schedule": [{"value_with_tax": D("24.00")}]}]},
    ]
    # SKU-B: 22.00 effective tomorrow 00:00 Europe/London, pushed today so that Amazon switches at that instant:
    # a rise, so our_price is the new price (26.40) now and the current price (24.00) a discount until the instant
    tomorrow = (NOW.astimezone(ZoneInfo("Europe/London")) + timedelta(days=1)).date()
    instant = datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=ZoneInfo("Europe/London")).astimezone(UTC)
    assert instant.isoformat() == "2026-11-28T00:00:00+00:00"
    (offer_b,) = h.offer(plan, "SKU-B")
    assert offer_b["our_price"] == [{"schedule": [{"value_with_tax": D("26.40")}]}]
    assert offer_b["discounted_price"] == [{"schedule": [{"end_at": "2026-11-28T00:00:00Z", "value_with_tax": D("24.00")}]}]
    assert summary["scheduled_cutovers"] == {"count": 1, "skus": 1, "next_at": "2026-11-28T00:00:00Z",
                                             "by_sku": {"SKU-B": ["2026-11-28T00:00:00Z"]}}
    # the sale of SKU-A ends on 3 Dec and SKU-B's discount at the instant: the runs after them clean up
    assert summary["follow_up"] == {"skus": 2, "next_at": "2026-11-28T00:00:00Z",
                                    "by_sku": {"SKU-A": "2026-12-03T00:00:00Z", "SKU-B": "2026-11-28T00:00:00Z"}}
    assert summary["exact_until"] == {} and summary["cleanups"] == {}
    assert summary["sale_windows"] == 1 and summary["as_of"] == "2026-11-27T15:00:00Z"
    values = h.state.get_batch(plan["ref"])["values"]
    assert set(values) == {"SKU-A", "SKU-B"} and len(values["SKU-A"]["fingerprint"]) == 64


def test_plan_cutover_in_summer_time(tmp_path: Path) -> None:
    prices = [_price(1, "S", 1, "10.00"), _price(2, "S", 1, "11.00", eff="2026-07-14 23:00:00")]
    h = Harness(tmp_path, _app(), "uk", FakeNetSuite(prices, [_item(1, "S")]),
                now=datetime(2026, 7, 14, 9, 0, tzinfo=UTC))
    plan, summary, _ = h.plan()
    (offer,) = h.offer(plan, "S")
    local_midnight = datetime(2026, 7, 15, tzinfo=ZoneInfo("Europe/London")).astimezone(UTC)
    assert local_midnight == datetime(2026, 7, 14, 23, tzinfo=UTC)
    assert offer["our_price"][0]["schedule"] == [{"value_with_tax": D("13.20")}]
    assert offer["discounted_price"][0]["schedule"] == [{"end_at": "2026-07-14T23:00:00Z", "value_with_tax": D("12.00")}]
    assert summary["scheduled_cutovers"]["next_at"] == "2026-07-14T23:00:00Z"


def test_rerun_without_change_plans_no_feed_and_clears_old_quarantine(tmp_path: Path) -> None:
    prices, items = _uk_rows()
    h = Harness(tmp_path, _app(), "uk", FakeNetSuite(prices, items))
    first, _, _ = h.plan()
    h.accept(first)
    h.state.quarantine("pricing", "uk", "SKU-A", "Amazon rejected the listing update — 8541: old problem")
    again, summary, _ = h.plan()
    assert again["ref"] is None and (again["feeds"], again["messages"]) == (0, 0)
    assert summary["unchanged"] == 2 and summary["to_push"] == 0
    assert h.state.open_quarantine("pricing", "uk") == []
    forced, _, _ = h.plan(full_push=True)
    assert forced["messages"] == 2


def test_sixty_percent_drop_is_held_then_released_by_approve(tmp_path: Path) -> None:
    prices, items = _uk_rows()
    fake = FakeNetSuite(prices, items)
    h = Harness(tmp_path, _app(), "uk", fake)
    first, _, _ = h.plan()
    h.accept(first)
    fake.prices = [dict(p) for p in prices]
    fake.prices[5]["unitprice"] = "8.00"  # SKU-B regular price 20.00 -> 8.00 (-60 %); its future price stays
    held_plan, summary, _ = h.plan()
    assert held_plan["ref"] is None and held_plan["counts"]["held"] == 1
    hold = summary["held"]["SKU-B"]
    assert (hold["old_price"], hold["new_price"], hold["change_pct"]) == ("20.00", "8.00", "-60.00")
    assert any("changes -60.0% (20.00 -> 8.00 net), more than the 30% allowed" in r for r in hold["reasons"])
    (entry,) = h.state.open_quarantine("pricing", "uk")
    assert entry.key == "SKU-B"
    assert entry.reason == ("held for approval: ALL price changes -60.0% (20.00 -> 8.00 net), more than the 30% "
                            "allowed — check the NetSuite price; to push it anyway re-run with Param "
                            'approve=["SKU-B"]')
    approved, summary2, _ = h.plan(approve=["SKU-B", "SKU-Z"])
    assert approved["messages"] == 1 and summary2["approved"] == ["SKU-B"]
    assert summary2["approve_unused"] == ["SKU-Z"]
    (offer,) = h.offer(approved, "SKU-B")  # 8.00 now (9.60 gross), 22.00 (26.40) from tomorrow
    assert offer["our_price"][0]["schedule"] == [{"value_with_tax": D("26.40")}]
    assert offer["discounted_price"][0]["schedule"] == [{"end_at": "2026-11-28T00:00:00Z", "value_with_tax": D("9.60")}]


@pytest.mark.parametrize(("future", "our_before", "discount"), [
    ("22.00", "26.40", {"end_at": "2026-11-28T00:00:00Z", "value_with_tax": D("24.00")}),  # rise
    ("18.00", "24.00", {"start_at": "2026-11-28T00:00:00Z", "value_with_tax": D("21.60")}),  # drop
], ids=["increase", "decrease"])
def test_cutover_rerun_sends_nothing_then_the_run_after_the_instant_sends_only_the_cleanup(
        tmp_path: Path, future: str, our_before: str, discount: dict[str, Any]) -> None:
    prices = [_price(6, "SKU-B", 1, "20.00", item=1002), _price(7, "SKU-B", 1, future, eff="2026-11-28 00:00:00", item=1002)]
    h = Harness(tmp_path, _app(), "uk", FakeNetSuite(prices, [_item(1002, "SKU-B", category="Apparel")]))
    first, summary, _ = h.plan()
    (offer,) = h.offer(first, "SKU-B")
    assert offer["our_price"] == [{"schedule": [{"value_with_tax": D(our_before)}]}]
    assert offer["discounted_price"] == [{"schedule": [discount]}]
    assert summary["follow_up"]["by_sku"] == {"SKU-B": "2026-11-28T00:00:00Z"}
    h.accept(first)
    for now in (NOW + timedelta(hours=1), datetime(2026, 11, 27, 23, 59, 59, tzinfo=UTC)):
        h.now = now
        rerun, summary, _ = h.plan()
        assert rerun["ref"] is None and (rerun["feeds"], rerun["messages"]) == (0, 0) and summary["unchanged"] == 1

    h.now = datetime(2026, 11, 28, 0, 15, tzinfo=UTC)
    cleanup, summary, ti = h.plan()
    assert (cleanup["feeds"], cleanup["messages"]) == (1, 1) and summary["held"] == {}
    assert summary["cleanups"] == {"SKU-B": {"ALL": ["discounted_price"]}} and summary["follow_up"]["skus"] == 0
    delete, merge = h.patches(cleanup, "SKU-B")
    assert delete == {"op": "delete", "path": "/attributes/purchasable_offer", "value": [
        {"marketplace_id": "A1F83G8C2ARO7P", "currency": "GBP", "audience": "ALL", "discounted_price": [{"schedule": [discount]}]}]}
    assert merge == {"op": "merge", "path": "/attributes/purchasable_offer", "value": [
        {"marketplace_id": "A1F83G8C2ARO7P", "currency": "GBP", "audience": "ALL",
         "our_price": [{"schedule": [{"value_with_tax": D(future) * D("1.2")}]}]}]}
    report = _report(h, ti, {"feeds": 1, "accepted": 1, "rejected": 0})
    assert (report["cleanups"], report["scheduled_cutovers"], report["next_follow_up_at"]) == (1, 0, None)
    h.accept(cleanup)
    h.now = datetime(2026, 11, 28, 1, 15, tzinfo=UTC)
    done, summary, _ = h.plan()
    assert done["ref"] is None and summary["unchanged"] == 1 and summary["cleanups"] == {}


def test_dry_run_reports_holds_without_quarantining(tmp_path: Path) -> None:
    prices, items = _uk_rows()
    items[0]["min_price"] = "12.00"  # every SKU-A price is now below its minimum
    h = Harness(tmp_path, _app(), "uk", FakeNetSuite(prices, items))
    plan, summary, _ = h.plan(dry_run=True)
    assert list(summary["held"]) == ["SKU-A"] and summary["dry_run"] is True
    assert any("ALL price 10.03 (net) is below the minimum price 12.00" in r for r in summary["held"]["SKU-A"]["reasons"])
    assert h.state.open_quarantine("pricing", "uk") == []
    assert plan["messages"] == 1  # SKU-B is still planned (the push task sends nothing in a dry run)


def test_unusable_sku_is_quarantined_and_the_rest_is_planned(tmp_path: Path) -> None:
    prices, items = _uk_rows()
    prices.append(_price(20, "SKU-C", 5, "5.00", item=1003))
    prices.append(_price(21, "SKU-C", 5, "6.00", 10, item=1003))  # tier not below the base: a problem
    items.append(_item(1003, "SKU-C"))
    h = Harness(tmp_path, _app(), "uk", FakeNetSuite(prices, items))
    plan, summary, _ = h.plan()
    assert plan["messages"] == 2 and "SKU-C" not in h.state.get_batch(plan["ref"])["values"]
    (entry,) = h.state.open_quarantine("pricing", "uk")
    assert entry.key == "SKU-C" and "B2B tier 10 price 6.00 is not below the price for fewer units (5.00)" in entry.reason
    assert summary["problems"] == {"SKU-C": entry.reason}


# --- report --------------------------------------------------------------------------------------------
def _report(h: Harness, ti: FakeTI, push_summary: dict[str, Any] | None, **params: Any) -> dict[str, Any]:
    if push_summary is not None:
        h.state.record_run(h.dag.dag_id, f"manual__{h.runs}", "push_prices", push_summary)
    return h.task("pricing_report").execute(h.context(ti, **params))


def test_report_flags_the_run_when_prices_are_held(tmp_path: Path) -> None:
    prices, items = _uk_rows()
    items[1]["min_price"] = "30.00"
    h = Harness(tmp_path, _app(), "uk", FakeNetSuite(prices, items))
    _, _, ti = h.plan()
    push = {"feeds": 1, "accepted": 1, "rejected": 0, "unconfirmed": 0, "rejected_codes": {}}
    with pytest.raises(AirflowFailException, match="1 record\\(s\\) quarantined for uk pricing"):
        _report(h, ti, push)
    summary = _report(h, ti, push, allow_quarantine=True)
    assert (summary["offers_sent"], summary["accepted"], summary["held"], summary["quarantined"]) == (1, 1, 1, 1)
    assert summary["held_reasons"]["SKU-B"] == [
        "ALL price 20.00 (net) is below the minimum price 30.00",
        "ALL price from 2026-11-28T00:00:00Z 22.00 (net) is below the minimum price 30.00"]
    assert summary["scheduled_cutovers"] == 0  # SKU-B (the only cutover) is held, so nothing is scheduled
    assert h.state.run_summaries(h.dag.dag_id, f"manual__{h.runs}")["pricing_report"]["held"] == 1


def test_report_fails_when_the_push_did_not_finish(tmp_path: Path) -> None:
    prices, items = _uk_rows()
    h = Harness(tmp_path, _app(), "uk", FakeNetSuite(prices, items))
    _, _, ti = h.plan()
    with pytest.raises(AirflowFailException, match="push_prices did not finish"):
        _report(h, ti, None, allow_quarantine=True)
    ok = _report(h, ti, {"feeds": 1, "accepted": 2, "rejected": 0}, allow_quarantine=False)
    assert (ok["accepted"], ok["scheduled_cutovers"], ok["next_cutover_at"]) == (2, 1, "2026-11-28T00:00:00Z")
    with pytest.raises(AirflowFailException, match="plan_pricing_push did not finish"):
        h.task("pricing_report").execute(h.context(FakeTI()))


# --- DAG -----------------------------------------------------------------------------------------------
def test_dag_shape_params_and_pool() -> None:
    app = _app()
    dag = build(app.marketplaces["us"], app)
    assert dag.dag_id == "amazon_us_pricing"
    order = ["read_netsuite_prices", "plan_pricing_push", "push_prices", "pricing_report"]
    for up, down in zip(order, order[1:]):
        assert dag.get_task(down).upstream_task_ids == {up}
    push = dag.get_task("push_prices")
    assert push.pool == "spapi_amazon_sp_api_default_na" and push.deferrable and push.sync == "pricing"
    assert push.plan_task_id == "plan_pricing_push"
    assert dag.get_task("pricing_report").trigger_rule == "all_done"
    assert {"full_push", "approve", "skus", "dry_run", "allow_quarantine"} <= set(dag.params)
    params = dag.params
    params["approve"] = ["SKU-1"]
    params.validate()
    with pytest.raises(Exception, match="is not of type 'string'|is not valid"):
        params["approve"] = [1]
        params.validate()
