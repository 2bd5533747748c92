"""Settlement row -> GL role -> GL account.

Lookup order for a row's ``(transaction-type, amount-type, amount-description)`` (compared
case-insensitively, whitespace collapsed):

1. the marketplace's ``settlement.gl_map`` (any key there beats any default key); its values are
   NetSuite account internal ids (digits) or GL role names;
2. the shipped :data:`~.default_gl_map.DEFAULT_GL_MAP` (values are GL roles);
3. nothing matched: the **suspense** account, and the row is reported as *unmapped* — never dropped,
   never lumped into a fee account.

A role resolves to an account through ``settlement.accounts`` (role -> account id). A row whose role
has no account there is posted to suspense and reported as *unmapped* with the reason
``GL role 'fba_fees' has no account: set settlement.accounts.fba_fees``. When ``suspense`` itself has
no account, such rows are kept under the placeholder key ``role:suspense`` (shown in ``by_account``)
and no journal is built until the account is configured.

Inside one map the most specific key wins: amount-description first, then amount-type, then
transaction-type; per component exact > ``prefix*`` > ``*``.

Marketplace-facilitator rule (documented in :mod:`.default_gl_map`): a row whose amount-type /
description is buyer tax (``ItemPrice/Tax|ShippingTax|GiftWrapTax``, ``Promotion/TaxDiscount``) is
flagged ``seller_tax``; its final account is decided per order by :meth:`GlClassifier.tax_account`
once the whole settlement has been read — the ``marketplace_tax_clearing`` account when the order has
an MF withheld line (``mf_withheld``), else the mapped account (``tax_payable`` by default). Without a
clearing account those rows and the withheld rows meet in suspense instead (where they still net to
zero; the withheld rows are listed as unmapped, naming the missing role).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from airflow_provider_amznetsuite.domain.settlement.default_gl_map import (
    DEFAULT_GL_MAP,
    GL_ROLES,
    MF_WITHHELD_PREFIXES,
    ROLE_BANK,
    ROLE_CLEARING,
    ROLE_RESERVE,
    ROLE_SUSPENSE,
    SELLER_TAX_PAIRS,
    missing_role_reason,
    unknown_role_message,
)

_ACCOUNT_RE = re.compile(r"[0-9]+")
UNSET_PREFIX = "role:"  # by_account key of rows whose (suspense) account is not configured


class SettlementConfigLike(Protocol):
    """What the classifier and journal read from ``MarketplaceConfig.settlement``."""

    accounts: Mapping[str, str]
    gl_map: Mapping[str, str]
    split_by_period: bool
    department: str | None
    class_: str | None


def norm(value: str) -> str:
    """Comparison form of a settlement vocabulary value: casefolded, whitespace collapsed."""
    return " ".join(value.split()).casefold()


@dataclass(frozen=True, slots=True)
class Classification:
    account: str  # where the row posts (the suspense account when unmapped)
    source: Literal["config", "default", "suspense"]
    rule: str  # the map key that matched ("" when no key matched)
    role: str | None  # the GL role of the row (None: gl_map named an account directly, or no key matched)
    seller_tax: bool  # buyer-tax row: final account decided per order (MF rule)
    mf_withheld: bool  # marketplace-facilitator withheld tax: marks its order as MF
    missing_role: str | None = None  # the row's role has no account (so it is unmapped)

    @property
    def unmapped(self) -> bool:
        return self.source == "suspense"


@dataclass(frozen=True, slots=True)
class _Pattern:
    key: str
    parts: tuple[tuple[int, str], tuple[int, str], tuple[int, str]]  # (kind 2=exact 1=prefix 0=any, text)
    target: str  # account id (digits) or role name

    @property
    def specificity(self) -> tuple[int, int, int]:
        t, a, d = self.parts
        return (d[0], a[0], t[0])

    def matches(self, t: str, a: str, d: str) -> bool:
        for (kind, text), value in zip(self.parts, (t, a, d)):
            if kind == 2 and value != text:
                return False
            if kind == 1 and not value.startswith(text):
                return False
        return True


def _component(raw: str) -> tuple[int, str]:
    text = norm(raw)
    if text == "*":
        return (0, "")
    if text.endswith("*"):
        return (1, text[:-1])
    return (2, text)


def _compile(mapping: Mapping[str, str], what: str) -> list[_Pattern]:
    seen: dict[tuple[tuple[int, str], ...], str] = {}
    patterns: list[_Pattern] = []
    for key, target in mapping.items():
        parts = str(key).split("/")
        if len(parts) != 3 or not all(p.strip() for p in parts):
            raise ValueError(f"{what} key {key!r} must be 'transaction-type/amount-type/amount-description'")
        comp = (_component(parts[0]), _component(parts[1]), _component(parts[2]))
        if comp in seen:
            raise ValueError(f"{what} keys {seen[comp]!r} and {key!r} are the same key (keys compare case-insensitively)")
        seen[comp] = str(key)
        target = str(target).strip()
        if target not in GL_ROLES and not _ACCOUNT_RE.fullmatch(target):
            raise ValueError(f"{what} key {key!r}: {target!r} is not a NetSuite account internal id (digits) "
                             f"nor a GL role ({', '.join(GL_ROLES)})")
        patterns.append(_Pattern(str(key), comp, target))  # type: ignore[arg-type]
    patterns.sort(key=lambda p: p.specificity, reverse=True)
    return patterns


def role_accounts(accounts: Mapping[str, Any] | None) -> dict[str, str]:
    """Validated ``{role: account id}`` (unknown roles and non-digit ids raise ValueError)."""
    out: dict[str, str] = {}
    for role, account in (accounts or {}).items():
        if role not in GL_ROLES:
            raise ValueError(unknown_role_message(str(role)))
        if account is None or str(account).strip() == "":
            continue
        text = str(account).strip()
        if not _ACCOUNT_RE.fullmatch(text):
            raise ValueError(f"settlement.accounts.{role}: {text!r} is not a NetSuite account internal id (digits)")
        out[role] = text
    return out


class GlClassifier:
    """Resolve settlement rows to GL accounts for one marketplace (results cached per triple)."""

    def __init__(self, settlement: SettlementConfigLike | Any | None = None, *,
                 default_map: Mapping[str, str] | None = None) -> None:
        cfg = settlement
        self.accounts: dict[str, str] = role_accounts(getattr(cfg, "accounts", None))
        self._config = _compile(dict(getattr(cfg, "gl_map", None) or {}), "settlement.gl_map")
        self._default = _compile(DEFAULT_GL_MAP if default_map is None else default_map, "default GL map")
        self._cache: dict[tuple[str, str, str], Classification] = {}

    # -- role accounts ---------------------------------------------------------------------------
    def account_for(self, role: str) -> str | None:
        return self.accounts.get(role)

    @property
    def bank_account(self) -> str | None:
        return self.accounts.get(ROLE_BANK)

    @property
    def suspense_account(self) -> str:
        """The suspense account, or the placeholder ``role:suspense`` when none is configured."""
        return self.accounts.get(ROLE_SUSPENSE) or UNSET_PREFIX + ROLE_SUSPENSE

    @property
    def clearing_account(self) -> str:
        """Marketplace tax clearing (suspense when not configured: the MF rows still net to zero there)."""
        return self.accounts.get(ROLE_CLEARING) or self.suspense_account

    @property
    def reserve_account(self) -> str | None:
        return self.accounts.get(ROLE_RESERVE)

    def account_labels(self) -> dict[str, str]:
        """``{account id: label}`` of the role accounts (roles sharing an account are joined)."""
        labels: dict[str, list[str]] = {}
        for role, account in self.accounts.items():
            labels.setdefault(account, []).append(GL_ROLES[role])
        return {a: " / ".join(names) for a, names in labels.items()}

    # -- classification --------------------------------------------------------------------------
    def classify(self, transaction_type: str, amount_type: str, amount_description: str) -> Classification:
        raw = (transaction_type, amount_type, amount_description)
        hit = self._cache.get(raw)
        if hit is None:
            hit = self._resolve(norm(transaction_type), norm(amount_type), norm(amount_description))
            if len(self._cache) < 100_000:  # the vocabulary is small; hostile files must not grow this
                self._cache[raw] = hit
        return hit

    def _resolve(self, t: str, a: str, d: str) -> Classification:
        seller_tax = (a, d) in SELLER_TAX_PAIRS
        mf = a == "itemwithheldtax" and d.startswith(MF_WITHHELD_PREFIXES)
        for source, patterns in (("config", self._config), ("default", self._default)):
            for p in patterns:
                if not p.matches(t, a, d):
                    continue
                if p.target not in GL_ROLES:  # an account id named directly
                    return Classification(p.target, source, p.key, None, seller_tax, mf)  # type: ignore[arg-type]
                account = self.accounts.get(p.target)
                if account is None:
                    return Classification(self.suspense_account, "suspense", p.key, p.target, False, mf, p.target)
                return Classification(account, source, p.key, p.target, seller_tax, mf)  # type: ignore[arg-type]
        return Classification(self.suspense_account, "suspense", "", None, False, mf)

    def tax_account(self, classification: Classification, marketplace_facilitator: bool) -> str:
        """Final account of a ``seller_tax`` row: clearing on MF orders, else its mapped account."""
        if classification.seller_tax and marketplace_facilitator:
            return self.clearing_account
        return classification.account

    def unmapped_reason(self, classification: Classification, transaction_type: str, amount_type: str,
                        amount_description: str) -> str:
        """One line naming the fix for an unmapped row."""
        if classification.missing_role:
            return missing_role_reason(classification.missing_role)
        key = f"{transaction_type}/{amount_type}/{amount_description}"
        shown = key if len(key) <= 120 else key[:120] + "…"
        suspense = self.accounts.get(ROLE_SUSPENSE)
        where = (f"posted to suspense account {suspense} meanwhile" if suspense
                 else "set settlement.accounts.suspense to post it meanwhile")
        return f"no GL mapping for {shown!r}; add it to settlement.gl_map in the marketplace config ({where})"


__all__ = ["Classification", "GlClassifier", "SettlementConfigLike", "UNSET_PREFIX", "norm", "role_accounts"]
