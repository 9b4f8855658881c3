"""Payment accounts' pure rules: which account each payee kind is paid to, what a valid number is,
how a number is sealed (hashed, encrypted, masked), and what a recording changes.

No I/O: the single route (services/registry/payees.py) and the bulk import's worker process
(services/registry/bulk_checks.py) share these, so a line sent either way is judged the same.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from shared.pii import encrypt_pii, lookup_hash


class PayeeKind(StrEnum):
    WORKER = "worker"  # paid to the social-security card (社会保障卡金融账户)
    ENTERPRISE = "enterprise"
    INSTITUTION = "institution"


class AccountKind(StrEnum):
    SOCIAL_SECURITY_CARD = "social_security_card"
    BANK_ACCOUNT = "bank_account"


# Which account each payee kind is paid to, and whose word sets it.
ACCOUNT_OF: Mapping[PayeeKind, AccountKind] = {
    PayeeKind.WORKER: AccountKind.SOCIAL_SECURITY_CARD,
    PayeeKind.ENTERPRISE: AccountKind.BANK_ACCOUNT,
    PayeeKind.INSTITUTION: AccountKind.BANK_ACCOUNT,
}
_CARD = re.compile(r"[0-9]{16,19}")  # the card's UnionPay financial account, Luhn-checked
_BANK = re.compile(r"[0-9]{8,32}")  # corporate accounts: digits, lengths vary by bank, no check digit


class InvalidAccount(ValueError):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field, self.reason = field, reason


def authority_of(kind: PayeeKind) -> str:
    """Who sets this kind's account (payees.may_set is the check; this names it in refusals)."""
    return "the employment-service feeder" if kind is PayeeKind.WORKER else "the bureau"


def not_authority(kind: PayeeKind) -> str:
    return f"only {authority_of(kind)} sets a {kind}'s account"


def luhn_check_digit(body: str) -> str:
    """The Luhn (ISO/IEC 7812) check digit bank cards append to `body`."""
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch) * (2 if i % 2 == 0 else 1)  # doubling starts next to the check digit
        total += d - 9 if d > 9 else d
    return str((10 - total % 10) % 10)


def luhn_ok(number: str) -> bool:
    return luhn_check_digit(number[:-1]) == number[-1]


def check_account(kind: PayeeKind, account_kind: AccountKind, number: str) -> None:
    """A worker is paid to a social-security card, an organisation to a bank account; the number fits."""
    if ACCOUNT_OF[kind] is not account_kind:
        raise InvalidAccount("account_kind", f"a {kind} is paid to a {ACCOUNT_OF[kind]}, not a {account_kind}")
    if account_kind is AccountKind.SOCIAL_SECURITY_CARD:
        if not _CARD.fullmatch(number) or not luhn_ok(number):
            raise InvalidAccount("account_number", "a social-security card account is 16-19 digits with a "
                                                   "valid check digit")
    elif not _BANK.fullmatch(number):
        raise InvalidAccount("account_number", "a bank account is 8-32 digits")


def mask_account(number: str) -> str:
    """First four and last four digits: enough to recognise, not to pay."""
    return number[:4] + "*" * (len(number) - 8) + number[-4:]


@dataclass(frozen=True, slots=True)
class SealedNumber:
    """An account number as the registry keeps it: never the number itself."""

    cipher: bytes  # AES-GCM (shared/pii.py)
    digest: str  # keyed HMAC: "same account?"
    masked: str


def seal(pii_key: bytes, number: str) -> SealedNumber:
    return SealedNumber(encrypt_pii(pii_key, number), lookup_hash(pii_key, number), mask_account(number))


@dataclass(frozen=True, slots=True)
class AccountIn:
    kind: PayeeKind
    payee_ref: str  # person_key or credit code
    account_kind: AccountKind
    number: SealedNumber
    account_name: str | None
    bank_name: str | None

    def content(self) -> tuple[str, str, str | None, str | None]:
        """What makes two recordings of a payee the same account."""
        return self.account_kind.value, self.number.digest, self.account_name, self.bank_name


@dataclass(frozen=True, slots=True)
class Recorded:
    """One account's outcome, in the order recorded: the row in force after it, and whether it
    made a new revision (whose event is then due)."""

    row: Mapping[str, Any]
    changed: bool


def decide_accounts(accounts: Sequence[AccountIn], in_force: Mapping[tuple[str, str], Mapping[str, Any]],
                    actor: str, today: date) -> list[Recorded]:
    """Each account in turn over the rows in force, as one request after another would: the same
    account again changes nothing; a different one is the next revision."""
    state = dict(in_force)
    out = []
    for a in accounts:
        key = (a.kind.value, a.payee_ref)
        old = state.get(key)
        if old is not None and (old["account_kind"], old["account_hash"], old["account_name"], old["bank_name"]) \
                == a.content():
            out.append(Recorded(old, False))
            continue
        state[key] = row = {
            "payee_kind": a.kind.value, "payee_ref": a.payee_ref, "account_kind": a.account_kind.value,
            "account_cipher": a.number.cipher, "account_hash": a.number.digest, "account_masked": a.number.masked,
            "account_name": a.account_name, "bank_name": a.bank_name,
            "revision": (old["revision"] + 1) if old else 1, "recorded_by": actor, "recorded_on": today}
        out.append(Recorded(row, True))
    return out
