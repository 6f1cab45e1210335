"""An in-memory unit of work: the services' port without a database, for unit tests.

`MemoryDatabase` holds records, batches and results, and references with their
identifiers and enhancements; each `MemoryUnitOfWork` works on a copy and applies its
own changes only on `commit()`, so a test sees exactly what a service committed, and
units committing from several threads (a batch's writers) keep each other's writes. The import
store keeps the SQL repository's orderings and rules (batches in source order, records
newest first, one result per line, terminal results never rewritten); the reference
store runs the real merge rule (`references.ingest.ingest_chunk`) over an in-memory
writer. What the services under unit test never call (the check queries, say) raises
`NotImplementedError`.
"""

import dataclasses
import datetime
import threading
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import orjson

from import_pipeline.dedup.normalise import Evidence, reference_evidence
from import_pipeline.dedup.screening import Screen, screen_of
from import_pipeline.dedup.stored import ReferenceDecision, pending
from import_pipeline.dedup.vocabulary import STORED_DETERMINATIONS, DecidedBy
from import_pipeline.domain.models import (
    ImportBatch,
    ImportRecord,
    ImportResult,
    SourceFingerprint,
    utc_now,
)
from import_pipeline.domain.outcomes import LineOutcome
from import_pipeline.domain.parsing import ParsedLine
from import_pipeline.domain.statuses import RESULT_TERMINAL_STATUSES, ImportResultStatus
from import_pipeline.references.ingest import ingest_chunk
from import_pipeline.references.writers import EnhancementRow, IdentifierRow
from import_pipeline.services.unit_of_work import CheckStore, UnitOfWorkFactory

_FAILED = {ImportResultStatus.FAILED, ImportResultStatus.PARTIALLY_FAILED}
_TABLES = (
    "records",
    "batches",
    "results",
    "leases",
    "references",
    "identifiers",
    "enhancements",
    "blocking_keys",
    "evidence",
    "decisions",
)


@dataclass
class MemoryDatabase:
    """The committed state: records, batches and results by key, and lease holders."""

    records: dict[uuid.UUID, ImportRecord] = field(default_factory=dict)
    batches: dict[uuid.UUID, ImportBatch] = field(default_factory=dict)
    results: dict[tuple[uuid.UUID, int], ImportResult] = field(default_factory=dict)
    leases: dict[uuid.UUID, tuple[str | None, datetime.datetime | None]] = field(
        default_factory=dict
    )
    references: dict[uuid.UUID, str] = field(default_factory=dict)  # id -> visibility
    identifiers: dict[str, IdentifierRow] = field(default_factory=dict)
    enhancements: dict[tuple[uuid.UUID, str], EnhancementRow] = field(default_factory=dict)
    blocking_keys: dict[tuple[str, uuid.UUID], bool] = field(default_factory=dict)
    evidence: dict[uuid.UUID, Evidence] = field(default_factory=dict)
    decisions: dict[uuid.UUID, ReferenceDecision] = field(default_factory=dict)
    commits: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def copy(self) -> "MemoryDatabase":
        """A working copy (entities are immutable in use: services replace, never mutate)."""
        with self._lock:
            return self._copy()

    def _copy(self) -> "MemoryDatabase":
        return MemoryDatabase(
            dict(self.records),
            dict(self.batches),
            dict(self.results),
            dict(self.leases),
            dict(self.references),
            dict(self.identifiers),
            dict(self.enhancements),
            dict(self.blocking_keys),
            dict(self.evidence),
            dict(self.decisions),
        )

    def write_back(self, base: "MemoryDatabase", working: "MemoryDatabase") -> None:
        """Apply what changed from `base` to `working` (a unit's own writes), then count it.

        Only the unit's changes are applied, key by key, so units committing from several
        threads keep each other's writes (as a database's transactions on other rows do).
        """
        with self._lock:
            for name in _TABLES:
                table, before, after = (
                    getattr(self, name),
                    getattr(base, name),
                    getattr(working, name),
                )
                for key, value in after.items():
                    if before.get(key) is not value:
                        table[key] = value
                for key in before.keys() - after.keys():
                    table.pop(key, None)
            self.commits += 1

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
        """Write the record's status, failure details, finalise request and update time."""
        stored = self.data.records[record.id]
        self.data.records[record.id] = stored.model_copy(
            update={
                "status": record.status,
                "failure_details": record.failure_details,
                "finalise_requested": record.finalise_requested,
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
        """Write the batch's range and offset, status, failure details, source lines, update time."""
        stored = self.data.batches[batch.id]
        self.data.batches[batch.id] = stored.model_copy(
            update={
                "line_start": batch.line_start,
                "line_end": batch.line_end,
                "source_offset": batch.source_offset,
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

    def created_references(
        self, batch_id: uuid.UUID, after_line: int, limit: int
    ) -> list[tuple[int, uuid.UUID]]:
        """(line, reference id) of the lines after `after_line` that created a reference."""
        found = [
            (r.line_number, r.reference_id)
            for r in self._of_batch(batch_id)
            if r.line_number > after_line and r.reference_created is True and r.reference_id
        ]
        return found[:limit]

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


def memory_evidence(
    data: MemoryDatabase, reference_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Evidence]:
    """The evidence of references in `data`, chosen as the SQL query's caller chooses it."""
    wanted = set(reference_ids)
    contents: dict[uuid.UUID, list[tuple[str, Any]]] = {}
    for (reference_id, content_hash), row in data.enhancements.items():
        if reference_id in wanted and row.enhancement_type == "bibliographic":
            content = orjson.loads(row.content_json)
            contents.setdefault(reference_id, []).append((content_hash, content))
    dois: dict[uuid.UUID, list[str]] = {}
    for row in data.identifiers.values():
        if row.reference_id in wanted and row.identifier_type == "doi":
            dois.setdefault(row.reference_id, []).append(row.identifier)
    return {
        reference_id: reference_evidence(contents.get(reference_id, ()), dois.get(reference_id, ()))
        for reference_id in dict.fromkeys(reference_ids)
        if reference_id in contents or reference_id in dois
    }


class MemoryReferenceWriter:
    """`references.writers.ReferenceWriter` over a `MemoryDatabase` working copy."""

    def __init__(self, data: MemoryDatabase) -> None:
        """Write into `data`."""
        self.data = data

    def lookup_owners(self, keys: Sequence[str]) -> dict[str, uuid.UUID]:
        """The reference owning each key that exists already."""
        found = (self.data.identifiers.get(key) for key in keys)
        return {row.identifier_key: row.reference_id for row in found if row is not None}

    def existing_enhancements(
        self, reference_ids: Sequence[uuid.UUID]
    ) -> set[tuple[uuid.UUID, str]]:
        """(reference id, content hash) of the enhancements these references have."""
        wanted = set(reference_ids)
        return {key for key in self.data.enhancements if key[0] in wanted}

    def evidence_of(self, reference_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Evidence]:
        """The bibliographic evidence of these references."""
        return memory_evidence(self.data, reference_ids)

    def insert_references(self, rows: Sequence[tuple[uuid.UUID, str, Any]]) -> None:
        """Insert new references."""
        for reference_id, visibility, _ in rows:
            self.data.references[reference_id] = visibility

    def insert_identifiers(self, rows: Sequence[IdentifierRow]) -> int:
        """Insert identifiers, skipping keys that exist; return how many were inserted."""
        new = [row for row in rows if row.identifier_key not in self.data.identifiers]
        self.data.identifiers.update((row.identifier_key, row) for row in new)
        return len(new)

    def insert_enhancements(self, rows: Sequence[EnhancementRow], *, new_references: bool) -> None:
        """Insert enhancements, skipping any stored already."""
        for row in rows:
            self.data.enhancements.setdefault((row.reference_id, row.content_hash), row)


class MemoryDedupStore:
    """`DedupStore` over a `MemoryDatabase` working copy, with the SQL store's rules."""

    def __init__(self, data: MemoryDatabase) -> None:
        """Work on `data`."""
        self.data = data

    def evidence_of(self, reference_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Evidence]:
        """Indexed evidence, else computed from the references' enhancements and DOIs."""
        found = {r: self.data.evidence[r] for r in reference_ids if r in self.data.evidence}
        missing = [r for r in reference_ids if r not in found]
        return found | memory_evidence(self.data, missing)

    def content_evidence(self, reference_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Evidence]:
        """Evidence computed from the enhancements."""
        return memory_evidence(self.data, reference_ids)

    def keep_evidence(self, evidence: Mapping[uuid.UUID, Evidence]) -> None:
        """Keep the evidence unless kept already."""
        for reference_id, known in evidence.items():
            self.data.evidence.setdefault(reference_id, known)

    def known_references(self, reference_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        """Those of `reference_ids` that exist."""
        return {r for r in reference_ids if r in self.data.references}

    def add_blocking_keys(self, rows: Sequence[tuple[str, uuid.UUID]]) -> None:
        """Store (key, reference id) pairs."""
        for row in rows:
            self.data.blocking_keys.setdefault(row, True)

    def references_under(self, keys: Sequence[str], per_key: int) -> dict[str, list[uuid.UUID]]:
        """The `per_key` smallest reference ids under each key (ids compared as the SQL does)."""
        wanted = set(keys)
        found: dict[str, list[uuid.UUID]] = {}
        for key, reference_id in self.data.blocking_keys:
            if key in wanted:
                found.setdefault(key, []).append(reference_id)
        return {key: sorted(ids)[:per_key] for key, ids in found.items()}

    def screens_of(
        self, reference_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, tuple[Screen, uuid.UUID]]:
        """The indexed evidence's screens, each with its decision's group."""
        found: dict[uuid.UUID, tuple[Screen, uuid.UUID]] = {}
        for reference_id in reference_ids:
            if reference_id in self.data.evidence:
                decision = self.data.decisions.get(reference_id)
                group = decision.group if decision is not None else reference_id
                found[reference_id] = (screen_of(self.data.evidence[reference_id]), group)
        return found

    def mark_pending(self, reference_ids: Sequence[uuid.UUID], record_id: uuid.UUID) -> None:
        """`pending` decisions for undecided references; a missing record id filled in."""
        now = utc_now()
        for reference_id in reference_ids:
            stored = self.data.decisions.get(reference_id)
            if stored is None:
                self.data.decisions[reference_id] = dataclasses.replace(
                    pending(reference_id, record_id), created_at=now, updated_at=now
                )
            elif stored.record_id is None:
                self.data.decisions[reference_id] = dataclasses.replace(stored, record_id=record_id)

    def record_references(
        self, record_id: uuid.UUID, *, after: uuid.UUID | None, limit: int
    ) -> list[uuid.UUID]:
        """The record's decided or pending references after `after`, in id order."""
        ids = sorted(r for r, d in self.data.decisions.items() if d.record_id == record_id)
        return [r for r in ids if after is None or r > after][:limit]

    def decisions_of(
        self, reference_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, ReferenceDecision]:
        """The stored decisions of `reference_ids`."""
        return {r: self.data.decisions[r] for r in reference_ids if r in self.data.decisions}

    def save_decisions(self, decisions: Sequence[ReferenceDecision]) -> int:
        """Insert or replace decisions; an automatic one never replaces a person's."""
        now = utc_now()
        written = 0
        for decision in decisions:
            if decision.determination not in STORED_DETERMINATIONS:
                raise ValueError(f"not a stored determination: {decision.determination!r}")
            stored = self.data.decisions.get(decision.reference_id)
            if (
                stored is not None
                and stored.decided_by == DecidedBy.PERSON
                and decision.decided_by != DecidedBy.PERSON
            ):
                continue
            self.data.decisions[decision.reference_id] = dataclasses.replace(
                decision,
                record_id=decision.record_id or (stored.record_id if stored else None),
                created_at=stored.created_at if stored else now,
                updated_at=now,
            )
            written += 1
        return written

    def decision_counts(self, record_id: uuid.UUID) -> dict[str, int]:
        """The record's decisions counted by determination (all four, zeros included)."""
        counts = dict.fromkeys(sorted(STORED_DETERMINATIONS), 0)
        for decision in self.data.decisions.values():
            if decision.record_id == record_id:
                counts[decision.determination] += 1
        return counts


class MemoryReferenceStore:
    """`ReferenceStore` over a `MemoryDatabase` working copy, with the real merge rule."""

    def __init__(self, data: MemoryDatabase) -> None:
        """Work on `data`."""
        self.data = data

    def ingest(self, lines: Sequence[ParsedLine]) -> list[LineOutcome]:
        """Create or merge the references of `lines` (`references.ingest.ingest_chunk`)."""
        return ingest_chunk(MemoryReferenceWriter(self.data), lines)

    def count(self) -> int:
        """How many references there are."""
        return len(self.data.references)


class MemoryUnitOfWork:
    """A unit of work on a copy of the database, written back only on `commit()`."""

    def __init__(self, database: MemoryDatabase) -> None:
        """Bind to `database`; nothing is copied until the unit is entered."""
        self._database = database
        self._base: MemoryDatabase | None = None
        self._working: MemoryDatabase | None = None

    @property
    def imports(self) -> MemoryImportStore:
        """The store, while the unit is active."""
        if self._working is None:
            raise RuntimeError("the unit of work is not active (use `with`)")
        return MemoryImportStore(self._working)

    @property
    def references(self) -> MemoryReferenceStore:
        """The reference store, while the unit is active."""
        if self._working is None:
            raise RuntimeError("the unit of work is not active (use `with`)")
        return MemoryReferenceStore(self._working)

    @property
    def dedup(self) -> MemoryDedupStore:
        """The probable-duplicate tables, while the unit is active."""
        if self._working is None:
            raise RuntimeError("the unit of work is not active (use `with`)")
        return MemoryDedupStore(self._working)

    @property
    def checks(self) -> CheckStore:
        """Not faked: the record checks are tested on the SQL stores."""
        raise NotImplementedError("the check queries have no in-memory fake")

    def __enter__(self) -> Self:
        """Begin: take a working copy."""
        self._base = self._database.copy()
        self._working = self._base.copy()
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
        assert self._base is not None
        self._database.write_back(self._base, self._working)
        self._base = self._working.copy()
