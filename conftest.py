"""Test bootstrap: an isolated AIRFLOW_HOME set before anything imports Airflow (see docs/ARCHITECTURE.md)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
_HOME = Path(tempfile.mkdtemp(prefix="amznetsuite-airflow-"))
os.environ.setdefault("AIRFLOW_HOME", str(_HOME))
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "dags")
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
os.environ.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{_HOME}/airflow.db")
os.environ.setdefault("AMZNETSUITE_CONFIG", str(ROOT / "dags" / "marketplaces.yaml"))

_migrated = False


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    global _migrated
    if any(item.get_closest_marker("db") for item in items) and not _migrated:
        airflow = Path(sys.executable).parent / "airflow"
        subprocess.run([str(airflow), "db", "migrate"], check=True, env=os.environ.copy(),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _migrated = True
