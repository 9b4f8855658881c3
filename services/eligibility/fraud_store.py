"""Eligibility's tables for fraud signals (十四): trainees' contact digests as the registry sends
them, and the signal review queue. A signal is stored once per subject (fraud.py); a reviewer's
resolution closes it, and the institution's credit rating is read from the signals (never stored,
so it cannot drift from them)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID

from services.eligibility.store import metadata

trainee_contacts = sa.Table(
    "trainee_contacts", metadata,
    sa.Column("person_key", sa.Text, nullable=False),
    sa.Column("institution_code", sa.Text, nullable=False),
    sa.Column("contact_kind", sa.Text, nullable=False),
    sa.Column("digest", sa.Text, nullable=False),  # keyed HMAC (shared.pii.contact_hash), never the value
    sa.Column("recorded_on", sa.Date, nullable=False),
    sa.PrimaryKeyConstraint("person_key", "institution_code", "contact_kind", "digest"),
    sa.Index("trainee_contacts_by_digest", "contact_kind", "digest"),
)

fraud_signals = sa.Table(
    "fraud_signals", metadata,
    sa.Column("signal_id", UUID(as_uuid=True), primary_key=True),  # uuid5 of the subject
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("subject", sa.Text, nullable=False, unique=True),
    sa.Column("institution_code", sa.Text),
    sa.Column("person_key", sa.Text),
    sa.Column("evidence", JSONB, nullable=False),
    sa.Column("status", sa.Text, nullable=False, server_default="open"),
    sa.Column("detected_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.Column("parameter_versions", JSONB, nullable=False),
    sa.Column("resolved_by", sa.Text),
    sa.Column("resolved_role", sa.Text),
    sa.Column("resolved_at", sa.DateTime(timezone=True)),
    sa.Column("resolution_reason", sa.Text),
    sa.CheckConstraint("status IN ('open','confirmed','dismissed')", name="fraud_signal_status"),
    sa.Index("fraud_signals_by_status", "status", "detected_at"),
    sa.Index("fraud_signals_by_institution", "institution_code"),
)
