"""The DAG file: parses cleanly, only scheme-named DAGs, no network or connection lookups at parse time."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

pytestmark = pytest.mark.db
import yaml

ROOT = Path(__file__).resolve().parents[2]
DAG_FILE = ROOT / "dags" / "amazon_netsuite.py"
SYNCS = ("orders", "inventory", "products", "pricing", "settlement")
EXPECTED = {f"amazon_{code}_{sync}" for code in ("uk", "de", "us") for sync in SYNCS}


def _dagbag(monkeypatch, config: Path | None = None):
    from airflow.dag_processing.dagbag import DagBag

    if config is not None:
        monkeypatch.setenv("AMZNETSUITE_CONFIG", str(config))

    def no_network(*args, **kwargs):
        raise AssertionError("network access during DAG parsing")

    def no_lookup(*args, **kwargs):
        raise AssertionError("Connection/Variable lookup during DAG parsing")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    from airflow.sdk import BaseHook, Variable

    monkeypatch.setattr(BaseHook, "get_connection", classmethod(no_lookup))
    monkeypatch.setattr(Variable, "get", staticmethod(no_lookup))
    return DagBag(dag_folder=str(DAG_FILE))


def test_dagbag_has_no_import_errors_and_only_scheme_named_dags(monkeypatch):
    bag = _dagbag(monkeypatch)
    assert bag.import_errors == {}
    assert set(bag.dag_ids) == EXPECTED


def test_dag_conventions(monkeypatch):
    from airflow.sdk import CronDataIntervalTimetable

    bag = _dagbag(monkeypatch)
    for dag_id in bag.dag_ids:
        dag = bag.get_dag(dag_id)
        code, sync = dag_id.split("_")[1], dag_id.split("_")[2]
        assert dag.max_active_runs == 1
        assert f"marketplace:{code}" in dag.tags and f"sync:{sync}" in dag.tags
        assert isinstance(dag.timetable, CronDataIntervalTimetable) or type(dag.timetable).__name__ == "CronDataIntervalTimetable"
        assert "dry_run" in dag.params and "allow_quarantine" in dag.params
        for task in dag.tasks:
            assert task.retries >= 1 and task.retry_exponential_backoff


def test_bad_config_is_one_import_error_listing_every_problem(monkeypatch, tmp_path):
    doc = yaml.safe_load((ROOT / "dags" / "marketplaces.yaml").read_text())
    doc["marketplaces"]["uk"]["currency"] = "GBPX"
    doc["marketplaces"]["us"]["region"] = "eu"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(doc))
    bag = _dagbag(monkeypatch, bad)
    assert bag.dag_ids == [] or set(bag.dag_ids) == set()
    assert len(bag.import_errors) == 1
    (message,) = bag.import_errors.values()
    assert "marketplaces.uk.currency: 'GBPX' is not an ISO-4217 currency code" in message
    assert "marketplaces.us.region: Amazon US is served by region 'na', not 'eu'" in message
