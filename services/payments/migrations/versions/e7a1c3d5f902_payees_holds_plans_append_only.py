"""who is paid, holds, supersession memory, plans, manual items; the ledger made append-only

Revision ID: e7a1c3d5f902
Revises: d4e5f6a7b8c9
Create Date: 2026-11-28

Postings, ledger transactions, plan items, settlements and account revisions refuse UPDATE,
DELETE and TRUNCATE; a disbursement or manual item cannot be deleted, and no UPDATE may set its
drafted amount, payee, fund or decision (a column-list trigger: status updates stay HOT and pay
nothing for it).
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = 'e7a1c3d5f902'
down_revision = 'd4e5f6a7b8c9'
branch_labels = None
depends_on = None

UUID = postgresql.UUID(as_uuid=True)
NOW = sa.text("now()")
APPEND_ONLY = ("ledger_transactions", "plan_items", "plan_settlements", "payee_accounts")
DRAFTED = {
    "disbursements": ("disbursement_id", "decision_id", "part", "person_key", "clause", "amount_fen", "source",
                      "district", "payee_kind", "payee_ref", "funding_version", "planned_fen", "trigger_id",
                      "drafted_by", "created_at"),
    "manual_items": ("item_id", "kind", "reference", "source", "district", "payee_kind", "payee_ref",
                     "amount_fen", "drafted_by", "created_at"),
}
REFUSE = """CREATE OR REPLACE FUNCTION refuse_edit() RETURNS trigger AS $$
BEGIN RAISE EXCEPTION '% is append-only: % refused (corrections are new entries)', TG_TABLE_NAME, TG_OP;
END $$ LANGUAGE plpgsql"""


def _tables() -> None:
    op.create_table(
        'received_decisions',
        sa.Column('decision_id', UUID, primary_key=True),
        sa.Column('trigger_id', UUID, nullable=False, index=True),
        sa.Column('person_key', sa.Text(), nullable=False),
        sa.Column('clause', sa.Text(), nullable=False),
        sa.Column('outcome', sa.Text(), nullable=False),
        sa.Column('amount_fen', sa.BigInteger(), nullable=False),
        sa.Column('payee_kind', sa.Text()),
        sa.Column('payee_ref', sa.Text()),
        sa.Column('ledger_payee_kind', sa.Text()),
        sa.Column('district', sa.Text()),
        sa.Column('decided_on', sa.Date(), nullable=False),
        sa.Column('class_id', UUID),
        sa.Column('institution_id', sa.Text()),
        sa.Column('supersedes', UUID),
        sa.Column('received_at', sa.DateTime(timezone=True), server_default=NOW, nullable=False),
    )
    op.create_index('received_decisions_class', 'received_decisions', ['class_id'],
                    postgresql_where=sa.text('class_id IS NOT NULL'))
    op.create_table(
        'superseded_decisions',
        sa.Column('decision_id', UUID, primary_key=True),
        sa.Column('superseded_by', UUID, nullable=False),
    )
    op.create_table(
        'payment_holds',
        sa.Column('decision_id', UUID, primary_key=True),
        sa.Column('trigger_id', UUID, nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('payee_kind', sa.Text()),
        sa.Column('payee_ref', sa.Text()),
        sa.Column('class_id', UUID),
        sa.Column('amount_fen', sa.BigInteger(), nullable=False),
        sa.Column('since', sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.Column('resolved_at', sa.DateTime(timezone=True)),
    )
    op.create_index('payment_holds_open', 'payment_holds', ['reason', 'payee_kind', 'payee_ref'],
                    postgresql_where=sa.text('resolved_at IS NULL'))
    op.create_index('payment_holds_open_trigger', 'payment_holds', ['trigger_id'],
                    postgresql_where=sa.text('resolved_at IS NULL'))
    op.create_table(
        'payee_accounts',
        sa.Column('payee_kind', sa.Text(), nullable=False),
        sa.Column('payee_ref', sa.Text(), nullable=False),
        sa.Column('revision', sa.Integer(), nullable=False),
        sa.Column('account_kind', sa.Text(), nullable=False),
        sa.Column('account_cipher', sa.Text(), nullable=False),
        sa.Column('account_masked', sa.Text(), nullable=False),
        sa.Column('account_name', sa.Text()),
        sa.Column('bank_name', sa.Text()),
        sa.Column('recorded_on', sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint('payee_kind', 'payee_ref', 'revision'),
    )
    op.create_table(
        'training_plans',
        sa.Column('plan_id', UUID, primary_key=True),
        sa.Column('plan_code', sa.Text(), nullable=False),
        sa.Column('institution_id', sa.Text(), nullable=False),
        sa.Column('payee_kind', sa.Text(), nullable=False),
        sa.Column('class_id', UUID, nullable=False, unique=True),
        sa.Column('clause', sa.Text(), nullable=False),
        sa.Column('district', sa.Text(), nullable=False),
        sa.Column('planned_headcount', sa.Integer(), nullable=False),
        sa.Column('standard_per_head_fen', sa.BigInteger(), nullable=False),
        sa.Column('years', sa.SmallInteger(), nullable=False),
        sa.Column('start_date', sa.Date(), nullable=False),
        sa.Column('end_date', sa.Date(), nullable=False),
        sa.Column('revision', sa.Integer(), nullable=False),
    )
    op.create_table(
        'plan_settlements',
        sa.Column('plan_id', UUID, primary_key=True),
        sa.Column('earned_fen', sa.BigInteger(), nullable=False),
        sa.Column('advance_fen', sa.BigInteger(), nullable=False),
        sa.Column('pay_fen', sa.BigInteger(), nullable=False),
        sa.Column('recover_fen', sa.BigInteger(), nullable=False),
        sa.Column('source', sa.Text(), nullable=False),
        sa.Column('district', sa.Text(), nullable=False),
        sa.Column('settled_by', sa.Text(), nullable=False),
        sa.Column('settled_at', sa.DateTime(timezone=True), server_default=NOW, nullable=False),
    )
    op.create_table(
        'plan_items',
        sa.Column('plan_id', UUID, nullable=False),
        sa.Column('decision_id', UUID, nullable=False, unique=True),
        sa.Column('trigger_id', UUID, nullable=False, index=True),
        sa.Column('clause', sa.Text(), nullable=False),
        sa.Column('amount_fen', sa.BigInteger(), sa.CheckConstraint('amount_fen > 0'), nullable=False),
        sa.PrimaryKeyConstraint('plan_id', 'decision_id'),
    )
    op.create_table(
        'manual_items',
        sa.Column('item_id', UUID, primary_key=True),
        sa.Column('kind', sa.Text(), nullable=False),
        sa.Column('reference', sa.Text(), nullable=False),
        sa.Column('source', sa.Text(), nullable=False),
        sa.Column('district', sa.Text(), nullable=False),
        sa.Column('payee_kind', sa.Text()),
        sa.Column('payee_ref', sa.Text()),
        sa.Column('amount_fen', sa.BigInteger(), sa.CheckConstraint('amount_fen > 0'), nullable=False),
        sa.Column('status', sa.Text(), nullable=False),
        sa.Column('drafted_by', sa.Text(), nullable=False),
        sa.Column('approved_by', sa.Text()),
        sa.Column('released_by', sa.Text()),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.UniqueConstraint('kind', 'reference', name='one_manual_item_per_kind_and_reference'),
        sa.CheckConstraint("kind IN ('allocation','recovery')", name='known_manual_kind'),
        sa.CheckConstraint("status IN ('drafted','approved','released')", name='known_manual_status'),
        sa.CheckConstraint('approved_by IS NULL OR approved_by <> drafted_by', name='manual_approver_is_not_drafter'),
        sa.CheckConstraint('released_by IS NULL OR (released_by <> drafted_by AND released_by <> approved_by)',
                           name='manual_releaser_is_neither'),
    )


def _disbursement_columns() -> None:
    op.add_column('disbursements', sa.Column('trigger_id', UUID))
    op.add_column('disbursements', sa.Column('drafted_by', sa.Text()))
    op.add_column('disbursements', sa.Column('account_revision', sa.Integer()))
    op.create_check_constraint(
        'maker_is_not_checker', 'disbursements',
        "drafted_by IS NULL OR ((approved_by IS NULL OR approved_by <> drafted_by) AND "
        "(released_by IS NULL OR released_by <> drafted_by))")
    op.create_index('disbursements_trigger', 'disbursements', ['trigger_id'],
                    postgresql_where=sa.text('trigger_id IS NOT NULL'))


def _append_only() -> None:
    op.execute(REFUSE)
    op.execute("CREATE TRIGGER ledger_postings_no_truncate BEFORE TRUNCATE ON ledger_postings "
               "FOR EACH STATEMENT EXECUTE FUNCTION refuse_edit()")
    for table in APPEND_ONLY:
        op.execute(f"CREATE TRIGGER {table}_no_edit BEFORE UPDATE OR DELETE ON {table} "
                   "FOR EACH ROW EXECUTE FUNCTION refuse_edit()")
        op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                   "FOR EACH STATEMENT EXECUTE FUNCTION refuse_edit()")
    for table, columns in DRAFTED.items():
        op.execute(f"CREATE TRIGGER {table}_drafted_fixed BEFORE UPDATE OF {', '.join(columns)} ON {table} "
                   "FOR EACH ROW EXECUTE FUNCTION refuse_edit()")
        op.execute(f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} FOR EACH ROW "
                   "EXECUTE FUNCTION refuse_edit()")
        op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                   "FOR EACH STATEMENT EXECUTE FUNCTION refuse_edit()")


def upgrade() -> None:
    _tables()
    _disbursement_columns()
    _append_only()


def downgrade() -> None:
    for table in (*DRAFTED, *APPEND_ONLY, "ledger_postings"):
        for suffix in ("no_edit", "no_truncate", "drafted_fixed", "no_delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_{suffix} ON {table}")
    op.execute("DROP FUNCTION IF EXISTS refuse_edit()")
    op.drop_index('disbursements_trigger', table_name='disbursements')
    op.drop_constraint('maker_is_not_checker', 'disbursements', type_='check')
    for column in ('account_revision', 'drafted_by', 'trigger_id'):
        op.drop_column('disbursements', column)
    for table in ('manual_items', 'plan_items', 'plan_settlements', 'training_plans', 'payee_accounts',
                  'payment_holds', 'superseded_decisions', 'received_decisions'):
        op.drop_table(table)
