"""The platform as `skillsub up` runs it: each service its own process, a real embedded PostgreSQL
and a real broker: the embedded (memory-only) Tansu, or Apache Kafka with TEST_BROKER=apache. REST
in, progress and metrics out, and the faults the backbone must survive: a consumer killed between
its DB commit and its offset commit, every process (broker included) killed with events in flight
and PostgreSQL crashed, the broker alone restarted, and the embedded broker restarted by the
supervisor's memory cap. Afterwards every certificate is counted exactly once, decided once and
drafted once; no dead letters.

Timings are printed (run with -s to see them); each test stays well under a minute.
"""

from __future__ import annotations

import asyncio

import pytest

from shared.platform import Platform
from tests.conftest import TEST_BROKER
from tests.e2e.platform_harness import (  # noqa: F401 - platform_fixture is `platform`
    Api,
    N,
    Pusher,
    Timer,
    assert_each_certificate_decided_drafted_and_counted_once,
    count_rows,
    metric,
    platform_fixture,
    push_certificates,
    seed,
    start_stream,
    wait_all_counted,
    wait_outbox_drained,
)

# --- the tests ---------------------------------------------------------------------------------

def test_platform_end_to_end_certificates_pushed_over_rest_are_decided_drafted_and_counted(platform: Platform) -> None:
    t = Timer()
    platform.start_services()
    t.mark("servers+services up")
    api = Api(platform)
    seed(api)
    ids = push_certificates(api, range(N))
    t.mark(f"{N} certificates pushed")
    wait_all_counted(api)
    t.mark("all counted")
    assert_each_certificate_decided_drafted_and_counted_once(api, ids)
    assert push_certificates(api, range(3)) == {s: ids[s] for s in range(3)}  # pushing again: same answer
    t.report("end_to_end")


def test_platform_consumer_killed_between_db_commit_and_offset_commit_applies_each_event_once(
        platform: Platform) -> None:
    t = Timer()
    platform.start_services(("registry", "payments", "reporting"))
    api = Api(platform)
    seed(api)
    ids = push_certificates(api, range(N))
    t.mark("pushed before eligibility runs")
    platform.start_service("eligibility", {"SKILLSUB_FAULT_POINT": "consumer.after_db_commit"})
    proc = platform.procs["eligibility"]
    assert proc.wait(60) == 137  # died after committing its first batch, before committing offsets
    t.mark("eligibility killed at consumer.after_db_commit")
    decided_before_restart = asyncio.run(count_rows(platform, "eligibility", "decisions"))
    assert decided_before_restart > 0  # the batch's effects were committed before the crash
    del platform.procs["eligibility"]
    platform.start_services(("eligibility",))
    wait_all_counted(api)
    t.mark("restarted and all counted")
    assert_each_certificate_decided_drafted_and_counted_once(api, ids)
    duplicates = metric(api.get("eligibility", "/metrics").text, "skillsub_events_duplicate_total")
    assert duplicates > 0  # the uncommitted batch came again and the inbox absorbed it
    t.report(f"consumer_killed (decided before crash {decided_before_restart}, redeliveries absorbed {duplicates:.0f})")


def test_platform_restart_with_events_in_flight_loses_nothing_and_doubles_nothing(platform: Platform) -> None:
    t = Timer()
    platform.start_services()
    api = Api(platform)
    seed(api)
    pusher, counted = start_stream(platform, api, t)
    platform.kill_services()
    platform.restart_broker(kill=True)  # memory-only: every message and committed offset is gone
    platform.restart_postgres(crash=True)  # immediate shutdown, WAL recovery on start
    pusher.join(30)
    t.mark(f"killed everything ({len(pusher.acked)} acknowledged)")
    assert counted < N, "the stream had finished before the kill; nothing was in flight"
    platform.start_services()
    t.mark("restarted")
    retried = pusher.retry_unacked(api)
    wait_all_counted(api)
    t.mark(f"all counted ({retried} retried by the institution)")
    assert_each_certificate_decided_drafted_and_counted_once(api, pusher.acked)
    t.report("restart_in_flight")


def test_platform_broker_restart_mid_stream_relays_republish_and_nothing_is_lost(platform: Platform) -> None:
    t = Timer()
    platform.start_services()
    api = Api(platform)
    seed(api)
    pusher, counted = start_stream(platform, api, t)
    assert counted < N
    platform.restart_broker(kill=True)
    t.mark("broker restarted")
    pusher.join(60)
    assert pusher.failed_at is None  # the registry keeps taking certificates without a broker
    wait_all_counted(api)
    t.mark("all counted")
    assert_each_certificate_decided_drafted_and_counted_once(api, pusher.acked)
    republished = "republishing" in (platform.data_dir / "registry.log").read_text()
    # Tansu restarts empty and the relays must republish; Apache Kafka keeps its log, so they must not.
    assert republished == (TEST_BROKER == "tansu"), f"republished={republished} on {TEST_BROKER}"
    t.report("broker_restart")


@pytest.mark.skipif(TEST_BROKER != "tansu", reason="only the embedded broker needs a memory cap (no retention)")
def test_platform_supervisor_restarts_a_broker_over_its_memory_cap_and_nothing_is_lost(platform: Platform) -> None:
    t = Timer()
    platform.start_services()
    api = Api(platform)
    seed(api)
    pusher, counted = start_stream(platform, api, t)
    assert platform.broker is not None and counted < N
    rss_before = platform.broker.rss_mb()
    platform.broker_max_mb = 1.0  # far below any real broker: the supervisor must act
    actions = platform.supervise_once()
    assert any("broker" in a for a in actions), actions
    rss_after = platform.broker.rss_mb()
    platform.broker_max_mb = 1024.0
    assert platform.supervise_once() == []  # under the cap: nothing more to do
    t.mark(f"broker restarted by the supervisor (RSS {rss_before:.0f} MB -> {rss_after:.0f} MB)")
    pusher.join(60)
    wait_all_counted(api)
    t.mark("all counted")
    assert_each_certificate_decided_drafted_and_counted_once(api, pusher.acked)
    t.report("memory_cap")


def test_platform_relay_killed_after_publishing_before_marking_sent_publishes_again_and_the_inbox_absorbs(
        platform: Platform) -> None:
    """The registry's relay dies between publishing a batch and marking it sent; on restart it
    publishes the batch again and eligibility's inbox takes each event once."""
    t = Timer()
    platform.start_services()
    api = Api(platform)
    seed(api)
    wait_outbox_drained(platform, "registry")
    # Restart the registry armed: the first batch it publishes now is certificates, and it dies
    # right after publishing it, before marking it sent.
    platform.stop_service("registry")
    platform.start_service("registry", {"SKILLSUB_FAULT_POINT": "relay.after_publish", "SKILLSUB_FAULT_AFTER": "1"})
    platform.wait_ready(("registry",))
    pusher = Pusher(platform)
    pusher.start()
    assert platform.procs["registry"].wait(60) == 137
    pusher.join(30)
    t.mark(f"registry relay killed after publishing ({len(pusher.acked)} acknowledged)")
    del platform.procs["registry"]
    platform.start_services(("registry",))
    retried = pusher.retry_unacked(api)
    wait_all_counted(api)
    t.mark(f"restarted and all counted ({retried} retried)")
    assert_each_certificate_decided_drafted_and_counted_once(api, pusher.acked)
    duplicates = metric(api.get("eligibility", "/metrics").text, "skillsub_events_duplicate_total")
    assert duplicates > 0  # the batch published twice reached eligibility twice
    t.report(f"relay_killed (duplicates absorbed {duplicates:.0f})")
