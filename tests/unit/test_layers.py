"""Architecture rules (docs/ARCHITECTURE.md), checked by parsing imports."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[2] / "airflow_provider_amznetsuite"
PRODUCT = ("hooks", "domain", "operators", "sensors", "triggers", "dag_factory", "config", "state")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
    return out


def _files(sub: str) -> list[Path]:
    base = PKG / sub
    return sorted(base.rglob("*.py")) if base.is_dir() else [PKG / f"{sub}.py"]


def test_sandbox_never_imports_product_code():
    bad = []
    for f in _files("sandbox"):
        for mod in _imports(f):
            for part in PRODUCT:
                if mod == f"airflow_provider_amznetsuite.{part}" or mod.startswith(f"airflow_provider_amznetsuite.{part}."):
                    bad.append(f"{f.relative_to(PKG)} imports {mod}")
    assert bad == []


def test_product_code_never_imports_sandbox():
    bad = []
    for part in PRODUCT:
        for f in _files(part):
            for mod in _imports(f):
                if mod.startswith("airflow_provider_amznetsuite.sandbox"):
                    bad.append(f"{f.relative_to(PKG)} imports {mod}")
    assert bad == []


def test_domain_is_pure():
    forbidden = ("airflow", "requests", "urllib3", "http.client", "sqlalchemy", "airflow_provider_amznetsuite.hooks",
                 "airflow_provider_amznetsuite.operators", "airflow_provider_amznetsuite.state")
    bad = []
    for f in _files("domain"):
        for mod in _imports(f):
            if any(mod == x or mod.startswith(x + ".") for x in forbidden):
                bad.append(f"{f.relative_to(PKG)} imports {mod}")
    assert bad == []


def test_hooks_do_not_import_operators_or_dags():
    bad = []
    for f in _files("hooks"):
        for mod in _imports(f):
            if mod.startswith(("airflow_provider_amznetsuite.operators", "airflow_provider_amznetsuite.dag_factory")):
                bad.append(f"{f.relative_to(PKG)} imports {mod}")
    assert bad == []
