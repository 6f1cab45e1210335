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
