"""Reporting's projections, built from events only (never from other services' tables)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import UUID

from shared.app import Plumbing

metadata = sa.MetaData()
plumbing = Plumbing.on(metadata)

decisions = sa.Table(
    "decision_facts", metadata,
    sa.Column("decision_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("person_key", sa.Text, nullable=False),
    sa.Column("trigger_id", UUID(as_uuid=True), nullable=False, index=True),
    sa.Column("clause", sa.Text, nullable=False),
    sa.Column("outcome", sa.Text, nullable=False),
    sa.Column("amount_fen", sa.BigInteger, nullable=False),
    sa.Column("year", sa.SmallInteger, nullable=False),
    sa.Column("decided_on", sa.Date, nullable=False),
    sa.Column("district", sa.Text),
    sa.Column("supersedes", UUID(as_uuid=True)),
    sa.Column("current", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Index("decision_facts_current_approved", "trigger_id",
             postgresql_where=sa.text("current AND outcome = 'approved'")),
)
