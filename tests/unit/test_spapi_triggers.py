"""Deferrable SP-API waits: trigger serialisation round-trips, run() against a local fake SP-API, and the
settlement-report sensor in poke and deferrable mode."""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from airflow.sdk import PokeReturnValue
from airflow.sdk.exceptions import AirflowException, TaskDeferred

from airflow_provider_amznetsuite.sensors.spapi import SettlementReportSensor
from airflow_provider_amznetsuite.triggers.spapi import SpApiFeedTrigger, SpApiNewReportsTrigger, SpApiReportTrigger
from tests.contract.spapi_fakes import ACCESS_TOKEN, CLIENT_SECRET, REFRESH_TOKEN, SECRETS, env_connection
from tests.contract.swagger import check_http

UK = "A1F83G8C2ARO7P"
SETTLEMENT = "GET_V2_SETTLEMENT_REPORT_DATA_FLAT_FILE_V2"


class FakeSpApi:
    """Loopback SP-API double: LWA endpoint plus scripted responses per path (the last one repeats).

    Every request is validated against Amazon's models and kept in ``requests``.
    """

    def __init__(self) -> None:
        self.script: dict[str, list[tuple[int, Any]]] = {}
        self.requests: list[tuple[str, str, dict[str, str], list[str]]] = []
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                fake.handle(self)

            do_POST = do_GET

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        parts = urlsplit(h.path)
        if parts.path == "/auth/o2/token":
            status, payload = 200, {"access_token": ACCESS_TOKEN, "token_type": "bearer", "expires_in": 3600}
        else:
            problems = check_http(h.command, h.path, dict(h.headers.items()), body).problems
            with self._lock:
                self.requests.append((h.command, parts.path, dict(parse_qsl(parts.query)), problems))
                steps = self.script.get(parts.path) or [(404, {"errors": [{"code": "NotFound", "message": "Resource not found"}]})]
                status, payload = steps.pop(0) if len(steps) > 1 else steps[0]
            if h.headers.get("x-amz-access-token") != ACCESS_TOKEN:
                status, payload = 403, {"errors": [{"code": "Unauthorized", "message": "Access to requested resource is denied."}]}
        data = json.dumps(payload).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def calls(self, path: str) -> list[dict[str, str]]:
        with self._lock:
            return [q for _, p, q, _ in self.requests if p == path]

    def problems(self) -> list[str]:
        with self._lock:
            return [f"{m} {p}: {x}" for m, p, _, probs in self.requests for x in probs]


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSpApi]:
    server = FakeSpApi()
    try:
        with env_connection(monkeypatch, "spapi_trig", endpoint=server.url, lwa_token_url=server.url + "/auth/o2/token"):
            yield server
    finally:
        server.stop()
    assert server.problems() == [], "requests violating Amazon's models"


async def _first_event(trigger: Any) -> Any:
    async for event in trigger.run():
        return event
    raise AssertionError("trigger ended without an event")


def run_trigger(trigger: Any) -> dict[str, Any]:
    event = asyncio.run(asyncio.wait_for(_first_event(trigger), 30))
    json.dumps(event.payload)  # events must be JSON-serialisable
    return event.payload


def feed(status: str, **extra: Any) -> dict[str, Any]:
    return {"feedId": "50012345", "feedType": "JSON_LISTINGS_FEED", "createdTime": "2026-03-01T10:00:00Z",
            "processingStatus": status, **extra}


def report(report_id: str, status: str, created: str, marketplace: str = UK, **extra: Any) -> dict[str, Any]:
    return {"reportId": report_id, "reportType": SETTLEMENT, "createdTime": created, "processingStatus": status,
            "marketplaceIds": [marketplace], "dataStartTime": "2026-02-01T00:00:00Z", "dataEndTime": "2026-02-15T00:00:00Z",
            **extra}


# --------------------------------------------------------------------------------------------------
# serialisation (the way Airflow's own trigger tests check it)
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("trigger", "classpath", "kwargs"),
    [
        (SpApiFeedTrigger(feed_id="50012345", conn_id="spapi_uk", poll_interval=15, timeout=3600),
         "airflow_provider_amznetsuite.triggers.spapi.SpApiFeedTrigger",
         {"feed_id": "50012345", "conn_id": "spapi_uk", "poll_interval": 15.0, "timeout": 3600.0}),
        (SpApiReportTrigger(report_id="ID323", conn_id="spapi_uk"),
         "airflow_provider_amznetsuite.triggers.spapi.SpApiReportTrigger",
         {"report_id": "ID323", "conn_id": "spapi_uk", "poll_interval": 30.0, "timeout": None}),
        (SpApiNewReportsTrigger(report_type=SETTLEMENT, marketplace_id=UK, conn_id="spapi_uk",
                                created_since="2026-02-01T00:00:00+00:00", poll_interval=900, timeout=86400),
         "airflow_provider_amznetsuite.triggers.spapi.SpApiNewReportsTrigger",
         {"report_type": SETTLEMENT, "marketplace_id": UK, "conn_id": "spapi_uk", "created_since": "2026-02-01T00:00:00+00:00",
          "poll_interval": 900.0, "timeout": 86400.0}),
    ],
)
def test_trigger_serialization_round_trip(trigger: Any, classpath: str, kwargs: dict[str, Any]) -> None:
    got_classpath, got_kwargs = trigger.serialize()
    assert got_classpath == classpath
    assert got_kwargs == kwargs
    assert json.loads(json.dumps(got_kwargs)) == got_kwargs
    module, _, name = got_classpath.rpartition(".")
    rebuilt = getattr(importlib.import_module(module), name)(**got_kwargs)
    assert type(rebuilt) is type(trigger)
    assert rebuilt.serialize() == (classpath, kwargs)


def test_trigger_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        SpApiNewReportsTrigger(report_type=SETTLEMENT, marketplace_id=UK, created_since="2026-02-01T00:00:00")
    with pytest.raises(ValueError, match="poll_interval"):
        SpApiFeedTrigger(feed_id="1", poll_interval=-1)


# --------------------------------------------------------------------------------------------------
# run() against the local fake
# --------------------------------------------------------------------------------------------------
def test_feed_trigger_polls_until_done(fake: FakeSpApi) -> None:
    fake.script["/feeds/2021-06-30/feeds/50012345"] = [
        (200, feed("IN_QUEUE")), (200, feed("IN_PROGRESS")),
        (200, feed("DONE", resultFeedDocumentId="amzn1.tortuga.4.eu.res1")),
    ]
    payload = run_trigger(SpApiFeedTrigger(feed_id="50012345", conn_id="spapi_trig", poll_interval=0))
    assert payload == {"status": "DONE", "feed_id": "50012345", "result_document_id": "amzn1.tortuga.4.eu.res1"}
    assert len(fake.calls("/feeds/2021-06-30/feeds/50012345")) == 3


def test_report_trigger_reports_fatal(fake: FakeSpApi) -> None:
    base = {"reportId": "R9", "reportType": "GET_MERCHANT_LISTINGS_ALL_DATA", "createdTime": "2026-03-01T10:00:00Z"}
    fake.script["/reports/2021-06-30/reports/R9"] = [
        (200, {**base, "processingStatus": "IN_QUEUE"}),
        (200, {**base, "processingStatus": "FATAL", "reportDocumentId": "error-doc-1"}),
    ]
    payload = run_trigger(SpApiReportTrigger(report_id="R9", conn_id="spapi_trig", poll_interval=0))
    assert payload == {"status": "FATAL", "report_id": "R9", "report_document_id": "error-doc-1"}


def test_trigger_yields_an_error_event_without_secrets(fake: FakeSpApi) -> None:
    payload = run_trigger(SpApiFeedTrigger(feed_id="missing", conn_id="spapi_trig", poll_interval=0))
    assert payload["status"] == "error" and payload["feed_id"] == "missing"
    assert "getFeed" in payload["message"] and "NotFound" in payload["message"] and "HTTP 404" in payload["message"]
    assert all(s not in payload["message"] for s in SECRETS)


def test_feed_trigger_timeout(fake: FakeSpApi) -> None:
    fake.script["/feeds/2021-06-30/feeds/50012345"] = [(200, feed("IN_PROGRESS"))]
    ticks = iter(range(100))
    trigger = SpApiFeedTrigger(feed_id="50012345", conn_id="spapi_trig", poll_interval=0, timeout=1.5)
    trigger._monotonic = lambda: float(next(ticks))
    payload = run_trigger(trigger)
    assert payload["status"] == "timeout" and "still IN_PROGRESS" in payload["message"]
    assert len(fake.calls("/feeds/2021-06-30/feeds/50012345")) == 2


def test_new_reports_trigger_waits_for_a_matching_done_report(fake: FakeSpApi) -> None:
    fake.script["/reports/2021-06-30/reports"] = [
        (200, {"reports": []}),
        (200, {"reports": [
            report("R-old", "DONE", "2026-01-20T00:00:00Z", reportDocumentId="D-old"),  # before created_since
            report("R-de", "DONE", "2026-02-16T00:00:00Z", marketplace="A1PA6795UKMFR9", reportDocumentId="D-de"),
            report("R-uk", "DONE", "2026-02-16T03:00:00Z", reportDocumentId="D-uk"),
        ]}),
    ]
    trigger = SpApiNewReportsTrigger(report_type=SETTLEMENT, marketplace_id=UK, conn_id="spapi_trig",
                                     created_since="2026-02-01T00:00:00+00:00", poll_interval=0)
    payload = run_trigger(trigger)
    assert payload == {"status": "success", "reports": [{
        "report_id": "R-uk", "report_document_id": "D-uk", "report_type": SETTLEMENT, "created_time": "2026-02-16T03:00:00Z",
        "data_start_time": "2026-02-01T00:00:00Z", "data_end_time": "2026-02-15T00:00:00Z", "marketplace_ids": [UK]}]}
    calls = fake.calls("/reports/2021-06-30/reports")
    assert len(calls) == 2
    assert calls[0]["reportTypes"] == SETTLEMENT and calls[0]["processingStatuses"] == "DONE"
    assert calls[0]["marketplaceIds"] == UK and calls[0]["createdSince"].startswith("20")


# --------------------------------------------------------------------------------------------------
# SettlementReportSensor
# --------------------------------------------------------------------------------------------------
def sensor(**kwargs: Any) -> SettlementReportSensor:
    return SettlementReportSensor(task_id="wait_settlement", marketplace_id=UK, conn_id="spapi_trig",
                                  created_since="2026-02-01T00:00:00+00:00", **kwargs)


def test_sensor_templates_and_defaults() -> None:
    s = SettlementReportSensor(task_id="s", marketplace_id=UK)
    assert set(s.template_fields) >= {"marketplace_id", "created_since", "report_type"}
    assert s.report_type == SETTLEMENT and s.deferrable is True and s.conn_id == "amazon_sp_api_default"
    assert s.poke_interval == 1800


def test_sensor_defers_when_nothing_is_there_yet(fake: FakeSpApi) -> None:
    fake.script["/reports/2021-06-30/reports"] = [(200, {"reports": []})]
    with pytest.raises(TaskDeferred) as info:
        sensor(timeout=7 * 86400).execute(context={})
    trigger = info.value.trigger
    assert isinstance(trigger, SpApiNewReportsTrigger)
    assert info.value.method_name == "execute_complete"
    assert trigger.serialize()[1] == {"report_type": SETTLEMENT, "marketplace_id": UK, "conn_id": "spapi_trig",
                                      "created_since": "2026-02-01T00:00:00+00:00", "poll_interval": 1800.0, "timeout": None}
    assert info.value.timeout == dt.timedelta(days=7)


def test_sensor_returns_at_once_when_the_report_exists(fake: FakeSpApi) -> None:
    fake.script["/reports/2021-06-30/reports"] = [(200, {"reports": [report("R1", "DONE", "2026-02-16T03:00:00Z", reportDocumentId="D1")]})]
    out = sensor().execute(context={})
    assert out["counts"] == {"reports": 1}
    assert [(r["report_id"], r["report_document_id"]) for r in out["reports"]] == [("R1", "D1")]


def test_sensor_poke_mode(fake: FakeSpApi) -> None:
    fake.script["/reports/2021-06-30/reports"] = [
        (200, {"reports": []}),
        (200, {"reports": [report("R2", "DONE", "2026-02-17T00:00:00Z", reportDocumentId="D2"),
                           report("R1", "DONE", "2026-02-16T00:00:00Z", reportDocumentId="D1")]}),
    ]
    s = sensor(deferrable=False)
    first = s.poke(context={})
    assert isinstance(first, PokeReturnValue) and not first.is_done
    second = s.poke(context={})
    assert second.is_done
    assert [r["report_id"] for r in second.xcom_value["reports"]] == ["R1", "R2"]  # oldest first


def test_sensor_execute_complete() -> None:
    s = SettlementReportSensor(task_id="s", marketplace_id=UK)
    refs = [{"report_id": "R1", "report_document_id": "D1"}]
    assert s.execute_complete({}, {"status": "success", "reports": refs}) == {"reports": refs, "counts": {"reports": 1}}
    with pytest.raises(AirflowException, match="timeout: no DONE"):
        s.execute_complete({}, {"status": "timeout", "reports": [], "message": "no DONE report after 60 s"})
    with pytest.raises(ValueError, match="no time zone"):
        SettlementReportSensor(task_id="t", marketplace_id=UK, created_since="2026-02-01")._find()


def test_secret_fixture_values_are_realistic() -> None:
    assert len(CLIENT_SECRET) >= 64 and len(REFRESH_TOKEN) >= 300 and REFRESH_TOKEN.startswith("Atzr|")
