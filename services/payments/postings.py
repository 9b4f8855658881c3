"""Ledger writes shared by every payments step: post, lock funds, reserve, admit the queue, emit.

Postings go in with one `unnest` statement per call, so the statement-level balance trigger sees a
whole transaction at once and one round trip carries any number of rows (no 32,767-parameter cap).
Funds are locked in (source, district) order, so concurrent writers never deadlock.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.ext.asyncio import AsyncSession

from services.payments import store
from services.payments.disbursements import Disbursement, Part, State, admit_waiting
from services.payments.ledger import AccountKind, Fund, FundingSource, Payee, PayeeKind, Transaction, receivable
from shared.events import DisbursementStatusChangedV1, Envelope, new_envelope

if TYPE_CHECKING:
    from shared.app import Runtime

PRODUCER = "payments"
FundKey = tuple[str, str]  # (source, district)

_INSERT_TXNS = sa.text(
    "INSERT INTO ledger_transactions (txn_id, kind, ref) "
    "SELECT * FROM unnest(CAST(:ids AS uuid[]), CAST(:kinds AS text[]), CAST(:refs AS text[]))")
_INSERT_POSTINGS = sa.text(
    "INSERT INTO ledger_postings (txn_id, account, amount_fen) "
    "SELECT * FROM unnest(CAST(:ids AS uuid[]), CAST(:accounts AS text[]), CAST(:amounts AS bigint[]))")
_MOVE_FUNDS = sa.text(
    "UPDATE funds f SET balance_fen = f.balance_fen + v.balance, reserved_fen = f.reserved_fen + v.reserved "
    "FROM unnest(CAST(:sources AS text[]), CAST(:districts AS text[]), CAST(:balance AS bigint[]), "
    "CAST(:reserved AS bigint[])) AS v(source, district, balance, reserved) "
    "WHERE f.source = v.source AND f.district = v.district")


def unnest_insert(table: str, columns: Mapping[str, str], tail: str = "") -> sa.TextClause:
    """INSERT of any number of rows in one statement: one array parameter per column (name -> SQL type)."""
    return sa.text(f"INSERT INTO {table} ({', '.join(columns)}) SELECT * FROM unnest("
                   + ", ".join(f"CAST(:{c} AS {t}[])" for c, t in columns.items()) + f") {tail}".rstrip())


_URL_NS = uuid.NAMESPACE_URL.bytes


def uuid5_url(name: str) -> uuid.UUID:
    """uuid.uuid5(NAMESPACE_URL, name), the same value at half the cost (no bytes round trip):
    every ledger transaction and status event of a batch derives one."""
    h = int.from_bytes(hashlib.sha1(_URL_NS + name.encode()).digest()[:16], "big")
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
        ids = [txn_id(tx) for tx in txs]
        await session.execute(_INSERT_TXNS, {"ids": ids, "kinds": [t.kind for t in txs],
                                             "refs": [t.ref for t in txs]})
        p_ids: list[uuid.UUID] = []
        accounts: list[str] = []
        amounts: list[int] = []
        for i, tx in zip(ids, txs, strict=True):
            for p in tx.postings:
                p_ids.append(i)
                accounts.append(p.account.code)
                amounts.append(p.amount_fen)
                if p.account.kind is AccountKind.SPECIAL:
                    balance[fund_key(p.account.fund)] += p.amount_fen
        await session.execute(_INSERT_POSTINGS, {"ids": p_ids, "accounts": accounts, "amounts": amounts})
    await move_funds(session, balance, reserved or {})


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
    codes = sorted({receivable(i.fund, i.payee).code for i in items})
    if not codes:
        return {}
    rows = await session.execute(_RECEIVABLES, {"codes": codes})
    return {r[0]: int(r[1]) for r in rows}


def status_events(rows: Iterable[Mapping[str, Any]], status: State) -> list[Envelope]:
    """payments.disbursement.status_changed, with an id stable across replays of the same step
    (derived_event_id("disbursement-status", id, attempt, status), computed by uuid5_url)."""
    out = []
    for r in rows:
        payload = DisbursementStatusChangedV1(
            disbursement_id=r["disbursement_id"], decision_id=r["decision_id"], person_key=r["person_key"],
            clause=r["clause"], amount_fen=r["amount_fen"], funding_source=r["source"],
            district=r["district"], status=status.value)
        event_id = uuid5_url(f"skillsub:disbursement-status:{r['disbursement_id']}:{r.get('attempt', 1)}:{status}")
        out.append(new_envelope(payload, key=r["person_key"], producer=PRODUCER, event_id=event_id))
    return out


_INSERT_OUTBOX = sa.text(
    "INSERT INTO outbox (event_id, topic, key, envelope) SELECT i, t, k, CAST(e AS jsonb) FROM "
    "unnest(CAST(:ids AS uuid[]), CAST(:topics AS text[]), CAST(:keys AS text[]), CAST(:envs AS text[])) "
    "AS v(i, t, k, e) ON CONFLICT (event_id) DO NOTHING")


async def emit(runtime: Runtime, session: AsyncSession, envelopes: Sequence[Envelope]) -> None:
    """Stage events in the outbox in the caller's transaction (as runtime.emit does), with one
    unnest statement instead of a compiled multi-row VALUES: same rows, a fraction of the CPU."""
    del runtime  # kept in the signature: the outbox table is the runtime's contract
    if envelopes:
        await session.execute(_INSERT_OUTBOX, {
            "ids": [e.event_id for e in envelopes], "topics": [e.topic for e in envelopes],
            "keys": [e.key for e in envelopes], "envs": [e.model_dump_json() for e in envelopes]})
