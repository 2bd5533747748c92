"""Marketplace configuration: the example loads, and every bad file gives its exact readable line."""

from __future__ import annotations

import copy
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from airflow_provider_amznetsuite.config import ConfigError, load_config, parse_config

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "dags" / "marketplaces.yaml"
BASE = yaml.safe_load(EXAMPLE.read_text())


def problems_of(mutate) -> list[str]:
    doc = copy.deepcopy(BASE)
    mutate(doc)
    with pytest.raises(ConfigError) as info:
        parse_config(doc)
    return info.value.problems


def test_example_config_loads_with_defaults_merged():
    app = load_config(EXAMPLE)
    assert list(app.marketplaces) == ["uk", "de", "us"]
    uk, us = app.marketplaces["uk"], app.marketplaces["us"]
    assert uk.marketplace_id == "A1F83G8C2ARO7P" and uk.region == "eu" and uk.currency == "GBP"
    assert uk.channel.class_ == "5" and us.channel.class_ == "6"  # per-marketplace override of the default class
    assert uk.channel.department == "3"  # inherited from defaults
    assert uk.pricing.vat_rate == Decimal("0.20") and uk.pricing.price_level == "1"
    assert [loc.location_id for loc in us.locations.mfn] == ["3", "4"] and us.locations.fba == "13"
    assert us.dag_id("orders") == "amazon_us_orders"
    assert uk.pool == "spapi_amazon_sp_api_default_eu"


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d["marketplaces"]["uk"].update(currency="GBPX"),
         "marketplaces.uk.currency: 'GBPX' is not an ISO-4217 currency code"),
        (lambda d: d["marketplaces"]["uk"].update(curency="GBP"),
         "marketplaces.uk.curency: unknown key (did you mean 'currency'?)"),
        (lambda d: d["marketplaces"]["uk"].pop("marketplace_id"),
         "marketplaces.uk.marketplace_id: is required"),
        (lambda d: d["marketplaces"]["uk"].update(marketplace_id="A1PA6795UKMFR9"),
         "marketplaces.uk.marketplace_id: 'A1PA6795UKMFR9' is Amazon DE, but country is 'UK'; use 'A1F83G8C2ARO7P' or fix country"),
        (lambda d: d["marketplaces"]["uk"].update(marketplace_id="XYZ"),
         "marketplaces.uk.marketplace_id: 'XYZ' is not an Amazon marketplace id (Amazon UK is A1F83G8C2ARO7P)"),
        (lambda d: d["marketplaces"]["uk"].update(region="na"),
         "marketplaces.uk.region: Amazon UK is served by region 'eu', not 'na'"),
        (lambda d: d["marketplaces"]["uk"].update(subsidiary="abc"),
         "marketplaces.uk.subsidiary: 'abc' is not a NetSuite internal id (digits only, e.g. '12') for the subsidiary"),
        (lambda d: d["marketplaces"]["uk"].update(timezone="Mars/Base"),
         "marketplaces.uk.timezone: 'Mars/Base' is not an IANA time zone (e.g. 'Europe/London')"),
        (lambda d: d["marketplaces"]["uk"]["pricing"].update(vat_rate="20"),
         "marketplaces.uk.pricing.vat_rate: vat_rate 20 must be a fraction between 0 and 1 (e.g. 0.20 for 20 %)"),
        (lambda d: d["marketplaces"]["uk"].update(schedules={"orders": "every minute"}),
         "marketplaces.uk.schedules.orders: 'every minute' is not a valid cron expression (e.g. '*/30 * * * *')"),
        (lambda d: d["marketplaces"]["uk"].update(orders={"fba_document": "invoice"}),
         "marketplaces.uk.orders.fba_document: 'invoice' is not allowed; expected 'cashSale' or 'salesOrder'"),
        (lambda d: d["marketplaces"]["uk"].update(language_tag="english"),
         "marketplaces.uk.language_tag: 'english' is not an Amazon language tag (e.g. 'en_GB', 'de_DE')"),
        (lambda d: d["defaults"]["settlement"].update(gl_map={"Order/ItemPrice": "400"}),
         "defaults.settlement.gl_map: gl_map key 'Order/ItemPrice' must be 'transaction-type/amount-type/amount-description' (use '*' as transaction-type to match any)"),
        (lambda d: d["marketplaces"]["uk"]["locations"]["mfn"].append({"location_id": 7, "share": 2}),
         "marketplaces.uk.locations.mfn.1.share: share 2 must be between 0 and 1"),
        (lambda d: d["marketplaces"]["uk"]["channel"].update(custom_fields={"amz_channel": "x"}),
         "marketplaces.uk.channel.custom_fields: custom field 'amz_channel' is not a NetSuite custom field script id "
         "(expected custbody_..., custcol_..., custentity_..., custitem_... or custrecord_...)"),
        (lambda d: d.update(marketplace={}),
         "marketplace: unknown top-level key (did you mean 'marketplaces'?)"),
        (lambda d: d["marketplaces"].update(uk2=dict(d["marketplaces"]["uk"])),
         "marketplaces.uk2.marketplace_id: A1F83G8C2ARO7P is already configured as 'uk' for the same seller connection"),
        (lambda d: d["marketplaces"]["uk"].update(inventory={"safety_stock": -1}),
         "marketplaces.uk.inventory.safety_stock: input should be greater than or equal to 0 (got -1)"),
        (lambda d: d["marketplaces"].update(UK=d["marketplaces"].pop("uk")),
         "marketplaces.UK.code: marketplace code 'UK' must be lower-case letters/digits, e.g. 'uk'"),
    ],
)
def test_bad_config_gives_exact_message(mutate, expected):
    assert expected in problems_of(mutate)


def test_inherited_bad_default_is_reported_once_at_its_source():
    probs = problems_of(lambda d: d["defaults"]["orders"].update(shipping_item="ship"))
    assert probs == ["defaults.orders.shipping_item: 'ship' is not a NetSuite internal id (digits only, e.g. '12') for the shipping_item"]


def test_all_problems_are_reported_together():
    def two(d):
        d["marketplaces"]["uk"]["currency"] = "GBPX"
        d["marketplaces"]["us"]["region"] = "eu"
    assert len(problems_of(two)) == 2


def test_missing_marketplaces_and_not_a_mapping():
    with pytest.raises(ConfigError) as info:
        parse_config({"defaults": {}})
    assert info.value.problems == ["marketplaces: is required and must map codes (e.g. 'uk') to settings"]
    with pytest.raises(ConfigError) as info:
        parse_config(["uk"])
    assert "expected a mapping" in info.value.problems[0]


def test_yaml_syntax_error_names_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("marketplaces:\n  uk: {currency: GBP\n")
    with pytest.raises(ConfigError) as info:
        load_config(bad)
    assert info.value.problems[0].startswith("(yaml) line 3, column 1:")


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.yaml")
    assert "file not found (set AMZNETSUITE_CONFIG or pass a path)" in info.value.problems[0]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).parent / "amznetsuite"
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=120)


def test_cli_validate_ok():
    res = _cli("config", "validate", str(EXAMPLE))
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "OK: 3 marketplaces (uk, de, us)"


def test_cli_validate_bad_file_exits_1_with_lines(tmp_path):
    doc = copy.deepcopy(BASE)
    doc["marketplaces"]["uk"]["currency"] = "GBPX"
    doc["marketplaces"]["de"]["timezone"] = "Nowhere"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(doc))
    res = _cli("config", "validate", str(bad))
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert "marketplaces.uk.currency: 'GBPX' is not an ISO-4217 currency code" in lines
    assert "marketplaces.de.timezone: 'Nowhere' is not an IANA time zone (e.g. 'Europe/London')" in lines
    assert "Traceback" not in res.stderr


def test_cli_help_for_every_command():
    for args in (["--help"], ["config", "validate", "--help"], ["sandbox", "serve", "--help"], ["demo", "--help"],
                 ["settlement", "reconcile", "--help"], ["airflow", "--help"], ["quarantine", "--help"]):
        res = _cli(*args)
        assert res.returncode == 0, (args, res.stderr)
        assert "usage: amznetsuite" in res.stdout
