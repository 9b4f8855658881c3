"""public notice (公示): notices of approvals, objections, objection reviews

Revision ID: f15a0b1c2d3e
Revises: f3a9c1d27b64
Create Date: 2026-12-01 23:45:00.000000
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = 'f15a0b1c2d3e'
down_revision = 'f3a9c1d27b64'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'notices',
        sa.Column('decision_id', sa.UUID(), primary_key=True),
        sa.Column('person_key', sa.Text(), nullable=False),
        sa.Column('published_on', sa.Date(), nullable=False),
        sa.Column('working_days', sa.SmallInteger(), nullable=False),
        sa.Column('parameter_version', sa.Text(), nullable=False),
        sa.Column('ends_on', sa.Date(), nullable=True),
        sa.Column('status', sa.Text(), server_default='in_notice', nullable=False),
        sa.Column('shown', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column('decided', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column('payable_on', sa.Date(), nullable=True),
        sa.CheckConstraint("status IN ('in_notice','objected','ended','withdrawn','awaiting_calendar')",
                           name='notice_status'),
    )
    op.create_index('notices_by_status', 'notices', ['status', 'ends_on'])
    op.create_table(
        'notice_objections',
        sa.Column('objection_id', sa.UUID(), primary_key=True),
        sa.Column('decision_id', sa.UUID(), nullable=False),
        sa.Column('review_id', sa.UUID(), nullable=False),
        sa.Column('contact', sa.Text(), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('received_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    )
    op.create_index('ix_notice_objections_decision_id', 'notice_objections', ['decision_id'])
    op.drop_constraint('review_origin', 'reviews', type_='check')
    op.create_check_constraint('review_origin', 'reviews', "origin IN ('needs_review','requested','objection')")


def downgrade() -> None:
    op.drop_constraint('review_origin', 'reviews', type_='check')
    op.create_check_constraint('review_origin', 'reviews', "origin IN ('needs_review','requested')")
    op.drop_table('notice_objections')
    op.drop_table('notices')
