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
