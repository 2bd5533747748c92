"""Secrets and buyer PII never leave the places they belong.

1. **Planted secrets** — fake Amazon / NetSuite endpoints answer errors that echo the credentials the
   hook just sent (LWA client secret and refresh token, the SP-API access token, the NetSuite JWT
   assertion, the NetSuite bearer token). The typed exception, its ``repr``, its ``errors`` and every
   log line must carry none of them.
2. **A full demo-equivalent run** — all five syncs of a marketplace through the real DAG file and
   ``dag.test()`` against both sandboxes, with ``orders.pii: true`` (``includedData`` BUYER and
   RECIPIENT) and buyer customers. Everything an operator could read afterwards is captured and scanned
   for every configured secret, every access token the sandboxes issued, and every buyer name, address,
   e-mail and phone number the SP-API sandbox generated: log records at DEBUG, stdout/stderr, task log
   files under ``AIRFLOW_HOME/logs``, the whole Airflow metadata database (XCom, task instances, DAG
   runs, rendered fields, …), the sync-state database (quarantine reasons, run summaries, accepted
   values, in-flight feeds) and every review report (HTML/CSV). Zero hits are required.

   That includes the ``amz_batch`` payloads handed between tasks: the orders extract keeps only the
   fields the mapping reads (BUYER data only with ``orders.pii``) and the completed run deletes it, so
   after the runs no batch holds buyer data or a secret.

The fast test runs the UK marketplace (5 DAG runs); ``slow`` runs UK, DE and US (15 DAG runs).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
import yaml

from tests.reliability.harness import CONFIG, ROOT, World, iso, world

SYNC_ORDER = ("products", "inventory", "pricing", "orders", "settlement")  # as `amznetsuite demo`
MIN_PII_LENGTH = 6  # shorter values ("Flat 1" is 6) would match ordinary text


# ================================================================================================
# scanning
# ================================================================================================
@dataclass
class Finding:
    where: str
    kind: str
    value: str


@dataclass
class Scanner:
    secrets: set[str] = field(default_factory=set)
    pii: set[str] = field(default_factory=set)
    findings: list[Finding] = field(default_factory=list)
    scanned: dict[str, int] = field(default_factory=dict)

    def add_secret(self, *values: str | None) -> None:
        for v in values:
            if v and len(v) >= 8:
                self.secrets.add(v)

    def scan(self, where: str, text: str, *, pii: bool = True) -> list[Finding]:
        self.scanned[where] = self.scanned.get(where, 0) + len(text)
        found = [Finding(where, "secret", s) for s in self.secrets if s in text]
        if pii:
            found += [Finding(where, "pii", p) for p in self.pii if p in text]
        self.findings.extend(found)
        return found

    def report(self) -> str:
        return "\n".join(f"{f.kind} in {f.where}: {f.value[:24]}…" for f in self.findings[:40])


def netsuite_secrets(extra: dict[str, Any]) -> list[str]:
    """The NetSuite connection's secrets: the private key (each PEM body line too) and TBA secrets."""
    out: list[str] = []
    for key in ("private_key", "consumer_secret", "token_secret"):
        value = extra.get(key)
        if not value:
            continue
        out.append(value)
        out += [line.strip() for line in str(value).splitlines() if line.strip() and not line.startswith("-----")]
    return out


def sandbox_secrets(w: World) -> list[str]:
    """Every credential of the run: connection secrets and the access tokens both sandboxes issued."""
    from airflow_provider_amznetsuite.sandbox.netsuite import credentials as ns_creds

    out = list(w.sbx.spapi.secrets())
    extra = json.loads(w.env["AIRFLOW_CONN_NETSUITE_DEFAULT"])["extra"]
    out += netsuite_secrets(extra)
    out += [ns_creds.CONSUMER_SECRET, ns_creds.TOKEN_SECRET]
    auth = w.sbx.netsuite.auth
    with auth._lock:  # the NetSuite sandbox has no public accessor for the bearer tokens it issued
        out += list(auth._tokens)
    assert len(out) > len(w.sbx.spapi.secrets()) + 2, "no NetSuite token was issued: nothing was scanned for"
    return out


def dump_sqlite(path: Path, *, skip: tuple[str, ...] = ()) -> dict[str, str]:
    """Every table of a SQLite database as text (one entry per table)."""
    out: dict[str, str] = {}
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            if table in skip:
                continue
            rows = con.execute(f'SELECT * FROM "{table}"').fetchall()  # noqa: S608 - table names from sqlite_master
            out[table] = "\n".join(_text(v) for row in rows for v in row)
    finally:
        con.close()
    return out


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return "" if value is None else str(value)


# ================================================================================================
# 1. planted secrets: endpoints that echo what they were sent
# ================================================================================================
class _EchoHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        return None

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:  # noqa: N802
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        mode = self.server.mode  # type: ignore[attr-defined]
        if self.path == "/auth/o2/token":
            form = {k: v[-1] for k, v in parse_qs(raw).items()}
            if mode == "lwa-401":
                self._reply(401, {"error": "invalid_client", "error_description":
                                  f"Client authentication failed for {form.get('client_secret')} "
                                  f"with refresh token {form.get('refresh_token')}"})
            else:
                self._reply(200, {"access_token": "Atza|PLANTED-ACCESS-TOKEN-0123456789abcdef",
                                  "token_type": "bearer", "expires_in": 3600})
            return
        if self.path.endswith("/auth/oauth2/v1/token"):
            form = {k: v[-1] for k, v in parse_qs(raw).items()}
            if mode == "netsuite-token-400":
                self._reply(400, {"error": "invalid_request", "error_description":
                                  f"assertion {form.get('client_assertion')} is not valid"})
            else:
                self._reply(200, {"access_token": "NS-PLANTED-BEARER-TOKEN-abcdef0123456789", "token_type": "Bearer",
                                  "expires_in": "3600"})
            return
        self._netsuite_error()

    def do_GET(self) -> None:  # noqa: N802
        if self.path.startswith("/orders/"):
            token = self.headers.get("x-amz-access-token")
            self._reply(400, {"errors": [{"code": "InvalidInput", "message": f"token {token} is not valid here",
                                          "details": f"x-amz-access-token: {token}"}]})
            return
        self._netsuite_error()

    def do_PUT(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._netsuite_error()

    def _netsuite_error(self) -> None:
        auth = self.headers.get("Authorization")
        self._reply(400, {"type": "https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.1", "title": "Bad Request",
                          "status": 400, "o:errorDetails": [{"detail": f"Invalid login attempt: {auth}",
                                                             "o:errorCode": "INVALID_LOGIN_ATTEMPT"}]})


@pytest.fixture
def echo_server() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EchoHandler)
    server.mode = ""  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _planted_hooks(server: ThreadingHTTPServer, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any, Scanner]:
    from airflow_provider_amznetsuite.hooks.netsuite import NetSuiteHook
    from airflow_provider_amznetsuite.hooks.spapi import SpApiHook
    from airflow_provider_amznetsuite.sandbox.netsuite import credentials as ns_creds
    from airflow_provider_amznetsuite.sandbox.spapi import credentials as sp_creds

    url = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("AIRFLOW_CONN_PLANTED_SPAPI", sp_creds.connection_json(url))
    extra = ns_creds.connection_extra(url, auth_type="oauth2")
    monkeypatch.setenv("AIRFLOW_CONN_PLANTED_NETSUITE", json.dumps({"conn_type": "netsuite", "extra": extra}))
    scanner = Scanner()
    scanner.add_secret(sp_creds.LWA_CLIENT_SECRET, sp_creds.REFRESH_TOKEN, "Atza|PLANTED-ACCESS-TOKEN-0123456789abcdef",
                       "NS-PLANTED-BEARER-TOKEN-abcdef0123456789", *netsuite_secrets(extra))
    spapi = SpApiHook("planted_spapi")
    spapi.max_attempts = 1
    netsuite = NetSuiteHook("planted_netsuite")
    netsuite.max_server_tries = 1
    return spapi, netsuite, scanner


def _exception_text(exc: BaseException) -> str:
    parts = [str(exc), repr(exc), json.dumps(getattr(exc, "errors", None), default=str),
             str(getattr(exc, "detail", "")), json.dumps(getattr(exc, "details", None), default=str)]
    return "\n".join(parts)


PLANTED = ["lwa-401", "spapi-400-echoes-access-token", "netsuite-token-400-echoes-assertion",
           "netsuite-400-echoes-bearer"]


@pytest.mark.parametrize("mode", PLANTED)
def test_a_secret_echoed_in_an_error_is_scrubbed_from_the_exception_and_the_logs(
        echo_server: ThreadingHTTPServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
        capfd: pytest.CaptureFixture[str], mode: str) -> None:
    from airflow_provider_amznetsuite.hooks.netsuite_errors import NetSuiteError
    from airflow_provider_amznetsuite.hooks.spapi_errors import SpApiError

    caplog.set_level(logging.DEBUG)
    echo_server.mode = mode  # type: ignore[attr-defined]
    spapi, netsuite, scanner = _planted_hooks(echo_server, monkeypatch)
    assertions: list[str] = []
    if mode.startswith("netsuite-token"):
        captured: dict[str, str] = {}
        original = netsuite._request

        def spy(method: str, path: str, **kw: Any) -> Any:  # the JWT assertion the hook really sent
            if kw.get("form") and "client_assertion" in kw["form"]:
                captured["assertion"] = kw["form"]["client_assertion"]
            return original(method, path, **kw)

        monkeypatch.setattr(netsuite, "_request", spy)
    with pytest.raises((SpApiError, NetSuiteError)) as info:
        if mode.startswith("lwa") or mode.startswith("spapi"):
            spapi.get_order("202-1234567-1234567")
        else:
            netsuite.get_record("salesOrder", "1")
    if mode.startswith("netsuite-token"):
        assertions.append(captured["assertion"])
        scanner.add_secret(captured["assertion"])
    text = _exception_text(info.value)
    out, err = capfd.readouterr()
    logs = "\n".join(r.getMessage() + " " + json.dumps(r.args, default=str) for r in caplog.records)
    assert scanner.scan("exception", text) == []
    assert scanner.scan("logs", logs + out + err) == []
    status = {"lwa-401": 401, "spapi-400-echoes-access-token": 400, "netsuite-token-400-echoes-assertion": 400,
              "netsuite-400-echoes-bearer": 400}[mode]
    assert str(status) in str(info.value)  # still a useful error: the status and Amazon's/NetSuite's words
    if mode == "lwa-401":
        assert "Client authentication failed for ***" in text
    if mode == "spapi-400-echoes-access-token":
        assert "token *** is not valid here" in text
    if mode == "netsuite-400-echoes-bearer":
        assert "Invalid login attempt" in text


# ================================================================================================
# 2. a full demo-equivalent run through dag.test()
# ================================================================================================
def pii_config(tmp_path: Path) -> Path:
    doc = yaml.safe_load(CONFIG.read_text())
    uk = doc["marketplaces"]["uk"]
    uk["orders"] = {**(uk.get("orders") or {}), "pii": True}
    uk["customer"] = {**(uk.get("customer") or {}), "strategy": "buyer"}
    path = tmp_path / "pii.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def run_demo(w: World, codes: tuple[str, ...]) -> dict[str, Any]:
    """Every sync of every marketplace through the real DAG file and dag.test(), in the demo's order."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags" / "amazon_netsuite.py"))
    assert not bag.import_errors, bag.import_errors
    now = w.now.replace(microsecond=0)
    runs: dict[str, Any] = {}
    for code in codes:
        for sync in SYNC_ORDER:
            dag_id = f"amazon_{code}_{sync}"
            dag = bag.get_dag(dag_id)
            assert dag is not None, f"{dag_id} missing from the DAG file"
            conf: dict[str, Any] = {"allow_quarantine": True}
            if sync == "orders":  # the sandbox's whole order history
                conf.update(window_start=iso(now - timedelta(days=2, hours=12)), window_end=iso(now - timedelta(minutes=3)))
            started = time.monotonic()
            dr = dag.test(run_conf=conf)
            runs[dag_id] = {"state": str(dr.state), "run_id": dr.run_id,
                            "tasks": {ti.task_id: str(ti.state) for ti in dr.get_task_instances()},
                            "seconds": round(time.monotonic() - started, 1)}
    return runs


def _metadata_db() -> Path:
    from airflow.configuration import conf

    url = conf.get("database", "sql_alchemy_conn")
    assert url.startswith("sqlite:///"), f"the scan reads the metadata DB as SQLite, got {url}"
    return Path(url[len("sqlite:///"):])


def _scan_everything(w: World, scanner: Scanner, caplog: pytest.LogCaptureFixture,
                     capfd: pytest.CaptureFixture[str], tmp_path: Path) -> dict[str, Any]:
    import os

    # logs: records at DEBUG, console output, task log files
    logs = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    scanner.scan("log records", logs)
    out, err = capfd.readouterr()
    scanner.scan("stdout/stderr", out + err)
    home = Path(os.environ["AIRFLOW_HOME"])
    log_files = [p for p in (home / "logs").rglob("*") if p.is_file()] if (home / "logs").exists() else []
    for p in log_files:
        scanner.scan(f"log file {p.relative_to(home)}", p.read_text(errors="replace"))
    # the Airflow metadata database: XCom, task instances (incl. rendered fields), DAG runs (conf), ...
    meta = dump_sqlite(_metadata_db())
    for table, text in meta.items():
        scanner.scan(f"metadata table {table}", text)
    # the sync-state database; payload batches separately
    state_path = Path(w.state_url[len("sqlite:///"):])
    for table, text in dump_sqlite(state_path, skip=("amz_batch",)).items():
        scanner.scan(f"state table {table}", text)
    con = sqlite3.connect(f"file:{state_path}?mode=ro", uri=True)
    batches = {ref: _text(data) for ref, data in con.execute("SELECT ref, data FROM amz_batch")}
    con.close()
    pii_batches = []
    for ref, text in batches.items():
        if scanner.scan(f"batch {ref}", text, pii=True):
            pii_batches.append(ref)
    # review reports and every other file the run wrote
    reports = [p for base in (Path(w.env["AMZNETSUITE_REPORTS"]), home / "amznetsuite", tmp_path)
               if base.exists() for p in base.rglob("*") if p.is_file() and p.suffix in (".html", ".csv", ".json")]
    for p in reports:
        scanner.scan(f"report {p.name}", p.read_text(errors="replace"))
    return {"log_files": len(log_files), "metadata_tables": len(meta), "batches": len(batches),
            "extract_batches": [r for r in batches if r.endswith("/orders/extract")],
            "pii_batches": pii_batches, "reports": [p.name for p in reports]}


@pytest.fixture
def fast_triggers(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sandboxes run time-scaled; let the deferrable waits poll as fast (30 s → 0.1 s between polls)."""
    from airflow_provider_amznetsuite.triggers import spapi as triggers

    original = triggers._PollingTrigger.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self.poll_interval = min(self.poll_interval, 0.1)

    monkeypatch.setattr(triggers._PollingTrigger, "__init__", init)


def _demo_scan(tmp_path: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str],
               codes: tuple[str, ...], orders_per_day: int) -> tuple[Scanner, dict[str, Any], dict[str, Any]]:
    caplog.set_level(logging.DEBUG)
    config = pii_config(tmp_path)
    with world(tmp_path, config=config, name="demo", orders_per_day=orders_per_day, days=2,
               unknown_sku_orders=2) as w:
        runs = run_demo(w, codes)
        scanner = Scanner()
        scanner.add_secret(*sandbox_secrets(w))
        scanner.pii = {p for p in w.sbx.spapi.pii_values() if len(p) >= MIN_PII_LENGTH}
        # controls: the scanner does see secrets where they legitimately are (the connections)
        control = scanner.scan("control: connections", json.dumps(w.env))
        assert {f.value for f in control} >= {w.sbx.spapi.secrets()[0], w.sbx.spapi.secrets()[1]}
        scanner.findings.clear()
        stats = _scan_everything(w, scanner, caplog, capfd, tmp_path)
        stats["customers"] = [c for c in w.records("customer") if str(c.get("externalId", "")).startswith("AMZ-BUYER-")]
    return scanner, runs, stats


def _check(scanner: Scanner, runs: dict[str, Any], stats: dict[str, Any], codes: tuple[str, ...]) -> None:
    assert len(runs) == 5 * len(codes)
    assert all(r["tasks"] for r in runs.values())
    # the scan saw real material: PII was requested and used, secrets were used, things were written
    assert scanner.pii and len(scanner.secrets) >= 8
    assert stats["customers"], "orders.pii + strategy buyer must have created buyer customers"
    # the completed orders runs deleted their payloads (the extract held the BUYER data the sync asked for)
    assert stats["pii_batches"] == [] and stats["extract_batches"] == []
    assert stats["metadata_tables"] > 10 and stats["batches"] > 10
    assert any(name.endswith(".html") for name in stats["reports"])
    assert sum(scanner.scanned.values()) > 100_000
    assert scanner.scanned["log records"] > 10_000 and scanner.scanned["stdout/stderr"] > 0
    assert any(k.startswith("state table amz_quarantine") for k in scanner.scanned)
    assert scanner.findings == [], scanner.report()


@pytest.mark.db
@pytest.mark.integration
def test_demo_run_of_one_marketplace_leaks_no_secret_and_no_pii(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                                                capfd: pytest.CaptureFixture[str],
                                                                fast_triggers: None) -> None:
    scanner, runs, stats = _demo_scan(tmp_path, caplog, capfd, ("uk",), orders_per_day=40)
    _check(scanner, runs, stats, ("uk",))


@pytest.mark.slow
@pytest.mark.db
@pytest.mark.integration
def test_demo_run_of_three_marketplaces_leaks_no_secret_and_no_pii(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                                                   capfd: pytest.CaptureFixture[str],
                                                                   fast_triggers: None) -> None:
    scanner, runs, stats = _demo_scan(tmp_path, caplog, capfd, ("uk", "de", "us"), orders_per_day=150)
    _check(scanner, runs, stats, ("uk", "de", "us"))
