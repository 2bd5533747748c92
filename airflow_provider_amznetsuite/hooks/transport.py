"""One HTTP exchange with the limits both hooks need against a hostile or broken server.

* **No redirects, ever.** Both hooks send credentials (LWA client secret and refresh token in the
  token POST, ``x-amz-access-token``, NetSuite bearer tokens and TBA signatures). ``requests`` would
  re-send them to whatever host a 302/307 names. A 3xx answer raises :class:`RedirectRefused`
  naming the host it pointed to; nothing is sent there.
* **A whole-response deadline.** ``requests``' read timeout applies to each socket read, so a server
  dribbling one byte every few seconds holds a worker forever. The body is read in small pieces
  against a monotonic deadline, and every socket read waits at most the time left.
* **The status line and headers too.** A server can also dribble its *headers*, where the body
  loop does not run yet. The connection classes of the session's pools are swapped (once, on first
  use) for ones whose ``getresponse`` arms a timer at the same deadline; when it fires the socket is
  shut down and the exchange ends as :class:`ResponseDeadlineExceeded`.
* **A response-size cap.** The body is counted while it streams; past the cap the connection is
  dropped and :class:`ResponseTooLarge` raised (a declared ``Content-Length`` over the cap is
  refused before reading).

The two errors subclass ``requests`` exceptions so the hooks' retry policies treat them as what
they are: a deadline overrun is a read timeout (retried only when idempotent), an oversized body a
request failure that is not retried.
"""
from __future__ import annotations

import contextvars
import socket
import threading
import time
import zlib
from collections.abc import Callable
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

DEFAULT_DEADLINE_S = 600.0
DEFAULT_MAX_RESPONSE_BYTES = 256 * 1024 * 1024
MAX_DOCUMENT_BYTES = 2 * 1024**3  # report/feed documents (the settlement parser's cap too)
_PIECE = 64 * 1024


class RedirectRefused(requests.RequestException):
    """The server answered 3xx; following it would send credentials to ``location``."""

    def __init__(self, status: int, location: str, host: str) -> None:
        self.status = status
        self.location = location
        self.host = host
        super().__init__(
            f"the server answered {status} redirecting to host {host!r}; redirects are never followed because the "
            "request carries credentials — set the connection's endpoint/base URL to the final host")


class ResponseDeadlineExceeded(requests.ReadTimeout):
    """The whole response did not arrive within the deadline."""


class ResponseTooLarge(requests.RequestException):
    """The response body exceeded the size cap."""


#: monotonic instant by which the current thread's response must have arrived (set by :func:`send`)
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("amznetsuite_deadline", default=None)


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class _Watched:
    """Mixin: waiting for the status line and headers is bounded by the response deadline."""

    sock: socket.socket | None

    def getresponse(self) -> Any:  # type: ignore[override]
        deadline = _DEADLINE.get()
        sock = self.sock
        if deadline is None or not isinstance(sock, socket.socket):
            return super().getresponse()  # type: ignore[misc]
        timer = threading.Timer(max(deadline - time.monotonic(), 0.001), _shutdown, (sock,))
        timer.daemon = True
        timer.start()
        try:
            return super().getresponse()  # type: ignore[misc]
        finally:
            timer.cancel()


class _WatchedHTTPConnection(_Watched, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_Watched, HTTPSConnection):
    pass


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_WATCHED_POOLS = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


def _watch_headers(session: requests.Session, url: str) -> None:
    """Make the pools of the adapter serving ``url`` use the watched connection classes (idempotent)."""
    try:
        adapter = session.get_adapter(url)
    except requests.exceptions.InvalidSchema:
        return
    manager = getattr(adapter, "poolmanager", None)
    classes = getattr(manager, "pool_classes_by_scheme", None)
    if isinstance(classes, dict) and classes.get("https") is not _WatchedHTTPSPool:
        manager.pool_classes_by_scheme = {**classes, **_WATCHED_POOLS}
        manager.clear()  # pools built before used the plain classes


def _set_read_timeout(resp: requests.Response, seconds: float) -> None:
    """Bound the next socket read of ``resp`` by ``seconds`` (best effort across urllib3 internals)."""
    fp = getattr(getattr(resp.raw, "_fp", None), "fp", None)
    raw_sock = getattr(fp, "raw", None)
    sock = getattr(raw_sock, "_sock", None)
    if isinstance(sock, socket.socket):
        sock.settimeout(max(0.001, seconds))


def send(
    session: requests.Session,
    method: str,
    url: str,
    *,
    timeout: float | tuple[float, float],
    deadline_s: float = DEFAULT_DEADLINE_S,
    max_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    clock: Callable[[], float] = time.monotonic,
    **kwargs: Any,
) -> requests.Response:
    """``session.request`` without redirects, within ``deadline_s`` seconds and ``max_bytes`` of body."""
    started = clock()
    connect, read = timeout if isinstance(timeout, tuple) else (timeout, timeout)
    per_read = min(float(read), deadline_s)
    _watch_headers(session, url)
    token = _DEADLINE.set(time.monotonic() + deadline_s)
    try:
        resp = session.request(method, url, timeout=(connect, per_read), allow_redirects=False, stream=True, **kwargs)
    except requests.ConnectionError:
        if clock() - started >= deadline_s:
            raise ResponseDeadlineExceeded(
                f"the status line and headers did not arrive within {deadline_s:g} s") from None
        raise
    finally:
        _DEADLINE.reset(token)
    if clock() - started >= deadline_s:  # the watchdog cut the headers short: what arrived is not an answer
        resp.close()
        raise ResponseDeadlineExceeded(f"the status line and headers did not arrive within {deadline_s:g} s")
    try:
        if 300 <= resp.status_code < 400 and resp.status_code != 304:
            location = urljoin(url, resp.headers.get("Location") or "")
            raise RedirectRefused(resp.status_code, location, urlsplit(location).hostname or "?")
        declared = resp.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > max_bytes:
            raise ResponseTooLarge(f"the response declares {int(declared):,} bytes, over the cap of {max_bytes:,} bytes")
        if resp._content_consumed:  # a session response hook already read the body
            if len(resp.content or b"") > max_bytes:
                raise ResponseTooLarge(f"the response exceeded the cap of {max_bytes:,} bytes")
            return resp
        pieces: list[bytes] = []
        size = 0
        while True:
            left = deadline_s - (clock() - started)
            if left <= 0:
                raise ResponseDeadlineExceeded(f"the response did not complete within {deadline_s:g} s")
            _set_read_timeout(resp, min(per_read, left))
            try:
                # read1: at most one socket read, so the deadline is checked between dribbled bytes;
                # decoded pieces are bounded too (a gzip bomb is counted as it inflates).
                piece = resp.raw.read1(_PIECE, decode_content=True)
            except urllib3.exceptions.ReadTimeoutError:
                raise ResponseDeadlineExceeded(
                    f"the response did not complete within {min(per_read, deadline_s):g} s") from None
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                raise requests.ConnectionError(f"reading the response failed: {type(exc).__name__}") from None
            if not piece:
                break
            size += len(piece)
            if size > max_bytes:
                raise ResponseTooLarge(f"the response exceeded the cap of {max_bytes:,} bytes")
            pieces.append(piece)
        resp._content = b"".join(pieces)  # what Response.content would have read, now bounded
        resp._content_consumed = True
        resp.raw.release_conn()
        return resp
    except BaseException:
        resp.close()
        raise


def gunzip_bounded(data: bytes, max_bytes: int) -> bytes:
    """Decompress gzip ``data`` (all members) without ever holding more than ``max_bytes`` of output."""
    out: list[bytes] = []
    size = 0
    rest = data
    while rest:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        while rest:
            piece = inflater.decompress(rest, _PIECE)
            rest = inflater.unconsumed_tail
            size += len(piece)
            if size > max_bytes:
                raise ResponseTooLarge(f"the document inflates past the cap of {max_bytes:,} bytes")
            out.append(piece)
            if inflater.eof:
                break
        if not inflater.eof:
            raise ValueError("the gzip document is truncated")
        rest = inflater.unused_data
    return b"".join(out)
