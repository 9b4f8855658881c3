"""Four eyes (等保2.0 level 3; 十四): an upload that changes policy data takes effect only when a
second officer of the same role, not the one who submitted it, approves it.

The submission is checked in full at once (the caller runs its publish step inside a savepoint and
rolls it back), so a bad file is refused at submission with the usual 4xx; the accepted body is
kept byte for byte in `pending_approvals` and published, unchanged, by the approval. One table per
service database (shared migration a0005); `kind` names what the body is.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from shared.audit import metadata

pending_approvals = sa.Table(
    "pending_approvals", metadata,
    sa.Column("approval_id", sa.Uuid, primary_key=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("content_type", sa.Text, nullable=False),
    sa.Column("body", sa.LargeBinary, nullable=False),
    sa.Column("digest", sa.Text, nullable=False),
    sa.Column("summary", JSONB, nullable=False),
    sa.Column("submitted_by", sa.Text, nullable=False),
    sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("status", sa.Text, nullable=False, server_default="pending"),
    sa.Column("decided_by", sa.Text),
    sa.Column("decided_at", sa.DateTime(timezone=True)),
)
T = TypeVar("T")


class ApprovalError(Exception):
    """Why an approval cannot be given; `status` is the HTTP answer the edge gives."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


@dataclass(frozen=True)
class Pending:
    approval_id: uuid.UUID
    kind: str
    content_type: str
    body: bytes
    submitted_by: str
    summary: dict[str, Any]


async def dry_run(session: AsyncSession, publish: Callable[[], Awaitable[T]]) -> T:
    """Run the publish step and undo it: the submission gets the checks (and 4xx) of a publication."""
    savepoint = await session.begin_nested()
    try:
        return await publish()
    finally:
        await savepoint.rollback()


async def submit(session: AsyncSession, *, kind: str, content_type: str, body: bytes, by: str,
                 summary: dict[str, Any]) -> dict[str, Any]:
    approval_id = uuid.uuid4()
    await session.execute(sa.insert(pending_approvals).values(
        approval_id=approval_id, kind=kind, content_type=content_type, body=body,
        digest=hashlib.sha256(body).hexdigest(), summary=summary, submitted_by=by))
    return {"approval_id": str(approval_id), "status": "pending", "kind": kind, "submitted_by": by,
            "summary": summary}


async def claim(session: AsyncSession, approval_id: uuid.UUID, *, kinds: tuple[str, ...], by: str) -> Pending:
    """Lock a pending upload for its approval by `by`, who must not be its submitter."""
    row = (await session.execute(sa.select(pending_approvals).where(
        pending_approvals.c.approval_id == approval_id, pending_approvals.c.kind.in_(kinds))
        .with_for_update())).mappings().first()
    if row is None:
        raise ApprovalError(404, f"no upload {approval_id} awaiting approval")
    if row["status"] != "pending":
        raise ApprovalError(409, f"upload {approval_id} is already {row['status']}")
    if row["submitted_by"] == by:
        raise ApprovalError(409, "a second officer approves: the submitter may not approve their own upload")
    return Pending(row["approval_id"], row["kind"], row["content_type"], bytes(row["body"]), row["submitted_by"],
                   dict(row["summary"]))


async def decide(session: AsyncSession, approval_id: uuid.UUID, *, by: str, status: str, at: datetime) -> None:
    await session.execute(sa.update(pending_approvals).where(pending_approvals.c.approval_id == approval_id)
                          .values(status=status, decided_by=by, decided_at=at))


async def listing(session: AsyncSession, kinds: tuple[str, ...], status: str = "pending",
                  limit: int = 100) -> list[dict[str, Any]]:
    rows = await session.execute(
        sa.select(*(c for c in pending_approvals.c if c.name != "body")).where(
            pending_approvals.c.kind.in_(kinds), pending_approvals.c.status == status)
        .order_by(pending_approvals.c.submitted_at).limit(limit))
    return [dict(r) for r in rows.mappings()]
