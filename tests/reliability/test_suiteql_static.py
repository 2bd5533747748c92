"""Static guard: no product module builds SuiteQL by formatting untrusted values into the query text.

REST SuiteQL has no bind variables; the hook renders ``:name`` placeholders as escaped literals
(``render_suiteql``). This test parses ``operators/`` and ``hooks/`` with :mod:`ast` and finds every
string built by an f-string, ``+``, ``%`` or ``.format`` whose text looks like SuiteQL (keywords such as
SELECT/WHERE/AND/AS/IN, an alias prefix like ``i.`` before a hole, a comparison after a hole). Every
value interpolated into such a string must be either a constant choice (``' AND' if x else ' WHERE'``)
or listed in :data:`VETTED` below with the reason it cannot carry untrusted text. Values (SKUs, ids,
dates, Params) must travel as ``params={...}``.

A new interpolation fails this test until it is vetted here; a vetted entry that no longer exists fails
it too (so the list stays true).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "airflow_provider_amznetsuite"
SCANNED = sorted([*(PACKAGE / "operators").glob("*.py"), *(PACKAGE / "hooks").glob("*.py")])

# SuiteQL-looking text (case-sensitive: SQL here is written in upper case, prose is not): a query skeleton
# anywhere in the string, or a fragment right next to a hole.
_SQL_SKELETON = re.compile(r"\b(SELECT|WHERE|ORDER BY|GROUP BY|INNER JOIN|LEFT JOIN|TO_CHAR|TO_DATE|TO_TIMESTAMP)\b"
                           r"|\bFROM [a-z]")
_BEFORE_HOLE = re.compile(r"((^|[\s(,=])[a-z]{1,3}\.|\s(=|<>|!=|>=|<=|>|<)\s*'?|\b(AND|OR|IN|LIKE|NOT)\s*\(?\s*)$")
_AFTER_HOLE = re.compile(r"^('?\s*(=|<>|!=|>=|<=|>|<)\s|\s+(AS|AND|OR|IN|LIKE|IS)\b)")

#: (module, function, interpolated expression) -> why it cannot carry untrusted text.
VETTED: dict[tuple[str, str, str], str] = {
    # hooks/netsuite.py — the renderer itself
    ("netsuite.py", "suiteql_literal", "value.isoformat()"):
        "a datetime.date rendered as YYYY-MM-DD (digits and dashes only)",
    ("netsuite.py", "_keyset_rows", "key"):
        "keyset column: suiteql_keyset() refuses anything but an identifier (_SQL_IDENT_RE) before rendering",
    ("netsuite.py", "_keyset_rows", "suiteql_literal(last)"):
        "the last key value, rendered by suiteql_literal (escaped literal)",
    ("netsuite.py", "suiteql_keyset", "where"):
        "caller-written filter with :name placeholders; the whole text goes through render_suiteql(..., params) "
        "on the next line and each caller's where= text is itself checked by this test",
    ("netsuite.py", "lookup_external_ids", "record_type_table"):
        "table name: refused unless it matches _SQL_IDENT_RE without a dot",
    ("netsuite.py", "lookup_external_ids", "render_suiteql(where, params)"):
        "the caller's filter rendered with escaped literals",
    ("netsuite.py", "lookup_external_ids",
     "render_suiteql(f'SELECT id, externalid FROM {record_type_table} WHERE externalid IN (:ids)', {'ids': batch})"):
        "the ids are rendered as literals; the table name is vetted above",
    ("netsuite.py", "lookup_external_ids", "extra"):
        "built from render_suiteql(where, params) only",
    # operators/inventory.py — item fields of the configuration
    ("inventory.py", "_select", "safety"): "validated by _field_name() (^[a-z][a-z0-9_]{0,99}$) or None",
    ("inventory.py", "_select", "flag"): "validated by _field_name()",
    ("inventory.py", "_select", "category"): "validated by _field_name()",
    ("inventory.py", "_select", "', '.join(cols)"): "constant column names plus the three vetted field ids",
    # operators/pricing.py — price/item fields of the configuration
    ("pricing.py", "execute", "publish_field"): "validated by expand_field() (identifier regex)",
    ("pricing.py", "execute", "item_filter"): "constant text plus the vetted publish_field; values go in item_params",
    ("pricing.py", "execute", "', '.join(columns)"): "constant columns plus vetted field ids and constant aliases",
    ("pricing.py", "execute", "name"): "FieldNames values: each produced by expand_field() (identifier regex)",
    ("pricing.py", "execute", "alias"): "constant aliases from the literal tuples in the loop header",
    # operators/products.py — the item query of the field contract
    ("products.py", "render", "self.sql"):
        "ItemColumn.sql: 'i.<field>' from _field() of _identifier()-validated names, constants, or the operator's "
        "category_expression argument (DAG-author code, not data)",
    ("products.py", "render", "self.alias"): "ItemColumn.alias: vetted field ids or constant aliases",
    ("products.py", "_field", "name"): "callers pass constants or _identifier()-validated names",
    ("products.py", "execute", "pc.category_field"): "ProductsConfig._field (config.py) allows ^[a-z][a-z0-9_]*$ only",
    ("products.py", "build_item_select", "', '.join((c.render() for c in columns))"): "vetted ItemColumns (above)",
    ("products.py", "_query", "select"): "build_item_select() output (vetted above)",
    ("products.py", "_query", "flag"): "validated by _identifier() in execute()",
}


@dataclass(frozen=True)
class Hole:
    module: str
    function: str
    line: int
    expr: str
    text: str


def _constant_only(node: ast.AST, constants: frozenset[str] = frozenset()) -> bool:
    """A value that can only be one of some constants: a literal, ``' AND' if x else ' WHERE'``, a ``+`` of
    literals, or a name that is only ever bound to such values (module constant or local)."""
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.IfExp):
        return _constant_only(node.body, constants) and _constant_only(node.orelse, constants)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _constant_only(node.left, constants) and _constant_only(node.right, constants)
    if isinstance(node, ast.JoinedStr):
        return all(_constant_only(v.value if isinstance(v, ast.FormattedValue) else v, constants) for v in node.values)
    if isinstance(node, ast.Name):
        return node.id in constants
    return False


def _constant_names(scope: ast.AST, inherited: frozenset[str] = frozenset()) -> frozenset[str]:
    """Names in ``scope`` (module or function body) whose every binding is a constant value."""
    bound: dict[str, list[ast.AST | None]] = {}
    for node in ast.walk(scope):
        if node is not scope and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)) \
                and isinstance(scope, ast.Module):
            continue
        if isinstance(node, ast.Assign):
            for t in node.targets:
                if isinstance(t, ast.Name):
                    bound.setdefault(t.id, []).append(node.value)
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)) and isinstance(node.target, ast.Name):
            bound.setdefault(node.target.id, []).append(node.value if isinstance(node, ast.AnnAssign) else None)
        elif isinstance(node, (ast.For, ast.comprehension)):
            for t in ast.walk(node.target):
                if isinstance(t, ast.Name):
                    bound.setdefault(t.id, []).append(None)
        elif isinstance(node, ast.arg):
            bound.setdefault(node.arg, []).append(None)
    names = set(inherited) - set(bound)
    changed = True
    while changed:
        changed = False
        for name, values in bound.items():
            if name not in names and all(v is not None and _constant_only(v, frozenset(names)) for v in values):
                names.add(name)
                changed = True
    return frozenset(names)


def _parts(node: ast.AST) -> list[ast.AST]:
    """Flatten an f-string / ``+`` chain into constant strings and holes, in order."""
    if isinstance(node, ast.JoinedStr):
        return [v.value if isinstance(v, ast.FormattedValue) else v for v in node.values]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _parts(node.left) + _parts(node.right)
    return [node]


def _text(node: ast.AST) -> str:
    return " ".join(n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str))


def _sqlish(parts: list[ast.AST]) -> bool:
    for i, p in enumerate(parts):
        if isinstance(p, ast.Constant) and isinstance(p.value, str):
            if _SQL_SKELETON.search(p.value):
                return True
            if i + 1 < len(parts) and not isinstance(parts[i + 1], ast.Constant) and _BEFORE_HOLE.search(p.value):
                return True
            if i > 0 and not isinstance(parts[i - 1], ast.Constant) and _AFTER_HOLE.search(p.value):
                return True
        elif _constant_only(p) and (_SQL_SKELETON.search(_text(p)) or re.search(r"\b(AND|OR|WHERE)\b", _text(p))):
            return True
    return False


def scan(path: Path) -> list[Hole]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    parents = {c: n for n in ast.walk(tree) for c in ast.iter_child_nodes(n)}
    module_constants = _constant_names(tree)
    scopes: dict[ast.AST, frozenset[str]] = {}

    def enclosing(node: ast.AST) -> ast.AST | None:
        while node in parents:
            node = parents[node]
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                return node
        return None

    def function_of(node: ast.AST) -> str:
        fn = enclosing(node)
        return fn.name if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) else "<module>"

    def constants_at(node: ast.AST) -> frozenset[str]:
        fn = enclosing(node)
        if fn is None:
            return module_constants
        if fn not in scopes:
            scopes[fn] = _constant_names(fn, module_constants)
        return scopes[fn]

    holes: list[Hole] = []
    for node in ast.walk(tree):
        parent = parents.get(node)
        if isinstance(node, ast.JoinedStr) and not (isinstance(parent, ast.BinOp) and isinstance(parent.op, ast.Add)):
            parts = _parts(node)
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add) and not (
                isinstance(parent, ast.BinOp) and isinstance(parent.op, ast.Add)):
            parts = _parts(node)
            if not any(isinstance(p, (ast.Constant, ast.JoinedStr)) for p in parts):
                continue  # arithmetic
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod) and isinstance(node.left, ast.Constant) \
                and isinstance(node.left.value, str):
            parts = [node.left, node.right]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format" \
                and isinstance(node.func.value, ast.Constant) and isinstance(node.func.value.value, str):
            parts = [node.func.value, *node.args, *(k.value for k in node.keywords)]
        else:
            continue
        flat: list[ast.AST] = []
        for p in parts:  # an f-string inside a + chain contributes its own parts
            flat.extend(_parts(p) if isinstance(p, ast.JoinedStr) else [p])
        if not _sqlish(flat):
            continue
        known = constants_at(node)
        for p in flat:
            if isinstance(p, ast.Constant) or _constant_only(p, known):
                continue
            holes.append(Hole(path.name, function_of(node), getattr(p, "lineno", node.lineno), ast.unparse(p),
                              " ".join(c.value for c in flat if isinstance(c, ast.Constant) and isinstance(c.value, str))))
    return holes


ALL_HOLES = [h for path in SCANNED for h in scan(path)]


def test_the_scanner_finds_the_known_query_builders() -> None:
    """The detector must see the interpolations it is meant to police (else it proves nothing)."""
    found = {(h.module, h.function, h.expr) for h in ALL_HOLES}
    for key in [("netsuite.py", "lookup_external_ids", "record_type_table"), ("inventory.py", "_select", "safety"),
                ("products.py", "_query", "flag"), ("pricing.py", "execute", "publish_field")]:
        assert key in found


PROBES = [
    ("f-string", 'def f(hook, sku):\n    return hook.suiteql(f"SELECT i.id FROM item i WHERE i.itemid = \'{sku}\'")\n',
     [("f", "sku")]),
    ("concatenation", 'def g(hook, sku):\n    return hook.suiteql("SELECT i.id FROM item i WHERE i.itemid = \'" + sku + "\'")\n',
     [("g", "sku")]),
    ("percent", 'def h(hook, sku):\n    return hook.suiteql("SELECT i.id FROM item i WHERE i.itemid = \'%s\'" % sku)\n',
     [("h", "sku")]),
    ("format", 'def k(hook, sku):\n    return hook.suiteql("SELECT i.id FROM item i WHERE i.itemid = {}".format(sku))\n',
     [("k", "sku")]),
    ("column-fragment", 'def col(name):\n    return f"i.{name} AS x"\n', [("col", "name")]),
    ("filter-fragment", 'def flt(v):\n    return f"i.itemid = {v}"\n', [("flt", "v")]),
    ("local-constant", 'BASE = "SELECT i.id FROM item i "\ndef lc(hook, sku):\n    q = BASE + "WHERE i.id > 0 "\n'
                       '    return hook.suiteql(q + "AND i.itemid = :sku", params={"sku": sku})\n', []),
    ("rebound-name", 'def rb(hook, sku):\n    q = "SELECT i.id FROM item i "\n    q = q + sku\n'
                     '    return hook.suiteql(q + " WHERE i.id > 0")\n', [("rb", "q")]),
    ("params", 'def ok(hook, sku):\n    return hook.suiteql("SELECT i.id FROM item i WHERE i.itemid = :sku", '
               'params={"sku": sku})\n', []),
    ("prose", 'def msg(n):\n    return f"{n} order(s) were written and acknowledged"\n', []),
]


@pytest.mark.parametrize(("source", "expected"), [pytest.param(s, e, id=i) for i, s, e in PROBES])
def test_the_scanner_catches_every_way_of_formatting_a_value_into_a_query(tmp_path: Path, source: str,
                                                                          expected: list[tuple[str, str]]) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(source)
    assert [(h.function, h.expr) for h in scan(probe)] == expected


@pytest.mark.parametrize("path", SCANNED, ids=[p.parent.name + "/" + p.name for p in SCANNED])
def test_no_unvetted_value_is_formatted_into_suiteql(path: Path) -> None:
    unvetted = [f"{h.module}:{h.line} in {h.function}(): {{{h.expr}}} inside {h.text[:90]!r}"
                for h in scan(path) if (h.module, h.function, h.expr) not in VETTED]
    assert unvetted == [], "SuiteQL built with interpolated values; pass them as params={...} instead:\n" + "\n".join(unvetted)


def test_every_vetted_interpolation_still_exists() -> None:
    found = {(h.module, h.function, h.expr) for h in ALL_HOLES}
    stale = sorted(set(VETTED) - found)
    assert stale == [], f"remove stale VETTED entries: {stale}"


def test_only_the_hook_talks_to_the_suiteql_endpoint() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "sandbox" in path.parts or path.name == "netsuite.py" and path.parent.name == "hooks":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in ("_suiteql_pages", "_keyset_rows"):
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno} uses {node.attr}")
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and "/query/v1/suiteql" in node.value:
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno} names the SuiteQL endpoint")
    assert offenders == []
