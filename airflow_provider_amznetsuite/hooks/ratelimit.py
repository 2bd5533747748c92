"""Client-side token buckets for SP-API usage plans.

Amazon limits every operation with a token bucket per selling partner x application: ``rate`` tokens
per second refill a bucket of ``burst`` tokens, one token per request. The hook mirrors that bucket
locally so it paces itself instead of collecting 429s. Buckets live in a process-wide registry keyed
by (credential key, operation), so every hook instance for the same seller/application in one process
(worker, triggerer) shares them. Across processes use an Airflow pool per seller and region
(see ``docs/hooks-spapi.md``).

The bucket uses reservations: ``reserve()`` takes a token immediately (the balance may go negative)
and returns how long the caller must wait before sending. Concurrent callers therefore queue in
arrival order and the steady rate is exact. The clock is injectable so tests never sleep.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "REGISTRY",
    "USAGE_PLANS",
    "RateLimiterRegistry",
    "TokenBucket",
    "UsagePlan",
    "parse_rate_limit_header",
]

Clock = Callable[[], float]


@dataclass(frozen=True)
class UsagePlan:
    """Default usage plan of one operation: requests per second and bucket size."""

    rate: float
    burst: int

    def __post_init__(self) -> None:
        if not (self.rate > 0 and math.isfinite(self.rate)):
            raise ValueError(f"usage plan rate must be a positive number of requests per second, got {self.rate!r}")
        if self.burst < 1:
            raise ValueError(f"usage plan burst must be >= 1, got {self.burst!r}")


# Official default usage plans (requests/second, burst) as stated in each operation's description in
# amzn/selling-partner-api-models @ 34dc93fe (2026-08-05). The vendored models are stripped of prose,
# so the figures are kept here; tests/contract/test_spapi_contract.py checks the hook's operation table
# against them.
USAGE_PLANS: dict[str, UsagePlan] = {
    # Orders v2026-01-01
    "searchOrders": UsagePlan(0.0056, 20),
    "getOrder": UsagePlan(0.5, 30),
    # Orders v0 (only the non-deprecated write operations)
    "confirmShipment": UsagePlan(2.0, 10),
    "updateShipmentStatus": UsagePlan(5.0, 15),
    # Feeds 2021-06-30
    "createFeedDocument": UsagePlan(0.5, 15),
    "createFeed": UsagePlan(0.0083, 15),
    "getFeed": UsagePlan(2.0, 15),
    "cancelFeed": UsagePlan(2.0, 15),
    "getFeeds": UsagePlan(0.0222, 10),
    "getFeedDocument": UsagePlan(0.0222, 10),
    # Reports 2021-06-30
    "createReport": UsagePlan(0.0167, 15),
    "getReport": UsagePlan(2.0, 15),
    "getReports": UsagePlan(0.0222, 10),
    "cancelReport": UsagePlan(0.0222, 10),
    "getReportDocument": UsagePlan(0.0167, 15),
    # Listings Items 2021-08-01
    "getListingsItem": UsagePlan(5.0, 10),
    "putListingsItem": UsagePlan(5.0, 10),
    "patchListingsItem": UsagePlan(5.0, 5),
    "deleteListingsItem": UsagePlan(5.0, 5),
    "searchListingsItems": UsagePlan(5.0, 5),
    # FBA Inventory v1
    "getInventorySummaries": UsagePlan(2.0, 2),
    # Finances 2024-06-19
    "listTransactions": UsagePlan(0.5, 10),
    "listBalances": UsagePlan(0.5, 10),
    "listSummary": UsagePlan(0.5, 10),
    # Product Type Definitions 2020-09-01
    "getDefinitionsProductType": UsagePlan(5.0, 10),
    "searchDefinitionsProductTypes": UsagePlan(5.0, 10),
    # Tokens 2021-03-01, Sellers v1
    "createRestrictedDataToken": UsagePlan(1.0, 10),
    "getMarketplaceParticipations": UsagePlan(0.016, 15),
}


def parse_rate_limit_header(value: str | None) -> float | None:
    """Parse ``x-amzn-RateLimit-Limit`` (requests per second); ``None`` when absent or not a positive number."""
    if value is None:
        return None
    try:
        rate = float(str(value).strip())
    except ValueError:
        return None
    if not math.isfinite(rate) or rate <= 0:
        return None
    return rate


class TokenBucket:
    """Thread-safe token bucket with reservations.

    :param rate: nominal refill rate (tokens per second) of the usage plan
    :param burst: bucket size; the bucket starts full
    :param time_scale: multiplies the rate (e.g. 50 against a sandbox running 50x faster)
    :param clock: monotonic clock in seconds (injectable for tests)
    """

    def __init__(self, rate: float, burst: int, *, time_scale: float = 1.0, clock: Clock = time.monotonic) -> None:
        UsagePlan(rate, burst)  # validates
        if not (time_scale > 0 and math.isfinite(time_scale)):
            raise ValueError(f"time_scale must be a positive number, got {time_scale!r}")
        self._nominal_rate = float(rate)
        self._plan_rate = float(rate)  # the ceiling for rates learnt from headers
        self._burst = int(burst)
        self._scale = float(time_scale)
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens = float(burst)
        self._last = clock()
        self._strikes = 0  # 429s in a row without a success in between (backoff, see penalize)

    # -- introspection -------------------------------------------------------------------------------
    @property
    def nominal_rate(self) -> float:
        return self._nominal_rate

    @property
    def rate(self) -> float:
        """Effective refill rate (nominal rate x time scale x backoff factor)."""
        return self._nominal_rate * self._scale * self.backoff_factor

    @property
    def backoff_factor(self) -> float:
        """1 normally; halved by every further 429 in a row (down to 1/``MAX_BACKOFF``), restored by successes."""
        return 1.0 / min(2.0 ** max(self._strikes - 1, 0), self.MAX_BACKOFF)

    @property
    def burst(self) -> int:
        return self._burst

    @property
    def time_scale(self) -> float:
        return self._scale

    def tokens(self) -> float:
        """Current balance (negative while reservations are queued)."""
        with self._lock:
            self._refill(self._clock())
            return self._tokens

    # -- core ----------------------------------------------------------------------------------------
    def _refill(self, now: float) -> None:
        elapsed = now - self._last
        if elapsed > 0:
            self._tokens = min(float(self._burst), self._tokens + elapsed * self.rate)
            self._last = now

    def reserve(self) -> float:
        """Take one token now; return the seconds to wait before the request may be sent (0 if none)."""
        with self._lock:
            self._refill(self._clock())
            self._tokens -= 1.0
            return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    def refund(self) -> None:
        """Give back a reservation that will not be used."""
        with self._lock:
            self._refill(self._clock())
            self._tokens = min(float(self._burst), self._tokens + 1.0)

    def wait_time(self) -> float:
        """Seconds until one token is available, without taking it."""
        with self._lock:
            self._refill(self._clock())
            return 0.0 if self._tokens >= 1.0 else (1.0 - self._tokens) / self.rate

    def acquire(self, sleep: Callable[[float], object] = time.sleep) -> float:
        """Reserve a token and sleep until it is due; return the seconds waited."""
        wait = self.reserve()
        if wait > 0:
            sleep(wait)
        return wait

    #: slowest rate repeated 429s can push the bucket to: plan rate / 16
    MAX_BACKOFF = 16.0

    def penalize(self) -> None:
        """The server answered 429: its bucket is empty, so ours must be too (queued reservations stay).

        A 429 that follows another one without a success in between also halves the rate: while Amazon
        keeps refusing (another client on the same seller, a plan lower than announced) this bucket backs
        off exponentially — 1, 1/2, 1/4 … 1/16 of the plan — instead of retrying at the plan's pace."""
        with self._lock:
            self._refill(self._clock())
            self._tokens = min(self._tokens, 0.0)
            self._strikes = min(self._strikes + 1, 1 + int(math.log2(self.MAX_BACKOFF)))

    def recover(self) -> None:
        """A request went through: undo one step of the 429 backoff (the rate doubles back per success)."""
        if self._strikes:
            with self._lock:
                self._refill(self._clock())  # the elapsed time counts at the slower rate
                self._strikes = max(self._strikes - 1, 0)

    def refill_time(self) -> float:
        """Seconds for one token to refill at the effective rate."""
        return 1.0 / self.rate

    # -- adaptation ----------------------------------------------------------------------------------
    def update_rate(self, nominal_rate: float) -> bool:
        """Adopt the rate announced by ``x-amzn-RateLimit-Limit``; return True when it changed.

        The learnt rate never exceeds the usage plan the bucket was built with: a header that claims more
        (mis-scaled, or a proxy's) would otherwise have us send into a wall of 429s.
        """
        if not (nominal_rate > 0 and math.isfinite(nominal_rate)):
            return False
        nominal_rate = min(float(nominal_rate), self._plan_rate)
        with self._lock:
            if math.isclose(nominal_rate, self._nominal_rate, rel_tol=1e-9):
                return False
            self._refill(self._clock())  # account the elapsed time at the old rate first
            self._nominal_rate = float(nominal_rate)
            return True

    def set_time_scale(self, time_scale: float) -> None:
        if not (time_scale > 0 and math.isfinite(time_scale)):
            raise ValueError(f"time_scale must be a positive number, got {time_scale!r}")
        with self._lock:
            self._refill(self._clock())
            self._scale = float(time_scale)

    def __repr__(self) -> str:
        return f"TokenBucket(rate={self._nominal_rate}, burst={self._burst}, time_scale={self._scale})"


class RateLimiterRegistry:
    """Process-wide buckets keyed by (credential key, operation)."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self.clock = clock
        self._buckets: dict[tuple[str, str], TokenBucket] = {}
        self._lock = threading.Lock()

    def bucket(self, key: str, operation: str, plan: UsagePlan | None = None, *, time_scale: float = 1.0) -> TokenBucket:
        """Return the shared bucket, creating it from ``plan`` (default: ``USAGE_PLANS[operation]``)."""
        with self._lock:
            found = self._buckets.get((key, operation))
            if found is not None:
                if not math.isclose(found.time_scale, time_scale):
                    found.set_time_scale(time_scale)
                return found
            if plan is None:
                plan = USAGE_PLANS.get(operation)
            if plan is None:
                raise ValueError(
                    f"no usage plan known for SP-API operation {operation!r}; pass usage_plan=(rate, burst) "
                    "from the operation's documentation (requests per second, burst)"
                )
            created = TokenBucket(plan.rate, plan.burst, time_scale=time_scale, clock=self.clock)
            self._buckets[(key, operation)] = created
            return created

    def get(self, key: str, operation: str) -> TokenBucket | None:
        with self._lock:
            return self._buckets.get((key, operation))

    def clear(self) -> None:
        with self._lock:
            self._buckets.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._buckets)


#: The registry every hook uses unless one is injected.
REGISTRY = RateLimiterRegistry()
