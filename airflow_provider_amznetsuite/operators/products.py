"""Product sync operators: NetSuite items → validated Amazon listings (``amazon_<code>_products``).

Tasks (see docs/products-sync.md; the pure work is in ``domain/listings.py``, ``domain/product_types.py``
and ``domain/feeds.py``)::

    read_netsuite_items → fetch_product_types → validate_and_plan → push_listings → products_report

* :class:`ReadNetSuiteItemsOperator` — SuiteQL (keyset) of the items flagged for the marketplace plus
  every SKU with an accepted listing hash (so retired/unflagged items get flagged on Amazon), with the
  fields of the docs/products.md contract. Columns the account does not have (NetSuite answers
  ``Field 'x' for record 'item' was not found``) are dropped with a warning, except the required ones.
* :class:`FetchProductTypesOperator` — ``getDefinitionsProductType`` + schema document once per
  (product type, requirements) the items need (the hook caches the documents on disk per version).
* :class:`ValidateAndPlanOperator` — map, validate, plan (new → UPDATE, changed → PARTIAL_UPDATE,
  retired → PATCH, explicit deletes → DELETE), store the feed plan for the push operator; or, with
  Param ``validation_preview``, ask Amazon to validate each planned listing instead of sending it.
* :class:`ProductsFeedPushOperator` — the shared :class:`ListingsFeedPushOperator` (accepted-only state
  advance), skipped in ``validation_preview`` mode.
* :class:`ProductsReportOperator` — one summary (new, changed, unchanged, invalid with paths, held,
  discontinued, deleted, accepted, rejected); fails the run after everything is done when anything was
  invalid or rejected (unless Param ``allow_quarantine``).

The accepted value stored per SKU in the sync state is exactly the hash string that
``domain.listings.plan_changes`` compares against (``content_hash`` / ``discontinued_hash``); the plan's
``values`` are ``ListingPlan.pending_hashes`` and the push operator records only accepted ones.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from airflow_provider_amznetsuite.config import MarketplaceConfig
from airflow_provider_amznetsuite.domain.feeds import FeedDocument, FeedError, FeedMessage, plan_listings_feeds
from airflow_provider_amznetsuite.domain.listings import (
    ASIN_FIELD,
    ATTRIBUTE_PREFIX,
    BULLET_FIELD,
    DESCRIPTION_FIELD,
    DISCONTINUED_FIELD,
    GTIN_EXEMPT_FIELD,
    GTIN_TYPE_FIELD,
    IMAGE_MAIN_FIELD,
    IMAGE_OTHER_FIELD,
    ITEM_TYPE_KEYWORD_FIELD,
    MAX_BULLETS,
    MAX_OTHER_IMAGES,
    PACKAGE_FIELDS,
    PACKAGE_UNIT_FIELD,
    TITLE_FIELD,
    VARIATION_PREFIX,
    VARIATION_THEME_FIELD,
    DiscontinuedListing,
    ListingDraft,
    ListingPlan,
    definition_request_for,
    delete_messages,
    locale_chain,
    parse_item_rows,
    plan_changes,
    prepare_drafts,
    to_feed_message,
)
from airflow_provider_amznetsuite.domain.product_types import (
    DefinitionRequest,
    ProductTypeError,
    ProductTypeSchema,
    SchemaCache,
)
from airflow_provider_amznetsuite.hooks.netsuite import NetSuiteHook
from airflow_provider_amznetsuite.hooks.netsuite_errors import NetSuiteError
from airflow_provider_amznetsuite.hooks.spapi import SpApiHook
from airflow_provider_amznetsuite.hooks.spapi_errors import SpApiBadRequest, SpApiNotFound
from airflow_provider_amznetsuite.operators.base import MarketplaceOperator
from airflow_provider_amznetsuite.operators.feeds import ListingsFeedPushOperator
from airflow_provider_amznetsuite.state import SyncStateStore

SYNC = "products"
TASK_READ = "read_netsuite_items"
TASK_FETCH = "fetch_product_types"
TASK_PLAN = "validate_and_plan"
TASK_PUSH = "push_listings"
TASK_REPORT = "products_report"

#: Accepted value recorded for a SKU whose explicit DELETE Amazon accepted; treated as "not listed".
DELETED_MARKER = "deleted:v1"
#: processed-once key prefix: retired SKUs Amazon confirmed it does not list (no lookup next run).
ABSENT_PREFIX = "absent:"

#: Default SuiteQL expression holding the merchandising category (mapped by products.product_types).
DEFAULT_CATEGORY_EXPRESSION = "i.custitem_amz_category"
#: Variation attributes read from custitem_amz_var_<attribute> on matrix children.
DEFAULT_VARIATION_ATTRIBUTES: tuple[str, ...] = ("size", "color")
#: Amazon attributes read from custitem_amz_attr_<attribute> (the escape hatch of docs/products.md §1).
DEFAULT_ATTRIBUTE_FIELDS: tuple[str, ...] = (
    "batteries_required", "supplier_declared_dg_hz_regulation", "country_of_origin", "material", "color",
    "size", "department", "style", "manufacturer", "model_number", "number_of_items",
    "manufacturer_minimum_age", "supplier_declared_has_product_identifier_exemption",
)
MAX_REPORTED = 25  # per list in the XCom/run summary; the full lists stay in the details batch
SUITEQL_IN_CHUNK = 500

_IDENT_RE = re.compile(r"^[a-z][a-z0-9_]*\Z")
_ITEM_FIELD_RE = re.compile(r"\bi\.([A-Za-z_][A-Za-z0-9_]*)")
_MISSING_FIELD_RES = (
    re.compile(r"Field '(?:[A-Za-z_][A-Za-z0-9_]*\.)?([A-Za-z_][A-Za-z0-9_]*)' for record '[^']*' was not found"),
    re.compile(r"Unknown identifier '(?:[A-Za-z_][A-Za-z0-9_]*\.)?([A-Za-z_][A-Za-z0-9_]*)'"),
)

# Parsed schemas are reused within one worker process (keyed by product type, version and checksum).
_SCHEMAS = SchemaCache()


# --------------------------------------------------------------------------------------------
# SuiteQL: the item query of the docs/products.md field contract
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ItemColumn:
    """One selected column: ``sql AS alias``; ``optional`` columns are dropped when the account
    lacks the field (``fields`` are the NetSuite item fields it reads)."""

    sql: str
    alias: str
    optional: bool = True
    fields: tuple[str, ...] = ()

    def render(self) -> str:
        return f"{self.sql} AS {self.alias}"


def _field(name: str, *, optional: bool = True) -> ItemColumn:
    return ItemColumn(sql=f"i.{name}", alias=name, optional=optional, fields=(name,))


def _identifier(name: str, what: str) -> str:
    text = str(name).strip().lower()
    if not _IDENT_RE.match(text):
        raise AirflowFailException(f"{what} {name!r} is not a NetSuite field id (letters, digits and _, e.g. "
                                   "custitem_amz_publish)")
    return text


def item_columns(
    mp: MarketplaceConfig,
    *,
    category_expression: str = DEFAULT_CATEGORY_EXPRESSION,
    variation_attributes: Sequence[str] = DEFAULT_VARIATION_ATTRIBUTES,
    attribute_fields: Sequence[str] = DEFAULT_ATTRIBUTE_FIELDS,
    extra_fields: Sequence[str] = (),
) -> list[ItemColumn]:
    """The columns the products sync selects for ``mp`` (locale copy for its language tag only)."""
    products = mp.products
    cols = [
        _field("id", optional=False), _field("itemid", optional=False), _field("itemtype", optional=False),
        _field("matrixtype", optional=False),
        ItemColumn("p.itemid", "parent_sku", optional=False),
        ItemColumn(category_expression, "category", optional=True,
                   fields=tuple(m.lower() for m in _ITEM_FIELD_RE.findall(category_expression))),
        _field("displayname", optional=False),
        ItemColumn("i.description", "salesdescription", optional=False, fields=("description",)),
        _field("upccode", optional=False), _field("weight", optional=False), _field("weightunit", optional=False),
        _field("isinactive", optional=False),
        _field("countryofmanufacture"),
        _field(_identifier(products.flag_field, "products.flag_field"), optional=False),
        _field(_identifier(products.brand_field, "products.brand_field")),
        _field(DISCONTINUED_FIELD), _field(GTIN_TYPE_FIELD), _field(GTIN_EXEMPT_FIELD), _field(ASIN_FIELD),
        _field(ITEM_TYPE_KEYWORD_FIELD), *(_field(f) for f in PACKAGE_FIELDS), _field(PACKAGE_UNIT_FIELD),
        _field(VARIATION_THEME_FIELD),
    ]
    for base in [IMAGE_MAIN_FIELD] + [IMAGE_OTHER_FIELD.format(n=n) for n in range(1, MAX_OTHER_IMAGES + 1)]:
        cols += [_field(base), _field(f"{base}_width"), _field(f"{base}_height")]
    for suffix in locale_chain(mp.language_tag):
        tail = f"_{suffix}" if suffix else ""
        cols.append(_field(TITLE_FIELD + tail))
        cols.append(_field(DESCRIPTION_FIELD + tail))
        cols += [_field(BULLET_FIELD.format(n=n) + tail) for n in range(1, MAX_BULLETS + 1)]
    cols += [_field(_identifier(VARIATION_PREFIX + a, "variation attribute")) for a in variation_attributes]
    cols += [_field(_identifier(ATTRIBUTE_PREFIX + a, "attribute field")) for a in attribute_fields]
    cols += [_field(_identifier(f, "extra item field")) for f in extra_fields]
    out: list[ItemColumn] = []
    seen: set[str] = set()
    for c in cols:
        if c.alias not in seen:
            seen.add(c.alias)
            out.append(c)
    return out


def build_item_select(columns: Sequence[ItemColumn]) -> str:
    """``SELECT … FROM item i LEFT JOIN item p ON p.id = i.parent`` (no WHERE: keyset adds it)."""
    return "SELECT " + ", ".join(c.render() for c in columns) + " FROM item i LEFT JOIN item p ON p.id = i.parent"


def missing_field(exc: BaseException) -> str | None:
    """The field NetSuite says does not exist (``Field 'x' for record 'item' was not found``), if that is the error."""
    texts = [str(getattr(exc, "detail", "") or "")]
    texts += [str(d.get("detail") or "") for d in getattr(exc, "details", None) or [] if isinstance(d, Mapping)]
    texts.append(str(exc))
    for text in texts:
        for pattern in _MISSING_FIELD_RES:
            m = pattern.search(text)
            if m:
                return m.group(1).lower()
    return None


def _chunks(values: Sequence[str], size: int) -> Iterator[list[str]]:
    for i in range(0, len(values), size):
        yield list(values[i : i + size])


def listed_values(state: SyncStateStore, code: str) -> dict[str, str]:
    """Accepted listing hashes per SKU (content or discontinued hash); explicit deletions excluded."""
    out: dict[str, str] = {}
    for sku, value in state.get_accepted(SYNC, code).items():
        if isinstance(value, str) and value != DELETED_MARKER:
            out[sku] = value
    return out


def _pull(context: Mapping[str, Any], task_id: str) -> dict[str, Any]:
    value = context["ti"].xcom_pull(task_ids=task_id)
    if not isinstance(value, Mapping) or not value.get("ref"):
        raise AirflowFailException(f"task {task_id} left no result for this run (failed or cleared?) — "
                                   f"clear the run from {TASK_READ}")
    return dict(value)


class _ProductsOperator(MarketplaceOperator):
    sync = SYNC

    def spapi_hook(self) -> SpApiHook:
        return SpApiHook(self.mp.spapi_conn_id)

    def netsuite_hook(self) -> NetSuiteHook:
        return NetSuiteHook(self.mp.netsuite_conn_id)

    def batch_ref(self, context: Mapping[str, Any], name: str | None = None) -> str:
        return f"{self.run_key(context)}/{name or self.task_id}"

    def record_summary(self, context: Mapping[str, Any], summary: Mapping[str, Any]) -> None:
        """Record a task summary without failing the task (the report task decides the outcome)."""
        run_id = getattr(context.get("dag_run"), "run_id", None) or "adhoc"
        try:
            self.state.record_run(self.dag_id, run_id, self.task_id, dict(summary))
        except Exception:  # a summary must never fail the sync
            self.log.exception("could not record the run summary")


# --------------------------------------------------------------------------------------------
# 1. read_netsuite_items
# --------------------------------------------------------------------------------------------
class ReadNetSuiteItemsOperator(_ProductsOperator):
    """SuiteQL of the marketplace's items (flagged, plus every SKU listed by this sync before)."""

    ui_color = "#e6f4ea"

    def __init__(self, *, category_expression: str | None = None,
                 variation_attributes: Sequence[str] | None = None,
                 attribute_fields: Sequence[str] | None = None, extra_fields: Sequence[str] = (),
                 page_size: int = 1000, **kwargs: Any) -> None:
        """Arguments left as None come from the marketplace config (products.category_field,
        products.variation_attributes, products.attribute_fields)."""
        super().__init__(**kwargs)
        self.category_expression = category_expression
        self.variation_attributes = tuple(variation_attributes) if variation_attributes is not None else None
        self.attribute_fields = tuple(attribute_fields) if attribute_fields is not None else None
        self.extra_fields = tuple(extra_fields)
        self.page_size = page_size

    def execute(self, context: Mapping[str, Any]) -> dict[str, Any]:
        mp = self.mp
        pc = mp.products
        columns = item_columns(
            mp,
            category_expression=self.category_expression or f"i.{pc.category_field}",
            variation_attributes=self.variation_attributes if self.variation_attributes is not None
            else tuple(pc.variation_attributes),
            attribute_fields=self.attribute_fields if self.attribute_fields is not None
            else tuple(pc.attribute_fields if pc.attribute_fields is not None else DEFAULT_ATTRIBUTE_FIELDS),
            extra_fields=self.extra_fields)
        flag = _identifier(mp.products.flag_field, "products.flag_field")
        listed = listed_values(self.state, mp.code)
        rows, dropped, flagged = self.read_rows(self.netsuite_hook(), columns, flag, sorted(listed))
        ref = self.batch_ref(context)
        self.state.put_batch(ref, {"rows": rows, "dropped_fields": dropped})
        counts = {"items": len(rows), "flagged": flagged, "previously_listed_only": len(rows) - flagged,
                  "dropped_fields": len(dropped)}
        self.record_summary(context, {**counts, "dropped_field_names": dropped})
        self.log.info("%s: read %d NetSuite items (%d flagged by %s)", mp.code, len(rows), flagged, flag)
        return {"ref": ref, "counts": counts}

    def read_rows(self, hook: NetSuiteHook, columns: list[ItemColumn], flag: str,
                  listed_skus: Sequence[str]) -> tuple[list[dict[str, Any]], list[str], int]:
        """Rows of flagged items + previously listed SKUs; drops optional columns NetSuite lacks."""
        columns = list(columns)
        dropped: list[str] = []
        while True:
            try:
                rows, flagged = self._query(hook, columns, flag, listed_skus)
                return rows, dropped, flagged
            except NetSuiteError as exc:
                name = missing_field(exc)
                if name is None:
                    raise
                if name == flag:
                    raise AirflowFailException(
                        f"products.flag_field {flag!r} does not exist on NetSuite item records — create the "
                        f"checkbox field or fix marketplaces.{self.marketplace}.products.flag_field") from None
                hit = [c for c in columns if name in c.fields or c.alias == name]
                required = [c for c in hit if not c.optional]
                if not hit or required:
                    raise AirflowFailException(
                        f"NetSuite has no item field {name!r}, which the products sync needs "
                        f"({', '.join(c.alias for c in hit) or 'query'}); check the account's item fields") from None
                for c in hit:
                    if c.alias == "category":
                        columns[columns.index(c)] = replace(c, sql="NULL", fields=())
                    else:
                        columns.remove(c)
                dropped.append(name)
                self.log.warning("NetSuite item field %s does not exist on this account; reading without it "
                                 "(create it to use it, see docs/products.md §1)", name)

    def _query(self, hook: NetSuiteHook, columns: Sequence[ItemColumn], flag: str,
               listed_skus: Sequence[str]) -> tuple[list[dict[str, Any]], int]:
        select = build_item_select(columns)
        rows: dict[str, dict[str, Any]] = {}
        for row in hook.suiteql_keyset(select, key="i.id", where=f"i.{flag} = 'T'", page_size=self.page_size):
            clean = {str(k).lower(): v for k, v in row.items()}
            rows[str(clean.get("id"))] = clean
        flagged = len(rows)
        have = {r.get("itemid") for r in rows.values()}
        rest = [s for s in listed_skus if s not in have]
        for chunk in _chunks(rest, SUITEQL_IN_CHUNK):
            for row in hook.suiteql(select + " WHERE i.itemid IN (:skus)", params={"skus": chunk},
                                    page_size=self.page_size):
                clean = {str(k).lower(): v for k, v in row.items()}
                rows.setdefault(str(clean.get("id")), clean)
        ordered = sorted(rows.values(), key=lambda r: (len(str(r.get("id"))), str(r.get("id"))))
        return ordered, flagged


# --------------------------------------------------------------------------------------------
# 2. fetch_product_types
# --------------------------------------------------------------------------------------------
def _definition_key(product_type: str, requirements: str) -> str:
    return f"{product_type}|{requirements}"


class FetchProductTypesOperator(_ProductsOperator):
    """``getDefinitionsProductType`` (+ schema document) once per product type and requirements needed."""

    ui_color = "#fff4d6"

    def execute(self, context: Mapping[str, Any]) -> dict[str, Any]:
        mp = self.mp
        items_ref = _pull(context, TASK_READ)["ref"]
        items, _ = parse_item_rows(self.state.get_batch(items_ref)["rows"], mp.products)
        requests = {r for r in (definition_request_for(i, mp) for i in items) if r is not None}
        pairs = sorted({(r.product_type, r.requirements) for r in requests})
        hook = self.spapi_hook() if pairs else None
        definitions: dict[str, Any] = {}
        failures: dict[str, str] = {}
        for product_type, requirements in pairs:
            key = _definition_key(product_type, requirements)
            assert hook is not None
            try:
                result = hook.get_product_type_definition(product_type, mp.marketplace_id, requirements=requirements)
            except (SpApiNotFound, SpApiBadRequest) as exc:
                failures[key] = (f"getDefinitionsProductType {product_type} ({requirements}) for {mp.marketplace_id} "
                                 f"failed: {exc} — check products.product_types of marketplace {mp.code}")
                self.log.warning("%s", failures[key])
                continue
            definitions[key] = result
            version = (result["definition"].get("productTypeVersion") or {}).get("version")
            self.log.info("product type %s (%s) version %s loaded", product_type, requirements, version)
        ref = self.batch_ref(context)
        self.state.put_batch(ref, {"definitions": definitions, "failures": failures})
        counts = {"product_types": len({p for p, _ in pairs}), "definitions": len(definitions),
                  "failed": len(failures)}
        self.record_summary(context, {**counts, "failures": failures})
        return {"ref": ref, "counts": counts}


# --------------------------------------------------------------------------------------------
# 3. validate_and_plan
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ListingInfo:
    exists: bool
    fba: bool = False


def _issue_json(issue: Mapping[str, Any]) -> dict[str, Any]:
    return {"code": issue.get("code"), "severity": issue.get("severity"), "message": issue.get("message"),
            "attributeNames": list(issue.get("attributeNames") or [])}


def _problem_key(problem: str) -> str:
    return "netsuite-row:" + hashlib.sha256(problem.encode("utf-8")).hexdigest()[:12]


def pack_feeds(seller_id: str, messages: Sequence[FeedMessage]) -> tuple[list[FeedDocument], dict[str, str]]:
    """Pack messages into feeds; a message that cannot be written (e.g. a float taken from a
    custitem_amz_attr_* JSON value) is left out and returned as {sku: reason} instead of failing the run."""
    try:
        return plan_listings_feeds(seller_id, messages), {}
    except FeedError:
        pass
    good: list[FeedMessage] = []
    bad: dict[str, str] = {}
    for m in messages:
        try:
            plan_listings_feeds(seller_id, [m])
        except FeedError as exc:
            bad[m.sku] = str(exc)
        else:
            good.append(m)
    return plan_listings_feeds(seller_id, good), bad


class ValidateAndPlanOperator(_ProductsOperator):
    """Map + validate every item, plan the changes, store the feeds (or preview them on Amazon)."""

    ui_color = "#ffe8cc"

    def __init__(self, *, check_existing: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.check_existing = check_existing

    # -- helpers ---------------------------------------------------------------------------------
    def schema_lookup(self, definitions: Mapping[str, Any],
                      failures: dict[str, str]) -> Callable[[DefinitionRequest], ProductTypeSchema | None]:
        """``schema_for`` for ``prepare_drafts``; unusable definitions are added to ``failures``.

        One parsed schema per (product type, requirements, version, checksum): validation does not depend
        on the parentage level (it only selects which definition to request), so the cache key uses NONE.
        """
        mid = self.mp.marketplace_id

        def schema_for(req: DefinitionRequest) -> ProductTypeSchema | None:
            key = _definition_key(req.product_type, req.requirements)
            entry = definitions.get(key)
            if entry is None or key in failures:
                return None
            try:
                cache_key = SchemaCache.key_for(entry["definition"], marketplace_id=mid)
                schema = _SCHEMAS.get(cache_key)
                if schema is None:
                    schema = _SCHEMAS.put(entry["definition"], entry["schema"], marketplace_id=mid)
            except (ProductTypeError, ValueError) as exc:
                failures[key] = f"definition of {req.product_type} ({req.requirements}) is unusable: {exc}"
                self.log.warning("%s", failures[key])
                return None
            return schema

        return schema_for

    def lookup(self, hook: SpApiHook, sku: str) -> ListingInfo:
        """Is ``sku`` listed on Amazon in this marketplace, and is it fulfilled by Amazon?"""
        try:
            item = hook.get_listings_item(None, sku, [self.mp.marketplace_id],
                                          included_data=["summaries", "fulfillmentAvailability"])
        except SpApiNotFound:
            return ListingInfo(exists=False)
        channels = [str(f.get("fulfillmentChannelCode") or "") for f in item.get("fulfillmentAvailability") or []]
        return ListingInfo(exists=True, fba=any(c and c != "DEFAULT" for c in channels))

    # -- execution -------------------------------------------------------------------------------
    def execute(self, context: Mapping[str, Any]) -> dict[str, Any]:
        mp = self.mp
        params = self.params_of(context)
        preview = bool(params.get("validation_preview"))
        dry_run = bool(params.get("dry_run"))
        full_push = bool(params.get("full_push"))
        try:
            deletes = delete_messages(params.get("delete_skus") or [])
        except ValueError as exc:
            raise AirflowFailException(f"Param delete_skus: {exc}") from None
        delete_skus = [m["sku"] for m in deletes]

        items_batch = self.state.get_batch(_pull(context, TASK_READ)["ref"])
        defs_batch = self.state.get_batch(_pull(context, TASK_FETCH)["ref"])
        items, row_problems = parse_item_rows(items_batch["rows"], mp.products)
        failures: dict[str, str] = dict(defs_batch.get("failures") or {})
        to_delete = set(delete_skus)
        drafts = [d for d in prepare_drafts(items, mp, self.schema_lookup(defs_batch["definitions"], failures))
                  if d.sku not in to_delete]

        listed = listed_values(self.state, mp.code)
        accepted = {} if full_push else listed
        hook = self.spapi_hook()
        writes_state = not (dry_run or preview)
        plan, lookups = self._plan(hook, drafts, listed, accepted, remember=writes_state)

        messages = plan.feed_messages() + [to_feed_message(m) for m in deletes]
        values: dict[str, str] = dict(plan.pending_hashes)
        values.update({sku: DELETED_MARKER for sku in delete_skus})

        preview_results: dict[str, Any] = {}
        if preview:
            preview_results = self._preview(hook, plan, delete_skus)

        plan_ref: str | None = None
        feeds: list[dict[str, Any]] = []
        if messages and writes_state:
            seller = hook.seller_id
            if not seller:
                raise AirflowFailException(f"connection {mp.spapi_conn_id}: extra.seller_id (merchant token) is "
                                           "required for JSON_LISTINGS_FEED headers")
            docs, unsendable = pack_feeds(seller, messages)
            for sku in unsendable:
                values.pop(sku, None)
            for doc in docs:
                feeds.append({"body": doc.body.decode("utf-8"), "sent": {str(k): v for k, v in doc.sent.items()}})
            if feeds:
                plan_ref = self.batch_ref(context, f"{self.task_id}/plan")
                self.state.put_batch(plan_ref, {"feeds": feeds, "values": values, "direct": []})
        else:
            unsendable = {}

        if writes_state:
            self._quarantine(plan, row_problems, unsendable)

        details = self._details(plan, deletes=delete_skus, row_problems=row_problems, values=values,
                                unsendable=unsendable,
                                items_batch=items_batch, definition_failures=failures, preview=preview_results,
                                lookups=lookups, flags={"dry_run": dry_run, "validation_preview": preview,
                                                        "full_push": full_push, "pushed": plan_ref is not None})
        details_ref = self.batch_ref(context, f"{self.task_id}/details")
        self.state.put_batch(details_ref, details)
        counts = {**details["counts"]}
        self.record_summary(context, counts)
        self.log.info("%s products plan: %s", mp.code, counts)
        return {"ref": plan_ref, "feeds": len(feeds), "messages": sum(len(f["sent"]) for f in feeds),
                "details": details_ref, "counts": counts}

    def _plan(self, hook: SpApiHook, drafts: list[ListingDraft], listed: Mapping[str, str],
              accepted: Mapping[str, str], *, remember: bool) -> tuple[ListingPlan, int]:
        """plan_changes with what Amazon already lists (so existing listings get PARTIAL_UPDATE, never an
        offer-wiping UPDATE) and which SKUs Amazon fulfils (their quantity is Amazon's).

        Only SKUs without an accepted hash are looked up (getListingsItem), plus retired SKUs about to be
        flagged. Retired SKUs Amazon does not list are remembered (``remember``) so they are not looked up
        again; a retired SKU whose listing Amazon no longer has loses its accepted hash."""
        code = self.mp.code
        info: dict[str, ListingInfo] = {}
        absent = {k[len(ABSENT_PREFIX):] for k in self.state.processed_keys(SYNC, code) if k.startswith(ABSENT_PREFIX)}
        if self.check_existing:
            for d in drafts:
                if d.sku in listed or not (d.retired or d.valid):
                    continue
                if d.retired and d.sku in absent:
                    continue
                info[d.sku] = self.lookup(hook, d.sku)
        known = set(listed) | {s for s, i in info.items() if i.exists}
        now = datetime.now(UTC)
        fba = {s for s, i in info.items() if i.fba}
        plan = plan_changes(drafts, accepted, known_skus=known, fba_skus=fba, now=now)
        if self.check_existing:
            unchecked = [d.sku for d in plan.discontinued if d.planned is not None and d.sku not in info]
            for sku in unchecked:
                info[sku] = self.lookup(hook, sku)
            gone = {s for s in unchecked if not info[s].exists}
            extra_fba = {s for s in unchecked if info[s].fba}
            if extra_fba:
                plan = plan_changes(drafts, accepted, known_skus=known, fba_skus=fba | extra_fba, now=now)
            if gone:
                plan = plan.model_copy(update={"discontinued": tuple(
                    DiscontinuedListing(sku=d.sku, status="never_listed",
                                        reason=f"{d.reason}; no longer listed on Amazon, nothing to flag")
                    if d.sku in gone else d for d in plan.discontinued)})
            if remember:  # retired SKUs Amazon does not list: no lookup next run (until reactivated)
                retired_absent = {d.sku for d in drafts if d.retired and d.sku in info and not info[d.sku].exists}
                for sku in sorted(retired_absent - absent):
                    self.state.mark_processed(SYNC, code, ABSENT_PREFIX + sku, {"checked": now.isoformat()})
                for sku in sorted(absent & {d.sku for d in drafts if not d.retired}):
                    self.state.unmark_processed(SYNC, code, ABSENT_PREFIX + sku)
                if gone:
                    self.state.forget_accepted(SYNC, code, sorted(gone))
        return plan, len(info)

    def _preview(self, hook: SpApiHook, plan: ListingPlan, delete_skus: Sequence[str]) -> dict[str, Any]:
        """VALIDATION_PREVIEW of every planned message (Listings Items API); nothing is recorded."""
        mid = self.mp.marketplace_id
        out: dict[str, Any] = {}
        for p in plan.to_send:
            msg = p.message
            try:
                if p.operation == "UPDATE":
                    body = {"productType": msg["productType"], "requirements": msg["requirements"],
                            "attributes": msg["attributes"]}
                    resp = hook.put_listings_item(None, p.sku, [mid], body, mode="VALIDATION_PREVIEW")
                else:
                    patches = msg["patches"] if p.operation == "PATCH" else [
                        {"op": "replace", "path": f"/attributes/{name}", "value": value}
                        for name, value in msg["attributes"].items()]
                    resp = hook.patch_listings_item(None, p.sku, [mid],
                                                    {"productType": msg["productType"], "patches": patches},
                                                    mode="VALIDATION_PREVIEW")
                issues = [_issue_json(i) for i in resp.get("issues") or []]
                out[p.sku] = {"operation": p.operation, "status": str(resp.get("status") or ""), "issues": issues}
            except SpApiBadRequest as exc:
                errors = [_issue_json({**e, "severity": "ERROR"}) for e in getattr(exc, "errors", []) or []]
                out[p.sku] = {"operation": p.operation, "status": "INVALID",
                              "issues": errors or [{"code": "BadRequest", "severity": "ERROR", "message": str(exc),
                                                    "attributeNames": []}]}
        for sku in delete_skus:
            out[sku] = {"operation": "DELETE", "status": "NOT_PREVIEWED", "issues": [
                {"code": None, "severity": "INFO", "attributeNames": [],
                 "message": "Amazon has no VALIDATION_PREVIEW for deletions; run without validation_preview"}]}
        return out

    def _quarantine(self, plan: ListingPlan, row_problems: Sequence[str], unsendable: Mapping[str, str]) -> None:
        code = self.mp.code
        for inv in plan.invalid:
            detail = "; ".join(str(v) for v in inv.violations)
            self.state.quarantine(SYNC, code, inv.sku, inv.summary(), detail=detail[:4000])
        for sku, reason in unsendable.items():
            self.state.quarantine(SYNC, code, sku, f"{sku}: cannot be written into a feed — {reason}")
        problem_keys = set()
        for problem in row_problems:
            key = _problem_key(problem)
            problem_keys.add(key)
            self.state.quarantine(SYNC, code, key, problem)
        keep = {i.sku for i in plan.invalid} | {p.sku for p in plan.to_send} | problem_keys | set(unsendable)
        stale = [r.key for r in self.state.open_quarantine(SYNC, code) if r.key not in keep]
        if stale:
            self.state.resolve(SYNC, code, stale)

    def _details(self, plan: ListingPlan, *, deletes: Sequence[str], row_problems: Sequence[str],
                 values: Mapping[str, str], unsendable: Mapping[str, str], items_batch: Mapping[str, Any],
                 definition_failures: Mapping[str, str],
                 preview: Mapping[str, Any], lookups: int, flags: Mapping[str, bool]) -> dict[str, Any]:
        counts = plan.counts()
        preview_invalid = sum(1 for r in preview.values() if r["status"] in ("INVALID", "ERROR"))
        counts.update({"deletes": len(deletes), "row_problems": len(row_problems), "unsendable": len(unsendable),
                       "lookups": lookups,
                       "definition_failures": len(definition_failures),
                       "messages": counts["messages"] + len(deletes)})
        if flags.get("validation_preview"):
            counts["preview_invalid"] = preview_invalid
        return {
            **flags,
            "counts": counts,
            "new": [p.sku for p in plan.new],
            "changed": [{"sku": p.sku, "reason": p.reason} for p in plan.changed],
            "unchanged": list(plan.unchanged),
            "invalid": [{"sku": i.sku, "product_type": i.product_type,
                         "violations": [{"path": v.path, "rule": v.rule, "message": v.message} for v in i.violations]}
                        for i in plan.invalid],
            "held": [h.model_dump() for h in plan.held],
            "discontinued": [{"sku": d.sku, "status": d.status, "reason": d.reason} for d in plan.discontinued],
            "reactivated": list(plan.reactivated),
            "deletes": list(deletes),
            "row_problems": list(row_problems),
            "unsendable": [{"sku": k, "reason": v} for k, v in sorted(unsendable.items())],
            "dropped_fields": list(items_batch.get("dropped_fields") or []),
            "definition_failures": dict(definition_failures),
            "values": dict(values),
            "preview": dict(preview),
        }


# --------------------------------------------------------------------------------------------
# 4. push_listings
# --------------------------------------------------------------------------------------------
class ProductsFeedPushOperator(ListingsFeedPushOperator):
    """:class:`ListingsFeedPushOperator` for the products sync; skipped in ``validation_preview`` mode."""

    def __init__(self, *, sync: str = SYNC, plan_task_id: str = TASK_PLAN, **kwargs: Any) -> None:
        super().__init__(sync=sync, plan_task_id=plan_task_id, **kwargs)

    def execute(self, context: Mapping[str, Any]) -> dict[str, Any]:
        if self.params_of(context).get("validation_preview"):
            raise AirflowSkipException("validation_preview: listings were validated by Amazon, nothing is pushed")
        return super().execute(context)


# --------------------------------------------------------------------------------------------
# 5. products_report
# --------------------------------------------------------------------------------------------
def _capped(values: Sequence[Any], limit: int = MAX_REPORTED) -> list[Any]:
    out = list(values[:limit])
    if len(values) > limit:
        out.append(f"… and {len(values) - limit} more (see the run summary of {TASK_PLAN})")
    return out


class ProductsReportOperator(_ProductsOperator):
    """Summary of the run; fails (after everything) when items were invalid or rejected."""

    ui_color = "#e8e8ff"

    def __init__(self, *, push_task_id: str = TASK_PUSH, plan_task_id: str = TASK_PLAN,
                 cleanup_tasks: Sequence[str] = (TASK_READ, TASK_FETCH), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.push_task_id = push_task_id
        self.plan_task_id = plan_task_id
        self.cleanup_tasks = tuple(cleanup_tasks)

    def execute(self, context: Mapping[str, Any]) -> dict[str, Any]:
        code = self.mp.code
        plan_x = context["ti"].xcom_pull(task_ids=self.plan_task_id)
        if not isinstance(plan_x, Mapping) or not plan_x.get("details"):
            raise AirflowFailException(f"{self.plan_task_id} did not finish for this run; nothing to report "
                                       "(see its log, then clear the run)")
        details = self.state.get_batch(plan_x["details"])
        run_id = getattr(context.get("dag_run"), "run_id", None) or "adhoc"
        push = self.state.run_summaries(self.dag_id, run_id).get(self.push_task_id) if details.get("pushed") else None
        failures: list[str] = []

        values: Mapping[str, str] = details.get("values") or {}
        accepted: list[str] = []
        rejected: list[dict[str, Any]] = []
        unconfirmed: list[str] = []
        if details.get("pushed"):
            if push is None:
                failures.append(f"{self.push_task_id} did not finish; sent listings are settled by the next run")
            stored = self.state.get_accepted(SYNC, code, keys=list(values))
            accepted = sorted(s for s, v in values.items() if stored.get(s) == v)
            open_q = {r.key: r for r in self.state.open_quarantine(SYNC, code)}
            for sku in sorted(set(values) - set(accepted)):
                record = open_q.get(sku)
                if record is not None and (record.detail or "").startswith("feed "):
                    rejected.append({"sku": sku, "reason": record.reason})
                else:
                    unconfirmed.append(sku)
            deleted = [s for s in details.get("deletes") or [] if s in accepted]
            if deleted:
                self.state.forget_accepted(SYNC, code, deleted)
            back = [s for s in details.get("reactivated") or [] if s in accepted]
            if back:  # the offer (end date) and quantity must be sent again by their syncs
                self.state.forget_accepted("pricing", code, back)
                self.state.forget_accepted("inventory", code, back)
        else:
            deleted = []

        invalid = details.get("invalid") or []
        counts = details.get("counts") or {}
        discontinued_flagged = [d["sku"] for d in details.get("discontinued") or [] if d["status"] == "flag"]
        summary: dict[str, Any] = {
            "marketplace": code,
            "dry_run": bool(details.get("dry_run")),
            "validation_preview": bool(details.get("validation_preview")),
            "new": len(details.get("new") or []),
            "changed": len(details.get("changed") or []),
            "unchanged": len(details.get("unchanged") or []),
            "invalid": len(invalid),
            "held": len(details.get("held") or []),
            "discontinued": len(discontinued_flagged),
            "discontinued_total": len(details.get("discontinued") or []),
            "deleted": len(deleted),
            "delete_requested": len(details.get("deletes") or []),
            "sent": len(values) if details.get("pushed") else 0,
            "accepted": len(accepted),
            "rejected": len(rejected),
            "unconfirmed": len(unconfirmed),
            "row_problems": len(details.get("row_problems") or []),
            "unsendable": len(details.get("unsendable") or []),
            "definition_failures": counts.get("definition_failures", 0),
            "invalid_items": _capped([{"sku": i["sku"], "violations": [f"{v['path']} [{v['rule']}]"
                                                                       for v in i["violations"]]}
                                      for i in invalid]),
            "rejected_items": _capped(rejected),
            "discontinued_items": _capped(discontinued_flagged),
            "deleted_items": _capped(deleted),
            "held_items": _capped([f"{h['sku']}: {h['reason']}" for h in details.get("held") or []]),
            "dropped_fields": details.get("dropped_fields") or [],
        }
        if details.get("validation_preview"):
            preview = details.get("preview") or {}
            bad = {s: r for s, r in preview.items() if r["status"] in ("INVALID", "ERROR")}
            summary["preview_valid"] = sum(1 for r in preview.values() if r["status"] in ("VALID", "ACCEPTED"))
            summary["preview_invalid"] = len(bad)
            summary["preview_issues"] = _capped([
                {"sku": s, "issues": [f"{i.get('code')}: {i.get('message')}" for i in r["issues"]
                                      if i.get("severity") == "ERROR"]} for s, r in sorted(bad.items())])
        for item in invalid:
            for v in item["violations"]:
                self.log.warning("invalid %s: %s [%s] %s", item["sku"], v["path"], v["rule"], v["message"])
        for r in rejected:
            self.log.warning("rejected %s: %s", r["sku"], r["reason"])
        for name in self.cleanup_tasks:  # the large batches; plan and details stay for re-runs of the tail
            self.state.drop_batches(self.batch_ref(context, name))
        quarantined = summary["invalid"] + summary["rejected"] + summary["row_problems"] + summary["unsendable"]
        return self.finish(context, summary, quarantined=quarantined, failures=failures)

