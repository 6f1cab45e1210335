"""Dialect-aware bulk statements shared by the repositories (PostgreSQL and SQLite)."""

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite


def insert_for(connection: sa.Connection, table: sa.Table) -> Any:
    """An INSERT of the connection's dialect, which offers ON CONFLICT clauses."""
    if connection.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def insert_ignoring_conflicts(
    connection: sa.Connection,
    table: sa.Table,
    rows: Sequence[Mapping[str, Any]],
    conflict_columns: Sequence[str],
    returning: sa.Column[Any] | None = None,
) -> list[Any]:
    """Insert `rows` in one executemany, skipping rows whose key exists already.

    With `returning`, returns that column of the rows actually inserted, so a caller can
    tell which rows a concurrent transaction had inserted first.
    """
    if not rows:
        return []
    statement = insert_for(connection, table).on_conflict_do_nothing(
        index_elements=conflict_columns
    )
    if returning is None:
        connection.execute(statement, list(rows))
        return []
    result = connection.execute(statement.returning(returning), list(rows))
    return list(result.scalars().all())


def psycopg_connection(connection: sa.Connection) -> Any:
    """The psycopg connection under a SQLAlchemy connection (same transaction)."""
    return connection.connection.driver_connection


def among(
    connection: sa.Connection, column: sa.ColumnElement[Any], values: Sequence[Any]
) -> sa.ColumnElement[bool]:
    """`column IN (values)`; on PostgreSQL `column = ANY(array)`, one parameter for all.

    psycopg parses a statement's placeholders each time it is sent: thousands of them
    (one per value of a long IN list) cost more than the look-up itself.
    """
    if connection.dialect.name == "postgresql":
        return column == sa.any_(sa.literal(list(values), postgresql.ARRAY(column.type)))
    return column.in_(values)
