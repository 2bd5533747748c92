"""The real ``NetSuiteHook`` against the NetSuite sandbox over HTTP.

The sandbox verifies OAuth 2.0 JWT assertions (PS256, ES256) and TBA signatures itself, enforces a
concurrency limit, keeps records in SQLite and answers NetSuite's error bodies — so what passes here
is the hook's real behaviour on the wire: authentication, tampered credentials (``INVALID_LOGIN``),
external-id upserts under concurrency, keyset SuiteQL beyond the 100,000-row cap, creates under the
account concurrency limit with 20 client threads, async batch upserts with idempotency keys, and typed
errors carrying ``o:errorPath``. The sandbox's inspection endpoints and store are the oracle.

No timed assertions (throughput is measured in ``bench/netsuite_writes_bench.py``).
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from airflow_provider_amznetsuite.hooks.netsuite import NetSuiteHook
from airflow_provider_amznetsuite.hooks.netsuite_errors import (
    NetSuiteAuthError,
    NetSuiteRecordNotFound,
    NetSuiteSuiteQLCapError,
    NetSuiteValidationError,
)
from airflow_provider_amznetsuite.sandbox.netsuite import credentials as creds
from airflow_provider_amznetsuite.sandbox.netsuite.server import NetSuiteSandbox, create_server

pytestmark = pytest.mark.integration

UK_CUSTOMER, UK_LOCATION, UK_SUBSIDIARY = "101", "1", "2"
ITEM = "1001"  # SKU-00001


# --------------------------------------------------------------------------------------------------
# fixtures and helpers
# --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ns() -> Iterator[NetSuiteSandbox]:
    sandbox = create_server(concurrency_limit=5, catalog_size=60).start()
    yield sandbox
    sandbox.shutdown()


HookFactory = Callable[..., NetSuiteHook]


@pytest.fixture
def make_hook(monkeypatch: pytest.MonkeyPatch) -> HookFactory:
    """``make_hook(sandbox, auth_type="oauth2", alg="PS256", **extra_overrides)`` -> a hook on its own env connection."""

    def factory(sandbox: NetSuiteSandbox, auth_type: creds.AuthType = "oauth2", alg: str = "PS256",
                **overrides: Any) -> NetSuiteHook:
        conn_id = f"ns_it_{uuid.uuid4().hex[:10]}"
        extra = {**sandbox.connection_extra(auth_type, alg), **overrides}
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}",
                           json.dumps({"conn_type": "netsuite", "host": sandbox.url, "extra": extra}))
        return NetSuiteHook(conn_id)

    return factory


def inspect(sandbox: NetSuiteSandbox, record_type: str, **params: str) -> dict[str, Any]:
    r = requests.get(f"{sandbox.url}/_sandbox/records/{record_type}", params=params, timeout=30)
    r.raise_for_status()
    return r.json()


def stats(sandbox: NetSuiteSandbox) -> dict[str, Any]:
    return requests.get(f"{sandbox.url}/_sandbox/stats", timeout=10).json()


def api_requests(snapshot: dict[str, Any]) -> int:
    """Record/SuiteQL/async requests (not token or /_sandbox requests)."""
    return sum(n for k, n in snapshot["requests"].items() if not k.endswith((" sandbox", " token")))


def uk_order(lines: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"entity": {"id": UK_CUSTOMER}, "location": {"id": UK_LOCATION}, "item": {"items": lines}, **extra}


def customer(n: int | str, prefix: str, **extra: Any) -> dict[str, Any]:
    return {"companyName": f"{prefix} {n}", "subsidiary": {"id": UK_SUBSIDIARY}, **extra}


# --------------------------------------------------------------------------------------------------
# authentication
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("auth_type", "alg"), [("oauth2", "PS256"), ("oauth2", "ES256"), ("tba", "PS256")],
                         ids=["oauth2-PS256", "oauth2-ES256", "tba-HMAC-SHA256"])
def test_hook_authenticates_with_oauth2_and_tba(ns: NetSuiteSandbox, make_hook: HookFactory, auth_type: str,
                                               alg: str) -> None:
    before = stats(ns)
    hook = make_hook(ns, auth_type, alg)
    rows = list(hook.suiteql("SELECT id, symbol FROM currency WHERE id IN (:ids) ORDER BY id", params={"ids": [1, 2]}))
    assert rows == [{"id": "1", "symbol": "USD"}, {"id": "2", "symbol": "GBP"}]
    record = hook.get_record("customer", UK_CUSTOMER)
    assert record["id"] == UK_CUSTOMER and record["subsidiary"]["id"] == UK_SUBSIDIARY
    assert hook.test_connection()[0] is True
    after = stats(ns)
    assert after["auth_failures"] == before["auth_failures"]            # not a single 401 on the way
    if auth_type == "oauth2":
        assert after["tokens_issued"].get(alg, 0) >= before["tokens_issued"].get(alg, 0)
        assert after["tokens_issued"].get(alg, 0) >= 1                   # a token of exactly this algorithm


def test_tampered_tba_token_secret_fails_with_invalid_login(ns: NetSuiteSandbox, make_hook: HookFactory) -> None:
    tampered = creds.TOKEN_SECRET[:-4] + "beef"
    hook = make_hook(ns, "tba", token_secret=tampered)
    with pytest.raises(NetSuiteAuthError) as err:
        hook.get_record("customer", UK_CUSTOMER)
    e = err.value
    assert e.status == 401 and e.code == "INVALID_LOGIN"
    assert "realm" in str(e) and "Login Audit Trail" in str(e)           # the checklist of usual causes
    for secret in (tampered, creds.TOKEN_SECRET, creds.CONSUMER_SECRET):
        assert secret not in f"{e} {e!r} {e.detail}"
    audit = stats(ns)["login_audit"]
    assert audit and audit[-1]["method"] == "tba"


def test_wrong_private_key_fails_with_a_clear_auth_error(ns: NetSuiteSandbox, make_hook: HookFactory) -> None:
    other = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    hook = make_hook(ns, "oauth2", "ES256", private_key=other)
    before = api_requests(stats(ns))
    with pytest.raises(NetSuiteAuthError) as err:
        hook.get_record("customer", UK_CUSTOMER)
    e = err.value
    assert e.status == 400 and e.url_path == creds.TOKEN_PATH            # the token endpoint refused the JWT
    assert "invalid_client" in str(e) and "signature does not verify" in str(e)
    assert "certificate is not mapped" in str(e)                          # the checklist of usual causes
    body_lines = [ln for ln in other.splitlines() if ln and not ln.startswith("-----")]
    for secret in (other, *body_lines):
        assert secret not in f"{e} {e!r}"
    assert api_requests(stats(ns)) == before                             # no API call went out unauthenticated
    assert stats(ns)["login_audit"][-1]["method"] == "oauth2"


# --------------------------------------------------------------------------------------------------
# records
# --------------------------------------------------------------------------------------------------
def test_three_concurrent_upserts_with_one_external_id_leave_one_record(ns: NetSuiteSandbox,
                                                                        make_hook: HookFactory) -> None:
    eid = f"AMZ-HOOKIT-{uuid.uuid4().hex[:10]}"
    hooks = [make_hook(ns), make_hook(ns, "oauth2", "ES256"), make_hook(ns, "tba")]
    barrier = threading.Barrier(3)

    def upsert(hook: NetSuiteHook) -> str:
        barrier.wait()
        return hook.upsert_record("salesOrder", eid, uk_order([{"item": {"id": ITEM}, "quantity": 2, "rate": 7}]),
                                  replace=["item"])

    with ThreadPoolExecutor(3) as pool:
        ids = list(pool.map(upsert, hooks))
    assert len(set(ids)) == 1
    found = inspect(ns, "salesOrder", externalId=eid)["items"]
    assert [r["id"] for r in found] == ids[:1]
    assert len(found[0]["item"]["items"]) == 1                            # replace=item: no duplicated lines
    assert hooks[0].lookup_external_ids("transaction", [eid, "AMZ-NOT-THERE"]) == {eid: ids[0]}


def test_unknown_reference_gives_a_typed_error_with_the_error_path(ns: NetSuiteSandbox, make_hook: HookFactory) -> None:
    hook = make_hook(ns)
    before = ns.store.count("salesOrder")
    body = uk_order([{"item": {"id": ITEM}, "quantity": 1, "rate": 1}, {"item": {"id": "9999999"}, "quantity": 1}])
    with pytest.raises(NetSuiteValidationError) as err:
        hook.create_record("salesOrder", body)
    e = err.value
    assert e.status == 400 and e.code == "USER_ERROR" and e.path == "item.items[1].item"
    assert "9999999" in e.detail and "item.items[1].item" in str(e) and "\n" not in str(e)
    with pytest.raises(NetSuiteValidationError) as upsert_err:
        hook.upsert_record("salesOrder", "AMZ-HOOKIT-BADREF", body)
    assert upsert_err.value.path == "item.items[1].item"
    assert ns.store.count("salesOrder") == before                        # nothing was written
    with pytest.raises(NetSuiteRecordNotFound) as missing:
        hook.get_record("salesOrder", "987654321")
    assert missing.value.status == 404 and missing.value.code == "NONEXISTENT_ID"


def test_batch_upsert_is_idempotent_and_reports_each_item(ns: NetSuiteSandbox, make_hook: HookFactory) -> None:
    hook = make_hook(ns)
    prefix = f"HOOKIT-BATCH-{uuid.uuid4().hex[:6]}"
    items = [{"externalId": f"{prefix}-{n}", **customer(n, prefix)} for n in range(150)]
    items[120] = {**items[120], "subsidiary": {"id": "999"}}             # unknown reference in the 2nd chunk
    jobs_before = stats(ns)["jobs"]
    first = hook.batch_upsert("customer", items, poll_interval=0.05)
    assert [r["externalId"] for r in first] == [i["externalId"] for i in items]
    ok = [r for r in first if r["ok"]]
    assert len(ok) == 149 and len({r["id"] for r in ok}) == 149
    bad = first[120]
    assert bad["ok"] is False and bad["id"] is None and bad["error"]["path"] == "subsidiary"
    assert bad["error"]["code"] == "USER_ERROR" and bad["error"]["status"] == 400
    assert stats(ns)["jobs"] == jobs_before + 2                           # 100 + 50 items: two async jobs
    stored = {r["externalId"]: r for r in inspect(ns, "customer")["items"]
              if str(r.get("externalId", "")).startswith(prefix + "-")}
    assert len(stored) == 149 and {r["id"] for r in ok} == {r["id"] for r in stored.values()}

    again = hook.batch_upsert("customer", items, poll_interval=0.05)      # an Airflow retry of the same batch
    assert again == first                                                 # the original jobs' results
    assert stats(ns)["jobs"] == jobs_before + 2                           # IDEMPOTENCY_ERROR: no new job

    changed = [dict(i) for i in items[:100]]
    changed[3]["companyName"] = f"{prefix} renamed"
    third = hook.batch_upsert("customer", changed, poll_interval=0.05)
    assert stats(ns)["jobs"] == jobs_before + 3                           # new content, new key, new job
    assert [r["id"] for r in third] == [r["id"] for r in first[:100]]    # upsert: same records
    assert ns.store.get("customer", int(third[3]["id"]))["companyName"] == f"{prefix} renamed"
    assert sum(1 for r in inspect(ns, "customer")["items"]
               if str(r.get("externalId", "")).startswith(prefix + "-")) == 149


# --------------------------------------------------------------------------------------------------
# SuiteQL beyond the cap
# --------------------------------------------------------------------------------------------------
def test_suiteql_keyset_visits_150000_rows_exactly_once(make_hook: HookFactory) -> None:
    with create_server(catalog_size=20) as big:
        inserted = big.seed_items(150_000)
        assert len(inserted) == 150_000
        expected = int(big.store.scalar("SELECT COUNT(*) FROM item", {}))
        hook = make_hook(big, "tba")                                      # TBA signs limit/offset on every page
        seen: list[int] = []
        itemids: set[str] = set()
        for row in hook.suiteql_keyset("SELECT i.id, i.itemid FROM item i", key="i.id"):
            seen.append(int(row["id"]))
            itemids.add(row["itemid"])
        assert len(seen) == expected > 150_000
        assert len(set(seen)) == expected and seen == sorted(seen)       # every row exactly once, in key order
        assert seen[-1] == inserted[-1] and len(itemids) == expected
        filtered = [int(r["id"]) for r in hook.suiteql_keyset(
            "SELECT i.id FROM item i", key="i.id", where="i.id > :lo AND i.id <= :hi",
            params={"lo": inserted[0], "hi": inserted[0] + 2500}, page_size=1000, chunk_rows=2000)]
        assert filtered == list(range(inserted[0] + 1, inserted[0] + 2501))
        with pytest.raises(NetSuiteSuiteQLCapError):
            for _ in hook.suiteql("SELECT id FROM item ORDER BY id"):
                pass
        assert big.stats.snapshot()["auth_failures"] == 0


# --------------------------------------------------------------------------------------------------
# governance: 20 client threads against an account limit of 5
# --------------------------------------------------------------------------------------------------
def _creates_under_the_limit(make_hook: HookFactory, total: int) -> None:
    with create_server(concurrency_limit=5, catalog_size=10, latency_ms=5) as sandbox:
        hook = make_hook(sandbox)
        prefix = f"HOOKIT-GOV-{uuid.uuid4().hex[:6]}"
        failures: list[BaseException] = []
        lock = threading.Lock()

        def create(n: int) -> str | None:
            try:
                return hook.create_record("customer", customer(n, prefix))
            except Exception as exc:  # counted, then asserted to be none
                with lock:
                    failures.append(exc)
                return None

        with ThreadPoolExecutor(max_workers=20) as pool:
            ids = list(pool.map(create, range(total)))
        snap = sandbox.stats.snapshot()
        created = [r for r in sandbox.store.records("customer") if str(r.get("companyName", "")).startswith(prefix)]
    assert failures == []
    assert len({i for i in ids if i}) == total and len(created) == total
    assert snap["peak_concurrency"] <= 5
    assert not any(int(code) >= 500 for code in snap["statuses"])


def test_1000_creates_with_20_threads_under_concurrency_limit_5(make_hook: HookFactory) -> None:
    # ~5 s on the 2-core machine, so it stays in the fast suite (no `slow` marker needed)
    _creates_under_the_limit(make_hook, 1000)
