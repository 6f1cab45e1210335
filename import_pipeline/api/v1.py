"""The DESTINY repository's own import routes, under `/v1`, for importers written for it.

Importer programs built for the DESTINY repository (its EPPI-Reviewer importer, its
`cli/post_import_file.py`, any script on destiny-sdk) call `/v1/imports/records/...`
with trailing slashes; these routes answer them with the seed system's paths, methods,
status codes and the destiny-sdk 0.17 bodies. They are a second address for the same
behaviour: each calls the services our `/imports` routes call and answers with the
same response models (`api.schemas`, a superset of the SDK's: its models ignore the
extra keys), built by the same translation (`api.translate`). Authentication, the
storage policy, the body size limit and the error bodies are the app's, shared with
`/imports` (`api.app`).

Where the seed behaves differently from `/imports`, these follow the seed: records are
listed with `limit` 1-10,000 (default 1,000) and no offset, a batch's results come all
at once (streamed) with a `result_status` filter, finalise is a `PATCH` that may come
before the batches are done (the record then takes no more and completes when they
are: `services.finalise.request_finalise`), and unknown request fields are ignored as
the SDK's models ignore them. A path without its trailing
slash is answered with a 307 redirect to the path with it (FastAPI's default, as the
seed does). The differences that remain are listed in the README ("DESTINY v1 routes").
"""

import uuid
from collections.abc import Iterable, Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict

from import_pipeline.api.routes import (
    ADD_BATCH_RESPONSES,
    MAX_SUMMARY_FAILURES,
    NOT_FOUND,
    Policy,
    Units,
    error_response,
)
from import_pipeline.api.schemas import (
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
    record_listed,
    record_read,
    result_read,
)
from import_pipeline.domain.models import ImportRecord
from import_pipeline.domain.statuses import FinalisedBy, ImportResultStatus
from import_pipeline.services.finalise import request_finalise
from import_pipeline.services.queries import (
    batch_summary,
    batch_with_counts,
    list_records,
    record_report,
    record_summary,
)
from import_pipeline.services.registration import add_vetted_batch, open_record
from import_pipeline.services.results_pages import all_batch_results

V1_TAG = "destiny-v1"
OPENAPI_TAG: dict[str, Any] = {
    "name": V1_TAG,
    "description": "The DESTINY repository's import routes (`/v1/imports/records/...`, "
    "trailing slashes, destiny-sdk 0.17 bodies), for importers written for it: point "
    "one at this server by changing its base URL. Same behaviour, authentication and "
    "errors as the `imports` routes; see the README for the differences from the seed.",
}
# Results streamed per chunk of the JSON array (one write to the socket each).
_RESULTS_PER_CHUNK = 1000

router = APIRouter(prefix="/v1/imports/records", tags=[V1_TAG])

RecordId = Annotated[uuid.UUID, Path(description="The id of the import record.")]
BatchId = Annotated[uuid.UUID, Path(description="The id of the import batch.")]


class DestinyImportRecordIn(ImportRecordIn):
    """`ImportRecordIn` as the seed reads it: unknown fields are ignored, not refused."""

    model_config = ConfigDict(extra="ignore")


class DestinyImportBatchIn(ImportBatchIn):
    """`ImportBatchIn` as the seed reads it: unknown fields are ignored, not refused."""

    model_config = ConfigDict(extra="ignore")


@router.get("/", response_model=list[ImportRecordRead], summary="List import records")
def list_records_v1(
    units: Units,
    limit: Annotated[int, Query(ge=1, le=10_000, description="Most records listed.")] = 1_000,
) -> list[ImportRecordRead]:
    """Up to `limit` import records, newest first, without their batches."""
    return [record_listed(record) for record in list_records(units, limit=limit)]


@router.post(
    "/",
    status_code=status.HTTP_201_CREATED,
    response_model=ImportRecordRead,
    summary="Create an import record",
)
def create_record_v1(import_record: DestinyImportRecordIn, units: Units) -> ImportRecordRead:
    """Register an import record; it takes batches until it is finalised."""
    record = open_record(
        units, ImportRecord(**import_record.model_dump(), finalised_by=FinalisedBy.IMPORTER)
    )
    return record_read(record_summary(units, record.id))


@router.get(
    "/{import_record_id}/",
    response_model=ImportRecordRead,
    responses=NOT_FOUND,
    summary="Read an import record",
)
def get_record_v1(import_record_id: RecordId, units: Units) -> ImportRecordRead:
    """The record with its batches, their statuses and result counts."""
    report = record_report(units, import_record_id)
    return record_read(report.summary, report.batch_counts)


@router.patch(
    "/{import_record_id}/finalise/",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**NOT_FOUND, 409: error_response("The record has failed.")},
    summary="Finalise an import record",
)
def finalise_record_v1(import_record_id: RecordId, units: Units) -> Response:
    """No more batches: the record completes once every batch is done (at once if they are).

    As the seed system, it may come right after the batches were registered; twice is
    harmless. (`POST /imports/{id}/finalise` keeps the spec's 409 while a batch is
    unfinished.)
    """
    request_finalise(units, import_record_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{import_record_id}/batches/",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ImportBatchRead,
    responses=ADD_BATCH_RESPONSES,
    summary="Register an import batch",
)
def enqueue_batch_v1(
    import_record_id: RecordId, batch: DestinyImportBatchIn, units: Units, policy: Policy
) -> ImportBatchRead:
    """Register a batch (`created`); a sensor runs the import job for it shortly after."""
    return batch_read(add_vetted_batch(units, import_record_id, batch.storage_url, policy))


@router.get(
    "/{import_record_id}/batches/",
    response_model=list[ImportBatchRead],
    responses=NOT_FOUND,
    summary="List an import record's batches",
)
def get_batches_v1(import_record_id: RecordId, units: Units) -> list[ImportBatchRead]:
    """The record's batches in source order, with their statuses and result counts."""
    report = record_report(units, import_record_id)
    return record_read(report.summary, report.batch_counts).batches or []


@router.get(
    "/{import_record_id}/batches/{import_batch_id}/",
    response_model=ImportBatchRead,
    responses=NOT_FOUND,
    summary="Read an import batch",
)
def get_batch_v1(
    import_record_id: RecordId, import_batch_id: BatchId, units: Units
) -> ImportBatchRead:
    """The batch with its status and result counts; 404 for a batch of another record."""
    batch, counts = batch_with_counts(units, import_record_id, import_batch_id)
    return batch_read(batch, counts)


@router.get(
    "/{import_record_id}/batches/{import_batch_id}/summary/",
    response_model=ImportBatchSummary,
    responses=NOT_FOUND,
    summary="Summarise an import batch's results",
)
def get_import_batch_summary_v1(
    import_record_id: RecordId, import_batch_id: BatchId, units: Units
) -> ImportBatchSummary:
    """Results counted by status, and the failure details of failed lines."""
    summary = batch_summary(units, import_record_id, import_batch_id, MAX_SUMMARY_FAILURES)
    return batch_summary_read(summary)


@router.get(
    "/{import_record_id}/batches/{import_batch_id}/results/",
    response_model=list[ImportResultRead],
    responses=NOT_FOUND,
    summary="List an import batch's results",
)
def get_import_results_v1(
    import_record_id: RecordId,
    import_batch_id: BatchId,
    units: Units,
    result_status: Annotated[
        ImportResultStatus | None, Query(description="Only results of this status.")
    ] = None,
) -> StreamingResponse:
    """Every result of the batch in line order, unpaginated, as the seed answers.

    The body is streamed, a page of results read at a time, so that a batch of a
    million lines costs no more memory than one of a thousand. An unknown record or
    batch is a 404 before anything is sent; a database failure once the body has
    started can only cut the connection before the array is closed, so a client never
    takes a partial list for the whole.
    """
    results = all_batch_results(units, import_record_id, import_batch_id, status=result_status)
    return StreamingResponse(
        _json_array(result_read(result) for result in results), media_type="application/json"
    )


def _json_array(models: Iterable[BaseModel]) -> Iterator[bytes]:
    """`models` as one JSON array, in chunks of `_RESULTS_PER_CHUNK` items."""
    chunk: list[bytes] = []
    separator = b"["
    for model in models:
        chunk.append(separator + model.model_dump_json().encode())
        separator = b","
        if len(chunk) == _RESULTS_PER_CHUNK:
            yield b"".join(chunk)
            chunk = []
    yield b"".join(chunk) + (b"]" if separator == b"," else b"[]")
