"""The SQL unit of work: one connection and transaction, the stores on it."""

from types import TracebackType
from typing import Any, Self

import sqlalchemy as sa

from import_pipeline.references.store import SqlReferenceStore
from import_pipeline.store.dedup import SqlDedupStore
from import_pipeline.store.engine import create_db_engine
from import_pipeline.store.imports import ImportRepository
from import_pipeline.store.result_checks import ResultCheckQueries


class InactiveUnitOfWorkError(RuntimeError):
    """The store of a unit of work was reached outside its `with` block (a bug)."""


_INACTIVE = "the unit of work is not active (use `with`)"


class SqlUnitOfWork:
    """A transaction on `engine`; its stores are usable only inside the `with` block."""

    def __init__(self, engine: sa.Engine) -> None:
        """Bind the unit of work to `engine`; nothing is opened until it is entered."""
        self._engine = engine
        self._connection: sa.Connection | None = None

    @property
    def imports(self) -> ImportRepository:
        """The import repository on this unit's connection, while it is active."""
        return ImportRepository(self._active())

    @property
    def references(self) -> SqlReferenceStore:
        """The reference store on this unit's connection, while it is active."""
        return SqlReferenceStore(self._active())

    @property
    def checks(self) -> ResultCheckQueries:
        """The check queries on this unit's connection, while it is active."""
        return ResultCheckQueries(self._active())

    @property
    def dedup(self) -> SqlDedupStore:
        """The probable-duplicate tables on this unit's connection, while it is active."""
        return SqlDedupStore(self._active())

    def _active(self) -> sa.Connection:
        if self._connection is None:
            raise InactiveUnitOfWorkError(_INACTIVE)
        return self._connection

    def __enter__(self) -> Self:
        """Open a connection and begin its transaction."""
        self._connection = self._engine.connect()
        self._connection.begin()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        """Roll back what was not committed, and give the connection back."""
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()  # rolls back an open transaction

    def commit(self) -> None:
        """Commit what was written; the block's next statement begins a new transaction."""
        self._active().commit()


class SqlUnits:
    """A factory of SQL units of work on one engine: what services are given.

    It pickles as its database's URL, so that a worker process it is handed to (a
    batch's worker processes) opens its own engine on the same database.
    """

    def __init__(self, engine: sa.Engine) -> None:
        """Make units of work on `engine`."""
        self.engine = engine

    def __call__(self) -> SqlUnitOfWork:
        """A new unit of work (not yet begun)."""
        return SqlUnitOfWork(self.engine)

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        """Pickle as the URL (password included): the receiving process builds an engine."""
        return (_units_on_url, (self.engine.url.render_as_string(hide_password=False),))


def _units_on_url(database_url: str) -> SqlUnits:
    return SqlUnits(create_db_engine(database_url))


def sql_units(engine: sa.Engine) -> SqlUnits:
    """A factory of SQL units of work on `engine` (see `SqlUnits`)."""
    return SqlUnits(engine)
