"""How failure details quote a value from a source line: a short excerpt, never all of it.

A line may carry a 50 MB DOI or a list of a million keys; its details must stay short
enough to read, store and show. Every message that quotes a value goes through
`excerpt` (and `excerpt_names` for lists of names), so the rule lives here only. Quoted
text is `repr`-escaped, so control characters (a NUL among them) never reach the
details themselves.
"""

from collections.abc import Iterable

EXCERPT_CHARACTERS = 40
"""Characters of a text value that details quote; a longer value is cut after them."""

EXCERPT_NAMES = 5
"""Names (unknown field names, for example) that details list before "and N more"."""

# Integers whose decimal form would be longer than an excerpt are described by size.
_INTEGER_BITS = 128


def first_line(text: object, default: str = "") -> str:
    """The first non-empty line of `text` (an error's message, say), or `default`."""
    return (str(text).strip().splitlines() or [default])[0]


def cut(text: str, limit: int = EXCERPT_CHARACTERS) -> str:
    """`text` itself when at most `limit` characters, else its start and its length.

    For unquoted text (a database's message); `excerpt` quotes a value.
    """
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text):,} characters)"


def excerpt(value: object) -> str:
    """A value as details quote it: ``'10.1000/abc'``, ``'10.1000/aaaa…'… (4,096 characters)``.

    Text is quoted with `repr` and cut after `EXCERPT_CHARACTERS` characters; numbers,
    booleans and null are shown as they are; an object or a list is described by its
    type and size, never printed.
    """
    if isinstance(value, str):
        if len(value) <= EXCERPT_CHARACTERS:
            return repr(value)
        return f"{value[:EXCERPT_CHARACTERS]!r}… ({len(value):,} characters)"
    if isinstance(value, int) and not isinstance(value, bool):
        if value.bit_length() > _INTEGER_BITS:
            return f"an integer of {value.bit_length():,} bits"
        return repr(value)
    if value is None or isinstance(value, bool | float):
        return repr(value)
    if isinstance(value, dict | list):
        return f"{type_name(value)} of {len(value):,} item(s)"
    return type_name(value)


def excerpt_names(names: Iterable[str]) -> str:
    """Names as details list them: ``['colour', 'size']``, at most `EXCERPT_NAMES` of them."""
    listed = sorted(names)
    shown = ", ".join(excerpt(name) for name in listed[:EXCERPT_NAMES])
    more = len(listed) - EXCERPT_NAMES
    return f"[{shown}]" + (f" and {more:,} more" if more > 0 else "")


def type_name(value: object) -> str:
    """The JSON name of a value's type, as the SDK's messages would say it."""
    return _JSON_TYPE_NAMES.get(type(value), type(value).__name__)


_JSON_TYPE_NAMES: dict[type, str] = {
    dict: "object",
    list: "list",
    str: "string",
    bool: "boolean",
    int: "integer",
    float: "number",
    type(None): "null",
}
