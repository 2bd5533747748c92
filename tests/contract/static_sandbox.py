"""A tiny loopback HTTP server that plays Amazon's *static* SP-API sandbox from the vendored models.

Amazon's static sandbox matches a request's parameters against ``x-amzn-api-sandbox.static[].request
.parameters`` of the operation and returns the paired ``response`` with that status code. This fixture
does the same for every (non-deprecated or deprecated) operation of the models it is given, so the hook
can be run against Amazon's own test cases (``TEST_CASE_200``/``TEST_CASE_400``, ``feedId1``,
``ID323``, ``VALIDATION_PREVIEW`` …).

Besides:

* ``POST /auth/o2/token`` — an LWA token endpoint that checks the client id/secret and refresh token.
* Every request is validated against the model (``tests.contract.swagger.check_http``) and every
  served response against the response schema; the results are in :attr:`StaticSandbox.records`.
* Document URLs in responses (fields ``url`` and ``link.resource``) are rewritten to ``/_doc?src=…``
  on this server: ``GET`` serves the bytes registered in :attr:`documents` for the original URL,
  ``PUT`` stores the upload in :attr:`uploads`.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from tests.contract.swagger import RequestCheck, check_http, check_response, static_cases

DEFAULT_MODELS = (
    "orders_2026-01-01.json",
    "orders_v0.json",
    "feeds_2021-06-30.json",
    "reports_2021-06-30.json",
    "listings_items_2021-08-01.json",
    "product_type_definitions_2020-09-01.json",
    "finances_2024-06-19.json",
    "fba_inventory_v1.json",
)


def _instant(value: str) -> dt.datetime | None:
    if "T" not in value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def same_value(actual: Any, wanted: Any) -> bool:
    """Equality used to match a request against a case: date-time strings compare as instants
    (``…T20:11:24Z`` == ``…T20:11:24.000Z``), query scalars compare by their string form."""
    if isinstance(wanted, dict):
        return isinstance(actual, dict) and actual.keys() == wanted.keys() and all(same_value(actual[k], v) for k, v in wanted.items())
    if isinstance(wanted, list):
        return isinstance(actual, list) and len(actual) == len(wanted) and all(same_value(a, w) for a, w in zip(actual, wanted))
    if actual == wanted:
        return True
    if isinstance(actual, str) and isinstance(wanted, str):
        a, w = _instant(actual), _instant(wanted)
        return a is not None and a == w
    if isinstance(actual, bool) or isinstance(wanted, bool):
        return str(actual).lower() == str(wanted).lower()
    return actual is not None and not isinstance(actual, (dict, list)) and str(actual) == str(wanted)


@dataclass
class Record:
    method: str
    path: str
    operation: str | None
    status: int
    request_problems: list[str]
    response_problems: list[str]
    case_index: int | None = None


@dataclass
class Document:
    content: bytes
    content_type: str = "text/plain; charset=UTF-8"
    gzip: bool = False


@dataclass
class StaticSandbox:
    client_id: str
    client_secret: str
    refresh_token: str
    models: tuple[str, ...] = DEFAULT_MODELS
    records: list[Record] = field(default_factory=list)
    documents: dict[str, Document] = field(default_factory=dict)
    uploads: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    issued_tokens: list[str] = field(default_factory=list)
    document_requests: list[tuple[str, str]] = field(default_factory=list)
    lwa_requests: int = 0

    def __post_init__(self) -> None:
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # -- lifecycle -----------------------------------------------------------------------------------
    def start(self) -> StaticSandbox:
        sandbox = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # silence stderr
                return

            def _handle(self) -> None:
                sandbox._dispatch(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="static-sandbox", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> StaticSandbox:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "sandbox not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def lwa_url(self) -> str:
        return self.url + "/auth/o2/token"

    def connection_extra(self) -> dict[str, Any]:
        return {"refresh_token": self.refresh_token, "region": "na", "endpoint": self.url, "lwa_token_url": self.lwa_url}

    # -- helpers -------------------------------------------------------------------------------------
    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, body: bytes = b"", content_type: str = "application/json",
              headers: dict[str, str] | None = None) -> None:
        handler.send_response(status)
        if status != 204:
            handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body) if status != 204 else 0))
        handler.send_header("x-amzn-RequestId", secrets.token_hex(8))
        for k, v in (headers or {}).items():
            handler.send_header(k, v)
        handler.end_headers()
        if status != 204 and body:
            handler.wfile.write(body)

    def _json(self, handler: BaseHTTPRequestHandler, status: int, payload: Any) -> None:
        self._send(handler, status, json.dumps(payload).encode("utf-8"))

    def _rewrite_urls(self, value: Any, key: str | None = None) -> Any:
        if isinstance(value, dict):
            return {k: self._rewrite_urls(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [self._rewrite_urls(v) for v in value]
        if key in ("url", "resource") and isinstance(value, str) and value.startswith(("http://", "https://")):
            return f"{self.url}/_doc?src={quote(value, safe='')}"
        return value

    # -- dispatch ------------------------------------------------------------------------------------
    def _dispatch(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        parts = urlsplit(handler.path)
        method = handler.command.upper()

        if parts.path == "/auth/o2/token" and method == "POST":
            return self._lwa(handler, body)
        if parts.path == "/_doc":
            return self._document(handler, method, parts.query, body)

        if handler.headers.get("x-amz-access-token") not in self.issued_tokens:
            return self._json(handler, 403, {"errors": [{"code": "Unauthorized", "message": "Access to requested resource is denied.",
                                                         "details": "The access token you provided is revoked, malformed or invalid."}]})

        check = check_http(method, handler.path, dict(handler.headers.items()), body, self.models)
        if check.operation is None:
            with self._lock:
                self.records.append(Record(method, parts.path, None, 404, check.problems, []))
            return self._json(handler, 404, {"errors": [{"code": "NotFound", "message": "Resource not found"}]})
        status, payload, index = self._match(check)
        if status == 204:
            payload = None  # 204 carries no body (the models' cases write {})
        response_problems = check_response(check.operation, status, payload) if index is not None else []
        with self._lock:
            self.records.append(Record(method, parts.path, check.operation.operation_id, status, check.problems,
                                       response_problems, index))
        if status == 204 or payload is None:
            return self._send(handler, status)
        return self._json(handler, status, self._rewrite_urls(payload))

    def _match(self, check: RequestCheck) -> tuple[int, Any, int | None]:
        """Most specific static case whose every valued parameter equals the request's."""
        assert check.operation is not None
        best: tuple[int, int, Any, int] | None = None
        for index, (status, case) in enumerate(static_cases(check.operation)):
            wanted = (case.get("request") or {}).get("parameters") or {}
            score = 0
            matched = True
            for name, spec in wanted.items():
                if not isinstance(spec, dict) or "value" not in spec:
                    continue  # no value = any value
                if not same_value(check.values.get(name), spec["value"]):
                    matched = False
                    break
                score += 1
            if matched and (best is None or score > best[0]):
                best = (score, status, case.get("response"), index)
        if best is None:
            return 404, {"errors": [{"code": "NotFound", "message": "No static sandbox case matches the request parameters."}]}, None
        return best[1], best[2], best[3]

    def _lwa(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8")).items()}
        with self._lock:
            self.lwa_requests += 1
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return self._json(handler, 401, {"error": "invalid_client", "error_description": "Client authentication failed"})
        if form.get("grant_type") == "refresh_token" and form.get("refresh_token") != self.refresh_token:
            return self._json(handler, 400, {"error": "invalid_grant", "error_description": "The request has an invalid grant parameter : refresh_token"})
        token = "Atza|" + secrets.token_urlsafe(300)
        with self._lock:
            self.issued_tokens.append(token)
        return self._json(handler, 200, {"access_token": token, "token_type": "bearer", "expires_in": 3600})

    def _document(self, handler: BaseHTTPRequestHandler, method: str, query: str, body: bytes) -> None:
        src = (parse_qs(query).get("src") or [""])[0]
        with self._lock:
            self.document_requests.append((method, src))
        if handler.headers.get("x-amz-access-token"):
            return self._send(handler, 400, b"<Error><Code>InvalidArgument</Code></Error>", "application/xml")
        if method == "PUT":
            with self._lock:
                self.uploads[src] = (body, handler.headers.get("Content-Type", ""))
            return self._send(handler, 200)
        doc = self.documents.get(src)
        if doc is None:
            return self._send(handler, 404, b"<Error><Code>NoSuchKey</Code></Error>", "application/xml")
        content = gzip.compress(doc.content) if doc.gzip else doc.content
        return self._send(handler, 200, content, doc.content_type)

    # -- assertions ----------------------------------------------------------------------------------
    def request_problems(self) -> list[str]:
        with self._lock:
            return [f"{r.method} {r.path}: {p}" for r in self.records for p in r.request_problems]

    def response_problems(self) -> list[str]:
        with self._lock:
            return [f"{r.operation}: {p}" for r in self.records for p in r.response_problems]

    def served(self, operation: str) -> list[Record]:
        with self._lock:
            return [r for r in self.records if r.operation == operation]

