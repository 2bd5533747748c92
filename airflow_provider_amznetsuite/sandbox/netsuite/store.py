"""SQLite persistence of the NetSuite sandbox.

* ``record``: one row per record instance — ``(type, id, externalid, body JSON)`` with a UNIQUE index
  on ``(type, externalid)``; the JSON body is the full record (body fields + sublists ``{"items": [...]}``).
* SuiteQL tables (``transaction``, ``transactionline``, ``item``, ``customer``, ...): relational
  projections of the records, rewritten in the same SQLite transaction as every record write.
  ``inventorybalance`` and ``pricing`` are maintained directly (seed, control endpoint, inventory
  effects of fulfilments / cash sales / inventory adjustments).

One connection is shared by all server threads behind a re-entrant lock; :meth:`tx` wraps a unit of
work in ``BEGIN IMMEDIATE`` ... ``COMMIT`` (or ROLLBACK on error).
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from typing import Any

from . import suiteql
from .schema import (
    CUSTOM_PREFIXES,
    ENTITY,
    ITEM,
    ITEM_TYPES,
    SUITEQL_TABLES,
    SUITEQL_VIEWS,
    TRANSACTION,
    TRANSACTION_TYPES,
    RecordType,
)
from .util import db_ts, dumps, loads, utcnow

_SQL_TYPES = {"int": "INTEGER", "num": "NUMERIC", "text": "TEXT", "bool": "TEXT", "date": "TEXT",
              "datetime": "TEXT"}
_PRIMARY_KEYS = {"transactionline": "PRIMARY KEY (\"transaction\", id)",
                 "inventorybalance": "PRIMARY KEY (item, location)",
                 "transactionaccountingline": "PRIMARY KEY (\"transaction\", transactionline)"}
# Where a family's ids start when the family is empty.
_ID_FLOOR = {TRANSACTION: 4001, ITEM: 1, ENTITY: 1}


def _family_types(family: str) -> tuple[str, ...]:
    if family == TRANSACTION:
        return TRANSACTION_TYPES
    if family == ITEM:
        return ITEM_TYPES
    if family == ENTITY:
        return ("customer",)
    return (family,)


def _ddl() -> list[str]:
    out = [
        "CREATE TABLE record (type TEXT NOT NULL, id INTEGER NOT NULL, externalid TEXT, body TEXT NOT NULL,"
        " PRIMARY KEY (type, id))",
        "CREATE UNIQUE INDEX record_type_externalid ON record (type, externalid) WHERE externalid IS NOT NULL",
        "CREATE INDEX record_id ON record (id)",
        "CREATE TABLE seq (name TEXT PRIMARY KEY, next INTEGER NOT NULL)",
    ]
    for table, cols in SUITEQL_TABLES.items():
        defs = []
        for col, ctype in cols.items():
            sql_type = "INTEGER" if ctype.startswith("ref:") else _SQL_TYPES[ctype]
            pk = " PRIMARY KEY" if col == "id" and table not in _PRIMARY_KEYS else ""
            defs.append(f'"{col}" {sql_type}{pk}')
        if table in CUSTOM_PREFIXES:
            defs.append("custom TEXT")
        if table in _PRIMARY_KEYS:
            defs.append(_PRIMARY_KEYS[table])
        out.append(f'CREATE TABLE "{table}" ({", ".join(defs)})')
    for view, base in SUITEQL_VIEWS.items():
        out.append(f'CREATE VIEW "{view}" AS SELECT * FROM "{base}"')
    out += [
        'CREATE INDEX transaction_externalid ON "transaction" (externalid)',
        'CREATE INDEX transaction_type ON "transaction" (type, lastmodifieddate)',
        "CREATE INDEX item_itemid ON item (itemid)",
        "CREATE INDEX item_externalid ON item (externalid)",
        "CREATE INDEX transactionline_item ON transactionline (item)",
        "CREATE UNIQUE INDEX pricing_key ON pricing (item, pricelevel, currency, quantity, IFNULL(effectivedate, ''))",
        "CREATE INDEX customer_externalid ON customer (externalid)",
    ]
    return out


def _b(value: Any) -> str:
    return "T" if value else "F"


def _ref_id(value: Any) -> int | None:
    if isinstance(value, dict):
        value = value.get("id")
    if value is None or value == "":
        return None
    try:
        return int(str(value))
    except ValueError:
        return None


def _num(value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, Decimal)):
        return str(value)
    if isinstance(value, str):
        return value
    return None


def _custom(body: dict[str, Any], prefixes: tuple[str, ...]) -> str | None:
    out: dict[str, Any] = {}
    for k, v in body.items():
        if not any(k.startswith(p + "_") for p in prefixes):
            continue
        if isinstance(v, bool):
            out[k] = _b(v)
        elif isinstance(v, dict) and "id" in v:
            rid = _ref_id(v)
            out[k] = rid if rid is not None else str(v["id"])
        elif isinstance(v, (dict, list)):
            out[k] = dumps(v)
        else:
            out[k] = v
    return dumps(out) if out else None


class Store:
    def __init__(self, db_path: str = ":memory:") -> None:
        self.db_path = db_path
        self.lock = threading.RLock()
        self._depth = 0
        self.version = 0          # bumped by every write; keys the SuiteQL count cache
        self._counts: dict[tuple[str, tuple[tuple[str, Any], ...]], tuple[int, int]] = {}
        self.conn = sqlite3.connect(db_path, check_same_thread=False, isolation_level=None)
        suiteql.register_functions(self.conn)
        self.conn.execute("PRAGMA case_sensitive_like = ON")
        if db_path != ":memory:":
            self.conn.execute("PRAGMA journal_mode = WAL")
            self.conn.execute("PRAGMA synchronous = NORMAL")
        exists = self.conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'record'").fetchone()
        self.fresh = exists is None
        if self.fresh:
            with self.tx():
                for stmt in _ddl():
                    self.conn.execute(stmt)

    def close(self) -> None:
        with self.lock:
            self.conn.close()

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        with self.lock:
            outer = self._depth == 0
            if outer:
                self.conn.execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield self.conn
            except BaseException:
                self._depth -= 1
                if outer:
                    self.conn.execute("ROLLBACK")
                raise
            else:
                self._depth -= 1
                if outer:
                    self.conn.execute("COMMIT")
                    self.version += 1

    # --- ids -------------------------------------------------------------------------------------
    def next_id(self, family: str) -> int:
        with self.tx() as c:
            row = c.execute("SELECT next FROM seq WHERE name = ?", (f"id:{family}",)).fetchone()
            if row is None:
                types = _family_types(family)
                marks = ",".join("?" * len(types))
                mx = c.execute(f"SELECT MAX(id) FROM record WHERE type IN ({marks})", types).fetchone()[0]
                nxt = max((mx or 0) + 1, _ID_FLOOR.get(family, 1))
            else:
                nxt = row[0]
            c.execute("INSERT OR REPLACE INTO seq (name, next) VALUES (?, ?)", (f"id:{family}", nxt + 1))
            return nxt

    def next_counter(self, name: str, start: int) -> int:
        with self.tx() as c:
            row = c.execute("SELECT next FROM seq WHERE name = ?", (name,)).fetchone()
            nxt = start if row is None else row[0]
            c.execute("INSERT OR REPLACE INTO seq (name, next) VALUES (?, ?)", (name, nxt + 1))
            return nxt

    def reserve_ids(self, family: str, count: int) -> int:
        """Reserve ``count`` consecutive ids; returns the first."""
        with self.tx() as c:
            first = self.next_id(family)
            c.execute("UPDATE seq SET next = ? WHERE name = ?", (first + count, f"id:{family}"))
            return first

    # --- raw records -----------------------------------------------------------------------------
    def get(self, rtype: str, rid: int) -> dict[str, Any] | None:
        with self.lock:
            row = self.conn.execute("SELECT body FROM record WHERE type = ? AND id = ?", (rtype, rid)).fetchone()
        return loads(row[0]) if row else None

    def get_by_externalid(self, rtype: str, eid: str) -> dict[str, Any] | None:
        with self.lock:
            row = self.conn.execute("SELECT body FROM record WHERE type = ? AND externalid = ?", (rtype, eid)).fetchone()
        return loads(row[0]) if row else None

    def find(self, types: tuple[str, ...], rid: int) -> tuple[str, dict[str, Any]] | None:
        """The record with internal id ``rid`` among ``types`` (one family shares an id space)."""
        if not types:
            return None
        marks = ",".join("?" * len(types))
        with self.lock:
            row = self.conn.execute(f"SELECT type, body FROM record WHERE id = ? AND type IN ({marks})",
                                    (rid, *types)).fetchone()
        return (row[0], loads(row[1])) if row else None

    def put(self, rt: RecordType, body: dict[str, Any], *, new: bool) -> None:
        """Insert or replace a record and rewrite its SuiteQL projection (inside the caller's tx)."""
        rid = int(body["id"])
        eid = body.get("externalId")
        with self.tx() as c:
            if new:
                c.execute("INSERT INTO record (type, id, externalid, body) VALUES (?, ?, ?, ?)",
                          (rt.name, rid, eid, dumps(body)))
            else:
                c.execute("UPDATE record SET externalid = ?, body = ? WHERE type = ? AND id = ?",
                          (eid, dumps(body), rt.name, rid))
            self._project(c, rt, body)

    def records(self, record_type: str) -> list[dict[str, Any]]:
        """Full stored records of a type (body fields and sublists), ordered by internal id."""
        with self.lock:
            rows = self.conn.execute("SELECT body FROM record WHERE type = ? ORDER BY id", (record_type,)).fetchall()
        return [loads(r[0]) for r in rows]

    def records_page(self, record_type: str, limit: int, offset: int,
                     externalid: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT body FROM record WHERE type = ?"
        args: list[Any] = [record_type]
        if externalid is not None:
            sql += " AND externalid = ?"
            args.append(externalid)
        sql += " ORDER BY id LIMIT ? OFFSET ?"
        with self.lock:
            rows = self.conn.execute(sql, (*args, limit, offset)).fetchall()
        return [loads(r[0]) for r in rows]

    def ids(self, record_type: str, limit: int, offset: int) -> list[int]:
        with self.lock:
            rows = self.conn.execute("SELECT id FROM record WHERE type = ? ORDER BY id LIMIT ? OFFSET ?",
                                     (record_type, limit, offset)).fetchall()
        return [r[0] for r in rows]

    def count(self, record_type: str) -> int:
        with self.lock:
            return self.conn.execute("SELECT COUNT(*) FROM record WHERE type = ?", (record_type,)).fetchone()[0]

    # --- projections -----------------------------------------------------------------------------
    def _project(self, c: sqlite3.Connection, rt: RecordType, body: dict[str, Any]) -> None:
        if rt.family == TRANSACTION:
            self._project_transaction(c, rt, body)
        elif rt.family == ITEM:
            self._project_item(c, rt, body)
        elif rt.table:
            self._project_generic(c, rt, body)

    def _project_transaction(self, c: sqlite3.Connection, rt: RecordType, body: dict[str, Any]) -> None:
        rid = int(body["id"])
        status = body.get("status")
        status_code = status.get("id") if isinstance(status, dict) else status
        total = body.get("total")
        entity = _ref_id(body.get("entity")) or _ref_id(body.get("customer"))
        row = {
            "id": rid, "tranid": body.get("tranId"), "trandate": f"{body['tranDate']} 00:00:00",
            "type": rt.code, "recordtype": rt.name.lower(), "status": status_code, "entity": entity,
            "currency": _ref_id(body.get("currency")), "exchangerate": _num(body.get("exchangeRate")),
            "foreigntotal": _num(total), "externalid": body.get("externalId"),
            "otherrefnum": body.get("otherRefNum"), "subsidiary": _ref_id(body.get("subsidiary")),
            "lastmodifieddate": _ts(body.get("lastModifiedDate")), "createddate": _ts(body.get("createdDate")),
            "memo": body.get("memo"), "createdfrom": _ref_id(body.get("createdFrom")),
            "location": _ref_id(body.get("location")), "department": _ref_id(body.get("department")),
            "class": _ref_id(body.get("class")), "voided": "F",
            "custom": _custom(body, ("custbody",)),
        }
        _upsert_row(c, "transaction", row)
        c.execute('DELETE FROM transactionline WHERE "transaction" = ?', (rid,))
        c.execute('DELETE FROM transactionaccountingline WHERE "transaction" = ?', (rid,))
        sign = rt.line_sign
        total_dec = Decimal(str(total)) if total is not None else Decimal(0)
        # Sales documents debit A/R on the main line (+total, item lines negative); returns credit it.
        main_amount = -sign * total_dec if "item" in rt.sublists else total_dec
        lines: list[dict[str, Any]] = [{
            "transaction": rid, "id": 0, "linesequencenumber": 0, "uniquekey": rid * 1000,
            "mainline": "T", "taxline": "F", "netamount": str(main_amount), "foreignamount": str(main_amount),
            "entity": entity, "subsidiary": _ref_id(body.get("subsidiary")), "location": _ref_id(body.get("location")),
            "isclosed": "F", "memo": body.get("memo"), "createdfrom": _ref_id(body.get("createdFrom")),
            "account": _ref_id(body.get("account")),
        }]
        sublists = [name for name in rt.sublists if isinstance(body.get(name), dict)]
        counter = 0
        for name in sublists:
            spec = rt.sublists[name]
            for line in body[name].get("items", []):
                counter += 1
                lid = line.get("line") if len(sublists) == 1 and isinstance(line.get("line"), int) else counter
                qty = line.get("quantity", line.get("adjustQtyBy"))
                amount = line.get("amount")
                debit, credit = line.get("debit"), line.get("credit")
                if spec.amounts == "journal":
                    d = Decimal(str(debit or 0))
                    cr = Decimal(str(credit or 0))
                    amount = d - cr
                    c.execute("INSERT INTO transactionaccountingline VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                              (rid, lid, _ref_id(line.get("account")), _num(debit), _num(credit), str(amount),
                               str(amount), "T"))
                row_sign = sign if spec.amounts == "item" or spec.amounts == "none" else 1
                lines.append({
                    "transaction": rid, "id": lid, "linesequencenumber": lid, "uniquekey": rid * 1000 + lid,
                    "item": _ref_id(line.get("item")),
                    "quantity": str(row_sign * Decimal(str(qty))) if qty is not None else None,
                    "rate": _num(line.get("rate")),
                    "netamount": str(row_sign * Decimal(str(amount))) if amount is not None else None,
                    "foreignamount": str(row_sign * Decimal(str(amount))) if amount is not None else None,
                    "mainline": "F", "taxline": "F",
                    "location": _ref_id(line.get("location")) or _ref_id(body.get("location")),
                    "isclosed": _b(line.get("isClosed")), "department": _ref_id(line.get("department")),
                    "class": _ref_id(line.get("class")), "memo": line.get("memo") or line.get("description"),
                    "createdfrom": _ref_id(body.get("createdFrom")),
                    "entity": _ref_id(line.get("entity")) or entity, "account": _ref_id(line.get("account")),
                    "debit": _num(debit), "credit": _num(credit),
                    "quantityshiprecv": _num(line.get("quantityFulfilled")),
                    "quantitybilled": _num(line.get("quantityBilled")),
                    "subsidiary": _ref_id(body.get("subsidiary")),
                    "orderline": line.get("orderLine") if isinstance(line.get("orderLine"), int) else None,
                    "custom": _custom(line, ("custcol",)),
                })
        for row in lines:
            _insert_row(c, "transactionline", row)

    def _project_item(self, c: sqlite3.Connection, rt: RecordType, body: dict[str, Any]) -> None:
        row = {
            "id": int(body["id"]), "itemid": body.get("itemId"), "displayname": body.get("displayName"),
            "description": body.get("salesDescription", body.get("description")), "itemtype": rt.code,
            "isinactive": _b(body.get("isInactive")), "externalid": body.get("externalId"),
            "parent": _ref_id(body.get("parent")),
            "matrixtype": _enum_id(body.get("matrixType")), "upccode": body.get("upcCode"),
            "weight": _num(body.get("weight")), "weightunit": body.get("weightUnit"),
            "class": _ref_id(body.get("class")), "costestimate": _num(body.get("costEstimate")),
            "countryofmanufacture": body.get("countryOfManufacture"),
            "lastmodifieddate": _ts(body.get("lastModifiedDate")), "createddate": _ts(body.get("createdDate")),
            "custom": _custom(body, ("custitem",)),
        }
        _upsert_row(c, "item", row)

    def _project_generic(self, c: sqlite3.Connection, rt: RecordType, body: dict[str, Any]) -> None:
        table = rt.table or ""
        cols = SUITEQL_TABLES[table]
        lower = {k.lower(): v for k, v in body.items()}
        row: dict[str, Any] = {}
        for col, ctype in cols.items():
            v = lower.get(col)
            if ctype.startswith("ref:"):
                row[col] = _ref_id(v)
            elif ctype == "bool":
                row[col] = _b(v)
            elif ctype in ("date", "datetime"):
                row[col] = _ts(v)
            elif ctype in ("num", "int"):
                row[col] = _num(v) if ctype == "num" else (int(v) if v is not None and str(v).isdigit() else None)
            else:
                row[col] = None if v is None else (_enum_id(v) if isinstance(v, dict) else str(v))
        row["id"] = int(body["id"])
        if table == "customer":
            row["entityid"] = body.get("entityId") or body.get("companyName")
            row["datecreated"] = _ts(body.get("createdDate"))
            row["lastmodifieddate"] = _ts(body.get("lastModifiedDate"))
        if table == "account":
            row["fullname"] = f"{body.get('acctNumber', '')} {body.get('acctName', '')}".strip()
            row["accttype"] = _enum_id(body.get("acctType"))
        if table == "location" and "makeInventoryAvailable" not in body:
            row["makeinventoryavailable"] = "T"
        if table in CUSTOM_PREFIXES:
            row["custom"] = _custom(body, CUSTOM_PREFIXES[table])
        _upsert_row(c, table, row)

    # --- inventory -------------------------------------------------------------------------------
    def set_inventory(self, item: int, location: int, *, onhand: Any = None, committed: Any = None,
                      intransit: Any = None, backordered: Any = None, onorder: Any = None,
                      now: datetime | None = None) -> dict[str, Any]:
        with self.tx() as c:
            cur = c.execute("SELECT quantityonhand, quantitycommitted, quantityintransit, quantitybackordered,"
                            " quantityonorder FROM inventorybalance WHERE item = ? AND location = ?",
                            (item, location)).fetchone()
            vals = [Decimal(str(v)) if v is not None else Decimal(0) for v in (cur or (0, 0, 0, 0, 0))]
            for i, new in enumerate((onhand, committed, intransit, backordered, onorder)):
                if new is not None:
                    vals[i] = Decimal(str(new))
            self._write_balance(c, item, location, vals, now or utcnow())
            return self.inventory(item, location) or {}

    def adjust_onhand(self, item: int, location: int, delta: Decimal, now: datetime | None = None) -> None:
        with self.tx() as c:
            cur = c.execute("SELECT quantityonhand, quantitycommitted, quantityintransit, quantitybackordered,"
                            " quantityonorder FROM inventorybalance WHERE item = ? AND location = ?",
                            (item, location)).fetchone()
            vals = [Decimal(str(v)) if v is not None else Decimal(0) for v in (cur or (0, 0, 0, 0, 0))]
            vals[0] += delta
            self._write_balance(c, item, location, vals, now or utcnow())

    @staticmethod
    def _write_balance(c: sqlite3.Connection, item: int, location: int, vals: list[Decimal], now: datetime) -> None:
        onhand, committed, intransit, backordered, onorder = vals
        available = max(Decimal(0), onhand - committed)
        c.execute("INSERT OR REPLACE INTO inventorybalance (item, location, binnumber, quantityonhand,"
                  " quantityavailable, quantitycommitted, quantityintransit, quantitybackordered, quantityonorder,"
                  " lastquantityavailablechange) VALUES (?, ?, NULL, ?, ?, ?, ?, ?, ?, ?)",
                  (item, location, str(onhand), str(available), str(committed), str(intransit), str(backordered),
                   str(onorder), db_ts(now)))

    def inventory(self, item: int, location: int) -> dict[str, Any] | None:
        with self.lock:
            cur = self.conn.execute("SELECT * FROM inventorybalance WHERE item = ? AND location = ?", (item, location))
            row = cur.fetchone()
            if row is None:
                return None
            return {d[0]: (suiteql.to_text(v) if v is not None else None) for d, v in zip(cur.description, row)}

    # --- pricing ---------------------------------------------------------------------------------
    def set_price(self, item: int, pricelevel: int, currency: int, quantity: Any, unitprice: Any,
                  effectivedate: str | None = None) -> None:
        with self.tx() as c:
            c.execute("DELETE FROM pricing WHERE item = ? AND pricelevel = ? AND currency = ? AND quantity = ?"
                      " AND IFNULL(effectivedate, '') = ?", (item, pricelevel, currency, str(quantity),
                                                            effectivedate or ""))
            c.execute("INSERT INTO pricing (item, pricelevel, currency, quantity, unitprice, effectivedate)"
                      " VALUES (?, ?, ?, ?, ?, ?)", (item, pricelevel, currency, str(quantity), str(unitprice),
                                                    effectivedate))

    def price(self, item: int, pricelevel: int, currency: int, quantity: Decimal, at: datetime) -> Decimal | None:
        """Unit price in force at ``at`` for the highest quantity tier <= ``quantity`` (effective-dated rows win)."""
        with self.lock:
            row = self.conn.execute(
                "SELECT unitprice FROM pricing WHERE item = ? AND pricelevel = ? AND currency = ? AND quantity <= ?"
                " AND (effectivedate IS NULL OR effectivedate <= ?)"
                " ORDER BY quantity DESC, effectivedate IS NULL, effectivedate DESC LIMIT 1",
                (item, pricelevel, currency, str(abs(quantity)), db_ts(at))).fetchone()
        return Decimal(suiteql.to_text(row[0])) if row else None

    # --- SuiteQL ---------------------------------------------------------------------------------
    def query(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        with self.lock:
            return self.conn.execute(sql, params).fetchall()

    def scalar(self, sql: str, params: dict[str, Any]) -> Any:
        with self.lock:
            return self.conn.execute(sql, params).fetchone()[0]

    def count_rows(self, sql: str, params: dict[str, Any]) -> int:
        """``COUNT(*)`` of a compiled query, cached until the next write (pages of one query reuse it)."""
        key = (sql, tuple(sorted(params.items())))
        with self.lock:
            hit = self._counts.get(key)
            if hit is not None and hit[0] == self.version:
                return hit[1]
            n = int(self.conn.execute(f"SELECT COUNT(*) FROM ({sql})", params).fetchone()[0])
            if len(self._counts) > 256:
                self._counts.clear()
            self._counts[key] = (self.version, n)
            return n

    # --- bulk ------------------------------------------------------------------------------------
    def bulk_insert_items(self, count: int, *, prefix: str = "BULK-", now: datetime | None = None) -> range:
        """Insert ``count`` active inventory items quickly (executemany); returns their internal ids.

        Items are ``itemId = f"{prefix}{n:07d}"``, ``externalId`` the same, no inventory or prices.
        Meant for large-table tests (SuiteQL keyset paging beyond the 100,000-row cap).
        """
        if count <= 0:
            return range(0)
        if not re.fullmatch(r"[A-Za-z0-9_-]{0,40}", prefix):
            raise ValueError(f"prefix must be letters, digits, '_' or '-', got {prefix!r}")
        ts = db_ts(now or utcnow())
        iso_ts = ts.replace(" ", "T") + "Z"
        # The body is a fixed template (plain ASCII values), far faster than json.dumps per row.
        template = ('{"id":"%d","itemId":"' + prefix + '%07d","externalId":"' + prefix + '%07d","displayName":'
                    '"Bulk item %d","isInactive":false,"createdDate":"' + iso_ts + '","lastModifiedDate":"'
                    + iso_ts + '"}')
        with self.tx() as c:
            first = self.reserve_ids(ITEM, count)
            ids = range(first, first + count)
            c.executemany(
                "INSERT INTO record (type, id, externalid, body) VALUES ('inventoryItem', ?, ?, ?)",
                ((i, f"{prefix}{i:07d}", template % (i, i, i, i)) for i in ids))
            c.executemany(
                "INSERT INTO item (id, itemid, displayname, itemtype, isinactive, externalid, lastmodifieddate,"
                " createddate) VALUES (?, ?, ?, 'InvtPart', 'F', ?, ?, ?)",
                ((i, f"{prefix}{i:07d}", f"Bulk item {i}", f"{prefix}{i:07d}", ts, ts) for i in ids))
        return ids


def _ts(value: Any) -> str | None:
    """ISO 'YYYY-MM-DDTHH:MM:SSZ' -> 'YYYY-MM-DD HH:MM:SS'."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    text = value.replace("T", " ").rstrip("Z")
    return text[:19] if len(text) >= 19 else f"{text[:10]} 00:00:00"


def _enum_id(value: Any) -> Any:
    if isinstance(value, dict):
        return value.get("id")
    return value


def _upsert_row(c: sqlite3.Connection, table: str, row: dict[str, Any]) -> None:
    cols = ", ".join(f'"{k}"' for k in row)
    marks = ", ".join("?" * len(row))
    c.execute(f'INSERT OR REPLACE INTO "{table}" ({cols}) VALUES ({marks})', tuple(row.values()))


def _insert_row(c: sqlite3.Connection, table: str, row: dict[str, Any]) -> None:
    cols = ", ".join(f'"{k}"' for k in row)
    marks = ", ".join("?" * len(row))
    c.execute(f'INSERT INTO "{table}" ({cols}) VALUES ({marks})', tuple(row.values()))
