"""Settlement reconciliation benchmark (domain only, no HTTP).

Generates a ``GET_V2_SETTLEMENT_REPORT_DATA_FLAT_FILE_V2`` file of N lines (default 1,000,000) into a
temporary directory with its own streaming writer, then, each in a fresh subprocess so that peak RSS
is per phase:

* ``offline``  — parse + balance + classify (``reconcile(offline=True)``);
* ``matched``  — the same plus matching against an in-memory NetSuite stand-in (1 % of orders
  missing, so the unmatched path and its re-reads are exercised) and the journal body.

Prints one JSON object: lines, file size, generation time, and per phase wall and CPU time (CPU time
is the steadier figure on a shared machine), rows per CPU second, peak RSS (``resource.getrusage``),
lookup calls (= NetSuite SuiteQL requests the lookup would make) and ids, bucket counts. Run::

    .venv/bin/python bench/settlement_bench.py [--lines 1000000] [--keep DIR] [--decimal-comma]

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


def generate(path: Path, lines: int, *, comma: bool = False, seed: int = 7) -> dict[str, int]:
    """Write a settlement of exactly ``lines`` lines (header + summary + rows). Returns counts."""
    rng = random.Random(seed)
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
    return {"rows": rows, "orders": orders, "total_cents": total}


class _Settlement:
    bank_account = "111"
    suspense_account = "599"
    reserve_account = "120"
    withheld_tax_clearing_account = "211"
    gl_map: dict[str, str] = {}
    split_by_period = True
    department = "3"
    class_ = "6"


def _phase(path: str, mode: str) -> dict[str, object]:
    from airflow_provider_amznetsuite.domain.settlement import reconcile

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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--keep", help="write the generated file here and keep it")
    ap.add_argument("--decimal-comma", action="store_true", help="write amounts as 95,00")
    ap.add_argument("--phase", choices=("offline", "matched"), help=argparse.SUPPRESS)
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
        counts = generate(path, args.lines, comma=args.decimal_comma)
        gen_s = time.perf_counter() - t0
        phases = []
        root = Path(__file__).resolve().parents[1]
        env = dict(os.environ, PYTHONPATH=str(root) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        for mode in ("offline", "matched"):
            out = subprocess.run([sys.executable, __file__, "--phase", mode, "--file", str(path)], check=True,
                                 capture_output=True, text=True, env=env)
            phases.append(json.loads(out.stdout.strip().splitlines()[-1]))
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
