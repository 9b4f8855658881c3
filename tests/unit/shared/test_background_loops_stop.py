"""A service's background loops end when it stops, whatever moment the stop arrives at.

CI once hung for 90 minutes: on Python 3.11 `asyncio.wait_for` swallows a cancellation that lands
in the same loop tick as the event it waits for, so the outbox relay kept polling after its service
had stopped and the test awaiting it never returned."""

from __future__ import annotations

import asyncio
import logging

import pytest
import sqlalchemy as sa

from shared.app import cancel_and_wait
from shared.outbox import OutboxRelay


def _relay() -> OutboxRelay:
    table = sa.Table("t", sa.MetaData(), sa.Column("id", sa.Integer))
    return OutboxRelay(producer_name="unit", maker=None, outbox=table, marker=table,  # type: ignore[arg-type]
                       bootstrap="unused:9092", partitions=1, replication=1, poll_seconds=0.0005,
                       retention_hours=1)


async def test_the_relay_wait_honours_a_cancellation_that_arrives_with_a_wake() -> None:
    relay = _relay()

    async def idle_loop() -> None:
        while True:
            await relay._wait()

    survivors = 0
    for _ in range(500):  # wait_for lost such a cancellation nearly every time
        task = asyncio.create_task(idle_loop())
        await asyncio.sleep(0)
        relay.wake()
        task.cancel()
        done, _ = await asyncio.wait([task], timeout=1.0)
        if not done:
            survivors += 1
            task.cancel()
            await asyncio.wait([task], timeout=1.0)
            break
    assert survivors == 0


async def test_stopping_cancels_again_a_loop_that_swallowed_its_first_cancellation() -> None:
    swallowed = 0

    async def stubborn() -> None:
        nonlocal swallowed
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                swallowed += 1
                if swallowed > 1:
                    raise

    task = asyncio.create_task(stubborn(), name="stubborn")
    await asyncio.sleep(0)
    await cancel_and_wait([task], grace=0.2)
    assert task.cancelled() and swallowed == 2


async def test_stopping_gives_up_on_a_loop_that_never_ends_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    release = asyncio.Event()

    async def deaf() -> None:
        while not release.is_set():
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                continue

    task = asyncio.create_task(deaf(), name="deaf-loop")
    await asyncio.sleep(0)
    with caplog.at_level(logging.ERROR, logger="skillsub.app"):
        await asyncio.wait_for(cancel_and_wait([task], grace=0.05, attempts=2), timeout=5)
    assert not task.done() and "deaf-loop ignored cancellation" in caplog.text
    release.set()
    task.cancel()
    await asyncio.wait([task], timeout=1.0)
    assert task.done()
