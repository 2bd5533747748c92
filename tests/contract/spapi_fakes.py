"""Test doubles shared by the SP-API hook/trigger tests: fake clock, realistic fake secrets, connections,
and a recorder that validates every SP-API request a hook sends against Amazon's models."""

from __future__ import annotations

import datetime as dt
import json
import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests
from airflow.sdk import Connection

from airflow_provider_amznetsuite.hooks.ratelimit import RateLimiterRegistry
from airflow_provider_amznetsuite.hooks.spapi import LwaTokenCache, SpApiHook
from tests.contract.swagger import check_request

# Realistic shapes and lengths (LWA client ids/secrets, Atzr|/Atza| tokens are several hundred chars).
CLIENT_ID = "amzn1.application-oa2-client.4f2a9c1e7b3d4e5f8a6b0c9d2e1f3a4b"
CLIENT_SECRET = "amzn1.oa2-cs.v1.9c8e7d6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5"
REFRESH_TOKEN = "Atzr|IwEBIA" + "Q7vR2mXk9pL4sT8wZ1cB6nJ3hF5dG0yU_" * 9 + "kq"
ACCESS_TOKEN = "Atza|IwEBIE" + "pN4wQ8zT1kR6mB3xV9cL2sH7jF5dG0aY-" * 9 + "Zx"
ACCESS_TOKEN_2 = "Atza|IwEBIF" + "bH7kD2qW9nM4vS1xC8zL5rT3jG6fP0eY_" * 9 + "Qw"
SECRETS = (CLIENT_SECRET, REFRESH_TOKEN, ACCESS_TOKEN, ACCESS_TOKEN_2)

EU_HOST = "https://sellingpartnerapi-eu.amazon.com"
LWA_URL = "https://api.amazon.com/auth/o2/token"
FIXED_NOW = dt.datetime(2026, 3, 1, 12, 0, 0, tzinfo=dt.UTC)


class FakeClock:
    """Monotonic clock whose ``sleep`` advances time instantly (thread-safe)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += max(0.0, seconds)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


def make_connection(conn_id: str = "spapi_test", **extra: Any) -> Connection:
    base = {"refresh_token": REFRESH_TOKEN, "region": "eu", "seller_id": "A2SELLER0TEST"}
    base.update(extra)
    return Connection(conn_id=conn_id, conn_type="amazon_sp_api", login=CLIENT_ID, password=CLIENT_SECRET,
                      extra=json.dumps({k: v for k, v in base.items() if v is not None}))


def make_hook(clock: FakeClock | None = None, *, conn: Connection | None = None, now: dt.datetime = FIXED_NOW,
              **kwargs: Any) -> SpApiHook:
    clock = clock or FakeClock()
    conn = conn or make_connection()
    registry = RateLimiterRegistry(clock=clock)
    return SpApiHook(
        conn.conn_id,
        connection=conn,
        rate_limiter=registry,
        token_cache=LwaTokenCache(),
        sleep=clock.sleep,
        clock=clock,
        now=lambda: now,
        rng=random.Random(7),
        **kwargs,
    )


class ContractRecorder:
    """Captures every request a hook's session sends to the SP-API base URL and validates it."""

    def __init__(self) -> None:
        self.requests: list[requests.PreparedRequest] = []

    def attach(self, hook: SpApiHook) -> SpApiHook:
        base = hook.settings.base_url

        def record(response: requests.Response, *args: Any, **kwargs: Any) -> None:
            req = response.request
            if req is not None and req.url and req.url.startswith(base + "/"):
                self.requests.append(req)

        hook.session.hooks["response"].append(record)
        return hook

    def problems(self) -> list[str]:
        out = []
        for req in self.requests:
            result = check_request(req)
            out.extend(f"{req.method} {req.path_url.split('?')[0]}: {p}" for p in result.problems)
        return out

    def assert_valid(self) -> None:
        problems = self.problems()
        assert not problems, "requests violating Amazon's models:\n  " + "\n  ".join(problems)


@contextmanager
def env_connection(monkeypatch: Any, conn_id: str, *, endpoint: str, lwa_token_url: str,
                   extra: dict[str, Any] | None = None) -> Iterator[None]:
    """Expose a connection through ``AIRFLOW_CONN_<ID>`` (JSON form), as Airflow does for env connections."""
    payload = {
        "conn_type": "amazon_sp_api", "login": CLIENT_ID, "password": CLIENT_SECRET,
        "extra": {"refresh_token": REFRESH_TOKEN, "region": "na", "endpoint": endpoint, "lwa_token_url": lwa_token_url,
                  **(extra or {})},
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(payload))
    yield
