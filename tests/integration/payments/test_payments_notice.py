"""Payments drafts an approval only once its public notice (公示) ended: eligibility.subsidy.decided
V3 opens the notice, eligibility.notice.ended makes it payable; a decision superseded in the same
batch as its notice's end is not left drafted."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest

from services.payments import handlers
from shared.events import NoticeEndedV1, Payload, SubsidyDecidedV3, new_envelope
from tests.integration.payments.payments_fixtures import (
    FIN_B,
    account,
    allocate,
    decision,
    deliver_events,
    held,
    payments,
)

pytestmark = pytest.mark.usefixtures("drop_test_databases")


def v3(**over: Any) -> SubsidyDecidedV3:
    fields = decision(**over) | {"payee_kind": "worker", "notice_ends_on": "2020-10-14"}
    fields["payee_ref"] = fields["person_key"]
    return SubsidyDecidedV3.model_validate(fields)


def ended(p: SubsidyDecidedV3) -> NoticeEndedV1:
    fields = p.model_dump(exclude={"notice_ends_on"})
    return NoticeEndedV1.model_validate(fields | {"notice_published_on": dt.date(2020, 9, 30),
                                                  "notice_ended_on": dt.date(2020, 10, 14)})


async def deliver(client: Any, *payloads: Payload) -> None:
    """As the consumer hands a batch over; the worker's card account is on record first."""
    await deliver_events(client, *(account(client, p.person_key) for p in payloads  # type: ignore[attr-defined]
                                   if isinstance(p, SubsidyDecidedV3)))
    envs = [new_envelope(p, key=p.person_key, producer="eligibility",  # type: ignore[attr-defined]
                         event_id=uuid.uuid5(p.decision_id, p.TYPE)) for p in payloads]  # type: ignore[attr-defined]
    async with client.runtime.maker() as session:
        await handlers.handle(session, [e.typed() for e in envs], client.runtime)
        await session.commit()


async def drafted(client: Any) -> dict[str, str]:
    return {r["decision_id"]: r["status"] for r in (await client.get("/v1/disbursements", headers=FIN_B)).json()}


async def test_an_approval_in_notice_is_not_drafted_until_its_notice_ends(settings) -> None:
    async with payments(settings) as pay:
        assert (await allocate(pay, 500_000)).status_code == 200
        d = v3(amount_fen=70_000)
        await deliver(pay, d)
        assert str(d.decision_id) not in await drafted(pay)
        assert (await held(pay))[str(d.decision_id)] == "in_notice"  # held, named, counted
        await deliver(pay, ended(d))
        await deliver(pay, ended(d))  # redelivery: one draft
        assert (await drafted(pay))[str(d.decision_id)] == "reserved"
        assert str(d.decision_id) not in await held(pay)  # the hold is resolved once drafted
        rows = (await pay.get("/v1/disbursements", headers=FIN_B)).json()
        assert [r["decision_id"] for r in rows].count(str(d.decision_id)) == 1


async def test_a_decision_superseded_in_the_batch_that_ends_its_notice_is_cancelled(settings) -> None:
    async with payments(settings) as pay:
        assert (await allocate(pay, 500_000)).status_code == 200
        old = v3(amount_fen=70_000)
        await deliver(pay, old)
        newer = v3(amount_fen=0, outcome="rejected", supersedes=old.decision_id, person=old.person_key)
        await deliver(pay, ended(old), newer)
        assert (await drafted(pay)).get(str(old.decision_id)) in (None, "cancelled")
