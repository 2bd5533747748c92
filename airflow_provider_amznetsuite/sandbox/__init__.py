"""Local sandboxes that behave like Amazon's SP-API and Oracle NetSuite (real HTTP on loopback).

Independent implementations: nothing here imports the provider's hooks, domain, operators, config
or state. Entry point: :func:`start_sandboxes` (``amznetsuite sandbox serve`` on the command line).
"""

from __future__ import annotations

from typing import Any

__all__ = ["Sandboxes", "start_sandboxes"]


def __getattr__(name: str) -> Any:  # lazy: importing sandbox.catalog must stay cheap
    if name in __all__:
        from airflow_provider_amznetsuite.sandbox import runner

        return getattr(runner, name)
    raise AttributeError(name)
