"""What a value coming in from outside must be for the import tables to hold it.

Every door that takes a record's fields or a position from outside (the HTTP API's
bodies and query parameters, a landing file's sidecar, a results cursor) checks them
against these rules first, so that a bad value is refused, naming its field, instead of
reaching the database and failing there: the tables' integer columns
(`expected_reference_count`, `line_number`, line ranges) are PostgreSQL `integer`s, and
no text column stores a NUL character.
"""

from typing import Annotated

from pydantic import AfterValidator, Field

# The largest value of the tables' integer columns (PostgreSQL `integer`, 32 bits).
INTEGER_COLUMN_MAX = 2**31 - 1


def no_nul(value: str) -> str:
    """`value` unchanged; raises `ValueError` when it holds a NUL character."""
    if "\x00" in value:
        raise ValueError("must not contain a NUL character")
    return value


Name = Annotated[str, Field(min_length=1, max_length=500), AfterValidator(no_nul)]
"""A short name: a source, a processor, a version (1-500 characters)."""

Text = Annotated[str, Field(max_length=100_000), AfterValidator(no_nul)]
"""Free text: a search string, notes (up to 100,000 characters)."""

ReferenceCount = Annotated[int, Field(ge=-1, le=INTEGER_COLUMN_MAX)]
"""How many references an importer expects; -1 when unknown."""
