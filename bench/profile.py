"""`skillsub bench --profile DIR`: where the time goes during the run.

Before the services start, the embedded PostgreSQL is restarted with pg_stat_statements preloaded
and the extension created in each service's database; during the push, py-spy samples each service
process (non-blocking, so the service is not paused). At the end DIR holds, per service, py-spy's
collapsed stacks (`<service>.pyspy.txt`) and the statements that cost the most
(`<service>.statements.txt`: calls, rows, total and mean ms, per certificate).
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import asyncpg

from shared.platform import Platform
from shared.settings import SERVICES, Settings

TOP = """SELECT calls, rows, total_exec_time, mean_exec_time,
  left(regexp_replace(query, '\\s+', ' ', 'g'), 400) AS query FROM pg_stat_statements
WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
ORDER BY total_exec_time DESC LIMIT 25"""


def _dsns(platform: Platform) -> dict[str, str]:
    settings = Settings(database_url=platform.env["DATABASE_URL"])
    return {s: settings.database_url_for(s).replace("postgresql+asyncpg://", "postgresql://") for s in SERVICES}


def preload_pg_stat_statements(platform: Platform) -> None:
    """Restart the embedded server with the extension loaded (it needs shared_preload_libraries)."""
    async def alter() -> None:
        conn = await asyncpg.connect(platform.env["DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://"))
        await conn.execute("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")
        await conn.execute("ALTER SYSTEM SET pg_stat_statements.max = 2000")
        await conn.close()

    asyncio.run(alter())
    platform.restart_postgres(crash=False)


async def reset(platform: Platform) -> None:
    for dsn in _dsns(platform).values():
        conn = await asyncpg.connect(dsn)
        await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        await conn.execute("SELECT pg_stat_statements_reset()")
        await conn.close()


def start_py_spy(platform: Platform, out: Path) -> list[subprocess.Popen[bytes]]:
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    out.mkdir(parents=True, exist_ok=True)
    return [subprocess.Popen([spy, "record", "--nonblocking", "--rate", "50", "--format", "raw", "--subprocesses",
                              "--pid", str(proc.pid), "--output", str(out / f"{name}.pyspy.txt")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for name, proc in platform.procs.items()]


def stop_py_spy(spies: list[subprocess.Popen[bytes]]) -> None:
    for p in spies:
        p.send_signal(signal.SIGINT)
    for p in spies:
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()


async def dump_statements(platform: Platform, out: Path, n: int) -> dict[str, Any]:
    """Per service: statements, calls and PostgreSQL ms in total and per certificate."""
    summary: dict[str, Any] = {}
    for service, dsn in _dsns(platform).items():
        conn = await asyncpg.connect(dsn)
        rows = await conn.fetch(TOP)
        totals = await conn.fetchrow(
            "SELECT sum(calls) AS calls, sum(total_exec_time) AS ms, sum(rows) AS rows FROM pg_stat_statements "
            "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())")
        await conn.close()
        lines = [f"{r['calls']:>9} calls {r['rows']:>9} rows {r['total_exec_time']:>10.0f} ms total "
                 f"{r['mean_exec_time']:>8.3f} ms mean {r['total_exec_time'] / n * 1e3:>8.1f} us/cert  {r['query']}"
                 for r in rows]
        (out / f"{service}.statements.txt").write_text("\n".join(lines) + "\n")
        summary[service] = {"calls": int(totals["calls"] or 0), "ms": float(totals["ms"] or 0),
                            "rows": int(totals["rows"] or 0)}
    return summary
