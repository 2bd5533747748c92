"""#18 item 6 (partial): impossible offsets and datetime-limit timestamps are row errors, never crashes."""

from __future__ import annotations

from decimal import Decimal

import pytest

from airflow_provider_amznetsuite.domain.settlement.parse import RowError, parse_settlement, parse_timestamp
from tests.fixtures.settlement.gen import SUMMARY, render, row

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
