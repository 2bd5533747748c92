"""docker/: the compose file validates against the Compose JSON Schema and its services are coherent.

No Docker engine is available in CI, so this is the check that the scale-out deployment is well formed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

DOCKER = Path(__file__).resolve().parents[2] / "docker"
ROOT = DOCKER.parent
AIRFLOW_SERVICES = ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-worker", "airflow-triggerer")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DOCKER / "docker-compose.yaml").read_text())


def test_compose_validates_against_the_compose_spec(compose):
    schema = json.loads((DOCKER / "schema" / "compose-spec.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(compose), key=lambda e: list(e.path))
    assert [f"{list(e.path)}: {e.message}" for e in errors] == []


def test_a_broken_compose_file_is_rejected_by_the_schema(compose):
    schema = json.loads((DOCKER / "schema" / "compose-spec.json").read_text())
    broken = json.loads(json.dumps(compose))
    broken["services"]["redis"]["healthcheck"]["interval"] = ["10s"]
    broken["services"]["postgres"]["restart_policy"] = "always"
    assert len(list(jsonschema.Draft7Validator(schema).iter_errors(broken))) >= 2


def test_expected_services_and_dependencies_exist(compose):
    services = compose["services"]
    for name in ("postgres", "redis", "sandboxes", "airflow-init", *AIRFLOW_SERVICES):
        assert name in services, name
    for name, svc in services.items():
        for target in (svc.get("depends_on") or {}):
            assert target in services, f"{name} depends on unknown service {target}"
    for name, svc in services.items():
        for vol in svc.get("volumes", []):
            src = vol.split(":", 1)[0]
            if not src.startswith((".", "/")):
                assert src in compose["volumes"], f"{name} uses undeclared volume {src}"
            elif src.startswith("./"):
                assert (DOCKER / src[2:]).exists(), f"{name} mounts missing file {src}"


def test_long_running_services_have_healthchecks(compose):
    for name, svc in compose["services"].items():
        if name == "airflow-init":
            continue
        assert "healthcheck" in svc and svc["healthcheck"]["test"], name


def test_all_airflow_services_share_one_config_and_image(compose):
    services = compose["services"]
    envs = [{k: v for k, v in services[s]["environment"].items() if k.startswith(("AIRFLOW", "AMZNETSUITE"))}
            for s in AIRFLOW_SERVICES]
    assert all(e == envs[0] for e in envs)
    assert len({services[s]["image"] for s in AIRFLOW_SERVICES}) == 1
    env = envs[0]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert "@postgres/airflow" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://redis:")
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"].startswith("http://airflow-apiserver:8080/")
    state = json.loads(env["AIRFLOW_CONN_AMZNETSUITE_STATE"].replace("${POSTGRES_USER:-airflow}", "airflow").replace("${POSTGRES_PASSWORD:-airflow}", "airflow"))
    db = state["extra"]["url"].rsplit("/", 1)[1]
    assert f"CREATE DATABASE {db};" in (DOCKER / "postgres-init.sql").read_text()


def test_service_commands_are_real_airflow_commands(compose):
    from airflow.cli.cli_config import core_commands

    # `celery worker` comes from the Celery provider that the official image ships with CeleryExecutor.
    names = {c.name for c in core_commands} | {"celery"}
    for s in AIRFLOW_SERVICES:
        cmd = compose["services"][s]["command"].split()[0]
        assert cmd in names, f"{s}: 'airflow {cmd}' does not exist"
    sandbox_cmd = compose["services"]["sandboxes"]["command"]
    assert sandbox_cmd[:3] == ["amznetsuite", "sandbox", "serve"]
    from airflow_provider_amznetsuite.cli import build_parser

    build_parser().parse_args(sandbox_cmd[1:])  # the flags exist


def test_image_installs_the_provider_on_airflow_3_3():
    text = (DOCKER / "Dockerfile").read_text()
    assert re.search(r"apache/airflow:3\.3\.\d+-python3\.1[1-9]", text)
    assert "pip install" in text and "/opt/amznetsuite" in text
    for src in re.findall(r"^COPY (?:--\S+ )*(.+) \S+$", text, flags=re.M):
        for part in src.split():
            assert (ROOT / part).exists(), f"Dockerfile copies missing path {part}"


def test_every_interpolated_variable_has_a_default_or_is_in_env_example(compose):
    text = (DOCKER / "docker-compose.yaml").read_text()
    example = (DOCKER / ".env.example").read_text()
    for var, has_default in re.findall(r"(?<!\$)\$\{([A-Z_][A-Z0-9_]*)(:-)?", text):
        if not has_default:
            assert re.search(rf"^{var}=", example, flags=re.M), f"{var} is neither defaulted nor in .env.example"
