"""REST Record API semantics of the NetSuite sandbox: create, get, update (PATCH), upsert (PUT eid:),
transform, list — with NetSuite-like validation.

Validation (all 400 USER_ERROR unless noted, each naming ``o:errorPath``):

* unknown or unusable references (item, customer, subsidiary, location, account, currency, department,
  class, taxCode, price level, ...) -> "You have entered an Invalid Field Value <id> for the following
  field: <field>" with the JSON path, e.g. ``item.items[2].item``;
* inactive items and matrix parent items on new transaction lines;
* subsidiary / currency of a transaction must fit its customer; locations must belong to the
  transaction's subsidiary;
* required fields per type ("Please enter value(s) for: Customer"), at least one line on sales
  documents, two on journals;
* journal entries must balance (sum of debits = sum of credits per currency, in the currency's minor units);
* external ids: letters, digits, ``_`` and ``-`` only, unique per record type.

Computed fields: ``tranId``, line ``line`` numbers, line ``amount`` (rate x quantity, or the line's price
from the ``pricing`` table when no rate/amount is sent), ``total`` / ``subtotal``, ``status`` (enum
``{"id", "refName"}``), ``exchangeRate``, ``refName`` on references, ``createdDate`` / ``lastModifiedDate``.

Side effects: item fulfilments and cash sales reduce on-hand stock at the line location (cash sales
transformed from a sales order only for the not-yet-fulfilled part, which they fulfil), inventory
adjustments add ``adjustQtyBy``; transforms update the source order's fulfilled/billed quantities and
status; customer payments mark invoices paid; deposits mark cash sales / payments deposited.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from .schema import (
    ITEM,
    RECORD_TYPES,
    RECORD_TYPES_LOWER,
    TRANSACTION,
    TRANSFORMS,
    RecordType,
    SublistSpec,
    canonical_field,
)
from .store import Store
from .util import ApiError, iso, not_found, parse_tran_date, quantize, to_decimal, utcnow

RECORD_PATH = "/services/rest/record/v1"
EXTERNAL_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
_READ_ONLY = {"id", "links", "refName", "createdDate", "lastModifiedDate", "total", "subtotal", "taxTotal"}
_LINE_READ_ONLY = {"links", "quantityFulfilled", "quantityBilled", "refName"}
_ENUMS = {
    "matrixType": {"PARENT": "Parent Matrix Item", "CHILD": "Child Matrix Item"},
    "shipStatus": {"A": "Picked", "B": "Packed", "C": "Shipped"},
}
_SALES_LINE_TYPES = {"salesOrder", "cashSale", "invoice", "creditMemo", "cashRefund", "returnAuthorization"}


def _lower_keys(d: dict[str, Any]) -> dict[str, Any]:
    return {k.lower(): v for k, v in d.items()}


def _ref_id(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("id")
    return None if value is None else str(value)


def _enum_id(value: Any) -> Any:
    return value.get("id") if isinstance(value, dict) else value


def _clean(rec: dict[str, Any]) -> dict[str, Any]:
    """Drop the service's bookkeeping keys (``__*``) before storing."""
    out = {k: v for k, v in rec.items() if not k.startswith("__")}
    for k, v in out.items():
        if isinstance(v, dict) and isinstance(v.get("items"), list):
            out[k] = {"items": [{lk: lv for lk, lv in line.items() if not lk.startswith("__")} for line in v["items"]]}
    return out


class RecordService:
    def __init__(self, store: Store, clock: Callable[[], datetime] = utcnow) -> None:
        self.store = store
        self.clock = clock

    # --- lookups -----------------------------------------------------------------------------------
    @staticmethod
    def record_type(name: str) -> RecordType:
        canonical = RECORD_TYPES_LOWER.get(name.lower())
        if canonical is None:
            raise ApiError(404, "NONEXISTENT_ID", f"Record type '{name}' does not exist or is not supported by the "
                                                  "sandbox. Use the camelCase REST record type name, e.g. salesOrder.")
        return RECORD_TYPES[canonical]

    def load(self, rt: RecordType, ref: str) -> dict[str, Any]:
        rec = self.find(rt, ref)
        if rec is None:
            raise not_found()
        return rec

    def find(self, rt: RecordType, ref: str) -> dict[str, Any] | None:
        if ref.startswith("eid:"):
            return self.store.get_by_externalid(rt.name, ref[4:])
        if not ref.isdigit():
            raise ApiError(400, "INVALID_PARAMETER", f"Invalid record id '{ref}': use an internal id or eid:<externalId>.")
        return self.store.get(rt.name, int(ref))

    @staticmethod
    def ref_name(ttype: str, rec: dict[str, Any]) -> str:
        rt = RECORD_TYPES[ttype]
        if rt.family == TRANSACTION:
            return f"{rt.label} #{rec.get('tranId')}"
        if ttype == "account":
            return f"{rec.get('acctNumber', '')} {rec.get('acctName', '')}".strip()
        if ttype == "customer":
            return str(rec.get("entityId") or rec.get("companyName") or rec["id"])
        if ttype == "currency":
            return str(rec.get("name") or rec.get("symbol") or rec["id"])
        return str(rec.get(rt.name_field) or rec.get("name") or rec["id"])

    def _resolve_ref(self, targets: tuple[str, ...], value: Any, field: str,
                     path: str) -> tuple[dict[str, Any] | None, str | None, dict[str, Any] | None]:
        if value is None:
            return None, None, None
        if isinstance(value, dict):
            if value.get("id") in (None, ""):
                if value.get("externalId") is not None:
                    raise ApiError.user(f"Error while accessing a resource. The sandbox resolves references by internal "
                                        f"id only; send {field} as {{\"id\": \"<internal id>\"}}.", path=path)
                raise ApiError.invalid_ref(field, "(empty)", path)
            raw = value["id"]
        elif isinstance(value, (str, int)) and not isinstance(value, bool):
            raw = value
        else:
            raise ApiError.invalid_ref(field, value, path)
        rid = str(raw).strip()
        if not targets:
            return {"id": rid}, None, None
        if not rid.isdigit():
            raise ApiError.invalid_ref(field, rid, path)
        found = self.store.find(targets, int(rid))
        if found is None:
            raise ApiError.invalid_ref(field, rid, path)
        ttype, trec = found
        return {"id": rid, "refName": self.ref_name(ttype, trec)}, ttype, trec

    # --- normalisation (+ reference validation) ---------------------------------------------------
    def _normalize(self, rt: RecordType, body: Any, *, check_items: bool) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ApiError(400, "INVALID_CONTENT", "The request body must be a JSON object.")
        out: dict[str, Any] = {}
        for key, value in body.items():
            field = canonical_field(key)
            if field in _READ_ONLY or (field == "status" and rt.family == TRANSACTION):
                continue
            if field in rt.sublists:
                out[field] = self._normalize_sublist(rt, rt.sublists[field], value, check_items=check_items)
            elif field in rt.refs:
                out[field] = self._resolve_ref(rt.refs[field], value, field, field)[0]
            elif field in _ENUMS or field == "orderStatus":
                out[field] = self._enum(rt, field, value)
            elif field == "tranDate":
                out[field] = parse_tran_date(value) if value is not None else None
            elif field == "externalId":
                out[field] = self._external_id(value)
            else:
                out[field] = value
        return out

    def _enum(self, rt: RecordType, field: str, value: Any) -> dict[str, str] | None:
        if value is None:
            return None
        code = str(_enum_id(value)).strip()
        labels = (rt.statuses if field == "orderStatus" else _ENUMS[field])
        if field == "orderStatus":
            labels = {k: v for k, v in rt.statuses.items() if k in ("A", "B")}
        if code not in labels:
            raise ApiError(400, "INVALID_PARAMETER",
                           f"Invalid value '{code}' for field {field}; allowed: {', '.join(sorted(labels))}.",
                           path=field)
        return {"id": code, "refName": labels[code]}

    @staticmethod
    def _external_id(value: Any) -> str | None:
        if value is None:
            return None
        text = str(value)
        if not EXTERNAL_ID_RE.match(text):
            raise ApiError.user(f"Invalid external ID '{text[:80]}': use 1-255 letters, digits, '_' or '-' "
                                "(NetSuite reads '|' as a multi-select delimiter).", path="externalId")
        return text

    def _normalize_sublist(self, rt: RecordType, spec: SublistSpec, value: Any, *,
                           check_items: bool) -> dict[str, Any]:
        if isinstance(value, dict):
            items = value.get("items")
        else:
            items = None
        if not isinstance(items, list):
            raise ApiError.user(f"Sublist '{spec.name}' must be an object {{\"items\": [...]}}.", path=spec.name)
        lines = []
        for i, raw in enumerate(items):
            path = f"{spec.name}.items[{i}]"
            if not isinstance(raw, dict):
                raise ApiError.user("Each sublist line must be a JSON object.", path=path)
            line: dict[str, Any] = {"__path": i, "__touched": set()}
            for key, v in raw.items():
                field = canonical_field(key)
                if field in _LINE_READ_ONLY:
                    continue
                line["__touched"].add(field)
                fpath = f"{path}.{field}"
                if field in spec.refs:
                    ref, ttype, trec = self._resolve_ref(spec.refs[field], v, field, fpath)
                    line[field] = ref
                    if field == "item" and ttype and trec is not None and check_items:
                        self._check_sellable(rt, ttype, trec, fpath)
                    if field == "item" and ttype:
                        line["__itemtype"] = ttype
                elif field in ("line", "orderLine"):
                    try:
                        line[field] = int(str(v))
                    except ValueError:
                        raise ApiError.user(f"Invalid line number {v!r}.", path=fpath) from None
                elif field in ("quantity", "rate", "amount", "debit", "credit", "adjustQtyBy", "unitCost"):
                    line[field] = None if v is None else to_decimal(v, fpath)
                else:
                    line[field] = v
            lines.append(line)
        return {"items": lines}

    @staticmethod
    def _check_sellable(rt: RecordType, ttype: str, item: dict[str, Any], path: str) -> None:
        if rt.name not in _SALES_LINE_TYPES and rt.name != "inventoryAdjustment":
            return
        if item.get("isInactive"):
            raise ApiError.invalid_ref("item", item["id"], path, f"item {item.get('itemId')} is inactive")
        if _enum_id(item.get("matrixType")) == "PARENT":
            raise ApiError.invalid_ref("item", item["id"], path,
                                       f"{item.get('itemId')} is a matrix parent; use one of its child items")
        if rt.name == "inventoryAdjustment" and ttype != "inventoryItem":
            raise ApiError.invalid_ref("item", item["id"], path, "only inventory items can be adjusted")

    # --- create / update / upsert -----------------------------------------------------------------
    def create(self, rt: RecordType, body: Any, *, from_transform: bool = False, record_id: int | None = None) -> str:
        """POST: validate, complete and store a new record; returns its internal id.

        ``record_id`` (seeding only) forces the internal id.
        """
        if not rt.direct_create and not from_transform:
            raise ApiError.user(f"A {rt.label} can only be created by transforming its source transaction: "
                                f"POST {RECORD_PATH}/salesOrder/{{id}}/!transform/{rt.name}.")
        with self.store.tx():
            rec = self._normalize(rt, body, check_items=not from_transform)
            for sub in rt.sublists:
                for n, line in enumerate(rec.get(sub, {}).get("items", []), start=1):
                    line["__new"] = True
                    line["line"] = n            # a new record's lines are numbered 1..n
            eid = rec.get("externalId")
            if eid is not None and self.store.get_by_externalid(rt.name, eid) is not None:
                raise ApiError.user(f"A {rt.label} with the external ID {eid} already exists; use "
                                    f"PUT {RECORD_PATH}/{rt.name}/eid:{eid} to update it.", path="externalId")
            rid = record_id if record_id is not None else self.store.next_id(rt.family)
            now = iso(self.clock())
            rec = {"id": str(rid), **{k: v for k, v in rec.items() if v is not None}}
            rec["createdDate"] = now
            rec["lastModifiedDate"] = now
            self._finalize(rt, rec, new=True)
            stored = _clean(rec)
            self.store.put(rt, stored, new=True)
            self._after_create(rt, stored, from_transform=from_transform)
            return str(rid)

    def update(self, rt: RecordType, ref: str, body: Any, replace: set[str] | None = None) -> str:
        with self.store.tx():
            existing = self.load(rt, ref)
            patch = self._normalize(rt, body, check_items=True)
            rec = self._merge(rt, existing, patch, replace or set())
            eid = rec.get("externalId")
            if eid is not None and eid != existing.get("externalId"):
                other = self.store.get_by_externalid(rt.name, eid)
                if other is not None and other["id"] != existing["id"]:
                    raise ApiError.user(f"The external ID {eid} is already used by {rt.label} {other['id']}.",
                                        path="externalId")
            rec["lastModifiedDate"] = iso(self.clock())
            self._finalize(rt, rec, new=False)
            self.store.put(rt, _clean(rec), new=False)
            return rec["id"]

    def upsert(self, rt: RecordType, external_id: str, body: Any, replace: set[str] | None = None) -> tuple[str, bool]:
        """PUT eid: — update when a record with the external id exists, else create. Atomic."""
        eid = self._external_id(external_id)
        assert eid is not None
        with self.store.tx():
            if not isinstance(body, dict):
                raise ApiError(400, "INVALID_CONTENT", "The request body must be a JSON object.")
            body = {k: v for k, v in body.items() if canonical_field(k) != "externalId"}
            if self.store.get_by_externalid(rt.name, eid) is not None:
                return self.update(rt, f"eid:{eid}", body, replace), False
            return self.create(rt, {**body, "externalId": eid}), True

    def _merge(self, rt: RecordType, existing: dict[str, Any], patch: dict[str, Any],
               replace: set[str]) -> dict[str, Any]:
        rec = copy.deepcopy(existing)
        for name in replace:
            if name not in rt.sublists:
                raise ApiError(400, "INVALID_PARAMETER", f"replace={name}: {rt.label} has no sublist '{name}' "
                               f"(sublists: {', '.join(rt.sublists) or 'none'}).", query_param="replace")
            if name not in patch:
                patch[name] = {"items": []}
        for key, value in patch.items():
            if key not in rt.sublists:
                if value is None:
                    rec.pop(key, None)
                else:
                    rec[key] = value
                continue
            spec = rt.sublists[key]
            current = rec.get(key, {}).get("items", [])
            by_key = {self._line_key(spec, ln): ln for ln in current}
            result = [] if key in replace else current
            next_line = max([ln.get("line", 0) for ln in current] + [0]) + 1
            for pl in value["items"]:
                k = self._line_key(spec, pl)
                if k is not None and k in by_key:
                    target = by_key[k]
                    for f, v in pl.items():
                        if f in ("__touched", "__path", "__itemtype"):
                            continue
                        if v is None:
                            target.pop(f, None)
                        else:
                            target[f] = v
                    target["__touched"] = pl["__touched"]
                    target["__path"] = pl["__path"]
                    if "__itemtype" in pl:
                        target["__itemtype"] = pl["__itemtype"]
                    if key in replace:
                        result.append(target)
                elif spec.key == "line" and pl.get("line") is not None:
                    raise ApiError.user(f"Line {pl['line']} does not exist on sublist '{key}'; omit 'line' to add a "
                                        "new line.", path=f"{key}.items[{pl['__path']}].line")
                else:
                    pl["__new"] = True
                    pl["line"] = next_line
                    next_line += 1
                    result.append(pl)
            rec[key] = {"items": result}
        return rec

    @staticmethod
    def _line_key(spec: SublistSpec, line: dict[str, Any]) -> Any:
        if spec.key is None:
            return None
        value = line.get(spec.key)
        return _ref_id(value) if spec.key == "doc" else value

    # --- completion & validation -----------------------------------------------------------------
    def _finalize(self, rt: RecordType, rec: dict[str, Any], *, new: bool) -> None:
        for field, label in rt.required:
            if rec.get(field) in (None, ""):
                if rt.family == TRANSACTION and field == "customer" and rec.get("entity"):
                    continue
                raise ApiError.user(f"Error while accessing a resource. Please enter value(s) for: {label}.",
                                    path=field)
        if rt.family == TRANSACTION:
            self._finalize_transaction(rt, rec, new=new)
        elif rt.family == ITEM:
            self._finalize_item(rt, rec)
        elif rt.name == "customer":
            if not (rec.get("entityId") or rec.get("companyName")):
                raise ApiError.user("Error while accessing a resource. Please enter value(s) for: Company Name.",
                                    path="companyName")
            if rec.get("currency") is None:
                sub = self.store.get("subsidiary", int(rec["subsidiary"]["id"]))
                if sub and sub.get("currency"):
                    rec["currency"] = copy.deepcopy(sub["currency"])
        if rt.family != TRANSACTION:
            rec.setdefault("isInactive", False)

    def _finalize_item(self, rt: RecordType, rec: dict[str, Any]) -> None:
        item_id = rec.get("itemId")
        rows = self.store.query("SELECT id FROM item WHERE itemid = :n AND id <> :i",
                                {"n": item_id, "i": int(rec["id"])})
        if rows:
            raise ApiError.user(f"The item name {item_id} is already used by item {rows[0][0]}; item names must be "
                                "unique.", path="itemId")
        mtype = _enum_id(rec.get("matrixType"))
        if mtype == "CHILD":
            parent = rec.get("parent")
            if parent is None:
                raise ApiError.user("Error while accessing a resource. Please enter value(s) for: Subitem of "
                                    "(matrix child items need their parent).", path="parent")
            found = self.store.find(("inventoryItem", "nonInventorySaleItem", "serviceSaleItem"), int(parent["id"]))
            if found is None or _enum_id(found[1].get("matrixType")) != "PARENT":
                raise ApiError.invalid_ref("parent", parent["id"], "parent", "the parent must be a matrix parent item")

    def _finalize_transaction(self, rt: RecordType, rec: dict[str, Any], *, new: bool) -> None:
        if rec.get("tranDate") is None:
            rec["tranDate"] = self.clock().date().isoformat()
        if new and not rec.get("tranId"):
            n = self.store.next_counter(f"tranid:{rt.name}", 1001)
            rec["tranId"] = f"{rt.tranid_prefix}{n}"
        self._subsidiary_currency(rt, rec)
        currency_code = self._currency_symbol(rec)
        for sub_name, spec in rt.sublists.items():
            lines = rec.get(sub_name, {}).get("items", [])
            for pos, line in enumerate(lines):
                if line.get("__new"):
                    for req in spec.required:
                        if line.get(req) is None:
                            path = f"{sub_name}.items[{line.get('__path', pos)}].{req}"
                            raise ApiError.user(f"Error while accessing a resource. Please enter value(s) for: {req}.",
                                                path=path)
                if "line" not in line:
                    line["line"] = max([ln.get("line", 0) for ln in lines if isinstance(ln.get("line"), int)] + [0]) + 1
                self._check_line_location(rec, sub_name, line, pos)
        if "item" in rt.sublists:
            lines = rec.get("item", {}).get("items", [])
            if not lines and rt.name not in ("itemFulfillment",):
                raise ApiError.user("Error while accessing a resource. You must enter at least one line item for "
                                    "this transaction.", path="item")
            subtotal = tax = Decimal(0)
            for pos, line in enumerate(lines):
                subtotal += self._line_amount(rec, line, pos, currency_code)
                if line.get("tax1Amt") is not None:  # a line's tax amount (SuiteTax / tax override)
                    tax += to_decimal(line["tax1Amt"], f"item.items[{pos}].tax1Amt")
            rec["subtotal"] = quantize(subtotal, currency_code)
            rec["taxTotal"] = quantize(tax, currency_code)
            rec["total"] = quantize(subtotal + tax, currency_code)
        if rt.name == "journalEntry":
            self._journal(rec, currency_code)
        elif rt.name == "deposit":
            self._deposit(rec, currency_code)
        elif rt.name in ("customerPayment", "customerRefund"):
            self._applied_total(rt, rec, currency_code)
        elif rt.name == "inventoryAdjustment":
            lines = rec.get("inventory", {}).get("items", [])
            if not lines:
                raise ApiError.user("Error while accessing a resource. You must enter at least one line item for "
                                    "this transaction.", path="inventory")
            for pos, line in enumerate(lines):
                if line.get("adjustQtyBy") in (None, Decimal(0), 0):
                    raise ApiError.user("Adjust Qty. By must be a non-zero number.",
                                        path=f"inventory.items[{line.get('__path', pos)}].adjustQtyBy")
        self._status(rt, rec, new=new)
        if rt.name == "itemFulfillment":
            for pos, line in enumerate(rec.get("item", {}).get("items", [])):
                if line.get("location") is None and rec.get("location") is None:
                    raise ApiError.user("Error while accessing a resource. Please enter value(s) for: Inventory "
                                        "Location.", path=f"item.items[{pos}].location")

    def _subsidiary_currency(self, rt: RecordType, rec: dict[str, Any]) -> None:
        entity_ref = rec.get("entity") or rec.get("customer")
        customer = self.store.get("customer", int(entity_ref["id"])) if entity_ref else None
        if customer is not None:
            cust_sub = customer.get("subsidiary")
            if rec.get("subsidiary") is None and cust_sub:
                rec["subsidiary"] = copy.deepcopy(cust_sub)
            elif cust_sub and rec["subsidiary"]["id"] != cust_sub["id"]:
                raise ApiError.invalid_ref(
                    "subsidiary", rec["subsidiary"]["id"], "subsidiary",
                    f"customer {customer.get('entityId')} belongs to subsidiary {cust_sub.get('refName')}")
            allowed = {_ref_id(customer.get("currency"))} | {
                _ref_id(c.get("currency")) for c in customer.get("currencyList", {}).get("items", [])}
            allowed.discard(None)
            if rec.get("currency") is None and customer.get("currency"):
                rec["currency"] = copy.deepcopy(customer["currency"])
            elif rec.get("currency") is not None and allowed and rec["currency"]["id"] not in allowed:
                raise ApiError.invalid_ref("currency", rec["currency"]["id"], "currency",
                                           f"customer {customer.get('entityId')} trades in "
                                           f"{customer.get('currency', {}).get('refName')}")
        sub = self.store.get("subsidiary", int(rec["subsidiary"]["id"])) if rec.get("subsidiary") else None
        if rec.get("currency") is None and sub and sub.get("currency"):
            rec["currency"] = copy.deepcopy(sub["currency"])
        if rec.get("exchangeRate") is None and rec.get("currency") and sub and sub.get("currency"):
            tx_cur = self.store.get("currency", int(rec["currency"]["id"])) or {}
            base = self.store.get("currency", int(sub["currency"]["id"])) or {}
            tx_usd = Decimal(str(tx_cur.get("exchangeRate", 1)))
            base_usd = Decimal(str(base.get("exchangeRate", 1)))
            rec["exchangeRate"] = (tx_usd / base_usd).quantize(Decimal("0.000001")).normalize() \
                if rec["currency"]["id"] != sub["currency"]["id"] else Decimal("1")
        if rec.get("location") is not None and sub is not None:
            loc = self.store.get("location", int(rec["location"]["id"]))
            if loc and _ref_id(loc.get("subsidiary")) not in (None, sub["id"]):
                raise ApiError.invalid_ref("location", rec["location"]["id"], "location",
                                           f"location {loc.get('name')} belongs to another subsidiary")

    def _check_line_location(self, rec: dict[str, Any], sub_name: str, line: dict[str, Any], pos: int) -> None:
        loc_ref = line.get("location")
        sub_id = _ref_id(rec.get("subsidiary"))
        if loc_ref is None or sub_id is None or "location" not in line.get("__touched", {"location"}):
            return
        loc = self.store.get("location", int(loc_ref["id"]))
        if loc and _ref_id(loc.get("subsidiary")) not in (None, sub_id):
            raise ApiError.invalid_ref("location", loc_ref["id"],
                                       f"{sub_name}.items[{line.get('__path', pos)}].location",
                                       f"location {loc.get('name')} belongs to another subsidiary")

    def _currency_symbol(self, rec: dict[str, Any]) -> str | None:
        cur = rec.get("currency")
        if not cur:
            return None
        c = self.store.get("currency", int(cur["id"]))
        return c.get("symbol") if c else None

    def _line_amount(self, rec: dict[str, Any], line: dict[str, Any], pos: int, currency: str | None) -> Decimal:
        touched = line.get("__touched", set())
        path = f"item.items[{line.get('__path', pos)}]"
        if line.get("quantity") is None:
            line["quantity"] = Decimal(1)
        qty = Decimal(str(line["quantity"]))
        recompute = line.get("__new") or bool({"quantity", "rate", "item", "price"} & touched)
        if "amount" in touched and line.get("amount") is not None:
            amount = quantize(Decimal(str(line["amount"])), currency)
            if line.get("rate") is None and qty != 0:
                line["rate"] = (amount / qty).quantize(Decimal("0.0001")).normalize()
        elif line.get("amount") is not None and not recompute:
            amount = Decimal(str(line["amount"]))
        else:
            rate = line.get("rate")
            if rate is None or ("item" in touched and "rate" not in touched and not line.get("__new")):
                rate = self._list_price(rec, line, qty)
                if rate is None:
                    raise ApiError.user("Error while accessing a resource. Please enter value(s) for: Amount "
                                        "(the item has no price in this currency and price level; send rate or "
                                        "amount).", path=f"{path}.amount")
                line["rate"] = rate
            amount = quantize(Decimal(str(rate)) * qty, currency)
        line["amount"] = amount
        line.setdefault("isClosed", False)
        return amount

    def _list_price(self, rec: dict[str, Any], line: dict[str, Any], qty: Decimal) -> Decimal | None:
        item_id = _ref_id(line.get("item"))
        cur = _ref_id(rec.get("currency"))
        if item_id is None or cur is None:
            return None
        level = int(_ref_id(line.get("price")) or 1)
        return self.store.price(int(item_id), level, int(cur), qty, self.clock())

    def _journal(self, rec: dict[str, Any], currency: str | None) -> None:
        lines = rec.get("line", {}).get("items", [])
        if len(lines) < 2:
            raise ApiError.user("Error while accessing a resource. You must enter at least two line items for this "
                                "transaction.", path="line")
        sums: dict[str, list[Decimal]] = {}
        for pos, line in enumerate(lines):
            path = f"line.items[{line.get('__path', pos)}]"
            line_cur = _ref_id(line.get("currency"))
            code = currency or "?"
            if line_cur:
                c = self.store.get("currency", int(line_cur))
                code = c.get("symbol", code) if c else code
            debit = line.get("debit")
            credit = line.get("credit")
            debit = quantize(Decimal(str(debit)), code) if debit is not None else None
            credit = quantize(Decimal(str(credit)), code) if credit is not None else None
            if (debit is None or debit == 0) == (credit is None or credit == 0):
                raise ApiError.user("Each journal line needs exactly one of debit or credit (a non-zero amount).",
                                    path=path)
            if (debit is not None and debit < 0) or (credit is not None and credit < 0):
                raise ApiError.user("Journal debit and credit amounts cannot be negative; move the amount to the "
                                    "other column.", path=path)
            for f, v in (("debit", debit), ("credit", credit)):
                if v is None or v == 0:
                    line.pop(f, None)
                else:
                    line[f] = v
            bucket = sums.setdefault(code, [Decimal(0), Decimal(0)])
            bucket[0] += debit or 0
            bucket[1] += credit or 0
        for code, (d, c) in sums.items():
            if d != c:
                raise ApiError.user(f"Error while accessing a resource. The journal entry is out of balance in {code}: "
                                    f"debits {d} and credits {c} differ by {d - c}. Debits and credits must be "
                                    "equal.", path="line")
        rec["total"] = quantize(sum((v[0] for v in sums.values()), Decimal(0)), currency)

    def _deposit(self, rec: dict[str, Any], currency: str | None) -> None:
        total = Decimal(0)
        for pos, line in enumerate(rec.get("payment", {}).get("items", [])):
            if line.get("amount") is None:
                doc = self.store.find(tuple(t for t in RECORD_TYPES if RECORD_TYPES[t].family == TRANSACTION),
                                      int(_ref_id(line["doc"]) or 0))
                line["amount"] = doc[1].get("total", Decimal(0)) if doc else Decimal(0)
            line.setdefault("deposit", True)
            if line["deposit"]:
                total += to_decimal(line["amount"], f"payment.items[{pos}].amount")
        for name, sign in (("other", 1), ("cashBack", -1)):
            for pos, line in enumerate(rec.get(name, {}).get("items", [])):
                if line.get("amount") is None:
                    raise ApiError.user("Error while accessing a resource. Please enter value(s) for: Amount.",
                                        path=f"{name}.items[{line.get('__path', pos)}].amount")
                total += sign * to_decimal(line["amount"], f"{name}.items[{pos}].amount")
        if total < 0:
            raise ApiError.user(f"The deposit total {total} is negative; a deposit must total zero or more.",
                                path="cashBack")
        rec["total"] = quantize(total, currency)

    def _applied_total(self, rt: RecordType, rec: dict[str, Any], currency: str | None) -> None:
        total = Decimal(0)
        for pos, line in enumerate(rec.get("apply", {}).get("items", [])):
            line.setdefault("apply", True)
            if line.get("amount") is None:
                doc = self.store.find(tuple(t for t in RECORD_TYPES if RECORD_TYPES[t].family == TRANSACTION),
                                      int(_ref_id(line["doc"]) or 0))
                line["amount"] = doc[1].get("total", Decimal(0)) if doc else Decimal(0)
            if line["apply"]:
                total += to_decimal(line["amount"], f"apply.items[{pos}].amount")
        explicit = rec.get("payment") if rt.name == "customerPayment" else None
        rec["total"] = quantize(to_decimal(explicit, "payment") if explicit is not None else total, currency)
        if rt.name == "customerPayment":
            rec["payment"] = rec["total"]

    def _status(self, rt: RecordType, rec: dict[str, Any], *, new: bool) -> None:
        if not rt.statuses:
            return
        code = _enum_id(rec.get("status")) or rt.default_status
        if rt.name == "salesOrder":
            order_status = _enum_id(rec.get("orderStatus")) or "A"
            rec["orderStatus"] = {"id": order_status, "refName": rt.statuses[order_status]}
            code = self._order_progress(rec, order_status)
        elif rt.name == "returnAuthorization":
            lines = [ln for ln in rec.get("item", {}).get("items", []) if not ln.get("isClosed")]
            if lines and all(Decimal(str(ln.get("quantityBilled", 0))) >= Decimal(str(ln["quantity"]))
                             for ln in lines):
                code = "G"
            elif not lines:
                code = "H"
            else:
                code = code if not new else "B"
        elif rt.name == "itemFulfillment":
            code = _enum_id(rec.get("shipStatus")) or "C"
            rec["shipStatus"] = {"id": code, "refName": rt.statuses[code]}
        if code is not None:
            rec["status"] = {"id": code, "refName": rt.statuses.get(code, code)}

    def _order_progress(self, rec: dict[str, Any], order_status: str) -> str:
        lines = rec.get("item", {}).get("items", [])
        open_lines = [ln for ln in lines if not ln.get("isClosed")]
        if lines and not open_lines:
            return "H"
        inv = [ln for ln in open_lines if self._is_inventory(ln)]

        def q(line: dict[str, Any], key: str) -> Decimal:
            return Decimal(str(line.get(key) or 0))

        fulfilled_any = any(q(ln, "quantityFulfilled") > 0 for ln in inv)
        fulfilled_all = bool(inv) and all(q(ln, "quantityFulfilled") >= q(ln, "quantity") for ln in inv)
        billed_all = bool(open_lines) and all(q(ln, "quantityBilled") >= q(ln, "quantity") for ln in open_lines)
        unbilled_fulfilled = any(q(ln, "quantityFulfilled") > q(ln, "quantityBilled") for ln in inv)
        if order_status == "A" and not fulfilled_any and not billed_all:
            return "A"
        if billed_all and (fulfilled_all or not inv):
            return "G"
        if fulfilled_all:
            return "F"
        if fulfilled_any:
            return "E" if unbilled_fulfilled else "D"
        return "B"

    def _is_inventory(self, line: dict[str, Any]) -> bool:
        item_id = _ref_id(line.get("item"))
        if item_id is None:
            return False
        return self.store.get("inventoryItem", int(item_id)) is not None

    # --- side effects -------------------------------------------------------------------------------
    def _after_create(self, rt: RecordType, rec: dict[str, Any], *, from_transform: bool) -> None:
        if rt.name == "itemFulfillment" or (rt.name == "cashSale" and not from_transform):
            self._move_stock(rec, sign=-1)
        elif rt.name == "inventoryAdjustment":
            for line in rec.get("inventory", {}).get("items", []):
                self.store.adjust_onhand(int(line["item"]["id"]), int(line["location"]["id"]),
                                         Decimal(str(line["adjustQtyBy"])), self.clock())
        elif rt.name == "customerPayment":
            for line in rec.get("apply", {}).get("items", []):
                if not line.get("apply"):
                    continue
                self._settle(line, "invoice", paid_status="B", amount_field="amountPaid")
        elif rt.name == "deposit":
            for line in rec.get("payment", {}).get("items", []):
                if line.get("deposit"):
                    for ttype in ("cashSale", "customerPayment"):
                        doc = self.store.get(ttype, int(line["doc"]["id"]))
                        if doc is not None:
                            drt = RECORD_TYPES[ttype]
                            doc["status"] = {"id": "C", "refName": drt.statuses["C"]}
                            doc["lastModifiedDate"] = iso(self.clock())
                            self.store.put(drt, doc, new=False)

    def _settle(self, line: dict[str, Any], ttype: str, *, paid_status: str, amount_field: str) -> None:
        doc = self.store.get(ttype, int(line["doc"]["id"]))
        if doc is None:
            return
        drt = RECORD_TYPES[ttype]
        doc[amount_field] = Decimal(str(doc.get(amount_field, 0))) + Decimal(str(line["amount"]))
        if doc[amount_field] >= Decimal(str(doc.get("total", 0))):
            doc["status"] = {"id": paid_status, "refName": drt.statuses[paid_status]}
        doc["lastModifiedDate"] = iso(self.clock())
        self.store.put(drt, doc, new=False)

    def _move_stock(self, rec: dict[str, Any], sign: int, quantities: dict[int, Decimal] | None = None) -> None:
        header_loc = _ref_id(rec.get("location"))
        for line in rec.get("item", {}).get("items", []):
            loc = _ref_id(line.get("location")) or header_loc
            item_id = _ref_id(line.get("item"))
            if loc is None or item_id is None or self.store.get("inventoryItem", int(item_id)) is None:
                continue
            qty = quantities.get(line["line"]) if quantities is not None else Decimal(str(line["quantity"]))
            if qty:
                self.store.adjust_onhand(int(item_id), int(loc), sign * qty, self.clock())

    # --- transform ------------------------------------------------------------------------------------
    def transform(self, from_rt: RecordType, ref: str, to_rt: RecordType, body: Any) -> str:
        kind = TRANSFORMS.get((from_rt.name, to_rt.name))
        if kind is None:
            supported = ", ".join(f"{a}->{b}" for a, b in TRANSFORMS)
            article = "an" if to_rt.label[0] in "AEIOU" else "a"
            raise ApiError.user(f"Transforming a {from_rt.label} into {article} {to_rt.label} is not supported "
                                f"(supported: {supported}).")
        body = body or {}
        if not isinstance(body, dict):
            raise ApiError(400, "INVALID_CONTENT", "The request body must be a JSON object.")
        with self.store.tx():
            src = self.load(from_rt, ref)
            status = _enum_id(src.get("status"))
            cannot = f"Error while accessing a resource. You can not initialize {to_rt.name}: invalid reference {src['id']}."
            if from_rt.name == "salesOrder" and status == "A":
                raise ApiError.user(cannot + " The sales order is Pending Approval; set orderStatus to B first.")
            if status in ("C", "H"):
                raise ApiError.user(cannot + f" The {from_rt.label} is {src['status'].get('refName')}.")
            overrides: dict[int, tuple[int, dict[str, Any]]] = {}
            header: dict[str, Any] = {}
            for key, value in body.items():
                field = canonical_field(key)
                if field != "item":
                    header[field] = value
                    continue
                items = value.get("items") if isinstance(value, dict) else None
                if not isinstance(items, list):
                    raise ApiError.user("Sublist 'item' must be an object {\"items\": [...]}.", path="item")
                for i, raw in enumerate(items):
                    low = {canonical_field(k): v for k, v in raw.items()} if isinstance(raw, dict) else {}
                    if "orderLine" not in low:
                        raise ApiError.user("Transform lines are keyed by orderLine (the source line number).",
                                            path=f"item.items[{i}].orderLine")
                    overrides[int(str(low["orderLine"]))] = (i, low)
            src_lines = src.get("item", {}).get("items", [])
            known = {ln["line"] for ln in src_lines}
            for line_no, (i, _) in overrides.items():
                if line_no not in known:
                    raise ApiError.user(f"Line {line_no} does not exist on {from_rt.label} {src['id']}.",
                                        path=f"item.items[{i}].orderLine")
            track = {"fulfil": "quantityFulfilled", "bill": "quantityBilled"}.get(kind)
            if kind == "refund" and from_rt.name == "returnAuthorization":
                track = "quantityBilled"
            new_lines: list[dict[str, Any]] = []
            taken: dict[int, Decimal] = {}
            for sline in src_lines:
                if sline.get("isClosed"):
                    continue
                if kind == "fulfil" and self.store.get("inventoryItem", int(sline["item"]["id"])) is None:
                    continue
                ordered = Decimal(str(sline["quantity"]))
                done = Decimal(str(sline.get(track, 0))) if track else Decimal(0)
                remaining = ordered - done
                i, o = overrides.get(sline["line"], (None, {}))
                if o.get("itemReceive") is False:
                    continue
                qty = to_decimal(o["quantity"], f"item.items[{i}].quantity") if o.get("quantity") is not None \
                    else remaining
                if qty <= 0:
                    continue
                if track and qty > remaining:
                    raise ApiError.user(f"You cannot {'fulfill' if kind == 'fulfil' else 'bill'} {qty} of line "
                                        f"{sline['line']}: only {remaining} remain.", path=f"item.items[{i}].quantity")
                line = {k: copy.deepcopy(v) for k, v in sline.items()
                        if k in ("item", "rate", "description", "location", "taxCode", "price", "department", "class")
                        or k.startswith("custcol")}
                line["quantity"] = qty
                if qty == ordered and sline.get("amount") is not None:
                    line["amount"] = sline["amount"]
                if o.get("location") is not None:
                    line["location"] = o["location"]
                line["orderLine"] = sline["line"]
                for f, v in o.items():
                    if f not in ("orderLine", "quantity", "itemReceive", "location", "line"):
                        line[f] = v
                new_lines.append(line)
                taken[sline["line"]] = qty
            if not new_lines:
                raise ApiError.user(cannot + f" Nothing remains to {'fulfill' if kind == 'fulfil' else 'bill'}.")
            new_body: dict[str, Any] = {k: copy.deepcopy(v) for k, v in src.items()
                                        if k in ("entity", "subsidiary", "currency", "exchangeRate", "location",
                                                 "department", "class", "otherRefNum", "memo", "salesChannel")
                                        or k.startswith("custbody")}
            new_body.update(header)
            new_body["createdFrom"] = {"id": src["id"]}
            new_body["item"] = {"items": new_lines}
            new_id = self.create(to_rt, new_body, from_transform=True)
            # update the source document
            if track:
                implicit: dict[int, Decimal] = {}
                for sline in src_lines:
                    if sline["line"] in taken:
                        qty = taken[sline["line"]]
                        sline[track] = Decimal(str(sline.get(track, 0))) + qty
                        if kind == "bill" and to_rt.name == "cashSale" and self._is_inventory(sline):
                            # a cash sale of unfulfilled quantity ships it (no separate fulfilment)
                            unfulfilled = Decimal(str(sline["quantity"])) - Decimal(
                                str(sline.get("quantityFulfilled", 0)))
                            ship = min(qty, max(unfulfilled, Decimal(0)))
                            if ship > 0:
                                sline["quantityFulfilled"] = Decimal(str(sline.get("quantityFulfilled", 0))) + ship
                                implicit[sline["line"]] = ship
                if implicit:
                    self._move_stock(src, sign=-1, quantities=implicit)
                src["lastModifiedDate"] = iso(self.clock())
                self._status(from_rt, src, new=False)
                self.store.put(from_rt, src, new=False)
            return new_id

    # --- reading ------------------------------------------------------------------------------------
    def render(self, rt: RecordType, rec: dict[str, Any], base: str, *, expand: bool) -> dict[str, Any]:
        url = f"{base}{RECORD_PATH}/{rt.name}/{rec['id']}"
        out: dict[str, Any] = {"links": [{"rel": "self", "href": url}]}
        for key, value in rec.items():
            if key in rt.sublists:
                sub_url = f"{url}/{key}"
                if expand:
                    items = [self._render_line(rt.sublists[key], line, base, f"{sub_url}/{line.get('line')}")
                             for line in value.get("items", [])]
                    out[key] = {"links": [{"rel": "self", "href": sub_url}], "items": items,
                                "totalResults": len(items), "count": len(items), "hasMore": False, "offset": 0}
                else:
                    out[key] = {"links": [{"rel": "self", "href": sub_url}]}
            elif key in rt.refs and isinstance(value, dict):
                out[key] = self._render_ref(rt.refs[key], value, base)
            else:
                out[key] = value
        return out

    def _render_line(self, spec: SublistSpec, line: dict[str, Any], base: str, url: str) -> dict[str, Any]:
        out: dict[str, Any] = {"links": [{"rel": "self", "href": url}]}
        for key, value in line.items():
            if key in spec.refs and isinstance(value, dict):
                out[key] = self._render_ref(spec.refs[key], value, base)
            else:
                out[key] = value
        return out

    def _render_ref(self, targets: tuple[str, ...], ref: dict[str, Any], base: str) -> dict[str, Any]:
        ttype = targets[0] if len(targets) == 1 else None
        if ttype is None and targets and str(ref.get("id", "")).isdigit():
            found = self.store.find(targets, int(ref["id"]))
            ttype = found[0] if found else targets[0]
        out: dict[str, Any] = {}
        if ttype:
            out["links"] = [{"rel": "self", "href": f"{base}{RECORD_PATH}/{ttype.lower()}/{ref['id']}"}]
        out.update(ref)
        return out

    def get(self, rt: RecordType, ref: str, base: str, *, expand: bool) -> dict[str, Any]:
        return self.render(rt, self.load(rt, ref), base, expand=expand)

    def sublist(self, rt: RecordType, ref: str, name: str, base: str, line_no: str | None) -> dict[str, Any]:
        rec = self.load(rt, ref)
        canonical = next((s for s in rt.sublists if s.lower() == name.lower()), None)
        if canonical is None:
            raise ApiError(404, "NONEXISTENT_ID", f"{rt.label} has no sublist or subrecord '{name}'.")
        url = f"{base}{RECORD_PATH}/{rt.name}/{rec['id']}/{canonical}"
        lines = rec.get(canonical, {}).get("items", [])
        spec = rt.sublists[canonical]
        if line_no is not None:
            for line in lines:
                if str(line.get("line")) == line_no:
                    return self._render_line(spec, line, base, f"{url}/{line_no}")
            raise not_found("The sublist line does not exist.")
        items = [self._render_line(spec, ln, base, f"{url}/{ln.get('line')}") for ln in lines]
        return {"links": [{"rel": "self", "href": url}], "items": items, "totalResults": len(items),
                "count": len(items), "hasMore": False, "offset": 0}

    def list(self, rt: RecordType, base: str, limit: int, offset: int, q: str | None) -> dict[str, Any]:
        if not 1 <= limit <= 1000:
            raise ApiError(400, "INVALID_PARAMETER", "The limit must be between 1 and 1000.", query_param="limit")
        if offset < 0 or offset % limit:
            raise ApiError(400, "INVALID_PARAMETER", "The offset must be a non-negative multiple of the limit.",
                           query_param="offset")
        if q:
            matcher = _QueryFilter(q)
            ids = [int(r["id"]) for r in self.store.records(rt.name) if matcher.match(r)]
            total = len(ids)
            page = ids[offset:offset + limit]
        else:
            total = self.store.count(rt.name)
            page = self.store.ids(rt.name, limit, offset)
        url = f"{base}{RECORD_PATH}/{rt.name}"
        items = [{"links": [{"rel": "self", "href": f"{url}/{i}"}], "id": str(i)} for i in page]
        has_more = offset + len(page) < total
        links = []
        if offset > 0:
            links.append({"rel": "previous", "href": f"{url}?limit={limit}&offset={max(0, offset - limit)}"})
        links.append({"rel": "first", "href": f"{url}?limit={limit}&offset=0"})
        if has_more:
            links.append({"rel": "next", "href": f"{url}?limit={limit}&offset={offset + limit}"})
        last = max(0, (total - 1) // limit * limit)
        links.append({"rel": "last", "href": f"{url}?limit={limit}&offset={last}"})
        links.append({"rel": "self", "href": f"{url}?limit={limit}&offset={offset}"})
        return {"links": links, "count": len(items), "hasMore": has_more, "items": items, "offset": offset,
                "totalResults": total}


# --- ?q= filtering of record collections -------------------------------------------------------------
_Q_TERM = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s+([A-Z_]+)(?:\s+("(?:[^"\\]|\\.)*"|[^\s"]+))?\s*', re.ASCII)


class _QueryFilter:
    """``field OPERATOR value`` terms joined by AND / OR (AND binds tighter), NetSuite's ``q`` syntax subset.

    Operators: IS, IS_NOT, EQUAL, NOT_EQUAL, ANY_OF, START_WITH, CONTAIN, END_WITH, GREATER, LESS,
    GREATER_OR_EQUAL, LESS_OR_EQUAL, AFTER, BEFORE, ON_OR_AFTER, ON_OR_BEFORE, EMPTY, EMPTY_NOT.
    References compare by internal id; dates compare as ISO text.
    """

    OPS = {"IS", "IS_NOT", "EQUAL", "NOT_EQUAL", "ANY_OF", "START_WITH", "CONTAIN", "END_WITH", "GREATER", "LESS",
           "GREATER_OR_EQUAL", "LESS_OR_EQUAL", "AFTER", "BEFORE", "ON_OR_AFTER", "ON_OR_BEFORE", "EMPTY",
           "EMPTY_NOT"}

    def __init__(self, q: str) -> None:
        self.groups: list[list[tuple[str, str, str | None]]] = [[]]
        pos = 0
        while pos < len(q):
            m = _Q_TERM.match(q, pos)
            if not m or m.group(2) not in self.OPS:
                raise ApiError(400, "INVALID_PARAMETER", f"Invalid query q near {q[pos:pos + 40]!r}: use "
                               "'<field> <OPERATOR> <value>' joined by AND / OR.", query_param="q")
            value = m.group(3)
            if value is not None and value.startswith('"'):
                value = value[1:-1].replace('\\"', '"')
            if m.group(2) not in ("EMPTY", "EMPTY_NOT") and value is None:
                raise ApiError(400, "INVALID_PARAMETER", f"Operator {m.group(2)} needs a value.", query_param="q")
            self.groups[-1].append((m.group(1).lower(), m.group(2), value))
            pos = m.end()
            rest = q[pos:].lstrip()
            if rest.upper().startswith("AND "):
                pos = len(q) - len(rest) + 4
            elif rest.upper().startswith("OR "):
                pos = len(q) - len(rest) + 3
                self.groups.append([])
            elif rest:
                raise ApiError(400, "INVALID_PARAMETER", f"Invalid query q near {rest[:40]!r}.", query_param="q")

    def match(self, rec: dict[str, Any]) -> bool:
        low = _lower_keys(rec)
        return any(all(self._term(low, *t) for t in group) for group in self.groups if group)

    @staticmethod
    def _term(rec: dict[str, Any], field: str, op: str, value: str | None) -> bool:
        raw = rec.get(field)
        if isinstance(raw, dict):
            raw = raw.get("id")
        if op == "EMPTY":
            return raw in (None, "")
        if op == "EMPTY_NOT":
            return raw not in (None, "")
        if raw is None or value is None:
            return False
        text = str(raw).lower() if isinstance(raw, bool) else str(raw)
        if op in ("IS", "EQUAL"):
            return text == value or (isinstance(raw, bool) and text == value.lower())
        if op in ("IS_NOT", "NOT_EQUAL"):
            return text != value
        if op == "ANY_OF":
            return text in [v.strip() for v in value.split(",")]
        if op == "START_WITH":
            return text.startswith(value)
        if op == "END_WITH":
            return text.endswith(value)
        if op == "CONTAIN":
            return value.lower() in text.lower()
        try:
            left: Any = Decimal(text)
            right: Any = Decimal(value)
        except ArithmeticError:
            left, right = text, value
        return {"GREATER": left > right, "AFTER": left > right, "LESS": left < right, "BEFORE": left < right,
                "GREATER_OR_EQUAL": left >= right, "ON_OR_AFTER": left >= right, "LESS_OR_EQUAL": left <= right,
                "ON_OR_BEFORE": left <= right}[op]
