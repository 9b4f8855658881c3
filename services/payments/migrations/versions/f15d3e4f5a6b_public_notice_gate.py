"""Public notice (公示) gate: V3 approvals wait for eligibility.notice.ended

Revision ID: f15d3e4f5a6b
Revises: e7a1c3d5f902
Create Date: 2026-12-02

received_decisions.notice_required marks an approval that stands its notice first; notices_ended
records each notice's end as received. A decision recorded before (V1 / V2) was payable as decided.
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = 'f15d3e4f5a6b'
down_revision = 'e7a1c3d5f902'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('received_decisions', sa.Column('notice_required', sa.Boolean(), nullable=False,
                                                  server_default=sa.false()))
    op.create_table(
        'notices_ended',
        sa.Column('decision_id', UUID(as_uuid=True), primary_key=True),
        sa.Column('published_on', sa.Date(), nullable=False),
        sa.Column('ended_on', sa.Date(), nullable=False),
        sa.Column('received_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table('notices_ended')
    op.drop_column('received_decisions', 'notice_required')
