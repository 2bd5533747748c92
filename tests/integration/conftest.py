"""Shared fixtures for tests that go through the local sandboxes over real HTTP.

* ``sandboxes`` (session): both sandboxes (SP-API + NetSuite when its package is importable),
  business time frozen at the SP-API sandbox's fixed instant, ``time_scale=100`` so Amazon's rate
  limits and processing delays are 100x shorter (the connection tells the hook the same scale).
* ``spapi_env`` (function): sets ``AIRFLOW_CONN_AMAZON_SP_API_DEFAULT`` / ``AIRFLOW_CONN_NETSUITE_DEFAULT``
  from ``sandboxes.connection_env()`` for the duration of one test.

The session sandboxes are shared: tests must not assume they are the only writer (use SKUs / orders
they create themselves, or read-only checks).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator

import pytest

from airflow_provider_amznetsuite.sandbox.runner import Sandboxes, start_sandboxes

SESSION_TIME_SCALE = 100.0


def _netsuite_importable() -> bool:
    try:
        return importlib.util.find_spec("airflow_provider_amznetsuite.sandbox.netsuite.server") is not None
    except ImportError:
        return False


@pytest.fixture(scope="session")
def sandboxes() -> Iterator[Sandboxes]:
    sbx = start_sandboxes(seed=42, time_scale=SESSION_TIME_SCALE, netsuite=_netsuite_importable())
    try:
        yield sbx
    finally:
        sbx.stop()


@pytest.fixture
def spapi_env(sandboxes: Sandboxes, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = sandboxes.connection_env()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env
