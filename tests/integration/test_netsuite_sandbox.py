"""The NetSuite sandbox over real HTTP, driven with plain ``requests`` and the test's own signing.

Deliberately independent of the product hook: the JWT assertion and the OAuth 1.0a signature are
built here with PyJWT / hmac so that a bug in the hook cannot hide a bug in the sandbox (a separate
test runs the real hook against the sandbox).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json as _json
import secrets
import threading
import time
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit
from zoneinfo import ZoneInfo

import jwt
import pytest
import requests

from airflow_provider_amznetsuite.sandbox import catalog
from airflow_provider_amznetsuite.sandbox.netsuite import auth as sandbox_auth
from airflow_provider_amznetsuite.sandbox.netsuite import credentials as creds
from airflow_provider_amznetsuite.sandbox.netsuite.server import NetSuiteSandbox, create_server

pytestmark = pytest.mark.integration

REC = "/services/rest/record/v1"
SUITEQL = "/services/rest/query/v1/suiteql"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


# --- the test's own signing ----------------------------------------------------------------------
def _pct(value: str) -> str:
    return quote(value, safe="-._~")


def tba_signature(method: str, url: str, oauth: dict[str, str], consumer_secret: str, token_secret: str,
                  *, sign_query: bool = True) -> str:
    parts = urlsplit(url)
    base_uri = f"{parts.scheme.lower()}://{parts.netloc.lower()}{parts.path}"
    params = list(oauth.items())
    if sign_query:
        params += parse_qsl(parts.query, keep_blank_values=True)
    normalized = "&".join(f"{k}={v}" for k, v in sorted((_pct(k), _pct(v)) for k, v in params))
    base = "&".join([method.upper(), _pct(base_uri), _pct(normalized)])
    key = f"{_pct(consumer_secret)}&{_pct(token_secret)}".encode()
    return base64.b64encode(hmac.new(key, base.encode(), hashlib.sha256).digest()).decode()


def tba_header(method: str, url: str, *, realm: str = creds.ACCOUNT_ID, token_secret: str = creds.TOKEN_SECRET,
               nonce: str | None = None, timestamp: int | None = None, sign_query: bool = True) -> str:
    oauth = {
        "oauth_consumer_key": creds.CONSUMER_KEY, "oauth_token": creds.TOKEN_ID,
        "oauth_nonce": nonce or secrets.token_hex(10), "oauth_timestamp": str(timestamp or int(time.time())),
        "oauth_signature_method": "HMAC-SHA256", "oauth_version": "1.0",
    }
    oauth["oauth_signature"] = tba_signature(method, url, oauth, creds.CONSUMER_SECRET, token_secret,
                                             sign_query=sign_query)
    fields = [f'realm="{realm}"'] + [f'{k}="{_pct(v)}"' for k, v in oauth.items()]
    return "OAuth " + ",".join(fields)


def assertion(base_url: str, alg: str = "PS256", *, kid: str | None = None, key_alg: str | None = None,
              aud: str | None = None, lifetime: int = 1800, iss: str = creds.CLIENT_ID,
              scope: Any = "rest_webservices") -> str:
    now = int(time.time())
    return jwt.encode({"iss": iss, "scope": scope, "aud": aud or creds.token_url(base_url), "iat": now,
                       "exp": now + lifetime},
                      creds.private_key_pem(key_alg or alg), algorithm=alg,
                      headers={"kid": kid or creds.certificate_id(key_alg or alg), "typ": "JWT"})


def request_token(base_url: str, client_assertion: str) -> requests.Response:
    return requests.post(base_url + creds.TOKEN_PATH, timeout=10,
                         data={"grant_type": "client_credentials", "client_assertion_type": JWT_BEARER,
                               "client_assertion": client_assertion})


def bearer_session(sb: NetSuiteSandbox, alg: str = "PS256") -> requests.Session:
    r = request_token(sb.url, assertion(sb.url, alg))
    assert r.status_code == 200, r.text
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
    return s


def wait_job(s: requests.Session, location: str, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job = s.get(location, timeout=10).json()
        if job["completed"]:
            return job
        assert time.monotonic() < deadline, f"job {location} did not complete"
        time.sleep(0.02)


def error_detail(r: requests.Response) -> dict[str, Any]:
    body = r.json()
    assert set(body) >= {"type", "title", "status", "o:errorDetails"}, body
    assert body["status"] == r.status_code
    return body["o:errorDetails"][0]


# --- fixtures ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sb() -> NetSuiteSandbox:
    sandbox = create_server(concurrency_limit=10).start()
    yield sandbox
    sandbox.shutdown()


@pytest.fixture(scope="module")
def s(sb: NetSuiteSandbox) -> requests.Session:
    return bearer_session(sb)


def suiteql(s: requests.Session, sb: NetSuiteSandbox, q: str, limit: int = 1000, offset: int = 0) -> requests.Response:
    return s.post(f"{sb.url}{SUITEQL}", params={"limit": limit, "offset": offset}, json={"q": q},
                  headers={"Prefer": "transient"}, timeout=30)


def rows(s: requests.Session, sb: NetSuiteSandbox, q: str) -> list[dict[str, Any]]:
    r = suiteql(s, sb, q)
    assert r.status_code == 200, r.text
    return r.json()["items"]


def create(s: requests.Session, sb: NetSuiteSandbox, rtype: str, body: dict[str, Any]) -> str:
    r = s.post(f"{sb.url}{REC}/{rtype}", json=body, timeout=10)
    assert r.status_code == 204, r.text
    return r.headers["Location"].rsplit("/", 1)[1]


def uk_order(lines: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"entity": {"id": "101"}, "location": {"id": "1"}, "item": {"items": lines}, **extra}


# --- authentication ---------------------------------------------------------------------------------
def test_oracle_published_tba_examples_reproduce_their_signatures() -> None:
    """Oracle's worked examples ("The Signature for Web Services and RESTlets"), through the sandbox's verifier code."""
    oauth = {"oauth_consumer_key": "ef40afdd8abaac111b13825dd5e5e2ddddb44f86d5a0dd6dcf38c20aae6b67e4",
             "oauth_nonce": "fjaLirsIcCGVZWzBX0pg", "oauth_signature_method": "HMAC-SHA256",
             "oauth_timestamp": "1508242306",
             "oauth_token": "2b0ce516420110bcbd36b69e99196d1b7f6de3c6234c5afb799b73d87569f5cc",
             "oauth_version": "1.0"}
    cs = "d26ad321a4b2f23b0741c8d38392ce01c3e23e109df6c96eac6d099e9ab9e8b5"
    ts = "c29a677df7d5439a458c063654187e3d678d73aca8e3c9d8bea1478a3eb0d295"
    rest_url = "https://123456.suitetalk.api.netsuite.com/services/rest/record/v1/employee/40"
    base = sandbox_auth.signature_base_string("GET", rest_url, oauth.items())
    assert base.startswith("GET&https%3A%2F%2F123456.suitetalk.api.netsuite.com%2Fservices%2Frest%2Frecord%2Fv1"
                           "%2Femployee%2F40&oauth_consumer_key%3Def40afdd")
    assert sandbox_auth.hmac_sha256_signature(base, cs, ts) == "B5OIWznZ2YP0OB7VrJrGkYsTh+8H+5T9Hag+o92q0zY="
    restlet = ("https://123456.restlets.api.netsuite.com/app/site/hosting/restlet.nl"
               "?script=6&deploy=1&customParam=someValue&testParam=someOtherValue")
    query = parse_qsl(urlsplit(restlet).query)
    base2 = sandbox_auth.signature_base_string("POST", restlet, list(oauth.items()) + query)
    assert sandbox_auth.hmac_sha256_signature(base2, cs, ts) == "+KK4SKNgz4ZiILGLwOMtfYlgcXSy1eis8ldE9X90azQ="
    # ... and the test's own signer agrees, so the HTTP tests below sign correctly.
    assert tba_signature("POST", restlet, oauth, cs, ts) == "+KK4SKNgz4ZiILGLwOMtfYlgcXSy1eis8ldE9X90azQ="


@pytest.mark.parametrize("alg", ["PS256", "ES256"])
def test_oauth2_client_credentials_accepted(sb: NetSuiteSandbox, alg: str) -> None:
    r = request_token(sb.url, assertion(sb.url, alg))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "Bearer" and int(body["expires_in"]) == 3600
    got = requests.get(f"{sb.url}{REC}/customer/101", headers={"Authorization": f"Bearer {body['access_token']}"},
                       timeout=10)
    assert got.status_code == 200
    assert got.json()["entityId"] == "Amazon UK Customer"


@pytest.mark.parametrize(("kwargs", "error"), [
    ({"alg": "RS256", "key_alg": "PS256"}, "invalid_request"),                      # RS256 refused since 2025
    ({"alg": "ES256", "kid": creds.CERTIFICATE_ID_PS256, "key_alg": "ES256"}, "invalid_request"),  # alg/cert mismatch
    ({"kid": "not-a-certificate"}, "invalid_client"),
    ({"aud": "https://1234567-sb1.suitetalk.api.netsuite.com/other"}, "invalid_request"),
    ({"lifetime": 3601}, "invalid_request"),
    ({"lifetime": -60}, "invalid_request"),                                          # expired
    ({"iss": "someone-else"}, "invalid_client"),
    ({"scope": "restlets"}, "invalid_scope"),
])
def test_oauth2_bad_assertions_rejected(sb: NetSuiteSandbox, kwargs: dict[str, Any], error: str) -> None:
    r = request_token(sb.url, assertion(sb.url, **kwargs))
    assert r.status_code == 400
    assert r.json()["error"] == error


def test_oauth2_assertion_signed_with_another_key_is_rejected(sb: NetSuiteSandbox) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    other = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    now = int(time.time())
    token = jwt.encode({"iss": creds.CLIENT_ID, "scope": "rest_webservices", "aud": creds.token_url(sb.url),
                        "iat": now, "exp": now + 600}, other, algorithm="ES256",
                       headers={"kid": creds.CERTIFICATE_ID_ES256})
    r = request_token(sb.url, token)
    assert r.status_code == 400 and r.json()["error"] == "invalid_client"


def test_unauthenticated_and_unknown_bearer_get_invalid_login(sb: NetSuiteSandbox) -> None:
    for headers in ({}, {"Authorization": "Bearer not-issued"}):
        r = requests.get(f"{sb.url}{REC}/customer/101", headers=headers, timeout=10)
        assert r.status_code == 401
        detail = error_detail(r)
        assert detail["o:errorCode"] == "INVALID_LOGIN"
        assert detail["detail"].startswith("Invalid login attempt.")


def test_tba_signature_with_query_parameters_accepted(sb: NetSuiteSandbox) -> None:
    url = f"{sb.url}{REC}/salesOrder?limit=5&offset=0"
    r = requests.get(url, headers={"Authorization": tba_header("GET", url)}, timeout=10)
    assert r.status_code == 200, r.text
    q_url = f"{sb.url}{SUITEQL}?limit=2&offset=0"
    r = requests.post(q_url, json={"q": "SELECT id FROM currency ORDER BY id"},
                      headers={"Authorization": tba_header("POST", q_url), "Prefer": "transient"}, timeout=10)
    assert r.status_code == 200, r.text
    assert [i["id"] for i in r.json()["items"]] == ["1", "2"]


@pytest.mark.parametrize("mistake", ["tampered_secret", "query_not_signed", "lower_case_realm", "hyphen_realm",
                                     "stale_timestamp", "reused_nonce"])
def test_tba_mistakes_fail_with_invalid_login(sb: NetSuiteSandbox, mistake: str) -> None:
    url = f"{sb.url}{REC}/customer/101?expandSubResources=true"
    kwargs: dict[str, Any] = {}
    if mistake == "tampered_secret":
        kwargs["token_secret"] = creds.TOKEN_SECRET[:-1] + ("0" if creds.TOKEN_SECRET[-1] != "0" else "1")
    elif mistake == "query_not_signed":
        kwargs["sign_query"] = False
    elif mistake == "lower_case_realm":
        kwargs["realm"] = creds.ACCOUNT_ID.lower()
    elif mistake == "hyphen_realm":
        kwargs["realm"] = creds.ACCOUNT_ID.replace("_", "-")
    elif mistake == "stale_timestamp":
        kwargs["timestamp"] = int(time.time()) - 600
    elif mistake == "reused_nonce":
        nonce = secrets.token_hex(8)
        first = requests.get(url, headers={"Authorization": tba_header("GET", url, nonce=nonce)}, timeout=10)
        assert first.status_code == 200
        kwargs["nonce"] = nonce
    r = requests.get(url, headers={"Authorization": tba_header("GET", url, **kwargs)}, timeout=10)
    assert r.status_code == 401
    assert error_detail(r)["o:errorCode"] == "INVALID_LOGIN"
    audit = requests.get(f"{sb.url}/_sandbox/stats", timeout=10).json()["login_audit"]
    assert audit and audit[-1]["method"] == "tba"
    assert creds.TOKEN_SECRET not in str(audit) and creds.CONSUMER_SECRET not in str(audit)


# --- records ------------------------------------------------------------------------------------------
def test_create_get_patch_and_replace_sales_order(sb: NetSuiteSandbox, s: requests.Session) -> None:
    gbp_base = next(i for i in catalog.items() if i.sku == "SKU-00002").base_price_usd * catalog.FX_FROM_USD["GBP"]
    rid = create(s, sb, "salesOrder", uk_order([
        {"item": {"id": "1001"}, "quantity": 2, "rate": 19.99},
        {"item": {"id": 1002}, "quantity": 1},                        # no rate: Base Price in GBP
        {"item": {"id": "900"}, "rate": "4.50"},                      # shipping, quantity defaults to 1
    ], otherRefNum="206-0000001-0000001", custbody_amz_order_id="206-0000001-0000001"))
    url = f"{sb.url}{REC}/salesOrder/{rid}"
    got = s.get(url, timeout=10).json()
    expected_total = Decimal("39.98") + gbp_base.quantize(Decimal("0.01")) + Decimal("4.50")
    assert Decimal(str(got["total"])) == expected_total
    assert got["entity"]["refName"] == "Amazon UK Customer" and got["entity"]["id"] == "101"
    assert got["subsidiary"]["id"] == "2" and got["currency"]["id"] == "2"     # defaulted from the customer
    assert got["status"] == {"id": "A", "refName": "Pending Approval"}
    assert got["tranId"].startswith("SO")
    assert set(got["item"]) == {"links"}                                        # sublist collapsed to a link
    lines = s.get(url, params={"expandSubResources": "true"}, timeout=10).json()["item"]["items"]
    assert [ln["line"] for ln in lines] == [1, 2, 3]
    assert [ln["item"]["refName"] for ln in lines] == ["SKU-00001", "SKU-00002", "Amazon Shipping Charge"]
    # PATCH: update line 1 (keyed by line), append one line
    r = s.patch(url, json={"item": {"items": [{"line": 1, "quantity": 3}, {"item": {"id": "1003"}, "quantity": 1,
                                                                           "rate": 10}]}}, timeout=10)
    assert r.status_code == 204, r.text
    rec = next(x for x in sb.store.records("salesOrder") if x["id"] == rid)
    assert [(ln["line"], str(ln["quantity"])) for ln in rec["item"]["items"]] == [(1, "3"), (2, "1"), (3, "1"),
                                                                                    (4, "1")]
    assert rec["item"]["items"][0]["amount"] == Decimal("59.97")
    # PATCH ?replace=item keeps only the lines sent
    r = s.patch(url, params={"replace": "item"}, json={"item": {"items": [{"line": 2}, {"item": {"id": "1004"},
                                                                                         "rate": 5}]}}, timeout=10)
    assert r.status_code == 204, r.text
    rec = next(x for x in sb.store.records("salesOrder") if x["id"] == rid)
    assert [(ln["line"], ln["item"]["id"]) for ln in rec["item"]["items"]] == [(2, "1002"), (5, "1004")]
    # the SuiteQL projection follows: NetSuite's negative sign on sales lines, main line carries the total
    tl = rows(s, sb, f"SELECT linesequencenumber, item, quantity, netamount, mainline FROM transactionline "
                     f"WHERE transaction = {rid} ORDER BY linesequencenumber")
    assert tl[0]["mainline"] == "T" and Decimal(tl[0]["netamount"]) == Decimal(str(rec["total"]))
    assert [(r_["item"], r_["quantity"]) for r_ in tl[1:]] == [("1002", "-1"), ("1004", "-1")]
    custom = rows(s, sb, f"SELECT custbody_amz_order_id FROM transaction WHERE id = {rid}")
    assert custom == [{"links": [], "custbody_amz_order_id": "206-0000001-0000001"}]


def test_get_unknown_record_and_delete(sb: NetSuiteSandbox, s: requests.Session) -> None:
    r = s.get(f"{sb.url}{REC}/salesOrder/99999999", timeout=10)
    assert r.status_code == 404 and error_detail(r)["o:errorCode"] == "NONEXISTENT_ID"
    r = s.delete(f"{sb.url}{REC}/customer/101", timeout=10)
    assert r.status_code == 405
    assert sb.store.count("customer") >= 3


def test_upsert_by_external_id_creates_then_updates(sb: NetSuiteSandbox, s: requests.Session) -> None:
    url = f"{sb.url}{REC}/salesOrder/eid:AMZ-206-1111111-1111111"
    body = uk_order([{"item": {"id": "1001"}, "quantity": 1, "rate": 12}])
    first = s.put(url, json=body, timeout=10)
    second = s.put(url, params={"replace": "item"}, json={**body, "memo": "updated"}, timeout=10)
    assert first.status_code == second.status_code == 204
    assert first.headers["Location"] == second.headers["Location"]
    recs = [x for x in sb.store.records("salesOrder") if x.get("externalId") == "AMZ-206-1111111-1111111"]
    assert len(recs) == 1 and recs[0]["memo"] == "updated" and len(recs[0]["item"]["items"]) == 1
    by_eid = s.get(url, timeout=10).json()
    assert by_eid["id"] == first.headers["Location"].rsplit("/", 1)[1]
    r = s.put(f"{sb.url}{REC}/salesOrder/eid:bad|id", json=body, timeout=10)
    assert r.status_code == 400 and error_detail(r)["o:errorPath"] == "externalId"
    r = s.post(f"{sb.url}{REC}/salesOrder", json={**body, "externalId": "AMZ-206-1111111-1111111"}, timeout=10)
    assert r.status_code == 400


def test_three_concurrent_upserts_with_one_external_id_leave_one_record(sb: NetSuiteSandbox) -> None:
    eid = f"AMZ-CONC-{uuid.uuid4().hex[:10]}"
    sessions = [bearer_session(sb) for _ in range(3)]
    barrier = threading.Barrier(3)
    results: list[requests.Response] = []
    lock = threading.Lock()

    def worker(sess: requests.Session) -> None:
        barrier.wait()
        r = sess.put(f"{sb.url}{REC}/salesOrder/eid:{eid}", params={"replace": "item"},
                     json=uk_order([{"item": {"id": "1004"}, "quantity": 1, "rate": 7}]), timeout=20)
        with lock:
            results.append(r)

    threads = [threading.Thread(target=worker, args=(x,)) for x in sessions]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.status_code for r in results] == [204, 204, 204], [r.text for r in results]
    assert len({r.headers["Location"] for r in results}) == 1
    matching = [x for x in sb.store.records("salesOrder") if x.get("externalId") == eid]
    assert len(matching) == 1
    assert rows(sb_session(sb), sb, f"SELECT COUNT(*) AS n FROM transaction WHERE externalid = '{eid}'") == [
        {"links": [], "n": "1"}]


def sb_session(sb: NetSuiteSandbox) -> requests.Session:
    return bearer_session(sb, "ES256")


def test_transforms_fulfil_and_bill_a_sales_order(sb: NetSuiteSandbox, s: requests.Session) -> None:
    onhand_before = Decimal(sb.store.inventory(1002, 1)["quantityonhand"])
    rid = create(s, sb, "salesOrder", uk_order([{"item": {"id": "1002"}, "quantity": 3, "rate": 20},
                                                {"item": {"id": "1003"}, "quantity": 1, "rate": 10},
                                                {"item": {"id": "900"}, "rate": 3}]))
    url = f"{sb.url}{REC}/salesOrder/{rid}"
    r = s.post(f"{url}/!transform/itemFulfillment", json={}, timeout=10)
    assert r.status_code == 400 and "Pending Approval" in error_detail(r)["detail"]
    assert s.patch(url, json={"orderStatus": "B"}, timeout=10).status_code == 204
    r = s.post(f"{url}/!transform/itemFulfillment", timeout=10, json={
        "item": {"items": [{"orderLine": 1, "quantity": 2}, {"orderLine": 2, "itemreceive": False}]}})
    assert r.status_code == 204, r.text
    fid = r.headers["Location"].rsplit("/", 1)[1]
    ful = next(x for x in sb.store.records("itemFulfillment") if x["id"] == fid)
    assert ful["createdFrom"]["id"] == rid
    assert [(ln["orderLine"], str(ln["quantity"])) for ln in ful["item"]["items"]] == [(1, "2")]   # no service line
    assert Decimal(sb.store.inventory(1002, 1)["quantityonhand"]) == onhand_before - 2
    order = s.get(url, timeout=10).json()
    assert order["status"]["refName"] == "Pending Billing/Partially Fulfilled"
    r = s.post(f"{url}/!transform/itemFulfillment", timeout=10,
               json={"item": {"items": [{"orderLine": 1, "quantity": 5}]}})
    assert r.status_code == 400 and error_detail(r)["o:errorPath"] == "item.items[0].quantity"
    r = s.post(f"{url}/!transform/invoice", json={"tranDate": "2026-03-01"}, timeout=10)
    assert r.status_code == 204, r.text
    inv = s.get(r.headers["Location"], timeout=10).json()
    assert inv["createdFrom"]["id"] == rid and inv["tranDate"] == "2026-03-01"
    assert Decimal(str(inv["total"])) == Decimal("73")                  # every line billed: 60 + 10 + 3
    r = s.post(f"{url}/!transform/cashSale", json={}, timeout=10)
    assert r.status_code == 400                                        # nothing left to bill
    ship = rows(s, sb, f"SELECT t.type, t.createdfrom, BUILTIN.DF(t.createdfrom) AS src FROM transaction t "
                       f"WHERE t.createdfrom = {rid} ORDER BY t.id")
    assert [x["type"] for x in ship] == ["ItemShip", "CustInvc"]
    assert ship[0]["src"] == order["tranId"]


def test_cash_sale_transform_ships_unfulfilled_quantity(sb: NetSuiteSandbox, s: requests.Session) -> None:
    before = Decimal(sb.store.inventory(1004, 1)["quantityonhand"])
    rid = create(s, sb, "salesOrder", uk_order([{"item": {"id": "1004"}, "quantity": 2, "rate": 9}], orderStatus="B"))
    r = s.post(f"{sb.url}{REC}/salesOrder/{rid}/!transform/cashSale", json={}, timeout=10)
    assert r.status_code == 204, r.text
    assert Decimal(sb.store.inventory(1004, 1)["quantityonhand"]) == before - 2
    order = s.get(f"{sb.url}{REC}/salesOrder/{rid}", timeout=10).json()
    assert order["status"] == {"id": "G", "refName": "Billed"}


@pytest.mark.parametrize(("body", "path", "fragment"), [
    (uk_order([{"item": {"id": "1001"}, "quantity": 1, "rate": 1}, {"item": {"id": "9999999"}, "quantity": 1}]),
     "item.items[1].item", "Invalid Field Value 9999999"),
    ({"entity": {"id": "424242"}, "item": {"items": [{"item": {"id": "1001"}, "rate": 1}]}}, "entity", "entity"),
    (uk_order([{"item": {"id": "1017"}, "rate": 1}]), "item.items[0].item", "inactive"),          # SKU-00017
    (uk_order([{"item": {"id": "1061"}, "rate": 1}]), "item.items[0].item", "matrix parent"),     # MTX-001
    (uk_order([{"item": {"id": "1001"}, "rate": 1, "location": {"id": "2"}}]), "item.items[0].location",
     "another subsidiary"),
    (uk_order([{"item": {"id": "1001"}, "rate": 1}], subsidiary={"id": "3"}), "subsidiary", "subsidiary"),
    (uk_order([{"item": {"id": "1001"}, "rate": 1}], currency={"id": "4"}), "currency", "currency"),
    (uk_order([{"item": {"id": "1001"}, "rate": 1, "taxCode": {"id": "77"}}]), "item.items[0].taxCode", "taxCode"),
    (uk_order([{"item": {"id": "1001"}, "rate": 1}], department={"id": "9"}), "department", "department"),
    (uk_order([{"item": {"id": "1001"}, "rate": 1}], **{"class": {"id": "99"}}), "class", "class"),
    ({"item": {"items": [{"item": {"id": "1001"}, "rate": 1}]}}, "entity", "Please enter value(s) for: Customer"),
    (uk_order([]), "item", "at least one line"),
])
def test_validation_errors_name_the_path(sb: NetSuiteSandbox, s: requests.Session, body: dict[str, Any],
                                         path: str, fragment: str) -> None:
    before = sb.store.count("salesOrder")
    r = s.post(f"{sb.url}{REC}/salesOrder", json=body, timeout=10)
    assert r.status_code == 400, r.text
    detail = error_detail(r)
    assert detail["o:errorCode"] == "USER_ERROR"
    assert detail["o:errorPath"] == path
    assert fragment in detail["detail"]
    assert sb.store.count("salesOrder") == before


def test_journal_entries_must_balance(sb: NetSuiteSandbox, s: requests.Session) -> None:
    lines = [{"account": {"id": "111"}, "debit": "100.00", "memo": "payout"},
             {"account": {"id": "500"}, "debit": "15.25"},
             {"account": {"id": "400"}, "credit": "115.24"}]
    r = s.post(f"{sb.url}{REC}/journalEntry", json={"subsidiary": {"id": "2"}, "line": {"items": lines}}, timeout=10)
    assert r.status_code == 400
    detail = error_detail(r)
    assert detail["o:errorPath"] == "line" and "0.01" in detail["detail"]
    lines[2]["credit"] = "115.25"
    jid = create(s, sb, "journalEntry", {"subsidiary": {"id": "2"}, "externalId": "AMZ-STL-900001",
                                         "line": {"items": lines}})
    je = s.get(f"{sb.url}{REC}/journalEntry/{jid}", timeout=10).json()
    assert Decimal(str(je["total"])) == Decimal("115.25") and je["currency"]["id"] == "2"
    gl = rows(s, sb, f"SELECT account, debit, credit FROM transactionaccountingline WHERE transaction = {jid} "
                     "ORDER BY transactionline")
    assert [(g["account"], g.get("debit"), g.get("credit")) for g in gl] == [
        ("111", "100", None), ("500", "15.25", None), ("400", None, "115.25")]
    r = s.post(f"{sb.url}{REC}/journalEntry", json={"subsidiary": {"id": "2"}, "line": {"items": [
        {"account": {"id": "111"}, "debit": 5}, {"account": {"id": "4040404"}, "credit": 5}]}}, timeout=10)
    assert r.status_code == 400 and error_detail(r)["o:errorPath"] == "line.items[1].account"


def test_inventory_adjustment_moves_stock(sb: NetSuiteSandbox, s: requests.Session) -> None:
    before = Decimal(sb.store.inventory(1003, 11)["quantityonhand"]) if sb.store.inventory(1003, 11) else Decimal(0)
    create(s, sb, "inventoryAdjustment", {"subsidiary": {"id": "2"}, "account": {"id": "599"},
                                         "externalId": "AMZ-FBA-uk-20260301-1200",
                                         "inventory": {"items": [{"item": {"id": "1003"}, "location": {"id": "11"},
                                                                  "adjustQtyBy": -3}]}})
    after = rows(s, sb, "SELECT quantityonhand FROM inventorybalance WHERE item = 1003 AND location = 11")
    assert Decimal(after[0]["quantityonhand"]) == before - 3


def test_customer_payment_and_deposit_update_documents(sb: NetSuiteSandbox, s: requests.Session) -> None:
    so = create(s, sb, "salesOrder", uk_order([{"item": {"id": "900"}, "rate": 12}], orderStatus="B"))
    r = s.post(f"{sb.url}{REC}/salesOrder/{so}/!transform/invoice", json={}, timeout=10)
    inv = r.headers["Location"].rsplit("/", 1)[1]
    create(s, sb, "customerPayment", {"customer": {"id": "101"}, "apply": {"items": [{"doc": {"id": inv},
                                                                                      "apply": True, "amount": 12}]}})
    assert s.get(f"{sb.url}{REC}/invoice/{inv}", timeout=10).json()["status"]["refName"] == "Paid In Full"
    cs = create(s, sb, "cashSale", uk_order([{"item": {"id": "900"}, "rate": 8}]))
    dep = create(s, sb, "deposit", {"account": {"id": "111"}, "subsidiary": {"id": "2"}, "currency": {"id": "2"},
                                    "payment": {"items": [{"doc": {"id": cs}, "deposit": True}]},
                                    "cashBack": {"items": [{"account": {"id": "500"}, "amount": 1.5}]}})
    assert Decimal(str(s.get(f"{sb.url}{REC}/deposit/{dep}", timeout=10).json()["total"])) == Decimal("6.5")
    assert s.get(f"{sb.url}{REC}/cashSale/{cs}", timeout=10).json()["status"]["refName"] == "Deposited"


# --- async, batch, idempotency -----------------------------------------------------------------------
def test_async_create_returns_a_job(sb: NetSuiteSandbox, s: requests.Session) -> None:
    r = s.post(f"{sb.url}{REC}/customer", headers={"Prefer": "respond-async"}, timeout=10,
               json={"companyName": "Async Buyer", "subsidiary": {"id": "4"}})
    assert r.status_code == 202 and r.headers["Preference-Applied"] == "respond-async"
    job = wait_job(s, r.headers["Location"])
    assert job["progress"] == "succeeded"
    task_list = s.get(job["task"]["links"][0]["href"], timeout=10).json()
    assert task_list["count"] == 1
    result = s.get(task_list["items"][0]["links"][0]["href"] + "/result", timeout=10)
    assert result.status_code == 204
    cust = s.get(result.headers["Location"], timeout=10).json()
    assert cust["companyName"] == "Async Buyer" and cust["currency"]["id"] == "1"


def test_batch_upsert_with_per_item_outcome_and_idempotency(sb: NetSuiteSandbox, s: requests.Session) -> None:
    key = str(uuid.uuid4())
    headers = {"Prefer": "respond-async", "Content-Type": "application/vnd.oracle.resource+json; type=collection",
               "X-NetSuite-Idempotency-Key": key}
    items = [{"externalId": "AMZ-BATCH-1", **uk_order([{"item": {"id": "1001"}, "quantity": 1, "rate": 5}])},
             {"externalId": "AMZ-BATCH-2", **uk_order([{"item": {"id": "8888888"}, "quantity": 1, "rate": 5}])},
             {"externalId": "AMZ-BATCH-3", **uk_order([{"item": {"id": "1002"}, "quantity": 2, "rate": 6}])}]
    r = s.put(f"{sb.url}{REC}/salesOrder", data=_json.dumps({"items": items}), headers=headers, timeout=10)
    assert r.status_code == 202, r.text
    job_url = r.headers["Location"]
    job = wait_job(s, job_url)
    assert job["progress"] == "failed"                                      # one item failed
    tasks = s.get(f"{job_url}/task", timeout=10).json()["items"]
    results = [s.get(t["links"][0]["href"] + "/result", timeout=10) for t in tasks]
    assert [x.status_code for x in results] == [204, 400, 204]
    assert error_detail(results[1])["o:errorPath"] == "item.items[0].item"
    eids = {x.get("externalId") for x in sb.store.records("salesOrder")}
    assert {"AMZ-BATCH-1", "AMZ-BATCH-3"} <= eids and "AMZ-BATCH-2" not in eids
    again = s.put(f"{sb.url}{REC}/salesOrder", data=_json.dumps({"items": items}), headers=headers, timeout=10)
    assert again.status_code == 400
    assert error_detail(again)["o:errorCode"] == "IDEMPOTENCY_ERROR"
    assert again.headers["Location"] == job_url
    assert sum(1 for x in sb.store.records("salesOrder") if x.get("externalId") == "AMZ-BATCH-1") == 1
    too_many = {"items": [{"externalId": f"AMZ-X-{i}"} for i in range(101)]}
    r = s.put(f"{sb.url}{REC}/salesOrder", data=_json.dumps(too_many),
              headers={**headers, "X-NetSuite-Idempotency-Key": str(uuid.uuid4())}, timeout=10)
    assert r.status_code == 400
    sync = {k: v for k, v in headers.items() if k != "Prefer"}
    r = s.put(f"{sb.url}{REC}/salesOrder", data=_json.dumps({"items": items[:1]}), headers=sync, timeout=10)
    assert r.status_code == 400 and error_detail(r)["o:errorHeader"] == "Prefer"


# --- SuiteQL ------------------------------------------------------------------------------------------
def test_suiteql_envelope_values_and_joins(sb: NetSuiteSandbox, s: requests.Session) -> None:
    r = suiteql(s, sb, "SELECT id, itemid, displayname, isinactive, upccode FROM item WHERE itemtype = 'InvtPart' "
                       "ORDER BY id", limit=10, offset=10)
    assert r.status_code == 200
    page = r.json()
    assert set(page) == {"links", "count", "hasMore", "items", "offset", "totalResults"}
    assert page["count"] == 10 and page["offset"] == 10 and page["hasMore"] is True
    assert page["totalResults"] == len(catalog.items())
    assert {link["rel"] for link in page["links"]} >= {"next", "self", "last"}
    first = page["items"][0]
    assert first["links"] == [] and first["id"] == "1011" and first["itemid"] == "SKU-00011"
    assert "upccode" not in first                  # SKU-00011 has no GTIN: NULL columns are left out
    assert all(isinstance(v, str) for it in page["items"] for k, v in it.items() if k != "links")
    prices = rows(s, sb, "SELECT i.itemid, p.quantity, p.unitprice, BUILTIN.DF(p.currency) AS cur, "
                         "BUILTIN.DF(p.pricelevel) AS lvl FROM pricing p JOIN item i ON i.id = p.item "
                         "WHERE i.itemid = 'SKU-00002' AND p.pricelevel = 5 AND p.currency = 2 ORDER BY p.quantity")
    base = catalog.item_by_sku()["SKU-00002"].base_price_usd * catalog.FX_FROM_USD["GBP"]
    assert [p["quantity"] for p in prices] == ["0", "10", "50"]
    assert Decimal(prices[0]["unitprice"]) == (base.quantize(Decimal("0.01")) * Decimal("0.95")).quantize(
        Decimal("0.01"))
    assert prices[0]["cur"] == "British Pound" and prices[0]["lvl"] == "Amazon Business (B2B)"
    inv = rows(s, sb, "SELECT b.item, b.location, b.quantityonhand, b.quantityavailable, b.quantitycommitted "
                      "FROM inventorybalance b JOIN location l ON l.id = b.location "
                      "WHERE l.custrecord_amz_fba = 'T' AND b.item IN (1003, 1006) ORDER BY b.item, b.location")
    assert {(x["item"], x["location"]) for x in inv} == {("1003", "11"), ("1003", "12"), ("1003", "13"),
                                                          ("1006", "11"), ("1006", "12"), ("1006", "13")}
    assert all(Decimal(x["quantityavailable"]) == Decimal(x["quantityonhand"]) - Decimal(x["quantitycommitted"])
               for x in inv)


def test_suiteql_dates_and_formats(sb: NetSuiteSandbox, s: requests.Session) -> None:
    rid = create(s, sb, "cashSale", uk_order([{"item": {"id": "900"}, "rate": 2}], tranDate="2026-02-03"))
    got = rows(s, sb, f"SELECT trandate, TO_CHAR(trandate, 'YYYY-MM-DD') AS iso, "
                      f"TO_CHAR(lastmodifieddate, 'YYYY-MM-DD\"T\"HH24:MI:SS') AS lm FROM transaction WHERE id = {rid}")
    assert got[0]["trandate"] == "2/3/2026" and got[0]["iso"] == "2026-02-03"
    assert len(got[0]["lm"]) == 19 and got[0]["lm"][10] == "T"
    hit = rows(s, sb, f"SELECT id FROM transaction WHERE id = {rid} AND trandate = TO_DATE('2026-02-03', 'YYYY-MM-DD')")
    assert hit == [{"links": [], "id": rid}]
    user_format = rows(s, sb, f"SELECT id FROM transaction WHERE id = {rid} AND trandate >= '2/3/2026'")
    assert len(user_format) == 1
    r = suiteql(s, sb, f"SELECT id FROM transaction WHERE trandate >= '2026-02-03'")
    assert r.status_code == 400 and "Unparseable date" in error_detail(r)["detail"]


@pytest.mark.parametrize(("params", "headers", "q", "error_key"), [
    ({"limit": 1001}, {"Prefer": "transient"}, "SELECT id FROM item", "o:errorQueryParam"),
    ({"limit": 10, "offset": 15}, {"Prefer": "transient"}, "SELECT id FROM item", "o:errorQueryParam"),
    ({"limit": 1000, "offset": 100000}, {"Prefer": "transient"}, "SELECT id FROM item", "o:errorQueryParam"),
    ({"limit": 10}, {}, "SELECT id FROM item", "o:errorHeader"),
    ({"limit": 10}, {"Prefer": "transient"}, "DELETE FROM item", None),
    ({"limit": 10}, {"Prefer": "transient"}, "SELECT id FROM item; SELECT 1 FROM item", None),
    ({"limit": 10}, {"Prefer": "transient"}, "SELECT id FROM item -- hi", None),
    ({"limit": 10}, {"Prefer": "transient"}, "SELECT nosuchcolumn FROM item", None),
    ({"limit": 10}, {"Prefer": "transient"}, "SELECT id FROM nosuchtable", None),
])
def test_suiteql_rejections(sb: NetSuiteSandbox, s: requests.Session, params: dict[str, int],
                            headers: dict[str, str], q: str, error_key: str | None) -> None:
    r = s.post(f"{sb.url}{SUITEQL}", params=params, json={"q": q}, headers=headers, timeout=10)
    assert r.status_code == 400
    detail = error_detail(r)
    if error_key is None:
        assert detail["o:errorCode"] == "INVALID_PARAMETER" and "Invalid search query" in detail["detail"]
    else:
        assert error_key in detail


def test_suiteql_keyset_pagination_visits_150000_rows_exactly_once() -> None:
    with create_server(catalog_size=20) as big:
        ids = big.store.bulk_insert_items(150_000)
        assert len(ids) == 150_000
        s = bearer_session(big)
        expected = int(big.store.scalar("SELECT COUNT(*) FROM item", {}))
        assert expected > 150_000
        r = suiteql(s, big, "SELECT id FROM item ORDER BY id", limit=1000, offset=100_000)
        assert r.status_code == 400                                           # NetSuite's 100,000-row cap
        seen: list[int] = []
        last = 0
        while True:
            offset = 0
            while True:
                r = suiteql(s, big, f"SELECT id, itemid FROM item WHERE id > {last} ORDER BY id", 1000, offset)
                assert r.status_code == 200, r.text
                page = r.json()
                seen.extend(int(i["id"]) for i in page["items"])
                if not page["hasMore"] or offset + 2000 > 100_000:
                    break
                offset += 1000
            if not page["hasMore"]:
                break
            last = seen[-1]
        assert len(seen) == expected
        assert len(set(seen)) == expected and seen == sorted(seen)
        assert seen[-1] == ids[-1]


# --- governance, faults, latency -------------------------------------------------------------------
def test_concurrency_limit_answers_429() -> None:
    with create_server(concurrency_limit=2, latency_ms=800, catalog_size=5) as small:
        token = bearer_session(small).headers["Authorization"]
        barrier = threading.Barrier(6)
        statuses: list[tuple[int, str | None]] = []
        lock = threading.Lock()

        def worker() -> None:
            barrier.wait()
            r = requests.get(f"{small.url}{REC}/customer/101", headers={"Authorization": token}, timeout=20)
            code = r.json()["o:errorDetails"][0]["o:errorCode"] if r.status_code != 200 else None
            with lock:
                statuses.append((r.status_code, code))

        threads = [threading.Thread(target=worker) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        rejected = [x for x in statuses if x[0] == 429]
        assert rejected and all(code == "CONCURRENCY_LIMIT_EXCEEDED" for _, code in rejected)
        assert any(x[0] == 200 for x in statuses)
        stats = requests.get(f"{small.url}/_sandbox/stats", timeout=10).json()
        assert stats["peak_concurrency"] == 2 and stats["concurrency_rejections"] == len(rejected)


def test_fault_injection_is_deterministic() -> None:
    def run() -> list[int]:
        with create_server(catalog_size=5, faults={"rate": 0.5, "kinds": ["429", "5xx", "concurrency_400"],
                                                   "seed": 7}) as faulty:
            s = bearer_session(faulty)
            return [s.get(f"{faulty.url}{REC}/currency/1", timeout=10).status_code for _ in range(24)]

    first, second = run(), run()
    assert first == second
    assert set(first) <= {200, 429, 500, 400} and 200 in first and len(set(first) - {200}) >= 2
    with create_server(catalog_size=5, faults={"rate": 1.0, "kinds": ["drop"]}) as dropping:
        s = bearer_session(dropping)
        with pytest.raises(requests.ConnectionError):
            s.get(f"{dropping.url}{REC}/currency/1", timeout=10)
    with create_server(catalog_size=5, faults={"rate": 1.0, "kinds": ["concurrency_400"]}) as c400:
        r = bearer_session(c400).get(f"{c400.url}{REC}/currency/1", timeout=10)
        assert r.status_code == 400 and error_detail(r)["o:errorCode"] == "CONCURRENCY_LIMIT_EXCEEDED"


# --- seed, inspection, control ------------------------------------------------------------------------
def test_seed_matches_the_shared_catalogue(sb: NetSuiteSandbox, s: requests.Session) -> None:
    items = {x["itemId"]: x for x in sb.store.records("inventoryItem")}
    for it in catalog.items():
        rec = items[it.sku]
        assert rec["id"] == it.internal_id
        assert rec["isInactive"] is it.inactive
        if it.is_matrix_parent:
            assert rec["matrixType"]["id"] == "PARENT"
        if it.matrix_parent_sku:
            assert rec["matrixType"]["id"] == "CHILD" and rec["parent"]["refName"] == it.matrix_parent_sku
    fba = rows(s, sb, "SELECT id, custrecord_amz_marketplace AS mp FROM location WHERE custrecord_amz_fba = 'T' "
                      "ORDER BY id")
    assert [(x["id"], x["mp"]) for x in fba] == [(m.fba_location_id, m.code) for m in catalog.MARKETPLACES.values()]
    info = sb.seed_info
    assert info is not None and info.future_price is not None
    london = info.future_price.effective_utc.astimezone(ZoneInfo("Europe/London"))
    assert (london.hour, london.minute) == (0, 0)
    assert london.date() == info.now.astimezone(ZoneInfo("Europe/London")).date() + timedelta(days=1)
    future = rows(s, sb, f"SELECT unitprice, TO_CHAR(effectivedate, 'YYYY-MM-DD HH24:MI:SS') AS eff FROM pricing "
                         f"WHERE item = {info.future_price.item_id} AND currency = 2 AND pricelevel = 1 "
                         f"ORDER BY effectivedate NULLS FIRST")
    assert [Decimal(x["unitprice"]) for x in future] == [info.future_price.current, info.future_price.new]
    assert "eff" not in future[0] and future[1]["eff"] == info.future_price.effective_utc.strftime("%Y-%m-%d %H:%M:%S")
    jpy = rows(s, sb, "SELECT unitprice FROM pricing WHERE item = 1001 AND currency = 6")
    assert jpy and "." not in jpy[0]["unitprice"]
    accounts = rows(s, sb, "SELECT id, acctnumber FROM account ORDER BY id")
    assert {(a["id"], a["acctnumber"]) for a in accounts} >= {(k, v[0]) for k, v in catalog.ACCOUNTS.items()}
    published = rows(s, sb, "SELECT itemid, custitem_amz_publish AS p, custitem_amz_safety_stock AS ss, "
                            "custitem_amz_title_de_de AS t FROM item WHERE itemid = 'SKU-00003'")[0]
    assert published["p"] == "T" and published["ss"].isdigit() and published["t"].endswith("(DE)")


def test_inspection_and_control_endpoints(sb: NetSuiteSandbox, s: requests.Session) -> None:
    full = requests.get(f"{sb.url}/_sandbox/records/salesOrder", timeout=10).json()
    assert full["totalResults"] == sb.store.count("salesOrder") > 0
    assert all("items" in rec["item"] for rec in full["items"])           # sublists included
    ctl = f"{sb.url}/_sandbox/control"
    assert requests.post(ctl, json={"action": "set_inventory", "sku": "SKU-00005", "location": "1",
                                    "quantityonhand": 77, "quantitycommitted": 7}, timeout=10).status_code == 200
    bal = rows(s, sb, "SELECT quantityonhand, quantityavailable FROM inventorybalance WHERE item = 1005 AND location = 1")
    assert bal == [{"links": [], "quantityonhand": "77", "quantityavailable": "70"}]
    assert requests.post(ctl, json={"action": "set_price", "sku": "SKU-00005", "currency": "EUR", "pricelevel": 1,
                                    "unitprice": "12.34"}, timeout=10).status_code == 200
    assert rows(s, sb, "SELECT unitprice FROM pricing WHERE item = 1005 AND currency = 4 AND pricelevel = 1 "
                       "AND quantity = 0 AND effectivedate IS NULL")[0]["unitprice"] == "12.34"
    added = requests.post(ctl, json={"action": "add_item", "sku": "SKU-NEW-1", "displayName": "New",
                                     "custitem_amz_publish": True}, timeout=10).json()
    assert rows(s, sb, f"SELECT itemid FROM item WHERE id = {added['id']}")[0]["itemid"] == "SKU-NEW-1"
    assert requests.post(ctl, json={"action": "deactivate_item", "sku": "SKU-00005"}, timeout=10).status_code == 200
    r = s.post(f"{sb.url}{REC}/salesOrder", json=uk_order([{"item": {"id": "1005"}, "rate": 1}]), timeout=10)
    assert r.status_code == 400 and "inactive" in error_detail(r)["detail"]
    stats = requests.get(f"{sb.url}/_sandbox/stats", timeout=10).json()
    assert stats["requests"]["POST suiteql"] >= 1 and stats["concurrency_limit"] == 10
    assert requests.post(ctl, json={"action": "reset_stats"}, timeout=10).status_code == 200
    assert requests.get(f"{sb.url}/_sandbox/stats", timeout=10).json()["requests"] == {"GET sandbox": 1}
