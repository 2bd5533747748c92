"""The shipped default GL map for V2 settlement rows.

Keys are ``transaction-type/amount-type/amount-description`` and compare case-insensitively with
whitespace collapsed. A component may be ``*`` (anything) or end in ``*`` (prefix). When several keys
match a row, the most specific wins, judged on amount-description first, then amount-type, then
transaction-type (exact > prefix > ``*``). The marketplace's ``settlement.gl_map`` is consulted
before this map, at any specificity: a configured key always beats a default one.

Values are NetSuite account internal ids, or a *role* resolved from the marketplace's settlement
config (falling back to the sandbox chart of accounts when the config leaves it empty):

==============================  ===============================================  =======
role                            config field                                     default
==============================  ===============================================  =======
``@reserve``                    ``settlement.reserve_account``                   120
``@withheld_tax_clearing``      ``settlement.withheld_tax_clearing_account``     211
``@bank``                       ``settlement.bank_account``                      111
``@suspense``                   ``settlement.suspense_account``                  599
==============================  ===============================================  =======

The account ids are those of the sandbox chart (``sandbox/catalog.py`` ``ACCOUNTS``) so the demo
works out of the box. **A real NetSuite account has other ids: map every key you use in
``settlement.gl_map``** (or give the ids these numbers).

Tax rows and marketplace-facilitator (MF) orders
    ``ItemPrice/Tax``, ``ItemPrice/ShippingTax``, ``ItemPrice/GiftWrapTax`` and ``Promotion/TaxDiscount``
    map to sales-tax/VAT payable (210) — right for tax the seller collects and remits. On an order
    whose rows include an MF withheld-tax line (``ItemWithheldTax`` with a description starting
    ``MarketplaceFacilitatorTax-``, ``MarketplaceFacilitatorVAT-`` or ``LowValueGoodsTax-``) Amazon
    collected *and* remits that tax, so the same tax rows go to the withheld-tax clearing account
    instead, where they net to zero against the withholding. A single row cannot tell the two apart;
    the order (by ``order-id``, across its Order and Refund rows in the settlement) can. See
    :mod:`.classify`.

Deliberately unmapped (they land in suspense and are listed as *unmapped*): transaction types whose
economics vary by seller and are not settled in the references — ``Order_Retrocharge`` /
``Refund_Retrocharge`` rows other than tax, ``Liquidations Adjustments``, ``Seller Rewards``,
``Commingling VAT`` and anything new Amazon introduces.
"""

from __future__ import annotations

ROLE_RESERVE = "@reserve"
ROLE_CLEARING = "@withheld_tax_clearing"
ROLE_BANK = "@bank"
ROLE_SUSPENSE = "@suspense"
ROLES = (ROLE_RESERVE, ROLE_CLEARING, ROLE_BANK, ROLE_SUSPENSE)

# Defaults for the roles when the marketplace config leaves them empty (sandbox chart of accounts).
DEFAULT_ROLE_ACCOUNTS: dict[str, str] = {
    ROLE_BANK: "111",  # Amazon Clearing (type Bank)
    ROLE_SUSPENSE: "599",  # Amazon Suspense
    ROLE_RESERVE: "120",  # Amazon Reserve Receivable
    ROLE_CLEARING: "211",  # Marketplace Tax Clearing
}
TAX_PAYABLE_ACCOUNT = "210"

# What each default account holds (report labels when the defaults are in use).
ACCOUNT_LABELS: dict[str, str] = {
    "111": "Amazon clearing (deposit)",
    "120": "Amazon reserve (balance sheet)",
    "210": "Sales tax / VAT payable",
    "211": "Marketplace tax clearing",
    "220": "Amazon lending loan",
    "400": "Sales",
    "401": "Shipping income",
    "402": "Gift wrap income",
    "403": "Promotions",
    "404": "Returns and allowances",
    "405": "A-to-z claims",
    "406": "Chargebacks",
    "410": "FBA reimbursements",
    "411": "Reimbursement reversals",
    "500": "Selling fees",
    "501": "FBA fulfilment fees",
    "502": "FBA storage",
    "503": "Advertising",
    "504": "Seller subscription",
    "505": "Other Amazon fees",
    "599": "Suspense (unmapped)",
}

_ITEM_FEES_SELLING = ("Commission", "RefundCommission", "VariableClosingFee", "FixedClosingFee",
                      "DigitalServicesFee", "SalesTaxServiceFee")
_ITEM_FEES_FBA = ("FBAPerUnitFulfillmentFee", "FBAPerOrderFulfillmentFee", "FBAWeightBasedFee",
                  "ShippingChargeback", "GiftwrapChargeback")
_REIMBURSEMENTS = ("WAREHOUSE_DAMAGE", "WAREHOUSE_DAMAGE_EXCEPTION", "WAREHOUSE_LOST", "WAREHOUSE_LOST_MANUAL",
                   "FREE_REPLACEMENT_REFUND_ITEMS", "MISSING_FROM_INBOUND", "CS_ERROR_ITEMS", "RE_EVALUATION",
                   "CUSTOMER_RETURN", "CUSTOMER_SERVICE_ISSUE", "INCORRECT_FEES_ITEMS", "INCORRECT_FEES_NON_ITEMIZED")
_REIMBURSEMENT_REVERSALS = ("REVERSAL_REIMBURSEMENT", "COMPENSATED_CLAWBACK", "MISSING_FROM_INBOUND_CLAWBACK")


def _build() -> dict[str, str]:
    m: dict[str, str] = {}
    # --- orders: revenue --------------------------------------------------------------------
    m["Order/ItemPrice/Principal"] = "400"
    m["Order/ItemPrice/Shipping"] = "401"
    m["Order/ItemPrice/GiftWrap"] = "402"
    # --- tax (seller-collected -> payable; MF orders are re-routed to clearing, see module doc)
    for desc in ("Tax", "ShippingTax", "GiftWrapTax"):
        m[f"*/ItemPrice/{desc}"] = TAX_PAYABLE_ACCOUNT
    m["*/Promotion/TaxDiscount"] = TAX_PAYABLE_ACCOUNT
    # --- marketplace-facilitator / deemed-supplier withheld tax (and IN TCS/TDS) -> clearing ---
    m["*/ItemWithheldTax/*"] = ROLE_CLEARING
    # --- promotions (contra-revenue), including their reversal on refunds -----------------------
    m["*/Promotion/Principal"] = "403"
    m["*/Promotion/Shipping"] = "403"
    m["*/Points/PointsGranted"] = "403"  # JP points funded by the seller
    # --- refunds ------------------------------------------------------------------------------
    for desc in ("Principal", "Shipping", "GiftWrap"):
        m[f"Refund/ItemPrice/{desc}"] = "404"
    for desc in ("RestockingFee", "ReturnShipping", "Goodwill"):
        m[f"*/ItemPrice/{desc}"] = "404"
    # --- A-to-z claims and chargebacks ---------------------------------------------------------
    for desc in ("Principal", "Shipping", "GiftWrap"):
        m[f"A-to-z Guarantee Refund/ItemPrice/{desc}"] = "405"
        m[f"Chargeback Refund/ItemPrice/{desc}"] = "406"
    # --- item fees: referral/commission, closing fees, refund commission; FBA fulfilment -------
    for desc in _ITEM_FEES_SELLING:
        m[f"*/ItemFees/{desc}"] = "500"
    for desc in _ITEM_FEES_FBA:
        m[f"*/ItemFees/{desc}"] = "501"
    # --- account-level fees --------------------------------------------------------------------
    m["*/other-transaction/Storage Fee"] = "502"
    m["*/other-transaction/StorageRenewalBilling"] = "502"  # long-term storage
    m["*/other-transaction/Subscription Fee"] = "504"
    m["*/Cost of Advertising/TransactionTotalAmount"] = "503"
    m["*/CouponRedemptionFee/*"] = "503"
    m["Vine Enrollment Fee/*/*"] = "503"
    m["*/other-transaction/RemovalComplete"] = "501"
    m["*/other-transaction/inbound transportation"] = "501"
    m["*/other-transaction/NonSubscriptionFeeAdj"] = "505"
    m["*/other-transaction/MiscAdjustment"] = "505"
    m["*/other-transaction/Paid Services Fee"] = "505"
    m["*/other-transaction/BuyerRecharge"] = "404"  # buyer re-charged for a refunded item
    m["*/other-transaction/SAFE-T Reimbursement"] = "410"
    m["SAFE-T Reimbursement/*/*"] = "410"
    # --- FBA inventory reimbursements and their clawbacks --------------------------------------
    for desc in _REIMBURSEMENTS:
        m[f"*/FBA Inventory Reimbursement/{desc}"] = "410"
    for desc in _REIMBURSEMENT_REVERSALS:
        m[f"*/FBA Inventory Reimbursement/{desc}"] = "411"
    # --- reserve and balances carried between settlements (balance sheet) ----------------------
    m["*/other-transaction/Current Reserve Amount"] = ROLE_RESERVE
    m["*/other-transaction/Previous Reserve Amount Balance"] = ROLE_RESERVE
    m["*/other-transaction/Payable to Amazon"] = ROLE_RESERVE
    m["*/other-transaction/Successful charge"] = ROLE_RESERVE  # seller's card charged for a negative balance
    # --- Amazon Lending repayments ---------------------------------------------------------------
    m["*/other-transaction/Loan Repayment"] = "220"
    m["*/*/Amazon Capital Services"] = "220"
    m["Loan Repayment/*/*"] = "220"
    return m


DEFAULT_GL_MAP: dict[str, str] = _build()

# amount-type/description pairs that are "tax the buyer paid" (subject to the MF order rule).
SELLER_TAX_PAIRS: frozenset[tuple[str, str]] = frozenset({
    ("itemprice", "tax"), ("itemprice", "shippingtax"), ("itemprice", "giftwraptax"), ("promotion", "taxdiscount"),
})
# ItemWithheldTax descriptions that mark an order as marketplace-facilitator / deemed-supplier.
MF_WITHHELD_PREFIXES: tuple[str, ...] = ("marketplacefacilitatortax-", "marketplacefacilitatorvat-", "lowvaluegoodstax-")

__all__ = [
    "ACCOUNT_LABELS", "DEFAULT_GL_MAP", "DEFAULT_ROLE_ACCOUNTS", "MF_WITHHELD_PREFIXES", "ROLES", "ROLE_BANK",
    "ROLE_CLEARING", "ROLE_RESERVE", "ROLE_SUSPENSE", "SELLER_TAX_PAIRS", "TAX_PAYABLE_ACCOUNT",
]
