"""Processing one batch's lines in several worker processes, each with its own GIL.

A batch's Python work (parsing, validation, building rows) is bound by one interpreter
lock; worker processes lift that limit. Worker *i* of *n* reads the whole local source
and takes the lines whose bytes hash to *i* (crc32), so repeated lines always meet in
one worker and never race each other; lines that only share some identifiers may race,
and such a race is retried like any other. Each worker writes its lines with the same
pipeline as the single-process path (chunks settled in order, `retrying` / `failed`
marking), on its own connections: the task's unit-of-work factory travels to it (the
SQL one pickles as its database's URL, and the worker opens its own engine).

Faults stay small: a worker that dies (killed, out of memory) is a transient fault of
the batch (`TransientBatchError`: a retry imports the lines it left); an interrupt of
the parent (a terminated run) kills the workers at once; and a worker dies with its
parent, so it never writes after the process that started it is gone.
"""

import contextlib
import ctypes
import gc
import multiprocessing
import os
import signal
import sys
import threading
import time
import types
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import cast

from import_pipeline.domain.errors import ImportPipelineError, SourceUnreadableError
from import_pipeline.domain.models import ImportBatch
from import_pipeline.domain.parsing import ParsedLine, parse_line
from import_pipeline.domain.statuses import ImportBatchStatus
from import_pipeline.services.bulk_collection import BULK_THRESHOLDS
from import_pipeline.services.chunk_pipeline import BatchReport, ChunkPipeline, TransientBatchError
from import_pipeline.services.unit_of_work import UnitOfWorkFactory
from import_pipeline.sources import iter_source_lines
from import_pipeline.store.errors import describe_db_error

# While the workers run, `run_shards` calls its `on_wait` at this interval.
WAIT_TICK_SECONDS = 1.0
# A worker checks this often that its parent is alive (besides the kernel's signal).
PARENT_CHECK_SECONDS = 0.5
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


class ShardFailedError(ImportPipelineError):
    """A worker failed with an error that is not transient; the message says where and why."""


@dataclass(frozen=True)
class ShardTask:
    """What one worker process does: its share of one batch's unsettled lines."""

    units: UnitOfWorkFactory
    batch: ImportBatch
    settled: frozenset[int]
    shard: int
    shards: int
    chunk_size: int
    http_max_bytes: int


@dataclass(frozen=True)
class ShardOutcome:
    """What a worker did."""

    lines_processed: int
    race_retries: int
    failure_details: str | None
    lines_read: int
    """Non-blank lines of this worker's share read, settled ones included."""


def run_shard(task: ShardTask) -> ShardOutcome:
    """Process one worker's lines (runs in the worker process)."""
    report = BatchReport(task.batch.id, ImportBatchStatus.STARTED)
    try:
        lines = iter_source_lines(
            task.batch.storage_url,
            task.batch.line_start,
            task.batch.line_end,
            max_bytes=task.http_max_bytes,
            offset=task.batch.source_offset,
        )
        pipeline = ChunkPipeline(task.units, task.batch, report, writers=1)
        parsed = _own_lines(lines, task, report)
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
    return ShardOutcome(
        report.lines_processed, report.race_retries, report.failure_details, report.lines_read
    )


def _own_lines(
    lines: Iterator[tuple[int, bytes]], task: ShardTask, report: BatchReport
) -> Iterator[ParsedLine]:
    """The worker's share of the lines, parsed; each line of it counted in `report.lines_read`.

    Settled lines are counted too (they are in the range) but not parsed again; the
    workers' counts add up to the range's non-blank lines.
    """
    for number, text in lines:
        if zlib.crc32(text) % task.shards == task.shard:
            report.lines_read += 1
            if number not in task.settled:
                yield parse_line(number, text)


def _die_with_parent(parent_pid: int) -> None:
    """End this process as soon as the process that started it is gone, so it never writes after.

    A worker's own parent is the forkserver of that process (`_worker_context`), which
    exits as soon as that process does. On Linux the kernel sends SIGKILL when the
    worker's parent dies; everywhere a watchdog thread also checks that the parent is
    still the one the worker started with and that `parent_pid` still exists, in case
    either died before that was arranged.
    """
    started_with = os.getppid()
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)

    def orphaned() -> bool:
        if os.getppid() != started_with:
            return True
        try:
            os.kill(parent_pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # alive, and another user's: a reused pid, never ours
            return True
        return False

    def watch() -> None:
        while True:
            if orphaned():
                os._exit(1)
            time.sleep(PARENT_CHECK_SECONDS)

    if orphaned():
        os._exit(1)
    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _worker_context() -> (
    multiprocessing.context.ForkServerContext | multiprocessing.context.SpawnContext
):
    """Where worker processes start: a forkserver that has imported this module.

    A spawned worker starts a new interpreter and imports the project: about a second
    per worker, paid again by each batch. The forkserver pays it once per process; each
    worker is then a fork of it, started in milliseconds, with nothing of the parent
    (no connections, no threads). Spawn where there is no forkserver (not on POSIX).
    """
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return context


@contextlib.contextmanager
def _no_main_module_to_rerun() -> Iterator[None]:
    """Start processes without multiprocessing's re-run of `__main__` in each of them.

    `Process.start` tells the child to run the parent's main module again (as
    `__mp_main__`), so that objects defined there can be unpickled. The workers need
    nothing from it (their target is `_worker_main`), and the main module is the
    command's (the CLI, or Dagster's own for a run launched from the UI): re-running
    it imported the CLI's modules anew in every worker of every batch (0.14 s each).
    For the moment of `start`, `__main__` is a bare module, which names nothing to run.
    """
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


def start_worker_server() -> None:
    """Start the workers' forkserver now, so that it has loaded its modules by the first batch.

    Without this it starts when the first batch asks for workers, and that batch waits
    for its imports (about 0.35 s); started while the caller does other work (the CLI
    loads the job and creates the run), it costs the batch nothing. Does nothing where
    there is no forkserver, or when it runs already.
    """
    context = _worker_context()
    if isinstance(context, multiprocessing.context.ForkServerContext):
        from multiprocessing import forkserver  # noqa: PLC0415 (POSIX only)

        forkserver.ensure_running()


def _worker_main(task: ShardTask, results: Connection, parent_pid: int) -> None:
    """A worker process: do the task and send back its outcome or its error.

    What it inherits from its forkserver (the modules) lives as long as it does:
    frozen, the garbage collector does not walk it again at each full collection; and
    the collector keeps the pace of bulk work (`bulk_collection`) for all its life.
    """
    gc.freeze()
    gc.set_threshold(*BULK_THRESHOLDS)
    _die_with_parent(parent_pid)
    try:
        outcome: ShardOutcome | BaseException = run_shard(task)
    except (TransientBatchError, ShardFailedError) as error:
        outcome = error
    results.send(outcome)
    results.close()


def run_shards(
    tasks: list[ShardTask], on_wait: Callable[[], None] | None = None
) -> list[ShardOutcome]:
    """Run the tasks in worker processes; after all ended, raise the first error, if any.

    `on_wait` is called about every second until they have (to report progress). A
    worker that died without an answer raises `TransientBatchError` once the others
    are done; any exception here (an interrupt, an error in `on_wait`) kills them all.
    """
    context = _worker_context()
    workers: list[tuple[multiprocessing.process.BaseProcess, Connection]] = []
    answers: dict[int, ShardOutcome | BaseException] = {}
    try:
        for task in tasks:
            receiver, sender = context.Pipe(duplex=False)
            worker = context.Process(
                target=_worker_main,
                args=(task, sender, os.getpid()),
                name=f"batch-worker-{task.shard + 1}",
                daemon=True,
            )
            with _no_main_module_to_rerun():
                worker.start()
            sender.close()
            workers.append((worker, receiver))
        waiting = {receiver: index for index, (_, receiver) in enumerate(workers)}
        while waiting:
            for ready in wait(list(waiting), timeout=WAIT_TICK_SECONDS):
                index = waiting.pop(cast(Connection, ready))
                answers[index] = _answer(workers[index][1], workers[index][0], tasks[index])
            if waiting and on_wait is not None:
                on_wait()
    except BaseException:
        for process, _ in workers:
            process.kill()
        raise
    finally:
        for process, receiver in workers:
            process.join()
            receiver.close()
    errors = [answer for answer in answers.values() if isinstance(answer, BaseException)]
    if errors:
        raise errors[0]
    return [answer for _, answer in sorted(answers.items())]  # type: ignore[misc]


def _answer(
    receiver: Connection, process: multiprocessing.process.BaseProcess, task: ShardTask
) -> ShardOutcome | BaseException:
    """A worker's outcome or error; a worker that died answers `TransientBatchError`."""
    try:
        answer: ShardOutcome | BaseException = receiver.recv()
    except EOFError:
        process.join()
        return TransientBatchError(
            f"batch {task.batch.id}: worker {task.shard + 1} of {task.shards} died "
            f"(exit code {process.exitcode}); the lines it left are retried"
        )
    return answer
