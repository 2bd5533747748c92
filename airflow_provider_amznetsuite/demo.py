"""``amznetsuite airflow`` (and, below, ``amznetsuite demo``): the two things a new user runs first."""

from __future__ import annotations

import argparse
import subprocess
import time
from pathlib import Path

from airflow_provider_amznetsuite.config import load_config
from airflow_provider_amznetsuite.launch import (
    AirflowStandalone,
    SandboxProcess,
    airflow_env,
    bin_path,
    free_port,
    migrate_and_create_pools,
    port_in_use,
    wait_http,
)


AIRFLOW_SANDBOX_TIME_SCALE = 10.0  # `make airflow`: feeds settle in seconds; SP-API rate limits 10x Amazon's
SANDBOX_PORTS = (8701, 8702)


def run_airflow(args: argparse.Namespace) -> int:
    """airflow standalone (SQLite, LocalExecutor, parallelism 4) + both sandboxes + the example config.

    Runs until Ctrl-C (SIGINT), SIGTERM or SIGHUP, then stops Airflow and the sandboxes with all their
    child processes.
    """
    import signal
    import sys

    from airflow_provider_amznetsuite.config import SYNCS

    home = Path(args.workdir or ".airflow").resolve()
    port = int(args.port)
    app = load_config()
    if port_in_use(port):
        print(f"airflow: port {port} is already in use (another `make airflow`?); stop it or pass --port",
              file=sys.stderr)
        return 2

    def _interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    # SIGINT too: a shell that starts us in the background (`make airflow &`) leaves SIGINT ignored
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    sandbox = None
    standalone = None
    try:
        print(f"starting the SP-API and NetSuite sandboxes on 127.0.0.1:{SANDBOX_PORTS[0]} / :{SANDBOX_PORTS[1]} "
              f"(time scale {AIRFLOW_SANDBOX_TIME_SCALE:g}) ...", flush=True)
        sandbox = SandboxProcess(spapi_port=SANDBOX_PORTS[0], netsuite_port=SANDBOX_PORTS[1],
                                 extra_args=["--time-scale", str(AIRFLOW_SANDBOX_TIME_SCALE)])
        log_ports = [p if not port_in_use(p) else free_port() for p in (8793, 8794)]
        env = airflow_env(home, sandbox.connections, api_port=port, worker_log_port=log_ports[0],
                          trigger_log_port=log_ports[1])
        print(f"preparing Airflow in {home} (db migrate, pools) ...", flush=True)
        stale_state = home / "amznetsuite" / "state.db"
        if stale_state.exists():  # the sandboxes start empty: sync state of an earlier session would not match
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{stale_state}{suffix}").unlink(missing_ok=True)
            print(f"              reset the sync state of the previous session ({stale_state})", flush=True)
        migrate_and_create_pools(env, app)
        print("starting airflow standalone (api-server, scheduler, dag-processor, triggerer) ...", flush=True)
        standalone = AirflowStandalone(home, env)
        standalone.wait_ready(timeout=300)
        user, password = standalone.login()
        expected = sorted(mp.dag_id(s) for mp in app.marketplaces.values() for s in SYNCS if getattr(mp.features, s))
        listed = standalone.wait_for_dags(expected, timeout=180)
        print()
        print(f"Airflow UI:   http://localhost:{port}")
        print(f"Login:        {user} / {password}")
        print(f"DAGs:         {len(listed)} of {len(expected)} listed ({', '.join(listed) or 'none yet'})")
        missing = sorted(set(expected) - set(listed))
        if missing:
            print(f"              not listed yet: {', '.join(missing)} (see Import errors in the UI)")
        print("              New DAGs start paused: unpause one with its toggle, or tick \"Unpause … on trigger\"")
        print("              in the Trigger form (Params: window_start/window_end, dry_run, …).")
        print(f"Backfill:     UI → DAG → Backfill, or AIRFLOW_HOME={home} {bin_path('airflow')} backfill create "
              f"--dag-id amazon_uk_settlement --from-date <YYYY-MM-DD> --to-date <YYYY-MM-DD>")
        print(f"Sandboxes:    SP-API {sandbox.spapi_url}/_sandbox/stats   NetSuite {sandbox.netsuite_url}/_sandbox/stats")
        print(f"Logs:         {standalone.log_path}")
        print("Press Ctrl-C to stop everything.", flush=True)
        while standalone.proc.poll() is None:
            time.sleep(1)
        print(f"airflow standalone exited with status {standalone.proc.returncode}; last lines of its log:\n"
              f"{standalone.log_tail()}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nstopping Airflow and the sandboxes ...", flush=True)
        return 0
    except RuntimeError as exc:
        print(f"airflow: {exc}", file=sys.stderr)
        return 1
    finally:
        for sig in previous:  # a second Ctrl-C must not interrupt the clean-up
            signal.signal(sig, signal.SIG_IGN)
        left = (standalone.stop() if standalone is not None else []) + (sandbox.stop() if sandbox is not None else [])
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if left:
            print(f"airflow: processes still alive after stopping: {left}", file=sys.stderr)
        elif sandbox is not None:
            print("stopped.", flush=True)


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
            import shutil

            from airflow_provider_amznetsuite.sandbox.runner import start_sandboxes

            # fresh sandboxes start empty: so must the sync state (kept with --sandbox-running, which is
            # what makes a second run against the same sandboxes change nothing)
            shutil.rmtree(home / "amznetsuite", ignore_errors=True)
            shutil.rmtree(home / "reports", ignore_errors=True)
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
                 f"in {summary.get('elapsed_seconds', '?')} s ('flagged' = finished, with records listed for review); "
                 f"task logs: {summary.get('log')}")
    lines.append("quarantined/held/invalid records: amznetsuite quarantine list "
                 "(with AIRFLOW_HOME set to the demo's Airflow home)")
    return "\n".join(lines)
