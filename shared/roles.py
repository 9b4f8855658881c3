"""Database roles: per service an owner (migrations, grants, the audit purge) and a runtime role.

The runtime role (the one the service's requests and consumers use) may read and write its own
tables, except: no UPDATE, DELETE or TRUNCATE on the audit log and the ledger (postings and
transactions), no writing purge records or Alembic's version tables, no TRUNCATE anywhere, and no
CONNECT to any other service's database (CONNECT is revoked from PUBLIC on each service database).
The owner applies these grants after every migration, so a new table is covered at the next start.

`provision_roles` creates the roles on a server where we hold a superuser (the embedded platform
and the tests); docker-compose (deploy/postgres/init-databases.sh) and Kubernetes (CloudNativePG
managed roles, deploy/k8s/base/postgres.yaml) create the same roles.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

import asyncpg
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.settings import SERVICES, with_database

# Tables whose rows are never changed once written. Payments' ledger is double-entry and derived
# balances come from it, a 十三.5 plan's items and settlements and each payee-account revision are
# kept as written (their triggers refuse edits too, for every role); the audit log is the trail
# (shared/audit.py). Disbursements and manual items change status, so the runtime role keeps
# UPDATE there and the triggers of payments' migration e7a1c3d5f902 fix their drafted columns.
APPEND_ONLY: dict[str, tuple[str, ...]] = {
    "registry": (), "eligibility": ("notice_objections",), "reporting": (),
    "payments": ("ledger_postings", "ledger_transactions", "plan_items", "plan_settlements", "payee_accounts"),
}
SHARED_APPEND_ONLY = ("audit_log",)
READ_ONLY = ("audit_purges", "alembic_version", "alembic_version_shared")


def owner_role(service: str) -> str:
    return f"skillsub_{service}"


def runtime_role(service: str) -> str:
    return f"skillsub_{service}_app"


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def grant_statements(service: str, database: str, runtime: str, tables: Iterable[str]) -> list[str]:
    """What the owner runs after migrating. `tables`: the tables that exist in the database."""
    existing = set(tables)
    app = _q(runtime)
    frozen = [t for t in (*SHARED_APPEND_ONLY, *APPEND_ONLY.get(service, ())) if t in existing]
    read_only = [t for t in READ_ONLY if t in existing]
    out = [
        f"REVOKE ALL ON DATABASE {_q(database)} FROM PUBLIC",
        f"GRANT CONNECT, TEMPORARY ON DATABASE {_q(database)} TO {app}",
        f"GRANT USAGE ON SCHEMA public TO {app}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {app}",
        f"REVOKE TRUNCATE, REFERENCES, TRIGGER ON ALL TABLES IN SCHEMA public FROM {app}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {app}",
    ]
    if frozen:
        out.append(f"REVOKE UPDATE, DELETE ON {', '.join(_q(t) for t in frozen)} FROM {app}")
    if read_only:
        out.append(f"REVOKE INSERT, UPDATE, DELETE ON {', '.join(_q(t) for t in read_only)} FROM {app}")
    return out


async def apply_grants(owner_engine: AsyncEngine, service: str, runtime_url: str) -> bool:
    """Grant the runtime role what it needs and no more; False when it is the owner itself
    (a development database with one role: nothing to separate)."""
    runtime = make_url(runtime_url).username or "postgres"
    owner = owner_engine.url.username or "postgres"
    if runtime == owner:
        return False
    database = owner_engine.url.database or ""
    async with owner_engine.begin() as conn:
        rows = await conn.exec_driver_sql(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        for stmt in grant_statements(service, database, runtime, [r[0] for r in rows]):
            await conn.exec_driver_sql(stmt)
    return True


async def provision_roles(superuser_url: str, services: Iterable[str] = SERVICES) -> None:
    """Create each service's owner (LOGIN CREATEDB) and runtime (LOGIN) roles if missing. The
    embedded server trusts local socket connections, so no passwords are set here."""
    u = make_url(superuser_url)
    host = u.query.get("host") or u.host or "127.0.0.1"
    conn = await asyncpg.connect(user=u.username or "postgres", password=u.password, database="postgres",
                                 host=host if isinstance(host, str) else host[0], port=u.port)
    try:
        for service in services:
            for role, attrs in ((owner_role(service), "LOGIN CREATEDB"), (runtime_role(service), "LOGIN")):
                exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role)
                if not exists:
                    with contextlib.suppress(asyncpg.DuplicateObjectError):  # a parallel process was first
                        await conn.execute(f"CREATE ROLE {_q(role)} {attrs}")
    finally:
        await conn.close()


def role_urls(server_url: str, service: str, database: str | None = None) -> tuple[str, str]:
    """(runtime URL, owner URL) for `service` on a server URL, with the per-service roles."""
    base = make_url(with_database(server_url, database or f"skillsub_{service}"))
    runtime = base.set(username=runtime_role(service), password=None).render_as_string(hide_password=False)
    owner = base.set(username=owner_role(service), password=None).render_as_string(hide_password=False)
    return runtime, owner


async def adopt_databases(superuser_url: str, services: Iterable[str] = SERVICES) -> None:
    """Hand databases created before roles were separated (owned by the superuser) to their
    service's owner role: the database, and every table, sequence and function in it."""
    u = make_url(superuser_url)
    host = u.query.get("host") or u.host or "127.0.0.1"
    params = {"user": u.username or "postgres", "password": u.password,
              "host": host if isinstance(host, str) else host[0], "port": u.port}
    for service in services:
        database, owner = f"skillsub_{service}", owner_role(service)
        conn = await asyncpg.connect(database="postgres", **params)  # type: ignore[arg-type]
        try:
            current = await conn.fetchval("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = $1",
                                          database)
            if current is None or current == owner:
                continue
            await conn.execute(f"ALTER DATABASE {_q(database)} OWNER TO {_q(owner)}")
        finally:
            await conn.close()
        conn = await asyncpg.connect(database=database, **params)  # type: ignore[arg-type]
        try:
            for kind, query in (("TABLE", "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"),
                                ("SEQUENCE", "SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'"),
                                ("FUNCTION", "SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n "
                                             "ON n.oid = p.pronamespace WHERE n.nspname = 'public'")):
                for (name,) in await conn.fetch(query):
                    target = name if kind == "FUNCTION" else _q(name)
                    # An identity sequence follows its table and refuses its own ALTER.
                    with contextlib.suppress(asyncpg.FeatureNotSupportedError,
                                             asyncpg.ObjectNotInPrerequisiteStateError):
                        await conn.execute(f"ALTER {kind} {target} OWNER TO {_q(owner)}")
        finally:
            await conn.close()
