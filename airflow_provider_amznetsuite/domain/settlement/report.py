"""Finance review report of one reconciled settlement: a self-contained HTML page and a CSV.

``settlement_<id>.html``
    Status (balanced? postable?), the bucket counts and amounts (matched / unmatched / unmapped /
    quarantined), totals by GL account with an inline SVG bar chart, every exception line with its
    file line number and reason, and the reader's notes. No scripts, no external assets, and a
    Content-Security-Policy that forbids both; every value from the settlement file is HTML-escaped
    (settlement rows are untrusted input).

``settlement_<id>_exceptions.csv``
    One row per exception line (UTF-8 with BOM, so spreadsheets read £/€ correctly). Cells that a
    spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``, ``@``, TAB or CR, after
    leading blanks) are prefixed with ``'``; plain numbers such as ``-12.50`` are left as numbers.
"""

from __future__ import annotations

import csv
import html
import io
import os
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict

from airflow_provider_amznetsuite.domain.money import format_amount

if TYPE_CHECKING:
    from airflow_provider_amznetsuite.domain.settlement.reconcile import ReconcileResult

Bucket = Literal["quarantined", "unmapped", "unmatched"]
_SAFE_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_NUMBER_RE = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")

CSV_COLUMNS = ("line", "bucket", "reason", "transaction_type", "order_id", "merchant_order_id", "adjustment_id",
               "amount_type", "amount_description", "amount", "sku", "account", "key")


class ExceptionLine(BaseModel):
    """One settlement line finance has to look at."""

    model_config = ConfigDict(frozen=True)

    line: int  # 1-based physical line in the file
    bucket: Bucket
    reason: str
    transaction_type: str = ""
    order_id: str = ""
    merchant_order_id: str = ""
    adjustment_id: str = ""
    amount_type: str = ""
    amount_description: str = ""
    amount: str = ""  # decimal string; for quarantined rows the raw text as found
    sku: str = ""
    account: str | None = None  # where the line posts (suspense for unmapped)
    key: str | None = None  # NetSuite key looked up (unmatched)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"line": self.line, "reason": self.reason}
        for name in ("transaction_type", "order_id", "merchant_order_id", "adjustment_id", "amount_type",
                     "amount_description", "amount", "sku", "account", "key"):
            value = getattr(self, name)
            if value:
                out[name] = value
        return out


@dataclass(frozen=True, slots=True)
class ReportPaths:
    html: Path
    csv: Path


def neutralise_cell(value: object) -> str:
    """A CSV cell that no spreadsheet will evaluate as a formula."""
    text = "" if value is None else str(value)
    if not text or _NUMBER_RE.fullmatch(text):
        return text
    if text.startswith(_FORMULA_START) or text.lstrip(" \u00a0").startswith(_FORMULA_START):
        return "'" + text
    return text


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _money(value: Decimal, currency: str) -> str:
    return format_amount(value, currency)


def exception_rows(exceptions: Iterable[ExceptionLine]) -> Iterable[list[str]]:
    for ex in exceptions:
        yield [neutralise_cell(getattr(ex, c)) for c in CSV_COLUMNS]


def render_csv(exceptions: Iterable[ExceptionLine]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(exception_rows(exceptions))
    return buf.getvalue()


_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1d2125;max-width:1200px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #d0d7de;padding-bottom:4px}
table{border-collapse:collapse;width:100%}th,td{padding:4px 8px;border-bottom:1px solid #eaeef2;text-align:left;
vertical-align:top}th{background:#f6f8fa;font-weight:600}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;
white-space:nowrap}.status{padding:8px 12px;border-radius:6px;margin:12px 0;font-weight:600}.ok{background:#dafbe1;color:#116329}
.bad{background:#ffebe9;color:#a40e26}.warn{background:#fff8c5;color:#7d4e00}.muted{color:#57606a}
td.reason{max-width:420px;overflow-wrap:anywhere}td.txt{overflow-wrap:anywhere;max-width:220px}
.b-quarantined{color:#a40e26}.b-unmapped{color:#9a6700}.b-unmatched{color:#0550ae}
"""


def _chart(by_account: Mapping[str, Decimal], labels: Mapping[str, str], currency: str) -> str:
    items = sorted(by_account.items(), key=lambda kv: (-abs(kv[1]), kv[0]))
    if not items:
        return '<p class="muted">No amounts.</p>'
    peak = max(abs(v) for _, v in items) or Decimal(1)
    has_neg = any(v < 0 for _, v in items)
    has_pos = any(v > 0 for _, v in items)
    label_w, bar_w, value_w, row_h = 240, 520, 120, 24
    width = label_w + bar_w + value_w
    height = row_h * len(items) + 10
    zero_x = label_w + (bar_w // 2 if has_neg and has_pos else (bar_w if has_neg else 0))
    span = bar_w // 2 if has_neg and has_pos else bar_w
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" aria-label="Net amount by GL account">']
    for i, (account, value) in enumerate(items):
        y = 5 + i * row_h
        length = int((abs(value) / peak) * span) if value else 0
        x = zero_x if value >= 0 else zero_x - length
        color = "#2da44e" if value >= 0 else "#cf222e"
        name = labels.get(account, "")
        label = f"{account} {name}".strip()
        if len(label) > 34:
            label = label[:33] + "…"
        amount = _money(value, currency)
        parts.append(
            f'<g><title>{_e(label)}: {_e(amount)} {_e(currency)}</title>'
            f'<text x="{label_w - 8}" y="{y + 16}" text-anchor="end" font-size="12">{_e(label)}</text>'
            f'<rect x="{x}" y="{y + 3}" width="{max(length, 1)}" height="{row_h - 8}" fill="{color}"/>'
            f'<text x="{label_w + bar_w + 8}" y="{y + 16}" font-size="12">{_e(amount)}</text></g>'
        )
    parts.append(f'<line x1="{zero_x}" y1="0" x2="{zero_x}" y2="{height}" stroke="#57606a" stroke-width="1"/></svg>')
    return "".join(parts)


def render_html(result: ReconcileResult, *, account_labels: Mapping[str, str] | None = None) -> str:
    labels = dict(account_labels or {})
    cur = result.currency
    out: list[str] = []
    w = out.append
    sid = _e(result.settlement_id)
    w('<!doctype html><html lang="en"><head><meta charset="utf-8">')
    w('<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; style-src \'unsafe-inline\'">')
    w(f"<title>Amazon settlement {sid} — review</title><style>{_CSS}</style></head><body>")
    w(f"<h1>Amazon settlement {sid}</h1>")
    w(f'<p class="muted">{_e(result.start.date())} – {_e(result.end.date())} · deposit {_e(result.deposit_date.date())} · '
      f"{_e(cur)} · encoding {_e(result.encoding)} · decimal {_e(result.decimal_separator)}</p>")
    if result.balanced and not result.buckets.get("quarantined"):
        w(f'<p class="status ok">Balanced: rows add up to the deposit of {_e(_money(result.total_amount, cur))} {_e(cur)}.</p>')
    elif result.balanced:
        w('<p class="status bad">Balanced, but some lines were quarantined — not posted until they are fixed.</p>')
    else:
        w(f'<p class="status bad">NOT balanced: rows add up to {_e(_money(result.lines_total, cur))} but the deposit is '
          f"{_e(_money(result.total_amount, cur))} (difference {_e(_money(result.difference, cur))}). Not posted.</p>")
    if result.journal_problem:
        w(f'<p class="status warn">Journal: {_e(result.journal_problem)}</p>')

    w("<h2>Summary</h2><table><tbody>")
    rows = [("Settlement id", result.settlement_id), ("Total amount (deposit)", f"{_money(result.total_amount, cur)} {cur}"),
            ("Rows total", f"{_money(result.lines_total, cur)} {cur}"), ("Data rows", str(result.rows))]
    if result.journal is not None:
        j = result.journal
        rows.append(("Journal entry", f"{j.external_id} · {len(j.lines)} lines · debit {_money(j.total_debit, cur)} = "
                     f"credit {_money(j.total_credit, cur)}"))
    for k, v in rows:
        w(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>")
    w("</tbody></table>")

    w('<h2>Buckets</h2><table><thead><tr><th>Bucket</th><th class="num">Rows</th><th class="num">Amount</th></tr></thead><tbody>')
    shown_buckets = (("matched", "unmatched") if "matched" in result.buckets else ("mapped",)) + ("unmapped", "quarantined")
    for bucket in shown_buckets:
        if bucket not in result.buckets:
            continue
        amount = result.bucket_amounts.get(bucket)
        shown = _money(amount, cur) if amount is not None else ""
        if bucket == "quarantined" and amount is not None:
            shown += " (readable amounts)"
        w(f'<tr><td>{_e(bucket)}</td><td class="num">{result.buckets[bucket]}</td><td class="num">{_e(shown)}</td></tr>')
    w("</tbody></table>")

    w("<h2>Totals by GL account</h2>")
    w(_chart(result.by_account, labels, cur))
    w('<table><thead><tr><th>Account</th><th>What</th><th class="num">Amounts in (+)</th><th class="num">Amounts out (−)</th>'
      '<th class="num">Net</th><th>Journal</th></tr></thead><tbody>')
    for account in sorted(result.by_account, key=lambda a: (len(a), a)):
        net = result.by_account[account]
        side = "credit" if net > 0 else ("debit" if net < 0 else "nets to zero")
        w(f"<tr><td>{_e(account)}</td><td>{_e(labels.get(account, ''))}</td>"
          f'<td class="num">{_e(_money(result.account_in.get(account, Decimal(0)), cur))}</td>'
          f'<td class="num">{_e(_money(result.account_out.get(account, Decimal(0)), cur))}</td>'
          f'<td class="num">{_e(_money(net, cur))}</td><td>{_e(side)}</td></tr>')
    bank = (f"{labels.get(result.bank_account, 'bank / clearing')} ({result.bank_account})" if result.bank_account
            else "bank / clearing (no account: set settlement.accounts.bank)")
    w(f'<tr><th>Deposit</th><th>{_e(bank)}</th>'
      f'<td></td><td></td><th class="num">{_e(_money(result.total_amount, cur))}</th>'
      f'<th>{"debit" if result.total_amount >= 0 else "credit"}</th></tr>')
    w("</tbody></table>")

    exceptions = result.exceptions
    w(f"<h2>Exceptions ({len(exceptions)})</h2>")
    if not exceptions:
        w('<p class="muted">None: every line is matched and mapped.</p>')
    else:
        w("<table><thead><tr><th class=\"num\">Line</th><th>Bucket</th><th>Reason</th><th>Type</th><th>Order</th>"
          '<th>Amount type</th><th>Description</th><th class="num">Amount</th><th>SKU</th><th>Account</th></tr></thead><tbody>')
        for ex in exceptions:
            w(f'<tr><td class="num">{ex.line}</td><td class="b-{_e(ex.bucket)}">{_e(ex.bucket)}</td>'
              f'<td class="reason">{_e(ex.reason)}</td><td class="txt">{_e(ex.transaction_type)}</td>'
              f'<td class="txt">{_e(ex.order_id)}</td><td class="txt">{_e(ex.amount_type)}</td>'
              f'<td class="txt">{_e(ex.amount_description)}</td><td class="num">{_e(ex.amount)}</td>'
              f'<td class="txt">{_e(ex.sku)}</td><td>{_e(ex.account or "")}</td></tr>')
        w("</tbody></table>")
    if result.warnings:
        w("<h2>Notes</h2><ul>")
        for note in result.warnings:
            w(f"<li>{_e(note)}</li>")
        w("</ul>")
    w("</body></html>\n")
    return "".join(out)


def _atomic_write(path: Path, data: str, encoding: str) -> None:
    """Write next to the target, then rename: readers never see half a report (mode follows the umask)."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "x", encoding=encoding, newline="") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_report(result: ReconcileResult, directory: str | os.PathLike[str], *,
                 account_labels: Mapping[str, str] | None = None) -> ReportPaths:
    """Write ``settlement_<id>.html`` and ``settlement_<id>_exceptions.csv`` under ``directory``."""
    if not _SAFE_ID_RE.fullmatch(result.settlement_id):
        raise ValueError(f"settlement id {result.settlement_id!r} is not safe in a file name")
    base = Path(directory)
    base.mkdir(parents=True, exist_ok=True)
    html_path = base / f"settlement_{result.settlement_id}.html"
    csv_path = base / f"settlement_{result.settlement_id}_exceptions.csv"
    _atomic_write(html_path, render_html(result, account_labels=account_labels), "utf-8")
    _atomic_write(csv_path, render_csv(result.exceptions), "utf-8-sig")
    return ReportPaths(html_path, csv_path)


__all__ = ["CSV_COLUMNS", "ExceptionLine", "ReportPaths", "exception_rows", "neutralise_cell", "render_csv",
           "render_html", "write_report"]
