"""Hostile and silently-wrong configuration files (issue #18 items 4 and 9).

Every case must end in one readable line at ``amznetsuite config validate`` (and the same ConfigError
at DAG parse), never in a hang, a traceback or a config that validates and then misbehaves.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from airflow_provider_amznetsuite.cli import main
from airflow_provider_amznetsuite.config import ConfigError, load_config, parse_config, read_yaml
from airflow_provider_amznetsuite.dag_factory import build_dags_from_config

PACKAGE = Path(__file__).parents[2] / "airflow_provider_amznetsuite"
EXAMPLE = Path(__file__).parents[2] / "dags" / "marketplaces.yaml"

UK = {"marketplace_id": "A1F83G8C2ARO7P", "region": "eu", "country": "UK", "currency": "GBP", "subsidiary": 2}


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "marketplaces.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def _problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(_write(tmp_path, text))
    return info.value.problems


def _uk_yaml(extra: str = "") -> str:
    return ("marketplaces:\n  uk:\n    marketplace_id: A1F83G8C2ARO7P\n    region: eu\n    country: UK\n"
            "    currency: GBP\n    subsidiary: 2\n" + extra)


# --- YAML: aliases and merge keys ------------------------------------------------------------------
def _billion_laughs(levels: int = 9) -> str:
    lines = ['lol0: &lol0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels + 1):
        lines.append(f"lol{i}: &lol{i} [" + ", ".join([f"*lol{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("text, line", [
    (_billion_laughs(), 1),  # 9^10 values if expanded
    (_uk_yaml() + "defaults: &d\n  orders: {pii: false}\n", 0),  # an anchor alone is harmless: no alias, no error
    (_uk_yaml("    channel: &ch {sales_channel: 1}\n    products:\n      product_types: *ch\n"), 8),
    ("defaults: &base\n  orders: {pii: false}\nmarketplaces:\n  uk:\n    <<: *base\n    marketplace_id: x\n", 5),
    ("x: &s scalar\nmarketplaces:\n  uk:\n    country: *s\n", 1),
])
def test_aliases_and_merge_keys_are_refused_with_their_line(tmp_path: Path, text: str, line: int) -> None:
    if line == 0:  # the control: an unused anchor is accepted by the loader
        read_yaml(text)
        return
    (problem,) = _problems(tmp_path, text)
    assert problem.startswith(f"(yaml) line {line}, column ")
    assert ("aliases" in problem or "merge keys" in problem) and "defaults:" in problem


def test_an_alias_bomb_is_refused_before_anything_expands_it(tmp_path: Path) -> None:
    import tracemalloc

    tracemalloc.start()
    try:
        with pytest.raises(ConfigError):
            load_config(_write(tmp_path, _billion_laughs(levels=12)))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000  # bytes: nothing was expanded


@pytest.mark.parametrize("text, key, line, first", [
    ("marketplaces: {}\nstate: {}\nmarketplaces: {}\n", "marketplaces", 3, 1),
    (_uk_yaml("    currency: EUR\n"), "currency", 8, 6),
    (_uk_yaml() + "  uk:\n    subsidiary: 3\n", "uk", 8, 2),
    (_uk_yaml("    settlement:\n      accounts:\n        bank: 1\n        bank: 2\n"), "bank", 11, 10),
    (_uk_yaml("    locations:\n      mfn:\n        - {location_id: 1, location_id: 2}\n"), "location_id", 10, 10),
])
def test_duplicate_keys_name_both_lines(tmp_path: Path, text: str, key: str, line: int, first: int) -> None:
    (problem,) = _problems(tmp_path, text)
    assert problem.startswith(f"(yaml) line {line}, ")
    assert f"duplicate key {key!r} (first at line {first})" in problem


def test_the_example_file_has_no_alias_and_loads_as_with_the_plain_safe_loader() -> None:
    text = EXAMPLE.read_text()
    assert read_yaml(text) == yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


# --- anchored regexes: a trailing newline is not a valid name -----------------------------------------
@pytest.mark.parametrize("code", ["uk\n", "uk ", "UK", "u", "uk-1", "\nuk"])
def test_a_marketplace_code_with_a_trailing_newline_or_other_junk_is_refused(code: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"marketplaces": {code: dict(UK)}})
    assert any("marketplace code" in p and "lower-case" in p for p in info.value.problems), info.value.problems


@pytest.mark.parametrize("where, value", [
    ("channel.custom_fields", {"custbody_amz_x\n": 1}),
    ("products.flag_field", "custitem_publish\n"),
    ("products.variation_attributes", ["size\n"]),
    ("language_tag", "en_GB\n"),
    ("inventory.safety_stock_field", "custitem_x\n"),
])
def test_every_name_pattern_refuses_a_trailing_newline(where: str, value: object) -> None:
    body = dict(UK)
    target = body
    *parents, leaf = where.split(".")
    for part in parents:
        target = target.setdefault(part, {})  # type: ignore[assignment]
    target[leaf] = value
    with pytest.raises(ConfigError) as info:
        parse_config({"marketplaces": {"uk": body}})
    assert any(p.startswith(f"marketplaces.uk.{where.split('.')[0]}") for p in info.value.problems), info.value.problems


def test_no_anchored_pattern_in_the_package_ends_with_a_dollar() -> None:
    """Python's '$' also matches before a final newline: every '^…' pattern must end with '\\Z' or be
    used with fullmatch (the settlement parser's patterns are unanchored and fullmatch'ed)."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if "sandbox" in path.parts:
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r're\.(compile|match|search)\(r?"\^[^"]*\$"', line):
                offenders.append(f"{path.relative_to(PACKAGE)}:{n}")
    assert offenders == []


# --- silently-wrong values (item 9) ------------------------------------------------------------------
@pytest.mark.parametrize("patch, path, words", [
    ({"locations": {"mfn": [{"location_id": 1, "cap": -10}]}}, "marketplaces.uk.locations.mfn.0.cap", "greater than or equal to 0"),
    ({"inventory": {"cap": -1}}, "marketplaces.uk.inventory.cap", "greater than or equal to 0"),
    ({"inventory": {"sku_overrides": {"SKU-1": -5}}}, "marketplaces.uk.inventory.sku_overrides.SKU-1", "greater than or equal to 0"),
    ({"pricing": {"max_change_pct": -30}}, "marketplaces.uk.pricing.max_change_pct", "above 0"),
    ({"pricing": {"max_change_pct": 0}}, "marketplaces.uk.pricing.max_change_pct", "above 0"),
    ({"locations": {"mfn": [{"location_id": 1}], "fba": 1}}, "marketplaces.uk.locations", "also an MFN location"),
    ({"locations": {"mfn": [{"location_id": 1}, {"location_id": "1"}]}}, "marketplaces.uk.locations", "listed twice"),
    ({"customer": {"strategy": "buyer"}}, "marketplaces.uk.customer", "set orders.pii: true"),
    ({"customer": {"strategy": "buyer"}, "orders": {"pii": False}}, "marketplaces.uk.customer", "set orders.pii: true"),
])
def test_silently_wrong_values_are_refused_in_one_line(patch: dict, path: str, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"marketplaces": {"uk": {**UK, **patch}}})
    (problem,) = info.value.problems
    assert problem.startswith(path + ":") and words in problem and "\n" not in problem


def test_the_same_values_pass_when_they_make_sense() -> None:
    app = parse_config({"marketplaces": {"uk": {
        **UK, "locations": {"mfn": [{"location_id": 1, "cap": 0}, {"location_id": 3}], "fba": 2},
        "pricing": {"max_change_pct": "12.5"}, "customer": {"strategy": "buyer"}, "orders": {"pii": True},
        "inventory": {"sku_overrides": {"SKU-1": 0}}}}})
    assert app.marketplaces["uk"].locations.fba == "2"


def test_a_problem_inherited_from_defaults_names_defaults() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"defaults": {"customer": {"strategy": "buyer"}}, "marketplaces": {"uk": dict(UK)}})
    assert info.value.problems[0].startswith(("defaults.customer", "marketplaces.uk.customer"))


# --- the user-facing ends: the CLI and the DAG file ---------------------------------------------------
@pytest.mark.parametrize("text", [_billion_laughs(), _uk_yaml("    currency: EUR\n"),
                                  _uk_yaml("    pricing: {max_change_pct: -30}\n")])
def test_config_validate_prints_one_line_per_problem_and_exits_1(tmp_path: Path, text: str,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, text)
    assert main(["config", "validate", str(path)]) == 1
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert lines[0] == f"{path}: 1 problem(s)" and len(lines) == 2
    assert "Traceback" not in err and out == ""


def test_the_dag_file_fails_with_the_same_problem_instead_of_hanging(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="aliases"):
        build_dags_from_config(str(_write(tmp_path, _billion_laughs())))
