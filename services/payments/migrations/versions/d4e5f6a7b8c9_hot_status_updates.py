"""HOT status updates: queue index keyed on queued_seq, unbatched index, fillfactor 50

Revision ID: d4e5f6a7b8c9
Revises: b700e2f56b13
Create Date: 2026-11-27

No index mentions `status` any more, so approve / release / paid rewrite a row on its own page
without touching an index (a HOT update). `queued_seq` is set exactly while a draft waits
(CHECK), which is what lets the queue index use it as its predicate.
"""
import sqlalchemy as sa
from alembic import op

revision = 'd4e5f6a7b8c9'
down_revision = 'b700e2f56b13'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("UPDATE disbursements SET queued_seq = NULL WHERE status <> 'waiting' AND queued_seq IS NOT NULL")
    op.create_check_constraint('queued_exactly_while_waiting', 'disbursements',
                               "(status = 'waiting') = (queued_seq IS NOT NULL)")
    op.drop_index('disbursements_queue', table_name='disbursements')
    op.create_index('disbursements_queue', 'disbursements', ['source', 'district', 'queued_seq'],
                    postgresql_where=sa.text('queued_seq IS NOT NULL'))
    op.create_index('disbursements_unbatched', 'disbursements', ['created_at', 'disbursement_id'],
                    postgresql_where=sa.text('batch_id IS NULL AND queued_seq IS NULL'))
    op.execute("ALTER TABLE disbursements SET (fillfactor = 50)")


def downgrade() -> None:
    op.execute("ALTER TABLE disbursements RESET (fillfactor)")
    op.drop_index('disbursements_unbatched', table_name='disbursements')
    op.drop_index('disbursements_queue', table_name='disbursements')
    op.create_index('disbursements_queue', 'disbursements', ['source', 'district', 'queued_seq'],
                    postgresql_where=sa.text("status = 'waiting'"))
    op.drop_constraint('queued_exactly_while_waiting', 'disbursements', type_='check')
