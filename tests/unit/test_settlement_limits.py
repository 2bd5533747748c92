"""#18 item 6 (partial): impossible offsets and datetime-limit timestamps are row errors, never crashes."""

from __future__ import annotations

from decimal import Decimal

import pytest

from airflow_provider_amznetsuite.domain.settlement.parse import RowError, parse_settlement, parse_timestamp
from tests.fixtures.settlement.gen import COLUMNS, SUMMARY, render, row

BAD = ["2025-06-25 10:00:00 +99:99", "2025-06-25 10:00:00 +24:00", "2025-06-25 10:00:00 -18:01",
       "2025-06-25 10:00:00 +05:60", "0001-01-01 00:00:00 +01:00", "9999-12-31 23:59:59 -01:00",
       "9999-12-31T23:59:59-23:59", "garbage"]


@pytest.mark.parametrize("text", BAD)
def test_bad_timestamp_is_a_row_error(text):
    with pytest.raises(RowError):
        parse_timestamp(text)


@pytest.mark.parametrize("text", BAD)
def test_bad_timestamp_row_is_quarantined_and_the_rest_proceeds(text):
    rows = [row("Order", "ItemPrice", "Principal", Decimal("10.00"), order_id="1", posted=text),
            row("Order", "ItemPrice", "Principal", Decimal("5.00"), order_id="2")]
    p = parse_settlement(render(dict(SUMMARY, **{"total-amount": Decimal("15.00")}), rows))
    assert [r.order_id for r in p.rows] == ["2"]
    assert len(p.quarantined) == 1 and p.quarantined[0].line == 3
    assert p.quarantined[0].reason.startswith("posted-date-time ")


def test_offsets_within_the_limit_still_read():
    value, _ = parse_timestamp("2025-06-25 10:00:00 +14:00")
    assert value.hour == 20 and value.day == 24


@pytest.mark.parametrize("amount", ["1" * 19, "1" * 60, "1" * 80, "-" + "9" * 61 + ".99"])
def test_overlong_amounts_quarantine_the_line_and_reconcile_does_not_raise_inexact(amount):
    from airflow_provider_amznetsuite.config import load_config
    from airflow_provider_amznetsuite.domain.settlement import reconcile

    rows = [row("Order", "ItemPrice", "Principal", amount, order_id="1"),
            row("Order", "ItemPrice", "Principal", Decimal("5.00"), order_id="2")]
    data = render(dict(SUMMARY, **{"total-amount": Decimal("5.00")}), rows)
    result = reconcile(data, marketplace=load_config(None).marketplaces["uk"], offline=True)
    assert result.buckets["quarantined"] == 1 and "digits before the decimal separator" in result.quarantined[0].reason
    assert result.exit_code == 1


# --- #18 item 7: rows dated far outside the settlement window ------------------------------------------
@pytest.mark.parametrize("posted, inside", [
    ("1970-01-01 00:00:00 UTC", False), ("2099-01-01 00:00:00 UTC", False), ("2024-06-25 10:00:00 UTC", False),
    ("2025-08-05 00:00:01 UTC", False),  # 31 days + 1 s after the end
    ("2025-05-20 00:00:00 UTC", True), ("2025-08-04 00:00:00 UTC", True),  # within the 31-day slack
])
def test_rows_far_outside_the_settlement_window_are_quarantined(posted, inside):
    rows = [row("Order", "ItemPrice", "Principal", Decimal("10.00"), order_id="1", posted=posted),
            row("Order", "ItemPrice", "Principal", Decimal("5.00"), order_id="2")]
    p = parse_settlement(render(dict(SUMMARY, **{"total-amount": Decimal("15.00")}), rows))
    if inside:
        assert [r.order_id for r in p.rows] == ["1", "2"] and p.quarantined == []
        return
    assert [r.order_id for r in p.rows] == ["2"]
    (q,) = p.quarantined
    assert q.line == 3 and "days outside the settlement period (2025-06-20 to 2025-07-04)" in q.reason
    assert q.reason.startswith("posted-date-time ")


def test_split_by_period_never_makes_a_1970_or_2099_journal():
    from airflow_provider_amznetsuite.config import load_config
    from airflow_provider_amznetsuite.domain.settlement import reconcile

    rows = [row("Order", "ItemPrice", "Principal", Decimal("10.00"), order_id="1", posted="1970-01-01 00:00:00 UTC"),
            row("Order", "ItemPrice", "Principal", Decimal("7.00"), order_id="3", posted="2099-12-31 00:00:00 UTC"),
            row("Order", "ItemPrice", "Principal", Decimal("5.00"), order_id="2")]
    data = render(dict(SUMMARY, **{"total-amount": Decimal("22.00")}), rows)
    result = reconcile(data, marketplace=load_config(None).marketplaces["uk"], offline=True)
    assert result.buckets["quarantined"] == 2
    periods = {r.period for r in parse_settlement(data).rows}
    assert periods == {"2025-06"}


# --- #18 item 5: decompression bombs, blank lines, huge headers ----------------------------------------
def test_a_gzip_bomb_is_refused_at_the_cap_without_holding_it(monkeypatch):
    import gzip
    import tracemalloc

    from airflow_provider_amznetsuite.domain.settlement import parse as parse_mod
    from airflow_provider_amznetsuite.domain.settlement.parse import SettlementFormatError

    monkeypatch.setattr(parse_mod, "MAX_DECOMPRESSED_BYTES", 8 * 1024 * 1024)  # the 2 GiB cap, scaled down
    head = render(dict(SUMMARY, **{"total-amount": Decimal("0.00")}), [])
    bomb = gzip.compress(head + b"\n" * (64 * 1024 * 1024), compresslevel=9)  # 64 MiB of newlines
    assert len(bomb) < 200_000
    tracemalloc.start()
    try:
        with pytest.raises(SettlementFormatError, match="inflates past"):
            parse_settlement(bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 32 * 1024 * 1024  # pieces of 1 MiB into a spool, never the whole


def test_many_blank_lines_cost_a_counter_not_a_list():
    rows = [row("Order", "ItemPrice", "Principal", Decimal("5.00"), order_id="2")]
    data = render(dict(SUMMARY, **{"total-amount": Decimal("5.00")}), rows) + b"\n" * 200_000
    from airflow_provider_amznetsuite.domain.settlement.parse import open_settlement

    with open_settlement(data) as f:
        assert len(list(f.rows())) == 1
        assert f.blank_count == 200_000 and len(f.blank_lines) == 10
        assert any(w.startswith("200000 blank line(s) skipped (line ") and "and 199990 more" in w for w in f.warnings)


@pytest.mark.parametrize("dup", [False, True])
def test_a_one_megabyte_header_is_checked_in_linear_time(dup):
    from airflow_provider_amznetsuite.domain.settlement.parse import SettlementFormatError

    extra = [f"x-col-{n}" for n in range(100_000)] + (["x-col-7"] if dup else [])
    header = "\t".join(list(COLUMNS) + extra)
    assert len(header) > 1_000_000
    data = (header + "\n").encode() + render(dict(SUMMARY, **{"total-amount": Decimal("0.00")}), []).split(b"\n", 1)[1]
    if dup:
        with pytest.raises(SettlementFormatError, match="more than once: x-col-7"):
            parse_settlement(data)
    else:  # the summary line has fewer columns than this header: a clear format error, not a hang
        with pytest.raises(SettlementFormatError):
            parse_settlement(data)


@pytest.mark.parametrize("how", ["bytes", "path", "stream"])
def test_a_plain_file_over_the_size_cap_is_refused_before_reading(monkeypatch, tmp_path, how):
    import io

    from airflow_provider_amznetsuite.domain.settlement import parse as parse_mod
    from airflow_provider_amznetsuite.domain.settlement.parse import SettlementFormatError

    monkeypatch.setattr(parse_mod, "MAX_DECOMPRESSED_BYTES", 1024 * 1024)
    rows = [row("Order", "ItemPrice", "Principal", Decimal("5.00"), order_id="2")]
    data = render(dict(SUMMARY, **{"total-amount": Decimal("5.00")}), rows) + b"\n" * (2 * 1024 * 1024)

    class OneWay(io.RawIOBase):  # a non-seekable stream (spooled by the reader)
        def __init__(self) -> None:
            self._b = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, b):  # type: ignore[no-untyped-def]
            return self._b.readinto(b)

    if how == "path":
        (tmp_path / "s.txt").write_bytes(data)
        source = tmp_path / "s.txt"
    else:
        source = data if how == "bytes" else OneWay()
    with pytest.raises(SettlementFormatError, match="larger than"):
        parse_settlement(source)


@pytest.mark.parametrize("size", [300_000, 5_000_000])
def test_an_overlong_line_is_quarantined_without_being_held_and_the_rest_proceeds(size):
    from airflow_provider_amznetsuite.domain.settlement.parse import MAX_LINE_BYTES

    rows = [row("Order", "ItemPrice", "Principal", Decimal("10.00"), order_id="1"),
            {"__raw__": "x" * size},
            row("Order", "ItemPrice", "Principal", Decimal("5.00"), order_id="2")]
    p = parse_settlement(render(dict(SUMMARY, **{"total-amount": Decimal("15.00")}), rows))
    assert [r.order_id for r in p.rows] == ["1", "2"]
    (q,) = p.quarantined
    assert q.line == 4 and f"{size + 1:,} bytes long, over the {MAX_LINE_BYTES:,}-byte limit" in q.reason
    assert p.rows[1].line == 5
