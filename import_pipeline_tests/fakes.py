"""An in-memory unit of work: the services' port without a database, for unit tests.

`MemoryDatabase` holds records, batches and results; each `MemoryUnitOfWork` works on
a copy and writes it back only on `commit()`, so a test sees exactly what a service
committed. The store keeps the SQL repository's orderings and rules (batches in source
order, records newest first, one result per line, terminal results never rewritten);
what the services under unit test never call raises `NotImplementedError`.
"""

import datetime
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from import_pipeline.domain.models import (
    ImportBatch,
    ImportRecord,
    ImportResult,
    SourceFingerprint,
    utc_now,
)
from import_pipeline.domain.statuses import RESULT_TERMINAL_STATUSES, ImportResultStatus
from import_pipeline.services.unit_of_work import UnitOfWorkFactory

_FAILED = {ImportResultStatus.FAILED, ImportResultStatus.PARTIALLY_FAILED}


@dataclass
class MemoryDatabase:
    """The committed state: records, batches and results by key, and lease holders."""

    records: dict[uuid.UUID, ImportRecord] = field(default_factory=dict)
    batches: dict[uuid.UUID, ImportBatch] = field(default_factory=dict)
    results: dict[tuple[uuid.UUID, int], ImportResult] = field(default_factory=dict)
    leases: dict[uuid.UUID, tuple[str | None, datetime.datetime | None]] = field(
        default_factory=dict
    )
    commits: int = 0

    def copy(self) -> "MemoryDatabase":
        """A working copy (entities are immutable in use: services replace, never mutate)."""
        return MemoryDatabase(
            dict(self.records), dict(self.batches), dict(self.results), dict(self.leases)
        )

    def units(self) -> UnitOfWorkFactory:
        """A factory of units of work on this database: what a service is given."""
        return lambda: MemoryUnitOfWork(self)


class MemoryImportStore:
    """`ImportStore` over a `MemoryDatabase` working copy."""

    def __init__(self, data: MemoryDatabase) -> None:
        """Work on `data`."""
        self.data = data

    # Records

    def add_record(self, record: ImportRecord) -> None:
        """Insert a new record; a duplicate id is refused as a primary key would."""
        if record.id in self.data.records:
            raise KeyError(f"record {record.id} exists")
        self.data.records[record.id] = record

    def get_record(self, record_id: uuid.UUID, *, for_update: bool = False) -> ImportRecord | None:
        """The record, or None."""
        return self.data.records.get(record_id)

    def list_records(self, *, limit: int = 100, offset: int = 0) -> list[ImportRecord]:
        """Records, newest first (ties by id)."""
        ordered = sorted(self.data.records.values(), key=lambda r: r.id)
        ordered.sort(key=lambda r: r.created_at, reverse=True)
        return ordered[offset : offset + limit]

    def save_record(self, record: ImportRecord) -> None:
        """Write the record's status, failure details and update time."""
        stored = self.data.records[record.id]
        self.data.records[record.id] = stored.model_copy(
            update={
                "status": record.status,
                "failure_details": record.failure_details,
                "updated_at": record.updated_at,
            }
        )

    def writer_lease(
        self, record_id: uuid.UUID
    ) -> tuple[str | None, datetime.datetime | None] | None:
        """The lease holder and its last renewal, or None for an unknown record."""
        if record_id not in self.data.records:
            return None
        return self.data.leases.get(record_id, (None, None))

    def set_writer_lease(self, record_id: uuid.UUID, run_id: str, now: datetime.datetime) -> None:
        """Give the lease to `run_id`."""
        self.data.leases[record_id] = (run_id, now)

    def renew_writer_lease(self, record_id: uuid.UUID, run_id: str, now: datetime.datetime) -> bool:
        """Renew `run_id`'s lease; False when another run holds it."""
        if self.data.leases.get(record_id, (None, None))[0] != run_id:
            return False
        self.data.leases[record_id] = (run_id, now)
        return True

    def release_writer_lease(self, record_id: uuid.UUID, run_id: str) -> None:
        """Free the lease if `run_id` holds it."""
        if self.data.leases.get(record_id, (None, None))[0] == run_id:
            self.data.leases[record_id] = (None, None)

    # Batches

    def add_batches(self, batches: Sequence[ImportBatch]) -> None:
        """Insert new batches of known records."""
        for batch in batches:
            if batch.import_record_id not in self.data.records:
                raise KeyError(f"no record {batch.import_record_id} (foreign key)")
            self.data.batches[batch.id] = batch

    def get_batch(self, batch_id: uuid.UUID) -> ImportBatch | None:
        """The batch, or None."""
        return self.data.batches.get(batch_id)

    def list_batches(self, record_id: uuid.UUID) -> list[ImportBatch]:
        """The record's batches in source order, as the SQL repository orders them."""
        return sorted(
            (b for b in self.data.batches.values() if b.import_record_id == record_id),
            key=lambda b: (b.created_at, b.storage_url, b.line_start or 0, b.id),
        )

    def records_with_waiting_batches(
        self,
        registered_before: datetime.datetime,
        limit: int = 100,
        *,
        lease_stale_before: datetime.datetime | None = None,
    ) -> list[tuple[ImportRecord, list[uuid.UUID]]]:
        """Not used by the services under unit test (the sensor's query)."""
        raise NotImplementedError

    def save_batch(self, batch: ImportBatch) -> None:
        """Write the batch's range, status, failure details, source lines and update time."""
        stored = self.data.batches[batch.id]
        self.data.batches[batch.id] = stored.model_copy(
            update={
                "line_start": batch.line_start,
                "line_end": batch.line_end,
                "status": batch.status,
                "failure_details": batch.failure_details,
                "source_lines": batch.source_lines,
                "updated_at": batch.updated_at,
            }
        )

    def save_source_fingerprint(self, batch_id: uuid.UUID, fingerprint: SourceFingerprint) -> None:
        """Record the batch's source fingerprint."""
        stored = self.data.batches[batch_id]
        self.data.batches[batch_id] = stored.model_copy(update={"source_fingerprint": fingerprint})

    # Results

    def _of_batch(self, batch_id: uuid.UUID) -> list[ImportResult]:
        return sorted(
            (r for (b, _line), r in self.data.results.items() if b == batch_id),
            key=lambda r: r.line_number,
        )

    def _of_record(self, record_id: uuid.UUID) -> list[ImportResult]:
        return [
            result for batch in self.list_batches(record_id) for result in self._of_batch(batch.id)
        ]

    def settled_lines(self, batch_id: uuid.UUID) -> set[int]:
        """Lines of the batch with a terminal result."""
        return {
            r.line_number for r in self._of_batch(batch_id) if r.status in RESULT_TERMINAL_STATUSES
        }

    def write_results(self, batch_id: uuid.UUID, results: Iterable[dict[str, Any]]) -> int:
        """Insert or settle results: a terminal result is never rewritten."""
        written = 0
        now = utc_now()
        for item in results:
            key = (batch_id, item["line_number"])
            existing = self.data.results.get(key)
            if existing is not None and existing.status in RESULT_TERMINAL_STATUSES:
                written += 1  # the SQL upsert counts the rows it was given
                continue
            self.data.results[key] = ImportResult(
                id=existing.id if existing else uuid.uuid4(),
                import_batch_id=batch_id,
                created_at=existing.created_at if existing else now,
                updated_at=now,
                **item,
            )
            written += 1
        return written

    def result_statuses(self, batch_id: uuid.UUID) -> list[str]:
        """The distinct result statuses of the batch."""
        return sorted({str(r.status) for r in self._of_batch(batch_id)})

    def count_results(
        self, *, record_id: uuid.UUID | None = None, batch_id: uuid.UUID | None = None
    ) -> dict[str, int]:
        """Counts by status (all six) plus `references_created` / `references_matched`."""
        counts = {str(status): 0 for status in ImportResultStatus}
        counts |= {"references_created": 0, "references_matched": 0}
        for result in self._scoped(record_id, batch_id):
            counts[str(result.status)] += 1
            if result.reference_created is True:
                counts["references_created"] += 1
            elif result.reference_created is False:
                counts["references_matched"] += 1
        return counts

    def _scoped(
        self, record_id: uuid.UUID | None, batch_id: uuid.UUID | None
    ) -> list[ImportResult]:
        if record_id is not None:
            results = self._of_record(record_id)
            return [r for r in results if batch_id is None or r.import_batch_id == batch_id]
        if batch_id is not None:
            return self._of_batch(batch_id)
        return sorted(self.data.results.values(), key=lambda r: (r.import_batch_id, r.line_number))

    def list_results(
        self,
        *,
        record_id: uuid.UUID | None = None,
        batch_id: uuid.UUID | None = None,
        status: ImportResultStatus | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[ImportResult]:
        """Results in source order (batches as `list_batches`, then lines)."""
        results = [
            r for r in self._scoped(record_id, batch_id) if status is None or r.status == status
        ]
        return results[offset:] if limit is None else results[offset : offset + limit]

    def results_after_line(
        self,
        batch_id: uuid.UUID,
        after_line: int,
        limit: int,
        status: ImportResultStatus | None = None,
    ) -> list[ImportResult]:
        """Up to `limit` results of the batch after `after_line`, in line order."""
        results = [
            r
            for r in self._of_batch(batch_id)
            if r.line_number > after_line and (status is None or r.status == status)
        ]
        return results[:limit]

    def failure_samples(self, record_id: uuid.UUID, limit: int = 5) -> list[str]:
        """Failure details of the record's failed lines, in line order."""
        failed = [r for r in self._of_record(record_id) if r.status == ImportResultStatus.FAILED]
        failed.sort(key=lambda r: r.line_number)
        return [str(r.failure_details) for r in failed[:limit]]

    def failed_results(self, record_id: uuid.UUID, limit: int) -> list[ImportResult]:
        """Failed and partially failed results of the record, in line order."""
        failed = [r for r in self._of_record(record_id) if r.status in _FAILED]
        failed.sort(key=lambda r: (r.line_number, r.import_batch_id))
        return failed[:limit]

    def line_failures(self, batch_id: uuid.UUID, limit: int) -> list[str]:
        """Failure details of the batch's failed and partially failed lines."""
        return [
            str(r.failure_details)
            for r in self._of_batch(batch_id)
            if r.status in _FAILED and r.failure_details is not None
        ][:limit]


class MemoryUnitOfWork:
    """A unit of work on a copy of the database, written back only on `commit()`."""

    def __init__(self, database: MemoryDatabase) -> None:
        """Bind to `database`; nothing is copied until the unit is entered."""
        self._database = database
        self._working: MemoryDatabase | None = None

    @property
    def imports(self) -> MemoryImportStore:
        """The store, while the unit is active."""
        if self._working is None:
            raise RuntimeError("the unit of work is not active (use `with`)")
        return MemoryImportStore(self._working)

    def __enter__(self) -> Self:
        """Begin: take a working copy."""
        self._working = self._database.copy()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        """Drop what was not committed."""
        self._working = None

    def commit(self) -> None:
        """Write the working copy back to the database."""
        if self._working is None:
            raise RuntimeError("the unit of work is not active (use `with`)")
        data = self._database
        data.records, data.batches = dict(self._working.records), dict(self._working.batches)
        data.results, data.leases = dict(self._working.results), dict(self._working.leases)
        data.commits += 1
