"""Payments tables: the special account (专账) as a double-entry ledger, and disbursements.

Postings are append-only and every transaction sums to zero (a deferred constraint trigger checks
it at commit). `funds` holds one row per (source, district) that drafts lock: its balance and
reserved columns are maintained in the same transaction as the postings they summarise, and a
CHECK keeps available = balance - reserved from ever going below zero, whatever the concurrency.
`verify.py` recomputes every balance from the postings and reports drift. Postings, transactions
and drafted amounts are append-only in the database itself (append_only_ddl).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID

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
    # No foreign key: the balance trigger refuses, once per statement, a posting whose transaction
    # is not recorded (a per-row key check cost 40% of a postings COPY); ledger_transactions is append-only.
    sa.Column("txn_id", UUID(as_uuid=True), nullable=False, index=True),
    sa.Column("account", sa.Text, nullable=False, index=True),
    sa.Column("amount_fen", sa.BigInteger, nullable=False),
)

disbursements = sa.Table(
    "disbursements", metadata,
    sa.Column("disbursement_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("decision_id", UUID(as_uuid=True), nullable=False),
    sa.Column("part", sa.Text, nullable=False, server_default="whole"),  # whole | advance | settlement (十三.5)
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
    sa.Column("offset_fen", sa.BigInteger, nullable=False, server_default="0"),  # netted off a receivable (十四)
    sa.Column("attempt", sa.Integer, nullable=False, server_default="1"),  # bumped by a retry after failure
    sa.Column("planned_fen", sa.BigInteger),  # 十三.5: the planned subsidy an advance was capped by
    sa.Column("clawback_on_paid", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("trigger_id", UUID(as_uuid=True)),  # the decision's trigger; none for an advance/settlement
    sa.Column("drafted_by", sa.Text),  # a manual item's maker (十三.5 advance, settlement request)
    sa.Column("account_revision", sa.Integer),  # the payee's account in force when finance released it
    sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.CheckConstraint("approved_by IS NULL OR released_by IS NULL OR approved_by <> released_by",
                       name="approver_is_not_releaser"),
    sa.CheckConstraint("drafted_by IS NULL OR ((approved_by IS NULL OR approved_by <> drafted_by) AND "
                       "(released_by IS NULL OR released_by <> drafted_by))", name="maker_is_not_checker"),
    # A decision pays at most once: whole, or one advance and one settlement (十三.5).
    sa.UniqueConstraint("decision_id", "part", name="one_disbursement_per_decision_part"),
    sa.CheckConstraint("part IN ('whole','advance','settlement')", name="known_part"),
    sa.CheckConstraint("status IN ('waiting','reserved','approved','released','paid','failed',"
                       "'cancelled','reversed')", name="known_status"),
    sa.CheckConstraint("offset_fen >= 0 AND offset_fen <= amount_fen", name="offset_within_amount"),
    # A queue number exactly while waiting: the queue index can then be keyed on queued_seq, and no
    # index mentions `status`, so approve / release / paid are HOT updates (no index writes at all).
    sa.CheckConstraint("(status = 'waiting') = (queued_seq IS NOT NULL)", name="queued_exactly_while_waiting"),
    sa.Index("disbursements_queue", "source", "district", "queued_seq",
             postgresql_where=sa.text("queued_seq IS NOT NULL")),
    sa.Index("disbursements_batch", "batch_id"),
    sa.Index("disbursements_trigger", "trigger_id", postgresql_where=sa.text("trigger_id IS NOT NULL")),
    # create_batch: reserved (not queued) drafts without a batch, oldest first
    sa.Index("disbursements_unbatched", "created_at", "disbursement_id",
             postgresql_where=sa.text("batch_id IS NULL AND queued_seq IS NULL")),
    # Room on each page for the next version of a row: status updates stay HOT (same page).
    postgresql_with={"fillfactor": 50},
)

# Drafts are grouped into batches: hr approves (person A), finance releases (person B, 十二.2).
batches = sa.Table(
    "payment_batches", metadata,
    sa.Column("batch_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("items", sa.Integer, nullable=False),
    sa.Column("total_fen", sa.BigInteger, nullable=False),
    sa.Column("created_by", sa.Text, nullable=False),
    sa.Column("approved_by", sa.Text),
    sa.Column("released_by", sa.Text),
    sa.Column("submitted_at", sa.DateTime(timezone=True)),  # the treasury acknowledged the order
    sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.CheckConstraint("status IN ('open','approved','released')", name="known_batch_status"),
    sa.CheckConstraint("approved_by IS NULL OR released_by IS NULL OR approved_by <> released_by",
                       name="batch_approver_is_not_releaser"),
)

# Treasury statements already imported: a repeat answers with the stored result.
statements = sa.Table(
    "treasury_statements", metadata,
    sa.Column("reference", sa.Text, primary_key=True),
    sa.Column("result", JSONB, nullable=False),
    sa.Column("imported_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
)

# Idempotency-Key of incoming POSTs: claimed and answered in the same transaction as the effect.
idempotency = sa.Table(
    "idempotency_keys", metadata,
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("scope", sa.Text, nullable=False),
    sa.Column("request_hash", sa.Text, nullable=False),
    sa.Column("status_code", sa.Integer),
    sa.Column("response", JSONB),
    sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
)

# A batch's postings go in by one COPY (postings.post); the statement-level trigger sees them
# together and refuses any transaction that does not sum to zero, and any posting whose
# transaction is not recorded (migration a9c4e2b7d153).
BALANCE_TRIGGER = """CREATE OR REPLACE FUNCTION ledger_txn_balances() RETURNS trigger AS $$
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
END $$ LANGUAGE plpgsql

CREATE TRIGGER postings_balance AFTER INSERT ON ledger_postings
  REFERENCING NEW TABLE AS new_postings FOR EACH STATEMENT EXECUTE FUNCTION ledger_txn_balances()

CREATE OR REPLACE FUNCTION ledger_append_only() RETURNS trigger AS $$
BEGIN RAISE EXCEPTION 'ledger postings are append-only'; END $$ LANGUAGE plpgsql

CREATE TRIGGER postings_append_only BEFORE UPDATE OR DELETE ON ledger_postings
  FOR EACH ROW EXECUTE FUNCTION ledger_append_only()
"""

queue_seq = sa.Sequence("disbursement_queue_seq", metadata=metadata)


# 公开资金使用情况: spending per source, district, clause and month (Asia/Shanghai), from the
# `disbursed` accounts, which name no payee; allocations per source, district and month.
FUND_USE_SQL = sa.text("""
SELECT split_part(p.account, '|', 2) AS source, split_part(p.account, '|', 3) AS district,
       split_part(p.account, '|', 5) AS clause,
       to_char(t.created_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM') AS month,
       SUM(p.amount_fen)::bigint AS spent_fen,
       (COUNT(*) FILTER (WHERE t.kind = 'release') - COUNT(*) FILTER (WHERE t.kind = 'failed'))::bigint
         AS payments
FROM ledger_postings p JOIN ledger_transactions t USING (txn_id)
WHERE p.account LIKE 'disbursed|%'
  AND (CAST(:year AS int) IS NULL
       OR EXTRACT(YEAR FROM t.created_at AT TIME ZONE 'Asia/Shanghai') = CAST(:year AS int))
GROUP BY 1, 2, 3, 4 ORDER BY 4, 1, 2, 3
""")

ALLOCATED_SQL = sa.text("""
SELECT split_part(p.account, '|', 2) AS source, split_part(p.account, '|', 3) AS district,
       to_char(t.created_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM') AS month,
       SUM(p.amount_fen)::bigint AS allocated_fen
FROM ledger_postings p JOIN ledger_transactions t USING (txn_id)
WHERE p.account LIKE 'special|%' AND t.kind = 'allocation'
  AND (CAST(:year AS int) IS NULL
       OR EXTRACT(YEAR FROM t.created_at AT TIME ZONE 'Asia/Shanghai') = CAST(:year AS int))
GROUP BY 1, 2, 3 ORDER BY 3, 1, 2
""")


# ---- who is paid, and what each trigger is owed ----------------------------------------------

# Every decision eligibility sent, as received: the supersession chain and the payee are read here.
received_decisions = sa.Table(
    "received_decisions", metadata,
    sa.Column("decision_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("trigger_id", UUID(as_uuid=True), nullable=False, index=True),
    sa.Column("person_key", sa.Text, nullable=False),
    sa.Column("clause", sa.Text, nullable=False),
    sa.Column("outcome", sa.Text, nullable=False),
    sa.Column("amount_fen", sa.BigInteger, nullable=False),
    sa.Column("payee_kind", sa.Text),  # as the decision names it: worker | enterprise | institution
    sa.Column("payee_ref", sa.Text),
    sa.Column("ledger_payee_kind", sa.Text),  # the ledger's name of that kind (claims.PAYEE_KINDS); none: unknown
    sa.Column("district", sa.Text),
    sa.Column("decided_on", sa.Date, nullable=False),
    sa.Column("class_id", UUID(as_uuid=True)),
    sa.Column("institution_id", sa.Text),
    sa.Column("supersedes", UUID(as_uuid=True)),
    # A V3 approval paying money: payable only once its public notice (公示) ended (notices_ended).
    sa.Column("notice_required", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.Index("received_decisions_class", "class_id", postgresql_where=sa.text("class_id IS NOT NULL")),
)

# eligibility.notice.ended as received: the decision's public notice ended without an open objection.
notices_ended = sa.Table(
    "notices_ended", metadata,
    sa.Column("decision_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("published_on", sa.Date, nullable=False),
    sa.Column("ended_on", sa.Date, nullable=False),
    sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
)

# Remembered: a decision named as superseded is never drafted, even if it arrives afterwards.
superseded_decisions = sa.Table(
    "superseded_decisions", metadata,
    sa.Column("decision_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("superseded_by", UUID(as_uuid=True), nullable=False),
)

# A payable decision not drafted, and why (claims.HoldReason); resolved when drafted or moot.
holds = sa.Table(
    "payment_holds", metadata,
    sa.Column("decision_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("trigger_id", UUID(as_uuid=True), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("payee_kind", sa.Text),
    sa.Column("payee_ref", sa.Text),
    sa.Column("class_id", UUID(as_uuid=True)),
    sa.Column("amount_fen", sa.BigInteger, nullable=False),
    sa.Column("since", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.Column("resolved_at", sa.DateTime(timezone=True)),
    sa.Index("payment_holds_open", "reason", "payee_kind", "payee_ref",
             postgresql_where=sa.text("resolved_at IS NULL")),
    sa.Index("payment_holds_open_trigger", "trigger_id", postgresql_where=sa.text("resolved_at IS NULL")),
)

# Payees' accounts as the registry sent them: every revision kept (append-only), the number still
# encrypted (shared/pii.py); decrypted only to write a payment order or file.
payee_accounts = sa.Table(
    "payee_accounts", metadata,
    sa.Column("payee_kind", sa.Text, nullable=False),
    sa.Column("payee_ref", sa.Text, nullable=False),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("account_kind", sa.Text, nullable=False),
    sa.Column("account_cipher", sa.Text, nullable=False),
    sa.Column("account_masked", sa.Text, nullable=False),
    sa.Column("account_name", sa.Text),
    sa.Column("bank_name", sa.Text),
    sa.Column("recorded_on", sa.Date, nullable=False),
    sa.PrimaryKeyConstraint("payee_kind", "payee_ref", "revision"),
)

# 项目制培训 plans from the registry (十三.5), the highest revision in force.
training_plans = sa.Table(
    "training_plans", metadata,
    sa.Column("plan_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("plan_code", sa.Text, nullable=False),
    sa.Column("institution_id", sa.Text, nullable=False),
    sa.Column("payee_kind", sa.Text, nullable=False),
    sa.Column("class_id", UUID(as_uuid=True), nullable=False, unique=True),
    sa.Column("clause", sa.Text, nullable=False),
    sa.Column("district", sa.Text, nullable=False),
    sa.Column("planned_headcount", sa.Integer, nullable=False),
    sa.Column("standard_per_head_fen", sa.BigInteger, nullable=False),
    sa.Column("years", sa.SmallInteger, nullable=False),
    sa.Column("start_date", sa.Date, nullable=False),
    sa.Column("end_date", sa.Date, nullable=False),
    sa.Column("revision", sa.Integer, nullable=False),
)

# A plan's settlement (十三.5), once: what its completers earned against the advance paid.
plan_settlements = sa.Table(
    "plan_settlements", metadata,
    sa.Column("plan_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("earned_fen", sa.BigInteger, nullable=False),
    sa.Column("advance_fen", sa.BigInteger, nullable=False),
    sa.Column("pay_fen", sa.BigInteger, nullable=False),
    sa.Column("recover_fen", sa.BigInteger, nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("district", sa.Text, nullable=False),
    sa.Column("settled_by", sa.Text, nullable=False),
    sa.Column("settled_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
)

# The decisions a settlement paid: each trigger's share of the plan's money (append-only).
plan_items = sa.Table(
    "plan_items", metadata,
    sa.Column("plan_id", UUID(as_uuid=True), nullable=False),
    sa.Column("decision_id", UUID(as_uuid=True), nullable=False, unique=True),
    sa.Column("trigger_id", UUID(as_uuid=True), nullable=False, index=True),
    sa.Column("clause", sa.Text, nullable=False),
    sa.Column("amount_fen", sa.BigInteger, sa.CheckConstraint("amount_fen > 0"), nullable=False),
    sa.PrimaryKeyConstraint("plan_id", "decision_id"),
)

# Manual items (allocations, recoveries): drafted, approved by hr (not the drafter), released by
# finance (neither of them); only release touches the ledger. Amounts are fixed when drafted.
manual_items = sa.Table(
    "manual_items", metadata,
    sa.Column("item_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("reference", sa.Text, nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("district", sa.Text, nullable=False),
    sa.Column("payee_kind", sa.Text),
    sa.Column("payee_ref", sa.Text),
    sa.Column("amount_fen", sa.BigInteger, sa.CheckConstraint("amount_fen > 0"), nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("drafted_by", sa.Text, nullable=False),
    sa.Column("approved_by", sa.Text),
    sa.Column("released_by", sa.Text),
    sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.UniqueConstraint("kind", "reference", name="one_manual_item_per_kind_and_reference"),
    sa.CheckConstraint("kind IN ('allocation','recovery')", name="known_manual_kind"),
    sa.CheckConstraint("status IN ('drafted','approved','released')", name="known_manual_status"),
    sa.CheckConstraint("approved_by IS NULL OR approved_by <> drafted_by", name="manual_approver_is_not_drafter"),
    sa.CheckConstraint("released_by IS NULL OR (released_by <> drafted_by AND released_by <> approved_by)",
                       name="manual_releaser_is_neither"),
)
