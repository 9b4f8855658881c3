"""Database plumbing: engines, the service's own database, Alembic at start."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import asyncpg
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine


def make_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    return create_async_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)


def make_sessionmaker(engine: AsyncEngine, *, audit_key: bytes | None = None) -> async_sessionmaker[AsyncSession]:
    """Sessions for one service; `audit_key` (shared.audit.audit_key) keys its audit chain."""
    return async_sessionmaker(engine, expire_on_commit=False, info={"audit_key": audit_key} if audit_key else None)


_INSERT_SQL: dict[tuple[str, tuple[str, ...], str], str] = {}


def _pg_type(column: sa.Column[Any]) -> str:
    return str(column.type.compile(dialect=postgresql.dialect())).lower()


def _array_type(column: sa.Column[Any]) -> str:
    """The element type an unnest array carries for this column: JSON and arrays travel as text
    (unnest would flatten an array of arrays), cast back in the SELECT."""
    if isinstance(column.type, sa.JSON | sa.ARRAY):
        return "text"
    return _pg_type(column)


def _pick(i: int, column: sa.Column[Any]) -> str:
    if isinstance(column.type, sa.JSON):
        return f"CAST(u.c{i} AS jsonb)"
    if isinstance(column.type, sa.ARRAY):
        return f"CAST(u.c{i} AS {_pg_type(column)})"
    return f"u.c{i}"


def _array_literal(values: Sequence[Any] | None) -> str | None:
    if values is None:
        return None
    return "{" + ",".join('"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values) + "}"


def _insert_sql(table: sa.Table, names: tuple[str, ...], conflict: str) -> str:
    key = (table.name, names, conflict)
    if key not in _INSERT_SQL:
        cols = [table.c[n] for n in names]
        arrays = ", ".join(f"CAST(:c{i} AS {_array_type(c)}[])" for i, c in enumerate(cols))
        picks = ", ".join(_pick(i, c) for i, c in enumerate(cols))
        aliases = ", ".join(f"c{i}" for i in range(len(cols)))
        quoted = ", ".join(f'"{n}"' for n in names)
        _INSERT_SQL[key] = (f"INSERT INTO {table.name} ({quoted}) SELECT {picks} "
                            f"FROM unnest({arrays}) AS u({aliases}) {conflict}")
    return _INSERT_SQL[key]


def raw_insert_sql(table: sa.Table, names: tuple[str, ...], conflict: str, returning: str = "",
                   first: int = 1) -> str:
    """`insert_many`'s statement with asyncpg's positional parameters (`$first` the first column's
    array), for a bare asyncpg connection; its arguments are `column_values` of each column in `names`."""
    key = (table.name, names, f"{conflict}\0{returning}\0{first}")
    if key not in _INSERT_SQL:
        sql = _insert_sql(table, names, conflict)
        for i in reversed(range(len(names))):  # c10 before c1
            sql = sql.replace(f"CAST(:c{i} AS", f"CAST(${i + first} AS")
        _INSERT_SQL[key] = sql + (f" RETURNING {returning}" if returning else "")
    return _INSERT_SQL[key]


def column_values(column: sa.Column[Any], values: list[Any]) -> list[Any]:
    """One column's array for `insert_many` / `raw_insert_sql` (JSON as text, arrays as literals)."""
    return _column_values(column, values)


def _column_values(column: sa.Column[Any], values: list[Any]) -> list[Any]:
    if isinstance(column.type, sa.ARRAY):
        return [_array_literal(v) for v in values]
    if not isinstance(column.type, sa.JSON):
        return values
    none_as_null = bool(getattr(column.type, "none_as_null", False))
    return [None if v is None and none_as_null else json.dumps(v) for v in values]


async def insert_many(session: AsyncSession, table: sa.Table, rows: Sequence[Mapping[str, Any]], *,
                      conflict: str = "ON CONFLICT DO NOTHING") -> int:
    """INSERT ... SELECT FROM unnest(one array per column): one statement and one execution for the
    whole batch, its text the same whatever the batch size, so SQLAlchemy compiles nothing per row
    and asyncpg prepares it once per connection. (An executemany of INSERT runs on the server once
    per row: pg_stat_statements counted 40,000 calls for 40,000 decisions.) Every row carries the
    same keys; JSON values are serialised as SQLAlchemy's JSON type does, then cast to jsonb. An
    ON CONFLICT DO UPDATE `conflict` needs each key at most once in `rows` (PostgreSQL refuses to
    update one row twice in a statement). Returns how many rows it inserted or updated."""
    if not rows:
        return 0
    names = tuple(rows[0])
    params = {f"c{i}": _column_values(table.c[n], [r[n] for r in rows]) for i, n in enumerate(names)}
    result = await session.execute(sa.text(_insert_sql(table, names, conflict)), params)
    return int(getattr(result, "rowcount", -1))


def any_of(column: sa.ColumnElement[Any], values: Sequence[Any]) -> sa.ColumnElement[bool]:
    """`column = ANY(:array)`: one parameter whatever the number of values. `IN (...)` expands to a
    parameter per value at every execution (a fifth of eligibility's Python time in py-spy) and
    gives asyncpg a new statement text to prepare for every batch size."""
    return column == sa.any_(sa.bindparam(None, list(values), type_=postgresql.ARRAY(column.type)))


def _asyncpg_dsn(url: str, database: str | None = None) -> dict[str, object]:
    u = make_url(url)
    params: dict[str, object] = {
        "user": u.username or "postgres",
        "password": u.password,
        "database": database or u.database,
    }
    host = u.query.get("host") or u.host
    params["host"] = host if isinstance(host, str) else (host[0] if host else "127.0.0.1")
    if u.port:
        params["port"] = u.port
    return params


async def ensure_database(url: str) -> None:
    """Create the service's database on its server if it does not exist yet (needs CREATEDB)."""
    target = make_url(url).database
    conn = await asyncpg.connect(**_asyncpg_dsn(url, "postgres"))  # type: ignore[arg-type]
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", target)
        if not exists:
            with contextlib.suppress(asyncpg.DuplicateDatabaseError):  # a sibling created it just now
                await conn.execute(f'CREATE DATABASE "{target}"')
    finally:
        await conn.close()


async def drop_database(url: str) -> None:
    """Drop a database (tests only)."""
    target = make_url(url).database
    conn = await asyncpg.connect(**_asyncpg_dsn(url, "postgres"))  # type: ignore[arg-type]
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)')
    finally:
        await conn.close()


def _upgrade(connection: Connection, script_location: Path) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, "head")


# Tables every service database has (outbox, broker marker, inbox, dead letters, audit log): one
# shared Alembic branch with its own version table, so no service's history repeats them.
SHARED_MIGRATIONS = Path(__file__).parent / "migrations"
SHARED_VERSION_TABLE = "alembic_version_shared"
SHARED_TABLES = frozenset({"outbox", "outbox_marker", "inbox", "dead_letter", "audit_log", "audit_purges",
                           "pending_approvals",
                           "audit_checkpoints"})


async def migrate(engine: AsyncEngine, script_location: Path) -> None:
    """Apply the shared branch and the service's own migrations up to head, under an advisory lock
    so that replicas starting together migrate once."""
    async with engine.begin() as conn:
        await conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7337001)")
        await conn.run_sync(_upgrade, SHARED_MIGRATIONS)
        await conn.run_sync(_upgrade, script_location)


async def session_scope(maker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """FastAPI dependency body: one session per request; the route owns the commit."""
    async with maker() as session:
        yield session


def _own_objects(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    """Autogenerate compares only the service's own tables; the shared branch owns the rest."""
    table = getattr(obj, "table", obj) if type_ != "table" else obj
    return getattr(table, "name", name) not in SHARED_TABLES and name not in SHARED_TABLES


def run_alembic_env(context: object, target_metadata: object) -> None:
    """Body of every service's migrations/env.py: run online on the connection handed in."""
    connection = context.config.attributes.get("connection")  # type: ignore[attr-defined]
    if connection is None:
        raise RuntimeError("migrations run through shared.db.migrate (skillsub migrate <service>)")
    context.configure(connection=connection, target_metadata=target_metadata,  # type: ignore[attr-defined]
                      include_object=_own_objects)
    with context.begin_transaction():  # type: ignore[attr-defined]
        context.run_migrations()  # type: ignore[attr-defined]


__all__ = [
    "make_engine", "make_sessionmaker", "ensure_database", "drop_database", "migrate",
    "session_scope", "run_alembic_env", "asyncio",
]


def _autogenerate(connection: Connection, script_location: Path, message: str) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, "head")
    command.revision(cfg, message=message, autogenerate=True)


async def make_revision(engine: AsyncEngine, script_location: Path, message: str) -> None:
    """Developer tool: write the next migration from the difference between head and the tables."""
    async with engine.begin() as conn:
        await conn.run_sync(_autogenerate, script_location, message)
