"""`skillsub` command: up (the whole platform), serve / migrate (one service), audit-verify,
verify-ledger, dead-letters (operators' list, show, replay, discard), bench."""

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
    from shared.memory import return_freed_memory

    return_freed_memory()
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
        url = settings.migration_url_for(args.service)
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
    """Recompute a service's keyed audit chain and hold its head against the checkpoints the other
    services recorded from the bus; exit 1 if an entry was edited, removed, inserted or cut off."""
    from shared.audit import verify_service

    report = asyncio.run(verify_service(Settings(), args.service))
    print(report.text)
    return 0 if report.ok else 1


def cmd_audit_purge(args: argparse.Namespace) -> int:
    """As the owner role: record and delete entries past the retention (never under 180 days)."""
    from shared.audit import audit_key, purge
    from shared.db import make_engine, make_sessionmaker

    async def run() -> int:
        settings = Settings()
        engine = make_engine(settings.migration_url_for(args.service), pool_size=1)
        try:
            maker = make_sessionmaker(engine, audit_key=audit_key(settings.skillsub_audit_key, args.service))
            async with maker() as session, session.begin():
                return await purge(session, args.retention_days, args.by)
        finally:
            await engine.dispose()

    print(f"{args.service}: {asyncio.run(run())} audit entries purged")
    return 0


def cmd_keygen(args: argparse.Namespace) -> int:
    """Print a new Ed25519 token-signing key (PEM). Rotation: put it first in the registry's key
    file, keep the old key after it for at least one token lifetime, then remove the old one."""
    from shared.auth import generate_signing_key_pem

    sys.stdout.write(generate_signing_key_pem())
    return 0


def cmd_dead_letters(args: argparse.Namespace) -> int:
    """Through the service's own API (shared/deadletters.py), as a client of the registry's: the
    audit log names that client. Exit 1 when the service refuses."""
    import httpx

    base = args.url or os.environ.get(f"SKILLSUB_{args.service.upper()}_URL") or \
        f"http://127.0.0.1:{DEFAULT_PORTS[args.service]}"
    try:
        with httpx.Client(timeout=60) as http:
            r = _dead_letter_call(http, args, base)
    except httpx.HTTPError as exc:
        print(f"skillsub dead-letters: {type(exc).__name__}: {exc} (is {args.service} running at {base}?)",
              file=sys.stderr)
        return 1
    if r is None:
        return 1
    if r.status_code >= 300:
        print(f"skillsub dead-letters: {r.status_code} {r.text}", file=sys.stderr)
        return 1
    _print_dead_letters(args.action, r.json())
    return 0


def _dead_letter_call(http, args: argparse.Namespace, base: str):  # type: ignore[no-untyped-def]
    headers = _operator_token(http, args)
    if headers is None:
        return None
    path = f"{base}/v1/dead-letters"
    if args.action == "list":
        return http.get(path, headers=headers, params={"status": args.status} if args.status != "all" else {})
    if args.action == "show":
        return http.get(f"{path}/{args.id}", headers=headers)
    if args.action == "replay":
        return http.post(f"{path}/{args.id}/replay", headers=headers)
    return http.post(f"{path}/{args.id}/discard", headers=headers, json={"reason": args.reason})


def _operator_token(http, args: argparse.Namespace) -> dict[str, str] | None:  # type: ignore[no-untyped-def]
    """A bearer header for SKILLSUB_CLIENT_ID / SKILLSUB_CLIENT_SECRET (development: the demo
    auditor reads, the demo bureau resolves)."""
    registry = args.registry_url or os.environ.get("SKILLSUB_REGISTRY_URL") or \
        f"http://127.0.0.1:{DEFAULT_PORTS['registry']}"
    client_id = args.client_id or os.environ.get("SKILLSUB_CLIENT_ID") or \
        ("demo-auditor" if args.action in ("list", "show") else "demo-bureau")
    secret = os.environ.get("SKILLSUB_CLIENT_SECRET") or \
        (f"{client_id}-secret" if client_id.startswith("demo-") else "")
    token = http.post(f"{registry}/v1/oauth/token", data={
        "grant_type": "client_credentials", "client_id": client_id, "client_secret": secret})
    if token.status_code != 200:
        print(f"skillsub dead-letters: no token for {client_id} ({token.status_code})", file=sys.stderr)
        return None
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


def _print_dead_letters(action: str, body: object) -> None:
    import json

    if action != "list" or not isinstance(body, list):
        print(json.dumps(body, ensure_ascii=False, indent=2))
        return
    for d in body:
        print(f"{d['id']:>6} {d['status']:<9} {d['created_at'][:19]} {d['event_type'] or '?':<36} "
              f"{d['topic']}[{d['partition']}]@{d['offset']} attempts={d['attempts']}: {d['error'][:80]}")
    print(f"{len(body)} dead letter(s)")


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

    if args.broker == "apache":
        from shared.apache_kafka import java_available

        if not java_available():
            print("skillsub up --broker apache needs Java 17 (and Maven for the first fetch); "
                  "without them run the embedded broker: skillsub up", file=sys.stderr)
            return 2
    platform = Platform(data_dir=Path(args.data_dir), broker_max_mb=args.broker_max_mb, broker_kind=args.broker)
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
    print(f"  console      {platform.url('reporting')}/console   (staff: each with their own account)")
    if platform.treasury is not None:
        print(f"  treasury     {platform.env['TREASURY_URL']} (simulator; payments pays through it)")
    bootstrap = platform.env.get("KAFKA_BOOTSTRAP_SERVERS", os.environ.get("KAFKA_BOOTSTRAP_SERVERS"))
    kind = "external"
    if platform.broker is not None:
        kind = {"tansu": "embedded Tansu", "apache": "Apache Kafka"}[platform.broker_kind]
    print(f"  database     {'embedded' if platform.pg else 'external'}; broker {kind} ({bootstrap})")
    print(f"  logs         {platform.data_dir}/<service>.log\nCtrl-C stops everything.", flush=True)


def cmd_bench(args: argparse.Namespace) -> int:
    from bench.pipeline import main as bench_main

    return bench_main(args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="skillsub", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="run the whole platform (embedded servers unless configured)")
    up.add_argument("--data-dir", default=os.environ.get("SKILLSUB_DATA_DIR", ".data"))
    up.add_argument("--broker", choices=("tansu", "apache"), default="tansu",
                    help="tansu: the embedded memory-only broker (needs nothing but Python); apache: Apache "
                         "Kafka from Maven Central (needs Java 17 and Maven), as production runs it")
    up.add_argument("--broker-max-mb", type=float, default=1024.0,
                    help="restart the embedded Tansu broker above this RSS (outboxes republish)")
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
    dl = sub.add_parser("dead-letters", help="list, show, replay or discard a service's dead letters")
    dl.add_argument("action", choices=("list", "show", "replay", "discard"))
    dl.add_argument("service", choices=SERVICES)
    dl.add_argument("id", nargs="?", type=int, help="the dead letter (show, replay, discard)")
    dl.add_argument("--reason", help="why the event is given up (discard; at least 10 characters)")
    dl.add_argument("--status", choices=("open", "replayed", "discarded", "all"), default="open",
                    help="which ones to list")
    dl.add_argument("--url", help="the service (default SKILLSUB_<SERVICE>_URL or its local port)")
    dl.add_argument("--registry-url", help="where tokens come from (default SKILLSUB_REGISTRY_URL or :8001)")
    dl.add_argument("--client-id", help="your client (default SKILLSUB_CLIENT_ID; secret from "
                                        "SKILLSUB_CLIENT_SECRET); auditors list and show, the bureau resolves")
    dl.set_defaults(func=cmd_dead_letters)
    ap = sub.add_parser("audit-purge", help="purge audit entries past retention (owner role; recorded)")
    ap.add_argument("service", choices=SERVICES)
    ap.add_argument("--retention-days", type=int, required=True)
    ap.add_argument("--by", required=True, help="who purges (recorded in the purge record and the chain)")
    ap.set_defaults(func=cmd_audit_purge)
    kg = sub.add_parser("keygen", help="print a new Ed25519 token-signing key (PEM)")
    kg.set_defaults(func=cmd_keygen)
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
    bench.add_argument("--broker", choices=("tansu", "apache", "both"), default="tansu",
                       help="the broker to run on; both: Tansu, then Apache Kafka, in the same run")
    bench.add_argument("--rejoin-repeat", type=int, default=3,
                       help="consumer kills per membership kind for the rejoin time")
    bench.add_argument("--profile", metavar="DIR", default="",
                       help="py-spy each service and pg_stat_statements per database; write them to DIR")
    bench.set_defaults(func=cmd_bench)
    args = parser.parse_args(argv)
    if args.command == "dead-letters" and args.action != "list" and args.id is None:
        parser.error(f"dead-letters {args.action} needs the dead letter's id")
    if args.command == "dead-letters" and args.action == "discard" and not args.reason:
        parser.error("dead-letters discard needs --reason")
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
