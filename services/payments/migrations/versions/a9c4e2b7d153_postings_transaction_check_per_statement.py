"""Postings name a recorded transaction: checked once per statement, not by a per-row foreign key

Revision ID: a9c4e2b7d153
Revises: f15d3e4f5a6b
Create Date: 2026-12-02

The foreign key ledger_postings.txn_id -> ledger_transactions ran a lookup and a FOR KEY SHARE
lock of the parent row for every posting: about 40% of a postings COPY (50,000 postings in
batches of 10,000: 43,000-47,000 postings/s with it, 77,000/s without; docs/performance.md,
payments). The statement-level balance trigger, which already sees the whole batch through its
transition table, now also refuses any posting whose transaction is not recorded (SQLSTATE 23503,
as the foreign key did). The key's other half, refusing to delete a transaction that has
postings, is the append-only trigger of ledger_transactions (no UPDATE, DELETE or TRUNCATE).
"""
from alembic import op

revision = 'a9c4e2b7d153'
down_revision = 'f15d3e4f5a6b'
branch_labels = None
depends_on = None

# Frozen copies of the function as of this revision and the one before.
CHECKED = '''CREATE OR REPLACE FUNCTION ledger_txn_balances() RETURNS trigger AS $$
DECLARE bad uuid;
BEGIN
  SELECT txn_id INTO bad FROM new_postings GROUP BY txn_id HAVING SUM(amount_fen) <> 0 LIMIT 1;
  IF bad IS NOT NULL THEN
    RAISE EXCEPTION 'ledger transaction % does not balance', bad;
  END IF;
  SELECT p.txn_id INTO bad FROM new_postings p
    WHERE NOT EXISTS (SELECT 1 FROM ledger_transactions t WHERE t.txn_id = p.txn_id) LIMIT 1;
  IF bad IS NOT NULL THEN
    RAISE EXCEPTION 'ledger postings name transaction %, which is not recorded', bad
      USING ERRCODE = 'foreign_key_violation';
  END IF;
  RETURN NULL;
END $$ LANGUAGE plpgsql'''

BALANCE_ONLY = '''CREATE OR REPLACE FUNCTION ledger_txn_balances() RETURNS trigger AS $$
DECLARE bad uuid;
BEGIN
  SELECT txn_id INTO bad FROM new_postings GROUP BY txn_id HAVING SUM(amount_fen) <> 0 LIMIT 1;
  IF bad IS NOT NULL THEN
    RAISE EXCEPTION 'ledger transaction % does not balance', bad;
  END IF;
  RETURN NULL;
END $$ LANGUAGE plpgsql'''


def upgrade() -> None:
    op.execute(CHECKED)
    op.drop_constraint('ledger_postings_txn_id_fkey', 'ledger_postings', type_='foreignkey')


def downgrade() -> None:
    op.create_foreign_key('ledger_postings_txn_id_fkey', 'ledger_postings', 'ledger_transactions',
                          ['txn_id'], ['txn_id'])
    op.execute(BALANCE_ONLY)
