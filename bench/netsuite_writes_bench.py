"""NetSuite write throughput: creates and external-id upserts through ``NetSuiteHook``.

The NetSuite sandbox (own process) admits at most ``--concurrency`` requests in flight (429
CONCURRENCY_LIMIT_EXCEEDED beyond) and sleeps ``--latency-ms`` inside every request, like a remote
account. ``--threads`` client threads share one hook; its process-wide semaphore is sized by the
connection's ``concurrency`` extra (the same limit). The ceiling is ``concurrency ÷ latency`` requests
per second (every slot busy all the time, zero server work); the figure is achieved ÷ ceiling. A
sequential probe also measures one request's real time (latency + sandbox work + client), giving
``measured_ceiling_rps`` = concurrency ÷ that time, for reading how much of the gap is server work.

Phases, each over ``--records`` records: ``create`` (POST customer), ``upsert_new`` (PUT eid:…,
record does not exist) and ``upsert_existing`` (PUT eid:… again, an update).

Run:  .venv/bin/python -m bench.netsuite_writes_bench [--records 1000] [--threads 20] [--concurrency 5] [--latency-ms 20]
Prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench.common import SandboxProcess, Stopwatch, emit, quiet_airflow_logs, set_netsuite_connection

SUBSIDIARY = "2"


def _phase(name: str, work: Callable[[int], str], records: int, threads: int, sbx: SandboxProcess,
           ceiling_rps: float) -> dict[str, Any]:
    sbx.control({"action": "reset_stats"})
    failures: list[str] = []
    ids: list[str] = []
    lock = threading.Lock()

    def one(n: int) -> None:
        try:
            rid = work(n)
        except Exception as exc:  # noqa: BLE001 - counted and reported
            with lock:
                failures.append(type(exc).__name__)
            return
        with lock:
            ids.append(rid)

    with Stopwatch() as sw, ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(one, range(records)))
    snap = sbx.get("/_sandbox/stats")
    api_requests = sum(n for k, n in snap["requests"].items() if not k.endswith((" sandbox", " token")))
    rps = api_requests / sw.elapsed
    return {
        "phase": name, "records": records, "elapsed_s": round(sw.elapsed, 3),
        "records_per_s": round(records / sw.elapsed, 2), "http_requests": api_requests,
        "requests_per_s": round(rps, 2), "ratio_to_ceiling": round(rps / ceiling_rps, 4),
        "failures": len(failures), "failure_kinds": sorted(set(failures)), "distinct_ids": len(set(ids)),
        "concurrency_rejections_429": snap["concurrency_rejections"], "peak_concurrency": snap["peak_concurrency"],
    }


def run(records: int = 1000, threads: int = 20, concurrency: int = 5, latency_ms: int = 20,
        auth_type: str = "oauth2") -> dict[str, Any]:
    quiet_airflow_logs()
    from airflow_provider_amznetsuite.hooks.netsuite import NetSuiteHook

    ceiling = concurrency / (latency_ms / 1000.0) if latency_ms > 0 else float("inf")
    with SandboxProcess("netsuite", concurrency_limit=concurrency, latency_ms=latency_ms, catalog_size=10) as sbx:
        conn_id = set_netsuite_connection(sbx.url, "netsuite_bench", concurrency=concurrency, auth_type=auth_type)
        hook = NetSuiteHook(conn_id)
        hook.get_record("subsidiary", SUBSIDIARY)  # authenticate (OAuth 2.0 token) before the clock starts
        run_id = uuid.uuid4().hex[:8]

        def create(n: int) -> str:
            return hook.create_record("customer", {"companyName": f"Bench {run_id} C{n}",
                                                   "subsidiary": {"id": SUBSIDIARY}})

        def upsert(n: int, label: str = "U") -> str:
            return hook.upsert_record("customer", f"BENCH-{run_id}-{n}",
                                      {"companyName": f"Bench {run_id} {label}{n}", "subsidiary": {"id": SUBSIDIARY}})

        probe_n = min(50, records)
        with Stopwatch() as probe:  # one request at a time: latency + the sandbox's own work + client overhead
            for n in range(probe_n):
                create(records + n)
        single = probe.elapsed / probe_n
        phases = [
            _phase("create", create, records, threads, sbx, ceiling),
            _phase("upsert_new", upsert, records, threads, sbx, ceiling),
            _phase("upsert_existing", lambda n: upsert(n, "V"), records, threads, sbx, ceiling),
        ]
        total = sbx.get("/_sandbox/records/customer", limit=1)["totalResults"]
    return {
        "benchmark": "netsuite_writes", "records_per_phase": records, "threads": threads,
        "concurrency_limit": concurrency, "latency_ms": latency_ms, "auth_type": auth_type,
        "ceiling_rps": round(ceiling, 2),
        "single_request_s": round(single, 4),
        "measured_ceiling_rps": round(concurrency / single, 2),
        "phases": phases,
        "failures": sum(p["failures"] for p in phases),
        "customers_in_sandbox": total,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=20)
    ap.add_argument("--concurrency", type=int, default=5)
    ap.add_argument("--latency-ms", type=int, default=20)
    ap.add_argument("--auth-type", choices=("oauth2", "tba"), default="oauth2")
    args = ap.parse_args(argv)
    emit(run(args.records, args.threads, args.concurrency, args.latency_ms, args.auth_type))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
