"""Writing a batch's parsed lines in chunks: one transaction per chunk, settled in order.

Each chunk is one transaction holding both the references and the results of its
lines, so a line's reference and its result are committed together or not at all.
Writer threads commit chunks while the caller's thread parses the next ones. An
identifier race is retried at once, a few times; any other transient database error
marks the chunk's lines `retrying` in a transaction of their own and raises
`TransientBatchError` for the orchestrator to retry the batch (or give up, leaving the
lines `retrying` for a later run).

Used by `batches` (in-process) and by `batch_workers` (one pipeline per worker process).

A chunk that the database refuses for its data (`is_data_rejection`: a NUL, an index
row too large, a violated constraint) is split until the refused lines are alone;
those are `failed` with the database's reason and the rest commits.
"""

import random
import time
import uuid
import zlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field

from import_pipeline.domain.errors import ImportPipelineError
from import_pipeline.domain.models import ImportBatch
from import_pipeline.domain.outcomes import LineOutcome
from import_pipeline.domain.parsing import ParsedLine
from import_pipeline.domain.statuses import ImportBatchStatus, ImportResultStatus
from import_pipeline.references.ingest import IdentifierRaceError
from import_pipeline.services.deduplication import contested_decisions
from import_pipeline.services.unit_of_work import UnitOfWorkFactory
from import_pipeline.store.errors import (
    describe_db_error,
    is_data_rejection,
    is_transient_db_error,
)

# Immediate re-tries of a chunk that lost an identifier race to a concurrent import;
# past them the race is raised as a transient error for the step's retry policy.
RACE_ATTEMPTS = 8
CHUNK_SOURCE_BYTES = 4 * 1024 * 1024
"""Most source bytes in one chunk (besides the chunk size in lines).

A parsed line takes several times its source's size in Python objects, and each writer
holds a chunk in flight and another filling: with lines of about 4 KB (the benchmark's
`rich` shape), chunks of 2,000 lines took the import's largest process to 694 MB; with
this bound, 297 MB, and the import ran 12% faster. 4 MiB is about 2,000 lines of the
typical 2 KB, whose chunks it leaves as they were.
"""


class TransientBatchError(ImportPipelineError):
    """A transient database error interrupted a batch; retrying the batch should succeed."""


@dataclass
class BatchReport:
    """What one attempt at a batch did."""

    batch_id: uuid.UUID
    status: ImportBatchStatus
    lines_processed: int = 0
    lines_skipped: int = 0
    # Non-blank lines of the batch's range read by this attempt, settled ones included:
    # all of the range's when its source was read through (`failure_details` is None).
    lines_read: int = 0
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


def _write_chunk(units: UnitOfWorkFactory, batch: ImportBatch, chunk: Sequence[ParsedLine]) -> int:
    """Ingest a chunk and store its results in one unit of work; retry lost races.

    A line kept apart from a contested identifier's holder gets its `unresolved`
    deduplication decision in the same unit. Returns how many identifier races were
    lost (and retried) on the way.
    """
    batch_id = batch.id
    valid = [line for line in chunk if line.failure is None]
    invalid = [
        LineOutcome(line.line_number, ImportResultStatus.FAILED, failure_details=line.failure)
        for line in chunk
        if line.failure is not None
    ]
    for attempt in range(1, RACE_ATTEMPTS + 1):
        try:
            with units() as uow:
                outcomes = uow.references.ingest(valid) if valid else []
                uow.imports.write_results(batch_id, _outcome_rows([*outcomes, *invalid]))
                contested = contested_decisions(outcomes, batch.import_record_id)
                if contested:
                    uow.dedup.save_decisions(contested)
                uow.commit()
            return attempt - 1
        except IdentifierRaceError:
            if attempt == RACE_ATTEMPTS:
                raise
            time.sleep(random.uniform(0, 0.05 * attempt))  # noqa: S311 (jitter, not crypto)
        except Exception as error:
            if not is_data_rejection(error):
                raise
            return attempt - 1 + _write_around_refused_lines(units, batch, chunk, error)
    raise AssertionError("unreachable")  # pragma: no cover


def _write_around_refused_lines(
    units: UnitOfWorkFactory,
    batch: ImportBatch,
    chunk: Sequence[ParsedLine],
    error: Exception,
) -> int:
    """Write a chunk that the database refused (`error`) in halves, to find the culprits.

    Each half is written on its own through `_write_chunk`, which splits it again if it
    is refused too: what the database accepts commits, and a line refused on its own is
    `failed` with the database's reason. Costs nothing until a chunk is refused; a
    chunk with one such line takes about twice its work, in twenty-odd transactions.
    Returns the identifier races lost on the way.
    """
    if len(chunk) == 1:
        _mark_lines(units, batch.id, chunk, ImportResultStatus.FAILED, describe_db_error(error))
        return 0
    middle = len(chunk) // 2
    halves = (chunk[:middle], chunk[middle:])
    return sum(_write_chunk(units, batch, half) for half in halves)


def _mark_lines(
    units: UnitOfWorkFactory,
    batch_id: uuid.UUID,
    chunk: Sequence[ParsedLine],
    status: ImportResultStatus,
    cause: str,
) -> None:
    verb = "retrying after" if status == ImportResultStatus.RETRYING else "failed:"
    with units() as uow:
        uow.imports.write_results(
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
        uow.commit()


def _mark_retrying(
    units: UnitOfWorkFactory, batch_id: uuid.UUID, chunk: Sequence[ParsedLine], cause: str
) -> None:
    """Mark a chunk's lines `retrying`, if the database lets us.

    In an outage it may not: the lines then stay without a result, which a retry or a
    later run treats alike (it imports every line without a final result).
    """
    try:
        _mark_lines(units, batch_id, chunk, ImportResultStatus.RETRYING, cause)
    except Exception as error:
        if not is_transient_db_error(error):
            raise


def _sharded_chunks(
    lines: Iterator[ParsedLine], size: int, shards: int, max_bytes: int = CHUNK_SOURCE_BYTES
) -> Iterator[tuple[int, list[ParsedLine]]]:
    """Group lines into chunks of `size` lines or `max_bytes` of source, routing by identifier.

    A line goes to the shard of its smallest canonical identifier key, so repeated lines
    (the same identifiers) always meet in one shard and never race each other from two
    writers; lines that only partly share identifiers may, and are retried if they do.
    A chunk closes at whichever bound it reaches first, so that large lines make
    smaller chunks and memory stays bounded whatever the lines weigh.
    """
    buffers: list[list[ParsedLine]] = [[] for _ in range(shards)]
    weights = [0] * shards
    for line in lines:
        if line.identifiers:
            smallest = min(identifier.key for identifier in line.identifiers)
            shard = zlib.crc32(smallest.encode()) % shards  # stable across processes
        else:
            shard = line.line_number % shards
        buffers[shard].append(line)
        weights[shard] += line.source_bytes
        if len(buffers[shard]) >= size or weights[shard] >= max_bytes:
            yield shard, buffers[shard]
            buffers[shard] = []
            weights[shard] = 0
    for shard, buffer in enumerate(buffers):
        if buffer:
            yield shard, buffer


class ChunkPipeline:
    """Writes a batch's chunks from writer threads while the caller's thread parses on.

    Lines are sharded by identifier (`_sharded_chunks`) and each shard has at most one
    chunk in flight, so the writers rarely touch the same identifiers, and Python
    validation and PostgreSQL's work overlap on the machine's cores. A failed chunk's
    lines are marked `retrying` or `failed` before the error is raised, and chunks still
    in flight after an error are settled too.
    """

    def __init__(
        self,
        units: UnitOfWorkFactory,
        batch: ImportBatch,
        report: BatchReport,
        *,
        writers: int,
        on_settled: Callable[[int], None] | None = None,
    ) -> None:
        """Write `batch`'s chunks in units of work from `units`, counting into `report`.

        `on_settled` is called with `report.lines_processed` after each settled chunk.
        """
        self.writers = max(1, writers)
        self.units = units
        self.batch = batch
        self.report = report
        self.on_settled = on_settled

    def run(self, lines: Iterator[ParsedLine], chunk_size: int) -> None:
        """Write every line; a `SourceUnreadableError` comes out after the rest settled."""
        in_flight: dict[int, tuple[Future[int], list[ParsedLine]]] = {}
        with ThreadPoolExecutor(max_workers=self.writers, thread_name_prefix="writer") as pool:
            try:
                try:
                    for shard, chunk in _sharded_chunks(lines, chunk_size, self.writers):
                        if shard in in_flight:
                            self._settle(*in_flight.pop(shard))
                        written = pool.submit(_write_chunk, self.units, self.batch, chunk)
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
            if is_transient_db_error(error):
                _mark_retrying(self.units, self.batch.id, chunk, cause)
                raise TransientBatchError(
                    f"batch {self.batch.id} ({self.batch.storage_url}, {len(chunk)} line(s) "
                    f"from {chunk[0].line_number} to {chunk[-1].line_number}): {cause}"
                ) from error
            _mark_lines(self.units, self.batch.id, chunk, ImportResultStatus.FAILED, cause)
            raise
        self.report.lines_processed += len(chunk)
        if self.on_settled is not None:
            self.on_settled(self.report.lines_processed)
