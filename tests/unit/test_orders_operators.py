"""Order-sync operators with in-memory fakes of the hooks and a real (temporary) sync-state database.

The fakes follow NetSuite's and Amazon's documented behaviour where it matters for idempotency:
a PUT/PATCH line without ``line`` is *appended* (so a second PUT of an existing document would
duplicate lines — the fake refuses it), feeds go through DONE with an XML processing report.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_amznetsuite.domain.orders import ORDER_ITEM_ID_FIELD, map_order, parse_order
from airflow_provider_amznetsuite.hooks.netsuite_errors import NetSuiteServerError, NetSuiteValidationError
from airflow_provider_amznetsuite.hooks.spapi_errors import SpApiBadRequest
from airflow_provider_amznetsuite.operators import orders as ops
from airflow_provider_amznetsuite.state import SyncStateStore
from tests.unit.test_orders_support import item, marketplace, order

ROOT = Path(__file__).resolve().parents[2]
CONFIG = str(ROOT / "dags" / "marketplaces.yaml")
ITEMS = {"SKU-1": "1001", "SKU-2": "1002", "SKU-3": "1003", "SKU-4": "1004"}
UK = marketplace("uk")
PII_NAME, PII_EMAIL = "Philippa Thistlewood", "x9k2pqv7m3b8zt@marketplace.amazon.co.uk"


# ================================================================================================
# fakes
# ================================================================================================
class FakeNetSuite:
    def __init__(self, items: dict[str, str] | None = None, concurrency: int = 2) -> None:
        self.settings = SimpleNamespace(concurrency=concurrency)
        self.items = dict(ITEMS if items is None else items)
        self.inactive: set[str] = set()
        self.records: dict[str, dict[str, Any]] = {}  # id -> {"type", "body"}
        self.by_eid: dict[str, str] = {}
        self.calls: list[tuple[str, Any]] = []
        self.fail_put: dict[str, list[Exception]] = {}  # externalId -> exceptions raised by the next PUTs
        self.fulfilments: list[dict[str, Any]] = []
        self.fail_tranid_reads = 0  # the next N document-number queries fail after the hook's retries
        self._next = 500

    # records ------------------------------------------------------------------------------
    def _number(self, lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out, n = [], 0
        for line in lines:
            n += 1
            out.append({**copy.deepcopy(line), "line": n})
        return out

    def upsert_record(self, record_type: str, external_id: str, body: dict[str, Any], replace: Any = None) -> str:
        self.calls.append(("PUT", external_id))
        assert replace == ["item"], "a create must replace the item sublist (a re-sent PUT must not double lines)"
        if self.fail_put.get(external_id):
            raise self.fail_put[external_id].pop(0)
        assert external_id not in self.by_eid, "a second PUT of an existing document would append duplicate lines"
        json.dumps(body, default=str)  # the body must be serialisable
        self._next += 1
        rid = str(self._next)
        lines = self._number(body["item"]["items"])
        for line in lines:  # NetSuite fills a product line's description from the item
            if line.get(ORDER_ITEM_ID_FIELD) and "description" not in line:
                line["description"] = f"Item {line['item']['id']}"
        self.records[rid] = {"type": record_type, "body": {**copy.deepcopy(body), "item": {"items": lines},
                                                           "id": rid, "tranId": f"SO{rid}"}}
        self.by_eid[external_id] = rid
        return rid

    def get_record(self, record_type: str, rid: str, expand_sub_resources: bool = False) -> dict[str, Any]:
        self.calls.append(("GET", rid))
        return copy.deepcopy(self.records[str(rid)]["body"])

    def update_record(self, record_type: str, rid: str, body: dict[str, Any], replace: Any = None) -> None:
        self.calls.append(("PATCH", rid))
        rec = self.records[str(rid)]["body"]
        for k, v in body.items():
            if k != "item":
                rec[k] = v
        lines = rec["item"]["items"]
        by_line = {ln["line"]: ln for ln in lines}
        for line in body.get("item", {}).get("items", []):
            if "line" in line:
                by_line[line["line"]].update(copy.deepcopy(line))
            else:
                lines.append({**copy.deepcopy(line), "line": max(by_line, default=0) + 1})
                by_line[lines[-1]["line"]] = lines[-1]

    def lookup_external_ids(self, table: str, ids: list[str], **_: Any) -> dict[str, str]:
        return {}

    # SuiteQL ------------------------------------------------------------------------------
    def suiteql(self, query: str, params: dict[str, Any] | None = None, page_size: int = 1000) -> Iterator[dict[str, Any]]:
        q = " ".join(query.split())
        params = params or {}
        self.calls.append(("SQL", q.split(" FROM ")[1][:30]))
        if "FROM transaction t WHERE t.externalid IN" in q:
            assert len(params["ids"]) <= 1000
            for eid in params["ids"]:
                if eid in self.by_eid:
                    rid = self.by_eid[eid]
                    rtype = self.records[rid]["type"]
                    yield {"id": rid, "externalid": eid, "type": ops.TRANSACTION_TYPE[rtype], "tranid": f"SO{rid}"}
        elif "FROM item i" in q:
            assert len(params["skus"]) <= 1000
            for sku in params["skus"]:
                if sku in self.items:
                    yield {"id": self.items[sku], "itemid": sku, "isinactive": "T" if sku in self.inactive else "F"}
        elif "FROM currency" in q:
            for code in params["codes"]:
                yield {"id": {"GBP": "2", "USD": "1", "EUR": "4"}[code], "symbol": code}
        elif "t.id IN (:ids)" in q:
            if self.fail_tranid_reads:
                self.fail_tranid_reads -= 1
                raise NetSuiteServerError(503, None, None, "down")
            for rid in params["ids"]:
                yield {"id": str(rid), "tranid": f"SO{rid}"}
        elif "ItemShip" in q:
            yield from self.fulfilments
        else:  # pragma: no cover - a query the operators should not send
            raise AssertionError(q)

    def doc(self, eid: str) -> dict[str, Any]:
        return self.records[self.by_eid[eid]]["body"]


class FakeSpApi:
    seller_id = "A2TESTSELLER"

    def __init__(self, orders: list[dict[str, Any]] | None = None) -> None:
        self.orders = {o["orderId"]: o for o in orders or []}
        self.search_calls: list[dict[str, Any]] = []
        self.expire_after: int | None = None  # raise "token expired" after this many orders (once)
        self.get_calls: list[tuple[str, tuple[str, ...]]] = []
        self.feeds: dict[str, dict[str, Any]] = {}
        self.feed_errors: dict[int, str] = {}
        self.feed_status = "DONE"
        self.confirmations: list[tuple[str, str, dict[str, Any]]] = []

    def search_orders(self, mids: list[str], **kw: Any) -> Iterator[dict[str, Any]]:
        self.search_calls.append({"marketplace_ids": mids, **kw})
        for n, o in enumerate(self.orders.values()):
            if self.expire_after is not None and n == self.expire_after:
                self.expire_after = None
                raise SpApiBadRequest(400, [{"code": "InvalidInput", "message": "The paginationToken has expired."}],
                                      "searchOrders")
            yield copy.deepcopy(o)

    def get_order(self, oid: str, included: Any = None) -> dict[str, Any]:
        self.get_calls.append((oid, tuple(included or ())))
        return copy.deepcopy(self.orders[oid])

    def submit_feed(self, feed_type: str, body: bytes, mids: list[str], content_type: str = "") -> str:
        fid = f"F{len(self.feeds) + 1}"
        self.feeds[fid] = {"type": feed_type, "body": body, "mids": mids, "content_type": content_type}
        return fid

    def get_feed(self, fid: str) -> dict[str, Any]:
        return {"feedId": fid, "processingStatus": self.feed_status}

    def get_feed_result(self, fid: str) -> bytes:
        results = "".join(f"<Result><MessageID>{m}</MessageID><ResultCode>Error</ResultCode><ResultMessageCode>25"
                          f"</ResultMessageCode><ResultDescription>{t}</ResultDescription></Result>"
                          for m, t in self.feed_errors.items())
        return (f"<?xml version='1.0'?><AmazonEnvelope><MessageType>ProcessingReport</MessageType><Message>"
                f"<MessageID>1</MessageID><ProcessingReport><StatusCode>Complete</StatusCode>{results}"
                f"</ProcessingReport></Message></AmazonEnvelope>").encode()

    def confirm_shipment(self, oid: str, mid: str, detail: dict[str, Any]) -> None:
        self.confirmations.append((oid, mid, detail))


class FakeTI:
    def __init__(self, xcoms: dict[str, Any]) -> None:
        self.xcoms = xcoms

    def xcom_pull(self, task_ids: str | None = None, **_: Any) -> Any:
        return self.xcoms.get(task_ids)


# ================================================================================================
# harness
# ================================================================================================
@pytest.fixture
def state(tmp_path: Path) -> SyncStateStore:
    return SyncStateStore(f"sqlite:///{tmp_path}/state.db")


class Flow:
    """Runs the order operators in DAG order against fakes (the branch and skips done by hand)."""

    def __init__(self, state: SyncStateStore, spapi: FakeSpApi, ns: FakeNetSuite) -> None:
        self.state, self.spapi, self.ns = state, spapi, ns

    def op(self, cls: type, task_id: str, **kw: Any) -> Any:
        op = cls(task_id=task_id, marketplace="uk", config_path=CONFIG, **kw)
        op.__dict__["state"] = self.state
        op.spapi = lambda: self.spapi
        op.netsuite = lambda: self.ns
        if isinstance(op, ops.WriteOrdersOperator):
            op.attempt_delay = 0
        return op

    def context(self, run_id: str, xcoms: dict[str, Any], **params: Any) -> dict[str, Any]:
        base = {"dry_run": False, "allow_quarantine": False, "order_ids": [], "window_start": "2026-10-15T00:00:00Z",
                "window_end": "2026-10-15T12:00:00Z"}
        return {"params": {**base, **params}, "dag_run": SimpleNamespace(run_id=run_id, run_after=None),
                "ti": FakeTI(xcoms), "run_id": run_id}

    def run(self, run_id: str = "r1", *, stop_after: str | None = None, **params: Any) -> dict[str, Any]:
        x: dict[str, Any] = {}
        ctx = self.context(run_id, x, **params)
        steps = [("extract_orders", ops.ExtractOrdersOperator, {}),
                 ("decide_tax_and_lifecycle", ops.DecideOrdersOperator, {})]
        for task_id, cls, kw in steps:
            x[task_id] = self.op(cls, task_id, **kw).execute(ctx)
        branch = ops.BranchFulfilmentOperator(task_id="branch_fulfilment").choose_branch(ctx)
        x["branch_fulfilment"] = branch
        for ch in ("fba", "mfn"):
            if f"map_{ch}" in branch:
                x[f"map_{ch}"] = self.op(ops.MapOrdersOperator, f"map_{ch}", channel=ch.upper()).execute(ctx)
                x[f"write_{ch}"] = self.op(ops.WriteOrdersOperator, f"write_{ch}", channel=ch.upper()).execute(ctx)
        if stop_after == "write":
            return x
        x["acknowledge_orders"] = self.op(ops.AcknowledgeOrdersOperator, "acknowledge_orders",
                                          deferrable=False, poll_interval=0).execute(ctx)
        x["confirm_shipments"] = self.op(ops.ConfirmShipmentsOperator, "confirm_shipments").execute(ctx)
        x["orders_report"] = self.op(ops.OrdersReportOperator, "orders_report").execute(ctx)
        return x


def mfn(oid: str, *items_: dict[str, Any], status: str = "UNSHIPPED", **kw: Any) -> dict[str, Any]:
    return order(oid, list(items_) or [item("11", "SKU-1", 2, "10.00", "GBP", tax={"ITEM": "4.00"})],
                 status=status, created="2026-10-15T08:00:00Z", ship_by="2026-10-16T10:00:00Z", **kw)


def fba(oid: str, status: str = "SHIPPED") -> dict[str, Any]:
    return order(oid, [item("21", "SKU-2", 1, "20.00", "GBP", tax={"ITEM": "4.00"})], status=status,
                 fulfilled_by="AMAZON", created="2026-10-15T07:00:00Z", ship_by=None)


# ================================================================================================
# pure helpers
# ================================================================================================
def test_dedupe_keeps_latest_update_and_drops_recipient():
    a = {"orderId": "202-0000001-0000001", "lastUpdatedTime": "2026-10-15T10:00:00Z", "v": 1,
         "recipient": {"deliveryAddress": {"name": PII_NAME}}}
    b = {"orderId": "202-0000001-0000001", "lastUpdatedTime": "2026-10-15T11:00:00Z", "v": 2}
    c = {"orderId": "202-0000001-0000001", "lastUpdatedTime": "2026-10-15T09:00:00Z", "v": 3}
    d = {"orderId": "202-0000002-0000002", "lastUpdatedTime": "2026-10-15T09:00:00Z", "v": 4,
         "recipient": {"deliveryAddress": {"name": PII_NAME}}}
    out = ops.dedupe_orders([a, b, c, d])
    assert [(o["orderId"], o["v"]) for o in out] == [("202-0000001-0000001", 2), ("202-0000002-0000002", 4)]
    assert PII_NAME not in json.dumps(out)


@pytest.mark.parametrize(("status", "by", "written", "key"), [
    ("PENDING", "MERCHANT", False, "pending"),
    ("PENDING_AVAILABILITY", "AMAZON", False, "preorder_pending_availability"),
    ("UNSHIPPED", "AMAZON", False, "fba_not_shipped"),
    ("CANCELLED", "MERCHANT", False, "cancelled_not_written"),
    ("CANCELLED", "AMAZON", True, "cancelled_fba_cash_sale"),
    ("UNFULFILLABLE", "MERCHANT", False, "unfulfillable"),
])
def test_skip_reason_keys(status, by, written, key):
    from airflow_provider_amznetsuite.domain.orders import decide_action

    o = parse_order(order("202-0000001-0000001", [item("1", "SKU-1", 1, "1.00", "GBP")], status=status,
                          fulfilled_by=by))
    decision = decide_action(o, UK, already_written=written)
    assert decision.action.value == "SKIP"
    assert ops.skip_reason_key(o, decision.reason) == key


def _written(doc, *, fill_descriptions=True, manual_line=False):
    """The NetSuite record as it reads back after creating ``doc`` (numbered lines)."""
    lines = []
    for n, line in enumerate(doc.body["item"]["items"], start=1):
        line = {**line, "line": n}
        if fill_descriptions and "description" not in line:
            line["description"] = "Sandbox Product"
        lines.append(line)
    if manual_line:
        lines.append({"line": len(lines) + 1, "item": {"id": "777"}, "amount": Decimal("5.00"), "description": "Handling"})
    return {"id": "900", "item": {"items": lines}}


def test_update_body_patches_lines_in_place_and_appends_the_cancelled_units():
    before = order("202-0000001-0000001", [
        item("A", "SKU-1", 2, "10.00", "GBP", shipping="2.99", tax={"ITEM": "4.00", "SHIPPING": "0.60"}),
        item("B", "SKU-2", 1, "5.00", "GBP", tax={"ITEM": "1.00"}),
    ])
    doc1 = map_order(parse_order(before), UK, item_ids=ITEMS, currency_ids={"GBP": "2"})
    record = _written(doc1, manual_line=True)
    # Amazon cancels item B (reported with quantity 0 and no proceeds) and drops the shipping charge of A
    after = order("202-0000001-0000001", [
        item("A", "SKU-1", 2, "10.00", "GBP", tax={"ITEM": "4.00"}),
        {**item("B", "SKU-2", 0, "5.00", "GBP", item_amount="0.00"), "cancellation": {
            "cancellationExecution": {"cancelledBy": "AMAZON"}}},
    ])
    after["orderItems"][1]["proceeds"] = {"proceedsTotal": {"amount": "0.00", "currencyCode": "GBP"}, "breakdowns": []}
    doc2 = map_order(parse_order(after), UK, item_ids=ITEMS, currency_ids={"GBP": "2"})
    numbers, unmatched = ops.match_lines(doc2, record)
    assert numbers == {"A:ITEM": 1, "B:ITEM": 3}
    assert [ln["line"] for ln in unmatched] == [2, 4]  # A's shipping line (ours) and the manual line
    body = ops.update_body(doc2, record, managed_items={"900", "903"})
    items = body["item"]["items"]
    assert "orderStatus" not in body and body["externalId"] == "AMZ-202-0000001-0000001"
    by_line = {i.get("line"): i for i in items}
    assert by_line[1]["amount"] == Decimal("20.00") and by_line[1]["quantity"] == 2
    assert by_line[3]["isClosed"] is True and by_line[3]["amount"] == Decimal("0.00") and "quantity" not in by_line[3]
    assert by_line[2] == {"line": 2, "rate": 0, "amount": 0, "tax1Amt": 0, "isClosed": True}  # removed shipping
    assert 4 not in by_line  # a line someone added by hand in NetSuite is left alone
    assert all("line" in i for i in items)  # nothing appended: every line already exists


def test_cancel_body_closes_every_line_by_number():
    raw = mfn("202-0000001-0000001")
    doc = map_order(parse_order(raw), UK, item_ids=ITEMS, currency_ids={"GBP": "2"})
    record = _written(doc)
    cancelled = copy.deepcopy(raw)
    cancelled["fulfillment"]["fulfillmentStatus"] = "CANCELLED"
    doc_c = map_order(parse_order(cancelled), UK, item_ids=ITEMS, currency_ids={"GBP": "2"})
    body, replace = ops.cancel_body(doc_c, parse_order(cancelled), record)
    assert replace == ()
    assert [(i["line"], i["isClosed"]) for i in body["item"]["items"]] == [(1, True)]


def test_ack_processing_report_reading():
    xml = (b"<?xml version='1.0'?><AmazonEnvelope><Message><ProcessingReport><StatusCode>Complete</StatusCode>"
           b"<Result><MessageID>2</MessageID><ResultCode>Error</ResultCode><ResultMessageCode>25</ResultMessageCode>"
           b"<ResultDescription>AmazonOrderID x was not found.</ResultDescription></Result>"
           b"<Result><MessageID>3</MessageID><ResultCode>Warning</ResultCode></Result>"
           b"</ProcessingReport></Message></AmazonEnvelope>")
    assert ops.parse_ack_processing_report(xml) == (True, {2: "25: AmazonOrderID x was not found."})
    assert ops.parse_ack_processing_report(b"<AmazonEnvelope><Message><ProcessingReport><StatusCode>Processing"
                                           b"</StatusCode></ProcessingReport></Message></AmazonEnvelope>") == (False, {})
    assert ops.parse_ack_processing_report(b"not xml") == (False, {})
    assert ops.parse_ack_processing_report({"issues": []}) == (False, {})


# ================================================================================================
# extract
# ================================================================================================
def test_extract_widens_the_window_restarts_expired_pagination_and_retries_quarantine(state):
    sp = FakeSpApi([mfn(f"202-000000{n}-0000001") for n in range(1, 6)])
    sp.orders["202-0000009-0000009"] = mfn("202-0000009-0000009")
    state.quarantine("orders", "uk", "202-0000009-0000009", "earlier problem")
    sp.expire_after = 3
    flow = Flow(state, sp, FakeNetSuite())
    op = flow.op(ops.ExtractOrdersOperator, "extract_orders")
    # search would also return 202-0000009: hide it so it must come from the quarantine re-fetch
    del sp.orders["202-0000009-0000009"]
    sp.get_order = lambda oid, inc=None: (sp.get_calls.append((oid, tuple(inc))), mfn(oid))[1]
    out = op.execute(flow.context("r1", {}))
    assert out["counts"]["pagination_restarts"] == 1
    assert out["counts"]["searched"] == 5 and out["counts"]["refetched"] == 1 and out["counts"]["orders"] == 6
    call = sp.search_calls[0]
    assert call["last_updated_after"].isoformat() == "2026-10-14T23:50:00+00:00"  # 10 minutes of overlap
    assert call["last_updated_before"].isoformat() == "2026-10-15T12:00:00+00:00"
    # after the expiry the window is searched again in two halves
    assert [(c["last_updated_after"].isoformat()[11:16], c["last_updated_before"].isoformat()[11:16])
            for c in sp.search_calls[1:]] == [("23:50", "05:55"), ("05:55", "12:00")]
    assert call["included_data"] == ["PROCEEDS", "TAX", "PROMOTION", "FULFILLMENT", "CANCELLATION"]
    assert sp.get_calls == [("202-0000009-0000009", tuple(call["included_data"]))]
    assert len(state.get_batch(out["ref"])["orders"]) == 6


def test_expired_token_on_the_first_page_is_not_swallowed(state):
    sp = FakeSpApi([mfn("202-0000001-0000001")])
    sp.expire_after = 0
    flow = Flow(state, sp, FakeNetSuite())
    with pytest.raises(SpApiBadRequest):
        flow.op(ops.ExtractOrdersOperator, "extract_orders").execute(flow.context("r1", {}))


def test_order_ids_param_fetches_exactly_those(state):
    sp = FakeSpApi([mfn("202-0000001-0000001"), mfn("202-0000002-0000002")])
    flow = Flow(state, sp, FakeNetSuite())
    out = flow.op(ops.ExtractOrdersOperator, "extract_orders").execute(
        flow.context("r1", {}, order_ids=["202-0000002-0000002"]))
    assert sp.search_calls == [] and [c[0] for c in sp.get_calls] == ["202-0000002-0000002"]
    assert out["counts"]["orders"] == 1
    with pytest.raises(ValueError, match="not Amazon order ids"):
        flow.op(ops.ExtractOrdersOperator, "extract_orders").execute(flow.context("r1", {}, order_ids=["nope"]))


def test_pii_data_requested_only_when_enabled(state, monkeypatch):
    op = Flow(state, FakeSpApi(), FakeNetSuite()).op(ops.ExtractOrdersOperator, "extract_orders")
    assert "BUYER" not in op.included_data()
    op.__dict__["mp"] = marketplace("uk", orders={"pii": True})
    assert op.included_data()[-2:] == ["BUYER", "RECIPIENT"]


# ================================================================================================
# decide + branch
# ================================================================================================
def test_decide_counts_skips_quarantines_unknown_tax_scheme_and_branches(state):
    orders_ = [
        mfn("202-0000001-0000001"),
        mfn("202-0000002-0000002", status="PENDING"),
        fba("202-0000003-0000003", status="UNSHIPPED"),
        fba("202-0000004-0000004"),
        mfn("202-0000005-0000005", item("51", "SKU-1", 1, "10.00", "GBP", tax={"ITEM": "2.00"}, collector="XOSS")),
    ]
    flow = Flow(state, FakeSpApi(orders_), FakeNetSuite())
    x: dict[str, Any] = {}
    ctx = flow.context("r1", x)
    x["extract_orders"] = flow.op(ops.ExtractOrdersOperator, "extract_orders").execute(ctx)
    out = flow.op(ops.DecideOrdersOperator, "decide_tax_and_lifecycle").execute(ctx)
    c = out["counts"]
    assert (c["fba"], c["mfn"], c["upsert"]) == (1, 1, 2)
    assert c["skipped"] == {"pending": 1, "fba_not_shipped": 1}
    assert c["tax_lines"] == {"SELLER": 2}
    assert [q.key for q in state.open_quarantine("orders", "uk")] == ["202-0000005-0000005"]
    assert "unknown tax reportingScheme XOSS" in state.open_quarantine("orders", "uk")[0].reason
    x["decide_tax_and_lifecycle"] = out
    assert ops.BranchFulfilmentOperator(task_id="b").choose_branch(ctx) == ["map_fba", "map_mfn"]
    x["decide_tax_and_lifecycle"] = {"counts": {"fba": 0, "mfn": 0}}
    assert ops.BranchFulfilmentOperator(task_id="b").choose_branch(ctx) == ["no_orders"]


# ================================================================================================
# map + write
# ================================================================================================
def test_full_flow_writes_documents_acknowledges_and_is_idempotent(state):
    orders_ = [mfn("202-0000001-0000001"), fba("202-0000004-0000004"),
               mfn("202-0000006-0000006", item("61", "SKU-9", 1, "3.00", "GBP"))]  # SKU-9 unknown to NetSuite
    sp, ns = FakeSpApi(orders_), FakeNetSuite()
    flow = Flow(state, sp, ns)
    with pytest.raises(AirflowFailException, match="1 record\\(s\\) quarantined"):
        flow.run("r1")
    so = ns.doc("AMZ-202-0000001-0000001")
    assert ns.records[ns.by_eid["AMZ-202-0000001-0000001"]]["type"] == "salesOrder"
    assert ns.records[ns.by_eid["AMZ-202-0000004-0000004"]]["type"] == "cashSale"
    assert sum(ln["amount"] + ln.get("tax1Amt", 0) for ln in so["item"]["items"]) == Decimal("24.00")
    q = state.open_quarantine("orders", "uk")
    assert [r.key for r in q] == ["202-0000006-0000006"] and "SKU 'SKU-9' has no NetSuite item" in q[0].reason
    # the acknowledgement carries the NetSuite document number; FBA orders are not acknowledged
    (feed,) = sp.feeds.values()
    assert feed["type"] == "POST_ORDER_ACKNOWLEDGEMENT_DATA" and feed["content_type"] == "text/xml; charset=UTF-8"
    body = feed["body"].decode()
    assert f"<MerchantOrderID>SO{ns.by_eid['AMZ-202-0000001-0000001']}</MerchantOrderID>" in body
    assert "202-0000004-0000004" not in body and "<MerchantIdentifier>A2TESTSELLER</MerchantIdentifier>" in body
    assert state.is_processed("orders_ack", "uk", "202-0000001-0000001")
    # second run of the same window: no write, no PUT, no new feed; the quarantined order is still reported
    puts = sum(1 for c in ns.calls if c[0] in ("PUT", "PATCH"))
    with pytest.raises(AirflowFailException):
        flow.run("r2")
    assert sum(1 for c in ns.calls if c[0] in ("PUT", "PATCH")) == puts
    assert len(sp.feeds) == 1
    # the item appears in NetSuite: the next run writes the quarantined order and the run is green
    ns.items["SKU-9"] = "1009"
    x = flow.run("r3")
    assert x["orders_report"]["counts"] == {"fetched": 3, "created": 1, "updated": 0, "cancelled_closed": 0,
                                            "quarantined": 0, "ship_by_alerts": 2}  # both MFN orders due in 22 h
    assert state.open_quarantine("orders", "uk") == []
    assert len(sp.feeds) == 2 and "202-0000006-0000006" in sp.feeds["F2"]["body"].decode()


def test_changed_order_is_patched_in_place_never_put_twice(state):
    raw = mfn("202-0000001-0000001", item("A", "SKU-1", 2, "10.00", "GBP", tax={"ITEM": "4.00"}),
              item("B", "SKU-2", 1, "5.00", "GBP", tax={"ITEM": "1.00"}))
    sp, ns = FakeSpApi([raw]), FakeNetSuite()
    flow = Flow(state, sp, ns)
    flow.run("r1", stop_after="write")
    rid = ns.by_eid["AMZ-202-0000001-0000001"]
    # Amazon cancels item B
    changed = copy.deepcopy(raw)
    b = changed["orderItems"][1]
    b["quantityOrdered"] = 0
    b["proceeds"] = {"proceedsTotal": {"amount": "0.00", "currencyCode": "GBP"}, "breakdowns": []}
    b["cancellation"] = {"cancellationExecution": {"cancelledBy": "AMAZON"}}
    changed["proceeds"]["grandTotal"]["amount"] = "24.00"
    sp.orders[raw["orderId"]] = changed
    x = flow.run("r2", stop_after="write")
    assert x["write_mfn"]["counts"]["outcomes"] == {"salesOrder:updated": 1}
    assert [c for c in ns.calls if c[0] == "PUT"] == [("PUT", "AMZ-202-0000001-0000001")]
    lines = ns.records[rid]["body"]["item"]["items"]
    assert len(lines) == 2
    assert lines[1]["isClosed"] is True and lines[1]["amount"] == Decimal("0.00") and lines[1]["quantity"] == 1
    assert sum(ln["amount"] + ln.get("tax1Amt", 0) for ln in lines) == Decimal("24.00")
    # whole order cancelled: the lines are closed, the record stays
    cancelled = copy.deepcopy(changed)
    cancelled["fulfillment"]["fulfillmentStatus"] = "CANCELLED"
    sp.orders[raw["orderId"]] = cancelled
    x = flow.run("r3", stop_after="write")
    assert x["write_mfn"]["counts"]["outcomes"] == {"salesOrder:closed": 1}
    assert all(ln.get("isClosed") for ln in ns.records[rid]["body"]["item"]["items"])
    assert list(ns.by_eid) == ["AMZ-202-0000001-0000001"]


def test_validation_error_quarantines_one_order_and_transient_failure_fails_after_the_rest(state):
    orders_ = [mfn(f"202-000000{n}-0000001") for n in range(1, 5)]
    sp, ns = FakeSpApi(orders_), FakeNetSuite()
    bad = NetSuiteValidationError(400, "USER_ERROR", "item.items[0].item",
                                  f"Invalid Field Value for customer {PII_NAME}")
    ns.fail_put["AMZ-202-0000001-0000001"] = [bad]
    ns.fail_put["AMZ-202-0000002-0000001"] = [NetSuiteServerError(503, None, None, "down")] * 3
    flow = Flow(state, sp, ns)
    with pytest.raises(RuntimeError, match="1 uk MFN order\\(s\\) could not be written"):
        flow.run("r1", stop_after="write")
    assert set(ns.by_eid) == {"AMZ-202-0000003-0000001", "AMZ-202-0000004-0000001"}
    (q,) = state.open_quarantine("orders", "uk")
    assert q.key == "202-0000001-0000001"
    assert q.reason.startswith("NetSuite rejected the document: USER_ERROR at item.items[0].item: Invalid Field Value")
    # the task retry writes only what is left (the quarantined order is attempted again, the rest is done)
    write = flow.op(ops.WriteOrdersOperator, "write_mfn", channel="MFN")
    x = {"map_mfn": {"ref": "adhoc_airflow/r1/orders/map/MFN"}}
    out = write.execute(flow.context("r1", x))
    assert out["counts"]["outcomes"] == {"salesOrder:created": 4}
    assert [c[1] for c in ns.calls if c[0] == "PUT"].count("AMZ-202-0000003-0000001") == 1
    assert state.open_quarantine("orders", "uk") == []


def test_documents_written_without_their_number_are_acknowledged_after_the_task_retry(state):
    """The number read-back after the writes fails: the task fails (not silently green), the retry reads the
    numbers without writing again, and the acknowledgement carries them (the fault test once lost a
    marketplace's acknowledgements this way: the write task succeeded with nothing queued)."""
    orders_ = [mfn("202-0000001-0000001"), mfn("202-0000002-0000002")]
    sp, ns = FakeSpApi(orders_), FakeNetSuite()
    ns.fail_tranid_reads = 1
    flow = Flow(state, sp, ns)
    with pytest.raises(RuntimeError, match="2 uk MFN document\\(s\\) were written but NetSuite failed while their "
                                           "document numbers were read"):
        flow.run("r1", stop_after="write")
    assert state.get_accepted("orders_ack_queue", "uk") == {}
    puts = [c for c in ns.calls if c[0] in ("PUT", "PATCH")]
    assert len(puts) == 2
    write = flow.op(ops.WriteOrdersOperator, "write_mfn", channel="MFN")
    x = {"map_mfn": {"ref": "adhoc_airflow/r1/orders/map/MFN"}}
    out = write.execute(flow.context("r1", x))
    assert out["counts"]["outcomes"] == {"salesOrder:created": 2}
    assert [c for c in ns.calls if c[0] in ("PUT", "PATCH")] == puts  # nothing written twice
    queue = state.get_accepted("orders_ack_queue", "uk")
    assert {oid: q["tranid"] for oid, q in queue.items()} == {
        "202-0000001-0000001": f"SO{ns.by_eid['AMZ-202-0000001-0000001']}",
        "202-0000002-0000002": f"SO{ns.by_eid['AMZ-202-0000002-0000002']}"}
    x["write_mfn"] = out
    ack = flow.op(ops.AcknowledgeOrdersOperator, "acknowledge_orders", deferrable=False, poll_interval=0)
    assert ack.execute(flow.context("r1", x))["counts"]["accepted"] == 2
    assert state.is_processed("orders_ack", "uk", "202-0000002-0000002")


def test_dry_run_writes_nothing(state):
    sp, ns = FakeSpApi([mfn("202-0000001-0000001"), mfn("202-0000002-0000002", item("9", "SKU-9", 1, "1.00", "GBP"))]), \
        FakeNetSuite()
    x = Flow(state, sp, ns).run("r1", dry_run=True, allow_quarantine=True)
    assert ns.by_eid == {} and sp.feeds == {}
    assert x["write_mfn"]["counts"]["outcomes"] == {"salesOrder:would_create": 1}
    assert state.open_quarantine() == []  # a dry run records nothing
    assert x["orders_report"]["counts"]["quarantined"] == 1


# ================================================================================================
# writebacks
# ================================================================================================
def test_rejected_acknowledgement_is_quarantined_and_retried_when_the_order_is_seen_again(state):
    sp, ns = FakeSpApi([mfn("202-0000001-0000001"), mfn("202-0000002-0000002")]), FakeNetSuite()
    sp.feed_errors = {2: "Order 202-0000002-0000002 cannot be acknowledged."}
    flow = Flow(state, sp, ns)
    with pytest.raises(AirflowFailException, match="1 record"):
        flow.run("r1")
    assert state.is_processed("orders_ack", "uk", "202-0000001-0000001")
    assert not state.is_processed("orders_ack", "uk", "202-0000002-0000002")
    (q,) = state.open_quarantine("orders_ack", "uk")
    assert q.reason == "Amazon rejected the order acknowledgement — 25: Order 202-0000002-0000002 cannot be acknowledged."
    sp.feed_errors = {}
    flow.run("r2")
    assert len(sp.feeds) == 2
    second = sp.feeds["F2"]["body"].decode()
    assert "202-0000002-0000002" in second and "202-0000001-0000001" not in second  # acknowledged once only
    assert state.open_quarantine("orders_ack", "uk") == []


def test_unfinished_feed_keeps_orders_queued(state):
    sp, ns = FakeSpApi([mfn("202-0000001-0000001")]), FakeNetSuite()
    sp.feed_status = "FATAL"
    flow = Flow(state, sp, ns)
    x = flow.run("r1")
    assert x["acknowledge_orders"]["counts"]["unconfirmed"] == 1
    assert not state.is_processed("orders_ack", "uk", "202-0000001-0000001")
    sp.feed_status = "DONE"
    flow.run("r2")
    assert len(sp.feeds) == 2 and state.is_processed("orders_ack", "uk", "202-0000001-0000001")


def test_fulfilment_with_tracking_is_confirmed_once_and_ship_by_alerts(state):
    raw = mfn("202-0000001-0000001")
    late = mfn("202-0000002-0000002")
    late["fulfillment"]["shipByWindow"]["latestDateTime"] = "2026-10-15T18:00:00Z"
    sp, ns = FakeSpApi([raw, late]), FakeNetSuite()
    flow = Flow(state, sp, ns)
    flow.run("r1")
    rid = ns.by_eid["AMZ-202-0000001-0000001"]
    ns.records["777"] = {"type": "itemFulfillment", "body": {
        "id": "777", "tranDate": "2026-10-15", "shipCarrier": {"refName": "Royal Mail"},
        "package": {"items": [{"packageTrackingNumber": "RM123456789GB"}]},
        "item": {"items": [{"line": 1, "quantity": 2, ORDER_ITEM_ID_FIELD: "11"}]}}}
    ns.fulfilments = [{"id": "777", "tranid": "IF1", "order_internal_id": rid, "order_external_id": "AMZ-202-0000001-0000001"},
                      {"id": "778", "tranid": "IF2", "order_internal_id": "1", "order_external_id": "AMZ-999-0000000-0000000"}]
    x = flow.run("r2")
    assert x["confirm_shipments"]["counts"]["confirmed"] == 1
    ((oid, mid, detail),) = sp.confirmations
    assert (oid, mid) == ("202-0000001-0000001", "A1F83G8C2ARO7P")
    assert detail["packageReferenceId"] == "777" and detail["carrierCode"] == "Royal Mail"
    assert detail["trackingNumber"] == "RM123456789GB" and detail["orderItems"] == [{"orderItemId": "11", "quantity": 2}]
    # ship-by: 202-0000002 is due 6 h after the window end and has no fulfilment
    alerts = state.get_batch(x["confirm_shipments"]["ref"])["alerts"]
    assert [(a["order_id"], a["minutes_left"], a["overdue"]) for a in alerts] == [("202-0000002-0000002", 360, False)]
    x = flow.run("r3")
    assert len(sp.confirmations) == 1 and x["confirm_shipments"]["counts"]["already_confirmed"] == 1


def test_report_fails_visibly_unless_allow_quarantine_and_keeps_pii_out(state, capsys):
    raw = mfn("202-0000001-0000001", item("1", "SKU-9", 1, "1.00", "GBP"),
              buyer={"buyerName": PII_NAME, "buyerEmail": PII_EMAIL})
    sp, ns = FakeSpApi([raw]), FakeNetSuite()
    flow = Flow(state, sp, ns)
    with pytest.raises(AirflowFailException, match="quarantined"):
        flow.run("r1")
    x = flow.run("r2", allow_quarantine=True)
    assert x["orders_report"]["counts"]["quarantined"] == 1
    summary = state.run_summaries("adhoc_airflow", "r2")["orders_report"]
    assert summary["quarantine_reasons"][0]["key"] == "202-0000001-0000001"
    everything = json.dumps([x, summary, [q.reason for q in state.open_quarantine()]], default=str) + \
        "".join(capsys.readouterr())
    assert PII_NAME not in everything and PII_EMAIL not in everything
