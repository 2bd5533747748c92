"""Product type definitions (KITCHEN, SHIRT, TOY_FIGURE, HOME) and attribute validation.

The data files in ``product_types/`` hold the attribute schemas; a schema document per
(product type, marketplace, requirements, enforcement) is built from them, shaped like Amazon's:
``$schema`` is Amazon's product-type meta-schema URI (served by the sandbox, an extension of JSON
Schema draft 2019-09 declaring Amazon's vocabulary ``selectors``, ``editable``, ``hidden``,
``enumNames``, ``minUniqueItems``/``maxUniqueItems``); validate documents with
``jsonschema.Draft201909Validator``. ``requirementsEnforced=NOT_ENFORCED`` drops ``required`` and
the conditional requirements, as Amazon does for PATCH / PARTIAL_UPDATE payloads.

Image pixel minimums: Amazon's vocabulary has no image-size keyword (its style guides state the
sizes). The sandbox declares them with its own keywords ``minImageWidth`` / ``minImageHeight``
(integers, pixels) on each image attribute's ``media_location`` property, also declared in the
served meta-schema. They are informational for validation here: the payload carries only the URL.

Conditional requirements (``allOf`` of ``if``/``then``): a product identifier unless the brand is
exempt, an ASIN is suggested or the SKU is a variation parent; SHIRT children name their parent,
parents their variation theme, and sellable shirts their size and colour.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from functools import lru_cache
from importlib import resources
from typing import Any

from jsonschema import Draft201909Validator

from airflow_provider_amznetsuite.sandbox import catalog
from airflow_provider_amznetsuite.sandbox.spapi.marketplaces import LISTING_BY_ID

META_SCHEMA_ID = "https://schemas.amazon.com/selling-partners/definitions/product-types/meta-schema/v1"
SCHEMA_ID_BASE = "https://schemas.amazon.com/selling-partners/definitions/product-types/schema/v1/"
REQUIREMENTS = ("LISTING", "LISTING_PRODUCT_ONLY", "LISTING_OFFER_ONLY")
LANGUAGES = {"uk": ("en_GB",), "de": ("de_DE", "en_GB"), "us": ("en_US", "es_US"), "jp": ("ja_JP", "en_US")}
CATEGORY_PRODUCT_TYPES = {"Kitchen": "KITCHEN", "Apparel": "SHIRT", "Toys": "TOY_FIGURE", "Home": "HOME"}
# Default selector values when an attribute entry omits a selector field.
SELECTOR_DEFAULTS = {"audience": "ALL"}


class UnknownProductType(KeyError):
    pass


def _read(name: str) -> dict[str, Any]:
    data = resources.files("airflow_provider_amznetsuite.sandbox.spapi").joinpath("product_types").joinpath(name).read_text("utf-8")
    return json.loads(data)


@lru_cache(maxsize=1)
def _library() -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    shared = _read("_attributes.json")
    types = {}
    for name in ("KITCHEN", "SHIRT", "TOY_FIGURE", "HOME"):
        types[name] = _read(f"{name}.json")
    return shared, types


def product_types() -> list[str]:
    return sorted(_library()[1])


def definition_meta(product_type: str) -> dict[str, Any]:
    try:
        return _library()[1][product_type]
    except KeyError:
        raise UnknownProductType(product_type) from None


def _mp(marketplace_id: str) -> catalog.SandboxMarketplace:
    try:
        return LISTING_BY_ID[marketplace_id]
    except KeyError:
        raise ValueError(f"unknown marketplace id {marketplace_id!r}") from None


@lru_cache(maxsize=128)
def _schema_cached(product_type: str, marketplace_id: str, requirements: str, enforced: bool) -> str:
    shared, _ = _library()
    meta = definition_meta(product_type)
    mp = _mp(marketplace_id)
    langs = LANGUAGES[mp.code]
    props: dict[str, Any] = {}
    for name in meta["attributes"]:
        props[name] = copy.deepcopy(shared["attributes"][name])
    for name, spec in meta.get("properties", {}).items():
        props[name] = copy.deepcopy(spec)
    schema: dict[str, Any] = {
        "$schema": META_SCHEMA_ID,
        "$id": SCHEMA_ID_BASE + product_type,
        "$comment": f"Sandbox product type definition for {product_type} ({mp.marketplace_name}, {requirements}, "
                    f"{'ENFORCED' if enforced else 'NOT_ENFORCED'}).",
        "$defs": {
            "marketplace_id": {"default": mp.marketplace_id, "editable": False, "hidden": True, "type": "string",
                               "enum": [mp.marketplace_id], "enumNames": [mp.marketplace_name]},
            "language_tag": {"default": langs[0], "editable": False, "hidden": True, "type": "string",
                             "enum": list(langs), "enumNames": list(langs)},
            "currency": {"default": mp.currency, "editable": False, "hidden": True, "type": "string",
                         "enum": [mp.currency], "enumNames": [mp.currency]},
        },
        "type": "object",
        "properties": props,
    }
    if enforced:
        schema["required"] = list(meta["requirements"][requirements])
        if requirements != "LISTING_OFFER_ONLY" and meta.get("conditionalRequirements"):
            schema["allOf"] = copy.deepcopy(meta["conditionalRequirements"])
    return json.dumps(schema, ensure_ascii=False, sort_keys=False)


def build_schema(product_type: str, marketplace_id: str, requirements: str = "LISTING",
                 enforced: bool = True) -> dict[str, Any]:
    if requirements not in REQUIREMENTS:
        raise ValueError(f"requirements must be one of {REQUIREMENTS}, got {requirements!r}")
    return json.loads(_schema_cached(product_type, marketplace_id, requirements, enforced))


def schema_bytes(product_type: str, marketplace_id: str, requirements: str, enforced: bool) -> bytes:
    return _schema_cached(product_type, marketplace_id, requirements, enforced).encode("utf-8")


def checksum(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def meta_schema() -> dict[str, Any]:
    draft = "https://json-schema.org/draft/2019-09"
    str_array = {"type": "array", "items": {"type": "string"}}
    pixels = {"type": "integer", "minimum": 1}
    return {
        "$schema": f"{draft}/schema",
        "$id": META_SCHEMA_ID,
        "$vocabulary": {f"{draft}/vocab/core": True, f"{draft}/vocab/applicator": True,
                        f"{draft}/vocab/validation": True, f"{draft}/vocab/meta-data": True,
                        f"{draft}/vocab/format": False, f"{draft}/vocab/content": True,
                        META_SCHEMA_ID + "/vocab": False},
        "$recursiveAnchor": True,
        "title": "Sandbox product type meta-schema (Amazon's vocabulary + the sandbox image keywords on "
                 "JSON Schema draft 2019-09)",
        "allOf": [{"$ref": f"{draft}/schema"}],
        "properties": {
            "selectors": str_array, "editable": {"type": "boolean"}, "hidden": {"type": "boolean"},
            "enumNames": str_array, "minUniqueItems": {"type": "integer", "minimum": 0},
            "maxUniqueItems": {"type": "integer", "minimum": 0},
            "minImageWidth": pixels, "minImageHeight": pixels,
        },
    }


def definition_response(product_type: str, marketplace_id: str, *, requirements: str, enforced: bool,
                        locale: str, schema_url: str, meta_url: str) -> dict[str, Any]:
    """``ProductTypeDefinition`` (getDefinitionsProductType 200 body)."""
    shared, _ = _library()
    meta = definition_meta(product_type)
    names = set(meta["attributes"]) | set(meta.get("properties", {}))
    groups = {}
    for key, group in shared["propertyGroups"].items():
        members = [n for n in group["propertyNames"] if n in names]
        if members:
            groups[key] = {"title": group["title"], "description": group["description"], "propertyNames": members}
    data = schema_bytes(product_type, marketplace_id, requirements, enforced)
    meta_data = json.dumps(meta_schema()).encode()
    return {
        "metaSchema": {"link": {"resource": meta_url, "verb": "GET"}, "checksum": checksum(meta_data)},
        "schema": {"link": {"resource": schema_url, "verb": "GET"}, "checksum": checksum(data)},
        "requirements": requirements,
        "requirementsEnforced": "ENFORCED" if enforced else "NOT_ENFORCED",
        "propertyGroups": groups,
        "locale": locale,
        "marketplaceIds": [marketplace_id],
        "productType": product_type,
        "displayName": meta["displayName"],
        "productTypeVersion": {"version": meta["productTypeVersion"], "latest": True, "releaseCandidate": False},
    }


@lru_cache(maxsize=128)
def _validator(product_type: str, marketplace_id: str, requirements: str, enforced: bool) -> Draft201909Validator:
    return Draft201909Validator(build_schema(product_type, marketplace_id, requirements, enforced))


def selectors_for(product_type: str, attribute: str) -> list[str]:
    shared, _ = _library()
    meta = definition_meta(product_type)
    spec = meta.get("properties", {}).get(attribute) or shared["attributes"].get(attribute) or {}
    return list(spec.get("selectors", ["marketplace_id", "language_tag"]))


def _issue(code: str, message: str, severity: str, attribute: str | None, category: str) -> dict[str, Any]:
    issue: dict[str, Any] = {"code": code, "message": message, "severity": severity, "categories": [category]}
    if attribute:
        issue["attributeNames"] = [attribute]
    return issue


def validate_attributes(product_type: str, marketplace_id: str, attributes: dict[str, Any], *,
                        requirements: str = "LISTING", enforced: bool = True) -> list[dict[str, Any]]:
    """Listings-Items-API-shaped issues for ``attributes`` (empty list = valid)."""
    try:
        meta = definition_meta(product_type)
    except UnknownProductType:
        return [_issue("90244", f"The product type '{product_type}' is not supported in this marketplace. "
                                f"Supported product types: {', '.join(product_types())}.", "ERROR", None,
                       "INVALID_ATTRIBUTE")]
    issues: list[dict[str, Any]] = []
    known = set(meta["attributes"]) | set(meta.get("properties", {}))
    for name in attributes:
        if name not in known:
            issues.append(_issue("99300", f"The attribute '{name}' is not defined for product type '{product_type}' "
                                          "and was ignored.", "WARNING", name, "INVALID_ATTRIBUTE"))
    validator = _validator(product_type, marketplace_id, requirements, enforced)
    seen: set[tuple[str, str]] = set()
    for err in sorted(validator.iter_errors(attributes), key=lambda e: (list(e.absolute_path), e.message)):
        if err.validator == "required" and not err.absolute_path:
            missing = [n for n in err.validator_value if n not in attributes]
            for name in missing:
                key = ("90220", name)
                if key not in seen:
                    seen.add(key)
                    issues.append(_issue("90220", f"'[{name}]' is required but not supplied.", "ERROR", name,
                                         "MISSING_ATTRIBUTE"))
            continue
        path = [str(p) for p in err.absolute_path]
        attribute = path[0] if path else None
        where = ".".join(p for p in path if not p.isdigit()) or "attributes"
        detail = err.message if len(err.message) <= 200 else err.message[:197] + "..."
        key = ("4000001", where + detail)
        if key in seen:
            continue
        seen.add(key)
        issues.append(_issue("4000001", f"The value provided for '{where}' is invalid: {detail}", "ERROR", attribute,
                             "INVALID_ATTRIBUTE"))
    issues += _selector_issues(product_type, marketplace_id, attributes)
    return issues


def _selector_values(entry: Any, selectors: list[str], marketplace_id: str) -> tuple[Any, ...]:
    if not isinstance(entry, dict):
        return (repr(entry),)
    out = []
    for s in selectors:
        default = marketplace_id if s == "marketplace_id" else SELECTOR_DEFAULTS.get(s)
        out.append(json.dumps(entry.get(s, default), sort_keys=True))
    return tuple(out)


def _selector_issues(product_type: str, marketplace_id: str, attributes: dict[str, Any]) -> list[dict[str, Any]]:
    shared, _ = _library()
    meta = definition_meta(product_type)
    issues = []
    for name, values in attributes.items():
        spec = meta.get("properties", {}).get(name) or shared["attributes"].get(name)
        if not spec or not isinstance(values, list):
            continue
        max_unique = spec.get("maxUniqueItems")
        selectors = spec.get("selectors", [])
        if not selectors:
            continue
        groups: dict[tuple[Any, ...], int] = {}
        for entry in values:
            key = _selector_values(entry, selectors, marketplace_id)
            groups[key] = groups.get(key, 0) + 1
        identifying = set(selectors) - {"marketplace_id", "language_tag"}
        limit = 1 if identifying else (max_unique or len(values))
        if any(n > limit for n in groups.values()):
            issues.append(_issue("99010", f"The attribute '{name}' allows at most {limit} value(s) per "
                                          f"{'/'.join(selectors)} but more were supplied.", "ERROR", name,
                                 "INVALID_ATTRIBUTE"))
    return issues


def product_type_for_category(category: str) -> str:
    return CATEGORY_PRODUCT_TYPES.get(category, "HOME")
