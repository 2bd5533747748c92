"""NetSuite SuiteTalk REST hook: records, SuiteQL, async batch upserts, auth and governance.

``NetSuiteHook`` is built on the HTTP provider's :class:`~airflow.providers.http.hooks.http.HttpHook`
and one ``requests.Session`` whose connection pool is sized to the account's concurrency limit.

* **Auth** — OAuth 2.0 client credentials (JWT assertion, PS256/ES256; default) or TBA (OAuth 1.0a
  HMAC-SHA256), see :mod:`.netsuite_auth`. Every attempt is signed anew (fresh nonce/timestamp).
* **Governance** — one client-side semaphore per NetSuite account, shared by every thread and hook
  of the process (size = connection extra ``concurrency``, default 5). 429 and
  ``CONCURRENCY_LIMIT_EXCEEDED`` (also when NetSuite sends it as a 400) back off with jitter and
  retry; 5xx is retried a bounded number of times; connection errors and timeouts are retried only
  for idempotent requests. A plain create POST is *not* retried after a timeout or an ambiguous 5xx:
  NetSuite may already have created the record and a blind retry would duplicate it — sync jobs use
  :meth:`NetSuiteHook.upsert_record` (``PUT …/eid:<externalId>``) or :meth:`NetSuiteHook.batch_upsert`
  (idempotency key) instead.
* **Errors** — RFC 7807 bodies become typed exceptions (:mod:`.netsuite_errors`); secrets never
  reach logs or exception text.
* **SuiteQL** — REST SuiteQL has no bind variables, so ``:name`` parameters are rendered here as
  validated, escaped literals (:func:`render_suiteql`); never concatenate untrusted strings into a
  query yourself.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any, Literal, TypedDict
from urllib.parse import urlencode, urlsplit

import requests
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from requests_toolbelt.adapters.socket_options import TCPKeepAliveAdapter
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from airflow.providers.http.hooks.http import HttpHook
from airflow_provider_amznetsuite.hooks._common import USER_AGENT, backoff_delay, mask_secrets, scrub
from airflow_provider_amznetsuite.hooks.netsuite_auth import (
    DEFAULT_SCOPE,
    BearerAuth,
    OAuth2ClientCredentials,
    TbaAuth,
    account_realm,
    rest_base_url,
    token_url,
)
from airflow_provider_amznetsuite.hooks.transport import (
    DEFAULT_DEADLINE_S,
    DEFAULT_MAX_RESPONSE_BYTES,
    RedirectRefused,
    ResponseTooLarge,
    send,
)
from airflow_provider_amznetsuite.hooks.netsuite_errors import (
    CONCURRENCY_CODES,
    NetSuiteAuthError,
    NetSuiteConcurrencyError,
    NetSuiteConfigError,
    NetSuiteError,
    NetSuiteIdempotencyError,
    NetSuiteJobError,
    NetSuiteServerError,
    NetSuiteSuiteQLCapError,
    NetSuiteTransportError,
    NetSuiteValidationError,
    SuiteQLParameterError,
    error_code,
    error_from_response,
    parse_error_details,
)

log = logging.getLogger(__name__)

__all__ = [
    "BatchItemResult",
    "NetSuiteConnectionSettings",
    "NetSuiteHook",
    "account_semaphore",
    "dumps_json",
    "render_suiteql",
    "suiteql_literal",
]

RECORD_PREFIX = "/services/rest/record/v1"
SUITEQL_PATH = "/services/rest/query/v1/suiteql"
COLLECTION_CONTENT_TYPE = "application/vnd.oracle.resource+json; type=collection"
JSON_CONTENT_TYPE = "application/json"
SUITEQL_ROW_CAP = 100_000
SUITEQL_MAX_PAGE = 1000
BATCH_MAX = 100
LOOKUP_BATCH_MAX = 1000
DEFAULT_CONCURRENCY = 5
DEFAULT_TIMEOUT = (10.0, 300.0)  # connect, read (NetSuite ends a request after 15 minutes)
#: Namespace of the deterministic batch idempotency keys (uuid5).
IDEMPOTENCY_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:airflow-provider-amznetsuite:netsuite-batch")

_EXTERNAL_ID_RE = re.compile(r"^[A-Za-z0-9_-]+\Z")
_RECORD_TYPE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*\Z")
_INTERNAL_ID_RE = re.compile(r"^[0-9]+\Z")
_SQL_IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?\Z")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_NO_BODY: Any = object()


# --- governance: one semaphore per account, shared by the whole process ----------------------------
_SEMAPHORES: dict[str, tuple[int, threading.BoundedSemaphore]] = {}
_SEMAPHORE_LOCK = threading.Lock()


def account_semaphore(account_key: str, size: int) -> threading.BoundedSemaphore:
    """The process-wide semaphore for one NetSuite account (the first registration fixes its size)."""
    with _SEMAPHORE_LOCK:
        entry = _SEMAPHORES.get(account_key)
        if entry is None:
            entry = (size, threading.BoundedSemaphore(size))
            _SEMAPHORES[account_key] = entry
        elif entry[0] != size:
            log.warning(
                "NetSuite account %s already has a client-side concurrency limit of %d in this process; "
                "ignoring the other connection's value %d", account_key, entry[0], size,
            )
        return entry[1]


# --- connection settings ------------------------------------------------------------------------
class NetSuiteConnectionSettings(BaseModel):
    """The NetSuite connection extras (names match ``get_provider_info`` conn-fields)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    account_id: str | None = None
    auth_type: Literal["oauth2", "tba"] = "oauth2"
    client_id: str | None = None
    certificate_id: str | None = None
    private_key: SecretStr | None = None
    consumer_key: str | None = None
    consumer_secret: SecretStr | None = None
    token_id: str | None = None
    token_secret: SecretStr | None = None
    base_url: str | None = None
    concurrency: int = Field(DEFAULT_CONCURRENCY, ge=1, le=100)
    #: optional extras not shown in the form
    jwt_alg: str | None = None
    scope: tuple[str, ...] = DEFAULT_SCOPE
    timeout: float | None = Field(None, gt=0)
    #: whole-response deadline and body cap (see hooks/transport.py)
    response_deadline: float | None = Field(None, gt=0)
    max_response_bytes: int | None = Field(None, gt=0)

    @field_validator("*", mode="before")
    @classmethod
    def _blank_is_none(cls, v: Any) -> Any:
        if isinstance(v, str):
            v = v.strip()
            return v or None
        return v

    @field_validator("auth_type", mode="before")
    @classmethod
    def _auth_type(cls, v: Any) -> Any:
        return "oauth2" if v is None else str(v).lower()

    @field_validator("concurrency", mode="before")
    @classmethod
    def _concurrency(cls, v: Any) -> Any:
        return DEFAULT_CONCURRENCY if v is None else v

    @field_validator("scope", mode="before")
    @classmethod
    def _scope(cls, v: Any) -> Any:
        if v is None:
            return DEFAULT_SCOPE
        if isinstance(v, str):
            return tuple(p.strip() for p in v.split(",") if p.strip())
        return v

    @model_validator(mode="after")
    def _complete(self) -> NetSuiteConnectionSettings:
        if self.account_id:
            account_realm(self.account_id)  # validates the spelling
        if self.auth_type == "oauth2":
            need = {"client_id": self.client_id, "certificate_id": self.certificate_id, "private_key": self.private_key}
        else:
            need = {"account_id": self.account_id, "consumer_key": self.consumer_key,
                    "consumer_secret": self.consumer_secret, "token_id": self.token_id, "token_secret": self.token_secret}
        missing = [k for k, v in need.items() if not v]
        if not self.account_id and not self.base_url and "account_id" not in missing:
            missing.insert(0, "account_id")
        if missing:
            raise ValueError(
                f"auth_type {self.auth_type} needs the extras {', '.join(missing)}; set them on the connection"
            )
        rest_base_url(self.account_id, self.base_url)  # validates base_url
        return self

    @classmethod
    def from_extras(cls, extras: Mapping[str, Any]) -> NetSuiteConnectionSettings:
        """Parse a connection's extras (plain keys or legacy ``extra__netsuite__<key>``)."""
        merged: dict[str, Any] = {}
        for key, value in extras.items():
            name = key[len("extra__netsuite__"):] if key.startswith("extra__netsuite__") else key
            if name not in merged or merged[name] in (None, ""):
                merged[name] = value
        try:
            return cls.model_validate(merged)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'connection'}: {e['msg']}"
                for e in exc.errors(include_input=False, include_url=False)
            )
            raise NetSuiteConfigError(f"NetSuite connection is not usable: {problems}") from None

    @property
    def base(self) -> str:
        return rest_base_url(self.account_id, self.base_url)

    @property
    def account_key(self) -> str:
        return account_realm(self.account_id) if self.account_id else self.base

    def secret_values(self) -> list[str]:
        out: list[str] = []
        for s in (self.private_key, self.consumer_secret, self.token_secret):
            if s is not None:
                value = s.get_secret_value()
                out.append(value)
                if "-----BEGIN" in value:  # each base64 line of a PEM on its own, too
                    out.extend(line.strip() for line in value.replace("\\n", "\n").splitlines()
                               if line.strip() and not line.startswith("-----") and len(line.strip()) >= 8)
        return out


# --- JSON with exact Decimals ---------------------------------------------------------------------
def dumps_json(obj: Any) -> str:
    """JSON text where :class:`~decimal.Decimal` values become exact JSON numbers (no float rounding).

    Dates render ``YYYY-MM-DD``; datetimes must be timezone-aware and render in UTC as
    ``YYYY-MM-DDTHH:MM:SSZ`` (NetSuite's datetime format).
    """
    parts: list[str] = []
    _encode(obj, parts)
    return "".join(parts)


def _encode(o: Any, out: list[str]) -> None:
    if o is None or isinstance(o, bool | int | str):
        out.append(json.dumps(o, ensure_ascii=False))
    elif isinstance(o, Decimal):
        if not o.is_finite():
            raise ValueError(f"cannot send the non-finite amount {o!r} to NetSuite")
        text = format(o, "f")
        out.append(text if text not in ("-0",) else "0")
    elif isinstance(o, float):
        out.append(json.dumps(o, allow_nan=False))
    elif isinstance(o, datetime):
        if o.tzinfo is None or o.utcoffset() is None:
            raise ValueError(f"naive datetime {o.isoformat()} in a NetSuite body: use a timezone-aware UTC datetime")
        out.append(json.dumps(o.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")))
    elif isinstance(o, date):
        out.append(json.dumps(o.isoformat()))
    elif isinstance(o, Mapping):
        out.append("{")
        for i, (k, v) in enumerate(o.items()):
            if not isinstance(k, str):
                raise TypeError(f"NetSuite JSON object keys must be strings, got {type(k).__name__}")
            if i:
                out.append(",")
            out.append(json.dumps(k, ensure_ascii=False))
            out.append(":")
            _encode(v, out)
        out.append("}")
    elif isinstance(o, list | tuple):
        out.append("[")
        for i, v in enumerate(o):
            if i:
                out.append(",")
            _encode(v, out)
        out.append("]")
    elif isinstance(o, BaseModel):
        _encode(o.model_dump(mode="python", by_alias=True, exclude_none=True), out)
    else:
        raise TypeError(f"cannot serialise {type(o).__name__} into a NetSuite JSON body")


# --- SuiteQL literal rendering ----------------------------------------------------------------
def suiteql_literal(value: Any) -> str:
    """Render one parameter value as a SuiteQL literal.

    * ``str`` → ``'...'`` with ``'`` doubled; control characters (NUL, newline, …) are refused.
    * ``int`` → digits; ``Decimal`` → plain decimal digits (finite only); ``float`` is refused.
    * ``bool`` → ``'T'`` / ``'F'`` (NetSuite's checkbox values); ``None`` → ``NULL``.
    * ``date`` → ``TO_DATE('YYYY-MM-DD', 'YYYY-MM-DD')``; ``datetime`` is refused (account time zone
      semantics) — pass a formatted string and use ``TO_TIMESTAMP`` in the query.
    * list / tuple / set → comma-separated literals for ``IN (...)`` (non-empty, no nesting).
    """
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "'T'" if value else "'F'"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise SuiteQLParameterError(f"non-finite number {value!r} cannot be a SuiteQL parameter")
        return format(value, "f")
    if isinstance(value, float):
        raise SuiteQLParameterError("float parameters are refused (binary rounding): pass int, Decimal or str")
    if isinstance(value, str):
        if _CONTROL_RE.search(value):
            raise SuiteQLParameterError(
                "string parameter contains a control character (NUL, newline, tab, …); such values are refused"
            )
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, datetime):
        raise SuiteQLParameterError(
            "datetime parameters are refused (NetSuite compares timestamps in the account time zone): pass "
            "'YYYY-MM-DD HH24:MI:SS' as a string and write TO_TIMESTAMP(:p, 'YYYY-MM-DD HH24:MI:SS')"
        )
    if isinstance(value, date):
        return f"TO_DATE('{value.isoformat()}', 'YYYY-MM-DD')"
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else list(value)
        if not items:
            raise SuiteQLParameterError("an empty list cannot be rendered for IN (...); skip the query instead")
        if any(isinstance(v, list | tuple | set | frozenset | dict) for v in items):
            raise SuiteQLParameterError("nested lists are not valid SuiteQL parameters")
        return ", ".join(suiteql_literal(v) for v in items)
    raise SuiteQLParameterError(f"unsupported SuiteQL parameter type {type(value).__name__}")


def _scan(query: str) -> Iterator[tuple[str, int, int, int]]:
    """Tokens of interest outside literals/comments: ("param", start, end, depth) and ("word", …)."""
    i, n, depth = 0, len(query), 0
    while i < n:
        c = query[i]
        if c == "'":
            j = i + 1
            while j < n:
                if query[j] == "'":
                    if j + 1 < n and query[j + 1] == "'":
                        j += 2
                        continue
                    break
                j += 1
            if j >= n:
                raise SuiteQLParameterError("unterminated string literal in the SuiteQL query")
            i = j + 1
        elif c == '"':
            j = query.find('"', i + 1)
            if j < 0:
                raise SuiteQLParameterError("unterminated quoted identifier in the SuiteQL query")
            i = j + 1
        elif query.startswith("--", i):
            j = query.find("\n", i)
            i = n if j < 0 else j + 1
        elif query.startswith("/*", i):
            j = query.find("*/", i + 2)
            if j < 0:
                raise SuiteQLParameterError("unterminated /* comment */ in the SuiteQL query")
            i = j + 2
        elif c == "(":
            depth += 1
            i += 1
        elif c == ")":
            depth -= 1
            i += 1
        elif c == ":" and i + 1 < n and (query[i + 1].isalpha() or query[i + 1] == "_") and (
            i == 0 or not (query[i - 1].isalnum() or query[i - 1] in "_:")
        ):
            j = i + 1
            while j < n and (query[j].isalnum() or query[j] == "_"):
                j += 1
            yield ("param", i, j, depth)
            i = j
        elif c.isalpha() or c == "_":
            j = i + 1
            while j < n and (query[j].isalnum() or query[j] in "_$#"):
                j += 1
            yield ("word", i, j, depth)
            i = j
        else:
            i += 1


def render_suiteql(query: str, params: Mapping[str, Any] | None = None) -> str:
    """Replace ``:name`` placeholders (outside string literals and comments) with safe literals.

    Every placeholder must have a value and every value must be used (typos fail loudly).
    """
    params = dict(params or {})
    spots = [(s, e) for kind, s, e, _d in _scan(query) if kind == "param"]
    names = {query[s + 1:e] for s, e in spots}
    missing = sorted(names - params.keys())
    if missing:
        raise SuiteQLParameterError(f"SuiteQL placeholders without a value: {', '.join(':' + m for m in missing)}")
    unused = sorted(params.keys() - names)
    if unused:
        raise SuiteQLParameterError(f"SuiteQL parameters not used by the query: {', '.join(unused)}")
    out, last = [], 0
    for s, e in spots:
        out.append(query[last:s])
        out.append(suiteql_literal(params[query[s + 1:e]]))
        last = e
    out.append(query[last:])
    return "".join(out)


def _top_level_words(query: str) -> list[str]:
    return [query[s:e].upper() for kind, s, e, d in _scan(query) if kind == "word" and d == 0]


class BatchItemResult(TypedDict):
    """Outcome of one item of :meth:`NetSuiteHook.batch_upsert` (in the order of the input items)."""

    externalId: str
    id: str | None
    ok: bool
    error: dict[str, Any] | None
    job_id: str | None
    task_id: str | None


def _id_from_href(href: str | None) -> str | None:
    if not href:
        return None
    path = urlsplit(href).path.rstrip("/")
    tail = path.rsplit("/", 1)[-1] if path else ""
    return tail or None


def _self_href(obj: Any) -> str | None:
    if isinstance(obj, Mapping):
        for link in obj.get("links") or []:
            if isinstance(link, Mapping) and link.get("rel") == "self" and link.get("href"):
                return str(link["href"])
    return None


def _check_external_id(external_id: str) -> str:
    if not isinstance(external_id, str) or not _EXTERNAL_ID_RE.match(external_id):
        raise ValueError(
            f"external id {external_id!r} is not usable in a NetSuite URL: only letters, digits, '_' and '-' "
            "are allowed (e.g. AMZ-113-0000001-0000001)"
        )
    return external_id


def _replace_params(replace: Sequence[str] | str | None) -> dict[str, str] | None:
    """``?replace=a,b`` for sublists that the body carries completely (replaced, not appended)."""
    if not replace:
        return None
    names = [replace] if isinstance(replace, str) else list(replace)
    for n in names:
        if not _RECORD_TYPE_RE.match(n):
            raise ValueError(f"sublist name {n!r} in replace= is not valid (e.g. 'item')")
    return {"replace": ",".join(names)}


def _check_record_type(record_type: str) -> str:
    if not isinstance(record_type, str) or not _RECORD_TYPE_RE.match(record_type):
        raise ValueError(f"record type {record_type!r} is not valid: use the camelCase REST name, e.g. salesOrder")
    return record_type


def _id_segment(record_id: str | int) -> str:
    rid = str(record_id).strip()
    if rid.startswith("eid:"):
        return "eid:" + _check_external_id(rid[4:])
    if not _INTERNAL_ID_RE.match(rid):
        raise ValueError(f"record id {record_id!r} is not an internal id (digits) or 'eid:<externalId>'")
    return rid


def _idempotency_key(record_type: str, items: Sequence[Mapping[str, Any]]) -> str:
    """uuid5 over the record type, the external ids and the chunk's content (stable across retries)."""
    digest = hashlib.sha256(dumps_json(list(items)).encode()).hexdigest()
    name = "\n".join([record_type, *[str(i["externalId"]) for i in items], digest])
    return str(uuid.uuid5(IDEMPOTENCY_NAMESPACE, name))


# --- the hook ---------------------------------------------------------------------------------
class NetSuiteHook(HttpHook):
    """Oracle NetSuite SuiteTalk REST (records, SuiteQL, async batch) for one NetSuite connection.

    :param netsuite_conn_id: Airflow connection of type ``netsuite`` (extras: account_id, auth_type,
        client_id, certificate_id, private_key | consumer_key, consumer_secret, token_id,
        token_secret; base_url, concurrency). Nothing is looked up until the first request.
    """

    conn_name_attr = "netsuite_conn_id"
    default_conn_name = "netsuite_default"
    conn_type = "netsuite"
    hook_name = "Oracle NetSuite (SuiteTalk REST)"

    #: retry policy (instance attributes may be changed, e.g. in tests)
    max_concurrency_retries = 12
    max_server_tries = 5
    max_connection_tries = 5
    backoff_base = 0.5
    backoff_cap = 30.0

    def __init__(self, netsuite_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(method="GET", http_conn_id=netsuite_conn_id, **kwargs)
        self.netsuite_conn_id = netsuite_conn_id
        self._init_lock = threading.RLock()
        self._settings_obj: NetSuiteConnectionSettings | None = None
        self._session: requests.Session | None = None
        self._oauth2: OAuth2ClientCredentials | None = None
        self._tba: TbaAuth | None = None
        self._sleep: Callable[[float], None] = time.sleep
        self._monotonic: Callable[[], float] = time.monotonic

    # -- lazy configuration ---------------------------------------------------------------------
    @property
    def settings(self) -> NetSuiteConnectionSettings:
        if self._settings_obj is None:
            with self._init_lock:
                if self._settings_obj is None:
                    conn = self.get_connection(self.netsuite_conn_id)
                    extras = dict(conn.extra_dejson or {})
                    host = (conn.host or "").strip()
                    if not extras.get("base_url") and host.startswith(("http://", "https://")):
                        extras["base_url"] = host  # a connection whose host is the REST base URL
                    settings = NetSuiteConnectionSettings.from_extras(extras)
                    mask_secrets(*settings.secret_values())
                    self.base_url = settings.base
                    self._base_url_initialized = True
                    self._settings_obj = settings
        return self._settings_obj

    def _auth_objects(self) -> tuple[OAuth2ClientCredentials | None, TbaAuth | None]:
        s = self.settings
        if self._oauth2 is None and self._tba is None:
            with self._init_lock:
                if self._oauth2 is None and self._tba is None:
                    if s.auth_type == "oauth2":
                        assert s.private_key is not None
                        try:
                            self._oauth2 = OAuth2ClientCredentials(
                                token_endpoint=token_url(s.base), client_id=s.client_id or "",
                                certificate_id=s.certificate_id or "", private_key=s.private_key.get_secret_value(),
                                scope=s.scope, jwt_alg=s.jwt_alg,
                            )
                        except ValueError as exc:
                            raise NetSuiteConfigError(scrub(str(exc), s.secret_values())) from None
                    else:
                        assert s.consumer_secret is not None and s.token_secret is not None
                        self._tba = TbaAuth(
                            account_id=s.account_id or "", consumer_key=s.consumer_key or "",
                            consumer_secret=s.consumer_secret.get_secret_value(), token_id=s.token_id or "",
                            token_secret=s.token_secret.get_secret_value(),
                        )
        return self._oauth2, self._tba

    def get_conn(self, headers: dict[Any, Any] | None = None, extra_options: dict[str, Any] | None = None) -> requests.Session:
        """The hook's ``requests.Session`` (pool sized to the concurrency limit; auth is per request)."""
        if self._session is None:
            with self._init_lock:
                if self._session is None:
                    size = self.settings.concurrency
                    session = requests.Session()
                    adapter = TCPKeepAliveAdapter(idle=120, count=20, interval=30, pool_connections=2,
                                                  pool_maxsize=size, max_retries=0)
                    session.mount("https://", adapter)
                    session.mount("http://", adapter)
                    session.headers["User-Agent"] = USER_AGENT.format(version=_version())
                    self._session = session
        if headers:
            self._session.headers.update(headers)
        return self._session

    @property
    def _semaphore(self) -> threading.BoundedSemaphore:
        s = self.settings
        return account_semaphore(s.account_key, s.concurrency)

    @contextmanager
    def _slot(self) -> Iterator[None]:
        sem = self._semaphore
        sem.acquire()
        try:
            yield
        finally:
            sem.release()

    def _secrets(self) -> list[str]:
        out = self.settings.secret_values()
        if self._oauth2 is not None:
            out.extend(self._oauth2.secrets())
        return out

    @property
    def _timeout(self) -> tuple[float, float]:
        t = self.settings.timeout
        return (DEFAULT_TIMEOUT[0], float(t)) if t else DEFAULT_TIMEOUT

    def _url(self, path_or_href: str) -> str:
        """Absolute URL on the configured host (NetSuite hrefs are re-based onto ``base_url``)."""
        base = self.settings.base
        if path_or_href.startswith(("http://", "https://")):
            parts = urlsplit(path_or_href)
            path = parts.path + (f"?{parts.query}" if parts.query else "")
        else:
            path = path_or_href if path_or_href.startswith("/") else "/" + path_or_href
        return base + path

    # -- the request loop ---------------------------------------------------------------------
    def _retry_delay(self, attempt: int, response: requests.Response | None = None) -> float:
        if response is not None:
            ra = response.headers.get("Retry-After")
            if ra:
                try:
                    return min(self.backoff_cap, max(0.0, float(ra)))
                except ValueError:
                    pass
        return backoff_delay(attempt, base=self.backoff_base, cap=self.backoff_cap)

    def _fetch_token(self, url: str, form: Mapping[str, str]) -> Mapping[str, Any]:
        resp = self._request("POST", url, form=form, idempotent=True, auth=False)
        try:
            payload = _loads(resp.content)
        except ValueError:
            raise NetSuiteAuthError(resp.status_code, None, None, "token endpoint answered with non-JSON text",
                                    method="POST", url_path=urlsplit(url).path) from None
        return payload if isinstance(payload, Mapping) else {}

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = _NO_BODY,
        form: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        content_type: str = JSON_CONTENT_TYPE,
        idempotent: bool,
        auth: bool = True,
        return_error_responses: bool = False,
    ) -> requests.Response:
        """Send one logical request with NetSuite's retry policy; raise typed errors on failure.

        Each attempt is built and signed anew inside the account's concurrency slot (fresh TBA nonce
        and timestamp; current OAuth 2.0 token). ``return_error_responses`` returns non-retryable
        4xx/5xx responses instead of raising (async task results).
        """
        session = self.get_conn()
        url = self._url(path)
        url_path = urlsplit(url).path
        body: bytes | None = None
        send_headers: dict[str, str] = dict(headers or {})
        if json_body is not _NO_BODY:
            body = dumps_json(json_body).encode("utf-8")
            send_headers["Content-Type"] = content_type
        elif form is not None:
            body = urlencode(dict(form)).encode("ascii")
            send_headers["Content-Type"] = "application/x-www-form-urlencoded"
        oauth2, tba = self._auth_objects() if auth else (None, None)
        concurrency_retries = server_tries = connection_tries = 0
        auth_retried = False
        while True:
            request_auth: requests.auth.AuthBase | None = tba
            bearer: str | None = None
            if oauth2 is not None:
                bearer = oauth2.access_token(self._fetch_token)  # outside the slot: it takes one itself
                request_auth = BearerAuth(bearer)
            try:
                with self._slot():
                    resp = send(session, method, url, params=params, data=body, headers=send_headers,
                                auth=request_auth, timeout=self._timeout, deadline_s=self.settings.response_deadline or DEFAULT_DEADLINE_S,
                                max_bytes=self.settings.max_response_bytes or DEFAULT_MAX_RESPONSE_BYTES)
            except (RedirectRefused, ResponseTooLarge) as exc:
                raise NetSuiteTransportError(None, "REDIRECT_REFUSED" if isinstance(exc, RedirectRefused)
                                             else "RESPONSE_TOO_LARGE", None, str(exc),
                                             method=method, url_path=url_path) from None
            except requests.RequestException as exc:
                never_sent = _never_sent(exc)
                connection_tries += 1
                if (idempotent or never_sent) and connection_tries < self.max_connection_tries:
                    delay = self._retry_delay(connection_tries - 1)
                    log.warning("NetSuite %s %s failed (%s); retry %d/%d in %.1fs", method, url_path,
                                type(exc).__name__, connection_tries, self.max_connection_tries - 1, delay)
                    self._sleep(delay)
                    continue
                why = "" if (idempotent or never_sent) else (
                    " — not retried: this request is not idempotent and NetSuite may already have applied it; "
                    "look the record up by external id, or use upsert_record / batch_upsert for sync jobs")
                raise NetSuiteTransportError(
                    None, "TIMEOUT" if isinstance(exc, requests.Timeout) else "CONNECTION_ERROR", None,
                    f"{type(exc).__name__}: {scrub(str(exc), self._secrets())}{why}",
                    method=method, url_path=url_path,
                ) from None
            status = resp.status_code
            if 200 <= status < 300:
                return resp
            code = error_code(resp.content)
            if status == 429 or code in CONCURRENCY_CODES:
                if concurrency_retries < self.max_concurrency_retries:
                    delay = self._retry_delay(concurrency_retries, resp)
                    concurrency_retries += 1
                    log.warning("NetSuite %s %s answered %d %s; retry %d/%d in %.1fs", method, url_path, status,
                                code or "", concurrency_retries, self.max_concurrency_retries, delay)
                    self._sleep(delay)
                    continue
                raise self._error(resp, method, url_path, cls=NetSuiteConcurrencyError)
            if status == 401 and auth and not auth_retried:
                auth_retried = True
                if oauth2 is not None:
                    oauth2.invalidate(bearer)
                log.warning("NetSuite %s %s answered 401 %s; re-authenticating once", method, url_path, code or "")
                continue
            if status >= 500:
                server_tries += 1
                if (idempotent or status == 503) and server_tries < self.max_server_tries:
                    delay = self._retry_delay(server_tries - 1, resp)
                    log.warning("NetSuite %s %s answered %d %s; retry %d/%d in %.1fs", method, url_path, status,
                                code or "", server_tries, self.max_server_tries - 1, delay)
                    self._sleep(delay)
                    continue
                err = self._error(resp, method, url_path)
                if not idempotent and status != 503:
                    raise NetSuiteServerError(
                        err.status, err.code, err.path,
                        err.detail + " — not retried: the outcome is unknown for a non-idempotent request; look the "
                        "record up by external id, or use upsert_record / batch_upsert for sync jobs",
                        err.title, method=method, url_path=url_path, details=err.details,
                    ) from None
                raise err
            if return_error_responses and status not in (401, 403):
                return resp
            if not auth and status in (400, 401, 403):
                raise self._error(resp, method, url_path, cls=NetSuiteAuthError)
            raise self._error(resp, method, url_path)

    def _error(self, resp: requests.Response, method: str, url_path: str,
               cls: type[NetSuiteError] | None = None) -> NetSuiteError:
        return error_from_response(resp.status_code, resp.content, method=method, url_path=url_path,
                                   location=resp.headers.get("Location"), secrets=self._secrets(), cls=cls)

    @staticmethod
    def _json(resp: requests.Response) -> Any:
        """Parsed JSON body; numbers with a fraction become ``Decimal`` (never float)."""
        if not resp.content:
            return None
        try:
            return _loads(resp.content)
        except ValueError:
            raise NetSuiteError(resp.status_code, "INVALID_RESPONSE", None, "NetSuite answered with non-JSON text",
                                method=resp.request.method if resp.request else None,
                                url_path=urlsplit(resp.url).path) from None

    @staticmethod
    def _location_id(resp: requests.Response) -> str | None:
        rid = _id_from_href(resp.headers.get("Location"))
        if rid is None and resp.content:
            body = _try_json(resp)
            if isinstance(body, Mapping) and body.get("id") is not None:
                rid = str(body["id"])
        return rid

    # -- HttpHook compatibility ------------------------------------------------------------------
    def run(self, endpoint: str | None = None, data: dict[str, Any] | str | None = None,
            headers: dict[str, Any] | None = None, extra_options: dict[str, Any] | None = None,
            **request_kwargs: Any) -> requests.Response:
        """Low-level escape hatch: ``self.method`` on ``endpoint`` (a /services/rest/... path) with
        NetSuite auth, governance and typed errors. GET sends ``data`` as query parameters; other
        methods send ``json=`` (or a dict ``data``) as a JSON body."""
        method = self.method.upper()
        params = request_kwargs.pop("params", None)
        json_body = request_kwargs.pop("json", _NO_BODY)
        if method in ("GET", "HEAD"):
            params = params or (data if isinstance(data, Mapping) else None)
        elif json_body is _NO_BODY and data is not None:
            json_body = data
        return self._request(method, endpoint or "/", params=params, json_body=json_body, headers=headers,
                             idempotent=method in ("GET", "HEAD", "PUT"))

    def test_connection(self) -> tuple[bool, str]:
        """Authenticate and run a one-row SuiteQL query."""
        try:
            self._request("POST", SUITEQL_PATH, params={"limit": 1, "offset": 0},
                          json_body={"q": "SELECT id FROM account"}, headers={"Prefer": "transient"},
                          idempotent=True)
        except Exception as exc:  # the connection-test UI shows the message
            return False, scrub(str(exc), self._secrets() if self._settings_obj is not None else [])
        return True, "Authenticated to NetSuite and ran a SuiteQL query"

    # -- records --------------------------------------------------------------------------------
    def get_record(self, record_type: str, id: str | int, expand_sub_resources: bool = False) -> dict[str, Any]:  # noqa: A002
        """``GET /record/v1/{type}/{id}`` (``id`` = internal id or ``eid:<externalId>``)."""
        path = f"{RECORD_PREFIX}/{_check_record_type(record_type)}/{_id_segment(id)}"
        params = {"expandSubResources": "true"} if expand_sub_resources else None
        body = self._json(self._request("GET", path, params=params, idempotent=True))
        if not isinstance(body, dict):
            raise NetSuiteError(200, "INVALID_RESPONSE", None, "record response is not a JSON object",
                                method="GET", url_path=path)
        return body

    def create_record(self, record_type: str, body: Mapping[str, Any]) -> str:
        """``POST /record/v1/{type}`` → new internal id (204 + Location; 201 accepted).

        Not retried after a timeout or an ambiguous 5xx (it could create a duplicate); sync jobs
        should prefer :meth:`upsert_record`.
        """
        path = f"{RECORD_PREFIX}/{_check_record_type(record_type)}"
        resp = self._request("POST", path, json_body=body, idempotent=False)
        rid = self._location_id(resp)
        if not rid:
            raise NetSuiteError(resp.status_code, "INVALID_RESPONSE", None,
                                "create answered without a Location header naming the new record",
                                method="POST", url_path=path)
        return rid

    def update_record(self, record_type: str, id: str | int, body: Mapping[str, Any],  # noqa: A002
                      replace: Sequence[str] | None = None) -> None:
        """``PATCH /record/v1/{type}/{id}``; ``replace=["item"]`` replaces those sublists entirely."""
        path = f"{RECORD_PREFIX}/{_check_record_type(record_type)}/{_id_segment(id)}"
        self._request("PATCH", path, params=_replace_params(replace), json_body=body, idempotent=False)

    def upsert_record(self, record_type: str, external_id: str, body: Mapping[str, Any],
                      replace: Sequence[str] | str | None = None) -> str:
        """``PUT /record/v1/{type}/eid:{externalId}`` (create or update) → internal id.

        Idempotent, so it is retried after timeouts. The id comes from ``Location``; if NetSuite sends
        none, the record is read back by external id. ``replace=["item"]`` makes an update replace those
        sublists instead of appending to them — pass it whenever the body carries the complete sublist,
        or a re-upsert (retry, rerun, backfill) would add the lines a second time.
        """
        rt = _check_record_type(record_type)
        eid = _check_external_id(external_id)
        if isinstance(body, Mapping) and body.get("externalId") not in (None, eid):
            raise ValueError(f"body externalId {body.get('externalId')!r} differs from the upsert key {eid!r}")
        path = f"{RECORD_PREFIX}/{rt}/eid:{eid}"
        resp = self._request("PUT", path, params=_replace_params(replace), json_body=body, idempotent=True)
        rid = self._location_id(resp)
        if rid and rid != f"eid:{eid}":
            return rid
        record = self.get_record(rt, f"eid:{eid}")
        if record.get("id") is None:
            raise NetSuiteError(None, "INVALID_RESPONSE", None, "upserted record read back without an id",
                                method="GET", url_path=path)
        return str(record["id"])

    def transform_record(self, from_type: str, id: str | int, to_type: str,  # noqa: A002
                         body: Mapping[str, Any] | None = None) -> str:
        """``POST /record/v1/{from}/{id}/!transform/{to}`` (e.g. salesOrder → itemFulfillment | invoice |
        cashSale) → id of the new record. Not retried after a timeout (not idempotent)."""
        path = (f"{RECORD_PREFIX}/{_check_record_type(from_type)}/{_id_segment(id)}"
                f"/!transform/{_check_record_type(to_type)}")
        resp = self._request("POST", path, json_body=dict(body or {}), idempotent=False)
        rid = self._location_id(resp)
        if not rid:
            raise NetSuiteError(resp.status_code, "INVALID_RESPONSE", None,
                                "transform answered without a Location header naming the new record",
                                method="POST", url_path=path)
        return rid

    # -- batch (async) --------------------------------------------------------------------------
    def batch_upsert(
        self,
        record_type: str,
        items: Sequence[Mapping[str, Any]],
        *,
        idempotency_key: str | None = None,
        poll_interval: float = 1.0,
        timeout: float = 600,
    ) -> list[BatchItemResult]:
        """Upsert many records of one type by external id: async batch requests of ≤ 100 items.

        Each chunk is ``PUT /record/v1/{type}`` with ``Prefer: respond-async``, the collection content
        type and ``X-NetSuite-Idempotency-Key``. Without ``idempotency_key`` the key is a uuid5 of the
        record type, the chunk's external ids and its content, so re-sending the same chunk (a retry)
        cannot apply it twice: NetSuite answers IDEMPOTENCY_ERROR and the hook follows its Location
        to the original job. With ``idempotency_key`` (any string) chunk *n* uses ``uuid5(key, n)``.
        All chunks are submitted, then each job is polled until completed (``timeout`` seconds in
        total) and its task results are read. Returns one :class:`BatchItemResult` per item, in order.
        """
        rt = _check_record_type(record_type)
        items = list(items)
        if not items:
            return []
        seen: set[str] = set()
        for n, item in enumerate(items):
            eid = item.get("externalId") if isinstance(item, Mapping) else None
            if not isinstance(eid, str):
                raise ValueError(f"batch_upsert item #{n} has no externalId string (upsert matches on externalId)")
            _check_external_id(eid)
            if eid in seen:
                raise ValueError(f"batch_upsert item #{n}: externalId {eid!r} appears twice; send it once")
            seen.add(eid)
        deadline = self._monotonic() + timeout
        chunks = [list(items[i:i + BATCH_MAX]) for i in range(0, len(items), BATCH_MAX)]
        jobs: list[tuple[str, list[Mapping[str, Any]]]] = []
        for n, chunk in enumerate(chunks):
            if idempotency_key:
                root = (uuid.UUID(idempotency_key) if _is_uuid(idempotency_key)
                        else uuid.uuid5(IDEMPOTENCY_NAMESPACE, idempotency_key))
                key = str(uuid.uuid5(root, str(n)))
            else:
                key = _idempotency_key(rt, chunk)
            jobs.append((self._submit_batch(rt, chunk, key), chunk))
        results: list[BatchItemResult] = []
        for job_path, chunk in jobs:
            results.extend(self._collect_job(job_path, chunk, deadline, poll_interval))
        return results

    def _submit_batch(self, record_type: str, chunk: list[Mapping[str, Any]], key: str) -> str:
        path = f"{RECORD_PREFIX}/{record_type}"
        headers = {"Prefer": "respond-async", "X-NetSuite-Idempotency-Key": key}
        try:
            resp = self._request("PUT", path, json_body={"items": chunk}, headers=headers,
                                 content_type=COLLECTION_CONTENT_TYPE, idempotent=True)
        except NetSuiteIdempotencyError as exc:
            if not exc.location:
                raise
            log.info("NetSuite batch %s (%d items) was submitted before; following its original job",
                     record_type, len(chunk))
            return exc.location
        location = resp.headers.get("Location")
        if not location:
            raise NetSuiteJobError(resp.status_code, "NO_JOB", None,
                                   "batch request answered without a Location header naming the async job",
                                   method="PUT", url_path=path)
        return location

    def _collect_job(self, job_href: str, chunk: list[Mapping[str, Any]], deadline: float,
                     poll_interval: float) -> list[BatchItemResult]:
        job_path = urlsplit(job_href).path.rstrip("/")
        job_id = _id_from_href(job_path)
        while True:
            job = self._json(self._request("GET", job_path, idempotent=True)) or {}
            if not isinstance(job, Mapping):
                raise NetSuiteJobError(200, "INVALID_RESPONSE", None, f"async job {job_id} status is not a JSON object",
                                       method="GET", url_path=job_path)
            if job.get("completed") is True:
                break
            if self._monotonic() >= deadline:
                raise NetSuiteJobError(None, "JOB_TIMEOUT", None,
                                       f"async job {job_id} did not complete in time (progress "
                                       f"{job.get('progress')!r}); it keeps running in NetSuite — call "
                                       "batch_upsert again with the same items to pick up its result",
                                       method="GET", url_path=job_path)
            self._sleep(poll_interval)
        task_hrefs = self._job_tasks(job, job_path)
        raw: list[tuple[str | None, Mapping[str, Any] | None, int, str | None]] = []
        for href in task_hrefs:
            task_path = urlsplit(href).path.rstrip("/")
            task_id = _id_from_href(task_path)
            resp = self._request("GET", task_path + "/result", idempotent=True, return_error_responses=True)
            body = _try_json(resp)
            entries = body.get("items") if isinstance(body, Mapping) and isinstance(body.get("items"), list) else [body]
            for entry in entries:
                raw.append((task_id, entry if isinstance(entry, Mapping) else None, resp.status_code,
                            resp.headers.get("Location")))
        if not raw and job.get("progress") in ("failed", "error"):
            raise NetSuiteJobError(None, "JOB_FAILED", None, f"async job {job_id} failed without task results",
                                   method="GET", url_path=job_path)
        by_eid: dict[str, BatchItemResult] = {}
        by_position: dict[int, BatchItemResult] = {}
        for position, (task_id, entry, status, location) in enumerate(raw):
            _title, details = parse_error_details(entry) if entry is not None else (None, [])
            eid = entry.get("externalId") if entry is not None else None
            if status >= 400 or details:
                first = details[0] if details else {"code": None, "path": None, "detail": f"HTTP {status}"}
                result: BatchItemResult = {
                    "externalId": str(eid) if eid else "", "id": None, "ok": False,
                    "error": {"status": status if status >= 400 else (entry or {}).get("status"),
                              "code": first["code"], "path": first["path"],
                              "detail": scrub(first["detail"] or "", self._secrets())},
                    "job_id": job_id, "task_id": task_id,
                }
            else:
                rid = (_id_from_href(location) or (str(entry["id"]) if entry and entry.get("id") is not None else None)
                       or _id_from_href(_self_href(entry)) or _id_from_href((entry or {}).get("location")))
                result = {"externalId": str(eid) if eid else "", "id": rid, "ok": rid is not None,
                          "error": None if rid else {"status": status, "code": "NO_ID", "path": None,
                                                     "detail": "task result names no record id"},
                          "job_id": job_id, "task_id": task_id}
            if result["externalId"]:
                by_eid[result["externalId"]] = result
            else:
                by_position[position] = result
        positional = len(raw) == len(chunk)  # one task per item, in input order
        out: list[BatchItemResult] = []
        for position, item in enumerate(chunk):
            eid = str(item["externalId"])
            found = by_eid.get(eid) or (by_position.get(position) if positional else None)
            if found is None:
                found = {"externalId": eid, "id": None, "ok": False,
                         "error": {"status": None, "code": "NO_RESULT", "path": None,
                                   "detail": f"async job {job_id} returned no result for this item"},
                         "job_id": job_id, "task_id": None}
            found = dict(found)  # type: ignore[assignment]
            found["externalId"] = eid
            out.append(found)
        return out

    def _job_tasks(self, job: Mapping[str, Any], job_path: str) -> list[str]:
        task_coll = _self_href(job.get("task")) or f"{job_path}/task"
        hrefs: list[str] = []
        next_href: str | None = task_coll
        pages = 0
        while next_href and pages < 1000:
            pages += 1
            coll = self._json(self._request("GET", next_href, idempotent=True)) or {}
            if not isinstance(coll, Mapping):
                break
            for t in coll.get("items") or []:
                href = _self_href(t) or (f"{urlsplit(task_coll).path}/{t['id']}" if isinstance(t, Mapping) and t.get("id") else None)
                if href:
                    hrefs.append(href)
            next_href = None
            if coll.get("hasMore"):
                for link in coll.get("links") or []:
                    if isinstance(link, Mapping) and link.get("rel") == "next" and link.get("href"):
                        next_href = str(link["href"])
        return hrefs

    # -- SuiteQL --------------------------------------------------------------------------------
    def suiteql(self, query: str, params: Mapping[str, Any] | None = None, page_size: int = 1000) -> Iterator[dict[str, Any]]:
        """Every row of a SuiteQL query (limit/offset pages, ``Prefer: transient``), without ``links``.

        ``params`` fills ``:name`` placeholders with validated, escaped literals (see
        :func:`render_suiteql`). NetSuite stops at 100,000 rows per query: beyond that this raises
        :class:`NetSuiteSuiteQLCapError` — use :meth:`suiteql_keyset`.
        """
        q = render_suiteql(query, params)
        return self._suiteql_pages(q, _check_page_size(page_size), None)

    def _suiteql_pages(self, q: str, page_size: int, max_rows: int | None) -> Iterator[dict[str, Any]]:
        """Yield rows; the generator's return value is True when it stopped at ``max_rows`` with more left."""
        offset = 0
        while True:
            if max_rows is not None and offset >= max_rows:
                return True  # type: ignore[return-value]
            resp = self._request("POST", SUITEQL_PATH, params={"limit": page_size, "offset": offset},
                                 json_body={"q": q}, headers={"Prefer": "transient"}, idempotent=True)
            page = self._json(resp) or {}
            if not isinstance(page, Mapping):
                raise NetSuiteError(resp.status_code, "INVALID_RESPONSE", None, "SuiteQL page is not a JSON object",
                                    method="POST", url_path=SUITEQL_PATH)
            rows = page.get("items") or []
            for row in rows:
                if isinstance(row, Mapping):
                    yield {k: v for k, v in row.items() if k != "links"}
            if not page.get("hasMore"):
                total = page.get("totalResults")
                if (max_rows is None and offset + len(rows) >= SUITEQL_ROW_CAP and isinstance(total, int)
                        and total > offset + len(rows)):
                    raise self._cap_error()
                return False  # type: ignore[return-value]
            if not rows:
                raise NetSuiteError(resp.status_code, "INVALID_RESPONSE", None,
                                    f"SuiteQL page at offset {offset} was empty but hasMore is true",
                                    method="POST", url_path=SUITEQL_PATH)
            offset += page_size
            if max_rows is None and offset >= SUITEQL_ROW_CAP:
                raise self._cap_error()

    @staticmethod
    def _cap_error() -> NetSuiteSuiteQLCapError:
        return NetSuiteSuiteQLCapError(
            None, "ROW_CAP", None,
            f"SuiteQL result has more than {SUITEQL_ROW_CAP:,} rows (NetSuite's cap); use suiteql_keyset() "
            "or narrow the query", method="POST", url_path=SUITEQL_PATH)

    def suiteql_keyset(
        self,
        select_sql: str,
        *,
        key: str = "id",
        params: Mapping[str, Any] | None = None,
        page_size: int = 1000,
        where: str | None = None,
        chunk_rows: int = 50_000,
    ) -> Iterator[dict[str, Any]]:
        """Every row of ``select_sql`` in ``key`` order, beyond NetSuite's 100,000-row cap.

        Runs ``{select_sql} WHERE ({where}) AND {key} > <last> ORDER BY {key}`` in chunks of at most
        ``chunk_rows`` (< 100,000) rows, each read with limit/offset pages; the next chunk starts
        after the last key seen. ``select_sql`` must not contain its own WHERE / ORDER BY / GROUP BY
        (pass the filter as ``where=``; its ``:name`` values come from ``params``). ``key`` must be
        unique and selected (its column, e.g. ``id`` for ``t.id``, must be in each row).
        """
        if not _SQL_IDENT_RE.match(key):
            raise ValueError(f"keyset key {key!r} must be a column name such as 'id' or 't.id'")
        page_size = _check_page_size(page_size)
        words = _top_level_words(select_sql)
        for i, w in enumerate(words):
            nxt = words[i + 1] if i + 1 < len(words) else ""
            if w in ("WHERE", "HAVING", "UNION", "FETCH", "OFFSET", "LIMIT") or (w in ("ORDER", "GROUP") and nxt == "BY"):
                raise ValueError(
                    f"suiteql_keyset: select_sql must not contain a top-level {w}{' BY' if nxt == 'BY' else ''}; "
                    "pass the filter as where=... (ordering is added by the keyset)")
        chunk_rows = (min(int(chunk_rows), SUITEQL_ROW_CAP - page_size) // page_size) * page_size
        if chunk_rows < page_size:
            raise ValueError("chunk_rows must be at least page_size and below 100,000")
        base = render_suiteql(select_sql + (f" WHERE ({where})" if where else ""), params)
        return self._keyset_rows(base, bool(where), key, page_size, chunk_rows)

    def _keyset_rows(self, base: str, has_where: bool, key: str, page_size: int,
                     chunk_rows: int) -> Iterator[dict[str, Any]]:
        column = key.rsplit(".", 1)[-1].lower()
        last: Any = None
        while True:
            q = base
            if last is not None:
                q += f"{' AND' if has_where else ' WHERE'} {key} > {suiteql_literal(last)}"
            q += f" ORDER BY {key}"
            gen = self._suiteql_pages(q, page_size, chunk_rows)
            count = 0
            while True:
                try:
                    row = next(gen)
                except StopIteration as stop:
                    more = bool(stop.value)
                    break
                if column not in row:
                    raise ValueError(f"suiteql_keyset: rows have no {column!r} column; select {key} in select_sql")
                value = _key_value(row[column])
                if last is not None and not _greater(value, last):
                    raise NetSuiteError(None, "KEYSET_ORDER", None,
                                        f"keyset column {column!r} is not strictly increasing ({value!r} after {last!r}); "
                                        "use a unique key", method="POST", url_path=SUITEQL_PATH)
                last = value
                count += 1
                yield row
            if not more or count == 0:
                return

    def lookup_external_ids(
        self,
        record_type_table: str,
        external_ids: Iterable[str],
        *,
        where: str | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> dict[str, str]:
        """``{externalId: internal id}`` for the ids that exist, via SuiteQL on a table such as
        ``transaction``, ``customer`` or ``item``; ≤ 1000 ids per query. ``where`` (with ``params``)
        narrows further, e.g. ``where="type = :t", params={"t": "SalesOrd"}``."""
        if not _SQL_IDENT_RE.match(record_type_table) or "." in record_type_table:
            raise ValueError(f"table {record_type_table!r} is not a SuiteQL table name (e.g. transaction, customer, item)")
        if params and not where:
            raise SuiteQLParameterError("params were given but there is no where= clause to use them")
        extra = f" AND ({render_suiteql(where, params)})" if where else ""
        ids = list(dict.fromkeys(str(e) for e in external_ids))
        found: dict[str, str] = {}
        for i in range(0, len(ids), LOOKUP_BATCH_MAX):
            batch = ids[i:i + LOOKUP_BATCH_MAX]
            q = render_suiteql(
                f"SELECT id, externalid FROM {record_type_table} WHERE externalid IN (:ids)", {"ids": batch}
            ) + extra + " ORDER BY id"
            for row in self._suiteql_pages(q, SUITEQL_MAX_PAGE, None):
                eid, iid = row.get("externalid"), row.get("id")
                if eid is None or iid is None:
                    continue
                if str(eid) in found and found[str(eid)] != str(iid):
                    log.warning("external id found on more than one %s record; keeping the lowest internal id",
                                record_type_table)
                    continue
                found[str(eid)] = str(iid)
        return found


# --- helpers --------------------------------------------------------------------------------------
def _version() -> str:
    try:
        from airflow_provider_amznetsuite.get_provider_info import VERSION
    except Exception:  # pragma: no cover
        return "0"
    return VERSION


def _loads(content: bytes | str) -> Any:
    text = content.decode("utf-8") if isinstance(content, bytes | bytearray) else content
    return json.loads(text, parse_float=Decimal)


def _try_json(resp: requests.Response) -> Any:
    if not resp.content:
        return None
    try:
        return _loads(resp.content)
    except ValueError:
        return None


def _is_uuid(value: str | None) -> bool:
    try:
        uuid.UUID(str(value))
    except (TypeError, ValueError):
        return False
    return True


def _check_page_size(page_size: int) -> int:
    if not isinstance(page_size, int) or isinstance(page_size, bool) or not 1 <= page_size <= SUITEQL_MAX_PAGE:
        raise ValueError(f"page_size must be an integer from 1 to {SUITEQL_MAX_PAGE}, got {page_size!r}")
    return page_size


def _key_value(v: Any) -> Any:
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    if isinstance(v, str) and re.fullmatch(r"-?[0-9]+", v.strip()):
        return int(v)
    if isinstance(v, str | Decimal):
        return v
    raise NetSuiteValidationError(None, "KEYSET_VALUE", None, f"keyset value of type {type(v).__name__} is not usable")


def _greater(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return str(a) > str(b)
    return bool(a > b)


def _never_sent(exc: BaseException) -> bool:
    """True when the request provably never reached NetSuite (connect failure / connect timeout)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    seen: set[int] = set()
    stack: list[Any] = [exc]
    while stack:
        e = stack.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, NewConnectionError | ConnectTimeoutError | ConnectionRefusedError):
            return True
        stack.extend([getattr(e, "reason", None), e.__cause__, e.__context__])
        stack.extend(a for a in getattr(e, "args", ()) if isinstance(a, BaseException))
    return False
