"""One place that decides what a database error means: transient, the data's fault, or neither.

Transient: deadlock detected, serialization failure, lock not available, lock or
statement timeout, a lost or refused connection, a server shutting down or starting up
(a failover or restart), SQLite "database is locked", and an identifier race lost to a
concurrent transaction. A data rejection: the database refused a value of the
statement (a data exception, a violated constraint, an index row too large); trying the
same data again fails the same way, so the chunk pipeline looks for the line that holds
it. Everything else is permanent and fails fast.
"""

import sqlite3

import psycopg
import sqlalchemy.exc

from import_pipeline.domain.errors import ImportPipelineError
from import_pipeline.domain.excerpts import cut, first_line

# PostgreSQL SQLSTATEs worth retrying: serialization_failure, deadlock_detected,
# lock_not_available, query_canceled (statement_timeout), idle_in_transaction timeout,
# admin_shutdown, crash_shutdown, cannot_connect_now (a restart or failover), and class 08
# (connection exceptions).
_TRANSIENT_SQLSTATES = frozenset(
    {"40001", "40P01", "55P03", "57014", "25P03", "57P01", "57P02", "57P03"}
)

# SQLSTATE classes of errors caused by the data of a statement: 22 data exception (a
# NUL in text, a number out of range), 23 integrity constraint violation (a CHECK, a
# NOT NULL), 54 program limit exceeded (an index row too large). Not 42 (a missing
# table, no permission) or 53 (disk full): no line is at fault there.
_DATA_SQLSTATE_CLASSES = frozenset({"22", "23", "54"})

# Longest first line of a database error quoted in failure details.
_MESSAGE_CHARACTERS = 300


class TransientDatabaseError(ImportPipelineError):
    """A database conflict that a fresh attempt of the same work is expected to clear."""


def sqlstate_of(error: BaseException) -> str | None:
    """The SQLSTATE of a psycopg error, raw or wrapped by SQLAlchemy, if any."""
    original = getattr(error, "orig", None) or error
    return getattr(original, "sqlstate", None)


def is_transient_db_error(error: BaseException) -> bool:
    """True when retrying the failed transaction may succeed."""
    if isinstance(error, TransientDatabaseError):
        return True
    if isinstance(error, psycopg.Error):  # raised by the COPY / array fast path
        state = sqlstate_of(error)
        if state is None:
            return isinstance(error, psycopg.OperationalError)  # connection lost
        return state in _TRANSIENT_SQLSTATES or state.startswith("08")
    if not isinstance(error, sqlalchemy.exc.DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    state = sqlstate_of(error)
    if state is not None:
        return state in _TRANSIENT_SQLSTATES or state.startswith("08")
    if isinstance(error.orig, psycopg.OperationalError):
        return True  # no SQLSTATE: the connection was lost or refused
    message = str(error.orig).lower()
    return "database is locked" in message or "database is busy" in message


def is_data_rejection(error: BaseException) -> bool:
    """True when the database refused the data of the failed statement, not the statement.

    PostgreSQL says so by the SQLSTATE class (`_DATA_SQLSTATE_CLASSES`); errors without
    one (SQLite's, or psycopg's own before sending) by their DB-API class, `DataError` or
    `IntegrityError`. Transient errors never are.
    """
    if is_transient_db_error(error):
        return False
    state = sqlstate_of(error)
    if state is not None:
        return state[:2] in _DATA_SQLSTATE_CLASSES
    original = getattr(error, "orig", None) or error
    return isinstance(
        original,
        psycopg.DataError | psycopg.IntegrityError | sqlite3.DataError | sqlite3.IntegrityError,
    )


def describe_db_error(error: BaseException) -> str:
    """A one-line description of a database error: its class, SQLSTATE and first line.

    The line is cut after a few hundred characters: a message may quote a value.
    """
    original = getattr(error, "orig", None) or error
    state = sqlstate_of(error)
    code = f" [{state}]" if state else ""
    return f"{type(original).__name__}{code}: {cut(first_line(original), _MESSAGE_CHARACTERS)}"


def driver_message(error: sqlalchemy.exc.DBAPIError) -> str:
    """The first line of what the database driver said (no SQL, no parameters)."""
    return first_line(error.orig, "unknown error")
