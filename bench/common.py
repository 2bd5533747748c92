"""Shared pieces of the benchmarks: sandboxes in a child process, hook construction, machine facts.

The sandboxes run in a separate process (``multiprocessing`` spawn) so that the client under test —
our hooks or the peer library — does not share a GIL with the server it talks to, as with the real
Amazon and NetSuite. Everything is on loopback.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import platform
import sys
import time
from collections.abc import Mapping
from datetime import datetime
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------------------------------
# sandboxes in a child process
# --------------------------------------------------------------------------------------------------
def _serve(kind: str, options: dict[str, Any], pipe: Pipe) -> None:  # runs in the child
    if kind == "spapi":
        from airflow_provider_amznetsuite.sandbox.spapi.server import create_server as create_spapi

        server: Any = create_spapi(**options).start()
    elif kind == "netsuite":
        from airflow_provider_amznetsuite.sandbox.netsuite.server import create_server as create_netsuite

        server = create_netsuite(**options).start()
    else:  # pragma: no cover - programming error
        raise ValueError(f"unknown sandbox kind {kind!r}")
    pipe.send(server.url)
    try:
        pipe.recv()  # any message (or the parent going away) stops the server
    except EOFError:
        pass
    finally:
        server.shutdown()


class SandboxProcess:
    """One sandbox (``kind`` = ``spapi`` or ``netsuite``) served by a child process on 127.0.0.1."""

    def __init__(self, kind: str, **options: Any) -> None:
        self.kind = kind
        self.options = options
        ctx = multiprocessing.get_context("spawn")
        self._pipe, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(kind, options, child), daemon=True,
                                 name=f"{kind}-sandbox")
        self._proc.start()
        deadline = time.monotonic() + 120
        while not self._pipe.poll(0.2):
            if not self._proc.is_alive():
                raise RuntimeError(f"the {kind} sandbox process exited with {self._proc.exitcode} before serving")
            if time.monotonic() > deadline:
                self._proc.kill()
                raise RuntimeError(f"the {kind} sandbox did not start within 120 s")
        self.url: str = self._pipe.recv()

    def get(self, path: str, **params: Any) -> Any:
        r = requests.get(self.url + path, params=params, timeout=60)
        r.raise_for_status()
        return r.json()

    def control(self, payload: Mapping[str, Any]) -> Any:
        r = requests.post(self.url + "/_sandbox/control", json=dict(payload), timeout=60)
        r.raise_for_status()
        return r.json()

    def stop(self) -> None:
        if self._proc.is_alive():
            try:
                self._pipe.send("stop")
            except (BrokenPipeError, OSError):
                pass
            self._proc.join(15)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join(5)

    def __enter__(self) -> SandboxProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def sandbox_now(sandbox: SandboxProcess) -> datetime:
    """Business time of an SP-API sandbox (frozen unless it was started with now='real')."""
    return datetime.fromisoformat(sandbox.get("/_sandbox/orders")["now"])


# --------------------------------------------------------------------------------------------------
# hooks on a sandbox
# --------------------------------------------------------------------------------------------------
def spapi_connection(url: str, conn_id: str, time_scale: float) -> Any:
    from airflow.sdk import Connection

    from airflow_provider_amznetsuite.sandbox.spapi import credentials as creds

    payload = json.loads(creds.connection_json(url, time_scale=time_scale))
    return Connection(conn_id=conn_id, conn_type="amazon_sp_api", login=payload["login"], password=payload["password"],
                      extra=json.dumps(payload["extra"]))


def set_netsuite_connection(url: str, conn_id: str, *, concurrency: int, auth_type: str = "oauth2",
                            alg: str = "PS256") -> str:
    """Expose a NetSuite connection to the hook through ``AIRFLOW_CONN_<ID>``; returns the conn id."""
    from airflow_provider_amznetsuite.sandbox.netsuite import credentials as creds

    extra = creds.connection_extra(url, auth_type, alg)  # type: ignore[arg-type]
    extra["concurrency"] = concurrency
    os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps({"conn_type": "netsuite", "host": url, "extra": extra})
    return conn_id


def quiet_airflow_logs() -> None:
    """Keep the hooks' info logs (one line per 429 retry) off stdout and out of the timings.

    Must run before Airflow is imported: it sets Airflow's ``[logging] logging_level`` for this process.
    """
    os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "ERROR"


# --------------------------------------------------------------------------------------------------
# output and facts
# --------------------------------------------------------------------------------------------------
def emit(result: Mapping[str, Any]) -> None:
    """The one JSON document a benchmark prints on stdout (run.py reads the last line)."""
    sys.stdout.write(json.dumps(result, sort_keys=False, default=str) + "\n")
    sys.stdout.flush()


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except (OSError, ValueError):
        pass
    return None


def machine_facts() -> dict[str, Any]:
    facts: dict[str, Any] = {
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model(),
        "memory_gib": memory_gib(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "load_average_at_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }
    for dist, key in (("apache-airflow", "airflow"), ("airflow-provider-amznetsuite", "provider"),
                      ("python-amazon-sp-api", "python_amazon_sp_api"), ("requests", "requests")):
        try:
            from importlib.metadata import version

            facts[key] = version(dist)
        except Exception:  # noqa: BLE001 - not installed
            facts[key] = None
    return facts


class Stopwatch:
    def __enter__(self) -> Stopwatch:
        self.start = time.perf_counter()
        self.elapsed = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.elapsed = time.perf_counter() - self.start
