"""Property-based tests: any generated settlement lands row by row in exactly one bucket, and the
journal always balances and posts exactly total-amount."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_amznetsuite.domain.settlement import reconcile
from airflow_provider_amznetsuite.domain.settlement.parse import parse_amount
from tests.fixtures.settlement.gen import SANDBOX_ACCOUNTS, Generated, SettlementCfg, fmt_amount, settlements

PROPS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CURRENCY_IDS = {"GBP": "2", "USD": "1", "EUR": "4", "JPY": "6"}


def _run(g: Generated, *, split: bool = False):
    return reconcile(g.data, marketplace=SettlementCfg(split_by_period=split), offline=False, lookup=g.lookup,
                     currency_ids=CURRENCY_IDS, subsidiary="2")


@PROPS
@given(settlements())
def test_every_row_lands_in_exactly_one_bucket(g: Generated):
    r = _run(g)
    quarantined = {e.line for e in r.quarantined}
    unmapped = {e.line for e in r.unmapped}
    unmatched = {e.line for e in r.unmatched}
    # disjoint, and exactly the rows the generator meant for each bucket
    assert not (quarantined & unmapped) and not (quarantined & unmatched) and not (unmapped & unmatched)
    assert quarantined == g.quarantined_lines
    assert unmapped == g.unmapped_lines
    assert unmatched == {line for line, key in g.keyed_lines.items() if not g.found(key)}
    assert len(r.quarantined) == len(quarantined) and len(r.unmatched) == len(unmatched)
    # counts add up: every data row is in one bucket, matched being "all the others"
    assert r.rows == g.row_count
    assert r.buckets["mapped"] + r.buckets["unmapped"] + r.buckets["quarantined"] == r.rows
    assert r.buckets["matched"] + r.buckets["unmatched"] == r.buckets["mapped"]
    assert r.buckets["matched"] == r.rows - len(quarantined | unmapped | unmatched)
    assert r.bucket_amounts["matched"] + r.bucket_amounts["unmatched"] + r.bucket_amounts["unmapped"] == r.lines_total
    # balance is exact
    assert r.lines_total == g.expected_lines_total
    assert r.balanced == (g.total == g.expected_lines_total)
    assert sum(r.by_account.values(), Decimal(0)) == r.lines_total
    assert r.exit_code == (0 if r.balanced and not quarantined else 1)


@PROPS
@given(settlements(), st.sets(st.sampled_from(sorted(set(SANDBOX_ACCOUNTS) - {"bank"})), max_size=6))
def test_roles_without_accounts_send_exactly_their_rows_to_suspense(g: Generated, dropped: set[str]):
    cfg = SettlementCfg(accounts={role: None for role in dropped})
    r = reconcile(g.data, marketplace=cfg, offline=False, lookup=g.lookup, currency_ids=CURRENCY_IDS, subsidiary="2")
    role_of = {a: role for role, a in SANDBOX_ACCOUNTS.items()}
    orphaned = {line for line, account in g.known_accounts.items() if role_of[account] in dropped}
    unmapped = {e.line for e in r.unmapped}
    assert unmapped == g.unmapped_lines | orphaned
    assert all(e.reason == f"GL role {role_of[g.known_accounts[e.line]]!r} has no account: "
                          f"set settlement.accounts.{role_of[g.known_accounts[e.line]]}" for e in r.unmapped if e.line in orphaned)
    assert {e.line for e in r.unmatched} == {line for line, key in g.keyed_lines.items()
                                             if not g.found(key) and line not in orphaned}
    assert r.buckets["mapped"] + r.buckets["unmapped"] + r.buckets["quarantined"] == r.rows
    assert r.buckets["matched"] + r.buckets["unmatched"] == r.buckets["mapped"]
    assert sum(r.by_account.values(), Decimal(0)) == r.lines_total
    assert not {SANDBOX_ACCOUNTS[role] for role in dropped if role != "suspense"} & set(r.by_account)
    if r.journal is not None:
        assert "suspense" not in dropped or not unmapped
        assert sum((ln.signed for ln in r.journal.lines if ln.kind == "account"), Decimal(0)) == r.total_amount


@PROPS
@given(settlements(), st.booleans())
def test_journal_posts_total_amount_and_balances(g: Generated, split: bool):
    r = _run(g, split=split)
    if not (r.balanced and not r.quarantined):
        assert r.journal is None and r.journal_problem
        return
    if r.journal is None:  # every account nets to zero: nothing to post
        assert all(v == 0 for v in r.by_account.values()) and r.total_amount == 0
        return
    j = r.journal
    debit = sum((ln.debit or Decimal(0) for ln in j.lines), Decimal(0))
    credit = sum((ln.credit or Decimal(0) for ln in j.lines), Decimal(0))
    assert debit == credit
    assert sum((ln.signed for ln in j.lines if ln.kind == "account"), Decimal(0)) == r.total_amount
    assert sum((-ln.signed for ln in j.lines if ln.kind == "deposit"), Decimal(0)) == r.total_amount
    assert all((ln.debit is None) != (ln.credit is None) for ln in j.lines)
    assert all((ln.debit or ln.credit) > 0 for ln in j.lines)
    for period in j.periods or [None]:  # each month group balances on its own
        group = [ln for ln in j.lines if ln.period == period]
        assert sum((ln.signed for ln in group), Decimal(0)) == 0
    if split and len({p for p in r.by_account_period if any(r.by_account_period[p].values())}) > 1:
        assert len(j.periods) >= 2
    keys = [(ln.account, ln.period, ln.kind) for ln in j.lines]
    assert len(keys) == len(set(keys))  # one line per account (per period)


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=-10**12, max_value=10**12), st.sampled_from([".", ","]), st.booleans(), st.sampled_from([0, 2, 3]))
def test_locale_amounts_round_trip(cents: int, decimal: str, thousands: bool, minor: int):
    value = Decimal(cents).scaleb(-minor)
    text = fmt_amount(value, decimal=decimal, thousands=thousands, minor=minor)
    assert parse_amount(text, decimal, minor) == value  # with the file's own separator always exact
