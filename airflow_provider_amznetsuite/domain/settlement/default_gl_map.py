"""The shipped default GL map for V2 settlement rows: settlement vocabulary -> **GL role**.

The map never names a NetSuite account. Account internal ids differ between NetSuite accounts (the
sandbox's ``400`` is somebody else's bank account), so the shipped map classifies every known
``transaction-type/amount-type/amount-description`` to a *role* such as ``sales`` or ``fba_fees``, and
each marketplace's config says which account plays each role::

    settlement:
      accounts: {bank: 111, suspense: 599, sales: 400, fba_fees: 501, ...}

A row whose role has no account is posted to the ``suspense`` account and listed as *unmapped*
("GL role 'fba_fees' has no account: set settlement.accounts.fba_fees"); nothing is dropped and
nothing is guessed.

Keys compare case-insensitively with whitespace collapsed. A component may be ``*`` (anything) or end
in ``*`` (prefix). When several keys match a row, the most specific wins, judged on
amount-description first, then amount-type, then transaction-type (exact > prefix > ``*``). The
marketplace's ``settlement.gl_map`` (key -> account id, or key -> role) is consulted before this map,
at any specificity: a configured key always beats a default one.

Roles (:data:`GL_ROLES`, with the label shown in memos and the review report)
    Structural: ``bank`` (the deposit line: "Amazon clearing" of type Bank), ``suspense`` (unmapped
    rows), ``reserve`` (balance sheet), ``marketplace_tax_clearing`` (facilitator tax, nets to zero),
    ``tax_payable``, ``loan``. Income/contra-income: ``sales``, ``shipping_income``,
    ``gift_wrap_income``, ``promotions``, ``returns``, ``a_to_z``, ``chargebacks``, ``reimbursements``,
    ``reimbursement_reversals``. Expense: ``selling_fees``, ``fba_fees``, ``storage_fees``,
    ``advertising``, ``subscription``, ``other_fees``.

Tax rows and marketplace-facilitator (MF) orders
    ``ItemPrice/Tax``, ``ItemPrice/ShippingTax``, ``ItemPrice/GiftWrapTax`` and ``Promotion/TaxDiscount``
    map to ``tax_payable`` — right for tax the seller collects and remits. On an order whose rows
    include an MF withheld-tax line (``ItemWithheldTax`` with a description starting
    ``MarketplaceFacilitatorTax-``, ``MarketplaceFacilitatorVAT-`` or ``LowValueGoodsTax-``) Amazon
    collected *and* remits that tax, so the same tax rows go to ``marketplace_tax_clearing`` instead,
    where they net to zero against the withholding. A single row cannot tell the two apart; the order
    (by ``order-id``, across its Order and Refund rows in the settlement) can. See :mod:`.classify`.

Deliberately unmapped (they land in suspense and are listed as *unmapped*): transaction types whose
economics vary by seller and are not settled in the references — ``Order_Retrocharge`` /
``Refund_Retrocharge`` rows other than tax, ``Liquidations Adjustments``, ``Seller Rewards``,
``Commingling VAT`` and anything new Amazon introduces.
"""

from __future__ import annotations

# role -> what the account holds (memo / report label). Order = how docs and errors list them.
GL_ROLES: dict[str, str] = {
    "bank": "Amazon clearing (deposit)",
    "suspense": "Suspense (unmapped)",
    "reserve": "Amazon reserve (balance sheet)",
    "marketplace_tax_clearing": "Marketplace tax clearing",
    "tax_payable": "Sales tax / VAT payable",
    "loan": "Amazon lending loan",
    "sales": "Sales",
    "shipping_income": "Shipping income",
    "gift_wrap_income": "Gift wrap income",
    "promotions": "Promotions",
    "returns": "Returns and allowances",
    "a_to_z": "A-to-z claims",
    "chargebacks": "Chargebacks",
    "reimbursements": "FBA reimbursements",
    "reimbursement_reversals": "Reimbursement reversals",
    "selling_fees": "Selling fees",
    "fba_fees": "FBA fulfilment fees",
    "storage_fees": "FBA storage",
    "advertising": "Advertising",
    "subscription": "Seller subscription",
    "other_fees": "Other Amazon fees",
}
ROLE_NAMES: tuple[str, ...] = tuple(GL_ROLES)

ROLE_BANK = "bank"
ROLE_SUSPENSE = "suspense"
ROLE_RESERVE = "reserve"
ROLE_CLEARING = "marketplace_tax_clearing"
ROLE_TAX_PAYABLE = "tax_payable"

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
    m["Order/ItemPrice/Principal"] = "sales"
    m["Order/ItemPrice/Shipping"] = "shipping_income"
    m["Order/ItemPrice/GiftWrap"] = "gift_wrap_income"
    # --- tax (seller-collected -> payable; MF orders are re-routed to clearing, see module doc)
    for desc in ("Tax", "ShippingTax", "GiftWrapTax"):
        m[f"*/ItemPrice/{desc}"] = ROLE_TAX_PAYABLE
    m["*/Promotion/TaxDiscount"] = ROLE_TAX_PAYABLE
    # --- marketplace-facilitator / deemed-supplier withheld tax (and IN TCS/TDS) -> clearing ---
    m["*/ItemWithheldTax/*"] = ROLE_CLEARING
    # --- promotions (contra-revenue), including their reversal on refunds -----------------------
    m["*/Promotion/Principal"] = "promotions"
    m["*/Promotion/Shipping"] = "promotions"
    m["*/Points/PointsGranted"] = "promotions"  # JP points funded by the seller
    # --- refunds ------------------------------------------------------------------------------
    for desc in ("Principal", "Shipping", "GiftWrap"):
        m[f"Refund/ItemPrice/{desc}"] = "returns"
    for desc in ("RestockingFee", "ReturnShipping", "Goodwill"):
        m[f"*/ItemPrice/{desc}"] = "returns"
    # --- A-to-z claims and chargebacks ---------------------------------------------------------
    for desc in ("Principal", "Shipping", "GiftWrap"):
        m[f"A-to-z Guarantee Refund/ItemPrice/{desc}"] = "a_to_z"
        m[f"Chargeback Refund/ItemPrice/{desc}"] = "chargebacks"
    # --- item fees: referral/commission, closing fees, refund commission; FBA fulfilment -------
    for desc in _ITEM_FEES_SELLING:
        m[f"*/ItemFees/{desc}"] = "selling_fees"
    for desc in _ITEM_FEES_FBA:
        m[f"*/ItemFees/{desc}"] = "fba_fees"
    # --- account-level fees --------------------------------------------------------------------
    m["*/other-transaction/Storage Fee"] = "storage_fees"
    m["*/other-transaction/StorageRenewalBilling"] = "storage_fees"  # long-term storage
    m["*/other-transaction/Subscription Fee"] = "subscription"
    m["*/Cost of Advertising/TransactionTotalAmount"] = "advertising"
    m["*/CouponRedemptionFee/*"] = "advertising"
    m["Vine Enrollment Fee/*/*"] = "advertising"
    m["*/other-transaction/RemovalComplete"] = "fba_fees"
    m["*/other-transaction/inbound transportation"] = "fba_fees"
    m["*/other-transaction/NonSubscriptionFeeAdj"] = "other_fees"
    m["*/other-transaction/MiscAdjustment"] = "other_fees"
    m["*/other-transaction/Paid Services Fee"] = "other_fees"
    m["*/other-transaction/BuyerRecharge"] = "returns"  # buyer re-charged for a refunded item
    m["*/other-transaction/SAFE-T Reimbursement"] = "reimbursements"
    m["SAFE-T Reimbursement/*/*"] = "reimbursements"
    # --- FBA inventory reimbursements and their clawbacks --------------------------------------
    for desc in _REIMBURSEMENTS:
        m[f"*/FBA Inventory Reimbursement/{desc}"] = "reimbursements"
    for desc in _REIMBURSEMENT_REVERSALS:
        m[f"*/FBA Inventory Reimbursement/{desc}"] = "reimbursement_reversals"
    # --- reserve and balances carried between settlements (balance sheet) ----------------------
    m["*/other-transaction/Current Reserve Amount"] = ROLE_RESERVE
    m["*/other-transaction/Previous Reserve Amount Balance"] = ROLE_RESERVE
    m["*/other-transaction/Payable to Amazon"] = ROLE_RESERVE
    m["*/other-transaction/Successful charge"] = ROLE_RESERVE  # seller's card charged for a negative balance
    # --- Amazon Lending repayments ---------------------------------------------------------------
    m["*/other-transaction/Loan Repayment"] = "loan"
    m["*/*/Amazon Capital Services"] = "loan"
    m["Loan Repayment/*/*"] = "loan"
    return m


DEFAULT_GL_MAP: dict[str, str] = _build()

# amount-type/description pairs that are "tax the buyer paid" (subject to the MF order rule).
SELLER_TAX_PAIRS: frozenset[tuple[str, str]] = frozenset({
    ("itemprice", "tax"), ("itemprice", "shippingtax"), ("itemprice", "giftwraptax"), ("promotion", "taxdiscount"),
})
# ItemWithheldTax descriptions that mark an order as marketplace-facilitator / deemed-supplier.
MF_WITHHELD_PREFIXES: tuple[str, ...] = ("marketplacefacilitatortax-", "marketplacefacilitatorvat-", "lowvaluegoodstax-")


def missing_role_reason(role: str) -> str:
    """The unmapped reason of a row whose GL role has no account (one line, names the fix)."""
    return f"GL role {role!r} has no account: set settlement.accounts.{role}"


def unknown_role_message(role: str) -> str:
    return f"unknown GL role {role!r}; valid roles: {', '.join(ROLE_NAMES)}"


__all__ = [
    "DEFAULT_GL_MAP", "GL_ROLES", "MF_WITHHELD_PREFIXES", "ROLE_BANK", "ROLE_CLEARING", "ROLE_NAMES", "ROLE_RESERVE",
    "ROLE_SUSPENSE", "ROLE_TAX_PAYABLE", "SELLER_TAX_PAIRS", "missing_role_reason", "unknown_role_message",
]
