"""Group commit for `POST /v1/certificates`: requests that arrive while a transaction is committing
wait and then share the next one.

One certificate per request used to cost its own transaction: about ten statements (the person,
the certificate, its read-back, the outbox, the audit chain's lock, head and entry) and a commit,
every commit queued on the audit chain's advisory lock, so the route topped out near 100-170/s.
Here the requests waiting when a group starts are recorded together with the bulk import's
statements (services/registry/bulk.py: one per table for the whole group), their events staged
with one outbox write, every request's audit entry appended in the same transaction, and one
commit. Each request is answered only after the commit that holds its certificate.

A request's outcome is its own: a number already recorded with other content is that request's
409, decided per row; a group whose transaction fails is retried one request per transaction, so
only the request that fails alone fails.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import sqlalchemy as sa

from services.registry.bulk import _first_per_number, _insert_new, certificate_row
from services.registry.handlers import PRODUCER, Recorded
from services.registry.people import NewPerson, register_people
from services.registry.schemas import CertificateCreate
from services.registry.store import certificates
from shared import audit
from shared.clock import nantong_today
from shared.events import CertificateIssuedV3, derived_event_id, new_envelope
from shared.ids import mask_resident_id
from shared.problems import Problem

if TYPE_CHECKING:
    from shared.app import Runtime

MAX_GROUP = 500  # certificates per transaction: bounds a group's statement size and lock time
READ = ("certificate_id", "number", "kind", "person_key", "occupation_code", "level", "issue_date",
        "issued_in_nantong", "revoked_on", "issuer_code", "received_on", "operation_category", "operation_item",
        "project_type", "content_hash")


class Member(NamedTuple):
    body: CertificateCreate
    entry: audit.AuditEntry  # the request's audit entry, appended in the transaction that holds it
    done: asyncio.Future[Recorded]


class CertificateGroups:
    """Queue of certificates waiting for a transaction; one group commits at a time."""

    def __init__(self, runtime: Runtime, max_group: int = MAX_GROUP) -> None:
        self.runtime, self.max_group = runtime, max_group
        self.pending: list[Member] = []
        self.draining: asyncio.Task[None] | None = None
        self.groups = 0  # transactions committed (the tests and the bench read it)

    async def submit(self, body: CertificateCreate, entry: audit.AuditEntry) -> Recorded:
        """Record the certificate in the next group; returns once that group has committed."""
        done: asyncio.Future[Recorded] = asyncio.get_running_loop().create_future()
        self.pending.append(Member(body, entry, done))
        if self.draining is None or self.draining.done():
            self.draining = asyncio.create_task(self._drain())
        return await done

    async def _drain(self) -> None:
        while self.pending:
            group, self.pending = self.pending[:self.max_group], self.pending[self.max_group:]
            await self._commit(group)

    async def _commit(self, group: list[Member]) -> None:
        try:
            outcomes = await self._write(group)
        except Exception as exc:  # noqa: BLE001 - retried alone below, or handed to its one request
            if len(group) > 1:
                for member in group:  # one per transaction: only the request that fails alone fails
                    await self._commit([member])
                return
            _answer(group[0].done, exc)
            return
        self.groups += 1
        for member, outcome in zip(group, outcomes, strict=True):
            _answer(member.done, outcome)

    async def _write(self, group: Sequence[Member]) -> list[Recorded | Problem]:
        runtime = self.runtime
        assert runtime.maker is not None
        async with runtime.maker() as session:
            bodies = [m.body for m in group]
            keys = await register_people(session, runtime, [NewPerson(b.resident_id, b.district) for b in bodies])
            today = nantong_today()
            rows = [certificate_row(b, keys[b.resident_id], today) for b in bodies]
            firsts = _first_per_number(rows)
            new = await _insert_new(session, certificates, firsts, certificates.c.number)
            stored = await _stored(session, [r["number"] for r in firsts])
            await runtime.emit(session, [new_envelope(
                CertificateIssuedV3(**{k: v for k, v in r.items() if k != "content_hash"}), key=r["person_key"],
                producer=PRODUCER, event_id=derived_event_id("certificate-issued", r["certificate_id"]))
                for r in firsts if r["number"] in new])
            outcomes = [_outcome(b, r, new, stored) for b, r in zip(bodies, rows, strict=True)]
            await audit.append(session, [m.entry for m, o in zip(group, outcomes, strict=True)
                                         if isinstance(o, Recorded)])
            await session.commit()
        return outcomes


async def _stored(session: Any, numbers: list[str]) -> dict[str, dict[str, Any]]:
    """The group's certificates as stored now (the new ones and those recorded before)."""
    q = sa.select(*(certificates.c[c] for c in READ)).where(
        certificates.c.number == sa.any_(sa.literal(numbers, sa.ARRAY(sa.Text))))
    return {r["number"]: dict(r) for r in (await session.execute(q)).mappings()}


def _outcome(body: CertificateCreate, row: dict[str, Any], new: set[str],
             stored: dict[str, dict[str, Any]]) -> Recorded | Problem:
    held = stored.get(row["number"])
    if held is None or held["content_hash"] != row["content_hash"]:
        return Problem(409, "Certificate number already recorded with different content",
                       f"certificate {body.number} exists with other details", field="number")
    created = row["number"] in new
    new.discard(row["number"])  # a repeat of the same number later in the group is unchanged
    read = {k: v for k, v in held.items() if k != "content_hash"}
    return Recorded(read | {"resident_id_masked": mask_resident_id(body.resident_id),
                            "resident_id": body.resident_id}, created)


def _answer(done: asyncio.Future[Recorded], outcome: Recorded | BaseException) -> None:
    if done.done():  # the request went away (client disconnected): nobody waits for it
        return
    if isinstance(outcome, BaseException):
        done.set_exception(outcome)
    else:
        done.set_result(outcome)
