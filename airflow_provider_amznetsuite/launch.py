"""Process helpers shared by ``amznetsuite demo``, ``amznetsuite airflow`` and the end-to-end tests.

These start *processes* (the sandboxes, Airflow) and wire them together through environment
variables; they never import the sandbox code into product code.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from airflow_provider_amznetsuite.config import AppConfig

REPO_DAGS = Path(__file__).resolve().parent.parent / "dags"


def bin_path(name: str) -> str:
    """A console script installed beside the running interpreter (the project's venv)."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


def dags_folder() -> Path:
    if (REPO_DAGS / "amazon_netsuite.py").exists():
        return REPO_DAGS
    raise SystemExit("cannot find the dags/ folder with amazon_netsuite.py; run from the repository checkout")


def airflow_env(home: Path, extra: Mapping[str, str] | None = None, *, parallelism: int = 4) -> dict[str, str]:
    """Environment for an isolated Airflow using SQLite under ``home``."""
    home.mkdir(parents=True, exist_ok=True)
    env = os.environ.copy()
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder()),
        "AIRFLOW__CORE__PARALLELISM": str(parallelism),
        "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": str(parallelism),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "20",
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "10",
        "AIRFLOW_CONN_AMZNETSUITE_STATE": json.dumps(
            {"conn_type": "generic", "extra": {"url": f"sqlite:///{home / 'amznetsuite' / 'state.db'}"}}),
    })
    (home / "amznetsuite").mkdir(parents=True, exist_ok=True)
    env.pop("AIRFLOW__CORE__UNIT_TEST_MODE", None)
    if extra:
        env.update(extra)
    return env


class SandboxProcess:
    """``amznetsuite sandbox serve`` in its own process group; parses its connection lines."""

    def __init__(self, *, spapi_port: int = 8701, netsuite_port: int = 8702, extra_args: list[str] | None = None,
                 env: Mapping[str, str] | None = None, timeout: float = 60):
        cmd = [bin_path("amznetsuite"), "sandbox", "serve", "--spapi-port", str(spapi_port),
               "--netsuite-port", str(netsuite_port), "--print-connections", *(extra_args or [])]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env=dict(env or os.environ), start_new_session=True)
        self.connections: dict[str, str] = {}
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"sandbox exited with status {self.proc.returncode}")
                continue
            name, sep, value = line.strip().partition("=")
            if sep and name.startswith("AIRFLOW_CONN_"):
                self.connections[name] = value
                if {"AIRFLOW_CONN_AMAZON_SP_API_DEFAULT", "AIRFLOW_CONN_NETSUITE_DEFAULT"} <= set(self.connections):
                    break
        else:
            self.stop()
            raise RuntimeError("sandbox did not print its connections in time")
        # keep draining output so the child never blocks on a full pipe
        import threading

        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for _ in self.proc.stdout:
            pass

    def stop(self) -> None:
        stop_group(self.proc)


def stop_group(proc: subprocess.Popen, timeout: float = 20) -> None:
    """Terminate a process started with start_new_session=True, with all its children."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=timeout)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=5)


def wait_http(url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - loopback only
                if resp.status < 500:
                    return
        except Exception as exc:  # not up yet
            last = exc
        time.sleep(1)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f}s ({last})")


def pools_for(app: AppConfig) -> dict[str, str]:
    """The SP-API pools the DAGs use, one per seller connection and region."""
    return {mp.pool: f"SP-API calls for {mp.spapi_conn_id} in region {mp.region}" for mp in app.marketplaces.values()}


def migrate_and_create_pools(env: Mapping[str, str], app: AppConfig, slots: int = 4) -> None:
    airflow = bin_path("airflow")
    subprocess.run([airflow, "db", "migrate"], env=dict(env), check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    for name, desc in pools_for(app).items():
        subprocess.run([airflow, "pools", "set", name, str(slots), desc], env=dict(env), check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def admin_password(home: Path) -> tuple[str, str] | None:
    f = home / "simple_auth_manager_passwords.json.generated"
    if not f.exists():
        return None
    data = json.loads(f.read_text())
    user, pw = next(iter(data.items()))
    return user, pw
