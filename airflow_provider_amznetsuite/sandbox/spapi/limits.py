"""Rate limits (token buckets from Amazon's default usage plans) and fault injection."""

from __future__ import annotations

import json
import random
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_amznetsuite.sandbox.spapi.clock import SandboxClock

# operation -> (rate per second, burst), Amazon's default usage plans (models / usage-plan docs).
USAGE_PLANS: dict[str, tuple[float, int]] = {
    "searchOrders": (0.0056, 20),
    "getOrder": (0.5, 30),
    "confirmShipment": (2.0, 10),
    "createFeedDocument": (0.5, 15),
    "createFeed": (0.0083, 15),
    "getFeed": (2.0, 15),
    "cancelFeed": (2.0, 15),
    "getFeeds": (0.0222, 10),
    "getFeedDocument": (0.0222, 10),
    "createReport": (0.0167, 15),
    "getReport": (2.0, 15),
    "getReports": (0.0222, 10),
    "cancelReport": (0.0222, 10),
    "getReportDocument": (0.0167, 15),
    "getListingsItem": (5.0, 10),
    "putListingsItem": (5.0, 10),
    "patchListingsItem": (5.0, 5),
    "deleteListingsItem": (5.0, 5),
    "getInventorySummaries": (2.0, 2),
    "listTransactions": (0.5, 10),
    "getDefinitionsProductType": (5.0, 10),
    "searchDefinitionsProductTypes": (5.0, 10),
}
# Feed-type throttles, separate from createFeed's bucket: (feeds, per seconds) per region.
FEED_TYPE_LIMITS: dict[str, tuple[int, float]] = {"JSON_LISTINGS_FEED": (5, 300.0)}
QUOTA_MESSAGE = "You exceeded your quota for the requested resource."


@dataclass
class _Bucket:
    rate: float
    burst: int
    tokens: float
    stamp: float


class RateLimiter:
    """One token bucket per operation (one seller x application), refilled at ``rate * time_scale``."""

    def __init__(self, clock: SandboxClock, plans: dict[str, tuple[float, int]] | None = None) -> None:
        self.clock = clock
        self.plans = dict(USAGE_PLANS if plans is None else plans)
        self._buckets: dict[str, _Bucket] = {}
        self._feed_windows: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def rate_header(self, operation: str) -> str | None:
        plan = self.plans.get(operation)
        return None if plan is None else f"{plan[0]:g}"

    def acquire(self, operation: str) -> bool:
        """Take one token; False when the bucket is empty (the caller answers 429)."""
        plan = self.plans.get(operation)
        if plan is None:
            return True
        now = self.clock.mono()
        with self._lock:
            b = self._buckets.get(operation)
            if b is None:
                b = self._buckets[operation] = _Bucket(plan[0], plan[1], float(plan[1]), now)
            b.tokens = min(float(b.burst), b.tokens + (now - b.stamp) * b.rate * self.clock.time_scale)
            b.stamp = now
            if b.tokens >= 1.0:
                b.tokens -= 1.0
                return True
            return False

    def acquire_feed_type(self, feed_type: str, region: str) -> bool:
        limit = FEED_TYPE_LIMITS.get(feed_type)
        if limit is None:
            return True
        count, per = limit
        window = self.clock.scaled(per)
        now = self.clock.mono()
        with self._lock:
            q = self._feed_windows.setdefault((feed_type, region), deque())
            while q and q[0] <= now - window:
                q.popleft()
            if len(q) >= count:
                return False
            q.append(now)
            return True

    def reset(self) -> None:
        with self._lock:
            self._buckets.clear()
            self._feed_windows.clear()


FAULT_KINDS = ("429", "5xx", "slow", "drop", "expired_token", "expired_pagination")


@dataclass
class FaultDecision:
    kind: str  # one of FAULT_KINDS


@dataclass
class FaultInjector:
    """Deterministic fault injection: one seeded draw per eligible request, in arrival order.

    ``rate`` applies to every SP-API operation, ``operations`` overrides it per operation name
    (also for ``lwaToken``, ``uploadDocument`` and ``downloadDocument``, which are never faulted
    unless named there). A ``429`` starts a storm: the next ``storm_length - 1`` requests of that
    operation are throttled too. ``expired_pagination`` only hits requests carrying a
    pagination/next token and ``expired_token`` only authenticated calls; kinds that cannot apply
    to a request are not drawn for it.

    Effects: ``429`` → 429 QuotaExceeded; ``5xx`` → 500 InternalFailure / 503 ServiceUnavailable;
    ``slow`` → the answer is delayed by ``slow_seconds`` (real seconds) and then served normally;
    ``drop`` → the socket is closed without a response; ``expired_token`` → the caller's access token
    expires now (403 Unauthorized "...has expired", a fresh LWA token works); ``expired_pagination``
    → the request's paginationToken/nextToken expires now (400 InvalidInput).
    """

    rate: float = 0.0
    kinds: tuple[str, ...] = FAULT_KINDS
    operations: dict[str, float] = field(default_factory=dict)
    seed: int = 1
    storm_length: int = 3
    slow_seconds: float = 1.5
    _rng: random.Random = field(init=False, repr=False)
    _storms: dict[str, int] = field(init=False, repr=False, default_factory=dict)
    _lock: threading.Lock = field(init=False, repr=False, default_factory=threading.Lock)
    injected: dict[str, int] = field(init=False, default_factory=dict)

    SPECIAL_OPERATIONS = frozenset({"lwaToken", "uploadDocument", "downloadDocument"})

    def __post_init__(self) -> None:
        bad = [k for k in self.kinds if k not in FAULT_KINDS]
        if bad:
            raise ValueError(f"unknown fault kind(s) {bad}; expected a subset of {list(FAULT_KINDS)}")
        if not 0 <= self.rate <= 1 or any(not 0 <= v <= 1 for v in self.operations.values()):
            raise ValueError("fault rates must be between 0 and 1")
        self.kinds = tuple(self.kinds)
        self._rng = random.Random(self.seed)

    @classmethod
    def from_spec(cls, spec: Any) -> FaultInjector:
        """``None`` | a rate (``0.2`` or ``"0.2"``) | a dict / JSON object with rate, kinds, operations, seed."""
        if spec is None or spec == "" or spec == {}:
            return cls()
        if isinstance(spec, FaultInjector):
            return spec
        if isinstance(spec, str):
            text = spec.strip()
            spec = json.loads(text) if text.startswith("{") else float(text)
        if isinstance(spec, (int, float)):
            return cls(rate=float(spec))
        if not isinstance(spec, dict):
            raise ValueError(f"faults must be a rate or a dict, got {type(spec).__name__}")
        known = {"rate", "kinds", "operations", "seed", "storm_length", "slow_seconds"}
        unknown = set(spec) - known
        if unknown:
            raise ValueError(f"unknown faults key(s) {sorted(unknown)}; expected {sorted(known)}")
        return cls(rate=float(spec.get("rate", 0.0)), kinds=tuple(spec.get("kinds", FAULT_KINDS)),
                   operations={k: float(v) for k, v in (spec.get("operations") or {}).items()},
                   seed=int(spec.get("seed", 1)), storm_length=int(spec.get("storm_length", 3)),
                   slow_seconds=float(spec.get("slow_seconds", 1.5)))

    @property
    def enabled(self) -> bool:
        return self.rate > 0 or any(self.operations.values())

    def decide(self, operation: str, *, authenticated: bool = True, paginated: bool = False) -> FaultDecision | None:
        if not self.enabled:
            return None
        with self._lock:
            storm = self._storms.get(operation, 0)
            if storm > 0:
                self._storms[operation] = storm - 1
                self._count("429")
                return FaultDecision("429")
            if operation in self.SPECIAL_OPERATIONS:
                p = self.operations.get(operation, 0.0)
            else:
                p = self.operations.get(operation, self.rate)
            if p <= 0:
                return None
            if self._rng.random() >= p:
                return None
            eligible = [k for k in self.kinds
                        if not (k == "expired_pagination" and not paginated)
                        and not (k == "expired_token" and not authenticated)]
            if not eligible:
                return None
            kind = self._rng.choice(eligible)
            if kind == "429" and self.storm_length > 1:
                self._storms[operation] = self.storm_length - 1
            self._count(kind)
            return FaultDecision(kind)

    def _count(self, kind: str) -> None:
        self.injected[kind] = self.injected.get(kind, 0) + 1
