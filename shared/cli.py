"""`skillsub` command: up (the whole platform), serve / migrate (one service), audit-verify,
verify-ledger, bench."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import signal
import sys
import time
from pathlib import Path

from shared.settings import DEFAULT_PORTS, SERVICES, Settings


def _service_module(name: str):  # type: ignore[no-untyped-def]
    return importlib.import_module(f"services.{name}.main")


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from shared.logs import configure_logging

    settings = Settings()
    configure_logging(args.service, settings.skillsub_log_level)
    app = _service_module(args.service).create_app(settings)
    port = args.port or DEFAULT_PORTS[args.service]
    uvicorn.run(app, host=args.host, port=port, log_config=None, access_log=False)
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from shared.db import ensure_database, make_engine, migrate

    async def run() -> None:
        settings = Settings()
        url = settings.database_url_for(args.service)
        await ensure_database(url)
        engine = make_engine(url, pool_size=1)
        try:
            await migrate(engine, _service_module(args.service).MIGRATIONS)
        finally:
            await engine.dispose()

    asyncio.run(run())
    print(f"{args.service}: migrations at head")
    return 0


def cmd_makemigration(args: argparse.Namespace) -> int:
    """Developer tool: autogenerate the next Alembic revision against a scratch database."""
    from shared.db import drop_database, ensure_database, make_engine, make_revision

    async def run() -> None:
        from shared.settings import with_database

        scratch = with_database(Settings().database_url_for(args.service), f"scratch_{args.service}")
        await drop_database(scratch)
        await ensure_database(scratch)
        engine = make_engine(scratch, pool_size=1)
        try:
            await make_revision(engine, _service_module(args.service).MIGRATIONS, args.message)
        finally:
            await engine.dispose()
            await drop_database(scratch)

    asyncio.run(run())
    return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    """Recompute a service's audit hash chain; exit 1 if an entry was edited, removed or inserted."""
    from shared.audit import verify
    from shared.db import make_engine, make_sessionmaker

    async def run() -> int:
        engine = make_engine(Settings().database_url_for(args.service), pool_size=1)
        try:
            async with make_sessionmaker(engine)() as session:
                result = await verify(session)
        finally:
            await engine.dispose()
        print(f"{args.service}: {result.entries} entries verified" if result.ok else
              f"{args.service}: TAMPERED at seq {result.first_bad_seq}: {result.problem}")
        return 0 if result.ok else 1

    return asyncio.run(run())


def cmd_verify_ledger(args: argparse.Namespace) -> int:
    """Recompute payments' balances, reservations and payment histories from the postings; exit 1 on drift."""
    import json

    from services.payments.verify import verify_ledger
    from shared.db import make_engine, make_sessionmaker

    async def run() -> int:
        engine = make_engine(Settings().database_url_for("payments"), pool_size=1)
        try:
            async with make_sessionmaker(engine)() as session:
                report = await verify_ledger(session)
        finally:
            await engine.dispose()
        print(json.dumps(report.as_dict(), ensure_ascii=False, indent=2, default=str) if args.json else
              "payments ledger: " + ", ".join(f"{n} {k}" for k, n in report.checked.items())
              + (" verified" if report.ok else f"; DRIFT in {len(report.drift)} place(s):"))
        if not args.json:
            for item in report.drift[:50]:
                print("  " + json.dumps(item, ensure_ascii=False, default=str))
        return 0 if report.ok else 1

    return asyncio.run(run())


def cmd_up(args: argparse.Namespace) -> int:
    from shared.platform import Platform

    platform = Platform(data_dir=Path(args.data_dir), broker_max_mb=args.broker_max_mb)
    stop = False

    def _stop(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        platform.start_servers()
        platform.start_services()
        _print_urls(platform)
        while not stop:
            for line in platform.supervise_once():
                print(f"skillsub up: {line}", flush=True)
            time.sleep(1.0)
    finally:
        print("\nskillsub up: stopping services and embedded servers ...", flush=True)
        platform.stop()
    return 0


def _print_urls(platform) -> None:  # type: ignore[no-untyped-def]
    print("\nSkillSub is up:")
    for name in SERVICES:
        print(f"  {name:<12} {platform.url(name)}   (docs: {platform.url(name)}/docs)")
    print(f"  dashboard    {platform.url('reporting')}/dashboard")
    if platform.treasury is not None:
        print(f"  treasury     {platform.env['TREASURY_URL']} (simulator; payments pays through it)")
    bootstrap = platform.env.get("KAFKA_BOOTSTRAP_SERVERS", os.environ.get("KAFKA_BOOTSTRAP_SERVERS"))
    print(f"  database     {'embedded' if platform.pg else 'external'}; broker "
          f"{'embedded' if platform.broker else 'external'} ({bootstrap})")
    print(f"  logs         {platform.data_dir}/<service>.log\nCtrl-C stops everything.", flush=True)


def cmd_bench(args: argparse.Namespace) -> int:
    from bench.pipeline import main as bench_main

    return bench_main(args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="skillsub", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="run the whole platform (embedded servers unless configured)")
    up.add_argument("--data-dir", default=os.environ.get("SKILLSUB_DATA_DIR", ".data"))
    up.add_argument("--broker-max-mb", type=float, default=1024.0,
                    help="restart the embedded broker above this RSS (outboxes republish)")
    up.set_defaults(func=cmd_up)
    for name, func in (("serve", cmd_serve), ("migrate", cmd_migrate)):
        p = sub.add_parser(name, help=f"{name} one service")
        p.add_argument("service", choices=SERVICES)
        if name == "serve":
            p.add_argument("--port", type=int, default=None)
            p.add_argument("--host", default=os.environ.get("SKILLSUB_HOST", "127.0.0.1"))
        p.set_defaults(func=func)
    av = sub.add_parser("audit-verify", help="verify a service's hash-chained audit log")
    av.add_argument("service", choices=SERVICES)
    av.set_defaults(func=cmd_audit_verify)
    vl = sub.add_parser("verify-ledger", help="recompute the payments ledger from its postings; exit 1 on drift")
    vl.add_argument("--json", action="store_true", help="print the whole report as JSON")
    vl.set_defaults(func=cmd_verify_ledger)
    mk = sub.add_parser("makemigration", help="developer tool: autogenerate a migration")
    mk.add_argument("service", choices=SERVICES)
    mk.add_argument("-m", "--message", required=True)
    mk.set_defaults(func=cmd_makemigration)
    bench = sub.add_parser("bench", help="end-to-end pipeline benchmark")
    bench.add_argument("--certificates", type=int, default=20000)
    bench.add_argument("--batch", type=int, default=1000, help="lines per NDJSON upload (bulk mode)")
    bench.add_argument("--mode", choices=("bulk", "rest"), default="bulk",
                       help="NDJSON bulk uploads, or one POST per certificate")
    bench.add_argument("--concurrency", type=int, default=4)
    bench.add_argument("--data-dir", default=".data/bench")
    bench.set_defaults(func=cmd_bench)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
