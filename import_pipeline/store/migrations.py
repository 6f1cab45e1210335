"""Run the alembic migrations that create and upgrade the schema (`import-pipeline db upgrade`).

Cheap when the schema is current (one query for the revision, compared with
`HEAD_REVISION`; alembic is not even imported, which saves every command a third of a
second) and serialised otherwise, so that several commands started at once on a fresh
database migrate it once: a PostgreSQL advisory lock, or a lock file beside a SQLite
database.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from filelock import FileLock

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "alembic"
HEAD_REVISION = "0011"
"""The revision of the newest migration in `alembic/versions`: raise it with each new one
(a test holds it to alembic's own head)."""
# Key of the session-level advisory lock that serialises migrations on PostgreSQL.
_ADVISORY_LOCK_KEY = 0x1D9E_0A1E  # "import pipeline", any constant will do
_LOCK_TIMEOUT_SECONDS = 600


def alembic_config(engine: sa.Engine) -> "Config":
    """An alembic configuration that migrates the database of `engine`."""
    from alembic.config import Config  # noqa: PLC0415 (only to migrate: slow to import)

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def schema_is_current(engine: sa.Engine) -> bool:
    """Whether the database's revision is `HEAD_REVISION` (alembic's version table)."""
    with engine.connect() as connection:
        if not sa.inspect(connection).has_table("alembic_version"):
            return False
        current = connection.execute(sa.text("SELECT version_num FROM alembic_version"))
        return set(current.scalars()) == {HEAD_REVISION}


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
    from alembic import command  # noqa: PLC0415 (only to migrate: slow to import)

    with _migration_lock(engine):
        command.upgrade(alembic_config(engine), revision)
