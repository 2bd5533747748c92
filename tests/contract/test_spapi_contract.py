"""The SP-API hook held to Amazon's official models.

1. The validator (tests/contract/swagger.py) catches real violations.
2. The hook's operation table walks against the models: each operation exists with that method and
   path, none is deprecated, usage plans match the documented ones.
3. The hook runs against Amazon's own static-sandbox cases (``x-amzn-api-sandbox.static``) served by
   ``StaticSandbox``; every request it sends validates against the operation's parameters, every
   response it parses validates against the response schema, and the values are Amazon's.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
import re
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import airflow_provider_amznetsuite
from airflow_provider_amznetsuite.hooks import spapi as spapi_mod
from airflow_provider_amznetsuite.hooks.spapi import OPERATIONS, SpApiHook
from airflow_provider_amznetsuite.hooks.spapi_errors import SpApiBadRequest, SpApiNotFound
from airflow_provider_amznetsuite.triggers.spapi import SpApiFeedTrigger, SpApiReportTrigger
from tests.contract.spapi_fakes import CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN, FakeClock, env_connection, make_connection, make_hook
from tests.contract.static_sandbox import Document, StaticSandbox
from tests.contract.swagger import (
    check_http,
    check_request,
    check_response,
    find_operation,
    find_operation_by_id,
    load_model,
    model_files,
    operations,
)

JP, UK, BR, US, DE = "A1VC38T7YXB528", "A1F83G8C2ARO7P", "A2Q3Y263D00KWC", "ATVPDKIKX0DER", "A1PA6795UKMFR9"
ALL_ORDER_DATA = ["BUYER", "RECIPIENT", "PROCEEDS", "EXPENSE", "PROMOTION", "CANCELLATION", "FULFILLMENT", "PACKAGES"]

# Default usage plans as stated in each operation's description upstream (amzn/selling-partner-api-models
# @ 34dc93fe, 2026-08-05). The vendored copies are stripped of prose, so the table is restated here.
DOCUMENTED_USAGE_PLANS = {
    "searchOrders": (0.0056, 20), "getOrder": (0.5, 30), "confirmShipment": (2, 10),
    "createFeedDocument": (0.5, 15), "createFeed": (0.0083, 15), "getFeed": (2, 15), "getFeeds": (0.0222, 10), "getFeedDocument": (0.0222, 10),
    "createReport": (0.0167, 15), "getReport": (2, 15), "getReports": (0.0222, 10), "getReportDocument": (0.0167, 15),
    "getListingsItem": (5, 10), "putListingsItem": (5, 10), "patchListingsItem": (5, 5), "deleteListingsItem": (5, 5),
    "getInventorySummaries": (2, 2), "listTransactions": (0.5, 10), "getDefinitionsProductType": (5, 10),
}


# --------------------------------------------------------------------------------------------------
# 1. the validator itself
# --------------------------------------------------------------------------------------------------
def test_validator_accepts_a_valid_request() -> None:
    result = check_http("GET", "https://x/orders/2026-01-01/orders?createdAfter=2026-01-01T00%3A00%3A00Z"
                               "&marketplaceIds=A1F83G8C2ARO7P%2CA1PA6795UKMFR9&includedData=BUYER,TAX&maxResultsPerPage=50",
                        {}, None)
    assert result.ok, result.problems
    assert result.operation is not None and result.operation.operation_id == "searchOrders"
    assert result.values["marketplaceIds"] == [UK, DE] and result.values["maxResultsPerPage"] == 50


@pytest.mark.parametrize(
    ("method", "url", "body", "problem"),
    [
        ("GET", "/orders/2026-01-01/orders?createdAfter=yesterday", None, "not a valid date-time"),
        ("GET", "/orders/2026-01-01/orders?createdAfter=2026-01-01T00:00:00", None, "no time zone"),
        ("GET", "/orders/2026-01-01/orders?includedData=BUYER,EVERYTHING", None, "'EVERYTHING' is not one of"),
        ("GET", "/orders/2026-01-01/orders?maxResultsPerPage=ten", None, "not an integer"),
        ("GET", "/orders/2026-01-01/orders?MarketplaceIds=A1F83G8C2ARO7P", None, "'MarketplaceIds' is not a parameter"),
        ("GET", "/reports/2021-06-30/reports?reportTypes=X&pageSize=101", None, "above the maximum 100"),
        ("GET", "/reports/2021-06-30/reports?reportTypes=" + ",".join(["X"] * 11), None, "at most 10 allowed"),
        ("GET", "/fba/inventory/v1/summaries?granularityType=Marketplace&marketplaceIds=A1F83G8C2ARO7P", None,
         "required query parameter 'granularityId' is missing"),
        ("GET", "/fba/inventory/v1/summaries?granularityType=Country&granularityId=x&marketplaceIds=x", None, "'Country' is not one of"),
        ("PUT", "/listings/2021-08-01/items/S/K?marketplaceIds=A1F83G8C2ARO7P,A1PA6795UKMFR9",
         {"productType": "P", "attributes": {}}, "at most 1 allowed"),
        ("PATCH", "/listings/2021-08-01/items/S/K?marketplaceIds=A1F83G8C2ARO7P", {"productType": "P", "patches": []},
         "request body patches: []"),
        ("POST", "/feeds/2021-06-30/feeds", {"feedType": "JSON_LISTINGS_FEED", "marketplaceIds": []}, "'inputFeedDocumentId' is a required"),
        ("POST", "/orders/v0/orders/1/shipmentConfirmation", None, "required body parameter 'payload' is missing"),
        ("GET", "/orders/2026-01-01/orders/1", {"x": 1}, "takes no request body"),
        ("GET", "/orders/2026-01-01/nowhere", None, "no operation with this method and path"),
    ],
)
def test_validator_catches_violations(method: str, url: str, body: Any, problem: str) -> None:
    raw = json.dumps(body).encode() if body is not None else None
    result = check_http(method, url, {"Content-Type": "application/json"}, raw)
    assert not result.ok
    assert any(problem in p for p in result.problems), result.problems


def test_validator_checks_response_bodies() -> None:
    op = find_operation_by_id("feeds_2021-06-30.json", "getFeed")
    assert op is not None
    good = {"feedId": "1", "feedType": "JSON_LISTINGS_FEED", "createdTime": "2026-01-01T00:00:00Z", "processingStatus": "DONE"}
    assert check_response(op, 200, good) == []
    bad = {**good, "processingStatus": "FINISHED"}
    assert any("'FINISHED' is not one of" in p for p in check_response(op, 200, bad))
    assert any("'createdTime' is a required" in p for p in check_response(op, 200, {k: v for k, v in good.items() if k != "createdTime"}))
    assert check_response(op, 418, {}) == ["getFeed does not declare HTTP 418"]


def test_literal_path_segments_win_over_templates() -> None:
    found = find_operation("POST", "/fba/inventory/v1/items/inventory")
    assert found is not None and found[0].operation_id == "addInventory"
    found = find_operation("DELETE", "/fba/inventory/v1/items/SKU-1")
    assert found is not None and found[0].operation_id == "deleteInventoryItem" and found[1] == {"sellerSku": "SKU-1"}


# --------------------------------------------------------------------------------------------------
# 2. the operation table against the models
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_operation_exists_is_current_and_has_the_documented_plan(name: str) -> None:
    op = OPERATIONS[name]
    model = load_model(op.model)
    item = model["paths"].get(op.path)
    assert item is not None, f"{name}: {op.path} is not a path of {op.model}"
    spec = item.get(op.method.lower())
    assert spec is not None, f"{name}: {op.method} is not a method of {op.path}"
    assert spec["operationId"] == name
    assert spec.get("deprecated") is not True, f"{name} is deprecated in {op.model}"
    if "x-amzn-rate-limit" in spec:  # not present in the 2026-08-05 models; checked if Amazon adds it
        assert (op.rate, op.burst) == (spec["x-amzn-rate-limit"]["rate"], spec["x-amzn-rate-limit"]["burst"])
    assert (op.rate, op.burst) == DOCUMENTED_USAGE_PLANS[name]


def test_models_do_mark_the_v0_reads_deprecated() -> None:
    """The check above can fail: Orders v0 reads carry deprecated=true in the vendored model."""
    deprecated = {op.operation_id for op in operations("orders_v0.json") if op.deprecated}
    assert {"getOrders", "getOrder", "getOrderItems", "getOrderAddress", "getOrderBuyerInfo"} <= deprecated
    assert "confirmShipment" not in deprecated


def test_product_code_calls_no_deprecated_operation() -> None:
    """Every SP-API path literal in the package resolves to a non-deprecated operation."""
    package = Path(airflow_provider_amznetsuite.__file__).parent
    pattern = re.compile(r"[\"'](/(?:orders|feeds|reports|listings|fba|finances|definitions|tokens|sellers|notifications|products|batches)/[^\"'\s]*)[\"']")
    found: list[tuple[str, str]] = []
    for path in package.rglob("*.py"):
        if "sandbox" in path.relative_to(package).parts:
            continue  # the sandbox serves every operation, deprecated ones included
        for literal in pattern.findall(path.read_text(encoding="utf-8")):
            found.append((str(path.relative_to(package)), literal))
    assert found, "the scan found no SP-API paths at all"
    deprecated_paths = {op.path for name in model_files() for op in operations(name) if op.deprecated}
    offenders = [(f, lit) for f, lit in found if lit.split("?")[0] in deprecated_paths]
    assert offenders == []


# --------------------------------------------------------------------------------------------------
# 3. Amazon's static sandbox cases
# --------------------------------------------------------------------------------------------------
@pytest.fixture
def sandbox(request: pytest.FixtureRequest) -> Iterator[StaticSandbox]:
    """Amazon's static cases on loopback. On teardown: every request the hook sent validated against the
    operation's parameters (except problems a test declares in ``request.node.expected_invalid``), and
    every served response against its schema."""
    sb = StaticSandbox(CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN).start()
    try:
        yield sb
    finally:
        sb.stop()
    expected_invalid = getattr(request.node, "expected_invalid", set())
    problems = [p for p in sb.request_problems() if not any(e in p for e in expected_invalid)]
    assert problems == [], "requests violating Amazon's models"
    assert sb.response_problems() == [], "responses violating Amazon's models"
    assert sb.records or getattr(request.node, "no_sp_api_calls", False), "the sandbox saw no SP-API request"


@pytest.fixture
def hook(sandbox: StaticSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SpApiHook:
    monkeypatch.setattr(spapi_mod, "_PTD_MEMORY", {})
    conn = make_connection("static_sandbox", region="na", endpoint=sandbox.url, lwa_token_url=sandbox.lwa_url)
    return make_hook(FakeClock(), conn=conn, now=dt.datetime.now(dt.UTC), ptd_cache_dir=tmp_path / "ptd")


def test_search_orders_jp_case_first_page(hook: SpApiHook, sandbox: StaticSandbox) -> None:
    it = hook.search_orders([JP], created_after=dt.datetime(2024, 12, 25, tzinfo=dt.UTC), included_data=ALL_ORDER_DATA)
    order = next(it)
    assert order["orderId"] == "250-1234567-8901234"
    assert order["salesChannel"]["marketplaceId"] == JP
    assert order["orderAliases"] == [{"aliasId": "JP-ORDER-2024-001", "aliasType": "SELLER_ORDER_ID"}]
    assert order["programs"] == ["PRIME"]
    served = sandbox.served("searchOrders")
    assert [(r.status, r.case_index) for r in served] == [(200, 0)]


def test_search_orders_br_case_complete(hook: SpApiHook, sandbox: StaticSandbox) -> None:
    orders = list(hook.search_orders(BR, created_after="2024-12-20T00:00:00Z",
                                     included_data=["BUYER", "RECIPIENT", "PROCEEDS", "FULFILLMENT", "TAX", "PAYMENT"]))
    assert [o["orderId"] for o in orders] == ["171-2345678-9012345"]
    assert orders[0]["programs"] == ["AMAZON_BUSINESS", "DELIVERY_BY_AMAZON"]
    assert orders[0]["salesChannel"]["marketplaceId"] == BR
    assert len(sandbox.served("searchOrders")) == 1  # no pagination token in the response: one request


def test_search_orders_uk_case_with_pagination_token(hook: SpApiHook, sandbox: StaticSandbox) -> None:
    resp = hook.request("GET", "/orders/2026-01-01/orders", operation="searchOrders", params={
        "createdAfter": dt.datetime(2024, 12, 23, tzinfo=dt.UTC), "marketplaceIds": [UK], "includedData": ALL_ORDER_DATA,
        "paginationToken": "9ZhB4RmVyc2lvbiAxLjAgb2YgdGhl"})
    body = resp.json()
    assert [o["orderId"] for o in body["orders"]] == ["202-7654321-1098765"]
    assert "pagination" not in body


def test_search_orders_test_case_400(hook: SpApiHook, sandbox: StaticSandbox, request: pytest.FixtureRequest) -> None:
    """Amazon's trigger value is itself not a date-time: the validator flags it, the hook raises the typed 400."""
    request.node.expected_invalid = {"'TEST_CASE_400' is not a valid date-time"}
    with pytest.raises(SpApiBadRequest) as info:
        hook.request("GET", "/orders/2026-01-01/orders", operation="searchOrders", params={"createdAfter": "TEST_CASE_400"})
    assert info.value.errors == [{"code": "InvalidInput", "message": "Invalid Input", "details": "Invalid Input"}]
    assert "searchOrders" in str(info.value) and "InvalidInput" in str(info.value)
    assert any("TEST_CASE_400" in p for p in sandbox.request_problems())


@pytest.mark.parametrize(
    ("order_id", "included", "marketplace", "check"),
    [
        ("171-9876543-2109876", ALL_ORDER_DATA, BR, lambda o: o["orderAliases"][0]["aliasId"] == "BR-CONSUMER-ORDER-2024-003"),
        ("028-1234567-8901234", ["BUYER", "RECIPIENT", "PROCEEDS", "FULFILLMENT", "TAX"], "A33AVAJ2PDY3EV",
         lambda o: o["recipient"]["deliveryAddress"]["postalCode"] == "34430"),
        ("114-9876543-1234567", ["RECIPIENT", "PROCEEDS", "FULFILLMENT"], US,
         lambda o: o["proceeds"]["grandTotal"] == {"amount": "49.99", "currencyCode": "USD"} and o["programs"] == ["IN_STORE_PICK_UP"]),
    ],
)
def test_get_order_cases(hook: SpApiHook, order_id: str, included: list[str], marketplace: str, check: Any) -> None:
    order = hook.get_order(order_id, included)
    assert order["orderId"] == order_id
    assert order["salesChannel"]["marketplaceId"] == marketplace
    assert isinstance(order["orderItems"], list) and order["orderItems"]
    assert check(order)


def test_get_order_test_case_400(hook: SpApiHook) -> None:
    with pytest.raises(SpApiBadRequest) as info:
        hook.get_order("TEST_CASE_400")
    assert info.value.codes == ["InvalidInput"]


def test_confirm_shipment_204_case(hook: SpApiHook, sandbox: StaticSandbox) -> None:
    result = hook.confirm_shipment("902-1106328-1059050", US, {
        "packageReferenceId": "1", "carrierCode": "FedEx", "carrierName": "FedEx", "shippingMethod": "FedEx Ground",
        "trackingNumber": "112345678", "shipDate": dt.datetime(2022, 2, 11, 1, 0, tzinfo=dt.UTC),
        "shipFromSupplySourceId": "057d3fcc-b750-419f-bbcd-4d340c60c430",
        "orderItems": [{"orderItemId": "79039765272157", "quantity": 1, "transparencyCodes": ["09876543211234567890"]}],
    })
    assert result is None
    assert [(r.status, r.case_index) for r in sandbox.served("confirmShipment")] == [(204, 0)]


def test_confirm_shipment_400_case(hook: SpApiHook, sandbox: StaticSandbox, request: pytest.FixtureRequest) -> None:
    request.node.expected_invalid = {"packageDetail/shipDate: '02/21/2022' is not a 'date-time'"}
    with pytest.raises(SpApiBadRequest) as info:
        hook.confirm_shipment("902-1106328-1059050", US, {
            "packageReferenceId": "1", "carrierCode": "FedEx", "carrierName": "FedEx", "shippingMethod": "FedEx Ground",
            "trackingNumber": "112345678", "shipDate": "02/21/2022",
            "shipFromSupplySourceId": "057d3fcc-b750-419f-bbcd-4d340c60c430",
            "orderItems": [{"orderItemId": "79039765272157", "quantity": 1, "transparencyCodes": ["09876543211234567890"]}],
        })
    assert info.value.codes == ["Invalid Input"]
    assert any("shipDate" in p for p in sandbox.request_problems())


def test_get_feed_cases(hook: SpApiHook) -> None:
    feed = hook.get_feed("feedId1")
    assert feed == {"feedId": "FeedId1", "feedType": "POST_PRODUCT_DATA", "createdTime": "2024-03-11T13:16:24.630Z",
                    "processingStatus": "CANCELLED", "processingStartTime": "2024-03-11T13:16:24.630Z",
                    "processingEndTime": "2024-03-11T13:16:24.630Z"}
    with pytest.raises(SpApiBadRequest) as info:
        hook.get_feed("badFeedId1")
    assert info.value.errors == [{"code": "400", "message": "Invalid input", "details": "Invalid input"}]


def test_submit_feed_chains_amazons_create_document_and_create_feed_cases(hook: SpApiHook, sandbox: StaticSandbox) -> None:
    tsv = "sku\tprice\nSKU-1\t9.99\n"
    feed_id = hook.submit_feed("POST_PRODUCT_DATA", tsv, [US, UK], content_type="text/tab-separated-values; charset=UTF-8")
    assert feed_id == "3485934"
    assert [r.status for r in sandbox.served("createFeedDocument")] == [201]
    assert [r.status for r in sandbox.served("createFeed")] == [202]
    uploaded, content_type = sandbox.uploads["https://d34o8swod1owfl.cloudfront.net/Feed_101__POST_PRODUCT_DATA_.xml"]
    assert uploaded == tsv.encode("utf-8") and content_type == "text/tab-separated-values; charset=UTF-8"


def test_get_feed_document_case(hook: SpApiHook) -> None:
    doc = hook.get_feed_document("0356cf79-b8b0-4226-b4b9-0ee058ea5760")
    assert doc["feedDocumentId"] == "0356cf79-b8b0-4226-b4b9-0ee058ea5760"
    assert doc["url"].endswith("Feed_101__POST_PRODUCT_DATA_.xml")


def test_report_cases_create_get_and_download(hook: SpApiHook, sandbox: StaticSandbox) -> None:
    report_id = hook.create_report("GET_MERCHANT_LISTINGS_ALL_DATA", [DE, US],
                                   data_start_time=dt.datetime(2024, 3, 10, 20, 11, 24, tzinfo=dt.UTC))
    assert report_id == "ID323"
    report = hook.get_report(report_id)
    assert (report["reportId"], report["reportType"], report["processingStatus"]) == ("ReportId1", "FEE_DISCOUNTS_REPORT", "IN_PROGRESS")
    text = "item-name\tseller-sku\tprice\nValise cabine 55 cm – grün\tGM-ZDPI-9B4E\t89,90\n"
    sandbox.documents["https://d34o8swod1owfl.cloudfront.net/Report_47700__GET_MERCHANT_LISTINGS_ALL_DATA_.txt"] = Document(
        text.encode("cp1252"), "text/plain;charset=Cp1252", gzip=False)
    assert hook.download_report("0356cf79-b8b0-4226-b4b9-0ee058ea5760") == text.encode("cp1252")
    assert hook.download_report_text("0356cf79-b8b0-4226-b4b9-0ee058ea5760") == text
    with pytest.raises(SpApiBadRequest):
        hook.create_report("BAD_FEE_DISCOUNTS_REPORT", [DE, US], data_start_time="2024-03-10T20:11:24.000Z")


def test_list_reports_case_and_next_token_alone(hook: SpApiHook, sandbox: StaticSandbox) -> None:
    it = hook.list_reports(["FEE_DISCOUNTS_REPORT", "GET_AFN_INVENTORY_DATA"], processing_statuses=["IN_QUEUE", "IN_PROGRESS"],
                           page_size=10)
    first_page = list(itertools.islice(it, 1))
    assert [r["reportId"] for r in first_page] == ["ReportId1"]
    # Amazon's case has no page 2: asking for it (nextToken alone) matches no case
    with pytest.raises(SpApiNotFound):
        list(it)
    served = sandbox.served("getReports")
    assert [r.status for r in served] == [200, 404]


def test_listings_validation_preview_cases(hook: SpApiHook) -> None:
    patch = {"productType": "LUGGAGE", "patches": [{"op": "replace", "path": "/attributes/item_name",
                                                   "value": [{"value": "Carry-On", "marketplace_id": US}]}]}
    valid = hook.patch_listings_item("A3SELLER", "VALIDATION_VALID", [US], patch, mode="VALIDATION_PREVIEW",
                                     included_data=["identifiers", "issues"])
    assert (valid["status"], valid["identifiers"]) == ("VALID", [{"marketplaceId": US, "asin": "B07N4M94X4"}])
    invalid = hook.patch_listings_item("A3SELLER", "VALIDATION_INVALID", [US], patch, mode="VALIDATION_PREVIEW",
                                       included_data=["identifiers", "issues"])
    assert invalid["status"] == "INVALID" and invalid["issues"][0]["code"] == "90000900"
    assert invalid["issues"][0]["attributeNames"] == ["fake_attribute"]
    put = {"productType": "LUGGAGE", "requirements": "LISTING", "attributes": {"item_name": [{"value": "Carry-On"}]}}
    put_invalid = hook.put_listings_item("A3SELLER", "VALIDATION_INVALID", US, put, mode="VALIDATION_PREVIEW",
                                         included_data=["identifiers", "issues"])
    assert put_invalid["issues"][0]["attributeNames"] == ["condition_type"]
    accepted = hook.put_listings_item("A3SELLER", "GM-ZDPI-9B4E", US, put)
    assert (accepted["status"], accepted["submissionId"]) == ("ACCEPTED", "f1dc2914-75dd-11ea-bc55-0242ac130003")


def test_listings_get_delete_and_bad_sku_cases(hook: SpApiHook) -> None:
    item = hook.get_listings_item("A3SELLER", "GM-ZDPI-9B4E", [US], included_data=["summaries", "offers"])
    assert item["sku"] == "GM-ZDPI-9B4E" and item["summaries"][0]["asin"] == "B071VG5N9D"
    assert hook.delete_listings_item("A3SELLER", "GM-ZDPI-9B4E", [US])["status"] == "ACCEPTED"
    with pytest.raises(SpApiBadRequest) as info:
        hook.get_listings_item("A3SELLER", "BadSKU", [US])
    assert info.value.codes == ["BAD_REQUEST"]


def test_product_type_definition_case_downloads_and_caches_the_schema(hook: SpApiHook, sandbox: StaticSandbox) -> None:
    schema = {"$id": "https://schemas.amazon.com/selling-partners/definitions/product-types/schema/v1/LUGGAGE",
              "type": "object", "required": ["item_name"], "properties": {"item_name": {"type": "array"}}}
    sandbox.documents["https://schema-url"] = Document(json.dumps(schema).encode(), "application/json")
    first = hook.get_product_type_definition("LUGGAGE", US)
    assert first["schema"] == schema
    assert first["definition"]["productTypeVersion"]["version"] == "UHqSqmb4FNUk="
    assert first["definition"]["propertyGroups"]["product_identity"]["propertyNames"][0] == "item_name"
    again = hook.get_product_type_definition("LUGGAGE", US)
    assert again["schema"] == schema
    assert [m for m, _ in sandbox.document_requests] == ["GET"], "schema downloaded once, then cached"
    files = list(hook.ptd_cache_dir.glob("LUGGAGE_ATVPDKIKX0DER_UHqSqmb4FNUk__*.json"))
    assert len(files) == 1 and json.loads(files[0].read_text()) == schema


def test_lwa_rejects_a_wrong_secret(sandbox: StaticSandbox, request: pytest.FixtureRequest) -> None:
    request.node.no_sp_api_calls = True
    conn = make_connection("static_sandbox", region="na", endpoint=sandbox.url, lwa_token_url=sandbox.lwa_url)
    conn.password = "amzn1.oa2-cs.v1." + "0" * 64
    hook = make_hook(FakeClock(), conn=conn)
    ok, message = hook.test_connection()
    assert not ok and "invalid_client" in message and conn.password not in message


def test_feed_trigger_runs_against_the_static_case(sandbox: StaticSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    with env_connection(monkeypatch, "static_trigger", endpoint=sandbox.url, lwa_token_url=sandbox.lwa_url):
        trigger = SpApiFeedTrigger(feed_id="feedId1", conn_id="static_trigger", poll_interval=0)
        event = asyncio.run(asyncio.wait_for(_first_event(trigger), 30))
    assert event.payload == {"status": "CANCELLED", "feed_id": "feedId1", "result_document_id": None}


def test_report_trigger_times_out_on_a_report_that_stays_in_progress(sandbox: StaticSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    ticks = itertools.count()
    with env_connection(monkeypatch, "static_trigger", endpoint=sandbox.url, lwa_token_url=sandbox.lwa_url):
        trigger = SpApiReportTrigger(report_id="ID323", conn_id="static_trigger", poll_interval=0, timeout=2.5)
        trigger._monotonic = lambda: float(next(ticks))  # deadline 2.5; one tick per check -> exactly 3 polls
        event = asyncio.run(asyncio.wait_for(_first_event(trigger), 30))
    assert event.payload["status"] == "timeout" and event.payload["report_id"] == "ID323"
    assert event.payload["report_document_id"] is None and "IN_PROGRESS" in event.payload["message"]
    assert [r.status for r in sandbox.served("getReport")] == [200, 200, 200]


async def _first_event(trigger: Any) -> Any:
    async for event in trigger.run():
        return event
    raise AssertionError("trigger ended without an event")


def test_every_request_seen_by_the_sandbox_was_checked(hook: SpApiHook, sandbox: StaticSandbox,
                                                       request: pytest.FixtureRequest) -> None:
    """The teardown check is not vacuous: a request the models reject shows up as a problem."""
    request.node.expected_invalid = {"'pageSize' is not a parameter of searchOrders"}
    with pytest.raises(SpApiNotFound):
        hook.request("GET", "/orders/2026-01-01/orders", operation="searchOrders", params={"createdAfter": "2024-01-01T00:00:00Z",
                                                                                            "pageSize": 5})
    assert any("'pageSize' is not a parameter of searchOrders" in p for p in sandbox.request_problems())


def test_prepared_requests_validate_directly() -> None:
    req = SimpleNamespace(method="GET", url="https://sellingpartnerapi-eu.amazon.com/reports/2021-06-30/reports?nextToken=abc",
                          headers={}, body=None)
    assert check_request(req).ok
