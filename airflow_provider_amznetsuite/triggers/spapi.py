"""Deferrable waits on SP-API: a feed or report reaching a terminal state, new reports appearing.

Each trigger fetches its connection asynchronously once, then runs the synchronous hook call in a
worker thread (``asyncio.to_thread``). Before every poll it awaits the operation's token bucket
(without holding a thread), so many triggers in one triggerer share the seller's usage plan.

Events (one per trigger, then the trigger ends):

* ``SpApiFeedTrigger`` -> ``{"status": DONE|FATAL|CANCELLED|timeout|error, "feed_id", "result_document_id",
  "message"?}``
* ``SpApiReportTrigger`` -> ``{"status": DONE|FATAL|CANCELLED|timeout|error, "report_id", "report_document_id",
  "message"?}``
* ``SpApiNewReportsTrigger`` -> ``{"status": "success"|"timeout"|"error", "reports": [...], "message"?}``
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_amznetsuite.hooks.spapi import TERMINAL_PROCESSING_STATUSES, SpApiHook
from airflow_provider_amznetsuite.hooks.spapi_errors import SpApiError

__all__ = ["SpApiFeedTrigger", "SpApiNewReportsTrigger", "SpApiReportTrigger", "report_refs"]

DEFAULT_CONN_ID = SpApiHook.default_conn_name


def report_refs(reports: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Small, XCom-safe summary of getReports entries (ids and times only)."""
    out = []
    for r in reports:
        out.append({
            "report_id": r.get("reportId"),
            "report_document_id": r.get("reportDocumentId"),
            "report_type": r.get("reportType"),
            "created_time": r.get("createdTime"),
            "data_start_time": r.get("dataStartTime"),
            "data_end_time": r.get("dataEndTime"),
            "marketplace_ids": list(r.get("marketplaceIds") or []),
        })
    return out


class _PollingTrigger(BaseTrigger):
    """Shared machinery: lazy async connection fetch, rate-limit-aware polling, timeout."""

    operation: str = ""

    def __init__(self, *, conn_id: str = DEFAULT_CONN_ID, poll_interval: float = 30.0, timeout: float | None = None) -> None:
        super().__init__()
        if poll_interval < 0:
            raise ValueError("poll_interval must be >= 0 seconds")
        if timeout is not None and timeout < 0:
            raise ValueError("timeout must be >= 0 seconds or None")
        self.conn_id = conn_id
        self.poll_interval = float(poll_interval)
        self.timeout = float(timeout) if timeout is not None else None
        self._hook: SpApiHook | None = None
        self._monotonic: Callable[[], float] = time.monotonic

    async def _get_hook(self) -> SpApiHook:
        if self._hook is None:
            connection = await SpApiHook.aget_connection(self.conn_id)
            self._hook = SpApiHook(self.conn_id, connection=connection)
        return self._hook

    async def _call(self, func: Callable[..., Any], *args: Any) -> Any:
        hook = await self._get_hook()
        wait = await asyncio.to_thread(hook.rate_limit_wait, self.operation)
        if wait > 0:
            await asyncio.sleep(wait)
        return await asyncio.to_thread(func, *args)

    async def _pause(self) -> None:
        """Sleep one poll interval; against a time-scaled sandbox the interval shrinks by the same factor."""
        hook = await self._get_hook()
        scale = max(1.0, float(getattr(hook, "time_scale", 1.0) or 1.0))
        await asyncio.sleep(self.poll_interval / scale)

    def _deadline(self) -> float | None:
        return None if self.timeout is None else self._monotonic() + self.timeout


class SpApiFeedTrigger(_PollingTrigger):
    """Wait until a feed's ``processingStatus`` is DONE, FATAL or CANCELLED (polls ``getFeed``)."""

    operation = "getFeed"

    def __init__(self, feed_id: str, conn_id: str = DEFAULT_CONN_ID, poll_interval: float = 30.0,
                 timeout: float | None = None) -> None:
        super().__init__(conn_id=conn_id, poll_interval=poll_interval, timeout=timeout)
        self.feed_id = str(feed_id)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {"feed_id": self.feed_id, "conn_id": self.conn_id, "poll_interval": self.poll_interval, "timeout": self.timeout},
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        deadline = self._deadline()
        status: str | None = None
        while True:
            try:
                hook = await self._get_hook()
                feed = await self._call(hook.get_feed, self.feed_id)
            except (SpApiError, ValueError) as exc:
                yield TriggerEvent({"status": "error", "feed_id": self.feed_id, "result_document_id": None, "message": str(exc)})
                return
            status = str(feed.get("processingStatus"))
            if status in TERMINAL_PROCESSING_STATUSES:
                yield TriggerEvent({"status": status, "feed_id": self.feed_id,
                                    "result_document_id": feed.get("resultFeedDocumentId")})
                return
            if deadline is not None and self._monotonic() >= deadline:
                yield TriggerEvent({"status": "timeout", "feed_id": self.feed_id, "result_document_id": None,
                                    "message": f"feed {self.feed_id} still {status} after {self.timeout:.0f} s"})
                return
            self.log.info("feed %s is %s; next check in %.0f s", self.feed_id, status, self.poll_interval)
            await self._pause()


class SpApiReportTrigger(_PollingTrigger):
    """Wait until a report's ``processingStatus`` is DONE, FATAL or CANCELLED (polls ``getReport``)."""

    operation = "getReport"

    def __init__(self, report_id: str, conn_id: str = DEFAULT_CONN_ID, poll_interval: float = 30.0,
                 timeout: float | None = None) -> None:
        super().__init__(conn_id=conn_id, poll_interval=poll_interval, timeout=timeout)
        self.report_id = str(report_id)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {"report_id": self.report_id, "conn_id": self.conn_id, "poll_interval": self.poll_interval, "timeout": self.timeout},
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        deadline = self._deadline()
        while True:
            try:
                hook = await self._get_hook()
                report = await self._call(hook.get_report, self.report_id)
            except (SpApiError, ValueError) as exc:
                yield TriggerEvent({"status": "error", "report_id": self.report_id, "report_document_id": None, "message": str(exc)})
                return
            status = str(report.get("processingStatus"))
            if status in TERMINAL_PROCESSING_STATUSES:
                yield TriggerEvent({"status": status, "report_id": self.report_id,
                                    "report_document_id": report.get("reportDocumentId")})
                return
            if deadline is not None and self._monotonic() >= deadline:
                yield TriggerEvent({"status": "timeout", "report_id": self.report_id, "report_document_id": None,
                                    "message": f"report {self.report_id} still {status} after {self.timeout:.0f} s"})
                return
            self.log.info("report %s is %s; next check in %.0f s", self.report_id, status, self.poll_interval)
            await self._pause()


class SpApiNewReportsTrigger(_PollingTrigger):
    """Wait until ``getReports`` lists at least one DONE report of a type for a marketplace created since a time.

    :param created_since: ISO-8601 UTC string (kept as a string so the kwargs serialise), or None for
        Amazon's default (90 days back).
    """

    operation = "getReports"

    def __init__(self, report_type: str, marketplace_id: str, conn_id: str = DEFAULT_CONN_ID,
                 created_since: str | None = None, poll_interval: float = 1800.0, timeout: float | None = None) -> None:
        super().__init__(conn_id=conn_id, poll_interval=poll_interval, timeout=timeout)
        self.report_type = report_type
        self.marketplace_id = marketplace_id
        if created_since is not None:
            parsed = dt.datetime.fromisoformat(created_since)
            if parsed.tzinfo is None:
                raise ValueError(f"created_since {created_since!r} has no time zone; pass an ISO-8601 UTC time")
        self.created_since = created_since

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {"report_type": self.report_type, "marketplace_id": self.marketplace_id, "conn_id": self.conn_id,
             "created_since": self.created_since, "poll_interval": self.poll_interval, "timeout": self.timeout},
        )

    def find(self, hook: SpApiHook) -> list[dict[str, Any]]:
        """DONE reports of the type for the marketplace created at/after ``created_since`` (synchronous)."""
        return find_done_reports(hook, self.report_type, self.marketplace_id, self.created_since)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        deadline = self._deadline()
        while True:
            try:
                hook = await self._get_hook()
                found = await self._call(self.find, hook)
            except (SpApiError, ValueError) as exc:
                yield TriggerEvent({"status": "error", "reports": [], "message": str(exc)})
                return
            if found:
                yield TriggerEvent({"status": "success", "reports": report_refs(found)})
                return
            if deadline is not None and self._monotonic() >= deadline:
                yield TriggerEvent({"status": "timeout", "reports": [],
                                    "message": f"no DONE {self.report_type} report for {self.marketplace_id} after {self.timeout:.0f} s"})
                return
            self.log.info("no new %s report for %s yet; next check in %.0f s", self.report_type, self.marketplace_id,
                          self.poll_interval)
            await self._pause()


def find_done_reports(hook: SpApiHook, report_type: str, marketplace_id: str,
                      created_since: str | dt.datetime | None) -> list[dict[str, Any]]:
    """DONE reports of ``report_type`` for ``marketplace_id`` created at/after ``created_since``, oldest first."""
    since = None
    if created_since is not None:
        since = created_since if isinstance(created_since, dt.datetime) else dt.datetime.fromisoformat(created_since)
        if since.tzinfo is None:
            raise ValueError(f"created_since {created_since!r} has no time zone; pass an ISO-8601 UTC time")
    found = []
    for report in hook.list_reports([report_type], created_since=since, processing_statuses=["DONE"],
                                    marketplace_ids=[marketplace_id]):
        if report.get("processingStatus") != "DONE" or report.get("reportType") != report_type:
            continue
        mps = report.get("marketplaceIds")
        if mps and marketplace_id not in mps:
            continue
        if since is not None and report.get("createdTime"):
            if dt.datetime.fromisoformat(str(report["createdTime"])) < since:
                continue
        found.append(report)
    found.sort(key=lambda r: str(r.get("createdTime") or ""))
    return found
