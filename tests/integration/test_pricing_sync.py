"""Pricing sync through both sandboxes over real HTTP (NetSuite SuiteQL -> plan -> JSON_LISTINGS_FEED -> Amazon).

The module starts its own pair of sandboxes (it changes prices and item fields of a few SKUs, so it
does not share the session sandboxes with other tests). Expected amounts are worked out by hand
(see the comments) and compared with what the SP-API sandbox holds as Decimal values.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import jsonschema
import pytest
import requests
import yaml
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_amznetsuite.config import AppConfig, parse_config
from airflow_provider_amznetsuite.dag_factory.pricing import build
from airflow_provider_amznetsuite.domain.pricing import OfferSet
from airflow_provider_amznetsuite.sandbox.runner import Sandboxes, start_sandboxes
from airflow_provider_amznetsuite.state import SyncStateStore

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

D = Decimal
UTC = timezone.utc
ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "airflow_provider_amznetsuite" / "sandbox" / "models"
ORDER = ("read_netsuite_prices", "plan_pricing_push", "push_prices", "pricing_report")
MARKETPLACE_IDS = {"uk": "A1F83G8C2ARO7P", "de": "A1PA6795UKMFR9", "us": "ATVPDKIKX0DER", "jp": "A1VC38T7YXB528"}
TIME_SCALE = 100.0


def _config_doc() -> dict[str, Any]:
    """The shipped example config, with min/max price fields read per currency (the sandbox's items hold
    ``custitem_amz_min_price_<ccy>``) and an Amazon JP marketplace."""
    doc = yaml.safe_load((ROOT / "dags" / "marketplaces.yaml").read_text())
    doc["defaults"]["pricing"].update(min_price_field="custitem_amz_min_price_{currency}",
                                      max_price_field="custitem_amz_max_price_{currency}")
    return doc


def _app(with_jp: bool = False) -> AppConfig:
    doc = _config_doc()
    if with_jp:
        doc["marketplaces"]["jp"] = {
            "marketplace_id": "A1VC38T7YXB528", "region": "fe", "country": "JP", "currency": "JPY",
            "language_tag": "ja_JP", "timezone": "Asia/Tokyo", "subsidiary": 1,
            "pricing": {"vat_inclusive": True, "vat_rate": "0.10"},
        }
    return parse_config(doc)


@pytest.fixture(scope="module")
def sbx() -> Iterator[Sandboxes]:
    sandboxes = start_sandboxes(seed=42, time_scale=TIME_SCALE)
    try:
        yield sandboxes
    finally:
        sandboxes.stop()


@pytest.fixture
def env(sbx: Sandboxes, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    for name, value in sbx.connection_env().items():
        monkeypatch.setenv(name, value)
    url = f"sqlite:///{tmp_path}/state.db"
    monkeypatch.setenv("AIRFLOW_CONN_AMZNETSUITE_STATE", json.dumps({"conn_type": "generic", "extra": {"url": url}}))
    return url


# --- sandbox helpers ---------------------------------------------------------------------------------
def set_price(sbx: Sandboxes, sku: str, currency: str, level: int, price: str, qty: int = 0,
              effective: str | None = None) -> None:
    body: dict[str, Any] = {"action": "set_price", "sku": sku, "currency": currency, "pricelevel": level,
                            "quantity": qty, "unitprice": price}
    if effective:
        body["effectivedate"] = effective
    resp = requests.post(f"{sbx.netsuite_url}/_sandbox/control", json=body, timeout=10)
    assert resp.status_code == 200, resp.text


def update_item(sku: str, fields: dict[str, Any]) -> None:
    from airflow_provider_amznetsuite.hooks.netsuite import NetSuiteHook

    hook = NetSuiteHook("netsuite_default")
    (row,) = list(hook.suiteql("SELECT i.id FROM item i WHERE i.itemid = :sku", params={"sku": sku}))
    hook.update_record("inventoryItem", row["id"], fields)


def amazon_offer(sbx: Sandboxes, sku: str, code: str) -> list[dict[str, Any]]:
    resp = requests.get(f"{sbx.spapi_url}/_sandbox/listings",
                        params={"sku": sku, "marketplaceId": MARKETPLACE_IDS[code]}, timeout=10)
    resp.raise_for_status()
    (listing,) = json.loads(resp.text, parse_float=Decimal)["listings"]
    return listing["attributes"]["purchasable_offer"]


def feed_count(sbx: Sandboxes) -> int:
    resp = requests.get(f"{sbx.spapi_url}/_sandbox/feeds", timeout=10)
    resp.raise_for_status()
    return len(resp.json()["feeds"])


def offer(mid: str, currency: str, audience: str, price: str, *, sale: tuple[str, str, str] | None = None,
          tiers: tuple[tuple[int, str], ...] = (), low: str | None = None, high: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"marketplace_id": mid, "currency": currency, "audience": audience,
                           "our_price": [{"schedule": [{"value_with_tax": D(price)}]}]}
    if sale:
        out["discounted_price"] = [{"schedule": [{"start_at": sale[0], "end_at": sale[1], "value_with_tax": D(sale[2])}]}]
    if tiers:
        out["quantity_discount_plan"] = [{"schedule": [{"discount_type": "fixed", "levels": [
            {"lower_bound": n, "value": D(v)} for n, v in tiers]}]}]
    if low:
        out["minimum_seller_allowed_price"] = [{"schedule": [{"value_with_tax": D(low)}]}]
    if high:
        out["maximum_seller_allowed_price"] = [{"schedule": [{"value_with_tax": D(high)}]}]
    return out


# --- running the DAG's tasks in-process ----------------------------------------------------------------
class FakeTI:
    def __init__(self) -> None:
        self.xcom: dict[str, Any] = {}

    def xcom_pull(self, task_ids: str) -> Any:
        return self.xcom.get(task_ids)


class Runner:
    """Runs the four tasks of ``amazon_<code>_pricing`` like the scheduler would (report runs after a failed
    push: trigger rule all_done), with the push waiting synchronously instead of deferring."""

    def __init__(self, app: AppConfig, code: str, state_url: str) -> None:
        self.app, self.code = app, code
        self.state = SyncStateStore(state_url)
        self.runs = 0

    def run(self, tasks: tuple[str, ...] = ORDER, **params: Any) -> SimpleNamespace:
        self.runs += 1
        dag = build(self.app.marketplaces[self.code], self.app)
        ti = FakeTI()
        ctx = {"ti": ti, "dag_run": SimpleNamespace(run_id=f"manual__{self.code}_{self.runs}"),
               "params": {"dry_run": False, "allow_quarantine": False, "full_push": False, "approve": [],
                          "skus": None, **params}}
        failed: dict[str, str] = {}
        for task_id in tasks:
            task = dag.get_task(task_id)
            task.app_config = self.app
            task.state = self.state
            if task_id == "push_prices":
                task.deferrable, task.poll_interval = False, 0.1
            try:
                ti.xcom[task_id] = task.execute(ctx)
            except AirflowFailException as exc:
                failed[task_id] = str(exc)
        plan = ti.xcom.get("plan_pricing_push") or {}
        summary = self.state.get_batch(plan["summary_ref"]) if plan.get("summary_ref") else {}
        return SimpleNamespace(xcom=ti.xcom, failed=failed, plan=plan, summary=summary)

    def feed_bodies(self, result: SimpleNamespace) -> list[str]:
        return [f["body"] for f in self.state.get_batch(result.plan["ref"])["feeds"]]


def sandbox_refused_the_schedule(state: SyncStateStore, sku: str = "SKU-00001") -> bool:
    """True when the only open quarantine entry is the SP-API sandbox refusing a two-entry ``our_price``
    schedule (its product types allow one entry: 4000001 '... is too long'); see docs/pricing-sync.md."""
    entries = state.open_quarantine("pricing", "uk")
    return len(entries) == 1 and entries[0].key == sku and all(
        t in entries[0].reason for t in ("4000001", "purchasable_offer.our_price.schedule", "is too long"))


SCHEDULE_XFAIL = ("the SP-API sandbox accepts one our_price schedule entry (maxItems 1), so the scheduled cutover is "
                  "rejected with 4000001; the feed content is asserted above")


# --- tests -----------------------------------------------------------------------------------------------
def test_gbp_eur_usd_offers_land_exactly_with_b2b_tiers_and_sale_window(sbx: Sandboxes, env: str) -> None:
    sku = "SKU-00002"
    net = {  # currency: (base, B2B 0/10/50, sale, min, max) as NetSuite holds them (net of VAT)
        "GBP": ("10.03", ("9.50", "9.00", "8.57"), "8.33", "8.00", "20.00"),
        "EUR": ("10.00", ("9.50", "9.00", "8.50"), "8.40", "8.00", "20.00"),
        "USD": ("19.99", ("18.99", "17.99", "16.99"), "14.99", "12.00", "30.00"),
    }
    for cur, (base, b2b, sale, _, _) in net.items():
        set_price(sbx, sku, cur, 1, base)
        for qty, price in zip((0, 10, 50), b2b):
            set_price(sbx, sku, cur, 5, price, qty)
        set_price(sbx, sku, cur, 6, sale)
    start = (datetime.now(UTC) + timedelta(days=2)).replace(hour=9, minute=0, second=0, microsecond=0)
    end = start + timedelta(days=3, hours=15)
    fields: dict[str, Any] = {"costEstimate": D("5.00"), "custitem_amz_sale_start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                              "custitem_amz_sale_end": end.strftime("%Y-%m-%dT%H:%M:%SZ")}
    for cur, (*_, low, high) in net.items():
        fields[f"custitem_amz_min_price_{cur.lower()}"] = D(low)
        fields[f"custitem_amz_max_price_{cur.lower()}"] = D(high)
    update_item(sku, fields)
    s, e = start.strftime("%Y-%m-%dT%H:%M:%SZ"), end.strftime("%Y-%m-%dT%H:%M:%SZ")

    expected = {
        # UK, 20 % VAT: the smallest gross that converts back to the net price (12.03 / 1.2 = 10.025 -> 10.03;
        # 9.99 / 1.2 = 8.325 -> 8.33, where naive rounding of 8.33 x 1.2 = 9.996 would give 10.00)
        "uk": [offer("A1F83G8C2ARO7P", "GBP", "ALL", "12.03", sale=(s, e, "9.99"), low="9.60", high="24.00"),
               offer("A1F83G8C2ARO7P", "GBP", "B2B", "11.40", tiers=((10, "10.80"), (50, "10.28")), low="9.60",
                     high="24.00")],
        # DE, 19 % VAT: 11.90 / 1.19 = 10.00; 10.11 / 1.19 = 8.4958 -> 8.50 (10.10 would give 8.49)
        "de": [offer("A1PA6795UKMFR9", "EUR", "ALL", "11.90", sale=(s, e, "10.00"), low="9.52", high="23.80"),
               offer("A1PA6795UKMFR9", "EUR", "B2B", "11.30", tiers=((10, "10.71"), (50, "10.11")), low="9.52",
                     high="23.80")],
        # US: prices without tax, sent as NetSuite holds them
        "us": [offer("ATVPDKIKX0DER", "USD", "ALL", "19.99", sale=(s, e, "14.99"), low="12.00", high="30.00"),
               offer("ATVPDKIKX0DER", "USD", "B2B", "18.99", tiers=((10, "17.99"), (50, "16.99")), low="12.00",
                     high="30.00")],
    }
    app = _app()
    schema = json.loads((MODELS / "schema_feed_json_listings_feed_v2.json").read_text())
    for code, want in expected.items():
        runner = Runner(app, code, env)
        result = runner.run(skus=[sku])
        assert result.failed == {}, result.failed
        assert result.xcom["push_prices"]["accepted"] == 1 and result.xcom["pricing_report"]["offers_sent"] == 1
        (body,) = runner.feed_bodies(result)
        jsonschema.validate(json.loads(body), schema)
        # the document carries the exact decimal text
        assert f'"value_with_tax":{want[0]["our_price"][0]["schedule"][0]["value_with_tax"]}' in body
        assert (amazon_offer(sbx, sku, code)) == want, code
        assert result.summary["sale_windows"] == 1


def test_price_effective_tomorrow_london_is_scheduled_at_that_instant(sbx: Sandboxes, env: str) -> None:
    future = sbx.netsuite.seed_info.future_price  # SKU-00001: GBP base +10 % from tomorrow 00:00 Europe/London
    london = ZoneInfo("Europe/London")
    tomorrow = (sbx.netsuite.seed_info.now.astimezone(london) + timedelta(days=1)).date()
    instant = datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=london).astimezone(UTC)
    assert future.sku == "SKU-00001" and future.effective_utc == instant
    at = instant.strftime("%Y-%m-%dT%H:%M:%SZ")
    runner = Runner(_app(), "uk", env)
    result = runner.run(skus=["SKU-00001"])
    assert result.summary["scheduled_cutovers"] == {"count": 1, "skus": 1, "next_at": at, "by_sku": {"SKU-00001": [at]}}
    # 18.35 net -> 22.02 gross until the instant, 20.19 net -> 24.23 gross from it
    schedule = [{"end_at": at, "value_with_tax": D("22.02")}, {"start_at": at, "value_with_tax": D("24.23")}]
    (body,) = runner.feed_bodies(result)
    (msg,) = json.loads(body, parse_float=Decimal)["messages"]
    assert msg["patches"][0]["value"][0]["our_price"] == [{"schedule": schedule}]
    if result.failed and sandbox_refused_the_schedule(runner.state):
        pytest.xfail(SCHEDULE_XFAIL)
    assert result.failed == {}, result.failed
    (offer_all,) = [o for o in amazon_offer(sbx, "SKU-00001", "uk") if o["audience"] == "ALL"]
    assert offer_all["our_price"] == [{"schedule": schedule}]


def test_sixty_percent_drop_is_held_then_pushed_after_approval_and_reruns_send_nothing(sbx: Sandboxes, env: str) -> None:
    sku = "SKU-00005"
    set_price(sbx, sku, "GBP", 1, "20.00")
    for qty, price in ((0, "19.00"), (10, "18.00"), (50, "17.00")):
        set_price(sbx, sku, "GBP", 5, price, qty)
    update_item(sku, {"costEstimate": D("2.00"), "custitem_amz_min_price_gbp": D("5.00"),
                      "custitem_amz_max_price_gbp": D("100.00")})
    runner = Runner(_app(), "uk", env)

    first = runner.run(skus=[sku])
    assert first.failed == {} and first.xcom["push_prices"]["accepted"] == 1
    (all_offer,) = [o for o in amazon_offer(sbx, sku, "uk") if o["audience"] == "ALL"]
    assert all_offer["our_price"] == [{"schedule": [{"value_with_tax": D("24.00")}]}]

    feeds = feed_count(sbx)
    same = runner.run(skus=[sku])
    assert same.failed == {} and same.plan["ref"] is None and same.summary["unchanged"] == 1
    assert same.xcom["push_prices"]["feeds"] == 0 and feed_count(sbx) == feeds

    set_price(sbx, sku, "GBP", 1, "8.00")  # -60 %
    held = runner.run(skus=[sku])
    assert set(held.failed) == {"pricing_report"}
    assert "1 record(s) quarantined for uk pricing" in held.failed["pricing_report"]
    assert held.plan["ref"] is None and feed_count(sbx) == feeds
    hold = held.summary["held"][sku]
    assert (hold["old_price"], hold["new_price"], hold["change_pct"]) == ("20.00", "8.00", "-60.00")
    (entry,) = runner.state.open_quarantine("pricing", "uk")
    assert entry.key == sku
    assert entry.reason == ("held for approval: ALL price changes -60.0% (20.00 -> 8.00 net), more than the 30% "
                            "allowed — check the NetSuite price; to push it anyway re-run with Param "
                            f'approve=["{sku}"]')
    (all_offer,) = [o for o in amazon_offer(sbx, sku, "uk") if o["audience"] == "ALL"]
    assert all_offer["our_price"] == [{"schedule": [{"value_with_tax": D("24.00")}]}]  # untouched

    approved = runner.run(skus=[sku], approve=[sku])
    assert approved.failed == {}, approved.failed
    assert approved.summary["approved"] == [sku] and approved.xcom["push_prices"]["accepted"] == 1
    assert feed_count(sbx) == feeds + 1
    (all_offer,) = [o for o in amazon_offer(sbx, sku, "uk") if o["audience"] == "ALL"]
    assert all_offer["our_price"] == [{"schedule": [{"value_with_tax": D("9.60")}]}]  # 8.00 net
    assert runner.state.open_quarantine("pricing", "uk") == []

    again = runner.run(skus=[sku])
    assert again.failed == {} and again.plan["ref"] is None and feed_count(sbx) == feeds + 1


def _jp_setup(sbx: Sandboxes) -> None:
    sku = "SKU-00006"
    set_price(sbx, sku, "JPY", 1, "1234.5")  # over-precise: rounded half-up to 1235 once, and flagged
    for qty, price in ((0, "1001"), (10, "950"), (50, "900")):
        set_price(sbx, sku, "JPY", 5, price, qty)
    update_item(sku, {"costEstimate": D("3.00"), "custitem_amz_min_price_jpy": D("700"),
                      "custitem_amz_max_price_jpy": D("2000")})


JP_EXPECTED = [
    # 10 % consumption tax, no minor unit: 1235 -> ceil(1234.5 x 1.1 = 1357.95) = 1358 (1358 / 1.1 = 1234.55 -> 1235)
    offer("A1VC38T7YXB528", "JPY", "ALL", "1358", low="770", high="2200"),
    offer("A1VC38T7YXB528", "JPY", "B2B", "1101", tiers=((10, "1045"), (50, "990")), low="770", high="2200"),
]


def test_jpy_offer_has_no_minor_units(sbx: Sandboxes, env: str) -> None:
    _jp_setup(sbx)
    app = _app(with_jp=True)
    assert app.marketplaces["jp"].region == "fe" and app.marketplaces["jp"].pool == "spapi_amazon_sp_api_default_fe"
    runner = Runner(app, "jp", env)
    result = runner.run(tasks=ORDER[:2], skus=["SKU-00006"])
    assert result.xcom["read_netsuite_prices"]["counts"]["currency_id"] == "6"  # JPY's internal id, from NetSuite
    assert result.summary["flags"]["SKU-00006"] == [
        "price 1234.5 has more decimals than JPY allows; used 1235 (half-up)"]
    (body,) = runner.feed_bodies(result)
    jsonschema.validate(json.loads(body), json.loads((MODELS / "schema_feed_json_listings_feed_v2.json").read_text()))
    assert re.search(r'"value_with_tax":1358[,}]', body) and "1358." not in body and '"value":990}' in body
    (msg,) = json.loads(body, parse_float=Decimal)["messages"]
    assert msg["patches"][0]["value"] == JP_EXPECTED


def test_jpy_offer_lands_on_amazon_jp(sbx: Sandboxes, env: str) -> None:
    resp = requests.get(f"{sbx.spapi_url}/_sandbox/listings",
                        params={"sku": "SKU-00006", "marketplaceId": MARKETPLACE_IDS["jp"]}, timeout=10)
    if resp.status_code != 200 or not resp.json().get("listings"):
        pytest.skip("the SP-API sandbox has no Amazon JP (A1VC38T7YXB528) listings; the JPY feed content is "
                    "checked by test_jpy_offer_has_no_minor_units")
    _jp_setup(sbx)
    runner = Runner(_app(with_jp=True), "jp", env)
    result = runner.run(skus=["SKU-00006"])
    assert result.failed == {}, result.failed
    assert (amazon_offer(sbx, "SKU-00006", "jp")) == JP_EXPECTED


@pytest.mark.db
def test_dag_test_amazon_uk_pricing(sbx: Sandboxes, env: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from airflow.dag_processing.dagbag import DagBag

    config = tmp_path / "marketplaces.yaml"
    config.write_text(yaml.safe_dump(_config_doc()))
    monkeypatch.setenv("AMZNETSUITE_CONFIG", str(config))
    bag = DagBag(dag_folder=str(ROOT / "dags" / "amazon_netsuite.py"))
    dag = bag.dags["amazon_uk_pricing"]
    dag.get_task("push_prices").poll_interval = 0.2  # the sandbox processes feeds in ~0.3 s at time_scale 100
    run = dag.test(run_conf={"allow_quarantine": False})
    state = SyncStateStore(env)
    summaries = state.run_summaries("amazon_uk_pricing", run.run_id)
    report = summaries["pricing_report"]
    assert report["offers_sent"] == report["skus"] > 50 and report["feeds"] == 1
    assert report["held"] == report["problems"] == report["unconfirmed"] == 0
    assert report["scheduled_cutovers"] >= 1
    accepted = state.get_accepted("pricing", "uk")
    assert len(accepted) == report["accepted"] == report["offers_sent"] - report["rejected"]
    # a SKU this module did not touch: Amazon holds exactly the offer that was accepted, including the
    # seeded sale price (80 % of base, no window) as an open-ended sale and the B2B quantity tiers
    sku = "SKU-00008"
    held_by_amazon = amazon_offer(sbx, sku, "uk")
    assert held_by_amazon == OfferSet.model_validate(accepted[sku]["offer"]).to_attribute()
    all_offer, b2b_offer = held_by_amazon
    assert all_offer["discounted_price"][0]["schedule"][0].keys() == {"value_with_tax"}
    assert [lvl["lower_bound"] for lvl in b2b_offer["quantity_discount_plan"][0]["schedule"][0]["levels"]] == [10, 50]
    if run.state != "success" and report["rejected"] == 1 and sandbox_refused_the_schedule(state):
        pytest.xfail(SCHEDULE_XFAIL)
    assert run.state == "success", summaries
    assert report["rejected"] == 0 and report["accepted"] == report["skus"]
