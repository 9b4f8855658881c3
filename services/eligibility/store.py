"""Eligibility's own tables: projections of registry facts and the decisions it made.

Limits of 十三.1 are backed by constraints, not only by the domain: one current decision per
(trigger, clause); one holding decision per person, occupation and level for the capped clauses;
at most 3 holding capped decisions per person and calendar year (person_year_slots CHECK).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID

from shared.app import Plumbing

metadata = sa.MetaData()
plumbing = Plumbing.on(metadata)

catalog = sa.Table(
    "catalog_standards", metadata,
    sa.Column("catalog_version", sa.Text, nullable=False),
    sa.Column("occupation_code", sa.Text, nullable=False),
    sa.Column("occupation_edition", sa.Text, nullable=False),
    sa.Column("level", sa.SmallInteger),
    sa.Column("kind", sa.Text),
    sa.Column("training_fen", sa.BigInteger, nullable=False),
    sa.Column("appraisal_fen", sa.BigInteger, nullable=False),
    sa.Column("valid_from", sa.Date, nullable=False),
    sa.Column("valid_to", sa.Date),
    sa.UniqueConstraint("catalog_version", "occupation_code", "occupation_edition", "level", "kind",
                        name="catalog_projection_row", postgresql_nulls_not_distinct=True),
)

shortage_lists = sa.Table(
    "shortage_lists", metadata,
    sa.Column("list_version", sa.Text, nullable=False),
    sa.Column("list_kind", sa.Text, nullable=False),
    sa.Column("year", sa.SmallInteger, nullable=False),
    sa.Column("occupation_codes", JSONB, nullable=False),
    sa.PrimaryKeyConstraint("list_version", "list_kind", "year"),
)

person_facts = sa.Table(
    "person_facts", metadata,
    sa.Column("fact_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("person_key", sa.Text, nullable=False, index=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("valid_from", sa.Date, nullable=False),
    sa.Column("valid_to", sa.Date),
    sa.Column("attributes", JSONB, nullable=False),
)

certificates = sa.Table(
    "certificates", metadata,
    sa.Column("certificate_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("person_key", sa.Text, nullable=False, index=True),
    sa.Column("payload", JSONB, nullable=False),
    sa.Column("revoked_on", sa.Date),
)

CAPPED_CLAUSES = ("四.2", "四.3", "四.4", "五.2", "五.4", "六")  # RULES.md reading of 十三.1

decisions = sa.Table(
    "decisions", metadata,
    sa.Column("decision_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("person_key", sa.Text, nullable=False, index=True),
    sa.Column("trigger_id", UUID(as_uuid=True), nullable=False, index=True),
    sa.Column("trigger_kind", sa.Text, nullable=False),
    sa.Column("clause", sa.Text, nullable=False),
    sa.Column("outcome", sa.Text, nullable=False),
    sa.Column("amount_fen", sa.BigInteger, nullable=False),
    sa.Column("year", sa.SmallInteger, nullable=False),
    sa.Column("occupation_key", sa.Text),
    sa.Column("counts_toward_cap", sa.Boolean, nullable=False),
    sa.Column("current", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("supersedes", UUID(as_uuid=True)),
    sa.Column("record", JSONB, nullable=False),  # steps, reasons, facts snapshot, params, texts
    sa.Column("decided_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.CheckConstraint("outcome IN ('approved','rejected','needs_review','reversed')",
                       name="decision_outcome"),
    sa.Index("one_current_decision_per_trigger_clause", "trigger_id", "clause", unique=True,
             postgresql_where=sa.text("current")),
    sa.Index("never_twice_same_occupation_level", "person_key", "occupation_key", unique=True,
             postgresql_where=sa.text("current AND counts_toward_cap AND outcome IN ('approved','needs_review')")),
)

person_year_slots = sa.Table(
    "person_year_slots", metadata,
    sa.Column("person_key", sa.Text, nullable=False),
    sa.Column("year", sa.SmallInteger, nullable=False),
    sa.Column("used", sa.SmallInteger, nullable=False),
    sa.PrimaryKeyConstraint("person_key", "year"),
    sa.CheckConstraint("used BETWEEN 0 AND 3", name="at_most_three_subsidies_per_year"),
)
