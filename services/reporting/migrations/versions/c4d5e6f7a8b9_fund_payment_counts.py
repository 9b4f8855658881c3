"""fund use: payment counts beside the sums (small cells of /v1/funds, docs/small-cells.md)

fund_counts gains paid_holders / reserved_holders, fund_month_counts holds each month's payments
with a non-zero net flow (city-wide and per source, district and clause), fund_disbursement_state keeps each payment's net per measure and month.
Rows projected before this revision start at zero: the flows kept (fund_flows) do not say which
payment each came from, so the counts cannot be rebuilt here. Zero is the safe side: a running
total then counts at most the payments really in it, and the public form treats money with no
payment counted as a small cell, so older months stay suppressed (and their complements) until
the projection is rebuilt from the bus.

Revision ID: c4d5e6f7a8b9
Revises: b3c1d2e4f5a6
Create Date: 2026-12-02 07:00:00
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = 'c4d5e6f7a8b9'
down_revision = 'b3c1d2e4f5a6'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('fund_counts', sa.Column('paid_holders', sa.BigInteger(), server_default='0', nullable=False))
    op.add_column('fund_counts', sa.Column('reserved_holders', sa.BigInteger(), server_default='0', nullable=False))
    op.add_column('fund_disbursement_state', sa.Column(
        'month_nets', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"),
        nullable=False))
    op.create_table('fund_month_counts',
                    sa.Column('month', sa.Text(), nullable=False),
                    sa.Column('dim', sa.Text(), nullable=False),
                    sa.Column('value', sa.Text(), nullable=False),
                    sa.Column('paid_payments', sa.BigInteger(), nullable=False),
                    sa.Column('reserved_payments', sa.BigInteger(), nullable=False),
                    sa.PrimaryKeyConstraint('month', 'dim', 'value'))


def downgrade() -> None:
    op.drop_table('fund_month_counts')
    op.drop_column('fund_disbursement_state', 'month_nets')
    op.drop_column('fund_counts', 'reserved_holders')
    op.drop_column('fund_counts', 'paid_holders')
