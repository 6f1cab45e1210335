"""What happened to one source line: the references domain's answer to the import domain."""

import uuid
from typing import NamedTuple

from import_pipeline.domain.statuses import ImportResultStatus


class ContestedIdentifier(NamedTuple):
    """Identifiers a line shared with a reference whose DOI and title contradict it.

    Spec section 3: the line became a reference of its own without them; they stay
    with `held_by`.
    """

    identifier_keys: tuple[str, ...]
    held_by: uuid.UUID


class LineOutcome(NamedTuple):
    """One line's result status, its reference (and whether it was created), and details."""

    line_number: int
    status: ImportResultStatus
    reference_id: uuid.UUID | None = None
    reference_created: bool | None = None
    failure_details: str | None = None
    contested: ContestedIdentifier | None = None
    """Set when the line was kept apart from a reference sharing its identifiers."""
