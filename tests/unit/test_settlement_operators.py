"""Settlement sync operators with fake SP-API / NetSuite hooks: discovery window, exactly-once posting,
adoption of journals already in NetSuite, quarantine of unbalanced and unreadable settlements, dry run,
re-checks of unmatched lines, reprocessing, month split, the DAG's shape."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from airflow.sdk.exceptions import AirflowException, AirflowFailException, TaskDeferred

from airflow_provider_amznetsuite.config import load_config
from airflow_provider_amznetsuite.dag_factory.settlement import build
from airflow_provider_amznetsuite.operators.settlement import (
    NO_NEW,
    NetSuiteLookup,
    SettlementPostOperator,
    SettlementReconcileOperator,
    SettlementReportOperator,
    SettlementWaitSensor,
    created_since,
    reports_dir,
    settlement_cursor,
)
from airflow_provider_amznetsuite.state import SyncStateStore
from tests.fixtures.settlement.gen import SUMMARY, render, row

ROOT = Path(__file__).resolve().parents[2]
FIX = ROOT / "tests" / "fixtures" / "settlement"
CONFIG = ROOT / "dags" / "marketplaces.yaml"
D = Decimal
US_SID = "22222222222"
UK_SID = "11111111111"


# ================================================================================================
# fakes
# ================================================================================================
class FakeSpApi:
    def __init__(self, documents: dict[str, bytes], listed: list[dict[str, Any]] | None = None) -> None:
        self.documents = documents
        self.listed = listed or []
        self.downloads: list[str] = []

    def download_report(self, doc_id: str) -> bytes:
        self.downloads.append(doc_id)
        return self.documents[doc_id]

    def list_reports(self, types, created_since=None, processing_statuses=None, marketplace_ids=None, **_: Any):
        return iter(self.listed)


class FakeNetSuite:
    """Transactions by external id / tranid; records SuiteQL and upserts."""

    CURRENCIES = {"1": "USD", "2": "GBP", "4": "EUR"}

    def __init__(self) -> None:
        self.docs: list[dict[str, Any]] = []  # {id, tranid, externalid, type, foreigntotal, currency(id)}
        self.journals: dict[str, dict[str, Any]] = {}  # externalId -> body
        self.upserts: list[tuple[str, str, Any]] = []
        self.queries: list[tuple[str, dict[str, Any]]] = []
        self._next = 9000

    def add(self, externalid: str | None, type_: str, total: str, currency: str = "1", tranid: str | None = None) -> None:
        self._next += 1
        self.docs.append({"id": str(self._next), "tranid": tranid or f"DOC{self._next}", "externalid": externalid,
                          "type": type_, "foreigntotal": total, "currency": currency})

    def suiteql(self, query: str, params: dict[str, Any] | None = None, page_size: int = 1000):
        params = dict(params or {})
        self.queries.append((query, params))
        if "FROM currency" in query and "transaction" not in query:
            return iter([{"id": k, "symbol": v} for k, v in self.CURRENCIES.items()])
        values = set(params["values"])
        field = "tranid" if "t.tranid IN" in query else "externalid"
        types = set(params.get("types") or [])
        rows = []
        for d in sorted(self.docs, key=lambda d: int(d["id"])):
            if d[field] in values and (not types or d["type"] in types):
                rows.append({"id": d["id"], "tranid": d["tranid"], "externalid": d["externalid"], "type": d["type"],
                             "foreigntotal": d["foreigntotal"], "currencysymbol": self.CURRENCIES[d["currency"]]})
        return iter(rows)

    def lookup_external_ids(self, table: str, ids, *, where=None, params=None) -> dict[str, str]:
        assert (table, where, params) == ("transaction", "type = :t", {"t": "Journal"})
        return {eid: self.journals[eid]["_id"] for eid in ids if eid in self.journals}

    def upsert_record(self, record_type: str, external_id: str, body, replace=None) -> str:
        self.upserts.append((record_type, external_id, replace))
        assert record_type == "journalEntry" and replace == ["line"] and body["externalId"] == external_id
        current = self.journals.get(external_id)
        rid = current["_id"] if current else str(5000 + len(self.journals))
        self.journals[external_id] = {**json.loads(json.dumps(body, default=str)), "_id": rid}
        return rid


class FakeTI:
    def __init__(self, xcoms: dict[str, Any]) -> None:
        self.xcoms = xcoms

    def xcom_pull(self, task_ids: str | None = None, **_: Any) -> Any:
        return self.xcoms.get(task_ids)


def _report(rid: str, doc: str, created: str = "2026-10-15T11:30:00Z") -> dict[str, Any]:
    return {"report_id": rid, "report_document_id": doc, "report_type": "GET_V2_SETTLEMENT_REPORT_DATA_FLAT_FILE_V2",
            "created_time": created, "marketplace_ids": ["ATVPDKIKX0DER"]}


class Harness:
    """Runs the settlement DAG's tasks in order with the fakes (like an Airflow run)."""

    def __init__(self, tmp_path: Path, *, config: Path = CONFIG, code: str = "us") -> None:
        self.tmp = tmp_path
        self.state = SyncStateStore(f"sqlite:///{tmp_path / 'state.db'}")
        self.config = config
        self.code = code
        self.app = load_config(config)
        self.spapi = FakeSpApi({})
        self.ns = FakeNetSuite()

    def _wire(self, op: Any) -> Any:
        op.__dict__["state"] = self.state
        op.__dict__["app_config"] = self.app
        op.spapi = lambda: self.spapi
        op.netsuite = lambda: self.ns
        return op

    def run(self, reports: list[dict[str, Any]] | None, run_id: str = "r1", **params: Any) -> dict[str, Any]:
        dag = build(self.app.marketplaces[self.code], self.app)
        p = {k: dag.params[k] for k in dag.params}
        p.update(params)
        x: dict[str, Any] = {"wait_for_settlements": {"reports": reports or [], "counts": {"reports": len(reports or [])},
                                                      **({} if reports else {"message": NO_NEW})}}
        ctx = {"params": p, "dag_run": SimpleNamespace(run_id=run_id, run_after=None), "ti": FakeTI(x), "run_id": run_id}
        for tid in ("download_and_reconcile", "post_journal", "settlement_report"):
            task = self._wire(dag.get_task(tid))
            try:
                x[tid] = task.execute(ctx)
            except AirflowFailException as exc:
                x[f"{tid}:failed"] = str(exc)
                x[tid] = self.state.run_summaries(dag.dag_id, run_id).get(tid)
        x["batch"] = self.state.get_batch(x["download_and_reconcile"]["ref"])
        return x


@pytest.fixture
def h(tmp_path, monkeypatch):
    monkeypatch.setenv("AMZNETSUITE_REPORTS", str(tmp_path / "reports"))
    return Harness(tmp_path)


def _seed_us(ns: FakeNetSuite) -> None:
    ns.add("AMZ-113-2222222-0000001", "CashSale", "59.9")
    ns.add("AMZ-113-2222222-0000002", "SalesOrd", "108.25")
    ns.add("AMZ-RFD-113-2222222-0000001-ADJ-US-1", "CashRfnd", "53.49")


# ================================================================================================
# NetSuite lookups
# ================================================================================================
def test_lookup_queries_with_parameters_and_prefers_order_documents():
    ns = FakeNetSuite()
    ns.add("AMZ-1", "Journal", "5")
    ns.add("AMZ-1", "CashSale", "10.5", currency="2")
    ns.add(None, "SalesOrd", "7", tranid="SO-7")
    ns.add(None, "CustInvc", "7", tranid="SO-7")
    lookup = NetSuiteLookup(ns)
    assert lookup("externalid", ["AMZ-1", "AMZ-404"]) == {
        "AMZ-1": {"id": "9002", "type": "CashSale", "currency": "GBP", "total": "10.5"}}
    assert lookup("tranid", ["SO-7"])["SO-7"]["type"] == "SalesOrd"  # lowest id of the order types
    q, params = ns.queries[-1]
    assert ":values" in q and ":types" in q and "t.voided = 'F'" in q and "'SO-7'" not in q
    assert params == {"values": ["SO-7"], "types": ["SalesOrd", "CashSale", "CustInvc"]}
    assert lookup.calls == 2
    with pytest.raises(ValueError, match="at most 1000"):
        lookup("externalid", [f"AMZ-{i}" for i in range(1001)])


# ================================================================================================
# discovery window and the sensor
# ================================================================================================
def test_cursor_and_created_since(tmp_path):
    st = SyncStateStore(f"sqlite:///{tmp_path / 's.db'}")
    assert settlement_cursor(st, "us") == (None, set())
    st.mark_processed("settlement", "us", "1", {"report_id": "R1", "created_time": "2026-10-01T10:00:00Z"})
    st.mark_processed("settlement_flagged", "us", "R2", {"report_id": "R2", "created_time": "2026-10-03T08:00:00Z"})
    st.mark_processed("settlement", "de", "3", {"report_id": "R3", "created_time": "2026-10-09T08:00:00Z"})
    cursor, known = settlement_cursor(st, "us")
    assert cursor == datetime(2026, 10, 3, 8, tzinfo=timezone.utc) and known == {"R1", "R2"}
    now = datetime(2026, 10, 20, tzinfo=timezone.utc)
    assert created_since(cursor, now) == datetime(2026, 10, 3, 8, 0, 1, tzinfo=timezone.utc)
    assert created_since(None, now) == now - timedelta(days=89)
    assert created_since(datetime(2026, 1, 1, tzinfo=timezone.utc), now) == now - timedelta(days=89)


def _sensor(tmp_path, monkeypatch, found: list[dict[str, Any]], wait: timedelta) -> SettlementWaitSensor:
    monkeypatch.setenv("AIRFLOW_CONN_AMZNETSUITE_STATE",
                       json.dumps({"conn_type": "generic", "extra": {"url": f"sqlite:///{tmp_path / 'state.db'}"}}))
    s = SettlementWaitSensor(task_id="wait_for_settlements", marketplace="us", config_path=str(CONFIG),
                             marketplace_id="ATVPDKIKX0DER", wait_timeout=wait, poke_interval=300)
    s._find = lambda: list(found)  # type: ignore[method-assign]
    return s


def test_sensor_returns_only_unknown_reports_and_its_window(tmp_path, monkeypatch):
    s = _sensor(tmp_path, monkeypatch, [_report("R1", "D1"), _report("R2", "D2", "2026-10-16T11:30:00Z")], timedelta(0))
    st = SyncStateStore(f"sqlite:///{tmp_path / 'state.db'}")
    st.mark_processed("settlement", "us", "1", {"report_id": "R1", "created_time": "2026-10-15T11:30:00Z"})
    out = s.execute({"params": {}})
    assert [r["report_id"] for r in out["reports"]] == ["R2"] and out["counts"] == {"reports": 1}
    assert out["created_since"] == s.created_since
    expected = max(datetime(2026, 10, 15, 11, 30, 1, tzinfo=timezone.utc), datetime.now(timezone.utc) - timedelta(days=89))
    assert abs(datetime.fromisoformat(out["created_since"].replace("Z", "+00:00")) - expected) < timedelta(seconds=5)


def test_sensor_with_nothing_new_ends_green_or_defers_with_a_bounded_wait(tmp_path, monkeypatch):
    quiet = _sensor(tmp_path, monkeypatch, [], timedelta(0))
    assert quiet.execute({"params": {}})["message"] == NO_NEW
    waiting = _sensor(tmp_path, monkeypatch, [], timedelta(minutes=30))
    last = (datetime.now(timezone.utc) - timedelta(days=3)).replace(microsecond=0)
    SyncStateStore(f"sqlite:///{tmp_path / 'state.db'}").mark_processed(
        "settlement", "us", "5", {"report_id": "R5", "created_time": last.isoformat()})
    with pytest.raises(TaskDeferred) as deferred:
        waiting.execute({"params": {}})
    trigger = deferred.value.trigger
    assert (trigger.timeout, trigger.poll_interval, trigger.created_since) == (1800.0, 300.0, waiting.created_since)
    assert deferred.value.timeout == timedelta(minutes=40)
    window = waiting.created_since
    assert window == (last + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    waiting.created_since = None  # a resumed task is a new instance: the window comes from the state again
    assert waiting.execute_complete({}, {"status": "timeout", "reports": []}) == {
        "reports": [], "counts": {"reports": 0}, "created_since": window, "message": NO_NEW}
    got = waiting.execute_complete({}, {"status": "success", "reports": [_report("R9", "D9")]})
    assert [r["report_id"] for r in got["reports"]] == ["R9"]
    with pytest.raises(AirflowException, match="error: throttled"):
        waiting.execute_complete({}, {"status": "error", "message": "throttled"})
    reprocess = _sensor(tmp_path, monkeypatch, [_report("R9", "D9")], timedelta(minutes=30))
    assert reprocess.execute({"params": {"settlement_id": "123"}})["reports"] == []  # no wait when reprocessing


# ================================================================================================
# the pipeline
# ================================================================================================
def test_new_settlement_is_reconciled_posted_once_and_reported(h):
    h.spapi.documents["D1"] = (FIX / "us_facilitator_tax.tsv").read_bytes()
    _seed_us(h.ns)
    x = h.run([_report("R1", "D1")])
    [entry] = x["batch"]["settlements"]
    assert (entry["settlement_id"], entry["status"], entry["mode"]) == (US_SID, "postable", "new")
    assert entry["result"]["buckets"] == {"mapped": 26, "unmapped": 0, "quarantined": 0, "matched": 26, "unmatched": 0}
    # one journal upsert, replacing lines, balanced, deposit (negative settlement) credited to the bank
    assert h.ns.upserts == [("journalEntry", f"AMZ-STL-{US_SID}", ["line"])]
    body = h.ns.journals[f"AMZ-STL-{US_SID}"]
    lines = body["line"]["items"]
    assert sum(D(str(ln.get("debit", 0))) for ln in lines) == sum(D(str(ln.get("credit", 0))) for ln in lines)
    bank = [ln for ln in lines if ln["account"]["id"] == "111"]
    assert len(bank) == 1 and D(str(bank[0]["credit"])) == D("179.10")
    assert len({ln["account"]["id"] for ln in lines}) == len(lines)  # one line per GL account
    assert (body["subsidiary"], body["currency"], body["tranDate"]) == ({"id": "4"}, {"id": "1"}, "2025-07-06")
    # processed exactly once, with what finance needs
    info = h.state.processed_keys("settlement", "us")[US_SID]
    assert info["journal_ids"] == {f"AMZ-STL-{US_SID}": "5000"} and info["report_id"] == "R1"
    assert info["unmatched"] == 0 and info["rows"] == 26 and Path(info["source"]).exists()
    summary = x["settlement_report"]
    assert (summary["settlements"], summary["rows"], summary["matched"], summary["unmatched"]) == (1, 26, 26, 0)
    assert (summary["journals_posted"], summary["balanced"], summary["quarantined"]) == (1, True, 0)
    assert summary["amounts"]["matched"] == {"USD": "-179.10"}
    html, csv = summary["reports"]
    assert html.endswith(f"settlement/us/settlement_{US_SID}.html") and Path(html).exists() and Path(csv).exists()
    # the same report listed again changes nothing
    again = h.run([_report("R1", "D1")], run_id="r2")
    assert again["batch"]["settlements"][0]["status"] == "already_processed"
    assert len(h.ns.upserts) == 1 and again["settlement_report"]["message"] == NO_NEW
    queries = len(h.ns.queries)
    quiet = h.run(None, run_id="r3")
    assert quiet["settlement_report"]["message"] == NO_NEW and quiet["settlement_report"]["settlements"] == 0
    assert len(h.ns.queries) == queries  # a quiet run makes no NetSuite request


def test_missing_order_is_unmatched_posted_and_rechecked_until_it_matches(h):
    h.spapi.documents["D1"] = (FIX / "us_facilitator_tax.tsv").read_bytes()
    _seed_us(h.ns)
    h.ns.docs = [d for d in h.ns.docs if d["externalid"] != "AMZ-113-2222222-0000002"]
    x = h.run([_report("R1", "D1")])
    summary = x["settlement_report"]
    assert (summary["matched"], summary["unmatched"], summary["journals_posted"]) == (23, 3, 1)
    assert {ln["line"] for ln in summary["unmatched_lines"]} == {11, 12, 13}
    assert {ln["reason"] for ln in summary["unmatched_lines"]} == {
        "order AMZ-113-2222222-0000002 not in NetSuite (sync the order, then rerun)"}
    assert h.state.processed_keys("settlement", "us")[US_SID]["unmatched"] == 3
    h.ns.add("AMZ-113-2222222-0000002", "SalesOrd", "108.25")  # the order sync catches up
    later = h.run(None, run_id="r2")
    [recheck] = later["batch"]["settlements"]
    assert (recheck["mode"], recheck["before"], recheck["after"]) == ("recheck", 3, 0)
    assert len(h.ns.upserts) == 1  # re-checked, not re-posted
    assert h.state.processed_keys("settlement", "us")[US_SID]["unmatched"] == 0
    assert later["settlement_report"]["recheck_matched"] == 3
    csv = Path(recheck["reports"][1]).read_text(encoding="utf-8-sig").splitlines()
    assert len(csv) == 1  # header only: no exception left
    assert h.run(None, run_id="r3")["batch"]["settlements"] == []  # nothing left to re-check


def test_journal_already_in_netsuite_is_adopted_not_posted_again(h):
    h.spapi.documents["D1"] = (FIX / "us_facilitator_tax.tsv").read_bytes()
    _seed_us(h.ns)
    h.ns.journals[f"AMZ-STL-{US_SID}"] = {"_id": "777"}  # posted by an earlier run whose state was lost
    x = h.run([_report("R1", "D1")])
    assert x["batch"]["settlements"][0]["status"] == "adopted" and h.ns.upserts == []
    info = h.state.processed_keys("settlement", "us")[US_SID]
    assert info["journal_ids"] == {f"AMZ-STL-{US_SID}": "777"} and info["adopted"] is True
    assert x["settlement_report"]["adopted"] == [US_SID] and x["settlement_report"]["journals_posted"] == 0


def _unbalanced() -> bytes:
    rows = [row("Order", "ItemPrice", "Principal", D("10.00"), order_id="1"),
            row("Order", "ItemPrice", "Principal", "1O.00", order_id="2")]
    return render(dict(SUMMARY, **{"total-amount": D("20.00")}), rows)


def test_unbalanced_settlement_is_flagged_quarantined_and_never_posted(h):
    h.code = "uk"
    h.spapi.documents["D1"] = _unbalanced()
    x = h.run([_report("R1", "D1")])
    entry = x["batch"]["settlements"][0]
    assert entry["status"] == "unbalanced" and h.ns.upserts == []
    assert "1 record(s) quarantined" not in x["settlement_report:failed"]
    assert "2 record(s) quarantined for uk settlement" in x["settlement_report:failed"]  # the line + the settlement
    summary = x["settlement_report"]
    assert (summary["balanced"], summary["unbalanced"], summary["quarantined_lines"]) == (False, [SUMMARY["settlement-id"]], 1)
    q = {r.key: r for r in h.state.open_quarantine("settlement", "uk")}
    sid = SUMMARY["settlement-id"]
    assert set(q) == {sid, f"{sid}/line-4"}
    assert q[sid].reason.startswith(f"settlement {sid} does not balance: rows add up to 10.00 but total-amount is 20.00")
    assert json.loads(q[sid].detail)["report_id"] == "R1"
    assert "amount '1O.00' is not a number" in q[f"{sid}/line-4"].reason
    assert not h.state.processed_keys("settlement", "uk")
    assert settlement_cursor(h.state, "uk") == (datetime(2026, 10, 15, 11, 30, tzinfo=timezone.utc), {"R1"})
    h.state.resolve("settlement", "uk", [sid])  # dismissing the flag does not bring the report back
    assert settlement_cursor(h.state, "uk")[1] == {"R1"}
    allowed = h.run([_report("R1", "D1")], run_id="r2", allow_quarantine=True)
    assert "settlement_report:failed" not in allowed and allowed["settlement_report"]["quarantined"] == 2
    redo = h.run(None, run_id="r3", settlement_id=sid, allow_quarantine=True)  # found through its flag
    assert [(e["mode"], e["status"]) for e in redo["batch"]["settlements"]] == [("reprocess", "unbalanced")]
    assert h.spapi.downloads == ["D1", "D1"] and h.ns.upserts == []  # the kept copy was re-read


def test_unreadable_report_is_quarantined_by_report_id(h):
    h.spapi.documents["D1"] = b"this is not a settlement\n"
    x = h.run([_report("R1", "D1")])
    assert x["batch"]["settlements"][0]["status"] == "unreadable"
    [q] = h.state.open_quarantine("settlement", "us")
    assert q.key == "report-R1" and "is not a readable V2 settlement: line 1 (header) lacks required column(s)" in q.reason
    assert "settlement_report:failed" in x and x["settlement_report"]["unreadable"] == ["R1"]
    assert settlement_cursor(h.state, "us")[1] == {"R1"}  # not downloaded again next run


def test_dry_run_reconciles_and_reports_but_writes_nothing(h):
    h.spapi.documents["D1"] = (FIX / "us_facilitator_tax.tsv").read_bytes()
    x = h.run([_report("R1", "D1")], dry_run=True)
    assert x["batch"]["settlements"][0]["status"] == "postable" and h.ns.upserts == []
    assert not h.state.processed_keys("settlement", "us") and not h.state.open_quarantine("settlement", "us")
    assert settlement_cursor(h.state, "us") == (None, set())
    assert x["settlement_report"]["dry_run"] is True and Path(x["settlement_report"]["reports"][0]).exists()


def test_reprocess_by_settlement_id_re_upserts_and_clears_its_quarantine(h):
    h.spapi.documents["D1"] = (FIX / "us_facilitator_tax.tsv").read_bytes()
    _seed_us(h.ns)
    h.run([_report("R1", "D1")])
    h.state.quarantine("settlement", "us", f"{US_SID}/line-9", "stale")
    first = dict(h.ns.journals[f"AMZ-STL-{US_SID}"])
    x = h.run(None, run_id="r2", settlement_id=US_SID)
    assert x["batch"]["settlements"][0]["mode"] == "reprocess"
    assert [u[1] for u in h.ns.upserts] == [f"AMZ-STL-{US_SID}"] * 2
    assert h.ns.journals[f"AMZ-STL-{US_SID}"] == first  # same upsert body: nothing changes
    assert h.state.open_quarantine("settlement", "us") == []
    assert h.spapi.downloads == ["D1"]  # the local copy was used


def test_reprocess_of_an_unknown_settlement_fails_readably(h):
    with pytest.raises(AirflowFailException, match="settlement 999 was not found among the us settlement reports"):
        dag = build(h.app.marketplaces["us"], h.app)
        task = h._wire(dag.get_task("download_and_reconcile"))
        task.execute({"params": {"settlement_id": "999"}, "ti": FakeTI({}), "dag_run": SimpleNamespace(run_id="x")})


def test_split_by_period_posts_one_entry_per_month(tmp_path, monkeypatch):
    monkeypatch.setenv("AMZNETSUITE_REPORTS", str(tmp_path / "reports"))
    doc = yaml.safe_load(CONFIG.read_text())
    doc["defaults"]["settlement"]["split_by_period"] = True
    cfg = tmp_path / "mp.yaml"
    cfg.write_text(yaml.safe_dump(doc))
    h = Harness(tmp_path, config=cfg, code="uk")
    h.spapi.documents["D1"] = (FIX / "uk_decimal_comma.tsv").read_bytes()
    x = h.run([_report("R1", "D1")])
    eids = [u[1] for u in h.ns.upserts]
    assert eids == [f"AMZ-STL-{UK_SID}-202506", f"AMZ-STL-{UK_SID}-202507"]
    total = D(0)
    for eid in eids:
        lines = h.ns.journals[eid]["line"]["items"]
        debit = sum(D(str(ln.get("debit", 0))) for ln in lines)
        assert debit == sum(D(str(ln.get("credit", 0))) for ln in lines)  # each month balances
        total += sum(D(str(ln.get("debit", 0))) - D(str(ln.get("credit", 0))) for ln in lines if ln["account"]["id"] == "111")
    assert total == D("961.62")  # the month deposit lines add up to the settlement's deposit
    assert x["settlement_report"]["journals_posted"] == 2


def test_missing_role_account_blocks_posting_with_the_setting_to_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("AMZNETSUITE_REPORTS", str(tmp_path / "reports"))
    doc = yaml.safe_load(CONFIG.read_text())
    del doc["defaults"]["settlement"]["accounts"]["bank"]
    del doc["defaults"]["settlement"]["accounts"]["loan"]
    cfg = tmp_path / "mp.yaml"
    cfg.write_text(yaml.safe_dump(doc))
    h = Harness(tmp_path, config=cfg)
    h.spapi.documents["D1"] = (FIX / "us_facilitator_tax.tsv").read_bytes()
    x = h.run([_report("R1", "D1")])
    entry = x["batch"]["settlements"][0]
    assert entry["status"] == "not_postable" and h.ns.upserts == []
    assert [ln["reason"] for ln in entry["result"]["unmapped_lines"]] == [
        "GL role 'loan' has no account: set settlement.accounts.loan"]
    [q] = h.state.open_quarantine("settlement", "us")
    assert q.reason == (f"settlement {US_SID}: not posted: GL role 'bank' has no account: set settlement.accounts.bank "
                        f"(the deposit line needs it); then reprocess with Param settlement_id={US_SID}")
    assert "settlement_report:failed" in x


# ================================================================================================
# DAG shape and paths
# ================================================================================================
def test_dag_shape_params_and_pools():
    app = load_config(CONFIG)
    dag = build(app.marketplaces["us"], app)
    assert dag.dag_id == "amazon_us_settlement"
    order = ["wait_for_settlements", "download_and_reconcile", "post_journal", "settlement_report"]
    for up, down in zip(order, order[1:]):
        assert dag.get_task(down).upstream_task_ids == {up}
    wait = dag.get_task("wait_for_settlements")
    assert isinstance(wait, SettlementWaitSensor) and wait.deferrable and wait.marketplace_id == "ATVPDKIKX0DER"
    assert wait.pool == dag.get_task("download_and_reconcile").pool == "spapi_amazon_sp_api_default_na"
    assert set(dag.params) == {"dry_run", "allow_quarantine", "settlement_id", "wait_minutes"}
    assert dag.params["settlement_id"] is None
    assert isinstance(dag.get_task("post_journal"), SettlementPostOperator)
    assert isinstance(dag.get_task("settlement_report"), SettlementReportOperator)
    assert isinstance(dag.get_task("download_and_reconcile"), SettlementReconcileOperator)
    assert re.search(r"`bank` 111", dag.doc_md)


def test_reports_dir_precedence(tmp_path, monkeypatch):
    app = load_config(CONFIG)
    monkeypatch.setenv("AMZNETSUITE_REPORTS", str(tmp_path / "env"))
    assert reports_dir(app, "uk") == tmp_path / "env" / "settlement" / "uk"
    monkeypatch.delenv("AMZNETSUITE_REPORTS")
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "home"))
    assert reports_dir(app, "uk") == tmp_path / "home" / "amznetsuite" / "reports" / "settlement" / "uk"
    based = app.model_copy(update={"state": app.state.model_copy(update={"base_path": str(tmp_path / "base")})})
    assert reports_dir(based, "de") == tmp_path / "base" / "reports" / "settlement" / "de"


def test_wait_minutes_zero_ends_at_once_when_nothing_is_new(monkeypatch):
    from datetime import datetime, timezone

    from airflow_provider_amznetsuite.operators.settlement import NO_NEW, SettlementWaitSensor

    sensor = SettlementWaitSensor(task_id="wait", marketplace="us", marketplace_id="ATVPDKIKX0DER")
    monkeypatch.setattr(SettlementWaitSensor, "_known_and_since",
                        lambda self: (set(), datetime(2026, 11, 1, tzinfo=timezone.utc)))
    monkeypatch.setattr(SettlementWaitSensor, "_find", lambda self: [])
    out = sensor.execute({"params": {"wait_minutes": 0}})
    assert out["reports"] == [] and out["message"] == NO_NEW
