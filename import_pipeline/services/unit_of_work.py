"""The unit of work the services run in, and the stores they reach through it.

A service asks a `UnitOfWorkFactory` for a unit of work and, while it is active,
reaches the import records, batches and results through its `imports` store, the
references domain through its `references` store (create and merge references), and
the record-wide check queries through `checks`, and the probable-duplicate tables
(blocking keys and decisions) through `dedup`; it calls `commit()` to keep what it
wrote: leaving the block without committing (or with an error) rolls everything back.
One unit is one transaction, so a chunk's references and its lines' results commit
together. The SQL implementation is `store.unit_of_work`; the tests have an in-memory
one, so that a service can be tested without a database.
"""

import datetime
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, Protocol, Self

from import_pipeline.dedup.normalise import Evidence
from import_pipeline.dedup.screening import Screen
from import_pipeline.dedup.stored import ReferenceDecision
from import_pipeline.domain.findings import (
    BatchResults,
    Found,
    RepeatedLine,
    ResultLine,
    SharedIdentifier,
)
from import_pipeline.domain.models import (
    ImportBatch,
    ImportRecord,
    ImportResult,
    SourceFingerprint,
)
from import_pipeline.domain.outcomes import LineOutcome
from import_pipeline.domain.parsing import ParsedLine
from import_pipeline.domain.statuses import ImportResultStatus


class ImportStore(Protocol):
    """The import tables as the services see them (`store.imports.ImportRepository`)."""

    def add_record(self, record: ImportRecord) -> None:
        """Insert a new record."""
        ...

    def get_record(self, record_id: uuid.UUID, *, for_update: bool = False) -> ImportRecord | None:
        """The record with `record_id`, or None."""
        ...

    def list_records(self, *, limit: int = 100, offset: int = 0) -> list[ImportRecord]:
        """Records, newest first."""
        ...

    def save_record(self, record: ImportRecord) -> None:
        """Write a record's status, failure details, finalise request and update time."""
        ...

    def writer_lease(
        self, record_id: uuid.UUID
    ) -> tuple[str | None, datetime.datetime | None] | None:
        """The record's lease holder and when it last renewed (row locked), or None."""
        ...

    def set_writer_lease(self, record_id: uuid.UUID, run_id: str, now: datetime.datetime) -> None:
        """Give the record's lease to `run_id`, renewed at `now`."""
        ...

    def renew_writer_lease(self, record_id: uuid.UUID, run_id: str, now: datetime.datetime) -> bool:
        """Renew `run_id`'s lease; False when another run holds it now."""
        ...

    def release_writer_lease(self, record_id: uuid.UUID, run_id: str) -> None:
        """Free the record's lease if `run_id` holds it."""
        ...

    def add_batches(self, batches: Sequence[ImportBatch]) -> None:
        """Insert new batches."""
        ...

    def get_batch(self, batch_id: uuid.UUID) -> ImportBatch | None:
        """The batch with `batch_id`, or None."""
        ...

    def list_batches(self, record_id: uuid.UUID) -> list[ImportBatch]:
        """The record's batches in source order."""
        ...

    def records_with_waiting_batches(
        self,
        registered_before: datetime.datetime,
        limit: int = 100,
        *,
        lease_stale_before: datetime.datetime | None = None,
    ) -> list[tuple[ImportRecord, list[uuid.UUID]]]:
        """Open records (created or started) with batches still `created`, oldest first."""
        ...

    def save_batch(self, batch: ImportBatch) -> None:
        """Write a batch's range and offset, status, failure details, source lines, update time."""
        ...

    def save_source_fingerprint(self, batch_id: uuid.UUID, fingerprint: SourceFingerprint) -> None:
        """Record what identifies the batch's source content (see `ImportBatch`)."""
        ...

    def settled_lines(self, batch_id: uuid.UUID) -> set[int]:
        """Line numbers of the batch that already have a terminal result."""
        ...

    def write_results(self, batch_id: uuid.UUID, results: Iterable[dict[str, Any]]) -> int:
        """Insert or settle results of the batch: one row per line, ever."""
        ...

    def result_statuses(self, batch_id: uuid.UUID) -> list[str]:
        """The distinct result statuses of a batch."""
        ...

    def created_references(
        self, batch_id: uuid.UUID, after_line: int, limit: int
    ) -> list[tuple[int, uuid.UUID]]:
        """(line, reference id) of up to `limit` lines after `after_line` that created one."""
        ...

    def count_results(
        self, *, record_id: uuid.UUID | None = None, batch_id: uuid.UUID | None = None
    ) -> dict[str, int]:
        """Counts of results by status (all six statuses, zeros included) and by outcome."""
        ...

    def list_results(
        self,
        *,
        record_id: uuid.UUID | None = None,
        batch_id: uuid.UUID | None = None,
        status: ImportResultStatus | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[ImportResult]:
        """Results of a record or batch in source order, optionally of one status."""
        ...

    def results_after_line(
        self,
        batch_id: uuid.UUID,
        after_line: int,
        limit: int,
        status: ImportResultStatus | None = None,
    ) -> list[ImportResult]:
        """Up to `limit` results of the batch after `after_line`, in line order."""
        ...

    def failure_samples(self, record_id: uuid.UUID, limit: int = 5) -> list[str]:
        """Up to `limit` failure details of the record's failed lines, in line order."""
        ...

    def failed_results(self, record_id: uuid.UUID, limit: int) -> list[ImportResult]:
        """Up to `limit` failed and partially failed results of the record, in line order."""
        ...

    def line_failures(self, batch_id: uuid.UUID, limit: int) -> list[str]:
        """Failure details of the batch's failed and partially failed lines, in line order."""
        ...


class ReferenceStore(Protocol):
    """The references domain as the import services see it (`references.store`)."""

    def ingest(self, lines: Sequence[ParsedLine]) -> list[LineOutcome]:
        """Create or merge the references of `lines` (parsed, none failed), in order.

        Exact duplicates merge by canonical identifier (`references.ingest`). Raises a
        transient error (`IdentifierRaceError`) when a concurrent writer won an
        identifier: roll back and try the lines again.
        """
        ...

    def count(self) -> int:
        """How many references the repository holds."""
        ...


class CheckStore(Protocol):
    """The record-wide queries behind a record's checks (`store.result_checks`)."""

    def results_by_batch(self, record_id: uuid.UUID) -> dict[uuid.UUID, BatchResults]:
        """Each of the record's batches that has results: their count and line bounds."""
        ...

    def results_outside_ranges(
        self, batches: Sequence[ImportBatch], limit: int
    ) -> Found[ResultLine]:
        """Results of `batches` whose line lies outside their batch's range."""
        ...

    def repeated_lines(self, record_id: uuid.UUID, limit: int) -> Found[RepeatedLine]:
        """Source lines with a result in two of the record's batches."""
        ...

    def unsettled_results(self, record_id: uuid.UUID, limit: int) -> Found[ResultLine]:
        """The record's results that are not terminal."""
        ...

    def shared_identifiers(self, record_id: uuid.UUID, limit: int) -> Found[SharedIdentifier]:
        """Identifiers that a reference of the record's results shares with another."""
        ...


class DedupStore(Protocol):
    """The probable-duplicate tables: blocking keys and decisions (`store.dedup`)."""

    def evidence_of(self, reference_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Evidence]:
        """The evidence of each reference with any: as indexed, else from its enhancements."""
        ...

    def content_evidence(self, reference_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Evidence]:
        """The references' evidence normalised from their enhancements (nothing is kept)."""
        ...

    def keep_evidence(self, evidence: Mapping[uuid.UUID, Evidence]) -> None:
        """Keep the references' evidence; evidence kept already is left as it was."""
        ...

    def known_references(self, reference_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        """Those of `reference_ids` that are references of the repository."""
        ...

    def add_blocking_keys(self, rows: Sequence[tuple[str, uuid.UUID]]) -> None:
        """Store (key, reference id) pairs; pairs stored already are left as they are."""
        ...

    def references_under(self, keys: Sequence[str], per_key: int) -> dict[str, list[uuid.UUID]]:
        """The references stored under each key, at most `per_key` (the oldest ids) each."""
        ...

    def screens_of(
        self, reference_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, tuple[Screen, uuid.UUID]]:
        """What the screening reads of each indexed reference, and its group's canonical id.

        The group is the reference itself unless its decision is `duplicate`.
        """
        ...

    def mark_pending(self, reference_ids: Sequence[uuid.UUID], record_id: uuid.UUID) -> None:
        """Give undecided references of `record_id` a `pending` decision.

        A reference decided already keeps its decision (and gets `record_id` if it had none).
        """
        ...

    def record_references(
        self, record_id: uuid.UUID, *, after: uuid.UUID | None, limit: int
    ) -> list[uuid.UUID]:
        """Up to `limit` references of the record's decisions after `after`, in id order."""
        ...

    def decisions_of(
        self, reference_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, ReferenceDecision]:
        """The stored decision of each of `reference_ids` that has one."""
        ...

    def save_decisions(self, decisions: Sequence[ReferenceDecision]) -> int:
        """Insert or replace decisions, never a person's by an automatic one; count written."""
        ...

    def decision_counts(self, record_id: uuid.UUID) -> dict[str, int]:
        """The record's decisions counted by determination (pending included, zeros too)."""
        ...


class UnitOfWork(Protocol):
    """One transaction: the stores while it is active; commits only when asked."""

    @property
    def imports(self) -> ImportStore:
        """The import store, while the unit of work is active."""
        ...

    @property
    def references(self) -> ReferenceStore:
        """The reference store, while the unit of work is active."""
        ...

    @property
    def checks(self) -> CheckStore:
        """The check queries, while the unit of work is active."""
        ...

    @property
    def dedup(self) -> DedupStore:
        """The probable-duplicate tables, while the unit of work is active."""
        ...

    def __enter__(self) -> Self:
        """Begin the transaction."""
        ...

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        """Roll back what was not committed, and end the transaction."""
        ...

    def commit(self) -> None:
        """Keep what was written so far."""
        ...


UnitOfWorkFactory = Callable[[], UnitOfWork]
"""Makes a new unit of work: what a service is given instead of a database engine."""
