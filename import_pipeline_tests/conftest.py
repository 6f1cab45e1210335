"""Shared fixtures: real databases (a fresh SQLite file or PostgreSQL database per test).

PostgreSQL is reached at IMPORT_PIPELINE_TEST_POSTGRES_URL (default: the local server
with trust auth). Each test gets its own database, cloned from a migrated template.
When the server is down, PostgreSQL tests skip locally but fail under CI=true.
The suite's data files are in `data/`, reached through `import_pipeline_tests.data_files`.
"""

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from import_pipeline.store.engine import create_db_engine
from import_pipeline.store.migrations import upgrade_schema

ADMIN_URL = os.environ.get(
    "IMPORT_PIPELINE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
TEMPLATE_DB = f"import_pipeline_template_{os.getpid()}"


def _admin_engine() -> sa.Engine:
    return sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT", pool_pre_ping=True)


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """A migrated template database; fails under CI if PostgreSQL is unreachable."""
    admin = _admin_engine()
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{TEMPLATE_DB}"')
            connection.exec_driver_sql(f'CREATE DATABASE "{TEMPLATE_DB}"')
    except sa.exc.OperationalError as error:
        message = f"PostgreSQL is not reachable at {ADMIN_URL}: {error.orig}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    template_url = sa.make_url(ADMIN_URL).set(database=TEMPLATE_DB)
    engine = create_db_engine(template_url.render_as_string(hide_password=False))
    upgrade_schema(engine)
    engine.dispose()
    yield TEMPLATE_DB
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{TEMPLATE_DB}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture
def postgres_url(postgres_template: str) -> Iterator[str]:
    """The URL of a fresh, migrated PostgreSQL database, dropped after the test."""
    name = f"import_pipeline_test_{uuid.uuid4().hex[:12]}"
    admin = _admin_engine()
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{postgres_template}"')
    yield sa.make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """The URL of a fresh, migrated SQLite file."""
    url = f"sqlite:///{tmp_path / 'import_pipeline.sqlite'}"
    engine = create_db_engine(url)
    upgrade_schema(engine)
    engine.dispose()
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each store test runs on both the embedded default and PostgreSQL."""
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    """An engine on the parametrised database."""
    engine = create_db_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def pg_engine(postgres_url: str) -> Iterator[sa.Engine]:
    """An engine on a fresh PostgreSQL database."""
    engine = create_db_engine(postgres_url)
    yield engine
    engine.dispose()
