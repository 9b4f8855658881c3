"""payee accounts and project-based training plans

Revision ID: c9e1a4b2d7f3
Revises: f7afc2356d7d
Create Date: 2026-11-28
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "c9e1a4b2d7f3"
down_revision = "c11a0e7b2d41"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "payee_accounts",
        sa.Column("payee_kind", sa.Text(), nullable=False),
        sa.Column("payee_ref", sa.Text(), nullable=False),
        sa.Column("account_kind", sa.Text(), nullable=False),
        sa.Column("account_cipher", sa.LargeBinary(), nullable=False),
        sa.Column("account_hash", sa.Text(), nullable=False),
        sa.Column("account_masked", sa.Text(), nullable=False),
        sa.Column("account_name", sa.Text(), nullable=True),
        sa.Column("bank_name", sa.Text(), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("recorded_by", sa.Text(), nullable=False),
        sa.Column("recorded_on", sa.Date(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("payee_kind", "payee_ref"),
        sa.CheckConstraint("payee_kind IN ('worker','enterprise','institution')", name="known_payee_kind"),
        sa.CheckConstraint("account_kind IN ('social_security_card','bank_account')", name="known_account_kind"),
    )
    op.create_table(
        "training_plans",
        sa.Column("plan_id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("plan_code", sa.Text(), nullable=False),
        sa.Column("institution_id", sa.Text(), nullable=False),
        sa.Column("payee_kind", sa.Text(), nullable=False),
        sa.Column("class_id", postgresql.UUID(as_uuid=True), sa.ForeignKey("training_classes.class_id"),
                  nullable=False, unique=True),
        sa.Column("clause", sa.Text(), nullable=False),
        sa.Column("district", sa.Text(), nullable=False),
        sa.Column("occupation_code", sa.Text(), nullable=True),
        sa.Column("occupation_edition", sa.Text(), nullable=True),
        sa.Column("level", sa.SmallInteger(), sa.CheckConstraint("level BETWEEN 1 AND 5"), nullable=True),
        sa.Column("planned_headcount", sa.Integer(), sa.CheckConstraint("planned_headcount > 0"), nullable=False),
        sa.Column("standard_per_head_fen", sa.BigInteger(), sa.CheckConstraint("standard_per_head_fen > 0"),
                  nullable=False),
        sa.Column("years", sa.SmallInteger(), sa.CheckConstraint("years BETWEEN 1 AND 5"), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.Text(), nullable=False),
        sa.Column("recorded_by", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.UniqueConstraint("institution_id", "plan_code", name="plan_code_once_per_institution"),
    )


def downgrade() -> None:
    op.drop_table("training_plans")
    op.drop_table("payee_accounts")
