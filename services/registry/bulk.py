"""Bulk NDJSON imports of people, facts and certificates: one result per line.

Good lines are kept, bad ones reported with line number, field and reason; replaying a file
changes nothing (every row has a natural key). The body is read as it arrives and imported in
chunks of SKILLSUB_BULK_CHUNK_LINES lines, each chunk its own transaction (one statement per table
per chunk, never a query per line): memory and lock time stay bounded whatever the file's size, and
an interrupted upload keeps the chunks it finished (a replay of the file completes it, changing
nothing twice). Parsing, validation, hashing and encryption run in a worker process, off the event
loop and off its GIL (a worker thread still starved the loop: every await waited for the thread's
5 ms switch interval, and /readyz took 0.3-2 s during a 2 MB upload), so the service keeps
answering during a maximum-size upload. Events are built from the payload models and staged with
shared.outbox's add_events.
"""

from __future__ import annotations

import asyncio
import atexit
import codecs
import concurrent.futures
import json
import multiprocessing
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable
from datetime import date
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

import sqlalchemy as sa
from pydantic import BaseModel, ValidationError
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.registry.access import may_write
from services.registry.domain import (
    Action,
    InvalidCertificate,
    Resource,
    ResourceKind,
    check_certificate,
    check_certificate_identity,
)
from services.registry.fact_contract import attribute_problems, relative_resident_id, stored_attributes
from services.registry.handlers import PRODUCER, content_hash
from services.registry.people import (
    NewPerson,
    ParsedId,
    PeopleBatch,
    copy_people,
    fast_resident_id,
    person_envelopes,
    raw_connection,
    register_people,
)
from services.registry.schemas import CertificateCreate, FactCreate, PersonCreate
from services.registry.store import certificates, facts
from shared.audit import add_detail
from shared.auth import AuthPrincipal
from shared.clock import nantong_today
from shared.events import CertificateIssuedV2, PersonFactRecordedV1, derived_event_id, new_envelope
from shared.ids import parse_resident_id
from shared.pii import lookup_hash

if TYPE_CHECKING:
    from shared.app import Runtime

CHUNK = 5000  # lines per chunk when the caller does not say (SKILLSUB_BULK_CHUNK_LINES)
M = TypeVar("M", bound=BaseModel)
R = TypeVar("R")
Chunk = list[tuple[int, str]]  # (line number, text) of the non-blank lines


class LineResult(NamedTuple):
    """One line's outcome (an immutable value; a NamedTuple because bulk files make millions)."""

    line: int
    status: str  # created | unchanged | error; people: accepted | error (no existence oracle)
    field: str | None = None
    reason: str | None = None
    id: str | None = None

    def json(self) -> str:
        if self.field is None and self.reason is None and self.id is not None:
            # The common line, without json.dumps: ids are hex keys or UUIDs, nothing to escape.
            return f'{{"line": {self.line}, "status": "{self.status}", "id": "{self.id}"}}'
        return json.dumps({k: v for k, v in self._asdict().items() if v is not None}, ensure_ascii=False)


def render(results: Iterable[LineResult]) -> str:
    """The NDJSON response body: one result per line."""
    return "".join([r.json() + "\n" for r in results])


class LineError(Exception):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field, self.reason = field, reason


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
        if len(chunk) >= lines:
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
    """One worker process per service process, started on first use ("spawn": the service runs
    threads, which fork would copy in whatever state they were)."""
    global _POOL
    if _POOL is None:
        _POOL = concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
        atexit.register(_POOL.shutdown, wait=True, cancel_futures=True)  # before the interpreter unwinds
    return _POOL


def warm_up() -> None:
    """Start the worker process now (spawning and importing takes seconds), without waiting for it."""
    _pool().submit(int)


async def off_loop(fn: Callable[..., R], *args: Any) -> R:
    """Run a pure, picklable step in the worker process."""
    return await asyncio.get_running_loop().run_in_executor(_pool(), fn, *args)


async def _commit(session: AsyncSession) -> None:
    """End the chunk's transaction; each chunk leaves its own audit entry (shared/audit.py)."""
    session.sync_session.info["audit_wrote"] = "audit" in session.sync_session.info
    await session.commit()


def _parse(model: type[M], raw: str) -> M:
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err.get("loc", ())) or "line"
        raise LineError(field, err.get("msg", "invalid")) from None


def _validated(chunk: Iterable[tuple[int, str]], check: Callable[[str], Any],
               results: list[LineResult]) -> list[tuple[int, Any]]:
    good = []
    for number, raw in chunk:
        try:
            good.append((number, check(raw)))
        except LineError as exc:
            results.append(LineResult(number, "error", exc.field, exc.reason))
    return good


def _forbid(reason: str, field: str) -> LineError:
    return LineError(field, f"forbidden: {reason}")


# --- people ---------------------------------------------------------------------------------

_PERSON_FIELDS = frozenset(PersonCreate.model_fields)
Entry = tuple[int, str]  # line, person key


async def import_people(session: AsyncSession, runtime: Runtime, p: AuthPrincipal,
                        chunks: AsyncIterable[Chunk]) -> list[LineResult]:
    """Per chunk, one COPY (people) and one statement (their events), then commit; while the
    database writes a chunk, the worker thread checks, hashes and encrypts the next one."""
    pii_key = runtime.state["pii_key"]
    results: list[LineResult] = []
    writing: asyncio.Future[list[LineResult]] | None = None
    try:
        async for chunk in chunks:
            prepared = await off_loop(prepare_people, chunk, p, pii_key)
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
                        entries: list[Entry | LineResult]) -> list[LineResult]:
    inserted = await copy_people(await raw_connection(session), batch)
    # Envelopes are built here, in a thread: shipping models back from the worker process cost
    # more in pickling than building them (bench/registry_bulk_bench.py).
    await runtime.emit(session, await asyncio.to_thread(person_envelopes, inserted))
    results = _people_results(entries)
    _audit_counts(session, lines=len(results), refused=sum(r.status == "error" for r in results),
                  registered=len(inserted), already_registered=len(batch) - len(inserted))
    await _commit(session)
    return results


def _audit_counts(session: AsyncSession, **counts: int) -> None:
    """The chunk's audit entry (read by auditors through GET /v1/audit) keeps what the caller is
    not told: how many of its people were new and how many already registered."""
    add_detail(session, bulk_people=counts)


def _person_check(p: AuthPrincipal) -> Callable[[str], tuple[ParsedId, str | None]]:
    allowed: dict[str | None, bool] = {}  # the permission depends on the district only

    def check(raw: str) -> tuple[ParsedId, str | None]:
        parsed = _fast_person(raw)
        if parsed is None:  # anything unusual: the model decides, and names the field and reason
            person = _parse(PersonCreate, raw)
            parsed = _parsed_id(person.resident_id), person.district
        district = parsed[1]
        ok = allowed.get(district)
        if ok is None:
            ok = allowed[district] = may_write(p, Action.CREATE, Resource(ResourceKind.PERSON, district=district))
        if not ok:
            raise _forbid(f"{p.role} client may not register this person", "district")
        return parsed
    return check


def _fast_person(raw: str) -> tuple[ParsedId, str | None] | None:
    """PersonCreate's checks for a plain line without building a model; None when unsure."""
    try:
        obj = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    if type(obj) is not dict or not obj.keys() <= _PERSON_FIELDS:
        return None
    rid, district = obj.get("resident_id"), obj.get("district")
    if type(rid) is not str or len(rid) != 18:
        return None
    if district is not None and (type(district) is not str or not 6 <= len(district) <= 16):
        return None
    parsed = fast_resident_id(rid)
    return None if parsed is None else (parsed, district)


def _parsed_id(number: str) -> ParsedId:
    rid = parse_resident_id(number)
    return rid.number, rid.birth_date, rid.sex


def prepare_people(chunk: Chunk, p: AuthPrincipal, pii_key: bytes
                   ) -> tuple[PeopleBatch, list[Entry | LineResult]]:
    """Worker process: check, hash and encrypt one chunk."""
    check = _person_check(p)
    batch, seen = PeopleBatch(), set()
    entries: list[Entry | LineResult] = []
    for number, raw in chunk:
        try:
            rid, district = check(raw)
        except LineError as exc:
            entries.append(LineResult(number, "error", exc.field, exc.reason))
            continue
        key = lookup_hash(pii_key, rid[0])
        if key not in seen:  # a repeat within the chunk is the same row
            seen.add(key)
            batch.add(pii_key, key, rid, district)
        entries.append((number, key))
    return batch, entries


def _people_results(entries: list[Entry | LineResult]) -> list[LineResult]:
    """Every good line is "accepted", new person or not (issue 14: like POST /v1/people, the bulk
    answer must not tell a caller who is on the register; the audit entry keeps the counts)."""
    return [e if isinstance(e, LineResult) else LineResult(e[0], "accepted", id=e[1]) for e in entries]


# --- facts ----------------------------------------------------------------------------------


def fact_check(p: AuthPrincipal) -> Callable[[str], FactCreate]:
    def check(raw: str) -> FactCreate:
        fact = _parse(FactCreate, raw)
        problems = attribute_problems(fact.kind, fact.attributes)
        if problems:
            raise LineError(*problems[0])
        if not may_write(p, Action.CREATE, Resource(ResourceKind.FACT, fact_kind=fact.kind)):
            raise _forbid(f"feeder {p.feeder} is not the authority for {fact.kind}", "kind")
        if fact.source not in (None, p.feeder):
            raise _forbid("source must be the caller's own feeder", "source")
        return fact.model_copy(update={"source": p.feeder})
    return check


def validate_facts(chunk: Chunk, p: AuthPrincipal) -> tuple[list[tuple[int, FactCreate]], list[LineResult]]:
    """Worker process: the chunk's valid facts, and a result for each refused line."""
    refused: list[LineResult] = []
    return _validated(chunk, fact_check(p), refused), refused


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
        good, refused = await off_loop(validate_facts, chunk, p)
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


def certificate_check(p: AuthPrincipal) -> Callable[[str], CertificateCreate]:
    def check(raw: str) -> CertificateCreate:
        cert = _parse(CertificateCreate, raw)
        try:
            check_certificate(cert.kind, cert.number, cert.level)
            check_certificate_identity(cert.kind, cert.operation_category, cert.operation_item, cert.project_type)
        except InvalidCertificate as exc:
            raise LineError(exc.field, exc.reason) from None
        resource = Resource(ResourceKind.CERTIFICATE, institution_id=cert.issuer_code)
        if not may_write(p, Action.CREATE, resource):
            raise _forbid("institutions push only their own certificates", "issuer_code")
        return cert
    return check


def validate_certificates(chunk: Chunk, p: AuthPrincipal
                          ) -> tuple[list[tuple[int, CertificateCreate]], list[LineResult]]:
    """Worker process: the chunk's valid certificates, and a result for each refused line."""
    refused: list[LineResult] = []
    return _validated(chunk, certificate_check(p), refused), refused


def certificate_row(cert: CertificateCreate, key: str, received_on: date) -> dict[str, Any]:
    fields = cert.model_dump(exclude={"resident_id"}) | {"person_key": key}
    cert_id = uuid.uuid5(uuid.NAMESPACE_URL, f"skillsub:certificate:{cert.number}")
    return fields | {"certificate_id": cert_id, "content_hash": content_hash(fields), "received_on": received_on}


async def import_certificates(session: AsyncSession, runtime: Runtime, p: AuthPrincipal,
                              chunks: AsyncIterable[Chunk]) -> list[LineResult]:
    results: list[LineResult] = []
    async for chunk in chunks:
        good, refused = await off_loop(validate_certificates, chunk, p)
        results += refused
        keys = await register_people(session, runtime, [NewPerson(c.resident_id, c.district) for _, c in good])
        today = nantong_today()
        rows = [certificate_row(c, keys[c.resident_id], today) for _, c in good]
        new = await _insert_new(session, certificates, _first_per_number(rows), certificates.c.number)
        stored = await _hashes(session, [r["number"] for r in rows])
        await runtime.emit(session, [new_envelope(
            CertificateIssuedV2(**{k: v for k, v in r.items() if k != "content_hash"}), key=r["person_key"],
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
