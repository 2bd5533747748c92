"""What the NetSuite sandbox knows about record types (REST Record API) and SuiteQL tables.

Record types are grouped in *families* that share one internal-id space, as in NetSuite:
every transaction type draws ids from one sequence (so the SuiteQL ``transaction`` table has unique
ids), every item type from another, and so on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

TRANSACTION = "transaction"
ITEM = "item"
ENTITY = "entity"

ITEM_TYPES = ("inventoryItem", "serviceSaleItem", "nonInventorySaleItem")
TRANSACTION_TYPES = ("salesOrder", "cashSale", "invoice", "itemFulfillment", "creditMemo", "cashRefund",
                     "customerRefund", "customerPayment", "returnAuthorization", "journalEntry", "deposit",
                     "inventoryAdjustment")


@dataclass(frozen=True)
class SublistSpec:
    name: str
    key: str | None = "line"            # keyed sublists: PATCH updates the line whose key matches
    refs: dict[str, tuple[str, ...]] = field(default_factory=dict)
    required: tuple[str, ...] = ()      # per line, on new lines
    amounts: str = "item"               # how lines contribute to the total: item | journal | apply | other | cashback | payment | none


@dataclass(frozen=True)
class RecordType:
    name: str
    family: str
    label: str
    code: str | None = None              # SuiteQL transaction.type / item.itemtype
    table: str | None = None             # SuiteQL table the record projects to
    sublists: dict[str, SublistSpec] = field(default_factory=dict)
    required: tuple[tuple[str, str], ...] = ()   # (field, label used in "Please enter value(s) for: <label>")
    refs: dict[str, tuple[str, ...]] = field(default_factory=dict)
    tranid_prefix: str = ""
    statuses: dict[str, str] = field(default_factory=dict)
    default_status: str | None = None
    line_sign: int = 1                   # SuiteQL transactionline sign: sales lines are negative
    name_field: str = "name"             # what refName shows
    direct_create: bool = True           # itemFulfillment only comes from a transform


_HEADER_REFS: dict[str, tuple[str, ...]] = {
    "entity": ("customer",), "customer": ("customer",), "subsidiary": ("subsidiary",), "currency": ("currency",),
    "location": ("location",), "department": ("department",), "class": ("classification",),
    "salesChannel": ("salesChannel",), "createdFrom": TRANSACTION_TYPES, "account": ("account",),
    "adjLocation": ("location",), "arAcct": ("account",), "postingPeriod": (),
}
_ITEM_LINE_REFS: dict[str, tuple[str, ...]] = {
    "item": ITEM_TYPES, "location": ("location",), "department": ("department",), "class": ("classification",),
    "taxCode": ("salesTaxItem",), "price": ("priceLevel",),
}
_ITEM_SUBLIST = SublistSpec("item", "line", _ITEM_LINE_REFS, ("item",), "item")

SO_STATUSES = {"A": "Pending Approval", "B": "Pending Fulfillment", "C": "Cancelled", "D": "Partially Fulfilled",
               "E": "Pending Billing/Partially Fulfilled", "F": "Pending Billing", "G": "Billed", "H": "Closed"}
RA_STATUSES = {"A": "Pending Approval", "B": "Pending Receipt", "C": "Cancelled", "D": "Partially Received",
               "E": "Pending Refund/Partially Received", "F": "Pending Refund", "G": "Refunded", "H": "Closed"}
_SALES_REQUIRED = (("entity", "Customer"),)


def _txn(name: str, label: str, code: str, prefix: str, *, sublists: dict[str, SublistSpec] | None = None,
         required: tuple[tuple[str, str], ...] = _SALES_REQUIRED, statuses: dict[str, str] | None = None,
         default_status: str | None = None, line_sign: int = 1, direct_create: bool = True,
         refs: dict[str, tuple[str, ...]] | None = None) -> RecordType:
    return RecordType(name, TRANSACTION, label, code, "transaction",
                      sublists if sublists is not None else {"item": _ITEM_SUBLIST}, required,
                      refs or _HEADER_REFS, prefix, statuses or {}, default_status, line_sign, "tranId", direct_create)


def _list(name: str, label: str, table: str, name_field: str = "name",
          refs: dict[str, tuple[str, ...]] | None = None,
          required: tuple[tuple[str, str], ...] = (("name", "Name"),)) -> RecordType:
    return RecordType(name, name, label, None, table, {}, required, refs or {}, name_field=name_field)


_ITEM_REFS = {"parent": ITEM_TYPES, "subsidiary": ("subsidiary",), "class": ("classification",),
              "department": ("department",), "location": ("location",), "taxSchedule": ()}

RECORD_TYPES: dict[str, RecordType] = {rt.name: rt for rt in (
    _txn("salesOrder", "Sales Order", "SalesOrd", "SO", statuses=SO_STATUSES, default_status="A", line_sign=-1),
    _txn("cashSale", "Cash Sale", "CashSale", "CS",
         statuses={"A": "Unapproved Payment", "B": "Not Deposited", "C": "Deposited"}, default_status="B", line_sign=-1),
    _txn("invoice", "Invoice", "CustInvc", "INV", statuses={"A": "Open", "B": "Paid In Full"}, default_status="A",
         line_sign=-1),
    _txn("itemFulfillment", "Item Fulfillment", "ItemShip", "IF",
         statuses={"A": "Picked", "B": "Packed", "C": "Shipped"}, default_status="C", line_sign=-1,
         direct_create=False),
    _txn("creditMemo", "Credit Memo", "CustCred", "CM", statuses={"A": "Open", "B": "Fully Applied"},
         default_status="A"),
    _txn("cashRefund", "Cash Refund", "CashRfnd", "CR"),
    _txn("returnAuthorization", "Return Authorization", "RtnAuth", "RA", statuses=RA_STATUSES, default_status="B"),
    _txn("customerPayment", "Payment", "CustPymt", "PYMT",
         sublists={"apply": SublistSpec("apply", "doc", {"doc": TRANSACTION_TYPES}, ("doc",), "apply")},
         required=(("customer", "Customer"),),
         statuses={"A": "Unapproved Payment", "B": "Not Deposited", "C": "Deposited"}, default_status="B"),
    _txn("customerRefund", "Customer Refund", "CustRfnd", "CRF",
         sublists={"apply": SublistSpec("apply", "doc", {"doc": TRANSACTION_TYPES}, ("doc",), "apply")},
         required=(("customer", "Customer"),)),
    _txn("journalEntry", "Journal", "Journal", "JE",
         sublists={"line": SublistSpec("line", "line", {"account": ("account",), "entity": ("customer",),
                                                          "department": ("department",), "class": ("classification",),
                                                          "location": ("location",)}, ("account",), "journal")},
         required=(("subsidiary", "Subsidiary"),),
         statuses={"A": "Pending Approval", "B": "Approved for Posting"}, default_status="B"),
    _txn("deposit", "Deposit", "Deposit", "DEP",
         sublists={"payment": SublistSpec("payment", "doc", {"doc": TRANSACTION_TYPES}, ("doc",), "payment"),
                   "other": SublistSpec("other", "line", {"account": ("account",), "entity": ("customer",),
                                                          "department": ("department",),
                                                          "class": ("classification",)}, ("account",), "other"),
                   "cashBack": SublistSpec("cashBack", "line", {"account": ("account",),
                                                                "department": ("department",),
                                                                "class": ("classification",)}, ("account",),
                                           "cashback")},
         required=(("account", "Account"),)),
    _txn("inventoryAdjustment", "Inventory Adjustment", "InvAdjst", "ADJ",
         sublists={"inventory": SublistSpec("inventory", "line", {"item": ITEM_TYPES, "location": ("location",),
                                                                  "department": ("department",),
                                                                  "class": ("classification",)},
                                            ("item", "location", "adjustQtyBy"), "none")},
         required=(("account", "Adjustment Account"), ("subsidiary", "Subsidiary"))),
    RecordType("inventoryItem", ITEM, "Inventory Item", "InvtPart", "item", refs=_ITEM_REFS,
               required=(("itemId", "Item Name/Number"),), name_field="itemId"),
    RecordType("serviceSaleItem", ITEM, "Service Item", "Service", "item", refs=_ITEM_REFS,
               required=(("itemId", "Item Name/Number"),), name_field="itemId"),
    RecordType("nonInventorySaleItem", ITEM, "Non-inventory Item", "NonInvtPart", "item", refs=_ITEM_REFS,
               required=(("itemId", "Item Name/Number"),), name_field="itemId"),
    RecordType("customer", ENTITY, "Customer", None, "customer",
               refs={"subsidiary": ("subsidiary",), "currency": ("currency",), "priceLevel": ("priceLevel",),
                     "salesChannel": ("salesChannel",)},
               required=(("subsidiary", "Primary Subsidiary"),), name_field="entityId"),
    _list("location", "Location", "location", refs={"subsidiary": ("subsidiary",), "parent": ("location",)}),
    _list("subsidiary", "Subsidiary", "subsidiary", refs={"currency": ("currency",), "parent": ("subsidiary",)}),
    _list("currency", "Currency", "currency", required=(("symbol", "ISO Code"),)),
    _list("account", "Account", "account", name_field="acctName",
          refs={"currency": ("currency",), "subsidiary": ("subsidiary",), "parent": ("account",)},
          required=(("acctNumber", "Number"), ("acctName", "Name"))),
    _list("priceLevel", "Price Level", "pricelevel"),
    _list("department", "Department", "department"),
    _list("classification", "Class", "classification"),
    _list("salesChannel", "Sales Channel", "saleschannel"),
    _list("salesTaxItem", "Tax Code", "salestaxitem", name_field="itemId", required=(("itemId", "Tax Name"),)),
)}
RECORD_TYPES_LOWER = {k.lower(): k for k in RECORD_TYPES}

# Transform pairs supported by POST /record/v1/{from}/{id}/!transform/{to}.
TRANSFORMS: dict[tuple[str, str], str] = {
    ("salesOrder", "itemFulfillment"): "fulfil",
    ("salesOrder", "invoice"): "bill",
    ("salesOrder", "cashSale"): "bill",
    ("cashSale", "cashRefund"): "refund",
    ("invoice", "creditMemo"): "refund",
    ("returnAuthorization", "creditMemo"): "refund",
    ("returnAuthorization", "cashRefund"): "refund",
}

# Canonical spelling of body/line fields (the REST API is forgiving about case in requests).
KNOWN_FIELDS = [
    "entity", "customer", "subsidiary", "currency", "exchangeRate", "location", "department", "class",
    "tranDate", "tranId", "memo", "otherRefNum", "externalId", "orderStatus", "status", "total", "subtotal",
    "account", "createdFrom", "salesChannel", "taxCode", "item", "quantity", "rate", "amount", "line",
    "isClosed", "description", "price", "itemId", "displayName", "isInactive", "matrixType", "parent",
    "entityId", "companyName", "email", "debit", "credit", "adjustQtyBy", "adjLocation", "unitCost", "payment",
    "apply", "doc", "orderLine", "itemReceive", "shipStatus", "undepFunds", "paymentMethod", "customForm",
    "orderType", "source", "shipMethod", "shipDate", "name", "symbol", "acctNumber", "acctName", "acctType",
    "upcCode", "weight", "weightUnit", "costEstimate", "cost", "salesDescription", "quantityFulfilled",
    "quantityBilled", "quantityReceived", "deposit", "cashBack", "other", "inventory", "arAcct", "makeInventoryAvailable",
    "country", "isBaseCurrency", "currencyPrecision", "discountPct", "rate", "taxTotal", "createdDate",
    "lastModifiedDate", "id", "refName", "links", "trackingNumbers", "shipAddress", "billAddress", "shippingCost",
    "handlingCost", "discountTotal", "postingPeriod", "reversalDate", "approved", "appliedTo", "applied",
    "unapplied", "autoApply", "checkNum", "refundMethod", "isTaxable", "isPerson", "firstName", "lastName",
    "phone", "priceLevel", "terms", "itemType", "startDate", "endDate", "countryOfManufacture",
]
CANONICAL = {f.lower(): f for f in KNOWN_FIELDS}


def canonical_field(name: str) -> str:
    low = name.lower()
    if low.startswith("cust"):
        return low
    return CANONICAL.get(low, name)


# --- SuiteQL tables ----------------------------------------------------------------------------
# Column types: int, num, text, bool ('T'/'F'), date / datetime (stored 'YYYY-MM-DD HH:MM:SS' UTC),
# ref:<table> (an internal id that BUILTIN.DF resolves to that table's display column).
SUITEQL_TABLES: dict[str, dict[str, str]] = {
    "transaction": {
        "id": "int", "tranid": "text", "trandate": "date", "type": "text", "recordtype": "text", "status": "text",
        "entity": "ref:customer", "currency": "ref:currency", "exchangerate": "num", "foreigntotal": "num",
        "externalid": "text", "otherrefnum": "text", "subsidiary": "ref:subsidiary", "lastmodifieddate": "datetime",
        "createddate": "datetime", "memo": "text", "createdfrom": "ref:transaction", "location": "ref:location",
        "department": "ref:department", "class": "ref:classification", "voided": "bool",
    },
    "transactionline": {
        "transaction": "ref:transaction", "id": "int", "linesequencenumber": "int", "uniquekey": "int",
        "item": "ref:item", "quantity": "num", "rate": "num", "netamount": "num", "foreignamount": "num",
        "mainline": "bool", "taxline": "bool", "location": "ref:location", "isclosed": "bool",
        "department": "ref:department", "class": "ref:classification", "memo": "text",
        "createdfrom": "ref:transaction", "entity": "ref:customer", "account": "ref:account", "debit": "num",
        "credit": "num", "quantityshiprecv": "num", "quantitybilled": "num", "subsidiary": "ref:subsidiary",
        "orderline": "int",
    },
    "transactionaccountingline": {
        "transaction": "ref:transaction", "transactionline": "int", "account": "ref:account", "debit": "num",
        "credit": "num", "amount": "num", "netamount": "num", "posting": "bool",
    },
    "item": {
        "id": "int", "itemid": "text", "displayname": "text", "description": "text", "itemtype": "text",
        "isinactive": "bool", "externalid": "text", "parent": "ref:item", "matrixtype": "text", "upccode": "text",
        "weight": "num", "weightunit": "text", "class": "ref:classification", "costestimate": "num",
        "countryofmanufacture": "text", "lastmodifieddate": "datetime", "createddate": "datetime",
    },
    "inventorybalance": {
        "item": "ref:item", "location": "ref:location", "binnumber": "text", "quantityonhand": "num",
        "quantityavailable": "num", "quantitycommitted": "num", "quantityintransit": "num",
        "quantitybackordered": "num", "quantityonorder": "num", "lastquantityavailablechange": "datetime",
    },
    "pricing": {
        "id": "int", "item": "ref:item", "pricelevel": "ref:pricelevel", "currency": "ref:currency",
        "quantity": "num", "unitprice": "num", "effectivedate": "datetime",
    },
    "customer": {
        "id": "int", "entityid": "text", "companyname": "text", "subsidiary": "ref:subsidiary",
        "currency": "ref:currency", "externalid": "text", "isinactive": "bool", "email": "text",
        "lastmodifieddate": "datetime", "datecreated": "datetime",
    },
    "account": {
        "id": "int", "acctnumber": "text", "acctname": "text", "fullname": "text", "accttype": "text",
        "isinactive": "bool", "externalid": "text", "currency": "ref:currency", "subsidiary": "ref:subsidiary",
    },
    "location": {
        "id": "int", "name": "text", "subsidiary": "ref:subsidiary", "isinactive": "bool", "externalid": "text",
        "makeinventoryavailable": "bool", "parent": "ref:location",
    },
    "subsidiary": {
        "id": "int", "name": "text", "currency": "ref:currency", "country": "text", "isinactive": "bool",
        "parent": "ref:subsidiary", "externalid": "text",
    },
    "currency": {
        "id": "int", "symbol": "text", "name": "text", "isbasecurrency": "bool", "exchangerate": "num",
        "currencyprecision": "int", "externalid": "text", "isinactive": "bool",
    },
    "pricelevel": {"id": "int", "name": "text", "isinactive": "bool", "discountpct": "num", "externalid": "text"},
    "department": {"id": "int", "name": "text", "isinactive": "bool", "externalid": "text"},
    "classification": {"id": "int", "name": "text", "isinactive": "bool", "externalid": "text"},
    "saleschannel": {"id": "int", "name": "text", "isinactive": "bool", "externalid": "text"},
    "salestaxitem": {"id": "int", "itemid": "text", "rate": "num", "isinactive": "bool", "externalid": "text"},
}
# Views: same columns as their base table.
SUITEQL_VIEWS = {"aggregateitemlocation": "inventorybalance", "inventoryitemlocations": "inventorybalance"}
# Custom-field prefixes per table (values live in the table's JSON ``custom`` column).
CUSTOM_PREFIXES = {
    "transaction": ("custbody",), "transactionline": ("custcol",), "item": ("custitem",),
    "customer": ("custentity",), "location": ("custrecord",), "subsidiary": ("custrecord",),
    "account": ("custrecord",),
}
# Display value used by BUILTIN.DF(<ref column>).
DISPLAY_COLUMN = {
    "customer": "entityid", "currency": "name", "subsidiary": "name", "location": "name", "item": "itemid",
    "account": "fullname", "pricelevel": "name", "department": "name", "classification": "name",
    "transaction": "tranid", "saleschannel": "name", "salestaxitem": "itemid",
}
TRANSACTION_TYPE_LABELS = {rt.code: rt.label for rt in RECORD_TYPES.values() if rt.family == TRANSACTION and rt.code}
ITEM_TYPE_LABELS = {"InvtPart": "Inventory Item", "Service": "Service", "NonInvtPart": "Non-inventory Item"}
