"""``amznetsuite airflow`` (and, below, ``amznetsuite demo``): the two things a new user runs first."""

from __future__ import annotations

import argparse
import subprocess
import time
from pathlib import Path

from airflow_provider_amznetsuite.config import load_config
from airflow_provider_amznetsuite.launch import (
    SandboxProcess,
    admin_password,
    airflow_env,
    bin_path,
    migrate_and_create_pools,
    stop_group,
    wait_http,
)


def run_airflow(args: argparse.Namespace) -> int:
    """airflow standalone (SQLite, LocalExecutor, parallelism 4) + both sandboxes + the example config."""
    home = Path(args.workdir or ".airflow").resolve()
    app = load_config()
    print("starting the SP-API and NetSuite sandboxes on 127.0.0.1:8701 / :8702 ...", flush=True)
    sandbox = SandboxProcess()
    standalone = None
    try:
        env = airflow_env(home, sandbox.connections)
        env["AIRFLOW__API__PORT"] = str(args.port)
        print(f"preparing Airflow in {home} (db migrate, pools) ...", flush=True)
        migrate_and_create_pools(env, app)
        standalone = subprocess.Popen([bin_path("airflow"), "standalone"], env=env, start_new_session=True,
                                      stdout=open(home / "standalone.log", "a"), stderr=subprocess.STDOUT)
        wait_http(f"http://localhost:{args.port}/api/v2/version", timeout=180)
        for _ in range(30):
            login = admin_password(home)
            if login:
                break
            time.sleep(1)
        print()
        print(f"Airflow UI:   http://localhost:{args.port}")
        if login:
            print(f"Login:        {login[0]} / {login[1]}")
        print(f"Logs:         {home / 'standalone.log'}")
        print("DAGs:         " + ", ".join(mp.dag_id(s) for mp in app.marketplaces.values() for s in ("orders",)) + " … (5 per marketplace)")
        print("Sandboxes:    SP-API http://127.0.0.1:8701/_sandbox/stats   NetSuite http://127.0.0.1:8702/_sandbox/stats")
        print("Press Ctrl-C to stop everything.", flush=True)
        standalone.wait()
        return standalone.returncode or 0
    except KeyboardInterrupt:
        return 0
    finally:
        if standalone is not None:
            stop_group(standalone)
        sandbox.stop()


# --- amznetsuite demo ---------------------------------------------------------------------------
DEMO_TIME_SCALE = 30.0  # sandbox clock and rate limits run 30x faster in the demo (feeds settle in seconds)
SYNC_ORDER = ("products", "inventory", "pricing", "orders", "settlement")  # listings first, settlements last


def _sandbox_connections_for_running(spapi_url: str, netsuite_url: str) -> dict[str, str]:
    """Connections for sandboxes started separately with `amznetsuite sandbox serve` (default ports)."""
    import json
    import urllib.request

    from airflow_provider_amznetsuite.sandbox.netsuite.credentials import connection_extra
    from airflow_provider_amznetsuite.sandbox.spapi.credentials import connection_json

    with urllib.request.urlopen(f"{spapi_url}/_sandbox/stats", timeout=10) as resp:  # noqa: S310 - loopback
        time_scale = float(json.load(resp).get("timeScale", 1.0))
    wait_http(f"{netsuite_url}/_sandbox/stats", timeout=10)
    extra = dict(connection_extra(netsuite_url, auth_type="oauth2"))
    extra["base_url"] = netsuite_url
    return {
        "AIRFLOW_CONN_AMAZON_SP_API_DEFAULT": connection_json(spapi_url, time_scale=time_scale),
        "AIRFLOW_CONN_NETSUITE_DEFAULT": json.dumps({"conn_type": "netsuite", "extra": extra}),
    }


def run_demo(args: argparse.Namespace) -> int:
    """Run all five syncs for every marketplace through Airflow (dag.test) against the sandboxes."""
    import json
    import os
    import sys

    from airflow_provider_amznetsuite.config import config_path
    from airflow_provider_amznetsuite.launch import dags_folder

    started = time.monotonic()
    cfg = config_path(args.config).resolve()
    app = load_config(cfg)
    codes = [c.strip() for c in args.marketplaces.split(",")] if args.marketplaces else list(app.marketplaces)
    unknown = [c for c in codes if c not in app.marketplaces]
    if unknown:
        print(f"demo: unknown marketplace(s) {', '.join(unknown)}; the config has {', '.join(app.marketplaces)}",
              file=sys.stderr)
        return 2
    home = Path(args.workdir or ".airflow-demo").resolve()
    sbx = None
    say = (lambda *a: print(*a, file=sys.stderr, flush=True)) if args.json else (lambda *a: print(*a, flush=True))
    try:
        if args.sandbox_running:
            conns = _sandbox_connections_for_running("http://127.0.0.1:8701", "http://127.0.0.1:8702")
            say("using the sandboxes on 127.0.0.1:8701 (SP-API) and 127.0.0.1:8702 (NetSuite)")
        else:
            from airflow_provider_amznetsuite.sandbox.runner import start_sandboxes

            sbx = start_sandboxes(now="real", time_scale=DEMO_TIME_SCALE, seed=42)
            conns = sbx.connection_env()
            say(f"sandboxes started: SP-API {sbx.spapi_url}, NetSuite {sbx.netsuite_url}")
        env = airflow_env(home, conns)
        env["AMZNETSUITE_CONFIG"] = str(cfg)
        env["AMZNETSUITE_REPORTS"] = str(home / "reports")
        say(f"Airflow home {home}: migrating the metadata database ...")
        migrate_and_create_pools(env, app)
        out = home / "demo-summary.json"
        log = home / "demo.log"
        say(f"running {len(codes) * len(SYNC_ORDER)} DAG runs through Airflow (dag.test); task logs: {log}")
        with open(log, "a") as logf:
            res = subprocess.run(
                [sys.executable, "-m", "airflow_provider_amznetsuite.demo_runner", "--out", str(out),
                 "--dags-folder", str(dags_folder()), "--marketplaces", ",".join(codes), "--syncs", ",".join(SYNC_ORDER)],
                env=env, stdout=logf, stderr=subprocess.STDOUT, check=False)
        if not out.exists():
            say(f"demo failed before producing a summary (exit {res.returncode}); see {log}")
            return 1
        summary = json.loads(out.read_text())
        summary["elapsed_seconds"] = round(time.monotonic() - started, 1)
        summary["log"] = str(log)
        if args.json:
            print(json.dumps(summary, indent=2, sort_keys=False))
        else:
            print(format_summary(summary))
        return 0 if summary.get("ok") else 1
    finally:
        if sbx is not None:
            sbx.stop()
        os.environ.pop("AMZNETSUITE_REPORTS", None)


def format_summary(summary: dict) -> str:
    lines = []
    for code, mp in summary["marketplaces"].items():
        lines.append(f"\n== {code.upper()} ==")
        for sync, body in mp.items():
            state = body.get("state", "?")
            facts = ", ".join(f"{k} {v}" for k, v in body.get("facts", {}).items())
            lines.append(f"  {sync:<11} {state:<8} {facts}")
            for path in body.get("reports", []):
                lines.append(f"  {'':<11} report: {path}")
    lines.append(f"\n{'all DAG runs succeeded' if summary.get('ok') else 'some DAG runs failed'} "
                 f"in {summary.get('elapsed_seconds', '?')} s; task logs: {summary.get('log')}")
    return "\n".join(lines)
