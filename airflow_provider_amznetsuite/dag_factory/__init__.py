"""DAG factory: one DAG per marketplace × sync, generated from the marketplace YAML file.

Parsing does no network and no Variable/Connection lookup: only the YAML file is read. A sync's DAG
appears once its builder module (``dag_factory/<sync>.py``, exposing ``build(mp, app) -> DAG``) exists.
"""

from __future__ import annotations

import importlib
from datetime import timedelta
from typing import Any

from airflow.sdk import DAG, CronDataIntervalTimetable, Param

from airflow_provider_amznetsuite.config import SYNCS, AppConfig, MarketplaceConfig, load_config

DEFAULT_ARGS: dict[str, Any] = {
    "owner": "amznetsuite",
    "retries": 3,
    "retry_delay": timedelta(minutes=1),
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(minutes=30),
}

# Params every sync DAG has (JSON schema → the Airflow trigger form).
ISO_INSTANT = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$"


def common_params() -> dict[str, Param]:
    return {
        "dry_run": Param(False, type="boolean", title="Dry run",
                         description="Compute and report everything, write nothing to NetSuite or Amazon."),
        "allow_quarantine": Param(False, type="boolean", title="Allow quarantine",
                                  description="Finish green even when records were quarantined (they are still reported)."),
    }


def window_params() -> dict[str, Param]:
    return {
        "window_start": Param(None, type=["null", "string"], pattern=ISO_INSTANT, title="Window start (UTC)",
                              description="Explicit window start, ISO-8601 with zone, e.g. 2026-11-26T00:00:00Z. Overrides the data interval."),
        "window_end": Param(None, type=["null", "string"], pattern=ISO_INSTANT, title="Window end (UTC)",
                            description="Explicit window end (exclusive), ISO-8601 with zone."),
    }


def make_dag(mp: MarketplaceConfig, sync: str, *, params: dict[str, Param], doc_md: str,
             description: str) -> DAG:
    """A DAG with the project's conventions (ids, tags, timetable, retries, max_active_runs)."""
    schedule = getattr(mp.schedules, sync)
    timetable = CronDataIntervalTimetable(schedule, timezone="UTC") if schedule else None
    return DAG(
        dag_id=mp.dag_id(sync),
        description=description,
        schedule=timetable,
        start_date=None if timetable is None else _start_date(),
        catchup=False,
        max_active_runs=1,
        default_args=dict(DEFAULT_ARGS),
        tags=["amazon", "netsuite", f"marketplace:{mp.code}", f"sync:{sync}"],
        params={**common_params(), **params},
        doc_md=doc_md,
        render_template_as_native_obj=False,
    )


def _start_date() -> Any:
    import pendulum

    return pendulum.datetime(2026, 1, 1, tz="UTC")


def builder(sync: str) -> Any | None:
    """The builder module of a sync, or None when that sync has not landed yet."""
    name = f"{__name__}.{sync}"
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name == name:
            return None
        raise


def build_dags(app: AppConfig, only_dag_id: str | None = None) -> dict[str, DAG]:
    dags: dict[str, DAG] = {}
    for code, mp in app.marketplaces.items():
        for sync in SYNCS:
            if not getattr(mp.features, sync):
                continue
            dag_id = mp.dag_id(sync)
            if only_dag_id and dag_id != only_dag_id:
                continue
            mod = builder(sync)
            if mod is None:
                continue
            dags[dag_id] = mod.build(mp, app)
    return dags


def build_dags_from_config(path: str | None = None) -> dict[str, DAG]:
    """Entry point for the DAG file. Raises ConfigError (one import error listing every problem)."""
    only = None
    try:
        from airflow.sdk import get_parsing_context

        only = get_parsing_context().dag_id
    except Exception:
        only = None
    return build_dags(load_config(path), only_dag_id=only)
