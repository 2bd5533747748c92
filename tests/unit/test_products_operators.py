"""Products sync operators and DAG with fake hooks (no network): query, definitions, plan, preview, report."""

from __future__ import annotations

import copy
import json
import socket
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from airflow_provider_amznetsuite.config import load_config
from airflow_provider_amznetsuite.dag_factory.products import build
from airflow_provider_amznetsuite.domain.listings import discontinued_hash
from airflow_provider_amznetsuite.hooks.netsuite_errors import NetSuiteValidationError
from airflow_provider_amznetsuite.hooks.spapi_errors import SpApiNotFound
from airflow_provider_amznetsuite.operators.products import (
    DELETED_MARKER,
    TASK_FETCH,
    TASK_PLAN,
    TASK_PUSH,
    TASK_READ,
    TASK_REPORT,
    build_item_select,
    item_columns,
    missing_field,
)
from airflow_provider_amznetsuite.state import SyncStateStore

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "product_types"
UK = "A1F83G8C2ARO7P"
APP = load_config(ROOT / "dags" / "marketplaces.yaml")


# -- fakes ------------------------------------------------------------------------------------------
def gtin13(n: int) -> str:
    body = f"500{n:09d}"
    odd = sum(int(d) for d in body[0::2])
    even = sum(int(d) for d in body[1::2])
    return body + str((10 - (odd + 3 * even) % 10) % 10)


def kitchen_row(n: int, **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": str(1000 + n), "itemid": f"SKU-{n:05d}", "itemtype": "InvtPart", "category": "Kitchen",
        "displayname": f"Product {n}", "salesdescription": f"Product number {n}.",
        "custitem_amz_brand": "Brand", "upccode": gtin13(n), "weight": "0.450", "weightunit": "kg",
        "isinactive": "F", "custitem_amz_publish": "T", "custitem_amz_image_main": f"https://img.example/{n}.jpg",
    }
    row.update(overrides)
    return row


def shirt_family() -> list[dict[str, Any]]:
    rows = [{"id": "2000", "itemid": "MTX-001", "itemtype": "InvtPart", "matrixtype": "PARENT", "category": "Apparel",
             "displayname": "T-Shirt", "salesdescription": "Cotton T-shirt.", "custitem_amz_brand": "Brand",
             "custitem_amz_variation_theme": "SIZE", "isinactive": "F", "custitem_amz_publish": "T"}]
    for i, size in enumerate("SML"):
        rows.append({"id": str(2001 + i), "itemid": f"MTX-001-{size}", "itemtype": "InvtPart", "matrixtype": "CHILD",
                     "parent_sku": "MTX-001", "category": "Apparel", "displayname": f"T-Shirt {size}",
                     "salesdescription": "Cotton T-shirt.", "custitem_amz_brand": "Brand",
                     "upccode": gtin13(900 + i), "custitem_amz_var_size": size, "isinactive": "F",
                     "custitem_amz_publish": "T"})
    return rows


class FakeNetSuite:
    """SuiteQL over in-memory rows; fields in ``missing`` answer like NetSuite for unknown columns."""

    def __init__(self, rows: list[dict[str, Any]], missing: tuple[str, ...] = ()) -> None:
        self.rows = rows
        self.missing = set(missing)
        self.queries: list[tuple[str, str, Any]] = []

    def _check(self, sql: str) -> None:
        for name in sorted(self.missing):
            if f"i.{name} " in sql or f"i.{name}," in sql or f"i.{name} =" in sql:
                raise NetSuiteValidationError(
                    400, "INVALID_PARAMETER", None, "Invalid search query. Detailed unprocessed description "
                    f"follows. Search error occurred: Field '{name}' for record 'item' was not found.")

    def suiteql_keyset(self, select_sql: str, *, key: str, where: str, params: Any = None,
                       page_size: int = 1000) -> Iterator[dict[str, Any]]:
        self.queries.append(("keyset", select_sql, where))
        self._check(select_sql + " WHERE " + where)
        flag = where.split()[0].split(".", 1)[1]
        return iter([dict(r) for r in self.rows if r.get(flag) == "T"])

    def suiteql(self, query: str, params: Mapping[str, Any] | None = None, page_size: int = 1000) -> Iterator[dict]:
        self.queries.append(("suiteql", query, params))
        self._check(query)
        skus = set((params or {}).get("skus") or [])
        return iter([dict(r) for r in self.rows if r["itemid"] in skus])


def _definition(name: str, requirements: str) -> dict[str, Any]:
    definition = json.loads((FIXTURES / f"{name}.definition.json").read_text(encoding="utf-8"))
    definition["requirements"] = requirements
    definition["marketplaceIds"] = [UK]
    schema = json.loads((FIXTURES / f"{name}.schema.json").read_text(encoding="utf-8"))
    return {"definition": definition, "schema": schema}


class FakeSpApi:
    seller_id = "A2SELLER"

    def __init__(self, listed: Mapping[str, str] | None = None, reject_preview: tuple[str, ...] = ()) -> None:
        self.listed = dict(listed or {})  # sku -> fulfillment channel
        self.reject_preview = set(reject_preview)
        self.definition_calls: list[tuple[str, str]] = []
        self.lookups: list[str] = []
        self.previews: list[tuple[str, str, dict[str, Any], str | None]] = []

    def get_product_type_definition(self, product_type: str, marketplace_id: str, requirements: str = "LISTING",
                                    **_: Any) -> dict[str, Any]:
        self.definition_calls.append((product_type, requirements))
        if product_type not in ("KITCHEN", "SHIRT"):
            raise SpApiNotFound(404, [{"code": "NotFound", "message": f"Product type {product_type} was not found."}],
                                "getDefinitionsProductType")
        return _definition(product_type, requirements)

    def get_listings_item(self, seller_id: Any, sku: str, marketplace_ids: Any, included_data: Any = None,
                          **_: Any) -> dict[str, Any]:
        self.lookups.append(sku)
        if sku not in self.listed:
            raise SpApiNotFound(404, [{"code": "NOT_FOUND", "message": "no listing"}], "getListingsItem")
        return {"sku": sku, "fulfillmentAvailability": [{"fulfillmentChannelCode": self.listed[sku]}]}

    def _preview(self, op: str, sku: str, body: Any, mode: str | None) -> dict[str, Any]:
        self.previews.append((op, sku, copy.deepcopy(dict(body)), mode))
        if sku in self.reject_preview:
            return {"sku": sku, "status": "INVALID", "issues": [
                {"code": "90220", "message": "'brand' is required but not supplied.", "severity": "ERROR",
                 "attributeNames": ["brand"]}]}
        return {"sku": sku, "status": "VALID", "issues": []}

    def put_listings_item(self, seller_id: Any, sku: str, mids: Any, body: Any, mode: str | None = None,
                          **_: Any) -> dict[str, Any]:
        return self._preview("put", sku, body, mode)

    def patch_listings_item(self, seller_id: Any, sku: str, mids: Any, body: Any, mode: str | None = None,
                            **_: Any) -> dict[str, Any]:
        return self._preview("patch", sku, body, mode)


class _TI:
    def __init__(self) -> None:
        self.xcom: dict[str, Any] = {}

    def xcom_pull(self, task_ids: str | None = None, key: str = "return_value") -> Any:
        return self.xcom.get(task_ids or "")


class Harness:
    def __init__(self, tmp_path: Path, rows: list[dict[str, Any]], code: str = "uk", db: str = "state.db") -> None:
        self.state = SyncStateStore(f"sqlite:///{tmp_path / db}")
        self.rows = rows
        self.code = code
        self.netsuite = FakeNetSuite(rows)
        self.spapi = FakeSpApi()
        self.runs = 0

    def dag(self) -> Any:
        dag = build(APP.marketplaces[self.code], APP)
        for task in dag.tasks:
            task.__dict__["state"] = self.state
            task.__dict__["app_config"] = APP
            task.spapi_hook = lambda: self.spapi
            task.netsuite_hook = lambda: self.netsuite
        return dag

    def run(self, *, until: str = TASK_PLAN, run_id: str | None = None, **params: Any) -> dict[str, Any]:
        self.runs += 1
        dag = self.dag()
        full = dag.params.dump()
        full.update(params)
        ti = _TI()
        run_id = run_id or f"run{self.runs}"
        self.context = {"ti": ti, "params": full, "dag_run": SimpleNamespace(run_id=run_id), "run_id": run_id}
        out: dict[str, Any] = {}
        for task_id in (TASK_READ, TASK_FETCH, TASK_PLAN, TASK_PUSH, TASK_REPORT):
            if task_id == TASK_PUSH:
                if until == TASK_PLAN:
                    break
                continue  # the push is simulated by the tests (accept / reject)
            result = dag.get_task(task_id).execute(self.context)
            ti.xcom[task_id] = result
            out[task_id] = result
            if task_id == until:
                break
        self.ti = ti
        self.last_dag = dag
        return out

    def details(self, out: Mapping[str, Any]) -> dict[str, Any]:
        return self.state.get_batch(out[TASK_PLAN]["details"])

    def plan(self, out: Mapping[str, Any]) -> dict[str, Any]:
        return self.state.get_batch(out[TASK_PLAN]["ref"])

    def accept(self, out: Mapping[str, Any], skus: Any = None) -> None:
        """What the push operator does for accepted SKUs: record the plan's values."""
        values = self.plan(out)["values"]
        chosen = values if skus is None else {s: values[s] for s in skus}
        self.state.set_accepted("products", self.code, chosen)
        self.state.resolve("products", self.code, chosen.keys())

    def messages(self, out: Mapping[str, Any]) -> list[dict[str, Any]]:
        return [m for f in self.plan(out)["feeds"] for m in json.loads(f["body"])["messages"]]


# -- SuiteQL ----------------------------------------------------------------------------------------
def test_item_query_selects_the_field_contract_for_the_marketplace_locale() -> None:
    de = APP.marketplaces["de"]
    names = [c.alias for c in item_columns(de)]
    for level in ("_de_de", "_de", ""):
        assert f"custitem_amz_title{level}" in names and f"custitem_amz_description{level}" in names
        assert all(f"custitem_amz_bullet{n}{level}" in names for n in range(1, 6))
    assert not any(n.endswith("_en_gb") for n in names)
    for name in ("id", "itemid", "parent_sku", "category", "salesdescription", "upccode", "custitem_amz_publish",
                 "custitem_amz_brand", "custitem_amz_image_main_width", "custitem_amz_image_8",
                 "custitem_amz_var_size", "custitem_amz_attr_batteries_required", "custitem_amz_discontinued"):
        assert name in names
    sql = build_item_select(item_columns(de))
    assert sql.startswith("SELECT i.id AS id, i.itemid AS itemid")
    assert "p.itemid AS parent_sku" in sql and "i.description AS salesdescription" in sql
    assert sql.endswith("FROM item i LEFT JOIN item p ON p.id = i.parent")
    bad = de.model_copy(update={"products": de.products.model_copy(update={"flag_field": "custitem_x; DROP"})})
    with pytest.raises(AirflowFailException, match="products.flag_field"):
        item_columns(bad)


@pytest.mark.parametrize("text, field", [
    ("Invalid search query. Detailed unprocessed description follows. Search error occurred: Field "
     "'custitem_amz_asin' for record 'item' was not found. Reason: NOT_EXPOSED", "custitem_amz_asin"),
    ("Search error occurred: Unknown identifier 'i.countryofmanufacture'.", "countryofmanufacture"),
    ("Invalid search query: invalid number", None),
])
def test_missing_field_is_read_from_netsuites_error(text: str, field: str | None) -> None:
    exc = NetSuiteValidationError(400, "INVALID_PARAMETER", None, text)
    assert missing_field(exc) == field


def test_optional_fields_the_account_lacks_are_dropped_required_ones_fail(tmp_path: Path) -> None:
    h = Harness(tmp_path, [kitchen_row(1), kitchen_row(2, custitem_amz_publish="F")])
    h.netsuite.missing = {"countryofmanufacture", "custitem_amz_asin", "custitem_amz_category"}
    out = h.run(until=TASK_READ)
    assert out[TASK_READ]["counts"] == {"items": 1, "flagged": 1, "previously_listed_only": 0, "dropped_fields": 3}
    batch = h.state.get_batch(out[TASK_READ]["ref"])
    assert batch["dropped_fields"] == ["countryofmanufacture", "custitem_amz_asin", "custitem_amz_category"]
    last_sql = h.netsuite.queries[-1][1]
    assert "countryofmanufacture" not in last_sql and "NULL AS category" in last_sql

    h.netsuite.missing = {"upccode"}
    with pytest.raises(AirflowFailException, match="'upccode'"):
        h.run(until=TASK_READ)
    h.netsuite.missing = {"custitem_amz_publish"}
    with pytest.raises(AirflowFailException, match="products.flag_field 'custitem_amz_publish' does not exist"):
        h.run(until=TASK_READ)


def test_skus_listed_before_are_read_even_when_no_longer_flagged(tmp_path: Path) -> None:
    h = Harness(tmp_path, [kitchen_row(1), kitchen_row(2, custitem_amz_publish="F"),
                           kitchen_row(3, custitem_amz_publish="F")])
    h.state.set_accepted("products", "uk", {"SKU-00002": "listing:v1:abc", "SKU-00003": DELETED_MARKER})
    out = h.run(until=TASK_READ)
    assert out[TASK_READ]["counts"]["previously_listed_only"] == 1
    (kind, sql, params) = h.netsuite.queries[-1]
    assert kind == "suiteql" and sql.endswith("WHERE i.itemid IN (:skus)") and params == {"skus": ["SKU-00002"]}
    rows = h.state.get_batch(out[TASK_READ]["ref"])["rows"]
    assert [r["itemid"] for r in rows] == ["SKU-00001", "SKU-00002"]


# -- product type definitions -------------------------------------------------------------------------
def test_definitions_are_fetched_once_per_product_type_and_requirements(tmp_path: Path) -> None:
    rows = [kitchen_row(1), kitchen_row(2), *shirt_family(), kitchen_row(3, category="Toys")]
    h = Harness(tmp_path, rows)
    out = h.run()
    assert sorted(h.spapi.definition_calls) == [
        ("KITCHEN", "LISTING"), ("SHIRT", "LISTING"), ("SHIRT", "LISTING_PRODUCT_ONLY"), ("TOY_FIGURE", "LISTING")]
    assert out[TASK_FETCH]["counts"] == {"product_types": 3, "definitions": 3, "failed": 1}
    details = h.details(out)
    (toy,) = [i for i in details["invalid"] if i["sku"] == "SKU-00003"]
    assert toy["violations"][0]["path"] == "/productType" and toy["violations"][0]["rule"] == "productTypeDefinition"
    assert "TOY_FIGURE" in details["definition_failures"]["TOY_FIGURE|LISTING"]


# -- plan ---------------------------------------------------------------------------------------------
def test_plan_values_are_exactly_what_the_next_run_compares(tmp_path: Path) -> None:
    h = Harness(tmp_path, [kitchen_row(1), kitchen_row(2), *shirt_family()])
    first = h.run()
    plan = h.plan(first)
    assert first[TASK_PLAN]["messages"] == 6 and first[TASK_PLAN]["feeds"] == 1
    msgs = h.messages(first)
    assert [m["sku"] for m in msgs][0] == "MTX-001"  # variation parent first
    assert {m["operationType"] for m in msgs} == {"UPDATE"}
    assert all(v.startswith("listing:v1:") for v in plan["values"].values())
    header = json.loads(plan["feeds"][0]["body"])["header"]
    assert header == {"sellerId": "A2SELLER", "version": "2.0"}
    assert plan["feeds"][0]["sent"] == {str(i + 1): m["sku"] for i, m in enumerate(msgs)}

    h.accept(first)  # the push operator records the plan's values for accepted SKUs
    second = h.run()
    assert second[TASK_PLAN]["ref"] is None and second[TASK_PLAN]["messages"] == 0
    assert h.details(second)["counts"]["unchanged"] == 6

    h.rows[0]["displayname"] = "Product 1 — new name"
    third = h.run()
    assert [(m["sku"], m["operationType"]) for m in h.messages(third)] == [("SKU-00001", "PARTIAL_UPDATE")]
    assert "requirements" not in h.messages(third)[0]
    assert h.plan(third)["values"]["SKU-00001"] != plan["values"]["SKU-00001"]


def test_skus_amazon_already_lists_are_partially_updated_never_replaced(tmp_path: Path) -> None:
    h = Harness(tmp_path, [kitchen_row(1), kitchen_row(2), kitchen_row(3)])
    h.spapi.listed = {"SKU-00001": "DEFAULT", "SKU-00002": "AMAZON_EU"}
    h.state.set_accepted("products", "uk", {"SKU-00003": "listing:v1:old"})
    out = h.run()
    ops = {m["sku"]: m["operationType"] for m in h.messages(out)}
    assert ops == {"SKU-00001": "PARTIAL_UPDATE", "SKU-00002": "PARTIAL_UPDATE", "SKU-00003": "PARTIAL_UPDATE"}
    assert sorted(h.spapi.lookups) == ["SKU-00001", "SKU-00002"]  # SKUs with an accepted hash are not looked up

    h2 = Harness(tmp_path, [kitchen_row(4)], db="other.db")
    out2 = h2.run()
    assert [(m["sku"], m["operationType"], m["requirements"]) for m in h2.messages(out2)] == [
        ("SKU-00004", "UPDATE", "LISTING")]


def test_retired_items_are_flagged_once_fba_quantity_untouched_and_never_deleted(tmp_path: Path) -> None:
    rows = [kitchen_row(1, isinactive="T"), kitchen_row(2, custitem_amz_discontinued="T"),
            kitchen_row(3, custitem_amz_publish="F"), kitchen_row(4, isinactive="T")]
    h = Harness(tmp_path, rows)
    h.state.set_accepted("products", "uk", {"SKU-00001": "listing:v1:a", "SKU-00002": "listing:v1:b",
                                            "SKU-00003": "listing:v1:c"})
    h.spapi.listed = {"SKU-00001": "DEFAULT", "SKU-00002": "AMAZON_EU", "SKU-00003": "DEFAULT"}
    out = h.run()
    msgs = {m["sku"]: m for m in h.messages(out)}
    assert set(msgs) == {"SKU-00001", "SKU-00003"}
    assert all(m["operationType"] == "PATCH" for m in msgs.values())
    assert msgs["SKU-00001"]["patches"] == [{"op": "merge", "path": "/attributes/fulfillment_availability",
                                             "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": 0}]}]
    status = {d["sku"]: d["status"] for d in h.details(out)["discontinued"]}
    assert status == {"SKU-00001": "flag", "SKU-00002": "fba_no_action", "SKU-00003": "flag",
                      "SKU-00004": "never_listed"}
    assert h.plan(out)["values"]["SKU-00001"] == discontinued_hash("zero_quantity")
    # a retired SKU Amazon does not list is remembered: no lookup next run
    assert "SKU-00004" in h.spapi.lookups
    h.accept(out)
    h.spapi.lookups.clear()
    again = h.run()
    assert again[TASK_PLAN]["ref"] is None and h.spapi.lookups == ["SKU-00002"]
    assert {d["sku"]: d["status"] for d in h.details(again)["discontinued"]}["SKU-00001"] == "already_flagged"


def test_delete_only_the_skus_named_in_the_param(tmp_path: Path) -> None:
    h = Harness(tmp_path, [kitchen_row(1), kitchen_row(2)])
    out = h.run(delete_skus=["SKU-00002", " SKU-00002", "SKU-00099"])
    ops = [(m["sku"], m["operationType"]) for m in h.messages(out)]
    assert ops == [("SKU-00001", "UPDATE"), ("SKU-00002", "DELETE"), ("SKU-00099", "DELETE")]
    assert h.plan(out)["values"]["SKU-00002"] == DELETED_MARKER
    assert "SKU-00002" not in h.spapi.lookups
    plain = h.run()
    assert all(m["operationType"] != "DELETE" for m in h.messages(plain))
    with pytest.raises(AirflowFailException, match="Param delete_skus: SKU .* longer than"):
        h.run(delete_skus=["X" * 41])


def test_invalid_items_are_quarantined_with_paths_and_resolved_once_fixed(tmp_path: Path) -> None:
    h = Harness(tmp_path, [kitchen_row(1, upccode="5000000000019"), kitchen_row(2, custitem_amz_brand=None)])
    out = h.run()
    assert out[TASK_PLAN]["ref"] is None
    reasons = {r.key: r.reason for r in h.state.open_quarantine("products", "uk")}
    assert reasons["SKU-00001"].startswith(
        "SKU-00001: /attributes/externally_assigned_product_identifier/0/value [gtinCheckDigit]")
    assert reasons["SKU-00002"].startswith("SKU-00002: /attributes/brand [required]")
    assert "custitem_amz_brand" in reasons["SKU-00002"]
    h.rows[0]["upccode"] = gtin13(1)
    h.rows[1]["custitem_amz_brand"] = "Brand"
    fixed = h.run()
    assert fixed[TASK_PLAN]["messages"] == 2
    h.accept(fixed)
    assert h.state.open_quarantine("products", "uk") == []


def test_dry_run_plans_but_writes_no_plan_and_no_quarantine(tmp_path: Path) -> None:
    h = Harness(tmp_path, [kitchen_row(1), kitchen_row(2, custitem_amz_brand=None)])
    out = h.run(dry_run=True)
    assert out[TASK_PLAN]["ref"] is None and out[TASK_PLAN]["counts"]["new"] == 1
    assert h.state.open_quarantine("products", "uk") == []


def test_validation_preview_asks_amazon_and_records_nothing(tmp_path: Path) -> None:
    h = Harness(tmp_path, [kitchen_row(1), kitchen_row(2), kitchen_row(3, isinactive="T")])
    h.spapi.listed = {"SKU-00002": "DEFAULT", "SKU-00003": "DEFAULT"}
    h.state.set_accepted("products", "uk", {"SKU-00003": "listing:v1:c"})
    h.spapi.reject_preview = {"SKU-00002"}
    out = h.run(validation_preview=True, delete_skus=["SKU-00009"])
    assert out[TASK_PLAN]["ref"] is None
    calls = {(op, sku): (body, mode) for op, sku, body, mode in h.spapi.previews}
    assert {k: v[1] for k, v in calls.items()} == {("put", "SKU-00001"): "VALIDATION_PREVIEW",
                                                   ("patch", "SKU-00002"): "VALIDATION_PREVIEW",
                                                   ("patch", "SKU-00003"): "VALIDATION_PREVIEW"}
    put_body = calls[("put", "SKU-00001")][0]
    assert put_body["requirements"] == "LISTING" and put_body["attributes"]["item_name"][0]["value"] == "Product 1"
    patch_ops = {p["path"]: p["op"] for p in calls[("patch", "SKU-00002")][0]["patches"]}
    assert patch_ops["/attributes/item_name"] == "replace" and set(patch_ops.values()) == {"replace"}
    preview = h.details(out)["preview"]
    assert preview["SKU-00002"]["status"] == "INVALID" and preview["SKU-00002"]["issues"][0]["code"] == "90220"
    assert preview["SKU-00009"]["status"] == "NOT_PREVIEWED"
    assert h.state.get_accepted("products", "uk") == {"SKU-00003": "listing:v1:c"}

    push = h.last_dag.get_task(TASK_PUSH)
    with pytest.raises(AirflowSkipException, match="validation_preview"):
        push.execute(h.context)
    summary = h.last_dag.get_task(TASK_REPORT).execute(h.context)  # Amazon's preview issues are reported only
    assert summary["preview_invalid"] == 1 and summary["preview_valid"] == 2
    assert summary["preview_issues"] == [
        {"sku": "SKU-00002", "issues": ["90220: 'brand' is required but not supplied."]}]
    assert summary["accepted"] == 0 and summary["sent"] == 0


# -- report -------------------------------------------------------------------------------------------
def test_report_counts_accepted_rejected_deleted_and_fails_only_on_quarantine(tmp_path: Path) -> None:
    h = Harness(tmp_path, [kitchen_row(1), kitchen_row(2), kitchen_row(3, custitem_amz_brand=None)])
    out = h.run(delete_skus=["SKU-00050"])
    run_id = h.context["dag_run"].run_id
    dag_id = h.last_dag.dag_id
    # simulate the push: SKU-00001 and the delete accepted, SKU-00002 rejected by Amazon
    h.accept(out, ["SKU-00001", "SKU-00050"])
    h.state.quarantine("products", "uk", "SKU-00002", "Amazon rejected the listing update — 8541: mismatch",
                       detail="feed 123")
    h.state.record_run(dag_id, run_id, TASK_PUSH, {"accepted": 2, "rejected": 1})
    report = h.last_dag.get_task(TASK_REPORT)
    with pytest.raises(AirflowFailException, match="2 record\\(s\\) quarantined"):
        report.execute(h.context)
    summary = h.state.run_summaries(dag_id, run_id)[TASK_REPORT]
    assert (summary["new"], summary["invalid"], summary["accepted"], summary["rejected"], summary["deleted"]) \
        == (2, 1, 2, 1, 1)
    assert summary["rejected_items"] == [{"sku": "SKU-00002",
                                          "reason": "Amazon rejected the listing update — 8541: mismatch"}]
    assert summary["invalid_items"][0]["sku"] == "SKU-00003"
    assert summary["invalid_items"][0]["violations"][0].startswith("/attributes/brand [required]")
    assert "SKU-00050" not in h.state.get_accepted("products", "uk")  # deletion confirmed: no longer ours
    with pytest.raises(KeyError):
        h.state.get_batch(out[TASK_READ]["ref"])  # the large batches are dropped after the report

    h.context["params"]["allow_quarantine"] = True
    assert report.execute(h.context)["quarantined"] == 2


def test_reactivated_skus_have_their_offer_and_quantity_resent(tmp_path: Path) -> None:
    h = Harness(tmp_path, [kitchen_row(1)])
    h.state.set_accepted("products", "uk", {"SKU-00001": discontinued_hash("zero_quantity_and_inactive")})
    h.state.set_accepted("pricing", "uk", {"SKU-00001": {"fingerprint": "x"}})
    h.state.set_accepted("inventory", "uk", {"SKU-00001": 0})
    out = h.run()
    assert h.details(out)["reactivated"] == ["SKU-00001"]
    h.accept(out)
    h.state.record_run(h.last_dag.dag_id, h.context["dag_run"].run_id, TASK_PUSH, {"accepted": 1})
    h.last_dag.get_task(TASK_REPORT).execute(h.context)
    assert h.state.get_accepted("pricing", "uk") == {} and h.state.get_accepted("inventory", "uk") == {}


def test_report_without_a_plan_fails_with_a_clear_message(tmp_path: Path) -> None:
    h = Harness(tmp_path, [kitchen_row(1)])
    h.run(until=TASK_READ)
    with pytest.raises(AirflowFailException, match="validate_and_plan did not finish"):
        h.last_dag.get_task(TASK_REPORT).execute(h.context)


# -- DAG ----------------------------------------------------------------------------------------------
def test_products_dag_shape_params_pools_and_no_network_at_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("network access while building the DAG")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    mp = APP.marketplaces["de"]
    dag = build(mp, APP)
    assert dag.dag_id == "amazon_de_products"
    order = [TASK_READ, TASK_FETCH, TASK_PLAN, TASK_PUSH, TASK_REPORT]
    for up, down in zip(order, order[1:]):
        assert dag.get_task(down).upstream_task_ids == {up}
    for task_id in (TASK_FETCH, TASK_PLAN, TASK_PUSH):
        assert dag.get_task(task_id).pool == mp.pool == "spapi_amazon_sp_api_default_eu"
    assert dag.get_task(TASK_REPORT).trigger_rule == "all_done"
    push = dag.get_task(TASK_PUSH)
    assert push.deferrable and push.sync == "products" and push.plan_task_id == TASK_PLAN
    params = dag.params.dump()
    assert params["validation_preview"] is False and params["delete_skus"] == [] and params["full_push"] is False
    assert params["dry_run"] is False and params["allow_quarantine"] is False
    schema = dag.params.get_param("delete_skus").schema
    assert schema["type"] == "array" and schema["items"]["maxLength"] == 40


def test_full_push_resends_everything_as_partial_updates(tmp_path: Path) -> None:
    h = Harness(tmp_path, [kitchen_row(1), kitchen_row(2)])
    h.accept(h.run())
    assert h.run()[TASK_PLAN]["ref"] is None
    out = h.run(full_push=True)
    assert sorted((m["sku"], m["operationType"]) for m in h.messages(out)) == [
        ("SKU-00001", "PARTIAL_UPDATE"), ("SKU-00002", "PARTIAL_UPDATE")]
    assert h.plan(out)["values"]["SKU-00001"] == h.state.get_accepted("products", "uk")["SKU-00001"]


def test_a_message_that_cannot_be_written_is_quarantined_not_the_whole_run(tmp_path: Path) -> None:
    # custitem_amz_attr_* JSON with NaN is not an exact number: that item is refused, the rest goes on
    h = Harness(tmp_path, [kitchen_row(1), kitchen_row(2, custitem_amz_attr_item_package_weight=(
        '[{"value": NaN, "unit": "kilograms"}]'))])
    out = h.run()
    assert [m["sku"] for m in h.messages(out)] == ["SKU-00001"]
    assert out[TASK_PLAN]["messages"] == 1 and set(h.plan(out)["values"]) == {"SKU-00001"}
    (record,) = h.state.open_quarantine("products", "uk")
    assert record.key == "SKU-00002" and "NaN is not an exact number" in record.reason


def test_a_retired_sku_amazon_no_longer_lists_is_not_flagged_and_forgotten(tmp_path: Path) -> None:
    h = Harness(tmp_path, [kitchen_row(1, isinactive="T")])
    h.state.set_accepted("products", "uk", {"SKU-00001": "listing:v1:a"})
    out = h.run()
    assert out[TASK_PLAN]["ref"] is None
    (entry,) = h.details(out)["discontinued"]
    assert entry["status"] == "never_listed" and "no longer listed on Amazon" in entry["reason"]
    assert h.state.get_accepted("products", "uk") == {}
    h.spapi.lookups.clear()
    h.run()
    assert h.spapi.lookups == []  # remembered as absent
