"""What of an Amazon order may be kept between tasks: exactly the fields the mapping reads, nothing else.

Orders v2026-01-01 answers carry much more than this provider uses — gift messages, buyer legal names,
tax registration numbers, recipient addresses, delivery preferences. The extract step stores its batch
in the sync-state database for the next tasks; :func:`stored_order` is the filter applied before that.

The filter is derived from the pydantic models of :mod:`domain.orders` (their camelCase aliases), so a
field the mapping starts to read is kept automatically and a field it does not read can never be kept
by accident. ``buyer`` (name, email, company, purchase order number) is kept only when the marketplace
enables ``orders.pii`` — the only case where a later task (the per-buyer customer upsert) needs it.
``parse_order(stored_order(raw, pii=True)) == parse_order(raw)`` for every order (tested).
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from pydantic import BaseModel

from airflow_provider_amznetsuite.domain.orders import AmazonOrder

#: Top-level keys kept only with ``orders.pii: true``.
PII_KEYS = frozenset({"buyer"})


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside ``Model``, ``Model | None``, ``tuple[Model, ...]`` (None for scalars)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType, tuple, list, typing.Annotated):
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None


@lru_cache(maxsize=None)
def _keys(model: type[BaseModel]) -> tuple[tuple[str, str, type[BaseModel] | None], ...]:
    """(alias, field name, nested model) of every field the model reads."""
    return tuple((f.alias or name, name, _model_in(f.annotation)) for name, f in model.model_fields.items())


def _project(value: Any, model: type[BaseModel]) -> Any:
    if not isinstance(value, Mapping):
        return value  # not an object: the parser reports it
    out: dict[str, Any] = {}
    for alias, name, nested in _keys(model):
        key = alias if alias in value else name if name in value else None
        if key is None:
            continue
        v = value[key]
        if nested is not None:
            v = [_project(x, nested) for x in v] if isinstance(v, list | tuple) else _project(v, nested)
        out[key] = v
    return out


def stored_order(raw: Mapping[str, Any], *, pii: bool) -> dict[str, Any]:
    """The part of one raw Orders API ``Order`` that is stored for the later tasks of the run."""
    out = _project(raw, AmazonOrder)
    if not isinstance(out, dict):
        return {}
    if not pii:
        for key in PII_KEYS:
            out.pop(key, None)
    return out
