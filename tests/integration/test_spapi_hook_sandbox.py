"""The real ``SpApiHook`` against the SP-API sandbox over HTTP, held to Amazon's models.

* Every operation the syncs use returns what the sandbox itself holds (its ``/_sandbox/*`` views
  and Python API are the oracle): searchOrders pagination, getOrder, the feed round trip, settlement
  reports, FBA inventory, Listings Items ``VALIDATION_PREVIEW`` and product type definitions (schema
  downloaded once, then cached).
* With injected faults (429 storms, 5xx, dropped connections, expired access tokens, slow answers,
  expired pagination tokens) the same calls give the same results as a fault-free sandbox with the
  same seed.
* Every request the hook sends validates against the operation's parameters in Amazon's vendored
  models and every sandbox answer against the operation's response schema (``tests/contract/swagger.py``).
* The client secret, the refresh token and every access token the sandbox issued never appear in
  captured logs, stdout/stderr or exception text.

No timed assertions: the sandboxes are time-scaled so rate limits and feed processing are short.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from airflow.sdk import Connection

from airflow_provider_amznetsuite.hooks.ratelimit import RateLimiterRegistry
from airflow_provider_amznetsuite.hooks.spapi import TERMINAL_PROCESSING_STATUSES, LwaTokenCache, SpApiHook
from airflow_provider_amznetsuite.hooks.spapi_errors import SpApiAuthError, SpApiBadRequest, SpApiNotFound
from airflow_provider_amznetsuite.sandbox import catalog
from airflow_provider_amznetsuite.sandbox.runner import Sandboxes
from airflow_provider_amznetsuite.sandbox.spapi import credentials as creds
from airflow_provider_amznetsuite.sandbox.spapi.server import SpApiSandbox, create_server
from tests.contract.swagger import check_request, check_response, find_operation

pytestmark = pytest.mark.integration

UK, DE, US = (catalog.MARKETPLACES[c].marketplace_id for c in ("uk", "de", "us"))
SETTLEMENT = "GET_V2_SETTLEMENT_REPORT_DATA_FLAT_FILE_V2"
ORDER_DATA = ["FULFILLMENT", "PROCEEDS"]
NOT_SP_API = ("/auth/", "/_docs/", "/_schemas/", "/_sandbox/")  # LWA, presigned documents, schema documents


# --------------------------------------------------------------------------------------------------
# contract recorder: every request/answer pair the hook's session exchanged with the sandbox
# --------------------------------------------------------------------------------------------------
@dataclass
class Exchange:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes | str | None
    status: int
    content: bytes


class Recorder:
    """Attached to a hook's ``requests.Session``; validates what went over the wire against the models."""

    def __init__(self) -> None:
        self.exchanges: list[Exchange] = []
        self._lock = threading.Lock()

    def attach(self, hook: SpApiHook) -> SpApiHook:
        hook.session.hooks["response"].append(self._record)
        return hook

    def _record(self, resp: requests.Response, *args: Any, **kwargs: Any) -> None:
        req = resp.request
        with self._lock:
            self.exchanges.append(Exchange(str(req.method), str(req.url), dict(req.headers), req.body,
                                           resp.status_code, resp.content))

    def operations(self) -> list[tuple[str, int]]:
        """(operationId, status) of every SP-API operation call, in order."""
        out = []
        for ex in self.sp_api():
            found = find_operation(ex.method, urlsplit(ex.url).path)
            out.append((found[0].operation_id if found else "?", ex.status))
        return out

    def sp_api(self) -> list[Exchange]:
        return [ex for ex in self.exchanges if not urlsplit(ex.url).path.startswith(NOT_SP_API)]

    def problems(self) -> list[str]:
        out: list[str] = []
        for ex in self.sp_api():
            where = f"{ex.method} {urlsplit(ex.url).path} -> {ex.status}"
            check = check_request_ex(ex)
            out.extend(f"{where}: request: {p}" for p in check.problems)
            if check.operation is None:
                continue
            body: Any = None
            if ex.content:
                try:
                    body = json.loads(ex.content)
                except ValueError:
                    out.append(f"{where}: response is not JSON")
                    continue
            out.extend(f"{where}: {p}" for p in check_response(check.operation, ex.status, body))
        return out

    def assert_valid(self, *, at_least: int = 1) -> None:
        calls = self.sp_api()
        assert len(calls) >= at_least, f"only {len(calls)} SP-API calls recorded"
        problems = self.problems()
        assert not problems, "exchanges violating Amazon's models:\n  " + "\n  ".join(problems[:40])


def check_request_ex(ex: Exchange) -> Any:
    return check_request(type("Req", (), {"method": ex.method, "url": ex.url, "headers": ex.headers,
                                          "body": ex.body})())


# --------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------
def connection_for(sbx: SpApiSandbox, conn_id: str, **extra_overrides: Any) -> Connection:
    payload = json.loads(creds.connection_json(sbx.url, time_scale=sbx.time_scale))
    extra = {**payload["extra"], **extra_overrides}
    return Connection(conn_id=conn_id, conn_type="amazon_sp_api", login=payload["login"],
                      password=extra.pop("client_secret", payload["password"]), extra=json.dumps(extra))


def own_hook(sbx: SpApiSandbox, tmp_path: Path, conn_id: str = "spapi_hook_it", **extra: Any) -> SpApiHook:
    """A hook on a sandbox of this module: own buckets and token cache, business time = the sandbox's."""
    return SpApiHook(conn_id, connection=connection_for(sbx, conn_id, **extra), now=sbx.now,
                     rate_limiter=RateLimiterRegistry(), token_cache=LwaTokenCache(),
                     ptd_cache_dir=tmp_path / "ptd")


def sandbox_get(sbx: SpApiSandbox, view: str, **params: str) -> Any:
    r = requests.get(f"{sbx.url}/_sandbox/{view}", params=params, timeout=10)
    r.raise_for_status()
    return r.json()


def searchable_order_ids(sbx: SpApiSandbox, after: dt.datetime, marketplace: str | None = None) -> list[str]:
    """The sandbox's own answer: visible orders created in [after, now - 2 min] (Amazon's 'Before' rule)."""
    view = sandbox_get(sbx, "orders", **({"marketplace": marketplace} if marketplace else {}))
    latest = sbx.now() - dt.timedelta(minutes=2)
    return sorted(o["orderId"] for o in view["orders"]
                  if after <= dt.datetime.fromisoformat(o["createdTime"]) <= latest)


def kitchen_attributes(mid: str, lang: str, currency: str, **overrides: Any) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "item_name": [{"value": "Hook Test Chef Knife", "language_tag": lang, "marketplace_id": mid}],
        "brand": [{"value": "Sandbox Brand", "language_tag": lang, "marketplace_id": mid}],
        "product_description": [{"value": "A sharp knife.", "language_tag": lang, "marketplace_id": mid}],
        "bullet_point": [{"value": "Stainless steel", "language_tag": lang, "marketplace_id": mid}],
        "condition_type": [{"value": "new_new", "marketplace_id": mid}],
        "main_product_image_locator": [{"media_location": "https://images.example.com/knife.jpg",
                                        "marketplace_id": mid}],
        "country_of_origin": [{"value": "DE", "marketplace_id": mid}],
        "batteries_required": [{"value": False, "marketplace_id": mid}],
        "supplier_declared_dg_hz_regulation": [{"value": "not_applicable", "marketplace_id": mid}],
        "material": [{"value": "Steel", "language_tag": lang, "marketplace_id": mid}],
        "externally_assigned_product_identifier": [{"type": "ean", "value": "5000000000017", "marketplace_id": mid}],
        "purchasable_offer": [{"marketplace_id": mid, "currency": currency, "audience": "ALL",
                               "our_price": [{"schedule": [{"value_with_tax": 24.99}]}]}],
        "fulfillment_availability": [{"fulfillment_channel_code": "DEFAULT", "quantity": 5}],
    }
    attrs.update(overrides)
    return attrs


def mfn_kitchen_sku() -> str:
    return next(i.sku for i in catalog.sellable_items() if i.category == "Kitchen" and not i.fba_marketplaces)


def listings_feed(new_sku: str, existing_sku: str) -> dict[str, Any]:
    return {
        "header": {"sellerId": creds.SELLER_ID, "version": "2.0", "issueLocale": "en_US",
                   "report": {"includedData": ["issues"], "apiVersion": "2021-08-01"}},
        "messages": [
            {"messageId": 1, "sku": new_sku, "operationType": "UPDATE", "productType": "KITCHEN",
             "attributes": kitchen_attributes(UK, "en_GB", "GBP")},
            {"messageId": 2, "sku": existing_sku, "operationType": "PATCH", "productType": "KITCHEN",
             "patches": [{"op": "merge", "path": "/attributes/fulfillment_availability",
                          "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": 17}]}]},
            {"messageId": 3, "sku": new_sku + "-NOBRAND", "operationType": "UPDATE", "productType": "KITCHEN",
             "attributes": {"item_name": [{"value": "No brand", "language_tag": "en_GB", "marketplace_id": UK}]}},
        ],
    }


def wait_feed(hook: SpApiHook, feed_id: str, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        feed = hook.get_feed(feed_id)
        if feed["processingStatus"] in TERMINAL_PROCESSING_STATUSES:
            return feed
        assert time.monotonic() < deadline, f"feed {feed_id} still {feed['processingStatus']}"
        time.sleep(0.05)


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def exercise(hook: SpApiHook, sbx: SpApiSandbox, *, feed_sku: str) -> dict[str, Any]:
    """Every hook operation the syncs use, reduced to comparable values (order matters for fault seeds)."""
    now = sbx.now()
    after = now - dt.timedelta(days=30)
    orders = [o["orderId"] for o in hook.search_orders(None, created_after=after, max_results_per_page=40)]
    details = {oid: hook.get_order(oid, included_data=ORDER_DATA) for oid in orders[:: max(1, len(orders) // 8)]}
    inventory = {s["sellerSku"]: (s["inventoryDetails"]["fulfillableQuantity"], s["totalQuantity"])
                 for s in hook.get_inventory_summaries(UK)}
    reports = sorted(hook.list_reports([SETTLEMENT], created_since=now - dt.timedelta(days=60),
                                       processing_statuses=["DONE"]), key=lambda r: r["reportId"])
    texts = {r["reportId"]: digest(hook.download_report_text(r["reportDocumentId"])) for r in reports}
    preview = hook.put_listings_item(None, "HOOKIT-PREVIEW-1", US,
                                     {"productType": "KITCHEN", "attributes": kitchen_attributes(US, "en_US", "USD")},
                                     mode="VALIDATION_PREVIEW")
    ptd = hook.get_product_type_definition("KITCHEN", UK)
    feed_id = hook.submit_feed("JSON_LISTINGS_FEED", listings_feed(feed_sku, mfn_kitchen_sku()), [UK])
    feed = wait_feed(hook, feed_id)
    result = hook.get_feed_result(feed_id)
    assert isinstance(result, dict)
    return {
        "orders": orders, "details": details, "inventory": inventory,
        "reports": [(r["reportId"], r["reportType"], r["marketplaceIds"]) for r in reports], "report_texts": texts,
        "preview": (preview["status"], preview.get("issues")),
        "ptd": (ptd["definition"]["productTypeVersion"]["version"], sorted(ptd["schema"].get("required", []))),
        "feed": (feed["processingStatus"], result["summary"],
                 sorted((i["messageId"], i["code"]) for i in result.get("issues", []))),
    }


# --------------------------------------------------------------------------------------------------
# against the session sandbox (fixtures from conftest.py)
# --------------------------------------------------------------------------------------------------
@pytest.fixture
def session_hook(sandboxes: Sandboxes, spapi_env: dict[str, str], tmp_path: Path) -> Iterator[tuple[SpApiHook, Recorder]]:
    rec = Recorder()
    hook = rec.attach(SpApiHook("amazon_sp_api_default", now=sandboxes.spapi.now, ptd_cache_dir=tmp_path / "ptd"))
    yield hook, rec
    hook.close()


def test_search_orders_pages_through_every_order_the_sandbox_holds(sandboxes: Sandboxes,
                                                                   session_hook: tuple[SpApiHook, Recorder]) -> None:
    hook, rec = session_hook
    sbx = sandboxes.spapi
    after = sbx.now() - dt.timedelta(days=30)
    found = [o["orderId"] for o in hook.search_orders([UK, DE, US], created_after=after, max_results_per_page=50)]
    expected = searchable_order_ids(sbx, after)
    assert len(expected) >= 200                                  # a few hundred orders, several pages
    assert len(found) == len(set(found))                         # no order twice across pages
    assert sorted(found) == expected
    pages = [op for op in rec.operations() if op[0] == "searchOrders"]
    assert len(pages) >= -(-len(expected) // 50)                 # ceil(n / 50) pages at least (429 retries add)
    uk_only = [o["orderId"] for o in hook.search_orders(UK, created_after=after, max_results_per_page=100)]
    assert sorted(uk_only) == searchable_order_ids(sbx, after, "uk")
    rec.assert_valid()


def test_get_order_returns_the_sandbox_order_and_a_typed_404(sandboxes: Sandboxes,
                                                             session_hook: tuple[SpApiHook, Recorder]) -> None:
    hook, rec = session_hook
    sbx = sandboxes.spapi
    ids = [o["orderId"] for o in sandbox_get(sbx, "orders")["orders"]][:5]
    for oid in ids:
        assert hook.get_order(oid, included_data=ORDER_DATA) == sbx.get_order(oid, tuple(ORDER_DATA))
    with pytest.raises(SpApiNotFound) as err:
        hook.get_order("999-0000000-0000000")
    assert err.value.status == 404 and err.value.codes and err.value.operation == "getOrder"
    rec.assert_valid(at_least=6)


def test_submit_feed_get_feed_and_processing_report(sandboxes: Sandboxes,
                                                    session_hook: tuple[SpApiHook, Recorder]) -> None:
    hook, rec = session_hook
    sbx = sandboxes.spapi
    sku = "HOOKIT-FEED-KNIFE-1"
    document = listings_feed(sku, mfn_kitchen_sku())
    feed_id = hook.submit_feed("JSON_LISTINGS_FEED", document, [UK])
    feed = wait_feed(hook, feed_id)
    assert feed["feedId"] == feed_id and feed["processingStatus"] == "DONE" and feed["resultFeedDocumentId"]
    report = hook.get_feed_result(feed_id)
    assert isinstance(report, dict)
    assert report["header"]["feedId"] == feed_id
    assert report["summary"]["messagesProcessed"] == 3 and report["summary"]["messagesAccepted"] == 2
    assert {i["messageId"] for i in report["issues"] if i["severity"] == "ERROR"} == {3}
    stored = next(f for f in sandbox_get(sbx, "feeds")["feeds"] if f["feedId"] == feed_id)
    assert stored["document"] == json.loads(json.dumps(document))      # the exact document uploaded
    assert stored["marketplaceIds"] == [UK] and stored["processingReport"] == report
    listing = sandbox_get(sbx, "listings", sku=sku, marketplaceId=UK)["listings"]
    assert [x["sku"] for x in listing] == [sku]
    ops = [op for op, _ in rec.operations()]
    assert ops[:2] == ["createFeedDocument", "createFeed"] and "getFeedDocument" in ops
    rec.assert_valid()


def test_settlement_reports_listed_and_downloaded_as_text(sandboxes: Sandboxes,
                                                          session_hook: tuple[SpApiHook, Recorder]) -> None:
    hook, rec = session_hook
    sbx = sandboxes.spapi
    reports = list(hook.list_reports([SETTLEMENT], created_since=sbx.now() - dt.timedelta(days=60),
                                     processing_statuses=["DONE"], page_size=1))  # one per page: nextToken alone
    expected = {s["reportId"]: s for s in sandbox_get(sbx, "settlements")["settlements"]}
    assert {r["reportId"] for r in reports} == set(expected) and len(reports) == len(expected) >= 3
    for r in reports:
        text = hook.download_report_text(r["reportDocumentId"])
        assert text == sbx.settlement_text(r["reportId"])
        header, summary = text.splitlines()[:2]
        assert header.startswith("settlement-id\tsettlement-start-date")
        assert summary.split("\t")[0] == expected[r["reportId"]]["settlementId"]
    de = next(r for r in reports if r["marketplaceIds"] == [DE])
    de_total = hook.download_report_text(de["reportDocumentId"]).splitlines()[1].split("\t")[4]
    assert "," in de_total and "." not in de_total                       # EU decimal comma kept as text
    assert rec.operations().count(("getReports", 200)) == len(reports)         # one page per report
    later = [ex for ex in rec.sp_api() if "nextToken=" in ex.url]
    assert later and all(urlsplit(ex.url).query.count("=") == 1 for ex in later)   # nextToken sent alone
    rec.assert_valid()


def test_inventory_summaries_match_the_sandbox_stock(sandboxes: Sandboxes,
                                                     session_hook: tuple[SpApiHook, Recorder]) -> None:
    hook, rec = session_hook
    sbx = sandboxes.spapi
    stock = {r["sku"]: r for r in sandbox_get(sbx, "inventory", marketplace="uk")["inventory"]}
    summaries = list(hook.get_inventory_summaries(UK))
    assert {s["sellerSku"] for s in summaries} == set(stock) and len(summaries) == len(stock) > 0
    for s in summaries:
        row = stock[s["sellerSku"]]
        assert s["inventoryDetails"]["fulfillableQuantity"] == row["fulfillable"]
        assert s["totalQuantity"] == row["totalQuantity"]
    chosen = sorted(stock)[:3]
    assert sorted(s["sellerSku"] for s in hook.get_inventory_summaries(UK, seller_skus=chosen)) == chosen
    rec.assert_valid()


def test_listings_put_and_patch_with_validation_preview_change_nothing(sandboxes: Sandboxes,
                                                                       session_hook: tuple[SpApiHook, Recorder]) -> None:
    hook, rec = session_hook
    sbx = sandboxes.spapi
    sku = "HOOKIT-LST-PREVIEW"
    body = {"productType": "KITCHEN", "attributes": kitchen_attributes(US, "en_US", "USD")}
    valid = hook.put_listings_item(None, sku, US, body, mode="VALIDATION_PREVIEW")
    assert valid["sku"] == sku and valid["status"] == "VALID" and valid["issues"] == []
    invalid = hook.put_listings_item(None, sku, US, {**body, "attributes": {**body["attributes"], "brand": []}},
                                     mode="VALIDATION_PREVIEW")
    assert invalid["status"] == "INVALID" and invalid["issues"][0]["attributeNames"] == ["brand"]
    assert sandbox_get(sbx, "listings", sku=sku)["listings"] == []         # a preview creates nothing
    existing = mfn_kitchen_sku()
    before = sandbox_get(sbx, "listings", sku=existing, marketplaceId=UK)["listings"]
    patch = {"productType": "KITCHEN", "patches": [
        {"op": "replace", "path": "/attributes/fulfillment_availability",
         "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": 999}]}]}
    previewed = hook.patch_listings_item(None, existing, [UK], patch, mode="VALIDATION_PREVIEW")
    assert previewed["status"] == "VALID"
    assert sandbox_get(sbx, "listings", sku=existing, marketplaceId=UK)["listings"] == before
    rec.assert_valid(at_least=3)
    sent = [ex for ex in rec.sp_api() if ex.method in ("PUT", "PATCH")]
    assert sent and all("mode=VALIDATION_PREVIEW" in ex.url for ex in sent)


def test_product_type_definition_schema_is_downloaded_once_and_cached(sandboxes: Sandboxes, tmp_path: Path,
                                                                      session_hook: tuple[SpApiHook, Recorder]) -> None:
    hook, rec = session_hook
    first = hook.get_product_type_definition("SHIRT", DE, requirements_enforced="NOT_ENFORCED")
    assert first["definition"]["productType"] == "SHIRT"
    assert first["schema"]["properties"]["item_name"] and "variation_theme" in first["schema"]["properties"]
    second = hook.get_product_type_definition("SHIRT", DE, requirements_enforced="NOT_ENFORCED")
    assert second["schema"] == first["schema"]
    downloads = [ex for ex in rec.exchanges if urlsplit(ex.url).path.startswith("/_schemas/")]
    assert len(downloads) == 1
    assert [op for op, _ in rec.operations()] == ["getDefinitionsProductType"] * 2   # the definition is re-read
    cached = list((tmp_path / "ptd").glob("SHIRT_*.json"))
    assert len(cached) == 1 and json.loads(cached[0].read_text(encoding="utf-8")) == first["schema"]
    rec.assert_valid(at_least=2)


# --------------------------------------------------------------------------------------------------
# faults: same results as a fault-free sandbox with the same seed
# --------------------------------------------------------------------------------------------------
SANDBOX_OPTIONS: dict[str, Any] = {"seed": 11, "orders_per_day": 40, "days": 3, "time_scale": 100.0}
FAULTS: dict[str, Any] = {
    "rate": 0.15, "kinds": ["429", "5xx", "drop", "expired_token", "slow"], "seed": 5, "storm_length": 3,
    "slow_seconds": 0.05, "operations": {"lwaToken": 0.3, "uploadDocument": 0.3, "downloadDocument": 0.3},
}


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    with create_server(**SANDBOX_OPTIONS) as sbx:
        hook = own_hook(sbx, tmp_path_factory.mktemp("clean"))
        rec = Recorder()
        rec.attach(hook)
        result = exercise(hook, sbx, feed_sku="HOOKIT-FAULT-1")
        rec.assert_valid(at_least=20)
        assert sbx.stats()["faultsInjected"] == {}
        return result


def test_faults_do_not_change_any_result(clean_run: dict[str, Any], tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)
    with create_server(**SANDBOX_OPTIONS, faults=FAULTS) as sbx:
        rec = Recorder()
        hook = rec.attach(own_hook(sbx, tmp_path))
        faulty = exercise(hook, sbx, feed_sku="HOOKIT-FAULT-1")
        stats = sbx.stats()
        secrets = sbx.secrets()
    assert faulty == clean_run
    assert len(clean_run["orders"]) >= 300 and len(clean_run["details"]) >= 8 and clean_run["inventory"]
    injected = stats["faultsInjected"]
    for kind in ("429", "5xx", "drop", "expired_token", "slow"):
        assert injected.get(kind, 0) > 0, f"no {kind} fault was injected: {injected}"
    statuses = [status for _, status in rec.operations()]
    assert 429 in statuses and any(s >= 500 for s in statuses) and 403 in statuses   # the hook saw and retried them
    rec.assert_valid(at_least=30)                      # 429/5xx/403 answers validate against the models too
    out, err = capsys.readouterr()
    logged = caplog.text + out + err
    assert "throttled" in logged and "refreshing the LWA access token" in logged
    assert len(secrets) >= 4                            # secret, refresh token and several access tokens
    for secret in secrets:
        assert secret not in logged


def test_expired_pagination_tokens_restart_the_listing_without_duplicates(clean_run: dict[str, Any],
                                                                          tmp_path: Path) -> None:
    # Amazon cannot resume a listing from a position, so the hook restarts it; a per-page expiry rate must
    # leave a full pass possible (at 35 % per page a 14-page listing almost never completes in one pass)
    faults = {"rate": 0.0, "kinds": ["expired_pagination"], "seed": 2,
              "operations": {"searchOrders": 0.1, "getInventorySummaries": 0.35, "getReports": 0.35}}
    with create_server(**SANDBOX_OPTIONS, faults=faults) as sbx:
        hook = own_hook(sbx, tmp_path)
        now = sbx.now()
        orders = [o["orderId"] for o in hook.search_orders(None, created_after=now - dt.timedelta(days=30),
                                                           max_results_per_page=40)]
        inventory = {s["sellerSku"] for s in hook.get_inventory_summaries(UK)}
        reports = {r["reportId"] for r in hook.list_reports([SETTLEMENT], created_since=now - dt.timedelta(days=60),
                                                            processing_statuses=["DONE"], page_size=1)}
        injected = sbx.stats()["faultsInjected"]
    assert injected.get("expired_pagination", 0) > 0
    assert orders == clean_run["orders"]
    assert inventory == set(clean_run["inventory"])
    assert reports == {r[0] for r in clean_run["reports"]}


# --------------------------------------------------------------------------------------------------
# secrets in errors
# --------------------------------------------------------------------------------------------------
def test_auth_failures_are_typed_and_carry_no_secret(sandboxes: Sandboxes, tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)
    sbx = sandboxes.spapi
    wrong_refresh = "Atzr|IwEBIwrong-refresh-token-0123456789abcdef"
    wrong_secret = "amzn1.oa2-cs.v1.wrong-client-secret-0123456789abcdef"
    errors: list[SpApiAuthError] = []
    for conn_id, extra in (("spapi_bad_refresh", {"refresh_token": wrong_refresh}),
                           ("spapi_bad_secret", {"client_secret": wrong_secret})):
        hook = own_hook(sbx, tmp_path, conn_id, **extra)
        with pytest.raises(SpApiAuthError) as err:
            hook.get_order("026-0000000-0000000")
        errors.append(err.value)
    assert errors[0].codes == ["invalid_grant"] and errors[1].codes == ["invalid_client"]
    good = own_hook(sbx, tmp_path, "spapi_good")
    with pytest.raises(SpApiNotFound) as missing:
        good.get_order("999-9999999-9999999")
    out, err_text = capsys.readouterr()
    texts = caplog.text + out + err_text + " ".join(
        f"{e} {e!r} {json.dumps(e.errors)}" for e in (*errors, missing.value))
    for secret in (*sbx.secrets(), wrong_refresh, wrong_secret):
        assert secret not in texts
    assert "getOrder" in str(missing.value) and "LWA" in str(errors[0]) + str(errors[0].hint)
