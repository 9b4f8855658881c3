"""catalogue of training and evaluation institutions (九, 十七)

Revision ID: e15a2b3c4d5f
Revises: d15a1b2c3d4e
Create Date: 2026-12-01 23:50:00.000000
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = 'e15a2b3c4d5f'
down_revision = 'd15a1b2c3d4e'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'institution_listings',
        sa.Column('listing_version', sa.Text(), nullable=False),
        sa.Column('institution_code', sa.Text(), nullable=False),
        sa.Column('occupations', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column('valid_from', sa.Date(), nullable=False),
        sa.Column('valid_to', sa.Date(), nullable=True),
        sa.Column('credit_rating', sa.Text(), nullable=True),
        sa.Column('published_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('listing_version', 'institution_code'),
    )


def downgrade() -> None:
    op.drop_table('institution_listings')
