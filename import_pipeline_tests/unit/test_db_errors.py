"""What a database error means: transient, the data's fault (split the chunk), or neither.

The chunk pipeline splits a chunk only for a data rejection, so the line between the
three kinds decides whether one bad line fails alone, the batch retries, or the step
stops: a missing table must never be blamed on every line in turn.
"""

import sqlite3

import psycopg
import pytest
import sqlalchemy.exc

from import_pipeline.references.ingest import IdentifierRaceError
from import_pipeline.store.errors import describe_db_error, is_data_rejection, is_transient_db_error


def wrapped(error: Exception) -> sqlalchemy.exc.DBAPIError:
    """`error` as SQLAlchemy raises it."""
    return sqlalchemy.exc.DBAPIError.instance("INSERT ...", {}, error, sqlite3.Error)


@pytest.mark.parametrize(
    ("error", "data", "transient"),
    [
        (psycopg.errors.CharacterNotInRepertoire("NUL"), True, False),  # 22021
        (psycopg.errors.UntranslatableCharacter("\\u0000 in jsonb"), True, False),  # 22P05
        (psycopg.errors.CheckViolation("check"), True, False),  # 23514
        (psycopg.errors.ProgramLimitExceeded("index row size"), True, False),  # 54000
        (psycopg.DataError("NUL bytes"), True, False),  # psycopg's own, no SQLSTATE
        (wrapped(sqlite3.IntegrityError("trigger refused")), True, False),
        (psycopg.errors.UndefinedTable("no table"), False, False),  # 42P01
        (psycopg.errors.InsufficientPrivilege("denied"), False, False),  # 42501
        (psycopg.errors.DiskFull("disk full"), False, False),  # 53100
        (psycopg.errors.InFailedSqlTransaction("aborted"), False, False),  # 25P02
        (wrapped(sqlite3.OperationalError("no such table: reference")), False, False),
        (psycopg.errors.DeadlockDetected("deadlock"), False, True),
        (wrapped(sqlite3.OperationalError("database is locked")), False, True),
        (IdentifierRaceError("race"), False, True),
        (ValueError("a bug, not the database"), False, False),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else None,
)
def test_errors_are_classified(error, data, transient):
    assert is_data_rejection(error) is data
    assert is_transient_db_error(error) is transient


def test_a_description_is_one_short_line():
    error = psycopg.errors.InvalidTextRepresentation(
        'invalid input syntax for type integer: "' + "9" * 10_000 + '"\nDETAIL: more'
    )
    described = describe_db_error(error)
    assert described.startswith("InvalidTextRepresentation [22P02]: invalid input syntax")
    assert described.endswith("… (10,041 characters)")
    assert len(described) < 400
    assert "\n" not in described
    assert describe_db_error(wrapped(sqlite3.IntegrityError("refused"))) == (
        "IntegrityError: refused"
    )
