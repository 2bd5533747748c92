"""The sandbox's two clocks.

* **Business time** (``now()``): the instant the sandbox believes it is. Order timestamps, the
  "Before must be 2 minutes before now" rule, report/feed ``createdTime`` use it. By default it is
  frozen at :data:`DEFAULT_NOW` so tests are deterministic; ``advance()``/``set()`` move it. With
  ``now="real"`` it follows the wall clock (plus any offset from ``advance()``), for the demo.
* **Real time** (``mono()``): ``time.monotonic``; token buckets, feed/report processing delays,
  pagination-token and access-token lifetimes use it, divided by ``time_scale`` where the SP-API
  limit itself is time based (rates, the 30 s inventory ``nextToken``, feed processing).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

DEFAULT_NOW = datetime(2026, 10, 15, 12, 0, 0, tzinfo=UTC)


class SandboxClock:
    def __init__(self, now: datetime | str | None = None, *, time_scale: float = 1.0,
                 monotonic: Callable[[], float] = time.monotonic,
                 wall: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        if time_scale <= 0:
            raise ValueError(f"time_scale must be > 0, got {time_scale!r}")
        self.time_scale = float(time_scale)
        self._monotonic = monotonic
        self._wall = wall
        self._lock = threading.Lock()
        self.real = now == "real"
        if isinstance(now, str) and now != "real":
            raise ValueError(f"now must be a datetime, None or 'real', got {now!r}")
        if self.real:
            self._offset = timedelta(0)
            self._fixed = None
        else:
            fixed = DEFAULT_NOW if now is None else now
            if not isinstance(fixed, datetime) or fixed.tzinfo is None:
                raise ValueError("now must be a timezone-aware datetime")
            self._fixed = fixed.astimezone(UTC).replace(microsecond=0)

    def now(self) -> datetime:
        with self._lock:
            if self._fixed is not None:
                return self._fixed
            return (self._wall() + self._offset).replace(microsecond=0)

    def advance(self, minutes: float) -> datetime:
        delta = timedelta(minutes=minutes)
        with self._lock:
            if self._fixed is not None:
                self._fixed += delta
            else:
                self._offset += delta
        return self.now()

    def set(self, dt: datetime) -> datetime:
        if dt.tzinfo is None:
            raise ValueError("set_now needs a timezone-aware datetime")
        with self._lock:
            if self._fixed is not None:
                self._fixed = dt.astimezone(UTC).replace(microsecond=0)
            else:
                self._offset = dt.astimezone(UTC) - self._wall()
        return self.now()

    def mono(self) -> float:
        """Real monotonic seconds."""
        return self._monotonic()

    def scaled(self, seconds: float) -> float:
        """An SP-API duration in seconds, shortened by ``time_scale`` (real seconds)."""
        return seconds / self.time_scale
