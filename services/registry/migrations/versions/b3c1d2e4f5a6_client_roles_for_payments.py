"""api clients may hold the payments roles hr and finance

Revision ID: b3c1d2e4f5a6
Revises: 9fd8f729a2d9
Create Date: 2026-11-27
"""
from alembic import op

revision = "b3c1d2e4f5a6"
down_revision = "9fd8f729a2d9"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_constraint("client_role", "api_clients", type_="check")
    op.create_check_constraint(
        "client_role", "api_clients",
        "role IN ('institution','feeder','bureau','district','auditor','hr','finance')")


def downgrade() -> None:
    op.drop_constraint("client_role", "api_clients", type_="check")
    op.create_check_constraint(
        "client_role", "api_clients", "role IN ('institution','feeder','bureau','district','auditor')")
