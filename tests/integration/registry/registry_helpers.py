"""Shared bits of the registry integration tests: demo tokens, sample bodies, outbox counts."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import text

from shared.ids import resident_id_check_char

INSTITUTION = "52320613MJ0000003P"  # the demo institution (services/registry/clients.py)
LATHE = "6-18-01-01"


def resident_id(seq: int, birth: str = "19900101", area: str = "320612") -> str:
    first17 = f"{area}{birth}{seq % 1000:03d}"
    return first17 + resident_id_check_char(first17)


async def token(client: httpx.AsyncClient, client_id: str, secret: str | None = None) -> str:
    r = await client.post("/v1/oauth/token", data={"grant_type": "client_credentials", "client_id": client_id,
                                                   "client_secret": secret or f"{client_id}-secret"})
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


async def auth(client: httpx.AsyncClient, client_id: str, secret: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {await token(client, client_id, secret)}"}


def skill_number(level: int, seq: int) -> str:
    return f"Y{seq:014d}{level}{seq:06d}"


def certificate(seq: int = 1, **over: Any) -> dict[str, Any]:
    body = {"number": skill_number(4, seq), "kind": "skill_level", "resident_id": resident_id(seq),
            "occupation_code": LATHE, "level": 4, "issue_date": "2020-05-20", "issuer_code": INSTITUTION,
            "district": "320612"}
    return body | over


async def outbox_types(client: httpx.AsyncClient) -> list[tuple[str, str]]:
    runtime = client._transport.app.state.runtime  # type: ignore[attr-defined]
    async with runtime.maker() as s:
        rows = await s.execute(text("SELECT envelope->>'type', key FROM outbox ORDER BY id"))
        return [(r[0], r[1]) for r in rows]


async def scalar(client: httpx.AsyncClient, sql: str) -> Any:
    runtime = client._transport.app.state.runtime  # type: ignore[attr-defined]
    async with runtime.maker() as s:
        return await s.scalar(text(sql))


async def publish(client: httpx.AsyncClient, path: str, **body: Any) -> httpx.Response:
    """A Catalog upload as the bureau makes it: demo-bureau submits, demo-bureau-2 approves (four
    eyes). A refused submission (4xx) comes back as it is."""
    headers = body.pop("headers", {})
    submitted = await client.post(path, headers=await auth(client, "demo-bureau") | headers, **body)
    if submitted.status_code != 202:
        return submitted
    approval = f"/v1/catalog/approvals/{submitted.json()['approval_id']}"
    return await client.post(approval, headers=await auth(client, "demo-bureau-2"))
