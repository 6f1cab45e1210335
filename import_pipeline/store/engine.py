"""Engines for the embedded SQLite default and for PostgreSQL, and the schema upgrade.

SQLite gets WAL, foreign keys, a busy timeout and `BEGIN IMMEDIATE` transactions so
that concurrent writers queue instead of failing; PostgreSQL uses psycopg 3.
"""

import json
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from import_pipeline.domain.errors import DomainError


class DatabaseConfigError(DomainError):
    """The database URL is malformed or names a driver we do not support."""


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # let the begin event below issue BEGIN
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=60000")
    cursor.close()


def _on_sqlite_begin(connection: sa.Connection) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _on_sqlite_begin_read(connection: sa.Connection) -> None:
    connection.exec_driver_sql("BEGIN")  # deferred: reads a WAL snapshot, waits for no writer


def _make_folder(folder: Path) -> None:
    """Create the folder of a SQLite database; raise `DatabaseConfigError` if it cannot be."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        reason = "a file is in the way" if isinstance(error, FileExistsError) else error.strerror
        raise DatabaseConfigError(
            f"the folder {folder} of the SQLite database cannot be created: {reason}"
        ) from None


def _load_json(document: str | bytes) -> Any:
    """A JSON column's value, decoded by orjson (several times faster than `json`).

    Source lines are decoded by orjson too (`domain.parsing`), so a document reads back
    as it was written. Anything orjson refuses falls back to `json`.
    """
    try:
        return orjson.loads(document)
    except orjson.JSONDecodeError:
        return json.loads(document)


def create_db_engine(url: str, *, read_only: bool = False) -> sa.Engine:
    """Create an engine for `url`; raise `DatabaseConfigError` with the reason if it is bad.

    A `read_only` engine (for progress displays) never queues behind SQLite's writers:
    its transactions read a snapshot. Nothing stops it from writing on PostgreSQL.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as error:
        raise DatabaseConfigError(f"invalid database URL {url!r}: {error}") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            _make_folder(Path(parsed.database).parent)
        engine = sa.create_engine(parsed, json_deserializer=_load_json)
        sa.event.listen(engine, "connect", _on_sqlite_connect)
        sa.event.listen(engine, "begin", _on_sqlite_begin_read if read_only else _on_sqlite_begin)
        return engine
    if backend == "postgresql":
        if parsed.drivername != "postgresql+psycopg":
            parsed = parsed.set(drivername="postgresql+psycopg")
        # No server-side prepared statements: their generic plans for `col = ANY($1)` over
        # a large table are sequential scans (seen: 20 s per chunk on 2M enhancements);
        # custom plans use the indexes.
        return sa.create_engine(
            parsed,
            pool_pre_ping=True,
            pool_size=4,
            max_overflow=4,
            connect_args={"prepare_threshold": None},
            json_deserializer=_load_json,
        )
    raise DatabaseConfigError(
        f"unsupported database {backend!r} in {parsed.render_as_string(hide_password=True)}: "
        "use sqlite:///PATH or postgresql+psycopg://USER@HOST:PORT/DB"
    )


def describe_url(engine: sa.Engine) -> str:
    """The engine's URL with any password hidden, for messages."""
    return engine.url.render_as_string(hide_password=True)
