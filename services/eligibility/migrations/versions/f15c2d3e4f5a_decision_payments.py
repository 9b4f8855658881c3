"""payment status of each decision's disbursements, from payments.events (institutions' view);
the pending outcome (waiting for the holder's facts)

Revision ID: f15c2d3e4f5a
Revises: f15b1c2d3e4f
Create Date: 2026-12-02 00:00:00.000000
"""
import sqlalchemy as sa
from alembic import op

revision = 'f15c2d3e4f5a'
down_revision = 'f15b1c2d3e4f'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'decision_payments',
        sa.Column('disbursement_id', sa.UUID(), primary_key=True),
        sa.Column('decision_id', sa.UUID(), nullable=False),
        sa.Column('status', sa.Text(), nullable=False),
        sa.Column('amount_fen', sa.BigInteger(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    )
    op.create_index('ix_decision_payments_decision_id', 'decision_payments', ['decision_id'])
    op.drop_constraint('decision_outcome', 'decisions', type_='check')
    op.create_check_constraint('decision_outcome', 'decisions',
                               "outcome IN ('approved','rejected','needs_review','reversed','pending')")
    op.create_index('decisions_pending', 'decisions', [sa.text("((record->>'pending_until'))")],
                    postgresql_where=sa.text("current AND outcome = 'pending'"))


def downgrade() -> None:
    op.drop_index('decisions_pending', table_name='decisions')
    op.drop_constraint('decision_outcome', 'decisions', type_='check')
    op.create_check_constraint('decision_outcome', 'decisions', "outcome IN ('approved','rejected','needs_review','reversed')")
    op.drop_table('decision_payments')
