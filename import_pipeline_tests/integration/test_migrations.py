"""The migrations build exactly the schema the table definitions describe, and go down."""

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from import_pipeline.store.migrations import (
    HEAD_REVISION,
    alembic_config,
    schema_is_current,
    upgrade_schema,
)
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


def test_the_head_revision_named_in_code_is_alembics_only_head(engine):
    """`schema_is_current` compares with `HEAD_REVISION`; a new migration must raise it."""
    assert ScriptDirectory.from_config(alembic_config(engine)).get_heads() == [HEAD_REVISION]


def test_a_schema_below_head_or_never_migrated_is_not_current(engine):
    assert schema_is_current(engine)
    command.downgrade(alembic_config(engine), "-1")
    assert not schema_is_current(engine)
    command.downgrade(alembic_config(engine), "base")
    with engine.begin() as connection:
        connection.execute(sa.text("DROP TABLE alembic_version"))
    assert not schema_is_current(engine)
    upgrade_schema(engine)
    assert schema_is_current(engine)
    assert schema_differences(engine) == []
