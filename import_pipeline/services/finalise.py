"""Finalising a record once its batches are done, and summarising it."""

import uuid
from dataclasses import dataclass

import sqlalchemy as sa

from import_pipeline.domain.errors import DomainError
from import_pipeline.domain.models import ImportBatch, ImportRecord
from import_pipeline.domain.statuses import ImportBatchStatus, ImportRecordStatus
from import_pipeline.services.planning import UnknownRecordError
from import_pipeline.store.imports import ImportRepository, unfinished, unit_of_work


class UnfinishedBatchesError(DomainError):
    """A record cannot be finalised while some of its batches are unfinished."""


@dataclass(frozen=True)
class RecordSummary:
    """A record with its batches, result counts and a few failure samples."""

    record: ImportRecord
    batches: list[ImportBatch]
    counts: dict[str, int]
    failure_samples: list[str]


def summarise(imports: ImportRepository, record_id: uuid.UUID) -> RecordSummary:
    """The record's summary; raises `UnknownRecordError` for an unknown id."""
    record = imports.get_record(record_id)
    if record is None:
        raise UnknownRecordError(f"no import record with id {record_id}")
    return RecordSummary(
        record=record,
        batches=imports.list_batches(record_id),
        counts=imports.count_results(record_id=record_id),
        failure_samples=imports.failure_samples(record_id),
    )


def finalise_record(engine: sa.Engine, record_id: uuid.UUID) -> RecordSummary:
    """Complete the record (or fail it when no source could be read) and summarise it.

    Refused with `UnfinishedBatchesError` while a batch is unfinished. A record that is
    already completed or failed is left as it is.
    """
    with unit_of_work(engine) as imports:
        record = imports.get_record(record_id, for_update=True)
        if record is None:
            raise UnknownRecordError(f"no import record with id {record_id}")
        batches = imports.list_batches(record_id)
        pending = [batch for batch in batches if unfinished(batch)]
        if pending:
            raise UnfinishedBatchesError(
                f"import record {record_id} has {len(pending)} unfinished batch(es), "
                f"first {pending[0].id}"
            )
        if record.status in {ImportRecordStatus.CREATED, ImportRecordStatus.STARTED}:
            unreadable = [
                batch
                for batch in batches
                if batch.status == ImportBatchStatus.FAILED and batch.failure_details
            ]
            if batches and len(unreadable) == len(batches):
                reason = "every source was unreadable: " + "; ".join(
                    str(batch.failure_details) for batch in unreadable[:3]
                )
                record = record.moved_to(ImportRecordStatus.FAILED, reason)
            else:
                if record.status == ImportRecordStatus.CREATED:
                    record = record.moved_to(ImportRecordStatus.STARTED)
                record = record.moved_to(ImportRecordStatus.COMPLETED)
            imports.save_record(record)
        return summarise(imports, record_id)


def fail_record(engine: sa.Engine, record_id: uuid.UUID, reason: str) -> None:
    """Mark a record failed with `reason` (a run failed for good); no-op if already final."""
    with unit_of_work(engine) as imports:
        record = imports.get_record(record_id, for_update=True)
        if record is not None and record.status in {
            ImportRecordStatus.CREATED,
            ImportRecordStatus.STARTED,
        }:
            imports.save_record(record.moved_to(ImportRecordStatus.FAILED, reason))
