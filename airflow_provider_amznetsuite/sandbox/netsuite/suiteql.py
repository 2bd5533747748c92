"""A SuiteQL subset for the NetSuite sandbox: tokenizer, recursive-descent parser, SQLite compiler.

Accepted (case-insensitive keywords, Oracle-flavoured like SuiteQL):

* ``SELECT [DISTINCT] [TOP n] <items> FROM <table> [alias] {[INNER|LEFT|RIGHT|FULL [OUTER]] JOIN <table> [alias] ON <expr> | , <table> [alias]}``
  ``[WHERE <expr>] [GROUP BY <exprs>] [HAVING <expr>] [ORDER BY <expr> [ASC|DESC] [NULLS FIRST|LAST], ...]``
  ``[FETCH FIRST|NEXT n ROW|ROWS ONLY]``
* items: ``*``, ``alias.*``, expressions with ``[AS] alias``;
* expressions: columns (``alias.column``), numbers, ``'strings'`` (``''`` escapes a quote), NULL,
  ``= <> != < > <= >=``, ``AND OR NOT``, ``[NOT] IN (...)`` (at most 1000 values), ``[NOT] LIKE ... [ESCAPE 'c']``
  (case-sensitive, as in Oracle), ``IS [NOT] NULL``, ``[NOT] BETWEEN``, ``+ - * / ||``, ``CASE WHEN``;
* functions: BUILTIN.DF, TO_CHAR, TO_DATE, TO_TIMESTAMP, TO_NUMBER, UPPER, LOWER, LENGTH, SUBSTR, NVL,
  COALESCE, ABS, ROUND, COUNT, SUM, MIN, MAX, AVG; ``SYSDATE`` / ``CURRENT_DATE`` / ``CURRENT_TIMESTAMP``.

Refused with NetSuite's 400 INVALID_PARAMETER ("Invalid search query"): anything else — ``;``,
comments, DML/DDL, scalar / EXISTS / correlated sub-queries, UNION, ``OFFSET`` clauses (page with the
URL's limit/offset or with an ``id > n`` keyset), double-quoted identifiers, unknown tables or columns.
Also accepted: derived tables ``FROM (SELECT ...) alias``, ``[NOT] IN (SELECT one_column ...)`` and the
Oracle idiom ``SELECT * FROM (SELECT ... ORDER BY id) WHERE ROWNUM <= n`` (ROWNUM only as a top-level
``<= n`` / ``< n`` / ``= 1`` condition, and not next to an ORDER BY of the same level).

Values come back as strings (numbers too); date/datetime columns selected without TO_CHAR come back
in the sandbox user's date format ``M/D/YYYY`` (like NetSuite, which uses the user's preference), so
clients must use ``TO_CHAR(col, 'YYYY-MM-DD HH24:MI:SS')``; NULL columns are left out of the row.
Date/datetime columns are UTC. A plain string compared with a date column must be in the user's
date format (``'1/31/2026'``), otherwise "Unparseable date" — use TO_DATE/TO_TIMESTAMP.
Custom fields (``custbody_*``, ``custcol_*``, ``custitem_*``, ``custentity_*``, ``custrecord_*``) are read
from the table's JSON ``custom`` column; an unset custom field is NULL.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from .schema import (
    CUSTOM_PREFIXES,
    DISPLAY_COLUMN,
    ITEM_TYPE_LABELS,
    RECORD_TYPES,
    SUITEQL_TABLES,
    SUITEQL_VIEWS,
    TRANSACTION_TYPE_LABELS,
)

MAX_IN_LIST = 1000


class SuiteQLError(Exception):
    """A query the engine refuses; ``str(err)`` is the human-readable reason."""


# --- tokenizer -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Tok:
    kind: str   # num | str | ident | op | kw | eof
    value: str
    pos: int


RESERVED = frozenset("""
SELECT FROM WHERE AND OR NOT IN LIKE IS NULL AS JOIN INNER LEFT RIGHT FULL OUTER CROSS ON ORDER BY GROUP HAVING
BETWEEN CASE WHEN THEN ELSE END DISTINCT UNION INTERSECT MINUS EXCEPT FETCH OFFSET ESCAPE ASC DESC INSERT UPDATE
DELETE MERGE DROP CREATE ALTER TRUNCATE GRANT REVOKE WITH INTO VALUES SET EXISTS ALL ANY SOME
""".split())
_FORBIDDEN_STATEMENTS = {"INSERT", "UPDATE", "DELETE", "MERGE", "DROP", "CREATE", "ALTER", "TRUNCATE", "GRANT",
                         "REVOKE", "WITH"}

_TOKEN_RE = re.compile(r"""
    (?P<ws>\s+)
  | (?P<num>\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|\.\d+)
  | (?P<str>'(?:[^']|'')*')
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op><>|!=|<=|>=|\|\||[=<>(),.*+\-/])
""", re.VERBOSE)


def tokenize(text: str) -> list[Tok]:
    toks: list[Tok] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == ";":
            raise SuiteQLError(f"';' at position {i + 1}: only one statement without a terminating ';' is allowed")
        if text.startswith("--", i) or text.startswith("/*", i):
            raise SuiteQLError(f"comments are not allowed (position {i + 1})")
        if ch == "'" and not re.match(r"'(?:[^']|'')*'", text[i:]):
            raise SuiteQLError(f"unterminated string literal starting at position {i + 1}")
        if ch == '"':
            raise SuiteQLError(f"double-quoted identifiers are not supported (position {i + 1}); "
                               "use plain names and single-quoted string literals")
        m = _TOKEN_RE.match(text, i)
        if not m:
            raise SuiteQLError(f"unexpected character {ch!r} at position {i + 1}")
        kind = m.lastgroup or ""
        val = m.group(0)
        if kind == "ident" and val.upper() in RESERVED:
            toks.append(Tok("kw", val.upper(), i))
        elif kind != "ws":
            toks.append(Tok(kind, val, i))
        i = m.end()
    toks.append(Tok("eof", "", n))
    return toks


# --- AST -------------------------------------------------------------------------------------------
@dataclass
class Column:
    qualifier: str | None
    name: str   # "*" for alias.*


@dataclass
class Literal:
    value: Any
    kind: str   # num | str | null


@dataclass
class Keyword:
    name: str   # SYSDATE | CURRENT_DATE | CURRENT_TIMESTAMP


@dataclass
class Func:
    name: str
    args: list[Any]
    distinct: bool = False
    star: bool = False


@dataclass
class Unary:
    op: str
    expr: Any


@dataclass
class Binary:
    op: str
    left: Any
    right: Any


@dataclass
class InList:
    expr: Any
    items: list[Any]
    negated: bool


@dataclass
class Like:
    expr: Any
    pattern: Any
    negated: bool
    escape: Any = None


@dataclass
class IsNull:
    expr: Any
    negated: bool


@dataclass
class Between:
    expr: Any
    low: Any
    high: Any
    negated: bool


@dataclass
class Case:
    whens: list[tuple[Any, Any]]
    else_: Any = None


@dataclass
class TableRef:
    name: str
    alias: str
    subquery: Query | None = None


@dataclass
class InSubquery:
    expr: Any
    query: Query
    negated: bool


@dataclass
class Rownum:
    pass


@dataclass
class Join:
    kind: str   # INNER | LEFT | RIGHT | FULL | CROSS
    table: TableRef
    on: Any = None


@dataclass
class OrderItem:
    expr: Any
    desc: bool = False
    nulls: str | None = None


@dataclass
class Query:
    items: list[tuple[Any, str | None]]
    table: TableRef
    joins: list[Join] = field(default_factory=list)
    where: Any = None
    group_by: list[Any] = field(default_factory=list)
    having: Any = None
    order_by: list[OrderItem] = field(default_factory=list)
    distinct: bool = False
    fetch_first: int | None = None


# --- parser ----------------------------------------------------------------------------------------
class Parser:
    def __init__(self, text: str) -> None:
        self.toks = tokenize(text)
        self.i = 0

    # helpers
    @property
    def tok(self) -> Tok:
        return self.toks[self.i]

    def _advance(self) -> Tok:
        t = self.toks[self.i]
        self.i += 1
        return t

    def _is_kw(self, *names: str) -> bool:
        return self.tok.kind == "kw" and self.tok.value in names

    def _is_word(self, *names: str) -> bool:
        return self.tok.kind in ("kw", "ident") and self.tok.value.upper() in names

    def _is_op(self, *ops: str) -> bool:
        return self.tok.kind == "op" and self.tok.value in ops

    def _expect_kw(self, name: str) -> None:
        if not self._is_kw(name):
            self._fail(f"expected {name}")
        self._advance()

    def _expect_op(self, op: str) -> None:
        if not self._is_op(op):
            self._fail(f"expected '{op}'")
        self._advance()

    def _fail(self, what: str) -> None:
        t = self.tok
        near = "end of query" if t.kind == "eof" else repr(t.value)
        raise SuiteQLError(f"{what} near {near} (position {t.pos + 1})")

    def _ident(self, what: str) -> str:
        if self.tok.kind != "ident":
            self._fail(f"expected {what}")
        return self._advance().value

    # grammar
    def parse(self) -> Query:
        if self.tok.kind == "kw" and self.tok.value in _FORBIDDEN_STATEMENTS:
            raise SuiteQLError(f"only SELECT statements are allowed, got {self.tok.value}")
        q = self._query()
        if self._is_kw("UNION", "INTERSECT", "MINUS", "EXCEPT"):
            raise SuiteQLError(f"{self.tok.value} is not supported by the sandbox's SuiteQL subset")
        if self.tok.kind != "eof":
            self._fail("unexpected token")
        return q

    def _subquery(self) -> Query:
        """``( SELECT ... )`` — the opening parenthesis is already consumed."""
        q = self._query()
        if self._is_kw("UNION", "INTERSECT", "MINUS", "EXCEPT"):
            raise SuiteQLError(f"{self.tok.value} is not supported by the sandbox's SuiteQL subset")
        self._expect_op(")")
        return q

    def _query(self) -> Query:
        self._expect_kw("SELECT")
        distinct = False
        if self._is_kw("DISTINCT"):
            self._advance()
            distinct = True
        elif self._is_kw("ALL"):
            self._advance()
        fetch_first = None
        if self._is_word("TOP"):
            self._advance()
            fetch_first = self._int("TOP")
        items = [self._select_item()]
        while self._is_op(","):
            self._advance()
            items.append(self._select_item())
        self._expect_kw("FROM")
        q = Query(items, self._table_ref(), distinct=distinct, fetch_first=fetch_first)
        while True:
            if self._is_op(","):
                self._advance()
                q.joins.append(Join("CROSS", self._table_ref()))
                continue
            kind = None
            if self._is_kw("JOIN"):
                kind = "INNER"
            elif self._is_kw("INNER"):
                self._advance()
                kind = "INNER"
            elif self._is_kw("LEFT", "RIGHT", "FULL"):
                kind = self._advance().value
                if self._is_kw("OUTER"):
                    self._advance()
            elif self._is_kw("CROSS"):
                self._advance()
                self._expect_kw("JOIN")
                q.joins.append(Join("CROSS", self._table_ref()))
                continue
            if kind is None:
                break
            self._expect_kw("JOIN")
            table = self._table_ref()
            self._expect_kw("ON")
            q.joins.append(Join(kind, table, self._expr()))
        if self._is_kw("WHERE"):
            self._advance()
            q.where = self._expr()
        if self._is_kw("GROUP"):
            self._advance()
            self._expect_kw("BY")
            q.group_by = [self._expr()]
            while self._is_op(","):
                self._advance()
                q.group_by.append(self._expr())
        if self._is_kw("HAVING"):
            self._advance()
            q.having = self._expr()
        if self._is_kw("ORDER"):
            self._advance()
            self._expect_kw("BY")
            q.order_by = [self._order_item()]
            while self._is_op(","):
                self._advance()
                q.order_by.append(self._order_item())
        if self._is_kw("OFFSET"):
            raise SuiteQLError("an OFFSET clause is not supported; page with the limit/offset URL parameters "
                               "or with a keyset condition (WHERE id > <last id> ORDER BY id)")
        if self._is_kw("FETCH"):
            self._advance()
            if not self._is_word("FIRST", "NEXT"):
                self._fail("expected FIRST or NEXT")
            self._advance()
            n = self._int("FETCH FIRST")
            if not self._is_word("ROW", "ROWS"):
                self._fail("expected ROWS")
            self._advance()
            if not self._is_word("ONLY"):
                self._fail("expected ONLY")
            self._advance()
            q.fetch_first = n if q.fetch_first is None else min(n, q.fetch_first)
        return q

    def _int(self, what: str) -> int:
        if self.tok.kind != "num" or not self.tok.value.isdigit():
            self._fail(f"expected a whole number after {what}")
        return int(self._advance().value)

    def _select_item(self) -> tuple[Any, str | None]:
        if self._is_op("*"):
            self._advance()
            return Column(None, "*"), None
        expr = self._expr()
        alias = None
        if self._is_kw("AS"):
            self._advance()
            alias = self._ident("an alias after AS")
        elif self.tok.kind == "ident" and self.tok.value.upper() not in ("TOP",):
            alias = self._advance().value
        if isinstance(expr, Column) and expr.name == "*" and alias:
            self._fail("an alias is not allowed after alias.*")
        return expr, alias

    def _table_ref(self) -> TableRef:
        if self._is_op("("):
            self._advance()
            if not self._is_kw("SELECT"):
                self._fail("expected SELECT in a derived table")
            sub = self._subquery()
            alias = ""
            if self._is_kw("AS"):
                self._advance()
                alias = self._ident("a table alias")
            elif self.tok.kind == "ident":
                alias = self._advance().value
            return TableRef("", alias, sub)
        name = self._ident("a table name")
        if self._is_op("."):
            self._fail("schema-qualified table names are not supported")
        alias = name
        if self._is_kw("AS"):
            self._advance()
            alias = self._ident("a table alias")
        elif self.tok.kind == "ident":
            alias = self._advance().value
        return TableRef(name, alias)

    def _order_item(self) -> OrderItem:
        item = OrderItem(self._expr())
        if self._is_kw("ASC", "DESC"):
            item.desc = self._advance().value == "DESC"
        if self._is_word("NULLS"):
            self._advance()
            if not self._is_word("FIRST", "LAST"):
                self._fail("expected FIRST or LAST after NULLS")
            item.nulls = self._advance().value.upper()
        return item

    def _expr(self) -> Any:
        left = self._and()
        while self._is_kw("OR"):
            self._advance()
            left = Binary("OR", left, self._and())
        return left

    def _and(self) -> Any:
        left = self._not()
        while self._is_kw("AND"):
            self._advance()
            left = Binary("AND", left, self._not())
        return left

    def _not(self) -> Any:
        if self._is_kw("NOT"):
            self._advance()
            return Unary("NOT", self._not())
        if self._is_kw("EXISTS"):
            raise SuiteQLError("EXISTS sub-queries are not supported by the sandbox's SuiteQL subset")
        return self._predicate()

    def _predicate(self) -> Any:
        left = self._additive()
        if self._is_op("=", "<>", "!=", "<", ">", "<=", ">="):
            op = self._advance().value
            if self._is_kw("ANY", "ALL", "SOME"):
                raise SuiteQLError(f"{self.tok.value} comparisons are not supported")
            return Binary("<>" if op == "!=" else op, left, self._additive())
        negated = False
        if self._is_kw("NOT"):
            self._advance()
            negated = True
            if not self._is_kw("IN", "LIKE", "BETWEEN"):
                self._fail("expected IN, LIKE or BETWEEN after NOT")
        if self._is_kw("IN"):
            self._advance()
            self._expect_op("(")
            if self._is_kw("SELECT"):
                return InSubquery(left, self._subquery(), negated)
            items = [self._expr()]
            while self._is_op(","):
                self._advance()
                items.append(self._expr())
            self._expect_op(")")
            if len(items) > MAX_IN_LIST:
                raise SuiteQLError(f"an IN list may hold at most {MAX_IN_LIST} values, got {len(items)}")
            return InList(left, items, negated)
        if self._is_kw("LIKE"):
            self._advance()
            pattern = self._additive()
            escape = None
            if self._is_kw("ESCAPE"):
                self._advance()
                escape = self._additive()
            return Like(left, pattern, negated, escape)
        if self._is_kw("BETWEEN"):
            self._advance()
            low = self._additive()
            self._expect_kw("AND")
            return Between(left, low, self._additive(), negated)
        if self._is_kw("IS"):
            self._advance()
            neg = False
            if self._is_kw("NOT"):
                self._advance()
                neg = True
            self._expect_kw("NULL")
            return IsNull(left, neg)
        return left

    def _additive(self) -> Any:
        left = self._mult()
        while self._is_op("+", "-", "||"):
            op = self._advance().value
            left = Binary(op, left, self._mult())
        return left

    def _mult(self) -> Any:
        left = self._unary()
        while self._is_op("*", "/"):
            op = self._advance().value
            left = Binary(op, left, self._unary())
        return left

    def _unary(self) -> Any:
        if self._is_op("-", "+"):
            op = self._advance().value
            return Unary(op, self._unary())
        return self._primary()

    def _primary(self) -> Any:
        t = self.tok
        if t.kind == "num":
            self._advance()
            return Literal(t.value, "num")
        if t.kind == "str":
            self._advance()
            return Literal(t.value[1:-1].replace("''", "'"), "str")
        if self._is_kw("NULL"):
            self._advance()
            return Literal(None, "null")
        if self._is_kw("CASE"):
            return self._case()
        if self._is_op("("):
            self._advance()
            if self._is_kw("SELECT"):
                raise SuiteQLError("scalar sub-queries are not supported by the sandbox's SuiteQL subset "
                                   "(use a JOIN, IN (SELECT ...) or a derived table in FROM)")
            e = self._expr()
            self._expect_op(")")
            return e
        if t.kind == "ident":
            self._advance()
            parts = [t.value]
            while self._is_op("."):
                self._advance()
                if self._is_op("*"):
                    self._advance()
                    if len(parts) != 1:
                        self._fail("invalid column reference")
                    return Column(parts[0], "*")
                parts.append(self._ident("a column name"))
            if self._is_op("("):
                return self._call(".".join(parts))
            if len(parts) == 1 and parts[0].upper() in ("SYSDATE", "CURRENT_DATE", "CURRENT_TIMESTAMP"):
                return Keyword(parts[0].upper())
            if len(parts) == 1 and parts[0].upper() == "ROWNUM":
                return Rownum()
            if len(parts) > 2:
                raise SuiteQLError(f"invalid column reference {'.'.join(parts)!r} (use alias.column)")
            return Column(parts[0], parts[1]) if len(parts) == 2 else Column(None, parts[0])
        self._fail("expected an expression")
        raise AssertionError("unreachable")

    def _call(self, name: str) -> Func:
        self._expect_op("(")
        f = Func(name.upper(), [])
        if self._is_op("*"):
            self._advance()
            f.star = True
            self._expect_op(")")
            return f
        if self._is_kw("DISTINCT"):
            self._advance()
            f.distinct = True
        if not self._is_op(")"):
            f.args.append(self._expr())
            while self._is_op(","):
                self._advance()
                f.args.append(self._expr())
        self._expect_op(")")
        return f

    def _case(self) -> Case:
        self._expect_kw("CASE")
        if not self._is_kw("WHEN"):
            self._fail("only searched CASE WHEN ... is supported")
        c = Case([])
        while self._is_kw("WHEN"):
            self._advance()
            cond = self._expr()
            self._expect_kw("THEN")
            c.whens.append((cond, self._expr()))
        if self._is_kw("ELSE"):
            self._advance()
            c.else_ = self._expr()
        self._expect_kw("END")
        return c


def parse(text: str) -> Query:
    if not isinstance(text, str) or not text.strip():
        raise SuiteQLError("the query 'q' is empty")
    return Parser(text).parse()


# --- Oracle date formats ------------------------------------------------------------------------
_FMT_RE = re.compile(r'YYYY|YY|MM|MON|DD|HH24|HH12|HH|MI|SS|AM|PM|"[^"]*"|[-/:.,\sT]', re.IGNORECASE)
_FMT_MAP = {"YYYY": "%Y", "YY": "%y", "MM": "%m", "MON": "%b", "DD": "%d", "HH24": "%H", "HH12": "%I", "HH": "%I",
            "MI": "%M", "SS": "%S", "AM": "%p", "PM": "%p"}


def oracle_format(fmt: str) -> str:
    """Oracle datetime format model -> strftime pattern; raises SuiteQLError for unknown elements."""
    out: list[str] = []
    i = 0
    while i < len(fmt):
        m = _FMT_RE.match(fmt, i)
        if not m:
            raise SuiteQLError(f"unsupported element in date format {fmt!r} at {fmt[i:]!r} "
                               "(supported: YYYY YY MM MON DD HH24 HH12 HH MI SS AM PM \"text\" - / : . , space)")
        tok = m.group(0)
        if tok.startswith('"'):
            out.append(tok[1:-1].replace("%", "%%"))
        elif tok.upper() in _FMT_MAP:
            out.append(_FMT_MAP[tok.upper()])
        else:
            out.append(tok)
        i = m.end()
    return "".join(out)


DB_TS = "%Y-%m-%d %H:%M:%S"


def parse_oracle_datetime(value: str, fmt: str) -> str:
    pattern = oracle_format(fmt)
    try:
        dt = datetime.strptime(value.strip(), pattern)
    except ValueError:
        raise SuiteQLError(f"Unparseable date: {value!r} does not match the format {fmt!r}") from None
    return dt.strftime(DB_TS)


def _parse_db_ts(value: Any) -> datetime | None:
    if value is None:
        return None
    text = str(value)
    for pattern in (DB_TS, "%Y-%m-%d"):
        try:
            return datetime.strptime(text, pattern)
        except ValueError:
            continue
    return None


def _sql_to_char(value: Any, fmt: Any = None) -> Any:
    if value is None:
        return None
    if fmt is None:
        return _num_text(value) if isinstance(value, (int, float)) else str(value)
    if isinstance(value, (int, float)):
        return _num_text(value)
    dt = _parse_db_ts(value)
    if dt is None:
        return str(value)
    return dt.strftime(oracle_format(str(fmt)))


def _sql_to_date(value: Any, fmt: Any) -> Any:
    if value is None:
        return None
    try:
        return parse_oracle_datetime(str(value), str(fmt))
    except SuiteQLError:
        return None


def _sql_display_date(value: Any) -> Any:
    dt = _parse_db_ts(value)
    if dt is None:
        return value
    return f"{dt.month}/{dt.day}/{dt.year}"


def _status_label(type_code: Any, status: Any) -> Any:
    if status is None:
        return None
    for rt in RECORD_TYPES.values():
        if rt.code == type_code:
            return f"{rt.label} : {rt.statuses.get(str(status), str(status))}"
    return status


def _type_label(code: Any) -> Any:
    if code is None:
        return None
    return TRANSACTION_TYPE_LABELS.get(str(code), ITEM_TYPE_LABELS.get(str(code), str(code)))


def register_functions(conn: sqlite3.Connection) -> None:
    conn.create_function("ns_to_char", 1, _sql_to_char, deterministic=True)
    conn.create_function("ns_to_char", 2, _sql_to_char, deterministic=True)
    conn.create_function("ns_to_date", 2, _sql_to_date, deterministic=True)
    conn.create_function("ns_display_date", 1, _sql_display_date, deterministic=True)
    conn.create_function("ns_status_label", 2, _status_label, deterministic=True)
    conn.create_function("ns_type_label", 1, _type_label, deterministic=True)


def _num_text(v: Any) -> str:
    if isinstance(v, bool):
        return "T" if v else "F"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        d = Decimal(repr(v)).quantize(Decimal("1e-8")).normalize()
        text = format(d, "f")
        return "0" if text in ("-0", "0E-8") else text
    return str(v)


def to_text(v: Any) -> str:
    """A SQLite value as NetSuite's SuiteQL returns it (a string)."""
    if isinstance(v, (int, float)):
        return _num_text(v)
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return str(v)


# --- compiler --------------------------------------------------------------------------------------
@dataclass
class Compiled:
    sql: str
    params: dict[str, Any]
    columns: list[str]          # output keys, in order
    fetch_first: int | None


_AGGREGATES = {"COUNT", "SUM", "MIN", "MAX", "AVG"}
_SIMPLE_FUNCS = {"UPPER": ("upper", 1, 1), "LOWER": ("lower", 1, 1), "LENGTH": ("length", 1, 1),
                 "ABS": ("abs", 1, 1), "ROUND": ("round", 1, 2), "SUBSTR": ("substr", 2, 3),
                 "NVL": ("coalesce", 2, 2), "COALESCE": ("coalesce", 2, 99), "TRIM": ("trim", 1, 1)}
_NUM_RE = re.compile(r"^(\d+(\.\d+)?([eE][-+]?\d+)?|\.\d+)$")
_CUSTOM_NAME_RE = re.compile(r"^[a-z0-9_]+$")


def _conjuncts(e: Any) -> list[Any]:
    if isinstance(e, Binary) and e.op == "AND":
        return _conjuncts(e.left) + _conjuncts(e.right)
    return [e]


def _split_rownum(where: Any) -> tuple[Any, int | None]:
    """Take top-level ``ROWNUM <= n`` / ``ROWNUM < n`` / ``ROWNUM = 1`` conditions out of WHERE as a row limit."""
    if where is None:
        return None, None
    keep: list[Any] = []
    limit: int | None = None
    for c in _conjuncts(where):
        n = None
        if isinstance(c, Binary) and c.op in ("<=", "<", "=", ">=", ">"):
            left, right, op = c.left, c.right, c.op
            if isinstance(right, Rownum) and not isinstance(left, Rownum):
                left, right = right, left
                op = {"<=": ">=", "<": ">", ">=": "<=", ">": "<", "=": "="}[op]
            if isinstance(left, Rownum):
                if not (isinstance(right, Literal) and right.kind == "num" and right.value.isdigit()) \
                        or op not in ("<=", "<", "="):
                    raise SuiteQLError("ROWNUM is supported only as 'ROWNUM <= n', 'ROWNUM < n' or 'ROWNUM = 1'")
                value = int(right.value)
                n = value if op == "<=" else value - 1 if op == "<" else (1 if value == 1 else 0)
        if n is None:
            keep.append(c)
        else:
            limit = max(0, n) if limit is None else min(limit, max(0, n))
    rest = None
    for c in keep:
        rest = c if rest is None else Binary("AND", rest, c)
    return rest, limit


@dataclass
class _Source:
    table: str        # SuiteQL table name (lower); "" for a derived table
    base: str         # table whose columns it has (views map to their base)
    sql_alias: str
    columns: dict[str, str]
    from_sql: str     # what goes after FROM / JOIN
    ordered: bool = False   # a derived table that carries its ORDER BY as the hidden "__rn" column


_KIND_TO_TYPE = {"date": "date", "datetime": "datetime", "num": "num"}


class Compiler:
    """Compiles one query level. ``derived=True`` compiles a derived table or an ``IN (SELECT ...)``:
    its columns are named by their output keys, dates stay raw and FETCH FIRST / ROWNUM become LIMIT."""

    def __init__(self, query: Query, now: datetime, *, params: dict[str, Any] | None = None,
                 derived: bool = False, counter: list[int] | None = None) -> None:
        self.q = query
        self.now = now
        self.params: dict[str, Any] = params if params is not None else {}
        self.derived = derived
        self._counter = counter if counter is not None else [0]
        self.sources: dict[str, _Source] = {}
        self.select_aliases: dict[str, int] = {}
        self.out_names: list[str] = []
        self.out_sql: list[str] = []
        self.kinds: list[str] = []
        self.ordered = False

    def _param(self, value: Any) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f":{name}"

    def _next_alias(self) -> str:
        self._counter[0] += 1
        return f"t{self._counter[0] - 1}"

    def _nested(self, query: Query) -> tuple[Compiled, Compiler]:
        inner = Compiler(query, self.now, params=self.params, derived=True, counter=self._counter)
        return inner.compile(), inner

    def _add_source(self, ref: TableRef) -> _Source:
        if ref.subquery is not None:
            compiled, inner = self._nested(ref.subquery)
            cols: dict[str, str] = {}
            for key, kind in zip(compiled.columns, inner.kinds):
                if key in cols:
                    raise SuiteQLError(f"column '{key}' is defined twice in a derived table; give it an alias")
                cols[key] = _KIND_TO_TYPE.get(kind, "text")
            alias = ref.alias.lower() or f"(derived {len(self.sources) + 1})"
            src = _Source("", "", self._next_alias(), cols, f"({compiled.sql})", inner.ordered)
        else:
            name = ref.name.lower()
            base = SUITEQL_VIEWS.get(name, name)
            if base not in SUITEQL_TABLES:
                raise SuiteQLError(f"Record '{ref.name}' was not found.")
            alias = ref.alias.lower()
            src = _Source(name, base, self._next_alias(), SUITEQL_TABLES[base], f'"{name}"')
        if alias in self.sources:
            raise SuiteQLError(f"the table alias '{ref.alias}' is used twice")
        self.sources[alias] = src
        return src

    def _out(self, key: str) -> str:
        return f'"{key}"' if self.derived else f'"c{len(self.out_names)}"'

    def compile(self) -> Compiled:
        q = self.q
        where, rownum_limit = _split_rownum(q.where)
        if rownum_limit is not None and q.order_by:
            raise SuiteQLError("ROWNUM is assigned before ORDER BY at the same level; sort in a derived table: "
                               "SELECT * FROM (SELECT ... ORDER BY id) WHERE ROWNUM <= n")
        limit = q.fetch_first if rownum_limit is None else (
            rownum_limit if q.fetch_first is None else min(rownum_limit, q.fetch_first))
        from_src = self._add_source(q.table)
        join_parts: list[tuple[Join, _Source]] = [(j, self._add_source(j.table)) for j in q.joins]
        # select list
        select_sql: list[str] = []
        keys: list[str] = []
        expr_no = 0
        for expr, alias in q.items:
            if isinstance(expr, Column) and expr.name == "*":
                sources = list(self.sources.values()) if expr.qualifier is None else [self._source(expr.qualifier)]
                for src in sources:
                    for col, ctype in src.columns.items():
                        sql = f'{src.sql_alias}."{col}"'
                        if ctype in ("date", "datetime") and not self.derived:
                            sql = f"ns_display_date({sql})"
                        name = self._out(col)
                        select_sql.append(f"{sql} AS {name}")
                        self.out_sql.append(sql)
                        self.out_names.append(name)
                        self.kinds.append(ctype)
                        keys.append(col)
                continue
            sql, kind = self._expr(expr)
            if kind in ("date", "datetime") and not self.derived:
                sql = f"ns_display_date({sql})"
            if alias:
                key = alias.lower()
            elif isinstance(expr, Column):
                key = expr.name.lower()
            else:
                expr_no += 1
                key = f"expr{expr_no}"
            self.select_aliases.setdefault(key, len(select_sql))
            name = self._out(key)
            select_sql.append(f"{sql} AS {name}")
            self.out_sql.append(sql)
            self.out_names.append(name)
            self.kinds.append(kind)
            keys.append(key)
        parts = ["SELECT " + ("DISTINCT " if q.distinct else "") + ", ".join(select_sql)]
        parts.append(f"FROM {from_src.from_sql} AS {from_src.sql_alias}")
        for join, src in join_parts:
            if join.kind == "CROSS":
                parts.append(f"CROSS JOIN {src.from_sql} AS {src.sql_alias}")
            else:
                on_sql, _ = self._expr(join.on)
                parts.append(f"{join.kind} JOIN {src.from_sql} AS {src.sql_alias} ON {on_sql}")
        if where is not None:
            parts.append("WHERE " + self._expr(where)[0])
        if q.group_by:
            parts.append("GROUP BY " + ", ".join(self._expr(e)[0] for e in q.group_by))
        if q.having is not None:
            parts.append("HAVING " + self._expr(q.having)[0])
        if q.order_by:
            order_sql = []
            window_sql = []
            for item in q.order_by:
                sql = self._order_expr(item.expr, len(select_sql))
                raw = self._order_expr(item.expr, len(select_sql), raw=True)
                suffix = (" DESC" if item.desc else " ASC") + (f" NULLS {item.nulls}" if item.nulls else "")
                order_sql.append(sql + suffix)
                window_sql.append(raw + suffix)
            parts.append("ORDER BY " + ", ".join(order_sql))
            if self.derived and not q.distinct:
                # SQLite does not promise that an outer query sees a sub-query's rows in its ORDER BY order
                # (Oracle's ROWNUM idiom relies on it): carry the order as a hidden row number.
                parts[0] += f', ROW_NUMBER() OVER (ORDER BY {", ".join(window_sql)}) AS "__rn"'
                self.ordered = True
        elif from_src.ordered and not join_parts and not q.group_by and not q.distinct and not self._aggregated():
            parts.append(f'ORDER BY {from_src.sql_alias}."__rn"')
        if self.derived and limit is not None:
            parts.append(f"LIMIT {limit}")
            limit = None
        return Compiled(" ".join(parts), self.params, keys, limit)

    def _order_expr(self, expr: Any, n_cols: int, *, raw: bool = False) -> str:
        names = self.out_sql if raw else self.out_names
        if isinstance(expr, Literal) and expr.kind == "num" and expr.value.isdigit():
            pos = int(expr.value)
            if not 1 <= pos <= n_cols:
                raise SuiteQLError(f"ORDER BY position {pos} is out of range (1..{n_cols})")
            return names[pos - 1]
        if isinstance(expr, Column) and expr.qualifier is None and expr.name.lower() in self.select_aliases:
            return names[self.select_aliases[expr.name.lower()]]
        return self._expr(expr)[0]

    def _aggregated(self) -> bool:
        return any(isinstance(e, Func) and e.name in _AGGREGATES for e, _ in self.q.items)

    def _source(self, qualifier: str) -> _Source:
        src = self.sources.get(qualifier.lower())
        if src is None:
            raise SuiteQLError(f"unknown table alias '{qualifier}'")
        return src

    def _column(self, col: Column) -> tuple[str, str]:
        name = col.name.lower()
        if col.qualifier is not None:
            candidates = [self._source(col.qualifier)]
        else:
            candidates = [s for s in self.sources.values() if name in s.columns or self._is_custom(s, name)]
            if not candidates:
                if len(self.sources) == 1:
                    candidates = list(self.sources.values())
                else:
                    raise SuiteQLError(f"Field '{col.name}' was not found in any table of the query.")
            if len(candidates) > 1:
                raise SuiteQLError(f"column '{col.name}' is ambiguous; qualify it with a table alias")
        src = candidates[0]
        if name in src.columns:
            return f'{src.sql_alias}."{name}"', src.columns[name]
        if self._is_custom(src, name):
            return f"json_extract({src.sql_alias}.custom, '$.{name}')", "custom"
        raise SuiteQLError(f"Field '{col.name}' for record '{src.table or 'derived table'}' was not found.")

    @staticmethod
    def _is_custom(src: _Source, name: str) -> bool:
        prefixes = CUSTOM_PREFIXES.get(src.base, ())
        return any(name.startswith(p + "_") for p in prefixes) and bool(_CUSTOM_NAME_RE.match(name))

    def _expr(self, e: Any) -> tuple[str, str]:  # noqa: C901 - a dispatcher
        if isinstance(e, Literal):
            if e.kind == "null":
                return "NULL", "null"
            if e.kind == "num":
                if not _NUM_RE.match(e.value):
                    raise SuiteQLError(f"invalid number {e.value!r}")
                return e.value, "num"
            return self._param(e.value), "str"
        if isinstance(e, Keyword):
            value = self.now.astimezone(UTC).strftime(DB_TS)
            if e.name == "CURRENT_DATE":
                value = value[:10] + " 00:00:00"
            return self._param(value), "datetime"
        if isinstance(e, Column):
            if e.name == "*":
                raise SuiteQLError(f"'{e.qualifier}.*' is only allowed in the select list")
            return self._column(e)
        if isinstance(e, Unary):
            inner, kind = self._expr(e.expr)
            if e.op == "NOT":
                return f"(NOT {inner})", "bool"
            return f"({e.op}{inner})", kind
        if isinstance(e, Binary):
            if e.op in ("AND", "OR"):
                return f"({self._expr(e.left)[0]} {e.op} {self._expr(e.right)[0]})", "bool"
            left, lk = self._expr(e.left)
            right, rk = self._expr(e.right)
            if e.op in ("=", "<>", "<", ">", "<=", ">="):
                left = self._date_literal(e.right, rk, e.left, left)
                right = self._date_literal(e.left, lk, e.right, right)
                return f"({left} {e.op} {right})", "bool"
            return f"({left} {e.op} {right})", ("str" if e.op == "||" else "num")
        if isinstance(e, Rownum):
            raise SuiteQLError("ROWNUM is supported only as a top-level 'ROWNUM <= n' (or < n) condition in WHERE")
        if isinstance(e, InSubquery):
            inner = self._expr(e.expr)[0]
            compiled, _ = self._nested(e.query)
            if len(compiled.columns) != 1:
                raise SuiteQLError("IN (SELECT ...) must select exactly one column")
            return f"({inner} {'NOT IN' if e.negated else 'IN'} ({compiled.sql}))", "bool"
        if isinstance(e, InList):
            inner, kind = self._expr(e.expr)
            items = [self._date_literal(e.expr, kind, it, self._expr(it)[0]) for it in e.items]
            return f"({inner} {'NOT IN' if e.negated else 'IN'} ({', '.join(items)}))", "bool"
        if isinstance(e, Like):
            inner = self._expr(e.expr)[0]
            pat = self._expr(e.pattern)[0]
            sql = f"({inner} {'NOT LIKE' if e.negated else 'LIKE'} {pat}"
            if e.escape is not None:
                sql += f" ESCAPE {self._expr(e.escape)[0]}"
            return sql + ")", "bool"
        if isinstance(e, IsNull):
            return f"({self._expr(e.expr)[0]} IS {'NOT ' if e.negated else ''}NULL)", "bool"
        if isinstance(e, Between):
            inner, kind = self._expr(e.expr)
            low = self._date_literal(e.expr, kind, e.low, self._expr(e.low)[0])
            high = self._date_literal(e.expr, kind, e.high, self._expr(e.high)[0])
            return f"({inner} {'NOT BETWEEN' if e.negated else 'BETWEEN'} {low} AND {high})", "bool"
        if isinstance(e, Case):
            sql = "CASE"
            kind = "other"
            for cond, val in e.whens:
                vsql, kind = self._expr(val)
                sql += f" WHEN {self._expr(cond)[0]} THEN {vsql}"
            if e.else_ is not None:
                sql += f" ELSE {self._expr(e.else_)[0]}"
            return sql + " END", kind
        if isinstance(e, Func):
            return self._func(e)
        raise SuiteQLError("unsupported expression")

    def _date_literal(self, other: Any, other_kind: str, node: Any, sql: str) -> str:
        """A plain string compared with a date column: NetSuite reads it in the user's date format."""
        if other_kind in ("date", "datetime") and isinstance(node, Literal) and node.kind == "str":
            m = re.match(r"^(\d{1,2})/(\d{1,2})/(\d{4})$", node.value.strip())
            if not m:
                raise SuiteQLError(f"Unparseable date: {node.value!r} (the user's date format is M/D/YYYY; "
                                   "use TO_DATE('2026-01-31', 'YYYY-MM-DD') or TO_TIMESTAMP(...))")
            try:
                d = datetime(int(m.group(3)), int(m.group(1)), int(m.group(2)))
            except ValueError:
                raise SuiteQLError(f"Unparseable date: {node.value!r}") from None
            return self._param(d.strftime(DB_TS))
        return sql

    def _func(self, f: Func) -> tuple[str, str]:  # noqa: C901 - a dispatcher
        name = f.name
        if name == "BUILTIN.DF":
            if len(f.args) != 1 or not isinstance(f.args[0], Column):
                raise SuiteQLError("BUILTIN.DF takes exactly one column")
            return self._display(f.args[0])
        if name in _AGGREGATES:
            if f.star:
                if name != "COUNT":
                    raise SuiteQLError(f"{name}(*) is not valid")
                return "COUNT(*)", "num"
            if len(f.args) != 1:
                raise SuiteQLError(f"{name} takes one argument")
            inner, kind = self._expr(f.args[0])
            sql = f"{name}({'DISTINCT ' if f.distinct else ''}{inner})"
            return sql, (kind if name in ("MIN", "MAX") else "num")
        if f.star or f.distinct:
            raise SuiteQLError(f"{name}(*) / {name}(DISTINCT ...) is not valid")
        if name in ("TO_DATE", "TO_TIMESTAMP"):
            if len(f.args) != 2:
                raise SuiteQLError(f"{name} needs a value and a format, e.g. {name}('2026-01-31', 'YYYY-MM-DD')")
            value, fmt = f.args
            if not (isinstance(fmt, Literal) and fmt.kind == "str"):
                raise SuiteQLError(f"the format of {name} must be a string literal")
            oracle_format(fmt.value)
            kind = "date" if name == "TO_DATE" else "datetime"
            if isinstance(value, Literal) and value.kind == "str":
                return self._param(parse_oracle_datetime(value.value, fmt.value)), kind
            return f"ns_to_date({self._expr(value)[0]}, {self._param(fmt.value)})", kind
        if name == "TO_CHAR":
            if len(f.args) not in (1, 2):
                raise SuiteQLError("TO_CHAR takes a value and an optional format")
            inner = self._expr(f.args[0])[0]
            if len(f.args) == 1:
                return f"ns_to_char({inner})", "str"
            fmt = f.args[1]
            if not (isinstance(fmt, Literal) and fmt.kind == "str"):
                raise SuiteQLError("the format of TO_CHAR must be a string literal")
            oracle_format(fmt.value)
            return f"ns_to_char({inner}, {self._param(fmt.value)})", "str"
        if name == "TO_NUMBER":
            if len(f.args) != 1:
                raise SuiteQLError("TO_NUMBER takes one argument")
            return f"CAST({self._expr(f.args[0])[0]} AS NUMERIC)", "num"
        if name in _SIMPLE_FUNCS:
            sql_name, lo, hi = _SIMPLE_FUNCS[name]
            if not lo <= len(f.args) <= hi:
                raise SuiteQLError(f"{name} takes {lo}..{hi} arguments, got {len(f.args)}")
            compiled = [self._expr(a) for a in f.args]
            kind = compiled[0][1] if name in ("NVL", "COALESCE") else ("num" if name in ("ABS", "ROUND", "LENGTH")
                                                                         else "str")
            return f"{sql_name}({', '.join(c[0] for c in compiled)})", kind
        raise SuiteQLError(f"function {name} is not supported by the sandbox's SuiteQL subset")

    def _display(self, col: Column) -> tuple[str, str]:
        sql, ctype = self._column(col)
        name = col.name.lower()
        src = self._source(col.qualifier) if col.qualifier else next(
            s for s in self.sources.values() if name in s.columns or self._is_custom(s, name))
        if src.base == "transaction" and name == "status":
            return f'ns_status_label({src.sql_alias}."type", {sql})', "str"
        if (src.base == "transaction" and name == "type") or (src.base == "item" and name == "itemtype"):
            return f"ns_type_label({sql})", "str"
        if ctype.startswith("ref:"):
            target = ctype[4:]
            display = DISPLAY_COLUMN[target]
            return f'(SELECT d."{display}" FROM "{target}" AS d WHERE d.id = {sql})', "str"
        return sql, ctype


def compile_sql(text: str, now: datetime | None = None) -> Compiled:
    """Parse and compile ``text``; raises SuiteQLError with the reason."""
    return Compiler(parse(text), now or datetime.now(UTC)).compile()
