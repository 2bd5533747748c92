"""Amazon product type definitions: the JSON Schema that every listing is validated against.

``getDefinitionsProductType`` answers with an envelope (:class:`ProductTypeDefinition`: product type,
``productTypeVersion``, ``requirements``, ``propertyGroups`` and a *link* to the schema document);
the document itself is a JSON Schema written against Amazon's meta-schema
(``https://schemas.amazon.com/selling-partners/definitions/product-types/meta-schema/v1``), which
extends JSON Schema Draft 2019-09 with a custom vocabulary:

===================== ============== ==========================================================
keyword               purpose        how it is handled here
===================== ============== ==========================================================
``maxUtf8ByteLength`` validation     string length counted in UTF-8 bytes (multibyte text!)
``minUtf8ByteLength`` validation     idem, lower bound
``maxUniqueItems``    validation     each combination of ``selectors`` values may occur at most
                                     N times in the array (e.g. one ``item_name`` per
                                     marketplace + language)
``selectors``         validation     the property names that ``maxUniqueItems`` groups by
``editable``          informational  ignored
``hidden``            informational  ignored
``enumNames``         informational  ignored (display labels of ``enum``)
``$lifecycle`` …      informational  ignored
===================== ============== ==========================================================

The validator is :class:`jsonschema.Draft201909Validator` extended with the validating keywords;
jsonschema ignores the informational ones. Image pixel sizes are not part of the payload (Amazon
fetches the picture from ``media_location``), so they are checked separately, and only where the
schema declares them on the ``media_location`` property with ``minImageWidth`` / ``minImageHeight``
(see docs/products.md).

Everything here is pure: no HTTP, no Airflow. :class:`SchemaCache` keeps parsed schemas per
marketplace, product type, requirements, parentage level, version and checksum, in memory and
optionally as JSON files in a directory the caller owns.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

from jsonschema import Draft201909Validator, ValidationError, validators
from jsonschema.exceptions import SchemaError, best_match
from pydantic import BaseModel, ConfigDict, Field
from referencing import Registry
from referencing.jsonschema import DRAFT201909

AMAZON_META_SCHEMA_ID = "https://schemas.amazon.com/selling-partners/definitions/product-types/meta-schema/v1"

#: Keywords of Amazon's vocabulary that only describe presentation; they never fail validation.
INFORMATIONAL_KEYWORDS = frozenset(
    {"editable", "hidden", "enumNames", "$lifecycle", "replacedBy", "replaces", "enumDeprecated", "enumReplacement"}
)
#: Keywords of Amazon's vocabulary that this validator enforces.
VALIDATING_KEYWORDS = frozenset({"maxUtf8ByteLength", "minUtf8ByteLength", "maxUniqueItems", "selectors"})
#: Provider extension on ``media_location`` (pixels); see the module docstring.
IMAGE_KEYWORDS = ("minImageWidth", "minImageHeight")

Requirements = Literal["LISTING", "LISTING_PRODUCT_ONLY", "LISTING_OFFER_ONLY"]
ParentageLevel = Literal["NONE", "PARENT", "CHILD"]


class ProductTypeError(ValueError):
    """A product type definition or schema document that cannot be used."""


# --------------------------------------------------------------------------------------------
# Violations
# --------------------------------------------------------------------------------------------
class Violation(BaseModel):
    """One reason a listing cannot be sent, with the exact attribute path and the rule it broke.

    ``path`` is a JSON pointer into the listing message (``/attributes/item_name/0/value``,
    ``/productType``); ``rule`` is the JSON Schema keyword (``required``, ``type``, ``enum``,
    ``maxLength``, ``maxUtf8ByteLength``, ``maxUniqueItems``, ``pattern`` …) or a provider rule
    (``productTypeMapping``, ``gtinCheckDigit``, ``minImageWidth``, ``variationTheme`` …).
    ``severity="warning"`` never blocks a listing.
    """

    model_config = ConfigDict(frozen=True)

    path: str
    rule: str
    message: str
    severity: Literal["error", "warning"] = "error"

    @property
    def attribute(self) -> str | None:
        parts = self.path.split("/")
        return parts[2] if len(parts) > 2 and parts[1] == "attributes" else None

    def __str__(self) -> str:
        return f"{self.path} [{self.rule}] {self.message}"


def errors_only(violations: Iterable[Violation]) -> list[Violation]:
    return [v for v in violations if v.severity == "error"]


# --------------------------------------------------------------------------------------------
# Custom keywords
# --------------------------------------------------------------------------------------------
def _utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def _max_utf8(validator: Any, limit: Any, instance: Any, schema: Mapping[str, Any]) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and isinstance(limit, int) and _utf8_len(instance) > limit:
        yield ValidationError(f"{_utf8_len(instance)} UTF-8 bytes, maximum {limit}")


def _min_utf8(validator: Any, limit: Any, instance: Any, schema: Mapping[str, Any]) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and isinstance(limit, int) and _utf8_len(instance) < limit:
        yield ValidationError(f"{_utf8_len(instance)} UTF-8 bytes, minimum {limit}")


def _selector_key(item: Any, selectors: Sequence[str] | None) -> str:
    if selectors and isinstance(item, Mapping):
        picked = {name: item.get(name) for name in selectors}
        return json.dumps(picked, sort_keys=True, default=str)
    return json.dumps(item, sort_keys=True, default=str)


def _max_unique(validator: Any, limit: Any, instance: Any, schema: Mapping[str, Any]) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "array") or not isinstance(limit, int):
        return
    selectors = schema.get("selectors")
    counts = Counter(_selector_key(item, selectors) for item in instance)
    for combination, count in counts.items():
        if count > limit:
            yield ValidationError(
                f"{count} values share the selector combination {combination}; at most {limit} allowed"
            )


def _selectors(validator: Any, value: Any, instance: Any, schema: Mapping[str, Any]) -> Iterator[ValidationError]:
    # ``selectors`` only names the grouping properties for maxUniqueItems; it asserts nothing alone.
    return iter(())


AmazonSchemaValidator = validators.extend(
    Draft201909Validator,
    {
        "maxUtf8ByteLength": _max_utf8,
        "minUtf8ByteLength": _min_utf8,
        "maxUniqueItems": _max_unique,
        "selectors": _selectors,
    },
)


# --------------------------------------------------------------------------------------------
# Definition envelope (getDefinitionsProductType response)
# --------------------------------------------------------------------------------------------
class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class SchemaLinkRef(_Model):
    resource: str
    verb: Literal["GET"] = "GET"


class SchemaLink(_Model):
    link: SchemaLinkRef
    checksum: str


class ProductTypeVersion(_Model):
    version: str
    latest: bool
    release_candidate: bool | None = Field(default=None, alias="releaseCandidate")


class PropertyGroup(_Model):
    title: str | None = None
    description: str | None = None
    property_names: tuple[str, ...] = Field(default=(), alias="propertyNames")


class ProductTypeDefinition(_Model):
    """The ``ProductTypeDefinition`` object of the Product Type Definitions API (2020-09-01)."""

    product_type: str = Field(alias="productType")
    display_name: str = Field(alias="displayName")
    locale: str
    marketplace_ids: tuple[str, ...] = Field(alias="marketplaceIds")
    product_type_version: ProductTypeVersion = Field(alias="productTypeVersion")
    requirements: Requirements
    requirements_enforced: Literal["ENFORCED", "NOT_ENFORCED"] = Field(alias="requirementsEnforced")
    property_groups: dict[str, PropertyGroup] = Field(alias="propertyGroups")
    schema_link: SchemaLink = Field(alias="schema")
    meta_schema: SchemaLink | None = Field(default=None, alias="metaSchema")


class DefinitionRequest(_Model):
    """What to ask ``getDefinitionsProductType`` for (one marketplace per call)."""

    product_type: str
    requirements: Requirements = "LISTING"
    parentage_level: ParentageLevel = "NONE"


class SchemaKey(_Model):
    marketplace_id: str
    product_type: str
    requirements: Requirements
    parentage_level: ParentageLevel
    version: str
    checksum: str = ""

    def filename(self) -> str:
        digest = hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:16]
        safe = re.sub(r"[^A-Za-z0-9_-]", "_", self.product_type)
        return f"{self.marketplace_id}_{safe}_{self.parentage_level}_{digest}.json"


# --------------------------------------------------------------------------------------------
# Things validate_listing needs from a draft (kept structural so listings.py can import us)
# --------------------------------------------------------------------------------------------
class ImageLike(Protocol):
    @property
    def attribute(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def width(self) -> int | None: ...
    @property
    def height(self) -> int | None: ...
    @property
    def source(self) -> str: ...


class DraftLike(Protocol):
    @property
    def attributes(self) -> Mapping[str, Any]: ...
    @property
    def sources(self) -> Mapping[str, Sequence[str]]: ...
    @property
    def images(self) -> Sequence[ImageLike]: ...


# --------------------------------------------------------------------------------------------
# The schema wrapper
# --------------------------------------------------------------------------------------------
def _pointer(parts: Iterable[Any]) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _short(value: Any, limit: int = 60) -> str:
    """A value for a message: strings quoted, long values cut (never a whole description)."""
    if isinstance(value, str):
        return repr(value if len(value) <= limit else value[: limit - 1] + "…")
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


_JSON_TYPES = {str: "string", bool: "boolean", int: "integer", float: "number", list: "array", dict: "object"}


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    for py, name in _JSON_TYPES.items():
        if isinstance(value, py):
            return name
    return type(value).__name__


class ProductTypeSchema:
    """A parsed product type schema document plus the definition facts it came with.

    Build it with :meth:`from_definition` (an API response envelope + the downloaded document) or
    directly from a document. Instances are immutable and safe to share between threads.
    """

    def __init__(
        self,
        document: Mapping[str, Any],
        *,
        product_type: str,
        version: str,
        marketplace_id: str | None = None,
        requirements: Requirements = "LISTING",
        parentage_level: ParentageLevel = "NONE",
        requirements_enforced: Literal["ENFORCED", "NOT_ENFORCED"] = "ENFORCED",
        property_groups: Mapping[str, PropertyGroup] | None = None,
        checksum: str = "",
    ) -> None:
        if not isinstance(document, Mapping):
            raise ProductTypeError(f"{product_type}: schema document must be a JSON object, got {_json_type(document)}")
        props = document.get("properties")
        if not isinstance(props, Mapping) or not props:
            raise ProductTypeError(
                f"{product_type}: schema document has no 'properties' — is this the schema document "
                "(schema.link.resource) rather than the definition envelope?"
            )
        declared = document.get("$schema")
        known = declared in (None, AMAZON_META_SCHEMA_ID) or "2019-09" in str(declared) or "2020-12" in str(declared)
        if not known:
            raise ProductTypeError(
                f"{product_type}: unsupported $schema {declared!r}; expected Amazon's meta-schema "
                f"{AMAZON_META_SCHEMA_ID}"
            )
        try:
            AmazonSchemaValidator.check_schema(document)
        except SchemaError as exc:
            where = _pointer(exc.absolute_path) or "/"
            raise ProductTypeError(
                f"{product_type}: schema document is not valid JSON Schema at {where}: {exc.message}"
            ) from None
        self.document: Mapping[str, Any] = document
        self.product_type = product_type
        self.version = version
        self.marketplace_id = marketplace_id
        self.requirements: Requirements = requirements
        self.parentage_level: ParentageLevel = parentage_level
        self.requirements_enforced = requirements_enforced
        self.property_groups = dict(property_groups or {})
        self.checksum = checksum
        self._validator = AmazonSchemaValidator(document)
        base = str(document.get("$id") or f"urn:amznetsuite:product-type:{product_type}")
        self._resolver = Registry().with_resource(base, DRAFT201909.create_resource(dict(document))).resolver(base)

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def from_definition(
        cls,
        definition: Mapping[str, Any] | ProductTypeDefinition,
        document: Mapping[str, Any] | str | bytes,
        *,
        marketplace_id: str | None = None,
        parentage_level: ParentageLevel = "NONE",
    ) -> ProductTypeSchema:
        """Combine a ``getDefinitionsProductType`` response with its downloaded schema document."""
        if not isinstance(definition, ProductTypeDefinition):
            try:
                definition = ProductTypeDefinition.model_validate(definition)
            except Exception as exc:  # pydantic ValidationError: name the missing envelope fields
                raise ProductTypeError(f"not a ProductTypeDefinition response: {exc}") from None
        if isinstance(document, (str, bytes)):
            try:
                document = json.loads(document)
            except (ValueError, UnicodeDecodeError) as exc:
                raise ProductTypeError(f"{definition.product_type}: schema document is not JSON ({exc})") from None
        mp = marketplace_id or (definition.marketplace_ids[0] if definition.marketplace_ids else None)
        if marketplace_id and definition.marketplace_ids and marketplace_id not in definition.marketplace_ids:
            raise ProductTypeError(
                f"{definition.product_type}: definition is for {', '.join(definition.marketplace_ids)}, "
                f"not {marketplace_id}"
            )
        return cls(
            document,  # type: ignore[arg-type]
            product_type=definition.product_type,
            version=definition.product_type_version.version,
            marketplace_id=mp,
            requirements=definition.requirements,
            parentage_level=parentage_level,
            requirements_enforced=definition.requirements_enforced,
            property_groups=definition.property_groups,
            checksum=definition.schema_link.checksum,
        )

    @property
    def key(self) -> SchemaKey:
        return SchemaKey(
            marketplace_id=self.marketplace_id or "", product_type=self.product_type, requirements=self.requirements,
            parentage_level=self.parentage_level, version=self.version, checksum=self.checksum,
        )

    # -- introspection --------------------------------------------------------------------
    @property
    def properties(self) -> Mapping[str, Any]:
        return self.document["properties"]  # type: ignore[no-any-return]

    @property
    def required(self) -> frozenset[str]:
        return frozenset(self.document.get("required") or ())

    def has_attribute(self, name: str) -> bool:
        return name in self.properties

    def _resolve(self, node: Any) -> Any:
        seen = 0
        while isinstance(node, Mapping) and "$ref" in node and seen < 20:
            node = self._resolver.lookup(node["$ref"]).contents
            seen += 1
        return node

    def item_properties(self, attribute: str) -> Mapping[str, Any]:
        """``properties`` of one array item of ``attribute`` (``$ref`` resolved); {} if unknown."""
        prop = self._resolve(self.properties.get(attribute))
        if not isinstance(prop, Mapping):
            return {}
        items = self._resolve(prop.get("items"))
        if not isinstance(items, Mapping):
            return {}
        props = items.get("properties")
        return props if isinstance(props, Mapping) else {}

    def accepts_language_tag(self, attribute: str) -> bool:
        return "language_tag" in self.item_properties(attribute)

    def image_rule(self, attribute: str) -> tuple[int | None, int | None]:
        """(min width, min height) in pixels declared on ``attribute.media_location``, if any."""
        loc = self._resolve(self.item_properties(attribute).get("media_location"))
        if not isinstance(loc, Mapping):
            return (None, None)
        w, h = loc.get("minImageWidth"), loc.get("minImageHeight")
        return (w if isinstance(w, int) else None, h if isinstance(h, int) else None)

    def enum_values(self, attribute: str, field: str = "value") -> tuple[Any, ...]:
        node = self._resolve(self.item_properties(attribute).get(field))
        if isinstance(node, Mapping) and isinstance(node.get("enum"), list):
            return tuple(node["enum"])
        return ()

    # -- validation -----------------------------------------------------------------------
    def validate_attributes(
        self, attributes: Mapping[str, Any], *, sources: Mapping[str, Sequence[str]] | None = None
    ) -> list[Violation]:
        """Validate an ``attributes`` object; violations sorted by path, one per problem."""
        out: list[Violation] = []
        seen: set[tuple[str, str]] = set()
        for error in self._validator.iter_errors(dict(attributes)):
            for violation in self._violations_for(_deepest(error), attributes, sources or {}):
                key = (violation.path, violation.rule)
                if key not in seen:
                    seen.add(key)
                    out.append(violation)
        return sorted(out, key=lambda v: (v.path, v.rule))

    def validate_listing(self, draft: DraftLike) -> list[Violation]:
        """Schema violations plus declared image-size rules for one listing draft."""
        violations = self.validate_attributes(draft.attributes, sources=draft.sources)
        violations.extend(self._image_violations(draft))
        return sorted(violations, key=lambda v: (v.path, v.rule))

    def _image_violations(self, draft: DraftLike) -> list[Violation]:
        out: list[Violation] = []
        for image in draft.images:
            if image.attribute not in draft.attributes:
                continue
            min_w, min_h = self.image_rule(image.attribute)
            if min_w is None and min_h is None:
                continue
            path = f"/attributes/{image.attribute}/0/media_location"
            fields = f"{image.source}_width / {image.source}_height"
            if image.width is None or image.height is None:
                out.append(Violation(
                    path=path, rule="imageDimensionsUnknown", severity="warning",
                    message=f"{image.attribute}: pixel size unknown, Amazon requires at least "
                            f"{min_w or '?'}×{min_h or '?'} px — fill {fields} to check it before sending",
                ))
                continue
            if min_w is not None and image.width < min_w:
                out.append(Violation(
                    path=path, rule="minImageWidth",
                    message=f"{image.attribute}: image is {image.width} px wide, minimum {min_w} px — "
                            f"upload a larger image to {image.source}",
                ))
            if min_h is not None and image.height < min_h:
                out.append(Violation(
                    path=path, rule="minImageHeight",
                    message=f"{image.attribute}: image is {image.height} px high, minimum {min_h} px — "
                            f"upload a larger image to {image.source}",
                ))
        return out

    def _violations_for(
        self, error: ValidationError, attributes: Mapping[str, Any], sources: Mapping[str, Sequence[str]]
    ) -> Iterator[Violation]:
        parts = list(error.absolute_path)
        rule = str(error.validator)
        if rule == "required":
            instance = error.instance if isinstance(error.instance, Mapping) else {}
            for name in error.validator_value:
                if name in instance:
                    continue
                sub = [*parts, name]
                yield Violation(path="/attributes" + _pointer(sub), rule="required",
                                message=self._required_message(sub, sources))
            return
        if rule == "additionalProperties" and isinstance(error.instance, Mapping):
            allowed = set((error.schema or {}).get("properties", {}))
            for name in error.instance:
                if name not in allowed:
                    sub = [*parts, name]
                    attr = str(sub[0])
                    yield Violation(path="/attributes" + _pointer(sub), rule="additionalProperties",
                                    message=f"{attr}: '{name}' is not allowed here by the {self.product_type} schema")
            return
        attr = str(parts[0]) if parts else ""
        yield Violation(path="/attributes" + _pointer(parts), rule=rule,
                        message=self._message(rule, error, attr, parts, sources))

    def _hint(self, attr: str, sources: Mapping[str, Sequence[str]]) -> str:
        fields = list(sources.get(attr) or ())
        if not fields:
            return f"; the provider does not map {attr} — set custitem_amz_attr_{attr} in NetSuite"
        if len(fields) == 1:
            return f" — set {fields[0]}"
        return f" — set {fields[0]} (or {', '.join(fields[1:])})"

    def _fix(self, attr: str, sources: Mapping[str, Sequence[str]]) -> str:
        fields = list(sources.get(attr) or ())
        return f" — fix {' / '.join(fields[:2])}" if fields else ""

    def _required_message(self, sub: Sequence[Any], sources: Mapping[str, Sequence[str]]) -> str:
        attr = str(sub[0])
        if len(sub) == 1:
            return f"{attr}: required attribute missing" + self._hint(attr, sources)
        inner = "/".join(str(p) for p in sub[1:])
        return f"{attr}: '{inner}' is required by the {self.product_type} schema" + self._fix(attr, sources)

    def _message(
        self, rule: str, error: ValidationError, attr: str, parts: Sequence[Any], sources: Mapping[str, Sequence[str]]
    ) -> str:
        fix = self._fix(attr, sources)
        value = error.instance
        limit = error.validator_value
        where = attr if len(parts) <= 1 else f"{attr} ({'/'.join(str(p) for p in parts[1:])})"
        if rule == "type":
            return f"{where}: must be {limit} (got {_json_type(value)} {_short(value)})" + fix
        if rule in ("enum", "const"):
            allowed = list(limit) if rule == "enum" else [limit]
            shown = ", ".join(str(a) for a in allowed[:12]) + (" …" if len(allowed) > 12 else "")
            return f"{where}: {_short(value)} is not allowed; expected one of {shown}" + fix
        if rule in ("maxLength", "minLength") and isinstance(value, str):
            word = "maximum" if rule == "maxLength" else "minimum"
            return f"{where}: {len(value)} characters, {word} {limit}" + fix
        if rule in ("maxUtf8ByteLength", "minUtf8ByteLength") and isinstance(value, str):
            word = "maximum" if rule.startswith("max") else "minimum"
            return (f"{where}: {_utf8_len(value)} bytes in UTF-8 ({len(value)} characters; accented and "
                    f"non-Latin characters take 2–4 bytes), {word} {limit} bytes") + fix
        if rule == "maxUniqueItems":
            return f"{where}: {error.message}" + fix
        if rule in ("maxItems", "minItems") and isinstance(value, list):
            word = "at most" if rule == "maxItems" else "at least"
            return f"{where}: {len(value)} values, {word} {limit} allowed" + fix
        if rule == "pattern":
            return f"{where}: {_short(value)} does not match the required pattern {limit}" + fix
        if rule in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
            return f"{where}: {_short(value)} violates {rule} {limit}" + fix
        return f"{where}: {error.message}" + fix


def _deepest(error: ValidationError) -> ValidationError:
    """For anyOf/oneOf failures pick the most relevant branch error (jsonschema's best_match)."""
    while error.validator in ("anyOf", "oneOf") and error.context:
        best = best_match(error.context)
        if best is None or best is error:
            break
        error = best
    return error


def validate_listing(draft: DraftLike, schema: ProductTypeSchema) -> list[Violation]:
    """Module-level spelling of :meth:`ProductTypeSchema.validate_listing`."""
    return schema.validate_listing(draft)


# --------------------------------------------------------------------------------------------
# Cache
# --------------------------------------------------------------------------------------------
class SchemaCache:
    """Parsed product type schemas, keyed by :class:`SchemaKey`.

    Flow for an operator: call ``getDefinitionsProductType`` (cheap), build the key with
    :meth:`key_for`, and only download ``schema.link.resource`` when :meth:`get` misses. With a
    ``directory`` the raw definition + document are also kept as JSON files, so a new task process
    reuses them without downloading again.
    """

    def __init__(self, directory: str | Path | None = None) -> None:
        self._memory: dict[SchemaKey, ProductTypeSchema] = {}
        self._lock = threading.Lock()
        self.directory = Path(directory) if directory else None

    @staticmethod
    def key_for(
        definition: Mapping[str, Any] | ProductTypeDefinition,
        *,
        marketplace_id: str,
        parentage_level: ParentageLevel = "NONE",
    ) -> SchemaKey:
        if not isinstance(definition, ProductTypeDefinition):
            definition = ProductTypeDefinition.model_validate(definition)
        return SchemaKey(
            marketplace_id=marketplace_id, product_type=definition.product_type, requirements=definition.requirements,
            parentage_level=parentage_level, version=definition.product_type_version.version,
            checksum=definition.schema_link.checksum,
        )

    def get(self, key: SchemaKey) -> ProductTypeSchema | None:
        with self._lock:
            hit = self._memory.get(key)
        if hit is not None or self.directory is None:
            return hit
        path = self.directory / key.filename()
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return None
        if stored.get("key") != key.model_dump():
            return None
        schema = ProductTypeSchema.from_definition(
            stored["definition"], stored["document"], marketplace_id=key.marketplace_id,
            parentage_level=key.parentage_level,
        )
        with self._lock:
            self._memory[key] = schema
        return schema

    def put(
        self,
        definition: Mapping[str, Any],
        document: Mapping[str, Any] | str | bytes,
        *,
        marketplace_id: str,
        parentage_level: ParentageLevel = "NONE",
    ) -> ProductTypeSchema:
        schema = ProductTypeSchema.from_definition(
            definition, document, marketplace_id=marketplace_id, parentage_level=parentage_level
        )
        key = schema.key
        with self._lock:
            self._memory[key] = schema
        if self.directory is not None:
            self.directory.mkdir(parents=True, exist_ok=True)
            payload = {"key": key.model_dump(), "definition": dict(definition), "document": dict(schema.document)}
            tmp = self.directory / (key.filename() + ".tmp")
            tmp.write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")
            tmp.replace(self.directory / key.filename())
        return schema

    def __len__(self) -> int:
        with self._lock:
            return len(self._memory)
