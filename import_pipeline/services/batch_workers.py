"""Processing one batch's lines in several worker processes, each with its own GIL.

A batch's Python work (parsing, validation, building rows) is bound by one interpreter
lock; worker processes lift that limit. Worker *i* of *n* reads the whole local source
and takes the lines whose bytes hash to *i* (crc32), so repeated lines always meet in
one worker and never race each other; lines that only share some identifiers may race,
and such a race is retried like any other. Each worker writes its lines with the same
pipeline as the single-process path (chunks settled in order, `retrying` / `failed`
marking), on its own connections.
"""

import multiprocessing
import zlib
from collections.abc import Callable
from concurrent.futures import ALL_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass

from import_pipeline.domain.errors import SourceUnreadableError
from import_pipeline.domain.models import ImportBatch
from import_pipeline.domain.parsing import parse_line
from import_pipeline.domain.statuses import ImportBatchStatus
from import_pipeline.references.ingest import ingest_chunk
from import_pipeline.services.chunk_pipeline import BatchReport, ChunkPipeline, TransientBatchError
from import_pipeline.sources import iter_source_lines
from import_pipeline.store.engine import create_db_engine
from import_pipeline.store.errors import describe_db_error


class ShardFailedError(Exception):
    """A worker failed with an error that is not transient; the message says where and why."""


@dataclass(frozen=True)
class ShardTask:
    """What one worker process does: its share of one batch's unsettled lines."""

    database_url: str
    batch: ImportBatch
    settled: frozenset[int]
    shard: int
    shards: int
    chunk_size: int
    final_attempt: bool
    http_max_bytes: int


@dataclass(frozen=True)
class ShardOutcome:
    """What a worker did."""

    lines_processed: int
    race_retries: int
    failure_details: str | None


def run_shard(task: ShardTask) -> ShardOutcome:
    """Process one worker's lines (runs in the worker process)."""
    engine = create_db_engine(task.database_url)
    report = BatchReport(task.batch.id, ImportBatchStatus.STARTED)
    try:
        lines = iter_source_lines(
            task.batch.storage_url,
            task.batch.line_start,
            task.batch.line_end,
            max_bytes=task.http_max_bytes,
        )
        parsed = (
            parse_line(number, text)
            for number, text in lines
            if number not in task.settled and zlib.crc32(text) % task.shards == task.shard
        )
        pipeline = ChunkPipeline(
            engine, task.batch, ingest_chunk, report, final_attempt=task.final_attempt, writers=1
        )
        try:
            pipeline.run(parsed, task.chunk_size)
        except SourceUnreadableError as error:
            report.failure_details = str(error)
    except TransientBatchError:
        raise
    except Exception as error:
        raise ShardFailedError(
            f"batch {task.batch.id} (worker {task.shard + 1} of {task.shards}): "
            f"{describe_db_error(error)}"
        ) from None
    finally:
        engine.dispose()
    return ShardOutcome(report.lines_processed, report.race_retries, report.failure_details)


# While the workers run, `run_shards` calls its `on_wait` at this interval.
WAIT_TICK_SECONDS = 1.0


def run_shards(
    tasks: list[ShardTask], on_wait: Callable[[], None] | None = None
) -> list[ShardOutcome]:
    """Run the tasks in worker processes; after all ended, raise the first error, if any.

    `on_wait` is called about every second until they have (to report progress).
    """
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=len(tasks), mp_context=context) as pool:
        futures = [pool.submit(run_shard, task) for task in tasks]
        while wait(futures, timeout=WAIT_TICK_SECONDS, return_when=ALL_COMPLETED).not_done:
            if on_wait is not None:
                on_wait()
        errors = [future.exception() for future in futures]
    for error in errors:
        if error is not None:
            raise error
    return [future.result() for future in futures]
