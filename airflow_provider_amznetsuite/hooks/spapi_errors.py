"""Typed errors raised by :class:`~airflow_provider_amznetsuite.hooks.spapi.SpApiHook`.

Every error carries the HTTP status, Amazon's ``errors[]`` list (``code``, ``message``, ``details``) and
the SP-API operation name. ``str()`` is one readable line; the hook scrubs secrets from the text before
the exception is raised, so it is safe to log.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "SpApiAuthError",
    "SpApiBadRequest",
    "SpApiError",
    "SpApiForbidden",
    "SpApiNotFound",
    "SpApiServerError",
    "SpApiThrottled",
    "error_class_for_status",
]

_MAX_ERRORS_IN_TEXT = 5
_MAX_FIELD_CHARS = 300


def _clip(value: Any) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= _MAX_FIELD_CHARS else text[: _MAX_FIELD_CHARS - 1] + "…"


class SpApiError(Exception):
    """An SP-API call failed. ``errors`` is Amazon's ``errors[]`` (list of ``{code, message, details?}``)."""

    def __init__(
        self,
        status: int | None,
        errors: list[dict[str, Any]] | None,
        operation: str,
        *,
        request_id: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.status = status
        self.errors: list[dict[str, Any]] = [dict(e) for e in (errors or []) if isinstance(e, dict)]
        self.operation = operation
        self.request_id = request_id
        self.hint = hint
        super().__init__(self._render())

    @property
    def codes(self) -> list[str]:
        """Amazon's error codes, e.g. ``["InvalidInput"]``."""
        return [str(e.get("code", "")) for e in self.errors]

    def _render(self) -> str:
        status = f"HTTP {self.status}" if self.status is not None else "no HTTP response"
        parts = []
        for err in self.errors[:_MAX_ERRORS_IN_TEXT]:
            piece = f"{_clip(err.get('code', '?'))}: {_clip(err.get('message', ''))}"
            if err.get("details"):
                piece += f" ({_clip(err['details'])})"
            parts.append(piece)
        if len(self.errors) > _MAX_ERRORS_IN_TEXT:
            parts.append(f"… {len(self.errors) - _MAX_ERRORS_IN_TEXT} more")
        text = f"SP-API {self.operation} failed: {status}"
        if parts:
            text += " — " + "; ".join(parts)
        if self.request_id:
            text += f" [x-amzn-RequestId {self.request_id}]"
        if self.hint:
            text += f". {self.hint}"
        return text

    def __reduce__(self) -> tuple[Any, ...]:  # picklable (Airflow may ship exceptions between processes)
        return (_rebuild, (type(self), self.status, self.errors, self.operation, self.request_id, self.hint))


def _rebuild(cls: type[SpApiError], status: Any, errors: Any, operation: str, request_id: Any, hint: Any) -> SpApiError:
    obj = cls.__new__(cls)
    SpApiError.__init__(obj, status, errors, operation, request_id=request_id, hint=hint)
    return obj


class SpApiBadRequest(SpApiError):
    """HTTP 400: the request is invalid (Amazon's ``InvalidInput`` and friends). Not retried."""


class SpApiForbidden(SpApiError):
    """HTTP 403: the application or seller lacks the role/authorisation for this operation. Not retried."""


class SpApiNotFound(SpApiError):
    """HTTP 404: the resource does not exist (or is not visible to this seller). Not retried."""


class SpApiAuthError(SpApiError):
    """LWA token exchange failed, or SP-API still answered 401 after one token refresh."""


class SpApiThrottled(SpApiError):
    """HTTP 429 for longer than the configured maximum total throttle wait."""


class SpApiServerError(SpApiError):
    """HTTP 5xx (or a connection error/timeout) that persisted through every bounded retry."""


def error_class_for_status(status: int | None) -> type[SpApiError]:
    """Map an HTTP status to the typed error class."""
    if status == 400:
        return SpApiBadRequest
    if status == 401:
        return SpApiAuthError
    if status == 403:
        return SpApiForbidden
    if status == 404:
        return SpApiNotFound
    if status == 429:
        return SpApiThrottled
    if status is None or status >= 500:
        return SpApiServerError
    return SpApiError
