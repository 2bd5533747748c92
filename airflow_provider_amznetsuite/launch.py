"""Process helpers shared by ``amznetsuite demo``, ``amznetsuite airflow`` and the end-to-end tests.

These start *processes* (the sandboxes, Airflow) and wire them together through environment
variables; they never import the sandbox code into product code.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Mapping
from contextlib import suppress
from pathlib import Path
from typing import IO, Any

import psutil
import requests

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


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """True when something already accepts connections on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, port)) == 0


def _jwt_secret(home: Path) -> str:
    """One strong signing key per AIRFLOW_HOME, shared by every Airflow component started from it."""
    f = home / ".jwt_secret"
    if not f.exists():
        f.write_text(secrets.token_urlsafe(64))
        f.chmod(0o600)
    return f.read_text().strip()


def airflow_env(home: Path, extra: Mapping[str, str] | None = None, *, parallelism: int = 4, api_port: int = 8080,
                worker_log_port: int = 8793, trigger_log_port: int = 8794) -> dict[str, str]:
    """Environment for an isolated Airflow using SQLite under ``home``.

    The API server listens on ``127.0.0.1:api_port`` and task workers reach its execution API there
    (Airflow otherwise assumes ``localhost:8080``); the two log-server ports are configurable so that
    a second Airflow (e.g. the end-to-end test next to ``make airflow``) does not collide.
    """
    home.mkdir(parents=True, exist_ok=True)
    env = os.environ.copy()
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder()),
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": str(parallelism),
        "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": str(parallelism),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        # new DAG files show up within 20 s; a changed file or config is re-parsed within 30 s
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "20",
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "30",
        "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__API_AUTH__JWT_SECRET": _jwt_secret(home),
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(worker_log_port),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(trigger_log_port),
        "AIRFLOW_CONN_AMZNETSUITE_STATE": json.dumps(
            {"conn_type": "generic", "extra": {"url": f"sqlite:///{home / 'amznetsuite' / 'state.db'}"}}),
    })
    (home / "amznetsuite").mkdir(parents=True, exist_ok=True)
    env.pop("AIRFLOW__CORE__UNIT_TEST_MODE", None)
    # `airflow standalone` starts its components as plain `airflow …`: make that the venv's script even
    # when the venv is not activated (e.g. `make airflow`).
    venv_bin = str(Path(sys.executable).parent)
    if env.get("PATH", "").split(os.pathsep)[0] != venv_bin:
        env["PATH"] = os.pathsep.join([venv_bin, env.get("PATH", "")]).rstrip(os.pathsep)
    if extra:
        env.update(extra)
    return env


class _OutputPump:
    """Reads a child's combined output on a thread (the child never blocks on a full pipe) and keeps the tail."""

    def __init__(self, stream: IO[str], keep: int = 60) -> None:
        self.lines: deque[str] = deque(maxlen=keep)
        self._new = threading.Condition()
        self._all: list[str] = []
        self._done = False
        self._thread = threading.Thread(target=self._run, args=(stream,), daemon=True)
        self._thread.start()

    def _run(self, stream: IO[str]) -> None:
        for line in stream:
            with self._new:
                self.lines.append(line.rstrip("\n"))
                if len(self._all) < 1000:  # only the start-up lines are ever searched
                    self._all.append(line.rstrip("\n"))
                self._new.notify_all()
        with self._new:
            self._done = True
            self._new.notify_all()

    def wait_for(self, predicate: Callable[[list[str]], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._new:
            while not predicate(self._all):
                remaining = deadline - time.monotonic()
                if self._done or remaining <= 0:
                    return predicate(self._all)
                self._new.wait(remaining)
            return True

    def tail(self) -> str:
        with self._new:
            return "\n".join(self.lines)


class SandboxProcess:
    """``amznetsuite sandbox serve`` in its own process group; parses its connection lines.

    ``extra_args`` go to ``sandbox serve`` (e.g. ``["--time-scale", "30"]``). ``connections`` holds the
    ``AIRFLOW_CONN_*`` values it printed; ``spapi_url`` / ``netsuite_url`` the two base URLs.
    """

    REQUIRED = ("AIRFLOW_CONN_AMAZON_SP_API_DEFAULT", "AIRFLOW_CONN_NETSUITE_DEFAULT")

    def __init__(self, *, spapi_port: int = 8701, netsuite_port: int = 8702, extra_args: list[str] | None = None,
                 env: Mapping[str, str] | None = None, timeout: float = 60):
        for port in (spapi_port, netsuite_port):
            if port and port_in_use(port):
                raise RuntimeError(f"port {port} on 127.0.0.1 is already in use (another `amznetsuite sandbox serve` "
                                   f"or `make airflow`?); stop it or choose other ports")
        cmd = [bin_path("amznetsuite"), "sandbox", "serve", "--spapi-port", str(spapi_port),
               "--netsuite-port", str(netsuite_port), "--print-connections", *(extra_args or [])]
        self.spapi_url = f"http://127.0.0.1:{spapi_port}"
        self.netsuite_url = f"http://127.0.0.1:{netsuite_port}"
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env=dict(env or os.environ), start_new_session=True)
        assert self.proc.stdout is not None
        self.output = _OutputPump(self.proc.stdout)
        self.connections: dict[str, str] = {}

        def printed_all(lines: list[str]) -> bool:
            for line in lines:
                name, sep, value = line.strip().partition("=")
                if sep and name.startswith("AIRFLOW_CONN_"):
                    self.connections[name] = value
            return set(self.REQUIRED) <= set(self.connections)

        try:
            ready = self.output.wait_for(printed_all, timeout)
        except BaseException:  # e.g. Ctrl-C while starting: do not leave the child behind
            self.stop()
            raise
        if not ready:
            status = self.proc.poll()
            self.stop()
            what = f"exited with status {status}" if status is not None else f"printed no connections within {timeout:.0f}s"
            raise RuntimeError(f"`amznetsuite sandbox serve` {what}; its output:\n{self.output.tail()}")

    def stop(self) -> list[int]:
        return stop_group(self.proc)


def _signal_quietly(proc: psutil.Process, sig: int) -> None:
    with suppress(psutil.Error):
        proc.send_signal(sig)


def stop_group(proc: subprocess.Popen[Any], timeout: float = 20, sig: int = signal.SIGTERM) -> list[int]:
    """Stop a process started with ``start_new_session=True`` together with all its descendants.

    Sends ``sig`` to the process group, and directly to descendants that moved to a group of their own
    (Airflow's task runners do), waits up to ``timeout`` seconds, then SIGKILLs what is left. Returns
    the pids that were still alive after SIGKILL (normally none).
    """
    try:
        tree = psutil.Process(proc.pid).children(recursive=True)
    except psutil.Error:
        tree = []
    if proc.poll() is None:
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
    for child in tree:
        with suppress(psutil.Error):
            if os.getpgid(child.pid) != proc.pid:
                _signal_quietly(child, sig)
    deadline = time.monotonic() + timeout
    with suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=max(0.1, deadline - time.monotonic()))
    _, alive = psutil.wait_procs(tree, timeout=max(0.1, deadline - time.monotonic()))
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)  # anything started in the group meanwhile
    for child in alive:
        _signal_quietly(child, signal.SIGKILL)
    if proc.poll() is None:
        proc.kill()
    with suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)
    _, still = psutil.wait_procs(alive, timeout=5)
    return [p.pid for p in still] + ([proc.pid] if proc.poll() is None else [])


def wait_http(url: str, timeout: float = 120, proc: subprocess.Popen[Any] | None = None) -> None:
    """Wait until ``url`` answers with a status below 500; stop early when ``proc`` exits."""
    deadline = time.monotonic() + timeout
    last: Exception | str | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the process serving {url} exited with status {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - loopback only
                if resp.status < 500:
                    return
                last = f"HTTP {resp.status}"
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                return
            last = exc
        except Exception as exc:  # not up yet
            last = exc
        time.sleep(0.5)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f}s ({last})")


def pools_for(app: AppConfig) -> dict[str, str]:
    """The SP-API pools the DAGs use, one per seller connection and region."""
    return {mp.pool: f"SP-API calls for {mp.spapi_conn_id} in region {mp.region}" for mp in app.marketplaces.values()}


def migrate_and_create_pools(env: Mapping[str, str], app: AppConfig, slots: int = 4) -> None:
    """``airflow db migrate`` then one ``airflow pools import`` with every pool the DAGs use."""
    airflow = bin_path("airflow")
    _run_cli([airflow, "db", "migrate"], env)
    pools = {name: {"slots": slots, "description": desc, "include_deferred": False}
             for name, desc in pools_for(app).items()}
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="amznetsuite-pools-", delete=False) as f:
        json.dump(pools, f)
    try:
        _run_cli([airflow, "pools", "import", f.name], env)
    finally:
        os.unlink(f.name)


def _run_cli(cmd: list[str], env: Mapping[str, str]) -> None:
    res = subprocess.run(cmd, env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         check=False)
    if res.returncode != 0:
        tail = "\n".join(res.stdout.splitlines()[-30:])
        raise RuntimeError(f"`{' '.join(Path(cmd[0]).name if i == 0 else c for i, c in enumerate(cmd))}` "
                           f"failed with status {res.returncode}:\n{tail}")


def admin_password(home: Path) -> tuple[str, str] | None:
    """The SimpleAuthManager login ``(user, password)`` that ``airflow standalone`` generated, if any yet."""
    f = home / "simple_auth_manager_passwords.json.generated"
    if not f.exists():
        return None
    try:
        data = json.loads(f.read_text())
    except json.JSONDecodeError:  # being written right now
        return None
    if not data:
        return None
    user, pw = next(iter(data.items()))
    return str(user), str(pw)


class AirflowStandalone:
    """``airflow standalone`` in its own process group with its output in ``log_path``.

    ``env`` comes from :func:`airflow_env` (its ``AIRFLOW__API__PORT`` decides the URL).
    """

    def __init__(self, home: Path, env: Mapping[str, str], log_path: Path | None = None) -> None:
        self.home = home
        self.env = dict(env)
        self.port = int(self.env.get("AIRFLOW__API__PORT", "8080"))
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path or home / "standalone.log"
        if port_in_use(self.port):
            raise RuntimeError(f"port {self.port} on 127.0.0.1 is already in use (another Airflow?); stop it or "
                               f"choose another port")
        self._log = open(self.log_path, "a")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen([bin_path("airflow"), "standalone"], env=self.env, start_new_session=True,
                                     stdout=self._log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 180) -> None:
        """Wait until the REST API answers and the admin password file exists."""
        try:
            wait_http(f"{self.url}/api/v2/version", timeout=timeout, proc=self.proc)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}; last lines of {self.log_path}:\n{self.log_tail()}") from None
        deadline = time.monotonic() + 30
        while admin_password(self.home) is None and time.monotonic() < deadline:
            time.sleep(0.5)

    def login(self) -> tuple[str, str]:
        login = admin_password(self.home)
        if login is None:
            raise RuntimeError(f"no generated admin password in {self.home}")
        return login

    def token(self) -> str:
        """A JWT for the REST API (SimpleAuthManager: POST /auth/token with the generated admin login)."""
        user, pw = self.login()
        resp = requests.post(f"{self.url}/auth/token", json={"username": user, "password": pw}, timeout=30)
        if resp.status_code not in (200, 201):
            raise RuntimeError(f"POST /auth/token answered HTTP {resp.status_code}: {resp.text[:300]}")
        return str(resp.json()["access_token"])

    def wait_for_dags(self, expected: list[str], timeout: float = 180) -> list[str]:
        """Those of ``expected`` that GET /api/v2/dags lists, waiting until all are there or ``timeout``."""
        headers = {"Authorization": f"Bearer {self.token()}"}
        deadline = time.monotonic() + timeout
        listed: list[str] = []
        while time.monotonic() < deadline:
            resp = requests.get(f"{self.url}/api/v2/dags", params={"limit": 1000}, headers=headers, timeout=30)
            if resp.status_code == 200:
                listed = sorted(d["dag_id"] for d in resp.json()["dags"] if d["dag_id"] in expected)
                if len(listed) == len(expected):
                    break
            time.sleep(1)
        return listed

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 30) -> list[int]:
        try:
            return stop_group(self.proc, timeout=timeout)
        finally:
            self._log.close()
