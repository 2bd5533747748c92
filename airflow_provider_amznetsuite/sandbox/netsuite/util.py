"""Small helpers of the NetSuite sandbox: exact-decimal JSON, money, time, and NetSuite's error bodies."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

# --- JSON that keeps Decimal exact --------------------------------------------------------------
# NetSuite sends currency amounts as JSON numbers. The sandbox keeps them as Decimal end to end: it
# parses numbers with parse_float=Decimal and writes Decimals back as bare JSON numbers (no float).
_DEC_MARK = "\u0001dec:"
_DEC_RE = re.compile(r'"\\u0001dec:(-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)"')


def _default(obj: Any) -> Any:
    if isinstance(obj, Decimal):
        if not obj.is_finite():
            raise ValueError(f"non-finite decimal {obj!r} cannot be written as JSON")
        return _DEC_MARK + format(obj, "f")
    if isinstance(obj, datetime):
        return iso(obj)
    if isinstance(obj, date):
        return obj.isoformat()
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def dumps(obj: Any, *, indent: int | None = None) -> str:
    text = json.dumps(obj, default=_default, ensure_ascii=False, indent=indent,
                      separators=None if indent else (",", ":"))
    return _DEC_RE.sub(r"\1", text)


def loads(text: str | bytes) -> Any:
    return json.loads(text, parse_float=Decimal)


# --- money ---------------------------------------------------------------------------------------
CURRENCY_PRECISION = {"JPY": 0}


def quantize(amount: Decimal, currency: str | None = None) -> Decimal:
    places = CURRENCY_PRECISION.get(currency or "", 2)
    return amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def to_decimal(value: Any, field: str) -> Decimal:
    """A request number/string as Decimal; raises ApiError naming the field (floats never reach here)."""
    if isinstance(value, bool):
        raise ApiError.user(f"Invalid number for field {field}: {value!r}.", path=field)
    if isinstance(value, Decimal):
        d = value
    elif isinstance(value, int):
        d = Decimal(value)
    elif isinstance(value, str):
        try:
            d = Decimal(value.strip())
        except InvalidOperation:
            raise ApiError.user(f"Invalid number for field {field}: {value!r}.", path=field) from None
    else:
        raise ApiError.user(f"Invalid number for field {field}: {value!r}.", path=field)
    if not d.is_finite():
        raise ApiError.user(f"Invalid number for field {field}: {value!r}.", path=field)
    return d


# --- time ----------------------------------------------------------------------------------------
def utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def db_ts(dt: datetime) -> str:
    """The form every date/datetime column of the SuiteQL tables holds: 'YYYY-MM-DD HH:MM:SS' (UTC)."""
    return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


_DATE_RE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ].*)?$")


def parse_tran_date(value: Any, field: str = "tranDate") -> str:
    """A NetSuite date field value ('2020-6-15', '2020-06-15', ISO datetime) -> 'YYYY-MM-DD'."""
    if isinstance(value, str):
        m = _DATE_RE.match(value.strip())
        if m:
            try:
                return date(int(m.group(1)), int(m.group(2)), int(m.group(3))).isoformat()
            except ValueError:
                pass
    raise ApiError(400, "INVALID_PARAMETER",
                   f"Invalid value for the resource or sub-resource field '{field}'. Provide a date as YYYY-MM-DD.",
                   path=field)


# --- NetSuite error bodies -----------------------------------------------------------------------
_TYPES = {
    400: ("https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.1", "Bad Request"),
    401: ("https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html#sec10.4.2", "Unauthorized"),
    403: ("https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.4", "Forbidden"),
    404: ("https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.5", "Not Found"),
    405: ("https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.6", "Method Not Allowed"),
    415: ("https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.16", "Unsupported Media Type"),
    429: ("https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.29", "Too Many Requests"),
    500: ("https://www.rfc-editor.org/rfc/rfc9110.html#section-15.6.1", "Internal Server Error"),
    503: ("https://www.rfc-editor.org/rfc/rfc9110.html#section-15.6.4", "Service Unavailable"),
}
INVALID_LOGIN_DETAIL = ("Invalid login attempt. For more details, see the Login Audit Trail in the NetSuite UI at "
                        "Setup > Users/Roles > User Management > View Login Audit Trail.")
CONCURRENCY_DETAIL = "Concurrent request limit exceeded. Request blocked."


class ApiError(Exception):
    """A NetSuite REST error: HTTP status + one ``o:errorDetails`` entry (RFC 7807-style body)."""

    def __init__(self, status: int, code: str, detail: str, *, path: str | None = None,
                 header: str | None = None, query_param: str | None = None,
                 headers: dict[str, str] | None = None, title: str | None = None,
                 type_url: str | None = None) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail
        self.path = path
        self.header = header
        self.query_param = query_param
        self.headers = headers or {}
        self.title = title
        self.type_url = type_url

    @classmethod
    def user(cls, detail: str, *, path: str | None = None) -> ApiError:
        return cls(400, "USER_ERROR", detail, path=path)

    @classmethod
    def invalid_ref(cls, field: str, value: Any, path: str, why: str = "") -> ApiError:
        # NetSuite's wording for an unknown/unusable reference (SOAP called it INVALID_KEY_OR_REF).
        extra = f" ({why})" if why else ""
        return cls.user(f"Error while accessing a resource. You have entered an Invalid Field Value {value} "
                        f"for the following field: {field}{extra}", path=path)

    def body(self) -> dict[str, Any]:
        type_url, title = _TYPES.get(self.status, _TYPES[400 if self.status < 500 else 500])
        detail: dict[str, Any] = {"detail": self.detail}
        if self.path:
            detail["o:errorPath"] = self.path
        if self.header:
            detail["o:errorHeader"] = self.header
        if self.query_param:
            detail["o:errorQueryParam"] = self.query_param
        detail["o:errorCode"] = self.code
        return {"type": self.type_url or type_url, "title": self.title or title, "status": self.status,
                "o:errorDetails": [detail]}


def invalid_login() -> ApiError:
    return ApiError(401, "INVALID_LOGIN", INVALID_LOGIN_DETAIL)


def not_found(detail: str = "The record instance does not exist. Provide a valid record instance ID.") -> ApiError:
    return ApiError(404, "NONEXISTENT_ID", detail)
