"""What the orders extract stores between tasks (issue #18 item 2): only what the mapping reads.

The raw orders come from the SP-API sandbox's generator (an independent implementation of Amazon's
Orders API, every ``includedData`` set) and from hand-written fixtures with extra Amazon fields.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_amznetsuite.domain.order_storage import stored_order
from airflow_provider_amznetsuite.domain.orders import parse_order
from airflow_provider_amznetsuite.sandbox import catalog
from airflow_provider_amznetsuite.sandbox.spapi.clock import DEFAULT_NOW
from airflow_provider_amznetsuite.sandbox.spapi.orders import INCLUDED_DATA, generate_orders
from airflow_provider_amznetsuite.state import SyncStateStore

FIXTURES = Path(__file__).parents[1] / "fixtures" / "orders"


def _walk(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield f"{path}.{k}", v
            yield from _walk(v, f"{path}.{k}")
    elif isinstance(value, list):
        for v in value:
            yield from _walk(v, f"{path}[]")


@pytest.fixture(scope="module")
def raw_orders() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for code in catalog.MARKETPLACES:
        for o in generate_orders(code, seed=3, orders_per_day=40, days=2, now=DEFAULT_NOW):
            if o.visible(DEFAULT_NOW):
                out.append(o.to_json(DEFAULT_NOW, INCLUDED_DATA))
    out.extend(json.loads(p.read_text()) for p in sorted(FIXTURES.glob("*.json")))
    assert len(out) > 100
    return out


def test_the_mapping_reads_the_stored_order_exactly_as_the_raw_one(raw_orders: list[dict[str, Any]]) -> None:
    for raw in raw_orders:
        assert parse_order(stored_order(raw, pii=True)) == parse_order(raw), raw["orderId"]


def test_without_pii_the_buyer_block_is_not_stored_and_nothing_else_changes(raw_orders: list[dict[str, Any]]) -> None:
    with_buyer = [r for r in raw_orders if r.get("buyer")]
    assert with_buyer, "the sandbox sends BUYER data when includedData asks for it"
    for raw in raw_orders:
        kept = stored_order(raw, pii=False)
        assert "buyer" not in kept and "recipient" not in kept
        assert parse_order(kept) == parse_order(raw).model_copy(update={"buyer": None})


def test_fields_the_mapping_does_not_read_are_never_stored(raw_orders: list[dict[str, Any]]) -> None:
    """Gift messages, recipient addresses, delivery preferences … exist in the raw orders, not in the batch."""
    raw_keys = {p for r in raw_orders for p, _ in _walk(r)}
    kept_keys = {p for r in raw_orders for p, _ in _walk(stored_order(r, pii=True))}
    dropped = raw_keys - kept_keys
    assert ".recipient" in dropped
    assert any("gift" in p.lower() for p in dropped), sorted(dropped)
    assert kept_keys < raw_keys


@pytest.mark.parametrize("where, extra", [
    ("", {"buyerLegalName": "Jane Q Public"}),
    ("", {"buyerTaxInformation": {"buyerTaxRegistrationId": "GB123456789", "buyerLegalCompanyName": "Public Ltd"}}),
    ("buyer", {"buyerLegalName": "Jane Q Public", "buyerTaxRegistrationId": "GB123456789"}),
    ("item", {"giftOptions": {"giftMessage": "Happy birthday Jane", "giftWrapLevel": "Classic"}}),
    ("item.product", {"customizedInfo": {"customizedUrl": "https://example.invalid/jane"}}),
    ("fulfillment", {"deliveryPreferences": {"addressInstructions": "under the mat at 1 Main St"}}),
    ("", {"recipient": {"deliveryAddress": {"name": "Jane Q Public", "addressLine1": "1 Main St"}}}),
])
def test_unknown_fields_with_personal_data_are_dropped_at_every_level(where: str, extra: dict[str, Any]) -> None:
    raw = json.loads((FIXTURES / "uk_seller_mfn.json").read_text())
    raw["buyer"] = {"buyerName": "Jane Q Public", "buyerEmail": "jane@marketplace.amazon.invalid"}
    target: dict[str, Any] = raw
    for part in filter(None, where.split(".")):
        target = target["orderItems"][0] if part == "item" else target.setdefault(part, {})
    target.update(extra)
    for pii in (True, False):
        text = json.dumps(stored_order(raw, pii=pii))
        for secret in ("Public Ltd", "GB123456789", "Happy birthday", "example.invalid/jane", "1 Main St",
                       "Jane Q Public" if not pii else "\0"):
            assert secret not in text, (where, pii, secret)
    # with orders.pii the buyer's name and e-mail stay (the per-buyer customer upsert needs them)
    assert "jane@marketplace.amazon.invalid" in json.dumps(stored_order(raw, pii=True))


@pytest.mark.parametrize("raw", [{}, {"orderId": "x"}, {"orderItems": "not a list"}, {"orderItems": [1, None]}])
def test_malformed_orders_are_stored_for_the_parser_to_quarantine(raw: dict[str, Any]) -> None:
    kept = stored_order(raw, pii=False)
    assert kept == {k: v for k, v in raw.items()}


# --- batches: literal prefixes and retention --------------------------------------------------------
def test_dropping_a_run_s_batches_does_not_touch_runs_matching_as_a_like_pattern(tmp_path: Path) -> None:
    store = SyncStateStore(f"sqlite:///{tmp_path / 's.db'}")
    refs = ["dag/manual__1/orders/extract", "dag/manualX_1/orders/extract", "dag/manual__1Xorders/extract",
            "dag/manual%1/orders/extract", "dag/manual__1/orders/extractor"]
    for ref in refs:
        store.put_batch(ref, {"n": ref})
    assert store.drop_batches("dag/manual__1/orders/extract") == 2  # itself and the literal prefix match
    assert sorted(store.iter_batch_refs("dag/manual")) == sorted(refs[1:4])
    assert list(store.iter_batch_refs("dag/manual%")) == ["dag/manual%1/orders/extract"]
    assert list(store.iter_batch_refs("dag/manual_")) == ["dag/manual__1Xorders/extract"]  # literal '_' only


def test_batches_older_than_the_retention_are_purged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_provider_amznetsuite import state as state_mod

    store = SyncStateStore(f"sqlite:///{tmp_path / 's.db'}")
    now = datetime(2026, 12, 8, 12, tzinfo=UTC)
    for age_days in (30, 8, 6, 0):
        monkeypatch.setattr(state_mod, "_now", lambda d=age_days: now - timedelta(days=d))
        store.put_batch(f"run-{age_days}/x", {"age": age_days})
    assert store.purge_batches(now - timedelta(days=7)) == 2
    assert sorted(store.iter_batch_refs("run-")) == ["run-0/x", "run-6/x"]
    assert store.purge_batches(now - timedelta(days=7)) == 0
    with pytest.raises(KeyError, match="clear the run from its first task"):
        store.get_batch("run-30/x")
