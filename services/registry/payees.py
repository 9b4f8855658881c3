"""Payees' payment accounts: who may set them, how they are stored, and the event that carries
them (encrypted) to payments, which writes them onto the payment file (what a valid number is and
what a recording changes: services/registry/payee_rules.py, pure).

Who is paid is a registry identity: a worker by person_key, an enterprise or institution by its
unified social credit code. The authority for an account is the payee's own authority: the
employment service (公共就业服务) for a worker's social-security card, the bureau for an
enterprise's or institution's bank account. Numbers are personal or confidential data: stored
AES-GCM encrypted (shared/pii.py), compared by keyed hash, shown masked, never logged.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from services.registry.domain import Feeder, Role
from services.registry.handlers import PRODUCER, content_hash
from services.registry.payee_rules import AccountIn, InvalidAccount, PayeeKind, Recorded, decide_accounts
from services.registry.store_payees import payee_accounts
from shared.auth import AuthPrincipal
from shared.clock import nantong_today
from shared.db import any_of, insert_many
from shared.events import PayeeAccountRecordedV1, derived_event_id, new_envelope
from shared.problems import Problem

if TYPE_CHECKING:
    from shared.app import Runtime

_COLUMNS = [c.name for c in payee_accounts.c if c.name != "updated_at"]


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


async def record_accounts(session: AsyncSession, runtime: Runtime, accounts: Sequence[AccountIn],
                          actor: str) -> list[Recorded]:
    """Store each account in force, in order (a new revision when it differs), and stage the event
    of every revision: load the rows in force (locked), decide (payee_rules), write."""
    in_force = await _in_force(session, {(a.kind.value, a.payee_ref) for a in accounts})
    recorded = decide_accounts(accounts, in_force, actor, nantong_today())
    revisions = [r.row for r in recorded if r.changed]
    await _store(session, list({(r["payee_kind"], r["payee_ref"]): r for r in revisions}.values()))
    await runtime.emit(session, [_event(r) for r in revisions])
    return recorded


async def _in_force(session: AsyncSession, keys: set[tuple[str, str]]) -> dict[tuple[str, str], Mapping[str, Any]]:
    """The rows in force for these payees, locked (in key order, so two writers cannot deadlock)."""
    if not keys:
        return {}
    t = payee_accounts
    rows = (await session.execute(sa.select(t).where(any_of(t.c.payee_ref, sorted({r for _, r in keys})))
                                  .order_by(t.c.payee_kind, t.c.payee_ref).with_for_update())).mappings()
    return {k: dict(row) for row in rows if (k := (row["payee_kind"], row["payee_ref"])) in keys}


_UPSERT = ("ON CONFLICT (payee_kind, payee_ref) DO UPDATE SET "
           + ", ".join(f"{c} = EXCLUDED.{c}" for c in _COLUMNS if c not in ("payee_kind", "payee_ref"))
           + ", updated_at = now() WHERE payee_accounts.revision < EXCLUDED.revision")


async def _store(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
    """One statement for all the payees' new rows. The rows in force were locked when read; a payee
    new to us that another request recorded meanwhile fails the whole write (nothing half-written),
    as the single insert failed on its key before: the caller sends it again."""
    ordered = sorted(rows, key=lambda r: (r["payee_kind"], r["payee_ref"]))
    if await insert_many(session, payee_accounts, ordered, conflict=_UPSERT) != len(rows):
        raise Problem(409, "Concurrent change", "another request recorded one of these payees' accounts at "
                      "the same moment; send it again", field="payee_ref")


def _event(row: Mapping[str, Any]) -> Any:
    payload = PayeeAccountRecordedV1(
        payee_kind=row["payee_kind"], payee_ref=row["payee_ref"], account_kind=row["account_kind"],
        account_cipher=base64.b64encode(row["account_cipher"]).decode(), account_masked=row["account_masked"],
        account_name=row["account_name"], bank_name=row["bank_name"], revision=row["revision"],
        recorded_on=row["recorded_on"])
    ident = content_hash({"kind": row["payee_kind"], "ref": row["payee_ref"], "revision": row["revision"]})
    return new_envelope(payload, key=row["payee_ref"], producer=PRODUCER,
                        event_id=derived_event_id("payee-account", ident))


def read(row: Mapping[Any, Any]) -> dict[str, Any]:
    """The answer about an account: masked, never the number."""
    return {k: row[k] for k in ("payee_kind", "payee_ref", "account_kind", "account_masked", "account_name",
                                "bank_name", "revision", "recorded_on")}


async def get_account(session: AsyncSession, kind: PayeeKind, payee_ref: str) -> dict[str, Any] | None:
    t = payee_accounts
    row = (await session.execute(sa.select(t).where(t.c.payee_kind == kind.value, t.c.payee_ref == payee_ref))
           ).mappings().first()
    return read(row) if row else None


def account_problem(exc: InvalidAccount) -> Problem:
    return Problem(422, "Invalid payment account", exc.reason, field=exc.field)
