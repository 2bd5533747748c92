"""Provider registration as Airflow sees it (entry point, providers CLI, declarative connection forms)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from airflow_provider_amznetsuite.get_provider_info import get_provider_info


def _airflow_json(*args: str) -> list[dict]:
    exe = Path(sys.executable).parent / "airflow"
    res = subprocess.run([str(exe), "providers", *args, "-o", "json"], capture_output=True, text=True,
                         timeout=180, env=os.environ.copy())
    assert res.returncode == 0, res.stderr[-2000:]
    # unit-test mode logs a line to stdout before the JSON document
    start = res.stdout.index("\n[") + 1 if not res.stdout.startswith("[") else 0
    return json.loads(res.stdout[start:])


def test_entry_point_returns_provider_info():
    eps = [ep for ep in entry_points(group="apache_airflow_provider") if ep.value.startswith("airflow_provider_amznetsuite")]
    assert len(eps) == 1 and eps[0].name == "provider_info"
    assert eps[0].load()() == get_provider_info()


def test_provider_info_validates_against_airflow_schema():
    import jsonschema
    from importlib.resources import files

    schema = json.loads(files("airflow").joinpath("provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)


def test_every_listed_module_imports_and_hook_conn_types_match():
    import importlib

    info = get_provider_info()
    modules = [m for key in ("hooks", "operators", "sensors", "triggers") for block in info[key] for m in block["python-modules"]]
    for name in modules:
        importlib.import_module(name)
    for ct in info["connection-types"]:
        mod, _, cls = ct["hook-class-name"].rpartition(".")
        hook = getattr(importlib.import_module(mod), cls)
        assert hook.conn_type == ct["connection-type"]


@pytest.fixture(scope="module")
def hooks_listing():
    return _airflow_json("hooks")


def test_airflow_providers_list_shows_provider():
    names = {p["package_name"] for p in _airflow_json("list")}
    assert "airflow-provider-amznetsuite" in names


def test_airflow_providers_hooks_shows_both_connection_types(hooks_listing):
    by_type = {h["connection_type"]: h for h in hooks_listing}
    assert by_type["amazon_sp_api"]["class"] == "airflow_provider_amznetsuite.hooks.spapi.SpApiHook"
    assert by_type["netsuite"]["class"] == "airflow_provider_amznetsuite.hooks.netsuite.NetSuiteHook"


def test_airflow_providers_widgets_lists_declarative_fields():
    fields = {w["connection_parameter_name"] for w in _airflow_json("widgets")}
    for name in ("refresh_token", "region", "seller_id", "endpoint", "lwa_token_url", "sandbox"):
        assert f"extra__amazon_sp_api__{name}" in fields
    for name in ("account_id", "auth_type", "client_id", "certificate_id", "private_key", "consumer_key",
                 "consumer_secret", "token_id", "token_secret", "base_url", "concurrency"):
        assert f"extra__netsuite__{name}" in fields
