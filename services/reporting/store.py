"""Reporting's projections, built from events only (never from other services' tables)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

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
    # "Is this decision already superseded?", asked of every decision as it arrives.
    sa.Index("decision_facts_supersedes", "supersedes", postgresql_where=sa.text("supersedes IS NOT NULL")),
)

# --- progress (T1, T4): what the tally needs to resume, and its counters ----------------------

decision_state = sa.Table(
    # One row per decision the tally has seen: its state and what a later reversal must undo.
    "progress_decision_state", metadata,
    sa.Column("decision_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("approved", sa.Boolean, nullable=False),
    sa.Column("person_key", sa.Text, nullable=False),
    sa.Column("clause", sa.Text, nullable=False),
    sa.Column("amount_fen", sa.BigInteger, nullable=False),
    sa.Column("district", sa.Text, nullable=False),
    sa.Column("department", sa.Text, nullable=False),
    sa.Column("target_groups", ARRAY(sa.Text), nullable=False),
)

person_clause_active = sa.Table(
    # Instalment clauses (四.7, 五.3) count a person once: how many of their decisions are active.
    "progress_person_clause", metadata,
    sa.Column("person_key", sa.Text, primary_key=True),
    sa.Column("clause", sa.Text, primary_key=True),
    sa.Column("active", sa.Integer, nullable=False),
)

progress_records = sa.Table(
    # The tally's input, kept so a report can be rebuilt as of a cut-off (recorded_on).
    "progress_records", metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("decision_id", UUID(as_uuid=True), nullable=False),
    sa.Column("person_key", sa.Text, nullable=False),
    sa.Column("clause", sa.Text, nullable=False),
    sa.Column("outcome", sa.Text, nullable=False),
    sa.Column("amount_fen", sa.BigInteger, nullable=False),
    sa.Column("decided_on", sa.Date, nullable=False),
    sa.Column("district", sa.Text, nullable=False),
    sa.Column("department", sa.Text, nullable=False),
    sa.Column("target_groups", ARRAY(sa.Text), nullable=False),
    sa.Column("recorded_on", sa.Date, nullable=False),
    sa.CheckConstraint("outcome IN ('approved','reversed')", name="progress_records_outcome"),
)

progress_counts = sa.Table(
    "progress_counts", metadata,
    sa.Column("quarter", sa.Text, primary_key=True),
    sa.Column("district", sa.Text, primary_key=True),
    sa.Column("department", sa.Text, primary_key=True),
    sa.Column("clause", sa.Text, primary_key=True),
    sa.Column("person_times", sa.BigInteger, nullable=False),
    sa.Column("amount_fen", sa.BigInteger, nullable=False),
)

group_counts = sa.Table(
    "progress_group_counts", metadata,
    sa.Column("quarter", sa.Text, primary_key=True),
    sa.Column("grp", sa.Text, primary_key=True),
    sa.Column("person_times", sa.BigInteger, nullable=False),
)

apprentice_counts = sa.Table(
    "progress_apprentice_counts", metadata,
    sa.Column("quarter", sa.Text, primary_key=True),
    sa.Column("persons", sa.BigInteger, nullable=False),
)

outcome_counts = sa.Table(
    # Current decisions by outcome (a business gauge), one row per outcome: a superseded decision
    # leaves its outcome's count when the decision that replaces it arrives.
    "decision_outcome_counts", metadata,
    sa.Column("outcome", sa.Text, primary_key=True),
    sa.Column("decisions", sa.BigInteger, nullable=False),
)

# --- funds (十二) ------------------------------------------------------------------------------

disbursement_state = sa.Table(
    "fund_disbursement_state", metadata,
    sa.Column("disbursement_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("measure", sa.Text),  # reserved | paid | NULL (holds nothing)
    sa.Column("amount_fen", sa.BigInteger, nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("district", sa.Text, nullable=False),
    sa.Column("clause", sa.Text, nullable=False),
    # The payment's net flow per "measure|month" (non-zero ones only), for fund_month_counts.
    sa.Column("month_nets", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
)

fund_flows = sa.Table(
    "fund_flows", metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("district", sa.Text, nullable=False),
    sa.Column("clause", sa.Text, nullable=False),
    sa.Column("on", sa.Date, nullable=False),
    sa.Column("measure", sa.Text, nullable=False),
    sa.Column("amount_fen", sa.BigInteger, nullable=False),
    sa.Column("recorded_on", sa.Date, nullable=False),
    # Which payment the flow moves, so an issued report can count the payments in each figure
    # (small cells); NULL in rows kept before it was.
    sa.Column("disbursement_id", UUID(as_uuid=True)),
    sa.CheckConstraint("measure IN ('paid','reserved')", name="fund_flows_measure"),
)

fund_counts = sa.Table(
    "fund_counts", metadata,
    sa.Column("month", sa.Text, primary_key=True),
    sa.Column("source", sa.Text, primary_key=True),
    sa.Column("district", sa.Text, primary_key=True),
    sa.Column("clause", sa.Text, primary_key=True),
    sa.Column("paid_fen", sa.BigInteger, nullable=False),
    sa.Column("reserved_fen", sa.BigInteger, nullable=False),
    # The change, over the month, in how many payments hold the measure in this cell: summed over
    # the months up to a cut, the payments whose money is in a running total (funds.py).
    sa.Column("paid_holders", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("reserved_holders", sa.BigInteger, nullable=False, server_default="0"),
)

fund_month_counts = sa.Table(
    # Per month and slice (dim "*" the city, or "source" and its value; rows of "district" and
    # "clause" projected before the public form dropped those breakdowns are not read), the
    # payments whose held amount of the measure changed there over the month (a non-zero net flow):
    # those whose money is in the month's figure of the slice (funds.py). Small cells of /v1/funds.
    "fund_month_counts", metadata,
    sa.Column("month", sa.Text, primary_key=True),
    sa.Column("dim", sa.Text, primary_key=True),
    sa.Column("value", sa.Text, primary_key=True),
    sa.Column("paid_payments", sa.BigInteger, nullable=False),
    sa.Column("reserved_payments", sa.BigInteger, nullable=False),
)

# --- skilled-worker ratios (T2, T3) -----------------------------------------------------------

ratio_holders = sa.Table(
    # One row per person with a certificate or an employment fact (ratios.HolderState).
    "ratio_holders", metadata,
    sa.Column("person_key", sa.Text, primary_key=True),
    sa.Column("employed", sa.Boolean, nullable=False),
    sa.Column("district", sa.Text),
    sa.Column("home_district", sa.Text),
    sa.Column("certificates", JSONB, nullable=False),  # [[certificate_id, level], ...]
)

ratio_buckets = sa.Table(
    "ratio_buckets", metadata,
    sa.Column("district", sa.Text, primary_key=True),
    sa.Column("year", sa.SmallInteger, primary_key=True),
    sa.Column("level", sa.SmallInteger, primary_key=True),
    sa.Column("persons", sa.BigInteger, nullable=False),
)

employed_stats = sa.Table(
    # Denominators from the statistics bureau, dated: every load is kept, the latest wins.
    "employed_stats", metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("year", sa.SmallInteger, nullable=False),
    sa.Column("district", sa.Text, nullable=False),
    sa.Column("employed", sa.BigInteger, nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("loaded_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.CheckConstraint("employed > 0", name="employed_stats_positive"),
    sa.Index("employed_stats_latest", "year", "district", "id"),
)

staff_education_stats = sa.Table(
    # T6 (十二.3): enterprise staff-education funds and the part spent on front-line workers, per
    # district and year, loaded over REST by bureau staff. Every load is kept; the latest wins.
    "staff_education_stats", metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("year", sa.SmallInteger, nullable=False),
    sa.Column("district", sa.Text, nullable=False),
    sa.Column("total_fen", sa.BigInteger, nullable=False),
    sa.Column("frontline_fen", sa.BigInteger, nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("loaded_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.CheckConstraint("total_fen > 0 AND frontline_fen >= 0 AND frontline_fen <= total_fen",
                       name="staff_education_frontline_within_total"),
    sa.Index("staff_education_latest", "year", "district", "id"),
)

# --- institutions -> technical schools per district (T5) --------------------------------------

institutions = sa.Table(
    # The registry's institutions as last recorded (registry.institution.recorded, keyed by credit
    # code); `recorded_at` is the event's time, so an older event delivered late changes nothing.
    "institutions", metadata,
    sa.Column("credit_code", sa.Text, primary_key=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("district", sa.Text, nullable=False),
    sa.Column("listed_from", sa.Date, nullable=False),
    sa.Column("listed_to", sa.Date),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("institutions_by_kind", "kind"),
)

# --- reports (十六) ----------------------------------------------------------------------------

reports = sa.Table(
    "reports", metadata,
    sa.Column("report_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("period", sa.Text, nullable=False),
    sa.Column("cut_off", sa.Date, nullable=False),
    sa.Column("figures", JSONB, nullable=False),  # frozen: never updated after insert
    sa.Column("issued_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.UniqueConstraint("kind", "period", "cut_off", name="reports_once_per_cut_off"),
)

special_reports = sa.Table(
    "special_reports", metadata,
    sa.Column("key", sa.Text, primary_key=True),  # "T1:2020Q3": raised once per target and quarter
    sa.Column("payload", JSONB, nullable=False),
    sa.Column("raised_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
)
