"""fund flows name their payment (small cells of an issued report's fund table, docs/small-cells.md)

fund_flows gains disbursement_id, so a report issued from the flows can count the payments whose
money is in each of its fund figures. Rows kept before this revision have none: a report counts
their net money in a cell as one payment at most (the safe side: fewer payments than there were).

Revision ID: d5e6f7a8b9c0
Revises: c4d5e6f7a8b9
Create Date: 2026-12-02 07:40:00
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = 'd5e6f7a8b9c0'
down_revision = 'c4d5e6f7a8b9'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('fund_flows', sa.Column('disbursement_id', postgresql.UUID(as_uuid=True), nullable=True))


def downgrade() -> None:
    op.drop_column('fund_flows', 'disbursement_id')
