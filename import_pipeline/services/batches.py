"""Processing one batch: stream its lines, ingest them in chunks, record one result per line.

Each chunk of lines is one transaction (written by a background thread while the next
chunk is parsed) holding both the references and the results
of its lines, so a line's reference and its result are committed together or not at
all. Lines that already have a terminal result (from an earlier attempt or run) are
skipped: a retry resumes where the batch stopped and never writes a second result.

Transient database errors: an identifier race is retried at once, a few times; any
other transient error (deadlock, serialization failure, lost connection...) marks the
chunk's lines `retrying` in a transaction of their own and raises
`TransientBatchError` for the orchestrator's retry policy; on the final attempt the
lines become `failed` with the cause instead and the batch goes on.
"""

import random
import time
import uuid
import zlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field

import sqlalchemy as sa

from import_pipeline.domain.errors import DomainError, SourceUnreadableError
from import_pipeline.domain.models import ImportBatch
from import_pipeline.domain.parsing import ParsedLine, parse_line
from import_pipeline.domain.statuses import (
    ImportBatchStatus,
    ImportResultStatus,
    derive_batch_status,
)
from import_pipeline.references.ingest import IdentifierRaceError, LineOutcome
from import_pipeline.sources import DEFAULT_MAX_BYTES, iter_source_lines, local_path
from import_pipeline.store.errors import describe_db_error, is_transient_db_error
from import_pipeline.store.imports import ImportRepository, unit_of_work

# A batch is shared out to worker processes only with at least this many lines each.
MIN_LINES_PER_WORKER = 10_000

# Immediate re-tries of a chunk that lost an identifier race to a concurrent import;
# past them the race is raised as a transient error for the step's retry policy.
RACE_ATTEMPTS = 8

ChunkIngest = Callable[[sa.Connection, Sequence[ParsedLine]], list[LineOutcome]]


class TransientBatchError(Exception):
    """A transient database error interrupted a batch; retrying the batch should succeed."""


class UnknownBatchError(DomainError):
    """No import batch has the given id."""


@dataclass
class BatchReport:
    """What one attempt at a batch did."""

    batch_id: uuid.UUID
    status: ImportBatchStatus
    lines_processed: int = 0
    lines_skipped: int = 0
    race_retries: int = 0
    seconds: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)
    failure_details: str | None = None


def _outcome_rows(outcomes: Sequence[LineOutcome]) -> list[dict[str, object]]:
    return [
        {
            "line_number": outcome.line_number,
            "status": outcome.status,
            "reference_id": outcome.reference_id,
            "reference_created": outcome.reference_created,
            "failure_details": outcome.failure_details,
        }
        for outcome in outcomes
    ]


def _write_chunk(
    engine: sa.Engine, batch_id: uuid.UUID, chunk: Sequence[ParsedLine], ingest: ChunkIngest
) -> int:
    """Ingest a chunk and store its results in one transaction; retry lost races.

    Returns how many identifier races were lost (and retried) on the way.
    """
    valid = [line for line in chunk if line.failure is None]
    invalid = [
        LineOutcome(line.line_number, ImportResultStatus.FAILED, failure_details=line.failure)
        for line in chunk
        if line.failure is not None
    ]
    for attempt in range(1, RACE_ATTEMPTS + 1):
        try:
            with engine.begin() as connection:
                outcomes = ingest(connection, valid) if valid else []
                ImportRepository(connection).write_results(
                    batch_id, _outcome_rows([*outcomes, *invalid])
                )
            return attempt - 1
        except IdentifierRaceError:
            if attempt == RACE_ATTEMPTS:
                raise
            time.sleep(random.uniform(0, 0.05 * attempt))  # noqa: S311 (jitter, not crypto)
    raise AssertionError("unreachable")  # pragma: no cover


def _mark_lines(
    engine: sa.Engine,
    batch_id: uuid.UUID,
    chunk: Sequence[ParsedLine],
    status: ImportResultStatus,
    cause: str,
) -> None:
    verb = "retrying after" if status == ImportResultStatus.RETRYING else "failed:"
    with unit_of_work(engine) as imports:
        imports.write_results(
            batch_id,
            (
                {
                    "line_number": line.line_number,
                    "status": status,
                    "failure_details": f"Entry {line.line_number}: {verb} {cause}",
                }
                for line in chunk
            ),
        )


def _sharded_chunks(
    lines: Iterator[ParsedLine], size: int, shards: int
) -> Iterator[tuple[int, list[ParsedLine]]]:
    """Group lines into chunks of `size`, routing each line to a shard by identifier.

    A line goes to the shard of its smallest canonical identifier key, so repeated lines
    (the same identifiers) always meet in one shard and never race each other from two
    writers; lines that only partly share identifiers may, and are retried if they do.
    """
    buffers: list[list[ParsedLine]] = [[] for _ in range(shards)]
    for line in lines:
        if line.identifiers:
            smallest = min(identifier.key for identifier in line.identifiers)
            shard = zlib.crc32(smallest.encode()) % shards  # stable across processes
        else:
            shard = line.line_number % shards
        buffers[shard].append(line)
        if len(buffers[shard]) >= size:
            yield shard, buffers[shard]
            buffers[shard] = []
    for shard, buffer in enumerate(buffers):
        if buffer:
            yield shard, buffer


class _ChunkPipeline:
    """Writes a batch's chunks from writer threads while the caller's thread parses on.

    Lines are sharded by identifier (`_sharded_chunks`) and each shard has at most one
    chunk in flight, so the writers rarely touch the same identifiers, and Python
    validation and PostgreSQL's work overlap on the machine's cores. A failed chunk's
    lines are marked `retrying` or `failed` before the error is raised, and chunks still
    in flight after an error are settled too.
    """

    def __init__(
        self,
        engine: sa.Engine,
        batch: ImportBatch,
        ingest: ChunkIngest,
        report: BatchReport,
        *,
        final_attempt: bool,
        writers: int,
    ) -> None:
        self.writers = max(1, writers)
        self.engine = engine
        self.batch = batch
        self.ingest = ingest
        self.report = report
        self.final_attempt = final_attempt

    def run(self, lines: Iterator[ParsedLine], chunk_size: int) -> None:
        """Write every line; a `SourceUnreadableError` comes out after the rest settled."""
        in_flight: dict[int, tuple[Future[int], list[ParsedLine]]] = {}
        with ThreadPoolExecutor(max_workers=self.writers, thread_name_prefix="writer") as pool:
            try:
                try:
                    for shard, chunk in _sharded_chunks(lines, chunk_size, self.writers):
                        if shard in in_flight:
                            self._settle(*in_flight.pop(shard))
                        written = pool.submit(
                            _write_chunk, self.engine, self.batch.id, chunk, self.ingest
                        )
                        in_flight[shard] = (written, chunk)
                finally:
                    for shard in sorted(in_flight):
                        self._settle(*in_flight.pop(shard))
            except BaseException:
                for shard in sorted(in_flight):
                    with suppress(Exception):  # _settle marks the lines before raising
                        self._settle(*in_flight.pop(shard))
                raise

    def _settle(self, written: Future[int], chunk: list[ParsedLine]) -> None:
        """Wait for a chunk's write; on error mark its lines and raise as the policy says."""
        try:
            self.report.race_retries += written.result()
        except Exception as error:
            cause = describe_db_error(error)
            transient = is_transient_db_error(error)
            if transient and not self.final_attempt:
                _mark_lines(self.engine, self.batch.id, chunk, ImportResultStatus.RETRYING, cause)
                raise TransientBatchError(
                    f"batch {self.batch.id} ({self.batch.storage_url}, {len(chunk)} line(s) "
                    f"from {chunk[0].line_number} to {chunk[-1].line_number}): {cause}"
                ) from error
            _mark_lines(self.engine, self.batch.id, chunk, ImportResultStatus.FAILED, cause)
            if not transient:
                raise
        self.report.lines_processed += len(chunk)


def process_batch(
    engine: sa.Engine,
    batch_id: uuid.UUID,
    ingest: ChunkIngest,
    *,
    chunk_size: int,
    final_attempt: bool,
    writers: int = 2,
    workers: int = 1,
    http_max_bytes: int = DEFAULT_MAX_BYTES,
) -> BatchReport:
    """Process the batch's unsettled lines and settle its status.

    Up to `writers` chunks are written at once (threads, one connection each) while this
    thread parses. With `workers` > 1 and a local source, the lines are shared out to
    that many worker processes instead (`batch_workers`), which write through
    `ingest_chunk` directly. Raises `TransientBatchError` (after marking the interrupted lines
    `retrying`) when a transient database error interrupts a chunk and this is not the
    final attempt. Any other error propagates after the interrupted lines are `failed`.
    """
    started_at = time.perf_counter()
    with unit_of_work(engine) as imports:
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

    report = BatchReport(batch_id, ImportBatchStatus.STARTED)
    report.lines_skipped = len(settled)
    workers = _worker_count(batch, workers)
    if workers > 1:
        _process_in_workers(
            engine,
            batch,
            settled,
            report,
            workers=workers,
            chunk_size=chunk_size,
            final_attempt=final_attempt,
        )
        return _settle_batch(engine, batch, report, started_at)
    source_lines = iter_source_lines(
        batch.storage_url, batch.line_start, batch.line_end, max_bytes=http_max_bytes
    )
    parsed = (parse_line(number, text) for number, text in source_lines if number not in settled)
    pipeline = _ChunkPipeline(
        engine, batch, ingest, report, final_attempt=final_attempt, writers=writers
    )
    try:
        pipeline.run(parsed, chunk_size)
    except SourceUnreadableError as error:
        report.failure_details = str(error)
    return _settle_batch(engine, batch, report, started_at)


def _worker_count(batch: ImportBatch, workers: int) -> int:
    """Worker processes worth starting for the batch: each costs about 1.5 s to start.

    Only local sources are shared out (each worker reads the file; an HTTP source would
    be downloaded once per worker), and only ranges of at least `MIN_LINES_PER_WORKER`
    lines per worker.
    """
    if workers <= 1 or local_path(batch.storage_url) is None:
        return 1
    if batch.line_start is None or batch.line_end is None:
        return 1  # an unsplit local source: size unknown here, keep it simple
    lines = batch.line_end - batch.line_start + 1
    return max(1, min(workers, lines // MIN_LINES_PER_WORKER))


def _process_in_workers(
    engine: sa.Engine,
    batch: ImportBatch,
    settled: set[int],
    report: BatchReport,
    *,
    workers: int,
    chunk_size: int,
    final_attempt: bool,
) -> None:
    """Share the batch's unsettled lines out to worker processes and add up their work."""
    from import_pipeline.services.batch_workers import ShardTask, run_shards  # noqa: PLC0415

    url = engine.url.render_as_string(hide_password=False)
    frozen = frozenset(settled)
    tasks = [
        ShardTask(url, batch, frozen, shard, workers, chunk_size, final_attempt, DEFAULT_MAX_BYTES)
        for shard in range(workers)
    ]
    for outcome in run_shards(tasks):
        report.lines_processed += outcome.lines_processed
        report.race_retries += outcome.race_retries
        report.failure_details = report.failure_details or outcome.failure_details


def _settle_batch(
    engine: sa.Engine, batch: ImportBatch, report: BatchReport, started_at: float
) -> BatchReport:
    """Derive the batch's status from its results and record it."""
    batch_id = batch.id
    with unit_of_work(engine) as imports:
        statuses = imports.result_statuses(batch_id)
        if report.failure_details is not None:
            status = ImportBatchStatus.FAILED
        elif not statuses:
            status = ImportBatchStatus.COMPLETED  # a source with no non-blank lines
        else:
            status = derive_batch_status(statuses)
        imports.save_batch(batch.moved_to(status, report.failure_details))
        report.status = status
        report.counts = imports.count_results(batch_id=batch_id)
    report.seconds = time.perf_counter() - started_at
    return report
