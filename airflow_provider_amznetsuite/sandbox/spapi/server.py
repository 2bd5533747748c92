"""The local SP-API sandbox: a real HTTP server on loopback (``http.server.ThreadingHTTPServer``).

Start one with :func:`create_server` (or ``amznetsuite sandbox serve``). Request pipeline for an
SP-API operation: latency → fault injection → LWA access-token check (``x-amz-access-token``) →
token bucket of the operation (429 ``QuotaExceeded``) → handler. Successful and 400/404 answers
carry ``x-amzn-RateLimit-Limit`` (the official, unscaled rate) and every answer ``x-amzn-RequestId``.

Unauthenticated extras:

* ``POST /auth/o2/token`` — Login with Amazon token endpoint;
* ``PUT|GET /_docs/{id}?...`` — presigned document store (feed uploads, feed results, reports);
* ``GET /_schemas/product-types/...`` — product type JSON-schema documents;
* ``/_sandbox/*`` — inspection and control, loopback clients only: ``GET listings`` (``?sku=``,
  ``?marketplaceId=``), ``feeds``, ``shipments``, ``stats``, ``inventory``, ``orders``
  (``?marketplace=``), ``settlements``; ``POST control`` with a JSON object of actions:
  ``advance_minutes``, ``set_now``, ``reject_skus`` (list, replaces the set), ``fba_quantity``
  (object or list of ``{sku, marketplace, fulfillable, ...}``), ``add_order`` (kwargs of
  :meth:`SpApiSandbox.add_order`), ``update_order`` (``{order_id, status, ...}``),
  ``add_settlement`` (``{marketplace, extra_lines}``), ``reset_stats``, ``reset_limits``.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
import uuid
from datetime import datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from airflow_provider_amznetsuite.sandbox import catalog
from airflow_provider_amznetsuite.sandbox.spapi import credentials as creds
from airflow_provider_amznetsuite.sandbox.spapi.api import ROUTES, Api, Request, Response
from airflow_provider_amznetsuite.sandbox.spapi.clock import SandboxClock
from airflow_provider_amznetsuite.sandbox.spapi.limits import QUOTA_MESSAGE, FaultInjector, RateLimiter
from airflow_provider_amznetsuite.sandbox.spapi.state import SandboxState, TokenInfo
from airflow_provider_amznetsuite.sandbox.spapi.util import ApiError, iso, parse_iso

log = logging.getLogger(__name__)

ACCESS_TOKEN_SECONDS = 3600
MAX_BODY = 64 * 1024 * 1024
DENIED = "Access to requested resource is denied."


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr: tuple[str, int], sandbox: SpApiSandbox) -> None:
        self.sandbox = sandbox
        super().__init__(addr, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "SpApiSandbox/1.0"
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("spapi-sandbox %s - %s", self.address_string(), format % args)

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._dispatch()

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch()

    def do_PUT(self) -> None:  # noqa: N802
        self._dispatch()

    def do_PATCH(self) -> None:  # noqa: N802
        self._dispatch()

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch()

    # ------------------------------------------------------------------------------------------
    def _send(self, resp: Response, request_id: str) -> None:
        if resp.body is None:
            payload = b""
        elif isinstance(resp.body, bytes):
            payload = resp.body
        elif isinstance(resp.body, str):
            payload = resp.body.encode("utf-8")
        else:
            payload = json.dumps(resp.body).encode("utf-8")
        self.send_response(resp.status)
        if resp.status != 204:
            self.send_header("Content-Type", resp.content_type)
            self.send_header("Content-Length", str(len(payload)))
        self.send_header("x-amzn-RequestId", request_id)
        for k, v in resp.headers.items():
            self.send_header(k, v)
        self.end_headers()
        if resp.status != 204 and self.command != "HEAD":
            self.wfile.write(payload)

    def _drop(self) -> None:
        """Fault 'drop': close the connection without sending anything."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _dispatch(self) -> None:
        sb = self.server.sandbox
        request_id = str(uuid.uuid4())
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._send(Response(413, {"errors": [{"code": "RequestEntityTooLarge",
                                                  "message": "The request body is too large."}]}), request_id)
            self.close_connection = True
            return
        body = self.rfile.read(length) if length else b""
        host = self.headers.get("Host") or f"{sb.host}:{sb.port}"
        req = Request(method=self.command, path=parts.path, query=parse_qs(parts.query, keep_blank_values=True),
                      headers=self.headers, body=body, base_url=f"http://{host}")
        if sb.latency_ms:
            time.sleep(sb.latency_ms / 1000.0)
        try:
            if parts.path == "/auth/o2/token":
                self._lwa(req, request_id)
                return
            if parts.path.startswith("/_sandbox/"):
                self._inspection(req, request_id)
                return
            self._operation(req, request_id)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _operation(self, req: Request, request_id: str) -> None:
        sb = self.server.sandbox
        route = None
        for r in ROUTES:
            m = r.pattern.match(req.path)
            if m and r.method == req.method:
                route = r
                req.params = m.groupdict()
                break
        if route is None:
            self._send(Response(404, {"errors": [{"code": "NotFound", "message": "Resource not found.",
                                                  "details": f"{req.method} {req.path} is not an operation of the "
                                                             "SP-API sandbox."}]}), request_id)
            return
        op = route.operation
        token = req.headers.get("x-amz-access-token")
        decision = sb.faults.decide(op, authenticated=route.auth,
                                    paginated=any(req.q(p) for p in route.paginated))
        if decision is not None:
            kind = decision.kind
            if kind == "drop":
                sb.state.record(op, 0, fault=True)
                self._drop()
                return
            if kind == "slow":
                time.sleep(sb.faults.slow_seconds)
            elif kind == "429":
                sb.state.record(op, 429, throttled=True, fault=True)
                self._send(Response(429, {"errors": [{"code": "QuotaExceeded", "message": QUOTA_MESSAGE}]}), request_id)
                return
            elif kind == "5xx":
                status = 503 if sum(sb.faults.injected.values()) % 2 else 500
                sb.state.record(op, status, fault=True)
                code = "ServiceUnavailable" if status == 503 else "InternalFailure"
                msg = "Service temporarily unavailable." if status == 503 else "We encountered an internal error. Please try again."
                self._send(Response(status, {"errors": [{"code": code, "message": msg}]}), request_id)
                return
            elif kind == "expired_token" and token:
                with sb.state.lock:
                    info = sb.state.tokens.get(token)
                    if info is not None:
                        info.expires_mono = float("-inf")
            elif kind == "expired_pagination":
                sb.api.expire_cursor(req)
        if route.auth:
            denied = self._check_token(token)
            if denied is not None:
                sb.state.record(op, 403)
                self._send(Response(403, {"errors": [{"code": "Unauthorized", "message": DENIED, "details": denied}]}),
                           request_id)
                return
            if not sb.limiter.acquire(op):
                sb.state.record(op, 429, throttled=True)
                self._send(Response(429, {"errors": [{"code": "QuotaExceeded", "message": QUOTA_MESSAGE}]}), request_id)
                return
        try:
            resp = getattr(sb.api, route.handler)(req)
        except ApiError as exc:
            resp = Response(exc.status, exc.body(), headers=dict(exc.headers))
        except Exception:  # a sandbox bug must still answer like Amazon
            log.exception("SP-API sandbox handler %s failed", op)
            resp = Response(500, {"errors": [{"code": "InternalFailure",
                                              "message": "We encountered an internal error. Please try again."}]})
        rate = sb.limiter.rate_header(op) if route.auth else None
        if rate and resp.status in (200, 201, 202, 204, 400, 404):
            resp.headers["x-amzn-RateLimit-Limit"] = rate
        sb.state.record(op, resp.status, throttled=resp.status == 429)
        self._send(resp, request_id)

    def _check_token(self, token: str | None) -> str | None:
        sb = self.server.sandbox
        if not token:
            return "The request is missing the x-amz-access-token header."
        with sb.state.lock:
            info = sb.state.tokens.get(token)
        if info is None:
            return "The access token you provided is revoked, malformed or invalid."
        if sb.clock.mono() > info.expires_mono:
            return "The access token you provided has expired."
        if info.grantless:
            return "A grantless (client_credentials) token cannot call selling partner operations."
        return None

    # --- LWA ------------------------------------------------------------------------------------
    def _lwa(self, req: Request, request_id: str) -> None:
        sb = self.server.sandbox

        def fail(status: int, error: str, description: str) -> None:
            sb.state.record("lwaToken", status)
            self._send(Response(status, {"error": error, "error_description": description}), request_id)

        if req.method != "POST":
            fail(405, "invalid_request", "The token endpoint only accepts POST.")
            return
        decision = sb.faults.decide("lwaToken", authenticated=False)
        if decision is not None and decision.kind == "drop":
            self._drop()
            return
        if decision is not None and decision.kind in ("5xx", "429"):
            fail(500 if decision.kind == "5xx" else 429, "server_error" if decision.kind == "5xx" else "slow_down",
                 "Temporary failure; retry later.")
            return
        if decision is not None and decision.kind == "slow":
            time.sleep(sb.faults.slow_seconds)
        ctype = (req.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype != "application/x-www-form-urlencoded":
            fail(400, "invalid_request", "The request must be form-encoded (application/x-www-form-urlencoded).")
            return
        form = {k: v[-1] for k, v in parse_qs(req.body.decode("utf-8", "replace"), keep_blank_values=True).items()}
        grant = form.get("grant_type")
        if not grant:
            fail(400, "invalid_request", "The request is missing a required parameter : grant_type")
            return
        if grant not in ("refresh_token", "client_credentials"):
            fail(400, "unsupported_grant_type", "The authorization grant type is not supported by the "
                                                "authorization server")
            return
        if "refresh_token" in form and "scope" in form:
            fail(400, "invalid_request", "Send either refresh_token or scope, not both.")
            return
        if form.get("client_id") != creds.LWA_CLIENT_ID or form.get("client_secret") != creds.LWA_CLIENT_SECRET:
            fail(401, "invalid_client", "Client authentication failed")
            return
        scope = None
        if grant == "refresh_token":
            if not form.get("refresh_token"):
                fail(400, "invalid_request", "The request is missing a required parameter : refresh_token")
                return
            if form["refresh_token"] != creds.REFRESH_TOKEN:
                fail(400, "invalid_grant", "The request has an invalid grant parameter : refresh_token")
                return
        else:
            scope = form.get("scope")
            if not scope:
                fail(400, "invalid_request", "The request is missing a required parameter : scope")
                return
            if scope not in creds.GRANTLESS_SCOPES:
                fail(400, "invalid_scope", "The request has an invalid parameter : scope")
                return
        token = "Atza|" + sb.state.new_token()
        with sb.state.lock:
            sb.state.tokens[token] = TokenInfo(sb.clock.mono() + ACCESS_TOKEN_SECONDS, grantless=scope is not None,
                                               scope=scope)
        body: dict[str, Any] = {"access_token": token, "token_type": "bearer", "expires_in": ACCESS_TOKEN_SECONDS}
        if grant == "refresh_token":
            body["refresh_token"] = creds.REFRESH_TOKEN
        sb.state.record("lwaToken", 200)
        self._send(Response(200, body, headers={"Cache-Control": "no-store"}), request_id)

    # --- inspection -----------------------------------------------------------------------------
    def _inspection(self, req: Request, request_id: str) -> None:
        sb = self.server.sandbox
        client = self.client_address[0]
        if not (client.startswith("127.") or client == "::1"):
            self._send(Response(403, {"error": "The /_sandbox endpoints are only available from loopback."}),
                       request_id)
            return
        name = req.path[len("/_sandbox/"):].strip("/")
        try:
            if req.method == "GET" and name in sb.INSPECTION:
                body = getattr(sb, sb.INSPECTION[name])(**{k: v[-1] for k, v in req.query.items()})
                self._send(Response(200, body), request_id)
            elif req.method == "POST" and name == "control":
                payload = json.loads(req.body.decode("utf-8") or "{}")
                if not isinstance(payload, dict):
                    raise ValueError("the control body must be a JSON object")
                self._send(Response(200, sb.control(payload)), request_id)
            else:
                self._send(Response(404, {"error": f"No inspection endpoint {req.method} {req.path}",
                                          "endpoints": sorted(sb.INSPECTION) + ["control (POST)"]}), request_id)
        except (ValueError, KeyError, TypeError) as exc:
            self._send(Response(400, {"error": str(exc)}), request_id)


class SpApiSandbox:
    """A running (after :meth:`start`) SP-API sandbox. ``state`` is the in-memory store."""

    INSPECTION = {"listings": "listings", "feeds": "feeds", "shipments": "shipments", "stats": "stats",
                  "inventory": "inventory", "orders": "orders", "settlements": "settlements"}

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, seed: int = 42, catalog_size: int = 60,
                 orders_per_day: int = 60, days: int = 3, now: datetime | str | None = None,
                 time_scale: float = 1.0, faults: Any = None, latency_ms: int = 0, unknown_sku_orders: int = 0,
                 feed_queue_seconds: float = 10.0, feed_processing_seconds: float = 20.0,
                 report_processing_seconds: float = 30.0) -> None:
        self.seed = seed
        self.latency_ms = latency_ms
        self.clock = SandboxClock(now, time_scale=time_scale)
        self.state = SandboxState(clock=self.clock, seed=seed, catalog_size=catalog_size,
                                  orders_per_day=orders_per_day, days=days, unknown_sku_orders=unknown_sku_orders,
                                  feed_queue_seconds=feed_queue_seconds,
                                  feed_processing_seconds=feed_processing_seconds,
                                  report_processing_seconds=report_processing_seconds)
        self.limiter = RateLimiter(self.clock)
        self.faults = FaultInjector.from_spec(faults)
        self.api = Api(self)
        self._httpd = _HTTPServer((host, port), self)
        self.host = host
        self.port = self._httpd.server_address[1]
        self._thread: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def time_scale(self) -> float:
        return self.clock.time_scale

    def start(self) -> SpApiSandbox:
        if self._thread is None:
            self._thread = threading.Thread(target=self._httpd.serve_forever, name=f"spapi-sandbox-{self.port}",
                                            daemon=True)
            self._thread.start()
        return self

    def shutdown(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> SpApiSandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    def connection_env(self) -> dict[str, str]:
        return {"AIRFLOW_CONN_AMAZON_SP_API_DEFAULT": creds.connection_json(self.url, time_scale=self.time_scale)}

    # --- time -----------------------------------------------------------------------------------
    def now(self) -> datetime:
        return self.clock.now()

    def advance(self, minutes: float) -> datetime:
        """Move business time forward (orders progress; feeds/reports keep their real-time delays)."""
        with self.state.lock:
            return self.clock.advance(minutes)

    def set_now(self, dt: datetime) -> datetime:
        with self.state.lock:
            return self.clock.set(dt)

    def process_pending(self) -> None:
        """Run feed/report processing whose delay has passed (also happens on every API read)."""
        self.state.tick()

    # --- test helpers ---------------------------------------------------------------------------
    def add_order(self, marketplace: str, items: list[tuple[str, int]] | None = None, **kwargs: Any) -> str:
        with self.state.lock:
            return self.state.add_order(marketplace, items, **kwargs).order_id

    def update_order(self, order_id: str, **kwargs: Any) -> dict[str, Any]:
        with self.state.lock:
            order = self.state.update_order(order_id, **kwargs)
            return order.to_json(self.clock.now(), ("FULFILLMENT", "PROCEEDS", "PACKAGES"))

    def get_order(self, order_id: str, included: tuple[str, ...] = ("FULFILLMENT", "PROCEEDS")) -> dict[str, Any]:
        with self.state.lock:
            return self.state.orders[order_id].to_json(self.clock.now(), included)

    def set_fba_quantity(self, sku: str, marketplace: str, **quantities: int) -> dict[str, Any]:
        code = catalog.BY_MARKETPLACE_ID[marketplace].code if marketplace in catalog.BY_MARKETPLACE_ID else marketplace
        with self.state.lock:
            return self.state.inventory.set(sku, code, self.clock.now(), **quantities).to_state()

    def reject_skus(self, skus: list[str] | set[str] | tuple[str, ...]) -> None:
        """Force ERROR issues for these SKUs in JSON_LISTINGS_FEED and Listings Items calls (replaces the set)."""
        with self.state.lock:
            self.state.reject_skus = set(skus)

    def add_settlement(self, marketplace: str, *, start: datetime | None = None, end: datetime | None = None,
                       extra_lines: int = 0, gzip_document: bool | None = None) -> str:
        """Close another settlement for ``marketplace`` (code uk/de/us); returns its reportId."""
        return self.state.add_settlement(marketplace, start=start, end=end, extra_lines=extra_lines,
                                         gzip_document=gzip_document).report_id

    def settlement_text(self, report_id: str) -> str:
        """The settlement report document of ``report_id`` as text (decompressed, decoded)."""
        import gzip as _gzip
        with self.state.lock:
            report = self.state.reports[report_id]
            doc = self.state.documents[report.document_id or ""]
            data = doc.data or b""
        if doc.compression == "GZIP":
            data = _gzip.decompress(data)
        charset = doc.content_type.split("charset=")[-1] if "charset=" in doc.content_type else "utf-8"
        return data.decode(charset)

    def pii_values(self) -> list[str]:
        """Every buyer/recipient PII value the generator produced (names, e-mails, address lines, phones,
        company names, gift messages, VAT numbers) — for secret/PII scans of logs and errors."""
        with self.state.lock:
            values = {v for o in self.state.orders.values() for v in o.pii_values()}
        return sorted(values)

    def secrets(self) -> list[str]:
        """Sandbox credentials plus every access token issued so far (for secret scans)."""
        with self.state.lock:
            tokens = list(self.state.tokens)
        return [creds.LWA_CLIENT_SECRET, creds.REFRESH_TOKEN, *tokens]

    # --- inspection views (also served under /_sandbox/*) -----------------------------------------
    def listings(self, sku: str | None = None, marketplaceId: str | None = None) -> dict[str, Any]:  # noqa: N803
        with self.state.lock:
            self.state.tick()
            return {"listings": [lst.to_state() for lst in self.state.listings.listings(sku, marketplaceId)]}

    def feeds(self, **_: str) -> dict[str, Any]:
        with self.state.lock:
            self.state.tick()
            return {"feeds": [f.to_state() for f in self.state.feeds.values()]}

    def shipments(self, **_: str) -> dict[str, Any]:
        with self.state.lock:
            self.state.tick()
            return {"confirmations": list(self.state.confirmations),
                    "acknowledgements": [a.to_state() for a in self.state.acknowledgements]}

    def stats(self, **_: str) -> dict[str, Any]:
        with self.state.lock:
            ops = {k: v.to_json() for k, v in sorted(self.state.stats.items())}
        return {"operations": ops, "totals": {"requests": sum(v["requests"] for v in ops.values()),
                                              "throttled": sum(v["throttled"] for v in ops.values())},
                "faultsInjected": dict(self.faults.injected), "timeScale": self.time_scale}

    def reset_stats(self) -> None:
        with self.state.lock:
            self.state.stats.clear()

    def inventory(self, marketplace: str | None = None, **_: str) -> dict[str, Any]:
        with self.state.lock:
            rows = [r.to_state() for r in self.state.inventory.stock.values()
                    if marketplace is None or r.marketplace == marketplace]
        return {"inventory": sorted(rows, key=lambda r: (r["marketplace"], r["sku"]))}

    def orders(self, marketplace: str | None = None, status: str | None = None, **_: str) -> dict[str, Any]:
        now = self.clock.now()
        with self.state.lock:
            out = []
            for o in self.state.orders.values():
                if not o.visible(now) or (marketplace and o.marketplace != marketplace):
                    continue
                st = o.status_at(now)
                if status and st != status:
                    continue
                out.append({"orderId": o.order_id, "marketplace": o.marketplace,
                            "marketplaceId": o.mp.marketplace_id, "fulfilledBy": o.fulfilled_by, "status": st,
                            "createdTime": iso(o.created), "lastUpdatedTime": iso(o.last_updated(now)),
                            "sellerOrderId": o.seller_order_id,
                            "skus": [ln.sku for ln in o.lines], "packages": len(o.packages)})
        return {"now": iso(now), "orders": out}

    def settlements(self, **_: str) -> dict[str, Any]:
        with self.state.lock:
            return {"settlements": [
                {"reportId": s.report_id, "settlementId": s.settlement_id, "marketplace": s.marketplace,
                 "start": iso(s.start), "end": iso(s.end), "totalAmount": f"{s.total:.2f}", "lines": len(s.lines)}
                for s in self.state.settlements.values()]}

    def control(self, payload: dict[str, Any]) -> dict[str, Any]:
        known = {"advance_minutes", "set_now", "reject_skus", "fba_quantity", "add_order", "update_order",
                 "add_settlement", "reset_stats", "reset_limits"}
        unknown = set(payload) - known
        if unknown:
            raise ValueError(f"unknown control action(s) {sorted(unknown)}; expected some of {sorted(known)}")
        results: dict[str, Any] = {}
        if "set_now" in payload:
            self.set_now(parse_iso(str(payload["set_now"])))
        if "advance_minutes" in payload:
            self.advance(float(payload["advance_minutes"]))
        if "reject_skus" in payload:
            skus = payload["reject_skus"]
            if not isinstance(skus, list):
                raise ValueError("reject_skus must be a list of SKUs")
            self.reject_skus(skus)
        if "fba_quantity" in payload:
            entries = payload["fba_quantity"]
            entries = entries if isinstance(entries, list) else [entries]
            results["fba_quantity"] = [self.set_fba_quantity(**e) for e in entries]
        if "add_order" in payload:
            spec = dict(payload["add_order"])
            if "items" in spec:
                spec["items"] = [tuple(i) if isinstance(i, list) else (i["sku"], int(i["quantity"]))
                                 for i in spec["items"]]
            for key in ("shipping", "promotion_discount"):
                if key in spec:
                    spec[key] = Decimal(str(spec[key]))
            if "created" in spec:
                spec["created"] = parse_iso(spec["created"])
            results["add_order"] = self.add_order(**spec)
        if "update_order" in payload:
            spec = dict(payload["update_order"])
            if "at" in spec:
                spec["at"] = parse_iso(spec["at"])
            results["update_order"] = self.update_order(spec.pop("order_id"), **spec)
        if "add_settlement" in payload:
            spec = dict(payload["add_settlement"])
            results["add_settlement"] = self.add_settlement(spec.pop("marketplace"), **spec)
        if payload.get("reset_stats"):
            self.reset_stats()
        if payload.get("reset_limits"):
            self.limiter.reset()
        return {"now": iso(self.now()), "results": results}


def create_server(host: str = "127.0.0.1", port: int = 0, *, seed: int = 42, catalog_size: int = 60,
                  orders_per_day: int = 60, days: int = 3, now: datetime | str | None = None,
                  time_scale: float = 1.0, faults: Any = None, latency_ms: int = 0,
                  unknown_sku_orders: int = 0, **options: Any) -> SpApiSandbox:
    """Create (not start) an SP-API sandbox. ``now=None`` freezes business time at a fixed instant,
    ``now="real"`` follows the wall clock. ``options``: feed_queue_seconds, feed_processing_seconds,
    report_processing_seconds (before time scaling)."""
    return SpApiSandbox(host, port, seed=seed, catalog_size=catalog_size, orders_per_day=orders_per_day, days=days,
                        now=now, time_scale=time_scale, faults=faults, latency_ms=latency_ms,
                        unknown_sku_orders=unknown_sku_orders, **options)
