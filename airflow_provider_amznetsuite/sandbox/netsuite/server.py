"""The local NetSuite sandbox: SuiteTalk REST over real HTTP on loopback, records in SQLite.

    from airflow_provider_amznetsuite.sandbox.netsuite.server import create_server
    sandbox = create_server(port=0).start()        # daemon thread
    ... sandbox.url ... sandbox.store.records("salesOrder") ...
    sandbox.shutdown()

Endpoints (``/services/rest``):

* ``POST /auth/oauth2/v1/token`` — OAuth 2.0 client credentials with a JWT assertion (see ``auth.py``).
* ``/record/v1/{type}`` — GET (collection, ``limit``/``offset``/``q``), POST (create -> 204 + Location; a
  ``type=collection`` body is a batch); ``/record/v1/{type}/{id|eid:X}`` — GET (``expandSubResources``),
  PATCH (``replace=``), PUT on ``eid:`` (upsert), DELETE -> 405; ``/{id}/!transform/{type}``;
  ``/{id}/{sublist}[/{line}]``.
* ``POST /query/v1/suiteql?limit=&offset=`` with ``Prefer: transient`` (see ``suiteql.py``).
* ``GET /async/v1/job/{id}[/task[/{taskId}[/result]]]`` (see ``jobs.py``). ``Prefer: respond-async`` on any
  record request -> 202 + Location of the job; batch collections must be async (<= 100 items).
* Governance: at most ``concurrency_limit`` API requests in flight, the next one gets 429
  ``CONCURRENCY_LIMIT_EXCEEDED``; ``latency_ms`` is slept inside every API request; ``faults`` injects
  deterministic failures: ``{"rate": 0.1, "kinds": ["429", "5xx", "slow", "drop", "concurrency_400"],
  "seed": 1, "slow_ms": 1500}`` (``drop`` closes the connection without an answer; ``slow`` delays then
  answers normally; faults are decided before the request runs, so a faulted request changes nothing).
* Inspection (no auth, loopback clients only): ``GET /_sandbox/records/{type}``, ``GET /_sandbox/stats``,
  ``GET /_sandbox/health``, ``POST /_sandbox/control`` with ``{"action": ...}``: ``set_inventory``,
  ``set_price``, ``add_item``, ``deactivate_item``, ``bulk_insert_items``, ``reset_stats``,
  ``set_concurrency_limit``, ``set_latency``, ``set_faults``.
"""

from __future__ import annotations

import random
import socket
import sys
import threading
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from . import credentials as creds
from .auth import AuthVerifier, TokenError
from .jobs import JOB_PATH, JobManager, Outcome
from .records import RECORD_PATH, RecordService
from .schema import RECORD_TYPES, RecordType, canonical_field
from .seed import SeedInfo
from .seed import seed as seed_sandbox
from .store import Store
from .suiteql import SuiteQLError, compile_sql, to_text
from .util import CONCURRENCY_DETAIL, ApiError, dumps, loads, utcnow

SUITEQL_PATH = "/services/rest/query/v1/suiteql"
MAX_ROWS = 100_000
MAX_BATCH = 100
SINGULAR = "application/vnd.oracle.resource+json; type=singular"
COLLECTION = "application/vnd.oracle.resource+json; type=collection"
ERROR_TYPE = "application/vnd.oracle.resource+json; type=error"
FAULT_KINDS = ("429", "5xx", "slow", "drop", "concurrency_400")


class FaultInjector:
    """Deterministic fault schedule: the n-th API request draws the n-th number of ``Random(seed)``."""

    def __init__(self, config: dict[str, Any] | None) -> None:
        cfg = dict(config or {})
        self.rate = float(cfg.get("rate", 0.0))
        self.kinds = tuple(cfg.get("kinds", FAULT_KINDS))
        unknown = [k for k in self.kinds if k not in FAULT_KINDS]
        if unknown or not self.kinds:
            raise ValueError(f"fault kinds must be a non-empty subset of {FAULT_KINDS}, got {list(self.kinds)}")
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"fault rate must be within [0, 1], got {self.rate}")
        self.slow_ms = int(cfg.get("slow_ms", 1500))
        self._rng = random.Random(cfg.get("seed", 1))
        self._lock = threading.Lock()

    def draw(self) -> str | None:
        if self.rate <= 0:
            return None
        with self._lock:
            hit = self._rng.random() < self.rate
            kind = self._rng.choice(self.kinds)
        return kind if hit else None


class Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.requests: Counter[str] = Counter()
            self.statuses: Counter[int] = Counter()
            self.faults: Counter[str] = Counter()
            self.throttled = 0
            self.in_flight = getattr(self, "in_flight", 0)
            self.peak_concurrency = self.in_flight
            self.auth_failures = 0

    def request(self, method: str, kind: str) -> None:
        with self._lock:
            self.requests[f"{method} {kind}"] += 1

    def status(self, code: int) -> None:
        with self._lock:
            self.statuses[code] += 1
            if code == 401:
                self.auth_failures += 1

    def enter(self, limit: int) -> bool:
        with self._lock:
            if self.in_flight >= limit:
                self.throttled += 1
                return False
            self.in_flight += 1
            self.peak_concurrency = max(self.peak_concurrency, self.in_flight)
            return True

    def leave(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def fault(self, kind: str) -> None:
        with self._lock:
            self.faults[kind] += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"requests": dict(self.requests), "requests_total": sum(self.requests.values()),
                    "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
                    "throttled_429": self.throttled + self.faults.get("429", 0),
                    "concurrency_rejections": self.throttled, "faults": dict(self.faults),
                    "in_flight": self.in_flight, "peak_concurrency": self.peak_concurrency,
                    "auth_failures": self.auth_failures}


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    sandbox: NetSuiteSandbox


class NetSuiteSandbox:
    """A running (or ready to run) NetSuite sandbox. Use :func:`create_server`."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, seed: int = 42, catalog_size: int = 60,
                 db_path: str = ":memory:", concurrency_limit: int = 5, faults: dict[str, Any] | None = None,
                 latency_ms: int = 0, account_id: str = creds.ACCOUNT_ID, now: datetime | None = None,
                 verbose: bool = False) -> None:
        if concurrency_limit < 1:
            raise ValueError(f"concurrency_limit must be >= 1, got {concurrency_limit}")
        self.account_id = account_id
        self.concurrency_limit = concurrency_limit
        self.latency_ms = max(0, int(latency_ms))
        self.faults = FaultInjector(faults)
        self.verbose = verbose
        self.clock: Callable[[], datetime] = utcnow
        self.store = Store(db_path)
        self.records = RecordService(self.store, self.clock)
        self.auth = AuthVerifier(account_id)
        self.jobs = JobManager()
        self.stats = Stats()
        self.seed_info: SeedInfo | None = None
        if self.store.fresh:
            self.seed_info = seed_sandbox(self.store, self.records, seed=seed, catalog_size=catalog_size,
                                  now=now or utcnow())
        self.httpd = _HTTPServer((host, port), _Handler)
        self.httpd.sandbox = self
        self.url = f"http://{host}:{self.httpd.server_address[1]}"
        self.closed = False
        self._thread: threading.Thread | None = None

    # lifecycle
    def start(self) -> NetSuiteSandbox:
        if self._thread is None:
            self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                            name="netsuite-sandbox", daemon=True)
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.httpd.serve_forever(poll_interval=0.2)

    def shutdown(self) -> None:
        """Stop serving (kept-alive connections are closed on their next request) and release the database."""
        if self.closed:
            return
        self.closed = True
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self.httpd.server_close()
        self.jobs.stop()
        if self.store.db_path != ":memory:":
            self.store.close()          # an in-memory store stays readable for assertions after shutdown

    def __enter__(self) -> NetSuiteSandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    # helpers for tests and the CLI
    def connection_extra(self, auth_type: creds.AuthType = "oauth2", alg: str = "PS256") -> dict[str, Any]:
        extra = creds.connection_extra(self.url, auth_type, alg)
        extra["concurrency"] = self.concurrency_limit
        return extra

    def set_faults(self, faults: dict[str, Any] | None) -> None:
        self.faults = FaultInjector(faults)

    def seed_items(self, count: int, prefix: str = "BULK-") -> range:
        """Add ``count`` plain inventory items fast (large-table tests); returns their internal ids."""
        return self.store.bulk_insert_items(count, prefix=prefix)


def create_server(host: str = "127.0.0.1", port: int = 0, *, seed: int = 42, catalog_size: int = 60,
                  db_path: str = ":memory:", concurrency_limit: int = 5, faults: dict[str, Any] | None = None,
                  latency_ms: int = 0, account_id: str = creds.ACCOUNT_ID, now: datetime | None = None,
                  verbose: bool = False) -> NetSuiteSandbox:
    """Build (and seed, unless ``db_path`` already holds a sandbox) a NetSuite sandbox; call ``.start()``."""
    return NetSuiteSandbox(host, port, seed=seed, catalog_size=catalog_size, db_path=db_path,
                           concurrency_limit=concurrency_limit, faults=faults, latency_ms=latency_ms,
                           account_id=account_id, now=now, verbose=verbose)


def _json(status: int, body: Any, content_type: str = "application/json",
          headers: dict[str, str] | None = None) -> Outcome:
    return status, {"Content-Type": content_type, **(headers or {})}, dumps(body).encode()


def _error(err: ApiError) -> Outcome:
    return _json(err.status, err.body(), ERROR_TYPE, err.headers)


def _int_param(query: dict[str, str], name: str, default: int) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ApiError(400, "INVALID_PARAMETER", f"The query parameter {name} must be a whole number, got {raw!r}.",
                       query_param=name) from None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "NetSuiteSandbox/1.0"
    server: _HTTPServer
    # Buffer the response so status line, headers and body leave in one segment (flushed by
    # handle_one_request); with TCP_NODELAY this avoids Nagle / delayed-ACK stalls on keep-alive.
    wbufsize = 1 << 16

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        if self.server.sandbox.verbose:
            super().log_message(format, *args)

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._handle("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._handle("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._handle("PUT")

    def do_PATCH(self) -> None:  # noqa: N802
        self._handle("PATCH")

    def do_DELETE(self) -> None:  # noqa: N802
        self._handle("DELETE")

    # --- plumbing ------------------------------------------------------------------------------------
    def _send(self, outcome: Outcome) -> None:
        status, headers, body = outcome
        self.server.sandbox.stats.status(status)
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body) if body else 0))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def _base(self) -> str:
        host = self.headers.get("Host")
        return f"http://{host}" if host else self.server.sandbox.url

    def _read_body(self) -> bytes:
        if (self.headers.get("Transfer-Encoding") or "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _handle(self, method: str) -> None:
        sb = self.server.sandbox
        raw = self._read_body()
        if sb.closed:
            self.close_connection = True
            return
        split = urlsplit(self.path)
        raw_path = split.path
        path = unquote(raw_path)
        query_pairs = parse_qsl(split.query, keep_blank_values=True)
        base = self._base()
        if path.startswith("/_sandbox/") or path == "/_sandbox":
            sb.stats.request(method, "sandbox")
            self._send(self._inspect(method, path, dict(query_pairs), raw))
            return
        if path == creds.TOKEN_PATH:
            sb.stats.request(method, "token")
            self._send(self._token(method, raw, base))
            return
        kind = self._kind(method, path)
        sb.stats.request(method, kind)
        if not sb.stats.enter(sb.concurrency_limit):
            self._send(_error(ApiError(429, "CONCURRENCY_LIMIT_EXCEEDED", CONCURRENCY_DETAIL)))
            return
        try:
            outcome = self._governed(sb, method, raw_path, path, query_pairs, raw, base)
        finally:
            # The request leaves the in-flight count before its answer is written, so a client that
            # sends its next request on receipt of this answer never collides with it.
            sb.stats.leave()
        if outcome is None:
            self.close_connection = True          # "drop": no answer at all
        else:
            self._send(outcome)

    def _governed(self, sb: NetSuiteSandbox, method: str, raw_path: str, path: str,
                  query_pairs: list[tuple[str, str]], raw: bytes, base: str) -> Outcome | None:
        fault = sb.faults.draw()
        if fault:
            sb.stats.fault(fault)
        if fault == "drop":
            return None
        if fault == "429":
            return _error(ApiError(429, "CONCURRENCY_LIMIT_EXCEEDED", CONCURRENCY_DETAIL))
        if fault == "concurrency_400":
            return _error(ApiError(400, "CONCURRENCY_LIMIT_EXCEEDED", CONCURRENCY_DETAIL))
        if fault == "5xx":
            return _error(ApiError(500, "UNEXPECTED_ERROR", "An unexpected error occurred. Error ID: "
                                                            f"sbx{uuid.uuid4().hex[:12]}"))
        if fault == "slow":
            time.sleep(sb.faults.slow_ms / 1000)
        if sb.latency_ms:
            time.sleep(sb.latency_ms / 1000)
        try:
            return self._api(method, raw_path, path, query_pairs, raw, base)
        except ApiError as err:
            return _error(err)
        except Exception as err:  # noqa: BLE001 - the sandbox must always answer
            traceback.print_exc(file=sys.stderr)
            return _error(ApiError(500, "UNEXPECTED_ERROR", f"An unexpected error occurred: {type(err).__name__}"))

    @staticmethod
    def _kind(method: str, path: str) -> str:
        if path.startswith(SUITEQL_PATH):
            return "suiteql"
        if path.startswith(JOB_PATH):
            return "async"
        if path.startswith(RECORD_PATH + "/"):
            parts = path[len(RECORD_PATH) + 1:].split("/")
            if len(parts) == 1:
                return "record_list" if method == "GET" else "record_collection"
            if len(parts) >= 3 and parts[2] == "!transform":
                return "transform"
            return "record" if len(parts) == 2 else "sublist"
        return "other"

    # --- token endpoint -----------------------------------------------------------------------------
    def _token(self, method: str, raw: bytes, base: str) -> Outcome:
        sb = self.server.sandbox
        if method != "POST":
            return _json(405, {"error": "invalid_request", "error_description": "use POST"})
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype != "application/x-www-form-urlencoded":
            return _json(400, {"error": "invalid_request",
                               "error_description": "Content-Type must be application/x-www-form-urlencoded"})
        form = dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
        audiences = {base + creds.TOKEN_PATH, sb.url + creds.TOKEN_PATH}
        try:
            return _json(200, sb.auth.issue_token(form, audiences))
        except TokenError as err:
            return _json(400, err.body())

    # --- API ------------------------------------------------------------------------------------------
    def _api(self, method: str, raw_path: str, path: str, query_pairs: list[tuple[str, str]], raw: bytes,
             base: str) -> Outcome:
        sb = self.server.sandbox
        sb.auth.authenticate(method, [base + raw_path, sb.url + raw_path], query_pairs,
                             self.headers.get("Authorization"))
        lang = self.headers.get("Accept-Language")
        if lang and lang.split(",")[0].strip().split("-")[0].split("_")[0].lower() not in ("en", "*"):
            raise ApiError(400, "INVALID_HEADER", "Invalid language. REST web services currently only support the "
                           "default company language. Provide the Accept-Language header with your default "
                           "company language value 'en'.", header="Accept-Language")
        query = dict(query_pairs)
        if path == SUITEQL_PATH:
            if method != "POST":
                raise ApiError(405, "INVALID_REQUEST", "SuiteQL queries are sent with POST.")
            return self._suiteql(query, raw, base)
        if path.startswith(JOB_PATH + "/"):
            if method != "GET":
                raise ApiError(405, "INVALID_REQUEST", "Async job resources are read with GET.")
            return self._job(path[len(JOB_PATH) + 1:].split("/"), base)
        if path.startswith(RECORD_PATH + "/"):
            return self._record(method, path[len(RECORD_PATH) + 1:].split("/"), query, raw, base)
        raise ApiError(404, "NONEXISTENT_ID", f"The request URL {path} does not exist in the sandbox.")

    def _body(self, raw: bytes) -> Any:
        if not raw:
            return {}
        try:
            return loads(raw)
        except ValueError:
            raise ApiError(400, "INVALID_CONTENT", "The request body is not valid JSON.") from None

    def _prefer(self) -> set[str]:
        return {p.strip().lower() for p in (self.headers.get("Prefer") or "").split(",") if p.strip()}

    def _record(self, method: str, parts: list[str], query: dict[str, str], raw: bytes, base: str) -> Outcome:
        sb = self.server.sandbox
        svc = sb.records
        if not parts or not parts[0]:
            raise ApiError(404, "NONEXISTENT_ID", "Missing record type in the URL.")
        rt = svc.record_type(parts[0])
        is_async = "respond-async" in self._prefer()
        ctype = (self.headers.get("Content-Type") or "").lower()
        collection = "type=collection" in ctype.replace(" ", "")
        if len(parts) == 1:
            if method == "GET":
                if is_async:
                    return self._async([lambda: _json(200, svc.list(rt, base, _int_param(query, "limit", 1000),
                                                                    _int_param(query, "offset", 0), query.get("q")),
                                                      COLLECTION)], base)
                return _json(200, svc.list(rt, base, _int_param(query, "limit", 1000), _int_param(query, "offset", 0),
                                           query.get("q")), COLLECTION)
            if method in ("POST", "PUT", "PATCH") and collection:
                return self._batch(method, rt, self._body(raw), base, is_async)
            if method == "POST":
                body = self._body(raw)
                return self._maybe_async(is_async, lambda: self._created(rt, svc.create(rt, body), base), base)
            raise ApiError(405, "INVALID_REQUEST", f"{method} is not allowed on a record collection "
                           "(use a type=collection body for batch PUT/PATCH).")
        ref = parts[1]
        if len(parts) == 2:
            if method == "GET":
                expand = query.get("expandSubResources", "").lower() == "true"
                return self._maybe_async(is_async, lambda: _json(200, svc.get(rt, ref, base, expand=expand), SINGULAR),
                                         base)
            replace = self._replace(rt, query)
            if method == "PATCH":
                body = self._body(raw)
                return self._maybe_async(is_async, lambda: self._created(rt, svc.update(rt, ref, body, replace), base),
                                         base)
            if method == "PUT":
                if not ref.startswith("eid:"):
                    raise ApiError(405, "INVALID_REQUEST", "PUT (upsert) works only with an external id: "
                                   f"PUT {RECORD_PATH}/{rt.name}/eid:<externalId>. Use PATCH to update by internal id.")
                body = self._body(raw)
                return self._maybe_async(is_async, lambda: self._created(
                    rt, svc.upsert(rt, ref[4:], body, replace)[0], base), base)
            if method == "DELETE":
                raise ApiError(405, "INVALID_REQUEST", "The sandbox does not delete records (the provider never "
                               "deletes).")
            raise ApiError(405, "INVALID_REQUEST", f"{method} is not allowed here.")
        if len(parts) == 4 and parts[2] == "!transform":
            if method != "POST":
                raise ApiError(405, "INVALID_REQUEST", "Transforms are sent with POST.")
            to_rt = svc.record_type(parts[3])
            body = self._body(raw)
            return self._maybe_async(is_async, lambda: self._created(to_rt, svc.transform(rt, ref, to_rt, body), base),
                                     base)
        if method == "GET" and len(parts) in (3, 4):
            line = parts[3] if len(parts) == 4 else None
            return _json(200, svc.sublist(rt, ref, parts[2], base, line),
                         SINGULAR if line is not None else COLLECTION)
        raise ApiError(404, "NONEXISTENT_ID", "The request URL does not exist in the sandbox.")

    @staticmethod
    def _replace(rt: RecordType, query: dict[str, str]) -> set[str]:
        raw = query.get("replace")
        if not raw:
            return set()
        out = set()
        for name in raw.split(","):
            name = name.strip()
            canonical = next((s for s in rt.sublists if s.lower() == name.lower()), canonical_field(name))
            out.add(canonical)
        return out

    @staticmethod
    def _created(rt: RecordType, rid: str, base: str) -> Outcome:
        return 204, {"Location": f"{base}{RECORD_PATH}/{rt.name}/{rid}"}, None

    def _maybe_async(self, is_async: bool, op: Callable[[], Outcome], base: str) -> Outcome:
        if not is_async:
            return op()
        return self._async([op], base)

    def _async(self, ops: list[Callable[[], Outcome]], base: str) -> Outcome:
        key = self.headers.get("X-NetSuite-Idempotency-Key")
        if key is not None:
            try:
                uuid.UUID(key)
            except ValueError:
                raise ApiError(400, "INVALID_HEADER", "X-NetSuite-Idempotency-Key must be a UUID.",
                               header="X-NetSuite-Idempotency-Key") from None
        job = self.server.sandbox.jobs.submit(ops, key, base)
        return 202, {"Location": f"{base}{JOB_PATH}/{job.id}", "Preference-Applied": "respond-async"}, None

    def _batch(self, method: str, rt: RecordType, body: Any, base: str, is_async: bool) -> Outcome:
        if not is_async:
            raise ApiError(400, "INVALID_HEADER", "Batch requests run asynchronously: send the header "
                           "'Prefer: respond-async'.", header="Prefer")
        items = body.get("items") if isinstance(body, dict) else None
        if not isinstance(items, list) or not items:
            raise ApiError(400, "INVALID_CONTENT", "A batch body must be {\"items\": [...]} with at least one record.")
        if len(items) > MAX_BATCH:
            raise ApiError(400, "INVALID_CONTENT", f"A batch request can contain at most {MAX_BATCH} records; this "
                           f"one has {len(items)}.")
        svc = self.server.sandbox.records
        ops: list[Callable[[], Outcome]] = []
        for item in items:
            ops.append(self._batch_op(method, rt, item, base, svc))
        return self._async(ops, base)

    def _batch_op(self, method: str, rt: RecordType, item: Any, base: str, svc: RecordService) -> Callable[[], Outcome]:
        def op() -> Outcome:
            if not isinstance(item, dict):
                raise ApiError(400, "INVALID_CONTENT", "Each batch item must be a JSON object.")
            body = dict(item)
            rid = body.pop("id", None)
            eid = next((body[k] for k in body if canonical_field(k) == "externalId"), None)
            if method == "POST":
                return self._created(rt, svc.create(rt, item), base)
            if rid is not None:
                return self._created(rt, svc.update(rt, str(rid), body), base)
            if eid is None:
                raise ApiError(400, "INVALID_CONTENT", f"Each {method} batch item needs an id or an externalId.")
            if method == "PUT":
                return self._created(rt, svc.upsert(rt, str(eid), body)[0], base)
            return self._created(rt, svc.update(rt, f"eid:{eid}", body), base)
        return op

    def _job(self, parts: list[str], base: str) -> Outcome:
        jobs = self.server.sandbox.jobs
        job = jobs.get(int(parts[0])) if parts and parts[0].isdigit() else None
        if job is None:
            raise ApiError(404, "NONEXISTENT_ID", "The async job does not exist.")
        if len(parts) == 1:
            return _json(200, jobs.job_body(job, base), SINGULAR)
        if parts[1] != "task":
            raise ApiError(404, "NONEXISTENT_ID", "The request URL does not exist in the sandbox.")
        if len(parts) == 2:
            return _json(200, jobs.tasks_body(job, base), COLLECTION)
        task = next((t for t in job.tasks if str(t.id) == parts[2]), None)
        if task is None:
            raise ApiError(404, "NONEXISTENT_ID", "The async task does not exist.")
        if len(parts) == 3:
            return _json(200, jobs.task_body(job, task, base), SINGULAR)
        if len(parts) == 4 and parts[3] == "result":
            if task.outcome is None:
                raise ApiError(404, "NONEXISTENT_ID", "The task has not completed yet; poll the job until completed "
                               "is true.")
            return task.outcome
        raise ApiError(404, "NONEXISTENT_ID", "The request URL does not exist in the sandbox.")

    # --- SuiteQL -------------------------------------------------------------------------------------
    def _suiteql(self, query: dict[str, str], raw: bytes, base: str) -> Outcome:
        sb = self.server.sandbox
        if "transient" not in self._prefer():
            raise ApiError(400, "INVALID_HEADER", "SuiteQL requests must carry the header 'Prefer: transient'.",
                           header="Prefer")
        limit = _int_param(query, "limit", 1000)
        offset = _int_param(query, "offset", 0)
        if not 1 <= limit <= 1000:
            raise ApiError(400, "INVALID_PARAMETER", f"Invalid value {limit} for the query parameter limit: it must "
                           "be between 1 and 1000.", query_param="limit")
        if offset < 0 or offset % limit:
            raise ApiError(400, "INVALID_PARAMETER", f"Invalid value {offset} for the query parameter offset: it must "
                           f"be a non-negative multiple of the limit ({limit}).", query_param="offset")
        if offset + limit > MAX_ROWS:
            raise ApiError(400, "INVALID_PARAMETER", f"Invalid value {offset} for the query parameter offset: a "
                           f"SuiteQL query returns at most {MAX_ROWS} rows (offset + limit <= {MAX_ROWS}). Narrow "
                           "the query, e.g. keyset pagination WHERE id > <last id> ORDER BY id.",
                           query_param="offset")
        body = self._body(raw)
        q = body.get("q") if isinstance(body, dict) else None
        if not isinstance(q, str):
            raise ApiError(400, "INVALID_CONTENT", "The request body must be {\"q\": \"SELECT ...\"}.")
        try:
            compiled = compile_sql(q, sb.clock())
            total = sb.store.count_rows(compiled.sql, compiled.params)
            page_limit = limit
            if compiled.fetch_first is not None:
                total = min(total, compiled.fetch_first)
                page_limit = max(0, min(limit, compiled.fetch_first - offset))
            rows = sb.store.query(f"{compiled.sql} LIMIT {page_limit} OFFSET {offset}", compiled.params) \
                if page_limit > 0 else []
        except SuiteQLError as err:
            raise ApiError(400, "INVALID_PARAMETER", "Invalid search query. Detailed unprocessed description "
                           f"follows. Search error occurred: {err}") from None
        except Exception as err:  # noqa: BLE001 - sqlite errors on a compiled query are still the query's fault
            if not type(err).__module__.startswith("sqlite3"):
                raise
            raise ApiError(400, "INVALID_PARAMETER", "Invalid search query. Detailed unprocessed description "
                           f"follows. Search error occurred: {err}") from None
        items = []
        for row in rows:
            item: dict[str, Any] = {"links": []}
            for key, value in zip(compiled.columns, row):
                if value is not None:
                    item[key] = to_text(value)
            items.append(item)
        has_more = offset + len(items) < total
        url = f"{base}{SUITEQL_PATH}"
        links = []
        if offset > 0:
            links.append({"rel": "previous", "href": f"{url}?limit={limit}&offset={max(0, offset - limit)}"})
        links.append({"rel": "first", "href": f"{url}?limit={limit}&offset=0"})
        if has_more:
            links.append({"rel": "next", "href": f"{url}?limit={limit}&offset={offset + limit}"})
        reachable = min(total, MAX_ROWS)
        links.append({"rel": "last", "href": f"{url}?limit={limit}&offset={max(0, (reachable - 1) // limit * limit)}"})
        links.append({"rel": "self", "href": f"{url}?limit={limit}&offset={offset}"})
        return _json(200, {"links": links, "count": len(items), "hasMore": has_more, "items": items,
                           "offset": offset, "totalResults": total}, COLLECTION)

    # --- inspection / control ------------------------------------------------------------------------
    def _inspect(self, method: str, path: str, query: dict[str, str], raw: bytes) -> Outcome:
        sb = self.server.sandbox
        client = self.client_address[0]
        if not (client.startswith("127.") or client in ("::1", "::ffff:127.0.0.1")):
            return _json(403, {"error": "the /_sandbox endpoints answer loopback clients only"})
        try:
            if method == "GET" and path == "/_sandbox/health":
                return _json(200, {"ok": True, "account_id": sb.account_id})
            if method == "GET" and path == "/_sandbox/stats":
                snap = sb.stats.snapshot()
                snap.update(concurrency_limit=sb.concurrency_limit, latency_ms=sb.latency_ms,
                            jobs=sb.jobs.count(), tokens_issued=dict(sb.auth.tokens_issued),
                            login_audit=list(sb.auth.audit)[-50:])
                return _json(200, snap)
            if method == "GET" and path.startswith("/_sandbox/records/"):
                rt = sb.records.record_type(path.rsplit("/", 1)[1])
                limit = _int_param(query, "limit", 1_000_000)
                offset = _int_param(query, "offset", 0)
                items = sb.store.records_page(rt.name, limit, offset, query.get("externalId"))
                return _json(200, {"recordType": rt.name, "totalResults": sb.store.count(rt.name), "count": len(items),
                                   "items": items})
            if method == "POST" and path == "/_sandbox/control":
                return _json(200, self._control(self._body(raw)))
        except ApiError as err:
            return _error(err)
        except (ValueError, KeyError, TypeError) as err:
            return _json(400, {"error": f"{type(err).__name__}: {err}"})
        return _json(404, {"error": f"unknown sandbox endpoint {method} {path}"})

    def _control(self, body: Any) -> dict[str, Any]:
        sb = self.server.sandbox
        if not isinstance(body, dict) or "action" not in body:
            raise ValueError("the body must be {\"action\": ..., ...}")
        action = body["action"]
        if action == "reset_stats":
            sb.stats.reset()
            return {"ok": True}
        if action == "set_concurrency_limit":
            sb.concurrency_limit = max(1, int(body["limit"]))
            return {"ok": True, "concurrency_limit": sb.concurrency_limit}
        if action == "set_latency":
            sb.latency_ms = max(0, int(body["latency_ms"]))
            return {"ok": True, "latency_ms": sb.latency_ms}
        if action == "set_faults":
            sb.set_faults(body.get("faults"))
            return {"ok": True}
        if action == "bulk_insert_items":
            ids = sb.store.bulk_insert_items(int(body["count"]), prefix=str(body.get("prefix", "BULK-")))
            return {"ok": True, "first_id": ids.start, "last_id": ids.stop - 1, "count": len(ids)}
        if action == "add_item":
            fields = {k: v for k, v in body.items() if k not in ("action", "sku", "record_type")}
            rtype = RECORD_TYPES[body.get("record_type", "inventoryItem")]
            rid = sb.records.create(rtype, {"itemId": body["sku"], **fields})
            return {"ok": True, "id": rid}
        item_id = self._item_id(body)
        if action == "deactivate_item":
            rt = RECORD_TYPES["inventoryItem"]
            sb.records.update(rt, str(item_id), {"isInactive": True})
            return {"ok": True, "id": str(item_id)}
        if action == "set_inventory":
            row = sb.store.set_inventory(item_id, int(body["location"]), onhand=body.get("quantityonhand"),
                                         committed=body.get("quantitycommitted"),
                                         intransit=body.get("quantityintransit"),
                                         backordered=body.get("quantitybackordered"),
                                         onorder=body.get("quantityonorder"), now=sb.clock())
            return {"ok": True, "inventory": row}
        if action == "set_price":
            currency = str(body.get("currency", "1"))
            if not currency.isdigit():
                found = sb.store.query("SELECT id FROM currency WHERE symbol = :s", {"s": currency.upper()})
                if not found:
                    raise ValueError(f"unknown currency {currency}")
                currency = str(found[0][0])
            effective = body.get("effectivedate")
            if effective:
                effective = str(effective).replace("T", " ").rstrip("Z")[:19]
            sb.store.set_price(item_id, int(body.get("pricelevel", 1)), int(currency),
                               Decimal(str(body.get("quantity", 0))), Decimal(str(body["unitprice"])), effective)
            return {"ok": True}
        raise ValueError(f"unknown action {action!r}")

    def _item_id(self, body: dict[str, Any]) -> int:
        sb = self.server.sandbox
        if body.get("item") is not None:
            return int(body["item"])
        sku = body.get("sku")
        rows = sb.store.query("SELECT id FROM item WHERE itemid = :s", {"s": sku})
        if not rows:
            raise ValueError(f"unknown item {sku!r} (send item=<internal id> or sku=<itemId>)")
        return int(rows[0][0])
