"""The NetSuite sandbox's SuiteQL subset: what the parser accepts and refuses, and what it computes.

Runs the compiled SQL against the sandbox's own SQLite schema (no HTTP, no seed) with a handful of
hand-made rows, so every expectation below is checked against real values.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from airflow_provider_amznetsuite.sandbox.netsuite.store import Store
from airflow_provider_amznetsuite.sandbox.netsuite.suiteql import (
    SuiteQLError,
    compile_sql,
    oracle_format,
    parse,
    to_text,
    tokenize,
)

NOW = datetime(2026, 3, 15, 12, 30, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def store() -> Store:
    st = Store(":memory:")
    c = st.conn
    c.executemany('INSERT INTO item (id, itemid, displayname, itemtype, isinactive, externalid, parent, matrixtype,'
                  ' upccode, custom) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)', [
                      (1, "SKU-1", "Mug", "InvtPart", "F", None, None, None, "5000000000011",
                       '{"custitem_amz_publish":"T","custitem_amz_safety_stock":3}'),
                      (2, "SKU-2", "Bowl", "InvtPart", "T", "EXT-2", None, None, None, None),
                      (3, "MTX-1", "Shirt", "InvtPart", "F", None, None, "PARENT", None, None),
                      (4, "MTX-1-S", "Shirt S", "InvtPart", "F", None, 3, "CHILD", None,
                       '{"custitem_amz_publish":"F","custitem_amz_safety_stock":12}'),
                      (5, "O'Brien Tea", "Tea", "InvtPart", "F", None, None, None, None, None),
                      (900, "Shipping", "Shipping", "Service", "F", None, None, None, None, None),
                  ])
    c.executemany('INSERT INTO customer (id, entityid, subsidiary, currency) VALUES (?, ?, ?, ?)',
                  [(101, "Amazon UK Customer", 2, 2)])
    c.executemany('INSERT INTO currency (id, symbol, name) VALUES (?, ?, ?)', [(2, "GBP", "British Pound")])
    c.executemany('INSERT INTO "transaction" (id, tranid, trandate, type, status, entity, currency, foreigntotal,'
                  ' externalid, lastmodifieddate) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)', [
                      (4001, "SO1001", "2026-01-03 00:00:00", "SalesOrd", "B", 101, 2, "39.98", "AMZ-1",
                       "2026-01-03 18:22:05"),
                      (4002, "SO1002", "2026-02-10 00:00:00", "SalesOrd", "H", 101, 2, "12.5", "AMZ-2",
                       "2026-02-11 09:01:44"),
                      (4003, "CS1001", "2026-03-01 00:00:00", "CashSale", "B", 101, 2, "7", None,
                       "2026-03-01 10:00:00"),
                  ])
    c.executemany('INSERT INTO transactionline ("transaction", id, linesequencenumber, item, quantity, rate, netamount,'
                  ' mainline) VALUES (?, ?, ?, ?, ?, ?, ?, ?)', [
                      (4001, 0, 0, None, None, None, "39.98", "T"),
                      (4001, 1, 1, 1, "-2", "19.99", "-39.98", "F"),
                      (4002, 0, 0, None, None, None, "12.5", "T"),
                      (4002, 1, 1, 4, "-1", "12.5", "-12.5", "F"),
                  ])
    return st


def run(store: Store, q: str) -> list[dict[str, str]]:
    """Rows as the server returns them: lower-case keys, string values, NULL columns left out."""
    compiled = compile_sql(q, NOW)
    out = []
    found = store.query(compiled.sql, compiled.params)
    if compiled.fetch_first is not None:              # the server applies FETCH FIRST / TOP while paging
        found = found[:compiled.fetch_first]
    for row in found:
        out.append({k: to_text(v) for k, v in zip(compiled.columns, row) if v is not None})
    return out


# --- accepted -------------------------------------------------------------------------------------
@pytest.mark.parametrize("q", [
    "SELECT id FROM item",
    "select Id, ItemId from Item where ID > 2 order by id",
    "SELECT * FROM item",
    "SELECT i.* FROM item i",
    "SELECT DISTINCT itemtype FROM item",
    "SELECT TOP 2 id FROM item ORDER BY id DESC",
    "SELECT id FROM item ORDER BY id FETCH FIRST 3 ROWS ONLY",
    "SELECT t.id, tl.item FROM transaction t JOIN transactionline tl ON tl.transaction = t.id WHERE tl.mainline = 'F'",
    "SELECT t.id FROM transaction t INNER JOIN customer c ON c.id = t.entity",
    "SELECT t.id FROM transaction t LEFT OUTER JOIN transactionline tl ON tl.transaction = t.id AND tl.id = 1",
    "SELECT t.id, c.entityid FROM transaction t, customer c WHERE c.id = t.entity",
    "SELECT id FROM item WHERE itemid IN ('SKU-1', 'SKU-2') OR NOT (isinactive = 'T')",
    "SELECT id FROM item WHERE itemid LIKE 'SKU-%' AND upccode IS NOT NULL",
    "SELECT id FROM item WHERE parent IS NULL AND id BETWEEN 1 AND 4",
    "SELECT id FROM transaction WHERE trandate >= TO_DATE('2026-01-01', 'YYYY-MM-DD')",
    "SELECT TO_CHAR(lastmodifieddate, 'YYYY-MM-DD\"T\"HH24:MI:SS') AS lm FROM transaction",
    "SELECT BUILTIN.DF(t.entity) AS cust, BUILTIN.DF(t.status) FROM transaction t",
    "SELECT COUNT(*) AS n, type FROM transaction GROUP BY type HAVING COUNT(*) > 0 ORDER BY n DESC",
    "SELECT SUM(ABS(netamount)) FROM transactionline WHERE mainline = 'F'",
    "SELECT NVL(upccode, 'none') AS code, UPPER(itemid), LOWER(itemid), LENGTH(itemid) FROM item",
    "SELECT CASE WHEN isinactive = 'T' THEN 'inactive' ELSE 'active' END AS state FROM item",
    "SELECT custitem_amz_publish, custitem_amz_safety_stock FROM item WHERE custitem_amz_publish = 'T'",
    "SELECT item FROM aggregateItemLocation a WHERE a.quantityavailable > 0",
    "SELECT item, location, quantityonhand FROM inventorybalance ORDER BY item, location NULLS LAST",
    "SELECT item, unitprice FROM pricing WHERE effectivedate IS NULL AND quantity = 0",
    "SELECT id FROM item WHERE itemid = 'O''Brien Tea'",
    "SELECT id FROM transaction WHERE lastmodifieddate > SYSDATE",
    "SELECT -id + 2 * 3 / 1 AS x, itemid || '-' || displayname AS label FROM item",
    "SELECT * FROM (SELECT id, itemid FROM item ORDER BY id) WHERE ROWNUM <= 2",
    "SELECT x.id FROM (SELECT id FROM item WHERE isinactive = 'F') x JOIN pricing p ON p.item = x.id",
    "SELECT id FROM item WHERE id NOT IN (SELECT item FROM pricing)",
])
def test_accepted_queries_compile_and_run(store: Store, q: str) -> None:
    compiled = compile_sql(q, NOW)
    assert compiled.sql.startswith("SELECT")
    store.query(compiled.sql, compiled.params)           # SQLite accepts what the compiler produced


# --- refused --------------------------------------------------------------------------------------
@pytest.mark.parametrize(("q", "reason"), [
    ("", "empty"),
    ("SELECT id FROM item;", "';'"),
    ("SELECT id FROM item; DROP TABLE item", "';'"),
    ("SELECT id FROM item -- comment", "comments"),
    ("SELECT id /* c */ FROM item", "comments"),
    ("DELETE FROM item", "only SELECT"),
    ("UPDATE item SET itemid = 'x'", "only SELECT"),
    ("INSERT INTO item (id) VALUES (1)", "only SELECT"),
    ("DROP TABLE item", "only SELECT"),
    ("WITH x AS (SELECT 1 FROM item) SELECT * FROM x", "only SELECT"),
    ("SELECT id FROM item UNION SELECT id FROM customer", "UNION"),
    ("SELECT (SELECT 1 FROM item) FROM item", "scalar sub-queries"),
    ("SELECT id FROM item i WHERE id IN (SELECT item FROM pricing p WHERE p.item = i.id)", "unknown table alias"),
    ("SELECT id FROM item WHERE id IN (SELECT item, location FROM inventorybalance)", "exactly one column"),
    ("SELECT * FROM (SELECT id, id FROM item) x", "defined twice"),
    ("SELECT id FROM item WHERE ROWNUM <= 10 ORDER BY id", "ROWNUM is assigned before ORDER BY"),
    ("SELECT ROWNUM FROM item", "ROWNUM is supported only"),
    ("SELECT id FROM item WHERE ROWNUM > 10", "ROWNUM is supported only"),
    ("SELECT id FROM item WHERE id = 1 OR ROWNUM <= 3", "ROWNUM is supported only"),
    ("SELECT id FROM item WHERE EXISTS (SELECT 1 FROM item)", "EXISTS"),
    ("SELECT id FROM item ORDER BY id OFFSET 10 ROWS", "OFFSET"),
    ('SELECT "id" FROM item', "double-quoted"),
    ("SELECT id FROM item WHERE itemid = 'open", "unterminated"),
    ("SELECT nosuch FROM item", "Field 'nosuch' for record 'item' was not found"),
    ("SELECT id FROM nosuchtable", "Record 'nosuchtable' was not found"),
    ("SELECT x.id FROM item i", "unknown table alias"),
    ("SELECT id FROM transaction t JOIN transactionline tl ON tl.transaction = t.id", "ambiguous"),
    ("SELECT MEDIAN(id) FROM item", "not supported"),
    ("SELECT id FROM item WHERE id = ANY (1, 2)", "ANY"),
    ("SELECT id FROM transaction WHERE trandate > '2026-01-01'", "Unparseable date"),
    ("SELECT TO_CHAR(trandate, 'YYYY-Q') FROM transaction", "unsupported element"),
    ("SELECT id FROM transaction WHERE trandate > TO_DATE('31/01/2026', 'YYYY-MM-DD')", "Unparseable date"),
    ("SELECT id FROM item WHERE id IN (" + ", ".join(str(i) for i in range(1001)) + ")", "at most 1000"),
    ("SELECT id FROM item i, item i", "used twice"),
    ("SELECT id item FROM", "expected a table name"),
    ("SELECT id FROM item WHERE", "expected an expression"),
    ("SELECT id FROM item ORDER BY 3", "out of range"),
    ("SELECT id FROM item WHERE itemid = 'a' $", "unexpected character"),
    ("SELECT id FROM item WHERE id = :last", "unexpected character"),
])
def test_refused_queries_say_why(q: str, reason: str) -> None:
    with pytest.raises(SuiteQLError) as err:
        compile_sql(q, NOW)
    assert reason in str(err.value)


def test_statement_separator_inside_a_string_is_data(store: Store) -> None:
    assert run(store, "SELECT id FROM item WHERE itemid = 'a;b -- c'") == []


def test_tokenizer_escapes_and_keywords() -> None:
    toks = tokenize("select 'it''s' AS x from item")
    assert [(t.kind, t.value) for t in toks[:4]] == [("kw", "SELECT"), ("str", "'it''s'"), ("kw", "AS"),
                                                     ("ident", "x")]
    q = parse("SELECT itemid FROM item WHERE itemid = 'O''Brien Tea'")
    assert q.where.right.value == "O'Brien Tea"


# --- semantics ------------------------------------------------------------------------------------
def test_where_in_like_null_and_escaped_quote(store: Store) -> None:
    assert run(store, "SELECT id FROM item WHERE itemid IN ('SKU-1', 'MTX-1-S') ORDER BY id") == [{"id": "1"},
                                                                                                   {"id": "4"}]
    assert run(store, "SELECT id FROM item WHERE itemid NOT LIKE 'SKU-%' AND itemtype = 'InvtPart' ORDER BY id") == [
        {"id": "3"}, {"id": "4"}, {"id": "5"}]
    assert run(store, "SELECT id FROM item WHERE itemid LIKE 'sku-%'") == []            # LIKE is case-sensitive
    assert run(store, "SELECT id FROM item WHERE itemid = 'O''Brien Tea'") == [{"id": "5"}]
    assert run(store, "SELECT id FROM item WHERE externalid IS NOT NULL") == [{"id": "2"}]


def test_keyset_condition_and_ordering(store: Store) -> None:
    assert run(store, "SELECT id FROM item WHERE id > 3 ORDER BY id") == [{"id": "4"}, {"id": "5"}, {"id": "900"}]
    assert run(store, "SELECT id AS k FROM item ORDER BY k DESC FETCH FIRST 2 ROWS ONLY") == [{"k": "900"},
                                                                                            {"k": "5"}]
    assert run(store, "SELECT itemid, id FROM item WHERE id < 3 ORDER BY 2 DESC") == [
        {"itemid": "SKU-2", "id": "2"}, {"itemid": "SKU-1", "id": "1"}]
    assert compile_sql("SELECT TOP 5 id FROM item FETCH FIRST 2 ROWS ONLY").fetch_first == 2


def test_values_are_strings_and_nulls_are_left_out(store: Store) -> None:
    got = run(store, "SELECT id, itemid, upccode, parent FROM item WHERE id IN (1, 4) ORDER BY id")
    assert got == [{"id": "1", "itemid": "SKU-1", "upccode": "5000000000011"},
                   {"id": "4", "itemid": "MTX-1-S", "parent": "3"}]
    assert run(store, "SELECT foreigntotal FROM transaction ORDER BY id") == [
        {"foreigntotal": "39.98"}, {"foreigntotal": "12.5"}, {"foreigntotal": "7"}]
    assert run(store, "SELECT SUM(netamount) AS s FROM transactionline WHERE mainline = 'F'") == [{"s": "-52.48"}]


def test_unaliased_expressions_are_named_expr_n(store: Store) -> None:
    assert run(store, "SELECT UPPER(itemid), LENGTH(itemid) FROM item WHERE id = 1") == [
        {"expr1": "SKU-1", "expr2": "5"}]


def test_dates_display_in_user_format_unless_to_char(store: Store) -> None:
    got = run(store, "SELECT trandate, TO_CHAR(trandate, 'YYYY-MM-DD') AS d, "
                     "TO_CHAR(lastmodifieddate, 'YYYY-MM-DD\"T\"HH24:MI:SS') AS lm, "
                     "TO_CHAR(lastmodifieddate, 'DD/MM/YY HH12:MI AM') AS uk FROM transaction WHERE id = 4001")
    assert got == [{"trandate": "1/3/2026", "d": "2026-01-03", "lm": "2026-01-03T18:22:05", "uk": "03/01/26 06:22 PM"}]


def test_date_comparisons(store: Store) -> None:
    ts = "TO_TIMESTAMP('2026-02-11 09:00:00', 'YYYY-MM-DD HH24:MI:SS')"
    assert run(store, f"SELECT id FROM transaction WHERE lastmodifieddate > {ts} ORDER BY id") == [{"id": "4002"},
                                                                                                  {"id": "4003"}]
    assert run(store, "SELECT id FROM transaction WHERE trandate = TO_DATE('2026-02-10', 'YYYY-MM-DD')") == [
        {"id": "4002"}]
    assert run(store, "SELECT id FROM transaction WHERE trandate BETWEEN '1/1/2026' AND '1/31/2026'") == [
        {"id": "4001"}]
    assert run(store, "SELECT id FROM transaction WHERE lastmodifieddate > SYSDATE") == []   # NOW = 2026-03-15
    assert run(store, "SELECT COUNT(*) AS n FROM transaction WHERE lastmodifieddate < SYSDATE") == [{"n": "3"}]
    assert run(store, "SELECT COUNT(*) AS n FROM transaction WHERE trandate < CURRENT_DATE") == [{"n": "3"}]


def test_builtin_df_resolves_display_values(store: Store) -> None:
    got = run(store, "SELECT BUILTIN.DF(t.entity) AS c, BUILTIN.DF(t.currency) AS cur, BUILTIN.DF(t.status) AS s, "
                     "BUILTIN.DF(t.type) AS ty, BUILTIN.DF(t.tranid) AS same FROM transaction t WHERE t.id = 4002")
    assert got == [{"c": "Amazon UK Customer", "cur": "British Pound", "s": "Sales Order : Closed",
                    "ty": "Sales Order", "same": "SO1002"}]
    assert run(store, "SELECT BUILTIN.DF(parent) AS p FROM item WHERE id = 4") == [{"p": "MTX-1"}]


def test_joins_and_custom_fields(store: Store) -> None:
    got = run(store, "SELECT t.tranid, i.itemid, ABS(tl.quantity) AS qty FROM transaction t "
                     "JOIN transactionline tl ON tl.transaction = t.id AND tl.mainline = 'F' "
                     "JOIN item i ON i.id = tl.item WHERE t.type = 'SalesOrd' ORDER BY t.id")
    assert got == [{"tranid": "SO1001", "itemid": "SKU-1", "qty": "2"}, {"tranid": "SO1002", "itemid": "MTX-1-S",
                                                                          "qty": "1"}]
    left = run(store, "SELECT t.id, tl.item FROM transaction t LEFT JOIN transactionline tl "
                      "ON tl.transaction = t.id AND tl.mainline = 'F' ORDER BY t.id")
    assert left == [{"id": "4001", "item": "1"}, {"id": "4002", "item": "4"}, {"id": "4003"}]
    assert run(store, "SELECT id FROM item WHERE custitem_amz_safety_stock > 5") == [{"id": "4"}]
    assert run(store, "SELECT id, custitem_amz_publish AS p FROM item WHERE custitem_amz_publish IS NOT NULL "
                      "ORDER BY id") == [{"id": "1", "p": "T"}, {"id": "4", "p": "F"}]
    assert run(store, "SELECT custitem_never_set FROM item WHERE id = 1") == [{}]
    with pytest.raises(SuiteQLError):
        compile_sql("SELECT custbody_x FROM item")                      # custbody_ fields live on transaction


def test_aggregates_group_by_having(store: Store) -> None:
    got = run(store, "SELECT type, COUNT(*) AS n, SUM(foreigntotal) AS total FROM transaction GROUP BY type "
                     "HAVING COUNT(*) >= 1 ORDER BY n DESC")
    assert got == [{"type": "SalesOrd", "n": "2", "total": "52.48"}, {"type": "CashSale", "n": "1", "total": "7"}]
    assert run(store, "SELECT COUNT(DISTINCT entity) AS n FROM transaction") == [{"n": "1"}]


def test_select_star_uses_table_columns(store: Store) -> None:
    compiled = compile_sql("SELECT * FROM currency")
    assert compiled.columns[:3] == ["id", "symbol", "name"]
    assert "custom" not in compiled.columns
    assert run(store, "SELECT c.* FROM currency c") == [{"id": "2", "symbol": "GBP", "name": "British Pound"}]


def test_string_literals_are_bound_not_spliced() -> None:
    compiled = compile_sql("SELECT id FROM item WHERE itemid = 'x'' OR 1=1 --'")
    assert "OR 1=1" not in compiled.sql
    assert list(compiled.params.values()) == ["x' OR 1=1 --"]


def test_oracle_format_translation() -> None:
    assert oracle_format('YYYY-MM-DD"T"HH24:MI:SS') == "%Y-%m-%dT%H:%M:%S"
    assert oracle_format("DD/MM/YYYY HH12:MI AM") == "%d/%m/%Y %I:%M %p"
    with pytest.raises(SuiteQLError):
        oracle_format("YYYY-WW")


def test_derived_table_with_rownum_is_a_keyset_page(store: Store) -> None:
    q = "SELECT * FROM (SELECT id, itemid FROM item WHERE id > 1 ORDER BY id) WHERE ROWNUM <= 2"
    assert run(store, q) == [{"id": "2", "itemid": "SKU-2"}, {"id": "3", "itemid": "MTX-1"}]
    assert compile_sql(q).fetch_first == 2
    nested = ("SELECT k.id FROM (SELECT * FROM (SELECT id FROM item ORDER BY id DESC) WHERE ROWNUM < 3) k "
              "ORDER BY k.id")
    assert run(store, nested) == [{"id": "5"}, {"id": "900"}]
    assert len(run(store, "SELECT id FROM item WHERE ROWNUM = 1 AND id > 4")) == 1
    assert run(store, "SELECT id FROM item WHERE ROWNUM = 2") == []            # as in Oracle


def test_derived_table_columns_keep_their_types(store: Store) -> None:
    got = run(store, "SELECT d.trandate, TO_CHAR(d.trandate, 'YYYY-MM-DD') AS iso, d.total + 1 AS more FROM "
                     "(SELECT trandate, foreigntotal AS total FROM transaction WHERE id = 4001) d")
    assert got == [{"trandate": "1/3/2026", "iso": "2026-01-03", "more": "40.98"}]


def test_in_subquery(store: Store) -> None:
    assert run(store, "SELECT id FROM item WHERE id IN (SELECT item FROM transactionline WHERE mainline = 'F') "
                      "ORDER BY id") == [{"id": "1"}, {"id": "4"}]
    assert run(store, "SELECT id FROM item WHERE itemtype = 'InvtPart' AND id NOT IN "
                      "(SELECT item FROM transactionline WHERE item IS NOT NULL) ORDER BY id") == [
        {"id": "2"}, {"id": "3"}, {"id": "5"}]
