"""Marketplace configuration: one YAML file, typed by pydantic, with one readable line per problem.

The file has three top-level keys::

    defaults:       # any MarketplaceConfig key; deep-merged under every marketplace
    marketplaces:   # code -> MarketplaceConfig (code = uk, de, us, ...)
    state:          # where the sync-state database and reports live

Loading never touches the network, Airflow Variables or Connections, so the DAG file can call it at
parse time. Errors are collected into :class:`ConfigError`, whose ``problems`` are lines such as
``marketplaces.uk.currency: 'GBPX' is not an ISO-4217 currency code``.
"""

from __future__ import annotations

import difflib
import os
import re
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from airflow_provider_amznetsuite.domain.money import is_currency

DEFAULT_CONFIG_PATH = Path(__file__).resolve().parent.parent / "dags" / "marketplaces.yaml"
CONFIG_ENV = "AMZNETSUITE_CONFIG"

SYNCS = ("orders", "inventory", "products", "pricing", "settlement")

# Amazon marketplace ids (developer-docs "marketplace-ids"); country code -> (id, region).
MARKETPLACES: dict[str, tuple[str, str]] = {
    "US": ("ATVPDKIKX0DER", "na"), "CA": ("A2EUQ1WTGCTBG2", "na"), "MX": ("A1AM78C64UM0Y8", "na"),
    "BR": ("A2Q3Y263D00KWC", "na"), "IE": ("A28R8C7NBKEWEA", "eu"), "ES": ("A1RKKUPIHCS9HS", "eu"),
    "UK": ("A1F83G8C2ARO7P", "eu"), "FR": ("A13V1IB3VIYZZH", "eu"), "BE": ("AMEN7PMS3EDWL", "eu"),
    "NL": ("A1805IZSGTT6HS", "eu"), "DE": ("A1PA6795UKMFR9", "eu"), "IT": ("APJ6JRA9NG5V4", "eu"),
    "SE": ("A2NODRKZP88ZB9", "eu"), "ZA": ("AE08WJ6YKNBMC", "eu"), "PL": ("A1C3SOZRARQ6R3", "eu"),
    "EG": ("ARBP9OOSHTCHU", "eu"), "TR": ("A33AVAJ2PDY3EV", "eu"), "SA": ("A17E79C6D8DWNP", "eu"),
    "AE": ("A2VIGQ35RCS4UG", "eu"), "IN": ("A21TJRUUN4KGV", "eu"), "SG": ("A19VAU5U5O7RUS", "fe"),
    "AU": ("A39IBJ37TRP1C6", "fe"), "JP": ("A1VC38T7YXB528", "fe"),
}
MARKETPLACE_ID_TO_COUNTRY = {mid: cc for cc, (mid, _) in MARKETPLACES.items()}

_CODE_RE = re.compile(r"^[a-z][a-z0-9_]{1,19}\Z")
_NS_ID_RE = re.compile(r"^[0-9]+\Z")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


_FIELD_RE = re.compile(r"^[a-z][a-z0-9_]*(\{currency\}[a-z0-9_]*)?\Z")


def _field_id(value: str | None) -> str | None:
    """A NetSuite field id the syncs put into SuiteQL as an identifier: letters, digits and '_' only."""
    if value is None:
        return None
    if not _FIELD_RE.match(value):
        # '{currency}' may also stand for the currency code in the pricing fields
        raise ValueError(f"{value!r} is not a NetSuite field id (lower-case letters, digits, '_')")
    return value


def _ns_id(value: str | int | None, what: str) -> str | None:
    """NetSuite internal ids are digit strings; YAML may give ints."""
    if value is None:
        return None
    text = str(value).strip()
    if not _NS_ID_RE.match(text):
        raise ValueError(f"{text!r} is not a NetSuite internal id (digits only, e.g. '12') for the {what}")
    return text


class ChannelConfig(_Strict):
    """Channel attribution written on every NetSuite transaction of the marketplace."""

    sales_channel: str | None = None
    department: str | None = None
    class_: str | None = Field(default=None, alias="class")
    order_source_field: str | None = "custbody_amz_order_id"  # header field holding Amazon's order id
    custom_fields: dict[str, str | int | bool] = Field(default_factory=dict)

    @field_validator("sales_channel", "department", "class_", mode="before")
    @classmethod
    def _ids(cls, v: Any, info: Any) -> str | None:
        return _ns_id(v, info.field_name.rstrip("_"))

    @field_validator("custom_fields")
    @classmethod
    def _custom(cls, v: dict[str, Any]) -> dict[str, Any]:
        for key in v:
            if not re.fullmatch(r"cust(body|col|entity|item|record)_[a-z0-9_]+", key):
                raise ValueError(
                    f"custom field {key!r} is not a NetSuite custom field script id "
                    "(expected custbody_..., custcol_..., custentity_..., custitem_... or custrecord_...)"
                )
        return v


class CustomerConfig(_Strict):
    strategy: Literal["marketplace", "buyer"] = "marketplace"
    customer_id: str | None = None  # the marketplace customer (strategy=marketplace, and fallback for guests)
    buyer_key_field: str = "custentity_amz_buyer_key"

    @field_validator("customer_id", mode="before")
    @classmethod
    def _id(cls, v: Any) -> str | None:
        return _ns_id(v, "customer")


class MfnLocation(_Strict):
    location_id: str
    share: Decimal = Decimal("1")  # allocation share of this location's sellable stock
    cap: int | None = Field(default=None, ge=0)  # never offer more than this per SKU from this location

    @field_validator("location_id", mode="before")
    @classmethod
    def _id(cls, v: Any) -> str:
        return _ns_id(v, "location")  # type: ignore[return-value]

    @field_validator("share")
    @classmethod
    def _share(cls, v: Decimal) -> Decimal:
        if not (Decimal(0) <= v <= Decimal(1)):
            raise ValueError(f"share {v} must be between 0 and 1")
        return v


class LocationsConfig(_Strict):
    mfn: list[MfnLocation] = Field(default_factory=list)
    fba: str | None = None  # the NetSuite location that mirrors Amazon's FBA stock for this region

    @field_validator("fba", mode="before")
    @classmethod
    def _id(cls, v: Any) -> str | None:
        return _ns_id(v, "FBA location")

    @model_validator(mode="after")
    def _distinct(self) -> LocationsConfig:
        ids = [m.location_id for m in self.mfn]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ValueError(f"mfn: location {twice[0]} is listed twice; list each NetSuite location once")
        if self.fba is not None and self.fba in ids:
            raise ValueError(f"fba: location {self.fba} is also an MFN location; FBA stock needs a NetSuite location "
                             "of its own (the FBA mirror would overwrite the warehouse stock Amazon is offered)")
        return self


class TaxConfig(_Strict):
    """How tax is booked. Marketplace-collected tax never goes to tax payable."""

    seller_collected_code: str | None = None  # NetSuite tax code for tax the seller owes
    marketplace_collected_code: str | None = None  # non-taxable code used when Amazon collects
    withheld_tax_field: str = "custcol_amz_withheld_tax"  # line field holding Amazon's withheld amount
    clearing_item: str | None = None  # item whose lines net the withheld tax to zero (posts to clearing)

    @field_validator("seller_collected_code", "marketplace_collected_code", "clearing_item", mode="before")
    @classmethod
    def _ids(cls, v: Any, info: Any) -> str | None:
        return _ns_id(v, info.field_name)


class OrdersConfig(_Strict):
    fba_document: Literal["cashSale", "salesOrder"] = "cashSale"
    shipping_item: str | None = None
    gift_wrap_item: str | None = None
    discount_item: str | None = None
    delivery_tip_item: str | None = None
    cod_fee_item: str | None = None
    other_charge_item: str | None = None
    pii: bool = False  # ask Amazon for BUYER/RECIPIENT (needs the restricted roles)
    overlap_minutes: int = Field(default=10, ge=0, le=240)
    ship_by_warning_hours: int = Field(default=24, ge=1, le=240)
    acknowledge: bool = True
    confirm_shipments: bool = True

    @field_validator("shipping_item", "gift_wrap_item", "discount_item", "delivery_tip_item", "cod_fee_item",
                     "other_charge_item", mode="before")
    @classmethod
    def _ids(cls, v: Any, info: Any) -> str | None:
        return _ns_id(v, info.field_name)


class InventoryConfig(_Strict):
    safety_stock: int = Field(default=0, ge=0)
    safety_stock_field: str | None = "custitem_amz_safety_stock"
    allocation_share: Decimal = Decimal("1")
    cap: int | None = Field(default=None, ge=0)
    sku_overrides: dict[str, Annotated[int, Field(ge=0)]] = Field(default_factory=dict)  # SKU -> fixed quantity
    include_in_transit: bool = False
    subtract_backordered: bool = True
    handling_time_days: int | None = Field(default=None, ge=0, le=30)
    small_delta_threshold: int = Field(default=0, ge=0)  # <= this many changes: patchListingsItem
    fba_adjustment_account: str | None = None  # account for the FBA-mirror inventory adjustments
    fba_flag_field: str | None = "custitem_amz_fulfillment_channel"  # item field marking FBA items; None = off

    @field_validator("safety_stock_field", "fba_flag_field")
    @classmethod
    def _fields(cls, v: str | None) -> str | None:
        return _field_id(v)

    @field_validator("fba_adjustment_account", mode="before")
    @classmethod
    def _acct(cls, v: Any) -> str | None:
        return _ns_id(v, "FBA adjustment account")

    @field_validator("allocation_share")
    @classmethod
    def _share(cls, v: Decimal) -> Decimal:
        if not (Decimal(0) <= v <= Decimal(1)):
            raise ValueError(f"allocation_share {v} must be between 0 and 1")
        return v


class PricingConfig(_Strict):
    price_level: str | None = None  # base price level (NetSuite internal id)
    b2b_price_level: str | None = None
    sale_price_level: str | None = None
    prices_include_tax: bool = False  # NetSuite holds gross prices already
    vat_inclusive: bool = False  # marketplace expects VAT-inclusive value_with_tax
    vat_rate: Decimal = Decimal("0")
    max_change_pct: Decimal = Decimal("30")
    # "{currency}" expands to the marketplace currency in lower case (custitem_amz_min_price_gbp)
    min_price_field: str | None = "custitem_amz_min_price_{currency}"
    max_price_field: str | None = "custitem_amz_max_price_{currency}"
    cost_field: str | None = "costestimate"

    @field_validator("price_level", "b2b_price_level", "sale_price_level", mode="before")
    @classmethod
    def _ids(cls, v: Any, info: Any) -> str | None:
        return _ns_id(v, info.field_name)

    @field_validator("min_price_field", "max_price_field", "cost_field")
    @classmethod
    def _fields(cls, v: str | None) -> str | None:
        return _field_id(v)

    @field_validator("max_change_pct")
    @classmethod
    def _max_change(cls, v: Decimal) -> Decimal:
        if not v.is_finite() or not (Decimal(0) < v <= Decimal(1000)):
            raise ValueError(f"max_change_pct {v} must be a percentage above 0 (e.g. 30 holds any price moving "
                             "more than 30 % for approval)")
        return v

    @field_validator("vat_rate")
    @classmethod
    def _rate(cls, v: Decimal) -> Decimal:
        if not (Decimal(0) <= v < Decimal(1)):
            raise ValueError(f"vat_rate {v} must be a fraction between 0 and 1 (e.g. 0.20 for 20 %)")
        return v


class ProductsConfig(_Strict):
    flag_field: str = "custitem_amz_publish"
    product_types: dict[str, str] = Field(default_factory=dict)  # NetSuite category -> Amazon product type
    default_product_type: str | None = None
    discontinued: Literal["zero_quantity", "zero_quantity_and_inactive"] = "zero_quantity"
    condition: str = "new_new"
    brand_field: str = "custitem_amz_brand"
    category_field: str = "custitem_amz_category"  # item field holding the merchandising category
    # Amazon attributes read from custitem_amz_attr_<attribute>; None = the provider's default list
    attribute_fields: list[str] | None = None
    variation_attributes: list[str] = Field(default_factory=lambda: ["size", "color"])

    @field_validator("flag_field", "brand_field", "category_field")
    @classmethod
    def _field(cls, v: str) -> str:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", v):
            raise ValueError(f"{v!r} is not a NetSuite field id (lower-case letters, digits, '_')")
        return v

    @field_validator("attribute_fields", "variation_attributes")
    @classmethod
    def _attrs(cls, v: list[str] | None) -> list[str] | None:
        for a in v or []:
            if not re.fullmatch(r"[a-z][a-z0-9_]*", a):
                raise ValueError(f"{a!r} is not an Amazon attribute name (lower-case letters, digits, '_')")
        return v


_RENAMED_SETTLEMENT_KEYS = {
    "bank_account": "accounts.bank", "suspense_account": "accounts.suspense", "reserve_account": "accounts.reserve",
    "withheld_tax_clearing_account": "accounts.marketplace_tax_clearing",
}


class SettlementConfig(_Strict):
    """Settlement reconciliation (docs/settlement.md).

    ``accounts`` maps each GL role (``domain.settlement.default_gl_map.GL_ROLES``: bank, suspense,
    reserve, marketplace_tax_clearing, tax_payable, sales, fba_fees, ...) to the NetSuite account that
    plays it. The shipped GL map classifies the settlement vocabulary to those roles; a role without an
    account sends its rows to suspense, listed as unmapped. ``gl_map`` overrides single
    ``transaction-type/amount-type/amount-description`` keys with an account id (or a role).
    """

    accounts: dict[str, str] = Field(default_factory=dict)  # GL role -> account internal id
    gl_map: dict[str, str] = Field(default_factory=dict)  # "type/amount-type/description" -> account id or role
    split_by_period: bool = False  # one journal entry per month when a settlement spans a month end
    apply_payments: bool = False  # not available yet: validation refuses true
    amount_tolerance: Decimal | None = Decimal("0")  # order total vs settlement gross; null = no amount check
    recheck_days: int = Field(default=60, ge=0, le=365)  # re-match unmatched lines for this long after posting
    department: str | None = None
    class_: str | None = Field(default=None, alias="class")

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: Any) -> Any:
        if isinstance(data, dict):
            old = [k for k in _RENAMED_SETTLEMENT_KEYS if k in data]
            if old:
                moves = ", ".join(f"{k} -> {_RENAMED_SETTLEMENT_KEYS[k]}" for k in old)
                raise ValueError(f"GL accounts are set per role under settlement.accounts now: {moves}")
        return data

    @field_validator("department", "class_", mode="before")
    @classmethod
    def _ids(cls, v: Any, info: Any) -> str | None:
        return _ns_id(v, info.field_name.rstrip("_"))

    @field_validator("accounts", mode="before")
    @classmethod
    def _accounts(cls, v: Any) -> Any:
        from airflow_provider_amznetsuite.domain.settlement.default_gl_map import ROLE_NAMES

        if v is None:
            return {}
        if not isinstance(v, dict):
            return v
        out = {}
        for role, account in v.items():
            if role not in ROLE_NAMES:
                close = difflib.get_close_matches(str(role), ROLE_NAMES, n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                raise ValueError(f"unknown GL role {role!r}{hint}; valid roles: {', '.join(ROLE_NAMES)}")
            if account is None:
                continue  # an explicit null leaves the role unmapped (its rows go to suspense)
            out[str(role)] = _ns_id(account, f"GL role {role!r}")
        return out

    @field_validator("gl_map", mode="before")
    @classmethod
    def _map(cls, v: Any) -> Any:
        from airflow_provider_amznetsuite.domain.settlement.default_gl_map import ROLE_NAMES

        if not isinstance(v, dict):
            return v
        out = {}
        for key, account in v.items():
            parts = str(key).split("/")
            if len(parts) != 3 or not all(p.strip() for p in parts[1:]):
                raise ValueError(
                    f"gl_map key {key!r} must be 'transaction-type/amount-type/amount-description' "
                    "(use '*' as transaction-type to match any)"
                )
            if isinstance(account, str) and account.strip() in ROLE_NAMES:
                out[str(key)] = account.strip()
            else:
                out[str(key)] = _ns_id(account, f"GL account of {key!r} (or name a GL role such as 'other_fees')")
        return out

    @field_validator("apply_payments")
    @classmethod
    def _payments(cls, v: bool) -> bool:
        if v:
            raise ValueError("apply_payments is not available yet in this release: set it to false "
                             "(the settlement journal entry books every line; see docs/settlement.md)")
        return v

    @field_validator("amount_tolerance")
    @classmethod
    def _tolerance(cls, v: Decimal | None) -> Decimal | None:
        if v is not None and (not v.is_finite() or v < 0):
            raise ValueError(f"amount_tolerance {v} must be 0 or more (or null to skip the amount check)")
        return v


class SchedulesConfig(_Strict):
    orders: str | None = "*/30 * * * *"
    inventory: str | None = "0 * * * *"
    products: str | None = "0 3 * * *"
    pricing: str | None = "15 * * * *"
    settlement: str | None = "0 6 * * *"

    @field_validator("*")
    @classmethod
    def _cron(cls, v: str | None) -> str | None:
        if v is None:
            return v
        from croniter import croniter  # shipped with Airflow

        if not croniter.is_valid(v):
            raise ValueError(f"{v!r} is not a valid cron expression (e.g. '*/30 * * * *')")
        return v


class FeaturesConfig(_Strict):
    orders: bool = True
    inventory: bool = True
    products: bool = True
    pricing: bool = True
    settlement: bool = True


class MarketplaceConfig(_Strict):
    code: str
    marketplace_id: str
    region: Literal["na", "eu", "fe"]
    country: str
    currency: str
    language_tag: str = "en_US"
    timezone: str = "UTC"
    spapi_conn_id: str = "amazon_sp_api_default"
    netsuite_conn_id: str = "netsuite_default"
    subsidiary: str
    channel: ChannelConfig = Field(default_factory=ChannelConfig)
    customer: CustomerConfig = Field(default_factory=CustomerConfig)
    locations: LocationsConfig = Field(default_factory=LocationsConfig)
    tax: TaxConfig = Field(default_factory=TaxConfig)
    orders: OrdersConfig = Field(default_factory=OrdersConfig)
    inventory: InventoryConfig = Field(default_factory=InventoryConfig)
    pricing: PricingConfig = Field(default_factory=PricingConfig)
    products: ProductsConfig = Field(default_factory=ProductsConfig)
    settlement: SettlementConfig = Field(default_factory=SettlementConfig)
    schedules: SchedulesConfig = Field(default_factory=SchedulesConfig)
    features: FeaturesConfig = Field(default_factory=FeaturesConfig)

    @field_validator("code")
    @classmethod
    def _code(cls, v: str) -> str:
        if not _CODE_RE.match(v):
            raise ValueError(f"marketplace code {v!r} must be lower-case letters/digits, e.g. 'uk'")
        return v

    @field_validator("currency")
    @classmethod
    def _currency(cls, v: str) -> str:
        if not is_currency(v):
            raise ValueError(f"{v!r} is not an ISO-4217 currency code")
        return v

    @field_validator("subsidiary", mode="before")
    @classmethod
    def _sub(cls, v: Any) -> str:
        return _ns_id(v, "subsidiary")  # type: ignore[return-value]

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{v!r} is not an IANA time zone (e.g. 'Europe/London')") from None
        return v

    @field_validator("language_tag")
    @classmethod
    def _lang(cls, v: str) -> str:
        if not re.fullmatch(r"[a-z]{2}_[A-Z]{2}", v):
            raise ValueError(f"{v!r} is not an Amazon language tag (e.g. 'en_GB', 'de_DE')")
        return v

    @model_validator(mode="after")
    def _marketplace(self) -> MarketplaceConfig:
        country = MARKETPLACE_ID_TO_COUNTRY.get(self.marketplace_id)
        if country is None:
            expected = MARKETPLACES.get(self.country.upper())
            hint = f" (Amazon {self.country.upper()} is {expected[0]})" if expected else ""
            raise ValueError(f"marketplace_id: {self.marketplace_id!r} is not an Amazon marketplace id{hint}")
        if country != self.country.upper():
            raise ValueError(
                f"marketplace_id: {self.marketplace_id!r} is Amazon {country}, but country is "
                f"{self.country!r}; use {MARKETPLACES.get(self.country.upper(), ('?',))[0]!r} or fix country"
            )
        region = MARKETPLACES[country][1]
        if region != self.region:
            raise ValueError(f"region: Amazon {country} is served by region {region!r}, not {self.region!r}")
        if self.customer.strategy == "buyer" and not self.orders.pii:
            raise ValueError("customer: strategy 'buyer' needs the buyer's data: set orders.pii: true (and grant "
                             "the app the restricted role), or use strategy 'marketplace'")
        return self

    @property
    def dag_prefix(self) -> str:
        return f"amazon_{self.code}"

    def dag_id(self, sync: str) -> str:
        return f"amazon_{self.code}_{sync}"

    @property
    def pool(self) -> str:
        """Airflow pool shared by SP-API-heavy tasks of one seller connection in one region."""
        return f"spapi_{self.spapi_conn_id}_{self.region}"


class StateConfig(_Strict):
    conn_id: str = "amznetsuite_state"  # optional Airflow connection with a SQLAlchemy URL
    base_path: str | None = None  # batches and reports; default $AIRFLOW_HOME/amznetsuite
    # batches handed between the tasks of a run are deleted when the run completes, and at the latest
    # after this many days (they can hold order data; docs/orders-sync.md)
    batch_retention_days: int = Field(default=7, ge=1, le=3650)


class AppConfig(_Strict):
    marketplaces: dict[str, MarketplaceConfig]
    state: StateConfig = Field(default_factory=StateConfig)
    source: str | None = None

    def marketplace(self, code: str) -> MarketplaceConfig:
        try:
            return self.marketplaces[code]
        except KeyError:
            raise ConfigError([f"marketplaces.{code}: no such marketplace (have: {', '.join(self.marketplaces)})"]) from None


class ConfigError(Exception):
    """One or more configuration problems, each a readable line naming the path and the fix."""

    def __init__(self, problems: list[str], source: str | None = None):
        self.problems = problems
        self.source = source
        where = f"{source}: " if source else ""
        super().__init__(f"{where}{len(problems)} configuration problem(s):\n" + "\n".join(f"  {p}" for p in problems))


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _has_path(doc: Any, loc: tuple[Any, ...]) -> bool:
    cur = doc
    for part in loc:
        if isinstance(cur, dict):
            alias = "class" if part == "class_" else part
            if alias not in cur and part not in cur:
                return False
            cur = cur.get(alias, cur.get(part))
        elif isinstance(cur, list) and isinstance(part, int):
            if part >= len(cur):
                return False
            cur = cur[part]
        else:
            return False
    return True


def _model_for(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model that owns the field at ``loc`` (inside a MarketplaceConfig)."""
    model: type[BaseModel] = MarketplaceConfig
    for part in loc[:-1]:
        field = model.model_fields.get(str(part))
        ann = getattr(field, "annotation", None)
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            model = ann
        else:
            return None
    return model


def _format_error(prefix: str, err: dict[str, Any]) -> str:
    loc = tuple(p for p in err["loc"] if p != "__root__")
    path = ".".join([prefix, *[str(p) for p in loc]]) if loc else prefix
    kind = err["type"]
    msg = err["msg"]
    if kind == "missing":
        return f"{path}: is required"
    if kind == "extra_forbidden":
        model = _model_for(loc)
        names = []
        if model is not None:
            names = [f.alias or n for n, f in model.model_fields.items()]
        close = difflib.get_close_matches(str(loc[-1]), names, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else (f" (allowed: {', '.join(names)})" if names else "")
        return f"{path}: unknown key{hint}"
    if kind == "literal_error":
        return f"{path}: {err.get('input')!r} is not allowed; expected {msg.split('Input should be ', 1)[-1]}"
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
        if msg.startswith(tuple(f"{n}: " for n in MarketplaceConfig.model_fields)) and not loc:
            sub, _, rest = msg.partition(": ")
            return f"{path}.{sub}: {rest}"
        return f"{path}: {msg}"
    got = err.get("input")
    return f"{path}: {msg[0].lower() + msg[1:]} (got {got!r})"


def parse_config(raw: Any, source: str | None = None) -> AppConfig:
    """Validate an already-parsed YAML document."""
    problems: list[str] = []
    if not isinstance(raw, dict):
        raise ConfigError(["(top level): expected a mapping with 'marketplaces' (and optional 'defaults', 'state')"], source)
    unknown = set(raw) - {"defaults", "marketplaces", "state"}
    for key in sorted(unknown):
        close = difflib.get_close_matches(key, ["defaults", "marketplaces", "state"], n=1)
        problems.append(f"{key}: unknown top-level key" + (f" (did you mean '{close[0]}'?)" if close else ""))
    defaults = raw.get("defaults") or {}
    if not isinstance(defaults, dict):
        problems.append("defaults: expected a mapping of marketplace keys")
        defaults = {}
    markets = raw.get("marketplaces")
    if not isinstance(markets, dict) or not markets:
        problems.append("marketplaces: is required and must map codes (e.g. 'uk') to settings")
        markets = {}
    parsed: dict[str, MarketplaceConfig] = {}
    seen_ids: dict[tuple[str, str], str] = {}
    for code, body in markets.items():
        prefix = f"marketplaces.{code}"
        if body is None:
            body = {}
        if not isinstance(body, dict):
            problems.append(f"{prefix}: expected a mapping of settings")
            continue
        merged = _deep_merge(defaults, body)
        merged.setdefault("code", str(code))
        try:
            mp = MarketplaceConfig.model_validate(merged)
        except ValidationError as exc:
            for e in exc.errors():
                origin = prefix
                if not _has_path(body, e["loc"]) and _has_path(defaults, e["loc"]):
                    origin = "defaults"  # the bad value is inherited: name where it is written
                line = _format_error(origin, e)
                if line not in problems:
                    problems.append(line)
            continue
        key = (mp.spapi_conn_id, mp.marketplace_id)
        if key in seen_ids:
            problems.append(f"{prefix}.marketplace_id: {mp.marketplace_id} is already configured as '{seen_ids[key]}' for the same seller connection")
        seen_ids[key] = str(code)
        if mp.code != str(code):
            problems.append(f"{prefix}.code: {mp.code!r} must equal the key {code!r}")
        parsed[str(code)] = mp
    state_raw = raw.get("state") or {}
    state = StateConfig()
    try:
        state = StateConfig.model_validate(state_raw)
    except ValidationError as exc:
        problems.extend(_format_error("state", e) for e in exc.errors())
    if problems:
        raise ConfigError(problems, source)
    return AppConfig(marketplaces=parsed, state=state, source=source)


_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MERGE_TAG = "tag:yaml.org,2002:merge"


class _StrictLoader(_BaseLoader):  # type: ignore[misc,valid-type]
    """The safe (C) loader, refusing what has no place in a settings file and can hurt the reader.

    * **Aliases and merge keys** (``&name`` / ``*name`` / ``<<``): a few hundred bytes of nested aliases
      expand to billions of values in whatever walks the result (the DAG processor at parse time).
      ``defaults:`` is how this file shares settings.
    * **Duplicate keys**: YAML keeps the last one silently; here both lines are named.
    """

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        if node in self.constructed_objects or node in self.recursive_objects:
            raise yaml.constructor.ConstructorError(
                None, None, "YAML anchors and aliases (&name / *name) are not supported in this file (the value anchored "
                "here is reused); write it out, or share settings through 'defaults:'", node.start_mark)
        return super().construct_object(node, deep=deep)

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, yaml.MappingNode):
            first: dict[Any, int] = {}
            for key_node, _value in node.value:
                if key_node.tag == _MERGE_TAG:
                    raise yaml.constructor.ConstructorError(
                        None, None, "YAML merge keys (<<) are not supported in this file; share settings through "
                        "'defaults:'", key_node.start_mark)
                if isinstance(key_node, yaml.ScalarNode):
                    key = (key_node.tag, key_node.value)
                    line = key_node.start_mark.line + 1
                    if key in first:
                        raise yaml.constructor.ConstructorError(
                            None, None, f"duplicate key {key_node.value!r} (first at line {first[key]}); keep one",
                            key_node.start_mark)
                    first[key] = line
        return super().construct_mapping(node, deep=deep)


def read_yaml(text: str) -> Any:
    """Parse YAML with :class:`_StrictLoader` (raises ``yaml.YAMLError`` with a position)."""
    return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a safe loader


def config_path(path: str | os.PathLike[str] | None = None) -> Path:
    if path:
        return Path(path)
    env = os.environ.get(CONFIG_ENV)
    return Path(env) if env else DEFAULT_CONFIG_PATH


def load_config(path: str | os.PathLike[str] | None = None) -> AppConfig:
    """Load and validate the marketplace file (``AMZNETSUITE_CONFIG`` overrides the default path)."""
    p = config_path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{p}: file not found (set {CONFIG_ENV} or pass a path)"], str(p)) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{p}: not UTF-8 text ({exc.reason} at byte {exc.start})"], str(p)) from None
    try:
        raw = read_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([f"(yaml) {where}: {problem}"], str(p)) from None
    return parse_config(raw, source=str(p))
