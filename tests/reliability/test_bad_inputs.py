"""Bad-input catalogue: every hostile or malformed input gives its exact, clear message and is
quarantined or refused — while everything else in the same batch proceeds.

Sections (each case is one parametrised test id):

* settlement rows (V2 flat file): wrong column count, bad amounts and dates, HTML/JS, CSV formula
  injection, control characters, oversized fields, non-UTF-8 bytes, BOM, CRLF mixes, wrong currency,
  unknown fee types (→ unmapped, not dropped), unbalanced files (flagged, not posted);
* marketplace config values (``parse_config``) and DAG Params (the DAG's own Param schema);
* SuiteQL literals (``suiteql_literal`` / ``render_suiteql``) and the same hostile values executed on
  the NetSuite sandbox, plus the operators' real lookup paths (orders SKU → item, inventory and pricing
  ``skus`` Params);
* orders from the SP-API sandbox with unknown / hostile SKUs, negative quantities, wrong currency;
* NetSuite inventory rows with unusable quantities; NetSuite item copy that is not valid UTF-8 or too long.

Known product bugs are marked ``xfail(strict=True)`` with the bug in the reason (see docs/reliability.md).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from airflow_provider_amznetsuite.config import ConfigError, load_config, parse_config
from airflow_provider_amznetsuite.hooks.netsuite import NetSuiteHook, render_suiteql, suiteql_literal
from airflow_provider_amznetsuite.hooks.netsuite_errors import SuiteQLParameterError
from airflow_provider_amznetsuite.operators.base import SyncWindowError, resolve_window
from airflow_provider_amznetsuite.state import SyncStateStore
from tests.reliability.harness import CONFIG, ROOT, World, day_window, iso, world

BASE_CONFIG: dict[str, Any] = yaml.safe_load(CONFIG.read_text())


# ================================================================================================
# 1. marketplace configuration (parse_config)
# ================================================================================================
def _cfg(*edits: tuple[str, Any]) -> dict[str, Any]:
    """The example config with ``("a.b.c", value)`` edits applied (``None`` value = delete the key)."""
    doc = copy.deepcopy(BASE_CONFIG)
    for path, value in edits:
        cur = doc
        parts = path.split(".")
        for p in parts[:-1]:
            cur = cur.setdefault(p, {})
        if value is None:
            cur.pop(parts[-1], None)
        else:
            cur[parts[-1]] = value
    return doc


CONFIG_CASES: list[tuple[str, Any, list[str]]] = [
    ("currency", _cfg(("marketplaces.uk.currency", "GBPX")),
     ["marketplaces.uk.currency: 'GBPX' is not an ISO-4217 currency code"]),
    ("marketplace-id-of-another-country", _cfg(("marketplaces.uk.marketplace_id", "A1PA6795UKMFR9")),
     ["marketplaces.uk.marketplace_id: 'A1PA6795UKMFR9' is Amazon DE, but country is 'UK'; use 'A1F83G8C2ARO7P' "
      "or fix country"]),
    ("marketplace-id-unknown", _cfg(("marketplaces.uk.marketplace_id", "XXXX")),
     ["marketplaces.uk.marketplace_id: 'XXXX' is not an Amazon marketplace id (Amazon UK is A1F83G8C2ARO7P)"]),
    ("region", _cfg(("marketplaces.uk.region", "na")),
     ["marketplaces.uk.region: Amazon UK is served by region 'eu', not 'na'"]),
    ("timezone", _cfg(("marketplaces.uk.timezone", "Europe/Londn")),
     ["marketplaces.uk.timezone: 'Europe/Londn' is not an IANA time zone (e.g. 'Europe/London')"]),
    ("language-tag", _cfg(("marketplaces.uk.language_tag", "english")),
     ["marketplaces.uk.language_tag: 'english' is not an Amazon language tag (e.g. 'en_GB', 'de_DE')"]),
    ("subsidiary-not-an-id", _cfg(("marketplaces.uk.subsidiary", "UK Ltd")),
     ["marketplaces.uk.subsidiary: 'UK Ltd' is not a NetSuite internal id (digits only, e.g. '12') for the subsidiary"]),
    ("typo-key", _cfg(("marketplaces.uk.curency", "GBP")),
     ["marketplaces.uk.curency: unknown key (did you mean 'currency'?)"]),
    ("cron", _cfg(("marketplaces.uk.schedules", {"orders": "every 5 minutes"})),
     ["marketplaces.uk.schedules.orders: 'every 5 minutes' is not a valid cron expression (e.g. '*/30 * * * *')"]),
    ("vat-rate-as-percent", _cfg(("marketplaces.uk.pricing", {"vat_inclusive": True, "vat_rate": "20"})),
     ["marketplaces.uk.pricing.vat_rate: vat_rate 20 must be a fraction between 0 and 1 (e.g. 0.20 for 20 %)"]),
    ("allocation-share", _cfg(("marketplaces.uk.inventory", {"allocation_share": "1.5"})),
     ["marketplaces.uk.inventory.allocation_share: allocation_share 1.5 must be between 0 and 1"]),
    ("custom-field-name", _cfg(("defaults.channel.custom_fields", {"amz_channel": "x"})),
     ["defaults.channel.custom_fields: custom field 'amz_channel' is not a NetSuite custom field script id "
      "(expected custbody_..., custcol_..., custentity_..., custitem_... or custrecord_...)"]),
    ("gl-map-key", _cfg(("marketplaces.uk.settlement", {"gl_map": {"Order/ItemFees": "600"}})),
     ["marketplaces.uk.settlement.gl_map: gl_map key 'Order/ItemFees' must be "
      "'transaction-type/amount-type/amount-description' (use '*' as transaction-type to match any)"]),
    ("overlap-too-long", _cfg(("marketplaces.uk.orders", {"overlap_minutes": 1000})),
     ["marketplaces.uk.orders.overlap_minutes: input should be less than or equal to 240 (got 1000)"]),
    ("fba-document", _cfg(("marketplaces.uk.orders", {"fba_document": "invoice"})),
     ["marketplaces.uk.orders.fba_document: 'invoice' is not allowed; expected 'cashSale' or 'salesOrder'"]),
    ("same-marketplace-twice", _cfg(("marketplaces.gb", copy.deepcopy(BASE_CONFIG["marketplaces"]["uk"]))),
     ["marketplaces.gb.marketplace_id: A1F83G8C2ARO7P is already configured as 'uk' for the same seller connection"]),
    ("top-level-typo", _cfg(("marketplace", {})),
     ["marketplace: unknown top-level key (did you mean 'marketplaces'?)"]),
    ("inherited-negative-safety-stock", _cfg(("defaults.inventory", {"safety_stock": -2})),
     ["defaults.inventory.safety_stock: input should be greater than or equal to 0 (got -2)"]),
    ("negative-safety-stock", _cfg(("marketplaces.uk.inventory", {"safety_stock": -1})),
     ["marketplaces.uk.inventory.safety_stock: input should be greater than or equal to 0 (got -1)"]),
    ("location-name-not-id", _cfg(("marketplaces.uk.locations", {"mfn": [{"location_id": "Main WH"}]})),
     ["marketplaces.uk.locations.mfn.0.location_id: 'Main WH' is not a NetSuite internal id (digits only, e.g. '12') "
      "for the location"]),
    ("upper-case-code", _cfg(("marketplaces.UK", copy.deepcopy(BASE_CONFIG["marketplaces"]["uk"])),
                             ("marketplaces.uk", None)),
     ["marketplaces.UK.code: marketplace code 'UK' must be lower-case letters/digits, e.g. 'uk'"]),
    ("no-marketplaces", {"marketplaces": {}},
     ["marketplaces: is required and must map codes (e.g. 'uk') to settings"]),
    ("not-a-mapping", ["marketplaces"],
     ["(top level): expected a mapping with 'marketplaces' (and optional 'defaults', 'state')"]),
    ("item-name-not-id", _cfg(("defaults.orders.shipping_item", "Shipping")),
     ["defaults.orders.shipping_item: 'Shipping' is not a NetSuite internal id (digits only, e.g. '12') for the "
      "shipping_item"]),
    ("pii-flag-not-boolean", _cfg(("marketplaces.uk.orders", {"pii": "maybe"})),
     ["marketplaces.uk.orders.pii: input should be a valid boolean, unable to interpret input (got 'maybe')"]),
]


@pytest.mark.parametrize(("doc", "problems"), [pytest.param(d, p, id=i) for i, d, p in CONFIG_CASES])
def test_config_value_is_refused_with_its_path_and_fix(doc: Any, problems: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(doc, source="marketplaces.yaml")
    assert info.value.problems == problems
    assert str(info.value).startswith(f"marketplaces.yaml: {len(problems)} configuration problem(s):\n")


def test_config_problems_are_all_reported_at_once_and_the_good_marketplaces_still_parse() -> None:
    doc = _cfg(("marketplaces.uk.currency", "GBPX"), ("marketplaces.de.timezone", "Berlin"))
    with pytest.raises(ConfigError) as info:
        parse_config(doc)
    assert info.value.problems == [
        "marketplaces.uk.currency: 'GBPX' is not an ISO-4217 currency code",
        "marketplaces.de.timezone: 'Berlin' is not an IANA time zone (e.g. 'Europe/London')",
    ]
    app = parse_config(_cfg(("marketplaces.uk.currency", "GBP")))  # the fixed file loads completely
    assert sorted(app.marketplaces) == ["de", "uk", "us"]




@pytest.mark.parametrize("setting", [
    pytest.param("marketplaces.uk.products.flag_field", id="products.flag_field"),
    pytest.param("marketplaces.uk.products.brand_field", id="products.brand_field"),
    pytest.param("marketplaces.uk.products.category_field", id="products.category_field"),
    pytest.param("marketplaces.uk.inventory.safety_stock_field", id="inventory.safety_stock_field"),
    pytest.param("marketplaces.uk.pricing.min_price_field", id="pricing.min_price_field"),
])
def test_config_refuses_a_suiteql_injection_in_a_field_id(setting: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(_cfg((setting, "x' OR '1'='1")))
    assert info.value.problems == [f"{setting}: \"x' OR '1'='1\" is not a NetSuite field id (lower-case letters, "
                                   "digits, '_')"]


def test_operators_refuse_a_suiteql_injection_in_a_field_id_before_any_query(monkeypatch: pytest.MonkeyPatch) -> None:
    """Defence in depth: a field id that reached the operators unvalidated never reaches SuiteQL."""
    from airflow.sdk.exceptions import AirflowFailException

    from airflow_provider_amznetsuite.operators.inventory import InventorySyncError, ReadNetSuiteStockOperator
    from airflow_provider_amznetsuite.operators.pricing import PricingSetupError, expand_field
    from airflow_provider_amznetsuite.operators.products import item_columns

    hostile = "x' OR '1'='1"
    mp = load_config(CONFIG).marketplaces["uk"]
    unchecked = mp.model_copy(update={  # model_copy does not validate: as if the config check were bypassed
        "products": mp.products.model_copy(update={"flag_field": hostile}),
        "inventory": mp.inventory.model_copy(update={"safety_stock_field": hostile})})
    with pytest.raises(AirflowFailException) as products:
        item_columns(unchecked)
    assert str(products.value) == ("products.flag_field \"x' OR '1'='1\" is not a NetSuite field id (letters, digits "
                                   "and _, e.g. custitem_amz_publish)")
    with pytest.raises(PricingSetupError) as pricing:
        expand_field(hostile, "GBP", "marketplaces.uk.pricing.min_price_field")
    assert str(pricing.value).startswith("marketplaces.uk.pricing.min_price_field: \"x' OR '1'='1\" is not a NetSuite "
                                         "field id")
    op = ReadNetSuiteStockOperator(task_id="read", marketplace="uk")
    monkeypatch.setattr(type(op), "mp", property(lambda self: unchecked))
    with pytest.raises(InventorySyncError) as inventory:
        op._select()
    assert str(inventory.value) == ("marketplaces.uk.inventory.safety_stock_field \"x' OR '1'='1\" is not a NetSuite "
                                    "field id (lower-case letters, digits and '_', e.g. 'custitem_amz_safety_stock')")


def test_config_file_that_is_not_utf8_or_not_yaml_names_the_position(tmp_path: Path) -> None:
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes("marketplaces:\n  uk: {country: \"Gro\xdfbritannien\"}\n".encode("latin-1"))
    with pytest.raises(ConfigError) as info:
        load_config(bad)
    assert info.value.problems == [f"{bad}: not UTF-8 text (invalid continuation byte at byte 34)"]
    broken = tmp_path / "broken.yaml"
    broken.write_text("marketplaces:\n  uk: [unclosed\n")
    with pytest.raises(ConfigError) as info2:
        load_config(broken)
    (problem,) = info2.value.problems
    assert problem.startswith("(yaml) line 3, column 1: ") and "expected ',' or ']'" in problem


# ================================================================================================
# 2. DAG Params (the DAG's own Param schema, as the trigger form / REST API validates them)
# ================================================================================================
WINDOW_RE = r"'^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}(:\\d{2}(\\.\\d+)?)?(Z|[+-]\\d{2}:\\d{2})$'"
PARAM_CASES: list[tuple[str, str, dict[str, Any], str]] = [
    ("window-start-words", "amazon_uk_orders", {"window_start": "yesterday", "window_end": "2026-11-26T00:00:00Z"},
     f"Invalid input for param window_start: 'yesterday' does not match {WINDOW_RE}"),
    ("window-start-without-zone", "amazon_uk_orders", {"window_start": "2026-11-25T00:00:00"},
     f"Invalid input for param window_start: '2026-11-25T00:00:00' does not match {WINDOW_RE}"),
    ("order-id-format", "amazon_uk_orders", {"order_ids": ["abc"]},
     r"Invalid input for param order_ids: 'abc' does not match '^[0-9]{3}-[0-9]{7}-[0-9]{7}$'"),
    ("order-id-injection", "amazon_uk_orders", {"order_ids": ["202-1234567-1234567' OR '1'='1"]},
     "Invalid input for param order_ids: \"202-1234567-1234567' OR '1'='1\" does not match "
     r"'^[0-9]{3}-[0-9]{7}-[0-9]{7}$'"),
    ("order-ids-not-a-list", "amazon_uk_orders", {"order_ids": "202-1234567-1234567"},
     "Invalid input for param order_ids: '202-1234567-1234567' is not of type 'array'"),
    ("order-ids-duplicated", "amazon_uk_orders", {"order_ids": ["202-1234567-1234567", "202-1234567-1234567"]},
     "Invalid input for param order_ids: ['202-1234567-1234567', '202-1234567-1234567'] has non-unique elements"),
    ("allow-quarantine-not-boolean", "amazon_uk_orders", {"allow_quarantine": 1},
     "Invalid input for param allow_quarantine: 1 is not of type 'boolean'"),
    ("dry-run-string", "amazon_de_orders", {"dry_run": "yes"},
     "Invalid input for param dry_run: 'yes' is not of type 'boolean'"),
    ("inventory-sku-too-long", "amazon_uk_inventory", {"skus": ["x" * 41]},
     f"Invalid input for param skus: '{'x' * 41}' is too long"),
    ("inventory-sku-empty", "amazon_uk_inventory", {"skus": [""]},
     "Invalid input for param skus: '' should be non-empty"),
    ("inventory-full-push-string", "amazon_us_inventory", {"full_push": "true"},
     "Invalid input for param full_push: 'true' is not of type 'boolean'"),
    ("pricing-approve-empty", "amazon_uk_pricing", {"approve": [""]},
     "Invalid input for param approve: '' should be non-empty"),
    ("products-delete-sku-number", "amazon_uk_products", {"delete_skus": [123]},
     "Invalid input for param delete_skus: 123 is not of type 'string'"),
    ("products-preview-string", "amazon_uk_products", {"validation_preview": "no"},
     "Invalid input for param validation_preview: 'no' is not of type 'boolean'"),
]


@pytest.fixture(scope="module")
def dags() -> dict[str, Any]:
    from airflow_provider_amznetsuite.dag_factory import build_dags

    return build_dags(load_config(CONFIG))


@pytest.mark.parametrize(("dag_id", "conf", "message"), [pytest.param(d, c, m, id=i) for i, d, c, m in PARAM_CASES])
def test_invalid_param_is_refused_by_the_dag_schema(dags: dict[str, Any], dag_id: str, conf: dict[str, Any],
                                                    message: str) -> None:
    from airflow.sdk.exceptions import ParamValidationError

    params = copy.deepcopy(dags[dag_id].params)
    with pytest.raises(ParamValidationError) as info:
        for key, value in conf.items():
            params[key] = value
        params.validate()
    assert str(info.value).splitlines()[0] == message
    fine = copy.deepcopy(dags[dag_id].params)  # the defaults of the same DAG validate
    assert fine.validate()


def test_pricing_skus_param_over_the_limit_is_refused(dags: dict[str, Any]) -> None:
    from airflow.sdk.exceptions import ParamValidationError

    params = copy.deepcopy(dags["amazon_uk_pricing"].params)
    with pytest.raises(ParamValidationError) as info:
        params["skus"] = [f"S{i}" for i in range(1001)]
        params.validate()
    first = str(info.value).splitlines()[0]
    assert first.startswith("Invalid input for param skus: ['S0', 'S1',") and first.endswith("is too long")


@pytest.mark.parametrize(("params", "message"), [
    pytest.param({"window_start": "2026-11-25T00:00:00Z"},
                 "Params window_start and window_end must be given together", id="window-half"),
    pytest.param({"window_start": "2026-11-26T00:00:00Z", "window_end": "2026-11-25T00:00:00Z"},
                 "window end 2026-11-25T00:00:00+00:00 must be after start 2026-11-26T00:00:00+00:00",
                 id="window-reversed"),
    pytest.param({"window_start": "2026-02-30T00:00:00Z", "window_end": "2026-03-01T00:00:00Z"},
                 "Param window_start: '2026-02-30T00:00:00Z' is not an ISO-8601 instant (e.g. 2026-11-26T00:00:00Z)",
                 id="window-impossible-date"),
])
def test_window_params_that_pass_the_schema_are_refused_at_run_time(params: dict[str, str], message: str) -> None:
    with pytest.raises(SyncWindowError) as info:
        resolve_window({}, params)
    assert str(info.value) == message


# ================================================================================================
# 3. SuiteQL literals (no network)
# ================================================================================================
HOSTILE_STRINGS: list[tuple[str, str, str]] = [
    ("quote-or-true", "x' OR '1'='1", "'x'' OR ''1''=''1'"),
    ("comment", "SKU-00001' --", "'SKU-00001'' --'"),
    ("statement-break", "'; DELETE FROM item; --", "'" + "''" + "; DELETE FROM item; --'"),
    ("block-comment", "SKU-00001'/*", "'SKU-00001''/*'"),
    ("placeholder-in-value", ":skus", "':skus'"),
    ("union", "x' UNION SELECT id, itemid FROM item --", "'x'' UNION SELECT id, itemid FROM item --'"),
    ("like-wildcards", "SKU-%", "'SKU-%'"),
    ("unicode-quote", "SKU\u2019 OR 1=1", "'SKU\u2019 OR 1=1'"),
]
REFUSED_VALUES: list[tuple[str, Any, str]] = [
    ("nul", "SKU-00001\x00", "string parameter contains a control character (NUL, newline, tab, …); such values are refused"),
    ("newline", "SKU-00001\nOR 1=1", "string parameter contains a control character (NUL, newline, tab, …); such values "
                                    "are refused"),
    ("float", 1.5, "float parameters are refused (binary rounding): pass int, Decimal or str"),
    ("empty-list", [], "an empty list cannot be rendered for IN (...); skip the query instead"),
    ("nested-list", [["a"]], "nested lists are not valid SuiteQL parameters"),
    ("nan", Decimal("NaN"), "non-finite number Decimal('NaN') cannot be a SuiteQL parameter"),
]


@pytest.mark.parametrize(("value", "literal"), [pytest.param(v, lit, id=i) for i, v, lit in HOSTILE_STRINGS])
def test_hostile_string_becomes_one_quoted_literal(value: str, literal: str) -> None:
    assert suiteql_literal(value) == literal
    query = render_suiteql("SELECT i.id FROM item i WHERE i.itemid = :sku AND i.isinactive = 'F'", {"sku": value})
    assert query == f"SELECT i.id FROM item i WHERE i.itemid = {literal} AND i.isinactive = 'F'"


@pytest.mark.parametrize(("value", "message"), [pytest.param(v, m, id=i) for i, v, m in REFUSED_VALUES])
def test_unrenderable_value_is_refused(value: Any, message: str) -> None:
    with pytest.raises(SuiteQLParameterError) as info:
        render_suiteql("SELECT i.id FROM item i WHERE i.itemid IN (:sku)", {"sku": value})
    assert str(info.value) == message


def test_placeholders_inside_literals_and_comments_are_not_filled() -> None:
    q = "SELECT ':a' AS t, i.id FROM item i -- :a\nWHERE i.itemid = :a /* :a */"
    assert render_suiteql(q, {"a": "x'y"}) == "SELECT ':a' AS t, i.id FROM item i -- :a\nWHERE i.itemid = 'x''y' /* :a */"
    with pytest.raises(SuiteQLParameterError, match=r"^SuiteQL parameters not used by the query: b$"):
        render_suiteql(q, {"a": "x", "b": "y"})
    with pytest.raises(SuiteQLParameterError, match=r"^SuiteQL placeholders without a value: :a$"):
        render_suiteql(q, {})


# ================================================================================================
# 4. NetSuite inventory rows with unusable values (real operator, NetSuite answers faked)
# ================================================================================================
class _FakeNetSuite:
    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows
        self.queries: list[str] = []

    def suiteql_keyset(self, select_sql: str, **kw: Any) -> Iterator[dict[str, Any]]:
        self.queries.append(render_suiteql(select_sql + f" WHERE ({kw['where']})", kw.get("params")))
        return iter([r for r in self.rows if str(r["location"]) == str(kw["params"]["loc"])])

    def suiteql(self, query: str, params: dict[str, Any] | None = None, **_: Any) -> Iterator[dict[str, Any]]:
        self.queries.append(render_suiteql(query, params))
        return iter([])


class _FakeSpApi:
    seller_id = "A1SANDBOXSELLER"

    def get_inventory_summaries(self, marketplace_id: str, seller_skus: Any = None) -> Iterator[dict[str, Any]]:
        return iter([])


def _stock(item_id: int, sku: str, **values: Any) -> dict[str, Any]:
    row = {"item": item_id, "location": 1, "itemid": sku, "quantityonhand": "10", "quantitycommitted": "0",
           "quantityavailable": "10", "quantityintransit": "0", "quantitybackordered": "0", "isinactive": "F",
           "safety_stock": None}
    row.update(values)
    return row


INVENTORY_CASES: list[Any] = [
    # (bad values, quarantine reason (None = accepted), sellable quantity sent when accepted)
    pytest.param({"quantityonhand": "ten"},
                 "NetSuite availability of item 2 at location 1 is not usable — on_hand: 'ten' is not a number; fix the "
                 "item or its inventory record", None, id="on-hand-text"),
    pytest.param({"quantityavailable": "NaN"},
                 "NetSuite availability of item 2 at location 1 is not usable — available: 'NaN' is not a finite number; "
                 "fix the item or its inventory record", None, id="available-nan"),
    pytest.param({"quantitycommitted": True},
                 "NetSuite availability of item 2 at location 1 is not usable — committed: expected a number, got a "
                 "boolean; fix the item or its inventory record", None, id="committed-boolean"),
    pytest.param({"safety_stock": "-3"},
                 "NetSuite availability of item 2 at location 1 is not usable — safety_stock -3 is negative; fix the "
                 "item's safety-stock field; fix the item or its inventory record", None, id="negative-safety-stock"),
    pytest.param({"item": None},
                 "NetSuite availability of item None at location 1 is not usable — item_id: String should have at "
                 "least 1 character; fix the item or its inventory record", None, id="missing-item-id"),
    # overcommitted stock is legitimate in NetSuite: it counts as nothing, it never reduces other locations
    pytest.param({"quantityonhand": "-4", "quantityavailable": "-4"}, None, 0, id="negative-available"),
    pytest.param({"quantityavailable": "7.9"}, None, 5, id="fractional-available"),  # floor 7, minus safety stock 2
]


def _inventory_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                   bad: dict[str, Any]) -> tuple[dict[str, str], dict[str, Any], dict[str, Any]]:
    """read_netsuite_stock + plan_inventory_push of UK over three items, one of them with ``bad`` values."""
    from airflow_provider_amznetsuite.operators.inventory import PlanInventoryPushOperator, ReadNetSuiteStockOperator

    tmp_path.mkdir(parents=True, exist_ok=True)
    state = SyncStateStore(f"sqlite:///{tmp_path / 'state.db'}")
    netsuite = _FakeNetSuite([_stock(1, "SKU-GOOD-1"), _stock(2, "SKU-BAD", **bad), _stock(3, "SKU-GOOD-2")])
    xcom: dict[str, Any] = {}
    ti = type("TI", (), {"xcom_pull": lambda self, task_ids=None, **_: xcom.get(task_ids)})()
    ctx = {"params": {}, "ti": ti, "run_id": "bad-rows", "dag_run": type("R", (), {"run_id": "bad-rows"})()}
    read = ReadNetSuiteStockOperator(task_id="read_netsuite_stock", marketplace="uk", config_path=str(CONFIG))
    plan = PlanInventoryPushOperator(task_id="plan_inventory_push", marketplace="uk", read_task_id="read_netsuite_stock",
                                     config_path=str(CONFIG))
    for op in (read, plan):
        monkeypatch.setattr(op, "state", state, raising=False)
        monkeypatch.setattr(op, "netsuite_hook", lambda: netsuite, raising=False)
        monkeypatch.setattr(op, "spapi_hook", lambda: _FakeSpApi(), raising=False)
    xcom["read_netsuite_stock"] = read.execute(ctx)
    result = plan.execute(ctx)
    quarantined = {q.key: q.reason for q in state.open_quarantine("inventory", "uk")}
    return quarantined, state.get_batch(result["ref"])["values"], xcom["read_netsuite_stock"]


@pytest.mark.parametrize(("bad", "reason", "sent"), INVENTORY_CASES)
def test_unusable_inventory_row_quarantines_its_sku_and_the_rest_is_planned(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bad: dict[str, Any], reason: str | None, sent: int | None) -> None:
    quarantined, values, read = _inventory_run(tmp_path, monkeypatch, bad)
    assert {k: v for k, v in values.items() if k.startswith("SKU-GOOD")} == {"SKU-GOOD-1": 8, "SKU-GOOD-2": 8}
    if reason is None:
        assert quarantined == {} and values["SKU-BAD"] == sent
    else:
        assert quarantined == {"SKU-BAD": reason}
        assert "SKU-BAD" not in values  # never a partial quantity for a SKU with an unusable row
        assert read["counts"]["invalid_skus"] == 1


@pytest.mark.parametrize("bad", [{"quantityonhand": "ten"}, {"quantityavailable": "NaN"}, {"quantitycommitted": True},
                                 {"safety_stock": "-3"}], ids=["on-hand", "available", "committed", "safety-stock"])
def test_unusable_inventory_value_quarantines_its_sku_naming_the_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                      bad: dict[str, Any]) -> None:
    """What holds already for the xfailed cases above: quarantined, the field named, no partial quantity."""
    quarantined, values, _ = _inventory_run(tmp_path, monkeypatch, bad)
    assert list(quarantined) == ["SKU-BAD"] and "SKU-BAD" not in values and len(values) == 2
    reason = quarantined["SKU-BAD"]
    assert reason.startswith("NetSuite availability of item 2 at location 1 is not usable — ")
    assert reason.endswith("; fix the item or its inventory record")
    field = {"quantityonhand": "on_hand", "quantityavailable": "available", "quantitycommitted": "committed",
             "safety_stock": "safety_stock"}[next(iter(bad))]
    assert f"{field}: " in reason or f"{field} " in reason


# ================================================================================================
# 5. NetSuite item copy: not valid UTF-8, oversized (products domain: map → validate → plan)
# ================================================================================================
FIXTURES = ROOT / "tests" / "fixtures" / "product_types"
NOW = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)


def _schemas() -> dict[str, Any]:
    from airflow_provider_amznetsuite.domain.product_types import ProductTypeSchema

    out = {}
    for name in ("KITCHEN",):
        definition = json.loads((FIXTURES / f"{name}.definition.json").read_text(encoding="utf-8"))
        definition["marketplaceIds"] = ["A1F83G8C2ARO7P"]
        document = json.loads((FIXTURES / f"{name}.schema.json").read_text(encoding="utf-8"))
        out[name] = ProductTypeSchema.from_definition(definition, document)
    return out


def _ean13(n: int) -> str:
    body = f"500{n:09d}"
    odd, even = sum(int(d) for d in body[0::2]), sum(int(d) for d in body[1::2])
    return body + str((10 - (odd + 3 * even) % 10) % 10)


def _item(n: int, **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": str(1000 + n), "itemid": f"SKU-{n:05d}", "itemtype": "InvtPart", "matrixtype": None,
        "displayname": f"Sandbox Product {n}", "salesdescription": f"Sandbox product number {n}.",
        "category": "Kitchen", "custitem_amz_brand": "Sandbox Brand", "upccode": _ean13(n), "weight": "0.450",
        "weightunit": "3", "isinactive": "F", "custitem_amz_publish": "T",
        "custitem_amz_image_main": f"https://img.example/{n}.jpg", "custitem_amz_image_main_width": "1000",
        "custitem_amz_image_main_height": "1000",
    }
    row.update(overrides)
    return row


def _plan(rows: list[dict[str, Any]]) -> Any:
    from airflow_provider_amznetsuite.domain.listings import parse_item_rows, plan_changes, prepare_drafts

    mp = load_config(CONFIG).marketplaces["uk"]
    schemas = _schemas()
    items, problems = parse_item_rows(rows, mp.products)
    assert problems == []
    drafts = prepare_drafts(items, mp, lambda req: schemas.get(req.product_type))
    return plan_changes(drafts, {}, now=NOW)


COPY_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("title-too-long", {"custitem_amz_title_en_gb": "T" * 300},
     "SKU-00001: /attributes/item_name/0/value [maxLength] item_name (0/value): 300 characters, maximum 200 — fix "
     "custitem_amz_title_en_gb / custitem_amz_title_en"),
    ("weight-text", {"weight": "heavy"},
     "SKU-00001: /attributes/item_package_weight [netsuiteValue] weight: 'heavy' is not a number (item SKU-00001)"),
]


@pytest.mark.parametrize(("bad", "reason"), [pytest.param(b, r, id=i) for i, b, r in COPY_CASES])
def test_bad_item_copy_makes_that_listing_invalid_and_the_rest_is_planned(bad: dict[str, Any], reason: str) -> None:
    plan = _plan([_item(1, **bad), _item(2)])
    assert [i.summary().split(" (+")[0] for i in plan.invalid] == [reason]
    assert [p.sku for p in plan.new] == ["SKU-00002"]


def test_item_copy_that_is_not_valid_utf8_makes_only_that_listing_invalid() -> None:
    plan = _plan([_item(1, custitem_amz_title_en_gb="Caf\udce9 pan"), _item(2)])
    assert [p.sku for p in plan.new] == ["SKU-00002"]
    assert [i.sku for i in plan.invalid] == ["SKU-00001"]
    assert "custitem_amz_title_en_gb" in plan.invalid[0].summary()


@dataclass(frozen=True)
class _Sent:
    query: str
    rows: list[dict[str, Any]]


# ================================================================================================
# 6. through the sandboxes: orders with hostile data, SuiteQL injection on real lookup paths
# ================================================================================================
ORDER_SKUS: dict[str, str] = {
    "unknown-sku": "SKU-DOES-NOT-EXIST",
    "sku-quote-or-true": "x' OR '1'='1",
    "sku-comment": "SKU-00001' --",
    "sku-statement-break": "'; DROP TABLE item; --",
    "sku-html": "<script>alert(1)</script>",
    "sku-wildcard": "SKU-%",
}


def _unknown(oid: str, sku: str) -> str:
    return f"order {oid}: SKU '{sku}' has no NetSuite item (create the item or map the SKU) — order quarantined"


@dataclass
class OrdersWorld:
    w: World
    oids: dict[str, str]
    result: Any
    quarantine: dict[str, str]
    sent: list[_Sent]
    docs: set[str]
    good: list[str]


@pytest.fixture(scope="module")
def orders_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrdersWorld]:
    from airflow_provider_amznetsuite.hooks.spapi import SpApiHook

    sent: list[_Sent] = []
    original_pages = NetSuiteHook._suiteql_pages
    original_search = SpApiHook.search_orders
    usd_orders: set[str] = set()
    mixed_orders: set[str] = set()

    def spy_pages(self: NetSuiteHook, q: str, *a: Any, **k: Any) -> Iterator[dict[str, Any]]:
        rows = list(original_pages(self, q, *a, **k))
        sent.append(_Sent(q, rows))
        return iter(rows)

    def hostile_search(self: SpApiHook, *a: Any, **k: Any) -> Iterator[dict[str, Any]]:
        for order in original_search(self, *a, **k):
            if order.get("orderId") in usd_orders:  # Amazon data we cannot make the sandbox produce
                order = json.loads(json.dumps(order).replace('"GBP"', '"USD"'))
            elif order.get("orderId") in mixed_orders:
                item = order["orderItems"][0]
                item["proceeds"] = json.loads(json.dumps(item["proceeds"]).replace('"GBP"', '"USD"'))
            yield order

    with pytest.MonkeyPatch.context() as mp, world(tmp_path_factory.mktemp("orders-bad"), orders_per_day=8) as w:
        mp.setattr(NetSuiteHook, "_suiteql_pages", spy_pages)
        mp.setattr(SpApiHook, "search_orders", hostile_search)
        oids = {name: w.sbx.spapi.add_order("uk", [(sku, 1)]) for name, sku in ORDER_SKUS.items()}
        oids["negative-quantity"] = w.sbx.spapi.add_order("uk", [("SKU-00001", -2)])
        oids["oversized-sku"] = w.sbx.spapi.add_order("uk", [("S" * 3000, 1)])
        oids["wrong-currency"] = w.sbx.spapi.add_order("uk", [("SKU-00004", 1)])
        usd_orders.add(oids["wrong-currency"])
        oids["mixed-currency"] = w.sbx.spapi.add_order("uk", [("SKU-00004", 1), ("SKU-00007", 1)])
        mixed_orders.add(oids["mixed-currency"])
        good = [w.sbx.spapi.add_order("uk", [("SKU-00001", 1)]), w.sbx.spapi.add_order("uk", [("SKU-00007", 2)])]
        w.sbx.spapi.advance(10)
        start, end = day_window(w)
        result = w.run("amazon_uk_orders", "hostile", {"window_start": iso(start), "window_end": iso(end)})
        quarantine = {q.key: q.reason for q in w.state.open_quarantine("orders", "uk")}
        docs = {r["externalId"] for r in w.records("salesOrder")}
        yield OrdersWorld(w, oids, result, quarantine, sent, docs, good)


@pytest.mark.integration
@pytest.mark.parametrize("case", list(ORDER_SKUS))
def test_order_with_unknown_or_hostile_sku_is_quarantined_and_the_rest_is_written(orders_world: OrdersWorld,
                                                                                  case: str) -> None:
    ow = orders_world
    oid = ow.oids[case]
    assert ow.quarantine[oid] == _unknown(oid, ORDER_SKUS[case])
    assert f"AMZ-{oid}" not in ow.docs
    assert {f"AMZ-{g}" for g in ow.good} <= ow.docs
    assert ow.result.states["write_mfn"] == "success"
    # the item lookup sent the SKU as one escaped literal and got back only real, requested items
    lookups = [s for s in ow.sent if s.query.startswith("SELECT i.id, i.itemid, i.isinactive FROM item i")]
    literal = suiteql_literal(ORDER_SKUS[case])
    hits = [s for s in lookups if f"{literal}," in s.query or f"{literal})" in s.query]
    assert len(hits) == 1
    returned = {r["itemid"] for r in hits[0].rows}
    assert ORDER_SKUS[case] not in returned
    requested = set(hits[0].query.split("IN (", 1)[1].rsplit(")", 1)[0].split(", "))
    assert {suiteql_literal(s) for s in returned} <= requested


@pytest.mark.integration
@pytest.mark.parametrize(("case", "reason"), [
    pytest.param("negative-quantity", "order {oid}: not a valid Orders v2026-01-01 order — orderItems.0.quantityOrdered: "
                 "Input should be greater than or equal to 0; orderItems.0.fulfillment.quantityFulfilled: Input should be "
                 "greater than or equal to 0", id="negative-quantity"),
    pytest.param("wrong-currency", "NetSuite rejected the document: USER_ERROR at currency: Error while accessing a "
                 "resource. You have entered an Invalid Field Value 1 for the following field: currency (customer Amazon "
                 "UK Customer trades in British Pound) — fix the data or configuration in NetSuite; retried next run",
                 id="wrong-currency"),
    pytest.param("mixed-currency", "order {oid}: orderItems[{item}].proceeds.proceedsTotal is in USD but the order is "
                 "in GBP — mixed currencies are not booked", id="mixed-currency"),
])
def test_order_with_impossible_values_is_quarantined_with_the_field(orders_world: OrdersWorld, case: str,
                                                                    reason: str) -> None:
    ow = orders_world
    oid = ow.oids[case]
    got = ow.quarantine[oid]
    if "{item}" in reason:
        item = ow.w.sbx.spapi.get_order(oid)["orderItems"][0]["orderItemId"]
        reason = reason.replace("{item}", item)
    assert got == reason.format(oid=oid)
    assert f"AMZ-{oid}" not in ow.docs and {f"AMZ-{g}" for g in ow.good} <= ow.docs


@pytest.mark.integration
def test_order_with_oversized_sku_is_quarantined(orders_world: OrdersWorld) -> None:
    oid = orders_world.oids["oversized-sku"]
    assert orders_world.quarantine[oid].startswith(f"order {oid}: SKU 'SSSSSSSSSS")
    assert f"AMZ-{oid}" not in orders_world.docs


@pytest.mark.integration
def test_quarantine_reason_of_an_oversized_sku_is_clipped(orders_world: OrdersWorld) -> None:
    assert len(orders_world.quarantine[orders_world.oids["oversized-sku"]]) <= 300


@pytest.mark.integration
def test_the_hostile_run_fails_visibly_after_writing_everything_else(orders_world: OrdersWorld) -> None:
    ow = orders_world
    n = len(ORDER_SKUS) + 4
    assert set(ow.quarantine) == set(ow.oids.values()) and len(ow.quarantine) == n
    assert ow.result.states["orders_report"] == "failed"
    assert ow.result.errors["orders_report"] == [
        f"AirflowFailException: {n} record(s) quarantined for uk orders; everything else was written. See the run "
        "summary / `amznetsuite quarantine list` and fix the reasons; they are retried next run."]
    assert all(ow.result.states[t] == "success" for t in ("write_mfn", "acknowledge_orders", "confirm_shipments"))


@pytest.mark.integration
@pytest.mark.parametrize("sku", [pytest.param("SKU-00001\x00", id="nul"), pytest.param("SKU-00001\nSKU-2", id="newline")])
def test_order_with_a_control_character_in_its_sku_is_quarantined_alone(tmp_path: Path, sku: str) -> None:
    with world(tmp_path, orders_per_day=4) as w:
        bad = w.sbx.spapi.add_order("uk", [(sku, 1)])
        good = w.sbx.spapi.add_order("uk", [("SKU-00001", 1)])
        w.sbx.spapi.advance(10)
        start, end = day_window(w)
        result = w.run("amazon_uk_orders", "ctrl", {"window_start": iso(start), "window_end": iso(end),
                                                    "allow_quarantine": True}, retries=0)
        assert result.states["map_mfn"] == "success"
        assert f"AMZ-{good}" in {r["externalId"] for r in w.records("salesOrder")}
        reason = {q.key: q.reason for q in w.state.open_quarantine("orders", "uk")}[bad]
        assert "control character" in reason and reason.startswith(f"order {bad}: SKU ")


@pytest.mark.integration
@pytest.mark.parametrize(("value", "literal"), [pytest.param(v, lit, id=i) for i, v, lit in HOSTILE_STRINGS])
def test_hostile_value_on_the_netsuite_sandbox_matches_nothing_extra(orders_world: OrdersWorld, value: str,
                                                                     literal: str) -> None:
    hook = NetSuiteHook()
    rows = list(hook.suiteql("SELECT i.id, i.itemid FROM item i WHERE i.itemid IN (:skus) ORDER BY i.id",
                             params={"skus": ["SKU-00001", value]}))
    assert [r["itemid"] for r in rows] == ["SKU-00001"]
    assert list(hook.suiteql("SELECT i.id FROM item i WHERE i.itemid = :sku", params={"sku": value})) == []
    assert orders_world.sent[-1].query == ("SELECT i.id FROM item i WHERE i.itemid = " + literal)


@pytest.mark.integration
@pytest.mark.parametrize("dag_id", ["amazon_uk_inventory", "amazon_uk_pricing"])
def test_hostile_skus_param_reaches_netsuite_quoted_and_reads_only_the_real_sku(orders_world: OrdersWorld,
                                                                              dag_id: str) -> None:
    ow = orders_world
    hostile = "x' OR '1'='1"
    before = len(ow.sent)
    end = ow.w.now.replace(minute=0, second=0, microsecond=0)
    result = ow.w.run(dag_id, f"inject-{dag_id}", {"skus": ["SKU-00001", hostile], "allow_quarantine": True,
                                                   "dry_run": True}, data_interval=(end - timedelta(hours=1), end))
    first = next(iter(result.states))
    assert result.states[first] == "success", result.errors
    reads = [s for s in ow.sent[before:] if "i.itemid IN (" in s.query]
    assert reads and all("'x'' OR ''1''=''1'" in s.query for s in reads)
    skus = {r["itemid"] for s in reads for r in s.rows}
    assert skus == {"SKU-00001"}


# ================================================================================================
# 7. settlement rows (V2 flat file): parse → balance → classify → match plan → journal → review report
# ================================================================================================
STL_COLUMNS = ("settlement-id", "settlement-start-date", "settlement-end-date", "deposit-date", "total-amount",
               "currency", "transaction-type", "order-id", "merchant-order-id", "adjustment-id", "shipment-id",
               "marketplace-name", "amount-type", "amount-description", "amount", "fulfillment-id", "posted-date",
               "posted-date-time", "order-item-code", "merchant-order-item-id", "merchant-adjustment-item-id", "sku",
               "quantity-purchased")


def _stl_line(**values: str) -> str:
    return "\t".join(values.get(c.replace("-", "_"), "") for c in STL_COLUMNS)


def _stl_row(amount: str = "10.00", desc: str = "Principal", atype: str = "ItemPrice", **values: str) -> str:
    row = {"settlement_id": "12345678901", "transaction_type": "Order", "order_id": "202-1111111-0000001",
           "amount_type": atype, "amount_description": desc, "amount": amount,
           "posted_date_time": "2026-06-25 10:00:00 UTC", "sku": "SKU-00001", "marketplace_name": "Amazon.co.uk",
           "quantity_purchased": "1" if atype == "ItemPrice" else ""}
    row.update(values)
    return _stl_line(**row)


def _stl_file(line5: str, total: str = "22.00") -> bytes:
    """Header, summary, and four transaction rows (file lines 3-6); line 5 is the row under test.
    The good rows add up to 12.00; the summary's total assumes line 5 is worth 10.00."""
    summary = _stl_line(settlement_id="12345678901", settlement_start_date="2026-06-20 00:00:00 UTC",
                        settlement_end_date="2026-07-04 00:00:00 UTC", deposit_date="2026-07-06 08:30:00 UTC",
                        total_amount=total, currency="GBP")
    rows = [_stl_row("20.00"), _stl_row("-3.00", "Commission", "ItemFees"), line5,
            _stl_row("-5.00", "FBAPerUnitFulfillmentFee", "ItemFees")]
    return ("\n".join(["\t".join(STL_COLUMNS), summary, *rows]) + "\n").encode()


STL_GOOD = _stl_file(_stl_row("10.00"))
STL_QUARANTINED: list[tuple[str, bytes, str]] = [
    ("wrong-column-count", _stl_file("\t".join(_stl_row().split("\t")[:20])), "has 20 columns but the header has 23"),
    ("extra-columns", _stl_file(_stl_row() + "\textra\tmore"), "has 25 columns but the header has 23"),
    ("amount-grouping", _stl_file(_stl_row("12,34,5")), "amount '12,34,5' is not a number (bad digit grouping)"),
    ("amount-words", _stl_file(_stl_row("ten pounds")), "amount 'ten pounds' is not a number"),
    ("amount-html", _stl_file(_stl_row("<script>alert(1)</script>")), "amount '<script>alert(1)</script>' is not a number"),
    ("amount-empty", _stl_file(_stl_row("")), "amount is empty"),
    ("amount-too-precise", _stl_file(_stl_row("1.234")),
     "amount '1.234' has 3 decimal places, more than the currency's 2 — check the file's decimal separator"),
    ("date-impossible", _stl_file(_stl_row(posted_date_time="2026-13-45 10:00:00 UTC")),
     "posted-date-time '2026-13-45 10:00:00 UTC' is not a valid date/time (month must be in 1..12)"),
    ("nul-in-order-id", _stl_file(_stl_row(order_id="202-1111111-\x000001")),
     "control character U+0000 in column order-id"),
    ("ansi-escape", _stl_file(_stl_row(desc="Principal\x1b[31m")), "control character U+001B in column amount-description"),
    ("bidi-override", _stl_file(_stl_row(sku="SKU\u202e10000")), "control character U+202E in column sku"),
    ("oversized-field", _stl_file(_stl_row(desc="x" * 2001)),
     "column amount-description is 2001 characters long (limit 2000)"),
    ("wrong-currency", _stl_file(_stl_row(currency="USD")), "currency 'USD' is not the settlement currency GBP"),
    ("quantity-words", _stl_file(_stl_row(quantity_purchased="two")), "quantity-purchased 'two' is not a whole number"),
    ("second-summary-row", _stl_file(_stl_row(total_amount="5.00")),
     "total-amount is filled on a transaction row (a second summary row?); only the first data row may carry it"),
    ("other-settlement", _stl_file(_stl_row(settlement_id="99999999999")),
     "settlement-id '99999999999' is not this file's settlement 12345678901"),
    ("not-utf8-nor-cp1252", _stl_file(_stl_row(desc="Caf\u00e9")).replace("Café".encode(), b"Caf\x81"),
     "line is neither UTF-8 nor Windows-1252 text (byte 0x81)"),
]


def _reconcile(data: bytes) -> Any:
    from airflow_provider_amznetsuite.domain.settlement import reconcile

    mp = load_config(CONFIG).marketplaces["uk"]
    return reconcile(data, marketplace=mp, offline=False, lookup=lambda field, values: {}, currency_ids={"GBP": "2"})


@pytest.mark.parametrize(("data", "reason"), [pytest.param(d, r, id=i) for i, d, r in STL_QUARANTINED])
def test_malformed_settlement_row_is_quarantined_by_line_and_the_settlement_is_not_posted(
        tmp_path: Path, data: bytes, reason: str) -> None:
    result = _reconcile(data)
    assert [(e.line, e.bucket, e.reason) for e in result.quarantined] == [(5, "quarantined", reason)]
    assert result.buckets["mapped"] == 3 and result.rows == 4  # the other rows were read and classified
    assert result.journal is None and not result.postable  # flagged, never posted
    assert result.journal_problem == "not posted: rows add up to 12.00 but total-amount is 22.00"
    paths = result.write_report(tmp_path)
    csv_text = paths.csv.read_text(encoding="utf-8-sig")
    assert [line for line in csv_text.splitlines() if line.startswith("5,")][0].startswith("5,quarantined,")
    html = paths.html.read_text()
    assert "<script>" not in html.split("</style>", 1)[1]  # no markup from the file survives
    assert "NOT balanced" in html


def test_a_good_settlement_posts_one_balanced_journal() -> None:
    result = _reconcile(STL_GOOD)
    assert result.balanced and result.quarantined == [] and result.journal is not None
    assert result.journal.external_id == "AMZ-STL-12345678901" and result.journal.balanced
    assert result.journal.total_debit == result.journal.total_credit > 0


@pytest.mark.parametrize(("data", "warnings", "encoding", "line_endings"), [
    pytest.param(b"\xef\xbb\xbf" + STL_GOOD, [], "utf-8-sig", "LF", id="utf8-bom"),
    pytest.param(STL_GOOD.replace(b"\n", b"\r\n", 3), ["mixed line breaks (LF and CRLF)"], "utf-8", "mixed",
                 id="crlf-mixed-with-lf"),
    pytest.param(STL_GOOD.replace(b"\n", b"\r\n"), [], "utf-8", "CRLF", id="crlf"),
    pytest.param(_stl_file(_stl_row(desc="Principal", sku="SKU-Caf\u00e9")).replace("Café".encode(), "Café".encode("cp1252")),
                 [], "windows-1252", "LF", id="windows-1252-bytes"),
])
def test_encoding_and_line_break_variants_are_read_completely(data: bytes, warnings: list[str], encoding: str,
                                                              line_endings: str) -> None:
    result = _reconcile(data)
    assert (result.encoding, result.line_endings, result.warnings) == (encoding, line_endings, warnings)
    assert result.quarantined == [] and result.balanced and result.journal is not None
    assert result.rows == 4


@pytest.mark.parametrize(("data", "message"), [
    pytest.param(STL_GOOD.replace(b"\n", b"\r"), "line breaks are bare CR characters; convert the file to LF or CRLF "
                 "line breaks", id="bare-cr"),
    pytest.param(STL_GOOD.replace(b"amount-description", b"amount-desc", 1),
                 "line 1 (header) lacks required column(s): amount-description", id="missing-column"),
    pytest.param(STL_GOOD.replace(b"marketplace-name", b"sku", 1),
                 "header names these columns more than once: sku; keep one of each", id="duplicate-column"),
    pytest.param(b"", "the file is empty; expected a V2 settlement report with a header line", id="empty"),
    pytest.param(b"\x1f\x8b\x08\x00garbage", "the file is gzip-compressed but cannot be decompressed (Compressed file "
                 "ended before the end-of-stream marker was reached); re-download the report", id="broken-gzip"),
])
def test_a_file_that_is_not_a_settlement_is_refused_whole(data: bytes, message: str) -> None:
    from airflow_provider_amznetsuite.domain.settlement import SettlementFormatError

    with pytest.raises(SettlementFormatError) as info:
        _reconcile(data)
    assert str(info.value) == message


def test_a_truncated_download_is_caught() -> None:
    result = _reconcile(STL_GOOD[:-20])
    assert [(e.line, e.reason) for e in result.quarantined] == [
        (6, "last line is cut off: no line break at the end of the file and 18 of 23 columns — the download looks "
            "truncated; re-download the report")]
    assert result.journal is None


UNMAPPED = "no GL mapping for {key!r}; add it to settlement.gl_map in the marketplace config (posted to suspense account " \
           "599 meanwhile)"


@pytest.mark.parametrize(("row", "key"), [
    pytest.param(_stl_row("-1.00", "BrandNewFee", "ItemFees"), "Order/ItemFees/BrandNewFee", id="unknown-fee-type"),
    pytest.param(_stl_row("10.00", "<img src=x onerror=alert(1)>", "Other"), "Order/Other/<img src=x onerror=alert(1)>",
                 id="html-in-description"),
    pytest.param(_stl_row("10.00", '=HYPERLINK("http://evil.example","x")', "Other", sku="+SUM(1+1)",
                          order_id="@cmd"), 'Order/Other/=HYPERLINK("http://evil.example","x")', id="csv-formula"),
    pytest.param(_stl_row("10.00", "Principal", "ItemPrice", transaction_type="NewTransactionKind"),
                 "NewTransactionKind/ItemPrice/Principal", id="unknown-transaction-type"),
])
def test_unknown_or_hostile_fee_row_is_unmapped_to_suspense_not_dropped(tmp_path: Path, row: str, key: str) -> None:
    amount = row.split("\t")[STL_COLUMNS.index("amount")]
    result = _reconcile(_stl_file(row, total=str(Decimal("12.00") + Decimal(amount))))
    assert [(e.line, e.bucket, e.reason, e.account) for e in result.unmapped] == [
        (5, "unmapped", UNMAPPED.format(key=key), "599")]
    assert result.balanced and result.quarantined == [] and result.journal is not None  # posted, to suspense
    assert result.by_account["599"] == Decimal(amount)
    paths = result.write_report(tmp_path)
    html = paths.html.read_text()
    body = html.split("</style>", 1)[1]
    assert "<img" not in body and "<script" not in body
    csv_cells = [c for line in paths.csv.read_text(encoding="utf-8-sig").splitlines()[1:] for c in line.split(",")]
    assert not any(c.lstrip('"').startswith(("=", "+", "@")) for c in csv_cells)  # formulas are neutralised
    if "img" in key:
        assert "&lt;img src=x onerror=alert(1)&gt;" in body
    if "HYPERLINK" in key:
        assert "\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"x\"\")\"" in paths.csv.read_text(encoding="utf-8-sig")
        assert ",'+SUM(1+1)," in paths.csv.read_text(encoding="utf-8-sig")


def test_an_unbalanced_settlement_is_flagged_and_not_posted() -> None:
    result = _reconcile(_stl_file(_stl_row("10.00"), total="23.00"))
    assert not result.balanced and result.difference == Decimal("-1.00")
    assert result.journal is None
    assert result.journal_problem == "not posted: rows add up to 22.00 but total-amount is 23.00"
    assert result.buckets["mapped"] == 4 and result.quarantined == []  # every row was still read and classified


# ================================================================================================
# 8. settlement files through the settlement DAG (hostile file in UK, unbalanced in DE, clean in US)
# ================================================================================================
def _rewrite_settlement(w: World, code: str, transform: Any) -> str:
    """Replace the SP-API sandbox's settlement document of ``code`` by ``transform(text)``; returns its id."""
    import gzip

    sb = w.sbx.spapi
    with sb.state.lock:
        settlement = next(s for s in sb.state.settlements.values() if s.marketplace == code)
        doc = sb.state.documents[sb.state.reports[settlement.report_id].document_id]
        data = gzip.decompress(doc.data) if doc.compression == "GZIP" else doc.data
        charset = "cp1252" if "cp1252" in doc.content_type.lower() else "utf-8"
        doc.data = transform(data.decode(charset)).encode(charset)
        doc.compression = None
        return str(settlement.settlement_id)


def _with_rows(text: str, make_rows: Any) -> str:
    lines = text.split("\n")
    header = lines[0].split("\t")
    template = lines[2].split("\t")
    extra = ["\t".join(r) for r in make_rows(header, template)]
    return "\n".join(lines[:3] + extra + lines[3:])


def _row_like(header: list[str], template: list[str], **values: str) -> list[str]:
    row = list(template)
    cols = [h.strip().lower().replace("_", "-") for h in header]
    for key, value in values.items():
        row[cols.index(key.replace("_", "-"))] = value
    return row


@dataclass
class SettlementRuns:
    w: World
    ids: dict[str, str]
    results: dict[str, Any]
    quarantine: dict[str, str]
    journals: set[str]
    reports: Path


@pytest.fixture(scope="module")
def settlement_runs(orders_world: OrdersWorld) -> SettlementRuns:
    w = orders_world.w

    def hostile(header: list[str], template: list[str]) -> list[list[str]]:
        return [
            _row_like(header, template, amount_type="Other", amount_description="<img src=x onerror=alert(1)>",
                      amount="1.00", quantity_purchased=""),
            _row_like(header, template, amount_type="Other", amount_description='=HYPERLINK("http://evil.example","x")',
                      amount="-1.00", sku="+SUM(1+1)", quantity_purchased=""),
            _row_like(header, template, amount="ten pounds"),
        ]

    def unbalanced(header: list[str], template: list[str]) -> list[list[str]]:
        amount = template[[h.strip().lower() for h in header].index("amount")]
        return [_row_like(header, template, amount="0,01" if "," in amount else "0.01")]

    ids = {"uk": _rewrite_settlement(w, "uk", lambda t: _with_rows(t, hostile)),
           "de": _rewrite_settlement(w, "de", lambda t: _with_rows(t, unbalanced)),
           "us": _rewrite_settlement(w, "us", lambda t: t)}
    end = w.now.replace(minute=0, second=0, microsecond=0)
    results = {code: w.run(f"amazon_{code}_settlement", "hostile-settlement", {},
                           data_interval=(end - timedelta(hours=1), end)) for code in ids}
    quarantine = {f"{q.marketplace}/{q.key}": q.reason for q in w.state.open_quarantine("settlement")}
    journals = {r["externalId"] for r in w.records("journalEntry") if r.get("externalId")}
    return SettlementRuns(w, ids, results, quarantine, journals, Path(w.env["AMZNETSUITE_REPORTS"]))


@pytest.mark.integration
def test_hostile_settlement_is_flagged_with_its_lines_and_not_posted(settlement_runs: SettlementRuns) -> None:
    sr = settlement_runs
    sid = sr.ids["uk"]
    assert f"AMZ-STL-{sid}" not in sr.journals
    assert sr.quarantine[f"uk/{sid}"] == (f"settlement {sid}: 1 line(s) could not be read; not posted — see "
                                          f"settlement_{sid}_exceptions.csv, then reprocess with Param settlement_id={sid}")
    assert sr.quarantine[f"uk/{sid}/line-6"] == "line 6: amount 'ten pounds' is not a number"  # 3rd inserted row
    result = sr.results["uk"]
    assert result.states["settlement_report"] == "failed" and result.states["post_journal"] == "success"
    assert "settlement" in result.errors["settlement_report"][0] and "quarantine" in result.errors["settlement_report"][0]
    html = next(sr.reports.rglob(f"settlement_{sid}.html")).read_text()
    body = html.split("</style>", 1)[1]
    assert "&lt;img src=x onerror=alert(1)&gt;" in body and "<img" not in body
    csv_text = next(sr.reports.rglob(f"settlement_{sid}_exceptions.csv")).read_text(encoding="utf-8-sig")
    assert "\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"x\"\")\"" in csv_text and ",'+SUM(1+1)," in csv_text


@pytest.mark.integration
def test_unbalanced_settlement_is_flagged_and_the_clean_one_still_posts(settlement_runs: SettlementRuns) -> None:
    sr = settlement_runs
    de, us = sr.ids["de"], sr.ids["us"]
    assert f"AMZ-STL-{de}" not in sr.journals
    reason = sr.quarantine[f"de/{de}"]
    assert reason.startswith(f"settlement {de} does not balance: rows add up to ")
    assert reason.endswith(f"(difference 0,01); not posted — see settlement_{de}.html") or \
        reason.endswith(f"(difference 0.01); not posted — see settlement_{de}.html")
    assert sr.results["de"].states["settlement_report"] == "failed"
    assert f"AMZ-STL-{us}" in sr.journals and sr.results["us"].ok  # the other marketplace proceeds
