"""reconcile(): the CLI JSON, buckets, MF tax clearing, rerun behaviour, marketplace config."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from airflow_provider_amznetsuite.config import parse_config
from airflow_provider_amznetsuite.domain.settlement import SettlementFormatError, reconcile
from tests.fixtures.settlement.gen import SANDBOX_ACCOUNTS, SUMMARY, SettlementCfg, render, row

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "settlement"
D = Decimal


def test_offline_json_is_exactly_the_cli_shape():
    r = reconcile(FIX / "uk_decimal_comma.tsv", marketplace=SettlementCfg(), offline=True)
    out = json.loads(r.to_json())
    assert list(out) == ["settlement_id", "currency", "total_amount", "lines_total", "balanced", "rows", "buckets",
                         "by_account", "unmapped", "quarantined"]
    assert out["settlement_id"] == "11111111111" and out["currency"] == "GBP"
    assert (out["total_amount"], out["lines_total"], out["balanced"], out["rows"]) == ("961.62", "961.62", True, 20)
    assert out["buckets"] == {"mapped": 20, "unmapped": 0, "quarantined": 0}
    assert out["by_account"]["400"] == "1349.56"
    assert out["by_account"]["211"] == "0.00"  # MF VAT: credited and debited
    assert sum(D(v) for v in out["by_account"].values()) == D("961.62")
    assert all(isinstance(v, str) for v in out["by_account"].values())
    assert (out["unmapped"], out["quarantined"]) == ([], [])
    assert r.exit_code == 0 and r.journal is None and r.journal_problem is None


def test_exceptions_in_json_with_line_numbers_and_exit_code():
    rows = [row("Order", "ItemPrice", "Principal", D("10.00"), order_id="1"),
            row("other-transaction", "other-transaction", "Mystery", D("-1.00")),
            row("Order", "ItemPrice", "Principal", "x", order_id="2")]
    r = reconcile(render(dict(SUMMARY, **{"total-amount": D("9.00")}), rows), marketplace=SettlementCfg(), offline=True)
    out = r.to_dict()
    assert out["balanced"] is True and out["rows"] == 3
    assert out["buckets"] == {"mapped": 1, "unmapped": 1, "quarantined": 1}
    assert out["unmapped"] == [{
        "line": 4, "reason": "no GL mapping for 'other-transaction/other-transaction/Mystery'; add it to settlement.gl_map "
                             "in the marketplace config (posted to suspense account 599 meanwhile)",
        "transaction_type": "other-transaction", "amount_type": "other-transaction", "amount_description": "Mystery",
        "amount": "-1.00", "account": "599"}]
    assert out["quarantined"][0]["line"] == 5 and "amount 'x' is not a number" in out["quarantined"][0]["reason"]
    assert out["by_account"] == {"400": "10.00", "599": "-1.00"}
    assert r.exit_code == 1  # a quarantined row fails the run even though the rest balances


def test_us_facilitator_tax_nets_to_zero_and_seller_tax_is_payable():
    r = reconcile(FIX / "us_facilitator_tax.tsv", marketplace=SettlementCfg(), offline=True)
    assert r.by_account["211"] == D("0.00")
    assert r.account_in["211"] == D("3.92") + D("3.50")  # tax collected on the MF order + withholding reversed on refund
    assert r.account_out["211"] == -(D("3.92") + D("3.50"))
    assert r.by_account["210"] == D("8.25")  # the order without withheld lines: seller-collected
    assert r.marketplace_facilitator_orders == 1
    assert r.total_amount == D("-179.10") and r.balanced and r.exit_code == 0


def test_missing_order_is_unmatched_then_matched_on_the_next_run():
    netsuite: dict[str, dict] = {"AMZ-RFD-113-2222222-0000001-ADJ-US-1": {"id": "7", "type": "CustCred", "currency": "1"},
                                 "AMZ-113-2222222-0000002": {"id": "8", "type": "CashSale", "currency": "1",
                                                             "total": "108.25"}}
    calls: list[tuple[str, list[str]]] = []

    def lookup(field, values):
        calls.append((field, list(values)))
        return {v: netsuite[v] for v in values if v in netsuite}

    first = reconcile(FIX / "us_facilitator_tax.tsv", marketplace=SettlementCfg(), offline=False, lookup=lookup,
                      currency_ids={"USD": "1"}, subsidiary="4")
    assert calls == [("externalid", ["AMZ-113-2222222-0000001", "AMZ-113-2222222-0000002",
                                     "AMZ-RFD-113-2222222-0000001-ADJ-US-1"])]
    assert first.buckets == {"mapped": 26, "unmapped": 0, "quarantined": 0, "matched": 18, "unmatched": 8}
    assert {e.line for e in first.unmatched} == set(range(3, 11))
    assert {e.reason for e in first.unmatched} == {"order AMZ-113-2222222-0000001 not in NetSuite (sync the order, then rerun)"}
    tax = next(e for e in first.unmatched if e.amount_description == "Tax")
    assert (tax.account, tax.key, tax.amount) == ("211", "AMZ-113-2222222-0000001", "3.50")
    # unmatched rows still post: the journal balances through their accounts
    assert first.balanced and first.journal is not None and first.journal.balanced
    assert first.bucket_amounts["unmatched"] == D("43.73")  # 49.99 + 5.99 + 3.92 - 3.92 - 7.50 - 4.75
    assert first.to_dict()["unmatched"][0]["line"] == 3

    netsuite["AMZ-113-2222222-0000001"] = {"id": "9", "type": "CashSale", "currency": "1", "total": "59.90"}
    second = reconcile(FIX / "us_facilitator_tax.tsv", marketplace=SettlementCfg(), offline=False, lookup=lookup,
                       currency_ids={"USD": "1"}, subsidiary="4")
    assert second.buckets["unmatched"] == 0 and second.buckets["matched"] == 26
    assert second.journal is not None and second.journal.body() == first.journal.body()  # same upsert body
    assert second.exit_code == 0


def test_unbalanced_or_quarantined_settlements_get_no_journal():
    data = render(dict(SUMMARY, **{"total-amount": D("9.99")}), [row("Order", "ItemPrice", "Principal", D("5.00"), order_id="1")])
    r = reconcile(data, marketplace=SettlementCfg(), offline=False, lookup=lambda f, v: {}, currency_ids={"GBP": "2"},
                  subsidiary="2")
    assert (r.balanced, r.difference, r.journal, r.exit_code) == (False, D("-4.99"), None, 1)
    assert r.journal_problem == "not posted: rows add up to 5.00 but total-amount is 9.99"
    data = render(dict(SUMMARY, **{"total-amount": D("5.00")}), [row("Order", "ItemPrice", "Principal", D("5.00"), order_id="1"),
                                                                  row("Order", "ItemPrice", "Principal", D("0.00"), order_id="1", sku="\x00")])
    r = reconcile(data, marketplace=SettlementCfg(), offline=False, lookup=lambda f, v: {}, currency_ids={"GBP": "2"},
                  subsidiary="2")
    assert r.balanced and r.journal is None and r.exit_code == 1
    assert r.journal_problem == "not posted: 1 quarantined line(s) must be fixed first"


def test_journal_needs_currency_id_and_subsidiary_and_lookup():
    r = reconcile(FIX / "de_windows1252.tsv", marketplace=SettlementCfg(), offline=False, lookup=lambda f, v: {})
    assert r.journal is None and r.journal_problem.startswith("no NetSuite currency id for EUR")
    r = reconcile(FIX / "de_windows1252.tsv", marketplace=SettlementCfg(), offline=False, lookup=lambda f, v: {},
                  currency_ids={"EUR": "4"})
    assert r.journal_problem == "no subsidiary: configure the marketplace's subsidiary"
    with pytest.raises(ValueError, match="needs a lookup"):
        reconcile(FIX / "de_windows1252.tsv", marketplace=SettlementCfg(), offline=False)
    with pytest.raises(SettlementFormatError):
        reconcile(b"nonsense\n", marketplace=SettlementCfg(), offline=True)


def test_with_a_real_marketplace_config():
    app = parse_config({
        "defaults": {"channel": {"department": 3, "class": 4},
                     "settlement": {"accounts": dict(SANDBOX_ACCOUNTS), "split_by_period": True,
                                    "gl_map": {"*/ItemFees/Commission": 6100}}},
        "marketplaces": {"uk": {"marketplace_id": "A1F83G8C2ARO7P", "region": "eu", "country": "UK", "currency": "GBP",
                                "subsidiary": 2, "channel": {"class": 5}},
                         "us": {"marketplace_id": "ATVPDKIKX0DER", "region": "na", "country": "US", "currency": "USD",
                                "subsidiary": 4}},
    })
    uk = app.marketplace("uk")
    r = reconcile(FIX / "uk_decimal_comma.tsv", marketplace=uk, offline=False, lookup=lambda f, v: {},
                  currency_ids={"GBP": "2"})
    assert r.by_account["6100"] == D("-191.03") - D("-2.85")  # Commission overridden; RefundCommission still 500
    assert r.by_account["500"] == D("-2.85")
    assert r.journal is not None
    body = r.journal.body()
    assert (body["subsidiary"], body["department"], body["class"]) == ({"id": "2"}, {"id": "3"}, {"id": "5"})
    assert r.journal.periods == ["2025-06", "2025-07"]
    assert any("marketplace locale suggests '.'" in w for w in r.warnings)  # UK hint '.', file uses ','
    us = reconcile(FIX / "uk_decimal_comma.tsv", marketplace=app.marketplace("us"), offline=True)
    assert "settlement currency GBP differs from the marketplace currency USD" in us.warnings


def test_report_written_with_default_labels(tmp_path):
    r = reconcile(FIX / "us_facilitator_tax.tsv", marketplace=SettlementCfg(), offline=True)
    paths = r.write_report(str(tmp_path / "reports"))
    page = paths.html.read_text(encoding="utf-8")
    assert "Marketplace tax clearing" in page and "Exceptions (0)" in page
    assert paths.csv.read_text(encoding="utf-8-sig").splitlines() == [
        "line,bucket,reason,transaction_type,order_id,merchant_order_id,adjustment_id,amount_type,amount_description,"
        "amount,sku,account,key"]


def test_labels_come_from_the_roles_an_account_plays():
    cfg = SettlementCfg(gl_map={"*/other-transaction/Storage Fee": "7777"}, accounts={"reserve": "1250"})
    r = reconcile(FIX / "uk_decimal_comma.tsv", marketplace=cfg, offline=False, lookup=lambda f, v: {},
                  currency_ids={"GBP": "2"}, subsidiary="2")
    assert "7777" not in r.account_labels  # named directly by gl_map: no role, no label
    assert r.account_labels["1250"] == "Amazon reserve (balance sheet)"
    assert r.account_labels["500"] == "Selling fees"
    memos = {ln.account: ln.memo for ln in r.journal.lines}
    assert memos["7777"] == "Amazon settlement 11111111111: account 7777"
    assert memos["500"] == "Amazon settlement 11111111111: Selling fees"
    assert memos["1250"] == "Amazon settlement 11111111111: Amazon reserve (balance sheet)"
    named = reconcile(FIX / "uk_decimal_comma.tsv", marketplace=cfg, offline=True, account_labels={"400": "4000 Revenue"})
    assert named.account_labels == {"400": "4000 Revenue"}


def test_roles_without_accounts_are_unmapped_and_block_only_what_they_must():
    cfg = SettlementCfg(accounts={"fba_fees": None, "bank": None})
    r = reconcile(FIX / "uk_decimal_comma.tsv", marketplace=cfg, offline=False, lookup=lambda f, v: {},
                  currency_ids={"GBP": "2"}, subsidiary="2")
    fba = [e for e in r.unmapped if e.amount_description == "FBAPerUnitFulfillmentFee"]
    assert fba and all(e.reason == "GL role 'fba_fees' has no account: set settlement.accounts.fba_fees"
                       and e.account == "599" for e in fba)
    assert "501" not in r.by_account and r.balanced
    assert r.journal is None
    assert r.journal_problem == "not posted: GL role 'bank' has no account: set settlement.accounts.bank (the deposit line needs it)"
    bare = reconcile(FIX / "uk_decimal_comma.tsv", marketplace=SettlementCfg(sandbox=False, accounts={"bank": "111"}),
                     offline=False, lookup=lambda f, v: {}, currency_ids={"GBP": "2"}, subsidiary="2")
    assert list(bare.by_account) == ["role:suspense"] and bare.buckets["unmapped"] == bare.rows
    assert bare.journal_problem == ("not posted: GL role 'suspense' has no account: set settlement.accounts.suspense "
                                    "(unmapped lines need it)")
