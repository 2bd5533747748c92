"""Match plan: keys, batching, verdicts and their reasons."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest

from airflow_provider_amznetsuite.domain.settlement.match import (
    MatchKey,
    MatchPlan,
    NetSuiteDocument,
    match_key,
    plan_lookups,
)
from airflow_provider_amznetsuite.domain.settlement.parse import SettlementRow

D = Decimal
_line = iter(range(3, 10**9))


def srow(ttype: str, atype: str = "ItemPrice", desc: str = "Principal", amount: str = "10.00", *, order_id: str = "",
         merchant_order_id: str = "", adjustment_id: str = "") -> SettlementRow:
    n = next(_line)
    return SettlementRow(n, n * 100, ttype, order_id, merchant_order_id, adjustment_id, "", "", atype, desc, D(amount), "",
                         datetime(2025, 6, 25, tzinfo=timezone.utc), "2025-06", "", "", "", "SKU", None, "", False)


def test_keys():
    assert match_key(srow("Order", order_id="111-1")) == MatchKey("order", "externalid", "AMZ-111-1")
    assert match_key(srow("order", order_id="111-1", merchant_order_id="SO-42")) == MatchKey("order", "tranid", "SO-42")
    # a merchant-order-id that is not a plain document number falls back to the order-id
    assert match_key(srow("Order", order_id="111-1", merchant_order_id="x' OR '1'='1")) == MatchKey("order", "externalid", "AMZ-111-1")
    assert match_key(srow("Refund", order_id="111-1", adjustment_id="A9")) == MatchKey("refund", "externalid", "AMZ-RFD-111-1-A9")
    assert match_key(srow("REFUND", order_id="111-1", adjustment_id="A9")).value == "AMZ-RFD-111-1-A9"
    for ttype in ("other-transaction", "ServiceFee", "A-to-z Guarantee Refund", "Chargeback Refund", "Transfer"):
        assert match_key(srow(ttype, order_id="111-1")) is None
    assert "neither merchant-order-id nor order-id" in match_key(srow("Order"))
    assert "no adjustment-id" in match_key(srow("Refund", order_id="111-1"))
    assert "cannot form a NetSuite external id" in match_key(srow("Order", order_id="111 1"))
    # adjustment ids such as 'amzn1.adj.…' carry dots: written with '_' in the refund's external id
    assert match_key(srow("Refund", order_id="111-1", adjustment_id="amzn1.adj.0f3a")).value == "AMZ-RFD-111-1-amzn1_adj_0f3a"
    assert "order-id '111 1' cannot form" in match_key(srow("Refund", order_id="111 1", adjustment_id="A9"))
    assert "longer than 100" in match_key(srow("Refund", order_id="111-1", adjustment_id="9" * 101))


def test_batches_never_exceed_1000_ids():
    plan = plan_lookups([srow("Order", order_id=f"111-{i}") for i in range(2500)]
                        + [srow("Order", order_id="x", merchant_order_id=f"SO-{i}") for i in range(3)])
    calls: list[tuple[str, int]] = []

    def lookup(field, values):
        calls.append((field, len(values)))
        assert len(values) == len(set(values))
        return {}

    verdicts = plan.resolve(lookup, currency="GBP")
    assert calls == [("tranid", 3), ("externalid", 1000), ("externalid", 1000), ("externalid", 500)]
    assert (verdicts.lookup_calls, verdicts.lookup_ids) == (4, 2503)
    assert verdicts.unmatched_rows == 2503 and verdicts.matched_rows == 0
    assert [len(v) for _, v in plan.batches(700)] == [3, 700, 700, 700, 400]
    with pytest.raises(ValueError, match="1..1000"):
        list(plan.batches(1001))


def _judge(rows, found, **kw):
    plan = plan_lookups(rows)
    kw.setdefault("currency", "GBP")
    return plan.resolve(lambda f, v: {k: found[k] for k in v if k in found}, **kw)


def test_not_found_reasons_and_row_counts():
    rows = [srow("Order", order_id="111-1"), srow("Order", "ItemFees", "Commission", "-1.50", order_id="111-1"),
            srow("Refund", amount="-10.00", order_id="111-2", adjustment_id="A1"),
            srow("Order", order_id="111-3", merchant_order_id="SO-7"),
            srow("other-transaction", "other-transaction", "Storage Fee", "-3.00")]
    v = _judge(rows, {})
    reasons = sorted(reason for _, reason in v.unmatched)
    assert reasons == [
        "order AMZ-111-1 not in NetSuite (sync the order, then rerun)",
        "order SO-7 (merchant-order-id) not in NetSuite (sync the order, then rerun)",
        "refund AMZ-RFD-111-2-A1 not in NetSuite (no credit memo / cash refund with that external id)",
    ]
    assert (v.unmatched_rows, v.unmatched_amount) == (4, D("8.50"))  # 10 - 1.50 - 10 + 10
    assert (v.matched_rows, v.matched_amount) == (1, D("-3.00"))  # the storage fee: settlement-level


def test_found_documents_match_and_currency_type_amount_are_checked():
    rows = [srow("Order", order_id="111-1", amount="20.00"), srow("Order", "ItemPrice", "Tax", "4.00", order_id="111-1"),
            srow("Order", "ItemFees", "Commission", "-3.00", order_id="111-1"),
            srow("Order", order_id="111-2"), srow("Order", order_id="111-3"), srow("Order", order_id="111-4"),
            srow("Refund", amount="-24.00", order_id="111-1", adjustment_id="A1")]
    found = {
        "AMZ-111-1": {"id": "11", "type": "CashSale", "currency": "2", "total": "24.00"},  # 20 + 4 tax, fees excluded
        "AMZ-111-2": {"id": "12", "type": "SalesOrd", "currency": "4"},
        "AMZ-111-3": {"id": "13", "type": "Journal", "currency": "GBP"},
        "AMZ-111-4": {"id": "14", "type": "CustInvc", "currency": "GBP", "total": 9.99},
        "AMZ-RFD-111-1-A1": {"id": "15", "type": "CustCred", "currency": "GBP", "total": "24.00"},
    }
    v = _judge(rows, found, currency_ids={"GBP": "2", "EUR": "4"})
    assert (v.matched_key_rows, v.matched_key_amount) == (4, D("-3.00"))  # AMZ-111-1 (3 rows) + its refund
    reasons = {rows.key.value: reason for rows, reason in v.unmatched}
    assert reasons["AMZ-111-2"] == "currency GBP ≠ NetSuite EUR (AMZ-111-2)"
    assert reasons["AMZ-111-3"] == "AMZ-111-3 is a Journal in NetSuite, expected a sales order, cash sale or invoice"
    assert reasons["AMZ-111-4"] == "amount 10.00 in the settlement ≠ NetSuite total 9.99 (AMZ-111-4)"
    lax = _judge(rows, found, currency_ids={"GBP": "2", "EUR": "4"}, amount_tolerance=None)
    assert "AMZ-111-4" not in {r.key.value for r, _ in lax.unmatched}
    near = _judge(rows, found, currency_ids={"GBP": "2", "EUR": "4"}, amount_tolerance=D("0.01"))
    assert "AMZ-111-4" not in {r.key.value for r, _ in near.unmatched}


def test_unknown_currency_id_is_shown_as_id():
    v = _judge([srow("Order", order_id="1")], {"AMZ-1": {"id": "1", "currency": "77"}}, currency_ids={"GBP": "2"})
    assert v.unmatched[0][1] == "currency GBP ≠ NetSuite currency id 77 (AMZ-1)"


def test_uncounted_rows_add_to_gross_only():
    plan = MatchPlan()
    plan.add(srow("Order", order_id="1", amount="5.00"), counted=False)
    plan.add(srow("Order", "ItemFees", "Commission", "-1.00", order_id="1"))
    rows = plan.keys[MatchKey("order", "externalid", "AMZ-1")]
    assert (rows.count, rows.amount, rows.gross, list(rows.positions())[0][0] > 0) == (1, D("-1.00"), D("5.00"), True)


def test_netsuite_document_model():
    doc = NetSuiteDocument.model_validate({"id": 12, "type": "CashSale", "currency": 1, "total": 10.1, "extra": "x"})
    assert (doc.id, doc.currency, doc.total) == ("12", "1", D("10.1"))
    assert NetSuiteDocument.model_validate({"id": "1", "total": ""}).total is None
