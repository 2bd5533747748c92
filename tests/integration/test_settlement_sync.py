"""The settlement sync through both sandboxes over real HTTP.

Each test starts its own pair of sandboxes (business time frozen at the current hour, so the 89-day
discovery window holds whenever the suite runs) and its own sync-state database, then drives the
``amazon_<code>_settlement`` tasks the way Airflow does: task by task, XCom handed along, a deferral
resolved like the triggerer would (one real getReports poll, then the trigger's timeout event).

Expectations come from the SP-API sandbox's own settlement lines and a small GL table written out here
(never from the product's classifier), and are checked against the NetSuite sandbox's stored
``journalEntry`` records.

Orders must exist in NetSuite for matching: the US test writes them with the order sync's own operators
(``amazon_us_orders``); the UK test upserts minimal cash sales (one line at the order's gross) because
the NetSuite sandbox leaves line tax (``tax1Amt``) out of a document's ``total``, so UK orders written
by the order sync carry a total without VAT there (real NetSuite includes it).
"""

from __future__ import annotations

import json
import os
import re
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import requests
from airflow.sdk.exceptions import AirflowFailException, TaskDeferred

from airflow_provider_amznetsuite.config import load_config
from airflow_provider_amznetsuite.dag_factory.settlement import build
from airflow_provider_amznetsuite.hooks.netsuite import NetSuiteHook
from airflow_provider_amznetsuite.hooks.spapi import SpApiHook
from airflow_provider_amznetsuite.sandbox import catalog
from airflow_provider_amznetsuite.sandbox.runner import Sandboxes, start_sandboxes
from airflow_provider_amznetsuite.state import SyncStateStore

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "dags" / "marketplaces.yaml"
TIME_SCALE = 500.0
D = Decimal


# ================================================================================================
# harness
# ================================================================================================
class FakeTI:
    def __init__(self, xcoms: dict[str, Any]) -> None:
        self.xcoms = xcoms

    def xcom_pull(self, task_ids: str | None = None, **_: Any) -> Any:
        return self.xcoms.get(task_ids)


class World:
    def __init__(self, sbx: Sandboxes, state_url: str, reports: Path) -> None:
        self.sbx = sbx
        self.state = SyncStateStore(state_url)
        self.reports = reports
        self.app = load_config(CONFIG)

    # -- sandbox views -------------------------------------------------------------------------
    def settlement(self, code: str) -> Any:
        [s] = [s for s in self.sbx.spapi.state.settlements.values() if s.marketplace == code]
        return s

    def records(self, record_type: str, external_id: str | None = None) -> list[dict[str, Any]]:
        params = {"externalId": external_id} if external_id else {}
        resp = requests.get(f"{self.sbx.netsuite_url}/_sandbox/records/{record_type}", params=params, timeout=30)
        resp.raise_for_status()
        return json.loads(resp.content, parse_float=Decimal)["items"]

    # -- runs ----------------------------------------------------------------------------------
    def ctx(self, dag: Any, run_id: str, x: dict[str, Any], **params: Any) -> dict[str, Any]:
        p = {k: dag.params[k] for k in dag.params}
        p.update(params)
        return {"params": p, "dag_run": SimpleNamespace(run_id=run_id, run_after=None), "ti": FakeTI(x), "run_id": run_id}

    def run_settlement(self, code: str, run_id: str, **params: Any) -> dict[str, Any]:
        dag = build(self.app.marketplaces[code], self.app)
        x: dict[str, Any] = {}
        ctx = self.ctx(dag, run_id, x, **params)
        wait = dag.get_task("wait_for_settlements")
        try:
            x["wait_for_settlements"] = wait.execute(ctx)
        except TaskDeferred as deferred:  # the triggerer: poll once for real, then the trigger's timeout
            trigger = deferred.trigger
            found = trigger.find(SpApiHook(trigger.conn_id))
            event = ({"status": "success", "reports": found} if found else
                     {"status": "timeout", "reports": [], "message": "no report"})
            x["deferred"] = True
            x["wait_for_settlements"] = getattr(wait, deferred.method_name)(ctx, event=event)
        for tid in ("download_and_reconcile", "post_journal", "settlement_report"):
            try:
                x[tid] = dag.get_task(tid).execute(ctx)
            except AirflowFailException as exc:
                x[f"{tid}:failed"] = str(exc)
        return x

    def sync_orders(self, code: str) -> None:
        """Write the marketplace's orders into NetSuite with the order sync's own operators."""
        from airflow_provider_amznetsuite.dag_factory.orders import build as build_orders

        dag = build_orders(self.app.marketplaces[code], self.app)
        now = self.sbx.spapi.now()
        x: dict[str, Any] = {}
        iso = "%Y-%m-%dT%H:%M:%SZ"
        ctx = self.ctx(dag, f"orders-{code}", x, allow_quarantine=True,
                       window_start=(now - timedelta(days=16)).strftime(iso),
                       window_end=(now - timedelta(minutes=2)).strftime(iso))
        for tid in ("extract_orders", "decide_tax_and_lifecycle"):
            x[tid] = dag.get_task(tid).execute(ctx)
        branches = dag.get_task("branch_fulfilment").choose_branch(ctx)
        for ch in ("fba", "mfn"):
            if f"map_{ch}" in branches:
                x[f"map_{ch}"] = dag.get_task(f"map_{ch}").execute(ctx)
                x[f"write_{ch}"] = dag.get_task(f"write_{ch}").execute(ctx)


@contextmanager
def world(tmp_path: Path, **options: Any) -> Iterator[World]:
    now = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    sbx = start_sandboxes(seed=options.pop("seed", 42), time_scale=TIME_SCALE, now=now, days=2, orders_per_day=20,
                          **options)
    db = tmp_path / f"state-{sbx.spapi.port}.db"
    reports = tmp_path / "reports"
    env = {**sbx.connection_env(), "AMZNETSUITE_CONFIG": str(CONFIG), "AMZNETSUITE_REPORTS": str(reports),
           "AIRFLOW_CONN_AMZNETSUITE_STATE": json.dumps({"conn_type": "generic", "extra": {"url": f"sqlite:///{db}"}})}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield World(sbx, f"sqlite:///{db}", reports)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        sbx.stop()


# ================================================================================================
# independent expectations from the sandbox's settlement lines
# ================================================================================================
def expected_account(ln: Any, mf_orders: set[str]) -> str:
    """The sandbox chart's account for each value the sandbox writes (marketplaces.yaml role accounts)."""
    t, a, d = ln.transaction_type, ln.amount_type, ln.amount_description
    if a == "ItemWithheldTax":
        return "211"
    if a == "ItemPrice" and d in ("Tax", "ShippingTax", "GiftWrapTax"):
        return "211" if ln.order_id in mf_orders else "210"
    if a == "ItemPrice":
        if t == "Order":
            return {"Principal": "400", "Shipping": "401", "GiftWrap": "402"}[d]
        return {"Refund": "404", "A-to-z Guarantee Refund": "405", "Chargeback Refund": "406"}[t]
    if a == "Promotion":
        return "403"
    if a == "ItemFees":
        return "500" if d in ("Commission", "RefundCommission") else "501"
    if a == "FBA Inventory Reimbursement":
        return "411" if d == "REVERSAL_REIMBURSEMENT" else "410"
    if a == "Cost of Advertising":
        return "503"
    return {"Previous Reserve Amount Balance": "120", "Current Reserve Amount": "120", "Storage Fee": "502",
            "Subscription Fee": "504"}[d]


def expected_nets(settlement: Any) -> dict[str, Decimal]:
    mf = {ln.order_id for ln in settlement.lines if ln.amount_type == "ItemWithheldTax"}
    nets: dict[str, Decimal] = defaultdict(Decimal)
    for ln in settlement.lines:
        nets[expected_account(ln, mf)] += ln.amount
    return {a: v for a, v in nets.items() if v != 0}


def gross_by_key(settlement: Any) -> dict[str, Decimal]:
    """What each NetSuite document must total: Σ ItemPrice + Promotion rows of its order / refund."""
    out: dict[str, Decimal] = defaultdict(Decimal)
    for ln in settlement.lines:
        if ln.amount_type not in ("ItemPrice", "Promotion"):
            continue
        if ln.transaction_type == "Order":
            out[f"AMZ-{ln.order_id}"] += ln.amount
        elif ln.transaction_type == "Refund":
            out[f"AMZ-RFD-{ln.order_id}-{re.sub(r'[^A-Za-z0-9_-]', '_', ln.adjustment_id)}"] += ln.amount
    return dict(out)


def seed_document(hook: NetSuiteHook, code: str, external_id: str, gross: Decimal) -> None:
    """A minimal cash sale (order) or cash refund (refund) totalling ``|gross|`` in the marketplace currency."""
    mp = catalog.MARKETPLACES[code]
    amount = abs(gross)
    body = {"externalId": external_id, "entity": {"id": mp.customer_id}, "subsidiary": {"id": mp.subsidiary_id},
            "currency": {"id": catalog.CURRENCY_IDS[mp.currency]}, "location": {"id": mp.fba_location_id},
            "item": {"items": [{"item": {"id": "900"}, "quantity": 1, "rate": amount, "amount": amount}]}}
    hook.upsert_record("cashRefund" if external_id.startswith("AMZ-RFD-") else "cashSale", external_id, body,
                       replace=["item"])


def check_journal(w: World, code: str) -> dict[str, Any]:
    """The one journal entry of the marketplace's settlement, checked line by line against the sandbox."""
    s = w.settlement(code)
    [je] = w.records("journalEntry", f"AMZ-STL-{s.settlement_id}")
    lines = je["line"]["items"]
    debit = sum((D(str(ln.get("debit", 0))) for ln in lines), D(0))
    credit = sum((D(str(ln.get("credit", 0))) for ln in lines), D(0))
    assert debit == credit, f"journal not balanced: {debit} != {credit}"
    accounts = [ln["account"]["id"] for ln in lines]
    assert len(accounts) == len(set(accounts)), "one line per GL account"
    net = {ln["account"]["id"]: D(str(ln.get("credit", 0))) - D(str(ln.get("debit", 0))) for ln in lines}
    deposit = net.pop("111")
    assert -deposit == s.total, f"deposit line {-deposit} != settlement total {s.total}"
    assert net == expected_nets(s)
    mp = catalog.MARKETPLACES[code]
    assert (je["subsidiary"]["id"], je["currency"]["id"]) == (mp.subsidiary_id, catalog.CURRENCY_IDS[mp.currency])
    assert je["tranDate"] == (s.end + timedelta(days=3)).date().isoformat()  # the deposit date
    return je


# ================================================================================================
# tests
# ================================================================================================
def test_us_settlement_with_orders_from_the_order_sync_posts_once_and_reruns_change_nothing(tmp_path):
    with world(tmp_path) as w:
        w.sync_orders("us")
        s = w.settlement("us")
        hook = NetSuiteHook()
        for key, gross in gross_by_key(s).items():
            if key.startswith("AMZ-RFD-"):
                seed_document(hook, "us", key, gross)  # the order sync writes no refunds
        x = w.run_settlement("us", "r1")
        assert "settlement_report:failed" not in x, x.get("settlement_report:failed")
        summary = x["settlement_report"]
        rows = len(s.lines)
        assert (summary["settlements"], summary["rows"], summary["unmapped"], summary["quarantined"]) == (1, rows, 0, 0)
        assert (summary["matched"], summary["unmatched"], summary["unmatched_lines"]) == (rows, 0, [])
        assert summary["balanced"] is True and summary["journals_posted"] == 1
        assert any(ln.amount_type == "ItemWithheldTax" for ln in s.lines)  # facilitator tax is in this settlement
        je = check_journal(w, "us")
        assert "211" not in {ln["account"]["id"] for ln in je["line"]["items"]}  # facilitator tax nets to zero
        html = Path(summary["reports"][0])
        assert html.exists() and f"Amazon settlement {s.settlement_id}" in html.read_text(encoding="utf-8")
        assert w.state.processed_keys("settlement", "us")[s.settlement_id]["journal_ids"] == {
            f"AMZ-STL-{s.settlement_id}": je["id"]}

        again = w.run_settlement("us", "r2")  # scheduled rerun: nothing new, nothing written
        assert again["wait_for_settlements"]["message"] == "no new settlement" and again["deferred"]
        assert again["settlement_report"]["message"] == "no new settlement"
        assert "settlement_report:failed" not in again
        [same] = w.records("journalEntry")
        assert same == je

        redo = w.run_settlement("us", "r3", settlement_id=s.settlement_id)  # reprocess: the same upsert
        assert redo["settlement_report"]["journals_posted"] == 1
        [after] = w.records("journalEntry")

        def content(rec: dict[str, Any]) -> list[dict[str, Any]]:  # replaced lines get new line numbers
            return [{k: v for k, v in ln.items() if k != "line"} for ln in rec["line"]["items"]]

        assert after["id"] == je["id"] and content(after) == content(je)  # replaced, not appended


def test_uk_order_missing_in_netsuite_is_unmatched_until_it_exists(tmp_path):
    with world(tmp_path) as w:
        s = w.settlement("uk")
        hook = NetSuiteHook()
        grosses = gross_by_key(s)
        missing = sorted(k for k in grosses if not k.startswith("AMZ-RFD-"))[0]
        for key, gross in grosses.items():
            if key != missing:
                seed_document(hook, "uk", key, gross)
        x = w.run_settlement("uk", "r1")
        summary = x["settlement_report"]
        assert "settlement_report:failed" not in x, x.get("settlement_report:failed")
        oid = missing[len("AMZ-"):]
        missing_lines = [i + 3 for i, ln in enumerate(s.lines) if ln.order_id == oid and ln.transaction_type == "Order"]
        assert sorted(ln["line"] for ln in summary["unmatched_lines"]) == missing_lines
        assert {ln["reason"] for ln in summary["unmatched_lines"]} == {
            f"order {missing} not in NetSuite (sync the order, then rerun)"}
        assert summary["unmatched"] == len(missing_lines) and summary["matched"] == len(s.lines) - len(missing_lines)
        assert summary["balanced"] is True and summary["journals_posted"] == 1
        je = check_journal(w, "uk")  # decimal commas read exactly: the deposit equals the sandbox's total
        csv = Path(summary["reports"][1]).read_text(encoding="utf-8-sig").splitlines()
        assert len(csv) == 1 + len(missing_lines) and all(oid in line for line in csv[1:])

        seed_document(hook, "uk", missing, grosses[missing])  # the order reaches NetSuite
        later = w.run_settlement("uk", "r2")
        assert "settlement_report:failed" not in later
        rep = later["settlement_report"]
        assert (rep["settlements"], rep["rechecked"], rep["recheck_matched"]) == (0, 1, len(missing_lines))
        assert rep["unmatched_lines"] == []
        assert Path(rep["reports"][1]).read_text(encoding="utf-8-sig").splitlines() == csv[:1]  # no exception left
        assert w.records("journalEntry") == [je]  # re-checked, not re-posted
        assert w.state.processed_keys("settlement", "uk")[s.settlement_id]["unmatched"] == 0


@pytest.mark.db
def test_dag_test_of_amazon_us_settlement_succeeds(tmp_path):
    from airflow.dag_processing.dagbag import DagBag

    with world(tmp_path) as w:
        dag = DagBag(dag_folder=str(ROOT / "dags" / "amazon_netsuite.py")).get_dag(
            "amazon_us_settlement")
        dr = dag.test()
        states = {ti.task_id: ti.state for ti in dr.get_task_instances()}
        assert dr.state == "success", states
        assert set(states.values()) == {"success"}
        s = w.settlement("us")
        [je] = w.records("journalEntry", f"AMZ-STL-{s.settlement_id}")
        assert w.state.processed_keys("settlement", "us")[s.settlement_id]["journal_ids"] == {je["externalId"]: je["id"]}
        summary = w.state.run_summaries("amazon_us_settlement", dr.run_id)["settlement_report"]
        assert summary["settlements"] == 1 and summary["balanced"] is True and summary["journals_posted"] == 1
        assert all(Path(p).exists() for p in summary["reports"])
