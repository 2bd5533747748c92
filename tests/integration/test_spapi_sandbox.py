"""The local SP-API sandbox over real HTTP, checked against Amazon's vendored models.

Every response of every implemented operation is validated against the response schema its
operation declares for that status code (Swagger 2.0 ``definitions``, JSON-Schema Draft 4), feed
messages and processing reports against Amazon's feed JSON schemas. Plain ``requests`` only.
"""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
import requests
from jsonschema import Draft4Validator, Draft7Validator, Draft201909Validator, FormatChecker

from airflow_provider_amznetsuite import sandbox as sandbox_pkg
from airflow_provider_amznetsuite.sandbox import catalog
from airflow_provider_amznetsuite.sandbox.runner import Sandboxes
from airflow_provider_amznetsuite.sandbox.spapi import credentials as creds
from airflow_provider_amznetsuite.sandbox.spapi.server import SpApiSandbox, create_server

pytestmark = pytest.mark.integration

MODELS = Path(sandbox_pkg.__file__).resolve().parent / "models"
UK, DE, US = (catalog.MARKETPLACES[c].marketplace_id for c in ("uk", "de", "us"))
ALL_INCLUDED = "BUYER,RECIPIENT,PROCEEDS,EXPENSE,PROMOTION,CANCELLATION,FULFILLMENT,PACKAGES,TAX,PAYMENT,FULFILLMENT_ORDERS"
FORMATS = FormatChecker([])


@FORMATS.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    """RFC 3339 date-time with an explicit zone (the models' ``format: date-time``)."""
    if isinstance(value, str):
        if "T" not in value or not (value.endswith("Z") or value[-6] in "+-"):
            raise ValueError(f"{value!r} is not an RFC 3339 date-time")
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    return True


# --- model helpers ----------------------------------------------------------------------------------
@lru_cache(maxsize=None)
def _model(name: str) -> dict[str, Any]:
    return json.loads((MODELS / name).read_text(encoding="utf-8"))


def _operation(model: str, operation_id: str) -> dict[str, Any]:
    for path_item in _model(model)["paths"].values():
        for op in path_item.values():
            if isinstance(op, dict) and op.get("operationId") == operation_id:
                return op
    raise AssertionError(f"{operation_id} not in {model}")


def check(resp: requests.Response, model: str, operation_id: str, status: int) -> Any:
    """Assert the status and validate the body against the model's schema for that status."""
    assert resp.status_code == status, f"{operation_id}: {resp.status_code} {resp.text[:500]}"
    assert resp.headers.get("x-amzn-RequestId")
    declared = _operation(model, operation_id)["responses"][str(status)]
    schema = declared.get("schema")
    if schema is None:
        assert resp.content == b""
        return None
    body = resp.json()
    Draft4Validator({**schema, "definitions": _model(model)["definitions"]}, format_checker=FORMATS).validate(body)
    return body


def schema_validate(schema_file: str, instance: Any) -> None:
    Draft7Validator(_model(schema_file)).validate(instance)


# --- clients ----------------------------------------------------------------------------------------
def lwa(url: str, **overrides: str) -> requests.Response:
    form = {"grant_type": "refresh_token", "refresh_token": creds.REFRESH_TOKEN, "client_id": creds.LWA_CLIENT_ID,
            "client_secret": creds.LWA_CLIENT_SECRET, **overrides}
    return requests.post(url + "/auth/o2/token", data={k: v for k, v in form.items() if v is not None}, timeout=10)


class Client:
    def __init__(self, url: str) -> None:
        self.url = url
        self.session = requests.Session()
        self.refresh()

    def refresh(self) -> None:
        resp = lwa(self.url)
        assert resp.status_code == 200, resp.text
        self.session.headers["x-amz-access-token"] = resp.json()["access_token"]

    def get(self, path: str, **params: Any) -> requests.Response:
        return self.session.get(self.url + path, params=params, timeout=10)

    def post(self, path: str, body: Any) -> requests.Response:
        return self.session.post(self.url + path, json=body, timeout=10)

    def put(self, path: str, body: Any, **params: Any) -> requests.Response:
        return self.session.put(self.url + path, json=body, params=params, timeout=10)

    def patch(self, path: str, body: Any, **params: Any) -> requests.Response:
        return self.session.patch(self.url + path, json=body, params=params, timeout=10)

    def delete(self, path: str, **params: Any) -> requests.Response:
        return self.session.delete(self.url + path, params=params, timeout=10)


@pytest.fixture(scope="module")
def sbx(sandboxes: Sandboxes) -> SpApiSandbox:
    return sandboxes.spapi


@pytest.fixture(scope="module")
def client(sbx: SpApiSandbox) -> Client:
    return Client(sbx.url)


@pytest.fixture
def fresh() -> Iterator[SpApiSandbox]:
    """A private sandbox (fast processing) for tests that change state or count requests."""
    sb = create_server(time_scale=1000.0, orders_per_day=20, days=3).start()
    try:
        yield sb
    finally:
        sb.shutdown()


def search_all(client: Client, **params: Any) -> list[dict[str, Any]]:
    orders: list[dict[str, Any]] = []
    resp = client.get("/orders/2026-01-01/orders", **params)
    while True:
        body = check(resp, "orders_2026-01-01.json", "searchOrders", 200)
        orders += body["orders"]
        token = body.get("pagination", {}).get("nextToken")
        if not token:
            return orders
        resp = client.get("/orders/2026-01-01/orders", paginationToken=token)


def wait_feed(client: Client, feed_id: str, timeout: float = 15) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        feed = check(client.get(f"/feeds/2021-06-30/feeds/{feed_id}"), "feeds_2021-06-30.json", "getFeed", 200)
        if feed["processingStatus"] in ("DONE", "FATAL", "CANCELLED") or time.monotonic() > deadline:
            return feed
        time.sleep(0.05)


def submit_feed(client: Client, document: bytes, feed_type: str, marketplace: str,
                content_type: str = "application/json; charset=UTF-8") -> str:
    doc = check(client.post("/feeds/2021-06-30/documents", {"contentType": content_type}),
                "feeds_2021-06-30.json", "createFeedDocument", 201)
    up = requests.put(doc["url"], data=document, headers={"Content-Type": content_type}, timeout=10)
    assert up.status_code == 200, up.text
    body = check(client.post("/feeds/2021-06-30/feeds", {"feedType": feed_type, "marketplaceIds": [marketplace],
                                                         "inputFeedDocumentId": doc["feedDocumentId"]}),
                 "feeds_2021-06-30.json", "createFeed", 202)
    return body["feedId"]


def download(client: Client, doc: dict[str, Any]) -> bytes:
    resp = requests.get(doc["url"], timeout=10)
    assert resp.status_code == 200
    return gzip.decompress(resp.content) if doc.get("compressionAlgorithm") == "GZIP" else resp.content


def money(m: dict[str, str]) -> Decimal:
    return Decimal(m["amount"])


# --- LWA and auth -----------------------------------------------------------------------------------
def test_lwa_issues_tokens_and_rejects_wrong_credentials(sbx: SpApiSandbox) -> None:
    ok = lwa(sbx.url)
    assert ok.status_code == 200
    body = ok.json()
    assert body["access_token"].startswith("Atza|") and body["expires_in"] == 3600 and body["token_type"] == "bearer"
    bad_secret = lwa(sbx.url, client_secret="wrong")
    assert bad_secret.status_code == 401 and bad_secret.json()["error"] == "invalid_client"
    bad_refresh = lwa(sbx.url, refresh_token="Atzr|nope")
    assert bad_refresh.status_code == 400 and bad_refresh.json()["error"] == "invalid_grant"
    both = lwa(sbx.url, scope="sellingpartnerapi::notifications")
    assert both.status_code == 400 and both.json()["error"] == "invalid_request"
    grantless = lwa(sbx.url, grant_type="client_credentials", refresh_token=None, scope="sellingpartnerapi::notifications")
    assert grantless.status_code == 200
    bad_scope = lwa(sbx.url, grant_type="client_credentials", refresh_token=None, scope="sellingpartnerapi::orders")
    assert bad_scope.status_code == 400 and bad_scope.json()["error"] == "invalid_scope"
    # a grantless token cannot read orders; a missing or forged token neither
    orders = sbx.url + f"/orders/2026-01-01/orders/{next(iter(sbx.state.orders))}"
    for headers in ({"x-amz-access-token": grantless.json()["access_token"]}, {}, {"x-amz-access-token": "Atza|forged"}):
        resp = requests.get(orders, headers=headers, timeout=10)
        err = check(resp, "orders_2026-01-01.json", "getOrder", 403)
        assert err["errors"][0]["code"] == "Unauthorized"


# --- Orders -----------------------------------------------------------------------------------------
def test_search_orders_pages_through_every_visible_order(sbx: SpApiSandbox, client: Client) -> None:
    start = sbx.now() - timedelta(days=4)
    orders = search_all(client, lastUpdatedAfter=start.isoformat(), marketplaceIds=UK, includedData=ALL_INCLUDED,
                        maxResultsPerPage=40)
    expected = {o.order_id for o in sbx.state.orders.values()
                if o.marketplace == "uk" and o.visible(sbx.now()) and o.last_updated(sbx.now()) <= sbx.now() - timedelta(minutes=2)}
    assert len(orders) >= 170 and {o["orderId"] for o in orders} == expected
    assert all(o["salesChannel"]["marketplaceId"] == UK for o in orders)
    stamps = [o["lastUpdatedTime"] for o in orders]
    assert stamps == sorted(stamps)
    statuses = {o["fulfillment"]["fulfillmentStatus"] for o in orders}
    assert {"UNSHIPPED", "SHIPPED", "CANCELLED", "PENDING_AVAILABILITY"} <= statuses
    assert {o["fulfillment"]["fulfilledBy"] for o in orders} == {"MERCHANT", "AMAZON"}


def test_search_orders_filters_and_echoes_window(sbx: SpApiSandbox, client: Client) -> None:
    after = (sbx.now() - timedelta(days=2)).isoformat()
    body = check(client.get("/orders/2026-01-01/orders", createdAfter=after, marketplaceIds=US,
                            fulfillmentStatuses="SHIPPED", fulfilledBy="AMAZON", includedData="FULFILLMENT"),
                 "orders_2026-01-01.json", "searchOrders", 200)
    assert body["orders"] and body["createdBefore"] == (sbx.now() - timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    for o in body["orders"]:
        assert o["fulfillment"]["fulfillmentStatus"] == "SHIPPED" and o["fulfillment"]["fulfilledBy"] == "AMAZON"
        assert o["createdTime"] >= after[:19]


@pytest.mark.parametrize("params, fragment", [
    ({"marketplaceIds": UK}, "Exactly one of createdAfter or lastUpdatedAfter"),
    ({"createdAfter": "2026-10-01T00:00:00Z", "lastUpdatedAfter": "2026-10-01T00:00:00Z"}, "Exactly one"),
    ({"createdAfter": "2026-10-01T00:00:00Z", "lastUpdatedBefore": "2026-10-02T00:00:00Z"}, "cannot be combined"),
    ({"lastUpdatedAfter": "2026-10-01T00:00:00Z", "lastUpdatedBefore": "2026-10-15T11:59:00Z"}, "at least 2 minutes"),
    ({"createdAfter": "TEST_CASE_400"}, "not a valid ISO 8601"),
    ({"createdAfter": "2026-10-01T00:00:00Z", "includedData": "EVERYTHING"}, "includedData"),
    ({"createdAfter": "2026-10-01T00:00:00Z", "maxResultsPerPage": "101"}, "maxResultsPerPage"),
    ({"createdAfter": "2026-10-01T00:00:00Z", "marketplaceIds": "A1NOTAMARKET"}, "marketplaceIds"),
])
def test_search_orders_rejects_invalid_input(client: Client, params: dict[str, str], fragment: str) -> None:
    err = check(client.get("/orders/2026-01-01/orders", **params), "orders_2026-01-01.json", "searchOrders", 400)
    assert err["errors"][0]["code"] == "InvalidInput" and fragment in err["errors"][0]["message"]


def test_get_order_pii_only_when_asked_and_proceeds_add_up(sbx: SpApiSandbox, client: Client) -> None:
    now = sbx.now()
    pii = set(sbx.pii_values())
    shipped = [o for o in sbx.state.orders.values() if o.visible(now) and o.status_at(now) == "SHIPPED"
               and o.fulfilled_by == "MERCHANT"][:3]
    for o in shipped:
        plain = check(client.get(f"/orders/2026-01-01/orders/{o.order_id}"), "orders_2026-01-01.json", "getOrder", 200)
        assert "buyer" not in plain["order"] and "recipient" not in plain["order"] and "proceeds" not in plain["order"]
        assert not any(v in json.dumps(plain) for v in pii)
        full = check(client.get(f"/orders/2026-01-01/orders/{o.order_id}", includedData=ALL_INCLUDED),
                     "orders_2026-01-01.json", "getOrder", 200)["order"]
        assert full["buyer"]["buyerName"] in pii and full["recipient"]["deliveryAddress"]["addressLine1"] in pii
        grand = Decimal(0)
        for item in full["orderItems"]:
            subtotals = [money(b["subtotal"]) for b in item["proceeds"]["breakdowns"]]
            assert sum(subtotals) == money(item["proceeds"]["proceedsTotal"])
            for b in item["proceeds"]["breakdowns"]:
                if "detailedBreakdowns" in b:
                    assert sum(money(d["value"]) for d in b["detailedBreakdowns"]) == money(b["subtotal"])
            grand += money(item["proceeds"]["proceedsTotal"])
        assert grand == money(full["proceeds"]["grandTotal"])
        assert full["packages"] and full["packages"][0]["packageItems"]
    missing = check(client.get("/orders/2026-01-01/orders/999-0000000-0000000"), "orders_2026-01-01.json", "getOrder", 404)
    assert missing["errors"][0]["code"] == "NotFound"


def test_tax_models_in_order_data(sbx: SpApiSandbox, client: Client) -> None:
    now = sbx.now()
    us = next(o for o in sbx.state.orders.values() if o.marketplace == "us" and o.visible(now)
              and o.status_at(now) == "SHIPPED")
    item = check(client.get(f"/orders/2026-01-01/orders/{us.order_id}", includedData="TAX"),
                 "orders_2026-01-01.json", "getOrder", 200)["order"]["orderItems"][0]
    assert item["tax"]["taxCollections"] == [{"model": "MARKETPLACE_FACILITATOR", "responsibleParty": "Amazon Services, Inc."}]
    deemed = next(o for o in sbx.state.orders.values() if o.marketplace in ("uk", "de") and o.reporting_scheme
                  and o.visible(now))
    item = check(client.get(f"/orders/2026-01-01/orders/{deemed.order_id}", includedData="TAX,FULFILLMENT"),
                 "orders_2026-01-01.json", "getOrder", 200)["order"]["orderItems"][0]
    assert item["tax"]["taxCalculationBreakdowns"] == [{"reportingScheme": deemed.reporting_scheme}]


def test_orders_progress_when_time_advances(fresh: SpApiSandbox) -> None:
    c = Client(fresh.url)
    now = fresh.now()
    fba = next(o for o in fresh.state.orders.values() if o.fulfilled_by == "AMAZON" and o.visible(now)
               and o.status_at(now) in ("PENDING", "UNSHIPPED") and o.status_at(now + timedelta(days=2)) == "SHIPPED")
    before = check(c.get(f"/orders/2026-01-01/orders/{fba.order_id}", includedData="FULFILLMENT"),
                   "orders_2026-01-01.json", "getOrder", 200)["order"]
    fresh.advance(2 * 24 * 60)
    after = check(c.get(f"/orders/2026-01-01/orders/{fba.order_id}", includedData="FULFILLMENT"),
                  "orders_2026-01-01.json", "getOrder", 200)["order"]
    assert after["fulfillment"]["fulfillmentStatus"] == "SHIPPED"
    assert after["lastUpdatedTime"] > before["lastUpdatedTime"]
    # orders created after the old "now" appear
    new = [o for o in fresh.state.orders.values() if now < o.created <= fresh.now()]
    assert new and check(c.get(f"/orders/2026-01-01/orders/{new[0].order_id}"), "orders_2026-01-01.json",
                         "getOrder", 200)


def test_confirm_shipment(fresh: SpApiSandbox) -> None:
    c = Client(fresh.url)
    now = fresh.now()
    mfn = next(o for o in fresh.state.orders.values() if o.fulfilled_by == "MERCHANT" and o.visible(now)
               and o.status_at(now) == "UNSHIPPED" and len(o.active_lines(now)) == 1)
    ln = mfn.active_lines(now)[0]
    path = f"/orders/v0/orders/{mfn.order_id}/shipmentConfirmation"
    body = {"marketplaceId": mfn.mp.marketplace_id,
            "packageDetail": {"packageReferenceId": "PKG-1", "carrierCode": "Royal Mail", "trackingNumber": "RM1",
                              "shipDate": now.isoformat(), "orderItems": [{"orderItemId": ln.order_item_id,
                                                                           "quantity": ln.quantity}]}}
    check(c.post(path, body), "orders_v0.json", "confirmShipment", 204)
    check(c.post(path, body), "orders_v0.json", "confirmShipment", 204)  # same packageReferenceId: an edit
    assert len(mfn.packages) == 1
    order = check(c.get(f"/orders/2026-01-01/orders/{mfn.order_id}", includedData="FULFILLMENT,PACKAGES"),
                  "orders_2026-01-01.json", "getOrder", 200)["order"]
    assert order["fulfillment"]["fulfillmentStatus"] == "SHIPPED" and order["packages"][0]["trackingNumber"] == "RM1"
    more = json.loads(json.dumps(body))
    more["packageDetail"]["packageReferenceId"] = "PKG-2"
    err = check(c.post(path, more), "orders_v0.json", "confirmShipment", 400)
    assert "exceeds" in err["errors"][0]["message"]
    for change, fragment in ((("carrierCode", None), "carrierCode is required"),
                             (("carrierCode", "Pigeon"), "not a valid carrier code"),
                             (("orderItems", [{"orderItemId": "123", "quantity": 1}]), "not an open item")):
        bad = json.loads(json.dumps(body))
        bad["packageDetail"][change[0]] = change[1]
        err = check(c.post(path, bad), "orders_v0.json", "confirmShipment", 400)
        assert fragment in err["errors"][0]["message"]
    fba = next(o for o in fresh.state.orders.values() if o.fulfilled_by == "AMAZON" and o.visible(now))
    err = check(c.post(f"/orders/v0/orders/{fba.order_id}/shipmentConfirmation",
                       {"marketplaceId": fba.mp.marketplace_id, "packageDetail": body["packageDetail"]}),
                "orders_v0.json", "confirmShipment", 400)
    assert "fulfilled by Amazon" in err["errors"][0]["message"]
    shipments = requests.get(fresh.url + "/_sandbox/shipments", timeout=10).json()
    assert [s["orderId"] for s in shipments["confirmations"]] == [mfn.order_id, mfn.order_id]


# --- Feeds and listings -----------------------------------------------------------------------------
def _listings_feed(messages: list[dict[str, Any]], report: bool = True) -> bytes:
    header: dict[str, Any] = {"sellerId": creds.SELLER_ID, "version": "2.0", "issueLocale": "en_US"}
    if report:
        header["report"] = {"includedData": ["issues", "fulfillmentAvailability", "attributes"], "apiVersion": "2021-08-01"}
    doc = {"header": header, "messages": messages}
    valid = [m for m in messages if m["messageId"] != 5]  # message 5 is deliberately invalid
    schema_validate("schema_feed_json_listings_feed_v2.json", {"header": header, "messages": valid})
    return json.dumps(doc).encode()


def _kitchen_attributes(mid: str, lang: str, currency: str) -> dict[str, Any]:
    return {
        "item_name": [{"value": "Sandbox Chef Knife", "language_tag": lang, "marketplace_id": mid}],
        "brand": [{"value": "Sandbox Brand", "language_tag": lang, "marketplace_id": mid}],
        "product_description": [{"value": "A sharp knife.", "language_tag": lang, "marketplace_id": mid}],
        "bullet_point": [{"value": "Stainless steel", "language_tag": lang, "marketplace_id": mid}],
        "condition_type": [{"value": "new_new", "marketplace_id": mid}],
        "main_product_image_locator": [{"media_location": "https://images.example.com/knife.jpg", "marketplace_id": mid}],
        "country_of_origin": [{"value": "DE", "marketplace_id": mid}],
        "batteries_required": [{"value": False, "marketplace_id": mid}],
        "supplier_declared_dg_hz_regulation": [{"value": "not_applicable", "marketplace_id": mid}],
        "material": [{"value": "Steel", "language_tag": lang, "marketplace_id": mid}],
        "externally_assigned_product_identifier": [{"type": "ean", "value": "5000000000017", "marketplace_id": mid}],
        "purchasable_offer": [{"marketplace_id": mid, "currency": currency, "audience": "ALL",
                               "our_price": [{"schedule": [{"value_with_tax": 24.99}]}]}],
        "fulfillment_availability": [{"fulfillment_channel_code": "DEFAULT", "quantity": 5}],
    }


def test_json_listings_feed_processing_report(fresh: SpApiSandbox) -> None:
    c = Client(fresh.url)
    ctl = requests.post(fresh.url + "/_sandbox/control", json={"reject_skus": ["SKU-00008"]}, timeout=10)
    assert ctl.status_code == 200
    mfn_kitchen = next(i for i in catalog.sellable_items() if i.category == "Kitchen" and not i.fba_marketplaces)
    messages = [
        {"messageId": 1, "sku": "NEW-KNIFE-1", "operationType": "UPDATE", "productType": "KITCHEN",
         "attributes": _kitchen_attributes(UK, "en_GB", "GBP")},
        {"messageId": 2, "sku": mfn_kitchen.sku, "operationType": "PATCH", "productType": "KITCHEN",
         "patches": [{"op": "merge", "path": "/attributes/fulfillment_availability",
                      "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": 42}]}]},
        {"messageId": 3, "sku": "NEW-KNIFE-2", "operationType": "UPDATE", "productType": "KITCHEN",
         "attributes": {"item_name": [{"value": "No brand", "language_tag": "en_GB"}]}},
        {"messageId": 4, "sku": "SKU-00008", "operationType": "PATCH", "productType": "KITCHEN",
         "patches": [{"op": "replace", "path": "/attributes/fulfillment_availability",
                      "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": 1}]}]},
        {"messageId": 5, "sku": "NEW-KNIFE-3", "operationType": "PATCH", "productType": "KITCHEN",
         "attributes": {"item_name": []}},
        {"messageId": 6, "sku": mfn_kitchen.sku, "operationType": "PATCH", "productType": "KITCHEN",
         "patches": [{"op": "replace", "path": "/attributes/purchasable_offer",
                      "value": [{"marketplace_id": UK, "currency": "EUR", "our_price": [{"schedule": [{"value_with_tax": 1}]}]}]}]},
    ]
    feed_id = submit_feed(c, _listings_feed(messages, report=True), "JSON_LISTINGS_FEED", UK)
    feed = wait_feed(c, feed_id)
    assert feed["processingStatus"] == "DONE" and feed["resultFeedDocumentId"]
    doc = check(c.get(f"/feeds/2021-06-30/documents/{feed['resultFeedDocumentId']}"), "feeds_2021-06-30.json",
                "getFeedDocument", 200)
    report = json.loads(download(c, doc))
    schema_validate("schema_feed_listings_processing_report_v2.json", report)
    assert report["header"] == {"sellerId": creds.SELLER_ID, "version": "2.0", "feedId": feed_id,
                                "report": {"includedData": ["issues", "fulfillmentAvailability", "attributes"],
                                           "apiVersion": "2021-08-01"}}
    by_message: dict[int, list[dict[str, Any]]] = {}
    for issue in report["issues"]:
        by_message.setdefault(issue["messageId"], []).append(issue)
    assert set(by_message) == {3, 4, 5, 6}
    assert {i["attributeName"] for i in by_message[3]} >= {"brand", "condition_type", "material"}
    assert by_message[4][0]["code"] == "8541"
    assert report["summary"]["messagesProcessed"] == 6 and report["summary"]["messagesAccepted"] == 2
    assert report["summary"]["messagesInvalid"] == 4
    assert report["summary"]["errors"] == sum(1 for i in report["issues"] if i["severity"] == "ERROR")
    assert {it["sku"] for it in report["items"]} == {"NEW-KNIFE-1", mfn_kitchen.sku}
    listings = requests.get(fresh.url + "/_sandbox/listings", params={"marketplaceId": UK}, timeout=10).json()["listings"]
    state = {(lst["sku"]): lst for lst in listings}
    assert state["NEW-KNIFE-1"]["productType"] == "KITCHEN" and "BUYABLE" in state["NEW-KNIFE-1"]["status"]
    assert state[mfn_kitchen.sku]["attributes"]["fulfillment_availability"] == [
        {"fulfillment_channel_code": "DEFAULT", "quantity": 42}]
    assert "NEW-KNIFE-2" not in state
    feeds = requests.get(fresh.url + "/_sandbox/feeds", timeout=10).json()["feeds"]
    assert feeds[0]["document"]["messages"][0]["sku"] == "NEW-KNIFE-1" and feeds[0]["processingReport"] == report
    listed = check(c.get("/feeds/2021-06-30/feeds", feedTypes="JSON_LISTINGS_FEED"), "feeds_2021-06-30.json",
                   "getFeeds", 200)
    assert [f["feedId"] for f in listed["feeds"]] == [feed_id]


def test_feed_fatal_upload_rules_and_cancel() -> None:
    sb = create_server(time_scale=1.0, orders_per_day=5, days=1, feed_queue_seconds=3600.0).start()
    try:
        c = Client(sb.url)
        doc = check(c.post("/feeds/2021-06-30/documents", {"contentType": "application/json; charset=UTF-8"}),
                    "feeds_2021-06-30.json", "createFeedDocument", 201)
        wrong_type = requests.put(doc["url"], data=b"{}", headers={"Content-Type": "text/plain"}, timeout=10)
        assert wrong_type.status_code == 403 and b"SignatureDoesNotMatch" in wrong_type.content
        forged = requests.put(doc["url"].replace("X-Amz-Signature=", "X-Amz-Signature=0"), data=b"{}",
                              headers={"Content-Type": "application/json; charset=UTF-8"}, timeout=10)
        assert forged.status_code == 403
        err = check(c.post("/feeds/2021-06-30/feeds", {"feedType": "JSON_LISTINGS_FEED", "marketplaceIds": [UK],
                                                       "inputFeedDocumentId": doc["feedDocumentId"]}),
                    "feeds_2021-06-30.json", "createFeed", 400)
        assert "has no content" in err["errors"][0]["message"]
        feed_id = submit_feed(c, gzip.compress(b"not json"), "JSON_LISTINGS_FEED", UK)
        check(c.delete(f"/feeds/2021-06-30/feeds/{feed_id}"), "feeds_2021-06-30.json", "cancelFeed", 200)
        assert check(c.get(f"/feeds/2021-06-30/feeds/{feed_id}"), "feeds_2021-06-30.json", "getFeed", 200)[
            "processingStatus"] == "CANCELLED"
        err = check(c.delete(f"/feeds/2021-06-30/feeds/{feed_id}"), "feeds_2021-06-30.json", "cancelFeed", 400)
        assert "only feeds IN_QUEUE" in err["errors"][0]["message"]
        # JSON_LISTINGS_FEED feed-type throttle: 5 per 5 minutes per region (one already used)
        statuses = []
        for _ in range(5):
            d = c.post("/feeds/2021-06-30/documents", {"contentType": "application/json; charset=UTF-8"}).json()
            requests.put(d["url"], data=b"{}", headers={"Content-Type": "application/json; charset=UTF-8"}, timeout=10)
            statuses.append(c.post("/feeds/2021-06-30/feeds", {"feedType": "JSON_LISTINGS_FEED", "marketplaceIds": [UK],
                                                              "inputFeedDocumentId": d["feedDocumentId"]}))
        assert [r.status_code for r in statuses] == [202, 202, 202, 202, 429]
        check(statuses[-1], "feeds_2021-06-30.json", "createFeed", 429)
        err = check(c.get("/feeds/2021-06-30/feeds/0"), "feeds_2021-06-30.json", "getFeed", 404)
        assert err["errors"][0]["code"] == "NotFound"
        err = check(c.get("/feeds/2021-06-30/feeds", feedTypes="JSON_LISTINGS_FEED", nextToken="x"),
                    "feeds_2021-06-30.json", "getFeeds", 400)
        assert "nextToken must be the only parameter" in err["errors"][0]["message"]
    finally:
        sb.shutdown()


def test_invalid_feed_document_is_fatal_with_a_report(fresh: SpApiSandbox) -> None:
    c = Client(fresh.url)
    feed_id = submit_feed(c, gzip.compress(b"{not json"), "JSON_LISTINGS_FEED", DE)
    feed = wait_feed(c, feed_id)
    assert feed["processingStatus"] == "FATAL"
    doc = check(c.get(f"/feeds/2021-06-30/documents/{feed['resultFeedDocumentId']}"), "feeds_2021-06-30.json",
                "getFeedDocument", 200)
    report = json.loads(download(c, doc))
    schema_validate("schema_feed_listings_processing_report_v2.json", report)
    assert "not valid UTF-8 JSON" in report["issues"][0]["message"]


def test_order_acknowledgement_feed_sets_seller_order_id(fresh: SpApiSandbox) -> None:
    c = Client(fresh.url)
    now = fresh.now()
    order = next(o for o in fresh.state.orders.values() if o.marketplace == "de" and o.visible(now)
                 and o.status_at(now) == "UNSHIPPED")
    xml = (f'<?xml version="1.0"?><AmazonEnvelope><Header><DocumentVersion>1.01</DocumentVersion>'
           f"<MerchantIdentifier>{creds.SELLER_ID}</MerchantIdentifier></Header>"
           "<MessageType>OrderAcknowledgement</MessageType>"
           f"<Message><MessageID>1</MessageID><OrderAcknowledgement><AmazonOrderID>{order.order_id}</AmazonOrderID>"
           "<MerchantOrderID>SO-12345</MerchantOrderID><StatusCode>Success</StatusCode></OrderAcknowledgement></Message>"
           "<Message><MessageID>2</MessageID><OrderAcknowledgement><AmazonOrderID>302-0000000-0000000</AmazonOrderID>"
           "<StatusCode>Success</StatusCode></OrderAcknowledgement></Message></AmazonEnvelope>")
    feed_id = submit_feed(c, xml.encode(), "POST_ORDER_ACKNOWLEDGEMENT_DATA", DE, "text/xml; charset=UTF-8")
    feed = wait_feed(c, feed_id)
    assert feed["processingStatus"] == "DONE"
    doc = check(c.get(f"/feeds/2021-06-30/documents/{feed['resultFeedDocumentId']}"), "feeds_2021-06-30.json",
                "getFeedDocument", 200)
    report = download(c, doc).decode()
    assert "<MessagesProcessed>2</MessagesProcessed>" in report and "<MessagesSuccessful>1</MessagesSuccessful>" in report
    got = check(c.get(f"/orders/2026-01-01/orders/{order.order_id}"), "orders_2026-01-01.json", "getOrder", 200)
    assert got["order"]["orderAliases"] == [{"aliasId": "SO-12345", "aliasType": "SELLER_ORDER_ID"}]
    acks = requests.get(fresh.url + "/_sandbox/shipments", timeout=10).json()["acknowledgements"]
    assert [(a["orderId"], a["merchantOrderId"]) for a in acks] == [(order.order_id, "SO-12345")]


def test_listings_items_api(fresh: SpApiSandbox) -> None:
    c = Client(fresh.url)
    base = f"/listings/2021-08-01/items/{creds.SELLER_ID}"
    attrs = _kitchen_attributes(US, "en_US", "USD")
    preview = check(c.put(f"{base}/LST-1", {"productType": "KITCHEN", "attributes": attrs}, marketplaceIds=US,
                          mode="VALIDATION_PREVIEW"), "listings_items_2021-08-01.json", "putListingsItem", 200)
    assert preview["status"] == "VALID" and preview["issues"] == []
    assert check(c.get(f"{base}/LST-1", marketplaceIds=US), "listings_items_2021-08-01.json", "getListingsItem", 404)
    invalid = check(c.put(f"{base}/LST-1", {"productType": "KITCHEN", "attributes": {**attrs, "brand": []}},
                          marketplaceIds=US, mode="VALIDATION_PREVIEW"), "listings_items_2021-08-01.json",
                    "putListingsItem", 200)
    assert invalid["status"] == "INVALID" and invalid["issues"][0]["attributeNames"] == ["brand"]
    put = check(c.put(f"{base}/LST-1", {"productType": "KITCHEN", "attributes": attrs}, marketplaceIds=US,
                      includedData="identifiers"), "listings_items_2021-08-01.json", "putListingsItem", 200)
    assert put["status"] == "ACCEPTED" and put["identifiers"][0]["marketplaceId"] == US
    patched = check(c.patch(f"{base}/LST-1", {"productType": "KITCHEN", "patches": [
        {"op": "replace", "path": "/attributes/purchasable_offer",
         "value": [{"marketplace_id": US, "currency": "USD", "our_price": [{"schedule": [{"value_with_tax": 19.5}]}]}]}]},
        marketplaceIds=US), "listings_items_2021-08-01.json", "patchListingsItem", 200)
    assert patched["status"] == "ACCEPTED"
    item = check(c.get(f"{base}/LST-1", marketplaceIds=US, includedData="summaries,attributes,offers,fulfillmentAvailability,issues,productTypes,relationships,procurement"),
                 "listings_items_2021-08-01.json", "getListingsItem", 200)
    assert item["offers"][0]["price"] == {"currencyCode": "USD", "amount": "19.5"}
    assert item["summaries"][0]["status"] == ["BUYABLE", "DISCOVERABLE"]
    bad_patch = check(c.patch(f"{base}/LST-1", {"productType": "KITCHEN", "patches": [
        {"op": "replace", "path": "/attributes/item_name/0/value", "value": [{"value": "x"}]}]}, marketplaceIds=US),
        "listings_items_2021-08-01.json", "patchListingsItem", 200)
    assert bad_patch["status"] == "INVALID" and "top-level" in bad_patch["issues"][0]["message"]
    deleted = check(c.delete(f"{base}/LST-1", marketplaceIds=US), "listings_items_2021-08-01.json",
                    "deleteListingsItem", 200)
    assert deleted["status"] == "ACCEPTED"
    check(c.get(f"{base}/LST-1", marketplaceIds=US), "listings_items_2021-08-01.json", "getListingsItem", 404)
    err = check(c.put(f"{base}/LST-1", {"productType": "KITCHEN"}, marketplaceIds=US), "listings_items_2021-08-01.json",
                "putListingsItem", 400)
    assert "attributes" in err["errors"][0]["message"]


def test_product_type_definitions_and_schema_documents(client: Client) -> None:
    for ptype in ("KITCHEN", "SHIRT", "TOY_FIGURE", "HOME"):
        body = check(client.get(f"/definitions/2020-09-01/productTypes/{ptype}", marketplaceIds=DE,
                                requirements="LISTING", locale="DEFAULT"),
                     "product_type_definitions_2020-09-01.json", "getDefinitionsProductType", 200)
        assert body["productType"] == ptype and body["locale"] == "de_DE" and body["requirementsEnforced"] == "ENFORCED"
        schema_resp = requests.get(body["schema"]["link"]["resource"], timeout=10)
        schema = schema_resp.json()
        assert schema["$schema"] == "https://schemas.amazon.com/selling-partners/definitions/product-types/meta-schema/v1"
        Draft201909Validator.check_schema(schema)
        assert "item_name" in schema["required"] and schema["$defs"]["marketplace_id"]["enum"] == [DE]
        location = schema["properties"]["main_product_image_locator"]["items"]["properties"]["media_location"]
        assert (location["minImageWidth"], location["minImageHeight"]) == (500, 500)
        meta = requests.get(body["metaSchema"]["link"]["resource"], timeout=10).json()
        Draft201909Validator.check_schema(meta)
    shirt = requests.get(check(client.get("/definitions/2020-09-01/productTypes/SHIRT", marketplaceIds=UK),
                               "product_type_definitions_2020-09-01.json", "getDefinitionsProductType", 200)
                         ["schema"]["link"]["resource"], timeout=10).json()
    assert shirt["properties"]["variation_theme"]["items"]["properties"]["name"]["enum"][0] == "SIZE"
    relaxed = check(client.get("/definitions/2020-09-01/productTypes/HOME", marketplaceIds=UK,
                               requirementsEnforced="NOT_ENFORCED"),
                    "product_type_definitions_2020-09-01.json", "getDefinitionsProductType", 200)
    assert "required" not in requests.get(relaxed["schema"]["link"]["resource"], timeout=10).json()
    check(client.get("/definitions/2020-09-01/productTypes/LUGGAGE", marketplaceIds=UK),
          "product_type_definitions_2020-09-01.json", "getDefinitionsProductType", 404)
    check(client.get("/definitions/2020-09-01/productTypes/HOME", marketplaceIds=f"{UK},{DE}"),
          "product_type_definitions_2020-09-01.json", "getDefinitionsProductType", 400)
    found = check(client.get("/definitions/2020-09-01/productTypes", marketplaceIds=UK, keywords="shirt"),
                  "product_type_definitions_2020-09-01.json", "searchDefinitionsProductTypes", 200)
    assert [p["name"] for p in found["productTypes"]] == ["SHIRT"]


# --- FBA inventory ----------------------------------------------------------------------------------
def test_fba_inventory_summaries_pagination_and_expiry() -> None:
    sb = create_server(time_scale=100.0, catalog_size=200, orders_per_day=5, days=1).start()
    try:
        c = Client(sb.url)
        params = {"granularityType": "Marketplace", "granularityId": US, "marketplaceIds": US, "details": "true"}
        first = check(c.get("/fba/inventory/v1/summaries", **params), "fba_inventory_v1.json",
                      "getInventorySummaries", 200)
        assert len(first["payload"]["inventorySummaries"]) == 50 and first["pagination"]["nextToken"]
        row = first["payload"]["inventorySummaries"][0]
        d = row["inventoryDetails"]
        assert row["totalQuantity"] == (d["fulfillableQuantity"] + d["inboundWorkingQuantity"] + d["inboundShippedQuantity"]
                                        + d["inboundReceivingQuantity"] + d["reservedQuantity"]["totalReservedQuantity"]
                                        + d["researchingQuantity"]["totalResearchingQuantity"]
                                        + d["unfulfillableQuantity"]["totalUnfulfillableQuantity"])
        second = check(c.get("/fba/inventory/v1/summaries", nextToken=first["pagination"]["nextToken"]),
                       "fba_inventory_v1.json", "getInventorySummaries", 200)
        fba_us = [i.sku for i in catalog.sellable_items(42, 200) if "us" in i.fba_marketplaces]
        assert len(first["payload"]["inventorySummaries"]) + len(second["payload"]["inventorySummaries"]) == len(fba_us)
        assert "pagination" not in second
        # the nextToken expires after 30 s (0.3 s at time_scale 100, but never sooner than 2 s real time)
        again = check(c.get("/fba/inventory/v1/summaries", **params), "fba_inventory_v1.json", "getInventorySummaries", 200)
        time.sleep(2.3)
        expired = check(c.get("/fba/inventory/v1/summaries", nextToken=again["pagination"]["nextToken"]),
                        "fba_inventory_v1.json", "getInventorySummaries", 400)
        assert "expired" in expired["errors"][0]["message"]
        sb.set_fba_quantity(fba_us[0], "us", fulfillable=7, inbound_shipped=0)
        one = check(c.get("/fba/inventory/v1/summaries", sellerSkus=fba_us[0], **params), "fba_inventory_v1.json",
                    "getInventorySummaries", 200)
        assert one["payload"]["inventorySummaries"][0]["inventoryDetails"]["fulfillableQuantity"] == 7
        too_many = ",".join(fba_us[:51]) if len(fba_us) > 50 else ",".join(f"S{i}" for i in range(51))
        check(c.get("/fba/inventory/v1/summaries", sellerSkus=too_many, **params), "fba_inventory_v1.json",
              "getInventorySummaries", 400)
        inv = requests.get(sb.url + "/_sandbox/inventory", params={"marketplace": "us"}, timeout=10).json()["inventory"]
        assert next(r for r in inv if r["sku"] == fba_us[0])["fulfillable"] == 7
    finally:
        sb.shutdown()


# --- Reports and settlement -------------------------------------------------------------------------
def _parse_amount(text: str, eu: bool) -> Decimal:
    return Decimal(text.replace(",", ".") if eu else text)


def test_settlement_reports_listed_downloaded_and_consistent(sbx: SpApiSandbox, client: Client) -> None:
    listed = check(client.get("/reports/2021-06-30/reports", reportTypes="GET_V2_SETTLEMENT_REPORT_DATA_FLAT_FILE_V2",
                              pageSize=2), "reports_2021-06-30.json", "getReports", 200)
    assert len(listed["reports"]) == 2 and listed["nextToken"]
    err = check(client.get("/reports/2021-06-30/reports", nextToken=listed["nextToken"], pageSize=2),
                "reports_2021-06-30.json", "getReports", 400)
    assert "nextToken must be the only parameter" in err["errors"][0]["message"]
    rest = check(client.get("/reports/2021-06-30/reports", nextToken=listed["nextToken"]), "reports_2021-06-30.json",
                 "getReports", 200)
    reports = listed["reports"] + rest["reports"]
    assert sorted(r["marketplaceIds"][0] for r in reports) == sorted([UK, DE, US])
    order_ids = set(sbx.state.orders)
    for summary in reports:
        report = check(client.get(f"/reports/2021-06-30/reports/{summary['reportId']}"), "reports_2021-06-30.json",
                       "getReport", 200)
        assert report["processingStatus"] == "DONE"
        doc = check(client.get(f"/reports/2021-06-30/documents/{report['reportDocumentId']}"),
                    "reports_2021-06-30.json", "getReportDocument", 200)
        raw = requests.get(doc["url"], timeout=10)
        data = gzip.decompress(raw.content) if doc.get("compressionAlgorithm") == "GZIP" else raw.content
        charset = raw.headers["Content-Type"].split("charset=")[1]
        rows = [line.split("\t") for line in data.decode(charset).splitlines()]
        header, first, body = rows[0], rows[1], rows[2:]
        assert len(header) == 24 and header[-1] == "promotion-id" and header[17] == "posted-date-time"
        eu = report["marketplaceIds"][0] != US
        total = _parse_amount(first[4], eu)
        assert sum(_parse_amount(r[14], eu) for r in body) == total
        assert all(r[4] == "" for r in body)
        if eu:
            assert all("," in r[14] and "." not in r[14] for r in body)
        assert {r[7] for r in body if r[7]} <= order_ids
        kinds = {(r[6], r[12], r[13]) for r in body}
        assert ("Order", "ItemPrice", "Principal") in kinds and ("Order", "ItemFees", "Commission") in kinds
        assert any(k[0] == "Refund" for k in kinds) and any(k[0] == "A-to-z Guarantee Refund" for k in kinds)
        assert ("other-transaction", "other-transaction", "Current Reserve Amount") in kinds
        if not eu:
            assert ("Order", "ItemWithheldTax", "MarketplaceFacilitatorTax-Principal") in kinds


def test_create_report_refuses_settlement_and_builds_order_reports(sbx: SpApiSandbox, client: Client) -> None:
    err = check(client.post("/reports/2021-06-30/reports", {"reportType": "GET_V2_SETTLEMENT_REPORT_DATA_FLAT_FILE_V2",
                                                            "marketplaceIds": [UK]}),
                "reports_2021-06-30.json", "createReport", 400)
    assert "cannot be requested" in err["errors"][0]["message"]
    start = (sbx.now() - timedelta(days=2)).isoformat()
    created = check(client.post("/reports/2021-06-30/reports", {
        "reportType": "GET_FLAT_FILE_ALL_ORDERS_DATA_BY_ORDER_DATE_GENERAL", "marketplaceIds": [UK],
        "dataStartTime": start}), "reports_2021-06-30.json", "createReport", 202)
    deadline = time.monotonic() + 10
    while True:
        report = check(client.get(f"/reports/2021-06-30/reports/{created['reportId']}"), "reports_2021-06-30.json",
                       "getReport", 200)
        if report["processingStatus"] == "DONE" or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert report["processingStatus"] == "DONE"
    doc = check(client.get(f"/reports/2021-06-30/documents/{report['reportDocumentId']}"), "reports_2021-06-30.json",
                "getReportDocument", 200)
    lines = download(client, doc).decode().splitlines()
    assert lines[0].startswith("amazon-order-id\tmerchant-order-id\tpurchase-date")
    assert len(lines) > 50 and not any(v in "\n".join(lines) for v in sbx.pii_values())


def test_list_transactions_match_settlement(sbx: SpApiSandbox, client: Client) -> None:
    settlement = next(s for s in sbx.state.settlements.values() if s.marketplace == "uk")
    body = check(client.get("/finances/2024-06-19/transactions", relatedIdentifierName="FINANCIAL_EVENT_GROUP_ID",
                            relatedIdentifierValue=settlement.settlement_id), "finances_2024-06-19.json",
                 "listTransactions", 200)
    txns = body["payload"]["transactions"]
    while "nextToken" in body["payload"]:
        body = check(client.get("/finances/2024-06-19/transactions", nextToken=body["payload"]["nextToken"]),
                     "finances_2024-06-19.json", "listTransactions", 200)
        txns += body["payload"]["transactions"]
    total = sum(Decimal(str(t["totalAmount"]["currencyAmount"])) for t in txns)
    assert total == settlement.total
    assert {t["transactionType"] for t in txns} >= {"Shipment", "Refund", "Adjustment", "ServiceFee"}
    check(client.get("/finances/2024-06-19/transactions"), "finances_2024-06-19.json", "listTransactions", 400)


# --- rate limits and faults -------------------------------------------------------------------------
def test_rate_limit_returns_429_once_burst_is_exhausted() -> None:
    sb = create_server(time_scale=1.0, orders_per_day=2, days=1).start()
    try:
        c = Client(sb.url)
        params = {"createdAfter": (sb.now() - timedelta(days=1)).isoformat(), "maxResultsPerPage": 1}
        codes = []
        for _ in range(21):  # searchOrders: burst 20, refill 0.0056/s (one token per ~3 minutes)
            resp = c.get("/orders/2026-01-01/orders", **params)
            codes.append(resp.status_code)
            if resp.status_code == 200:
                assert resp.headers["x-amzn-RateLimit-Limit"] == "0.0056"
        assert codes == [200] * 20 + [429]
        body = check(resp, "orders_2026-01-01.json", "searchOrders", 429)
        assert body == {"errors": [{"code": "QuotaExceeded", "message": "You exceeded your quota for the requested resource."}]}
        assert "x-amzn-RateLimit-Limit" not in resp.headers
        stats = requests.get(sb.url + "/_sandbox/stats", timeout=10).json()["operations"]["searchOrders"]
        assert stats["requests"] == 21 and stats["throttled"] == 1
        assert c.get("/orders/2026-01-01/orders/" + next(iter(sb.state.orders))).status_code in (200, 404)
    finally:
        sb.shutdown()


def _fault_run(seed: int) -> list[str]:
    faults = {"rate": 0.5, "kinds": ["429", "5xx", "drop", "expired_token"], "seed": seed, "storm_length": 2}
    sb = create_server(time_scale=1000.0, orders_per_day=2, days=1, faults=faults).start()
    try:
        outcomes = []
        token = lwa(sb.url).json()["access_token"]
        for _ in range(20):
            try:
                resp = requests.get(sb.url + "/fba/inventory/v1/summaries", headers={"x-amz-access-token": token},
                                    params={"granularityType": "Marketplace", "granularityId": UK, "marketplaceIds": UK},
                                    timeout=5)
                if resp.status_code == 403:
                    assert "expired" in resp.json()["errors"][0]["details"]
                    token = lwa(sb.url).json()["access_token"]
                outcomes.append(str(resp.status_code))
            except requests.ConnectionError:
                outcomes.append("drop")
        return outcomes
    finally:
        sb.shutdown()


def test_faults_are_deterministic_and_varied() -> None:
    first, second = _fault_run(6), _fault_run(6)
    assert first == second
    # seed 6 draws every kind within 20 requests: storms of 429, 5xx, dropped connections, expired tokens
    assert {"200", "429", "drop", "403"} <= set(first) and ({"500", "503"} & set(first))
    assert _fault_run(9) != first


def test_expired_pagination_fault() -> None:
    sb = create_server(time_scale=1000.0, orders_per_day=30, days=1,
                       faults={"operations": {"searchOrders": 1.0}, "kinds": ["expired_pagination"]}).start()
    try:
        c = Client(sb.url)
        first = check(c.get("/orders/2026-01-01/orders", createdAfter=(sb.now() - timedelta(days=1)).isoformat(),
                            maxResultsPerPage=5), "orders_2026-01-01.json", "searchOrders", 200)
        err = check(c.get("/orders/2026-01-01/orders", paginationToken=first["pagination"]["nextToken"]),
                    "orders_2026-01-01.json", "searchOrders", 400)
        assert err["errors"][0]["message"] == "The paginationToken has expired."
    finally:
        sb.shutdown()


def test_inspection_and_control(sbx: SpApiSandbox) -> None:
    stats = requests.get(sbx.url + "/_sandbox/stats", timeout=10).json()
    assert stats["operations"]["lwaToken"]["requests"] >= 1 and stats["timeScale"] == 100.0
    orders = requests.get(sbx.url + "/_sandbox/orders", params={"marketplace": "us"}, timeout=10).json()
    assert orders["orders"] and {o["marketplace"] for o in orders["orders"]} == {"us"}
    bad = requests.post(sbx.url + "/_sandbox/control", json={"explode": True}, timeout=10)
    assert bad.status_code == 400 and "unknown control action" in bad.json()["error"]
    missing = requests.get(sbx.url + "/_sandbox/nothing", timeout=10)
    assert missing.status_code == 404
    settlements = requests.get(sbx.url + "/_sandbox/settlements", timeout=10).json()["settlements"]
    assert {s["marketplace"] for s in settlements} >= {"uk", "de", "us"}


def test_connection_env_points_at_the_sandbox(sandboxes: Sandboxes, spapi_env: dict[str, str]) -> None:
    conn = json.loads(spapi_env["AIRFLOW_CONN_AMAZON_SP_API_DEFAULT"])
    assert conn["conn_type"] == "amazon_sp_api" and conn["login"] == creds.LWA_CLIENT_ID
    extra = conn["extra"]
    assert extra["endpoint"] == sandboxes.spapi_url and extra["lwa_token_url"] == sandboxes.spapi_url + "/auth/o2/token"
    assert extra["rate_limit_time_scale"] == 100.0 and extra["seller_id"] == creds.SELLER_ID
    token = requests.post(extra["lwa_token_url"], data={"grant_type": "refresh_token", "refresh_token": extra["refresh_token"],
                                                        "client_id": conn["login"], "client_secret": conn["password"]},
                          timeout=10)
    assert token.status_code == 200
    if sandboxes.netsuite is not None:
        ns = json.loads(spapi_env["AIRFLOW_CONN_NETSUITE_DEFAULT"])
        assert ns["conn_type"] == "netsuite" and ns["extra"]["base_url"] == sandboxes.netsuite_url
        assert ns["extra"]["auth_type"] == "oauth2" and ns["extra"]["concurrency"] == 5


def test_add_settlement_python_api_and_control(fresh: SpApiSandbox) -> None:
    c = Client(fresh.url)
    now = fresh.now()
    mfn = next(o for o in fresh.state.orders.values() if o.marketplace == "us" and o.fulfilled_by == "MERCHANT"
               and o.visible(now) and o.status_at(now) == "UNSHIPPED" and all(ln.unit_price for ln in o.lines))
    fresh.update_order(mfn.order_id, status="SHIPPED")
    fresh.advance(60)
    report_id = fresh.add_settlement("us", extra_lines=250)
    text = fresh.settlement_text(report_id)
    rows = [line.split("\t") for line in text.splitlines()]
    assert sum(Decimal(r[14]) for r in rows[2:]) == Decimal(rows[1][4])
    assert any(r[7] == mfn.order_id and r[6] == "Order" for r in rows[2:])  # shipped after the first settlement
    first_end = min(s.end for s in fresh.state.settlements.values() if s.marketplace == "us")
    assert rows[1][1] == first_end.strftime("%Y-%m-%d %H:%M:%S UTC")  # continues where the last one ended
    listed = check(c.get("/reports/2021-06-30/reports", reportTypes="GET_V2_SETTLEMENT_REPORT_DATA_FLAT_FILE_V2",
                         marketplaceIds=US), "reports_2021-06-30.json", "getReports", 200)
    assert [r["reportId"] for r in listed["reports"]][0] == report_id
    ctl = requests.post(fresh.url + "/_sandbox/control", json={"add_settlement": {"marketplace": "de"}}, timeout=10)
    assert ctl.status_code == 200 and ctl.json()["results"]["add_settlement"] in fresh.state.reports


def test_serve_prints_connections_and_stops_on_sigterm() -> None:
    import signal
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "airflow_provider_amznetsuite.sandbox.runner", "--spapi-port", "0",
                             "--no-netsuite", "--print-connections", "--time-scale", "5"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        name, _, value = line.partition("=")
        assert name == "AIRFLOW_CONN_AMAZON_SP_API_DEFAULT"
        extra = json.loads(value)["extra"]
        assert extra["rate_limit_time_scale"] == 5.0
        stats = requests.get(extra["endpoint"] + "/_sandbox/stats", timeout=10)
        assert stats.status_code == 200 and stats.json()["timeScale"] == 5.0
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
