"""dead letters can be resolved: replayed through the inbox or discarded with a reason

Revision ID: a0003
Revises: a0002
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = "a0003"
down_revision = "a0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("dead_letter", sa.Column("claimed", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column("dead_letter", sa.Column("status", sa.Text(), server_default="open", nullable=False))
    op.add_column("dead_letter", sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("dead_letter", sa.Column("resolved_by", sa.Text(), nullable=True))
    op.add_column("dead_letter", sa.Column("resolution", sa.Text(), nullable=True))
    op.create_check_constraint("dead_letter_status", "dead_letter", "status IN ('open', 'replayed', 'discarded')")
    op.create_index("dead_letter_open", "dead_letter", ["id"], postgresql_where=sa.text("status = 'open'"))
    # Rows written before: the inbox claimed every dead letter that had an event id and was not an
    # unreadable envelope (shared/inbox.py `_dead_letters(..., claim=True)`).
    op.execute("UPDATE dead_letter SET claimed = true WHERE event_id IS NOT NULL "
               "AND error NOT LIKE 'unreadable envelope%'")


def downgrade() -> None:
    op.drop_index("dead_letter_open", table_name="dead_letter", postgresql_where=sa.text("status = 'open'"))
    op.drop_constraint("dead_letter_status", "dead_letter")
    for column in ("resolution", "resolved_by", "resolved_at", "status", "claimed"):
        op.drop_column("dead_letter", column)
