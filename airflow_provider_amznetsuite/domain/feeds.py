"""JSON_LISTINGS_FEED documents (v2) and their processing reports — shared by inventory, pricing and products.

Building
    :func:`plan_listings_feeds` packs :class:`FeedMessage` objects, in the order given, into as few feed
    documents as the limits allow (≤ ``max_messages`` messages and ≤ ``max_bytes`` bytes of UTF-8 JSON
    each; Amazon's limits are 25,000 messages and 10 MiB). Packing keeps the input order and fills each
    feed before opening the next, which for an ordered sequence gives the minimum number of feeds.
    :func:`build_listings_feeds` returns just the bytes. Each document is valid against Amazon's
    ``listings-feed-schema-v2.json``.

    ``messageId`` is either set on every message by the caller (it must then be unique within a feed, and
    we require it unique within the whole call) or on none of them, in which case each feed numbers its
    messages 1..n. :class:`FeedDocument.sent` gives ``{messageId: sku}`` for reading the report.

    Decimal amounts in attributes/patch values are written as exact JSON numbers (``12.50``, ``1200``),
    never through float.

Reading the processing report
    See :func:`parse_processing_report` for the precise acceptance rule.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

MAX_MESSAGES = 25_000
MAX_BYTES = 10 * 1024 * 1024  # 10 MiB = 10,485,760 bytes
MAX_MESSAGE_ID = 2_147_483_647
FEED_TYPE = "JSON_LISTINGS_FEED"
CONTENT_TYPE = "application/json; charset=UTF-8"

OperationType = Literal["UPDATE", "PARTIAL_UPDATE", "PATCH", "DELETE"]
PatchOpName = Literal["add", "replace", "merge", "delete"]
Requirements = Literal["LISTING", "LISTING_PRODUCT_ONLY", "LISTING_OFFER_ONLY"]

_OPERATIONS = ("UPDATE", "PARTIAL_UPDATE", "PATCH", "DELETE")
_PATCH_OPS = ("add", "replace", "merge", "delete")
_REQUIREMENTS = ("LISTING", "LISTING_PRODUCT_ONLY", "LISTING_OFFER_ONLY")
_PATH_RE = re.compile(r"^/attributes/[A-Za-z0-9_]+\Z")  # only top-level attributes can be patched


class FeedError(ValueError):
    """A message or feed that cannot be built; the text names the SKU/field and the fix."""


# --- messages ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PatchOperation:
    """One JSON-patch operation on a top-level listing attribute."""

    op: PatchOpName
    path: str
    value: tuple[Mapping[str, Any], ...] | None = None

    def __post_init__(self) -> None:
        if self.op not in _PATCH_OPS:
            raise FeedError(f"patch op {self.op!r} is not one of {', '.join(_PATCH_OPS)}")
        if not _PATH_RE.match(self.path):
            raise FeedError(
                f"patch path {self.path!r} must be '/attributes/<attribute_name>' (only top-level attributes can be patched)"
            )
        if self.value is not None:
            object.__setattr__(self, "value", tuple(self.value))
            for entry in self.value:
                if not isinstance(entry, Mapping):
                    raise FeedError(f"patch {self.path}: every value entry must be an object, got {type(entry).__name__}")
        elif self.op != "delete":
            raise FeedError(f"patch {self.path}: op {self.op!r} needs a value (a list of objects)")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"op": self.op, "path": self.path}
        if self.value is not None:
            out["value"] = [dict(v) for v in self.value]
        return out


@dataclass(frozen=True, slots=True)
class FeedMessage:
    """One JSON_LISTINGS_FEED message. Field rules mirror the schema's ``oneOf`` per operation type."""

    sku: str
    operation_type: OperationType
    product_type: str | None = None
    patches: tuple[PatchOperation, ...] | None = None
    attributes: Mapping[str, Any] | None = None
    requirements: Requirements | None = None
    message_id: int | None = None

    def __post_init__(self) -> None:
        where = f"message for SKU {self.sku!r}"
        if not isinstance(self.sku, str) or not self.sku.strip():
            raise FeedError(f"feed message: sku must be a non-empty string, got {self.sku!r}")
        if self.operation_type not in _OPERATIONS:
            raise FeedError(f"{where}: operationType {self.operation_type!r} is not one of {', '.join(_OPERATIONS)}")
        if self.message_id is not None and (
            isinstance(self.message_id, bool) or not isinstance(self.message_id, int)
            or not 1 <= self.message_id <= MAX_MESSAGE_ID
        ):
            raise FeedError(f"{where}: messageId {self.message_id!r} must be an integer 1..{MAX_MESSAGE_ID}")
        if self.requirements is not None and self.requirements not in _REQUIREMENTS:
            raise FeedError(f"{where}: requirements {self.requirements!r} is not one of {', '.join(_REQUIREMENTS)}")
        if self.patches is not None:
            object.__setattr__(self, "patches", tuple(self.patches))
        op = self.operation_type
        if op == "DELETE":
            if self.product_type is not None or self.patches is not None or self.attributes is not None or self.requirements:
                raise FeedError(f"{where}: DELETE takes no productType, attributes, patches or requirements")
            return
        if not self.product_type:
            raise FeedError(f"{where}: {op} needs a productType (e.g. 'PRODUCT' or the item's Amazon product type)")
        if op == "PATCH":
            if self.attributes is not None or self.requirements is not None:
                raise FeedError(f"{where}: PATCH takes patches only (no attributes, no requirements)")
            if not self.patches:
                raise FeedError(f"{where}: PATCH needs at least one patch operation")
            for p in self.patches:
                if not isinstance(p, PatchOperation):
                    raise FeedError(f"{where}: patches must be PatchOperation objects, got {type(p).__name__}")
        else:
            if self.patches is not None:
                raise FeedError(f"{where}: {op} takes attributes, not patches (use operationType PATCH)")
            if not self.attributes:
                raise FeedError(f"{where}: {op} needs a non-empty attributes object")
            if op == "PARTIAL_UPDATE" and self.requirements is not None:
                raise FeedError(f"{where}: PARTIAL_UPDATE takes no requirements")

    @classmethod
    def patch(cls, sku: str, product_type: str, patches: Iterable[PatchOperation], *, message_id: int | None = None) -> FeedMessage:
        return cls(sku=sku, operation_type="PATCH", product_type=product_type, patches=tuple(patches), message_id=message_id)

    def to_json(self, message_id: int | None = None) -> dict[str, Any]:
        mid = message_id if message_id is not None else self.message_id
        if mid is None:
            raise FeedError(f"message for SKU {self.sku!r} has no messageId")
        out: dict[str, Any] = {"messageId": mid, "sku": self.sku, "operationType": self.operation_type}
        if self.product_type is not None:
            out["productType"] = self.product_type
        if self.requirements is not None:
            out["requirements"] = self.requirements
        if self.attributes is not None:
            out["attributes"] = dict(self.attributes)
        if self.patches is not None:
            out["patches"] = [p.to_json() for p in self.patches]
        return out


# --- patch helpers ---------------------------------------------------------------------------------
def fulfillment_availability_patch(quantity: int, handling_time_days: int | None = None) -> PatchOperation:
    """``merge`` of the seller-fulfilled (``DEFAULT``) quantity; other fulfillment_availability fields stay."""
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 0:
        raise FeedError(f"fulfillment_availability quantity must be a non-negative integer, got {quantity!r}")
    entry: dict[str, Any] = {"fulfillment_channel_code": "DEFAULT", "quantity": quantity}
    if handling_time_days is not None:
        if isinstance(handling_time_days, bool) or not isinstance(handling_time_days, int) or handling_time_days < 0:
            raise FeedError(f"handling_time_days must be a non-negative integer, got {handling_time_days!r}")
        entry["lead_time_to_ship_max_days"] = handling_time_days
    return PatchOperation(op="merge", path="/attributes/fulfillment_availability", value=(entry,))


def purchasable_offer_patch(offers: Sequence[Mapping[str, Any]]) -> PatchOperation:
    """``merge`` of ``purchasable_offer`` entries (each keyed by marketplace_id + currency + audience)."""
    if not offers:
        raise FeedError("purchasable_offer patch needs at least one offer")
    seen: set[tuple[Any, Any, Any]] = set()
    for o in offers:
        missing = [k for k in ("marketplace_id", "currency", "audience") if not o.get(k)]
        if missing:
            raise FeedError(f"purchasable_offer entry lacks selector field(s) {', '.join(missing)}; merge needs all three")
        key = (o["marketplace_id"], o["currency"], o["audience"])
        if key in seen:
            raise FeedError(f"purchasable_offer has two entries for {key}; combine them")
        seen.add(key)
    return PatchOperation(op="merge", path="/attributes/purchasable_offer", value=tuple(offers))


# --- serialisation -----------------------------------------------------------------------------------
class _Encoder:
    """Compact JSON with Decimals as exact numbers (json cannot do this natively without float)."""

    def __init__(self) -> None:
        self._token = "\x00dec" + secrets.token_hex(8) + ":"
        quoted = json.dumps(self._token)[1:-1]  # how the token appears inside a JSON string
        self._pattern = re.compile('"' + re.escape(quoted) + r'(-?[0-9]+(?:\.[0-9]+)?)"')

    def _default(self, obj: Any) -> Any:
        if isinstance(obj, Decimal):
            if not obj.is_finite():
                raise FeedError(f"cannot write the non-finite amount {obj!r} into a feed")
            text = format(obj, "f")
            if text.startswith("-0") and obj == 0:
                text = text[1:]
            return self._token + text
        if isinstance(obj, (tuple, frozenset, set)):
            return list(obj)
        if isinstance(obj, Mapping):
            return dict(obj)
        raise FeedError(f"cannot write a {type(obj).__name__} value into a feed (use str, int, Decimal, list, dict)")

    def dumps(self, value: Any) -> str:
        if isinstance(value, float):
            raise FeedError("refusing a float in a feed: use Decimal for amounts")
        text = json.dumps(value, default=self._default, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        if self._token[1:] in text:
            text = self._pattern.sub(r"\1", text)
        return text


def _check_no_float(value: Any, sku: str) -> None:
    """Floats would reach the JSON unrounded-but-binary; amounts must be Decimal."""
    stack = [value]
    while stack:
        v = stack.pop()
        t = type(v)
        if t is float:
            raise FeedError(f"message for SKU {sku!r}: float value {v!r} found; pass amounts as Decimal")
        if t is dict:
            stack.extend(v.values())
        elif t is list or t is tuple:
            stack.extend(v)
        elif t is not str and t is not int and isinstance(v, Mapping):
            stack.extend(v.values())


@dataclass(frozen=True)
class FeedDocument:
    """One feed document ready for upload, and what it carries."""

    body: bytes
    sent: dict[int, str]  # messageId -> sku, for parse_processing_report

    @property
    def message_count(self) -> int:
        return len(self.sent)

    @property
    def size(self) -> int:
        return len(self.body)


def plan_listings_feeds(
    seller_id: str,
    messages: Iterable[FeedMessage],
    *,
    max_messages: int = MAX_MESSAGES,
    max_bytes: int = MAX_BYTES,
    issue_locale: str | None = None,
) -> list[FeedDocument]:
    """Pack ``messages`` into as few JSON_LISTINGS_FEED documents as the limits allow (input order kept).

    A SKU may appear only once per call (two messages for one SKU would make the processing report
    ambiguous — combine the patches into one message). Returns ``[]`` when there is nothing to send.
    """
    if not seller_id or not isinstance(seller_id, str):
        raise FeedError("seller_id is required (the Amazon merchant token, e.g. 'A2EXAMPLE')")
    if not 1 <= max_messages <= MAX_MESSAGES:
        raise FeedError(f"max_messages {max_messages} must be 1..{MAX_MESSAGES}")
    if max_bytes < 1:
        raise FeedError(f"max_bytes {max_bytes} must be positive")
    msgs = list(messages)
    if not msgs:
        return []
    with_id = sum(1 for m in msgs if m.message_id is not None)
    if 0 < with_id < len(msgs):
        raise FeedError("set messageId on every message or on none (then each feed numbers them 1..n)")
    caller_ids = with_id == len(msgs)
    seen_sku: set[str] = set()
    seen_id: set[int] = set()
    for m in msgs:
        if m.sku in seen_sku:
            raise FeedError(f"SKU {m.sku!r} appears in two messages; combine its patches into one message")
        seen_sku.add(m.sku)
        if caller_ids:
            assert m.message_id is not None
            if m.message_id in seen_id:
                raise FeedError(f"messageId {m.message_id} is used twice (SKU {m.sku!r}); messageIds must be unique")
            seen_id.add(m.message_id)

    enc = _Encoder()
    header: dict[str, Any] = {"sellerId": seller_id, "version": "2.0"}
    if issue_locale:
        header["issueLocale"] = issue_locale
    prefix = ('{"header":' + enc.dumps(header) + ',"messages":[').encode("utf-8")
    suffix = b"]}"
    overhead = len(prefix) + len(suffix)

    docs: list[FeedDocument] = []
    parts: list[bytes] = []
    sent: dict[int, str] = {}
    size = overhead

    def close() -> None:
        nonlocal parts, sent, size
        docs.append(FeedDocument(body=prefix + b",".join(parts) + suffix, sent=sent))
        parts, sent, size = [], {}, overhead

    for m in msgs:
        if m.attributes is not None:
            _check_no_float(m.attributes, m.sku)
        if m.patches is not None:
            _check_no_float([p.value for p in m.patches], m.sku)
        for _attempt in (0, 1):
            mid = m.message_id if caller_ids else len(parts) + 1
            assert mid is not None
            body = m.to_json(mid)
            data = enc.dumps(body).encode("utf-8")
            extra = len(data) + (1 if parts else 0)
            if parts and (len(parts) >= max_messages or size + extra > max_bytes):
                close()
                continue  # renumber (ids restart at 1 when we number) and retry in the new feed
            if overhead + len(data) > max_bytes:
                raise FeedError(
                    f"message for SKU {m.sku!r} is {len(data)} bytes; with the feed header it exceeds "
                    f"max_bytes {max_bytes} on its own — send it through patchListingsItem or shrink it"
                )
            parts.append(data)
            sent[mid] = m.sku
            size += extra
            break
        else:  # pragma: no cover - the second attempt always fits into an empty feed or raises
            raise FeedError(f"could not place the message for SKU {m.sku!r}")
    if parts:
        close()
    return docs


def build_listings_feeds(
    seller_id: str,
    messages: Iterable[FeedMessage],
    *,
    max_messages: int = MAX_MESSAGES,
    max_bytes: int = MAX_BYTES,
    issue_locale: str | None = None,
) -> list[bytes]:
    """The bytes of :func:`plan_listings_feeds` (use that function when you need ``sent`` per feed)."""
    return [
        d.body
        for d in plan_listings_feeds(
            seller_id, messages, max_messages=max_messages, max_bytes=max_bytes, issue_locale=issue_locale
        )
    ]


# --- processing report --------------------------------------------------------------------------------
class _ReportModel(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class ReportIssue(_ReportModel):
    message_id: int | None = Field(default=None, alias="messageId")
    sku: str | None = None
    code: str | None = None
    severity: Literal["ERROR", "WARNING", "INFO"]
    message: str
    attribute_name: str | None = Field(default=None, alias="attributeName")


class ReportSummary(_ReportModel):
    errors: int = Field(ge=0)
    warnings: int = Field(ge=0)
    messages_processed: int = Field(alias="messagesProcessed", ge=0)
    messages_accepted: int = Field(alias="messagesAccepted", ge=0)
    messages_invalid: int = Field(alias="messagesInvalid", ge=0)


class _Report(_ReportModel):
    issues: list[ReportIssue] = Field(default_factory=list)
    summary: ReportSummary


@dataclass(frozen=True)
class Issue:
    """One issue Amazon reported for a message (as returned in :class:`FeedOutcome`)."""

    code: str | None
    message: str
    severity: str
    attribute_name: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "severity": self.severity, "attributeName": self.attribute_name}


@dataclass(frozen=True)
class FeedOutcome:
    """What one feed achieved.

    - ``accepted_skus``: Amazon accepted these; only they may advance the sync state.
    - ``rejected``: SKU -> its ERROR issues (Amazon's codes); retry after fixing.
    - ``unconfirmed_skus``: sent, not mentioned in the report, and not covered by
      ``summary.messagesAccepted`` (or the feed was FATAL/CANCELLED); not accepted, retried next run.
    - ``warnings``: SKU -> WARNING/INFO issues (of accepted or rejected messages).
    - ``feed_issues``: issues without a messageId, or naming a messageId we did not send.
    """

    status: str
    accepted_skus: frozenset[str]
    rejected: dict[str, list[Issue]]
    unconfirmed_skus: frozenset[str]
    warnings: dict[str, list[Issue]]
    feed_issues: list[Issue]
    summary: dict[str, int] | None
    notes: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {
            "sent": len(self.accepted_skus) + len(self.rejected) + len(self.unconfirmed_skus),
            "accepted": len(self.accepted_skus),
            "rejected": len(self.rejected),
            "unconfirmed": len(self.unconfirmed_skus),
            "warnings": sum(len(v) for v in self.warnings.values()),
        }


def parse_processing_report(
    report: Mapping[str, Any] | None,
    sent: Mapping[int, str],
    *,
    processing_status: str = "DONE",
) -> FeedOutcome:
    """Read a JSON_LISTINGS_FEED processing report (v2) against what was sent (``{messageId: sku}``).

    Acceptance rule (conservative — nothing counts as pushed unless Amazon accepted it):

    1. ``processing_status`` FATAL or CANCELLED: nothing is accepted (the report may be ``None``); SKUs
       with ERROR issues in a report that exists are listed as rejected, all others as unconfirmed.
       A DONE feed must come with its report.
    2. A sent message with at least one ERROR issue is rejected.
    3. A sent message mentioned only with WARNING/INFO issues ("warned") and a sent message not
       mentioned at all ("silent") are accepted when ``summary.messagesAccepted`` accounts for them,
       i.e. ``messagesAccepted >= warned + silent``.
    4. Otherwise Amazon accepted fewer messages than were free of errors (e.g. some were never
       processed). Silent messages cannot be told apart, so none of them is accepted (all
       unconfirmed); warned messages are still accepted if ``messagesAccepted >= warned``,
       else they are unconfirmed too.
    """
    status = (processing_status or "").upper()
    if status not in ("DONE", "FATAL", "CANCELLED"):
        raise FeedError(f"processing_status {processing_status!r}: the report is only read for DONE, FATAL or CANCELLED feeds")
    if not sent:
        raise FeedError("sent is empty: pass {messageId: sku} for the messages of this feed")
    notes: list[str] = []
    parsed: _Report | None = None
    if report is not None:
        try:
            parsed = _Report.model_validate(report)
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first["loc"])
            raise FeedError(f"processing report is not a listings processing report v2 ({loc}: {first['msg']})") from None
    elif status == "DONE":
        raise FeedError("processing report missing for a DONE feed: download resultFeedDocumentId and pass its JSON")

    by_message: dict[int, list[ReportIssue]] = {}
    feed_issues: list[Issue] = []
    for iss in parsed.issues if parsed else []:
        if iss.message_id is not None and iss.message_id in sent:
            by_message.setdefault(iss.message_id, []).append(iss)
        else:
            feed_issues.append(Issue(iss.code, iss.message, iss.severity, iss.attribute_name))
            if iss.message_id is not None:
                notes.append(f"issue for messageId {iss.message_id} which this feed did not send")

    rejected: dict[str, list[Issue]] = {}
    warnings: dict[str, list[Issue]] = {}
    warned: set[str] = set()
    silent: set[str] = set()
    for mid, sku in sent.items():
        issues = by_message.get(mid)
        if not issues:
            silent.add(sku)
            continue
        errs = [Issue(i.code, i.message, i.severity, i.attribute_name) for i in issues if i.severity == "ERROR"]
        warns = [Issue(i.code, i.message, i.severity, i.attribute_name) for i in issues if i.severity != "ERROR"]
        if warns:
            warnings[sku] = warns
        if errs:
            rejected[sku] = errs
        else:
            warned.add(sku)

    summary = parsed.summary.model_dump(by_alias=True) if parsed else None
    if status != "DONE":
        notes.append(f"feed {status}: nothing accepted")
        unconfirmed = (warned | silent)
        return FeedOutcome(status, frozenset(), rejected, frozenset(unconfirmed), warnings, feed_issues, summary, notes)

    assert parsed is not None
    accepted_count = parsed.summary.messages_accepted
    if accepted_count >= len(warned) + len(silent):
        accepted, unconfirmed = warned | silent, set()
        if accepted_count > len(warned) + len(silent):
            notes.append(
                f"summary.messagesAccepted {accepted_count} exceeds the {len(warned) + len(silent)} messages "
                "free of errors; messages with ERROR issues are still treated as rejected"
            )
    elif accepted_count >= len(warned):
        accepted, unconfirmed = set(warned), set(silent)
        notes.append(
            f"summary.messagesAccepted {accepted_count} < {len(warned) + len(silent)} messages free of errors: "
            f"{len(silent)} message(s) not mentioned in the report are unconfirmed and will be re-sent"
        )
    else:
        accepted, unconfirmed = set(), warned | silent
        notes.append(
            f"summary.messagesAccepted {accepted_count} < {len(warned)} messages with only warnings: "
            "no message can be confirmed; all are re-sent"
        )
    return FeedOutcome(status, frozenset(accepted), rejected, frozenset(unconfirmed), warnings, feed_issues, summary, notes)
