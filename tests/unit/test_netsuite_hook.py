"""NetSuiteHook: records, batch upsert, SuiteQL (paging, keyset, parameters), governance, errors, secrets."""

from __future__ import annotations

import json
import logging
import re
import threading
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_amznetsuite.hooks import netsuite as ns
from airflow_provider_amznetsuite.hooks import netsuite_auth as auth
from airflow_provider_amznetsuite.hooks.netsuite import NetSuiteHook, dumps_json, render_suiteql, suiteql_literal
from airflow_provider_amznetsuite.hooks.netsuite_errors import (
    NetSuiteAuthError,
    NetSuiteConcurrencyError,
    NetSuiteError,
    NetSuiteJobError,
    NetSuitePermissionError,
    NetSuiteRecordNotFound,
    NetSuiteServerError,
    NetSuiteSuiteQLCapError,
    NetSuiteTransportError,
    NetSuiteValidationError,
    SuiteQLParameterError,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "netsuite"
BASE = "https://1234567-sb1.suitetalk.api.netsuite.com"
REC = BASE + "/services/rest/record/v1"
SUITEQL_URL = BASE + "/services/rest/query/v1/suiteql"
CONSUMER_SECRET = "consumer-secret-" + "S" * 24
TOKEN_SECRET = "token-secret-" + "T" * 27


def hdr(request: Any, name: str) -> str | None:
    """A request header as text (requests-oauthlib hands headers over as bytes)."""
    value = request.headers.get(name)
    return value.decode() if isinstance(value, bytes) else value


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


@pytest.fixture(autouse=True)
def _isolated_registries():
    ns._SEMAPHORES.clear()
    auth.clear_token_cache()
    yield
    ns._SEMAPHORES.clear()
    auth.clear_token_cache()


def _tba_extra(**more: Any) -> dict[str, Any]:
    return {"account_id": "1234567_SB1", "auth_type": "tba", "consumer_key": "consumer-key-" + "k" * 20,
            "consumer_secret": CONSUMER_SECRET, "token_id": "token-id-" + "i" * 20, "token_secret": TOKEN_SECRET,
            **more}


@pytest.fixture
def make_hook(monkeypatch):
    sleeps: list[float] = []

    def _make(conn_id: str = "ns_test", **extra: Any) -> NetSuiteHook:
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}",
                           json.dumps({"conn_type": "netsuite", "extra": _tba_extra(**extra)}))
        hook = NetSuiteHook(conn_id)
        hook._sleep = sleeps.append
        return hook

    _make.sleeps = sleeps  # type: ignore[attr-defined]
    return _make


def _err(code: str, detail: str = "x", status: int = 400, path: str | None = None) -> dict[str, Any]:
    d: dict[str, Any] = {"detail": detail, "o:errorCode": code}
    if path:
        d["o:errorPath"] = path
    return {"type": "https://www.rfc-editor.org/rfc/rfc9110.html", "title": "Error", "status": status,
            "o:errorDetails": [d]}


# --- records ------------------------------------------------------------------------------------------
def test_get_record_expands_and_keeps_amounts_decimal(make_hook, requests_mock):
    requests_mock.get(REC + "/salesOrder/18", json=fixture("salesorder_get.response.json"))
    record = make_hook().get_record("salesOrder", "18", expand_sub_resources=True)
    assert requests_mock.last_request.qs == {"expandsubresources": ["true"]}
    assert record["id"] == "18"
    assert record["total"] == Decimal("39.95") and isinstance(record["total"], Decimal)
    assert record["entity"]["refName"] == "Anonymous Customer"


@pytest.mark.parametrize("status", [204, 201])
def test_create_record_returns_id_from_location(make_hook, requests_mock, status):
    requests_mock.post(REC + "/salesOrder", status_code=status, headers={"Location": REC + "/salesOrder/4711"})
    body = fixture("salesorder_create_basic.request.json")
    body["item"]["items"][0]["rate"] = Decimal("19.990")
    assert make_hook().create_record("salesOrder", body) == "4711"
    req = requests_mock.last_request
    assert hdr(req, "Content-Type") == "application/json"
    assert '"rate":19.990' in req.text
    assert json.loads(req.text)["entity"] == {"id": "110"}


def test_create_without_location_is_an_error(make_hook, requests_mock):
    requests_mock.post(REC + "/salesOrder", status_code=204)
    with pytest.raises(NetSuiteError, match="Location"):
        make_hook().create_record("salesOrder", {"entity": {"id": "1"}})


def test_update_record_patch_with_sublist_replace(make_hook, requests_mock):
    requests_mock.patch(REC + "/salesOrder/18", status_code=204)
    assert make_hook().update_record("salesOrder", 18, fixture("salesorder_patch_add_line.request.json"),
                                     replace=["item", "shipGroup"]) is None
    req = requests_mock.last_request
    assert req.method == "PATCH"
    assert req.qs == {"replace": ["item,shipgroup"]}
    assert json.loads(req.text)["item"]["items"][0]["quantity"] == 2
    with pytest.raises(ValueError, match="sublist"):
        make_hook().update_record("salesOrder", 18, {}, replace=["item;drop"])


def test_upsert_url_and_id_from_location(make_hook, requests_mock):
    requests_mock.put(REC + "/salesOrder/eid:AMZ-113-0000001-0000001", status_code=204,
                      headers={"Location": REC + "/salesOrder/912"})
    rid = make_hook().upsert_record("salesOrder", "AMZ-113-0000001-0000001", {"memo": "m"})
    assert rid == "912"
    assert requests_mock.call_count == 1
    assert requests_mock.last_request.method == "PUT"


def test_upsert_without_location_reads_the_record_back(make_hook, requests_mock):
    requests_mock.put(REC + "/customer/eid:AMZ_C-1", status_code=204)
    requests_mock.get(REC + "/customer/eid:AMZ_C-1", json={"id": "77", "externalId": "AMZ_C-1"})
    assert make_hook().upsert_record("customer", "AMZ_C-1", {"companyName": "x"}) == "77"
    assert [r.method for r in requests_mock.request_history] == ["PUT", "GET"]


@pytest.mark.parametrize("bad", ["AMZ 1", "AMZ|1", "AMZ/1", "", "ÄMZ-1", "a'b"])
def test_upsert_refuses_external_ids_outside_the_allowed_characters(make_hook, requests_mock, bad):
    with pytest.raises(ValueError, match="letters, digits, '_' and '-'"):
        make_hook().upsert_record("salesOrder", bad, {})
    assert requests_mock.call_count == 0


def test_upsert_refuses_a_conflicting_body_external_id(make_hook):
    with pytest.raises(ValueError, match="differs"):
        make_hook().upsert_record("salesOrder", "AMZ-1", {"externalId": "AMZ-2"})


def test_upsert_is_retried_after_a_timeout_because_it_is_idempotent(make_hook, requests_mock):
    requests_mock.put(REC + "/salesOrder/eid:AMZ-9", [
        {"exc": requests.exceptions.ReadTimeout("read timed out")},
        {"status_code": 204, "headers": {"Location": REC + "/salesOrder/9"}},
    ])
    assert make_hook().upsert_record("salesOrder", "AMZ-9", {}) == "9"
    assert requests_mock.call_count == 2


def test_transform_record(make_hook, requests_mock):
    url = REC + "/salesOrder/18/!transform/itemFulfillment"
    requests_mock.post(url, status_code=204, headers={"Location": REC + "/itemFulfillment/31"})
    body = fixture("salesorder_transform_itemfulfillment.request.json")
    assert make_hook().transform_record("salesOrder", 18, "itemFulfillment", body) == "31"
    assert requests_mock.last_request.url == url
    assert json.loads(requests_mock.last_request.text)["item"]["items"][1]["itemreceive"] is False


def test_no_delete_is_offered():
    assert not any("delete" in name.lower() for name in dir(NetSuiteHook))


def test_create_is_not_retried_after_a_read_timeout(make_hook, requests_mock):
    requests_mock.post(REC + "/salesOrder", exc=requests.exceptions.ReadTimeout("read timed out"))
    with pytest.raises(NetSuiteTransportError) as err:
        make_hook().create_record("salesOrder", {"entity": {"id": "1"}})
    assert requests_mock.call_count == 1
    assert err.value.code == "TIMEOUT"
    assert "not retried" in str(err.value) and "upsert_record" in str(err.value)


def test_create_is_retried_when_the_connection_was_never_made(make_hook, requests_mock):
    requests_mock.post(REC + "/salesOrder", [
        {"exc": requests.exceptions.ConnectTimeout("connect timed out")},
        {"status_code": 204, "headers": {"Location": REC + "/salesOrder/5"}},
    ])
    assert make_hook().create_record("salesOrder", {}) == "5"
    assert requests_mock.call_count == 2


def test_create_is_not_retried_after_an_ambiguous_500(make_hook, requests_mock):
    requests_mock.post(REC + "/salesOrder", status_code=500, json=_err("UNEXPECTED_ERROR", "boom", 500))
    with pytest.raises(NetSuiteServerError, match="outcome is unknown"):
        make_hook().create_record("salesOrder", {})
    assert requests_mock.call_count == 1


# --- governance ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("status", [429, 400])
def test_concurrency_limit_is_backed_off_and_retried(make_hook, requests_mock, status):
    body = fixture("error_429_concurrency_limit.response.json")
    body["status"] = status
    requests_mock.post(REC + "/salesOrder", [
        {"status_code": status, "json": body}, {"status_code": status, "json": body},
        {"status_code": 204, "headers": {"Location": REC + "/salesOrder/8"}},
    ])
    hook = make_hook()
    assert hook.create_record("salesOrder", {}) == "8"  # rejected requests were not applied: safe to retry
    assert requests_mock.call_count == 3
    assert len(make_hook.sleeps) == 2 and all(0 <= s <= hook.backoff_cap for s in make_hook.sleeps)


def test_concurrency_retries_are_bounded(make_hook, requests_mock):
    requests_mock.get(REC + "/customer/1", status_code=429, json=fixture("error_429_concurrency_limit.response.json"))
    hook = make_hook()
    hook.max_concurrency_retries = 3
    with pytest.raises(NetSuiteConcurrencyError) as err:
        hook.get_record("customer", 1)
    assert requests_mock.call_count == 4
    assert err.value.code == "CONCURRENCY_LIMIT_EXCEEDED" and err.value.status == 429


def test_retry_after_header_is_honoured(make_hook, requests_mock):
    requests_mock.get(REC + "/customer/1", [{"status_code": 429, "headers": {"Retry-After": "7"}, "json": {}},
                                            {"json": {"id": "1"}}])
    make_hook().get_record("customer", 1)
    assert make_hook.sleeps == [7.0]


def test_5xx_is_retried_a_bounded_number_of_times(make_hook, requests_mock):
    requests_mock.get(REC + "/customer/1", status_code=502, text="bad gateway")
    with pytest.raises(NetSuiteServerError) as err:
        make_hook().get_record("customer", 1)
    assert requests_mock.call_count == 5
    assert err.value.status == 502


def test_5xx_then_success(make_hook, requests_mock):
    requests_mock.get(REC + "/customer/1", [{"status_code": 500, "json": _err("UNEXPECTED_ERROR", status=500)},
                                            {"status_code": 503, "text": ""}, {"json": {"id": "1"}}])
    assert make_hook().get_record("customer", 1) == {"id": "1"}
    assert requests_mock.call_count == 3


class _CountingHandler(BaseHTTPRequestHandler):
    lock = threading.Lock()
    in_flight = 0
    max_in_flight = 0
    served = 0
    next_id = 1000
    release = threading.Event()

    def do_POST(self) -> None:  # noqa: N802
        cls = type(self)
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with cls.lock:
            cls.in_flight += 1
            cls.max_in_flight = max(cls.max_in_flight, cls.in_flight)
            cls.next_id += 1
            rid = cls.next_id
        cls.release.wait(0.02)  # hold the request briefly so that concurrency can build up
        with cls.lock:
            cls.in_flight -= 1
            cls.served += 1
        self.send_response(204)
        self.send_header("Location", f"/services/rest/record/v1/customer/{rid}")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # the fake itself must never be the bottleneck


def test_twenty_threads_never_exceed_the_account_limit_of_five(make_hook):
    _CountingHandler.in_flight = _CountingHandler.max_in_flight = _CountingHandler.served = 0
    server = _Server(("127.0.0.1", 0), _CountingHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        hook_a = make_hook("ns_a", base_url=base)
        hook_b = make_hook("ns_b", base_url=base)  # a second connection to the same account shares the limit
        ids: list[str] = []
        errors: list[BaseException] = []
        ids_lock = threading.Lock()

        def worker(n: int) -> None:
            hook = hook_a if n % 2 else hook_b
            try:
                for _ in range(8):
                    rid = hook.create_record("customer", {"companyName": f"c{n}"})
                    with ids_lock:
                        ids.append(rid)
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        server.shutdown()
        server.server_close()
    assert errors == []
    assert len(ids) == 160 and len(set(ids)) == 160
    assert _CountingHandler.served == 160
    assert 2 <= _CountingHandler.max_in_flight <= 5


# --- errors --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("status, body, cls, code, path", [
    (404, fixture("error_404_nonexistent_id.response.json"), NetSuiteRecordNotFound, "NONEXISTENT_ID", None),
    (400, fixture("error_400_user_error_record_locked.response.json"), NetSuiteValidationError, "USER_ERROR", None),
    (400, _err("INVALID_KEY_OR_REF", "Invalid Field Value 999 for field item", path="item.items[2].item"),
     NetSuiteValidationError, "INVALID_KEY_OR_REF", "item.items[2].item"),
    (400, _err("NONEXISTENT_FIELD", "custbody_x", path="custbody_x"), NetSuiteValidationError, "NONEXISTENT_FIELD",
     "custbody_x"),
    (403, _err("INSUFFICIENT_PERMISSION", "no", 403), NetSuitePermissionError, "INSUFFICIENT_PERMISSION", None),
])
def test_errors_are_typed_and_carry_code_and_path(make_hook, requests_mock, status, body, cls, code, path):
    requests_mock.get(REC + "/salesOrder/99", status_code=status, json=body)
    with pytest.raises(cls) as err:
        make_hook().get_record("salesOrder", 99)
    e = err.value
    assert (e.status, e.code, e.path) == (status, code, path)
    text = str(e)
    assert "\n" not in text
    assert text.startswith(f"NetSuite {status} {code} on GET /services/rest/record/v1/salesOrder/99: ")
    assert body["o:errorDetails"][0]["detail"][:20] in text
    if path:
        assert f"(at {path})" in text


def test_error_without_json_body_still_reads(make_hook, requests_mock):
    requests_mock.get(REC + "/customer/1", status_code=405, text="<html>Method Not Allowed</html>")
    with pytest.raises(NetSuiteError) as err:
        make_hook().get_record("customer", 1)
    assert err.value.status == 405 and "Method Not Allowed" in str(err.value)


def test_errors_pickle_round_trip():
    import pickle

    e = NetSuiteValidationError(400, "USER_ERROR", "item.items[0]", "bad", "Bad Request", method="POST",
                                url_path="/services/rest/record/v1/salesOrder")
    back = pickle.loads(pickle.dumps(e))
    assert type(back) is NetSuiteValidationError and str(back) == str(e) and back.path == "item.items[0]"


# --- secrets --------------------------------------------------------------------------------------------
def test_secrets_never_reach_logs_output_or_exceptions(make_hook, requests_mock, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    leak = f"echo {CONSUMER_SECRET} and {TOKEN_SECRET}"
    requests_mock.get(REC + "/customer/1", [{"status_code": 429, "json": _err("CONCURRENCY_LIMIT_EXCEEDED", leak, 429)},
                                            {"status_code": 400, "json": _err("USER_ERROR", leak)}])
    hook = make_hook()
    with pytest.raises(NetSuiteValidationError) as err:
        hook.get_record("customer", 1)
    out = capsys.readouterr()
    texts = [str(err.value), repr(err.value), caplog.text, out.out, out.err, repr(hook._tba), repr(hook.settings)]
    assert "retry 1/" in caplog.text  # the retry was logged ...
    assert "***" in str(err.value)  # ... and the echoed secrets were scrubbed
    for text in texts:
        assert CONSUMER_SECRET not in text and TOKEN_SECRET not in text


def test_oauth2_tokens_and_assertions_never_reach_logs_or_exceptions(monkeypatch, requests_mock, caplog, capsys):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    caplog.set_level(logging.DEBUG)
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    monkeypatch.setenv("AIRFLOW_CONN_NS_O2", json.dumps({"conn_type": "netsuite", "extra": {
        "account_id": "1234567_SB1", "client_id": "cid", "certificate_id": "kid", "private_key": pem}}))
    token = "access-token-" + "Z" * 40
    requests_mock.post(BASE + "/services/rest/auth/oauth2/v1/token", json={"access_token": token, "expires_in": 3600})
    requests_mock.get(REC + "/customer/1", status_code=400,
                      json=_err("USER_ERROR", f"Authorization: Bearer {token} was used; key {pem}"))
    hook = NetSuiteHook("ns_o2")
    with pytest.raises(NetSuiteValidationError) as err:
        hook.get_record("customer", 1)
    assertion = hook._oauth2.last_assertion
    assert assertion and token
    out = capsys.readouterr()
    pem_body = [ln for ln in pem.splitlines() if not ln.startswith("-----")]
    for text in (str(err.value), caplog.text, out.out, out.err, repr(hook._oauth2)):
        assert token not in text and assertion not in text
        assert all(line not in text for line in pem_body)


# --- batch upsert ----------------------------------------------------------------------------------------
class FakeBatch:
    """requests-mock NetSuite async batch: jobs, tasks, task results and idempotency keys."""

    def __init__(self, m: Any, record_type: str = "customer") -> None:
        self.jobs: dict[str, dict[str, Any]] = {}
        self.keys: dict[str, str] = {}
        self.submissions: list[dict[str, Any]] = []
        self.applied: list[str] = []
        job = BASE + "/services/rest/async/v1/job"
        m.put(f"{REC}/{record_type}", json=self.submit)
        m.get(re.compile(re.escape(job) + r"/(\d+)$"), json=self.status)
        m.get(re.compile(re.escape(job) + r"/(\d+)/task$"), json=self.tasks)
        m.get(re.compile(re.escape(job) + r"/(\d+)/task/(\d+)/result$"), json=self.result)

    def submit(self, request: Any, context: Any) -> Any:
        key = hdr(request, "X-NetSuite-Idempotency-Key")
        self.submissions.append({"key": key, "prefer": hdr(request, "Prefer"),
                                 "ctype": hdr(request, "Content-Type"), "items": request.json()["items"]})
        if key in self.keys:
            context.status_code = 400
            context.headers["Location"] = f"{BASE}/services/rest/async/v1/job/{self.keys[key]}"
            return fixture("error_400_idempotency_conflict.response.json")
        jid = str(len(self.jobs) + 1)
        self.keys[key] = jid
        self.jobs[jid] = {"items": request.json()["items"], "polls": 0}
        for item in request.json()["items"]:
            self.applied.append(item["externalId"])
        context.status_code = 202
        context.headers["Location"] = f"/services/rest/async/v1/job/{jid}"
        return None

    def status(self, request: Any, context: Any) -> Any:
        jid = request.path.rsplit("/", 1)[-1]
        job = self.jobs[jid]
        job["polls"] += 1
        done = job["polls"] >= 2
        body = fixture("async_job_status.response.json")
        body.update(id=jid, completed=done, progress="succeeded" if done else "pending")
        body["task"]["links"][0]["href"] = f"{BASE}/services/rest/async/v1/job/{jid}/task"
        return body

    def tasks(self, request: Any, context: Any) -> Any:
        jid = request.path.split("/")[-2]
        n = len(self.jobs[jid]["items"])
        return {"items": [{"links": [{"rel": "self", "href": f"{BASE}/services/rest/async/v1/job/{jid}/task/{i}"}]}
                          for i in range(n)], "hasMore": False, "count": n, "offset": 0, "totalResults": n}

    def result(self, request: Any, context: Any) -> Any:
        parts = request.path.split("/")
        jid, tid = parts[-4], int(parts[-2])
        item = self.jobs[jid]["items"][tid]
        eid = item["externalId"]
        if eid.startswith("bad"):
            context.status_code = 400
            return _err("INVALID_KEY_OR_REF", "Invalid reference", path="subsidiary")
        rid = str(5000 + int(eid.rsplit("-", 1)[-1]))
        if tid % 2:
            context.status_code = 204
            context.headers["Location"] = f"{REC}/customer/{rid}"
            return None
        return {"id": rid, "externalId": eid}


def test_batch_upsert_chunks_polls_and_reads_results(make_hook, requests_mock):
    fake = FakeBatch(requests_mock)
    items = [{"externalId": f"AMZ-C-{n}", "companyName": f"c{n}", "balance": Decimal("1.10")} for n in range(250)]
    items[7]["externalId"] = "bad-7"
    hook = make_hook()

    results = hook.batch_upsert("customer", items, poll_interval=0.5)

    assert [len(s["items"]) for s in fake.submissions] == [100, 100, 50]
    for s in fake.submissions:
        assert s["prefer"] == "respond-async"
        assert s["ctype"] == "application/vnd.oracle.resource+json; type=collection"
        uuid.UUID(s["key"])
    assert len({s["key"] for s in fake.submissions}) == 3
    assert [r["externalId"] for r in results] == [i["externalId"] for i in items]
    ok = [r for r in results if r["ok"]]
    assert len(ok) == 249
    assert results[0]["id"] == "5000" and results[1]["id"] == "5001" and results[249]["id"] == "5249"
    bad = results[7]
    assert bad["ok"] is False and bad["id"] is None
    assert bad["error"]["code"] == "INVALID_KEY_OR_REF" and bad["error"]["path"] == "subsidiary"
    assert {r["job_id"] for r in results} == {"1", "2", "3"}
    assert make_hook.sleeps.count(0.5) == 3  # one "not completed yet" poll per job


def test_batch_upsert_keys_are_deterministic_and_a_resend_follows_the_original_job(make_hook, requests_mock):
    fake = FakeBatch(requests_mock)
    items = [{"externalId": f"AMZ-C-{n}", "companyName": f"c{n}"} for n in range(150)]
    first = make_hook().batch_upsert("customer", items, poll_interval=0)
    second = make_hook().batch_upsert("customer", items, poll_interval=0)  # e.g. an Airflow task retry

    keys = [s["key"] for s in fake.submissions]
    assert keys[:2] == keys[2:]
    assert len(fake.jobs) == 2  # the re-send created no new job ...
    assert len(fake.applied) == 150  # ... and applied nothing twice
    assert first == second
    changed = [dict(i, companyName="new") if i["externalId"] == "AMZ-C-0" else i for i in items]
    make_hook().batch_upsert("customer", changed, poll_interval=0)
    assert fake.submissions[-2]["key"] not in keys[:2]  # new content → new key for that chunk
    assert fake.submissions[-1]["key"] == keys[1]


def test_batch_upsert_with_explicit_key_derives_one_key_per_chunk(make_hook, requests_mock):
    fake = FakeBatch(requests_mock)
    items = [{"externalId": f"AMZ-C-{n}"} for n in range(101)]
    make_hook().batch_upsert("customer", items, idempotency_key="run-2026-01-01T00:00", poll_interval=0)
    root = uuid.uuid5(ns.IDEMPOTENCY_NAMESPACE, "run-2026-01-01T00:00")
    assert [s["key"] for s in fake.submissions] == [str(uuid.uuid5(root, "0")), str(uuid.uuid5(root, "1"))]


def test_batch_upsert_validates_items(make_hook):
    with pytest.raises(ValueError, match="no externalId"):
        make_hook().batch_upsert("customer", [{"companyName": "x"}])
    with pytest.raises(ValueError, match="appears twice"):
        make_hook().batch_upsert("customer", [{"externalId": "A-1"}, {"externalId": "A-1"}])
    with pytest.raises(ValueError, match="letters, digits"):
        make_hook().batch_upsert("customer", [{"externalId": "A 1"}])


def test_batch_upsert_times_out_with_a_clear_error(make_hook, requests_mock):
    requests_mock.put(REC + "/customer", status_code=202, headers={"Location": "/services/rest/async/v1/job/9"})
    requests_mock.get(BASE + "/services/rest/async/v1/job/9", json={"id": "9", "completed": False, "progress": "pending"})
    hook = make_hook()
    clock = [0.0]
    hook._monotonic = lambda: clock[0]
    hook._sleep = lambda s: clock.__setitem__(0, clock[0] + s)
    with pytest.raises(NetSuiteJobError, match="did not complete") as err:
        hook.batch_upsert("customer", [{"externalId": "A-1"}], poll_interval=5, timeout=30)
    assert err.value.code == "JOB_TIMEOUT"
    assert 6 <= len([r for r in requests_mock.request_history if r.method == "GET"]) <= 8


# --- SuiteQL --------------------------------------------------------------------------------------------
def test_suiteql_pages_on_has_more_and_strips_links(make_hook, requests_mock):
    page1 = fixture("suiteql_amazon_orders.response.page1.json")
    pages = {0: page1, 2: {"items": [{"links": [], "id": "4213"}, {"links": [], "id": "4214"}], "hasMore": True,
                           "totalResults": 1000, "count": 2, "offset": 2},
             4: {"items": [{"links": [], "id": "4215"}], "hasMore": False, "totalResults": 1000, "count": 1, "offset": 4}}

    def cb(request, context):
        assert hdr(request, "Prefer") == "transient"
        assert int(request.qs["offset"][0]) % int(request.qs["limit"][0]) == 0
        return pages[int(request.qs["offset"][0])]

    requests_mock.post(SUITEQL_URL, json=cb)
    rows = list(make_hook().suiteql("SELECT id FROM transaction WHERE type = :t ORDER BY id", {"t": "SalesOrd"},
                                    page_size=2))
    assert [r["id"] for r in rows] == ["4211", "4212", "4213", "4214", "4215"]
    assert all("links" not in r for r in rows)
    assert rows[0]["foreigntotal"] == "39.98"
    qs = [(r.qs["limit"][0], r.qs["offset"][0]) for r in requests_mock.request_history]
    assert qs == [("2", "0"), ("2", "2"), ("2", "4")]
    assert requests_mock.request_history[0].json() == {"q": "SELECT id FROM transaction WHERE type = 'SalesOrd' ORDER BY id"}


def test_suiteql_page_size_is_bounded(make_hook):
    with pytest.raises(ValueError, match="page_size"):
        make_hook().suiteql("SELECT id FROM item", page_size=1001)


class FakeBigTable:
    """SuiteQL over 150,000 generated rows (ids 7, 10, 13, …) with NetSuite's limit/offset rules and cap."""

    N = 150_000

    def __init__(self) -> None:
        self.queries: list[str] = []
        self.max_offset = 0

    @staticmethod
    def row_id(k: int) -> int:
        return 7 + 3 * k

    def __call__(self, request: Any, context: Any) -> Any:
        limit, offset = int(request.qs["limit"][0]), int(request.qs["offset"][0])
        q = request.json()["q"]
        self.queries.append(q)
        if limit > 1000 or offset % limit or offset >= 100_000:
            context.status_code = 400
            return _err("INVALID_PARAMETER", f"invalid paging limit={limit} offset={offset}")
        m = re.fullmatch(r"SELECT id FROM bigtable(?: WHERE id > (\d+))? ORDER BY id", q)
        assert m, q
        first = 0 if m.group(1) is None else max(0, (int(m.group(1)) - 7) // 3 + 1)
        matching = self.N - first
        start = first + offset
        ks = range(start, min(start + limit, self.N))
        self.max_offset = max(self.max_offset, offset)
        return {"links": [], "count": len(ks), "hasMore": offset + limit < matching, "offset": offset,
                "totalResults": matching, "items": [{"links": [], "id": str(self.row_id(k))} for k in ks]}


def test_keyset_iterates_150000_rows_exactly_once(make_hook, requests_mock):
    fake = FakeBigTable()
    requests_mock.post(SUITEQL_URL, json=fake)
    seen = [int(r["id"]) for r in make_hook().suiteql_keyset("SELECT id FROM bigtable", key="id", page_size=1000)]
    assert len(seen) == 150_000
    assert seen == [FakeBigTable.row_id(k) for k in range(150_000)]
    assert fake.max_offset < 100_000
    chunk_queries = sorted(set(fake.queries), key=fake.queries.index)
    assert chunk_queries == ["SELECT id FROM bigtable ORDER BY id",
                             f"SELECT id FROM bigtable WHERE id > {FakeBigTable.row_id(49_999)} ORDER BY id",
                             f"SELECT id FROM bigtable WHERE id > {FakeBigTable.row_id(99_999)} ORDER BY id"]
    assert len(fake.queries) == 150


def test_plain_suiteql_stops_at_the_cap_with_a_pointer_to_keyset(make_hook, requests_mock):
    fake = FakeBigTable()
    requests_mock.post(SUITEQL_URL, json=fake)
    count = 0
    with pytest.raises(NetSuiteSuiteQLCapError, match="suiteql_keyset"):
        for _ in make_hook().suiteql("SELECT id FROM bigtable ORDER BY id"):
            count += 1
    assert count == 100_000
    assert fake.max_offset == 99_000


def test_keyset_with_where_and_params(make_hook, requests_mock):
    seen_q: list[str] = []

    def cb(request, context):
        seen_q.append(request.json()["q"])
        return {"items": [{"links": [], "id": "11", "x": "a"}], "hasMore": False}

    requests_mock.post(SUITEQL_URL, json=cb)
    rows = list(make_hook().suiteql_keyset("SELECT t.id, t.tranid FROM transaction t", key="t.id",
                                           where="t.type = :t AND t.externalid LIKE :p",
                                           params={"t": "SalesOrd", "p": "AMZ-%"}))
    assert rows == [{"id": "11", "x": "a"}]
    assert seen_q == ["SELECT t.id, t.tranid FROM transaction t WHERE (t.type = 'SalesOrd' AND t.externalid LIKE "
                      "'AMZ-%') ORDER BY t.id"]


@pytest.mark.parametrize("sql", ["SELECT id FROM item WHERE isinactive = 'F'", "SELECT id FROM item ORDER BY id",
                                 "SELECT item, COUNT(*) FROM transactionline GROUP BY item"])
def test_keyset_refuses_its_own_where_or_ordering(make_hook, sql):
    with pytest.raises(ValueError, match="where="):
        make_hook().suiteql_keyset(sql)


def test_keyset_accepts_where_inside_a_subquery_or_literal(make_hook, requests_mock):
    requests_mock.post(SUITEQL_URL, json={"items": [], "hasMore": False})
    sql = "SELECT id, (SELECT MAX(x) FROM y WHERE y.a = item.id) AS m, 'WHERE' AS w FROM item"
    assert list(make_hook().suiteql_keyset(sql)) == []
    assert requests_mock.last_request.json()["q"] == sql + " ORDER BY id"


def test_lookup_external_ids_batches_2500_ids_into_3_queries(make_hook, requests_mock):
    queries: list[list[str]] = []

    def cb(request, context):
        q = request.json()["q"]
        m = re.fullmatch(r"SELECT id, externalid FROM transaction WHERE externalid IN \((.*)\) "
                         r"AND \(type = 'SalesOrd'\) ORDER BY id", q)
        assert m, q
        ids = [v.replace("''", "'") for v in re.findall(r"'((?:[^']|'')*)'", m.group(1))]
        queries.append(ids)
        found = [e for e in ids if int(e.rsplit("-", 1)[-1]) % 2 == 0]
        return {"items": [{"links": [], "id": str(10_000 + int(e.rsplit("-", 1)[-1])), "externalid": e} for e in found],
                "hasMore": False}

    requests_mock.post(SUITEQL_URL, json=cb)
    wanted = [f"AMZ-{n}" for n in range(2500)]
    result = make_hook().lookup_external_ids("transaction", wanted + wanted[:10], where="type = :t",
                                             params={"t": "SalesOrd"})
    assert [len(q) for q in queries] == [1000, 1000, 500]
    assert sum(queries, []) == wanted
    assert len(result) == 1250
    assert result["AMZ-0"] == "10000" and result["AMZ-2498"] == "12498" and "AMZ-1" not in result


def test_lookup_refuses_bad_table_names(make_hook):
    with pytest.raises(ValueError, match="table"):
        make_hook().lookup_external_ids("transaction; DROP", ["a"])


# --- SuiteQL parameter rendering ------------------------------------------------------------------------
def _outside_words(q: str) -> list[str]:
    return [q[s:e] for kind, s, e, _d in ns._scan(q) if kind == "word"]


def _literals(q: str) -> list[str]:
    return [m.replace("''", "'") for m in re.findall(r"'((?:[^']|'')*)'", q)]


TEMPLATE = "SELECT id FROM customer WHERE companyname = :name AND isinactive = 'F'"


@pytest.mark.parametrize("evil", ["x' OR '1'='1", "a'; DROP TABLE customer; --", "-- comment", "x; y", "''", "'",
                                  "/* c */", "\\'", ":name", "O'Brien & Söhne"])
def test_injection_like_strings_stay_inside_one_literal(evil):
    q = render_suiteql(TEMPLATE, {"name": evil})
    assert _outside_words(q) == _outside_words(TEMPLATE.replace(":name", "''"))
    assert _literals(q) == [evil, "F"]


@pytest.mark.parametrize("bad", ["nul\x00byte", "line\nbreak", "tab\there", "cr\r", "del\x7f"])
def test_control_characters_are_refused(bad):
    with pytest.raises(SuiteQLParameterError, match="control character"):
        render_suiteql(TEMPLATE, {"name": bad})


@given(st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs")), max_size=40))
@settings(max_examples=200, deadline=None)
def test_any_printable_string_renders_as_exactly_one_literal(value):
    q = render_suiteql(TEMPLATE, {"name": value})
    assert _literals(q) == [value, "F"]
    assert _outside_words(q) == _outside_words(TEMPLATE.replace(":name", "''"))


def test_literal_rendering_of_other_types():
    assert suiteql_literal(42) == "42"
    assert suiteql_literal(Decimal("19.990")) == "19.990"
    assert suiteql_literal(Decimal("1E+3")) == "1000"
    assert suiteql_literal(True) == "'T'" and suiteql_literal(False) == "'F'"
    assert suiteql_literal(None) == "NULL"
    assert suiteql_literal(date(2026, 3, 15)) == "TO_DATE('2026-03-15', 'YYYY-MM-DD')"
    assert suiteql_literal(["a'b", 3, Decimal("1.5")]) == "'a''b', 3, 1.5"
    for bad in (1.5, Decimal("NaN"), [], [[1]], datetime(2026, 1, 1, tzinfo=UTC), object()):
        with pytest.raises(SuiteQLParameterError):
            suiteql_literal(bad)


def test_placeholders_in_literals_comments_and_casts_are_left_alone():
    q = ("SELECT TO_CHAR(d, 'HH24:MI:SS') AS t, x::int -- :nope\n"
         "FROM t WHERE a = :a /* :nope2 */ AND b IN (:bs)")
    out = render_suiteql(q, {"a": "v", "bs": [1, 2]})
    assert out == ("SELECT TO_CHAR(d, 'HH24:MI:SS') AS t, x::int -- :nope\n"
                   "FROM t WHERE a = 'v' /* :nope2 */ AND b IN (1, 2)")


def test_missing_and_unused_parameters_fail_loudly():
    with pytest.raises(SuiteQLParameterError, match=":b"):
        render_suiteql("SELECT 1 FROM t WHERE a = :a AND b = :b", {"a": 1})
    with pytest.raises(SuiteQLParameterError, match="not used"):
        render_suiteql("SELECT 1 FROM t WHERE a = :a", {"a": 1, "typo": 2})
    with pytest.raises(SuiteQLParameterError, match="unterminated"):
        render_suiteql("SELECT 'x FROM t", {})


# --- JSON bodies and misc -------------------------------------------------------------------------------
def test_dumps_json_is_exact_for_decimals_and_utc_for_datetimes():
    body = {"rate": Decimal("0.1"), "qty": 3, "big": Decimal("12345678901234567890.123456789"),
            "when": datetime(2026, 3, 15, 10, 0, tzinfo=UTC), "day": date(2026, 3, 15), "flag": True, "none": None,
            "name": "Å\"b"}
    text = dumps_json(body)
    assert '"rate":0.1' in text and '"big":12345678901234567890.123456789' in text
    assert json.loads(text, parse_float=Decimal)["big"] == Decimal("12345678901234567890.123456789")
    assert '"when":"2026-03-15T10:00:00Z"' in text and '"day":"2026-03-15"' in text
    with pytest.raises(ValueError, match="naive"):
        dumps_json({"when": datetime(2026, 3, 15)})
    with pytest.raises(ValueError, match="non-finite"):
        dumps_json({"x": Decimal("Infinity")})


def test_run_escape_hatch_and_test_connection(make_hook, requests_mock):
    requests_mock.get(BASE + "/services/rest/record/v1/metadata-catalog", json={"items": []})
    hook = make_hook()
    assert hook.run("/services/rest/record/v1/metadata-catalog").json() == {"items": []}
    requests_mock.post(SUITEQL_URL, [{"json": {"items": [{"links": [], "id": "1"}], "hasMore": False}},
                                     {"status_code": 401, "json": fixture("error_401_invalid_login.response.json")}])
    assert hook.test_connection() == (True, "Authenticated to NetSuite and ran a SuiteQL query")
    ok, message = hook.test_connection()
    assert ok is False and "INVALID_LOGIN" in message


def test_one_session_with_a_pool_sized_to_the_concurrency(make_hook):
    hook = make_hook(concurrency=7)
    session = hook.get_conn()
    assert hook.get_conn() is session
    adapter = session.get_adapter("https://1234567-sb1.suitetalk.api.netsuite.com/")
    assert adapter._pool_maxsize == 7
    assert ns.account_semaphore("1234567_SB1", 7) is hook._semaphore


def test_auth_error_class_for_401_from_tba(make_hook, requests_mock):
    requests_mock.get(REC + "/customer/1", status_code=401, json=fixture("error_401_invalid_login.response.json"))
    with pytest.raises(NetSuiteAuthError):
        make_hook().get_record("customer", 1)
    assert requests_mock.call_count == 2  # one fresh re-signed retry, then the typed error
