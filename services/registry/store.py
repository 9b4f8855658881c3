"""Registry tables and queries. The registry is the system of record; others get its events."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID

from shared.app import Plumbing

metadata = sa.MetaData()
plumbing = Plumbing.on(metadata)

people = sa.Table(
    "people", metadata,
    sa.Column("person_key", sa.Text, primary_key=True),  # keyed hash of the resident ID
    sa.Column("resident_id_cipher", sa.LargeBinary, nullable=False),  # AES-GCM, never logged
    sa.Column("birth_date", sa.Date, nullable=False),
    sa.Column("sex", sa.Text, nullable=False),
    sa.Column("district", sa.Text),
    sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
)

certificates = sa.Table(
    "certificates", metadata,
    sa.Column("certificate_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("number", sa.Text, nullable=False, unique=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("person_key", sa.Text, sa.ForeignKey("people.person_key"), nullable=False, index=True),
    sa.Column("occupation_code", sa.Text),
    sa.Column("occupation_edition", sa.Text),
    sa.Column("level", sa.SmallInteger, sa.CheckConstraint("level BETWEEN 1 AND 5")),
    sa.Column("issue_date", sa.Date, nullable=False),
    sa.Column("issuer_code", sa.Text, nullable=False),
    sa.Column("issued_in_nantong", sa.Boolean, nullable=False),
    sa.Column("district", sa.Text),
    sa.Column("class_id", UUID(as_uuid=True)),
    sa.Column("training_kind", sa.Text),
    sa.Column("training_start_date", sa.Date),
    sa.Column("operation_category", sa.Text),  # 特种作业 category (special operations)
    sa.Column("operation_item", sa.Text),  # 特种作业 item / 作业项目 code (safety kinds)
    sa.Column("project_type", sa.Text),  # 五.4 training project (entrepreneurship)
    sa.Column("received_on", sa.Date),  # Asia/Shanghai day the registry first received it
    sa.Column("holder_name_masked", sa.Text),  # 公示 form ('张**'): the clear name is never stored
    sa.Column("holder_id_last4", sa.Text),  # 公示: the resident ID's last four characters
    sa.Column("content_hash", sa.Text, nullable=False),
    sa.Column("revoked_on", sa.Date),
    sa.Column("revoke_reason", sa.Text),
    sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
)

facts = sa.Table(
    "person_facts", metadata,
    sa.Column("fact_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("person_key", sa.Text, sa.ForeignKey("people.person_key"), nullable=False, index=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("valid_from", sa.Date, nullable=False),
    sa.Column("valid_to", sa.Date),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("attributes", JSONB, nullable=False),
    sa.Column("content_hash", sa.Text, nullable=False),
    sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
)

catalog_standards = sa.Table(
    "catalog_standards", metadata,
    sa.Column("catalog_version", sa.Text, nullable=False),
    sa.Column("occupation_code", sa.Text, nullable=False),
    sa.Column("occupation_edition", sa.Text, nullable=False),
    sa.Column("occupation_name", sa.Text, nullable=False),
    sa.Column("level", sa.SmallInteger),
    sa.Column("kind", sa.Text),
    sa.Column("training_fen", sa.BigInteger, sa.CheckConstraint("training_fen >= 0"), nullable=False),
    sa.Column("appraisal_fen", sa.BigInteger, sa.CheckConstraint("appraisal_fen >= 0"), nullable=False),
    sa.Column("valid_from", sa.Date, nullable=False),
    sa.Column("valid_to", sa.Date),
    sa.Column("loaded_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.UniqueConstraint("catalog_version", "occupation_code", "occupation_edition", "level", "kind",
                        name="catalog_row_once_per_version", postgresql_nulls_not_distinct=True),
)

shortage_lists = sa.Table(
    "shortage_lists", metadata,
    sa.Column("list_version", sa.Text, nullable=False),
    sa.Column("list_kind", sa.Text, nullable=False),
    sa.Column("year", sa.SmallInteger, nullable=False),
    sa.Column("occupation_codes", JSONB, nullable=False),
    sa.Column("occupations", JSONB),  # [{code, edition}]: codes are meaningful with their edition
    sa.Column("loaded_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.PrimaryKeyConstraint("list_version", "list_kind", "year"),
)

# --- Clients (OAuth2 client credentials) -----------------------------------------------------

api_clients = sa.Table(
    "api_clients", metadata,
    sa.Column("client_id", sa.Text, primary_key=True),
    sa.Column("secret_hash", sa.Text, nullable=False),  # scrypt, never the secret
    sa.Column("role", sa.Text, nullable=False),
    sa.Column("institution_id", sa.Text),
    sa.Column("feeder", sa.Text),
    sa.Column("districts", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
    sa.Column("may_see_ids", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True)),
    sa.CheckConstraint("role IN ('institution','feeder','bureau','district','auditor','hr','finance',"
                       "'security_admin')",
                       name="client_role"),
)

# --- Institutions, classes, completions (九, 十, 十七) -----------------------------------------

institutions = sa.Table(
    "institutions", metadata,
    sa.Column("credit_code", sa.Text, primary_key=True),  # GB 32100; a check mismatch is kept with a warning
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("district", sa.Text, nullable=False),
    sa.Column("listed_from", sa.Date, nullable=False),  # public catalog validity (十七)
    sa.Column("listed_to", sa.Date),
    sa.Column("credit_code_warning", sa.Text),
    sa.Column("content_hash", sa.Text, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
)

training_classes = sa.Table(
    "training_classes", metadata,
    sa.Column("class_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("institution_id", sa.Text, nullable=False, index=True),
    sa.Column("class_code", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("occupation_code", sa.Text),
    sa.Column("occupation_edition", sa.Text),
    sa.Column("level", sa.SmallInteger, sa.CheckConstraint("level BETWEEN 1 AND 5")),
    sa.Column("start_date", sa.Date, nullable=False),
    sa.Column("end_date", sa.Date, nullable=False),
    sa.Column("planned_trainees", sa.Integer, sa.CheckConstraint("planned_trainees >= 0"), nullable=False),
    sa.Column("enrolled_trainees", sa.Integer, sa.CheckConstraint("enrolled_trainees >= 0"), nullable=False),
    sa.Column("hours", sa.Integer, sa.CheckConstraint("hours >= 0"), nullable=False),
    sa.Column("online_hours", sa.Integer, sa.CheckConstraint("online_hours >= 0"), nullable=False),
    sa.Column("district", sa.Text),
    sa.Column("department", sa.Text),  # 行业主管部门 (shared/departments.py); none: 人社局
    sa.Column("enterprise_code", sa.Text),  # the enterprise running the class (四.1, 四.7, 五.3)
    sa.Column("required_hours", sa.Numeric(7, 1)),  # 规定课时 in credit hours (五.2)
    sa.Column("content_hash", sa.Text, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.UniqueConstraint("institution_id", "class_code", name="class_code_once_per_institution"),
)

completions = sa.Table(
    "completions", metadata,
    sa.Column("completion_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("person_key", sa.Text, sa.ForeignKey("people.person_key"), nullable=False, index=True),
    sa.Column("class_id", UUID(as_uuid=True), sa.ForeignKey("training_classes.class_id"), nullable=False,
              index=True),
    sa.Column("institution_id", sa.Text, nullable=False),
    sa.Column("completed_on", sa.Date, nullable=False),
    sa.Column("apprenticeship_year", sa.SmallInteger),
    sa.Column("months", sa.SmallInteger),
    sa.Column("hours", sa.Integer),
    sa.Column("online_hours", sa.Integer),
    sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
)

# The catalogue of training and evaluation institutions (九, 十七): dated entries per version,
# never edited (services/registry/institution_catalog.py).
institution_listings = sa.Table(
    "institution_listings", metadata,
    sa.Column("listing_version", sa.Text, nullable=False),
    sa.Column("institution_code", sa.Text, nullable=False),
    sa.Column("occupations", JSONB, nullable=False),  # [{code, edition, levels}]
    sa.Column("valid_from", sa.Date, nullable=False),
    sa.Column("valid_to", sa.Date),
    sa.Column("credit_rating", sa.Text),
    sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("listing_version", "institution_code"),
)
