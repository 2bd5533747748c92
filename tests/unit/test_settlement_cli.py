"""``amznetsuite settlement reconcile``: exact --json output, exit codes, readable errors, dry run vs post."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from airflow_provider_amznetsuite import settlement_cli
from airflow_provider_amznetsuite.cli import main
from tests.fixtures.settlement.gen import SUMMARY, render, row
from tests.unit.test_settlement_operators import FakeNetSuite

ROOT = Path(__file__).resolve().parents[2]
FIX = ROOT / "tests" / "fixtures" / "settlement"
D = Decimal

UK_JSON = {
    "settlement_id": "11111111111", "currency": "GBP", "total_amount": "961.62", "lines_total": "961.62",
    "balanced": True, "rows": 20, "buckets": {"mapped": 20, "unmapped": 0, "quarantined": 0},
    "by_account": {"120": "-30.00", "211": "0.00", "400": "1349.56", "401": "4.99", "403": "-4.99", "404": "-95.00",
                   "410": "8.63", "500": "-191.03", "501": "-3.20", "502": "-12.34", "503": "-40.00", "504": "-25.00"},
    "unmapped": [], "quarantined": [],
}
US_JSON = {
    "settlement_id": "22222222222", "currency": "USD", "total_amount": "-179.10", "lines_total": "-179.10",
    "balanced": True, "rows": 26, "buckets": {"mapped": 26, "unmapped": 0, "quarantined": 0},
    "by_account": {"120": "-20.00", "210": "8.25", "211": "0.00", "220": "-100.00", "400": "149.99", "401": "5.99",
                   "404": "-49.99", "405": "-20.00", "406": "-15.00", "410": "16.00", "411": "-8.00", "500": "-16.50",
                   "501": "-4.75", "502": "-30.00", "503": "-55.10", "504": "-39.99"},
    "unmapped": [], "quarantined": [],
}


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["settlement", "reconcile", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("AMZNETSUITE_REPORTS", str(tmp_path / "reports"))
    monkeypatch.delenv("AIRFLOW_CONN_NETSUITE_DEFAULT", raising=False)
    monkeypatch.delenv("AMZNETSUITE_CONFIG", raising=False)


@pytest.mark.parametrize(("name", "code", "expected"), [("uk_decimal_comma.tsv", "uk", UK_JSON),
                                                        ("us_facilitator_tax.tsv", "us", US_JSON)])
def test_offline_json_is_exactly_one_object(capsys, tmp_path, name, code, expected):
    rc, out, err = _run(capsys, str(FIX / name), "--marketplace", code, "--offline", "--json")
    assert rc == 0
    assert out.count("\n") == 1 and json.loads(out) == expected
    assert list(json.loads(out)) == list(expected)  # key order is part of the contract
    assert (tmp_path / "reports" / "settlement" / code / f"settlement_{expected['settlement_id']}.html").exists()


def test_exceptions_and_exit_status_one(capsys, tmp_path):
    rows = [row("Order", "ItemPrice", "Principal", D("10.00"), order_id="1"),
            row("other-transaction", "other-transaction", "Mystery", D("-1.00")),
            row("Order", "ItemPrice", "Principal", "x", order_id="2")]
    bad = tmp_path / "bad.tsv"
    bad.write_bytes(render(dict(SUMMARY, **{"total-amount": D("9.00")}), rows))
    rc, out, _ = _run(capsys, str(bad), "--marketplace", "uk", "--offline", "--json")
    doc = json.loads(out)
    assert rc == 1  # balances, but a line is quarantined
    assert doc["buckets"] == {"mapped": 1, "unmapped": 1, "quarantined": 1}
    assert doc["unmapped"] == [{"line": 4, "reason": "no GL mapping for 'other-transaction/other-transaction/Mystery'; "
                                "add it to settlement.gl_map in the marketplace config (posted to suspense account 599 "
                                "meanwhile)", "transaction_type": "other-transaction", "amount_type": "other-transaction",
                                "amount_description": "Mystery", "amount": "-1.00", "account": "599"}]
    assert doc["quarantined"][0]["line"] == 5
    unbalanced = tmp_path / "unbalanced.tsv"
    unbalanced.write_bytes(render(dict(SUMMARY, **{"total-amount": D("9.99")}), rows[:1]))
    rc, out, _ = _run(capsys, str(unbalanced), "--marketplace", "uk", "--offline", "--json")
    assert rc == 1 and json.loads(out)["balanced"] is False


def test_human_output_lists_accounts_exceptions_and_reports(capsys, tmp_path):
    rc, out, _ = _run(capsys, str(FIX / "uk_decimal_comma.tsv"), "--marketplace", "uk", "--offline",
                      "--report-dir", str(tmp_path / "mine"))
    assert rc == 0
    assert "Settlement 11111111111 (GBP)" in out and "balanced" in out
    assert any(ln.split()[:2] == ["400", "Sales"] and ln.split()[-1] == "1349.56" for ln in out.splitlines())
    assert "Deposit: 961.62 GBP debit to account 111 (Amazon clearing (deposit))" in out
    assert "Exceptions: 0" in out
    assert f"Review report: {tmp_path / 'mine' / 'settlement_11111111111.html'}" in out


@pytest.mark.parametrize(("argv", "message"), [
    (["--marketplace", "fr", "--offline"], "unknown marketplace 'fr'; "),
    (["--marketplace", "us", "--dry-run"], "NetSuite connection 'netsuite_default' is not defined: set "
                                           "AIRFLOW_CONN_NETSUITE_DEFAULT (JSON or URI form), or run with --offline"),
])
def test_unknown_marketplace_and_missing_connection_exit_2_with_one_line(capsys, argv, message):
    rc, out, err = _run(capsys, str(FIX / "us_facilitator_tax.tsv"), *argv)
    assert rc == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("amznetsuite settlement reconcile: ") and message in err
    assert "Traceback" not in err


def test_bad_file_and_bad_config_exit_2(capsys, tmp_path):
    rc, out, err = _run(capsys, str(tmp_path / "missing.tsv"), "--marketplace", "us", "--offline")
    assert (rc, out) == (2, "") and err.strip().endswith("missing.tsv: no such file")
    junk = tmp_path / "junk.tsv"
    junk.write_text("hello\n")
    rc, _, err = _run(capsys, str(junk), "--marketplace", "us", "--offline", "--json")
    assert rc == 2 and "junk.tsv: line 1 (header) lacks required column(s)" in err and err.count("\n") == 1
    cfg = tmp_path / "mp.yaml"
    cfg.write_text("marketplaces: {us: {settlement: {accounts: {fees: 1}}}}\n")
    rc, _, err = _run(capsys, str(FIX / "us_facilitator_tax.tsv"), "--marketplace", "us", "--config", str(cfg), "--offline")
    assert rc == 2 and "marketplaces.us.settlement.accounts: unknown GL role 'fees'" in err and err.count("\n") == 1


def _fake_netsuite(monkeypatch) -> FakeNetSuite:
    ns = FakeNetSuite()
    ns.add("AMZ-113-2222222-0000001", "CashSale", "59.90")
    ns.add("AMZ-RFD-113-2222222-0000001-ADJ-US-1", "CashRfnd", "-53.49")
    monkeypatch.setattr(settlement_cli, "_netsuite", lambda mp: ns)
    return ns


def test_dry_run_matches_and_posts_nothing(capsys, monkeypatch):
    ns = _fake_netsuite(monkeypatch)
    rc, out, _ = _run(capsys, str(FIX / "us_facilitator_tax.tsv"), "--marketplace", "us", "--dry-run", "--json")
    doc = json.loads(out)
    assert rc == 0 and ns.upserts == []
    assert doc["buckets"] == {"mapped": 26, "unmapped": 0, "quarantined": 0, "matched": 23, "unmatched": 3}
    assert [u["line"] for u in doc["unmatched"]] == [11, 12, 13]
    assert doc["unmatched"][0]["reason"] == "order AMZ-113-2222222-0000002 not in NetSuite (sync the order, then rerun)"
    rc, out, _ = _run(capsys, str(FIX / "us_facilitator_tax.tsv"), "--marketplace", "us", "--dry-run")
    assert "Journal: dry run — would post AMZ-STL-22222222222" in out and ns.upserts == []


def test_default_mode_posts_the_journal_by_upsert(capsys, monkeypatch):
    ns = _fake_netsuite(monkeypatch)
    for _ in range(2):  # a rerun is the same upsert with replaced lines
        rc, out, _ = _run(capsys, str(FIX / "us_facilitator_tax.tsv"), "--marketplace", "us")
        assert rc == 0 and "Journal: posted AMZ-STL-22222222222 (internal id 5000)" in out
    assert ns.upserts == [("journalEntry", "AMZ-STL-22222222222", ["line"])] * 2
    assert len(ns.journals) == 1


def test_json_stdout_is_clean_in_a_real_process(tmp_path):
    env = {**os.environ, "AMZNETSUITE_REPORTS": str(tmp_path / "r"), "AIRFLOW__LOGGING__LOGGING_LEVEL": "DEBUG"}
    proc = subprocess.run([sys.executable, "-m", "airflow_provider_amznetsuite.cli", "settlement", "reconcile",
                           str(FIX / "de_windows1252.tsv"), "--marketplace", "de", "--offline", "--json"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.count("\n") == 1
    doc = json.loads(proc.stdout)
    assert (doc["settlement_id"], doc["currency"], doc["total_amount"], doc["rows"]) == ("33333333333", "EUR", "1096.15", 4)
    assert doc["by_account"] == {"400": "1299.00", "403": "-5.00", "500": "-194.10", "502": "-3.75"}
