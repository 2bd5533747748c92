"""Helpers shared by the SP-API and NetSuite hooks: backoff, secret masking and scrubbing."""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Iterable

log = logging.getLogger(__name__)

USER_AGENT = "airflow-provider-amznetsuite/{version} (Language=Python)"


def backoff_delay(attempt: int, base: float = 0.5, cap: float = 30.0, rng: random.Random | None = None) -> float:
    """Exponential backoff with full jitter: uniform(0, min(cap, base * 2**attempt)), attempt >= 0."""
    r = rng or random
    return r.uniform(0, min(cap, base * (2**attempt)))


_MASKED: set[str] = set()


def mask_secrets(*values: str | None) -> None:
    """Register secrets with Airflow's log masker so they never reach task logs (best effort).

    Each value is registered once per process: the masker recompiles its pattern on every call, which
    is costly for long values such as PEM keys.
    """
    try:
        from airflow.sdk.log import mask_secret  # Airflow 3.x task SDK
    except Exception:  # pragma: no cover - outside an Airflow install
        try:
            from airflow.sdk.execution_time.secrets_masker import mask_secret  # type: ignore[no-redef]
        except Exception:
            return
    for v in values:
        if v and len(v) >= 5 and v not in _MASKED:
            mask_secret(v)
            _MASKED.add(v)


def scrub(text: str, secrets: Iterable[str | None]) -> str:
    """Replace every secret (and bearer/access-token header values) in ``text`` with ***."""
    out = text
    for s in secrets:
        if s and len(s) >= 4:
            out = out.replace(s, "***")
    out = re.sub(r"(?i)(authorization|x-amz-access-token)(['\"]?\s*[:=]\s*['\"]?)([^'\",\s]+( [^'\",\s]+)?)", r"\1\2***", out)
    out = re.sub(r"(?i)(refresh_token|client_secret|access_token|client_assertion)=([^&\s'\"]+)", r"\1=***", out)
    return out
