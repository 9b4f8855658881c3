"""The shared branch: tables every service database has (event plumbing, audit log), migrated by
shared.db.migrate next to the service's own branch, with a version table of its own."""

from alembic import context

from shared.db import SHARED_VERSION_TABLE


def run() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("shared migrations run through shared.db.migrate")
    context.configure(connection=connection, target_metadata=None, version_table=SHARED_VERSION_TABLE)
    with context.begin_transaction():
        context.run_migrations()


run()
