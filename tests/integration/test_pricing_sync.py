"""Pricing sync through both sandboxes over real HTTP (NetSuite SuiteQL -> plan -> JSON_LISTINGS_FEED -> Amazon).

The module starts its own pair of sandboxes (it changes prices and item fields of a few SKUs, so it
does not share the session sandboxes with other tests). Expected amounts are worked out by hand
(see the comments) and compared with what the SP-API sandbox holds as Decimal values. The plan task's
"now" is pinned where a test moves through a price cutover (before the instant, after it).
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


def by_audience(offers: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Offers keyed by audience (a clean-up deletes and re-adds an offer entry, which moves it to the end)."""
    out = {o["audience"]: o for o in offers}
    assert len(out) == len(offers)
    return out


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

    def __init__(self, app: AppConfig, code: str, state_url: str, now: datetime | None = None) -> None:
        self.app, self.code = app, code
        self.state = SyncStateStore(state_url)
        self.runs = 0
        self.now = now  # the instant the plan task builds offers for (None: the real current time)

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
            if task_id == "plan_pricing_push" and self.now is not None:
                task.now = lambda now=self.now: now
            try:
                ti.xcom[task_id] = task.execute(ctx)
            except AirflowFailException as exc:
                failed[task_id] = str(exc)
        plan = ti.xcom.get("plan_pricing_push") or {}
        summary = self.state.get_batch(plan["summary_ref"]) if plan.get("summary_ref") else {}
        return SimpleNamespace(xcom=ti.xcom, failed=failed, plan=plan, summary=summary)

    def feed_bodies(self, result: SimpleNamespace) -> list[str]:
        return [f["body"] for f in self.state.get_batch(result.plan["ref"])["feeds"]]

    def patches(self, result: SimpleNamespace, sku: str) -> list[dict[str, Any]]:
        messages = [m for body in self.feed_bodies(result) for m in json.loads(body, parse_float=Decimal)["messages"]]
        (msg,) = [m for m in messages if m["sku"] == sku]
        return msg["patches"]


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


def test_price_effective_tomorrow_london_is_pushed_today_and_lands_on_amazon(sbx: Sandboxes, env: str) -> None:
    future = sbx.netsuite.seed_info.future_price  # SKU-00001: GBP base +10 % from tomorrow 00:00 Europe/London
    london = ZoneInfo("Europe/London")
    now = sbx.netsuite.seed_info.now.astimezone(UTC)
    tomorrow = (now.astimezone(london) + timedelta(days=1)).date()
    instant = datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=london).astimezone(UTC)
    assert future.sku == "SKU-00001" and future.effective_utc == instant
    assert (future.current, future.new) == (D("18.35"), D("20.19"))
    at = instant.strftime("%Y-%m-%dT%H:%M:%SZ")
    runner = Runner(_app(), "uk", env, now=now)
    result = runner.run(skus=["SKU-00001"])
    assert result.failed == {}, result.failed
    assert result.summary["scheduled_cutovers"] == {"count": 1, "skus": 1, "next_at": at, "by_sku": {"SKU-00001": [at]}}
    assert result.summary["follow_up"]["by_sku"] == {"SKU-00001": at}
    # a rise: 20.19 net -> 24.23 gross is our_price from now; 18.35 net -> 22.02 gross is a discount until the
    # instant, so buyers pay 22.02 until then and 24.23 from it (one our_price schedule entry, as Amazon allows)
    (patch,) = runner.patches(result, "SKU-00001")
    sent = by_audience(patch["value"])["ALL"]
    assert sent["our_price"] == [{"schedule": [{"value_with_tax": D("24.23")}]}]
    assert sent["discounted_price"] == [{"schedule": [{"end_at": at, "value_with_tax": D("22.02")}]}]
    assert result.xcom["push_prices"]["accepted"] == 1
    held = by_audience(amazon_offer(sbx, "SKU-00001", "uk"))["ALL"]
    assert (held["our_price"], held["discounted_price"]) == (sent["our_price"], sent["discounted_price"])
    feeds = feed_count(sbx)
    again = runner.run(skus=["SKU-00001"])
    assert again.failed == {} and again.plan["ref"] is None and feed_count(sbx) == feeds


GUARDS = {"costEstimate": D("2.00"), "custitem_amz_min_price_gbp": D("5.00"), "custitem_amz_max_price_gbp": D("100.00")}


@pytest.mark.parametrize(("sku", "now", "new_net", "our_before", "discount", "our_after"), [
    # winter (GMT): tomorrow 00:00 Europe/London = 00:00Z. 20.00 net (24.00 gross) now, 22.00 (26.40) from then
    ("SKU-00009", datetime(2026, 11, 27, 15, 0, tzinfo=UTC), "22.00", "26.40",
     {"end_at": "2026-11-28T00:00:00Z", "value_with_tax": "24.00"}, "26.40"),
    # winter, a drop to 18.00 (21.60): our_price stays 24.00, the new price is a discount from the instant
    ("SKU-00010", datetime(2026, 11, 27, 15, 0, tzinfo=UTC), "18.00", "24.00",
     {"start_at": "2026-11-28T00:00:00Z", "value_with_tax": "21.60"}, "21.60"),
    # summer (BST): tomorrow 00:00 Europe/London = 23:00Z the day before
    ("SKU-00011", datetime(2026, 7, 14, 10, 0, tzinfo=UTC), "22.00", "26.40",
     {"end_at": "2026-07-14T23:00:00Z", "value_with_tax": "24.00"}, "26.40"),
    ("SKU-00014", datetime(2026, 7, 14, 10, 0, tzinfo=UTC), "18.00", "24.00",
     {"start_at": "2026-07-14T23:00:00Z", "value_with_tax": "21.60"}, "21.60"),
], ids=["GMT-increase", "GMT-decrease", "BST-increase", "BST-decrease"])
def test_cutover_switches_on_amazon_at_the_instant_then_the_next_run_cleans_up(
        sbx: Sandboxes, env: str, sku: str, now: datetime, new_net: str, our_before: str, discount: dict[str, str],
        our_after: str) -> None:
    london = ZoneInfo("Europe/London")
    tomorrow = (now.astimezone(london) + timedelta(days=1)).date()
    instant = datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=london).astimezone(UTC)
    set_price(sbx, sku, "GBP", 1, "20.00")
    set_price(sbx, sku, "GBP", 1, new_net, effective=instant.strftime("%Y-%m-%dT%H:%M:%SZ"))
    update_item(sku, GUARDS)
    guard_rails = {"minimum_seller_allowed_price": [{"schedule": [{"value_with_tax": D("6.00")}]}],
                   "maximum_seller_allowed_price": [{"schedule": [{"value_with_tax": D("120.00")}]}]}
    selectors = {"marketplace_id": MARKETPLACE_IDS["uk"], "currency": "GBP", "audience": "ALL"}
    runner = Runner(_app(), "uk", env, now=now)

    pushed = runner.run(skus=[sku])
    assert pushed.failed == {}, pushed.failed
    assert pushed.xcom["push_prices"]["accepted"] == 1
    (merge,) = runner.patches(pushed, sku)
    want = {**selectors, "our_price": [{"schedule": [{"value_with_tax": D(our_before)}]}],
            "discounted_price": [{"schedule": [{k: D(v) if k == "value_with_tax" else v for k, v in discount.items()}]}],
            **guard_rails}
    assert by_audience(merge["value"])["ALL"] == want
    assert by_audience(amazon_offer(sbx, sku, "uk"))["ALL"] == want  # what the SP-API sandbox holds
    feeds = feed_count(sbx)

    for rerun_at in (now + timedelta(hours=1), instant - timedelta(seconds=1)):
        runner.now = rerun_at
        rerun = runner.run(skus=[sku])
        assert rerun.failed == {} and rerun.plan["ref"] is None and rerun.summary["unchanged"] == 1
        assert feed_count(sbx) == feeds

    runner.now = instant + timedelta(minutes=10)  # the first run after the instant: the clean-up
    cleanup = runner.run(skus=[sku])
    assert cleanup.failed == {}, cleanup.failed
    assert cleanup.summary["cleanups"] == {sku: {"ALL": ["discounted_price"]}}
    assert cleanup.xcom["push_prices"]["accepted"] == 1 and feed_count(sbx) == feeds + 1
    delete, merge = runner.patches(cleanup, sku)
    assert delete == {"op": "delete", "path": "/attributes/purchasable_offer",
                      "value": [{**selectors, "discounted_price": want["discounted_price"]}]}
    plain = {**selectors, "our_price": [{"schedule": [{"value_with_tax": D(our_after)}]}], **guard_rails}
    assert by_audience(merge["value"])["ALL"] == plain
    assert by_audience(amazon_offer(sbx, sku, "uk"))["ALL"] == plain  # no stale discount left on Amazon

    runner.now = instant + timedelta(hours=2)
    done = runner.run(skus=[sku])
    assert done.failed == {} and done.plan["ref"] is None and feed_count(sbx) == feeds + 1


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
    _jp_setup(sbx)
    runner = Runner(_app(with_jp=True), "jp", env)
    result = runner.run(skus=["SKU-00006"])
    assert result.failed == {}, result.failed
    assert result.xcom["push_prices"]["accepted"] == 1
    feeds = requests.get(f"{sbx.spapi_url}/_sandbox/feeds", timeout=10).json()["feeds"]
    assert feeds[-1]["marketplaceIds"] == [MARKETPLACE_IDS["jp"]] and feeds[-1]["processingStatus"] == "DONE"
    held = amazon_offer(sbx, "SKU-00006", "jp")
    assert by_audience(held) == by_audience(JP_EXPECTED)  # whole yen, exactly
    values = [e["value_with_tax"] for o in held for k in ("our_price", "minimum_seller_allowed_price",
                                                           "maximum_seller_allowed_price") for e in o[k][0]["schedule"]]
    values += [lvl["value"] for o in held for p in o.get("quantity_discount_plan", []) for s in p["schedule"]
               for lvl in s["levels"]]
    assert len(values) == 8 and all(type(v) is int for v in values)  # JSON integers: no decimal point at all
    again = runner.run(skus=["SKU-00006"])
    assert again.failed == {} and again.plan["ref"] is None


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
    # the seeded future price of SKU-00001 (tomorrow 00:00 London, seen from the sandbox start a minute ago) is
    # scheduled through the discount and accepted by Amazon
    instant = sbx.netsuite.seed_info.future_price.effective_utc
    if datetime.now(UTC) < instant:  # false only when this test runs across London midnight
        seeded = OfferSet.model_validate(accepted["SKU-00001"]["offer"]).offer("ALL")
        assert seeded is not None and seeded.discount_kind == "current_price"
        held_all = by_audience(amazon_offer(sbx, "SKU-00001", "uk"))["ALL"]
        assert held_all["discounted_price"][0]["schedule"][0]["end_at"] == instant.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert run.state == "success", summaries
    assert report["rejected"] == 0 and report["accepted"] == report["skus"]
