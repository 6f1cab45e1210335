"""The `/imports` routes: each reads its input, calls services, and translates the answer.

The API registers records and batches and reads them back; it never processes a batch.
It also reads and records deduplication decisions on references (a person's decision,
which no automatic one replaces).
`registered_batches_sensor` starts the import job for a record's partition once a batch
is waiting.
"""

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status
from starlette.datastructures import URL

from import_pipeline.api.errors import invalid_parameter
from import_pipeline.api.schemas import (
    DeduplicationDecisionIn,
    DeduplicationDecisionRead,
    ErrorBody,
    ImportBatchIn,
    ImportBatchRead,
    ImportBatchSummary,
    ImportRecordIn,
    ImportRecordRead,
    ImportResultRead,
)
from import_pipeline.api.translate import (
    batch_read,
    batch_summary_read,
    decision_read,
    record_listed,
    record_read,
    result_read,
)
from import_pipeline.domain.models import ImportRecord
from import_pipeline.domain.statuses import FinalisedBy, ImportResultStatus
from import_pipeline.services.deduplication import record_person_decision, reference_decision
from import_pipeline.services.finalise import finalise_record
from import_pipeline.services.queries import (
    batch_summary,
    list_records,
    record_report,
    record_summary,
)
from import_pipeline.services.registration import add_vetted_batch, open_record
from import_pipeline.services.results_pages import InvalidCursorError, ResultCursor, read_results
from import_pipeline.services.storage_policy import StoragePolicy
from import_pipeline.services.unit_of_work import UnitOfWorkFactory

# Most failure details one batch summary lists (GET .../results lists every one).
MAX_SUMMARY_FAILURES = 10_000
_MAX_OFFSET = 1_000_000_000

router = APIRouter(prefix="/imports", tags=["imports"])


def _units(request: Request) -> UnitOfWorkFactory:
    units: UnitOfWorkFactory = request.app.state.units
    return units


def _policy(request: Request) -> StoragePolicy:
    policy: StoragePolicy = request.app.state.storage_policy
    return policy


Units = Annotated[UnitOfWorkFactory, Depends(_units)]
Policy = Annotated[StoragePolicy, Depends(_policy)]
Limit = Annotated[int, Query(ge=1, le=1000, description="Most items in one page.")]
Offset = Annotated[int, Query(ge=0, le=_MAX_OFFSET, description="Items to skip.")]


def error_response(description: str) -> dict[str, Any]:
    """An OpenAPI response entry: the error body and what the status means here."""
    return {"model": ErrorBody, "description": description}


NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: error_response("No such import record (or no such batch in it).")
}
ADD_BATCH_RESPONSES: dict[int | str, dict[str, Any]] = {
    **NOT_FOUND,
    403: error_response("The storage URL is not allowed (allow-list, https, public address)."),
    409: error_response("The record is completed or failed and accepts no new batches."),
}
"""The answers of a route that adds a batch, besides its own (ours and the v1 route)."""


def _link_next(response: Response, url: URL) -> None:
    """Point to the next page (`Link: <...>; rel="next"`): set while a page is full."""
    response.headers["Link"] = f'<{url}>; rel="next"'


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ImportRecordRead,
    summary="Create an import record",
)
def create_import(body: ImportRecordIn, units: Units) -> ImportRecordRead:
    """Register an import record; add its batches with `POST /imports/{id}/batches`.

    The record stays open (`created`, then `started`) until `POST /imports/{id}/finalise`.
    """
    record = open_record(
        units, ImportRecord(**body.model_dump(), finalised_by=FinalisedBy.IMPORTER)
    )
    return record_read(record_summary(units, record.id))


@router.get("", response_model=list[ImportRecordRead], summary="List import records")
def list_imports(
    request: Request, response: Response, units: Units, limit: Limit = 100, offset: Offset = 0
) -> list[ImportRecordRead]:
    """Import records, newest first, without their batches (see `GET /imports/{id}`)."""
    records = list_records(units, limit=limit, offset=offset)
    if len(records) == limit:
        _link_next(response, request.url.include_query_params(limit=limit, offset=offset + limit))
    return [record_listed(record) for record in records]


REFERENCE_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: error_response("No such reference.")}


@router.get(
    "/references/{reference_id}/decision",
    response_model=DeduplicationDecisionRead,
    responses=REFERENCE_NOT_FOUND,
    summary="Read a reference's deduplication decision",
)
def read_decision(reference_id: uuid.UUID, units: Units) -> DeduplicationDecisionRead:
    """Canonical, duplicate (of `duplicate_of`), unresolved, or pending, with its evidence."""
    return decision_read(reference_decision(units, reference_id))


@router.put(
    "/references/{reference_id}/decision",
    response_model=DeduplicationDecisionRead,
    responses={
        **REFERENCE_NOT_FOUND,
        409: error_response("The duplicate would point back at the reference itself."),
    },
    summary="Record a person's deduplication decision",
)
def put_decision(
    reference_id: uuid.UUID, body: DeduplicationDecisionIn, units: Units
) -> DeduplicationDecisionRead:
    """A person decides: canonical (`duplicate_of: null`) or a duplicate of a reference.

    A duplicate points at the canonical reference of the named one's group; no
    automatic decision replaces a person's.
    """
    decided = record_person_decision(units, reference_id, duplicate_of=body.duplicate_of)
    return decision_read(decided)


@router.get(
    "/{record_id}",
    response_model=ImportRecordRead,
    responses=NOT_FOUND,
    summary="Read an import record with its batches",
)
def read_import(record_id: uuid.UUID, units: Units) -> ImportRecordRead:
    """The record, its batches with their statuses and result counts, and its totals."""
    report = record_report(units, record_id)
    return record_read(report.summary, report.batch_counts)


@router.post(
    "/{record_id}/batches",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ImportBatchRead,
    responses=ADD_BATCH_RESPONSES,
    summary="Add a batch to an import record",
)
def create_batch(
    record_id: uuid.UUID, body: ImportBatchIn, units: Units, policy: Policy
) -> ImportBatchRead:
    """Register a batch (`created`); a sensor runs the import job for it shortly after."""
    return batch_read(add_vetted_batch(units, record_id, body.storage_url, policy))


@router.get(
    "/{record_id}/batches/{batch_id}/summary",
    response_model=ImportBatchSummary,
    responses=NOT_FOUND,
    summary="Summarise a batch's results",
)
def read_batch_summary(
    record_id: uuid.UUID, batch_id: uuid.UUID, units: Units
) -> ImportBatchSummary:
    """Results counted by status, and the failure details of failed lines."""
    return batch_summary_read(batch_summary(units, record_id, batch_id, MAX_SUMMARY_FAILURES))


@router.get(
    "/{record_id}/results",
    response_model=list[ImportResultRead],
    responses=NOT_FOUND,
    summary="List an import record's results",
)
def list_import_results(  # noqa: PLR0917 (FastAPI passes each parameter by name)
    record_id: uuid.UUID,
    request: Request,
    response: Response,
    units: Units,
    status_filter: Annotated[
        ImportResultStatus | None, Query(alias="status", description="Only this status.")
    ] = None,
    limit: Limit = 100,
    offset: Offset = 0,
    cursor: Annotated[
        str | None,
        Query(
            max_length=100,
            description="Start after this result: the `cursor` of the previous page's "
            "`Link: rel=next` header. Cheaper than `offset` deep into large records.",
        ),
    ] = None,
) -> list[ImportResultRead]:
    """One result per non-blank source line, in source order, optionally of one status.

    Page with `cursor` (follow the `Link: <...>; rel="next"` header) or with `offset`.
    """
    try:
        rows = read_results(
            units, record_id, limit=limit, cursor=cursor, offset=offset, status=status_filter
        )
    except InvalidCursorError as error:
        raise invalid_parameter(("query", "cursor"), str(error)) from None
    if len(rows) == limit:
        after_last = str(ResultCursor.after(rows[-1]))
        _link_next(
            response,
            request.url.remove_query_params("offset").include_query_params(
                limit=limit, cursor=after_last
            ),
        )
    return [result_read(row) for row in rows]


@router.post(
    "/{record_id}/finalise",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={
        **NOT_FOUND,
        409: error_response("A batch is unfinished, or the record has failed."),
    },
    summary="Finalise an import record",
)
def finalise_import(record_id: uuid.UUID, units: Units) -> Response:
    """Complete the record once every batch is done; finalising twice is harmless."""
    finalise_record(units, record_id, by=FinalisedBy.IMPORTER)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
