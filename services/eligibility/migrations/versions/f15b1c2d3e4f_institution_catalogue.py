"""the registry's catalogue of training and evaluation institutions (九, 十七), projected

Revision ID: f15b1c2d3e4f
Revises: f15a0b1c2d3e
Create Date: 2026-12-01 23:55:00.000000
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = 'f15b1c2d3e4f'
down_revision = 'f15a0b1c2d3e'
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
