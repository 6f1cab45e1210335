"""Direct access to the import tables for tests that arrange or inspect a database."""

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from import_pipeline.store.imports import ImportRepository


@contextmanager
def repository(engine: sa.Engine) -> Iterator[ImportRepository]:
    """The import repository in a transaction that commits on a clean exit."""
    with engine.begin() as connection:
        yield ImportRepository(connection)
