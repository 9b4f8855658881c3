"""Ledger writes shared by every payments step: post, lock funds, reserve, admit the queue, emit.

A batch's ledger transactions and postings go in with one COPY each (asyncpg, in the caller's
transaction): the statement-level balance trigger sees the whole batch at once (COPY fires it with
its transition table as an INSERT does), one round trip carries any number of rows, and the
database parses binary rows instead of arrays (bench/payments_bench.py's ceiling rows: one COPY
1.3-1.8x the rate of one unnest INSERT in most runs on the shared machine; docs/performance.md).
The funds move by one UPDATE per call, every fund of the call in it, after the postings: the CHECK
available >= 0 sees the batch's sum under the row lock. Funds are locked in (source, district)
order, so concurrent writers never deadlock.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from json.encoder import encode_basestring as _json_str  # type: ignore[attr-defined]
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from pydantic import TypeAdapter
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.ext.asyncio import AsyncSession

from services.payments import store
from services.payments.disbursements import Disbursement, Part, State, admit_waiting
from services.payments.ledger import AccountKind, Fund, FundingSource, Payee, PayeeKind, Transaction, receivable
from shared.events import DisbursementDraftedV1, DisbursementStatusChangedV1, StagedEvent, topic_for
from shared.outbox import add_staged

if TYPE_CHECKING:
    from shared.app import Runtime

PRODUCER = "payments"
FundKey = tuple[str, str]  # (source, district)

_TXN_COLUMNS = ["txn_id", "kind", "ref"]
_POSTING_COLUMNS = ["txn_id", "account", "amount_fen"]
_MOVE_FUNDS = sa.text(
    "UPDATE funds f SET balance_fen = f.balance_fen + v.balance, reserved_fen = f.reserved_fen + v.reserved "
    "FROM unnest(CAST(:sources AS text[]), CAST(:districts AS text[]), CAST(:balance AS bigint[]), "
    "CAST(:reserved AS bigint[])) AS v(source, district, balance, reserved) "
    "WHERE f.source = v.source AND f.district = v.district")


def unnest_insert(table: str, columns: Mapping[str, str], tail: str = "") -> sa.TextClause:
    """INSERT of any number of rows in one statement: one array parameter per column (name -> SQL type)."""
    return sa.text(f"INSERT INTO {table} ({', '.join(columns)}) SELECT * FROM unnest("
                   + ", ".join(f"CAST(:{c} AS {t}[])" for c, t in columns.items()) + f") {tail}".rstrip())


# The namespace's SHA-1 state, copied per id: a new hashlib object fetches the algorithm from
# OpenSSL 3 each time, which costs more than hashing the name (py-spy: 13% of a release batch).
_URL_SHA1 = hashlib.sha1(uuid.NAMESPACE_URL.bytes, usedforsecurity=False)


def uuid5_url(name: str) -> uuid.UUID:
    """uuid.uuid5(NAMESPACE_URL, name), the same value at a third of the cost (no namespace
    rehash, no bytes round trip): every ledger transaction and status event of a batch derives one."""
    sha = _URL_SHA1.copy()
    sha.update(name.encode())
    h = int.from_bytes(sha.digest()[:16], "big")
    h = (h & ~(0xF000 << 64)) | (5 << 76)  # version 5
    return uuid.UUID(int=(h & ~(0xC000 << 48)) | (0x8000 << 48))  # RFC 4122 variant


# Fund keys travel as two arrays: one statement text (prepared once) for any number of funds.
_LOCK_FUNDS = sa.text(
    "SELECT f.source, f.district, f.balance_fen - f.reserved_fen FROM funds f "
    "JOIN unnest(CAST(:s AS text[]), CAST(:d AS text[])) AS k(source, district) USING (source, district) "
    "ORDER BY f.source, f.district FOR UPDATE OF f")
_WAITING = sa.text(
    "SELECT w.source, w.district, count(*) FROM disbursements w "
    "JOIN unnest(CAST(:s AS text[]), CAST(:d AS text[])) AS k(source, district) USING (source, district) "
    "WHERE w.queued_seq IS NOT NULL AND w.status = 'waiting' GROUP BY w.source, w.district")  # the queue index


def txn_id(tx: Transaction) -> uuid.UUID:
    return uuid5_url(f"skillsub:txn:{tx.kind}:{tx.ref}")


def fund_key(fund: Fund) -> FundKey:
    return (fund.source.value, fund.district)


async def post(session: AsyncSession, txs: Sequence[Transaction],
               reserved: Mapping[FundKey, int] | None = None) -> None:
    """Append transactions and move the funds' balance and reserved columns in the same statement set.

    `reserved` changes (+ reserve, - release) are applied together with the balances, so the
    CHECK available >= 0 is evaluated on the final figures of each fund row.
    """
    balance: dict[FundKey, int] = defaultdict(int)
    if txs:
        rows: list[tuple[uuid.UUID, str, int]] = []
        heads: list[tuple[uuid.UUID, str, str]] = []
        for tx in txs:
            i = txn_id(tx)
            heads.append((i, tx.kind, tx.ref))
            for p in tx.postings:
                rows.append((i, p.account.code, p.amount_fen))
                if p.account.kind is AccountKind.SPECIAL:
                    balance[fund_key(p.account.fund)] += p.amount_fen
        await copy_rows(session, "ledger_transactions", _TXN_COLUMNS, heads)
        await copy_rows(session, "ledger_postings", _POSTING_COLUMNS, rows)
    await move_funds(session, balance, reserved or {})


async def copy_rows(session: AsyncSession, table: str, columns: list[str], rows: Sequence[tuple[Any, ...]]) -> None:
    """COPY rows into an append-only table inside the caller's transaction; every trigger and
    constraint of the table applies (a duplicate id or an unbalanced transaction fails the batch)."""
    conn = await session.connection()
    raw: Any = (await conn.get_raw_connection()).driver_connection
    if not raw.is_in_transaction():
        await session.execute(sa.text("SELECT 1"))  # SQLAlchemy begins lazily, on a first statement
    if not raw.is_in_transaction():
        raise RuntimeError(f"COPY into {table} outside a transaction refused")  # never autocommit a ledger row
    await raw.copy_records_to_table(table, records=rows, columns=columns)


async def move_funds(session: AsyncSession, balance: Mapping[FundKey, int],
                     reserved: Mapping[FundKey, int]) -> None:
    keys = sorted(k for k in set(balance) | set(reserved) if balance.get(k) or reserved.get(k))
    if not keys:
        return
    await ensure_funds(session, keys)
    await session.execute(_MOVE_FUNDS, {
        "sources": [k[0] for k in keys], "districts": [k[1] for k in keys],
        "balance": [balance.get(k, 0) for k in keys], "reserved": [reserved.get(k, 0) for k in keys]})


async def ensure_funds(session: AsyncSession, keys: Iterable[FundKey]) -> None:
    keys = sorted(set(keys))
    if keys:
        await session.execute(sa.text(
            "INSERT INTO funds (source, district) SELECT * FROM unnest(CAST(:s AS text[]), CAST(:d AS text[])) "
            "ON CONFLICT DO NOTHING"), {"s": [k[0] for k in keys], "d": [k[1] for k in keys]})


async def lock_funds(session: AsyncSession, keys: Iterable[FundKey]) -> dict[FundKey, int]:
    """Row-lock the funds in a fixed order; returns each fund's available balance (fen)."""
    keys = sorted(set(keys))
    if not keys:
        return {}
    await ensure_funds(session, keys)
    rows = await session.execute(_LOCK_FUNDS, {"s": [k[0] for k in keys], "d": [k[1] for k in keys]})
    return {(r[0], r[1]): int(r[2]) for r in rows}


async def waiting_counts(session: AsyncSession, keys: Iterable[FundKey]) -> dict[FundKey, int]:
    keys = sorted(set(keys))
    rows = await session.execute(_WAITING, {"s": [k[0] for k in keys], "d": [k[1] for k in keys]})
    return {(r[0], r[1]): int(r[2]) for r in rows}


async def admit_queues(session: AsyncSession, keys: Iterable[FundKey]) -> list[dict[str, Any]]:
    """Reserve waiting drafts, oldest first, that the funds now cover; returns the admitted rows."""
    available = await lock_funds(session, keys)
    d = store.disbursements
    admitted: list[dict[str, Any]] = []
    for key, free in available.items():
        rows = (await session.execute(sa.select(d).where(
            d.c.source == key[0], d.c.district == key[1], d.c.queued_seq.is_not(None),
            d.c.status == State.WAITING.value)
            .order_by(d.c.queued_seq))).mappings().all()
        chosen = set(admit_waiting(available_fen=free,
                                   waiting=[(str(r["disbursement_id"]), r["amount_fen"]) for r in rows]))
        admitted += [dict(r) for r in rows if str(r["disbursement_id"]) in chosen]
    if admitted:
        await set_status(session, admitted, State.RESERVED, queued_seq=None)
        await move_funds(session, {}, sum_by_fund(admitted))
    return admitted


async def set_status(session: AsyncSession, rows: Sequence[Mapping[str, Any]], status: State,
                     **values: Any) -> None:
    d = store.disbursements
    ids = [r["disbursement_id"] for r in rows]
    if ids:  # = ANY(array): one bound parameter, however many rows (IN would bind one per id)
        await session.execute(sa.update(d).where(d.c.disbursement_id == sa.func.any(
            sa.bindparam("ids", ids, type_=ARRAY(UUID(as_uuid=True)))))
            .values(status=status.value, updated_at=sa.func.now(), **values))


def sum_by_fund(rows: Iterable[Mapping[str, Any]], sign: int = 1, column: str = "amount_fen") -> dict[FundKey, int]:
    out: dict[FundKey, int] = defaultdict(int)
    for r in rows:
        out[(r["source"], r["district"])] += sign * r[column]
    return dict(out)


def dict_rows(result: sa.Result[Any]) -> list[dict[str, Any]]:
    """Rows as plain dicts: zip with the keys once (RowMapping builds a key view per row)."""
    keys = tuple(result.keys())
    return [dict(zip(keys, r, strict=True)) for r in result.all()]


# Stored text -> domain values, looked up instead of re-validated per row (Enum calls are slow).
_PARTS = {m.value: m for m in Part}
_STATES = {m.value: m for m in State}
_KINDS = {m.value: m for m in PayeeKind}


@lru_cache(maxsize=4096)
def fund_of(source: str, district: str) -> Fund:
    return Fund(FundingSource(source), district)


def to_domain(row: Mapping[str, Any]) -> Disbursement:
    """The stored row as the domain value, so the pure transition and role rules apply unchanged."""
    return Disbursement(
        decision_id=str(row["decision_id"]), part=_PARTS[row["part"]],
        fund=fund_of(row["source"], row["district"]), clause=row["clause"],
        payee=payee_of(row), amount_fen=row["amount_fen"], state=_STATES[row["status"]],
        approved_by=row["approved_by"], released_by=row["released_by"], offset_fen=row["offset_fen"],
        attempt=row["attempt"])


def payee_of(row: Mapping[str, Any]) -> Payee:
    return Payee(_KINDS[row["payee_kind"]], row["payee_ref"])


_RECEIVABLES = sa.text("SELECT account, sum(amount_fen) FROM ledger_postings "
                       "WHERE account = ANY(CAST(:codes AS text[])) GROUP BY account")


async def receivables(session: AsyncSession, items: Iterable[Disbursement]) -> dict[str, int]:
    """What each payee owes each fund (十四), by receivable account code, derived from postings."""
    return await receivable_balances(session, [receivable(i.fund, i.payee).code for i in items])


async def receivable_balances(session: AsyncSession, codes: Iterable[str]) -> dict[str, int]:
    """`receivables` by account code (a caller that already holds the codes)."""
    wanted = sorted(set(codes))
    if not wanted:
        return {}
    rows = await session.execute(_RECEIVABLES, {"codes": wanted})
    return {r[0]: int(r[1]) for r in rows}


# ---- events: built and serialised once, straight into outbox rows ---------------------------
# A disbursement's drafted and status events carry the same eight fields, all from its stored row
# (ids, texts, an int). Each is written as its outbox row (event id, topic, key, envelope JSON)
# in one step, not payload model -> dict -> envelope model -> JSON (four pydantic passes: about
# 30 us an event, four events per decision; docs/performance.md, payments).
# tests/unit/payments/test_payments_events.py holds the JSON byte for byte to
# shared.events.staged(new_envelope(<the pydantic payload>)), awkward strings included.
_EVENT = ('{"event_id":"%s","type":"%s","version":%d,"occurred_at":%s,"producer":"' + PRODUCER
          + '","key":%s,"payload":{"disbursement_id":"%s","decision_id":"%s","person_key":%s,"clause":%s,'
          '"amount_fen":%d,"funding_source":%s,"district":%s,"status":%s}}')
_WHEN = TypeAdapter(datetime)  # occurred_at as pydantic renders it in the envelope


def uuid5_text(name: str) -> str:
    """str(uuid5_url(name)), without the UUID object (an outbox row holds the text)."""
    sha = _URL_SHA1.copy()
    sha.update(name.encode())
    b = bytearray(sha.digest()[:16])
    b[6] = (b[6] & 0x0F) | 0x50  # version 5
    b[8] = (b[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _text(value: str | None) -> str:
    return "null" if value is None else _json_str(value)


def disbursement_events(model: type[DisbursementDraftedV1 | DisbursementStatusChangedV1],
                        rows: Iterable[Mapping[str, Any]], event_ids: Iterable[str],
                        statuses: Iterable[str]) -> list[StagedEvent]:
    """One outbox row per stored disbursement row: `model`'s event, with these ids and statuses."""
    topic, occurred = topic_for(model.TYPE), _WHEN.dump_json(datetime.now(UTC)).decode()
    out = []
    for r, event_id, status in zip(rows, event_ids, statuses, strict=True):
        key = _json_str(r["person_key"])
        out.append((event_id, topic, r["person_key"], _EVENT % (
            event_id, model.TYPE, model.VERSION, occurred, key, r["disbursement_id"], r["decision_id"], key,
            _json_str(r["clause"]), r["amount_fen"], _json_str(r["source"]), _text(r["district"]),
            _json_str(status))))
    return out


def status_events(rows: Sequence[Mapping[str, Any]], status: State) -> list[StagedEvent]:
    """payments.disbursement.status_changed, with an id stable across replays of the same step
    (derived_event_id("disbursement-status", id, attempt, status), computed as by uuid5_url)."""
    ids = [uuid5_text(f"skillsub:disbursement-status:{r['disbursement_id']}:{r.get('attempt', 1)}:{status}")
           for r in rows]
    return disbursement_events(DisbursementStatusChangedV1, rows, ids, [status.value] * len(rows))


async def emit(runtime: Runtime, session: AsyncSession, events: Sequence[StagedEvent]) -> None:
    """Stage outbox rows in the caller's transaction: shared.outbox.add_staged, as
    runtime.emit_staged does (COPY from 500 events; an unnest INSERT below that or when an id was staged)."""
    del runtime  # kept in the signature: every payments route and handler passes its runtime
    await add_staged(session, store.plumbing.outbox, events)
