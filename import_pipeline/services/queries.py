"""The read side of imports: records, their summaries and batch summaries, read back.

Each function reads in a transaction of its own on `engine`, as the other services
do, so that the API's routes reach the store only through services.
"""

import datetime
import uuid
from dataclasses import dataclass

from import_pipeline.domain.models import ImportBatch, ImportRecord
from import_pipeline.services.finalise import (
    BatchSummary,
    RecordSummary,
    batch_counts,
    batch_of_record,
    summarise,
    summarise_batch,
)
from import_pipeline.services.unit_of_work import UnitOfWorkFactory


@dataclass(frozen=True)
class RecordReport:
    """A record's summary, and its batches' results counted by status (by batch id)."""

    summary: RecordSummary
    batch_counts: dict[str, dict[str, int]]


def record_summary(units: UnitOfWorkFactory, record_id: uuid.UUID) -> RecordSummary:
    """The record's summary; raises `UnknownRecordError` for an unknown id."""
    with units() as uow:
        imports = uow.imports
        return summarise(imports, record_id, uow.dedup)


def record_report(units: UnitOfWorkFactory, record_id: uuid.UUID) -> RecordReport:
    """The record's summary with its batches' counts, read in one transaction.

    Raises `UnknownRecordError` for an unknown id.
    """
    with units() as uow:
        imports = uow.imports
        summary = summarise(imports, record_id, uow.dedup)
        return RecordReport(summary, batch_counts(imports, summary))


def list_records(units: UnitOfWorkFactory, *, limit: int, offset: int = 0) -> list[ImportRecord]:
    """Up to `limit` records after the first `offset`, newest first."""
    with units() as uow:
        imports = uow.imports
        return imports.list_records(limit=limit, offset=offset)


def batch_summary(
    units: UnitOfWorkFactory, record_id: uuid.UUID, batch_id: uuid.UUID, max_failures: int
) -> BatchSummary:
    """The batch's summary, with up to `max_failures` failure details in line order.

    Raises as `summarise_batch` does (unknown record, or a batch not of that record).
    """
    with units() as uow:
        imports = uow.imports
        return summarise_batch(imports, record_id, batch_id, max_failures)


def batch_with_counts(
    units: UnitOfWorkFactory, record_id: uuid.UUID, batch_id: uuid.UUID
) -> tuple[ImportBatch, dict[str, int]]:
    """The record's batch and its results counted by status, read in one transaction.

    Raises as `finalise.batch_of_record` does (unknown record, or a batch not of it).
    """
    with units() as uow:
        imports = uow.imports
        batch = batch_of_record(imports, record_id, batch_id)
        return batch, imports.count_results(batch_id=batch_id)


def records_with_waiting_batches(
    units: UnitOfWorkFactory,
    registered_before: datetime.datetime,
    *,
    lease_stale_before: datetime.datetime,
) -> list[tuple[ImportRecord, list[uuid.UUID]]]:
    """Open daemon-run records with batches waiting, oldest first (`ImportStore`'s rules)."""
    with units() as uow:
        return uow.imports.records_with_waiting_batches(
            registered_before, lease_stale_before=lease_stale_before
        )
