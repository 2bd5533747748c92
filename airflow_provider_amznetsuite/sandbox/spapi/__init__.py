"""Local SP-API sandbox: ``create_server(...)`` returns an :class:`SpApiSandbox` (``.start()``, ``.url``)."""

from __future__ import annotations

from typing import Any

__all__ = ["SpApiSandbox", "create_server"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from airflow_provider_amznetsuite.sandbox.spapi import server

        return getattr(server, name)
    raise AttributeError(name)
