"""Settlement row -> GL account.

Lookup order for a row's ``(transaction-type, amount-type, amount-description)`` (compared
case-insensitively, whitespace collapsed):

1. the marketplace's ``settlement.gl_map`` (any key there beats any default key);
2. the shipped :data:`~.default_gl_map.DEFAULT_GL_MAP`;
3. nothing matched: the **suspense** account, and the row is reported as *unmapped* — never dropped,
   never lumped into a fee account.

Inside one map the most specific key wins: amount-description first, then amount-type, then
transaction-type; per component exact > ``prefix*`` > ``*``.

Marketplace-facilitator rule (documented in :mod:`.default_gl_map`): a row whose amount-type /
description is buyer tax (``ItemPrice/Tax|ShippingTax|GiftWrapTax``, ``Promotion/TaxDiscount``) is
flagged ``seller_tax``; its final account is decided per order by :meth:`GlClassifier.tax_account`
once the whole settlement has been read — the withheld-tax clearing account when the order has an MF
withheld line (``mf_withheld``), else the mapped account (tax payable by default).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from airflow_provider_amznetsuite.domain.settlement.default_gl_map import (
    DEFAULT_GL_MAP,
    DEFAULT_ROLE_ACCOUNTS,
    MF_WITHHELD_PREFIXES,
    ROLE_BANK,
    ROLE_CLEARING,
    ROLE_RESERVE,
    ROLE_SUSPENSE,
    ROLES,
    SELLER_TAX_PAIRS,
)

_ACCOUNT_RE = re.compile(r"[0-9]+")


class SettlementConfigLike(Protocol):
    """What the classifier and journal read from ``MarketplaceConfig.settlement``."""

    bank_account: str | None
    suspense_account: str | None
    reserve_account: str | None
    withheld_tax_clearing_account: str | None
    gl_map: dict[str, str]
    split_by_period: bool
    department: str | None
    class_: str | None


def norm(value: str) -> str:
    """Comparison form of a settlement vocabulary value: casefolded, whitespace collapsed."""
    return " ".join(value.split()).casefold()


@dataclass(frozen=True, slots=True)
class Classification:
    account: str
    source: Literal["config", "default", "suspense"]
    rule: str  # the map key that matched ("" when unmapped)
    role: str  # 'account' | 'reserve' | 'withheld_tax_clearing' | 'bank' | 'suspense'
    seller_tax: bool  # buyer-tax row: final account decided per order (MF rule)
    mf_withheld: bool  # marketplace-facilitator withheld tax: marks its order as MF

    @property
    def unmapped(self) -> bool:
        return self.source == "suspense"


@dataclass(frozen=True, slots=True)
class _Pattern:
    key: str
    parts: tuple[tuple[int, str], tuple[int, str], tuple[int, str]]  # (kind 2=exact 1=prefix 0=any, text)
    target: str

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
        if target not in ROLES and not _ACCOUNT_RE.fullmatch(target):
            raise ValueError(f"{what} key {key!r}: {target!r} is not a NetSuite account internal id (digits)")
        patterns.append(_Pattern(str(key), comp, target))  # type: ignore[arg-type]
    patterns.sort(key=lambda p: p.specificity, reverse=True)
    return patterns


class GlClassifier:
    """Resolve settlement rows to GL accounts for one marketplace (results cached per triple)."""

    def __init__(self, settlement: SettlementConfigLike | Any | None = None, *,
                 default_map: Mapping[str, str] | None = None) -> None:
        cfg = settlement
        self.roles: dict[str, str] = {
            ROLE_BANK: getattr(cfg, "bank_account", None) or DEFAULT_ROLE_ACCOUNTS[ROLE_BANK],
            ROLE_SUSPENSE: getattr(cfg, "suspense_account", None) or DEFAULT_ROLE_ACCOUNTS[ROLE_SUSPENSE],
            ROLE_RESERVE: getattr(cfg, "reserve_account", None) or DEFAULT_ROLE_ACCOUNTS[ROLE_RESERVE],
            ROLE_CLEARING: getattr(cfg, "withheld_tax_clearing_account", None) or DEFAULT_ROLE_ACCOUNTS[ROLE_CLEARING],
        }
        self._config = _compile(dict(getattr(cfg, "gl_map", None) or {}), "settlement.gl_map")
        self._default = _compile(DEFAULT_GL_MAP if default_map is None else default_map, "default GL map")
        self._cache: dict[tuple[str, str, str], Classification] = {}

    @property
    def bank_account(self) -> str:
        return self.roles[ROLE_BANK]

    @property
    def suspense_account(self) -> str:
        return self.roles[ROLE_SUSPENSE]

    @property
    def clearing_account(self) -> str:
        return self.roles[ROLE_CLEARING]

    @property
    def reserve_account(self) -> str:
        return self.roles[ROLE_RESERVE]

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
                if p.matches(t, a, d):
                    if p.target in self.roles:
                        account, role = self.roles[p.target], p.target[1:]
                    else:
                        account, role = p.target, "account"
                    return Classification(account, source, p.key, role, seller_tax, mf)  # type: ignore[arg-type]
        return Classification(self.suspense_account, "suspense", "", "suspense", False, mf)

    def tax_account(self, classification: Classification, marketplace_facilitator: bool) -> str:
        """Final account of a ``seller_tax`` row: clearing on MF orders, else its mapped account."""
        if classification.seller_tax and marketplace_facilitator:
            return self.clearing_account
        return classification.account

    @staticmethod
    def unmapped_reason(transaction_type: str, amount_type: str, amount_description: str, suspense: str) -> str:
        key = f"{transaction_type}/{amount_type}/{amount_description}"
        shown = key if len(key) <= 120 else key[:120] + "…"
        return (f"no GL mapping for {shown!r}; add it to settlement.gl_map in the marketplace config "
                f"(posted to suspense account {suspense} meanwhile)")


__all__ = ["Classification", "GlClassifier", "SettlementConfigLike", "norm"]
