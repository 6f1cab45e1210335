"""The SQL unit of work: one connection and transaction, the import repository on it."""

import functools
from types import TracebackType
from typing import Self

import sqlalchemy as sa

from import_pipeline.services.unit_of_work import UnitOfWorkFactory
from import_pipeline.store.imports import ImportRepository


class InactiveUnitOfWorkError(RuntimeError):
    """The store of a unit of work was reached outside its `with` block (a bug)."""


class SqlUnitOfWork:
    """A transaction on `engine`; `imports` is usable only inside the `with` block."""

    def __init__(self, engine: sa.Engine) -> None:
        """Bind the unit of work to `engine`; nothing is opened until it is entered."""
        self._engine = engine
        self._connection: sa.Connection | None = None
        self._imports: ImportRepository | None = None

    @property
    def imports(self) -> ImportRepository:
        """The import repository on this unit's connection, while it is active."""
        if self._imports is None:
            raise InactiveUnitOfWorkError("the unit of work is not active (use `with`)")
        return self._imports

    def __enter__(self) -> Self:
        """Open a connection and begin its transaction."""
        self._connection = self._engine.connect()
        self._connection.begin()
        self._imports = ImportRepository(self._connection)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        """Roll back what was not committed, and give the connection back."""
        connection, self._connection, self._imports = self._connection, None, None
        if connection is not None:
            connection.close()  # rolls back an open transaction

    def commit(self) -> None:
        """Commit what was written; the block's next statement begins a new transaction."""
        if self._connection is None:
            raise InactiveUnitOfWorkError("the unit of work is not active (use `with`)")
        self._connection.commit()


def sql_units(engine: sa.Engine) -> UnitOfWorkFactory:
    """A factory of SQL units of work on `engine`: what services are given."""
    return functools.partial(SqlUnitOfWork, engine)
