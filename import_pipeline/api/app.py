"""The HTTP API's application: routes, authentication, error bodies, body size limit.

`create_app` builds an app from what it is given (no environment read, nothing
connected); `app_from_settings` builds it from `IMPORT_PIPELINE_*` settings for
`import-pipeline serve`. Every error answers `{"detail": ...}`, never a stack trace:

| error | status |
|---|---|
| unknown record, or a batch not in the record | 404 |
| storage URL refused by the policy | 403 |
| illegal transition (batch added to a closed record, finalise with a batch unfinished) | 409 |
| invalid body or parameter | 422 naming the field, never its value (FastAPI's validation shape) |
| body over the limit | 413 |
| missing or wrong bearer token | 401 |
| database unreachable or not migrated | 503 |
"""

import logging
from collections.abc import Sequence
from typing import cast

import sqlalchemy as sa
import sqlalchemy.exc
from fastapi import Depends, FastAPI, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from import_pipeline.api.routes import router
from import_pipeline.api.schemas import ErrorBody
from import_pipeline.api.security import BearerAuth, BodySizeLimit
from import_pipeline.domain.errors import (
    DomainError,
    IllegalTransitionError,
    UnknownBatchError,
    UnknownRecordError,
)
from import_pipeline.services.finalise import UnfinishedBatchesError
from import_pipeline.services.storage_policy import StoragePolicy, StorageUrlRefusedError
from import_pipeline.settings import Settings
from import_pipeline.store.engine import create_db_engine

logger = logging.getLogger(__name__)

_STATUS_OF: list[tuple[type[DomainError], int]] = [
    (UnknownRecordError, status.HTTP_404_NOT_FOUND),
    (UnknownBatchError, status.HTTP_404_NOT_FOUND),
    (StorageUrlRefusedError, status.HTTP_403_FORBIDDEN),
    (IllegalTransitionError, status.HTTP_409_CONFLICT),
    (UnfinishedBatchesError, status.HTTP_409_CONFLICT),
]


def _domain_error(request: Request, error: Exception) -> JSONResponse:
    code = next((code for kind, code in _STATUS_OF if isinstance(error, kind)), None)
    if code is None:  # any other refusal of the input: a 422 in the validation shape
        return JSONResponse(
            {"detail": [{"loc": [], "msg": str(error), "type": "value_error"}]},
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        )
    return JSONResponse({"detail": str(error)}, status_code=code)


def _validation_error(request: Request, error: Exception) -> JSONResponse:
    """FastAPI's 422 shape without the refused values (`input`): one may hold a password."""
    problems = [
        {key: value for key, value in problem.items() if key != "input"}
        for problem in cast(RequestValidationError, error).errors()  # registered for it alone
    ]
    return JSONResponse(
        {"detail": jsonable_encoder(problems)},
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
    )


def _database_error(request: Request, error: Exception) -> JSONResponse:
    logger.error("database error on %s %s: %s", request.method, request.url.path, error)
    return JSONResponse(
        {
            "detail": "the import database cannot be used; is it running, and has "
            "`import-pipeline db upgrade` been run?"
        },
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
    )


def _unexpected_error(request: Request, error: Exception) -> JSONResponse:
    logger.exception("unexpected error on %s %s", request.method, request.url.path)
    return JSONResponse(
        {"detail": "internal error; the server log has the details"},
        status_code=status.HTTP_500_INTERNAL_SERVER_ERROR,
    )


def create_app(
    engine: sa.Engine,
    *,
    tokens: Sequence[str],
    storage_policy: StoragePolicy,
    max_body_bytes: int,
) -> FastAPI:
    """The API on `engine`: bearer `tokens` (none: no authentication), storage policy, limit.

    `/openapi.json`, `/docs` and `/health` need no token: they show no data.
    """
    app = FastAPI(
        title="import-pipeline",
        summary="Register DESTINY reference imports and batches; read their results.",
        version="1",
    )
    app.state.engine = engine
    app.state.storage_policy = storage_policy
    app.include_router(
        router,
        dependencies=[Depends(BearerAuth(tokens))],
        responses={
            401: {"model": ErrorBody, "description": "No valid bearer token."},
            413: {"model": ErrorBody, "description": "The request body is over the limit."},
            503: {"model": ErrorBody, "description": "The import database cannot be used."},
        },
    )
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(sqlalchemy.exc.OperationalError, _database_error)
    app.add_exception_handler(sqlalchemy.exc.ProgrammingError, _database_error)
    app.add_exception_handler(Exception, _unexpected_error)
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes)

    @app.get("/health", tags=["health"], summary="Liveness")
    def health() -> dict[str, str]:
        """`{"status": "ok"}` while the server runs."""
        return {"status": "ok"}

    return app


def app_from_settings(settings: Settings) -> FastAPI:
    """The API configured by `IMPORT_PIPELINE_*` settings."""
    return create_app(
        create_db_engine(settings.resolved_database_url),
        tokens=settings.api_token_list,
        storage_policy=StoragePolicy.from_entries(settings.storage_allowlist_entries),
        max_body_bytes=settings.api_max_body_bytes,
    )
