"""The limits a line's values must keep so that both stores can hold every value that passes.

SQLite holds nearly anything; PostgreSQL refuses a NUL character in text and in
`jsonb`, cannot index a key of more than about 2,700 bytes (a B-tree row takes at most
a third of a page), and a JSON document nested a few hundred levels deep cannot even be
serialised. Validation applies these limits before anything reaches SQL, so a value
that breaks one fails its identifier, enhancement or line with a clear reason instead of
failing its chunk's transaction. The README ("Behaviour worth knowing") lists them.
"""

from collections.abc import Iterable
from typing import Any

MAX_IDENTIFIER_BYTES = 1_000
"""Largest canonical identifier key, in bytes of UTF-8: ``<type>:<identifier>`` as indexed.

The key (for `other` identifiers ``other:["<name>","<identifier>"]``) is the primary
key of `external_identifier`. PostgreSQL refuses B-tree entries over 2,704 bytes, and
compresses them only when it can; 1,000 bytes leaves a margin of more than half for
index overhead, and is far above any real identifier (DOIs of a few dozen
characters). For ASCII identifiers it is 1,000 characters less the ``<type>:`` prefix.
"""

MAX_JSON_DEPTH = 64
"""Deepest nesting of objects and lists in an enhancement's content (the content is level 1).

Real content nests three or four levels (annotations -> annotation -> data -> list);
the JSON serialiser gives up a little past 250, and deep documents are slow to index
and read. 64 is generous and keeps every stored document serialisable.
"""

MIN_INTEGER = -(2**63)
"""Smallest integer accepted where the DESTINY SDK expects one (signed 64-bit)."""

MAX_INTEGER = 2**63 - 1
"""Largest integer accepted where the DESTINY SDK expects one (a PubMed id, a count, a year).

The range of a PostgreSQL `bigint` and of a 64-bit integer in the JSON libraries and
search indexes that read the repository's data (orjson reads a larger whole number as
an inexact float); a larger number is an error in the source, not a value worth keeping.
Numbers inside open-ended content (`raw` data, annotation data) are kept as given.
"""

NUL = "\x00"
"""The one character PostgreSQL text and `jsonb` cannot hold (SQLite takes it)."""

_NUL_ESCAPE = "\\u0000"


def may_hold_nul(text: bytes | str) -> bool:
    r"""Whether a JSON text may decode to a NUL anywhere: a cheap test of the raw line.

    JSON allows a NUL only as the escape ``\u0000``, so a line without that sequence
    holds none and its values need no search; a line with it (rare) is searched.
    """
    if isinstance(text, bytes):
        return _NUL_ESCAPE.encode() in text
    return _NUL_ESCAPE in text


def deeper_than(value: object, levels: int) -> bool:
    """Whether `value` nests objects and lists more than `levels` deep (itself level 1).

    Only containers are visited; strings and numbers cost a type test each.
    """
    if type(value) is dict:
        return levels < 1 or _children_deeper_than(value.values(), levels - 1)
    if type(value) is list:
        return levels < 1 or _children_deeper_than(value, levels - 1)
    return False


def _children_deeper_than(children: Iterable[Any], levels: int) -> bool:
    for child in children:
        kind = type(child)
        if kind is dict:
            if levels < 1 or _children_deeper_than(child.values(), levels - 1):
                return True
        elif kind is list and (levels < 1 or _children_deeper_than(child, levels - 1)):
            return True
    return False


def nul_location(value: object) -> tuple[str | int, ...] | None:
    """The keys and indexes leading to the first text (a key or a string) holding a NUL.

    None when there is none; ``()`` when `value` itself is such a string. Call it on
    values no deeper than `MAX_JSON_DEPTH` (it recurses once per level).
    """
    if type(value) is str:
        return () if NUL in value else None
    if type(value) is dict:
        for key, child in value.items():
            if NUL in key:
                return (key,)
            found = nul_location(child)
            if found is not None:
                return (key, *found)
    elif type(value) is list:
        for index, child in enumerate(value):
            found = nul_location(child)
            if found is not None:
                return (index, *found)
    return None


def identifier_key_too_long(key: str) -> int | None:
    """The key's size in bytes of UTF-8 when over `MAX_IDENTIFIER_BYTES`, else None."""
    if len(key) * 4 <= MAX_IDENTIFIER_BYTES:  # at most 4 bytes a character: surely fits
        return None
    size = len(key.encode())
    return size if size > MAX_IDENTIFIER_BYTES else None
