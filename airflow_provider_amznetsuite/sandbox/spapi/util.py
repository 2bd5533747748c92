"""Small helpers shared by the SP-API sandbox modules: money, time, identifiers, API errors."""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def q2(value: Decimal) -> Decimal:
    """Quantise to cents, commercial rounding (all sandbox currencies have two minor units)."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def money(amount: Decimal, currency: str) -> dict[str, str]:
    """Orders v2026 / Listings ``Money``: ``{"amount": "12.34", "currencyCode": "GBP"}``."""
    return {"amount": f"{q2(amount):.2f}", "currencyCode": currency}


def iso(dt: datetime) -> str:
    """ISO-8601 UTC with a ``Z`` suffix and whole seconds, like Amazon's timestamps."""
    return dt.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(value: str) -> datetime:
    """Parse an ISO-8601 timestamp; naive values are taken as UTC. Raises ``ValueError``."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def floor_minute(dt: datetime) -> datetime:
    return dt.replace(second=0, microsecond=0)


def stable_rng(*parts: Any) -> random.Random:
    """A ``random.Random`` seeded from the parts (stable across processes, unlike ``hash``)."""
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def asin_for(sku: str) -> str:
    """A deterministic, ASIN-shaped identifier (B0 + 8 base-36 characters) for a SKU."""
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    n = int.from_bytes(hashlib.sha1(sku.encode()).digest()[:8], "big")
    chars = []
    for _ in range(8):
        n, r = divmod(n, 36)
        chars.append(alphabet[r])
    return "B0" + "".join(chars)


def fnsku_for(sku: str) -> str:
    return "X00" + asin_for(sku)[2:9]


class ApiError(Exception):
    """An SP-API error response: HTTP status plus Amazon's ``errors[]`` list."""

    def __init__(self, status: int, code: str, message: str, details: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        err: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            err["details"] = self.details
        return {"errors": [err]}


def invalid(message: str, details: str | None = None) -> ApiError:
    return ApiError(400, "InvalidInput", message, details)


def not_found(message: str) -> ApiError:
    return ApiError(404, "NotFound", message)


def utcnow() -> datetime:
    return datetime.now(UTC)


def days(n: float) -> timedelta:
    return timedelta(days=n)
