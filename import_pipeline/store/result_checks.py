"""Set-based queries behind a record's checks (`services.record_checks`), on one connection.

Each query reads one record's results through its batches: `ix_import_batch_import_record_id`
finds the batches, and `uq_import_result_batch_line` (import_batch_id, line_number) reads
their results in line order, index-only on PostgreSQL where a query needs nothing else.
A query that finds rows returns how many in all and the first few (`Found`).
"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa

from import_pipeline.domain.findings import (
    BatchResults,
    Found,
    RepeatedLine,
    ResultLine,
    SharedIdentifier,
)
from import_pipeline.domain.models import ImportBatch
from import_pipeline.domain.statuses import RESULT_TERMINAL_STATUSES
from import_pipeline.references.queries import shared_identifiers
from import_pipeline.store.tables import import_batch, import_result

# The end of a range that runs to the end of its source (`line_end` NULL).
_LAST_LINE = 2**31 - 1
_TERMINAL = sorted(str(status) for status in RESULT_TERMINAL_STATUSES)


def _first_line(table: sa.FromClause) -> sa.ColumnElement[int]:
    return sa.func.coalesce(table.c.line_start, 1)


def _last_line(table: sa.FromClause) -> sa.ColumnElement[int]:
    return sa.func.coalesce(table.c.line_end, _LAST_LINE)


class ResultCheckQueries:
    """The record-wide queries of the checks, on the caller's connection."""

    def __init__(self, connection: sa.Connection) -> None:
        """Bind the queries to `connection`."""
        self.connection = connection

    def results_by_batch(self, record_id: uuid.UUID) -> dict[uuid.UUID, BatchResults]:
        """Each of the record's batches that has results: their count and line bounds.

        One pass over the record's entries of `uq_import_result_batch_line` (or of the
        table, when the record is much of it): a quarter of a second for a million lines.
        """
        rows = self.connection.execute(
            sa.select(
                import_result.c.import_batch_id,
                sa.func.count(),
                sa.func.min(import_result.c.line_number),
                sa.func.max(import_result.c.line_number),
            )
            .join(import_batch, import_batch.c.id == import_result.c.import_batch_id)
            .where(import_batch.c.import_record_id == record_id)
            .group_by(import_result.c.import_batch_id)
        )
        return {batch_id: BatchResults(n, low, high) for batch_id, n, low, high in rows}

    def results_outside_ranges(
        self, batches: Sequence[ImportBatch], limit: int
    ) -> Found[ResultLine]:
        """Results of `batches` whose line lies outside their batch's range.

        Two range scans of `uq_import_result_batch_line` per batch (below its first line,
        above its last); call it for the batches whose line bounds say there are some.
        """
        if not batches:
            return Found(0, [])
        outside = sa.or_(
            *(
                sa.and_(
                    import_result.c.import_batch_id == batch.id,
                    sa.or_(
                        import_result.c.line_number < (batch.line_start or 1),
                        import_result.c.line_number > (batch.line_end or _LAST_LINE),
                    ),
                )
                for batch in batches
            )
        )
        return self._found(self._result_lines().where(outside), limit)

    def repeated_lines(self, record_id: uuid.UUID, limit: int) -> Found[RepeatedLine]:
        """Source lines with a result in two of the record's batches (overlapping ranges).

        The batches of one source whose ranges overlap are paired first (a handful of
        batch rows); only those pairs' results are compared, line by line, through
        `uq_import_result_batch_line`. `total` counts lines, however many batches repeat
        each. With no overlapping pair (the planner's ranges never overlap) no result is
        read: in one statement PostgreSQL joined all the record's results before it
        found that no pair exists (2 s for a million lines).
        """
        first, second = import_batch.alias("first"), import_batch.alias("second")
        pairs = (
            sa.select(
                first.c.storage_url,
                first.c.id.label("batch_id"),
                second.c.id.label("other_batch_id"),
            )
            .join(
                second,
                sa.and_(
                    second.c.import_record_id == first.c.import_record_id,
                    second.c.storage_url == first.c.storage_url,
                    first.c.id < second.c.id,
                    _first_line(first) <= _last_line(second),
                    _first_line(second) <= _last_line(first),
                ),
            )
            .where(first.c.import_record_id == record_id)
            .cte("overlapping_batches")
        )
        if self.connection.execute(sa.select(pairs.c.batch_id).limit(1)).first() is None:
            return Found(0, [])
        ours, theirs = import_result.alias("ours"), import_result.alias("theirs")
        repeated = (
            sa.select(
                pairs.c.storage_url, ours.c.line_number, pairs.c.batch_id, pairs.c.other_batch_id
            )
            .select_from(pairs)
            .join(ours, ours.c.import_batch_id == pairs.c.batch_id)
            .join(
                theirs,
                sa.and_(
                    theirs.c.import_batch_id == pairs.c.other_batch_id,
                    theirs.c.line_number == ours.c.line_number,
                ),
            )
        )
        lines = repeated.with_only_columns(pairs.c.storage_url, ours.c.line_number).distinct()
        total = self.connection.execute(
            sa.select(sa.func.count()).select_from(lines.subquery())
        ).scalar_one()
        if not total:
            return Found(0, [])
        rows = self.connection.execute(
            repeated.order_by(pairs.c.storage_url, ours.c.line_number).limit(limit)
        )
        return Found(int(total), [RepeatedLine(*row) for row in rows])

    def unsettled_results(self, record_id: uuid.UUID, limit: int) -> Found[ResultLine]:
        """The record's results that are not terminal (`created`, `started`, `retrying`).

        Reads the status of each of the record's results (the batches' entries of
        `uq_import_result_batch_line`, then the rows): no index holds statuses.
        """
        query = self._result_lines().where(
            import_batch.c.import_record_id == record_id,
            import_result.c.status.not_in(_TERMINAL),
        )
        return self._found(query, limit)

    def shared_identifiers(self, record_id: uuid.UUID, limit: int) -> Found[SharedIdentifier]:
        """Identifiers a reference of the record's results shares with another reference.

        See `references.queries.shared_identifiers`, which compares them canonically.
        """
        return shared_identifiers(self.connection, self._reference_ids(record_id), limit)

    @staticmethod
    def _reference_ids(record_id: uuid.UUID) -> sa.Select[tuple[uuid.UUID]]:
        """A query (not run here) of the references the record's results point at.

        One row per result (merged lines repeat their reference): the query that joins
        it decides how to read it.
        """
        return (
            sa.select(import_result.c.reference_id)
            .join(import_batch, import_batch.c.id == import_result.c.import_batch_id)
            .where(
                import_batch.c.import_record_id == record_id,
                import_result.c.reference_id.is_not(None),
            )
        )

    @staticmethod
    def _result_lines() -> sa.Select[tuple[uuid.UUID, int, str, str | None]]:
        return sa.select(
            import_result.c.import_batch_id,
            import_result.c.line_number,
            import_result.c.status,
            import_result.c.failure_details,
        ).join(import_batch, import_batch.c.id == import_result.c.import_batch_id)

    def _found(
        self, query: sa.Select[tuple[uuid.UUID, int, str, str | None]], limit: int
    ) -> Found[ResultLine]:
        """How many rows `query` gives, and the first `limit` of them in line order."""
        rows = self.connection.execute(
            query.add_columns(sa.func.count().over().label("total"))
            .order_by(import_result.c.line_number, import_result.c.import_batch_id)
            .limit(limit)
        ).all()
        total = rows[0].total if rows else 0
        return Found(int(total), [ResultLine(*row[:4]) for row in rows])
