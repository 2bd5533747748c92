"""Journal entry: sign convention, balance, deposit line, period split, exact JSON."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from airflow_provider_amznetsuite.domain.settlement import reconcile
from airflow_provider_amznetsuite.domain.settlement.journal import UnbalancedSettlementError, build_journal, external_id
from tests.fixtures.settlement.gen import SettlementCfg

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "settlement"
D = Decimal


def _found_all(field, values):
    return {v: {"id": "1"} for v in values}


def _journal(name: str, **cfg):
    r = reconcile(FIX / name, marketplace=SettlementCfg(**cfg), offline=False, lookup=_found_all,
                  currency_ids={"GBP": "2", "USD": "1", "EUR": "4"}, subsidiary="2")
    assert r.journal is not None, r.journal_problem
    return r, r.journal


def test_uk_journal_body():
    r, j = _journal("uk_decimal_comma.tsv", department="3", class_="5", accounts={"bank": "111"})
    body = j.body()
    assert body["externalId"] == "AMZ-STL-11111111111"
    assert body["tranDate"] == "2025-07-06"
    assert (body["subsidiary"], body["currency"]) == ({"id": "2"}, {"id": "2"})
    assert (body["department"], body["class"]) == ({"id": "3"}, {"id": "5"})
    items = body["line"]["items"]
    by_account = {i["account"]["id"]: i for i in items}
    assert len(by_account) == len(items)  # one line per GL account
    assert by_account["400"]["credit"] == D("1349.56")  # income: credit
    assert by_account["500"]["debit"] == D("191.03")  # fees: debit
    assert by_account["120"]["debit"] == D("30.00")  # reserve held 150, released 120
    assert "211" not in by_account  # MF VAT clearing nets to zero: no zero line
    assert by_account["111"]["debit"] == D("961.62") and "credit" not in by_account["111"]  # the deposit
    assert all(i["department"] == {"id": "3"} and i["class"] == {"id": "5"} for i in items)
    assert j.total_debit == j.total_credit
    assert sum((ln.signed for ln in j.lines if ln.kind == "account"), D(0)) == r.total_amount


def test_negative_total_credits_the_bank():
    r, j = _journal("us_facilitator_tax.tsv")
    dep = [ln for ln in j.lines if ln.kind == "deposit"]
    assert len(dep) == 1 and dep[0].credit == D("179.10") and dep[0].debit is None
    acc = {ln.account: ln for ln in j.lines if ln.kind == "account"}
    assert acc["210"].credit == D("8.25")  # seller-collected tax payable
    assert "211" not in acc  # facilitator tax cleared to zero
    assert acc["220"].debit == D("100.00")  # loan repayment reduces the liability
    assert j.total_debit == j.total_credit


def test_split_by_period_gives_month_groups_that_each_balance():
    r, j = _journal("uk_decimal_comma.tsv", split_by_period=True)
    assert j.periods == ["2025-06", "2025-07"]
    for period in j.periods:
        group = [ln for ln in j.lines if ln.period == period]
        debit = sum((ln.debit or D(0) for ln in group), D(0))
        credit = sum((ln.credit or D(0) for ln in group), D(0))
        assert debit == credit and debit > 0
        assert sum(1 for ln in group if ln.kind == "deposit") == 1
    deposit = sum((ln.debit or D(0)) - (ln.credit or D(0)) for ln in j.lines if ln.kind == "deposit")
    assert deposit == r.total_amount == D("961.62")
    june_sales = next(ln for ln in j.lines if ln.account == "400" and ln.period == "2025-06")
    july_sales = next(ln for ln in j.lines if ln.account == "400" and ln.period == "2025-07")
    assert (june_sales.credit, july_sales.credit) == (D("115.00"), D("1234.56"))
    assert june_sales.memo.endswith("— 2025-06")
    bodies = j.period_bodies()
    assert [(b["externalId"], b["tranDate"]) for b in bodies] == [
        ("AMZ-STL-11111111111-202506", "2025-06-30"), ("AMZ-STL-11111111111-202507", "2025-07-06")]
    assert sum(len(b["line"]["items"]) for b in bodies) == len(j.lines)


def test_no_split_when_one_month_or_not_asked():
    _, j = _journal("uk_decimal_comma.tsv", split_by_period=False)
    assert j.periods == [] and all(ln.period is None for ln in j.lines)
    assert j.period_bodies() == [j.body()]
    _, de = _journal("de_windows1252.tsv", split_by_period=True)  # all rows in June
    assert de.periods == []


def test_body_json_has_exact_numbers():
    _, j = _journal("uk_decimal_comma.tsv")
    text = j.body_json()
    assert '"credit": 1349.56' in text and '"debit": 961.62' in text
    parsed = json.loads(text, parse_float=Decimal)
    assert parsed["line"]["items"][0]["account"] == {"id": "120"}
    assert "Decimal" not in text and "__DEC__" not in text


def test_unbalanced_or_imprecise_amounts_are_refused():
    common = dict(settlement_id="1", deposit_date=date(2025, 7, 6), currency="GBP", currency_id="2", subsidiary="2",
                  bank_account="111")
    with pytest.raises(UnbalancedSettlementError, match="difference 0.01"):
        build_journal(total_amount=D("10.00"), amounts={("400", "2025-06"): D("10.01")}, **common)
    with pytest.raises(ValueError, match="more decimals than GBP"):
        build_journal(total_amount=D("10.005"), amounts={("400", "2025-06"): D("10.005")}, **common)
    j = build_journal(total_amount=D("0.00"), amounts={("400", "2025-06"): D("5.00"), ("500", "2025-06"): D("-5.00")},
                      **common)
    assert [(ln.account, ln.debit, ln.credit) for ln in j.lines] == [("400", None, D("5.00")), ("500", D("5.00"), None)]


def test_external_id_rules():
    assert external_id("123_ab-C") == "AMZ-STL-123_ab-C"
    with pytest.raises(ValueError):
        external_id("12 3")
