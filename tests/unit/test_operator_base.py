"""The sync window every operator uses: params, data interval (pendulum, as Airflow gives it), manual runs."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pendulum
import pytest

from airflow_provider_amznetsuite.operators.base import SyncWindowError, resolve_window


def test_data_interval_from_pendulum_gives_aware_stdlib_datetimes_that_survive_arithmetic():
    ctx = {"data_interval_start": pendulum.datetime(2026, 11, 25, 23, 0, tz="Europe/London"),
           "data_interval_end": pendulum.datetime(2026, 11, 26, 23, 0, tz="Europe/London"), "params": {}}
    start, end, source = resolve_window(ctx)
    assert source == "data_interval"
    assert type(start) is datetime and start.tzinfo is timezone.utc
    widened = start - timedelta(minutes=10)  # what the orders extract does with its overlap margin
    assert widened.tzinfo is not None and widened.isoformat() == "2026-11-25T22:50:00+00:00"
    assert end.isoformat() == "2026-11-26T23:00:00+00:00"


def test_explicit_params_win_and_must_carry_a_zone():
    ctx = {"data_interval_start": pendulum.datetime(2026, 1, 1), "data_interval_end": pendulum.datetime(2026, 1, 2)}
    start, end, source = resolve_window(ctx, {"window_start": "2026-11-01T00:00:00Z", "window_end": "2026-11-02T00:00:00+01:00"})
    assert (start.isoformat(), end.isoformat(), source) == ("2026-11-01T00:00:00+00:00", "2026-11-01T23:00:00+00:00", "params")
    with pytest.raises(SyncWindowError, match="Param window_start: '2026-11-01T00:00:00' has no time zone"):
        resolve_window({}, {"window_start": "2026-11-01T00:00:00", "window_end": "2026-11-02T00:00:00Z"})
    with pytest.raises(SyncWindowError, match="must be given together"):
        resolve_window({}, {"window_start": "2026-11-01T00:00:00Z"})
    with pytest.raises(SyncWindowError, match="must be after start"):
        resolve_window({}, {"window_start": "2026-11-02T00:00:00Z", "window_end": "2026-11-01T00:00:00Z"})


def test_manual_run_without_logical_date_covers_the_lookback_up_to_run_after():
    run_after = pendulum.datetime(2026, 11, 27, 12, 0, tz="UTC")
    start, end, source = resolve_window({"dag_run": SimpleNamespace(run_after=run_after), "params": {},
                                         "data_interval_start": None, "data_interval_end": None})
    assert source == "manual" and end.isoformat() == "2026-11-27T12:00:00+00:00"
    assert end - start == timedelta(hours=24)
