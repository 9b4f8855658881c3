"""Helpers for the payments integration tests: a running payments app, decisions, actors."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import sqlalchemy as sa

from services.payments import handlers
from services.payments.main import create_app
from shared.events import SubsidyDecidedV1, new_envelope
from shared.settings import Settings
from tests.conftest import FreshBearer, serve

HR_A = FreshBearer("hr-alice", "hr")
HR_C = FreshBearer("hr-carol", "hr")
FIN_B = FreshBearer("fin-bob", "finance")
UI = "unemployment_insurance_surplus"
DISTRICT = "320612"


@dataclass
class FakeTreasury:
    """The treasury at the HTTP boundary: records every order by its Idempotency-Key."""

    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    fail_next: int = 0

    def handler(self, request: httpx.Request) -> httpx.Response:
        if self.fail_next:
            self.fail_next -= 1
            return httpx.Response(503)
        self.calls.append((request.headers["Idempotency-Key"], json.loads(request.content)))
        return httpx.Response(201, json={"accepted": True})

    @property
    def keys(self) -> set[str]:
        return {k for k, _ in self.calls}


@contextlib.asynccontextmanager
async def payments(settings: Settings, treasury: FakeTreasury | None = None) -> AsyncIterator[Any]:
    app = create_app(settings.model_copy(update={"treasury_url": "http://treasury.test"}))
    runtime = app.state.runtime
    runtime.state["treasury_transport"] = httpx.MockTransport((treasury or FakeTreasury()).handler)
    async with serve(app) as client:
        client.runtime = runtime  # type: ignore[attr-defined]
        yield client


def decision(amount_fen: int = 100_000, clause: str = "四.4", outcome: str = "approved",
             supersedes: uuid.UUID | None = None, person: str | None = None, **over: Any) -> dict[str, Any]:
    p = SubsidyDecidedV1(
        decision_id=uuid.uuid4(), person_key=person or f"pk-{uuid.uuid4().hex[:12]}", trigger_id=uuid.uuid4(),
        trigger_kind="certificate", clause=clause, outcome=outcome, amount_fen=amount_fen, clauses_cited=[clause],
        decided_on=dt.date(2020, 6, 1), year=2020, district=DISTRICT, supersedes=supersedes, **over)
    return p.model_dump(mode="json")


async def deliver(client: Any, *payloads: dict[str, Any]) -> None:
    """What the inbox does with one consumed batch: handle in one transaction, then commit."""
    envs = [new_envelope(SubsidyDecidedV1.model_validate(p), key=p["person_key"], producer="eligibility",
                         event_id=uuid.UUID(p["decision_id"])) for p in payloads]
    async with client.runtime.maker() as session:
        await handlers.handle(session, [e.typed() for e in envs], client.runtime)
        await session.commit()


async def scalar(client: Any, sql: str, **params: Any) -> Any:
    async with client.runtime.maker() as session:
        return await session.scalar(sa.text(sql), params)


async def fund(client: Any, source: str = UI) -> dict[str, Any]:
    funds = (await client.get("/v1/funds")).json()
    return next(f for f in funds if f["source"] == source and f["district"] == DISTRICT)


async def allocate(client: Any, amount_fen: int, ref: str | None = None, source: str = UI) -> httpx.Response:
    body = {"reference": ref or f"CZ-{uuid.uuid4().hex[:8]}", "source": source, "district": DISTRICT,
            "amount_fen": amount_fen}
    return await client.post("/v1/allocations", json=body, headers=FIN_B)
