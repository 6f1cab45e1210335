"""What happened to one source line: the references domain's answer to the import domain."""

import uuid
from typing import NamedTuple

from import_pipeline.domain.statuses import ImportResultStatus


class LineOutcome(NamedTuple):
    """One line's result status, its reference (and whether it was created), and details."""

    line_number: int
    status: ImportResultStatus
    reference_id: uuid.UUID | None = None
    reference_created: bool | None = None
    failure_details: str | None = None
