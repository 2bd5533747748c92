"""Push prepared JSON_LISTINGS_FEED documents and advance the sync state only for what Amazon accepted.

Shared by the inventory, pricing and products syncs. A *plan* task stores in the sync-state database
(``put_batch``) a document ``{"feeds": [{"body": str, "sent": {messageId: sku}}], "values": {sku: value},
"direct": [{"sku", "product_type", "patches"}]}`` and returns ``{"ref": ..., "feeds": n, "messages": m}``;
this operator

1. first settles feeds left in flight by earlier runs (so the accepted state is current);
2. submits this run's feeds once each (a retry after a crash re-uses the recorded feed ids);
3. waits without holding a worker slot (``SpApiFeedTrigger``), then reads each processing report:
   accepted SKUs advance the state (``set_accepted``), rejected SKUs are quarantined with Amazon's
   issue codes and re-sent next run, unconfirmed SKUs are simply re-sent next run.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from airflow_provider_amznetsuite.domain.feeds import FeedOutcome, parse_processing_report
from airflow_provider_amznetsuite.hooks.spapi import SpApiHook
from airflow_provider_amznetsuite.operators.base import MarketplaceOperator

FEED_TYPE = "JSON_LISTINGS_FEED"
TERMINAL = ("DONE", "FATAL", "CANCELLED")


def rejection_reason(issues: list[Any]) -> str:
    parts = []
    for i in issues[:5]:
        attr = f" [{i.attribute_name}]" if getattr(i, "attribute_name", None) else ""
        parts.append(f"{i.code or 'ERROR'}{attr}: {i.message}")
    more = f" (+{len(issues) - 5} more)" if len(issues) > 5 else ""
    return "Amazon rejected the listing update — " + "; ".join(parts) + more


class ListingsFeedPushOperator(MarketplaceOperator):
    """Submit the plan's feeds, wait deferrably, apply processing reports (accepted-only state advance)."""

    template_fields = ("marketplace", "plan_task_id")
    ui_color = "#d8e9ff"

    def __init__(self, *, sync: str, plan_task_id: str, deferrable: bool = True, poll_interval: float = 30,
                 feed_timeout: timedelta = timedelta(hours=4), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sync = sync
        self.plan_task_id = plan_task_id
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.feed_timeout = feed_timeout

    # -- helpers -----------------------------------------------------------------------------------
    def hook(self) -> SpApiHook:
        return SpApiHook(self.mp.spapi_conn_id)

    def _outcome_ref(self, context: Mapping[str, Any]) -> str:
        return f"{self.run_key(context)}/{self.task_id}/outcome"

    def _load_outcome(self, context: Mapping[str, Any]) -> dict[str, Any]:
        try:
            return self.state.get_batch(self._outcome_ref(context))
        except KeyError:
            return {"feeds": 0, "accepted": 0, "rejected": 0, "unconfirmed": 0, "direct": 0, "previous_runs": 0,
                    "rejected_codes": {}}

    def _save_outcome(self, context: Mapping[str, Any], outcome: dict[str, Any]) -> None:
        self.state.put_batch(self._outcome_ref(context), outcome)

    def _apply(self, hook: SpApiHook, feed_id: str, payload: Mapping[str, Any], status: str) -> FeedOutcome:
        sent = {int(k): v for k, v in payload["sent"].items()}
        report = None
        if status == "DONE":
            report = hook.get_feed_result(feed_id)
        else:
            try:
                report = hook.get_feed_result(feed_id)
            except Exception:  # FATAL feeds may have no usable report
                report = None
        if report is not None and not isinstance(report, Mapping):
            report = None if status != "DONE" else {"header": {}, "issues": [], "summary": None}
        outcome = parse_processing_report(report, sent, processing_status=status)
        values = payload.get("values", {})
        accepted = {sku: values[sku] for sku in outcome.accepted_skus if sku in values}
        self.state.set_accepted(self.sync, self.marketplace, accepted)
        self.state.resolve(self.sync, self.marketplace, accepted.keys())
        for sku, issues in outcome.rejected.items():
            self.state.quarantine(self.sync, self.marketplace, sku, rejection_reason(issues), detail=f"feed {feed_id}")
        self.state.close_inflight(self.sync, self.marketplace, feed_id)
        self.log.info("feed %s %s: %s", feed_id, status, outcome.counts())
        return outcome

    def _count(self, totals: dict[str, Any], outcome: FeedOutcome) -> None:
        c = outcome.counts()
        for k in ("accepted", "rejected", "unconfirmed"):
            totals[k] = totals.get(k, 0) + c[k]
        for issues in outcome.rejected.values():
            for i in issues:
                code = i.code or "ERROR"
                totals["rejected_codes"][code] = totals["rejected_codes"].get(code, 0) + 1

    def _settle_previous(self, hook: SpApiHook, run: str, totals: dict[str, Any]) -> None:
        """Apply feeds that earlier runs submitted but never read (crash, timeout, cleared task)."""
        for feed_id, payload in self.state.list_inflight(self.sync, self.marketplace).items():
            if payload.get("run") == run:
                continue
            status = hook.get_feed(feed_id).get("processingStatus", "")
            if status in TERMINAL:
                self._apply(hook, feed_id, payload, status)
                totals["previous_runs"] += 1
            else:
                self.log.info("feed %s from an earlier run is still %s; its SKUs are settled by a later run", feed_id, status)

    # -- execution ---------------------------------------------------------------------------------
    def execute(self, context: Mapping[str, Any]) -> dict[str, Any]:
        plan = context["ti"].xcom_pull(task_ids=self.plan_task_id) or {}
        hook = self.hook()
        run = self.run_key(context)
        totals = self._load_outcome(context)
        self._settle_previous(hook, run, totals)
        if not plan.get("ref") or self.params_of(context).get("dry_run"):
            self._save_outcome(context, totals)
            return self._finish(context, totals, plan, dry_run=bool(self.params_of(context).get("dry_run")))
        data = self.state.get_batch(plan["ref"])
        if data.get("direct") and not totals.get("direct"):
            self._push_direct(hook, data, totals)
        mine = {fid: p for fid, p in self.state.list_inflight(self.sync, self.marketplace).items() if p.get("run") == run}
        done_indexes = set(totals.get("submitted_indexes", []))
        for index, feed in enumerate(data.get("feeds", [])):
            if index in done_indexes or any(p.get("index") == index for p in mine.values()):
                continue  # submitted by an earlier try of this task
            feed_id = hook.submit_feed(FEED_TYPE, feed["body"].encode("utf-8"), [self.mp.marketplace_id])
            skus = list(feed["sent"].values())
            self.state.add_inflight(self.sync, self.marketplace, feed_id, {
                "run": run, "index": index, "sent": feed["sent"],
                "values": {sku: data["values"][sku] for sku in skus if sku in data["values"]},
            })
            totals["feeds"] += 1
            totals.setdefault("submitted_indexes", []).append(index)
            self._save_outcome(context, totals)
        self._save_outcome(context, totals)
        return self._wait_or_finish(context, hook, plan)

    def _push_direct(self, hook: SpApiHook, data: Mapping[str, Any], totals: dict[str, Any]) -> None:
        """Small deltas through patchListingsItem (lower latency than a feed; same accepted-only rule)."""
        for msg in data["direct"]:
            sku = msg["sku"]
            body = {"productType": msg["product_type"], "patches": msg["patches"]}
            resp = hook.patch_listings_item(hook.seller_id, sku, [self.mp.marketplace_id], body)
            if str(resp.get("status", "")).upper() == "ACCEPTED":
                self.state.set_accepted(self.sync, self.marketplace, {sku: data["values"][sku]})
                self.state.resolve(self.sync, self.marketplace, [sku])
                totals["accepted"] += 1
            else:
                issues = [i for i in resp.get("issues", []) if str(i.get("severity", "")).upper() == "ERROR"]
                text = "; ".join(f"{i.get('code')}: {i.get('message')}" for i in issues[:5]) or resp.get("status", "not accepted")
                self.state.quarantine(self.sync, self.marketplace, sku, f"Amazon rejected the listing update — {text}")
                totals["rejected"] += 1
            totals["direct"] += 1

    def _wait_or_finish(self, context: Mapping[str, Any], hook: SpApiHook, plan: Mapping[str, Any]) -> dict[str, Any]:
        run = self.run_key(context)
        pending = {fid: p for fid, p in self.state.list_inflight(self.sync, self.marketplace).items() if p.get("run") == run}
        totals = self._load_outcome(context)
        if not pending:
            return self._finish(context, totals, plan)
        feed_id = next(iter(pending))
        if self.deferrable:
            from airflow_provider_amznetsuite.triggers.spapi import SpApiFeedTrigger

            self.defer(
                trigger=SpApiFeedTrigger(feed_id=feed_id, conn_id=self.mp.spapi_conn_id, poll_interval=self.poll_interval,
                                         timeout=self.feed_timeout.total_seconds()),
                method_name="execute_complete",
                timeout=self.feed_timeout,
            )
        deadline = time.monotonic() + self.feed_timeout.total_seconds()
        for fid, payload in pending.items():
            while True:
                status = hook.get_feed(fid).get("processingStatus", "")
                if status in TERMINAL:
                    self._count(totals, self._apply(hook, fid, payload, status))
                    self._save_outcome(context, totals)
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"feed {fid} not processed within {self.feed_timeout}; it is settled by the next run")
                time.sleep(self.poll_interval)
        return self._finish(context, totals, plan)

    def execute_complete(self, context: Mapping[str, Any], event: Mapping[str, Any] | None = None) -> dict[str, Any]:
        event = event or {}
        feed_id = str(event.get("feed_id", ""))
        status = str(event.get("status", "")).upper()
        hook = self.hook()
        if status not in TERMINAL:
            raise RuntimeError(f"feed {feed_id}: waiting ended without a final status ({event.get('message') or status}); "
                               "it is settled by the next run")
        payload = self.state.list_inflight(self.sync, self.marketplace).get(feed_id)
        totals = self._load_outcome(context)
        if payload is not None:
            self._count(totals, self._apply(hook, feed_id, payload, status))
            self._save_outcome(context, totals)
        plan = context["ti"].xcom_pull(task_ids=self.plan_task_id) or {}
        return self._wait_or_finish(context, hook, plan)

    def _finish(self, context: Mapping[str, Any], totals: Mapping[str, Any], plan: Mapping[str, Any], *,
                dry_run: bool = False) -> dict[str, Any]:
        summary = {
            "planned_messages": plan.get("messages", 0), "feeds": totals.get("feeds", 0), "direct": totals.get("direct", 0),
            "accepted": totals.get("accepted", 0), "rejected": totals.get("rejected", 0),
            "unconfirmed": totals.get("unconfirmed", 0), "rejected_codes": totals.get("rejected_codes", {}),
            "settled_from_previous_runs": totals.get("previous_runs", 0), "dry_run": dry_run,
        }
        return self.finish(context, summary, quarantined=summary["rejected"])
