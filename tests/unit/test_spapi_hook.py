"""SpApiHook: connection handling, LWA, retries and typed errors, secret hygiene, operations.

HTTP is faked with requests-mock; every request sent to the SP-API host is validated against Amazon's
vendored models by ``ContractRecorder`` at the end of each test that uses the ``hook`` fixture.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import logging
import pickle
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
import requests_mock

import airflow_provider_amznetsuite.hooks.spapi as spapi_mod
from airflow_provider_amznetsuite.get_provider_info import get_provider_info
from airflow_provider_amznetsuite.hooks.spapi import OPERATIONS, SpApiHook
from airflow_provider_amznetsuite.hooks.spapi_errors import (
    SpApiAuthError,
    SpApiBadRequest,
    SpApiError,
    SpApiForbidden,
    SpApiNotFound,
    SpApiServerError,
    SpApiThrottled,
)
from tests.contract.spapi_fakes import (
    ACCESS_TOKEN,
    ACCESS_TOKEN_2,
    CLIENT_ID,
    CLIENT_SECRET,
    EU_HOST,
    FIXED_NOW,
    LWA_URL,
    REFRESH_TOKEN,
    SECRETS,
    ContractRecorder,
    FakeClock,
    make_connection,
    make_hook,
)

QUOTA = {"errors": [{"code": "QuotaExceeded", "message": "You exceeded your quota for the requested resource."}]}
ORDER = {"order": {"orderId": "026-1234567-1234567", "createdTime": "2026-02-01T10:00:00Z", "orderItems": []}}
ORDER_URL = f"{EU_HOST}/orders/2026-01-01/orders/026-1234567-1234567"
PRESIGNED = "https://tortuga-prod-eu.s3-eu-west-1.amazonaws.com/doc-123?X-Amz-Signature=deadbeef"


def query(req: Any) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(req.url).query, keep_blank_values=True))


def sp_requests(m: requests_mock.Mocker) -> list[Any]:
    return [r for r in m.request_history if r.url.startswith(EU_HOST)]


def lwa_requests(m: requests_mock.Mocker) -> list[Any]:
    return [r for r in m.request_history if r.url.startswith(LWA_URL)]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def masked(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record what the hook registers with Airflow's masker, and keep the masker itself out of the way
    so the secret-hygiene tests check the hook's own discipline."""
    calls: list[str] = []
    monkeypatch.setattr(spapi_mod, "mask_secrets", lambda *values: calls.extend(v for v in values if v))
    return calls


@pytest.fixture
def mock() -> Any:
    with requests_mock.Mocker() as m:
        m.post(LWA_URL, json={"access_token": ACCESS_TOKEN, "token_type": "bearer", "expires_in": 3600})
        yield m


@pytest.fixture
def recorder() -> Any:
    rec = ContractRecorder()
    yield rec
    rec.assert_valid()


@pytest.fixture
def hook(clock: FakeClock, mock: Any, recorder: ContractRecorder, masked: list[str]) -> SpApiHook:
    return recorder.attach(make_hook(clock))


# --------------------------------------------------------------------------------------------------
# connection and registration
# --------------------------------------------------------------------------------------------------
def test_class_attributes_match_provider_info() -> None:
    info = next(c for c in get_provider_info()["connection-types"] if c["connection-type"] == "amazon_sp_api")
    assert info["hook-class-name"] == f"{SpApiHook.__module__}.{SpApiHook.__qualname__}"
    assert SpApiHook.conn_type == "amazon_sp_api"
    assert SpApiHook.default_conn_name == "amazon_sp_api_default"
    assert SpApiHook.conn_name_attr == "conn_id"
    assert SpApiHook.hook_name == info["hook-name"]
    from airflow.providers.http.hooks.http import HttpHook

    assert issubclass(SpApiHook, HttpHook)
    # every declared connection field is understood by the hook's settings model
    assert set(info["conn-fields"]) <= set(spapi_mod.SpApiConnectionSettings.model_fields)


def test_constructing_the_hook_looks_nothing_up(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(cls: Any, conn_id: str) -> Any:
        raise AssertionError(f"connection {conn_id} looked up")

    monkeypatch.setattr(SpApiHook, "get_connection", classmethod(boom))
    hook = SpApiHook(conn_id="nowhere")
    assert hook.conn_id == "nowhere"
    with pytest.raises(AssertionError, match="nowhere looked up"):
        _ = hook.settings


def test_connection_is_read_from_airflow_env(monkeypatch: pytest.MonkeyPatch, masked: list[str]) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_SPAPI_ENV_TEST", json.dumps({
        "conn_type": "amazon_sp_api", "login": CLIENT_ID, "password": CLIENT_SECRET,
        "extra": {"refresh_token": REFRESH_TOKEN, "region": "fe", "seller_id": "A1SELLER", "sandbox": "true"},
    }))
    hook = SpApiHook(conn_id="spapi_env_test")
    assert hook.settings.base_url == "https://sandbox.sellingpartnerapi-fe.amazon.com"
    assert hook.seller_id == "A1SELLER"
    assert CLIENT_SECRET in masked and REFRESH_TOKEN in masked


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"region": "na"}, "https://sellingpartnerapi-na.amazon.com"),
        ({"region": "eu"}, "https://sellingpartnerapi-eu.amazon.com"),
        ({"region": "FE"}, "https://sellingpartnerapi-fe.amazon.com"),
        ({"region": None}, "https://sellingpartnerapi-na.amazon.com"),
        ({"region": "eu", "sandbox": True}, "https://sandbox.sellingpartnerapi-eu.amazon.com"),
        ({"region": "eu", "sandbox": True, "endpoint": "http://127.0.0.1:8701/"}, "http://127.0.0.1:8701"),
        ({"region": "na", "endpoint": "http://127.0.0.1:8701"}, "http://127.0.0.1:8701"),
    ],
)
def test_hosts(extra: dict[str, Any], expected: str) -> None:
    hook = SpApiHook("x", connection=make_connection("x", **extra))
    assert hook.settings.base_url == expected


def test_bad_connection_names_the_field_and_never_the_secret() -> None:
    hook = SpApiHook("x", connection=make_connection("x", region="us"))
    with pytest.raises(ValueError) as info:
        _ = hook.settings
    assert "extra.region" in str(info.value) and "'x'" in str(info.value)
    assert all(s not in str(info.value) for s in SECRETS)


# --------------------------------------------------------------------------------------------------
# LWA
# --------------------------------------------------------------------------------------------------
def test_lwa_refresh_grant_form_headers_and_cache(hook: SpApiHook, mock: Any) -> None:
    mock.get(ORDER_URL, json=ORDER)
    assert hook.get_order("026-1234567-1234567")["orderId"] == "026-1234567-1234567"
    assert hook.get_order("026-1234567-1234567")["orderId"] == "026-1234567-1234567"
    lwa = lwa_requests(mock)
    assert len(lwa) == 1, "the access token is cached"
    assert dict(parse_qsl(lwa[0].text)) == {
        "grant_type": "refresh_token", "refresh_token": REFRESH_TOKEN, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
    }
    for req in sp_requests(mock):
        assert req.headers["x-amz-access-token"] == ACCESS_TOKEN
        assert req.headers["user-agent"].startswith("airflow-provider-amznetsuite/")
        assert "(Language=Python)" in req.headers["user-agent"]
        assert "Authorization" not in req.headers  # no basic auth, no SigV4
        assert REFRESH_TOKEN not in json.dumps(dict(req.headers))


def test_lwa_token_renewed_60_seconds_before_expiry(hook: SpApiHook, mock: Any, clock: FakeClock) -> None:
    mock.get(ORDER_URL, json=ORDER)
    hook.get_order("026-1234567-1234567")
    clock.advance(3600 - 61)
    hook.get_order("026-1234567-1234567")
    assert len(lwa_requests(mock)) == 1
    clock.advance(2)
    hook.get_order("026-1234567-1234567")
    assert len(lwa_requests(mock)) == 2


def test_grantless_token_uses_client_credentials_and_scope(hook: SpApiHook, mock: Any) -> None:
    assert hook.grantless_token("sellingpartnerapi::notifications") == ACCESS_TOKEN
    assert hook.grantless_token("sellingpartnerapi::notifications") == ACCESS_TOKEN
    lwa = lwa_requests(mock)
    assert len(lwa) == 1
    assert dict(parse_qsl(lwa[0].text)) == {
        "grant_type": "client_credentials", "scope": "sellingpartnerapi::notifications",
        "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
    }
    with pytest.raises(ValueError, match="not an SP-API scope"):
        hook.grantless_token("profile")


def test_lwa_failure_is_an_auth_error_without_secrets(hook: SpApiHook, mock: Any) -> None:
    mock.post(LWA_URL, status_code=400, json={
        "error": "invalid_grant",
        "error_description": f"The request has an invalid grant parameter : refresh_token={REFRESH_TOKEN} client_secret={CLIENT_SECRET}",
    })
    with pytest.raises(SpApiAuthError) as info:
        hook.get_order("026-1234567-1234567")
    text = str(info.value)
    assert "invalid_grant" in text and "HTTP 400" in text and "lwaToken" in text
    assert info.value.codes == ["invalid_grant"]
    assert all(s not in text and s not in repr(info.value) for s in SECRETS)
    assert sp_requests(mock) == []


def test_test_connection_reports_success_and_failure(hook: SpApiHook, mock: Any) -> None:
    ok, message = hook.test_connection()
    assert ok and EU_HOST in message
    hook.token_cache.clear()
    mock.post(LWA_URL, status_code=401, json={"error": "invalid_client", "error_description": "Client authentication failed"})
    ok, message = hook.test_connection()
    assert not ok and "invalid_client" in message


def test_401_refreshes_the_token_once_then_succeeds(hook: SpApiHook, mock: Any) -> None:
    mock.post(LWA_URL, [
        {"json": {"access_token": ACCESS_TOKEN, "expires_in": 3600}},
        {"json": {"access_token": ACCESS_TOKEN_2, "expires_in": 3600}},
    ])
    mock.get(ORDER_URL, [
        {"status_code": 401, "json": {"errors": [{"code": "Unauthorized", "message": "Access token expired"}]}},
        {"json": ORDER},
    ])
    assert hook.get_order("026-1234567-1234567")["orderId"] == "026-1234567-1234567"
    assert len(lwa_requests(mock)) == 2
    assert [r.headers["x-amz-access-token"] for r in sp_requests(mock)] == [ACCESS_TOKEN, ACCESS_TOKEN_2]


def test_403_expired_token_also_refreshes_once(hook: SpApiHook, mock: Any) -> None:
    mock.get(ORDER_URL, [
        {"status_code": 403, "json": {"errors": [{"code": "Unauthorized", "message": "Access to requested resource is denied.",
                                                  "details": "The access token you provided has expired."}]}},
        {"json": ORDER},
    ])
    hook.get_order("026-1234567-1234567")
    assert len(lwa_requests(mock)) == 2 and len(sp_requests(mock)) == 2


def test_second_401_is_an_auth_error(hook: SpApiHook, mock: Any) -> None:
    mock.get(ORDER_URL, status_code=401, json={"errors": [{"code": "Unauthorized", "message": "Access denied"}]})
    with pytest.raises(SpApiAuthError) as info:
        hook.get_order("026-1234567-1234567")
    assert info.value.status == 401 and "getOrder" in str(info.value)
    assert len(lwa_requests(mock)) == 2 and len(sp_requests(mock)) == 2


# --------------------------------------------------------------------------------------------------
# throttling and retries
# --------------------------------------------------------------------------------------------------
def test_429_waits_and_retries_until_success(hook: SpApiHook, mock: Any, clock: FakeClock) -> None:
    mock.get(ORDER_URL, [{"status_code": 429, "json": QUOTA}] * 3 + [{"json": ORDER}])
    assert hook.get_order("026-1234567-1234567")["orderId"] == "026-1234567-1234567"
    assert len(sp_requests(mock)) == 4
    # after each 429 the bucket is emptied and every further 429 in a row halves its rate: one refill
    # (2 s at 0.5/s, jitter included) before the first retry, then 4 s, then 8 s
    assert sum(clock.sleeps) == pytest.approx(2.0 + 4.0 + 8.0)
    assert hook.bucket("getOrder").tokens() <= 0.0
    assert hook.bucket("getOrder").backoff_factor == 0.5  # the success undid one step


def test_repeated_429s_back_off_exponentially_even_with_an_inflated_rate_header(
        hook: SpApiHook, mock: Any, clock: FakeClock) -> None:
    """A ×100 mis-scaled x-amzn-RateLimit-Limit while every request is refused: the retries slow down."""
    mock.get(ORDER_URL, [{"status_code": 429, "json": QUOTA, "headers": {"x-amzn-RateLimit-Limit": "50"}}] * 6
             + [{"json": ORDER}])
    hook.get_order("026-1234567-1234567")
    # per retry: the jitter after the 429, then the rate limiter's wait before the next send
    assert len(sp_requests(mock)) == 7 and len(clock.sleeps) == 12
    waits = [clock.sleeps[i] + clock.sleeps[i + 1] for i in range(0, 12, 2)]
    assert all(b >= 1.5 * a for a, b in zip(waits, waits[1:4])), waits  # doubling (jitter < 25 %)
    assert waits[-1] == pytest.approx(2.0 * 16, rel=0.25)  # floored at 1/16 of the 0.5/s plan
    assert hook.bucket("getOrder").nominal_rate == 0.5  # the header never raised the rate above the plan


def test_429_honours_retry_after(hook: SpApiHook, mock: Any, clock: FakeClock) -> None:
    mock.get(ORDER_URL, [{"status_code": 429, "json": QUOTA, "headers": {"Retry-After": "7"}}, {"json": ORDER}])
    hook.get_order("026-1234567-1234567")
    assert clock.sleeps and clock.sleeps[0] >= 7.0
    assert sum(clock.sleeps) < 7.0 + 2.0


def test_throttling_beyond_max_wait_raises_throttled(clock: FakeClock, mock: Any, masked: list[str]) -> None:
    hook = make_hook(clock, max_throttle_wait=60)
    mock.get(ORDER_URL, status_code=429, json=QUOTA)
    with pytest.raises(SpApiThrottled) as info:
        hook.get_order("026-1234567-1234567")
    assert "QuotaExceeded" in str(info.value) and "max_throttle_wait=60" in str(info.value)
    assert 4 <= len(sp_requests(mock)) <= 6  # 2, 4, 8, 16 … s between retries for 60 s: backing off, not a storm
    assert sum(clock.sleeps) <= 60


def test_default_throttle_budget_is_thirty_minutes(hook: SpApiHook) -> None:
    assert hook.max_throttle_wait == 1800.0
    other = SpApiHook("x", connection=make_connection("x", max_throttle_wait=90))
    assert other.max_throttle_wait == 90.0


def test_5xx_is_retried_with_backoff_then_succeeds(hook: SpApiHook, mock: Any, clock: FakeClock) -> None:
    mock.get(ORDER_URL, [{"status_code": 500, "json": {"errors": [{"code": "InternalFailure", "message": "x"}]}},
                         {"status_code": 503, "text": "Service Unavailable"}, {"json": ORDER}])
    hook.get_order("026-1234567-1234567")
    assert len(sp_requests(mock)) == 3
    assert len(clock.sleeps) == 2
    assert clock.sleeps[0] <= 0.5 and clock.sleeps[1] <= 1.0  # full jitter under 0.5 * 2**attempt


def test_5xx_retries_are_bounded(hook: SpApiHook, mock: Any) -> None:
    mock.get(ORDER_URL, status_code=503, json={"errors": [{"code": "ServiceUnavailable", "message": "try later"}]})
    with pytest.raises(SpApiServerError) as info:
        hook.get_order("026-1234567-1234567")
    assert len(sp_requests(mock)) == 5
    assert info.value.status == 503 and "ServiceUnavailable" in str(info.value) and "5 attempt" in str(info.value)


def test_connection_errors_are_retried(hook: SpApiHook, mock: Any) -> None:
    mock.get(ORDER_URL, [{"exc": requests.ConnectionError("connection reset by peer")}, {"exc": requests.ConnectTimeout("t")},
                         {"json": ORDER}])
    assert hook.get_order("026-1234567-1234567")["orderId"] == "026-1234567-1234567"
    assert len(sp_requests(mock)) == 3


def test_read_timeout_on_post_is_not_retried(hook: SpApiHook, mock: Any) -> None:
    mock.post(f"{EU_HOST}/reports/2021-06-30/reports", exc=requests.ReadTimeout("read timed out"))
    with pytest.raises(SpApiServerError, match="not retried"):
        hook.create_report("GET_MERCHANT_LISTINGS_ALL_DATA", ["A1F83G8C2ARO7P"])
    assert len(sp_requests(mock)) == 1


@pytest.mark.parametrize(
    ("status", "cls", "errors"),
    [
        (400, SpApiBadRequest, [{"code": "InvalidInput", "message": "Invalid input", "details": "orderId is malformed"}]),
        (403, SpApiForbidden, [{"code": "Unauthorized", "message": "Access to requested resource is denied.",
                                "details": "The application is not authorised for the Orders role"}]),
        (404, SpApiNotFound, [{"code": "NotFound", "message": "Order 026-1234567-1234567 not found"}]),
    ],
)
def test_client_errors_are_typed_and_not_retried(hook: SpApiHook, mock: Any, status: int, cls: type[SpApiError],
                                                 errors: list[dict[str, str]]) -> None:
    mock.get(ORDER_URL, status_code=status, json={"errors": errors}, headers={"x-amzn-RequestId": "req-42"})
    with pytest.raises(cls) as info:
        hook.get_order("026-1234567-1234567")
    err = info.value
    assert err.status == status and err.errors == errors and err.operation == "getOrder" and err.request_id == "req-42"
    text = str(err)
    assert "\n" not in text
    assert f"HTTP {status}" in text and errors[0]["code"] in text and errors[0]["message"] in text
    if "details" in errors[0]:
        assert errors[0]["details"] in text
    assert len(sp_requests(mock)) == 1


def test_errors_pickle_round_trip() -> None:
    err = SpApiBadRequest(400, [{"code": "InvalidInput", "message": "bad"}], "getOrder", request_id="r1")
    clone = pickle.loads(pickle.dumps(err))
    assert type(clone) is SpApiBadRequest and str(clone) == str(err) and clone.errors == err.errors


def test_rate_limit_header_adapts_the_bucket(hook: SpApiHook, mock: Any) -> None:
    mock.get(ORDER_URL, json=ORDER, headers={"x-amzn-RateLimit-Limit": "0.25"})
    hook.get_order("026-1234567-1234567")
    assert hook.bucket("getOrder").nominal_rate == 0.25


def test_time_scale_comes_from_the_connection(clock: FakeClock) -> None:
    hook = make_hook(clock, conn=make_connection(rate_limit_time_scale="20"))
    assert hook.time_scale == 20.0
    assert hook.bucket("getOrder").rate == pytest.approx(10.0)


def test_buckets_are_shared_by_hooks_of_the_same_seller(clock: FakeClock) -> None:
    a = make_hook(clock)
    b = SpApiHook(a.conn_id, connection=make_connection(), rate_limiter=a.rate_limiter)
    c = SpApiHook("other", connection=make_connection("other", seller_id="A9OTHER"), rate_limiter=a.rate_limiter)
    assert a.bucket("getOrder") is b.bucket("getOrder")
    assert a.bucket("getOrder") is not c.bucket("getOrder")


def test_generic_request_needs_a_plan_for_unknown_operations(hook: SpApiHook, mock: Any) -> None:
    with pytest.raises(ValueError, match="usage_plan"):
        hook.request("GET", "/sellers/v1/account", operation="getAccount")
    mock.get(f"{EU_HOST}/sellers/v1/account", json={"payload": {}})
    resp = hook.request("GET", "/sellers/v1/account", operation="getAccount", usage_plan=(0.016, 15))
    assert resp.status_code == 200


# --------------------------------------------------------------------------------------------------
# secret hygiene
# --------------------------------------------------------------------------------------------------
def test_secrets_never_reach_logs_or_exception_text(clock: FakeClock, mock: Any, masked: list[str],
                                                    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)
    hook = make_hook(clock, max_throttle_wait=10)
    mock.post(LWA_URL, [{"json": {"access_token": ACCESS_TOKEN, "expires_in": 3600}},
                        {"json": {"access_token": ACCESS_TOKEN_2, "expires_in": 3600}}])
    echo = f"token {ACCESS_TOKEN} x-amz-access-token: {ACCESS_TOKEN_2} secret={CLIENT_SECRET}"
    mock.get(ORDER_URL, [
        {"status_code": 401, "json": {"errors": [{"code": "Unauthorized", "message": echo}]}},
        {"status_code": 500, "json": {"errors": [{"code": "InternalFailure", "message": echo}]}},
        {"exc": requests.ConnectionError(f"failed to send x-amz-access-token={ACCESS_TOKEN_2}")},
        {"status_code": 429, "json": QUOTA},
        {"status_code": 400, "json": {"errors": [{"code": "InvalidInput", "message": echo, "details": REFRESH_TOKEN}]}},
    ])
    with pytest.raises(SpApiBadRequest) as info:
        hook.get_order("026-1234567-1234567")
    mock.get(ORDER_URL, status_code=429, json={"errors": [{"code": "QuotaExceeded", "message": echo}]})
    with pytest.raises(SpApiThrottled) as throttled:
        hook.get_order("026-1234567-1234567")
    mock.post(LWA_URL, status_code=400, json={"error": "invalid_client", "error_description": echo + REFRESH_TOKEN})
    hook.token_cache.clear()
    with pytest.raises(SpApiAuthError) as auth:
        hook.get_order("026-1234567-1234567")

    out, err = capsys.readouterr()
    haystacks = {
        "caplog": caplog.text, "stdout": out, "stderr": err,
        "errors": " ".join(str(e) + repr(e) + json.dumps(e.errors) for e in (info.value, throttled.value, auth.value)),
    }
    for where, text in haystacks.items():
        for secret in SECRETS:
            assert secret not in text, f"a secret leaked into {where}"
    assert "InvalidInput" in str(info.value) and "***" in str(info.value)
    logged = caplog.text + out + err
    assert "throttled" in logged and "refreshing the LWA access token" in logged  # the logs are not empty
    assert CLIENT_SECRET in masked and REFRESH_TOKEN in masked and ACCESS_TOKEN in masked


# --------------------------------------------------------------------------------------------------
# Orders
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, "exactly one of created_after or last_updated_after"),
        ({"created_after": FIXED_NOW - dt.timedelta(days=1), "last_updated_after": FIXED_NOW - dt.timedelta(days=1)}, "exactly one"),
        ({"last_updated_after": FIXED_NOW - dt.timedelta(days=1), "created_before": FIXED_NOW}, "created_before needs created_after"),
        ({"created_after": FIXED_NOW - dt.timedelta(days=1), "last_updated_before": FIXED_NOW}, "last_updated_before needs"),
        ({"created_after": dt.datetime(2026, 1, 1)}, "has no timezone"),
        ({"created_after": "yesterday"}, "not an ISO-8601"),
        ({"created_after": FIXED_NOW - dt.timedelta(days=1), "max_results_per_page": 101}, "1..100"),
    ],
)
def test_search_orders_argument_rules(hook: SpApiHook, kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        list(hook.search_orders(["A1F83G8C2ARO7P"], **kwargs))


def test_search_orders_pages_with_pagination_token_and_clamps_before(hook: SpApiHook, mock: Any) -> None:
    url = f"{EU_HOST}/orders/2026-01-01/orders"
    mock.get(url, [
        {"json": {"orders": [{"orderId": "1"}, {"orderId": "2"}], "pagination": {"nextToken": "tok-2"}}},
        {"json": {"orders": [{"orderId": "3"}], "pagination": {"nextToken": "tok-3"}}},
        {"json": {"orders": []}},
    ])
    orders = list(hook.search_orders(
        ["A1F83G8C2ARO7P", "A1PA6795UKMFR9"], last_updated_after=FIXED_NOW - dt.timedelta(hours=6),
        last_updated_before=FIXED_NOW, fulfillment_statuses=["UNSHIPPED", "SHIPPED"], included_data=["PROCEEDS", "TAX"],
        max_results_per_page=50,
    ))
    assert [o["orderId"] for o in orders] == ["1", "2", "3"]
    first, second, third = (query(r) for r in sp_requests(mock))
    assert first == {
        "lastUpdatedAfter": "2026-03-01T06:00:00Z",
        "lastUpdatedBefore": "2026-03-01T11:57:55Z",  # clamped to now - 2 min - 5 s skew margin
        "marketplaceIds": "A1F83G8C2ARO7P,A1PA6795UKMFR9",
        "fulfillmentStatuses": "UNSHIPPED,SHIPPED",
        "includedData": "PROCEEDS,TAX",
        "maxResultsPerPage": "50",
    }
    assert second == {**first, "paginationToken": "tok-2"}
    assert third == {**first, "paginationToken": "tok-3"}


def test_search_orders_empty_window_sends_nothing(hook: SpApiHook, mock: Any) -> None:
    assert list(hook.search_orders("A1F83G8C2ARO7P", created_after=FIXED_NOW - dt.timedelta(minutes=1))) == []
    assert sp_requests(mock) == []


def test_search_orders_stops_when_the_token_does_not_advance(hook: SpApiHook, mock: Any) -> None:
    mock.get(f"{EU_HOST}/orders/2026-01-01/orders", json={"orders": [{"orderId": "1"}], "pagination": {"nextToken": "same"}})
    with pytest.raises(SpApiError, match="PaginationLoop"):
        list(hook.search_orders(None, created_after=FIXED_NOW - dt.timedelta(days=1)))
    assert len(sp_requests(mock)) == 2


def test_get_order_sends_included_data(hook: SpApiHook, mock: Any) -> None:
    mock.get(ORDER_URL, json=ORDER)
    assert hook.get_order("026-1234567-1234567", ["BUYER", "RECIPIENT"])["createdTime"] == "2026-02-01T10:00:00Z"
    assert query(sp_requests(mock)[0]) == {"includedData": "BUYER,RECIPIENT"}


def test_confirm_shipment_posts_the_v0_body_and_returns_none(hook: SpApiHook, mock: Any) -> None:
    mock.post(f"{EU_HOST}/orders/v0/orders/026-1234567-1234567/shipmentConfirmation", status_code=204)
    result = hook.confirm_shipment("026-1234567-1234567", "A1F83G8C2ARO7P", {
        "packageReferenceId": "1", "carrierCode": "Royal Mail", "trackingNumber": "RM123456785GB",
        "shipDate": dt.datetime(2026, 2, 28, 16, 30, tzinfo=dt.UTC),
        "orderItems": [{"orderItemId": "79039765272157", "quantity": 2}],
    })
    assert result is None
    req = sp_requests(mock)[0]
    assert req.headers["content-type"] == "application/json"
    assert req.json() == {"marketplaceId": "A1F83G8C2ARO7P", "packageDetail": {
        "packageReferenceId": "1", "carrierCode": "Royal Mail", "trackingNumber": "RM123456785GB",
        "shipDate": "2026-02-28T16:30:00Z", "orderItems": [{"orderItemId": "79039765272157", "quantity": 2}]}}


# --------------------------------------------------------------------------------------------------
# Feeds
# --------------------------------------------------------------------------------------------------
def test_submit_feed_three_steps(hook: SpApiHook, mock: Any) -> None:
    mock.post(f"{EU_HOST}/feeds/2021-06-30/documents", status_code=201, json={"feedDocumentId": "amzn1.tortuga.4.eu.doc1", "url": PRESIGNED})
    mock.put(PRESIGNED, status_code=200)
    mock.post(f"{EU_HOST}/feeds/2021-06-30/feeds", status_code=202, json={"feedId": "50012345"})
    feed = {"header": {"sellerId": "A2SELLER0TEST", "version": "2.0"}, "messages": [
        {"messageId": 1, "sku": "SKU-Ü1", "operationType": "PATCH", "productType": "PRODUCT",
         "patches": [{"op": "replace", "path": "/attributes/purchasable_offer",
                      "value": [{"our_price": [{"schedule": [{"value_with_tax": Decimal("29.99")}]}]}]}]}]}
    assert hook.submit_feed("JSON_LISTINGS_FEED", feed, ["A1F83G8C2ARO7P"], feed_options={"k": "v"}) == "50012345"
    create_doc, upload, create_feed = [r for r in mock.request_history if r.url != LWA_URL]
    assert create_doc.json() == {"contentType": "application/json; charset=UTF-8"}
    assert upload.method == "PUT" and upload.headers["Content-Type"] == "application/json; charset=UTF-8"
    assert "x-amz-access-token" not in upload.headers
    uploaded = json.loads(upload.body.decode("utf-8"))
    assert uploaded["messages"][0]["sku"] == "SKU-Ü1"
    assert b'"value_with_tax":29.99' in upload.body
    assert create_feed.json() == {"feedType": "JSON_LISTINGS_FEED", "marketplaceIds": ["A1F83G8C2ARO7P"],
                                  "inputFeedDocumentId": "amzn1.tortuga.4.eu.doc1", "feedOptions": {"k": "v"}}


def test_submit_feed_argument_checks(hook: SpApiHook) -> None:
    with pytest.raises(ValueError, match="1..25 marketplace_ids"):
        hook.submit_feed("JSON_LISTINGS_FEED", b"{}", [])
    with pytest.raises(ValueError, match="exact JSON number"):
        spapi_mod._dump_json({"v": Decimal("0.1000000000000000055511151231257827")})


def test_get_feed_result_gunzips_and_parses_json(hook: SpApiHook, mock: Any) -> None:
    report = {"header": {"sellerId": "A2SELLER0TEST", "version": "2.0", "feedId": "50012345"},
              "issues": [], "summary": {"errors": 0, "warnings": 0, "messagesProcessed": 1, "messagesAccepted": 1, "messagesInvalid": 0}}
    mock.get(f"{EU_HOST}/feeds/2021-06-30/feeds/50012345", json={
        "feedId": "50012345", "feedType": "JSON_LISTINGS_FEED", "createdTime": "2026-03-01T10:00:00Z",
        "processingStatus": "DONE", "resultFeedDocumentId": "amzn1.tortuga.4.eu.res1"})
    mock.get(f"{EU_HOST}/feeds/2021-06-30/documents/amzn1.tortuga.4.eu.res1",
             json={"feedDocumentId": "amzn1.tortuga.4.eu.res1", "url": PRESIGNED, "compressionAlgorithm": "GZIP"})
    mock.get(PRESIGNED, content=gzip.compress(json.dumps(report).encode()), headers={"Content-Type": "application/octet-stream"})
    assert hook.get_feed_result("50012345") == report
    mock.get(PRESIGNED, content=b"Feed Processing Summary:\n\tNumber of records processed\t\t1\n",
             headers={"Content-Type": "text/plain"})
    hook_result = hook.get_feed_result("50012345")
    assert isinstance(hook_result, bytes) and hook_result.startswith(b"Feed Processing Summary")


def test_get_feed_result_before_done_is_a_clear_error(hook: SpApiHook, mock: Any) -> None:
    mock.get(f"{EU_HOST}/feeds/2021-06-30/feeds/7", json={"feedId": "7", "feedType": "JSON_LISTINGS_FEED",
                                                          "createdTime": "2026-03-01T10:00:00Z", "processingStatus": "IN_QUEUE"})
    with pytest.raises(ValueError, match="no result document yet.*IN_QUEUE"):
        hook.get_feed_result("7")


def test_expired_presigned_url_error_does_not_echo_the_url(hook: SpApiHook, mock: Any) -> None:
    mock.get(f"{EU_HOST}/reports/2021-06-30/documents/doc-9", json={"reportDocumentId": "doc-9", "url": PRESIGNED})
    mock.get(PRESIGNED, status_code=403, text="<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>")
    with pytest.raises(SpApiForbidden) as info:
        hook.download_report("doc-9")
    assert "X-Amz-Signature" not in str(info.value) and "5 minutes" in str(info.value)


# --------------------------------------------------------------------------------------------------
# Reports
# --------------------------------------------------------------------------------------------------
def test_list_reports_sends_next_token_alone(hook: SpApiHook, mock: Any) -> None:
    url = f"{EU_HOST}/reports/2021-06-30/reports"
    report = {"reportType": "GET_V2_SETTLEMENT_REPORT_DATA_FLAT_FILE_V2", "processingStatus": "DONE",
              "createdTime": "2026-02-20T00:00:00Z"}
    mock.get(url, [{"json": {"reports": [{**report, "reportId": "1"}], "nextToken": "nt-2"}},
                   {"json": {"reports": [{**report, "reportId": "2"}]}}])
    got = list(hook.list_reports(["GET_V2_SETTLEMENT_REPORT_DATA_FLAT_FILE_V2"], created_since=FIXED_NOW - dt.timedelta(days=200),
                                 processing_statuses=["DONE"], marketplace_ids=["A1F83G8C2ARO7P"]))
    assert [r["reportId"] for r in got] == ["1", "2"]
    first, second = (query(r) for r in sp_requests(mock))
    assert first == {"reportTypes": "GET_V2_SETTLEMENT_REPORT_DATA_FLAT_FILE_V2", "processingStatuses": "DONE",
                     "marketplaceIds": "A1F83G8C2ARO7P", "pageSize": "100",
                     "createdSince": "2025-12-02T12:00:00Z"}  # clamped to the 89-day retention
    assert second == {"nextToken": "nt-2"}


def test_create_and_get_report(hook: SpApiHook, mock: Any) -> None:
    mock.post(f"{EU_HOST}/reports/2021-06-30/reports", status_code=202, json={"reportId": "ID323"})
    mock.get(f"{EU_HOST}/reports/2021-06-30/reports/ID323", json={
        "reportId": "ID323", "reportType": "GET_MERCHANT_LISTINGS_ALL_DATA", "createdTime": "2026-03-01T10:00:00Z",
        "processingStatus": "DONE", "reportDocumentId": "doc-1"})
    assert hook.create_report("GET_MERCHANT_LISTINGS_ALL_DATA", "A1F83G8C2ARO7P",
                              data_start_time=dt.datetime(2026, 2, 1, tzinfo=dt.UTC),
                              report_options={"custom": "true"}) == "ID323"
    assert sp_requests(mock)[0].json() == {"reportType": "GET_MERCHANT_LISTINGS_ALL_DATA", "marketplaceIds": ["A1F83G8C2ARO7P"],
                                           "dataStartTime": "2026-02-01T00:00:00Z", "reportOptions": {"custom": "true"}}
    assert hook.get_report("ID323")["reportDocumentId"] == "doc-1"


def test_download_report_gzip_and_charset(hook: SpApiHook, mock: Any) -> None:
    text = "settlement-id\tamount\n123\t95,00 €\nMüller\t-1,50\n"
    mock.get(f"{EU_HOST}/reports/2021-06-30/documents/doc-1",
             json={"reportDocumentId": "doc-1", "url": PRESIGNED, "compressionAlgorithm": "GZIP"})
    mock.get(PRESIGNED, content=gzip.compress(text.encode("cp1252")), headers={"Content-Type": "text/plain;charset=Cp1252"})
    raw = hook.download_report("doc-1")
    assert raw == text.encode("cp1252")
    assert hook.download_report_text("doc-1") == text
    mock.get(PRESIGNED, content=("\ufeff" + text).encode("utf-8"), headers={"Content-Type": "text/plain"})
    assert hook.download_report_text("doc-1") == text  # default UTF-8, BOM dropped


def test_unknown_charset_is_a_clear_error(hook: SpApiHook, mock: Any) -> None:
    mock.get(f"{EU_HOST}/reports/2021-06-30/documents/doc-1", json={"reportDocumentId": "doc-1", "url": PRESIGNED})
    mock.get(PRESIGNED, content=b"x", headers={"Content-Type": "text/plain; charset=x-klingon"})
    with pytest.raises(ValueError, match="x-klingon"):
        hook.download_report_text("doc-1")


# --------------------------------------------------------------------------------------------------
# FBA inventory
# --------------------------------------------------------------------------------------------------
def test_inventory_chunks_skus_and_never_pauses_between_pages(hook: SpApiHook, mock: Any, clock: FakeClock) -> None:
    url = f"{EU_HOST}/fba/inventory/v1/summaries"
    granularity = {"granularityType": "Marketplace", "granularityId": "A1F83G8C2ARO7P"}

    def page(skus: list[str], token: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {"payload": {"granularity": granularity,
                                            "inventorySummaries": [{"sellerSku": s, "totalQuantity": 1} for s in skus]}}
        if token:
            body["pagination"] = {"nextToken": token}
        return body

    skus = [f"SKU-{i:03d}" for i in range(120)]
    mock.get(url, [{"json": page(skus[0:30], "t1")}, {"json": page(skus[30:50], None)},
                   {"json": page(skus[50:100], None)}, {"json": page(skus[100:120], None)}])
    it = hook.get_inventory_summaries("A1F83G8C2ARO7P", skus)
    assert next(it)["sellerSku"] == "SKU-000"
    assert len(sp_requests(mock)) == 2, "both pages of the first chunk are fetched before anything is yielded"
    rest = list(it)
    assert [s["sellerSku"] for s in rest] == skus[1:]
    sent = [query(r) for r in sp_requests(mock)]
    assert [len(q["sellerSkus"].split(",")) for q in sent] == [50, 50, 50, 20]
    assert sent[0] == {"details": "true", "granularityType": "Marketplace", "granularityId": "A1F83G8C2ARO7P",
                       "marketplaceIds": "A1F83G8C2ARO7P", "sellerSkus": ",".join(skus[:50])}
    assert sent[1] == {**sent[0], "nextToken": "t1"}
    # burst 2 at 2/s: only the rate limiter pauses (0.5 s for the 3rd and 4th call), nothing else
    assert clock.sleeps == [0.5, 0.5]


# --------------------------------------------------------------------------------------------------
# Listings
# --------------------------------------------------------------------------------------------------
def test_listings_put_patch_delete_get(hook: SpApiHook, mock: Any) -> None:
    base = f"{EU_HOST}/listings/2021-08-01/items/A2SELLER0TEST/A%2FB%201"
    accepted = {"sku": "A/B 1", "status": "VALID", "submissionId": "s1", "issues": []}
    mock.put(base, json=accepted)
    mock.patch(base, json=accepted)
    mock.delete(base, json={**accepted, "status": "ACCEPTED"})
    mock.get(base, json={"sku": "A/B 1", "summaries": []})
    body = {"productType": "PRODUCT", "requirements": "LISTING_OFFER_ONLY",
            "attributes": {"condition_type": [{"value": "new_new"}]}}
    assert hook.put_listings_item(None, "A/B 1", "A1F83G8C2ARO7P", body, mode="VALIDATION_PREVIEW")["status"] == "VALID"
    patch = {"productType": "PRODUCT", "patches": [{"op": "merge", "path": "/attributes/fulfillment_availability",
                                                   "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": 7}]}]}
    hook.patch_listings_item("A2SELLER0TEST", "A/B 1", ["A1F83G8C2ARO7P"], patch, included_data=["issues", "identifiers"])
    assert hook.delete_listings_item(None, "A/B 1", ["A1F83G8C2ARO7P"])["status"] == "ACCEPTED"
    hook.get_listings_item(None, "A/B 1", ["A1F83G8C2ARO7P"], included_data=["summaries", "offers"])
    put, patch_req, delete, get = sp_requests(mock)
    assert put.path_url.startswith("/listings/2021-08-01/items/A2SELLER0TEST/A%2FB%201?")
    assert query(put) == {"marketplaceIds": "A1F83G8C2ARO7P", "mode": "VALIDATION_PREVIEW"}
    assert put.json() == body
    assert query(patch_req) == {"marketplaceIds": "A1F83G8C2ARO7P", "includedData": "issues,identifiers"}
    assert patch_req.json()["patches"][0]["value"][0]["quantity"] == 7
    assert query(delete) == {"marketplaceIds": "A1F83G8C2ARO7P"}
    assert query(get) == {"marketplaceIds": "A1F83G8C2ARO7P", "includedData": "summaries,offers"}


def test_listings_argument_checks(hook: SpApiHook) -> None:
    with pytest.raises(ValueError, match="exactly one marketplace"):
        hook.put_listings_item(None, "S", ["A1F83G8C2ARO7P", "A1PA6795UKMFR9"], {"productType": "P", "attributes": {}})
    with pytest.raises(ValueError, match="VALIDATION_PREVIEW"):
        hook.patch_listings_item(None, "S", "A1F83G8C2ARO7P", {"productType": "P", "patches": []}, mode="DRY_RUN")
    no_seller = SpApiHook("y", connection=make_connection("y", seller_id=None))
    with pytest.raises(ValueError, match="seller_id is required"):
        no_seller.get_listings_item(None, "S", "A1F83G8C2ARO7P")


# --------------------------------------------------------------------------------------------------
# Product type definitions
# --------------------------------------------------------------------------------------------------
def _definition(version: str, resource: str) -> dict[str, Any]:
    link = {"link": {"resource": resource, "verb": "GET"}, "checksum": "c7af9479ca7261645cea9db56c5f720d"}
    return {"metaSchema": link, "schema": link, "requirements": "LISTING", "requirementsEnforced": "ENFORCED",
            "propertyGroups": {}, "locale": "en_GB", "marketplaceIds": ["A1F83G8C2ARO7P"], "productType": "LUGGAGE",
            "displayName": "Luggage", "productTypeVersion": {"version": version, "latest": True}}


def test_product_type_definition_schema_is_cached_in_memory_and_on_disk(clock: FakeClock, mock: Any, recorder: ContractRecorder,
                                                                        masked: list[str], tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spapi_mod, "_PTD_MEMORY", {})
    hook = recorder.attach(make_hook(clock, ptd_cache_dir=tmp_path))
    url = f"{EU_HOST}/definitions/2020-09-01/productTypes/LUGGAGE"
    schema_url = "https://schema.example.amazon/LUGGAGE.json"
    schema = {"$schema": "https://schemas.amazon.com/selling-partners/definitions/product-types/meta-schema/v1",
              "properties": {"item_name": {"type": "array"}}}
    mock.get(url, json=_definition("U1", schema_url))
    mock.get(schema_url, json=schema)
    first = hook.get_product_type_definition("LUGGAGE", "A1F83G8C2ARO7P", locale="en_GB")
    assert first["schema"] == schema and first["definition"]["productType"] == "LUGGAGE"
    assert query(sp_requests(mock)[0]) == {"marketplaceIds": "A1F83G8C2ARO7P", "sellerId": "A2SELLER0TEST",
                                           "productTypeVersion": "LATEST", "requirements": "LISTING",
                                           "requirementsEnforced": "ENFORCED", "locale": "en_GB"}
    hook.get_product_type_definition("LUGGAGE", "A1F83G8C2ARO7P", locale="en_GB")
    schema_gets = lambda: [r for r in mock.request_history if r.url == schema_url]  # noqa: E731
    assert len(schema_gets()) == 1, "memory cache"
    assert len(list(tmp_path.glob("LUGGAGE_A1F83G8C2ARO7P_U1_*.json"))) == 1

    monkeypatch.setattr(spapi_mod, "_PTD_MEMORY", {})
    fresh = make_hook(clock, ptd_cache_dir=tmp_path)
    assert fresh.get_product_type_definition("LUGGAGE", "A1F83G8C2ARO7P", locale="en_GB")["schema"] == schema
    assert len(schema_gets()) == 1, "disk cache"

    mock.get(url, json=_definition("U2", schema_url))
    fresh.get_product_type_definition("LUGGAGE", "A1F83G8C2ARO7P", locale="en_GB")
    assert len(schema_gets()) == 2, "a new version is downloaded"


def test_default_ptd_cache_dir_is_under_airflow_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    assert SpApiHook("x").ptd_cache_dir == tmp_path / "amznetsuite" / "ptd-cache"


# --------------------------------------------------------------------------------------------------
# Finances
# --------------------------------------------------------------------------------------------------
def test_list_transactions_splits_long_windows_and_dedupes(hook: SpApiHook, mock: Any) -> None:
    url = f"{EU_HOST}/finances/2024-06-19/transactions"
    t = lambda i: {"transactionId": f"T{i}", "transactionType": "Shipment",  # noqa: E731
                   "totalAmount": {"currencyCode": "GBP", "currencyAmount": 10.5}}
    mock.get(url, [
        {"json": {"payload": {"transactions": [t(1), t(2)], "nextToken": "n2"}}},
        {"json": {"payload": {"transactions": [t(3)]}}},
        {"json": {"payload": {"transactions": [t(3), t(4)]}}},
    ])
    got = list(hook.list_transactions(FIXED_NOW - dt.timedelta(days=200), marketplace_id="A1F83G8C2ARO7P",
                                      transaction_status="RELEASED"))
    assert [x["transactionId"] for x in got] == ["T1", "T2", "T3", "T4"]
    a, b, c = (query(r) for r in sp_requests(mock))
    assert a == {"postedAfter": "2025-08-13T12:00:00Z", "postedBefore": "2026-02-09T12:00:00Z",
                 "marketplaceId": "A1F83G8C2ARO7P", "transactionStatus": "RELEASED"}
    assert b == {**a, "nextToken": "n2"}
    last_window = {k: v for k, v in a.items() if k != "postedBefore"}  # open end: Amazon applies now - 2 min itself
    assert c == {**last_window, "postedAfter": "2026-02-09T12:00:00Z"}
    list(hook.list_transactions(FIXED_NOW - dt.timedelta(days=1), FIXED_NOW + dt.timedelta(days=1)))
    assert query(sp_requests(mock)[-1]) == {"postedAfter": "2026-02-28T12:00:00Z", "postedBefore": "2026-03-01T11:57:55Z"}


def test_operations_table_is_what_the_hook_calls() -> None:
    source = Path(spapi_mod.__file__).read_text(encoding="utf-8")
    import re

    called = set(re.findall(r'self\._call\(\s*"(\w+)"', source))
    assert called == set(OPERATIONS)
