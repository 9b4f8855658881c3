"""Registry tables for who is paid: payees' payment accounts and project-based training plans.

Kept beside store.py (same metadata) so the payment-side records stay in their own module.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import UUID

from services.registry.store import metadata

# One account in force per payee; a change is a new revision (the audit log keeps who set it).
payee_accounts = sa.Table(
    "payee_accounts", metadata,
    sa.Column("payee_kind", sa.Text, nullable=False),  # worker | enterprise | institution
    sa.Column("payee_ref", sa.Text, nullable=False),  # person_key or unified social credit code
    sa.Column("account_kind", sa.Text, nullable=False),  # social_security_card | bank_account
    sa.Column("account_cipher", sa.LargeBinary, nullable=False),  # AES-GCM (shared/pii.py), never logged
    sa.Column("account_hash", sa.Text, nullable=False),  # keyed HMAC of the number: "same account?"
    sa.Column("account_masked", sa.Text, nullable=False),
    sa.Column("account_name", sa.Text),
    sa.Column("bank_name", sa.Text),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("recorded_by", sa.Text, nullable=False),
    sa.Column("recorded_on", sa.Date, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.PrimaryKeyConstraint("payee_kind", "payee_ref"),
    sa.CheckConstraint("payee_kind IN ('worker','enterprise','institution')", name="known_payee_kind"),
    sa.CheckConstraint("account_kind IN ('social_security_card','bank_account')", name="known_account_kind"),
)

# 项目制培训 plans (十三.5): the bureau approves one per class; the advance is drafted from it.
training_plans = sa.Table(
    "training_plans", metadata,
    sa.Column("plan_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("plan_code", sa.Text, nullable=False),
    sa.Column("institution_id", sa.Text, nullable=False),
    sa.Column("payee_kind", sa.Text, nullable=False),
    sa.Column("class_id", UUID(as_uuid=True), sa.ForeignKey("training_classes.class_id"), nullable=False,
              unique=True),
    sa.Column("clause", sa.Text, nullable=False),
    sa.Column("district", sa.Text, nullable=False),
    sa.Column("occupation_code", sa.Text),
    sa.Column("occupation_edition", sa.Text),
    sa.Column("level", sa.SmallInteger, sa.CheckConstraint("level BETWEEN 1 AND 5")),
    sa.Column("planned_headcount", sa.Integer, sa.CheckConstraint("planned_headcount > 0"), nullable=False),
    sa.Column("standard_per_head_fen", sa.BigInteger, sa.CheckConstraint("standard_per_head_fen > 0"),
              nullable=False),
    sa.Column("years", sa.SmallInteger, sa.CheckConstraint("years BETWEEN 1 AND 5"), nullable=False),
    sa.Column("start_date", sa.Date, nullable=False),
    sa.Column("end_date", sa.Date, nullable=False),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("content_hash", sa.Text, nullable=False),
    sa.Column("recorded_by", sa.Text, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.UniqueConstraint("institution_id", "plan_code", name="plan_code_once_per_institution"),
)
