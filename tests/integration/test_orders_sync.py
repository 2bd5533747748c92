"""The order sync through both sandboxes over real HTTP.

Every test starts its own pair of sandboxes (cheap: the data is generated, not loaded) and its own
sync-state database, then drives the ``amazon_<code>_orders`` operators the way Airflow does — task by
task, in DAG order, with XCom handed along, deferrals resolved by polling the feed, and a failed task
re-run like an Airflow retry. Expectations are computed independently from the SP-API sandbox's raw
orders and the shared sandbox catalogue (never by calling ``map_order``), and checked against the
NetSuite sandbox's stored records (``/_sandbox/records/{type}``).
"""

from __future__ import annotations

import functools
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import requests
import yaml
from airflow.sdk.exceptions import AirflowFailException, TaskDeferred

from airflow_provider_amznetsuite.config import load_config
from airflow_provider_amznetsuite.dag_factory.orders import build
from airflow_provider_amznetsuite.hooks.netsuite import NetSuiteHook
from airflow_provider_amznetsuite.hooks.spapi import SpApiHook
from airflow_provider_amznetsuite.operators import base as base_module
from airflow_provider_amznetsuite.sandbox import catalog
from airflow_provider_amznetsuite.sandbox.netsuite import credentials as ns_creds
from airflow_provider_amznetsuite.sandbox.runner import NETSUITE_CONN_ENV, Sandboxes, start_sandboxes
from airflow_provider_amznetsuite.state import SyncStateStore

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "dags" / "marketplaces.yaml"
TIME_SCALE = 500.0
INCLUDED = ("PROCEEDS", "TAX", "PROMOTION", "FULFILLMENT", "CANCELLATION")
SELLER_CODE = {"uk": "10", "de": "11", "us": "12"}
CLASS = {"uk": "5", "de": "5", "us": "6"}
D = Decimal


def _iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def _t(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# ================================================================================================
# harness
# ================================================================================================
class FakeTI:
    def __init__(self, xcoms: dict[str, Any]) -> None:
        self.xcoms = xcoms

    def xcom_pull(self, task_ids: str | None = None, **_: Any) -> Any:
        return self.xcoms.get(task_ids)


class World:
    """Both sandboxes, a state DB and the order DAG of one config; ``run`` executes one DAG run."""

    def __init__(self, sbx: Sandboxes, state_url: str, config: Path) -> None:
        self.sbx = sbx
        self.state = SyncStateStore(state_url)
        self.config = config
        self.retries = 0
        self.page_size = 100
        self.failures: list[tuple[str, str]] = []

    # -- sandbox views -------------------------------------------------------------------------
    @property
    def now(self) -> datetime:
        return self.sbx.spapi.now()

    def records(self, record_type: str) -> list[dict[str, Any]]:
        resp = requests.get(f"{self.sbx.netsuite_url}/_sandbox/records/{record_type}", timeout=30)
        resp.raise_for_status()
        return json.loads(resp.content, parse_float=Decimal)["items"]

    def docs(self, code: str | None = None) -> dict[str, dict[str, Any]]:
        """Amazon documents in NetSuite by external id (of one marketplace's subsidiary)."""
        out: dict[str, dict[str, Any]] = {}
        for rtype in ("salesOrder", "cashSale"):
            for rec in self.records(rtype):
                eid = rec.get("externalId") or ""
                if not eid.startswith("AMZ-"):
                    continue
                if code and rec["subsidiary"]["id"] != catalog.MARKETPLACES[code].subsidiary_id:
                    continue
                assert eid not in out, f"{eid} exists twice"
                out[eid] = {**rec, "_type": rtype}
        return out

    def shipments(self) -> dict[str, Any]:
        return requests.get(f"{self.sbx.spapi_url}/_sandbox/shipments", timeout=30).json()

    def raw_order(self, oid: str) -> dict[str, Any]:
        return self.sbx.spapi.get_order(oid, INCLUDED)

    def listing(self, code: str) -> list[dict[str, Any]]:
        return requests.get(f"{self.sbx.spapi_url}/_sandbox/orders", params={"marketplace": code}, timeout=30).json()["orders"]

    # -- running the DAG -------------------------------------------------------------------------
    def dag(self, code: str) -> Any:
        app = load_config(self.config)
        return build(app.marketplaces[code], app)

    def run(self, code: str, run_id: str, start: datetime, end: datetime, **params: Any) -> dict[str, Any]:
        dag = self.dag(code)
        dag.get_task("extract_orders").page_size = self.page_size
        p = {k: dag.params[k] for k in dag.params}
        p.update(window_start=_iso(start), window_end=_iso(end), **params)
        x: dict[str, Any] = {}
        ctx = {"params": p, "dag_run": SimpleNamespace(run_id=run_id, run_after=None), "ti": FakeTI(x), "run_id": run_id}

        def call(task_id: str) -> Any:
            for attempt in range(self.retries + 1):
                task = dag.get_task(task_id)
                try:
                    try:
                        return task.execute(ctx)
                    except TaskDeferred as deferred:
                        return self._resume(task, ctx, deferred)
                except AirflowFailException as exc:  # no retry: a visible failure (quarantine)
                    x[f"{task_id}:failed"] = str(exc)
                    return None
                except Exception as exc:  # an Airflow retry re-runs the task
                    self.failures.append((task_id, f"{type(exc).__name__}: {exc}"))
                    if attempt == self.retries:
                        raise
            return None

        for task_id in ("extract_orders", "decide_tax_and_lifecycle"):
            x[task_id] = call(task_id)
        branches = dag.get_task("branch_fulfilment").choose_branch(ctx)
        for ch in ("fba", "mfn"):
            if f"map_{ch}" in branches:
                x[f"map_{ch}"] = call(f"map_{ch}")
                x[f"write_{ch}"] = call(f"write_{ch}")
        x["acknowledge_orders"] = call("acknowledge_orders")
        x["confirm_shipments"] = call("confirm_shipments")
        x["orders_report"] = call("orders_report")
        return x

    @staticmethod
    def _resume(task: Any, ctx: dict[str, Any], deferred: TaskDeferred) -> Any:
        """Stand-in for the triggerer: poll the feed the trigger waits for, then resume the task."""
        while True:
            trigger = deferred.trigger
            hook = SpApiHook(trigger.conn_id)
            deadline = time.monotonic() + 60
            while True:
                status = hook.get_feed(trigger.feed_id).get("processingStatus")
                if status in ("DONE", "FATAL", "CANCELLED"):
                    break
                assert time.monotonic() < deadline, f"feed {trigger.feed_id} never finished"
                time.sleep(0.05)
            try:
                return getattr(task, deferred.method_name)(ctx, event={"status": status, "feed_id": trigger.feed_id})
            except TaskDeferred as again:
                deferred = again


@contextmanager
def world(tmp_path: Path, *, config: Path = CONFIG, time_scale: float = TIME_SCALE, **options: Any) -> Iterator[World]:
    options.setdefault("days", 1)
    sbx = start_sandboxes(seed=options.pop("seed", 42), time_scale=time_scale, **options)
    db = tmp_path / f"state-{sbx.spapi.port}.db"
    # the NetSuite connection signs with the sandbox's EC key (ES256): RSA key parsing would dominate the run time
    ns_extra = {**ns_creds.connection_extra(sbx.netsuite_url, auth_type="oauth2", alg="ES256"),
                "concurrency": sbx.netsuite_concurrency}
    env = {**sbx.connection_env(), "AMZNETSUITE_CONFIG": str(config),
           NETSUITE_CONN_ENV: json.dumps({"conn_type": "netsuite", "host": sbx.netsuite_url, "extra": ns_extra}),
           "AIRFLOW_CONN_AMZNETSUITE_STATE": json.dumps({"conn_type": "generic", "extra": {"url": f"sqlite:///{db}"}})}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    # every task re-reads the YAML (as separate Airflow task processes do); one parse per file is enough here
    cached = functools.lru_cache(maxsize=8)(base_module.load_config)
    original, base_module.load_config = base_module.load_config, cached
    try:
        yield World(sbx, f"sqlite:///{db}", config)
    finally:
        base_module.load_config = original
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        sbx.stop()


def full_window(w: World) -> tuple[datetime, datetime]:
    return w.now - timedelta(days=4), w.now - timedelta(minutes=2)


# ================================================================================================
# independent expectation from the raw sandbox orders
# ================================================================================================
def expected(w: World, code: str, start: datetime, end: datetime) -> tuple[dict[str, dict[str, Any]], set[str]]:
    """What NetSuite must hold for the orders of ``code`` updated in [start, end], and which are quarantined."""
    mp = catalog.MARKETPLACES[code]
    items = {i.sku: i.internal_id for i in catalog.items()}
    exp: dict[str, dict[str, Any]] = {}
    unknown: set[str] = set()
    for row in w.listing(code):
        if not start <= _t(row["lastUpdatedTime"]) <= end:
            continue
        raw = w.raw_order(row["orderId"])
        status, by = raw["fulfillment"]["fulfillmentStatus"], raw["fulfillment"]["fulfilledBy"]
        if status in ("PENDING", "PENDING_AVAILABILITY", "CANCELLED", "UNFULFILLABLE"):
            continue
        if by == "AMAZON" and status != "SHIPPED":
            continue
        open_items = [i for i in raw["orderItems"] if i["quantityOrdered"] > 0]
        if any(i["product"]["sellerSku"] not in items for i in open_items):
            unknown.add(raw["orderId"])
            continue
        withheld = seller = D(0)
        for i in open_items:
            tax = sum((D(b["subtotal"]["amount"]) for b in i["proceeds"]["breakdowns"] if b["type"] == "TAX"), D(0))
            if i.get("tax", {}).get("taxCollections"):
                withheld += tax
            else:
                seller += tax
        exp[f"AMZ-{raw['orderId']}"] = {
            "type": "salesOrder" if by == "MERCHANT" else "cashSale",
            "total": D(raw["proceeds"]["grandTotal"]["amount"]),
            "location": mp.mfn_location_ids[0] if by == "MERCHANT" else mp.fba_location_id,
            "subsidiary": mp.subsidiary_id,
            "products": sorted((i["orderItemId"], items[i["product"]["sellerSku"]], i["quantityOrdered"])
                               for i in open_items),
            "cancelled_items": sorted(i["orderItemId"] for i in raw["orderItems"] if i["quantityOrdered"] == 0),
            "withheld": withheld, "seller_tax": seller,
            "mf": any(i.get("tax", {}).get("taxCollections") for i in open_items),
        }
    return exp, unknown


def doc_total(rec: dict[str, Any]) -> Decimal:
    return sum((D(str(ln.get("amount", 0))) + D(str(ln.get("tax1Amt", 0))) for ln in rec["item"]["items"]), D(0))


def check_documents(w: World, code: str, exp: dict[str, dict[str, Any]]) -> None:
    docs = w.docs(code)
    assert set(docs) == set(exp), f"missing {sorted(set(exp) - set(docs))[:5]} extra {sorted(set(docs) - set(exp))[:5]}"
    for eid, e in exp.items():
        rec = docs[eid]
        oid = eid[4:]
        where = f"{eid} ({e['type']})"
        assert rec["_type"] == e["type"], where
        assert doc_total(rec) == e["total"], f"{where}: NetSuite {doc_total(rec)} != Amazon {e['total']}"
        assert rec["location"]["id"] == e["location"] and rec["subsidiary"]["id"] == e["subsidiary"], where
        assert rec["currency"]["id"] == catalog.CURRENCY_IDS[catalog.MARKETPLACES[code].currency], where
        assert rec["entity"]["id"] == catalog.MARKETPLACES[code].customer_id, where
        assert (rec["salesChannel"]["id"], rec["department"]["id"], rec["class"]["id"]) == ("1", "3", CLASS[code]), where
        assert rec["custbody_amz_order_id"] == oid and rec["custbody_amz_channel"] == "Amazon", where
        lines = rec["item"]["items"]
        products = sorted((ln["custcol_amz_order_item_id"], ln["item"]["id"], int(ln["quantity"])) for ln in lines
                          if ln["item"]["id"] in {p[1] for p in e["products"]} and not ln.get("isClosed"))
        assert products == e["products"], where
        clearing = [ln for ln in lines if ln["item"]["id"] == "903"]
        assert sum((D(str(ln.get("tax1Amt", 0))) for ln in lines), D(0)) == e["seller_tax"], where
        if e["withheld"]:
            assert len(clearing) == 1 and D(str(clearing[0]["amount"])) == e["withheld"], where
            assert sum((D(str(ln.get("custcol_amz_withheld_tax", 0))) for ln in lines), D(0)) == e["withheld"], where
        else:
            assert clearing == [], where
        codes = {ln["taxCode"]["id"] for ln in lines if ln["item"]["id"] != "903" and "taxCode" in ln}
        if e["seller_tax"]:
            assert codes == {SELLER_CODE[code]}, where
        if e["mf"]:
            assert codes == {"20"}, where
        if e["type"] == "salesOrder":
            closed = sorted(ln["custcol_amz_order_item_id"] for ln in lines if ln.get("isClosed"))
            assert closed == e["cancelled_items"], where  # partial cancellations: only those lines closed
        else:
            assert not any(ln.get("isClosed") for ln in lines), where


# ================================================================================================
# tests
# ================================================================================================
def _day(tmp_path: Path, orders_per_day: int) -> None:
    with world(tmp_path, orders_per_day=orders_per_day, unknown_sku_orders=3) as w:
        start, end = full_window(w)
        for code in ("uk", "us"):
            x = w.run(code, f"day-{code}", start, end, allow_quarantine=True)
            exp, unknown = expected(w, code, start, end)
            check_documents(w, code, exp)
            q = w.state.open_quarantine("orders", code)
            assert {r.key for r in q} == unknown and unknown
            assert all("SKU 'SKU-UNKNOWN-1' has no NetSuite item" in r.reason for r in q)
            counts = x["orders_report"]["counts"]
            assert counts["created"] == len(exp) and counts["quarantined"] == len(unknown)
        # the day holds every edge case the generator makes
        listing = w.listing("uk") + w.listing("us")
        statuses = {(o["fulfilledBy"], o["status"]) for o in listing}
        assert {("MERCHANT", "UNSHIPPED"), ("AMAZON", "SHIPPED"), ("AMAZON", "UNSHIPPED"), ("MERCHANT", "CANCELLED"),
                ("MERCHANT", "PENDING")} <= statuses
        docs = w.docs()
        assert any(r.get("custbody_amz_is_replacement") for r in docs.values())
        assert any(r.get("custbody_amz_is_business") for r in docs.values())
        assert any(any(ln.get("isClosed") for ln in r["item"]["items"]) for r in docs.values())  # partial cancel
        assert any(any(ln["item"]["id"] == "902" for ln in r["item"]["items"]) for r in docs.values())  # promotions


def test_a_sandbox_day_lands_in_netsuite_exactly(tmp_path):
    _day(tmp_path, 100)  # 200 orders across UK and US


@pytest.mark.slow
def test_a_sandbox_day_of_2000_orders_lands_in_netsuite_exactly(tmp_path):
    _day(tmp_path, 1000)  # 2,000 orders across UK and US


def test_same_window_twice_and_overlapping_backfill_create_no_duplicates(tmp_path):
    with world(tmp_path, orders_per_day=15, days=3) as w:
        start, end = w.now - timedelta(days=1), w.now - timedelta(minutes=2)
        w.run("uk", "scheduled", start, end, allow_quarantine=True)
        first = {eid: (r["id"], len(r["item"]["items"]), doc_total(r)) for eid, r in w.docs("uk").items()}
        assert first
        x = w.run("uk", "scheduled-again", start, end, allow_quarantine=True)
        # nothing new; the only updates allowed are replacement orders now linked to an original that the other
        # branch (FBA/MFN) wrote during the first run
        replacements = [r for r in w.docs("uk").values() if r.get("custbody_amz_original_transaction")]
        assert x["orders_report"]["counts"]["created"] == 0
        assert x["orders_report"]["counts"]["updated"] <= len(replacements)
        x = w.run("uk", "scheduled-third", start, end, allow_quarantine=True)
        assert x["orders_report"]["counts"]["created"] == 0 and x["orders_report"]["counts"]["updated"] == 0
        # backfill: three day windows overlapping each other (1 h) and the scheduled window
        days = [(w.now - timedelta(days=3 - n, hours=1), w.now - timedelta(days=2 - n) + timedelta(hours=1))
                for n in range(3)]
        days[-1] = (days[-1][0], end)
        for n, (a, b) in enumerate(days):
            w.run("uk", f"backfill-{n}", a, b, allow_quarantine=True)
        after = {eid: (r["id"], len(r["item"]["items"]), doc_total(r)) for eid, r in w.docs("uk").items()}
        assert {eid: after[eid] for eid in first} == first  # same internal ids, lines and totals
        exp, _ = expected(w, "uk", days[0][0], end)
        check_documents(w, "uk", exp)  # older days were added, nothing twice


def test_status_changes_update_in_place_and_cancellations_close(tmp_path):
    with world(tmp_path, orders_per_day=30) as w:
        start, end = full_window(w)
        w.run("uk", "r1", start, end, allow_quarantine=True)
        docs = w.docs("uk")
        listing = {o["orderId"]: o for o in w.listing("uk")}
        open_mfn = [oid for oid, o in listing.items() if o["fulfilledBy"] == "MERCHANT" and o["status"] == "UNSHIPPED"
                    and f"AMZ-{oid}" in docs]
        multi = next(oid for oid in open_mfn if len(w.raw_order(oid)["orderItems"]) >= 2
                     and all(i["quantityOrdered"] > 0 for i in w.raw_order(oid)["orderItems"]))
        whole = next(oid for oid in open_mfn if oid != multi)
        fba = next(oid for oid, o in listing.items() if o["fulfilledBy"] == "AMAZON" and o["status"] == "UNSHIPPED")
        assert f"AMZ-{fba}" not in docs  # FBA is written once shipped
        at = w.now + timedelta(minutes=1)
        with w.sbx.spapi.state.lock:  # Amazon cancels the last item of `multi` only
            line = w.sbx.spapi.state.orders[multi].lines[-1]
            line.cancelled_at = at
            cancelled_item = line.order_item_id
        w.sbx.spapi.update_order(whole, status="CANCELLED", at=at)
        w.sbx.spapi.update_order(fba, status="SHIPPED", at=at)
        w.sbx.spapi.advance(10)
        x = w.run("uk", "r2", end, w.now - timedelta(minutes=2), allow_quarantine=True)
        assert x["orders_report"]["counts"]["cancelled_closed"] == 1
        after = w.docs("uk")
        part = after[f"AMZ-{multi}"]
        assert part["id"] == docs[f"AMZ-{multi}"]["id"]  # updated in place
        assert len(part["item"]["items"]) == len(docs[f"AMZ-{multi}"]["item"]["items"])
        closed = [ln for ln in part["item"]["items"] if ln.get("isClosed")]
        assert closed and {ln["custcol_amz_order_item_id"] for ln in closed} == {cancelled_item}
        assert all(D(str(ln["amount"])) == 0 for ln in closed)
        assert doc_total(part) == D(w.raw_order(multi)["proceeds"]["grandTotal"]["amount"])
        gone = after[f"AMZ-{whole}"]
        assert gone["id"] == docs[f"AMZ-{whole}"]["id"] and gone["status"]["refName"] == "Closed"
        assert all(ln.get("isClosed") for ln in gone["item"]["items"])  # closed, never deleted
        shipped = after[f"AMZ-{fba}"]
        assert shipped["_type"] == "cashSale" and doc_total(shipped) == D(w.raw_order(fba)["proceeds"]["grandTotal"]["amount"])
        assert set(after) >= set(docs)


def _normalised(w: World) -> dict[str, Any]:
    docs = w.docs()
    by_id = {r["id"]: eid for eid, r in docs.items()}
    out = {}
    for eid, r in docs.items():
        header = {k: v for k, v in r.items() if k not in ("id", "tranId", "createdDate", "lastModifiedDate", "item",
                                                          "status", "exchangeRate")}
        link = header.get("custbody_amz_original_transaction")
        if link:
            header["custbody_amz_original_transaction"] = by_id.get(link["id"], link["id"])
        lines = [{k: v for k, v in ln.items() if k not in ("line",)} for ln in r["item"]["items"]]
        out[eid] = json.dumps({"header": header, "lines": lines}, sort_keys=True, default=str)
    return out


def test_ten_percent_faults_on_both_sandboxes_end_in_the_fault_free_state(tmp_path):
    states = []
    for faults in (None, 0.1):
        opts: dict[str, Any] = {"orders_per_day": 40, "time_scale": 2000}  # many small pages: a faster clock
        if faults:
            opts["faults"] = {"rate": faults, "seed": 12, "slow_seconds": 0.05}
            opts["netsuite_faults"] = {"rate": faults, "seed": 23, "slow_ms": 50}
        with world(tmp_path, **opts) as w:
            w.retries = 4  # Airflow retries the failed task
            w.page_size = 2  # more searchOrders pages: more SP-API traffic, and pagination tokens can expire
            start, end = full_window(w)
            w.run("uk", "run", start, end, allow_quarantine=True)
            w.run("uk", "again", start, end, allow_quarantine=True)  # the same window again, also under faults
            acks = sorted((a["orderId"], a["statusCode"]) for a in w.shipments()["acknowledgements"])
            states.append((_normalised(w), acks, len(w.failures)))
            if faults:
                spapi_faults = requests.get(f"{w.sbx.spapi_url}/_sandbox/stats", timeout=30).json()["faultsInjected"]
                ns_faults = requests.get(f"{w.sbx.netsuite_url}/_sandbox/stats", timeout=30).json()["faults"]
                # seeded: the listing's requests are sequential, so this seed's draws hit several kinds
                assert len(spapi_faults) >= 3 and sum(ns_faults.values()) >= 3, (spapi_faults, ns_faults)
    (clean, clean_acks, _), (faulty, faulty_acks, _) = states
    assert clean and faulty == clean
    assert faulty_acks == clean_acks and len(clean_acks) > 10


def test_expired_pagination_tokens_restart_the_listing_against_the_sandbox(tmp_path):
    faults = {"kinds": ["expired_pagination"], "operations": {"searchOrders": 0.3}, "seed": 4}
    with world(tmp_path, orders_per_day=40, faults=faults, time_scale=2000) as w:
        w.page_size = 4
        w.retries = 3
        start, end = full_window(w)
        x = w.run("uk", "r1", start, end, allow_quarantine=True)
        injected = requests.get(f"{w.sbx.spapi_url}/_sandbox/stats", timeout=30).json()["faultsInjected"]
        assert injected.get("expired_pagination", 0) >= 1
        assert x["extract_orders"]["counts"]["pagination_restarts"] >= 1
        assert x["extract_orders"]["counts"]["orders"] == 40
        check_documents(w, "uk", expected(w, "uk", start, end)[0])


def test_unknown_sku_is_quarantined_then_written_once_the_item_exists(tmp_path):
    with world(tmp_path, orders_per_day=30, unknown_sku_orders=2) as w:
        start, end = full_window(w)
        x = w.run("uk", "r1", start, end)
        _, unknown = expected(w, "uk", start, end)
        assert unknown
        assert "quarantined" in x["orders_report:failed"] and f"{len(unknown)} record(s)" in x["orders_report:failed"]
        q = {r.key: r.reason for r in w.state.open_quarantine("orders", "uk")}
        assert set(q) == unknown
        assert all(r.endswith("SKU 'SKU-UNKNOWN-1' has no NetSuite item (create the item or map the SKU) — order quarantined")
                   for r in q.values())
        assert not any(f"AMZ-{oid}" in w.docs("uk") for oid in unknown)  # just those orders are missing
        resp = requests.post(f"{w.sbx.netsuite_url}/_sandbox/control", json={
            "action": "add_item", "sku": catalog.UNKNOWN_SKU, "displayName": "Now known"}, timeout=30)
        new_item = resp.json()["id"]
        w.sbx.spapi.advance(30)
        x = w.run("uk", "r2", end, w.now - timedelta(minutes=2))
        assert "orders_report:failed" not in x and x["extract_orders"]["counts"]["refetched"] == len(unknown)
        docs = w.docs("uk")
        for oid in unknown:
            lines = docs[f"AMZ-{oid}"]["item"]["items"]
            assert any(ln["item"]["id"] == str(new_item) for ln in lines)
            assert doc_total(docs[f"AMZ-{oid}"]) == D(w.raw_order(oid)["proceeds"]["grandTotal"]["amount"])
        assert w.state.open_quarantine("orders", "uk") == []


def test_acknowledgements_carry_the_tranid_and_a_fulfilment_is_confirmed_exactly_once(tmp_path):
    with world(tmp_path, orders_per_day=30) as w:
        start, end = full_window(w)
        w.run("uk", "r1", start, end, allow_quarantine=True)
        sos = {eid[4:]: r for eid, r in w.docs("uk").items() if r["_type"] == "salesOrder"}
        acks = {a["orderId"]: a for a in w.shipments()["acknowledgements"]}
        assert set(acks) == set(sos)
        assert all(acks[oid]["merchantOrderId"] == so["tranId"] and acks[oid]["statusCode"] == "Success"
                   for oid, so in sos.items())
        listing = {o["orderId"]: o for o in w.listing("uk")}
        oid = next(o for o in sos if listing[o]["status"] == "UNSHIPPED")
        hook = NetSuiteHook()
        fid = hook.transform_record("salesOrder", sos[oid]["id"], "itemFulfillment", {
            "shipCarrier": "Royal Mail", "package": {"items": [{"packageTrackingNumber": "RM123456785GB"}]}})
        for n in (2, 3):
            w.sbx.spapi.advance(30)
            x = w.run("uk", f"r{n}", end, w.now - timedelta(minutes=2), allow_quarantine=True)
            assert x["confirm_shipments"]["counts"]["confirmed"] == (1 if n == 2 else 0)
        confirmations = [c for c in w.shipments()["confirmations"] if c["orderId"] == oid]
        assert len(confirmations) == 1
        pd = confirmations[0]["packageDetail"]
        assert pd["packageReferenceId"] == str(fid) and pd["trackingNumber"] == "RM123456785GB"
        assert pd["carrierCode"] == "Royal Mail"
        raw = w.raw_order(oid)
        assert sorted((i["orderItemId"], i["quantity"]) for i in pd["orderItems"]) == \
            sorted((i["orderItemId"], i["quantityOrdered"]) for i in raw["orderItems"] if i["quantityOrdered"])
        assert raw["fulfillment"]["fulfillmentStatus"] == "SHIPPED"
        assert len(w.shipments()["acknowledgements"]) == len(acks)  # nobody acknowledged twice


def test_pii_never_reaches_logs_xcom_or_quarantine(tmp_path, capfd):
    doc = yaml.safe_load(CONFIG.read_text())
    doc["marketplaces"]["uk"]["orders"] = {"pii": True}
    doc["marketplaces"]["uk"]["customer"] = {"customer_id": 101, "strategy": "buyer"}
    cfg = tmp_path / "pii.yaml"
    cfg.write_text(yaml.safe_dump(doc))
    with world(tmp_path, config=cfg, orders_per_day=40) as w:
        start, end = full_window(w)
        x = w.run("uk", "pii", start, end, allow_quarantine=True)
        customers = [c for c in w.records("customer") if str(c.get("externalId", "")).startswith("AMZ-BUYER-")]
        assert customers  # buyers became customers, matched by a hashed key
        buyer_ids = {c["id"] for c in customers}
        assert any(r["entity"]["id"] in buyer_ids for r in w.docs("uk").values())
        pii = [v for v in w.sbx.spapi.pii_values() if len(v) >= 6]
        out, err = capfd.readouterr()
        text = out + err + json.dumps(x, default=str) + json.dumps(
            [r.reason for r in w.state.open_quarantine()] + [w.state.run_summaries(t.dag_id, "pii") for t in [w.dag("uk")]],
            default=str)
        leaked = [v for v in pii if v in text]
        assert leaked == []


@pytest.mark.db
def test_dag_test_of_amazon_uk_orders_succeeds(tmp_path):
    from airflow.dag_processing.dagbag import DagBag

    with world(tmp_path, orders_per_day=20) as w:
        dag = DagBag(dag_folder=str(ROOT / "dags" / "amazon_netsuite.py")).get_dag("amazon_uk_orders")
        start, end = full_window(w)
        dr = dag.test(run_conf={"window_start": _iso(start), "window_end": _iso(end)})
        states = {ti.task_id: ti.state for ti in dr.get_task_instances()}
        assert dr.state == "success", states
        assert states["orders_report"] == "success" and states["acknowledge_orders"] == "success"
        exp, unknown = expected(w, "uk", start, end)
        assert not unknown
        check_documents(w, "uk", exp)
