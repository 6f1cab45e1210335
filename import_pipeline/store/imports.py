"""The import repository: ImportRecord, ImportBatch and ImportResult rows <-> domain objects.

Every method runs on the connection (and transaction) the repository was built with;
`unit_of_work` opens one, commits when the block ends cleanly and rolls back otherwise.
"""

import datetime
import functools
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from import_pipeline.domain.models import (
    ImportBatch,
    ImportRecord,
    ImportResult,
    SourceFingerprint,
    utc_now,
)
from import_pipeline.domain.statuses import (
    RESULT_TERMINAL_STATUSES,
    FinalisedBy,
    ImportBatchStatus,
    ImportResultStatus,
    RunBy,
)
from import_pipeline.store.bulk import insert_staged
from import_pipeline.store.tables import import_batch, import_record, import_result

_TERMINAL = sorted(str(status) for status in RESULT_TERMINAL_STATUSES)
# Inlined constants (our own enum values, not input): executemany cannot expand IN lists.
_UNSETTLED_ROW = sa.and_(
    *(import_result.c.status != sa.literal_column(f"'{status}'") for status in _TERMINAL)
)


def _result_upsert(statement: Any) -> Any:
    """The result upsert, on either database: a row per line, a terminal one never rewritten.

    `statement` is the dialect's INSERT of `import_result` (rows, or a SELECT of them).
    """
    excluded = statement.excluded
    return statement.on_conflict_do_update(
        index_elements=["import_batch_id", "line_number"],
        set_={
            name: excluded[name]
            for name in (
                "status",
                "reference_id",
                "reference_created",
                "failure_details",
                "updated_at",
            )
        },
        where=_UNSETTLED_ROW,
    )


_STAGING_TABLE = "import_result_staging"
_STAGED = (
    ("line_number", "int4"),
    ("status", "varchar"),
    ("reference_id", "uuid"),
    ("reference_created", "bool"),
    ("failure_details", "text"),
)
"""The columns of a result that vary from line to line, staged by COPY (PostgreSQL)."""


@functools.cache
def _postgres_result_upsert(dialect: sa.Dialect) -> str:
    """`_result_upsert` of the staged rows, with the batch and the time as parameters.

    Compiled once; its placeholders are psycopg's (`%(name)s`, as SQLAlchemy writes them).
    """
    varying = [name for name, _ in _STAGED]
    table = sa.table(_STAGING_TABLE, *(sa.column(name) for name in varying))
    now = sa.bindparam("now", type_=import_result.c.created_at.type)
    rows = sa.select(
        sa.bindparam("batch_id", type_=import_result.c.import_batch_id.type),
        *(table.c[name] for name in varying),
        now,
        now,
    )
    names = ["import_batch_id", *varying, "created_at", "updated_at"]
    statement = _result_upsert(postgresql.insert(import_result).from_select(names, rows))
    return str(statement.compile(dialect=dialect))


class ImportRepository:
    """Reads and writes the import tables on one connection."""

    def __init__(self, connection: sa.Connection) -> None:
        """Bind the repository to `connection` (whose transaction the caller owns)."""
        self.connection = connection

    # Records ---------------------------------------------------------------------------

    def add_record(self, record: ImportRecord) -> None:
        """Insert a new record."""
        self.connection.execute(sa.insert(import_record), record.model_dump())

    def get_record(self, record_id: uuid.UUID, *, for_update: bool = False) -> ImportRecord | None:
        """The record with `record_id`, or None."""
        query = sa.select(import_record).where(import_record.c.id == record_id)
        if for_update and self.connection.dialect.name == "postgresql":
            query = query.with_for_update()
        row = self.connection.execute(query).mappings().first()
        return ImportRecord.model_validate(dict(row)) if row else None

    def list_records(self, *, limit: int = 100, offset: int = 0) -> list[ImportRecord]:
        """Records, newest first."""
        rows = self.connection.execute(
            sa.select(import_record)
            .order_by(import_record.c.created_at.desc(), import_record.c.id)
            .limit(limit)
            .offset(offset)
        ).mappings()
        return [ImportRecord.model_validate(dict(row)) for row in rows]

    def save_record(self, record: ImportRecord) -> None:
        """Write a record's status, failure details, finalise request and update time."""
        self.connection.execute(
            sa.update(import_record)
            .where(import_record.c.id == record.id)
            .values(
                status=record.status,
                failure_details=record.failure_details,
                finalise_requested=record.finalise_requested,
                updated_at=record.updated_at,
            )
        )

    # The writer lease (services.writer_lease) -------------------------------------------

    def writer_lease(
        self, record_id: uuid.UUID
    ) -> tuple[str | None, datetime.datetime | None] | None:
        """The record's lease holder and when it last renewed (row locked), or None."""
        query = sa.select(import_record.c.writer_run_id, import_record.c.writer_seen_at).where(
            import_record.c.id == record_id
        )
        if self.connection.dialect.name == "postgresql":
            query = query.with_for_update()
        row = self.connection.execute(query).first()
        return (row[0], row[1]) if row else None

    def set_writer_lease(self, record_id: uuid.UUID, run_id: str, now: datetime.datetime) -> None:
        """Give the record's lease to `run_id`, renewed at `now`."""
        self.connection.execute(
            sa.update(import_record)
            .where(import_record.c.id == record_id)
            .values(writer_run_id=run_id, writer_seen_at=now)
        )

    def renew_writer_lease(self, record_id: uuid.UUID, run_id: str, now: datetime.datetime) -> bool:
        """Renew `run_id`'s lease; False when another run holds it now."""
        result = self.connection.execute(
            sa.update(import_record)
            .where(import_record.c.id == record_id, import_record.c.writer_run_id == run_id)
            .values(writer_seen_at=now)
        )
        return result.rowcount == 1

    def release_writer_lease(self, record_id: uuid.UUID, run_id: str) -> None:
        """Free the record's lease if `run_id` holds it."""
        self.connection.execute(
            sa.update(import_record)
            .where(import_record.c.id == record_id, import_record.c.writer_run_id == run_id)
            .values(writer_run_id=None, writer_seen_at=None)
        )

    # Batches ---------------------------------------------------------------------------

    def add_batches(self, batches: Sequence[ImportBatch]) -> None:
        """Insert new batches."""
        if batches:
            self.connection.execute(
                sa.insert(import_batch), [_batch_row(batch) for batch in batches]
            )

    def get_batch(self, batch_id: uuid.UUID) -> ImportBatch | None:
        """The batch with `batch_id`, or None."""
        row = (
            self.connection.execute(sa.select(import_batch).where(import_batch.c.id == batch_id))
            .mappings()
            .first()
        )
        return ImportBatch.model_validate(dict(row)) if row else None

    def list_batches(self, record_id: uuid.UUID) -> list[ImportBatch]:
        """The record's batches in source order."""
        rows = self.connection.execute(
            sa.select(import_batch)
            .where(import_batch.c.import_record_id == record_id)
            .order_by(
                import_batch.c.created_at,
                import_batch.c.storage_url,
                import_batch.c.line_start,
                import_batch.c.id,
            )
        ).mappings()
        return [ImportBatch.model_validate(dict(row)) for row in rows]

    def records_with_waiting_batches(
        self,
        registered_before: datetime.datetime,
        limit: int = 100,
        *,
        lease_stale_before: datetime.datetime | None = None,
    ) -> list[tuple[ImportRecord, list[uuid.UUID]]]:
        """Open records (created or started) with batches still `created`, oldest first.

        Only records the daemon runs (`run_by == daemon`): a record that the `import`
        command registered is that command's own, even after the command died. A batch
        of a record the run finalises counts only when it was registered before
        `registered_before`, so that a user who registers a record and runs it at once
        (`dagster job execute`) is not raced by a sensor. Batches of records the
        importer finalises (the HTTP API) count at once: nothing else will run them.
        With `lease_stale_before`, a record whose writer lease was renewed since then
        (a run is writing it, perhaps from another Dagster instance) is left out.
        """
        rows = self.connection.execute(
            sa.select(import_batch.c.import_record_id, import_batch.c.id)
            .join(import_record, import_record.c.id == import_batch.c.import_record_id)
            .where(
                import_batch.c.status == ImportBatchStatus.CREATED,
                sa.or_(
                    import_batch.c.created_at < registered_before,
                    import_record.c.finalised_by == FinalisedBy.IMPORTER,
                ),
                import_record.c.status.in_(["created", "started"]),
                import_record.c.run_by == RunBy.DAEMON,
                sa.or_(
                    import_record.c.writer_seen_at.is_(None),
                    import_record.c.writer_seen_at < (lease_stale_before or utc_now()),
                ),
            )
            .order_by(import_batch.c.created_at)
        ).all()
        waiting: dict[uuid.UUID, list[uuid.UUID]] = {}
        for record_id, batch_id in rows:
            waiting.setdefault(record_id, []).append(batch_id)
        found = []
        for record_id in list(waiting)[:limit]:
            record = self.get_record(record_id)
            if record is not None:
                found.append((record, waiting[record_id]))
        return found

    def save_batch(self, batch: ImportBatch) -> None:
        """Write a batch's range and offset, status, failure details, source lines, update time."""
        self.connection.execute(
            sa.update(import_batch)
            .where(import_batch.c.id == batch.id)
            .values(
                line_start=batch.line_start,
                line_end=batch.line_end,
                source_offset=batch.source_offset,
                status=batch.status,
                failure_details=batch.failure_details,
                source_lines=batch.source_lines,
                updated_at=batch.updated_at,
            )
        )

    def save_source_fingerprint(self, batch_id: uuid.UUID, fingerprint: SourceFingerprint) -> None:
        """Record what identifies the batch's source content (see `ImportBatch`).

        Kept apart from `save_batch`, which writes a batch's progress: a batch read
        before its fingerprint was recorded must not write it back as None.
        """
        self.connection.execute(
            sa.update(import_batch)
            .where(import_batch.c.id == batch_id)
            .values(source_fingerprint=fingerprint.model_dump(mode="json"))
        )

    # Results ---------------------------------------------------------------------------

    def settled_lines(self, batch_id: uuid.UUID) -> set[int]:
        """Line numbers of the batch that already have a terminal result."""
        rows = self.connection.execute(
            sa.select(import_result.c.line_number).where(
                import_result.c.import_batch_id == batch_id,
                import_result.c.status.in_(_TERMINAL),
            )
        )
        return set(rows.scalars())

    def write_results(self, batch_id: uuid.UUID, results: Iterable[dict[str, Any]]) -> int:
        """Insert or settle results of the batch: one row per line, ever.

        Each item has `line_number`, `status` and optionally `reference_id`,
        `reference_created`, `failure_details`. An existing non-terminal row
        (`retrying`, `started`) is updated in place; a terminal row is never touched.
        Returns the number of rows written.
        """
        now = utc_now()
        if self.connection.dialect.name == "postgresql":
            return self._write_results_staged(batch_id, results, now)
        rows = [
            {
                "import_batch_id": batch_id,
                "reference_id": None,
                "reference_created": None,
                "failure_details": None,
                "created_at": now,
                "updated_at": now,
                "id": uuid.uuid4(),
                **item,
            }
            for item in results
        ]
        if rows:
            self.connection.execute(_result_upsert(sqlite.insert(import_result)), rows)
        return len(rows)

    def _write_results_staged(
        self, batch_id: uuid.UUID, results: Iterable[dict[str, Any]], now: datetime.datetime
    ) -> int:
        """The upsert on PostgreSQL: the rows staged by COPY (`bulk.insert_staged`), one INSERT."""
        rows = (
            (
                item["line_number"],
                item["status"],
                item.get("reference_id"),
                item.get("reference_created"),
                item.get("failure_details"),
            )
            for item in results
        )
        return insert_staged(
            self.connection,
            _STAGING_TABLE,
            _STAGED,
            rows,
            then=_postgres_result_upsert(self.connection.dialect),
            params={"batch_id": batch_id, "now": now},
        )

    def result_statuses(self, batch_id: uuid.UUID) -> list[str]:
        """The distinct result statuses of a batch."""
        rows = self.connection.execute(
            sa.select(import_result.c.status)
            .where(import_result.c.import_batch_id == batch_id)
            .distinct()
        )
        return list(rows.scalars())

    def created_references(
        self, batch_id: uuid.UUID, after_line: int, limit: int
    ) -> list[tuple[int, uuid.UUID]]:
        """(line, reference id) of up to `limit` lines after `after_line` that created one.

        One range scan of the (batch, line) index, as `results_after_line`.
        """
        rows = self.connection.execute(
            sa.select(import_result.c.line_number, import_result.c.reference_id)
            .where(
                import_result.c.import_batch_id == batch_id,
                import_result.c.line_number > after_line,
                import_result.c.reference_created.is_(True),
            )
            .order_by(import_result.c.line_number)
            .limit(limit)
        )
        return [(int(line), reference_id) for line, reference_id in rows]

    def count_results(
        self, *, record_id: uuid.UUID | None = None, batch_id: uuid.UUID | None = None
    ) -> dict[str, int]:
        """Counts of results by status (all six statuses, zeros included) and by outcome.

        Besides the statuses, the keys `references_created` and `references_matched`
        count results that created a new reference or merged into an existing one.
        """
        query = sa.select(
            import_result.c.status,
            import_result.c.reference_created,
            sa.func.count().label("n"),
        ).group_by(import_result.c.status, import_result.c.reference_created)
        query = self._scoped(query, record_id=record_id, batch_id=batch_id)
        counts = {str(status): 0 for status in ImportResultStatus}
        counts |= {"references_created": 0, "references_matched": 0}
        for status, created, n in self.connection.execute(query):
            counts[status] += n
            if created is True:
                counts["references_created"] += n
            elif created is False:
                counts["references_matched"] += n
        return counts

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
        query = sa.select(import_result).order_by(
            import_result.c.import_batch_id, import_result.c.line_number
        )
        if record_id is not None:  # the order of `list_batches`, then line order
            query = query.order_by(None).order_by(
                import_batch.c.created_at,
                import_batch.c.storage_url,
                import_batch.c.line_start,
                import_batch.c.id,
                import_result.c.line_number,
            )
        query = self._scoped(query, record_id=record_id, batch_id=batch_id)
        if status is not None:
            query = query.where(import_result.c.status == status)
        query = query.limit(limit).offset(offset)
        return [
            ImportResult.model_validate(dict(row))
            for row in self.connection.execute(query).mappings()
        ]

    def results_after_line(
        self,
        batch_id: uuid.UUID,
        after_line: int,
        limit: int,
        status: ImportResultStatus | None = None,
    ) -> list[ImportResult]:
        """Up to `limit` results of the batch after `after_line`, in line order.

        One range scan of the (batch, line) index, however far into the batch it starts.
        """
        query = (
            sa.select(import_result)
            .where(
                import_result.c.import_batch_id == batch_id,
                import_result.c.line_number > after_line,
            )
            .order_by(import_result.c.line_number)
            .limit(limit)
        )
        if status is not None:
            query = query.where(import_result.c.status == status)
        return [
            ImportResult.model_validate(dict(row))
            for row in self.connection.execute(query).mappings()
        ]

    def failure_samples(self, record_id: uuid.UUID, limit: int = 5) -> list[str]:
        """Up to `limit` failure details of the record's failed lines, in line order."""
        query = self._scoped(
            sa.select(import_result.c.failure_details)
            .where(import_result.c.status == ImportResultStatus.FAILED)
            .order_by(import_result.c.line_number)
            .limit(limit),
            record_id=record_id,
        )
        return [str(details) for details in self.connection.execute(query).scalars()]

    def failed_results(self, record_id: uuid.UUID, limit: int) -> list[ImportResult]:
        """Up to `limit` failed and partially failed results of the record, in line order."""
        query = self._scoped(
            sa.select(import_result)
            .where(
                import_result.c.status.in_(
                    [ImportResultStatus.FAILED, ImportResultStatus.PARTIALLY_FAILED]
                )
            )
            .order_by(import_result.c.line_number, import_result.c.import_batch_id)
            .limit(limit),
            record_id=record_id,
        )
        rows = self.connection.execute(query).mappings()
        return [ImportResult.model_validate(dict(row)) for row in rows]

    def line_failures(self, batch_id: uuid.UUID, limit: int) -> list[str]:
        """Failure details of the batch's failed and partially failed lines, in line order."""
        query = (
            sa.select(import_result.c.failure_details)
            .where(
                import_result.c.import_batch_id == batch_id,
                import_result.c.status.in_(
                    [ImportResultStatus.FAILED, ImportResultStatus.PARTIALLY_FAILED]
                ),
                import_result.c.failure_details.is_not(None),
            )
            .order_by(import_result.c.line_number)
            .limit(limit)
        )
        return [str(details) for details in self.connection.execute(query).scalars()]

    @staticmethod
    def _scoped(
        query: Any, *, record_id: uuid.UUID | None = None, batch_id: uuid.UUID | None = None
    ) -> Any:
        if batch_id is not None:
            query = query.where(import_result.c.import_batch_id == batch_id)
        if record_id is not None:
            query = query.join(
                import_batch, import_batch.c.id == import_result.c.import_batch_id
            ).where(import_batch.c.import_record_id == record_id)
        return query


def _batch_row(batch: ImportBatch) -> dict[str, Any]:
    """A new batch's row: its fields, with the fields `model_dump` leaves out."""
    fingerprint = batch.source_fingerprint
    return batch.model_dump() | {
        "source_fingerprint": None if fingerprint is None else fingerprint.model_dump(mode="json"),
        "source_lines": batch.source_lines,
        "source_offset": batch.source_offset,
    }


def unfinished(batch: ImportBatch) -> bool:
    """True while a batch still has lines to process."""
    return batch.status in {ImportBatchStatus.CREATED, ImportBatchStatus.STARTED}
