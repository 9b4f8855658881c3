"""audit log: keyed entries, recorded purges only, no TRUNCATE, checkpoints from other services

Revision ID: a0004
Revises: a0003
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = "a0004"
down_revision = "a0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Entries before this revision were hashed without a key: they stay verifiable as a prefix.
    op.add_column("audit_log", sa.Column("alg", sa.Text(), nullable=False, server_default="sha256"))
    op.create_table(
        "audit_purges",
        sa.Column("through_seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("last_hash", sa.Text(), nullable=False),
        sa.Column("entries", sa.BigInteger(), nullable=False),
        sa.Column("purged_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("purged_by", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("through_seq"),
    )
    op.create_table(
        "audit_checkpoints",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("service", sa.Text(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id"),
    )
    op.create_index("audit_checkpoints_service_seq", "audit_checkpoints", ["service", "seq"])
    # No session flag lets a DELETE through any more: only entries at least 180 days old that a
    # purge record covers (the runtime role may neither write purge records nor delete at all).
    op.execute("""CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' AND OLD.at < now() - interval '180 days'
     AND OLD.seq <= (SELECT coalesce(max(through_seq), 0) FROM audit_purges) THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION 'the audit log is append-only';
END $$""")
    op.execute("""CREATE FUNCTION audit_log_no_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the audit log is append-only: TRUNCATE refused';
END $$""")
    op.execute("""CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_no_truncate()""")
    op.execute("""CREATE FUNCTION audit_purges_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'purge records are append-only';
END $$""")
    op.execute("""CREATE TRIGGER audit_purges_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_purges
  FOR EACH STATEMENT EXECUTE FUNCTION audit_purges_append_only()""")


def downgrade() -> None:
    op.execute("DROP TRIGGER audit_purges_append_only ON audit_purges")
    op.execute("DROP FUNCTION audit_purges_append_only()")
    op.execute("DROP TRIGGER audit_log_no_truncate ON audit_log")
    op.execute("DROP FUNCTION audit_log_no_truncate()")
    op.drop_index("audit_checkpoints_service_seq", table_name="audit_checkpoints")
    op.drop_table("audit_checkpoints")
    op.drop_table("audit_purges")
    op.drop_column("audit_log", "alg")
