"""Settlement reconciliation benchmark (domain only, no HTTP).

Generates a ``GET_V2_SETTLEMENT_REPORT_DATA_FLAT_FILE_V2`` file of N lines (default 1,000,000) into a
temporary directory with its own streaming writer, then, each in a fresh subprocess so that peak RSS
is per phase:

* ``offline``  — parse + balance + classify (``reconcile(offline=True)``);
* ``matched``  — the same plus matching against an in-memory NetSuite stand-in (1 % of orders
  missing, so the unmatched path and its re-reads are exercised) and the journal body.

With ``--netsuite`` a third phase matches against the **NetSuite sandbox over real HTTP** and
journalises:

* ``netsuite`` — the sandbox runs in the parent process (its own thread pool, SQLite in memory); every
  order and refund of the file except 1 % is bulk-seeded first as a cash sale / cash refund with the
  right external id, currency and total, straight through the sandbox's store (``Store.put`` in one
  transaction — seeding is set-up, not measured). The child process then runs exactly what the
  ``download_and_reconcile`` / ``post_journal`` tasks run: :class:`NetSuiteLookup` over
  ``NetSuiteHook.suiteql`` (one SuiteQL per 1,000 keys, OAuth 2.0 M2M), the currency ids, ``reconcile``
  and the ``journalEntry`` upsert with ``replace=line``. NetSuite requests are counted by the sandbox.

Prints one JSON object: lines, file size, generation time, and per phase wall and CPU time (CPU time
is the steadier figure on a shared machine), rows per CPU second, peak RSS (``resource.getrusage``),
lookup calls (= NetSuite SuiteQL requests) and ids, bucket counts, and for ``netsuite`` the requests
the sandbox served (by kind), the seeding time and the posted journal. Run::

    .venv/bin/python bench/settlement_bench.py [--lines 1000000] [--keep DIR] [--decimal-comma] [--netsuite]

Not run by the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from decimal import Decimal
from pathlib import Path

COLUMNS = (
    "settlement-id", "settlement-start-date", "settlement-end-date", "deposit-date", "total-amount", "currency",
    "transaction-type", "order-id", "merchant-order-id", "adjustment-id", "shipment-id", "marketplace-name",
    "amount-type", "amount-description", "amount", "fulfillment-id", "posted-date", "posted-date-time",
    "order-item-code", "merchant-order-item-id", "merchant-adjustment-item-id", "sku", "quantity-purchased",
)
SETTLEMENT_ID = "24681357900"


def _fmt(cents: int, comma: bool) -> str:
    sign = "-" if cents < 0 else ""
    a = abs(cents)
    text = f"{sign}{a // 100}.{a % 100:02d}"
    return text.replace(".", ",") if comma else text


def generate(path: Path, lines: int, *, comma: bool = False, seed: int = 7,
             keys_path: Path | None = None) -> dict[str, int]:
    """Write a settlement of exactly ``lines`` lines (header + summary + rows). Returns counts.

    ``keys_path``: also write every NetSuite key of the file (``AMZ-<order-id>`` /
    ``AMZ-RFD-<order-id>-<adjustment-id>``) with the document total it implies (Σ ItemPrice + Promotion,
    in cents), one ``key<TAB>cents`` per line — what the NetSuite sandbox is seeded with.
    """
    rng = random.Random(seed)
    gross: dict[str, int] | None = {} if keys_path is not None else None
    body_path = path.with_suffix(".body")
    total = 0
    rows = 0
    orders = 0
    n_rows = lines - 2
    buf: list[str] = []
    flush_every = 20_000
    prefix = f"{SETTLEMENT_ID}\t\t\t\t\t\t"
    with open(body_path, "w", encoding="utf-8", newline="") as out:

        def emit(ttype: str, order_id: str, adj: str, atype: str, desc: str, cents: int, day: int, sku: str,
                 qty: str) -> None:
            nonlocal total, rows
            total += cents
            rows += 1
            if gross is not None and ttype in ("Order", "Refund"):
                key = f"AMZ-{order_id}" if ttype == "Order" else f"AMZ-RFD-{order_id}-{adj}"
                gross[key] = gross.get(key, 0) + (cents if atype in ("ItemPrice", "Promotion") else 0)
            month, dd = (6, 20 + day) if day < 11 else (7, day - 10)
            posted = f"2025-{month:02d}-{dd:02d} {rng.randrange(24):02d}:{rng.randrange(60):02d}:00 UTC"
            buf.append(f"{prefix}{ttype}\t{order_id}\t\t{adj}\t\tAmazon.com\t{atype}\t{desc}\t{_fmt(cents, comma)}"
                       f"\tAFN\t\t{posted}\t\t\t\t{sku}\t{qty}\n")
            if len(buf) >= flush_every:
                out.write("".join(buf))
                buf.clear()

        while rows < n_rows:
            kind = rng.random()
            day = rng.randrange(15)
            if kind < 0.9:
                orders += 1
                oid = f"113-{orders:07d}-{rng.randrange(10**7):07d}"
                sku = f"SKU-{rng.randrange(1, 60):05d}"
                price = rng.randrange(500, 9000)
                tax = price * 7 // 100
                block = [
                    ("Order", oid, "", "ItemPrice", "Principal", price, day, sku, "1"),
                    ("Order", oid, "", "ItemPrice", "Tax", tax, day, sku, ""),
                    ("Order", oid, "", "ItemWithheldTax", "MarketplaceFacilitatorTax-Principal", -tax, day, sku, ""),
                    ("Order", oid, "", "ItemFees", "Commission", -price * 15 // 100, day, sku, ""),
                    ("Order", oid, "", "ItemFees", "FBAPerUnitFulfillmentFee", -rng.randrange(250, 600), day, sku, ""),
                ]
                if rng.random() < 0.3:
                    block.append(("Order", oid, "", "ItemPrice", "Shipping", 499, day, sku, ""))
                    block.append(("Order", oid, "", "Promotion", "Shipping", -499, day, sku, ""))
                if rng.random() < 0.05:
                    adj = f"{rng.randrange(10**12):012d}"
                    block.append(("Refund", oid, adj, "ItemPrice", "Principal", -price, day, sku, ""))
                    block.append(("Refund", oid, adj, "ItemFees", "Commission", price * 12 // 100, day, sku, ""))
            else:
                desc = rng.choice(("Storage Fee", "Subscription Fee", "StorageRenewalBilling", "Weird New Fee"))
                atype = "other-transaction"
                block = [("other-transaction", "", "", atype, desc, -rng.randrange(100, 5000), day, "", "")]
            for b in block[: n_rows - rows]:
                emit(*b)
        out.write("".join(buf))
    with open(path, "w", encoding="utf-8", newline="") as out:
        out.write("\t".join(COLUMNS) + "\n")
        out.write(f"{SETTLEMENT_ID}\t2025-06-20 00:00:00 UTC\t2025-07-04 00:00:00 UTC\t2025-07-06 00:00:00 UTC\t"
                  f"{_fmt(total, comma)}\tUSD" + "\t" * (len(COLUMNS) - 6) + "\n")
        with open(body_path, encoding="utf-8", newline="") as body:
            shutil.copyfileobj(body, out, 1 << 20)
    body_path.unlink()
    if gross is not None and keys_path is not None:
        with open(keys_path, "w", encoding="utf-8") as fh:
            fh.writelines(f"{k}\t{v}\n" for k, v in gross.items())
    return {"rows": rows, "orders": orders, "total_cents": total, "keys": len(gross or {})}


class _Settlement:
    # GL role -> account of the sandbox chart (as dags/marketplaces.yaml)
    accounts = {"bank": "111", "suspense": "599", "reserve": "120", "marketplace_tax_clearing": "211",
                "tax_payable": "210", "loan": "220", "sales": "400", "shipping_income": "401", "gift_wrap_income": "402",
                "promotions": "403", "returns": "404", "a_to_z": "405", "chargebacks": "406", "reimbursements": "410",
                "reimbursement_reversals": "411", "selling_fees": "500", "fba_fees": "501", "storage_fees": "502",
                "advertising": "503", "subscription": "504", "other_fees": "505"}
    gl_map: dict[str, str] = {}
    split_by_period = True
    department = "3"
    class_ = "6"


BENCH_CONN = "netsuite_bench"
MISSING_PERCENT = 1  # share of NetSuite documents left out of the sandbox (unmatched path)


def _missing(key: str) -> bool:
    return zlib.crc32(key.encode()) % 100 < MISSING_PERCENT


def seed_netsuite(sandbox: object, keys_path: Path) -> dict[str, object]:
    """Cash sales / cash refunds for every key of the file but 1 %, straight into the sandbox's store."""
    from airflow_provider_amznetsuite.sandbox.netsuite.schema import RECORD_TYPES

    store = sandbox.store  # type: ignore[attr-defined]
    sale, refund = RECORD_TYPES["cashSale"], RECORD_TYPES["cashRefund"]
    with open(keys_path, encoding="utf-8") as fh:
        keys = [(k, int(c)) for k, c in (line.rstrip("\n").split("\t") for line in fh) if not _missing(k)]
    t0 = time.perf_counter()
    stamp = "2025-07-04T00:00:00Z"
    with store.tx():
        first = store.reserve_ids("transaction", len(keys))
        for i, (key, cents) in enumerate(keys):
            rid = first + i
            rt = refund if key.startswith("AMZ-RFD-") else sale
            store.put(rt, {"id": str(rid), "externalId": key, "tranId": f"B{rid}", "tranDate": "2025-07-01",
                           "entity": {"id": "103"}, "subsidiary": {"id": "4"}, "currency": {"id": "1"},
                           "total": Decimal(abs(cents)) / 100, "createdDate": stamp, "lastModifiedDate": stamp},
                      new=True)
    return {"seeded_documents": len(keys), "seed_s": round(time.perf_counter() - t0, 2)}


def _netsuite_phase(path: str) -> dict[str, object]:
    from airflow_provider_amznetsuite.domain.settlement import reconcile
    from airflow_provider_amznetsuite.hooks.netsuite import NetSuiteHook
    from airflow_provider_amznetsuite.operators.settlement import (
        journal_bodies,
        netsuite_currency_ids,
        netsuite_lookup,
        post_journal_entry,
    )

    t0, c0 = time.perf_counter(), time.process_time()
    hook = NetSuiteHook(BENCH_CONN)
    lookup = netsuite_lookup(hook)
    currency_ids = netsuite_currency_ids(hook)
    result = reconcile(path, marketplace=_Settlement(), offline=False, lookup=lookup, currency_ids=currency_ids,
                       subsidiary="4")
    t_match = time.perf_counter() - t0
    posted = post_journal_entry(hook, journal_bodies(result.journal)) if result.journal is not None else {}
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "mode": "netsuite", "wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "match_wall_s": round(t_match, 2),
        "rows_per_cpu_s": int(result.rows / cpu) if cpu else None, "peak_rss_mib": round(rss_kib / 1024, 1),
        "balanced": result.balanced, "rows": result.rows, "buckets": result.buckets,
        "lookup_calls": result.lookup_calls, "lookup_ids": result.lookup_ids,
        "journal_lines": len(result.journal.lines) if result.journal else 0, "journal_problem": result.journal_problem,
        "posted": posted,
    }


def _phase(path: str, mode: str) -> dict[str, object]:
    from airflow_provider_amznetsuite.domain.settlement import reconcile

    if mode == "netsuite":
        return _netsuite_phase(path)

    calls: list[int] = []

    def lookup(field: str, values: list[str]) -> dict[str, dict[str, str]]:
        calls.append(len(values))
        out = {}
        for v in values:
            if zlib.crc32(v.encode()) % 100 == 0:
                continue  # 1 % of documents missing
            out[v] = {"id": "1", "type": "CashSale" if "RFD" not in v else "CustCred", "currency": "1"}
        return out

    t0, c0 = time.perf_counter(), time.process_time()
    result = reconcile(path, marketplace=_Settlement(), offline=(mode == "offline"),
                       lookup=None if mode == "offline" else lookup, currency_ids={"USD": "1"}, subsidiary="4")
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "mode": mode, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
        "rows_per_cpu_s": int(result.rows / cpu) if cpu else None,
        "peak_rss_mib": round(rss_kib / 1024, 1), "balanced": result.balanced, "rows": result.rows,
        "buckets": result.buckets, "lookup_calls": result.lookup_calls, "lookup_ids": result.lookup_ids,
        "journal_lines": len(result.journal.lines) if result.journal else 0,
        "journal_problem": result.journal_problem,
    }


def _run_netsuite_phase(path: Path, keys_path: Path, env: dict[str, str]) -> dict[str, object]:
    """Start the NetSuite sandbox here, seed it, run the ``netsuite`` phase in a child, count requests."""
    from airflow_provider_amznetsuite.sandbox.netsuite.server import create_server

    sandbox = create_server(port=0, concurrency_limit=5).start()
    try:
        seeded = seed_netsuite(sandbox, keys_path)
        conn = {"conn_type": "netsuite", "host": sandbox.url, "extra": sandbox.connection_extra()}
        child_env = dict(env, **{f"AIRFLOW_CONN_{BENCH_CONN.upper()}": json.dumps(conn)})
        sandbox.stats.reset()
        out = subprocess.run([sys.executable, __file__, "--phase", "netsuite", "--file", str(path)], check=True,
                             capture_output=True, text=True, env=child_env)
        phase = json.loads(out.stdout.strip().splitlines()[-1])
        stats = sandbox.stats.snapshot()
        phase["netsuite_requests"] = stats["requests_total"]
        phase["netsuite_requests_by_kind"] = stats["requests"]
        phase["netsuite_statuses"] = stats["statuses"]
        phase.update(seeded)
        phase["missing_documents_percent"] = MISSING_PERCENT
        return phase
    finally:
        sandbox.shutdown()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--keep", help="write the generated file here and keep it")
    ap.add_argument("--decimal-comma", action="store_true", help="write amounts as 95,00")
    ap.add_argument("--netsuite", action="store_true",
                    help="also match against the NetSuite sandbox over HTTP and post the journal")
    ap.add_argument("--phase", choices=("offline", "matched", "netsuite"), help=argparse.SUPPRESS)
    ap.add_argument("--file", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.phase:
        print(json.dumps(_phase(args.file, args.phase)))
        return 0
    workdir = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="settlement-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / f"settlement_{args.lines}.tsv"
    try:
        t0 = time.perf_counter()
        keys_path = workdir / "netsuite_keys.tsv" if args.netsuite else None
        counts = generate(path, args.lines, comma=args.decimal_comma, keys_path=keys_path)
        gen_s = time.perf_counter() - t0
        phases = []
        root = Path(__file__).resolve().parents[1]
        env = dict(os.environ, PYTHONPATH=str(root) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        for mode in ("offline", "matched"):
            out = subprocess.run([sys.executable, __file__, "--phase", mode, "--file", str(path)], check=True,
                                 capture_output=True, text=True, env=env)
            phases.append(json.loads(out.stdout.strip().splitlines()[-1]))
        if args.netsuite and keys_path is not None:
            phases.append(_run_netsuite_phase(path, keys_path, env))
        print(json.dumps({
            "benchmark": "settlement_reconcile", "lines": args.lines, "file_mib": round(path.stat().st_size / 2**20, 1),
            "orders": counts["orders"], "total_amount": str(Decimal(counts["total_cents"]) / 100),
            "generate_s": round(gen_s, 2), "phases": phases,
        }, indent=2))
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
