"""The migrations build exactly the schema the table definitions describe, and go down."""

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from import_pipeline.store.migrations import alembic_config, upgrade_schema
from import_pipeline.store.tables import metadata


def schema_differences(engine):
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": False}
        )
        return compare_metadata(context, metadata)


def test_migrated_schema_matches_the_table_definitions(engine):
    assert schema_differences(engine) == []


def test_every_migration_goes_down_and_up_again(engine):
    config = alembic_config(engine)
    command.downgrade(config, "base")
    with engine.connect() as connection:
        assert sa.inspect(connection).get_table_names() == ["alembic_version"]
    upgrade_schema(engine)
    assert schema_differences(engine) == []
