"""SP-API throttling benchmark: N ``getOrder`` calls through ``SpApiHook`` at Amazon's usage plan.

The SP-API sandbox enforces getOrder's official plan (0.5 requests/s, burst 30) multiplied by
``--time-scale``; the hook's connection carries the same scale. Several client threads share one
process-wide bucket registry, as the tasks of one worker do. The ceiling after ``t`` seconds is
``burst + rate × scale × t`` calls; the figure is ``calls ÷ ceiling(elapsed)`` (1.0 = every token the
plan allows was used), with failures (must be 0) and the sandbox's 429 count.

Run:  .venv/bin/python -m bench.spapi_throttle_bench [--calls 500] [--time-scale 20] [--threads 4]
Prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench.common import SandboxProcess, Stopwatch, emit, quiet_airflow_logs, sandbox_now, spapi_connection

OPERATION = "getOrder"


def run(calls: int = 500, time_scale: float = 20.0, threads: int = 4, seed: int = 42) -> dict[str, Any]:
    quiet_airflow_logs()
    from airflow_provider_amznetsuite.hooks.ratelimit import USAGE_PLANS, RateLimiterRegistry
    from airflow_provider_amznetsuite.hooks.spapi import LwaTokenCache, SpApiHook

    plan = USAGE_PLANS[OPERATION]
    with SandboxProcess("spapi", seed=seed, orders_per_day=40, days=3, time_scale=time_scale) as sbx:
        now = sandbox_now(sbx)
        order_ids = [o["orderId"] for o in sbx.get("/_sandbox/orders")["orders"]]
        registry, tokens = RateLimiterRegistry(), LwaTokenCache()
        conn = spapi_connection(sbx.url, "spapi_bench", time_scale)
        local = threading.local()

        def hook() -> SpApiHook:
            if not hasattr(local, "hook"):
                local.hook = SpApiHook("spapi_bench", connection=conn, rate_limiter=registry, token_cache=tokens,
                                       now=lambda: now)
            return local.hook

        hook().access_token()  # LWA exchange before the clock starts (it is not rate limited)
        sbx.control({"reset_stats": True, "reset_limits": True})
        failures: list[str] = []
        lock = threading.Lock()

        def call(n: int) -> None:
            try:
                order = hook().get_order(order_ids[n % len(order_ids)])
                if order.get("orderId") != order_ids[n % len(order_ids)]:
                    raise AssertionError("getOrder returned another order")
            except Exception as exc:  # noqa: BLE001 - counted and reported
                with lock:
                    failures.append(type(exc).__name__)

        with Stopwatch() as sw, ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(call, range(calls)))
        stats = sbx.get("/_sandbox/stats")["operations"].get(OPERATION, {})
    rate = plan.rate * time_scale
    ceiling = plan.burst + rate * sw.elapsed
    return {
        "benchmark": "spapi_throttle", "operation": OPERATION, "calls": calls, "threads": threads,
        "time_scale": time_scale, "usage_plan": {"rate_per_s": plan.rate, "burst": plan.burst},
        "scaled_rate_per_s": rate, "elapsed_s": round(sw.elapsed, 3),
        "achieved_rps": round(calls / sw.elapsed, 3),
        "ceiling_calls_in_elapsed": round(ceiling, 1),
        "ratio_to_ceiling": round(calls / ceiling, 4),
        "steady_rps_after_burst": round(max(0, calls - plan.burst) / sw.elapsed, 3),
        "failures": len(failures), "failure_kinds": sorted(set(failures)),
        "http_requests": stats.get("requests", 0), "http_429": stats.get("throttled", 0),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=500)
    ap.add_argument("--time-scale", type=float, default=20.0)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args(argv)
    emit(run(args.calls, args.time_scale, args.threads, args.seed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
