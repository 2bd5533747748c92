"""Validate HTTP requests and responses against Amazon's vendored Swagger 2.0 models.

Reusable by any test: load a model from ``airflow_provider_amznetsuite/sandbox/models``, find the
operation by method + concrete path, and check

* the path against the template (path parameters present, typed),
* query parameters: names known to the operation, required ones present, types (string / integer /
  number / boolean / array with ``collectionFormat``), ``enum``, ``minimum``/``maximum``,
  ``minItems``/``maxItems``, ``minLength``/``maxLength``, ``pattern``, ``format: date-time``,
* header parameters the operation requires,
* the JSON body against the body parameter's schema (``#/definitions/...`` refs resolved), with
  JSON-Schema Draft 4 (what Swagger 2.0 schemas are based on),
* and, for responses, the body against the schema declared for the status code.

Only the structure is used (the vendored models are stripped of prose).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import jsonschema
import jsonschema.exceptions
from jsonschema import Draft4Validator

import airflow_provider_amznetsuite

MODELS_DIR = Path(airflow_provider_amznetsuite.__file__).resolve().parent / "sandbox" / "models"
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
_SEPARATORS = {"csv": ",", "ssv": " ", "tsv": "\t", "pipes": "|"}


# ---------------------------------------------------------------------------------------------------
# formats
# ---------------------------------------------------------------------------------------------------
FORMAT_CHECKER = jsonschema.FormatChecker()


@FORMAT_CHECKER.checks("date-time", raises=ValueError)
def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if "T" not in value and "t" not in value:
        raise ValueError(f"{value!r} has no time part")
    parsed = dt.datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone")
    return True


@FORMAT_CHECKER.checks("date", raises=ValueError)
def _is_date(value: object) -> bool:
    if isinstance(value, str):
        dt.date.fromisoformat(value)
    return True


# ---------------------------------------------------------------------------------------------------
# models and operations
# ---------------------------------------------------------------------------------------------------
def model_files() -> list[str]:
    """API model files (not the feed/notification JSON schemas)."""
    return sorted(p.name for p in MODELS_DIR.glob("*.json") if not p.name.startswith("schema_"))


@lru_cache(maxsize=None)
def load_model(name: str) -> dict[str, Any]:
    with (MODELS_DIR / name).open(encoding="utf-8") as fh:
        model = json.load(fh)
    if model.get("swagger") != "2.0":
        raise ValueError(f"{name} is not a Swagger 2.0 model")
    return model


@dataclass(frozen=True)
class SwaggerOperation:
    model_name: str
    method: str  # upper case
    path: str  # template, e.g. /orders/2026-01-01/orders/{orderId}
    operation: Mapping[str, Any] = field(repr=False, compare=False)
    parameters: tuple[Mapping[str, Any], ...] = field(repr=False, compare=False)

    @property
    def operation_id(self) -> str:
        return str(self.operation.get("operationId"))

    @property
    def deprecated(self) -> bool:
        return bool(self.operation.get("deprecated"))

    @property
    def model(self) -> dict[str, Any]:
        return load_model(self.model_name)

    def param(self, location: str, name: str) -> Mapping[str, Any] | None:
        for p in self.parameters:
            if p.get("in") == location and p.get("name") == name:
                return p
        return None

    def body_param(self) -> Mapping[str, Any] | None:
        for p in self.parameters:
            if p.get("in") == "body":
                return p
        return None

    def response_schema(self, status: int) -> Mapping[str, Any] | None:
        responses = self.operation.get("responses", {})
        entry = responses.get(str(status)) or responses.get("default")
        if entry is None:
            return None
        return entry.get("schema")

    def declares_status(self, status: int) -> bool:
        return str(status) in self.operation.get("responses", {})


def _resolve_param(model: Mapping[str, Any], param: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = param.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/parameters/"):
        return model["parameters"][ref.split("/")[-1]]
    return param


@lru_cache(maxsize=None)
def operations(model_name: str) -> tuple[SwaggerOperation, ...]:
    model = load_model(model_name)
    found = []
    for path, item in model.get("paths", {}).items():
        shared = [_resolve_param(model, p) for p in item.get("parameters", []) if isinstance(p, dict)]
        for method, op in item.items():
            if method not in HTTP_METHODS or not isinstance(op, dict):
                continue
            own = [_resolve_param(model, p) for p in op.get("parameters", [])]
            names = {(p.get("in"), p.get("name")) for p in own}
            merged = tuple(own + [p for p in shared if (p.get("in"), p.get("name")) not in names])
            found.append(SwaggerOperation(model_name, method.upper(), path, op, merged))
    return tuple(found)


def _template_regex(template: str) -> re.Pattern[str]:
    out, pos = [], 0
    for m in re.finditer(r"\{([^}]+)\}", template):
        out.append(re.escape(template[pos:m.start()]))
        out.append(f"(?P<{re.sub(r'[^0-9A-Za-z_]', '_', m.group(1))}>[^/]+)")
        pos = m.end()
    out.append(re.escape(template[pos:]))
    return re.compile("^" + "".join(out) + "$")


def _path_names(template: str) -> dict[str, str]:
    return {re.sub(r"[^0-9A-Za-z_]", "_", n): n for n in re.findall(r"\{([^}]+)\}", template)}


def match_path(op: SwaggerOperation, path: str) -> dict[str, str] | None:
    m = _template_regex(op.path).match(path)
    if not m:
        return None
    names = _path_names(op.path)
    return {names[k]: unquote(v) for k, v in m.groupdict().items()}


def find_operation(method: str, path: str, models: Iterable[str] | None = None) -> tuple[SwaggerOperation, dict[str, str]] | None:
    """The operation (and decoded path parameters) for a concrete method + path; literal segments win over templates."""
    method = method.upper()
    candidates = []
    for name in models or model_files():
        for op in operations(name):
            if op.method != method:
                continue
            values = match_path(op, path)
            if values is not None:
                candidates.append((len(values), op, values))
    if not candidates:
        return None
    candidates.sort(key=lambda c: c[0])
    return candidates[0][1], candidates[0][2]


def find_operation_by_id(model_name: str, operation_id: str) -> SwaggerOperation | None:
    for op in operations(model_name):
        if op.operation_id == operation_id:
            return op
    return None


# ---------------------------------------------------------------------------------------------------
# value checks
# ---------------------------------------------------------------------------------------------------
def _convert(raw: str, schema: Mapping[str, Any], where: str, problems: list[str]) -> Any:
    kind = schema.get("type", "string")
    if kind == "integer":
        if not re.fullmatch(r"[+-]?\d+", raw):
            problems.append(f"{where}: {raw!r} is not an integer")
            return None
        return int(raw)
    if kind == "number":
        try:
            return float(raw)
        except ValueError:
            problems.append(f"{where}: {raw!r} is not a number")
            return None
    if kind == "boolean":
        if raw not in ("true", "false"):
            problems.append(f"{where}: {raw!r} is not a boolean (true|false)")
            return None
        return raw == "true"
    return raw


def _check_scalar(value: Any, schema: Mapping[str, Any], where: str, problems: list[str]) -> None:
    if value is None:
        return
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{where}: {value!r} is not one of {schema['enum']}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema:
            if (value <= schema["minimum"]) if schema.get("exclusiveMinimum") else (value < schema["minimum"]):
                problems.append(f"{where}: {value} is below the minimum {schema['minimum']}")
        if "maximum" in schema:
            if (value >= schema["maximum"]) if schema.get("exclusiveMaximum") else (value > schema["maximum"]):
                problems.append(f"{where}: {value} is above the maximum {schema['maximum']}")
    if isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            problems.append(f"{where}: shorter than {schema['minLength']} characters")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            problems.append(f"{where}: longer than {schema['maxLength']} characters")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            problems.append(f"{where}: {value!r} does not match {schema['pattern']!r}")
        fmt = schema.get("format")
        if fmt in ("date-time", "date"):
            try:
                FORMAT_CHECKER.check(value, fmt)
            except jsonschema.exceptions.FormatError as exc:
                problems.append(f"{where}: {value!r} is not a valid {fmt} ({exc.cause or exc.message})")


def parse_parameter(param: Mapping[str, Any], raw_values: list[str], problems: list[str]) -> Any:
    """Convert raw query/path/header strings into the typed value the parameter describes, recording problems."""
    where = f"{param.get('in')} parameter {param.get('name')!r}"
    if param.get("type") == "array":
        fmt = param.get("collectionFormat", "csv")
        items_schema = param.get("items", {})
        if fmt == "multi":
            parts = list(raw_values)
        else:
            if len(raw_values) > 1:
                problems.append(f"{where}: sent {len(raw_values)} times; collectionFormat {fmt} expects one value")
            parts = raw_values[0].split(_SEPARATORS.get(fmt, ",")) if raw_values and raw_values[0] != "" else []
        values = [_convert(p, items_schema, f"{where} item", problems) for p in parts]
        if "minItems" in param and len(values) < param["minItems"]:
            problems.append(f"{where}: {len(values)} item(s), at least {param['minItems']} required")
        if "maxItems" in param and len(values) > param["maxItems"]:
            problems.append(f"{where}: {len(values)} item(s), at most {param['maxItems']} allowed")
        if param.get("uniqueItems") and len(set(map(str, values))) != len(values):
            problems.append(f"{where}: items must be unique")
        for v in values:
            _check_scalar(v, items_schema, f"{where} item", problems)
        return values
    if len(raw_values) > 1:
        problems.append(f"{where}: sent {len(raw_values)} times")
    value = _convert(raw_values[0], param, where, problems)
    _check_scalar(value, param, where, problems)
    return value


@lru_cache(maxsize=None)
def _validator_for(model_name: str, schema_json: str) -> Draft4Validator:
    model = load_model(model_name)
    root = dict(json.loads(schema_json))
    root["definitions"] = model.get("definitions", {})
    return Draft4Validator(root, format_checker=FORMAT_CHECKER)


def schema_problems(model_name: str, schema: Mapping[str, Any], instance: Any, where: str) -> list[str]:
    validator = _validator_for(model_name, json.dumps(schema, sort_keys=True))
    out = []
    for err in sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path)):
        loc = "/".join(str(p) for p in err.absolute_path) or "(root)"
        out.append(f"{where} {loc}: {err.message[:300]}")
    return out


# ---------------------------------------------------------------------------------------------------
# requests
# ---------------------------------------------------------------------------------------------------
@dataclass
class RequestCheck:
    """Result of validating one request: the operation (if found), typed parameter values and problems."""

    operation: SwaggerOperation | None
    values: dict[str, Any]
    problems: list[str]

    @property
    def ok(self) -> bool:
        return self.operation is not None and not self.problems


def check_http(method: str, url: str, headers: Mapping[str, str] | None, body: bytes | str | None,
               models: Iterable[str] | None = None) -> RequestCheck:
    """Validate a raw HTTP request (method, absolute or relative URL, headers, body) against the models."""
    parts = urlsplit(url)
    found = find_operation(method, parts.path, models)
    if found is None:
        return RequestCheck(None, {}, [f"{method.upper()} {parts.path}: no operation with this method and path in the models"])
    op, path_values = found
    problems: list[str] = []
    values: dict[str, Any] = {}
    for name, raw in path_values.items():
        param = op.param("path", name)
        if param is None:
            problems.append(f"path parameter {name!r} is not declared")
            continue
        values[name] = parse_parameter(param, [raw], problems)

    query: dict[str, list[str]] = {}
    for k, v in parse_qsl(parts.query, keep_blank_values=True):
        query.setdefault(k, []).append(v)
    for name, raw_values in query.items():
        param = op.param("query", name)
        if param is None:
            problems.append(f"query parameter {name!r} is not a parameter of {op.operation_id}")
            continue
        values[name] = parse_parameter(param, raw_values, problems)

    lower_headers = {k.lower(): v for k, v in (headers or {}).items()}
    for param in op.parameters:
        loc, name = param.get("in"), param.get("name")
        if loc == "header" and name and name.lower() in lower_headers:
            values[name] = parse_parameter(param, [lower_headers[name.lower()]], problems)
        if param.get("required") and loc in ("query", "path", "header") and name not in values:
            problems.append(f"required {loc} parameter {name!r} is missing")

    body_param = op.body_param()
    raw_body = body.encode("utf-8") if isinstance(body, str) else body
    if raw_body:
        if body_param is None:
            problems.append(f"{op.operation_id} takes no request body, but one was sent")
        else:
            ctype = lower_headers.get("content-type", "")
            if "json" not in ctype:
                problems.append(f"body sent with Content-Type {ctype!r}; the models expect application/json")
            try:
                parsed = json.loads(raw_body)
            except ValueError:
                problems.append("request body is not JSON")
            else:
                values[body_param["name"]] = parsed
                values.setdefault("body", parsed)
                problems.extend(schema_problems(op.model_name, body_param.get("schema", {}), parsed, "request body"))
    elif body_param is not None and body_param.get("required"):
        problems.append(f"required body parameter {body_param.get('name')!r} is missing")
    return RequestCheck(op, values, problems)


def check_request(request: Any, models: Iterable[str] | None = None) -> RequestCheck:
    """Validate a ``requests.PreparedRequest`` (or anything with ``method``, ``url``, ``headers``, ``body``)."""
    return check_http(request.method, request.url, dict(request.headers or {}), request.body, models)


def assert_request_valid(request: Any, models: Iterable[str] | None = None) -> SwaggerOperation:
    result = check_request(request, models)
    if not result.ok:
        raise AssertionError(f"{request.method} {urlsplit(request.url).path} violates the model:\n  " + "\n  ".join(result.problems))
    assert result.operation is not None
    return result.operation


def check_response(op: SwaggerOperation, status: int, body: Any) -> list[str]:
    """Problems of a response body against the schema declared for ``status`` (empty list = valid)."""
    if not op.declares_status(status):
        return [f"{op.operation_id} does not declare HTTP {status}"]
    schema = op.response_schema(status)
    if schema is None:
        return [] if body in (None, b"", "") else [f"{op.operation_id} HTTP {status} declares no body, but one was sent"]
    return schema_problems(op.model_name, schema, body, f"{op.operation_id} HTTP {status} response")


def static_cases(op: SwaggerOperation) -> list[tuple[int, dict[str, Any]]]:
    """Amazon's ``x-amzn-api-sandbox.static`` cases of an operation as (status, case) in model order."""
    out = []
    for code, entry in op.operation.get("responses", {}).items():
        for case in (entry.get("x-amzn-api-sandbox") or {}).get("static", []) or []:
            out.append((int(code), case))
    return out
