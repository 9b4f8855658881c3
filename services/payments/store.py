"""Payments tables: the special account (专账) as a double-entry ledger, and disbursements.

Postings are append-only and every transaction sums to zero (a deferred constraint trigger checks
it at commit). `funds` holds one row per (source, district) that drafts lock: its balance and
reserved columns are maintained in the same transaction as the postings they summarise, and a
CHECK keeps available = balance - reserved from ever going below zero, whatever the concurrency.
`verify_ledger` recomputes balances from postings.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import UUID

from shared.app import Plumbing

metadata = sa.MetaData()
plumbing = Plumbing.on(metadata)

funds = sa.Table(
    "funds", metadata,
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("district", sa.Text, nullable=False),
    sa.Column("balance_fen", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("reserved_fen", sa.BigInteger, nullable=False, server_default="0"),
    sa.PrimaryKeyConstraint("source", "district"),
    sa.CheckConstraint("reserved_fen >= 0", name="reserved_not_negative"),
    sa.CheckConstraint("balance_fen - reserved_fen >= 0", name="available_never_below_zero"),
)

transactions = sa.Table(
    "ledger_transactions", metadata,
    sa.Column("txn_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("ref", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.UniqueConstraint("kind", "ref", name="one_transaction_per_kind_and_ref"),
)

postings = sa.Table(
    "ledger_postings", metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("txn_id", UUID(as_uuid=True), sa.ForeignKey("ledger_transactions.txn_id"), nullable=False,
              index=True),
    sa.Column("account", sa.Text, nullable=False, index=True),
    sa.Column("amount_fen", sa.BigInteger, nullable=False),
)

disbursements = sa.Table(
    "disbursements", metadata,
    sa.Column("disbursement_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("decision_id", UUID(as_uuid=True), nullable=False, unique=True),  # pays at most once
    sa.Column("person_key", sa.Text, nullable=False, index=True),
    sa.Column("clause", sa.Text, nullable=False),
    sa.Column("amount_fen", sa.BigInteger, sa.CheckConstraint("amount_fen > 0"), nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("district", sa.Text, nullable=False),
    sa.Column("payee_kind", sa.Text, nullable=False),
    sa.Column("payee_ref", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("funding_version", sa.Text, nullable=False),
    sa.Column("queued_seq", sa.BigInteger),  # FIFO order while waiting for money
    sa.Column("batch_id", UUID(as_uuid=True)),
    sa.Column("approved_by", sa.Text),
    sa.Column("released_by", sa.Text),
    sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.CheckConstraint("approved_by IS NULL OR released_by IS NULL OR approved_by <> released_by",
                       name="approver_is_not_releaser"),
)

# Each transaction's postings are inserted by one statement; the statement-level trigger sees
# them together and refuses any transaction that does not sum to zero.
BALANCE_TRIGGER = """CREATE OR REPLACE FUNCTION ledger_txn_balances() RETURNS trigger AS $$
DECLARE bad uuid;
BEGIN
  SELECT txn_id INTO bad FROM new_postings GROUP BY txn_id HAVING SUM(amount_fen) <> 0 LIMIT 1;
  IF bad IS NOT NULL THEN
    RAISE EXCEPTION 'ledger transaction % does not balance', bad;
  END IF;
  RETURN NULL;
END $$ LANGUAGE plpgsql

CREATE TRIGGER postings_balance AFTER INSERT ON ledger_postings
  REFERENCING NEW TABLE AS new_postings FOR EACH STATEMENT EXECUTE FUNCTION ledger_txn_balances()

CREATE OR REPLACE FUNCTION ledger_append_only() RETURNS trigger AS $$
BEGIN RAISE EXCEPTION 'ledger postings are append-only'; END $$ LANGUAGE plpgsql

CREATE TRIGGER postings_append_only BEFORE UPDATE OR DELETE ON ledger_postings
  FOR EACH ROW EXECUTE FUNCTION ledger_append_only()
"""

queue_seq = sa.Sequence("disbursement_queue_seq", metadata=metadata)
