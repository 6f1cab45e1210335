"""The deduplication decisions this package makes, in the DESTINY SDK's vocabulary.

The SDK's `DuplicateDetermination` (destiny_sdk) also has `pending`, `nominated`,
`exact_duplicate`, `unsearchable` and `decoupled`: states of its asynchronous workflow
and of a person's review. An automatic decision here ends in one of the three below, with
the same string values, so a stored decision reads as the SDK's.
"""

from enum import StrEnum


class DuplicateDetermination(StrEnum):
    """What the automatic step decided about a reference."""

    CANONICAL = "canonical"
    """Not a duplicate of any reference found: it stands for itself."""
    DUPLICATE = "duplicate"
    """A duplicate of another reference, the canonical one it names."""
    UNRESOLVED = "unresolved"
    """The evidence is too weak or contradicts itself: a person should decide."""


PENDING = "pending"
"""The SDK's `pending`: a new reference whose decision the step has not made yet (the
step marks a record's new references so before it decides them, in reference order)."""

STORED_DETERMINATIONS = frozenset({PENDING, *(str(value) for value in DuplicateDetermination)})
"""Every value the decisions table holds in its `determination` column."""


class DecidedBy(StrEnum):
    """Who made a stored decision; a person's is never replaced by an automatic one."""

    AUTOMATIC = "automatic"
    """The deduplication step (or the import's contested-identifier rule)."""
    PERSON = "person"
    """A person, through `import-pipeline decide` or the API."""


CONTESTED_IDENTIFIER = "contested_identifier"
"""The `rule` of the decision the import records for a line that shared an identifier
with a reference whose DOI and title contradict it (spec section 3): `unresolved`, kept
by the step until a person decides."""
