"""Finalising a record once its batches are done, and summarising it."""

import uuid
from dataclasses import dataclass

from import_pipeline.domain.errors import (
    SOURCE_CHANGED,
    DomainError,
    IllegalTransitionError,
    UnknownBatchError,
    UnknownRecordError,
)
from import_pipeline.domain.models import ImportBatch, ImportRecord, ImportResult, utc_now
from import_pipeline.domain.statuses import (
    RESULT_TERMINAL_STATUSES,
    FinalisedBy,
    ImportBatchStatus,
    ImportRecordStatus,
)
from import_pipeline.services.source_guard import lines_phrase
from import_pipeline.services.unit_of_work import DedupStore, ImportStore, UnitOfWorkFactory
from import_pipeline.store.imports import unfinished


class UnfinishedBatchesError(DomainError):
    """A record cannot be finalised while some of its batches are unfinished."""


@dataclass(frozen=True)
class RecordSummary:
    """A record with its batches, result and decision counts and a few failure samples."""

    record: ImportRecord
    batches: list[ImportBatch]
    counts: dict[str, int]
    failure_samples: list[str]
    decisions: dict[str, int] | None = None
    """Its new references' deduplication decisions by determination (when read)."""


def summarise(
    imports: ImportStore, record_id: uuid.UUID, dedup: DedupStore | None = None
) -> RecordSummary:
    """The record's summary; raises `UnknownRecordError` for an unknown id.

    With `dedup`, it counts the decisions of the record's new references too.
    """
    record = imports.get_record(record_id)
    if record is None:
        raise UnknownRecordError(f"no import record with id {record_id}")
    return RecordSummary(
        record=record,
        batches=imports.list_batches(record_id),
        counts=imports.count_results(record_id=record_id),
        failure_samples=imports.failure_samples(record_id),
        decisions=dedup.decision_counts(record_id) if dedup is not None else None,
    )


def batch_counts(imports: ImportStore, summary: RecordSummary) -> dict[str, dict[str, int]]:
    """Results of each of the summary's batches counted by status, by batch id."""
    return {str(batch.id): imports.count_results(batch_id=batch.id) for batch in summary.batches}


@dataclass(frozen=True)
class BatchSummary:
    """A batch, its results counted by status, and its lines' failure details."""

    batch: ImportBatch
    counts: dict[str, int]
    failure_details: list[str]


def batch_of_record(imports: ImportStore, record_id: uuid.UUID, batch_id: uuid.UUID) -> ImportBatch:
    """The batch `batch_id` of the record `record_id`.

    Raises `UnknownRecordError` for an unknown record and `UnknownBatchError` for a
    batch that does not exist or belongs to another record, so that a batch is never
    read through a record it is not part of.
    """
    if imports.get_record(record_id) is None:
        raise UnknownRecordError(f"no import record with id {record_id}")
    batch = imports.get_batch(batch_id)
    if batch is None or batch.import_record_id != record_id:
        raise UnknownBatchError(f"import record {record_id} has no batch with id {batch_id}")
    return batch


def summarise_batch(
    imports: ImportStore, record_id: uuid.UUID, batch_id: uuid.UUID, max_failures: int
) -> BatchSummary:
    """The batch's summary, with up to `max_failures` failure details in line order.

    Raises as `batch_of_record` does.
    """
    batch = batch_of_record(imports, record_id, batch_id)
    return BatchSummary(
        batch=batch,
        counts=imports.count_results(batch_id=batch_id),
        failure_details=imports.line_failures(batch_id, max_failures),
    )


def finalise_record(
    units: UnitOfWorkFactory, record_id: uuid.UUID, *, by: FinalisedBy = FinalisedBy.RUN
) -> RecordSummary:
    """Complete the record (or fail it when no source could be imported whole) and summarise it.

    `by` says who asks. The run that processed the batches completes only records it
    finalises (`finalised_by == run`) and those the importer asked to finalise while a
    batch was unfinished (`request_finalise`); any other record the importer finalises
    stays `started` for more batches. The importer's call completes any open record, and
    is refused with `IllegalTransitionError` for a failed one. Both are refused with
    `UnfinishedBatchesError` while a batch is unfinished; a completed record is left as
    it is (finalising twice is harmless).
    """
    with units() as uow:
        imports = uow.imports
        record = imports.get_record(record_id, for_update=True)
        if record is None:
            raise UnknownRecordError(f"no import record with id {record_id}")
        if by == FinalisedBy.IMPORTER and record.status == ImportRecordStatus.FAILED:
            raise IllegalTransitionError(
                f"import record {record_id} has failed ({record.failure_details}); "
                "it cannot be finalised"
            )
        batches = imports.list_batches(record_id)
        pending = [batch for batch in batches if unfinished(batch)]
        if pending and by == FinalisedBy.RUN and record.finalised_by == FinalisedBy.IMPORTER:
            return summarise(imports, record_id)  # a batch added meanwhile: its run finishes
        if pending:
            raise UnfinishedBatchesError(
                f"import record {record_id} has {len(pending)} unfinished batch(es), "
                f"first {pending[0].id}"
            )
        left_to_importer = (
            by == FinalisedBy.RUN
            and record.finalised_by == FinalisedBy.IMPORTER
            and not record.finalise_requested
        )
        if not left_to_importer and record.status in {
            ImportRecordStatus.CREATED,
            ImportRecordStatus.STARTED,
        }:
            failures = _source_failures(imports, batches)
            imports.save_record(_finished(record, batches, failures))
        summary = summarise(imports, record_id, uow.dedup)
        uow.commit()
        return summary


def request_finalise(units: UnitOfWorkFactory, record_id: uuid.UUID) -> RecordSummary:
    """The importer's finalise that may come before its batches are done (DESTINY v1).

    With every batch done it is `finalise_record(by=importer)`. Otherwise the record takes
    no more batches from now on and stays `started`, and the run that settles its last
    batch completes it (or fails it, by the same rule). Refused with
    `IllegalTransitionError` for a failed record; asking again is harmless.
    """
    with units() as uow:
        imports = uow.imports
        record = imports.get_record(record_id, for_update=True)
        if record is None:
            raise UnknownRecordError(f"no import record with id {record_id}")
        pending = any(unfinished(batch) for batch in imports.list_batches(record_id))
        if pending and record.status != ImportRecordStatus.FAILED:
            if not record.finalise_requested:
                imports.save_record(
                    record.model_copy(update={"finalise_requested": True, "updated_at": utc_now()})
                )
            summary = summarise(imports, record_id)
            uow.commit()
            return summary
    return finalise_record(units, record_id, by=FinalisedBy.IMPORTER)


@dataclass(frozen=True)
class _SourceFailure:
    """A source (storage URL) that could not be imported whole, and how far it got."""

    phrase: str
    details: str
    lines_imported: int


_CHANGED = "changed since it was registered"
_CUT_OFF = "could not be read to the end"
_UNREADABLE = "could not be read"


def _source_failures(imports: ImportStore, batches: list[ImportBatch]) -> dict[str, _SourceFailure]:
    """The record's sources that have a batch failed for its source, by storage URL.

    A batch fails for its source (unreadable, changed, cut off) with `failure_details`;
    one whose lines all failed has none. Lines imported count every line of the source
    that has its result, in any of its batches.
    """
    failures: dict[str, _SourceFailure] = {}
    for url in dict.fromkeys(batch.storage_url for batch in batches):
        of_source = [batch for batch in batches if batch.storage_url == url]
        failed = [
            batch
            for batch in of_source
            if batch.status == ImportBatchStatus.FAILED and batch.failure_details
        ]
        if not failed:
            continue
        imported = 0
        for batch in of_source:
            counts = imports.count_results(batch_id=batch.id)
            imported += sum(counts[str(status)] for status in RESULT_TERMINAL_STATUSES)
        details = str(failed[0].failure_details)
        if details.startswith(f"{SOURCE_CHANGED}: "):
            phrase, details = _CHANGED, details.removeprefix(f"{SOURCE_CHANGED}: ")
        else:
            phrase = _CUT_OFF if imported else _UNREADABLE
        failures[url] = _SourceFailure(phrase, details, imported)
    return failures


def _finished(
    record: ImportRecord, batches: list[ImportBatch], failures: dict[str, _SourceFailure]
) -> ImportRecord:
    """The record completed, or failed when none of its sources could be imported whole.

    The spec's `failed` (section 2): the import cannot be carried out from its data,
    because every source is unreadable, changed since it was registered, or could not be
    read to the end. The reason says which, per source, with the lines imported.
    """
    sources = len({batch.storage_url for batch in batches})
    if not batches or len(failures) < sources:
        if record.status == ImportRecordStatus.CREATED:
            record = record.moved_to(ImportRecordStatus.STARTED)
        return record.moved_to(ImportRecordStatus.COMPLETED)
    if all(failure.phrase == _UNREADABLE for failure in failures.values()):
        reason = "every source was unreadable: " + "; ".join(
            failure.details for failure in list(failures.values())[:3]
        )
        return record.moved_to(ImportRecordStatus.FAILED, reason)
    parts = []
    for phrase in (_CHANGED, _CUT_OFF, _UNREADABLE):
        group = [failure for failure in failures.values() if failure.phrase == phrase]
        if not group:
            continue
        imported = sum(failure.lines_imported for failure in group)
        parts.append(
            f"{len(group)} of {sources} source(s) {phrase}"
            + (f" ({lines_phrase(imported)} imported)" if imported else "")
            + ": "
            + "; ".join(failure.details for failure in group[:3])
        )
    return record.moved_to(ImportRecordStatus.FAILED, "; ".join(parts))


def failed_lines(units: UnitOfWorkFactory, record_id: uuid.UUID, limit: int) -> list[ImportResult]:
    """Up to `limit` of the record's failed and partially failed lines, in line order."""
    with units() as uow:
        imports = uow.imports
        return imports.failed_results(record_id, limit)


def fail_record(units: UnitOfWorkFactory, record_id: uuid.UUID, reason: str) -> None:
    """Mark a record failed with `reason` (a run failed for good); no-op if already final."""
    with units() as uow:
        imports = uow.imports
        record = imports.get_record(record_id, for_update=True)
        if record is not None and record.status in {
            ImportRecordStatus.CREATED,
            ImportRecordStatus.STARTED,
        }:
            imports.save_record(record.moved_to(ImportRecordStatus.FAILED, reason))
        uow.commit()
