"""Group commit for `POST /v1/certificates`: requests that arrive while a transaction is committing
wait and then share the next one.

One certificate per request used to cost its own transaction: about ten statements (the person,
the certificate, its read-back, the outbox, the audit chain's lock, head and entry) and a commit,
every commit queued on the audit chain's advisory lock, so the route topped out near 100-170/s.
Here the requests waiting when a group starts are recorded together, on the pooled connection's
asyncpg connection with no SQLAlchemy per statement: one statement inserts the group's people and
certificates, stages the events of those it inserted and reads the certificates back; then every
request's audit entry is appended in the same transaction (lock, head, one insert), and one commit.
Each request is answered only after the commit that holds its certificate.

A request's outcome is its own: a number already recorded with other content is that request's
409, decided per row; a group whose transaction fails is retried one request per transaction, so
only the request that fails alone fails.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from services.registry.bulk import _first_per_number, certificate_row
from services.registry.bulk_checks import PeopleBatch, person_envelopes
from services.registry.handlers import PRODUCER, Recorded
from services.registry.schemas import CertificateCreate
from services.registry.store import certificates
from shared import audit
from shared.clock import nantong_today
from shared.db import column_values, raw_insert_sql
from shared.events import CertificateIssuedV3, derived_event_id, new_envelope, staged
from shared.ids import mask_resident_id, parse_resident_id
from shared.pii import lookup_hash
from shared.problems import Problem

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

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
        held = _Held(self.runtime)  # one pooled connection for the groups of this drain
        try:
            while self.pending:
                group, self.pending = self.pending[:self.max_group], self.pending[self.max_group:]
                await self._commit(group, held)
        finally:
            await held.release()

    async def _commit(self, group: list[Member], held: _Held) -> None:
        try:
            outcomes = await self._write(await held.get(), group)
        except Exception as exc:  # noqa: BLE001 - retried alone below, or handed to its one request
            await held.release()  # the next transaction on a connection checked (pre-ping) again
            if len(group) > 1:
                for member in group:  # one per transaction: only the request that fails alone fails
                    await self._commit([member], held)
                return
            _answer(group[0].done, exc)
            return
        self.groups += 1
        for member, outcome in zip(group, outcomes, strict=True):
            _answer(member.done, outcome)

    async def _write(self, raw: Any, group: Sequence[Member]) -> list[Recorded | Problem]:
        """One transaction on the bare asyncpg connection: BEGIN; one statement for the people, the
        certificates, their events and the read-back; the audit chain (lock, head, insert); COMMIT."""
        runtime = self.runtime
        bodies = [m.body for m in group]
        pii_key = runtime.state["pii_key"]
        keys: dict[str, str] = {}
        people_rows = PeopleBatch()  # as people.register_people: each person once, in arrival order
        seen: set[str] = set()
        for b in bodies:
            if b.resident_id not in keys:
                keys[b.resident_id] = lookup_hash(pii_key, b.resident_id)
            key = keys[b.resident_id]
            if key not in seen:
                seen.add(key)
                rid = parse_resident_id(b.resident_id)
                people_rows.add(pii_key, key, (rid.number, rid.birth_date, rid.sex), b.district)
        today = nantong_today()
        rows = [certificate_row(b, keys[b.resident_id], today) for b in bodies]
        firsts = _first_per_number(rows)
        # Every candidate event, built before the statement; it stages those of the rows it inserted.
        events = [("p" + key, *e) for key, e in zip(people_rows.keys, person_envelopes(people_rows.rows()),
                                                    strict=True)]
        events += [("c" + r["number"], *e) for r, e in zip(firsts, staged(new_envelope(
            CertificateIssuedV3(**{k: v for k, v in r.items() if k != "content_hash"}), key=r["person_key"],
            producer=PRODUCER, event_id=derived_event_id("certificate-issued", r["certificate_id"])) for r in firsts),
            strict=True)]
        unknown = {k for r in firsts for k in r} - _CERT_SET
        if unknown:  # a field the statement would not store: refuse rather than drop it
            raise ValueError(f"certificate fields with no column: {sorted(unknown)}")
        args = [people_rows.keys, people_rows.ciphers, people_rows.births, people_rows.sexes, people_rows.districts,
                *(column_values(certificates.c[n], [r.get(n) for r in firsts]) for n in _CERT_COLUMNS),
                *map(list, zip(*events, strict=True))]
        async with raw.transaction():
            got = await raw.fetch(_GROUP_SQL, *args)
            new = {r["number"] for r in got if r["created"]}
            stored = {r["number"]: {k: r[k] for k in READ} for r in got}
            missing = [r["number"] for r in firsts if r["number"] not in stored]
            if missing:  # recorded by a transaction that committed while this statement ran
                stored |= {r["number"]: {k: r[k] for k in READ} for r in await raw.fetch(_READ_SQL, missing)}
            outcomes = [_outcome(b, r, new, stored) for b, r in zip(bodies, rows, strict=True)]
            await audit.append_raw(raw, self._audit_key(), [
                m.entry for m, o in zip(group, outcomes, strict=True) if isinstance(o, Recorded)])
        return outcomes

    def _audit_key(self) -> bytes:
        assert self.runtime.maker is not None
        return bytes(self.runtime.maker.kw["info"]["audit_key"])


class _Held:
    """A pooled connection kept for consecutive groups, checked out when first needed."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.conn: AsyncConnection | None = None

    async def get(self) -> Any:
        if self.conn is None:
            assert self.runtime.engine is not None
            self.conn = await self.runtime.engine.connect()
        return (await self.conn.get_raw_connection()).driver_connection

    async def release(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            await conn.close()


_CERT_COLUMNS = tuple(c.name for c in certificates.c if c.name != "created_at")
_CERT_SET = set(_CERT_COLUMNS)
_READ_COLUMNS = ", ".join(READ)
_PEOPLE = 5  # $1..$5: the people's arrays; then one array per certificate column; then the events'
_EV = _PEOPLE + len(_CERT_COLUMNS)
# The statement's snapshot does not show its own inserts: the new certificates come from RETURNING,
# those recorded before from the table.
_GROUP_SQL = f"""
WITH p AS (
  INSERT INTO people (person_key, resident_id_cipher, birth_date, sex, district)
  SELECT * FROM unnest($1::text[], $2::bytea[], $3::date[], $4::text[], $5::text[])
  ON CONFLICT (person_key) DO NOTHING RETURNING person_key),
c AS ({raw_insert_sql(certificates, _CERT_COLUMNS, "ON CONFLICT DO NOTHING", _READ_COLUMNS, first=_PEOPLE + 1)}),
o AS (
  INSERT INTO outbox (event_id, topic, key, envelope)
  SELECT u.e, u.t, u.k, u.v::jsonb
  FROM unnest(${_EV + 1}::text[], ${_EV + 2}::uuid[], ${_EV + 3}::text[], ${_EV + 4}::text[], ${_EV + 5}::text[])
       WITH ORDINALITY AS u(ref, e, t, k, v, ord)
  WHERE u.ref IN (SELECT 'p' || person_key FROM p UNION ALL SELECT 'c' || number FROM c)
  ORDER BY u.ord
  ON CONFLICT (event_id) DO NOTHING)
SELECT true AS created, {_READ_COLUMNS} FROM c
UNION ALL
SELECT false, {_READ_COLUMNS} FROM certificates WHERE number = ANY(${_PEOPLE + 2}::text[])
"""
_READ_SQL = f"SELECT {_READ_COLUMNS} FROM certificates WHERE number = ANY($1::text[])"


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
