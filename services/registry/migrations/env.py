from alembic import context

from services.registry import store_payees  # noqa: F401 - its tables share store.metadata
from services.registry.store import metadata
from shared.db import run_alembic_env

run_alembic_env(context, metadata)
