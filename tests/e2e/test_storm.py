"""Duplicate and reorder storm: take every event the registry published in a clean run (payment
accounts, certificates, then a shortage list that re-decides every certificate and revocations of
some), deliver each one three times in a seeded shuffled order to a FRESH eligibility, payments and
reporting (their own new databases, their own topic prefix, same PostgreSQL server and broker), and
require the final state to equal the clean run's: the same current decisions (certificate, clause,
outcome, amount), the same live disbursements (by decision, amount, status), the same fund figures
and the same progress and fund counts in reporting. Then both are paid out and verify-ledger finds,
in each, Σ paid − Σ recovered = the standing decision of every certificate.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from shared.platform import Platform, free_ports
from shared.roles import role_urls
from tests.e2e.platform_harness import (  # noqa: F401 - platform_fixture is `platform`
    SHORTAGE_FEN,
    Api,
    N,
    Timer,
    allocate,
    end_notices,
    eventually,
    ledger_verified,
    metric,
    pay_out,
    platform_fixture,
    publish_shortage_list,
    push_certificates,
    revoke,
    scalar,
    seed,
    sql,
    wait_all_counted,
    wait_outbox_drained,
)

SEED = int(os.environ.get("SKILLSUB_STORM_SEED", "20200301"))
COPIES = 3
DOWNSTREAM = ("eligibility", "payments", "reporting")
PREFIX = "storm."


def snapshot(platform: Platform) -> dict[str, Any]:
    """The state a clean run and a stormed run must share. Decision ids are the services' own, so
    disbursements are compared by the decision's certificate and clause. A revoked certificate's
    current decision depends on what was read first (revoked after its approval: reversed; revoked
    before its issue was read: rejected, or never decided): it is compared as "no subsidy"."""
    current = sql(platform, "eligibility", "SELECT decision_id, trigger_id::text, clause, outcome, amount_fen "
                                           "FROM decisions WHERE current")
    by_id = {d[0]: (d[1], d[2]) for d in current}
    decisions = [d for d in current if d[3] == "approved"]
    certificates = {str(r[0]) for r in sql(platform, "registry", "SELECT certificate_id FROM certificates")}
    # Live money only: which predecessors were drafted and cancelled depends on the delivery order.
    disbursements = sql(platform, "payments", "SELECT decision_id, part, amount_fen, status FROM disbursements "
                                              "WHERE status <> 'cancelled'")
    return {
        "decisions": sorted(d[1:] for d in decisions),
        "no_subsidy": sorted(certificates - {d[1] for d in decisions}),
        "disbursements": sorted((*by_id.get(d[0], ("unknown decision", str(d[0]))), *d[1:]) for d in disbursements),
        "funds": sorted(sql(platform, "payments", "SELECT source, district, balance_fen, reserved_fen FROM funds")),
        "progress": sorted(sql(platform, "reporting", "SELECT quarter, district, department, clause, "
                                                      "person_times, amount_fen FROM progress_counts")),
        # with the payments counted beside the sums (the small-cell counts of /v1/funds)
        "fund_counts": sorted(sql(platform, "reporting", "SELECT month, source, district, clause, paid_fen, "
                                                         "reserved_fen, paid_holders, reserved_holders "
                                                         "FROM fund_counts")),
        "fund_month_counts": sorted(sql(platform, "reporting", "SELECT month, dim, value, paid_payments, "
                                                               "reserved_payments FROM fund_month_counts")),
    }


def registry_events(platform: Platform) -> list[tuple[str, str, str]]:
    """(topic, key, envelope JSON) of everything the registry staged, in the order it staged them."""
    return [(r[0], r[1], r[2]) for r in sql(platform, "registry", "SELECT topic, key, envelope::text "
                                                                  "FROM outbox ORDER BY id")]


async def deliver(bootstrap: str, events: list[tuple[str, str, str]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        sent = [await producer.send(PREFIX + topic, key=key.encode(), value=value.encode())
                for topic, key, value in events]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


def fresh_platform(base: Platform, tmp: Path) -> Platform:
    """New databases and a topic prefix for the downstream services; same servers, and the
    clean run's registry still issues the tokens."""
    env = {**base.env, "KAFKA_TOPIC_PREFIX": PREFIX}
    for s in DOWNSTREAM:  # each as its runtime role, migrated by its owner role (shared/roles.py)
        env[f"{s.upper()}_DATABASE_URL"], env[f"{s.upper()}_MIGRATION_DATABASE_URL"] = role_urls(
            base.env["DATABASE_URL"], s, f"storm_{s}")
    fresh = Platform(data_dir=tmp, ports=free_ports(), env=env, broker_kind=base.broker_kind,
                     broker=base.broker, owns_broker=False)
    fresh.ports["registry"] = base.ports["registry"]
    fresh.data_dir.mkdir(parents=True, exist_ok=True)
    fresh.provision_broker()  # on Apache Kafka: the storm's topics and the services' ACLs on them
    return fresh


def test_every_registry_event_delivered_three_times_shuffled_gives_the_clean_runs_final_state(
        platform: Platform, tmp_path: Path) -> None:
    t = Timer()
    platform.start_services()
    api = Api(platform)
    seed(api)
    ids = push_certificates(api, range(N))
    wait_all_counted(api)
    publish_shortage_list(api)  # re-decides every certificate at the shortage rate
    revoked = [ids[seq] for seq in sorted(ids)[::7]]
    for cert_id in revoked:
        revoke(api, cert_id)
    # Both counts: right after the shortage list every certificate holds a shortage-rate approval, so
    # "reversed or re-decided" alone is met before any revocation is read.
    eventually(lambda: sql(platform, "eligibility", "SELECT count(*) FILTER (WHERE outcome = 'reversed'), "
                                                    "count(*) FILTER (WHERE outcome = 'approved' AND amount_fen = $1) "
                                                    "FROM decisions WHERE current", SHORTAGE_FEN)[0]
               == (len(revoked), N - len(revoked)), platform, 60, "every certificate re-decided or reversed")
    # The shortage-rate approvals are new amounts: each stands its own public notice (公示) first.
    wait_outbox_drained(platform, "eligibility")
    assert end_notices(api) == N - len(revoked)
    for service in ("registry", "eligibility", "payments"):
        wait_outbox_drained(platform, service)
    events = registry_events(platform)
    # Published is not applied: reporting may still be reading payments' last drafts.
    eventually(lambda: caught_up(platform, events), platform, 60, "the clean run's services applied every event")
    clean = snapshot(platform)
    t.mark(f"clean run: {len(events)} registry events, {len(clean['decisions'])} current decisions")
    assert len(clean["decisions"]) == len(clean["disbursements"]) == N - len(revoked)  # decided and drafted
    assert clean["no_subsidy"] == sorted(revoked)

    fresh = fresh_platform(platform, tmp_path / "storm")
    try:
        fresh.start_services(DOWNSTREAM)
        fresh_api = Api(fresh)
        allocate(fresh_api, 100_000_000)
        storm = [e for e in events for _ in range(COPIES)]
        random.Random(SEED).shuffle(storm)
        asyncio.run(deliver(platform.admin_bootstrap, storm))
        t.mark(f"storm delivered: {len(storm)} messages (seed {SEED})")
        eventually(lambda: decided_all(fresh, events), fresh, 60, "the fresh eligibility decided every event")
        assert end_notices(fresh_api) == N - len(revoked)  # its approvals stand their notices too
        eventually(lambda: caught_up(fresh, events), fresh, 60, "the fresh services applied every event")
        stormed = snapshot(fresh)
        t.mark("fresh services caught up")
        held = sql(fresh, "payments", "SELECT reason, count(*) FROM payment_holds WHERE resolved_at IS NULL "
                                      "GROUP BY 1") + sql(fresh, "eligibility", "SELECT outcome, count(*) FROM "
                                                                                "decisions WHERE current GROUP BY 1")
        dead = {s: sql(fresh, s, "SELECT error FROM dead_letter LIMIT 3") for s in DOWNSTREAM}
        assert all(not d for d in dead.values()), dead  # nothing dead-lettered (else "caught up" means little)
        for part in ("disbursements", "funds", "progress", "fund_counts", "fund_month_counts"):
            assert stormed[part] == clean[part], f"{part} differs ({held}):\n{diff(clean[part], stormed[part])}"
        duplicates = metric(fresh_api.get("eligibility", "/metrics").text, "skillsub_events_duplicate_total")
        assert duplicates == (COPIES - 1) * len(events)  # every extra copy was absorbed by the inbox
        assert {s: scalar(fresh, s, "SELECT count(*) FROM dead_letter") for s in DOWNSTREAM} == dict.fromkeys(
            DOWNSTREAM, 0)
        # Paid out, both ledgers hold for every trigger they were told of (in the storm a certificate
        # revoked before its issue was read was never decided, so payments never heard of it).
        pay_out(api)
        ledger_verified(api, settled_triggers=N)
        pay_out(fresh_api)
        ledger_verified(fresh_api)
        assert snapshot(fresh)["funds"] == snapshot(platform)["funds"]  # the same money went out
        t.mark("both runs paid out and verified")
    finally:
        fresh.stop()
    t.report(f"storm (duplicates absorbed by eligibility {duplicates:.0f})")
    assert stormed["decisions"] == clean["decisions"], diff(clean["decisions"], stormed["decisions"])
    assert stormed["no_subsidy"] == clean["no_subsidy"]


def caught_up(platform: Platform, events: list[tuple[str, str, str]]) -> bool:
    """`counts` agree, and still agree a second later: the counts are read one database after another,
    so a batch committed between two reads could make them agree for a moment."""
    first = counts(platform, events)
    if first is None:
        return False
    time.sleep(1.0)
    return counts(platform, events) == first


def decided_all(platform: Platform, events: list[tuple[str, str, str]]) -> bool:
    """Eligibility applied every registry event and published what it decided; nothing drafted is
    left to read (payments drafts nothing while the notices run)."""
    registry_ids = {json.loads(e[2])["event_id"] for e in events}
    return (scalar(platform, "eligibility", "SELECT count(*) FROM inbox WHERE event_id = ANY($1::uuid[])",
                   sorted(registry_ids)) == len(registry_ids)
            and scalar(platform, "eligibility", "SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 0)


def counts(platform: Platform, events: list[tuple[str, str, str]]) -> tuple[int, ...] | None:
    """Each downstream consumer's inbox holds every distinct event of the topics it reads (payments
    reads the registry's too: accounts and plans), and
    nothing is waiting in their outboxes (the clean run's services or the fresh ones)."""
    registry_ids = {json.loads(e[2])["event_id"] for e in events}
    if any(scalar(platform, s, "SELECT count(*) FROM outbox WHERE sent_at IS NULL")
           for s in ("eligibility", "payments")):
        return False
    decided = scalar(platform, "eligibility", "SELECT count(*) FROM outbox")
    drafted = scalar(platform, "payments", "SELECT count(*) FROM outbox")
    inbox = {s: scalar(platform, s, "SELECT count(*) FROM inbox") for s in DOWNSTREAM}
    # eligibility reads payments' events too (the institutions' view of payment status)
    agree = inbox == {"eligibility": len(registry_ids) + drafted, "payments": len(registry_ids) + decided,
                      "reporting": len(registry_ids) + decided + drafted}
    return (decided, drafted, *inbox.values()) if agree else None


def diff(clean: list[Any], stormed: list[Any]) -> str:
    a, b = set(clean), set(stormed)
    return (f"only in the clean run ({len(a - b)}): {sorted(a - b)[:5]}\n"
            f"only after the storm ({len(b - a)}): {sorted(b - a)[:5]}")
