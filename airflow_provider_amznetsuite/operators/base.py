"""Shared base for the sync operators: config, state store, sync window, summaries, quarantine outcome.

Operators stay thin: they resolve what to do from the config and the run context, call hooks and pure
domain functions, and return a *small* summary (counts and references) to XCom.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from functools import cached_property
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from airflow_provider_amznetsuite.config import AppConfig, ConfigError, MarketplaceConfig, load_config
from airflow_provider_amznetsuite.hooks.netsuite import NetSuiteHook
from airflow_provider_amznetsuite.hooks.spapi import SpApiHook
from airflow_provider_amznetsuite.state import SyncStateStore

log = logging.getLogger(__name__)

# Manual runs without a logical date have no data interval: they cover this much time up to "now".
DEFAULT_MANUAL_LOOKBACK = timedelta(hours=24)


class SyncWindowError(ValueError):
    """A window Param that cannot be used; the message names the Param and the fix."""


def as_utc(dt: datetime) -> datetime:
    """A plain ``datetime`` in UTC. Airflow hands pendulum DateTimes to tasks; arithmetic on those after
    ``astimezone`` can drop the zone, so everything downstream gets a stdlib datetime."""
    u = dt.astimezone(timezone.utc)
    return datetime(u.year, u.month, u.day, u.hour, u.minute, u.second, u.microsecond, tzinfo=timezone.utc)


def parse_instant(value: Any, name: str) -> datetime:
    """ISO-8601 → aware UTC datetime; naive values are refused (time zones must be explicit)."""
    if isinstance(value, datetime):
        dt = value
    else:
        text = str(value).strip()
        try:
            dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise SyncWindowError(f"Param {name}: {text!r} is not an ISO-8601 instant (e.g. 2026-11-26T00:00:00Z)") from None
    if dt.tzinfo is None:
        raise SyncWindowError(f"Param {name}: {value!r} has no time zone; add 'Z' or an offset such as +00:00")
    return as_utc(dt)


def resolve_window(context: Mapping[str, Any], params: Mapping[str, Any] | None = None,
                   *, lookback: timedelta = DEFAULT_MANUAL_LOOKBACK) -> tuple[datetime, datetime, str]:
    """The [start, end) window a run covers, and where it came from.

    Precedence: explicit Params ``window_start``/``window_end`` → the run's data interval → for manual
    runs without a logical date (no interval), ``lookback`` up to the run's ``run_after`` (or now).
    """
    params = params if params is not None else (context.get("params") or {})
    ps, pe = params.get("window_start"), params.get("window_end")
    if ps or pe:
        if not (ps and pe):
            raise SyncWindowError("Params window_start and window_end must be given together")
        start, end = parse_instant(ps, "window_start"), parse_instant(pe, "window_end")
        source = "params"
    else:
        start = context.get("data_interval_start")
        end = context.get("data_interval_end")
        if start is not None and end is not None and end > start:
            start, end = as_utc(start), as_utc(end)
            source = "data_interval"
        else:
            dag_run = context.get("dag_run")
            run_after = getattr(dag_run, "run_after", None) if dag_run is not None else None
            end = as_utc(run_after or datetime.now(timezone.utc))
            start = end - lookback
            source = "manual"
    if end <= start:
        raise SyncWindowError(f"window end {end.isoformat()} must be after start {start.isoformat()}")
    return start, end, source


class MarketplaceOperator(BaseOperator):
    """Base for all sync operators: one marketplace, one sync."""

    template_fields = ("marketplace",)
    sync: str = ""
    ui_color = "#ffe8cc"

    def __init__(self, *, marketplace: str, config_path: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.marketplace = marketplace
        self.config_path = config_path

    # -- lazily resolved at execute time (never at DAG parse) ------------------------------------
    @cached_property
    def app_config(self) -> AppConfig:
        return load_config(self.config_path)

    @cached_property
    def mp(self) -> MarketplaceConfig:
        return self.app_config.marketplace(self.marketplace)

    @cached_property
    def state(self) -> SyncStateStore:
        return SyncStateStore.from_airflow(self.app_config.state.conn_id)

    def params_of(self, context: Mapping[str, Any]) -> Mapping[str, Any]:
        return context.get("params") or {}

    def dry_run(self, context: Mapping[str, Any]) -> bool:
        return bool(self.params_of(context).get("dry_run"))

    # -- hooks (methods so tests can substitute fakes) --------------------------------------------
    def spapi(self) -> SpApiHook:
        return SpApiHook(self.mp.spapi_conn_id)

    def netsuite(self) -> NetSuiteHook:
        return NetSuiteHook(self.mp.netsuite_conn_id)

    # -- batches handed between tasks (XCom carries only the reference) ----------------------------
    def pull(self, context: Mapping[str, Any], task_id: str) -> dict[str, Any]:
        ti = context.get("ti")
        value = ti.xcom_pull(task_ids=task_id) if ti is not None else None
        return dict(value) if isinstance(value, Mapping) else {}

    def load(self, context: Mapping[str, Any], task_id: str) -> dict[str, Any]:
        """The batch an upstream task stored in the sync-state database."""
        ref = self.pull(context, task_id).get("ref")
        if not ref:
            raise AirflowException(f"task {task_id} left no batch reference in XCom; clear and re-run it first")
        return self.state.get_batch(ref)

    def run_key(self, context: Mapping[str, Any]) -> str:
        """A stable key for this DAG run (batch refs, reports)."""
        run_id = getattr(context.get("dag_run"), "run_id", None) or context.get("run_id") or "adhoc"
        return f"{self.dag_id}/{run_id}"

    # -- outcome ---------------------------------------------------------------------------------
    def record(self, context: Mapping[str, Any], summary: Mapping[str, Any]) -> None:
        """Record this task's summary for the run (intermediate tasks record; the report task finishes)."""
        run_id = getattr(context.get("dag_run"), "run_id", None) or "adhoc"
        try:
            self.state.record_run(self.dag_id, run_id, self.task_id, dict(summary))
        except Exception:  # a summary must never turn a successful sync into a failure
            log.exception("could not record the run summary")
        log.info("%s %s summary: %s", self.marketplace, self.task_id, dict(summary))

    def finish(self, context: Mapping[str, Any], summary: dict[str, Any], *, quarantined: int = 0,
               failures: list[str] | None = None) -> dict[str, Any]:
        """Record the run summary; fail visibly (after all work is done) when anything was quarantined."""
        summary = dict(summary)
        summary["quarantined"] = quarantined
        self.record(context, summary)
        self.purge_expired_batches()
        problems = list(failures or [])
        if quarantined and not self.params_of(context).get("allow_quarantine", False):
            problems.append(
                f"{quarantined} record(s) quarantined for {self.marketplace} {self.sync}; everything else was written. "
                f"See the run summary / `amznetsuite quarantine list` and fix the reasons; they are retried next run."
            )
        if problems:
            raise AirflowFailException("; ".join(problems))
        return summary


    def purge_expired_batches(self) -> int:
        """Delete batches older than ``state.batch_retention_days`` (every sync's last task calls this)."""
        try:
            days = self.app_config.state.batch_retention_days
            n = self.state.purge_batches(datetime.now(timezone.utc) - timedelta(days=days))
        except Exception:  # housekeeping must never fail a sync that did its work
            log.exception("could not purge expired batches")
            return 0
        if n:
            log.info("deleted %d batch(es) older than %d day(s) (state.batch_retention_days)", n, days)
        return n


def config_error_message(exc: ConfigError) -> str:
    return str(exc)
