"""One place that decides which database errors are transient (worth a retry).

Transient: deadlock detected, serialization failure, lock not available, lock or
statement timeout, a lost or refused connection, a server shutting down or starting up
(a failover or restart), SQLite "database is locked", and an identifier race lost to a
concurrent transaction. Everything else is permanent and fails fast.
"""

import psycopg
import sqlalchemy.exc

# PostgreSQL SQLSTATEs worth retrying: serialization_failure, deadlock_detected,
# lock_not_available, query_canceled (statement_timeout), idle_in_transaction timeout,
# admin_shutdown, crash_shutdown, cannot_connect_now (a restart or failover), and class 08
# (connection exceptions).
_TRANSIENT_SQLSTATES = frozenset(
    {"40001", "40P01", "55P03", "57014", "25P03", "57P01", "57P02", "57P03"}
)


class TransientDatabaseError(Exception):
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


def describe_db_error(error: BaseException) -> str:
    """A one-line description of a database error: its class, SQLSTATE and first line."""
    original = getattr(error, "orig", None) or error
    state = sqlstate_of(error)
    first_line = (str(original).strip().splitlines() or [""])[0]
    code = f" [{state}]" if state else ""
    return f"{type(original).__name__}{code}: {first_line}"
