"""Dialect-aware bulk statements shared by the repositories (PostgreSQL and SQLite)."""

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
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


@contextmanager
def index_probes(connection: sa.Connection) -> Iterator[None]:
    """Plan the statements in the block as index look-ups, never as sequential scans.

    The look-ups probe a few thousand keys in tables of millions of rows. Without
    statistics (autovacuum off, or not yet run after a bulk load) PostgreSQL guesses
    that each reference id matches 0.5% of `enhancement` and picks (parallel)
    sequential scans of the whole table for every chunk: at 1M lines that made each
    batch three times slower than the first, and the deduplication step's reads of
    100,000 references' enhancements twice as slow. The setting is local to the
    transaction and restored after the block. Not after a failed statement: the
    transaction is aborted then, a `SET` would only fail with `InFailedSqlTransaction`
    and hide the real error, and the rollback that follows restores the setting anyway.
    Blocks may nest (the setting is restored when the outermost ends). Nothing to do
    on SQLite, whose planner uses the indexes.
    """
    if connection.dialect.name != "postgresql":
        yield
        return
    depth = connection.info.get(_PROBE_DEPTH, 0)
    if depth == 0:
        connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
    connection.info[_PROBE_DEPTH] = depth + 1
    try:
        yield
    finally:
        connection.info[_PROBE_DEPTH] = depth
    if depth == 0:
        connection.exec_driver_sql("SET LOCAL enable_seqscan = on")


_PROBE_DEPTH = "import_pipeline.index_probes"


def insert_staged(
    connection: sa.Connection,
    name: str,
    columns: Sequence[tuple[str, str]],
    rows: Iterable[Sequence[Any]],
    *,
    then: str,
    params: Sequence[Any] | Mapping[str, Any] = (),
) -> int:
    """COPY `rows` into the session's temporary table `name`, then run `then` (PostgreSQL).

    `then` reads the rows from `name` (an `INSERT ... SELECT ... ON CONFLICT ...`:
    the same rules as from array parameters); it runs only if there are rows. `columns`
    are (name, type) pairs, the type a name that both `CREATE TABLE` and psycopg's COPY
    know (`uuid`, `text`, `varchar`, `int4`, `bool`, `float8`, `timestamptz`, `jsonb`:
    a JSON value as text, wrapped in `Jsonb(text, dumps=str)`). The table is emptied
    after (it also empties at commit). Returns how many rows were staged.

    Why: psycopg encodes the rows of a binary COPY in C, while the array parameters of an
    `unnest(...)` statement are encoded element by element in Python, which cost
    more than the SQL itself (results: 8-15 us a line; identifiers: 11 us each).
    """
    with psycopg_connection(connection).cursor() as cursor:
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {name} "
            f"({', '.join(f'{column} {kind}' for column, kind in columns)}) ON COMMIT DELETE ROWS"
        )
        written = 0
        with cursor.copy(
            f"COPY {name} ({', '.join(column for column, _ in columns)}) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.set_types([kind for _, kind in columns])
            for row in rows:
                copy.write_row(row)
                written += 1
        if written:
            cursor.execute(then, params)
            cursor.execute(f"DELETE FROM {name}")
    return written
