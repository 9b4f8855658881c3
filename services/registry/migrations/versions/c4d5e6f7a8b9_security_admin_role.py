"""api clients may hold the security_admin role (issues and revokes clients)

Revision ID: c4d5e6f7a8b9
Revises: f7afc2356d7d
Create Date: 2026-12-01
"""
from alembic import op

revision = "c4d5e6f7a8b9"
down_revision = "f7afc2356d7d"
branch_labels = None
depends_on = None

ROLES = "'institution','feeder','bureau','district','auditor','hr','finance'"


def upgrade() -> None:
    op.drop_constraint("client_role", "api_clients", type_="check")
    op.create_check_constraint("client_role", "api_clients", f"role IN ({ROLES},'security_admin')")


def downgrade() -> None:
    op.drop_constraint("client_role", "api_clients", type_="check")
    op.create_check_constraint("client_role", "api_clients", f"role IN ({ROLES})")
