"""How far an import has got: a record's lines settled of its total, and batch progress lines.

`RecordProgressReader` reads a record's progress from the store as often as a progress
display asks, re-counting only batches that are still unfinished. `BatchProgressLog`
decides when a batch step says how far it has got: at a steady interval or every tenth
of its lines, whichever comes first.
"""

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from import_pipeline.domain.statuses import RESULT_TERMINAL_STATUSES, ImportResultStatus
from import_pipeline.services.unit_of_work import ImportStore, UnitOfWorkFactory
from import_pipeline.store.imports import unfinished


@dataclass(frozen=True)
class BatchProgress:
    """How far one batch has got: lines settled (skipped ones included) of its total."""

    batch_id: uuid.UUID
    lines_done: int
    total_lines: int | None
    """The batch's line range, blank lines included; None for an unsplit source."""


# Called by a batch's processing whenever more of its lines have settled.
BatchProgressCallback = Callable[[BatchProgress], None]


@dataclass(frozen=True)
class RecordProgress:
    """A record's results so far, by status, and its total number of lines when known."""

    counts: dict[str, int]
    total_lines: int | None
    """Lines the record will settle: None while a batch's size is unknown (not yet
    planned, or an http(s) source). An unfinished batch counts its line range, blank
    lines included; a finished one counts its results."""

    @property
    def settled(self) -> int:
        """Lines with a final result (completed, partially failed or failed)."""
        return sum(self.counts.get(str(status), 0) for status in RESULT_TERMINAL_STATUSES)


class RecordProgressReader:
    """Reads one record's progress; finished batches are counted once and remembered."""

    def __init__(self, units: UnitOfWorkFactory, record_id: uuid.UUID) -> None:
        """Follow the record with `record_id`, reading through `units`."""
        self.units = units
        self.record_id = record_id
        self._finished: dict[uuid.UUID, dict[str, int]] = {}

    def read(self) -> RecordProgress:
        """The record's progress now (one read-only unit of work)."""
        with self.units() as uow:
            return self._read(uow.imports)

    def _read(self, imports: ImportStore) -> RecordProgress:
        counts = {str(status): 0 for status in ImportResultStatus}
        total: int | None = 0
        for batch in imports.list_batches(self.record_id):
            batch_counts = self._finished.get(batch.id)
            if batch_counts is None:
                batch_counts = imports.count_results(batch_id=batch.id)
                if not unfinished(batch):
                    self._finished[batch.id] = batch_counts
            for status in counts:
                counts[status] += batch_counts[status]
            if total is None:
                continue
            if not unfinished(batch):
                total += sum(batch_counts[str(status)] for status in RESULT_TERMINAL_STATUSES)
            else:
                total = None if batch.range_lines is None else total + batch.range_lines
        return RecordProgress(counts, total)


class BatchProgressLog:
    """Says how far a batch has got, every `interval` seconds or tenth of its lines."""

    def __init__(
        self,
        emit: Callable[[str], None],
        *,
        interval: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Report progress through `emit` (a logger's method, say)."""
        self.emit = emit
        self.interval = interval
        self.clock = clock
        self._started = self._last_time = clock()
        self._last_lines = 0

    def update(self, batch: BatchProgress) -> None:
        """Note how far `batch` has got; emit a line when one is due."""
        now = self.clock()
        total = batch.total_lines
        due_by_time = now - self._last_time >= self.interval
        due_by_lines = total is not None and batch.lines_done - self._last_lines >= max(
            1, total // 10
        )
        if batch.lines_done <= self._last_lines or not (due_by_time or due_by_lines):
            return
        self._last_time, self._last_lines = now, batch.lines_done
        rate = batch.lines_done / max(now - self._started, 1e-9)
        of_total = ""
        if total:
            of_total = f" of {total:,} ({min(100.0, 100.0 * batch.lines_done / total):.0f}%)"
        self.emit(
            f"batch {batch.batch_id}: {batch.lines_done:,}{of_total} lines settled, "
            f"{rate:,.0f} lines/s"
        )
