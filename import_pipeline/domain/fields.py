"""Checks of single JSON fields, typed as the DESTINY SDK's pydantic models type them.

Each check takes the value and its path and raises `FieldError` naming that path when
the value is of the wrong type or out of range (the checks of objects and lists return
them, to go on with). Checks inside a list or an object name fields relative to it;
`each` and `within` add the outer path (``authorship[0].display_name``) on the way out,
so paths cost nothing on the happy path. A check never lets
another exception out, whatever JSON value it is given (a list where a string choice is
expected used to raise `TypeError: unhashable type` inside a batch). Quoted values go
through `excerpt`. The checks follow the SDK's types, a little stricter on scalars as
before: a string is never taken for a number, nor a number for a string.
"""

import datetime
import re
import uuid
from collections.abc import Callable, Iterable, Set
from typing import Any
from urllib.parse import urlsplit

from import_pipeline.domain.errors import InvalidDataError
from import_pipeline.domain.excerpts import excerpt, excerpt_names, type_name
from import_pipeline.domain.limits import (
    MAX_INTEGER,
    MAX_JSON_DEPTH,
    MIN_INTEGER,
    deeper_than,
    nul_location,
)

MAX_URL_LENGTH = 2_083
"""Longest http(s) URL, as the SDK's `HttpUrl` type allows."""


class FieldError(InvalidDataError):
    """A field whose value does not validate; the message is ``<path>: <reason>``."""

    def __init__(self, path: str, reason: str) -> None:
        """The error of the field at `path` (empty for the value itself)."""
        super().__init__(f"{path}: {reason}" if path else reason)
        self.path = path
        self.reason = reason

    def under(self, path: str) -> "FieldError":
        """The same error as seen from `path` up: under ``a[0]``, ``x: ...`` is ``a[0].x: ...``.

        Checks inside a list or an object name fields relative to it, and the caller adds
        the rest on the way out: a path is built only for a field that fails.
        """
        if not path:
            return self
        if not self.path:
            return FieldError(path, self.reason)
        separator = "" if self.path.startswith("[") else "."
        return FieldError(f"{path}{separator}{self.path}", self.reason)


def at(path: str, key: str | int) -> str:
    """The path of a key (``a.b``) or an index (``a[0]``) below `path`."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    if not (key.isidentifier() and len(key) <= 40):
        return f"{path}[{excerpt(key)}]"
    return f"{path}.{key}" if path else key


def each(items: Iterable[Any], path: str, check: Callable[[Any], None]) -> None:
    """Apply `check` to every item of the list at `path`; a failure names the item's index."""
    for index, item in enumerate(items):
        try:
            check(item)
        except FieldError as error:
            raise error.under(f"{path}[{index}]") from None


def within(value: Any, path: str, check: Callable[[Any], None]) -> None:
    """Apply `check` to the value at `path`, naming fields relative to it."""
    try:
        check(value)
    except FieldError as error:
        raise error.under(path) from None


def _wrong_type(path: str, expected: str, value: object) -> FieldError:
    return FieldError(path, f"expected {expected}, got {type_name(value)}")


def string(
    value: object,
    path: str,
    *,
    optional: bool = False,
    non_empty: bool = False,
    pattern: re.Pattern[str] | None = None,
) -> None:
    """A string (`optional`: or null); `non_empty`: not blank; `pattern`: matching it."""
    if value is None and optional:
        return
    if not isinstance(value, str):
        raise _wrong_type(path, "a string", value)
    if non_empty and not value.strip():
        raise FieldError(path, "must not be empty")
    if pattern is not None and not pattern.fullmatch(value):
        raise FieldError(path, f"{excerpt(value)} does not match {pattern.pattern}")


def integer(value: object, path: str, *, optional: bool = True) -> None:
    """A whole number within signed 64 bits (`optional`: or null); never a boolean.

    The JSON parser reads a whole number beyond 64 bits as a float: that is reported
    as out of range too, not as a wrong type.
    """
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _wrong_type(path, "an integer", value)
    if not MIN_INTEGER <= value <= MAX_INTEGER:
        raise FieldError(path, f"{excerpt(value)} is out of range (signed 64 bits)")
    if isinstance(value, float):
        raise _wrong_type(path, "an integer", value)


def number(value: object, path: str, *, optional: bool = False) -> None:
    """A number, whole or not (`optional`: or null); never a boolean."""
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _wrong_type(path, "a number", value)


def boolean(value: object, path: str, *, optional: bool = False) -> None:
    """True or false (`optional`: or null)."""
    if value is None and optional:
        return
    if not isinstance(value, bool):
        raise _wrong_type(path, "true or false", value)


def choice(value: object, allowed: Set[str], path: str, *, optional: bool = False) -> None:
    """One of the `allowed` strings (`optional`: or null), as an SDK `StrEnum` field."""
    if value is None and optional:
        return
    if not isinstance(value, str):
        raise _wrong_type(path, f"one of {sorted(allowed)}", value)
    if value not in allowed:
        raise FieldError(path, f"{excerpt(value)} is not one of {sorted(allowed)}")


def date(value: object, path: str, *, optional: bool = True) -> None:
    """An ISO 8601 date, or a date-time whose first ten characters are one."""
    if value is None and optional:
        return
    if not isinstance(value, str):
        raise _wrong_type(path, "an ISO 8601 date", value)
    try:
        datetime.date.fromisoformat(value[:10])
    except ValueError:
        raise FieldError(path, f"invalid date {excerpt(value)}") from None


def json_object(value: object, path: str, *, optional: bool = False) -> dict[str, Any]:
    """A JSON object (`optional`: or null, read as an empty one)."""
    if value is None and optional:
        return {}
    if not isinstance(value, dict):
        raise _wrong_type(path, "an object", value)
    return value


def json_list(
    value: object, path: str, *, min_length: int = 0, optional: bool = False
) -> list[Any]:
    """A JSON list of at least `min_length` items (`optional`: or null, read as empty)."""
    if value is None and optional:
        return []
    if not isinstance(value, list):
        raise _wrong_type(path, "a list", value)
    if len(value) < min_length:
        raise FieldError(path, f"needs at least {min_length} item(s)")
    return value


def strings(value: object, path: str, *, optional: bool = True) -> None:
    """A list of strings (`optional`: or null)."""
    for index, item in enumerate(json_list(value, path, optional=optional)):
        string(item, at(path, index))


def http_url(value: object, path: str, *, optional: bool = True) -> None:
    """An absolute http(s) URL of at most `MAX_URL_LENGTH` characters (the SDK's `HttpUrl`)."""
    if value is None and optional:
        return
    if not isinstance(value, str):
        raise _wrong_type(path, "an http(s) URL", value)
    text = value
    if len(text) > MAX_URL_LENGTH:
        raise FieldError(path, f"{excerpt(text)} is longer than {MAX_URL_LENGTH:,} characters")
    try:
        parts = urlsplit(text)
        valid = parts.scheme in {"http", "https"} and bool(parts.hostname)
    except ValueError:
        valid = False
    if not valid:
        raise FieldError(path, f"{excerpt(text)} is not an http(s) URL")


def repository_id(value: object, path: str) -> None:
    """A DESTINY reference id: a UUID of version 4 or 7, as text."""
    if not isinstance(value, str):
        raise _wrong_type(path, "a UUID", value)
    try:
        version = uuid.UUID(value).version
    except ValueError:
        raise FieldError(path, f"{excerpt(value)} is not a UUID") from None
    if version not in {4, 7}:
        raise FieldError(path, f"{excerpt(value)} is not a UUID of version 4 or 7")


def known_keys(value: dict[str, Any], allowed: Set[str], path: str, what: str) -> None:
    """Refuse keys outside `allowed`: a misspelt field must not be silently dropped."""
    unknown = value.keys() - allowed
    if unknown:
        raise FieldError(path, f"unknown {what} fields {excerpt_names(unknown)}")


def storable_json(value: object, path: str, *, may_hold_nul: bool) -> None:
    r"""JSON that both stores can hold: at most `MAX_JSON_DEPTH` levels deep, and no NUL.

    NUL characters are searched for in every key and string unless `may_hold_nul` is
    false (the value's line has no ``\u0000`` escape, see `limits.may_hold_nul`).
    """
    if deeper_than(value, MAX_JSON_DEPTH):
        raise FieldError(
            _too_deep_child(value, path),
            f"nests deeper than {MAX_JSON_DEPTH} levels of objects and lists",
        )
    if not may_hold_nul:
        return
    found = nul_location(value)
    if found is not None:
        where = path
        for key in found:
            where = at(where, key)
        raise FieldError(where, "holds a NUL character (\\u0000), which cannot be stored")


def _too_deep_child(value: object, path: str) -> str:
    """The path of the first child of a too deep `value` that is too deep itself."""
    pairs: Iterable[tuple[str | int, object]]
    if isinstance(value, dict):
        pairs = value.items()
    elif isinstance(value, list):
        pairs = enumerate(value)
    else:
        return path
    for key, child in pairs:
        if deeper_than(child, MAX_JSON_DEPTH - 1):
            return at(path, key)
    return path
