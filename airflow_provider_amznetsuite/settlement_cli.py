"""``amznetsuite settlement reconcile FILE --marketplace CODE [--config PATH] [--offline] [--dry-run] [--json]
[--report-dir DIR]`` — finance's view of one V2 settlement file.

Modes
    ``--offline``   parse, balance and classify (GL roles -> accounts); no NetSuite.
    ``--dry-run``   also match order/refund lines against NetSuite (the marketplace's ``netsuite_conn_id``
                    connection, e.g. ``AIRFLOW_CONN_NETSUITE_DEFAULT`` in the environment); post nothing.
    (neither)       match, then upsert the balanced journal entry ``AMZ-STL-<id>`` (a rerun changes
                    nothing: the lines are replaced, never appended).

Output
    ``--json`` prints exactly one JSON object on stdout (the reconciliation:
    ``ReconcileResult.to_json()``) and nothing else; logs go to stderr. Otherwise a readable summary:
    totals by GL account, buckets, exceptions, the journal outcome and the review report paths. The HTML
    + CSV review report is always written (``--report-dir``, default: the operators' reports directory).

Exit status
    0: the file balances and no line is quarantined (and, when posting, the journal was posted or there
    was nothing to post). 1: unbalanced, quarantined lines, or the journal could not be posted. 2: the
    command could not run — unreadable file, unknown marketplace, configuration problem, missing or
    failing NetSuite connection — with one readable line on stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from airflow_provider_amznetsuite.config import ConfigError, load_config
from airflow_provider_amznetsuite.domain.money import format_amount
from airflow_provider_amznetsuite.domain.settlement import ReconcileResult, SettlementFormatError, reconcile

PROG = "amznetsuite settlement reconcile"
SHOWN_EXCEPTIONS = 50


class CliError(Exception):
    """A problem that stops the command; ``str()`` is the one line shown to the user."""


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Everything written to stdout (Python objects and file descriptor 1) goes to stderr meanwhile."""
    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no real fd 1 (embedded use): Python-level redirection only
        saved = None
    try:
        if saved is not None:
            os.dup2(2, 1)
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        if saved is not None:
            os.dup2(saved, 1)
            os.close(saved)


def _netsuite(mp: Any) -> Any:
    """The marketplace's NetSuite hook, its connection checked (no request is made)."""
    from airflow_provider_amznetsuite.hooks.netsuite import NetSuiteHook

    hook = NetSuiteHook(mp.netsuite_conn_id)
    env = f"AIRFLOW_CONN_{mp.netsuite_conn_id.upper()}"
    try:
        hook.settings  # noqa: B018 - resolves and validates the connection
    except Exception as exc:  # AirflowNotFoundException, NetSuiteConfigError, a malformed JSON connection, ...
        if type(exc).__name__ == "AirflowNotFoundException":
            raise CliError(f"NetSuite connection {mp.netsuite_conn_id!r} is not defined: set {env} "
                           "(JSON or URI form), or run with --offline") from None
        raise CliError(f"NetSuite connection {mp.netsuite_conn_id!r} is not usable: {_one_line(exc)}") from None
    return hook


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return (text[:300] + "…") if len(text) > 300 else (text or type(exc).__name__)


def _run(args: argparse.Namespace) -> tuple[ReconcileResult, dict[str, Any]]:
    path = Path(args.file)
    if not path.is_file():
        raise CliError(f"{args.file}: no such file")
    try:
        app = load_config(args.config)
    except ConfigError as exc:
        raise CliError("; ".join(exc.problems)) from None
    mp = app.marketplaces.get(args.marketplace)
    if mp is None:
        raise CliError(f"unknown marketplace {args.marketplace!r}; {app.source or 'the config'} has: "
                       f"{', '.join(app.marketplaces) or 'none'}")
    offline = bool(args.offline)
    post = not offline and not args.dry_run
    outcome: dict[str, Any] = {"mode": "offline" if offline else ("dry-run" if args.dry_run else "post")}
    try:
        if offline:
            result = reconcile(path, marketplace=mp, offline=True)
        else:
            from airflow_provider_amznetsuite.operators.settlement import netsuite_currency_ids, netsuite_lookup

            hook = _netsuite(mp)
            try:
                lookup = netsuite_lookup(hook)
                result = reconcile(path, marketplace=mp, offline=False, lookup=lookup,
                                   currency_ids=netsuite_currency_ids(hook),
                                   amount_tolerance=mp.settlement.amount_tolerance)
                outcome["lookups"] = lookup.calls
                if post and result.journal is not None:
                    from airflow_provider_amznetsuite.operators.settlement import journal_bodies, post_journal_entry

                    outcome["posted"] = post_journal_entry(hook, journal_bodies(result.journal))
            except (SettlementFormatError, CliError):
                raise
            except Exception as exc:  # NetSuite HTTP / auth errors: one line, no traceback
                raise CliError(f"NetSuite: {_one_line(exc)}") from None
    except SettlementFormatError as exc:
        raise CliError(f"{args.file}: {exc}") from None
    from airflow_provider_amznetsuite.operators.settlement import reports_dir

    target = Path(args.report_dir) if args.report_dir else reports_dir(app, mp.code)
    try:
        paths = result.write_report(target)
    except OSError as exc:
        raise CliError(f"cannot write the review report under {target}: {exc.strerror or exc}") from None
    outcome["reports"] = [str(paths.html), str(paths.csv)]
    return result, outcome


def _human(result: ReconcileResult, outcome: dict[str, Any]) -> str:
    cur = result.currency
    out: list[str] = []
    w = out.append
    w(f"Settlement {result.settlement_id} ({cur}) {result.start.date()} – {result.end.date()}, "
      f"deposit {result.deposit_date.date()}")
    w(f"Total amount (deposit): {format_amount(result.total_amount, cur)}   rows add up to: "
      f"{format_amount(result.lines_total, cur)}   " + ("balanced" if result.balanced else
                                                         f"NOT BALANCED (difference {format_amount(result.difference, cur)})"))
    order = ("matched", "unmatched", "unmapped", "quarantined") if not result.offline else ("mapped", "unmapped", "quarantined")
    w(f"Rows: {result.rows}   " + " · ".join(
        f"{b} {result.buckets.get(b, 0)} ({format_amount(result.bucket_amounts.get(b, 0), cur)})" for b in order))
    w("")
    w("Totals by GL account:")
    labels = result.account_labels
    width = max([len(a) for a in result.by_account] + [len(result.bank_account or "")] + [7])
    for account, net in result.by_account.items():
        w(f"  {account:<{width}}  {labels.get(account, ''):<34} {format_amount(net, cur):>14}")
    w("  (net per account: positive = credit, negative = debit)")
    side = "debit" if result.total_amount >= 0 else "credit"
    bank = (f"account {result.bank_account} ({labels.get(result.bank_account, 'bank / clearing')})"
            if result.bank_account else "no account (set settlement.accounts.bank)")
    w(f"Deposit: {format_amount(abs(result.total_amount), cur)} {cur} {side} to {bank}")
    exceptions = result.exceptions
    w("")
    w(f"Exceptions: {len(exceptions)}")
    for e in exceptions[:SHOWN_EXCEPTIONS]:
        w(f"  line {e.line:<7} {e.bucket:<11} {e.reason}")
    if len(exceptions) > SHOWN_EXCEPTIONS:
        w(f"  … {len(exceptions) - SHOWN_EXCEPTIONS} more in the CSV")
    w("")
    journal = result.journal
    if outcome["mode"] == "offline":
        w("Journal: offline (nothing matched, nothing posted)")
    elif journal is None:
        w(f"Journal: not posted — {result.journal_problem}")
    elif outcome["mode"] == "dry-run":
        w(f"Journal: dry run — would post {journal.external_id} ({len(journal.lines)} lines, "
          f"debit {format_amount(journal.total_debit, cur)} = credit {format_amount(journal.total_credit, cur)})")
    else:
        posted = ", ".join(f"{eid} (internal id {iid})" for eid, iid in outcome.get("posted", {}).items())
        w(f"Journal: posted {posted}")
    for note in result.warnings:
        w(f"Note: {note}")
    w(f"Review report: {outcome['reports'][0]}")
    w(f"Exceptions CSV: {outcome['reports'][1]}")
    return "\n".join(out)


def reconcile_command(args: argparse.Namespace) -> int:
    """Entry point of ``amznetsuite settlement reconcile`` (see the module docstring)."""
    as_json = bool(getattr(args, "json", False))
    try:
        if as_json:
            with _stdout_to_stderr():
                result, outcome = _run(args)
        else:
            result, outcome = _run(args)
    except CliError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    if as_json:
        sys.stdout.write(result.to_json() + "\n")
        sys.stdout.flush()
    else:
        print(_human(result, outcome))
    code = result.exit_code
    if code == 0 and outcome["mode"] == "post" and result.journal is None and not (
            result.journal_problem or "").startswith("nothing to post"):
        code = 1
    return code


__all__ = ["CliError", "reconcile_command"]
