"""Token buckets: burst then steady rate, header adaptation, time scale, registry sharing, thread safety.

All timing uses an injected clock; nothing sleeps on the wall clock.
"""

from __future__ import annotations

import math
import threading

import pytest

from airflow_provider_amznetsuite.hooks.ratelimit import (
    USAGE_PLANS,
    RateLimiterRegistry,
    TokenBucket,
    UsagePlan,
    parse_rate_limit_header,
)
from tests.contract.spapi_fakes import FakeClock


def send_times(bucket: TokenBucket, clock: FakeClock, n: int) -> list[float]:
    """Acquire n tokens back to back; return the clock time at which each request would be sent."""
    start = clock()
    out = []
    for _ in range(n):
        bucket.acquire(sleep=clock.sleep)
        out.append(round(clock() - start, 9))
    return out


def test_burst_then_steady_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(2.0, 3, clock=clock)
    assert send_times(bucket, clock, 7) == [0.0, 0.0, 0.0, 0.5, 1.0, 1.5, 2.0]


def test_search_orders_plan_long_run_is_exactly_the_ceiling() -> None:
    clock = FakeClock()
    plan = USAGE_PLANS["searchOrders"]
    bucket = TokenBucket(plan.rate, plan.burst, clock=clock)
    times = send_times(bucket, clock, 100)
    assert times[19] == 0.0  # burst of 20 goes out at once
    assert times[20] == pytest.approx(1 / 0.0056)
    assert times[-1] == pytest.approx(80 / 0.0056)


def test_refill_is_capped_at_burst() -> None:
    clock = FakeClock()
    bucket = TokenBucket(0.5, 30, clock=clock)
    for _ in range(30):
        assert bucket.reserve() == 0.0
    clock.advance(10_000)
    assert bucket.tokens() == 30.0
    assert send_times(bucket, clock, 31)[-1] == pytest.approx(2.0)


def test_wait_time_peeks_without_taking() -> None:
    clock = FakeClock()
    bucket = TokenBucket(2.0, 1, clock=clock)
    assert bucket.wait_time() == 0.0
    assert bucket.reserve() == 0.0
    assert bucket.wait_time() == pytest.approx(0.5)
    assert bucket.wait_time() == pytest.approx(0.5)  # unchanged: peeking consumed nothing
    clock.advance(0.25)
    assert bucket.wait_time() == pytest.approx(0.25)


def test_penalize_after_429_empties_the_bucket_and_refund_returns_a_token() -> None:
    clock = FakeClock()
    bucket = TokenBucket(0.5, 30, clock=clock)
    assert bucket.tokens() == 30.0
    bucket.penalize()
    assert bucket.tokens() == 0.0
    assert bucket.reserve() == pytest.approx(2.0)
    bucket.refund()
    assert bucket.tokens() == 0.0
    assert bucket.reserve() == pytest.approx(2.0)


def test_429s_in_a_row_halve_the_rate_down_to_a_floor_and_successes_restore_it() -> None:
    clock = FakeClock()
    bucket = TokenBucket(2.0, 1, clock=clock)
    waits = []
    for _ in range(8):
        bucket.penalize()
        waits.append(bucket.reserve())
        clock.advance(waits[-1])
    assert waits == pytest.approx([0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0, 8.0])  # 1/16 of the plan at most
    assert bucket.backoff_factor == 1 / 16
    factors = []
    for _ in range(6):
        bucket.recover()
        factors.append(bucket.backoff_factor)
    assert factors == [1 / 8, 1 / 4, 1 / 2, 1.0, 1.0, 1.0]
    assert bucket.rate == 2.0
    # a single 429 between successes costs one refill, as before: no backoff builds up
    for _ in range(5):
        bucket.penalize()
        bucket.recover()
    assert bucket.backoff_factor == 1.0


def test_rate_adapts_from_header() -> None:
    clock = FakeClock()
    bucket = TokenBucket(4.0, 1, clock=clock)
    assert bucket.reserve() == 0.0
    assert bucket.update_rate(2.0) is True
    assert bucket.update_rate(2.0) is False  # unchanged value
    assert bucket.nominal_rate == 2.0
    assert bucket.reserve() == pytest.approx(0.5)
    assert bucket.update_rate(0.0) is False and bucket.update_rate(float("nan")) is False
    assert bucket.nominal_rate == 2.0


@pytest.mark.parametrize("announced", [4.0, 50.0, 1e6])
def test_a_learnt_rate_never_exceeds_the_usage_plan(announced: float) -> None:
    """A x100 mis-scaled header used to produce 96 % throttled requests (issue #18 item 11)."""
    clock = FakeClock()
    bucket = TokenBucket(0.5, 1, clock=clock)
    bucket.update_rate(announced)
    assert bucket.nominal_rate == 0.5
    bucket.reserve()
    assert bucket.reserve() == pytest.approx(2.0)  # still one token per 2 s
    bucket.update_rate(0.25)  # lower rates are still adopted
    assert bucket.nominal_rate == 0.25


def test_rate_change_accounts_elapsed_time_at_the_old_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(1.0, 10, clock=clock)
    for _ in range(10):
        bucket.reserve()
    clock.advance(2.0)  # +2 tokens at the old rate
    bucket.update_rate(0.1)
    assert bucket.tokens() == pytest.approx(2.0)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("0.0167", 0.0167), (" 5 ", 5.0), ("2.0", 2.0), (None, None), ("", None), ("abc", None), ("0", None),
     ("-1", None), ("inf", None), ("nan", None)],
)
def test_parse_rate_limit_header(raw: str | None, expected: float | None) -> None:
    assert parse_rate_limit_header(raw) == expected


def test_time_scale_multiplies_rate_not_burst() -> None:
    clock = FakeClock()
    bucket = TokenBucket(0.0167, 15, time_scale=100.0, clock=clock)
    assert bucket.rate == pytest.approx(1.67)
    assert bucket.burst == 15
    times = send_times(bucket, clock, 16)
    assert times[14] == 0.0
    assert times[15] == pytest.approx(1 / 1.67)
    bucket.set_time_scale(1.0)
    assert bucket.rate == pytest.approx(0.0167)


def test_invalid_parameters_are_rejected_with_clear_messages() -> None:
    with pytest.raises(ValueError, match="rate"):
        TokenBucket(0, 1)
    with pytest.raises(ValueError, match="burst"):
        UsagePlan(1.0, 0)
    with pytest.raises(ValueError, match="time_scale"):
        TokenBucket(1.0, 1, time_scale=0)


def test_registry_shares_buckets_per_key_and_operation() -> None:
    clock = FakeClock()
    registry = RateLimiterRegistry(clock=clock)
    a = registry.bucket("app|seller|eu", "getOrder")
    b = registry.bucket("app|seller|eu", "getOrder")
    other_op = registry.bucket("app|seller|eu", "getFeed")
    other_seller = registry.bucket("app|seller2|eu", "getOrder")
    assert a is b
    assert a is not other_op and a is not other_seller
    assert (a.nominal_rate, a.burst) == (0.5, 30)
    assert (other_op.nominal_rate, other_op.burst) == (2.0, 15)
    assert len(registry) == 3
    # a second caller with a different time scale re-scales the shared bucket
    assert registry.bucket("app|seller|eu", "getOrder", time_scale=10).rate == pytest.approx(5.0)


def test_registry_unknown_operation_needs_a_plan() -> None:
    registry = RateLimiterRegistry(clock=FakeClock())
    with pytest.raises(ValueError, match=r"usage_plan=\(rate, burst\)"):
        registry.bucket("k", "getSomethingNew")
    bucket = registry.bucket("k", "getSomethingNew", UsagePlan(1.0, 2))
    assert (bucket.nominal_rate, bucket.burst) == (1.0, 2)


def test_seeded_usage_plans_match_the_official_defaults() -> None:
    expected = {
        "searchOrders": (0.0056, 20), "getOrder": (0.5, 30), "confirmShipment": (2, 10),
        "createFeedDocument": (0.5, 15), "createFeed": (0.0083, 15), "getFeed": (2, 15),
        "getFeedDocument": (0.0222, 10), "createReport": (0.0167, 15), "getReport": (2, 15),
        "getReports": (0.0222, 10), "getReportDocument": (0.0167, 15), "getListingsItem": (5, 10),
        "putListingsItem": (5, 10), "patchListingsItem": (5, 5), "deleteListingsItem": (5, 5),
        "getInventorySummaries": (2, 2), "listTransactions": (0.5, 10), "getDefinitionsProductType": (5, 10),
    }
    for name, (rate, burst) in expected.items():
        assert (USAGE_PLANS[name].rate, USAGE_PLANS[name].burst) == (rate, burst), name


def test_reservations_are_thread_safe_and_queue_in_order() -> None:
    """8 threads x 50 reservations on a frozen clock: every wait k/rate for k=1..390 is handed out exactly once."""
    clock = FakeClock()
    bucket = TokenBucket(2.0, 10, clock=clock)
    waits: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        mine = [bucket.reserve() for _ in range(50)]
        with lock:
            waits.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(waits) == [0.0] * 10 + [k / 2.0 for k in range(1, 391)]
    assert bucket.tokens() == -390.0


def test_concurrent_acquire_with_time_paces_all_threads_to_the_rate() -> None:
    """Threads acquiring through a shared clock: N requests complete no earlier than (N - burst) / rate."""
    clock = FakeClock()
    bucket = TokenBucket(5.0, 5, clock=clock)
    reserved: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(25):
            w = bucket.reserve()
            with lock:
                reserved.append(w)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # the last reservation is due exactly (100 - 5) / 5 s after start: no double-booked tokens
    assert math.isclose(max(reserved), 95 / 5.0)
    assert len(set(reserved)) == len(reserved) - 4  # only the 5 burst tokens share the value 0.0
