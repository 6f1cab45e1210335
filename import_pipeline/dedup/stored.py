"""A deduplication decision as the repository keeps it: one per reference.

`decisions.Decision` is what `decide` answers for a new reference; `ReferenceDecision` is
the stored row: the determination (the SDK's vocabulary, `pending` until the step has
decided), the canonical reference of a duplicate, score and evidence, who decided and
the import record whose new reference it is. Nothing here deletes or rewrites a
reference: a duplicate only points at its canonical reference.
"""

import datetime
import uuid
from dataclasses import dataclass, field
from typing import Any

from import_pipeline.dedup.vocabulary import (
    CONTESTED_IDENTIFIER,
    PENDING,
    DecidedBy,
    DuplicateDetermination,
)


@dataclass(frozen=True, slots=True)
class ReferenceDecision:
    """The stored deduplication decision of one reference."""

    reference_id: uuid.UUID
    determination: str
    """`canonical`, `duplicate`, `unresolved` (`DuplicateDetermination`) or `pending`."""
    canonical_reference_id: uuid.UUID | None = None
    """The canonical reference of a duplicate; None otherwise."""
    score: float = 0.0
    evidence: dict[str, Any] = field(default_factory=dict)
    decided_by: DecidedBy = DecidedBy.AUTOMATIC
    record_id: uuid.UUID | None = None
    """The import record that created the reference (None: decided before any step ran)."""
    created_at: datetime.datetime | None = None
    updated_at: datetime.datetime | None = None

    @property
    def duplicate_of(self) -> uuid.UUID | None:
        """The canonical reference id when this is a duplicate, else None."""
        if self.determination == DuplicateDetermination.DUPLICATE:
            return self.canonical_reference_id
        return None

    @property
    def group(self) -> uuid.UUID:
        """The canonical reference of the group this reference stands in."""
        return self.duplicate_of or self.reference_id

    @property
    def kept_by_the_step(self) -> bool:
        """True when the automatic step must not change it.

        A person's decision, and the import's contested-identifier one: nothing the step
        finds later settles a contested identifier; a person does.
        """
        return (
            self.decided_by == DecidedBy.PERSON or self.evidence.get("rule") == CONTESTED_IDENTIFIER
        )

    def same_outcome(self, other: "ReferenceDecision") -> bool:
        """True when `other` decides the same (timestamps and record aside)."""
        return (
            self.determination,
            self.canonical_reference_id,
            round(self.score, 4),
            self.evidence,
            self.decided_by,
        ) == (
            other.determination,
            other.canonical_reference_id,
            round(other.score, 4),
            other.evidence,
            other.decided_by,
        )


def pending(reference_id: uuid.UUID, record_id: uuid.UUID) -> ReferenceDecision:
    """The placeholder of a new reference of `record_id`, before the step decides it."""
    return ReferenceDecision(reference_id, PENDING, record_id=record_id)
