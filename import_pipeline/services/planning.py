"""Starting a record and splitting its whole-source batches into line ranges.

A local file is fingerprinted when it is planned (size, modification time, a hash of
its first and last 64 KiB: `sources.fingerprint_file`), before its lines are counted,
and every range of it carries that fingerprint, so that a run which finds the file
changed fails the batch instead of mixing contents (spec section 5). An http(s) source
is not fetched here: it is fingerprinted from its first response, when the batch is
first read (`services.source_guard`), under the storage policy that vets its address
(planning holds the record's lock, and must not wait on a server; some servers, such
as presigned object-store URLs, answer a HEAD request differently from a GET).
"""

import uuid

from import_pipeline.domain.errors import (
    RecordClosedError,
    SourceUnreadableError,
    UnknownBatchError,
    UnknownRecordError,
)
from import_pipeline.domain.models import ImportBatch
from import_pipeline.domain.statuses import ImportBatchStatus, ImportRecordStatus
from import_pipeline.services.unit_of_work import ImportStore, UnitOfWorkFactory
from import_pipeline.sources import count_lines_and_offsets, fingerprint_file, local_path
from import_pipeline.store.imports import unfinished


def line_ranges(total_lines: int, batch_size: int) -> list[tuple[int, int]]:
    """Inclusive 1-based ranges of at most `batch_size` lines covering `total_lines`."""
    return [
        (start, min(start + batch_size - 1, total_lines))
        for start in range(1, total_lines + 1, batch_size)
    ]


def _split(imports: ImportStore, batch: ImportBatch, batch_size: int) -> list[ImportBatch]:
    """Give a whole-source batch its first range and add batches for the others.

    Every range carries the file's fingerprint, taken before its lines are counted: a
    change during the count shows as a change when the batches are read. The count also
    finds where each range starts, so that its batch reads from there.
    """
    try:
        fingerprint = fingerprint_file(batch.storage_url)  # before counting: see the module
        total, offsets = count_lines_and_offsets(batch.storage_url, every=batch_size)
    except SourceUnreadableError as error:
        imports.save_batch(batch.moved_to(ImportBatchStatus.FAILED, str(error)))
        return []
    ranges = line_ranges(total, batch_size) or [(1, 1)]
    offsets = offsets or [0]  # one per range: where its first line starts
    first = batch.model_copy(
        update={
            "line_start": ranges[0][0],
            "line_end": ranges[0][1],
            "source_fingerprint": fingerprint,
            "source_offset": offsets[0],
        }
    )
    imports.save_batch(first)
    imports.save_source_fingerprint(first.id, fingerprint)
    rest = [
        ImportBatch(
            import_record_id=batch.import_record_id,
            storage_url=batch.storage_url,
            line_start=start,
            line_end=end,
            source_fingerprint=fingerprint,
            source_offset=offset,
        )
        for (start, end), offset in zip(ranges[1:], offsets[1:], strict=True)
    ]
    imports.add_batches(rest)
    return [first, *rest]


def start_and_plan(
    units: UnitOfWorkFactory, record_id: uuid.UUID, batch_size: int
) -> list[uuid.UUID]:
    """The ids of the batches `start_and_plan_batches` gives the record."""
    return [batch.id for batch in start_and_plan_batches(units, record_id, batch_size)]


def start_and_plan_batches(
    units: UnitOfWorkFactory, record_id: uuid.UUID, batch_size: int
) -> list[ImportBatch]:
    """Start the record and return its unfinished batches, chunked by line range.

    Local files are split into batches of `batch_size` lines; an http(s) source stays one
    batch, so that it is downloaded once. Idempotent: a re-run finds the ranges made
    before and returns what is unfinished. A completed record has nothing left to do; a
    failed one is refused.
    """
    with units() as uow:
        imports = uow.imports
        record = imports.get_record(record_id, for_update=True)
        if record is None:
            raise UnknownRecordError(f"no import record with id {record_id}")
        if record.status == ImportRecordStatus.FAILED:
            raise RecordClosedError(
                f"import record {record_id} has failed ({record.failure_details}); "
                "register the source again to retry it"
            )
        if record.status == ImportRecordStatus.CREATED:
            imports.save_record(record.moved_to(ImportRecordStatus.STARTED))
        planned: list[ImportBatch] = []
        for batch in imports.list_batches(record_id):
            whole_source = batch.line_start is None and batch.line_end is None
            splittable = local_path(batch.storage_url) is not None
            if whole_source and splittable and batch.status == ImportBatchStatus.CREATED:
                planned.extend(_split(imports, batch, batch_size))
            elif unfinished(batch):
                planned.append(batch)
        uow.commit()
    return planned


def planned_batch(units: UnitOfWorkFactory, batch_id: uuid.UUID) -> ImportBatch:
    """The batch with this id; raise `UnknownBatchError` if there is none."""
    with units() as uow:
        imports = uow.imports
        batch = imports.get_batch(batch_id)
    if batch is None:
        raise UnknownBatchError(f"no import batch with id {batch_id}")
    return batch
