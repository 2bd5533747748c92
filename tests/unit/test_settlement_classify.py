"""GL classification: the observed V2 vocabulary, overrides, wildcards, suspense, MF tax rule."""

from __future__ import annotations

import pytest

from airflow_provider_amznetsuite.domain.settlement.classify import GlClassifier, norm
from airflow_provider_amznetsuite.domain.settlement.default_gl_map import DEFAULT_GL_MAP, GL_ROLES
from tests.fixtures.settlement.gen import SANDBOX_ACCOUNTS, SettlementCfg

ROLE_OF = {account: role for role, account in SANDBOX_ACCOUNTS.items()}

# Every amount-type / amount-description pair of spapi.md §6 ("Observed settlement value vocabulary"),
# with the transaction type it appears under, and the account it must reach with the shipped map.
VOCABULARY = [
    # ItemPrice
    ("Order", "ItemPrice", "Principal", "400"),
    ("Order", "ItemPrice", "Shipping", "401"),
    ("Order", "ItemPrice", "Tax", "210"),
    ("Order", "ItemPrice", "ShippingTax", "210"),
    ("Order", "ItemPrice", "GiftWrap", "402"),
    ("Order", "ItemPrice", "GiftWrapTax", "210"),
    ("Refund", "ItemPrice", "RestockingFee", "404"),
    ("Refund", "ItemPrice", "ReturnShipping", "404"),
    ("Refund", "ItemPrice", "Goodwill", "404"),
    # ItemFees
    ("Order", "ItemFees", "Commission", "500"),
    ("Order", "ItemFees", "FBAPerUnitFulfillmentFee", "501"),
    ("Order", "ItemFees", "FBAPerOrderFulfillmentFee", "501"),
    ("Order", "ItemFees", "FBAWeightBasedFee", "501"),
    ("Refund", "ItemFees", "RefundCommission", "500"),
    ("Order", "ItemFees", "ShippingChargeback", "501"),
    ("Order", "ItemFees", "GiftwrapChargeback", "501"),
    ("Order", "ItemFees", "DigitalServicesFee", "500"),
    ("Order", "ItemFees", "SalesTaxServiceFee", "500"),
    ("Order", "ItemFees", "VariableClosingFee", "500"),
    ("Order", "ItemFees", "FixedClosingFee", "500"),
    # Promotion
    ("Order", "Promotion", "Principal", "403"),
    ("Order", "Promotion", "Shipping", "403"),
    ("Order", "Promotion", "TaxDiscount", "210"),
    # ItemWithheldTax -> clearing
    ("Order", "ItemWithheldTax", "MarketplaceFacilitatorTax-Principal", "211"),
    ("Order", "ItemWithheldTax", "MarketplaceFacilitatorTax-Shipping", "211"),
    ("Order", "ItemWithheldTax", "MarketplaceFacilitatorTax-Giftwrap", "211"),
    ("Order", "ItemWithheldTax", "MarketplaceFacilitatorTax-Other", "211"),
    ("Order", "ItemWithheldTax", "MarketplaceFacilitatorVAT-Principal", "211"),
    ("Order", "ItemWithheldTax", "MarketplaceFacilitatorVAT-Shipping", "211"),
    ("Order", "ItemWithheldTax", "LowValueGoodsTax-Principal", "211"),
    ("Order", "ItemWithheldTax", "LowValueGoodsTax-Shipping", "211"),
    ("Order", "ItemWithheldTax", "LowValueGoodsTax-Other", "211"),
    ("Order", "ItemWithheldTax", "TCS-CGST", "211"),
    ("Order", "ItemWithheldTax", "TCS-SGST", "211"),
    ("Order", "ItemWithheldTax", "TCS-IGST", "211"),
    ("Order", "ItemWithheldTax", "TDS (Section 194-O)", "211"),
    # other-transaction
    ("other-transaction", "other-transaction", "Storage Fee", "502"),
    ("other-transaction", "other-transaction", "StorageRenewalBilling", "502"),
    ("other-transaction", "other-transaction", "Subscription Fee", "504"),
    ("other-transaction", "other-transaction", "Current Reserve Amount", "120"),
    ("other-transaction", "other-transaction", "Previous Reserve Amount Balance", "120"),
    ("other-transaction", "other-transaction", "Successful charge", "120"),
    ("other-transaction", "other-transaction", "Payable to Amazon", "120"),
    ("other-transaction", "other-transaction", "RemovalComplete", "501"),
    ("other-transaction", "other-transaction", "inbound transportation", "501"),
    ("other-transaction", "other-transaction", "NonSubscriptionFeeAdj", "505"),
    ("other-transaction", "other-transaction", "MiscAdjustment", "505"),
    ("other-transaction", "other-transaction", "BuyerRecharge", "404"),
    ("other-transaction", "other-transaction", "Paid Services Fee", "505"),
    ("other-transaction", "other-transaction", "SAFE-T Reimbursement", "410"),
    ("other-transaction", "other-transaction", "Loan Repayment", "220"),
    # FBA Inventory Reimbursement
    ("other-transaction", "FBA Inventory Reimbursement", "REVERSAL_REIMBURSEMENT", "411"),
    ("other-transaction", "FBA Inventory Reimbursement", "WAREHOUSE_DAMAGE", "410"),
    ("other-transaction", "FBA Inventory Reimbursement", "WAREHOUSE_DAMAGE_EXCEPTION", "410"),
    ("other-transaction", "FBA Inventory Reimbursement", "WAREHOUSE_LOST", "410"),
    ("other-transaction", "FBA Inventory Reimbursement", "WAREHOUSE_LOST_MANUAL", "410"),
    ("other-transaction", "FBA Inventory Reimbursement", "FREE_REPLACEMENT_REFUND_ITEMS", "410"),
    ("other-transaction", "FBA Inventory Reimbursement", "MISSING_FROM_INBOUND", "410"),
    ("other-transaction", "FBA Inventory Reimbursement", "MISSING_FROM_INBOUND_CLAWBACK", "411"),
    ("other-transaction", "FBA Inventory Reimbursement", "CS_ERROR_ITEMS", "410"),
    ("other-transaction", "FBA Inventory Reimbursement", "RE_EVALUATION", "410"),
    ("other-transaction", "FBA Inventory Reimbursement", "COMPENSATED_CLAWBACK", "411"),
    ("other-transaction", "FBA Inventory Reimbursement", "CUSTOMER_RETURN", "410"),
    # advertising, coupons, points
    ("ServiceFee", "Cost of Advertising", "TransactionTotalAmount", "503"),
    ("CouponRedemptionFee", "CouponRedemptionFee", "CouponRedemptionFee", "503"),
    ("Order", "Points", "PointsGranted", "403"),
    # refunds, A-to-z, chargebacks (domain.md §3.3)
    ("Refund", "ItemPrice", "Principal", "404"),
    ("Refund", "ItemPrice", "Shipping", "404"),
    ("Refund", "ItemPrice", "Tax", "210"),
    ("Refund", "Promotion", "Principal", "403"),
    ("A-to-z Guarantee Refund", "ItemPrice", "Principal", "405"),
    ("A-to-z Guarantee Refund", "ItemPrice", "Shipping", "405"),
    ("A-to-z Guarantee Refund", "ItemFees", "Commission", "500"),
    ("Chargeback Refund", "ItemPrice", "Principal", "406"),
    ("Chargeback Refund", "ItemPrice", "Tax", "210"),
    ("Vine Enrollment Fee", "other-transaction", "Vine Enrollment Fee", "503"),
    ("SAFE-T Reimbursement", "other-transaction", "SAFE-T Reimbursement", "410"),
    ("Order_Retrocharge", "ItemPrice", "Tax", "210"),
    ("other-transaction", "other-transaction", "Amazon Capital Services", "220"),
]


@pytest.mark.parametrize(("ttype", "atype", "desc", "account"), VOCABULARY)
def test_vocabulary_reaches_its_intended_account(ttype, atype, desc, account):
    c = GlClassifier(SettlementCfg()).classify(ttype, atype, desc)
    assert (c.account, c.unmapped) == (account, False), c.rule
    assert c.role == ROLE_OF[account]  # the default map names roles, the config names accounts


def test_comparison_is_case_insensitive_and_whitespace_normalised():
    g = GlClassifier(SettlementCfg())
    a = g.classify("Other-Transaction", "OTHER-TRANSACTION", "  storage   fee ")
    assert a.account == "502" and a.rule == "*/other-transaction/Storage Fee" and a.role == "storage_fees"
    assert norm("  A-to-z  Guarantee\tRefund ") == "a-to-z guarantee refund"


@pytest.mark.parametrize("triple", [
    ("other-transaction", "other-transaction", "Totally New Fee"),
    ("Liquidations Adjustments", "Liquidations", "Proceeds"),
    ("Order_Retrocharge", "ItemPrice", "Principal"),
    ("Order", "ItemPrice", "Principal Plus"),
    ("", "", ""),
])
def test_unknown_combinations_go_to_suspense_and_are_unmapped(triple):
    g = GlClassifier(SettlementCfg(accounts={"suspense": "9999"}))
    c = g.classify(*triple)
    assert (c.account, c.unmapped, c.source, c.rule, c.role, c.missing_role) == ("9999", True, "suspense", "", None, None)
    reason = g.unmapped_reason(c, *triple)
    assert "add it to settlement.gl_map" in reason and "suspense account 9999" in reason


def test_a_role_without_account_goes_to_suspense_naming_the_setting():
    g = GlClassifier(SettlementCfg(accounts={"fba_fees": None}))
    c = g.classify("Order", "ItemFees", "FBAPerUnitFulfillmentFee")
    assert (c.account, c.unmapped, c.role, c.missing_role) == ("599", True, "fba_fees", "fba_fees")
    assert g.unmapped_reason(c, "Order", "ItemFees", "FBAPerUnitFulfillmentFee") == (
        "GL role 'fba_fees' has no account: set settlement.accounts.fba_fees")
    assert g.classify("Order", "ItemFees", "Commission").account == "500"  # other roles unaffected


def test_no_accounts_at_all_means_nothing_is_guessed():
    g = GlClassifier()  # no config: the shipped map names roles only, never account ids
    c = g.classify("Order", "ItemPrice", "Principal")
    assert (c.account, c.unmapped, c.missing_role) == ("role:suspense", True, "sales")
    assert g.bank_account is None and g.reserve_account is None
    assert g.unmapped_reason(g.classify("x", "y", "z"), "x", "y", "z").endswith(
        "(set settlement.accounts.suspense to post it meanwhile)")


def test_config_override_wins_even_when_less_specific():
    cfg = SettlementCfg(gl_map={"*/ItemFees/*": "6000", "Order/ItemPrice/Principal": "4001",
                                "other-transaction/other-transaction/Totally New Fee": "6500",
                                "other-transaction/other-transaction/Brand Fee": "advertising"})
    g = GlClassifier(cfg)
    assert g.classify("Order", "ItemFees", "Commission").account == "6000"  # default has an exact key; config wins
    assert g.classify("Order", "ItemFees", "Commission").source == "config"
    assert g.classify("order", "itemprice", "principal").account == "4001"
    assert g.classify("Refund", "ItemPrice", "Principal").account == "404"  # not overridden
    new = g.classify("other-transaction", "other-transaction", "Totally New Fee")
    assert (new.account, new.unmapped, new.role) == ("6500", False, None)
    brand = g.classify("other-transaction", "other-transaction", "Brand Fee")  # a gl_map value may be a role
    assert (brand.account, brand.role, brand.source) == ("503", "advertising", "config")


def test_most_specific_key_wins_inside_a_map():
    g = GlClassifier(default_map={"*/ItemPrice/*": "1", "Refund/ItemPrice/*": "2", "*/ItemPrice/Tax": "3",
                                  "*/*/MarketplaceFacilitator*": "4", "*/ItemWithheldTax/MarketplaceFacilitatorTax-Principal": "5"})
    assert g.classify("Order", "ItemPrice", "Principal").account == "1"
    assert g.classify("Refund", "ItemPrice", "Principal").account == "2"
    assert g.classify("Refund", "ItemPrice", "Tax").account == "3"  # description decides first
    assert g.classify("Order", "ItemWithheldTax", "MarketplaceFacilitatorVAT-Shipping").account == "4"  # prefix
    assert g.classify("Order", "ItemWithheldTax", "MarketplaceFacilitatorTax-Principal").account == "5"


def test_roles_resolve_from_config_and_label_their_accounts():
    g = GlClassifier(SettlementCfg(sandbox=False, accounts={"bank": "1015", "reserve": "1250",
                                                            "marketplace_tax_clearing": "2210", "suspense": "9999",
                                                            "sales": "4000", "shipping_income": "4000"}))
    assert g.classify("other-transaction", "other-transaction", "Current Reserve Amount").account == "1250"
    assert g.classify("Order", "ItemWithheldTax", "MarketplaceFacilitatorTax-Principal").account == "2210"
    assert (g.bank_account, g.suspense_account, g.clearing_account) == ("1015", "9999", "2210")
    assert g.account_labels()["4000"] == "Sales / Shipping income"
    assert g.account_labels()["1015"] == "Amazon clearing (deposit)"


def test_missing_clearing_account_routes_mf_tax_through_suspense():
    g = GlClassifier(SettlementCfg(accounts={"marketplace_tax_clearing": None}))
    withheld = g.classify("Order", "ItemWithheldTax", "MarketplaceFacilitatorTax-Principal")
    assert (withheld.account, withheld.unmapped, withheld.mf_withheld) == ("599", True, True)
    tax = g.classify("Order", "ItemPrice", "Tax")
    assert g.tax_account(tax, True) == "599" and g.tax_account(tax, False) == "210"


def test_unknown_roles_and_bad_ids_are_refused():
    with pytest.raises(ValueError, match="unknown GL role 'fees'; valid roles: bank, suspense, reserve"):
        GlClassifier(SettlementCfg(accounts={"fees": "1"}))
    with pytest.raises(ValueError, match="settlement.accounts.sales: 'x1' is not a NetSuite account internal id"):
        GlClassifier(SettlementCfg(accounts={"sales": "x1"}))


def test_marketplace_facilitator_flags_and_tax_account():
    g = GlClassifier(SettlementCfg())
    tax = g.classify("Order", "ItemPrice", "Tax")
    withheld = g.classify("Order", "ItemWithheldTax", "MarketplaceFacilitatorTax-Principal")
    tcs = g.classify("Order", "ItemWithheldTax", "TCS-IGST")
    principal = g.classify("Order", "ItemPrice", "Principal")
    assert (tax.seller_tax, tax.mf_withheld) == (True, False)
    assert (withheld.seller_tax, withheld.mf_withheld) == (False, True)
    assert tcs.mf_withheld is False  # India TCS is not facilitator tax: the order's GST stays payable
    assert g.tax_account(tax, True) == "211" and g.tax_account(tax, False) == "210"
    assert g.tax_account(principal, True) == "400"


def test_invalid_maps_are_refused():
    with pytest.raises(ValueError, match="same key"):
        GlClassifier(SettlementCfg(gl_map={"Order/ItemPrice/Principal": "1", "order/itemprice/ principal": "2"}))
    with pytest.raises(ValueError, match="not a NetSuite account internal id \\(digits\\) nor a GL role"):
        GlClassifier(SettlementCfg(gl_map={"Order/ItemPrice/Principal": "abc"}))
    with pytest.raises(ValueError, match="must be 'transaction-type/amount-type/amount-description'"):
        GlClassifier(SettlementCfg(gl_map={"Order/ItemPrice": "1"}))


def test_default_map_names_only_roles_and_the_sandbox_chart_has_every_role():
    from airflow_provider_amznetsuite.sandbox.catalog import ACCOUNTS  # tests may read the sandbox chart

    GlClassifier()  # compiles without error
    assert set(DEFAULT_GL_MAP.values()) <= set(GL_ROLES)
    assert set(DEFAULT_GL_MAP.values()) | {"bank", "suspense"} == set(GL_ROLES)  # every role is used
    assert set(SANDBOX_ACCOUNTS) == set(GL_ROLES) and set(SANDBOX_ACCOUNTS.values()) <= set(ACCOUNTS)
