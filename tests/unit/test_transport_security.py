"""Both hooks against hostile servers on loopback: redirects, dribbled and oversized bodies, gzip bombs.

Each server is a real HTTP server in a thread; every test is bounded by small deadlines, never by
timing assertions.
"""
from __future__ import annotations

import gzip
import http.server
import json
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from airflow_provider_amznetsuite.hooks.netsuite import NetSuiteHook
from airflow_provider_amznetsuite.hooks.netsuite_errors import NetSuiteTransportError
from airflow_provider_amznetsuite.hooks.spapi_errors import SpApiAuthError, SpApiServerError
from airflow_provider_amznetsuite.hooks.transport import (
    RedirectRefused,
    ResponseDeadlineExceeded,
    ResponseTooLarge,
    gunzip_bounded,
    send,
)
from tests.contract.spapi_fakes import CLIENT_SECRET, REFRESH_TOKEN, make_connection, make_hook

Handler = Callable[[http.server.BaseHTTPRequestHandler], None]


class _Server:
    """A loopback server whose GET/POST/PATCH behaviour is one function; it records what reached it."""

    def __init__(self, behave: Handler) -> None:
        seen = self.seen = []  # (method, path, headers, body)

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                seen.append((self.command, self.path, dict(self.headers), body))
                behave(self)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _any

            def log_message(self, *a: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        self.httpd.handle_error = lambda *a: None  # a client that hung up on a hostile answer is the point
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve() -> Iterator[Callable[[Handler], _Server]]:
    started: list[_Server] = []

    def _start(behave: Handler) -> _Server:
        started.append(_Server(behave))
        return started[-1]

    yield _start
    for s in started:
        s.close()


def _redirect_to(target: str, status: int = 307) -> Handler:
    def behave(h: http.server.BaseHTTPRequestHandler) -> None:
        h.send_response(status)
        h.send_header("Location", target + h.path)
        h.send_header("Content-Length", "0")
        h.end_headers()
    return behave


def _json(body: Any, status: int = 200) -> Handler:
    data = json.dumps(body).encode()

    def behave(h: http.server.BaseHTTPRequestHandler) -> None:
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)
    return behave


def _dribble(total: int = 10_000, every: float = 0.05) -> Handler:
    """Declares a body and sends it one byte at a time: each read is quick, the whole is not."""
    def behave(h: http.server.BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(total))
        h.end_headers()
        try:
            for _ in range(total):
                h.wfile.write(b" ")
                h.wfile.flush()
                time.sleep(every)
        except OSError:
            pass
    return behave


def _dribble_headers(every: float = 0.05, count: int = 100_000) -> Handler:
    """Sends the status line, then one header line at a time: no body is ever reached."""
    def behave(h: http.server.BaseHTTPRequestHandler) -> None:
        try:
            h.wfile.write(b"HTTP/1.1 200 OK\r\n")
            for n in range(count):
                h.wfile.write(b"X-Slow-%d: 1\r\n" % n)
                h.wfile.flush()
                time.sleep(every)
        except OSError:
            pass
    return behave


def _fast_then(slow: Handler) -> Handler:
    """The first request is answered at once (the connection is kept alive), the next ones by ``slow``."""
    calls = [0]

    def behave(h: http.server.BaseHTTPRequestHandler) -> None:
        calls[0] += 1
        (_json({"ok": True}) if calls[0] == 1 else slow)(h)
    return behave


def _chunked(piece: bytes, count: int) -> Handler:
    """An undeclared (chunked) body of ``count`` pieces."""
    def behave(h: http.server.BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        try:
            for _ in range(count):
                h.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            h.wfile.write(b"0\r\n\r\n")
        except OSError:
            pass
    return behave


# --------------------------------------------------------------------------------------------------
# the transport itself
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_no_redirect_is_followed_and_the_error_names_the_host(serve, status: int) -> None:
    other = serve(_json({"stolen": True}))
    origin = serve(_redirect_to(other.url.replace("127.0.0.1", "localhost"), status))
    with pytest.raises(RedirectRefused) as info:
        send(requests.Session(), "POST", origin.url + "/auth/o2/token", data=b"secret=1", timeout=(5, 5))
    assert info.value.host == "localhost"
    assert "localhost" in str(info.value) and str(status) in str(info.value)
    assert other.seen == []  # nothing reached the other host


def test_a_dribbled_body_ends_at_the_whole_response_deadline(serve) -> None:
    srv = serve(_dribble())
    started = time.monotonic()
    with pytest.raises(ResponseDeadlineExceeded):
        send(requests.Session(), "GET", srv.url + "/slow", timeout=(5, 30), deadline_s=0.5)
    assert time.monotonic() - started < 25  # bounded by the deadline, not by 10,000 x 50 ms


@pytest.mark.parametrize("reused", [False, True], ids=["new connection", "kept-alive connection"])
def test_dribbled_headers_end_at_the_whole_response_deadline(serve, reused: bool) -> None:
    srv = serve(_fast_then(_dribble_headers()) if reused else _dribble_headers())
    session = requests.Session()
    if reused:
        assert send(session, "GET", srv.url + "/fast", timeout=(5, 30), deadline_s=5).json() == {"ok": True}
    started = time.monotonic()
    with pytest.raises(ResponseDeadlineExceeded, match="headers did not arrive within 0.5 s"):
        send(session, "GET", srv.url + "/slow", timeout=(5, 30), deadline_s=0.5)
    assert time.monotonic() - started < 25  # bounded by the deadline, not by 100,000 x 50 ms
    # the session still works afterwards (the dropped connection is not reused)
    ok = serve(_json({"ok": 2}))
    assert send(session, "GET", ok.url + "/", timeout=(5, 30), deadline_s=5).json() == {"ok": 2}


def test_a_deadline_overrun_is_a_read_timeout_for_the_retry_policies() -> None:
    assert issubclass(ResponseDeadlineExceeded, requests.ReadTimeout)


@pytest.mark.parametrize("declared", [True, False])
def test_a_body_over_the_cap_is_refused_declared_or_chunked(serve, declared: bool) -> None:
    if declared:
        srv = serve(_json({"x": "y" * 5000}))
    else:
        srv = serve(_chunked(b"z" * 1000, 50))
    with pytest.raises(ResponseTooLarge, match="cap of 4,096 bytes"):
        send(requests.Session(), "GET", srv.url + "/", timeout=(5, 5), max_bytes=4096)


def test_a_body_within_the_cap_arrives_whole_chunked_or_not(serve) -> None:
    srv = serve(_chunked(b"ab" * 500, 20))
    resp = send(requests.Session(), "GET", srv.url + "/", timeout=(5, 5), max_bytes=20_000)
    assert resp.content == b"ab" * 500 * 20


def test_content_encoding_gzip_is_counted_inflated(serve) -> None:
    bomb = gzip.compress(b"\0" * 2_000_000)

    def behave(h: http.server.BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Encoding", "gzip")
        h.send_header("Content-Length", str(len(bomb)))
        h.end_headers()
        h.wfile.write(bomb)
    srv = serve(behave)
    assert len(bomb) < 10_000
    with pytest.raises(ResponseTooLarge):
        send(requests.Session(), "GET", srv.url + "/", timeout=(5, 5), max_bytes=100_000)


def test_gunzip_bounded_inflates_multi_member_files_and_stops_bombs() -> None:
    two = gzip.compress(b"hello ") + gzip.compress(b"world")
    assert gunzip_bounded(two, 100) == b"hello world"
    with pytest.raises(ResponseTooLarge):
        gunzip_bounded(gzip.compress(b"a" * 10_000_000), 1_000_000)
    with pytest.raises((ValueError, zlib.error)):
        gunzip_bounded(gzip.compress(b"a" * 1000)[:-12], 10_000)


# --------------------------------------------------------------------------------------------------
# the SP-API hook
# --------------------------------------------------------------------------------------------------
def _spapi_hook(lwa_url: str, endpoint: str, **extra: Any):
    return make_hook(conn=make_connection(endpoint=endpoint, lwa_token_url=lwa_url, **extra), max_attempts=2)


def test_lwa_token_redirect_never_reposts_the_refresh_token_or_secret(serve) -> None:
    thief = serve(_json({"access_token": "Atza|stolen", "expires_in": 3600}))
    lwa = serve(_redirect_to(thief.url))
    api = serve(_json({"orders": []}))
    hook = _spapi_hook(lwa.url + "/auth/o2/token", api.url)
    with pytest.raises(SpApiAuthError) as info:
        hook.access_token()
    assert thief.seen == []
    text = str(info.value)
    assert "127.0.0.1" in text and "redirect" in text.lower()
    assert REFRESH_TOKEN not in text and CLIENT_SECRET not in text


@pytest.mark.parametrize("status", [302, 307])
def test_api_redirect_never_sends_the_access_token_elsewhere(serve, status: int) -> None:
    thief = serve(_json({"orders": []}))
    lwa = serve(_json({"access_token": "Atza|token-for-the-api", "expires_in": 3600}))
    api = serve(_redirect_to(thief.url.replace("127.0.0.1", "localhost"), status))
    hook = _spapi_hook(lwa.url + "/auth/o2/token", api.url)
    with pytest.raises(SpApiServerError, match="localhost"):
        hook.get_order("026-1234567-1234567")
    assert thief.seen == []
    assert len(api.seen) == 1  # refused at once, not retried


def test_spapi_hook_enforces_the_deadline_and_cap_from_the_connection(serve) -> None:
    lwa = serve(_json({"access_token": "Atza|t", "expires_in": 3600}))
    slow = serve(_dribble())
    hook = _spapi_hook(lwa.url + "/auth/o2/token", slow.url, response_deadline=0.3)
    with pytest.raises(SpApiServerError):
        hook.get_order("026-1234567-1234567")
    headers = serve(_dribble_headers())
    hook = _spapi_hook(lwa.url + "/auth/o2/token", headers.url, response_deadline=0.3)
    with pytest.raises(SpApiServerError, match="headers did not arrive"):
        hook.get_order("026-1234567-1234567")
    big = serve(_chunked(b"{" * 1000, 100))
    hook = _spapi_hook(lwa.url + "/auth/o2/token", big.url, max_response_bytes=10_000)
    with pytest.raises(SpApiServerError, match="ResponseTooLarge"):
        hook.get_order("026-1234567-1234567")
    assert len([s for s in big.seen if s[1].startswith("/orders")]) == 1  # an oversized body is not retried


# --------------------------------------------------------------------------------------------------
# the NetSuite hook
# --------------------------------------------------------------------------------------------------
def _ns_hook(monkeypatch, base_url: str, **extra: Any) -> NetSuiteHook:
    monkeypatch.setenv("AIRFLOW_CONN_NS_HOSTILE", json.dumps({"conn_type": "netsuite", "extra": {
        "account_id": "1234567_SB1", "auth_type": "tba", "consumer_key": "consumer-key-" + "k" * 20,
        "consumer_secret": "c" * 64, "token_id": "token-id-" + "i" * 20, "token_secret": "t" * 64,
        "base_url": base_url, **extra}}))
    hook = NetSuiteHook("ns_hostile")
    hook._sleep = lambda s: None
    return hook


@pytest.mark.parametrize("status", [301, 307, 308])
def test_netsuite_redirect_is_refused_naming_the_host(serve, monkeypatch, status: int) -> None:
    thief = serve(_json({"id": "1"}))
    ns = serve(_redirect_to(thief.url.replace("127.0.0.1", "localhost"), status))
    hook = _ns_hook(monkeypatch, ns.url)
    with pytest.raises(NetSuiteTransportError, match="localhost") as info:
        hook.get_record("salesOrder", "1")
    assert info.value.code == "REDIRECT_REFUSED"
    assert thief.seen == [] and len(ns.seen) == 1
    assert "t" * 64 not in str(info.value)


def test_netsuite_hook_enforces_the_deadline_and_cap(serve, monkeypatch) -> None:
    slow = serve(_dribble())
    hook = _ns_hook(monkeypatch, slow.url, response_deadline=0.3)
    with pytest.raises(NetSuiteTransportError, match="TIMEOUT|within"):
        hook.get_record("salesOrder", "1")
    headers = serve(_dribble_headers())
    hook = _ns_hook(monkeypatch, headers.url, response_deadline=0.3)
    with pytest.raises(NetSuiteTransportError, match="TIMEOUT|within"):
        hook.get_record("salesOrder", "1")
    big = serve(_chunked(b"x" * 1000, 100))
    hook = _ns_hook(monkeypatch, big.url, max_response_bytes=10_000)
    with pytest.raises(NetSuiteTransportError) as info:
        hook.get_record("salesOrder", "1")
    assert info.value.code == "RESPONSE_TOO_LARGE"


def test_report_documents_have_their_own_cap_so_a_big_settlement_downloads(serve) -> None:
    """A 1 M-line settlement is ~250 MB: documents are capped by max_document_bytes (default 2 GiB), not by
    the API's max_response_bytes; over their cap they are refused like any body."""
    doc = gzip.compress(b"settlement-id\ttotal-amount\n" + b"x" * 50_000)
    box: dict[str, str] = {}

    def behave(h: http.server.BaseHTTPRequestHandler) -> None:
        if h.path.startswith("/reports/2021-06-30/documents/"):
            _json({"reportDocumentId": "D1", "url": box["url"] + "/doc", "compressionAlgorithm": "GZIP"})(h)
        else:
            h.send_response(200)
            h.send_header("Content-Length", str(len(doc)))
            h.end_headers()
            h.wfile.write(doc)

    lwa = serve(_json({"access_token": "Atza|t", "expires_in": 3600}))
    srv = serve(behave)
    box["url"] = srv.url
    hook = _spapi_hook(lwa.url + "/auth/o2/token", srv.url, max_response_bytes=10_000)
    assert hook.settings.max_document_bytes == 2 * 1024**3
    assert len(hook.download_report("D1")) == 50_027  # inflated past max_response_bytes: allowed for documents
    hook = _spapi_hook(lwa.url + "/auth/o2/token", srv.url, max_document_bytes=20_000)
    with pytest.raises(SpApiServerError, match="ResponseTooLarge"):
        hook.download_report("D1")
