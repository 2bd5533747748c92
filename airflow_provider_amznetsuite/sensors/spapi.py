"""Sensors on SP-API state."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from airflow.sdk import BaseSensorOperator, Context, PokeReturnValue
from airflow.sdk.exceptions import AirflowException

from airflow_provider_amznetsuite.hooks.spapi import SpApiHook
from airflow_provider_amznetsuite.triggers.spapi import SpApiNewReportsTrigger, find_done_reports, report_refs

__all__ = ["SettlementReportSensor"]

SETTLEMENT_REPORT_TYPE = "GET_V2_SETTLEMENT_REPORT_DATA_FLAT_FILE_V2"


def _iso(value: str | dt.datetime | None) -> str | None:
    if value is None or value == "":
        return None
    parsed = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value).strip())
    if parsed.tzinfo is None:
        raise ValueError(f"created_since {value!r} has no time zone; use e.g. '{{{{ data_interval_start | ts }}}}'")
    return parsed.astimezone(dt.UTC).isoformat()


class SettlementReportSensor(BaseSensorOperator):
    """Succeed when Amazon has generated a DONE settlement report for the marketplace since ``created_since``.

    Settlement reports cannot be requested; Amazon creates one per settlement period. The sensor lists
    them with ``getReports`` (rate 1 per 45 s, so keep ``poke_interval`` long) and pushes a small
    XCom: ``{"reports": [{report_id, report_document_id, report_type, created_time, data_start_time,
    data_end_time, marketplace_ids}], "counts": {"reports": n}}``, oldest first.

    :param marketplace_id: Amazon marketplace id (templated)
    :param conn_id: ``amazon_sp_api`` connection
    :param created_since: only reports created at/after this aware time or ISO-8601 string (templated,
        e.g. ``"{{ data_interval_start | ts }}"``); None = Amazon's default (90 days back)
    :param report_type: defaults to ``GET_V2_SETTLEMENT_REPORT_DATA_FLAT_FILE_V2``
    :param deferrable: wait in the triggerer instead of a worker slot (default True)
    """

    template_fields: Sequence[str] = ("marketplace_id", "created_since", "report_type")
    ui_color = "#f9e0b0"

    def __init__(
        self,
        *,
        marketplace_id: str,
        conn_id: str = SpApiHook.default_conn_name,
        created_since: str | dt.datetime | None = None,
        report_type: str = SETTLEMENT_REPORT_TYPE,
        deferrable: bool = True,
        poke_interval: timedelta | float = 1800,
        **kwargs: Any,
    ) -> None:
        super().__init__(poke_interval=poke_interval, **kwargs)
        self.marketplace_id = marketplace_id
        self.conn_id = conn_id
        self.created_since = created_since
        self.report_type = report_type
        self.deferrable = deferrable

    def _hook(self) -> SpApiHook:
        return SpApiHook(self.conn_id)

    @staticmethod
    def _xcom(reports: list[dict[str, Any]]) -> dict[str, Any]:
        return {"reports": reports, "counts": {"reports": len(reports)}}

    def _find(self) -> list[dict[str, Any]]:
        return report_refs(find_done_reports(self._hook(), self.report_type, self.marketplace_id, _iso(self.created_since)))

    def poke(self, context: Context) -> PokeReturnValue:
        found = self._find()
        if found:
            self.log.info("%d DONE %s report(s) for %s", len(found), self.report_type, self.marketplace_id)
            return PokeReturnValue(is_done=True, xcom_value=self._xcom(found))
        self.log.info("no DONE %s report for %s yet", self.report_type, self.marketplace_id)
        return PokeReturnValue(is_done=False)

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        found = self._find()  # one check on the worker first: no deferral when the report is already there
        if found:
            return self._xcom(found)
        self.defer(
            trigger=SpApiNewReportsTrigger(
                report_type=self.report_type,
                marketplace_id=self.marketplace_id,
                conn_id=self.conn_id,
                created_since=_iso(self.created_since),
                poll_interval=self.poke_interval,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout),
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        if not event:
            raise AirflowException("SettlementReportSensor resumed without a trigger event")
        if event.get("status") != "success":
            raise AirflowException(f"SettlementReportSensor: {event.get('status')}: {event.get('message', 'no detail')}")
        reports = list(event.get("reports") or [])
        self.log.info("%d DONE %s report(s) for %s", len(reports), self.report_type, self.marketplace_id)
        return self._xcom(reports)
