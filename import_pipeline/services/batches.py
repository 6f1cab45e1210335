"""Processing one batch: stream its lines, ingest them in chunks, record one result per line.

Lines that already have a terminal result (from an earlier attempt or run) are skipped:
a retry resumes where the batch stopped and never writes a second result. The chunks are
written by `chunk_pipeline.ChunkPipeline` (one unit of work per chunk; transient errors
mark lines `retrying`, or `failed` on the final attempt), in this process or, for a
large local batch, in worker processes (`batch_workers`).
"""

import functools
import time
import uuid
from collections.abc import Callable, Iterator
from typing import ParamSpec

from import_pipeline.domain.errors import SourceUnreadableError, UnknownBatchError
from import_pipeline.domain.models import ImportBatch
from import_pipeline.domain.parsing import parse_line
from import_pipeline.domain.statuses import (
    RESULT_TERMINAL_STATUSES,
    FinalisedBy,
    ImportBatchStatus,
    derive_batch_status,
)
from import_pipeline.services.batch_workers import ShardTask, run_shards
from import_pipeline.services.bulk_collection import bulk_collection
from import_pipeline.services.chunk_pipeline import (
    BatchReport,
    ChunkPipeline,
    TransientBatchError,
)
from import_pipeline.services.progress import BatchProgress, BatchProgressCallback
from import_pipeline.services.source_guard import SourceGuard
from import_pipeline.services.storage_policy import StoragePolicy
from import_pipeline.services.unit_of_work import UnitOfWorkFactory
from import_pipeline.sources import DEFAULT_MAX_BYTES, HttpLimits, local_path
from import_pipeline.store.errors import describe_db_error, is_transient_db_error

__all__ = ["BatchReport", "TransientBatchError", "UnknownBatchError", "process_batch"]

P = ParamSpec("P")

# While worker processes write a batch, its results are counted this often for progress.
PROGRESS_COUNT_SECONDS = 5.0
# A batch is shared out to worker processes only with at least this many lines each.
MIN_LINES_PER_WORKER = 10_000


def _transient_db_errors_as_batch_errors(
    function: Callable[P, BatchReport],
) -> Callable[P, BatchReport]:
    """Raise a transient database error met anywhere in `function` as `TransientBatchError`.

    Chunks do so themselves; this covers the rest of a batch (a connection lost while
    the batch is started or settled, say), so that an outage is retried, not fatal.
    """

    @functools.wraps(function)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> BatchReport:
        try:
            return function(*args, **kwargs)
        except TransientBatchError:
            raise
        except Exception as error:
            if is_transient_db_error(error):
                raise TransientBatchError(describe_db_error(error)) from error
            raise

    return guarded


@_transient_db_errors_as_batch_errors
@bulk_collection()
def process_batch(
    units: UnitOfWorkFactory,
    batch_id: uuid.UUID,
    *,
    chunk_size: int,
    writers: int = 2,
    workers: int = 1,
    http_max_bytes: int = DEFAULT_MAX_BYTES,
    http_limits: HttpLimits | None = None,
    storage_policy: StoragePolicy | None = None,
    on_progress: BatchProgressCallback | None = None,
) -> BatchReport:
    """Process the batch's unsettled lines and settle its status.

    Each chunk's references and results are written in one unit of work from `units`
    (references through its `references` store). Up to `writers` chunks are written at
    once (threads, one unit each) while this thread parses. With `workers` > 1 and a
    local source, the lines are shared out to that many worker processes instead
    (`batch_workers`; `units` must then be picklable, as the SQL one is). Raises
    `TransientBatchError` (after marking the interrupted lines `retrying` where the
    database allows) when a transient fault interrupts it: a transient database error
    anywhere in the batch, or a worker process that died. Any other error propagates
    after the interrupted lines are `failed`.

    A batch registered over HTTP (its record is finalised by the importer) is fetched
    under `storage_policy`: the connection is refused unless its peer address is public
    or the host allow-listed, whatever the host resolved to when the batch was
    registered (DNS rebinding), and within `http_limits` (default: the settings).

    The source is held to the batch's fingerprint (`source_guard`): one that changed
    since it was registered fails the batch, and so does one that cannot be read to the
    end, after the lines read before are settled. The garbage collector keeps the pace
    of bulk work meanwhile (`bulk_collection`).
    """
    started_at = time.perf_counter()
    with units() as uow:
        imports = uow.imports
        batch = imports.get_batch(batch_id)
        if batch is None:
            raise UnknownBatchError(f"no import batch with id {batch_id}")
        if batch.status not in {ImportBatchStatus.CREATED, ImportBatchStatus.STARTED}:
            return BatchReport(
                batch_id, batch.status, counts=imports.count_results(batch_id=batch_id)
            )
        if batch.status == ImportBatchStatus.CREATED:
            batch = batch.moved_to(ImportBatchStatus.STARTED)
            imports.save_batch(batch)
        settled = imports.settled_lines(batch_id)
        record = imports.get_record(batch.import_record_id)
        uow.commit()
    untrusted = record is not None and record.finalised_by == FinalisedBy.IMPORTER
    peer_check = storage_policy.check_peer if storage_policy and untrusted else None

    report = BatchReport(batch_id, ImportBatchStatus.STARTED)
    report.lines_skipped = len(settled)
    guard = SourceGuard(units, batch, http_limits)
    if not guard.check_start():
        return _settle_batch(units, batch, guard.finish(report), started_at)
    workers = worker_count(batch, workers)
    if workers > 1:
        _process_in_workers(
            units,
            batch,
            settled,
            report,
            workers=workers,
            chunk_size=chunk_size,
            on_progress=on_progress,
        )
        return _settle_batch(units, batch, guard.finish(report), started_at)
    source_lines = _counted(guard.lines(max_bytes=http_max_bytes, peer_check=peer_check), report)
    parsed = (parse_line(number, text) for number, text in source_lines if number not in settled)
    on_settled = None
    if on_progress is not None:
        progress = on_progress

        def on_settled(processed: int) -> None:
            progress(BatchProgress(batch_id, report.lines_skipped + processed, batch.range_lines))

    pipeline = ChunkPipeline(
        units,
        batch,
        report,
        writers=writers,
        on_settled=on_settled,
    )
    try:
        pipeline.run(parsed, chunk_size)
    except SourceUnreadableError as error:
        report.failure_details = str(error)
    return _settle_batch(units, batch, guard.finish(report), started_at)


def _counted(
    lines: Iterator[tuple[int, bytes]], report: BatchReport
) -> Iterator[tuple[int, bytes]]:
    """The source lines, each counted in `report.lines_read` as it is read."""
    for line in lines:
        report.lines_read += 1
        yield line


def worker_count(batch: ImportBatch, workers: int) -> int:
    """Worker processes worth starting for the batch, of at most `workers`.

    Only local sources are shared out (each worker reads the file; an HTTP source would
    be downloaded once per worker), and only ranges of at least `MIN_LINES_PER_WORKER`
    lines per worker (a worker's share must outweigh its start and its own reading).
    """
    if workers <= 1 or local_path(batch.storage_url) is None:
        return 1
    if batch.range_lines is None:
        return 1  # an unsplit local source: size unknown here, keep it simple
    return max(1, min(workers, batch.range_lines // MIN_LINES_PER_WORKER))


def _process_in_workers(
    units: UnitOfWorkFactory,
    batch: ImportBatch,
    settled: set[int],
    report: BatchReport,
    *,
    workers: int,
    chunk_size: int,
    on_progress: BatchProgressCallback | None,
) -> None:
    """Share the batch's unsettled lines out to worker processes and add up their work.

    Progress is read from the store while they run (the workers write their results).
    """
    frozen = frozenset(settled)
    tasks = [
        ShardTask(units, batch, frozen, shard, workers, chunk_size, DEFAULT_MAX_BYTES)
        for shard in range(workers)
    ]
    on_wait = None
    if on_progress is not None:
        progress = on_progress
        latest = BatchProgress(batch.id, len(settled), batch.range_lines)
        counted_at = float("-inf")

        def on_wait() -> None:
            # Counting the batch's results costs a query: at most every few seconds; in
            # between the last count is passed on (the callback has checks of its own).
            nonlocal latest, counted_at
            now = time.monotonic()
            if now - counted_at >= PROGRESS_COUNT_SECONDS:
                with units() as uow:
                    counts = uow.imports.count_results(batch_id=batch.id)
                done = sum(counts[str(status)] for status in RESULT_TERMINAL_STATUSES)
                latest, counted_at = BatchProgress(batch.id, done, batch.range_lines), now
            progress(latest)

    for outcome in run_shards(tasks, on_wait):
        report.lines_processed += outcome.lines_processed
        report.race_retries += outcome.race_retries
        report.lines_read += outcome.lines_read
        report.failure_details = report.failure_details or outcome.failure_details


def _settle_batch(
    units: UnitOfWorkFactory, batch: ImportBatch, report: BatchReport, started_at: float
) -> BatchReport:
    """Derive the batch's status from its results and its source's reading; record it.

    A range read through also records how many non-blank lines it holds (`source_lines`),
    which the record's checks hold its results to.
    """
    batch_id = batch.id
    read_through = report.failure_details is None
    with units() as uow:
        imports = uow.imports
        status = derive_batch_status(
            imports.result_statuses(batch_id), source_read=True, source_failed=not read_through
        )
        settled = batch.moved_to(status, report.failure_details)
        imports.save_batch(
            settled.model_copy(update={"source_lines": report.lines_read if read_through else None})
        )
        report.status = status
        report.counts = imports.count_results(batch_id=batch_id)
        uow.commit()
    report.seconds = time.perf_counter() - started_at
    return report
