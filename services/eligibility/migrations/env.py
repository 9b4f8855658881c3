from alembic import context

from services.eligibility.store import metadata
from shared.db import run_alembic_env

run_alembic_env(context, metadata)
