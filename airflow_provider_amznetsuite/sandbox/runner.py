"""Start both sandboxes (SP-API and NetSuite) together; ``amznetsuite sandbox serve`` uses :func:`serve`.

    with start_sandboxes(seed=42, time_scale=50) as sbx:
        os.environ.update(sbx.connection_env())   # AIRFLOW_CONN_AMAZON_SP_API_DEFAULT / _NETSUITE_DEFAULT
        ...

The NetSuite half is imported lazily so the SP-API sandbox also runs alone (``netsuite=False``).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Sequence
from datetime import datetime
from types import FrameType
from typing import Any

from airflow_provider_amznetsuite.sandbox.spapi import credentials as spapi_creds
from airflow_provider_amznetsuite.sandbox.spapi.server import SpApiSandbox
from airflow_provider_amznetsuite.sandbox.spapi.server import create_server as create_spapi
from airflow_provider_amznetsuite.sandbox.spapi.util import parse_iso

SPAPI_CONN_ENV = "AIRFLOW_CONN_AMAZON_SP_API_DEFAULT"
NETSUITE_CONN_ENV = "AIRFLOW_CONN_NETSUITE_DEFAULT"


class Sandboxes:
    """Both running sandboxes; a context manager that stops them on exit."""

    def __init__(self, spapi: SpApiSandbox, netsuite: Any | None, *, time_scale: float,
                 netsuite_concurrency: int) -> None:
        self.spapi = spapi
        self.netsuite = netsuite
        self.time_scale = time_scale
        self.netsuite_concurrency = netsuite_concurrency

    @property
    def spapi_url(self) -> str:
        return self.spapi.url

    @property
    def netsuite_url(self) -> str | None:
        return self.netsuite.url if self.netsuite is not None else None

    def connection_env(self) -> dict[str, str]:
        """``AIRFLOW_CONN_*`` values (Airflow's JSON connection form) pointing at the sandboxes."""
        env = {SPAPI_CONN_ENV: spapi_creds.connection_json(self.spapi_url, time_scale=self.time_scale)}
        if self.netsuite is not None:
            from airflow_provider_amznetsuite.sandbox.netsuite.credentials import connection_extra

            extra = dict(connection_extra(self.netsuite.url, auth_type="oauth2"))
            extra["base_url"] = self.netsuite.url
            extra["concurrency"] = self.netsuite_concurrency
            env[NETSUITE_CONN_ENV] = json.dumps({"conn_type": "netsuite", "host": self.netsuite.url, "extra": extra})
        return env

    def stop(self) -> None:
        errors: list[BaseException] = []
        for server in (self.spapi, self.netsuite):
            if server is None:
                continue
            try:
                server.shutdown()
            except Exception as exc:  # stop the other one anyway
                errors.append(exc)
        if errors:
            raise errors[0]

    def __enter__(self) -> Sandboxes:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _netsuite_available() -> bool:
    try:
        import airflow_provider_amznetsuite.sandbox.netsuite.server  # noqa: F401
    except ImportError:
        return False
    return True


def start_sandboxes(*, spapi_port: int = 0, netsuite_port: int = 0, seed: int = 42, catalog_size: int = 60,
                    time_scale: float = 1.0, faults: Any = None, netsuite_faults: Any = None, latency_ms: int = 0,
                    netsuite_db: str = ":memory:", netsuite_concurrency: int = 5, orders_per_day: int = 60,
                    days: int = 3, now: datetime | str | None = None, netsuite: bool = True,
                    host: str = "127.0.0.1", unknown_sku_orders: int = 0, **spapi_options: Any) -> Sandboxes:
    """Create and start the SP-API sandbox and (unless ``netsuite=False``) the NetSuite sandbox."""
    spapi = create_spapi(host, spapi_port, seed=seed, catalog_size=catalog_size, orders_per_day=orders_per_day,
                         days=days, now=now, time_scale=time_scale, faults=faults, latency_ms=latency_ms,
                         unknown_sku_orders=unknown_sku_orders, **spapi_options).start()
    ns = None
    if netsuite:
        try:
            from airflow_provider_amznetsuite.sandbox.netsuite.server import create_server as create_netsuite

            ns = create_netsuite(host, netsuite_port, seed=seed, catalog_size=catalog_size, db_path=netsuite_db,
                                 concurrency_limit=netsuite_concurrency, faults=netsuite_faults,
                                 latency_ms=latency_ms).start()
        except BaseException:
            spapi.shutdown()
            raise
    return Sandboxes(spapi, ns, time_scale=time_scale, netsuite_concurrency=netsuite_concurrency)


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``amznetsuite sandbox serve`` (for a stand-alone parser; cli.py declares its own)."""
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--spapi-port", type=int, default=8701)
    parser.add_argument("--netsuite-port", type=int, default=8702)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument("--faults", default=None, help='SP-API fault rate ("0.2") or JSON object')
    parser.add_argument("--netsuite-faults", default=None, help="NetSuite sandbox faults (JSON object)")
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument("--netsuite-db", default=None)
    parser.add_argument("--now", default=None, help="business time: 'real' (default) or an ISO-8601 instant")
    parser.add_argument("--no-netsuite", action="store_true", help="serve the SP-API sandbox only")
    parser.add_argument("--print-connections", action="store_true")


def serve(args: argparse.Namespace, *, stop_event: threading.Event | None = None) -> int:
    """Serve until SIGINT/SIGTERM (or ``stop_event``); business time follows the wall clock by default."""
    now_arg = getattr(args, "now", None) or "real"
    now: datetime | str = "real" if now_arg == "real" else parse_iso(now_arg)
    faults = getattr(args, "faults", None)
    ns_faults = getattr(args, "netsuite_faults", None)
    if isinstance(ns_faults, str) and ns_faults.strip():
        ns_faults = json.loads(ns_faults)
    try:
        sbx = start_sandboxes(spapi_port=args.spapi_port, netsuite_port=args.netsuite_port,
                              seed=getattr(args, "seed", 42), time_scale=getattr(args, "time_scale", 1.0),
                              faults=faults, netsuite_faults=ns_faults or None,
                              latency_ms=getattr(args, "latency_ms", 0),
                              netsuite_db=getattr(args, "netsuite_db", None) or ":memory:", now=now,
                              netsuite=not getattr(args, "no_netsuite", False),
                              host=getattr(args, "host", "127.0.0.1"))
    except (ValueError, OSError) as exc:
        print(f"sandbox serve: {exc}", file=sys.stderr)
        return 2
    stop = stop_event or threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, _on_signal)
    try:
        print(f"SP-API sandbox:   {sbx.spapi_url}  (inspection: {sbx.spapi_url}/_sandbox/stats)", file=sys.stderr)
        if sbx.netsuite_url:
            print(f"NetSuite sandbox: {sbx.netsuite_url}", file=sys.stderr)
        if getattr(args, "print_connections", False):
            for name, value in sbx.connection_env().items():
                print(f"{name}={value}")
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sbx.stop()
        print("sandboxes stopped", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m airflow_provider_amznetsuite.sandbox.runner",
                                     description="Serve the SP-API and NetSuite sandboxes on loopback.")
    add_serve_arguments(parser)
    return serve(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
