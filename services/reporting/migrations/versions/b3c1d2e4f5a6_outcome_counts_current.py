"""decision outcome counts hold current decisions: recompute them, clear `current` on a decision
that arrived after the one superseding it, and index `supersedes` for that check

Revision ID: b3c1d2e4f5a6
Revises: 7e43e4e77561
Create Date: 2026-11-27 22:20:00
"""
import sqlalchemy as sa
from alembic import op

revision = 'b3c1d2e4f5a6'
down_revision = '7e43e4e77561'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('decision_facts_supersedes', 'decision_facts', ['supersedes'], unique=False,
                    postgresql_where=sa.text('supersedes IS NOT NULL'))
    op.execute("UPDATE decision_facts d SET current = false WHERE current AND EXISTS "
               "(SELECT 1 FROM decision_facts later WHERE later.supersedes = d.decision_id)")
    op.execute("DELETE FROM decision_outcome_counts")
    op.execute("INSERT INTO decision_outcome_counts (outcome, decisions) "
               "SELECT outcome, count(*) FROM decision_facts WHERE current GROUP BY outcome")


def downgrade() -> None:
    op.drop_index('decision_facts_supersedes', table_name='decision_facts',
                  postgresql_where=sa.text('supersedes IS NOT NULL'))
    op.execute("DELETE FROM decision_outcome_counts")
    op.execute("INSERT INTO decision_outcome_counts (outcome, decisions) "
               "SELECT outcome, count(*) FROM decision_facts GROUP BY outcome")
