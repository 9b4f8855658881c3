"""arrival order, reference-data versions, family-link index, the yearly cap from the parameter

Revision ID: e11b7c3a9f20
Revises: cee8f64c6c9d
Create Date: 2026-12-01 21:00:00.000000
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = 'e11b7c3a9f20'
down_revision = 'cee8f64c6c9d'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Certificates and completions already projected get arrival numbers in their stored order.
    op.add_column('certificates', sa.Column('arrival', sa.BigInteger(), sa.Identity(always=False), nullable=False))
    op.add_column('completions', sa.Column('arrival', sa.BigInteger(), sa.Identity(always=False), nullable=False))
    op.add_column('catalog_standards', sa.Column('published_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('shortage_lists', sa.Column('occupations', postgresql.JSONB(astext_type=sa.Text()), nullable=True))
    op.add_column('shortage_lists', sa.Column('published_at', sa.DateTime(timezone=True), nullable=True))
    op.create_index('certificates_by_class', 'certificates', [sa.text("(payload->>'class_id')")], unique=False)
    op.create_index('family_links_by_relative', 'person_facts', [sa.text("(attributes->>'relative_person_key')")],
                    unique=False, postgresql_where=sa.text("kind = 'family_link'"))
    # The backstop follows the parameter in force: each recount writes the year's cap beside the count.
    op.drop_constraint('at_most_three_subsidies_per_year', 'person_year_slots', type_='check')
    op.add_column('person_year_slots', sa.Column('cap', sa.SmallInteger(), nullable=False, server_default='3'))
    op.alter_column('person_year_slots', 'cap', server_default=None)
    op.create_check_constraint('at_most_the_yearly_cap', 'person_year_slots', 'used >= 0 AND used <= cap')


def downgrade() -> None:
    op.drop_constraint('at_most_the_yearly_cap', 'person_year_slots', type_='check')
    op.drop_column('person_year_slots', 'cap')
    op.create_check_constraint('at_most_three_subsidies_per_year', 'person_year_slots', 'used BETWEEN 0 AND 3')
    op.drop_index('certificates_by_class', table_name='certificates')
    op.drop_index('family_links_by_relative', table_name='person_facts', postgresql_where=sa.text("kind = 'family_link'"))
    op.drop_column('shortage_lists', 'published_at')
    op.drop_column('shortage_lists', 'occupations')
    op.drop_column('catalog_standards', 'published_at')
    op.drop_column('completions', 'arrival')
    op.drop_column('certificates', 'arrival')
