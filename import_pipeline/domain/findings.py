"""What the import checks' queries find: counts, and the first rows they found.

Plain values, shared by the check store's port (`services.unit_of_work.CheckStore`),
its SQL implementation (`store.result_checks`) and the checks (`services.record_checks`).
"""

import uuid
from dataclasses import dataclass
from typing import Generic, NamedTuple, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Found(Generic[T]):
    """What a check query found: how many rows in all, and the first of them, in order."""

    total: int
    first: list[T]


class BatchResults(NamedTuple):
    """A batch's results in aggregate: how many, and their lowest and highest line numbers."""

    results: int
    first_line: int
    last_line: int


class RepeatedLine(NamedTuple):
    """A source line with a result in two batches whose ranges overlap."""

    storage_url: str
    line_number: int
    batch_id: uuid.UUID
    other_batch_id: uuid.UUID


class ResultLine(NamedTuple):
    """One result, as a check shows it."""

    batch_id: uuid.UUID
    line_number: int
    status: str
    failure_details: str | None


class SharedIdentifier(NamedTuple):
    """An identifier that two or more references hold, compared in canonical form."""

    identifier_type: str
    identifier: str
    reference_ids: list[uuid.UUID]
