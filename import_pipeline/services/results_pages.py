"""Reading a record's results page by page with a cursor (keyset pagination).

A cursor names the last result of a page: its batch and line, written
`<batch id>.<line number>`. The next page starts after it: the rest of that batch, then
the record's later batches, in the order of `ImportStore.list_batches` (source
order). Each batch is read by a range scan of the (batch, line) index, so a page costs
the same at the start of a million results as at their end, unlike an offset, which
makes the database count its way past every skipped row.
"""

import uuid
from collections.abc import Iterator
from typing import NamedTuple

from import_pipeline.domain.errors import DomainError, UnknownRecordError
from import_pipeline.domain.models import ImportResult
from import_pipeline.domain.statuses import ImportResultStatus
from import_pipeline.services.finalise import batch_of_record
from import_pipeline.services.input_rules import INTEGER_COLUMN_MAX
from import_pipeline.services.unit_of_work import DedupStore, ImportStore, UnitOfWorkFactory


class InvalidCursorError(DomainError):
    """A results cursor that is malformed or names a batch of another record."""


class ResultCursor(NamedTuple):
    """The position after which a page of results starts."""

    batch_id: uuid.UUID
    line_number: int

    @classmethod
    def parse(cls, text: str) -> "ResultCursor":
        """Read `<batch id>.<line number>`; raises `InvalidCursorError` otherwise.

        The line number is ASCII digits, from 0 to the largest line number the results
        table can hold (`INTEGER_COLUMN_MAX`).
        """
        batch, _, line = text.partition(".")
        digits = line.removeprefix("-")
        try:
            batch_id = uuid.UUID(batch)
        except ValueError:
            batch_id = None
        if batch_id is None or not (digits.isascii() and digits.isdigit()):
            raise InvalidCursorError(
                f"cursor {text!r} is not a results cursor (<batch id>.<line number>)"
            )
        cursor = cls(batch_id, int(line))
        if cursor.line_number < 0:
            raise InvalidCursorError(f"cursor {text!r} has a negative line number")
        if cursor.line_number > INTEGER_COLUMN_MAX:
            raise InvalidCursorError(
                f"cursor {text!r} has a line number over {INTEGER_COLUMN_MAX}, "
                "the largest a result can have"
            )
        return cursor

    def __str__(self) -> str:
        """The cursor as the API writes it."""
        return f"{self.batch_id}.{self.line_number}"

    @classmethod
    def after(cls, result: ImportResult) -> "ResultCursor":
        """The cursor of the page that follows `result`."""
        return cls(result.import_batch_id, result.line_number)


def results_page(
    imports: ImportStore,
    record_id: uuid.UUID,
    *,
    limit: int,
    after: ResultCursor | None = None,
    status: ImportResultStatus | None = None,
) -> list[ImportResult]:
    """Up to `limit` of the record's results after `after` (from the start without one).

    Raises `UnknownRecordError` for an unknown record and `InvalidCursorError` for a
    cursor naming a batch that is not the record's.
    """
    if imports.get_record(record_id) is None:
        raise UnknownRecordError(f"no import record with id {record_id}")
    batch_ids = [batch.id for batch in imports.list_batches(record_id)]
    start, after_line = 0, 0
    if after is not None:
        if after.batch_id not in batch_ids:
            raise InvalidCursorError(
                f"cursor {after} names batch {after.batch_id}, not one of record {record_id}"
            )
        start, after_line = batch_ids.index(after.batch_id), after.line_number
    page: list[ImportResult] = []
    for batch_id in batch_ids[start:]:
        page += imports.results_after_line(batch_id, after_line, limit - len(page), status)
        if len(page) == limit:
            break
        after_line = 0
    return page


def with_duplicate_of(dedup: DedupStore, results: list[ImportResult]) -> list[ImportResult]:
    """`results` with `duplicate_of` filled in from their references' decisions."""
    decisions = dedup.decisions_of([r.reference_id for r in results if r.reference_id])
    return [
        result.model_copy(update={"duplicate_of": decisions[result.reference_id].duplicate_of})
        if result.reference_id in decisions
        else result
        for result in results
    ]


def read_results(
    units: UnitOfWorkFactory,
    record_id: uuid.UUID,
    *,
    limit: int,
    cursor: str | None = None,
    offset: int = 0,
    status: ImportResultStatus | None = None,
) -> list[ImportResult]:
    """Up to `limit` of the record's results, after `cursor` or the first `offset`.

    Each result carries `duplicate_of` (`with_duplicate_of`). A cursor page is
    `results_page` after `ResultCursor.parse(cursor)`; an offset page skips that many
    results in source order (dearer deep into a large record). The cursor is checked
    before the store is read: `InvalidCursorError` when both are given or the cursor is
    malformed; otherwise raises as `results_page` does.
    """
    if cursor is not None and offset:
        raise InvalidCursorError("give either a cursor or an offset, not both")
    after = ResultCursor.parse(cursor) if cursor is not None else None
    with units() as uow:
        imports = uow.imports
        if not offset:
            page = results_page(imports, record_id, limit=limit, after=after, status=status)
            return with_duplicate_of(uow.dedup, page)
        if imports.get_record(record_id) is None:
            raise UnknownRecordError(f"no import record with id {record_id}")
        page = imports.list_results(record_id=record_id, status=status, limit=limit, offset=offset)
        return with_duplicate_of(uow.dedup, page)


def all_results(
    units: UnitOfWorkFactory,
    record_id: uuid.UUID,
    *,
    status: ImportResultStatus | None = None,
    page_size: int = 10_000,
) -> Iterator[ImportResult]:
    """Every result of the record in source order, read a page (and a unit of work) at a time.

    Memory stays flat however many lines the record has; each page starts after the
    last result of the one before (the cursor), so a page never repeats or skips one.
    """
    after: ResultCursor | None = None
    while True:
        with units() as uow:
            page = results_page(uow.imports, record_id, limit=page_size, after=after, status=status)
            page = with_duplicate_of(uow.dedup, page)
        yield from page
        if len(page) < page_size:
            return
        after = ResultCursor.after(page[-1])


def all_batch_results(
    units: UnitOfWorkFactory,
    record_id: uuid.UUID,
    batch_id: uuid.UUID,
    *,
    status: ImportResultStatus | None = None,
    page_size: int = 10_000,
) -> Iterator[ImportResult]:
    """Every result of the record's batch in line order, optionally of one status.

    The batch is looked up now, raising as `finalise.batch_of_record` does, so that an
    unknown record or batch is refused before the first result is read; the results
    are then read a page (and a unit of work) at a time as they are iterated, each
    page after the last line of the one before, so memory stays flat.
    """
    with units() as uow:
        batch_of_record(uow.imports, record_id, batch_id)
    return _batch_pages(units, batch_id, status, page_size)


def _batch_pages(
    units: UnitOfWorkFactory,
    batch_id: uuid.UUID,
    status: ImportResultStatus | None,
    page_size: int,
) -> Iterator[ImportResult]:
    after_line = 0
    while True:
        with units() as uow:
            page = uow.imports.results_after_line(batch_id, after_line, page_size, status)
        yield from page
        if len(page) < page_size:
            return
        after_line = page[-1].line_number
