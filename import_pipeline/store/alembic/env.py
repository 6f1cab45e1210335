"""Alembic environment: migrates the engine handed over in `config.attributes`."""

from alembic import context

from import_pipeline.store.tables import metadata

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
