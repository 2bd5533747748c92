"""Run every benchmark, take medians, write ``bench/results.json`` and ``bench/RESULTS.md``.

    .venv/bin/python -m bench.run              # every benchmark 3 times (make bench)
    .venv/bin/python -m bench.run --quick      # once each
    .venv/bin/python -m bench.run --only peer spapi_throttle_x20 --repeats 5

Each benchmark runs as its own subprocess (``python -m bench.<name>`` or ``python bench/<file>.py``)
and prints one JSON document; this script reads it, extracts the figures, and aggregates repeated
runs (median for times and rates, the maximum for failure counts). Every figure carries the exact
command that produced it and the machine it ran on. Nothing here asserts on timings.

python-amazon-sp-api (the peer) comes from the project's ``bench`` extra (``make bench`` installs it);
if it cannot be imported here, a separate venv is created under ``bench/.peer-venv`` and the peer
client runs there.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import shlex
import statistics
import subprocess
import sys
import time
import venv
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import ROOT, machine_facts

BENCH = ROOT / "bench"
RESULTS_JSON = BENCH / "results.json"
RESULTS_MD = BENCH / "RESULTS.md"
PEER_VENV = BENCH / ".peer-venv"


# --------------------------------------------------------------------------------------------------
# figures
# --------------------------------------------------------------------------------------------------
@dataclass
class Figure:
    name: str
    value: float | int | None
    unit: str = ""
    ratio: float | None = None
    ratio_of: str = ""          # what the ratio compares, e.g. "of the ceiling burst + rate×t"
    aggregate: str = "median"   # median | max
    note: str = ""


Extractor = Callable[[dict[str, Any]], list[Figure]]


def _spapi_throttle(r: dict[str, Any]) -> list[Figure]:
    s = f"×{r['time_scale']:g}"
    return [
        Figure(f"SP-API getOrder throughput, {r['calls']} calls, {r['threads']} threads, limits {s}",
               r["achieved_rps"], "req/s", r["ratio_to_ceiling"], "of ceiling (burst + rate×t)",
               note=f"plan {r['usage_plan']['rate_per_s']}/s burst {r['usage_plan']['burst']} {s} = "
                    f"{r['scaled_rate_per_s']:g}/s"),
        Figure(f"SP-API getOrder failures, limits {s}", r["failures"], "", aggregate="max"),
        Figure(f"SP-API getOrder HTTP 429 answers, limits {s}", r["http_429"], "", aggregate="max",
               note=f"{r['http_requests']} requests for {r['calls']} calls"),
    ]


def _netsuite_writes(r: dict[str, Any]) -> list[Figure]:
    cfg = f"{r['threads']} threads, limit {r['concurrency_limit']}, {r['latency_ms']} ms"
    out = []
    for p in r["phases"]:
        out.append(Figure(f"NetSuite {p['phase']} ({p['records']} records, {cfg})", p["requests_per_s"], "req/s",
                          p["ratio_to_ceiling"], f"of ceiling {r['ceiling_rps']:g} req/s (limit ÷ latency)",
                          note=f"{p['concurrency_rejections_429']} × 429, peak {p['peak_concurrency']} in flight"))
    out.append(Figure("NetSuite measured ceiling (limit ÷ one request's real time)", r["measured_ceiling_rps"],
                      "req/s", note=f"one request alone: {r['single_request_s'] * 1000:.1f} ms "
                                    f"(latency {r['latency_ms']} ms + sandbox + client)"))
    out.append(Figure("NetSuite write failures (all phases)", r["failures"], "", aggregate="max"))
    return out


def _dag_parse(r: dict[str, Any]) -> list[Figure]:
    p, w = r["processor"], r["worker"]
    what = f"{r['marketplaces']} marketplaces × {r['syncs_configured']} syncs ({p['dags']} DAGs, {p['tasks']} tasks)"
    out = [
        Figure(f"DAG parse, processor, cold: {what}", p["parse_s_median"], "s", p["ms_per_dag"], "ms per DAG",
               note="DagBag of dags/amazon_netsuite.py in a fresh interpreter, Airflow pre-imported; "
                    "includes importing the provider"),
        Figure(f"DAG parse, processor, warm (provider modules imported): {what}", p["warm_parse_s_median"], "s",
               round(1000 * p["warm_parse_s_median"] / max(1, p["dags"]), 1), "ms per DAG"),
        Figure(f"DAG parse, worker, cold: one DAG via get_parsing_context ({w['dag_id']})", w["parse_s_median"], "s",
               note=f"{w['dags']} DAG built"),
        Figure("DAG parse, worker, warm: one DAG via get_parsing_context", w["warm_parse_s_median"], "s"),
    ]
    if r.get("import_errors"):
        out.append(Figure("DAG parse import errors", len(r["import_errors"]), "", aggregate="max",
                          note="; ".join(r["import_errors"].values())[:200]))
    return out


def _peer(r: dict[str, Any]) -> list[Figure]:
    ours, patient, defaults, documented = r["ours"], r["theirs_patient"], r["theirs_defaults"], r["theirs_documented"]
    what = f"{r['orders']} orders, {r['pages']} pages, searchOrders limits ×{r['time_scale']:g}"
    floor = r["plan_floor_s"]
    return [
        Figure(f"Order extraction, SpApiHook ({what})", ours["wall_s"], "s",
               round(floor / ours["wall_s"], 4) if ours["wall_s"] else None,
               f"of the plan's floor ({floor:g} s = pages after the burst ÷ rate)",
               note=f"{ours['requests']} requests, {ours['http_429']} × 429, failures {int(bool(ours['failure']))}"),
        Figure(f"Order extraction, {r['peer']} ({patient['client'].split('(')[1].rstrip(')')})", patient["wall_s"], "s",
               r["ratio_theirs_over_ours"], "theirs ÷ ours wall time",
               note=f"{patient['requests']} requests, {patient['http_429']} × 429, "
                    f"orders {patient['orders']}/{r['orders']}"),
        *(Figure(f"Order extraction, {r['peer']}, {label}", run["orders"], "orders",
                 round(run["orders"] / r["orders"], 4) if r["orders"] else None, "of the orders",
                 note=(f"gave up after {run['wall_s']} s: {run['failure'][:80]}" if run["failure"] else
                       f"{run['wall_s']} s, {run['http_429']} × 429"))
          for label, run in (("decorators as documented (@throttle_retry over @load_all_pages)", documented),
                             ("throttle_retry per page with default tries=10", defaults))),
        Figure("Order extraction failures (ours / peer patient / peer tries=10 / peer as documented)",
               sum(r["failures"].values()), "", aggregate="max",
               note=" / ".join(str(r["failures"][k]) for k in ("ours", "peer_patient", "peer_defaults",
                                                               "peer_documented"))),
    ]


def _inventory(r: dict[str, Any]) -> list[Figure]:
    what = f"{r['skus']:,} SKUs × {r['locations']} locations"
    first, after, same = r["first_run"], r["after_500_changes"], r["no_change"]
    return [
        Figure(f"Inventory delta, first run ({what})", first["delta_computation_s"], "s",
               note=f"{first['messages']:,} messages in {first['feeds']} feeds, feed build {first['feed_build_s']} s"),
        Figure(f"Inventory delta after 500 NetSuite changes ({what})", after["delta_computation_s"], "s",
               note=f"{after['messages']} messages in {after['feeds']} feed(s)"),
        Figure(f"Inventory delta, no change ({what})", same["delta_computation_s"], "s",
               note=f"{same['messages']} messages, {same['feeds']} feeds"),
        Figure(f"Inventory row validation ({r['rows']:,} rows)", r["row_validation_s"], "s"),
    ]


def _settlement(r: dict[str, Any]) -> list[Figure]:
    out = []
    for p in r["phases"]:
        what = f"{r['lines']:,}-line settlement, {p['mode']}"
        out.append(Figure(f"Settlement {what}: wall time", p["wall_s"], "s",
                          note=f"CPU {p['cpu_s']} s, {p.get('rows_per_cpu_s')} rows/CPU-s, balanced {p['balanced']}"))
        out.append(Figure(f"Settlement {what}: peak RSS", p["peak_rss_mib"], "MiB"))
        if p["mode"] == "matched":
            out.append(Figure(f"Settlement {what}: NetSuite lookup requests", p["lookup_calls"], "requests",
                              note=f"{p['lookup_ids']:,} ids looked up, {p['journal_lines']} journal lines"))
    return out


def _numeric_leaves(prefix: str, obj: Any, out: list[Figure], depth: int = 0) -> None:
    if isinstance(obj, bool):
        return
    if isinstance(obj, (int, float)):
        out.append(Figure(prefix, obj))
    elif isinstance(obj, dict) and depth < 3:
        for k, v in obj.items():
            _numeric_leaves(f"{prefix}.{k}" if prefix else str(k), v, out, depth + 1)


def _orders_generic(r: dict[str, Any]) -> list[Figure]:
    out: list[Figure] = []
    _numeric_leaves("", {k: v for k, v in r.items() if k != "benchmark"}, out)
    for f in out:
        f.name = f"Orders ingest: {f.name}"
        if any(w in f.name for w in ("failure", "lost", "duplicate", "throttled", "quarantined")):
            f.aggregate = "max"
    return out


def _orders(r: dict[str, Any]) -> list[Figure]:
    """bench/orders_bench.py (another engineer's); falls back to its numeric leaves if its shape changes."""
    try:
        mps = r["marketplaces"]
        what = (f"{r['orders_fetched']:,} orders, {', '.join(mps)}, {r['orders_per_day']}/day/marketplace, "
                f"limits ×{r['time_scale']:g}")
        ceiling = f"of the searchOrders ceiling {r['ceiling_orders_per_s_official']:g} orders/s"
        quarantined = ", ".join(f"{k} {v.get('quarantined')}" for k, v in mps.items())
        return [
            Figure(f"Order ingest, extract ({what})", r["extract_orders_per_s_official"], "orders/s (official time)",
                   r["extract_ratio_to_ceiling"], ceiling,
                   note=f"{r['extract_seconds_real']} s real extract time × {r['time_scale']:g}"),
            Figure(f"Order ingest, end to end ({what})", r["end_to_end_orders_per_s_official"],
                   "orders/s (official time)", r["end_to_end_ratio_to_ceiling"], ceiling,
                   note=f"NetSuite side {r['netsuite_side_seconds_real']} s real (not time-scaled)"),
            Figure("Order ingest, Amazon requests per order", r["amazon_requests_per_order"], "req/order",
                   note=f"{r['amazon_requests']} requests (+{r['amazon_token_requests']} LWA), "
                        f"{r['amazon_throttled']} × 429"),
            Figure("Order ingest, NetSuite requests per order", r["netsuite_requests_per_order"], "req/order",
                   note=f"{r['netsuite_requests_per_document']} per document written; {r['netsuite_requests']} "
                        f"requests (+{r['netsuite_token_requests']} token)"),
            Figure("Order ingest, NetSuite documents written", r["documents_written"], "documents",
                   note=f"quarantined: {quarantined}"),
        ]
    except (KeyError, TypeError, ZeroDivisionError):
        return _orders_generic(r)


@dataclass
class Benchmark:
    id: str
    argv: list[str]                    # after the interpreter
    extract: Extractor
    title: str
    timeout: float = 1800.0
    optional_file: Path | None = None  # skipped (and reported) when this file does not exist
    results: list[dict[str, Any]] = field(default_factory=list)
    wall: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def benchmarks() -> list[Benchmark]:
    return [
        Benchmark("spapi_throttle_x20", ["-m", "bench.spapi_throttle_bench", "--calls", "500", "--time-scale", "20",
                                         "--threads", "4"], _spapi_throttle, "SP-API throttling (getOrder, ×20)"),
        Benchmark("spapi_throttle_x50", ["-m", "bench.spapi_throttle_bench", "--calls", "500", "--time-scale", "50",
                                         "--threads", "4"], _spapi_throttle, "SP-API throttling (getOrder, ×50)"),
        Benchmark("peer", ["-m", "bench.peer_bench", "--orders-per-day", "350", "--days", "3", "--time-scale", "100"],
                  _peer, "Peer: python-amazon-sp-api vs SpApiHook (searchOrders)"),
        Benchmark("orders", ["bench/orders_bench.py", "--orders-per-day", "1000", "--time-scale", "100"], _orders,
                  "Order ingest (bench/orders_bench.py)",
                  optional_file=BENCH / "orders_bench.py"),
        Benchmark("netsuite_writes", ["-m", "bench.netsuite_writes_bench", "--records", "1000", "--threads", "20",
                                      "--concurrency", "5", "--latency-ms", "20"], _netsuite_writes,
                  "NetSuite writes under the concurrency limit"),
        Benchmark("dag_parse", ["-m", "bench.dag_parse_bench", "--marketplaces", "20", "--repeats", "1"], _dag_parse,
                  "DAG parse time"),
        Benchmark("inventory", ["bench/inventory_bench.py", "--skus", "100000"], _inventory,
                  "Inventory delta (bench/inventory_bench.py)", optional_file=BENCH / "inventory_bench.py"),
        Benchmark("settlement", ["bench/settlement_bench.py", "--lines", "1000000"], _settlement,
                  "Settlement reconciliation (bench/settlement_bench.py)", timeout=3600,
                  optional_file=BENCH / "settlement_bench.py"),
    ]


# --------------------------------------------------------------------------------------------------
# running
# --------------------------------------------------------------------------------------------------
def display_command(argv: Iterable[str]) -> str:
    exe = Path(sys.executable)
    try:
        shown = str(exe.relative_to(ROOT))
    except ValueError:
        shown = "python"
    return " ".join([shown, *(shlex.quote(a) for a in argv)])


def parse_output(stdout: str) -> dict[str, Any]:
    """A benchmark's JSON document: the whole stdout, or its last JSON object (one-line or indented)."""
    text = stdout.strip()
    try:
        return json.loads(text)
    except ValueError:
        pass
    lines = text.splitlines()
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].startswith("{"):
            try:
                return json.loads("\n".join(lines[i:]))
            except ValueError:
                continue
    raise ValueError("no JSON document in the benchmark's output")


def run_once(b: Benchmark) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "AIRFLOW__LOGGING__LOGGING_LEVEL": "ERROR", "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    started = time.perf_counter()
    try:
        out = subprocess.run([sys.executable, *b.argv], cwd=str(ROOT), env=env, capture_output=True, text=True,
                             timeout=b.timeout)
    except subprocess.TimeoutExpired:
        b.errors.append(f"timed out after {b.timeout:.0f} s")
        return
    b.wall.append(time.perf_counter() - started)
    if out.returncode != 0:
        b.errors.append(f"exit {out.returncode}: {out.stderr.strip()[-800:]}")
        return
    try:
        b.results.append(parse_output(out.stdout))
    except ValueError as exc:
        b.errors.append(f"{exc}; stderr: {out.stderr.strip()[-400:]}")


def ensure_peer() -> str:
    """Where python-amazon-sp-api comes from; creates bench/.peer-venv when the project venv lacks it."""
    if importlib.util.find_spec("sp_api") is not None:
        return "project venv (pyproject extra 'bench')"
    python = PEER_VENV / "bin" / "python"
    if not python.exists():
        print("python-amazon-sp-api is not importable here; creating bench/.peer-venv for it", file=sys.stderr)
        venv.EnvBuilder(with_pip=True, clear=True).create(PEER_VENV)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "python-amazon-sp-api"], check=True)
    return "bench/.peer-venv (separate venv)"


def aggregate(b: Benchmark) -> list[dict[str, Any]]:
    per_run = [b.extract(r) for r in b.results]
    if not per_run:
        return []
    command = display_command(b.argv)
    rows = []
    for i, fig in enumerate(per_run[0]):
        same = [run[i] for run in per_run if i < len(run) and run[i].name == fig.name]
        values = [f.value for f in same if isinstance(f.value, (int, float))]
        ratios = [f.ratio for f in same if isinstance(f.ratio, (int, float))]
        pick = max if fig.aggregate == "max" else statistics.median
        value = pick(values) if values else None
        rows.append({
            "benchmark": b.id, "figure": fig.name,
            "value": round(value, 4) if isinstance(value, float) else value, "unit": fig.unit,
            "ratio": round(statistics.median(ratios), 4) if ratios else None, "ratio_of": fig.ratio_of,
            "aggregate": fig.aggregate if len(values) > 1 else "single run", "runs": values,
            "note": fig.note, "command": command,
        })
    return rows


def fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".") if abs(value) < 1000 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def write_markdown(doc: dict[str, Any]) -> str:
    m = doc["machine"]
    lines = [
        "# Benchmark results",
        "",
        f"Generated {doc['generated_at']} by `{doc['command']}` — {doc['repeats']} run(s) per benchmark, "
        "median shown (failure and 429 counts: the maximum over the runs). Regenerate with `make bench`.",
        "",
        f"Machine: {m['cpu_count']} × {m['cpu_model']}, {m['memory_gib']} GiB, {m['os']}; Python {m['python']}, "
        f"Airflow {m['airflow']}, provider {m['provider']}, python-amazon-sp-api {m['python_amazon_sp_api']} "
        f"({doc['peer_install']}). Load average at start: {m['load_average_at_start']}.",
        "",
        "Sandboxes run in their own process on loopback; SP-API limits are Amazon's official usage plans "
        "multiplied by the stated time scale (the hook is told the same scale). See bench/README.md.",
        "",
        "| Figure | Value | Ratio | Command |",
        "|---|---|---|---|",
    ]
    for f in doc["figures"]:
        value = f"{fmt(f['value'])} {f['unit']}".strip()
        if f["note"]:
            value += f" <br><sub>{f['note']}</sub>"
        ratio = f"{fmt(f['ratio'])} {f['ratio_of']}".strip() if f["ratio"] is not None else "—"
        lines.append(f"| {f['figure']} | {value} | {ratio} | `{f['command']}` |")
    problems = {k: v for k, v in doc["benchmarks"].items() if v["errors"] or v.get("skipped")}
    if problems:
        lines += ["", "## Not measured / errors", ""]
        for k, v in problems.items():
            reason = v.get("skipped") or "; ".join(v["errors"])[:500]
            lines.append(f"- `{k}`: {reason}")
    lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3, help="runs per benchmark (median reported); default 3")
    ap.add_argument("--quick", action="store_true", help="one run per benchmark")
    ap.add_argument("--only", nargs="*", help="benchmark ids to run (default: all)")
    ap.add_argument("--output", type=Path, default=RESULTS_JSON)
    ap.add_argument("--markdown", type=Path, default=RESULTS_MD)
    args = ap.parse_args(argv)
    repeats = 1 if args.quick else max(1, args.repeats)
    chosen = [b for b in benchmarks() if not args.only or b.id in args.only]
    unknown = set(args.only or []) - {b.id for b in benchmarks()}
    if unknown:
        ap.error(f"unknown benchmark id(s) {sorted(unknown)}; known: {[b.id for b in benchmarks()]}")

    facts = machine_facts()
    peer_install = "not needed"
    if any(b.id == "peer" for b in chosen):
        try:
            peer_install = ensure_peer()
        except (OSError, subprocess.CalledProcessError) as exc:
            peer_install = f"unavailable ({exc})"
    started = time.perf_counter()
    skipped: dict[str, str] = {}
    for b in chosen:
        if b.optional_file is not None and not b.optional_file.exists():
            skipped[b.id] = f"{b.optional_file.relative_to(ROOT)} does not exist yet"
            print(f"[bench] {b.id}: skipped ({skipped[b.id]})", file=sys.stderr)
            continue
        for n in range(repeats):
            print(f"[bench] {b.id} run {n + 1}/{repeats}: {display_command(b.argv)}", file=sys.stderr, flush=True)
            run_once(b)
            if b.errors and not b.results:
                break  # a benchmark that cannot run once will not run the next time either
    doc: dict[str, Any] = {
        "generated_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": "python -m bench.run" + (" --quick" if args.quick else f" --repeats {repeats}"
                                            if repeats != 3 else ""),
        "repeats": repeats, "machine": facts, "peer_install": peer_install,
        "total_wall_s": round(time.perf_counter() - started, 1),
        "figures": [row for b in chosen for row in aggregate(b)],
        "benchmarks": {b.id: {"title": b.title, "command": display_command(b.argv), "runs": b.results,
                              "wall_s": [round(w, 2) for w in b.wall], "errors": b.errors,
                              **({"skipped": skipped[b.id]} if b.id in skipped else {})} for b in chosen},
    }
    args.output.write_text(json.dumps(doc, indent=2, default=str) + "\n", encoding="utf-8")
    args.markdown.write_text(write_markdown(doc), encoding="utf-8")
    print(f"[bench] wrote {args.output} and {args.markdown} in {doc['total_wall_s']} s", file=sys.stderr)
    failed = [b.id for b in chosen if b.errors]
    return 1 if failed and not any(b.results for b in chosen) else 0


if __name__ == "__main__":
    raise SystemExit(main())
