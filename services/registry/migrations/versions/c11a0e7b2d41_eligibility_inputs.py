"""eligibility inputs: certificate identity and receipt day, class enterprise and required hours,
list editions

Revision ID: c11a0e7b2d41
Revises: c4d5e6f7a8b9
Create Date: 2026-12-01 20:00:00.000000
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = 'c11a0e7b2d41'
down_revision = 'c4d5e6f7a8b9'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('certificates', sa.Column('operation_category', sa.Text(), nullable=True))
    op.add_column('certificates', sa.Column('operation_item', sa.Text(), nullable=True))
    op.add_column('certificates', sa.Column('project_type', sa.Text(), nullable=True))
    op.add_column('certificates', sa.Column('received_on', sa.Date(), nullable=True))
    # Rows from before: the receipt day is the day the row was written, in Nantong.
    op.execute("UPDATE certificates SET received_on = (created_at AT TIME ZONE 'Asia/Shanghai')::date")
    op.add_column('training_classes', sa.Column('enterprise_code', sa.Text(), nullable=True))
    op.add_column('training_classes', sa.Column('required_hours', sa.Numeric(7, 1), nullable=True))
    op.add_column('shortage_lists', sa.Column('occupations', postgresql.JSONB(astext_type=sa.Text()), nullable=True))


def downgrade() -> None:
    op.drop_column('shortage_lists', 'occupations')
    op.drop_column('training_classes', 'required_hours')
    op.drop_column('training_classes', 'enterprise_code')
    op.drop_column('certificates', 'received_on')
    op.drop_column('certificates', 'project_type')
    op.drop_column('certificates', 'operation_item')
    op.drop_column('certificates', 'operation_category')
