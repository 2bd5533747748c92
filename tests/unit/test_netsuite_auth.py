"""NetSuite auth: Oracle's TBA vectors, TBA signing details, OAuth 2.0 JWT assertions and token caching."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import urllib.parse
from pathlib import Path

import jwt
import pytest
import requests
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from airflow_provider_amznetsuite.get_provider_info import get_provider_info
from airflow_provider_amznetsuite.hooks import netsuite as ns
from airflow_provider_amznetsuite.hooks import netsuite_auth as auth
from airflow_provider_amznetsuite.hooks.netsuite import NetSuiteHook
from airflow_provider_amznetsuite.hooks.netsuite_errors import NetSuiteAuthError, NetSuiteConfigError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "netsuite"

# --- Oracle's worked example (ns-online-help section_1534941088 / section_1534941295) ----------------
ORA_ACCOUNT = "123456"
ORA_CONSUMER_KEY = "ef40afdd8abaac111b13825dd5e5e2ddddb44f86d5a0dd6dcf38c20aae6b67e4"
# NB: Oracle's consumer secret ends in ...9ab9e8b5 (the value with ...9ab9a8b5 yields fM5fe4ld...).
ORA_CONSUMER_SECRET = "d26ad321a4b2f23b0741c8d38392ce01c3e23e109df6c96eac6d099e9ab9e8b5"
ORA_TOKEN = "2b0ce516420110bcbd36b69e99196d1b7f6de3c6234c5afb799b73d87569f5cc"
ORA_TOKEN_SECRET = "c29a677df7d5439a458c063654187e3d678d73aca8e3c9d8bea1478a3eb0d295"
ORA_NONCE = "fjaLirsIcCGVZWzBX0pg"
ORA_TIMESTAMP = "1508242306"
ORA_URL = "https://123456.suitetalk.api.netsuite.com/services/rest/record/v1/employee/40"
ORA_SIGNATURE = "B5OIWznZ2YP0OB7VrJrGkYsTh+8H+5T9Hag+o92q0zY="
ORA_RESTLET_URL = "https://123456.restlets.api.netsuite.com/app/site/hosting/restlet.nl"
ORA_RESTLET_PARAMS = {"script": "6", "deploy": "1", "customParam": "someValue", "testParam": "someOtherValue"}
ORA_RESTLET_SIGNATURE = "+KK4SKNgz4ZiILGLwOMtfYlgcXSy1eis8ldE9X90azQ="


@pytest.fixture(autouse=True)
def _isolated_registries():
    ns._SEMAPHORES.clear()
    auth.clear_token_cache()
    yield
    ns._SEMAPHORES.clear()
    auth.clear_token_cache()


def _header_params(header: str | bytes) -> dict[str, str]:
    text = header.decode() if isinstance(header, bytes) else header
    assert text.startswith("OAuth ")
    return {k: urllib.parse.unquote(v) for k, v in re.findall(r'(\w+)="([^"]*)"', text)}


def _enc(s: str) -> str:
    return urllib.parse.quote(s, safe="~")


def _independent_signature(method: str, url: str, oauth: dict[str, str], consumer_secret: str, token_secret: str) -> str:
    """RFC 5849 HMAC-SHA256 computed here with hmac/hashlib only (not oauthlib)."""
    parts = urllib.parse.urlsplit(url)
    pairs = [(k, v) for k, v in oauth.items() if k not in ("realm", "oauth_signature")]
    pairs += urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    norm = "&".join(f"{k}={v}" for k, v in sorted((_enc(k), _enc(v)) for k, v in pairs))
    base_uri = f"{parts.scheme}://{parts.netloc.lower()}{parts.path}"
    base = "&".join([method.upper(), _enc(base_uri), _enc(norm)])
    key = f"{_enc(consumer_secret)}&{_enc(token_secret)}"
    return base64.b64encode(hmac.new(key.encode(), base.encode(), hashlib.sha256).digest()).decode()


def _oracle_auth(account: str = ORA_ACCOUNT) -> auth.TbaAuth:
    return auth.TbaAuth(account_id=account, consumer_key=ORA_CONSUMER_KEY, consumer_secret=ORA_CONSUMER_SECRET,
                        token_id=ORA_TOKEN, token_secret=ORA_TOKEN_SECRET,
                        nonce_factory=lambda: ORA_NONCE, timestamp_factory=lambda: ORA_TIMESTAMP)


def _set_conn(monkeypatch: pytest.MonkeyPatch, conn_id: str, extra: dict, host: str | None = None) -> None:
    body = {"conn_type": "netsuite", "extra": extra}
    if host:
        body["host"] = host
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(body))


# --- TBA ------------------------------------------------------------------------------------------
def test_oracle_tba_example_reproduces_the_published_signature_via_the_hook(monkeypatch, requests_mock):
    _set_conn(monkeypatch, "ns_ora", {
        "account_id": ORA_ACCOUNT, "auth_type": "tba", "consumer_key": ORA_CONSUMER_KEY,
        "consumer_secret": ORA_CONSUMER_SECRET, "token_id": ORA_TOKEN, "token_secret": ORA_TOKEN_SECRET})
    hook = NetSuiteHook("ns_ora")
    hook._auth_objects()  # builds the TbaAuth the hook signs with; inject Oracle's nonce/timestamp into it
    hook._tba._nonce = lambda: ORA_NONCE
    hook._tba._timestamp = lambda: ORA_TIMESTAMP
    requests_mock.get(ORA_URL, json={"id": "40"})

    record = hook.get_record("employee", 40)

    assert record == {"id": "40"}
    header = requests_mock.last_request.headers["Authorization"]
    params = _header_params(header)
    assert params["oauth_signature"] == ORA_SIGNATURE
    assert "oauth_signature=\"B5OIWznZ2YP0OB7VrJrGkYsTh%2B8H%2B5T9Hag%2Bo92q0zY%3D\"" in (
        header.decode() if isinstance(header, bytes) else header)
    assert params["realm"] == "123456"
    assert params["oauth_signature_method"] == "HMAC-SHA256"
    assert params["oauth_version"] == "1.0"


def test_oracle_restlet_example_signs_every_query_parameter():
    prepared = requests.Request("POST", ORA_RESTLET_URL, params=ORA_RESTLET_PARAMS, data=b'{"x":1}',
                                headers={"Content-Type": "application/json"}, auth=_oracle_auth()).prepare()
    assert _header_params(prepared.headers["Authorization"])["oauth_signature"] == ORA_RESTLET_SIGNATURE


def test_the_brief_typo_of_the_consumer_secret_does_not_match_oracle():
    """Guards the vector itself: the mistyped secret (…9ab9a8b5) must not reproduce Oracle's signature."""
    oauth = {"oauth_consumer_key": ORA_CONSUMER_KEY, "oauth_nonce": ORA_NONCE, "oauth_signature_method": "HMAC-SHA256",
             "oauth_timestamp": ORA_TIMESTAMP, "oauth_token": ORA_TOKEN, "oauth_version": "1.0"}
    assert _independent_signature("GET", ORA_URL, oauth, ORA_CONSUMER_SECRET, ORA_TOKEN_SECRET) == ORA_SIGNATURE
    typo = ORA_CONSUMER_SECRET.replace("9ab9e8b5", "9ab9a8b5")
    assert _independent_signature("GET", ORA_URL, oauth, typo, ORA_TOKEN_SECRET) != ORA_SIGNATURE


def _tba_extra(account: str = "1234567_SB1", **more) -> dict:
    return {"account_id": account, "auth_type": "tba", "consumer_key": "ck-" + "a" * 20,
            "consumer_secret": "cs-secret-" + "b" * 20, "token_id": "tid-" + "c" * 20,
            "token_secret": "ts-secret-" + "d" * 20, **more}


def test_suiteql_query_parameters_are_in_the_signature_base_string(monkeypatch, requests_mock):
    extra = _tba_extra()
    _set_conn(monkeypatch, "ns_tba", extra)
    hook = NetSuiteHook("ns_tba")
    url = "https://1234567-sb1.suitetalk.api.netsuite.com/services/rest/query/v1/suiteql"
    requests_mock.post(url, json={"items": [{"links": [], "id": "1"}], "hasMore": False, "count": 1, "offset": 0})

    rows = list(hook.suiteql("SELECT id FROM customer", page_size=7))

    assert rows == [{"id": "1"}]
    req = requests_mock.last_request
    assert req.qs == {"limit": ["7"], "offset": ["0"]}
    oauth = _header_params(req.headers["Authorization"])
    expected = _independent_signature("POST", req.url, oauth, extra["consumer_secret"], extra["token_secret"])
    assert oauth["oauth_signature"] == expected
    # and the same header does NOT verify if the query parameters were left out of the base string
    bare = req.url.split("?")[0]
    assert _independent_signature("POST", bare, oauth, extra["consumer_secret"], extra["token_secret"]) != expected


def test_every_attempt_gets_a_fresh_nonce_and_a_valid_signature(monkeypatch, requests_mock):
    extra = _tba_extra()
    _set_conn(monkeypatch, "ns_tba", extra)
    hook = NetSuiteHook("ns_tba")
    hook._sleep = lambda s: None
    url = "https://1234567-sb1.suitetalk.api.netsuite.com/services/rest/record/v1/customer/5?expandSubResources=true"
    requests_mock.get(url, [
        {"status_code": 429, "json": {"o:errorDetails": [{"o:errorCode": "CONCURRENCY_LIMIT_EXCEEDED", "detail": "x"}]}},
        {"status_code": 503, "text": "busy"},
        {"status_code": 200, "json": {"id": "5"}},
    ])

    assert hook.get_record("customer", 5, expand_sub_resources=True)["id"] == "5"

    headers = [_header_params(r.headers["Authorization"]) for r in requests_mock.request_history]
    assert len(headers) == 3
    nonces = [h["oauth_nonce"] for h in headers]
    assert len(set(nonces)) == 3
    assert all(re.fullmatch(r"[A-Za-z0-9]{6,64}", n) for n in nonces)
    for r, h in zip(requests_mock.request_history, headers, strict=True):
        assert h["oauth_signature"] == _independent_signature("GET", r.url, h, extra["consumer_secret"],
                                                              extra["token_secret"])


def test_sandbox_account_spellings_for_realm_and_host(monkeypatch, requests_mock):
    assert auth.account_realm("1234567_SB1") == "1234567_SB1"
    assert auth.account_realm("1234567-sb1") == "1234567_SB1"
    assert auth.account_hostname("1234567_SB1") == "1234567-sb1"
    assert auth.rest_base_url("1234567_SB1") == "https://1234567-sb1.suitetalk.api.netsuite.com"
    assert auth.account_realm("tstdrv9") == "TSTDRV9"
    with pytest.raises(ValueError, match="account_id"):
        auth.account_realm("1234567 SB1")

    _set_conn(monkeypatch, "ns_tba", _tba_extra(account="1234567_sb1"))
    requests_mock.get("https://1234567-sb1.suitetalk.api.netsuite.com/services/rest/record/v1/customer/1", json={"id": "1"})
    NetSuiteHook("ns_tba").get_record("customer", 1)
    assert _header_params(requests_mock.last_request.headers["Authorization"])["realm"] == "1234567_SB1"


def test_base_url_overrides_the_host_for_rest_and_token(monkeypatch, requests_mock):
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    _set_conn(monkeypatch, "ns_o2", {"account_id": "1234567_SB1", "client_id": "cid", "certificate_id": "kid-1",
                                     "private_key": pem, "base_url": "http://127.0.0.1:8702/"})
    requests_mock.post("http://127.0.0.1:8702/services/rest/auth/oauth2/v1/token",
                       json={"access_token": "at-" + "x" * 30, "expires_in": 3600, "token_type": "Bearer"})
    requests_mock.get("http://127.0.0.1:8702/services/rest/record/v1/customer/1", json={"id": "1"})
    NetSuiteHook("ns_o2").get_record("customer", 1)
    assert [r.url for r in requests_mock.request_history] == [
        "http://127.0.0.1:8702/services/rest/auth/oauth2/v1/token",
        "http://127.0.0.1:8702/services/rest/record/v1/customer/1",
    ]
    assertion = urllib.parse.parse_qs(requests_mock.request_history[0].text)["client_assertion"][0]
    assert jwt.decode(assertion, options={"verify_signature": False})["aud"] == \
        "http://127.0.0.1:8702/services/rest/auth/oauth2/v1/token"


# --- OAuth 2.0 client credentials -------------------------------------------------------------------
@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=3072)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem(key) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


TOKEN_URL = "https://1234567-sb1.suitetalk.api.netsuite.com/services/rest/auth/oauth2/v1/token"


@pytest.mark.parametrize("which, alg", [("rsa", "PS256"), ("ec", "ES256")])
def test_jwt_assertion_header_and_claims(which, alg, rsa_key, ec_key):
    key = rsa_key if which == "rsa" else ec_key
    creds = auth.OAuth2ClientCredentials(token_endpoint=TOKEN_URL, client_id="client-123", certificate_id="cert-kid-9",
                                         private_key=_pem(key), clock=lambda: 1_760_000_000.0)
    token = creds.build_assertion()

    header = jwt.get_unverified_header(token)
    assert header == {"alg": alg, "kid": "cert-kid-9", "typ": "JWT"}
    claims = jwt.decode(token, key.public_key(), algorithms=[alg], audience=TOKEN_URL,
                        options={"verify_exp": False, "verify_iat": False})
    assert claims["iss"] == "client-123"
    assert claims["scope"] == ["rest_webservices"]
    assert claims["aud"] == TOKEN_URL
    assert claims["iat"] == 1_760_000_000
    assert 0 < claims["exp"] - claims["iat"] < 3600
    assert creds.alg == alg != "RS256"
    if which == "rsa":  # the signature is RSA-PSS: it must NOT verify as PKCS#1 v1.5 (what RS256 would be)
        signing_input, _, sig = token.rpartition(".")
        raw_sig = base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))
        with pytest.raises(InvalidSignature):
            key.public_key().verify(raw_sig, signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        key.public_key().verify(raw_sig, signing_input.encode(),
                                padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=hashes.SHA256.digest_size),
                                hashes.SHA256())


def test_rs256_is_never_used(rsa_key, ec_key):
    for bad in ("RS256", "rs256", "RS512", "HS256"):
        with pytest.raises(ValueError, match="PS256|not accepted"):
            auth.choose_jwt_alg(rsa_key, bad)
    assert auth.choose_jwt_alg(rsa_key) == "PS256"
    assert auth.choose_jwt_alg(rsa_key, "ps384") == "PS384"
    assert auth.choose_jwt_alg(ec_key) == "ES256"
    with pytest.raises(ValueError, match="EC private key"):
        auth.choose_jwt_alg(rsa_key, "ES256")
    with pytest.raises(ValueError, match="curve"):
        auth.choose_jwt_alg(ec_key, "ES384")
    assert "RS256" not in auth.ALLOWED_JWT_ALGS


def test_scope_and_explicit_alg_extras(monkeypatch, requests_mock, rsa_key):
    _set_conn(monkeypatch, "ns_o2", {"account_id": "1234567_SB1", "client_id": "cid", "certificate_id": "kid",
                                     "private_key": _pem(rsa_key), "jwt_alg": "PS512",
                                     "scope": "rest_webservices, suite_analytics"})
    requests_mock.post(TOKEN_URL, json={"access_token": "tok-" + "z" * 30, "expires_in": 3600})
    requests_mock.get("https://1234567-sb1.suitetalk.api.netsuite.com/services/rest/record/v1/customer/2",
                      json={"id": "2"})
    NetSuiteHook("ns_o2").get_record("customer", 2)
    assertion = urllib.parse.parse_qs(requests_mock.request_history[0].text)["client_assertion"][0]
    assert jwt.get_unverified_header(assertion)["alg"] == "PS512"
    claims = jwt.decode(assertion, rsa_key.public_key(), algorithms=["PS512"], audience=TOKEN_URL)
    assert claims["scope"] == ["rest_webservices", "suite_analytics"]


def test_token_request_form_caching_and_refresh_on_401(monkeypatch, requests_mock, ec_key):
    _set_conn(monkeypatch, "ns_o2", {"account_id": "1234567_SB1", "client_id": "cid", "certificate_id": "kid",
                                     "private_key": _pem(ec_key)})
    requests_mock.post(TOKEN_URL, [{"json": {"access_token": "first-token-" + "a" * 20, "expires_in": 3600}},
                                   {"json": {"access_token": "second-token-" + "b" * 20, "expires_in": 3600}}])
    rec = "https://1234567-sb1.suitetalk.api.netsuite.com/services/rest/record/v1/customer/3"
    requests_mock.get(rec, [{"json": {"id": "3"}}, {"json": {"id": "3"}},
                            {"status_code": 401, "json": {"o:errorDetails": [{"o:errorCode": "INVALID_LOGIN", "detail": "no"}]}},
                            {"json": {"id": "3"}}])
    hook = NetSuiteHook("ns_o2")
    other_hook = NetSuiteHook("ns_o2")  # another hook instance of the process shares the cached token

    hook.get_record("customer", 3)
    other_hook.get_record("customer", 3)
    hook.get_record("customer", 3)  # 401 → new token → retried once

    history = requests_mock.request_history
    assert [r.method for r in history] == ["POST", "GET", "GET", "GET", "POST", "GET"]
    form = urllib.parse.parse_qs(history[0].text)
    assert history[0].headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert form["grant_type"] == ["client_credentials"]
    assert form["client_assertion_type"] == ["urn:ietf:params:oauth:client-assertion-type:jwt-bearer"]
    jwt.decode(form["client_assertion"][0], ec_key.public_key(), algorithms=["ES256"], audience=TOKEN_URL)
    assert history[1].headers["Authorization"] == "Bearer first-token-" + "a" * 20
    assert history[2].headers["Authorization"] == "Bearer first-token-" + "a" * 20
    assert history[5].headers["Authorization"] == "Bearer second-token-" + "b" * 20


def test_second_401_raises_auth_error_with_causes(monkeypatch, requests_mock, ec_key):
    _set_conn(monkeypatch, "ns_o2", {"account_id": "1234567_SB1", "client_id": "cid", "certificate_id": "kid",
                                     "private_key": _pem(ec_key)})
    requests_mock.post(TOKEN_URL, json={"access_token": "tok-" + "q" * 30, "expires_in": 3600})
    body = json.loads((FIXTURES / "error_401_invalid_login.response.json").read_text(encoding="utf-8"))
    requests_mock.get("https://1234567-sb1.suitetalk.api.netsuite.com/services/rest/record/v1/customer/4",
                      status_code=401, json=body)
    with pytest.raises(NetSuiteAuthError) as err:
        NetSuiteHook("ns_o2").get_record("customer", 4)
    e = err.value
    assert (e.status, e.code) == (401, "INVALID_LOGIN")
    text = str(e)
    assert "\n" not in text
    for cause in ("realm", "query parameters", "clock skew", "Log in using Access Tokens", "not mapped", "RS256"):
        assert cause in text
    assert len([r for r in requests_mock.request_history if r.method == "GET"]) == 2


def test_token_cache_uses_expires_in_minus_five_minutes(ec_key):
    now = [1_000_000.0]
    creds = auth.OAuth2ClientCredentials(token_endpoint=TOKEN_URL, client_id="c", certificate_id="k",
                                         private_key=_pem(ec_key), clock=lambda: now[0])
    calls = []

    def fetch(url, form):
        calls.append(url)
        return {"access_token": f"t{len(calls)}" + "x" * 10, "expires_in": 3600}

    assert creds.access_token(fetch) == "t1" + "x" * 10
    now[0] += 3300 - 1
    assert creds.access_token(fetch) == "t1" + "x" * 10
    now[0] += 2
    assert creds.access_token(fetch) == "t2" + "x" * 10
    assert len(calls) == 2


def test_token_endpoint_rejection_is_an_auth_error(monkeypatch, requests_mock, ec_key):
    _set_conn(monkeypatch, "ns_o2", {"account_id": "1234567_SB1", "client_id": "cid", "certificate_id": "kid",
                                     "private_key": _pem(ec_key)})
    requests_mock.post(TOKEN_URL, status_code=400, json={"error": "invalid_grant"})
    with pytest.raises(NetSuiteAuthError, match="invalid_grant"):
        NetSuiteHook("ns_o2").get_record("customer", 1)


def test_private_key_with_literal_backslash_n_is_accepted(ec_key):
    flat = _pem(ec_key).strip().replace("\n", "\\n")
    creds = auth.OAuth2ClientCredentials(token_endpoint=TOKEN_URL, client_id="c", certificate_id="k", private_key=flat)
    assert creds.alg == "ES256"


# --- connection settings ------------------------------------------------------------------------------
def test_hook_identity_matches_provider_info_and_construction_does_no_lookup():
    info = next(c for c in get_provider_info()["connection-types"] if c["connection-type"] == "netsuite")
    assert info["hook-class-name"] == f"{NetSuiteHook.__module__}.{NetSuiteHook.__name__}"
    assert NetSuiteHook.conn_type == "netsuite"
    assert NetSuiteHook.default_conn_name == "netsuite_default"
    assert NetSuiteHook.conn_name_attr == "netsuite_conn_id"
    assert NetSuiteHook.hook_name == info["hook-name"]
    settings_fields = set(ns.NetSuiteConnectionSettings.model_fields)
    assert set(info["conn-fields"]) <= settings_fields
    hook = NetSuiteHook("connection_that_does_not_exist")  # no lookup yet
    assert hook.netsuite_conn_id == "connection_that_does_not_exist"
    with pytest.raises(Exception, match="isn't defined"):
        _ = hook.settings


def test_incomplete_connection_names_the_missing_extras_without_values(monkeypatch):
    _set_conn(monkeypatch, "ns_bad", {"account_id": "1234567_SB1", "auth_type": "tba",
                                      "consumer_secret": "very-secret-value-123"})
    with pytest.raises(NetSuiteConfigError) as err:
        _ = NetSuiteHook("ns_bad").settings
    text = str(err.value)
    assert "consumer_key" in text and "token_id" in text and "token_secret" in text
    assert "very-secret-value-123" not in text


def test_bad_private_key_error_does_not_echo_the_key(monkeypatch):
    _set_conn(monkeypatch, "ns_bad", {"account_id": "1234567_SB1", "client_id": "cid", "certificate_id": "kid",
                                      "private_key": "-----BEGIN PRIVATE KEY-----\nNOTAKEYbutSECRETISH123\n-----END PRIVATE KEY-----"})
    hook = NetSuiteHook("ns_bad")
    with pytest.raises(NetSuiteConfigError) as err:
        hook._auth_objects()
    assert "NOTAKEYbutSECRETISH123" not in str(err.value)
    assert "private_key" in str(err.value)


def test_concurrency_defaults_and_bounds(monkeypatch):
    _set_conn(monkeypatch, "ns_c", _tba_extra())
    assert NetSuiteHook("ns_c").settings.concurrency == 5
    _set_conn(monkeypatch, "ns_c", _tba_extra(concurrency="0"))
    with pytest.raises(NetSuiteConfigError, match="concurrency"):
        _ = NetSuiteHook("ns_c").settings

