"""The special account (职业技能提升行动专账, 十二.2) as a double-entry ledger. Pure: no I/O.

Sign convention: debit positive, credit negative, every transaction sums to exactly zero.
Asset-like accounts (special, clearing, receivable, disbursed) carry positive balances;
source-like accounts (finance allocation, payable) carry negative ones.

Every account belongs to one fund, a (funding source, district) pair, and every transaction
stays inside one fund: that is how 分账核算、专款专用 (十二.2) is kept — money of one source
can never pay another source's clause, and each fund's postings sum to zero on their own.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache


class DomainError(ValueError):
    """A rule of the payments domain refused the operation; nothing was changed."""


class UnbalancedTransaction(DomainError):
    """The postings of a transaction do not sum to zero."""


class FundingSource(StrEnum):
    """Funding sources named by 十二.1; each is accounted for separately (十二.2)."""

    UNEMPLOYMENT_INSURANCE_SURPLUS = "unemployment_insurance_surplus"  # 失业保险基金结余
    EMPLOYMENT_SUBSIDY = "employment_subsidy"  # 就业补助资金
    LOCAL_TALENT = "local_talent"  # 地方人才资金
    INDUSTRY_DEVELOPMENT = "industry_development"  # 产业发展资金


class AccountKind(StrEnum):
    SPECIAL = "special"  # 专账: money the fund holds, per source and district
    FINANCE_ALLOCATION = "finance_allocation"  # 财政拨入: where allocations come from
    TREASURY_CLEARING = "treasury_clearing"  # released to the treasury, not yet confirmed
    PAYABLE = "payable"  # owed to a payee: released, not yet confirmed paid
    RECEIVABLE = "receivable"  # owed by a payee: clawbacks and unearned advances
    DISBURSED = "disbursed"  # subsidy spent, per clause: feeds 公开资金使用情况


class PayeeKind(StrEnum):
    WORKER_CARD = "worker_card"  # the worker's social-security card account
    INSTITUTION = "institution"  # training or evaluation institution
    ENTERPRISE = "enterprise"


@dataclass(frozen=True, slots=True)
class Fund:
    source: FundingSource
    district: str  # county-level code, e.g. "320612"


@dataclass(frozen=True, slots=True)
class Payee:
    kind: PayeeKind
    party_id: str  # opaque id from registry; never a resident ID number (no PII in the ledger)

    @property
    def ref(self) -> str:
        return f"{self.kind}:{self.party_id}"


@dataclass(frozen=True, slots=True)
class Account:
    kind: AccountKind
    fund: Fund
    party: str = ""  # payee ref, for payable and receivable
    clause: str = ""  # clause id such as "四.4", for disbursed
    # A stable text key a store can index on; computed once, because the ledger hot path merges
    # legs and writes rows by it (hashing a str is C, hashing the dataclass is Python).
    code: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        parts = (self.kind.value, self.fund.source.value, self.fund.district, self.party, self.clause)
        object.__setattr__(self, "code", "|".join(parts))

    @classmethod
    def from_code(cls, code: str) -> Account:
        """The inverse of `code`, for a store that keeps accounts as text."""
        kind, source, district, party, clause = code.split("|")
        return cls(AccountKind(kind), Fund(FundingSource(source), district), party, clause)


@dataclass(frozen=True, slots=True)
class Posting:
    account: Account
    amount_fen: int  # signed: debit positive, credit negative


@dataclass(frozen=True, slots=True)
class Transaction:
    """Postings that sum to zero, all inside one fund; the constructor refuses anything else."""

    postings: tuple[Posting, ...]
    kind: str  # "allocation", "release", "paid", "failed", "reversal", "recovery", ...
    ref: str  # the disbursement or allocation this transaction belongs to

    def __post_init__(self) -> None:
        _check_postings(self.postings)

    @property
    def fund(self) -> Fund:
        return self.postings[0].account.fund


def _check_postings(postings: tuple[Posting, ...]) -> None:
    if len(postings) < 2:
        raise UnbalancedTransaction("a transaction needs at least two postings")
    total, fund = 0, postings[0].account.fund
    for p in postings:
        if type(p.amount_fen) is not int or p.amount_fen == 0:
            raise UnbalancedTransaction(f"posting amount must be a non-zero int fen: {p!r}")
        total += p.amount_fen
        if p.account.fund is not fund and p.account.fund != fund:  # `is` first: the common case is cheap
            raise UnbalancedTransaction("a transaction may not cross funds (十二.2 专款专用)")
    if total != 0:
        raise UnbalancedTransaction(f"postings sum to {total} fen, not zero")


def transaction(kind: str, ref: str, legs: Iterable[tuple[Account, int]]) -> Transaction:
    """Build a transaction, merging legs on the same account and dropping zero legs."""
    merged: dict[str, tuple[Account, int]] = {}  # by code: one account, one code
    for account, amount in legs:
        seen = merged.get(account.code)
        merged[account.code] = (account, amount + seen[1]) if seen else (account, amount)
    postings = tuple(Posting(a, v) for a, v in merged.values() if v != 0)
    return Transaction(postings=postings, kind=kind, ref=ref)


def balances(transactions: Iterable[Transaction]) -> dict[Account, int]:
    """Every account's balance, derived from postings only."""
    out: dict[Account, int] = defaultdict(int)
    for tx in transactions:
        for p in tx.postings:
            out[p.account] += p.amount_fen
    return dict(out)


def fund_totals(balance_by_account: Mapping[Account, int]) -> dict[Fund, int]:
    """Sum of balances per fund: zero for every fund when nothing crossed funds."""
    out: dict[Fund, int] = defaultdict(int)
    for account, amount in balance_by_account.items():
        out[account.fund] += amount
    return dict(out)


# ---- accounts -----------------------------------------------------------------------------

# The per-fund accounts recur in every transaction of a batch: built once (values, so sharing is safe).
@lru_cache(maxsize=4096)
def special(fund: Fund) -> Account:
    return Account(AccountKind.SPECIAL, fund)


@lru_cache(maxsize=4096)
def finance_allocation(fund: Fund) -> Account:
    return Account(AccountKind.FINANCE_ALLOCATION, fund)


@lru_cache(maxsize=4096)
def clearing(fund: Fund) -> Account:
    return Account(AccountKind.TREASURY_CLEARING, fund)


def payable(fund: Fund, payee: Payee) -> Account:
    return Account(AccountKind.PAYABLE, fund, party=payee.ref)


def receivable(fund: Fund, payee: Payee) -> Account:
    return Account(AccountKind.RECEIVABLE, fund, party=payee.ref)


@lru_cache(maxsize=4096)
def disbursed(fund: Fund, clause: str) -> Account:
    return Account(AccountKind.DISBURSED, fund, clause=clause)
