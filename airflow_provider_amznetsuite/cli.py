"""``amznetsuite`` command line: config validation, sandboxes, demo, settlement reconciliation, Airflow.

User mistakes end with a readable message and a non-zero exit status, never a stack trace.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from airflow_provider_amznetsuite.config import CONFIG_ENV, ConfigError, config_path, load_config


def _cmd_config_validate(args: argparse.Namespace) -> int:
    path = config_path(args.path)
    try:
        app = load_config(path)
    except ConfigError as exc:
        print(f"{path}: {len(exc.problems)} problem(s)", file=sys.stderr)
        for line in exc.problems:
            print(line, file=sys.stderr)
        return 1
    codes = list(app.marketplaces)
    print(f"OK: {len(codes)} marketplace{'s' if len(codes) != 1 else ''} ({', '.join(codes)})")
    return 0


def _cmd_sandbox_serve(args: argparse.Namespace) -> int:
    from airflow_provider_amznetsuite.sandbox.runner import serve

    return serve(args) or 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from airflow_provider_amznetsuite.demo import run_demo

    return run_demo(args)


def _cmd_airflow(args: argparse.Namespace) -> int:
    from airflow_provider_amznetsuite.demo import run_airflow

    return run_airflow(args)


def _cmd_settlement_reconcile(args: argparse.Namespace) -> int:
    from airflow_provider_amznetsuite.settlement_cli import reconcile_command

    return reconcile_command(args)


def _cmd_quarantine(args: argparse.Namespace) -> int:
    from airflow_provider_amznetsuite.state import SyncStateStore

    store = SyncStateStore(args.state_url) if args.state_url else SyncStateStore.from_airflow()
    if args.action == "list":
        rows = store.open_quarantine(args.sync, args.marketplace)
        if args.json:
            print(json.dumps([r.__dict__ for r in rows], default=str, indent=2))
        else:
            for r in rows:
                print(f"{r.marketplace}\t{r.sync}\t{r.key}\tattempts={r.attempts}\t{r.reason}")
            print(f"{len(rows)} open quarantined record(s)")
        return 0
    keys = args.keys
    if not keys:
        print("quarantine resolve: name the record keys to mark resolved", file=sys.stderr)
        return 2
    if not (args.sync and args.marketplace):
        print("quarantine resolve: --sync and --marketplace are required", file=sys.stderr)
        return 2
    n = store.resolve(args.sync, args.marketplace, keys)
    print(f"resolved {n} record(s)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="amznetsuite", description="Amazon Seller Central <-> NetSuite provider tools.")
    sub = p.add_subparsers(dest="command", required=True)

    cfg = sub.add_parser("config", help="marketplace configuration")
    cfg_sub = cfg.add_subparsers(dest="config_command", required=True)
    val = cfg_sub.add_parser("validate", help="validate the marketplace YAML file")
    val.add_argument("path", nargs="?", help=f"config file (default: ${CONFIG_ENV} or dags/marketplaces.yaml)")
    val.set_defaults(func=_cmd_config_validate)

    sb = sub.add_parser("sandbox", help="local SP-API and NetSuite sandboxes")
    sb_sub = sb.add_subparsers(dest="sandbox_command", required=True)
    serve = sb_sub.add_parser("serve", help="serve both sandboxes on 127.0.0.1 until interrupted")
    serve.add_argument("--host", default="127.0.0.1", help="bind address (0.0.0.0 only inside a container network)")
    serve.add_argument("--spapi-port", type=int, default=8701)
    serve.add_argument("--netsuite-port", type=int, default=8702)
    serve.add_argument("--seed", type=int, default=42)
    serve.add_argument("--time-scale", type=float, default=1.0, help="multiply Amazon's rate limits and delays (tests/bench)")
    serve.add_argument("--faults", default=None, help="fault rate (e.g. 0.2) or a JSON object of per-kind knobs")
    serve.add_argument("--netsuite-faults", default=None, help="fault rate or JSON knobs for the NetSuite sandbox")
    serve.add_argument("--latency-ms", type=int, default=0)
    serve.add_argument("--netsuite-db", default=None, help="SQLite file for NetSuite records (default: in memory)")
    serve.add_argument("--print-connections", action="store_true", help="print AIRFLOW_CONN_… lines pointing at the sandboxes")
    serve.set_defaults(func=_cmd_sandbox_serve)

    demo = sub.add_parser("demo", help="run all five syncs for every marketplace against the sandboxes")
    demo.add_argument("--sandbox-running", action="store_true", help="use sandboxes already started with `sandbox serve`")
    demo.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    demo.add_argument("--config", default=None, help="marketplace YAML (default: the example config)")
    demo.add_argument("--marketplaces", default=None, help="comma-separated codes (default: all)")
    demo.add_argument("--workdir", default=None, help="AIRFLOW_HOME and reports (default: ./.airflow-demo)")
    demo.set_defaults(func=_cmd_demo)

    af = sub.add_parser("airflow", help="airflow standalone + sandboxes + example config (UI on :8080)")
    af.add_argument("--port", type=int, default=8080)
    af.add_argument("--workdir", default=None, help="AIRFLOW_HOME (default: ./.airflow)")
    af.set_defaults(func=_cmd_airflow)

    st = sub.add_parser("settlement", help="settlement reconciliation for finance")
    st_sub = st.add_subparsers(dest="settlement_command", required=True)
    rec = st_sub.add_parser("reconcile", help="parse, balance, classify (and match/post) one V2 settlement file")
    rec.add_argument("file")
    rec.add_argument("--marketplace", required=True, help="marketplace code from the config, e.g. uk")
    rec.add_argument("--config", default=None)
    mode = rec.add_mutually_exclusive_group()
    mode.add_argument("--offline", action="store_true", help="no NetSuite: parse, balance and classify only")
    mode.add_argument("--dry-run", action="store_true", help="match against NetSuite but post nothing")
    rec.add_argument("--json", action="store_true", help="print one JSON object")
    rec.add_argument("--report-dir", default=None, help="where to write the HTML/CSV review report")
    rec.set_defaults(func=_cmd_settlement_reconcile)

    q = sub.add_parser("quarantine", help="records that could not be processed")
    q.add_argument("action", choices=["list", "resolve"])
    q.add_argument("keys", nargs="*")
    q.add_argument("--sync", default=None)
    q.add_argument("--marketplace", default=None)
    q.add_argument("--state-url", default=None, help="SQLAlchemy URL of the sync-state DB (default: amznetsuite_state / AIRFLOW_HOME)")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=_cmd_quarantine)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        for line in exc.problems:
            print(line, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
