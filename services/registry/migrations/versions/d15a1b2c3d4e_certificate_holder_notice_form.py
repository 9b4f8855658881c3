"""certificate holder in its public-notice (公示) form: masked name, last four of the ID

Revision ID: d15a1b2c3d4e
Revises: c9e1a4b2d7f3
Create Date: 2026-12-01 23:40:00.000000
"""
import sqlalchemy as sa
from alembic import op

revision = 'd15a1b2c3d4e'
down_revision = 'c9e1a4b2d7f3'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('certificates', sa.Column('holder_name_masked', sa.Text(), nullable=True))
    op.add_column('certificates', sa.Column('holder_id_last4', sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column('certificates', 'holder_id_last4')
    op.drop_column('certificates', 'holder_name_masked')
