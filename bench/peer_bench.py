"""Peer comparison: the same order extraction with python-amazon-sp-api and with ``SpApiHook``.

Both clients page through Orders v2026-01-01 ``searchOrders`` (``createdAfter``/``createdBefore``, the
same three marketplaces, ``maxResultsPerPage=100``) against one SP-API sandbox (own process) that
enforces searchOrders' official plan (0.0056 requests/s, burst 20) × ``--time-scale``. The sandbox's
limits are reset before each client, so each starts with a full bucket. Enough orders are generated
that the extraction needs more pages than the burst: the refill rate binds.

The peer is used with the helpers it ships for this:

* ``OrdersV20260101.search_orders`` (python-amazon-sp-api ships Orders v2026-01-01), pages with its
  ``load_all_pages(next_token_param="paginationToken")`` and 429s with its ``throttle_retry()``;
* their fixed sleeps are real-time seconds tuned for Amazon's real limits, so they are divided by the
  same ``--time-scale`` as the sandbox (default ``throttle_by_seconds=2`` → 2/scale, retry ``delay=5``
  → 5/scale, ``rate=1.3``, ``tries=10``), which keeps the comparison at "the same limits";
* configuration: a marketplace object whose ``endpoint`` is the sandbox URL, credentials passed in
  code, and — the only adapter — an ``AccessTokenClient`` subclass whose ``scheme``/``host`` point at
  the sandbox's LWA endpoint (passed with the supported ``auth_token_client_class=`` argument) plus a
  ``headers`` override that sends the right ``host`` header for an ``http://`` endpoint (the library
  assumes ``https://`` and slices the scheme off by length).

The peer runs three times: (1) decorators stacked as its documentation shows (``@throttle_retry()``
over ``@load_all_pages()``: the retry wraps the generator function, so a 429 while paging is not
retried); (2) ``throttle_retry`` on each page with its default 10 tries (about 160 s of retrying at real
limits — less than searchOrders' 178 s per token once the burst is spent, so it can give up); (3)
"patient": per page with ``--patient-tries`` (default 30) — the ratio is computed on this one.

Figures: wall time of each, ``ratio`` = peer (patient) ÷ ours (> 1: ours is faster), orders found (must
equal the sandbox's, no duplicates), failures, requests and 429s seen by the sandbox.

Run:  .venv/bin/python -m bench.peer_bench [--orders-per-day 1000] [--days 3] [--time-scale 100]
Prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from bench.common import SandboxProcess

ROOT = Path(__file__).resolve().parents[1]
# Used only when python-amazon-sp-api cannot be installed into the project's venv (bench/run.py creates it).
PEER_VENV_PYTHON = ROOT / "bench" / ".peer-venv" / "bin" / "python"

MARKETPLACES = ["A1F83G8C2ARO7P", "A1PA6795UKMFR9", "ATVPDKIKX0DER"]  # UK, DE, US (the sandbox's)
PAGE_SIZE = 100


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ops(sbx: SandboxProcess) -> dict[str, Any]:
    return sbx.get("/_sandbox/stats")["operations"].get("searchOrders", {})


def ours(sbx: SandboxProcess, time_scale: float, after: dt.datetime, before: dt.datetime,
         now: dt.datetime) -> dict[str, Any]:
    from airflow_provider_amznetsuite.hooks.ratelimit import RateLimiterRegistry
    from airflow_provider_amznetsuite.hooks.spapi import LwaTokenCache, SpApiHook
    from bench.common import Stopwatch, spapi_connection

    hook = SpApiHook("spapi_peer_bench", connection=spapi_connection(sbx.url, "spapi_peer_bench", time_scale),
                     rate_limiter=RateLimiterRegistry(), token_cache=LwaTokenCache(), now=lambda: now)
    ids: list[str] = []
    failure = None
    with Stopwatch() as sw:
        try:
            for order in hook.search_orders(MARKETPLACES, created_after=after, created_before=before,
                                            max_results_per_page=PAGE_SIZE):
                ids.append(order["orderId"])
        except Exception as exc:  # noqa: BLE001 - reported as a failure
            failure = f"{type(exc).__name__}: {str(exc)[:200]}"
    hook.close()
    return {"client": "SpApiHook", "wall_s": round(sw.elapsed, 3), "ids": ids, "failure": failure}


def peer_client(url: str, time_scale: float, after: str, before: str, tries: int,
                credentials: dict[str, str], layout: str = "per_page") -> dict[str, Any]:
    """The peer extraction; needs only python-amazon-sp-api and the standard library (runs in either venv)."""
    from sp_api.api.orders.orders_2026_01_01 import OrdersV20260101
    from sp_api.auth import AccessTokenClient
    from sp_api.auth import access_token_client as token_module
    from sp_api.util import load_all_pages, throttle_retry

    token_module.cache.clear()  # its module-level LWA token cache would carry a token of another sandbox
    sandbox_lwa = type("SandboxAccessTokenClient", (AccessTokenClient,),
                       {"scheme": "http://", "host": urlsplit(url).netloc})

    class SandboxOrders(OrdersV20260101):
        @property
        def headers(self) -> dict[str, str]:
            headers = dict(super().headers)
            headers["host"] = urlsplit(self.endpoint).netloc
            return headers

    marketplace = SimpleNamespace(endpoint=url, marketplace_id=MARKETPLACES[0], region="eu-west-1")
    client = SandboxOrders(marketplace, version="2026-01-01", auth_token_client_class=sandbox_lwa,
                           credentials=credentials)

    def search(**kwargs: Any) -> Any:
        return client.search_orders(**kwargs)

    paginate = load_all_pages(throttle_by_seconds=2 / time_scale, next_token_param="paginationToken")
    retry = throttle_retry(tries=tries, delay=5 / time_scale, rate=1.3)
    if layout == "documented":
        # the library's docs stack @throttle_retry() over @load_all_pages(): the retry wraps the generator
        # function, so a 429 raised while iterating is not retried
        pages = retry(paginate(search))
    else:
        pages = paginate(retry(search))  # retry each page inside the pagination loop

    ids: list[str] = []
    failure = None
    started = time.perf_counter()
    try:
        for page in pages(createdAfter=after, createdBefore=before, marketplaceIds=MARKETPLACES,
                          maxResultsPerPage=PAGE_SIZE):
            ids.extend(o["orderId"] for o in page.payload.get("orders") or [])
    except Exception as exc:  # noqa: BLE001 - reported as a failure
        failure = f"{type(exc).__name__}: {str(exc)[:200]}"
    wall = time.perf_counter() - started
    client.close()
    label = "decorators as documented" if layout == "documented" else f"throttle_retry per page, tries={tries}"
    return {"client": f"python-amazon-sp-api ({label})", "wall_s": round(wall, 3), "ids": ids,
            "failure": failure}


def peer(sbx: SandboxProcess, time_scale: float, after: dt.datetime, before: dt.datetime,
         tries: int = 10, layout: str = "per_page") -> dict[str, Any]:
    from airflow_provider_amznetsuite.sandbox.spapi import credentials as creds

    job = {"url": sbx.url, "time_scale": time_scale, "after": _iso(after), "before": _iso(before), "tries": tries,
           "layout": layout,
           "credentials": {"refresh_token": creds.REFRESH_TOKEN, "lwa_app_id": creds.LWA_CLIENT_ID,
                           "lwa_client_secret": creds.LWA_CLIENT_SECRET}}
    if importlib.util.find_spec("sp_api") is not None:
        return peer_client(**job)
    if not PEER_VENV_PYTHON.exists():
        raise RuntimeError("python-amazon-sp-api is not installed: `pip install -e .[bench]` (or let "
                           "`python -m bench.run` create bench/.peer-venv)")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([str(PEER_VENV_PYTHON), "-m", "bench.peer_bench", "--peer-child"], input=json.dumps(job),
                         capture_output=True, text=True, cwd=str(ROOT), env=env, timeout=3600)
    if out.returncode != 0:
        raise RuntimeError(f"peer child failed ({out.returncode}): {out.stderr[-1500:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(orders_per_day: int = 350, days: int = 3, time_scale: float = 100.0, seed: int = 42,
        patient_tries: int = 30) -> dict[str, Any]:
    from bench.common import SandboxProcess, quiet_airflow_logs, sandbox_now

    quiet_airflow_logs()
    peer_version = _peer_version()
    results: dict[str, Any] = {}
    with SandboxProcess("spapi", seed=seed, orders_per_day=orders_per_day, days=days, time_scale=time_scale) as sbx:
        now = sandbox_now(sbx)
        after, before = now - dt.timedelta(days=days + 30), now - dt.timedelta(minutes=3)
        visible = [o for o in sbx.get("/_sandbox/orders")["orders"]
                   if after <= dt.datetime.fromisoformat(o["createdTime"]) <= before]
        for name, fn in (("ours", lambda: ours(sbx, time_scale, after, before, now)),
                         ("peer_documented", lambda: peer(sbx, time_scale, after, before, layout="documented")),
                         ("peer_defaults", lambda: peer(sbx, time_scale, after, before)),
                         ("peer_patient", lambda: peer(sbx, time_scale, after, before, tries=patient_tries))):
            sbx.control({"reset_stats": True, "reset_limits": True})
            res = fn()
            ops = _ops(sbx)
            ids = res.pop("ids")
            res.update(orders=len(ids), unique_orders=len(set(ids)), requests=ops.get("requests", 0),
                       http_429=ops.get("throttled", 0), matches_sandbox=sorted(ids) == sorted(o["orderId"] for o in visible))
            results[name] = res
    pages = -(-len(visible) // PAGE_SIZE)
    rate = 0.0056 * time_scale
    floor = max(0.0, (pages - 20) / rate)  # the time the plan itself requires after the burst of 20
    return {
        "benchmark": "peer_search_orders", "operation": "searchOrders (Orders v2026-01-01)",
        "peer": f"python-amazon-sp-api {peer_version}", "peer_python": "project venv" if importlib.util.find_spec(
            "sp_api") else "bench/.peer-venv", "time_scale": time_scale,
        "orders": len(visible), "pages": pages, "page_size": PAGE_SIZE, "plan_floor_s": round(floor, 3),
        "ours": results["ours"], "theirs_documented": results["peer_documented"],
        "theirs_defaults": results["peer_defaults"], "theirs_patient": results["peer_patient"],
        "ratio_theirs_over_ours": round(results["peer_patient"]["wall_s"] / results["ours"]["wall_s"], 3)
        if results["ours"]["wall_s"] else None,
        "ratio_basis": "theirs_patient (with its default retry settings the peer gives up; see theirs_defaults / theirs_documented)"
        if results["peer_defaults"]["failure"] else "theirs_patient",
        "ratio_theirs_defaults_over_ours": round(results["peer_defaults"]["wall_s"] / results["ours"]["wall_s"], 3)
        if results["ours"]["wall_s"] else None,
        "failures": {k: (1 if r["failure"] else 0) for k, r in results.items()},
        "same_orders": {k: r["failure"] is None and r["matches_sandbox"] for k, r in results.items()},
    }


def _peer_version() -> str:
    if importlib.util.find_spec("sp_api") is not None:
        from importlib.metadata import version

        return version("python-amazon-sp-api")
    if PEER_VENV_PYTHON.exists():
        out = subprocess.run([str(PEER_VENV_PYTHON), "-c", "from importlib.metadata import version; "
                              "print(version('python-amazon-sp-api'))"], capture_output=True, text=True, timeout=60)
        return out.stdout.strip() or "?"
    return "not installed"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--orders-per-day", type=int, default=350, help="per marketplace (3 marketplaces)")
    ap.add_argument("--days", type=int, default=3)
    ap.add_argument("--time-scale", type=float, default=100.0)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--patient-tries", type=int, default=30,
                    help="throttle_retry tries of the second peer run (its default is 10)")
    ap.add_argument("--peer-child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.peer_child:  # inside bench/.peer-venv: one peer extraction described on stdin
        print(json.dumps(peer_client(**json.loads(sys.stdin.read()))))
        return 0
    from bench.common import emit

    emit(run(args.orders_per_day, args.days, args.time_scale, args.seed, args.patient_tries))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
