"""V2 settlement flat-file parser: encodings, layouts, locale amounts, quarantine, balance."""

from __future__ import annotations

import gzip
import io
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from airflow_provider_amznetsuite.domain.settlement.parse import (
    RowError,
    SettlementFormatError,
    amount_evidence,
    check_balance,
    open_settlement,
    parse_amount,
    parse_posted_date,
    parse_settlement,
    parse_timestamp,
)
from tests.fixtures.settlement.gen import COLUMNS, SUMMARY, WITH_PROMOTION, render, row

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "settlement"
D = Decimal
UTC = timezone.utc


def summary(total: Decimal | str, **kw: str) -> dict:
    return dict(SUMMARY, **{"total-amount": total}, **kw)


# --- fixtures: encodings, line breaks, layouts --------------------------------------------------
def test_uk_fixture_bom_crlf_decimal_comma_thousands_promotion_id():
    p = parse_settlement(FIX / "uk_decimal_comma.tsv")
    assert p.encoding == "utf-8-sig"
    assert p.line_endings == "CRLF"
    assert (p.decimal_separator, p.decimal_source) == (",", "summary")
    assert p.header.has_promotion_id and p.header.unknown_columns == ()
    assert p.summary.settlement_id == "11111111111"
    assert p.summary.total_amount == D("961.62")
    assert p.summary.deposit_date == datetime(2025, 7, 6, 8, 30, tzinfo=UTC)
    assert len(p.rows) == 20 and p.quarantined == []
    first = p.rows[0]
    assert (first.line, first.amount, first.sku, first.quantity) == (3, D("95.00"), "SKU-00003", 1)
    big = next(r for r in p.rows if r.merchant_order_id == "SO-1003" and r.amount_type == "ItemPrice")
    assert big.amount == D("1234.56")  # written '1.234,56'
    promo = next(r for r in p.rows if r.amount_type == "Promotion")
    assert promo.promotion_id == "FreeShip-UK"
    assert p.balance.balanced and p.balance.lines_total == D("961.62")


def test_us_fixture_negative_total_without_promotion_id():
    p = parse_settlement(FIX / "us_facilitator_tax.tsv")
    assert p.summary.total_amount == D("-179.10")
    assert p.encoding == "utf-8" and p.line_endings == "LF" and p.decimal_separator == "."
    assert not p.header.has_promotion_id
    assert all(r.promotion_id == "" for r in p.rows)
    assert p.balance == check_balance(D("-179.10"), D("-179.10"))


def test_windows_1252_with_pound_euro_and_accents_and_reordered_columns():
    p = parse_settlement(FIX / "de_windows1252.tsv")
    assert p.encoding == "windows-1252"
    assert p.header.columns[0] == "promotion-id"  # reversed column order
    assert p.rows[0].sku == "TASSE-GRÖSSE-M"
    assert p.rows[1].promotion_id == "Rabatt 5 €"
    assert p.rows[0].amount == D("1299.00")
    assert p.balance.balanced
    data = render(summary(D("1.00")), [row("Order", "ItemPrice", "Principal", D("1.00"), order_id="1", sku="£-Preis café")],
                  encoding="cp1252")
    assert parse_settlement(data).rows[0].sku == "£-Preis café"


def test_mixed_encoding_lines_are_reported():
    good = render(summary(D("2.00")), [row("Order", "ItemPrice", "Principal", D("1.00"), order_id="1", sku="café"),
                                       row("Order", "ItemPrice", "Principal", D("1.00"), order_id="2", sku="SKU")])
    bad_line = "\t".join(str(row("Order", "ItemPrice", "Principal", "1.00", order_id="3", sku="Gebühr").get(c, "")) for c in COLUMNS)
    data = good + bad_line.encode("cp1252") + b"\n"
    p = parse_settlement(data)
    assert p.encoding == "mixed"
    assert [r.sku for r in p.rows] == ["café", "SKU", "Gebühr"]
    assert any("mixed encoding" in w for w in p.warnings)


def test_columns_in_any_order_and_header_names_normalised():
    cols = tuple(reversed(COLUMNS))
    data = render(summary(D("5.00")), [row("Order", "ItemPrice", "Principal", D("5.00"), order_id="9")], columns=cols)
    header, rest = data.split(b"\n", 1)
    header = header.upper().replace(b"-", b"_")  # SETTLEMENT_ID etc.
    p = parse_settlement(header + b"\n" + rest)
    assert p.rows[0].order_id == "9" and p.rows[0].amount == D("5.00")


def test_missing_required_columns_one_error_naming_all():
    cols = tuple(c for c in COLUMNS if c not in ("amount", "currency", "posted-date", "posted-date-time"))
    data = render(summary(D("0")), [], columns=cols)
    with pytest.raises(SettlementFormatError) as exc:
        parse_settlement(data)
    msg = str(exc.value)
    assert "currency" in msg and "amount" in msg and "posted-date-time (or posted-date)" in msg
    assert msg.startswith("line 1 (header) lacks required column(s)")


def test_legacy_flat_file_gets_a_hint():
    data = b"settlement-id\ttotal-amount\tprice-type\tprice-amount\n1\t1.00\t\t\n"
    with pytest.raises(SettlementFormatError, match="legacy GET_V2_SETTLEMENT_REPORT_DATA_FLAT_FILE"):
        parse_settlement(data)


def test_unknown_extra_columns_are_tolerated_and_reported():
    cols = COLUMNS + ("my-extra", "another one")
    r = row("Order", "ItemPrice", "Principal", D("3.00"), order_id="7")
    r["my-extra"] = "x"
    p = parse_settlement(render(summary(D("3.00")), [r], columns=cols))
    assert p.header.unknown_columns == ("my-extra", "another one")
    assert any("unknown column(s) ignored: my-extra, another one" in w for w in p.warnings)
    assert p.rows[0].amount == D("3.00")


def test_older_variant_without_posted_date_time_uses_posted_date_with_warning():
    cols = tuple(c for c in COLUMNS if c not in ("posted-date-time", "order-item-code"))
    r1 = row("Order", "ItemPrice", "Principal", D("3.00"), order_id="7", posted_date="06/25/25")  # MM/DD/YY
    r2 = row("Order", "ItemPrice", "Principal", D("1.00"), order_id="8", posted_date="02/07/25")  # DD/MM/YY (2 July)
    r3 = row("Order", "ItemPrice", "Principal", D("2.00"), order_id="9", posted_date="2025-06-30")
    p = parse_settlement(render(summary(D("6.00")), [r1, r2, r3], columns=cols))
    assert [x.posted.date().isoformat() for x in p.rows] == ["2025-06-25", "2025-07-02", "2025-06-30"]
    assert [x.period for x in p.rows] == ["2025-06", "2025-07", "2025-06"]
    assert all(x.posted_from_date for x in p.rows)
    assert "3 row(s) have no posted-date-time; their period comes from posted-date (day precision)" in p.warnings
    assert "documented column(s) absent: posted-date-time, order-item-code" in p.warnings


def test_empty_posted_date_time_falls_back_per_row():
    r1 = row("Order", "ItemPrice", "Principal", D("3.00"), order_id="7", posted="", posted_date="2025-06-21")
    r2 = row("Order", "ItemPrice", "Principal", D("1.00"), order_id="8", posted="", posted_date="")
    p = parse_settlement(render(summary(D("3.00")), [r1, r2]))
    assert p.rows[0].posted == datetime(2025, 6, 21, tzinfo=UTC) and p.rows[0].posted_from_date
    assert p.quarantined[0].reason == "posted-date-time and posted-date are both empty"


def test_duplicate_header_column_is_an_error():
    data = render(summary(D("0")), [], columns=COLUMNS + ("amount",))
    with pytest.raises(SettlementFormatError, match="more than once: amount"):
        parse_settlement(data)


# --- amounts -------------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "sep", "minor", "expected"), [
    ("95,00", ",", 2, "95.00"),
    ("95,00", ".", 2, "95.00"),  # two digits after the comma: a decimal comma whatever the file says
    ("1.234,56", ",", 2, "1234.56"),
    ("1.234,56", ".", 2, "1234.56"),
    ("1,234.56", ".", 2, "1234.56"),
    ("1,234.56", ",", 2, "1234.56"),
    ("-12.5", ",", 2, "-12.5"),
    ("-12.5", ".", 2, "-12.5"),
    ("1 234,56", ",", 2, "1234.56"),
    ("1\u00a0234,56", ".", 2, "1234.56"),
    ("1'234.56", ".", 2, "1234.56"),
    ("-1.234.567,89", ",", 2, "-1234567.89"),
    ("1.234", ",", 2, "1234"),  # ambiguous: the file's decimal comma makes '.' a thousands separator
    ("1,234", ".", 2, "1234"),
    ("1,234", ".", 0, "1234"),
    ("+5", ".", 2, "5"),
    ("  -0.01 ", ".", 2, "-0.01"),
    ("12.500", ".", 2, "12.500"),  # trailing zero beyond the minor unit changes nothing
    ("1234", ".", 0, "1234"),
])
def test_parse_amount_locales(text, sep, minor, expected):
    assert parse_amount(text, sep, minor) == D(expected)


@pytest.mark.parametrize(("text", "sep", "why"), [
    ("abc", ".", "not a number"),
    ("12..3", ".", "not a number"),
    ("1,2,3", ".", "grouping"),
    ("1.234", ".", "3 decimal places"),
    ("1,234", ",", "3 decimal places"),
    ("12345,678", ".", "grouping"),
    ("1e5", ".", "not a number"),
    ("\u0661\u0662", ".", "not a number"),  # Arabic-Indic digits
    ("(55.00)", ".", "not a number"),
    ("", ".", "empty"),
    ("1.234,5.6", ",", "not a number"),
])
def test_parse_amount_rejects(text, sep, why):
    with pytest.raises(RowError, match=why):
        parse_amount(text, sep, 2)


@pytest.mark.parametrize(("text", "evidence"), [
    ("95,00", ","), ("-12.5", "."), ("1.234,56", ","), ("1,234.56", "."), ("1 234,56", ","), ("1.234.567", ","),
    ("1,234", None), ("1.234", None), ("1234", None), ("", None),
])
def test_amount_evidence(text, evidence):
    assert amount_evidence(text) == evidence


def test_decimal_separator_inferred_from_rows_when_summary_is_ambiguous():
    rows = [row("Order", "ItemPrice", "Principal", "1.000,00", order_id="1"), row("Order", "ItemFees", "Commission", "234,00", order_id="1")]
    p = parse_settlement(render(summary("1.234"), rows))
    assert (p.decimal_separator, p.decimal_source) == (",", "inferred")
    assert p.summary.total_amount == D("1234") and p.balance.balanced


def test_garbled_amounts_prove_no_decimal_separator():
    # '12..3' repeats '.', which would look like a thousands separator; it must not decide the file's format
    rows = [row("Order", "ItemPrice", "Principal", "12..3", order_id="1"), row("Order", "ItemPrice", "Principal", "1,001", order_id="2"),
            row("Order", "ItemFees", "Commission", "-0.50", order_id="2")]
    p = parse_settlement(render(summary("1,000.50"), rows))
    assert p.decimal_separator == "."  # from the summary itself
    p = parse_settlement(render(summary("1,001"), rows[:2]))
    assert (p.decimal_separator, p.decimal_source) == (".", "default")  # no row proves anything
    assert p.summary.total_amount == D("1001") and [q.line for q in p.quarantined] == [3]


def test_grouped_yen_amounts_are_thousands_not_decimals():
    rows = [row("Order", "ItemPrice", "Principal", "1,001", order_id="1"), row("Order", "ItemFees", "Commission", "12..3", order_id="1")]
    p = parse_settlement(render(summary("1,001", currency="JPY"), rows))
    assert (p.decimal_separator, p.decimal_source, p.summary.total_amount) == (".", "summary", D("1001"))
    assert p.rows[0].amount == D("1001") and p.balance.balanced
    p = parse_settlement(render(summary("1.001", currency="JPY"), [row("Order", "ItemPrice", "Principal", "1.001", order_id="1")]))
    assert (p.decimal_separator, p.summary.total_amount, p.rows[0].amount) == (",", D("1001"), D("1001"))


def test_decimal_hint_decides_an_ambiguous_file_and_loses_to_evidence():
    rows = [row("Order", "ItemPrice", "Principal", "1.234", order_id="1")]
    p = parse_settlement(render(summary("1.234"), rows), decimal_separator=",")
    assert (p.decimal_separator, p.decimal_source, p.summary.total_amount) == (",", "hint", D("1234"))
    p2 = parse_settlement(render(summary("12.50"), [row("Order", "ItemPrice", "Principal", "12.50", order_id="1")]),
                          decimal_separator=",")
    assert p2.decimal_separator == "." and p2.rows[0].amount == D("12.50")
    assert any("file's own format wins" in w for w in p2.warnings)


def test_no_evidence_defaults_to_point_with_warning():
    p = parse_settlement(render(summary("12"), [row("Order", "ItemPrice", "Principal", "12", order_id="1")]))
    assert (p.decimal_separator, p.decimal_source) == (".", "default")
    assert any("assumed '.'" in w for w in p.warnings)


# --- timestamps ----------------------------------------------------------------------------------
def test_timestamps():
    assert parse_timestamp("2025-06-09 05:23:19 UTC") == (datetime(2025, 6, 9, 5, 23, 19, tzinfo=UTC), False)
    assert parse_timestamp("2003-10-03T16:00:00-07:00")[0] == datetime(2003, 10, 3, 23, 0, tzinfo=UTC)
    assert parse_timestamp("2025-06-09T05:23:19.5Z")[0] == datetime(2025, 6, 9, 5, 23, 19, 500000, tzinfo=UTC)
    assert parse_timestamp("09.06.2025 05:23:19 UTC")[0] == datetime(2025, 6, 9, 5, 23, 19, tzinfo=UTC)
    assert parse_timestamp("2025-06-09 05:23:19") == (datetime(2025, 6, 9, 5, 23, 19, tzinfo=UTC), True)
    assert parse_timestamp("2025-06-09", allow_date_only=True)[0] == datetime(2025, 6, 9, tzinfo=UTC)
    with pytest.raises(RowError, match="no time of day"):
        parse_timestamp("2025-06-09")
    with pytest.raises(RowError, match="not a valid date"):
        parse_timestamp("2025-02-30 00:00:00 UTC")
    with pytest.raises(RowError, match="not a timestamp"):
        parse_timestamp("yesterday")


def test_posted_date_fallback_disambiguates_by_window():
    june = (datetime(2025, 6, 1).date(), datetime(2025, 6, 14).date())
    assert parse_posted_date("06/09/25", june).date().isoformat() == "2025-06-09"  # MM/DD/YY
    assert parse_posted_date("09/06/25", june).date().isoformat() == "2025-06-09"  # DD/MM/YY
    assert parse_posted_date("06/07/2025", june).date().isoformat() == "2025-06-07"  # 6 July is outside
    assert parse_posted_date("2025-06-03", june).date().isoformat() == "2025-06-03"
    assert parse_posted_date("03.06.2025", june).date().isoformat() == "2025-06-03"
    june_july = (datetime(2025, 6, 1).date(), datetime(2025, 7, 14).date())
    with pytest.raises(RowError, match="ambiguous"):
        parse_posted_date("06/07/25", june_july)  # 7 June and 6 July are both inside
    with pytest.raises(RowError, match="outside the settlement period"):
        parse_posted_date("12/12/25", june)


# --- quarantine ----------------------------------------------------------------------------------
def _lines(data: bytes) -> list[str]:
    return data.decode("utf-8").split("\n")


def test_malformed_rows_are_quarantined_with_line_and_reason_and_the_rest_continues():
    rows = [
        row("Order", "ItemPrice", "Principal", D("10.00"), order_id="1"),  # line 3
        row("Order", "ItemPrice", "Principal", "ten", order_id="2"),  # 4 bad amount
        row("Order", "ItemPrice", "Principal", D("1.00"), order_id="3", posted="2025-02-30 00:00:00 UTC"),  # 5 bad date
        row("Order", "ItemPrice", "Principal", D("1.00"), order_id="4", currency="EUR"),  # 6 other currency
        row("Order", "ItemPrice", "Principal", D("1.00"), order_id="5", quantity_purchased="two"),  # 7 bad quantity
        {"__raw__": "12345678901\tonly\tthree"},  # 8 wrong column count
        row("Order", "ItemPrice", "Principal", D("1.00"), order_id="6", settlement_id="999"),  # 9 other settlement
        row("Order", "ItemPrice", "Principal", D("2.00"), order_id="7"),  # 10 fine
    ]
    p = parse_settlement(render(summary(D("12.00")), rows))
    assert [r.line for r in p.rows] == [3, 10]
    reasons = {q.line: q.reason for q in p.quarantined}
    assert set(reasons) == {4, 5, 6, 7, 8, 9}
    assert "amount 'ten' is not a number" in reasons[4]
    assert reasons[5].startswith("posted-date-time") and "not a valid date" in reasons[5]
    assert reasons[6] == "currency 'EUR' is not the settlement currency GBP"
    assert "quantity-purchased 'two'" in reasons[7]
    assert reasons[8] == f"has 3 columns but the header has {len(COLUMNS)}"
    assert "settlement-id '999' is not this file's settlement 12345678901" == reasons[9]
    q4 = next(q for q in p.quarantined if q.line == 4)
    assert (q4.order_id, q4.amount_text, q4.transaction_type) == ("2", "ten", "Order")
    assert p.balance.balanced  # 10 + 2 == 12: quarantined rows excluded from the sum


def test_trailing_partial_line_is_quarantined_not_truncated_silently():
    rows = [row("Order", "ItemPrice", "Principal", D("10.00"), order_id="1"),
            row("Order", "ItemFees", "Commission", D("-1.50"), order_id="1")]
    data = render(summary(D("8.50")), rows)
    cut = data[: data.rfind(b"\t", 0, len(data) - 40)]  # cut the last line mid-way, no final newline
    p = parse_settlement(cut)
    assert [r.line for r in p.rows] == [3]
    assert len(p.quarantined) == 1 and p.quarantined[0].line == 4
    assert p.quarantined[0].reason.startswith("last line is cut off")
    assert not p.balance.balanced and p.balance.difference == D("1.50")


def test_complete_last_line_without_newline_is_read_with_a_warning():
    data = render(summary(D("10.00")), [row("Order", "ItemPrice", "Principal", D("10.00"), order_id="1")], trailing_newline=False)
    p = parse_settlement(data)
    assert len(p.rows) == 1 and p.quarantined == []
    assert any("does not end with a line break" in w for w in p.warnings)


def test_oversized_field_and_control_characters_are_quarantined():
    rows = [
        row("Order", "ItemPrice", "Principal", D("1.00"), order_id="1", sku="S" * 2000),  # 3: exactly the limit
        row("Order", "ItemPrice", "Principal", D("1.00"), order_id="2", sku="S" * 2001),  # 4
        row("Order", "ItemPrice", "Principal", D("1.00"), order_id="3", sku="bell\x07"),  # 5
        row("Order", "ItemPrice", "Principal", D("1.00"), order_id="4", sku="evil\u202etxt.exe"),  # 6 bidi override
        row("Order", "ItemPrice", "Principal", D("1.00"), order_id="5", sku="cr\rinside"),  # 7
    ]
    p = parse_settlement(render(summary(D("1.00")), rows))
    assert [r.line for r in p.rows] == [3]
    reasons = {q.line: q.reason for q in p.quarantined}
    assert reasons[4] == "column sku is 2001 characters long (limit 2000)"
    assert reasons[5] == "control character U+0007 in column sku"
    assert reasons[6] == "control character U+202E in column sku"
    assert reasons[7] == "control character U+000D in column sku"
    q6 = next(q for q in p.quarantined if q.line == 6)
    assert "\u202e" not in q6.sku  # neutralised in what the report will show


def test_repeated_header_and_second_summary_row_are_quarantined():
    rows = [row("Order", "ItemPrice", "Principal", D("1.00"), order_id="1"),
            {"__raw__": "\t".join(COLUMNS)},
            dict(summary(D("1.00")))]
    p = parse_settlement(render(summary(D("1.00")), rows))
    reasons = {q.line: q.reason for q in p.quarantined}
    assert reasons[4] == "the header line is repeated (two files joined?)"
    assert reasons[5].startswith("total-amount is filled on a transaction row")


def test_blank_lines_are_skipped_and_reported():
    data = render(summary(D("2.00")), [row("Order", "ItemPrice", "Principal", D("1.00"), order_id="1"), {"__raw__": ""},
                                       row("Order", "ItemPrice", "Principal", D("1.00"), order_id="2")])
    p = parse_settlement(data)
    assert [r.line for r in p.rows] == [3, 5]
    assert any("1 blank line(s) skipped (line 4)" in w for w in p.warnings)


def test_undecodable_line_is_quarantined():
    data = render(summary(D("1.00")), [row("Order", "ItemPrice", "Principal", D("1.00"), order_id="1")])
    data += b"\x81\x8d\x8f\n"  # undefined in Windows-1252 and invalid UTF-8
    p = parse_settlement(data)
    assert p.quarantined[0].line == 4 and "neither UTF-8 nor Windows-1252" in p.quarantined[0].reason


# --- file-level errors ---------------------------------------------------------------------------
@pytest.mark.parametrize(("data", "why"), [
    (b"", "empty"),
    ("\t".join(COLUMNS).encode() + b"\n", "no settlement summary row"),
    ("\t".join(COLUMNS).encode("utf-16"), "UTF-16"),
    (render({**SUMMARY, "total-amount": "1.00", "settlement-id": "../../etc"}, []), "not a settlement id"),
    (render({**SUMMARY, "total-amount": "1.00", "currency": "XXX"}, []), "not an ISO-4217"),
    (render({**SUMMARY, "total-amount": "1.00", "deposit-date": ""}, []), "deposit-date is empty"),
    (render({**SUMMARY, "total-amount": "abc"}, []), "total-amount"),
    (render(SUMMARY, [row("Order", "ItemPrice", "Principal", D("1.00"), order_id="1")]), "not a settlement summary row"),
    (b"a,b,c\n1,2,3\n", "single column"),
    (("\t".join(COLUMNS) + "\r" + "x").encode(), "bare CR"),
])
def test_file_level_errors(data, why):
    with pytest.raises(SettlementFormatError, match=why):
        parse_settlement(data)


# --- sources -------------------------------------------------------------------------------------
class _NoSeek(io.RawIOBase):
    def __init__(self, data: bytes) -> None:
        self._b = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readinto(self, b) -> int:  # type: ignore[override]
        chunk = self._b.read(len(b))
        b[: len(chunk)] = chunk
        return len(chunk)


def test_every_kind_of_source(tmp_path):
    data = (FIX / "uk_decimal_comma.tsv").read_bytes()
    path = tmp_path / "s.tsv"
    path.write_bytes(data)
    text = data.decode("utf-8-sig")
    sources = [data, bytearray(data), text, str(path), path, io.BytesIO(data), io.BufferedReader(_NoSeek(data)),
               gzip.compress(data)]
    totals = set()
    for src in sources:
        p = parse_settlement(src)
        totals.add((p.summary.total_amount, len(p.rows), p.balance.balanced))
    assert totals == {(D("961.62"), 20, True)}
    with pytest.raises(TypeError, match="binary mode"):
        parse_settlement(io.StringIO(text))
    with pytest.raises(FileNotFoundError):
        parse_settlement(str(tmp_path / "missing.tsv"))


def test_stream_position_is_respected_and_row_at_rereads():
    data = b"junk-prefix" + (FIX / "us_facilitator_tax.tsv").read_bytes()
    stream = io.BytesIO(data)
    stream.read(len(b"junk-prefix"))
    with open_settlement(stream) as sf:
        rows = list(sf.rows())
        again = sf.row_at(rows[5].offset, rows[5].line)
    assert again == rows[5]
    assert not stream.closed  # caller's stream is not ours to close


def test_rows_can_be_iterated_once():
    with open_settlement(FIX / "us_facilitator_tax.tsv") as sf:
        list(sf.rows())
        with pytest.raises(RuntimeError, match="only once"):
            list(sf.rows())


def test_balance_is_exact():
    rows = [row("Order", "ItemPrice", "Principal", "0.10", order_id="1"), row("Order", "ItemPrice", "Principal", "0.20", order_id="1")]
    assert parse_settlement(render(summary("0.30"), rows)).balance.balanced
    b = parse_settlement(render(summary("0.31"), rows)).balance
    assert (b.balanced, b.difference, b.lines_total) == (False, D("-0.01"), D("0.30"))


def test_with_promotion_column_layout_constant():
    assert WITH_PROMOTION[-1] == "promotion-id" and len(COLUMNS) == 23
