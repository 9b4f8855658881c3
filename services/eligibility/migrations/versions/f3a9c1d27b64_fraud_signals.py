"""fraud signals (十四): trainees' contact digests and the signal review queue

Revision ID: f3a9c1d27b64
Revises: e11b7c3a9f20
Create Date: 2026-12-01 23:40:00.000000
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = 'f3a9c1d27b64'
down_revision = 'e11b7c3a9f20'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'trainee_contacts',
        sa.Column('person_key', sa.Text(), nullable=False),
        sa.Column('institution_code', sa.Text(), nullable=False),
        sa.Column('contact_kind', sa.Text(), nullable=False),
        sa.Column('digest', sa.Text(), nullable=False),
        sa.Column('recorded_on', sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint('person_key', 'institution_code', 'contact_kind', 'digest'),
    )
    op.create_index('trainee_contacts_by_digest', 'trainee_contacts', ['contact_kind', 'digest'])
    op.create_table(
        'fraud_signals',
        sa.Column('signal_id', sa.UUID(), nullable=False),
        sa.Column('kind', sa.Text(), nullable=False),
        sa.Column('subject', sa.Text(), nullable=False),
        sa.Column('institution_code', sa.Text(), nullable=True),
        sa.Column('person_key', sa.Text(), nullable=True),
        sa.Column('evidence', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column('status', sa.Text(), server_default='open', nullable=False),
        sa.Column('detected_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('parameter_versions', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column('resolved_by', sa.Text(), nullable=True),
        sa.Column('resolved_role', sa.Text(), nullable=True),
        sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('resolution_reason', sa.Text(), nullable=True),
        sa.CheckConstraint("status IN ('open','confirmed','dismissed')", name='fraud_signal_status'),
        sa.PrimaryKeyConstraint('signal_id'),
        sa.UniqueConstraint('subject'),
    )
    op.create_index('fraud_signals_by_status', 'fraud_signals', ['status', 'detected_at'])
    op.create_index('fraud_signals_by_institution', 'fraud_signals', ['institution_code'])


def downgrade() -> None:
    op.drop_table('fraud_signals')
    op.drop_table('trainee_contacts')
