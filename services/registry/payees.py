"""Payees' payment accounts: who may set them, what a valid number is, and the event that carries
them (encrypted) to payments, which writes them onto the payment file.

Who is paid is a registry identity: a worker by person_key, an enterprise or institution by its
unified social credit code. The authority for an account is the payee's own authority: the
employment service (公共就业服务) for a worker's social-security card, the bureau for an
enterprise's or institution's bank account. Numbers are personal or confidential data: stored
AES-GCM encrypted (shared/pii.py), compared by keyed hash, shown masked, never logged.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from services.registry.domain import Feeder, Role
from services.registry.handlers import PRODUCER, content_hash
from services.registry.store_payees import payee_accounts
from shared.auth import AuthPrincipal
from shared.clock import nantong_today
from shared.events import PayeeAccountRecordedV1, derived_event_id, new_envelope
from shared.pii import encrypt_pii, lookup_hash
from shared.problems import Problem

if TYPE_CHECKING:
    from shared.app import Runtime


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


def may_set(principal: AuthPrincipal, kind: PayeeKind) -> bool:
    """The employment service sets workers' cards; the bureau sets organisations' accounts."""
    if kind is PayeeKind.WORKER:
        return principal.role == Role.FEEDER and principal.feeder == Feeder.EMPLOYMENT_SERVICE
    return principal.role == Role.BUREAU


def may_read(principal: AuthPrincipal, kind: PayeeKind) -> bool:
    """The bureau, auditors and the authority that set it (masked in every answer). hr and finance
    tokens are not addressed to the registry (shared/auth.py ROLE_AUDIENCES): they see the account
    masked in payments and in full only on the payment file."""
    return principal.role in ("bureau", "auditor") or may_set(principal, kind)


@dataclass(frozen=True, slots=True)
class AccountIn:
    kind: PayeeKind
    payee_ref: str
    account_kind: AccountKind
    number: str
    account_name: str | None
    bank_name: str | None


async def record_account(session: AsyncSession, runtime: Runtime, a: AccountIn,
                         actor: str) -> tuple[dict[str, Any], bool]:
    """Store the account in force (a new revision when it differs) and stage its event; (read, changed)."""
    key = runtime.state["pii_key"]
    t = payee_accounts
    old = (await session.execute(sa.select(t).where(t.c.payee_kind == a.kind.value, t.c.payee_ref == a.payee_ref)
                                 .with_for_update())).mappings().first()
    digest = lookup_hash(key, a.number)
    same = old is not None and (old["account_kind"], old["account_hash"], old["account_name"], old["bank_name"]) \
        == (a.account_kind.value, digest, a.account_name, a.bank_name)
    if old is not None and same:
        return _read(old), False
    row = {"payee_kind": a.kind.value, "payee_ref": a.payee_ref, "account_kind": a.account_kind.value,
           "account_cipher": encrypt_pii(key, a.number), "account_hash": digest,
           "account_masked": mask_account(a.number), "account_name": a.account_name, "bank_name": a.bank_name,
           "revision": (old["revision"] + 1) if old else 1, "recorded_by": actor, "recorded_on": nantong_today()}
    if old is None:
        await session.execute(sa.insert(t).values(**row))
    else:
        await session.execute(sa.update(t).where(t.c.payee_kind == a.kind.value, t.c.payee_ref == a.payee_ref)
                              .values(**row, updated_at=sa.func.now()))
    await runtime.emit(session, [_event(row)])
    return _read(row), True


def _event(row: Mapping[str, Any]) -> Any:
    payload = PayeeAccountRecordedV1(
        payee_kind=row["payee_kind"], payee_ref=row["payee_ref"], account_kind=row["account_kind"],
        account_cipher=base64.b64encode(row["account_cipher"]).decode(), account_masked=row["account_masked"],
        account_name=row["account_name"], bank_name=row["bank_name"], revision=row["revision"],
        recorded_on=row["recorded_on"])
    ident = content_hash({"kind": row["payee_kind"], "ref": row["payee_ref"], "revision": row["revision"]})
    return new_envelope(payload, key=row["payee_ref"], producer=PRODUCER,
                        event_id=derived_event_id("payee-account", ident))


def _read(row: Mapping[Any, Any]) -> dict[str, Any]:
    return {k: row[k] for k in ("payee_kind", "payee_ref", "account_kind", "account_masked", "account_name",
                                "bank_name", "revision", "recorded_on")}


async def get_account(session: AsyncSession, kind: PayeeKind, payee_ref: str) -> dict[str, Any] | None:
    t = payee_accounts
    row = (await session.execute(sa.select(t).where(t.c.payee_kind == kind.value, t.c.payee_ref == payee_ref))
           ).mappings().first()
    return _read(row) if row else None


def account_problem(exc: InvalidAccount) -> Problem:
    return Problem(422, "Invalid payment account", exc.reason, field=exc.field)
