"""Run the alembic migrations that create and upgrade the schema (`import-pipeline db upgrade`).

Cheap when the schema is current (one query for the revision, no alembic environment)
and serialised otherwise, so that several commands started at once on a fresh database
migrate it once: a PostgreSQL advisory lock, or a lock file beside a SQLite database.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from filelock import FileLock

MIGRATIONS_DIR = Path(__file__).parent / "alembic"
# Key of the session-level advisory lock that serialises migrations on PostgreSQL.
_ADVISORY_LOCK_KEY = 0x1D9E_0A1E  # "import pipeline", any constant will do
_LOCK_TIMEOUT_SECONDS = 600


def alembic_config(engine: sa.Engine) -> Config:
    """An alembic configuration that migrates the database of `engine`."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def schema_is_current(engine: sa.Engine) -> bool:
    """Whether the database's revision is the migrations' head."""
    heads = set(ScriptDirectory.from_config(alembic_config(engine)).get_heads())
    with engine.connect() as connection:
        current = set(MigrationContext.configure(connection).get_current_heads())
    return current == heads


@contextmanager
def _migration_lock(engine: sa.Engine) -> Iterator[None]:
    """Hold the database's migration lock: one migrating process at a time."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            connection.execute(sa.select(sa.func.pg_advisory_lock(_ADVISORY_LOCK_KEY)))
            try:
                yield
            finally:
                connection.execute(sa.select(sa.func.pg_advisory_unlock(_ADVISORY_LOCK_KEY)))
                connection.commit()
        return
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    with FileLock(f"{database}.migrate.lock", timeout=_LOCK_TIMEOUT_SECONDS):
        yield


def upgrade_schema(engine: sa.Engine, revision: str = "head") -> None:
    """Create or upgrade the import and reference tables to `revision`.

    Returns at once when the schema is at head already; otherwise migrates under the
    migration lock (a process that waited for it finds the work done).
    """
    if revision == "head" and schema_is_current(engine):
        return
    with _migration_lock(engine):
        command.upgrade(alembic_config(engine), revision)
