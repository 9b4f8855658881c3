"""Eligibility's own tables: projections of registry facts and the decisions it made.

Limits of 十三.1 are backed by constraints, not only by the domain: one current decision per
(trigger, clause); one holding decision per person and repeat key (occupation and level, or the
kind's own identity) for the capped clauses; at most the parameter's cap of holding capped
decisions per person and calendar year (person_year_slots: `cap` is written from the parameter in
force that year with every recount, and CHECK used <= cap). Certificates and completions get an
`arrival` number when first projected: the order the 十三.1 cap is judged in.
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
    sa.Column("published_at", sa.DateTime(timezone=True)),  # later published wins where versions overlap
    sa.UniqueConstraint("catalog_version", "occupation_code", "occupation_edition", "level", "kind",
                        name="catalog_projection_row", postgresql_nulls_not_distinct=True),
)

shortage_lists = sa.Table(
    "shortage_lists", metadata,
    sa.Column("list_version", sa.Text, nullable=False),
    sa.Column("list_kind", sa.Text, nullable=False),
    sa.Column("year", sa.SmallInteger, nullable=False),
    sa.Column("occupation_codes", JSONB, nullable=False),
    sa.Column("occupations", JSONB),  # [{code, edition}]
    sa.Column("published_at", sa.DateTime(timezone=True)),  # the latest published list of a year wins
    sa.PrimaryKeyConstraint("list_version", "list_kind", "year"),
)

# The registry's catalogue of training and evaluation institutions (九, 十七), entry per version.
institution_listings = sa.Table(
    "institution_listings", metadata,
    sa.Column("listing_version", sa.Text, nullable=False),
    sa.Column("institution_code", sa.Text, nullable=False),
    sa.Column("occupations", JSONB, nullable=False),  # [{code, edition, levels}]
    sa.Column("valid_from", sa.Date, nullable=False),
    sa.Column("valid_to", sa.Date),
    sa.Column("credit_rating", sa.Text),
    sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("listing_version", "institution_code"),
)

person_facts = sa.Table(
    "person_facts", metadata,
    sa.Column("fact_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("person_key", sa.Text, nullable=False, index=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("valid_from", sa.Date, nullable=False),
    sa.Column("valid_to", sa.Date),
    sa.Column("attributes", JSONB, nullable=False),
    # 十三.4: whose family links name this person (their decisions read this person's status).
    sa.Index("family_links_by_relative", sa.text("(attributes->>'relative_person_key')"),
             postgresql_where=sa.text("kind = 'family_link'")),
)

certificates = sa.Table(
    "certificates", metadata,
    sa.Column("certificate_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("person_key", sa.Text, nullable=False, index=True),
    sa.Column("payload", JSONB, nullable=False),  # a CertificateIssuedV3 payload (V1, V2 upcast)
    sa.Column("revoked_on", sa.Date),
    sa.Column("arrival", sa.BigInteger, sa.Identity(), nullable=False),
    # A Catalog row or shortage list arriving late re-decides the holders of that occupation; a class
    # record arriving late, the holders of certificates from that class.
    sa.Index("certificates_by_occupation", sa.text("(payload->>'occupation_code')")),
    sa.Index("certificates_by_class", sa.text("(payload->>'class_id')")),
)

# Revocations in their own table so a revocation delivered before its certificate still holds.
revocations = sa.Table(
    "revocations", metadata,
    sa.Column("certificate_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("person_key", sa.Text, nullable=False),
    sa.Column("revoked_on", sa.Date, nullable=False),
)

# Registry training classes (kind, level, dates) and the completions that trigger 四.1, 四.7,
# 五.3 and 五.2b. A class record may arrive after its completions (other partition key).
training_classes = sa.Table(
    "training_classes", metadata,
    sa.Column("class_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("payload", JSONB, nullable=False),
)

completions = sa.Table(
    "completions", metadata,
    sa.Column("completion_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("person_key", sa.Text, nullable=False, index=True),
    sa.Column("class_id", UUID(as_uuid=True), nullable=False, index=True),
    sa.Column("event_type", sa.Text, nullable=False),
    sa.Column("completed_on", sa.Date, nullable=False),
    sa.Column("payload", JSONB, nullable=False),
    sa.Column("arrival", sa.BigInteger, sa.Identity(), nullable=False),
)

# Dated parameters as the bureau uploaded them: one row per version of the whole file, never
# updated or deleted (a trigger in the migration refuses both); the newest row is in force.
parameter_versions = sa.Table(
    "parameter_versions", metadata,
    sa.Column("seq", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("set_version", sa.Text, nullable=False, unique=True),
    sa.Column("sha256", sa.Text, nullable=False),
    sa.Column("source_yaml", sa.Text, nullable=False),
    sa.Column("loaded_by", sa.Text, nullable=False),
    sa.Column("loaded_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
)

# Human review (needs_review decisions, and PIPL art. 24 requests against automated rejections).
reviews = sa.Table(
    "reviews", metadata,
    sa.Column("review_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("decision_id", UUID(as_uuid=True), nullable=False, index=True),
    sa.Column("person_key", sa.Text, nullable=False),
    sa.Column("origin", sa.Text, nullable=False),  # needs_review | requested | objection (公示)
    sa.Column("status", sa.Text, nullable=False, server_default="open"),
    sa.Column("requested_by", sa.Text),
    sa.Column("request_reason", sa.Text),
    sa.Column("opened_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.Column("resolved_by", sa.Text),
    sa.Column("resolved_role", sa.Text),
    sa.Column("resolved_at", sa.DateTime(timezone=True)),
    sa.Column("resolution_reason", sa.Text),
    sa.Column("amount_fen", sa.BigInteger),
    sa.Column("result_decision_id", UUID(as_uuid=True)),
    sa.CheckConstraint("origin IN ('needs_review','requested','objection')", name="review_origin"),
    sa.CheckConstraint("status IN ('open','approved','rejected','superseded')", name="review_status"),
    sa.CheckConstraint("amount_fen IS NULL OR amount_fen >= 0", name="review_amount_not_negative"),
    sa.Index("one_open_review_per_decision", "decision_id", unique=True,
             postgresql_where=sa.text("status = 'open'")),
    sa.Index("reviews_by_status", "status", "opened_at"),
)

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
    sa.CheckConstraint("outcome IN ('approved','rejected','needs_review','reversed','pending')",
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
    sa.Column("cap", sa.SmallInteger, nullable=False),  # 十三.1.per_year_cap in force that year
    sa.PrimaryKeyConstraint("person_key", "year"),
    sa.CheckConstraint("used >= 0 AND used <= cap", name="at_most_the_yearly_cap"),
)

# Public notice (公示) of approvals that pay: one row per decision, published the day it was
# approved, payable after `ends_on` (services/eligibility/notice.py). `shown` holds only the masked
# public fields; `decided` the decision's event payload, repeated in eligibility.notice.ended.
notices = sa.Table(
    "notices", metadata,
    sa.Column("decision_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("person_key", sa.Text, nullable=False),
    sa.Column("published_on", sa.Date, nullable=False),
    sa.Column("working_days", sa.SmallInteger, nullable=False),
    sa.Column("parameter_version", sa.Text, nullable=False),
    sa.Column("ends_on", sa.Date),  # null while the official calendar of a year it reaches is unknown
    sa.Column("status", sa.Text, nullable=False, server_default="in_notice"),
    sa.Column("shown", JSONB, nullable=False),
    sa.Column("decided", JSONB, nullable=False),
    sa.Column("payable_on", sa.Date),
    sa.CheckConstraint("status IN ('in_notice','objected','ended','withdrawn','awaiting_calendar')",
                       name="notice_status"),
    sa.Index("notices_by_status", "status", "ends_on"),
)

# Objections to a notice: anyone may file one (contact and reason, never shown publicly nor
# logged). Never changed once written (its review carries the outcome).
notice_objections = sa.Table(
    "notice_objections", metadata,
    sa.Column("objection_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("decision_id", UUID(as_uuid=True), nullable=False, index=True),
    sa.Column("review_id", UUID(as_uuid=True), nullable=False),
    sa.Column("contact", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
)

# What payments did with each decision, from payments.events: shown to the institution that pushed
# the trigger (its outcome view) without reading payments' database. One row per disbursement (a
# 十三.5 advance and settlement are two); the latest status delivered wins.
decision_payments = sa.Table(
    "decision_payments", metadata,
    sa.Column("disbursement_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("decision_id", UUID(as_uuid=True), nullable=False, index=True),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("amount_fen", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
)
