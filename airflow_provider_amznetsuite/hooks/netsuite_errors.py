"""Typed NetSuite SuiteTalk REST errors.

NetSuite answers errors with an RFC 7807-style body::

    {"type": "...", "title": "Not Found", "status": 404,
     "o:errorDetails": [{"detail": "...", "o:errorCode": "NONEXISTENT_ID", "o:errorPath": "item.items[2]"}]}

:func:`error_from_response` turns such a body into one of the classes below. Every exception renders
as ONE readable line (``NetSuite 404 NONEXISTENT_ID on GET /services/rest/record/v1/salesOrder/9: ...``)
and never carries credentials: callers pass the known secrets and the text is scrubbed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from airflow_provider_amznetsuite.hooks._common import scrub

__all__ = [
    "AUTH_CAUSES",
    "NetSuiteAuthError",
    "NetSuiteConfigError",
    "NetSuiteConcurrencyError",
    "NetSuiteError",
    "NetSuiteIdempotencyError",
    "NetSuiteJobError",
    "NetSuitePermissionError",
    "NetSuiteRecordNotFound",
    "NetSuiteServerError",
    "NetSuiteSuiteQLCapError",
    "NetSuiteTransportError",
    "NetSuiteValidationError",
    "SuiteQLParameterError",
    "error_from_response",
]

#: The usual reasons behind a 401 INVALID_LOGIN (the real one is in NetSuite's Login Audit Trail).
AUTH_CAUSES = (
    "usual causes: realm/account id spelling (realm is upper case with underscore, e.g. 1234567_SB1; "
    "host is lower case with hyphen), URL query parameters missing from the TBA signature, clock skew "
    "(oauth_timestamp / JWT iat), the role lacks the 'REST Web Services' or 'Log in using Access Tokens' "
    "permission, the OAuth 2.0 certificate is not mapped (or revoked/expired) for this integration+role, "
    "the JWT was signed with RS256 (NetSuite accepts only PS256/ES256-family); see Setup > Users/Roles > "
    "User Management > View Login Audit Trail"
)

CONCURRENCY_CODES = frozenset({"CONCURRENCY_LIMIT_EXCEEDED", "SSS_REQUEST_LIMIT_EXCEEDED", "WS_REQUEST_BLOCKED"})
VALIDATION_CODES = frozenset({
    "USER_ERROR", "INVALID_PARAMETER", "NONEXISTENT_FIELD", "INVALID_KEY_OR_REF", "INVALID_HEADER",
    "INVALID_CONTENT", "INVALID_FLD_VALUE", "INVALID_VALUE", "INVALID_ID", "DUP_RCRD",
})


def _one_line(text: str, limit: int = 500) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class NetSuiteError(Exception):
    """A NetSuite REST error.

    :param status: HTTP status (``None`` for client-side failures such as a job timeout).
    :param code: ``o:errorCode`` of the first error detail (e.g. ``NONEXISTENT_ID``).
    :param path: ``o:errorPath`` of the first error detail (e.g. ``item.items[2].item``), if any.
    :param detail: human-readable detail (already scrubbed of secrets).
    :param title: RFC 7807 ``title``.
    :param method: HTTP method of the failed request.
    :param url_path: request path (no host, no query).
    :param details: every ``o:errorDetails`` entry as ``{"code", "path", "detail"}`` dicts.
    :param location: ``Location`` header of the error response (used by IDEMPOTENCY_ERROR).
    """

    hint: str = ""

    def __init__(
        self,
        status: int | None,
        code: str | None,
        path: str | None,
        detail: str,
        title: str | None = None,
        *,
        method: str | None = None,
        url_path: str | None = None,
        details: list[dict[str, str | None]] | None = None,
        location: str | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.path = path
        self.detail = _one_line(detail)
        self.title = title
        self.method = method
        self.url_path = url_path
        self.details = details or [{"code": code, "path": path, "detail": self.detail}]
        self.location = location
        super().__init__(self._render())

    def _render(self) -> str:
        head = "NetSuite"
        if self.status is not None:
            head += f" {self.status}"
        if self.code:
            head += f" {self.code}"
        if self.method and self.url_path:
            head += f" on {self.method} {self.url_path}"
        text = f"{head}: {self.detail}" if self.detail else head
        if self.path:
            text += f" (at {self.path})"
        extra = len(self.details) - 1
        if extra > 0:
            text += f" (+{extra} more error detail{'s' if extra > 1 else ''})"
        if self.hint:
            text += f" — {self.hint}"
        return text

    def __reduce__(self) -> tuple[Any, ...]:  # picklable (Airflow may ship exceptions across processes)
        return (_rebuild, (type(self), self.status, self.code, self.path, self.detail, self.title,
                           self.method, self.url_path, self.details, self.location))


def _rebuild(cls: type[NetSuiteError], status: int | None, code: str | None, path: str | None, detail: str,
             title: str | None, method: str | None, url_path: str | None,
             details: list[dict[str, str | None]] | None, location: str | None) -> NetSuiteError:
    return cls(status, code, path, detail, title, method=method, url_path=url_path, details=details,
               location=location)


class NetSuiteAuthError(NetSuiteError):
    """401 INVALID_LOGIN (or a token-endpoint failure)."""

    hint = AUTH_CAUSES


class NetSuiteRecordNotFound(NetSuiteError):
    """404 NONEXISTENT_ID — the record (or external id) does not exist."""


class NetSuiteValidationError(NetSuiteError):
    """400 USER_ERROR / INVALID_PARAMETER / NONEXISTENT_FIELD / INVALID_KEY_OR_REF / INVALID_HEADER …"""


class NetSuiteIdempotencyError(NetSuiteValidationError):
    """400 IDEMPOTENCY_ERROR — the idempotency key was used before; ``location`` names the original job."""


class NetSuitePermissionError(NetSuiteError):
    """403 — the role lacks a permission (e.g. INSUFFICIENT_PERMISSION)."""

    hint = "grant the integration role the permission for this record type / feature"


class NetSuiteConcurrencyError(NetSuiteError):
    """429 / CONCURRENCY_LIMIT_EXCEEDED still answered after every retry."""

    hint = ("the account's concurrency limit stayed exhausted; lower the connection's 'concurrency' extra "
            "or the number of parallel tasks, or raise the integration's allocation")


class NetSuiteServerError(NetSuiteError):
    """5xx after the bounded retries (or a 5xx on a non-idempotent request, which is not retried)."""


class NetSuiteTransportError(NetSuiteError):
    """Connection error / timeout that was not (or no longer) retried."""


class NetSuiteJobError(NetSuiteError):
    """An async job (batch) that failed or did not complete within the timeout."""


class NetSuiteSuiteQLCapError(NetSuiteError):
    """A SuiteQL result reached NetSuite's 100,000-row offset cap; use ``suiteql_keyset``."""


class SuiteQLParameterError(ValueError):
    """A SuiteQL ``:name`` parameter that cannot be rendered safely (or a missing / unused one)."""


def _parse_body(body: Any) -> Mapping[str, Any] | None:
    if isinstance(body, Mapping):
        return body
    if isinstance(body, bytes | bytearray):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str) and body.strip():
        try:
            parsed = json.loads(body)
        except ValueError:
            return None
        return parsed if isinstance(parsed, Mapping) else None
    return None


def parse_error_details(body: Any) -> tuple[str | None, list[dict[str, str | None]]]:
    """``(title, [{"code", "path", "detail"}, ...])`` from an RFC 7807 NetSuite error body (tolerant)."""
    parsed = _parse_body(body)
    if parsed is None:
        return None, []
    title = parsed.get("title") if isinstance(parsed.get("title"), str) else None
    out: list[dict[str, str | None]] = []
    for entry in parsed.get("o:errorDetails") or []:
        if not isinstance(entry, Mapping):
            continue
        out.append({
            "code": str(entry["o:errorCode"]) if entry.get("o:errorCode") else None,
            "path": str(entry["o:errorPath"]) if entry.get("o:errorPath") else None,
            "detail": str(entry.get("detail") or ""),
        })
    return title, out


def error_code(body: Any) -> str | None:
    """The first ``o:errorCode`` of a body, or ``None``."""
    _title, details = parse_error_details(body)
    return details[0]["code"] if details else None


def error_from_response(
    status: int | None,
    body: Any,
    *,
    method: str | None = None,
    url_path: str | None = None,
    location: str | None = None,
    secrets: Iterable[str | None] = (),
    cls: type[NetSuiteError] | None = None,
) -> NetSuiteError:
    """Build the typed exception for an error response (``body`` = text, bytes or parsed JSON)."""
    secrets = list(secrets)
    title, details = parse_error_details(body)
    for d in details:
        d["detail"] = _one_line(scrub(d["detail"] or "", secrets))
    if details:
        code, path, detail = details[0]["code"], details[0]["path"], details[0]["detail"] or ""
    else:
        code, path = None, None
        raw = body.decode("utf-8", "replace") if isinstance(body, bytes | bytearray) else body
        detail = _one_line(scrub(raw if isinstance(raw, str) else (json.dumps(raw) if raw else ""), secrets), 300)
        detail = detail or (title or "no error body")
    if cls is None:
        cls = _class_for(status, code)
    return cls(status, code, path, detail or (title or ""), title, method=method, url_path=url_path,
               details=details or None, location=location)


def _class_for(status: int | None, code: str | None) -> type[NetSuiteError]:
    if code in CONCURRENCY_CODES or status == 429:
        return NetSuiteConcurrencyError
    if code == "IDEMPOTENCY_ERROR":
        return NetSuiteIdempotencyError
    if status == 401 or code == "INVALID_LOGIN":
        return NetSuiteAuthError
    if status == 403 or code == "INSUFFICIENT_PERMISSION":
        return NetSuitePermissionError
    if status == 404 or code == "NONEXISTENT_ID":
        return NetSuiteRecordNotFound
    if status is not None and status >= 500:
        return NetSuiteServerError
    if status == 400 or code in VALIDATION_CODES:
        return NetSuiteValidationError
    return NetSuiteError


class NetSuiteConfigError(ValueError):
    """The NetSuite connection is incomplete or invalid (names the extra and the fix; never its value)."""
