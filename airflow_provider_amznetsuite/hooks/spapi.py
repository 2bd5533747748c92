"""Amazon Selling Partner API hook.

One hook for everything Amazon-side: LWA auth (no SigV4 — Amazon dropped it in 2023), regional and
sandbox hosts, client-side token buckets seeded from the official usage plans, retries, typed errors
and the operations the provider uses. See ``docs/hooks-spapi.md`` for the API with examples.

Retry policy (per request):

* 429 ``QuotaExceeded`` — wait (``Retry-After`` when given, else the bucket's refill time plus jitter) and
  retry. Throttling alone never fails a task; only a total 429 wait above ``max_throttle_wait``
  (default 30 min) raises :class:`SpApiThrottled`.
* 5xx, connection errors, timeouts — bounded exponential backoff with full jitter, ``max_attempts``
  (default 5) attempts in total. A read timeout on a POST is not retried (the request may have been
  processed; retrying could create a second feed/report/shipment confirmation).
* 401 (and 403 whose errors say the access token is expired/invalid) — refresh the LWA token once and
  retry; a second one raises :class:`SpApiAuthError`.
* 400 / 403 / 404 — no retry; :class:`SpApiBadRequest` / :class:`SpApiForbidden` / :class:`SpApiNotFound`
  carrying Amazon's ``errors[]``.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import json
import math
import os
import random
import re
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Any, Literal, NamedTuple
from urllib.parse import quote

import requests
from airflow.providers.http.hooks.http import HttpHook
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from airflow_provider_amznetsuite.get_provider_info import VERSION
from airflow_provider_amznetsuite.hooks._common import USER_AGENT, backoff_delay, mask_secrets, scrub
from airflow_provider_amznetsuite.hooks.ratelimit import (
    REGISTRY,
    USAGE_PLANS,
    RateLimiterRegistry,
    TokenBucket,
    UsagePlan,
    parse_rate_limit_header,
)
from airflow_provider_amznetsuite.hooks.transport import (
    DEFAULT_DEADLINE_S,
    DEFAULT_MAX_RESPONSE_BYTES,
    MAX_DOCUMENT_BYTES as DEFAULT_MAX_DOCUMENT_BYTES,
    RedirectRefused,
    ResponseTooLarge,
    gunzip_bounded,
    send,
)
from airflow_provider_amznetsuite.hooks.spapi_errors import (
    SpApiAuthError,
    SpApiBadRequest,
    SpApiError,
    SpApiServerError,
    SpApiThrottled,
    error_class_for_status,
)

__all__ = [
    "DEFAULT_LWA_TOKEN_URL",
    "OPERATIONS",
    "PRODUCTION_HOSTS",
    "SANDBOX_HOSTS",
    "TERMINAL_PROCESSING_STATUSES",
    "LwaTokenCache",
    "Operation",
    "SpApiConnectionSettings",
    "SpApiHook",
]

DEFAULT_LWA_TOKEN_URL = "https://api.amazon.com/auth/o2/token"
PRODUCTION_HOSTS = {r: f"https://sellingpartnerapi-{r}.amazon.com" for r in ("na", "eu", "fe")}
SANDBOX_HOSTS = {r: f"https://sandbox.sellingpartnerapi-{r}.amazon.com" for r in ("na", "eu", "fe")}
TERMINAL_PROCESSING_STATUSES = frozenset({"DONE", "FATAL", "CANCELLED"})
# "...Before" must be at least 2 minutes before Amazon's now; a few seconds more absorb clock skew and
# servers that truncate their clock to whole seconds
ORDERS_BEFORE_MARGIN = dt.timedelta(minutes=2, seconds=5)
FINANCES_MAX_WINDOW = dt.timedelta(days=180)
REPORTS_RETENTION = dt.timedelta(days=89)  # reports are kept 90 days; 89 leaves room for clock skew
FEED_SIZE_BEST_PRACTICE = 10 * 1024 * 1024
TOKEN_REFRESH_MARGIN = 60.0  # seconds before expiry at which a cached LWA token is renewed
_CHARSET_ALIASES = {"windows-31j": "cp932", "x-sjis": "shift_jis", "x-windows-949": "cp949"}


class Operation(NamedTuple):
    """One SP-API operation the hook calls: vendored model file, HTTP method, path template, usage plan."""

    model: str
    method: str
    path: str
    rate: float
    burst: int


def _op(model: str, method: str, path: str, name: str) -> Operation:
    plan = USAGE_PLANS[name]
    return Operation(model, method, path, plan.rate, plan.burst)


#: Every operation product code calls (checked against the vendored models by the contract tests:
#: exists with this method + path, not ``deprecated``, usage plan as documented).
OPERATIONS: dict[str, Operation] = {
    "searchOrders": _op("orders_2026-01-01.json", "GET", "/orders/2026-01-01/orders", "searchOrders"),
    "getOrder": _op("orders_2026-01-01.json", "GET", "/orders/2026-01-01/orders/{orderId}", "getOrder"),
    "confirmShipment": _op("orders_v0.json", "POST", "/orders/v0/orders/{orderId}/shipmentConfirmation", "confirmShipment"),
    "createFeedDocument": _op("feeds_2021-06-30.json", "POST", "/feeds/2021-06-30/documents", "createFeedDocument"),
    "createFeed": _op("feeds_2021-06-30.json", "POST", "/feeds/2021-06-30/feeds", "createFeed"),
    "getFeed": _op("feeds_2021-06-30.json", "GET", "/feeds/2021-06-30/feeds/{feedId}", "getFeed"),
    "getFeeds": _op("feeds_2021-06-30.json", "GET", "/feeds/2021-06-30/feeds", "getFeeds"),
    "getFeedDocument": _op("feeds_2021-06-30.json", "GET", "/feeds/2021-06-30/documents/{feedDocumentId}", "getFeedDocument"),
    "createReport": _op("reports_2021-06-30.json", "POST", "/reports/2021-06-30/reports", "createReport"),
    "getReport": _op("reports_2021-06-30.json", "GET", "/reports/2021-06-30/reports/{reportId}", "getReport"),
    "getReports": _op("reports_2021-06-30.json", "GET", "/reports/2021-06-30/reports", "getReports"),
    "getReportDocument": _op("reports_2021-06-30.json", "GET", "/reports/2021-06-30/documents/{reportDocumentId}", "getReportDocument"),
    "getListingsItem": _op("listings_items_2021-08-01.json", "GET", "/listings/2021-08-01/items/{sellerId}/{sku}", "getListingsItem"),
    "putListingsItem": _op("listings_items_2021-08-01.json", "PUT", "/listings/2021-08-01/items/{sellerId}/{sku}", "putListingsItem"),
    "patchListingsItem": _op("listings_items_2021-08-01.json", "PATCH", "/listings/2021-08-01/items/{sellerId}/{sku}", "patchListingsItem"),
    "deleteListingsItem": _op("listings_items_2021-08-01.json", "DELETE", "/listings/2021-08-01/items/{sellerId}/{sku}", "deleteListingsItem"),
    "getInventorySummaries": _op("fba_inventory_v1.json", "GET", "/fba/inventory/v1/summaries", "getInventorySummaries"),
    "listTransactions": _op("finances_2024-06-19.json", "GET", "/finances/2024-06-19/transactions", "listTransactions"),
    "getDefinitionsProductType": _op(
        "product_type_definitions_2020-09-01.json", "GET", "/definitions/2020-09-01/productTypes/{productType}",
        "getDefinitionsProductType",
    ),
}


def _path(operation: str, **values: str) -> str:
    template = OPERATIONS[operation].path
    return template.format(**{k: quote(str(v), safe="") for k, v in values.items()})


# ---------------------------------------------------------------------------------------------------
# Connection settings
# ---------------------------------------------------------------------------------------------------
def _truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    return str(value).strip().lower() in {"1", "true", "yes", "on", "y"}


class SpApiConnectionSettings(BaseModel):
    """Validated view of an ``amazon_sp_api`` connection (login/password/extra)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    client_id: str = Field(min_length=1)
    client_secret: str = Field(min_length=1, repr=False)
    refresh_token: str | None = Field(default=None, repr=False)
    region: Literal["na", "eu", "fe"] = "na"
    seller_id: str | None = None
    endpoint: str | None = None
    host: str | None = None
    lwa_token_url: str = DEFAULT_LWA_TOKEN_URL
    sandbox: bool = False
    rate_limit_time_scale: float = Field(default=1.0, gt=0)
    max_throttle_wait: float | None = Field(default=None, ge=0)
    #: whole-response deadline and body cap (see hooks/transport.py)
    response_deadline: float = Field(default=DEFAULT_DEADLINE_S, gt=0)
    max_response_bytes: int = Field(default=DEFAULT_MAX_RESPONSE_BYTES, gt=0)
    #: report/feed documents: a big seller's settlement is ~250 MB, so their cap is the parser's (2 GiB)
    max_document_bytes: int = Field(default=DEFAULT_MAX_DOCUMENT_BYTES, gt=0)

    @field_validator("region", mode="before")
    @classmethod
    def _region(cls, v: Any) -> Any:
        return "na" if v in (None, "") else str(v).strip().lower()

    @field_validator("sandbox", mode="before")
    @classmethod
    def _sandbox(cls, v: Any) -> bool:
        return _truthy(v)

    @field_validator("rate_limit_time_scale", mode="before")
    @classmethod
    def _scale(cls, v: Any) -> Any:
        return 1.0 if v in (None, "") else v

    @field_validator("lwa_token_url", mode="before")
    @classmethod
    def _lwa(cls, v: Any) -> Any:
        return DEFAULT_LWA_TOKEN_URL if v in (None, "") else v

    @field_validator("refresh_token", "seller_id", "endpoint", "host", mode="before")
    @classmethod
    def _blank_none(cls, v: Any) -> Any:
        return None if v is None or str(v).strip() == "" else str(v).strip()

    @property
    def base_url(self) -> str:
        """``extra.endpoint`` > Amazon's sandbox host (``extra.sandbox``) > connection host > production host."""
        if self.endpoint:
            return self.endpoint.rstrip("/")
        if self.sandbox:
            return SANDBOX_HOSTS[self.region]
        if self.host:
            host = self.host if "://" in self.host else f"https://{self.host}"
            return host.rstrip("/")
        return PRODUCTION_HOSTS[self.region]


def _connection_extra(conn: Any, conn_type: str) -> dict[str, Any]:
    extra = dict(getattr(conn, "extra_dejson", None) or {})
    prefix = f"extra__{conn_type}__"
    for key in list(extra):
        if key.startswith(prefix):
            extra.setdefault(key[len(prefix):], extra[key])
    return extra


# ---------------------------------------------------------------------------------------------------
# LWA token cache (process-wide, thread-safe)
# ---------------------------------------------------------------------------------------------------
class LwaTokenCache:
    """Access tokens by (token URL, client id, grant) — the grant's secret is stored only as a SHA-256 digest."""

    def __init__(self) -> None:
        self._tokens: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()
        self._key_locks: dict[str, threading.Lock] = {}

    @staticmethod
    def key(token_url: str, client_id: str, grant: str) -> str:
        return hashlib.sha256(f"{token_url}\x00{client_id}\x00{grant}".encode()).hexdigest()

    def lock_for(self, key: str) -> threading.Lock:
        with self._lock:
            return self._key_locks.setdefault(key, threading.Lock())

    def get(self, key: str, now: float) -> str | None:
        with self._lock:
            found = self._tokens.get(key)
        if found and found[1] - TOKEN_REFRESH_MARGIN > now:
            return found[0]
        return None

    def put(self, key: str, token: str, expires_at: float) -> None:
        with self._lock:
            self._tokens[key] = (token, expires_at)

    def invalidate(self, key: str, token: str | None = None) -> None:
        with self._lock:
            found = self._tokens.get(key)
            if found and (token is None or found[0] == token):
                del self._tokens[key]

    def clear(self) -> None:
        with self._lock:
            self._tokens.clear()


TOKEN_CACHE = LwaTokenCache()

_PTD_MEMORY: dict[tuple[str, ...], dict[str, Any]] = {}
_PTD_LOCK = threading.Lock()


# ---------------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------------
def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _as_utc(value: dt.datetime | str, field: str) -> dt.datetime:
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"{field}: {value!r} is not an ISO-8601 date-time (e.g. '2026-01-31T00:00:00Z')") from None
    if not isinstance(value, dt.datetime):
        raise TypeError(f"{field}: expected a timezone-aware datetime or ISO-8601 string, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{field}: {value.isoformat()} has no timezone; pass a timezone-aware UTC datetime")
    return value.astimezone(dt.UTC)


def iso_z(value: dt.datetime) -> str:
    """UTC ISO-8601 with a ``Z`` suffix, milliseconds only when present (``2026-01-31T00:00:00Z``)."""
    value = value.astimezone(dt.UTC)
    spec = "milliseconds" if value.microsecond else "seconds"
    return value.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


def _as_list(value: str | Iterable[str] | None, field: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    items = [str(v) for v in value]
    for item in items:
        if "," in item:
            raise ValueError(f"{field}: {item!r} contains a comma; SP-API list parameters are comma-separated")
    return items


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return iso_z(_as_utc(value, "datetime"))
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        as_float = float(value)
        if not math.isfinite(as_float) or Decimal(repr(as_float)) != value:
            raise ValueError(f"Decimal {value} cannot be sent as an exact JSON number; round it first")
        return as_float
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True, exclude_none=True)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _dump_json(body: Any) -> bytes:
    if isinstance(body, BaseModel):
        body = body.model_dump(mode="json", by_alias=True, exclude_none=True)
    return json.dumps(body, default=_json_default, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _encode_query(params: Mapping[str, Any] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in (params or {}).items():
        if value is None:
            continue
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, dt.datetime):
            out[key] = iso_z(_as_utc(value, key))
        elif isinstance(value, (list, tuple, set, frozenset)):
            items = list(value)
            if not items:
                continue
            out[key] = ",".join(str(v) for v in items)  # Swagger 2.0 collectionFormat csv (the default)
        else:
            out[key] = str(value)
    return out


def _charset_of(content_type: str | None) -> str | None:
    for part in (content_type or "").split(";")[1:]:
        name, _, value = part.strip().partition("=")
        if name.strip().lower() == "charset" and value.strip():
            return value.strip().strip('"')
    return None


def _codec_for(charset: str | None) -> str:
    import codecs

    name = (charset or "utf-8").strip()
    name = _CHARSET_ALIASES.get(name.lower(), name)
    try:
        return codecs.lookup(name).name
    except LookupError:
        raise ValueError(f"report document declares charset {charset!r}, which Python does not know") from None


def _retry_after_seconds(value: str | None, now: dt.datetime) -> float | None:
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
        return max(0.0, seconds) if math.isfinite(seconds) else None
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - now).total_seconds())


def _amazon_errors(resp: requests.Response) -> list[dict[str, Any]]:
    try:
        body = resp.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors:
            return [e for e in errors if isinstance(e, dict)]
        if "error" in body:  # LWA style
            return [{"code": str(body.get("error")), "message": str(body.get("error_description", ""))}]
    return [{"code": f"HTTP{resp.status_code}", "message": resp.reason or "no error body"}]


def _looks_like_token_problem(errors: list[dict[str, Any]]) -> bool:
    text = " ".join(f"{e.get('code', '')} {e.get('message', '')} {e.get('details', '')}" for e in errors).lower()
    return "unauthorized" in text and ("token" in text or "expired" in text)


def _check_progress(operation: str, sent: str | None, received: str) -> None:
    """Stop a pagination loop: the server answered a page request with the token it was sent."""
    if sent is not None and sent == received:
        raise SpApiError(
            200, [{"code": "PaginationLoop", "message": "the next page token equals the token just sent"}], operation,
            hint="the server does not advance pagination; stopping instead of looping forever",
        )


MAX_RESTARTS_WITHOUT_PROGRESS = 3
MAX_PAGINATION_RESTARTS = 25


def _is_expired_token(exc: SpApiBadRequest) -> bool:
    """Amazon answers a stale page token with 400 InvalidInput mentioning that it expired."""
    text = " ".join(f"{e.get('code', '')} {e.get('message', '')} {e.get('details', '')}" for e in exc.errors).lower()
    return "expired" in text and "token" in text


def _paged(fetch: Callable[[str | None], tuple[list[dict[str, Any]], str | None]],
           key: Callable[[dict[str, Any]], Any], operation: str, log: Any) -> Iterator[dict[str, Any]]:
    """Walk pages; when a page token expires, restart from the first page and skip items already yielded.

    ``fetch(None)`` requests the first page, ``fetch(token)`` a later one; it returns (items, next token).
    Amazon offers no way to resume from a position, so a restart re-reads the pages already seen; it
    gives up after 3 restarts in a row that yielded nothing new (or 25 in all).
    """
    seen: set[Any] = set()
    restarts = stalled = 0
    token: str | None = None
    new_since_restart = 0
    while True:
        try:
            items, nxt = fetch(token)
        except SpApiBadRequest as exc:
            if token is None or not _is_expired_token(exc):
                raise
            stalled = 0 if new_since_restart else stalled + 1
            restarts += 1
            if stalled > MAX_RESTARTS_WITHOUT_PROGRESS or restarts > MAX_PAGINATION_RESTARTS:
                raise
            log.warning("%s: page token expired; restarting the listing (restart %d, %d items so far)",
                        operation, restarts, len(seen))
            token, new_since_restart = None, 0
            continue
        for item in items:
            k = key(item)
            if k is not None and k in seen:
                continue
            if k is not None:
                seen.add(k)
            new_since_restart += 1
            yield item
        if not nxt:
            return
        _check_progress(operation, token, nxt)
        token = nxt


_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


def _safe(part: str) -> str:
    return _SAFE_NAME.sub("_", part)[:80] or "_"


# ---------------------------------------------------------------------------------------------------
# The hook
# ---------------------------------------------------------------------------------------------------
class SpApiHook(HttpHook):
    """Amazon Selling Partner API hook (LWA auth, token buckets, retries, typed errors, operations).

    :param conn_id: Airflow connection of type ``amazon_sp_api`` (login = LWA client id, password = LWA
        client secret; extra: ``refresh_token``, ``region`` na|eu|fe, ``seller_id``, ``endpoint``,
        ``lwa_token_url``, ``sandbox``, ``rate_limit_time_scale``, ``max_throttle_wait``).
        The connection is read lazily on first use; constructing the hook does no lookup.
    :param connection: an already-fetched connection object (triggers fetch it asynchronously).
    :param max_attempts: attempts in total for 5xx / connection errors / timeouts (>= 1).
    :param max_throttle_wait: seconds of accumulated 429 waiting after which :class:`SpApiThrottled` is
        raised; ``None`` = connection extra or 1800 s.
    :param time_scale: multiplies every usage-plan rate (default: connection extra
        ``rate_limit_time_scale`` or 1.0) — only for time-scaled sandboxes.
    :param request_timeout: (connect, read) seconds per HTTP request.
    :param ptd_cache_dir: on-disk cache for product-type JSON schemas
        (default ``$AIRFLOW_HOME/amznetsuite/ptd-cache``).
    :param rate_limiter: bucket registry (default: the process-wide one).
    :param sleep: injectable sleep; :param clock: injectable monotonic clock (default: the registry's);
        :param now: injectable UTC wall clock; :param rng: jitter source.
    """

    conn_name_attr = "conn_id"
    default_conn_name = "amazon_sp_api_default"
    conn_type = "amazon_sp_api"
    hook_name = "Amazon Selling Partner API"

    def __init__(
        self,
        conn_id: str = default_conn_name,
        *,
        connection: Any | None = None,
        max_attempts: int = 5,
        max_throttle_wait: float | None = None,
        time_scale: float | None = None,
        request_timeout: float | tuple[float, float] = (10.0, 120.0),
        ptd_cache_dir: str | os.PathLike[str] | None = None,
        rate_limiter: RateLimiterRegistry | None = None,
        token_cache: LwaTokenCache | None = None,
        sleep: Callable[[float], object] = time.sleep,
        clock: Callable[[], float] | None = None,
        now: Callable[[], dt.datetime] = _utcnow,
        rng: random.Random | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(method="GET", http_conn_id=conn_id, **kwargs)
        if max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        self.conn_id = conn_id
        self._given_connection = connection
        self.max_attempts = max_attempts
        self._max_throttle_wait = max_throttle_wait
        self._time_scale = time_scale
        self.request_timeout = request_timeout
        self._ptd_cache_dir = Path(ptd_cache_dir) if ptd_cache_dir is not None else None
        self.rate_limiter = rate_limiter if rate_limiter is not None else REGISTRY
        self.token_cache = token_cache if token_cache is not None else TOKEN_CACHE
        self._sleep = sleep
        self._clock = clock or self.rate_limiter.clock
        self._now = now
        self._rng = rng or random.Random()
        self._session: requests.Session | None = None
        self._session_lock = threading.Lock()
        self._seen_tokens: set[str] = set()

    # -- connection ----------------------------------------------------------------------------------
    @cached_property
    def settings(self) -> SpApiConnectionSettings:
        """The validated connection (fetched on first access)."""
        conn = self._given_connection if self._given_connection is not None else self.get_connection(self.conn_id)
        extra = _connection_extra(conn, self.conn_type)
        mask_secrets(conn.password, extra.get("refresh_token"))
        data = {
            "client_id": conn.login or "",
            "client_secret": conn.password or "",
            "host": conn.host,
            **{k: extra.get(k) for k in (
                "refresh_token", "region", "seller_id", "endpoint", "lwa_token_url", "sandbox",
                "rate_limit_time_scale", "max_throttle_wait", "response_deadline", "max_response_bytes",
                "max_document_bytes",
            ) if k in extra},
        }
        try:
            return SpApiConnectionSettings(**data)
        except ValidationError as exc:
            problems = []
            for err in exc.errors():
                field = ".".join(str(p) for p in err["loc"])
                where = {"client_id": "login (LWA client id)", "client_secret": "password (LWA client secret)"}.get(
                    field, f"extra.{field}"
                )
                problems.append(f"{where}: {err['msg']}")
            raise ValueError(f"connection {self.conn_id!r} is not a usable amazon_sp_api connection: " + "; ".join(problems)) from None

    @property
    def seller_id(self) -> str | None:
        """Selling partner id (merchant token) from the connection extra ``seller_id``."""
        return self.settings.seller_id

    @property
    def region(self) -> str:
        return self.settings.region

    @property
    def base_url_for_requests(self) -> str:
        return self.settings.base_url

    @property
    def rate_limit_key(self) -> str:
        """Key under which buckets are shared: application x seller authorisation x endpoint."""
        s = self.settings
        return f"{s.client_id}|{s.seller_id or self.conn_id}|{s.base_url}"

    @property
    def time_scale(self) -> float:
        return self._time_scale if self._time_scale is not None else self.settings.rate_limit_time_scale

    @property
    def max_throttle_wait(self) -> float:
        if self._max_throttle_wait is not None:
            return self._max_throttle_wait
        if self.settings.max_throttle_wait is not None:
            return self.settings.max_throttle_wait
        return 1800.0

    @property
    def ptd_cache_dir(self) -> Path:
        if self._ptd_cache_dir is not None:
            return self._ptd_cache_dir
        home = os.environ.get("AIRFLOW_HOME") or str(Path.home() / "airflow")
        return Path(home) / "amznetsuite" / "ptd-cache"

    def _secrets(self) -> list[str]:
        out = list(self._seen_tokens)
        try:
            s = self.settings
        except Exception:
            return out
        return [s.client_secret, s.refresh_token or "", *out]

    def _scrub(self, text: str) -> str:
        return scrub(text, self._secrets())

    # -- session -------------------------------------------------------------------------------------
    def get_conn(self, headers: dict[Any, Any] | None = None, extra_options: dict[str, Any] | None = None) -> requests.Session:
        """The hook's ``requests.Session``.

        Deliberately not HttpHook's: that one sends login/password as basic auth and copies every
        connection extra (including the refresh token) into request headers.
        """
        with self._session_lock:
            if self._session is None:
                session = requests.Session()
                session.headers["user-agent"] = USER_AGENT.format(version=VERSION)
                if self.keep_alive_adapter is not None:
                    session.mount("https://", self.keep_alive_adapter)
                    session.mount("http://", self.keep_alive_adapter)
                self._session = session
            if headers:
                self._session.headers.update(headers)
            return self._session

    @property
    def session(self) -> requests.Session:
        return self.get_conn()

    def close(self) -> None:
        with self._session_lock:
            if self._session is not None:
                self._session.close()
                self._session = None

    # -- LWA -----------------------------------------------------------------------------------------
    def _token_key(self, grant: str) -> str:
        s = self.settings
        return self.token_cache.key(s.lwa_token_url, s.client_id, grant)

    def _send(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """One HTTP exchange: never follows redirects, bounded in time and size (hooks/transport.py)."""
        s = self.settings
        kwargs.setdefault("max_bytes", s.max_response_bytes)
        return send(self.session, method, url, timeout=self.request_timeout, deadline_s=s.response_deadline, **kwargs)

    def _fetch_lwa_token(self, form: dict[str, str], operation: str) -> tuple[str, float]:
        s = self.settings
        body = {**form, "client_id": s.client_id, "client_secret": s.client_secret}
        attempt = 0
        while True:
            attempt += 1
            try:
                resp = self._send(
                    "POST", s.lwa_token_url,
                    data=body,
                    headers={"Content-Type": "application/x-www-form-urlencoded;charset=UTF-8"},
                )
            except (RedirectRefused, ResponseTooLarge) as exc:
                raise SpApiAuthError(None, [{"code": type(exc).__name__, "message": str(exc)}], operation,
                                     hint="the LWA token endpoint answered in a way that is never trusted") from None
            except (requests.ConnectionError, requests.Timeout) as exc:
                if attempt >= self.max_attempts:
                    raise SpApiAuthError(
                        None, [{"code": type(exc).__name__, "message": self._scrub(str(exc))}], operation,
                        hint="the LWA token endpoint could not be reached",
                    ) from None
                self._sleep(backoff_delay(attempt - 1, rng=self._rng))
                continue
            if resp.status_code == 429 or resp.status_code >= 500:
                if attempt >= self.max_attempts:
                    raise SpApiAuthError(resp.status_code, self._clean_errors(_amazon_errors(resp)), operation)
                self._sleep(backoff_delay(attempt - 1, rng=self._rng))
                continue
            if resp.status_code != 200:
                raise SpApiAuthError(
                    resp.status_code, self._clean_errors(_amazon_errors(resp)), operation,
                    hint="check the connection's LWA client id/secret and refresh token (rotate the secret every 180 days)",
                )
            try:
                payload = resp.json()
                token = str(payload["access_token"])
                expires_in = float(payload.get("expires_in", 3600))
            except (ValueError, KeyError, TypeError):
                raise SpApiAuthError(resp.status_code, [{"code": "InvalidTokenResponse", "message": "LWA answered 200 without access_token"}], operation) from None
            self._seen_tokens.add(token)
            mask_secrets(token)
            self.log.debug("LWA %s token obtained (expires in %.0f s)", form.get("grant_type"), expires_in)
            return token, self._clock() + expires_in

    def _cached_token(self, grant_key: str, form: dict[str, str], operation: str) -> str:
        key = self._token_key(grant_key)
        token = self.token_cache.get(key, self._clock())
        if token:
            self._seen_tokens.add(token)
            return token
        with self.token_cache.lock_for(key):
            token = self.token_cache.get(key, self._clock())
            if token:
                self._seen_tokens.add(token)
                return token
            token, expires_at = self._fetch_lwa_token(form, operation)
            self.token_cache.put(key, token, expires_at)
            return token

    def access_token(self) -> str:
        """LWA access token for the seller authorisation (``refresh_token`` grant), cached until 60 s before expiry."""
        s = self.settings
        if not s.refresh_token:
            raise SpApiAuthError(
                None, [{"code": "MissingRefreshToken", "message": "the connection has no extra.refresh_token"}],
                "lwaToken", hint=f"set extra.refresh_token (Atzr|…) on connection {self.conn_id!r}",
            )
        return self._cached_token(
            "refresh_token:" + s.refresh_token,
            {"grant_type": "refresh_token", "refresh_token": s.refresh_token},
            "lwaToken",
        )

    def grantless_token(self, scope: str) -> str:
        """LWA access token for grantless operations (``client_credentials`` + ``scope``)."""
        if not scope or not scope.startswith("sellingpartnerapi::"):
            raise ValueError(f"scope {scope!r} is not an SP-API scope (e.g. 'sellingpartnerapi::notifications')")
        return self._cached_token("scope:" + scope, {"grant_type": "client_credentials", "scope": scope}, "lwaGrantlessToken")

    def _invalidate_token(self, token: str) -> None:
        s = self.settings
        self.token_cache.invalidate(self._token_key("refresh_token:" + (s.refresh_token or "")), token)

    def test_connection(self) -> tuple[bool, str]:
        """Used by the Airflow UI's "Test" button: obtains an LWA token, nothing else."""
        try:
            self.access_token()
        except Exception as exc:  # noqa: BLE001 - reported to the UI, never raised
            return False, self._scrub(str(exc))
        return True, f"LWA token obtained; SP-API endpoint {self.settings.base_url}"

    # -- rate limiting -------------------------------------------------------------------------------
    def bucket(self, operation: str, usage_plan: UsagePlan | tuple[float, int] | None = None) -> TokenBucket:
        plan = UsagePlan(*usage_plan) if isinstance(usage_plan, tuple) else usage_plan
        return self.rate_limiter.bucket(self.rate_limit_key, operation, plan, time_scale=self.time_scale)

    def rate_limit_wait(self, operation: str) -> float:
        """Seconds until ``operation`` may be called without waiting (does not take a token)."""
        return self.bucket(operation).wait_time()

    # -- generic request -----------------------------------------------------------------------------
    def _clean_errors(self, errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: self._scrub(str(v)) if isinstance(v, str) else v for k, v in e.items()} for e in errors]

    def _raise_for(self, resp: requests.Response, operation: str, hint: str | None = None) -> None:
        cls = error_class_for_status(resp.status_code)
        raise cls(
            resp.status_code, self._clean_errors(_amazon_errors(resp)), operation,
            request_id=resp.headers.get("x-amzn-RequestId"), hint=hint,
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        usage_plan: UsagePlan | tuple[float, int] | None = None,
    ) -> requests.Response:
        """Send one rate-limited, retried SP-API request and return the successful response.

        ``params`` values may be lists (sent comma-separated), bools and aware datetimes. ``json`` is
        serialised with Decimal/datetime support. ``usage_plan`` is needed only for operations not in
        :data:`~airflow_provider_amznetsuite.hooks.ratelimit.USAGE_PLANS`.
        Raises a :class:`~airflow_provider_amznetsuite.hooks.spapi_errors.SpApiError` subclass.
        """
        method = method.upper()
        if not path.startswith("/"):
            raise ValueError(f"path must start with '/', got {path!r}")
        bucket = self.bucket(operation, usage_plan)
        url = self.settings.base_url + path
        query = _encode_query(params)
        body: bytes | str | None = data
        send_headers = {"accept": "application/json"}
        if json is not None:
            body = _dump_json(json)
            send_headers["content-type"] = "application/json"
        send_headers.update(headers or {})

        failures = 0
        refreshed = False
        throttled_since: float | None = None
        while True:
            wait = bucket.reserve()
            if wait > 0:
                self.log.debug("SP-API %s: rate limiter wait %.2f s", operation, wait)
                self._sleep(wait)
            token = self.access_token()
            started = self._clock()
            try:
                resp = self._send(
                    method, url, params=query, data=body,
                    headers={**send_headers, "x-amz-access-token": token},
                )
            except (RedirectRefused, ResponseTooLarge) as exc:
                raise SpApiServerError(None, [{"code": type(exc).__name__, "message": str(exc)}], operation) from None
            except (requests.ConnectionError, requests.Timeout) as exc:
                failures += 1
                read_timeout_on_post = method == "POST" and isinstance(exc, requests.ReadTimeout)
                if read_timeout_on_post or failures >= self.max_attempts:
                    raise SpApiServerError(
                        None, [{"code": type(exc).__name__, "message": self._scrub(str(exc))}], operation,
                        hint=("read timeout on a POST is not retried (it may have been processed)" if read_timeout_on_post
                              else f"gave up after {failures} attempt(s)"),
                    ) from None
                delay = backoff_delay(failures - 1, rng=self._rng)
                self.log.warning("SP-API %s: %s; retry %d/%d in %.1f s", operation, type(exc).__name__,
                                 failures, self.max_attempts - 1, delay)
                self._sleep(delay)
                continue

            status = resp.status_code
            self.log.debug("SP-API %s %s -> %s in %.3f s (request id %s)", method, operation, status,
                           self._clock() - started, resp.headers.get("x-amzn-RequestId"))
            announced = parse_rate_limit_header(resp.headers.get("x-amzn-RateLimit-Limit"))
            if announced is not None and bucket.update_rate(announced):
                self.log.info("SP-API %s: usage plan rate adapted to %s req/s from x-amzn-RateLimit-Limit", operation, announced)

            if status < 400:
                bucket.recover()
                return resp
            if status == 429:
                bucket.penalize()
                now = self._clock()
                if throttled_since is None:
                    throttled_since = now
                retry_after = _retry_after_seconds(resp.headers.get("Retry-After"), self._now())
                if retry_after is not None:
                    delay = retry_after + self._rng.uniform(0, 0.1 * bucket.refill_time())
                else:
                    delay = self._rng.uniform(0, 0.25 * bucket.refill_time())  # the bucket adds one refill on reserve
                projected = (now - throttled_since) + delay + (0 if retry_after is not None else bucket.refill_time())
                if projected > self.max_throttle_wait:
                    raise SpApiThrottled(
                        status, self._clean_errors(_amazon_errors(resp)), operation,
                        request_id=resp.headers.get("x-amzn-RequestId"),
                        hint=f"still throttled after {now - throttled_since:.0f} s (max_throttle_wait={self.max_throttle_wait:.0f} s); "
                             "lower the parallelism of this seller's pool",
                    )
                self.log.info("SP-API %s throttled (429 QuotaExceeded); waiting %.2f s before retrying", operation, delay)
                if delay > 0:
                    self._sleep(delay)
                continue
            if status == 401 or (status == 403 and _looks_like_token_problem(_amazon_errors(resp))):
                if not refreshed:
                    refreshed = True
                    self._invalidate_token(token)
                    bucket.refund()
                    self.log.info("SP-API %s answered %s; refreshing the LWA access token once", operation, status)
                    continue
                raise SpApiAuthError(
                    status, self._clean_errors(_amazon_errors(resp)), operation,
                    request_id=resp.headers.get("x-amzn-RequestId"),
                    hint="still unauthorised after refreshing the LWA token; check the seller authorisation and app roles",
                )
            if status >= 500:
                failures += 1
                if failures >= self.max_attempts:
                    self._raise_for(resp, operation, hint=f"gave up after {failures} attempt(s)")
                delay = backoff_delay(failures - 1, rng=self._rng)
                self.log.warning("SP-API %s answered %s; retry %d/%d in %.1f s", operation, status, failures,
                                 self.max_attempts - 1, delay)
                self._sleep(delay)
                continue
            self._raise_for(resp, operation)

    def _call(self, operation: str, *, path_values: Mapping[str, str] | None = None, params: Mapping[str, Any] | None = None,
              json: Any = None, data: bytes | None = None, headers: Mapping[str, str] | None = None) -> requests.Response:
        op = OPERATIONS[operation]
        return self.request(op.method, _path(operation, **(path_values or {})), operation=operation,
                            params=params, json=json, data=data, headers=headers)

    @staticmethod
    def _json(resp: requests.Response, operation: str) -> dict[str, Any]:
        try:
            body = resp.json()
        except ValueError:
            raise SpApiError(resp.status_code, [{"code": "InvalidResponse", "message": "response body is not JSON"}],
                             operation, request_id=resp.headers.get("x-amzn-RequestId")) from None
        if not isinstance(body, dict):
            raise SpApiError(resp.status_code, [{"code": "InvalidResponse", "message": "response body is not a JSON object"}],
                             operation, request_id=resp.headers.get("x-amzn-RequestId"))
        return body

    # -- presigned documents (no SP-API auth, not rate limited) --------------------------------------
    def _document_call(self, method: str, url: str, operation: str, *, data: bytes | None = None,
                       headers: Mapping[str, str] | None = None) -> requests.Response:
        failures = 0
        while True:
            try:
                resp = self._send(method, url, data=data, headers=dict(headers or {}),
                                  max_bytes=self.settings.max_document_bytes)
            except (RedirectRefused, ResponseTooLarge) as exc:
                raise SpApiServerError(None, [{"code": type(exc).__name__, "message": str(exc)}], operation) from None
            except (requests.ConnectionError, requests.Timeout) as exc:
                failures += 1
                if failures >= self.max_attempts:
                    raise SpApiServerError(None, [{"code": type(exc).__name__, "message": "document transfer failed"}],
                                           operation, hint=f"gave up after {failures} attempt(s)") from None
                self._sleep(backoff_delay(failures - 1, rng=self._rng))
                continue
            if resp.status_code >= 500 and failures + 1 < self.max_attempts:
                failures += 1
                self._sleep(backoff_delay(failures - 1, rng=self._rng))
                continue
            if resp.status_code >= 400:
                # Never echo the presigned URL or the storage error body (it repeats the signed request).
                raise error_class_for_status(resp.status_code)(
                    resp.status_code, [{"code": f"HTTP{resp.status_code}", "message": resp.reason or "document transfer failed"}],
                    operation, hint="presigned document URLs expire after 5 minutes; request a new document",
                )
            return resp

    def _download_document(self, document: Mapping[str, Any], operation: str) -> tuple[bytes, str]:
        resp = self._document_call("GET", str(document["url"]), operation)
        raw = resp.content  # requests already undoes Content-Encoding: gzip
        if str(document.get("compressionAlgorithm", "")).upper() == "GZIP" and raw[:2] == b"\x1f\x8b":
            try:
                raw = gunzip_bounded(raw, self.settings.max_document_bytes)
            except (ResponseTooLarge, ValueError, zlib.error) as exc:
                raise SpApiServerError(None, [{"code": type(exc).__name__, "message": str(exc)}], operation,
                                       hint="the report document could not be decompressed within the size cap "
                                            "(connection extra max_document_bytes)") from None
        return raw, resp.headers.get("Content-Type", "")

    # -- Orders --------------------------------------------------------------------------------------
    def search_orders(
        self,
        marketplace_ids: str | Sequence[str] | None,
        *,
        last_updated_after: dt.datetime | str | None = None,
        last_updated_before: dt.datetime | str | None = None,
        created_after: dt.datetime | str | None = None,
        created_before: dt.datetime | str | None = None,
        fulfillment_statuses: Sequence[str] | None = None,
        included_data: Sequence[str] | None = None,
        max_results_per_page: int = 100,
        fulfilled_by: Sequence[str] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Orders v2026-01-01 ``searchOrders``; yields orders across pages (``paginationToken``).

        Exactly one of ``created_after`` / ``last_updated_after``; a ``…_before`` only with its
        matching ``…_after``. A before value later than now - 2 min is clamped to now - 2 min (Amazon's
        rule); when the window is empty after clamping nothing is requested.
        """
        if (created_after is None) == (last_updated_after is None):
            raise ValueError("search_orders: pass exactly one of created_after or last_updated_after")
        if created_before is not None and created_after is None:
            raise ValueError("search_orders: created_before needs created_after (Created* and LastUpdated* cannot be combined)")
        if last_updated_before is not None and last_updated_after is None:
            raise ValueError("search_orders: last_updated_before needs last_updated_after (Created* and LastUpdated* cannot be combined)")
        if not 1 <= int(max_results_per_page) <= 100:
            raise ValueError(f"search_orders: max_results_per_page must be 1..100, got {max_results_per_page}")
        mps = _as_list(marketplace_ids, "marketplace_ids")
        if mps is not None and len(mps) > 50:
            raise ValueError(f"search_orders: at most 50 marketplace_ids, got {len(mps)}")

        prefix = "created" if created_after is not None else "lastUpdated"
        after = _as_utc(created_after if created_after is not None else last_updated_after, f"{prefix}After")  # type: ignore[arg-type]
        before_raw = created_before if created_after is not None else last_updated_before
        before = _as_utc(before_raw, f"{prefix}Before") if before_raw is not None else None
        latest = (self._now() - ORDERS_BEFORE_MARGIN).replace(microsecond=0)
        if before is not None and before > latest:
            self.log.debug("search_orders: %sBefore clamped to now - 2 min", prefix)
            before = latest
        if after >= (before or latest):
            self.log.info("search_orders: empty window (%sAfter %s is not before %s); nothing to fetch",
                          prefix, iso_z(after), iso_z(before or latest))
            return

        params: dict[str, Any] = {
            f"{prefix}After": after,
            f"{prefix}Before": before,
            "marketplaceIds": mps,
            "fulfillmentStatuses": _as_list(fulfillment_statuses, "fulfillment_statuses"),
            "fulfilledBy": _as_list(fulfilled_by, "fulfilled_by"),
            "includedData": _as_list(included_data, "included_data"),
            "maxResultsPerPage": int(max_results_per_page),
        }
        def fetch(token: str | None) -> tuple[list[dict[str, Any]], str | None]:
            page = {**params, "paginationToken": token} if token else params
            body = self._json(self._call("searchOrders", params=page), "searchOrders")
            return body.get("orders") or [], (body.get("pagination") or {}).get("nextToken")

        yield from _paged(fetch, lambda o: o.get("orderId"), "searchOrders", self.log)

    def get_order(self, order_id: str, included_data: Sequence[str] | None = None) -> dict[str, Any]:
        """Orders v2026-01-01 ``getOrder``; returns the ``order`` object (items always embedded)."""
        body = self._json(
            self._call("getOrder", path_values={"orderId": order_id},
                       params={"includedData": _as_list(included_data, "included_data")}),
            "getOrder",
        )
        return body["order"]

    def confirm_shipment(self, order_id: str, marketplace_id: str, package_detail: Mapping[str, Any] | BaseModel,
                         *, cod_collection_method: str | None = None) -> None:
        """Orders v0 ``confirmShipment`` (the one v0 operation still to use); success is HTTP 204."""
        body: dict[str, Any] = {"marketplaceId": marketplace_id, "packageDetail": package_detail}
        if cod_collection_method is not None:
            body["codCollectionMethod"] = cod_collection_method
        self._call("confirmShipment", path_values={"orderId": order_id}, json=body)

    # -- Feeds ---------------------------------------------------------------------------------------
    def submit_feed(
        self,
        feed_type: str,
        content: bytes | str | Mapping[str, Any],
        marketplace_ids: str | Sequence[str],
        content_type: str = "application/json; charset=UTF-8",
        feed_options: Mapping[str, str] | None = None,
    ) -> str:
        """createFeedDocument -> PUT the bytes to the presigned URL (no SP-API auth) -> createFeed; returns the feed id."""
        mps = _as_list(marketplace_ids, "marketplace_ids") or []
        if not 1 <= len(mps) <= 25:
            raise ValueError(f"submit_feed: 1..25 marketplace_ids required, got {len(mps)}")
        if isinstance(content, Mapping):
            payload = _dump_json(content)
        elif isinstance(content, str):
            payload = content.encode(_codec_for(_charset_of(content_type) or "utf-8"))
        elif isinstance(content, (bytes, bytearray)):
            payload = bytes(content)
        else:
            raise TypeError(f"submit_feed: content must be bytes, str or dict, got {type(content).__name__}")
        if len(payload) > FEED_SIZE_BEST_PRACTICE:
            self.log.warning("submit_feed: %s document is %d bytes, above Amazon's 10 MiB best practice", feed_type, len(payload))

        document = self._json(self._call("createFeedDocument", json={"contentType": content_type}), "createFeedDocument")
        self._document_call("PUT", str(document["url"]), "uploadFeedDocument", data=payload,
                            headers={"Content-Type": content_type})
        spec: dict[str, Any] = {"feedType": feed_type, "marketplaceIds": mps, "inputFeedDocumentId": document["feedDocumentId"]}
        if feed_options:
            spec["feedOptions"] = {str(k): str(v) for k, v in feed_options.items()}
        feed_id = str(self._json(self._call("createFeed", json=spec), "createFeed")["feedId"])
        self.log.info("submit_feed: %s feed %s created (%d bytes, marketplaces %s)", feed_type, feed_id, len(payload), ",".join(mps))
        return feed_id

    def list_feeds(self, feed_types: Sequence[str], *, marketplace_ids: Sequence[str] | None = None,
                   created_since: dt.datetime | str | None = None,
                   processing_statuses: Sequence[str] | None = None, page_size: int = 100) -> Iterator[dict[str, Any]]:
        """Feeds ``getFeeds``: feeds of the given types (1..10), newest first; later pages send ``nextToken`` alone."""
        types = _as_list(feed_types, "feed_types") or []
        if not 1 <= len(types) <= 10:
            raise ValueError(f"list_feeds: 1..10 feed_types required, got {len(types)}")
        params: dict[str, Any] = {
            "feedTypes": types,
            "marketplaceIds": _as_list(marketplace_ids, "marketplace_ids"),
            "processingStatuses": _as_list(processing_statuses, "processing_statuses"),
            "pageSize": int(page_size),
            "createdSince": _as_utc(created_since, "created_since") if created_since is not None else None,
        }

        def fetch(token: str | None) -> tuple[list[dict[str, Any]], str | None]:
            body = self._json(self._call("getFeeds", params={"nextToken": token} if token else params), "getFeeds")
            return body.get("feeds") or [], body.get("nextToken")

        yield from _paged(fetch, lambda f: f.get("feedId"), "getFeeds", self.log)

    def get_feed(self, feed_id: str) -> dict[str, Any]:
        """Feeds ``getFeed``: ``{feedId, feedType, processingStatus, resultFeedDocumentId?, …}``."""
        return self._json(self._call("getFeed", path_values={"feedId": feed_id}), "getFeed")

    def get_feed_document(self, feed_document_id: str) -> dict[str, Any]:
        """Feeds ``getFeedDocument``: ``{feedDocumentId, url, compressionAlgorithm?}``."""
        return self._json(self._call("getFeedDocument", path_values={"feedDocumentId": feed_document_id}), "getFeedDocument")

    def get_feed_result(self, feed_id: str) -> bytes | dict[str, Any]:
        """Download the feed's processing report: gunzipped; parsed when it is JSON, else raw bytes."""
        feed = self.get_feed(feed_id)
        document_id = feed.get("resultFeedDocumentId")
        if not document_id:
            raise ValueError(
                f"feed {feed_id} has no result document yet (processingStatus={feed.get('processingStatus')}); "
                "wait for DONE, FATAL or CANCELLED (SpApiFeedTrigger)"
            )
        raw, content_type = self._download_document(self.get_feed_document(str(document_id)), "downloadFeedDocument")
        stripped = raw.lstrip()
        if "json" in content_type.lower() or stripped[:1] in (b"{", b"["):
            try:
                parsed = json.loads(raw.decode(_codec_for(_charset_of(content_type))))
            except (ValueError, UnicodeDecodeError):
                return raw
            if isinstance(parsed, dict):
                return parsed
            return {"items": parsed}
        return raw

    # -- Reports -------------------------------------------------------------------------------------
    def list_reports(
        self,
        report_types: str | Sequence[str],
        created_since: dt.datetime | str | None = None,
        processing_statuses: Sequence[str] | None = None,
        page_size: int = 100,
        *,
        marketplace_ids: str | Sequence[str] | None = None,
        created_until: dt.datetime | str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Reports ``getReports``; yields reports across pages. Later pages send ``nextToken`` alone.

        ``created_since`` older than 89 days is clamped (Amazon keeps reports 90 days).
        """
        types = _as_list(report_types, "report_types") or []
        if not 1 <= len(types) <= 10:
            raise ValueError(f"list_reports: 1..10 report_types required, got {len(types)}")
        if not 1 <= int(page_size) <= 100:
            raise ValueError(f"list_reports: page_size must be 1..100, got {page_size}")
        mps = _as_list(marketplace_ids, "marketplace_ids")
        if mps is not None and not 1 <= len(mps) <= 10:
            raise ValueError(f"list_reports: 1..10 marketplace_ids, got {len(mps)}")
        since = _as_utc(created_since, "created_since") if created_since is not None else None
        oldest = self._now() - REPORTS_RETENTION
        if since is not None and since < oldest:
            self.log.info("list_reports: created_since %s is older than the 90-day retention; using %s", iso_z(since), iso_z(oldest))
            since = oldest
        params: dict[str, Any] = {
            "reportTypes": types,
            "processingStatuses": _as_list(processing_statuses, "processing_statuses"),
            "marketplaceIds": mps,
            "pageSize": int(page_size),
            "createdSince": since,
            "createdUntil": _as_utc(created_until, "created_until") if created_until is not None else None,
        }
        def fetch(token: str | None) -> tuple[list[dict[str, Any]], str | None]:
            # a later page sends nextToken alone, otherwise Amazon answers 400 InvalidInput
            body = self._json(self._call("getReports", params={"nextToken": token} if token else params), "getReports")
            return body.get("reports") or [], body.get("nextToken")

        yield from _paged(fetch, lambda r: r.get("reportId"), "getReports", self.log)

    def create_report(
        self,
        report_type: str,
        marketplace_ids: str | Sequence[str],
        data_start_time: dt.datetime | str | None = None,
        data_end_time: dt.datetime | str | None = None,
        report_options: Mapping[str, str] | None = None,
    ) -> str:
        """Reports ``createReport``; returns the report id."""
        mps = _as_list(marketplace_ids, "marketplace_ids") or []
        if not 1 <= len(mps) <= 25:
            raise ValueError(f"create_report: 1..25 marketplace_ids required, got {len(mps)}")
        spec: dict[str, Any] = {"reportType": report_type, "marketplaceIds": mps}
        if data_start_time is not None:
            spec["dataStartTime"] = iso_z(_as_utc(data_start_time, "data_start_time"))
        if data_end_time is not None:
            spec["dataEndTime"] = iso_z(_as_utc(data_end_time, "data_end_time"))
        if report_options:
            spec["reportOptions"] = {str(k): str(v) for k, v in report_options.items()}
        return str(self._json(self._call("createReport", json=spec), "createReport")["reportId"])

    def get_report(self, report_id: str) -> dict[str, Any]:
        """Reports ``getReport``: ``{reportId, reportType, processingStatus, reportDocumentId?, …}``."""
        return self._json(self._call("getReport", path_values={"reportId": report_id}), "getReport")

    def get_report_document(self, report_document_id: str) -> dict[str, Any]:
        """Reports ``getReportDocument``: ``{reportDocumentId, url, compressionAlgorithm?}``."""
        return self._json(
            self._call("getReportDocument", path_values={"reportDocumentId": report_document_id}), "getReportDocument"
        )

    def _download_report(self, report_document_id: str) -> tuple[bytes, str]:
        return self._download_document(self.get_report_document(report_document_id), "downloadReportDocument")

    def download_report(self, report_document_id: str) -> bytes:
        """Download a report document (gunzipped); raw bytes — see :meth:`download_report_text` to decode."""
        return self._download_report(report_document_id)[0]

    def download_report_text(self, report_document_id: str) -> str:
        """Download and decode a report with the charset of its Content-Type (default UTF-8)."""
        raw, content_type = self._download_report(report_document_id)
        codec = _codec_for(_charset_of(content_type))
        text = raw.decode(codec)
        return text[1:] if text.startswith("\ufeff") else text

    # -- FBA inventory -------------------------------------------------------------------------------
    def get_inventory_summaries(self, marketplace_id: str, seller_skus: Sequence[str] | None = None) -> Iterator[dict[str, Any]]:
        """FBA Inventory ``getInventorySummaries`` (granularity Marketplace, details=true).

        ``seller_skus`` go in chunks of 50. ``nextToken`` expires after 30 s, so each chunk's pages are
        fetched back to back (only the rate limiter may pause between them) before anything is yielded.
        """
        skus = _as_list(seller_skus, "seller_skus")
        if skus == []:
            return
        chunks: list[list[str] | None] = [skus[i:i + 50] for i in range(0, len(skus), 50)] if skus else [None]
        for chunk in chunks:
            params: dict[str, Any] = {
                "details": True,
                "granularityType": "Marketplace",
                "granularityId": marketplace_id,
                "marketplaceIds": [marketplace_id],
                "sellerSkus": chunk,
            }
            def fetch(token: str | None, params: dict[str, Any] = params) -> tuple[list[dict[str, Any]], str | None]:
                page = {**params, "nextToken": token} if token else params
                body = self._json(self._call("getInventorySummaries", params=page), "getInventorySummaries")
                return (((body.get("payload") or {}).get("inventorySummaries")) or [],
                        (body.get("pagination") or {}).get("nextToken"))

            # all pages of a chunk are fetched back to back before anything is yielded (30 s token life)
            yield from list(_paged(fetch, lambda s: s.get("sellerSku"), "getInventorySummaries", self.log))

    # -- Listings Items ------------------------------------------------------------------------------
    def _listing_args(self, seller_id: str | None, marketplace_ids: str | Sequence[str], operation: str,
                      single: bool) -> tuple[str, list[str]]:
        seller = seller_id or self.seller_id
        if not seller:
            raise ValueError(f"{operation}: seller_id is required (argument or connection extra.seller_id)")
        mps = _as_list(marketplace_ids, "marketplace_ids") or []
        if not mps or (single and len(mps) != 1):
            raise ValueError(f"{operation}: {'exactly one' if single else 'at least one'} marketplace id required, got {len(mps)}")
        return seller, mps

    @staticmethod
    def _mode(mode: str | None) -> str | None:
        if mode not in (None, "VALIDATION_PREVIEW"):
            raise ValueError(f"mode must be None or 'VALIDATION_PREVIEW', got {mode!r}")
        return mode

    def get_listings_item(self, seller_id: str | None, sku: str, marketplace_ids: str | Sequence[str],
                          included_data: Sequence[str] | None = None, *, issue_locale: str | None = None) -> dict[str, Any]:
        """Listings Items ``getListingsItem``."""
        seller, mps = self._listing_args(seller_id, marketplace_ids, "get_listings_item", single=False)
        resp = self._call("getListingsItem", path_values={"sellerId": seller, "sku": sku},
                          params={"marketplaceIds": mps, "includedData": _as_list(included_data, "included_data"),
                                  "issueLocale": issue_locale})
        return self._json(resp, "getListingsItem")

    def put_listings_item(self, seller_id: str | None, sku: str, marketplace_ids: str | Sequence[str],
                          body: Mapping[str, Any] | BaseModel, mode: str | None = None, *,
                          included_data: Sequence[str] | None = None, issue_locale: str | None = None) -> dict[str, Any]:
        """Listings Items ``putListingsItem`` (full replace); ``mode="VALIDATION_PREVIEW"`` validates only."""
        seller, mps = self._listing_args(seller_id, marketplace_ids, "put_listings_item", single=True)
        resp = self._call("putListingsItem", path_values={"sellerId": seller, "sku": sku},
                          params={"marketplaceIds": mps, "includedData": _as_list(included_data, "included_data"),
                                  "mode": self._mode(mode), "issueLocale": issue_locale},
                          json=body)
        return self._json(resp, "putListingsItem")

    def patch_listings_item(self, seller_id: str | None, sku: str, marketplace_ids: str | Sequence[str],
                            body: Mapping[str, Any] | BaseModel, mode: str | None = None, *,
                            included_data: Sequence[str] | None = None, issue_locale: str | None = None) -> dict[str, Any]:
        """Listings Items ``patchListingsItem``; ``mode="VALIDATION_PREVIEW"`` validates only."""
        seller, mps = self._listing_args(seller_id, marketplace_ids, "patch_listings_item", single=False)
        resp = self._call("patchListingsItem", path_values={"sellerId": seller, "sku": sku},
                          params={"marketplaceIds": mps, "includedData": _as_list(included_data, "included_data"),
                                  "mode": self._mode(mode), "issueLocale": issue_locale},
                          json=body)
        return self._json(resp, "patchListingsItem")

    def delete_listings_item(self, seller_id: str | None, sku: str, marketplace_ids: str | Sequence[str], *,
                             issue_locale: str | None = None) -> dict[str, Any]:
        """Listings Items ``deleteListingsItem``."""
        seller, mps = self._listing_args(seller_id, marketplace_ids, "delete_listings_item", single=True)
        resp = self._call("deleteListingsItem", path_values={"sellerId": seller, "sku": sku},
                          params={"marketplaceIds": mps, "issueLocale": issue_locale})
        return self._json(resp, "deleteListingsItem")

    # -- Product type definitions --------------------------------------------------------------------
    def get_product_type_definition(
        self,
        product_type: str,
        marketplace_id: str,
        requirements: str = "LISTING",
        requirements_enforced: str = "ENFORCED",
        locale: str | None = None,
        *,
        product_type_version: str = "LATEST",
    ) -> dict[str, Any]:
        """``getDefinitionsProductType`` plus its JSON schema: ``{"definition": …, "schema": …}``.

        The schema (linked from the definition) is cached by product type, marketplace, version,
        requirements, enforcement, locale and checksum — in memory and on disk under
        :attr:`ptd_cache_dir` — so it is downloaded once per version.
        """
        if requirements not in ("LISTING", "LISTING_PRODUCT_ONLY", "LISTING_OFFER_ONLY"):
            raise ValueError(f"requirements must be LISTING, LISTING_PRODUCT_ONLY or LISTING_OFFER_ONLY, got {requirements!r}")
        if requirements_enforced not in ("ENFORCED", "NOT_ENFORCED"):
            raise ValueError(f"requirements_enforced must be ENFORCED or NOT_ENFORCED, got {requirements_enforced!r}")
        seller = self.seller_id
        definition = self._json(
            self._call(
                "getDefinitionsProductType", path_values={"productType": product_type},
                params={"marketplaceIds": [marketplace_id], "sellerId": seller, "productTypeVersion": product_type_version,
                        "requirements": requirements, "requirementsEnforced": requirements_enforced, "locale": locale},
            ),
            "getDefinitionsProductType",
        )
        link = (definition.get("schema") or {}).get("link") or {}
        resource = link.get("resource")
        if not resource:
            raise SpApiError(200, [{"code": "InvalidResponse", "message": "product type definition has no schema link"}],
                             "getDefinitionsProductType")
        version = str((definition.get("productTypeVersion") or {}).get("version") or product_type_version)
        checksum = str((definition.get("schema") or {}).get("checksum") or "")
        key = (product_type, marketplace_id, version, requirements, requirements_enforced, locale or "DEFAULT",
               seller or "-", checksum)
        schema = self._ptd_cached(key)
        if schema is None:
            resp = self._document_call("GET", str(resource), "downloadProductTypeSchema")
            try:
                schema = resp.json()
            except ValueError:
                raise SpApiError(resp.status_code, [{"code": "InvalidSchema", "message": "product type schema is not JSON"}],
                                 "downloadProductTypeSchema") from None
            self._ptd_store(key, schema)
        return {"definition": definition, "schema": schema}

    def _ptd_file(self, key: tuple[str, ...]) -> Path:
        digest = hashlib.sha256("\x00".join(key).encode()).hexdigest()[:16]
        name = "_".join(_safe(p) for p in key[:6]) + f"_{digest}.json"
        return self.ptd_cache_dir / name

    def _ptd_cached(self, key: tuple[str, ...]) -> dict[str, Any] | None:
        with _PTD_LOCK:
            found = _PTD_MEMORY.get(key)
        if found is not None:
            return found
        path = self._ptd_file(key)
        try:
            schema = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        with _PTD_LOCK:
            _PTD_MEMORY[key] = schema
        return schema

    def _ptd_store(self, key: tuple[str, ...], schema: dict[str, Any]) -> None:
        with _PTD_LOCK:
            _PTD_MEMORY[key] = schema
        path = self._ptd_file(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
            tmp.write_text(json.dumps(schema, ensure_ascii=False), encoding="utf-8")
            os.replace(tmp, path)
        except OSError as exc:
            self.log.warning("product type schema cache not writable at %s (%s); using the in-memory cache only",
                             self.ptd_cache_dir, exc.strerror)

    # -- Finances ------------------------------------------------------------------------------------
    def list_transactions(
        self,
        posted_after: dt.datetime | str,
        posted_before: dt.datetime | str | None = None,
        marketplace_id: str | None = None,
        transaction_status: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Finances 2024-06-19 ``listTransactions``; yields transactions.

        ``posted_before`` is clamped to now - 2 min; without it the last window is left open (Amazon
        then uses now - 2 min by its own clock). Windows longer than 180 days are split and transactions
        are de-duplicated by ``transactionId`` across the splits.
        """
        start = _as_utc(posted_after, "posted_after")
        latest = (self._now() - ORDERS_BEFORE_MARGIN).replace(microsecond=0)
        end = min(_as_utc(posted_before, "posted_before"), latest) if posted_before is not None else latest
        if start >= end:
            self.log.info("list_transactions: empty window (%s .. %s); nothing to fetch", iso_z(start), iso_z(end))
            return
        seen: set[str] = set()
        window_start = start
        while window_start < end:
            window_end = min(end, window_start + FINANCES_MAX_WINDOW)
            last = window_end >= end
            params: dict[str, Any] = {"postedAfter": window_start,
                                      "postedBefore": None if (last and posted_before is None) else window_end,
                                      "marketplaceId": marketplace_id, "transactionStatus": transaction_status}
            while True:
                body = self._json(self._call("listTransactions", params=params), "listTransactions")
                payload = body.get("payload") or {}
                for txn in payload.get("transactions") or []:
                    txn_id = txn.get("transactionId")
                    if txn_id:
                        if txn_id in seen:
                            continue
                        seen.add(txn_id)
                    yield txn
                token = payload.get("nextToken")
                if not token:
                    break
                _check_progress("listTransactions", params.get("nextToken"), token)
                params = {**params, "nextToken": token}
            window_start = window_end
