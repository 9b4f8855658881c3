"""Bulk NDJSON imports of people, facts, certificates and payee accounts: one result per line.

Good lines are kept, bad ones reported with line number, field and reason; replaying a file
changes nothing (every row has a natural key). The body is read as it arrives and imported in
chunks of SKILLSUB_BULK_CHUNK_LINES lines, each chunk its own transaction (one statement per table
per chunk, never a query per line): memory and lock time stay bounded whatever the file's size, and
an interrupted upload keeps the chunks it finished (a replay of the file completes it, changing
nothing twice). Parsing, validation, hashing, encryption and the people's event JSON run in a
worker process (services/registry/bulk_checks.py), off the event loop and off its GIL (a worker
thread still starved the loop: every await waited for the thread's 5 ms switch interval, and
/readyz took 0.3-2 s during a 2 MB upload), while the database writes the chunk before: the
service keeps answering during a maximum-size upload.
"""

from __future__ import annotations

import asyncio
import atexit
import codecs
import concurrent.futures
import multiprocessing
import os
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable
from dataclasses import replace
from datetime import date
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.registry import bulk_checks, payees
from services.registry.access import domain_principal
from services.registry.bulk_checks import Chunk, LineResult, PeopleBatch, prepare_people
from services.registry.fact_contract import relative_resident_id, stored_attributes
from services.registry.handlers import PRODUCER, certificate_fields, content_hash
from services.registry.payee_rules import AccountIn, PayeeKind
from services.registry.people import NewPerson, copy_people, raw_connection, register_people
from services.registry.schemas import CertificateCreate, FactCreate
from services.registry.store import certificates, facts
from shared import worker
from shared.audit import add_detail
from shared.auth import AuthPrincipal
from shared.clock import nantong_today
from shared.events import CertificateIssuedV3, PersonFactRecordedV1, StagedEvent, derived_event_id, new_envelope

if TYPE_CHECKING:
    from shared.app import Runtime

CHUNK = 5000  # lines per chunk when the caller does not say (SKILLSUB_BULK_CHUNK_LINES)
R = TypeVar("R")
__all__ = ["CHUNK", "Chunk", "LineResult", "chunks_of", "import_certificates", "import_facts",
           "import_payee_accounts", "import_people", "ndjson_chunks", "render", "warm_up"]


def render(results: Iterable[LineResult]) -> str:
    """The NDJSON response body: one result per line."""
    return "".join([r.json() + "\n" for r in results])


async def ndjson_chunks(stream: AsyncIterable[bytes], lines: int = CHUNK) -> AsyncIterator[Chunk]:
    """The body's non-blank lines, `lines` at a time, as the bytes arrive (UTF-8; an undecodable
    byte becomes U+FFFD and fails that line's JSON, not the file)."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    chunk: Chunk = []
    number, tail = 0, ""
    async for piece in stream:
        text = tail + decoder.decode(piece)
        parts = text.split("\n")
        tail = parts.pop()
        for raw in parts:
            number += 1
            if raw.strip():
                chunk.append((number, raw))
                if len(chunk) >= lines:  # bounded whatever the size of the piece that arrived
                    yield chunk
                    chunk = []
    tail += decoder.decode(b"", final=True)
    for raw in tail.split("\n"):
        number += 1
        if raw.strip():
            chunk.append((number, raw))
    if chunk:
        yield chunk


async def chunks_of(body: bytes, lines: int = CHUNK) -> AsyncIterator[Chunk]:
    """A whole body (tests, benchmarks) as the chunks a streamed upload gives."""
    async def one() -> AsyncIterator[bytes]:
        yield body

    async for chunk in ndjson_chunks(one(), lines):
        yield chunk


_POOL: concurrent.futures.ProcessPoolExecutor | None = None


def _pool() -> concurrent.futures.ProcessPoolExecutor:
    """One worker process per service process, started on first use. Forked from a fork server
    that preloaded bulk_checks alone: "fork" from the service would copy its threads in whatever
    state they were, and "spawn" re-imports the service's whole module tree (its __main__ too),
    seconds of CPU and tens of MB the worker never uses."""
    global _POOL
    if _POOL is None:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([bulk_checks.__name__, worker.__name__])
        _POOL = concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=context,
                                                       initializer=worker.exit_with, initargs=(os.getpid(),))
        atexit.register(_POOL.shutdown, wait=True, cancel_futures=True)  # before the interpreter unwinds
    return _POOL


def warm_up() -> None:
    """Start the worker process now, without waiting for it."""
    _pool().submit(int)


async def off_loop(fn: Callable[..., R], *args: Any) -> R:
    """Run a pure, picklable step of bulk_checks in the worker process."""
    return await asyncio.get_running_loop().run_in_executor(_pool(), fn, *args)


async def _commit(session: AsyncSession) -> None:
    """End the chunk's transaction; each chunk leaves its own audit entry (shared/audit.py)."""
    session.sync_session.info["audit_wrote"] = "audit" in session.sync_session.info
    await session.commit()


# --- people ---------------------------------------------------------------------------------


async def import_people(session: AsyncSession, runtime: Runtime, p: AuthPrincipal,
                        chunks: AsyncIterable[Chunk]) -> list[LineResult]:
    """Per chunk, one COPY (people) and one (their events), then commit; while the database
    writes a chunk, the worker process checks, hashes, encrypts and builds the events of the next."""
    pii_key, principal = runtime.state["pii_key"], domain_principal(p)
    results: list[LineResult] = []
    writing: asyncio.Future[list[LineResult]] | None = None
    try:
        async for chunk in chunks:
            prepared = await off_loop(prepare_people, chunk, principal, pii_key)
            if writing is not None:
                results += await writing
            writing = asyncio.ensure_future(_write_people(session, runtime, *prepared))
        if writing is not None:
            results += await writing
    finally:
        if writing is not None and not writing.done():
            await asyncio.wait([writing])  # never leave a statement in flight on the session
    return results


async def _write_people(session: AsyncSession, runtime: Runtime, batch: PeopleBatch,
                        results: list[LineResult], events: list[StagedEvent]) -> list[LineResult]:
    inserted = {row[0] for row in await copy_people(await raw_connection(session), batch)}
    await runtime.emit_staged(session, [e for e in events if e[2] in inserted])  # keyed by the person
    add_detail(session, bulk_people={  # for auditors (GET /v1/audit): what the caller is not told
        "lines": len(results), "refused": sum(r.status == "error" for r in results),
        "registered": len(inserted), "already_registered": len(batch) - len(inserted)})
    await _commit(session)
    return results


# --- facts ----------------------------------------------------------------------------------


def fact_row(fact: FactCreate, keys: dict[str, str]) -> dict[str, Any]:
    relative = relative_resident_id(fact.kind, fact.attributes)
    fields = fact.model_dump(exclude={"resident_id"}) | {
        "person_key": keys[fact.resident_id],
        "attributes": stored_attributes(fact.kind, fact.attributes, keys[relative] if relative else None)}
    digest = content_hash(fields)
    return fields | {"fact_id": uuid.uuid5(uuid.NAMESPACE_URL, f"skillsub:fact:{digest}"), "content_hash": digest}


async def import_facts(session: AsyncSession, runtime: Runtime, p: AuthPrincipal,
                       chunks: AsyncIterable[Chunk]) -> list[LineResult]:
    results: list[LineResult] = []
    async for chunk in chunks:
        good, refused = await off_loop(bulk_checks.validate_facts, chunk, domain_principal(p), p.feeder)
        results += refused
        named = [f.resident_id for _, f in good] + [r for _, f in good
                                                    if (r := relative_resident_id(f.kind, f.attributes))]
        keys = await register_people(session, runtime, [NewPerson(rid, None) for rid in named])
        rows = [fact_row(f, keys) for _, f in good]
        new = await _insert_new(session, facts, rows, facts.c.fact_id)
        fresh = [r for r in {r["fact_id"]: r for r in rows}.values() if r["fact_id"] in new]
        await runtime.emit(session, [new_envelope(
            PersonFactRecordedV1(**{k: v for k, v in r.items() if k != "content_hash"}), key=r["person_key"],
            producer=PRODUCER, event_id=derived_event_id("fact", r["fact_id"])) for r in fresh])
        await _commit(session)
        for (n, _), r in zip(good, rows, strict=True):
            # A repeat of a line earlier in the same file is unchanged, like a replay.
            status = "created" if r["fact_id"] in new else "unchanged"
            new.discard(r["fact_id"])
            results.append(LineResult(n, status, id=str(r["fact_id"])))
    return sorted(results, key=lambda r: r.line)


async def _insert_new(session: AsyncSession, table: sa.Table, rows: list[dict[str, Any]],
                      key: sa.Column[Any]) -> set[Any]:
    """Multi-row INSERT ... ON CONFLICT DO NOTHING; the keys actually inserted."""
    if not rows:
        return set()
    result = await session.execute(insert(table).on_conflict_do_nothing().returning(key), rows)
    return set(result.scalars())


# --- certificates ---------------------------------------------------------------------------


def certificate_row(cert: CertificateCreate, key: str, received_on: date) -> dict[str, Any]:
    fields = certificate_fields(cert, key)
    cert_id = uuid.uuid5(uuid.NAMESPACE_URL, f"skillsub:certificate:{cert.number}")
    return fields | {"certificate_id": cert_id, "content_hash": content_hash(fields), "received_on": received_on,
                     "holder_id_last4": cert.resident_id[-4:]}


async def import_historic_certificates(session: AsyncSession, runtime: Runtime, p: AuthPrincipal,
                                       chunks: AsyncIterable[Chunk]) -> list[LineResult]:
    return await import_certificates(session, runtime, p, chunks, historic=True)


async def import_certificates(session: AsyncSession, runtime: Runtime, p: AuthPrincipal,
                              chunks: AsyncIterable[Chunk], historic: bool = False) -> list[LineResult]:
    """Certificates as pushed: received today. `historic` (the bureau's migration of earlier years
    only, the route checks the role): each line carries the day the earlier system received it."""
    results: list[LineResult] = []
    async for chunk in chunks:
        good, refused = await off_loop(bulk_checks.validate_certificates, chunk, domain_principal(p), historic)
        results += refused
        keys = await register_people(session, runtime, [NewPerson(c.resident_id, c.district) for _, c in good])
        today = nantong_today()
        rows = [certificate_row(c, keys[c.resident_id], c.received_on if historic else today)  # type: ignore[attr-defined]
                for _, c in good]
        # Every row names every column: the multi-row INSERT takes its columns from the first row,
        # so a first line without the holder's name dropped the masked names of the whole chunk.
        new = await _insert_new(session, certificates, [{"holder_name_masked": None} | r for r in
                                                        _first_per_number(rows)], certificates.c.number)
        stored = await _hashes(session, [r["number"] for r in rows])
        await runtime.emit(session, [new_envelope(
            CertificateIssuedV3(**{k: v for k, v in r.items() if k != "content_hash"}), key=r["person_key"],
            producer=PRODUCER, event_id=derived_event_id("certificate-issued", r["certificate_id"]))
            for r in _first_per_number(rows) if r["number"] in new])
        await _commit(session)
        results += [_certificate_result(n, r, new, stored) for (n, _), r in zip(good, rows, strict=True)]
    return sorted(results, key=lambda r: r.line)


def _first_per_number(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for r in rows:
        seen.setdefault(r["number"], r)
    return list(seen.values())


async def _hashes(session: AsyncSession, numbers: list[str]) -> dict[str, str]:
    if not numbers:
        return {}
    q = sa.select(certificates.c.number, certificates.c.content_hash).where(
        certificates.c.number == sa.any_(sa.literal(numbers, sa.ARRAY(sa.Text))))
    return {n: h for n, h in (await session.execute(q)).all()}


def _certificate_result(line: int, row: dict[str, Any], new: set[str], stored: dict[str, str]) -> LineResult:
    if stored.get(row["number"]) != row["content_hash"]:
        return LineResult(line, "error", "number", "already recorded with different content")
    # The first line carrying a new number created it; a repeat in the same file is unchanged.
    status = "created" if row["number"] in new else "unchanged"
    new.discard(row["number"])
    return LineResult(line, status, id=str(row["certificate_id"]))


# --- payee accounts -------------------------------------------------------------------------


async def import_payee_accounts(session: AsyncSession, runtime: Runtime, p: AuthPrincipal,
                                chunks: AsyncIterable[Chunk]) -> list[LineResult]:
    """Lines as POST /v1/payee-accounts, judged as it judges them (payees.record_accounts, lines in
    file order): per chunk, the people in one statement, the rows in force in one (locked), the
    new revisions in one and their events in one. A payee named again with another account in the
    same upload is refused on that line: the first stands, so a replay of the file changes nothing."""
    allowed = frozenset(k for k in PayeeKind if payees.may_set(p, k))
    first: dict[tuple[str, str], tuple[int, tuple[Any, ...]]] = {}  # payee -> (line, its account's content)
    results: list[LineResult] = []
    async for chunk in chunks:
        good, refused = await off_loop(bulk_checks.validate_payee_accounts, chunk, allowed, runtime.state["pii_key"])
        keys = await register_people(session, runtime, [NewPerson(c.resident_id, None) for _, c in good
                                                        if c.resident_id is not None])
        kept, again = _first_per_payee(first, [(n, c.account if c.resident_id is None else replace(
            c.account, payee_ref=keys[c.resident_id])) for n, c in good])
        recorded = await payees.record_accounts(session, runtime, [a for _, a in kept], p.client_id)
        changed = sum(r.changed for r in recorded)
        add_detail(session, bulk_payee_accounts={  # counts only: numbers are never logged nor audited
            "lines": len(chunk), "refused": len(refused) + len(again), "recorded": changed,
            "unchanged": len(recorded) - changed})
        await _commit(session)
        results += refused + again + [LineResult(n, "created" if r.changed else "unchanged", id=r.row["payee_ref"])
                                      for (n, _), r in zip(kept, recorded, strict=True)]
    return sorted(results, key=lambda r: r.line)


def _first_per_payee(first: dict[tuple[str, str], tuple[int, tuple[Any, ...]]], lines: list[tuple[int, AccountIn]]
                     ) -> tuple[list[tuple[int, AccountIn]], list[LineResult]]:
    """Keep a line unless an earlier line of the upload named the same payee with another account."""
    kept, again = [], []
    for n, a in lines:
        seen = first.setdefault((a.kind.value, a.payee_ref), (n, a.content()))
        if seen[1] == a.content():
            kept.append((n, a))
        else:
            field = "resident_id" if a.kind is PayeeKind.WORKER else "credit_code"
            again.append(LineResult(n, "error", field, f"line {seen[0]} of this upload sets another account for "
                                                       "this payee; one account per payee per upload"))
    return kept, again

